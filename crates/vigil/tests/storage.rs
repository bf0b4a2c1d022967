//! `vigil storage verify` against clean and tampered data directories.

// Tests read back small files they wrote themselves.
#![allow(
    clippy::disallowed_methods,
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::panic
)]

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use vigil_event::{Bytes, Event, SmolStr, Timestamp};
use vigil_store::embedded::{EmbeddedConfig, EmbeddedStore};
use vigil_store::{EventStore, TenantId};

fn vigil() -> Command {
    Command::new(env!("CARGO_BIN_EXE_vigil"))
}

fn fill(dir: &Path) {
    let mut c = EmbeddedConfig::new(dir);
    c.segment_max_events = 50;
    c.block_events = 16;
    c.fsync_interval = Duration::from_millis(20);
    let store = EmbeddedStore::open(c).unwrap();
    let t = TenantId::main();
    for b in 0..3u64 {
        let batch: Vec<Event> = (b * 50..b * 50 + 50)
            .map(|i| {
                let mut ev = Event::new(Bytes::from(format!("<86>host sshd[{i}]: hello {i}")));
                ev.meta.tenant = SmolStr::new("main");
                ev.timestamp = Timestamp(1_700_000_000_000_000_000 + i as i64);
                ev
            })
            .collect();
        store.append(&t, &batch).unwrap();
        store.flush(&t).unwrap();
    }
    store.close().unwrap();
}

#[test]
fn verify_is_clean_then_reports_a_flipped_byte() {
    let dir = tempfile::tempdir().unwrap();
    fill(dir.path());
    let out = vigil()
        .args(["storage", "verify", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("3 segment(s) verified: OK"), "{stdout}");

    let seg_dir = dir.path().join("events/main/segments");
    let mut segs: Vec<_> = std::fs::read_dir(&seg_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    segs.sort();
    let mut b = std::fs::read(&segs[0]).unwrap();
    b[20] ^= 0x80;
    std::fs::write(&segs[0], b).unwrap();
    std::fs::remove_file(&segs[2]).unwrap();
    let out = vigil()
        .args(["storage", "verify", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let name0 = segs[0].file_name().unwrap().to_str().unwrap();
    let name2 = segs[2].file_name().unwrap().to_str().unwrap();
    assert!(
        stdout.contains(&format!("tenant main: {name0}: altered")),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("tenant main: {name2}: missing")),
        "{stdout}"
    );
    assert!(stdout.contains("2 finding(s)"), "{stdout}");

    let out = vigil()
        .args(["storage", "verify", "--format", "json", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["findings"][0]["kind"], "altered");
    assert_eq!(v["segments_verified"], 1);
}

#[test]
fn verify_of_a_missing_directory_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = vigil()
        .args(["storage", "verify", "--data-dir"])
        .arg(dir.path().join("nope"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

fn run_ok(args: &[&str], extra: &[&Path]) -> String {
    let mut c = vigil();
    c.args(args);
    for p in extra {
        c.arg(p);
    }
    let out = c.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Whether a segment is stored in plain: a Parquet file (`PAR1`), not the encrypted
/// container (`VIGILENC`). (Plain Parquet pages are zstd-compressed, so the events' text is
/// not a reliable marker.)
fn plaintext_in_segments(dir: &Path) -> bool {
    std::fs::read_dir(dir.join("events/main/segments"))
        .unwrap()
        .map(|e| std::fs::read(e.unwrap().path()).unwrap())
        .any(|b| !b.starts_with(b"VIGILENC"))
}

#[test]
fn rotate_key_encrypts_a_plain_store_then_rotates_and_verify_stays_clean() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    fill(&data);
    assert!(plaintext_in_segments(&data));
    let keys = dir.path().join("storage.keys");
    let d = data.to_str().unwrap();
    let k = keys.to_str().unwrap();
    // no key file yet: created with key 1, every plain segment encrypted
    let out = run_ok(
        &["storage", "rotate-key", "--data-dir", d, "--key-file", k],
        &[],
    );
    assert!(out.contains("key 1 (fingerprint"), "{out}");
    assert!(out.contains("re-encrypted 3 file(s)"), "{out}");
    assert!(!plaintext_in_segments(&data));
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&keys).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let out = run_ok(&["storage", "verify", "--data-dir", d], &[]);
    assert!(out.contains("3 segment(s) verified: OK"), "{out}");
    // a given key becomes key 2
    let new_key = dir.path().join("new.key");
    std::fs::write(
        &new_key,
        "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n",
    )
    .unwrap();
    let out = run_ok(
        &[
            "storage",
            "rotate-key",
            "--data-dir",
            d,
            "--key-file",
            k,
            "--new-key-file",
            new_key.to_str().unwrap(),
        ],
        &[],
    );
    assert!(out.contains("re-encrypted 3 file(s)"), "{out}");
    assert!(
        out.contains("key(s) 1 may be removed") || out.contains("no sealed file uses key(s) 1"),
        "{out}"
    );
    let out = run_ok(&["storage", "keys", "--data-dir", d, "--key-file", k], &[]);
    assert!(out.contains("key 1  fingerprint"), "{out}");
    assert!(out.contains("sealed files 0"), "{out}");
    assert!(out.contains("key 2 (current)"), "{out}");
    assert!(out.contains("sealed files 3"), "{out}");
    let out = run_ok(&["storage", "verify", "--data-dir", d], &[]);
    assert!(out.contains("3 segment(s) verified: OK"), "{out}");
    // key 1 removed from the file: everything still readable
    let text = std::fs::read_to_string(&keys).unwrap();
    let only2: String = text
        .lines()
        .filter(|l| !l.starts_with("1:"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&keys, only2).unwrap();
    let mut c = EmbeddedConfig::new(&data);
    c.keys = Some(vigil_store::embedded::KeySource::File(keys.clone()));
    let store = EmbeddedStore::open(c).unwrap();
    let r = store
        .search(
            &TenantId::main(),
            &vigil_store::SearchRequest::parse("hello", 1000).unwrap(),
        )
        .unwrap();
    assert_eq!(r.events.len(), 150);
}

#[test]
fn search_reads_one_space_with_the_config_s_storage_settings() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let cfg_path = dir.path().join("vigil.yaml");
    std::fs::write(
        &cfg_path,
        "version: 1\nstorage:\n  tenants:\n    main:\n      spaces:\n        - { name: fw, condition: 'observer.type:firewall', retention: 1h }\n",
    )
    .unwrap();
    let cfg = vigil_config::load_file(&cfg_path).unwrap();
    assert_eq!(
        cfg.storage.embedded().unwrap().tenants["main"].spaces[0].name,
        "fw"
    );
    let mut c = EmbeddedConfig::new(&data);
    c.spaces.tenants.insert(
        "main".into(),
        vigil_store::embedded::TenantSpaces {
            retention: None,
            hot_age: None,
            spaces: vec![vigil_store::embedded::SpaceConfig {
                name: "fw".into(),
                condition: "observer.type:firewall".into(),
                retention: Some(Duration::from_secs(3600)),
                hot_age: None,
            }],
        },
    );
    let store = EmbeddedStore::open(c).unwrap();
    let now = Timestamp::now().0;
    let evs: Vec<Event> = (0..10)
        .map(|i| {
            let mut ev = Event::new(Bytes::from(format!("<86>host fw: packet {i}")));
            ev.meta.tenant = SmolStr::new("main");
            ev.timestamp = Timestamp(now - 1000 + i);
            if i < 4 {
                ev.observer.r#type = Some("firewall".into());
            }
            ev
        })
        .collect();
    store.append(&TenantId::main(), &evs).unwrap();
    store.close().unwrap();
    drop(store);
    let d = data.to_str().unwrap();
    let c = cfg_path.to_str().unwrap();
    let lines = |extra: &[&str]| {
        let mut args = vec!["search", "--data-dir", d, "--config", c, "-f", "json"];
        args.extend_from_slice(extra);
        args.push("packet");
        run_ok(&args, &[]).lines().count()
    };
    assert_eq!(lines(&[]), 10);
    assert_eq!(lines(&["--space", "fw"]), 4);
    assert_eq!(lines(&["--space", "default"]), 6);
    let out = vigil()
        .args([
            "search",
            "--data-dir",
            d,
            "--config",
            c,
            "--space",
            "nope",
            "x",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no storage space 'nope'"));
}

#[test]
fn stats_prints_bytes_per_event_by_column() {
    let dir = tempfile::tempdir().unwrap();
    fill(dir.path());
    let d = dir.path().to_str().unwrap();
    let out = run_ok(&["storage", "stats", "--data-dir", d], &[]);
    assert!(out.contains("hot: 3 segments, 150 events"), "{out}");
    for col in ["raw", "@timestamp", "host.name", "_bloom", "(footer)"] {
        assert!(
            out.lines()
                .any(|l| l.trim_start().starts_with(col) && l.ends_with("B/event")),
            "{col}: {out}"
        );
    }
    assert!(out.contains("cold: no segments"), "{out}");
}
