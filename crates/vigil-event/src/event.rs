//! The [`Event`] struct and its typed ECS groups.

use std::net::IpAddr;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use smol_str::SmolStr;

use crate::{FieldMap, Timestamp};

/// Vigil's event types (KUMA's `Type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventType {
    /// An event as a source sent it.
    #[default]
    Base,
    /// Several base events folded into one by an aggregation rule.
    Aggregated,
    /// Raised by a correlation rule.
    Correlation,
    /// Vigil's own audit trail (logins, config changes, deletions).
    Audit,
    /// Vigil's monitoring of sources and itself.
    Monitoring,
}

impl EventType {
    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Base => "base",
            EventType::Aggregated => "aggregated",
            EventType::Correlation => "correlation",
            EventType::Audit => "audit",
            EventType::Monitoring => "monitoring",
        }
    }

    /// Parses the lowercase name.
    pub fn parse(s: &str) -> Option<EventType> {
        Some(match s.to_ascii_lowercase().as_str() {
            "base" => EventType::Base,
            "aggregated" => EventType::Aggregated,
            "correlation" => EventType::Correlation,
            "audit" => EventType::Audit,
            "monitoring" => EventType::Monitoring,
            _ => return None,
        })
    }
}

/// The tenant every event belongs to when none is configured (KUMA's "Main").
pub const DEFAULT_TENANT: &str = "main";

/// Vigil's own metadata about an event: who it belongs to and how it arrived.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Meta {
    /// Unique, time-ordered id (ULID) assigned when the event is received.
    #[serde(with = "ulid_as_u128")]
    pub id: ulid::Ulid,
    /// The tenant the event belongs to; every query is scoped to one.
    pub tenant: SmolStr,
    /// The configured source (connector) the event came from.
    pub source_id: SmolStr,
    /// The collector that received it.
    pub collector_id: SmolStr,
    /// When Vigil received it (`event.ingested`).
    pub received: Timestamp,
    /// Base, aggregated, correlation, audit or monitoring.
    pub kind: EventType,
    /// Why the raw line could not be parsed, when it could not (the event is kept raw).
    pub parse_error: Option<SmolStr>,
    /// The address the event was received from (the sender, not necessarily the origin).
    pub peer: Option<IpAddr>,
}

impl Default for Meta {
    fn default() -> Self {
        Meta {
            id: ulid::Ulid::nil(),
            tenant: SmolStr::new_static(DEFAULT_TENANT),
            source_id: SmolStr::default(),
            collector_id: SmolStr::default(),
            received: Timestamp::EPOCH,
            kind: EventType::Base,
            parse_error: None,
            peer: None,
        }
    }
}

/// `event.*`: what happened, in ECS's categorization.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EventFields {
    /// `event.kind`: event, alert, metric, state, pipeline_error, signal.
    pub kind: Option<SmolStr>,
    /// `event.category`: authentication, network, process, web, ...
    pub category: Vec<SmolStr>,
    /// `event.type`: start, end, info, denied, allowed, creation, ...
    pub r#type: Vec<SmolStr>,
    /// `event.action`: the action captured, e.g. `ssh_login`, `blocked`.
    pub action: Option<SmolStr>,
    /// `event.outcome`: success, failure, unknown.
    pub outcome: Option<SmolStr>,
    /// `event.code`: the source's id for the event (Windows EventID, CEF signature id).
    pub code: Option<SmolStr>,
    /// `event.reason`: why the event happened, per the source (CEF/KUMA `Name`).
    pub reason: Option<SmolStr>,
    /// `event.severity`: the source's numeric severity.
    pub severity: Option<i64>,
    /// `event.provider`: the source's sub-system (Windows provider, syslog program).
    pub provider: Option<SmolStr>,
    /// `event.module`: the Vigil module/pack that normalized the event.
    pub module: Option<SmolStr>,
    /// `event.dataset`: the data set inside the module (`sshd.auth`).
    pub dataset: Option<SmolStr>,
    /// `event.duration`: nanoseconds.
    pub duration: Option<i64>,
    /// `event.start`.
    pub start: Option<Timestamp>,
    /// `event.end`.
    pub end: Option<Timestamp>,
    /// `event.risk_score`.
    pub risk_score: Option<f64>,
}

/// `source.*` and `destination.*`: one side of a network conversation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Endpoint {
    /// `.ip`
    pub ip: Option<IpAddr>,
    /// `.port`
    pub port: Option<u16>,
    /// `.address`: the address as the source wrote it (IP, domain or socket).
    pub address: Option<SmolStr>,
    /// `.domain`
    pub domain: Option<SmolStr>,
    /// `.mac`
    pub mac: Option<SmolStr>,
    /// `.bytes` sent from this side.
    pub bytes: Option<i64>,
    /// `.packets` sent from this side.
    pub packets: Option<i64>,
    /// `.nat.ip`
    pub nat_ip: Option<IpAddr>,
    /// `.nat.port`
    pub nat_port: Option<u16>,
    /// `.user.name`
    pub user_name: Option<SmolStr>,
    /// `.user.domain`
    pub user_domain: Option<SmolStr>,
    /// `.geo.country_iso_code`
    pub geo_country: Option<SmolStr>,
}

/// `user.*`: the user the event is about.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UserFields {
    /// `user.name`
    pub name: Option<SmolStr>,
    /// `user.id`
    pub id: Option<SmolStr>,
    /// `user.domain`
    pub domain: Option<SmolStr>,
    /// `user.email`
    pub email: Option<SmolStr>,
    /// `user.target.name`: the user acted upon (sudo target, account created).
    pub target_name: Option<SmolStr>,
    /// `user.effective.name`
    pub effective_name: Option<SmolStr>,
}

/// `host.*`: the host the event happened on.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HostFields {
    /// `host.name`
    pub name: Option<SmolStr>,
    /// `host.hostname`
    pub hostname: Option<SmolStr>,
    /// `host.ip`
    pub ip: Option<IpAddr>,
    /// `host.id`
    pub id: Option<SmolStr>,
    /// `host.os.type`: linux, windows, macos, ...
    pub os_type: Option<SmolStr>,
}

/// `process.*`: the process that logged or is described by the event.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProcessFields {
    /// `process.name`
    pub name: Option<SmolStr>,
    /// `process.pid`
    pub pid: Option<i64>,
    /// `process.executable`
    pub executable: Option<SmolStr>,
    /// `process.command_line`
    pub command_line: Option<SmolStr>,
    /// `process.working_directory`
    pub working_directory: Option<SmolStr>,
    /// `process.hash.sha256`
    pub hash_sha256: Option<SmolStr>,
    /// `process.parent.name`
    pub parent_name: Option<SmolStr>,
    /// `process.parent.pid`
    pub parent_pid: Option<i64>,
    /// `process.parent.executable`
    pub parent_executable: Option<SmolStr>,
    /// `process.parent.command_line`
    pub parent_command_line: Option<SmolStr>,
}

/// `network.*`: the connection.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NetworkFields {
    /// `network.transport`: tcp, udp, icmp.
    pub transport: Option<SmolStr>,
    /// `network.protocol`: http, dns, ssh.
    pub protocol: Option<SmolStr>,
    /// `network.direction`: inbound, outbound, internal, external.
    pub direction: Option<SmolStr>,
    /// `network.bytes`: both directions.
    pub bytes: Option<i64>,
    /// `network.packets`: both directions.
    pub packets: Option<i64>,
    /// `network.community_id`
    pub community_id: Option<SmolStr>,
}

/// `observer.*`: the device that saw the event (firewall, IDS, the syslog sender).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ObserverFields {
    /// `observer.vendor` (KUMA `DeviceVendor`)
    pub vendor: Option<SmolStr>,
    /// `observer.product` (KUMA `DeviceProduct`)
    pub product: Option<SmolStr>,
    /// `observer.version` (KUMA `DeviceVersion`)
    pub version: Option<SmolStr>,
    /// `observer.name`
    pub name: Option<SmolStr>,
    /// `observer.hostname` (KUMA `DeviceHostName`)
    pub hostname: Option<SmolStr>,
    /// `observer.ip` (KUMA `DeviceAddress`)
    pub ip: Option<IpAddr>,
    /// `observer.type`: firewall, ids, proxy, ...
    pub r#type: Option<SmolStr>,
}

/// `rule.*`: the rule that this event is about (a firewall rule, or a Vigil detection).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RuleFields {
    /// `rule.id`
    pub id: Option<SmolStr>,
    /// `rule.name`
    pub name: Option<SmolStr>,
    /// `rule.category`
    pub category: Option<SmolStr>,
    /// `rule.ruleset`
    pub ruleset: Option<SmolStr>,
}

/// `log.*`: where the record came from and its syslog header.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LogFields {
    /// `log.level`: the source's textual level (`err`, `warning`, `info`).
    pub level: Option<SmolStr>,
    /// `log.logger`
    pub logger: Option<SmolStr>,
    /// `log.file.path`
    pub file_path: Option<SmolStr>,
    /// `log.syslog.facility.code`
    pub syslog_facility: Option<u8>,
    /// `log.syslog.severity.code`
    pub syslog_severity: Option<u8>,
    /// `log.syslog.priority`
    pub syslog_priority: Option<u8>,
    /// `log.syslog.appname`
    pub syslog_appname: Option<SmolStr>,
    /// `log.syslog.procid`
    pub syslog_procid: Option<SmolStr>,
    /// `log.syslog.msgid`
    pub syslog_msgid: Option<SmolStr>,
    /// `log.syslog.version`: 1 for RFC 5424; absent for RFC 3164.
    pub syslog_version: Option<u8>,
}

/// `url.*`, `http.*`, `user_agent.*`: web traffic, common enough in a SIEM to be typed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WebFields {
    /// `url.original`
    pub url_original: Option<SmolStr>,
    /// `url.path`
    pub url_path: Option<SmolStr>,
    /// `url.domain`
    pub url_domain: Option<SmolStr>,
    /// `http.request.method`
    pub method: Option<SmolStr>,
    /// `http.response.status_code`
    pub status_code: Option<u16>,
    /// `http.response.bytes`
    pub response_bytes: Option<i64>,
    /// `http.request.referrer`
    pub referrer: Option<SmolStr>,
    /// `user_agent.original`
    pub user_agent: Option<SmolStr>,
}

/// One event: normalized fields, the source's own fields, the raw bytes and Vigil metadata.
///
/// Cheap to clone: strings are [`SmolStr`] (inline up to 23 bytes, shared beyond), the raw
/// record is a reference-counted [`Bytes`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Vigil's metadata.
    pub meta: Meta,
    /// `@timestamp`: when the event happened, per the source (else when it was received).
    pub timestamp: Timestamp,
    /// `message`: the human-readable message.
    pub message: Option<SmolStr>,
    /// `tags`
    pub tags: Vec<SmolStr>,
    /// `event.*`
    pub event: EventFields,
    /// `source.*`
    pub source: Endpoint,
    /// `destination.*`
    pub destination: Endpoint,
    /// `user.*`
    pub user: UserFields,
    /// `host.*`
    pub host: HostFields,
    /// `process.*`
    pub process: ProcessFields,
    /// `network.*`
    pub network: NetworkFields,
    /// `observer.*`
    pub observer: ObserverFields,
    /// `rule.*`
    pub rule: RuleFields,
    /// `log.*`
    pub log: LogFields,
    /// `url.*`, `http.*`, `user_agent.*`
    pub web: WebFields,
    /// Normalized fields outside the typed core (any dotted name), KUMA's `Extra`.
    pub extra: FieldMap,
    /// The source's own fields as it named them (`EventData.TargetUserName`, CEF `suser`), so
    /// rules written for the source's field names match.
    pub original: FieldMap,
    /// The record exactly as received.
    pub raw: Bytes,
}

impl Event {
    /// A new base event for `raw`, received now, timestamped with the receive time until a
    /// parser sets the source's time.
    pub fn new(raw: Bytes) -> Event {
        let now = Timestamp::now();
        let mut ev = Event {
            raw,
            timestamp: now,
            ..Event::default()
        };
        ev.meta.received = now;
        ev.meta.id = crate::new_event_id(now);
        ev
    }

    /// The raw record as text (lossy for invalid UTF-8).
    pub fn raw_str(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(&self.raw)
    }
}

mod ulid_as_u128 {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(id: &ulid::Ulid, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u128(id.0)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<ulid::Ulid, D::Error> {
        u128::deserialize(d).map(ulid::Ulid)
    }
}
