//! The syslog normalizer: RFC 3164 / RFC 5424 header into ECS fields, structured data into the
//! original fields, and a first extraction of the fields every SOC searches on from the
//! messages of sshd and sudo.

use chrono_tz::Tz;
use smol_str::SmolStr;
use vigil_event::{Event, FieldMap, Timestamp, Value};
use vigil_event::{Normalizer, RawRecord, SourceInfo};
use vigil_parse::syslog::{SyslogMessage, SyslogOptions, parse_lenient};

/// Syslog normalizer settings and state.
#[derive(Debug, Clone)]
pub struct SyslogNormalizer {
    timezone: Tz,
}

/// The syslog severity keyword for a code (`log.level`).
pub fn severity_name(code: u8) -> &'static str {
    match code {
        0 => "emerg",
        1 => "alert",
        2 => "crit",
        3 => "err",
        4 => "warning",
        5 => "notice",
        6 => "info",
        _ => "debug",
    }
}

/// Maps a parsed syslog header onto `ev` (`@timestamp`, `log.syslog.*`, `log.level`,
/// `host.name`, `process.name`/`pid`) and pushes the structured-data params onto `sd` as
/// `<sd-id>.<param>`. The message is left to the caller.
pub(crate) fn apply_header(ev: &mut Event, msg: &SyslogMessage<'_>, sd: &mut FieldMap) {
    if let Some(ts) = msg.timestamp {
        ev.timestamp = Timestamp::from_datetime(&ts);
    }
    if let Some(pri) = msg.pri {
        ev.log.syslog_priority = Some(pri);
        ev.log.syslog_facility = Some(pri >> 3);
        ev.log.syslog_severity = Some(pri & 7);
        ev.log.level = Some(SmolStr::new_static(severity_name(pri & 7)));
    }
    ev.log.syslog_version = msg.version;
    if let Some(h) = msg.hostname {
        ev.host.name = Some(SmolStr::new(h));
    }
    if let Some(app) = msg.app_name {
        let app = SmolStr::new(app);
        ev.process.name = Some(app.clone());
        ev.log.syslog_appname = Some(app);
    }
    if let Some(pid) = msg.procid {
        ev.process.pid = pid.parse().ok();
        ev.log.syslog_procid = Some(SmolStr::new(pid));
    }
    if let Some(id) = msg.msgid {
        ev.log.syslog_msgid = Some(SmolStr::new(id));
    }
    for e in &msg.structured_data {
        for p in &e.params {
            let mut key = String::with_capacity(e.id.len() + 1 + p.name.len());
            key.push_str(e.id);
            key.push('.');
            key.push_str(p.name);
            sd.push(key, Value::Str(SmolStr::new(&p.value)));
        }
    }
}

impl SyslogNormalizer {
    /// A normalizer reading offset-less timestamps in `timezone`.
    pub fn new(timezone: Tz) -> SyslogNormalizer {
        SyslogNormalizer { timezone }
    }

    /// Normalizes one record into an event.
    pub fn normalize_record(&self, source: &SourceInfo, rec: RawRecord) -> Event {
        let mut ev = Event::from_raw(source, rec);
        let received = ev.meta.received;
        let opts = SyslogOptions {
            default_timezone: self.timezone,
            now: received.to_datetime(),
        };
        let raw = ev.raw.clone();
        let (msg, err) = parse_lenient(&raw, &opts);
        if let Some(e) = err {
            ev.meta.parse_error = Some(SmolStr::new(e.to_string()));
        }
        let mut sd = std::mem::take(&mut ev.original);
        apply_header(&mut ev, &msg, &mut sd);
        ev.original = sd;
        let text = msg.msg_lossy();
        if !text.is_empty() {
            extract(&mut ev, msg.app_name.unwrap_or(""), &text);
            ev.message = Some(SmolStr::new(text));
        }
        ev
    }
}

impl Normalizer for SyslogNormalizer {
    fn normalize(&self, source: &SourceInfo, rec: RawRecord, out: &mut Vec<Event>) {
        out.push(self.normalize_record(source, rec));
    }
}

fn word_after<'a>(text: &'a str, marker: &str) -> Option<&'a str> {
    let start = text.find(marker)? + marker.len();
    let rest = &text[start..];
    let end = rest.find([' ', ';', ',']).unwrap_or(rest.len());
    let w = &rest[..end];
    (!w.is_empty()).then_some(w)
}

/// The first extraction of SOC-critical fields from well-known programs. Product packs with
/// full mappings replace this; it exists so a new installation can already search by user
/// and source IP.
fn extract(ev: &mut Event, app: &str, text: &str) {
    match app {
        "sshd" => {
            let (outcome, action) =
                if text.starts_with("Failed ") || text.starts_with("Invalid user") {
                    ("failure", "ssh_login")
                } else if text.starts_with("Accepted ") {
                    ("success", "ssh_login")
                } else {
                    return;
                };
            ev.event.category = vec![SmolStr::new_static("authentication")];
            ev.event.outcome = Some(SmolStr::new_static(outcome));
            ev.event.action = Some(SmolStr::new_static(action));
            let user = word_after(text, "invalid user ").or_else(|| word_after(text, " for "));
            if let Some(u) = user {
                ev.user.name = Some(SmolStr::new(u));
            }
            if let Some(ip) = word_after(text, " from ").and_then(vigil_event::parse_ip) {
                ev.source.ip = Some(ip);
            }
            if let Some(p) = word_after(text, " port ").and_then(|p| p.parse().ok()) {
                ev.source.port = Some(p);
            }
        }
        "sudo" => {
            // "alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/id"
            let Some((user, rest)) = text.split_once(" : ") else {
                return;
            };
            ev.user.name = Some(SmolStr::new(user.trim()));
            ev.event.category = vec![SmolStr::new_static("process")];
            ev.event.action = Some(SmolStr::new_static("sudo"));
            let failed = rest.contains("incorrect password") || rest.contains("NOT in sudoers");
            ev.event.outcome = Some(SmolStr::new_static(if failed {
                "failure"
            } else {
                "success"
            }));
            if let Some(target) = word_after(rest, "USER=") {
                ev.user.target_name = Some(SmolStr::new(target));
            }
            if let Some(i) = rest.find("COMMAND=") {
                ev.process.command_line = Some(SmolStr::new(rest[i + 8..].trim()));
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn src() -> SourceInfo {
        SourceInfo {
            id: "syslog".into(),
            tenant: "main".into(),
            collector: "local".into(),
        }
    }

    fn rec(line: &'static [u8]) -> RawRecord {
        RawRecord {
            data: Bytes::from_static(line),
            received: Timestamp::parse("2026-11-22T07:00:00Z").unwrap(),
            peer: Some("127.0.0.1:40000".parse().unwrap()),
            transport_error: None,
        }
    }

    #[test]
    fn rfc3164_sshd_failure() {
        let n = SyslogNormalizer::new(chrono_tz::UTC);
        let ev = n.normalize_record(
            &src(),
            rec(b"<38>Nov 22 06:59:58 web01 sshd[4242]: Failed password for invalid user admin from 203.0.113.77 port 52144 ssh2"),
        );
        assert_eq!(ev.meta.parse_error, None);
        assert_eq!(ev.timestamp.to_rfc3339(), "2026-11-22T06:59:58Z");
        assert_eq!(ev.host.name.as_deref(), Some("web01"));
        assert_eq!(ev.process.name.as_deref(), Some("sshd"));
        assert_eq!(ev.process.pid, Some(4242));
        assert_eq!(ev.log.syslog_facility, Some(4));
        assert_eq!(ev.log.level.as_deref(), Some("info"));
        assert_eq!(ev.user.name.as_deref(), Some("admin"));
        assert_eq!(ev.source.ip, Some("203.0.113.77".parse().unwrap()));
        assert_eq!(ev.source.port, Some(52144));
        assert_eq!(ev.event.outcome.as_deref(), Some("failure"));
        assert_eq!(ev.meta.tenant, "main");
        assert_eq!(ev.meta.peer, Some("127.0.0.1".parse().unwrap()));
    }

    #[test]
    fn rfc5424_with_structured_data() {
        let n = SyslogNormalizer::new(chrono_tz::UTC);
        let ev = n.normalize_record(
            &src(),
            rec(b"<165>1 2026-11-22T06:30:00.123+01:00 app7 billing 811 LOGIN [auth@32473 user=\"carol\" result=\"ok\"] login ok"),
        );
        assert_eq!(ev.meta.parse_error, None);
        assert_eq!(ev.timestamp.to_rfc3339(), "2026-11-22T05:30:00.123Z");
        assert_eq!(ev.log.syslog_version, Some(1));
        assert_eq!(ev.log.syslog_msgid.as_deref(), Some("LOGIN"));
        assert_eq!(ev.get("auth@32473.user"), Some(Value::from("carol")));
        assert_eq!(ev.message.as_deref(), Some("login ok"));
    }

    #[test]
    fn garbage_is_kept_raw_with_the_reason() {
        let n = SyslogNormalizer::new(chrono_tz::UTC);
        let ev = n.normalize_record(&src(), rec(b"\x00\xff\xfe garbage"));
        assert!(ev.meta.parse_error.is_some());
        assert_eq!(&ev.raw[..], b"\x00\xff\xfe garbage");
        assert_eq!(
            ev.timestamp, ev.meta.received,
            "unparsed events are timed by receipt"
        );
    }

    #[test]
    fn sudo_command() {
        let n = SyslogNormalizer::new(chrono_tz::UTC);
        let ev = n.normalize_record(
            &src(),
            rec(b"<85>Nov 22 06:00:01 db02 sudo: alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/systemctl restart nginx"),
        );
        assert_eq!(ev.user.name.as_deref(), Some("alice"));
        assert_eq!(ev.user.target_name.as_deref(), Some("root"));
        assert_eq!(
            ev.process.command_line.as_deref(),
            Some("/usr/bin/systemctl restart nginx")
        );
    }
}
