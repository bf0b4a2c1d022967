//! The shared query cases (`testdata/query_cases.yaml` over `testdata/query_events.yaml`): every
//! case runs on the embedded store and, when a clickhouse-server is installed, on ClickHouse;
//! both must return exactly the expected events or rows.
//!
//! `VIGIL_BLESS=1` rewrites the expectations from the embedded store's results (review the diff).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::disallowed_methods
)]

mod common;

use std::collections::HashMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use vigil_event::{Bytes, Event, FieldMap, Timestamp, Ulid};
use vigil_store::embedded::{EmbeddedConfig, EmbeddedStore, TierOptions};
use vigil_store::{
    AggregateRequest, EventSchema, EventStore, Order, SearchRequest, TenantId, TimeRange,
};

/// 2024-01-01T00:00:00Z
const BASE_SECS: i64 = 1_704_067_200;

#[derive(Debug, Deserialize)]
struct EventSpec {
    id: String,
    t: i64,
    #[serde(default)]
    raw: Option<String>,
    #[serde(default)]
    raw_hex: Option<String>,
    #[serde(default)]
    fields: serde_json::Map<String, Json>,
    #[serde(default)]
    extra: serde_json::Map<String, Json>,
    #[serde(default)]
    original: serde_json::Map<String, Json>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Expect {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    events: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    columns: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    rows: Option<Vec<Vec<Json>>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Case {
    name: String,
    query: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    from: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    to: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expect: Option<Expect>,
}

fn testdata(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(name)
}

fn to_value(v: &Json) -> vigil_event::Value {
    match v {
        Json::Null => vigil_event::Value::Null,
        Json::Bool(b) => vigil_event::Value::Bool(*b),
        Json::Number(n) => match n.as_i64() {
            Some(i) => vigil_event::Value::Int(i),
            None => vigil_event::Value::Float(n.as_f64().unwrap_or(0.0)),
        },
        Json::String(s) => vigil_event::Value::Str(s.as_str().into()),
        Json::Array(a) => vigil_event::Value::List(a.iter().map(to_value).collect()),
        Json::Object(_) => vigil_event::Value::Str(v.to_string().into()),
    }
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
        .collect()
}

/// The events, and event id (ULID text) → case id.
fn events() -> (Vec<Event>, HashMap<String, String>) {
    let text = std::fs::read_to_string(testdata("query_events.yaml")).unwrap();
    let specs: Vec<EventSpec> = yaml_serde::from_str(&text).unwrap();
    let mut ids = HashMap::new();
    let mut out = Vec::new();
    for (i, s) in specs.iter().enumerate() {
        let ts = Timestamp::from_secs(BASE_SECS + s.t);
        let raw = match (&s.raw, &s.raw_hex) {
            (_, Some(h)) => unhex(h),
            (Some(r), None) => r.clone().into_bytes(),
            (None, None) => Vec::new(),
        };
        let mut ev = Event {
            raw: Bytes::from(raw),
            timestamp: ts,
            ..Event::default()
        };
        ev.meta.received = ts;
        ev.meta.id = Ulid::from_parts(ts.millis() as u64, i as u128 + 1);
        ev.meta.source_id = "cases".into();
        for (k, v) in &s.fields {
            ev.set(k, to_value(v))
                .unwrap_or_else(|e| panic!("{}: {k}: {e}", s.id));
        }
        ev.extra = s
            .extra
            .iter()
            .map(|(k, v)| (k.as_str(), to_value(v)))
            .collect::<FieldMap>();
        ev.original = s
            .original
            .iter()
            .map(|(k, v)| (k.as_str(), to_value(v)))
            .collect::<FieldMap>();
        ids.insert(ev.meta.id.to_string(), s.id.clone());
        out.push(ev);
    }
    (out, ids)
}

fn cell(v: &Option<vigil_query::Value>) -> Json {
    use vigil_query::Value as V;
    match v {
        None => Json::Null,
        Some(V::Str(s)) => Json::String(s.clone()),
        Some(V::Int(i)) => Json::from(*i),
        Some(V::Float(x)) => serde_json::Number::from_f64(*x).map_or(Json::Null, Json::Number),
        Some(V::Bool(b)) => Json::Bool(*b),
        Some(V::Ip(ip)) => Json::String(ip.to_string()),
        Some(V::Time(t)) => Json::String(Timestamp(*t).to_rfc3339()),
    }
}

fn run(
    store: &dyn EventStore,
    case: &Case,
    ids: &HashMap<String, String>,
) -> Result<Expect, String> {
    let tenant = TenantId::main();
    let query = vigil_query::parse_with(&case.query, &EventSchema).map_err(|e| e.to_string())?;
    let range = TimeRange::new(
        case.from
            .map_or(Timestamp::MIN, |s| Timestamp::from_secs(BASE_SECS + s)),
        case.to
            .map_or(Timestamp::MAX, |s| Timestamp::from_secs(BASE_SECS + s)),
    );
    let search = query
        .stages
        .iter()
        .all(|s| matches!(s, vigil_query::Stage::Where(_)));
    if search {
        let req = SearchRequest {
            query,
            range,
            limit: 1000,
            order: Order::NewestFirst,
            space: None,
            control: Default::default(),
        };
        let res = store.search(&tenant, &req).map_err(|e| e.to_string())?;
        Ok(Expect {
            events: Some(
                res.events
                    .iter()
                    .map(|e| {
                        ids.get(&e.meta.id.to_string())
                            .cloned()
                            .unwrap_or_else(|| "?".into())
                    })
                    .collect(),
            ),
            ..Expect::default()
        })
    } else {
        let req = AggregateRequest {
            query,
            range,
            space: None,
            control: Default::default(),
        };
        let res = store.aggregate(&tenant, &req).map_err(|e| e.to_string())?;
        Ok(Expect {
            columns: Some(res.table.columns.clone()),
            rows: Some(
                res.table
                    .rows
                    .iter()
                    .map(|r| r.cells.iter().map(cell).collect())
                    .collect(),
            ),
            ..Expect::default()
        })
    }
}

fn load_cases() -> (String, Vec<Case>) {
    let text = std::fs::read_to_string(testdata("query_cases.yaml")).unwrap();
    let header: String = text
        .lines()
        .take_while(|l| l.starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect();
    (header, yaml_serde::from_str(&text).unwrap())
}

/// Runs every case; returns the failures.
fn check_all(
    backend: &str,
    store: &dyn EventStore,
    cases: &[Case],
    ids: &HashMap<String, String>,
) -> Vec<String> {
    let mut failures = Vec::new();
    for c in cases {
        let got = run(store, c, ids);
        match (&got, &c.expect) {
            (Ok(g), Some(want)) if g == want => {}
            _ => failures.push(format!(
                "[{backend}] {} `{}`\n   want {:?}\n   got  {:?}",
                c.name, c.query, c.expect, got
            )),
        }
    }
    failures
}

#[test]
fn shared_query_cases() {
    let (evs, ids) = events();
    let (header, mut cases) = load_cases();
    assert!(
        cases.len() >= 60,
        "the shared table has {} cases",
        cases.len()
    );

    let dir = tempfile::tempdir().unwrap();
    let emb = EmbeddedStore::open(EmbeddedConfig::new(dir.path())).unwrap();
    let tenant = TenantId::main();
    emb.append(&tenant, &evs).unwrap();
    // Half of the checks on the memtable, the rest after sealing: run everything on both.
    let mut failures = check_all("embedded/memtable", &emb, &cases, &ids);
    emb.flush(&tenant).unwrap();

    if std::env::var_os("VIGIL_BLESS").is_some() {
        for c in &mut cases {
            c.expect = Some(run(&emb, c, &ids).unwrap_or_else(|e| panic!("{}: {e}", c.name)));
        }
        let body = yaml_serde::to_string(&cases).unwrap();
        std::fs::write(testdata("query_cases.yaml"), format!("{header}{body}")).unwrap();
        eprintln!("blessed {} cases", cases.len());
        return;
    }
    failures.extend(check_all("embedded/sealed", &emb, &cases, &ids));
    emb.close().unwrap();

    // The same events in four small segments, merged into one hot segment, then rewritten
    // into the cold tier.
    let dir2 = tempfile::tempdir().unwrap();
    let mut cfg = EmbeddedConfig::new(dir2.path());
    cfg.row_group_rows = 7;
    cfg.spaces.hot_age = Some(std::time::Duration::from_secs(24 * 3600));
    cfg.tiers = TierOptions {
        cold_row_group_rows: 16,
        merge_min_segments: 2,
        interval: None,
        ..TierOptions::default()
    };
    let emb = EmbeddedStore::open(cfg).unwrap();
    for part in evs.chunks(10) {
        emb.append(&tenant, part).unwrap();
        emb.flush(&tenant).unwrap();
    }
    let r = emb.maintain(Timestamp::from_secs(BASE_SECS)).unwrap();
    assert!(r.merged_into >= 1, "{r:?}");
    failures.extend(check_all("embedded/merged", &emb, &cases, &ids));
    let r = emb.maintain(Timestamp::MAX).unwrap();
    assert!(r.moved_to_cold >= 1, "{r:?}");
    let s = emb.stats(&tenant).unwrap();
    assert_eq!((s.cold_events, s.events), (40, 40), "{s:?}");
    failures.extend(check_all("embedded/cold", &emb, &cases, &ids));
    emb.close().unwrap();

    if let Some(server) = common::clickhouse() {
        let cfg = vigil_store::clickhouse::ClickHouseConfig::new(server.server.url.clone());
        let ch = vigil_store::clickhouse::ClickHouseStore::open(cfg).unwrap();
        eprintln!("clickhouse {} ({:?})", ch.server_version(), ch.dialect());
        // Two batches, so that sequence numbers continue across inserts.
        ch.append(&tenant, &evs[..20]).unwrap();
        ch.append(&tenant, &evs[20..]).unwrap();
        // Another tenant's events must never show up.
        let other = TenantId::new("other").unwrap();
        let mut foreign = evs.clone();
        for e in &mut foreign {
            e.meta.tenant = "other".into();
        }
        ch.append(&other, &foreign).unwrap();
        failures.extend(check_all("clickhouse", &ch, &cases, &ids));
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
