//! Event time: results identical in order and shuffled within the lateness bound, across a
//! restart (snapshot + restore) at any point, and across a reload of unchanged rules.

#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::disallowed_methods,
    clippy::field_reassign_with_default
)]

use std::collections::BTreeMap;

use proptest::prelude::*;
use vigil_correlate::{Engine, EngineOptions, Output, Rules, load_str, test_event};
use vigil_event::Event;

const S: i64 = 1_000_000_000;
const T0: i64 = 1_767_225_600 * S;
const LATENESS_S: i64 = 30;

const RULES: &str = r#"
rules:
  - id: bf
    name: brute force
    kind: standard
    window: 60s
    lateness: 30s
    group_by: [source.ip]
    selectors: [{name: f, query: 'event.outcome:failure', threshold: 5}]
  - id: bf-every
    name: brute force, every threshold
    kind: standard
    window: 60s
    lateness: 30s
    trigger: every_threshold
    group_by: [source.ip]
    selectors: [{name: f, query: 'event.outcome:failure', threshold: 3}]
  - id: spray
    name: spraying
    kind: standard
    window: 2m
    lateness: 30s
    group_by: [source.ip]
    unique: [user.name]
    selectors: [{name: f, query: 'event.outcome:failure', threshold: 3}]
  - id: success-after
    name: success after failures
    kind: sequence
    window: 2m
    lateness: 30s
    group_by: [source.ip]
    selectors:
      - {name: failures, query: 'event.outcome:failure', threshold: 3}
      - {name: success, query: 'event.outcome:success'}
  - id: no-success
    name: failure never followed by success
    kind: absence
    window: 90s
    lateness: 30s
    group_by: [source.ip]
    selectors:
      - {name: failure, query: 'event.outcome:failure'}
      - {name: success, query: 'event.outcome:success'}
  - id: window-end
    name: count at window end
    kind: standard
    window: 45s
    lateness: 30s
    trigger: window_end
    group_by: [source.ip]
    selectors: [{name: f, query: 'event.outcome:failure', threshold: 2}]
"#;

fn rules() -> Rules {
    let (r, p) = load_str("eventtime.yaml", RULES);
    assert!(p.is_empty(), "{p:#?}");
    r
}

fn event(ms: i64, ip: u8, user: u8, ok: bool) -> Event {
    let mut m = BTreeMap::new();
    m.insert(
        "source.ip".to_string(),
        serde_json::json!(format!("192.0.2.{ip}")),
    );
    m.insert(
        "user.name".to_string(),
        serde_json::json!(format!("u{user}")),
    );
    m.insert(
        "event.outcome".to_string(),
        serde_json::json!(if ok { "success" } else { "failure" }),
    );
    test_event(&m, T0 + ms * 1_000_000, 0).unwrap_or_default()
}

/// What identifies an alert independently of arrival order.
fn signature(out: &[Output]) -> Vec<String> {
    let mut v: Vec<String> = out
        .iter()
        .filter_map(|o| {
            let r = o.rule.as_ref()?;
            let e = &o.event;
            let ids = e
                .extra
                .get("vigil.correlation.base_event_ids")
                .map(vigil_correlate::store::value_text);
            Some(format!(
                "{} {:?} {:?} {:?} {:?}",
                r.id,
                e.extra
                    .get("vigil.correlation.group_by")
                    .map(vigil_correlate::store::value_text),
                e.event.start.map(|t| t.0),
                e.timestamp.0,
                ids
            ))
        })
        .collect();
    v.sort();
    v
}

fn run(engine: &mut Engine, events: &[Event], batch: usize) -> Vec<Output> {
    let mut out = Vec::new();
    for c in events.chunks(batch) {
        out.extend(engine.process(c));
    }
    out
}

fn finish(engine: &mut Engine, mut out: Vec<Output>) -> Vec<Output> {
    out.extend(engine.advance_watermark(i64::MAX));
    out
}

fn scenario() -> impl Strategy<Value = (Vec<Event>, Vec<i64>, usize, usize)> {
    // up to 300 events over 10 minutes, 6 sources, 4 users, 10% successes
    prop::collection::vec(
        (0i64..600_000, 0u8..6, 0u8..4, prop::bool::weighted(0.1)),
        1..300,
    )
    .prop_flat_map(|mut raw| {
        raw.sort();
        let events: Vec<Event> = raw
            .iter()
            .map(|(t, ip, u, ok)| event(*t, *ip, *u, *ok))
            .collect();
        let n = events.len();
        (
            Just(events),
            prop::collection::vec(0i64..(LATENESS_S * 1000 - 1), n),
            1usize..20,
            0usize..=n,
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn shuffled_within_lateness_gives_the_same_alerts((events, delays, batch, _cut) in scenario()) {
        let mut inorder = Engine::new(rules(), EngineOptions::default());
        let a = run(&mut inorder, &events, batch);
        let a = signature(&finish(&mut inorder, a));
        // each event arrives up to LATENESS - 1 ms after its event time (a bounded shuffle)
        let mut arrival: Vec<(i64, usize)> = events
            .iter()
            .zip(&delays)
            .enumerate()
            .map(|(i, (e, d))| (e.timestamp.0 + d * 1_000_000, i))
            .collect();
        arrival.sort();
        let shuffled: Vec<Event> = arrival.iter().map(|(_, i)| events[*i].clone()).collect();
        let mut sh = Engine::new(rules(), EngineOptions::default());
        let b = run(&mut sh, &shuffled, batch);
        let b = signature(&finish(&mut sh, b));
        prop_assert_eq!(&a, &b);
        let late: u64 = (0..6).map(|i| sh.stats(i).late).sum();
        prop_assert_eq!(late, 0);
    }

    #[test]
    fn a_restart_at_any_point_loses_and_doubles_nothing((events, _delays, batch, cut) in scenario()) {
        let mut whole = Engine::new(rules(), EngineOptions::default());
        let a = run(&mut whole, &events, batch);
        let a = signature(&finish(&mut whole, a));
        // cut at a batch boundary: snapshot, drop the engine, restore into a new one
        let cut = (cut / batch) * batch;
        let mut first = Engine::new(rules(), EngineOptions::default());
        let mut out = run(&mut first, &events[..cut], batch);
        let snap = first.snapshot();
        drop(first);
        let mut second = Engine::new(rules(), EngineOptions::default());
        let report = second.restore(&snap);
        prop_assert!(report.is_ok());
        out.extend(run(&mut second, &events[cut..], batch));
        let b = signature(&finish(&mut second, out));
        prop_assert_eq!(a, b);
    }
}

#[test]
fn reload_keeps_unchanged_rules_and_restarts_changed_ones() {
    let mut e = Engine::new(rules(), EngineOptions::default());
    let evs: Vec<Event> = (0..4).map(|i| event(i * 1000, 1, 0, false)).collect();
    run(&mut e, &evs, 1);
    let changed = RULES.replace(
        "threshold: 3}]\n  - id: spray",
        "threshold: 4}]\n  - id: spray",
    );
    assert_ne!(changed, RULES);
    let (new_rules, p) = load_str("eventtime.yaml", &changed);
    assert!(p.is_empty());
    let (mut next, report) = e.reload(new_rules);
    assert_eq!(report.rules_dropped, vec!["bf-every".to_string()]);
    assert_eq!(report.rules_restored, 5);
    // bf kept its 4 failures: the 5th fires it
    let out = next.process(&[event(5000, 1, 0, false)]);
    let out = finish(&mut next, out);
    assert_eq!(
        out.iter()
            .filter(|o| o.rule.as_ref().is_some_and(|r| r.id == "bf"))
            .count(),
        1
    );
    // bf-every started clean: 1 failure after the reload, below its new threshold of 4
    assert_eq!(
        out.iter()
            .filter(|o| o.rule.as_ref().is_some_and(|r| r.id == "bf-every"))
            .count(),
        0
    );
}

#[test]
fn a_corrupt_snapshot_is_an_error_not_a_panic() {
    let mut e = Engine::new(rules(), EngineOptions::default());
    assert!(e.restore(b"not a snapshot").is_err());
    assert!(e.restore(&[]).is_err());
}

#[test]
fn group_cap_evicts_and_counts() {
    let mut e = Engine::new(
        rules(),
        EngineOptions {
            max_groups_per_rule: 100,
            ..EngineOptions::default()
        },
    );
    let evs: Vec<Event> = (0..250)
        .map(|i| {
            let mut m = BTreeMap::new();
            m.insert(
                "source.ip".to_string(),
                serde_json::json!(format!("10.0.{}.{}", i / 256, i % 256)),
            );
            m.insert("event.outcome".to_string(), serde_json::json!("failure"));
            test_event(&m, T0 + i * 10_000_000, 0).unwrap_or_default()
        })
        .collect();
    run(&mut e, &evs, 50);
    e.advance_watermark(T0 + 10 * S);
    let r = e.rule_report("bf");
    assert!(
        r.as_ref()
            .is_some_and(|r| r.groups <= 100 && r.stats.evicted >= 150),
        "{r:?}"
    );
}
