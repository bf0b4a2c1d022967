//! The accept loop out of file descriptors (EMFILE): it pauses between attempts instead of
//! spinning, counts every failure, and serves the waiting connections once descriptors are
//! free again.
//!
//! A test binary of its own: it lowers the descriptor limit of the whole process (with
//! `prlimit`, so it needs util-linux).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use vigil_ingest::syslog::{SyslogConnector, SyslogSettings};
use vigil_pipeline::{ComponentMetrics, Connector, ConnectorContext, Shutdown, SourceInfo};

const DEADLINE: Duration = Duration::from_secs(60);
/// The pause of the accept loop after EMFILE (`ACCEPT_ERROR_PAUSE` in stream.rs).
const PAUSE: Duration = Duration::from_millis(100);

/// The soft and hard descriptor limits of this process, from `/proc/self/limits`.
#[allow(clippy::disallowed_methods)] // bounded by `take`
fn nofile() -> (String, String) {
    let mut limits = String::new();
    std::io::Read::read_to_string(
        &mut std::io::Read::take(std::fs::File::open("/proc/self/limits").unwrap(), 64 * 1024),
        &mut limits,
    )
    .unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    let mut cols = line["Max open files".len()..].split_whitespace();
    (
        cols.next().unwrap().to_owned(),
        cols.next().unwrap().to_owned(),
    )
}

/// Sets this process's descriptor limits with `prlimit` (util-linux): no unsafe code here.
fn set_nofile(soft: &str, hard: &str) {
    let status = std::process::Command::new("prlimit")
        .arg("--pid")
        .arg(std::process::id().to_string())
        .arg(format!("--nofile={soft}:{hard}"))
        .status()
        .expect("prlimit (util-linux) is needed for this test");
    assert!(status.success(), "prlimit failed");
}

fn highest_open_fd() -> u64 {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u64>().ok())
        .max()
        .unwrap()
}

fn accept_errors(m: &ComponentMetrics) -> u64 {
    m.snapshot().errors.get("accept").copied().unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accept_out_of_descriptors_pauses_counts_and_recovers() {
    let mut connector = SyslogConnector::new(SyslogSettings {
        tcp: Some("127.0.0.1:0".parse().unwrap()),
        ..SyslogSettings::default()
    })
    .unwrap();
    let addr: SocketAddr = connector.bind().unwrap().tcp.unwrap();
    let (tx, rx) = flume::bounded(64);
    let shutdown = Shutdown::new();
    let metrics = ComponentMetrics::detached("connector", "emfile");
    let ctx = ConnectorContext {
        out: tx,
        shutdown: shutdown.signal(),
        metrics: metrics.clone(),
        source: Arc::new(SourceInfo {
            id: "emfile".into(),
            tenant: "t1".into(),
            collector: "c1".into(),
        }),
        shutdown_all: shutdown.clone(),
    };
    let task = tokio::spawn(Box::new(connector).run(ctx));
    // client sockets made while descriptors are still available; connected later
    let clients: Vec<socket2::Socket> = (0..3)
        .map(|_| socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap())
        .collect();

    // no descriptor left for the process: lower the limit, then fill the holes below it
    let (soft, hard) = nofile();
    set_nofile(&(highest_open_fd() + 1).to_string(), &hard);
    let mut fillers = Vec::new();
    while let Ok(f) = std::fs::File::open("/dev/null") {
        fillers.push(f);
        assert!(fillers.len() < 100_000);
    }

    for (i, c) in clients.iter().enumerate() {
        c.connect(&addr.into()).unwrap();
        (&*c)
            .write_all(format!("<13>waiting {i}\n").as_bytes())
            .unwrap();
    }
    // the loop fails to accept, and pauses between attempts
    let deadline = Instant::now() + DEADLINE;
    while accept_errors(&metrics) == 0 {
        assert!(Instant::now() < deadline, "accept never failed");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let (first, t0) = (accept_errors(&metrics), Instant::now());
    while accept_errors(&metrics) < first + 5 {
        assert!(Instant::now() < deadline, "accept was not retried");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let (errors, elapsed) = (accept_errors(&metrics) - first, t0.elapsed());
    // a spinning loop would fail thousands of times in this time; a pausing one about once
    // per pause (the lower bound on the time holds however slow the machine)
    assert!(
        elapsed >= PAUSE * u32::try_from(errors - 1).unwrap(),
        "{errors} accept failures in {elapsed:?}: the loop does not pause"
    );

    // descriptors free again: the connections waiting in the backlog are served
    drop(fillers);
    set_nofile(&soft, &hard);
    let mut got = Vec::new();
    while got.len() < 3 {
        let batch = tokio::time::timeout(DEADLINE, rx.recv_async())
            .await
            .expect("waiting connections were not served")
            .unwrap();
        got.extend(
            batch
                .records
                .iter()
                .map(|r| String::from_utf8_lossy(&r.data).into_owned()),
        );
    }
    got.sort();
    assert_eq!(got, ["<13>waiting 0", "<13>waiting 1", "<13>waiting 2"]);
    drop(clients);
    shutdown.trigger();
    tokio::time::timeout(DEADLINE, task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}
