//! Vigil's own metadata (`vigil.type`, `vigil.tenant`, `vigil.source`, `vigil.collector`) and
//! the `rule.*` fields of correlation events are keyword columns (issue 12 point 7): pruned by
//! the bloom filters, counted from dictionary ids without decoding events, and segments of the
//! previous format (`vigil-segment-parquet-2`, where they were plain per-segment columns) still
//! answer every query the same.

#![allow(
    clippy::disallowed_methods,
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::panic
)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use vigil_event::{Bytes, Event, EventType, SmolStr, Timestamp, Ulid};
use vigil_query::Value;
use vigil_store::embedded::{EmbeddedConfig, EmbeddedStore, TierOptions, verify};
use vigil_store::{AggregateRequest, EventStore, Order, SearchRequest, TenantId};

const HOUR: i64 = 3_600_000_000_000;
/// 2024-01-01T00:00:00Z
const BASE: i64 = 1_704_067_200_000_000_000;
const RULES: [&str; 3] = ["SSH brute force", "Sudo abuse", "Port scan"];

/// Event `i`: every 10th a correlation event with its rule, every 25th (else) an audit
/// event, the rest base events; two sources, one collector, fixed ids and receive times.
fn event(i: u64) -> Event {
    let user = ["alice", "bob", "Carol", "dave"][(i % 4) as usize];
    let ip = format!("10.2.{}.{}", (i / 200) % 200, i % 200);
    let ts = BASE + (i as i64) * HOUR / 40;
    let kind = if i.is_multiple_of(10) {
        EventType::Correlation
    } else if i.is_multiple_of(25) {
        EventType::Audit
    } else {
        EventType::Base
    };
    let raw = match kind {
        EventType::Correlation => format!(
            "correlation {} for {user} from {ip} n{i}",
            RULES[(i % 3) as usize]
        ),
        EventType::Audit => format!("audit: {user} changed the config n{i}"),
        _ => format!(
            "<86>Jan  1 00:00:00 host-{} sshd[{i}]: Failed password for {user} from {ip} port 22 n{i}",
            i % 3
        ),
    };
    let mut ev = Event::new(Bytes::from(raw));
    ev.meta.tenant = SmolStr::new("main");
    ev.meta.kind = kind;
    ev.timestamp = Timestamp(ts);
    ev.meta.received = Timestamp(ts + 1_000_000);
    ev.meta.id = Ulid::from_parts((ts / 1_000_000) as u64, u128::from(i));
    ev.meta.source_id = SmolStr::new(["syslog-udp", "syslog-tcp"][(i % 2) as usize]);
    ev.meta.collector_id = SmolStr::new("collector-1");
    ev.user.name = Some(user.into());
    match kind {
        EventType::Correlation => {
            let r = (i % 3) as usize;
            ev.rule.id = Some(SmolStr::new(format!("rule-{r}")));
            ev.rule.name = Some(RULES[r].into());
            ev.rule.category = Some("authentication".into());
            ev.rule.ruleset = Some("vigil-default".into());
            ev.source.ip = ip.parse().ok();
        }
        EventType::Audit => {
            ev.event.action = Some("config.change".into());
        }
        _ => {
            ev.host.name = Some(format!("host-{}", i % 3).into());
            ev.process.name = Some(if i.is_multiple_of(7) { "sudo" } else { "sshd" }.into());
            ev.process.pid = Some(i as i64);
            ev.source.ip = ip.parse().ok();
            ev.message = Some(format!("Failed password for {user} from {ip} port 22 n{i}").into());
        }
    }
    ev
}

fn config(dir: &Path) -> EmbeddedConfig {
    let mut c = EmbeddedConfig::new(dir);
    c.segment_max_events = 200;
    c.block_events = 32;
    c.row_group_rows = 50;
    c.fsync_interval = Duration::from_millis(20);
    c.tiers = TierOptions {
        merge_min_segments: 2,
        merge_max_events: 1000,
        interval: None,
        ..TierOptions::default()
    };
    c
}

/// Appends events `from..to` in batches of 100 and seals them (segments of 200 events).
fn fill(store: &EmbeddedStore, from: u64, to: u64) {
    let t = TenantId::main();
    for b in (from..to).step_by(100) {
        let evs: Vec<_> = (b..(b + 100).min(to)).map(event).collect();
        store.append(&t, &evs).unwrap();
        if (b + 100 - from).is_multiple_of(200) {
            store.flush(&t).unwrap();
        }
    }
    store.flush(&t).unwrap();
}

/// Answers to queries on the metadata columns (and a few others), as text.
fn answers(store: &EmbeddedStore) -> Vec<String> {
    let t = TenantId::main();
    let mut out = Vec::new();
    for q in [
        "vigil.type:correlation",
        "vigil.type:audit user.name:bob",
        "NOT vigil.type:base",
        "rule.name:\"Sudo abuse\"",
        "rule.id in (rule-0, RULE-2) source.ip:10.2.0.*",
        "vigil.source:syslog-tcp vigil.type:correlation",
        "vigil.collector:COLLECTOR-1 process.name:sudo",
        "vigil.tenant:main n130",
        "rule.category:authentication rule.ruleset:vigil-default",
    ] {
        for order in [Order::NewestFirst, Order::OldestFirst] {
            let mut req = SearchRequest::parse(q, 30).unwrap();
            req.order = order;
            let r = store.search(&t, &req).unwrap();
            let ids: Vec<_> = r
                .events
                .iter()
                .map(|e| (e.meta.id.0 & 0xffff_ffff) as u64)
                .collect();
            out.push(format!("{q} {order:?}: {ids:?}"));
        }
    }
    for q in [
        "vigil.type:correlation | count by rule.name",
        "| count by vigil.type",
        "| stats count() by vigil.source, vigil.type",
        "| count by vigil.collector",
        "| count by vigil.tenant",
        "rule.name:\"port scan\" | count",
        "vigil.type:correlation | stats dc(source.ip) by rule.id",
        "| where vigil.type = \"audit\" | count by user.name",
        "| top 2 rule.ruleset",
        "| timechart span=2h count() by vigil.type",
        "n120 | count by rule.category",
        "process.name:sshd | count",
    ] {
        let r = store
            .aggregate(&t, &AggregateRequest::parse(q).unwrap())
            .unwrap();
        out.push(format!("{q}: {:?} {:?}", r.table.columns, r.table.rows));
    }
    out
}

/// Every event, oldest first.
fn everything(store: &EmbeddedStore) -> Vec<Event> {
    let mut req = SearchRequest::parse("*", 10_000).unwrap();
    req.order = Order::OldestFirst;
    store.search(&TenantId::main(), &req).unwrap().events
}

fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .map(|r| r.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    v.retain(|p| p.extension().is_some_and(|x| x == "parquet"));
    v.sort();
    v
}

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/segments/format2")
}

/// Writes the format-2 fixture: run once with the store of commit dc25cc1 (format 2).
#[test]
#[ignore = "writes testdata; run only with a store that writes the fixture's format"]
fn write_format2_fixture() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(config(dir.path())).unwrap();
    fill(&store, 0, 400);
    store.close().unwrap();
    let out = fixture_dir();
    std::fs::create_dir_all(&out).unwrap();
    for p in segments(&dir.path().join("events/main/segments")) {
        std::fs::copy(&p, out.join(p.file_name().unwrap())).unwrap();
    }
}

/// Whether the segment file at `p` was written in `format` (its footer names it).
fn has_format(p: &Path, format: &str) -> bool {
    let b = std::fs::read(p).unwrap();
    b.windows(format.len()).any(|w| w == format.as_bytes())
}

fn copy_fixture(data_dir: &Path) -> usize {
    let seg = data_dir.join("events/main/segments");
    std::fs::create_dir_all(&seg).unwrap();
    let files = segments(&fixture_dir());
    for p in &files {
        assert!(has_format(p, "vigil-segment-parquet-2"), "{}", p.display());
        std::fs::copy(p, seg.join(p.file_name().unwrap())).unwrap();
    }
    files.len()
}

#[test]
fn metadata_fields_are_counted_from_columns_and_prune() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(config(dir.path())).unwrap();
    let t = TenantId::main();
    fill(&store, 0, 400);
    // One more alert, of another rule and collector, in a segment of its own.
    let mut alert = event(10);
    alert.rule.name = Some("Lateral movement".into());
    alert.meta.collector_id = SmolStr::new("collector-2");
    alert.timestamp = Timestamp(BASE + 11 * HOUR);
    store.append(&t, &[alert]).unwrap();
    for (memtable, q, want) in [
        (true, "vigil.collector:collector-2 | count", vec!["1"]),
        (false, "vigil.collector:collector-2 | count", vec!["1"]),
        (
            false,
            "vigil.type:correlation | count by rule.name",
            vec![
                "SSH brute force 14",
                "Sudo abuse 13",
                "Port scan 13",
                "Lateral movement 1",
            ],
        ),
        (
            false,
            "| count by vigil.type",
            vec!["base 352", "correlation 41", "audit 8"],
        ),
        (false, "rule.name:\"lateral MOVEMENT\" | count", vec!["1"]),
    ] {
        if !memtable {
            store.flush(&t).unwrap();
        }
        let r = store
            .aggregate(&t, &AggregateRequest::parse(q).unwrap())
            .unwrap();
        let mut rows: Vec<String> = r
            .table
            .rows
            .iter()
            .map(|row| {
                row.cells
                    .iter()
                    .map(|c| match c {
                        Some(Value::Str(s)) => s.clone(),
                        Some(Value::Int(n)) => n.to_string(),
                        other => format!("{other:?}"),
                    })
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
        let mut want: Vec<String> = want.into_iter().map(String::from).collect();
        rows.sort();
        want.sort();
        assert_eq!(rows, want, "{q}");
        // Read from the keyword columns, no event decoded.
        assert_eq!(r.stats.events_decoded, 0, "{q}: {:?}", r.stats);
        if !memtable && q.contains("collector-2") || q.starts_with("rule.name") {
            // Blocks without the value are skipped by their bloom filters.
            assert!(
                r.stats.blocks_pruned >= r.stats.blocks_total - 1,
                "{q}: {:?}",
                r.stats
            );
        }
    }
    // Column mode agrees with event mode (forced by a full-text term every event has), in
    // segments and the memtable, grouping by one and by several columns.
    let mut more: Vec<Event> = (400..450).map(event).collect();
    more[3].meta.source_id = SmolStr::default();
    more[10].rule.name = None;
    store.append(&t, &more).unwrap();
    for (q, stages) in [
        ("vigil.type:correlation", "| count by rule.name"),
        ("*", "| stats count() by vigil.source, vigil.type"),
        (
            "NOT vigil.type:base",
            "| stats count(), dc(user.name) by rule.name, vigil.collector",
        ),
        (
            "vigil.tenant:main",
            "| count by vigil.type, rule.id, rule.ruleset",
        ),
        ("*", "| where rule.category:auth* | top 2 rule.name"),
        (
            "rule.id in (rule-1, rule-2)",
            "| timechart span=1h count() by rule.id",
        ),
    ] {
        let cols = store
            .aggregate(
                &t,
                &AggregateRequest::parse(&format!("{q} {stages}")).unwrap(),
            )
            .unwrap();
        let events = store
            .aggregate(
                &t,
                &AggregateRequest::parse(&format!("{q} (for OR config) {stages}")).unwrap(),
            )
            .unwrap();
        assert_eq!(cols.table, events.table, "{q} {stages}");
        assert!(!cols.table.rows.is_empty(), "{q} {stages}");
        assert_eq!(cols.stats.events_decoded, 0, "{q} {stages}");
        assert!(events.stats.events_decoded > 0, "{q} {stages}");
    }
    // Searches prune on them too, and read only the block that has the value.
    store.flush(&t).unwrap();
    let r = store
        .search(
            &t,
            &SearchRequest::parse("rule.name:\"Lateral movement\"", 10).unwrap(),
        )
        .unwrap();
    assert_eq!(r.events.len(), 1);
    assert_eq!(r.stats.blocks_read, 1, "{:?}", r.stats);
    assert!(r.stats.blocks_pruned > 0, "{:?}", r.stats);
}

#[test]
fn format2_segments_stay_readable_and_answer_the_same() {
    // The same events in this format...
    let fresh = tempfile::tempdir().unwrap();
    let a = EmbeddedStore::open(config(fresh.path())).unwrap();
    fill(&a, 0, 400);
    for p in segments(&fresh.path().join("events/main/segments")) {
        assert!(has_format(&p, "vigil-segment-parquet-3"), "{}", p.display());
    }
    let want_events: Vec<Event> = (0..400).map(event).collect();
    assert_eq!(everything(&a), want_events);
    let want = answers(&a);

    // ... and as the fixture's segments of format 2 (written by the store of commit dc25cc1).
    let old = tempfile::tempdir().unwrap();
    assert_eq!(copy_fixture(old.path()), 2);
    let b = EmbeddedStore::open(config(old.path())).unwrap();
    let t = TenantId::main();
    assert_eq!(b.stats(&t).unwrap().segments, 2);
    assert_eq!(everything(&b), want_events);
    assert_eq!(answers(&b), want);

    // New events next to the old segments: both formats in one answer.
    fill(&a, 400, 600);
    fill(&b, 400, 600);
    let want = answers(&a);
    assert_eq!(answers(&b), want);
    // A merge rewrites the old segments in this format.
    let r = b.maintain(Timestamp(BASE)).unwrap();
    assert!(r.merged_into >= 1, "{r:?}");
    let segs = segments(&old.path().join("events/main/segments"));
    assert!(!segs.is_empty());
    for p in &segs {
        assert!(has_format(p, "vigil-segment-parquet-3"), "{}", p.display());
    }
    assert_eq!(answers(&b), want);
    assert_eq!(everything(&b), (0..600).map(event).collect::<Vec<_>>());
    b.close().unwrap();
    drop(b);
    let v = verify(old.path()).unwrap();
    assert!(v.is_clean(), "{:?}", v.findings);
    let b = EmbeddedStore::open(config(old.path())).unwrap();
    assert_eq!(answers(&b), want);
}
