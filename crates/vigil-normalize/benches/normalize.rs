//! Syslog parse + normalize cost per line on the shared generator's corpus (or built-in lines).
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use vigil_event::{Bytes, Timestamp};
use vigil_normalize::SyslogNormalizer;
use vigil_pipeline::{RawRecord, SourceInfo};

fn lines() -> Vec<Bytes> {
    let path = std::env::var("VIGIL_BENCH_CORPUS").unwrap_or_else(|_| "/dev/shm/vigil-corpus.log".into());
    let mut out = Vec::new();
    if let Ok(f) = std::fs::File::open(&path) {
        use std::io::BufRead;
        for l in std::io::BufReader::new(f).split(b'\n').take(200_000).flatten() {
            out.push(Bytes::from(l));
        }
    }
    if out.is_empty() {
        eprintln!("{path} missing: using built-in lines (generate with ../shared/bench/gen_syslog.py)");
        for l in [
            &b"<38>Nov 22 06:59:58 web01 sshd[4242]: Failed password for invalid user admin from 203.0.113.77 port 52144 ssh2"[..],
            b"<165>1 2026-11-22T06:30:00.123+01:00 app7 billing 811 LOGIN [auth@32473 user=\"carol\" result=\"ok\"] login ok",
            b"<134>Nov 22 06:59:58 edge1 nginx: 198.51.100.7 - - [22/Nov/2026:06:59:58 +0000] \"GET /index.html HTTP/1.1\" 200 512 \"-\" \"curl/8.0\"",
        ] {
            out.push(Bytes::copy_from_slice(l));
        }
    }
    out
}

fn bench(c: &mut Criterion) {
    let lines = lines();
    let n = SyslogNormalizer::new(chrono_tz::UTC);
    let src = SourceInfo { id: "syslog".into(), tenant: "main".into(), collector: "bench".into() };
    let now = Timestamp::now();
    let mut g = c.benchmark_group("syslog_normalize");
    g.throughput(Throughput::Elements(lines.len() as u64));
    g.bench_function("corpus", |b| {
        b.iter(|| {
            for l in &lines {
                let rec = RawRecord { data: l.clone(), received: now, peer: None, transport_error: None };
                black_box(n.normalize_record(&src, rec));
            }
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
