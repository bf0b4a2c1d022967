//! Failed authentications: counted, logged at a bounded rate, and throttled per client.
//!
//! A wrong or missing token is answered 401 and recorded against the client's address (IPv4,
//! or the /64 prefix of an IPv6 address: one host holds a whole /64). After
//! [`AuthPolicy::max_failures`] within [`AuthPolicy::failure_window`] the address is locked out
//! for [`AuthPolicy::lockout`]: its requests are answered 429 with `Retry-After` before the
//! token is even looked at, so guessing costs the guesser, not the server.
//!
//! Logging is per address and at most one line per [`AuthPolicy::log_interval`], carrying the
//! count since the previous line: 7,000 wrong tokens make one line, not 7,000, and a flood
//! cannot fill the disk through the log. The presented token is never logged. A lockout adds
//! its own line when it begins (at most once per lockout).
//!
//! The table of addresses is bounded ([`MAX_TRACKED`]); entries whose window and lockout are
//! over are pruned when it fills. When every slot holds a live entry, a new address is counted
//! in the metrics but not tracked until slots free up.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// Most client addresses tracked at once.
pub const MAX_TRACKED: usize = 65_536;

/// How failed authentications are throttled and logged.
#[derive(Debug, Clone, PartialEq)]
pub struct AuthPolicy {
    /// Failures within `failure_window` that lock an address out.
    pub max_failures: u32,
    /// The window failures are counted in.
    pub failure_window: Duration,
    /// How long a lockout lasts.
    pub lockout: Duration,
    /// At most one log line per address and interval.
    pub log_interval: Duration,
}

impl Default for AuthPolicy {
    fn default() -> Self {
        AuthPolicy {
            max_failures: 10,
            failure_window: Duration::from_secs(60),
            lockout: Duration::from_secs(300),
            log_interval: Duration::from_secs(60),
        }
    }
}

/// Why an authentication failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// No `Authorization: Bearer` header.
    Missing,
    /// A token that is not the configured one.
    Invalid,
}

impl Failure {
    /// The reason as counted in the metrics (`auth_missing`, `auth_invalid`).
    pub fn reason(self) -> &'static str {
        match self {
            Failure::Missing => "auth_missing",
            Failure::Invalid => "auth_invalid",
        }
    }
}

/// What the caller should log after recording a failure or a refusal.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LogLines {
    /// Failed authentications and throttled requests since this address's last line, when a
    /// line is due: `(failures, throttled)`.
    pub summary: Option<(u64, u64)>,
    /// The address has just been locked out (log once).
    pub locked_out: bool,
}

#[derive(Debug)]
struct Entry {
    window_start: Instant,
    failures: u32,
    locked_until: Option<Instant>,
    last_line: Option<Instant>,
    unlogged_failures: u64,
    unlogged_throttled: u64,
}

impl Entry {
    fn new(now: Instant) -> Entry {
        Entry {
            window_start: now,
            failures: 0,
            locked_until: None,
            last_line: None,
            unlogged_failures: 0,
            unlogged_throttled: 0,
        }
    }

    /// Whether a line is due, and if so takes the counts.
    fn take_line(&mut self, now: Instant, interval: Duration) -> Option<(u64, u64)> {
        let due = self
            .last_line
            .is_none_or(|t| now.saturating_duration_since(t) >= interval);
        if !due || (self.unlogged_failures == 0 && self.unlogged_throttled == 0) {
            return None;
        }
        self.last_line = Some(now);
        Some((
            std::mem::take(&mut self.unlogged_failures),
            std::mem::take(&mut self.unlogged_throttled),
        ))
    }

    /// Whether the entry still matters at `now` (window, lockout or log interval running).
    fn live(&self, now: Instant, p: &AuthPolicy) -> bool {
        self.locked_until.is_some_and(|t| t > now)
            || now.saturating_duration_since(self.window_start) < p.failure_window
            || self
                .last_line
                .is_some_and(|t| now.saturating_duration_since(t) < p.log_interval)
    }
}

/// The per-address failure table.
#[derive(Debug)]
pub struct AuthGuard {
    policy: AuthPolicy,
    table: Mutex<HashMap<IpAddr, Entry>>,
    capacity: usize,
}

/// The key an address is tracked under: IPv4 as is (also when mapped into IPv6), IPv6 by its
/// /64 prefix.
pub fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

impl AuthGuard {
    /// A guard with `policy`.
    pub fn new(policy: AuthPolicy) -> AuthGuard {
        AuthGuard::with_capacity(policy, MAX_TRACKED)
    }

    fn with_capacity(policy: AuthPolicy, capacity: usize) -> AuthGuard {
        AuthGuard {
            policy,
            table: Mutex::new(HashMap::new()),
            capacity,
        }
    }

    /// The policy.
    pub fn policy(&self) -> &AuthPolicy {
        &self.policy
    }

    /// `Some(retry_after)` when `ip` is locked out at `now`; the refusal is counted towards the
    /// address's next log line.
    pub fn locked(&self, ip: IpAddr, now: Instant) -> Option<(Duration, LogLines)> {
        let mut table = self.table.lock();
        let e = table.get_mut(&client_key(ip))?;
        let until = e.locked_until.filter(|t| *t > now)?;
        e.unlogged_throttled += 1;
        let summary = e.take_line(now, self.policy.log_interval);
        Some((
            until - now,
            LogLines {
                summary,
                locked_out: false,
            },
        ))
    }

    /// Records a failed authentication from `ip` at `now`.
    pub fn failure(&self, ip: IpAddr, now: Instant) -> LogLines {
        let key = client_key(ip);
        let p = &self.policy;
        let mut table = self.table.lock();
        if !table.contains_key(&key) && table.len() >= self.capacity {
            table.retain(|_, e| e.live(now, p));
            if table.len() >= self.capacity {
                return LogLines::default();
            }
        }
        let e = table.entry(key).or_insert_with(|| Entry::new(now));
        if now.saturating_duration_since(e.window_start) >= p.failure_window {
            e.window_start = now;
            e.failures = 0;
        }
        e.failures = e.failures.saturating_add(1);
        e.unlogged_failures += 1;
        let mut lines = LogLines::default();
        if e.failures >= p.max_failures && e.locked_until.is_none_or(|t| t <= now) {
            e.locked_until = Some(now + p.lockout);
            // a new window starts after the lockout
            e.window_start = now + p.lockout;
            e.failures = 0;
            lines.locked_out = true;
        }
        lines.summary = e.take_line(now, p.log_interval);
        lines
    }

    /// Addresses tracked now.
    #[cfg(test)]
    pub fn tracked(&self) -> usize {
        self.table.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> AuthPolicy {
        AuthPolicy {
            max_failures: 3,
            failure_window: Duration::from_secs(60),
            lockout: Duration::from_secs(120),
            log_interval: Duration::from_secs(30),
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn lockout_after_max_failures_within_the_window_then_it_expires() {
        let g = AuthGuard::new(policy());
        let t0 = Instant::now();
        let a = ip("192.0.2.1");
        assert!(g.locked(a, t0).is_none());
        assert!(!g.failure(a, t0).locked_out);
        assert!(!g.failure(a, t0 + Duration::from_secs(1)).locked_out);
        assert!(g.locked(a, t0 + Duration::from_secs(2)).is_none());
        assert!(g.failure(a, t0 + Duration::from_secs(2)).locked_out);
        let (retry, _) = g.locked(a, t0 + Duration::from_secs(2)).unwrap();
        assert_eq!(retry, Duration::from_secs(120));
        let (retry, _) = g.locked(a, t0 + Duration::from_secs(62)).unwrap();
        assert_eq!(retry, Duration::from_secs(60));
        // another address is not affected
        assert!(
            g.locked(ip("192.0.2.2"), t0 + Duration::from_secs(3))
                .is_none()
        );
        // over after the lockout, with a fresh count
        let after = t0 + Duration::from_secs(123);
        assert!(g.locked(a, after).is_none());
        assert!(!g.failure(a, after).locked_out);
    }

    #[test]
    fn failures_spread_beyond_the_window_do_not_lock_out() {
        let g = AuthGuard::new(policy());
        let t0 = Instant::now();
        let a = ip("192.0.2.1");
        for i in 0..10u64 {
            let l = g.failure(a, t0 + Duration::from_secs(i * 40));
            assert!(!l.locked_out, "failure {i}");
        }
        assert!(g.locked(a, t0 + Duration::from_secs(400)).is_none());
    }

    #[test]
    fn one_log_line_per_interval_with_the_count_since_the_last() {
        let mut p = policy();
        p.max_failures = 1_000;
        let g = AuthGuard::new(p);
        let t0 = Instant::now();
        let a = ip("198.51.100.7");
        assert_eq!(
            g.failure(a, t0).summary,
            Some((1, 0)),
            "the first is logged"
        );
        let mut lines = 0;
        for i in 1..=100u64 {
            if g.failure(a, t0 + Duration::from_millis(i * 100))
                .summary
                .is_some()
            {
                lines += 1;
            }
        }
        assert_eq!(lines, 0, "100 failures within 10 s: no more lines");
        // the next one after the interval carries all of them
        assert_eq!(
            g.failure(a, t0 + Duration::from_secs(31)).summary,
            Some((101, 0))
        );
        // a different address has its own interval
        assert_eq!(
            g.failure(ip("198.51.100.8"), t0 + Duration::from_secs(32))
                .summary,
            Some((1, 0))
        );
    }

    #[test]
    fn throttled_requests_are_counted_into_the_next_line() {
        let g = AuthGuard::new(policy());
        let t0 = Instant::now();
        let a = ip("192.0.2.9");
        g.failure(a, t0);
        g.failure(a, t0);
        let l = g.failure(a, t0);
        assert!(l.locked_out);
        assert_eq!(l.summary, None, "within the interval of the first line");
        for _ in 0..5 {
            assert_eq!(
                g.locked(a, t0 + Duration::from_secs(1)).unwrap().1.summary,
                None
            );
        }
        let (_, l) = g.locked(a, t0 + Duration::from_secs(30)).unwrap();
        assert_eq!(l.summary, Some((2, 6)));
    }

    #[test]
    fn ipv6_is_tracked_by_its_64_prefix_and_mapped_ipv4_as_ipv4() {
        assert_eq!(
            client_key(ip("2001:db8:1:2:aaaa::1")),
            client_key(ip("2001:db8:1:2:bbbb::2"))
        );
        assert_ne!(
            client_key(ip("2001:db8:1:2::1")),
            client_key(ip("2001:db8:1:3::1"))
        );
        assert_eq!(client_key(ip("::ffff:192.0.2.1")), ip("192.0.2.1"));
        let g = AuthGuard::new(policy());
        let t0 = Instant::now();
        for host in ["2001:db8::1", "2001:db8::2", "2001:db8::3"] {
            g.failure(ip(host), t0);
        }
        assert!(g.locked(ip("2001:db8::ffff"), t0).is_some());
    }

    #[test]
    fn the_table_is_bounded_and_pruned() {
        let g = AuthGuard::with_capacity(policy(), 4);
        let t0 = Instant::now();
        for i in 0..4 {
            g.failure(ip(&format!("192.0.2.{i}")), t0);
        }
        assert_eq!(g.tracked(), 4);
        // full of live entries: a fifth address is not tracked
        assert_eq!(g.failure(ip("192.0.2.200"), t0), LogLines::default());
        assert_eq!(g.tracked(), 4);
        // once their windows and log intervals are over they make room
        let later = t0 + Duration::from_secs(61);
        assert!(g.failure(ip("192.0.2.200"), later).summary.is_some());
        assert_eq!(g.tracked(), 1);
    }
}
