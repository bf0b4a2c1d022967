//! The cache of open alert groups in front of the store's fold.
//!
//! The store is the truth: `MetaStore::fold_detection` decides atomically which alert takes a
//! detection. The cache only remembers, per group, the alert that took the group's last fold
//! and its count, so that the service can tell a *new* group (which the storm cap counts)
//! from an open one without a query, and report what each batch did. A group is keyed by a
//! 128-bit hash of `(tenant, rule, group key)`, so an entry is a few dozen bytes whatever the
//! length of the key; a collision (odds ~10⁻²⁸ at 10⁵ groups) could only misjudge the storm
//! count of one group, never merge alerts, since the fold uses the full key.
//!
//! The cache is bounded by count: past its capacity the least recently used eighth is
//! dropped in one pass (amortized O(1) per insert). An evicted group that is still open in
//! the store simply counts as new for the storm cap the next time it fires.

use std::collections::HashMap;

use super::entities::stable_hash128;
use crate::scope::TenantId;

/// The cache key of a group.
pub fn group_hash(tenant: &TenantId, rule_id: &str, group_key: &str) -> u128 {
    let mut buf = Vec::with_capacity(tenant.as_str().len() + rule_id.len() + group_key.len() + 2);
    buf.extend_from_slice(tenant.as_str().as_bytes());
    buf.push(0);
    buf.extend_from_slice(rule_id.as_bytes());
    buf.push(0);
    buf.extend_from_slice(group_key.as_bytes());
    stable_hash128(&buf)
}

/// What the cache knows of an open group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenGroup {
    /// The alert (a ULID as its 128-bit value).
    pub alert: u128,
    /// Its event count after the last fold.
    pub count: u64,
    tick: u64,
}

/// Open groups, bounded by count, least recently used evicted first.
#[derive(Debug)]
pub struct GroupCache {
    map: HashMap<u128, OpenGroup>,
    capacity: usize,
    tick: u64,
    evicted: u64,
}

impl GroupCache {
    /// A cache of at most `capacity` groups (at least 8).
    pub fn new(capacity: usize) -> GroupCache {
        GroupCache {
            map: HashMap::new(),
            capacity: capacity.max(8),
            tick: 0,
            evicted: 0,
        }
    }

    /// The group, marking it recently used.
    pub fn get(&mut self, key: u128) -> Option<OpenGroup> {
        self.tick += 1;
        let tick = self.tick;
        self.map.get_mut(&key).map(|g| {
            g.tick = tick;
            *g
        })
    }

    /// Whether the group is known open (without touching its recency).
    pub fn contains(&self, key: u128) -> bool {
        self.map.contains_key(&key)
    }

    /// Records the alert and count of a group after a fold.
    pub fn put(&mut self, key: u128, alert: u128, count: u64) {
        self.tick += 1;
        self.map.insert(
            key,
            OpenGroup {
                alert,
                count,
                tick: self.tick,
            },
        );
        if self.map.len() > self.capacity {
            self.evict();
        }
    }

    /// Forgets the group whose alert is `alert` (closed: its group has ended).
    pub fn end_alert(&mut self, alert: u128) -> bool {
        let before = self.map.len();
        self.map.retain(|_, g| g.alert != alert);
        before != self.map.len()
    }

    /// Forgets a group.
    pub fn remove(&mut self, key: u128) -> bool {
        self.map.remove(&key).is_some()
    }

    fn evict(&mut self) {
        let drop = (self.capacity / 8).max(1);
        let mut ticks: Vec<u64> = self.map.values().map(|g| g.tick).collect();
        let (_, nth, _) = ticks.select_nth_unstable(drop - 1);
        let cut = *nth;
        let before = self.map.len();
        self.map.retain(|_, g| g.tick > cut);
        self.evicted += (before - self.map.len()) as u64;
    }

    /// Groups held.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether no group is held.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The bound.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Groups dropped because the cache was full.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    /// Bytes held by the table (entries and control bytes at the table's current capacity;
    /// the benchmark checks this estimate against the allocator).
    pub fn memory_bytes(&self) -> usize {
        let slots = self.map.capacity().next_power_of_two().max(1) * 8 / 7;
        slots * (std::mem::size_of::<(u128, OpenGroup)>() + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn least_recently_used_groups_go_first() {
        let mut c = GroupCache::new(16);
        for k in 0..16u128 {
            c.put(k, k + 100, 1);
        }
        // touch the oldest two: they survive the eviction
        assert!(c.get(0).is_some());
        assert!(c.get(1).is_some());
        c.put(16, 116, 1);
        assert!(c.len() <= 16);
        assert!(c.contains(0) && c.contains(1) && c.contains(16));
        assert!(!c.contains(2), "the least recently used is evicted");
        assert!(c.evicted() >= 1);
    }

    #[test]
    fn ending_an_alert_forgets_its_group() {
        let mut c = GroupCache::new(8);
        c.put(1, 11, 5);
        c.put(2, 12, 5);
        assert!(c.end_alert(11));
        assert!(!c.contains(1) && c.contains(2));
        assert_eq!(c.get(2).map(|g| g.count), Some(5));
    }

    #[test]
    fn keys_differ_by_every_part() {
        let t = TenantId::main();
        let a = group_hash(&t, "r1", "host=a");
        assert_ne!(a, group_hash(&t, "r1", "host=b"));
        assert_ne!(a, group_hash(&t, "r2", "host=a"));
        assert_ne!(group_hash(&t, "r", "1x"), group_hash(&t, "r1", "x"));
        assert_eq!(a, group_hash(&t, "r1", "host=a"));
    }
}
