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

use std::fs::{File, OpenOptions};
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use super::crypto::{self, Keyring, WAL_ENC_HEADER, WAL_ENC_MAGIC, WalOpen};
use crate::StoreError;

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
