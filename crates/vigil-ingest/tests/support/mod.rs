//! Shared by the NATS and forwarding tests: a `nats-server -js` of the test's own on a free
//! port (the machine's server on 4222 may be in use by others), and a pipeline collecting
//! what reaches its destination.

#![allow(dead_code)]

pub mod cpu;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use vigil_event::Event;
use vigil_pipeline::{
    Chain, ComponentError, Connector, Destination, Normalizer, PipelineBuilder, PipelineOptions,
    RawRecord, RunningPipeline, SourceChain, SourceInfo, Telemetry,
};

/// A free TCP port on 127.0.0.1, never the same twice in one test binary (the kernel may hand
/// a port it just freed to the next `bind(0)`, and tests running side by side would collide).
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut given = GIVEN
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    loop {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
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

/// A `nats-server -js` with its store in `dir`, killed on drop.
pub struct NatsServer {
    pub port: u16,
    pub dir: PathBuf,
    child: Option<Child>,
}

impl NatsServer {
    /// `None` (and the test returns) when nats-server is not installed.
    pub fn start(dir: &Path) -> Option<NatsServer> {
        let found = Command::new("nats-server")
            .arg("--version")
            .stdout(Stdio::null())
            .status()
            .is_ok();
        if !vigil_testkit::tool_available("nats-server", found, "apt-get install nats-server") {
            return None;
        }
        let mut s = NatsServer {
            port: free_port(),
            dir: dir.to_path_buf(),
            child: None,
        };
        s.restart();
        Some(s)
    }

    /// Starts the server (again, same port and store) and waits until it accepts.
    pub fn restart(&mut self) {
        let child = Command::new("nats-server")
            .args([
                "-js",
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-sd",
            ])
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("nats-server did not start on port {}", self.port);
    }

    /// Kills the server (SIGKILL: no goodbye to clients).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Keeps the record as the event's message.
pub struct Raw;
impl Normalizer for Raw {
    fn normalize(&self, source: &SourceInfo, rec: RawRecord, out: &mut Vec<Event>) {
        let mut e = Event::from_raw(source, rec);
        e.message = Some(String::from_utf8_lossy(&e.raw).into_owned().into());
        out.push(e);
    }
}

/// Collects the raw records it is given.
#[derive(Clone, Default)]
pub struct Collect(pub Arc<Mutex<Vec<String>>>);
impl Destination for Collect {
    fn write(&mut self, events: &[Event]) -> Result<(), ComponentError> {
        self.0.lock().unwrap().extend(
            events
                .iter()
                .map(|e| String::from_utf8_lossy(&e.raw).into_owned()),
        );
        Ok(())
    }
    fn flush(&mut self) -> Result<(), ComponentError> {
        Ok(())
    }
}

/// A pipeline from `connector` (source `src`) to `destination`.
pub fn pipeline(
    connector: Box<dyn Connector>,
    destination: Box<dyn Destination>,
    telemetry: &Telemetry,
) -> RunningPipeline {
    let mut b = PipelineBuilder::new(PipelineOptions::default(), telemetry.clone());
    let src = SourceInfo {
        id: "src".into(),
        tenant: "main".into(),
        collector: "t".into(),
    };
    b.connector(connector, src);
    let t = telemetry.clone();
    b.chain(move || {
        let mut c = Chain::default();
        c.sources.insert(
            "src".into(),
            SourceChain {
                normalizer: (Arc::new(Raw), t.component("normalizer", "src")),
                time_policy: Default::default(),
                transforms: Vec::new(),
            },
        );
        c
    });
    b.destination("out", destination);
    b.start().unwrap()
}

/// Waits (bounded by `limit`) until `f` holds.
pub async fn wait_for(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let until = std::time::Instant::now() + limit;
    while std::time::Instant::now() < until {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    f()
}

/// How often each of `ids` occurs in `got`, and the ids missing.
pub fn count_ids(
    got: &[String],
    key: impl Fn(&str) -> Option<String>,
) -> std::collections::HashMap<String, usize> {
    let mut m = std::collections::HashMap::new();
    for g in got {
        if let Some(k) = key(g) {
            *m.entry(k).or_insert(0) += 1;
        }
    }
    m
}
