//! Monitoring policies over the tracked sources (KUMA's source monitoring).
//!
//! A policy counts a source's events over a sliding `interval`: `by_count` compares the count,
//! `by_eps` the count divided by the interval's seconds, with the lower bound and the optional
//! upper bound; `silent_after_secs` marks a source that sent nothing for that long. The
//! [`Evaluator`] samples each watched source's event total every `interval / 6` (at least
//! every second), so the count over the last interval is the total now minus the sample taken
//! one interval ago: a source that stops is caught at most a sixth of an interval after its
//! last full interval ended. The lower bound is judged only over a full interval (a source
//! watched for less than one is not "too quiet" yet); the upper bound and silence at once.
//!
//! A violation raises once when it starts (a monitoring event and alert); while it lasts
//! nothing more is raised; when it ends the source is healthy again and the next violation
//! raises again (folding into the same alert while that alert is open).
//!
//! Which sources a policy watches: its tenant's (every tenant's for a policy of the Shared
//! tenant), those whose id, collector, host name or address equals an entry of `sources`,
//! or whose id starts with an entry ending in `*`; all host sources when `sources` is empty.
//! An entry naming no known source (a plain name, no `*`) is watched as a source that has not
//! sent anything since the policy was loaded, so a source that never connects is caught too.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use parking_lot::Mutex;
use vigil_event::{Event, EventType};

use super::SourceKind;
use super::tracker::{LiveSource, SourceTracker};
use crate::alerts::{AlertService, RuleDetection};
use crate::model::{MonitoringKind, MonitoringPolicy};
use crate::scope::{TenantId, TenantScope};
use crate::store::MetaStore;

/// Samples per interval.
const HOPS: i64 = 6;

/// Why a source violates a policy.
#[derive(Debug, Clone, PartialEq)]
pub enum Breach {
    /// No event for this many seconds.
    Silent {
        /// Seconds since the last event (or since watching started).
        secs: u64,
    },
    /// Fewer events (or EPS) than the lower bound over the interval.
    Below {
        /// The measured count or EPS.
        value: f64,
    },
    /// More than the upper bound.
    Above {
        /// The measured count or EPS.
        value: f64,
    },
}

impl Breach {
    /// `silent`, `below` or `above`.
    pub fn kind(&self) -> &'static str {
        match self {
            Breach::Silent { .. } => "silent",
            Breach::Below { .. } => "below",
            Breach::Above { .. } => "above",
        }
    }
}

/// A violation that started.
#[derive(Debug, Clone, PartialEq)]
pub struct Violation {
    /// The policy.
    pub policy: MonitoringPolicy,
    /// The source's tenant.
    pub tenant: TenantId,
    /// The source id.
    pub source: String,
    /// The source's host name, when it has one.
    pub host: Option<String>,
    /// The source's last address.
    pub ip: Option<String>,
    /// What is wrong.
    pub breach: Breach,
    /// When it was found (Unix ms).
    pub at_ms: i64,
}

impl Violation {
    /// One line for the monitoring event and the log.
    pub fn message(&self) -> String {
        let p = &self.policy;
        let unit = match p.kind {
            MonitoringKind::ByCount => "events",
            MonitoringKind::ByEps => "events/s",
        };
        match &self.breach {
            Breach::Silent { secs } => format!(
                "source {} sent no event for {secs} s (policy {}: silent after {} s)",
                self.source,
                p.name,
                p.silent_after_secs.unwrap_or(0)
            ),
            Breach::Below { value } => format!(
                "source {} sent {value:.2} {unit} over {} s, below {} (policy {})",
                self.source, p.interval_secs, p.lower, p.name
            ),
            Breach::Above { value } => format!(
                "source {} sent {value:.2} {unit} over {} s, above {} (policy {})",
                self.source,
                p.interval_secs,
                p.upper.unwrap_or(0.0),
                p.name
            ),
        }
    }
}

#[derive(Debug)]
struct Watch {
    started_ms: i64,
    samples: VecDeque<(i64, u64)>,
    breach: Option<&'static str>,
    seen: u64,
}

/// The policy state machine: pure, driven by the caller's clock.
#[derive(Debug, Default)]
pub struct Evaluator {
    watches: HashMap<(String, TenantId, String), Watch>,
    round: u64,
}

fn applies(policy: &MonitoringPolicy, s: &LiveSource) -> bool {
    if policy.tenant != s.tenant && policy.tenant != TenantId::shared() {
        return false;
    }
    if policy.sources.is_empty() {
        return s.kind == SourceKind::Host;
    }
    policy.sources.iter().any(|e| matches_entry(e, s))
}

fn matches_entry(entry: &str, s: &LiveSource) -> bool {
    if let Some(prefix) = entry.strip_suffix('*') {
        return s.id.starts_with(prefix);
    }
    entry == s.id
        || (s.kind == SourceKind::Collector && entry == s.collector)
        || s.host
            .as_deref()
            .is_some_and(|h| h.eq_ignore_ascii_case(entry))
        || s.ip.as_deref() == Some(entry)
}

impl Evaluator {
    /// A new evaluator (nothing watched yet).
    pub fn new() -> Evaluator {
        Evaluator::default()
    }

    /// Applies the enabled `policies` to `sources` at `now_ms`; returns the violations that
    /// started.
    pub fn evaluate(
        &mut self,
        policies: &[MonitoringPolicy],
        sources: &[LiveSource],
        now_ms: i64,
    ) -> Vec<Violation> {
        self.round += 1;
        let round = self.round;
        let mut out = Vec::new();
        for p in policies.iter().filter(|p| p.enabled) {
            let mut watched: Vec<LiveSource> =
                sources.iter().filter(|s| applies(p, s)).cloned().collect();
            // entries that name no source: watched as silent since the policy was loaded
            for e in &p.sources {
                if e.ends_with('*')
                    || sources
                        .iter()
                        .any(|s| s.tenant == p.tenant && matches_entry(e, s))
                {
                    continue;
                }
                if p.tenant == TenantId::shared() {
                    continue;
                }
                watched.push(LiveSource {
                    tenant: p.tenant.clone(),
                    id: e.clone(),
                    kind: SourceKind::Host,
                    collector: String::new(),
                    host: None,
                    ip: None,
                    first_seen_ms: now_ms,
                    last_event_ms: None,
                    events_total: 0,
                    parse_errors_total: 0,
                    drops_total: 0,
                    eps_now: 0.0,
                });
            }
            for s in watched {
                if let Some(v) = self.check(p, &s, now_ms, round) {
                    out.push(v);
                }
            }
        }
        // forget watches of deleted policies and vanished sources
        self.watches.retain(|_, w| w.seen == round);
        out
    }

    fn check(
        &mut self,
        p: &MonitoringPolicy,
        s: &LiveSource,
        now_ms: i64,
        round: u64,
    ) -> Option<Violation> {
        let interval_ms = i64::try_from(p.interval_secs.max(1))
            .unwrap_or(i64::MAX / 2000)
            .saturating_mul(1000);
        let hop = (interval_ms / HOPS).max(1000);
        let w = self
            .watches
            .entry((p.id.clone(), s.tenant.clone(), s.id.clone()))
            .or_insert_with(|| Watch {
                started_ms: now_ms,
                samples: VecDeque::from([(now_ms, s.events_total)]),
                breach: None,
                seen: round,
            });
        w.seen = round;
        if w.samples.back().is_none_or(|(t, _)| now_ms - t >= hop) {
            w.samples.push_back((now_ms, s.events_total));
        }
        // keep one sample at or before the window's start
        while w.samples.len() > 1
            && w.samples
                .get(1)
                .is_some_and(|(t, _)| *t <= now_ms - interval_ms)
        {
            w.samples.pop_front();
        }
        let (t0, n0) = w
            .samples
            .front()
            .copied()
            .unwrap_or((now_ms, s.events_total));
        let count = s.events_total.saturating_sub(n0) as f64;
        let full = now_ms - t0 >= interval_ms;
        let value = match p.kind {
            MonitoringKind::ByCount => count,
            MonitoringKind::ByEps => count / (interval_ms as f64 / 1000.0),
        };
        let last = s.last_event_ms.unwrap_or(w.started_ms);
        let breach = if let Some(after) = p.silent_after_secs
            && now_ms.saturating_sub(last)
                > i64::try_from(after)
                    .unwrap_or(i64::MAX)
                    .saturating_mul(1000)
        {
            Some(Breach::Silent {
                secs: u64::try_from((now_ms - last) / 1000).unwrap_or(0),
            })
        } else if full && value < p.lower {
            Some(Breach::Below { value })
        } else if let Some(u) = p.upper
            && value > u
            && (full || p.kind == MonitoringKind::ByCount)
        {
            Some(Breach::Above { value })
        } else {
            None
        };
        let was = w.breach;
        w.breach = breach.as_ref().map(Breach::kind);
        match breach {
            Some(b) if was.is_none() => Some(Violation {
                policy: p.clone(),
                tenant: s.tenant.clone(),
                source: s.id.clone(),
                host: s.host.clone(),
                ip: s.ip.clone(),
                breach: b,
                at_ms: now_ms,
            }),
            _ => None,
        }
    }

    /// How many (policy, source) pairs are watched.
    pub fn watched(&self) -> usize {
        self.watches.len()
    }

    /// Every (policy id, tenant, source, breach kind) in violation now.
    pub fn breaches(&self) -> Vec<(String, TenantId, String, &'static str)> {
        self.watches
            .iter()
            .filter_map(|((p, t, s), w)| Some((p.clone(), t.clone(), s.clone(), w.breach?)))
            .collect()
    }

    /// The breach kind of a watched pair, if it is in violation now.
    pub fn state(&self, policy_id: &str, tenant: &TenantId, source: &str) -> Option<&'static str> {
        self.watches
            .get(&(policy_id.to_owned(), tenant.clone(), source.to_owned()))
            .and_then(|w| w.breach)
    }
}

/// Where monitoring events are stored (the event store, in the binary).
pub type EventSink = Box<dyn Fn(&TenantId, &[Event]) -> Result<(), String> + Send + Sync>;

/// The running monitor: reloads the policies, evaluates them once a second, and turns each
/// violation that starts into a monitoring event and a monitoring alert.
pub struct SourceMonitor {
    store: Arc<dyn MetaStore>,
    alerts: Arc<AlertService>,
    tracker: Arc<SourceTracker>,
    events: Option<EventSink>,
    state: Mutex<Evaluator>,
    policies: Mutex<(Vec<MonitoringPolicy>, i64)>,
}

impl std::fmt::Debug for SourceMonitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SourceMonitor").finish_non_exhaustive()
    }
}

/// How often policies are read again from the store.
const POLICY_REFRESH_MS: i64 = 2_000;

impl SourceMonitor {
    /// A monitor over `tracker`'s sources, raising alerts through `alerts` and storing
    /// monitoring events through `events`.
    pub fn new(
        store: Arc<dyn MetaStore>,
        alerts: Arc<AlertService>,
        tracker: Arc<SourceTracker>,
        events: Option<EventSink>,
    ) -> SourceMonitor {
        SourceMonitor {
            store,
            alerts,
            tracker,
            events,
            state: Mutex::new(Evaluator::new()),
            policies: Mutex::new((Vec::new(), i64::MIN)),
        }
    }

    /// The breach kind of a (policy, source) pair now, if it is in violation.
    pub fn state(&self, policy_id: &str, tenant: &TenantId, source: &str) -> Option<&'static str> {
        self.state.lock().state(policy_id, tenant, source)
    }

    /// Every (policy id, tenant, source, breach kind) in violation now.
    pub fn breaches(&self) -> Vec<(String, TenantId, String, &'static str)> {
        self.state.lock().breaches()
    }

    async fn policies(&self, now_ms: i64) -> Vec<MonitoringPolicy> {
        let (cached, at) = self.policies.lock().clone();
        if now_ms.saturating_sub(at) < POLICY_REFRESH_MS {
            return cached;
        }
        let loaded = async {
            let tenants = self.store.all_tenant_ids().await?;
            let scope = TenantScope::new(tenants)?;
            self.store.list_monitoring_policies(&scope).await
        }
        .await;
        match loaded {
            Ok(p) => {
                *self.policies.lock() = (p.clone(), now_ms);
                p
            }
            Err(e) => {
                tracing::warn!(error = %e, "monitoring policies not reloaded; the last ones apply");
                cached
            }
        }
    }

    /// One evaluation at `now_ms`: returns the violations that started (each already stored
    /// and alerted).
    pub async fn tick(&self, now_ms: i64) -> Vec<Violation> {
        let policies = self.policies(now_ms).await;
        if policies.is_empty() {
            return Vec::new();
        }
        let sources = self.tracker.snapshot_at(now_ms);
        let started = self.state.lock().evaluate(&policies, &sources, now_ms);
        for v in &started {
            self.raise(v).await;
        }
        started
    }

    async fn raise(&self, v: &Violation) {
        let message = v.message();
        tracing::warn!(tenant = %v.tenant, source = %v.source, policy = %v.policy.name, breach = v.breach.kind(), "{message}");
        let ev = monitoring_event(v, &message);
        if let Some(sink) = &self.events
            && let Err(e) = sink(&v.tenant, std::slice::from_ref(&ev))
        {
            tracing::warn!(error = %e, "monitoring event not stored; the alert is raised anyway");
        }
        // a detection borrows its event's fields (`&dyn EventFields`, not `Sync`), so the
        // alert is folded on a blocking thread that drives the future itself
        let alerts = self.alerts.clone();
        let v = v.clone();
        let handle = tokio::runtime::Handle::current();
        let done =
            tokio::task::spawn_blocking(move || handle.block_on(alert(&alerts, &v, &ev))).await;
        if let Err(e) = done {
            tracing::error!(error = %e, "monitoring alert task failed");
        }
    }
}

/// Raises the monitoring alert of `v`, linking its monitoring event `ev`.
async fn alert(alerts: &AlertService, v: &Violation, ev: &Event) {
    let rule_id = format!("monitoring:{}", v.policy.id);
    let rule_name = format!("Source monitoring: {}", v.policy.name);
    let level = match v.breach {
        Breach::Above { .. } => "medium",
        _ => "high",
    };
    let event_id = ev.meta.id.to_string();
    let group = [("source".to_owned(), v.source.clone())];
    let time = chrono::DateTime::from_timestamp_millis(v.at_ms).unwrap_or_default();
    let d = RuleDetection {
        tenant: &v.tenant,
        rule_id: &rule_id,
        rule_name: &rule_name,
        rule_version: 1,
        level,
        tags: &[],
        event_id: &event_id,
        time,
        first_time: None,
        count: 1,
        group: Some(&group),
        event: ev,
    };
    let out = alerts.on_detections(&[d]).await;
    if !out.failed.is_empty() {
        let again = alerts
            .retry(out.failed.into_iter().map(|f| f.detection).collect())
            .await;
        if !again.failed.is_empty() {
            tracing::error!(source = %v.source, "monitoring alert not stored: the metadata store refused it twice");
        }
    }
}

/// The monitoring event of a violation (`vigil.type: monitoring`), in the source's tenant.
pub fn monitoring_event(v: &Violation, message: &str) -> Event {
    let ts = vigil_event::Timestamp::from_millis(v.at_ms);
    let mut e = Event::new(vigil_event::Bytes::from(message.to_owned()));
    e.meta.id = vigil_event::new_event_id(ts);
    e.meta.kind = EventType::Monitoring;
    e.meta.tenant = v.tenant.as_str().into();
    e.meta.source_id = "vigil-monitoring".into();
    e.timestamp = ts;
    e.meta.received = ts;
    e.message = Some(message.into());
    e.host.name = v.host.as_deref().map(Into::into);
    e.meta.peer = v.ip.as_deref().and_then(|i| i.parse().ok());
    let set = |e: &mut Event, k: &str, val: &str| {
        e.extra.insert(k, vigil_event::Value::from(val));
    };
    set(&mut e, "vigil.monitoring.policy_id", &v.policy.id);
    set(&mut e, "vigil.monitoring.policy", &v.policy.name);
    set(&mut e, "vigil.monitoring.source", &v.source);
    set(&mut e, "vigil.monitoring.breach", v.breach.kind());
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(
        kind: MonitoringKind,
        lower: f64,
        upper: Option<f64>,
        interval: u64,
        silent: Option<u64>,
        sources: &[&str],
    ) -> MonitoringPolicy {
        MonitoringPolicy {
            id: "p1".into(),
            tenant: TenantId::new("acme").unwrap_or_else(|_| TenantId::main()),
            name: "fw".into(),
            kind,
            lower,
            upper,
            interval_secs: interval,
            silent_after_secs: silent,
            sources: sources.iter().map(|s| (*s).to_owned()).collect(),
            enabled: true,
            created_at: chrono::DateTime::default(),
            updated_at: chrono::DateTime::default(),
        }
    }

    fn src(id: &str, total: u64, last: Option<i64>) -> LiveSource {
        LiveSource {
            tenant: TenantId::new("acme").unwrap_or_else(|_| TenantId::main()),
            id: id.into(),
            kind: SourceKind::Host,
            collector: "fw".into(),
            host: id.split('/').nth(1).map(str::to_owned),
            ip: Some("192.0.2.1".into()),
            first_seen_ms: 0,
            last_event_ms: last,
            events_total: total,
            parse_errors_total: 0,
            drops_total: 0,
            eps_now: 0.0,
        }
    }

    #[test]
    fn a_stopped_source_breaches_by_count_within_one_interval_and_raises_once() {
        let p = [policy(
            MonitoringKind::ByCount,
            1.0,
            None,
            60,
            None,
            &["web1"],
        )];
        let mut ev = Evaluator::new();
        // 10 events a second until t = 100 s, then nothing
        let mut raised = Vec::new();
        for t in 0..400_i64 {
            let total = (t.min(100) * 10) as u64;
            let s = [src("fw/web1", total, Some(t.min(100) * 1000))];
            for v in ev.evaluate(&p, &s, t * 1000) {
                raised.push((t, v));
            }
        }
        assert_eq!(raised.len(), 1, "{raised:?}");
        let (t, v) = &raised[0];
        // stopped at 100 s; the count over 60 s is 0 from 160 s on, caught within a hop (10 s)
        assert!((160..=170).contains(t), "raised at {t}");
        assert_eq!(v.breach, Breach::Below { value: 0.0 });
        assert_eq!(v.source, "fw/web1");
    }

    #[test]
    fn eps_bounds_silence_and_recovery() {
        let p = [policy(
            MonitoringKind::ByEps,
            5.0,
            Some(20.0),
            10,
            Some(30),
            &["fw/*"],
        )];
        let mut ev = Evaluator::new();
        let mut kinds = Vec::new();
        let mut total = 0u64;
        let mut last = 0i64;
        for t in 0..200_i64 {
            // 10/s, then 50/s from 40 s, then 10/s from 80 s, then nothing from 120 s
            let rate = match t {
                0..40 => 10,
                40..80 => 50,
                80..120 => 10,
                _ => 0,
            };
            total += rate;
            if rate > 0 {
                last = t * 1000;
            }
            for v in ev.evaluate(&p, &[src("fw/web1", total, Some(last))], t * 1000) {
                kinds.push((t, v.breach.kind()));
            }
        }
        let names: Vec<&str> = kinds.iter().map(|(_, k)| *k).collect();
        // above (50/s), healthy again, below once the window empties, then silent does not
        // raise again while the breach lasts
        assert_eq!(names, ["above", "below"], "{kinds:?}");
        assert_eq!(
            ev.state(
                "p1",
                &TenantId::new("acme").unwrap_or_else(|_| TenantId::main()),
                "fw/web1"
            ),
            Some("silent")
        );
    }

    #[test]
    fn a_named_source_that_never_sent_is_silent_and_other_tenants_are_not_watched() {
        let p = [policy(
            MonitoringKind::ByCount,
            0.0,
            None,
            60,
            Some(5),
            &["db1"],
        )];
        let mut ev = Evaluator::new();
        let mut other = src("fw/db1", 0, None);
        other.tenant = TenantId::new("globex").unwrap_or_else(|_| TenantId::main());
        let mut raised = Vec::new();
        for t in 0..10_i64 {
            raised.extend(ev.evaluate(&p, std::slice::from_ref(&other), t * 1000));
        }
        assert_eq!(raised.len(), 1);
        assert_eq!(
            (raised[0].tenant.as_str(), raised[0].source.as_str()),
            ("acme", "db1")
        );
        assert!(matches!(raised[0].breach, Breach::Silent { secs: 6 }));
    }

    #[test]
    fn deleted_policies_are_forgotten() {
        let p = [policy(MonitoringKind::ByCount, 0.0, None, 60, None, &[])];
        let mut ev = Evaluator::new();
        ev.evaluate(&p, &[src("fw/a", 1, Some(0)), src("fw/b", 1, Some(0))], 0);
        assert_eq!(ev.watched(), 2);
        ev.evaluate(&[], &[src("fw/a", 1, Some(0))], 1000);
        assert_eq!(ev.watched(), 0);
    }
}
