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
mod time;
mod value;

pub use event::{
    DEFAULT_TENANT, Endpoint, Event, EventFields, EventType, HostFields, LogFields, Meta,
    NetworkFields, ObserverFields, ProcessFields, RuleFields, UserFields, WebFields,
};
pub use map::FieldMap;
pub use schema::{FieldDef, FieldId, canonical_name, field_kind};
pub use slot::{SetError, Slot, parse_ip};
pub use time::Timestamp;
pub use value::{FieldKind, Value, ValueRef};

pub use bytes::Bytes;
pub use smol_str::SmolStr;
pub use ulid::Ulid;

/// A new event id for an event received at `at`: a ULID whose time part is `at` (ms) and whose
/// 80 random bits make ids unique across collectors without coordination.
pub fn new_event_id(at: Timestamp) -> Ulid {
    let ms = u64::try_from(at.millis()).unwrap_or(0);
    Ulid::from_parts(ms, fast_random_u128())
}

fn fast_random_u128() -> u128 {
    use std::cell::Cell;
    thread_local! {
        static STATE: Cell<u64> = Cell::new(seed());
    }
    fn seed() -> u64 {
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(Timestamp::now().nanos() as u64);
        h.finish() | 1
    }
    // splitmix64: not cryptographic, only needs to make collisions negligible
    STATE.with(|s| {
        let next = || {
            let mut z = s.get().wrapping_add(0x9E37_79B9_7F4A_7C15);
            s.set(z);
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        (u128::from(next()) << 64) | u128::from(next())
    })
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
