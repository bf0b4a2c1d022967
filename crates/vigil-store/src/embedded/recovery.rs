//! Opening a partition: its directories, the segments verified against the manifest (bad
//! files quarantined), then the WAL frames after the last sealed segment replayed.

use super::*;

impl Partition {
    /// Opens and recovers the partition of space `space` of tenant `name` in `dir`.
    pub(crate) fn open_recovered(
        inner: &Inner,
        name: &TenantId,
        dir: PathBuf,
        space: SpaceSettings,
    ) -> Result<Arc<Partition>, StoreError> {
        let t = Arc::new(Partition::open(inner, name, dir, space)?);
        t.recover(inner)?;
        Ok(t)
    }

    pub(super) fn open(
        inner: &Inner,
        name: &TenantId,
        dir: PathBuf,
        space: SpaceSettings,
    ) -> Result<Partition, StoreError> {
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
        let retention_set = RwLock::new(space_admin::read_override(&dir));
        Ok(Partition {
            name: name.clone(),
            space,
            retention_set,
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
    pub(super) fn recover(self: &Arc<Self>, inner: &Inner) -> Result<(), StoreError> {
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

    pub(super) fn quarantine(
        &self,
        path: &Path,
        fname: &str,
        e: &StoreError,
    ) -> Result<(), StoreError> {
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
    pub(super) fn load_segments(&self, inner: &Inner) -> Result<Vec<Arc<Segment>>, StoreError> {
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
}
