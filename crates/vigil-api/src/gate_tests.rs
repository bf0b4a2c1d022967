//! The router's gates (auth throttling, the request cap, the body deadline) and the listener,
//! driven in process: requests carry a peer address as the listener gives them.

#![allow(clippy::disallowed_methods)] // test code: every body read here is the test's own, bounded

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode, header};
use tower::ServiceExt as _;
use vigil_pipeline::Telemetry;

use crate::{
    ApiLimits, ApiState, AuthPolicy, SearchControl, SearchError, SearchGate, SearchLimits,
    SearchRequest, SearchResponse, SearchService, router,
};

pub(crate) const TOKEN: &str = "test-token-0123456789abcdef";

/// Answers every search with no events; optionally waits on a gate first.
pub(crate) struct Svc {
    entered: Option<std::sync::mpsc::SyncSender<()>>,
    release: Option<parking_lot::Mutex<std::sync::mpsc::Receiver<()>>>,
}

impl SearchService for Svc {
    fn search(
        &self,
        _req: &SearchRequest,
        _ctl: &SearchControl,
    ) -> Result<SearchResponse, SearchError> {
        if let Some(tx) = &self.entered {
            let _ = tx.send(());
        }
        if let Some(rx) = &self.release {
            let _ = rx.lock().recv_timeout(Duration::from_secs(60));
        }
        Ok(SearchResponse::Events {
            events: vec![],
            truncated: false,
            took_ms: 0,
        })
    }
}

pub(crate) fn state(limits: ApiLimits, svc: Svc) -> (ApiState, Telemetry) {
    let telemetry = Telemetry::new();
    (
        ApiState {
            search: Arc::new(svc),
            telemetry: telemetry.clone(),
            token: TOKEN.into(),
            query_timeout: Duration::from_secs(30),
            max_body_size: 1 << 20,
            limits,
            // the search gate must not be what holds requests back here: these tests are about
            // the router's own gates
            searches: SearchGate::new(SearchLimits {
                max_concurrent: 256,
                ..SearchLimits::default()
            }),
            core: None,
        },
        telemetry,
    )
}

pub(crate) fn plain() -> Svc {
    Svc {
        entered: None,
        release: None,
    }
}

pub(crate) fn req(path: &str, from: &str, token: Option<&str>) -> Request<Body> {
    let mut b = Request::get(path);
    if let Some(t) = token {
        b = b.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    let mut r = b.body(Body::empty()).unwrap();
    let peer: SocketAddr = format!("{from}:40000").parse().unwrap();
    r.extensions_mut().insert(ConnectInfo(peer));
    r
}

fn errors(t: &Telemetry, reason: &str) -> u64 {
    t.component("api", "http")
        .snapshot()
        .errors
        .get(reason)
        .copied()
        .unwrap_or(0)
}

pub(crate) async fn body_text(r: axum::response::Response) -> String {
    let b = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap();
    String::from_utf8_lossy(&b).into_owned()
}

#[tokio::test]
async fn failed_auth_is_counted_by_reason_and_throttled_per_address() {
    let limits = ApiLimits {
        auth: AuthPolicy {
            max_failures: 3,
            ..AuthPolicy::default()
        },
        ..ApiLimits::default()
    };
    let (st, t) = state(limits, plain());
    let app = router(st);
    let call = |r| app.clone().oneshot(r);
    assert_eq!(
        call(req("/metrics", "192.0.2.1", Some("nope")))
            .await
            .unwrap()
            .status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        call(req("/metrics", "192.0.2.1", None))
            .await
            .unwrap()
            .status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        call(req("/metrics", "192.0.2.1", Some("nope")))
            .await
            .unwrap()
            .status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(errors(&t, "auth_invalid"), 2);
    assert_eq!(errors(&t, "auth_missing"), 1);
    // locked out: even the right token gets 429, with Retry-After
    let r = call(req("/metrics", "192.0.2.1", Some(TOKEN)))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = r.headers()[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=300).contains(&retry), "{retry}");
    assert!(body_text(r).await.contains("\"auth_throttled\""));
    assert_eq!(errors(&t, "auth_throttled"), 1);
    assert_eq!(
        errors(&t, "auth_invalid"),
        2,
        "a locked-out token is not compared"
    );
    // another address is served; /health needs no token and is never throttled
    assert_eq!(
        call(req("/metrics", "192.0.2.2", Some(TOKEN)))
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        call(req("/health", "192.0.2.1", None))
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn requests_beyond_the_concurrency_cap_get_503_overloaded() {
    let (entered_tx, entered_rx) = std::sync::mpsc::sync_channel(4);
    let (release_tx, release_rx) = std::sync::mpsc::channel();
    let limits = ApiLimits {
        max_concurrent_requests: 1,
        ..ApiLimits::default()
    };
    let (st, t) = state(
        limits,
        Svc {
            entered: Some(entered_tx),
            release: Some(parking_lot::Mutex::new(release_rx)),
        },
    );
    let app = router(st);
    let first = tokio::spawn(app.clone().oneshot(req(
        "/api/v1/search?q=x",
        "192.0.2.1",
        Some(TOKEN),
    )));
    // wait (bounded) until the first search holds the only slot
    tokio::task::spawn_blocking(move || entered_rx.recv_timeout(Duration::from_secs(60)))
        .await
        .unwrap()
        .unwrap();
    let r = app
        .clone()
        .oneshot(req("/api/v1/status", "192.0.2.1", Some(TOKEN)))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(r.headers().contains_key(header::RETRY_AFTER));
    assert!(body_text(r).await.contains("\"overloaded\""));
    assert_eq!(errors(&t, "overloaded"), 1);
    // /health is outside the cap
    let r = app
        .clone()
        .oneshot(req("/health", "192.0.2.1", None))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    release_tx.send(()).unwrap();
    assert_eq!(first.await.unwrap().unwrap().status(), StatusCode::OK);
    // the slot is free again
    let r = app
        .oneshot(req("/api/v1/status", "192.0.2.1", Some(TOKEN)))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

/// Issue 11 (no metrics for refused or cancelled searches): a search refused for want of a
/// slot and one whose client went away are counted by how they ended.
#[tokio::test]
async fn refused_and_abandoned_searches_are_counted() {
    let (entered_tx, entered_rx) = std::sync::mpsc::sync_channel(4);
    let (release_tx, release_rx) = std::sync::mpsc::channel();
    let (mut st, t) = state(
        ApiLimits::default(),
        Svc {
            entered: Some(entered_tx),
            release: Some(parking_lot::Mutex::new(release_rx)),
        },
    );
    st.searches = SearchGate::new(SearchLimits {
        max_concurrent: 1,
        max_queued: 0,
        ..SearchLimits::default()
    });
    let gate = st.searches.clone();
    let app = router(st);
    let first = tokio::spawn(app.clone().oneshot(req(
        "/api/v1/search?q=x",
        "192.0.2.1",
        Some(TOKEN),
    )));
    // wait (bounded) until the first search holds the only slot
    let entered_rx = tokio::task::spawn_blocking(move || {
        entered_rx.recv_timeout(Duration::from_secs(60)).unwrap();
        entered_rx
    })
    .await
    .unwrap();
    let r = app
        .clone()
        .oneshot(req("/api/v1/search?q=y", "192.0.2.1", Some(TOKEN)))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(errors(&t, "search_refused"), 1);
    assert_eq!(errors(&t, "search_cancelled"), 0);
    // the client of the running search goes away: its handler is dropped
    first.abort();
    assert!(first.await.unwrap_err().is_cancelled());
    assert_eq!(errors(&t, "search_cancelled"), 1);
    // the search itself stops (the service returns) and frees the slot
    release_tx.send(()).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while gate.running() > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the slot was not freed"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let (r, _) = tokio::join!(
        app.oneshot(req("/api/v1/search?q=z", "192.0.2.1", Some(TOKEN))),
        tokio::task::spawn_blocking(move || {
            entered_rx.recv_timeout(Duration::from_secs(60)).unwrap();
            release_tx.send(()).unwrap();
        })
    );
    assert_eq!(r.unwrap().status(), StatusCode::OK);
    assert_eq!(errors(&t, "search_refused"), 1);
    assert_eq!(errors(&t, "search_cancelled"), 1);
    assert_eq!(
        errors(&t, "search_timeout") + errors(&t, "search_over_budget"),
        0
    );
}

/// A body that sends nothing, ever.
struct Stalled;

impl HttpBody for Stalled {
    type Data = Bytes;
    type Error = Infallible;
    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Infallible>>> {
        Poll::Pending
    }
}

#[tokio::test(start_paused = true)]
async fn a_body_that_does_not_arrive_in_time_gets_408() {
    let (st, t) = state(ApiLimits::default(), plain());
    let app = router(st);
    let mut r = Request::post("/api/v1/search")
        .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::new(Stalled))
        .unwrap();
    r.extensions_mut()
        .insert(ConnectInfo(SocketAddr::from(([192, 0, 2, 1], 1))));
    let resp = app.clone().oneshot(r).await.unwrap();
    assert_eq!(resp.status(), StatusCode::REQUEST_TIMEOUT);
    assert_eq!(resp.headers()[header::CONNECTION], "close");
    assert!(body_text(resp).await.contains("\"body_timeout\""));
    assert_eq!(errors(&t, "body_timeout"), 1);
    // a body that arrives is passed on
    let mut r = Request::post("/api/v1/search")
        .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(r#"{"q":"x"}"#))
        .unwrap();
    r.extensions_mut()
        .insert(ConnectInfo(SocketAddr::from(([192, 0, 2, 1], 1))));
    let resp = app.oneshot(r).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "{}", body_text(resp).await);
}

#[tokio::test]
async fn a_too_large_body_gets_413() {
    let (mut st, _t) = state(ApiLimits::default(), plain());
    st.max_body_size = 1024;
    let app = router(st);
    let mut r = Request::post("/api/v1/search")
        .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(vec![b' '; 1600]))
        .unwrap();
    r.extensions_mut()
        .insert(ConnectInfo(SocketAddr::from(([192, 0, 2, 1], 1))));
    let resp = app.oneshot(r).await.unwrap();
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(body_text(resp).await.contains("\"body_too_large\""));
}

// ---- the listener, on real sockets on 127.0.0.1 ----

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// Starts `serve` on a free port; returns its address and the shutdown trigger.
async fn start_listener(
    limits: ApiLimits,
    tls: Option<Arc<rustls::ServerConfig>>,
) -> (SocketAddr, Telemetry, vigil_pipeline::Shutdown) {
    let (st, t) = state(limits.clone(), plain());
    let app = router(st);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = vigil_pipeline::Shutdown::new();
    tokio::spawn(crate::serve(
        listener,
        app,
        tls,
        limits,
        crate::api_metrics(&t),
        shutdown.signal(),
    ));
    (addr, t, shutdown)
}

/// Sends `req` on `io` and reads the whole response (bounded by 60 s); returns the status.
async fn exchange<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    mut io: S,
    req: &str,
) -> u16 {
    io.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(60), io.read_to_end(&mut buf))
        .await
        .expect("no response within 60 s")
        .unwrap_or_default();
    let text = String::from_utf8_lossy(&buf);
    text.split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

fn get_req(path: &str, token: Option<&str>) -> String {
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    format!("GET {path} HTTP/1.1\r\nHost: x\r\n{auth}Connection: close\r\n\r\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_sent_requests_make_room_for_a_health_check() {
    let limits = ApiLimits {
        max_connections: 3,
        ..ApiLimits::default()
    };
    let (addr, t, shutdown) = start_listener(limits, None).await;
    let mut stalled = Vec::new();
    for _ in 0..10 {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        let _ = s.write_all(b"GET /hea").await;
        stalled.push(s);
    }
    let s = tokio::net::TcpStream::connect(addr).await.unwrap();
    assert_eq!(exchange(s, &get_req("/health", None)).await, 200);
    let snap = t.component("api", "http").snapshot();
    assert!(
        snap.errors.get("connection_evicted").copied().unwrap_or(0) >= 7,
        "{snap:?}"
    );
    assert!(snap.gauges["connections"] <= 3, "{snap:?}");
    shutdown.trigger();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tls_path_gives_the_peer_address_to_the_auth_throttle() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("c.pem"), dir.path().join("k.pem"));
    std::fs::write(&cert, ck.cert.pem()).unwrap();
    std::fs::write(&key, ck.signing_key.serialize_pem()).unwrap();
    let tls = Arc::new(crate::tls_config(&cert, &key, None).unwrap());
    let limits = ApiLimits {
        auth: AuthPolicy {
            max_failures: 2,
            ..AuthPolicy::default()
        },
        ..ApiLimits::default()
    };
    let (addr, t, shutdown) = start_listener(limits, Some(tls)).await;
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ck.cert.der().clone()).unwrap();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(
        rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    ));
    let mut got = Vec::new();
    for _ in 0..3 {
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let io = connector.connect(name, tcp).await.unwrap();
        got.push(exchange(io, &get_req("/api/v1/status", Some("wrong"))).await);
    }
    assert_eq!(got, [401, 401, 429], "throttled by peer address over TLS");
    assert_eq!(errors(&t, "auth_throttled"), 1);
    shutdown.trigger();
}
