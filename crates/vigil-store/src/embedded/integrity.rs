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
//! # Manifest lines
//! ```text
//! seal:   seq=<n> file=<name> first_lsn=<n> last_lsn=<n> events=<n> size=<bytes> sha256=<hex>
//!           prev=<hex> hash=<hex> sig=<hex>
//! merge:  seq=<n> op=merge|tier file=<name> tier=hot|cold first_lsn=<n> last_lsn=<n>
//! / tier    events=<n> size=<bytes> sha256=<hex> replaces=<tier>:<name>,... prev=<hex>
//!           hash=<hex> sig=<hex>
//! ```
//! (one line each, single spaces). A seal line adds a hot segment. A merge line (segments of
//! one tier merged into a larger one) and a tier line (hot segments rewritten into the cold
//! tier) add their new file and retire the files they replace, which must be live; the new
//! file's LSN range and event count must be those of the replaced files together. `sha256` is
//! the SHA-256 of the whole segment file; `prev` is the `hash` of the previous line (64 zeros
//! for the first); `hash` is the SHA-256 of the canonical bytes `"vigil-manifest-v1\n" +
//! "seq=... prev=<hex>"` (the line up to and including `prev`); `sig` is the Ed25519
//! signature of the 32 `hash` bytes.
//!
//! A merge or tier move is: write the new file, fsync, rename, fsync the directory, append
//! and fsync its line, swap it into the searchable view, delete the replaced files. A crash
//! after the line leaves retired files, deleted at the next open; a crash before it leaves an
//! unlisted file whose LSNs overlap live segments, also deleted at open.
//!
//! A line is appended and fsynced right after its segment is renamed into place and the
//! directory fsynced, before the WAL it covers is deleted. At open, segments above the highest
//! LSN the manifest lists (a data directory from before manifests, or a crash between the
//! rename and the append) are appended in LSN order; a segment at or below it that the
//! manifest does not list is left alone (and reported by [`verify`] as unlisted).

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{File, OpenOptions};
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

fn read_file(path: &Path, limit: u64) -> std::io::Result<Vec<u8>> {
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
        std::fs::create_dir_all(&dir).map_err(|e| StoreError::io("create directory", &dir, e))?;
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
                let mut f = File::create(&pubf)
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
    let mut o = OpenOptions::new();
    o.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    let mut f = o
        .open(path)
        .map_err(|e| StoreError::io("create signing key", path, e))?;
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
}

impl Op {
    fn as_str(self) -> &'static str {
        match self {
            Op::Seal => "seal",
            Op::Merge => "merge",
            Op::Tier => "tier",
        }
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
        let replaces: Vec<String> = self
            .replaces
            .iter()
            .map(|(t, n)| format!("{}:{n}", t.as_str()))
            .collect();
        format!(
            "seq={} op={} file={} tier={} first_lsn={} last_lsn={} events={} size={} sha256={} replaces={} prev={}",
            self.seq,
            self.op.as_str(),
            self.file,
            self.tier.as_str(),
            self.first_lsn,
            self.last_lsn,
            self.events,
            self.size,
            hex(&self.sha256),
            replaces.join(","),
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
        const KEYS_REWRITE: [&str; 13] = [
            "seq",
            "op",
            "file",
            "tier",
            "first_lsn",
            "last_lsn",
            "events",
            "size",
            "sha256",
            "replaces",
            "prev",
            "hash",
            "sig",
        ];
        let rewrite = order == KEYS_REWRITE;
        if order != KEYS && !rewrite {
            return Err(format!(
                "fields are {order:?}, expected {KEYS:?} or {KEYS_REWRITE:?}"
            ));
        }
        let (op, tier, replaces) = if rewrite {
            let op = match fields["op"] {
                "merge" => Op::Merge,
                "tier" => Op::Tier,
                other => return Err(format!("unknown op {other:?}")),
            };
            let tier = Tier::parse(fields["tier"]).ok_or("tier is not hot or cold")?;
            let mut replaces = Vec::new();
            for r in fields["replaces"].split(',') {
                let (t, n) = r
                    .split_once(':')
                    .and_then(|(t, n)| Some((Tier::parse(t)?, n)))
                    .filter(|(_, n)| valid_segment_name(n))
                    .ok_or_else(|| format!("bad replaced file {r:?}"))?;
                replaces.push((t, n.to_owned()));
            }
            (op, tier, replaces)
        } else {
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

/// The live and retired files of a sequence of entries (shared by the store and `verify`).
#[derive(Debug, Default)]
struct Ledger {
    live: BTreeMap<(Tier, String), Listed>,
    retired: BTreeSet<(Tier, String)>,
    /// Highest LSN of a seal entry.
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
        if e.op == Op::Seal {
            if e.first_lsn <= self.max_lsn {
                problem = Some("LSN range out of order".to_owned());
            }
            self.max_lsn = self.max_lsn.max(e.last_lsn);
        } else {
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
        if self.live.contains_key(&key) {
            problem.get_or_insert("segment listed twice".to_owned());
        }
        self.retired.remove(&key);
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
        let mut file = OpenOptions::new()
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
        let mut e = Entry {
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
        e.hash = e.compute_hash();
        e.sig = signer.key.sign(&e.hash).as_ref().to_vec();
        let mut check = Ledger {
            live: self.ledger.live.clone(),
            retired: BTreeSet::new(),
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
    let mut find = |file: String, kind: FindingKind, detail: String| {
        r.findings.push(Finding {
            tenant: tenant.to_owned(),
            file,
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
                "failed verification when the store opened and was moved aside".into(),
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
            trusted.insert((e.tier, e.file.clone()));
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
        find(
            shown,
            FindingKind::Unlisted,
            "segment file on disk that the manifest does not list".into(),
        );
    }
}

fn tier_dir_name(t: Tier) -> &'static str {
    match t {
        Tier::Hot => "segments",
        Tier::Cold => "cold",
    }
}
