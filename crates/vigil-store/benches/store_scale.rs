//! Store benchmark at scale (10 M, 100 M events) over the shared syslog corpus, streamed from
//! a file through the library (no network): ingest, bytes on disk per event in the hot and the
//! cold tier, needle and `count by` latency in both tiers. Driven by `bench/store_scale.py`.
//!
//! ```text
//! cargo bench -p vigil-store --bench store_scale -- --corpus PATH --dir DIR [--batch 1000]
//!     [--cold-level 9] [--build-sample 1000000] [--stop-after build|ingest|size] [--keep]
//!     [--no-cold] [--ip auto|IP] [--user NAME] [--word W1,W2,auto] [--reps 3]
//!     [--correlation-every N]
//! ```
//! `--correlation-every N` adds a correlation event (an alert of one of 8 rules, built as
//! live detection builds them) after every N-th line, sets the source and collector of every
//! event, and times `process.name:sshd | count` against `vigil.type:correlation | count by
//! rule.name` (Vigil's own metadata as columns, issue 12): 990,000 lines with N = 99 are
//! 1,000,000 stored events.
//! `--stop-after` ends the run early: `build` after building the sample (no store), `ingest`
//! after the ingest and the hot size, `size` after the cold size (no queries). With
//! `perf stat -e instructions:u`, `ingest` minus `build` (same `--build-sample` as the corpus
//! size) is the store's instruction count. `--keep` keeps the store's data directory (under
//! `--dir`) for `vigil storage stats` and other tools.
//! CPU per event is process CPU (user + system, both cores) over the ingest (append and seal,
//! including building the events from lines), minus the CPU of building alone, measured on the
//! first `--build-sample` lines. Skips (exit 0) when the corpus is missing.

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
use vigil_event::Timestamp;
use vigil_store::embedded::{EmbeddedConfig, EmbeddedStore, TierOptions};
use vigil_store::{AggregateRequest, EventStore, SearchRequest, TenantId};

#[derive(Clone)]
struct Args {
    corpus: PathBuf,
    dir: PathBuf,
    batch: usize,
    cold_level: i32,
    build_sample: usize,
    clickhouse: bool,
    no_cold: bool,
    reps: usize,
    ip: String,
    user: String,
    word: String,
    stop_after: String,
    keep: bool,
    correlation_every: u64,
}

fn args() -> Args {
    let mut a = Args {
        corpus: PathBuf::new(),
        dir: std::env::temp_dir(),
        batch: 1000,
        cold_level: 9,
        build_sample: 1_000_000,
        clickhouse: false,
        no_cold: false,
        reps: 3,
        ip: "auto".into(),
        user: "oracle".into(),
        word: "phpunit,zgrab,auto".into(),
        stop_after: "all".into(),
        keep: false,
        correlation_every: 0,
    };
    let v: Vec<String> = std::env::args().collect();
    let mut i = 1;
    while i < v.len() {
        let val = v.get(i + 1).cloned().unwrap_or_default();
        match v[i].as_str() {
            "--corpus" => a.corpus = val.into(),
            "--dir" => a.dir = val.into(),
            "--batch" => a.batch = val.parse().expect("--batch N"),
            "--cold-level" => a.cold_level = val.parse().expect("--cold-level N"),
            "--build-sample" => a.build_sample = val.parse().expect("--build-sample N"),
            "--ip" => a.ip = val,
            "--reps" => a.reps = val.parse::<usize>().expect("--reps N").max(1),
            "--keep" => {
                a.keep = true;
                i += 1;
                continue;
            }
            "--clickhouse" => {
                a.clickhouse = true;
                i += 1;
                continue;
            }
            "--no-cold" => {
                a.no_cold = true;
                i += 1;
                continue;
            }
            "--user" => a.user = val,
            "--word" => a.word = val,
            "--stop-after" => a.stop_after = val,
            "--correlation-every" => {
                a.correlation_every = val.parse().expect("--correlation-every N");
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

/// Needles picked from the corpus while it streams in: `--ip auto` takes the first source IP
/// from line 1,234,567 on, and the word `auto` of `--word` the first key fingerprint of an
/// sshd `publickey` line from line 2,345,678 on (its first run of letters and digits: a
/// random word, a true needle, as a hash is), else the last one seen.
#[derive(Default)]
struct Picker {
    ip: Option<String>,
    ip_frozen: bool,
    word: Option<String>,
    word_frozen: bool,
}

impl Picker {
    fn observe(&mut self, n: u64, line: &[u8], ev: &vigil_event::Event) {
        if !self.ip_frozen
            && let Some(ip) = ev.source.ip
        {
            self.ip = Some(ip.to_string());
            self.ip_frozen = n >= 1_234_567;
        }
        if !self.word_frozen
            && let Some(at) = memchr::memmem::find(line, b"SHA256:")
        {
            let rest = &line[at + 7..];
            let len = rest
                .iter()
                .take_while(|b| b.is_ascii_alphanumeric())
                .count();
            if (8..=32).contains(&len) {
                self.word = Some(String::from_utf8_lossy(&rest[..len]).into_owned());
                self.word_frozen = n >= 2_345_678;
            }
        }
    }

    fn resolve(&self, a: &mut Args) {
        if a.ip == "auto" {
            a.ip = self.ip.clone().unwrap_or_else(|| "10.0.0.1".into());
        }
        let words: Vec<String> = a
            .word
            .split(',')
            .filter_map(|w| match w {
                "auto" => self.word.clone(),
                w => Some(w.to_owned()),
            })
            .collect();
        a.word = words.join(",");
    }
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

fn lines(path: &PathBuf) -> impl Iterator<Item = Vec<u8>> {
    let f = std::fs::File::open(path).expect("corpus");
    std::io::BufReader::with_capacity(4 << 20, f)
        .split(b'\n')
        .map_while(Result::ok)
        .filter(|l| !l.is_empty())
}

fn count_of(r: &vigil_store::AggregateResult) -> i64 {
    match r
        .table
        .rows
        .first()
        .and_then(|row| row.cells.first().cloned().flatten())
    {
        Some(vigil_query::Value::Int(n)) => n,
        _ => 0,
    }
}

/// Rule titles of the bench's correlation events.
const RULES: [&str; 8] = [
    "SSH brute force",
    "Password spraying",
    "Sudo to root",
    "Port scan",
    "Web shell upload",
    "Suspicious cron job",
    "Impossible travel",
    "Mass file deletion",
];

/// Sets the source and collector of a line's event, as `vigil up` does.
fn tag(ev: &mut vigil_event::Event) {
    ev.meta.source_id = "syslog-tcp".into();
    ev.meta.collector_id = "collector-1".into();
}

/// The correlation event of rule `k` completed by `last`, shaped as live detection builds it
/// (`vigil-core`'s correlation events): type, rule, severity, the pivot fields, the count.
fn correlation(last: &vigil_event::Event, k: usize) -> vigil_event::Event {
    use vigil_event::{EventType, SmolStr, Value};
    let title = RULES[k % RULES.len()];
    let mut a = vigil_event::Event::new(last.raw.clone());
    a.meta.kind = EventType::Correlation;
    a.meta.tenant = last.meta.tenant.clone();
    a.meta.source_id = last.meta.source_id.clone();
    a.meta.collector_id = last.meta.collector_id.clone();
    a.timestamp = last.timestamp;
    a.event.kind = Some(SmolStr::new_static("alert"));
    a.event.severity = Some(3 + (k % 3) as i64);
    a.event.module = Some(SmolStr::new_static("sigma"));
    a.rule.id = Some(SmolStr::new(format!(
        "0f{:02x}e2c4-bench-rule",
        k % RULES.len()
    )));
    a.rule.name = Some(SmolStr::new(title));
    a.rule.ruleset = Some(SmolStr::new_static("sigma-correlation"));
    a.message = Some(SmolStr::new(title));
    a.host = last.host.clone();
    a.user = last.user.clone();
    a.source = last.source.clone();
    a.process = last.process.clone();
    a.extra
        .insert("vigil.correlation.count", Value::Int(5 + (k % 20) as i64));
    a
}

/// Appends the line's event (tagged) and, every `--correlation-every` lines, a correlation
/// event after it.
fn push_line(batch: &mut Vec<vigil_event::Event>, mut ev: vigil_event::Event, n: u64, a: &Args) {
    if a.correlation_every == 0 {
        batch.push(ev);
        return;
    }
    tag(&mut ev);
    let alert = (n % a.correlation_every == a.correlation_every - 1)
        .then(|| correlation(&ev, (n / a.correlation_every) as usize));
    batch.push(ev);
    batch.extend(alert);
}

/// `process.name:sshd | count` against `vigil.type:correlation | count by rule.name`, taken in
/// turns (`--reps` of each) so that a loaded machine slows both alike.
fn metadata_queries(store: &dyn EventStore, a: &Args, label: &str) {
    let t = TenantId::main();
    let qs = [
        "process.name:sshd | count",
        "vigil.type:correlation | count by rule.name",
    ];
    let mut times = vec![Vec::new(); qs.len()];
    let mut seen = vec![(0, 0, 0, 0); qs.len()];
    for _ in 0..a.reps {
        for (j, q) in qs.iter().enumerate() {
            let s = Instant::now();
            let r = store
                .aggregate(&t, &AggregateRequest::parse(q).unwrap())
                .unwrap();
            times[j].push(s.elapsed());
            let rows = r.table.rows.len();
            let total = (0..rows)
                .map(|i| match r.table.get(i, "count") {
                    Some(vigil_query::Value::Int(n)) => *n,
                    _ => 0,
                })
                .sum::<i64>();
            seen[j] = (rows, total, r.stats.events_decoded, r.stats.blocks_pruned);
        }
    }
    let mut medians = Vec::new();
    for (j, q) in qs.iter().enumerate() {
        let m = median(std::mem::take(&mut times[j]));
        medians.push(m);
        let (rows, total, decoded, pruned) = seen[j];
        println!(
            "RESULT {label} metadata `{q}`: median of {} {:.1} ms ({rows} rows, counts sum to {total}, {decoded} events decoded, {pruned} blocks pruned)",
            a.reps,
            m.as_secs_f64() * 1e3
        );
    }
    println!(
        "RESULT {label} metadata ratio: {:.2}x",
        medians[1].as_secs_f64() / medians[0].as_secs_f64().max(1e-9)
    );
}

fn queries(store: &dyn EventStore, a: &Args, label: &str) {
    let t = TenantId::main();
    if a.correlation_every > 0 {
        metadata_queries(store, a, label);
    }
    let mut needles = vec![
        ("ip", format!("source.ip:{}", a.ip)),
        ("user", format!("user.name:{}", a.user)),
    ];
    for w in a.word.split(',') {
        needles.push(("word", w.to_owned()));
    }
    for (what, q) in &needles {
        let mut newest = Vec::new();
        let mut counts = Vec::new();
        let (mut hits, mut n, mut decoded) = (0, 0, 0);
        for _ in 0..a.reps {
            let s = Instant::now();
            let r = store
                .search(&t, &SearchRequest::parse(q, 100).unwrap())
                .unwrap();
            newest.push(s.elapsed());
            hits = r.events.len();
            let s = Instant::now();
            let r = store
                .aggregate(
                    &t,
                    &AggregateRequest::parse(&format!("{q} | count")).unwrap(),
                )
                .unwrap();
            counts.push(s.elapsed());
            n = count_of(&r);
            decoded = r.stats.events_decoded;
        }
        println!(
            "RESULT {label} needle-{what} `{q}`: newest 100 median {:.1} ms ({hits} hits); count median {:.1} ms (= {n}, {decoded} events decoded)",
            median(newest).as_secs_f64() * 1e3,
            median(counts).as_secs_f64() * 1e3,
        );
    }
    for q in ["| stats count() by process.name", "| count by host.name"] {
        let mut times = Vec::new();
        let mut rows = 0;
        for _ in 0..a.reps {
            let s = Instant::now();
            let r = store
                .aggregate(&t, &AggregateRequest::parse(q).unwrap())
                .unwrap();
            times.push(s.elapsed());
            rows = r.table.rows.len();
        }
        println!(
            "RESULT {label} `{q}`: median {:.1} ms ({rows} rows)",
            median(times).as_secs_f64() * 1e3
        );
    }
}

fn main() {
    let mut a = args();
    if std::fs::metadata(&a.corpus).is_err() {
        eprintln!("SKIPPED: corpus {} not readable", a.corpus.display());
        return;
    }
    // Build-only CPU on a sample.
    let (c0, mut n_sample) = (cpu(), 0usize);
    let mut batch = Vec::with_capacity(a.batch);
    for l in lines(&a.corpus).take(a.build_sample) {
        batch.push(build(&l));
        n_sample += 1;
        if batch.len() == a.batch {
            batch.clear();
        }
    }
    let build_us = (cpu() - c0).as_secs_f64() * 1e6 / n_sample.max(1) as f64;
    println!("build only: {build_us:.2} µs/event over {n_sample} lines");
    if a.stop_after == "build" {
        return;
    }

    if a.clickhouse {
        clickhouse(&a);
        return;
    }
    let mut dir = tempfile::tempdir_in(&a.dir).expect("tempdir");
    if a.keep {
        dir.disable_cleanup(true);
        println!("store kept in {}", dir.path().display());
    }
    let mut cfg = EmbeddedConfig::new(dir.path());
    cfg.spaces.hot_age = Some(Duration::from_secs(3600));
    cfg.tiers = TierOptions {
        cold_zstd_level: a.cold_level,
        interval: None,
        ..TierOptions::default()
    };
    let store = EmbeddedStore::open(cfg.clone()).expect("open");
    let t = TenantId::main();
    let (c0, w0) = (cpu(), Instant::now());
    let (mut n, mut raw_bytes) = (0u64, 0u64);
    let mut picker = Picker::default();
    let mut batch = Vec::with_capacity(a.batch);
    for l in lines(&a.corpus) {
        raw_bytes += l.len() as u64;
        let ev = build(&l);
        picker.observe(n, &l, &ev);
        push_line(&mut batch, ev, n, &a);
        n += 1;
        if batch.len() >= a.batch {
            store.append(&t, &batch).expect("append");
            batch.clear();
        }
        if n % 10_000_000 == 0 {
            eprintln!("{n} events, {:.0?}", w0.elapsed());
        }
    }
    store.append(&t, &batch).expect("append");
    store.flush(&t).expect("flush");
    let wall = w0.elapsed();
    picker.resolve(&mut a);
    let total_us = (cpu() - c0).as_secs_f64() * 1e6 / n as f64;
    let st = store.stats(&t).expect("stats");
    println!(
        "RESULT ingest: {n} lines ({} events stored), {:.1} B/line raw, wall {:.1?} = {:.0} events/s (incl. building), CPU {total_us:.2} µs/event total, {:.2} µs/event store (minus building)",
        st.events,
        raw_bytes as f64 / n as f64,
        wall,
        n as f64 / wall.as_secs_f64(),
        total_us - build_us
    );
    println!(
        "RESULT hot: {} segments, {:.1} B/event ({:.1} B/event bloom filters)",
        st.segments,
        st.segment_bytes as f64 / n as f64,
        st.index_bytes as f64 / n as f64
    );
    let cs = store.column_stats();
    println!("RESULT hot columns: B/event {}", cs.hot.per_event_line());
    if a.stop_after == "ingest" {
        return;
    }
    let sizes_only = a.stop_after == "size";
    if !sizes_only {
        queries(&store, &a, "hot");
    }
    if a.no_cold {
        return;
    }
    // Merge pass (the background thread's work), then everything to the cold tier.
    let (c0, w0) = (cpu(), Instant::now());
    let r = store.maintain(Timestamp::MAX).expect("maintain");
    let st = store.stats(&t).expect("stats");
    println!(
        "RESULT cold: zstd {} — {} segments, {:.1} B/event ({:.1} B/event bloom filters); rewrite of {} events took {:.1?} wall, {:.2} µs CPU/event",
        a.cold_level,
        st.cold_segments,
        st.cold_bytes as f64 / n as f64,
        st.index_bytes as f64 / n as f64,
        r.events_rewritten,
        w0.elapsed(),
        (cpu() - c0).as_secs_f64() * 1e6 / n as f64
    );
    println!(
        "RESULT cold columns: B/event {}",
        store.column_stats().cold.per_event_line()
    );
    if sizes_only {
        return;
    }
    drop(store);
    let w = Instant::now();
    let store = EmbeddedStore::open(cfg).expect("reopen");
    println!(
        "RESULT reopen (SHA-256 of every segment): {:.1?}",
        w.elapsed()
    );
    queries(&store, &a, "cold");
}

/// The same corpus and queries on a local clickhouse-server (Debian's 18.16), through the
/// `clickhouse` backend (JSONEachRow inserts of 100,000 events, `OPTIMIZE FINAL` before the
/// size is read).
fn clickhouse(a: &Args) {
    use vigil_store::clickhouse::local::{LocalServer, find_binary};
    use vigil_store::clickhouse::{ClickHouseConfig, ClickHouseStore};
    if find_binary().is_none() {
        eprintln!("SKIPPED: clickhouse-server not installed");
        return;
    }
    let dir = tempfile::tempdir_in(&a.dir).expect("tempdir");
    let server = LocalServer::start(dir.path()).expect("start clickhouse-server");
    let mut cfg = ClickHouseConfig::new(server.url.clone());
    cfg.insert_batch = 100_000;
    let ch = ClickHouseStore::open(cfg).expect("open");
    let t = TenantId::main();
    let w0 = Instant::now();
    let mut n = 0u64;
    let mut batch = Vec::with_capacity(100_000);
    let mut picker = Picker::default();
    for l in lines(&a.corpus) {
        let ev = build(&l);
        picker.observe(n, &l, &ev);
        push_line(&mut batch, ev, n, a);
        n += 1;
        if batch.len() >= 100_000 {
            ch.append(&t, &batch).expect("append");
            batch.clear();
        }
    }
    ch.append(&t, &batch).expect("append");
    let wall = w0.elapsed();
    let mut a = a.clone();
    picker.resolve(&mut a);
    let a = &a;
    println!(
        "RESULT clickhouse {} ({:?}) ingest: {n} events, wall {:.1?} = {:.0} events/s (incl. building and JSON encoding)",
        ch.server_version(),
        ch.dialect(),
        wall,
        n as f64 / wall.as_secs_f64()
    );
    ch.optimize().expect("optimize");
    let (bytes, rows) = ch.disk_usage().expect("disk usage");
    println!(
        "RESULT clickhouse size: {rows} rows, {:.1} B/event (zstd, after OPTIMIZE FINAL)",
        bytes as f64 / n as f64
    );
    queries(&ch, a, "clickhouse");
}
