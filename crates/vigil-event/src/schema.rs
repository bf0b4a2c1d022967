//! The field registry: every named field of the event, its type, its doc, its aliases, and how
//! to read and write it. One table drives search, rules, normalizer mappings, JSON output and
//! the generated schema reference, so a field cannot exist in one place and not another.

use std::collections::HashMap;
use std::sync::LazyLock;

use crate::json::{JsonSlot, write_str};
use crate::slot::{SetError, Slot};
use crate::{Event, EventType, FieldKind, Timestamp, Value, ValueRef};

type SlotRef = fn(&Event) -> &dyn Slot;
type SlotMut = fn(&mut Event) -> &mut dyn Slot;
type VisitFn = fn(&Event, &mut dyn FnMut(ValueRef<'_>));

/// How a registered field is read and written.
#[derive(Clone, Copy)]
enum Access {
    /// A typed slot of the struct.
    Slot(SlotRef, SlotMut),
    /// A field with its own representation (event id, event type).
    Custom {
        kind: FieldKind,
        visit: VisitFn,
        set: fn(&mut Event, Value) -> Result<(), SetError>,
    },
}

/// One registered field.
#[derive(Clone, Copy)]
pub struct FieldDef {
    /// The canonical dotted name, e.g. `source.ip`.
    pub name: &'static str,
    /// What the field holds.
    pub doc: &'static str,
    access: Access,
    /// Writes the field's JSON value (a scalar, or an array for string lists); called only
    /// when the field is set.
    json: fn(&Event, &mut Vec<u8>),
}

impl std::fmt::Debug for FieldDef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FieldDef")
            .field("name", &self.name)
            .field("kind", &self.kind())
            .finish()
    }
}

static BLANK: LazyLock<Event> = LazyLock::new(Event::default);

impl FieldDef {
    /// The field's type.
    pub fn kind(&self) -> FieldKind {
        match self.access {
            Access::Slot(get, _) => get(&BLANK).kind(),
            Access::Custom { kind, .. } => kind,
        }
    }

    /// Visit the field's value(s) in `ev`.
    #[inline]
    pub fn visit(&self, ev: &Event, f: &mut dyn FnMut(ValueRef<'_>)) {
        match self.access {
            Access::Slot(get, _) => get(ev).visit(f),
            Access::Custom { visit, .. } => visit(ev, f),
        }
    }

    /// Whether `ev` has a value for this field.
    pub fn is_set(&self, ev: &Event) -> bool {
        match self.access {
            Access::Slot(get, _) => get(ev).is_set(),
            Access::Custom { .. } => true,
        }
    }

    /// Appends the field's JSON value: a scalar, or an array for a string list. Writes
    /// nothing sensible when the field is not set: check [`FieldDef::is_set`] first.
    pub(crate) fn write_json(&self, ev: &Event, out: &mut Vec<u8>) {
        (self.json)(ev, out)
    }

    /// Store a copy of `v` into `ev`, converting it to the field's type: what
    /// `set(ev, v.clone())` does, copying less (constants of a normalizer).
    pub fn set_ref(&self, ev: &mut Event, v: &Value) -> Result<(), SetError> {
        match self.access {
            Access::Slot(_, get_mut) => get_mut(ev).set_ref(v),
            Access::Custom { set, .. } => set(ev, v.clone()),
        }
    }

    /// Store `v` into `ev`, converting it to the field's type.
    pub fn set(&self, ev: &mut Event, v: Value) -> Result<(), SetError> {
        match self.access {
            Access::Slot(_, get_mut) => get_mut(ev).set(v),
            Access::Custom { set, .. } => set(ev, v),
        }
    }
}

macro_rules! schema {
    ( $( $name:literal => $($path:ident).+ , $doc:literal ; )* ) => {
        /// The fields stored in typed slots of [`Event`], in registry order.
        static TYPED: &[FieldDef] = &[ $( FieldDef {
            name: $name,
            doc: $doc,
            access: Access::Slot(
                |e: &Event| -> &dyn Slot { &e.$($path).+ },
                |e: &mut Event| -> &mut dyn Slot { &mut e.$($path).+ },
            ),
            json: |e: &Event, out: &mut Vec<u8>| JsonSlot::write_json(&e.$($path).+, out),
        }, )* ];

        /// How many fields [`TYPED`] holds.
        const TYPED_LEN: usize = [ $( $name, )* ].len();

        /// Marks the typed fields that `e` has (field `i` of [`TYPED`] as member `i`): one
        /// inlined test per field, no call through the slot table.
        fn typed_set_fields(e: &Event, set: &mut FieldSet) {
            let mut i = 0usize;
            $(
                if Slot::is_set(&e.$($path).+) {
                    set.insert(i);
                }
                i += 1;
            )*
            debug_assert_eq!(i, TYPED_LEN);
        }
    };
}

schema! {
    "@timestamp" => timestamp, "When the event happened, per the source; the receive time if the source gave none.";
    "message" => message, "The human-readable message.";
    "tags" => tags, "Free-form tags.";
    "event.kind" => event.kind, "ECS event kind: event, alert, metric, state, pipeline_error, signal.";
    "event.category" => event.category, "ECS categories: authentication, network, process, web, file, ...";
    "event.type" => event.r#type, "ECS types: start, end, info, denied, allowed, creation, ...";
    "event.action" => event.action, "The action captured by the event (KUMA DeviceAction).";
    "event.outcome" => event.outcome, "success, failure or unknown.";
    "event.code" => event.code, "The source's identifier of the event kind (Windows EventID, CEF signature id).";
    "event.reason" => event.reason, "Why the event happened, per the source (CEF/KUMA Name).";
    "event.severity" => event.severity, "The source's numeric severity.";
    "event.provider" => event.provider, "The source sub-system that produced the event.";
    "event.module" => event.module, "The normalizer pack that normalized the event.";
    "event.dataset" => event.dataset, "The data set inside the module.";
    "event.duration" => event.duration, "Duration in nanoseconds.";
    "event.start" => event.start, "When the activity started.";
    "event.end" => event.end, "When the activity ended.";
    "event.risk_score" => event.risk_score, "Risk score.";
    "event.ingested" => meta.received, "When Vigil received the event.";
    "source.ip" => source.ip, "Source IP address (KUMA SourceAddress).";
    "source.port" => source.port, "Source port.";
    "source.address" => source.address, "Source address as written by the source.";
    "source.domain" => source.domain, "Source host name (KUMA SourceHostName).";
    "source.mac" => source.mac, "Source MAC address.";
    "source.bytes" => source.bytes, "Bytes sent from the source (KUMA BytesOut).";
    "source.packets" => source.packets, "Packets sent from the source.";
    "source.nat.ip" => source.nat_ip, "Source address after NAT.";
    "source.nat.port" => source.nat_port, "Source port after NAT.";
    "source.user.name" => source.user_name, "User on the source side (KUMA SourceUserName).";
    "source.user.domain" => source.user_domain, "Domain of the source user (KUMA SourceNtDomain).";
    "source.geo.country_iso_code" => source.geo_country, "Country of the source IP.";
    "destination.ip" => destination.ip, "Destination IP address (KUMA DestinationAddress).";
    "destination.port" => destination.port, "Destination port.";
    "destination.address" => destination.address, "Destination address as written by the source.";
    "destination.domain" => destination.domain, "Destination host name (KUMA DestinationHostName).";
    "destination.mac" => destination.mac, "Destination MAC address.";
    "destination.bytes" => destination.bytes, "Bytes sent from the destination (KUMA BytesIn).";
    "destination.packets" => destination.packets, "Packets sent from the destination.";
    "destination.nat.ip" => destination.nat_ip, "Destination address after NAT.";
    "destination.nat.port" => destination.nat_port, "Destination port after NAT.";
    "destination.user.name" => destination.user_name, "User on the destination side (KUMA DestinationUserName).";
    "destination.user.domain" => destination.user_domain, "Domain of the destination user (KUMA DestinationNtDomain).";
    "destination.geo.country_iso_code" => destination.geo_country, "Country of the destination IP.";
    "user.name" => user.name, "The user the event is about.";
    "user.id" => user.id, "User id (uid, SID).";
    "user.domain" => user.domain, "User domain.";
    "user.email" => user.email, "User e-mail address.";
    "user.target.name" => user.target_name, "The user acted upon (sudo target, created account).";
    "user.effective.name" => user.effective_name, "The effective user.";
    "host.name" => host.name, "The host the event happened on (syslog HOSTNAME).";
    "host.hostname" => host.hostname, "The host's own host name.";
    "host.ip" => host.ip, "The host's IP address.";
    "host.id" => host.id, "Host id.";
    "host.os.type" => host.os_type, "linux, windows, macos, ...";
    "process.name" => process.name, "Process name (syslog APP-NAME / TAG).";
    "process.pid" => process.pid, "Process id (syslog PROCID).";
    "process.executable" => process.executable, "Path of the executable.";
    "process.command_line" => process.command_line, "Full command line.";
    "process.working_directory" => process.working_directory, "Working directory.";
    "process.hash.sha256" => process.hash_sha256, "SHA-256 of the executable.";
    "process.parent.name" => process.parent_name, "Parent process name.";
    "process.parent.pid" => process.parent_pid, "Parent process id.";
    "process.parent.executable" => process.parent_executable, "Parent executable.";
    "process.parent.command_line" => process.parent_command_line, "Parent command line.";
    "network.transport" => network.transport, "tcp, udp, icmp, ... (KUMA TransportProtocol).";
    "network.protocol" => network.protocol, "Application protocol (KUMA ApplicationProtocol).";
    "network.direction" => network.direction, "inbound, outbound, internal, external.";
    "network.bytes" => network.bytes, "Bytes in both directions.";
    "network.packets" => network.packets, "Packets in both directions.";
    "network.community_id" => network.community_id, "Community ID flow hash.";
    "observer.vendor" => observer.vendor, "Vendor of the observing device (KUMA DeviceVendor).";
    "observer.product" => observer.product, "Product of the observing device (KUMA DeviceProduct).";
    "observer.version" => observer.version, "Version of the observing device (KUMA DeviceVersion).";
    "observer.name" => observer.name, "Configured name of the observer.";
    "observer.hostname" => observer.hostname, "Host name of the observer (KUMA DeviceHostName).";
    "observer.ip" => observer.ip, "IP of the observer (KUMA DeviceAddress).";
    "observer.type" => observer.r#type, "firewall, ids, proxy, ...";
    "rule.id" => rule.id, "Id of the rule the event is about.";
    "rule.name" => rule.name, "Name of the rule.";
    "rule.category" => rule.category, "Category of the rule.";
    "rule.ruleset" => rule.ruleset, "Rule set name.";
    "log.level" => log.level, "The source's textual level.";
    "log.logger" => log.logger, "Logger name.";
    "log.file.path" => log.file_path, "File the record was read from.";
    "log.syslog.facility.code" => log.syslog_facility, "Syslog facility code.";
    "log.syslog.severity.code" => log.syslog_severity, "Syslog severity code.";
    "log.syslog.priority" => log.syslog_priority, "Syslog PRI.";
    "log.syslog.appname" => log.syslog_appname, "Syslog APP-NAME or TAG.";
    "log.syslog.procid" => log.syslog_procid, "Syslog PROCID.";
    "log.syslog.msgid" => log.syslog_msgid, "Syslog MSGID.";
    "log.syslog.version" => log.syslog_version, "1 for RFC 5424 messages.";
    "url.original" => web.url_original, "URL as written.";
    "url.path" => web.url_path, "URL path.";
    "url.domain" => web.url_domain, "URL domain.";
    "http.request.method" => web.method, "HTTP method.";
    "http.response.status_code" => web.status_code, "HTTP status.";
    "http.response.bytes" => web.response_bytes, "Response size.";
    "http.request.referrer" => web.referrer, "Referrer.";
    "user_agent.original" => web.user_agent, "User agent.";
    "vigil.tenant" => meta.tenant, "Tenant the event belongs to.";
    "vigil.source" => meta.source_id, "Configured source (connector) id.";
    "vigil.collector" => meta.collector_id, "Collector that received the event.";
    "vigil.parse_error" => meta.parse_error, "Why the raw record could not be parsed.";
    "vigil.peer" => meta.peer, "Address the event was received from.";
}

fn visit_id(e: &Event, f: &mut dyn FnMut(ValueRef<'_>)) {
    let s = e.meta.id.to_string();
    f(ValueRef::Str(&s));
}
fn set_id(e: &mut Event, v: Value) -> Result<(), SetError> {
    let bad = || SetError {
        expected: "ULID",
        got: v.to_string(),
    };
    match &v {
        Value::Str(s) => e.meta.id = ulid::Ulid::from_string(s).map_err(|_| bad())?,
        _ => return Err(bad()),
    }
    Ok(())
}
fn visit_type(e: &Event, f: &mut dyn FnMut(ValueRef<'_>)) {
    f(ValueRef::Str(e.meta.kind.as_str()));
}
fn set_type(e: &mut Event, v: Value) -> Result<(), SetError> {
    let parsed = match &v {
        Value::Str(s) => EventType::parse(s),
        _ => None,
    };
    e.meta.kind = parsed.ok_or_else(|| SetError {
        expected: "event type (base, aggregated, correlation, audit, monitoring)",
        got: v.to_string(),
    })?;
    Ok(())
}

fn json_id(e: &Event, out: &mut Vec<u8>) {
    let mut buf = [0u8; ulid::ULID_LEN];
    out.push(b'"');
    out.extend_from_slice(e.meta.id.array_to_str(&mut buf).as_bytes());
    out.push(b'"');
}
fn json_type(e: &Event, out: &mut Vec<u8>) {
    write_str(out, e.meta.kind.as_str());
}

const CUSTOM: &[FieldDef] = &[
    FieldDef {
        name: "vigil.event_id",
        doc: "Unique, time-ordered event id (ULID).",
        access: Access::Custom {
            kind: FieldKind::Str,
            visit: visit_id,
            set: set_id,
        },
        json: json_id,
    },
    FieldDef {
        name: "vigil.type",
        doc: "Event type: base, aggregated, correlation, audit, monitoring (KUMA Type).",
        access: Access::Custom {
            kind: FieldKind::Str,
            visit: visit_type,
            set: set_type,
        },
        json: json_type,
    },
];

/// How many fields the registry holds ([`fields`]).
pub(crate) const FIELD_COUNT: usize = TYPED_LEN + CUSTOM.len();

/// Words of a [`FieldSet`]: one member per registered field, plus one for the raw record.
const SET_WORDS: usize = (FIELD_COUNT + 1).div_ceil(64);

/// A set of registered fields by index (the index in [`fields`]); member [`FIELD_COUNT`] is
/// free for the caller (the JSON writer uses it for the raw record).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct FieldSet([u64; SET_WORDS]);

impl FieldSet {
    /// Adds member `i` (at most [`FIELD_COUNT`]).
    #[inline]
    pub(crate) fn insert(&mut self, i: usize) {
        if let Some(w) = self.0.get_mut(i / 64) {
            *w |= 1 << (i % 64);
        }
    }

    /// Calls `f` with each member, in increasing order.
    #[inline]
    pub(crate) fn for_each(&self, mut f: impl FnMut(usize)) {
        for (w, &word) in self.0.iter().enumerate() {
            let mut bits = word;
            while bits != 0 {
                f(w * 64 + bits.trailing_zeros() as usize);
                bits &= bits - 1;
            }
        }
    }

    /// The registered fields that `ev` has.
    pub(crate) fn of(ev: &Event) -> FieldSet {
        let mut set = FieldSet::default();
        typed_set_fields(ev, &mut set);
        for (i, def) in CUSTOM.iter().enumerate() {
            if def.is_set(ev) {
                set.insert(TYPED_LEN + i);
            }
        }
        set
    }
}

/// KUMA's (CEF-style) field names, resolved wherever a field is named.
pub static KUMA_ALIASES: &[(&str, &str)] = &[
    ("Timestamp", "@timestamp"),
    ("ID", "vigil.event_id"),
    ("TenantID", "vigil.tenant"),
    ("Type", "vigil.type"),
    ("Message", "message"),
    ("Name", "event.reason"),
    ("DeviceAction", "event.action"),
    ("EventOutcome", "event.outcome"),
    ("DeviceEventClassID", "event.code"),
    ("DeviceEventCategory", "event.category"),
    ("Severity", "event.severity"),
    ("SourceAddress", "source.ip"),
    ("SourcePort", "source.port"),
    ("SourceHostName", "source.domain"),
    ("SourceMacAddress", "source.mac"),
    ("SourceUserName", "source.user.name"),
    ("SourceNtDomain", "source.user.domain"),
    ("SourceTranslatedAddress", "source.nat.ip"),
    ("SourceTranslatedPort", "source.nat.port"),
    ("DestinationAddress", "destination.ip"),
    ("DestinationPort", "destination.port"),
    ("DestinationHostName", "destination.domain"),
    ("DestinationMacAddress", "destination.mac"),
    ("DestinationUserName", "destination.user.name"),
    ("DestinationNtDomain", "destination.user.domain"),
    ("DestinationTranslatedAddress", "destination.nat.ip"),
    ("DestinationTranslatedPort", "destination.nat.port"),
    ("BytesIn", "destination.bytes"),
    ("BytesOut", "source.bytes"),
    ("TransportProtocol", "network.transport"),
    ("ApplicationProtocol", "network.protocol"),
    ("DeviceVendor", "observer.vendor"),
    ("DeviceProduct", "observer.product"),
    ("DeviceVersion", "observer.version"),
    ("DeviceHostName", "observer.hostname"),
    ("DeviceAddress", "observer.ip"),
    ("DeviceProcessName", "process.name"),
    ("DeviceProcessID", "process.pid"),
    ("RequestUrl", "url.original"),
    ("RequestMethod", "http.request.method"),
    ("RequestClientApplication", "user_agent.original"),
];

/// Common short forms analysts type.
static SHORT_ALIASES: &[(&str, &str)] = &[
    ("timestamp", "@timestamp"),
    ("msg", "message"),
    ("host", "host.name"),
    ("hostname", "host.name"),
    ("program", "process.name"),
    ("app", "process.name"),
    ("user", "user.name"),
    ("src_ip", "source.ip"),
    ("dst_ip", "destination.ip"),
    ("src_port", "source.port"),
    ("dst_port", "destination.port"),
];

/// Index of a registered field; resolve names once, then read by id on the hot path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FieldId(u16);

/// The hash of the name index: FxHash (multiply-rotate over 8-byte words). The index is built
/// once from the registry and only read, so it needs no protection against chosen keys, and
/// names are looked up on hot paths (every query term and mapping line resolves one).
#[derive(Debug, Default, Clone, Copy)]
struct NameHasher(u64);

impl NameHasher {
    #[inline]
    fn add(&mut self, w: u64) {
        self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl std::hash::Hasher for NameHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut words = bytes.chunks_exact(8);
        for w in &mut words {
            self.add(u64::from_le_bytes([
                w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7],
            ]));
        }
        let mut last = [0u8; 8];
        let rest = words.remainder();
        last[..rest.len()].copy_from_slice(rest);
        self.add(u64::from_le_bytes(last) ^ rest.len() as u64);
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

type NameIndex = HashMap<&'static str, FieldId, std::hash::BuildHasherDefault<NameHasher>>;

struct Registry {
    defs: Vec<FieldDef>,
    by_name: NameIndex,
}

static REGISTRY: LazyLock<Registry> = LazyLock::new(|| {
    let defs: Vec<FieldDef> = TYPED.iter().chain(CUSTOM.iter()).copied().collect();
    let mut by_name = NameIndex::with_capacity_and_hasher(defs.len() * 2, Default::default());
    for (i, d) in defs.iter().enumerate() {
        by_name.insert(d.name, FieldId(i as u16));
    }
    for (alias, target) in KUMA_ALIASES.iter().chain(SHORT_ALIASES.iter()) {
        if let Some(id) = by_name.get(target).copied() {
            by_name.entry(alias).or_insert(id);
        }
    }
    Registry { defs, by_name }
});

impl FieldId {
    /// Resolves a canonical name or alias (`source.ip`, `SourceAddress`, `src_ip`).
    pub fn lookup(name: &str) -> Option<FieldId> {
        REGISTRY.by_name.get(name).copied()
    }

    /// The field's definition.
    pub fn def(self) -> &'static FieldDef {
        // ids are only created from the registry, so the index is in range
        &REGISTRY.defs[self.0 as usize]
    }

    /// The canonical name.
    pub fn name(self) -> &'static str {
        self.def().name
    }
}

/// Every registered field, in schema order.
pub fn fields() -> &'static [FieldDef] {
    &REGISTRY.defs
}

/// The canonical name for a name or alias of a registered field; `None` for names outside the
/// typed core (which live in [`Event::extra`]/[`Event::original`]).
pub fn canonical_name(name: &str) -> Option<&'static str> {
    FieldId::lookup(name).map(FieldId::name)
}

/// The type of a field by name, if it is a registered field.
pub fn field_kind(name: &str) -> Option<FieldKind> {
    FieldId::lookup(name).map(|id| id.def().kind())
}

impl Event {
    /// Visit the value(s) of a field by name: a registered field or alias, else the open map
    /// [`Event::extra`], else the source's [`Event::original`] fields (`original.X` looks only
    /// there).
    pub fn visit_field(&self, name: &str, f: &mut dyn FnMut(ValueRef<'_>)) {
        if let Some(id) = FieldId::lookup(name) {
            return id.def().visit(self, f);
        }
        if let Some(rest) = name.strip_prefix("original.") {
            if let Some(v) = self.original.get(rest) {
                v.visit(f);
            }
            return;
        }
        if let Some(v) = self.extra.get(name) {
            v.visit(f);
        } else if let Some(v) = self.original.get(name) {
            v.visit(f);
        }
    }

    /// The first value of a field, owned (convenience for tests and tools).
    pub fn get(&self, name: &str) -> Option<Value> {
        let mut out = None;
        self.visit_field(name, &mut |v| {
            if out.is_none() {
                out = Some(Value::from(v));
            }
        });
        out
    }

    /// Sets a field by name: a registered field (converted to its type) or, for other names,
    /// an entry of [`Event::extra`].
    pub fn set(&mut self, name: &str, v: impl Into<Value>) -> Result<(), SetError> {
        let v = v.into();
        match FieldId::lookup(name) {
            Some(id) => id.def().set(self, v),
            None => {
                self.extra.insert(name, v);
                Ok(())
            }
        }
    }

    /// Sets `@timestamp`.
    pub fn set_timestamp(&mut self, t: Timestamp) {
        self.timestamp = t;
    }
}
