//! The ClickHouse backend against a real clickhouse-server started for the test (skipped with a
//! message when none is installed, a failure under CI): round-trip fidelity, tenant isolation,
//! injection safety, limits and cancellation.
#![cfg(feature = "clickhouse")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::disallowed_methods
)]

mod common;

use std::time::Duration;

use vigil_event::{Bytes, Event, Timestamp, Ulid, schema};
use vigil_store::clickhouse::{ClickHouseConfig, ClickHouseStore, Dialect, QueryLimits};
use vigil_store::{AggregateRequest, EventStore, SearchRequest, StoreError, TenantId};

/// Every registered field set, both open maps, and the given raw bytes.
fn full_event(i: u64, raw: &[u8]) -> Event {
    let ts = Timestamp::from_secs(1_704_067_200 + i as i64);
    let mut ev = Event {
        raw: Bytes::from(raw.to_vec()),
        timestamp: Timestamp(ts.0 + 123_456_789),
        ..Event::default()
    };
    ev.meta.id = Ulid::from_parts(ts.millis() as u64, u128::from(i) + 7);
    ev.meta.received = Timestamp(ts.0 + 1);
    for def in schema::fields() {
        let v: vigil_event::Value = match def.kind() {
            vigil_event::FieldKind::Str => match def.name {
                "vigil.event_id" | "vigil.tenant" => continue,
                "vigil.type" => "correlation".into(),
                n => format!("{n} 'q' \"d\" \\ é {i}").into(),
            },
            vigil_event::FieldKind::StrList => {
                vigil_event::Value::List(vec!["a".into(), "B c".into(), "".into()])
            }
            vigil_event::FieldKind::Int => vigil_event::Value::Int(200 + i as i64),
            vigil_event::FieldKind::Float => vigil_event::Value::Float(0.1 + i as f64),
            vigil_event::FieldKind::Ip => {
                if i.is_multiple_of(2) {
                    vigil_event::Value::Ip("2001:db8::17".parse().unwrap())
                } else {
                    vigil_event::Value::Ip("192.0.2.1".parse().unwrap())
                }
            }
            vigil_event::FieldKind::Time => {
                if def.name == "@timestamp" || def.name == "event.ingested" {
                    continue;
                }
                vigil_event::Value::Time(1_704_067_200_987_654_321)
            }
            vigil_event::FieldKind::Bool => vigil_event::Value::Bool(true),
        };
        ev.set(def.name, v)
            .unwrap_or_else(|e| panic!("{}: {e}", def.name));
    }
    ev.extra.insert("custom.s", "x'y");
    ev.extra.insert("custom.n", vigil_event::Value::Int(-5));
    ev.extra.insert(
        "custom.l",
        vigil_event::Value::List(vec!["a".into(), vigil_event::Value::Float(2.5)]),
    );
    ev.original
        .insert("EventData.TargetUserName", "Administrator");
    ev.original
        .insert("ip", vigil_event::Value::Ip("10.9.8.7".parse().unwrap()));
    ev
}

#[test]
fn clickhouse_backend() {
    let Some(server) = common::clickhouse() else {
        return;
    };
    let mut cfg = ClickHouseConfig::new(server.server.url.clone());
    cfg.password = "s3cret".into();
    assert!(
        !format!("{cfg:?}").contains("s3cret"),
        "password must be redacted"
    );
    cfg.password.clear();
    cfg.insert_batch = 3;
    let store = ClickHouseStore::open(cfg.clone()).unwrap();
    assert_eq!(
        store.dialect(),
        Dialect::for_version(store.server_version())
    );
    let main = TenantId::main();

    // Round trip: every field, both maps, raw byte-exact (UTF-8, invalid UTF-8, empty).
    let raws: [&[u8]; 4] = [
        b"plain line with 'quotes' and \\backslashes\\",
        b"bad \xff\xfe bytes \x00 nul",
        "unicode: Ошибка ✓".as_bytes(),
        b"",
    ];
    let evs: Vec<Event> = raws
        .iter()
        .enumerate()
        .map(|(i, r)| full_event(i as u64, r))
        .collect();
    let lsn = store.append(&main, &evs).unwrap();
    assert_eq!(lsn, 4);
    store
        .wait_durable(&main, lsn, Duration::from_secs(1))
        .unwrap();
    let mut req = SearchRequest::parse("*", 100).unwrap();
    req.order = vigil_store::Order::OldestFirst;
    let got = store.search(&main, &req).unwrap().events;
    assert_eq!(got.len(), evs.len());
    for (a, b) in got.iter().zip(&evs) {
        assert_eq!(a, b, "round trip of {:?}", String::from_utf8_lossy(&b.raw));
    }
    // Full text on invalid UTF-8 raw: ASCII needles in SQL, the rest evaluated on the bytes.
    let req = SearchRequest::parse("\"bytes\"", 10).unwrap();
    assert_eq!(store.search(&main, &req).unwrap().events.len(), 1);

    // Tenants never mix; sequence numbers continue per tenant.
    let other = TenantId::new("other").unwrap();
    let mut ev = full_event(9, b"other tenant line");
    ev.meta.tenant = "other".into();
    assert_eq!(store.append(&other, std::slice::from_ref(&ev)).unwrap(), 1);
    assert!(matches!(
        store.append(&main, std::slice::from_ref(&ev)),
        Err(StoreError::TenantMismatch { .. })
    ));
    let all = SearchRequest::parse("*", 100).unwrap();
    assert_eq!(store.search(&other, &all).unwrap().events.len(), 1);
    assert_eq!(store.search(&main, &all).unwrap().events.len(), 4);
    assert_eq!(store.stats(&main).unwrap().events, 4);

    // Injection: quotes and backslashes in values and words stay literals.
    for q in [
        r#"user.name:"x' OR 1=1 --""#,
        r#""') OR 1=1 --""#,
        r"user.name:\\'",
        r#"host.name:"\\" OR host.name:"'""#,
        r"process.name:/^'\\$/",
    ] {
        let req = SearchRequest::parse(q, 10).unwrap();
        assert_eq!(store.search(&main, &req).unwrap().events.len(), 0, "{q}");
    }
    let req = SearchRequest::parse(r#"user.name:"user.name 'q' \"d\" \\ é 1""#, 10).unwrap();
    assert_eq!(store.search(&main, &req).unwrap().events.len(), 1);

    // Reopen: the table exists, sequence numbers continue.
    drop(store);
    let store = ClickHouseStore::open(cfg.clone()).unwrap();
    assert_eq!(store.append(&main, &evs[..1]).unwrap(), 5);

    // Group cap: the server-side and Rust-side limits give the executor's error.
    let mut small = cfg.clone();
    small.limits = QueryLimits {
        max_groups: 2,
        ..QueryLimits::default()
    };
    let capped = ClickHouseStore::open(small).unwrap();
    for q in [
        "| count by vigil.event_id",
        "| stats p50(process.pid) by vigil.event_id",
    ] {
        let err = capped
            .aggregate(&main, &AggregateRequest::parse(q).unwrap())
            .unwrap_err();
        assert!(err.to_string().contains("too many groups"), "{q}: {err}");
    }
    // Memory cap: a tiny budget stops the query with a limit error, not a wrong answer.
    let mut tiny = cfg.clone();
    tiny.limits.max_memory_usage = 1;
    let tiny = ClickHouseStore::open(tiny).unwrap();
    let err = tiny.aggregate(
        &main,
        &AggregateRequest::parse("| count by user.name").unwrap(),
    );
    assert!(matches!(err, Err(StoreError::QueryLimit(_))), "{err:?}");
    // Cancellation: nothing running is a no-op.
    assert_eq!(store.cancel_running().unwrap(), 0);
    store.close().unwrap();
    assert!(matches!(store.search(&main, &all), Err(StoreError::Closed)));
}

#[test]
fn dialects() {
    assert_eq!(Dialect::for_version("18.16.1"), Dialect::Legacy);
    assert_eq!(Dialect::for_version("19.17.4.11"), Dialect::Legacy);
    assert_eq!(Dialect::for_version("24.8.4.13"), Dialect::Modern);
    let modern = ClickHouseStore::table_ddl(Dialect::Modern);
    assert!(
        modern.contains("LowCardinality")
            && modern.contains("bloom_filter")
            && modern.contains("CODEC")
    );
    let legacy = ClickHouseStore::table_ddl(Dialect::Legacy);
    assert!(
        !legacy.contains("LowCardinality")
            && !legacy.contains("INDEX")
            && !legacy.contains("CODEC")
    );
    assert!(legacy.contains("PARTITION BY (tenant, toYYYYMMDD("));
}
