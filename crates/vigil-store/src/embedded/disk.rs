//! Full-disk protection: appends are refused while free space on the data directory's file
//! system is below a reserve, so that what was accepted is never lost to a torn write and the
//! reserve is left for sealing (which frees WAL space), retention and the audit log.
//!
//! The free space is read with `statvfs` at most every `disk_check_interval` on the append
//! path (a cached answer in between), and at once after a write failed with `ENOSPC`. The
//! transition to full logs an error, raises the `vigil_store_disk_full` gauge and writes an
//! audit record; the transition back does the same in reverse. The maintenance thread polls
//! too, so the store notices freed space without an append.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tracing::{error, info, warn};

use crate::StoreError;

/// What the last check found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct DiskState {
    pub free: u64,
    pub total: u64,
    pub reserve: u64,
    pub full: bool,
}

/// A change of state to report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transition {
    BecameFull(DiskState),
    Resumed(DiskState),
}

#[derive(Debug)]
pub(crate) struct DiskGuard {
    path: PathBuf,
    min_free_bytes: u64,
    min_free_percent: f64,
    interval: Duration,
    last: Mutex<(Option<Instant>, DiskState)>,
    full: AtomicBool,
    pub(crate) refused: AtomicU64,
}

/// Free and total bytes of the file system holding `path`, for unprivileged users.
pub(crate) fn free_space(path: &Path) -> std::io::Result<(u64, u64)> {
    let s = rustix::fs::statvfs(path).map_err(std::io::Error::from)?;
    let unit = s.f_frsize.max(1);
    Ok((
        s.f_bavail.saturating_mul(unit),
        s.f_blocks.saturating_mul(unit),
    ))
}

impl DiskGuard {
    pub(crate) fn new(
        path: &Path,
        min_free_bytes: u64,
        min_free_percent: f64,
        interval: Duration,
    ) -> DiskGuard {
        DiskGuard {
            path: path.to_owned(),
            min_free_bytes,
            min_free_percent,
            interval,
            last: Mutex::new((None, DiskState::default())),
            full: AtomicBool::new(false),
            refused: AtomicU64::new(0),
        }
    }

    /// Whether appends are being refused.
    pub(crate) fn is_full(&self) -> bool {
        self.full.load(Ordering::Relaxed)
    }

    /// The last state measured.
    pub(crate) fn state(&self) -> DiskState {
        self.last.lock().1
    }

    /// Measures now (or returns the cached state when measured less than `interval` ago and
    /// `force` is false); returns the state and a transition, if any.
    pub(crate) fn poll(&self, force: bool) -> (DiskState, Option<Transition>) {
        let mut g = self.last.lock();
        if !force
            && let Some(at) = g.0
            && at.elapsed() < self.interval
        {
            return (g.1, None);
        }
        let (free, total) = match free_space(&self.path) {
            Ok(x) => x,
            Err(e) => {
                // Cannot measure: keep the previous verdict (an error here must not stop
                // ingestion of a healthy disk, nor resume a full one).
                warn!(path = %self.path.display(), error = %e, "cannot read free disk space");
                g.0 = Some(Instant::now());
                return (g.1, None);
            }
        };
        let reserve = self
            .min_free_bytes
            .max((total as f64 * self.min_free_percent / 100.0) as u64);
        let full = free < reserve;
        let st = DiskState {
            free,
            total,
            reserve,
            full,
        };
        *g = (Some(Instant::now()), st);
        drop(g);
        let was = self.full.swap(full, Ordering::AcqRel);
        let t = match (was, full) {
            (false, true) => {
                error!(path = %self.path.display(), free, reserve,
                       "disk almost full: refusing new events until free space is above the reserve (nothing accepted is lost)");
                Some(Transition::BecameFull(st))
            }
            (true, false) => {
                info!(path = %self.path.display(), free, reserve, "free disk space is back above the reserve: accepting events again");
                Some(Transition::Resumed(st))
            }
            _ => None,
        };
        (st, t)
    }

    /// Before a WAL write: refuses when the disk is (or was just found) full.
    pub(crate) fn check(&self) -> (Result<(), StoreError>, Option<Transition>) {
        let (st, t) = self.poll(false);
        if st.full {
            self.refused.fetch_add(1, Ordering::Relaxed);
            return (Err(self.error(st)), t);
        }
        (Ok(()), t)
    }

    /// After a write failed with "no space": measure again at the next check.
    pub(crate) fn note_no_space(&self) {
        self.last.lock().0 = None;
    }

    pub(crate) fn error(&self, st: DiskState) -> StoreError {
        StoreError::DiskFull {
            path: self.path.clone(),
            free: st.free,
            reserve: st.reserve,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserve_above_free_space_refuses_then_lower_reserve_accepts() {
        let dir = tempfile::tempdir().expect("tempdir");
        let g = DiskGuard::new(dir.path(), u64::MAX / 2, 0.0, Duration::ZERO);
        let (r, t) = g.check();
        assert!(matches!(r, Err(StoreError::DiskFull { .. })), "{r:?}");
        assert!(matches!(t, Some(Transition::BecameFull(_))));
        assert!(g.is_full());
        let (r, t) = g.check();
        assert!(r.is_err());
        assert_eq!(t, None);
        let g2 = DiskGuard::new(dir.path(), 1, 0.0, Duration::ZERO);
        assert!(g2.check().0.is_ok());
        let (free, total) = free_space(dir.path()).expect("statvfs");
        assert!(free > 0 && total >= free);
    }
}
