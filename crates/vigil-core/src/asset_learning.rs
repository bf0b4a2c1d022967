//! Asset learning from the events passing the pipeline (issue 13, point 6): every host an
//! event names (`host.name` / `host.hostname`, `host.ip`, `host.mac`, `host.os.*`) becomes or
//! updates an asset of the event's tenant, with first and last seen.
//!
//! # Batched and bounded
//! Nothing is written per event. [`AssetDestination`] is one more pipeline destination: per
//! batch it folds the events into one [`Observation`] per `(tenant, host)` in a map of its own,
//! then merges that map into the [`AssetLearner`]'s pending map under one lock. Every
//! [`FLUSH_INTERVAL`] `vigil up` calls [`AssetLearner::flush`], which hands each pending host
//! once to [`AssetBook::learn_observed`] (the merge rules of [`crate::assets`]; an unchanged
//! asset written less than `touch_interval` ago costs no write at all). The pending map holds
//! at most [`AssetLearner::max_pending`] hosts: a host beyond it is counted
//! (`vigil_assets_learning_total{outcome="overflow"}`) and learned from its next event after a
//! flush, never silently lost. Events of the `monitoring`, `audit` and `correlation` types
//! describe Vigil's own work and are not learned from.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use smol_str::SmolStr;
use vigil_event::{Event, EventType};
use vigil_pipeline::{ComponentError, Destination, MetricSet};

use crate::assets::{AssetBook, Learned, Observation};
use crate::scope::TenantId;

/// How often `vigil up` writes what was learned.
pub const FLUSH_INTERVAL: Duration = Duration::from_secs(2);

/// Default [`AssetLearner::max_pending`].
pub const MAX_PENDING: usize = 10_000;

/// Counters of asset learning.
#[derive(Debug, Default)]
pub struct LearningStats {
    /// Hosts that became new assets.
    pub created: AtomicU64,
    /// Hosts whose asset gained a name, an address, a MAC address or an OS.
    pub merged: AtomicU64,
    /// Hosts whose asset's last seen (and sources) were written.
    pub touched: AtomicU64,
    /// Hosts known and written recently: nothing written.
    pub unchanged: AtomicU64,
    /// Hosts the metadata store refused (learned again from their next events).
    pub failed: AtomicU64,
    /// Host observations beyond the pending map's bound.
    pub overflow: AtomicU64,
}

/// The hosts seen since the last flush, shared by the destination and the flush task.
#[derive(Debug)]
pub struct AssetLearner {
    pending: Mutex<HashMap<(SmolStr, String), Observation>>,
    max_pending: usize,
    stats: LearningStats,
}

impl Default for AssetLearner {
    fn default() -> AssetLearner {
        AssetLearner::new(MAX_PENDING)
    }
}

impl AssetLearner {
    /// A learner holding at most `max_pending` hosts between flushes.
    pub fn new(max_pending: usize) -> AssetLearner {
        AssetLearner {
            pending: Mutex::new(HashMap::new()),
            max_pending: max_pending.max(1),
            stats: LearningStats::default(),
        }
    }

    /// The bound of the pending map.
    pub fn max_pending(&self) -> usize {
        self.max_pending
    }

    /// The counters.
    pub fn stats(&self) -> &LearningStats {
        &self.stats
    }

    /// Hosts waiting for the next flush.
    pub fn pending(&self) -> usize {
        self.pending.lock().len()
    }

    /// Folds one batch's observations (already merged per host) into the pending map.
    pub fn add(&self, batch: HashMap<(SmolStr, String), Observation>) {
        if batch.is_empty() {
            return;
        }
        let mut overflow = 0u64;
        {
            let mut g = self.pending.lock();
            for (k, o) in batch {
                if let Some(p) = g.get_mut(&k) {
                    p.merge(o);
                } else if g.len() < self.max_pending {
                    g.insert(k, o);
                } else {
                    overflow += 1;
                }
            }
        }
        if overflow > 0 {
            let before = self.stats.overflow.fetch_add(overflow, Ordering::Relaxed);
            if before == 0 {
                tracing::warn!(
                    max = self.max_pending,
                    "asset learning: more hosts than the pending bound between two flushes; the others are counted and learned from their next events"
                );
            }
        }
    }

    /// Writes every pending host through `book` (one call per host); returns how many were
    /// handed on.
    pub async fn flush(&self, book: &AssetBook) -> usize {
        let pending: Vec<Observation> = {
            let mut g = self.pending.lock();
            std::mem::take(&mut *g).into_values().collect()
        };
        let n = pending.len();
        for o in pending {
            let counter = match book.learn_observed(&o).await {
                Ok(Learned::Created(_)) => &self.stats.created,
                Ok(Learned::Merged(_)) => &self.stats.merged,
                Ok(Learned::Touched(_)) => &self.stats.touched,
                Ok(Learned::Unchanged | Learned::NoHost) => &self.stats.unchanged,
                Err(e) => {
                    tracing::warn!(tenant = %o.tenant, host = o.key(), error = %e, "asset not learned; retried with its next events");
                    &self.stats.failed
                }
            };
            counter.fetch_add(1, Ordering::Relaxed);
        }
        n
    }

    /// The counters for `/metrics`: `vigil_assets_learning_total{outcome}` and the pending
    /// gauge.
    pub fn metrics(&self, out: &mut MetricSet) {
        let s = &self.stats;
        for (outcome, c) in [
            ("created", &s.created),
            ("merged", &s.merged),
            ("touched", &s.touched),
            ("unchanged", &s.unchanged),
            ("failed", &s.failed),
            ("overflow", &s.overflow),
        ] {
            out.sample(
                "vigil_assets_learning_total",
                "counter",
                "Hosts handed to asset learning, by outcome (one per host per flush, not per event).",
                &[("outcome", outcome)],
                c.load(Ordering::Relaxed),
            );
        }
        out.sample(
            "vigil_assets_learning_pending",
            "gauge",
            "Hosts waiting for the next asset-learning flush.",
            &[],
            self.pending() as u64,
        );
    }
}

/// The pipeline destination feeding an [`AssetLearner`].
#[derive(Debug)]
pub struct AssetDestination {
    learner: Arc<AssetLearner>,
    tenants: HashMap<SmolStr, Option<TenantId>>,
}

impl AssetDestination {
    /// A destination adding to `learner`.
    pub fn new(learner: Arc<AssetLearner>) -> AssetDestination {
        AssetDestination {
            learner,
            tenants: HashMap::new(),
        }
    }

    fn tenant(&mut self, name: &SmolStr) -> Option<TenantId> {
        self.tenants
            .entry(name.clone())
            .or_insert_with(|| TenantId::new(name).ok())
            .clone()
    }
}

/// Folds `events` into one observation per `(tenant, host)`.
fn observe(
    events: &[Event],
    mut tenant: impl FnMut(&SmolStr) -> Option<TenantId>,
) -> HashMap<(SmolStr, String), Observation> {
    let mut batch: HashMap<(SmolStr, String), Observation> = HashMap::new();
    for e in events {
        if matches!(
            e.meta.kind,
            EventType::Monitoring | EventType::Audit | EventType::Correlation
        ) {
            continue;
        }
        let Some(t) = tenant(&e.meta.tenant) else {
            continue;
        };
        let at = chrono::DateTime::from_timestamp_millis(e.meta.received.millis())
            .unwrap_or_else(chrono::Utc::now);
        let Some(o) = Observation::of(&t, e, at, &e.meta.source_id) else {
            continue;
        };
        let key = (e.meta.tenant.clone(), o.key().to_owned());
        match batch.get_mut(&key) {
            Some(p) => p.merge(o),
            None => {
                batch.insert(key, o);
            }
        }
    }
    batch
}

impl Destination for AssetDestination {
    fn write(&mut self, events: &[Event]) -> Result<(), ComponentError> {
        let batch = observe(events, |t| self.tenant(t));
        self.learner.add(batch);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), ComponentError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(tenant: &str, host: &str, ip: &str, mac: &str) -> Event {
        let mut e = Event::default();
        e.meta.tenant = tenant.into();
        e.meta.source_id = "fw".into();
        e.meta.received = vigil_event::Timestamp::from_millis(1_700_000_000_000);
        let _ = e.set("host.name", host);
        let _ = e.set("host.ip", ip);
        let _ = e.set("host.mac", mac);
        let _ = e.set("host.os.name", "Debian GNU/Linux 12");
        e
    }

    #[test]
    fn a_batch_folds_into_one_observation_per_host() {
        let events = vec![
            ev("acme", "Web1", "192.0.2.1", "aa:bb:cc:dd:ee:ff"),
            ev("acme", "web1", "192.0.2.2", "AA-BB-CC-DD-EE-FF"),
            ev("acme", "db1", "192.0.2.9", "not a mac"),
            ev("other", "web1", "192.0.2.1", ""),
        ];
        let got = observe(&events, |t| TenantId::new(t).ok());
        assert_eq!(got.len(), 3);
        let web1 = &got[&(SmolStr::new("acme"), "web1".to_owned())];
        assert_eq!(web1.ips, ["192.0.2.1", "192.0.2.2"]);
        assert_eq!(web1.macs, ["AA-BB-CC-DD-EE-FF"]);
        assert_eq!(web1.os.as_deref(), Some("Debian GNU/Linux 12"));
        assert!(
            got[&(SmolStr::new("acme"), "db1".to_owned())]
                .macs
                .is_empty()
        );
    }

    #[test]
    fn the_pending_map_is_bounded_and_counts_the_rest() {
        let l = AssetLearner::new(2);
        let events: Vec<Event> = (0..5)
            .map(|i| ev("acme", &format!("h{i}"), "192.0.2.1", ""))
            .collect();
        l.add(observe(&events, |t| TenantId::new(t).ok()));
        assert_eq!(l.pending(), 2);
        assert_eq!(l.stats().overflow.load(Ordering::Relaxed), 3);
        // a host already pending still merges
        l.add(observe(&events, |t| TenantId::new(t).ok()));
        assert_eq!(l.pending(), 2);
    }

    #[test]
    fn macs_are_normalized() {
        use crate::assets::normalize_mac;
        assert_eq!(
            normalize_mac("aa:bb:cc:00:11:22").as_deref(),
            Some("AA-BB-CC-00-11-22")
        );
        assert_eq!(
            normalize_mac("aabb.cc00.1122").as_deref(),
            Some("AA-BB-CC-00-11-22")
        );
        assert_eq!(normalize_mac("aa:bb:cc:00:11"), None);
        assert_eq!(normalize_mac("zz:bb:cc:00:11:22"), None);
    }
}
