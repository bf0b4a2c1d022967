//! NetFlow records per CPU-second of the connector (UDP receive, decode, one JSON record per
//! flow, batches to the pipeline queue), with real exporter packets from the shared corpus.
//!
//! Ignored by default (it wants an optimized build):
//! ```text
//! cargo test --release -p vigil-ingest --test netflow_throughput -- --ignored --nocapture
//! ```
//! The connector runs on its own single-threaded runtime in a thread named `nf-conn`; its CPU
//! time (user + system, from `/proc/self/task/*/stat`) is what the figure divides by, so the
//! sender and the sink, and other work on the machine, do not count. The sender paces itself
//! so the kernel drops little; the figure counts only records that arrived.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::disallowed_methods
)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use vigil_config::NetflowConfig;
use vigil_ingest::netflow::NetflowConnector;
use vigil_pipeline::{ComponentMetrics, Connector, ConnectorContext, Shutdown, SourceInfo};

/// CPU seconds (user + system) of the threads named `name`.
fn thread_cpu(name: &str) -> f64 {
    let mut total = 0.0;
    for e in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        if &stat[open + 1..close] != name {
            continue;
        }
        let f: Vec<&str> = stat[close + 2..].split_whitespace().collect();
        let ut: u64 = f[11].parse().unwrap();
        let st: u64 = f[12].parse().unwrap();
        total += (ut + st) as f64 / 100.0;
    }
    total
}

fn dat(name: &str) -> Vec<u8> {
    let dir = vigil_testkit::corpus("netflow-logstash-codec").expect("the shared corpus");
    vigil_testkit::read_capped(&dir.join("dat").join(name), 1 << 20)
}

fn run(label: &str, template: Option<&[u8]>, packet: &[u8], packets: u64) {
    let per_packet = {
        let mut d = vigil_parse::netflow::NetflowDecoder::default();
        let ip = std::net::IpAddr::from([127, 0, 0, 1]);
        if let Some(t) = template {
            d.decode(ip, t).unwrap();
        }
        d.decode(ip, packet).unwrap().records.len() as u64
    };
    let mut connector = NetflowConnector::new(NetflowConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        udp_recv_buffer: 32 << 20,
        max_exporters: 1024,
        max_templates_per_exporter: 256,
    });
    let addr = connector.listen().unwrap()[0].addr;
    let (tx, rx) = flume::bounded(1024);
    let shutdown = Shutdown::new();
    let metrics = ComponentMetrics::detached("connector", "nf-bench");
    let ctx = ConnectorContext {
        out: tx,
        shutdown: shutdown.signal(),
        metrics: metrics.clone(),
        source: Arc::new(SourceInfo {
            id: "nf-bench".into(),
            tenant: "main".into(),
            collector: "c".into(),
        }),
        shutdown_all: shutdown.clone(),
    };
    let conn = std::thread::Builder::new()
        .name("nf-conn".into())
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(Box::new(connector).run(ctx)).unwrap();
        })
        .unwrap();
    let sink = std::thread::spawn(move || {
        let mut n = 0u64;
        while let Ok(b) = rx.recv() {
            n += b.records.len() as u64;
        }
        n
    });
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    if let Some(t) = template {
        sock.send_to(t, addr).unwrap();
        std::thread::sleep(Duration::from_millis(50));
    }
    let cpu0 = thread_cpu("nf-conn");
    let start = Instant::now();
    for i in 0..packets {
        sock.send_to(packet, addr).unwrap();
        if i % 64 == 63 {
            std::thread::sleep(Duration::from_micros(200));
        }
    }
    // until the connector has read everything the kernel kept
    let mut last = u64::MAX;
    loop {
        std::thread::sleep(Duration::from_millis(500));
        let now = metrics.snapshot().events_in;
        if now == last {
            break;
        }
        last = now;
    }
    let cpu = thread_cpu("nf-conn") - cpu0;
    let wall = start.elapsed().as_secs_f64();
    shutdown.trigger();
    conn.join().unwrap();
    let got = sink.join().unwrap();
    let snap = metrics.snapshot();
    println!(
        "{label}: sent {} records ({packets} packets x {per_packet}), received {got} \
         (kernel drops {:?}), connector CPU {cpu:.2} s in {wall:.1} s wall: \
         {:.0} records per CPU-second",
        packets * per_packet,
        snap.drops.get("kernel_udp_overflow"),
        got as f64 / cpu
    );
}

#[test]
#[ignore = "benchmark: run with --release --ignored --nocapture"]
fn netflow_records_per_cpu_second() {
    run(
        "v5 Juniper MX80",
        None,
        &dat("netflow5_test_juniper_mx80.dat"),
        40_000,
    );
    run(
        "IPFIX Mikrotik",
        Some(&dat("ipfix_test_mikrotik_tpl.dat")),
        &dat("ipfix_test_mikrotik_data258.dat"),
        40_000,
    );
}
