//! The store as the pipeline's destination (feature `pipeline`): batches appended per tenant,
//! retried by the pipeline after an error without storing a mixed batch's earlier tenants
//! twice.

use std::collections::HashMap;
use std::sync::Arc;

use smol_str::SmolStr;
use vigil_event::Event;
use vigil_pipeline::{ComponentError, ComponentMetrics, Destination, TenantQuotas};

use crate::{EventStore, StoreError, TenantId};

/// The store as the pipeline's destination.
#[derive(Debug)]
pub struct StoreDestination {
    /// The store written to.
    pub store: Arc<dyn EventStore>,
    /// The destination's counters.
    pub metrics: ComponentMetrics,
    tenants: HashMap<SmolStr, TenantId>,
    /// Tenants of the batch being retried that were already stored (a mixed batch whose
    /// append failed for a later tenant is retried without storing the earlier ones twice).
    done: Vec<SmolStr>,
    /// Whether the last write failed because the disk was full (logged once per episode).
    disk_full: bool,
    /// The tenants' storage quotas ([`vigil_pipeline::quota`]).
    quotas: Option<Arc<TenantQuotas>>,
}

impl StoreDestination {
    /// A destination appending to `store`.
    pub fn new(store: Arc<dyn EventStore>, metrics: ComponentMetrics) -> StoreDestination {
        StoreDestination {
            store,
            metrics,
            tenants: HashMap::new(),
            done: Vec::new(),
            disk_full: false,
            quotas: None,
        }
    }

    /// Refuses the events of tenants at their storage quota: counted drops `storage_quota`
    /// (here and per tenant in `quotas`), never appended.
    pub fn with_quotas(mut self, quotas: Option<Arc<TenantQuotas>>) -> StoreDestination {
        self.quotas = quotas;
        self
    }

    /// Whether `tenant` is at its storage quota; counts `n` refused events when it is.
    fn refuse(&self, tenant: &str, n: usize) -> bool {
        let Some(q) = &self.quotas else { return false };
        if !q.storage_full(tenant) {
            return false;
        }
        q.count_storage_refused(tenant, n as u64);
        self.metrics.drop("storage_quota", n as u64);
        true
    }

    fn tenant(&mut self, name: &SmolStr) -> Result<TenantId, ComponentError> {
        if let Some(t) = self.tenants.get(name) {
            return Ok(t.clone());
        }
        let t =
            TenantId::new(name).map_err(|e| ComponentError::new(&self.metrics, e.to_string()))?;
        self.tenants.insert(name.clone(), t.clone());
        Ok(t)
    }
}

impl StoreDestination {
    /// An append error for the pipeline, which retries the batch with backoff (the bounded
    /// queues behind it fill and hold the sources back): nothing is dropped. A full disk is
    /// reported once when it starts, not on every retry.
    fn append_err(&mut self, e: StoreError) -> ComponentError {
        if let StoreError::DiskFull { .. } = e {
            if !self.disk_full {
                self.disk_full = true;
                tracing::error!(error = %e, "storage refuses events: disk full; holding them and retrying");
            }
            self.metrics.error("disk_full", 1);
        }
        ComponentError::new(&self.metrics, e.to_string())
    }
}

impl Destination for StoreDestination {
    fn write(&mut self, events: &[Event]) -> Result<(), ComponentError> {
        // batches are almost always one tenant: append them whole, split only when mixed
        let first = match events.first() {
            Some(e) => e.meta.tenant.clone(),
            None => return Ok(()),
        };
        let bytes: usize = events.iter().map(|e| e.raw.len()).sum();
        if events.iter().all(|e| e.meta.tenant == first) {
            if self.refuse(&first, events.len()) {
                return Ok(());
            }
            let t = self.tenant(&first)?;
            if let Err(e) = self.store.append(&t, events) {
                return Err(self.append_err(e));
            }
        } else {
            let mut by: Vec<(SmolStr, Vec<Event>)> = Vec::new();
            for e in events {
                match by.iter_mut().find(|(t, _)| *t == e.meta.tenant) {
                    Some((_, v)) => v.push(e.clone()),
                    None => by.push((e.meta.tenant.clone(), vec![e.clone()])),
                }
            }
            for (name, evs) in by {
                if self.done.contains(&name) {
                    continue;
                }
                if self.refuse(&name, evs.len()) {
                    self.done.push(name);
                    continue;
                }
                let t = self.tenant(&name)?;
                if let Err(e) = self.store.append(&t, &evs) {
                    return Err(self.append_err(e));
                }
                self.done.push(name);
            }
            self.done.clear();
        }
        if self.disk_full {
            self.disk_full = false;
            tracing::info!("storage accepts events again");
        }
        self.metrics.bytes_out(bytes as u64);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), ComponentError> {
        for t in self.tenants.values() {
            self.store
                .flush(t)
                .map_err(|e| ComponentError::new(&self.metrics, e.to_string()))?;
        }
        Ok(())
    }
}
