//! Retroscan (KUMA's Retroscan): replay stored events through a rule set and report the alerts
//! it would have raised, with a per-rule diff against the rules currently live.

use std::collections::{BTreeMap, BTreeSet};

use vigil_event::Event;

use crate::compile::Rules;
use crate::engine::{Engine, EngineOptions, Output};

/// Per-rule outcome of a retroscan.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetroRule {
    /// Rule id.
    pub id: String,
    /// Alerts of the live rules.
    pub before: u64,
    /// Alerts of the candidate rules.
    pub after: u64,
    /// Alerts the candidate raises that the live rules did not.
    pub new: u64,
    /// Alerts of the live rules the candidate no longer raises.
    pub gone: u64,
}

/// The outcome of [`retroscan`].
#[derive(Debug, Clone, Default)]
pub struct RetroReport {
    /// Events replayed.
    pub events: u64,
    /// Per rule (union of both sets), by id.
    pub rules: Vec<RetroRule>,
    /// The candidate's correlation events.
    pub alerts: Vec<Event>,
}

/// An alert's identity across two runs: rule, group values and window start.
fn signature(o: &Output) -> Option<(String, String)> {
    let rule = o.rule.as_ref()?;
    let ev = &o.event;
    let group = ev
        .extra
        .get("vigil.correlation.group_by")
        .map(crate::store::value_text)
        .unwrap_or_default();
    let start = ev.event.start.map(|t| t.0).unwrap_or(ev.timestamp.0);
    Some((
        rule.id.clone(),
        format!("{}|{group}|{start}", ev.meta.tenant),
    ))
}

fn run(rules: Rules, events: &[Event], batch: usize) -> (Vec<Output>, i64) {
    let mut engine = Engine::new(rules, EngineOptions::default());
    let mut out = Vec::new();
    let mut last = i64::MIN;
    for chunk in events.chunks(batch.max(1)) {
        out.extend(engine.process(chunk));
        last = last.max(
            chunk
                .iter()
                .map(|e| e.timestamp.0)
                .max()
                .unwrap_or(i64::MIN),
        );
    }
    // the replay is over: every window and absence is decided
    out.extend(engine.advance_watermark(i64::MAX));
    (out, last)
}

/// Replays `events` (in the order given, in batches of `batch`) through `candidate` and, when
/// given, through `live`, and diffs the alerts per rule. The end of the replay closes every
/// window (an absence whose window reaches past the last event fires: the replay cannot know
/// what came after).
pub fn retroscan(
    candidate: Rules,
    live: Option<Rules>,
    events: &[Event],
    batch: usize,
) -> RetroReport {
    let (after, _) = run(candidate, events, batch);
    let before = live.map(|l| run(l, events, batch).0).unwrap_or_default();
    let mut sets: BTreeMap<String, (BTreeSet<String>, BTreeSet<String>)> = BTreeMap::new();
    for o in &before {
        if let Some((id, sig)) = signature(o) {
            sets.entry(id).or_default().0.insert(sig);
        }
    }
    for o in &after {
        if let Some((id, sig)) = signature(o) {
            sets.entry(id).or_default().1.insert(sig);
        }
    }
    let rules = sets
        .into_iter()
        .map(|(id, (b, a))| RetroRule {
            id,
            before: b.len() as u64,
            after: a.len() as u64,
            new: a.difference(&b).count() as u64,
            gone: b.difference(&a).count() as u64,
        })
        .collect();
    RetroReport {
        events: events.len() as u64,
        rules,
        alerts: after
            .into_iter()
            .filter(|o| o.rule.is_some())
            .map(|o| o.event)
            .collect(),
    }
}
