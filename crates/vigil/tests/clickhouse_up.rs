//! `vigil up` on ClickHouse, as a user runs it: a real `clickhouse-server` started by the test
//! on free loopback ports, `vigil up` with `storage.type: clickhouse`, 200,000 lines of the
//! shared syslog corpus (generated here with its ground truth) over TCP, and `vigil search`
//! through the API and directly against the server, checked against the generator's counts.
//! Skipped (with a message) only when `clickhouse-server` is not installed; CI installs it.
//! No timing assertions: waits are bounded polls.

#![allow(
    clippy::disallowed_methods,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)] // test code: small files it wrote itself; a failed step fails the test

mod support;
use support::free_port;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use vigil_store::clickhouse::local::{LocalServer, find_binary};

const LINES: u64 = 200_000;

fn clickhouse(dir: &Path) -> Option<LocalServer> {
    if !vigil_testkit::tool_available(
        "clickhouse-server",
        find_binary().is_some(),
        "apt-get install clickhouse-server, or set VIGIL_CLICKHOUSE_SERVER",
    ) {
        return None;
    }
    Some(LocalServer::start(&dir.join("clickhouse")).expect("clickhouse-server starts"))
}

/// `vigil up`, stopped (SIGTERM, then waited for) when dropped.
struct Vigil {
    child: Option<Child>,
    log: PathBuf,
}

impl Vigil {
    fn start(config: &Path, log: PathBuf, http: SocketAddr) -> Vigil {
        let child = Command::new(env!("CARGO_BIN_EXE_vigil"))
            .arg("up")
            .arg("--config")
            .arg(config)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let mut v = Vigil {
            child: Some(child),
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while !health(http) {
            if let Some(c) = v.child.as_mut()
                && let Ok(Some(status)) = c.try_wait()
            {
                panic!("vigil up exited with {status}: {}", v.log_text());
            }
            assert!(
                Instant::now() < deadline,
                "vigil did not come up: {}",
                v.log_text()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        v
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &c.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(60);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Vigil {
    fn drop(&mut self) {
        self.stop();
    }
}

fn health(http: SocketAddr) -> bool {
    let Ok(mut s) = TcpStream::connect_timeout(&http, Duration::from_secs(2)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let req = format!("GET /health HTTP/1.1\r\nHost: {http}\r\nConnection: close\r\n\r\n");
    if s.write_all(req.as_bytes()).is_err() {
        return false;
    }
    let mut buf = String::new();
    let _ = s.read_to_string(&mut buf);
    buf.starts_with("HTTP/1.1 200")
}

fn vigil(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(args)
        .output()
        .unwrap()
}

/// `vigil search ARGS -f json` -> the single number of a `| count` table.
fn count(args: &[&str]) -> u64 {
    let mut all = vec!["search", "--format", "json"];
    all.extend_from_slice(args);
    let out = vigil(&all);
    assert!(
        out.status.success(),
        "vigil {all:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // one JSON object per row: `{"count":N}`; no row before the first event
    let text = String::from_utf8_lossy(&out.stdout);
    let Some(line) = text.lines().next() else {
        return 0;
    };
    let v: serde_json::Value =
        serde_json::from_str(line).unwrap_or_else(|e| panic!("vigil {all:?} printed {text}: {e}"));
    number(&v).unwrap_or_else(|| panic!("no count in {v}"))
}

fn number(v: &serde_json::Value) -> Option<u64> {
    match v {
        serde_json::Value::Number(n) => n.as_u64(),
        serde_json::Value::Array(a) => a.iter().find_map(number),
        serde_json::Value::Object(o) => o
            .get("count")
            .and_then(number)
            .or_else(|| o.values().find_map(number)),
        _ => None,
    }
}

#[test]
fn vigil_up_on_clickhouse_stores_and_finds_every_generated_line() {
    let dir = tempfile::tempdir().unwrap();
    let Some(server) = clickhouse(dir.path()) else {
        return;
    };

    // the corpus and its ground truth
    let gen_cfg = vigil_gen_syslog::Config {
        lines: LINES,
        seed: 42,
        format: vigil_gen_syslog::Format::Wire,
        rfc5424_ratio: 0.3,
        eps: 200.0,
        start_us: vigil_gen_syslog::pytime::parse_isoformat("2024-05-01T00:00:00").unwrap(),
    };
    let mut corpus = Vec::with_capacity(LINES as usize * 200);
    let meta = vigil_gen_syslog::generate(&gen_cfg, &mut corpus, |_| {}).unwrap();
    assert_eq!(meta.lines, LINES);
    let sshd: u64 = meta
        .counts
        .iter()
        .filter(|(name, _)| name.starts_with("sshd_"))
        .map(|(_, n)| n)
        .sum();
    assert!(sshd > 0);

    let data = dir.path().join("data");
    let syslog: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let http: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let config = dir.path().join("vigil.yaml");
    std::fs::write(dir.path().join("ch-password"), "\n").unwrap();
    std::fs::write(
        &config,
        format!(
            "version: 1\n\
             data_dir: {data}\n\
             api: {{ listen: {http} }}\n\
             collectors:\n  - id: syslog\n    connector: {{ type: syslog, tcp: {syslog} }}\n    normalizer: {{ type: syslog, timezone: UTC }}\n\
             pipeline: {{ batch_events: 65536, batch_linger: 200ms }}\n\
             storage:\n  type: clickhouse\n  url: {url}\n  database: vigil_up_test\n  user: default\n  password: \"${{file:ch-password}}\"\n",
            data = data.display(),
            url = server.url,
        ),
    )
    .unwrap();

    // `vigil validate` asks the server
    let out = vigil(&["validate", "-c", config.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("ClickHouse 18.")
            || String::from_utf8_lossy(&out.stdout).contains("ClickHouse"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    let mut v = Vigil::start(&config, dir.path().join("vigil.log"), http);
    {
        let mut s = TcpStream::connect(syslog).unwrap();
        s.write_all(&corpus).unwrap();
        s.flush().unwrap();
    }
    // through the API (a running vigil owns the data directory)
    let data_arg = data.to_str().unwrap();
    // bounded: give up when nothing new arrives for 2 minutes, or after 30 minutes in all (a
    // debug build on a loaded 2-core machine stores a few thousand lines a second)
    let started = Instant::now();
    let (mut n, mut last_progress) = (0, Instant::now());
    while started.elapsed() < Duration::from_secs(1800)
        && last_progress.elapsed() < Duration::from_secs(120)
    {
        let now = count(&["--data-dir", data_arg, "vigil.type:base | count"]);
        if now > n {
            n = now;
            last_progress = Instant::now();
        }
        if n >= LINES {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    eprintln!(
        "{n} events stored and counted in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(n, LINES, "events stored; log: {}", v.log_text());
    assert_eq!(
        count(&["--data-dir", data_arg, "process.name:sshd | count"]),
        sshd
    );
    // store metrics per tenant, from ClickHouse
    let metrics = {
        let token = std::fs::read_to_string(data.join("api-token")).unwrap();
        let mut s = TcpStream::connect(http).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let req = format!(
            "GET /metrics HTTP/1.1\r\nHost: {http}\r\nAuthorization: Bearer {}\r\nConnection: close\r\n\r\n",
            token.trim()
        );
        s.write_all(req.as_bytes()).unwrap();
        let mut buf = String::new();
        let _ = s.read_to_string(&mut buf);
        buf
    };
    // the tenant also holds the core's audit events (the first administrator)
    let audit = count(&["--data-dir", data_arg, "vigil.type:audit | count"]);
    assert!(
        metrics.contains(&format!(
            "vigil_store_events{{tenant=\"main\"}} {}",
            LINES + audit
        )),
        "{metrics}"
    );
    v.stop();

    // directly against the server, with the configuration (no vigil running)
    let cfg_arg = config.to_str().unwrap();
    assert_eq!(
        count(&["--config", cfg_arg, "vigil.type:base | count"]),
        LINES
    );
    assert_eq!(
        count(&["--config", cfg_arg, "process.name:sshd | count"]),
        sshd
    );

    // a server that does not answer: `vigil validate` names the key
    drop(server);
    let out = vigil(&["validate", "-c", cfg_arg]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("storage.url: ClickHouse at"), "{err}");
}
