//! The HTTP connector on a real socket: authentication, records and their marks, the body
//! caps, and 429 with `Retry-After` when the pipeline is full.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use vigil_config::Secret;
use vigil_ingest::http::{HttpConnector, HttpSettings};
use vigil_pipeline::{
    ComponentError, ComponentMetrics, Connector, ConnectorContext, RawBatch, Shutdown, SourceInfo,
};

const TOKEN: &str = "unit-test-token-42";

struct Running {
    addr: SocketAddr,
    rx: flume::Receiver<RawBatch>,
    metrics: ComponentMetrics,
    shutdown: Shutdown,
    task: tokio::task::JoinHandle<Result<(), ComponentError>>,
}

fn start(settings: HttpSettings, queue: usize) -> Running {
    let mut connector = HttpConnector::new(settings).unwrap();
    let addr = connector.bind().unwrap();
    let (tx, rx) = flume::bounded(queue);
    let shutdown = Shutdown::new();
    let metrics = ComponentMetrics::detached("connector", "http-test");
    let ctx = ConnectorContext {
        out: tx,
        shutdown: shutdown.signal(),
        metrics: metrics.clone(),
        source: Arc::new(SourceInfo {
            id: "http-test".into(),
            tenant: "acme".into(),
            collector: "c".into(),
        }),
        shutdown_all: shutdown.clone(),
    };
    let task = tokio::spawn(Box::new(connector).run(ctx));
    Running {
        addr,
        rx,
        metrics,
        shutdown,
        task,
    }
}

fn settings() -> HttpSettings {
    HttpSettings {
        listen: "127.0.0.1:0".parse().unwrap(),
        tokens: vec![Secret::literal(TOKEN)],
        ..HttpSettings::default()
    }
}

/// One HTTP/1.1 request on its own connection; the status, the headers and the body.
async fn request(addr: SocketAddr, head: &str, body: &[u8]) -> (u16, String, String) {
    request_on(TcpStream::connect(addr).await.unwrap(), head, body).await
}

/// [`request`] on a connected stream (plain or TLS).
async fn request_on<S>(mut s: S, head: &str, body: &[u8]) -> (u16, String, String)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let req = format!(
        "{head}\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .replace("\r\n\r\n\r\n", "\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    s.write_all(body).await.unwrap();
    let mut out = Vec::new();
    let mut limited = (&mut s).take(1 << 20);
    #[allow(clippy::disallowed_methods)] // bounded by `take`
    let read = limited.read_to_end(&mut out);
    tokio::time::timeout(Duration::from_secs(60), read)
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    let (headers, body) = text.split_once("\r\n\r\n").unwrap();
    let status = headers[9..12].parse().unwrap();
    (status, headers.to_owned(), body.to_owned())
}

fn errors(r: &Running, reason: &str) -> u64 {
    r.metrics
        .snapshot()
        .errors
        .get(reason)
        .copied()
        .unwrap_or(0)
}

#[tokio::test]
async fn records_arrive_marked_and_credentials_are_required() {
    let r = start(settings(), 16);
    let auth = format!("Authorization: Bearer {TOKEN}");
    let (status, headers, _) = request(r.addr, "POST /ingest HTTP/1.1", b"{\"a\":1}\n").await;
    assert_eq!(status, 401);
    assert!(headers.to_ascii_lowercase().contains("www-authenticate"));
    let (status, _, _) = request(
        r.addr,
        "POST /ingest HTTP/1.1\r\nAuthorization: Bearer not-the-token",
        b"{}",
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(errors(&r, "unauthorized"), 2);
    assert!(
        r.rx.is_empty(),
        "nothing is taken from an unauthorized request"
    );

    let (status, _, body) = request(
        r.addr,
        &format!("POST /ingest HTTP/1.1\r\n{auth}"),
        b"{\"a\":1}\nnot json\n",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let batch = r.rx.recv_async().await.unwrap();
    assert_eq!(&*batch.source.tenant, "acme");
    assert_eq!(batch.records.len(), 2);
    assert_eq!(&batch.records[0].data[..], b"{\"a\":1}");
    assert!(batch.records[0].transport_error.is_none());
    assert_eq!(&batch.records[1].data[..], b"not json");
    assert!(batch.records[1].transport_error.is_some());
    assert!(batch.records[1].peer.is_some());
    assert_eq!(errors(&r, "malformed_json"), 1);

    // HEC with Splunk's scheme, an unknown path
    let (status, _, body) = request(
        r.addr,
        &format!("POST /services/collector/event HTTP/1.1\r\nAuthorization: Splunk {TOKEN}"),
        b"{\"event\":\"x\"}",
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).unwrap(),
        serde_json::json!({"text": "Success", "code": 0})
    );
    let (status, _, _) = request(r.addr, &format!("POST /nowhere HTTP/1.1\r\n{auth}"), b"").await;
    assert_eq!(status, 404);
    r.shutdown.trigger();
    r.task.await.unwrap().unwrap();
}

#[tokio::test]
async fn caps_answer_413_and_a_full_pipeline_429() {
    let mut s = settings();
    s.max_body_size = 64 * 1024;
    s.max_decompressed_size = 1024 * 1024;
    s.request_timeout = Duration::from_millis(300);
    let r = start(s, 1);
    let auth = format!("Authorization: Bearer {TOKEN}");
    let (status, _, _) = request(
        r.addr,
        &format!("POST /ingest HTTP/1.1\r\n{auth}"),
        &vec![b'x'; 100 * 1024],
    )
    .await;
    assert_eq!(status, 413);
    assert_eq!(errors(&r, "body_too_large"), 1);
    // 8 MiB of zeros compresses to a few hundred bytes
    let bomb = zstd::encode_all(&vec![0u8; 8 << 20][..], 19).unwrap();
    let (status, _, _) = request(
        r.addr,
        &format!("POST /_bulk HTTP/1.1\r\n{auth}\r\nContent-Encoding: zstd"),
        &bomb,
    )
    .await;
    assert_eq!(status, 413);
    assert_eq!(errors(&r, "decompressed_too_large"), 1);

    // the queue holds one batch; nobody reads it
    let post = format!("POST /ingest HTTP/1.1\r\n{auth}");
    assert_eq!(request(r.addr, &post, b"{\"n\":1}").await.0, 200);
    let (status, headers, _) = request(r.addr, &post, b"{\"n\":2}").await;
    assert_eq!(status, 429);
    assert!(
        headers.to_ascii_lowercase().contains("retry-after: 5"),
        "{headers}"
    );
    assert_eq!(errors(&r, "backpressure"), 1);
    // drained, the retry is taken
    assert_eq!(
        &r.rx.recv_async().await.unwrap().records[0].data[..],
        b"{\"n\":1}"
    );
    assert_eq!(request(r.addr, &post, b"{\"n\":2}").await.0, 200);
    assert_eq!(
        &r.rx.recv_async().await.unwrap().records[0].data[..],
        b"{\"n\":2}"
    );
    assert_eq!(r.metrics.snapshot().events_in, 2);
    r.shutdown.trigger();
    r.task.await.unwrap().unwrap();
}

#[tokio::test]
async fn https_with_the_syslog_connectors_tls_settings() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let ck =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_path, ck.cert.pem()).unwrap();
    std::fs::write(&key_path, ck.signing_key.serialize_pem()).unwrap();
    let mut s = settings();
    s.tls = Some(vigil_ingest::syslog::TlsSettings {
        listen: s.listen,
        cert_path,
        key_path,
        client_ca_path: None,
    });
    let r = start(s, 16);
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ck.cert.der().clone()).unwrap();
    let config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(
            rustls::pki_types::ServerName::try_from("localhost").unwrap(),
            TcpStream::connect(r.addr).await.unwrap(),
        )
        .await
        .unwrap();
    let (status, _, body) = request_on(
        tls,
        &format!("POST /services/collector/raw HTTP/1.1\r\nAuthorization: Splunk {TOKEN}"),
        b"over tls\n",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        &r.rx.recv_async().await.unwrap().records[0].data[..],
        b"over tls"
    );
    // plain HTTP on the TLS port is a failed handshake, counted
    let mut plain = TcpStream::connect(r.addr).await.unwrap();
    plain
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut sink = [0u8; 1024];
    while tokio::time::timeout(Duration::from_secs(60), plain.read(&mut sink))
        .await
        .unwrap()
        .is_ok_and(|n| n > 0)
    {}
    let metrics = r.metrics.clone();
    r.shutdown.trigger();
    r.task.await.unwrap().unwrap();
    assert_eq!(metrics.snapshot().errors.get("tls_handshake"), Some(&1));
}

/// HEC indexer acknowledgement: a channel is required, each request gets the channel's next
/// `ackId`, which `/services/collector/ack` reports `true` only once the pipeline answered the
/// request's batch durable (here the test plays the pipeline), and only once.
#[tokio::test]
async fn hec_ack_ids_turn_true_when_the_batch_is_durable() {
    let r = start(
        HttpSettings {
            hec_acknowledgements: true,
            ..settings()
        },
        16,
    );
    let auth = format!("Authorization: Splunk {TOKEN}");
    let channel = "FE0ECFAD-13D5-401B-847D-77833BD77131";
    let (status, _, body) = request(
        r.addr,
        &format!("POST /services/collector/event HTTP/1.1\r\n{auth}"),
        b"{\"event\":\"no channel\"}",
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("\"code\":10"), "{body}");
    assert!(r.rx.is_empty(), "refused whole");

    let ack_query = |ids: &str| {
        let (addr, auth) = (r.addr, auth.clone());
        let body = format!("{{\"acks\":[{ids}]}}");
        async move {
            let (status, _, body) = request(
                addr,
                &format!(
                    "POST /services/collector/ack HTTP/1.1\r\n{auth}\r\nX-Splunk-Request-Channel: {channel}"
                ),
                body.as_bytes(),
            )
            .await;
            assert_eq!(status, 200, "{body}");
            serde_json::from_str::<serde_json::Value>(&body).unwrap()["acks"].clone()
        }
    };

    // two requests: the header channel, then the query-string channel (raw endpoint)
    let (status, _, body) = request(
        r.addr,
        &format!(
            "POST /services/collector/event HTTP/1.1\r\n{auth}\r\nX-Splunk-Request-Channel: {channel}"
        ),
        b"{\"event\":\"first\"}{\"event\":\"second\"}",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        v,
        serde_json::json!({"text": "Success", "code": 0, "ackId": 0})
    );
    let (status, _, body) = request(
        r.addr,
        &format!("POST /services/collector/raw?channel={channel} HTTP/1.1\r\n{auth}"),
        b"raw line\n",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"ackId\":1"), "{body}");

    let first = r.rx.recv_async().await.unwrap();
    let second = r.rx.recv_async().await.unwrap();
    assert_eq!(first.records.len(), 2);
    assert_eq!(second.records.len(), 1);
    assert_eq!(
        ack_query("0,1,2").await,
        serde_json::json!({"0": false, "1": false, "2": false}),
        "nothing is durable before the pipeline says so"
    );
    first.ack.unwrap().answer(true);
    second.ack.unwrap().answer(false);
    // the answer reaches the ack table through a task: poll (bounded) for it
    let mut acks = serde_json::Value::Null;
    for _ in 0..500 {
        acks = ack_query("0").await;
        if acks["0"] == true {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(acks, serde_json::json!({"0": true}));
    assert_eq!(
        ack_query("0,1").await,
        serde_json::json!({"0": false, "1": false}),
        "reported once; a batch that is not durable never turns true"
    );

    // without the setting the ack endpoint says so
    let plain = start(settings(), 4);
    let (status, _, body) = request(
        plain.addr,
        &format!(
            "POST /services/collector/ack HTTP/1.1\r\n{auth}\r\nX-Splunk-Request-Channel: {channel}"
        ),
        b"{\"acks\":[0]}",
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("\"code\":14"), "{body}");
    for r in [r, plain] {
        r.shutdown.trigger();
        let _ = tokio::time::timeout(Duration::from_secs(30), r.task).await;
    }
}
