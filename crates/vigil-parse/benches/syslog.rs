//! Syslog parsing and framing throughput on the shared generator corpus.
//!
//! The corpus is `$VIGIL_PARSE_BENCH_CORPUS`, else `/dev/shm/vigil-parse-bench.log`, made by
//! `python3 ../shared/bench/gen_syslog.py --lines 200000 --seed 42 --format wire --out
//! /dev/shm/vigil-parse-bench.log`. If it is missing the bench tries to generate it, and falls
//! back to a few embedded lines. Run: `cargo bench -p vigil-parse --bench syslog`.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use bytes::BytesMut;
use chrono::{TimeZone, Utc};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use vigil_parse::framing::Framer;
use vigil_parse::syslog::{SyslogOptions, parse_lenient};

const SAMPLE: &[&str] = &[
    "<86>May  1 00:00:00 web-04 sshd[7017]: Failed password for alice from 45.140.125.58 port 49289 ssh2",
    "<4>May  1 00:00:00 fw-edge-01 kernel: [1000000.008071] [UFW BLOCK] IN=eth0 OUT= MAC=0d:65:d6:70:e5:8e:03:51:d8:ae:8e:4f:6e:ac SRC=45.15.47.56 DST=198.51.100.7 LEN=60 TOS=0x00 PREC=0x00 TTL=54 ID=23526 PROTO=TCP SPT=56565 DPT=8080 WINDOW=1024 RES=0x00 SYN URGP=0",
    "<190>May  1 00:00:00 web-05 nginx: 10.3.63.250 - - [01/May/2024:00:00:00 +0000] \"GET /static/style.css HTTP/1.1\" 200 41198 \"https://www.google.com/\" \"Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0\" rt=1.771",
    "<30>1 2024-05-01T00:00:00.013848+00:00 web-07 systemd 1 - - nginx.service: Deactivated successfully.",
    "<190>1 2024-05-01T00:00:00.020654+00:00 web-06 nginx - - - 116.107.136.180 - - [01/May/2024:00:00:00 +0000] \"PUT /cart HTTP/1.1\" 200 11215 \"https://www.google.com/\" \"Mozilla/5.0 zgrab/0.x\" rt=1.458",
    "<38>1 2024-05-01T00:00:01.5Z app-01 webapp 4242 LOGIN [auth@32473 user=\"bob\" src=\"10.0.0.5\" result=\"failure\"] login failed",
];

fn corpus_path() -> PathBuf {
    std::env::var_os("VIGIL_PARSE_BENCH_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/dev/shm/vigil-parse-bench.log"))
}

fn generate(out: &Path) -> bool {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/bench/gen_syslog.py");
    eprintln!(
        "generating the bench corpus with {} (takes ~20 s)",
        script.display()
    );
    std::process::Command::new("python3")
        .arg(&script)
        .args([
            "--lines", "200000", "--seed", "42", "--format", "wire", "--out",
        ])
        .arg(out)
        .status()
        .is_ok_and(|s| s.success())
}

fn load_lines() -> Vec<Vec<u8>> {
    let path = corpus_path();
    if !path.exists() && !generate(&path) {
        eprintln!(
            "no corpus at {}: using embedded sample lines",
            path.display()
        );
        return SAMPLE.iter().map(|l| l.as_bytes().to_vec()).collect();
    }
    let Ok(file) = std::fs::File::open(&path) else {
        return SAMPLE.iter().map(|l| l.as_bytes().to_vec()).collect();
    };
    BufReader::new(file.take(512 << 20))
        .split(b'\n')
        .map_while(Result::ok)
        .take(200_000)
        .collect()
}

fn benches(c: &mut Criterion) {
    let lines = load_lines();
    let bytes: usize = lines.iter().map(|l| l.len() + 1).sum();
    eprintln!(
        "{} lines, {:.0} bytes/line on average",
        lines.len(),
        bytes as f64 / lines.len() as f64
    );
    let opts = SyslogOptions {
        default_timezone: chrono_tz::UTC,
        now: Utc.with_ymd_and_hms(2024, 5, 2, 0, 0, 0).unwrap(),
    };
    let mut g = c.benchmark_group("syslog");
    g.sample_size(20);
    g.throughput(Throughput::Elements(lines.len() as u64));
    g.bench_function("parse_lenient/corpus", |b| {
        b.iter(|| {
            for line in &lines {
                black_box(parse_lenient(black_box(line), &opts));
            }
        })
    });
    let paris = SyslogOptions {
        default_timezone: chrono_tz::Europe::Paris,
        ..opts
    };
    g.bench_function("parse_lenient/corpus_tz_paris", |b| {
        b.iter(|| {
            for line in &lines {
                black_box(parse_lenient(black_box(line), &paris));
            }
        })
    });
    g.finish();

    let stream: Vec<u8> = lines
        .iter()
        .flat_map(|l| l.iter().copied().chain([b'\n']))
        .collect();
    let mut g = c.benchmark_group("framing");
    g.sample_size(20);
    g.throughput(Throughput::Elements(lines.len() as u64));
    g.bench_function("lf/corpus_64k_chunks", |b| {
        b.iter(|| {
            let mut framer = Framer::new(64 * 1024);
            let mut buf = BytesMut::with_capacity(128 * 1024);
            let mut n = 0usize;
            for chunk in stream.chunks(64 * 1024) {
                buf.extend_from_slice(chunk);
                while let Ok(Some(f)) = framer.decode(&mut buf) {
                    n += f.data.len();
                }
            }
            black_box(n)
        })
    });
    g.finish();
}

criterion_group!(syslog, benches);
criterion_main!(syslog);
