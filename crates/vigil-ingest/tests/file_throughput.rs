//! Throughput of the file connector: lines tailed per CPU-second.
//!
//! Ignored by default (it wants an optimized build and a quiet machine):
//! ```text
//! cargo test --release -p vigil-ingest --test file_throughput -- --ignored --nocapture --test-threads 1
//! ```
//! Writes 5,000,000 syslog-like lines (about 120 bytes each, 590 MB; `VIGIL_FILE_BENCH_LINES`)
//! to a file in `/dev/shm` (`VIGIL_FILE_BENCH_DIR` overrides), then has the connector read it
//! from the beginning into a queue drained by the test, once plain and once with a multiline rule (every fifth line a
//! continuation). Prints lines/s and lines per CPU-second of the whole process (connector,
//! its checkpoint writes and the draining sink; the file is written before the clock starts),
//! from `/proc/self/stat`.

// reads of /proc are trusted, local and bounded
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::disallowed_methods
)]

use std::io::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use vigil_config::{FileConfig, MultilineConfig};
use vigil_ingest::file::FileConnector;
use vigil_pipeline::{ComponentMetrics, Connector, ConnectorContext, Shutdown, SourceInfo};

/// CPU seconds (user + system) of this process so far.
fn process_cpu() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let close = stat.rfind(')').unwrap();
    let fields: Vec<&str> = stat[close + 2..].split_whitespace().collect();
    let utime: u64 = fields[11].parse().unwrap();
    let stime: u64 = fields[12].parse().unwrap();
    (utime + stime) as f64 / 100.0
}

/// Lines written (`VIGIL_FILE_BENCH_LINES`, default 5,000,000: enough CPU time for the
/// 10 ms resolution of `/proc/self/stat`).
fn lines() -> usize {
    std::env::var("VIGIL_FILE_BENCH_LINES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(5_000_000)
}

fn run(name: &str, multiline: Option<MultilineConfig>) {
    let lines = lines();
    let base = std::env::var("VIGIL_FILE_BENCH_DIR").unwrap_or_else(|_| "/dev/shm".to_owned());
    let dir = tempfile::tempdir_in(base).unwrap();
    let path = dir.path().join("bench.log");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    let mut bytes = 0usize;
    for i in 0..lines {
        let line = if multiline.is_some() && i % 5 != 0 {
            format!(
                "\tat org.example.service.Handler{}.handle(Handler.java:{})\n",
                i % 97,
                i % 1000
            )
        } else {
            format!(
                "2026-12-07T10:{:02}:{:02}.{:06}Z web{:02} sshd[{}]: Failed password for invalid user u{} from 203.0.113.{} port {} ssh2\n",
                (i / 60) % 60,
                i % 60,
                i,
                i % 20,
                1000 + i % 5000,
                i % 977,
                i % 250,
                1024 + i % 60000
            )
        };
        bytes += line.len();
        f.write_all(line.as_bytes()).unwrap();
    }
    f.flush().unwrap();
    drop(f);
    let expected = if multiline.is_some() {
        lines / 5
    } else {
        lines
    };
    let settings = FileConfig {
        paths: vec![path.clone()],
        state_dir: dir.path().join("state"),
        multiline,
        ..FileConfig::default()
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let (tx, rx) = flume::bounded(256);
    let shutdown = Shutdown::new();
    let metrics = ComponentMetrics::detached("connector", "bench");
    let ctx = ConnectorContext {
        out: tx,
        shutdown: shutdown.signal(),
        metrics: metrics.clone(),
        source: Arc::new(SourceInfo {
            id: "bench".into(),
            tenant: "main".into(),
            collector: "c".into(),
        }),
        shutdown_all: shutdown.clone(),
    };
    let connector = FileConnector::new(settings).unwrap();
    let cpu0 = process_cpu();
    let t0 = Instant::now();
    let task = rt.spawn(Box::new(connector).run(ctx));
    let mut got = 0usize;
    let end = Instant::now() + Duration::from_secs(600);
    while got < expected && Instant::now() < end {
        if let Ok(b) = rx.recv_timeout(Duration::from_millis(100)) {
            got += b.records.len();
        }
    }
    let wall = t0.elapsed().as_secs_f64();
    let cpu = process_cpu() - cpu0;
    shutdown.trigger();
    rt.block_on(task).unwrap().unwrap();
    assert_eq!(got, expected);
    println!(
        "RESULT file tail {name}: {got} records ({lines} lines, {:.0} MB) in {wall:.2} s wall, \
         {cpu:.2} CPU-s: {:.0} lines/s, {:.0} lines per CPU-second",
        bytes as f64 / 1e6,
        lines as f64 / wall,
        lines as f64 / cpu
    );
}

#[test]
#[ignore = "benchmark: run with --release -- --ignored --nocapture"]
fn file_tail_lines_per_cpu_second() {
    run("plain", None);
    run(
        "multiline",
        Some(MultilineConfig {
            pattern: r"^\s".into(),
            negate: false,
            after: true,
            max_lines: 500,
            // the last record goes out after the timeout: short, so that wall time means
            // something
            timeout: Duration::from_millis(50),
        }),
    );
}
