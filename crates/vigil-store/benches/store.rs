//! End-to-end store benchmark over the shared syslog corpus.
//!
//! ```text
//! python3 ../shared/bench/gen_syslog.py --lines 1000000 --seed 42 --format wire --out /dev/shm/vigil-corpus.log
//! cargo bench -p vigil-store --bench store -- [--corpus PATH] [--level 1] [--batch 1000] [--lines N] [--dir DIR] [--key-file F]
//! ```
//! `--key-file F` turns on encryption at rest with the keyring in F (mode 0600).
//! Measures: append + seal CPU per event (process CPU of a run that builds and appends, minus a
//! run that only builds), events/s, bytes on disk per event, and the latency of needle queries
//! and `count by process.name` over everything appended. Skips (exit 0) when the corpus is
//! missing.

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
use vigil_store::embedded::{EmbeddedConfig, EmbeddedStore};
use vigil_store::{AggregateRequest, EventStore, SearchRequest, TenantId};

struct Args {
    corpus: PathBuf,
    level: i32,
    batch: usize,
    lines: usize,
    dir: PathBuf,
    ingest_only: bool,
    key_file: Option<PathBuf>,
}

fn args() -> Args {
    let mut a = Args {
        corpus: std::env::var_os("VIGIL_CORPUS")
            .map_or("/dev/shm/vigil-corpus.log".into(), PathBuf::from),
        level: 1,
        batch: 1000,
        lines: usize::MAX,
        dir: std::env::temp_dir(),
        ingest_only: false,
        key_file: None,
    };
    let v: Vec<String> = std::env::args().collect();
    let mut i = 1;
    while i < v.len() {
        let val = v.get(i + 1).cloned().unwrap_or_default();
        match v[i].as_str() {
            "--corpus" => a.corpus = val.into(),
            "--level" => a.level = val.parse().expect("--level N"),
            "--batch" => a.batch = val.parse().expect("--batch N"),
            "--lines" => a.lines = val.parse().expect("--lines N"),
            "--dir" => a.dir = val.into(),
            "--key-file" => a.key_file = Some(val.into()),
            "--ingest-only" => {
                a.ingest_only = true;
                i += 1;
                continue;
            }
            _ => {
                i += 1;
                continue;
            }
        }
        i += 2;
    }
    a
}

/// Process CPU time (user + system) from /proc/self/stat.
fn cpu() -> Duration {
    let s = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let rest = s.rsplit_once(") ").map(|x| x.1).unwrap_or("");
    let f: Vec<&str> = rest.split(' ').collect();
    let ticks: u64 = f.get(11).and_then(|x| x.parse().ok()).unwrap_or(0)
        + f.get(12).and_then(|x| x.parse().ok()).unwrap_or(0);
    Duration::from_millis(ticks * 10)
}

fn read_lines(a: &Args) -> Option<Vec<Vec<u8>>> {
    let f = match std::fs::File::open(&a.corpus) {
        Ok(f) => f,
        Err(e) => {
            eprintln!(
                "SKIPPED: corpus {} not readable ({e}); generate it with \
                 python3 ../shared/bench/gen_syslog.py --lines 1000000 --seed 42 --format wire --out {}",
                a.corpus.display(),
                a.corpus.display()
            );
            return None;
        }
    };
    let lines: Vec<Vec<u8>> = std::io::BufReader::with_capacity(1 << 20, f)
        .split(b'\n')
        .map_while(Result::ok)
        .filter(|l| !l.is_empty())
        .take(a.lines)
        .collect();
    Some(lines)
}

fn main() {
    let a = args();
    let Some(lines) = read_lines(&a) else { return };
    let n = lines.len();
    let raw_bytes: usize = lines.iter().map(|l| l.len()).sum();
    println!(
        "corpus: {} lines, {:.1} B/line raw, zstd level {}, batch {}, encryption {}",
        n,
        raw_bytes as f64 / n as f64,
        a.level,
        a.batch,
        if a.key_file.is_some() { "on" } else { "off" }
    );

    // Pass 1: build events only.
    let (c0, w0) = (cpu(), Instant::now());
    let mut sink = 0usize;
    for chunk in lines.chunks(a.batch) {
        let evs: Vec<Event> = chunk.iter().map(|l| build(l)).collect();
        sink += evs.len();
    }
    let build_cpu = cpu() - c0;
    println!(
        "build only: {} events, cpu {:.2?} ({:.2} µs/event), wall {:.2?}",
        sink,
        build_cpu,
        build_cpu.as_secs_f64() * 1e6 / n as f64,
        w0.elapsed()
    );

    // Pass 2: build + append + seal.
    let dir = tempfile::tempdir_in(&a.dir).expect("tempdir");
    let mut cfg = EmbeddedConfig::new(dir.path());
    cfg.zstd_level = a.level;
    cfg.keys = a
        .key_file
        .clone()
        .map(vigil_store::embedded::KeySource::File);
    let store = EmbeddedStore::open(cfg.clone()).expect("open");
    let t = TenantId::main();
    let (c0, w0) = (cpu(), Instant::now());
    let mut append_wall = Duration::ZERO;
    let mut last = 0;
    for chunk in lines.chunks(a.batch) {
        let evs: Vec<Event> = chunk.iter().map(|l| build(l)).collect();
        let s = Instant::now();
        last = store.append(&t, &evs).expect("append");
        append_wall += s.elapsed();
    }
    let ingest_wall = w0.elapsed();
    store.flush(&t).expect("flush");
    let total_wall = w0.elapsed();
    let total_cpu = cpu() - c0;
    let store_cpu = total_cpu.saturating_sub(build_cpu);
    let st = store.stats(&t).expect("stats");
    println!(
        "append: {} events (last LSN {last}), ingest wall {:.2?} ({:.0} events/s incl. building), \
              append calls wall {:.2?} ({:.2} µs/event on the caller)",
        st.events,
        ingest_wall,
        n as f64 / ingest_wall.as_secs_f64(),
        append_wall,
        append_wall.as_secs_f64() * 1e6 / n as f64
    );
    println!(
        "append+seal: total cpu {:.2?} - build {:.2?} = {:.2?} → {:.2} µs/event store CPU; wall incl. final seal {:.2?}",
        total_cpu,
        build_cpu,
        store_cpu,
        store_cpu.as_secs_f64() * 1e6 / n as f64,
        total_wall
    );
    println!(
        "disk: {} segments, {} bytes = {:.1} B/event (index {:.1} B/event) ({:.1}% of raw {:.1} B/event), WAL {} bytes",
        st.segments,
        st.segment_bytes,
        st.segment_bytes as f64 / n as f64,
        st.index_bytes as f64 / n as f64,
        100.0 * st.segment_bytes as f64 / raw_bytes as f64,
        raw_bytes as f64 / n as f64,
        st.wal_bytes
    );
    drop(store);
    if a.ingest_only {
        return;
    }

    // Reopen (recovery time) and query.
    let w = Instant::now();
    let store = EmbeddedStore::open(cfg).expect("reopen");
    println!("reopen: {:.2?}", w.elapsed());
    // Needles taken from the corpus itself.
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
        ("\"/wp-login.php\"".into(), false),
        ("process.name:sshd \"Failed password\"".into(), false),
        ("| count by process.name".into(), true),
        ("event.outcome:failure | count by user.name".into(), true),
    ];
    for (q, agg) in queries {
        let mut times = Vec::new();
        let mut summary = String::new();
        for _ in 0..5 {
            let s = Instant::now();
            if agg {
                let r = store
                    .aggregate(&t, &AggregateRequest::parse(&q).expect("parses"))
                    .expect("aggregate");
                times.push(s.elapsed());
                let total: i64 = r
                    .table
                    .rows
                    .iter()
                    .filter_map(|row| match row.cells.last() {
                        Some(Some(vigil_query::Value::Int(n))) => Some(*n),
                        _ => None,
                    })
                    .sum();
                summary = format!(
                    "{} rows, sum {total}; blocks {}/{} read, {} decoded",
                    r.table.rows.len(),
                    r.stats.blocks_read,
                    r.stats.blocks_total,
                    r.stats.events_decoded
                );
            } else {
                let r = store
                    .search(&t, &SearchRequest::parse(&q, 100).expect("parses"))
                    .expect("search");
                times.push(s.elapsed());
                summary = format!(
                    "{} hits (limit 100); blocks {} read / {} pruned / {} total, {} decoded",
                    r.events.len(),
                    r.stats.blocks_read,
                    r.stats.blocks_pruned,
                    r.stats.blocks_total,
                    r.stats.events_decoded
                );
            }
        }
        let n_count = if agg {
            String::new()
        } else {
            let s = Instant::now();
            let r = store
                .aggregate(
                    &t,
                    &AggregateRequest::parse(&format!("{q} | count")).expect("parses"),
                )
                .expect("count");
            let took = s.elapsed();
            let n = match r
                .table
                .rows
                .first()
                .and_then(|row| row.cells.first().cloned().flatten())
            {
                Some(vigil_query::Value::Int(n)) => n,
                _ => 0,
            };
            format!(
                "; `| count` = {n} in {took:.2?} ({} decoded)",
                r.stats.events_decoded
            )
        };
        println!(
            "query {q:<45} median {:>9.2?} (min {:.2?}) {summary}{n_count}",
            median(times.clone()),
            times.iter().min().copied().unwrap_or_default()
        );
    }
}
