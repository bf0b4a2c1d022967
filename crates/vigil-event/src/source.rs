//! The vocabulary every stage shares about where events come from: the [`TenantId`] with its
//! one validator, the configured source ([`SourceInfo`]), a record as a connector received it
//! ([`RawRecord`]), the one way such a record becomes an event ([`Event::from_raw`]) and the
//! [`Normalizer`] contract that fills it in.

use std::fmt;
use std::net::SocketAddr;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use smol_str::SmolStr;

use crate::{DEFAULT_TENANT, Event, Timestamp, Value};

/// KUMA's "Shared" tenant: resources every tenant may use.
pub const SHARED_TENANT: &str = "shared";

/// A tenant name that is not acceptable, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid tenant name '{name}': {reason}")]
pub struct InvalidTenant {
    /// The name as given (cut to 80 characters).
    pub name: String,
    /// Why it was refused.
    pub reason: &'static str,
}

/// A validated tenant id: 1–64 characters of `a-z`, `0-9`, `_` and `-`, starting with a letter
/// or a digit. The one rule for configuration, the event store's directories, correlation
/// state files and the metadata store, so one id names them all.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TenantId(SmolStr);

impl TenantId {
    /// Validates a tenant name.
    pub fn new(name: &str) -> Result<TenantId, InvalidTenant> {
        let bad = |reason| {
            Err(InvalidTenant {
                name: name.chars().take(80).collect(),
                reason,
            })
        };
        if name.is_empty() || name.len() > 64 {
            return bad("must be 1 to 64 characters");
        }
        if !name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
        {
            return bad("only a-z, 0-9, '_' and '-' are allowed");
        }
        if !name.as_bytes()[0].is_ascii_alphanumeric() {
            return bad("must start with a letter or a digit");
        }
        Ok(TenantId(SmolStr::new(name)))
    }

    /// Whether `name` is a valid tenant id.
    pub fn is_valid(name: &str) -> bool {
        TenantId::new(name).is_ok()
    }

    /// The default tenant (`main`).
    pub fn main() -> TenantId {
        TenantId(SmolStr::new_static(DEFAULT_TENANT))
    }

    /// The Shared tenant (`shared`).
    pub fn shared() -> TenantId {
        TenantId(SmolStr::new_static(SHARED_TENANT))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for TenantId {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some("^[a-z0-9][a-z0-9_-]{0,63}$"))
            .description(Some("A tenant id"))
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for TenantId {}

impl TryFrom<String> for TenantId {
    type Error = InvalidTenant;
    fn try_from(s: String) -> Result<Self, InvalidTenant> {
        TenantId::new(&s)
    }
}

impl From<TenantId> for String {
    fn from(t: TenantId) -> String {
        t.0.to_string()
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TenantId({})", self.0)
    }
}

/// Where a batch of raw records came from: the configured source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceInfo {
    /// The connector's id.
    pub id: SmolStr,
    /// The tenant its events belong to.
    pub tenant: SmolStr,
    /// The collector running it.
    pub collector: SmolStr,
}

/// One record as a connector received it: a syslog frame, a line, a datagram.
#[derive(Debug, Clone)]
pub struct RawRecord {
    /// The bytes, exactly as received.
    pub data: Bytes,
    /// When they were received.
    pub received: Timestamp,
    /// The sender.
    pub peer: Option<SocketAddr>,
    /// A transport-level problem with this record (e.g. `truncated to max_frame_size`): the
    /// record is still passed on and stored, with this mark.
    pub transport_error: Option<SmolStr>,
}

impl Event {
    /// The base event of `rec` from `source`: the raw bytes, the receive time (also the
    /// `@timestamp` until a parser finds the source's own), an id of that time, the tenant,
    /// source, collector and peer, and a transport problem as the `vigil.truncated` tag with
    /// `vigil.transport_error`. Every normalizer starts from this.
    pub fn from_raw(source: &SourceInfo, rec: RawRecord) -> Event {
        let received = rec.received;
        let mut ev = Event {
            raw: rec.data,
            timestamp: received,
            ..Event::default()
        };
        ev.meta.received = received;
        ev.meta.id = crate::new_event_id(received);
        ev.meta.tenant = source.tenant.clone();
        ev.meta.source_id = source.id.clone();
        ev.meta.collector_id = source.collector.clone();
        ev.meta.peer = rec.peer.map(|p| p.ip());
        if let Some(t) = rec.transport_error {
            ev.tags.push(SmolStr::new_static("vigil.truncated"));
            ev.extra.insert("vigil.transport_error", Value::Str(t));
        }
        ev
    }
}

/// Turns a raw record into an event (KUMA: normalizer). Never fails: a record that cannot be
/// parsed becomes an event with the raw bytes and `meta.parse_error` set.
pub trait Normalizer: Send + Sync {
    /// Normalizes `rec` from `source`, pushing the event(s) onto `out`.
    fn normalize(&self, source: &SourceInfo, rec: RawRecord, out: &mut Vec<Event>);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_ids_have_one_rule() {
        for good in ["main", "acme-1", "a_b", "0day", &"x".repeat(64)] {
            assert!(TenantId::new(good).is_ok(), "{good:?}");
        }
        for bad in [
            "",
            "-x",
            "_ops",
            "Acme",
            "a b",
            "../x",
            "é",
            &"x".repeat(65),
        ] {
            assert!(TenantId::new(bad).is_err(), "{bad:?}");
        }
        let parsed: Result<TenantId, _> = serde_json::from_str("\"UP\"");
        assert!(parsed.is_err());
        assert_eq!(TenantId::main().as_str(), DEFAULT_TENANT);
    }

    #[test]
    fn from_raw_keeps_receive_time_peer_and_transport_problem() {
        let source = SourceInfo {
            id: "fw".into(),
            tenant: "acme".into(),
            collector: "c1".into(),
        };
        let received = Timestamp::parse("2026-11-22T12:00:00Z").unwrap_or_default();
        let ev = Event::from_raw(
            &source,
            RawRecord {
                data: Bytes::from_static(b"hello"),
                received,
                peer: Some("10.1.2.3:514".parse().expect("address")),
                transport_error: Some("truncated to max_frame_size".into()),
            },
        );
        assert_eq!(ev.meta.received, received);
        assert_eq!(ev.timestamp, received);
        assert_eq!(ev.meta.id.timestamp_ms() as i64, received.millis());
        assert_eq!(ev.meta.peer, Some("10.1.2.3".parse().expect("ip")));
        assert_eq!(
            (
                &*ev.meta.tenant,
                &*ev.meta.source_id,
                &*ev.meta.collector_id
            ),
            ("acme", "fw", "c1")
        );
        assert!(ev.tags.iter().any(|t| t == "vigil.truncated"));
        assert!(ev.extra.get("vigil.transport_error").is_some());
    }
}
