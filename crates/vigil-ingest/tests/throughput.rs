//! Throughput of the syslog connector over loopback TCP with the shared benchmark corpus.
//!
//! Ignored by default (it wants an optimized build and a quiet machine):
//! ```text
//! python3 ../shared/bench/gen_syslog.py --lines 200000 --seed 42 --format wire \
//!     --out /dev/shm/vigil-ingest-bench.log
//! cargo test --release -p vigil-ingest --test throughput -- --ignored --nocapture --test-threads 1
//! ```
//! `VIGIL_INGEST_BENCH_CORPUS` overrides the corpus path, `VIGIL_INGEST_BENCH_REPEAT` (default
//! 5) how often it is sent: 5 × 200,000 = the 1,000,000 lines over one connection that must
//! all arrive. Prints records/s and the CPU time of the connector's runtime threads, of the
//! sender and of the sink, from `/proc/self/task/*/stat`.
//!
//! The UDP run sends the corpus lines as datagrams as fast as one thread can and checks that
//! every datagram is either received or reported by the kernel-drop counter.

// reads of /proc and of the bench corpus are trusted, local and bounded by the test
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::disallowed_methods
)]

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

mod support;

use support::cpu::{own_cpu, threads_cpu};
use vigil_ingest::syslog::{SyslogConnector, SyslogSettings};
use vigil_pipeline::{ComponentMetrics, Connector, ConnectorContext, Shutdown, SourceInfo};

#[test]
#[ignore = "benchmark: run with --release -- --ignored --nocapture"]
fn tcp_throughput_with_the_bench_corpus() {
    let path = std::env::var("VIGIL_INGEST_BENCH_CORPUS")
        .unwrap_or_else(|_| "/dev/shm/vigil-ingest-bench.log".to_owned());
    let Ok(corpus) = std::fs::read(&path) else {
        eprintln!(
            "SKIPPED: corpus {path} missing; generate it with \
             python3 ../shared/bench/gen_syslog.py --lines 200000 --seed 42 --format wire --out {path}"
        );
        return;
    };
    let repeat: usize = std::env::var("VIGIL_INGEST_BENCH_REPEAT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let lines_per_copy = corpus.iter().filter(|&&b| b == b'\n').count();
    let total_lines = lines_per_copy * repeat;
    let total_bytes = corpus.len() * repeat;

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("ingest-rt")
        .enable_all()
        .build()
        .unwrap();
    let mut connector = SyslogConnector::new(SyslogSettings {
        tcp: Some("127.0.0.1:0".parse().unwrap()),
        ..SyslogSettings::default()
    })
    .unwrap();
    let addr = connector.bind().unwrap().tcp.unwrap();
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

    let sink = std::thread::Builder::new()
        .name("bench-sink".into())
        .spawn(move || {
            let (mut records, mut bytes, mut batches, mut flagged) =
                (0usize, 0usize, 0usize, 0usize);
            while records < total_lines {
                let Ok(b) = rx.recv_timeout(Duration::from_secs(60)) else {
                    break;
                };
                batches += 1;
                records += b.records.len();
                for r in &b.records {
                    bytes += r.data.len();
                    flagged += usize::from(r.transport_error.is_some());
                }
            }
            (records, bytes, batches, flagged, own_cpu())
        })
        .unwrap();

    let rt_cpu_before = threads_cpu("ingest-rt");
    let start = Instant::now();
    let sender = std::thread::Builder::new()
        .name("bench-sender".into())
        .spawn(move || {
            let mut s = std::net::TcpStream::connect(addr).unwrap();
            for _ in 0..repeat {
                s.write_all(&corpus).unwrap();
            }
            own_cpu()
        })
        .unwrap();
    let sender_cpu = sender.join().unwrap();
    let (records, bytes, batches, flagged, sink_cpu) = sink.join().unwrap();
    let elapsed = start.elapsed().as_secs_f64();
    let cpu = (
        threads_cpu("ingest-rt") - rt_cpu_before,
        sender_cpu,
        sink_cpu,
    );
    shutdown.trigger();
    rt.block_on(task).unwrap().unwrap();

    println!(
        "syslog tcp: {records} records ({:.1} MiB) in {elapsed:.2} s = {:.0} records/s, {:.0} MiB/s; \
         {batches} batches ({:.0} records/batch)",
        total_bytes as f64 / 1048576.0,
        records as f64 / elapsed,
        total_bytes as f64 / 1048576.0 / elapsed,
        records as f64 / batches.max(1) as f64,
    );
    println!(
        "cpu: connector runtime {:.2} s ({:.2} µs/record), sender {:.2} s, sink {:.2} s",
        cpu.0,
        cpu.0 * 1e6 / records.max(1) as f64,
        cpu.1,
        cpu.2
    );
    assert_eq!(records, total_lines, "every line arrives");
    assert_eq!(
        bytes + total_lines,
        total_bytes,
        "every byte but the LFs arrives"
    );
    assert_eq!(flagged, 0);
    assert_eq!(metrics.snapshot().events_in, total_lines as u64);
}

#[test]
#[ignore = "benchmark: run with --release -- --ignored --nocapture"]
fn udp_throughput_and_loss_accounting() {
    let path = std::env::var("VIGIL_INGEST_BENCH_CORPUS")
        .unwrap_or_else(|_| "/dev/shm/vigil-ingest-bench.log".to_owned());
    let Ok(corpus) = std::fs::read(&path) else {
        eprintln!("SKIPPED: corpus {path} missing (see the module docs)");
        return;
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("ingest-rt")
        .enable_all()
        .build()
        .unwrap();
    let mut connector = SyslogConnector::new(SyslogSettings {
        udp: Some("127.0.0.1:0".parse().unwrap()),
        ..SyslogSettings::default()
    })
    .unwrap();
    let addr = connector.bind().unwrap().udp.unwrap();
    let (tx, rx) = flume::bounded(256);
    let shutdown = Shutdown::new();
    let metrics = ComponentMetrics::detached("connector", "bench-udp");
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
    let sink = std::thread::spawn(move || {
        let mut n = 0usize;
        while let Ok(b) = rx.recv_timeout(Duration::from_secs(5)) {
            n += b.records.len();
        }
        n
    });
    let rt_cpu_before = threads_cpu("ingest-rt");
    let start = Instant::now();
    let sent = std::thread::spawn(move || {
        let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        s.connect(addr).unwrap();
        corpus
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .filter(|l| s.send(l).is_ok())
            .count()
    })
    .join()
    .unwrap();
    let send_secs = start.elapsed().as_secs_f64();
    // let the drop poller (1 s) catch up
    let dropped = || {
        metrics
            .snapshot()
            .drops
            .get("kernel_udp_overflow")
            .copied()
            .unwrap_or(0)
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while metrics.snapshot().events_in + dropped() < sent as u64 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let rt_cpu = threads_cpu("ingest-rt") - rt_cpu_before;
    shutdown.trigger();
    rt.block_on(task).unwrap().unwrap();
    let received = sink.join().unwrap();
    let snap = metrics.snapshot();
    println!(
        "syslog udp: sent {sent} datagrams in {send_secs:.2} s ({:.0}/s); received {received}, \
         kernel drops {}; receive buffer granted {} bytes; connector cpu {rt_cpu:.2} s",
        sent as f64 / send_secs,
        dropped(),
        snap.gauges
            .get("udp_recv_buffer_bytes")
            .copied()
            .unwrap_or(0),
    );
    assert_eq!(
        received as u64 + dropped(),
        sent as u64,
        "every datagram received or reported"
    );
}
