//! The write-ahead log: one frame per appended batch.
//!
//! ```text
//! frame  = magic u32 "VGWL" | len u32 | crc32 u32 | lsn u64 | count u32 | payload[len]
//!          crc32 covers lsn, count and payload; all integers little-endian
//! payload = count postcard-encoded events, back to back
//! ```
//! With encryption on, frames are `VGWE` frames (see the `crypto` module): the same header
//! plus key id, key fingerprint and nonce, then the AES-256-GCM ciphertext; a file may mix
//! both kinds (encryption switched on, keys rotated).
//!
//! Files are `wal/<seq:010>.wal`, replayed in `seq` order. A frame that is cut short or fails
//! its checksum ends the valid part of its file: the file is truncated there and the frame is
//! counted as corrupt. Event `i` of a frame has LSN `lsn + i`.
//!
//! The files' lifecycle is here too: a partition's open file and its successors
//! ([`WriteState`], [`SyncState`], [`ClosedWal`]), rotation, the group-commit sync, waiting for
//! durability, and deletion of the files a sealed segment covers.

use std::fs::{File, OpenOptions};
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use super::crypto::{self, Keyring, WAL_ENC_HEADER, WAL_ENC_MAGIC, WalOpen};
use crate::StoreError;

#[allow(clippy::wildcard_imports)]
use super::*;

pub(crate) const FRAME_MAGIC: u32 = u32::from_le_bytes(*b"VGWL");
pub(crate) const HEADER_LEN: usize = 24;
/// The largest frame payload accepted on replay (a bigger length is corruption).
pub(crate) const MAX_FRAME: usize = 256 << 20;

/// Fills the header reserved at the front of `frame` (whose payload starts at [`HEADER_LEN`]).
pub(crate) fn finish_frame(frame: &mut [u8], lsn: u64, count: u32) {
    let len = (frame.len() - HEADER_LEN) as u32;
    let mut h = crc32fast::Hasher::new();
    h.update(&lsn.to_le_bytes());
    h.update(&count.to_le_bytes());
    h.update(&frame[HEADER_LEN..]);
    let crc = h.finalize();
    frame[0..4].copy_from_slice(&FRAME_MAGIC.to_le_bytes());
    frame[4..8].copy_from_slice(&len.to_le_bytes());
    frame[8..12].copy_from_slice(&crc.to_le_bytes());
    frame[12..20].copy_from_slice(&lsn.to_le_bytes());
    frame[20..24].copy_from_slice(&count.to_le_bytes());
}

/// How reading a WAL file ended.
#[derive(Debug)]
pub(crate) struct ScanEnd {
    /// Where the valid part ends (the file is truncated here if it is longer).
    pub valid_len: u64,
    /// Why reading stopped before the end of the file, if it did.
    pub corrupt: Option<String>,
    /// Valid frames read.
    pub frames: u64,
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Called with `(lsn, count, payload)` for each valid frame.
pub(crate) type OnFrame<'a> = dyn FnMut(u64, u32, &[u8]) -> Result<(), StoreError> + 'a;

/// Reads a WAL file frame by frame (each read bounded by [`MAX_FRAME`]), calling
/// `on_frame(lsn, count, payload)` for every valid frame, and stops at the first torn or
/// corrupt one.
/// Encrypted frames are decrypted with `keyring`: a key it lacks (or holds different material
/// for) is an error and nothing is truncated; a frame whose tag fails ends the valid part like
/// a bad checksum.
pub(crate) fn scan_file(
    path: &Path,
    keyring: &Keyring,
    on_frame: &mut OnFrame<'_>,
) -> Result<ScanEnd, StoreError> {
    let file = File::open(path).map_err(|e| StoreError::io("open WAL", path, e))?;
    let file_len = file
        .metadata()
        .map_err(|e| StoreError::io("stat WAL", path, e))?
        .len();
    let mut r = BufReader::with_capacity(1 << 20, file);
    let mut pos = 0u64;
    let mut header = [0u8; WAL_ENC_HEADER];
    let mut payload = Vec::new();
    let mut frames = 0;
    let io = |e| StoreError::io("read WAL", path, e);
    let corrupt = loop {
        if pos == file_len {
            break None;
        }
        if file_len - pos < HEADER_LEN as u64 {
            break Some(format!("torn frame header at offset {pos}"));
        }
        r.read_exact(&mut header[..HEADER_LEN]).map_err(io)?;
        let hlen = match u32_at(&header, 0) {
            FRAME_MAGIC => HEADER_LEN,
            WAL_ENC_MAGIC => WAL_ENC_HEADER,
            _ => break Some(format!("bad frame magic at offset {pos}")),
        };
        let len = u32_at(&header, 4) as usize;
        if len > MAX_FRAME + 16 {
            break Some(format!("frame length {len} over the limit at offset {pos}"));
        }
        if file_len - pos < (hlen + len) as u64 {
            break Some(format!(
                "torn frame at offset {pos}: {} of {} bytes",
                file_len - pos,
                hlen + len
            ));
        }
        r.read_exact(&mut header[HEADER_LEN..hlen]).map_err(io)?;
        payload.resize(len, 0);
        r.read_exact(&mut payload).map_err(io)?;
        let mut h = crc32fast::Hasher::new();
        h.update(&header[12..hlen]);
        h.update(&payload);
        if h.finalize() != u32_at(&header, 8) {
            break Some(format!("frame checksum mismatch at offset {pos}"));
        }
        if hlen == WAL_ENC_HEADER {
            match crypto::open_wal_frame(keyring, &header, &mut payload, path)? {
                WalOpen::Plain(p) => payload = p,
                WalOpen::Tampered => {
                    break Some(format!(
                        "frame at offset {pos} failed authentication (altered or damaged)"
                    ));
                }
            }
        }
        let lsn = u64::from_le_bytes([
            header[12], header[13], header[14], header[15], header[16], header[17], header[18],
            header[19],
        ]);
        on_frame(lsn, u32_at(&header, 20), &payload)?;
        frames += 1;
        pos += (hlen + len) as u64;
    };
    Ok(ScanEnd {
        valid_len: pos,
        corrupt,
        frames,
    })
}

/// Truncates a WAL file to its valid prefix and syncs it.
pub(crate) fn truncate(path: &Path, len: u64) -> Result<(), StoreError> {
    let f = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| StoreError::io("open WAL", path, e))?;
    f.set_len(len)
        .map_err(|e| StoreError::io("truncate WAL", path, e))?;
    f.sync_all()
        .map_err(|e| StoreError::io("fsync WAL", path, e))
}

/// The WAL files of a directory, by sequence number.
pub(crate) fn list(dir: &Path) -> Result<Vec<(u64, PathBuf)>, StoreError> {
    let mut out = Vec::new();
    let rd = std::fs::read_dir(dir).map_err(|e| StoreError::io("list WAL directory", dir, e))?;
    for entry in rd {
        let entry = entry.map_err(|e| StoreError::io("list WAL directory", dir, e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(seq) = name
            .strip_suffix(".wal")
            .and_then(|s| s.parse::<u64>().ok())
        {
            out.push((seq, entry.path()));
        }
    }
    out.sort();
    Ok(out)
}

pub(crate) fn file_name(dir: &Path, seq: u64) -> PathBuf {
    dir.join(format!("{seq:010}.wal"))
}

// The WAL files' lifecycle: the open file and its successors, rotation, group-commit sync,
// waiting for durability, and deletion once sealed.

#[derive(Debug)]
pub(super) struct WalFile {
    pub(super) file: Arc<File>,
    pub(super) path: PathBuf,
    pub(super) len: u64,
    pub(super) last_lsn: u64,
}

#[derive(Debug)]
pub(super) struct WriteState {
    pub(super) wal: Option<WalFile>,
    pub(super) next_seq: u64,
    pub(super) next_lsn: u64,
    pub(super) failed: Option<String>,
}

#[derive(Debug, Default)]
pub(super) struct SyncState {
    pub(super) written: u64,
    pub(super) current: Option<Arc<File>>,
    pub(super) pending: Vec<Arc<File>>,
    pub(super) dir_dirty: bool,
}

#[derive(Debug)]
pub(super) struct ClosedWal {
    pub(super) path: PathBuf,
    pub(super) last_lsn: u64,
}

impl Partition {
    /// Closes the current WAL file (the next append opens a new one), so that files end at
    /// memtable boundaries and can be deleted once sealed.
    pub(super) fn rotate_wal(&self, w: &mut WriteState) {
        if let Some(wf) = w.wal.take() {
            self.wal_closed.lock().push(ClosedWal {
                path: wf.path,
                last_lsn: wf.last_lsn,
            });
        }
    }

    /// fsyncs everything written so far and publishes the durable LSN.
    pub(super) fn sync_now(&self) -> Result<(), StoreError> {
        let _serial = self.sync_serial.lock();
        let (written, current, pending, dir_dirty) = {
            let mut s = self.sync.lock();
            let d = std::mem::take(&mut s.dir_dirty);
            (
                s.written,
                s.current.clone(),
                std::mem::take(&mut s.pending),
                d,
            )
        };
        if written <= *self.durable.lock() && pending.is_empty() && !dir_dirty {
            return Ok(());
        }
        let res: Result<(), StoreError> = (|| {
            for f in pending.iter().chain(current.iter()) {
                f.sync_data()
                    .map_err(|e| StoreError::io("fsync WAL", &self.wal_dir, e))?;
            }
            if dir_dirty {
                segment::sync_dir(&self.wal_dir)?;
            }
            Ok(())
        })();
        if let Err(e) = res {
            // After a failed fsync the page cache may have dropped the data: refuse writes.
            self.fail(&mut self.write.lock(), e.to_string());
            self.durable_cv.notify_all();
            return Err(e);
        }
        let mut d = self.durable.lock();
        *d = (*d).max(written);
        self.durable_cv.notify_all();
        Ok(())
    }

    pub(super) fn wait_durable(&self, lsn: Lsn, timeout: Duration) -> Result<(), StoreError> {
        let deadline = Instant::now() + timeout;
        let mut d = self.durable.lock();
        loop {
            if *d >= lsn {
                return Ok(());
            }
            if let Some(r) = self.write.try_lock().and_then(|w| w.failed.clone()) {
                return Err(self.failed_err(&r));
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(StoreError::Timeout {
                    tenant: self.name.to_string(),
                    lsn,
                    durable: *d,
                });
            }
            self.durable_cv
                .wait_for(&mut d, (deadline - now).min(Duration::from_millis(100)));
        }
    }

    /// Deletes closed WAL files whose frames are all at or below `sealed`.
    pub(super) fn delete_covered_wal(&self, sealed: u64) -> Result<(), StoreError> {
        let mut closed = self.wal_closed.lock();
        let mut deleted = false;
        let mut keep = Vec::new();
        for c in closed.drain(..) {
            if c.last_lsn <= sealed {
                if let Err(e) = std::fs::remove_file(&c.path)
                    && e.kind() != std::io::ErrorKind::NotFound
                {
                    warn!(path = %c.path.display(), error = %e, "could not delete sealed WAL file");
                    keep.push(c);
                    continue;
                }
                deleted = true;
            } else {
                keep.push(c);
            }
        }
        *closed = keep;
        if deleted {
            segment::sync_dir(&self.wal_dir)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(lsn: u64, payload: &[u8]) -> Vec<u8> {
        let mut f = vec![0u8; HEADER_LEN];
        f.extend_from_slice(payload);
        finish_frame(&mut f, lsn, 1);
        f
    }

    fn read(p: &Path) -> (Vec<(u64, Vec<u8>)>, ScanEnd) {
        let mut frames = Vec::new();
        let end = scan_file(p, &Keyring::empty(), &mut |lsn, _, payload| {
            frames.push((lsn, payload.to_vec()));
            Ok(())
        })
        .expect("read");
        (frames, end)
    }

    #[test]
    fn frames_round_trip_and_torn_tail_detected() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("0000000001.wal");
        let mut bytes = frame(1, b"hello");
        bytes.extend(frame(2, b"world!"));
        let full = bytes.len();
        bytes.extend(&frame(3, b"torn")[..10]);
        std::fs::write(&p, &bytes).expect("write");
        let (frames, end) = read(&p);
        assert_eq!(frames.len(), 2);
        assert_eq!(frames[1], (2, b"world!".to_vec()));
        assert_eq!(end.valid_len, full as u64);
        assert!(end.corrupt.is_some());
        // a flipped payload byte fails the checksum
        bytes.truncate(full);
        bytes[HEADER_LEN + 1] ^= 1;
        std::fs::write(&p, &bytes).expect("write");
        let (frames, end) = read(&p);
        assert_eq!(frames.len(), 0);
        assert_eq!(end.valid_len, 0);
    }
}
