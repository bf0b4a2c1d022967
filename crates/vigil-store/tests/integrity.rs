//! Tamper evidence: the signed, hash-chained segment manifest and `verify`.

// Tests read back small files they wrote themselves.
#![allow(
    clippy::disallowed_methods,
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::panic
)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use vigil_event::{Bytes, Event, SmolStr, Timestamp};
use vigil_store::embedded::{
    EmbeddedConfig, EmbeddedStore, FindingKind, MANIFEST_FILE, VerifyReport, verify,
};
use vigil_store::{EventStore, TenantId};

fn event(i: u64) -> Event {
    let mut ev = Event::new(Bytes::from(format!(
        "<86>May  1 00:00:00 host-{} sshd[{i}]: Failed password for root seq{i}",
        i % 3
    )));
    ev.meta.tenant = SmolStr::new("main");
    ev.timestamp = Timestamp(1_700_000_000_000_000_000 + i as i64 * 1_000_000_000);
    ev
}

/// A data directory with four sealed segments of 100 events each.
fn sealed_store(dir: &Path) {
    let mut c = EmbeddedConfig::new(dir);
    c.segment_max_events = 100;
    c.block_events = 32;
    c.fsync_interval = Duration::from_millis(20);
    let store = EmbeddedStore::open(c).expect("open");
    let t = TenantId::main();
    for b in 0..4u64 {
        let batch: Vec<_> = (b * 100..b * 100 + 100).map(event).collect();
        store.append(&t, &batch).expect("append");
        store.flush(&t).expect("flush");
    }
    store.close().expect("close");
}

fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir.join("events/main/segments"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "parquet"))
        .collect();
    v.sort();
    v
}

fn manifest(dir: &Path) -> PathBuf {
    dir.join("events/main").join(MANIFEST_FILE)
}

fn kinds(r: &VerifyReport) -> Vec<FindingKind> {
    r.findings.iter().map(|f| f.kind).collect()
}

fn clean_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    sealed_store(dir.path());
    let r = verify(dir.path()).expect("verify");
    assert!(r.is_clean(), "{:?}", r.findings);
    assert_eq!(r.tenants, 1);
    assert_eq!(segments(dir.path()).len(), 4);
    assert_eq!(r.entries_verified, 4);
    assert_eq!(r.segments_verified, 4);
    dir
}

#[test]
fn clean_store_verifies_and_keys_exist() {
    let dir = clean_dir();
    let pk8 = dir.path().join("keys/manifest-signing.pk8");
    assert!(pk8.exists());
    assert!(dir.path().join("keys/manifest-signing.pub").exists());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&pk8).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // reopening neither duplicates entries nor breaks the chain
    sealed_store(dir.path());
    let r = verify(dir.path()).unwrap();
    assert!(r.is_clean(), "{:?}", r.findings);
    assert_eq!(r.entries_verified, 8);
}

#[test]
fn flipped_byte_is_altered() {
    let dir = clean_dir();
    let seg = &segments(dir.path())[1];
    let mut b = std::fs::read(seg).unwrap();
    let mid = b.len() / 2;
    b[mid] ^= 0x01;
    std::fs::write(seg, b).unwrap();
    let r = verify(dir.path()).unwrap();
    assert_eq!(kinds(&r), vec![FindingKind::Altered], "{:?}", r.findings);
    let name = seg.file_name().unwrap().to_str().unwrap();
    assert_eq!(r.findings[0].file, name);
    assert_eq!(r.findings[0].tenant, "main");
    assert_eq!(r.segments_verified, 3);
}

#[test]
fn deleted_segment_is_missing() {
    let dir = clean_dir();
    let seg = &segments(dir.path())[2];
    std::fs::remove_file(seg).unwrap();
    let r = verify(dir.path()).unwrap();
    assert_eq!(kinds(&r), vec![FindingKind::Missing], "{:?}", r.findings);
    assert_eq!(
        r.findings[0].file,
        seg.file_name().unwrap().to_str().unwrap()
    );
}

#[test]
fn swapped_manifest_lines_break_the_chain() {
    let dir = clean_dir();
    let text = std::fs::read_to_string(manifest(dir.path())).unwrap();
    let mut lines: Vec<_> = text.lines().collect();
    lines.swap(1, 2);
    std::fs::write(manifest(dir.path()), lines.join("\n") + "\n").unwrap();
    let r = verify(dir.path()).unwrap();
    assert!(!r.is_clean());
    assert!(
        r.findings
            .iter()
            .all(|f| f.kind == FindingKind::ChainBroken),
        "{:?}",
        r.findings
    );
    assert_eq!(r.findings.len(), 3, "{:?}", r.findings);
    assert!(r.findings[0].file.starts_with("manifest.log:2"));
}

#[test]
fn removed_manifest_line_breaks_the_chain_and_unlists_the_segment() {
    let dir = clean_dir();
    let text = std::fs::read_to_string(manifest(dir.path())).unwrap();
    let mut lines: Vec<_> = text.lines().collect();
    lines.remove(1);
    std::fs::write(manifest(dir.path()), lines.join("\n") + "\n").unwrap();
    let r = verify(dir.path()).unwrap();
    let k = kinds(&r);
    assert!(k.contains(&FindingKind::ChainBroken), "{k:?}");
    assert!(k.contains(&FindingKind::Unlisted), "{k:?}");
}

#[test]
fn tampered_entry_hash_fails_signature() {
    let dir = clean_dir();
    let text = std::fs::read_to_string(manifest(dir.path())).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    // change one hex digit of the sha256 field of entry 1, and of the hash field
    let l = &mut lines[0];
    let at = l.find("sha256=").unwrap() + 7;
    let c = if &l[at..=at] == "0" { "1" } else { "0" };
    l.replace_range(at..=at, c);
    let at = l.find(" hash=").unwrap() + 6;
    let c = if &l[at..=at] == "0" { "1" } else { "0" };
    l.replace_range(at..=at, c);
    std::fs::write(manifest(dir.path()), lines.join("\n") + "\n").unwrap();
    let r = verify(dir.path()).unwrap();
    let k = kinds(&r);
    assert!(k.contains(&FindingKind::BadSignature), "{:?}", r.findings);
    assert!(k.contains(&FindingKind::BadHash), "{:?}", r.findings);
    // the next entry's prev no longer matches either
    assert!(k.contains(&FindingKind::ChainBroken), "{:?}", r.findings);
}

#[test]
fn corrupt_line_and_other_key_are_findings() {
    let dir = clean_dir();
    let other = tempfile::tempdir().unwrap();
    sealed_store(other.path());
    // the manifest signed with another data directory's key
    std::fs::copy(
        other.path().join("keys/manifest-signing.pub"),
        dir.path().join("keys/manifest-signing.pub"),
    )
    .unwrap();
    let r = verify(dir.path()).unwrap();
    assert_eq!(
        kinds(&r),
        vec![FindingKind::BadSignature; 4],
        "{:?}",
        r.findings
    );
    let mut text = std::fs::read_to_string(manifest(other.path())).unwrap();
    text.push_str("garbage line\n");
    std::fs::write(manifest(other.path()), text).unwrap();
    let r = verify(other.path()).unwrap();
    assert_eq!(
        kinds(&r),
        vec![FindingKind::CorruptEntry],
        "{:?}",
        r.findings
    );
}

#[test]
fn legacy_segments_are_added_at_open() {
    let dir = tempfile::tempdir().unwrap();
    sealed_store(dir.path());
    std::fs::remove_file(manifest(dir.path())).unwrap();
    let r = verify(dir.path()).unwrap();
    let mut want = vec![FindingKind::ManifestMissing];
    want.extend([FindingKind::Unlisted; 4]);
    assert_eq!(kinds(&r), want);
    // opening the store again covers them
    let store = EmbeddedStore::open(EmbeddedConfig::new(dir.path())).unwrap();
    store.close().unwrap();
    let r = verify(dir.path()).unwrap();
    assert!(r.is_clean(), "{:?}", r.findings);
    assert_eq!(r.segments_verified, 4);
}
