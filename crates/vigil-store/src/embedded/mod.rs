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
//! Lock order (never taken the other way round): `Partition::write` → `Partition::sync` and
//! `Partition::write` → `Partition::view` → `Partition::wal_closed`. `Partition::maint` (one file
//! rewrite or deletion at a time per partition: merge, tier move, retention, re-encryption)
//! is taken before `Partition::view` and `Partition::manifest`.

mod codec;
mod columns;
mod config;
pub mod crypto;
mod disk;
mod index;
mod integrity;
mod memtable;
mod partition;
mod recovery;
mod rekey;
mod retention;
mod scan;
mod segment;
mod shred;
mod space_admin;
pub mod spaces;
mod threads;
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

pub use self::config::{EmbeddedConfig, Faults};
pub use self::crypto::{
    KeyId, KeySource, Keyring, SealedReader, SealedWriter, create_sealed_file, open_sealed_file,
};
use self::index::Extractor;
pub use self::integrity::{
    Finding, FindingKind, MANIFEST_FILE, PUBLIC_KEY_FILE, SIGNING_KEY_FILE, VerifyReport, verify,
    verify_with_key,
};
use self::memtable::{Features, MemBlock, MemCharge, Memtable};
use self::partition::Encoded;
pub(crate) use self::partition::{Frozen, Partition, View};
pub use self::rekey::RekeyReport;
pub use self::retention::{Clock, ManualClock, RetentionReport, SystemClock};
use self::segment::{Segment, Tier, WriteOptions};
use self::spaces::TenantSet;
pub use self::spaces::{SpaceConfig, SpaceSettings, SpacesConfig, TenantSpaces};
use self::threads::{flusher, maintenance, sealer};
pub use self::tier::{MaintenanceReport, TierOptions};
use self::wal::{ClosedWal, SyncState, WalFile, WriteState};
use crate::audit::{AuditLog, AuditRecord};
use crate::{
    AggregateRequest, AggregateResult, EventStore, Lsn, SearchRequest, SearchResult, StoreError,
    StoreStats, TenantId,
};

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

struct SealJob {
    tenant: Arc<Partition>,
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
            Some(t) => t
                .parts
                .iter()
                .map(|p| SpaceSettings {
                    retention: p.retention(),
                    ..p.space.clone()
                })
                .collect(),
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
    fn storage_spaces(&self, tenant: &TenantId) -> Result<Vec<crate::SpaceInfo>, StoreError> {
        self.check_open()?;
        Ok(self.space_info(tenant))
    }

    fn set_space_retention(
        &self,
        tenant: &TenantId,
        space: &str,
        setting: crate::RetentionSetting,
        actor: &str,
    ) -> Result<crate::SpaceInfo, StoreError> {
        self.set_retention(tenant, space, setting, actor)
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
    pub(crate) fn partitions(&self) -> Vec<Arc<Partition>> {
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
    ) -> Result<Vec<(Arc<Partition>, i64)>, StoreError> {
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
    fn quarantine_tampered(&self, parts: &[(Arc<Partition>, i64)], e: &StoreError) {
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
            let mut largest: Option<(u64, &Arc<Partition>)> = None;
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

    fn send_seal(&self, tenant: &Arc<Partition>, frozen: Arc<Frozen>) {
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
