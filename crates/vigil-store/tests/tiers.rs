//! Background merges and the cold tier: results identical in every tier, manifest chain kept,
//! crashes at each step of a rewrite recovered, cold tier on another directory.

#![allow(
    clippy::disallowed_methods,
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::panic
)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use vigil_event::{Bytes, Event, SmolStr, Timestamp};
use vigil_query::Value;
use vigil_store::embedded::{EmbeddedConfig, EmbeddedStore, TierOptions, verify};
use vigil_store::{AggregateRequest, EventStore, Order, SearchRequest, TenantId};

const HOUR: i64 = 3_600_000_000_000;
/// 2024-01-01T00:00:00Z
const BASE: i64 = 1_704_067_200_000_000_000;

fn event(i: u64) -> Event {
    let user = ["alice", "bob", "Carol", "dave"][(i % 4) as usize];
    let ip = format!("10.1.{}.{}", (i / 200) % 200, i % 200);
    let raw = format!(
        "<86>Jan  1 00:00:00 host-{} sshd[{i}]: Failed password for {user} from {ip} port 22 tok{i}",
        i % 3
    );
    let mut ev = Event::new(Bytes::from(raw));
    ev.meta.tenant = SmolStr::new("main");
    // 40 events per hour: 1,000 events span a day and a bit.
    ev.timestamp = Timestamp(BASE + (i as i64) * HOUR / 40);
    ev.user.name = Some(user.into());
    ev.host.name = Some(format!("host-{}", i % 3).into());
    ev.process.name = Some(if i.is_multiple_of(5) { "sudo" } else { "sshd" }.into());
    ev.process.pid = Some(i as i64);
    ev.source.ip = ip.parse().ok();
    ev.message = Some(if i.is_multiple_of(2) {
        format!("Failed password for {user} from {ip} port 22 tok{i}").into()
    } else {
        format!("not in the raw line {i}").into()
    });
    ev
}

fn config(dir: &Path) -> EmbeddedConfig {
    let mut c = EmbeddedConfig::new(dir);
    c.segment_max_events = 100;
    c.block_events = 32;
    c.row_group_rows = 40;
    c.fsync_interval = Duration::from_millis(20);
    // Segments move to the cold tier after an hour (every space of every tenant).
    c.spaces.hot_age = Some(Duration::from_secs(3600));
    c.tiers = TierOptions {
        cold_row_group_rows: 128,
        merge_min_segments: 3,
        merge_max_events: 400,
        cold_max_events: 1000,
        interval: None,
        ..TierOptions::default()
    };
    c
}

/// Appends events `0..n` in batches of 50, flushing every 100: segments of 100 events.
fn fill(store: &EmbeddedStore, n: u64) {
    let t = TenantId::main();
    for b in (0..n).step_by(50) {
        let evs: Vec<_> = (b..(b + 50).min(n)).map(event).collect();
        store.append(&t, &evs).unwrap();
        if (b + 50).is_multiple_of(100) {
            store.flush(&t).unwrap();
        }
    }
    store.flush(&t).unwrap();
}

/// Answers to a fixed set of queries (search results as pids, aggregation tables as text).
fn answers(store: &EmbeddedStore) -> Vec<String> {
    let t = TenantId::main();
    let mut out = Vec::new();
    for q in [
        "*",
        "user.name:carol",
        "source.ip:10.1.2.7",
        "tok777",
        "\"raw line 333\"",
        "process.name:sudo host.name:host-1",
        "NOT user.name:alice password",
    ] {
        for order in [Order::NewestFirst, Order::OldestFirst] {
            let mut req = SearchRequest::parse(q, 25).unwrap();
            req.order = order;
            let r = store.search(&t, &req).unwrap();
            let pids: Vec<_> = r
                .events
                .iter()
                .map(|e| e.process.pid.unwrap_or(-1))
                .collect();
            out.push(format!("{q} {order:?}: {pids:?}"));
        }
    }
    for q in [
        "| count by process.name",
        "| stats count() by user.name, host.name",
        "user.name:bob | count by host.name",
        "password | count",
        "tok12 | count",
        "| top 3 source.ip",
        "| timechart span=6h count() by process.name",
        "| stats dc(source.ip) by process.name",
    ] {
        let r = store
            .aggregate(&t, &AggregateRequest::parse(q).unwrap())
            .unwrap();
        out.push(format!("{q}: {:?} {:?}", r.table.columns, r.table.rows));
    }
    out
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .map(|r| r.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    v.retain(|p| p.extension().is_some_and(|x| x == "parquet"));
    v.sort();
    v
}

fn hot(dir: &Path) -> Vec<PathBuf> {
    files(&dir.join("events/main/segments"))
}

fn cold(dir: &Path) -> Vec<PathBuf> {
    files(&dir.join("events/main/cold"))
}

#[test]
fn merges_and_tier_moves_keep_every_answer() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(config(dir.path())).unwrap();
    fill(&store, 1000);
    let t = TenantId::main();
    assert_eq!(store.stats(&t).unwrap().segments, 10);
    let want = answers(&store);
    // Nothing is older than an hour at BASE: only merges (runs of ≥ 3 small segments of a day).
    let r = store.maintain(Timestamp(BASE)).unwrap();
    assert_eq!(r.moved_to_cold, 0, "{r:?}");
    assert!(r.merged_into >= 2, "{r:?}");
    let s = store.stats(&t).unwrap();
    assert!(s.segments < 10, "{s:?}");
    assert_eq!(s.events, 1000);
    assert_eq!(answers(&store), want);
    // A day later everything is cold.
    let r = store.maintain(Timestamp(BASE + 48 * HOUR)).unwrap();
    assert!(r.moved_to_cold > 0, "{r:?}");
    let s = store.stats(&t).unwrap();
    assert_eq!(s.cold_events, 1000, "{s:?}");
    assert!(hot(dir.path()).is_empty());
    assert!(!cold(dir.path()).is_empty());
    assert_eq!(answers(&store), want);
    // Every rewrite is in the audit log (not among the tenant's events: `answers` is unchanged).
    let log = std::fs::read_to_string(dir.path().join("audit").join("audit.log")).unwrap();
    let records: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let of = |action: &str| {
        records
            .iter()
            .filter(|r| r["action"] == action && r["actor"] == "system:tiering")
            .count()
    };
    assert!(of("storage.merge") >= 2, "{log}");
    assert!(of("storage.tier.move") >= 1, "{log}");
    assert!(
        records
            .iter()
            .all(|r| r["tenant"] == "main" && r["file"].is_string() && r["detail"].is_string()),
        "{log}"
    );
    // New events go hot again; queries span both tiers.
    let evs: Vec<_> = (1000..1100).map(event).collect();
    store.append(&t, &evs).unwrap();
    store.flush(&t).unwrap();
    assert_eq!(store.stats(&t).unwrap().events, 1100);
    store.close().unwrap();
    drop(store);
    let v = verify(dir.path()).unwrap();
    assert!(v.is_clean(), "{:?}", v.findings);
    assert!(v.segments_verified >= 2);
    // Reopen: the same answers from the cold tier.
    let store = EmbeddedStore::open(config(dir.path())).unwrap();
    let again = answers(&store);
    assert_ne!(again, want, "the new events are part of the answers");
    let r = store
        .aggregate(&t, &AggregateRequest::parse("| count").unwrap())
        .unwrap();
    assert_eq!(r.table.get(0, "count"), Some(&Value::Int(1100)));
}

#[test]
fn cold_tier_in_another_directory() {
    let dir = tempfile::tempdir().unwrap();
    let other = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.tiers.cold_dir = Some(other.path().to_owned());
    let store = EmbeddedStore::open(cfg.clone()).unwrap();
    fill(&store, 300);
    let want = answers(&store);
    store.maintain(Timestamp(BASE + 48 * HOUR)).unwrap();
    assert!(hot(dir.path()).is_empty());
    assert!(!files(&other.path().join("main")).is_empty());
    assert_eq!(answers(&store), want);
    store.close().unwrap();
    drop(store);
    let v = verify(dir.path()).unwrap();
    assert!(v.is_clean(), "{:?}", v.findings);
    let store = EmbeddedStore::open(cfg).unwrap();
    assert_eq!(answers(&store), want);
    drop(store);
    // A cold segment altered on the other disk is reported by verify and quarantined at open.
    let f = files(&other.path().join("main")).remove(0);
    let mut b = std::fs::read(&f).unwrap();
    b[100] ^= 1;
    std::fs::write(&f, b).unwrap();
    let v = verify(dir.path()).unwrap();
    assert_eq!(v.findings.len(), 1, "{:?}", v.findings);
    assert!(v.findings[0].file.starts_with("cold/"), "{:?}", v.findings);
    let mut cfg = config(dir.path());
    cfg.tiers.cold_dir = Some(other.path().to_owned());
    let store = EmbeddedStore::open(cfg).unwrap();
    assert_eq!(store.stats(&TenantId::main()).unwrap().corrupt_segments, 1);
}

#[test]
fn interrupted_rewrites_are_cleaned_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(config(dir.path())).unwrap();
    fill(&store, 400);
    let want = answers(&store);
    let before = hot(dir.path());
    store.maintain(Timestamp(BASE)).unwrap();
    store.close().unwrap();
    drop(store);
    let after = hot(dir.path());
    assert!(after.len() < before.len());
    // Crash after the manifest line, before the deletes: the replaced files come back.
    let merged: Vec<_> = after
        .iter()
        .filter(|p| !before.contains(p))
        .cloned()
        .collect();
    assert!(!merged.is_empty());
    for p in &before {
        if !after.contains(p) {
            // recreate a replaced file (any bytes: it is deleted, never read)
            std::fs::write(p, b"replaced").unwrap();
        }
    }
    // Crash before the manifest line: an unlisted copy of a merged file overlapping live ones.
    let orphan = dir.path().join("events/main/segments").join(
        merged[0].file_name().unwrap().to_str().unwrap().replacen(
            "00000000000000000001-",
            "00000000000000000002-",
            1,
        ),
    );
    std::fs::copy(&merged[0], &orphan).unwrap();
    let store = EmbeddedStore::open(config(dir.path())).unwrap();
    assert_eq!(answers(&store), want);
    assert_eq!(hot(dir.path()), after);
    drop(store);
    let v = verify(dir.path()).unwrap();
    assert!(v.is_clean(), "{:?}", v.findings);
}

#[test]
fn few_or_large_segments_are_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.spaces.hot_age = None;
    let store = EmbeddedStore::open(cfg).unwrap();
    fill(&store, 200);
    let r = store.maintain(Timestamp::MAX).unwrap();
    assert_eq!(r, Default::default());
    assert_eq!(hot(dir.path()).len(), 2);
}

#[test]
fn bad_tier_options_are_listed_together() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.tiers.cold_zstd_level = 30;
    cfg.tiers.merge_min_segments = 1;
    let err = EmbeddedStore::open(cfg).unwrap_err().to_string();
    assert!(err.contains("cold_zstd_level"), "{err}");
    assert!(err.contains("merge_min_segments"), "{err}");
}

fn write_keys(p: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(p, text).unwrap();
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o600)).unwrap();
}

const KEY_A: &str = "1:000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
const KEY_B: &str = "2:f0e0d0c0b0a090807060504030201000f1e1d1c1b1a191817161514131211101";

/// Encryption, key rotation, retention and the cold tier (in another directory, for a
/// storage space too) on the same Parquet files, with one manifest that verify follows.
#[test]
fn encrypted_cold_tier_with_spaces_rotation_and_retention() {
    use vigil_store::embedded::{KeySource, ManualClock, SpaceConfig, TenantSpaces};
    let dir = tempfile::tempdir().unwrap();
    let other = tempfile::tempdir().unwrap();
    let keys = dir.path().join("storage.keys");
    write_keys(&keys, &format!("{KEY_A}\n"));
    let data = dir.path().join("data");
    let mut cfg = config(&data);
    cfg.keys = Some(KeySource::File(keys.clone()));
    cfg.tiers.cold_dir = Some(other.path().to_owned());
    // the clock searches and sealing see: a day after the first event (nothing past retention)
    cfg.clock = std::sync::Arc::new(ManualClock::new(Timestamp(BASE + 25 * HOUR)));
    // sudo events go to their own space, kept 2 days; everything else forever
    cfg.spaces.tenants.insert(
        "main".into(),
        TenantSpaces {
            spaces: vec![SpaceConfig {
                name: "sudo".into(),
                condition: "process.name:sudo".into(),
                retention: Some(Duration::from_secs(2 * 86_400)),
                hot_age: None,
            }],
            ..TenantSpaces::default()
        },
    );
    let t = TenantId::main();
    let store = EmbeddedStore::open(cfg.clone()).unwrap();
    fill(&store, 1000);
    let want = answers(&store);
    let r = store.maintain(Timestamp(BASE + 48 * HOUR)).unwrap();
    assert!(r.moved_to_cold > 0, "{r:?}");
    assert_eq!(store.stats(&t).unwrap().cold_events, 1000);
    assert_eq!(answers(&store), want);
    // cold files of both spaces are on the other disk, encrypted under key 1
    let cold_default = files(&other.path().join("main"));
    let cold_sudo = files(&other.path().join("main/spaces/sudo"));
    assert!(!cold_default.is_empty() && !cold_sudo.is_empty());
    for f in cold_default.iter().chain(&cold_sudo) {
        let b = std::fs::read(f).unwrap();
        assert!(b.starts_with(b"VIGILENC"), "{}", f.display());
        assert!(!b.windows(15).any(|w| w == b"Failed password"));
    }
    assert_eq!(
        store.keys_in_use().get(&Some(1)).copied(),
        Some((cold_default.len() + cold_sudo.len()) as u64)
    );
    // rotation re-encrypts the cold files in place (a `reencrypt` entry each)
    write_keys(&keys, &format!("{KEY_A}\n{KEY_B}\n"));
    let rep = store.rekey_now().unwrap();
    assert_eq!(rep.remaining, 0);
    assert_eq!(
        rep.files_reencrypted,
        (cold_default.len() + cold_sudo.len()) as u64
    );
    assert_eq!(store.keys_in_use().keys().collect::<Vec<_>>(), [&Some(2)]);
    assert_eq!(answers(&store), want);
    // retention deletes the sudo space's cold files (a `delete` entry each), nothing else
    let rep = store
        .run_retention(Timestamp(BASE + 5 * 24 * HOUR))
        .unwrap();
    assert_eq!(rep.segments_deleted, cold_sudo.len() as u64, "{rep:?}");
    assert_eq!(rep.events_deleted, 200);
    assert!(files(&other.path().join("main/spaces/sudo")).is_empty());
    let r = store
        .aggregate(
            &t,
            &AggregateRequest::parse("NOT vigil.type:audit | count").unwrap(),
        )
        .unwrap();
    assert_eq!(r.table.get(0, "count"), Some(&Value::Int(800)));
    store.close().unwrap();
    drop(store);
    let v = verify(&data).unwrap();
    assert!(v.is_clean(), "{:?}", v.findings);
    // reopened with key 2 only: the same answers from the re-encrypted cold tier
    write_keys(&keys, &format!("{KEY_B}\n"));
    let store = EmbeddedStore::open(cfg).unwrap();
    let r = store
        .aggregate(
            &t,
            &AggregateRequest::parse("NOT vigil.type:audit | count").unwrap(),
        )
        .unwrap();
    assert_eq!(r.table.get(0, "count"), Some(&Value::Int(800)));
    assert_eq!(store.stats(&t).unwrap().corrupt_segments, 0);
}
