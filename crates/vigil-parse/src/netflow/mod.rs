//! NetFlow v5, NetFlow v9 (RFC 3954) and IPFIX (RFC 7011) export packets, decoded into flow
//! records named with ECS-ready keys.
//!
//! A connector hands [`NetflowDecoder::decode`] one UDP payload and the address it came
//! from; it gets back a [`NetflowPacket`]: the header, one [`Fields`] per flow (or options)
//! record, and the sets it could not decode, each with the reason and its byte range so the
//! caller can keep those raw bytes. A packet whose header cannot be trusted is an `Err`
//! ([`NetflowError`]) and nothing of it is decoded.
//!
//! # Templates are per exporter
//!
//! v9 and IPFIX data sets are only readable with the template their exporter sent earlier,
//! and template ids (256..) are *not* unique across exporters: two routers routinely use 256
//! for different layouts. The decoder keeps templates per [`TemplateScope`]: exporter address,
//! protocol version, and the v9 source id / IPFIX observation domain (RFC 3954 §5.1,
//! RFC 7011 §3.1). A data set whose template is unknown (it arrived first, the template was
//! evicted, or the exporter never sends it) is not guessed at: it comes back as a
//! [`SetError`] with [`NetflowError::MissingTemplate`] and is counted in
//! [`NetflowStats::missing_template_sets`]. Nothing is buffered for a later replay: a flow
//! collector that holds undecodable data waiting for a template is a memory sink an
//! attacker can fill; the caller keeps the raw set instead (dead-letter).
//!
//! The cache is bounded: at most [`NetflowOptions::max_exporters`] scopes, each with at most
//! [`NetflowOptions::max_templates_per_exporter`] templates, the least recently used evicted
//! first; a template of more than [`NetflowOptions::max_template_fields`] fields is refused,
//! and all templates together hold at most [`NetflowOptions::max_cached_fields`] field
//! definitions (whole least-recently-used scopes are dropped to make room). Memory is
//! therefore bounded by configuration, whatever arrives. IPFIX template withdrawals
//! (field count 0) are honoured.
//!
//! # Output
//!
//! Each record is a [`Fields`] list, in record order, with these names:
//!
//! | key | from |
//! |---|---|
//! | `source.ip`, `destination.ip` | v5 addresses; IE 8/12 (IPv4), 27/28 (IPv6) |
//! | `source.port`, `destination.port` | v5; IE 7/11 |
//! | `network.iana_number` (text), `network.transport` | v5 `prot`; IE 4 |
//! | `network.bytes`, `network.packets` | v5 `dOctets`/`dPkts`; IE 1/2 |
//! | `event.start`, `event.end` (RFC 3339, UTC) | v5/v9 sysUpTime stamps (IE 22/21) resolved against the header; IE 150..157 absolute; IE 158/159 relative to the export time |
//! | `event.duration` (ns) | IE 161/162 |
//! | `observer.ingress.interface.id`, `observer.egress.interface.id` | v5 `input`/`output`; IE 10/14 |
//! | `source.as.number`, `destination.as.number` | v5; IE 16/17 |
//! | `source.mac`, `destination.mac` (`AA-BB-..`) | IE 56/80 |
//! | `source.nat.ip`/`.port`, `destination.nat.ip`/`.port` | IE 225..228, 281/282; Cisco ASA NSEL 40001..40004 |
//! | `user.name` | Cisco ASA NSEL 40000 (when not empty) |
//! | `network.vlan.id` (text) | IE 58 |
//! | `network.direction` (`ingress`/`egress`) | IE 61 |
//! | `observer.ip` | the exporter address given to `decode` |
//! | `netflow.exporter.version`, `.source_id`, `.uptime_millis`, `.timestamp` | the packet header |
//! | `netflow.type` | `netflow_flow` or `netflow_options` (v9/IPFIX options records) |
//! | `netflow.<ie_name>` | every other IANA element, snake case (`tcp_control_bits`, `sampling_interval`, `ip_next_hop_ipv4_address`, ...) |
//! | `netflow.reverse_<ie_name>` | RFC 5103 reverse elements (enterprise 29305) |
//! | `netflow.scope_system`, `.scope_interface`, ... | v9 options scope fields |
//! | `netflow.fw_event`, `.fw_ext_event`, `.ingress_acl_id`, `.egress_acl_id` | Cisco ASA NSEL 40005, 33002, 33000, 33001 |
//! | `netflow.ie_<id>` / `netflow.ie_<pen>_<id>` | unknown and enterprise elements, as hex |
//!
//! Total counters (IE 85/86, what YAF sends) stay `netflow.octet_total_count` and
//! `netflow.packet_total_count`: whether they are per flow or per exporter lifetime depends
//! on the exporter, so the mapping to `network.bytes` is the normalizer's choice.
//!
//! Values are typed: counters and identifiers are integers (a counter over `i64::MAX` is
//! kept as decimal text), addresses and times text, unknown octets lowercase hex. Unsigned
//! elements may use reduced-size encoding (RFC 7011 §6.2), so any length 1..=8 is read.
//! Timestamps in v5/v9 are milliseconds of exporter uptime; the difference to the header's
//! uptime is taken modulo 2^32, so a counter that wrapped (an exporter up for 49.7 days)
//! still gives a start time before the export time.
//!
//! # Why not the `netflow_parser` crate
//!
//! `netflow_parser` (the crate the style guide names) decodes all three versions and has a
//! scoped parser. We decode ourselves because: (1) its output is a per-version tree of
//! typed enums that we would walk again to produce these keys, allocating twice; here each
//! value is written straight into the record; (2) when a template is missing it buffers or
//! drops the data inside the parser, whereas a SIEM must hand the raw set back with the
//! reason, counted; (3) its cache limits are per parser, not a field budget across
//! exporters; (4) it brings nom, nom-derive and serde derive proc macros, and its API
//! changed in each of 0.7, 0.8, 0.9 and 1.0 within a year. The wire formats are small and
//! fixed by RFCs; this module is about 800 lines, has no dependency beyond `chrono`, reads
//! through one bounds-checked cursor (no indexing that can panic), and is fuzzed
//! (`fuzz/fuzz_targets/netflow.rs`) and property-tested (`tests/proptest_netflow.rs`).

mod ie;

use std::borrow::Cow;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::ops::Range;

use chrono::{DateTime, Datelike, SecondsFormat, Timelike, Utc};

use crate::fields::{FieldValue, Fields};

/// The abstract data type of an information element (RFC 7012 §3.1), as far as decoding
/// needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Unsigned,
    Float,
    Boolean,
    Mac,
    Octets,
    String,
    Seconds,
    Millis,
    Micros,
    Nanos,
    Ipv4,
    Ipv6,
}

/// Limits of the template cache. Every limit is a count, so the memory the cache can use is
/// bounded whatever the exporters send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NetflowOptions {
    /// Most exporter scopes (address, version, source id / observation domain) with
    /// templates; the least recently used scope is dropped when a new one arrives.
    pub max_exporters: usize,
    /// Most templates per scope; the least recently used one is dropped for a new one.
    pub max_templates_per_exporter: usize,
    /// Most fields in one template; a longer template is refused (its data sets then fail
    /// with [`NetflowError::MissingTemplate`]).
    pub max_template_fields: usize,
    /// Most field definitions held by all templates together (each template counts its
    /// fields plus one); whole least-recently-used scopes are dropped to stay under it.
    pub max_cached_fields: usize,
    /// Most data records decoded from one packet; the rest of the packet is returned as a
    /// [`SetError`] ([`NetflowError::TooManyRecords`]). Each record costs a few hundred
    /// bytes of output whatever its size on the wire, so this bounds the memory one packet
    /// can make the decoder allocate.
    pub max_records_per_packet: usize,
}

impl Default for NetflowOptions {
    /// 1024 exporters, 256 templates each, 512 fields a template, 1 Mi fields in all
    /// (about 8 MiB of definitions at most), 8192 records a packet (a full 64 KiB IPFIX
    /// message of 8-byte records).
    fn default() -> Self {
        NetflowOptions {
            max_exporters: 1024,
            max_templates_per_exporter: 256,
            max_template_fields: 512,
            max_cached_fields: 1 << 20,
            max_records_per_packet: 8192,
        }
    }
}

/// Why a packet, or one set in it, could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NetflowError {
    /// Fewer bytes than a structure needs.
    #[error("truncated {what} at offset {offset}: {need} bytes needed, {have} present")]
    Truncated {
        /// What was being read (`"v5 header"`, `"set header"`, ...).
        what: &'static str,
        /// Byte offset in the packet.
        offset: usize,
        /// Bytes needed.
        need: usize,
        /// Bytes left.
        have: usize,
    },
    /// The first two bytes are not 5, 9 or 10.
    #[error("unsupported NetFlow version {0}")]
    UnsupportedVersion(u16),
    /// A v5 header announces more records than the packet holds.
    #[error("v5 header announces {count} records, the packet holds {fit}")]
    BadRecordCount {
        /// The header's count.
        count: u16,
        /// Whole 48-byte records present.
        fit: usize,
    },
    /// The IPFIX message length disagrees with the datagram.
    #[error("IPFIX message length {declared} but {actual} bytes received")]
    BadMessageLength {
        /// The header's length.
        declared: u16,
        /// Bytes received.
        actual: usize,
    },
    /// A set header's length is below 4 or runs past the packet.
    #[error("set {set_id} at offset {offset} declares {len} bytes, {have} left")]
    BadSetLength {
        /// The set id.
        set_id: u16,
        /// Byte offset of the set header.
        offset: usize,
        /// The declared length.
        len: u16,
        /// Bytes left in the packet from the set header on.
        have: usize,
    },
    /// A set id reserved by the protocol (v9: 2..=255; IPFIX: 0, 1, 4..=255).
    #[error("reserved set id {set_id} at offset {offset}")]
    ReservedSet {
        /// The set id.
        set_id: u16,
        /// Byte offset of the set header.
        offset: usize,
    },
    /// A template record that cannot be used.
    #[error("template {template_id} at offset {offset}: {reason}")]
    BadTemplate {
        /// The template id (0 if it could not be read).
        template_id: u16,
        /// Byte offset of the template record.
        offset: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// A data set whose template this exporter has not sent (or that was evicted).
    #[error(
        "data set for template {template_id} from {exporter} (domain {domain}) arrived before its template"
    )]
    MissingTemplate {
        /// The set id, which is the template id.
        template_id: u16,
        /// Exporter address.
        exporter: IpAddr,
        /// v9 source id or IPFIX observation domain.
        domain: u32,
    },
    /// The packet holds more records than [`NetflowOptions::max_records_per_packet`].
    #[error("more than {max} records in one packet; the rest from offset {offset} is not decoded")]
    TooManyRecords {
        /// The limit.
        max: usize,
        /// Byte offset of the first record not decoded.
        offset: usize,
    },
    /// A data record runs past its set (only variable-length fields can cause this).
    #[error("record {index} of data set {template_id} at offset {offset} runs past its set")]
    TruncatedRecord {
        /// The template id.
        template_id: u16,
        /// 0-based record index in the set.
        index: usize,
        /// Byte offset of the record.
        offset: usize,
    },
}

/// A set (or trailing part of a packet) that was not decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetError {
    /// Byte range of the undecoded part in the packet (keep `&packet[range]` raw).
    pub range: Range<usize>,
    /// Why.
    pub error: NetflowError,
}

/// Where templates live: one exporter's template id space.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TemplateScope {
    /// The exporter's address.
    pub exporter: IpAddr,
    /// 9 or 10 (v9 and IPFIX templates never mix).
    pub version: u16,
    /// v9 source id / IPFIX observation domain id.
    pub domain: u32,
}

/// The header fields common to the three versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacketHeader {
    /// 5, 9 or 10.
    pub version: u16,
    /// The export time (v5: with the header's nanoseconds).
    pub export_time: Option<DateTime<Utc>>,
    /// Exporter uptime in milliseconds (v5, v9; `None` for IPFIX).
    pub sys_uptime_ms: Option<u32>,
    /// Sequence number (v5: flows; v9: packets; IPFIX: data records).
    pub sequence: u32,
    /// v9 source id / IPFIX observation domain; v5: `engine_type << 8 | engine_id`.
    pub domain: u32,
    /// Record count from the header (v5, v9), or 0 (IPFIX has none).
    pub count: u16,
}

/// One decoded packet.
#[derive(Debug, Clone, PartialEq)]
pub struct NetflowPacket {
    /// The header.
    pub header: PacketHeader,
    /// Flow and options data records, in packet order.
    pub records: Vec<Fields<'static>>,
    /// Templates and options templates learned (or withdrawn) from this packet.
    pub templates: usize,
    /// Parts of the packet that were not decoded, with the reason.
    pub errors: Vec<SetError>,
}

/// Counters since the decoder was created.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NetflowStats {
    /// Packets given to [`NetflowDecoder::decode`].
    pub packets: u64,
    /// Packets rejected whole (`Err`).
    pub malformed_packets: u64,
    /// Data records decoded.
    pub records: u64,
    /// Template and options template records learned.
    pub templates_learned: u64,
    /// Templates withdrawn by their exporter (IPFIX).
    pub templates_withdrawn: u64,
    /// Templates dropped to respect the cache limits.
    pub templates_evicted: u64,
    /// Exporter scopes dropped to respect the cache limits.
    pub scopes_evicted: u64,
    /// Data sets whose template was unknown.
    pub missing_template_sets: u64,
    /// Other undecodable sets and template records.
    pub malformed_sets: u64,
}

/// One field of a template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FieldSpec {
    /// Element id (enterprise bit cleared).
    id: u16,
    /// Length in bytes; `VARIABLE` for IPFIX variable-length fields.
    len: u16,
    /// Private enterprise number, 0 for IANA elements.
    pen: u32,
}

const VARIABLE: u16 = 0xFFFF;

#[derive(Debug, Clone, PartialEq, Eq)]
struct Template {
    fields: Box<[FieldSpec]>,
    /// Leading fields that are (options) scope fields.
    scope_fields: usize,
    /// Options template (its records are `netflow_options`).
    options: bool,
    /// Smallest possible record length (a variable field counts 1).
    min_len: usize,
    last_used: u64,
}

#[derive(Debug, Default)]
struct Scope {
    templates: HashMap<u16, Template>,
    fields: usize,
    last_used: u64,
}

/// A NetFlow/IPFIX decoder: the template cache and counters. One per collector; not shared
/// between threads (shard by exporter if several threads decode).
#[derive(Debug)]
pub struct NetflowDecoder {
    opts: NetflowOptions,
    scopes: HashMap<TemplateScope, Scope>,
    cached_fields: usize,
    tick: u64,
    stats: NetflowStats,
}

impl Default for NetflowDecoder {
    fn default() -> Self {
        NetflowDecoder::new(NetflowOptions::default())
    }
}

/// A bounds-checked big-endian reader over the packet; every read is `Option`.
#[derive(Debug, Clone, Copy)]
struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }
    fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let s = self.buf.get(self.pos..end)?;
        self.pos = end;
        Some(s)
    }
    fn u8(&mut self) -> Option<u8> {
        self.bytes(1).map(|b| b[0])
    }
    fn u16(&mut self) -> Option<u16> {
        self.bytes(2).map(|b| u16::from_be_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Option<u32> {
        self.bytes(4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
}

fn be(b: &[u8]) -> u64 {
    b.iter().fold(0u64, |acc, &x| (acc << 8) | u64::from(x))
}

fn ts_secs(secs: i64, nanos: u32) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(secs, nanos)
}

fn ts_millis(ms: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp_millis(ms)
}

/// RFC 3339 in UTC with `Z`, fraction digits as needed (0, 3, 6 or 9): the same text as
/// chrono's `to_rfc3339_opts(AutoSi, true)`, written by hand because this runs two or three
/// times per flow record and chrono's formatter costs several times more.
fn rfc3339(t: DateTime<Utc>) -> FieldValue<'static> {
    let (y, mo, d) = (t.year(), t.month(), t.day());
    if !(0..=9999).contains(&y) {
        return text(t.to_rfc3339_opts(SecondsFormat::AutoSi, true));
    }
    let mut s = String::with_capacity(30);
    let two = |s: &mut String, v: u32| {
        s.push(char::from(b'0' + (v / 10 % 10) as u8));
        s.push(char::from(b'0' + (v % 10) as u8));
    };
    let y = y.unsigned_abs();
    two(&mut s, y / 100);
    two(&mut s, y % 100);
    s.push('-');
    two(&mut s, mo);
    s.push('-');
    two(&mut s, d);
    s.push('T');
    two(&mut s, t.hour());
    s.push(':');
    two(&mut s, t.minute());
    s.push(':');
    two(&mut s, t.second());
    let nanos = t.nanosecond() % 1_000_000_000;
    let (digits, mut frac) = if nanos == 0 {
        (0, 0)
    } else if nanos.is_multiple_of(1_000_000) {
        (3, nanos / 1_000_000)
    } else if nanos.is_multiple_of(1_000) {
        (6, nanos / 1_000)
    } else {
        (9, nanos)
    };
    if digits > 0 {
        s.push('.');
        let mut buf = [b'0'; 9];
        for i in (0..digits).rev() {
            buf[i] = b'0' + (frac % 10) as u8;
            frac /= 10;
        }
        s.extend(buf[..digits].iter().map(|&b| char::from(b)));
    }
    s.push('Z');
    text(s)
}

/// Decimal text of a number, without the `fmt` machinery.
fn decimal(mut v: u64) -> String {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    buf[i..].iter().map(|&b| char::from(b)).collect()
}

fn unsigned(v: u64) -> FieldValue<'static> {
    match i64::try_from(v) {
        Ok(i) => FieldValue::Int(i),
        Err(_) => text(decimal(v)),
    }
}

fn hex(b: &[u8]) -> FieldValue<'static> {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(b.len() * 2);
    for &x in b {
        s.push(char::from(DIGITS[usize::from(x >> 4)]));
        s.push(char::from(DIGITS[usize::from(x & 15)]));
    }
    FieldValue::Str(Cow::Owned(s))
}

fn mac(b: &[u8]) -> FieldValue<'static> {
    const DIGITS: &[u8; 16] = b"0123456789ABCDEF";
    let mut s = String::with_capacity(17);
    for (i, &x) in b.iter().enumerate() {
        if i > 0 {
            s.push('-');
        }
        s.push(char::from(DIGITS[usize::from(x >> 4)]));
        s.push(char::from(DIGITS[usize::from(x & 15)]));
    }
    FieldValue::Str(Cow::Owned(s))
}

fn ip_value(ip: IpAddr) -> FieldValue<'static> {
    match ip {
        IpAddr::V4(a) => {
            // Dotted quad by hand: `to_string` goes through `fmt` and costs several times more.
            let mut s = String::with_capacity(15);
            for (i, o) in a.octets().into_iter().enumerate() {
                if i > 0 {
                    s.push('.');
                }
                if o >= 100 {
                    s.push(char::from(b'0' + o / 100));
                }
                if o >= 10 {
                    s.push(char::from(b'0' + o / 10 % 10));
                }
                s.push(char::from(b'0' + o % 10));
            }
            text(s)
        }
        IpAddr::V6(a) => text(a.to_string()),
    }
}

fn text(s: String) -> FieldValue<'static> {
    FieldValue::Str(Cow::Owned(s))
}

/// IANA protocol number to the ECS `network.transport` name, for the common ones.
fn transport(proto: u8) -> Option<&'static str> {
    Some(match proto {
        1 => "icmp",
        2 => "igmp",
        4 => "ipv4",
        6 => "tcp",
        17 => "udp",
        41 => "ipv6",
        47 => "gre",
        50 => "esp",
        51 => "ah",
        58 => "ipv6-icmp",
        89 => "ospf",
        103 => "pim",
        112 => "vrrp",
        132 => "sctp",
        _ => return None,
    })
}

/// NTP timestamp (RFC 7011 §6.1.9/10: seconds since 1900 and a binary fraction).
fn ntp(b: &[u8]) -> Option<DateTime<Utc>> {
    if b.len() != 8 {
        return None;
    }
    let secs = i64::from(u32::from_be_bytes([b[0], b[1], b[2], b[3]])) - 2_208_988_800;
    // dateTimeMicroseconds should have the low 11 bits of the fraction zero; exporters that
    // fill them (Netscaler) are read as sent: the finer value is the better estimate.
    let frac = u64::from(u32::from_be_bytes([b[4], b[5], b[6], b[7]]));
    let nanos = u32::try_from((frac * 1_000_000_000) >> 32).ok()?;
    ts_secs(secs, nanos)
}

/// The time context of a packet for resolving relative timestamps.
#[derive(Debug, Clone, Copy)]
struct Clock {
    /// Export time in ms since the epoch.
    export_ms: i64,
    /// Uptime at export (v5/v9), or the IPFIX record's systemInitTimeMilliseconds.
    uptime_ms: Option<u32>,
}

impl Clock {
    /// Absolute time of a sysUpTime stamp: export time minus (uptime - stamp) mod 2^32.
    fn at_uptime(&self, stamp: u32) -> Option<DateTime<Utc>> {
        let up = self.uptime_ms?;
        ts_millis(self.export_ms - i64::from(up.wrapping_sub(stamp)))
    }
}

/// Writes one element's value under its ECS or `netflow.*` name.
fn push_element(
    out: &mut Fields<'static>,
    spec: FieldSpec,
    b: &[u8],
    clock: &Clock,
    init_ms: Option<i64>,
) {
    if spec.pen == 29305 {
        // RFC 5103 reverse elements: same type as the forward element.
        match ie::IES.get(usize::from(spec.id)).copied().flatten() {
            Some((name, kind)) => {
                let name = format!("netflow.reverse_{}", name.trim_start_matches("netflow."));
                out.push(name, typed(kind, b));
            }
            None => out.push(format!("netflow.ie_{}_{}", spec.pen, spec.id), hex(b)),
        }
        return;
    }
    if spec.pen != 0 {
        out.push(format!("netflow.ie_{}_{}", spec.pen, spec.id), hex(b));
        return;
    }
    let u = || (b.len() <= 8 && !b.is_empty()).then(|| be(b));
    let ecs: Option<(&'static str, FieldValue<'static>)> = match spec.id {
        1 => u().map(|v| ("network.bytes", unsigned(v))),
        2 => u().map(|v| ("network.packets", unsigned(v))),
        4 if b.len() == 1 => {
            if let Some(t) = transport(b[0]) {
                out.push("network.transport", t);
            }
            Some(("network.iana_number", text(decimal(u64::from(b[0])))))
        }
        7 => u().map(|v| ("source.port", unsigned(v))),
        11 => u().map(|v| ("destination.port", unsigned(v))),
        8 | 27 => addr(b).map(|a| ("source.ip", a)),
        12 | 28 => addr(b).map(|a| ("destination.ip", a)),
        10 => u().map(|v| ("observer.ingress.interface.id", text(decimal(v)))),
        14 => u().map(|v| ("observer.egress.interface.id", text(decimal(v)))),
        16 => u().map(|v| ("source.as.number", unsigned(v))),
        17 => u().map(|v| ("destination.as.number", unsigned(v))),
        56 if b.len() == 6 => Some(("source.mac", mac(b))),
        80 if b.len() == 6 => Some(("destination.mac", mac(b))),
        58 => u().map(|v| ("network.vlan.id", text(decimal(v)))),
        61 if b.len() == 1 && b[0] <= 1 => Some((
            "network.direction",
            FieldValue::from(if b[0] == 0 { "ingress" } else { "egress" }),
        )),
        225 | 281 => addr(b).map(|a| ("source.nat.ip", a)),
        226 | 282 => addr(b).map(|a| ("destination.nat.ip", a)),
        227 => u().map(|v| ("source.nat.port", unsigned(v))),
        228 => u().map(|v| ("destination.nat.port", unsigned(v))),
        22 | 21 if b.len() == 4 => {
            let stamp = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
            let key = if spec.id == 22 {
                "event.start"
            } else {
                "event.end"
            };
            let at = match init_ms {
                // IPFIX: relative to systemInitTimeMilliseconds in the same record.
                Some(init) => ts_millis(init.saturating_add(i64::from(stamp))),
                None => clock.at_uptime(stamp),
            };
            match at {
                Some(t) => Some((key, rfc3339(t))),
                None => Some((
                    if spec.id == 22 {
                        "netflow.flow_start_sys_up_time"
                    } else {
                        "netflow.flow_end_sys_up_time"
                    },
                    FieldValue::Int(i64::from(stamp)),
                )),
            }
        }
        150..=157 => {
            let start = spec.id.is_multiple_of(2);
            let t = match spec.id {
                150 | 151 if b.len() == 4 => ts_secs(i64::try_from(be(b)).unwrap_or(0), 0),
                152 | 153 if b.len() == 8 => i64::try_from(be(b)).ok().and_then(ts_millis),
                154 | 155 => ntp(b),
                156 | 157 => ntp(b),
                _ => None,
            };
            t.map(|t| (if start { "event.start" } else { "event.end" }, rfc3339(t)))
        }
        158 | 159 if b.len() == 4 => {
            let delta_us = i64::from(u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
            let at = DateTime::from_timestamp_micros(
                clock
                    .export_ms
                    .saturating_mul(1000)
                    .saturating_sub(delta_us),
            );
            at.map(|t| {
                (
                    if spec.id == 158 {
                        "event.start"
                    } else {
                        "event.end"
                    },
                    rfc3339(t),
                )
            })
        }
        // Cisco ASA NSEL (v9 only: ids over 32767 are enterprise-marked in IPFIX).
        33000 => Some(("netflow.ingress_acl_id", hex(b))),
        33001 => Some(("netflow.egress_acl_id", hex(b))),
        33002 => u().map(|v| ("netflow.fw_ext_event", unsigned(v))),
        40000 => match typed(Kind::String, b) {
            FieldValue::Str(name) if !name.is_empty() => Some(("user.name", FieldValue::Str(name))),
            _ => return,
        },
        40001 => addr(b).map(|a| ("source.nat.ip", a)),
        40002 => addr(b).map(|a| ("destination.nat.ip", a)),
        40003 => u().map(|v| ("source.nat.port", unsigned(v))),
        40004 => u().map(|v| ("destination.nat.port", unsigned(v))),
        40005 => u().map(|v| ("netflow.fw_event", unsigned(v))),
        161 => u().map(|v| ("event.duration", unsigned(v.saturating_mul(1_000_000)))),
        162 => u().map(|v| ("event.duration", unsigned(v.saturating_mul(1_000)))),
        _ => None,
    };
    if let Some((k, v)) = ecs {
        out.push(k, v);
        return;
    }
    match ie::IES.get(usize::from(spec.id)).copied().flatten() {
        Some((name, kind)) => out.push(name, typed(kind, b)),
        None => out.push(format!("netflow.ie_{}", spec.id), hex(b)),
    }
}

fn addr(b: &[u8]) -> Option<FieldValue<'static>> {
    match b.len() {
        4 => Some(ip_value(IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3])))),
        16 => {
            let mut a = [0u8; 16];
            a.copy_from_slice(b);
            Some(ip_value(IpAddr::V6(Ipv6Addr::from(a))))
        }
        _ => None,
    }
}

/// A value by its abstract type; a length the type cannot have gives hex.
fn typed(kind: Kind, b: &[u8]) -> FieldValue<'static> {
    let n = b.len();
    match kind {
        Kind::Unsigned if (1..=8).contains(&n) => unsigned(be(b)),
        Kind::Float if n == 4 => {
            FieldValue::Float(f64::from(f32::from_be_bytes([b[0], b[1], b[2], b[3]])))
        }
        Kind::Float if n == 8 => FieldValue::Float(f64::from_bits(be(b))),
        Kind::Boolean if n == 1 && (b[0] == 1 || b[0] == 2) => FieldValue::Bool(b[0] == 1),
        Kind::Mac if n == 6 => mac(b),
        Kind::Ipv4 | Kind::Ipv6 => addr(b).unwrap_or_else(|| hex(b)),
        Kind::String => {
            let end = b.iter().rposition(|&c| c != 0).map_or(0, |i| i + 1);
            text(String::from_utf8_lossy(&b[..end]).into_owned())
        }
        Kind::Seconds if n == 4 => {
            ts_secs(i64::try_from(be(b)).unwrap_or(0), 0).map_or_else(|| unsigned(be(b)), rfc3339)
        }
        Kind::Millis if n == 8 => i64::try_from(be(b))
            .ok()
            .and_then(ts_millis)
            .map_or_else(|| unsigned(be(b)), rfc3339),
        Kind::Micros | Kind::Nanos if n == 8 => ntp(b).map_or_else(|| hex(b), rfc3339),
        _ => hex(b),
    }
}

/// v9 options scope field types (RFC 3954 §6.1).
fn v9_scope_name(t: u16) -> Cow<'static, str> {
    Cow::Borrowed(match t {
        1 => "netflow.scope_system",
        2 => "netflow.scope_interface",
        3 => "netflow.scope_line_card",
        4 => "netflow.scope_cache",
        5 => "netflow.scope_template",
        _ => return Cow::Owned(format!("netflow.scope_{t}")),
    })
}

impl NetflowDecoder {
    /// A decoder with an empty template cache.
    pub fn new(opts: NetflowOptions) -> Self {
        NetflowDecoder {
            opts,
            scopes: HashMap::new(),
            cached_fields: 0,
            tick: 0,
            stats: NetflowStats::default(),
        }
    }

    /// The counters.
    pub fn stats(&self) -> NetflowStats {
        self.stats
    }

    /// Scopes and templates currently cached.
    pub fn cached(&self) -> (usize, usize) {
        (
            self.scopes.len(),
            self.scopes.values().map(|s| s.templates.len()).sum(),
        )
    }

    /// Forgets every template of every exporter.
    pub fn clear(&mut self) {
        self.scopes.clear();
        self.cached_fields = 0;
    }

    /// Decodes one export packet (a UDP payload) from `exporter`. `Err` when the header
    /// cannot be trusted; otherwise every record that could be decoded, and the sets that
    /// could not, with their reason and byte range.
    pub fn decode(
        &mut self,
        exporter: IpAddr,
        packet: &[u8],
    ) -> Result<NetflowPacket, NetflowError> {
        self.stats.packets += 1;
        let r = match packet {
            [0, 5, ..] => self.decode_v5(exporter, packet),
            [0, 9, ..] => self.decode_v9(exporter, packet),
            [0, 10, ..] => self.decode_ipfix(exporter, packet),
            [a, b, ..] => Err(NetflowError::UnsupportedVersion(u16::from_be_bytes([
                *a, *b,
            ]))),
            _ => Err(NetflowError::Truncated {
                what: "version",
                offset: 0,
                need: 2,
                have: packet.len(),
            }),
        };
        match &r {
            Ok(p) => {
                self.stats.records += p.records.len() as u64;
                for e in &p.errors {
                    if matches!(e.error, NetflowError::MissingTemplate { .. }) {
                        self.stats.missing_template_sets += 1;
                    } else {
                        self.stats.malformed_sets += 1;
                    }
                }
            }
            Err(_) => self.stats.malformed_packets += 1,
        }
        r
    }

    fn decode_v5(
        &mut self,
        exporter: IpAddr,
        packet: &[u8],
    ) -> Result<NetflowPacket, NetflowError> {
        let mut c = Cursor {
            buf: packet,
            pos: 2,
        };
        let header_err = || NetflowError::Truncated {
            what: "v5 header",
            offset: 0,
            need: 24,
            have: packet.len(),
        };
        let count = c.u16().ok_or_else(header_err)?;
        let uptime = c.u32().ok_or_else(header_err)?;
        let secs = c.u32().ok_or_else(header_err)?;
        let nsecs = c.u32().ok_or_else(header_err)?;
        let sequence = c.u32().ok_or_else(header_err)?;
        let engine_type = c.u8().ok_or_else(header_err)?;
        let engine_id = c.u8().ok_or_else(header_err)?;
        let sampling = c.u16().ok_or_else(header_err)?;
        let fit = c.remaining() / 48;
        if usize::from(count) > fit {
            return Err(NetflowError::BadRecordCount { count, fit });
        }
        let export_ms = i64::from(secs) * 1000 + i64::from(nsecs / 1_000_000);
        let header = PacketHeader {
            version: 5,
            export_time: ts_secs(i64::from(secs), nsecs.min(999_999_999)),
            sys_uptime_ms: Some(uptime),
            sequence,
            domain: u32::from(engine_type) << 8 | u32::from(engine_id),
            count,
        };
        let clock = Clock {
            export_ms,
            uptime_ms: Some(uptime),
        };
        let observer = ip_value(exporter);
        let export_time = header.export_time.map(rfc3339).unwrap_or(FieldValue::Null);
        let mut records = Vec::with_capacity(usize::from(count));
        for _ in 0..count {
            let Some(r) = c.bytes(48) else { break };
            let mut f = Fields::with_capacity(32);
            let u16at = |i: usize| u64::from(u16::from_be_bytes([r[i], r[i + 1]]));
            let u32at = |i: usize| u32::from_be_bytes([r[i], r[i + 1], r[i + 2], r[i + 3]]);
            f.push("netflow.type", "netflow_flow");
            f.push(
                "source.ip",
                ip_value(IpAddr::V4(Ipv4Addr::new(r[0], r[1], r[2], r[3]))),
            );
            f.push(
                "destination.ip",
                ip_value(IpAddr::V4(Ipv4Addr::new(r[4], r[5], r[6], r[7]))),
            );
            f.push(
                "netflow.ip_next_hop_ipv4_address",
                ip_value(IpAddr::V4(Ipv4Addr::new(r[8], r[9], r[10], r[11]))),
            );
            f.push("observer.ingress.interface.id", text(decimal(u16at(12))));
            f.push("observer.egress.interface.id", text(decimal(u16at(14))));
            f.push("network.packets", unsigned(u64::from(u32at(16))));
            f.push("network.bytes", unsigned(u64::from(u32at(20))));
            for (i, key) in [(24, "event.start"), (28, "event.end")] {
                match clock.at_uptime(u32at(i)) {
                    Some(t) => f.push(key, rfc3339(t)),
                    None => f.push(key, FieldValue::Null),
                }
            }
            f.push("source.port", unsigned(u16at(32)));
            f.push("destination.port", unsigned(u16at(34)));
            f.push(
                "netflow.tcp_control_bits",
                FieldValue::Int(i64::from(r[37])),
            );
            if let Some(t) = transport(r[38]) {
                f.push("network.transport", t);
            }
            f.push("network.iana_number", text(decimal(u64::from(r[38]))));
            f.push(
                "netflow.ip_class_of_service",
                FieldValue::Int(i64::from(r[39])),
            );
            f.push("source.as.number", unsigned(u16at(40)));
            f.push("destination.as.number", unsigned(u16at(42)));
            f.push(
                "netflow.source_ipv4_prefix_length",
                FieldValue::Int(i64::from(r[44])),
            );
            f.push(
                "netflow.destination_ipv4_prefix_length",
                FieldValue::Int(i64::from(r[45])),
            );
            f.push(
                "netflow.engine_type",
                FieldValue::Int(i64::from(engine_type)),
            );
            f.push("netflow.engine_id", FieldValue::Int(i64::from(engine_id)));
            f.push(
                "netflow.sampling_algorithm",
                FieldValue::Int(i64::from(sampling >> 14)),
            );
            f.push(
                "netflow.sampling_interval",
                FieldValue::Int(i64::from(sampling & 0x3FFF)),
            );
            f.push("observer.ip", observer.clone());
            f.push("netflow.exporter.version", FieldValue::Int(5));
            f.push(
                "netflow.exporter.source_id",
                FieldValue::Int(i64::from(header.domain)),
            );
            f.push(
                "netflow.exporter.uptime_millis",
                FieldValue::Int(i64::from(uptime)),
            );
            f.push("netflow.exporter.timestamp", export_time.clone());
            records.push(f);
        }
        Ok(NetflowPacket {
            header,
            records,
            templates: 0,
            errors: Vec::new(),
        })
    }

    fn decode_v9(
        &mut self,
        exporter: IpAddr,
        packet: &[u8],
    ) -> Result<NetflowPacket, NetflowError> {
        let mut c = Cursor {
            buf: packet,
            pos: 2,
        };
        let header_err = || NetflowError::Truncated {
            what: "v9 header",
            offset: 0,
            need: 20,
            have: packet.len(),
        };
        let count = c.u16().ok_or_else(header_err)?;
        let uptime = c.u32().ok_or_else(header_err)?;
        let secs = c.u32().ok_or_else(header_err)?;
        let sequence = c.u32().ok_or_else(header_err)?;
        let domain = c.u32().ok_or_else(header_err)?;
        let header = PacketHeader {
            version: 9,
            export_time: ts_secs(i64::from(secs), 0),
            sys_uptime_ms: Some(uptime),
            sequence,
            domain,
            count,
        };
        let clock = Clock {
            export_ms: i64::from(secs) * 1000,
            uptime_ms: Some(uptime),
        };
        let scope = TemplateScope {
            exporter,
            version: 9,
            domain,
        };
        Ok(self.decode_sets(scope, header, clock, packet, 20))
    }

    fn decode_ipfix(
        &mut self,
        exporter: IpAddr,
        packet: &[u8],
    ) -> Result<NetflowPacket, NetflowError> {
        let mut c = Cursor {
            buf: packet,
            pos: 2,
        };
        let header_err = || NetflowError::Truncated {
            what: "IPFIX header",
            offset: 0,
            need: 16,
            have: packet.len(),
        };
        let length = c.u16().ok_or_else(header_err)?;
        let secs = c.u32().ok_or_else(header_err)?;
        let sequence = c.u32().ok_or_else(header_err)?;
        let domain = c.u32().ok_or_else(header_err)?;
        // The message length bounds the sets; a datagram shorter than it is truncated.
        let declared = usize::from(length);
        if declared < 16 || declared > packet.len() {
            return Err(NetflowError::BadMessageLength {
                declared: length,
                actual: packet.len(),
            });
        }
        let header = PacketHeader {
            version: 10,
            export_time: ts_secs(i64::from(secs), 0),
            sys_uptime_ms: None,
            sequence,
            domain,
            count: 0,
        };
        let clock = Clock {
            export_ms: i64::from(secs) * 1000,
            uptime_ms: None,
        };
        let scope = TemplateScope {
            exporter,
            version: 10,
            domain,
        };
        let mut p = self.decode_sets(scope, header, clock, &packet[..declared], 16);
        if declared < packet.len() {
            p.errors.push(SetError {
                range: declared..packet.len(),
                error: NetflowError::BadMessageLength {
                    declared: length,
                    actual: packet.len(),
                },
            });
        }
        Ok(p)
    }

    /// The sets of a v9 or IPFIX message, from `start` to the end of `packet`.
    fn decode_sets(
        &mut self,
        scope: TemplateScope,
        header: PacketHeader,
        clock: Clock,
        packet: &[u8],
        start: usize,
    ) -> NetflowPacket {
        let ipfix = scope.version == 10;
        let mut out = NetflowPacket {
            header,
            records: Vec::new(),
            templates: 0,
            errors: Vec::new(),
        };
        let mut c = Cursor {
            buf: packet,
            pos: start,
        };
        while c.remaining() > 0 {
            let at = c.pos;
            let (Some(set_id), Some(len)) = (c.u16(), c.u16()) else {
                out.errors.push(SetError {
                    range: at..packet.len(),
                    error: NetflowError::Truncated {
                        what: "set header",
                        offset: at,
                        need: 4,
                        have: packet.len() - at,
                    },
                });
                break;
            };
            let have = packet.len() - at;
            if len < 4 || usize::from(len) > have {
                // v9 exporters pad packets with zeros (Palo Alto): a zero set header with
                // only zeros after it is padding, not an error.
                if set_id == 0 && len == 0 && packet[at..].iter().all(|&b| b == 0) {
                    break;
                }
                out.errors.push(SetError {
                    range: at..packet.len(),
                    error: NetflowError::BadSetLength {
                        set_id,
                        offset: at,
                        len,
                        have,
                    },
                });
                break;
            }
            let end = at + usize::from(len);
            let body = Cursor {
                buf: &packet[..end],
                pos: at + 4,
            };
            c.pos = end;
            match (ipfix, set_id) {
                (false, 0) | (true, 2) => self.templates(scope, body, false, &mut out),
                (false, 1) | (true, 3) => self.templates(scope, body, true, &mut out),
                (_, 256..) => self.data(scope, set_id, body, clock, &mut out),
                _ => out.errors.push(SetError {
                    range: at..end,
                    error: NetflowError::ReservedSet { set_id, offset: at },
                }),
            }
        }
        out
    }

    /// A template set (v9 id 0, IPFIX 2) or options template set (v9 1, IPFIX 3).
    fn templates(
        &mut self,
        scope: TemplateScope,
        mut c: Cursor<'_>,
        options: bool,
        out: &mut NetflowPacket,
    ) {
        let ipfix = scope.version == 10;
        // Anything shorter than a template header left at the end of a set is padding.
        let header_len = if options && !ipfix { 6 } else { 4 };
        while c.remaining() >= header_len {
            let at = c.pos;
            let bad = |reason: &'static str, template_id: u16, end: usize| SetError {
                range: at..end,
                error: NetflowError::BadTemplate {
                    template_id,
                    offset: at,
                    reason,
                },
            };
            let set_end = c.buf.len();
            let template_id = c.u16().unwrap_or(0);
            let (total, scope_count) = if !options {
                (usize::from(c.u16().unwrap_or(0)), 0)
            } else if ipfix {
                let total = usize::from(c.u16().unwrap_or(0));
                if total == 0 {
                    (0, 0)
                } else {
                    let Some(s) = c.u16() else {
                        out.errors.push(bad(
                            "truncated options template header",
                            template_id,
                            set_end,
                        ));
                        return;
                    };
                    (total, usize::from(s))
                }
            } else {
                let scope_len = usize::from(c.u16().unwrap_or(0));
                let option_len = usize::from(c.u16().unwrap_or(0));
                if scope_len % 4 != 0 || option_len % 4 != 0 {
                    out.errors.push(bad(
                        "scope/option length not a multiple of 4",
                        template_id,
                        set_end,
                    ));
                    return;
                }
                ((scope_len + option_len) / 4, scope_len / 4)
            };
            if template_id == 0 && total == 0 {
                // Zero padding after the last template (id 0 is never a template).
                return;
            }
            if total == 0 {
                if ipfix {
                    // RFC 7011 §8.1: a withdrawal; the template id of the set itself
                    // (2 or 3) withdraws all templates of that kind.
                    self.withdraw(scope, template_id, options);
                    out.templates += 1;
                    self.stats.templates_withdrawn += 1;
                    continue;
                }
                out.errors.push(bad("no fields", template_id, set_end));
                return;
            }
            if template_id < 256 {
                out.errors
                    .push(bad("template id below 256", template_id, set_end));
                return;
            }
            if scope_count > total {
                out.errors
                    .push(bad("more scope fields than fields", template_id, set_end));
                return;
            }
            let mut fields = Vec::with_capacity(total.min(c.remaining() / 4));
            let mut min_len = 0usize;
            for _ in 0..total {
                let (Some(raw_id), Some(len)) = (c.u16(), c.u16()) else {
                    out.errors
                        .push(bad("truncated field list", template_id, set_end));
                    return;
                };
                let (id, pen) = if ipfix && raw_id & 0x8000 != 0 {
                    let Some(pen) = c.u32() else {
                        out.errors
                            .push(bad("truncated enterprise number", template_id, set_end));
                        return;
                    };
                    (raw_id & 0x7FFF, pen)
                } else {
                    (raw_id, 0)
                };
                min_len += if len == VARIABLE { 1 } else { usize::from(len) };
                fields.push(FieldSpec { id, len, pen });
            }
            if total > self.opts.max_template_fields {
                out.errors.push(bad(
                    "more fields than max_template_fields",
                    template_id,
                    c.pos,
                ));
                continue;
            }
            if min_len == 0 {
                out.errors
                    .push(bad("records of zero length", template_id, c.pos));
                continue;
            }
            self.learn(
                scope,
                template_id,
                Template {
                    fields: fields.into_boxed_slice(),
                    scope_fields: scope_count,
                    options,
                    min_len,
                    last_used: 0,
                },
            );
            out.templates += 1;
        }
    }

    fn touch(&mut self) -> u64 {
        self.tick += 1;
        self.tick
    }

    fn learn(&mut self, key: TemplateScope, id: u16, mut t: Template) {
        let tick = self.touch();
        t.last_used = tick;
        let cost = t.fields.len() + 1;
        if cost > self.opts.max_cached_fields {
            return; // larger than the whole budget: nothing is evicted for it
        }
        if !self.scopes.contains_key(&key) && self.scopes.len() >= self.opts.max_exporters {
            self.evict_scope(key);
        }
        // Make room in the global field budget, dropping other exporters first.
        while self.cached_fields + cost > self.opts.max_cached_fields
            && self.scopes.keys().any(|k| *k != key)
        {
            self.evict_scope(key);
        }
        let max_per_scope = self.opts.max_templates_per_exporter.max(1);
        let scope = self.scopes.entry(key).or_default();
        scope.last_used = tick;
        if let Some(old) = scope.templates.remove(&id) {
            scope.fields -= old.fields.len() + 1;
            self.cached_fields -= old.fields.len() + 1;
        }
        while scope.templates.len() >= max_per_scope
            || (self.cached_fields + cost > self.opts.max_cached_fields
                && !scope.templates.is_empty())
        {
            let Some((&lru, _)) = scope.templates.iter().min_by_key(|(_, t)| t.last_used) else {
                break;
            };
            if let Some(old) = scope.templates.remove(&lru) {
                scope.fields -= old.fields.len() + 1;
                self.cached_fields -= old.fields.len() + 1;
                self.stats.templates_evicted += 1;
            }
        }
        if self.cached_fields + cost > self.opts.max_cached_fields {
            // Larger than the whole budget: refuse it.
            return;
        }
        scope.fields += cost;
        self.cached_fields += cost;
        scope.templates.insert(id, t);
        self.stats.templates_learned += 1;
    }

    /// Drops the least recently used scope other than `keep`.
    fn evict_scope(&mut self, keep: TemplateScope) {
        let lru = self
            .scopes
            .iter()
            .filter(|(k, _)| **k != keep)
            .min_by_key(|(_, s)| s.last_used)
            .map(|(k, _)| *k);
        if let Some(s) = lru.and_then(|k| self.scopes.remove(&k)) {
            self.cached_fields -= s.fields;
            self.stats.templates_evicted += s.templates.len() as u64;
            self.stats.scopes_evicted += 1;
        }
    }

    fn withdraw(&mut self, key: TemplateScope, id: u16, options: bool) {
        let Some(scope) = self.scopes.get_mut(&key) else {
            return;
        };
        let all = id == if options { 3 } else { 2 };
        let mut freed = 0;
        scope.templates.retain(|&tid, t| {
            let drop = if all { t.options == options } else { tid == id };
            if drop {
                freed += t.fields.len() + 1;
            }
            !drop
        });
        scope.fields -= freed;
        self.cached_fields -= freed;
    }

    /// A data set: records until fewer bytes than the smallest record are left (padding).
    fn data(
        &mut self,
        key: TemplateScope,
        set_id: u16,
        mut c: Cursor<'_>,
        clock: Clock,
        out: &mut NetflowPacket,
    ) {
        let tick = self.touch();
        let set_start = c.pos - 4;
        let Some(scope) = self.scopes.get_mut(&key) else {
            out.errors.push(SetError {
                range: set_start..c.buf.len(),
                error: NetflowError::MissingTemplate {
                    template_id: set_id,
                    exporter: key.exporter,
                    domain: key.domain,
                },
            });
            return;
        };
        scope.last_used = tick;
        let Some(t) = scope.templates.get_mut(&set_id) else {
            out.errors.push(SetError {
                range: set_start..c.buf.len(),
                error: NetflowError::MissingTemplate {
                    template_id: set_id,
                    exporter: key.exporter,
                    domain: key.domain,
                },
            });
            return;
        };
        t.last_used = tick;
        let t = &*t;
        let ipfix = key.version == 10;
        let observer = ip_value(key.exporter);
        let export_time = out
            .header
            .export_time
            .map(rfc3339)
            .unwrap_or(FieldValue::Null);
        let mut index = 0;
        let mut values: Vec<&[u8]> = Vec::with_capacity(t.fields.len());
        while c.remaining() >= t.min_len {
            let at = c.pos;
            if out.records.len() >= self.opts.max_records_per_packet {
                out.errors.push(SetError {
                    range: at..c.buf.len(),
                    error: NetflowError::TooManyRecords {
                        max: self.opts.max_records_per_packet,
                        offset: at,
                    },
                });
                return;
            }
            values.clear();
            let mut ok = true;
            for f in t.fields.iter() {
                let len = if f.len == VARIABLE {
                    match c.u8() {
                        Some(255) => c.u16().map(usize::from),
                        Some(n) => Some(usize::from(n)),
                        None => None,
                    }
                } else {
                    Some(usize::from(f.len))
                };
                match len.and_then(|n| c.bytes(n)) {
                    Some(v) => values.push(v),
                    None => {
                        ok = false;
                        break;
                    }
                }
            }
            if !ok {
                out.errors.push(SetError {
                    range: at..c.buf.len(),
                    error: NetflowError::TruncatedRecord {
                        template_id: set_id,
                        index,
                        offset: at,
                    },
                });
                return;
            }
            // IPFIX sysUpTime stamps are relative to systemInitTimeMilliseconds (IE 160).
            let init_ms = if ipfix {
                t.fields
                    .iter()
                    .zip(&values)
                    .find(|(f, v)| f.id == 160 && f.pen == 0 && v.len() == 8)
                    .and_then(|(_, v)| i64::try_from(be(v)).ok())
            } else {
                None
            };
            let mut rec = Fields::with_capacity(t.fields.len() + 6);
            rec.push(
                "netflow.type",
                if t.options {
                    "netflow_options"
                } else {
                    "netflow_flow"
                },
            );
            for (i, (f, v)) in t.fields.iter().zip(&values).enumerate() {
                if f.len == 0 {
                    // Zero-length fields carry nothing (so every field written consumed at
                    // least one byte of the packet).
                } else if t.options && !ipfix && i < t.scope_fields {
                    rec.push(
                        v9_scope_name(f.id),
                        if (1..=8).contains(&v.len()) {
                            unsigned(be(v))
                        } else {
                            hex(v)
                        },
                    );
                } else {
                    push_element(&mut rec, *f, v, &clock, init_ms);
                }
            }
            rec.push("observer.ip", observer.clone());
            rec.push(
                "netflow.exporter.version",
                FieldValue::Int(i64::from(key.version)),
            );
            rec.push(
                "netflow.exporter.source_id",
                FieldValue::Int(i64::from(key.domain)),
            );
            if let Some(up) = out.header.sys_uptime_ms {
                rec.push(
                    "netflow.exporter.uptime_millis",
                    FieldValue::Int(i64::from(up)),
                );
            }
            rec.push("netflow.exporter.timestamp", export_time.clone());
            out.records.push(rec);
            index += 1;
        }
    }
}

#[cfg(test)]
mod tests;
