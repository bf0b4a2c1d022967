//! The SNMP trap connector: SNMPv1 traps, SNMPv2c traps and informs over UDP, decoded by the
//! `snmp-parser` crate (rusticata's BER parser, built on `asn1-rs` and `nom`) into one record
//! per trap.
//!
//! Each trap is passed on as one JSON object: `snmp.version` (`1`, `2c`, `3`), `snmp.pdu_type`
//! (`trap`, `trap_v2`, `inform`), `snmp.trap.oid` and `snmp.trap.name` (for v1 the OID is
//! derived as RFC 3584 §3.1 does: `snmpTraps.(generic+1)`, or `enterprise.0.specific`),
//! `snmp.enterprise`, `snmp.generic_trap`, `snmp.specific_trap` (v1), `snmp.uptime` (TimeTicks),
//! `snmp.agent.ip` (the v1 agent address, else the sender), `source.ip`/`source.port` (the
//! sender) and one `snmp.varbinds.<name>` per varbind. A varbind's name is the longest
//! known OID prefix's name plus the rest of its OID (`ifIndex.2`), or its numeric OID when no
//! prefix is named; the names are the built-ins below plus the connector's `oid_names`.
//! Integers and counters are numbers, OIDs are dotted strings (with `snmp.varbinds.<name>_name`
//! when the value OID has a name), IP addresses are strings, octet strings are text when they
//! are printable UTF-8 and `0x`-prefixed hex otherwise.
//!
//! **The community is never stored**: it is a shared secret in v1/v2c, so neither the record
//! nor the `snmpTrapCommunity.0` varbind (RFC 3584) carries it. v1 and v2c traps are not
//! authenticated: anyone who can reach the port can send one; bind `listen` to the management
//! network.
//!
//! **SNMPv3** (module [`v3`]): traps and informs under the User-based Security Model, from
//! the users the connector lists (`users`), with HMAC-MD5/SHA-1/SHA-2 authentication and
//! DES or AES-128 privacy (module [`usm`]); the record adds `snmp.user`,
//! `snmp.security_level`, `snmp.engine_id` (hex) and the context, when set. The receiver has
//! an engine of its own (ID and boot counter kept in its state directory) that inform
//! senders discover.
//!
//! **Informs are answered** with a Response PDU (the request-id and varbinds echoed, for v3
//! authenticated and encrypted as the inform was) once the inform is decoded and handed to
//! the pipeline's queue; not once it is stored: a crash in between loses what the sender was
//! told was received, as for syslog over UDP.
//!
//! **Nothing is dropped silently.** A datagram that is not a BER SNMP message is passed on
//! whole, marked (`vigil.transport_error`) and counted as `malformed_packet`; a v3 message
//! that fails the USM's checks as `unknown_user`, `unsupported_security_level`,
//! `authentication_failed`, `decryption_failed`, `unknown_engine_id`, `not_in_time_window`
//! or `unsupported_security_model`; a well-formed message that is not a trap (a get, a
//! response, ...) as `not_a_trap`. Only the v3 protocol exchanges an inform sender starts
//! (engine discovery, time synchronisation) are answered and not recorded.
//!
//! The receive loop is the NetFlow connector's: one task draining the socket into batches of
//! up to 64 datagrams, waiting on the pipeline's bounded queue, kernel drops counted as
//! `kernel_udp_overflow`; the datagrams already waiting are read on shutdown.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use bytes::Bytes;
use serde_json::{Map, Value};
use smol_str::SmolStr;
use snmp_parser::asn1_rs::{FromBer, Oid};
use snmp_parser::{
    NetworkAddress, ObjectSyntax, PduType, SnmpGenericMessage, SnmpMessage, SnmpPdu, SnmpVariable,
    VarBindValue,
};
use vigil_config::SnmpTrapConfig;
use vigil_pipeline::{
    BoxFuture, ComponentError, Connector, ConnectorContext, ListenAddr, RawRecord,
};

use crate::udp::LazyUdp;

mod ber;
mod usm;
pub mod v3;

pub use v3::{Engine, Handled};

/// `sysUpTime.0`: the first varbind of a v2 trap.
const SYS_UPTIME_0: &str = "1.3.6.1.2.1.1.3.0";
/// `snmpTrapOID.0`: the second varbind of a v2 trap, the trap's identity.
const SNMP_TRAP_OID_0: &str = "1.3.6.1.6.3.1.1.4.1.0";
/// `snmpTrapEnterprise.0` (RFC 3584): the v1 enterprise of a translated trap.
const SNMP_TRAP_ENTERPRISE_0: &str = "1.3.6.1.6.3.1.1.4.3.0";
/// `snmpTrapCommunity.0` (RFC 3584): a community forwarded by a proxy; never stored.
const SNMP_TRAP_COMMUNITY_0: &str = "1.3.6.1.6.3.18.1.4.0";
/// `snmpTraps`: the parent of the six generic traps (RFC 3418).
const SNMP_TRAPS: &str = "1.3.6.1.6.3.1.1.5";

/// The built-in OID names: the generic traps, the trap varbinds of SNMPv2-MIB and RFC 3584,
/// and the IF-MIB objects that linkUp/linkDown carry.
const BUILTIN_NAMES: &[(&str, &str)] = &[
    ("1.3.6.1.6.3.1.1.5.1", "coldStart"),
    ("1.3.6.1.6.3.1.1.5.2", "warmStart"),
    ("1.3.6.1.6.3.1.1.5.3", "linkDown"),
    ("1.3.6.1.6.3.1.1.5.4", "linkUp"),
    ("1.3.6.1.6.3.1.1.5.5", "authenticationFailure"),
    ("1.3.6.1.6.3.1.1.5.6", "egpNeighborLoss"),
    (SYS_UPTIME_0, "sysUpTime"),
    (SNMP_TRAP_OID_0, "snmpTrapOID"),
    (SNMP_TRAP_ENTERPRISE_0, "snmpTrapEnterprise"),
    ("1.3.6.1.6.3.18.1.3.0", "snmpTrapAddress"),
    ("1.3.6.1.2.1.1.1", "sysDescr"),
    ("1.3.6.1.2.1.1.5", "sysName"),
    ("1.3.6.1.2.1.2.2.1.1", "ifIndex"),
    ("1.3.6.1.2.1.2.2.1.2", "ifDescr"),
    ("1.3.6.1.2.1.2.2.1.7", "ifAdminStatus"),
    ("1.3.6.1.2.1.2.2.1.8", "ifOperStatus"),
    ("1.3.6.1.2.1.31.1.1.1.1", "ifName"),
];

/// OID → name, longest prefix wins.
#[derive(Debug, Clone)]
pub struct OidNames {
    names: BTreeMap<String, String>,
}

impl OidNames {
    /// The built-in names with `configured` added (a configured name replaces a built-in one).
    pub fn new(configured: &BTreeMap<String, String>) -> OidNames {
        let mut names: BTreeMap<String, String> = BUILTIN_NAMES
            .iter()
            .map(|(o, n)| ((*o).to_owned(), (*n).to_owned()))
            .collect();
        names.extend(configured.iter().map(|(o, n)| (o.clone(), n.clone())));
        OidNames { names }
    }

    /// The name of exactly `oid`, if any.
    pub fn exact(&self, oid: &str) -> Option<&str> {
        self.names.get(oid).map(String::as_str)
    }

    /// The name of `oid`: the longest named prefix's name and the remaining arcs, or `oid`.
    pub fn name(&self, oid: &str) -> String {
        let mut end = oid.len();
        loop {
            if let Some(n) = self.names.get(&oid[..end]) {
                return if end == oid.len() {
                    n.clone()
                } else {
                    format!("{n}{}", &oid[end..])
                };
            }
            match oid[..end].rfind('.') {
                Some(i) if i > 0 => end = i,
                _ => return oid.to_owned(),
            }
        }
    }
}

/// The `snmp_trap` connector.
#[derive(Debug)]
pub struct SnmpTrapConnector {
    settings: SnmpTrapConfig,
    udp: LazyUdp,
}

impl SnmpTrapConnector {
    /// A connector with `settings`; nothing is bound until [`Connector::listen`] or `run`.
    pub fn new(settings: SnmpTrapConfig) -> SnmpTrapConnector {
        let udp = LazyUdp::new(
            "for SNMP traps over UDP",
            settings.listen,
            settings.udp_recv_buffer,
        );
        SnmpTrapConnector { settings, udp }
    }
}

impl Connector for SnmpTrapConnector {
    fn listen(&mut self) -> Result<Vec<ListenAddr>, String> {
        self.udp.listen()
    }

    fn run(mut self: Box<Self>, ctx: ConnectorContext) -> BoxFuture<Result<(), ComponentError>> {
        Box::pin(async move {
            let engine = Engine::load(self.settings.engine_id.as_deref(), &self.settings.state_dir)
                .map_err(|e| ComponentError::new(&ctx.metrics, e))?;
            let reply = self
                .udp
                .reply_socket()
                .map_err(|e| ComponentError::new(&ctx.metrics, e))?;
            let mut receiver = Receiver::new(&self.settings, engine);
            tracing::info!(
                source = %ctx.source.id,
                engine_id = %v3::hex(&receiver.usm.engine().id),
                boots = receiver.usm.engine().boots,
                "SNMP trap receiver ready"
            );
            self.udp
                .run(&ctx, |packet, peer, received, records| {
                    if packet.is_empty() {
                        ctx.metrics.error("empty_datagram", 1);
                        return;
                    }
                    let handled = receiver.handle(packet, peer);
                    if let Some(answer) = handled.reply
                        && reply.send_to(&answer, peer).is_err()
                    {
                        ctx.metrics.error("reply_failed", 1);
                    }
                    let Some(record) = handled.record else {
                        return;
                    };
                    let (data, error) = match record {
                        Ok(json) => (Bytes::from(json), None),
                        Err(e) => {
                            ctx.metrics.error(e.reason(), 1);
                            (
                                Bytes::copy_from_slice(packet),
                                Some(SmolStr::new(format!("snmp_trap: {e}"))),
                            )
                        }
                    };
                    records.push(RawRecord {
                        data,
                        received,
                        peer: Some(peer),
                        transport_error: error,
                    });
                })
                .await
        })
    }
}

/// The decoding side of the connector, without the socket: v1 and v2c through
/// [`decode`], v3 through the USM, with the answers to send.
pub struct Receiver {
    names: OidNames,
    usm: v3::Usm,
}

impl std::fmt::Debug for Receiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Receiver")
            .field("engine_id", &v3::hex(&self.usm.engine().id))
            .finish_non_exhaustive()
    }
}

impl Receiver {
    /// A receiver with the connector's OID names and users, and `engine`.
    pub fn new(settings: &SnmpTrapConfig, engine: Engine) -> Receiver {
        Receiver {
            names: OidNames::new(&settings.oid_names),
            usm: v3::Usm::new(settings, engine),
        }
    }

    /// This receiver's engine.
    pub fn engine(&self) -> &Engine {
        self.usm.engine()
    }

    /// Handles one datagram from `peer`: the record (or why it is kept raw) and the answer
    /// (a Response to an inform, a v3 Report).
    pub fn handle(&mut self, packet: &[u8], peer: SocketAddr) -> Handled {
        if ber_version(packet) == Some(3) {
            return self.usm.handle(packet, peer, &self.names);
        }
        let record = decode(packet, peer, &self.names);
        let reply = match &record {
            Ok(_) => v2c_inform_response(packet),
            Err(_) => None,
        };
        Handled {
            record: Some(record),
            reply,
        }
    }
}

/// The Response to a v2c InformRequest: the same version and community, the request-id and
/// varbinds echoed, no error. `None` for anything else.
fn v2c_inform_response(packet: &[u8]) -> Option<Vec<u8>> {
    let (body, _) = ber::expect(packet, ber::SEQUENCE)?;
    let (_, _, version, rest) = ber::read_whole(body)?;
    let (_, _, community, rest) = ber::read_whole(rest)?;
    let (tag, content, _) = ber::read(rest)?;
    if tag != ber::INFORM || version != [ber::INTEGER, 1, 1] {
        return None;
    }
    let (_, _, req_id, r) = ber::read_whole(content)?;
    let (_, r) = ber::expect(r, ber::INTEGER)?;
    let (_, r) = ber::expect(r, ber::INTEGER)?;
    let (_, _, vars, _) = ber::read_whole(r)?;
    let mut out = Vec::with_capacity(packet.len());
    out.extend_from_slice(version);
    out.extend_from_slice(community);
    out.extend_from_slice(&v3::response_pdu(req_id, vars));
    Some(ber::tlv(ber::SEQUENCE, &out))
}

/// Why a datagram was not decoded into a trap record.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TrapError {
    /// Not a BER-encoded SNMP message.
    #[error("not an SNMP message: {0}")]
    Malformed(String),
    /// An unknown version (and SNMPv3 given to [`decode`], which reads v1 and v2c).
    #[error("SNMP version {0} is not supported (v1, v2c and v3 are)")]
    UnsupportedVersion(String),
    /// An SNMPv3 message refused by the User-based Security Model.
    #[error("SNMPv3 {reason}: {detail}")]
    Usm {
        /// The error counter's reason (`unknown_user`, `authentication_failed`, ...).
        reason: &'static str,
        /// What was wrong.
        detail: String,
    },
    /// A message that is not a trap or an inform.
    #[error("an SNMP {0} PDU, not a trap")]
    NotATrap(String),
}

impl TrapError {
    /// The error counter's reason.
    pub fn reason(&self) -> &'static str {
        match self {
            TrapError::Malformed(_) => "malformed_packet",
            TrapError::UnsupportedVersion(_) => "unsupported_version",
            TrapError::NotATrap(_) => "not_a_trap",
            TrapError::Usm { reason, .. } => reason,
        }
    }
}

/// Decodes one v1 or v2c datagram from `peer` into a JSON trap record (v3 goes through
/// [`Receiver::handle`]).
pub fn decode(packet: &[u8], peer: SocketAddr, names: &OidNames) -> Result<Vec<u8>, TrapError> {
    let mut out = Map::new();
    decode_v1v2_into(packet, peer, names, &mut out)?;
    serde_json::to_vec(&Value::Object(out)).map_err(|e| TrapError::Malformed(e.to_string()))
}

/// The fields of a v1 or v2c message, added to `out`.
pub(crate) fn decode_v1v2_into(
    packet: &[u8],
    peer: SocketAddr,
    names: &OidNames,
    out: &mut Map<String, Value>,
) -> Result<(), TrapError> {
    let msg = match SnmpGenericMessage::from_ber(packet) {
        Ok((_, m)) => m,
        Err(e) => {
            // a message with a version this crate does not know is still "unsupported"
            if let Some(v) = ber_version(packet)
                && v > 1
            {
                return Err(TrapError::UnsupportedVersion(match v {
                    3 => "3".to_owned(),
                    v => format!("number {v}"),
                }));
            }
            return Err(TrapError::Malformed(e.to_string()));
        }
    };
    let (version, m) = match &msg {
        SnmpGenericMessage::V1(m) => ("1", m),
        SnmpGenericMessage::V2(m) => ("2c", m),
        SnmpGenericMessage::V3(_) => return Err(TrapError::UnsupportedVersion("3".into())),
    };
    out.insert("snmp.version".into(), version.into());
    trap_fields(m, peer, names, out)
}

/// The version field of a BER `SEQUENCE { INTEGER version, ... }`, when that much is sound.
fn ber_version(packet: &[u8]) -> Option<u32> {
    let (_, any) = snmp_parser::asn1_rs::Any::from_ber(packet).ok()?;
    let (_, v) = u32::from_ber(any.data).ok()?;
    Some(v)
}

fn trap_fields(
    m: &SnmpMessage<'_>,
    peer: SocketAddr,
    names: &OidNames,
    out: &mut Map<String, Value>,
) -> Result<(), TrapError> {
    out.insert("source.ip".into(), peer.ip().to_string().into());
    out.insert("source.port".into(), peer.port().into());
    let vars = match &m.pdu {
        SnmpPdu::TrapV1(t) => {
            out.insert("snmp.pdu_type".into(), "trap".into());
            let enterprise = oid_string(&t.enterprise);
            let generic = t.generic_trap.0;
            let trap_oid = if generic < 6 {
                format!("{SNMP_TRAPS}.{}", u32::from(generic) + 1)
            } else {
                format!("{enterprise}.0.{}", t.specific_trap)
            };
            out.insert("snmp.enterprise".into(), enterprise.into());
            out.insert("snmp.generic_trap".into(), generic.into());
            out.insert("snmp.specific_trap".into(), t.specific_trap.into());
            out.insert("snmp.uptime".into(), t.timestamp.into());
            let NetworkAddress::IPv4(agent) = t.agent_addr;
            out.insert("snmp.agent.ip".into(), agent.to_string().into());
            insert_trap_oid(&trap_oid, names, out);
            &t.var
        }
        SnmpPdu::Generic(g)
            if g.pdu_type == PduType::TrapV2 || g.pdu_type == PduType::InformRequest =>
        {
            let kind = if g.pdu_type == PduType::TrapV2 {
                "trap_v2"
            } else {
                "inform"
            };
            out.insert("snmp.pdu_type".into(), kind.into());
            out.insert("snmp.request_id".into(), g.req_id.into());
            out.insert("snmp.agent.ip".into(), peer.ip().to_string().into());
            for v in &g.var {
                let oid = oid_string(&v.oid);
                match (oid.as_str(), &v.val) {
                    (SYS_UPTIME_0, VarBindValue::Value(ObjectSyntax::TimeTicks(t))) => {
                        out.insert("snmp.uptime".into(), (*t).into());
                    }
                    (SNMP_TRAP_OID_0, VarBindValue::Value(ObjectSyntax::Object(o))) => {
                        insert_trap_oid(&oid_string(o), names, out);
                    }
                    (SNMP_TRAP_ENTERPRISE_0, VarBindValue::Value(ObjectSyntax::Object(o))) => {
                        out.insert("snmp.enterprise".into(), oid_string(o).into());
                    }
                    _ => {}
                }
            }
            &g.var
        }
        SnmpPdu::Generic(g) => return Err(TrapError::NotATrap(format!("{:?}", g.pdu_type))),
        SnmpPdu::Bulk(_) => return Err(TrapError::NotATrap("GetBulkRequest".into())),
    };
    for v in vars {
        varbind(v, names, out);
    }
    Ok(())
}

fn insert_trap_oid(oid: &str, names: &OidNames, out: &mut Map<String, Value>) {
    out.insert("snmp.trap.oid".into(), oid.into());
    if let Some(n) = names.exact(oid) {
        out.insert("snmp.trap.name".into(), n.into());
    }
}

fn oid_string(o: &Oid<'_>) -> String {
    o.to_id_string()
}

fn varbind(v: &SnmpVariable<'_>, names: &OidNames, out: &mut Map<String, Value>) {
    let oid = oid_string(&v.oid);
    if oid == SNMP_TRAP_COMMUNITY_0 {
        return;
    }
    let key = format!("snmp.varbinds.{}", names.name(&oid));
    let value = match &v.val {
        VarBindValue::Value(s) => match s {
            ObjectSyntax::Number(n) => Value::from(*n),
            ObjectSyntax::String(b) | ObjectSyntax::Opaque(b) | ObjectSyntax::NsapAddress(b) => {
                octets(b)
            }
            ObjectSyntax::Object(o) => {
                let o = oid_string(o);
                if let Some(n) = names.exact(&o) {
                    out.insert(format!("{key}_name"), n.into());
                }
                Value::from(o)
            }
            ObjectSyntax::BitString(b) => octets(&b.data),
            ObjectSyntax::Empty => Value::Null,
            ObjectSyntax::IpAddress(NetworkAddress::IPv4(a)) => Value::from(a.to_string()),
            ObjectSyntax::Counter32(n)
            | ObjectSyntax::Gauge32(n)
            | ObjectSyntax::TimeTicks(n)
            | ObjectSyntax::UInteger32(n) => Value::from(*n),
            ObjectSyntax::Counter64(n) => Value::from(*n),
            ObjectSyntax::UnknownSimple(a) | ObjectSyntax::UnknownApplication(a) => octets(a.data),
        },
        VarBindValue::Unspecified => Value::Null,
        VarBindValue::NoSuchObject => "noSuchObject".into(),
        VarBindValue::NoSuchInstance => "noSuchInstance".into(),
        VarBindValue::EndOfMibView => "endOfMibView".into(),
    };
    out.insert(key, value);
}

/// Printable UTF-8 as text, anything else as `0x` hex.
fn octets(b: &[u8]) -> Value {
    match std::str::from_utf8(b) {
        Ok(s)
            if !s
                .chars()
                .any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r')) =>
        {
            Value::from(s)
        }
        _ => {
            let mut h = String::with_capacity(2 + b.len() * 2);
            h.push_str("0x");
            for x in b {
                h.push_str(&format!("{x:02x}"));
            }
            Value::from(h)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_by_longest_prefix() {
        let mut c = BTreeMap::new();
        c.insert("1.3.6.1.4.1.9".to_owned(), "cisco".to_owned());
        let n = OidNames::new(&c);
        assert_eq!(n.name("1.3.6.1.2.1.2.2.1.1.7"), "ifIndex.7");
        assert_eq!(n.name("1.3.6.1.6.3.1.1.4.1.0"), "snmpTrapOID");
        assert_eq!(n.name("1.3.6.1.4.1.9.9.41"), "cisco.9.41");
        assert_eq!(n.name("1.3.6.1.4.1.8072"), "1.3.6.1.4.1.8072");
        assert_eq!(n.exact("1.3.6.1.6.3.1.1.5.3"), Some("linkDown"));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let peer: SocketAddr = "127.0.0.1:1"
            .parse()
            .unwrap_or(SocketAddr::from(([0; 4], 0)));
        let names = OidNames::new(&BTreeMap::new());
        for p in [
            &b"hello"[..],
            &[0x30][..],
            &[0x30, 0x84, 0xff, 0xff, 0xff, 0xff][..],
            &[0x30, 0x03, 0x02, 0x01, 0x00][..],
            &[0x30, 0x03, 0x02, 0x01, 0x07][..],
        ] {
            assert!(decode(p, peer, &names).is_err(), "{p:?}");
        }
        assert_eq!(
            decode(&[0x30, 0x03, 0x02, 0x01, 0x03], peer, &names).map_err(|e| e.reason()),
            Err("unsupported_version")
        );
    }

    #[test]
    fn octets_text_or_hex() {
        assert_eq!(octets(b"eth0"), Value::from("eth0"));
        assert_eq!(octets(&[0, 1, 0xff]), Value::from("0x0001ff"));
    }
}
