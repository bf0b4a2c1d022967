//! Rule tests: the `tests:` of every rule run on a fresh engine holding the whole rule set (so
//! operational rules fill the lists other rules read, and chained rules see correlation
//! events), for `vigil rules test`.

use std::collections::BTreeMap;
use std::sync::Arc;

use smol_str::SmolStr;
use vigil_event::{Event, Timestamp, Value};

use crate::compile::{Rules, parse_duration};
use crate::engine::{Engine, EngineOptions, Output};
use crate::raw::RawTest;

/// Event time of a test's start: 2026-01-01T00:00:00Z.
pub const TEST_EPOCH_NS: i64 = 1_767_225_600_000_000_000;

/// A test that failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestFailure {
    /// Rule id.
    pub rule: String,
    /// Test name.
    pub test: String,
    /// What went wrong.
    pub message: String,
}

/// The outcome of [`run_tests`].
#[derive(Debug, Clone, Default)]
pub struct TestReport {
    /// Tests run.
    pub run: usize,
    /// Tests passed.
    pub passed: usize,
    /// Rules without tests.
    pub untested: Vec<String>,
    /// Failures.
    pub failures: Vec<TestFailure>,
}

fn substitute(s: &str, i: u64) -> String {
    if !s.contains('{') {
        return s.to_string();
    }
    let ip = format!("10.{}.{}.{}", (i >> 16) & 255, (i >> 8) & 255, i & 255);
    s.replace("{i}", &i.to_string()).replace("{ip}", &ip)
}

fn json_sub(v: &serde_json::Value, i: u64) -> serde_json::Value {
    match v {
        serde_json::Value::String(s) => serde_json::Value::String(substitute(s, i)),
        serde_json::Value::Array(a) => {
            serde_json::Value::Array(a.iter().map(|x| json_sub(x, i)).collect())
        }
        other => other.clone(),
    }
}

/// Builds one event from a test's field map (special keys `at`, `repeat`, `every` ignored,
/// `tenant` sets the tenant) at event time `ts`, with `{i}` substituted by `index`.
pub fn test_event(
    fields: &BTreeMap<String, serde_json::Value>,
    ts: i64,
    index: u64,
) -> Result<Event, String> {
    let at = Timestamp(ts);
    let mut ev = Event {
        timestamp: at,
        ..Event::default()
    };
    ev.meta.id = vigil_event::new_event_id(at);
    ev.meta.received = at;
    for (k, v) in fields {
        match k.as_str() {
            "at" | "repeat" | "every" => {}
            "tenant" => ev.meta.tenant = SmolStr::new(v.as_str().unwrap_or_default()),
            _ => {
                let v = json_sub(v, index);
                ev.set(k, Value::from_json(&v))
                    .map_err(|e| format!("field '{k}': {e}"))?;
            }
        }
    }
    Ok(ev)
}

fn test_events(t: &RawTest) -> Result<Vec<Event>, String> {
    let mut out = Vec::new();
    let mut cursor = TEST_EPOCH_NS - 1_000_000_000;
    for (n, item) in t.events.iter().enumerate() {
        let dur = |key: &str| -> Result<Option<i64>, String> {
            match item.get(key) {
                None => Ok(None),
                Some(serde_json::Value::String(s)) => parse_duration(s)
                    .map(Some)
                    .map_err(|e| format!("events[{n}].{key}: {e}")),
                Some(serde_json::Value::Number(x)) => Ok(x.as_i64().map(|s| s * 1_000_000_000)),
                Some(_) => Err(format!("events[{n}].{key}: a duration such as 10s")),
            }
        };
        let repeat = item
            .get("repeat")
            .and_then(|v| v.as_u64())
            .unwrap_or(1)
            .min(100_000);
        let every = dur("every")?.unwrap_or(1_000_000_000);
        let start = match dur("at")? {
            Some(at) => TEST_EPOCH_NS + at,
            None => cursor + 1_000_000_000,
        };
        for i in 0..repeat {
            let ts = start + every * i as i64;
            out.push(test_event(item, ts, i).map_err(|e| format!("events[{n}]: {e}"))?);
            cursor = ts;
        }
    }
    Ok(out)
}

fn preload(engine: &mut Engine, t: &RawTest) -> Result<(), String> {
    for (list, rows) in &t.lists {
        let stores = engine.stores_mut();
        let Some(s) = stores.index(list) else {
            return Err(format!("lists.{list}: no such list or table"));
        };
        let key_cols = stores.defs()[s].key.clone();
        for (ri, row) in rows.iter().enumerate() {
            let mut key = Vec::new();
            for k in &key_cols {
                match row.get(k) {
                    Some(v) => {
                        key.push(SmolStr::new(crate::store::value_text(&Value::from_json(v))))
                    }
                    None => return Err(format!("lists.{list}[{ri}]: key column '{k}' missing")),
                }
            }
            let values = row
                .iter()
                .map(|(c, v)| (c.clone(), Value::from_json(v)))
                .collect();
            stores.write(
                s,
                vigil_event::DEFAULT_TENANT,
                &key,
                values,
                false,
                None,
                TEST_EPOCH_NS - 1,
            );
        }
    }
    Ok(())
}

/// Runs one test of rule `rule`: what went wrong (if anything), the events it replayed and
/// the correlation events of the rule under test that raise an alert.
fn run_one(rules: &Arc<Rules>, ri: usize, t: &RawTest) -> (Result<(), String>, u64, Vec<Event>) {
    let mut seen = 0;
    let mut alerts = Vec::new();
    let r = run_one_inner(rules, ri, t, &mut seen, &mut alerts);
    (r, seen, alerts)
}

fn run_one_inner(
    rules: &Arc<Rules>,
    ri: usize,
    t: &RawTest,
    seen: &mut u64,
    alerts: &mut Vec<Event>,
) -> Result<(), String> {
    let rule = &rules.rules[ri];
    let mut engine = Engine::from_rules(rules.clone(), EngineOptions::default());
    preload(&mut engine, t)?;
    let events = test_events(t)?;
    let mut outs: Vec<Output> = Vec::new();
    let last = events
        .iter()
        .map(|e| e.timestamp.0)
        .max()
        .unwrap_or(TEST_EPOCH_NS);
    for ev in &events {
        outs.extend(engine.process(std::slice::from_ref(ev)));
    }
    let advance = match &t.advance {
        Some(a) => parse_duration(a)?,
        None => rule.window_ns + rule.lateness_ns + 1_000_000_000,
    };
    outs.extend(engine.advance_watermark(last.saturating_add(advance)));
    *seen = events.len() as u64;
    alerts.extend(
        outs.iter()
            .filter(|o| o.alert && o.rule.as_ref().is_some_and(|r| r.id == rule.id))
            .map(|o| o.event.clone()),
    );
    let mut problems = Vec::new();
    let fired = engine.stats(ri).fired;
    if fired != t.expect.fires {
        problems.push(format!(
            "fired {fired} time(s), expected {}",
            t.expect.fires
        ));
    }
    for (other, want) in &t.expect.also {
        match engine.rule_index(other) {
            Some(oi) => {
                let got = engine.stats(oi).fired;
                if got != *want {
                    problems.push(format!(
                        "rule '{other}' fired {got} time(s), expected {want}"
                    ));
                }
            }
            None => problems.push(format!("expect.also: no rule '{other}'")),
        }
    }
    if !t.expect.group.is_empty() {
        match outs
            .iter()
            .find(|o| o.rule.as_ref().is_some_and(|r| r.id == rule.id))
        {
            Some(o) => {
                for (f, want) in &t.expect.group {
                    let got = crate::engine::first_text(&o.event, f);
                    if got.as_deref() != Some(want.as_str()) {
                        problems.push(format!(
                            "correlation event {f} = {got:?}, expected '{want}'"
                        ));
                    }
                }
            }
            None => problems.push("no correlation event to check expect.group on".into()),
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}

/// Runs the tests of every rule.
pub fn run_tests(rules: Rules) -> TestReport {
    run_tests_with_alerts(rules).0
}

/// What one test raised: rule id, test name, events replayed, the rule's alert events.
pub type TestAlerts = (String, String, u64, Vec<Event>);

/// Runs the tests of every rule; also returns, per test, the events it replayed and the
/// alerts the rule under test raised.
pub fn run_tests_with_alerts(rules: Rules) -> (TestReport, Vec<TestAlerts>) {
    let rules = Arc::new(rules);
    let mut report = TestReport::default();
    let mut outputs = Vec::new();
    for (ri, rule) in rules.rules.iter().enumerate() {
        if rule.tests.is_empty() {
            report.untested.push(rule.id.clone());
        }
        for t in &rule.tests {
            report.run += 1;
            let (result, seen, alerts) = run_one(&rules, ri, t);
            outputs.push((rule.id.clone(), t.name.clone(), seen, alerts));
            match result {
                Ok(()) => report.passed += 1,
                Err(message) => report.failures.push(TestFailure {
                    rule: rule.id.clone(),
                    test: t.name.clone(),
                    message,
                }),
            }
        }
    }
    (report, outputs)
}
