//! The forward path of `vigil up` in one thread, without sockets: syslog header → `linux` pack
//! (per-program regex/KV extraction, mapping, categorization) → one JSON line per event
//! (`Event::write_json`, what a `type: file` destination writes), on the shared generator's
//! corpus (`/dev/shm/vigil-corpus.log`, from `python3 ../shared/bench/gen_syslog.py --lines
//! 1000000 --seed 42 --format wire`; `VIGIL_BENCH_CORPUS` names another file).
//!
//! `cargo bench -p vigil-normalize --bench forward` runs criterion on the first 200,000 lines:
//! normalize only, write_json only (on events normalized once) and both.
//!
//! With `VIGIL_FORWARD_ONCE` set, it makes one pass over the whole corpus instead and prints
//! the time per event, so that `perf stat -e instructions:u` or `perf record` measure exactly
//! one run of the path (subtract a run with `VIGIL_FORWARD_ONCE=load`, which only reads the
//! corpus). Modes: `load`, `normalize`, `all` (normalize + write_json). `VIGIL_FORWARD_OUT=FILE`
//! also writes the JSON lines there, with deterministic event ids, so two builds' outputs can
//! be compared byte for byte.
use criterion::{Criterion, Throughput, criterion_group};
use std::hint::black_box;
use std::io::Write as _;
use std::time::Instant;
use vigil_event::{Bytes, Event, Timestamp, Ulid};
use vigil_event::{Normalizer, RawRecord, SourceInfo};
use vigil_normalize::{Library, NormalizerTree};

/// The most of the corpus file read (the 1 M-line corpus is about 190 MB).
const CORPUS_CAP: u64 = 1 << 30;

/// Events written per output batch (what one destination write holds).
const BATCH: usize = 512;

fn corpus(limit: usize) -> Vec<Bytes> {
    let path =
        std::env::var("VIGIL_BENCH_CORPUS").unwrap_or_else(|_| "/dev/shm/vigil-corpus.log".into());
    let path = std::path::PathBuf::from(path);
    if !path.is_file() {
        eprintln!(
            "{} missing: generate it with ../shared/bench/gen_syslog.py (see the doc comment)",
            path.display()
        );
        return Vec::new();
    }
    let data = Bytes::from(vigil_testkit::read_capped(&path, CORPUS_CAP));
    let mut out = Vec::new();
    let mut start = 0;
    for nl in memchr::memchr_iter(b'\n', &data) {
        if out.len() >= limit {
            break;
        }
        if nl > start {
            out.push(data.slice(start..nl));
        }
        start = nl + 1;
    }
    out
}

fn tree() -> Option<NormalizerTree> {
    let lib = match Library::builtin() {
        Ok(l) => l,
        Err(e) => {
            eprintln!("packs invalid: {e}");
            return None;
        }
    };
    match lib.compile("linux") {
        Ok(n) => Some(NormalizerTree::new(n, chrono_tz::UTC)),
        Err(e) => {
            eprintln!("linux pack: {e}");
            None
        }
    }
}

fn source() -> SourceInfo {
    SourceInfo {
        id: "syslog".into(),
        tenant: "main".into(),
        collector: "bench".into(),
    }
}

fn record(data: &Bytes, received: Timestamp) -> RawRecord {
    RawRecord {
        data: data.clone(),
        received,
        peer: Some(std::net::SocketAddr::from(([127, 0, 0, 1], 40_000))),
        transport_error: None,
    }
}

/// A fixed receive time, so that RFC 3164 years and outputs do not depend on the day.
fn received() -> Timestamp {
    Timestamp::parse("2026-11-22T12:00:00.123Z").unwrap_or_default()
}

/// One pass over the whole corpus, for `perf stat` / `perf record`.
fn once(mode: &str) {
    let lines = corpus(usize::MAX);
    if mode == "load" {
        println!("loaded {} lines", lines.len());
        return;
    }
    let Some(tree) = tree() else { return };
    let src = source();
    let at = received();
    let mut out_file = std::env::var_os("VIGIL_FORWARD_OUT")
        .and_then(|p| std::fs::File::create(p).ok())
        .map(|f| std::io::BufWriter::with_capacity(1 << 20, f));
    let mut buf = Vec::with_capacity(BATCH * 1024);
    let mut events = Vec::with_capacity(BATCH);
    let mut bytes = 0usize;
    let t0 = Instant::now();
    for (n, chunk) in lines.chunks(BATCH).enumerate() {
        events.clear();
        for (i, l) in chunk.iter().enumerate() {
            // as a pipeline worker calls it
            Normalizer::normalize(&tree, &src, record(l, at), &mut events);
            if out_file.is_some()
                && let Some(ev) = events.last_mut()
            {
                ev.meta.id = Ulid::from_parts(at.millis() as u64, (n * BATCH + i) as u128);
            }
        }
        if mode == "all" {
            buf.clear();
            for ev in &events {
                ev.write_json(&mut buf);
                buf.push(b'\n');
            }
            bytes += buf.len();
            if let Some(f) = &mut out_file {
                let _ = f.write_all(&buf);
            }
        }
        black_box(&events);
    }
    let dt = t0.elapsed();
    if let Some(f) = &mut out_file {
        let _ = f.flush();
    }
    println!(
        "{mode}: {} events, {:.0} ns/event (wall), {:.0} bytes of JSON/event",
        lines.len(),
        dt.as_nanos() as f64 / lines.len().max(1) as f64,
        bytes as f64 / lines.len().max(1) as f64
    );
}

fn bench(c: &mut Criterion) {
    let lines = corpus(200_000);
    let Some(tree) = tree() else { return };
    if lines.is_empty() {
        return;
    }
    let src = source();
    let at = received();
    let mut g = c.benchmark_group("forward");
    g.throughput(Throughput::Elements(lines.len() as u64));
    g.sample_size(10);
    g.bench_function("normalize", |b| {
        b.iter(|| {
            for l in &lines {
                black_box(tree.normalize_record(&src, record(l, at)));
            }
        })
    });
    let events: Vec<Event> = lines
        .iter()
        .map(|l| tree.normalize_record(&src, record(l, at)))
        .collect();
    let mut buf = Vec::with_capacity(BATCH * 1024);
    g.bench_function("write_json", |b| {
        b.iter(|| {
            for chunk in events.chunks(BATCH) {
                buf.clear();
                for ev in chunk {
                    ev.write_json(&mut buf);
                    buf.push(b'\n');
                }
                black_box(&buf);
            }
        })
    });
    g.bench_function("normalize_write_json", |b| {
        let mut batch = Vec::with_capacity(BATCH);
        b.iter(|| {
            for chunk in lines.chunks(BATCH) {
                batch.clear();
                batch.extend(
                    chunk
                        .iter()
                        .map(|l| tree.normalize_record(&src, record(l, at))),
                );
                buf.clear();
                for ev in &batch {
                    ev.write_json(&mut buf);
                    buf.push(b'\n');
                }
                black_box(&buf);
            }
        })
    });
    g.finish();
}

criterion_group!(benches, bench);

fn main() {
    match std::env::var("VIGIL_FORWARD_ONCE") {
        Ok(mode) => once(&mode),
        Err(_) => {
            benches();
            Criterion::default().configure_from_args().final_summary();
        }
    }
}
