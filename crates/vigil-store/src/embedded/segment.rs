//! Sealed segments: Apache Parquet files written and read with arrow-rs (`parquet` crate).
//!
//! One row per event, in LSN order (events arrive roughly in time order, so the `@timestamp`
//! statistics of consecutive row groups barely overlap and prune time ranges). The columns
//! (every field of the event its own typed column; see the `shred` module for the table):
//! `lsn` and `@timestamp` (delta-encoded, chunk statistics), the 20 keyword fields
//! (dictionary), the receive time and the event id split so that both delta-encode to a few
//! bits, the message when it is not the raw record's tail, the raw record byte for byte
//! (zstd over large pages), every other field some event of the segment has (dictionary
//! encoding where it pays), the open maps, and `_bloom`. All pages are zstd-compressed (level
//! per tier). Key-value metadata: `vigil.format` ([`FORMAT`]), `vigil.tenant`,
//! `vigil.first_lsn`, `vigil.last_lsn`, `vigil.events`. The bloom filter of a row group holds
//! the hashes of its keyword values (lowercased) and of the tokens of its raw records and
//! messages (`index` module): one probe set, case-insensitive like the query language, cached
//! in memory after the first query that needs it.
//!
//! Sealing a memtable ([`write_memtable`]) decodes no event: it takes the keyword columns,
//! the bloom keys and tokens and the other columns (built at append by
//! `shred::FieldsBuilder`) that the memtable keeps, and the raw records from its blocks. Merges and tier moves ([`SegmentWriter::push_rows`])
//! copy columns from segment to segment and rebuild the bloom filters from the columns,
//! without decoding events.
//!
//! Files are named `<first_lsn:020>-<last_lsn:020>.parquet`; they are written as `.tmp-*`,
//! fsynced, renamed, and the directory fsynced.
//!
//! Every segment is written and read through the `crypto` seam ([`crypto::create_sealed_file`],
//! [`crypto::open_sealed_file`]): with a keyring the Parquet bytes are the plaintext of an
//! encrypted container (AES-256-GCM chunks), otherwise the file is plain Parquet. Readers go
//! through a Parquet `ChunkReader` over the `SealedReader` (`get_read(start)` =
//! `SealedReader::cursor(start)`, `get_bytes(s, n)` = `read_range(s..s + n)`), so only the
//! chunks a read touches are decrypted and a chunk that fails authentication fails the read
//! as tampering (the store then quarantines the file).
//!
//! Segments of format 2 ([`FORMAT_V2`]) are read as well: they have the first 12 keyword
//! fields as keyword columns ([`KEYWORD_FIELDS_V2`]) and the others (Vigil's metadata and the
//! rule fields) as text columns, which [`shred::upgrade_legacy`] turns into dictionary columns
//! as they are read; their bloom filters say nothing about those fields, so conditions on them
//! do not prune such a segment. Merges and tier moves rewrite them in the current format.

use std::fs::File;
use std::io::{BufWriter, Read};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use arrow_array::builder::BinaryBuilder;
use arrow_array::types::Int32Type;
use arrow_array::{
    Array, ArrayRef, BinaryArray, DictionaryArray, Int64Array, RecordBatch, StringArray,
    UInt64Array,
};
use arrow_schema::SchemaRef;
use bytes::Bytes;
use parquet::arrow::ArrowWriter;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder, RowSelection,
};
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::metadata::{KeyValue, PageIndexPolicy};
use parquet::file::properties::{EnabledStatistics, WriterProperties, WriterVersion};
use parquet::file::reader::{ChunkReader, Length};
use parquet::file::statistics::Statistics;
use parquet::schema::types::ColumnPath;
use vigil_event::Event;

use super::codec;
use super::columns::{Col, ColValue, Columns, kinds};
use super::crypto::{self, KeyId, Keyring, SealedReader, SealedWriter, Tampered};
use super::index::{self, Extractor, HashSet64, KEYWORD_FIELDS, KEYWORD_FIELDS_V2};
use super::memtable::MemBlock;
use super::shred::{self, GroupBuilder, Layout};
use crate::StoreError;

/// The value of the `vigil.format` metadata key of the segments this build writes. Format 3
/// added Vigil's metadata and the rule fields to the keyword columns.
pub(crate) const FORMAT: &str = "vigil-segment-parquet-3";
/// The previous format, still read ([`KEYWORD_FIELDS_V2`]); readers reject other values.
pub(crate) const FORMAT_V2: &str = "vigil-segment-parquet-2";
/// Segment file extension.
pub(crate) const EXT: &str = "parquet";
/// Largest data page of hot segments, before compression.
pub(crate) const HOT_PAGE_BYTES: usize = 256 << 10;
/// ... of their `raw` column.
pub(crate) const HOT_RAW_PAGE_BYTES: usize = 1 << 20;
/// Largest data page of cold segments, before compression.
pub(crate) const COLD_PAGE_BYTES: usize = 1 << 20;
/// ... of their `raw` column (2 MiB: 0.5 B/event smaller than 1 MiB on the shared corpus,
/// 0.2 larger than 4 MiB, whose pages make reading one event of a needle twice as slow).
pub(crate) const COLD_RAW_PAGE_BYTES: usize = 2 << 20;
const KW: usize = KEYWORD_FIELDS.len();

/// Where a segment lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Tier {
    /// `<partition>/segments/`: recent data, small row groups, fast zstd.
    Hot,
    /// `<partition>/cold/` (a directory, or a link to the same path under `tiers.cold_dir`):
    /// old data, large row groups, strong zstd.
    Cold,
}

impl Tier {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Tier::Hot => "hot",
            Tier::Cold => "cold",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Tier> {
        match s {
            "hot" => Some(Tier::Hot),
            "cold" => Some(Tier::Cold),
            _ => None,
        }
    }

    /// The tier's directory under a partition directory.
    pub(crate) fn dir(self, tenant_dir: &Path) -> PathBuf {
        tenant_dir.join(match self {
            Tier::Hot => super::spaces::HOT_DIR,
            Tier::Cold => super::spaces::COLD_DIR,
        })
    }
}

/// How a segment is written.
#[derive(Debug, Clone)]
pub(crate) struct WriteOptions {
    pub tenant: String,
    pub tier: Tier,
    pub zstd_level: i32,
    /// Rows per row group (the pruning unit).
    pub row_group_rows: usize,
    /// Largest data page before compression.
    pub page_bytes: usize,
    /// Largest data page of the `raw` column (zstd compresses each page on its own, so larger
    /// pages compress better and cost more to read one row from).
    pub raw_page_bytes: usize,
    /// Test hook: fail after the first row group.
    pub fail_write: bool,
    /// Encrypts the file under the keyring's current key (plain when it has none).
    pub keyring: Arc<Keyring>,
}

pub(crate) fn file_name(first_lsn: u64, last_lsn: u64) -> String {
    format!("{first_lsn:020}-{last_lsn:020}.{EXT}")
}

/// Whether `s` is a segment file name this build writes (`<n>-<n>.parquet`).
pub(crate) fn is_segment_name(s: &str) -> bool {
    s.strip_suffix(".parquet")
        .and_then(|b| b.split_once('-'))
        .is_some_and(|(a, b)| {
            a.len() == 20
                && b.len() == 20
                && a.bytes().all(|c| c.is_ascii_digit())
                && b.bytes().all(|c| c.is_ascii_digit())
        })
}

// Leaf columns of the statistics read at open (the fixed columns come first, unnested).
const C_TS: usize = 1;

fn props(
    o: &WriteOptions,
    schema: &SchemaRef,
    meta: Vec<KeyValue>,
) -> Result<WriterProperties, StoreError> {
    let level = ZstdLevel::try_new(o.zstd_level)
        .map_err(|e| StoreError::Invalid(format!("zstd level {}: {e}", o.zstd_level)))?;
    let path = |n: &str| ColumnPath::new(vec![n.to_owned()]);
    let mut b = WriterProperties::builder()
        .set_writer_version(WriterVersion::PARQUET_2_0)
        .set_compression(Compression::ZSTD(level))
        .set_max_row_group_row_count(Some(o.row_group_rows.max(1)))
        .set_data_page_size_limit(o.page_bytes)
        .set_dictionary_page_size_limit(8 << 20)
        .set_statistics_enabled(EnabledStatistics::None)
        // Dictionary encoding for every column but those below: most fields repeat.
        .set_dictionary_enabled(true)
        .set_created_by(format!("vigil {}", env!("CARGO_PKG_VERSION")))
        .set_key_value_metadata(Some(meta));
    // Counters and clocks: deltas of a few bits.
    for n in [shred::LSN, shred::INGESTED, shred::ID_LOW] {
        b = b
            .set_column_dictionary_enabled(path(n), false)
            .set_column_encoding(path(n), Encoding::DELTA_BINARY_PACKED);
    }
    // Event times of mixed precision (seconds, microseconds) jump back and forth: their deltas
    // take ~30 bits, while zstd over the plain values finds the repeated high bytes (1.8
    // B/event against 2.7 delta-encoded on the shared corpus).
    b = b
        .set_column_dictionary_enabled(path(shred::TS), false)
        .set_column_encoding(path(shred::TS), Encoding::PLAIN);
    // IP addresses (4 or 16 bytes): a dictionary while it stays small (a firewall's
    // destinations), else the bytes back to back (scanners' sources, ~4 B each).
    for f in schema.fields() {
        if f.data_type() == &arrow_schema::DataType::Binary && shred::is_ip_column(f.name()) {
            b = b
                .set_column_dictionary_page_size_limit(path(f.name()), 32 << 10)
                .set_column_encoding(path(f.name()), Encoding::DELTA_LENGTH_BYTE_ARRAY);
        }
    }
    for n in [shred::LSN, shred::TS] {
        b = b.set_column_statistics_enabled(path(n), EnabledStatistics::Chunk);
    }
    // Unique text: plain, zstd does the work.
    for n in [
        shred::MESSAGE,
        shred::RAW,
        shred::EXTRA,
        shred::ORIGINAL,
        shred::BLOOM,
    ] {
        b = b.set_column_dictionary_enabled(path(n), false);
    }
    // The raw text: lengths delta-encoded apart from the bytes (which zstd then sees back to
    // back), in pages of `raw_page_bytes` whatever their row count.
    b = b
        .set_column_encoding(path(shred::RAW), Encoding::DELTA_LENGTH_BYTE_ARRAY)
        .set_column_data_page_size_limit(path(shred::RAW), o.raw_page_bytes)
        .set_column_data_page_row_count_limit(path(shred::RAW), 1 << 20);
    // Bloom bits do not compress.
    b = b.set_column_compression(path(shred::BLOOM), Compression::UNCOMPRESSED);
    Ok(b.build())
}

/// Writes one segment file, a row group at a time.
pub(crate) struct SegmentWriter {
    opts: WriteOptions,
    dir: PathBuf,
    tmp: PathBuf,
    writer: Option<ArrowWriter<BufWriter<SealedWriter>>>,
    schema: SchemaRef,
    /// Rows of [`push_rows`](Self::push_rows) not yet in a row group (aligned to `schema`).
    pending: Vec<RecordBatch>,
    pending_rows: usize,
    groups: usize,
    first_lsn: u64,
    last_lsn: u64,
    events: u64,
}

impl std::fmt::Debug for SegmentWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SegmentWriter")
            .field("tmp", &self.tmp)
            .field("events", &self.events)
            .finish()
    }
}

/// Writes the events of memtable blocks (a frozen memtable, in LSN order) as a segment in
/// `dir`, from what the blocks collected at append: keyword columns, bloom filter keys and
/// tokens, the other columns (`FieldsBuilder` batches) and the raw records. No event is
/// decoded (but in a block whose keyword values did not fit its columns).
pub(crate) fn write_memtable(
    dir: &Path,
    opts: WriteOptions,
    blocks: &[Arc<MemBlock>],
) -> Result<Segment, StoreError> {
    let rows = opts.row_group_rows.max(1);
    let bad = |e: String| StoreError::Invalid(format!("sealing: {e}"));
    // The file's columns: those of the blocks' batches. Known before the first row group, so
    // that each is written as soon as it is built (one row group in memory at a time).
    let mut layout = Layout::default();
    for b in blocks.iter().filter(|b| b.len() > 0) {
        let f = b.fields(0, 0).map_err(bad)?;
        layout.merge(&Layout::of_schema(&f.schema()));
    }
    let mut w = SegmentWriter::new(dir, opts, &layout)?;
    let mut g = GroupBuilder::new();
    let mut x = Extractor::new();
    for b in blocks {
        let cols = b.columns();
        // Block value id → row group dictionary key, per keyword column (per row group).
        let mut remap: Option<Vec<Vec<i32>>> = None;
        let mut in_bloom = false;
        let mut i = 0;
        while i < b.len() {
            if g.rows() == 0 {
                remap = None;
                in_bloom = false;
            }
            if !in_bloom {
                g.bloom_extend(&b.keys);
                g.bloom_extend(&b.tokens);
                in_bloom = true;
            }
            let n = (b.len() - i).min(rows - g.rows());
            for j in i..i + n {
                let rec = b.event(j);
                let raw_len = (b.raw_lens[j] as usize).min(rec.len());
                match &cols {
                    Some(c) => {
                        let r = remap.get_or_insert_with(|| g.remap(c));
                        g.push_block_keywords(c, r, j);
                    }
                    None => {
                        let (ev, _) = codec::decode(rec)
                            .map_err(|e| bad(format!("memtable event does not decode: {e}")))?;
                        g.push_event_keywords(&ev, &mut x, false);
                    }
                }
                g.push_row(b.first_lsn + j as u64, &rec[rec.len() - raw_len..]);
            }
            g.push_fields(b.fields(i, i + n).map_err(bad)?);
            i += n;
            if g.rows() >= rows {
                let a = g.finish().map_err(bad)?;
                w.write_group(&a.batch, &a.bloom)?;
            }
        }
    }
    if g.rows() > 0 {
        let a = g.finish().map_err(bad)?;
        w.write_group(&a.batch, &a.bloom)?;
    }
    w.finish()
}

impl SegmentWriter {
    /// Starts a segment with the per-segment columns of `layout` in `dir` (as a `.tmp-` file
    /// until [`finish`](Self::finish)).
    pub(crate) fn new(
        dir: &Path,
        opts: WriteOptions,
        layout: &Layout,
    ) -> Result<SegmentWriter, StoreError> {
        static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tmp = dir.join(format!(".tmp-{}-{n}.{EXT}", std::process::id()));
        let file = crypto::create_sealed_file(&tmp, &opts.keyring)?;
        let schema = layout.schema();
        let meta = vec![
            KeyValue::new("vigil.format".into(), FORMAT.to_owned()),
            KeyValue::new("vigil.tenant".into(), opts.tenant.clone()),
        ];
        let p = props(&opts, &schema, meta)?;
        let writer = ArrowWriter::try_new(
            BufWriter::with_capacity(1 << 20, file),
            schema.clone(),
            Some(p),
        )
        .map_err(|e| pq_err(&tmp, "start segment", &e))?;
        Ok(SegmentWriter {
            dir: dir.to_owned(),
            tmp,
            writer: Some(writer),
            schema,
            pending: Vec::new(),
            pending_rows: 0,
            groups: 0,
            first_lsn: 0,
            last_lsn: 0,
            events: 0,
            opts,
        })
    }

    /// Writes one row group: the columns of `batch` (by name; columns of the file it lacks
    /// are null) and the bits of its bloom filter.
    pub(crate) fn write_group(
        &mut self,
        batch: &RecordBatch,
        bloom: &[u8],
    ) -> Result<(), StoreError> {
        let n = batch.num_rows();
        if n == 0 {
            return Ok(());
        }
        if self.opts.fail_write && self.groups > 0 {
            return Err(StoreError::io(
                "write segment",
                &self.tmp,
                std::io::Error::other("injected write failure"),
            ));
        }
        let bad = |e: String| StoreError::Invalid(format!("segment row group: {e}"));
        let aligned = shred::align(batch, &self.schema).map_err(bad)?;
        let lsns = aligned
            .column_by_name(shred::LSN)
            .and_then(|a| a.as_any().downcast_ref::<UInt64Array>())
            .ok_or_else(|| bad("lsn column".into()))?;
        if self.events == 0 {
            self.first_lsn = lsns.value(0);
        }
        self.last_lsn = lsns.value(n - 1);
        self.events += n as u64;
        let mut b = BinaryBuilder::with_capacity(n, bloom.len());
        b.append_value(bloom);
        b.append_nulls(n - 1);
        let mut cols: Vec<ArrayRef> = aligned.columns().to_vec();
        cols.push(Arc::new(b.finish()));
        let batch =
            RecordBatch::try_new(self.schema.clone(), cols).map_err(|e| bad(e.to_string()))?;
        let tmp = self.tmp.clone();
        let w = self
            .writer
            .as_mut()
            .ok_or_else(|| StoreError::Invalid("segment writer already finished".into()))?;
        w.write(&batch)
            .map_err(|e| pq_err(&tmp, "write segment", &e))?;
        w.flush().map_err(|e| pq_err(&tmp, "write segment", &e))?;
        self.groups += 1;
        Ok(())
    }

    /// Adds rows of another segment's row group (merges, tier moves; LSNs must increase): row
    /// groups are cut at `row_group_rows`, their bloom filters rebuilt from the columns.
    pub(crate) fn push_rows(&mut self, batch: &RecordBatch) -> Result<(), StoreError> {
        let bad = |e: String| StoreError::Invalid(format!("segment rewrite: {e}"));
        let aligned = shred::align(batch, &self.schema).map_err(bad)?;
        self.pending_rows += aligned.num_rows();
        self.pending.push(aligned);
        let rows = self.opts.row_group_rows.max(1);
        while self.pending_rows >= rows {
            self.flush_pending(rows)?;
        }
        Ok(())
    }

    /// Writes the first `rows` pending rows (at most) as a row group.
    fn flush_pending(&mut self, rows: usize) -> Result<(), StoreError> {
        let bad = |e: String| StoreError::Invalid(format!("segment rewrite: {e}"));
        let Some(first) = self.pending.first() else {
            return Ok(());
        };
        let all = if self.pending.len() == 1 {
            first.clone()
        } else {
            arrow_select::concat::concat_batches(&first.schema(), &self.pending)
                .map_err(|e| bad(e.to_string()))?
        };
        self.pending.clear();
        let take = rows.min(all.num_rows());
        let group = all.slice(0, take);
        if take < all.num_rows() {
            self.pending.push(all.slice(take, all.num_rows() - take));
        }
        self.pending_rows = all.num_rows() - take;
        let mut set = HashSet64::default();
        shred::bloom_of(&group, &mut set).map_err(bad)?;
        self.write_group(&group, &index::bloom_build(&set))
    }

    /// Events written so far (pending rows included).
    pub(crate) fn events(&self) -> u64 {
        self.events + self.pending_rows as u64
    }

    /// Writes the footer, fsyncs, renames into place, fsyncs the directory, opens the result.
    pub(crate) fn finish(mut self) -> Result<Segment, StoreError> {
        let res = self.finish_inner();
        if res.is_err() {
            let _ = std::fs::remove_file(&self.tmp);
        }
        res
    }

    fn finish_inner(&mut self) -> Result<Segment, StoreError> {
        while self.pending_rows > 0 {
            self.flush_pending(self.opts.row_group_rows.max(1))?;
        }
        if self.events == 0 {
            return Err(StoreError::Invalid("empty segment".into()));
        }
        if self.opts.fail_write {
            return Err(StoreError::io(
                "write segment",
                &self.tmp,
                std::io::Error::other("injected write failure"),
            ));
        }
        let tmp = self.tmp.clone();
        let mut w = self
            .writer
            .take()
            .ok_or_else(|| StoreError::Invalid("segment writer already finished".into()))?;
        for (k, v) in [
            ("vigil.first_lsn", self.first_lsn),
            ("vigil.last_lsn", self.last_lsn),
            ("vigil.events", self.events),
        ] {
            w.append_key_value_metadata(KeyValue::new(k.into(), v.to_string()));
        }
        let buf = w
            .into_inner()
            .map_err(|e| pq_err(&tmp, "write segment", &e))?;
        let file = buf
            .into_inner()
            .map_err(|e| StoreError::io("write segment", &tmp, e.into_error()))?;
        // The last chunk, then fsync.
        file.finish()?;
        let path = self.dir.join(file_name(self.first_lsn, self.last_lsn));
        std::fs::rename(&tmp, &path).map_err(|e| StoreError::io("rename segment", &path, e))?;
        sync_dir(&self.dir)?;
        Segment::open(&path, self.opts.tier, &self.opts.keyring)
    }
}

impl Drop for SegmentWriter {
    fn drop(&mut self) {
        if self.writer.is_some() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

fn pq_err(path: &Path, op: &'static str, e: &parquet::errors::ParquetError) -> StoreError {
    StoreError::io(op, path, std::io::Error::other(e.to_string()))
}

/// A segment file read through the `crypto` seam (plain or decrypted chunk by chunk), safe to
/// share between threads. A read that fails authentication is remembered in `tampered`, so
/// that the Parquet error it becomes is reported as tampering (Parquet keeps only its text).
#[derive(Debug, Clone)]
pub(crate) struct SegFile {
    reader: SealedReader,
    tampered: Arc<OnceLock<String>>,
}

impl SegFile {
    fn note(&self, e: std::io::Error) -> std::io::Error {
        if let Some(t) = e.get_ref().and_then(|x| x.downcast_ref::<Tampered>()) {
            let _ = self.tampered.set(t.0.clone());
        }
        e
    }
}

impl Length for SegFile {
    fn len(&self) -> u64 {
        self.reader.len()
    }
}

/// A reader from an offset of a [`SegFile`] to its end.
pub(crate) struct SegRead {
    file: SegFile,
    cursor: SealedReader,
}

impl Read for SegRead {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.cursor.read(buf).map_err(|e| self.file.note(e))
    }
}

impl ChunkReader for SegFile {
    type T = SegRead;

    fn get_read(&self, start: u64) -> parquet::errors::Result<SegRead> {
        Ok(SegRead {
            file: self.clone(),
            cursor: self.reader.cursor(start),
        })
    }

    fn get_bytes(&self, start: u64, length: usize) -> parquet::errors::Result<Bytes> {
        let len = self.reader.len();
        let end = start
            .checked_add(length as u64)
            .filter(|&e| e <= len)
            .ok_or_else(|| {
                parquet::errors::ParquetError::EOF(format!(
                    "range {start}+{length} beyond the file ({len} bytes)"
                ))
            })?;
        let buf = self
            .reader
            .read_range(start..end)
            .map_err(|e| self.note(e))?;
        Ok(Bytes::from(buf))
    }
}

/// One row group.
#[derive(Debug, Clone)]
pub(crate) struct Group {
    pub rows: usize,
    pub min_ts: i64,
    pub max_ts: i64,
}

/// An open, checked segment.
pub(crate) struct Segment {
    pub path: PathBuf,
    pub tier: Tier,
    pub tenant: String,
    pub first_lsn: u64,
    pub last_lsn: u64,
    pub events: u64,
    pub min_ts: i64,
    pub max_ts: i64,
    pub file_len: u64,
    /// Bytes of the bloom filters (included in `file_len`).
    pub bloom_bytes: u64,
    pub groups: Vec<Group>,
    /// The per-segment columns.
    pub layout: Layout,
    /// How many of the [`KEYWORD_FIELDS`] are keyword columns and in the bloom filters: all,
    /// but [`KEYWORD_FIELDS_V2`] in a segment of format 2.
    pub keywords: usize,
    /// Top-level column names, in file order.
    roots: Vec<String>,
    file: SegFile,
    meta: ArrowReaderMetadata,
    blooms: OnceLock<Vec<Bytes>>,
}

impl std::fmt::Debug for Segment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Segment")
            .field("path", &self.path)
            .field("tier", &self.tier)
            .field("events", &self.events)
            .finish()
    }
}

impl Segment {
    /// The file name.
    pub(crate) fn name(&self) -> String {
        self.path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    /// Opens a segment through the keyring: Parquet footer, schema, Vigil metadata, row group
    /// statistics. Errors: [`StoreError::Key`] when the file needs a key the keyring lacks.
    pub(crate) fn open(path: &Path, tier: Tier, keyring: &Keyring) -> Result<Segment, StoreError> {
        let reader = crypto::open_sealed_file(path, keyring)?;
        // Bytes on disk (an encrypted file is larger than its Parquet plaintext).
        let len = std::fs::metadata(path)
            .map_err(|e| StoreError::io("stat segment", path, e))?
            .len();
        let bad = |r: String| StoreError::corrupt(path, r);
        let file = SegFile {
            reader,
            tampered: Arc::new(OnceLock::new()),
        };
        let opts = ArrowReaderOptions::new()
            .with_offset_index_policy(PageIndexPolicy::Optional)
            .with_column_index_policy(PageIndexPolicy::Skip);
        let meta =
            ArrowReaderMetadata::load(&file, opts).map_err(|e| match file.tampered.get() {
                Some(t) => tampered_err(path, t),
                None => bad(format!("not a readable Parquet file: {e}")),
            })?;
        let md = meta.metadata().clone();
        let bloom_leaf = (0..md.file_metadata().schema_descr().num_columns())
            .find(|&i| {
                md.file_metadata()
                    .schema_descr()
                    .column(i)
                    .path()
                    .parts()
                    .first()
                    == Some(&shred::BLOOM.to_owned())
            })
            .ok_or_else(|| bad("no _bloom column".into()))?;
        let kv = |k: &str| -> Option<String> {
            md.file_metadata()
                .key_value_metadata()?
                .iter()
                .find(|x| x.key == k)?
                .value
                .clone()
        };
        let keywords = match kv("vigil.format") {
            Some(v) if v == FORMAT => KW,
            Some(v) if v == FORMAT_V2 => KEYWORD_FIELDS_V2,
            other => {
                return Err(bad(format!(
                    "format {other:?}, this build reads {FORMAT:?} and {FORMAT_V2:?}"
                )));
            }
        };
        let layout = shred::check_schema(meta.schema(), keywords)
            .map_err(|e| bad(format!("not a Vigil segment: {e}")))?;
        let roots: Vec<String> = meta
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        let num = |k: &str| -> Result<u64, StoreError> {
            kv(k)
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| bad(format!("metadata {k} missing or not a number")))
        };
        let (first_lsn, last_lsn, events) = (
            num("vigil.first_lsn")?,
            num("vigil.last_lsn")?,
            num("vigil.events")?,
        );
        let tenant = kv("vigil.tenant").unwrap_or_default();
        let mut groups = Vec::with_capacity(md.num_row_groups());
        let (mut total, mut min_ts, mut max_ts, mut bloom_bytes) = (0u64, i64::MAX, i64::MIN, 0u64);
        for (i, rg) in md.row_groups().iter().enumerate() {
            let rows = usize::try_from(rg.num_rows())
                .map_err(|_| bad(format!("row group {i}: negative row count")))?;
            let (lo, hi) = match rg.column(C_TS).statistics() {
                Some(Statistics::Int64(s)) => match (s.min_opt(), s.max_opt()) {
                    (Some(a), Some(b)) => (*a, *b),
                    _ => return Err(bad(format!("row group {i}: no @timestamp statistics"))),
                },
                _ => return Err(bad(format!("row group {i}: no @timestamp statistics"))),
            };
            bloom_bytes += rg.column(bloom_leaf).compressed_size().max(0) as u64;
            total += rows as u64;
            min_ts = min_ts.min(lo);
            max_ts = max_ts.max(hi);
            groups.push(Group {
                rows,
                min_ts: lo,
                max_ts: hi,
            });
        }
        if total != events || (events > 0 && first_lsn > last_lsn) {
            return Err(bad(format!(
                "metadata says {events} events (LSN {first_lsn}-{last_lsn}), row groups hold {total}"
            )));
        }
        Ok(Segment {
            path: path.to_owned(),
            tier,
            tenant,
            first_lsn,
            last_lsn,
            events,
            min_ts,
            max_ts,
            file_len: len,
            bloom_bytes,
            groups,
            layout,
            keywords,
            roots,
            file,
            meta,
            blooms: OnceLock::new(),
        })
    }

    /// Compressed bytes per top-level column (its column chunks in every row group, with
    /// page headers and dictionary pages, as the footer lists them), in file order.
    pub(crate) fn column_bytes(&self) -> Vec<(String, u64)> {
        let md = self.meta.metadata();
        let schema = md.file_metadata().schema_descr();
        let mut out: Vec<(String, u64)> = Vec::new();
        for rg in md.row_groups() {
            for (i, c) in rg.columns().iter().enumerate() {
                let name = schema.column(i).path().parts().first().cloned();
                let Some(name) = name else { continue };
                let bytes = c.compressed_size().max(0) as u64;
                match out.iter_mut().find(|(n, _)| *n == name) {
                    Some(e) => e.1 += bytes,
                    None => out.push((name, bytes)),
                }
            }
        }
        out
    }

    fn corrupt(&self, what: String) -> StoreError {
        StoreError::corrupt(&self.path, what)
    }

    /// A failed read: tampering when a chunk failed authentication, else corruption.
    fn read_err(&self, what: String) -> StoreError {
        match self.file.tampered.get() {
            Some(t) => tampered_err(&self.path, t),
            None => self.corrupt(what),
        }
    }

    /// The encryption key the file is under (`None`: plain).
    pub(crate) fn key_id(&self) -> Option<KeyId> {
        self.file.reader.key_id()
    }

    /// The position of top-level column `name`.
    fn root(&self, name: &str) -> Result<usize, StoreError> {
        self.roots
            .iter()
            .position(|r| r == name)
            .ok_or_else(|| self.corrupt(format!("no {name} column")))
    }

    /// Reads top-level columns `cols` of row group `rg`, optionally only the selected rows (the
    /// text columns of later keyword fields as dictionary columns, in a segment of format 2).
    fn read(
        &self,
        rg: usize,
        cols: &[usize],
        rows: Option<&[usize]>,
    ) -> Result<Vec<RecordBatch>, StoreError> {
        let n = self.groups.get(rg).map_or(0, |g| g.rows);
        let mask = ProjectionMask::roots(self.meta.parquet_schema(), cols.iter().copied());
        let mut b = ParquetRecordBatchReaderBuilder::new_with_metadata(
            self.file.clone(),
            self.meta.clone(),
        )
        .with_row_groups(vec![rg])
        .with_projection(mask)
        .with_batch_size(n.max(1));
        if let Some(rows) = rows {
            b = b.with_row_selection(selection(rows, n));
        }
        let reader = b
            .build()
            .map_err(|e| self.read_err(format!("row group {rg}: {e}")))?;
        reader
            .map(|r| {
                let b = r.map_err(|e| self.read_err(format!("row group {rg}: {e}")))?;
                shred::upgrade_legacy(b, self.keywords)
                    .map_err(|e| self.corrupt(format!("row group {rg}: {e}")))
            })
            .collect()
    }

    /// The bloom filter of every row group (read once, then cached).
    pub(crate) fn blooms(&self) -> Result<&[Bytes], StoreError> {
        if let Some(b) = self.blooms.get() {
            return Ok(b);
        }
        let mut out = Vec::with_capacity(self.groups.len());
        for rg in 0..self.groups.len() {
            let batches = self.read(rg, &[self.root(shred::BLOOM)?], None)?;
            let mut found = None;
            for b in &batches {
                let a = binary(b, shred::BLOOM, &self.path)?;
                if let Some(i) = (0..a.len()).find(|&i| a.is_valid(i)) {
                    found = Some(Bytes::copy_from_slice(a.value(i)));
                    break;
                }
            }
            out.push(
                found.ok_or_else(|| self.corrupt(format!("row group {rg}: no bloom filter")))?,
            );
        }
        Ok(self.blooms.get_or_init(|| out))
    }

    /// `lsn`, `@timestamp` and the keyword columns `fields` (indexes into
    /// [`KEYWORD_FIELDS`]) of row group `rg`.
    pub(crate) fn columns(
        &self,
        rg: usize,
        fields: &[usize],
    ) -> Result<(Vec<u64>, Columns), StoreError> {
        self.columns_with(rg, fields, true, true)
    }

    /// The keyword columns `fields` of row group `rg`, with `lsn` and `@timestamp` only when
    /// asked (else empty: a `count by` over a whole row group reads neither). A keyword field a
    /// segment of format 2 has no column for is absent in every row.
    pub(crate) fn columns_with(
        &self,
        rg: usize,
        fields: &[usize],
        with_lsn: bool,
        with_ts: bool,
    ) -> Result<(Vec<u64>, Columns), StoreError> {
        let mut roots = Vec::with_capacity(fields.len() + 2);
        if with_lsn {
            roots.push(self.root(shred::LSN)?);
        }
        if with_ts {
            roots.push(self.root(shred::TS)?);
        }
        // Keyword fields the segment has columns for (in format 2, a later one may be missing).
        let present: Vec<usize> = fields
            .iter()
            .copied()
            .filter(|&f| f < self.keywords || self.roots.iter().any(|r| r == KEYWORD_FIELDS[f]))
            .collect();
        for &f in &present {
            roots.push(self.root(KEYWORD_FIELDS[f])?);
        }
        if roots.is_empty() {
            // Read something for the row count.
            roots.push(self.root(shred::TS)?);
        }
        let batches = self.read(rg, &roots, None)?;
        let kinds = kinds();
        let mut lsns = Vec::new();
        let mut cols = Columns {
            cols: vec![Col::default(); KW],
            ts: Vec::new(),
        };
        // IP columns are bytes: ids by address (ids from 1).
        let mut ip_ids: Vec<std::collections::HashMap<std::net::IpAddr, u32>> =
            vec![std::collections::HashMap::new(); KW];
        let mut rows = 0;
        for b in &batches {
            if with_lsn {
                let l = b
                    .column_by_name(shred::LSN)
                    .and_then(|a| a.as_any().downcast_ref::<UInt64Array>())
                    .ok_or_else(|| self.corrupt("lsn column".into()))?;
                lsns.extend(l.values().iter().copied());
            }
            if with_ts {
                let t = b
                    .column_by_name(shred::TS)
                    .and_then(|a| a.as_any().downcast_ref::<Int64Array>())
                    .ok_or_else(|| self.corrupt("@timestamp column".into()))?;
                cols.ts.extend(t.values().iter().copied());
            }
            let base = rows;
            rows += b.num_rows();
            for &f in &present {
                if shred::kw_is_ip(f) {
                    let a = binary(b, KEYWORD_FIELDS[f], &self.path)?;
                    let col = &mut cols.cols[f];
                    let ids = &mut ip_ids[f];
                    col.ids.resize(base, 0);
                    for i in 0..a.len() {
                        let ip = a.is_valid(i).then(|| shred::ip_of(a.value(i))).flatten();
                        let id = match ip {
                            Some(ip) => *ids.entry(ip).or_insert_with(|| {
                                col.vals.push(ColValue::Ip(ip));
                                col.vals.len() as u32
                            }),
                            None => 0,
                        };
                        col.ids.push(id);
                    }
                    continue;
                }
                let d = b
                    .column_by_name(KEYWORD_FIELDS[f])
                    .and_then(|a| a.as_any().downcast_ref::<DictionaryArray<Int32Type>>())
                    .ok_or_else(|| self.corrupt(format!("{} column", KEYWORD_FIELDS[f])))?;
                let values = d
                    .values()
                    .as_any()
                    .downcast_ref::<StringArray>()
                    .ok_or_else(|| self.corrupt(format!("{} dictionary", KEYWORD_FIELDS[f])))?;
                let col = &mut cols.cols[f];
                // Dictionary entries map to the column's value list (ids from 1); unparsable
                // ones are absent (id 0).
                let mut map = Vec::with_capacity(values.len());
                for i in 0..values.len() {
                    let v = values
                        .is_valid(i)
                        .then(|| kinds[f].and_then(|k| ColValue::parse(k, values.value(i))))
                        .flatten();
                    match v {
                        Some(v) => {
                            col.vals.push(v);
                            map.push(col.vals.len() as u32);
                        }
                        None => map.push(0),
                    }
                }
                col.ids.resize(base, 0);
                let keys = d.keys();
                let lookup = |k: i32| {
                    usize::try_from(k)
                        .ok()
                        .and_then(|k| map.get(k).copied())
                        .unwrap_or(0)
                };
                let codes = keys.values();
                match keys.nulls() {
                    None => col.ids.extend(codes.iter().map(|&k| lookup(k))),
                    // Mostly absent (the rule of correlation events among base events): visit
                    // only the rows that have a value.
                    Some(n) if n.null_count() * 2 > n.len() => {
                        col.ids.resize(base + keys.len(), 0);
                        for i in n.valid_indices() {
                            if let (Some(id), Some(&k)) = (col.ids.get_mut(base + i), codes.get(i))
                            {
                                *id = lookup(k);
                            }
                        }
                    }
                    Some(n) => col.ids.extend(
                        codes
                            .iter()
                            .enumerate()
                            .map(|(i, &k)| if n.is_valid(i) { lookup(k) } else { 0 }),
                    ),
                }
            }
        }
        for &f in fields {
            cols.cols[f].ids.resize(rows, 0);
        }
        if rows != self.groups.get(rg).map_or(0, |g| g.rows) {
            return Err(self.corrupt(format!("row group {rg}: row count differs from the footer")));
        }
        Ok((lsns, cols))
    }

    /// Raw records and messages of rows `rows` (ascending) of row group `rg`.
    pub(crate) fn texts(&self, rg: usize, rows: &[usize]) -> Result<Texts, StoreError> {
        let cols = [self.root(shred::MESSAGE)?, self.root(shred::RAW)?];
        let batches = self.read(rg, &cols, Some(rows))?;
        Texts::new(batches, rows.len(), &self.path)
    }

    /// Events of rows `rows` (ascending) of row group `rg`, rebuilt from every column.
    pub(crate) fn events(&self, rg: usize, rows: &[usize]) -> Result<Vec<Event>, StoreError> {
        let cols: Vec<usize> = (0..self.roots.len())
            .filter(|&i| self.roots[i] != shred::LSN && self.roots[i] != shred::BLOOM)
            .collect();
        let batches = self.read(rg, &cols, Some(rows))?;
        let mut out = Vec::with_capacity(rows.len());
        for b in &batches {
            shred::assemble(b, &mut out)
                .map_err(|e| self.corrupt(format!("row group {rg}: {e}")))?;
        }
        if out.len() != rows.len() {
            return Err(self.corrupt(format!(
                "row group {rg}: read {} rows, selected {}",
                out.len(),
                rows.len()
            )));
        }
        Ok(out)
    }

    /// Every column but `_bloom` of row group `rg` (for merges and tier moves).
    pub(crate) fn read_group(&self, rg: usize) -> Result<Vec<RecordBatch>, StoreError> {
        let cols: Vec<usize> = (0..self.roots.len())
            .filter(|&i| self.roots[i] != shred::BLOOM)
            .collect();
        self.read(rg, &cols, None)
    }
}

fn tampered_err(path: &Path, what: &str) -> StoreError {
    StoreError::io(
        "read segment",
        path,
        std::io::Error::new(std::io::ErrorKind::InvalidData, Tampered(what.to_owned())),
    )
}

fn binary<'a>(b: &'a RecordBatch, name: &str, path: &Path) -> Result<&'a BinaryArray, StoreError> {
    b.column_by_name(name)
        .and_then(|a| a.as_any().downcast_ref::<BinaryArray>())
        .ok_or_else(|| StoreError::corrupt(path, format!("{name} column")))
}

/// One batch of [`Texts`]: its first row's index and its columns.
struct TextPart {
    start: usize,
    message: StringArray,
    raw: BinaryArray,
}

/// The selected rows of the text columns (`message`, `raw`).
pub(crate) struct Texts {
    parts: Vec<TextPart>,
}

impl Texts {
    fn new(batches: Vec<RecordBatch>, want: usize, path: &Path) -> Result<Texts, StoreError> {
        let mut parts = Vec::with_capacity(batches.len());
        let mut len = 0;
        for b in &batches {
            let message = b
                .column_by_name(shred::MESSAGE)
                .and_then(|a| a.as_any().downcast_ref::<StringArray>())
                .ok_or_else(|| StoreError::corrupt(path, "message column"))?
                .clone();
            let raw = binary(b, shred::RAW, path)?.clone();
            parts.push(TextPart {
                start: len,
                message,
                raw,
            });
            len += b.num_rows();
        }
        if len != want {
            return Err(StoreError::corrupt(
                path,
                format!("read {len} rows, selected {want}"),
            ));
        }
        Ok(Texts { parts })
    }

    fn part(&self, i: usize) -> (&TextPart, usize) {
        let p = self
            .parts
            .partition_point(|x| x.start <= i)
            .saturating_sub(1);
        let part = &self.parts[p];
        (part, i - part.start)
    }

    pub(crate) fn raw(&self, i: usize) -> &[u8] {
        let (p, j) = self.part(i);
        p.raw.value(j)
    }

    pub(crate) fn message(&self, i: usize) -> Option<&str> {
        let (p, j) = self.part(i);
        p.message.is_valid(j).then(|| p.message.value(j))
    }
}

/// A row selection of `rows` (ascending) out of `n`.
fn selection(rows: &[usize], n: usize) -> RowSelection {
    let mut ranges: Vec<std::ops::Range<usize>> = Vec::new();
    for &r in rows {
        match ranges.last_mut() {
            Some(last) if last.end == r => last.end = r + 1,
            _ => ranges.push(r..r + 1),
        }
    }
    RowSelection::from_consecutive_ranges(ranges.into_iter(), n)
}

/// fsyncs a directory so that created, renamed and deleted entries are durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| StoreError::io("fsync directory", dir, e))
}

/// SHA-256 and size of a file.
pub(crate) fn sha256_file(path: &Path) -> Result<([u8; 32], u64), StoreError> {
    use ring::digest::{Context, SHA256};
    let mut f = File::open(path).map_err(|e| StoreError::io("open segment", path, e))?;
    let mut c = Context::new(&SHA256);
    let mut buf = vec![0u8; 1 << 20];
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
    let mut out = [0u8; 32];
    out.copy_from_slice(c.finish().as_ref());
    Ok((out, size))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(is_segment_name(&file_name(1, 100)));
        assert!(!is_segment_name(
            "00000000000000000001-00000000000000000100.vseg"
        ));
        assert!(!is_segment_name(".tmp-1-2.parquet"));
    }
}
