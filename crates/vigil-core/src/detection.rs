//! Live detection: the correlator destination of `vigil up`. Every stored event also passes
//! through the Sigma rule set; each match becomes an alert event (type `correlation`,
//! `event.kind: alert`) carrying the rule's id, title, level and ATT&CK tags, the triggering
//! event's id and key fields, and the exact fields and values that matched. Alerts are stored
//! in the same tenant, so `vigil search 'vigil.type:correlation'` lists them.
//!
//! The rule files are checked every `reload_interval`; a change reloads the whole set in the
//! background and swaps it in atomically, so detection never pauses. A rule that fails to load
//! is logged with its path and reason and counted; the others keep running.
//!
//! Correlation state (the open windows of Sigma correlation rules, per tenant) is saved under
//! `<data_dir>/correlation-state/<tenant>.json` every [`STATE_SAVE_INTERVAL`] and at shutdown,
//! restored at start, and carried over rule reloads, so a restart does not reset an ongoing
//! count. Windows run on event time; an event's time is capped at the wall clock plus
//! [`MAX_CLOCK_SKEW_MS`] so one bogus future timestamp cannot push the watermark (see
//! `vigil_detect::Correlator`) past every real event.
//!
//! # Retries
//! The pipeline retries a failed `write` with the same batch until it succeeds (a full disk,
//! an unreachable ClickHouse). Evaluating the batch again would count its events twice in the
//! correlation windows and store its alerts twice, so a batch is evaluated once: its alerts
//! are kept, per tenant, until the store has taken them (`Unwritten`), and a retry of the
//! same batch only submits the alerts not yet stored. The correlation state is saved to disk
//! only when no alert is waiting, so a restart never finds windows that got ahead of their
//! stored alerts.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use parking_lot::RwLock;
use smol_str::SmolStr;
use vigil_config::{DetectionConfig, SigmaPipeline};
use vigil_detect::{
    CorrelationAlert, Correlator, Detection, LoadOptions, Loader, Pipeline, RuleSet, SigmaView,
};
use vigil_event::{Event, EventType, Value};
use vigil_pipeline::{ComponentError, ComponentMetrics, Destination, Shutdown};
use vigil_store::{EventStore, TenantId};

/// Numeric severity of a Sigma level (`event.severity`).
fn severity(level: Option<&str>) -> i64 {
    match level.unwrap_or("") {
        "informational" => 1,
        "low" => 2,
        "medium" => 3,
        "high" => 4,
        "critical" => 5,
        _ => 0,
    }
}

/// The alert event for one detection.
pub fn alert_event(trigger: &Event, d: &Detection) -> Event {
    let mut a = Event::new(trigger.raw.clone());
    a.meta.kind = EventType::Correlation;
    a.meta.tenant = trigger.meta.tenant.clone();
    a.meta.source_id = trigger.meta.source_id.clone();
    a.meta.collector_id = trigger.meta.collector_id.clone();
    a.timestamp = trigger.timestamp;
    a.event.kind = Some(SmolStr::new_static("alert"));
    a.event.severity = Some(severity(d.rule.level.as_deref()));
    a.event.module = Some(SmolStr::new_static("sigma"));
    a.log.level = d.rule.level.as_deref().map(SmolStr::new);
    a.rule.id = Some(SmolStr::new(&d.rule.id));
    a.rule.name = Some(SmolStr::new(&d.rule.title));
    a.rule.ruleset = Some(SmolStr::new_static("sigma"));
    a.message = Some(SmolStr::new(&d.rule.title));
    a.tags = d.rule.tags.iter().map(SmolStr::new).collect();
    // the fields an analyst pivots on
    a.host = trigger.host.clone();
    a.user = trigger.user.clone();
    a.source = trigger.source.clone();
    a.destination = trigger.destination.clone();
    a.process = trigger.process.clone();
    a.observer = trigger.observer.clone();
    a.event.code = trigger.event.code.clone();
    a.extra.insert(
        "vigil.detection.event_id",
        Value::from(trigger.meta.id.to_string()),
    );
    a.extra.insert(
        "vigil.detection.matched",
        Value::List(
            d.matched
                .iter()
                .map(|m| Value::from(format!("{}={}", m.field, m.value)))
                .collect(),
        ),
    );
    if let Some(p) = &d.rule.path {
        a.extra.insert(
            "vigil.detection.rule_path",
            Value::from(p.display().to_string()),
        );
    }
    a
}

/// The alert event for a Sigma correlation rule that fired, completed by `last`.
pub fn correlation_event(last: &Event, c: &CorrelationAlert) -> Event {
    let mut a = Event::new(last.raw.clone());
    a.meta.kind = EventType::Correlation;
    a.meta.tenant = last.meta.tenant.clone();
    a.meta.source_id = last.meta.source_id.clone();
    a.meta.collector_id = last.meta.collector_id.clone();
    a.timestamp = last.timestamp;
    a.event.kind = Some(SmolStr::new_static("alert"));
    a.event.severity = Some(severity(c.rule.level.as_deref()));
    a.event.module = Some(SmolStr::new_static("sigma"));
    a.event.start = Some(vigil_event::Timestamp::from_millis(c.first_ms));
    a.event.end = Some(vigil_event::Timestamp::from_millis(c.last_ms));
    a.log.level = c.rule.level.as_deref().map(SmolStr::new);
    a.rule.id = Some(SmolStr::new(&c.rule.id));
    a.rule.name = Some(SmolStr::new(&c.rule.title));
    a.rule.ruleset = Some(SmolStr::new_static("sigma-correlation"));
    a.message = Some(SmolStr::new(&c.rule.title));
    a.tags = c.rule.tags.iter().map(SmolStr::new).collect();
    a.extra
        .insert("vigil.correlation.count", Value::Int(c.count as i64));
    for (field, value) in &c.group {
        // the group-by values are where an analyst pivots: set them as fields too
        let _ = a.set(field, Value::from(value.as_str()));
        a.extra.insert(
            format!("vigil.correlation.group.{field}"),
            Value::from(value.as_str()),
        );
    }
    a.extra.insert(
        "vigil.detection.event_id",
        Value::from(last.meta.id.to_string()),
    );
    a
}

/// The current rule set, reloaded when the rule files change or on demand
/// ([`Rules::reload_now`], after the rules API wrote or disabled a rule).
#[derive(Debug)]
pub struct Rules {
    current: RwLock<Arc<RuleSet>>,
    /// What the watcher loads (none: a fixed set).
    cfg: Option<DetectionConfig>,
    metrics: Option<ComponentMetrics>,
    /// Rule ids left out of every load (disabled by an operator).
    disabled: RwLock<std::collections::HashSet<String>>,
    /// Matches per rule id since the start, and the engine's work (see [`RuleCounters`]).
    counters: parking_lot::Mutex<RuleCounters>,
}

/// What the live engine counted since the start: matches per rule id, and the work done.
#[derive(Debug, Clone, Default)]
pub struct RuleCounters {
    /// Matches (detections, before alert grouping) per rule id.
    pub matches: HashMap<String, u64>,
    /// Events evaluated.
    pub events: u64,
    /// Rule variants routed to those events by their logsource.
    pub candidates: u64,
    /// Variants actually evaluated (the rest were skipped by the literal prefilter).
    pub evaluated: u64,
}

/// The Sigma load options of a processing pipeline and placeholder values: the one place that
/// turns `detection.pipeline` (live detection) and `--pipeline` (`vigil hunt`, `vigil rules`)
/// into a [`Pipeline`]. A pipeline file's problem comes back as `path: reason`.
pub fn load_options(
    pipeline: &SigmaPipeline,
    placeholders: &std::collections::BTreeMap<String, Vec<String>>,
) -> Result<LoadOptions, String> {
    let pipeline = match pipeline {
        SigmaPipeline::None => Pipeline::none(),
        SigmaPipeline::Windows => Pipeline::windows(),
        SigmaPipeline::Ecs => Pipeline::ecs(),
        SigmaPipeline::File(p) => {
            let bytes = vigil_config::read_file_capped(p, 4 << 20)
                .map_err(|e| format!("{}: {e}", p.display()))?;
            Pipeline::from_yaml(&String::from_utf8_lossy(&bytes))
                .map_err(|e| format!("{}: {e}", p.display()))?
        }
    };
    Ok(LoadOptions {
        pipeline,
        placeholders: placeholders
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        ..LoadOptions::default()
    })
}

/// Loads every rule; returns the set and the problems as text (path: reason).
pub fn load(cfg: &DetectionConfig) -> Result<(RuleSet, Vec<String>), String> {
    load_without(cfg, &Default::default())
}

/// Loads every rule but the `disabled` ids.
pub fn load_without(
    cfg: &DetectionConfig,
    disabled: &std::collections::HashSet<String>,
) -> Result<(RuleSet, Vec<String>), String> {
    let mut loader = Loader::new(load_options(&cfg.pipeline, &cfg.placeholders)?);
    for p in &cfg.rules {
        if p.is_dir() {
            loader.add_dir(p);
        } else {
            loader.add_file(p);
        }
    }
    loader.exclude(disabled);
    let (set, problems) = loader.finish();
    Ok((set, problems.iter().map(|p| p.to_string()).collect()))
}

pub(crate) fn fingerprint(paths: &[PathBuf]) -> u64 {
    fn walk(p: &Path, acc: &mut u64, depth: usize) {
        let Ok(md) = std::fs::metadata(p) else { return };
        let mtime = md
            .modified()
            .ok()
            .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        *acc = acc.rotate_left(7) ^ mtime ^ md.len().wrapping_mul(0x9E37_79B9_7F4A_7C15);
        if md.is_dir()
            && depth < 16
            && let Ok(rd) = std::fs::read_dir(p)
        {
            let mut entries: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
            entries.sort();
            *acc ^= entries.len() as u64;
            for e in entries {
                walk(&e, acc, depth + 1);
            }
        }
    }
    let mut acc = 0u64;
    for p in paths {
        walk(p, &mut acc, 0);
    }
    acc
}

/// A rule set as loaded, with the problems of the rules that did not load (`path: reason`).
#[derive(Debug)]
pub struct LoadedRules {
    /// The rules that loaded.
    pub set: RuleSet,
    /// One line per rule that did not.
    pub problems: Vec<String>,
    /// The rule files' fingerprint before they were read (a change while loading reloads).
    fingerprint: u64,
}

/// Loads every rule of `cfg`, for [`Rules::watch`] (`vigil up`) or to report the problems
/// (`vigil validate`). An error is the processing pipeline's (`path: reason`).
pub fn load_rules(cfg: &DetectionConfig) -> Result<LoadedRules, String> {
    let fingerprint = fingerprint(&cfg.rules);
    let (set, problems) = load(cfg)?;
    Ok(LoadedRules {
        set,
        problems,
        fingerprint,
    })
}

impl Rules {
    /// Loads the rules now (problems are logged) and starts the reload watcher.
    pub fn start(
        cfg: DetectionConfig,
        metrics: ComponentMetrics,
        shutdown: Shutdown,
    ) -> Result<Arc<Rules>, String> {
        let loaded = load_rules(&cfg)?;
        Rules::watch(loaded, cfg, metrics, shutdown)
    }

    /// Puts `loaded` in force (its problems are logged and counted) and starts the watcher
    /// that reloads the set when the rule files change, until `shutdown`.
    pub fn watch(
        loaded: LoadedRules,
        cfg: DetectionConfig,
        metrics: ComponentMetrics,
        shutdown: Shutdown,
    ) -> Result<Arc<Rules>, String> {
        let LoadedRules {
            set,
            problems,
            fingerprint: mut last,
        } = loaded;
        report(&set, &problems, &metrics);
        let rules = Arc::new(Rules {
            cfg: Some(cfg.clone()),
            metrics: Some(metrics.clone()),
            ..Rules::fixed(set)
        });
        let watcher = rules.clone();
        std::thread::Builder::new()
            .name("vigil-rules".into())
            .spawn(move || {
                while !shutdown.is_triggered() {
                    std::thread::sleep(cfg.reload_interval.min(Duration::from_secs(60)));
                    let now = fingerprint(&cfg.rules);
                    if now == last {
                        continue;
                    }
                    last = now;
                    if let Err(e) = watcher.reload_now() {
                        tracing::error!(error = %e, "rules not reloaded");
                    }
                }
            })
            .map_err(|e| e.to_string())?;
        Ok(rules)
    }

    /// The rule set in force.
    pub fn get(&self) -> Arc<RuleSet> {
        self.current.read().clone()
    }

    /// A fixed rule set (no files, no watcher).
    pub fn fixed(set: RuleSet) -> Rules {
        Rules {
            current: RwLock::new(Arc::new(set)),
            cfg: None,
            metrics: None,
            disabled: RwLock::default(),
            counters: parking_lot::Mutex::default(),
        }
    }

    /// The configuration the rules are loaded from (none for a fixed set).
    pub fn config(&self) -> Option<&DetectionConfig> {
        self.cfg.as_ref()
    }

    /// Loads the rule files again (without the disabled ids) and puts the set in force now;
    /// returns the problems of the rules that did not load. An error is the pipeline's.
    pub fn reload_now(&self) -> Result<Vec<String>, String> {
        let Some(cfg) = &self.cfg else {
            return Ok(Vec::new());
        };
        let disabled = self.disabled.read().clone();
        let (set, problems) = load_without(cfg, &disabled)?;
        if let Some(m) = &self.metrics {
            report(&set, &problems, m);
        }
        tracing::info!(
            rules = set.len(),
            problems = problems.len(),
            "rules reloaded"
        );
        *self.current.write() = Arc::new(set);
        Ok(problems)
    }

    /// Sets the rule ids left out of every load (takes effect at the next load).
    pub fn set_disabled(&self, ids: std::collections::HashSet<String>) {
        *self.disabled.write() = ids;
    }

    /// What the engine counted since the start.
    pub fn counters(&self) -> RuleCounters {
        self.counters.lock().clone()
    }
}

fn report(set: &RuleSet, problems: &[String], metrics: &ComponentMetrics) {
    for p in problems {
        tracing::warn!(problem = %p, "rule not loaded");
    }
    metrics
        .gauge("rules_loaded")
        .store(set.len() as i64, Ordering::Relaxed);
    metrics
        .gauge("rules_failed")
        .store(problems.len() as i64, Ordering::Relaxed);
    metrics
        .gauge("rules_warnings")
        .store(set.warnings().len() as i64, Ordering::Relaxed);
}

/// How often the correlation state is saved while events flow.
pub const STATE_SAVE_INTERVAL: Duration = Duration::from_secs(30);
/// Event times further in the future than this (ms) are treated as now + this.
pub const MAX_CLOCK_SKEW_MS: i64 = 5 * 60 * 1000;
/// Largest correlation state file read back.
const MAX_STATE_FILE: u64 = 256 << 20;

/// Saved correlation state per tenant, on disk.
#[derive(Debug)]
struct StateDir {
    dir: PathBuf,
}

impl StateDir {
    fn valid_tenant(t: &str) -> bool {
        TenantId::is_valid(t)
    }

    /// Every saved tenant state (unreadable files are logged and skipped).
    fn load(&self) -> HashMap<SmolStr, Vec<u8>> {
        let mut out = HashMap::new();
        let Ok(rd) = std::fs::read_dir(&self.dir) else {
            return out;
        };
        for e in rd.flatten() {
            let p = e.path();
            let Some(tenant) = p
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".json"))
                .filter(|t| Self::valid_tenant(t))
            else {
                continue;
            };
            match vigil_config::read_file_capped(&p, MAX_STATE_FILE) {
                Ok(bytes) => {
                    out.insert(SmolStr::new(tenant), bytes);
                }
                Err(err) => {
                    tracing::warn!(path = %p.display(), error = %err, "correlation state not read")
                }
            }
        }
        out
    }

    /// Write one tenant's state atomically (temporary file, then rename).
    fn save(&self, tenant: &str, bytes: &[u8]) -> std::io::Result<()> {
        if !Self::valid_tenant(tenant) {
            return Ok(());
        }
        vigil_fs::create_dir_all(&self.dir)?;
        let tmp = self.dir.join(format!(".{tenant}.json.tmp"));
        {
            let mut f = vigil_fs::create(&tmp)?;
            std::io::Write::write_all(&mut f, bytes)?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, self.dir.join(format!("{tenant}.json")))
    }
}

/// The correlator destination: runs the rules on every event, stores the alerts.
#[derive(Debug)]
pub struct DetectionDestination {
    rules: Arc<Rules>,
    store: Arc<dyn EventStore>,
    metrics: ComponentMetrics,
    scratch: Vec<Detection>,
    tenants: HashMap<SmolStr, TenantId>,
    /// Correlation state per tenant, for the rule set it was built from (rebuilt on reload:
    /// windows restart when the rules change).
    correlators: HashMap<SmolStr, Correlator>,
    correlator_set: Option<Arc<RuleSet>>,
    since_evict: u32,
    /// Where correlation state is saved (none: in memory only).
    state_dir: Option<StateDir>,
    /// Saved state not yet restored, per tenant (restored when the tenant's correlator is
    /// created).
    pending: HashMap<SmolStr, Vec<u8>>,
    last_save: std::time::Instant,
    /// The alerts of the last evaluated batch that the store has not taken yet.
    unwritten: Option<Unwritten>,
    /// Called with each group of alert events once the store has taken it (the alert
    /// pipeline of the metadata store, `AlertFeed` in the binary's core wiring).
    alert_sink: SinkSlot,
}

/// Receives alert events after they are stored.
pub type AlertSink = Box<dyn FnMut(&[Event]) + Send>;

/// The optional alert sink, printable in `Debug` as whether it is set.
#[derive(Default)]
struct SinkSlot(Option<AlertSink>);

impl std::fmt::Debug for SinkSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "AlertSink"
        } else {
            "None"
        })
    }
}

/// Alerts of an evaluated batch not yet stored, kept so that the retried write of the same
/// batch stores them without evaluating the batch again.
#[derive(Debug)]
struct Unwritten {
    /// The ids of the batch's events, in order: how a retry of it is recognized.
    batch: Vec<vigil_event::Ulid>,
    /// Alerts per tenant, in the order they were raised; a group leaves when it is stored.
    alerts: Vec<(SmolStr, Vec<Event>)>,
}

impl Unwritten {
    fn is_batch(&self, events: &[Event]) -> bool {
        self.batch.len() == events.len()
            && self
                .batch
                .iter()
                .zip(events)
                .all(|(id, e)| *id == e.meta.id)
    }

    fn count(&self) -> usize {
        self.alerts.iter().map(|(_, a)| a.len()).sum()
    }
}

impl DetectionDestination {
    /// `data_dir`: where correlation state is kept across restarts (`None`: memory only).
    pub fn new(
        rules: Arc<Rules>,
        store: Arc<dyn EventStore>,
        metrics: ComponentMetrics,
        data_dir: Option<&Path>,
    ) -> DetectionDestination {
        let state_dir = data_dir.map(|d| StateDir {
            dir: d.join("correlation-state"),
        });
        let pending = state_dir.as_ref().map(StateDir::load).unwrap_or_default();
        DetectionDestination {
            rules,
            store,
            metrics,
            scratch: Vec::new(),
            tenants: HashMap::new(),
            correlators: HashMap::new(),
            correlator_set: None,
            since_evict: 0,
            state_dir,
            pending,
            last_save: std::time::Instant::now(),
            unwritten: None,
            alert_sink: SinkSlot(None),
        }
    }

    /// Hands every stored group of alert events to `sink` as well.
    pub fn with_alert_sink(mut self, sink: AlertSink) -> DetectionDestination {
        self.alert_sink = SinkSlot(Some(sink));
        self
    }

    /// Stores alert groups in order; on an error the group that failed and those after it
    /// stay in `alerts` (the ones stored are removed), so a retry submits only those.
    fn store_alerts(
        &mut self,
        alerts: &mut Vec<(SmolStr, Vec<Event>)>,
    ) -> Result<(), ComponentError> {
        let mut stored = 0;
        let result = (|| {
            for (tenant, batch) in alerts.iter() {
                let t = match self.tenants.get(tenant) {
                    Some(t) => t.clone(),
                    None => {
                        let t = TenantId::new(tenant)
                            .map_err(|e| ComponentError::new(&self.metrics, e.to_string()))?;
                        self.tenants.insert(tenant.clone(), t.clone());
                        t
                    }
                };
                self.store
                    .append(&t, batch)
                    .map_err(|e| ComponentError::new(&self.metrics, e.to_string()))?;
                if let Some(sink) = &mut self.alert_sink.0 {
                    sink(batch);
                }
                self.metrics
                    .gauge("alerts_total")
                    .fetch_add(batch.len() as i64, Ordering::Relaxed);
                stored += 1;
            }
            Ok(())
        })();
        alerts.drain(..stored);
        result
    }

    /// Save every tenant's correlation state (errors are logged and counted).
    fn save_state(&mut self) {
        let Some(dir) = &self.state_dir else { return };
        let mut states: Vec<(&SmolStr, Vec<u8>)> = Vec::new();
        for (tenant, c) in &self.correlators {
            let mut buf = Vec::new();
            match c.save_state(&mut buf) {
                Ok(()) => states.push((tenant, buf)),
                Err(e) => {
                    tracing::error!(tenant = %tenant, error = %e, "correlation state not serialized")
                }
            }
        }
        // restored or carried-over states of tenants without events since
        for (tenant, bytes) in &self.pending {
            states.push((tenant, bytes.clone()));
        }
        for (tenant, bytes) in states {
            if let Err(e) = dir.save(tenant, &bytes) {
                self.metrics.error("correlation_state_save", 1);
                tracing::error!(tenant = %tenant, error = %e, "correlation state not saved");
            }
        }
        self.last_save = std::time::Instant::now();
    }

    /// Save the correlation state when [`STATE_SAVE_INTERVAL`] has passed.
    fn save_state_if_due(&mut self) {
        if !self.correlators.is_empty() && self.last_save.elapsed() >= STATE_SAVE_INTERVAL {
            self.save_state();
        }
    }

    /// Keep the live state as pending (to carry it into correlators of a new rule set).
    fn stash_state(&mut self) {
        for (tenant, c) in self.correlators.drain() {
            let mut buf = Vec::new();
            if c.save_state(&mut buf).is_ok() {
                self.pending.insert(tenant, buf);
            }
        }
    }
}

/// A batch's alerts grouped by tenant, in the order the tenants first raised one (batches are
/// almost always one tenant: a short list beats a map).
#[derive(Default)]
struct TenantAlerts(Vec<(SmolStr, Vec<Event>)>);

impl TenantAlerts {
    fn push(&mut self, trigger: &Event, alert: Event) {
        match self.0.iter_mut().find(|(t, _)| *t == trigger.meta.tenant) {
            Some((_, v)) => v.push(alert),
            None => self.0.push((trigger.meta.tenant.clone(), vec![alert])),
        }
    }
}

impl Destination for DetectionDestination {
    fn write(&mut self, events: &[Event]) -> Result<(), ComponentError> {
        if let Some(mut u) = self.unwritten.take() {
            // a retry: store what the last evaluation left, never evaluate a batch twice
            let result = self.store_alerts(&mut u.alerts);
            let retry = u.is_batch(events);
            if result.is_err() {
                self.unwritten = Some(u);
                return result;
            }
            if retry {
                self.save_state_if_due();
                return Ok(());
            }
            // the pipeline gave up on that batch (shutdown): its alerts are stored now, and
            // this is a new batch
        }
        let set = self.rules.get();
        if set.is_empty() {
            self.rules.counters.lock().events += events.len() as u64;
            return Ok(());
        }
        if !self
            .correlator_set
            .as_ref()
            .is_some_and(|s| Arc::ptr_eq(s, &set))
        {
            // a new rule set: windows carry over for correlations that still exist
            self.stash_state();
            self.correlator_set = Some(set.clone());
        }
        let has_correlations = !set.correlations().is_empty();
        let mut alerts = TenantAlerts::default();
        let mut counted = RuleCounters::default();
        let mut fired = Vec::new();
        let mut newest_ms = i64::MIN;
        let now_ms = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(i64::MAX - MAX_CLOCK_SKEW_MS);
        for ev in events {
            if ev.meta.kind == EventType::Correlation {
                continue;
            }
            self.scratch.clear();
            let view = SigmaView(ev);
            let cost = set.matches_with_cost(&view, &mut self.scratch);
            counted.events += 1;
            counted.candidates += cost.candidates as u64;
            counted.evaluated += cost.evaluated as u64;
            for d in &self.scratch {
                *counted.matches.entry(d.rule.id.clone()).or_default() += 1;
            }
            if !has_correlations {
                for d in &self.scratch {
                    alerts.push(ev, alert_event(ev, d));
                }
                continue;
            }
            let ts_ms = ev
                .timestamp
                .millis()
                .min(now_ms.saturating_add(MAX_CLOCK_SKEW_MS));
            newest_ms = newest_ms.max(ts_ms);
            let pending = &mut self.pending;
            let metrics = &self.metrics;
            let correlator = self
                .correlators
                .entry(ev.meta.tenant.clone())
                .or_insert_with(|| {
                    let mut c = Correlator::new(set.correlations());
                    if let Some(saved) = pending.remove(&ev.meta.tenant) {
                        match c.restore_state(&mut saved.as_slice()) {
                            Ok(n) => tracing::info!(tenant = %ev.meta.tenant, groups = n, "correlation state restored"),
                            Err(e) => {
                                metrics.error("correlation_state_restore", 1);
                                tracing::warn!(tenant = %ev.meta.tenant, error = %e, "correlation state not restored");
                            }
                        }
                    }
                    c
                });
            for d in &self.scratch {
                if correlator.should_emit(d) {
                    alerts.push(ev, alert_event(ev, d));
                }
            }
            fired.clear();
            correlator.process(&view, ts_ms, &self.scratch, &mut fired);
            for c in &fired {
                alerts.push(ev, correlation_event(ev, c));
            }
        }
        {
            let mut c = self.rules.counters.lock();
            c.events += counted.events;
            c.candidates += counted.candidates;
            c.evaluated += counted.evaluated;
            for (id, n) in counted.matches {
                *c.matches.entry(id).or_default() += n;
            }
        }
        self.since_evict += events.len() as u32;
        if has_correlations && self.since_evict > 10_000 && newest_ms > i64::MIN {
            self.since_evict = 0;
            for c in self.correlators.values_mut() {
                c.evict(newest_ms);
            }
            let late: u64 = self.correlators.values().map(Correlator::late_events).sum();
            self.metrics
                .gauge("correlation_late_events")
                .store(late as i64, Ordering::Relaxed);
        }
        let mut alerts = alerts.0;
        if let Err(e) = self.store_alerts(&mut alerts) {
            // keep the rest for the retry of this batch (the windows have counted it already)
            self.unwritten = Some(Unwritten {
                batch: events.iter().map(|e| e.meta.id).collect(),
                alerts,
            });
            return Err(e);
        }
        if has_correlations {
            self.save_state_if_due();
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), ComponentError> {
        // called at shutdown: a batch the pipeline gave up on may have left alerts; one last try
        let mut result = Ok(());
        if let Some(mut u) = self.unwritten.take()
            && let Err(e) = self.store_alerts(&mut u.alerts)
        {
            self.metrics
                .drop("alerts_unstored_at_shutdown", u.count() as u64);
            tracing::error!(alerts = u.count(), error = %e, "alerts not stored at shutdown");
            result = Err(e);
        }
        // keep the open correlation windows for the next start
        self.save_state();
        result
    }
}

#[cfg(test)]
pub(crate) mod retry_tests {
    //! The pipeline retries a failed write with the same batch: the detection destination must
    //! end with exactly the alerts and correlation windows of one successful write. The store
    //! that fails is the real embedded store behind a wrapper that refuses chosen appends.

    use std::collections::BTreeSet;
    use std::sync::atomic::AtomicUsize;

    use vigil_store::embedded::{EmbeddedConfig, EmbeddedStore};
    use vigil_store::{AggregateRequest, SearchRequest};

    use super::*;

    const SSH_RULE: &str = r#"
title: SSH password guessing
id: 0b8a7c1e-4d2f-4c4a-9a51-6a1d2b3c4d5e
level: medium
logsource: { product: linux, service: sshd }
detection:
  selection:
    process.name: sshd
    message|contains: 'Failed password'
  condition: selection
"#;

    const BRUTE_FORCE: &str = r#"
title: SSH brute force from one address
id: 6f0e2d3c-7b8a-4c5d-9e1f-0a1b2c3d4e5f
level: high
correlation:
  type: event_count
  rules: [0b8a7c1e-4d2f-4c4a-9a51-6a1d2b3c4d5e]
  group-by: [source.ip]
  timespan: 5m
  generate: true
  condition:
    gte: 3
"#;

    /// The embedded store, refusing the appends whose 1-based numbers are in `refuse`.
    #[derive(Debug)]
    pub(crate) struct FlakyStore {
        pub(crate) inner: EmbeddedStore,
        pub(crate) refuse: Vec<usize>,
        pub(crate) calls: AtomicUsize,
    }

    impl EventStore for FlakyStore {
        fn append(&self, t: &TenantId, events: &[Event]) -> Result<u64, vigil_store::StoreError> {
            let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
            if self.refuse.contains(&n) {
                return Err(vigil_store::StoreError::Invalid(format!(
                    "append {n} refused (test)"
                )));
            }
            self.inner.append(t, events)
        }
        fn wait_durable(
            &self,
            t: &TenantId,
            lsn: u64,
            timeout: Duration,
        ) -> Result<(), vigil_store::StoreError> {
            self.inner.wait_durable(t, lsn, timeout)
        }
        fn search(
            &self,
            t: &TenantId,
            r: &SearchRequest,
        ) -> Result<vigil_store::SearchResult, vigil_store::StoreError> {
            self.inner.search(t, r)
        }
        fn aggregate(
            &self,
            t: &TenantId,
            r: &AggregateRequest,
        ) -> Result<vigil_store::AggregateResult, vigil_store::StoreError> {
            self.inner.aggregate(t, r)
        }
        fn stats(&self, t: &TenantId) -> Result<vigil_store::StoreStats, vigil_store::StoreError> {
            self.inner.stats(t)
        }
        fn tenants(&self) -> Result<Vec<TenantId>, vigil_store::StoreError> {
            Ok(self.inner.tenants())
        }
        fn flush(&self, t: &TenantId) -> Result<(), vigil_store::StoreError> {
            self.inner.flush(t)
        }
        fn close(&self) -> Result<(), vigil_store::StoreError> {
            self.inner.close()
        }
    }

    fn failed_logon(tenant: &str, second: u32, ip: &str) -> Event {
        let line = format!(
            "<38>Nov 22 07:00:{second:02} jump01 sshd[42]: Failed password for root from {ip} port 4242 ssh2"
        );
        let mut e = Event::new(vigil_event::Bytes::from(line.clone()));
        e.meta.tenant = SmolStr::new(tenant);
        e.timestamp = vigil_event::Timestamp::parse(&format!("2026-11-22T07:00:{second:02}Z"))
            .unwrap_or_default();
        e.process.name = Some(SmolStr::new("sshd"));
        e.message = Some(SmolStr::new(&line));
        e.set("source.ip", Value::from(ip))
            .expect("source.ip is a field");
        e
    }

    /// Two batches; the first mixes two tenants so that a failure can fall between them.
    fn batches() -> Vec<Vec<Event>> {
        let mut first = Vec::new();
        for s in 0..3 {
            first.push(failed_logon("main", s, "203.0.113.45"));
            first.push(failed_logon("acme", s, "198.51.100.7"));
        }
        first.push(failed_logon("main", 3, "198.51.100.9"));
        let second = vec![
            failed_logon("main", 10, "203.0.113.45"),
            failed_logon("main", 11, "198.51.100.9"),
            failed_logon("main", 12, "198.51.100.9"),
            failed_logon("acme", 13, "198.51.100.7"),
        ];
        vec![first, second]
    }

    fn rules() -> Arc<Rules> {
        let mut loader = Loader::new(LoadOptions::default());
        loader.add_str(Path::new("ssh.yml"), SSH_RULE);
        loader.add_str(Path::new("brute.yml"), BRUTE_FORCE);
        let (set, problems) = loader.finish();
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(set.correlations().len(), 1);
        Arc::new(Rules::fixed(set))
    }

    /// What a run leaves: every alert stored, as (tenant, rule, triggering line, correlation
    /// count: 0 for a rule's own alert), how many were stored, the `alerts_total` gauge, and
    /// the correlation windows saved at shutdown (per tenant, groups in a stable order).
    #[derive(Debug, PartialEq)]
    struct Outcome {
        alerts: BTreeSet<(String, String, String, i64)>,
        stored: usize,
        gauge: i64,
        windows: Vec<(String, Vec<String>)>,
    }

    fn windows(dir: &Path) -> Vec<(String, Vec<String>)> {
        let mut out = Vec::new();
        for tenant in ["acme", "main"] {
            let path = dir.join("correlation-state").join(format!("{tenant}.json"));
            let bytes = vigil_config::read_file_capped(&path, 1 << 20).expect("state saved");
            let v: serde_json::Value = serde_json::from_slice(&bytes).expect("state is JSON");
            let mut groups: Vec<String> = v["groups"]
                .as_array()
                .expect("groups")
                .iter()
                .map(|g| g.to_string())
                .collect();
            groups.sort();
            out.push((tenant.to_owned(), groups));
        }
        out
    }

    fn run(refuse: Vec<usize>) -> Outcome {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Arc::new(FlakyStore {
            inner: EmbeddedStore::open(EmbeddedConfig::new(dir.path())).expect("store opens"),
            refuse,
            calls: AtomicUsize::new(0),
        });
        let metrics = ComponentMetrics::detached("destination", "correlator");
        let mut dest =
            DetectionDestination::new(rules(), store.clone(), metrics.clone(), Some(dir.path()));
        let mut failures = 0;
        for batch in batches() {
            // the pipeline's loop (run_destination), without the backoff
            let mut attempts = 0;
            while dest.write(&batch).is_err() {
                failures += 1;
                attempts += 1;
                assert!(attempts < 20, "the write never succeeded");
            }
        }
        dest.flush().expect("flush");
        let mut alerts = BTreeSet::new();
        let mut stored = 0;
        for tenant in ["main", "acme"] {
            let t = TenantId::new(tenant).expect("tenant");
            let r = store
                .search(
                    &t,
                    &SearchRequest::parse("vigil.type:correlation", 1000).expect("query"),
                )
                .expect("search");
            stored += r.events.len();
            for a in r.events {
                let count = match a.extra.get("vigil.correlation.count") {
                    Some(Value::Int(n)) => *n,
                    _ => 0,
                };
                alerts.insert((
                    tenant.to_owned(),
                    a.rule.id.as_deref().unwrap_or("").to_owned(),
                    a.raw_str().to_string(),
                    count,
                ));
            }
        }
        let gauge = metrics.gauge("alerts_total").load(Ordering::Relaxed);
        store.close().expect("close");
        assert_eq!(
            failures,
            store.refuse.len(),
            "not every failure was injected"
        );
        Outcome {
            alerts,
            stored,
            gauge,
            windows: windows(dir.path()),
        }
    }

    #[test]
    fn retried_batch_yields_the_alerts_of_one_write() {
        let expected = run(Vec::new());
        // every failed logon raised its own alert; each address reached 3 (main .45 and
        // acme .7 in the first batch, main .9 only with the second batch's second event)
        assert_eq!(expected.alerts.iter().filter(|a| a.3 == 0).count(), 11);
        for (tenant, line) in [
            (
                "main",
                "07:00:02 jump01 sshd[42]: Failed password for root from 203.0.113.45",
            ),
            (
                "acme",
                "07:00:02 jump01 sshd[42]: Failed password for root from 198.51.100.7",
            ),
            (
                "main",
                "07:00:12 jump01 sshd[42]: Failed password for root from 198.51.100.9",
            ),
        ] {
            assert!(
                expected
                    .alerts
                    .iter()
                    .any(|a| a.0 == tenant && a.2.contains(line) && a.3 == 3),
                "no correlation for {tenant} {line}: {:#?}",
                expected.alerts
            );
        }
        assert_eq!(
            expected.stored,
            expected.alerts.len(),
            "an alert stored twice"
        );
        assert_eq!(expected.gauge as usize, expected.stored);
        // one failure (a window counting the first batch twice would fire for .9 on the
        // second batch's first event), then three in a row
        for refuse in [vec![1], vec![1, 2, 3]] {
            assert_eq!(run(refuse.clone()), expected, "appends {refuse:?} refused");
        }
    }

    #[test]
    fn retried_mixed_tenant_batch_stores_each_tenant_once() {
        let expected = run(Vec::new());
        // append 1 (tenant main of the first batch) succeeds, tenant acme fails twice (main
        // must not be stored again), then the second batch's first append fails once
        assert_eq!(run(vec![2, 3, 5]), expected);
    }
}
