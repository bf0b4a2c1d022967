//! Behaviour of the embedded store: round trips, recovery at every crash point, corruption,
//! exact aggregation, tenant isolation, write errors. No timing assertions.

// Tests read back small files they wrote themselves.
#![allow(
    clippy::disallowed_methods,
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::panic
)]

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::Duration;

use proptest::prelude::*;
use vigil_event::{Bytes, Event, SmolStr, Timestamp};
use vigil_query::Value;
use vigil_store::embedded::{EmbeddedConfig, EmbeddedStore};
use vigil_store::{
    AggregateRequest, EventStore, Order, SearchRequest, StoreError, TenantId, TimeRange,
};

const PROCS: [&str; 4] = ["sshd", "sudo", "nginx", "cron"];
const USERS: [&str; 5] = ["alice", "bob", "carol", "dave", "root"];

fn small_config(dir: &Path) -> EmbeddedConfig {
    let mut c = EmbeddedConfig::new(dir);
    c.segment_max_events = 500;
    c.block_events = 64;
    c.fsync_interval = Duration::from_millis(20);
    c
}

/// Event `i` of tenant `tenant`: deterministic fields derived from `i`.
fn event(tenant: &str, i: u64) -> Event {
    let proc = PROCS[(i % 4) as usize];
    let user = USERS[(i % 5) as usize];
    let host = format!("host-{}", i % 7);
    let ip = format!("10.0.{}.{}", (i / 250) % 250, i % 250);
    let msg = format!("Failed password for {user} from {ip} port 22 seq{i}");
    let raw = format!("<86>May  1 00:00:00 {host} {proc}[{i}]: {msg}");
    let mut ev = Event::new(Bytes::from(raw));
    ev.meta.tenant = SmolStr::new(tenant);
    ev.timestamp = Timestamp(1_700_000_000_000_000_000 + i as i64 * 1_000_000_000);
    ev.host.name = Some(host.into());
    ev.process.name = Some(proc.into());
    ev.user.name = Some(user.into());
    ev.source.ip = ip.parse().ok();
    ev.process.pid = Some(i as i64);
    // half the messages are the tail of the raw line (stored without repeating them)
    ev.message = Some(
        if i.is_multiple_of(2) {
            msg
        } else {
            format!("Failed password for {user} from {ip}")
        }
        .into(),
    );
    ev
}

fn batch(tenant: &str, from: u64, n: u64) -> Vec<Event> {
    (from..from + n).map(|i| event(tenant, i)).collect()
}

fn main_tenant() -> TenantId {
    TenantId::main()
}

fn count(store: &dyn EventStore, tenant: &TenantId, q: &str) -> i64 {
    let r = store
        .aggregate(
            tenant,
            &AggregateRequest::parse(&format!("{q} | count")).expect("parses"),
        )
        .expect("runs");
    match r.table.get(0, "count") {
        Some(Value::Int(n)) => *n,
        None => 0,
        other => panic!("unexpected count cell {other:?}"),
    }
}

fn count_by(
    store: &dyn EventStore,
    tenant: &TenantId,
    q: &str,
    field: &str,
) -> BTreeMap<String, i64> {
    let r = store
        .aggregate(
            tenant,
            &AggregateRequest::parse(&format!("{q} | count by {field}")).expect("parses"),
        )
        .expect("runs");
    let mut out = BTreeMap::new();
    for i in 0..r.table.rows.len() {
        let k = match r.table.get(i, field) {
            Some(Value::Str(s)) => s.clone(),
            other => format!("{other:?}"),
        };
        let Some(Value::Int(n)) = r.table.get(i, "count") else {
            panic!("no count")
        };
        out.insert(k, *n);
    }
    out
}

/// The `process.pid` of every stored event (our event index), checking for duplicates.
fn all_indexes(store: &dyn EventStore, tenant: &TenantId) -> Vec<u64> {
    let mut req = SearchRequest::parse("*", 100_000).expect("parses");
    req.order = Order::OldestFirst;
    let r = store.search(tenant, &req).expect("search");
    let ids: Vec<u64> = r
        .events
        .iter()
        .map(|e| e.process.pid.unwrap_or(-1) as u64)
        .collect();
    let set: HashSet<_> = ids.iter().collect();
    assert_eq!(set.len(), ids.len(), "duplicate events");
    let mut sorted = ids.clone();
    sorted.sort_unstable();
    sorted
}

fn wal_files(dir: &Path, tenant: &str) -> Vec<PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir.join("events").join(tenant).join("wal"))
        .expect("wal dir")
        .map(|e| e.expect("entry").path())
        .collect();
    v.sort();
    v
}

fn segment_files(dir: &Path, tenant: &str) -> Vec<PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir.join("events").join(tenant).join("segments"))
        .expect("segment dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .collect();
    v.sort();
    v
}

#[test]
fn round_trip_memtable_and_segments() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = EmbeddedStore::open(small_config(dir.path())).expect("open");
    let t = main_tenant();
    let mut last = 0;
    let mut sent = Vec::new();
    for b in 0..6 {
        let evs = batch("main", b * 200, 200);
        last = store.append(&t, &evs).expect("append");
        sent.extend(evs);
    }
    assert_eq!(last, 1200);
    // searchable immediately, newest first
    let r = store
        .search(&t, &SearchRequest::parse("*", 5).expect("parses"))
        .expect("search");
    let pids: Vec<_> = r.events.iter().map(|e| e.process.pid).collect();
    assert_eq!(
        pids,
        vec![Some(1199), Some(1198), Some(1197), Some(1196), Some(1195)]
    );
    assert_eq!(r.events[0], sent[1199]);
    let mut req = SearchRequest::parse("*", 3).expect("parses");
    req.order = Order::OldestFirst;
    let r = store.search(&t, &req).expect("search");
    assert_eq!(
        r.events.iter().map(|e| e.process.pid).collect::<Vec<_>>(),
        vec![Some(0), Some(1), Some(2)]
    );
    assert_eq!(count(&store, &t, "*"), 1200);
    store.flush(&t).expect("flush");
    let s = store.stats(&t).expect("stats");
    assert_eq!(s.events, 1200);
    assert_eq!(s.memtable_events, 0);
    assert!(s.segments >= 2, "{s:?}");
    assert_eq!(s.durable_lsn, 1200);
    assert_eq!(all_indexes(&store, &t), (0..1200).collect::<Vec<_>>());
    // time range
    let mut req = SearchRequest::parse("*", 1000).expect("parses");
    req.range = TimeRange::new(event("main", 100).timestamp, event("main", 110).timestamp);
    assert_eq!(store.search(&t, &req).expect("search").events.len(), 10);
    store.close().expect("close");
    assert!(matches!(
        store.append(&t, &batch("main", 0, 1)),
        Err(StoreError::Closed)
    ));
}

/// A keyword value too long for the memtable's columns (the block is sealed from its decoded
/// events instead), events of several appends per block, and a restart that replays the WAL:
/// every event comes back equal from the segments, and keyword counts stay exact.
#[test]
fn sealed_events_equal_appended_ones_with_long_keywords_and_replay() {
    let dir = tempfile::tempdir().expect("tempdir");
    let t = main_tenant();
    let mut sent = Vec::new();
    {
        let store = EmbeddedStore::open(small_config(dir.path())).expect("open");
        for b in 0..7 {
            let mut evs = batch("main", b * 50, 50);
            if b == 3 {
                evs[7].host.name = Some("h".repeat(5000).into());
                evs[8].extra.insert("x.y", 7);
                evs[9].event.category = vec!["authentication".into(), "network".into()];
            }
            store.append(&t, &evs).expect("append");
            sent.extend(evs);
        }
        // dropped without closing: the memtable (fewer events than a segment) is in the WAL
        // only, and replayed at the next open
        drop(store);
    }
    let store = EmbeddedStore::open(small_config(dir.path())).expect("reopen");
    assert_eq!(store.stats(&t).expect("stats").memtable_events, 350);
    store.flush(&t).expect("flush");
    assert_eq!(store.stats(&t).expect("stats").memtable_events, 0);
    let mut req = SearchRequest::parse("*", 10_000).expect("parses");
    req.order = Order::OldestFirst;
    let got = store.search(&t, &req).expect("search").events;
    assert_eq!(got.len(), sent.len());
    for (g, s) in got.iter().zip(&sent) {
        assert_eq!(g, s);
    }
    assert_eq!(
        count(&store, &t, &format!("host.name:{}", "h".repeat(5000))),
        1
    );
    // event 157 (157 % 7 == 3) has the long host name instead
    assert_eq!(count(&store, &t, "host.name:host-3"), 49);
    assert_eq!(count(&store, &t, "event.category:network"), 1);
}

#[test]
fn exact_count_by_across_segments_and_memtable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = EmbeddedStore::open(small_config(dir.path())).expect("open");
    let t = main_tenant();
    let n = 2345u64;
    for chunk in (0..n).collect::<Vec<_>>().chunks(97) {
        store
            .append(
                &t,
                &chunk.iter().map(|&i| event("main", i)).collect::<Vec<_>>(),
            )
            .expect("append");
    }
    let mut want: BTreeMap<String, i64> = BTreeMap::new();
    for i in 0..n {
        *want.entry(PROCS[(i % 4) as usize].to_owned()).or_default() += 1;
    }
    assert_eq!(count_by(&store, &t, "*", "process.name"), want);
    // with a needle: user.name:alice AND process.name:sshd → i % 5 == 0 && i % 4 == 0
    let expect = (0..n).filter(|i| i % 20 == 0).count() as i64;
    assert_eq!(
        count(&store, &t, "user.name:alice process.name:sshd"),
        expect
    );
    assert_eq!(
        count(&store, &t, "user.name:ALICE AND process.name:sshd"),
        expect
    );
    // full text: whole words, `*` for prefixes
    assert_eq!(
        count(&store, &t, "\"password for alice\""),
        (0..n).filter(|i| i % 5 == 0).count() as i64
    );
    assert_eq!(count(&store, &t, "seq1234"), 1);
    assert_eq!(count(&store, &t, "seq123"), 1); // the word seq123, not seq1230
    assert_eq!(count(&store, &t, "seq123*"), 11); // seq123, seq1230..1239
    store.flush(&t).expect("flush");
    assert_eq!(count_by(&store, &t, "*", "process.name"), want);
    assert_eq!(count(&store, &t, "seq123"), 1);
    assert_eq!(count(&store, &t, "seq123*"), 11);
    // IP needle (typed) and pruning
    let req = SearchRequest::parse("source.ip:10.0.1.7", 10).expect("parses");
    let r = store.search(&t, &req).expect("search");
    assert_eq!(r.events.len(), 1);
    assert_eq!(r.events[0].process.pid, Some(257));
    assert!(r.stats.blocks_pruned > 0, "{:?}", r.stats);
    let r = store
        .search(
            &t,
            &SearchRequest::parse("\"seq777\" OR seq778", 10).expect("p"),
        )
        .expect("s");
    assert_eq!(r.events.len(), 2);
    // alias
    assert_eq!(count(&store, &t, "SourceAddress:10.0.1.7"), 1);
    // column mode (keyword fields only) agrees with event mode (forced by a full-text term that
    // every event has), across segments and memtable
    store.append(&t, &batch("main", n, 150)).expect("append");
    for (q, stages) in [
        ("user.name:alice", "| stats count() by source.ip"),
        (
            "source.ip:10.0.0.0/16 NOT process.name:cron",
            "| stats count(), dc(user.name) by host.name",
        ),
        ("*", "| timechart span=10m count() by process.name"),
        ("*", "| where destination.port>0 | count by process.name"),
        ("*", "| top 3 user.name"),
        ("*", "| count by process.name | sort -count | head 2"),
    ] {
        let cols = store
            .aggregate(
                &t,
                &AggregateRequest::parse(&format!("{q} {stages}")).expect("p"),
            )
            .expect("a");
        let events = store
            .aggregate(
                &t,
                &AggregateRequest::parse(&format!("{q} password {stages}")).expect("p"),
            )
            .expect("a");
        assert_eq!(cols.table, events.table, "{q} {stages}");
        assert_eq!(cols.stats.events_decoded, 0, "{q} {stages}");
    }
    // search: conditions on keyword columns are checked before decoding
    let total = n + 150;
    for (q, keep) in [
        (
            "user.name:alice process.name:sshd",
            (|i| i % 20 == 0) as fn(u64) -> bool,
        ),
        ("NOT user.name:alice process.name:sshd", |i| {
            i % 4 == 0 && i % 5 != 0
        }),
        ("process.name:sshd seq1*", |i| {
            i % 4 == 0 && i.to_string().starts_with('1')
        }),
    ] {
        let r = store
            .search(&t, &SearchRequest::parse(q, 100_000).expect("p"))
            .expect("s");
        let got: Vec<u64> = r
            .events
            .iter()
            .map(|e| e.process.pid.unwrap_or(-1) as u64)
            .collect();
        let want: Vec<u64> = (0..total).filter(|&i| keep(i)).rev().collect();
        assert_eq!(got, want, "{q}");
        assert!(r.stats.events_decoded < total / 2, "{q}: {:?}", r.stats);
    }
}

#[test]
fn reopen_after_drop_without_close_loses_nothing_durable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let t = main_tenant();
    {
        let store = EmbeddedStore::open(small_config(dir.path())).expect("open");
        let lsn = store.append(&t, &batch("main", 0, 1234)).expect("append");
        store
            .wait_durable(&t, lsn, Duration::from_secs(10))
            .expect("durable");
        // more, not waited for: still in the page cache, so a dropped process keeps it
        store.append(&t, &batch("main", 1234, 10)).expect("append");
    }
    let store = EmbeddedStore::open(small_config(dir.path())).expect("reopen");
    assert_eq!(all_indexes(&store, &t), (0..1244).collect::<Vec<_>>());
    let s = store.stats(&t).expect("stats");
    assert_eq!(s.last_lsn, 1244);
    // appending continues after the recovered LSN
    assert_eq!(
        store.append(&t, &batch("main", 1244, 1)).expect("append"),
        1245
    );
    drop(store);
    let store = EmbeddedStore::open(small_config(dir.path())).expect("reopen");
    assert_eq!(all_indexes(&store, &t), (0..1245).collect::<Vec<_>>());
}

#[test]
fn torn_wal_tail_is_truncated_and_counted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let t = main_tenant();
    {
        let store = EmbeddedStore::open(small_config(dir.path())).expect("open");
        store.append(&t, &batch("main", 0, 10)).expect("append");
        store.append(&t, &batch("main", 10, 10)).expect("append");
    }
    let wal = wal_files(dir.path(), "main");
    let last = wal.last().expect("a WAL file");
    let len = std::fs::metadata(last).expect("stat").len();
    // cut the second frame short
    std::fs::OpenOptions::new()
        .write(true)
        .open(last)
        .expect("open")
        .set_len(len - 7)
        .expect("truncate");
    let store = EmbeddedStore::open(small_config(dir.path())).expect("reopen");
    assert_eq!(all_indexes(&store, &t), (0..10).collect::<Vec<_>>());
    let s = store.stats(&t).expect("stats");
    assert_eq!(s.corrupt_frames, 1);
    assert_eq!(s.last_lsn, 10);
    // garbage after valid frames
    store.append(&t, &batch("main", 100, 5)).expect("append");
    drop(store);
    let last = wal_files(dir.path(), "main").last().cloned().expect("wal");
    let mut bytes = std::fs::read(&last).expect("read");
    bytes.extend_from_slice(b"garbage that is not a frame at all, 40 bytes");
    std::fs::write(&last, bytes).expect("write");
    let store = EmbeddedStore::open(small_config(dir.path())).expect("reopen");
    assert_eq!(
        all_indexes(&store, &t),
        (0..10).chain(100..105).collect::<Vec<_>>()
    );
    assert_eq!(store.stats(&t).expect("stats").corrupt_frames, 1);
}

#[test]
fn corrupt_segment_is_quarantined_and_the_rest_served() {
    let dir = tempfile::tempdir().expect("tempdir");
    let t = main_tenant();
    {
        let store = EmbeddedStore::open(small_config(dir.path())).expect("open");
        store.append(&t, &batch("main", 0, 500)).expect("append"); // seals at 500
        store.flush(&t).expect("flush");
        store.append(&t, &batch("main", 500, 300)).expect("append");
        store.flush(&t).expect("flush");
        store.close().expect("close");
    }
    let segs = segment_files(dir.path(), "main");
    assert_eq!(segs.len(), 2);
    let mut bytes = std::fs::read(&segs[0]).expect("read");
    let at = bytes.len() - 60; // inside the meta region
    bytes[at] ^= 0xff;
    std::fs::write(&segs[0], bytes).expect("write");
    let store = EmbeddedStore::open(small_config(dir.path())).expect("reopen");
    let s = store.stats(&t).expect("stats");
    assert_eq!(s.corrupt_segments, 1);
    assert_eq!(s.segments, 1);
    assert_eq!(all_indexes(&store, &t), (500..800).collect::<Vec<_>>());
    let q = dir.path().join("events/main/quarantine");
    assert_eq!(std::fs::read_dir(q).expect("quarantine").count(), 1);
    // appends still work and do not reuse LSNs of the surviving segment
    assert_eq!(
        store.append(&t, &batch("main", 800, 1)).expect("append"),
        801
    );
}

#[test]
fn flipped_data_byte_is_caught_at_open_by_the_manifest_hash() {
    let dir = tempfile::tempdir().expect("tempdir");
    let t = main_tenant();
    {
        let store = EmbeddedStore::open(small_config(dir.path())).expect("open");
        store.append(&t, &batch("main", 0, 100)).expect("append");
        store.flush(&t).expect("flush");
        store.append(&t, &batch("main", 100, 100)).expect("append");
        store.close().expect("close");
    }
    let seg = segment_files(dir.path(), "main").remove(0);
    let mut bytes = std::fs::read(&seg).expect("read");
    // A byte in the column data: the Parquet footer still parses, only the hash sees it.
    bytes[40] ^= 0x55;
    std::fs::write(&seg, bytes).expect("write");
    let store = EmbeddedStore::open(small_config(dir.path())).expect("reopen");
    assert_eq!(store.stats(&t).expect("stats").corrupt_segments, 1);
    assert_eq!(all_indexes(&store, &t), (100..200).collect::<Vec<_>>());
    assert_eq!(count(&store, &t, "password"), 100);
}

#[test]
fn truncated_segment_is_quarantined_even_without_hash_checks() {
    let dir = tempfile::tempdir().expect("tempdir");
    let t = main_tenant();
    {
        let store = EmbeddedStore::open(small_config(dir.path())).expect("open");
        store.append(&t, &batch("main", 0, 100)).expect("append");
        store.flush(&t).expect("flush");
        store.append(&t, &batch("main", 100, 50)).expect("append");
        store.close().expect("close");
    }
    let seg = segment_files(dir.path(), "main").remove(0);
    let len = std::fs::metadata(&seg).expect("stat").len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&seg)
        .expect("open")
        .set_len(len / 2)
        .expect("truncate");
    let mut cfg = small_config(dir.path());
    cfg.verify_on_open = false;
    let store = EmbeddedStore::open(cfg).expect("reopen");
    assert_eq!(store.stats(&t).expect("stats").corrupt_segments, 1);
    assert_eq!(all_indexes(&store, &t), (100..150).collect::<Vec<_>>());
}

#[test]
fn crash_between_segment_rename_and_wal_deletion_replays_nothing_twice() {
    let dir = tempfile::tempdir().expect("tempdir");
    let t = main_tenant();
    {
        let store = EmbeddedStore::open(small_config(dir.path())).expect("open");
        store
            .faults()
            .keep_wal_after_seal
            .store(true, Ordering::Relaxed);
        store.append(&t, &batch("main", 0, 700)).expect("append");
        store.append(&t, &batch("main", 700, 100)).expect("append");
        store.flush(&t).expect("flush");
        assert!(!wal_files(dir.path(), "main").is_empty());
    }
    let store = EmbeddedStore::open(small_config(dir.path())).expect("reopen");
    assert_eq!(all_indexes(&store, &t), (0..800).collect::<Vec<_>>());
    assert_eq!(count(&store, &t, "*"), 800);
    // the covered WAL files are deleted at open
    assert!(wal_files(dir.path(), "main").is_empty());
}

#[test]
fn crash_during_segment_write_leaves_no_trace() {
    let dir = tempfile::tempdir().expect("tempdir");
    let t = main_tenant();
    {
        let store = EmbeddedStore::open(small_config(dir.path())).expect("open");
        store.append(&t, &batch("main", 0, 100)).expect("append");
    }
    let tmp = dir
        .path()
        .join("events/main/segments/.tmp-00000000000000000001-00000000000000000100.parquet");
    std::fs::write(&tmp, b"half a segment").expect("write");
    let store = EmbeddedStore::open(small_config(dir.path())).expect("reopen");
    assert!(!tmp.exists());
    assert_eq!(all_indexes(&store, &t), (0..100).collect::<Vec<_>>());
}

#[test]
fn tenants_are_isolated_and_validated() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = EmbeddedStore::open(small_config(dir.path())).expect("open");
    let a = TenantId::new("acme").expect("valid");
    let b = TenantId::new("globex-2").expect("valid");
    store.append(&a, &batch("acme", 0, 30)).expect("append");
    store
        .append(&b, &batch("globex-2", 1000, 20))
        .expect("append");
    assert_eq!(count(&store, &a, "*"), 30);
    assert_eq!(count(&store, &b, "*"), 20);
    assert_eq!(
        count(&store, &TenantId::new("nobody").expect("valid"), "*"),
        0
    );
    let err = store
        .append(&a, &batch("globex-2", 0, 1))
        .expect_err("mismatch");
    assert!(matches!(err, StoreError::TenantMismatch { .. }));
    for bad in [
        "",
        "../etc",
        "a/b",
        "Main",
        "-x",
        ".",
        "..",
        "a b",
        &"x".repeat(65),
    ] {
        assert!(TenantId::new(bad).is_err(), "{bad:?} accepted");
    }
    store.flush(&a).expect("flush");
    drop(store);
    let store = EmbeddedStore::open(small_config(dir.path())).expect("reopen");
    assert_eq!(store.tenants(), vec![a.clone(), b.clone()]);
    assert_eq!(all_indexes(&store, &a), (0..30).collect::<Vec<_>>());
    assert_eq!(all_indexes(&store, &b), (1000..1020).collect::<Vec<_>>());
}

#[test]
fn wal_write_error_is_returned_and_nothing_half_stored() {
    let dir = tempfile::tempdir().expect("tempdir");
    let t = main_tenant();
    let store = EmbeddedStore::open(small_config(dir.path())).expect("open");
    store.append(&t, &batch("main", 0, 10)).expect("append");
    store.faults().fail_wal_write.store(true, Ordering::Relaxed);
    let err = store
        .append(&t, &batch("main", 10, 10))
        .expect_err("disk full");
    assert!(matches!(err, StoreError::Io { .. }), "{err}");
    store
        .faults()
        .fail_wal_write
        .store(false, Ordering::Relaxed);
    // the failed batch's LSNs (11..=20) are burnt, not reused
    assert_eq!(
        store.append(&t, &batch("main", 20, 10)).expect("append"),
        30
    );
    assert_eq!(
        all_indexes(&store, &t),
        (0..10).chain(20..30).collect::<Vec<_>>()
    );
    drop(store);
    let store = EmbeddedStore::open(small_config(dir.path())).expect("reopen");
    assert_eq!(
        all_indexes(&store, &t),
        (0..10).chain(20..30).collect::<Vec<_>>()
    );
}

#[test]
fn seal_error_surfaces_and_keeps_events() {
    let dir = tempfile::tempdir().expect("tempdir");
    let t = main_tenant();
    let store = EmbeddedStore::open(small_config(dir.path())).expect("open");
    store
        .faults()
        .fail_segment_write
        .store(true, Ordering::Relaxed);
    store.append(&t, &batch("main", 0, 300)).expect("append");
    let err = store.flush(&t).expect_err("seal fails");
    assert!(matches!(err, StoreError::Failed { .. }), "{err}");
    assert_eq!(store.stats(&t).expect("stats").segments, 0);
    assert_eq!(count(&store, &t, "*"), 300); // still searchable from memory
    store
        .faults()
        .fail_segment_write
        .store(false, Ordering::Relaxed);
    // the sealer retries; flush succeeds once it has
    let mut ok = false;
    for _ in 0..100 {
        if store.flush(&t).is_ok() {
            ok = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(ok, "flush never succeeded after the fault was cleared");
    assert!(store.stats(&t).expect("stats").seal_errors >= 1);
    drop(store);
    let store = EmbeddedStore::open(small_config(dir.path())).expect("reopen");
    assert_eq!(all_indexes(&store, &t), (0..300).collect::<Vec<_>>());
    assert!(segment_files(dir.path(), "main").len() == 1);
}

#[test]
fn a_data_directory_is_opened_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = EmbeddedStore::open(small_config(dir.path())).expect("open");
    let err = EmbeddedStore::open(small_config(dir.path())).expect_err("locked");
    assert!(matches!(err, StoreError::Invalid(_)), "{err}");
    drop(store);
    EmbeddedStore::open(small_config(dir.path())).expect("reopen after drop");
}

#[test]
fn bad_config_is_rejected() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut c = EmbeddedConfig::new(dir.path());
    c.fsync_interval = Duration::from_secs(2);
    assert!(matches!(
        EmbeddedStore::open(c),
        Err(StoreError::Invalid(_))
    ));
}

#[derive(Debug, Clone)]
enum Op {
    Append(u64),
    Flush,
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (1u64..300).prop_map(Op::Append),
        1 => Just(Op::Flush),
        2 => Just(Op::Reopen),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, .. ProptestConfig::default() })]
    #[test]
    fn random_batches_and_reopens_keep_every_event_once(ops in proptest::collection::vec(op(), 1..25)) {
        let dir = tempfile::tempdir().expect("tempdir");
        let t = main_tenant();
        let mut cfg = small_config(dir.path());
        cfg.segment_max_events = 333;
        cfg.block_events = 50;
        let mut store = EmbeddedStore::open(cfg.clone()).expect("open");
        let mut next = 0u64;
        for op in ops {
            match op {
                Op::Append(n) => {
                    let lsn = store.append(&t, &batch("main", next, n)).expect("append");
                    next += n;
                    prop_assert_eq!(lsn, next);
                }
                Op::Flush => store.flush(&t).expect("flush"),
                Op::Reopen => {
                    drop(store);
                    store = EmbeddedStore::open(cfg.clone()).expect("reopen");
                }
            }
        }
        prop_assert_eq!(all_indexes(&store, &t), (0..next).collect::<Vec<_>>());
        prop_assert_eq!(count(&store, &t, "*"), next as i64);
        drop(store);
        let store = EmbeddedStore::open(cfg).expect("reopen");
        prop_assert_eq!(all_indexes(&store, &t), (0..next).collect::<Vec<_>>());
    }
}

/// Kills the child process when dropped, so a failing test never leaves a writer running.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

const KILL_CHILD_ENV: &str = "VIGIL_STORE_KILL_CHILD";

/// The writer run in a child process by the test below: appends batches and reports each one
/// after `append` returned, until killed (or a safety limit).
fn child_writer(dir: &Path) {
    use std::io::Write;
    let mut cfg = small_config(dir);
    cfg.segment_max_events = 5_000;
    cfg.block_events = 500;
    let store = EmbeddedStore::open(cfg).expect("open");
    let t = main_tenant();
    let mut out = std::io::stdout().lock();
    let started = std::time::Instant::now();
    let mut next = 0u64;
    while next < 3_000_000 && started.elapsed() < Duration::from_secs(60) {
        store.append(&t, &batch("main", next, 100)).expect("append");
        next += 100;
        let _ = writeln!(out, "appended {next}");
        let _ = out.flush();
    }
}

#[test]
fn kill_9_during_ingestion_keeps_every_appended_event_once() {
    if let Some(dir) = std::env::var_os(KILL_CHILD_ENV) {
        child_writer(Path::new(&dir));
        return;
    }
    use std::io::BufRead;
    let dir = tempfile::tempdir().expect("tempdir");
    let child = std::process::Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            "kill_9_during_ingestion_keeps_every_appended_event_once",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(KILL_CHILD_ENV, dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn writer");
    let mut child = KillOnDrop(child);
    let stdout = child.0.stdout.take().expect("stdout");
    let mut reported = 0u64;
    for line in std::io::BufReader::new(stdout).lines() {
        let line = line.expect("line");
        if let Some(n) = line.strip_prefix("appended ") {
            reported = n.parse().expect("count");
            // past several seals, with a memtable and WAL in flight
            if reported >= 23_456 {
                break;
            }
        }
    }
    child.0.kill().expect("SIGKILL");
    let _ = child.0.wait();
    assert!(reported >= 23_456, "the writer stopped early at {reported}");
    let store = EmbeddedStore::open(small_config(dir.path())).expect("reopen");
    let got = all_indexes(&store, &main_tenant()); // also checks for duplicates
    let m = got.len() as u64;
    assert!(
        m >= reported,
        "lost events: {m} present, {reported} appended"
    );
    assert_eq!(
        got,
        (0..m).collect::<Vec<_>>(),
        "not a prefix of what was appended"
    );
    assert_eq!(m % 100, 0, "a batch was stored partially");
    assert!(!segment_files(dir.path(), "main").is_empty());
}

const WORDS: [&str; 8] = [
    "Failed", "password", "ACCEPTED", "session", "opened", "for", "root", "käse",
];

fn random_event(seed: u64, i: u64) -> Event {
    let r = |k: u64| {
        (seed ^ i.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ k.wrapping_mul(0xC2B2_AE3D_27D4_EB4F))
            .wrapping_mul(0xff51_afd7_ed55_8ccd)
            >> 33
    };
    let w1 = WORDS[(r(1) % 8) as usize];
    let w2 = WORDS[(r(2) % 8) as usize];
    let user = USERS[(r(3) % 5) as usize];
    let proc = PROCS[(r(4) % 4) as usize];
    let raw = format!(
        "<13>host-{} {proc}: {w1} {w2} for {user}-x{}",
        r(5) % 3,
        r(6) % 50
    );
    let mut ev = Event::new(Bytes::from(raw.clone()));
    ev.timestamp = Timestamp(1_700_000_000_000_000_000 + (r(7) % 1000) as i64 * 1_000_000_000);
    ev.host.name = Some(format!("host-{}", r(5) % 3).into());
    ev.process.name = (r(8) % 5 != 0).then(|| proc.into());
    ev.user.name = Some(
        if r(9) % 2 == 0 {
            user.to_uppercase()
        } else {
            user.to_owned()
        }
        .into(),
    );
    ev.source.ip = Some([10, 0, 0, (r(10) % 20) as u8].into());
    ev.destination.port = Some([22u16, 80, 443][(r(11) % 3) as usize]);
    ev.process.pid = Some(i as i64);
    if r(12) % 3 == 0 {
        ev.message = Some(raw.split(": ").nth(1).unwrap_or("").into());
    } else if r(12) % 3 == 1 {
        ev.message = Some(format!("{w2} {}", r(13) % 7).into());
    }
    ev
}

fn query_strategy() -> impl Strategy<Value = String> {
    let term = prop_oneof![
        (0usize..5).prop_map(|u| format!("user.name:{}", USERS[u])),
        (0usize..5).prop_map(|u| format!("user.name=={}", USERS[u].to_uppercase())),
        (0usize..4).prop_map(|p| format!("process.name:{}", PROCS[p])),
        (0u8..25).prop_map(|d| format!("source.ip:10.0.0.{d}")),
        Just("source.ip:10.0.0.0/29".to_owned()),
        Just("destination.port:443".to_owned()),
        Just("destination.port in (22, 80)".to_owned()),
        (0usize..3).prop_map(|h| format!("host.name:HOST-{h}")),
        (0usize..8).prop_map(|w| WORDS[w].to_owned()),
        (0usize..8).prop_map(|w| format!("\"{}\"", WORDS[w][1..].to_lowercase())),
        (0usize..8, 0usize..8).prop_map(|(a, b)| format!("\"{} {}\"", WORDS[a], WORDS[b])),
        (0u64..50).prop_map(|x| format!("\"x{x} \" OR x{x}")),
        Just("exists(process.name)".to_owned()),
        Just("fail*d".to_owned()),
    ];
    (term.clone(), proptest::option::of(term), 0u8..4).prop_map(|(a, b, op)| match (b, op) {
        (None, _) => a,
        (Some(b), 0) => format!("{a} {b}"),
        (Some(b), 1) => format!("{a} OR {b}"),
        (Some(b), 2) => format!("{a} NOT {b}"),
        (Some(b), _) => format!("NOT ({a} {b})"),
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, .. ProptestConfig::default() })]
    /// Pruning (dictionaries, token filters, byte and column prefilters) never loses a match:
    /// search and count agree with evaluating the filter on every event.
    #[test]
    fn pruning_never_changes_results(seed in any::<u64>(), n in 50u64..900, sealed in 0u64..900,
                                     queries in proptest::collection::vec(query_strategy(), 6)) {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut cfg = small_config(dir.path());
        cfg.block_events = 40;
        cfg.segment_max_events = 100_000;
        let store = EmbeddedStore::open(cfg).expect("open");
        let t = main_tenant();
        let events: Vec<Event> = (0..n).map(|i| random_event(seed, i)).collect();
        let cut = sealed.min(n) as usize;
        store.append(&t, &events[..cut]).expect("append");
        store.flush(&t).expect("flush");
        store.append(&t, &events[cut..]).expect("append");
        for q in queries {
            let parsed = vigil_query::parse_with(&q, &vigil_store::EventSchema).expect("parses");
            let filter = vigil_query::CompiledFilter::new(&parsed.filter).expect("compiles");
            let mut want: Vec<i64> = events
                .iter()
                .filter(|e| filter.matches(&vigil_store::EventRecord::new(e)))
                .map(|e| e.process.pid.unwrap_or(-1))
                .collect();
            want.sort_unstable();
            let r = store.search(&t, &SearchRequest::parse(&q, 100_000).expect("p")).expect("search");
            let mut got: Vec<i64> = r.events.iter().map(|e| e.process.pid.unwrap_or(-1)).collect();
            got.sort_unstable();
            prop_assert_eq!(&got, &want, "search {}", q);
            prop_assert_eq!(count(&store, &t, &q), want.len() as i64, "count {}", q);
            let by = count_by(&store, &t, &q, "host.name");
            prop_assert_eq!(by.values().sum::<i64>(), want.len() as i64, "count by {}", q);
        }
    }
}

/// Waits (bounded: 10 s) until `segments` segments are sealed; returns how many are.
fn wait_segments(store: &EmbeddedStore, t: &TenantId, segments: u64) -> u64 {
    for _ in 0..1000 {
        let s = store.stats(t).expect("stats");
        if s.segments >= segments {
            return s.segments;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    store.stats(t).expect("stats").segments
}

/// A partition's memtable is sealed when it holds `memtable_max_bytes`, however its events
/// were batched: nothing is lost across the early seals, and a crash after them replays the
/// WAL exactly.
#[test]
fn memtable_byte_limit_seals_early_and_loses_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let t = main_tenant();
    let cfg = || {
        let mut c = EmbeddedConfig::new(dir.path());
        c.fsync_interval = Duration::from_millis(20);
        c.block_events = 256;
        c.segment_max_events = 1_000_000;
        c.segment_max_age = Duration::from_secs(3600);
        c.memtable_max_bytes = 256 << 10;
        c
    };
    let n = 6_000u64;
    {
        let store = EmbeddedStore::open(cfg()).expect("open");
        let mut i = 0;
        let mut max_seen = 0;
        while i < n {
            // 1 to 64 events per append
            let k = (1 + i % 64).min(n - i);
            let lsn = store.append(&t, &batch("main", i, k)).expect("append");
            i += k;
            let s = store.stats(&t).expect("stats");
            max_seen = max_seen.max(s.memtable_bytes);
            if i == n {
                store
                    .wait_durable(&t, lsn, Duration::from_secs(10))
                    .expect("durable");
            }
        }
        let s = store.stats(&t).expect("stats");
        assert!(s.memtable_full_seals >= 3, "{s:?}");
        assert!(s.memtable_bytes_all >= s.memtable_bytes, "{s:?}");
        // the active memtable stays under the limit (+ one append); frozen ones come on top
        // while the sealer works (at most `max_pending_seals` of them)
        assert!(
            max_seen < 4 * (256 << 10),
            "memtables held {max_seen} bytes"
        );
        assert!(wait_segments(&store, &t, 3) >= 3);
        assert_eq!(count(&store, &t, "*"), n as i64);
        assert_eq!(all_indexes(&store, &t), (0..n).collect::<Vec<_>>());
        // dropped without close: a crash with sealed segments and a WAL tail
    }
    let store = EmbeddedStore::open(cfg()).expect("reopen");
    assert_eq!(all_indexes(&store, &t), (0..n).collect::<Vec<_>>());
    assert_eq!(count(&store, &t, "user.name:alice"), (n / 5) as i64);
    assert_eq!(store.stats(&t).expect("stats").last_lsn, n);
    store.flush(&t).expect("flush");
    let s = store.stats(&t).expect("stats");
    assert_eq!((s.memtable_events, s.memtable_bytes), (0, 0), "{s:?}");
    assert_eq!(all_indexes(&store, &t), (0..n).collect::<Vec<_>>());
}

/// All memtables together stay near `memtable_total_bytes`: the largest is sealed early, and
/// appends wait for the sealer when the memtables being sealed hold the rest.
#[test]
fn memtable_total_limit_bounds_all_tenants() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut c = EmbeddedConfig::new(dir.path());
    c.fsync_interval = Duration::from_millis(20);
    c.block_events = 128;
    c.segment_max_events = 1_000_000;
    c.segment_max_age = Duration::from_secs(3600);
    c.memtable_total_bytes = 512 << 10;
    let limit = c.memtable_total_bytes as u64;
    let store = EmbeddedStore::open(c).expect("open");
    let tenants: Vec<TenantId> = ["a", "b", "c"]
        .iter()
        .map(|n| TenantId::new(n).expect("tenant"))
        .collect();
    let n = 3_000u64;
    let mut max_all = 0;
    for i in (0..n).step_by(10) {
        for t in &tenants {
            store.append(t, &batch(t.as_str(), i, 10)).expect("append");
            max_all = max_all.max(store.total_stats().memtable_bytes_all);
        }
    }
    let s = store.total_stats();
    assert!(s.memtable_full_seals >= 3, "{s:?}");
    assert_eq!(s.memtable_limit_bytes, limit);
    // over the limit by at most what one append adds and what is being sealed meanwhile
    assert!(max_all < 3 * limit, "memtables held {max_all} bytes");
    for t in &tenants {
        assert_eq!(all_indexes(&store, t), (0..n).collect::<Vec<_>>());
        store.flush(t).expect("flush");
    }
    // released when the sealer lets go of the last sealed memtable (just after the flush)
    let mut left = u64::MAX;
    for _ in 0..500 {
        left = store.total_stats().memtable_bytes_all;
        if left == 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(left, 0);
}
