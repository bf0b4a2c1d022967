//! The process's file-descriptor budget for network connections, shared by every listener.
//!
//! A flood of connections must never take the descriptors the store needs to open segments and
//! fsync them. `vigil up` raises its soft `RLIMIT_NOFILE` at start and calls [`configure`] with
//! the limit; from then on every listener (the API, the syslog TCP/TLS listeners) takes a
//! [`ConnectionPermit`] from [`ConnectionBudget::global`] for each accepted connection and
//! closes the connection at once when there is none. The permit gives its slot back when it is
//! dropped, so holding it for the connection's life is all a listener does.
//!
//! The budget is `limit - reserve`: [`reserve_for`] keeps a quarter of the limit (at least 256,
//! at most 8,192 descriptors) for the store, the rule files, the log and the listening sockets
//! themselves. Until [`configure`] is called the budget is unlimited (tools, tests), and a
//! listener's own `max_connections` is its only cap.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

/// How many descriptors are kept out of the connection budget for a soft limit of `limit`:
/// a quarter, at least 256 and at most 8,192, and never more than half of a very small limit.
pub fn reserve_for(limit: u64) -> u64 {
    (limit / 4).clamp(256, 8192).min(limit / 2)
}

/// The figures [`configure`] settled on, for the start-up log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DescriptorBudget {
    /// The soft `RLIMIT_NOFILE` of the process.
    pub limit: u64,
    /// Descriptors kept for everything but network connections.
    pub reserve: u64,
    /// Connections all listeners together may hold: `limit - reserve`.
    pub connections: usize,
}

/// Sets the global connection budget from the process's descriptor limit and returns it.
pub fn configure(limit: u64) -> DescriptorBudget {
    let reserve = reserve_for(limit);
    let connections = usize::try_from(limit.saturating_sub(reserve)).unwrap_or(usize::MAX);
    ConnectionBudget::global().set_max(connections);
    DescriptorBudget {
        limit,
        reserve,
        connections,
    }
}

/// A count of open connections against a maximum; [`ConnectionBudget::global`] is the one
/// every listener of the process shares.
#[derive(Debug)]
pub struct ConnectionBudget {
    max: AtomicUsize,
    in_use: AtomicUsize,
}

impl ConnectionBudget {
    /// A budget of `max` connections (`usize::MAX`: unlimited).
    pub fn new(max: usize) -> Arc<ConnectionBudget> {
        Arc::new(ConnectionBudget {
            max: AtomicUsize::new(max),
            in_use: AtomicUsize::new(0),
        })
    }

    /// The process-wide budget (unlimited until [`configure`] is called).
    pub fn global() -> Arc<ConnectionBudget> {
        static GLOBAL: OnceLock<Arc<ConnectionBudget>> = OnceLock::new();
        GLOBAL
            .get_or_init(|| ConnectionBudget::new(usize::MAX))
            .clone()
    }

    /// Changes the maximum; connections already held keep their permits.
    pub fn set_max(&self, max: usize) {
        self.max.store(max, Ordering::Relaxed);
    }

    /// The maximum.
    pub fn max(&self) -> usize {
        self.max.load(Ordering::Relaxed)
    }

    /// Connections holding a permit now.
    pub fn in_use(&self) -> usize {
        self.in_use.load(Ordering::Relaxed)
    }

    /// A permit for one more connection, or `None` when the budget is spent (close the
    /// connection and count it refused).
    pub fn try_acquire(self: &Arc<Self>) -> Option<ConnectionPermit> {
        let max = self.max();
        self.in_use
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()
            .map(|_| ConnectionPermit {
                budget: self.clone(),
            })
    }
}

/// One connection's share of a [`ConnectionBudget`], given back when dropped.
#[derive(Debug)]
pub struct ConnectionPermit {
    budget: Arc<ConnectionBudget>,
}

impl Drop for ConnectionPermit {
    fn drop(&mut self) {
        self.budget.in_use.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permits_stop_at_the_maximum_and_come_back_when_dropped() {
        let b = ConnectionBudget::new(2);
        let p1 = b.try_acquire();
        let p2 = b.try_acquire();
        assert!(p1.is_some() && p2.is_some());
        assert!(b.try_acquire().is_none());
        assert_eq!(b.in_use(), 2);
        drop(p1);
        assert_eq!(b.in_use(), 1);
        let p3 = b.try_acquire();
        assert!(p3.is_some());
        b.set_max(1);
        drop(p2);
        assert!(b.try_acquire().is_none(), "lowered maximum holds");
        drop(p3);
        assert!(b.try_acquire().is_some());
    }

    #[test]
    fn reserve_keeps_a_quarter_within_bounds() {
        assert_eq!(reserve_for(1024), 256);
        assert_eq!(reserve_for(20_000), 5000);
        assert_eq!(reserve_for(1 << 20), 8192);
        assert_eq!(
            reserve_for(256),
            128,
            "never more than half of a tiny limit"
        );
        assert_eq!(reserve_for(0), 0);
    }
}
