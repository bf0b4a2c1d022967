//! Retroscan (KUMA's Retroscan): replay stored events through a rule set and report the alerts
//! it would have raised, with a per-rule diff against the rules currently live.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

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

/// A retroscan in progress: feed it stored events in time order, batch by batch, then
/// [`Retroscan::finish`]. Only the alerts are kept, so a replay of any length runs in the
/// memory of the rules' state.
#[derive(Debug)]
pub struct Retroscan {
    candidate: Engine,
    live: Option<Engine>,
    after: Vec<Output>,
    before: Vec<Output>,
    events: u64,
}

impl Retroscan {
    /// A replay of `candidate`, diffed against `live` when given.
    pub fn new(candidate: Rules, live: Option<Rules>) -> Retroscan {
        Retroscan::shared(Arc::new(candidate), live.map(Arc::new))
    }

    /// A replay of rule sets shared with other replays (one per tenant).
    pub fn shared(candidate: Arc<Rules>, live: Option<Arc<Rules>>) -> Retroscan {
        Retroscan {
            candidate: Engine::from_rules(candidate, EngineOptions::default()),
            live: live.map(|l| Engine::from_rules(l, EngineOptions::default())),
            after: Vec::new(),
            before: Vec::new(),
            events: 0,
        }
    }

    /// Replays one batch.
    pub fn feed(&mut self, events: &[Event]) {
        self.events += events.len() as u64;
        self.after.extend(
            self.candidate
                .process(events)
                .into_iter()
                .filter(|o| o.rule.is_some()),
        );
        if let Some(l) = &mut self.live {
            self.before
                .extend(l.process(events).into_iter().filter(|o| o.rule.is_some()));
        }
    }

    /// Events replayed so far.
    pub fn events(&self) -> u64 {
        self.events
    }

    /// Alerts of the candidate so far (windows still open not counted).
    pub fn alerts(&self) -> usize {
        self.after.len()
    }

    /// Ends the replay: every window and absence is decided (an absence whose window
    /// reaches past the last event fires: the replay cannot know what came after), and the
    /// alerts are diffed per rule.
    pub fn finish(mut self) -> RetroReport {
        self.after.extend(
            self.candidate
                .advance_watermark(i64::MAX)
                .into_iter()
                .filter(|o| o.rule.is_some()),
        );
        if let Some(l) = &mut self.live {
            self.before.extend(
                l.advance_watermark(i64::MAX)
                    .into_iter()
                    .filter(|o| o.rule.is_some()),
            );
        }
        let mut sets: BTreeMap<String, (BTreeSet<String>, BTreeSet<String>)> = BTreeMap::new();
        for o in &self.before {
            if let Some((id, sig)) = signature(o) {
                sets.entry(id).or_default().0.insert(sig);
            }
        }
        for o in &self.after {
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
            events: self.events,
            rules,
            alerts: self.after.into_iter().map(|o| o.event).collect(),
        }
    }
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
    let mut scan = Retroscan::new(candidate, live);
    for chunk in events.chunks(batch.max(1)) {
        scan.feed(chunk);
    }
    scan.finish()
}
