//! The memtable: appended events, encoded, in blocks of the same shape as a segment's blocks,
//! with the pruning sets and keyword columns built as events arrive. Search reads it directly;
//! the sealer turns a frozen memtable into a segment, reusing the blocks' keyword columns and
//! key and token sets (`segment::write_memtable`).

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Instant;

use arrow_array::RecordBatch;

use super::columns::{Columns, ColumnsBuilder};
use super::index::HashSet64;

/// Longest keyword value kept in a column; a block with a longer one has no columns (queries
/// decode its events instead).
const MAX_COLUMN_VALUE: usize = 4096;

/// One block of encoded events: `data[ends[i-1]..ends[i]]` is event `i`, `ts[i]` its
/// `@timestamp`, `lsn0 + i` its LSN.
/// What the store extracted from one event.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Features<'a> {
    /// Length of the raw record, which ends the encoded record.
    pub raw_len: u32,
    pub keys: &'a [u64],
    pub tokens: &'a [u64],
    pub cols: &'a [(u8, &'a str)],
    /// Its other columns: row `row` of the append's [`FieldsBuilder`](super::shred::FieldsBuilder)
    /// batch `batch` (numbered `batch_id`).
    pub batch: &'a RecordBatch,
    pub batch_id: u64,
    pub row: usize,
}

/// Events of a block whose other columns are rows `start..start + len` of an append's batch.
#[derive(Debug, Clone)]
pub(crate) struct FieldRun {
    batch: RecordBatch,
    batch_id: u64,
    start: usize,
    len: usize,
}

#[derive(Debug, Clone)]
pub(crate) struct MemBlock {
    pub data: Vec<u8>,
    pub ends: Vec<u32>,
    pub ts: Vec<i64>,
    pub raw_lens: Vec<u32>,
    pub min_ts: i64,
    pub max_ts: i64,
    pub first_lsn: u64,
    pub keys: HashSet64,
    pub tokens: HashSet64,
    pub cols: ColumnsBuilder,
    /// False when a value did not fit a column: the block is stored without columns.
    pub cols_ok: bool,
    /// The columns but LSN, keywords and raw of its events, run by run, for sealing.
    pub fields: Vec<FieldRun>,
    /// Bytes to reserve for the data when the first event arrives.
    pub size_hint: usize,
    /// The columns of a full block, finished once.
    finished: Option<Columns>,
    /// Recently inserted key and token hashes (see [`insert_new`]); dropped when the block is full.
    recent: Option<Box<[u64]>>,
}

const RECENT: usize = 4096;

/// A block is closed early when its records reach this size (offsets are u32, and readers
/// cap a block's plain size).
const MAX_BLOCK_BYTES: usize = 64 << 20;

/// Inserts hashes into `set`, skipping those found in the direct-mapped cache `recent`.
fn insert_new(set: &mut HashSet64, recent: &mut [u64], hashes: &[u64]) {
    for &h in hashes {
        let slot = &mut recent[(h as usize) & (RECENT - 1)];
        if *slot == h && h != 0 {
            continue;
        }
        *slot = h;
        set.insert(h);
    }
}

impl Default for MemBlock {
    fn default() -> Self {
        MemBlock {
            data: Vec::new(),
            ends: Vec::new(),
            ts: Vec::new(),
            raw_lens: Vec::new(),
            min_ts: 0,
            max_ts: 0,
            first_lsn: 0,
            keys: HashSet64::default(),
            tokens: HashSet64::default(),
            cols: ColumnsBuilder::default(),
            cols_ok: true,
            fields: Vec::new(),
            size_hint: 0,
            finished: None,
            recent: None,
        }
    }
}

impl MemBlock {
    pub(crate) fn len(&self) -> usize {
        self.ends.len()
    }

    /// Adds one encoded event with its keyword hashes, token hashes and column values.
    pub(crate) fn push(&mut self, lsn: u64, ts: i64, encoded: &[u8], f: Features<'_>) {
        if f.cols.iter().any(|(_, v)| v.len() > MAX_COLUMN_VALUE) {
            self.cols_ok = false;
        }
        if self.cols_ok {
            self.cols.push(self.ends.len(), f.cols);
        }
        if self.ends.is_empty() {
            self.first_lsn = lsn;
            self.min_ts = ts;
            self.max_ts = ts;
            self.data.reserve(self.size_hint);
        } else {
            self.min_ts = self.min_ts.min(ts);
            self.max_ts = self.max_ts.max(ts);
        }
        self.data.extend_from_slice(encoded);
        self.ends.push(self.data.len() as u32);
        self.ts.push(ts);
        self.raw_lens.push(f.raw_len.min(encoded.len() as u32));
        match self.fields.last_mut() {
            Some(r) if r.batch_id == f.batch_id && r.start + r.len == f.row => r.len += 1,
            _ => self.fields.push(FieldRun {
                batch: f.batch.clone(),
                batch_id: f.batch_id,
                start: f.row,
                len: 1,
            }),
        }
        // Most tokens repeat from one event to the next ("Failed", "password", host names): a
        // direct-mapped cache of recent hashes skips most set inserts.
        let recent = self
            .recent
            .get_or_insert_with(|| vec![0u64; 2 * RECENT].into_boxed_slice());
        let (recent_keys, recent_tokens) = recent.split_at_mut(RECENT);
        insert_new(&mut self.keys, recent_keys, f.keys);
        insert_new(&mut self.tokens, recent_tokens, f.tokens);
    }

    /// The finished columns, if the block has them.
    pub(crate) fn columns(&self) -> Option<Cow<'_, Columns>> {
        if let Some(c) = &self.finished {
            return Some(Cow::Borrowed(c));
        }
        self.cols_ok.then(|| Cow::Owned(self.cols.finish(&self.ts)))
    }

    /// Freezes the block: finishes its columns once (queries read them many times).
    fn seal(&mut self) {
        self.recent = None;
        self.finished = self.cols_ok.then(|| self.cols.finish(&self.ts));
        self.cols = ColumnsBuilder::default();
    }

    /// A copy of the events only (no pruning sets): what a search snapshots of the open block.
    pub(crate) fn copy_events(&self) -> MemBlock {
        MemBlock {
            data: self.data.clone(),
            ends: self.ends.clone(),
            ts: self.ts.clone(),
            raw_lens: self.raw_lens.clone(),
            min_ts: self.min_ts,
            max_ts: self.max_ts,
            first_lsn: self.first_lsn,
            keys: HashSet64::default(),
            tokens: HashSet64::default(),
            cols: self.cols.clone(),
            cols_ok: self.cols_ok,
            fields: Vec::new(),
            size_hint: 0,
            finished: None,
            recent: None,
        }
    }

    /// The other columns of events `from..to` (as slices of the appends' batches).
    pub(crate) fn fields(&self, from: usize, to: usize) -> Vec<RecordBatch> {
        let mut out = Vec::new();
        let mut at = 0;
        for r in &self.fields {
            let (lo, hi) = (from.max(at), to.min(at + r.len));
            if lo < hi {
                out.push(r.batch.slice(r.start + lo - at, hi - lo));
            }
            at += r.len;
        }
        out
    }

    /// The encoded event `i`.
    pub(crate) fn event(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.data[start..self.ends[i] as usize]
    }
}

/// The events appended since the last freeze.
#[derive(Debug)]
pub(crate) struct Memtable {
    /// Full blocks: immutable, shared with searches.
    pub blocks: Vec<Arc<MemBlock>>,
    /// The block being filled.
    pub open: MemBlock,
    pub events: usize,
    pub bytes: usize,
    pub first_lsn: u64,
    pub last_lsn: u64,
    pub created: Instant,
    block_events: usize,
}

impl Memtable {
    pub(crate) fn new(block_events: usize) -> Self {
        Memtable {
            blocks: Vec::new(),
            open: MemBlock::default(),
            events: 0,
            bytes: 0,
            first_lsn: 0,
            last_lsn: 0,
            created: Instant::now(),
            block_events: block_events.max(1),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.events == 0
    }

    pub(crate) fn push(&mut self, lsn: u64, ts: i64, encoded: &[u8], f: Features<'_>) {
        if self.events == 0 {
            self.first_lsn = lsn;
            self.created = Instant::now();
        }
        self.last_lsn = lsn;
        self.events += 1;
        self.bytes += encoded.len();
        self.open.push(lsn, ts, encoded, f);
        if self.open.len() >= self.block_events || self.open.data.len() >= MAX_BLOCK_BYTES {
            let mut full = std::mem::take(&mut self.open);
            full.seal();
            // the next block will likely be as big as this one
            self.open.size_hint = full.data.len() + full.data.len() / 8;
            self.blocks.push(Arc::new(full));
        }
    }

    /// All blocks including the open one, for sealing (consumes the open block).
    pub(crate) fn into_blocks(mut self) -> Vec<Arc<MemBlock>> {
        if self.open.len() > 0 {
            let mut open = std::mem::take(&mut self.open);
            open.seal();
            self.blocks.push(Arc::new(open));
        }
        self.blocks
    }
}
