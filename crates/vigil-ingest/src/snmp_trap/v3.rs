//! SNMPv3 messages (RFC 3412) under the User-based Security Model (RFC 3414): traps from any
//! engine, informs to this receiver's engine, the discovery and time-synchronisation reports
//! an inform sender needs, and the authenticated (and encrypted) Response to an inform.
//!
//! **Who is authoritative.** A trap's keys are localized to the *sender's* engine ID (the one
//! in the message); an inform's to *this receiver's* (RFC 3414 1.5.1), which the sender
//! discovers with an unauthenticated probe answered by a Report (`usmStatsUnknownEngineIDs`)
//! carrying the engine ID, its boot counter and time. Messages to this engine must fall
//! within its time window (same boots, time within 150 s), or a `usmStatsNotInTimeWindows`
//! Report tells the sender the current values. Traps are not checked for timeliness (that
//! would need per-sender clocks learnt from earlier traps): a captured trap can be replayed.
//!
//! **Security level.** A message must come at exactly the level its user's entry sets
//! (noAuthNoPriv, authNoPriv or authPriv).

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use serde_json::{Map, Value};
use vigil_config::{SnmpAuthProtocol, SnmpPrivProtocol, SnmpTrapConfig};

use super::ber;
use super::usm;
use super::{OidNames, TrapError};

/// The time window of RFC 3414 (3.2 7): 150 seconds.
const TIME_WINDOW: i64 = 150;
/// Most (user, engine) localized keys cached.
const MAX_CACHED_KEYS: usize = 4096;
/// The largest message this receiver accepts (the UDP payload maximum).
const MAX_MESSAGE: i64 = 65507;
/// usmStatsUnknownEngineIDs.0
const UNKNOWN_ENGINE_IDS: &str = "1.3.6.1.6.3.15.1.1.4.0";
/// usmStatsNotInTimeWindows.0
const NOT_IN_TIME_WINDOWS: &str = "1.3.6.1.6.3.15.1.1.2.0";
/// usmStatsUnknownUserNames.0
const UNKNOWN_USER_NAMES: &str = "1.3.6.1.6.3.15.1.1.3.0";
/// usmStatsUnsupportedSecLevels.0
const UNSUPPORTED_SEC_LEVELS: &str = "1.3.6.1.6.3.15.1.1.1.0";
/// usmStatsWrongDigests.0
const WRONG_DIGESTS: &str = "1.3.6.1.6.3.15.1.1.5.0";
/// usmStatsDecryptionErrors.0
const DECRYPTION_ERRORS: &str = "1.3.6.1.6.3.15.1.1.6.0";

const FLAG_AUTH: u8 = 1;
const FLAG_PRIV: u8 = 2;
const FLAG_REPORTABLE: u8 = 4;

/// This receiver's SNMP engine: its ID, boot counter and the instant its time counts from.
#[derive(Debug, Clone)]
pub struct Engine {
    /// The engine ID.
    pub id: Vec<u8>,
    /// snmpEngineBoots: incremented at every start when kept in a state directory.
    pub boots: u32,
    started: Instant,
}

impl Engine {
    /// An engine with `id` and `boots`, its time starting now.
    pub fn new(id: Vec<u8>, boots: u32) -> Engine {
        Engine {
            id,
            boots,
            started: Instant::now(),
        }
    }

    /// snmpEngineTime: seconds since start.
    pub fn time(&self) -> u32 {
        u32::try_from(self.started.elapsed().as_secs()).unwrap_or(u32::MAX)
    }

    /// The engine of a connector: `configured` or the ID kept in `state_dir`
    /// (`snmp_engine.json`, made at first start), with the boot counter kept there
    /// incremented. Without a state directory (tests), a fresh ID and boots 1.
    pub fn load(configured: Option<&[u8]>, state_dir: &Path) -> Result<Engine, String> {
        if state_dir.as_os_str().is_empty() {
            return Ok(Engine::new(
                configured.map_or_else(fresh_engine_id, <[u8]>::to_vec),
                1,
            ));
        }
        let path = state_dir.join("snmp_engine.json");
        let kept: Option<(Vec<u8>, u32)> = match vigil_config::read_file_capped(&path, 64 * 1024) {
            Ok(bytes) => {
                let v: Value = serde_json::from_slice(&bytes)
                    .map_err(|e| format!("{}: {e}; delete it to start anew", path.display()))?;
                let id = v
                    .get("engine_id")
                    .and_then(Value::as_str)
                    .and_then(unhex)
                    .ok_or_else(|| {
                        format!(
                            "{}: no engine_id in it; delete it to start anew",
                            path.display()
                        )
                    })?;
                let boots = v
                    .get("boots")
                    .and_then(Value::as_u64)
                    .and_then(|b| u32::try_from(b).ok())
                    .unwrap_or(0);
                Some((id, boots))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(format!("{}: {e}", path.display())),
        };
        let (id, boots) = match (configured, kept) {
            (Some(c), Some((id, boots))) if c == id.as_slice() => (id, boots),
            (Some(c), _) => (c.to_vec(), 0),
            (None, Some((id, boots))) => (id, boots),
            (None, None) => (fresh_engine_id(), 0),
        };
        // RFC 3414 2.2.2: at 2^31-1 the engine must be given a new ID; we wrap to 1
        let boots = if boots >= 2_147_483_646 { 1 } else { boots + 1 };
        save_engine(&path, &id, boots).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(Engine::new(id, boots))
    }
}

/// A new engine ID: RFC 3411's format 5 (octets) with 8 random bytes.
fn fresh_engine_id() -> Vec<u8> {
    let mut id = vec![0x80, 0, 0, 0, 5];
    id.extend_from_slice(&random_u64().to_be_bytes());
    id
}

fn random_u64() -> u64 {
    use std::io::Read as _;
    let mut b = [0u8; 8];
    if std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .is_ok()
    {
        return u64::from_be_bytes(b);
    }
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    (t as u64) ^ (u64::from(std::process::id()) << 32)
}

fn save_engine(path: &Path, id: &[u8], boots: u32) -> std::io::Result<()> {
    use std::io::Write as _;
    let dir = path.parent().unwrap_or(Path::new("."));
    vigil_fs::create_dir_all(dir)?;
    let tmp = path.with_extension("json.tmp");
    let mut f = vigil_fs::create(&tmp)?;
    let body = serde_json::json!({ "engine_id": hex(id), "boots": boots });
    f.write_all(body.to_string().as_bytes())?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, path)?;
    if let Ok(d) = std::fs::File::open(dir) {
        d.sync_all()?;
    }
    Ok(())
}

pub(crate) fn hex(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        s.push_str(&format!("{x:02x}"));
    }
    s
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// A configured user with its passphrases hashed (`Ku`), ready to localize.
struct User {
    name: Vec<u8>,
    auth: Option<(SnmpAuthProtocol, Vec<u8>)>,
    privacy: Option<(SnmpPrivProtocol, Vec<u8>)>,
}

impl User {
    fn flags(&self) -> u8 {
        match (&self.auth, &self.privacy) {
            (None, _) => 0,
            (Some(_), None) => FLAG_AUTH,
            (Some(_), Some(_)) => FLAG_AUTH | FLAG_PRIV,
        }
    }
}

/// Keys localized to one engine.
#[derive(Clone)]
struct Keys {
    auth: Option<(SnmpAuthProtocol, Vec<u8>)>,
    privacy: Option<(SnmpPrivProtocol, Vec<u8>)>,
}

/// What a datagram came to: a record (or why not), and an answer to send back.
#[derive(Debug, Default)]
pub struct Handled {
    /// The trap record, the reason it is kept raw, or `None` for protocol traffic that is
    /// answered and not stored (engine discovery, time synchronisation).
    pub record: Option<Result<Vec<u8>, TrapError>>,
    /// A datagram to send to the sender (Response to an inform, Report).
    pub reply: Option<Vec<u8>>,
}

/// The SNMPv3 side of a receiver: the engine, the users and their localized keys.
pub(crate) struct Usm {
    engine: Engine,
    users: Vec<User>,
    keys: HashMap<(usize, Vec<u8>), Keys>,
    salt: AtomicU64,
    stats: HashMap<&'static str, u32>,
}

/// The fields of a v3 message this receiver reads, with the place of the MAC.
struct Message<'a> {
    msg_id: i64,
    flags: u8,
    engine_id: &'a [u8],
    boots: u32,
    time: u32,
    user: &'a [u8],
    auth_params: &'a [u8],
    /// Where `auth_params`' content starts in the datagram.
    auth_offset: usize,
    priv_params: &'a [u8],
    /// The plaintext ScopedPDU (a whole SEQUENCE), or the encrypted octets.
    scoped: &'a [u8],
}

fn malformed(what: &str) -> TrapError {
    TrapError::Malformed(format!("SNMPv3 message: {what}"))
}

fn parse(packet: &[u8]) -> Result<Message<'_>, TrapError> {
    let (body, _) =
        ber::expect(packet, ber::SEQUENCE).ok_or_else(|| malformed("not a SEQUENCE"))?;
    let (version, rest) = ber::integer(body).ok_or_else(|| malformed("no version"))?;
    if version != 3 {
        return Err(malformed("not version 3"));
    }
    let (header, rest) =
        ber::expect(rest, ber::SEQUENCE).ok_or_else(|| malformed("no msgGlobalData"))?;
    let (msg_id, h) = ber::integer(header).ok_or_else(|| malformed("no msgID"))?;
    let (_max, h) = ber::integer(h).ok_or_else(|| malformed("no msgMaxSize"))?;
    let (flags, h) = ber::expect(h, ber::OCTET_STRING).ok_or_else(|| malformed("no msgFlags"))?;
    let (model, _) = ber::integer(h).ok_or_else(|| malformed("no msgSecurityModel"))?;
    let [flags] = flags else {
        return Err(malformed("msgFlags is not one byte"));
    };
    if model != 3 {
        return Err(TrapError::Usm {
            reason: "unsupported_security_model",
            detail: format!("security model {model} (only the USM, 3, is)"),
        });
    }
    let (sec, rest) = ber::expect(rest, ber::OCTET_STRING)
        .ok_or_else(|| malformed("no msgSecurityParameters"))?;
    let (usm, _) = ber::expect(sec, ber::SEQUENCE).ok_or_else(|| malformed("USM parameters"))?;
    let (engine_id, u) =
        ber::expect(usm, ber::OCTET_STRING).ok_or_else(|| malformed("engine ID"))?;
    let (boots, u) = ber::integer(u).ok_or_else(|| malformed("engine boots"))?;
    let (time, u) = ber::integer(u).ok_or_else(|| malformed("engine time"))?;
    let (user, u) = ber::expect(u, ber::OCTET_STRING).ok_or_else(|| malformed("user name"))?;
    let (auth_params, u) =
        ber::expect(u, ber::OCTET_STRING).ok_or_else(|| malformed("authentication parameters"))?;
    let (priv_params, _) =
        ber::expect(u, ber::OCTET_STRING).ok_or_else(|| malformed("privacy parameters"))?;
    let scoped = if flags & FLAG_PRIV != 0 {
        ber::expect(rest, ber::OCTET_STRING)
            .ok_or_else(|| malformed("no encrypted PDU"))?
            .0
    } else {
        ber::read_whole(rest)
            .filter(|(tag, ..)| *tag == ber::SEQUENCE)
            .ok_or_else(|| malformed("no ScopedPDU"))?
            .2
    };
    let auth_offset = auth_params.as_ptr() as usize - packet.as_ptr() as usize;
    Ok(Message {
        msg_id,
        flags: *flags,
        engine_id,
        boots: u32::try_from(boots).map_err(|_| malformed("engine boots out of range"))?,
        time: u32::try_from(time).map_err(|_| malformed("engine time out of range"))?,
        user,
        auth_params,
        auth_offset,
        priv_params,
        scoped,
    })
}

/// A ScopedPDU's context engine ID, context name and PDU (whole TLV).
fn scoped_pdu(scoped: &[u8]) -> Option<(&[u8], &[u8], &[u8])> {
    let (body, _) = ber::expect(scoped, ber::SEQUENCE)?;
    let (ctx_engine, rest) = ber::expect(body, ber::OCTET_STRING)?;
    let (ctx_name, rest) = ber::expect(rest, ber::OCTET_STRING)?;
    let (_, _, pdu, _) = ber::read_whole(rest)?;
    Some((ctx_engine, ctx_name, pdu))
}

/// A PDU's tag, request-id TLV and varbind list TLV.
fn pdu_parts(pdu: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (tag, content, _) = ber::read(pdu)?;
    let (_, _, req_id, rest) = ber::read_whole(content)?;
    let (_, rest) = ber::expect(rest, ber::INTEGER)?;
    let (_, rest) = ber::expect(rest, ber::INTEGER)?;
    let (_, _, vars, _) = ber::read_whole(rest)?;
    Some((tag, req_id, vars))
}

/// A Response PDU answering a PDU with `req_id` and `vars` (both whole TLVs).
pub(crate) fn response_pdu(req_id: &[u8], vars: &[u8]) -> Vec<u8> {
    let mut c = Vec::with_capacity(req_id.len() + vars.len() + 6);
    c.extend_from_slice(req_id);
    ber::put_int(&mut c, ber::INTEGER, 0);
    ber::put_int(&mut c, ber::INTEGER, 0);
    c.extend_from_slice(vars);
    ber::tlv(ber::RESPONSE, &c)
}

fn level(flags: u8) -> &'static str {
    match flags & 3 {
        0 => "noAuthNoPriv",
        1 => "authNoPriv",
        _ => "authPriv",
    }
}

impl Usm {
    /// The USM of a connector: its engine and users (passphrases hashed now).
    pub(crate) fn new(cfg: &SnmpTrapConfig, engine: Engine) -> Usm {
        let users = cfg
            .users
            .iter()
            .map(|u| User {
                name: u.name.as_bytes().to_vec(),
                auth: u
                    .auth
                    .as_ref()
                    .map(|(p, s)| (*p, usm::passphrase_key(*p, s.expose().as_bytes()))),
                privacy: match (&u.auth, &u.privacy) {
                    (Some((a, _)), Some((p, s))) => {
                        Some((*p, usm::passphrase_key(*a, s.expose().as_bytes())))
                    }
                    _ => None,
                },
            })
            .collect();
        Usm {
            engine,
            users,
            keys: HashMap::new(),
            salt: AtomicU64::new(random_u64()),
            stats: HashMap::new(),
        }
    }

    /// The engine.
    pub(crate) fn engine(&self) -> &Engine {
        &self.engine
    }

    fn keys(&mut self, user: usize, engine_id: &[u8]) -> Option<Keys> {
        let key = (user, engine_id.to_vec());
        if let Some(k) = self.keys.get(&key) {
            return Some(k.clone());
        }
        let u = self.users.get(user)?;
        let k = Keys {
            auth: u
                .auth
                .as_ref()
                .map(|(p, ku)| (*p, usm::localize(*p, ku, engine_id))),
            privacy: match (&u.auth, &u.privacy) {
                (Some((a, _)), Some((p, ku))) => Some((*p, usm::localize(*a, ku, engine_id))),
                _ => None,
            },
        };
        if self.keys.len() >= MAX_CACHED_KEYS {
            self.keys.clear();
        }
        self.keys.insert(key, k.clone());
        Some(k)
    }

    fn count(&mut self, stat: &'static str) -> u32 {
        let n = self.stats.entry(stat).or_default();
        *n = n.wrapping_add(1);
        *n
    }

    /// Handles one v3 datagram from `peer`.
    pub(crate) fn handle(
        &mut self,
        packet: &[u8],
        peer: std::net::SocketAddr,
        names: &OidNames,
    ) -> Handled {
        let m = match parse(packet) {
            Ok(m) => m,
            Err(e) => {
                return Handled {
                    record: Some(Err(e)),
                    reply: None,
                };
            }
        };
        let reportable = m.flags & FLAG_REPORTABLE != 0;
        if m.flags & FLAG_PRIV != 0 && m.flags & FLAG_AUTH == 0 {
            return Handled {
                record: Some(Err(malformed("privacy without authentication"))),
                reply: None,
            };
        }
        // engine discovery (RFC 3414 4): an empty authoritative engine ID
        if m.engine_id.is_empty() {
            let reply = reportable.then(|| self.report(&m, UNKNOWN_ENGINE_IDS, None));
            let probe = m.user.is_empty() && m.flags & FLAG_AUTH == 0;
            return Handled {
                record: (!probe).then(|| {
                    Err(TrapError::Usm {
                        reason: "unknown_engine_id",
                        detail: "no authoritative engine ID".into(),
                    })
                }),
                reply: reply.flatten(),
            };
        }
        let to_us = m.engine_id == self.engine.id.as_slice();
        let Some(ui) = self.users.iter().position(|u| u.name == m.user) else {
            let reply = (reportable && to_us)
                .then(|| self.report(&m, UNKNOWN_USER_NAMES, None))
                .flatten();
            return Handled {
                record: Some(Err(TrapError::Usm {
                    reason: "unknown_user",
                    detail: format!(
                        "user '{}' is not configured",
                        String::from_utf8_lossy(m.user)
                    ),
                })),
                reply,
            };
        };
        let wanted = self.users[ui].flags();
        if m.flags & 3 != wanted {
            let reply = (reportable && to_us)
                .then(|| self.report(&m, UNSUPPORTED_SEC_LEVELS, None))
                .flatten();
            return Handled {
                record: Some(Err(TrapError::Usm {
                    reason: "unsupported_security_level",
                    detail: format!(
                        "{} from user '{}', configured for {}",
                        level(m.flags),
                        String::from_utf8_lossy(m.user),
                        level(wanted)
                    ),
                })),
                reply,
            };
        }
        let Some(keys) = self.keys(ui, m.engine_id) else {
            return Handled::default();
        };
        if let Some((p, key)) = &keys.auth {
            let mut zeroed = packet.to_vec();
            let end = m.auth_offset + m.auth_params.len();
            if m.auth_params.len() != usm::mac_len(*p) || end > zeroed.len() {
                return self.wrong_digest(&m, reportable && to_us);
            }
            zeroed[m.auth_offset..end].fill(0);
            if !usm::verify(*p, key, &zeroed, m.auth_params) {
                return self.wrong_digest(&m, reportable && to_us);
            }
            // timeliness, for messages to this engine (RFC 3414 3.2 7a)
            if to_us
                && (m.boots != self.engine.boots
                    || (i64::from(m.time) - i64::from(self.engine.time())).abs() > TIME_WINDOW)
            {
                let reply = reportable
                    .then(|| self.report(&m, NOT_IN_TIME_WINDOWS, Some(ui)))
                    .flatten();
                return Handled {
                    record: reply.is_none().then(|| {
                        Err(TrapError::Usm {
                            reason: "not_in_time_window",
                            detail: format!(
                                "boots {} time {}, this engine is at boots {} time {}",
                                m.boots,
                                m.time,
                                self.engine.boots,
                                self.engine.time()
                            ),
                        })
                    }),
                    reply,
                };
            }
        }
        let plain;
        let scoped = match &keys.privacy {
            Some((p, key)) => match usm::decrypt(*p, key, m.boots, m.time, m.priv_params, m.scoped)
            {
                Some(d) => {
                    plain = d;
                    plain.as_slice()
                }
                None => return self.decryption_error(&m, reportable && to_us),
            },
            None => m.scoped,
        };
        let Some((ctx_engine, ctx_name, pdu)) = scoped_pdu(scoped) else {
            return if keys.privacy.is_some() {
                self.decryption_error(&m, reportable && to_us)
            } else {
                Handled {
                    record: Some(Err(malformed("ScopedPDU"))),
                    reply: None,
                }
            };
        };
        let Some((tag, req_id, vars)) = pdu_parts(pdu) else {
            return Handled {
                record: Some(Err(malformed("PDU"))),
                reply: None,
            };
        };
        match tag {
            ber::TRAP_V2 => {}
            ber::INFORM if to_us => {}
            ber::INFORM => {
                // an inform must be sent to this engine: tell the sender which it is
                let reply = reportable
                    .then(|| self.report(&m, UNKNOWN_ENGINE_IDS, None))
                    .flatten();
                return Handled {
                    record: None,
                    reply,
                };
            }
            ber::GET_REQUEST if to_us && vars.len() <= 2 => {
                // a time-synchronisation probe: answered by a notInTimeWindow report
                let reply = reportable
                    .then(|| self.report(&m, NOT_IN_TIME_WINDOWS, Some(ui)))
                    .flatten();
                return Handled {
                    record: None,
                    reply,
                };
            }
            t => {
                return Handled {
                    record: Some(Err(TrapError::NotATrap(format!("PDU tag 0x{t:02x}")))),
                    reply: None,
                };
            }
        }
        let record = self.record(&m, ctx_engine, ctx_name, pdu, peer, names);
        let reply = (tag == ber::INFORM)
            .then(|| {
                let pdu = response_pdu(req_id, vars);
                self.message(&m, m.flags & 3, Some(ui), ctx_engine, ctx_name, &pdu)
            })
            .flatten();
        Handled {
            record: Some(record),
            reply,
        }
    }

    fn wrong_digest(&mut self, m: &Message<'_>, report: bool) -> Handled {
        let reply = report
            .then(|| self.report(m, WRONG_DIGESTS, None))
            .flatten();
        Handled {
            record: Some(Err(TrapError::Usm {
                reason: "authentication_failed",
                detail: format!(
                    "wrong digest from user '{}' (wrong passphrase or protocol, or altered)",
                    String::from_utf8_lossy(m.user)
                ),
            })),
            reply,
        }
    }

    fn decryption_error(&mut self, m: &Message<'_>, report: bool) -> Handled {
        let reply = report
            .then(|| self.report(m, DECRYPTION_ERRORS, None))
            .flatten();
        Handled {
            record: Some(Err(TrapError::Usm {
                reason: "decryption_failed",
                detail: format!(
                    "the PDU from user '{}' does not decrypt (wrong privacy passphrase or protocol)",
                    String::from_utf8_lossy(m.user)
                ),
            })),
            reply,
        }
    }

    /// The trap record of a (decrypted) ScopedPDU: the v2c fields plus the v3 ones.
    fn record(
        &self,
        m: &Message<'_>,
        ctx_engine: &[u8],
        ctx_name: &[u8],
        pdu: &[u8],
        peer: std::net::SocketAddr,
        names: &OidNames,
    ) -> Result<Vec<u8>, TrapError> {
        // the PDU's grammar is v2c's: read it with snmp-parser as a v2c message
        let mut body = Vec::with_capacity(pdu.len() + 8);
        ber::put_int(&mut body, ber::INTEGER, 1);
        ber::put(&mut body, ber::OCTET_STRING, b"");
        body.extend_from_slice(pdu);
        let wrapped = ber::tlv(ber::SEQUENCE, &body);
        let mut out = Map::new();
        out.insert("snmp.version".into(), "3".into());
        super::decode_v1v2_into(&wrapped, peer, names, &mut out)?;
        out.insert("snmp.version".into(), "3".into());
        out.insert(
            "snmp.user".into(),
            String::from_utf8_lossy(m.user).into_owned().into(),
        );
        out.insert("snmp.security_level".into(), level(m.flags).into());
        out.insert("snmp.engine_id".into(), hex(m.engine_id).into());
        if !ctx_engine.is_empty() && ctx_engine != m.engine_id {
            out.insert("snmp.context.engine_id".into(), hex(ctx_engine).into());
        }
        if !ctx_name.is_empty() {
            out.insert(
                "snmp.context.name".into(),
                String::from_utf8_lossy(ctx_name).into_owned().into(),
            );
        }
        serde_json::to_vec(&Value::Object(out)).map_err(|e| TrapError::Malformed(e.to_string()))
    }

    /// A Report PDU with `stat`'s counter, unauthenticated, or authenticated as user `ui`
    /// (authNoPriv) for notInTimeWindow (RFC 3414 3.2 7a).
    fn report(
        &mut self,
        m: &Message<'_>,
        stat: &'static str,
        ui: Option<usize>,
    ) -> Option<Vec<u8>> {
        let n = self.count(stat);
        let mut vb = Vec::new();
        ber::put(&mut vb, ber::OID, &ber::oid_content(stat)?);
        ber::put_int(&mut vb, ber::COUNTER32, i64::from(n));
        let vars = ber::tlv(ber::SEQUENCE, &ber::tlv(ber::SEQUENCE, &vb));
        // the request-id of a readable request (the probe), else 0
        let req_id = if m.flags & FLAG_PRIV == 0 {
            scoped_pdu(m.scoped)
                .and_then(|(_, _, pdu)| pdu_parts(pdu))
                .map(|(_, r, _)| r.to_vec())
        } else {
            None
        };
        let req_id = req_id.unwrap_or_else(|| vec![ber::INTEGER, 1, 0]);
        let mut c = req_id;
        ber::put_int(&mut c, ber::INTEGER, 0);
        ber::put_int(&mut c, ber::INTEGER, 0);
        c.extend_from_slice(&vars);
        let pdu = ber::tlv(ber::REPORT, &c);
        let id = self.engine.id.clone();
        let flags = if ui.is_some() { FLAG_AUTH } else { 0 };
        self.message(m, flags, ui, &id, b"", &pdu)
    }

    /// A whole v3 message from this engine answering `m`: `flags` (auth, priv), as user `ui`
    /// (its keys localized to this engine), with a ScopedPDU of `ctx_engine`, `ctx_name` and
    /// `pdu`.
    fn message(
        &mut self,
        m: &Message<'_>,
        flags: u8,
        ui: Option<usize>,
        ctx_engine: &[u8],
        ctx_name: &[u8],
        pdu: &[u8],
    ) -> Option<Vec<u8>> {
        let engine_id = self.engine.id.clone();
        let keys = match ui {
            Some(ui) => Some(self.keys(ui, &engine_id)?),
            None => None,
        };
        let boots = self.engine.boots;
        let time = self.engine.time();
        let mut scoped = Vec::new();
        ber::put(&mut scoped, ber::OCTET_STRING, ctx_engine);
        ber::put(&mut scoped, ber::OCTET_STRING, ctx_name);
        scoped.extend_from_slice(pdu);
        let scoped = ber::tlv(ber::SEQUENCE, &scoped);
        let (data, priv_params) = match keys.as_ref().and_then(|k| k.privacy.as_ref()) {
            Some((p, key)) if flags & FLAG_PRIV != 0 => {
                let counter = self.salt.fetch_add(1, Ordering::Relaxed);
                let salt: [u8; 8] = match p {
                    SnmpPrivProtocol::Des => {
                        let mut s = [0u8; 8];
                        s[..4].copy_from_slice(&boots.to_be_bytes());
                        s[4..].copy_from_slice(&(counter as u32).to_be_bytes());
                        s
                    }
                    SnmpPrivProtocol::Aes => counter.to_be_bytes(),
                };
                let enc = usm::encrypt(*p, key, boots, time, &salt, &scoped)?;
                (ber::tlv(ber::OCTET_STRING, &enc), salt.to_vec())
            }
            _ => (scoped, Vec::new()),
        };
        let auth = keys
            .as_ref()
            .and_then(|k| k.auth.clone())
            .filter(|_| flags & FLAG_AUTH != 0);
        let mac_len = auth.as_ref().map_or(0, |(p, _)| usm::mac_len(*p));
        let mut usm_params = Vec::new();
        ber::put(&mut usm_params, ber::OCTET_STRING, &engine_id);
        ber::put_int(&mut usm_params, ber::INTEGER, i64::from(boots));
        ber::put_int(&mut usm_params, ber::INTEGER, i64::from(time));
        ber::put(&mut usm_params, ber::OCTET_STRING, m.user);
        // the MAC placeholder: a run of zeros found again below by its position
        let mac_at_in_usm = usm_params.len() + 2;
        ber::put(&mut usm_params, ber::OCTET_STRING, &vec![0u8; mac_len]);
        ber::put(&mut usm_params, ber::OCTET_STRING, &priv_params);
        let usm_seq = ber::tlv(ber::SEQUENCE, &usm_params);
        let usm_octets = ber::tlv(ber::OCTET_STRING, &usm_seq);
        let mut header = Vec::new();
        ber::put_int(&mut header, ber::INTEGER, m.msg_id);
        ber::put_int(&mut header, ber::INTEGER, MAX_MESSAGE);
        ber::put(&mut header, ber::OCTET_STRING, &[flags & 3]);
        ber::put_int(&mut header, ber::INTEGER, 3);
        let mut body = Vec::new();
        ber::put_int(&mut body, ber::INTEGER, 3);
        ber::put(&mut body, ber::SEQUENCE, &header);
        let usm_start =
            body.len() + (usm_octets.len() - usm_seq.len()) + (usm_seq.len() - usm_params.len());
        body.extend_from_slice(&usm_octets);
        body.extend_from_slice(&data);
        let mut msg = ber::tlv(ber::SEQUENCE, &body);
        if let Some((p, key)) = auth {
            let at = (msg.len() - body.len()) + usm_start + mac_at_in_usm;
            let mac = usm::mac(p, &key, &msg);
            msg.get_mut(at..at + mac_len)?.copy_from_slice(&mac);
        }
        Some(msg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_config::{Secret, SnmpUser};

    fn cfg(users: Vec<SnmpUser>) -> SnmpTrapConfig {
        SnmpTrapConfig {
            listen: "127.0.0.1:0"
                .parse()
                .unwrap_or(std::net::SocketAddr::from(([0; 4], 0))),
            udp_recv_buffer: 1 << 20,
            oid_names: Default::default(),
            users,
            engine_id: None,
            state_dir: Default::default(),
        }
    }

    fn user(auth: Option<SnmpAuthProtocol>, privacy: Option<SnmpPrivProtocol>) -> SnmpUser {
        SnmpUser {
            name: "alice".into(),
            auth: auth.map(|p| (p, Secret::literal("authpass123"))),
            privacy: privacy.map(|p| (p, Secret::literal("privpass123"))),
        }
    }

    /// A message this engine builds (a Response) is one it accepts: the MAC lands where the
    /// verifier zeroes it, for every protocol, and the PDU decrypts.
    #[test]
    fn messages_built_here_authenticate_and_decrypt() {
        let names = OidNames::new(&Default::default());
        let peer: std::net::SocketAddr = ([127, 0, 0, 1], 9).into();
        for (a, p) in [
            (None, None),
            (Some(SnmpAuthProtocol::Md5), None),
            (Some(SnmpAuthProtocol::Sha), Some(SnmpPrivProtocol::Aes)),
            (Some(SnmpAuthProtocol::Sha256), Some(SnmpPrivProtocol::Des)),
            (Some(SnmpAuthProtocol::Sha512), Some(SnmpPrivProtocol::Aes)),
        ] {
            let c = cfg(vec![user(a, p)]);
            let mut usm = Usm::new(&c, Engine::new(vec![0x80, 0, 0, 0, 5, 1, 2, 3, 4], 7));
            let mut vb = Vec::new();
            ber::put(
                &mut vb,
                ber::OID,
                &ber::oid_content("1.3.6.1.6.3.1.1.4.1.0").unwrap_or_default(),
            );
            ber::put(
                &mut vb,
                ber::OID,
                &ber::oid_content("1.3.6.1.6.3.1.1.5.4").unwrap_or_default(),
            );
            let vars = ber::tlv(ber::SEQUENCE, &ber::tlv(ber::SEQUENCE, &vb));
            let mut c2 = Vec::new();
            ber::put_int(&mut c2, ber::INTEGER, 77);
            ber::put_int(&mut c2, ber::INTEGER, 0);
            ber::put_int(&mut c2, ber::INTEGER, 0);
            c2.extend_from_slice(&vars);
            let inform = ber::tlv(ber::INFORM, &c2);
            let fake = Message {
                msg_id: 42,
                flags: 0,
                engine_id: b"",
                boots: 0,
                time: 0,
                user: b"alice",
                auth_params: b"",
                auth_offset: 0,
                priv_params: b"",
                scoped: b"",
            };
            let flags = match (a, p) {
                (None, _) => 0,
                (Some(_), None) => FLAG_AUTH,
                _ => FLAG_AUTH | FLAG_PRIV,
            } | FLAG_REPORTABLE;
            let id = usm.engine.id.clone();
            let msg = usm
                .message(&fake, flags, Some(0), &id, b"", &inform)
                .unwrap_or_default();
            // the flags byte has the reportable bit cleared by `message`; set it back
            let h = usm.handle(&msg, peer, &names);
            let rec = h.record.unwrap_or(Err(malformed("none")));
            let rec = rec.unwrap_or_else(|e| panic!("{a:?}/{p:?}: {e}"));
            let v: Value = serde_json::from_slice(&rec).unwrap_or_default();
            assert_eq!(v["snmp.version"], "3");
            assert_eq!(v["snmp.pdu_type"], "inform");
            assert_eq!(v["snmp.trap.name"], "linkUp");
            assert_eq!(v["snmp.user"], "alice");
            assert!(h.reply.is_some(), "an inform is answered");
            // one flipped byte in the PDU: refused, never a panic
            if a.is_some() {
                let mut bad = msg.clone();
                let last = bad.len() - 3;
                bad[last] ^= 0x55;
                let h = usm.handle(&bad, peer, &names);
                assert!(
                    matches!(h.record, Some(Err(TrapError::Usm { .. }))),
                    "{a:?}"
                );
            }
        }
    }

    #[test]
    fn engine_boots_are_kept_and_incremented() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let a = Engine::load(None, dir.path()).unwrap_or_else(|e| panic!("{e}"));
        let b = Engine::load(None, dir.path()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(a.id, b.id);
        assert_eq!((a.boots, b.boots), (1, 2));
        let c = Engine::load(Some(&[0x80, 0, 0, 0, 4, b'v']), dir.path())
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((c.id.len(), c.boots), (6, 1));
        std::fs::write(dir.path().join("snmp_engine.json"), b"{").unwrap_or_default();
        assert!(Engine::load(None, dir.path()).is_err());
    }
}
