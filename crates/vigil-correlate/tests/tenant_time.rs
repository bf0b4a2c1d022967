//! Each tenant on its own clock: one tenant's events far ahead in time neither make another
//! tenant's in-window events late nor close its windows and absences; results are identical
//! in order and shuffled within the lateness per tenant, and equal to each tenant run alone.

#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::disallowed_methods
)]

use std::collections::BTreeMap;

use proptest::prelude::*;
use vigil_correlate::{Engine, EngineOptions, Output, Rules, load_str, test_event};
use vigil_event::Event;

const S: i64 = 1_000_000_000;
const T0: i64 = 1_767_225_600 * S;
const LATENESS_S: i64 = 30;
/// Tenant A's clock runs this far ahead of tenant B's (a lagging source, a backlog replay).
const AHEAD: i64 = 3600 * S;

const RULES: &str = r#"
rules:
  - id: bf
    name: brute force
    kind: standard
    window: 60s
    lateness: 30s
    group_by: [source.ip]
    selectors: [{name: f, query: 'event.outcome:failure', threshold: 5}]
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
  - id: silent
    name: silent host
    kind: absence
    window: 5m
    lateness: 30s
    group_by: [host.name]
    selectors: [{name: seen, query: 'host.name:*'}]
"#;

fn rules() -> Rules {
    let (r, p) = load_str("tenant_time.yaml", RULES);
    assert!(p.is_empty(), "{p:#?}");
    r
}

/// An event of `tenant` at `ns` (absolute event time).
fn event(tenant: &str, ns: i64, ip: u8, ok: bool) -> Event {
    let mut m = BTreeMap::new();
    m.insert("tenant".to_string(), serde_json::json!(tenant));
    m.insert(
        "source.ip".to_string(),
        serde_json::json!(format!("192.0.2.{ip}")),
    );
    m.insert("host.name".to_string(), serde_json::json!(format!("h{ip}")));
    m.insert(
        "event.outcome".to_string(),
        serde_json::json!(if ok { "success" } else { "failure" }),
    );
    test_event(&m, ns, 0).unwrap_or_default()
}

/// What identifies an alert independently of arrival order: tenant, rule, group, times, base
/// events.
fn signature(out: &[Output]) -> Vec<String> {
    let text = |e: &Event, k: &str| e.extra.get(k).map(vigil_correlate::store::value_text);
    let mut v: Vec<String> = out
        .iter()
        .filter_map(|o| {
            let r = o.rule.as_ref()?;
            let e = &o.event;
            Some(format!(
                "{} {} {:?} {:?} {:?} {:?}",
                e.meta.tenant,
                r.id,
                text(e, "vigil.correlation.group_by"),
                e.event.start.map(|t| t.0),
                e.timestamp.0,
                text(e, "vigil.correlation.base_event_ids"),
            ))
        })
        .collect();
    v.sort();
    v
}

fn fired(out: &[Output], tenant: &str, rule: &str) -> usize {
    out.iter()
        .filter(|o| o.event.meta.tenant == tenant && o.rule.as_ref().is_some_and(|r| r.id == rule))
        .count()
}

fn late(e: &Engine) -> u64 {
    (0..e.rules().rules.len()).map(|i| e.stats(i).late).sum()
}

#[test]
fn another_tenants_clock_far_ahead_makes_no_event_late() {
    let mut e = Engine::new(rules(), EngineOptions::default());
    // tenant a is an hour ahead: its event arrives first
    let mut out = e.process(&[event("a", T0 + AHEAD, 9, false)]);
    // tenant b's brute force, five failures in 40 s of its own time, arriving after
    let b: Vec<Event> = (0..5)
        .map(|i| event("b", T0 + i * 10 * S, 1, false))
        .collect();
    out.extend(e.process(&b));
    assert_eq!(late(&e), 0, "b's events are on time on b's clock");
    let bf = e.rule_index("bf").unwrap();
    assert_eq!(e.tenant_watermark(bf, "b"), T0 + 40 * S - LATENESS_S * S);
    assert_eq!(e.tenant_watermark(bf, "a"), T0 + AHEAD - LATENESS_S * S);
    out.extend(e.advance_tenant_watermark("b", T0 + 2 * 3600 * S));
    assert_eq!(fired(&out, "b", "bf"), 1, "{:#?}", signature(&out));
}

#[test]
fn another_tenants_clock_far_ahead_fires_no_absence() {
    let mut e = Engine::new(rules(), EngineOptions::default());
    // b: a failure, then its success 60 s later (within the 90 s absence window)
    let mut out = e.process(&[event("b", T0, 1, false)]);
    // a runs an hour ahead meanwhile
    out.extend(e.process(&[event("a", T0 + AHEAD, 9, true)]));
    assert_eq!(
        fired(&out, "b", "no-success"),
        0,
        "a's clock closed b's absence"
    );
    assert_eq!(
        fired(&out, "b", "silent"),
        0,
        "a's clock found b's host silent"
    );
    out.extend(e.process(&[event("b", T0 + 60 * S, 1, true)]));
    assert_eq!(late(&e), 0);
    // everything decided for every tenant: b's absence was satisfied
    out.extend(e.advance_watermark(i64::MAX));
    assert_eq!(fired(&out, "b", "no-success"), 0, "{:#?}", signature(&out));
}

#[test]
fn a_quiet_tenant_is_decided_on_its_own_declared_time() {
    let mut e = Engine::new(rules(), EngineOptions::default());
    // b: one failure and then nothing; a keeps sending, hours ahead
    let mut out = e.process(&[event("b", T0, 1, false)]);
    for i in 0..10 {
        out.extend(e.process(&[event("a", T0 + AHEAD + i * 60 * S, 9, true)]));
    }
    assert_eq!(fired(&out, "b", "no-success"), 0);
    assert_eq!(fired(&out, "b", "silent"), 0);
    // b's input declared complete up to T0 + 100 s: its 90 s absence is decided, its 5 min
    // silence is not yet
    out.extend(e.advance_tenant_watermark("b", T0 + 100 * S));
    assert_eq!(fired(&out, "b", "no-success"), 1);
    assert_eq!(fired(&out, "b", "silent"), 0);
    out.extend(e.advance_tenant_watermark("b", T0 + 301 * S));
    assert_eq!(fired(&out, "b", "silent"), 1);
    // a's silence rule follows a's clock alone: its host sent within the last 5 minutes
    assert_eq!(fired(&out, "a", "silent"), 0);
}

#[test]
fn a_snapshot_keeps_each_tenants_clock() {
    let mut e = Engine::new(rules(), EngineOptions::default());
    e.process(&[event("a", T0 + AHEAD, 9, false)]);
    e.process(&[event("b", T0, 1, false)]);
    let snap = e.snapshot();
    let mut r = Engine::new(rules(), EngineOptions::default());
    r.restore(&snap).unwrap();
    let bf = r.rule_index("bf").unwrap();
    assert_eq!(r.tenant_watermark(bf, "b"), T0 - LATENESS_S * S);
    assert_eq!(r.tenant_watermark(bf, "a"), T0 + AHEAD - LATENESS_S * S);
    // b's next failure 10 s later is on time after the restart too
    r.process(&[event("b", T0 + 10 * S, 1, false)]);
    assert_eq!(late(&r), 0);
}

/// Two tenants' events: (tenant, event time within its own clock in ms, ip, success). B's
/// clock lags A's by [`AHEAD`]; the arrival order interleaves them by their own clocks.
/// (tenant is A, event time within its clock in ms, ip, success) per event.
type Raw = Vec<(bool, i64, u8, bool)>;

fn scenario() -> impl Strategy<Value = (Raw, Vec<i64>, usize)> {
    prop::collection::vec(
        (
            prop::bool::ANY,
            0i64..600_000,
            0u8..4,
            prop::bool::weighted(0.1),
        ),
        1..240,
    )
    .prop_flat_map(|mut raw| {
        raw.sort_by_key(|r| r.1);
        let n = raw.len();
        (
            Just(raw),
            prop::collection::vec(0i64..(LATENESS_S * 1000 - 1), n),
            1usize..20,
        )
    })
}

fn events_of(raw: &[(bool, i64, u8, bool)]) -> Vec<Event> {
    raw.iter()
        .map(|&(is_a, ms, ip, ok)| {
            let (tenant, base) = if is_a { ("a", T0 + AHEAD) } else { ("b", T0) };
            event(tenant, base + ms * 1_000_000, ip, ok)
        })
        .collect()
}

fn run(events: &[Event], batch: usize) -> Vec<String> {
    let mut e = Engine::new(rules(), EngineOptions::default());
    let mut out = Vec::new();
    for c in events.chunks(batch) {
        out.extend(e.process(c));
    }
    out.extend(e.advance_watermark(i64::MAX));
    signature(&out)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn two_tenants_shuffled_within_lateness_give_each_tenants_own_alerts(
        (raw, delays, batch) in scenario()
    ) {
        let events = events_of(&raw);
        // in order of arrival: both tenants' sources send as their clocks go, an hour apart
        let inorder = run(&events, batch);
        // each event delayed by up to the lateness, on its own tenant's clock
        let mut arrival: Vec<(i64, usize)> = raw
            .iter()
            .zip(&delays)
            .enumerate()
            .map(|(i, (r, d))| (r.1 + d, i))
            .collect();
        arrival.sort();
        let shuffled: Vec<Event> = arrival.iter().map(|(_, i)| events[*i].clone()).collect();
        let mut sh = Engine::new(rules(), EngineOptions::default());
        let mut out = Vec::new();
        for c in shuffled.chunks(batch) {
            out.extend(sh.process(c));
        }
        out.extend(sh.advance_watermark(i64::MAX));
        prop_assert_eq!(late(&sh), 0);
        prop_assert_eq!(&inorder, &signature(&out));
        // and the same as each tenant alone
        let alone: Vec<String> = ["a", "b"]
            .iter()
            .flat_map(|t| {
                let mine: Vec<Event> =
                    events.iter().filter(|e| e.meta.tenant == *t).cloned().collect();
                run(&mine, batch)
            })
            .collect();
        let mut alone = alone;
        alone.sort();
        prop_assert_eq!(&inorder, &alone);
    }
}

#[test]
fn silent_gap_inside_one_batch_is_found() {
    // one batch holds both events of a host 400 s apart: the 5 min silence between them
    // fires, as it does when they come in two batches (it was missed: the later event moved
    // the deadline on before the earlier deadline's timer ran)
    let evs = [event("b", T0, 1, true), event("b", T0 + 400 * S, 1, true)];
    for batch in [1, 2] {
        let mut e = Engine::new(rules(), EngineOptions::default());
        let mut out = Vec::new();
        for c in evs.chunks(batch) {
            out.extend(e.process(c));
        }
        out.extend(e.advance_tenant_watermark("b", T0 + 500 * S));
        assert_eq!(fired(&out, "b", "silent"), 1, "batch of {batch}");
    }
}
