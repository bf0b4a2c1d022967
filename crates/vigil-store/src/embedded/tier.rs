//! Background merging and the cold tier.
//!
//! A *pass* (run every [`TierOptions::interval`] by the maintenance thread with the store's
//! clock, or on demand by [`EmbeddedStore::maintain`](super::EmbeddedStore::maintain) with the
//! clock passed in) does, per partition (tenant and storage space), over its live segments in
//! LSN order:
//!
//! 1. **Tiering**: runs of consecutive hot segments whose newest event is older than the
//!    space's `hot_age` (by `@timestamp`; [`SpaceSettings::hot_age`](super::SpaceSettings),
//!    configured per space, tenant or store in `spaces`) and that start on the same UTC day
//!    are rewritten into cold segments of at most `cold_max_events` events: larger row
//!    groups, stronger zstd, in the partition's cold directory (which may be on another
//!    disk, see [`TierOptions::cold_dir`]).
//! 2. **Merging**: runs of at least `merge_min_segments` consecutive small segments of one tier
//!    and one UTC day (each under half of the tier's target size) are merged into segments of
//!    at most `merge_max_events` (hot) or `cold_max_events` (cold) events, so that a long-running
//!    store holds a few large files per day instead of thousands of small ones.
//!
//! Each rewrite is atomic: the new file is written (temp file, fsync, rename, directory fsync),
//! a signed `merge`/`tier` line naming the replaced files is appended to the manifest, the view
//! swaps the files, and only then are the old files deleted (see `integrity`); an audit record
//! (`storage.tier.move` or `storage.merge`, actor `system:tiering`) in
//! `<data_dir>/audit/audit.log` names the new file, the replaced ones and their sizes (the
//! audit log only, not the tenant's searchable events: housekeeping would crowd them). Searches that
//! already hold an old segment keep reading it through their open handle. Rows are copied in
//! LSN order, so merged and cold segments answer every query exactly like the hot ones. New
//! files are written under the current encryption key (plain when encryption is off), so a
//! rewrite also re-encrypts. Rewrites, retention deletions and re-encryptions of a partition
//! take its `maint` lock: one at a time, so that none acts on a file another has replaced.
//! Retention and re-encryption see tier moves through the partition's view (a moved file is
//! there with its new path and tier) and name files by tier in the manifest.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tracing::{info, warn};
use vigil_event::Timestamp;

use super::crypto;
use super::integrity::{Op, SegmentInfo};
use super::segment::{self, Segment, SegmentWriter, Tier, WriteOptions};
use super::{Inner, Partition};
use crate::StoreError;
use crate::audit::{ACTION_MERGE, ACTION_TIER_MOVE, ACTOR_TIERING, AuditRecord};

/// How segments are merged and moved to the cold tier. When they move is each storage
/// space's `hot_age` ([`SpacesConfig`](super::SpacesConfig); none: they stay hot).
#[derive(Debug, Clone)]
pub struct TierOptions {
    /// Where cold segments live. `None` (the default): `cold/` inside each partition
    /// (`<data_dir>/events/<tenant>/cold/`, `<data_dir>/events/<tenant>/spaces/<space>/cold/`).
    /// Set: the same layout under this directory (`<cold_dir>/<tenant>/`,
    /// `<cold_dir>/<tenant>/spaces/<space>/`), each linked (symbolic link) from the
    /// partition's `cold`, so that the store, retention and `vigil storage verify` always
    /// find cold files at `<partition>/cold/`.
    pub cold_dir: Option<PathBuf>,
    /// zstd level of cold segments. Default 9.
    pub cold_zstd_level: i32,
    /// Rows per row group of cold segments. Default 65,536.
    pub cold_row_group_rows: usize,
    /// Largest cold segment, in events. Default 16,777,216.
    pub cold_max_events: u64,
    /// Merge when at least this many consecutive small segments of one tier and day exist.
    /// Default 8.
    pub merge_min_segments: usize,
    /// Largest merged hot segment, in events; a segment under half of it is small.
    /// Default 4,194,304.
    pub merge_max_events: u64,
    /// Time between background passes; `None` runs passes only on demand. Default 60 s.
    pub interval: Option<Duration>,
}

impl Default for TierOptions {
    fn default() -> Self {
        TierOptions {
            cold_dir: None,
            cold_zstd_level: 9,
            cold_row_group_rows: 65_536,
            cold_max_events: 1 << 24,
            merge_min_segments: 8,
            merge_max_events: 1 << 22,
            interval: Some(Duration::from_secs(60)),
        }
    }
}

impl TierOptions {
    pub(crate) fn validate(&self) -> Result<(), StoreError> {
        let mut errs = Vec::new();
        if !(1..=19).contains(&self.cold_zstd_level) {
            errs.push("tiers.cold_zstd_level must be 1 to 19");
        }
        if self.cold_row_group_rows == 0 || self.cold_row_group_rows > 1 << 22 {
            errs.push("tiers.cold_row_group_rows must be 1 to 4,194,304");
        }
        if self.merge_min_segments < 2 {
            errs.push("tiers.merge_min_segments must be at least 2");
        }
        if self.merge_max_events < 2 || self.cold_max_events < 2 {
            errs.push("tiers.merge_max_events and tiers.cold_max_events must be at least 2");
        }
        if self.interval.is_some_and(|d| d.is_zero()) {
            errs.push("tiers.interval must be positive");
        }
        if errs.is_empty() {
            Ok(())
        } else {
            Err(StoreError::Invalid(errs.join("; ")))
        }
    }
}

/// What one pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MaintenanceReport {
    /// Segments written by merges.
    pub merged_into: u64,
    /// Segments replaced by merges.
    pub merged_from: u64,
    /// Cold segments written by tier moves.
    pub cold_written: u64,
    /// Hot segments moved to the cold tier.
    pub moved_to_cold: u64,
    /// Events rewritten.
    pub events_rewritten: u64,
}

impl MaintenanceReport {
    pub(crate) fn add(&mut self, o: &MaintenanceReport) {
        self.merged_into += o.merged_into;
        self.merged_from += o.merged_from;
        self.cold_written += o.cold_written;
        self.moved_to_cold += o.moved_to_cold;
        self.events_rewritten += o.events_rewritten;
    }
}

/// Makes `<partition_dir>/cold` usable: a directory, or (with `cold_dir`) a symbolic link to
/// `<cold_dir>/<rel>` (`rel`: the partition's path under `<data_dir>/events`, `<tenant>` or
/// `<tenant>/spaces/<space>`). Returns the path the store reads and writes (the link itself,
/// so that retention and `vigil storage verify` find the files the same way).
pub(crate) fn prepare_cold_dir(
    tenant_dir: &Path,
    cold_dir: Option<&Path>,
    rel: &Path,
) -> Result<PathBuf, StoreError> {
    let tenant = rel.display();
    let link = Tier::Cold.dir(tenant_dir);
    let Some(base) = cold_dir else {
        if link.is_symlink() {
            // Configured elsewhere before: keep following the link (the files are there).
            return Ok(link);
        }
        super::mkdir(&link)?;
        return Ok(link);
    };
    let target = base.join(rel);
    super::mkdir(&target)?;
    let target = std::fs::canonicalize(&target)
        .map_err(|e| StoreError::io("resolve cold directory", &target, e))?;
    match std::fs::read_link(&link) {
        Ok(cur) if cur == target => return Ok(link),
        Ok(cur) => {
            let has_files = std::fs::read_dir(&link).is_ok_and(|mut r| r.next().is_some());
            if has_files {
                return Err(StoreError::Invalid(format!(
                    "the cold tier of {tenant} is in {} but cold_dir is now {}: move its files first",
                    cur.display(),
                    base.display()
                )));
            }
            std::fs::remove_file(&link)
                .map_err(|e| StoreError::io("relink cold tier", &link, e))?;
        }
        Err(_) if link.is_dir() => {
            let has_files = std::fs::read_dir(&link).is_ok_and(|mut r| r.next().is_some());
            if has_files {
                return Err(StoreError::Invalid(format!(
                    "{} holds cold segments but cold_dir is {}: move them there first",
                    link.display(),
                    base.display()
                )));
            }
            std::fs::remove_dir(&link).map_err(|e| StoreError::io("relink cold tier", &link, e))?;
        }
        Err(_) => {}
    }
    std::os::unix::fs::symlink(&target, &link)
        .map_err(|e| StoreError::io("link cold tier", &link, e))?;
    segment::sync_dir(tenant_dir)?;
    Ok(link)
}

const DAY_NS: i64 = 86_400_000_000_000;

fn day(ts: i64) -> i64 {
    ts.div_euclid(DAY_NS)
}

impl Partition {
    /// One pass: tier moves first (they also merge), then merges in each tier.
    pub(super) fn maintain(
        &self,
        inner: &Inner,
        now: Timestamp,
    ) -> Result<MaintenanceReport, StoreError> {
        let _one = self.maint.lock();
        let mut report = MaintenanceReport::default();
        let o = &inner.cfg.tiers;
        if let Some(age) = self.space.hot_age {
            let cutoff = now
                .0
                .saturating_sub(i64::try_from(age.as_nanos()).unwrap_or(i64::MAX));
            for run in self.runs(
                |s| s.tier == Tier::Hot && s.max_ts < cutoff,
                o.cold_max_events,
                1,
            ) {
                if inner.stop.load(Ordering::Acquire) {
                    return Ok(report);
                }
                self.rewrite(inner, &run, Tier::Cold, Op::Tier)?;
                report.cold_written += 1;
                report.moved_to_cold += run.len() as u64;
                report.events_rewritten += run.iter().map(|s| s.events).sum::<u64>();
            }
        }
        for (tier, max) in [
            (Tier::Hot, o.merge_max_events),
            (Tier::Cold, o.cold_max_events),
        ] {
            let small = max / 2;
            for run in self.runs(
                |s| s.tier == tier && s.events < small,
                max,
                o.merge_min_segments,
            ) {
                if inner.stop.load(Ordering::Acquire) {
                    return Ok(report);
                }
                self.rewrite(inner, &run, tier, Op::Merge)?;
                report.merged_into += 1;
                report.merged_from += run.len() as u64;
                report.events_rewritten += run.iter().map(|s| s.events).sum::<u64>();
            }
        }
        Ok(report)
    }

    /// Runs of consecutive (by LSN, over every live segment) segments that pass `eligible`,
    /// start on the same UTC day, hold at most `max_events` together, and are at least
    /// `min_len` long.
    fn runs(
        &self,
        eligible: impl Fn(&Segment) -> bool,
        max_events: u64,
        min_len: usize,
    ) -> Vec<Vec<Arc<Segment>>> {
        let mut segs = self.view.read().segments.clone();
        segs.sort_by_key(|s| s.first_lsn);
        let mut out = Vec::new();
        let mut cur: Vec<Arc<Segment>> = Vec::new();
        let mut cur_events = 0u64;
        let flush = |cur: &mut Vec<Arc<Segment>>, out: &mut Vec<Vec<Arc<Segment>>>| {
            if cur.len() >= min_len {
                out.push(std::mem::take(cur));
            } else {
                cur.clear();
            }
        };
        for s in segs {
            if !eligible(&s) {
                flush(&mut cur, &mut out);
                cur_events = 0;
                continue;
            }
            let fits = cur.first().is_some_and(|f| {
                day(f.min_ts) == day(s.min_ts) && cur_events + s.events <= max_events
            });
            if !fits {
                flush(&mut cur, &mut out);
                cur_events = 0;
            }
            cur_events += s.events;
            cur.push(s);
        }
        flush(&mut cur, &mut out);
        out
    }

    /// Rewrites `run` as one segment of `tier`, records it in the manifest, swaps it into the
    /// view, and deletes the replaced files.
    fn rewrite(
        &self,
        inner: &Inner,
        run: &[Arc<Segment>],
        tier: Tier,
        op: Op,
    ) -> Result<(), StoreError> {
        let started = Instant::now();
        let o = &inner.cfg.tiers;
        let (dir, level, rows, page, raw_page) = match tier {
            Tier::Hot => (
                &self.seg_dir,
                inner.cfg.zstd_level,
                inner.cfg.row_group_rows,
                segment::HOT_PAGE_BYTES,
                segment::HOT_RAW_PAGE_BYTES,
            ),
            Tier::Cold => (
                &self.cold_dir,
                o.cold_zstd_level,
                o.cold_row_group_rows,
                segment::COLD_PAGE_BYTES,
                segment::COLD_RAW_PAGE_BYTES,
            ),
        };
        let mut layout = super::shred::Layout::default();
        for s in run {
            layout.merge(&s.layout);
        }
        let mut w = SegmentWriter::new(
            dir,
            WriteOptions {
                tenant: self.name.to_string(),
                tier,
                zstd_level: level,
                row_group_rows: rows,
                page_bytes: page,
                raw_page_bytes: raw_page,
                fail_write: false,
                keyring: inner.keys(),
            },
            &layout,
        )?;
        // Columns are copied row group by row group; no event is decoded.
        for s in run {
            for rg in 0..s.groups.len() {
                for b in s.read_group(rg)? {
                    w.push_rows(&b)?;
                }
            }
        }
        let want: u64 = run.iter().map(|s| s.events).sum();
        if w.events() != want {
            return Err(StoreError::Invalid(format!(
                "merge read {} events, the segments hold {want}",
                w.events()
            )));
        }
        let seg = Arc::new(w.finish()?);
        let replaces: Vec<(Tier, String)> = run.iter().map(|s| (s.tier, s.name())).collect();
        self.manifest.lock().rewrite(
            &inner.signer,
            op,
            &SegmentInfo {
                path: &seg.path,
                tier,
                first_lsn: seg.first_lsn,
                last_lsn: seg.last_lsn,
                events: seg.events,
            },
            replaces,
        )?;
        {
            let mut v = self.view.write();
            v.segments
                .retain(|s| !run.iter().any(|r| Arc::ptr_eq(r, s)));
            v.segments.push(seg.clone());
            v.segments.sort_by_key(|s| s.first_lsn);
        }
        let mut dirs = Vec::new();
        for s in run {
            if let Err(e) = std::fs::remove_file(&s.path) {
                warn!(path = %s.path.display(), error = %e, "could not delete a replaced segment (deleted at the next open)");
            }
            if let Some(p) = s.path.parent()
                && !dirs.contains(&p)
            {
                dirs.push(p);
            }
        }
        for d in dirs {
            segment::sync_dir(d)?;
        }
        let before: u64 = run.iter().map(|s| s.file_len).sum();
        info!(tenant = %self.name, op = ?op, tier = tier.as_str(), segments = run.len(), events = seg.events,
              bytes_before = before, bytes_after = seg.file_len, ms = started.elapsed().as_millis() as u64,
              "segments rewritten");
        // The audit log (not the tenant's events: housekeeping would flood searches) says what
        // became of every file; the signed manifest holds the same `merge`/`tier` entry.
        let action = match op {
            Op::Tier => ACTION_TIER_MOVE,
            _ => ACTION_MERGE,
        };
        let mut r = AuditRecord::new(inner.cfg.clock.now(), ACTOR_TIERING, action);
        r.tenant = Some(self.name.to_string());
        r.space = Some(self.space.name.to_string());
        r.file = Some(seg.name());
        r.events = Some(seg.events);
        if seg.events > 0 {
            r.from = Some(Timestamp(seg.min_ts).to_rfc3339());
            r.to = Some(Timestamp(seg.max_ts).to_rfc3339());
        }
        let names: Vec<String> = run
            .iter()
            .map(|s| format!("{}/{}", s.tier.as_str(), s.name()))
            .collect();
        r.detail = Some(format!(
            "{} segment(s) ({} bytes) rewritten as {}/{} ({} bytes): {}",
            run.len(),
            before,
            tier.as_str(),
            seg.name(),
            seg.file_len,
            names.join(", ")
        ));
        inner.audit(None, r);
        Ok(())
    }
}

/// One pass over every partition of every tenant at `now`. A segment that fails
/// authentication while being read is quarantined (audited) and the pass goes on.
pub(crate) fn run(inner: &Inner, now: Timestamp) -> Result<MaintenanceReport, StoreError> {
    let mut report = MaintenanceReport::default();
    let mut first_err = None;
    for p in inner.partitions() {
        match p.maintain(inner, now) {
            Ok(r) => report.add(&r),
            Err(e) => {
                if let Some(path) = crypto::is_tampered(&e) {
                    let path = path.to_owned();
                    if let Err(err) = p.quarantine_live(inner, &path, &e) {
                        warn!(path = %path.display(), error = %err, "could not quarantine a tampered segment");
                    }
                }
                warn!(tenant = %p.name, space = %p.space.name, error = %e, "merge/tiering pass failed for a space");
                first_err.get_or_insert(e);
            }
        }
    }
    inner.drain_audit();
    match first_err {
        Some(e) => Err(e),
        None => Ok(report),
    }
}
