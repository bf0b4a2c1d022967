//! The storm cap: at most `max_new_alerts` new alert groups per `(tenant, rule)` per window.
//!
//! A rule that suddenly matches everything (a bad rule update, a scan, a broken source) would
//! otherwise bury the queue under thousands of alerts. Past the cap, detections that would
//! open a new group are folded into one *storm alert* of the rule (group key
//! [`STORM_GROUP_KEY`]), so they are counted and their events stay linked, and the first trip
//! of each window raises a signal (a warning log, an audit record and an
//! [`super::ServiceSignal`] for the caller's monitoring). Detections of groups that are
//! already open are never capped: grouping is what a storm needs.

use std::collections::HashMap;

use crate::model::Time;
use crate::scope::TenantId;

/// The group key of a rule's storm alert (normal keys are `kind=value|...`, `-` or `h:<hex>`).
pub const STORM_GROUP_KEY: &str = "~storm";

/// Most `(tenant, rule)` windows remembered; past it, ended windows are dropped.
const MAX_WINDOWS: usize = 100_000;

#[derive(Debug, Clone, Copy)]
struct Window {
    start: Time,
    opened: u64,
    tripped: bool,
}

/// Counts of one `(tenant, rule)` since the service started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StormCounts {
    /// Windows in which the cap tripped.
    pub trips: u64,
    /// Detections folded into the storm alert.
    pub capped: u64,
}

/// What the cap says about one new group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    /// Under the cap: open the group.
    Open,
    /// Over the cap; `first` on the first refusal of the window.
    Capped {
        /// The cap tripped just now.
        first: bool,
        /// Start of the window.
        window_start: Time,
    },
}

/// Per-`(tenant, rule)` fixed windows.
#[derive(Debug)]
pub struct StormCap {
    max_new: u64,
    window: chrono::Duration,
    windows: HashMap<(TenantId, String), Window>,
    counts: HashMap<(TenantId, String), StormCounts>,
}

impl StormCap {
    /// A cap of `max_new` new groups per `window` (0 disables the cap).
    pub fn new(max_new: u64, window: chrono::Duration) -> StormCap {
        StormCap {
            max_new,
            window,
            windows: HashMap::new(),
            counts: HashMap::new(),
        }
    }

    /// Asks to open one new group of `(tenant, rule)` at `now`.
    pub fn admit(&mut self, tenant: &TenantId, rule: &str, now: Time) -> Admit {
        if self.max_new == 0 {
            return Admit::Open;
        }
        if self.windows.len() >= MAX_WINDOWS {
            let window = self.window;
            self.windows.retain(|_, w| now - w.start < window);
        }
        let w = self
            .windows
            .entry((tenant.clone(), rule.to_owned()))
            .or_insert(Window {
                start: now,
                opened: 0,
                tripped: false,
            });
        if now - w.start >= self.window || now < w.start {
            *w = Window {
                start: now,
                opened: 0,
                tripped: false,
            };
        }
        if w.opened < self.max_new {
            w.opened += 1;
            return Admit::Open;
        }
        let first = !w.tripped;
        w.tripped = true;
        if first {
            self.counts
                .entry((tenant.clone(), rule.to_owned()))
                .or_default()
                .trips += 1;
        }
        Admit::Capped {
            first,
            window_start: w.start,
        }
    }

    /// Counts `n` detections folded into the storm alert of `(tenant, rule)`.
    pub fn count_capped(&mut self, tenant: &TenantId, rule: &str, n: u64) {
        self.counts
            .entry((tenant.clone(), rule.to_owned()))
            .or_default()
            .capped += n;
    }

    /// The counts of `(tenant, rule)`.
    pub fn counts(&self, tenant: &TenantId, rule: &str) -> StormCounts {
        self.counts
            .get(&(tenant.clone(), rule.to_owned()))
            .copied()
            .unwrap_or_default()
    }

    /// Every `(tenant, rule)` that was ever capped, with its counts.
    pub fn all_counts(&self) -> Vec<(TenantId, String, StormCounts)> {
        let mut v: Vec<_> = self
            .counts
            .iter()
            .map(|((t, r), c)| (t.clone(), r.clone(), *c))
            .collect();
        v.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(s: i64) -> Time {
        chrono::Utc.timestamp_opt(1_700_000_000 + s, 0).unwrap()
    }

    #[test]
    fn caps_new_groups_per_window_and_trips_once() {
        let t = TenantId::main();
        let mut c = StormCap::new(3, chrono::Duration::seconds(60));
        for _ in 0..3 {
            assert_eq!(c.admit(&t, "r", at(0)), Admit::Open);
        }
        assert!(matches!(
            c.admit(&t, "r", at(1)),
            Admit::Capped { first: true, .. }
        ));
        assert!(matches!(
            c.admit(&t, "r", at(2)),
            Admit::Capped { first: false, .. }
        ));
        // another rule and another tenant have their own windows
        assert_eq!(c.admit(&t, "other", at(2)), Admit::Open);
        assert_eq!(c.admit(&TenantId::shared(), "r", at(2)), Admit::Open);
        // the next window opens again
        assert_eq!(c.admit(&t, "r", at(61)), Admit::Open);
        c.count_capped(&t, "r", 2);
        assert_eq!(
            c.counts(&t, "r"),
            StormCounts {
                trips: 1,
                capped: 2
            }
        );
        assert_eq!(c.all_counts().len(), 1);
    }

    #[test]
    fn zero_disables() {
        let mut c = StormCap::new(0, chrono::Duration::seconds(60));
        for _ in 0..1000 {
            assert_eq!(c.admit(&TenantId::main(), "r", at(0)), Admit::Open);
        }
    }
}
