//! The embedded store's configuration, and the fault injection of crash tests.

use super::*;

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

    pub(super) fn validate(&self) -> Result<(), StoreError> {
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
