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

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use vigil_core::auth::looks_like_token;
use vigil_core::{Action, AuthError, Principal, PrincipalKind, Role, RoleGrant, TenantId};

use crate::auth::{AuthGuard, AuthPolicy, Failure, LogLines};
use crate::listener::ApiLimits;
use crate::v1::common::ErrorBody;
use crate::v1::{ApiError, Caller, Core};
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
    /// The SOC core (metadata store, accounts, alerts, incidents, assets): the `/api/v1`
    /// routes beyond search and status answer 503 `core_unavailable` without it, and only the
    /// token file authenticates.
    pub core: Option<Arc<Core>>,
}

impl ApiState {
    /// The core, or 503 `core_unavailable`.
    pub fn core(&self) -> Result<&Arc<Core>, ApiError> {
        self.core.as_ref().ok_or_else(|| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "core_unavailable",
                "this server runs without the metadata store",
            )
        })
    }
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

pub(crate) fn error(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    let body = json!({ "error": { "code": code, "message": message.into() } });
    (status, axum::Json(body)).into_response()
}

/// What the gate middlewares (auth, concurrency, body) share.
#[derive(Clone)]
struct Gate {
    token: Arc<str>,
    core: Option<Arc<Core>>,
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

/// The principal of the installation's token file: an administrator of every tenant
/// (a general administrator), as `vigil search` and scripts have always used it.
async fn file_token_principal(core: Option<&Arc<Core>>) -> Result<Principal, ApiError> {
    let all = match core {
        Some(c) => c.store.all_tenant_ids().await?,
        None => vec![TenantId::main()],
    };
    Ok(Principal::new(
        PrincipalKind::Token {
            id: "api-token".into(),
            name: "token file".into(),
            user_id: None,
        },
        &[RoleGrant {
            tenant: TenantId::main(),
            role: Role::Administrator,
        }],
        &all,
    ))
}

/// Routes a session that must change its password may still call.
fn allowed_before_password_change(path: &str) -> bool {
    matches!(
        path,
        "/api/v1/auth/password" | "/api/v1/auth/me" | "/api/v1/auth/logout"
    )
}

/// Resolves the caller once per request — the token file, a `vgl_` API token, or a session
/// cookie with its CSRF header on writes — and hands it to the handlers as a [`Caller`].
/// Failures are answered 401 (403 for CSRF and token endpoint lists, 429 when throttled) and
/// counted against the client address.
async fn authenticate(State(g): State<Gate>, mut req: Request, next: Next) -> Response {
    let peer = peer_of(&req);
    let now = Instant::now();
    g.metrics.events_in(1);
    if let Some(p) = peer
        && let Some((retry, lines)) = g.guard.locked(p.ip(), now)
    {
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
    let ip = peer.map(|p| p.ip().to_string());
    let method = req.method().as_str().to_owned();
    let path = req.uri().path().to_owned();
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .map(str::to_owned);
    let cookie = g.core.as_ref().and_then(|c| {
        let attrs = c.auth.cookie(c.tls);
        req.headers()
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|v| attrs.find_in(v).map(str::to_owned))
    });
    let csrf = req
        .headers()
        .get(vigil_core::auth::CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let resolved: Result<Principal, Option<ApiError>> = match (&presented, &g.core, &cookie) {
        (Some(t), _, _) if bool::from(t.as_bytes().ct_eq(g.token.as_bytes())) => {
            file_token_principal(g.core.as_ref()).await.map_err(Some)
        }
        (Some(t), Some(core), _) if looks_like_token(t) => core
            .auth
            .resolve_bearer(t, ip.as_deref(), &method, &path)
            .await
            .map_err(auth_refusal),
        (Some(_), _, _) => Err(None),
        (None, Some(core), Some(c)) => core
            .auth
            .resolve_session(c, csrf.as_deref(), &method)
            .await
            .map_err(auth_refusal),
        (None, _, _) => {
            let failure = Failure::Missing;
            return refuse(&g, peer, now, failure);
        }
    };
    let principal = match resolved {
        Ok(p) => p,
        Err(None) => return refuse(&g, peer, now, Failure::Invalid),
        Err(Some(e)) => {
            if e.status == StatusCode::UNAUTHORIZED {
                return refuse(&g, peer, now, Failure::Invalid);
            }
            g.metrics.error("auth_refused", 1);
            return e.into_response();
        }
    };
    if principal.must_change_password && !allowed_before_password_change(&path) {
        return error(
            StatusCode::FORBIDDEN,
            "password_change_required",
            "change the password first (POST /api/v1/auth/password)",
        );
    }
    req.extensions_mut().insert(Caller { principal, ip });
    next.run(req).await
}

/// An authentication error as the response it becomes; `None` for plain 401s (counted and
/// throttled by the caller).
fn auth_refusal(e: AuthError) -> Option<ApiError> {
    match e {
        AuthError::Unauthenticated { .. } => None,
        other => Some(other.into()),
    }
}

/// Counts and logs a failed authentication and answers 401.
fn refuse(g: &Gate, peer: Option<SocketAddr>, now: Instant, failure: Failure) -> Response {
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
            "the bearer token or session is not valid",
        ),
        Failure::Missing => error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "send `Authorization: Bearer <token>` (a vgl_ API token, or the token in <data_dir>/api-token) or log in at /api/v1/auth/login",
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

/// The health of the server (no credentials, no data).
#[utoipa::path(get, path = "/health", tag = "status", responses((status = 200, description = "`{\"status\": \"ok\", \"version\"}`")), security(()))]
async fn health() -> Response {
    axum::Json(json!({ "status": "ok", "version": env!("CARGO_PKG_VERSION") })).into_response()
}

/// Installation-wide figures are for callers who may read sources in the Main tenant.
fn installation_reader(caller: &Caller) -> Result<(), ApiError> {
    caller.scope(Action::SourcesRead, &[TenantId::main()])?;
    Ok(())
}

/// Prometheus metrics of every component.
#[utoipa::path(get, path = "/metrics", tag = "status",
    responses((status = 200, content_type = "text/plain", body = String), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
async fn metrics(State(st): State<ApiState>, caller: Caller) -> Response {
    if let Err(e) = installation_reader(&caller) {
        return e.into_response();
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        st.telemetry.render_prometheus(),
    )
        .into_response()
}

/// Every component's counters: events and bytes in and out, errors, drops, gauges.
#[utoipa::path(get, path = "/api/v1/status", tag = "status",
    responses((status = 200, description = "`{\"components\": [...]}`"), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
async fn status(State(st): State<ApiState>, caller: Caller) -> Response {
    if let Err(e) = installation_reader(&caller) {
        return e.into_response();
    }
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
async fn run_search(st: ApiState, caller: Caller, mut req: SearchRequest) -> Response {
    let started = Instant::now();
    match search_tenant(&caller, req.tenant.as_deref()) {
        Ok(t) => req.tenant = Some(t),
        Err(e) => return e.into_response(),
    }
    audit_search(&st, &caller, &req);
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
    // Counted as cancelled unless it ends here: dropped on the way, the client went away.
    let mut outcome = SearchOutcome {
        metrics: api_metrics(&st.telemetry),
        reason: Some("search_cancelled"),
    };
    let permit = match st.searches.admit().await {
        Ok(p) => p,
        Err(busy) => {
            outcome.reason = Some("search_refused");
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
    outcome.reason = match &res {
        Ok(_) | Err(SearchError::BadRequest(_) | SearchError::Internal(_)) => None,
        // only the timeout above cancels a search that is still awaited here
        Err(SearchError::Timeout(_) | SearchError::Cancelled) => Some("search_timeout"),
        Err(SearchError::TooLarge(_)) => Some("search_over_budget"),
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

/// Counts how a search ended, in the API's errors (`search_refused`, `search_timeout`,
/// `search_cancelled`, `search_over_budget`), when dropped: a search whose client went away
/// is dropped mid-way and counted as cancelled. The same for every store.
struct SearchOutcome {
    metrics: ComponentMetrics,
    reason: Option<&'static str>,
}

impl Drop for SearchOutcome {
    fn drop(&mut self) {
        if let Some(r) = self.reason {
            self.metrics.error(r, 1);
        }
    }
}

/// Every search is audited (`search`, in the searched tenant when the metadata store knows
/// it, else Main), written in the background so the search does not wait for it.
fn audit_search(st: &ApiState, caller: &Caller, req: &SearchRequest) {
    let Some(core) = st.core.clone() else { return };
    let tenant = req
        .tenant
        .as_deref()
        .and_then(|t| TenantId::new(t).ok())
        .unwrap_or_else(TenantId::main);
    let q: String = req.q.chars().take(4096).collect();
    let rec = vigil_core::NewAuditRecord {
        tenant: tenant.clone(),
        at: chrono::Utc::now(),
        actor: caller.actor(),
        action: "search".into(),
        target_kind: "events".into(),
        target_id: tenant.as_str().to_owned(),
        outcome: vigil_core::AuditOutcome::Success,
        source_ip: caller.ip.clone(),
        details: json!({ "q": q, "from": req.from, "to": req.to, "space": req.space }),
    };
    tokio::spawn(async move {
        let known = core.store.all_tenant_ids().await.unwrap_or_default();
        let mut rec = rec;
        if !known.contains(&rec.tenant) {
            rec.tenant = TenantId::main();
        }
        if let Err(e) = core.store.append_audit(rec).await {
            tracing::warn!(error = %e, "search audit record not written");
        }
    });
}

/// The tenant a search runs on: the one named (403 unless the caller may search it), else
/// Main when the caller may search it, else the caller's first tenant. A general
/// administrator may search every tenant of the event store, registered in the metadata
/// store or not.
fn search_tenant(caller: &Caller, named: Option<&str>) -> Result<String, ApiError> {
    let p = &caller.principal;
    match named {
        Some(t) => {
            let id = TenantId::new(t).map_err(|e| ApiError::bad_request(format!("tenant: {e}")))?;
            if !p.general_admin {
                caller.scope(Action::Search, &[id])?;
            }
            Ok(t.to_owned())
        }
        None if p.may(Action::Search, &TenantId::main()) => {
            Ok(TenantId::main().as_str().to_owned())
        }
        None => {
            let scope = caller.scope(Action::Search, &[])?;
            Ok(scope.iter().next().map_or_else(
                || TenantId::main().as_str().to_owned(),
                |t| t.as_str().to_owned(),
            ))
        }
    }
}

/// Searches events (query string form).
#[utoipa::path(get, path = "/api/v1/search", tag = "search", params(SearchRequest),
    responses((status = 200, body = SearchResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 429, body = ErrorBody), (status = 504, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
async fn search_get(
    State(st): State<ApiState>,
    caller: Caller,
    q: Result<Query<SearchRequest>, axum::extract::rejection::QueryRejection>,
) -> Response {
    match q {
        Ok(Query(req)) => run_search(st, caller, req).await,
        Err(e) => error(StatusCode::BAD_REQUEST, "bad_request", e.body_text()),
    }
}

/// Searches events (JSON body form).
#[utoipa::path(post, path = "/api/v1/search", tag = "search", request_body = SearchRequest,
    responses((status = 200, body = SearchResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 429, body = ErrorBody), (status = 504, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
async fn search_post(
    State(st): State<ApiState>,
    caller: Caller,
    body: Result<axum::Json<SearchRequest>, axum::extract::rejection::JsonRejection>,
) -> Response {
    match body {
        Ok(axum::Json(req)) => run_search(st, caller, req).await,
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

/// Every route with its OpenAPI description: `(protected, public)`.
fn described_routes() -> (OpenApiRouter<ApiState>, OpenApiRouter<ApiState>) {
    let protected = OpenApiRouter::new()
        .routes(routes!(metrics))
        .routes(routes!(status))
        .routes(routes!(search_get, search_post))
        .merge(crate::v1::routes());
    let public = OpenApiRouter::new()
        .routes(routes!(health))
        .merge(crate::v1::public_routes());
    (protected, public)
}

/// The OpenAPI 3.1 document of every route, as served at `/api/v1/openapi.json`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let (protected, public) = described_routes();
    let mut doc = protected.into_openapi();
    doc.merge(public.into_openapi());
    doc.paths.add_path_operation(
        "/api/v1/openapi.json",
        vec![utoipa::openapi::HttpMethod::Get],
        utoipa::openapi::path::OperationBuilder::new()
            .tag("status")
            .summary(Some("This document (no credentials needed)"))
            .security(utoipa::openapi::security::SecurityRequirement::default())
            .response(
                "200",
                utoipa::openapi::Response::new("the OpenAPI 3.1 document"),
            ),
    );
    crate::v1::finish_document(doc)
}

/// The API's routes.
pub fn router(state: ApiState) -> Router {
    let gate = Gate {
        token: state.token.clone(),
        core: state.core.clone(),
        guard: Arc::new(AuthGuard::new(state.limits.auth.clone())),
        metrics: api_metrics(&state.telemetry),
        requests: Arc::new(Semaphore::new(state.limits.max_concurrent_requests.max(1))),
        body_read_timeout: state.limits.body_read_timeout,
        max_body_size: state.max_body_size,
    };
    let doc: Arc<str> = match openapi().to_json() {
        Ok(j) => j.into(),
        Err(e) => {
            tracing::error!(error = %e, "the OpenAPI document did not serialize");
            "{}".into()
        }
    };
    let (protected, _) = described_routes();
    let (protected, _) = protected.split_for_parts();
    // /health stays outside every gate; login has the limits but no authentication
    let (public, _) = crate::v1::public_routes().split_for_parts();
    // the last layer runs first: auth, then the concurrency cap, then the body
    let protected = protected
        .route_layer(middleware::from_fn_with_state(gate.clone(), read_body))
        .route_layer(middleware::from_fn_with_state(
            gate.clone(),
            limit_concurrency,
        ))
        .route_layer(middleware::from_fn_with_state(gate.clone(), authenticate));
    // login: limits without authentication (the authenticator throttles it)
    let login = public
        .route_layer(middleware::from_fn_with_state(gate.clone(), read_body))
        .route_layer(middleware::from_fn_with_state(gate, limit_concurrency));
    Router::new()
        .route(
            "/api/v1/openapi.json",
            get(move || {
                let doc = doc.clone();
                async move {
                    (
                        [(header::CONTENT_TYPE, "application/json")],
                        doc.to_string(),
                    )
                        .into_response()
                }
            }),
        )
        .route("/health", get(health))
        .merge(login)
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
