//! The memtable: appended events, encoded, in blocks of the same shape as a segment's blocks,
//! with the pruning sets and keyword columns built as events arrive. Search reads it directly;
//! the sealer turns a frozen memtable into a segment, reusing the blocks' keyword columns, key
//! and token sets and other columns (`segment::write_memtable`).
//!
//! What a block holds does not depend on how its events were batched: every append adds its
//! events to the open block's growing builders (the other segment columns included:
//! [`FieldsBuilder`]), and a block's columns become one Arrow batch when the block is full. A
//! memtable counts the bytes it holds ([`Memtable::mem_bytes`]) and charges them to a total
//! shared by all partitions ([`MemCharge`]), so that the store can bound both.

use std::borrow::Cow;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use arrow_array::RecordBatch;
use vigil_event::Event;

use super::columns::{Columns, ColumnsBuilder};
use super::index::HashSet64;
use super::shred::FieldsBuilder;

/// Longest keyword value kept in a column; a block with a longer one has no columns (queries
/// decode its events instead).
const MAX_COLUMN_VALUE: usize = 4096;

/// What the store extracted from one event.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Features<'a> {
    /// Length of the raw record, which ends the encoded record.
    pub raw_len: u32,
    pub keys: &'a [u64],
    pub tokens: &'a [u64],
    pub cols: &'a [(u8, &'a str)],
    /// The event, for its other columns ([`FieldsBuilder::push`]).
    pub event: &'a Event,
    /// Where its message starts in its raw record, when the message is the raw record's tail.
    pub message_at: Option<usize>,
}

/// One block of encoded events: `data[ends[i-1]..ends[i]]` is event `i`, `ts[i]` its
/// `@timestamp`, `lsn0 + i` its LSN.
#[derive(Debug)]
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
    /// The columns but LSN, keywords and raw of its events, for sealing: growing while the
    /// block is open...
    fields: Option<FieldsBuilder>,
    /// ... one batch once it is full (or why it could not be built).
    batch: Option<Result<RecordBatch, String>>,
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
            fields: None,
            batch: None,
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
        self.fields
            .get_or_insert_with(FieldsBuilder::new)
            .push(f.event, f.message_at);
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

    /// Freezes the block: finishes its columns once (queries read them many times) and its
    /// other columns into one batch.
    fn seal(&mut self) {
        self.recent = None;
        self.finished = self.cols_ok.then(|| self.cols.finish(&self.ts));
        self.cols = ColumnsBuilder::default();
        if let Some(mut b) = self.fields.take() {
            self.batch = Some(b.finish());
        }
    }

    /// Bytes the block holds on the heap: exact for a full block; for the open one, its
    /// growing column builders count by their contents (not their spare capacity).
    pub(crate) fn mem_bytes(&self) -> usize {
        std::mem::size_of::<MemBlock>()
            + self.data.capacity()
            + self.ends.capacity() * 4
            + self.ts.capacity() * 8
            + self.raw_lens.capacity() * 4
            + set_bytes(&self.keys)
            + set_bytes(&self.tokens)
            + self.cols.mem_bytes()
            + self.finished.as_ref().map_or(0, Columns::mem_bytes)
            + self.recent.as_ref().map_or(0, |r| r.len() * 8)
            + self.fields.as_ref().map_or(0, FieldsBuilder::mem_bytes)
            + match &self.batch {
                Some(Ok(b)) => b.get_array_memory_size(),
                _ => 0,
            }
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
            fields: None,
            batch: None,
            size_hint: 0,
            finished: None,
            recent: None,
        }
    }

    /// The other columns of events `from..to` of a full block (a slice of its batch).
    pub(crate) fn fields(&self, from: usize, to: usize) -> Result<RecordBatch, String> {
        match &self.batch {
            Some(Ok(b)) if to <= b.num_rows() && from <= to => Ok(b.slice(from, to - from)),
            Some(Ok(b)) => Err(format!(
                "rows {from}..{to} of a block batch of {} rows",
                b.num_rows()
            )),
            Some(Err(e)) => Err(format!("block columns: {e}")),
            None if self.len() == 0 => Ok(RecordBatch::new_empty(Arc::new(
                arrow_schema::Schema::empty(),
            ))),
            None => Err("block still open".into()),
        }
    }

    /// The encoded event `i`.
    pub(crate) fn event(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.data[start..self.ends[i] as usize]
    }
}

/// Bytes a hash set of 64-bit hashes holds (hashbrown: a power-of-two table of 8-byte slots
/// and one control byte each, at most 7/8 full).
fn set_bytes(s: &HashSet64) -> usize {
    if s.capacity() == 0 {
        return 0;
    }
    let buckets = (s.capacity() * 8).div_ceil(7).next_power_of_two();
    buckets * 9 + 16
}

/// Memory charged to a total shared by all memtables (active and frozen, all partitions):
/// `set` moves the total by the difference, dropping the charge takes it back.
#[derive(Debug)]
pub(crate) struct MemCharge {
    total: Arc<AtomicU64>,
    bytes: u64,
}

impl MemCharge {
    pub(crate) fn new(total: Arc<AtomicU64>) -> MemCharge {
        MemCharge { total, bytes: 0 }
    }

    pub(crate) fn set(&mut self, bytes: u64) {
        if bytes >= self.bytes {
            self.total.fetch_add(bytes - self.bytes, Ordering::Relaxed);
        } else {
            self.total.fetch_sub(self.bytes - bytes, Ordering::Relaxed);
        }
        self.bytes = bytes;
    }

    pub(crate) fn bytes(&self) -> u64 {
        self.bytes
    }
}

impl Drop for MemCharge {
    fn drop(&mut self) {
        self.total.fetch_sub(self.bytes, Ordering::Relaxed);
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
    /// Bytes of the full blocks.
    full_bytes: usize,
    /// What [`account`](Self::account) last charged.
    charge: MemCharge,
}

impl Memtable {
    /// An empty memtable whose bytes are charged to `total`.
    pub(crate) fn new(block_events: usize, total: Arc<AtomicU64>) -> Self {
        Memtable {
            blocks: Vec::new(),
            open: MemBlock::default(),
            events: 0,
            bytes: 0,
            first_lsn: 0,
            last_lsn: 0,
            created: Instant::now(),
            block_events: block_events.max(1),
            full_bytes: 0,
            charge: MemCharge::new(total),
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
            self.full_bytes += full.mem_bytes();
            self.blocks.push(Arc::new(full));
        }
    }

    /// Bytes the memtable holds (its blocks, their pruning sets and columns).
    pub(crate) fn mem_bytes(&self) -> usize {
        self.full_bytes + self.open.mem_bytes() + self.blocks.capacity() * 8
    }

    /// Charges the bytes held now to the shared total (after a batch of pushes); returns them.
    pub(crate) fn account(&mut self) -> u64 {
        let b = self.mem_bytes() as u64;
        self.charge.set(b);
        b
    }

    /// The bytes last charged.
    pub(crate) fn charged(&self) -> u64 {
        self.charge.bytes()
    }

    /// All blocks including the open one, for sealing (consumes the open block), with the
    /// charge for their bytes (released when it is dropped).
    pub(crate) fn into_blocks(mut self) -> (Vec<Arc<MemBlock>>, MemCharge) {
        if self.open.len() > 0 {
            let mut open = std::mem::take(&mut self.open);
            open.seal();
            self.full_bytes += open.mem_bytes();
            self.blocks.push(Arc::new(open));
        }
        self.account();
        (self.blocks, self.charge)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    use vigil_event::{Bytes, Event, SmolStr, Timestamp};

    use super::super::Encoded;
    use super::Memtable;

    /// Syslog-like events with a few distinct hosts, programs and users.
    fn events(n: u64) -> Vec<Event> {
        (0..n)
            .map(|i| {
                let (host, user) = (format!("host-{}", i % 13), format!("user{}", i % 29));
                let msg = format!(
                    "Failed password for {user} from 10.1.{}.{} port {} ssh2",
                    i % 200,
                    i % 250,
                    1024 + i % 5000
                );
                let raw = format!("<86>May  1 00:00:00 {host} sshd[{}]: {msg}", 100 + i % 900);
                let mut ev = Event::new(Bytes::from(raw));
                ev.meta.tenant = SmolStr::new("main");
                ev.timestamp = Timestamp(1_700_000_000_000_000_000 + i as i64 * 1_000_000);
                ev.host.name = Some(host.into());
                ev.process.name = Some("sshd".into());
                ev.process.pid = Some(100 + (i % 900) as i64);
                ev.user.name = Some(user.into());
                ev.source.ip = format!("10.1.{}.{}", i % 200, i % 250).parse().ok();
                ev.message = Some(msg.into());
                ev
            })
            .collect()
    }

    /// Appends `evs` in batches of `batch` events, as the store does.
    fn fill(evs: &[Event], batch: usize, total: &Arc<AtomicU64>) -> Memtable {
        let mut mt = Memtable::new(4096, total.clone());
        let mut lsn = 1;
        for chunk in evs.chunks(batch) {
            Encoded::new(chunk).push_into(chunk, lsn, &mut mt);
            lsn += chunk.len() as u64;
        }
        mt
    }

    /// One event per append costs the memtable the bytes per event of 10,000 per append (the
    /// regression: every append kept its own Arrow batch, ~100 KiB per 1-event append).
    #[test]
    fn bytes_per_event_do_not_depend_on_batching() {
        let evs = events(12_288);
        let total = Arc::new(AtomicU64::new(0));
        let one = fill(&evs, 1, &total);
        let big = fill(&evs, 10_000, &total);
        let seven = fill(&evs, 7, &total);
        let per_event = |m: &Memtable| m.mem_bytes() as f64 / m.events as f64;
        let (a, b, c) = (per_event(&one), per_event(&big), per_event(&seven));
        let encoded = one.bytes as f64 / one.events as f64;
        eprintln!(
            "bytes/event: 1 per append {a:.0}, 7 per append {c:.0}, 10,000 per append {b:.0}; encoded {encoded:.0}"
        );
        assert!(
            a <= b * 1.1 && c <= b * 1.1,
            "bytes/event: 1 per append {a:.0}, 7 per append {c:.0}, 10,000 per append {b:.0}"
        );
        // events, pruning sets and all columns: within a small multiple of the encoded events
        assert!(
            b < 3.0 * encoded,
            "{b:.0} bytes/event for {encoded:.0} encoded"
        );
        // the charges add up to the shared total, and are released with the memtables
        assert_eq!(
            total.load(Ordering::Relaxed),
            one.charged() + big.charged() + seven.charged()
        );
        let (blocks, charge) = one.into_blocks();
        assert_eq!(blocks.len(), 3);
        assert!(blocks.iter().all(|b| b.fields(0, b.len()).is_ok()));
        drop((big, seven));
        assert_eq!(total.load(Ordering::Relaxed), charge.bytes());
        drop(charge);
        assert_eq!(total.load(Ordering::Relaxed), 0);
    }
}
