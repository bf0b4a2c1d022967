//! A partition: the WAL, memtable and segments of one tenant's storage space, and its append,
//! freeze, seal and statistics paths. Opening and recovery are in `recovery.rs`, the WAL
//! files' lifecycle (rotation, sync, deletion) next to the frame format in `wal.rs`.

use super::*;

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
pub(crate) struct Partition {
    pub(super) name: TenantId,
    /// The storage space this partition holds, with its retention and hot age (as
    /// configured: [`Partition::retention`] is the one in force).
    pub(crate) space: SpaceSettings,
    /// Retention set at run time (`Some(None)`: forever), overriding `space.retention`; kept
    /// in the partition's `retention.override` file.
    pub(crate) retention_set: RwLock<Option<Option<Duration>>>,
    pub(super) wal_dir: PathBuf,
    pub(super) seg_dir: PathBuf,
    /// The cold tier's segments (read and aged out like the hot ones).
    pub(super) cold_dir: PathBuf,
    pub(super) quarantine_dir: PathBuf,
    /// One merge or tiering pass at a time.
    pub(super) maint: Mutex<()>,
    /// The tamper-evidence manifest (a leaf lock).
    pub(super) manifest: Mutex<integrity::Manifest>,
    pub(super) write: Mutex<WriteState>,
    pub(super) sync: Mutex<SyncState>,
    pub(super) sync_serial: Mutex<()>,
    pub(crate) view: RwLock<View>,
    pub(super) wal_closed: Mutex<Vec<ClosedWal>>,
    pub(super) durable: Mutex<u64>,
    pub(super) durable_cv: Condvar,
    pub(super) seal_done: Mutex<()>,
    pub(super) seal_cv: Condvar,
    pub(super) seal_error: Mutex<Option<String>>,
    pub(super) counters: Counters,
}

/// Per-event features computed outside the lock.
pub(super) struct Encoded {
    pub(super) frame: Vec<u8>,
    pub(super) ends: Vec<usize>,
    pub(super) ts: Vec<i64>,
    pub(super) raw_lens: Vec<u32>,
    pub(super) keys: Vec<u64>,
    pub(super) key_ends: Vec<usize>,
    pub(super) tokens: Vec<u64>,
    pub(super) token_ends: Vec<usize>,
    pub(super) col_arena: String,
    pub(super) cols: Vec<(u8, usize, usize)>,
    pub(super) col_ends: Vec<usize>,
    /// Where each event's message starts in its raw record, when it is the raw record's tail
    /// (for its other segment columns, built by the memtable block: sealing decodes no event).
    pub(super) message_at: Vec<Option<usize>>,
}

impl Encoded {
    pub(super) fn new(events: &[Event]) -> Encoded {
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
    pub(super) fn push_into(&self, events: &[Event], first_lsn: u64, mt: &mut Memtable) -> u64 {
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

impl Partition {
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

    pub(super) fn fail(&self, w: &mut WriteState, reason: String) {
        error!(tenant = %self.name, reason = %reason, "tenant store failed; refusing writes");
        w.failed.get_or_insert(reason);
    }

    pub(super) fn failed_err(&self, reason: &str) -> StoreError {
        StoreError::Failed {
            tenant: self.name.to_string(),
            reason: reason.to_owned(),
        }
    }

    pub(super) fn append(
        self: &Arc<Self>,
        inner: &Inner,
        events: &[Event],
    ) -> Result<Lsn, StoreError> {
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

    /// Moves the active memtable to the frozen list and queues it for sealing.
    pub(super) fn freeze_view(self: &Arc<Self>, inner: &Inner, v: &mut View) {
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

    pub(super) fn freeze(self: &Arc<Self>, inner: &Inner) {
        let mut w = self.write.lock();
        let mut v = self.view.write();
        if !v.active.is_empty() {
            self.rotate_wal(&mut w);
            self.freeze_view(inner, &mut v);
        }
    }

    pub(super) fn flush(self: &Arc<Self>, inner: &Inner) -> Result<(), StoreError> {
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
    pub(super) fn seal(&self, inner: &Inner, frozen: &Arc<Frozen>) -> Result<(), StoreError> {
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
    pub(super) fn write_segment(
        &self,
        inner: &Inner,
        frozen: &Frozen,
    ) -> Result<Segment, StoreError> {
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

    pub(super) fn stats(&self) -> StoreStats {
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
