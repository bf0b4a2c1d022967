//! Vigil's event storage: the [`EventStore`] trait every backend implements, and the
//! [`embedded`] store that `vigil up` runs by default.
//!
//! # What this crate owns
//! Keeping every accepted event, durably, per tenant, and finding it again: search (filter,
//! time range, newest first, limit) and aggregation (`| count by process.name` with exact
//! counts), both in Vigil's query language ([`vigil_query`]). Callers see only the trait, so the
//! later storage work (tantivy hot tier, columnar cold tier, encryption, tamper evidence,
//! ClickHouse) adds implementations without touching them.
//!
//! # Why a WAL, a memtable and sealed blocks
//! The store sits behind a collector that must do ≥ 100,000 events/s on two cores *including*
//! parsing and normalization, so the store may spend about 2 µs of CPU per event. That rules
//! out per-event indexing (an inverted index costs 20–50 µs/event, see
//! `shared/research/storage.md` §3.3) and leaves the log-structured shape:
//!
//! 1. **WAL**: each appended batch is encoded once (postcard) and written as one checksummed
//!    frame; a background thread fsyncs at most every `fsync_interval` (group commit) and
//!    publishes the durable LSN, which [`EventStore::wait_durable`] waits for. A `write()`
//!    that returned is in the page cache, so a killed process loses nothing; a power cut loses
//!    at most one fsync interval.
//! 2. **Memtable**: the same encoded bytes go into in-memory blocks that search reads, so an
//!    event is searchable as soon as `append` returns. Keyword hashes and tokens are collected
//!    as events arrive, so the memtable prunes like a segment.
//!    A memtable counts the bytes it holds; what it holds per event does not depend on how
//!    events were batched (appends add to the open block's growing column builders).
//! 3. **Sealed segments** (Apache Parquet, written and read with arrow-rs): when the memtable
//!    is full (events or bytes: `memtable_max_bytes` per partition, `memtable_total_bytes`
//!    for all, with backpressure) or old, a background thread writes an immutable hot segment, one row per event
//!    in LSN order, in row groups of 16,384 rows (zstd 3): every field of the event a typed
//!    column of its own (`lsn`, `@timestamp` with row-group statistics that prune time
//!    ranges, the keyword fields as dictionary columns, the receive time and event id split
//!    so that they delta-encode to a few bits, every other field the segment's events have),
//!    the message when it is not the tail of the raw record, the raw record byte for byte,
//!    and per row group one bloom filter over the keyword values and the tokens of the raw
//!    record and message. Sealing decodes no event: the columns, keys and tokens are built
//!    at append and kept with the memtable, one Arrow batch per full block. A needle query probes the blooms (cached
//!    in memory), reads the keyword columns of the surviving row groups, the raw text only
//!    for full-text needles, and whole events only for the rows that may still match (Parquet
//!    page index + row selection); a `count by process.name` reads one dictionary column and
//!    counts per dictionary id, on both cores. Once the segment is renamed into place and the
//!    directory fsynced, WAL files whose frames it covers are deleted. With encryption at
//!    rest the Parquet bytes are the plaintext of the `VIGILENC` container.
//! 4. **Merges, the cold tier and retention**: a maintenance pass merges runs of small
//!    segments of one UTC day into larger ones and rewrites hot segments older than their
//!    storage space's `hot_age` into the cold tier (64 Ki-row row groups, zstd 9, optionally
//!    another directory); retention deletes whole files (hot or cold) whose newest event is
//!    past the space's retention. All are recorded as signed `merge`/`tier`/`delete` lines in
//!    the manifest before the old files go.
//! 5. **Recovery**: segments of both tiers are checked (Parquet footer, Vigil metadata,
//!    SHA-256 against the manifest; a bad file is moved to `quarantine/` and reported, the
//!    rest is served), what an interrupted merge, tier move or retention deletion left is
//!    deleted, the sealed LSN is the highest LSN in a segment or the manifest, and WAL frames
//!    above it are replayed into the memtable. LSN ranges partition the data, so a crash
//!    between the segment rename and the WAL deletion replays nothing twice; a torn or
//!    corrupt tail frame is truncated and counted.
//!
//! Every call names its tenant ([`TenantId`], validated as a directory name), and each tenant
//! has its own directory, WAL, memtable and segments: no code path reads across tenants.
//!
//! Full-text search is a substring match ([`vigil_query`]), so a token filter can only prune
//! with the needle's *inner* tokens (those bounded by separators inside the needle: `"Failed
//! password for"` prunes on `password`); every needle is also checked against an event's
//! raw record and message before the event is decoded. Pruning never decides a match: the
//! compiled filter does, on the decoded event (or on the columns, for column-only
//! conditions).
//!
//! # Why Parquet and own bloom filters
//! Parquet (arrow-rs, no query engine: DataFusion is too heavy for two cores) gives a proven,
//! open columnar format: dictionary and delta encodings, zstd pages, row-group statistics,
//! page indexes for reading selected rows, and files any tool can read. Parquet's native
//! split-block bloom filters hash the stored bytes, but `user.name:ALICE` must match `Alice`
//! (the query language compares case-insensitively) and full-text needles need the tokens of
//! the raw line, which is not a column of tokens: so each row group carries one bloom filter
//! of the store's own lowercased keyword hashes and raw-line tokens, in a column of the file
//! (covered by the manifest's SHA-256 like everything else), instead of native blooms that
//! could only prune the exact-case columns.
//!
//! # Files (embedded store)
//! ```text
//! <data_dir>/events/<tenant>/wal/<seq:010>.wal                      WAL frames
//! <data_dir>/events/<tenant>/segments/<lsn0:020>-<lsn1:020>.parquet hot segments
//! <data_dir>/events/<tenant>/cold/<lsn0:020>-<lsn1:020>.parquet     cold segments (`cold` may
//!                                                                   link to <cold_dir>/<tenant>)
//! <data_dir>/events/<tenant>/{segments,cold}/.tmp-*                 unfinished (removed at open)
//! <data_dir>/events/<tenant>/quarantine/                            files that failed checks
//! <data_dir>/events/<tenant>/manifest.log                           signed hash chain of file operations
//! <data_dir>/events/<tenant>/spaces/<space>/...                     the same, per storage space
//!                                                                   (cold: <cold_dir>/<tenant>/spaces/<space>)
//! <data_dir>/audit/audit.log                                        retention, disk, key audit
//! <data_dir>/keys/manifest-signing.{pk8,pub}                        its Ed25519 key pair
//! ```
//! Storage spaces, retention, the audit trail, full-disk protection and encryption at rest
//! (WAL frames `VGWE`, sealed files in the `VIGILENC` container) are described in
//! [`embedded::spaces`], `embedded/retention.rs`, [`audit`], `embedded/disk.rs` and
//! [`embedded::crypto`], and in `docs/storage.md`.
//! All integers are little-endian; checksums are CRC-32 (IEEE).
//!
//! **Event record** (in WAL frames and memtable blocks): `tag varint | postcard(Event)`; tag 0
//! = as is, tag n+1 = `message` equals the raw record from byte n and is left out.
//!
//! **WAL frame** (one per appended batch; event `i` has LSN `lsn + i`):
//! ```text
//! magic u32 "VGWL" | len u32 | crc32 u32 (of lsn, count, payload) | lsn u64 | count u32
//! | payload[len] = count event records back to back
//! ```
//! A frame that is cut short or fails its checksum ends the valid part of its file.
//!
//! **Segment file**: Parquet, key-value metadata `vigil.format = vigil-segment-parquet-3`
//! (format 2, whose keyword columns lack Vigil's metadata and the rule fields, is still read);
//! columns and encodings are listed in the `embedded::shred` and `embedded::segment` modules
//! and in `docs/storage.md`: one typed column per event field present in the segment (the
//! event is rebuilt from them), `_message_at` (where the message starts in `raw` when it is
//! the raw record's tail) or `message`, and `raw` byte for byte. With
//! encryption on, the file is the `VIGILENC` container around those bytes, read through a
//! Parquet `ChunkReader` over `SealedReader`. The manifest's entries (`seal`, `merge`, `tier`,
//! `delete`, `reencrypt`, `expire`) are described in `embedded/integrity.rs` and
//! `docs/storage.md`.
//!
//! Token hashes and value hashes use the store's own 64-bit hash (stable, part of the format);
//! tokens are maximal runs of ASCII alphanumerics and non-ASCII bytes, ASCII-lowercased, at
//! most 32 bytes; bloom filters use 10 bits per distinct key and 7 probes.
//!
//! # Measured
//! `cargo bench -p vigil-store --bench store_scale` (driven by `bench/store_scale.py`) over
//! the shared syslog corpus (seed 42, ~192 B/line), 2 shared vCPUs. Segment format 2 at
//! 1,000,000 lines: 51.2 bytes/event hot and 43.6 cold with the raw line kept (format 1: 84.6
//! and 73.7), per column in `docs/storage.md`. Format 1 at 10,000,000 lines: 39 k events/s
//! and 9.3 µs of store CPU per event, IP needle 24–62 ms, `| count by process.name`
//! 0.27–0.30 s. Details and instruction counts: `docs/benchmarks.md`.
//!
//! # ClickHouse (feature `clickhouse`)
//! [`clickhouse::ClickHouseStore`] implements the same trait over ClickHouse's HTTP interface
//! (18.16 and later); the shared query cases in `testdata/query_cases.yaml` pass on both
//! backends with identical results. See `CLICKHOUSE.md`.
//!
//! # The pipeline's destination (feature `pipeline`)
//! [`StoreDestination`] writes the pipeline's batches into any [`EventStore`];
//! [`collect_metrics`] reports every tenant's figures through the pipeline's telemetry.
#![warn(missing_docs)]

pub mod audit;
#[cfg(feature = "clickhouse")]
pub mod clickhouse;
#[cfg(feature = "pipeline")]
mod destination;
pub mod embedded;
mod error;
#[cfg(feature = "pipeline")]
mod metrics;
mod record;

use std::time::Duration;

#[cfg(feature = "pipeline")]
pub use destination::StoreDestination;
pub use error::StoreError;
#[cfg(feature = "pipeline")]
pub use metrics::collect_metrics;
pub use record::{EventRecord, FieldCache};
use vigil_event::{Event, Timestamp};
use vigil_query::{Query, SearchControl, Table};

/// A log sequence number: every appended event gets the next one, per tenant, starting at 1.
pub type Lsn = u64;

/// A validated tenant name (`vigil_event::TenantId`: one rule everywhere). It names a
/// directory, so validation is what keeps tenants apart on disk.
pub use vigil_event::TenantId;

impl From<vigil_event::InvalidTenant> for StoreError {
    fn from(e: vigil_event::InvalidTenant) -> StoreError {
        StoreError::InvalidTenant {
            name: e.name,
            reason: e.reason,
        }
    }
}

/// A half-open time range `[from, to)` over `@timestamp`, except that `to` =
/// [`Timestamp::MAX`] means "no end": the range then includes the last representable instant
/// too, so [`TimeRange::ALL`] holds every stored event (a source time of `9999-12-31` is
/// saturated to that instant).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeRange {
    /// Inclusive start.
    pub from: Timestamp,
    /// Exclusive end; [`Timestamp::MAX`] is unbounded (inclusive).
    pub to: Timestamp,
}

impl TimeRange {
    /// All time.
    pub const ALL: TimeRange = TimeRange {
        from: Timestamp::MIN,
        to: Timestamp::MAX,
    };

    /// `[from, to)`.
    pub fn new(from: Timestamp, to: Timestamp) -> TimeRange {
        TimeRange { from, to }
    }

    /// Whether `t` is inside.
    pub fn contains(&self, t: i64) -> bool {
        t >= self.from.0 && (t < self.to.0 || self.to == Timestamp::MAX)
    }

    /// Whether `[lo, hi]` (inclusive) overlaps.
    pub fn overlaps(&self, lo: i64, hi: i64) -> bool {
        hi >= self.from.0 && (lo < self.to.0 || self.to == Timestamp::MAX)
    }
}

/// Result order of a search.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Order {
    /// Latest `@timestamp` first (ties: latest appended first).
    #[default]
    NewestFirst,
    /// Earliest `@timestamp` first (ties: earliest appended first).
    OldestFirst,
}

/// The most events one search returns.
pub const MAX_SEARCH_LIMIT: usize = 100_000;

/// A search: events matching a query's filter (and leading `where` stages).
#[derive(Debug, Clone)]
pub struct SearchRequest {
    /// The parsed query: its filter and leading `where` stages select events. Aggregating
    /// stages are rejected (use [`EventStore::aggregate`]); other stages (`fields`, `sort`,
    /// `head`) are left to the caller, and [`EventStore::aggregate`] runs them.
    pub query: Query,
    /// The time range.
    pub range: TimeRange,
    /// At most this many events (capped at [`MAX_SEARCH_LIMIT`]).
    pub limit: usize,
    /// Result order.
    pub order: Order,
    /// Only this storage space of the tenant (`default` for the default space); `None`
    /// searches all of them. A backend without spaces rejects `Some`.
    pub space: Option<String>,
    /// Cancellation, deadline and memory budget: the scan checks it every few thousand rows
    /// and stops with [`StoreError::Query`] ([`vigil_query::QueryError::Cancelled`],
    /// `TimedOut`, `ResultTooLarge`). The events returned stay counted against the budget.
    pub control: SearchControl,
}

impl SearchRequest {
    /// Newest first, over all time and all spaces, with Vigil's field aliases and types.
    pub fn parse(query: &str, limit: usize) -> Result<SearchRequest, StoreError> {
        Ok(SearchRequest {
            query: vigil_query::parse_with(query, &EventSchema)?,
            range: TimeRange::ALL,
            limit,
            order: Order::NewestFirst,
            space: None,
            control: SearchControl::default(),
        })
    }

    /// Restricted to one storage space.
    pub fn in_space(mut self, space: impl Into<String>) -> SearchRequest {
        self.space = Some(space.into());
        self
    }

    /// Under this control (cancellation, deadline, memory budget).
    pub fn with_control(mut self, control: SearchControl) -> SearchRequest {
        self.control = control;
        self
    }
}

/// Estimated bytes an event holds in memory, for search memory budgets.
pub fn event_bytes(ev: &Event) -> usize {
    let map = |m: &vigil_event::FieldMap| {
        m.iter()
            .map(|(k, v)| {
                64 + k.len()
                    + match v {
                        vigil_event::Value::Str(s) => s.len(),
                        _ => 0,
                    }
            })
            .sum::<usize>()
    };
    std::mem::size_of::<Event>()
        + ev.raw.len()
        + ev.message.as_ref().map_or(0, |m| m.len())
        + ev.tags.iter().map(|t| 24 + t.len()).sum::<usize>()
        + map(&ev.extra)
        + map(&ev.original)
}

/// An aggregation: the query's stages over the events matching its filter.
#[derive(Debug, Clone)]
pub struct AggregateRequest {
    /// The parsed query, e.g. `event.outcome:failure | count by process.name`.
    pub query: Query,
    /// The time range.
    pub range: TimeRange,
    /// Only this storage space of the tenant; `None` aggregates over all of them.
    pub space: Option<String>,
    /// Cancellation, deadline and memory budget (see [`SearchRequest::control`]); groups and
    /// rows held by the aggregation count against the budget.
    pub control: SearchControl,
}

impl AggregateRequest {
    /// Over all time and all spaces, with Vigil's field aliases and types.
    pub fn parse(query: &str) -> Result<AggregateRequest, StoreError> {
        Ok(AggregateRequest {
            query: vigil_query::parse_with(query, &EventSchema)?,
            range: TimeRange::ALL,
            space: None,
            control: SearchControl::default(),
        })
    }

    /// Restricted to one storage space.
    pub fn in_space(mut self, space: impl Into<String>) -> AggregateRequest {
        self.space = Some(space.into());
        self
    }

    /// Under this control (cancellation, deadline, memory budget).
    pub fn with_control(mut self, control: SearchControl) -> AggregateRequest {
        self.control = control;
        self
    }
}

/// What a search or aggregation did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScanStats {
    /// Blocks (sealed or in memory) overlapping the time range.
    pub blocks_total: u64,
    /// Blocks skipped by keyword dictionaries and token filters.
    pub blocks_pruned: u64,
    /// Blocks read (decompressed when sealed).
    pub blocks_read: u64,
    /// Events whose encoded bytes were looked at.
    pub events_scanned: u64,
    /// Events decoded and evaluated.
    pub events_decoded: u64,
    /// Events that matched the filter.
    pub events_matched: u64,
    /// Wall time in microseconds.
    pub elapsed_us: u64,
}

/// Events found by a search.
#[derive(Debug, Clone, Default)]
pub struct SearchResult {
    /// The events, in the requested order.
    pub events: Vec<Event>,
    /// What the scan did.
    pub stats: ScanStats,
}

/// Rows computed by an aggregation.
#[derive(Debug, Clone, Default)]
pub struct AggregateResult {
    /// The result table (exact counts).
    pub table: Table,
    /// What the scan did.
    pub stats: ScanStats,
}

/// A snapshot of a tenant's storage and the store's counters, for `/metrics` and `vigil status`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Events stored (sealed and in memory).
    pub events: u64,
    /// Events in memtables (not yet sealed).
    pub memtable_events: u64,
    /// Gauge: bytes the tenant's memtables hold (events, pruning sets and columns of the
    /// active memtables and of those being sealed).
    pub memtable_bytes: u64,
    /// Gauge: bytes all memtables of the store hold (every tenant).
    pub memtable_bytes_all: u64,
    /// The limit on `memtable_bytes_all` (`memtable_total_bytes`).
    pub memtable_limit_bytes: u64,
    /// Counter: memtables sealed early because they reached a memory limit
    /// (`memtable_max_bytes` or `memtable_total_bytes`).
    pub memtable_full_seals: u64,
    /// Counter: appends that waited for memtables to be sealed (all of them held
    /// `memtable_total_bytes`; store-wide).
    pub appends_waited_memory: u64,
    /// Segment files.
    pub segments: u64,
    /// Bytes of segment and WAL files.
    pub bytes_on_disk: u64,
    /// Bytes of segment files (both tiers).
    pub segment_bytes: u64,
    /// Segment files in the cold tier (included in `segments`).
    pub cold_segments: u64,
    /// Bytes of cold segment files (included in `segment_bytes`).
    pub cold_bytes: u64,
    /// Events in cold segments (included in `events`).
    pub cold_events: u64,
    /// Bytes of WAL files.
    pub wal_bytes: u64,
    /// Bytes of the segments' bloom filters (keyword values and raw-line tokens per row
    /// group), included in `segment_bytes`.
    pub index_bytes: u64,
    /// The last LSN assigned.
    pub last_lsn: Lsn,
    /// The last LSN known to be fsynced.
    pub durable_lsn: Lsn,
    /// The last LSN in a segment.
    pub sealed_lsn: Lsn,
    /// Counter: events appended since open.
    pub events_appended: u64,
    /// Counter: bytes written (WAL frames and segment files) since open.
    pub bytes_written: u64,
    /// Counter: segments sealed since open.
    pub segments_sealed: u64,
    /// Counter: WAL frames replayed at open.
    pub wal_frames_replayed: u64,
    /// Counter: corrupt or torn WAL frames found at open (and truncated).
    pub corrupt_frames: u64,
    /// Counter: segments that failed verification and were quarantined.
    pub corrupt_segments: u64,
    /// Counter: failed seal attempts.
    pub seal_errors: u64,
    /// Gauge: 1 while appends are refused because free disk space is below the reserve.
    pub disk_full: u64,
    /// Gauge: bytes free on the data directory's file system at the last check.
    pub disk_free_bytes: u64,
    /// Gauge: the free-space reserve in bytes.
    pub disk_reserve_bytes: u64,
    /// Counter: appends refused because the disk was full.
    pub appends_refused_disk_full: u64,
    /// Counter: segment files deleted by retention since open.
    pub retention_segments_deleted: u64,
    /// Counter: events deleted by retention (in segments or dropped memtables) since open.
    pub retention_events_deleted: u64,
    /// Counter: files re-encrypted under a new key since open.
    pub files_reencrypted: u64,
}

impl StoreStats {
    /// Adds the figures and counters of `o` (for sums over spaces and tenants). LSNs are
    /// left alone: they are per partition.
    pub fn add(&mut self, o: &StoreStats) {
        self.events += o.events;
        self.memtable_events += o.memtable_events;
        self.memtable_bytes += o.memtable_bytes;
        self.memtable_full_seals += o.memtable_full_seals;
        self.segments += o.segments;
        self.bytes_on_disk += o.bytes_on_disk;
        self.segment_bytes += o.segment_bytes;
        self.cold_segments += o.cold_segments;
        self.cold_bytes += o.cold_bytes;
        self.cold_events += o.cold_events;
        self.wal_bytes += o.wal_bytes;
        self.index_bytes += o.index_bytes;
        self.events_appended += o.events_appended;
        self.bytes_written += o.bytes_written;
        self.segments_sealed += o.segments_sealed;
        self.wal_frames_replayed += o.wal_frames_replayed;
        self.corrupt_frames += o.corrupt_frames;
        self.corrupt_segments += o.corrupt_segments;
        self.seal_errors += o.seal_errors;
        self.retention_segments_deleted += o.retention_segments_deleted;
        self.retention_events_deleted += o.retention_events_deleted;
        self.files_reencrypted += o.files_reencrypted;
    }
}

/// How a storage space's retention is set at run time ([`EventStore::set_space_retention`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetentionSetting {
    /// Back to what the configuration says (the run-time setting is removed).
    Configured,
    /// Keep events forever.
    Forever,
    /// Delete events older than this (by `@timestamp`); more than zero.
    For(Duration),
}

/// A storage space as administrators see it: its effective settings and its usage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpaceInfo {
    /// Space name (`default` for the tenant's default space).
    pub name: String,
    /// Routing condition (none for the default space and spaces no longer configured).
    pub condition: Option<String>,
    /// Retention in force (`None`: kept forever).
    pub retention: Option<Duration>,
    /// Retention the configuration gives the space.
    pub configured_retention: Option<Duration>,
    /// Whether the retention in force was set at run time (it then wins over the
    /// configuration, across restarts, until set back to [`RetentionSetting::Configured`]).
    pub retention_overridden: bool,
    /// Age after which segments move to the cold tier.
    pub hot_age: Option<Duration>,
    /// Events stored (sealed and in memory).
    pub events: u64,
    /// Segment files (both tiers).
    pub segments: u64,
    /// Bytes on disk (segments and WAL).
    pub bytes: u64,
    /// Bytes of cold segments (included in `bytes`).
    pub cold_bytes: u64,
    /// Events in cold segments.
    pub cold_events: u64,
    /// Oldest `@timestamp` in a sealed segment.
    pub oldest: Option<Timestamp>,
    /// Newest `@timestamp` in a sealed segment.
    pub newest: Option<Timestamp>,
}

/// A backend that stores and finds events. Object-safe; every call names its tenant.
pub trait EventStore: Send + Sync + std::fmt::Debug {
    /// Appends a batch (all events must belong to `tenant`); returns the LSN of the last event.
    /// The events are searchable when this returns, and durable once
    /// [`wait_durable`](Self::wait_durable) says so. Blocks when sealing falls behind.
    fn append(&self, tenant: &TenantId, events: &[Event]) -> Result<Lsn, StoreError>;

    /// Waits until every event up to `lsn` is on stable storage.
    fn wait_durable(
        &self,
        tenant: &TenantId,
        lsn: Lsn,
        timeout: Duration,
    ) -> Result<(), StoreError>;

    /// Finds events.
    fn search(&self, tenant: &TenantId, req: &SearchRequest) -> Result<SearchResult, StoreError>;

    /// Runs a query's stages (`stats`, `count by`, `top`, ...) with exact results.
    fn aggregate(
        &self,
        tenant: &TenantId,
        req: &AggregateRequest,
    ) -> Result<AggregateResult, StoreError>;

    /// Storage figures and counters for the tenant.
    fn stats(&self, tenant: &TenantId) -> Result<StoreStats, StoreError>;

    /// The tenants that have events, sorted (for per-tenant metrics).
    fn tenants(&self) -> Result<Vec<TenantId>, StoreError>;

    /// Seals what is in memory and makes everything appended so far durable.
    fn flush(&self, tenant: &TenantId) -> Result<(), StoreError>;

    /// Flushes every tenant and stops background work; later calls fail with
    /// [`StoreError::Closed`].
    fn close(&self) -> Result<(), StoreError>;

    /// The storage spaces of a tenant (default first) with their settings and usage. Stores
    /// without spaces answer [`StoreError::Unsupported`].
    fn storage_spaces(&self, tenant: &TenantId) -> Result<Vec<SpaceInfo>, StoreError> {
        let _ = tenant;
        Err(StoreError::Unsupported(
            "storage spaces belong to the embedded store".into(),
        ))
    }

    /// Sets a space's retention at run time (in force for searches at once and for the next
    /// retention pass; kept across restarts), recording `actor` in the store's audit log.
    fn set_space_retention(
        &self,
        tenant: &TenantId,
        space: &str,
        setting: RetentionSetting,
        actor: &str,
    ) -> Result<SpaceInfo, StoreError> {
        let _ = (tenant, space, setting, actor);
        Err(StoreError::Unsupported(
            "storage spaces belong to the embedded store".into(),
        ))
    }
}

/// Vigil's event schema for the query parser (KUMA and short aliases, field types), defined
/// with the event model.
pub use vigil_event::query::EventSchema;

#[cfg(test)]
mod time_range_tests {
    use super::*;

    /// Issue 11: an event dated `9999-12-31` is stored at `Timestamp::MAX`; the default range
    /// must still find it.
    #[test]
    fn the_unbounded_range_holds_the_last_instant() {
        assert!(TimeRange::ALL.contains(i64::MAX));
        assert!(TimeRange::ALL.contains(i64::MIN));
        assert!(TimeRange::ALL.overlaps(i64::MAX, i64::MAX));
        let from_now = TimeRange::new(Timestamp(1_000), Timestamp::MAX);
        assert!(from_now.contains(i64::MAX));
        assert!(!from_now.contains(999));
        let bounded = TimeRange::new(Timestamp(0), Timestamp(10));
        assert!(bounded.contains(9));
        assert!(!bounded.contains(10));
        assert!(!bounded.overlaps(10, 20));
        assert!(bounded.overlaps(9, 20));
    }
}
