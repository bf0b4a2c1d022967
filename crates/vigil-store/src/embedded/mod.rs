//! The embedded store: WAL + memtable + sealed Parquet segments in a hot and a cold tier, one
//! directory per tenant and storage space (partition).
//!
//! See the crate documentation for the design and the file formats (event record, WAL frame,
//! segment files); the private `codec`, `wal` and `segment` modules implement them, `tier`
//! merges and moves segments, `retention` deletes them by age, `crypto`/`rekey` encrypt them.
//!
//! Threads: the caller's thread encodes and writes the WAL frame; one *flusher* thread
//! fsyncs WALs every `fsync_interval` and freezes memtables older than `segment_max_age`; one
//! *sealer* thread writes segments; one *maintenance* thread polls free space, reloads keys
//! and re-encrypts, runs retention every `retention_interval` and a merge and tiering pass
//! every `tiers.interval`, and stores audit events. Searches run on the caller's thread plus
//! `scan_threads - 1` scoped helpers.
//!
//! Memory: every memtable (active or being sealed) charges its bytes to `Inner::mem_total`;
//! `append` seals a partition's memtable at `memtable_max_bytes`, and before writing makes
//! room under `memtable_total_bytes` (`Inner::make_room`: seals the largest memtable early, or
//! waits for the sealer, holding no lock).
//!
//! Lock order (never taken the other way round): `Tenant::write` → `Tenant::sync` and
//! `Tenant::write` → `Tenant::view` → `Tenant::wal_closed`. `Tenant::maint` (one file
//! rewrite or deletion at a time per partition: merge, tier move, retention, re-encryption)
//! is taken before `Tenant::view` and `Tenant::manifest`.

mod codec;
mod columns;
pub mod crypto;
mod disk;
mod index;
mod integrity;
mod memtable;
mod rekey;
mod retention;
mod scan;
mod segment;
mod shred;
pub mod spaces;
mod tier;
mod wal;

use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex, RwLock};
use tracing::{debug, error, info, warn};
use vigil_event::Event;

pub use self::crypto::{
    KeyId, KeySource, Keyring, SealedReader, SealedWriter, create_sealed_file, open_sealed_file,
};
use self::index::Extractor;
pub use self::integrity::{
    Finding, FindingKind, MANIFEST_FILE, PUBLIC_KEY_FILE, SIGNING_KEY_FILE, VerifyReport, verify,
    verify_with_key,
};
use self::memtable::{Features, MemBlock, MemCharge, Memtable};
pub use self::rekey::RekeyReport;
pub use self::retention::{Clock, ManualClock, RetentionReport, SystemClock};
use self::segment::{Segment, Tier, WriteOptions};
use self::spaces::TenantSet;
pub use self::spaces::{SpaceConfig, SpaceSettings, SpacesConfig, TenantSpaces};
pub use self::tier::{MaintenanceReport, TierOptions};
use crate::audit::{AuditLog, AuditRecord};
use crate::{
    AggregateRequest, AggregateResult, EventStore, Lsn, SearchRequest, SearchResult, StoreError,
    StoreStats, TenantId,
};

/// Configuration of the embedded store.
#[derive(Debug, Clone)]
pub struct EmbeddedConfig {
    /// The data directory; events live under `<data_dir>/events/<tenant>/`.
    pub data_dir: PathBuf,
    /// Longest time between a write and its fsync (group commit). At most 1 s. Default 200 ms.
    pub fsync_interval: Duration,
    /// Events per segment: the memtable is sealed when it holds this many. Default 262,144.
    pub segment_max_events: usize,
    /// The memtable is sealed when its oldest event is this old. Default 30 s.
    pub segment_max_age: Duration,
    /// Events per memtable block (the pruning unit in memory). Default 4,096.
    pub block_events: usize,
    /// Rows per row group of hot segments (the pruning unit on disk). Default 16,384.
    pub row_group_rows: usize,
    /// zstd level of hot segments. Default 3.
    pub zstd_level: i32,
    /// Check each listed segment's SHA-256 against the manifest when the store opens (reads
    /// every segment once). Default true.
    pub verify_on_open: bool,
    /// Merging and the cold tier (the age at which segments move there is each space's
    /// `hot_age`, in `spaces`).
    pub tiers: TierOptions,
    /// Frozen memtables waiting to be sealed before `append` blocks (backpressure). Default 2.
    pub max_pending_seals: usize,
    /// Bytes a partition's memtable may hold (events, pruning sets, columns): it is sealed
    /// early when it reaches them. Default 64 MiB.
    pub memtable_max_bytes: usize,
    /// Bytes all memtables together (every partition, those being sealed included) may hold:
    /// above it the largest memtable is sealed early, and appends wait while the memtables
    /// being sealed hold that much. Default 160 MiB.
    pub memtable_total_bytes: usize,
    /// Threads per search (the caller's included). Default 2.
    pub scan_threads: usize,
    /// Storage spaces, retention and hot ages per tenant. Default: one space per tenant,
    /// kept forever.
    pub spaces: SpacesConfig,
    /// How often the retention pass runs. Default 1 min.
    pub retention_interval: Duration,
    /// The time retention reads. Default the system clock.
    pub clock: Arc<dyn Clock>,
    /// Appends are refused while the data directory's file system has less free space than
    /// this... Default 256 MiB.
    pub min_free_bytes: u64,
    /// ... or than this percentage of its size, whichever is larger. Default 1.
    pub min_free_percent: f64,
    /// Longest time between two free-space measurements on the append path. Default 250 ms.
    pub disk_check_interval: Duration,
    /// Encryption at rest: where the keyring is read from (re-read every
    /// `key_reload_interval`, so a rotated key file takes effect without a restart). `None`:
    /// files are written in plain (encrypted files still need their keys: see `crypto`).
    pub keys: Option<KeySource>,
    /// How often the key source is re-read. Default 10 s.
    pub key_reload_interval: Duration,
}

impl EmbeddedConfig {
    /// Defaults for a data directory.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        EmbeddedConfig {
            data_dir: data_dir.into(),
            fsync_interval: Duration::from_millis(200),
            segment_max_events: 262_144,
            segment_max_age: Duration::from_secs(30),
            block_events: 4096,
            row_group_rows: 16_384,
            zstd_level: 3,
            verify_on_open: true,
            tiers: TierOptions::default(),
            max_pending_seals: 2,
            memtable_max_bytes: 64 << 20,
            memtable_total_bytes: 160 << 20,
            scan_threads: 2,
            spaces: SpacesConfig::default(),
            retention_interval: Duration::from_secs(60),
            clock: Arc::new(SystemClock),
            min_free_bytes: 256 << 20,
            min_free_percent: 1.0,
            disk_check_interval: Duration::from_millis(250),
            keys: None,
            key_reload_interval: Duration::from_secs(10),
        }
    }

    fn validate(&self) -> Result<(), StoreError> {
        let bad = |m: &str| Err(StoreError::Invalid(m.to_owned()));
        if self.fsync_interval.is_zero() || self.fsync_interval > Duration::from_secs(1) {
            return bad("fsync_interval must be between 1 ms and 1 s");
        }
        if self.segment_max_events == 0 || self.block_events == 0 || self.block_events > 1 << 20 {
            return bad(
                "segment_max_events and block_events must be positive (block_events ≤ 1,048,576)",
            );
        }
        if self.row_group_rows == 0 || self.row_group_rows > 1 << 22 {
            return bad("row_group_rows must be 1 to 4,194,304");
        }
        if !(1..=19).contains(&self.zstd_level) {
            return bad("zstd_level must be 1 to 19");
        }
        self.tiers.validate()?;
        if self.max_pending_seals == 0 || self.scan_threads == 0 {
            return bad("max_pending_seals and scan_threads must be positive");
        }
        if self.memtable_max_bytes == 0 || self.memtable_total_bytes == 0 {
            return bad("memtable_max_bytes and memtable_total_bytes must be positive");
        }
        if self.retention_interval.is_zero() {
            return bad("retention_interval must be positive");
        }
        if !(0.0..=90.0).contains(&self.min_free_percent) {
            return bad("min_free_percent must be between 0 and 90");
        }
        let problems = self.spaces.problems();
        if !problems.is_empty() {
            return Err(StoreError::Invalid(format!(
                "storage spaces: {}",
                problems.join("; ")
            )));
        }
        Ok(())
    }
}

/// Fault injection for crash and error tests. Not part of the supported API.
#[doc(hidden)]
#[derive(Debug, Default)]
pub struct Faults {
    /// The next WAL writes fail (as if the disk were full).
    pub fail_wal_write: AtomicBool,
    /// Segment writes fail midway.
    pub fail_segment_write: AtomicBool,
    /// After a segment is renamed into place, "crash": keep the WAL files.
    pub keep_wal_after_seal: AtomicBool,
}

/// Per-tenant counters.
#[derive(Debug, Default)]
struct Counters {
    events_appended: AtomicU64,
    bytes_written: AtomicU64,
    segments_sealed: AtomicU64,
    wal_frames_replayed: AtomicU64,
    corrupt_frames: AtomicU64,
    corrupt_segments: AtomicU64,
    seal_errors: AtomicU64,
    retention_segments: AtomicU64,
    retention_events: AtomicU64,
    retention_memtables: AtomicU64,
    files_reencrypted: AtomicU64,
    /// Memtables sealed early because they reached a memory limit.
    memtable_full_seals: AtomicU64,
}

/// A frozen memtable: being sealed, still searched.
#[derive(Debug)]
pub(crate) struct Frozen {
    pub blocks: Vec<Arc<MemBlock>>,
    pub first_lsn: u64,
    pub last_lsn: u64,
    pub events: usize,
    /// Its bytes, charged to the store's memtable total until it is dropped.
    pub mem: MemCharge,
}

/// What searches see.
#[derive(Debug)]
pub(crate) struct View {
    pub active: Memtable,
    pub frozen: Vec<Arc<Frozen>>,
    pub segments: Vec<Arc<Segment>>,
    pub sealed_lsn: u64,
}

#[derive(Debug)]
struct WalFile {
    file: Arc<File>,
    path: PathBuf,
    len: u64,
    last_lsn: u64,
}

#[derive(Debug)]
struct WriteState {
    wal: Option<WalFile>,
    next_seq: u64,
    next_lsn: u64,
    failed: Option<String>,
}

#[derive(Debug, Default)]
struct SyncState {
    written: u64,
    current: Option<Arc<File>>,
    pending: Vec<Arc<File>>,
    dir_dirty: bool,
}

#[derive(Debug)]
struct ClosedWal {
    path: PathBuf,
    last_lsn: u64,
}

#[derive(Debug)]
pub(crate) struct Tenant {
    name: TenantId,
    /// The storage space this partition holds, with its retention and hot age.
    pub(crate) space: SpaceSettings,
    wal_dir: PathBuf,
    seg_dir: PathBuf,
    /// The cold tier's segments (read and aged out like the hot ones).
    cold_dir: PathBuf,
    quarantine_dir: PathBuf,
    /// One merge or tiering pass at a time.
    maint: Mutex<()>,
    /// The tamper-evidence manifest (a leaf lock).
    manifest: Mutex<integrity::Manifest>,
    write: Mutex<WriteState>,
    sync: Mutex<SyncState>,
    sync_serial: Mutex<()>,
    pub(crate) view: RwLock<View>,
    wal_closed: Mutex<Vec<ClosedWal>>,
    durable: Mutex<u64>,
    durable_cv: Condvar,
    seal_done: Mutex<()>,
    seal_cv: Condvar,
    seal_error: Mutex<Option<String>>,
    counters: Counters,
}

struct SealJob {
    tenant: Arc<Tenant>,
    frozen: Arc<Frozen>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    cfg: EmbeddedConfig,
    root: PathBuf,
    tenants: RwLock<HashMap<TenantId, Arc<TenantSet>>>,
    create_lock: Mutex<()>,
    seal_tx: Mutex<Option<mpsc::Sender<SealJob>>>,
    stop: AtomicBool,
    closed: AtomicBool,
    tick: (Mutex<()>, Condvar),
    faults: Faults,
    /// Signs manifest entries (`<data_dir>/keys/manifest-signing.pk8`).
    signer: integrity::Signer,
    /// `<data_dir>/audit/audit.log`.
    audit: AuditLog,
    /// Audit events waiting to be stored in their tenant (stored by the maintenance thread,
    /// never by the sealer, which an append may be waiting for).
    audit_queue: Mutex<Vec<(TenantId, Event)>>,
    /// Free-space reserve.
    disk: disk::DiskGuard,
    /// The encryption keys (reloadable; empty when encryption is off).
    keyring: RwLock<Arc<Keyring>>,
    /// Re-encryption state (maintenance thread).
    rekey: Mutex<rekey::RekeyState>,
    /// Bytes held by all memtables (active and frozen, every partition).
    mem_total: Arc<AtomicU64>,
    /// Appends that waited for memtables to be sealed (`memtable_total_bytes`).
    mem_waits: AtomicU64,
    /// Notified after each seal job (its memtable's bytes released).
    sealed_tick: (Mutex<()>, Condvar),
    /// Held for the store's lifetime (advisory exclusive lock on `events/LOCK`).
    _lock: File,
}

impl std::fmt::Debug for SealJob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealJob")
            .field("tenant", &self.tenant.name)
            .field("last_lsn", &self.frozen.last_lsn)
            .finish()
    }
}

/// The embedded store. Cheap to share behind an `Arc`; dropping it stops the background
/// threads without sealing (like a crash after the last write: the WAL has everything).
#[derive(Debug)]
pub struct EmbeddedStore {
    inner: Arc<Inner>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl EmbeddedStore {
    /// Opens (or creates) a store: recovers every tenant found under `<data_dir>/events/`.
    pub fn open(cfg: EmbeddedConfig) -> Result<EmbeddedStore, StoreError> {
        cfg.validate()?;
        let root = cfg.data_dir.join("events");
        vigil_fs::create_dir_all(&root)
            .map_err(|e| StoreError::io("create directory", &root, e))?;
        // One process per data directory: a second `vigil up` on the same directory would
        // interleave WAL files and LSNs.
        let lock_path = root.join("LOCK");
        let lock = vigil_fs::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| StoreError::io("open lock file", &lock_path, e))?;
        if let Err(e) = lock.try_lock() {
            return Err(StoreError::Invalid(format!(
                "data directory {} is in use by another store ({e})",
                cfg.data_dir.display()
            )));
        }
        let signer = integrity::Signer::load_or_create(&cfg.data_dir)?;
        let audit = AuditLog::open(&cfg.data_dir)?;
        let keyring = match &cfg.keys {
            Some(src) => Keyring::load(src)?,
            None => Keyring::empty(),
        };
        if let Some(cur) = keyring.current() {
            info!(key = cur, fingerprint = %keyring.fingerprint_hex(cur).unwrap_or_default(),
                  keys = ?keyring.ids(), "encryption at rest is on");
        }
        let disk = disk::DiskGuard::new(
            &cfg.data_dir,
            cfg.min_free_bytes,
            cfg.min_free_percent,
            cfg.disk_check_interval,
        );
        let (tx, rx) = mpsc::channel::<SealJob>();
        let inner = Arc::new(Inner {
            cfg,
            root: root.clone(),
            tenants: RwLock::new(HashMap::new()),
            create_lock: Mutex::new(()),
            seal_tx: Mutex::new(Some(tx)),
            stop: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            tick: (Mutex::new(()), Condvar::new()),
            faults: Faults::default(),
            signer,
            audit,
            audit_queue: Mutex::new(Vec::new()),
            disk,
            keyring: RwLock::new(Arc::new(keyring)),
            rekey: Mutex::new(rekey::RekeyState::default()),
            mem_total: Arc::new(AtomicU64::new(0)),
            mem_waits: AtomicU64::new(0),
            sealed_tick: (Mutex::new(()), Condvar::new()),
            _lock: lock,
        });
        let mut threads = Vec::new();
        let i2 = inner.clone();
        threads.push(
            std::thread::Builder::new()
                .name("vigil-store-seal".into())
                .spawn(move || sealer(&i2, &rx))
                .map_err(|e| StoreError::io("spawn sealer thread", &root, e))?,
        );
        let i3 = inner.clone();
        threads.push(
            std::thread::Builder::new()
                .name("vigil-store-fsync".into())
                .spawn(move || flusher(&i3))
                .map_err(|e| StoreError::io("spawn fsync thread", &root, e))?,
        );
        let i4 = inner.clone();
        threads.push(
            std::thread::Builder::new()
                .name("vigil-store-maint".into())
                .spawn(move || maintenance(&i4))
                .map_err(|e| StoreError::io("spawn maintenance thread", &root, e))?,
        );
        let store = EmbeddedStore {
            inner,
            threads: Mutex::new(threads),
        };
        let rd = std::fs::read_dir(&root).map_err(|e| StoreError::io("list tenants", &root, e))?;
        for entry in rd {
            let entry = entry.map_err(|e| StoreError::io("list tenants", &root, e))?;
            if !entry.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            match TenantId::new(name) {
                Ok(t) => {
                    store.inner.tenant(&t, true)?;
                }
                Err(e) => {
                    warn!(dir = %entry.path().display(), error = %e, "skipping directory that is not a tenant")
                }
            }
        }
        Ok(store)
    }

    /// Runs one merge and tiering pass over every space of every tenant now, with `now` as
    /// the clock for each space's `hot_age` (the maintenance thread passes the configured
    /// clock every `tiers.interval`).
    pub fn maintain(&self, now: vigil_event::Timestamp) -> Result<MaintenanceReport, StoreError> {
        self.check_open()?;
        tier::run(&self.inner, now)
    }

    /// Fault injection for tests.
    #[doc(hidden)]
    pub fn faults(&self) -> &Faults {
        &self.inner.faults
    }

    /// The tenants with data.
    pub fn tenants(&self) -> Vec<TenantId> {
        let mut v: Vec<_> = self.inner.tenants.read().keys().cloned().collect();
        v.sort();
        v
    }

    /// Counters summed over every tenant (for Prometheus).
    pub fn total_stats(&self) -> StoreStats {
        let tenants: Vec<_> = self.inner.tenants.read().values().cloned().collect();
        let mut s = StoreStats::default();
        for t in tenants {
            s.add(&t.stats());
        }
        self.inner.disk_stats(&mut s);
        s
    }

    /// One retention pass at `now` over every space of every tenant (the maintenance thread
    /// runs one every `retention_interval` with the configured clock): deletes segments whose
    /// newest event is past its space's retention, drops memtables entirely past it, audits
    /// each deletion (audit log and an event in the tenant) and records it in the manifest.
    pub fn run_retention(
        &self,
        now: vigil_event::Timestamp,
    ) -> Result<RetentionReport, StoreError> {
        self.check_open()?;
        retention::run(&self.inner, now)
    }

    /// The effective storage spaces of a tenant (default first).
    pub fn spaces(&self, tenant: &TenantId) -> Vec<SpaceSettings> {
        match self.inner.tenant_opt(tenant) {
            Some(t) => t.parts.iter().map(|p| p.space.clone()).collect(),
            None => self.inner.cfg.spaces.settings(tenant.as_str()),
        }
    }

    /// Re-reads the key source and re-encrypts, now, every sealed file not under the current
    /// key (the maintenance thread does the same a few files per second). When the report's
    /// `remaining` is 0, keys other than the current one are no longer used by sealed files.
    pub fn rekey_now(&self) -> Result<RekeyReport, StoreError> {
        self.check_open()?;
        rekey::run_to_completion(&self.inner)
    }

    /// Sealed files per encryption key (`None`: plain), over every tenant and space.
    pub fn keys_in_use(&self) -> std::collections::BTreeMap<Option<KeyId>, u64> {
        rekey::keys_in_use(&self.inner)
    }

    /// The audit log (`<data_dir>/audit/audit.log`).
    pub fn audit_log_path(&self) -> &Path {
        self.inner.audit.path()
    }

    /// The sealed segment files of one space of a tenant (both tiers), for maintenance jobs
    /// (tiering, merging) that work on files: path, LSN range, time range, events.
    pub fn sealed_files(&self, tenant: &TenantId, space: &str) -> Vec<SealedFile> {
        let Some(t) = self.inner.tenant_opt(tenant) else {
            return Vec::new();
        };
        t.parts
            .iter()
            .filter(|p| p.space.name == space)
            .flat_map(|p| {
                p.view
                    .read()
                    .segments
                    .iter()
                    .map(|s| SealedFile {
                        path: s.path.clone(),
                        first_lsn: s.first_lsn,
                        last_lsn: s.last_lsn,
                        min_ts: s.min_ts,
                        max_ts: s.max_ts,
                        events: s.events,
                        bytes: s.file_len,
                    })
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// Bytes on disk per column of the live sealed segments, per tier, over every tenant and
    /// space (from the Parquet footers; `vigil storage stats` and the `store_scale` bench print
    /// it).
    pub fn column_stats(&self) -> ColumnStats {
        let mut out = ColumnStats::default();
        for p in self.inner.partitions() {
            for s in &p.view.read().segments {
                match s.tier {
                    Tier::Hot => out.hot.add(s),
                    Tier::Cold => out.cold.add(s),
                }
            }
        }
        out.hot
            .columns
            .sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        out.cold
            .columns
            .sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        out
    }

    fn check_open(&self) -> Result<(), StoreError> {
        if self.inner.closed.load(Ordering::Acquire) {
            Err(StoreError::Closed)
        } else {
            Ok(())
        }
    }

    fn stop_threads(&self) {
        self.inner.stop.store(true, Ordering::Release);
        self.inner.seal_tx.lock().take();
        {
            let _g = self.inner.tick.0.lock();
            self.inner.tick.1.notify_all();
        }
        let threads = std::mem::take(&mut *self.threads.lock());
        for t in threads {
            let _ = t.join();
        }
    }
}

/// The sealed segments of one tier: files, events, bytes, and bytes per column.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TierColumns {
    /// Segment files.
    pub segments: u64,
    /// Events in them.
    pub events: u64,
    /// Their size on disk.
    pub file_bytes: u64,
    /// Compressed bytes per column (its column chunks with page headers and dictionary
    /// pages), largest first.
    pub columns: Vec<(String, u64)>,
}

impl TierColumns {
    fn add(&mut self, s: &Segment) {
        self.segments += 1;
        self.events += s.events;
        self.file_bytes += s.file_len;
        for (name, bytes) in s.column_bytes() {
            match self.columns.iter_mut().find(|(n, _)| *n == name) {
                Some(e) => e.1 += bytes,
                None => self.columns.push((name, bytes)),
            }
        }
    }

    /// Bytes outside the column chunks: Parquet footers and page indexes, and the encryption
    /// container's header and tags.
    pub fn other_bytes(&self) -> u64 {
        let cols: u64 = self.columns.iter().map(|c| c.1).sum();
        self.file_bytes.saturating_sub(cols)
    }

    /// `name bytes/event` for every column, then `(footer)` for [`Self::other_bytes`], as one
    /// line (`-` without events).
    pub fn per_event_line(&self) -> String {
        if self.events == 0 {
            return "-".into();
        }
        let n = self.events as f64;
        let mut parts: Vec<String> = self
            .columns
            .iter()
            .map(|(c, b)| format!("{c} {:.2}", *b as f64 / n))
            .collect();
        parts.push(format!("(footer) {:.2}", self.other_bytes() as f64 / n));
        parts.join(", ")
    }
}

/// Bytes per column of the hot and the cold tier ([`EmbeddedStore::column_stats`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ColumnStats {
    /// `segments/`.
    pub hot: TierColumns,
    /// `cold/`.
    pub cold: TierColumns,
}

/// A sealed segment file of a partition, as retention (and tiering) see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedFile {
    /// Where it is (hot `segments/` or cold `cold/`).
    pub path: PathBuf,
    /// First LSN.
    pub first_lsn: u64,
    /// Last LSN.
    pub last_lsn: u64,
    /// Oldest `@timestamp`.
    pub min_ts: i64,
    /// Newest `@timestamp`.
    pub max_ts: i64,
    /// Events.
    pub events: u64,
    /// File size.
    pub bytes: u64,
}

impl Drop for EmbeddedStore {
    fn drop(&mut self) {
        self.stop_threads();
    }
}

impl EventStore for EmbeddedStore {
    fn append(&self, tenant: &TenantId, events: &[Event]) -> Result<Lsn, StoreError> {
        self.check_open()?;
        for (index, ev) in events.iter().enumerate() {
            if ev.meta.tenant != tenant.as_str() {
                return Err(StoreError::TenantMismatch {
                    expected: tenant.to_string(),
                    found: ev.meta.tenant.to_string(),
                    index,
                });
            }
        }
        let t = self.inner.tenant(tenant, true)?;
        if events.is_empty() {
            return Ok(t.last_lsn());
        }
        let (ok, transition) = self.inner.disk.check();
        if let Some(tr) = transition {
            self.inner.disk_transition(tr);
        }
        ok?;
        t.append(&self.inner, events)
    }

    fn wait_durable(
        &self,
        tenant: &TenantId,
        lsn: Lsn,
        timeout: Duration,
    ) -> Result<(), StoreError> {
        let Some(t) = self.inner.tenant_opt(tenant) else {
            return if lsn == 0 {
                Ok(())
            } else {
                Err(StoreError::Invalid(format!("LSN {lsn} was never assigned")))
            };
        };
        t.wait_durable(lsn, timeout)
    }

    fn search(&self, tenant: &TenantId, req: &SearchRequest) -> Result<SearchResult, StoreError> {
        self.check_open()?;
        match self.inner.tenant_opt(tenant) {
            Some(t) => {
                let parts = self.inner.scan_parts(&t, req.space.as_deref())?;
                scan::search(&parts, &self.inner.cfg, req)
                    .inspect_err(|e| self.inner.quarantine_tampered(&parts, e))
            }
            None => {
                self.inner.check_space(tenant, req.space.as_deref())?;
                scan::search_empty(req)
            }
        }
    }

    fn aggregate(
        &self,
        tenant: &TenantId,
        req: &AggregateRequest,
    ) -> Result<AggregateResult, StoreError> {
        self.check_open()?;
        match self.inner.tenant_opt(tenant) {
            Some(t) => {
                let parts = self.inner.scan_parts(&t, req.space.as_deref())?;
                scan::aggregate(&parts, &self.inner.cfg, req)
                    .inspect_err(|e| self.inner.quarantine_tampered(&parts, e))
            }
            None => {
                self.inner.check_space(tenant, req.space.as_deref())?;
                scan::aggregate_empty(req)
            }
        }
    }

    fn stats(&self, tenant: &TenantId) -> Result<StoreStats, StoreError> {
        let mut s = self
            .inner
            .tenant_opt(tenant)
            .map(|t| t.stats())
            .unwrap_or_default();
        self.inner.disk_stats(&mut s);
        Ok(s)
    }

    fn tenants(&self) -> Result<Vec<TenantId>, StoreError> {
        Ok(EmbeddedStore::tenants(self))
    }

    fn flush(&self, tenant: &TenantId) -> Result<(), StoreError> {
        self.check_open()?;
        match self.inner.tenant_opt(tenant) {
            Some(t) => t.flush(&self.inner),
            None => Ok(()),
        }
    }

    fn close(&self) -> Result<(), StoreError> {
        if self.inner.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        let tenants: Vec<_> = self.inner.tenants.read().values().cloned().collect();
        let mut first_err = None;
        for t in tenants {
            if let Err(e) = t.flush(&self.inner) {
                error!(tenant = %t.name, error = %e, "flush on close failed");
                first_err.get_or_insert(e);
            }
        }
        self.inner.drain_audit();
        self.stop_threads();
        first_err.map_or(Ok(()), Err)
    }
}

impl Inner {
    fn tenant_opt(&self, name: &TenantId) -> Option<Arc<TenantSet>> {
        self.tenants.read().get(name).cloned()
    }

    fn tenant(&self, name: &TenantId, create: bool) -> Result<Arc<TenantSet>, StoreError> {
        if let Some(t) = self.tenant_opt(name) {
            return Ok(t);
        }
        if !create {
            return Err(StoreError::Invalid(format!("unknown tenant '{name}'")));
        }
        let _g = self.create_lock.lock();
        if let Some(t) = self.tenant_opt(name) {
            return Ok(t);
        }
        let t = Arc::new(TenantSet::open(self, name)?);
        self.tenants.write().insert(name.clone(), t.clone());
        Ok(t)
    }

    /// Every partition (space) of every tenant.
    pub(crate) fn partitions(&self) -> Vec<Arc<Tenant>> {
        self.tenants
            .read()
            .values()
            .flat_map(|t| t.parts.iter().cloned())
            .collect()
    }

    /// The partitions a search reads, each with the oldest `@timestamp` it may return.
    fn scan_parts(
        &self,
        t: &TenantSet,
        space: Option<&str>,
    ) -> Result<Vec<(Arc<Tenant>, i64)>, StoreError> {
        let now = self.cfg.clock.now();
        Ok(t.parts_for(space)?
            .into_iter()
            .map(|p| {
                let floor = p.retention_floor(now);
                (p, floor)
            })
            .collect())
    }

    /// For a tenant without data: the space must still be one it has.
    fn check_space(&self, tenant: &TenantId, space: Option<&str>) -> Result<(), StoreError> {
        let Some(want) = space else { return Ok(()) };
        let all = self.cfg.spaces.settings(tenant.as_str());
        if all.iter().any(|s| s.name == want) {
            Ok(())
        } else {
            Err(StoreError::Invalid(format!(
                "tenant '{tenant}' has no storage space '{want}' (it has: {})",
                all.iter()
                    .map(|s| s.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )))
        }
    }

    /// Records an audit entry: in the audit log now, and (for a tenant) as an event stored by
    /// the maintenance thread.
    pub(crate) fn audit(&self, tenant: Option<&TenantId>, r: AuditRecord) {
        if let Err(e) = self.audit.append(&r) {
            error!(error = %e, action = %r.action, "could not write the audit log");
        }
        if let Some(t) = tenant {
            let ev = r.to_event(t.as_str(), self.cfg.clock.now());
            self.audit_queue.lock().push((t.clone(), ev));
        }
    }

    /// Stores queued audit events in their tenants.
    pub(crate) fn drain_audit(&self) {
        let queued = std::mem::take(&mut *self.audit_queue.lock());
        for (t, ev) in queued {
            let res = self
                .tenant(&t, true)
                .and_then(|set| set.append(self, std::slice::from_ref(&ev)));
            if let Err(e) = res {
                warn!(tenant = %t, error = %e, "could not store an audit event (it is in the audit log)");
            }
        }
    }

    fn disk_transition(&self, t: disk::Transition) {
        use crate::audit::{ACTION_DISK_FULL, ACTION_DISK_RESUMED, ACTOR_DISK_GUARD};
        let (action, st) = match t {
            disk::Transition::BecameFull(st) => (ACTION_DISK_FULL, st),
            disk::Transition::Resumed(st) => (ACTION_DISK_RESUMED, st),
        };
        let mut r = AuditRecord::new(self.cfg.clock.now(), ACTOR_DISK_GUARD, action);
        r.file = Some(self.cfg.data_dir.display().to_string());
        r.detail = Some(format!(
            "{} bytes free of {}, reserve {} bytes",
            st.free, st.total, st.reserve
        ));
        if let Err(e) = self.audit.append(&r) {
            // Expected when the disk is really full: the tracing error above is the alert.
            warn!(error = %e, "could not write the disk-full audit record");
        }
    }

    /// The current keyring.
    pub(crate) fn keys(&self) -> Arc<Keyring> {
        self.keyring.read().clone()
    }

    /// After a read failed authentication: moves the segment out of the view into its
    /// partition's quarantine, audited. Later searches read the rest.
    fn quarantine_tampered(&self, parts: &[(Arc<Tenant>, i64)], e: &StoreError) {
        let Some(path) = crypto::is_tampered(e) else {
            return;
        };
        for (p, _) in parts {
            if let Err(err) = p.quarantine_live(self, path, e) {
                error!(path = %path.display(), error = %err, "could not quarantine a tampered segment");
            }
        }
    }

    fn disk_stats(&self, s: &mut StoreStats) {
        let st = self.disk.state();
        s.disk_full = u64::from(self.disk.is_full());
        s.disk_free_bytes = st.free;
        s.disk_reserve_bytes = st.reserve;
        s.appends_refused_disk_full = self.disk.refused.load(Ordering::Relaxed);
        s.memtable_bytes_all = self.mem_total.load(Ordering::Relaxed);
        s.memtable_limit_bytes = self.cfg.memtable_total_bytes as u64;
        s.appends_waited_memory = self.mem_waits.load(Ordering::Relaxed);
    }

    /// Keeps all memtables under `memtable_total_bytes`: while they hold more, seals the
    /// largest active one early when the active ones hold half of it or more, else (the
    /// memtables being sealed hold the rest) waits for the sealer. Fails when sealing fails
    /// or the store closes meanwhile.
    fn make_room(&self) -> Result<(), StoreError> {
        let limit = self.cfg.memtable_total_bytes as u64;
        let mut waited = false;
        while self.mem_total.load(Ordering::Relaxed) >= limit {
            if self.stop.load(Ordering::Acquire) {
                return Err(StoreError::Closed);
            }
            let parts = self.partitions();
            let mut active = 0;
            let mut largest: Option<(u64, &Arc<Tenant>)> = None;
            for p in &parts {
                let b = p.view.read().active.charged();
                active += b;
                if b > 0 && largest.is_none_or(|(l, _)| b > l) {
                    largest = Some((b, p));
                }
            }
            if let Some((bytes, p)) = largest
                && active.saturating_mul(2) >= limit
            {
                p.counters
                    .memtable_full_seals
                    .fetch_add(1, Ordering::Relaxed);
                debug!(tenant = %p.name, bytes, total = self.mem_total.load(Ordering::Relaxed),
                       "memtables over their total limit; sealing the largest early");
                p.freeze(self);
                continue;
            }
            if let Some(p) = parts.iter().find(|p| p.seal_error.lock().is_some()) {
                let e = p.seal_error.lock().clone().unwrap_or_default();
                return Err(
                    p.failed_err(&format!("memtables are full and sealing is failing: {e}"))
                );
            }
            if !waited {
                waited = true;
                self.mem_waits.fetch_add(1, Ordering::Relaxed);
            }
            let mut g = self.sealed_tick.0.lock();
            self.sealed_tick
                .1
                .wait_for(&mut g, Duration::from_millis(50));
        }
        Ok(())
    }

    fn send_seal(&self, tenant: &Arc<Tenant>, frozen: Arc<Frozen>) {
        if let Some(tx) = self.seal_tx.lock().as_ref() {
            let _ = tx.send(SealJob {
                tenant: tenant.clone(),
                frozen,
            });
        }
    }
}

fn mkdir(p: &Path) -> Result<(), StoreError> {
    vigil_fs::create_dir_all(p).map_err(|e| StoreError::io("create directory", p, e))
}

const KEYWORD_COUNT: usize = index::KEYWORD_FIELDS.len();

/// Per-event features computed outside the lock.
struct Encoded {
    frame: Vec<u8>,
    ends: Vec<usize>,
    ts: Vec<i64>,
    raw_lens: Vec<u32>,
    keys: Vec<u64>,
    key_ends: Vec<usize>,
    tokens: Vec<u64>,
    token_ends: Vec<usize>,
    col_arena: String,
    cols: Vec<(u8, usize, usize)>,
    col_ends: Vec<usize>,
    /// Where each event's message starts in its raw record, when it is the raw record's tail
    /// (for its other segment columns, built by the memtable block: sealing decodes no event).
    message_at: Vec<Option<usize>>,
}

impl Encoded {
    fn new(events: &[Event]) -> Encoded {
        let n = events.len();
        let mut e = Encoded {
            frame: Vec::with_capacity(wal::HEADER_LEN + n * 400),
            ends: Vec::with_capacity(n),
            ts: Vec::with_capacity(n),
            raw_lens: Vec::with_capacity(n),
            keys: Vec::with_capacity(n * 6),
            key_ends: Vec::with_capacity(n),
            tokens: Vec::with_capacity(n * 32),
            token_ends: Vec::with_capacity(n),
            col_arena: String::with_capacity(n * 24),
            cols: Vec::with_capacity(n * 4),
            col_ends: Vec::with_capacity(n),
            message_at: Vec::with_capacity(n),
        };
        e.frame.resize(wal::HEADER_LEN, 0);
        let mut x = Extractor::new();
        for ev in events {
            e.message_at.push(codec::encode(ev, &mut e.frame));
            e.ends.push(e.frame.len());
            e.ts.push(ev.timestamp.0);
            e.raw_lens.push(ev.raw.len() as u32);
            let (keys, tokens, arena, cols) =
                (&mut e.keys, &mut e.tokens, &mut e.col_arena, &mut e.cols);
            x.extract(
                ev,
                &mut |k| keys.push(k),
                &mut |t| tokens.push(t),
                &mut |f, v| {
                    let start = arena.len();
                    arena.push_str(v);
                    cols.push((f as u8, start, arena.len()));
                },
            );
            e.key_ends.push(e.keys.len());
            e.token_ends.push(e.tokens.len());
            e.col_ends.push(e.cols.len());
        }
        e
    }

    /// Adds the events (those `Encoded::new` was given) to the memtable from LSN `first_lsn`,
    /// and charges its new size; returns the bytes it holds.
    fn push_into(&self, events: &[Event], first_lsn: u64, mt: &mut Memtable) -> u64 {
        let (mut s, mut ks, mut ts, mut cs) = (wal::HEADER_LEN, 0, 0, 0);
        let mut cols: Vec<(u8, &str)> = Vec::with_capacity(KEYWORD_COUNT);
        for (i, event) in events.iter().enumerate().take(self.ends.len()) {
            let (e, ke, te, ce) = (
                self.ends[i],
                self.key_ends[i],
                self.token_ends[i],
                self.col_ends[i],
            );
            cols.clear();
            cols.extend(
                self.cols[cs..ce]
                    .iter()
                    .map(|&(f, a, b)| (f, &self.col_arena[a..b])),
            );
            let f = Features {
                raw_len: self.raw_lens[i],
                keys: &self.keys[ks..ke],
                tokens: &self.tokens[ts..te],
                cols: &cols,
                event,
                message_at: self.message_at[i],
            };
            mt.push(first_lsn + i as u64, self.ts[i], &self.frame[s..e], f);
            (s, ks, ts, cs) = (e, ke, te, ce);
        }
        mt.account()
    }
}

impl Tenant {
    /// Opens and recovers the partition of space `space` of tenant `name` in `dir`.
    pub(crate) fn open_recovered(
        inner: &Inner,
        name: &TenantId,
        dir: PathBuf,
        space: SpaceSettings,
    ) -> Result<Arc<Tenant>, StoreError> {
        let t = Arc::new(Tenant::open(inner, name, dir, space)?);
        t.recover(inner)?;
        Ok(t)
    }

    fn open(
        inner: &Inner,
        name: &TenantId,
        dir: PathBuf,
        space: SpaceSettings,
    ) -> Result<Tenant, StoreError> {
        let (wal_dir, seg_dir, quarantine_dir) =
            (dir.join("wal"), Tier::Hot.dir(&dir), dir.join("quarantine"));
        for d in [&wal_dir, &seg_dir, &quarantine_dir] {
            mkdir(d)?;
        }
        // `cold/` in the partition, or a link to the same place under `tiers.cold_dir`.
        let rel = dir.strip_prefix(&inner.root).unwrap_or(&dir).to_owned();
        let cold_dir = tier::prepare_cold_dir(&dir, inner.cfg.tiers.cold_dir.as_deref(), &rel)?;
        if let Some(parent) = dir.parent() {
            segment::sync_dir(parent)?;
        }
        let manifest = integrity::Manifest::open(&dir)?;
        Ok(Tenant {
            name: name.clone(),
            space,
            wal_dir,
            seg_dir,
            cold_dir,
            quarantine_dir,
            maint: Mutex::new(()),
            manifest: Mutex::new(manifest),
            write: Mutex::new(WriteState {
                wal: None,
                next_seq: 1,
                next_lsn: 1,
                failed: None,
            }),
            sync: Mutex::new(SyncState::default()),
            sync_serial: Mutex::new(()),
            view: RwLock::new(View {
                active: Memtable::new(inner.cfg.block_events, inner.mem_total.clone()),
                frozen: Vec::new(),
                segments: Vec::new(),
                sealed_lsn: 0,
            }),
            wal_closed: Mutex::new(Vec::new()),
            durable: Mutex::new(0),
            durable_cv: Condvar::new(),
            seal_done: Mutex::new(()),
            seal_cv: Condvar::new(),
            seal_error: Mutex::new(None),
            counters: Counters::default(),
        })
    }

    /// Loads segments (quarantining bad ones) and replays the WAL above the sealed LSN.
    fn recover(self: &Arc<Self>, inner: &Inner) -> Result<(), StoreError> {
        let started = Instant::now();
        let keyring = inner.keys();
        let segments = self.load_segments(inner)?;
        // Every LSN the manifest accounts for (sealed, even if retention deleted it since, or
        // expired) is never replayed nor reused.
        let manifest_lsn = self.manifest.lock().max_lsn();
        let sealed = segments
            .iter()
            .map(|s| s.last_lsn)
            .max()
            .unwrap_or(0)
            .max(manifest_lsn);
        {
            let mut v = self.view.write();
            v.segments = segments;
            v.sealed_lsn = sealed;
        }
        // Replay.
        let mut max_lsn = sealed;
        let mut replayed_events = 0u64;
        let files = wal::list(&self.wal_dir)?;
        let mut next_seq = 1;
        for (seq, path) in files {
            next_seq = next_seq.max(seq + 1);
            let mut file_last = 0;
            let end = wal::scan_file(&path, &keyring, &mut |lsn0, count, payload| {
                let mut rest = payload;
                // The frame's events above what is sealed or replayed (a suffix of the frame).
                let (mut events, mut first) = (Vec::new(), 0);
                for j in 0..u64::from(count) {
                    let lsn = lsn0 + j;
                    let ev = match codec::decode(rest) {
                        Ok((ev, r)) => {
                            rest = r;
                            ev
                        }
                        Err(e) => {
                            warn!(tenant = %self.name, path = %path.display(), lsn, error = %e,
                                  "undecodable event in a checksummed WAL frame; rest of the frame skipped");
                            self.counters.corrupt_frames.fetch_add(1, Ordering::Relaxed);
                            break;
                        }
                    };
                    file_last = file_last.max(lsn);
                    if lsn <= max_lsn {
                        continue;
                    }
                    max_lsn = lsn;
                    if events.is_empty() {
                        first = lsn;
                    }
                    events.push(ev);
                }
                if events.is_empty() {
                    return Ok(());
                }
                // Encoded again exactly as at append (the same record bytes), with the
                // extracted keys, tokens and columns the memtable keeps.
                let enc = Encoded::new(&events);
                let mut v = self.view.write();
                let held = enc.push_into(&events, first, &mut v.active);
                replayed_events += events.len() as u64;
                if v.active.events >= inner.cfg.segment_max_events
                    || held >= inner.cfg.memtable_max_bytes as u64
                {
                    self.freeze_view(inner, &mut v);
                }
                Ok(())
            })?;
            self.counters
                .wal_frames_replayed
                .fetch_add(end.frames, Ordering::Relaxed);
            if let Some(reason) = &end.corrupt {
                warn!(tenant = %self.name, path = %path.display(), reason = %reason, valid_bytes = end.valid_len,
                      "truncating corrupt WAL tail");
                self.counters.corrupt_frames.fetch_add(1, Ordering::Relaxed);
                wal::truncate(&path, end.valid_len)?;
            }
            // Fsync what was replayed: from now on it counts as durable.
            File::open(&path)
                .and_then(|f| f.sync_all())
                .map_err(|e| StoreError::io("fsync WAL", &path, e))?;
            self.wal_closed.lock().push(ClosedWal {
                path,
                last_lsn: file_last,
            });
        }
        {
            let mut w = self.write.lock();
            w.next_lsn = max_lsn + 1;
            w.next_seq = next_seq;
        }
        self.sync.lock().written = max_lsn;
        *self.durable.lock() = max_lsn;
        self.delete_covered_wal(sealed)?;
        let v = self.view.read();
        info!(tenant = %self.name, segments = v.segments.len(), sealed_lsn = sealed, replayed_events,
              last_lsn = max_lsn, ms = started.elapsed().as_millis() as u64, "tenant recovered");
        Ok(())
    }

    fn quarantine(&self, path: &Path, fname: &str, e: &StoreError) -> Result<(), StoreError> {
        self.counters
            .corrupt_segments
            .fetch_add(1, Ordering::Relaxed);
        let mut target = self.quarantine_dir.join(fname);
        let mut n = 1;
        while target.exists() {
            target = self.quarantine_dir.join(format!("{fname}.{n}"));
            n += 1;
        }
        error!(tenant = %self.name, path = %path.display(), reason = %e, moved_to = %target.display(),
               "segment failed verification; quarantined");
        std::fs::rename(path, &target)
            .or_else(|_| {
                // Another file system (a cold tier on another disk): copy, then remove.
                std::fs::copy(path, &target).and_then(|_| std::fs::remove_file(path))
            })
            .map_err(|e| StoreError::io("quarantine segment", path, e))?;
        if let Some(parent) = path.parent() {
            segment::sync_dir(parent)?;
        }
        segment::sync_dir(&self.quarantine_dir)
    }

    /// Opens the segments of both tiers: deletes what an interrupted merge or tier move left
    /// (retired files, unlisted outputs overlapping live segments), quarantines files that
    /// fail their checks (Parquet footer, Vigil metadata, tenant, SHA-256 against the
    /// manifest), and signs segments sealed before the manifest existed.
    fn load_segments(&self, inner: &Inner) -> Result<Vec<Arc<Segment>>, StoreError> {
        let mut found = Vec::new();
        for (tier, dir) in [(Tier::Hot, &self.seg_dir), (Tier::Cold, &self.cold_dir)] {
            let rd = std::fs::read_dir(dir).map_err(|e| StoreError::io("list segments", dir, e))?;
            for entry in rd {
                let entry = entry.map_err(|e| StoreError::io("list segments", dir, e))?;
                let path = entry.path();
                let fname = entry.file_name().to_string_lossy().into_owned();
                if fname.starts_with(".tmp-") {
                    info!(path = %path.display(), "removing unfinished segment");
                    std::fs::remove_file(&path)
                        .map_err(|e| StoreError::io("remove temp segment", &path, e))?;
                    continue;
                }
                if fname.ends_with(".vseg") {
                    let e = StoreError::corrupt(
                        &path,
                        "segment format v1 (.vseg) is no longer readable; re-import its events",
                    );
                    self.quarantine(&path, &fname, &e)?;
                    continue;
                }
                if segment::is_segment_name(&fname) {
                    found.push((tier, path, fname));
                }
            }
        }
        let mut segments = Vec::new();
        let mut deleted = false;
        let keyring = inner.keys();
        {
            let manifest = self.manifest.lock();
            for (tier, path, fname) in found {
                if manifest.is_deleted(tier, &fname) {
                    // Retention wrote its `delete` entry; a crash came before the unlink.
                    info!(tenant = %self.name, path = %path.display(), "finishing a retention deletion interrupted by a crash");
                    std::fs::remove_file(&path)
                        .map_err(|e| StoreError::io("delete segment", &path, e))?;
                    deleted = true;
                    continue;
                }
                if manifest.is_retired(tier, &fname) {
                    info!(path = %path.display(), "removing a segment replaced by a merge or tier move");
                    std::fs::remove_file(&path)
                        .map_err(|e| StoreError::io("remove replaced segment", &path, e))?;
                    deleted = true;
                    continue;
                }
                let listed = manifest.listed(tier, &fname).cloned();
                let opened = Segment::open(&path, tier, &keyring).and_then(|s| {
                    if s.tenant != self.name.as_str() {
                        return Err(StoreError::corrupt(
                            &path,
                            format!("belongs to tenant '{}'", s.tenant),
                        ));
                    }
                    if let Some(l) = &listed
                        && inner.cfg.verify_on_open
                    {
                        let (sha, size) = segment::sha256_file(&path)?;
                        if sha != l.sha256 || size != l.size {
                            return Err(StoreError::corrupt(
                                &path,
                                "SHA-256 differs from the manifest (altered or damaged)",
                            ));
                        }
                    }
                    Ok(s)
                });
                match opened {
                    Ok(s) => {
                        if listed.is_none() && manifest.overlaps_live(s.first_lsn, s.last_lsn) {
                            info!(path = %path.display(), "removing the output of an interrupted merge or tier move");
                            drop(s);
                            std::fs::remove_file(&path)
                                .map_err(|e| StoreError::io("remove unfinished merge", &path, e))?;
                            deleted = true;
                            continue;
                        }
                        segments.push(Arc::new(s));
                    }
                    // A missing or different key is a configuration problem, not damage.
                    Err(e @ StoreError::Key(_)) => return Err(e),
                    Err(e) => self.quarantine(&path, &fname, &e)?,
                }
            }
        }
        if deleted {
            segment::sync_dir(&self.seg_dir)?;
            segment::sync_dir(&self.cold_dir)?;
        }
        segments.sort_by_key(|s| s.first_lsn);
        // Sign segments sealed before the manifest existed (or just before a crash).
        let infos: Vec<_> = segments
            .iter()
            .map(|s| integrity::SegmentInfo {
                path: &s.path,
                tier: s.tier,
                first_lsn: s.first_lsn,
                last_lsn: s.last_lsn,
                events: s.events,
            })
            .collect();
        self.manifest.lock().cover(&inner.signer, &infos)?;
        Ok(segments)
    }

    /// The last LSN assigned.
    pub(crate) fn last_lsn(&self) -> u64 {
        self.write.lock().next_lsn - 1
    }

    /// The last LSN written to the WAL (assigned LSNs of failed writes are not).
    pub(crate) fn written_lsn(&self) -> u64 {
        self.sync.lock().written
    }

    /// The last LSN known to be fsynced.
    pub(crate) fn durable_lsn(&self) -> u64 {
        *self.durable.lock()
    }

    /// Fails when the partition refuses writes after an earlier error.
    pub(crate) fn check_writable(&self) -> Result<(), StoreError> {
        match &self.write.lock().failed {
            Some(r) => Err(self.failed_err(r)),
            None => Ok(()),
        }
    }

    /// Quarantines a live segment (found altered while the store runs): out of the view,
    /// moved to `quarantine/`, audited.
    pub(crate) fn quarantine_live(
        &self,
        inner: &Inner,
        path: &Path,
        why: &StoreError,
    ) -> Result<(), StoreError> {
        let seg = {
            let mut v = self.view.write();
            let Some(i) = v.segments.iter().position(|s| s.path == path) else {
                return Ok(());
            };
            v.segments.remove(i)
        };
        let fname = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        self.quarantine(&seg.path, &fname, why)?;
        let mut r = AuditRecord::new(
            inner.cfg.clock.now(),
            crate::audit::ACTOR_KEYS,
            crate::audit::ACTION_QUARANTINE,
        );
        r.outcome = "failure".into();
        r.tenant = Some(self.name.to_string());
        r.space = Some(self.space.name.to_string());
        r.file = Some(fname);
        r.events = Some(seg.events);
        r.detail = Some(why.to_string());
        inner.audit(Some(&self.name), r);
        Ok(())
    }

    fn fail(&self, w: &mut WriteState, reason: String) {
        error!(tenant = %self.name, reason = %reason, "tenant store failed; refusing writes");
        w.failed.get_or_insert(reason);
    }

    fn failed_err(&self, reason: &str) -> StoreError {
        StoreError::Failed {
            tenant: self.name.to_string(),
            reason: reason.to_owned(),
        }
    }

    fn append(self: &Arc<Self>, inner: &Inner, events: &[Event]) -> Result<Lsn, StoreError> {
        // Backpressure: wait while too many memtables are waiting to be sealed.
        self.wait_frozen_below(inner, inner.cfg.max_pending_seals)?;
        // ... and while all memtables hold too much memory.
        inner.make_room()?;
        let mut enc = Encoded::new(events);
        if enc.frame.len() - wal::HEADER_LEN > wal::MAX_FRAME || events.len() > u32::MAX as usize {
            return Err(StoreError::Invalid(format!(
                "batch of {} events encodes to {} bytes, over the {} byte frame limit; split it",
                events.len(),
                enc.frame.len(),
                wal::MAX_FRAME
            )));
        }
        let n = events.len() as u64;
        let mut w = self.write.lock();
        if let Some(r) = &w.failed {
            return Err(self.failed_err(r));
        }
        let lsn0 = w.next_lsn;
        wal::finish_frame(&mut enc.frame, lsn0, events.len() as u32);
        // Encrypted, the WAL gets a sealed copy; the memtable keeps the plain events.
        let sealed_frame = crypto::seal_wal_frame(
            &inner.keys(),
            lsn0,
            events.len() as u32,
            &enc.frame[wal::HEADER_LEN..],
        )?;
        let frame: &[u8] = sealed_frame.as_deref().unwrap_or(&enc.frame);
        if w.wal.is_none() {
            let seq = w.next_seq;
            let path = wal::file_name(&self.wal_dir, seq);
            let file = vigil_fs::options()
                .create_new(true)
                .append(true)
                .open(&path)
                .map_err(|e| StoreError::io("create WAL", &path, e))?;
            w.next_seq += 1;
            let file = Arc::new(file);
            w.wal = Some(WalFile {
                file: file.clone(),
                path,
                len: 0,
                last_lsn: 0,
            });
            let mut s = self.sync.lock();
            if let Some(old) = s.current.replace(file) {
                s.pending.push(old);
            }
            s.dir_dirty = true;
        }
        let Some(wf) = w.wal.as_mut() else {
            return Err(self.failed_err("no WAL file"));
        };
        let res = if inner.faults.fail_wal_write.load(Ordering::Relaxed) {
            Err(std::io::Error::new(
                std::io::ErrorKind::StorageFull,
                "injected: no space left on device",
            ))
        } else {
            (&*wf.file).write_all(frame)
        };
        if let Err(e) = res {
            if e.kind() == std::io::ErrorKind::StorageFull {
                inner.disk.note_no_space();
            }
            // Cut off whatever part of the frame reached the file, and start a new file next
            // time, so that a torn frame is never followed by good ones.
            let _ = wf.file.set_len(wf.len);
            let err = StoreError::io("write WAL", &wf.path, e);
            // The LSNs are burnt: should the frame have reached the disk after all, it can
            // never be confused with a later batch (recovery would skip one of the two).
            let (path, last_lsn) = (wf.path.clone(), lsn0 + n - 1);
            w.wal = None;
            w.next_lsn = lsn0 + n;
            self.wal_closed.lock().push(ClosedWal { path, last_lsn });
            return Err(err);
        }
        wf.len += frame.len() as u64;
        let last = lsn0 + n - 1;
        wf.last_lsn = last;
        w.next_lsn = last + 1;
        self.sync.lock().written = last;
        self.counters
            .events_appended
            .fetch_add(n, Ordering::Relaxed);
        self.counters
            .bytes_written
            .fetch_add(frame.len() as u64, Ordering::Relaxed);
        let mut v = self.view.write();
        let held = enc.push_into(events, lsn0, &mut v.active);
        let full = held >= inner.cfg.memtable_max_bytes as u64;
        if v.active.events >= inner.cfg.segment_max_events || full {
            if full {
                self.counters
                    .memtable_full_seals
                    .fetch_add(1, Ordering::Relaxed);
                debug!(tenant = %self.name, space = %self.space.name, bytes = held,
                       events = v.active.events, "memtable reached memtable_max_bytes; sealing early");
            }
            self.rotate_wal(&mut w);
            self.freeze_view(inner, &mut v);
        }
        Ok(last)
    }

    /// Closes the current WAL file (the next append opens a new one), so that files end at
    /// memtable boundaries and can be deleted once sealed.
    fn rotate_wal(&self, w: &mut WriteState) {
        if let Some(wf) = w.wal.take() {
            self.wal_closed.lock().push(ClosedWal {
                path: wf.path,
                last_lsn: wf.last_lsn,
            });
        }
    }

    /// Moves the active memtable to the frozen list and queues it for sealing.
    fn freeze_view(self: &Arc<Self>, inner: &Inner, v: &mut View) {
        if v.active.is_empty() {
            return;
        }
        let mt = std::mem::replace(
            &mut v.active,
            Memtable::new(inner.cfg.block_events, inner.mem_total.clone()),
        );
        let (first_lsn, last_lsn, events) = (mt.first_lsn, mt.last_lsn, mt.events);
        let (blocks, mem) = mt.into_blocks();
        let frozen = Arc::new(Frozen {
            blocks,
            first_lsn,
            last_lsn,
            events,
            mem,
        });
        v.frozen.push(frozen.clone());
        inner.send_seal(self, frozen);
    }

    fn freeze(self: &Arc<Self>, inner: &Inner) {
        let mut w = self.write.lock();
        let mut v = self.view.write();
        if !v.active.is_empty() {
            self.rotate_wal(&mut w);
            self.freeze_view(inner, &mut v);
        }
    }

    /// fsyncs everything written so far and publishes the durable LSN.
    fn sync_now(&self) -> Result<(), StoreError> {
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

    fn wait_durable(&self, lsn: Lsn, timeout: Duration) -> Result<(), StoreError> {
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

    fn flush(self: &Arc<Self>, inner: &Inner) -> Result<(), StoreError> {
        self.freeze(inner);
        loop {
            if self.view.read().frozen.is_empty() {
                break;
            }
            if let Some(e) = self.seal_error.lock().clone() {
                return Err(self.failed_err(&format!("sealing failed: {e}")));
            }
            if inner.stop.load(Ordering::Acquire) {
                return Err(StoreError::Closed);
            }
            let mut g = self.seal_done.lock();
            self.seal_cv.wait_for(&mut g, Duration::from_millis(50));
        }
        self.sync_now()?;
        if let Some(r) = &self.write.lock().failed {
            return Err(self.failed_err(r));
        }
        Ok(())
    }

    /// Writes one frozen memtable as a segment and swaps it into the view.
    fn seal(&self, inner: &Inner, frozen: &Arc<Frozen>) -> Result<(), StoreError> {
        if self.expire_frozen(inner, frozen)? {
            *self.seal_error.lock() = None;
            return Ok(());
        }
        let started = Instant::now();
        let seg = Arc::new(self.write_segment(inner, frozen)?);
        let (bytes, sealed) = (seg.file_len, seg.last_lsn);
        // The rename is durable: hash, chain and sign it before the WAL can go.
        self.manifest.lock().append(
            &inner.signer,
            &integrity::SegmentInfo {
                path: &seg.path,
                tier: Tier::Hot,
                first_lsn: seg.first_lsn,
                last_lsn: seg.last_lsn,
                events: seg.events,
            },
        )?;
        // The segment is durable: the WAL files it covers can go. (A crash before this line
        // leaves them; recovery skips their frames by LSN.) Done before the view swap so that
        // a flush that saw the memtable sealed also sees the WAL gone.
        if !inner.faults.keep_wal_after_seal.load(Ordering::Relaxed) {
            self.delete_covered_wal(sealed)?;
        }
        {
            let mut v = self.view.write();
            v.segments.push(seg);
            v.frozen.retain(|f| !Arc::ptr_eq(f, frozen));
            v.sealed_lsn = v.sealed_lsn.max(sealed);
        }
        self.counters
            .segments_sealed
            .fetch_add(1, Ordering::Relaxed);
        self.counters
            .bytes_written
            .fetch_add(bytes, Ordering::Relaxed);
        *self.seal_error.lock() = None;
        {
            let _g = self.seal_done.lock();
            self.seal_cv.notify_all();
        }
        info!(tenant = %self.name, events = frozen.events, first_lsn = frozen.first_lsn, last_lsn = sealed, bytes,
              ms = started.elapsed().as_millis() as u64, "segment sealed");
        Ok(())
    }

    /// Writes a frozen memtable as a hot segment (keyword columns and bloom filters from the
    /// memtable blocks; each event decoded once for the other columns).
    fn write_segment(&self, inner: &Inner, frozen: &Frozen) -> Result<Segment, StoreError> {
        segment::write_memtable(
            &self.seg_dir,
            WriteOptions {
                tenant: self.name.to_string(),
                tier: Tier::Hot,
                zstd_level: inner.cfg.zstd_level,
                row_group_rows: inner.cfg.row_group_rows,
                page_bytes: segment::HOT_PAGE_BYTES,
                raw_page_bytes: segment::HOT_RAW_PAGE_BYTES,
                fail_write: inner.faults.fail_segment_write.load(Ordering::Relaxed),
                keyring: inner.keys(),
            },
            &frozen.blocks,
        )
    }

    /// Deletes closed WAL files whose frames are all at or below `sealed`.
    fn delete_covered_wal(&self, sealed: u64) -> Result<(), StoreError> {
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

    fn stats(&self) -> StoreStats {
        let c = &self.counters;
        let v = self.view.read();
        let segment_bytes: u64 = v.segments.iter().map(|s| s.file_len).sum();
        let index_bytes: u64 = v.segments.iter().map(|s| s.bloom_bytes).sum();
        let seg_events: u64 = v.segments.iter().map(|s| s.events).sum();
        let cold_bytes: u64 = v
            .segments
            .iter()
            .filter(|s| s.tier == Tier::Cold)
            .map(|s| s.file_len)
            .sum();
        let cold_events: u64 = v
            .segments
            .iter()
            .filter(|s| s.tier == Tier::Cold)
            .map(|s| s.events)
            .sum();
        let cold_segments = v.segments.iter().filter(|s| s.tier == Tier::Cold).count() as u64;
        let mem_events =
            v.active.events as u64 + v.frozen.iter().map(|f| f.events as u64).sum::<u64>();
        let mem_bytes = v.active.charged() + v.frozen.iter().map(|f| f.mem.bytes()).sum::<u64>();
        let sealed_lsn = v.sealed_lsn;
        let segments = v.segments.len() as u64;
        drop(v);
        let wal_bytes = wal::list(&self.wal_dir)
            .map(|fs| {
                fs.iter()
                    .filter_map(|(_, p)| std::fs::metadata(p).ok())
                    .map(|m| m.len())
                    .sum()
            })
            .unwrap_or(0);
        StoreStats {
            events: seg_events + mem_events,
            memtable_events: mem_events,
            memtable_bytes: mem_bytes,
            memtable_full_seals: c.memtable_full_seals.load(Ordering::Relaxed),
            segments,
            bytes_on_disk: segment_bytes + wal_bytes,
            segment_bytes,
            cold_segments,
            cold_bytes,
            cold_events,
            wal_bytes,
            index_bytes,
            last_lsn: self.write.lock().next_lsn - 1,
            durable_lsn: *self.durable.lock(),
            sealed_lsn,
            events_appended: c.events_appended.load(Ordering::Relaxed),
            bytes_written: c.bytes_written.load(Ordering::Relaxed),
            segments_sealed: c.segments_sealed.load(Ordering::Relaxed),
            wal_frames_replayed: c.wal_frames_replayed.load(Ordering::Relaxed),
            corrupt_frames: c.corrupt_frames.load(Ordering::Relaxed),
            corrupt_segments: c.corrupt_segments.load(Ordering::Relaxed),
            seal_errors: c.seal_errors.load(Ordering::Relaxed),
            retention_segments_deleted: c.retention_segments.load(Ordering::Relaxed),
            retention_events_deleted: c.retention_events.load(Ordering::Relaxed),
            files_reencrypted: c.files_reencrypted.load(Ordering::Relaxed),
            ..StoreStats::default()
        }
    }
}

fn sealer(inner: &Inner, rx: &mpsc::Receiver<SealJob>) {
    while let Ok(job) = rx.recv() {
        seal_job(inner, &job);
        // The memtable's bytes are released with the job (the view dropped it when sealed).
        drop(job);
        let _g = inner.sealed_tick.0.lock();
        inner.sealed_tick.1.notify_all();
    }
}

/// Seals one frozen memtable, retrying until it succeeds or the store stops.
fn seal_job(inner: &Inner, job: &SealJob) {
    loop {
        if inner.stop.load(Ordering::Acquire) {
            return;
        }
        match job.tenant.seal(inner, &job.frozen) {
            Ok(()) => break,
            Err(e) => {
                job.tenant
                    .counters
                    .seal_errors
                    .fetch_add(1, Ordering::Relaxed);
                error!(tenant = %job.tenant.name, error = %e, "sealing failed; the WAL keeps the events; retrying");
                *job.tenant.seal_error.lock() = Some(e.to_string());
                {
                    let _g = job.tenant.seal_done.lock();
                    job.tenant.seal_cv.notify_all();
                }
                let mut g = inner.tick.0.lock();
                if !inner.stop.load(Ordering::Acquire) {
                    inner.tick.1.wait_for(&mut g, Duration::from_millis(500));
                }
            }
        }
    }
}

fn flusher(inner: &Inner) {
    loop {
        {
            let mut g = inner.tick.0.lock();
            if inner.stop.load(Ordering::Acquire) {
                break;
            }
            inner.tick.1.wait_for(&mut g, inner.cfg.fsync_interval);
        }
        for t in inner.partitions() {
            if let Err(e) = t.sync_now() {
                error!(tenant = %t.name, error = %e, "WAL fsync failed");
            }
            let old = {
                let v = t.view.read();
                !v.active.is_empty() && v.active.created.elapsed() >= inner.cfg.segment_max_age
            };
            if old && !inner.stop.load(Ordering::Acquire) {
                t.freeze(inner);
            }
        }
        if inner.stop.load(Ordering::Acquire) {
            break;
        }
    }
    // Last fsync on the way out (a clean drop loses nothing even on power loss).
    for t in inner.partitions() {
        let _ = t.sync_now();
    }
}

/// The maintenance thread: free-space polling (so that the store resumes without an append),
/// the retention pass every `retention_interval`, storing queued audit events.
fn maintenance(inner: &Inner) {
    let mut tick = Duration::from_secs(1).min(inner.cfg.retention_interval);
    if let Some(every) = inner.cfg.tiers.interval {
        tick = tick.min(every);
    }
    let mut last_retention = Instant::now();
    let mut last_tiers = Instant::now();
    loop {
        {
            let mut g = inner.tick.0.lock();
            if inner.stop.load(Ordering::Acquire) {
                break;
            }
            inner.tick.1.wait_for(&mut g, tick);
        }
        if inner.stop.load(Ordering::Acquire) {
            break;
        }
        if let (_, Some(t)) = inner.disk.poll(false) {
            inner.disk_transition(t);
        }
        rekey::tick(inner);
        if last_retention.elapsed() >= inner.cfg.retention_interval {
            last_retention = Instant::now();
            if let Err(e) = retention::run(inner, inner.cfg.clock.now()) {
                warn!(error = %e, "retention pass failed; retrying at the next interval");
            }
        }
        if let Some(every) = inner.cfg.tiers.interval
            && last_tiers.elapsed() >= every
        {
            last_tiers = Instant::now();
            if let Err(e) = tier::run(inner, inner.cfg.clock.now()) {
                warn!(error = %e, "merge/tiering pass failed; retrying at the next interval");
            }
        }
        inner.drain_audit();
    }
}
