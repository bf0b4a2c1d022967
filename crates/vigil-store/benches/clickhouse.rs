//! ClickHouse vs the embedded store over the shared syslog corpus: ingest events/s, bytes per
//! event on disk, needle and `count by` latency, and the ClickHouse/embedded ratios.
//!
//! ```text
//! python3 ../shared/bench/gen_syslog.py --lines 1000000 --seed 42 --format wire --out /dev/shm/vigil-corpus.log
//! cargo bench -p vigil-store --features clickhouse --bench clickhouse -- [--corpus PATH] [--lines N]
//! ```
//! Events are built as in the `store` bench (a minimal header split plus a few extractions).
//! Starts its own clickhouse-server (the `clickhouse` test helper); skips (exit 0) when the
//! corpus or the server binary is missing.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::disallowed_methods
)]

use std::io::BufRead;
use std::path::PathBuf;
use std::time::{Duration, Instant};

mod common;

use common::{build, median};
use vigil_event::Event;
use vigil_store::clickhouse::local::{LocalServer, find_binary};
use vigil_store::clickhouse::{ClickHouseConfig, ClickHouseStore};
use vigil_store::embedded::{EmbeddedConfig, EmbeddedStore};
use vigil_store::{AggregateRequest, EventStore, SearchRequest, TenantId};

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn time_queries(
    store: &dyn EventStore,
    t: &TenantId,
    queries: &[(String, bool)],
) -> Vec<(Duration, usize)> {
    queries
        .iter()
        .map(|(q, agg)| {
            let mut times = Vec::new();
            let mut n = 0;
            for _ in 0..5 {
                let s = Instant::now();
                n = if *agg {
                    store
                        .aggregate(t, &AggregateRequest::parse(q).unwrap())
                        .unwrap()
                        .table
                        .rows
                        .len()
                } else {
                    store
                        .search(t, &SearchRequest::parse(q, 100).unwrap())
                        .unwrap()
                        .events
                        .len()
                };
                times.push(s.elapsed());
            }
            (median(times), n)
        })
        .collect()
}

fn main() {
    let corpus =
        PathBuf::from(arg("--corpus").unwrap_or_else(|| "/dev/shm/vigil-corpus.log".into()));
    let max: usize = arg("--lines").map_or(1_000_000, |s| s.parse().unwrap());
    let Ok(f) = std::fs::File::open(&corpus) else {
        eprintln!("SKIPPED: corpus {} missing", corpus.display());
        return;
    };
    if find_binary().is_none() {
        eprintln!("SKIPPED: clickhouse-server not installed");
        return;
    }
    let lines: Vec<Vec<u8>> = std::io::BufReader::new(f)
        .split(b'\n')
        .take(max)
        .map(|l| l.unwrap())
        .collect();
    let raw_bytes: usize = lines.iter().map(|l| l.len()).sum();
    let events: Vec<Event> = lines.iter().map(|l| build(l)).collect();
    let n = events.len();
    println!(
        "corpus: {n} lines, {:.1} B/line",
        raw_bytes as f64 / n as f64
    );
    let t = TenantId::main();

    let dir = tempfile::tempdir().unwrap();
    let emb = EmbeddedStore::open(EmbeddedConfig::new(dir.path().join("embedded"))).unwrap();
    let s = Instant::now();
    for chunk in events.chunks(10_000) {
        emb.append(&t, chunk).unwrap();
    }
    emb.flush(&t).unwrap();
    let emb_ingest = s.elapsed();
    let emb_bytes = emb.stats(&t).unwrap().bytes_on_disk;

    let server = LocalServer::start(&dir.path().join("clickhouse")).unwrap();
    let mut cfg = ClickHouseConfig::new(server.url.clone());
    cfg.insert_batch = 100_000;
    let ch = ClickHouseStore::open(cfg).unwrap();
    let s = Instant::now();
    for chunk in events.chunks(100_000) {
        ch.append(&t, chunk).unwrap();
    }
    let ch_ingest = s.elapsed();
    ch.optimize().unwrap();
    let (ch_bytes, ch_rows) = ch.disk_usage().unwrap();
    assert_eq!(ch_rows as usize, n);

    let ip = lines.iter().rev().find_map(|l| {
        let s = std::str::from_utf8(l).ok()?;
        let i = s.find("SRC=")?;
        Some(s[i + 4..].split(' ').next()?.to_owned())
    });
    let queries: Vec<(String, bool)> = vec![
        (
            format!("source.ip:{}", ip.unwrap_or_else(|| "10.0.0.1".into())),
            false,
        ),
        ("user.name:oracle".into(), false),
        ("zgrab".into(), false),
        ("process.name:sshd \"Failed password\"".into(), false),
        ("| count by process.name".into(), true),
        ("event.outcome:failure | count by user.name".into(), true),
    ];
    let e = time_queries(&emb, &t, &queries);
    let c = time_queries(&ch, &t, &queries);
    println!("clickhouse {} ({:?})", ch.server_version(), ch.dialect());
    println!("| measure | embedded | clickhouse | ch/embedded |");
    println!("|---|---|---|---|");
    let eps = |d: Duration| n as f64 / d.as_secs_f64();
    println!(
        "| ingest events/s | {:.0} | {:.0} | {:.2} |",
        eps(emb_ingest),
        eps(ch_ingest),
        eps(ch_ingest) / eps(emb_ingest)
    );
    println!(
        "| bytes/event on disk | {:.1} | {:.1} | {:.2} |",
        emb_bytes as f64 / n as f64,
        ch_bytes as f64 / n as f64,
        ch_bytes as f64 / emb_bytes as f64
    );
    for ((q, _), ((et, en), (ct, cn))) in queries.iter().zip(e.iter().zip(&c)) {
        assert_eq!(en, cn, "{q}: result sizes differ");
        println!(
            "| `{q}` ({en} results) | {:.1} ms | {:.1} ms | {:.1} |",
            et.as_secs_f64() * 1e3,
            ct.as_secs_f64() * 1e3,
            ct.as_secs_f64() / et.as_secs_f64()
        );
    }
    drop(ch);
    drop(server);
}
