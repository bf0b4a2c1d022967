//! NATS consume rate and the disk buffer's write and drain rates, one run each, in events per
//! CPU-second of this process (the nats-server is another process) and per wall second.
//!
//! `cargo bench -p vigil-ingest --bench bus -- [EVENTS]` (default 200,000); needs `nats-server`.
//! Prints `RESULT` lines and the load average before each run.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_nats::jetstream;
use vigil_config::{NatsAuth, NatsConfig};
use vigil_event::Event;
use vigil_ingest::nats::NatsConnector;
use vigil_pipeline::{
    Chain, ComponentError, ComponentMetrics, Destination, DiskBuffer, Normalizer, PipelineBuilder,
    PipelineOptions, RawRecord, SourceChain, SourceInfo, Telemetry,
};

/// CPU seconds (user + system) of this process, from /proc/self/stat.
fn cpu() -> f64 {
    let s = String::from_utf8(
        vigil_config::read_file_capped(std::path::Path::new("/proc/self/stat"), 4096).unwrap(),
    )
    .unwrap();
    let rest = &s[s.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    let ticks: f64 = f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap();
    ticks / 100.0
}

fn loadavg() -> String {
    vigil_config::read_file_capped(std::path::Path::new("/proc/loadavg"), 256)
        .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
        .unwrap_or_default()
}

fn line(i: usize) -> String {
    format!(
        "<34>1 2026-12-07T10:00:00.000Z host-{} sshd 4242 - - Failed password for invalid user admin{} from 10.0.{}.{} port {} ssh2",
        i % 50,
        i % 1000,
        (i / 256) % 256,
        i % 256,
        1024 + i % 60000
    )
}

struct Raw;
impl Normalizer for Raw {
    fn normalize(&self, source: &SourceInfo, rec: RawRecord, out: &mut Vec<Event>) {
        out.push(Event::from_raw(source, rec));
    }
}

#[derive(Clone, Default)]
struct Count(Arc<AtomicU64>, Arc<AtomicBool>);
impl Destination for Count {
    fn write(&mut self, events: &[Event]) -> Result<(), ComponentError> {
        if self.1.load(Ordering::SeqCst) {
            return Err(ComponentError {
                component: "count".into(),
                message: "down".into(),
            });
        }
        self.0.fetch_add(events.len() as u64, Ordering::SeqCst);
        Ok(())
    }
    fn flush(&mut self) -> Result<(), ComponentError> {
        Ok(())
    }
}

async fn nats(n: usize) {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut server = Command::new("nats-server")
        .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
        .arg(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("nats-server");
    let url = format!("nats://127.0.0.1:{port}");
    let client = loop {
        if let Ok(c) = async_nats::connect(&url).await {
            break c;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let js = jetstream::new(client);
    js.create_stream(jetstream::stream::Config {
        name: "BENCH".into(),
        subjects: vec!["bench.>".into()],
        storage: jetstream::stream::StorageType::File,
        ..Default::default()
    })
    .await
    .unwrap();
    let mut acks = Vec::new();
    for i in 0..n {
        acks.push(js.publish("bench.x", line(i).into()).await.unwrap());
        if acks.len() >= 5000 {
            for a in acks.drain(..) {
                a.await.unwrap();
            }
        }
    }
    for a in acks.drain(..) {
        a.await.unwrap();
    }
    eprintln!("nats: {n} messages published; load average {}", loadavg());

    let tel = Telemetry::new();
    let count = Count::default();
    let got = count.0.clone();
    let mut b = PipelineBuilder::new(PipelineOptions::default(), tel.clone());
    let src = SourceInfo {
        id: "bus".into(),
        tenant: "main".into(),
        collector: "bench".into(),
    };
    b.connector(
        Box::new(NatsConnector::new(NatsConfig {
            url: url.clone(),
            auth: NatsAuth::None,
            ca: None,
            stream: "BENCH".into(),
            consumer: "vigil".into(),
            subject: None,
            batch_size: 512,
            max_in_flight: 8,
            ack_wait: Duration::from_secs(30),
            dedup_ids: 100_000,
            state_dir: Default::default(),
        })),
        src,
    );
    let t = tel.clone();
    b.chain(move || {
        let mut c = Chain::default();
        c.sources.insert(
            "bus".into(),
            SourceChain {
                normalizer: (Arc::new(Raw), t.component("normalizer", "bus")),
                time_policy: Default::default(),
                transforms: Vec::new(),
            },
        );
        c
    });
    b.destination("count", Box::new(count));
    let (c0, t0) = (cpu(), Instant::now());
    let running = b.start().unwrap();
    while got.load(Ordering::SeqCst) < n as u64 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // every acknowledgement sent
    while tel
        .component("connector", "bus")
        .gauge("in_flight")
        .load(Ordering::SeqCst)
        > 0
    {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let (c1, t1) = (cpu(), t0.elapsed().as_secs_f64());
    running.stop().await.unwrap();
    let _ = server.kill();
    let _ = server.wait();
    println!(
        "RESULT nats consume: {n} events in {t1:.2} s wall ({:.0}/s), {:.2} CPU-s ({:.0} events per CPU-second)",
        n as f64 / t1,
        c1 - c0,
        n as f64 / (c1 - c0)
    );
}

fn buffer(n: usize) {
    let dir = tempfile::tempdir().unwrap();
    let count = Count::default();
    count.1.store(true, Ordering::SeqCst);
    let m = ComponentMetrics::detached("destination", "bench");
    let mut b = DiskBuffer::open(dir.path(), 4 << 30, Box::new(count.clone()), m.clone()).unwrap();
    let batches: Vec<Vec<Event>> = (0..n)
        .step_by(1000)
        .map(|s| {
            (s..(s + 1000).min(n))
                .map(|i| Event::new(bytes::Bytes::from(line(i))))
                .collect()
        })
        .collect();
    eprintln!("buffer: load average {}", loadavg());
    let (c0, t0) = (cpu(), Instant::now());
    for batch in &batches {
        b.write(batch).unwrap();
    }
    let (c1, t1) = (cpu(), t0.elapsed().as_secs_f64());
    let bytes = m.gauge("buffer_bytes").load(Ordering::SeqCst);
    println!(
        "RESULT disk buffer write: {n} events ({:.1} MiB, batches of 1000, fdatasync each) in {t1:.2} s ({:.0}/s), {:.2} CPU-s ({:.0} events per CPU-second)",
        bytes as f64 / 1048576.0,
        n as f64 / t1,
        c1 - c0,
        n as f64 / (c1 - c0)
    );
    // the drain, once the next hop is back: timed from its first batch (before, the drain
    // sits in a retry backoff of up to 5 s, which is not its speed)
    count.1.store(false, Ordering::SeqCst);
    while count.0.load(Ordering::SeqCst) == 0 {
        std::thread::sleep(Duration::from_millis(1));
    }
    let (c0, t0, first) = (cpu(), Instant::now(), count.0.load(Ordering::SeqCst));
    while count.0.load(Ordering::SeqCst) < n as u64 {
        std::thread::sleep(Duration::from_millis(5));
    }
    let (c1, t1) = (cpu(), t0.elapsed().as_secs_f64());
    b.flush().unwrap();
    let k = (n as u64 - first) as f64;
    println!(
        "RESULT disk buffer drain: {k} events in {t1:.2} s ({:.0}/s), {:.2} CPU-s ({:.0} events per CPU-second)",
        k / t1,
        c1 - c0,
        k / (c1 - c0)
    );
}

fn main() {
    let n: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(200_000);
    buffer(n);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(nats(n));
}
