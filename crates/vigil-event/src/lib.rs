//! The Vigil event: normalized ECS fields, the source's original fields, the raw bytes and
//! Vigil metadata. No I/O.
//!
//! # Shape
//! An [`Event`] has four parts, and every other crate of Vigil reads and writes them through
//! this one model:
//!
//! * **normalized fields**: a typed core of ECS groups (`@timestamp`, `event.*`, `source.*`,
//!   `destination.*`, `user.*`, `host.*`, `process.*`, `network.*`, `observer.*`, `rule.*`,
//!   `log.*`, web fields) as plain struct fields, so a parser writes `ev.source.ip = Some(ip)`
//!   and a typo is a compile error; plus an open map [`Event::extra`] for any other dotted name
//!   (KUMA's `Extra`);
//! * **original fields** ([`Event::original`]): the source's fields under the source's names
//!   (`EventData.TargetUserName`, CEF `suser`), so rules written for them still match;
//! * **raw** ([`Event::raw`]): the record exactly as received, byte for byte;
//! * **metadata** ([`Meta`]): ULID event id, tenant, source and collector ids, receive time,
//!   event type (base / aggregated / correlation / audit / monitoring) and the parse-error mark.
//!
//! # Where events come from
//! A connector hands on [`RawRecord`]s of a configured source ([`SourceInfo`]);
//! [`Event::from_raw`] is the one way such a record becomes an event, which a [`Normalizer`]
//! then fills in. Tenants are named by [`TenantId`], with one validator for every crate.
//!
//! # Fields by name
//! Search, rules, normalizer mappings and output name fields as strings. One registry
//! ([`schema::fields`]) lists every typed field once with its kind and doc, and resolves
//! aliases, including KUMA's CEF-style names (`SourceAddress` → `source.ip`,
//! `DeviceProduct` → `observer.product`, see [`schema::KUMA_ALIASES`]). Hot paths resolve a name
//! once to a [`FieldId`] and then read by id. Names outside the registry fall through to the
//! open maps.
//!
//! # Cost
//! Strings are [`smol_str::SmolStr`] (inline up to 23 bytes, reference-counted beyond), so
//! cloning an event copies no text; the raw record is a shared [`bytes::Bytes`]. The binary
//! encoding ([`Event::encode`]) is postcard over serde; `cargo bench -p vigil-event` measures
//! clone, encode and decode.

#![warn(missing_docs)]

mod event;
mod json;
mod map;
#[cfg(feature = "query")]
pub mod query;
pub mod schema;
mod slot;
mod source;
mod time;
mod value;

pub use event::{
    DEFAULT_TENANT, Endpoint, Event, EventFields, EventType, HostFields, LogFields, Meta,
    NetworkFields, ObserverFields, ProcessFields, RuleFields, UserFields, WebFields,
};
pub use map::FieldMap;
pub use schema::{FieldDef, FieldId, canonical_name, field_kind};
pub use slot::{SetError, Slot, parse_ip};
pub use source::{InvalidTenant, Normalizer, RawRecord, SHARED_TENANT, SourceInfo, TenantId};
pub use time::{IMPLAUSIBLE_TIMESTAMP_TAG, ORIGINAL_TIMESTAMP_FIELD, TimePolicy, Timestamp};
pub use value::{FieldKind, Value, ValueRef, ref_to_json};

pub use bytes::Bytes;
pub use smol_str::SmolStr;
pub use ulid::Ulid;

/// A new event id for an event received at `at`: a ULID whose time part is `at` (ms) and whose
/// 80 other bits are a per-process random start plus a process-wide counter. Ids are unique
/// across collectors without coordination (two processes collide only if their random starts
/// fall within as many ids of each other as they generate), ordered by time, and, within one
/// millisecond, by generation. Consecutive ids differ only in their low bits, so a column of
/// ids compresses to almost nothing (the store keeps it delta-encoded).
pub fn new_event_id(at: Timestamp) -> Ulid {
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU64, Ordering};
    static START: OnceLock<(u64, AtomicU64)> = OnceLock::new();
    let ms = u64::try_from(at.millis()).unwrap_or(0);
    let (high, counter) = START.get_or_init(|| {
        let r = random_u128();
        // 16 random bits above a random 63-bit counter start (2^63 ids before it could wrap)
        ((r >> 64) as u64 & 0xffff, AtomicU64::new((r as u64) >> 1))
    });
    let low = counter.fetch_add(1, Ordering::Relaxed);
    Ulid::from_parts(ms, (u128::from(*high) << 64) | u128::from(low))
}

fn random_u128() -> u128 {
    use std::hash::{BuildHasher, Hasher};
    // splitmix64 over a randomly keyed hash of the clock: not cryptographic, only needs to
    // make two processes' starts collide with negligible probability
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(Timestamp::now().nanos() as u64);
    h.write_u32(std::process::id());
    let mut s = h.finish();
    let mut next = || {
        s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = s;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    (u128::from(next()) << 64) | u128::from(next())
}

/// A binary event could not be decoded.
#[derive(Debug, thiserror::Error)]
#[error("corrupt event encoding: {0}")]
pub struct DecodeError(#[from] postcard::Error);

impl Event {
    /// Appends the binary encoding of this event to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        struct Sink<'a>(&'a mut Vec<u8>);
        impl Extend<u8> for Sink<'_> {
            fn extend<I: IntoIterator<Item = u8>>(&mut self, iter: I) {
                self.0.extend(iter);
            }
        }
        // postcard cannot fail on our types (no unsized sequences, no non-string map keys)
        let _ = postcard::to_extend(self, Sink(out));
    }

    /// Decodes one event from the front of `bytes`, returning it and the rest.
    pub fn decode(bytes: &[u8]) -> Result<(Event, &[u8]), DecodeError> {
        Ok(postcard::take_from_bytes(bytes)?)
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod id_tests {
    use super::*;

    /// Ids are monotonic within a millisecond, unique across threads, and consecutive ones
    /// differ in their low bits only.
    #[test]
    fn event_ids_count_up_within_a_process() {
        let t = Timestamp::from_millis(1_700_000_000_000);
        let ids: Vec<Ulid> = (0..1000).map(|_| new_event_id(t)).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]));
        assert!(
            ids.windows(2)
                .all(|w| (w[1].0 ^ w[0].0) >> 64 == 0 || w[1].0 as u64 == 0)
        );
        let threads: Vec<_> = (0..4)
            .map(|_| {
                std::thread::spawn(move || (0..1000).map(|_| new_event_id(t)).collect::<Vec<_>>())
            })
            .collect();
        let mut all: Vec<Ulid> = threads
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect();
        all.extend(&ids);
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 5000);
    }
}
