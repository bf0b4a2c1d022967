//! Events per second per core of the whole shipped pack, and of N copies of a standard rule,
//! on synthetic normalized events (a mix of SSH failures and successes, firewall denies, web
//! requests and sudo). `cargo bench -p vigil-correlate --bench correlate`.

#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::disallowed_methods,
    clippy::field_reassign_with_default
)]

use std::path::Path;
use std::sync::Arc;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use vigil_correlate::{Engine, EngineOptions, load_dir, load_str};
use vigil_event::{Event, Timestamp};

fn events(n: usize) -> Vec<Event> {
    let t0 = 1_714_521_600_000_000_000i64;
    (0..n)
        .map(|i| {
            let mut e = Event::default();
            e.timestamp = Timestamp(t0 + i as i64 * 5_000_000);
            e.meta.id = vigil_event::new_event_id(e.timestamp);
            e.host.name = Some(format!("host{}", i % 50).into());
            let ip = std::net::Ipv4Addr::from(0xcb00_7100u32 + (i % 997) as u32);
            e.source.ip = Some(ip.into());
            match i % 10 {
                0..=2 => {
                    e.event.module = Some("sshd".into());
                    e.event.action = Some("ssh_login".into());
                    e.event.outcome = Some(if i % 31 == 0 { "success" } else { "failure" }.into());
                    e.event.category = vec!["authentication".into()];
                    e.user.name = Some(format!("user{}", i % 13).into());
                }
                3..=5 => {
                    e.event.module = Some("netfilter".into());
                    e.event.action = Some("blocked".into());
                    e.destination.port = Some((i % 1000) as u16);
                    e.destination.ip =
                        Some(std::net::Ipv4Addr::new(10, 0, 0, (i % 200) as u8).into());
                }
                6..=8 => {
                    e.event.module = Some("web-access".into());
                    e.event.action = Some("http_request".into());
                    e.web.status_code = Some(if i % 7 == 0 { 404 } else { 200 });
                    e.web.url_path = Some(format!("/p/{}", i % 300).into());
                    e.web.method = Some("GET".into());
                }
                _ => {
                    e.event.module = Some("sudo".into());
                    e.event.action = Some("sudo_command".into());
                    e.event.outcome = Some("success".into());
                    e.user.name = Some("alice".into());
                    e.process.command_line = Some("/usr/bin/systemctl status".into());
                }
            }
            e
        })
        .collect()
}

fn standard_rules(n: usize) -> String {
    let mut s = String::from("rules:\n");
    for i in 0..n {
        s.push_str(&format!(
            "  - id: r{i}\n    name: r{i}\n    kind: standard\n    window: 60s\n    group_by: [source.ip]\n    selectors: [{{name: f, query: 'event.action:ssh_login AND event.outcome:failure AND user.name:user{m}', threshold: 5}}]\n",
            m = i % 13
        ));
    }
    s
}

fn bench(c: &mut Criterion) {
    let evs = events(20_000);
    let mut g = c.benchmark_group("correlate");
    g.throughput(Throughput::Elements(evs.len() as u64));
    g.sample_size(10);
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rules/correlation");
    let (pack, _) = load_dir(&dir);
    let pack = Arc::new(pack);
    g.bench_function("shipped_pack", |b| {
        b.iter(|| {
            let mut e = Engine::from_rules(pack.clone(), EngineOptions::default());
            for c in evs.chunks(512) {
                e.process(c);
            }
        })
    });
    for n in [1usize, 10, 100] {
        let (rules, _) = load_str("bench.yaml", &standard_rules(n));
        let rules = Arc::new(rules);
        g.bench_with_input(BenchmarkId::new("standard_rules", n), &n, |b, _| {
            b.iter(|| {
                let mut e = Engine::from_rules(rules.clone(), EngineOptions::default());
                for c in evs.chunks(512) {
                    e.process(c);
                }
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
