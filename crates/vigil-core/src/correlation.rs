//! The stateful correlator as a destination of `vigil up`: every normalized event batch goes
//! through one [`vigil_correlate::Engine`] (KUMA-style rules of `rules/correlation/`, see
//! `docs/correlation.md`). The correlation events it outputs are stored in their tenant, like
//! the Sigma detection destination's alerts (`vigil search 'vigil.type:correlation'`), and the
//! ones whose rule raises an alert are handed to the alert sink (the core's alert pipeline).
//!
//! # Time
//! Rules run on event time; the engine's watermark follows the newest event minus each rule's
//! lateness. When no batch has arrived for `idle_after`, a ticker moves the watermark on with
//! the wall clock (newest event time plus the time since the last batch), so window ends and
//! absences are decided on an idle input too. Event times further than
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
        if p.is_dir() {
            loader.add_dir(p);
        } else {
            loader.add_file(p);
        }
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

    /// On an idle input, moves the watermark on with the wall clock and stores what fires.
    fn tick(&mut self) {
        let idle = self.last_batch.elapsed();
        if self.unwritten.is_some() || idle < self.idle_after {
            let _ = self.store_ticked();
            return;
        }
        let newest = self.engine.max_event_time();
        if newest != i64::MIN {
            let wm = newest.saturating_add(i64::try_from(idle.as_nanos()).unwrap_or(i64::MAX));
            let outputs = self.engine.advance_watermark(wm);
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
}

impl Drop for CorrelationDestination {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

impl Destination for CorrelationDestination {
    fn write(&mut self, events: &[Event]) -> Result<(), ComponentError> {
        let mut g = self.inner.lock();
        g.last_batch = Instant::now();
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
}

/// A handle on the running correlator, for the rules API: the rules in force with their
/// counters, and a reload that keeps the state of unchanged rules.
#[derive(Clone)]
pub struct CorrelationHandle {
    inner: Arc<Mutex<Inner>>,
    cfg: CorrelationConfig,
}

impl std::fmt::Debug for CorrelationHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CorrelationHandle")
            .field("rules", &self.cfg.rules)
            .finish_non_exhaustive()
    }
}

impl CorrelationDestination {
    /// A handle for the rules API; `cfg` is what [`CorrelationHandle::reload`] loads.
    pub fn handle(&self, cfg: &CorrelationConfig) -> CorrelationHandle {
        CorrelationHandle {
            inner: self.inner.clone(),
            cfg: cfg.clone(),
        }
    }
}

impl CorrelationHandle {
    /// The configuration the rules are loaded from.
    pub fn config(&self) -> &CorrelationConfig {
        &self.cfg
    }

    /// The rules in force, with each one's report (counters, state).
    pub fn rules(
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

    /// Loads the rule files again without the `disabled` ids and puts them in force now,
    /// carrying the state of unchanged rules; returns the problems of rules that did not load.
    pub fn reload(&self, disabled: &std::collections::HashSet<String>) -> Vec<String> {
        let (rules, problems) = load_rules_without(&self.cfg, disabled);
        let mut inner = self.inner.lock();
        let n = rules.rules.len();
        let (next, report) = inner.engine.reload(rules);
        inner.engine = next;
        inner
            .metrics
            .gauge("rules_loaded")
            .store(n as i64, Ordering::Relaxed);
        tracing::info!(rules = n, problems = problems.len(), restored = ?report, "correlation rules reloaded");
        problems
    }
}
