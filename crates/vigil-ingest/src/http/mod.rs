//! The HTTP connector: `POST /ingest` (NDJSON or a JSON array), the Elasticsearch bulk API
//! (`POST /_bulk`, `POST /{index}/_bulk`, and `GET /` answered like a cluster so that Beats,
//! Logstash and rsyslog's omelasticsearch connect), and the Splunk HTTP Event Collector
//! (`POST /services/collector/event`, `POST /services/collector/raw`, `GET
//! /services/collector/health`), over HTTP/1.1 and HTTP/2, plain or TLS.
//!
//! **Authentication.** Every request carries one of the connector's tokens, as `Authorization:
//! Bearer <token>`, HEC's `Authorization: Splunk <token>`, or the password of basic auth (any
//! user name); tokens are compared in constant time and never logged. Events belong to the
//! collector's tenant. A missing or wrong token gets 401 (counted `unauthorized`).
//!
//! **Bodies.** A body larger than `max_body_size` as sent gets 413 (`body_too_large`); gzip and
//! zstd bodies (`Content-Encoding`) are inflated up to `max_decompressed_size`, beyond which
//! 413 (`decompressed_too_large`); a corrupt stream gets 400 (`bad_encoding`). A body that does
//! not arrive within `request_timeout` gets 408 (`body_timeout`). Nothing read is dropped: an
//! event longer than `max_event_size` is cut and marked (`oversized_event`), a line that is
//! not JSON where JSON was expected is kept raw and marked (`malformed_json`), unreadable bulk
//! action lines and HEC objects likewise (`malformed_bulk`, `malformed_hec`).
//!
//! **Backpressure.** One request's records go to the pipeline as one batch, so a request is
//! taken whole or not at all. When the pipeline's queue stays full for `request_timeout`, the
//! request is answered 429 with `Retry-After` (counted `backpressure`) and the sender retries;
//! the shippers this endpoint speaks for all do.
//!
//! **HEC acknowledgements** (`hec_acknowledgements: true`, module [`hec_ack`]): a HEC event
//! or raw request must name a channel (`X-Splunk-Request-Channel` or `?channel=`; else 400,
//! HEC code 10); its answer carries an `ackId`, and `POST /services/collector/ack` with
//! `{"acks":[ids]}` answers `{"acks":{"id":true|false}}`, `true` once the request's events are
//! durable (written by every destination, for the store its write-ahead log), reported once.
//! Without the setting, `/services/collector/ack` answers 400 (HEC code 14, "ACK is
//! disabled") and requests get no `ackId`.
//!
//! **Connections.** At most `max_connections` at once (gauge `connections`; beyond, closed at
//! once, `refused_max_connections`), within the process's descriptor budget
//! (`refused_descriptor_budget`); request headers must arrive within 30 s (`header_timeout`).
//! On shutdown the listener stops, connections finish their requests and close.
//!
//! Metrics (component kind `connector`): `events_in`, `bytes_in` (bodies as sent), the errors
//! named above plus `tls_handshake` and `accept`, the drop `pipeline_closed`, gauge
//! `connections`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use smol_str::SmolStr;
use tokio_util::task::TaskTracker;
use vigil_event::Timestamp;
use vigil_pipeline::{
    BoxFuture, ComponentError, ComponentMetrics, Connector, ConnectorContext, RawBatch, RawRecord,
    RawSender, ShutdownSignal, SourceInfo,
};

use crate::IngestError;

mod body;
mod hec_ack;
#[cfg(test)]
mod tests;

use body::{DecodeError, Piece};

/// The HTTP connector's settings: the validated configuration type itself
/// (`collectors[].connector` with `type: http`).
pub use vigil_config::HttpConfig as HttpSettings;

/// Time allowed for a request's headers.
const HEADER_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a connection may finish its requests after the shutdown signal.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// The `Retry-After` of a 429, in seconds.
const RETRY_AFTER_SECS: u64 = 5;

/// Receives events over HTTP. Build with [`HttpConnector::new`], optionally
/// [`bind`](HttpConnector::bind) early, then hand it to the pipeline.
pub struct HttpConnector {
    settings: HttpSettings,
    tls: Option<tokio_rustls::TlsAcceptor>,
    bound: Option<std::net::TcpListener>,
}

impl std::fmt::Debug for HttpConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpConnector")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl HttpConnector {
    /// Checks the settings and loads the TLS files, with errors naming the setting or file.
    pub fn new(settings: HttpSettings) -> Result<HttpConnector, IngestError> {
        let invalid = |field, reason: &str| IngestError::Invalid {
            field,
            reason: reason.to_owned(),
        };
        if settings.tokens.is_empty() {
            return Err(invalid("tokens", "at least one token is needed"));
        }
        if settings.tokens.iter().any(|t| t.expose().is_empty()) {
            return Err(invalid("tokens", "a token is empty"));
        }
        if settings.max_body_size == 0
            || settings.max_decompressed_size == 0
            || settings.max_event_size == 0
        {
            return Err(invalid(
                "max_body_size",
                "size limits must be at least 1 byte",
            ));
        }
        if settings.max_connections == 0 {
            return Err(invalid("max_connections", "must be at least 1"));
        }
        if settings.request_timeout.is_zero() {
            return Err(invalid("request_timeout", "must be longer than zero"));
        }
        let tls = match &settings.tls {
            Some(t) => Some(tokio_rustls::TlsAcceptor::from(
                crate::syslog::tls::server_config(t)?,
            )),
            None => None,
        };
        Ok(HttpConnector {
            settings,
            tls,
            bound: None,
        })
    }

    /// Opens the listening socket now (idempotent) and returns its local address.
    pub fn bind(&mut self) -> Result<SocketAddr, IngestError> {
        if self.bound.is_none() {
            let transport = if self.tls.is_some() {
                "for HTTPS"
            } else {
                "for HTTP"
            };
            self.bound = Some(crate::syslog::stream::bind(
                self.settings.listen,
                transport,
            )?);
        }
        let l = self.bound.as_ref().map(std::net::TcpListener::local_addr);
        match l {
            Some(Ok(a)) => Ok(a),
            _ => Ok(self.settings.listen),
        }
    }

    async fn run_inner(mut self, ctx: ConnectorContext) -> Result<(), ComponentError> {
        let listener = self.bind().map_err(|e| e.to_string()).and_then(|_| {
            let l = self.bound.take().ok_or("socket not bound")?;
            tokio::net::TcpListener::from_std(l)
                .map_err(|e| format!("registering a socket with tokio: {e}"))
        });
        let listener = match listener {
            Ok(l) => l,
            Err(message) => {
                ctx.shutdown_all.trigger();
                return Err(ComponentError::new(&ctx.metrics, message));
            }
        };
        let local = listener.local_addr().ok();
        let shared = Arc::new(Shared {
            out: ctx.out.clone(),
            source: ctx.source.clone(),
            metrics: ctx.metrics.clone(),
            tokens: self
                .settings
                .tokens
                .iter()
                .map(|t| t.expose().as_bytes().to_vec())
                .collect(),
            connections: ctx.metrics.gauge("connections"),
            acks: self
                .settings
                .hec_acknowledgements
                .then(|| Arc::new(parking_lot::Mutex::new(hec_ack::Acks::default()))),
            settings: self.settings.clone(),
        });
        tracing::info!(connector = %ctx.source.id, listen = ?local, tls = self.tls.is_some(),
            "http connector listening");
        let tracker = TaskTracker::new();
        accept_loop(
            listener,
            self.tls.clone(),
            shared,
            tracker.clone(),
            ctx.shutdown.clone(),
        )
        .await;
        tracker.close();
        tracker.wait().await;
        tracing::info!(connector = %ctx.source.id, "http connector stopped");
        Ok(())
    }
}

impl Connector for HttpConnector {
    fn run(self: Box<Self>, ctx: ConnectorContext) -> BoxFuture<Result<(), ComponentError>> {
        Box::pin(self.run_inner(ctx))
    }

    fn listen(&mut self) -> Result<Vec<vigil_pipeline::ListenAddr>, String> {
        let addr = self.bind().map_err(|e| e.to_string())?;
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        Ok(vec![vigil_pipeline::ListenAddr { scheme, addr }])
    }
}

/// What every connection of one connector shares.
#[derive(Debug)]
struct Shared {
    out: RawSender,
    source: Arc<SourceInfo>,
    metrics: ComponentMetrics,
    tokens: Vec<Vec<u8>>,
    connections: Arc<AtomicI64>,
    settings: HttpSettings,
    /// The HEC ack ids, with `hec_acknowledgements`.
    acks: Option<Arc<parking_lot::Mutex<hec_ack::Acks>>>,
}

async fn accept_loop(
    listener: tokio::net::TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    shared: Arc<Shared>,
    tracker: TaskTracker,
    mut shutdown: ShutdownSignal,
) {
    let max = i64::try_from(shared.settings.max_connections).unwrap_or(i64::MAX);
    loop {
        let accepted = tokio::select! {
            biased;
            () = shutdown.wait() => break,
            r = listener.accept() => r,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                shared.metrics.error("accept", 1);
                tracing::debug!(error = %e, "http accept failed");
                tokio::select! {
                    () = shutdown.wait() => break,
                    () = tokio::time::sleep(Duration::from_millis(100)) => continue,
                }
            }
        };
        let Some(permit) = vigil_pipeline::ConnectionBudget::global().try_acquire() else {
            shared.metrics.error("refused_descriptor_budget", 1);
            continue;
        };
        if shared.connections.load(Ordering::Relaxed) >= max {
            shared.metrics.error("refused_max_connections", 1);
            continue;
        }
        shared.connections.fetch_add(1, Ordering::Relaxed);
        let (shared, tls, shutdown) = (shared.clone(), tls.clone(), shutdown.clone());
        tracker.spawn(async move {
            let _permit = permit;
            match tls {
                None => serve(stream, peer, shared.clone(), shutdown).await,
                Some(acceptor) => {
                    let hs = tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream));
                    match hs.await {
                        Ok(Ok(s)) => serve(s, peer, shared.clone(), shutdown).await,
                        _ => shared.metrics.error("tls_handshake", 1),
                    }
                }
            }
            shared.connections.fetch_sub(1, Ordering::Relaxed);
        });
    }
}

async fn serve<S>(io: S, peer: SocketAddr, shared: Arc<Shared>, mut shutdown: ShutdownSignal)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
        let shared = shared.clone();
        async move { Ok::<_, Infallible>(handle(&shared, peer, req).await) }
    });
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .keep_alive(true);
    builder.http2().timer(TokioTimer::new());
    let conn = builder.serve_connection(TokioIo::new(io), svc);
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => return,
        () = shutdown.wait() => conn.as_mut().graceful_shutdown(),
    }
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, conn).await;
}

/// The kind of endpoint a request is for, which decides how errors are answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Api {
    Ingest,
    Elastic,
    Hec,
}

type Resp = Response<Full<Bytes>>;

fn json(status: StatusCode, body: serde_json::Value) -> Resp {
    let mut r = Response::new(Full::new(Bytes::from(body.to_string())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r.headers_mut().insert(
        "x-elastic-product",
        HeaderValue::from_static("Elasticsearch"),
    );
    r
}

/// An error answer in the shape the endpoint's clients read.
fn error(api: Api, status: StatusCode, reason: &str) -> Resp {
    let mut r = match api {
        Api::Elastic => json(
            status,
            serde_json::json!({"error": {"type": es_type(status), "reason": reason},
                "status": status.as_u16()}),
        ),
        Api::Hec => {
            let code = match status {
                StatusCode::UNAUTHORIZED => 4,
                StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE => 9,
                StatusCode::NOT_FOUND => 404,
                _ => 6,
            };
            json(status, serde_json::json!({"text": reason, "code": code}))
        }
        Api::Ingest => json(status, serde_json::json!({"error": reason})),
    };
    if status == StatusCode::UNAUTHORIZED {
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"vigil\""),
        );
    }
    if status == StatusCode::TOO_MANY_REQUESTS {
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
    }
    r
}

fn es_type(status: StatusCode) -> &'static str {
    match status {
        StatusCode::UNAUTHORIZED => "security_exception",
        StatusCode::TOO_MANY_REQUESTS => "es_rejected_execution_exception",
        StatusCode::PAYLOAD_TOO_LARGE => "content_too_long_exception",
        _ => "illegal_argument_exception",
    }
}

/// Whether `req` carries one of the tokens (constant-time comparison).
fn authorized(shared: &Shared, req: &Request<Incoming>) -> bool {
    let Some(value) = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let (scheme, rest) = value.trim().split_once(' ').unwrap_or((value, ""));
    let candidate = match scheme.to_ascii_lowercase().as_str() {
        "bearer" | "splunk" => rest.trim().to_owned(),
        "basic" => match body::basic_password(rest) {
            Some(p) => p,
            None => return false,
        },
        _ => return false,
    };
    let mut ok = subtle::Choice::from(0);
    for t in &shared.tokens {
        ok |= subtle::ConstantTimeEq::ct_eq(t.as_slice(), candidate.as_bytes());
    }
    bool::from(ok)
}

async fn handle(shared: &Shared, peer: SocketAddr, req: Request<Incoming>) -> Resp {
    let path = req.uri().path().to_owned();
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let method = req.method().clone();
    let api = match segments.as_slice() {
        ["ingest"] => Api::Ingest,
        ["services", "collector", ..] => Api::Hec,
        _ => Api::Elastic,
    };
    if !authorized(shared, &req) {
        shared.metrics.error("unauthorized", 1);
        let reason = match api {
            Api::Hec => "Invalid token",
            _ => "missing or invalid credentials",
        };
        return error(api, StatusCode::UNAUTHORIZED, reason);
    }
    enum Route {
        Ingest,
        Bulk(Option<String>),
        HecEvent,
        HecRaw,
        HecAck,
    }
    let route = match (&method, segments.as_slice()) {
        (&Method::GET | &Method::HEAD, [""]) => return cluster_info(),
        (&Method::GET, ["services", "collector", "health"]) => {
            return json(
                StatusCode::OK,
                serde_json::json!({"text": "HEC is healthy", "code": 17}),
            );
        }
        (&Method::POST, ["ingest"]) => Route::Ingest,
        (&Method::POST | &Method::PUT, ["_bulk"]) => Route::Bulk(None),
        (&Method::POST | &Method::PUT, [index, "_bulk"]) => Route::Bulk(Some((*index).to_owned())),
        (&Method::POST, ["services", "collector"] | ["services", "collector", "event"])
        | (&Method::POST, ["services", "collector", "event", "1.0"]) => Route::HecEvent,
        (&Method::POST, ["services", "collector", "raw"])
        | (&Method::POST, ["services", "collector", "raw", "1.0"]) => Route::HecRaw,
        (&Method::POST, ["services", "collector", "ack"]) => Route::HecAck,
        _ => {
            shared.metrics.error("not_found", 1);
            return error(api, StatusCode::NOT_FOUND, "no such endpoint");
        }
    };
    // the HEC channel, which acknowledgements need
    let channel = req
        .headers()
        .get("x-splunk-request-channel")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| {
            req.uri().query().and_then(|q| {
                q.split('&')
                    .find_map(|kv| kv.strip_prefix("channel="))
                    .map(str::to_owned)
            })
        });
    let ack = match (&route, &shared.acks) {
        (Route::HecEvent | Route::HecRaw | Route::HecAck, Some(acks)) => match channel {
            None => {
                shared.metrics.error("hec_channel", 1);
                return hec(StatusCode::BAD_REQUEST, "Data channel is missing", 10);
            }
            Some(c) if !hec_ack::valid_channel(&c) => {
                shared.metrics.error("hec_channel", 1);
                return hec(StatusCode::BAD_REQUEST, "Invalid data channel", 11);
            }
            Some(c) => Some((acks.clone(), c)),
        },
        (Route::HecAck, None) => {
            return hec(StatusCode::BAD_REQUEST, "ACK is disabled", 14);
        }
        _ => None,
    };
    let encoding = req
        .headers()
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let s = &shared.settings;
    let collect = Limited::new(req.into_body(), s.max_body_size).collect();
    let raw = match tokio::time::timeout(s.request_timeout, collect).await {
        Err(_) => {
            shared.metrics.error("body_timeout", 1);
            return error(
                api,
                StatusCode::REQUEST_TIMEOUT,
                "the body did not arrive in time",
            );
        }
        Ok(Err(e)) => {
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                shared.metrics.error("body_too_large", 1);
                return error(
                    api,
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "body larger than max_body_size",
                );
            }
            shared.metrics.error("read", 1);
            return error(api, StatusCode::BAD_REQUEST, "the body could not be read");
        }
        Ok(Ok(b)) => b.to_bytes(),
    };
    shared.metrics.bytes_in(raw.len() as u64);
    let body = match body::decode(raw, encoding.as_deref(), s.max_decompressed_size) {
        Ok(b) => b,
        Err(DecodeError::TooLarge) => {
            shared.metrics.error("decompressed_too_large", 1);
            return error(
                api,
                StatusCode::PAYLOAD_TOO_LARGE,
                "body inflates beyond max_decompressed_size",
            );
        }
        Err(DecodeError::Corrupt) => {
            shared.metrics.error("bad_encoding", 1);
            return error(api, StatusCode::BAD_REQUEST, "corrupt compressed body");
        }
        Err(DecodeError::UnsupportedEncoding) => {
            shared.metrics.error("bad_encoding", 1);
            return error(
                api,
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Content-Encoding must be gzip, zstd or identity",
            );
        }
    };
    let max = s.max_event_size;
    let started = std::time::Instant::now();
    match route {
        Route::Ingest => {
            let pieces = body::ingest(&body, max);
            let malformed = pieces.iter().filter(|p| p.error.is_some()).count();
            let n = pieces.len();
            if let Err(r) = send(shared, peer, pieces, api, None).await {
                return r;
            }
            json(
                StatusCode::OK,
                serde_json::json!({"accepted": n, "malformed": malformed}),
            )
        }
        Route::Bulk(index) => {
            let (pieces, items) = body::bulk(&body, index.as_deref(), max);
            if let Err(r) = send(shared, peer, pieces, api, None).await {
                return r;
            }
            let errors = items.iter().any(|i| i.error.is_some());
            let items: Vec<_> = items
                .into_iter()
                .enumerate()
                .map(|(n, i)| {
                    let id = i.id.unwrap_or_else(|| {
                        format!("{}", vigil_event::new_event_id(Timestamp::now()))
                    });
                    let mut r = serde_json::json!({"_index": i.index, "_id": id});
                    match i.error {
                        None => {
                            r["_version"] = 1.into();
                            r["result"] = "created".into();
                            r["_shards"] =
                                serde_json::json!({"total": 1, "successful": 1, "failed": 0});
                            r["_seq_no"] = n.into();
                            r["_primary_term"] = 1.into();
                            r["status"] = 201.into();
                        }
                        Some((ty, reason)) => {
                            r["status"] = 400.into();
                            r["error"] = serde_json::json!({"type": ty, "reason": reason});
                        }
                    }
                    serde_json::json!({ i.action: r })
                })
                .collect();
            json(
                StatusCode::OK,
                serde_json::json!({
                    "took": started.elapsed().as_millis() as u64,
                    "errors": errors,
                    "items": items,
                }),
            )
        }
        Route::HecEvent => {
            let (pieces, fault) = body::hec_event(&body, max);
            let ack_id = match send(shared, peer, pieces, api, ack).await {
                Ok(id) => id,
                Err(r) => return r,
            };
            match fault {
                None => hec_success(ack_id),
                Some(f) => json(
                    StatusCode::BAD_REQUEST,
                    serde_json::json!({"text": f.text, "code": f.code,
                        "invalid-event-number": f.event}),
                ),
            }
        }
        Route::HecRaw => {
            let pieces = body::hec_raw(&body, max);
            match send(shared, peer, pieces, api, ack).await {
                Ok(id) => hec_success(id),
                Err(r) => r,
            }
        }
        Route::HecAck => {
            let Some((acks, channel)) = ack else {
                return hec(StatusCode::BAD_REQUEST, "ACK is disabled", 14);
            };
            #[derive(serde::Deserialize)]
            struct Query {
                acks: Vec<u64>,
            }
            let Ok(q) = serde_json::from_slice::<Query>(&body) else {
                shared.metrics.error("malformed_hec", 1);
                return hec(StatusCode::BAD_REQUEST, "Invalid data format", 6);
            };
            let answers = acks.lock().query(&channel, &q.acks);
            let map: serde_json::Map<String, serde_json::Value> = answers
                .into_iter()
                .map(|(id, d)| (id.to_string(), d.into()))
                .collect();
            json(StatusCode::OK, serde_json::json!({ "acks": map }))
        }
    }
}

/// A HEC answer with `text` and `code`.
fn hec(status: StatusCode, text: &str, code: u32) -> Resp {
    json(status, serde_json::json!({"text": text, "code": code}))
}

/// HEC's success answer, with the request's `ackId` when acknowledgements are on.
fn hec_success(ack_id: Option<u64>) -> Resp {
    match ack_id {
        None => json(
            StatusCode::OK,
            serde_json::json!({"text": "Success", "code": 0}),
        ),
        Some(id) => json(
            StatusCode::OK,
            serde_json::json!({"text": "Success", "code": 0, "ackId": id}),
        ),
    }
}

/// `GET /`: what an Elasticsearch cluster answers, so that shippers that check the version
/// before sending (Beats, Logstash) accept the endpoint.
fn cluster_info() -> Resp {
    json(
        StatusCode::OK,
        serde_json::json!({
            "name": "vigil",
            "cluster_name": "vigil",
            "cluster_uuid": "vigil",
            "version": {
                "number": "8.11.0",
                "build_flavor": "default",
                "lucene_version": "9.8.0",
                "minimum_wire_compatibility_version": "7.17.0",
                "minimum_index_compatibility_version": "7.0.0"
            },
            "tagline": "You Know, for Search"
        }),
    )
}

/// Sends the pieces of one request as one batch, counting marks; waits up to `request_timeout`
/// for room and answers 429 when there is none. With `ack` (the HEC ack ids and the
/// request's channel), the batch carries an acknowledgement and the request's ack id is
/// returned, turned durable when the pipeline answers.
async fn send(
    shared: &Shared,
    peer: SocketAddr,
    pieces: Vec<Piece>,
    api: Api,
    ack: Option<(Arc<parking_lot::Mutex<hec_ack::Acks>>, String)>,
) -> Result<Option<u64>, Resp> {
    let issued = match &ack {
        None => None,
        Some((acks, channel)) => match acks.lock().issue(channel) {
            Ok(id) => Some(id),
            Err(hec_ack::Refused::Full) => {
                shared.metrics.error("hec_acks_full", 1);
                return Err(hec(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Server is busy: too many acknowledgements awaiting a query",
                    9,
                ));
            }
        },
    };
    let resolve = move |durable: bool| {
        if let (Some((acks, channel)), Some(id)) = (&ack, issued) {
            acks.lock().resolve(channel, id, durable);
        }
    };
    if pieces.is_empty() {
        resolve(true);
        return Ok(issued);
    }
    let received = Timestamp::now();
    let mut records = Vec::with_capacity(pieces.len());
    for p in pieces {
        if let Some(e) = p.error {
            let reason = match e {
                body::OVERSIZED => "oversized_event",
                body::NOT_JSON => "malformed_json",
                e if e.starts_with("bulk") => "malformed_bulk",
                _ => "malformed_hec",
            };
            shared.metrics.error(reason, 1);
        }
        records.push(RawRecord {
            data: p.data,
            received,
            peer: Some(peer),
            transport_error: p.error.map(SmolStr::new_static),
        });
    }
    let n = records.len() as u64;
    let (batch_ack, wait) = match issued {
        Some(_) => {
            let (a, w) = vigil_pipeline::Ack::new();
            (Some(a), Some(w))
        }
        None => (None, None),
    };
    let batch = RawBatch {
        source: shared.source.clone(),
        records,
        ack: batch_ack,
        file: None,
    };
    match tokio::time::timeout(
        shared.settings.request_timeout,
        shared.out.send_async(batch),
    )
    .await
    {
        Ok(Ok(())) => {
            shared.metrics.events_in(n);
            if let Some(w) = wait {
                tokio::spawn(async move { resolve(w.durable().await) });
            }
            Ok(issued)
        }
        Ok(Err(_)) => {
            resolve(false);
            shared.metrics.drop("pipeline_closed", n);
            Err(error(api, StatusCode::SERVICE_UNAVAILABLE, "shutting down"))
        }
        Err(_) => {
            resolve(false);
            shared.metrics.error("backpressure", 1);
            Err(error(
                api,
                StatusCode::TOO_MANY_REQUESTS,
                "the pipeline is full; retry later",
            ))
        }
    }
}
