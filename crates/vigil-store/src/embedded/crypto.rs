//! Encryption at rest: AES-256-GCM (`ring`) over WAL frames and over sealed files, with a
//! keyring of numbered keys so that keys can be rotated and old files re-encrypted in the
//! background.
//!
//! # Keys
//! A *keyring* maps key ids (1, 2, ...) to 32-byte keys; the last key listed is *current* and
//! encrypts everything new. It is read from a file (`key_file`, which must not be readable by
//! group or others) or an environment variable (`key_env`):
//! ```text
//! # one key per line: <id>:<64 hex digits or base64 of 32 bytes>; the last one is current
//! 1:6f1c...e2
//! 2:q2b0Yk9...=
//! ```
//! A variable may also hold entries separated by `,` or whitespace, or one bare key (id 1).
//! Key bytes are never logged: `Debug` shows ids and 8-byte fingerprints
//! (`SHA-256("vigil-key-fp-v1" ‖ key)`), which files record so that a wrong key is reported as
//! such instead of as tampering.
//!
//! # Sealed file container (format independent)
//! Any file written through [`create_sealed_file`] (segments today, Parquet files later):
//! ```text
//! header (48 bytes) = "VIGILENC" | version u16 = 1 | reserved u16 | chunk size u32 (65,536)
//!                     | key id u32 | key fingerprint [8] | file id [16] (random) | crc32 u32 (of the previous 44)
//! chunk*            = AES-256-GCM(file key, nonce = 0u32 ‖ index u64 BE,
//!                                 aad = header[0..44] ‖ index u64 LE ‖ last u8) of
//!                     `chunk size` plaintext bytes (the last chunk: 0..=chunk size) ‖ tag [16]
//! ```
//! The file key is HKDF-SHA256(key, salt = file id, info = "vigil-file-v1"), so every file has
//! its own key and the chunk index is a unique nonce. There is always a last chunk (flag 1),
//! so truncation at a chunk boundary, reordering, and splicing chunks between files all fail
//! authentication. Readers ([`SealedReader`]) decrypt only the chunks a read touches (a small
//! cache keeps the last few), so random access (`read_exact_at`, [`SealedReader::read_range`],
//! `Read + Seek`) costs at most one extra chunk per read. A file that does not start with
//! `VIGILENC` is read as plain bytes: stores created before encryption stay readable and are
//! encrypted by the re-encryption job.
//!
//! # WAL frame
//! ```text
//! "VGWE" | len u32 | crc32 u32 | lsn u64 | count u32 | key id u32 | key fingerprint [4]
//! | nonce [12] (random) | AES-256-GCM(WAL key, nonce, aad = lsn ‖ count ‖ key id) of the
//! payload ‖ tag [16]          (len = payload + 16; crc32 of everything after it)
//! ```
//! The WAL key is HKDF-SHA256(key, salt = "", info = "vigil-wal-v1"). Random 96-bit nonces
//! are safe for 2³² frames per key (a frame is a batch); rotate keys well before that.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::digest::{SHA256, digest};
use ring::hkdf;
use ring::rand::{SecureRandom, SystemRandom};

use crate::StoreError;

/// A key's number in the keyring.
pub type KeyId = u32;

/// Bytes of a key.
pub const KEY_LEN: usize = 32;
/// Plaintext bytes per chunk of a sealed file.
pub const CHUNK_SIZE: usize = 64 << 10;
/// Bytes of a sealed file's header.
pub const HEADER_LEN: usize = 48;
/// Magic of a sealed (encrypted) file.
pub const FILE_MAGIC: &[u8; 8] = b"VIGILENC";
const TAG_LEN: usize = 16;
const FILE_VERSION: u16 = 1;
/// Largest key file or variable read.
const KEYRING_LIMIT: u64 = 1 << 20;
/// Chunks a reader keeps decrypted.
const CACHE_CHUNKS: usize = 8;

/// Where the keyring comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// A file (mode 0600 or stricter).
    File(PathBuf),
    /// An environment variable.
    Env(String),
}

impl std::fmt::Display for KeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeySource::File(p) => write!(f, "key file {}", p.display()),
            KeySource::Env(n) => write!(f, "environment variable {n}"),
        }
    }
}

struct Key {
    bytes: [u8; KEY_LEN],
    fp: [u8; 8],
    wal: LessSafeKey,
}

/// Numbered AES-256 keys; the last added is current. `Debug` never shows key bytes.
#[derive(Clone, Default)]
pub struct Keyring {
    keys: BTreeMap<KeyId, Arc<Key>>,
    current: Option<KeyId>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let keys: Vec<String> = self
            .keys
            .iter()
            .map(|(id, k)| format!("{id}:fp={}", hex(&k.fp)))
            .collect();
        f.debug_struct("Keyring")
            .field("keys", &keys)
            .field("current", &self.current)
            .finish()
    }
}

impl PartialEq for Keyring {
    fn eq(&self, o: &Self) -> bool {
        self.current == o.current
            && self.keys.len() == o.keys.len()
            && self
                .keys
                .iter()
                .zip(&o.keys)
                .all(|((a, x), (b, y))| a == b && x.fp == y.fp)
    }
}

fn fingerprint(key: &[u8; KEY_LEN]) -> [u8; 8] {
    let mut input = b"vigil-key-fp-v1".to_vec();
    input.extend_from_slice(key);
    let d = digest(&SHA256, &input);
    let mut fp = [0u8; 8];
    fp.copy_from_slice(&d.as_ref()[..8]);
    fp
}

fn derive(key: &[u8; KEY_LEN], salt: &[u8], info: &[u8]) -> LessSafeKey {
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, salt).extract(key);
    let info = [info];
    // Expanding to one AES-256 key (32 bytes) is within HKDF's 255 × 32 byte limit.
    let okm = prk.expand(&info, &AES_256_GCM);
    let unbound = match okm {
        Ok(okm) => UnboundKey::from(okm),
        Err(_) => unreachable_key(),
    };
    LessSafeKey::new(unbound)
}

#[allow(clippy::panic)]
fn unreachable_key() -> UnboundKey {
    // HKDF-SHA256 always yields 32 bytes for AES-256-GCM.
    panic!("HKDF expansion to 32 bytes failed")
}

impl Keyring {
    /// No keys: encryption off (files are written in plain).
    pub fn empty() -> Keyring {
        Keyring::default()
    }

    /// Whether there is a current key (new data is encrypted).
    pub fn is_enabled(&self) -> bool {
        self.current.is_some()
    }

    /// The current key's id.
    pub fn current(&self) -> Option<KeyId> {
        self.current
    }

    /// The key ids, ascending.
    pub fn ids(&self) -> Vec<KeyId> {
        self.keys.keys().copied().collect()
    }

    /// Whether the keyring holds `id`.
    pub fn contains(&self, id: KeyId) -> bool {
        self.keys.contains_key(&id)
    }

    /// The fingerprint of key `id` (hex), safe to log.
    pub fn fingerprint_hex(&self, id: KeyId) -> Option<String> {
        self.keys.get(&id).map(|k| hex(&k.fp))
    }

    /// Adds a key; it becomes current.
    pub fn add(&mut self, id: KeyId, key: [u8; KEY_LEN]) -> Result<(), StoreError> {
        if id == 0 {
            return Err(StoreError::Key(
                "key id 0 is reserved; number keys from 1".into(),
            ));
        }
        if self.keys.contains_key(&id) {
            return Err(StoreError::Key(format!("key id {id} is listed twice")));
        }
        let k = Key {
            fp: fingerprint(&key),
            wal: derive(&key, b"", b"vigil-wal-v1"),
            bytes: key,
        };
        self.keys.insert(id, Arc::new(k));
        self.current = Some(id);
        Ok(())
    }

    /// Parses keyring text: `<id>:<key>` entries separated by newlines, commas or spaces
    /// (`#` starts a comment line), or one bare key (id 1). The last entry is current.
    pub fn parse(text: &str, origin: &str) -> Result<Keyring, StoreError> {
        let mut ring = Keyring::empty();
        let entries: Vec<&str> = text
            .lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .flat_map(|l| l.split([',', ' ', '\t']))
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .collect();
        if entries.is_empty() {
            return Err(StoreError::Key(format!("{origin} holds no key")));
        }
        for (i, e) in entries.iter().enumerate() {
            let (id, key) = match e.split_once(':') {
                Some((id, key)) => {
                    let id = id.parse::<KeyId>().map_err(|_| {
                        StoreError::Key(format!(
                            "{origin}: entry {}: key id '{}' is not a number",
                            i + 1,
                            id.chars().take(12).collect::<String>()
                        ))
                    })?;
                    (id, key)
                }
                None if entries.len() == 1 => (1, *e),
                None => {
                    return Err(StoreError::Key(format!(
                        "{origin}: entry {}: write <id>:<key> when there are several keys",
                        i + 1
                    )));
                }
            };
            let bytes = decode_key(key).ok_or_else(|| {
                StoreError::Key(format!(
                    "{origin}: key {id}: not 64 hex digits nor base64 of 32 bytes"
                ))
            })?;
            ring.add(id, bytes)
                .map_err(|e| StoreError::Key(format!("{origin}: {e}")))?;
        }
        Ok(ring)
    }

    /// Reads the keyring of a file, which must not be readable or writable by group or others.
    pub fn from_file(path: &Path) -> Result<Keyring, StoreError> {
        vigil_fs::check_secret_file(path).map_err(|e| StoreError::Key(e.to_string()))?;
        let f = File::open(path).map_err(|e| StoreError::io("open key file", path, e))?;
        let mut text = String::new();
        #[allow(clippy::disallowed_methods)] // bounded by take()
        f.take(KEYRING_LIMIT)
            .read_to_string(&mut text)
            .map_err(|e| StoreError::io("read key file", path, e))?;
        Keyring::parse(&text, &format!("key file {}", path.display()))
    }

    /// Reads the keyring of an environment variable.
    pub fn from_env(name: &str) -> Result<Keyring, StoreError> {
        let v = std::env::var(name).map_err(|_| {
            StoreError::Key(format!(
                "environment variable {name} is not set (or not UTF-8)"
            ))
        })?;
        if v.len() as u64 > KEYRING_LIMIT {
            return Err(StoreError::Key(format!(
                "environment variable {name} is too long"
            )));
        }
        Keyring::parse(&v, &format!("environment variable {name}"))
    }

    /// Reads the keyring of a source.
    pub fn load(source: &KeySource) -> Result<Keyring, StoreError> {
        match source {
            KeySource::File(p) => Keyring::from_file(p),
            KeySource::Env(n) => Keyring::from_env(n),
        }
    }

    fn get(&self, id: KeyId, fp: &[u8], what: &Path) -> Result<&Key, StoreError> {
        let k = self.keys.get(&id).ok_or_else(|| {
            StoreError::Key(format!(
                "{} is encrypted with key {id}, which is not in the keyring (keys: {:?}); add it back",
                what.display(),
                self.ids()
            ))
        })?;
        if k.fp[..fp.len()] != *fp {
            return Err(StoreError::Key(format!(
                "{} was encrypted with a different key {id} (fingerprint {}, the keyring's is {}): wrong key material",
                what.display(),
                hex(fp),
                hex(&k.fp[..fp.len()])
            )));
        }
        Ok(k)
    }
}

/// A random 32-byte key as a keyring line value (64 hex digits).
pub fn generate_key_hex() -> Result<String, StoreError> {
    let mut k = [0u8; KEY_LEN];
    SystemRandom::new()
        .fill(&mut k)
        .map_err(|_| StoreError::Key("the system random generator failed".into()))?;
    Ok(hex(&k))
}

fn decode_key(s: &str) -> Option<[u8; KEY_LEN]> {
    let bytes = if s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
        (0..64)
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
            .collect::<Option<Vec<u8>>>()?
    } else {
        base64_decode(s)?
    };
    bytes.try_into().ok()
}

fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let s = s.trim_end_matches('=');
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

fn hex(b: &[u8]) -> String {
    use std::fmt::Write as _;
    b.iter()
        .fold(String::with_capacity(b.len() * 2), |mut s, x| {
            let _ = write!(s, "{x:02x}");
            s
        })
}

/// Why a chunk or frame failed: authentication (tampering, corruption) or layout.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Tampered(pub String);

/// Whether `e` (from a read of a sealed file) is a failed authentication: the file was
/// altered or damaged, not merely unreadable.
pub fn is_tampered(e: &StoreError) -> Option<&Path> {
    match e {
        StoreError::Io { path, source, .. }
            if source
                .get_ref()
                .is_some_and(|inner| inner.downcast_ref::<Tampered>().is_some()) =>
        {
            Some(path)
        }
        _ => None,
    }
}

fn tampered(msg: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, Tampered(msg))
}

fn chunk_nonce(i: u64) -> Nonce {
    let mut n = [0u8; NONCE_LEN];
    n[4..].copy_from_slice(&i.to_be_bytes());
    Nonce::assume_unique_for_key(n)
}

fn chunk_aad(header: &[u8; HEADER_LEN], i: u64, last: bool) -> [u8; 53] {
    let mut a = [0u8; 53];
    a[..44].copy_from_slice(&header[..44]);
    a[44..52].copy_from_slice(&i.to_le_bytes());
    a[52] = u8::from(last);
    a
}

/// Writes a sealed file: encrypted chunks under the keyring's current key, or plain bytes
/// when the keyring has none. Call [`finish`](Self::finish) (which fsyncs); dropping it
/// unfinished leaves a file readers reject.
pub struct SealedWriter {
    file: File,
    path: PathBuf,
    enc: Option<(LessSafeKey, [u8; HEADER_LEN])>,
    buf: Vec<u8>,
    next_chunk: u64,
    written: u64,
}

impl std::fmt::Debug for SealedWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealedWriter")
            .field("path", &self.path)
            .field("encrypted", &self.enc.is_some())
            .finish()
    }
}

/// Creates (truncating) `path` for writing through the keyring: encrypted under its current
/// key, or plain when encryption is off.
pub fn create_sealed_file(path: &Path, keyring: &Keyring) -> Result<SealedWriter, StoreError> {
    let file = vigil_fs::create(path).map_err(|e| StoreError::io("create file", path, e))?;
    SealedWriter::new(file, path, keyring)
}

impl SealedWriter {
    /// Wraps an open, empty file.
    pub fn new(mut file: File, path: &Path, keyring: &Keyring) -> Result<SealedWriter, StoreError> {
        let enc = match keyring
            .current
            .and_then(|id| keyring.keys.get(&id).map(|k| (id, k)))
        {
            None => None,
            Some((id, k)) => {
                let mut file_id = [0u8; 16];
                SystemRandom::new()
                    .fill(&mut file_id)
                    .map_err(|_| StoreError::Key("the system random generator failed".into()))?;
                let mut h = [0u8; HEADER_LEN];
                h[0..8].copy_from_slice(FILE_MAGIC);
                h[8..10].copy_from_slice(&FILE_VERSION.to_le_bytes());
                h[12..16].copy_from_slice(&(CHUNK_SIZE as u32).to_le_bytes());
                h[16..20].copy_from_slice(&id.to_le_bytes());
                h[20..28].copy_from_slice(&k.fp);
                h[28..44].copy_from_slice(&file_id);
                let crc = crc32fast::hash(&h[..44]);
                h[44..48].copy_from_slice(&crc.to_le_bytes());
                file.write_all(&h)
                    .map_err(|e| StoreError::io("write file", path, e))?;
                Some((derive(&k.bytes, &file_id, b"vigil-file-v1"), h))
            }
        };
        Ok(SealedWriter {
            file,
            path: path.to_owned(),
            enc,
            buf: Vec::new(),
            next_chunk: 0,
            written: 0,
        })
    }

    /// Plaintext bytes written so far.
    pub fn plain_len(&self) -> u64 {
        self.written
    }

    fn emit(&mut self, last: bool) -> std::io::Result<()> {
        let Some((key, header)) = &self.enc else {
            return Ok(());
        };
        let i = self.next_chunk;
        let n = self.buf.len().min(CHUNK_SIZE);
        let mut chunk: Vec<u8> = self.buf.drain(..n).collect();
        key.seal_in_place_append_tag(
            chunk_nonce(i),
            Aad::from(chunk_aad(header, i, last)),
            &mut chunk,
        )
        .map_err(|_| std::io::Error::other("encryption failed"))?;
        self.file.write_all(&chunk)?;
        self.next_chunk += 1;
        Ok(())
    }

    /// Writes the last chunk, fsyncs, and returns the file.
    pub fn finish(mut self) -> Result<File, StoreError> {
        let res = (|| {
            if self.enc.is_some() {
                while self.buf.len() > CHUNK_SIZE {
                    self.emit(false)?;
                }
                self.emit(true)?;
            }
            self.file.sync_all()
        })();
        res.map_err(|e| StoreError::io("write file", &self.path, e))?;
        Ok(self.file)
    }
}

impl Write for SealedWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.written += data.len() as u64;
        if self.enc.is_none() {
            self.file.write_all(data)?;
            return Ok(data.len());
        }
        self.buf.extend_from_slice(data);
        // Keep the last chunk's worth back: whether it is the last is known only at finish.
        while self.buf.len() > CHUNK_SIZE {
            self.emit(false)?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

struct Enc {
    key: LessSafeKey,
    header: [u8; HEADER_LEN],
    key_id: KeyId,
    chunk: usize,
    chunks: u64,
    last_ct: usize,
}

struct ReaderInner {
    file: File,
    path: PathBuf,
    enc: Option<Enc>,
    len: u64,
    cache: Mutex<Vec<(u64, Arc<Vec<u8>>)>>,
}

/// Reads a sealed file (encrypted or plain) with random access. Cheap to clone (clones
/// share the file and the chunk cache; each has its own `Read`/`Seek` position), so it can
/// back a Parquet `ChunkReader` (`get_read(start)` = [`cursor`](Self::cursor), `get_bytes` =
/// [`read_range`](Self::read_range)).
#[derive(Clone)]
pub struct SealedReader {
    inner: Arc<ReaderInner>,
    pos: u64,
}

impl std::fmt::Debug for SealedReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealedReader")
            .field("path", &self.inner.path)
            .field("key_id", &self.key_id())
            .field("len", &self.inner.len)
            .finish()
    }
}

/// Opens `path` for reading through the keyring. Errors: [`StoreError::Key`] when the file
/// needs a key the keyring lacks or holds different material for (never a reason to
/// quarantine), [`StoreError::Corrupt`] for a damaged header or length.
pub fn open_sealed_file(path: &Path, keyring: &Keyring) -> Result<SealedReader, StoreError> {
    let file = File::open(path).map_err(|e| StoreError::io("open file", path, e))?;
    SealedReader::new(file, path, keyring)
}

impl SealedReader {
    /// Wraps an open file.
    pub fn new(file: File, path: &Path, keyring: &Keyring) -> Result<SealedReader, StoreError> {
        let file_len = file
            .metadata()
            .map_err(|e| StoreError::io("stat file", path, e))?
            .len();
        let mut magic = [0u8; 8];
        let encrypted =
            file_len >= 8 && file.read_exact_at(&mut magic, 0).is_ok() && &magic == FILE_MAGIC;
        let (enc, len) = if !encrypted {
            (None, file_len)
        } else {
            let bad = |r: &str| StoreError::corrupt(path, format!("encrypted file: {r}"));
            if file_len < HEADER_LEN as u64 {
                return Err(bad("shorter than its header"));
            }
            let mut h = [0u8; HEADER_LEN];
            file.read_exact_at(&mut h, 0)
                .map_err(|e| StoreError::io("read file", path, e))?;
            if crc32fast::hash(&h[..44]).to_le_bytes() != h[44..48] {
                return Err(bad("header checksum mismatch"));
            }
            let version = u16::from_le_bytes([h[8], h[9]]);
            if version != FILE_VERSION {
                return Err(bad(&format!("unsupported version {version}")));
            }
            let chunk = u32::from_le_bytes([h[12], h[13], h[14], h[15]]) as usize;
            if !(4096..=16 << 20).contains(&chunk) {
                return Err(bad(&format!("chunk size {chunk} out of range")));
            }
            let key_id = u32::from_le_bytes([h[16], h[17], h[18], h[19]]);
            let k = keyring.get(key_id, &h[20..28], path)?;
            let body = file_len - HEADER_LEN as u64;
            let ct = (chunk + TAG_LEN) as u64;
            if body < TAG_LEN as u64 {
                return Err(bad("no final chunk (truncated)"));
            }
            // Every chunk but the last is full; the last holds 0..=chunk bytes and a tag.
            let chunks = (body - TAG_LEN as u64) / ct + 1;
            let last_ct = body - (chunks - 1) * ct;
            let len = (chunks - 1) * chunk as u64 + last_ct - TAG_LEN as u64;
            let key = derive(&k.bytes, &h[28..44], b"vigil-file-v1");
            (
                Some(Enc {
                    key,
                    header: h,
                    key_id,
                    chunk,
                    chunks,
                    last_ct: last_ct as usize,
                }),
                len,
            )
        };
        Ok(SealedReader {
            inner: Arc::new(ReaderInner {
                file,
                path: path.to_owned(),
                enc,
                len,
                cache: Mutex::new(Vec::new()),
            }),
            pos: 0,
        })
    }

    /// Plaintext length.
    pub fn len(&self) -> u64 {
        self.inner.len
    }

    /// Whether the plaintext is empty.
    pub fn is_empty(&self) -> bool {
        self.inner.len == 0
    }

    /// The key the file is encrypted with (`None`: plain).
    pub fn key_id(&self) -> Option<KeyId> {
        self.inner.enc.as_ref().map(|e| e.key_id)
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// A reader positioned at `start` (shares the file and cache).
    pub fn cursor(&self, start: u64) -> SealedReader {
        SealedReader {
            inner: self.inner.clone(),
            pos: start,
        }
    }

    fn chunk(&self, e: &Enc, i: u64) -> std::io::Result<Arc<Vec<u8>>> {
        if let Some((_, c)) = self.inner.cache.lock().iter().find(|(j, _)| *j == i) {
            return Ok(c.clone());
        }
        let last = i + 1 == e.chunks;
        let ct_len = if last { e.last_ct } else { e.chunk + TAG_LEN };
        let mut buf = vec![0u8; ct_len];
        let off = HEADER_LEN as u64 + i * (e.chunk + TAG_LEN) as u64;
        self.inner.file.read_exact_at(&mut buf, off)?;
        let plain_len = e
            .key
            .open_in_place(
                chunk_nonce(i),
                Aad::from(chunk_aad(&e.header, i, last)),
                &mut buf,
            )
            .map_err(|_| {
                tampered(format!(
                    "chunk {i} of {} failed authentication: the file was altered or damaged",
                    self.inner.path.display()
                ))
            })?
            .len();
        buf.truncate(plain_len);
        let c = Arc::new(buf);
        let mut cache = self.inner.cache.lock();
        if cache.len() >= CACHE_CHUNKS {
            cache.remove(0);
        }
        cache.push((i, c.clone()));
        Ok(c)
    }

    /// Fills `buf` from plaintext offset `offset` (like `FileExt::read_exact_at`).
    pub fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
        let end = offset
            .checked_add(buf.len() as u64)
            .filter(|&e| e <= self.inner.len)
            .ok_or_else(|| {
                std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    format!(
                        "read of {} bytes at {offset} past the end ({})",
                        buf.len(),
                        self.inner.len
                    ),
                )
            })?;
        let Some(e) = &self.inner.enc else {
            return self.inner.file.read_exact_at(buf, offset);
        };
        let cs = e.chunk as u64;
        let mut at = offset;
        while at < end {
            let i = at / cs;
            let c = self.chunk(e, i)?;
            let from = (at - i * cs) as usize;
            let n = (c.len() - from).min((end - at) as usize);
            let dst = (at - offset) as usize;
            buf[dst..dst + n].copy_from_slice(&c[from..from + n]);
            at += n as u64;
        }
        Ok(())
    }

    /// The plaintext bytes of `range`.
    pub fn read_range(&self, range: Range<u64>) -> std::io::Result<Vec<u8>> {
        let n = range.end.saturating_sub(range.start);
        if n > isize::MAX as u64 {
            return Err(std::io::Error::other("range too large"));
        }
        let mut out = vec![0u8; n as usize];
        self.read_exact_at(&mut out, range.start)?;
        Ok(out)
    }
}

impl Read for SealedReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = (self.inner.len.saturating_sub(self.pos)).min(buf.len() as u64) as usize;
        if n == 0 {
            return Ok(0);
        }
        self.read_exact_at(&mut buf[..n], self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for SealedReader {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        let new = match to {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::End(d) => self.inner.len.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        let new = new.ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "seek before the start")
        })?;
        self.pos = new;
        Ok(new)
    }
}

// ---- WAL frames ----

/// Header bytes of an encrypted WAL frame.
pub(crate) const WAL_ENC_HEADER: usize = 44;
/// Magic of an encrypted WAL frame.
pub(crate) const WAL_ENC_MAGIC: u32 = u32::from_le_bytes(*b"VGWE");

fn wal_aad(lsn: u64, count: u32, key_id: KeyId) -> [u8; 16] {
    let mut a = [0u8; 16];
    a[..8].copy_from_slice(&lsn.to_le_bytes());
    a[8..12].copy_from_slice(&count.to_le_bytes());
    a[12..16].copy_from_slice(&key_id.to_le_bytes());
    a
}

/// Encrypts a plain frame's payload (`payload`) into an encrypted frame for `lsn`/`count`
/// under the current key. `None` when encryption is off.
pub(crate) fn seal_wal_frame(
    keyring: &Keyring,
    lsn: u64,
    count: u32,
    payload: &[u8],
) -> Result<Option<Vec<u8>>, StoreError> {
    let Some((id, k)) = keyring
        .current
        .and_then(|id| keyring.keys.get(&id).map(|k| (id, k)))
    else {
        return Ok(None);
    };
    let mut nonce = [0u8; NONCE_LEN];
    SystemRandom::new()
        .fill(&mut nonce)
        .map_err(|_| StoreError::Key("the system random generator failed".into()))?;
    let mut frame = Vec::with_capacity(WAL_ENC_HEADER + payload.len() + TAG_LEN);
    frame.resize(WAL_ENC_HEADER, 0);
    frame.extend_from_slice(payload);
    let mut body = frame.split_off(WAL_ENC_HEADER);
    k.wal
        .seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(wal_aad(lsn, count, id)),
            &mut body,
        )
        .map_err(|_| StoreError::Key("encryption failed".into()))?;
    frame[0..4].copy_from_slice(&WAL_ENC_MAGIC.to_le_bytes());
    frame[4..8].copy_from_slice(&(body.len() as u32).to_le_bytes());
    frame[12..20].copy_from_slice(&lsn.to_le_bytes());
    frame[20..24].copy_from_slice(&count.to_le_bytes());
    frame[24..28].copy_from_slice(&id.to_le_bytes());
    frame[28..32].copy_from_slice(&k.fp[..4]);
    frame[32..44].copy_from_slice(&nonce);
    frame.extend_from_slice(&body);
    let mut h = crc32fast::Hasher::new();
    h.update(&frame[12..]);
    let crc = h.finalize();
    frame[8..12].copy_from_slice(&crc.to_le_bytes());
    Ok(Some(frame))
}

/// What opening an encrypted WAL frame found.
pub(crate) enum WalOpen {
    /// The plaintext payload.
    Plain(Vec<u8>),
    /// The tag did not verify: the frame was altered or damaged.
    Tampered,
}

/// Decrypts an encrypted frame's body given its 44-byte header. A missing or different key
/// is an error (the WAL is left alone); a failed tag is [`WalOpen::Tampered`].
pub(crate) fn open_wal_frame(
    keyring: &Keyring,
    header: &[u8],
    body: &mut Vec<u8>,
    path: &Path,
) -> Result<WalOpen, StoreError> {
    let lsn = u64::from_le_bytes(header[12..20].try_into().unwrap_or([0; 8]));
    let count = u32::from_le_bytes(header[20..24].try_into().unwrap_or([0; 4]));
    let id = u32::from_le_bytes(header[24..28].try_into().unwrap_or([0; 4]));
    let k = keyring.get(id, &header[28..32], path)?;
    let mut nonce = [0u8; NONCE_LEN];
    nonce.copy_from_slice(&header[32..44]);
    match k.wal.open_in_place(
        Nonce::assume_unique_for_key(nonce),
        Aad::from(wal_aad(lsn, count, id)),
        body,
    ) {
        Ok(p) => {
            let n = p.len();
            body.truncate(n);
            Ok(WalOpen::Plain(std::mem::take(body)))
        }
        Err(_) => Ok(WalOpen::Tampered),
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // tests read back small files they wrote
mod tests {
    use super::*;

    fn ring(lines: &str) -> Keyring {
        Keyring::parse(lines, "test").expect("keyring")
    }

    const A: &str = "1:000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    #[test]
    fn keyring_parses_hex_base64_and_redacts() {
        let r = ring(&format!(
            "# keys\n{A}\n2:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n"
        ));
        assert_eq!(r.ids(), vec![1, 2]);
        assert_eq!(r.current(), Some(2));
        // same bytes, same fingerprint
        assert_eq!(r.fingerprint_hex(1), r.fingerprint_hex(2));
        let dbg = format!("{r:?}");
        assert!(!dbg.contains("0001020304"), "{dbg}");
        let bare = ring("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f");
        assert_eq!(bare.ids(), vec![1]);
        for bad in ["", "1:zz", "x:00", "1:00,1:01", &format!("{A}\n{A}")] {
            assert!(Keyring::parse(bad, "t").is_err(), "{bad:?}");
        }
    }

    fn round_trip(len: usize, keyring: &Keyring) {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("f");
        let data: Vec<u8> = (0..len).map(|i| (i * 7 + i / 251) as u8).collect();
        let mut w = create_sealed_file(&p, keyring).expect("create");
        for part in data.chunks(10_007) {
            w.write_all(part).expect("write");
        }
        w.finish().expect("finish");
        let r = open_sealed_file(&p, keyring).expect("open");
        assert_eq!(r.len(), len as u64);
        assert_eq!(r.key_id(), keyring.current());
        let mut all = Vec::new();
        r.clone().read_to_end(&mut all).expect("read");
        assert_eq!(all, data);
        for (a, b) in [
            (0, 0),
            (0, 1),
            (CHUNK_SIZE - 3, CHUNK_SIZE + 5),
            (len / 2, len),
        ] {
            let (a, b) = (a.min(len), b.min(len));
            assert_eq!(r.read_range(a as u64..b as u64).expect("range"), data[a..b]);
        }
        let mut c = r.cursor(0);
        if len > 0 {
            c.seek(SeekFrom::End(-1)).expect("seek");
            let mut one = [0u8; 1];
            c.read_exact(&mut one).expect("read");
            assert_eq!(one[0], data[len - 1]);
        } else {
            assert!(c.seek(SeekFrom::End(-1)).is_err());
        }
        assert!(r.read_range(0..len as u64 + 1).is_err());
    }

    #[test]
    fn sealed_files_round_trip_plain_and_encrypted() {
        for len in [
            0,
            1,
            CHUNK_SIZE - 1,
            CHUNK_SIZE,
            CHUNK_SIZE + 1,
            3 * CHUNK_SIZE + 17,
        ] {
            round_trip(len, &Keyring::empty());
            round_trip(len, &ring(A));
        }
    }

    #[test]
    fn flipped_byte_truncation_and_wrong_key_are_detected() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("f");
        let k = ring(A);
        let mut w = create_sealed_file(&p, &k).expect("create");
        w.write_all(&vec![7u8; 2 * CHUNK_SIZE + 10]).expect("write");
        w.finish().expect("finish");
        let good = std::fs::read(&p).expect("read");
        // a flipped byte in the second chunk: that chunk fails, the first still reads
        let mut bad = good.clone();
        bad[HEADER_LEN + CHUNK_SIZE + TAG_LEN + 5] ^= 1;
        std::fs::write(&p, &bad).expect("write");
        let r = open_sealed_file(&p, &k).expect("open");
        assert!(r.read_range(0..10).is_ok());
        let e = r
            .read_range(CHUNK_SIZE as u64..CHUNK_SIZE as u64 + 10)
            .expect_err("tampered");
        let se = StoreError::io("read", &p, e);
        assert!(is_tampered(&se).is_some(), "{se}");
        // cut at a chunk boundary: the new last chunk is not flagged last
        std::fs::write(&p, &good[..HEADER_LEN + 2 * (CHUNK_SIZE + TAG_LEN)]).expect("write");
        let r = open_sealed_file(&p, &k).expect("open");
        assert!(
            r.read_range(CHUNK_SIZE as u64..CHUNK_SIZE as u64 + 1)
                .is_err()
        );
        // wrong key material under the same id, and a missing id
        std::fs::write(&p, &good).expect("write");
        let other = ring("1:ff0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f");
        let e = open_sealed_file(&p, &other).expect_err("wrong key");
        assert!(e.to_string().contains("different key 1"), "{e}");
        let e = open_sealed_file(&p, &Keyring::empty()).expect_err("no key");
        assert!(e.to_string().contains("not in the keyring"), "{e}");
    }

    #[test]
    fn wal_frames_round_trip_and_detect_tampering() {
        let k = ring(A);
        let f = seal_wal_frame(&k, 5, 2, b"hello world")
            .expect("seal")
            .expect("on");
        let (h, b) = f.split_at(WAL_ENC_HEADER);
        let mut body = b.to_vec();
        match open_wal_frame(&k, h, &mut body, Path::new("w")).expect("open") {
            WalOpen::Plain(p) => assert_eq!(p, b"hello world"),
            WalOpen::Tampered => panic!("tampered"),
        }
        let mut body = b.to_vec();
        body[0] ^= 1;
        assert!(matches!(
            open_wal_frame(&k, h, &mut body, Path::new("w")).expect("open"),
            WalOpen::Tampered
        ));
        assert!(
            seal_wal_frame(&Keyring::empty(), 1, 1, b"x")
                .expect("off")
                .is_none()
        );
    }
}
