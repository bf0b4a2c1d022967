use std::net::IpAddr;

use super::*;

fn sample() -> Event {
    let mut ev = Event::new(Bytes::from_static(
        b"<38>Nov 22 07:23:36 web01 sshd[4242]: Failed password for root from 10.1.2.3 port 22 ssh2",
    ));
    ev.host.name = Some("web01".into());
    ev.process.name = Some("sshd".into());
    ev.process.pid = Some(4242);
    ev.source.ip = Some("10.1.2.3".parse().unwrap());
    ev.source.port = Some(22);
    ev.user.name = Some("root".into());
    ev.event.category = vec!["authentication".into()];
    ev.event.outcome = Some("failure".into());
    ev.extra.insert("sshd.method", "password");
    ev.original.insert("auth_method", "password");
    ev
}

#[test]
fn names_and_kuma_aliases_resolve_to_the_same_field() {
    let ev = sample();
    assert_eq!(
        ev.get("source.ip"),
        Some(Value::Ip("10.1.2.3".parse().unwrap()))
    );
    assert_eq!(ev.get("SourceAddress"), ev.get("source.ip"));
    assert_eq!(ev.get("src_ip"), ev.get("source.ip"));
    assert_eq!(canonical_name("DeviceProduct"), Some("observer.product"));
    assert_eq!(canonical_name("no.such.field"), None);
    assert_eq!(field_kind("source.port"), Some(FieldKind::Int));
    assert_eq!(field_kind("SourceAddress"), Some(FieldKind::Ip));
    assert_eq!(field_kind("event.category"), Some(FieldKind::StrList));
}

#[test]
fn open_maps_are_reached_by_name() {
    let ev = sample();
    assert_eq!(ev.get("sshd.method"), Some(Value::from("password")));
    assert_eq!(
        ev.get("original.auth_method"),
        Some(Value::from("password"))
    );
    assert_eq!(ev.get("auth_method"), Some(Value::from("password")));
    assert_eq!(ev.get("original.sshd.method"), None);
}

#[test]
fn set_by_name_converts_types_and_reports_mismatches() {
    let mut ev = Event::default();
    ev.set("DestinationAddress", "2001:db8::1").unwrap();
    assert_eq!(
        ev.destination.ip,
        Some("2001:db8::1".parse::<IpAddr>().unwrap())
    );
    ev.set("destination.port", "443").unwrap();
    assert_eq!(ev.destination.port, Some(443));
    ev.set("source.ip", "::ffff:10.0.0.1").unwrap();
    assert_eq!(
        ev.source.ip,
        Some("10.0.0.1".parse::<IpAddr>().unwrap()),
        "v4-mapped becomes v4"
    );
    let err = ev.set("source.port", "70000").unwrap_err();
    assert_eq!(err.to_string(), "cannot store '70000' as integer");
    assert!(ev.set("source.ip", "not-an-ip").is_err());
    ev.set("vigil.type", "audit").unwrap();
    assert_eq!(ev.meta.kind, EventType::Audit);
    ev.set("custom.thing", 5i64).unwrap();
    assert_eq!(ev.extra.get("custom.thing"), Some(&Value::Int(5)));
    ev.set("@timestamp", "2024-01-02T03:04:05Z").unwrap();
    assert_eq!(ev.timestamp, Timestamp::from_secs(1_704_164_645));
}

#[test]
fn every_registered_field_has_a_unique_name_and_a_doc() {
    let mut seen = std::collections::HashSet::new();
    for f in schema::fields() {
        assert!(seen.insert(f.name), "duplicate field {}", f.name);
        assert!(!f.doc.is_empty(), "{} has no doc", f.name);
        assert_eq!(FieldId::lookup(f.name).map(FieldId::name), Some(f.name));
    }
    for (alias, target) in schema::KUMA_ALIASES {
        assert!(
            FieldId::lookup(target).is_some(),
            "alias {alias} targets unknown {target}"
        );
        assert_eq!(canonical_name(alias), Some(*target), "alias {alias}");
    }
}

#[test]
fn binary_round_trip_is_lossless() {
    let ev = sample();
    let mut buf = Vec::new();
    ev.encode(&mut buf);
    ev.encode(&mut buf);
    let (a, rest) = Event::decode(&buf).unwrap();
    let (b, rest) = Event::decode(rest).unwrap();
    assert!(rest.is_empty());
    assert_eq!(a, ev);
    assert_eq!(b, ev);
    assert!(Event::decode(&buf[..buf.len() / 3]).is_err());
}

#[test]
fn json_output_is_nested_ecs() {
    let ev = sample();
    let j = ev.to_json();
    assert_eq!(j["source"]["ip"], "10.1.2.3");
    assert_eq!(j["source"]["port"], 22);
    assert_eq!(j["event"]["category"][0], "authentication");
    assert_eq!(j["sshd"]["method"], "password");
    assert_eq!(j["original"]["auth_method"], "password");
    assert_eq!(j["vigil"]["tenant"], "main");
    assert_eq!(j["vigil"]["type"], "base");
    assert!(
        j["event"]["original"]
            .as_str()
            .unwrap()
            .contains("Failed password")
    );
    assert!(j.get("destination").is_none(), "unset groups are left out");
}

#[test]
fn write_json_is_the_same_document_as_to_json() {
    let mut ev = sample();
    ev.tags = vec!["a".into(), "b\"q".into()];
    ev.extra
        .insert("list", Value::List(vec![Value::Int(1), Value::from("x")]));
    ev.original.insert("dotted.key", Value::Float(1.5));
    let mut joined = sample();
    joined.extra.insert("user.alias", "r00t");
    assert!(
        json::PLAN.is_some(),
        "the registered names nest without clashes"
    );
    for e in [ev, Event::default(), sample(), joined] {
        let mut buf = Vec::new();
        e.write_json(&mut buf);
        let parsed: serde_json::Value = serde_json::from_slice(&buf).unwrap();
        assert_eq!(parsed, e.to_json(), "{}", String::from_utf8_lossy(&buf));
    }
}

#[test]
fn event_ids_are_unique_and_time_ordered() {
    let t = Timestamp::from_millis(1_700_000_000_000);
    let a = new_event_id(t);
    let b = new_event_id(t);
    assert_ne!(a, b);
    assert_eq!(a.timestamp_ms(), 1_700_000_000_000);
    assert!(new_event_id(Timestamp::from_millis(1_700_000_000_001)) > a.max(b));
}

proptest::proptest! {
    #[test]
    fn setting_any_string_never_panics(name in "[a-zA-Z@._]{1,24}", v in ".{0,40}") {
        let mut ev = Event::default();
        let _ = ev.set(&name, v.as_str());
        for f in schema::fields() {
            let _ = f.set(&mut ev, Value::from(v.as_str()));
        }
        let j = ev.to_json();
        let mut buf = Vec::new();
        ev.write_json(&mut buf);
        let parsed: serde_json::Value = serde_json::from_slice(&buf).unwrap();
        // an extra field named like a group (`host`) is where the two differ on purpose:
        // `to_json` lets it replace the group, `write_json` keeps both
        if schema::canonical_name(&name).is_some() {
            proptest::prop_assert_eq!(parsed, j);
        }
    }

    #[test]
    fn decoding_garbage_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
        let _ = Event::decode(&bytes);
    }
}

/// A value of `kind` built from `n` and `s` (for filling every kind of field).
fn value_of(kind: FieldKind, n: i64, s: &str) -> Value {
    match kind {
        FieldKind::Str => Value::from(s),
        FieldKind::StrList => Value::List(vec![Value::from(s), Value::from("second")]),
        FieldKind::Int => Value::Int(n.rem_euclid(250)),
        FieldKind::Float => Value::Float(n as f64 / 7.0),
        FieldKind::Ip => {
            if n % 2 == 0 {
                Value::Ip(IpAddr::from([(n >> 8) as u8, 0, (n >> 16) as u8, n as u8]))
            } else {
                Value::Ip(IpAddr::from([
                    0x2001,
                    0xdb8,
                    0,
                    0,
                    0,
                    0,
                    (n >> 16) as u16,
                    n as u16,
                ]))
            }
        }
        FieldKind::Time => Value::Time(n),
        FieldKind::Bool => Value::Bool(n % 2 == 0),
    }
}

fn assert_same_bytes(ev: &Event) {
    let mut fast = Vec::new();
    ev.write_json(&mut fast);
    let mut reference = Vec::new();
    ev.write_json_reference(&mut reference);
    assert_eq!(
        String::from_utf8_lossy(&fast),
        String::from_utf8_lossy(&reference)
    );
}

#[test]
fn write_json_writes_the_bytes_of_the_reference_writer_field_by_field() {
    let mut all = sample();
    for (i, def) in schema::fields().iter().enumerate() {
        let v = value_of(
            def.kind(),
            1_795_000_000_123_456_789 + i as i64,
            "v\"\\\n\u{1}é",
        );
        let mut one = Event::default();
        if def.name == "vigil.event_id" || def.name == "vigil.type" {
            continue;
        }
        def.set(&mut one, v.clone())
            .unwrap_or_else(|e| panic!("{}: {e}", def.name));
        assert_same_bytes(&one);
        def.set(&mut all, v)
            .unwrap_or_else(|e| panic!("{}: {e}", def.name));
    }
    all.meta.id = Ulid::from_parts(1_795_000_000_123, 42);
    assert_same_bytes(&all);
    assert_same_bytes(&sample());
    assert_same_bytes(&Event::default());
    let mut joined = sample();
    joined.extra.insert("user.alias", "r00t");
    joined
        .extra
        .insert("list", Value::List(vec![Value::Int(-1), Value::Null]));
    joined.original.insert("a.b", Value::Float(0.1));
    assert_same_bytes(&joined);
    let mut invalid = sample();
    invalid.raw = Bytes::from_static(b"bad \xff utf-8 \"quoted\"");
    assert_same_bytes(&invalid);
}

proptest::proptest! {
    #[test]
    fn write_str_escapes_as_serde_json(s in "\\PC*|[\\x00-\\x7f]{0,40}|.{0,40}") {
        let mut fast = Vec::new();
        json::write_str(&mut fast, &s);
        proptest::prop_assert_eq!(fast, serde_json::to_vec(&s).unwrap());
    }

    #[test]
    fn write_json_writes_the_bytes_of_the_reference_writer(
        picks in proptest::collection::vec((0usize..200, proptest::num::i64::ANY, "[ -~]{0,12}|.{0,12}"), 0..40),
        extras in proptest::collection::vec(("[a-z]{1,6}(\\.[a-z]{1,6}){0,2}", "[ -~]{0,8}"), 0..4),
        raw in proptest::collection::vec(proptest::num::u8::ANY, 0..64),
    ) {
        let fields = schema::fields();
        let mut ev = Event::default();
        for (i, n, s) in &picks {
            if let Some(def) = fields.get(*i) {
                let _ = def.set(&mut ev, value_of(def.kind(), *n, s));
            }
        }
        for (k, v) in &extras {
            ev.extra.insert(k.as_str(), v.as_str());
            ev.original.insert(k.as_str(), v.as_str());
        }
        ev.raw = Bytes::from(raw);
        assert_same_bytes(&ev);
    }
}
