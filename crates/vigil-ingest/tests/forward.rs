//! The forwarding destinations, each behind the disk buffer, against a real peer: Vigil's own
//! syslog connector (TCP and TLS), Vigil's own HTTP connector (NDJSON and `_bulk`), and a
//! `nats-server -js` started here. The peer goes away under load for ~10 s and comes back:
//! every event arrives, once, counted by event id.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream;
use support::*;
use vigil_config::{
    BufferConfig, ClientTlsConfig, HttpBodyFormat, HttpForwardConfig, NatsAuth, NatsForwardConfig,
    Secret, SyslogForwardConfig, SyslogTlsConfig,
};
use vigil_event::Event;
use vigil_ingest::forward::{HttpForward, NatsForward, SyslogForward};
use vigil_ingest::http::{HttpConnector, HttpSettings};
use vigil_ingest::syslog::{SyslogConnector, SyslogSettings};
use vigil_pipeline::{
    ComponentError, ComponentMetrics, Connector, ConnectorContext, Destination, DiskBuffer,
    Shutdown, SourceInfo,
};

const TOKEN: &str = "forward-test-token-1234";
const BUFFER: BufferConfig = BufferConfig { max_size: 64 << 20 };

/// Event `n`'s record: `ev-000042`, recognizable in whatever the peer receives.
fn events(from: usize, n: usize) -> Vec<Event> {
    (from..from + n)
        .map(|i| {
            Event::new(bytes::Bytes::from(format!(
                "ev-{i:06} user=alice action=login"
            )))
        })
        .collect()
}

/// The `ev-NNNNNN` ids in a received record.
fn ids_in(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(i) = rest.find("ev-") {
        let id = rest.get(i..i + 9).unwrap_or("");
        if id.len() == 9 && id[3..].bytes().all(|b| b.is_ascii_digit()) {
            out.push(id.to_owned());
        }
        rest = &rest[i + 3..];
    }
    out
}

/// A connector of ours running as the peer, its records collected.
struct Peer {
    shutdown: Shutdown,
    task: tokio::task::JoinHandle<Result<(), ComponentError>>,
}

fn run_peer(connector: Box<dyn Connector>, got: Arc<Mutex<Vec<String>>>) -> Peer {
    let (tx, rx) = flume::bounded::<vigil_pipeline::RawBatch>(64);
    let shutdown = Shutdown::new();
    let ctx = ConnectorContext {
        out: tx,
        shutdown: shutdown.signal(),
        metrics: ComponentMetrics::detached("connector", "peer"),
        source: Arc::new(SourceInfo {
            id: "peer".into(),
            tenant: "main".into(),
            collector: "c".into(),
        }),
        shutdown_all: shutdown.clone(),
    };
    tokio::spawn(async move {
        while let Ok(b) = rx.recv_async().await {
            got.lock().unwrap().extend(
                b.records
                    .iter()
                    .map(|r| String::from_utf8_lossy(&r.data).into_owned()),
            );
        }
    });
    let task = tokio::spawn(connector.run(ctx));
    Peer { shutdown, task }
}

impl Peer {
    async fn stop(self) {
        self.shutdown.trigger();
        self.task.await.unwrap().unwrap();
    }
}

fn counts(got: &[String]) -> HashMap<String, usize> {
    let mut m = HashMap::new();
    for g in got {
        for id in ids_in(g) {
            *m.entry(id).or_insert(0) += 1;
        }
    }
    m
}

/// Writes `total` events in batches of 50 through `dest` from a thread of its own (the
/// pipeline's destination thread), retrying a batch the buffer refuses as the pipeline does.
fn load(mut dest: DiskBuffer, total: usize) -> std::thread::JoinHandle<DiskBuffer> {
    std::thread::spawn(move || {
        for i in (0..total).step_by(50) {
            let batch = events(i, 50);
            while dest.write(&batch).is_err() {
                std::thread::sleep(Duration::from_millis(50));
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        dest
    })
}

/// Runs `total` events through `dest` while the peer (re)started by `start` is stopped for
/// ten seconds in the middle; checks that each arrived exactly once.
async fn outage<F, Fut>(dest: DiskBuffer, total: usize, got: Arc<Mutex<Vec<String>>>, start: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Peer>,
{
    let peer = start().await;
    let sender = load(dest, total);
    assert!(
        wait_for(Duration::from_secs(30), || counts(&got.lock().unwrap())
            .len()
            >= total / 5)
        .await
    );
    peer.stop().await;
    let at_stop = counts(&got.lock().unwrap()).len();
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert!(
        counts(&got.lock().unwrap()).len() == at_stop,
        "events arrived while the peer was down"
    );
    let peer = start().await;
    let arrived = wait_for(Duration::from_secs(60), || {
        counts(&got.lock().unwrap()).len() == total
    })
    .await;
    let mut dest = tokio::task::spawn_blocking(move || sender.join().unwrap())
        .await
        .unwrap();
    tokio::task::spawn_blocking(move || dest.flush().unwrap())
        .await
        .unwrap();
    peer.stop().await;
    let c = counts(&got.lock().unwrap());
    assert!(
        arrived,
        "{} of {total} arrived ({at_stop} before the outage)",
        c.len()
    );
    let twice: Vec<_> = c.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "arrived more than once: {twice:?}");
    assert!(at_stop < total, "the outage came after everything was sent");
}

fn http_config(addr: SocketAddr, path: &str, format: HttpBodyFormat) -> HttpForwardConfig {
    HttpForwardConfig {
        url: format!("http://{addr}{path}"),
        format,
        index: "vigil".into(),
        token: Some(Secret::literal(TOKEN)),
        ca: None,
        timeout: Duration::from_secs(10),
        buffer: BUFFER,
    }
}

async fn http_outage(format: HttpBodyFormat, path: &str) {
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let got = Arc::new(Mutex::new(Vec::new()));
    let dir = tempfile::tempdir().unwrap();
    let m = ComponentMetrics::detached("destination", "http-0");
    let inner = HttpForward::new(http_config(addr, path, format), m.clone()).unwrap();
    let dest = DiskBuffer::open(dir.path(), BUFFER.max_size, Box::new(inner), m.clone()).unwrap();
    let g = got.clone();
    outage(dest, 6000, got, move || {
        let g = g.clone();
        async move {
            let mut c = HttpConnector::new(HttpSettings {
                listen: addr,
                tokens: vec![Secret::literal(TOKEN)],
                ..HttpSettings::default()
            })
            .unwrap();
            c.bind().unwrap();
            run_peer(Box::new(c), g)
        }
    })
    .await;
    let snap = m.snapshot();
    assert!(snap.errors.get("forward").copied().unwrap_or(0) > 0);
    assert_eq!(
        m.gauge("buffer_bytes")
            .load(std::sync::atomic::Ordering::SeqCst),
        0,
        "{snap:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_ndjson_survives_a_receiver_outage() {
    http_outage(HttpBodyFormat::Ndjson, "/ingest").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_bulk_survives_a_receiver_outage() {
    http_outage(HttpBodyFormat::Bulk, "/_bulk").await;
}

struct TestCert {
    _dir: tempfile::TempDir,
    cert: PathBuf,
    key: PathBuf,
}

fn self_signed() -> TestCert {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    std::fs::write(&cert, ck.cert.pem()).unwrap();
    std::fs::write(&key, ck.signing_key.serialize_pem()).unwrap();
    TestCert {
        cert,
        key,
        _dir: dir,
    }
}

/// RFC 5424 with octet counting over TCP and TLS into Vigil's syslog connector: each
/// message whole (the receiver's framer counts the octets), carrying the event id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn syslog_over_tcp_and_tls_arrives_whole_and_once() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cert = self_signed();
    for tls in [false, true] {
        let port = free_port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let settings = if tls {
            SyslogSettings {
                tls: Some(SyslogTlsConfig {
                    listen: addr,
                    cert_path: cert.cert.clone(),
                    key_path: cert.key.clone(),
                    client_ca_path: None,
                }),
                ..SyslogSettings::default()
            }
        } else {
            SyslogSettings {
                tcp: Some(addr),
                ..SyslogSettings::default()
            }
        };
        let mut c = SyslogConnector::new(settings).unwrap();
        c.bind().unwrap();
        let got = Arc::new(Mutex::new(Vec::new()));
        let peer = run_peer(Box::new(c), got.clone());
        let dir = tempfile::tempdir().unwrap();
        let m = ComponentMetrics::detached("destination", "syslog-0");
        let inner = SyslogForward::new(
            SyslogForwardConfig {
                address: format!("localhost:{port}"),
                host: "localhost".into(),
                tls: tls.then(|| ClientTlsConfig {
                    ca: Some(cert.cert.clone()),
                    server_name: None,
                }),
                buffer: BUFFER,
            },
            m.clone(),
        )
        .unwrap();
        let dest =
            DiskBuffer::open(dir.path(), BUFFER.max_size, Box::new(inner), m.clone()).unwrap();
        // one multi-line event: octet counting keeps it one message
        let mut multi = Event::new(bytes::Bytes::from_static(b"ev-999999 line one\nline two"));
        multi.meta.tenant = "main".into();
        let sender = load(dest, 2000);
        assert!(
            wait_for(Duration::from_secs(60), || counts(&got.lock().unwrap())
                .len()
                == 2000)
            .await,
            "tls={tls}: {} of 2000",
            counts(&got.lock().unwrap()).len()
        );
        let mut dest = tokio::task::spawn_blocking(move || sender.join().unwrap())
            .await
            .unwrap();
        let mut dest = tokio::task::spawn_blocking(move || {
            dest.write(std::slice::from_ref(&multi)).unwrap();
            dest.flush().unwrap();
            dest
        })
        .await
        .unwrap();
        assert!(
            wait_for(Duration::from_secs(20), || counts(&got.lock().unwrap())
                .len()
                == 2001)
            .await
        );
        peer.stop().await;
        let _ = dest.flush();
        let got = got.lock().unwrap().clone();
        assert_eq!(got.len(), 2001, "tls={tls}");
        assert!(counts(&got).values().all(|n| *n == 1));
        let first = got.iter().find(|g| g.contains("ev-000000")).unwrap();
        assert!(first.starts_with("<13>1 "), "{first}");
        assert!(first.contains("[vigil@32473 id=\""), "{first}");
        assert!(
            got.iter()
                .any(|g| g.ends_with("ev-999999 line one\nline two"))
        );
        assert_eq!(m.snapshot().error_total(), 0, "tls={tls}");
    }
}

/// NATS: `Nats-Msg-Id` is the event id (a resent batch is dropped by the stream's duplicate
/// window), and a server killed for ten seconds under load loses nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_publishes_with_msg_id_and_survives_a_server_outage() {
    let store = tempfile::tempdir().unwrap();
    let Some(server) = NatsServer::start(store.path()) else {
        return;
    };
    let server = Arc::new(Mutex::new(server));
    let url = server.lock().unwrap().url();
    let client = async_nats::connect(&url).await.unwrap();
    let js = jetstream::new(client);
    js.create_stream(jetstream::stream::Config {
        name: "OUT".into(),
        subjects: vec!["out.>".into()],
        storage: jetstream::stream::StorageType::File,
        duplicate_window: Duration::from_secs(600),
        ..Default::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let m = ComponentMetrics::detached("destination", "nats-0");
    let cfg = NatsForwardConfig {
        url: url.clone(),
        auth: NatsAuth::None,
        ca: None,
        subject: "out.events".into(),
        buffer: BUFFER,
    };
    // the same batch twice (a retry after a lost acknowledgement): stored once
    let mut once = NatsForward::new(cfg.clone(), m.clone()).unwrap();
    let batch = events(100_000, 10);
    let mut once = tokio::task::spawn_blocking(move || {
        once.write(&batch).unwrap();
        once.write(&batch).unwrap();
        once.flush().unwrap();
        once
    })
    .await
    .unwrap();
    let mut stream = js.get_stream("OUT").await.unwrap();
    assert_eq!(stream.info().await.unwrap().state.messages, 10);
    let first = stream.get_raw_message(1).await.unwrap();
    let id = first
        .headers
        .get("Nats-Msg-Id")
        .unwrap()
        .as_str()
        .to_owned();
    assert_eq!(id.len(), 26, "a ULID: {id}");
    tokio::task::spawn_blocking(move || drop(once.flush()))
        .await
        .unwrap();

    // an outage under load, counted by the stream's messages and their ids
    let inner = NatsForward::new(cfg, m.clone()).unwrap();
    let dest = DiskBuffer::open(dir.path(), BUFFER.max_size, Box::new(inner), m.clone()).unwrap();
    let sender = load(dest, 4000);
    let stored = |js: jetstream::Context| async move {
        match js.get_stream("OUT").await {
            Ok(mut s) => s.info().await.map(|i| i.state.messages).unwrap_or(0),
            Err(_) => 0,
        }
    };
    let until = std::time::Instant::now() + Duration::from_secs(30);
    while stored(js.clone()).await < 1000 && std::time::Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server.lock().unwrap().kill();
    tokio::time::sleep(Duration::from_secs(10)).await;
    server.lock().unwrap().restart();
    let until = std::time::Instant::now() + Duration::from_secs(60);
    while stored(js.clone()).await < 4010 && std::time::Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut dest = tokio::task::spawn_blocking(move || sender.join().unwrap())
        .await
        .unwrap();
    tokio::task::spawn_blocking(move || dest.flush().unwrap())
        .await
        .unwrap();
    // every event once: read the stream back and count the ids in the payloads
    let mut s = js.get_stream("OUT").await.unwrap();
    let n = s.info().await.unwrap().state.messages;
    let mut ids: HashMap<String, usize> = HashMap::new();
    for seq in 1..=n + 100 {
        if let Ok(msg) = s.get_raw_message(seq).await {
            for id in ids_in(&String::from_utf8_lossy(&msg.payload)) {
                *ids.entry(id).or_insert(0) += 1;
            }
        }
    }
    assert_eq!(ids.len(), 4010, "{n} messages in the stream");
    assert!(ids.values().all(|c| *c == 1), "a message stored twice");
    assert_eq!(n, 4010);
}
