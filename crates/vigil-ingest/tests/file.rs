//! The file connector on real files: rotation by rename and by copytruncate under continuous
//! writes, a restart in the middle of a file, multiline Java stack traces, a gzip rotated
//! file, a glob picking up a new file, oversized lines, a rewritten file, `start_at: end`.
//! Every line carries a unique id; the tests count each id exactly once.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use vigil_config::{FileConfig, MultilineConfig, StartAt};
use vigil_ingest::file::{FileConnector, FileSettings};
use vigil_pipeline::{
    ComponentError, ComponentMetrics, Connector, ConnectorContext, RawBatch, Shutdown, SourceInfo,
};

struct Running {
    rx: flume::Receiver<RawBatch>,
    metrics: ComponentMetrics,
    shutdown: Shutdown,
    task: tokio::task::JoinHandle<Result<(), ComponentError>>,
}

fn start(settings: FileSettings, queue: usize) -> Running {
    let connector = FileConnector::new(settings).unwrap();
    let (tx, rx) = flume::bounded(queue);
    let shutdown = Shutdown::new();
    let metrics = ComponentMetrics::detached("connector", "file-test");
    let ctx = ConnectorContext {
        out: tx,
        shutdown: shutdown.signal(),
        metrics: metrics.clone(),
        source: Arc::new(SourceInfo {
            id: "file-test".into(),
            tenant: "main".into(),
            collector: "c".into(),
        }),
        shutdown_all: shutdown.clone(),
    };
    let task = tokio::spawn(Box::new(connector).run(ctx));
    Running {
        rx,
        metrics,
        shutdown,
        task,
    }
}

fn settings(dir: &Path, paths: &[&str]) -> FileSettings {
    FileConfig {
        paths: paths.iter().map(|p| dir.join(p)).collect(),
        scan_interval: Duration::from_millis(100),
        poll_interval: Duration::from_millis(20),
        state_dir: dir.join("state"),
        ..FileConfig::default()
    }
}

/// What arrived: each record's text and mark, and the file and offset it was read from.
/// Each batch taken is answered durable, as the pipeline would once the store wrote it, unless
/// `lose` is set: then it is dropped unanswered (the store failed, or the process died between
/// acceptance and durability).
#[derive(Default)]
struct Got {
    records: Vec<(String, Option<String>)>,
    origins: Vec<Option<(String, Option<u64>)>>,
    lose: bool,
}

impl Got {
    fn take(&mut self, rx: &flume::Receiver<RawBatch>) {
        while let Ok(mut b) = rx.try_recv() {
            if let Some(ack) = b.ack.take()
                && !self.lose
            {
                ack.answer(true);
            }
            for (i, r) in b.records.into_iter().enumerate() {
                self.records.push((
                    String::from_utf8_lossy(&r.data).into_owned(),
                    r.transport_error.map(|e| e.to_string()),
                ));
                self.origins.push(
                    b.file
                        .as_ref()
                        .map(|f| (f.path.to_string(), f.offsets.get(i).copied())),
                );
            }
        }
    }

    /// Waits (bounded) until `done` holds for what arrived.
    async fn until(
        &mut self,
        rx: &flume::Receiver<RawBatch>,
        limit: Duration,
        done: impl Fn(&Got) -> bool,
    ) {
        let end = Instant::now() + limit;
        loop {
            self.take(rx);
            if done(self) || Instant::now() > end {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn counts(&self) -> HashMap<String, usize> {
        let mut m = HashMap::new();
        for (t, _) in &self.records {
            *m.entry(t.clone()).or_default() += 1;
        }
        m
    }
}

/// Every id in `0..n` exactly once, nothing else.
fn exactly_once(got: &Got, n: usize) {
    let counts = got.counts();
    let twice: Vec<_> = counts.iter().filter(|(_, c)| **c > 1).take(5).collect();
    assert!(twice.is_empty(), "lines read more than once: {twice:?}");
    let missing: Vec<_> = (0..n)
        .filter(|i| !counts.contains_key(&line(*i)))
        .take(5)
        .collect();
    assert!(
        missing.is_empty(),
        "lines never read (of {n}, got {}): {missing:?}",
        counts.len()
    );
    assert_eq!(got.records.len(), n, "unexpected records");
}

fn line(i: usize) -> String {
    format!("line {i:07} the quick brown fox jumps over the lazy dog")
}

async fn stop(r: Running, got: &mut Got) {
    r.shutdown.trigger();
    // keep draining so a connector waiting on a full queue can finish
    let end = Instant::now() + Duration::from_secs(20);
    while !r.task.is_finished() && Instant::now() < end {
        got.take(&r.rx);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    r.task.await.unwrap().unwrap();
    got.take(&r.rx);
}

/// Writes lines `from..to` in bursts, calling `rotate` before every `every`th line.
fn write_lines(
    path: &Path,
    from: usize,
    to: usize,
    every: usize,
    mut rotate: impl FnMut(usize, &mut std::fs::File),
) {
    let open = || {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap()
    };
    let mut f = open();
    for i in from..to {
        if i > from && i % every == 0 {
            rotate(i / every, &mut f);
            f = open();
        }
        writeln!(f, "{}", line(i)).unwrap();
        // steady, not instant: each generation of a rotated file lives for a few polls
        if i % 25 == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rename_rotation_under_continuous_writes() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    std::fs::write(&log, "").unwrap();
    // the glob matches the rotated files too: they must be known by inode and not read twice
    let r = start(settings(dir.path(), &["app.log*"]), 64);
    let n = 30_000;
    let d = dir.path().to_path_buf();
    let writer = std::thread::spawn(move || {
        write_lines(&d.join("app.log"), 0, n, 5_000, |k, _| {
            std::fs::rename(d.join("app.log"), d.join(format!("app.log.{k}"))).unwrap();
        })
    });
    let mut got = Got::default();
    got.until(&r.rx, Duration::from_secs(60), |g| g.records.len() >= n)
        .await;
    writer.join().unwrap();
    got.until(&r.rx, Duration::from_millis(500), |_| false)
        .await;
    stop(r, &mut got).await;
    exactly_once(&got, n);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rename_rotation_of_the_live_file_only() {
    // only app.log is watched: the renamed file is read to its end through the open descriptor
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("app.log"), "").unwrap();
    let r = start(settings(dir.path(), &["app.log"]), 64);
    let n = 20_000;
    let d = dir.path().to_path_buf();
    let writer = std::thread::spawn(move || {
        write_lines(&d.join("app.log"), 0, n, 4_000, |k, _| {
            std::fs::rename(d.join("app.log"), d.join(format!("old.{k}"))).unwrap();
        })
    });
    let mut got = Got::default();
    got.until(&r.rx, Duration::from_secs(60), |g| g.records.len() >= n)
        .await;
    writer.join().unwrap();
    got.until(&r.rx, Duration::from_millis(500), |_| false)
        .await;
    stop(r, &mut got).await;
    exactly_once(&got, n);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copytruncate_rotation_under_continuous_writes() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    std::fs::write(&log, "").unwrap();
    let r = start(settings(dir.path(), &["app.log*"]), 64);
    let n = 30_000;
    let d = dir.path().to_path_buf();
    let writer = std::thread::spawn(move || {
        // logrotate's copytruncate: copy, then truncate the file the writer keeps appending to
        write_lines(&d.join("app.log"), 0, n, 5_000, |k, f| {
            f.flush().unwrap();
            std::fs::copy(d.join("app.log"), d.join(format!("app.log.{k}"))).unwrap();
            f.set_len(0).unwrap();
        })
    });
    let mut got = Got::default();
    got.until(&r.rx, Duration::from_secs(60), |g| g.records.len() >= n)
        .await;
    writer.join().unwrap();
    got.until(&r.rx, Duration::from_millis(500), |_| false)
        .await;
    stop(r, &mut got).await;
    exactly_once(&got, n);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_mid_file_loses_and_duplicates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    // far more than one poll reads (1 MiB, about 18,000 of these lines), so the stop comes
    // while most of the file is still unread
    let first = 200_000;
    let mut body = String::new();
    for i in 0..first {
        body.push_str(&line(i));
        body.push('\n');
    }
    std::fs::write(&log, body).unwrap();
    // a small queue: the connector is held back, so the stop comes in the middle of the file
    let r = start(settings(dir.path(), &["*.log"]), 1);
    let mut got = Got::default();
    got.until(&r.rx, Duration::from_secs(30), |g| g.records.len() >= 2_000)
        .await;
    stop(r, &mut got).await;
    let after_first = got.records.len();
    assert!(
        after_first > 0 && after_first < first,
        "stopped mid-file: {after_first} of {first}"
    );
    assert!(dir.path().join("state/checkpoints.json").is_file());
    // more lines while it is stopped, and a restart
    let n = first + 5_000;
    write_lines(&log, first, n, usize::MAX, |_, _| {});
    let r = start(settings(dir.path(), &["*.log"]), 64);
    got.until(&r.rx, Duration::from_secs(60), |g| g.records.len() >= n)
        .await;
    got.until(&r.rx, Duration::from_millis(300), |_| false)
        .await;
    stop(r, &mut got).await;
    exactly_once(&got, n);
}

const JAVA: &str = "\
2026-12-07 10:00:00,001 INFO  [main] o.e.App - started
2026-12-07 10:00:01,002 ERROR [http-1] o.e.Handler - request failed
java.lang.IllegalStateException: connection pool exhausted
\tat org.example.db.Pool.acquire(Pool.java:118)
\tat org.example.Handler.handle(Handler.java:42)
Caused by: java.net.SocketTimeoutException: connect timed out
\tat java.base/java.net.Socket.connect(Socket.java:633)
\t... 12 more
2026-12-07 10:00:02,003 INFO  [main] o.e.App - still running
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multiline_java_stack_trace() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("app.log"), JAVA).unwrap();
    let mut s = settings(dir.path(), &["app.log"]);
    // a record starts with a date; every other line continues the one before
    s.multiline = Some(MultilineConfig {
        pattern: r"^\d{4}-\d{2}-\d{2} ".into(),
        negate: true,
        after: true,
        max_lines: 500,
        timeout: Duration::from_millis(300),
    });
    let r = start(s, 64);
    let mut got = Got::default();
    // the last record is sent when no line follows it within the timeout
    got.until(&r.rx, Duration::from_secs(10), |g| g.records.len() >= 3)
        .await;
    stop(r, &mut got).await;
    let texts: Vec<&str> = got.records.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(
        texts,
        vec![
            "2026-12-07 10:00:00,001 INFO  [main] o.e.App - started",
            "2026-12-07 10:00:01,002 ERROR [http-1] o.e.Handler - request failed\n\
             java.lang.IllegalStateException: connection pool exhausted\n\
             \tat org.example.db.Pool.acquire(Pool.java:118)\n\
             \tat org.example.Handler.handle(Handler.java:42)\n\
             Caused by: java.net.SocketTimeoutException: connect timed out\n\
             \tat java.base/java.net.Socket.connect(Socket.java:633)\n\
             \t... 12 more",
            "2026-12-07 10:00:02,003 INFO  [main] o.e.App - still running",
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multiline_record_cut_by_a_restart_is_read_whole_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    // the trace is still being written when the connector stops
    let (head, tail) = JAVA.split_at(JAVA.find("Caused by").unwrap());
    std::fs::write(&log, head).unwrap();
    let mut s = settings(dir.path(), &["app.log"]);
    s.multiline = Some(MultilineConfig {
        pattern: r"^\d{4}-\d{2}-\d{2} ".into(),
        negate: true,
        after: true,
        max_lines: 500,
        timeout: Duration::from_secs(60),
    });
    let r = start(s.clone(), 64);
    let mut got = Got::default();
    got.until(&r.rx, Duration::from_secs(10), |g| !g.records.is_empty())
        .await;
    got.until(&r.rx, Duration::from_millis(300), |_| false)
        .await;
    stop(r, &mut got).await;
    assert_eq!(got.records.len(), 1, "only the first record was complete");
    std::fs::OpenOptions::new()
        .append(true)
        .open(&log)
        .unwrap()
        .write_all(tail.as_bytes())
        .unwrap();
    s.multiline.as_mut().unwrap().timeout = Duration::from_millis(300);
    let r = start(s, 64);
    got.until(&r.rx, Duration::from_secs(10), |g| g.records.len() >= 3)
        .await;
    stop(r, &mut got).await;
    assert_eq!(got.records.len(), 3);
    assert!(got.records[1].0.ends_with("\t... 12 more"));
    assert!(
        got.records[1]
            .0
            .starts_with("2026-12-07 10:00:01,002 ERROR")
    );
}

fn gzip(path: &Path) {
    let st = std::process::Command::new("gzip")
        .arg(path)
        .status()
        .expect("gzip (Debian package gzip)");
    assert!(st.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gzip_rotated_file_is_read_once() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // an archive from before: read once, whole
    let mut old = String::new();
    for i in 0..1_000 {
        old.push_str(&line(i));
        old.push('\n');
    }
    std::fs::write(d.join("app.log.3"), &old).unwrap();
    gzip(&d.join("app.log.3"));
    // and a zstd one
    let mut older = String::new();
    for i in 1_000..1_500 {
        older.push_str(&line(i));
        older.push('\n');
    }
    std::fs::write(
        d.join("app.log.4.zst"),
        zstd::encode_all(older.as_bytes(), 3).unwrap(),
    )
    .unwrap();
    let mut live = String::new();
    for i in 1_500..3_000 {
        live.push_str(&line(i));
        live.push('\n');
    }
    std::fs::write(d.join("app.log"), &live).unwrap();
    let r = start(settings(d, &["app.log*"]), 64);
    let mut got = Got::default();
    got.until(&r.rx, Duration::from_secs(20), |g| g.records.len() >= 3_000)
        .await;
    // rotation with compression: app.log → app.log.1 → app.log.1.gz; the compressed copy
    // holds what was read already and must not be read again
    std::fs::rename(d.join("app.log"), d.join("app.log.1")).unwrap();
    write_lines(&d.join("app.log"), 3_000, 4_000, usize::MAX, |_, _| {});
    gzip(&d.join("app.log.1"));
    got.until(&r.rx, Duration::from_secs(20), |g| g.records.len() >= 4_000)
        .await;
    got.until(&r.rx, Duration::from_millis(800), |_| false)
        .await;
    stop(r, &mut got).await;
    exactly_once(&got, 4_000);
    // a restart reads none of it again
    let r = start(settings(d, &["app.log*"]), 64);
    got.until(&r.rx, Duration::from_millis(800), |_| false)
        .await;
    stop(r, &mut got).await;
    exactly_once(&got, 4_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_gzip_is_counted_and_what_it_held_kept() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut body = String::new();
    for i in 0..2_000 {
        body.push_str(&line(i));
        body.push('\n');
    }
    std::fs::write(d.join("x.log"), &body).unwrap();
    gzip(&d.join("x.log"));
    let gz = vigil_config::read_file_capped(&d.join("x.log.gz"), 1 << 20).unwrap();
    std::fs::write(d.join("x.log.gz"), &gz[..gz.len() / 2]).unwrap();
    // old enough not to be taken for a file still being written
    let past = std::time::SystemTime::now() - Duration::from_secs(60);
    std::fs::File::options()
        .write(true)
        .open(d.join("x.log.gz"))
        .unwrap()
        .set_modified(past)
        .unwrap();
    let r = start(settings(d, &["*.gz"]), 64);
    let metrics = r.metrics.clone();
    let mut got = Got::default();
    got.until(&r.rx, Duration::from_secs(10), |_| {
        metrics.snapshot().errors.contains_key("corrupt_compressed")
    })
    .await;
    stop(r, &mut got).await;
    let n = got.records.len();
    assert!(n > 0 && n < 2_000, "{n} lines out of the first half");
    let counts = got.counts();
    assert!((0..n).all(|i| counts.get(&line(i)) == Some(&1)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn glob_picks_up_a_new_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("a.log"), format!("{}\n", line(0))).unwrap();
    std::fs::write(d.join("a.txt"), "not matched\n").unwrap();
    let r = start(settings(d, &["*.log"]), 64);
    let mut got = Got::default();
    got.until(&r.rx, Duration::from_secs(10), |g| !g.records.is_empty())
        .await;
    std::fs::write(d.join("b.log"), format!("{}\n{}\n", line(1), line(2))).unwrap();
    got.until(&r.rx, Duration::from_secs(10), |g| g.records.len() >= 3)
        .await;
    let files = r.metrics.snapshot().gauges.get("files").copied();
    stop(r, &mut got).await;
    exactly_once(&got, 3);
    assert_eq!(files, Some(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_lines_are_cut_marked_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let long = "x".repeat(10_000);
    std::fs::write(d.join("a.log"), format!("short\n{long}\nafter\n")).unwrap();
    let mut s = settings(d, &["a.log"]);
    s.max_line_size = 100;
    let r = start(s, 64);
    let mut got = Got::default();
    got.until(&r.rx, Duration::from_secs(10), |g| g.records.len() >= 3)
        .await;
    let snap = r.metrics.snapshot();
    stop(r, &mut got).await;
    assert_eq!(got.records.len(), 3);
    assert_eq!(got.records[0], ("short".into(), None));
    assert_eq!(got.records[1].0, "x".repeat(100));
    assert_eq!(got.records[1].1.as_deref(), Some("oversized_line"));
    assert_eq!(got.records[2], ("after".into(), None));
    assert_eq!(snap.errors.get("oversized_line"), Some(&1));
    assert_eq!(snap.events_in, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_rewritten_in_place_is_read_from_its_beginning() {
    // same inode, other first bytes: another file (what a reused inode looks like)
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("a.log");
    std::fs::write(&log, format!("{}\n{}\n", line(0), line(1))).unwrap();
    let r = start(settings(dir.path(), &["a.log"]), 64);
    let mut got = Got::default();
    got.until(&r.rx, Duration::from_secs(10), |g| g.records.len() >= 2)
        .await;
    stop(r, &mut got).await;
    let mut body = String::new();
    for i in 2..10 {
        body.push_str(&line(i));
        body.push('\n');
    }
    std::fs::write(&log, body).unwrap(); // truncates and rewrites the same inode
    let r = start(settings(dir.path(), &["a.log"]), 64);
    got.until(&r.rx, Duration::from_secs(10), |g| g.records.len() >= 10)
        .await;
    stop(r, &mut got).await;
    exactly_once(&got, 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_at_end_reads_only_new_lines() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("a.log");
    std::fs::write(&log, "old 1\nold 2\n").unwrap();
    let mut s = settings(dir.path(), &["a.log"]);
    s.start_at = StartAt::End;
    let r = start(s, 64);
    tokio::time::sleep(Duration::from_millis(300)).await;
    write_lines(&log, 0, 3, usize::MAX, |_, _| {});
    let mut got = Got::default();
    got.until(&r.rx, Duration::from_secs(10), |g| g.records.len() >= 3)
        .await;
    stop(r, &mut got).await;
    exactly_once(&got, 3);
}

/// The state directory of a test: where `checkpoints.json` is.
#[allow(dead_code)]
fn state(dir: &Path) -> PathBuf {
    dir.join("state")
}

const JOURNAL_REMOTE: &str = "/lib/systemd/systemd-journal-remote";

/// Appends entries `from..to` to the journal file `j` with systemd-journal-remote (which
/// reads the journal export format), as journald would write them.
fn journal_append(j: &Path, from: usize, to: usize) {
    let mut export = String::new();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros();
    for i in from..to {
        export.push_str(&format!(
            "__REALTIME_TIMESTAMP={}\n__MONOTONIC_TIMESTAMP={}\n_BOOT_ID=0123456789abcdef0123456789abcdef\n\
             _HOSTNAME=web1\nSYSLOG_IDENTIFIER=sshd\n_SYSTEMD_UNIT=ssh.service\nMESSAGE={}\n\n",
            now + i as u128,
            i + 1,
            line(i)
        ));
    }
    let input = j.with_extension(format!("export{from}"));
    std::fs::write(&input, export).unwrap();
    let st = std::process::Command::new(JOURNAL_REMOTE)
        .arg(format!("--output={}", j.display()))
        .arg(&input)
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());
}

fn journal_messages(got: &Got) -> Got {
    Got {
        records: got
            .records
            .iter()
            .map(|(t, e)| {
                let v: serde_json::Value = serde_json::from_str(t).unwrap();
                assert!(v["__CURSOR"].is_string() && v["_HOSTNAME"] == "web1");
                (v["MESSAGE"].as_str().unwrap().to_owned(), e.clone())
            })
            .collect(),
        ..Got::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn journal_entries_follow_and_resume_after_the_saved_cursor() {
    let found = Path::new(JOURNAL_REMOTE).is_file()
        && std::process::Command::new("journalctl")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
    if !vigil_testkit::tool_available(
        "journalctl and systemd-journal-remote",
        found,
        "apt-get install systemd systemd-journal-remote",
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let j = dir.path().join("remote.journal");
    journal_append(&j, 0, 100);
    let mut s = settings(dir.path(), &[]);
    s.paths.clear();
    s.journal = Some(vigil_config::JournalConfig {
        units: vec!["ssh.service".into()],
        directory: None,
        files: vec![j.clone()],
        journalctl: "journalctl".into(),
        start_at: StartAt::Beginning,
    });
    let r = start(s.clone(), 64);
    let mut got = Got::default();
    got.until(&r.rx, Duration::from_secs(20), |g| g.records.len() >= 100)
        .await;
    // followed: new entries arrive while it runs
    journal_append(&j, 100, 150);
    got.until(&r.rx, Duration::from_secs(20), |g| g.records.len() >= 150)
        .await;
    stop(r, &mut got).await;
    let saved = vigil_config::read_file_capped(&dir.path().join("state/checkpoints.json"), 1 << 20)
        .unwrap();
    let saved = String::from_utf8(saved).unwrap();
    assert!(saved.contains("\"journal_cursor\":\"s="), "{saved}");
    // entries written while stopped are read after the saved cursor, none twice
    journal_append(&j, 150, 200);
    let r = start(s, 64);
    got.until(&r.rx, Duration::from_secs(20), |g| g.records.len() >= 200)
        .await;
    got.until(&r.rx, Duration::from_millis(500), |_| false)
        .await;
    stop(r, &mut got).await;
    exactly_once(&journal_messages(&got), 200);
}

/// Lines the pipeline accepted but that never became durable (the store failed, or the process
/// died before writing them) are read again after a restart; the durable ones are not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lines_accepted_but_not_durable_are_read_again() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    write_lines(&log, 0, 500, usize::MAX, |_, _| {});
    let r = start(settings(dir.path(), &["*.log"]), 64);
    let mut got = Got::default();
    got.until(&r.rx, Duration::from_secs(30), |g| g.records.len() >= 500)
        .await;
    assert_eq!(got.records.len(), 500);
    // let the durable position be saved (at most every 200 ms)
    tokio::time::sleep(Duration::from_millis(400)).await;
    got.take(&r.rx);
    // 500 more, accepted and lost before they were durable
    let mut lost = Got {
        lose: true,
        ..Got::default()
    };
    write_lines(&log, 500, 1000, usize::MAX, |_, _| {});
    lost.until(&r.rx, Duration::from_secs(30), |g| g.records.len() >= 500)
        .await;
    assert_eq!(lost.records.len(), 500, "the second 500 lines were sent");
    let metrics = r.metrics.clone();
    stop(r, &mut lost).await;
    assert_eq!(metrics.snapshot().errors.get("not_durable"), Some(&1));
    // the next start reads them again, and only them
    let r = start(settings(dir.path(), &["*.log"]), 64);
    got.until(&r.rx, Duration::from_secs(30), |g| g.records.len() >= 1000)
        .await;
    got.until(&r.rx, Duration::from_millis(300), |_| false)
        .await;
    stop(r, &mut got).await;
    exactly_once(&got, 1000);
}

/// Every record carries the path of its file and where it begins in it (`log.file.path`,
/// `log.file.offset` on the events made from it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_carry_their_file_and_offset() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.log");
    let b = dir.path().join("b.log");
    write_lines(&a, 0, 3, usize::MAX, |_, _| {});
    std::fs::write(&b, "short\nlonger line\n").unwrap();
    let r = start(settings(dir.path(), &["*.log"]), 64);
    let mut got = Got::default();
    got.until(&r.rx, Duration::from_secs(10), |g| g.records.len() >= 5)
        .await;
    stop(r, &mut got).await;
    let width = line(0).len() as u64 + 1;
    let mut seen = std::collections::BTreeMap::new();
    for ((text, _), origin) in got.records.iter().zip(&got.origins) {
        let (path, offset) = origin.clone().expect("a file origin");
        seen.insert(text.clone(), (path, offset));
    }
    let a_path = a.to_string_lossy().into_owned();
    let b_path = b.to_string_lossy().into_owned();
    for i in 0..3 {
        assert_eq!(seen[&line(i)], (a_path.clone(), Some(i as u64 * width)));
    }
    assert_eq!(seen["short"], (b_path.clone(), Some(0)));
    assert_eq!(seen["longer line"], (b_path, Some(6)));
}
