//! Immutable segment files.
//!
//! ```text
//! segment = header | block* | meta | footer
//! header  = magic "VIGILSEG" | version u32 | reserved u32                       (16 bytes)
//! block   = zstd frame of: count u32 | prefix end u32 × count | @timestamp i64 × count
//!                          | raw end u32 × count | record prefixes | raw records
//!           (a record = prefix ++ raw: postcard writes the raw record last)
//!           [ zstd frame of the block's keyword columns (see the `columns` module) ]
//! meta    = postcard(SegmentMeta): tenant, LSN range, time range, event count, zstd level,
//!           keyword field list, per block (offset, compressed and plain length, count,
//!           min/max @timestamp, first LSN, crc32 of the compressed bytes, bloom filter bits),
//!           and the keyword dictionary (sorted 64-bit value hashes → block numbers)
//! footer  = meta offset u64 | meta length u64 | meta crc32 u32 | reserved u32 | version u32
//!           | footer crc32 u32 (of the previous 28 bytes) | magic "VIGILEND"             (40 bytes)
//! ```
//! All integers little-endian. Files are named `<first_lsn:020>-<last_lsn:020>.vseg`; they are
//! written as `.tmp-*`, fsynced, renamed, and the directory fsynced.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::columns::Columns;
use super::crypto::{self, KeyId, Keyring, SealedReader};
use super::index::{self, KEYWORD_FIELDS};
use super::memtable::MemBlock;
use crate::StoreError;

pub(crate) const HEADER_MAGIC: &[u8; 8] = b"VIGILSEG";
pub(crate) const FOOTER_MAGIC: &[u8; 8] = b"VIGILEND";
/// The segment format version. Readers reject other versions (a later storage issue adds
/// converters).
pub(crate) const FORMAT_VERSION: u32 = 1;
const HEADER_LEN: u64 = 16;
const FOOTER_LEN: u64 = 40;
/// Largest block (uncompressed) or meta region a reader accepts.
const MAX_REGION: u64 = 512 << 20;

/// Per-block index entry.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct BlockMeta {
    pub offset: u64,
    pub clen: u32,
    pub ulen: u32,
    pub count: u32,
    pub min_ts: i64,
    pub max_ts: i64,
    pub first_lsn: u64,
    pub crc: u32,
    pub bloom: Vec<u8>,
    /// The block's keyword columns (a zstd frame after the block); length 0 when the block
    /// has none.
    pub cols_offset: u64,
    pub cols_clen: u32,
    pub cols_ulen: u32,
    pub cols_crc: u32,
}

/// The segment's index region.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct SegmentMeta {
    pub tenant: String,
    pub first_lsn: u64,
    pub last_lsn: u64,
    pub min_ts: i64,
    pub max_ts: i64,
    pub events: u64,
    pub zstd_level: i32,
    pub keyword_fields: Vec<String>,
    pub blocks: Vec<BlockMeta>,
    pub dict_keys: Vec<[u8; 8]>,
    pub dict_blocks: Vec<Vec<u32>>,
}

/// An open, verified segment.
#[derive(Debug)]
pub(crate) struct Segment {
    pub path: PathBuf,
    pub meta: SegmentMeta,
    pub file_len: u64,
    /// Bytes of the meta region (block index, bloom filters, dictionary).
    pub meta_len: u64,
    dict: Vec<u64>,
    /// Plain or encrypted (the `crypto` container), read with random access.
    file: SealedReader,
}

impl Segment {
    /// Opens and verifies header, footer and meta (block checksums are verified on read).
    pub(crate) fn open(path: &Path, keyring: &Keyring) -> Result<Segment, StoreError> {
        let file = crypto::open_sealed_file(path, keyring)?;
        let file_len = file.len();
        let bad = |r: String| StoreError::corrupt(path, r);
        if file_len < HEADER_LEN + FOOTER_LEN {
            return Err(bad(format!("file too short ({file_len} bytes)")));
        }
        let mut header = [0u8; HEADER_LEN as usize];
        file.read_exact_at(&mut header, 0)
            .map_err(|e| StoreError::io("read segment", path, e))?;
        if &header[0..8] != HEADER_MAGIC {
            return Err(bad("bad header magic".into()));
        }
        let mut f = [0u8; FOOTER_LEN as usize];
        file.read_exact_at(&mut f, file_len - FOOTER_LEN)
            .map_err(|e| StoreError::io("read segment", path, e))?;
        if &f[32..40] != FOOTER_MAGIC {
            return Err(bad("bad footer magic (torn or truncated file)".into()));
        }
        let footer_crc = u32::from_le_bytes([f[28], f[29], f[30], f[31]]);
        if crc32fast::hash(&f[0..28]) != footer_crc {
            return Err(bad("footer checksum mismatch".into()));
        }
        let version = u32::from_le_bytes([f[24], f[25], f[26], f[27]]);
        if version != FORMAT_VERSION {
            return Err(bad(format!(
                "unsupported format version {version} (this build reads {FORMAT_VERSION})"
            )));
        }
        let meta_off = u64::from_le_bytes([f[0], f[1], f[2], f[3], f[4], f[5], f[6], f[7]]);
        let meta_len = u64::from_le_bytes([f[8], f[9], f[10], f[11], f[12], f[13], f[14], f[15]]);
        let meta_crc = u32::from_le_bytes([f[16], f[17], f[18], f[19]]);
        if meta_len > MAX_REGION
            || meta_off < HEADER_LEN
            || meta_off + meta_len != file_len - FOOTER_LEN
        {
            return Err(bad(format!(
                "meta region {meta_off}+{meta_len} out of bounds"
            )));
        }
        let mut mbytes = vec![0u8; meta_len as usize];
        file.read_exact_at(&mut mbytes, meta_off)
            .map_err(|e| StoreError::io("read segment", path, e))?;
        if crc32fast::hash(&mbytes) != meta_crc {
            return Err(bad("meta checksum mismatch".into()));
        }
        let meta: SegmentMeta =
            postcard::from_bytes(&mbytes).map_err(|e| bad(format!("meta does not decode: {e}")))?;
        let mut events = 0u64;
        for (i, b) in meta.blocks.iter().enumerate() {
            if b.offset < HEADER_LEN
                || b.offset + u64::from(b.clen) > meta_off
                || u64::from(b.ulen) > MAX_REGION
            {
                return Err(bad(format!("block {i} out of bounds")));
            }
            events += u64::from(b.count);
        }
        if events != meta.events || meta.dict_keys.len() != meta.dict_blocks.len() {
            return Err(bad("inconsistent meta (counts or dictionary)".into()));
        }
        let dict = meta
            .dict_keys
            .iter()
            .map(|k| u64::from_le_bytes(*k))
            .collect();
        Ok(Segment {
            path: path.to_owned(),
            meta,
            file_len,
            meta_len,
            dict,
            file,
        })
    }

    /// The encryption key the file is under (`None`: plain).
    pub(crate) fn key_id(&self) -> Option<KeyId> {
        self.file.key_id()
    }

    /// Whether block `b` holds keyword hash `k` (per the dictionary).
    pub(crate) fn block_has_key(&self, b: usize, k: u64) -> bool {
        match self.dict.binary_search(&k) {
            Ok(i) => self.meta.dict_blocks[i].binary_search(&(b as u32)).is_ok(),
            Err(_) => false,
        }
    }

    /// Reads, verifies and decompresses the keyword columns of block `b` (`None` when the
    /// block has none).
    pub(crate) fn read_columns(&self, b: usize) -> Result<Option<Columns>, StoreError> {
        let m = &self.meta.blocks[b];
        if m.cols_clen == 0 {
            return Ok(None);
        }
        let mut c = vec![0u8; m.cols_clen as usize];
        self.file
            .read_exact_at(&mut c, m.cols_offset)
            .map_err(|e| StoreError::io("read segment", &self.path, e))?;
        if crc32fast::hash(&c) != m.cols_crc {
            return Err(StoreError::corrupt(
                &self.path,
                format!("columns of block {b}: checksum mismatch"),
            ));
        }
        let plain = zstd::bulk::decompress(&c, m.cols_ulen as usize).map_err(|e| {
            StoreError::corrupt(
                &self.path,
                format!("columns of block {b} do not decompress: {e}"),
            )
        })?;
        Columns::parse(&plain, m.count as usize)
            .map(Some)
            .ok_or_else(|| {
                StoreError::corrupt(&self.path, format!("columns of block {b}: invalid layout"))
            })
    }

    /// Reads, verifies and decompresses block `b`.
    pub(crate) fn read_block(&self, b: usize) -> Result<DecodedBlock, StoreError> {
        let m = &self.meta.blocks[b];
        let mut c = vec![0u8; m.clen as usize];
        self.file
            .read_exact_at(&mut c, m.offset)
            .map_err(|e| StoreError::io("read segment", &self.path, e))?;
        if crc32fast::hash(&c) != m.crc {
            return Err(StoreError::corrupt(
                &self.path,
                format!("block {b} checksum mismatch"),
            ));
        }
        let plain = zstd::bulk::decompress(&c, m.ulen as usize).map_err(|e| {
            StoreError::corrupt(&self.path, format!("block {b} does not decompress: {e}"))
        })?;
        DecodedBlock::parse(plain, m.count as usize)
            .ok_or_else(|| StoreError::corrupt(&self.path, format!("block {b} layout is invalid")))
    }
}

/// A decompressed block. Records are stored split: the part before the raw record (which
/// postcard writes last) and the raw records, each group back to back, so that the raw text
/// compresses as text.
#[derive(Debug)]
pub(crate) struct DecodedBlock {
    plain: Vec<u8>,
    count: usize,
    prefix_start: usize,
    raw_start: usize,
}

fn u32_at(p: &[u8], at: usize) -> usize {
    u32::from_le_bytes([p[at], p[at + 1], p[at + 2], p[at + 3]]) as usize
}

impl DecodedBlock {
    fn parse(plain: Vec<u8>, count: usize) -> Option<DecodedBlock> {
        if plain.len() < 4 || u32_at(&plain, 0) != count {
            return None;
        }
        let prefix_start = 4 + count * 16;
        if plain.len() < prefix_start {
            return None;
        }
        let prefix_len = if count == 0 {
            0
        } else {
            u32_at(&plain, 4 + (count - 1) * 4)
        };
        let raw_start = prefix_start.checked_add(prefix_len)?;
        if plain.len() < raw_start {
            return None;
        }
        let b = DecodedBlock {
            plain,
            count,
            prefix_start,
            raw_start,
        };
        let raw_len = b.plain.len() - raw_start;
        let (mut prev_p, mut prev_r) = (0, 0);
        for i in 0..count {
            let (p, r) = (b.prefix_end(i), b.raw_end(i));
            if p < prev_p || p > prefix_len || r < prev_r || r > raw_len {
                return None;
            }
            (prev_p, prev_r) = (p, r);
        }
        if prev_r != raw_len {
            return None;
        }
        Some(b)
    }

    fn prefix_end(&self, i: usize) -> usize {
        u32_at(&self.plain, 4 + i * 4)
    }

    fn raw_end(&self, i: usize) -> usize {
        u32_at(&self.plain, 4 + self.count * 12 + i * 4)
    }

    pub(crate) fn len(&self) -> usize {
        self.count
    }

    pub(crate) fn ts(&self, i: usize) -> i64 {
        let at = 4 + self.count * 4 + i * 8;
        let p = &self.plain;
        i64::from_le_bytes([
            p[at],
            p[at + 1],
            p[at + 2],
            p[at + 3],
            p[at + 4],
            p[at + 5],
            p[at + 6],
            p[at + 7],
        ])
    }

    /// Event record `i`, reassembled in `scratch`.
    pub(crate) fn event<'s>(&self, i: usize, scratch: &'s mut Vec<u8>) -> &'s [u8] {
        let (p0, r0) = if i == 0 {
            (0, 0)
        } else {
            (self.prefix_end(i - 1), self.raw_end(i - 1))
        };
        scratch.clear();
        scratch.extend_from_slice(
            &self.plain[self.prefix_start + p0..self.prefix_start + self.prefix_end(i)],
        );
        scratch
            .extend_from_slice(&self.plain[self.raw_start + r0..self.raw_start + self.raw_end(i)]);
        scratch
    }
}

/// Serializes a memtable block into the plain block layout:
/// `count u32 | prefix end u32 × n | @timestamp i64 × n | raw end u32 × n | prefixes | raws`.
fn plain_block(b: &MemBlock, out: &mut Vec<u8>) {
    out.clear();
    out.reserve(4 + b.len() * 16 + b.data.len());
    out.extend_from_slice(&(b.len() as u32).to_le_bytes());
    let mut p_end = 0u32;
    for i in 0..b.len() {
        p_end += (b.event(i).len() - b.raw_lens[i] as usize) as u32;
        out.extend_from_slice(&p_end.to_le_bytes());
    }
    for t in &b.ts {
        out.extend_from_slice(&t.to_le_bytes());
    }
    let mut r_end = 0u32;
    for &r in &b.raw_lens {
        r_end += r;
        out.extend_from_slice(&r_end.to_le_bytes());
    }
    for i in 0..b.len() {
        let rec = b.event(i);
        out.extend_from_slice(&rec[..rec.len() - b.raw_lens[i] as usize]);
    }
    for i in 0..b.len() {
        let rec = b.event(i);
        out.extend_from_slice(&rec[rec.len() - b.raw_lens[i] as usize..]);
    }
}

/// What the sealer needs besides the blocks.
#[derive(Debug)]
pub(crate) struct SealSpec<'a> {
    pub dir: &'a Path,
    pub tenant: &'a str,
    pub zstd_level: i32,
    /// Test hook: fail after writing part of the file.
    pub fail_write: bool,
    /// Encrypts the file under its current key (plain when it has none).
    pub keyring: &'a Keyring,
}

pub(crate) fn segment_file_name(first_lsn: u64, last_lsn: u64) -> String {
    format!("{first_lsn:020}-{last_lsn:020}.vseg")
}

/// Writes blocks as a segment (temp file, fsync, rename, directory fsync) and opens it.
pub(crate) fn write(spec: &SealSpec<'_>, blocks: &[Arc<MemBlock>]) -> Result<Segment, StoreError> {
    let first_lsn = blocks.first().map_or(0, |b| b.first_lsn);
    let last_lsn = blocks
        .last()
        .map_or(0, |b| b.first_lsn + b.len() as u64 - 1);
    let name = segment_file_name(first_lsn, last_lsn);
    let tmp = spec.dir.join(format!(".tmp-{name}"));
    let path = spec.dir.join(&name);
    let res = write_tmp(spec, blocks, &tmp, first_lsn, last_lsn);
    if let Err(e) = res {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    std::fs::rename(&tmp, &path).map_err(|e| StoreError::io("rename segment", &path, e))?;
    sync_dir(spec.dir)?;
    Segment::open(&path, spec.keyring)
}

fn write_tmp(
    spec: &SealSpec<'_>,
    blocks: &[Arc<MemBlock>],
    tmp: &Path,
    first_lsn: u64,
    last_lsn: u64,
) -> Result<(), StoreError> {
    let io = |op, e| StoreError::io(op, tmp, e);
    let file = crypto::create_sealed_file(tmp, spec.keyring)?;
    let mut w = BufWriter::with_capacity(1 << 20, file);
    let mut header = [0u8; HEADER_LEN as usize];
    header[0..8].copy_from_slice(HEADER_MAGIC);
    header[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    w.write_all(&header).map_err(|e| io("write segment", e))?;
    let mut offset = HEADER_LEN;
    let mut metas = Vec::with_capacity(blocks.len());
    let mut pairs: Vec<(u64, u32)> = Vec::new();
    let mut plain = Vec::new();
    let mut cctx = zstd::bulk::Compressor::new(spec.zstd_level).map_err(|e| io("zstd", e))?;
    let (mut min_ts, mut max_ts, mut events) = (i64::MAX, i64::MIN, 0u64);
    for (bi, b) in blocks.iter().enumerate() {
        plain_block(b, &mut plain);
        let c = cctx.compress(&plain).map_err(|e| io("zstd", e))?;
        if spec.fail_write && bi > 0 {
            return Err(io(
                "write segment",
                std::io::Error::other("injected write failure"),
            ));
        }
        w.write_all(&c).map_err(|e| io("write segment", e))?;
        let (clen, ulen, crc) = (c.len() as u32, plain.len() as u32, crc32fast::hash(&c));
        let block_offset = offset;
        offset += c.len() as u64;
        let (mut cols_offset, mut cols_clen, mut cols_ulen, mut cols_crc) = (0, 0, 0, 0);
        if let Some(cols) = b.columns() {
            cols.write(b.len(), &mut plain);
            let c = cctx.compress(&plain).map_err(|e| io("zstd", e))?;
            w.write_all(&c).map_err(|e| io("write segment", e))?;
            (cols_offset, cols_clen, cols_ulen, cols_crc) = (
                offset,
                c.len() as u32,
                plain.len() as u32,
                crc32fast::hash(&c),
            );
            offset += c.len() as u64;
        }
        for &k in &b.keys {
            pairs.push((k, bi as u32));
        }
        metas.push(BlockMeta {
            offset: block_offset,
            clen,
            ulen,
            count: b.len() as u32,
            min_ts: b.min_ts,
            max_ts: b.max_ts,
            first_lsn: b.first_lsn,
            crc,
            bloom: index::bloom_build(&b.tokens),
            cols_offset,
            cols_clen,
            cols_ulen,
            cols_crc,
        });
        min_ts = min_ts.min(b.min_ts);
        max_ts = max_ts.max(b.max_ts);
        events += b.len() as u64;
    }
    pairs.sort_unstable();
    let mut keys: Vec<(u64, Vec<u32>)> = Vec::new();
    for (k, b) in pairs {
        match keys.last_mut() {
            Some((last, blocks)) if *last == k => blocks.push(b),
            _ => keys.push((k, vec![b])),
        }
    }
    let meta = SegmentMeta {
        tenant: spec.tenant.to_owned(),
        first_lsn,
        last_lsn,
        min_ts,
        max_ts,
        events,
        zstd_level: spec.zstd_level,
        keyword_fields: KEYWORD_FIELDS.iter().map(|s| (*s).to_owned()).collect(),
        blocks: metas,
        dict_keys: keys.iter().map(|(k, _)| k.to_le_bytes()).collect(),
        dict_blocks: keys.into_iter().map(|(_, b)| b).collect(),
    };
    let mbytes = postcard::to_allocvec(&meta)
        .map_err(|e| io("encode segment meta", std::io::Error::other(e)))?;
    w.write_all(&mbytes).map_err(|e| io("write segment", e))?;
    let mut footer = [0u8; FOOTER_LEN as usize];
    footer[0..8].copy_from_slice(&offset.to_le_bytes());
    footer[8..16].copy_from_slice(&(mbytes.len() as u64).to_le_bytes());
    footer[16..20].copy_from_slice(&crc32fast::hash(&mbytes).to_le_bytes());
    // 20..24 reserved (zero)
    footer[24..28].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    let fcrc = crc32fast::hash(&footer[0..28]);
    footer[28..32].copy_from_slice(&fcrc.to_le_bytes());
    footer[32..40].copy_from_slice(FOOTER_MAGIC);
    w.write_all(&footer).map_err(|e| io("write segment", e))?;
    let file = w
        .into_inner()
        .map_err(|e| io("write segment", e.into_error()))?;
    file.finish().map(|_| ())
}

/// fsyncs a directory so that created, renamed and deleted entries are durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| StoreError::io("fsync directory", dir, e))
}
