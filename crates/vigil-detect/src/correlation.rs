//! Sigma correlation rules (`event_count`, `value_count`, `temporal`, `temporal_ordered`) and
//! the stateful [`Correlator`] that runs them on event time.
//!
//! The caller passes each event's own timestamp (milliseconds) with the detections
//! [`crate::RuleSet::matches`] produced for it. State is kept per correlation and group-by
//! key; a window is the `timespan` ending at the newest event seen for that group, so events
//! arriving out of order still count as long as they fall inside it. When a correlation fires,
//! its group state is reset. Correlations may reference other correlations (chaining): an
//! alert acts as an event of the referenced correlation whose fields are its group-by values.
//!
//! # Late events and the watermark
//! The correlator's *watermark* is the newest event time it has seen minus the allowed
//! lateness ([`DEFAULT_ALLOWED_LATENESS_MS`], [`Correlator::set_allowed_lateness`]). An event
//! older than the watermark is not counted (it is counted in [`Correlator::late_events`]):
//! its windows may already have been evicted, and counting it would make results depend on
//! how late it came. Events at or after the watermark count even when out of order. Group
//! states whose window ended before the watermark are dropped by [`Correlator::evict`].
//!
//! # Persistence
//! [`Correlator::save_state`] writes the live windows (per correlation id and group-by
//! values: event times, distinct values, temporal slots) and the watermark as JSON;
//! [`Correlator::restore_state`] reads them back into a correlator built from the same or a
//! newer rule set (states of correlations that no longer exist are skipped), so `vigil up`
//! keeps its windows across restarts and rule reloads. Both are bounded by the group cap.

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use yaml_serde::{Mapping, Value as Yaml};

use crate::engine::Detection;
use crate::event::{FieldValue, SigmaEvent};
use crate::rule::get_str;

/// Correlation type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CorrelationType {
    /// Count of matching events per group.
    EventCount,
    /// Count of distinct values of a field per group.
    ValueCount,
    /// All (or N of the) referenced rules matched within the timespan, in any order.
    Temporal,
    /// The referenced rules matched in the listed order within the timespan.
    TemporalOrdered,
}

/// One comparison of a correlation `condition`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CmpCond {
    /// `gt`
    Gt(u64),
    /// `gte`
    Gte(u64),
    /// `lt`
    Lt(u64),
    /// `lte`
    Lte(u64),
    /// `eq`
    Eq(u64),
    /// `neq`
    Neq(u64),
}

impl CmpCond {
    fn holds(&self, n: u64) -> bool {
        match *self {
            CmpCond::Gt(x) => n > x,
            CmpCond::Gte(x) => n >= x,
            CmpCond::Lt(x) => n < x,
            CmpCond::Lte(x) => n <= x,
            CmpCond::Eq(x) => n == x,
            CmpCond::Neq(x) => n != x,
        }
    }
}

/// A parsed correlation rule.
#[derive(Debug, Clone)]
pub struct CorrelationRule {
    /// `id` (or the title when absent).
    pub id: String,
    /// `name` (how other correlations reference this one).
    pub name: Option<String>,
    /// `title`.
    pub title: String,
    /// `level`.
    pub level: Option<String>,
    /// `tags`.
    pub tags: Vec<String>,
    /// The type.
    pub kind: CorrelationType,
    /// Referenced rules (ids or names), in order.
    pub rules: Vec<String>,
    /// Group-by fields (aliases allowed).
    pub group_by: Vec<String>,
    /// Window length in milliseconds.
    pub timespan_ms: i64,
    /// Conditions, all of which must hold (empty for temporal = all rules).
    pub condition: Vec<CmpCond>,
    /// `value_count`: the field whose distinct values are counted.
    pub field: Option<String>,
    /// alias → (rule reference → field name).
    pub aliases: HashMap<String, HashMap<String, String>>,
    /// `generate`: whether the referenced rules also raise their own alerts.
    pub generate: bool,
    /// The file it came from.
    pub path: PathBuf,
}

type ParseErr = (Option<String>, Option<String>, Vec<String>);

/// Parse a timespan such as `30s`, `5m`, `1h`, `2d`, `1w`.
pub fn parse_timespan(s: &str) -> Result<i64, String> {
    let s = s.trim();
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: i64 = num.parse().map_err(|_| format!("invalid timespan '{s}'"))?;
    let mult = match unit {
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        "w" => 7 * 86_400_000,
        "" => return Err(format!("timespan '{s}' needs a unit (s, m, h, d, w)")),
        other => return Err(format!("unknown timespan unit '{other}' in '{s}'")),
    };
    n.checked_mul(mult)
        .filter(|v| *v > 0)
        .ok_or_else(|| format!("invalid timespan '{s}'"))
}

fn str_list(v: Option<&Yaml>) -> Vec<String> {
    match v {
        Some(Yaml::Sequence(s)) => s
            .iter()
            .filter_map(|x| x.as_str().map(str::to_string))
            .collect(),
        Some(Yaml::String(s)) => vec![s.clone()],
        _ => Vec::new(),
    }
}

/// Parse a correlation document.
pub(crate) fn parse(path: &Path, m: &Mapping) -> Result<CorrelationRule, ParseErr> {
    let mut errs = Vec::new();
    let title = get_str(m, "title", &mut errs).unwrap_or_default();
    let id = get_str(m, "id", &mut errs);
    let name = get_str(m, "name", &mut errs);
    let level = get_str(m, "level", &mut errs);
    let tags = str_list(m.get("tags"));
    let fail = |errs: Vec<String>| (id.clone(), Some(title.clone()), errs);
    let Some(Yaml::Mapping(c)) = m.get("correlation") else {
        return Err(fail(vec!["'correlation' must be a mapping".into()]));
    };
    let kind = match c.get("type").and_then(Yaml::as_str) {
        Some("event_count") => Some(CorrelationType::EventCount),
        Some("value_count") => Some(CorrelationType::ValueCount),
        Some("temporal") => Some(CorrelationType::Temporal),
        Some("temporal_ordered") => Some(CorrelationType::TemporalOrdered),
        Some(other) => {
            errs.push(format!("correlation type '{other}' is not supported (supported: event_count, value_count, temporal, temporal_ordered)"));
            None
        }
        None => {
            errs.push("correlation needs 'type'".into());
            None
        }
    };
    let rules = str_list(c.get("rules"));
    if rules.is_empty() {
        errs.push("correlation needs 'rules'".into());
    }
    let group_by = str_list(c.get("group-by"));
    let timespan_ms = match c
        .get("timespan")
        .or_else(|| c.get("timeframe"))
        .and_then(Yaml::as_str)
    {
        Some(t) => parse_timespan(t).unwrap_or_else(|e| {
            errs.push(e);
            0
        }),
        None => {
            errs.push("correlation needs 'timespan'".into());
            0
        }
    };
    let mut condition = Vec::new();
    let mut field = None;
    match c.get("condition") {
        Some(Yaml::Mapping(cm)) => {
            for (k, v) in cm {
                let k = k.as_str().unwrap_or("");
                if k == "field" {
                    field = v.as_str().map(str::to_string);
                    continue;
                }
                let Some(n) = v.as_u64() else {
                    errs.push(format!("condition '{k}' needs a non-negative integer"));
                    continue;
                };
                condition.push(match k {
                    "gt" => CmpCond::Gt(n),
                    "gte" => CmpCond::Gte(n),
                    "lt" => CmpCond::Lt(n),
                    "lte" => CmpCond::Lte(n),
                    "eq" => CmpCond::Eq(n),
                    "neq" => CmpCond::Neq(n),
                    other => {
                        errs.push(format!("unknown condition operator '{other}'"));
                        continue;
                    }
                });
            }
        }
        Some(_) => errs.push("correlation 'condition' must be a mapping".into()),
        None => {}
    }
    if matches!(
        kind,
        Some(CorrelationType::EventCount | CorrelationType::ValueCount)
    ) && condition.is_empty()
    {
        errs.push("event_count and value_count need a 'condition' (e.g. gte: 10)".into());
    }
    if kind == Some(CorrelationType::ValueCount) && field.is_none() {
        errs.push("value_count needs 'condition.field'".into());
    }
    let mut aliases = HashMap::new();
    if let Some(Yaml::Mapping(am)) = c.get("aliases") {
        for (k, v) in am {
            let (Some(alias), Yaml::Mapping(per)) = (k.as_str(), v) else {
                errs.push("'aliases' must map alias → (rule → field)".into());
                continue;
            };
            let per: HashMap<String, String> = per
                .iter()
                .filter_map(|(r, f)| Some((r.as_str()?.to_string(), f.as_str()?.to_string())))
                .collect();
            aliases.insert(alias.to_string(), per);
        }
    }
    let generate = c.get("generate").and_then(Yaml::as_bool).unwrap_or(false);
    if title.is_empty() {
        errs.push("missing 'title'".into());
    }
    match (kind, errs.is_empty()) {
        (Some(kind), true) => Ok(CorrelationRule {
            id: id.clone().unwrap_or_else(|| title.clone()),
            name,
            title,
            level,
            tags,
            kind,
            rules,
            group_by,
            timespan_ms,
            condition,
            field,
            aliases,
            generate,
            path: path.to_path_buf(),
        }),
        _ => Err(fail(errs)),
    }
}

/// An alert raised by a correlation rule.
#[derive(Debug, Clone)]
pub struct CorrelationAlert {
    /// The correlation rule.
    pub rule: Arc<CorrelationRule>,
    /// Group-by field → value.
    pub group: Vec<(String, String)>,
    /// Events (or distinct values, or rules) counted when it fired.
    pub count: u64,
    /// Time of the first contributing event (ms).
    pub first_ms: i64,
    /// Time of the event that completed it (ms).
    pub last_ms: i64,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct GroupState {
    times: VecDeque<i64>,
    values: HashMap<String, i64>,
    /// temporal: last time each referenced rule was seen; temporal_ordered: chain start per step.
    per_rule: Vec<Option<i64>>,
    newest: i64,
}

/// Runs correlation rules over the detections of a stream of events.
#[derive(Debug)]
pub struct Correlator {
    rules: Vec<Arc<CorrelationRule>>,
    /// rule reference (id or name) → (correlation index, position in its `rules`).
    refs: HashMap<String, Vec<(usize, usize)>>,
    state: HashMap<(usize, Vec<String>), GroupState>,
    suppressed: HashSet<String>,
    max_groups: usize,
    /// Newest event time seen (ms); `i64::MIN` before the first event.
    max_ts: i64,
    allowed_lateness_ms: i64,
    late: u64,
}

/// How far behind the newest event an event may be and still count (ms): 5 minutes.
pub const DEFAULT_ALLOWED_LATENESS_MS: i64 = 5 * 60 * 1000;

/// Version of the [`Correlator::save_state`] format.
const STATE_VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
struct SavedGroup {
    /// Correlation rule id.
    rule: String,
    group: Vec<String>,
    state: GroupState,
}

#[derive(Serialize, Deserialize)]
struct SavedState {
    version: u32,
    max_ts: i64,
    groups: Vec<SavedGroup>,
}

/// A flat map used as the event of a chained correlation alert.
struct GroupEvent<'a>(&'a [(String, String)]);

impl SigmaEvent for GroupEvent<'_> {
    fn field(&self, name: &str, f: &mut dyn FnMut(FieldValue<'_>)) {
        for (k, v) in self.0 {
            if k == name {
                f(FieldValue::Str(v))
            }
        }
    }
    fn all_values(&self, f: &mut dyn FnMut(&str)) {
        self.0.iter().for_each(|(_, v)| f(v))
    }
}

pub(crate) fn first_value(ev: &dyn SigmaEvent, field: &str) -> Option<String> {
    let mut out = None;
    ev.field(field, &mut |v| {
        if out.is_none() {
            out = match v {
                FieldValue::Str(s) => Some(s.to_string()),
                FieldValue::Int(i) => Some(i.to_string()),
                FieldValue::Float(x) => Some(x.to_string()),
                FieldValue::Bool(b) => Some(b.to_string()),
                FieldValue::Null => None,
            }
        }
    });
    out
}

impl Correlator {
    /// A correlator for these correlation rules (usually [`crate::RuleSet::correlations`]).
    pub fn new(rules: &[CorrelationRule]) -> Correlator {
        let rules: Vec<Arc<CorrelationRule>> = rules.iter().cloned().map(Arc::new).collect();
        let mut refs: HashMap<String, Vec<(usize, usize)>> = HashMap::new();
        let mut suppressed = HashSet::new();
        for (ci, c) in rules.iter().enumerate() {
            for (pos, r) in c.rules.iter().enumerate() {
                refs.entry(r.clone()).or_default().push((ci, pos));
                if !c.generate {
                    suppressed.insert(r.clone());
                }
            }
        }
        Correlator {
            rules,
            refs,
            state: HashMap::new(),
            suppressed,
            max_groups: 1_000_000,
            max_ts: i64::MIN,
            allowed_lateness_ms: DEFAULT_ALLOWED_LATENESS_MS,
            late: 0,
        }
    }

    /// Set how far behind the newest event an event may be and still count (ms, ≥ 0).
    pub fn set_allowed_lateness(&mut self, ms: i64) {
        self.allowed_lateness_ms = ms.max(0);
    }

    /// The watermark: events before it are late and not counted (`i64::MIN` at first).
    pub fn watermark(&self) -> i64 {
        self.max_ts.saturating_sub(self.allowed_lateness_ms)
    }

    /// Events dropped as late so far.
    pub fn late_events(&self) -> u64 {
        self.late
    }

    /// Write the live state (windows and watermark) as JSON.
    pub fn save_state(&self, w: &mut dyn std::io::Write) -> std::io::Result<()> {
        let groups = self
            .state
            .iter()
            .map(|((ci, group), st)| SavedGroup {
                rule: self.rules[*ci].id.clone(),
                group: group.clone(),
                state: GroupState {
                    times: st.times.clone(),
                    values: st.values.clone(),
                    per_rule: st.per_rule.clone(),
                    newest: st.newest,
                },
            })
            .collect();
        let saved = SavedState {
            version: STATE_VERSION,
            max_ts: self.max_ts,
            groups,
        };
        serde_json::to_writer(w, &saved).map_err(std::io::Error::other)
    }

    /// Restore state written by [`Correlator::save_state`], replacing the current state;
    /// groups of correlations this correlator does not have are skipped, and at most the
    /// group cap is restored. Returns the number of groups restored.
    pub fn restore_state(&mut self, r: &mut dyn std::io::Read) -> Result<usize, String> {
        let saved: SavedState = serde_json::from_reader(r).map_err(|e| e.to_string())?;
        if saved.version != STATE_VERSION {
            return Err(format!(
                "correlation state version {} (expected {STATE_VERSION})",
                saved.version
            ));
        }
        let index: HashMap<&str, usize> = self
            .rules
            .iter()
            .enumerate()
            .map(|(i, c)| (c.id.as_str(), i))
            .collect();
        let mut state = HashMap::new();
        for g in saved.groups {
            if state.len() >= self.max_groups {
                break;
            }
            let Some(&ci) = index.get(g.rule.as_str()) else {
                continue;
            };
            if g.group.len() != self.rules[ci].group_by.len() {
                continue;
            }
            state.insert((ci, g.group), g.state);
        }
        let n = state.len();
        self.state = state;
        self.max_ts = saved.max_ts;
        Ok(n)
    }

    /// Whether a detection should also be raised as an alert of its own: false for rules
    /// that correlations reference with `generate: false` (the default).
    pub fn should_emit(&self, d: &Detection) -> bool {
        !(self.suppressed.contains(&d.rule.id)
            || d.rule
                .name
                .as_ref()
                .is_some_and(|n| self.suppressed.contains(n)))
    }

    /// Number of live group states.
    pub fn groups(&self) -> usize {
        self.state.len()
    }

    /// Feed the detections of one event (with its event time in ms); alerts are appended.
    /// Call it for every event, with or without detections: each moves the watermark.
    pub fn process(
        &mut self,
        ev: &dyn SigmaEvent,
        ts_ms: i64,
        detections: &[Detection],
        out: &mut Vec<CorrelationAlert>,
    ) {
        // Every event moves the watermark; only late events with detections are counted.
        if ts_ms < self.watermark() {
            if !detections.is_empty() {
                self.late += 1;
            }
            return;
        }
        self.max_ts = self.max_ts.max(ts_ms);
        for d in detections {
            let mut keys = vec![d.rule.id.clone()];
            if let Some(n) = &d.rule.name {
                keys.push(n.clone());
            }
            self.feed(&keys, ev, ts_ms, out, 0);
        }
    }

    /// Feed one hit of rule `keys` (its id and name).
    fn feed(
        &mut self,
        keys: &[String],
        ev: &dyn SigmaEvent,
        ts: i64,
        out: &mut Vec<CorrelationAlert>,
        depth: usize,
    ) {
        if depth > 8 {
            return;
        }
        let mut targets: Vec<(usize, usize, &String)> = Vec::new();
        for k in keys {
            if let Some(v) = self.refs.get(k) {
                targets.extend(v.iter().map(|(c, p)| (*c, *p, k)));
            }
        }
        targets.sort();
        targets.dedup_by(|a, b| a.0 == b.0 && a.1 == b.1);
        let targets: Vec<(usize, usize, String)> = targets
            .into_iter()
            .map(|(c, p, k)| (c, p, k.clone()))
            .collect();
        let mut fired = Vec::new();
        for (ci, pos, key) in targets {
            let rule = self.rules[ci].clone();
            let field_for = |g: &str| -> String {
                rule.aliases
                    .get(g)
                    .and_then(|per| {
                        per.get(&key)
                            .or_else(|| keys.iter().find_map(|k| per.get(k)))
                    })
                    .cloned()
                    .unwrap_or_else(|| g.to_string())
            };
            let mut group = Vec::with_capacity(rule.group_by.len());
            let mut complete = true;
            for g in &rule.group_by {
                match first_value(ev, &field_for(g)) {
                    Some(v) => group.push(v),
                    None => {
                        complete = false;
                        break;
                    }
                }
            }
            if !complete {
                continue;
            }
            if self.state.len() >= self.max_groups && !self.state.contains_key(&(ci, group.clone()))
            {
                self.evict(ts);
                if self.state.len() >= self.max_groups {
                    continue;
                }
            }
            let st = self.state.entry((ci, group.clone())).or_default();
            st.newest = st.newest.max(ts);
            let start = st.newest - rule.timespan_ms;
            let (hit, count, first) = match rule.kind {
                CorrelationType::EventCount => {
                    st.times.push_back(ts);
                    st.times.retain(|t| *t >= start);
                    let n = st.times.len() as u64;
                    (
                        rule.condition.iter().all(|c| c.holds(n)),
                        n,
                        st.times.iter().copied().min().unwrap_or(ts),
                    )
                }
                CorrelationType::ValueCount => {
                    let Some(f) = rule.field.as_ref().map(|f| field_for(f)) else {
                        continue;
                    };
                    if let Some(v) = first_value(ev, &f) {
                        let e = st.values.entry(v).or_insert(ts);
                        *e = (*e).max(ts);
                    }
                    st.values.retain(|_, t| *t >= start);
                    let n = st.values.len() as u64;
                    (
                        rule.condition.iter().all(|c| c.holds(n)),
                        n,
                        st.values.values().copied().min().unwrap_or(ts),
                    )
                }
                CorrelationType::Temporal => {
                    st.per_rule.resize(rule.rules.len(), None);
                    let slot = &mut st.per_rule[pos];
                    *slot = Some(slot.map_or(ts, |t| t.max(ts)));
                    let live: Vec<i64> = st
                        .per_rule
                        .iter()
                        .flatten()
                        .copied()
                        .filter(|t| *t >= start)
                        .collect();
                    let n = live.len() as u64;
                    let ok = if rule.condition.is_empty() {
                        n == rule.rules.len() as u64
                    } else {
                        rule.condition.iter().all(|c| c.holds(n))
                    };
                    (ok, n, live.iter().copied().min().unwrap_or(ts))
                }
                CorrelationType::TemporalOrdered => {
                    st.per_rule.resize(rule.rules.len(), None);
                    if pos == 0 {
                        st.per_rule[0] = Some(st.per_rule[0].map_or(ts, |t| t.max(ts)));
                    } else if let Some(s0) = st.per_rule[pos - 1]
                        && ts >= s0
                        && ts - s0 <= rule.timespan_ms
                    {
                        st.per_rule[pos] = Some(st.per_rule[pos].map_or(s0, |t| t.max(s0)));
                    }
                    let n = st.per_rule.iter().flatten().count() as u64;
                    let done = st.per_rule.last().copied().flatten();
                    (
                        done.is_some_and(|s0| ts - s0 <= rule.timespan_ms),
                        n,
                        done.unwrap_or(ts),
                    )
                }
            };
            if hit {
                self.state.remove(&(ci, group.clone()));
                let alert = CorrelationAlert {
                    rule: rule.clone(),
                    group: rule.group_by.iter().cloned().zip(group).collect(),
                    count,
                    first_ms: first,
                    last_ms: ts,
                };
                fired.push(alert);
            }
        }
        for a in fired {
            // Chaining: the alert is a hit of this correlation for correlations referencing it.
            let mut keys = vec![a.rule.id.clone()];
            if let Some(n) = &a.rule.name {
                keys.push(n.clone());
            }
            let group = a.group.clone();
            out.push(a);
            self.feed(&keys, &GroupEvent(&group), ts, out, depth + 1);
        }
    }

    /// Drop group states whose window ended before the watermark, or before `now_ms` when
    /// that is earlier (call periodically).
    pub fn evict(&mut self, now_ms: i64) {
        let rules = &self.rules;
        let cut = now_ms.min(self.watermark());
        self.state
            .retain(|(ci, _), st| st.newest + rules[*ci].timespan_ms >= cut);
    }
}
