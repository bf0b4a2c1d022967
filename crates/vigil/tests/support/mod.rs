//! A `vigil up` process for the hardening tests: free ports on 127.0.0.1, a temporary data
//! directory, bounded waits, and a stop that waits for the process to exit.

#![allow(
    dead_code,
    clippy::disallowed_methods,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub mod api;

pub fn vigil() -> Command {
    Command::new(env!("CARGO_BIN_EXE_vigil"))
}

/// A port on 127.0.0.1 that nothing listens on, never the same twice in one test binary: the
/// kernel may hand a port it just freed to the next `bind(0)`, and tests running side by side
/// would then start two listeners on it.
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut given = GIVEN
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

pub fn tmp() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("vigil-hardening")
        .tempdir()
        .unwrap()
}

pub struct Vigil {
    pub child: Child,
    pub data: PathBuf,
    pub syslog: SocketAddr,
    pub http: SocketAddr,
    pub token: String,
}

impl Vigil {
    /// Starts `vigil up` on `data`, with `config` when given, and waits (at most 60 s) until
    /// its API answers.
    pub fn start(data: &Path, config: Option<&Path>) -> Vigil {
        let syslog: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let http: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let mut child = up(data, config, syslog, http)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(data.with_extension("log")).unwrap())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if http_get(http, "/health", None).is_ok_and(|(s, _)| s == 200) {
                break;
            }
            if let Some(status) = child.try_wait().unwrap() {
                panic!(
                    "vigil exited with {status}: {}",
                    std::fs::read_to_string(data.with_extension("log")).unwrap_or_default()
                );
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "vigil did not come up; see {}",
                    data.with_extension("log").display()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let token = std::fs::read_to_string(data.join("api-token"))
            .unwrap()
            .trim()
            .to_owned();
        Vigil {
            child,
            data: data.to_path_buf(),
            syslog,
            http,
            token,
        }
    }

    /// A search through the API; `from`/`to` are left out of the request when `None`.
    pub fn search_range(&self, q: &str, from: Option<&str>, to: Option<&str>) -> Value {
        let mut body = serde_json::json!({ "q": q, "limit": 10000 });
        if let Some(f) = from {
            body["from"] = f.into();
        }
        if let Some(t) = to {
            body["to"] = t.into();
        }
        let (status, text) =
            http_post(self.http, "/api/v1/search", &self.token, &body.to_string()).unwrap();
        assert_eq!(status, 200, "{q}: {text}");
        serde_json::from_str(&text).unwrap()
    }

    pub fn count(&self, q: &str) -> u64 {
        let t = self.search_range(&format!("{q} | count"), None, None);
        t["rows"][0][0].as_u64().unwrap_or(0)
    }

    /// Waits (at most 60 s) until `q` counts at least `want` events.
    pub fn wait_count(&self, q: &str, want: u64) -> u64 {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let n = self.count(q);
            if n >= want || Instant::now() > deadline {
                return n;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn metrics(&self) -> String {
        http_get(self.http, "/metrics", Some(&self.token))
            .unwrap()
            .1
    }

    /// Sends lines over one TCP connection (LF framing).
    pub fn send_tcp(&self, lines: &[&str]) {
        let mut s = TcpStream::connect(self.syslog).unwrap();
        for l in lines {
            s.write_all(l.as_bytes()).unwrap();
            s.write_all(b"\n").unwrap();
        }
    }

    /// SIGTERM, then waits (at most 60 s) for the exit.
    pub fn stop(mut self) {
        Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.child.try_wait().unwrap().is_none() {
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("vigil did not stop on SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// The `vigil up` command line for `data` (and `config`), listening on the given addresses.
pub fn up(data: &Path, config: Option<&Path>, syslog: SocketAddr, http: SocketAddr) -> Command {
    let mut cmd = vigil();
    cmd.args(["up", "--data-dir"]).arg(data);
    if let Some(c) = config {
        cmd.arg("--config").arg(c);
    }
    cmd.args([
        "--syslog-addr",
        &syslog.to_string(),
        "--http-addr",
        &http.to_string(),
    ]);
    cmd
}

/// Runs `vigil up` expecting it to refuse to start: returns its output once it exits (killed
/// after 60 s if it starts instead).
pub fn up_refused(data: &Path, config: Option<&Path>) -> Output {
    let syslog: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let http: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let mut child = up(data, config, syslog, http)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

fn http(addr: SocketAddr, req: String) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(60)))?;
    s.write_all(req.as_bytes())?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf)?;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok((status, body))
}

pub fn http_get(
    addr: SocketAddr,
    path: &str,
    token: Option<&str>,
) -> std::io::Result<(u16, String)> {
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    http(
        addr,
        format!("GET {path} HTTP/1.1\r\nHost: x\r\n{auth}Connection: close\r\n\r\n"),
    )
}

pub fn http_post(
    addr: SocketAddr,
    path: &str,
    token: &str,
    body: &str,
) -> std::io::Result<(u16, String)> {
    http(
        addr,
        format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    )
}
