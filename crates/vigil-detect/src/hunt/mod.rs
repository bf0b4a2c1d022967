//! Hunting over files: the library side of `vigil hunt` (and the file reading of
//! `vigil rules test`).
//!
//! # Shape
//! [`collect_inputs`] turns the user's paths into a sorted file list; [`detect_format`] tells
//! EVTX (by magic), JSON and text apart; a [`Hunter`] runs a compiled [`RuleSet`] over each
//! file and returns one [`FileReport`] per file, with its [`Hit`]s, event count and errors.
//! [`Hunter::hunt`] reads the files on `threads` worker threads (one file per thread, the
//! parser single-threaded), or, when there are fewer files than threads, one file at a time
//! with the EVTX parser's own chunk-level threads; either way the work per event (render,
//! flatten, match) is spread over the cores. [`sort_timeline`] orders hits by time, then
//! file, then record, so the output does not depend on thread timing.
//!
//! # Events
//! - EVTX: each record rendered to evtx_dump-style JSON by the `evtx` crate and flattened with
//!   [`crate::flatten_evtx_json`]; time from `TimeCreated`, else the record header. Corrupt chunks and records are
//!   counted and sampled in [`FileReport::errors`], never fatal.
//! - JSON: JSON lines, concatenated pretty-printed objects (evtx_dump's own output) and arrays,
//!   cut by a bounded streaming splitter; evtx_dump records are flattened, Winlogbeat records get
//!   the same flat Windows view ([`event_view`]); time from `@timestamp`, `TimeCreated`, ...
//! - Text: one event per line: `message` plus `key=value` tokens ([`text_event`]); keyword
//!   detections search every value.
//!
//! # Correlation rules
//! Sigma correlation rules in the rule set run after matching, over the whole timeline in
//! event-time order ([`Hunter::correlate`]), with the same [`crate::Correlator`] as live
//! detection: when a rule a correlation references matches, the hit keeps the values of the
//! fields correlations group by (and count, for `value_count`); a correlation that fires
//! becomes a hit of its own at the event that completed it, with the group values, the count
//! and the time of the first contributing event as matched fields. Referenced rules with
//! `generate: false` (the default) do not appear in the timeline themselves. Hits without an
//! event time do not take part (and stay in the timeline). Correlations span files (several EVTX of one host form one
//! timeline).
//!
//! # Filters
//! [`HuntFilter`]: a time window on the event's own time (`TimeCreated`, `@timestamp`, ...;
//! EVTX records far outside it are skipped by their header time before being rendered), a
//! minimum level, and tags (a rule passes with any tag equal to, or under, a given one).

mod evtx;
mod input;
mod json;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::Value;

pub use evtx::{EvtxXmlRecord, read_evtx_xml};
pub use input::{
    DIR_EXTENSIONS, EventMeta, InputFormat, collect_inputs, detect_format, event_view, format_time,
    parse_time, text_event,
};

use std::collections::HashSet;

use crate::correlation::{CorrelationAlert, Correlator, GroupEvent, first_value};
use crate::engine::{Detection, MatchedField, RuleInfo, RuleSet};

/// Most error messages kept per file (all are counted).
pub const MAX_ERROR_SAMPLES: usize = 5;

/// Rule levels, lowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// `informational`.
    Informational,
    /// `low`.
    Low,
    /// `medium`.
    Medium,
    /// `high`.
    High,
    /// `critical`.
    Critical,
}

impl Level {
    /// All levels, lowest first.
    pub const ALL: [Level; 5] = [
        Level::Informational,
        Level::Low,
        Level::Medium,
        Level::High,
        Level::Critical,
    ];

    /// Parse a level name (`info` is accepted for `informational`).
    pub fn parse(s: &str) -> Option<Level> {
        match s.trim().to_ascii_lowercase().as_str() {
            "informational" | "info" => Some(Level::Informational),
            "low" => Some(Level::Low),
            "medium" => Some(Level::Medium),
            "high" => Some(Level::High),
            "critical" => Some(Level::Critical),
            _ => None,
        }
    }

    /// The level of a rule (a rule without one counts as informational).
    pub fn of(rule: &RuleInfo) -> Level {
        rule.level
            .as_deref()
            .and_then(Level::parse)
            .unwrap_or(Level::Informational)
    }

    /// The Sigma name.
    pub fn name(self) -> &'static str {
        match self {
            Level::Informational => "informational",
            Level::Low => "low",
            Level::Medium => "medium",
            Level::High => "high",
            Level::Critical => "critical",
        }
    }
}

/// Which events and detections a hunt keeps.
#[derive(Debug, Clone, Default)]
pub struct HuntFilter {
    /// Events at or after this time (ns since the epoch). Events without a time are dropped
    /// when `from` or `to` is set.
    pub from: Option<i64>,
    /// Events before this time (ns, exclusive).
    pub to: Option<i64>,
    /// Detections of rules at or above this level.
    pub min_level: Option<Level>,
    /// Detections of rules with one of these tags (case-insensitive; `attack.t1003` also takes
    /// `attack.t1003.001`). Empty: all.
    pub tags: Vec<String>,
}

impl HuntFilter {
    /// Whether an event time passes the window.
    pub fn time_ok(&self, ts: Option<i64>) -> bool {
        if self.from.is_none() && self.to.is_none() {
            return true;
        }
        let Some(t) = ts else { return false };
        self.from.is_none_or(|f| t >= f) && self.to.is_none_or(|x| t < x)
    }

    /// Whether a rule's detections are kept.
    pub fn rule_ok(&self, rule: &RuleInfo) -> bool {
        if let Some(min) = self.min_level
            && Level::of(rule) < min
        {
            return false;
        }
        if self.tags.is_empty() {
            return true;
        }
        rule.tags.iter().any(|t| {
            self.tags.iter().any(|want| {
                t.len() >= want.len()
                    && t[..want.len()].eq_ignore_ascii_case(want)
                    && (t.len() == want.len() || t.as_bytes()[want.len()] == b'.')
            })
        })
    }
}

/// One detection on one event: a line of the timeline.
#[derive(Debug, Clone)]
pub struct Hit {
    /// Event time (ns since the epoch), if the event has one.
    pub timestamp: Option<i64>,
    /// Index of the file in the list given to [`Hunter::hunt`].
    pub file: usize,
    /// Position of the event in its file (0-based, in file order).
    pub seq: u64,
    /// The event's `EventRecordID` (EVTX System section, Winlogbeat `winlog.record_id`); for
    /// an EVTX record without one, the record header's number.
    pub record_id: Option<u64>,
    /// Host, event code and channel of the event.
    pub meta: EventMeta,
    /// The rule and the matched field values.
    pub detection: Detection,
    /// For rules correlation rules reference: the values of the fields they group by (and
    /// count), read from the event. Empty otherwise.
    pub group_fields: Vec<(String, String)>,
}

/// What correlation rules need from the hits of the rules they reference.
#[derive(Debug, Default)]
struct CorrelationNeeds {
    /// Referenced rule ids and names.
    refs: HashSet<String>,
    /// Fields to capture (group-by fields, their alias targets, value_count fields).
    fields: Vec<String>,
}

impl CorrelationNeeds {
    fn of(rules: &RuleSet) -> CorrelationNeeds {
        let mut n = CorrelationNeeds::default();
        let mut fields = HashSet::new();
        for c in rules.correlations() {
            n.refs.extend(c.rules.iter().cloned());
            fields.extend(c.group_by.iter().cloned());
            fields.extend(c.field.iter().cloned());
            for per in c.aliases.values() {
                fields.extend(per.values().cloned());
            }
        }
        n.fields = fields.into_iter().collect();
        n.fields.sort();
        n
    }

    fn referenced(&self, rule: &RuleInfo) -> bool {
        !self.refs.is_empty()
            && (self.refs.contains(&rule.id)
                || rule.name.as_ref().is_some_and(|n| self.refs.contains(n)))
    }
}

/// What one file gave.
#[derive(Debug, Clone)]
pub struct FileReport {
    /// The file.
    pub path: PathBuf,
    /// How it was read (`None` when it could not even be opened).
    pub format: Option<InputFormat>,
    /// Size in bytes.
    pub bytes: u64,
    /// Events read (including those outside the time window).
    pub events: u64,
    /// Events dropped by the time window.
    pub skipped: u64,
    /// Records, chunks, lines or values that could not be read (the file itself counts as
    /// one when it cannot be opened).
    pub error_count: u64,
    /// The first [`MAX_ERROR_SAMPLES`] error messages.
    pub errors: Vec<String>,
    /// Detections, in file order.
    pub hits: Vec<Hit>,
}

impl FileReport {
    fn new(path: &Path) -> FileReport {
        FileReport {
            path: path.to_path_buf(),
            format: None,
            bytes: std::fs::metadata(path).map(|m| m.len()).unwrap_or(0),
            events: 0,
            skipped: 0,
            error_count: 0,
            errors: Vec::new(),
            hits: Vec::new(),
        }
    }

    fn error(&mut self, msg: String) {
        self.error_count += 1;
        if self.errors.len() < MAX_ERROR_SAMPLES {
            self.errors.push(msg);
        }
    }
}

struct Ctx {
    rules: Arc<RuleSet>,
    filter: HuntFilter,
    needs: CorrelationNeeds,
}

/// Slack around the time window when skipping EVTX records by their header time before
/// rendering them: the header (write) time and the event's `TimeCreated` can differ a little.
const HEADER_SLACK_NS: i64 = 3_600 * 1_000_000_000;

impl Ctx {
    /// Whether a record can be skipped by its header time without rendering it.
    fn header_keep(&self, ts: Option<i64>) -> bool {
        let Some(t) = ts else { return true };
        let f = &self.filter;
        f.from
            .is_none_or(|from| t >= from.saturating_sub(HEADER_SLACK_NS))
            && f.to.is_none_or(|to| t < to.saturating_add(HEADER_SLACK_NS))
    }

    /// Match one event; `None` when it is outside the time window. The hits carry everything
    /// but file and position. The event time is the event's own (`TimeCreated`, `@timestamp`,
    /// ...), else `fallback_ts` (the EVTX record header time); the record id is the event's
    /// own `EventRecordID` (what Event Viewer shows), else `fallback_record_id` (the EVTX
    /// record header's number, which restarts at 1 in an exported or filtered log).
    fn process(
        &self,
        event: &Value,
        fallback_ts: Option<i64>,
        fallback_record_id: Option<u64>,
    ) -> Option<Vec<Hit>> {
        let windowed = self.filter.from.is_some() || self.filter.to.is_some();
        let mut meta = None;
        if windowed {
            let m = EventMeta::of(event);
            if !self.filter.time_ok(m.timestamp.or(fallback_ts)) {
                return None;
            }
            meta = Some(m);
        }
        let mut dets = Vec::new();
        self.rules.matches(event, &mut dets);
        // Referenced rules are kept whatever the filter: their hits feed correlations (and are
        // filtered after correlating).
        dets.retain(|d| self.filter.rule_ok(&d.rule) || self.needs.referenced(&d.rule));
        if dets.is_empty() {
            return Some(Vec::new());
        }
        let mut meta = meta.unwrap_or_else(|| EventMeta::of(event));
        meta.timestamp = meta.timestamp.or(fallback_ts);
        let record_id = event_record_id(event).or(fallback_record_id);
        Some(
            dets.into_iter()
                .map(|detection| Hit {
                    timestamp: meta.timestamp,
                    file: 0,
                    seq: 0,
                    record_id,
                    meta: meta.clone(),
                    group_fields: if self.needs.referenced(&detection.rule) {
                        self.needs
                            .fields
                            .iter()
                            .filter_map(|f| first_value(event, f).map(|v| (f.clone(), v)))
                            .collect()
                    } else {
                        Vec::new()
                    },
                    detection,
                })
                .collect(),
        )
    }
}

/// Runs a rule set over files.
#[derive(Clone)]
pub struct Hunter {
    ctx: Arc<Ctx>,
}

impl std::fmt::Debug for Hunter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hunter")
            .field("rules", &self.ctx.rules.len())
            .field("filter", &self.ctx.filter)
            .finish()
    }
}

impl Hunter {
    /// A hunter with these rules and filters.
    pub fn new(rules: Arc<RuleSet>, filter: HuntFilter) -> Hunter {
        let needs = CorrelationNeeds::of(&rules);
        Hunter {
            ctx: Arc::new(Ctx {
                rules,
                filter,
                needs,
            }),
        }
    }

    /// Run the rule set's correlation rules over a timeline sorted by [`sort_timeline`]:
    /// correlation hits are inserted after the hit that completed them, hits of referenced
    /// rules with `generate: false` are removed, and the level/tag filter is applied to both.
    /// Returns the number of correlation hits.
    pub fn correlate(&self, hits: &mut Vec<Hit>) -> usize {
        let rules = &self.ctx.rules;
        let filter = &self.ctx.filter;
        if rules.correlations().is_empty() {
            return 0;
        }
        let mut correlator = Correlator::new(rules.correlations());
        let mut out = Vec::with_capacity(hits.len());
        let mut fired = Vec::new();
        let mut n = 0;
        let mut since_evict = 0u32;
        for h in hits.drain(..) {
            fired.clear();
            let referenced = self.ctx.needs.referenced(&h.detection.rule);
            if referenced && let Some(ts) = h.timestamp {
                let ts_ms = ts.div_euclid(1_000_000);
                correlator.process(
                    &GroupEvent(&h.group_fields),
                    ts_ms,
                    std::slice::from_ref(&h.detection),
                    &mut fired,
                );
                since_evict += 1;
                if since_evict >= 10_000 {
                    since_evict = 0;
                    correlator.evict(ts_ms);
                }
            }
            let corr: Vec<Hit> = fired
                .iter()
                .map(|a| correlation_hit(&h, a))
                .filter(|c| filter.rule_ok(&c.detection.rule))
                .collect();
            n += corr.len();
            // a hit without a time cannot feed a correlation: it stays in the timeline
            let emit = correlator.should_emit(&h.detection) || h.timestamp.is_none();
            if filter.rule_ok(&h.detection.rule) && emit {
                out.push(h);
            }
            out.extend(corr);
        }
        *hits = out;
        n
    }

    /// Hunt one file. `file` is stored in its hits; `evtx_threads` is the EVTX parser's
    /// thread count (1 when files are already read in parallel).
    pub fn hunt_file(&self, file: usize, path: &Path, evtx_threads: usize) -> FileReport {
        let mut rep = FileReport::new(path);
        let format = match detect_format(path) {
            Ok(f) => f,
            Err(e) => {
                rep.error(format!("cannot read: {e}"));
                return rep;
            }
        };
        rep.format = Some(format);
        match format {
            InputFormat::Evtx => {
                let ctx = self.ctx.clone();
                let keep_ctx = self.ctx.clone();
                let mut seq = 0u64;
                let mut sink = |o: evtx::Outcome<Vec<Hit>>| match o {
                    evtx::Outcome::Done(mut hits) => {
                        for h in &mut hits {
                            h.file = file;
                            h.seq = seq;
                        }
                        rep.hits.append(&mut hits);
                        rep.events += 1;
                        seq += 1;
                    }
                    evtx::Outcome::Skipped => {
                        rep.events += 1;
                        rep.skipped += 1;
                        seq += 1;
                    }
                    evtx::Outcome::Failed(e) => rep.error(e),
                };
                let res = evtx::read_evtx(
                    path,
                    evtx_threads,
                    move |ts| keep_ctx.header_keep(ts),
                    move |ev| ctx.process(&ev.event, ev.timestamp, Some(ev.record_id)),
                    &mut sink,
                );
                if let Err(e) = res {
                    rep.error(e);
                }
            }
            InputFormat::Json | InputFormat::Text => {
                let mut counts = input::ReadCounts::default();
                let (mut events, mut skipped, mut hits) = (0u64, 0u64, Vec::new());
                let res = input::read_plain(path, format, &mut counts, &mut |ev| {
                    let seq = events;
                    events += 1;
                    match self.ctx.process(&ev, None, None) {
                        None => skipped += 1,
                        Some(found) => {
                            for mut h in found {
                                h.file = file;
                                h.seq = seq;
                                hits.push(h);
                            }
                        }
                    }
                });
                rep.events = events;
                rep.skipped = skipped;
                rep.hits = hits;
                rep.error_count = counts.errors;
                rep.errors = counts.error_samples;
                if let Err(e) = res {
                    rep.error(format!("read error: {e}"));
                }
            }
        }
        rep
    }

    /// Hunt every file on `threads` threads; `done` is called (from the worker threads) as
    /// each file finishes. Reports are returned in the order of `files`.
    pub fn hunt(
        &self,
        files: &[PathBuf],
        threads: usize,
        done: &(dyn Fn(&FileReport) + Sync),
    ) -> Vec<FileReport> {
        let threads = threads.max(1);
        if files.len() < threads * 2 {
            // Few files: one at a time, each with the parser's chunk-level threads.
            return files
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    let r = self.hunt_file(i, p, threads);
                    done(&r);
                    r
                })
                .collect();
        }
        // Largest files first, so one big file does not finish last on its own.
        let mut order: Vec<usize> = (0..files.len()).collect();
        let sizes: Vec<u64> = files
            .iter()
            .map(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
            .collect();
        order.sort_by_key(|&i| std::cmp::Reverse(sizes[i]));
        let next = AtomicUsize::new(0);
        let mut slots: Vec<Option<FileReport>> = vec![None; files.len()];
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|_| {
                    s.spawn(|| {
                        let mut mine = Vec::new();
                        loop {
                            let k = next.fetch_add(1, Ordering::Relaxed);
                            let Some(&i) = order.get(k) else { break };
                            let r = self.hunt_file(i, &files[i], 1);
                            done(&r);
                            mine.push((i, r));
                        }
                        mine
                    })
                })
                .collect();
            for h in handles {
                match h.join() {
                    Ok(mine) => {
                        for (i, r) in mine {
                            slots[i] = Some(r);
                        }
                    }
                    Err(p) => std::panic::resume_unwind(p),
                }
            }
        });
        slots
            .into_iter()
            .zip(files)
            .map(|(r, p)| {
                r.unwrap_or_else(|| {
                    let mut r = FileReport::new(p);
                    r.error("not processed".into());
                    r
                })
            })
            .collect()
    }
}

/// The timeline hit of a correlation alert, at the hit that completed it.
/// The event's own `EventRecordID` (System section), as a number or a numeric string.
fn event_record_id(event: &Value) -> Option<u64> {
    match event.get("EventRecordID")? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn correlation_hit(at: &Hit, a: &CorrelationAlert) -> Hit {
    let c = &a.rule;
    let mut matched: Vec<MatchedField> = a
        .group
        .iter()
        .map(|(f, v)| MatchedField {
            field: f.clone(),
            value: v.clone(),
        })
        .collect();
    matched.push(MatchedField {
        field: "correlation.count".into(),
        value: a.count.to_string(),
    });
    matched.push(MatchedField {
        field: "correlation.first".into(),
        value: format_time(a.first_ms.saturating_mul(1_000_000)),
    });
    Hit {
        timestamp: at.timestamp,
        file: at.file,
        seq: at.seq,
        record_id: at.record_id,
        meta: at.meta.clone(),
        detection: Detection {
            rule: Arc::new(RuleInfo {
                id: c.id.clone(),
                name: c.name.clone(),
                title: c.title.clone(),
                level: c.level.clone(),
                status: None,
                tags: c.tags.clone(),
                logsource: Default::default(),
                path: Some(c.path.clone()),
            }),
            matched,
        },
        group_fields: Vec::new(),
    }
}

/// Order hits by time (events without a time last), then file, then position in the file;
/// detections of one event keep the engine's order.
pub fn sort_timeline(hits: &mut [Hit]) {
    hits.sort_by_key(|h| (h.timestamp.is_none(), h.timestamp, h.file, h.seq));
}

/// Read the events of one file (EVTX, JSON or text) as event views, in file order, for rule
/// tests and tools; returns the events and the errors met. Not for large inputs (all events
/// are kept in memory; use [`Hunter`] to stream).
pub fn read_events(path: &Path) -> Result<(Vec<Value>, Vec<String>), String> {
    let format = detect_format(path).map_err(|e| format!("cannot read: {e}"))?;
    let mut events = Vec::new();
    let mut errors = Vec::new();
    match format {
        InputFormat::Evtx => {
            let mut sink = |o: evtx::Outcome<Value>| match o {
                evtx::Outcome::Done(v) => events.push(v),
                evtx::Outcome::Skipped => {}
                evtx::Outcome::Failed(e) => errors.push(e),
            };
            evtx::read_evtx(path, 1, |_| true, |ev| Some(ev.event), &mut sink)?;
        }
        InputFormat::Json | InputFormat::Text => {
            let mut counts = input::ReadCounts::default();
            input::read_plain(path, format, &mut counts, &mut |ev| events.push(ev))
                .map_err(|e| format!("read error: {e}"))?;
            errors = counts.error_samples;
        }
    }
    Ok((events, errors))
}

#[cfg(test)]
mod record_id_tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_events_own_record_id_wins_over_the_header_number() {
        assert_eq!(
            event_record_id(&json!({"EventRecordID": 27736})),
            Some(27736)
        );
        assert_eq!(
            event_record_id(&json!({"EventRecordID": "22013"})),
            Some(22013)
        );
        assert_eq!(event_record_id(&json!({"EventRecordID": "n/a"})), None);
        assert_eq!(event_record_id(&json!({"EventID": 4624})), None);
    }
}
