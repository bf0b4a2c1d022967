//! Routes, auth, request limits and the TLS configuration; the listener is in `listener`.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;
use subtle::ConstantTimeEq;
use tokio::sync::Semaphore;
use vigil_pipeline::{ComponentMetrics, Telemetry};

use crate::auth::{AuthGuard, AuthPolicy, Failure, LogLines};
use crate::listener::ApiLimits;
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
    /// Connection, request and authentication limits.
    pub limits: ApiLimits,
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

/// What the gate middlewares (auth, concurrency, body) share.
#[derive(Clone)]
struct Gate {
    token: Arc<str>,
    guard: Arc<AuthGuard>,
    metrics: ComponentMetrics,
    requests: Arc<Semaphore>,
    body_read_timeout: Duration,
    max_body_size: usize,
}

fn peer_of(req: &Request) -> Option<SocketAddr> {
    req.extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0)
}

/// Logs what the failure table says is due; never the presented token.
fn log_auth(peer: Option<SocketAddr>, lines: &LogLines, policy: &AuthPolicy, last: &str) {
    let peer = peer.map_or_else(|| "unknown".to_owned(), |p| p.ip().to_string());
    if let Some((failures, throttled)) = lines.summary {
        tracing::warn!(
            %peer,
            failures,
            throttled,
            last_reason = last,
            interval_s = policy.log_interval.as_secs(),
            "API authentication failures from this address since its last report"
        );
    }
    if lines.locked_out {
        tracing::warn!(
            %peer,
            max_failures = policy.max_failures,
            window_s = policy.failure_window.as_secs(),
            lockout_s = policy.lockout.as_secs(),
            "API client locked out after too many failed authentications"
        );
    }
}

async fn require_token(State(g): State<Gate>, req: Request, next: Next) -> Response {
    let peer = peer_of(&req);
    let now = Instant::now();
    g.metrics.events_in(1);
    if let Some(p) = peer {
        if let Some((retry, lines)) = g.guard.locked(p.ip(), now) {
            g.metrics.error("auth_throttled", 1);
            log_auth(peer, &lines, g.guard.policy(), "throttled");
            let secs = retry.as_secs() + u64::from(retry.subsec_nanos() > 0);
            let mut resp = error(
                StatusCode::TOO_MANY_REQUESTS,
                "auth_throttled",
                format!("too many failed authentications from this address; retry in {secs} s"),
            );
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
            return resp;
        }
    }
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let failure = match presented {
        Some(t) if bool::from(t.as_bytes().ct_eq(g.token.as_bytes())) => {
            return next.run(req).await;
        }
        Some(_) => Failure::Invalid,
        None => Failure::Missing,
    };
    g.metrics.error(failure.reason(), 1);
    let lines = match peer {
        Some(p) => g.guard.failure(p.ip(), now),
        // no peer address (a router used without the listener): counted, logged every time
        None => LogLines {
            summary: Some((1, 0)),
            locked_out: false,
        },
    };
    log_auth(peer, &lines, g.guard.policy(), failure.reason());
    match failure {
        Failure::Invalid => error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "the bearer token is not valid",
        ),
        Failure::Missing => error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "send `Authorization: Bearer <token>`; the token is in <data_dir>/api-token",
        ),
    }
}

/// Caps the requests in progress: beyond `api.max_concurrent_requests`, 503 `overloaded`.
async fn limit_concurrency(State(g): State<Gate>, req: Request, next: Next) -> Response {
    let Ok(_permit) = g.requests.clone().try_acquire_owned() else {
        g.metrics.error("overloaded", 1);
        let mut resp = error(
            StatusCode::SERVICE_UNAVAILABLE,
            "overloaded",
            "too many requests in progress; retry shortly",
        );
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(1u32));
        return resp;
    };
    next.run(req).await
}

/// Reads the whole body within `api.body_read_timeout` (and `api.max_body_size`) before the
/// handler sees it, so a client trickling a body cannot hold a request slot for long.
async fn read_body(State(g): State<Gate>, req: Request, next: Next) -> Response {
    use axum::body::HttpBody as _;
    let (parts, body) = req.into_parts();
    if body.size_hint().exact() == Some(0) {
        return next.run(Request::from_parts(parts, body)).await;
    }
    let close = |mut r: Response| {
        r.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        r
    };
    let limited = http_body_util::Limited::new(body, g.max_body_size);
    match tokio::time::timeout(
        g.body_read_timeout,
        http_body_util::BodyExt::collect(limited),
    )
    .await
    {
        Ok(Ok(collected)) => {
            let body = axum::body::Body::from(collected.to_bytes());
            next.run(Request::from_parts(parts, body)).await
        }
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => close(error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("the request body is larger than {} bytes", g.max_body_size),
        )),
        Ok(Err(_)) => close(error(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "the request body could not be read",
        )),
        Err(_) => {
            g.metrics.error("body_timeout", 1);
            close(error(
                StatusCode::REQUEST_TIMEOUT,
                "body_timeout",
                format!(
                    "the request body took longer than {} ms to arrive",
                    g.body_read_timeout.as_millis()
                ),
            ))
        }
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

/// Paths no API route matched: the web console (`crate::ui`), which answers API paths with
/// the JSON 404.
async fn console(req: Request) -> Response {
    crate::ui::serve(req, not_found().await).await
}

/// The component the API counts on (`component_kind="api"`, `component_id="http"`).
pub fn api_metrics(telemetry: &Telemetry) -> ComponentMetrics {
    telemetry.component("api", "http")
}

/// The API's routes.
pub fn router(state: ApiState) -> Router {
    let gate = Gate {
        token: state.token.clone(),
        guard: Arc::new(AuthGuard::new(state.limits.auth.clone())),
        metrics: api_metrics(&state.telemetry),
        requests: Arc::new(Semaphore::new(state.limits.max_concurrent_requests.max(1))),
        body_read_timeout: state.limits.body_read_timeout,
        max_body_size: state.max_body_size,
    };
    // the last layer runs first: auth, then the concurrency cap, then the body
    let protected = Router::new()
        .route("/metrics", get(metrics))
        .route("/api/v1/status", get(status))
        .route("/api/v1/search", get(search_get).post(search_post))
        .route_layer(middleware::from_fn_with_state(gate.clone(), read_body))
        .route_layer(middleware::from_fn_with_state(
            gate.clone(),
            limit_concurrency,
        ))
        .route_layer(middleware::from_fn_with_state(gate, require_token));
    Router::new()
        .route("/health", get(health))
        .merge(protected)
        .fallback(console)
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
