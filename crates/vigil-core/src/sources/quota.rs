//! Tenant quotas (issue 13, point 3): the EPS limit and the storage quota the metadata store
//! keeps per tenant, applied to the pipeline's [`TenantQuotas`].
//!
//! [`QuotaWatch::tick`] runs every half second in `vigil up`: it reads every tenant's limits
//! (so an API change, or one made by another process on a shared PostgreSQL store, is in force
//! within a second), measures the stored bytes of every tenant with a storage quota
//! ([`EventStore::stats`]: segments and write-ahead log), and flips the tenant's storage flag.
//! When a tenant reaches its storage quota, once per episode (again only after it came back
//! below), a **monitoring event** is stored in the tenant (`vigil.type:monitoring`,
//! `vigil.monitoring.quota: storage`) and a **monitoring alert** is raised: rule id
//! `quota:storage`, severity high, grouped by tenant. What the quotas do to events is
//! described in [`vigil_pipeline::quota`].

use std::collections::HashSet;
use std::sync::Arc;

use smol_str::SmolStr;
use vigil_event::{Event, EventType};
use vigil_pipeline::TenantQuotas;
use vigil_store::EventStore;

use super::monitor::EventSink;
use crate::alerts::{AlertService, RuleDetection};
use crate::scope::{TenantId, TenantScope};
use crate::store::{MetaError, MetaStore};

/// The rule id of the storage-quota monitoring alert.
pub const STORAGE_QUOTA_RULE: &str = "quota:storage";

/// Applies the stored quotas to the pipeline and raises the storage-quota alerts.
pub struct QuotaWatch {
    store: Arc<dyn MetaStore>,
    events: Arc<dyn EventStore>,
    quotas: Arc<TenantQuotas>,
    alerts: Arc<AlertService>,
    sink: Option<EventSink>,
    /// Tenants measured at the last tick (a quota removed is cleared once).
    measured: HashSet<TenantId>,
}

impl std::fmt::Debug for QuotaWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QuotaWatch").finish_non_exhaustive()
    }
}

impl QuotaWatch {
    /// A watch applying `store`'s limits to `quotas`, measuring `events`; monitoring events go
    /// to `sink` (the event store, bypassing the quota: one event per episode).
    pub fn new(
        store: Arc<dyn MetaStore>,
        events: Arc<dyn EventStore>,
        quotas: Arc<TenantQuotas>,
        alerts: Arc<AlertService>,
        sink: Option<EventSink>,
    ) -> QuotaWatch {
        QuotaWatch {
            store,
            events,
            quotas,
            alerts,
            sink,
            measured: HashSet::new(),
        }
    }

    /// Reads the limits, measures storage and raises what starts; returns the tenants that
    /// reached their storage quota in this tick.
    pub async fn tick(&mut self) -> Result<Vec<TenantId>, MetaError> {
        let ids = self.store.all_tenant_ids().await?;
        let scope = TenantScope::new(ids)?;
        let tenants = self.store.list_tenants(&scope).await?;
        let limits: Vec<(SmolStr, Option<u64>)> = tenants
            .iter()
            .map(|t| (SmolStr::new(t.id.as_str()), t.eps_limit))
            .collect();
        self.quotas.set_eps_limits(&limits);
        let mut reached = Vec::new();
        let mut measured = HashSet::new();
        for t in &tenants {
            if t.storage_limit_bytes.is_none() && !self.measured.contains(&t.id) {
                continue;
            }
            let bytes = match self.events.stats(&t.id) {
                Ok(s) => s.bytes_on_disk,
                Err(e) => {
                    tracing::warn!(tenant = %t.id, error = %e, "stored bytes not measured; storage quota unchanged");
                    continue;
                }
            };
            if t.storage_limit_bytes.is_some() {
                measured.insert(t.id.clone());
            }
            match self
                .quotas
                .set_storage(t.id.as_str(), bytes, t.storage_limit_bytes)
            {
                Some(true) => {
                    let limit = t.storage_limit_bytes.unwrap_or_default();
                    self.raise(&t.id, bytes, limit).await;
                    reached.push(t.id.clone());
                }
                Some(false) => {
                    tracing::info!(tenant = %t.id, bytes, limit = ?t.storage_limit_bytes, "tenant below its storage quota again; its events are stored again");
                }
                None => {}
            }
        }
        self.measured = measured;
        Ok(reached)
    }

    async fn raise(&self, tenant: &TenantId, bytes: u64, limit: u64) {
        let message = format!(
            "Tenant {tenant} reached its storage quota: {bytes} of {limit} bytes stored; \
             its new events are refused by the store (counted as storage_quota) until \
             retention or a higher quota brings it below"
        );
        tracing::warn!(tenant = %tenant, bytes, limit, "{message}");
        let ev = quota_event(tenant, &message, bytes, limit);
        if let Some(sink) = &self.sink
            && let Err(e) = sink(tenant, std::slice::from_ref(&ev))
        {
            tracing::warn!(error = %e, "storage quota event not stored; the alert is raised anyway");
        }
        // a detection borrows its event (`&dyn EventFields`, not `Sync`): fold on a blocking
        // thread driving the future itself, as the source monitor does
        let alerts = self.alerts.clone();
        let tenant = tenant.clone();
        let handle = tokio::runtime::Handle::current();
        let done = tokio::task::spawn_blocking(move || {
            handle.block_on(async {
                let event_id = ev.meta.id.to_string();
                let group = [("tenant".to_owned(), tenant.as_str().to_owned())];
                let d = RuleDetection {
                    tenant: &tenant,
                    rule_id: STORAGE_QUOTA_RULE,
                    rule_name: "Tenant storage quota reached",
                    rule_version: 1,
                    level: "high",
                    tags: &[],
                    event_id: &event_id,
                    time: chrono::Utc::now(),
                    first_time: None,
                    count: 1,
                    group: Some(&group),
                    event: &ev,
                };
                let out = alerts.on_detections(&[d]).await;
                if !out.failed.is_empty() {
                    let again = alerts
                        .retry(out.failed.into_iter().map(|f| f.detection).collect())
                        .await;
                    if !again.failed.is_empty() {
                        tracing::error!(tenant = %tenant, "storage quota alert not stored: the metadata store refused it twice");
                    }
                }
            })
        })
        .await;
        if let Err(e) = done {
            tracing::error!(error = %e, "storage quota alert task failed");
        }
    }
}

/// The monitoring event of a tenant reaching its storage quota.
pub fn quota_event(tenant: &TenantId, message: &str, bytes: u64, limit: u64) -> Event {
    let ts = vigil_event::Timestamp::now();
    let mut e = Event::new(vigil_event::Bytes::from(message.to_owned()));
    e.meta.id = vigil_event::new_event_id(ts);
    e.meta.kind = EventType::Monitoring;
    e.meta.tenant = tenant.as_str().into();
    e.meta.source_id = "vigil-monitoring".into();
    e.timestamp = ts;
    e.meta.received = ts;
    e.message = Some(message.into());
    let set = |e: &mut Event, k: &str, val: String| {
        e.extra.insert(k, vigil_event::Value::from(val));
    };
    set(&mut e, "vigil.monitoring.quota", "storage".into());
    set(&mut e, "vigil.monitoring.breach", "above".into());
    set(&mut e, "vigil.monitoring.storage_bytes", bytes.to_string());
    set(
        &mut e,
        "vigil.monitoring.storage_limit_bytes",
        limit.to_string(),
    );
    e
}
