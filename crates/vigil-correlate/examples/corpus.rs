//! Runs a correlation rule pack over the benchmark corpus and prints alerts, the
//! `ssh-brute-force` count against the generator's ground truth, and the correlator's CPU cost.
//!
//! ```text
//! cargo run --release -p vigil-correlate --example corpus -- [--lines 1000000] [--seed 42]
//!     [--rfc5424-ratio 0.3] [--shuffle SECONDS] [--rules DIR] [--distinct-groups N]
//! ```
//!
//! The corpus comes from `vigil-gen-syslog` (the byte-identical port of
//! `../shared/bench/gen_syslog.py`), is normalized with the shipped `linux` pack first, then
//! fed to the engine in batches of 512; CPU time is the thread's own (`/proc/thread-self/schedstat`),
//! so other load on the machine does not count. `--distinct-groups N` instead measures the
//! state of N open brute-force buckets (one failure each from N addresses).

#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::disallowed_methods,
    clippy::field_reassign_with_default
)]

use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use vigil_correlate::{Engine, EngineOptions, load_dir};
use vigil_event::{Event, Timestamp};
use vigil_normalize::{Library, NormalizerTree};
use vigil_pipeline::{RawRecord, SourceInfo};

fn cpu() -> Duration {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
    let ns: u64 = s
        .split_whitespace()
        .next()
        .and_then(|x| x.parse().ok())
        .unwrap_or(0);
    Duration::from_nanos(ns)
}

fn status(field: &str) -> String {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(field))
        .map(|l| l.split_whitespace().skip(1).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

struct Args {
    lines: u64,
    seed: i128,
    ratio: f64,
    shuffle_s: i64,
    rules: PathBuf,
    groups: u64,
}

fn args() -> Args {
    let mut a = Args {
        lines: 1_000_000,
        seed: 42,
        ratio: 0.3,
        shuffle_s: 0,
        rules: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../rules/correlation"),
        groups: 0,
    };
    let v: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i + 1 < v.len() {
        let x = &v[i + 1];
        match v[i].as_str() {
            "--lines" => a.lines = x.parse().unwrap_or(a.lines),
            "--seed" => a.seed = x.parse().unwrap_or(a.seed),
            "--rfc5424-ratio" => a.ratio = x.parse().unwrap_or(a.ratio),
            "--shuffle" => a.shuffle_s = x.parse().unwrap_or(0),
            "--rules" => a.rules = PathBuf::from(x),
            "--distinct-groups" => a.groups = x.parse().unwrap_or(0),
            other => eprintln!("unknown argument {other}"),
        }
        i += 2;
    }
    a
}

fn distinct_groups(a: &Args) {
    let (rules, problems) = load_dir(&a.rules);
    for p in &problems {
        eprintln!("{p}");
    }
    let mut engine = Engine::new(rules, EngineOptions::default());
    let rss0 = status("VmRSS:");
    let t0 = 1_714_521_600_000_000_000i64;
    let mut batch = Vec::with_capacity(1024);
    for i in 0..a.groups {
        let mut ev = Event::default();
        ev.timestamp = Timestamp(t0 + i as i64 * 10_000);
        ev.meta.id = vigil_event::new_event_id(ev.timestamp);
        ev.event.module = Some("sshd".into());
        ev.event.action = Some("ssh_login".into());
        ev.event.outcome = Some("failure".into());
        ev.source.ip = Some(std::net::IpAddr::V4(std::net::Ipv4Addr::from(
            0x0a00_0000u32 + i as u32,
        )));
        batch.push(ev);
        if batch.len() == 1024 {
            engine.process(&batch);
            batch.clear();
        }
    }
    engine.process(&batch);
    // evaluate every buffered event, without closing any window
    engine.advance_watermark(t0 + a.groups as i64 * 10_000);
    let report = engine.rule_report("ssh-brute-force");
    println!(
        "distinct groups: {} | ssh-brute-force open buckets {} | estimated state {} bytes ({:.0} B/group) | all rules: {} groups, {} bytes | VmRSS {} -> {} | VmHWM {}",
        a.groups,
        report.as_ref().map_or(0, |r| r.groups),
        report.as_ref().map_or(0, |r| r.state_bytes),
        report
            .as_ref()
            .map_or(0.0, |r| r.state_bytes as f64 / a.groups.max(1) as f64),
        engine.open_groups(),
        engine.state_bytes(),
        rss0,
        status("VmRSS:"),
        status("VmHWM:"),
    );
}

fn main() {
    let a = args();
    if a.groups > 0 {
        distinct_groups(&a);
        return;
    }
    let cfg = vigil_gen_syslog::Config {
        lines: a.lines,
        seed: a.seed,
        format: vigil_gen_syslog::Format::Wire,
        rfc5424_ratio: a.ratio,
        eps: 200.0,
        start_us: vigil_gen_syslog::pytime::parse_isoformat("2024-05-01T00:00:00")
            .unwrap_or_default(),
    };
    let mut text = Vec::with_capacity(a.lines as usize * 200);
    let meta = match vigil_gen_syslog::generate(&cfg, &mut text, |_| {}) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("corpus: {e}");
            std::process::exit(2);
        }
    };
    let lib = Library::builtin().unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(2)
    });
    let linux = lib.compile("linux").unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(2)
    });
    let tree = NormalizerTree::new(linux, chrono_tz::UTC);
    let src = SourceInfo {
        id: "bench".into(),
        tenant: "main".into(),
        collector: "bench".into(),
    };
    let received = Timestamp::parse("2024-05-02T00:00:00Z").unwrap_or_default();
    let c0 = cpu();
    let mut events: Vec<Event> = text
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| {
            let rec = RawRecord {
                data: Bytes::copy_from_slice(l),
                received,
                peer: None,
                transport_error: None,
            };
            tree.normalize_record(&src, rec)
        })
        .collect();
    let norm_cpu = cpu() - c0;
    if a.shuffle_s > 0 {
        let bound = a.shuffle_s * 1_000_000_000 - 1;
        let mut s: u64 = 1234;
        let mut keyed: Vec<(i64, Event)> = events
            .drain(..)
            .map(|e| {
                s = s
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                (e.timestamp.0.saturating_add(((s >> 33) as i64) % bound), e)
            })
            .collect();
        keyed.sort_by_key(|(k, _)| *k);
        events = keyed.into_iter().map(|(_, e)| e).collect();
    }
    // the generator's ground-truth algorithm, on the times the normalized events carry
    // (RFC 3164 lines: whole seconds; RFC 5424 lines: microseconds)
    let recomputed = {
        let mut by_ip: std::collections::HashMap<String, Vec<i64>> = Default::default();
        for e in &events {
            if e.event.module.as_deref() == Some("sshd")
                && e.event.action.as_deref() == Some("ssh_login")
                && e.event.outcome.as_deref() == Some("failure")
                && let Some(ip) = e.source.ip
            {
                by_ip.entry(ip.to_string()).or_default().push(e.timestamp.0);
            }
        }
        let mut alerts = 0u64;
        for times in by_ip.values_mut() {
            times.sort_unstable();
            let mut i = 0;
            while i < times.len() {
                let mut j = i;
                while j < times.len() && times[j] - times[i] <= 60_000_000_000 {
                    j += 1;
                }
                if j - i >= 5 {
                    alerts += 1;
                    i = j;
                } else {
                    i += 1;
                }
            }
        }
        alerts
    };
    let (rules, problems) = load_dir(&a.rules);
    for p in &problems {
        eprintln!("{p}");
    }
    let n_rules = rules.rules.len();
    let mut engine = Engine::new(rules, EngineOptions::default());
    let mut per_rule: std::collections::BTreeMap<String, u64> = Default::default();
    let c1 = cpu();
    for chunk in events.chunks(512) {
        for o in engine.process(chunk) {
            if let Some(r) = &o.rule {
                *per_rule.entry(r.id.clone()).or_default() += 1;
            }
        }
    }
    for o in engine.advance_watermark(i64::MAX) {
        if let Some(r) = &o.rule {
            *per_rule.entry(r.id.clone()).or_default() += 1;
        }
    }
    let corr_cpu = cpu() - c1;
    let n = events.len() as f64;
    let late: u64 = (0..n_rules).map(|i| engine.stats(i).late).sum();
    let tests: u64 = (0..n_rules).map(|i| engine.stats(i).evaluated).sum();
    let facts: u64 = (0..n_rules).map(|i| engine.stats(i).matched).sum();
    println!(
        "corpus: {} lines, seed {}, rfc5424 ratio {}, shuffle {} s | rules: {} | normalize: {:.2} s CPU ({:.0} lines/CPU-s) | correlate: {:.2} s CPU ({:.0} lines/CPU-s) | selector tests {} | matched (rule, event) pairs {} | late events: {} | VmHWM {}",
        events.len(),
        a.seed,
        a.ratio,
        a.shuffle_s,
        n_rules,
        norm_cpu.as_secs_f64(),
        n / norm_cpu.as_secs_f64().max(1e-9),
        corr_cpu.as_secs_f64(),
        n / corr_cpu.as_secs_f64().max(1e-9),
        tests,
        facts,
        late,
        status("VmHWM:"),
    );
    println!(
        "ssh-brute-force: {} alerts; ground truth ssh_bruteforce_5in60_alerts = {}; recomputed on the events' own timestamps = {}",
        per_rule.get("ssh-brute-force").copied().unwrap_or(0),
        meta.ssh_bruteforce_5in60_alerts,
        recomputed
    );
    for (id, c) in &per_rule {
        println!("  {id}: {c}");
    }
    if std::env::var_os("CORPUS_RULE_STATS").is_some() {
        let mut rows: Vec<(u64, u64, String)> = (0..n_rules)
            .map(|i| {
                let s = engine.stats(i);
                (s.matched, s.evaluated, engine.rules().rules[i].id.clone())
            })
            .collect();
        rows.sort();
        for (m, e, id) in rows.iter().rev().take(25) {
            eprintln!("  {id}: tested {e}, matched {m}");
        }
    }
}
