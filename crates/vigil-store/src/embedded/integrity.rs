//! Tamper evidence for sealed segments: a per-tenant, append-only, hash-chained and
//! Ed25519-signed manifest, and [`verify`], which checks it against the files on disk.
//!
//! # Files
//! ```text
//! <data_dir>/keys/manifest-signing.pk8   Ed25519 private key, PKCS#8 v2 (mode 0600, made at first open)
//! <data_dir>/keys/manifest-signing.pub   the public key, 64 hex digits and a newline
//! <data_dir>/events/<tenant>/manifest.log one line per sealed segment, oldest first
//! ```
//!
//! # Manifest line
//! ```text
//! seq=<n> file=<name> first_lsn=<n> last_lsn=<n> events=<n> size=<bytes> sha256=<hex>
//!   prev=<hex> hash=<hex> sig=<hex>
//! ```
//! (one line, single spaces). `sha256` is the SHA-256 of the whole segment file; `prev` is the
//! `hash` of the previous line (64 zeros for the first); `hash` is the SHA-256 of the canonical
//! bytes `"vigil-manifest-v1\n" + "seq=... prev=<hex>"` (the line up to and including `prev`);
//! `sig` is the Ed25519 signature of the 32 `hash` bytes.
//!
//! Besides `seal` lines (above), three operations are chained the same way, with an `op` field
//! after `seq` (a `seal` line has none, so manifests from before keep their hashes):
//! `op=delete` (retention is about to unlink the listed file; size and SHA-256 are its last
//! ones), `op=reencrypt` (the listed file was rewritten under another key: its new size and
//! SHA-256 — the manifest always hashes the bytes on disk, so verifying needs no key) and
//! `op=expire` (an LSN range dropped by retention before it was sealed; no file). [`verify`]
//! keeps each file's latest state: a deleted file is not expected on disk, a re-encrypted one
//! is checked against its new hash. Each storage space (`<tenant>/spaces/<space>/`) has its own
//! manifest; segments are looked for in `segments/` and `cold/`.
//!
//! A line is appended and fsynced right after its segment is renamed into place and the
//! directory fsynced, before the WAL it covers is deleted. At open, segments above the highest
//! LSN the manifest lists (a data directory from before manifests, or a crash between the
//! rename and the append) are appended in LSN order; a segment at or below it that the
//! manifest does not list is left alone (and reported by [`verify`] as unlisted).

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use ring::digest::{Context, SHA256};
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

/// What a manifest entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    /// A segment was sealed (written, renamed into place): its size and SHA-256.
    Seal,
    /// Retention deleted a listed segment (the entry comes before the unlink).
    Delete,
    /// A listed segment was rewritten under another encryption key: its new size and SHA-256.
    Reencrypt,
    /// A memtable whose events had all passed their retention was dropped instead of sealed:
    /// its LSN range is accounted for without a file.
    Expire,
}

impl Op {
    fn as_str(self) -> &'static str {
        match self {
            Op::Seal => "seal",
            Op::Delete => "delete",
            Op::Reencrypt => "reencrypt",
            Op::Expire => "expire",
        }
    }

    fn parse(s: &str) -> Option<Op> {
        Some(match s {
            "seal" => Op::Seal,
            "delete" => Op::Delete,
            "reencrypt" => Op::Reencrypt,
            "expire" => Op::Expire,
            _ => return None,
        })
    }
}

/// One manifest entry.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    seq: u64,
    op: Op,
    file: String,
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
    /// The hashed part of the line. A `seal` entry has no `op` field (the format of manifests
    /// written before there were other operations, whose hashes must still verify).
    fn canonical(&self) -> String {
        let op = match self.op {
            Op::Seal => String::new(),
            op => format!(" op={}", op.as_str()),
        };
        format!(
            "seq={}{op} file={} first_lsn={} last_lsn={} events={} size={} sha256={} prev={}",
            self.seq,
            self.file,
            self.first_lsn,
            self.last_lsn,
            self.events,
            self.size,
            hex(&self.sha256),
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
        let op = if order.get(1) == Some(&"op") {
            order.remove(1);
            let v = fields["op"];
            Op::parse(v).ok_or_else(|| format!("unknown op {v:?}"))?
        } else {
            Op::Seal
        };
        if order != KEYS {
            return Err(format!("fields are {order:?}, expected {KEYS:?}"));
        }
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

fn valid_segment_name(s: &str) -> bool {
    s.ends_with(".vseg") && !s.starts_with('.') && !s.contains(['/', '\\'])
}

/// What a segment contributes to its manifest entry.
pub(crate) struct SegmentInfo<'a> {
    pub path: &'a Path,
    pub first_lsn: u64,
    pub last_lsn: u64,
    pub events: u64,
}

/// The latest state of a file the manifest names.
#[derive(Debug, Clone)]
struct FileState {
    first_lsn: u64,
    last_lsn: u64,
    events: u64,
    size: u64,
    sha256: [u8; 32],
    /// False once a `delete` (or `expire`) entry names it.
    live: bool,
}

/// A tenant's open manifest (append side).
#[derive(Debug)]
pub(crate) struct Manifest {
    path: PathBuf,
    file: File,
    next_seq: u64,
    prev: [u8; 32],
    max_lsn: u64,
    files: BTreeMap<String, FileState>,
}

impl Manifest {
    /// Opens (or creates) `<tenant_dir>/manifest.log` and reads where the chain ends. A torn
    /// last line (no newline: a crash mid-append) is cut off.
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
            max_lsn: 0,
            files: BTreeMap::new(),
        };
        for line in String::from_utf8_lossy(&text[..valid]).lines() {
            match Entry::parse(line) {
                Ok(e) => {
                    m.next_seq = m.next_seq.max(e.seq + 1);
                    m.prev = e.hash;
                    m.apply(&e);
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

    fn apply(&mut self, e: &Entry) {
        match e.op {
            Op::Seal | Op::Expire => {
                self.max_lsn = self.max_lsn.max(e.last_lsn);
                self.files.insert(
                    e.file.clone(),
                    FileState {
                        first_lsn: e.first_lsn,
                        last_lsn: e.last_lsn,
                        events: e.events,
                        size: e.size,
                        sha256: e.sha256,
                        live: e.op == Op::Seal,
                    },
                );
            }
            Op::Delete => {
                if let Some(f) = self.files.get_mut(&e.file) {
                    f.live = false;
                }
            }
            Op::Reencrypt => {
                if let Some(f) = self.files.get_mut(&e.file) {
                    f.size = e.size;
                    f.sha256 = e.sha256;
                }
            }
        }
    }

    /// The highest LSN any `seal` or `expire` entry covers: every LSN at or below it is in a
    /// segment or was dropped by retention, so the WAL never needs to replay it and new
    /// appends start above it (even when retention has deleted every segment).
    pub(crate) fn max_lsn(&self) -> u64 {
        self.max_lsn
    }

    /// Whether a `delete` entry names `file` (a deletion that a crash may have left
    /// unfinished).
    pub(crate) fn is_deleted(&self, file: &str) -> bool {
        self.files.get(file).is_some_and(|f| !f.live)
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
            if self.files.contains_key(&name) {
                continue;
            }
            if s.first_lsn > self.max_lsn {
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
        let (sha256, size) = hash_file(s.path)?;
        self.write_entry(
            signer,
            Op::Seal,
            file_name(s.path),
            (s.first_lsn, s.last_lsn, s.events),
            size,
            sha256,
        )
    }

    /// Records that retention is about to delete the listed segment `file`. Written and
    /// fsynced before the unlink, so that `verify` never sees a listed file missing.
    pub(crate) fn record_delete(&mut self, signer: &Signer, file: &str) -> Result<(), StoreError> {
        let Some(f) = self.files.get(file).cloned() else {
            return Err(StoreError::Invalid(format!(
                "{file} is not in the manifest {}",
                self.path.display()
            )));
        };
        self.write_entry(
            signer,
            Op::Delete,
            file.to_owned(),
            (f.first_lsn, f.last_lsn, f.events),
            f.size,
            f.sha256,
        )
    }

    /// Records that the listed segment at `path` was rewritten (re-encrypted): its new size
    /// and SHA-256. Written after the rename, before anything relies on the new file.
    pub(crate) fn record_reencrypt(
        &mut self,
        signer: &Signer,
        path: &Path,
    ) -> Result<(), StoreError> {
        let name = file_name(path);
        let Some(f) = self.files.get(&name).cloned() else {
            return Err(StoreError::Invalid(format!(
                "{name} is not in the manifest {}",
                self.path.display()
            )));
        };
        let (sha256, size) = hash_file(path)?;
        self.write_entry(
            signer,
            Op::Reencrypt,
            name,
            (f.first_lsn, f.last_lsn, f.events),
            size,
            sha256,
        )
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
        self.write_entry(
            signer,
            Op::Expire,
            name,
            (first_lsn, last_lsn, events),
            0,
            [0; 32],
        )
    }

    fn write_entry(
        &mut self,
        signer: &Signer,
        op: Op,
        file: String,
        (first_lsn, last_lsn, events): (u64, u64, u64),
        size: u64,
        sha256: [u8; 32],
    ) -> Result<(), StoreError> {
        let mut e = Entry {
            seq: self.next_seq,
            op,
            file,
            first_lsn,
            last_lsn,
            events,
            size,
            sha256,
            prev: self.prev,
            hash: [0; 32],
            sig: Vec::new(),
        };
        e.hash = e.compute_hash();
        e.sig = signer.key.sign(&e.hash).as_ref().to_vec();
        self.file
            .write_all(e.line().as_bytes())
            .and_then(|()| self.file.sync_data())
            .map_err(|err| StoreError::io("append manifest", &self.path, err))?;
        self.next_seq += 1;
        self.prev = e.hash;
        self.apply(&e);
        Ok(())
    }
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn hash_file(path: &Path) -> Result<([u8; 32], u64), StoreError> {
    let mut f = File::open(path).map_err(|e| StoreError::io("open segment", path, e))?;
    let mut c = Context::new(&SHA256);
    let mut buf = vec![0u8; 1 << 16];
    let mut size = 0u64;
    loop {
        let n = f
            .read(&mut buf)
            .map_err(|e| StoreError::io("read segment", path, e))?;
        if n == 0 {
            break;
        }
        size += n as u64;
        c.update(&buf[..n]);
    }
    Ok((digest32(c.finish()), size))
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

/// Segment file names in the hot (`segments/`) and cold (`cold/`) directories of a partition,
/// with their paths.
fn sealed_on_disk(
    dir: &Path,
    find: &mut dyn FnMut(String, FindingKind, String),
) -> BTreeMap<String, PathBuf> {
    let mut on_disk = BTreeMap::new();
    for sub in [super::spaces::HOT_DIR, super::spaces::COLD_DIR] {
        match std::fs::read_dir(dir.join(sub)) {
            Ok(rd) => {
                for e in rd.flatten() {
                    let n = e.file_name().to_string_lossy().into_owned();
                    if valid_segment_name(&n) {
                        on_disk.insert(n, e.path());
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => find(format!("{sub}/"), FindingKind::Unreadable, e.to_string()),
        }
    }
    on_disk
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
    let on_disk = sealed_on_disk(dir, &mut find);
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
    let mut last_lsn = 0u64;
    let mut any_lsn = false;
    // Latest state per file: (entry location, seq, size, sha256, live, entries ok, LSNs).
    type Latest = (String, u64, u64, [u8; 32], bool, bool, (u64, u64));
    let mut files: BTreeMap<String, Latest> = BTreeMap::new();
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
        // LSN ranges only move forward on entries that add data (seal) or account for it
        // (expire); delete and reencrypt name an earlier entry's file.
        let adds = matches!(e.op, Op::Seal | Op::Expire);
        if e.prev != prev || e.seq != expect_seq || (adds && any_lsn && e.first_lsn <= last_lsn) {
            let why = if e.prev != prev {
                "prev does not match the previous entry's hash"
            } else if e.seq != expect_seq {
                "sequence number out of order"
            } else {
                "LSN range out of order"
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
        }
        prev = e.hash;
        expect_seq = e.seq + 1;
        if adds {
            last_lsn = last_lsn.max(e.last_lsn);
            any_lsn = true;
            if files.contains_key(&e.file) {
                find(
                    format!("{loc} ({})", e.file),
                    FindingKind::ChainBroken,
                    "segment listed twice".into(),
                );
                continue;
            }
            files.insert(
                e.file.clone(),
                (
                    loc,
                    e.seq,
                    e.size,
                    e.sha256,
                    e.op == Op::Seal,
                    ok,
                    (e.first_lsn, e.last_lsn),
                ),
            );
        } else {
            match files.get_mut(&e.file) {
                Some(f) if f.4 => {
                    if e.op == Op::Delete {
                        f.4 = false;
                    } else {
                        (f.0, f.2, f.3) = (loc, e.size, e.sha256);
                    }
                    f.1 = e.seq;
                    f.5 &= ok;
                }
                _ => find(
                    format!("{loc} ({})", e.file),
                    FindingKind::ChainBroken,
                    format!(
                        "{} of a segment that no earlier entry lists (or that was already deleted)",
                        e.op.as_str()
                    ),
                ),
            }
        }
    }
    for (name, (_loc, seq, size, sha, live, ok, (l0, l1))) in &files {
        let path = on_disk.get(name);
        if !*live {
            if path.is_some() {
                find(
                    name.clone(),
                    FindingKind::Unlisted,
                    format!(
                        "deleted by retention (manifest seq {seq}) but still on disk; the store finishes the deletion when it next opens"
                    ),
                );
            }
            continue;
        }
        let Some(path) = path else {
            find(
                name.clone(),
                FindingKind::Missing,
                format!("listed in the manifest (seq {seq}, LSN {l0}-{l1}) but not on disk"),
            );
            continue;
        };
        match hash_file(path) {
            Ok((got, got_size)) => {
                if got_size != *size || got != *sha {
                    find(
                        name.clone(),
                        FindingKind::Altered,
                        format!(
                            "content differs from the manifest (size {got_size}, manifest {size}; sha256 {}, manifest {})",
                            hex(&got),
                            hex(sha)
                        ),
                    );
                } else if *ok && pk.is_some() {
                    r.segments_verified += 1;
                }
            }
            Err(err) => find(name.clone(), FindingKind::Unreadable, err.to_string()),
        }
    }
    for n in on_disk.keys() {
        if !files.contains_key(n) {
            find(
                n.clone(),
                FindingKind::Unlisted,
                "segment file on disk that the manifest does not list".into(),
            );
        }
    }
    r.findings.append(&mut findings);
}
