//! Per-tenant quotas (KUMA's tenant EPS limit, and a storage quota): one [`TenantQuotas`]
//! shared by every worker and by the store destination, its limits set from the metadata store
//! by whoever owns the tenants (`vigil_core::sources::quota`).
//!
//! * **EPS**: a token bucket per tenant, shared by every collector of the tenant: it refills at
//!   `eps_limit` tokens per second and holds at most one second's worth (`eps_limit` tokens).
//!   A worker takes one token per raw record before normalizing a batch. Records beyond the
//!   bucket are **kept raw and flagged**, never dropped: they skip the normalizer and the
//!   transforms, are stored as raw events with `vigil.quota: eps_exceeded`, and are counted
//!   per tenant (`vigil_tenant_quota_events_total{reason="eps"}`) and per collector (the
//!   normalizer's error counter `tenant_quota`, shown in source status). The quota thus bounds
//!   the costly part (parsing, enrichment, field-based detection), not the intake.
//! * **Storage**: a flag per tenant, set when its stored bytes reach its storage quota. While
//!   it is set, the store destination refuses the tenant's events: a counted drop with reason
//!   `storage_quota` (`vigil_tenant_quota_events_total{reason="storage"}` and the storage
//!   destination's drop counter). Detection still sees them.
//!
//! The hot path takes no lock while no tenant has a limit (one relaxed atomic load).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use parking_lot::Mutex;
use smol_str::SmolStr;

use crate::telemetry::MetricSet;

/// The value of `vigil.quota` on an event kept raw because its tenant was over its EPS quota.
pub const EPS_EXCEEDED: &str = "eps_exceeded";

/// The field flagging events kept raw by the EPS quota.
pub const QUOTA_FIELD: &str = "vigil.quota";

/// Every tenant's quotas and counters.
#[derive(Debug, Default)]
pub struct TenantQuotas {
    tenants: Mutex<HashMap<SmolStr, Quota>>,
    /// Some tenant has an EPS limit.
    any_eps: AtomicBool,
    /// Some tenant is at its storage quota.
    any_full: AtomicBool,
}

#[derive(Debug, Default)]
struct Quota {
    eps_limit: Option<u64>,
    tokens: f64,
    refilled: Option<Instant>,
    storage_limit: Option<u64>,
    storage_bytes: u64,
    storage_full: bool,
    over_eps: u64,
    storage_refused: u64,
}

/// One tenant's quota figures (metrics, source status).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaStatus {
    /// The tenant.
    pub tenant: SmolStr,
    /// Events per second allowed, if limited.
    pub eps_limit: Option<u64>,
    /// Records kept raw since start because the tenant was over its EPS limit.
    pub over_eps: u64,
    /// Stored bytes allowed, if limited.
    pub storage_limit: Option<u64>,
    /// Stored bytes at the last measure.
    pub storage_bytes: u64,
    /// Whether the store refuses the tenant's events now.
    pub storage_full: bool,
    /// Events the store refused since start because the tenant was at its storage quota.
    pub storage_refused: u64,
}

impl TenantQuotas {
    /// No limits.
    pub fn new() -> TenantQuotas {
        TenantQuotas::default()
    }

    /// Sets the EPS limits of every tenant at once (`None`: unlimited); tenants not named
    /// have none. A new or raised limit starts with a full bucket, a lowered one keeps at most
    /// its new capacity: the change applies to the next batch.
    pub fn set_eps_limits(&self, limits: &[(SmolStr, Option<u64>)]) {
        let mut g = self.tenants.lock();
        let mut any = false;
        let named: HashMap<&SmolStr, Option<u64>> = limits.iter().map(|(t, l)| (t, *l)).collect();
        for (t, q) in g.iter_mut() {
            if !named.contains_key(t) {
                q.eps_limit = None;
            }
        }
        for (t, l) in limits {
            let q = g.entry(t.clone()).or_default();
            if q.eps_limit != *l {
                match (*l, q.eps_limit) {
                    (Some(new), Some(_)) => q.tokens = q.tokens.min(new as f64),
                    (Some(new), None) => {
                        q.tokens = new as f64;
                        q.refilled = Some(Instant::now());
                    }
                    (None, _) => {}
                }
                q.eps_limit = *l;
            }
            any |= l.is_some();
        }
        self.any_eps.store(any, Ordering::Relaxed);
    }

    /// Takes up to `n` tokens from `tenant`'s bucket; returns how many records may be
    /// normalized (all of them when the tenant has no limit). The rest is over the quota and
    /// counted as such.
    pub fn take(&self, tenant: &str, n: usize) -> usize {
        if n == 0 || !self.any_eps.load(Ordering::Relaxed) {
            return n;
        }
        self.take_at(tenant, n, Instant::now())
    }

    fn take_at(&self, tenant: &str, n: usize, now: Instant) -> usize {
        let mut g = self.tenants.lock();
        let Some(q) = g.get_mut(tenant) else {
            return n;
        };
        let Some(limit) = q.eps_limit else {
            return n;
        };
        let rate = limit as f64;
        let elapsed = q
            .refilled
            .map_or(0.0, |t| now.saturating_duration_since(t).as_secs_f64());
        q.tokens = (q.tokens + elapsed * rate).min(rate);
        q.refilled = Some(now);
        let admitted = (q.tokens.floor().max(0.0) as usize).min(n);
        q.tokens -= admitted as f64;
        q.over_eps += (n - admitted) as u64;
        admitted
    }

    /// Records `tenant`'s stored bytes and storage limit; returns `Some(true)` when the tenant
    /// has just reached its quota, `Some(false)` when it has just come back below it, `None`
    /// when nothing changed.
    pub fn set_storage(&self, tenant: &str, bytes: u64, limit: Option<u64>) -> Option<bool> {
        let mut g = self.tenants.lock();
        let q = g.entry(SmolStr::new(tenant)).or_default();
        q.storage_bytes = bytes;
        q.storage_limit = limit;
        let full = limit.is_some_and(|l| bytes >= l);
        let changed = (full != q.storage_full).then_some(full);
        q.storage_full = full;
        let any = g.values().any(|q| q.storage_full);
        self.any_full.store(any, Ordering::Relaxed);
        changed
    }

    /// Whether the store must refuse `tenant`'s events now.
    pub fn storage_full(&self, tenant: &str) -> bool {
        self.any_full.load(Ordering::Relaxed)
            && self
                .tenants
                .lock()
                .get(tenant)
                .is_some_and(|q| q.storage_full)
    }

    /// Counts `n` events of `tenant` the store refused for its storage quota.
    pub fn count_storage_refused(&self, tenant: &str, n: u64) {
        self.tenants
            .lock()
            .entry(SmolStr::new(tenant))
            .or_default()
            .storage_refused += n;
    }

    /// Every tenant's figures, sorted by tenant.
    pub fn status(&self) -> Vec<QuotaStatus> {
        let g = self.tenants.lock();
        let mut out: Vec<QuotaStatus> = g
            .iter()
            .map(|(t, q)| QuotaStatus {
                tenant: t.clone(),
                eps_limit: q.eps_limit,
                over_eps: q.over_eps,
                storage_limit: q.storage_limit,
                storage_bytes: q.storage_bytes,
                storage_full: q.storage_full,
                storage_refused: q.storage_refused,
            })
            .collect();
        out.sort_by(|a, b| a.tenant.cmp(&b.tenant));
        out
    }

    /// The per-tenant quota metrics for `/metrics`.
    pub fn metrics(&self, out: &mut MetricSet) {
        for s in self.status() {
            out.sample(
                "vigil_tenant_quota_events_total",
                "counter",
                "Events over a tenant quota since start: reason eps (kept raw, flagged vigil.quota) or storage (refused by the store).",
                &[("tenant", s.tenant.as_str()), ("reason", "eps")],
                s.over_eps,
            );
            out.sample(
                "vigil_tenant_quota_events_total",
                "counter",
                "Events over a tenant quota since start: reason eps (kept raw, flagged vigil.quota) or storage (refused by the store).",
                &[("tenant", s.tenant.as_str()), ("reason", "storage")],
                s.storage_refused,
            );
            if let Some(l) = s.eps_limit {
                out.sample(
                    "vigil_tenant_eps_limit",
                    "gauge",
                    "A tenant's EPS limit.",
                    &[("tenant", s.tenant.as_str())],
                    l,
                );
            }
            if let Some(l) = s.storage_limit {
                out.sample(
                    "vigil_tenant_storage_limit_bytes",
                    "gauge",
                    "A tenant's storage quota.",
                    &[("tenant", s.tenant.as_str())],
                    l,
                );
                out.sample(
                    "vigil_tenant_storage_bytes",
                    "gauge",
                    "A tenant's stored bytes at the last measure (tenants with a storage quota).",
                    &[("tenant", s.tenant.as_str())],
                    s.storage_bytes,
                );
                out.sample(
                    "vigil_tenant_storage_full",
                    "gauge",
                    "1 while the store refuses a tenant's events for its storage quota.",
                    &[("tenant", s.tenant.as_str())],
                    u64::from(s.storage_full),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn t(s: &str) -> SmolStr {
        SmolStr::new(s)
    }

    #[test]
    fn a_tenant_without_a_limit_takes_everything() {
        let q = TenantQuotas::new();
        assert_eq!(q.take("acme", 500), 500);
        q.set_eps_limits(&[(t("other"), Some(10))]);
        assert_eq!(q.take("acme", 500), 500);
    }

    #[test]
    fn the_bucket_holds_one_second_and_refills_at_the_limit() {
        let q = TenantQuotas::new();
        q.set_eps_limits(&[(t("acme"), Some(100))]);
        let start = Instant::now();
        assert_eq!(q.take_at("acme", 150, start), 100);
        assert_eq!(q.take_at("acme", 10, start), 0);
        // half a second later: 50 tokens
        assert_eq!(
            q.take_at("acme", 80, start + Duration::from_millis(500)),
            50
        );
        // long idle: never more than one second's worth
        assert_eq!(
            q.take_at("acme", 1000, start + Duration::from_secs(60)),
            100
        );
        let s = q.status();
        assert_eq!(s[0].over_eps, 50 + 10 + 30 + 900);
    }

    #[test]
    fn lifting_the_limit_admits_everything_at_once() {
        let q = TenantQuotas::new();
        q.set_eps_limits(&[(t("acme"), Some(1))]);
        let now = Instant::now();
        assert_eq!(q.take_at("acme", 5, now), 1);
        q.set_eps_limits(&[(t("acme"), None)]);
        assert_eq!(q.take("acme", 5), 5);
        q.set_eps_limits(&[(t("acme"), Some(3))]);
        assert_eq!(q.take_at("acme", 5, Instant::now()), 3);
        q.set_eps_limits(&[]);
        assert_eq!(q.take("acme", 5), 5);
    }

    #[test]
    fn storage_reports_the_edges_once() {
        let q = TenantQuotas::new();
        assert_eq!(q.set_storage("acme", 10, Some(100)), None);
        assert!(!q.storage_full("acme"));
        assert_eq!(q.set_storage("acme", 100, Some(100)), Some(true));
        assert_eq!(q.set_storage("acme", 120, Some(100)), None);
        assert!(q.storage_full("acme"));
        assert!(!q.storage_full("other"));
        q.count_storage_refused("acme", 7);
        assert_eq!(q.set_storage("acme", 120, Some(1000)), Some(false));
        assert!(!q.storage_full("acme"));
        let mut m = MetricSet::default();
        q.metrics(&mut m);
        let s = q.status();
        assert_eq!(s[0].storage_refused, 7);
    }
}
