//! Memory of a running `vigil up` follows the data it holds, not the number of batches it was
//! received in (issue 11, point 1: one event per append kept its own Arrow batch, ~100 KiB, so
//! 2,000 slow lines took 220 MB). A real process on 127.0.0.1; bounded loops; a memory bound,
//! no timing assertion.

// Test harness: failures panic; it reads small responses and /proc files it asked for.
#![allow(clippy::unwrap_used, clippy::disallowed_methods)]

mod support;
use support::{free_port, http_get, http_post};

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The `vigil up` process, killed when dropped (a failing test leaves nothing running).
struct Vigil {
    child: Child,
    syslog: SocketAddr,
    http: SocketAddr,
    token: String,
}

impl Drop for Vigil {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Vigil {
    fn start(data: &Path) -> Vigil {
        let syslog: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let http: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let log = std::fs::File::create(data.with_extension("log")).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_vigil"))
            .args(["up", "--data-dir"])
            .arg(data)
            .args([
                "--syslog-addr",
                &syslog.to_string(),
                "--http-addr",
                &http.to_string(),
            ])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let mut v = Vigil {
            child,
            syslog,
            http,
            token: String::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while !http_get(http, "/health", None).is_ok_and(|(s, _)| s == 200) {
            assert!(
                Instant::now() < deadline,
                "vigil did not come up; see {}",
                data.with_extension("log").display()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        v.token = std::fs::read_to_string(data.join("api-token"))
            .unwrap()
            .trim()
            .to_owned();
        v
    }

    fn count(&self, q: &str) -> u64 {
        let body = serde_json::json!({ "q": format!("{q} | count"), "limit": 10 }).to_string();
        let (status, text) = http_post(self.http, "/api/v1/search", &self.token, &body).unwrap();
        assert_eq!(status, 200, "{q}: {text}");
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        v["rows"][0][0].as_u64().unwrap_or(0)
    }

    fn wait_count(&self, q: &str, want: u64) -> u64 {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let n = self.count(q);
            if n >= want || Instant::now() > deadline {
                return n;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn metric(&self, name: &str) -> Option<f64> {
        let (_, text) = http_get(self.http, "/metrics", Some(&self.token)).unwrap();
        text.lines()
            .find(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
    }

    /// Resident set size in bytes (`VmRSS` of /proc/PID/status).
    fn rss(&self) -> u64 {
        let s = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let kb: u64 = s
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap();
        kb * 1024
    }
}

fn line(conn: u64, seq: u64) -> String {
    let host = ["web01", "db01", "fw-edge-01"][(seq % 3) as usize];
    format!(
        "<86>Nov 22 07:00:00 {host} sshd[{seq}]: Failed password for user{} from 10.{conn}.{}.{} port 22 ssh2 memtest\n",
        seq % 17,
        seq % 250,
        seq % 200
    )
}

/// Sends `lines` lines from each of `conns` connections, one line per write with a small
/// sleep, so that the pipeline appends them a few at a time.
fn trickle(addr: SocketAddr, conns: u64, lines: u64, first: u64) {
    let senders: Vec<_> = (0..conns)
        .map(|c| {
            std::thread::spawn(move || {
                let mut s = TcpStream::connect(addr).unwrap();
                s.set_nodelay(true).unwrap();
                for i in 0..lines {
                    s.write_all(line(c, first + i).as_bytes()).unwrap();
                    std::thread::sleep(Duration::from_millis(2));
                }
            })
        })
        .collect();
    for s in senders {
        s.join().unwrap();
    }
}

#[test]
fn memory_grows_with_data_not_small_batches() {
    let dir = tempfile::Builder::new()
        .prefix("vigil-memory-test")
        .tempdir()
        .unwrap();
    let v = Vigil::start(&dir.path().join("data"));
    // Warm up (threads, pools, the first memtable block) before the baseline.
    trickle(v.syslog, 2, 100, 0);
    assert_eq!(v.wait_count("memtest", 200), 200);
    let before = v.rss();
    // 3,000 lines (~330 KB) over 6 connections, ~1.5 s, unsealed (segments seal at 30 s).
    trickle(v.syslog, 6, 500, 1_000);
    assert_eq!(v.wait_count("memtest", 3_200), 3_200, "a line was lost");
    let after = v.rss();
    let grown = after.saturating_sub(before);
    let held = v.metric("vigil_store_memtable_bytes").unwrap_or(-1.0);
    eprintln!(
        "RSS {} MB -> {} MB (+{} KB) for 3,000 lines; memtable holds {held} bytes",
        before >> 20,
        after >> 20,
        grown >> 10
    );
    assert!(
        grown < 64 << 20,
        "RSS grew by {} MB for 3,000 lines sent one per write",
        grown >> 20
    );
    // the store's own account is exposed, and small for these few events
    assert!(
        held > 0.0 && held < (32 << 20) as f64,
        "memtable bytes {held}"
    );
    assert!(
        v.metric("vigil_store_memtable_limit_bytes")
            .is_some_and(|l| l > 0.0)
    );
    assert!(v.metric("vigil_store_memtable_full_seals_total").is_some());
}
