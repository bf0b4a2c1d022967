//! Normalize cost per line on the shared generator's corpus (`/dev/shm/vigil-corpus.log`, from
//! `python3 ../shared/bench/gen_syslog.py --lines 1000000 --seed 42 --format wire`), or built-in
//! lines: the fixed syslog normalizer, and the normalizer tree with the `linux` pack (syslog +
//! per-program regex/KV extraction + mapping + categorization) on the whole mix, on the UFW
//! (KV) lines only and on the sshd (regex) lines only; then one pack per field parser (JSON,
//! CSV, KV, Windows event XML) on the pack's own samples; and `auto` (the default
//! configuration's normalizer) on the whole mix, with its literal prefilter and without.
//!
//! With `VIGIL_NORMALIZE_ONCE=load|syslog|linux|auto|auto_unfiltered` it makes one pass over
//! the lines instead (`VIGIL_NORMALIZE_LINES`, default 50,000) and prints the time per line,
//! so that `valgrind --tool=callgrind` counts the instructions of exactly one run of the path
//! (subtract the `load` run, which only reads the lines and compiles the packs).
use criterion::{Criterion, Throughput, criterion_group};
use std::hint::black_box;
use std::time::Instant;
use vigil_event::{Bytes, Timestamp};
use vigil_event::{RawRecord, SourceInfo};
use vigil_normalize::{AutoNormalizer, Library, NormalizerTree, SyslogNormalizer};

fn lines() -> Vec<Bytes> {
    lines_upto(200_000)
}

fn lines_upto(limit: usize) -> Vec<Bytes> {
    let path =
        std::env::var("VIGIL_BENCH_CORPUS").unwrap_or_else(|_| "/dev/shm/vigil-corpus.log".into());
    let mut out = Vec::new();
    if let Ok(f) = std::fs::File::open(&path) {
        use std::io::BufRead;
        for l in std::io::BufReader::new(f)
            .split(b'\n')
            .take(limit)
            .flatten()
        {
            out.push(Bytes::from(l));
        }
    }
    if out.is_empty() {
        eprintln!(
            "{path} missing: using built-in lines (generate with ../shared/bench/gen_syslog.py)"
        );
        for l in [
            &b"<38>Nov 22 06:59:58 web01 sshd[4242]: Failed password for invalid user admin from 203.0.113.77 port 52144 ssh2"[..],
            b"<4>Nov 22 06:59:58 fw-edge-01 kernel: [UFW BLOCK] IN=eth0 OUT= MAC=52:54:00:12:34:56:52:54:00:65:43:21:08:00 SRC=203.0.113.50 DST=198.51.100.10 LEN=44 TOS=0x00 PREC=0x00 TTL=243 ID=54321 PROTO=TCP SPT=41234 DPT=3389 WINDOW=1024 RES=0x00 SYN URGP=0",
            b"<134>Nov 22 06:59:58 edge1 nginx: 198.51.100.7 - - [22/Nov/2026:06:59:58 +0000] \"GET /index.html HTTP/1.1\" 200 512 \"-\" \"curl/8.0\"",
        ] {
            out.push(Bytes::copy_from_slice(l));
        }
    }
    out
}

fn run_tree(c: &mut Criterion, name: &str, tree: &NormalizerTree, lines: &[Bytes]) {
    let src = SourceInfo {
        id: "syslog".into(),
        tenant: "main".into(),
        collector: "bench".into(),
    };
    let now = Timestamp::now();
    let mut g = c.benchmark_group("tree");
    g.throughput(Throughput::Elements(lines.len() as u64));
    g.bench_function(name, |b| {
        b.iter(|| {
            for l in lines {
                let rec = RawRecord {
                    data: l.clone(),
                    received: now,
                    peer: None,
                    transport_error: None,
                };
                black_box(tree.normalize_record(&src, rec));
            }
        })
    });
    g.finish();
}

fn bench(c: &mut Criterion) {
    let lines = lines();
    let n = SyslogNormalizer::new(chrono_tz::UTC);
    let src = SourceInfo {
        id: "syslog".into(),
        tenant: "main".into(),
        collector: "bench".into(),
    };
    let now = Timestamp::now();
    let mut g = c.benchmark_group("syslog_normalize");
    g.throughput(Throughput::Elements(lines.len() as u64));
    g.bench_function("corpus", |b| {
        b.iter(|| {
            for l in &lines {
                let rec = RawRecord {
                    data: l.clone(),
                    received: now,
                    peer: None,
                    transport_error: None,
                };
                black_box(n.normalize_record(&src, rec));
            }
        })
    });
    g.finish();

    let lib = match Library::builtin() {
        Ok(l) => l,
        Err(e) => {
            eprintln!("packs invalid: {e}");
            return;
        }
    };
    let Ok(linux) = lib.compile("linux") else {
        return;
    };
    let tree = NormalizerTree::new(linux, chrono_tz::UTC);
    let has = |l: &Bytes, pat: &[u8]| l.windows(pat.len()).any(|w| w == pat);
    let ufw: Vec<Bytes> = lines
        .iter()
        .filter(|l| has(l, b"[UFW "))
        .take(50_000)
        .cloned()
        .collect();
    let sshd: Vec<Bytes> = lines
        .iter()
        .filter(|l| has(l, b" sshd["))
        .take(50_000)
        .cloned()
        .collect();
    run_tree(c, "linux_pack_corpus", &tree, &lines);
    if let Ok(auto) = AutoNormalizer::new(&lib, chrono_tz::UTC) {
        let unfiltered = auto.clone().with_prefilter(false);
        let mut g = c.benchmark_group("auto");
        g.throughput(Throughput::Elements(lines.len() as u64));
        for (name, a) in [("corpus", &auto), ("corpus_unfiltered", &unfiltered)] {
            g.bench_function(name, |b| {
                b.iter(|| {
                    for l in &lines {
                        let rec = RawRecord {
                            data: l.clone(),
                            received: now,
                            peer: None,
                            transport_error: None,
                        };
                        black_box(a.normalize_record(&src, rec));
                    }
                })
            });
        }
        g.finish();
    }
    run_tree(c, "linux_pack_ufw_kv", &tree, &ufw);
    run_tree(c, "linux_pack_sshd_regex", &tree, &sshd);

    // One pack per field parser, on the pack's own samples (repeated to 1,000 lines).
    for (pack, parser) in [
        ("cloudtrail", "json"),
        ("m365-audit", "json"),
        ("panos", "csv"),
        ("fortigate", "kv"),
        ("checkpoint", "kv"),
        ("windows-security", "winxml"),
    ] {
        let Ok(n) = lib.compile(pack) else { continue };
        let tree = NormalizerTree::new(n, chrono_tz::UTC);
        let samples = sample_lines(pack);
        if samples.is_empty() {
            continue;
        }
        let batch: Vec<Bytes> = samples.iter().cycle().take(1_000).cloned().collect();
        run_tree(c, &format!("{pack}_{parser}"), &tree, &batch);
    }
}

/// The sample lines of a pack (`packs/<pack>/samples/*.log`).
fn sample_lines(pack: &str) -> Vec<Bytes> {
    let dir = vigil_testkit::repo_root()
        .join("packs")
        .join(pack)
        .join("samples");
    let mut logs: Vec<std::path::PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "log"))
                .collect()
        })
        .unwrap_or_default();
    logs.sort();
    let mut out = Vec::new();
    for log in logs {
        use std::io::BufRead;
        let Ok(f) = std::fs::File::open(log) else {
            continue;
        };
        for l in std::io::BufReader::new(f).split(b'\n').flatten() {
            if !l.is_empty() {
                out.push(Bytes::from(l));
            }
        }
    }
    out
}

/// One pass over the lines with one normalizer, for callgrind and `perf`.
fn once(mode: &str) {
    let limit = std::env::var("VIGIL_NORMALIZE_LINES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(50_000);
    let lines = lines_upto(limit);
    let src = SourceInfo {
        id: "syslog".into(),
        tenant: "main".into(),
        collector: "bench".into(),
    };
    let now = Timestamp::parse("2026-11-22T12:00:00.123Z").unwrap_or_default();
    let rec = |l: &Bytes| RawRecord {
        data: l.clone(),
        received: now,
        peer: None,
        transport_error: None,
    };
    let lib = match Library::builtin() {
        Ok(l) => l,
        Err(e) => {
            eprintln!("packs invalid: {e}");
            return;
        }
    };
    // compiled in every mode, so that subtracting `load` leaves the per-line work
    let (Ok(linux), Ok(auto)) = (
        lib.compile("linux"),
        AutoNormalizer::new(&lib, chrono_tz::UTC),
    ) else {
        eprintln!("packs do not compile");
        return;
    };
    let tree = NormalizerTree::new(linux, chrono_tz::UTC);
    let syslog = SyslogNormalizer::new(chrono_tz::UTC);
    let unfiltered = auto.clone().with_prefilter(false);
    let t0 = Instant::now();
    match mode {
        "load" => {}
        "syslog" => lines
            .iter()
            .for_each(|l| drop(black_box(syslog.normalize_record(&src, rec(l))))),
        "linux" => lines
            .iter()
            .for_each(|l| drop(black_box(tree.normalize_record(&src, rec(l))))),
        "auto" => lines
            .iter()
            .for_each(|l| drop(black_box(auto.normalize_record(&src, rec(l))))),
        "auto_unfiltered" => lines
            .iter()
            .for_each(|l| drop(black_box(unfiltered.normalize_record(&src, rec(l))))),
        other => {
            eprintln!("unknown mode {other} (load, syslog, linux, auto, auto_unfiltered)");
            return;
        }
    }
    let el = t0.elapsed();
    println!(
        "{mode}: {} lines, {:.3} µs per line",
        lines.len(),
        el.as_secs_f64() * 1e6 / lines.len().max(1) as f64
    );
}

criterion_group!(benches, bench);

fn main() {
    match std::env::var("VIGIL_NORMALIZE_ONCE") {
        Ok(mode) => once(&mode),
        Err(_) => {
            benches();
            Criterion::default().configure_from_args().final_summary();
        }
    }
}
