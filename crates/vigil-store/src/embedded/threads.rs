//! The store's background threads: the sealer, the flusher (group commit and memtable age)
//! and the maintenance loop.

use super::*;

pub(super) fn sealer(inner: &Inner, rx: &mpsc::Receiver<SealJob>) {
    while let Ok(job) = rx.recv() {
        seal_job(inner, &job);
        // The memtable's bytes are released with the job (the view dropped it when sealed).
        drop(job);
        let _g = inner.sealed_tick.0.lock();
        inner.sealed_tick.1.notify_all();
    }
}

/// Seals one frozen memtable, retrying until it succeeds or the store stops.
pub(super) fn seal_job(inner: &Inner, job: &SealJob) {
    loop {
        if inner.stop.load(Ordering::Acquire) {
            return;
        }
        match job.tenant.seal(inner, &job.frozen) {
            Ok(()) => break,
            Err(e) => {
                job.tenant
                    .counters
                    .seal_errors
                    .fetch_add(1, Ordering::Relaxed);
                error!(tenant = %job.tenant.name, error = %e, "sealing failed; the WAL keeps the events; retrying");
                *job.tenant.seal_error.lock() = Some(e.to_string());
                {
                    let _g = job.tenant.seal_done.lock();
                    job.tenant.seal_cv.notify_all();
                }
                let mut g = inner.tick.0.lock();
                if !inner.stop.load(Ordering::Acquire) {
                    inner.tick.1.wait_for(&mut g, Duration::from_millis(500));
                }
            }
        }
    }
}

pub(super) fn flusher(inner: &Inner) {
    loop {
        {
            let mut g = inner.tick.0.lock();
            if inner.stop.load(Ordering::Acquire) {
                break;
            }
            inner.tick.1.wait_for(&mut g, inner.cfg.fsync_interval);
        }
        for t in inner.partitions() {
            if let Err(e) = t.sync_now() {
                error!(tenant = %t.name, error = %e, "WAL fsync failed");
            }
            let old = {
                let v = t.view.read();
                !v.active.is_empty() && v.active.created.elapsed() >= inner.cfg.segment_max_age
            };
            if old && !inner.stop.load(Ordering::Acquire) {
                t.freeze(inner);
            }
        }
        if inner.stop.load(Ordering::Acquire) {
            break;
        }
    }
    // Last fsync on the way out (a clean drop loses nothing even on power loss).
    for t in inner.partitions() {
        let _ = t.sync_now();
    }
}

/// The maintenance thread: free-space polling (so that the store resumes without an append),
/// the retention pass every `retention_interval`, storing queued audit events.
pub(super) fn maintenance(inner: &Inner) {
    let mut tick = Duration::from_secs(1).min(inner.cfg.retention_interval);
    if let Some(every) = inner.cfg.tiers.interval {
        tick = tick.min(every);
    }
    let mut last_retention = Instant::now();
    let mut last_tiers = Instant::now();
    loop {
        {
            let mut g = inner.tick.0.lock();
            if inner.stop.load(Ordering::Acquire) {
                break;
            }
            inner.tick.1.wait_for(&mut g, tick);
        }
        if inner.stop.load(Ordering::Acquire) {
            break;
        }
        if let (_, Some(t)) = inner.disk.poll(false) {
            inner.disk_transition(t);
        }
        rekey::tick(inner);
        if last_retention.elapsed() >= inner.cfg.retention_interval {
            last_retention = Instant::now();
            if let Err(e) = retention::run(inner, inner.cfg.clock.now()) {
                warn!(error = %e, "retention pass failed; retrying at the next interval");
            }
        }
        if let Some(every) = inner.cfg.tiers.interval
            && last_tiers.elapsed() >= every
        {
            last_tiers = Instant::now();
            if let Err(e) = tier::run(inner, inner.cfg.clock.now()) {
                warn!(error = %e, "merge/tiering pass failed; retrying at the next interval");
            }
        }
        inner.drain_audit();
    }
}
