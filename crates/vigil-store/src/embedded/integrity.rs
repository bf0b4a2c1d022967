//! Tamper evidence for sealed segments: a per-tenant, append-only, hash-chained and
//! Ed25519-signed manifest, and [`verify`], which checks it against the files on disk.
//!
//! # Files
//! ```text
//! <data_dir>/keys/manifest-signing.pk8   Ed25519 private key, PKCS#8 v2 (mode 0600, made at first open)
//! <data_dir>/keys/manifest-signing.pub   the public key, 64 hex digits and a newline
//! <data_dir>/events/<tenant>/manifest.log one line per segment written, oldest first
//! ```
//!
//! Each storage space (`<tenant>/spaces/<space>/`, see `spaces`) is a partition with its own
//! `manifest.log`; the default space's is the tenant directory's.
//!
//! # Manifest lines
//! ```text
//! seal:     seq=<n> file=<name> first_lsn=<n> last_lsn=<n> events=<n> size=<bytes> sha256=<hex>
//!             prev=<hex> hash=<hex> sig=<hex>
//! merge     seq=<n> op=merge|tier file=<name> tier=hot|cold first_lsn=<n> last_lsn=<n>
//! / tier:     events=<n> size=<bytes> sha256=<hex> replaces=<tier>:<name>,... prev=<hex>
//!             hash=<hex> sig=<hex>
//! delete /  seq=<n> op=delete|reencrypt|expire file=<name> tier=hot|cold first_lsn=<n>
//! reencrypt   last_lsn=<n> events=<n> size=<bytes> sha256=<hex> prev=<hex> hash=<hex> sig=<hex>
//! / expire:
//! ```
//! (one line each, single spaces; a seal line has no `op`, so manifests written before the
//! other operations keep their hashes). Files are named by tier and name (a one-segment tier
//! move keeps the name).
//!
//! * `seal` adds a hot segment.
//! * `merge` (segments of one tier merged into a larger one) and `tier` (hot segments rewritten
//!   into the cold tier) add their new file and retire the files they replace, which must be
//!   live; the new file's LSN range and event count must be those of the replaced files
//!   together.
//! * `delete`: retention is about to unlink the live file (size and SHA-256 are its last
//!   ones); written and fsynced before the unlink.
//! * `reencrypt`: the live file was rewritten under another encryption key; its new size and
//!   SHA-256 (the manifest always hashes the bytes on disk, so verifying needs no key).
//! * `expire`: an LSN range dropped by retention before it was sealed (no file; size 0).
//!
//! `seal` and `expire` move the LSN range forward; the others name earlier files. `sha256` is
//! the SHA-256 of the whole file on disk; `prev` is the `hash` of the previous line (64 zeros
//! for the first); `hash` is the SHA-256 of the canonical bytes `"vigil-manifest-v1\n" +
//! "seq=... prev=<hex>"` (the line up to and including `prev`); `sig` is the Ed25519
//! signature of the 32 `hash` bytes. [`verify`] replays the lines and keeps each file's latest
//! state: a deleted or replaced file is not expected on disk, a re-encrypted one is checked
//! against its new hash.
//!
//! A merge or tier move is: write the new file, fsync, rename, fsync the directory, append
//! and fsync its line, swap it into the searchable view, delete the replaced files. A crash
//! after the line leaves retired files, deleted at the next open; a crash before it leaves an
//! unlisted file whose LSNs overlap live segments, also deleted at open. A crash between a
//! `delete` line and the unlink is finished at the next open the same way.
//!
//! A line is appended and fsynced right after its segment is renamed into place and the
//! directory fsynced, before the WAL it covers is deleted. At open, segments above the highest
//! LSN the manifest lists (a data directory from before manifests, or a crash between the
//! rename and the append) are appended in LSN order; a segment at or below it that the
//! manifest does not list is left alone (and reported by [`verify`] as unlisted).

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use ring::digest::{Context, SHA256};

use super::segment::{Tier, is_segment_name};
use ring::rand::SystemRandom;
use ring::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use serde::Serialize;
use tracing::{info, warn};

use crate::StoreError;

/// Name of the manifest file in a tenant directory.
pub const MANIFEST_FILE: &str = "manifest.log";
/// Private key file under `<data_dir>/keys/`.
pub const SIGNING_KEY_FILE: &str = "manifest-signing.pk8";
/// Public key file under `<data_dir>/keys/`.
pub const PUBLIC_KEY_FILE: &str = "manifest-signing.pub";

const DOMAIN: &[u8] = b"vigil-manifest-v1\n";
/// Largest key file read.
const KEY_LIMIT: u64 = 64 << 10;
/// Largest manifest read (about two million entries).
const MANIFEST_LIMIT: u64 = 1 << 30;

/// Reads at most `limit` bytes of `r`; more is an error.
fn read_capped(r: &mut impl Read, limit: u64) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        let n = r.read(&mut buf)?;
        if n == 0 {
            return Ok(out);
        }
        if out.len() as u64 + n as u64 > limit {
            return Err(std::io::Error::other(format!("larger than {limit} bytes")));
        }
        out.extend_from_slice(&buf[..n]);
    }
}

pub(crate) fn read_file(path: &Path, limit: u64) -> std::io::Result<Vec<u8>> {
    read_capped(&mut File::open(path)?, limit)
}

fn digest32(d: ring::digest::Digest) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// The manifest signing key of a data directory.
pub(crate) struct Signer {
    key: Ed25519KeyPair,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("public", &hex(self.key.public_key().as_ref()))
            .finish()
    }
}

impl Signer {
    /// Loads `<data_dir>/keys/manifest-signing.pk8`, creating it (mode 0600) and the public key
    /// file on first use.
    pub(crate) fn load_or_create(data_dir: &Path) -> Result<Signer, StoreError> {
        let dir = data_dir.join("keys");
        vigil_fs::create_dir_all(&dir).map_err(|e| StoreError::io("create directory", &dir, e))?;
        let pk8 = dir.join(SIGNING_KEY_FILE);
        let pubf = dir.join(PUBLIC_KEY_FILE);
        let bytes = match read_file(&pk8, KEY_LIMIT) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let doc = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).map_err(|_| {
                    StoreError::Invalid("could not generate the manifest signing key".into())
                })?;
                let tmp = dir.join(format!(".tmp-{SIGNING_KEY_FILE}"));
                write_private(&tmp, doc.as_ref())?;
                std::fs::rename(&tmp, &pk8)
                    .map_err(|e| StoreError::io("rename signing key", &pk8, e))?;
                super::segment::sync_dir(&dir)?;
                info!(path = %pk8.display(), "created the manifest signing key");
                doc.as_ref().to_vec()
            }
            Err(e) => return Err(StoreError::io("read signing key", &pk8, e)),
        };
        let key = Ed25519KeyPair::from_pkcs8(&bytes)
            .or_else(|_| Ed25519KeyPair::from_pkcs8_maybe_unchecked(&bytes))
            .map_err(|e| StoreError::corrupt(&pk8, format!("not an Ed25519 PKCS#8 key: {e}")))?;
        let public = format!("{}\n", hex(key.public_key().as_ref()));
        match read_file(&pubf, KEY_LIMIT) {
            Ok(s) if s == public.as_bytes() => {}
            Ok(_) => {
                warn!(path = %pubf.display(), "public key file does not match the signing key; leaving it (verify will fail)");
            }
            Err(_) => {
                let mut f = vigil_fs::create(&pubf)
                    .map_err(|e| StoreError::io("write public key", &pubf, e))?;
                f.write_all(public.as_bytes())
                    .and_then(|()| f.sync_all())
                    .map_err(|e| StoreError::io("write public key", &pubf, e))?;
                super::segment::sync_dir(&dir)?;
            }
        }
        Ok(Signer { key })
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let mut f =
        vigil_fs::create(path).map_err(|e| StoreError::io("create signing key", path, e))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(|e| StoreError::io("write signing key", path, e))
}

/// What a manifest line records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    /// A memtable sealed into a hot segment.
    Seal,
    /// Segments of one tier merged into one.
    Merge,
    /// Hot segments rewritten into the cold tier.
    Tier,
    /// Retention deleted a live segment (the line comes before the unlink).
    Delete,
    /// A live segment was rewritten under another encryption key: its new size and SHA-256.
    Reencrypt,
    /// A memtable whose events had all passed their retention was dropped instead of sealed:
    /// its LSN range is accounted for without a file.
    Expire,
}

impl Op {
    fn as_str(self) -> &'static str {
        match self {
            Op::Seal => "seal",
            Op::Merge => "merge",
            Op::Tier => "tier",
            Op::Delete => "delete",
            Op::Reencrypt => "reencrypt",
            Op::Expire => "expire",
        }
    }

    fn parse(s: &str) -> Option<Op> {
        Some(match s {
            "merge" => Op::Merge,
            "tier" => Op::Tier,
            "delete" => Op::Delete,
            "reencrypt" => Op::Reencrypt,
            "expire" => Op::Expire,
            _ => return None,
        })
    }

    /// Whether the line lists the files it replaces.
    fn rewrites(self) -> bool {
        matches!(self, Op::Merge | Op::Tier)
    }
}

/// One manifest entry.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    seq: u64,
    op: Op,
    file: String,
    tier: Tier,
    replaces: Vec<(Tier, String)>,
    first_lsn: u64,
    last_lsn: u64,
    events: u64,
    size: u64,
    sha256: [u8; 32],
    prev: [u8; 32],
    hash: [u8; 32],
    sig: Vec<u8>,
}

impl Entry {
    fn canonical(&self) -> String {
        if self.op == Op::Seal {
            return format!(
                "seq={} file={} first_lsn={} last_lsn={} events={} size={} sha256={} prev={}",
                self.seq,
                self.file,
                self.first_lsn,
                self.last_lsn,
                self.events,
                self.size,
                hex(&self.sha256),
                hex(&self.prev)
            );
        }
        let replaces = if self.op.rewrites() {
            let r: Vec<String> = self
                .replaces
                .iter()
                .map(|(t, n)| format!("{}:{n}", t.as_str()))
                .collect();
            format!(" replaces={}", r.join(","))
        } else {
            String::new()
        };
        format!(
            "seq={} op={} file={} tier={} first_lsn={} last_lsn={} events={} size={} sha256={}{} prev={}",
            self.seq,
            self.op.as_str(),
            self.file,
            self.tier.as_str(),
            self.first_lsn,
            self.last_lsn,
            self.events,
            self.size,
            hex(&self.sha256),
            replaces,
            hex(&self.prev)
        )
    }

    fn compute_hash(&self) -> [u8; 32] {
        let mut c = Context::new(&SHA256);
        c.update(DOMAIN);
        c.update(self.canonical().as_bytes());
        digest32(c.finish())
    }

    fn line(&self) -> String {
        format!(
            "{} hash={} sig={}\n",
            self.canonical(),
            hex(&self.hash),
            hex(&self.sig)
        )
    }

    fn parse(line: &str) -> Result<Entry, String> {
        let mut fields = BTreeMap::new();
        let mut order = Vec::new();
        for part in line.split(' ') {
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| format!("field without '=': {part:?}"))?;
            order.push(k);
            fields.insert(k, v);
        }
        const KEYS: [&str; 10] = [
            "seq",
            "file",
            "first_lsn",
            "last_lsn",
            "events",
            "size",
            "sha256",
            "prev",
            "hash",
            "sig",
        ];
        const KEYS_OP: [&str; 12] = [
            "seq",
            "op",
            "file",
            "tier",
            "first_lsn",
            "last_lsn",
            "events",
            "size",
            "sha256",
            "prev",
            "hash",
            "sig",
        ];
        let (op, tier, replaces) = if order.get(1) == Some(&"op") {
            let v = fields["op"];
            let op = Op::parse(v).ok_or_else(|| format!("unknown op {v:?}"))?;
            let mut want: Vec<&str> = KEYS_OP.to_vec();
            if op.rewrites() {
                want.insert(9, "replaces");
            }
            if order != want {
                return Err(format!("fields are {order:?}, expected {want:?}"));
            }
            let tier = Tier::parse(fields["tier"]).ok_or("tier is not hot or cold")?;
            let mut replaces = Vec::new();
            if op.rewrites() {
                for r in fields["replaces"].split(',') {
                    let (t, n) = r
                        .split_once(':')
                        .and_then(|(t, n)| Some((Tier::parse(t)?, n)))
                        .filter(|(_, n)| valid_segment_name(n))
                        .ok_or_else(|| format!("bad replaced file {r:?}"))?;
                    replaces.push((t, n.to_owned()));
                }
            }
            (op, tier, replaces)
        } else {
            if order != KEYS {
                return Err(format!("fields are {order:?}, expected {KEYS:?}"));
            }
            (Op::Seal, Tier::Hot, Vec::new())
        };
        let num = |k: &str| {
            fields[k]
                .parse::<u64>()
                .map_err(|_| format!("{k} is not a number: {:?}", fields[k]))
        };
        let h32 = |k: &str| -> Result<[u8; 32], String> {
            unhex(fields[k])
                .and_then(|v| v.try_into().ok())
                .ok_or_else(|| format!("{k} is not 64 hex digits"))
        };
        let file = fields["file"];
        if !valid_segment_name(file) {
            return Err(format!("bad segment file name {file:?}"));
        }
        Ok(Entry {
            seq: num("seq")?,
            op,
            file: file.to_owned(),
            tier,
            replaces,
            first_lsn: num("first_lsn")?,
            last_lsn: num("last_lsn")?,
            events: num("events")?,
            size: num("size")?,
            sha256: h32("sha256")?,
            prev: h32("prev")?,
            hash: h32("hash")?,
            sig: unhex(fields["sig"]).ok_or("sig is not hex")?,
        })
    }
}

/// Names a manifest may list: this build's segments, and the `.vseg` files of format v1
/// (older data directories; no longer readable, so reported by the store and by verify).
fn valid_segment_name(s: &str) -> bool {
    (is_segment_name(s) || s.ends_with(".vseg"))
        && !s.starts_with('.')
        && !s.contains(['/', '\\', ',', ':', ' '])
}

/// What a segment contributes to its manifest entry.
pub(crate) struct SegmentInfo<'a> {
    pub path: &'a Path,
    pub tier: Tier,
    pub first_lsn: u64,
    pub last_lsn: u64,
    pub events: u64,
}

/// A live (listed, not replaced) segment: what the manifest says about it.
#[derive(Debug, Clone)]
pub(crate) struct Listed {
    pub first_lsn: u64,
    pub last_lsn: u64,
    pub events: u64,
    pub size: u64,
    pub sha256: [u8; 32],
}

/// The live, retired and deleted files of a sequence of entries (shared by the store and
/// `verify`).
#[derive(Debug, Default, Clone)]
struct Ledger {
    live: BTreeMap<(Tier, String), Listed>,
    /// Replaced by a merge or tier move.
    retired: BTreeSet<(Tier, String)>,
    /// Deleted by retention.
    deleted: BTreeSet<(Tier, String)>,
    /// Highest LSN of a seal or expire entry: every LSN at or below it is in a segment or was
    /// dropped by retention.
    max_lsn: u64,
}

impl Ledger {
    /// Applies an entry; `Err` says why it does not fit the entries before it.
    fn apply(&mut self, e: &Entry) -> Result<(), String> {
        let listed = Listed {
            first_lsn: e.first_lsn,
            last_lsn: e.last_lsn,
            events: e.events,
            size: e.size,
            sha256: e.sha256,
        };
        let key = (e.tier, e.file.clone());
        let mut problem = None;
        match e.op {
            Op::Seal | Op::Expire => {
                if e.first_lsn <= self.max_lsn {
                    problem = Some("LSN range out of order".to_owned());
                }
                self.max_lsn = self.max_lsn.max(e.last_lsn);
                if e.op == Op::Expire {
                    return problem.map_or(Ok(()), Err);
                }
            }
            Op::Delete | Op::Reencrypt => {
                let Some(l) = self.live.get_mut(&key) else {
                    return Err(format!(
                        "{} of {}:{}, which is not a live segment",
                        e.op.as_str(),
                        e.tier.as_str(),
                        e.file
                    ));
                };
                if (l.first_lsn, l.last_lsn, l.events) != (e.first_lsn, e.last_lsn, e.events) {
                    problem = Some(format!(
                        "{} names LSN {}-{} and {} events, the segment has {}-{} and {}",
                        e.op.as_str(),
                        e.first_lsn,
                        e.last_lsn,
                        e.events,
                        l.first_lsn,
                        l.last_lsn,
                        l.events
                    ));
                }
                if e.op == Op::Delete {
                    self.live.remove(&key);
                    self.deleted.insert(key);
                } else {
                    l.size = e.size;
                    l.sha256 = e.sha256;
                }
                return problem.map_or(Ok(()), Err);
            }
            Op::Merge | Op::Tier => {
                let (mut lo, mut hi, mut n) = (u64::MAX, 0u64, 0u64);
                for r in &e.replaces {
                    match self.live.remove(r) {
                        Some(l) => {
                            lo = lo.min(l.first_lsn);
                            hi = hi.max(l.last_lsn);
                            n += l.events;
                            self.retired.insert(r.clone());
                        }
                        None => {
                            problem.get_or_insert(format!(
                                "replaces {}:{}, which is not a live segment",
                                r.0.as_str(),
                                r.1
                            ));
                        }
                    }
                }
                if problem.is_none() && (lo != e.first_lsn || hi != e.last_lsn || n != e.events) {
                    problem = Some(format!(
                        "covers LSN {}-{} and {} events, the replaced segments {lo}-{hi} and {n}",
                        e.first_lsn, e.last_lsn, e.events
                    ));
                }
            }
        }
        if self.live.contains_key(&key) {
            problem.get_or_insert("segment listed twice".to_owned());
        }
        self.retired.remove(&key);
        self.deleted.remove(&key);
        self.live.insert(key, listed);
        problem.map_or(Ok(()), Err)
    }
}

/// A tenant's open manifest (append side).
#[derive(Debug)]
pub(crate) struct Manifest {
    path: PathBuf,
    file: File,
    next_seq: u64,
    prev: [u8; 32],
    ledger: Ledger,
}

impl Manifest {
    /// Opens (or creates) `<tenant_dir>/manifest.log`, cutting a torn last line.
    pub(crate) fn open(tenant_dir: &Path) -> Result<Manifest, StoreError> {
        let path = tenant_dir.join(MANIFEST_FILE);
        let existed = path.exists();
        let mut file = vigil_fs::options()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)
            .map_err(|e| StoreError::io("open manifest", &path, e))?;
        let text = read_capped(&mut file, MANIFEST_LIMIT)
            .map_err(|e| StoreError::io("read manifest", &path, e))?;
        let valid = text.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
        if valid < text.len() {
            warn!(path = %path.display(), bytes = text.len() - valid, "cutting a torn manifest line");
            file.set_len(valid as u64)
                .and_then(|()| file.sync_all())
                .map_err(|e| StoreError::io("truncate manifest", &path, e))?;
        }
        let mut m = Manifest {
            path,
            file,
            next_seq: 1,
            prev: [0; 32],
            ledger: Ledger::default(),
        };
        for line in String::from_utf8_lossy(&text[..valid]).lines() {
            match Entry::parse(line) {
                Ok(e) => {
                    m.next_seq = m.next_seq.max(e.seq + 1);
                    m.prev = e.hash;
                    if let Err(why) = m.ledger.apply(&e) {
                        warn!(path = %m.path.display(), seq = e.seq, reason = %why, "inconsistent manifest line (vigil storage verify reports it)");
                    }
                }
                Err(e) => {
                    warn!(path = %m.path.display(), error = %e, "unreadable manifest line (vigil storage verify reports it)")
                }
            }
        }
        if !existed {
            super::segment::sync_dir(tenant_dir)?;
        }
        Ok(m)
    }

    /// What the manifest says about a live segment.
    pub(crate) fn listed(&self, tier: Tier, name: &str) -> Option<&Listed> {
        self.ledger.live.get(&(tier, name.to_owned()))
    }

    /// Whether a merge or tier move replaced this file.
    pub(crate) fn is_retired(&self, tier: Tier, name: &str) -> bool {
        self.ledger.retired.contains(&(tier, name.to_owned()))
    }

    /// Whether a `delete` entry names this file (a deletion a crash may have left unfinished).
    pub(crate) fn is_deleted(&self, tier: Tier, name: &str) -> bool {
        self.ledger.deleted.contains(&(tier, name.to_owned()))
    }

    /// The highest LSN any `seal` or `expire` entry covers: every LSN at or below it is in a
    /// segment or was dropped by retention, so the WAL never needs to replay it and new
    /// appends start above it (even when retention has deleted every segment).
    pub(crate) fn max_lsn(&self) -> u64 {
        self.ledger.max_lsn
    }

    /// Whether an unlisted file's LSN range overlaps a live segment (the output of a merge or
    /// tier move that crashed before its manifest line).
    pub(crate) fn overlaps_live(&self, first_lsn: u64, last_lsn: u64) -> bool {
        self.ledger
            .live
            .values()
            .any(|l| l.first_lsn <= last_lsn && first_lsn <= l.last_lsn)
    }

    /// Appends entries for segments above the highest LSN listed (sorted by LSN first).
    pub(crate) fn cover(
        &mut self,
        signer: &Signer,
        segments: &[SegmentInfo<'_>],
    ) -> Result<(), StoreError> {
        let mut added = 0;
        for s in segments {
            let name = file_name(s.path);
            if self.listed(s.tier, &name).is_some() {
                continue;
            }
            if s.first_lsn > self.ledger.max_lsn && s.tier == Tier::Hot {
                self.append(signer, s)?;
                added += 1;
            } else {
                warn!(path = %s.path.display(), "segment is not in the manifest and is below its last LSN; not adding it (vigil storage verify reports it)");
            }
        }
        if added > 0 {
            info!(path = %self.path.display(), added, "added existing segments to the manifest");
        }
        Ok(())
    }

    /// Hashes a sealed (renamed, directory-fsynced) segment and appends its signed entry,
    /// fsynced.
    pub(crate) fn append(
        &mut self,
        signer: &Signer,
        s: &SegmentInfo<'_>,
    ) -> Result<(), StoreError> {
        self.write(signer, Op::Seal, s, Vec::new())
    }

    /// Records a merge or tier move: `s` replaces the live segments `replaces`.
    pub(crate) fn rewrite(
        &mut self,
        signer: &Signer,
        op: Op,
        s: &SegmentInfo<'_>,
        replaces: Vec<(Tier, String)>,
    ) -> Result<(), StoreError> {
        self.write(signer, op, s, replaces)
    }

    fn write(
        &mut self,
        signer: &Signer,
        op: Op,
        s: &SegmentInfo<'_>,
        replaces: Vec<(Tier, String)>,
    ) -> Result<(), StoreError> {
        let (sha256, size) = super::segment::sha256_file(s.path)?;
        let e = Entry {
            seq: self.next_seq,
            op,
            file: file_name(s.path),
            tier: s.tier,
            replaces,
            first_lsn: s.first_lsn,
            last_lsn: s.last_lsn,
            events: s.events,
            size,
            sha256,
            prev: self.prev,
            hash: [0; 32],
            sig: Vec::new(),
        };
        self.write_entry(signer, e)
    }

    /// Records that retention is about to delete the live segment `name` of `tier`. Written
    /// and fsynced before the unlink, so that `verify` never sees a listed file missing.
    pub(crate) fn record_delete(
        &mut self,
        signer: &Signer,
        tier: Tier,
        name: &str,
    ) -> Result<(), StoreError> {
        let l = self.live_or_err(tier, name)?;
        let e = self.entry(Op::Delete, tier, name.to_owned(), &l);
        self.write_entry(signer, e)
    }

    /// Records that the live segment at `path` (of `tier`) was rewritten (re-encrypted): its
    /// new size and SHA-256. Written after the rename, before anything relies on the new file.
    pub(crate) fn record_reencrypt(
        &mut self,
        signer: &Signer,
        tier: Tier,
        path: &Path,
    ) -> Result<(), StoreError> {
        let name = file_name(path);
        let mut l = self.live_or_err(tier, &name)?;
        (l.sha256, l.size) = super::segment::sha256_file(path)?;
        let e = self.entry(Op::Reencrypt, tier, name, &l);
        self.write_entry(signer, e)
    }

    /// Records that the events of LSNs `first..=last` were dropped by retention before they
    /// were sealed; `name` is the segment name they would have had.
    pub(crate) fn record_expire(
        &mut self,
        signer: &Signer,
        name: String,
        first_lsn: u64,
        last_lsn: u64,
        events: u64,
    ) -> Result<(), StoreError> {
        let l = Listed {
            first_lsn,
            last_lsn,
            events,
            size: 0,
            sha256: [0; 32],
        };
        let e = self.entry(Op::Expire, Tier::Hot, name, &l);
        self.write_entry(signer, e)
    }

    fn live_or_err(&self, tier: Tier, name: &str) -> Result<Listed, StoreError> {
        self.listed(tier, name).cloned().ok_or_else(|| {
            StoreError::Invalid(format!(
                "{}:{name} is not a live segment of the manifest {}",
                tier.as_str(),
                self.path.display()
            ))
        })
    }

    fn entry(&self, op: Op, tier: Tier, file: String, l: &Listed) -> Entry {
        Entry {
            seq: self.next_seq,
            op,
            file,
            tier,
            replaces: Vec::new(),
            first_lsn: l.first_lsn,
            last_lsn: l.last_lsn,
            events: l.events,
            size: l.size,
            sha256: l.sha256,
            prev: self.prev,
            hash: [0; 32],
            sig: Vec::new(),
        }
    }

    fn write_entry(&mut self, signer: &Signer, mut e: Entry) -> Result<(), StoreError> {
        e.hash = e.compute_hash();
        e.sig = signer.key.sign(&e.hash).as_ref().to_vec();
        let mut check = Ledger {
            live: self.ledger.live.clone(),
            retired: BTreeSet::new(),
            deleted: BTreeSet::new(),
            max_lsn: self.ledger.max_lsn,
        };
        if let Err(why) = check.apply(&e) {
            return Err(StoreError::Invalid(format!(
                "manifest entry for {} refused: {why}",
                e.file
            )));
        }
        self.file
            .write_all(e.line().as_bytes())
            .and_then(|()| self.file.sync_data())
            .map_err(|err| StoreError::io("append manifest", &self.path, err))?;
        self.next_seq += 1;
        self.prev = e.hash;
        let _ = self.ledger.apply(&e);
        Ok(())
    }
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn hex(b: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        let _ = write!(s, "{x:02x}");
    }
    s
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// What is wrong, in a [`Finding`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    /// The public key file is missing or unreadable: no signature can be checked.
    KeyMissing,
    /// A tenant has segments but no manifest.
    ManifestMissing,
    /// A manifest line cannot be parsed.
    CorruptEntry,
    /// An entry's `hash` is not the SHA-256 of its fields.
    BadHash,
    /// An entry's signature does not verify with the public key.
    BadSignature,
    /// An entry's `prev` is not the previous entry's hash, or its `seq`/LSNs are out of
    /// order: an entry was removed, inserted or reordered.
    ChainBroken,
    /// A listed segment file is not there.
    Missing,
    /// A listed segment file's size or SHA-256 differs from the manifest.
    Altered,
    /// A segment file on disk that the manifest does not list.
    Unlisted,
    /// A file in the tenant's `quarantine/` directory (failed verification at open).
    Quarantined,
    /// A file or directory could not be read.
    Unreadable,
}

impl FindingKind {
    /// A short lower-case name (`altered`, `missing`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            FindingKind::KeyMissing => "key missing",
            FindingKind::ManifestMissing => "manifest missing",
            FindingKind::CorruptEntry => "corrupt entry",
            FindingKind::BadHash => "bad hash",
            FindingKind::BadSignature => "bad signature",
            FindingKind::ChainBroken => "chain broken",
            FindingKind::Missing => "missing",
            FindingKind::Altered => "altered",
            FindingKind::Unlisted => "unlisted",
            FindingKind::Quarantined => "quarantined",
            FindingKind::Unreadable => "unreadable",
        }
    }
}

/// One problem found by [`verify`].
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// The tenant (empty for data-directory-wide findings such as a missing key).
    pub tenant: String,
    /// The file concerned (segment name, `manifest.log:<line>`, key path).
    pub file: String,
    /// What is wrong.
    pub kind: FindingKind,
    /// Details for people.
    pub detail: String,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.tenant.is_empty() {
            write!(f, "{}: {}: {}", self.file, self.kind.as_str(), self.detail)
        } else {
            write!(
                f,
                "tenant {}: {}: {}: {}",
                self.tenant,
                self.file,
                self.kind.as_str(),
                self.detail
            )
        }
    }
}

/// The result of [`verify`].
#[derive(Debug, Clone, Default, Serialize)]
pub struct VerifyReport {
    /// Tenants checked.
    pub tenants: usize,
    /// Manifest entries whose hash, signature and chain link verified.
    pub entries_verified: usize,
    /// Segment files whose size and SHA-256 matched their (verified) entry.
    pub segments_verified: usize,
    /// Everything wrong; empty means clean.
    pub findings: Vec<Finding>,
}

impl VerifyReport {
    /// No findings.
    pub fn is_clean(&self) -> bool {
        self.findings.is_empty()
    }
}

/// Checks every tenant's manifest and segments under `data_dir` against the public key in
/// `<data_dir>/keys/manifest-signing.pub`. Read-only and lock-free: safe while a store runs
/// (a segment sealed in the last instant may show as unlisted until its entry is written).
/// Only an unreadable `<data_dir>/events` is an error; everything else is a finding.
pub fn verify(data_dir: &Path) -> Result<VerifyReport, StoreError> {
    verify_with_key(data_dir, &data_dir.join("keys").join(PUBLIC_KEY_FILE))
}

/// [`verify`] with the public key read from `public_key` (for example a copy kept off the
/// host, so that replacing the key on the host is noticed).
pub fn verify_with_key(data_dir: &Path, public_key: &Path) -> Result<VerifyReport, StoreError> {
    let mut report = VerifyReport::default();
    let key = match read_file(public_key, KEY_LIMIT) {
        Ok(s) => match unhex(String::from_utf8_lossy(&s).trim()) {
            Some(k) if k.len() == 32 => Some(k),
            _ => {
                report.findings.push(Finding {
                    tenant: String::new(),
                    file: public_key.display().to_string(),
                    kind: FindingKind::KeyMissing,
                    detail: "not an Ed25519 public key (64 hex digits)".into(),
                });
                None
            }
        },
        Err(e) => {
            report.findings.push(Finding {
                tenant: String::new(),
                file: public_key.display().to_string(),
                kind: FindingKind::KeyMissing,
                detail: format!("cannot read the public key: {e}"),
            });
            None
        }
    };
    let root = data_dir.join("events");
    let rd = match std::fs::read_dir(&root) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(report),
        Err(e) => return Err(StoreError::io("list tenants", &root, e)),
    };
    let mut tenants = Vec::new();
    for entry in rd {
        let entry = entry.map_err(|e| StoreError::io("list tenants", &root, e))?;
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            tenants.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    tenants.sort();
    for t in tenants {
        report.tenants += 1;
        verify_tenant(&root.join(&t), &t, key.as_deref(), &mut report);
    }
    Ok(report)
}

fn verify_tenant(dir: &Path, tenant: &str, key: Option<&[u8]>, r: &mut VerifyReport) {
    verify_partition(dir, tenant, "", key, r);
    // Storage spaces: `<tenant>/spaces/<space>/` each hold a partition with its own manifest.
    let spaces = dir.join(super::spaces::SPACES_DIR);
    if let Ok(rd) = std::fs::read_dir(&spaces) {
        let mut names: Vec<String> = rd
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        for n in names {
            let prefix = format!("{}/{n}/", super::spaces::SPACES_DIR);
            verify_partition(&spaces.join(&n), tenant, &prefix, key, r);
        }
    }
}

fn verify_partition(
    dir: &Path,
    tenant: &str,
    prefix: &str,
    key: Option<&[u8]>,
    r: &mut VerifyReport,
) {
    let mut findings = Vec::new();
    let mut find = |file: String, kind: FindingKind, detail: String| {
        findings.push(Finding {
            tenant: tenant.to_owned(),
            file: format!("{prefix}{file}"),
            kind,
            detail,
        });
    };
    // Segment files on disk, per tier (the cold tier may be a link to another disk).
    let mut on_disk = BTreeSet::new();
    for tier in [Tier::Hot, Tier::Cold] {
        let tdir = tier.dir(dir);
        match std::fs::read_dir(&tdir) {
            Ok(rd) => {
                for e in rd.flatten() {
                    let n = e.file_name().to_string_lossy().into_owned();
                    if valid_segment_name(&n) {
                        on_disk.insert((tier, n));
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => find(
                format!("{}/", tier_dir_name(tier)),
                FindingKind::Unreadable,
                e.to_string(),
            ),
        }
    }
    if let Ok(rd) = std::fs::read_dir(dir.join("quarantine")) {
        let mut q: Vec<_> = rd
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        q.sort();
        for n in q {
            find(
                format!("quarantine/{n}"),
                FindingKind::Quarantined,
                "failed verification and was moved aside".into(),
            );
        }
    }
    let mpath = dir.join(MANIFEST_FILE);
    let text = match read_file(&mpath, MANIFEST_LIMIT) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if !on_disk.is_empty() {
                find(
                    MANIFEST_FILE.into(),
                    FindingKind::ManifestMissing,
                    format!("{} segment file(s) but no manifest", on_disk.len()),
                );
            }
            Vec::new()
        }
        Err(e) => {
            find(MANIFEST_FILE.into(), FindingKind::Unreadable, e.to_string());
            r.findings.append(&mut findings);
            return;
        }
    };
    // A line without its newline is an append in progress (the store is running): skipped.
    let valid = text.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
    let text = String::from_utf8_lossy(&text[..valid]);
    let pk = key.map(|k| UnparsedPublicKey::new(&ED25519, k));
    let mut prev = [0u8; 32];
    let mut expect_seq = 1u64;
    let mut ledger = Ledger::default();
    // Entries whose hash, signature and link verified, by file.
    let mut trusted = BTreeSet::new();
    for (i, line) in text.lines().enumerate() {
        let loc = format!("{MANIFEST_FILE}:{}", i + 1);
        let e = match Entry::parse(line) {
            Ok(e) => e,
            Err(why) => {
                find(loc, FindingKind::CorruptEntry, why);
                // The chain cannot be followed across it; the next entry links to an unknown
                // hash, which is reported as a break.
                prev = [0xff; 32];
                expect_seq += 1;
                continue;
            }
        };
        let mut ok = true;
        if e.compute_hash() != e.hash {
            find(
                format!("{loc} ({})", e.file),
                FindingKind::BadHash,
                "entry hash does not match the entry's fields".into(),
            );
            ok = false;
        }
        if let Some(pk) = &pk
            && pk.verify(&e.hash, &e.sig).is_err()
        {
            find(
                format!("{loc} ({})", e.file),
                FindingKind::BadSignature,
                "signature does not verify with the manifest public key".into(),
            );
            ok = false;
        }
        let applied = ledger.apply(&e);
        if e.prev != prev || e.seq != expect_seq || applied.is_err() {
            let why = if e.prev != prev {
                "prev does not match the previous entry's hash".to_owned()
            } else if e.seq != expect_seq {
                "sequence number out of order".to_owned()
            } else {
                applied.err().unwrap_or_default()
            };
            find(
                format!("{loc} ({})", e.file),
                FindingKind::ChainBroken,
                format!(
                    "{why} (seq {}, expected {expect_seq}): an entry was removed, inserted or reordered",
                    e.seq
                ),
            );
            ok = false;
        }
        if ok && pk.is_some() {
            r.entries_verified += 1;
            // A re-encryption vouches for a file only as far as the entry that listed it.
            if !matches!(e.op, Op::Reencrypt | Op::Delete) {
                trusted.insert((e.tier, e.file.clone()));
            }
        } else {
            trusted.remove(&(e.tier, e.file.clone()));
        }
        prev = e.hash;
        expect_seq = e.seq + 1;
    }
    for ((tier, file), l) in &ledger.live {
        let path = tier.dir(dir).join(file);
        let shown = match tier {
            Tier::Hot => file.clone(),
            Tier::Cold => format!("cold/{file}"),
        };
        match super::segment::sha256_file(&path) {
            Ok((sha, size)) => {
                if size != l.size || sha != l.sha256 {
                    find(
                        shown,
                        FindingKind::Altered,
                        format!(
                            "content differs from the manifest (size {size}, manifest {}; sha256 {}, manifest {})",
                            l.size,
                            hex(&sha),
                            hex(&l.sha256)
                        ),
                    );
                } else if trusted.contains(&(*tier, file.clone())) {
                    r.segments_verified += 1;
                }
            }
            Err(StoreError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                find(
                    shown,
                    FindingKind::Missing,
                    format!(
                        "listed in the manifest (LSN {}-{}) but not on disk",
                        l.first_lsn, l.last_lsn
                    ),
                );
            }
            Err(err) => find(shown, FindingKind::Unreadable, err.to_string()),
        }
    }
    for (tier, n) in &on_disk {
        let key = (*tier, n.clone());
        if ledger.live.contains_key(&key) || ledger.retired.contains(&key) {
            // Retired files still on disk are the tail of an interrupted merge: the store
            // deletes them at its next open.
            continue;
        }
        let shown = match tier {
            Tier::Hot => n.clone(),
            Tier::Cold => format!("cold/{n}"),
        };
        let detail = if ledger.deleted.contains(&key) {
            "deleted by retention but still on disk; the store finishes the deletion when it next opens"
        } else {
            "segment file on disk that the manifest does not list"
        };
        find(shown, FindingKind::Unlisted, detail.into());
    }
    r.findings.append(&mut findings);
}

fn tier_dir_name(t: Tier) -> &'static str {
    match t {
        Tier::Hot => "segments",
        Tier::Cold => "cold",
    }
}
