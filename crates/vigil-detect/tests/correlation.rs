//! Correlation rules (Sigma v2 correlation specification, examples written for these tests).

use serde_json::{Value, json};
use vigil_detect::{CorrelationAlert, Correlator, LoadOptions, RuleSet, load_str, parse_timespan};

const BASE: &str = r#"
title: Failed logon
id: 0e95725d-7320-415d-80f7-004da920fc11
name: failed_logon
logsource: {product: windows, service: security}
detection:
    selection: {EventID: 4625}
    condition: selection
---
title: Successful logon
id: 1e95725d-7320-415d-80f7-004da920fc12
name: successful_logon
logsource: {product: windows, service: security}
detection:
    selection: {EventID: 4624}
    condition: selection
---
title: Process start
name: proc
logsource: {product: windows, category: process_creation}
detection:
    selection: {Image|endswith: '\whoami.exe'}
    condition: selection
"#;

fn setup(corr: &str) -> (RuleSet, Correlator) {
    let text = format!("{BASE}---\n{corr}");
    let (set, problems) = load_str(&text, &LoadOptions::default());
    assert!(problems.is_empty(), "{problems:#?}");
    let c = Correlator::new(set.correlations());
    (set, c)
}

fn feed(set: &RuleSet, c: &mut Correlator, ts_s: i64, ev: Value) -> Vec<CorrelationAlert> {
    let d = set.detect(&ev);
    let mut out = Vec::new();
    c.process(&ev, ts_s * 1000, &d, &mut out);
    out
}

#[test]
fn timespans() {
    assert_eq!(parse_timespan("30s"), Ok(30_000));
    assert_eq!(parse_timespan("5m"), Ok(300_000));
    assert_eq!(parse_timespan("1h"), Ok(3_600_000));
    assert_eq!(parse_timespan("2d"), Ok(172_800_000));
    assert!(parse_timespan("5").is_err());
    assert!(parse_timespan("5y").is_err());
}

#[test]
fn event_count_with_group_by() {
    let (set, mut c) = setup(
        "title: Many failed logons\nid: c1\ncorrelation:\n    type: event_count\n    rules: [failed_logon]\n    group-by: [TargetUserName]\n    timespan: 5m\n    condition: {gte: 3}\nlevel: high\n",
    );
    let fail = |u: &str| json!({"EventID": 4625, "TargetUserName": u});
    assert!(feed(&set, &mut c, 0, fail("alice")).is_empty());
    assert!(feed(&set, &mut c, 10, fail("bob")).is_empty());
    assert!(feed(&set, &mut c, 20, fail("alice")).is_empty());
    // The first two alice events fall out of the window: counting restarts.
    assert!(feed(&set, &mut c, 400, fail("alice")).is_empty());
    assert!(feed(&set, &mut c, 405, fail("alice")).is_empty());
    let a = feed(&set, &mut c, 410, fail("alice"));
    assert_eq!(a.len(), 1);
    assert_eq!(
        a[0].group,
        vec![("TargetUserName".to_string(), "alice".to_string())]
    );
    assert_eq!(a[0].count, 3);
    assert_eq!(a[0].first_ms, 400_000);
    // Reset after firing.
    assert!(feed(&set, &mut c, 411, fail("alice")).is_empty());
}

#[test]
fn value_count() {
    let (set, mut c) = setup(
        "title: Password spray\nid: c2\ncorrelation:\n    type: value_count\n    rules: [failed_logon]\n    group-by: [IpAddress]\n    timespan: 1h\n    condition: {gte: 3, field: TargetUserName}\n",
    );
    let fail = |u: &str| json!({"EventID": 4625, "TargetUserName": u, "IpAddress": "10.0.0.9"});
    assert!(feed(&set, &mut c, 0, fail("a")).is_empty());
    assert!(feed(&set, &mut c, 1, fail("a")).is_empty());
    assert!(feed(&set, &mut c, 2, fail("b")).is_empty());
    assert_eq!(feed(&set, &mut c, 3, fail("c")).len(), 1);
}

#[test]
fn temporal_with_aliases() {
    let (set, mut c) = setup(
        "title: Logon then recon\nid: c3\ncorrelation:\n    type: temporal\n    rules: [successful_logon, proc]\n    group-by: [host]\n    timespan: 1m\n    aliases:\n        host:\n            successful_logon: WorkstationName\n            proc: Computer\n",
    );
    let logon = json!({"EventID": 4624, "WorkstationName": "WS1"});
    let proc_ws1 = json!({"Image": "C:\\Windows\\whoami.exe", "Computer": "WS1"});
    let proc_ws2 = json!({"Image": "C:\\Windows\\whoami.exe", "Computer": "WS2"});
    assert!(feed(&set, &mut c, 0, proc_ws2).is_empty());
    assert!(feed(&set, &mut c, 10, logon.clone()).is_empty());
    let a = feed(&set, &mut c, 20, proc_ws1.clone());
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].group, vec![("host".to_string(), "WS1".to_string())]);
    // Too far apart.
    assert!(feed(&set, &mut c, 100, logon).is_empty());
    assert!(feed(&set, &mut c, 200, proc_ws1).is_empty());
}

#[test]
fn temporal_ordered() {
    let (set, mut c) = setup(
        "title: Fail then success\nid: c4\ncorrelation:\n    type: temporal_ordered\n    rules: [failed_logon, successful_logon]\n    group-by: [TargetUserName]\n    timespan: 10m\n",
    );
    let fail = json!({"EventID": 4625, "TargetUserName": "x"});
    let ok = json!({"EventID": 4624, "TargetUserName": "x"});
    // Wrong order does not fire.
    assert!(feed(&set, &mut c, 0, ok.clone()).is_empty());
    assert!(feed(&set, &mut c, 1, fail.clone()).is_empty());
    assert_eq!(feed(&set, &mut c, 2, ok.clone()).len(), 1);
    // Right order but outside the timespan.
    assert!(feed(&set, &mut c, 100, fail).is_empty());
    assert!(feed(&set, &mut c, 1000, ok).is_empty());
}

#[test]
fn chaining_and_generate() {
    let (set, mut c) = setup(
        "title: Many failed\nname: many_failed\nid: c5\ncorrelation:\n    type: event_count\n    rules: [failed_logon]\n    group-by: [TargetUserName]\n    timespan: 5m\n    condition: {gte: 2}\n---\ntitle: Brute force success\nid: c6\ncorrelation:\n    type: temporal_ordered\n    rules: [many_failed, successful_logon]\n    group-by: [TargetUserName]\n    timespan: 10m\n    generate: true\n",
    );
    let fail = json!({"EventID": 4625, "TargetUserName": "x"});
    let ok = json!({"EventID": 4624, "TargetUserName": "x"});
    assert!(feed(&set, &mut c, 0, fail.clone()).is_empty());
    let a = feed(&set, &mut c, 1, fail);
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].rule.title, "Many failed");
    let b = feed(&set, &mut c, 2, ok.clone());
    assert_eq!(b.len(), 1);
    assert_eq!(b[0].rule.title, "Brute force success");
    // failed_logon is referenced with generate: false → its own alerts are suppressed;
    // successful_logon is referenced by c6 with generate: true.
    let d = set.detect(&json!({"EventID": 4625}));
    assert!(!c.should_emit(&d[0]));
    let d = set.detect(&ok);
    assert!(c.should_emit(&d[0]));
}

#[test]
fn bad_correlations_are_reported() {
    let text = format!(
        "{BASE}---\ntitle: x\ncorrelation:\n    type: value_median\n    rules: [failed_logon]\n    timespan: 5m\n---\ntitle: y\ncorrelation:\n    type: event_count\n    rules: [nope]\n    timespan: 5m\n    condition: {{gte: 1}}\n---\ntitle: z\ncorrelation:\n    type: event_count\n    rules: [failed_logon]\n    condition: {{gte: 1}}\n"
    );
    let (set, problems) = load_str(&text, &LoadOptions::default());
    let reasons: Vec<&str> = problems.iter().map(|p| p.reason.as_str()).collect();
    assert!(
        reasons.iter().any(|r| r.contains("value_median")),
        "{reasons:?}"
    );
    assert!(
        reasons.iter().any(|r| r.contains("unknown rules: nope")),
        "{reasons:?}"
    );
    assert!(
        reasons.iter().any(|r| r.contains("timespan")),
        "{reasons:?}"
    );
    assert_eq!(set.len(), 3);
    assert!(set.correlations().is_empty());
}

const COUNT_BY_USER: &str = "title: Many failed logons\nid: c1\ncorrelation:\n    type: event_count\n    rules: [failed_logon]\n    group-by: [TargetUserName]\n    timespan: 5m\n    condition: {gte: 3}\nlevel: high\n";

fn fail(u: &str) -> Value {
    json!({"EventID": 4625, "TargetUserName": u})
}

#[test]
fn late_events_behind_the_watermark_are_not_counted() {
    let (set, mut c) = setup(COUNT_BY_USER);
    c.set_allowed_lateness(60_000);
    assert!(feed(&set, &mut c, 1000, fail("alice")).is_empty());
    // 30 s out of order: within the allowed lateness, counted
    assert!(feed(&set, &mut c, 970, fail("alice")).is_empty());
    assert_eq!(c.late_events(), 0);
    // 2 minutes behind the newest event: late, not counted (else this would be the 3rd)
    assert!(feed(&set, &mut c, 880, fail("alice")).is_empty());
    assert_eq!(c.late_events(), 1);
    assert_eq!(c.watermark(), 940_000);
    // an in-order event completes the window: the late one did not count
    let a = feed(&set, &mut c, 1001, fail("alice"));
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].count, 3);
}

#[test]
fn state_survives_save_and_restore() {
    let (set, mut c) = setup(COUNT_BY_USER);
    assert!(feed(&set, &mut c, 0, fail("alice")).is_empty());
    assert!(feed(&set, &mut c, 10, fail("alice")).is_empty());
    assert!(feed(&set, &mut c, 10, fail("bob")).is_empty());
    let mut saved = Vec::new();
    c.save_state(&mut saved).unwrap_or_default();
    // a new correlator (as after a restart) continues the windows
    let mut d = Correlator::new(set.correlations());
    assert_eq!(d.restore_state(&mut saved.as_slice()), Ok(2));
    assert_eq!(d.watermark(), c.watermark());
    let a = feed(&set, &mut d, 20, fail("alice"));
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].count, 3);
    // states of correlations that no longer exist are skipped; garbage is an error
    let (_, mut e) = setup(
        "title: Other\nid: c2\ncorrelation:\n    type: event_count\n    rules: [failed_logon]\n    group-by: [TargetUserName]\n    timespan: 5m\n    condition: {gte: 3}\n",
    );
    assert_eq!(e.restore_state(&mut saved.as_slice()), Ok(0));
    assert!(e.restore_state(&mut &b"{not json"[..]).is_err());
}
