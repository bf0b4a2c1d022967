//! Regression tests for the syslog listeners under hostile clients (issue 11), against a real
//! `vigil up` on 127.0.0.1: before the connection policy, 1,024 idle connections locked every
//! sender out for up to 10 minutes, and a one-byte drip held a slot forever.
//!
//! Source addresses are simulated with client sockets bound to 127.0.0.x (all of 127.0.0.0/8
//! reaches this host). Limits are small (`max_connections: 64`) to keep the tests cheap. No
//! timing assertions: every wait is a bounded poll with a generous deadline.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;
use support::{free_port, http_get, http_post};

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const DEADLINE: Duration = Duration::from_secs(120);

/// A small file (a log, the API token) as text, read up to 16 MiB.
#[allow(clippy::disallowed_methods)] // bounded by `take`
fn read_text(path: &Path) -> String {
    let mut out = String::new();
    if let Ok(f) = std::fs::File::open(path) {
        let _ = f.take(16 << 20).read_to_string(&mut out);
    }
    out
}

/// A `vigil up` process on free ports with a temporary data directory; killed on drop.
struct Vigil {
    child: Child,
    syslog: SocketAddr,
    http: SocketAddr,
    token: String,
    _dir: tempfile::TempDir,
}

impl Vigil {
    /// Starts with `connector` as the extra settings of the syslog connector (YAML flow
    /// mapping entries, e.g. `max_connections: 64`).
    fn start(connector: &str) -> Vigil {
        let dir = tempfile::Builder::new()
            .prefix("vigil-hardening-test")
            .tempdir()
            .unwrap();
        let cfg = dir.path().join("vigil.yaml");
        std::fs::write(
            &cfg,
            format!(
                "version: 1\ncollectors:\n  - id: syslog\n    connector: {{ type: syslog, tcp: 127.0.0.1:5514, {connector} }}\n"
            ),
        )
        .unwrap();
        let data = dir.path().join("data");
        let syslog: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let http: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let log_path = dir.path().join("vigil.log");
        let log = std::fs::File::create(&log_path).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_vigil"))
            .args(["up", "--data-dir"])
            .arg(&data)
            .arg("--config")
            .arg(&cfg)
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
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while !http_get(http, "/health", None).is_ok_and(|(s, _)| s == 200) {
            assert!(
                Instant::now() < deadline,
                "vigil did not come up: {}",
                read_text(&log_path)
            );
            assert!(
                v.child.try_wait().unwrap().is_none(),
                "vigil exited: {}",
                read_text(&log_path)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        v.token = read_text(&data.join("api-token")).trim().to_owned();
        v
    }

    fn count(&self, q: &str) -> u64 {
        let body = serde_json::json!({ "q": format!("{q} | count") }).to_string();
        let (status, text) = http_post(self.http, "/api/v1/search", &self.token, &body).unwrap();
        assert_eq!(status, 200, "{q}: {text}");
        let v: Value = serde_json::from_str(&text).unwrap();
        v["rows"][0][0].as_u64().unwrap_or(0)
    }

    fn wait_count(&self, q: &str, want: u64) -> u64 {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let n = self.count(q);
            if n >= want || Instant::now() > deadline {
                return n;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The syslog connector's entry in `/api/v1/status`.
    fn connector_status(&self) -> Value {
        let (status, text) = http_get(self.http, "/api/v1/status", Some(&self.token)).unwrap();
        assert_eq!(status, 200, "{text}");
        let v: Value = serde_json::from_str(&text).unwrap();
        v["components"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["kind"] == "connector" && c["id"] == "syslog")
            .cloned()
            .unwrap_or_else(|| panic!("no syslog connector in {v}"))
    }

    fn error_count(&self, reason: &str) -> u64 {
        self.connector_status()["errors"][reason]
            .as_u64()
            .unwrap_or(0)
    }

    fn open_connections(&self) -> i64 {
        self.connector_status()["gauges"]["connections"]
            .as_i64()
            .unwrap_or(-1)
    }

    /// The sum of the `/metrics` series named `name` whose labels contain `label`.
    fn metric(&self, name: &str, label: &str) -> f64 {
        let (_, text) = http_get(self.http, "/metrics", Some(&self.token)).unwrap();
        text.lines()
            .filter(|l| l.starts_with(&format!("{name}{{")) && l.contains(label))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    /// Polls until `f` holds; fails after the deadline with `what`.
    fn wait_until(&self, what: &str, f: impl Fn(&Vigil) -> bool) {
        let deadline = Instant::now() + DEADLINE;
        while !f(self) {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}: {}",
                self.connector_status()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGTERM, then waits for the exit (killed if it does not come).
    fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.child.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "vigil did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Vigil {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A TCP connection to `to` from the local address `from` (any of 127.0.0.0/8).
fn connect_from(from: &str, to: SocketAddr) -> TcpStream {
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    let local: SocketAddr = format!("{from}:0").parse().unwrap();
    sock.bind(&local.into()).unwrap();
    sock.connect(&to.into()).unwrap();
    let s: TcpStream = sock.into();
    s.set_nodelay(true).unwrap();
    s
}

/// Whether the server has closed `s` (EOF or reset), without waiting.
fn closed_by_server(s: &TcpStream) -> bool {
    s.set_nonblocking(true).unwrap();
    let mut b = [0u8; 64];
    let closed = match (&*s).read(&mut b) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => e.kind() != ErrorKind::WouldBlock,
    };
    s.set_nonblocking(false).unwrap();
    closed
}

fn sshd_line(host: &str, i: u32) -> String {
    format!("<38>Nov 22 07:00:00 {host} sshd[42]: Accepted publickey for alice, line {i}\n")
}

#[test]
fn idle_connections_do_not_lock_out_senders() {
    let v = Vigil::start("max_connections: 64");
    // every slot taken by idle connections, from 8 addresses (8 each: the default per-address
    // limit is max_connections / 8)
    let mut idle = Vec::new();
    for host in 10..18 {
        for _ in 0..8 {
            idle.push(connect_from(&format!("127.0.0.{host}"), v.syslog));
        }
    }
    v.wait_until("64 open connections", |v| v.open_connections() == 64);
    assert_eq!(
        v.error_count("evicted") + v.error_count("evicted_per_ip"),
        0
    );

    // a real sender still gets in, and everything it sends is stored
    let mut sender = connect_from("127.0.0.1", v.syslog);
    let mut batch = String::new();
    for i in 0..100 {
        batch.push_str(&sshd_line("realsender", i));
    }
    sender.write_all(batch.as_bytes()).unwrap();
    sender.flush().unwrap();
    assert_eq!(v.wait_count("host.name:realsender", 100), 100);
    // it took the slot of an idle connection, which was closed and counted
    v.wait_until("one idle connection closed", |_| {
        idle.iter().filter(|s| closed_by_server(s)).count() == 1
    });
    assert_eq!(v.error_count("evicted"), 1);
    assert_eq!(v.open_connections(), 64);
    assert_eq!(
        v.metric("vigil_component_errors_total", "reason=\"evicted\""),
        1.0
    );
    // the sender keeps its connection
    sender
        .write_all(sshd_line("realsender", 100).as_bytes())
        .unwrap();
    assert_eq!(v.wait_count("host.name:realsender", 101), 101);
    drop(idle);
    v.stop();
}

#[test]
fn drip_feed_cannot_hold_a_slot() {
    let v = Vigil::start("frame_timeout: 2s");
    let mut drip = connect_from("127.0.0.1", v.syslog);
    // a header at once, then one byte every 200 ms and never a line end: at most 300 bytes
    // (a minute), far beyond the 2 s frame deadline
    drip.write_all(b"<38>Nov 22 07:00:00 dripper slowloris: ")
        .unwrap();
    let mut cut = false;
    for _ in 0..300 {
        std::thread::sleep(Duration::from_millis(200));
        if drip.write_all(b"z").is_err() || closed_by_server(&drip) {
            cut = true;
            break;
        }
    }
    assert!(cut, "a one-byte drip held its connection for a minute");
    v.wait_until("frame_timeout counted", |v| {
        v.error_count("frame_timeout") == 1
    });
    v.wait_until("no open connection", |v| v.open_connections() == 0);
    assert_eq!(
        v.metric("vigil_component_errors_total", "reason=\"frame_timeout\""),
        1.0
    );
    // what the dripper did send is kept
    assert_eq!(v.wait_count("process.name:slowloris", 1), 1);
    // and a sender that writes whole lines is served as before
    let mut good = connect_from("127.0.0.1", v.syslog);
    good.write_all(sshd_line("goodsender", 0).as_bytes())
        .unwrap();
    assert_eq!(v.wait_count("host.name:goodsender", 1), 1);
    v.stop();
}

#[test]
fn one_ip_cannot_take_every_slot() {
    let v = Vigil::start("max_connections: 64, max_connections_per_ip: 8");
    // a quiet host, connected first: the longest-idle connection of all
    let mut quiet = connect_from("127.0.0.30", v.syslog);
    v.wait_until("1 open connection", |v| v.open_connections() == 1);
    // one greedy host opens as many connections as there are slots
    let mut greedy = Vec::new();
    for _ in 0..64 {
        greedy.push(connect_from("127.0.0.20", v.syslog));
    }
    // it only ever displaces its own connections: 8 of its own stay open, plus the quiet one
    v.wait_until("56 per-address evictions", |v| {
        v.error_count("evicted_per_ip") == 56
    });
    v.wait_until("9 open connections", |v| v.open_connections() == 9);
    assert_eq!(v.error_count("evicted"), 0);
    assert!(!closed_by_server(&quiet), "the quiet host was pushed out");
    assert_eq!(
        greedy.iter().filter(|s| !closed_by_server(s)).count(),
        8,
        "the greedy host holds more than its limit"
    );
    quiet
        .write_all(sshd_line("quiethost", 0).as_bytes())
        .unwrap();
    assert_eq!(v.wait_count("host.name:quiethost", 1), 1);
    // the other 55 slots are free for everyone else
    let mut others: Vec<TcpStream> = (40..47)
        .flat_map(|h| (0..7).map(move |_| h))
        .map(|h| connect_from(&format!("127.0.0.{h}"), v.syslog))
        .collect();
    for (i, s) in others.iter_mut().enumerate() {
        s.write_all(sshd_line("otherhost", i as u32).as_bytes())
            .unwrap();
    }
    assert_eq!(v.wait_count("host.name:otherhost", 49), 49);
    assert_eq!(v.error_count("evicted"), 0);
    drop(greedy);
    v.stop();
}
