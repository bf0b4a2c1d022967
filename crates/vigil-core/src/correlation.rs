//! The stateful correlator as a destination of `vigil up`: every normalized event batch goes
//! through one [`vigil_correlate::Engine`] (KUMA-style rules of `rules/correlation/`, see
//! `docs/correlation.md`). The correlation events it outputs are stored in their tenant, like
//! the Sigma detection destination's alerts (`vigil search 'vigil.type:correlation'`), and the
//! ones whose rule raises an alert are handed to the alert sink (the core's alert pipeline).
//!
//! # Time
//! Rules run on event time, each tenant on its own clock: the engine's watermark of a tenant
//! follows that tenant's newest event minus each rule's lateness, so a tenant whose sources lag
//! or are quiet is never judged by another tenant's clock. When no event of a tenant has
//! arrived for `idle_after`, a ticker moves that tenant's watermark on with the wall clock (its
//! newest event time plus the time since its last event), so window ends and absences are
//! decided for a quiet tenant, and on an idle input, too. Event times further than
//! [`crate::detection::MAX_CLOCK_SKEW_MS`] in the future are capped there, so one bogus
//! timestamp cannot push the watermark past every real event.
//!
//! # Retries and state
//! The pipeline retries a failed `write` with the same batch. As in
//! [`crate::detection::DetectionDestination`], a batch is evaluated once: its outputs are kept
//! per tenant until the store has taken them, and a retry of the same batch only stores what is
//! left. The engine's snapshot is saved to `<data_dir>/correlation-engine.state` every
//! `snapshot_interval` and at shutdown, only when no output is waiting (so a restart never
//! finds buckets that got ahead of their stored correlation events), and restored at start.
//!
//! # Reload, explain, lists
//! The rule files are watched (every [`RELOAD_POLL`], by modification time and size): a change
//! reloads the rules with [`Engine::reload`], so an unchanged rule (same id, version and logic)
//! keeps its buckets and a changed or new one starts clean; the lists and tables are kept.
//! [`CorrelationHandle`] is the running correlator for the API and `SIGHUP`: the same reload
//! on demand, a rule's report and "why didn't this fire", the explanation of a stored
//! correlation event, and the CRUD, CSV import and export of active lists and context tables.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use smol_str::SmolStr;
use vigil_config::CorrelationConfig;
use vigil_correlate::{Engine, EngineOptions, Loader, Output, Rules};
use vigil_event::Event;
use vigil_pipeline::{ComponentError, ComponentMetrics, Destination};
use vigil_store::{EventStore, TenantId};

use crate::detection::AlertSink;

/// Largest snapshot file read back.
const MAX_SNAPSHOT_FILE: u64 = 1 << 30;
/// How often the idle ticker looks.
const TICK: Duration = Duration::from_secs(1);
/// How often the rule files are checked for changes.
pub const RELOAD_POLL: Duration = Duration::from_secs(2);

/// The rules of `cfg`, loaded, with one line per problem (`file: path [rule]: reason`).
pub fn load_rules(cfg: &CorrelationConfig) -> (Rules, Vec<String>) {
    load_rules_without(cfg, &Default::default())
}

/// The rules of `cfg` but the `disabled` ids, loaded, with one line per problem.
pub fn load_rules_without(
    cfg: &CorrelationConfig,
    disabled: &std::collections::HashSet<String>,
) -> (Rules, Vec<String>) {
    let mut loader = Loader::new();
    for p in &cfg.rules {
        // a directory, a file, or the pack embedded in the binary (`builtin:correlation`)
        loader.add_path(p);
    }
    loader.exclude(disabled);
    let (rules, problems) = loader.finish();
    (rules, problems.iter().map(|p| p.to_string()).collect())
}

/// Outputs of the engine not yet stored, per tenant, in order.
#[derive(Debug, Default)]
struct Waiting {
    /// The ids of the batch that produced them (empty for the idle ticker's): a retry of that
    /// batch stores them instead of evaluating it again.
    batch: Vec<vigil_event::Ulid>,
    groups: Vec<(SmolStr, Vec<Output>)>,
}

impl Waiting {
    fn is_batch(&self, events: &[Event]) -> bool {
        self.batch.len() == events.len()
            && self
                .batch
                .iter()
                .zip(events)
                .all(|(id, e)| *id == e.meta.id)
    }

    fn push(&mut self, outputs: Vec<Output>) {
        for o in outputs {
            let tenant = o.event.meta.tenant.clone();
            match self.groups.iter_mut().find(|(t, _)| *t == tenant) {
                Some((_, v)) => v.push(o),
                None => self.groups.push((tenant, vec![o])),
            }
        }
    }

    fn count(&self) -> usize {
        self.groups.iter().map(|(_, v)| v.len()).sum()
    }
}

struct Inner {
    engine: Engine,
    store: Arc<dyn EventStore>,
    metrics: ComponentMetrics,
    tenants: HashMap<SmolStr, TenantId>,
    /// The last batch's outputs not stored yet.
    unwritten: Option<Waiting>,
    /// The idle ticker's outputs not stored yet.
    ticked: Waiting,
    sink: Option<AlertSink>,
    state_file: Option<PathBuf>,
    snapshot_interval: Duration,
    idle_after: Duration,
    last_save: Instant,
    last_batch: Instant,
    /// Per tenant: when its last event arrived (the idle ticker moves each tenant on alone).
    tenant_arrivals: HashMap<SmolStr, Instant>,
    /// The rule files and directories, and their fingerprint when last loaded.
    rule_paths: Vec<PathBuf>,
    rules_seen: u64,
    last_poll: Instant,
    /// The rule ids switched off through the rules API: every reload leaves them out.
    disabled: std::collections::HashSet<String>,
}

impl Inner {
    /// Stores the groups in order; the ones stored leave `w`, so a retry submits the rest.
    fn store(&mut self, w: &mut Waiting) -> Result<(), ComponentError> {
        let mut stored = 0;
        let result = (|| {
            for (tenant, outputs) in &w.groups {
                let t = match self.tenants.get(tenant) {
                    Some(t) => t.clone(),
                    None => {
                        let t = TenantId::new(tenant)
                            .map_err(|e| ComponentError::new(&self.metrics, e.to_string()))?;
                        self.tenants.insert(tenant.clone(), t.clone());
                        t
                    }
                };
                let events: Vec<Event> = outputs.iter().map(|o| o.event.clone()).collect();
                self.store
                    .append(&t, &events)
                    .map_err(|e| ComponentError::new(&self.metrics, e.to_string()))?;
                let alerts: Vec<Event> = outputs
                    .iter()
                    .filter(|o| o.alert)
                    .map(|o| o.event.clone())
                    .collect();
                self.metrics
                    .gauge("correlation_events_total")
                    .fetch_add(events.len() as i64, Ordering::Relaxed);
                if !alerts.is_empty() {
                    self.metrics
                        .gauge("alerts_total")
                        .fetch_add(alerts.len() as i64, Ordering::Relaxed);
                    if let Some(sink) = &mut self.sink {
                        sink(&alerts);
                    }
                }
                stored += 1;
            }
            Ok(())
        })();
        w.groups.drain(..stored);
        result
    }

    /// Stores what the idle ticker left.
    fn store_ticked(&mut self) -> Result<(), ComponentError> {
        if self.ticked.groups.is_empty() {
            return Ok(());
        }
        let mut w = std::mem::take(&mut self.ticked);
        let r = self.store(&mut w);
        self.ticked = w;
        r
    }

    /// Saves the engine's snapshot (atomically) when nothing waits to be stored.
    fn save(&mut self) {
        let Some(path) = &self.state_file else { return };
        if self.unwritten.is_some() || !self.ticked.groups.is_empty() {
            return;
        }
        let bytes = self.engine.snapshot();
        let result = (|| {
            if let Some(dir) = path.parent() {
                vigil_fs::create_dir_all(dir)?;
            }
            let tmp = path.with_extension("state.tmp");
            {
                let mut f = vigil_fs::create(&tmp)?;
                std::io::Write::write_all(&mut f, &bytes)?;
                f.sync_all()?;
            }
            std::fs::rename(&tmp, path)
        })();
        if let Err(e) = result {
            self.metrics.error("correlation_state_save", 1);
            tracing::error!(path = %path.display(), error = %e, "correlation state not saved");
        }
        self.metrics
            .gauge("correlation_state_bytes")
            .store(bytes.len() as i64, Ordering::Relaxed);
        self.last_save = Instant::now();
    }

    fn save_if_due(&mut self) {
        if self.last_save.elapsed() >= self.snapshot_interval {
            self.save();
        }
    }

    /// Reloads the rules from their files: unchanged rules keep their state.
    fn reload(&mut self) -> ReloadReport {
        self.rules_seen = crate::detection::fingerprint(&self.rule_paths);
        let cfg = CorrelationConfig {
            rules: self.rule_paths.clone(),
            idle_after: self.idle_after,
            snapshot_interval: self.snapshot_interval,
        };
        let (rules, problems) = load_rules_without(&cfg, &self.disabled);
        for p in &problems {
            tracing::warn!(problem = %p, "correlation rule not loaded");
        }
        let before: Vec<(String, u32)> = self
            .engine
            .rules()
            .rules
            .iter()
            .map(|r| (r.id.clone(), r.version))
            .collect();
        let (next, restored) = self.engine.reload(rules);
        self.engine = next;
        let after = &self.engine.rules().rules;
        let kept = restored.rules_restored;
        let report = ReloadReport {
            rules: after.len(),
            kept,
            restarted: after.len() - kept,
            removed: before
                .iter()
                .filter(|(id, _)| !after.iter().any(|r| &r.id == id))
                .map(|(id, _)| id.clone())
                .collect(),
            problems,
        };
        self.metrics
            .gauge("rules_loaded")
            .store(report.rules as i64, Ordering::Relaxed);
        self.metrics
            .gauge("rules_failed")
            .store(report.problems.len() as i64, Ordering::Relaxed);
        self.metrics
            .gauge("rule_reloads")
            .fetch_add(1, Ordering::Relaxed);
        tracing::info!(
            rules = report.rules,
            kept = report.kept,
            restarted = report.restarted,
            problems = report.problems.len(),
            "correlation rules reloaded"
        );
        report
    }

    /// Reloads when the rule files changed since the last load.
    fn poll_rules(&mut self) {
        if self.rule_paths.is_empty() || self.last_poll.elapsed() < RELOAD_POLL {
            return;
        }
        self.last_poll = Instant::now();
        if crate::detection::fingerprint(&self.rule_paths) != self.rules_seen {
            self.reload();
        }
    }

    /// For each tenant quiet for `idle_after` (a quiet tenant, or an idle input), moves its
    /// watermark on with the wall clock and stores what fires.
    fn tick(&mut self) {
        self.poll_rules();
        let idle = self.last_batch.elapsed();
        if self.unwritten.is_some() {
            let _ = self.store_ticked();
            return;
        }
        for (tenant, newest) in self.engine.tenant_event_times() {
            // no tenant arrived after the last batch
            let quiet = self
                .tenant_arrivals
                .get(&tenant)
                .map_or(idle, |at| at.elapsed().max(idle));
            if newest == i64::MIN || quiet < self.idle_after {
                continue;
            }
            let wm = newest.saturating_add(i64::try_from(quiet.as_nanos()).unwrap_or(i64::MAX));
            let outputs = self.engine.advance_tenant_watermark(&tenant, wm);
            self.ticked.push(outputs);
        }
        if let Err(e) = self.store_ticked() {
            tracing::warn!(error = %e, waiting = self.ticked.count(), "correlation events not stored yet; retrying");
            return;
        }
        self.save_if_due();
    }
}

/// The correlator destination.
pub struct CorrelationDestination {
    inner: Arc<Mutex<Inner>>,
    stop: Arc<AtomicBool>,
}

impl std::fmt::Debug for CorrelationDestination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CorrelationDestination")
            .finish_non_exhaustive()
    }
}

impl CorrelationDestination {
    /// Builds the engine on `rules`, restores `<data_dir>/correlation-engine.state` when there
    /// is one (`data_dir` None: memory only), and starts the idle ticker.
    pub fn new(
        rules: Rules,
        cfg: &CorrelationConfig,
        store: Arc<dyn EventStore>,
        metrics: ComponentMetrics,
        data_dir: Option<&Path>,
        sink: Option<AlertSink>,
    ) -> std::io::Result<CorrelationDestination> {
        let mut engine = Engine::new(rules, EngineOptions::default());
        let state_file = data_dir.map(|d| d.join("correlation-engine.state"));
        if let Some(p) = &state_file
            && p.exists()
        {
            match vigil_config::read_file_capped(p, MAX_SNAPSHOT_FILE) {
                Ok(bytes) => match engine.restore(&bytes) {
                    Ok(r) => {
                        tracing::info!(path = %p.display(), report = ?r, "correlation state restored")
                    }
                    Err(e) => {
                        metrics.error("correlation_state_restore", 1);
                        tracing::warn!(path = %p.display(), error = %e, "correlation state not restored; starting clean");
                    }
                },
                Err(e) => {
                    metrics.error("correlation_state_restore", 1);
                    tracing::warn!(path = %p.display(), error = %e, "correlation state not read; starting clean");
                }
            }
        }
        metrics
            .gauge("rules_loaded")
            .store(engine.rules().rules.len() as i64, Ordering::Relaxed);
        let inner = Arc::new(Mutex::new(Inner {
            engine,
            store,
            metrics,
            tenants: HashMap::new(),
            unwritten: None,
            ticked: Waiting::default(),
            sink,
            state_file,
            snapshot_interval: cfg.snapshot_interval,
            idle_after: cfg.idle_after,
            last_save: Instant::now(),
            last_batch: Instant::now(),
            tenant_arrivals: HashMap::new(),
            rules_seen: crate::detection::fingerprint(&cfg.rules),
            rule_paths: cfg.rules.clone(),
            last_poll: Instant::now(),
            disabled: Default::default(),
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let (i, s) = (inner.clone(), stop.clone());
        std::thread::Builder::new()
            .name("vigil-correlate-tick".into())
            .spawn(move || {
                while !s.load(Ordering::Relaxed) {
                    std::thread::sleep(TICK);
                    if s.load(Ordering::Relaxed) {
                        break;
                    }
                    i.lock().tick();
                }
            })?;
        Ok(CorrelationDestination { inner, stop })
    }

    /// A handle on this correlator for the API and signals.
    pub fn handle(&self) -> CorrelationHandle {
        CorrelationHandle {
            inner: self.inner.clone(),
        }
    }
}

impl Drop for CorrelationDestination {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

impl Destination for CorrelationDestination {
    fn write(&mut self, events: &[Event]) -> Result<(), ComponentError> {
        let mut g = self.inner.lock();
        let now = Instant::now();
        g.last_batch = now;
        let mut last: Option<&SmolStr> = None;
        for e in events {
            if last != Some(&e.meta.tenant) {
                last = Some(&e.meta.tenant);
                g.tenant_arrivals.insert(e.meta.tenant.clone(), now);
            }
        }
        g.store_ticked()?;
        if let Some(mut u) = g.unwritten.take() {
            // a retry: store what the last evaluation left, never evaluate a batch twice
            let result = g.store(&mut u);
            let retry = u.is_batch(events);
            if result.is_err() {
                g.unwritten = Some(u);
                return result;
            }
            if retry {
                g.save_if_due();
                return Ok(());
            }
        }
        // one bogus future timestamp must not push the watermark past every real event: as
        // for Sigma correlations, event times are capped at the wall clock plus the skew
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::SystemTime::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(i64::MAX);
        let cap = now_ms.saturating_add(crate::detection::MAX_CLOCK_SKEW_MS);
        let outputs = if events.iter().any(|e| e.timestamp.millis() > cap) {
            let capped: Vec<Event> = events
                .iter()
                .map(|e| {
                    let mut e = e.clone();
                    if e.timestamp.millis() > cap {
                        e.timestamp = vigil_event::Timestamp::from_millis(cap);
                    }
                    e
                })
                .collect();
            g.engine.process(&capped)
        } else {
            g.engine.process(events)
        };
        if !outputs.is_empty() {
            let mut w = Waiting::default();
            w.push(outputs);
            if let Err(e) = g.store(&mut w) {
                w.batch = events.iter().map(|e| e.meta.id).collect();
                g.unwritten = Some(w);
                return Err(e);
            }
        }
        g.save_if_due();
        Ok(())
    }

    fn flush(&mut self) -> Result<(), ComponentError> {
        self.stop.store(true, Ordering::Relaxed);
        let mut g = self.inner.lock();
        let mut result = g.store_ticked();
        if let Some(mut u) = g.unwritten.take()
            && let Err(e) = g.store(&mut u)
        {
            g.metrics
                .drop("correlation_events_unstored_at_shutdown", u.count() as u64);
            tracing::error!(events = u.count(), error = %e, "correlation events not stored at shutdown");
            result = Err(e);
        }
        if result.is_ok() {
            g.save();
        }
        result
    }
}

/// What a rule reload did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReloadReport {
    /// Rules now running.
    pub rules: usize,
    /// Unchanged rules (same id, version and logic) that kept their state.
    pub kept: usize,
    /// Changed or new rules, started clean.
    pub restarted: usize,
    /// Ids of rules no longer loaded.
    pub removed: Vec<String>,
    /// Rules that did not load (`file: path [rule]: reason`); the others run.
    pub problems: Vec<String>,
}

/// A base event of a correlation event, as [`CorrelationHandle::explain_event`] finds it.
#[derive(Debug, Clone)]
pub struct BaseEvent {
    /// Its id.
    pub id: String,
    /// The selector of the rule it satisfied.
    pub selector: String,
    /// The stored event, when it is still stored.
    pub event: Option<Event>,
}

/// A base event of an alert and what in it made the rule match
/// ([`CorrelationHandle::explain_alert_events`]).
#[derive(Debug, Clone)]
pub struct AlertMatch {
    /// The base event's id.
    pub id: String,
    /// The correlation (or Sigma alert) event it was found through, if any.
    pub via: Option<String>,
    /// The rule that matched it, when known.
    pub rule_id: Option<String>,
    /// The correlation rule's selector it satisfied (none for Sigma rules).
    pub selector: Option<String>,
    /// The stored event, when it is still stored.
    pub event: Option<Event>,
    /// (field, value) of each positive condition that matched, in the rule's order; field
    /// None for a full-text word. Empty when nothing could be recovered (the rule changed or
    /// is gone, or the event is no longer stored).
    pub matched: Vec<(Option<String>, String)>,
}

/// A stored correlation event with its base events.
#[derive(Debug, Clone)]
pub struct EventExplain {
    /// The correlation event.
    pub event: Event,
    /// Its base events (at most the engine's `max_base_ids`), in the order it lists them.
    pub base: Vec<BaseEvent>,
    /// How many base events the firing counted (may exceed the ids carried).
    pub base_count: u64,
}

/// Why a list operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ListError {
    /// A store error (unknown list, key arity, CSV problems, full).
    #[error(transparent)]
    Store(#[from] vigil_correlate::StoreError),
    /// The request is wrong.
    #[error("{0}")]
    Invalid(String),
}

/// An active list or context table as the API describes it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ListInfo {
    /// Name.
    pub name: String,
    /// `active_list` or `context_table`.
    pub kind: &'static str,
    /// Description.
    pub description: String,
    /// Key columns.
    pub key: Vec<String>,
    /// Typed columns (tables): name → type.
    pub columns: std::collections::BTreeMap<String, String>,
    /// Entry time to live, seconds.
    pub ttl_seconds: Option<i64>,
    /// Most entries per instance.
    pub max_entries: usize,
    /// `tenant` (one instance per tenant) or `shared`.
    pub scope: &'static str,
    /// Counters over all instances.
    pub stats: vigil_correlate::StoreStats,
}

/// The running correlator, for the API and signals: reload, explain, lists. Cheap to clone.
#[derive(Clone)]
pub struct CorrelationHandle {
    inner: Arc<Mutex<Inner>>,
}

impl std::fmt::Debug for CorrelationHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CorrelationHandle").finish_non_exhaustive()
    }
}

/// Event time "now" for list writes from the API: the correlator's newest event time (lists
/// expire on event time), or the wall clock before any event.
fn list_now(engine: &Engine) -> i64 {
    match engine.max_event_time() {
        i64::MIN => vigil_event::Timestamp::now().0,
        t => t,
    }
}

impl CorrelationHandle {
    /// Reloads the rules from their files now (as the watcher does on a change).
    pub fn reload(&self) -> ReloadReport {
        self.inner.lock().reload()
    }

    /// Leaves the `disabled` ids out of this and every later reload, and reloads now, carrying
    /// the state of unchanged rules; returns the problems of rules that did not load.
    pub fn reload_without(&self, disabled: &std::collections::HashSet<String>) -> Vec<String> {
        let mut inner = self.inner.lock();
        inner.disabled = disabled.clone();
        inner.reload().problems
    }

    /// The configuration the rules are loaded from.
    pub fn config(&self) -> CorrelationConfig {
        let inner = self.inner.lock();
        CorrelationConfig {
            rules: inner.rule_paths.clone(),
            idle_after: inner.idle_after,
            snapshot_interval: inner.snapshot_interval,
        }
    }

    /// The rules in force, with each one's report (counters, state).
    pub fn rules_with_reports(
        &self,
    ) -> Vec<(
        Arc<vigil_correlate::Rule>,
        Option<vigil_correlate::RuleReport>,
    )> {
        let inner = self.inner.lock();
        inner
            .engine
            .rules()
            .rules
            .iter()
            .map(|r| (r.clone(), inner.engine.rule_report(&r.id)))
            .collect()
    }

    /// The rules running: (id, version, name, kind).
    pub fn rules(&self) -> Vec<(String, u32, String, &'static str)> {
        let g = self.inner.lock();
        g.engine
            .rules()
            .rules
            .iter()
            .map(|r| (r.id.clone(), r.version, r.name.clone(), r.kind.as_str()))
            .collect()
    }

    /// A rule's open buckets, memory, evaluation cost, matches, late events, firings.
    pub fn rule_report(&self, id: &str) -> Option<vigil_correlate::RuleReport> {
        self.inner.lock().engine.rule_report(id)
    }

    /// The group-by fields of a rule.
    pub fn group_by(&self, id: &str) -> Option<Vec<String>> {
        let g = self.inner.lock();
        g.engine.rules().get(id).map(|r| r.group_by.clone())
    }

    /// "Why didn't this fire" for one group of a rule in one tenant.
    pub fn explain_group(
        &self,
        id: &str,
        tenant: &str,
        values: &[&str],
    ) -> Option<vigil_correlate::GroupExplain> {
        self.inner.lock().engine.explain_group(id, tenant, values)
    }

    /// A stored correlation event of `tenant` by id, with its base events and the selector
    /// each satisfied. None when there is no such correlation event.
    pub fn explain_event(
        &self,
        tenant: &TenantId,
        id: &str,
    ) -> Result<Option<EventExplain>, vigil_store::StoreError> {
        let Ok(ulid) = vigil_event::Ulid::from_string(id) else {
            return Ok(None);
        };
        let store = self.inner.lock().store.clone();
        let Some(event) = find_events(&*store, tenant, &[ulid])?.into_iter().next() else {
            return Ok(None);
        };
        if event.meta.kind != vigil_event::EventType::Correlation {
            return Ok(None);
        }
        let texts = |f: &str| -> Vec<String> {
            match event.extra.get(f) {
                Some(vigil_event::Value::List(l)) => {
                    l.iter().map(vigil_correlate::store::value_text).collect()
                }
                Some(v) => vec![vigil_correlate::store::value_text(v)],
                None => Vec::new(),
            }
        };
        let ids = texts("vigil.correlation.base_event_ids");
        let selectors = texts("vigil.correlation.base_event_selectors");
        let ulids: Vec<vigil_event::Ulid> = ids
            .iter()
            .filter_map(|i| vigil_event::Ulid::from_string(i).ok())
            .collect();
        let found = find_events(&*store, tenant, &ulids)?;
        let base = ids
            .iter()
            .enumerate()
            .map(|(i, bid)| BaseEvent {
                id: bid.clone(),
                selector: selectors.get(i).cloned().unwrap_or_default(),
                event: found
                    .iter()
                    .find(|e| e.meta.id.to_string() == *bid)
                    .cloned(),
            })
            .collect();
        let base_count = match event.extra.get("vigil.correlation.base_event_count") {
            Some(vigil_event::Value::Int(n)) => u64::try_from(*n).unwrap_or(0),
            _ => ids.len() as u64,
        };
        Ok(Some(EventExplain {
            event,
            base,
            base_count,
        }))
    }

    /// The base events of an alert with what in each matched, for the alert page's
    /// highlighting. `ids` are the alert's event ids (at most the first 200 are read): a
    /// correlation event of this correlator stands for its base events, each explained by the
    /// selector it satisfied ([`vigil_correlate::Engine::explain_selector`], evaluated again
    /// on the stored event with the rules in force); any other event is a base event of a
    /// Sigma rule, explained by the `vigil.detection.matched` fields its alert event recorded
    /// when the rule fired.
    pub fn explain_alert_events(
        &self,
        tenant: &TenantId,
        ids: &[String],
    ) -> Result<Vec<AlertMatch>, vigil_store::StoreError> {
        let ulids: Vec<vigil_event::Ulid> = ids
            .iter()
            .take(200)
            .filter_map(|i| vigil_event::Ulid::from_string(i).ok())
            .collect();
        let store = self.inner.lock().store.clone();
        let found = find_events(&*store, tenant, &ulids)?;
        let texts = |e: &Event, f: &str| -> Vec<String> {
            match e.extra.get(f) {
                Some(vigil_event::Value::List(l)) => {
                    l.iter().map(vigil_correlate::store::value_text).collect()
                }
                Some(v) => vec![vigil_correlate::store::value_text(v)],
                None => Vec::new(),
            }
        };
        // every value of a field as text, however the stored event keeps it
        let values = |e: &Event, f: &str| -> Vec<String> {
            let mut v = Vec::new();
            e.visit_field(f, &mut |x| {
                if !matches!(x, vigil_event::ValueRef::Null) {
                    v.push(x.to_string());
                }
            });
            v
        };
        let mut out = Vec::new();
        let mut sigma_bases = Vec::new();
        for u in &ulids {
            let id = u.to_string();
            let Some(ev) = found.iter().find(|e| e.meta.id == *u) else {
                out.push(AlertMatch {
                    id,
                    via: None,
                    rule_id: None,
                    selector: None,
                    event: None,
                    matched: Vec::new(),
                });
                continue;
            };
            let base_ids = texts(ev, "vigil.correlation.base_event_ids");
            if ev.meta.kind != vigil_event::EventType::Correlation || base_ids.is_empty() {
                sigma_bases.push((out.len(), *u, ev.timestamp.millis()));
                out.push(AlertMatch {
                    id,
                    via: None,
                    rule_id: None,
                    selector: None,
                    event: Some(ev.clone()),
                    matched: Vec::new(),
                });
                continue;
            }
            let rule_id = ev.rule.id.as_ref().map(|r| r.to_string());
            let selectors = texts(ev, "vigil.correlation.base_event_selectors");
            let bulids: Vec<vigil_event::Ulid> = base_ids
                .iter()
                .filter_map(|i| vigil_event::Ulid::from_string(i).ok())
                .collect();
            let bases = find_events(&*store, tenant, &bulids)?;
            let inner = self.inner.lock();
            for (i, bid) in base_ids.iter().enumerate() {
                let selector = selectors.get(i).cloned().unwrap_or_default();
                let event = bases
                    .iter()
                    .find(|e| e.meta.id.to_string() == *bid)
                    .cloned();
                let matched = match (&rule_id, &event) {
                    (Some(r), Some(e)) => inner
                        .engine
                        .explain_selector(r, &selector, e)
                        .unwrap_or_default(),
                    _ => Vec::new(),
                };
                out.push(AlertMatch {
                    id: bid.clone(),
                    via: Some(id.clone()),
                    rule_id: rule_id.clone(),
                    selector: (!selector.is_empty()).then_some(selector),
                    event,
                    matched,
                });
            }
        }
        // Sigma: the alert events naming these base events carry what matched
        for chunk in sigma_bases.chunks(50) {
            let list = chunk
                .iter()
                .map(|(_, u, _)| u.to_string())
                .collect::<Vec<_>>()
                .join(", ");
            let q = format!("vigil.type:correlation AND vigil.detection.event_id in ({list})");
            let mut req = vigil_store::SearchRequest::parse(&q, chunk.len() * 4)?;
            let ms = chunk.iter().map(|(_, _, t)| *t);
            let (lo, hi) = ms.fold((i64::MAX, i64::MIN), |(lo, hi), m| (lo.min(m), hi.max(m)));
            // an alert event is stored with its trigger's event time (ids carry the time of
            // intake, not the event's)
            req.range = vigil_store::TimeRange::new(
                vigil_event::Timestamp::from_millis(lo.saturating_sub(3_600_000)),
                vigil_event::Timestamp::from_millis(hi.saturating_add(3_600_000)),
            );
            for a in store.search(tenant, &req)?.events {
                let Some(base) = values(&a, "vigil.detection.event_id").into_iter().next() else {
                    continue;
                };
                let Some(&(i, _, _)) = chunk.iter().find(|(_, u, _)| u.to_string() == base) else {
                    continue;
                };
                let m = &mut out[i];
                if m.rule_id.is_some() {
                    continue; // one rule's explanation per base event
                }
                m.rule_id = a.rule.id.as_ref().map(|r| r.to_string());
                m.via = Some(a.meta.id.to_string());
                m.matched = values(&a, "vigil.detection.matched")
                    .into_iter()
                    .filter_map(|fv| {
                        let (f, v) = fv.split_once('=')?;
                        Some(((f != "<keyword>").then(|| f.to_owned()), v.to_owned()))
                    })
                    .collect();
            }
        }
        Ok(out)
    }

    /// The lists and tables.
    pub fn lists(&self) -> Vec<ListInfo> {
        let g = self.inner.lock();
        let stores = g.engine.stores();
        stores
            .defs()
            .iter()
            .enumerate()
            .map(|(i, d)| ListInfo {
                name: d.name.clone(),
                kind: d.kind.as_str(),
                description: d.description.clone(),
                key: d.key.clone(),
                columns: d
                    .columns
                    .iter()
                    .map(|(c, t)| {
                        let t = serde_json::to_value(t)
                            .ok()
                            .and_then(|v| v.as_str().map(str::to_owned))
                            .unwrap_or_default();
                        (c.clone(), t)
                    })
                    .collect(),
                ttl_seconds: d.ttl_ns.map(|n| n / 1_000_000_000),
                max_entries: d.max_entries,
                scope: if d.scope == vigil_correlate::raw::Scope::Shared {
                    "shared"
                } else {
                    "tenant"
                },
                stats: stores.stats(i).clone(),
            })
            .collect()
    }

    fn index(&self, g: &Inner, list: &str) -> Result<usize, ListError> {
        g.engine
            .stores()
            .index(list)
            .ok_or_else(|| vigil_correlate::StoreError::Unknown(list.to_owned()).into())
    }

    fn key(&self, g: &Inner, store: usize, key: &[String]) -> Result<Vec<SmolStr>, ListError> {
        let def = &g.engine.stores().defs()[store];
        if key.len() != def.key.len() {
            return Err(vigil_correlate::StoreError::KeyArity {
                store: def.name.clone(),
                want: def.key.len(),
                got: key.len(),
            }
            .into());
        }
        Ok(key.iter().map(SmolStr::new).collect())
    }

    /// Whether a list is shared (one instance for all tenants).
    pub fn is_shared(&self, list: &str) -> Result<bool, ListError> {
        let g = self.inner.lock();
        let i = self.index(&g, list)?;
        Ok(g.engine.stores().defs()[i].scope == vigil_correlate::raw::Scope::Shared)
    }

    /// The live entries of one instance, sorted by key.
    pub fn entries(
        &self,
        list: &str,
        tenant: &str,
    ) -> Result<Vec<(Vec<SmolStr>, vigil_correlate::Entry)>, ListError> {
        let g = self.inner.lock();
        let i = self.index(&g, list)?;
        let now = list_now(&g.engine);
        Ok(g.engine
            .stores()
            .entries(i, tenant)
            .into_iter()
            .filter(|(_, e)| e.expires.is_none_or(|x| x >= now))
            .collect())
    }

    /// One entry by its key values.
    pub fn get(
        &self,
        list: &str,
        tenant: &str,
        key: &[String],
    ) -> Result<Option<vigil_correlate::Entry>, ListError> {
        let g = self.inner.lock();
        let i = self.index(&g, list)?;
        let k = self.key(&g, i, key)?;
        let now = list_now(&g.engine);
        Ok(g.engine.stores().get(i, tenant, &k, now).cloned())
    }

    /// Writes an entry (replacing it), with the list's TTL or `ttl_seconds`. Key columns given
    /// in `values` are ignored (the key is the path's).
    pub fn put(
        &self,
        list: &str,
        tenant: &str,
        key: &[String],
        values: std::collections::BTreeMap<String, vigil_event::Value>,
        ttl_seconds: Option<i64>,
    ) -> Result<vigil_correlate::Entry, ListError> {
        if ttl_seconds.is_some_and(|t| t <= 0) {
            return Err(ListError::Invalid("ttl_seconds: must be positive".into()));
        }
        let mut g = self.inner.lock();
        let i = self.index(&g, list)?;
        let k = self.key(&g, i, key)?;
        let def = g.engine.stores().defs()[i].clone();
        let mut values = values;
        for (col, v) in def.key.iter().zip(&k) {
            values.insert(col.clone(), vigil_event::Value::Str(v.clone()));
        }
        if def.kind == vigil_correlate::StoreKind::ContextTable {
            // every value checked before anything is written
            for (c, v) in &values {
                match def.columns.get(c) {
                    None => {
                        return Err(ListError::Invalid(format!(
                            "values.{c}: '{list}' has no such column"
                        )));
                    }
                    Some(ty) if vigil_correlate::store::convert(v, *ty).is_none() => {
                        return Err(ListError::Invalid(format!(
                            "values.{c}: {} is not a {ty:?}",
                            vigil_correlate::store::value_text(v)
                        )));
                    }
                    Some(_) => {}
                }
            }
        }
        let now = list_now(&g.engine);
        let before = g.engine.stores().stats(i).type_errors;
        let written = g.engine.stores_mut().write(
            i,
            tenant,
            &k,
            values,
            false,
            ttl_seconds.map(|s| s.saturating_mul(1_000_000_000)),
            now,
        );
        if !written {
            return Err(vigil_correlate::StoreError::Full(list.to_owned()).into());
        }
        let type_errors = g.engine.stores().stats(i).type_errors - before;
        let entry = g.engine.stores().get(i, tenant, &k, now).cloned();
        g.save();
        match entry {
            Some(e) if type_errors == 0 => Ok(e),
            Some(_) => Err(ListError::Invalid(format!(
                "{type_errors} value(s) did not convert to their column's type and were left unset"
            ))),
            None => Err(ListError::Invalid("the entry expired at once".into())),
        }
    }

    /// Deletes an entry; false when there was none.
    pub fn delete(&self, list: &str, tenant: &str, key: &[String]) -> Result<bool, ListError> {
        let mut g = self.inner.lock();
        let i = self.index(&g, list)?;
        let k = self.key(&g, i, key)?;
        let done = g.engine.stores_mut().delete(i, tenant, &k);
        if done {
            g.save();
        }
        Ok(done)
    }

    /// One instance as CSV (key columns, other columns, `_expires`).
    pub fn export_csv(&self, list: &str, tenant: &str) -> Result<String, ListError> {
        let g = self.inner.lock();
        let i = self.index(&g, list)?;
        Ok(g.engine.stores().export_csv(i, tenant)?)
    }

    /// Imports CSV into one instance: all rows or, on any problem, none (every problem with
    /// its line). Returns the entries written.
    pub fn import_csv(&self, list: &str, tenant: &str, text: &str) -> Result<usize, ListError> {
        let mut g = self.inner.lock();
        let i = self.index(&g, list)?;
        let now = list_now(&g.engine);
        let n = g.engine.stores_mut().import_csv(i, tenant, text, now)?;
        g.save();
        Ok(n)
    }
}

/// Events of `tenant` by id: each id's time (ULIDs carry their event's millisecond) narrows
/// the scan, with a second pass over all time for ids not found there.
fn find_events(
    store: &dyn EventStore,
    tenant: &TenantId,
    ids: &[vigil_event::Ulid],
) -> Result<Vec<Event>, vigil_store::StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut out: Vec<Event> = Vec::new();
    for chunk in ids.chunks(50) {
        let list = chunk
            .iter()
            .map(|u| u.to_string())
            .collect::<Vec<_>>()
            .join(", ");
        let q = format!("vigil.event_id in ({list})");
        let ms: Vec<i64> = chunk
            .iter()
            .map(|u| i64::try_from(u.timestamp_ms()).unwrap_or(0))
            .collect();
        let lo = ms.iter().min().copied().unwrap_or(0);
        let hi = ms.iter().max().copied().unwrap_or(0);
        let hour = 3_600_000;
        let mut req = vigil_store::SearchRequest::parse(&q, chunk.len() * 2)?;
        req.range = vigil_store::TimeRange::new(
            vigil_event::Timestamp::from_millis(lo.saturating_sub(hour)),
            vigil_event::Timestamp::from_millis(hi.saturating_add(hour)),
        );
        let mut got = store.search(tenant, &req)?.events;
        if got.len() < chunk.len() {
            req.range = vigil_store::TimeRange::ALL;
            got = store.search(tenant, &req)?.events;
        }
        out.extend(got);
    }
    Ok(out)
}

/// For `POST /api/v1/correlation/retroscan` (see [`crate::retroscan`]).
impl CorrelationHandle {
    /// The event store the correlator writes to, and the rules it runs now: a retroscan on a
    /// running instance reads that store and diffs against those rules, on engines of its own
    /// (the live engine's state is not touched).
    pub fn retroscan_inputs(&self) -> (Arc<dyn EventStore>, Arc<Rules>) {
        let g = self.inner.lock();
        (g.store.clone(), g.engine.shared_rules())
    }
}

#[cfg(test)]
mod tests {
    //! The pipeline retries a failed write with the same batch: the destination must end with
    //! exactly the correlation events of one successful write; a restart restores the buckets.
    //! The store that fails is the real embedded store behind a wrapper refusing chosen appends.

    use std::sync::atomic::AtomicUsize;

    use vigil_event::{Timestamp, Value};
    use vigil_store::SearchRequest;
    use vigil_store::embedded::{EmbeddedConfig, EmbeddedStore};

    use super::*;

    const RULE: &str = r#"
id: ssh-guessing
name: SSH guessing
kind: standard
severity: high
window: 60s
lateness: 0s
group_by: [source.ip]
selectors:
  - name: failure
    query: 'event.action:ssh_login AND event.outcome:failure'
    threshold: 3
"#;

    /// The embedded store refusing chosen appends, shared with the detection tests.
    use crate::detection::retry_tests::FlakyStore;

    fn failure(tenant: &str, second: i64, ip: &str) -> Event {
        let mut e = Event::new(vigil_event::Bytes::from(format!("failure from {ip}")));
        e.meta.tenant = SmolStr::new(tenant);
        e.timestamp = Timestamp::from_millis(1_795_000_000_000 + second * 1000);
        for (f, v) in [
            ("event.action", "ssh_login"),
            ("event.outcome", "failure"),
            ("source.ip", ip),
        ] {
            e.set(f, Value::from(v)).expect("a field");
        }
        e
    }

    fn config() -> CorrelationConfig {
        CorrelationConfig {
            rules: Vec::new(),
            idle_after: Duration::from_secs(3600),
            snapshot_interval: Duration::from_secs(3600),
        }
    }

    fn rules() -> Rules {
        let mut loader = Loader::new();
        loader.add_str(Path::new("ssh.yaml"), RULE);
        let (rules, problems) = loader.finish();
        assert!(problems.is_empty(), "{problems:?}");
        rules
    }

    fn destination(
        store: Arc<dyn EventStore>,
        dir: &Path,
        sunk: Arc<Mutex<Vec<String>>>,
    ) -> CorrelationDestination {
        let sink: AlertSink = Box::new(move |alerts: &[Event]| {
            sunk.lock().extend(
                alerts
                    .iter()
                    .map(|a| format!("{}:{}", a.meta.tenant, a.rule.id.as_deref().unwrap_or(""))),
            );
        });
        CorrelationDestination::new(
            rules(),
            &config(),
            store,
            ComponentMetrics::detached("destination", "correlation"),
            Some(dir),
            Some(sink),
        )
        .expect("destination")
    }

    fn stored(store: &dyn EventStore, tenant: &str) -> Vec<String> {
        let t = TenantId::new(tenant).expect("tenant");
        let r = store
            .search(
                &t,
                &SearchRequest::parse("vigil.type:correlation", 1000).expect("query"),
            )
            .expect("search");
        let mut out: Vec<String> = r
            .events
            .iter()
            .map(|e| format!("{:?}", e.source.ip))
            .collect();
        out.sort();
        out
    }

    /// Correlation events stored per tenant and alerts sunk, for appends `refuse` refused.
    fn run(refuse: Vec<usize>) -> (Vec<String>, Vec<String>, Vec<String>) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Arc::new(FlakyStore {
            inner: EmbeddedStore::open(EmbeddedConfig::new(dir.path())).expect("store opens"),
            refuse,
            calls: AtomicUsize::new(0),
        });
        let sunk = Arc::new(Mutex::new(Vec::new()));
        let mut dest = destination(store.clone(), dir.path(), sunk.clone());
        let mut first = Vec::new();
        for s in 0..3 {
            first.push(failure("main", s, "203.0.113.45"));
            first.push(failure("acme", s, "198.51.100.7"));
        }
        // two failures: below the threshold, unless a retry counted them twice
        first.push(failure("main", 4, "192.0.2.77"));
        first.push(failure("main", 5, "192.0.2.77"));
        let second = vec![
            failure("main", 10, "203.0.113.45"),
            failure("main", 11, "198.51.100.9"),
            failure("main", 12, "198.51.100.9"),
            failure("main", 13, "198.51.100.9"),
        ];
        for batch in [first, second] {
            let mut attempts = 0;
            while dest.write(&batch).is_err() {
                attempts += 1;
                assert!(attempts < 20, "the write never succeeded");
            }
        }
        dest.flush().expect("flush");
        let mut sunk = sunk.lock().clone();
        sunk.sort();
        (stored(&*store, "main"), stored(&*store, "acme"), sunk)
    }

    #[test]
    fn retried_batch_stores_the_correlation_events_of_one_write() {
        let expected = run(Vec::new());
        assert_eq!(expected.0.len(), 2, "{expected:?}");
        assert_eq!(expected.1.len(), 1, "{expected:?}");
        assert_eq!(expected.2.len(), 3, "{expected:?}");
        for refuse in [vec![1], vec![1, 2, 3], vec![2, 3, 4]] {
            assert_eq!(run(refuse.clone()), expected, "appends {refuse:?} refused");
        }
    }

    #[test]
    fn an_idle_input_moves_the_watermark_on() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store: Arc<dyn EventStore> =
            Arc::new(EmbeddedStore::open(EmbeddedConfig::new(dir.path())).expect("store opens"));
        let sunk = Arc::new(Mutex::new(Vec::new()));
        let mut loader = Loader::new();
        loader.add_str(
            Path::new("ssh.yaml"),
            &RULE.replace("lateness: 0s", "lateness: 30s"),
        );
        let (rules, problems) = loader.finish();
        assert!(problems.is_empty(), "{problems:?}");
        let s = sunk.clone();
        let sink: AlertSink = Box::new(move |a: &[Event]| s.lock().push(a.len()));
        let mut dest = CorrelationDestination::new(
            rules,
            &config(),
            store.clone(),
            ComponentMetrics::detached("destination", "correlation"),
            None,
            Some(sink),
        )
        .expect("destination");
        let batch: Vec<Event> = (0..3).map(|s| failure("main", s, "192.0.2.5")).collect();
        dest.write(&batch).expect("write");
        // the facts wait for the watermark (newest event - 30 s lateness): nothing yet
        assert!(stored(&*store, "main").is_empty());
        {
            let mut g = dest.inner.lock();
            g.idle_after = Duration::from_secs(1);
            g.last_batch = Instant::now()
                .checked_sub(Duration::from_secs(60))
                .expect("an instant a minute ago");
            g.tick();
        }
        assert_eq!(stored(&*store, "main").len(), 1);
        assert_eq!(*sunk.lock(), vec![1]);
        dest.flush().expect("flush");
    }

    #[test]
    fn a_restart_restores_the_open_buckets() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store: Arc<dyn EventStore> =
            Arc::new(EmbeddedStore::open(EmbeddedConfig::new(dir.path())).expect("store opens"));
        let sunk = Arc::new(Mutex::new(Vec::new()));
        let mut dest = destination(store.clone(), dir.path(), sunk.clone());
        dest.write(&[
            failure("main", 0, "192.0.2.1"),
            failure("main", 1, "192.0.2.1"),
        ])
        .expect("write");
        dest.flush().expect("flush");
        drop(dest);
        assert!(dir.path().join("correlation-engine.state").is_file());
        let mut dest = destination(store.clone(), dir.path(), sunk.clone());
        dest.write(&[failure("main", 2, "192.0.2.1")])
            .expect("write");
        dest.flush().expect("flush");
        assert_eq!(stored(&*store, "main").len(), 1);
        assert_eq!(*sunk.lock(), vec!["main:ssh-guessing".to_owned()]);
    }
    const TWO_RULES: &str = r#"
rules:
  - id: kept
    name: Kept
    kind: standard
    severity: high
    window: 60s
    lateness: 0s
    group_by: [source.ip]
    selectors:
      - name: failure
        query: 'event.action:ssh_login AND event.outcome:failure'
        threshold: 3
  - id: changed
    name: Changed
    kind: standard
    severity: high
    window: 60s
    lateness: 0s
    group_by: [source.ip]
    selectors:
      - name: failure
        query: 'event.action:ssh_login AND event.outcome:failure'
        threshold: 3
active_lists:
  - name: watched
    key: [ip]
"#;

    /// A destination on rule files in `dir` (memory-only state), with the alerts it raised.
    fn on_files(
        dir: &Path,
        store: Arc<dyn EventStore>,
    ) -> (CorrelationDestination, Arc<Mutex<Vec<String>>>) {
        let cfg = CorrelationConfig {
            rules: vec![dir.join("rules")],
            ..config()
        };
        let (rules, problems) = load_rules(&cfg);
        assert!(problems.is_empty(), "{problems:?}");
        let sunk = Arc::new(Mutex::new(Vec::new()));
        let s = sunk.clone();
        let sink: AlertSink = Box::new(move |alerts: &[Event]| {
            s.lock().extend(
                alerts
                    .iter()
                    .map(|a| a.rule.id.as_deref().unwrap_or("").to_owned()),
            );
        });
        let dest = CorrelationDestination::new(
            rules,
            &cfg,
            store,
            ComponentMetrics::detached("destination", "correlation"),
            None,
            Some(sink),
        )
        .expect("destination");
        (dest, sunk)
    }

    #[test]
    fn a_changed_rule_file_reloads_keeping_the_state_of_unchanged_rules() {
        let dir = tempfile::tempdir().expect("tempdir");
        let rules_dir = dir.path().join("rules");
        std::fs::create_dir_all(&rules_dir).expect("dir");
        let file = rules_dir.join("pack.yaml");
        std::fs::write(&file, TWO_RULES).expect("write");
        let store: Arc<dyn EventStore> =
            Arc::new(EmbeddedStore::open(EmbeddedConfig::new(dir.path())).expect("store opens"));
        let (mut dest, sunk) = on_files(dir.path(), store);
        let h = dest.handle();
        h.put(
            "watched",
            "main",
            &["192.0.2.9".into()],
            Default::default(),
            None,
        )
        .expect("put");
        // two failures each: both rules hold a bucket at 2 of 3
        dest.write(&[
            failure("main", 0, "192.0.2.1"),
            failure("main", 1, "192.0.2.1"),
        ])
        .expect("write");
        assert_eq!(h.rule_report("changed").expect("rule").groups, 1);
        // `changed` gets a new threshold (its logic changes); `kept` stays as it was
        std::fs::write(
            &file,
            TWO_RULES.replace(
                "id: changed\n    name: Changed",
                "id: changed\n    name: Changed\n    version: 2",
            ),
        )
        .expect("rewrite");
        // the watcher polls: made due now, as RELOAD_POLL would after two seconds
        {
            let mut g = dest.inner.lock();
            g.last_poll = Instant::now()
                .checked_sub(RELOAD_POLL * 2)
                .expect("an instant before");
            g.poll_rules();
        }
        let kept = h.rule_report("kept").expect("kept");
        let changed = h.rule_report("changed").expect("changed");
        assert_eq!((kept.groups, kept.version), (1, 1), "{kept:?}");
        assert_eq!((changed.groups, changed.version), (0, 2), "{changed:?}");
        // the third failure fires the rule that kept its bucket, not the one started clean
        dest.write(&[failure("main", 2, "192.0.2.1")])
            .expect("write");
        assert_eq!(*sunk.lock(), vec!["kept".to_owned()]);
        // the lists survive a reload
        assert!(
            h.get("watched", "main", &["192.0.2.9".into()])
                .expect("get")
                .is_some()
        );
        // an explicit reload of unchanged files keeps everything
        let r = h.reload();
        assert_eq!((r.rules, r.kept, r.restarted), (2, 2, 0), "{r:?}");
        assert!(r.problems.is_empty());
        dest.flush().expect("flush");
    }

    #[test]
    fn a_rule_file_that_breaks_is_reported_and_the_other_rules_run_on() {
        let dir = tempfile::tempdir().expect("tempdir");
        let rules_dir = dir.path().join("rules");
        std::fs::create_dir_all(&rules_dir).expect("dir");
        std::fs::write(rules_dir.join("pack.yaml"), TWO_RULES).expect("write");
        let store: Arc<dyn EventStore> =
            Arc::new(EmbeddedStore::open(EmbeddedConfig::new(dir.path())).expect("store opens"));
        let (mut dest, _) = on_files(dir.path(), store);
        std::fs::write(
            rules_dir.join("bad.yaml"),
            "id: bad\nkind: standard\nwindow: soon\n",
        )
        .expect("write");
        let r = dest.handle().reload();
        assert_eq!((r.rules, r.kept), (2, 2), "{r:?}");
        assert!(
            r.problems.iter().any(|p| p.contains("bad.yaml")),
            "{:?}",
            r.problems
        );
        dest.flush().expect("flush");
    }

    #[test]
    fn lists_through_the_handle_are_per_tenant_and_round_trip_csv() {
        let dir = tempfile::tempdir().expect("tempdir");
        let rules_dir = dir.path().join("rules");
        std::fs::create_dir_all(&rules_dir).expect("dir");
        std::fs::write(rules_dir.join("pack.yaml"), TWO_RULES).expect("write");
        let store: Arc<dyn EventStore> =
            Arc::new(EmbeddedStore::open(EmbeddedConfig::new(dir.path())).expect("store opens"));
        let (mut dest, _) = on_files(dir.path(), store);
        let h = dest.handle();
        let mut values = std::collections::BTreeMap::new();
        values.insert("reason".to_owned(), vigil_event::Value::from("scanner"));
        let e = h
            .put("watched", "main", &["203.0.113.5".into()], values, Some(60))
            .expect("put");
        assert!(e.expires.is_some());
        assert_eq!(h.entries("watched", "main").expect("entries").len(), 1);
        assert!(h.entries("watched", "acme").expect("entries").is_empty());
        let csv = h.export_csv("watched", "main").expect("export");
        assert!(
            csv.starts_with("ip,reason,_expires\n203.0.113.5,scanner,"),
            "{csv}"
        );
        assert_eq!(h.import_csv("watched", "acme", &csv).expect("import"), 1);
        assert_eq!(h.entries("watched", "acme").expect("entries").len(), 1);
        // a bad import writes nothing and says where
        let err = h
            .import_csv("watched", "acme", "reason\nx\n")
            .expect_err("no key column");
        assert!(err.to_string().contains("line 1"), "{err}");
        assert!(
            h.delete("watched", "main", &["203.0.113.5".into()])
                .expect("delete")
        );
        assert!(
            !h.delete("watched", "main", &["203.0.113.5".into()])
                .expect("delete")
        );
        assert!(matches!(
            h.get("nope", "main", &["x".into()]),
            Err(ListError::Store(vigil_correlate::StoreError::Unknown(_)))
        ));
        assert!(matches!(
            h.get("watched", "main", &["a".into(), "b".into()]),
            Err(ListError::Store(
                vigil_correlate::StoreError::KeyArity { .. }
            ))
        ));
        dest.flush().expect("flush");
    }

    #[test]
    fn a_correlation_event_is_explained_by_its_stored_base_events() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store: Arc<dyn EventStore> =
            Arc::new(EmbeddedStore::open(EmbeddedConfig::new(dir.path())).expect("store opens"));
        let sunk = Arc::new(Mutex::new(Vec::new()));
        let mut dest = destination(store.clone(), dir.path(), sunk);
        let batch: Vec<Event> = (0..3).map(|s| failure("main", s, "192.0.2.7")).collect();
        // the base events are stored (the storage destination's job in `vigil up`)
        let main = TenantId::new("main").expect("tenant");
        store.append(&main, &batch).expect("append");
        dest.write(&batch).expect("write");
        dest.flush().expect("flush");
        store.flush(&main).expect("flush store");
        let r = store
            .search(
                &main,
                &SearchRequest::parse("vigil.type:correlation", 10).expect("query"),
            )
            .expect("search");
        assert_eq!(r.events.len(), 1);
        let id = r.events[0].meta.id.to_string();
        let h = dest.handle();
        let x = h
            .explain_event(&main, &id)
            .expect("explain")
            .expect("found");
        assert_eq!(x.base_count, 3);
        let ids: Vec<String> = batch.iter().map(|e| e.meta.id.to_string()).collect();
        assert_eq!(x.base.iter().map(|b| b.id.clone()).collect::<Vec<_>>(), ids);
        assert!(
            x.base
                .iter()
                .all(|b| b.selector == "failure" && b.event.is_some())
        );
        // another tenant does not see it; a base event is not a correlation event
        let acme = TenantId::new("acme").expect("tenant");
        assert!(h.explain_event(&acme, &id).expect("explain").is_none());
        assert!(h.explain_event(&main, &ids[0]).expect("explain").is_none());
        assert!(
            h.explain_event(&main, "not-an-id")
                .expect("explain")
                .is_none()
        );
    }
}
