//! Stopping a running query: cancellation, a deadline and a memory budget, shared by the caller
//! (an API handler, the CLI) and the threads that scan.
//!
//! A [`SearchControl`] is cheap to clone (one `Arc`) and is checked by the scan loops every few
//! thousand rows and by the [`crate::Executor`] as it aggregates, so a search that is cancelled,
//! runs past its deadline or holds more result bytes than its budget stops within one block of
//! work. The first reason to stop wins and every later check reports it, so all scan threads
//! stop for the same reason.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::error::QueryError;

/// Rows between two checks of a [`SearchControl`] in a tight loop: a check reads the clock,
/// so it is amortized over this many rows (a few microseconds of work at most).
pub const CHECK_EVERY: usize = 1024;

const RUNNING: u8 = 0;
const CANCELLED: u8 = 1;
const TIMED_OUT: u8 = 2;
const TOO_LARGE: u8 = 3;

/// Cancellation flag, deadline and memory budget of one query. `Default` never stops.
#[derive(Debug, Clone, Default)]
pub struct SearchControl {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    state: AtomicU8,
    /// When the query must stop, and the limit it was given (for the message).
    deadline: Option<(Instant, Duration)>,
    /// Most bytes of results and aggregation state the query may hold.
    max_bytes: usize,
    used: AtomicUsize,
}

impl Default for Inner {
    fn default() -> Self {
        Inner {
            state: AtomicU8::new(RUNNING),
            deadline: None,
            max_bytes: usize::MAX,
            used: AtomicUsize::new(0),
        }
    }
}

impl SearchControl {
    /// A control that stops after `timeout` (from now, if given) or when its budget of
    /// `max_bytes` is exceeded (if given), or when [`cancel`](Self::cancel)led.
    pub fn new(timeout: Option<Duration>, max_bytes: Option<usize>) -> Self {
        SearchControl {
            inner: Arc::new(Inner {
                deadline: timeout.map(|t| (Instant::now() + t, t)),
                max_bytes: max_bytes.unwrap_or(usize::MAX),
                ..Inner::default()
            }),
        }
    }

    /// Asks the query to stop; scan loops see it at their next check.
    pub fn cancel(&self) {
        self.stop(CANCELLED);
    }

    fn stop(&self, why: u8) {
        let _ =
            self.inner
                .state
                .compare_exchange(RUNNING, why, Ordering::AcqRel, Ordering::Acquire);
    }

    /// Whether the query was stopped (cancelled, out of time or out of memory budget); does
    /// not read the clock.
    pub fn is_stopped(&self) -> bool {
        self.inner.state.load(Ordering::Relaxed) != RUNNING
    }

    /// `Err` once the query must stop: cancelled, past its deadline, or over its budget.
    pub fn check(&self) -> Result<(), QueryError> {
        if !self.is_stopped()
            && let Some((at, _)) = self.inner.deadline
            && Instant::now() >= at
        {
            self.stop(TIMED_OUT);
        }
        match self.inner.state.load(Ordering::Acquire) {
            RUNNING => Ok(()),
            CANCELLED => Err(QueryError::Cancelled),
            TIMED_OUT => Err(QueryError::TimedOut {
                limit_ms: self.inner.deadline.map_or(0, |(_, d)| d.as_millis() as u64),
            }),
            _ => Err(QueryError::ResultTooLarge {
                limit: self.inner.max_bytes,
            }),
        }
    }

    /// Time left before the deadline (`None`: no deadline).
    pub fn remaining(&self) -> Option<Duration> {
        self.inner
            .deadline
            .map(|(at, _)| at.saturating_duration_since(Instant::now()))
    }

    /// The memory budget in bytes (`None`: unlimited).
    pub fn max_bytes(&self) -> Option<usize> {
        (self.inner.max_bytes != usize::MAX).then_some(self.inner.max_bytes)
    }

    /// Counts `bytes` more held by the query; over the budget, stops the query (every thread
    /// sees it) and fails with [`QueryError::ResultTooLarge`].
    pub fn reserve(&self, bytes: usize) -> Result<(), QueryError> {
        let used = self
            .inner
            .used
            .fetch_add(bytes, Ordering::Relaxed)
            .saturating_add(bytes);
        if used > self.inner.max_bytes {
            self.stop(TOO_LARGE);
        }
        self.check()
    }

    /// Counts `bytes` released by the query.
    pub fn release(&self, bytes: usize) {
        let _ = self
            .inner
            .used
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |u| {
                Some(u.saturating_sub(bytes))
            });
    }

    /// Bytes currently counted.
    pub fn used(&self) -> usize {
        self.inner.used.load(Ordering::Relaxed)
    }

    /// A guard that cancels the query when dropped, unless [`CancelOnDrop::disarm`]ed: held
    /// by a request handler, it stops the scan when the client goes away and the handler's
    /// future is dropped.
    pub fn cancel_on_drop(&self) -> CancelOnDrop {
        CancelOnDrop {
            ctl: Some(self.clone()),
        }
    }
}

/// Cancels its [`SearchControl`] when dropped (see [`SearchControl::cancel_on_drop`]).
#[derive(Debug)]
pub struct CancelOnDrop {
    ctl: Option<SearchControl>,
}

impl CancelOnDrop {
    /// The query finished: dropping the guard no longer cancels it.
    pub fn disarm(mut self) {
        self.ctl = None;
    }
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let Some(c) = self.ctl.take() {
            c.cancel();
        }
    }
}

/// Counts bytes locally and reserves them from a [`SearchControl`] in chunks, so hot loops
/// touch the shared counter once per [`Self::CHUNK`] bytes.
#[derive(Debug, Default)]
pub(crate) struct LocalBudget {
    pending: usize,
    reserved: usize,
}

impl LocalBudget {
    pub(crate) const CHUNK: usize = 64 * 1024;

    pub(crate) fn add(&mut self, ctl: &SearchControl, bytes: usize) -> Result<(), QueryError> {
        self.pending = self.pending.saturating_add(bytes);
        if self.pending >= Self::CHUNK {
            let n = std::mem::take(&mut self.pending);
            self.reserved = self.reserved.saturating_add(n);
            ctl.reserve(n)?;
        }
        Ok(())
    }

    /// Releases everything reserved (the state was dropped or handed over).
    pub(crate) fn release_all(&mut self, ctl: &SearchControl) {
        ctl.release(std::mem::take(&mut self.reserved));
        self.pending = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_never_stops() {
        let c = SearchControl::default();
        assert!(c.check().is_ok());
        assert!(c.reserve(usize::MAX / 2).is_ok());
        assert_eq!(c.max_bytes(), None);
        assert_eq!(c.remaining(), None);
    }

    #[test]
    fn cancel_is_seen_by_clones_and_wins() {
        let c = SearchControl::new(None, Some(10));
        let d = c.clone();
        d.cancel();
        assert!(c.is_stopped());
        assert_eq!(c.check(), Err(QueryError::Cancelled));
        // A later reason does not replace the first.
        assert_eq!(c.reserve(100), Err(QueryError::Cancelled));
    }

    #[test]
    fn deadline_stops() {
        let c = SearchControl::new(Some(Duration::ZERO), None);
        assert_eq!(c.check(), Err(QueryError::TimedOut { limit_ms: 0 }));
        assert!(c.is_stopped());
    }

    #[test]
    fn budget_counts_and_releases() {
        let c = SearchControl::new(None, Some(100));
        assert!(c.reserve(60).is_ok());
        c.release(50);
        assert!(c.reserve(80).is_ok());
        assert_eq!(c.used(), 90);
        assert_eq!(
            c.reserve(20),
            Err(QueryError::ResultTooLarge { limit: 100 })
        );
        assert!(c.is_stopped());
    }

    #[test]
    fn guard_cancels_unless_disarmed() {
        let c = SearchControl::default();
        drop(c.cancel_on_drop());
        assert_eq!(c.check(), Err(QueryError::Cancelled));
        let c = SearchControl::default();
        c.cancel_on_drop().disarm();
        assert!(c.check().is_ok());
    }

    #[test]
    fn local_budget_reserves_in_chunks() {
        let c = SearchControl::new(None, Some(LocalBudget::CHUNK * 2));
        let mut b = LocalBudget::default();
        b.add(&c, LocalBudget::CHUNK - 1).unwrap();
        assert_eq!(c.used(), 0);
        b.add(&c, 1).unwrap();
        assert_eq!(c.used(), LocalBudget::CHUNK);
        b.release_all(&c);
        assert_eq!(c.used(), 0);
        assert!(b.add(&c, LocalBudget::CHUNK * 3).is_err());
    }
}
