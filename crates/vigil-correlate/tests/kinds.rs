//! Rule kinds and triggers, on hand-built events: each test states the semantics it pins.

#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::disallowed_methods,
    clippy::field_reassign_with_default
)]

use std::collections::BTreeMap;

use vigil_correlate::{Engine, EngineOptions, Output, Rules, load_str, test_event};
use vigil_event::Event;

const S: i64 = 1_000_000_000;
const T0: i64 = 1_767_225_600 * S;

fn rules(text: &str) -> Rules {
    let (rules, problems) = load_str("test.yaml", text);
    assert!(problems.is_empty(), "{problems:#?}");
    rules
}

fn ev(secs: f64, fields: &[(&str, &str)]) -> Event {
    let m: BTreeMap<String, serde_json::Value> = fields
        .iter()
        .map(|(k, v)| (k.to_string(), serde_json::Value::String(v.to_string())))
        .collect();
    test_event(&m, T0 + (secs * 1e9) as i64, 0).unwrap_or_default()
}

fn fail(secs: f64, ip: &str) -> Event {
    ev(
        secs,
        &[
            ("event.action", "ssh_login"),
            ("event.outcome", "failure"),
            ("source.ip", ip),
            ("user.name", "root"),
        ],
    )
}

fn run(engine: &mut Engine, events: &[Event], end: i64) -> Vec<Output> {
    let mut out = Vec::new();
    for e in events {
        out.extend(engine.process(std::slice::from_ref(e)));
    }
    out.extend(engine.advance_watermark(end));
    out
}

fn fired(out: &[Output], id: &str) -> usize {
    out.iter()
        .filter(|o| o.rule.as_ref().is_some_and(|r| r.id == id))
        .count()
}

const BRUTE: &str = r#"
id: bf
name: SSH brute force
kind: standard
severity: high
attack: {tactics: [credential-access], techniques: [T1110.001]}
window: 60s
lateness: 30s
group_by: [source.ip]
selectors:
  - name: failure
    query: 'event.action:ssh_login AND event.outcome:failure'
    threshold: 5
"#;

#[test]
fn first_threshold_fires_once_per_window_then_skips_its_rest() {
    let mut e = Engine::new(rules(BRUTE), EngineOptions::default());
    // 12 failures 2 s apart: fires at the 5th (t=8); t=10..60 are inside the first window
    // (opened at t=0) and skipped; t=62 opens a new window that never reaches 5... (62..? no:
    // only up to t=22 exist), so exactly one alert
    let evs: Vec<Event> = (0..12)
        .map(|i| fail(f64::from(i) * 2.0, "203.0.113.9"))
        .collect();
    let out = run(&mut e, &evs, T0 + 3600 * S);
    assert_eq!(fired(&out, "bf"), 1);
    let c = &out[0].event;
    assert_eq!(c.meta.kind, vigil_event::EventType::Correlation);
    assert_eq!(
        c.get("source.ip").map(|v| v.to_string()),
        Some("203.0.113.9".into())
    );
    assert_eq!(c.event.severity, Some(4));
    assert!(c.tags.iter().any(|t| t == "attack.t1110.001"));
    let ids = c.extra.get("vigil.correlation.base_event_ids");
    assert!(matches!(ids, Some(vigil_event::Value::List(l)) if l.len() == 5));
    assert_eq!(e.stats(0).skipped, 7);
}

#[test]
fn window_is_honoured_four_in_a_minute_never_fire() {
    let mut e = Engine::new(rules(BRUTE), EngineOptions::default());
    // 40 failures, one every 16 s: never 5 within 60 s (a frequency rule whose window is honoured)
    let evs: Vec<Event> = (0..40)
        .map(|i| fail(f64::from(i) * 16.0, "198.51.100.1"))
        .collect();
    let out = run(&mut e, &evs, T0 + 3600 * S);
    assert_eq!(fired(&out, "bf"), 0);
    // 15 s apart: 5 within 60 s exactly (0,15,30,45,60): fires
    let mut e = Engine::new(rules(BRUTE), EngineOptions::default());
    let evs: Vec<Event> = (0..5)
        .map(|i| fail(f64::from(i) * 15.0, "198.51.100.1"))
        .collect();
    assert_eq!(fired(&run(&mut e, &evs, T0 + 3600 * S), "bf"), 1);
}

#[test]
fn more_than_a_thousand_groups_all_fire() {
    let mut e = Engine::new(rules(BRUTE), EngineOptions::default());
    let mut evs = Vec::new();
    for round in 0..5 {
        for g in 0..1500u32 {
            let ip = format!("10.{}.{}.1", g / 256, g % 256);
            evs.push(fail(f64::from(round) * 5.0 + f64::from(g) * 0.001, &ip));
        }
    }
    let out = run(&mut e, &evs, T0 + 3600 * S);
    assert_eq!(fired(&out, "bf"), 1500);
}

#[test]
fn unique_fields_count_distinct_values() {
    let r = rules(
        r#"
id: spray
name: Password spraying
kind: standard
window: 5m
group_by: [source.ip]
unique: [user.name]
selectors:
  - {name: failure, query: 'event.outcome:failure', threshold: 3}
"#,
    );
    let mut e = Engine::new(r, EngineOptions::default());
    let mk = |t: f64, u: &str| {
        ev(
            t,
            &[
                ("event.outcome", "failure"),
                ("source.ip", "192.0.2.7"),
                ("user.name", u),
            ],
        )
    };
    // same user ten times: 1 distinct value, no alert; then two more users: alert
    let mut evs: Vec<Event> = (0..10).map(|i| mk(f64::from(i), "admin")).collect();
    assert_eq!(fired(&run(&mut e, &evs, T0 + 10 * S), "spray"), 0);
    evs = vec![mk(12.0, "bob"), mk(13.0, "carol")];
    assert_eq!(fired(&run(&mut e, &evs, T0 + 3600 * S), "spray"), 1);
}

#[test]
fn recovery_selector_clears_the_bucket() {
    let r = rules(
        r#"
id: rec
name: failures not followed by success
kind: standard
window: 60s
lateness: 0s
group_by: [source.ip]
selectors:
  - {name: failure, query: 'event.outcome:failure', threshold: 3}
  - {name: success, query: 'event.outcome:success', recovery: true}
"#,
    );
    let mut e = Engine::new(r, EngineOptions::default());
    let f = |t: f64| {
        ev(
            t,
            &[("event.outcome", "failure"), ("source.ip", "192.0.2.1")],
        )
    };
    let ok = ev(
        1.5,
        &[("event.outcome", "success"), ("source.ip", "192.0.2.1")],
    );
    let out = run(&mut e, &[f(0.0), f(1.0), ok, f(3.0), f(4.0)], T0 + 3600 * S);
    assert_eq!(fired(&out, "rec"), 0);
    assert_eq!(e.stats(0).recovered, 1);
}

fn trigger_rule(trigger: &str) -> Rules {
    rules(&format!(
        r#"
id: t
name: trigger {trigger}
kind: standard
window: 60s
lateness: 0s
trigger: {trigger}
group_by: [source.ip]
selectors:
  - {{name: hit, query: 'event.outcome:failure', threshold: 3}}
"#
    ))
}

#[test]
fn triggers_every_threshold_every_event_window_end() {
    let evs: Vec<Event> = (0..9)
        .map(|i| {
            ev(
                f64::from(i),
                &[("event.outcome", "failure"), ("source.ip", "192.0.2.2")],
            )
        })
        .collect();
    let count = |trigger: &str, end: i64| {
        let mut e = Engine::new(trigger_rule(trigger), EngineOptions::default());
        fired(&run(&mut e, &evs, end), "t")
    };
    assert_eq!(count("first_threshold", T0 + 3600 * S), 1);
    assert_eq!(count("every_threshold", T0 + 3600 * S), 3);
    assert_eq!(count("every_event", T0 + 3600 * S), 7);
    // window end: decided only once the watermark passed t0 + 60 s
    assert_eq!(count("window_end", T0 + 59 * S), 0);
    let mut e = Engine::new(trigger_rule("window_end"), EngineOptions::default());
    let out = run(&mut e, &evs, T0 + 61 * S);
    assert_eq!(fired(&out, "t"), 1);
    assert_eq!(
        out[0].event.extra.get("vigil.correlation.base_event_count"),
        Some(&vigil_event::Value::Int(9))
    );
}

#[test]
fn rate_limit_per_group() {
    let r = rules(
        r#"
id: s
name: every admin login
kind: simple
group_by: [user.name]
rate_limit: {max: 2, per: 1h}
selectors:
  - {name: login, query: 'event.action:login'}
"#,
    );
    let mut e = Engine::new(r, EngineOptions::default());
    let mut evs = Vec::new();
    for i in 0..5 {
        evs.push(ev(
            f64::from(i),
            &[("event.action", "login"), ("user.name", "alice")],
        ));
        evs.push(ev(
            f64::from(i),
            &[("event.action", "login"), ("user.name", "bob")],
        ));
    }
    evs.push(ev(
        3601.0 + 10.0,
        &[("event.action", "login"), ("user.name", "alice")],
    ));
    let out = run(&mut e, &evs, T0 + 7200 * S);
    assert_eq!(fired(&out, "s"), 5);
    assert_eq!(e.stats(0).rate_limited, 6);
}

const SEQ: &str = r#"
id: seq
name: account created then added to admins
kind: sequence
window: 1h
lateness: 10s
selectors:
  - name: created
    query: 'event.action:user_created'
  - name: added
    query: 'event.action:group_member_added AND group.name in (sudo, wheel, admin)'
    join: {user.target.name: created.user.target.name}
copy: [user.target.name]
"#;

#[test]
fn sequence_in_order_with_join() {
    let r = rules(SEQ);
    let created = |t: f64, u: &str| {
        ev(
            t,
            &[("event.action", "user_created"), ("user.target.name", u)],
        )
    };
    let added = |t: f64, u: &str| {
        ev(
            t,
            &[
                ("event.action", "group_member_added"),
                ("group.name", "sudo"),
                ("user.target.name", u),
            ],
        )
    };
    // in order, joined: fires
    let mut e = Engine::new(rules(SEQ), EngineOptions::default());
    let out = run(
        &mut e,
        &[created(0.0, "eve"), added(30.0, "eve")],
        T0 + 7200 * S,
    );
    assert_eq!(fired(&out, "seq"), 1);
    assert_eq!(
        out[0].event.get("user.target.name").map(|v| v.to_string()),
        Some("eve".into())
    );
    // another user: the join fails
    let mut e = Engine::new(r, EngineOptions::default());
    assert_eq!(
        fired(
            &run(
                &mut e,
                &[created(0.0, "eve"), added(30.0, "mallory")],
                T0 + 7200 * S
            ),
            "seq"
        ),
        0
    );
    // wrong order (added before created, beyond the lateness): nothing
    let mut e = Engine::new(rules(SEQ), EngineOptions::default());
    assert_eq!(
        fired(
            &run(
                &mut e,
                &[added(0.0, "eve"), created(30.0, "eve")],
                T0 + 7200 * S
            ),
            "seq"
        ),
        0
    );
    // out of the window
    let mut e = Engine::new(rules(SEQ), EngineOptions::default());
    assert_eq!(
        fired(
            &run(
                &mut e,
                &[created(0.0, "eve"), added(3700.0, "eve")],
                T0 + 7200 * S
            ),
            "seq"
        ),
        0
    );
}

#[test]
fn sequence_cross_field_join() {
    // a host attacked from X then connecting out to X's peers: source.ip of step 2 equals
    // destination.ip of step 1
    let r = rules(
        r#"
id: pivot
name: inbound then outbound from the target
kind: sequence
window: 10m
selectors:
  - {name: inbound, query: 'event.action:exploit_attempt'}
  - name: outbound
    query: 'event.action:connection'
    join: {source.ip: inbound.destination.ip}
"#,
    );
    let mut e = Engine::new(r, EngineOptions::default());
    let a = ev(
        0.0,
        &[
            ("event.action", "exploit_attempt"),
            ("source.ip", "203.0.113.5"),
            ("destination.ip", "10.0.0.8"),
        ],
    );
    let b = ev(
        20.0,
        &[
            ("event.action", "connection"),
            ("source.ip", "10.0.0.8"),
            ("destination.ip", "198.51.100.3"),
        ],
    );
    let c = ev(
        25.0,
        &[
            ("event.action", "connection"),
            ("source.ip", "10.0.0.9"),
            ("destination.ip", "198.51.100.3"),
        ],
    );
    assert_eq!(fired(&run(&mut e, &[a, c, b], T0 + 7200 * S), "pivot"), 1);
}

const ABSENCE: &str = r#"
id: abs
name: backup started but never finished
kind: absence
window: 10m
lateness: 30s
group_by: [host.name]
selectors:
  - {name: started, query: 'event.action:backup_started'}
  - {name: finished, query: 'event.action:backup_finished'}
"#;

#[test]
fn absence_fires_only_after_the_watermark_passes_the_window_end() {
    let start = ev(
        0.0,
        &[("event.action", "backup_started"), ("host.name", "db1")],
    );
    let done = ev(
        300.0,
        &[("event.action", "backup_finished"), ("host.name", "db1")],
    );
    // the data stops early: no alert, whatever the wall clock says
    let mut e = Engine::new(rules(ABSENCE), EngineOptions::default());
    assert_eq!(
        fired(
            &run(&mut e, std::slice::from_ref(&start), T0 + 500 * S),
            "abs"
        ),
        0
    );
    // the watermark passes the end: alert
    assert_eq!(fired(&e.advance_watermark(T0 + 601 * S), "abs"), 1);
    // the expected event came: no alert
    let mut e = Engine::new(rules(ABSENCE), EngineOptions::default());
    assert_eq!(
        fired(&run(&mut e, &[start.clone(), done], T0 + 3600 * S), "abs"),
        0
    );
    // another host's events move the watermark on
    let mut e = Engine::new(rules(ABSENCE), EngineOptions::default());
    let other = ev(
        700.0,
        &[("event.action", "heartbeat"), ("host.name", "web1")],
    );
    assert_eq!(fired(&run(&mut e, &[start, other], i64::MIN), "abs"), 1);
}

#[test]
fn silent_source() {
    let r = rules(
        r#"
id: silent
name: host stopped sending
kind: absence
window: 15m
lateness: 1m
group_by: [host.name]
selectors:
  - {name: any, query: 'host.name:*'}
"#,
    );
    let mut e = Engine::new(r, EngineOptions::default());
    let mut evs = Vec::new();
    for i in 0..60 {
        evs.push(ev(f64::from(i) * 60.0, &[("host.name", "web1")]));
        if i < 10 {
            evs.push(ev(f64::from(i) * 60.0 + 1.0, &[("host.name", "db1")]));
        }
    }
    let out = run(&mut e, &evs, i64::MIN);
    // db1 last spoke at 541 s; silent from 541 + 900 s, which the watermark (3540 - 60) passed
    assert_eq!(fired(&out, "silent"), 1);
    assert_eq!(
        out.iter()
            .find(|o| o.rule.is_some())
            .and_then(|o| o.event.get("host.name"))
            .map(|v| v.to_string()),
        Some("db1".into())
    );
}

#[test]
fn operational_rule_fills_a_list_that_a_standard_rule_reads() {
    let r = rules(
        r#"
active_lists:
  - {name: scanners, key: [ip], ttl: 1h}
rules:
  - id: op
    name: remember scanners
    kind: operational
    selectors: [{name: scan, query: 'event.action:port_scan'}]
    actions:
      lists: [{list: scanners, op: set, key: [source.ip], set: {reason: scan}}]
  - id: hit
    name: login from a known scanner
    kind: simple
    selectors:
      - name: login
        query: 'event.action:ssh_login AND event.outcome:success'
        lists: [{list: scanners, key: [source.ip]}]
    actions:
      lists: [{list: scanners, op: get, key: [source.ip]}]
"#,
    );
    let mut e = Engine::new(r, EngineOptions::default());
    let scan = ev(
        0.0,
        &[("event.action", "port_scan"), ("source.ip", "203.0.113.66")],
    );
    let login = ev(
        10.0,
        &[
            ("event.action", "ssh_login"),
            ("event.outcome", "success"),
            ("source.ip", "203.0.113.66"),
        ],
    );
    let other = ev(
        11.0,
        &[
            ("event.action", "ssh_login"),
            ("event.outcome", "success"),
            ("source.ip", "203.0.113.67"),
        ],
    );
    let out = run(&mut e, &[scan, login, other], T0 + 20 * S);
    assert_eq!(fired(&out, "hit"), 1);
    assert_eq!(fired(&out, "op"), 0, "operational rules emit no event");
    assert_eq!(e.stats(0).fired, 1);
    let c = out
        .iter()
        .find(|o| o.rule.is_some())
        .map(|o| o.event.clone())
        .unwrap_or_default();
    assert_eq!(
        c.extra.get("vigil.list.scanners.reason"),
        Some(&vigil_event::Value::Str("scan".into()))
    );
    // the entry expires one hour later: a service event, looped back
    let out = e.advance_watermark(T0 + 2 * 3600 * S);
    assert_eq!(out.len(), 1);
    assert_eq!(
        out[0].event.event.action.as_deref(),
        Some("active_list_record_expired")
    );
    assert_eq!(out[0].event.meta.kind, vigil_event::EventType::Monitoring);
}

#[test]
fn chained_rules_and_the_depth_limit() {
    let r = rules(
        r#"
rules:
  - id: base
    name: any failure
    kind: simple
    selectors: [{name: f, query: 'event.outcome:failure'}]
  - id: chain
    name: a correlation of a correlation
    kind: simple
    selectors: [{name: c, query: 'vigil.type:correlation AND rule.id in (base, chain)'}]
"#,
    );
    let mut e = Engine::new(
        r,
        EngineOptions {
            max_depth: 3,
            ..EngineOptions::default()
        },
    );
    let out = run(
        &mut e,
        &[ev(0.0, &[("event.outcome", "failure")])],
        T0 + 10 * S,
    );
    // base (depth 0) → chain (1) → chain (2) → chain (3), which is not looped back
    assert_eq!(fired(&out, "base"), 1);
    assert_eq!(fired(&out, "chain"), 3);
    assert_eq!(e.stats(1).depth_exceeded, 1);
}

#[test]
fn two_rules_on_the_same_events_both_fire() {
    let text = format!(
        "rules:\n{}\n{}",
        indent(BRUTE),
        indent(
            &BRUTE
                .replace("id: bf", "id: bf2")
                .replace("threshold: 5", "threshold: 3")
        )
    );
    let mut e = Engine::new(rules(&text), EngineOptions::default());
    let evs: Vec<Event> = (0..5).map(|i| fail(f64::from(i), "203.0.113.1")).collect();
    let out = run(&mut e, &evs, T0 + 3600 * S);
    assert_eq!(fired(&out, "bf"), 1);
    assert_eq!(fired(&out, "bf2"), 1);
}

fn indent(rule: &str) -> String {
    let mut out = String::new();
    let mut first = true;
    for line in rule.trim().lines() {
        out.push_str(if first { "  - " } else { "    " });
        out.push_str(line);
        out.push('\n');
        first = false;
    }
    out
}

#[test]
fn sigma_detection_blocks_as_selectors() {
    let r = rules(
        r#"
id: sig
name: sigma selector
kind: standard
window: 60s
lateness: 0s
group_by: [source.ip]
selectors:
  - name: failure
    sigma:
      selection: {event.action: ssh_login, event.outcome: failure}
      condition: selection
    threshold: 2
"#,
    );
    let mut e = Engine::new(r, EngineOptions::default());
    let out = run(
        &mut e,
        &[fail(0.0, "192.0.2.3"), fail(1.0, "192.0.2.3")],
        T0 + 3600 * S,
    );
    assert_eq!(fired(&out, "sig"), 1);
}

#[test]
fn late_events_are_counted_and_dropped_or_evaluated_late() {
    let mut e = Engine::new(rules(BRUTE), EngineOptions::default());
    let mut evs: Vec<Event> = vec![fail(1000.0, "192.0.2.200")];
    evs.extend((0..5).map(|i| fail(f64::from(i), "192.0.2.9")));
    let out = run(&mut e, &evs, T0 + 3600 * S);
    assert_eq!(fired(&out, "bf"), 0);
    assert_eq!(e.stats(0).late, 5);
    assert_eq!(e.stats(0).late_dropped, 5);
    let report = e.rule_report("bf");
    assert_eq!(report.map(|r| r.late_samples.len()), Some(5));
    let late_rule = BRUTE.replace("lateness: 30s", "lateness: 30s\nlate_policy: late_window");
    let mut e = Engine::new(rules(&late_rule), EngineOptions::default());
    let out = run(&mut e, &evs, T0 + 3600 * S);
    assert_eq!(fired(&out, "bf"), 1);
    assert_eq!(
        out[0].event.extra.get("vigil.correlation.late"),
        Some(&vigil_event::Value::Bool(true))
    );
}

#[test]
fn tenants_have_separate_buckets() {
    let mut e = Engine::new(rules(BRUTE), EngineOptions::default());
    let mut evs = Vec::new();
    for i in 0..5 {
        let mut a = fail(f64::from(i), "192.0.2.50");
        a.meta.tenant = if i % 2 == 0 {
            "acme".into()
        } else {
            "globex".into()
        };
        evs.push(a);
    }
    assert_eq!(fired(&run(&mut e, &evs, T0 + 3600 * S), "bf"), 0);
}

#[test]
fn explain_says_what_is_missing() {
    let mut e = Engine::new(rules(BRUTE), EngineOptions::default());
    run(
        &mut e,
        &[fail(0.0, "192.0.2.77"), fail(1.0, "192.0.2.77")],
        T0 + 40 * S,
    );
    let ex = e.explain_group("bf", "main", &["192.0.2.77"]);
    let ex = ex.map(|x| (x.open, x.selectors[0].1, x.summary));
    assert_eq!(ex, Some((true, 2, "failure has 2 of 5".to_string())));
    let ex = e
        .explain_group("bf", "main", &["192.0.2.78"])
        .map(|x| x.open);
    assert_eq!(ex, Some(false));
    let r = e
        .rule_report("bf")
        .map(|r| (r.groups, r.stats.matched, r.state_bytes > 0));
    assert_eq!(r, Some((1, 2, true)));
}

#[test]
fn lists_survive_a_restart_and_expire_after_it() {
    let text = r#"
active_lists:
  - {name: seen, key: [ip], ttl: 1h}
rules:
  - id: remember
    name: remember
    kind: operational
    selectors: [{name: s, query: 'event.action:scan'}]
    actions:
      lists: [{list: seen, op: increment, key: [source.ip]}]
"#;
    let mut e = Engine::new(rules(text), EngineOptions::default());
    let scan = |t: f64| ev(t, &[("event.action", "scan"), ("source.ip", "192.0.2.99")]);
    run(&mut e, &[scan(0.0), scan(1.0)], T0 + 2 * S);
    let snap = e.snapshot();
    let mut e2 = Engine::new(rules(text), EngineOptions::default());
    let report = e2.restore(&snap).unwrap_or_default();
    assert_eq!(report.list_entries, 1);
    let csv = e2.stores().export_csv(0, "main").unwrap_or_default();
    assert!(
        csv.starts_with("ip,count,_expires\n192.0.2.99,2,2026-01-01T01:00:01"),
        "{csv}"
    );
    // the TTL runs on after the restart: one service event when the watermark passes it
    let out = e2.advance_watermark(T0 + 2 * 3600 * S);
    assert_eq!(out.len(), 1);
    assert_eq!(
        out[0].event.extra.get("vigil.list.updates"),
        Some(&vigil_event::Value::Int(2))
    );
}

#[test]
fn retroscan_diffs_candidate_against_live_rules() {
    let live = rules(BRUTE);
    let candidate = rules(&BRUTE.replace("threshold: 5", "threshold: 3"));
    // source .1: 4 failures (only the candidate fires); source .2: 6 failures (both fire)
    let mut evs: Vec<Event> = (0..4).map(|i| fail(f64::from(i), "192.0.2.1")).collect();
    evs.extend((0..6).map(|i| fail(100.0 + f64::from(i), "192.0.2.2")));
    let report = vigil_correlate::retroscan(candidate, Some(live), &evs, 3);
    assert_eq!(report.events, 10);
    let r = &report.rules[0];
    assert_eq!(
        (r.id.as_str(), r.before, r.after, r.new, r.gone),
        ("bf", 1, 2, 1, 0)
    );
    assert_eq!(report.alerts.len(), 2);
}

#[test]
fn a_streamed_retroscan_equals_one_over_the_whole_slice() {
    let live = BRUTE;
    let candidate = BRUTE.replace("threshold: 5", "threshold: 3");
    let mut evs: Vec<Event> = (0..4).map(|i| fail(f64::from(i), "192.0.2.1")).collect();
    evs.extend((0..6).map(|i| fail(100.0 + f64::from(i), "192.0.2.2")));
    evs.extend((0..3).map(|i| fail(500.0 + f64::from(i), "192.0.2.3")));
    let whole = vigil_correlate::retroscan(rules(&candidate), Some(rules(live)), &evs, 1000);
    let mut scan = vigil_correlate::Retroscan::new(rules(&candidate), Some(rules(live)));
    for chunk in evs.chunks(2) {
        scan.feed(chunk);
    }
    assert_eq!(scan.events(), 13);
    let streamed = scan.finish();
    assert_eq!(streamed.rules, whole.rules);
    assert_eq!(streamed.rules[0].after, 3);
    assert_eq!(streamed.alerts.len(), whole.alerts.len());
}

#[test]
fn the_rule_report_measures_the_evaluation_cost_per_event() {
    let mut e = Engine::new(rules(BRUTE), EngineOptions::default());
    let evs: Vec<Event> = (0..200).map(|i| fail(f64::from(i), "192.0.2.9")).collect();
    run(&mut e, &evs, T0 + 3600 * S);
    let r = e.rule_report("bf").expect("rule");
    // one selector test per event; its conditions are field equalities, which the engine's
    // prefilter decides for every rule at once: nothing of the rule's own is evaluated
    assert!((r.tests_per_event - 1.0).abs() < 1e-9, "{r:?}");
    assert_eq!(r.ns_per_test, 0.0, "{r:?}");

    // a selector with a condition beyond the prefilter's is evaluated, some tests timed
    let rule = BRUTE.replace(
        "'event.action:ssh_login AND event.outcome:failure'",
        "'event.action:ssh_login AND event.outcome:failure AND NOT user.name:alice'",
    );
    let mut e = Engine::new(rules(&rule), EngineOptions::default());
    run(&mut e, &evs, T0 + 3600 * S);
    let r = e.rule_report("bf").expect("rule");
    assert!((r.tests_per_event - 1.0).abs() < 1e-9, "{r:?}");
    assert!(r.ns_per_test > 0.0, "{r:?}");
    assert!(r.ns_per_event > 0.0, "{r:?}");
}

#[test]
fn explain_selector_names_the_fields_and_words_that_satisfied_it() {
    let rule = r#"
id: words
name: Failed root logins
kind: standard
severity: low
window: 60s
group_by: [source.ip]
selectors:
  - name: failure
    query: '(event.action:ssh_login OR event.action:sudo) AND event.outcome:failure AND NOT user.name:alice'
  - name: other
    query: 'event.outcome:success'
"#;
    let e = Engine::new(
        rules(&BRUTE.replace("id: bf", "id: bf2")),
        EngineOptions::default(),
    );
    let hits = e.explain_selector("bf2", "failure", &fail(0.0, "192.0.2.9"));
    let f = |f: &str, v: &str| (Some(f.to_string()), v.to_string());
    assert_eq!(
        hits,
        Some(vec![
            f("event.action", "ssh_login"),
            f("event.outcome", "failure")
        ])
    );
    let e = Engine::new(rules(rule), EngineOptions::default());
    // the OR's matching branch only; the NOT decides without being listed
    assert_eq!(
        e.explain_selector("words", "failure", &fail(0.0, "192.0.2.9")),
        Some(vec![
            f("event.action", "ssh_login"),
            f("event.outcome", "failure")
        ])
    );
    // an event that does not satisfy the selector, an unknown selector, an unknown rule
    assert_eq!(
        e.explain_selector("words", "other", &fail(0.0, "192.0.2.9")),
        None
    );
    assert_eq!(
        e.explain_selector("words", "nope", &fail(0.0, "192.0.2.9")),
        None
    );
    assert_eq!(
        e.explain_selector("nope", "failure", &fail(0.0, "192.0.2.9")),
        None
    );
}
