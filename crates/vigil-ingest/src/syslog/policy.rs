//! The connection policy of the TCP and TLS listeners: who gets a slot, who loses one.
//!
//! A SIEM's syslog port faces every host that can reach it, so a slot must not be something a
//! client can hold without sending data. The policy, per connector (the TCP and TLS listeners
//! share the slots):
//!
//! - at most `max_connections` connections and at most `max_connections_per_ip` from one
//!   source address (IPv4-mapped IPv6 addresses count as their IPv4 address);
//! - a new connection is always admitted: when its source address is at its limit, that
//!   address's longest-idle connection is closed to make room (`evicted_per_ip`); when the
//!   connector is full, the longest-idle connection of all is (`evicted`). Connections that
//!   have never delivered a complete frame go first, the longest-open of them first; then the
//!   one whose last complete frame is oldest. So a client that holds a connection open
//!   without sending, or drips bytes that never finish a frame, is the first to go, and a
//!   sender that delivers lines the last, even when a flood of new connections arrives
//!   between two of its lines (found by `bench/soak.py --hostile`: with idleness alone, the
//!   flood's fresh connections outranked real senders between lines). One address can
//!   therefore never push out more than its own connections once it is at its limit;
//! - the deadlines of each connection (in [`super::stream`]): `idle_timeout` after the last
//!   complete frame, not restarted by bytes of an unfinished one, and `frame_timeout` for a
//!   frame that has begun to arrive.
//!
//! Slots are counted at admission and handed over at once on eviction, so the evicted
//! connection's socket may outlive its slot while it closes gracefully: its write side is shut
//! down and what the sender sends until it closes its side is still read and delivered, for
//! at most a second (`EVICTED_DRAIN` in [`super::stream`]), so no complete line that a sender
//! wrote before it saw the close is lost.
//!
//! The bookkeeping is one mutex around a map, taken once per accept and once per close;
//! finding the victim is a scan of the open connections, done only when a limit is reached.
//! The hot path (a read that completes frames) is one relaxed atomic store.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

/// Why a connection was closed to admit a new one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Eviction {
    /// The connector was full: the longest-idle connection of all.
    Full,
    /// The new connection's source address was at `max_connections_per_ip`: that address's
    /// longest-idle connection.
    PerIp,
}

impl Eviction {
    /// The error reason it is counted under.
    pub(super) fn reason(self) -> &'static str {
        match self {
            Eviction::Full => "evicted",
            Eviction::PerIp => "evicted_per_ip",
        }
    }
}

/// Set in `last_frame` once a connection has delivered a complete frame: eviction takes the
/// smallest value, so connections that never delivered one (flag clear, accept time) come
/// before every sender (flag set, time of its last frame).
const DELIVERED: u64 = 1 << 63;

/// What a connection shares with the registry.
#[derive(Debug)]
struct Entry {
    ip: IpAddr,
    /// Milliseconds since the registry's epoch at the accept, or [`DELIVERED`] | the
    /// milliseconds at the last complete frame.
    last_frame: Arc<AtomicU64>,
    evict: CancellationToken,
}

#[derive(Debug, Default)]
struct Inner {
    next_id: u64,
    conns: HashMap<u64, Entry>,
    per_ip: HashMap<IpAddr, usize>,
}

/// The open connections of one connector and its limits.
#[derive(Debug)]
pub(super) struct Connections {
    inner: Mutex<Inner>,
    max_total: usize,
    max_per_ip: usize,
    epoch: Instant,
    gauge: Arc<AtomicI64>,
}

/// An admitted connection's slot: released when dropped (unless it was evicted, which
/// released it already).
#[derive(Debug)]
pub(super) struct Slot {
    registry: Arc<Connections>,
    id: u64,
    last_frame: Arc<AtomicU64>,
    evict: CancellationToken,
}

/// The result of an admission: the new slot, and the connection closed to make room if any.
#[derive(Debug)]
pub(super) struct Admitted {
    pub(super) slot: Slot,
    pub(super) evicted: Option<Eviction>,
}

impl Connections {
    /// A registry for `max_total` connections, `max_per_ip` per source address (both at least
    /// 1; `max_per_ip` above `max_total` acts as `max_total`). `gauge` follows the count.
    pub(super) fn new(max_total: usize, max_per_ip: usize, gauge: Arc<AtomicI64>) -> Connections {
        let max_total = max_total.max(1);
        Connections {
            inner: Mutex::new(Inner::default()),
            max_total,
            max_per_ip: max_per_ip.clamp(1, max_total),
            epoch: Instant::now(),
            gauge,
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Admits a connection from `ip`, first closing the longest-idle connection of `ip` when
    /// it is at its limit, or of all when the connector is full.
    pub(super) fn admit(self: &Arc<Self>, ip: IpAddr) -> Admitted {
        let ip = ip.to_canonical();
        let now = self.now_ms();
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let from_ip = inner.per_ip.get(&ip).copied().unwrap_or(0);
        // (a per-address limit as large as the total is no limit of its own)
        let evicted = if from_ip >= self.max_per_ip && self.max_per_ip < self.max_total {
            inner.evict_idlest(Some(ip)).then_some(Eviction::PerIp)
        } else if inner.conns.len() >= self.max_total {
            inner.evict_idlest(None).then_some(Eviction::Full)
        } else {
            None
        };
        let id = inner.next_id;
        inner.next_id += 1;
        let last_frame = Arc::new(AtomicU64::new(now));
        let evict = CancellationToken::new();
        inner.conns.insert(
            id,
            Entry {
                ip,
                last_frame: last_frame.clone(),
                evict: evict.clone(),
            },
        );
        *inner.per_ip.entry(ip).or_default() += 1;
        self.gauge
            .store(count_i64(inner.conns.len()), Ordering::Relaxed);
        drop(inner);
        Admitted {
            slot: Slot {
                registry: self.clone(),
                id,
                last_frame,
                evict,
            },
            evicted,
        }
    }

    /// Tells every admitted connection to stop (shutdown): each waits on its own eviction
    /// token only, rather than on the connector-wide shutdown signal too (a wait on one shared
    /// channel, registered by every connection at every read), and tells the two apart by the
    /// shutdown signal's state.
    pub(super) fn cancel_all(&self) {
        let inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        for e in inner.conns.values() {
            e.evict.cancel();
        }
    }

    fn release(&self, id: u64) {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner.remove(id);
        self.gauge
            .store(count_i64(inner.conns.len()), Ordering::Relaxed);
    }
}

fn count_i64(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl Inner {
    fn remove(&mut self, id: u64) -> Option<Entry> {
        let entry = self.conns.remove(&id)?;
        if let Some(n) = self.per_ip.get_mut(&entry.ip) {
            *n -= 1;
            if *n == 0 {
                self.per_ip.remove(&entry.ip);
            }
        }
        Some(entry)
    }

    /// Closes the connection (of `ip`, or of any address) that never delivered a frame and was
    /// accepted first, else the one with the oldest last frame; the older connection on a tie.
    /// `false` when there is none.
    fn evict_idlest(&mut self, ip: Option<IpAddr>) -> bool {
        let victim = self
            .conns
            .iter()
            .filter(|(_, e)| ip.is_none_or(|ip| e.ip == ip))
            .min_by_key(|(id, e)| (e.last_frame.load(Ordering::Relaxed), **id))
            .map(|(id, _)| *id);
        match victim.and_then(|id| self.remove(id)) {
            Some(entry) => {
                entry.evict.cancel();
                true
            }
            None => false,
        }
    }
}

impl Slot {
    /// Records that the connection just delivered a complete frame.
    pub(super) fn frame_delivered(&self) {
        self.last_frame
            .store(self.registry.now_ms() | DELIVERED, Ordering::Relaxed);
    }

    /// Completes when the connection has been evicted to make room for another.
    pub(super) async fn evicted(&self) {
        self.evict.cancelled().await;
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.registry.release(self.id);
    }
}

/// How often a throttled log message may be written.
const LOG_EVERY: Duration = Duration::from_secs(10);

/// Rate limit for one kind of log message: the first occurrence is logged, then at most one
/// every [`LOG_EVERY`], with the number of occurrences not logged in between. Under attack the
/// counters tell the full story; the log only says that it is happening.
#[derive(Debug, Default)]
pub(super) struct LogThrottle {
    state: Mutex<(Option<Instant>, u64)>,
}

impl LogThrottle {
    /// `Some(suppressed)` when a message may be written now (`suppressed` were not written
    /// since the last one); `None` when this one is to be skipped.
    pub(super) fn allow(&self) -> Option<u64> {
        self.allow_at(Instant::now())
    }

    fn allow_at(&self, now: Instant) -> Option<u64> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let (last, suppressed) = &mut *state;
        match last {
            Some(t) if now.saturating_duration_since(*t) < LOG_EVERY => {
                *suppressed += 1;
                None
            }
            _ => {
                *last = Some(now);
                Some(std::mem::take(suppressed))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or_else(|_| IpAddr::from([0, 0, 0, 0]))
    }

    fn registry(total: usize, per_ip: usize) -> (Arc<Connections>, Arc<AtomicI64>) {
        let gauge = Arc::new(AtomicI64::new(0));
        (
            Arc::new(Connections::new(total, per_ip, gauge.clone())),
            gauge,
        )
    }

    /// Shutdown reaches every connection through its own slot (issue 11: connections wait on
    /// their slot only, not on the shared shutdown signal at every read).
    #[test]
    fn cancel_all_tells_every_connection_to_stop_and_keeps_the_count() {
        let (r, gauge) = registry(4, 4);
        let a = r.admit(ip("10.0.0.1"));
        let b = r.admit(ip("10.0.0.2"));
        r.cancel_all();
        assert!(a.slot.evict.is_cancelled() && b.slot.evict.is_cancelled());
        assert_eq!(gauge.load(Ordering::Relaxed), 2);
        drop(a);
        drop(b);
        assert_eq!(gauge.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn admits_up_to_the_limits_without_evicting() {
        let (r, gauge) = registry(4, 2);
        let a = r.admit(ip("10.0.0.1"));
        let b = r.admit(ip("10.0.0.1"));
        let c = r.admit(ip("10.0.0.2"));
        assert!(a.evicted.is_none() && b.evicted.is_none() && c.evicted.is_none());
        assert_eq!(gauge.load(Ordering::Relaxed), 3);
        drop(a);
        assert_eq!(gauge.load(Ordering::Relaxed), 2);
        assert!(!b.slot.evict.is_cancelled() && !c.slot.evict.is_cancelled());
    }

    #[test]
    fn a_full_connector_evicts_the_connection_idle_longest() {
        let (r, gauge) = registry(3, 3);
        let old = r.admit(ip("10.0.0.1"));
        let busy = r.admit(ip("10.0.0.2"));
        let quiet = r.admit(ip("10.0.0.3"));
        // `busy` delivers frames later than the others were accepted
        busy.slot.last_frame.store(u64::MAX / 2, Ordering::Relaxed);
        quiet.slot.last_frame.store(0, Ordering::Relaxed);
        old.slot.last_frame.store(0, Ordering::Relaxed);
        let new = r.admit(ip("10.0.0.4"));
        assert_eq!(new.evicted, Some(Eviction::Full));
        // equal idle times: the older connection goes
        assert!(old.slot.evict.is_cancelled());
        assert!(!quiet.slot.evict.is_cancelled() && !busy.slot.evict.is_cancelled());
        assert_eq!(gauge.load(Ordering::Relaxed), 3);
        // the evicted slot was handed over: dropping it later changes nothing
        drop(old);
        assert_eq!(gauge.load(Ordering::Relaxed), 3);
        // `quiet` (0) is idler than `new` (admitted at or after 0, and younger on a tie)
        let next = r.admit(ip("10.0.0.5"));
        assert_eq!(next.evicted, Some(Eviction::Full));
        assert!(quiet.slot.evict.is_cancelled());
        assert!(!busy.slot.evict.is_cancelled() && !new.slot.evict.is_cancelled());
    }

    #[test]
    fn an_address_at_its_limit_only_evicts_its_own_connections() {
        let (r, _) = registry(10, 2);
        let other = r.admit(ip("10.0.0.9"));
        other.slot.last_frame.store(0, Ordering::Relaxed);
        let first = r.admit(ip("10.0.0.1"));
        let second = r.admit(ip("10.0.0.1"));
        second.slot.frame_delivered();
        first.slot.last_frame.store(0, Ordering::Relaxed);
        let third = r.admit(ip("10.0.0.1"));
        assert_eq!(third.evicted, Some(Eviction::PerIp));
        assert!(first.slot.evict.is_cancelled());
        assert!(!second.slot.evict.is_cancelled() && !other.slot.evict.is_cancelled());
    }

    #[test]
    fn connections_without_a_frame_go_before_senders_between_lines() {
        let (r, _) = registry(3, 3);
        let sender = r.admit(ip("10.0.0.1"));
        sender.slot.frame_delivered();
        // the sender's last line is older than the silent connection's accept
        sender.slot.last_frame.store(DELIVERED, Ordering::Relaxed);
        let silent = r.admit(ip("10.0.0.2"));
        silent.slot.last_frame.store(1_000, Ordering::Relaxed);
        let silent_later = r.admit(ip("10.0.0.3"));
        silent_later.slot.last_frame.store(2_000, Ordering::Relaxed);
        let new = r.admit(ip("10.0.0.4"));
        assert_eq!(new.evicted, Some(Eviction::Full));
        assert!(silent.slot.evict.is_cancelled());
        assert!(!sender.slot.evict.is_cancelled() && !silent_later.slot.evict.is_cancelled());
        // then the next silent one (`new` accepted after it), still not the sender
        new.slot.last_frame.store(3_000, Ordering::Relaxed);
        let next = r.admit(ip("10.0.0.5"));
        assert_eq!(next.evicted, Some(Eviction::Full));
        assert!(silent_later.slot.evict.is_cancelled());
        assert!(!sender.slot.evict.is_cancelled());
    }

    #[test]
    fn ipv4_mapped_ipv6_counts_as_ipv4() {
        let (r, _) = registry(10, 1);
        let a = r.admit(ip("10.0.0.1"));
        let b = r.admit(ip("::ffff:10.0.0.1"));
        assert_eq!(b.evicted, Some(Eviction::PerIp));
        assert!(a.slot.evict.is_cancelled());
    }

    #[test]
    fn per_ip_limit_above_the_total_acts_as_the_total() {
        let (r, _) = registry(2, 100);
        let _a = r.admit(ip("10.0.0.1"));
        let _b = r.admit(ip("10.0.0.1"));
        let c = r.admit(ip("10.0.0.1"));
        assert_eq!(c.evicted, Some(Eviction::Full));
    }

    #[test]
    fn log_throttle_lets_one_message_through_per_window_and_counts_the_rest() {
        let t = LogThrottle::default();
        let start = Instant::now();
        assert_eq!(t.allow_at(start), Some(0));
        assert_eq!(t.allow_at(start + Duration::from_secs(1)), None);
        assert_eq!(t.allow_at(start + Duration::from_secs(2)), None);
        assert_eq!(
            t.allow_at(start + LOG_EVERY + Duration::from_secs(1)),
            Some(2)
        );
        assert_eq!(t.allow_at(start + LOG_EVERY + Duration::from_secs(2)), None);
    }
}
