//! The core's audit records as events of their tenant, so the trail is searchable like any
//! event (`vigil.type:audit`, `event.action:user.login`, `event.outcome:failure`).
//!
//! Searches (`search` records) are the exception: they are kept in the hash-chained trail only
//! (`GET /api/v1/audit?action=search`), since an event per search would change what the next
//! search of the tenant counts.
//!
//! The metadata store stays the record of truth (hash-chained, `MetaStore::verify_audit`); the
//! events are its searchable copy. [`AuditEvents::mirror`] is handed to
//! [`crate::SqlMetaStore::set_audit_mirror`]: it queues each committed record without blocking
//! (a bounded queue; when it is full the record is counted as not mirrored, and stays in the
//! metadata store), and a thread of its own appends the queued records, per tenant, to the
//! event store.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};

use vigil_event::{Bytes, Event, EventType, SmolStr, Timestamp};

use crate::model::{AuditOutcome, AuditRecord};
use crate::scope::TenantId;
use crate::sql::AuditMirror;

/// The action kept in the hash-chained trail only: a search stored as an event of the tenant
/// it searched would change what the next search of that tenant finds and counts.
pub const NOT_MIRRORED: &str = "search";

/// Records waiting for the event store.
const QUEUE: usize = 10_000;

/// Appends a batch of events to a tenant of the event store.
pub type Append = Box<dyn Fn(&TenantId, &[Event]) -> Result<(), String> + Send>;

/// Counters of the mirror.
#[derive(Debug, Default)]
pub struct AuditEventStats {
    /// Records stored as events.
    pub stored: AtomicU64,
    /// Records not mirrored: the queue was full or the event store refused them (they stay in
    /// the metadata store).
    pub not_mirrored: AtomicU64,
    /// Of `not_mirrored`, those refused because the queue was full (overflow).
    pub queue_full: AtomicU64,
}

impl AuditEventStats {
    /// The mirror's counters for `/metrics`: `vigil_audit_events_stored_total` and
    /// `vigil_audit_events_not_mirrored_total{reason="queue_full"|"store_refused"}`.
    pub fn metrics(&self, out: &mut vigil_pipeline::MetricSet) {
        let not = self.not_mirrored.load(Ordering::Relaxed);
        let full = self.queue_full.load(Ordering::Relaxed);
        out.sample(
            "vigil_audit_events_stored_total",
            "counter",
            "Audit records stored as audit events of their tenant.",
            &[],
            self.stored.load(Ordering::Relaxed),
        );
        for (reason, v) in [
            ("queue_full", full),
            ("store_refused", not.saturating_sub(full)),
        ] {
            out.sample(
                "vigil_audit_events_not_mirrored_total",
                "counter",
                "Audit records not mirrored as events (they stay in the hash-chained metadata store), by reason: queue_full (the queue overflowed) or store_refused.",
                &[("reason", reason)],
                v,
            );
        }
    }
}

/// The mirror and its thread.
#[derive(Debug)]
pub struct AuditEvents {
    tx: SyncSender<AuditRecord>,
    stats: Arc<AuditEventStats>,
}

impl AuditEvents {
    /// Starts the thread that appends audit events through `append`.
    pub fn start(append: Append) -> std::io::Result<AuditEvents> {
        AuditEvents::with_queue(append, QUEUE)
    }

    /// [`AuditEvents::start`] with a queue of `queue` records.
    pub fn with_queue(append: Append, queue: usize) -> std::io::Result<AuditEvents> {
        let (tx, rx) = std::sync::mpsc::sync_channel(queue);
        let stats = Arc::new(AuditEventStats::default());
        let s = stats.clone();
        std::thread::Builder::new()
            .name("vigil-audit-events".into())
            .spawn(move || run(rx, &append, &s))?;
        Ok(AuditEvents { tx, stats })
    }

    /// The counters.
    pub fn stats(&self) -> Arc<AuditEventStats> {
        self.stats.clone()
    }

    /// The function for [`crate::SqlMetaStore::set_audit_mirror`].
    pub fn mirror(&self) -> AuditMirror {
        let tx = self.tx.clone();
        let stats = self.stats.clone();
        Box::new(move |r: &AuditRecord| {
            if r.action == NOT_MIRRORED {
                return;
            }
            match tx.try_send(r.clone()) {
                Ok(()) => {}
                Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                    stats.not_mirrored.fetch_add(1, Ordering::Relaxed);
                    stats.queue_full.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(action = %r.action, "audit event queue full; the record stays in the metadata store only");
                }
            }
        })
    }
}

fn run(rx: Receiver<AuditRecord>, append: &Append, stats: &AuditEventStats) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < 1000 {
            match rx.try_recv() {
                Ok(r) => batch.push(r),
                Err(_) => break,
            }
        }
        let mut tenants: Vec<(TenantId, Vec<Event>)> = Vec::new();
        for r in &batch {
            let ev = audit_event(r);
            match tenants.iter_mut().find(|(t, _)| *t == r.tenant) {
                Some((_, evs)) => evs.push(ev),
                None => tenants.push((r.tenant.clone(), vec![ev])),
            }
        }
        for (tenant, evs) in tenants {
            let n = evs.len() as u64;
            match append(&tenant, &evs) {
                Ok(()) => {
                    stats.stored.fetch_add(n, Ordering::Relaxed);
                }
                Err(e) => {
                    stats.not_mirrored.fetch_add(n, Ordering::Relaxed);
                    tracing::warn!(tenant = %tenant, records = n, error = %e, "audit events not stored; the records stay in the metadata store");
                }
            }
        }
    }
}

/// An audit record as an event of its tenant: `vigil.type: audit`, `event.action`,
/// `event.outcome`, `event.provider: vigil-core`, `user.name` (the actor), `source.ip`, the
/// target, chain position and hash, details as JSON text in `vigil.audit.details`; the raw
/// record is the record as JSON.
pub fn audit_event(r: &AuditRecord) -> Event {
    let time = Timestamp::from_millis(r.at.timestamp_millis());
    let mut ev = Event::new(Bytes::from(serde_json::to_string(r).unwrap_or_default()));
    ev.meta.id = vigil_event::new_event_id(time);
    ev.meta.tenant = SmolStr::new(r.tenant.as_str());
    ev.meta.kind = EventType::Audit;
    ev.meta.received = time;
    ev.meta.source_id = SmolStr::new_static("vigil-core");
    ev.meta.peer = r.source_ip.as_deref().and_then(|i| i.parse().ok());
    ev.timestamp = time;
    ev.event.kind = Some(SmolStr::new_static("event"));
    ev.event.category = vec![SmolStr::new_static(
        if r.action.starts_with("auth.") || r.action.starts_with("user.login") {
            "authentication"
        } else {
            "configuration"
        },
    )];
    ev.event.action = Some(SmolStr::new(&r.action));
    ev.event.outcome = Some(SmolStr::new_static(match r.outcome {
        AuditOutcome::Success => "success",
        AuditOutcome::Failure => "failure",
    }));
    ev.event.provider = Some(SmolStr::new_static("vigil-core"));
    ev.user.name = Some(SmolStr::new(&r.actor));
    ev.message = Some(SmolStr::new(format!(
        "{} by {} on {} {}: {}",
        r.action,
        r.actor,
        r.target_kind,
        r.target_id,
        r.outcome.as_str()
    )));
    if let Some(ip) = &r.source_ip {
        let _ = ev.set("source.ip", ip.as_str());
    }
    let _ = ev.set("vigil.audit.target_kind", r.target_kind.as_str());
    let _ = ev.set("vigil.audit.target_id", r.target_id.as_str());
    let _ = ev.set("vigil.audit.id", r.id.as_str());
    if let Some(seq) = r.seq {
        let _ = ev.set("vigil.audit.seq", i64::try_from(seq).unwrap_or(i64::MAX));
    }
    if let Some(h) = &r.hash {
        let _ = ev.set("vigil.audit.hash", h.as_str());
    }
    let _ = ev.set("vigil.audit.details", r.details.to_string().as_str());
    ev
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(n: u32) -> AuditRecord {
        AuditRecord {
            id: format!("r{n}"),
            tenant: TenantId::main(),
            at: chrono::Utc::now(),
            actor: "admin".into(),
            action: "user.update".into(),
            target_kind: "user".into(),
            target_id: "u1".into(),
            outcome: AuditOutcome::Success,
            source_ip: None,
            details: serde_json::Value::Null,
            seq: None,
            hash: None,
        }
    }

    /// A record that cannot be queued is counted as `queue_full`, and `/metrics` shows it.
    #[test]
    fn queue_overflow_is_counted_and_rendered() {
        // the thread's append waits until released: it holds its first batch, the queue
        // (two records) fills, the rest overflows
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let (took_tx, took_rx) = std::sync::mpsc::channel::<()>();
        let release_rx = std::sync::Mutex::new(release_rx);
        let events = AuditEvents::with_queue(
            Box::new(move |_t: &TenantId, _e: &[Event]| {
                let _ = took_tx.send(());
                let _ = release_rx.lock().map(|r| r.recv());
                Ok(())
            }),
            2,
        )
        .expect("thread");
        let mirror = events.mirror();
        mirror(&record(0));
        took_rx.recv().expect("the thread took the first record");
        for n in 1..=7 {
            mirror(&record(n));
        }
        let stats = events.stats();
        assert_eq!(stats.queue_full.load(Ordering::Relaxed), 5);
        assert_eq!(stats.not_mirrored.load(Ordering::Relaxed), 5);
        let telemetry = vigil_pipeline::Telemetry::new();
        let s = stats.clone();
        telemetry.add_collector(move |out| s.metrics(out));
        let text = telemetry.render_prometheus();
        assert!(
            text.contains("vigil_audit_events_not_mirrored_total{reason=\"queue_full\"} 5"),
            "{text}"
        );
        assert!(
            text.contains("vigil_audit_events_not_mirrored_total{reason=\"store_refused\"} 0"),
            "{text}"
        );
        drop(release_tx);
    }
}
