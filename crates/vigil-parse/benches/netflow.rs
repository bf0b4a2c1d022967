//! NetFlow/IPFIX decoding throughput in flow records per second on one core.
//!
//! `cargo bench -p vigil-parse --bench netflow`. Inputs are real exporter packets from the
//! shared corpus (`../shared/corpora/netflow-logstash-codec`, read in place): a v5 packet of
//! 30 flows (Mikrotik), a v9 data packet (Cisco ASA, 14 records after its template) and an
//! IPFIX data packet (Mikrotik RouterOS, 28 records). Templates are learned once before the
//! loop, as a collector sees them; each iteration decodes one packet into owned records.
//!
//! Time is the benchmark thread's own CPU time (`CLOCK_THREAD_CPUTIME_ID`), not wall time,
//! so "per core" holds on a machine shared with other work.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;
use std::io::Read;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use vigil_parse::netflow::NetflowDecoder;

const EXPORTER: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));

fn dat(name: &str) -> Option<Vec<u8>> {
    let dir = vigil_testkit::corpus("netflow-logstash-codec")?;
    let mut f = std::fs::File::open(dir.join("dat").join(name))
        .ok()?
        .take(1 << 20);
    let mut out = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = f.read(&mut chunk).ok()?;
        if n == 0 {
            return Some(out);
        }
        out.extend_from_slice(&chunk[..n]);
    }
}

/// This thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`).
fn cpu() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(
        t.tv_sec.unsigned_abs(),
        u32::try_from(t.tv_nsec).unwrap_or(0),
    )
}

fn bench(c: &mut Criterion) {
    let cases: [(&str, &[&str], &str); 3] = [
        ("v5", &[], "netflow5_test_microtik.dat"),
        (
            "v9",
            &["netflow9_test_cisco_asa_1_tpl.dat"],
            "netflow9_test_cisco_asa_1_data.dat",
        ),
        (
            "ipfix",
            &["ipfix_test_mikrotik_tpl.dat"],
            "ipfix_test_mikrotik_data258.dat",
        ),
    ];
    let mut g = c.benchmark_group("netflow");
    for (name, templates, data) in cases {
        let Some(packet) = dat(data) else { return };
        let mut d = NetflowDecoder::default();
        for t in templates {
            d.decode(EXPORTER, &dat(t).unwrap()).unwrap();
        }
        let n = d.decode(EXPORTER, &packet).unwrap().records.len();
        assert!(n > 0, "{name}: no records");
        g.throughput(Throughput::Elements(n as u64));
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let start = cpu();
                for _ in 0..iters {
                    black_box(d.decode(EXPORTER, black_box(&packet)).unwrap());
                }
                cpu().saturating_sub(start)
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
