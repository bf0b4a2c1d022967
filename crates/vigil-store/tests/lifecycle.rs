//! Storage spaces, retention with an injected clock, the audit trail, full-disk protection
//! (on a real, small tmpfs) and encryption at rest with key rotation.

// Tests read back small files they wrote themselves.
#![allow(
    clippy::disallowed_methods,
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::panic
)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use vigil_event::{Bytes, Event, SmolStr, Timestamp};
use vigil_store::audit::AuditLog;
use vigil_store::embedded::{
    Clock, EmbeddedConfig, EmbeddedStore, FindingKind, KeySource, ManualClock, SpaceConfig,
    SpacesConfig, TenantSpaces, verify,
};
use vigil_store::{AggregateRequest, EventStore, SearchRequest, StoreError, TenantId};

const T0: i64 = 1_800_000_000_000_000_000;
const MIN: i64 = 60_000_000_000;

fn event(i: u64, ts: i64, kind: &str) -> Event {
    let mut ev = Event::new(Bytes::from(format!(
        "<86>May  1 00:00:00 host-{} sshd[{i}]: Failed password for root seq{i}",
        i % 3
    )));
    ev.meta.tenant = SmolStr::new("main");
    ev.timestamp = Timestamp(ts + i as i64);
    match kind {
        "fw" => ev.observer.r#type = Some("firewall".into()),
        "alert" => ev.event.kind = Some("alert".into()),
        _ => {}
    }
    ev
}

/// An event with 4 KiB of incompressible hex: 100 of them make a segment of several
/// encryption chunks.
fn big_event(i: u64, ts: i64) -> Event {
    let mut x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut hex = String::with_capacity(4096);
    while hex.len() < 4096 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        hex.push_str(&format!("{x:016x}"));
    }
    let mut ev = event(i, ts, "");
    ev.raw = Bytes::from(format!(
        "<86>May  1 00:00:00 host sshd[{i}]: Failed password for root seq{i} {hex}"
    ));
    ev
}

fn batch(from: u64, n: u64, ts: i64, kind: &str) -> Vec<Event> {
    (from..from + n).map(|i| event(i, ts, kind)).collect()
}

fn spaces() -> SpacesConfig {
    let mut s = SpacesConfig::default();
    s.tenants.insert(
        "main".into(),
        TenantSpaces {
            retention: None,
            hot_age: None,
            spaces: vec![
                SpaceConfig {
                    name: "alerts".into(),
                    condition: "event.kind:alert".into(),
                    retention: Some(Duration::from_secs(365 * 86_400)),
                    hot_age: None,
                },
                SpaceConfig {
                    name: "fw".into(),
                    condition: "observer.type = \"firewall\"".into(),
                    retention: Some(Duration::from_secs(3600)),
                    // segments move to the cold tier after 6 minutes
                    hot_age: Some(Duration::from_secs(360)),
                },
            ],
        },
    );
    s
}

fn config(dir: &Path, clock: &Arc<ManualClock>) -> EmbeddedConfig {
    let mut c = EmbeddedConfig::new(dir);
    c.segment_max_events = 1000;
    c.block_events = 64;
    c.fsync_interval = Duration::from_millis(20);
    c.spaces = spaces();
    c.clock = clock.clone();
    // the tests drive retention themselves
    c.retention_interval = Duration::from_secs(3600);
    c.min_free_bytes = 0;
    c.min_free_percent = 0.0;
    // the tests run merge and tiering passes themselves
    c.tiers.interval = None;
    c
}

fn count(store: &EmbeddedStore, q: &str, space: Option<&str>) -> usize {
    let mut req = SearchRequest::parse(q, 100_000).unwrap();
    req.space = space.map(str::to_owned);
    store.search(&TenantId::main(), &req).unwrap().events.len()
}

fn seg_files(dir: &Path) -> Vec<PathBuf> {
    match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "parquet"))
            .collect(),
        Err(_) => Vec::new(),
    }
}

fn audit(dir: &Path) -> Vec<serde_json::Value> {
    AuditLog::read(&dir.join("audit/audit.log"), 1 << 20).unwrap()
}

#[test]
fn spaces_route_events_and_searches_cover_all_of_them() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(Timestamp(T0)));
    let t = TenantId::main();
    {
        let store = EmbeddedStore::open(config(dir.path(), &clock)).unwrap();
        let mut mixed = batch(0, 30, T0 - 30 * MIN, "");
        mixed.extend(batch(30, 20, T0 - 20 * MIN, "fw"));
        mixed.extend(batch(50, 10, T0 - 10 * MIN, "alert"));
        let lsn = store.append(&t, &mixed).unwrap();
        assert_eq!(lsn, 60);
        store
            .wait_durable(&t, lsn, Duration::from_secs(10))
            .unwrap();
        assert_eq!(count(&store, "", None), 60);
        assert_eq!(count(&store, "", Some("fw")), 20);
        assert_eq!(count(&store, "", Some("alerts")), 10);
        assert_eq!(count(&store, "", Some("default")), 30);
        let err = store
            .search(&t, &SearchRequest::parse("", 10).unwrap().in_space("nope"))
            .unwrap_err();
        assert!(
            err.to_string().contains("has no storage space 'nope'"),
            "{err}"
        );
        // newest first across spaces: the alerts are the newest
        let r = store
            .search(&t, &SearchRequest::parse("", 5).unwrap())
            .unwrap();
        assert!(
            r.events
                .iter()
                .all(|e| e.event.kind.as_deref() == Some("alert"))
        );
        // aggregation sums the spaces
        let agg = store
            .aggregate(&t, &AggregateRequest::parse("| count").unwrap())
            .unwrap();
        assert_eq!(
            agg.table.rows[0].cells[0],
            Some(vigil_query::Value::Int(60))
        );
        let agg = store
            .aggregate(
                &t,
                &AggregateRequest::parse("| count").unwrap().in_space("fw"),
            )
            .unwrap();
        assert_eq!(
            agg.table.rows[0].cells[0],
            Some(vigil_query::Value::Int(20))
        );
        let s = store.stats(&t).unwrap();
        assert_eq!((s.events, s.last_lsn), (60, 60));
        store.flush(&t).unwrap();
        assert_eq!(store.stats(&t).unwrap().durable_lsn, 60);
        store.close().unwrap();
    }
    let fw = dir.path().join("events/main/spaces/fw");
    assert_eq!(seg_files(&fw.join("segments")).len(), 1);
    assert_eq!(seg_files(&dir.path().join("events/main/segments")).len(), 1);
    let r = verify(dir.path()).unwrap();
    assert!(r.is_clean(), "{:?}", r.findings);
    assert_eq!(r.segments_verified, 3);
    // reopened: same answers, LSNs continue
    let store = EmbeddedStore::open(config(dir.path(), &clock)).unwrap();
    assert_eq!(count(&store, "", None), 60);
    assert_eq!(count(&store, "", Some("fw")), 20);
    assert_eq!(store.append(&t, &batch(60, 5, T0, "fw")).unwrap(), 65);
    assert_eq!(store.spaces(&t).len(), 3);
}

#[test]
fn retention_deletes_past_age_from_both_tiers_audits_and_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(Timestamp(T0)));
    let t = TenantId::main();
    let fw = dir.path().join("events/main/spaces/fw");
    {
        let store = EmbeddedStore::open(config(dir.path(), &clock)).unwrap();
        store
            .append(&t, &batch(0, 100, T0 - 10 * MIN, "fw"))
            .unwrap();
        store.flush(&t).unwrap();
        // the first segment moves to the cold tier (the space's hot age is 6 minutes)
        let r = store.maintain(clock.now()).unwrap();
        assert_eq!(r.moved_to_cold, 1, "{r:?}");
        store.close().unwrap();
    }
    assert!(seg_files(&fw.join("segments")).is_empty());
    assert_eq!(seg_files(&fw.join("cold")).len(), 1);
    assert!(verify(dir.path()).unwrap().is_clean());
    let store = EmbeddedStore::open(config(dir.path(), &clock)).unwrap();
    store
        .append(&t, &batch(100, 50, T0 - 5 * MIN, "fw"))
        .unwrap();
    store.flush(&t).unwrap();
    store.append(&t, &batch(150, 40, T0 - 5 * MIN, "")).unwrap();
    store.flush(&t).unwrap();
    assert_eq!(count(&store, "", Some("fw")), 150);
    assert!(verify(dir.path()).unwrap().is_clean());

    // an hour and a bit later: past the space's age, invisible at once ...
    clock.advance(Duration::from_secs(3600 + 60));
    assert_eq!(count(&store, "", Some("fw")), 0);
    assert_eq!(count(&store, "", None), 40);
    // ... and gone from both tiers after the retention pass
    let rep = store.run_retention(clock.now()).unwrap();
    assert_eq!((rep.segments_deleted, rep.events_deleted), (2, 150));
    assert!(seg_files(&fw.join("segments")).is_empty());
    assert!(seg_files(&fw.join("cold")).is_empty());
    // the default space keeps everything
    assert_eq!(seg_files(&dir.path().join("events/main/segments")).len(), 1);

    let deletions: Vec<_> = audit(dir.path())
        .into_iter()
        .filter(|r| r["action"] == "storage.retention.delete")
        .collect();
    assert_eq!(deletions.len(), 2, "{deletions:?}");
    for d in &deletions {
        assert_eq!(d["actor"], "system:retention");
        assert_eq!(d["tenant"], "main");
        assert_eq!(d["space"], "fw");
        assert!(d["file"].as_str().unwrap().ends_with(".parquet"));
        assert!(d["from"].is_string() && d["to"].is_string());
    }
    let evs: u64 = deletions
        .iter()
        .map(|d| d["events"].as_u64().unwrap())
        .sum();
    assert_eq!(evs, 150);
    // analysts find the deletions with a search
    assert_eq!(
        count(
            &store,
            "vigil.type:audit AND event.action:\"storage.retention.delete\"",
            None
        ),
        2
    );
    let s = store.stats(&t).unwrap();
    assert_eq!(s.retention_segments_deleted, 2);

    // the manifest records the deletions: nothing reported missing
    store.flush(&t).unwrap();
    let r = verify(dir.path()).unwrap();
    assert!(r.is_clean(), "{:?}", r.findings);

    // a memtable entirely past its age is dropped instead of sealed; its WAL goes
    store
        .append(
            &t,
            &batch(200, 30, clock.now().0 - 3 * 3600 * 1_000_000_000, "fw"),
        )
        .unwrap();
    assert_eq!(count(&store, "", Some("fw")), 0);
    store.run_retention(clock.now()).unwrap();
    assert!(seg_files(&fw.join("segments")).is_empty());
    let wal_files: Vec<_> = std::fs::read_dir(fw.join("wal"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(wal_files.is_empty(), "{wal_files:?}");
    assert!(
        audit(dir.path())
            .iter()
            .any(|r| r["action"] == "storage.retention.expire" && r["events"] == 30)
    );
    store.close().unwrap();
    drop(store);

    // after reopening, LSNs are not reused (the manifest remembers the deleted ranges)
    let store = EmbeddedStore::open(config(dir.path(), &clock)).unwrap();
    store
        .append(&t, &batch(300, 10, clock.now().0, "fw"))
        .unwrap();
    store.flush(&t).unwrap();
    assert_eq!(count(&store, "", Some("fw")), 10);
    store.close().unwrap();
    let r = verify(dir.path()).unwrap();
    assert!(r.is_clean(), "{:?}", r.findings);
    // removing a segment behind the store's back is still reported
    let left = seg_files(&fw.join("segments"));
    std::fs::remove_file(&left[0]).unwrap();
    let r = verify(dir.path()).unwrap();
    assert_eq!(
        r.findings.iter().map(|f| f.kind).collect::<Vec<_>>(),
        vec![FindingKind::Missing]
    );
    assert!(r.findings[0].file.starts_with("spaces/fw/"));
}

/// Mounts a tmpfs of `mib` MiB at `dir`; `None` when not permitted.
fn tmpfs(dir: &Path, mib: u64) -> Option<Mount> {
    std::fs::create_dir_all(dir).unwrap();
    let ok = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"])
        .arg(dir)
        .output()
        .is_ok_and(|o| o.status.success());
    ok.then(|| Mount(dir.to_owned()))
}

struct Mount(PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn full_disk_refuses_new_events_keeps_accepted_ones_and_resumes() {
    let base = tempfile::tempdir().unwrap();
    let mnt = base.path().join("mnt");
    let Some(_mount) = tmpfs(&mnt, 16) else {
        eprintln!("skipping: cannot mount a tmpfs here (needs root)");
        return;
    };
    let clock = Arc::new(ManualClock::new(Timestamp(T0)));
    let mut c = config(&mnt, &clock);
    c.min_free_bytes = 4 << 20;
    c.disk_check_interval = Duration::ZERO;
    let t = TenantId::main();
    let store = EmbeddedStore::open(c.clone()).unwrap();
    // leave about 2.5 MiB above the reserve
    let (free, _) = free_space(&mnt);
    let filler = mnt.join("filler");
    std::fs::write(&filler, vec![0u8; (free - (13 << 19)) as usize]).unwrap();
    let mut accepted = 0u64;
    // incompressible events, so that the disk fills whatever the segment format's ratio
    let err = loop {
        let big: Vec<Event> = (accepted..accepted + 50)
            .map(|i| big_event(i, T0))
            .collect();
        match store.append(&t, &big) {
            Ok(_) => accepted += 50,
            Err(e) => break e,
        }
        assert!(accepted < 90_000, "never refused");
    };
    assert!(matches!(err, StoreError::DiskFull { .. }), "{err}");
    assert!(err.to_string().contains("disk full"), "{err}");
    assert!(accepted > 0);
    let s = store.stats(&t).unwrap();
    assert_eq!(s.disk_full, 1);
    assert!(s.appends_refused_disk_full >= 1);
    assert!(
        audit(&mnt)
            .iter()
            .any(|r| r["action"] == "storage.disk_full"),
        "{:?}",
        audit(&mnt)
    );
    // sealing frees WAL space (segments are smaller): take it again, still refused
    store.flush(&t).unwrap();
    let (free, _) = free_space(&mnt);
    let filler2 = mnt.join("filler2");
    if free > 2 << 20 {
        std::fs::write(&filler2, vec![0u8; (free - (2 << 20)) as usize]).unwrap();
    }
    assert!(matches!(
        store.append(&t, &batch(0, 1, T0, "")),
        Err(StoreError::DiskFull { .. })
    ));
    assert_eq!(count(&store, "", None) as u64, accepted);
    // space comes back: accepted again
    std::fs::remove_file(&filler).unwrap();
    let _ = std::fs::remove_file(&filler2);
    store.append(&t, &batch(accepted, 10, T0, "")).unwrap();
    accepted += 10;
    assert_eq!(store.stats(&t).unwrap().disk_full, 0);
    assert!(
        audit(&mnt)
            .iter()
            .any(|r| r["action"] == "storage.disk_resumed")
    );
    store.close().unwrap();
    drop(store);
    // nothing accepted was lost
    let store = EmbeddedStore::open(c).unwrap();
    assert_eq!(count(&store, "", None) as u64, accepted);
}

fn free_space(p: &Path) -> (u64, u64) {
    let out = std::process::Command::new("df")
        .args(["-B1", "--output=avail,size"])
        .arg(p)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().nth(1).unwrap();
    let mut it = line.split_whitespace().map(|x| x.parse::<u64>().unwrap());
    (it.next().unwrap(), it.next().unwrap())
}

const KEY_A: &str = "1:000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
const KEY_B: &str = "2:f0e0d0c0b0a090807060504030201000f1e1d1c1b1a191817161514131211101";
const KEY_B_WRONG: &str = "2:aaaad0c0b0a090807060504030201000f1e1d1c1b1a191817161514131211101";

fn write_keys(p: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(p, text).unwrap();
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o600)).unwrap();
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn encryption_at_rest_with_rotation_wrong_key_and_tampering() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("storage.keys");
    write_keys(&keys, &format!("{KEY_A}\n"));
    let clock = Arc::new(ManualClock::new(Timestamp(T0)));
    let mut c = config(&dir.path().join("data"), &clock);
    c.spaces = SpacesConfig::default();
    c.keys = Some(KeySource::File(keys.clone()));
    let data = dir.path().join("data");
    let t = TenantId::main();
    {
        let store = EmbeddedStore::open(c.clone()).unwrap();
        let big: Vec<Event> = (0..100).map(|i| big_event(i, T0)).collect();
        store.append(&t, &big).unwrap();
        store.flush(&t).unwrap();
        for b in 1..3 {
            store.append(&t, &batch(b * 100, 100, T0, "")).unwrap();
            store.flush(&t).unwrap();
        }
        let lsn = store.append(&t, &batch(300, 10, T0, "")).unwrap();
        store
            .wait_durable(&t, lsn, Duration::from_secs(10))
            .unwrap();
        // dropped without close: the last 10 events are only in the (encrypted) WAL
    }
    let segs = seg_files(&data.join("events/main/segments"));
    assert_eq!(segs.len(), 3);
    for p in segs.iter().chain(
        std::fs::read_dir(data.join("events/main/wal"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect::<Vec<_>>()
            .iter(),
    ) {
        let b = std::fs::read(p).unwrap();
        assert!(
            !contains(&b, b"Failed password"),
            "plaintext in {}",
            p.display()
        );
    }
    // a key file readable by others is refused
    std::fs::set_permissions(&keys, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    let e = EmbeddedStore::open(c.clone()).unwrap_err();
    assert!(e.to_string().contains("chmod 600"), "{e}");
    write_keys(&keys, &format!("{KEY_A}\n"));

    // rotate: B becomes current, every file is re-encrypted
    write_keys(&keys, &format!("{KEY_A}\n{KEY_B}\n"));
    {
        let store = EmbeddedStore::open(c.clone()).unwrap();
        assert_eq!(count(&store, "NOT vigil.type:audit", None), 310);
        let rep = store.rekey_now().unwrap();
        assert_eq!(rep.remaining, 0);
        assert_eq!(rep.files_reencrypted, 3);
        let used = store.keys_in_use();
        assert_eq!(used.get(&Some(2)), Some(&4), "{used:?}"); // + the replayed WAL, sealed
        assert_eq!(used.len(), 1, "{used:?}");
        store.close().unwrap();
    }
    assert!(
        audit(&data)
            .iter()
            .any(|r| r["action"] == "storage.reencrypt.done")
    );
    let r = verify(&data).unwrap();
    assert!(r.is_clean(), "{:?}", r.findings);
    assert_eq!(r.segments_verified, 4);
    // A removed: everything still readable
    write_keys(&keys, &format!("{KEY_B}\n"));
    {
        let store = EmbeddedStore::open(c.clone()).unwrap();
        assert_eq!(count(&store, "NOT vigil.type:audit", None), 310);
        assert_eq!(count(&store, "seq305", None), 1);
        store.close().unwrap();
    }
    // wrong material under id 2: a clear error, nothing quarantined
    write_keys(&keys, &format!("{KEY_B_WRONG}\n"));
    let e = EmbeddedStore::open(c.clone()).unwrap_err();
    assert!(matches!(e, StoreError::Key(_)), "{e}");
    assert!(e.to_string().contains("different key 2"), "{e}");
    assert_eq!(
        std::fs::read_dir(data.join("events/main/quarantine"))
            .unwrap()
            .count(),
        0
    );
    write_keys(&keys, &format!("{KEY_B}\n"));

    // a flipped byte inside a block: the read fails authentication, the file is quarantined
    let segs = {
        let mut v = seg_files(&data.join("events/main/segments"));
        v.sort();
        v
    };
    let mut b = std::fs::read(&segs[0]).unwrap();
    assert!(b.len() > 3 * 65_536, "{}", b.len());
    // inside the second chunk: neither the header (first chunk) nor the index (last) is there
    b[48 + 65_536 + 16 + 100] ^= 0x10;
    std::fs::write(&segs[0], &b).unwrap();
    // (without the SHA-256 check at open, which would quarantine it before any read)
    let mut no_check = c.clone();
    no_check.verify_on_open = false;
    let store = EmbeddedStore::open(no_check).unwrap();
    let e = store
        .search(&t, &SearchRequest::parse("", 100_000).unwrap())
        .unwrap_err();
    assert!(e.to_string().contains("failed authentication"), "{e}");
    assert!(!segs[0].exists());
    assert_eq!(
        std::fs::read_dir(data.join("events/main/quarantine"))
            .unwrap()
            .count(),
        1
    );
    assert_eq!(count(&store, "NOT vigil.type:audit", None), 210);
    assert!(
        audit(&data)
            .iter()
            .any(|r| r["action"] == "storage.quarantine")
    );
    store.close().unwrap();
    drop(store);
    // a flipped byte in the index at the end of a file: quarantined when the store opens
    let mut b = std::fs::read(&segs[1]).unwrap();
    let n = b.len();
    b[n - 30] ^= 1;
    std::fs::write(&segs[1], &b).unwrap();
    let store = EmbeddedStore::open(c).unwrap();
    assert_eq!(store.stats(&t).unwrap().corrupt_segments, 1);
    assert_eq!(count(&store, "NOT vigil.type:audit", None), 110);
    let kinds: Vec<_> = verify(&data)
        .unwrap()
        .findings
        .iter()
        .map(|f| f.kind)
        .collect();
    assert!(kinds.contains(&FindingKind::Quarantined), "{kinds:?}");
}

#[test]
fn a_running_store_picks_up_a_rotated_key_file_and_reencrypts_in_the_background() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("storage.keys");
    write_keys(&keys, &format!("{KEY_A}\n"));
    let clock = Arc::new(ManualClock::new(Timestamp(T0)));
    let data = dir.path().join("data");
    let mut c = config(&data, &clock);
    c.spaces = SpacesConfig::default();
    c.keys = Some(KeySource::File(keys.clone()));
    c.key_reload_interval = Duration::from_millis(50);
    let t = TenantId::main();
    let store = EmbeddedStore::open(c).unwrap();
    for b in 0..3 {
        store.append(&t, &batch(b * 100, 100, T0, "")).unwrap();
        store.flush(&t).unwrap();
    }
    // still being written: ends up sealed under the new key
    store.append(&t, &batch(300, 5, T0, "")).unwrap();
    assert_eq!(store.keys_in_use().get(&Some(1)), Some(&3));
    write_keys(&keys, &format!("{KEY_A}\n{KEY_B}\n"));
    let mut waited = 0;
    while store.keys_in_use().keys().ne([Some(2)].iter()) {
        assert!(waited < 600, "not re-encrypted: {:?}", store.keys_in_use());
        std::thread::sleep(Duration::from_millis(50));
        waited += 1;
    }
    assert_eq!(store.keys_in_use().get(&Some(2)), Some(&4));
    // dropping key 2 while files use it is refused: the running keyring stays
    write_keys(&keys, &format!("{KEY_A}\n"));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(count(&store, "NOT vigil.type:audit", None), 305);
    write_keys(&keys, &format!("{KEY_B}\n"));
    let mut waited = 0;
    while !audit(&data)
        .iter()
        .any(|r| r["action"] == "storage.reencrypt.done")
    {
        assert!(waited < 600, "{:?}", audit(&data));
        std::thread::sleep(Duration::from_millis(50));
        waited += 1;
    }
    let actions: Vec<String> = audit(&data)
        .iter()
        .map(|r| r["action"].as_str().unwrap_or("").to_owned())
        .collect();
    assert!(
        actions.contains(&"storage.key.rotated".to_owned()),
        "{actions:?}"
    );
    assert_eq!(
        actions.iter().filter(|a| *a == "storage.reencrypt").count(),
        3,
        "{actions:?}"
    );
    store.close().unwrap();
    let r = verify(&data).unwrap();
    assert!(r.is_clean(), "{:?}", r.findings);
}

#[test]
fn retention_set_at_run_time_hides_deletes_audits_and_survives_a_restart() {
    use vigil_store::RetentionSetting;
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(Timestamp(T0)));
    let t = TenantId::main();
    let store = EmbeddedStore::open(config(dir.path(), &clock)).unwrap();
    // two hours old, in the default space (kept forever by the configuration)
    store.append(&t, &batch(0, 30, T0 - 120 * MIN, "")).unwrap();
    store.flush(&t).unwrap();
    let info = store.storage_spaces(&t).unwrap();
    assert_eq!(
        info.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
        ["default", "alerts", "fw"]
    );
    let d = &info[0];
    assert_eq!(
        (d.retention, d.retention_overridden, d.events, d.segments),
        (None, false, 30, 1)
    );
    assert!(d.bytes > 0 && d.oldest.is_some() && d.newest >= d.oldest);
    // unknown space, zero retention: refused, nothing changes
    assert!(
        store
            .set_space_retention(&t, "nope", RetentionSetting::Forever, "admin")
            .is_err()
    );
    assert!(matches!(
        store.set_space_retention(
            &t,
            "default",
            RetentionSetting::For(Duration::ZERO),
            "admin"
        ),
        Err(StoreError::Invalid(_))
    ));
    // one hour: the events are hidden at once, deleted by the next pass, audited
    let set = store
        .set_space_retention(
            &t,
            "default",
            RetentionSetting::For(Duration::from_secs(3600)),
            "admin",
        )
        .unwrap();
    assert_eq!(
        (
            set.retention,
            set.configured_retention,
            set.retention_overridden
        ),
        (Some(Duration::from_secs(3600)), None, true)
    );
    assert_eq!(count(&store, "", Some("default")), 0);
    let rep = store.run_retention(clock.now()).unwrap();
    assert_eq!(rep.events_deleted, 30);
    let changes: Vec<_> = audit(dir.path())
        .into_iter()
        .filter(|r| r["action"] == "storage.retention.set")
        .collect();
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(
        (
            &changes[0]["actor"],
            &changes[0]["tenant"],
            &changes[0]["space"]
        ),
        (&"admin".into(), &"main".into(), &"default".into())
    );
    assert_eq!(changes[0]["detail"], "retention forever -> 1h");
    // the setting outlives a restart ...
    store.close().unwrap();
    drop(store);
    let store = EmbeddedStore::open(config(dir.path(), &clock)).unwrap();
    assert_eq!(
        store.storage_spaces(&t).unwrap()[0].retention,
        Some(Duration::from_secs(3600))
    );
    // ... a space's own: the others keep the configuration's
    let fw = store
        .set_space_retention(&t, "fw", RetentionSetting::Forever, "admin")
        .unwrap();
    assert_eq!(
        (fw.retention, fw.configured_retention),
        (None, Some(Duration::from_secs(3600)))
    );
    // back to the configuration: the file goes
    let back = store
        .set_space_retention(&t, "default", RetentionSetting::Configured, "admin")
        .unwrap();
    assert_eq!((back.retention, back.retention_overridden), (None, false));
    assert!(!dir.path().join("events/main/retention.override").exists());
    assert!(
        dir.path()
            .join("events/main/spaces/fw/retention.override")
            .exists()
    );
    // a damaged file never deletes more: it reads as forever
    std::fs::write(
        dir.path()
            .join("events/main/spaces/alerts/retention.override"),
        "garbage",
    )
    .unwrap();
    store.close().unwrap();
    drop(store);
    let store = EmbeddedStore::open(config(dir.path(), &clock)).unwrap();
    let alerts = &store.storage_spaces(&t).unwrap()[1];
    assert_eq!(
        (alerts.retention, alerts.retention_overridden),
        (None, true)
    );
    assert!(verify(dir.path()).unwrap().is_clean());
    store.close().unwrap();
}
