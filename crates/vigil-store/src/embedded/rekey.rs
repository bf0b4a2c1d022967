//! Key rotation: when the keyring's current key changes (the key source is re-read every
//! `key_reload_interval`), memtables are sealed (so WAL frames under the old key go) and every
//! sealed file under another key (or in plain) is re-encrypted with the current one in the
//! background, a few files per maintenance tick:
//!
//! 1. read the file through the old key (every chunk authenticated: a failure quarantines the
//!    file instead);
//! 2. write `.tmp-rekey-<name>` under the current key, fsync, rename over the original, fsync
//!    the directory (readers holding the old file keep reading it);
//! 3. append a signed `reencrypt` manifest entry with the new size and SHA-256 (the manifest
//!    hashes the bytes on disk, so `vigil storage verify` needs no key), swap the segment in
//!    the search view, audit `storage.reencrypt`.
//!
//! When no file is left under an older key, `storage.reencrypt.done` is audited: the older keys
//! may then be removed from the key file. A reloaded keyring that lacks a key still in use is
//! refused (logged; the previous keyring stays).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use tracing::{error, info, warn};

use super::crypto::{self, KeyId, Keyring};
use super::segment::{self, Segment};
use super::{Inner, Partition};
use crate::StoreError;
use crate::audit::{
    ACTION_KEY_ROTATED, ACTION_REENCRYPT, ACTION_REENCRYPT_DONE, ACTOR_KEYS, AuditRecord,
};

/// Files re-encrypted per maintenance tick (one tick a second).
const FILES_PER_TICK: usize = 4;

#[derive(Debug, Default)]
pub(crate) struct RekeyState {
    last_reload: Option<Instant>,
    /// A rotation is in progress (files under older keys remain).
    active: bool,
}

/// What re-encryption did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RekeyReport {
    /// Files rewritten under the current key.
    pub files_reencrypted: u64,
    /// Their plaintext bytes.
    pub bytes: u64,
    /// Files that failed authentication and were quarantined.
    pub files_quarantined: u64,
    /// Files still under another key (0: older keys may be removed).
    pub remaining: u64,
}

/// Sealed files per key (`None`: plain), over every partition.
pub(crate) fn keys_in_use(inner: &Inner) -> BTreeMap<Option<KeyId>, u64> {
    let mut out = BTreeMap::new();
    for p in inner.partitions() {
        for s in &p.view.read().segments {
            *out.entry(s.key_id()).or_insert(0) += 1;
        }
    }
    out
}

/// Re-reads the key source; installs the new keyring when it differs and keeps every key in
/// use. Returns whether the current key changed.
pub(crate) fn reload(inner: &Inner) -> Result<bool, StoreError> {
    let Some(src) = &inner.cfg.keys else {
        return Ok(false);
    };
    let new = Keyring::load(src)?;
    let old = inner.keys();
    if *old == new {
        return Ok(false);
    }
    let in_use = keys_in_use(inner);
    let missing: Vec<KeyId> = in_use
        .keys()
        .flatten()
        .copied()
        .filter(|k| !new.contains(*k))
        .collect();
    if !missing.is_empty() {
        return Err(StoreError::Key(format!(
            "{src} no longer has key(s) {missing:?}, which sealed files still use; keeping the previous keyring (remove a key only after storage.reencrypt.done)"
        )));
    }
    let rotated = old.current() != new.current();
    *inner.keyring.write() = Arc::new(new.clone());
    if rotated {
        let cur = new.current().unwrap_or(0);
        info!(key = cur, fingerprint = %new.fingerprint_hex(cur).unwrap_or_default(),
              "new current encryption key; re-encrypting older files in the background");
        let mut r = AuditRecord::new(inner.cfg.clock.now(), ACTOR_KEYS, ACTION_KEY_ROTATED);
        r.detail = Some(format!(
            "current key {cur} (fingerprint {}), keys {:?}",
            new.fingerprint_hex(cur).unwrap_or_default(),
            new.ids()
        ));
        inner.audit(None, r);
        // Seal what the WAL holds under the old key, so that its files go too.
        for p in inner.partitions() {
            p.freeze(inner);
        }
        inner.rekey.lock().active = true;
    }
    Ok(rotated)
}

/// Re-encrypts up to `max` files not under the current key.
pub(crate) fn step(inner: &Inner, max: usize) -> RekeyReport {
    let mut rep = RekeyReport::default();
    let kr = inner.keys();
    let Some(cur) = kr.current() else {
        return rep;
    };
    let mut done = 0;
    for p in inner.partitions() {
        // Not while a merge, tier move or retention replaces files of this partition.
        let _one = p.maint.lock();
        let todo: Vec<Arc<Segment>> = p
            .view
            .read()
            .segments
            .iter()
            .filter(|s| s.key_id() != Some(cur))
            .cloned()
            .collect();
        for seg in todo {
            if done >= max || inner.stop.load(Ordering::Acquire) {
                rep.remaining += 1;
                continue;
            }
            done += 1;
            match reencrypt(inner, &p, &seg, &kr) {
                Ok(bytes) => {
                    rep.files_reencrypted += 1;
                    rep.bytes += bytes;
                }
                Err(e) if crypto::is_tampered(&e).is_some() => {
                    rep.files_quarantined += 1;
                    if let Err(err) = p.quarantine_live(inner, &seg.path, &e) {
                        error!(path = %seg.path.display(), error = %err, "could not quarantine a tampered segment");
                    }
                }
                Err(e) => {
                    rep.remaining += 1;
                    warn!(path = %seg.path.display(), error = %e, "re-encryption failed; retrying later");
                }
            }
        }
    }
    rep
}

fn reencrypt(
    inner: &Inner,
    p: &Partition,
    seg: &Arc<Segment>,
    kr: &Keyring,
) -> Result<u64, StoreError> {
    let path = seg.path.clone();
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let dir = path.parent().unwrap_or(&p.seg_dir).to_owned();
    let tmp = dir.join(format!(".tmp-rekey-{name}"));
    let old_key = seg.key_id();
    let r = crypto::open_sealed_file(&path, kr)?;
    let copy = (|| {
        let mut w = crypto::create_sealed_file(&tmp, kr)?;
        let mut buf = vec![0u8; 1 << 20];
        let mut off = 0u64;
        while off < r.len() {
            let n = (r.len() - off).min(buf.len() as u64) as usize;
            r.read_exact_at(&mut buf[..n], off)
                .map_err(|e| StoreError::io("read segment", &path, e))?;
            std::io::Write::write_all(&mut w, &buf[..n])
                .map_err(|e| StoreError::io("write segment", &tmp, e))?;
            off += n as u64;
        }
        w.finish()?;
        Ok::<u64, StoreError>(off)
    })();
    let bytes = match copy {
        Ok(b) => b,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
    };
    std::fs::rename(&tmp, &path).map_err(|e| StoreError::io("rename segment", &path, e))?;
    segment::sync_dir(&dir)?;
    p.manifest
        .lock()
        .record_reencrypt(&inner.signer, seg.tier, &path)?;
    let new = Arc::new(Segment::open(&path, seg.tier, kr)?);
    {
        let mut v = p.view.write();
        if let Some(slot) = v.segments.iter_mut().find(|s| Arc::ptr_eq(s, seg)) {
            *slot = new;
        }
    }
    p.counters.files_reencrypted.fetch_add(1, Ordering::Relaxed);
    let mut a = AuditRecord::new(inner.cfg.clock.now(), ACTOR_KEYS, ACTION_REENCRYPT);
    a.tenant = Some(p.name.to_string());
    a.space = Some(p.space.name.to_string());
    a.file = Some(name);
    a.events = Some(seg.events);
    a.detail = Some(format!(
        "from {} to key {}",
        old_key.map_or("plain".to_owned(), |k| format!("key {k}")),
        kr.current().unwrap_or(0)
    ));
    inner.audit(None, a);
    Ok(bytes)
}

/// One maintenance tick: reload the keys when due, re-encrypt a few files, report the end of
/// a rotation.
pub(crate) fn tick(inner: &Inner) {
    let due = {
        let mut st = inner.rekey.lock();
        let due = st
            .last_reload
            .is_none_or(|t| t.elapsed() >= inner.cfg.key_reload_interval);
        if due {
            st.last_reload = Some(Instant::now());
        }
        due
    };
    if due && let Err(e) = reload(inner) {
        error!(error = %e, "could not reload the encryption keys");
    }
    let rep = step(inner, FILES_PER_TICK);
    if rep.files_reencrypted > 0 {
        inner.rekey.lock().active = true;
    }
    finish_if_done(inner, &rep);
}

fn finish_if_done(inner: &Inner, rep: &RekeyReport) {
    if rep.remaining > 0 {
        return;
    }
    let mut st = inner.rekey.lock();
    if !st.active {
        return;
    }
    st.active = false;
    drop(st);
    let kr = inner.keys();
    let cur = kr.current().unwrap_or(0);
    let older: Vec<KeyId> = kr.ids().into_iter().filter(|&k| k != cur).collect();
    info!(key = cur, removable = ?older, "every sealed file is under the current key; older keys may be removed");
    let mut r = AuditRecord::new(inner.cfg.clock.now(), ACTOR_KEYS, ACTION_REENCRYPT_DONE);
    r.detail = Some(format!(
        "every sealed file is under key {cur}; keys {older:?} may be removed from the key source"
    ));
    inner.audit(None, r);
}

/// Reloads the keys and re-encrypts everything now (memtables are sealed first).
pub(crate) fn run_to_completion(inner: &Inner) -> Result<RekeyReport, StoreError> {
    reload(inner)?;
    for p in inner.partitions() {
        p.flush(inner)?;
    }
    let mut total = RekeyReport::default();
    loop {
        let rep = step(inner, usize::MAX);
        total.files_reencrypted += rep.files_reencrypted;
        total.bytes += rep.bytes;
        total.files_quarantined += rep.files_quarantined;
        total.remaining = rep.remaining;
        if rep.remaining == 0 || rep.files_reencrypted == 0 {
            break;
        }
    }
    if total.files_reencrypted > 0 {
        inner.rekey.lock().active = true;
    }
    finish_if_done(inner, &total);
    Ok(total)
}
