//! Splunk HEC indexer acknowledgement: per channel, each accepted request gets the next
//! `ackId`; the id turns durable when the pipeline answers the request's batch (every
//! destination wrote its events), and `POST /services/collector/ack` reports it once as
//! `true`, then forgets it (Splunk's behaviour: a sender polls until true).
//!
//! Bounded: at most [`MAX_CHANNELS`] channels, each with at most [`MAX_PENDING`] ids not yet
//! reported; a channel idle for [`CHANNEL_IDLE`] is forgotten when room is needed. Beyond,
//! requests are refused with 503 (HEC code 9, "server is busy") until acks are queried.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

/// Most channels remembered.
pub(crate) const MAX_CHANNELS: usize = 4096;
/// Most ack ids of one channel awaiting a query.
pub(crate) const MAX_PENDING: usize = 100_000;
/// A channel unused this long may be forgotten to make room.
pub(crate) const CHANNEL_IDLE: Duration = Duration::from_secs(600);
/// Longest channel name.
const MAX_CHANNEL_LEN: usize = 128;

/// Where an ack id stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// In the pipeline.
    Pending,
    /// Written by every destination.
    Durable,
    /// Not written (a destination gave up, or shutdown): never reported true; the sender
    /// times out and sends again.
    Failed,
}

#[derive(Debug)]
struct Channel {
    next: u64,
    ids: BTreeMap<u64, State>,
    used: Instant,
}

/// Every channel's ack ids.
#[derive(Debug, Default)]
pub(crate) struct Acks {
    channels: HashMap<String, Channel>,
}

/// Why an ack id could not be given.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    /// Too many channels, or too many unqueried ids on this one.
    Full,
}

/// Whether `c` is a usable channel name (Splunk uses GUIDs; any short token is taken).
pub(crate) fn valid_channel(c: &str) -> bool {
    !c.is_empty()
        && c.len() <= MAX_CHANNEL_LEN
        && c.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl Acks {
    /// The next ack id of `channel`, pending.
    pub(crate) fn issue(&mut self, channel: &str) -> Result<u64, Refused> {
        let now = Instant::now();
        if !self.channels.contains_key(channel) && self.channels.len() >= MAX_CHANNELS {
            self.channels
                .retain(|_, c| now.duration_since(c.used) < CHANNEL_IDLE);
            if self.channels.len() >= MAX_CHANNELS {
                return Err(Refused::Full);
            }
        }
        let c = self
            .channels
            .entry(channel.to_owned())
            .or_insert_with(|| Channel {
                next: 0,
                ids: BTreeMap::new(),
                used: now,
            });
        c.used = now;
        if c.ids.len() >= MAX_PENDING {
            // forget failed ones first: they will never be reported true
            c.ids.retain(|_, s| *s != State::Failed);
            if c.ids.len() >= MAX_PENDING {
                return Err(Refused::Full);
            }
        }
        let id = c.next;
        c.next += 1;
        c.ids.insert(id, State::Pending);
        Ok(id)
    }

    /// The pipeline's answer for `id` of `channel`.
    pub(crate) fn resolve(&mut self, channel: &str, id: u64, durable: bool) {
        if let Some(s) = self
            .channels
            .get_mut(channel)
            .and_then(|c| c.ids.get_mut(&id))
        {
            *s = if durable {
                State::Durable
            } else {
                State::Failed
            };
        }
    }

    /// Answers a query: `true` for each durable id (then forgotten), `false` for the others.
    pub(crate) fn query(&mut self, channel: &str, ids: &[u64]) -> BTreeMap<u64, bool> {
        let mut out = BTreeMap::new();
        let c = self.channels.get_mut(channel);
        let Some(c) = c else {
            for id in ids {
                out.insert(*id, false);
            }
            return out;
        };
        c.used = Instant::now();
        for id in ids {
            let durable = c.ids.get(id) == Some(&State::Durable);
            if durable {
                c.ids.remove(id);
            }
            out.insert(*id, durable);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_count_per_channel_and_report_true_once() {
        let mut a = Acks::default();
        assert_eq!(a.issue("c1"), Ok(0));
        assert_eq!(a.issue("c1"), Ok(1));
        assert_eq!(a.issue("c2"), Ok(0));
        a.resolve("c1", 0, true);
        a.resolve("c1", 1, false);
        let q = a.query("c1", &[0, 1, 7]);
        assert_eq!(q.get(&0), Some(&true));
        assert_eq!(q.get(&1), Some(&false));
        assert_eq!(q.get(&7), Some(&false));
        assert_eq!(a.query("c1", &[0]).get(&0), Some(&false), "reported once");
        assert_eq!(a.query("c2", &[0]).get(&0), Some(&false), "still pending");
        assert_eq!(a.query("nope", &[0]).get(&0), Some(&false));
    }

    #[test]
    fn a_channel_is_bounded() {
        let mut a = Acks::default();
        for _ in 0..MAX_PENDING {
            assert!(a.issue("c").is_ok());
        }
        assert_eq!(a.issue("c"), Err(Refused::Full));
        a.resolve("c", 5, false);
        assert!(a.issue("c").is_ok(), "a failed id makes room");
        a.resolve("c", 6, true);
        a.query("c", &[6]);
        assert!(a.issue("c").is_ok(), "a queried id makes room");
    }

    #[test]
    fn channel_names() {
        assert!(valid_channel("FE0ECFAD-13D5-401B-847D-77833BD77131"));
        assert!(!valid_channel(""));
        assert!(!valid_channel("a b"));
        assert!(!valid_channel(&"x".repeat(129)));
    }
}
