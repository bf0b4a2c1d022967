//! One open file being followed, and the fingerprint that tells files apart.

use std::fs::File;
use std::io::Read as _;
use std::os::unix::fs::{FileExt as _, MetadataExt as _};
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::lines::{Joiner, LineCutter, MultilineRule, Rec};

/// Bytes of a file's beginning its fingerprint covers, at most.
pub(crate) const FP_MAX: usize = 256;

/// Bytes read from one file per read call.
const READ_CHUNK: usize = 64 * 1024;

/// A file's identity: device and inode, and a CRC-32 of its first bytes (so a reused inode is
/// not taken for the file that had it before).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Fingerprint {
    /// CRC-32 of the first `len` bytes.
    pub crc: u32,
    /// Bytes covered, at most [`FP_MAX`] (fewer while the file is shorter).
    pub len: u32,
}

impl Fingerprint {
    /// Of `bytes` (the first up to [`FP_MAX`] used).
    pub fn of(bytes: &[u8]) -> Fingerprint {
        let b = &bytes[..bytes.len().min(FP_MAX)];
        Fingerprint {
            crc: crc32fast::hash(b),
            len: b.len() as u32,
        }
    }

    /// Reads the first `len` bytes of `f` (fewer if it is shorter) and fingerprints them.
    pub fn read(f: &File, len: usize) -> std::io::Result<Fingerprint> {
        let mut buf = vec![0u8; len.min(FP_MAX)];
        let mut got = 0;
        while got < buf.len() {
            let n = f.read_at(&mut buf[got..], got as u64)?;
            if n == 0 {
                break;
            }
            got += n;
        }
        Ok(Fingerprint::of(&buf[..got]))
    }

    /// Whether `f`'s first `self.len` bytes are still the ones fingerprinted.
    pub fn matches(&self, f: &File) -> std::io::Result<bool> {
        let now = Fingerprint::read(f, self.len as usize)?;
        Ok(now == *self)
    }
}

/// A file being followed.
#[derive(Debug)]
pub(crate) struct Tailer {
    /// Where it was last found.
    pub path: PathBuf,
    file: File,
    /// Device.
    pub dev: u64,
    /// Inode.
    pub ino: u64,
    /// Fingerprint of its beginning, growing to [`FP_MAX`] bytes as the file does.
    pub fp: Fingerprint,
    /// Next byte to read.
    pub read_pos: u64,
    cutter: LineCutter,
    joiner: Joiner,
    /// Since when its path no longer leads to it (renamed away or deleted).
    pub gone_since: Option<Instant>,
    /// When it last had new bytes.
    pub last_data: Instant,
}

/// What one poll of a file found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Polled {
    /// Read (maybe nothing); `more` when the read budget ran out before the end.
    Read {
        /// Bytes read.
        bytes: u64,
        /// Whether there is more to read now.
        more: bool,
    },
    /// The file is shorter than what was read, or its first bytes changed: it was truncated
    /// (copytruncate) or rewritten. Holds the offset up to which it had been sent.
    Truncated(u64),
}

impl Tailer {
    /// Opens `path` to read from `offset`.
    pub fn open(
        path: &Path,
        offset: u64,
        max: usize,
        rule: Option<MultilineRule>,
    ) -> std::io::Result<Tailer> {
        let file = File::open(path)?;
        let md = file.metadata()?;
        let fp = Fingerprint::read(&file, FP_MAX)?;
        let now = Instant::now();
        Ok(Tailer {
            path: path.to_path_buf(),
            file,
            dev: md.dev(),
            ino: md.ino(),
            fp,
            read_pos: offset,
            cutter: LineCutter::new(offset, max),
            joiner: Joiner::new(rule, max),
            gone_since: None,
            last_data: now,
        })
    }

    /// Where reading resumes after a restart: the start of the record being joined, else just
    /// past the last complete line.
    pub fn checkpoint(&self) -> u64 {
        self.joiner
            .pending_start()
            .unwrap_or_else(|| self.cutter.consumed())
    }

    /// Reads what was appended, up to `budget` bytes, handing finished records to `out`.
    pub fn poll(&mut self, budget: u64, out: &mut Vec<Rec>) -> std::io::Result<Polled> {
        let len = self.file.metadata()?.len();
        if len < self.read_pos {
            return Ok(Polled::Truncated(self.checkpoint()));
        }
        if len > self.read_pos || (self.fp.len as usize) < FP_MAX {
            // the beginning must still be what it was (copytruncate and a fast writer can
            // make the file longer than before between two polls)
            if !self.fp.matches(&self.file)? {
                return Ok(Polled::Truncated(self.checkpoint()));
            }
            if (self.fp.len as usize) < FP_MAX && len > u64::from(self.fp.len) {
                self.fp = Fingerprint::read(&self.file, FP_MAX)?;
            }
        }
        let mut read = 0u64;
        let mut buf = vec![0u8; READ_CHUNK];
        let (cutter, joiner) = (&mut self.cutter, &mut self.joiner);
        while read < budget && self.read_pos < len {
            let want = (len - self.read_pos).min(READ_CHUNK as u64) as usize;
            let n = self.file.read_at(&mut buf[..want], self.read_pos)?;
            if n == 0 {
                break;
            }
            self.read_pos += n as u64;
            read += n as u64;
            cutter.push(&buf[..n], &mut |r, start| joiner.push(r, start, out));
        }
        if read > 0 {
            self.last_data = Instant::now();
        }
        Ok(Polled::Read {
            bytes: read,
            more: self.read_pos < len,
        })
    }

    /// Whether its path still leads to this file (same device and inode).
    pub fn path_leads_here(&self) -> bool {
        std::fs::metadata(&self.path).is_ok_and(|m| m.dev() == self.dev && m.ino() == self.ino)
    }

    /// Sends the record being joined if its timeout passed.
    pub fn tick(&mut self, now: Instant, out: &mut Vec<Rec>) {
        self.joiner.tick(now, out);
    }

    /// The file ends here for good (closed after rotation): its unterminated last line and the
    /// record being joined go out.
    pub fn finish(&mut self, out: &mut Vec<Rec>) {
        let joiner = &mut self.joiner;
        self.cutter
            .finish(&mut |r, start| joiner.push(r, start, out));
        joiner.flush(out);
    }

    /// After a truncation: sends the record being joined (its lines were complete), forgets
    /// an unfinished line (a copy of the file, if one is read, holds it), and starts again at
    /// the beginning. Returns the offset up to which the old content was sent.
    pub fn restart(&mut self, out: &mut Vec<Rec>) -> std::io::Result<u64> {
        self.joiner.flush(out);
        let sent = self.cutter.consumed();
        self.cutter.reset(0);
        self.read_pos = 0;
        self.fp = Fingerprint::read(&self.file, FP_MAX)?;
        Ok(sent)
    }

    /// Drops the record being joined (the connector stops; it is read again next time).
    pub fn discard_pending(&mut self) {
        self.joiner.discard();
    }

    /// Bytes held for an unfinished line.
    pub fn held(&self) -> usize {
        self.cutter.pending()
    }

    /// Reads up to [`FP_MAX`] bytes of `r`'s beginning (for compressed streams).
    pub fn head_of(r: &mut impl std::io::Read) -> std::io::Result<Vec<u8>> {
        let mut head = Vec::with_capacity(FP_MAX);
        #[allow(clippy::disallowed_methods)] // bounded by take()
        r.take(FP_MAX as u64).read_to_end(&mut head)?;
        Ok(head)
    }
}

/// `true` when `p`'s name ends in `.gz` or `.zst`: read once, whole, never tailed.
pub(crate) fn is_compressed(p: &Path) -> bool {
    matches!(
        p.extension().and_then(|e| e.to_str()),
        Some("gz") | Some("zst")
    )
}

/// Whether `f` (by its first bytes) is gzip or zstd; `None` for neither.
pub(crate) fn sniff(f: &mut File) -> std::io::Result<Option<&'static str>> {
    let mut magic = [0u8; 4];
    let n = f.read_at(&mut magic, 0)?;
    Ok(match &magic[..n] {
        [0x1f, 0x8b, ..] => Some("gz"),
        [0x28, 0xb5, 0x2f, 0xfd] => Some("zst"),
        _ => None,
    })
}
