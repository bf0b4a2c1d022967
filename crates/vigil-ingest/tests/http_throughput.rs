//! Throughput of the HTTP connector: NDJSON on `/ingest` and Elasticsearch `_bulk`, in events
//! per CPU-second of the connector's runtime thread.
//!
//! Ignored by default (it wants an optimized build):
//! ```text
//! cargo test --release -p vigil-ingest --test http_throughput -- --ignored --nocapture --test-threads 1
//! ```
//! The connector runs on a one-thread runtime (`ingest-rt`); one client thread posts 400
//! requests of 1,000 events each (about 125 bytes an event) over one keep-alive connection,
//! after a warm-up; a sink thread drains the pipeline queue. The CPU figure is the connector
//! thread's user + system time from `/proc/self/task/*/stat` (10 ms resolution), so the
//! client, the sink and the machine's other work do not count.

// reads of /proc are trusted, local and bounded
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::disallowed_methods
)]

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

mod support;

use support::cpu::threads_cpu;
use vigil_config::Secret;
use vigil_ingest::http::{HttpConnector, HttpSettings};
use vigil_pipeline::{ComponentMetrics, Connector, ConnectorContext, Shutdown, SourceInfo};

const TOKEN: &str = "bench-token-0123456789";
const REQUESTS: usize = 400;
const PER_REQUEST: usize = 1000;

/// Posts `body` to `path` on the keep-alive connection `s` and reads the answer whole.
fn post(s: &mut std::net::TcpStream, path: &str, body: &[u8]) {
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nContent-Type: application/x-ndjson\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    // the answer: headers, then Content-Length bytes
    let mut buf = Vec::with_capacity(64 << 10);
    let mut chunk = [0u8; 16384];
    loop {
        let n = s.read(&mut chunk).unwrap();
        assert!(n > 0, "connection closed");
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            assert!(head.starts_with("http/1.1 200"), "{head}");
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map(|v| v.trim().parse().unwrap())
                .unwrap();
            while buf.len() < end + 4 + len {
                let n = s.read(&mut chunk).unwrap();
                assert!(n > 0);
                buf.extend_from_slice(&chunk[..n]);
            }
            return;
        }
    }
}

fn run(name: &str, path: &str, body: Vec<u8>) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("ingest-rt")
        .enable_all()
        .build()
        .unwrap();
    let mut connector = HttpConnector::new(HttpSettings {
        listen: "127.0.0.1:0".parse().unwrap(),
        tokens: vec![Secret::literal(TOKEN)],
        ..HttpSettings::default()
    })
    .unwrap();
    let addr: SocketAddr = connector.bind().unwrap();
    let (tx, rx) = flume::bounded(256);
    let shutdown = Shutdown::new();
    let metrics = ComponentMetrics::detached("connector", "bench");
    let ctx = ConnectorContext {
        out: tx,
        shutdown: shutdown.signal(),
        metrics: metrics.clone(),
        source: Arc::new(SourceInfo {
            id: "bench".into(),
            tenant: "t".into(),
            collector: "c".into(),
        }),
        shutdown_all: shutdown.clone(),
    };
    let task = rt.spawn(Box::new(connector).run(ctx));
    let total = (REQUESTS + 20) * PER_REQUEST;
    let sink = std::thread::spawn(move || {
        let mut records = 0usize;
        while records < total {
            let Ok(b) = rx.recv_timeout(Duration::from_secs(60)) else {
                break;
            };
            records += b.records.len();
        }
        records
    });
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_nodelay(true).unwrap();
    for _ in 0..20 {
        post(&mut s, path, &body);
    }
    let cpu0 = threads_cpu("ingest-rt");
    let t0 = Instant::now();
    for _ in 0..REQUESTS {
        post(&mut s, path, &body);
    }
    let wall = t0.elapsed().as_secs_f64();
    let cpu = threads_cpu("ingest-rt") - cpu0;
    let records = sink.join().unwrap();
    drop(s);
    shutdown.trigger();
    rt.block_on(task).unwrap().unwrap();
    let events = REQUESTS * PER_REQUEST;
    println!(
        "RESULT http {name}: {events} events ({:.1} MiB of bodies) in {wall:.2} s wall = {:.0} events/s; \
         connector thread {cpu:.2} CPU-s = {:.0} events per CPU-second",
        (body.len() * REQUESTS) as f64 / 1048576.0,
        events as f64 / wall,
        events as f64 / cpu
    );
    assert_eq!(records, total, "every event arrives");
}

fn event(i: usize) -> String {
    format!(
        "{{\"@timestamp\":\"2026-12-07T10:00:{:02}Z\",\"host\":\"web{:02}\",\"message\":\"GET /api/v1/items/{i} 200 1532 bytes in 12 ms from 192.0.2.{}\"}}",
        i % 60,
        i % 17,
        i % 250
    )
}

#[test]
#[ignore = "benchmark: run with --release -- --ignored --nocapture"]
fn http_ndjson_and_bulk_events_per_cpu_second() {
    let mut ndjson = String::new();
    for i in 0..PER_REQUEST {
        ndjson.push_str(&event(i));
        ndjson.push('\n');
    }
    run("ndjson /ingest", "/ingest", ndjson.into_bytes());
    let mut bulk = String::new();
    for i in 0..PER_REQUEST {
        bulk.push_str("{\"index\":{\"_index\":\"logs\"}}\n");
        bulk.push_str(&event(i));
        bulk.push('\n');
    }
    run("_bulk", "/_bulk", bulk.into_bytes());
}
