//! Retention: deletion by age, per storage space, on its own and audited.
//!
//! An event is *past its age* when its `@timestamp` is older than `now - retention` of its
//! space. Such events are never returned by a search or counted by an aggregation, wherever
//! they still are (memtable, WAL, a segment with younger events); files go as a whole:
//!
//! * a sealed Parquet segment (hot or cold tier, wherever a tier move or merge has put it: the
//!   partition's view holds its current path and tier) whose **newest** event is past its age
//!   is deleted: a signed `delete` entry naming its tier and file is appended to the
//!   partition's manifest and fsynced, the segment
//!   leaves the search view, the file is unlinked and its directory fsynced, and an audit
//!   record (`storage.retention.delete`) goes to `<data_dir>/audit/audit.log` and, as an event,
//!   to the tenant's store. A crash between the manifest entry and the unlink is finished at
//!   the next open (the manifest says the file is deleted);
//! * a memtable whose events are all past their age is frozen; instead of a segment, the
//!   sealer writes an `expire` manifest entry (its LSN range, accounted for without a file),
//!   deletes the WAL files it covered and audits `storage.retention.expire`.
//!
//! The background pass runs every `retention_interval` on the maintenance thread;
//! [`EmbeddedStore::run_retention`](super::EmbeddedStore::run_retention) runs one pass at a
//! given time (tests drive it with a [`ManualClock`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use tracing::{info, warn};
use vigil_event::Timestamp;

use super::{Frozen, Inner, Partition, segment};
use crate::StoreError;
use crate::audit::{
    ACTION_RETENTION_DELETE, ACTION_RETENTION_EXPIRE, ACTOR_RETENTION, AuditRecord,
};

/// Where the store reads the time for retention (injectable, so tests control it).
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// The current time.
    fn now(&self) -> Timestamp;
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// A clock that only moves when told to (tests, simulations).
#[derive(Debug)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    /// A clock standing at `t`.
    pub fn new(t: Timestamp) -> ManualClock {
        ManualClock(AtomicI64::new(t.0))
    }

    /// Sets the time.
    pub fn set(&self, t: Timestamp) {
        self.0.store(t.0, Ordering::Release);
    }

    /// Moves the time forward.
    pub fn advance(&self, d: Duration) {
        self.0.fetch_add(nanos(d), Ordering::AcqRel);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp(self.0.load(Ordering::Acquire))
    }
}

fn nanos(d: Duration) -> i64 {
    d.as_nanos().min(i64::MAX as u128) as i64
}

/// The oldest `@timestamp` still inside `retention` at `now` (`i64::MIN`: keep everything).
pub(crate) fn floor(now: Timestamp, retention: Option<Duration>) -> i64 {
    match retention {
        None => i64::MIN,
        Some(d) => now.0.saturating_sub(nanos(d)),
    }
}

/// What one retention pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetentionReport {
    /// Segment files deleted (both tiers).
    pub segments_deleted: u64,
    /// Events in them.
    pub events_deleted: u64,
    /// Their bytes.
    pub bytes_deleted: u64,
    /// Memtables dropped instead of sealed because all their events were past their age.
    pub memtables_expired: u64,
}

impl Partition {
    /// The oldest `@timestamp` this partition still returns at `now`.
    pub(crate) fn retention_floor(&self, now: Timestamp) -> i64 {
        floor(now, self.retention())
    }

    fn audit_base(&self, action: &str, now: Timestamp) -> AuditRecord {
        let mut r = AuditRecord::new(now, ACTOR_RETENTION, action);
        r.tenant = Some(self.name.to_string());
        r.space = Some(self.space.name.to_string());
        r
    }

    /// One retention pass over this partition at `now`.
    pub(crate) fn apply_retention(
        self: &Arc<Self>,
        inner: &Inner,
        now: Timestamp,
        rep: &mut RetentionReport,
    ) -> Result<(), StoreError> {
        if self.retention().is_none() {
            return Ok(());
        }
        // Not while a merge, tier move or re-encryption rewrites a file of this partition.
        let _one = self.maint.lock();
        let floor = self.retention_floor(now);
        let expired: Vec<_> = self
            .view
            .read()
            .segments
            .iter()
            .filter(|s| s.events == 0 || s.max_ts < floor)
            .cloned()
            .collect();
        for seg in expired {
            let name = seg
                .path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            {
                let mut m = self.manifest.lock();
                if !m.is_deleted(seg.tier, &name)
                    && let Err(e) = m.record_delete(&inner.signer, seg.tier, &name)
                {
                    warn!(tenant = %self.name, space = %self.space.name, file = %name, error = %e,
                          "segment past retention is not in the manifest; left in place (vigil storage verify reports it)");
                    continue;
                }
            }
            self.view.write().segments.retain(|s| !Arc::ptr_eq(s, &seg));
            remove_and_sync(&seg.path)?;
            rep.segments_deleted += 1;
            rep.events_deleted += seg.events;
            rep.bytes_deleted += seg.file_len;
            self.counters
                .retention_segments
                .fetch_add(1, Ordering::Relaxed);
            self.counters
                .retention_events
                .fetch_add(seg.events, Ordering::Relaxed);
            info!(tenant = %self.name, space = %self.space.name, file = %name, events = seg.events,
                  "retention deleted a segment past its age");
            let mut r = self.audit_base(ACTION_RETENTION_DELETE, now);
            r.file = Some(name);
            r.events = Some(seg.events);
            if seg.events > 0 {
                r.from = Some(Timestamp(seg.min_ts).to_rfc3339());
                r.to = Some(Timestamp(seg.max_ts).to_rfc3339());
            }
            r.detail = Some(format!(
                "newest event older than the space's retention of {}",
                humanize(self.retention())
            ));
            inner.audit(Some(&self.name), r);
        }
        let all_past = {
            let v = self.view.read();
            memtable_max_ts(&v.active).is_some_and(|t| t < floor)
        };
        if all_past {
            self.freeze(inner);
        }
        Ok(())
    }

    /// At seal time: a frozen memtable whose events are all past their age is accounted for
    /// in the manifest (`expire`) instead of being written; its WAL files go. Returns whether
    /// it was dropped.
    pub(crate) fn expire_frozen(
        &self,
        inner: &Inner,
        frozen: &Arc<Frozen>,
    ) -> Result<bool, StoreError> {
        if self.retention().is_none() {
            return Ok(false);
        }
        let now = inner.cfg.clock.now();
        let floor = self.retention_floor(now);
        let blocks = frozen.blocks.iter().filter(|b| b.len() > 0);
        let (Some(max_ts), Some(min_ts)) = (
            blocks.clone().map(|b| b.max_ts).max(),
            blocks.map(|b| b.min_ts).min(),
        ) else {
            return Ok(false);
        };
        if max_ts >= floor {
            return Ok(false);
        }
        let name = segment::file_name(frozen.first_lsn, frozen.last_lsn);
        self.manifest.lock().record_expire(
            &inner.signer,
            name.clone(),
            frozen.first_lsn,
            frozen.last_lsn,
            frozen.events as u64,
        )?;
        if !inner.faults.keep_wal_after_seal.load(Ordering::Relaxed) {
            self.delete_covered_wal(frozen.last_lsn)?;
        }
        // Audited before the memtable leaves the view: whoever waits for it sees the record.
        info!(tenant = %self.name, space = %self.space.name, events = frozen.events,
              first_lsn = frozen.first_lsn, last_lsn = frozen.last_lsn,
              "retention dropped a memtable past its age instead of sealing it");
        let mut r = self.audit_base(ACTION_RETENTION_EXPIRE, now);
        r.file = Some(name);
        r.events = Some(frozen.events as u64);
        r.from = Some(Timestamp(min_ts).to_rfc3339());
        r.to = Some(Timestamp(max_ts).to_rfc3339());
        r.detail = Some(format!(
            "events past the space's retention of {} dropped before sealing (LSN {}-{})",
            humanize(self.retention()),
            frozen.first_lsn,
            frozen.last_lsn
        ));
        inner.audit(Some(&self.name), r);
        self.counters
            .retention_events
            .fetch_add(frozen.events as u64, Ordering::Relaxed);
        self.counters
            .retention_memtables
            .fetch_add(1, Ordering::Relaxed);
        {
            let mut v = self.view.write();
            v.frozen.retain(|f| !Arc::ptr_eq(f, frozen));
            v.sealed_lsn = v.sealed_lsn.max(frozen.last_lsn);
        }
        {
            let _g = self.seal_done.lock();
            self.seal_cv.notify_all();
        }
        Ok(true)
    }

    /// Waits until no frozen memtable is waiting to be sealed (or expired).
    pub(crate) fn wait_sealed(&self, inner: &Inner) -> Result<(), StoreError> {
        self.wait_frozen_below(inner, 1)
    }

    /// Waits until fewer than `limit` frozen memtables wait to be sealed; fails when sealing
    /// fails or the store closes meanwhile.
    pub(crate) fn wait_frozen_below(&self, inner: &Inner, limit: usize) -> Result<(), StoreError> {
        loop {
            if self.view.read().frozen.len() < limit {
                return Ok(());
            }
            if let Some(e) = self.seal_error.lock().clone() {
                return Err(self.failed_err(&format!("sealing is failing: {e}")));
            }
            if inner.stop.load(Ordering::Acquire) {
                return Err(StoreError::Closed);
            }
            let mut g = self.seal_done.lock();
            self.seal_cv.wait_for(&mut g, Duration::from_millis(50));
        }
    }
}

/// The newest `@timestamp` in a memtable, `None` when it is empty.
fn memtable_max_ts(m: &super::memtable::Memtable) -> Option<i64> {
    let open = (m.open.len() > 0).then_some(m.open.max_ts);
    m.blocks
        .iter()
        .filter(|b| b.len() > 0)
        .map(|b| b.max_ts)
        .chain(open)
        .max()
}

fn remove_and_sync(path: &std::path::Path) -> Result<(), StoreError> {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(StoreError::io("delete segment", path, e)),
    }
    if let Some(dir) = path.parent() {
        segment::sync_dir(dir)?;
    }
    Ok(())
}

pub(crate) fn humanize(d: Option<Duration>) -> String {
    match d {
        None => "forever".into(),
        Some(d) => {
            let s = d.as_secs();
            if s > 0 && s % 86_400 == 0 {
                format!("{}d", s / 86_400)
            } else if s > 0 && s % 3600 == 0 {
                format!("{}h", s / 3600)
            } else if s > 0 && s % 60 == 0 {
                format!("{}m", s / 60)
            } else {
                format!("{:?}", d)
            }
        }
    }
}

/// One pass over every partition of every tenant, then the audit events are stored.
pub(crate) fn run(inner: &Inner, now: Timestamp) -> Result<RetentionReport, StoreError> {
    let mut rep = RetentionReport::default();
    let mut first_err = None;
    let expired = |inner: &Inner| -> u64 {
        inner
            .partitions()
            .iter()
            .map(|p| p.counters.retention_memtables.load(Ordering::Relaxed))
            .sum()
    };
    let before = expired(inner);
    for p in inner.partitions() {
        if let Err(e) = p.apply_retention(inner, now, &mut rep) {
            warn!(tenant = %p.name, space = %p.space.name, error = %e, "retention pass failed for a space");
            first_err.get_or_insert(e);
        }
    }
    // Memtables frozen because they were past their age: let the sealer account for them.
    for p in inner.partitions() {
        if let Err(e) = p.wait_sealed(inner) {
            first_err.get_or_insert(e);
        }
    }
    rep.memtables_expired = expired(inner) - before;
    inner.drain_audit();
    match first_err {
        Some(e) => Err(e),
        None => Ok(rep),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floor_saturates_and_none_keeps_everything() {
        assert_eq!(floor(Timestamp(100), None), i64::MIN);
        assert_eq!(
            floor(Timestamp(10_000_000_000), Some(Duration::from_secs(1))),
            9_000_000_000
        );
        assert_eq!(
            floor(Timestamp(i64::MIN + 5), Some(Duration::from_secs(1))),
            i64::MIN
        );
        let c = ManualClock::new(Timestamp(0));
        c.advance(Duration::from_secs(3600));
        assert_eq!(c.now(), Timestamp(3_600_000_000_000));
        assert_eq!(humanize(Some(Duration::from_secs(7200))), "2h");
    }
}
