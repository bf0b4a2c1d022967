//! Routes, auth, limits and the listener (plain or TLS).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{DefaultBodyLimit, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;
use subtle::ConstantTimeEq;
use vigil_pipeline::{ShutdownSignal, Telemetry};

use crate::{
    SearchControl, SearchError, SearchLimits, SearchRequest, SearchResponse, SearchService,
};

/// What the handlers share.
#[derive(Clone)]
pub struct ApiState {
    /// Runs searches.
    pub search: Arc<dyn SearchService>,
    /// Component counters for `/metrics` and `/api/v1/status`.
    pub telemetry: Telemetry,
    /// The bearer token every protected route requires.
    pub token: Arc<str>,
    /// Search time limit.
    pub query_timeout: Duration,
    /// Largest request body.
    pub max_body_size: usize,
    /// Admission of searches: concurrency, queue, memory budget, largest `limit`.
    pub searches: SearchGate,
}

/// Admits searches: at most `max_concurrent` run, at most `max_queued` wait up to
/// `queue_wait` for a slot. Cheap to clone (shared state).
#[derive(Clone, Debug)]
pub struct SearchGate {
    limits: SearchLimits,
    slots: Arc<tokio::sync::Semaphore>,
    waiting: Arc<std::sync::atomic::AtomicUsize>,
}

/// Why a search was not admitted.
enum Busy {
    QueueFull,
    WaitedTooLong,
}

/// Decrements the waiting count however the wait ends (a client that goes away while queued
/// drops the future).
struct Waiting<'a>(&'a std::sync::atomic::AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }
}

impl SearchGate {
    /// A gate with these limits.
    pub fn new(limits: SearchLimits) -> SearchGate {
        SearchGate {
            slots: Arc::new(tokio::sync::Semaphore::new(limits.max_concurrent.max(1))),
            waiting: Arc::new(std::sync::atomic::AtomicUsize::new(0)),
            limits,
        }
    }

    /// The limits.
    pub fn limits(&self) -> &SearchLimits {
        &self.limits
    }

    /// Searches running now.
    pub fn running(&self) -> usize {
        self.limits.max_concurrent.max(1) - self.slots.available_permits()
    }

    /// Searches waiting for a slot now.
    pub fn waiting(&self) -> usize {
        self.waiting.load(std::sync::atomic::Ordering::Acquire)
    }

    async fn admit(&self) -> Result<tokio::sync::OwnedSemaphorePermit, Busy> {
        use std::sync::atomic::Ordering;
        if let Ok(p) = self.slots.clone().try_acquire_owned() {
            return Ok(p);
        }
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.limits.max_queued {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            return Err(Busy::QueueFull);
        }
        let _waiting = Waiting(&self.waiting);
        match tokio::time::timeout(self.limits.queue_wait, self.slots.clone().acquire_owned()).await
        {
            Ok(Ok(p)) => Ok(p),
            // the semaphore is never closed
            Ok(Err(_)) | Err(_) => Err(Busy::WaitedTooLong),
        }
    }
}

impl Default for SearchGate {
    fn default() -> Self {
        SearchGate::new(SearchLimits::default())
    }
}

impl std::fmt::Debug for ApiState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // the token is a secret: never printed
        f.debug_struct("ApiState")
            .field("token", &"<redacted>")
            .finish_non_exhaustive()
    }
}

fn error(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    let body = json!({ "error": { "code": code, "message": message.into() } });
    (status, axum::Json(body)).into_response()
}

async fn require_token(
    State(st): State<ApiState>,
    headers: HeaderMap,
    req: Request,
    next: Next,
) -> Response {
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    match presented {
        Some(t) if bool::from(t.as_bytes().ct_eq(st.token.as_bytes())) => next.run(req).await,
        Some(_) => error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "the bearer token is not valid",
        ),
        None => error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "send `Authorization: Bearer <token>`; the token is in <data_dir>/api-token",
        ),
    }
}

async fn health() -> Response {
    axum::Json(json!({ "status": "ok", "version": env!("CARGO_PKG_VERSION") })).into_response()
}

async fn metrics(State(st): State<ApiState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        st.telemetry.render_prometheus(),
    )
        .into_response()
}

async fn status(State(st): State<ApiState>) -> Response {
    let comps: Vec<serde_json::Value> = st
        .telemetry
        .snapshot()
        .into_iter()
        .map(|s| {
            json!({
                "kind": s.kind, "id": s.id.as_str(),
                "events_in": s.events_in, "events_out": s.events_out,
                "bytes_in": s.bytes_in, "bytes_out": s.bytes_out,
                "errors": s.errors.iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<serde_json::Map<_, _>>(),
                "drops": s.drops.iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<serde_json::Map<_, _>>(),
                "gauges": s.gauges.iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<serde_json::Map<_, _>>(),
            })
        })
        .collect();
    axum::Json(json!({ "components": comps })).into_response()
}

/// Runs one search: admission (429 beyond the gate's limits), then the service on the
/// blocking pool under a [`SearchControl`] with the query timeout and the memory budget. The
/// control is cancelled when the timeout fires and when this future is dropped (the client
/// went away), so the scan stops within a block of work; the slot is held by the blocking task
/// and freed only when the scan has stopped.
async fn run_search(st: ApiState, req: SearchRequest) -> Response {
    let started = Instant::now();
    let limits = st.searches.limits().clone();
    if let Some(limit) = req.limit
        && limit > limits.max_limit
    {
        return error(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!(
                "limit {limit} is above the maximum of {} events; narrow the query or page by time",
                limits.max_limit
            ),
        );
    }
    let permit = match st.searches.admit().await {
        Ok(p) => p,
        Err(busy) => {
            let retry = limits.queue_wait.as_secs().clamp(1, 60);
            let why = match busy {
                Busy::QueueFull => format!(
                    "too many searches: {} running and {} waiting (search.max_concurrent, search.max_queued)",
                    st.searches.running(),
                    st.searches.waiting()
                ),
                Busy::WaitedTooLong => format!(
                    "too many searches: no slot became free within {} ms (search.queue_wait)",
                    limits.queue_wait.as_millis()
                ),
            };
            let mut resp = error(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_searches",
                format!("{why}; retry in {retry} s"),
            );
            if let Ok(v) = header::HeaderValue::from_str(&retry.to_string()) {
                resp.headers_mut().insert(header::RETRY_AFTER, v);
            }
            return resp;
        }
    };
    let ctl = SearchControl::new(Some(st.query_timeout), Some(limits.max_result_bytes));
    // Dropped with this future: a client that goes away cancels its search.
    let _cancel_on_drop = ctl.cancel_on_drop();
    let svc = st.search.clone();
    let task_ctl = ctl.clone();
    let task = tokio::task::spawn_blocking(move || {
        let _slot = permit;
        svc.search(&req, &task_ctl)
    });
    let res = match tokio::time::timeout(st.query_timeout, task).await {
        Err(_) => {
            ctl.cancel();
            Err(SearchError::Timeout(st.query_timeout.as_millis() as u64))
        }
        Ok(Err(join)) => Err(SearchError::Internal(format!("search task failed: {join}"))),
        Ok(Ok(r)) => r,
    };
    match res {
        Ok(mut resp) => {
            let took = started.elapsed().as_millis() as u64;
            match &mut resp {
                SearchResponse::Events { took_ms, .. } | SearchResponse::Table { took_ms, .. } => {
                    *took_ms = took
                }
            }
            axum::Json(resp).into_response()
        }
        Err(SearchError::BadRequest(m)) => error(StatusCode::BAD_REQUEST, "bad_query", m),
        Err(e @ SearchError::Timeout(_)) => {
            error(StatusCode::GATEWAY_TIMEOUT, "query_timeout", e.to_string())
        }
        Err(SearchError::TooLarge(m)) => {
            error(StatusCode::UNPROCESSABLE_ENTITY, "result_too_large", m)
        }
        // Only this handler cancels, and only once its client is gone or the timeout fired.
        Err(SearchError::Cancelled) => error(
            StatusCode::GATEWAY_TIMEOUT,
            "query_timeout",
            SearchError::Timeout(st.query_timeout.as_millis() as u64).to_string(),
        ),
        Err(SearchError::Internal(detail)) => {
            tracing::error!(error = %detail, "search failed");
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "the search failed; see the server log",
            )
        }
    }
}

async fn search_get(
    State(st): State<ApiState>,
    q: Result<Query<SearchRequest>, axum::extract::rejection::QueryRejection>,
) -> Response {
    match q {
        Ok(Query(req)) => run_search(st, req).await,
        Err(e) => error(StatusCode::BAD_REQUEST, "bad_request", e.body_text()),
    }
}

async fn search_post(
    State(st): State<ApiState>,
    body: Result<axum::Json<SearchRequest>, axum::extract::rejection::JsonRejection>,
) -> Response {
    match body {
        Ok(axum::Json(req)) => run_search(st, req).await,
        Err(e) => error(StatusCode::BAD_REQUEST, "bad_request", e.body_text()),
    }
}

async fn not_found() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "not_found",
        "no such route; see docs/api.md",
    )
}

/// The API's routes.
pub fn router(state: ApiState) -> Router {
    let protected = Router::new()
        .route("/metrics", get(metrics))
        .route("/api/v1/status", get(status))
        .route("/api/v1/search", get(search_get).post(search_post))
        .route_layer(middleware::from_fn_with_state(state.clone(), require_token));
    Router::new()
        .route("/health", get(health))
        .merge(protected)
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(state.max_body_size))
        .with_state(state)
}

/// A rustls server config from PEM files (optionally requiring client certificates).
pub fn tls_config(
    cert: &Path,
    key: &Path,
    client_ca: Option<&Path>,
) -> Result<rustls::ServerConfig, String> {
    let open = |p: &Path| {
        std::fs::File::open(p)
            .map(std::io::BufReader::new)
            .map_err(|e| format!("{}: {e}", p.display()))
    };
    let certs: Vec<_> = rustls_pemfile::certs(&mut open(cert)?)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{}: not a PEM certificate chain: {e}", cert.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: no certificate found", cert.display()));
    }
    let key_der = rustls_pemfile::private_key(&mut open(key)?)
        .map_err(|e| format!("{}: {e}", key.display()))?
        .ok_or_else(|| {
            format!(
                "{}: no private key found (PKCS#8, PKCS#1 or SEC1 PEM)",
                key.display()
            )
        })?;
    let builder = rustls::ServerConfig::builder();
    let builder = match client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for c in rustls_pemfile::certs(&mut open(ca)?) {
                let c = c.map_err(|e| format!("{}: {e}", ca.display()))?;
                roots.add(c).map_err(|e| format!("{}: {e}", ca.display()))?;
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder(Arc::new(roots))
                .build()
                .map_err(|e| format!("{}: {e}", ca.display()))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    builder
        .with_single_cert(certs, key_der)
        .map_err(|e| format!("{} / {}: {e}", cert.display(), key.display()))
}

/// Serves `app` on `listener` until `shutdown` fires, over TLS when `tls` is given.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    tls: Option<Arc<rustls::ServerConfig>>,
    mut shutdown: ShutdownSignal,
) -> std::io::Result<()> {
    let Some(tls) = tls else {
        return axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move { shutdown.wait().await })
        .await;
    };
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    loop {
        let (stream, peer) = tokio::select! {
            _ = shutdown.wait() => return Ok(()),
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    continue;
                }
            },
        };
        let acceptor = acceptor.clone();
        let app = app.clone();
        tokio::spawn(async move {
            let tls = match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream))
                .await
            {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%peer, "TLS handshake timed out");
                    return;
                }
            };
            let svc = hyper_util::service::TowerToHyperService::new(app);
            let io = hyper_util::rt::TokioIo::new(tls);
            if let Err(e) =
                hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new())
                    .serve_connection(io, svc)
                    .await
            {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
}
