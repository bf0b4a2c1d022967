//! Events forwarded by another Vigil: the nested ECS JSON its `http` (NDJSON or `_bulk`),
//! `nats` and `kafka` (`json`) destinations write ([`vigil_event::Event::write_json`]),
//! recognized by the `auto` normalizer and taken back field for field instead of being
//! parsed as a foreign JSON log (which would wrap the whole document in a new event).
//!
//! What is kept: every field as the sender had it (`@timestamp`, `message`, the ECS groups,
//! the extra fields such as `snmp.*`, the `original` object as the event's original fields),
//! the event id and type, and the sender's raw record (`event.original`) as this event's raw
//! record. What is not taken from the document: the tenant, source, collector and peer, which
//! are this receiver's (a forwarded document cannot claim a tenant); the sender's are kept as
//! `vigil.origin.tenant`, `vigil.origin.source`, `vigil.origin.collector` and
//! `vigil.origin.peer`.
//!
//! Recognized: a JSON object with a string `@timestamp` and a `vigil` object whose `event_id`
//! is a ULID. A value of the wrong type for its field (a document edited on the way) is kept
//! under `original.<field>` rather than dropped.

use serde_json::Value as Json;
use vigil_event::{Bytes, Event, Value};

/// Deepest nesting taken apart; deeper objects are kept as their JSON text.
const MAX_DEPTH: usize = 16;

/// The event a forwarded Vigil document describes, built on `blank` (this receiver's event
/// for the record: tenant, source, receive time). `None` when `text` is not one.
pub fn from_forwarded(blank: &Event, text: &str) -> Option<Event> {
    let t = text.trim();
    if !t.starts_with('{') || !t.contains("\"vigil\":{") || !t.contains("\"event_id\":\"") {
        return None;
    }
    let Json::Object(root) = serde_json::from_str::<Json>(t).ok()? else {
        return None;
    };
    let vigil = root.get("vigil")?.as_object()?;
    let id = vigil.get("event_id")?.as_str()?;
    if id.len() != 26 || !root.get("@timestamp").is_some_and(Json::is_string) {
        return None;
    }
    let mut ev = blank.clone();
    ev.set("vigil.event_id", id).ok()?;
    let mut flat = Vec::new();
    for (k, v) in &root {
        match k.as_str() {
            "original" => {
                if let Json::Object(o) = v {
                    for (name, val) in o {
                        ev.original.insert(name.as_str(), Value::from_json(val));
                    }
                }
            }
            _ => flatten(k, v, 1, &mut flat),
        }
    }
    for (name, v) in flat {
        match name.as_str() {
            "vigil.event_id" => {}
            "vigil.tenant" | "vigil.source" | "vigil.collector" | "vigil.peer" => {
                let origin = format!("vigil.origin.{}", &name["vigil.".len()..]);
                ev.extra.insert(origin, Value::from_json(v));
            }
            "event.original" => {
                if let Some(s) = v.as_str() {
                    ev.raw = Bytes::copy_from_slice(s.as_bytes());
                }
            }
            _ => {
                if ev.set(&name, Value::from_json(v)).is_err() {
                    ev.original.insert(name.as_str(), Value::from_json(v));
                }
            }
        }
    }
    Some(ev)
}

/// The leaves of `v` under `prefix`, dotted; arrays and deep objects are leaves.
fn flatten<'a>(prefix: &str, v: &'a Json, depth: usize, out: &mut Vec<(String, &'a Json)>) {
    match v {
        Json::Object(m) if depth < MAX_DEPTH && !m.is_empty() => {
            for (k, x) in m {
                flatten(&format!("{prefix}.{k}"), x, depth + 1, out);
            }
        }
        _ => out.push((prefix.to_owned(), v)),
    }
}

/// The keys of a JSON object, in order.
#[cfg(test)]
fn keys(m: &serde_json::Map<String, Json>) -> Vec<&str> {
    m.keys().map(String::as_str).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_event::{RawRecord, SourceInfo, Timestamp};

    fn source(id: &str, tenant: &str) -> SourceInfo {
        SourceInfo {
            id: id.into(),
            tenant: tenant.into(),
            collector: "c".into(),
        }
    }

    fn record(data: &[u8]) -> RawRecord {
        RawRecord {
            data: Bytes::copy_from_slice(data),
            received: Timestamp::now(),
            peer: None,
            transport_error: None,
        }
    }

    /// An event as the first Vigil has it, written by its destinations, read by the second:
    /// the same fields, id and raw record, not a new event wrapping the document.
    #[test]
    fn a_forwarded_event_keeps_its_fields_without_double_wrapping() {
        let sender = source("fw", "acme");
        let raw = "<34>Oct 11 22:14:15 mymachine sshd[42]: Failed password for root";
        let mut first = Event::from_raw(&sender, record(raw.as_bytes()));
        first
            .set("@timestamp", "2026-11-20T10:00:01Z")
            .unwrap_or_default();
        first
            .set("message", "Failed password for root")
            .unwrap_or_default();
        first
            .set("event.category", Value::List(vec!["authentication".into()]))
            .unwrap_or_default();
        first.set("event.outcome", "failure").unwrap_or_default();
        first.set("source.ip", "192.0.2.7").unwrap_or_default();
        first.set("source.port", 4242i64).unwrap_or_default();
        first.set("user.name", "root").unwrap_or_default();
        first.extra.insert("snmp.varbinds.ifIndex.3", 3i64);
        first.original.insert("sshd.method", "password");
        let mut doc = Vec::new();
        first.write_json(&mut doc);
        let text = String::from_utf8(doc.clone()).unwrap_or_default();

        let receiver = source("from-fw", "main");
        let blank = Event::from_raw(&receiver, record(&doc));
        let second =
            from_forwarded(&blank, &text).unwrap_or_else(|| panic!("not recognized: {text}"));
        assert_eq!(second.meta.id, first.meta.id);
        assert_eq!(
            second.raw, first.raw,
            "the sender's raw record, not the JSON document"
        );
        for f in [
            "@timestamp",
            "message",
            "event.category",
            "event.outcome",
            "source.ip",
            "source.port",
            "user.name",
            "snmp.varbinds.ifIndex.3",
            "sshd.method",
        ] {
            assert_eq!(second.get(f), first.get(f), "{f}");
        }
        // the receiver's tenant and source; the sender's kept aside
        assert_eq!(second.get("vigil.tenant"), Some(Value::from("main")));
        assert_eq!(second.get("vigil.source"), Some(Value::from("from-fw")));
        assert_eq!(second.get("vigil.origin.tenant"), Some(Value::from("acme")));
        assert_eq!(second.get("vigil.origin.source"), Some(Value::from("fw")));
        // written again, the document is the sender's one but for the routing fields
        let again = second.to_json();
        let orig = first.to_json();
        let (Json::Object(a), Json::Object(o)) = (&again, &orig) else {
            panic!("not objects");
        };
        let mut ka = keys(a);
        ka.retain(|k| *k != "vigil");
        let mut ko = keys(o);
        ko.retain(|k| *k != "vigil");
        assert_eq!(ka, ko);
        assert_eq!(a.get("source"), o.get("source"));
        assert_eq!(a.get("original"), o.get("original"));
        assert!(
            a.get("message")
                .is_some_and(|m| !m.to_string().contains("@timestamp"))
        );
    }

    #[test]
    fn other_json_is_not_taken_for_a_vigil_event() {
        let blank = Event::from_raw(&source("s", "main"), record(b"{}"));
        for t in [
            "{\"message\":\"hello\"}",
            "{\"vigil\":{\"event_id\":\"short\"},\"@timestamp\":\"2026-01-01T00:00:00Z\"}",
            "{\"vigil\":{\"event_id\":\"01JD000000000000000000000A\"}}",
            "not json {\"vigil\":{\"event_id\":\"",
            "[1,2]",
        ] {
            assert!(from_forwarded(&blank, t).is_none(), "{t}");
        }
    }
}
