//! The file connector (`type: file`): follows files and globs, and reads the systemd journal.
//!
//! **Files.** Every `scan_interval` the globs are expanded again, so files that appear later
//! are picked up. A file is known by its device and inode *and* a CRC-32 of its first 256
//! bytes ([`tail::Fingerprint`]): an inode the file system gives to a new file after the old
//! one was deleted is not taken for the old file. Open files are polled every `poll_interval`;
//! each poll reads what was appended (up to 1 MiB per file, then the next file gets its turn),
//! cuts it into lines ([`lines::LineCutter`]: `\n`, a `\r` before it removed, lines longer than
//! `max_line_size` cut, marked `oversized_line`, counted, and the rest of the line skipped),
//! joins lines into records when `multiline` is set ([`lines::Joiner`]), and sends them as one
//! batch. A line without its `\n` yet is held until it is complete.
//!
//! **Rotation by rename.** The open file is read through its descriptor, so a file renamed
//! away (`app.log` → `app.log.1`) is read to its end; the new `app.log` is a new inode, read
//! from its beginning. When a file is read to its end and its path leads to another file (or
//! to none), the globs are scanned at once, so the new file is found within a `poll_interval`
//! (a file that lives shorter than that under a watched name can be missed). A file whose path
//! no longer leads to it, with no new data for
//! `max(10 s, 2 × scan_interval)`, is closed (its unterminated last line is sent then). If the
//! renamed file still matches a glob, it is recognised by its inode and fingerprint and not
//! read twice.
//!
//! **Rotation by copytruncate.** A file that becomes shorter than what was read, or whose
//! first bytes change, was truncated: reading starts again at its beginning. What had been
//! read of it is remembered by fingerprint: when the copy (`app.log.1`, another inode with
//! the same first bytes) matches a glob, it is read from where the original was left, so the
//! lines written between the last poll and the copy are read once, from the copy. A file that
//! has the first bytes of a file still open and not yet truncated is taken as a copy in
//! progress and left for up to three scans. (copytruncate itself loses what the writer
//! appends between the copy and the truncation; no reader can see those lines.)
//!
//! **Compressed files.** Names ending in `.gz` or `.zst` are read once, whole, as a stream
//! (never tailed). Their decompressed beginning is fingerprinted too: a compressed copy of a
//! file that was already read (`app.log.1` compressed to `app.log.1.gz`) is read only past
//! what was read of the original. One that cannot be decompressed is counted
//! (`corrupt_compressed`) and what came out of it before the error is kept.
//!
//! **Checkpoints.** Every batch goes to the pipeline with an [`Ack`](vigil_pipeline::Ack).
//! The position of each file (device, inode, fingerprint, offset) moves only when the
//! pipeline answers that the batches up to it are **durable** (every destination wrote their
//! events; the store: appended to its write-ahead log), in the order they were sent
//! ([`Settle`]); the positions are saved in
//! `<data_dir>/connectors/<collector id>/checkpoints.json`, fsynced, at most every 200 ms and
//! at shutdown (which first waits, at most 30 s, for the answers on the batches in flight). The
//! offset is the start of a multiline record still being joined, or the end of the last line
//! sent: after a restart reading resumes there, so no line is lost and none is sent twice. A
//! batch answered *not durable* (a destination gave it up at shutdown) stops the positions
//! where they were (counted `not_durable`): it and everything after it is read again at the
//! next start. After a crash (no shutdown), the lines made durable within the last 200 ms may
//! be sent again; lines accepted but not yet durable are read again, never lost. `start_at: end` applies
//! to files found at the very first start (no checkpoint file yet); later files are read from
//! their beginning.
//!
//! **Journal.** With `journal`, `journalctl --output=json --follow` runs as a child process
//! ([`journal`]); each entry (one JSON object) is a record, and its `__CURSOR` is saved in the
//! same checkpoint file once its batch is durable, so a restart passes `--after-cursor` and
//! continues after the last entry stored.
//!
//! **Origin.** Each batch holds the records of one file; the pipeline sets `log.file.path` (the
//! path the file was found under) and `log.file.offset` (where the record begins in the file)
//! on the events made from them ([`FileOrigin`]).
//!
//! Metrics (component kind `connector`): `events_in` (records sent), `bytes_in` (bytes read
//! from files and the journal), errors `oversized_line`, `read` (a file could not be read),
//! `corrupt_compressed`, `checkpoint` (the checkpoint could not be written), `journal`
//! (journalctl failed or exited), `not_durable` (a batch a destination gave up on: positions
//! stop), drop `pipeline_closed`, gauge `files` (files open).

use std::collections::{HashMap, HashSet, VecDeque};
use std::io::Read as _;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use smol_str::SmolStr;
use vigil_event::Timestamp;
use vigil_pipeline::{
    Ack, AckWait, BoxFuture, ComponentError, ComponentMetrics, Connector, ConnectorContext,
    FileOrigin, RawBatch, RawRecord, RawSender, ShutdownSignal, SourceInfo,
};

use crate::IngestError;

pub(crate) mod checkpoint;
mod journal;
pub(crate) mod lines;
mod tail;

use checkpoint::{Checkpoints, FileMark};
use lines::{LineCutter, MultilineRule, Rec};
use tail::{Fingerprint, Polled, Tailer};

/// The file connector's settings: the validated configuration type itself
/// (`collectors[].connector` with `type: file`); `state_dir` is set by the topology.
pub use vigil_config::FileConfig as FileSettings;

/// Bytes read from one file per poll before the next file's turn.
const FILE_BUDGET: u64 = 1 << 20;
/// Most records in one batch.
const BATCH_MAX: usize = 1024;
/// Least time between two checkpoint writes while data flows.
const SAVE_EVERY: Duration = Duration::from_millis(200);
/// Scans a possible copy of an open file waits for the original to be truncated.
const COPY_WAIT_SCANS: u32 = 3;
/// How long shutdown waits for the pipeline's answers on the batches in flight.
pub(crate) const SHUTDOWN_WAIT: Duration = Duration::from_secs(30);
/// Most sends waiting for the pipeline's answers before reading waits for them.
const MAX_UNSETTLED: usize = 256;

/// Follows files (and the journal). Build with [`FileConnector::new`].
#[derive(Debug)]
pub struct FileConnector {
    settings: FileSettings,
    rule: Option<MultilineRule>,
    exclude: Vec<glob::Pattern>,
}

impl FileConnector {
    /// Compiles the patterns; `settings.state_dir` must be set (the topology sets it to
    /// `<data_dir>/connectors/<collector id>`). Nothing is opened or created yet.
    pub fn new(settings: FileSettings) -> Result<FileConnector, IngestError> {
        let invalid = |field, reason: String| IngestError::Invalid { field, reason };
        if settings.state_dir.as_os_str().is_empty() {
            return Err(invalid("state_dir", "no directory for checkpoints".into()));
        }
        if settings.paths.is_empty() && settings.journal.is_none() {
            return Err(invalid("paths", "no file, glob or journal to read".into()));
        }
        for p in &settings.paths {
            glob::Pattern::new(&p.to_string_lossy())
                .map_err(|e| invalid("paths", format!("{}: {}", p.display(), e.msg)))?;
        }
        let exclude = settings
            .exclude
            .iter()
            .map(|e| {
                glob::Pattern::new(e).map_err(|err| invalid("exclude", format!("{e}: {}", err.msg)))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let rule = match &settings.multiline {
            None => None,
            Some(m) => Some(MultilineRule {
                pattern: regex::bytes::Regex::new(&m.pattern)
                    .map_err(|e| invalid("multiline.pattern", e.to_string()))?,
                negate: m.negate,
                after: m.after,
                max_lines: m.max_lines.max(1),
                timeout: m.timeout,
            }),
        };
        if settings.max_line_size == 0 {
            return Err(invalid("max_line_size", "must be at least 1 byte".into()));
        }
        Ok(FileConnector {
            settings,
            rule,
            exclude,
        })
    }

    fn excluded(&self, p: &Path) -> bool {
        let name = p.file_name().map(|n| n.to_string_lossy());
        self.exclude.iter().any(|e| {
            e.matches_path(p)
                || (!e.as_str().contains('/') && name.as_deref().is_some_and(|n| e.matches(n)))
        })
    }
}

impl Connector for FileConnector {
    fn run(self: Box<Self>, ctx: ConnectorContext) -> BoxFuture<Result<(), ComponentError>> {
        Box::pin(async move {
            let metrics = ctx.metrics.clone();
            match tokio::task::spawn_blocking(move || run_blocking(*self, ctx)).await {
                Ok(r) => r,
                Err(e) => Err(ComponentError::new(&metrics, format!("file reader: {e}"))),
            }
        })
    }
}

/// What the reading loop shares with the journal reader.
#[derive(Debug, Clone)]
pub(crate) struct Out {
    pub tx: RawSender,
    pub source: Arc<SourceInfo>,
    pub metrics: ComponentMetrics,
    pub shutdown: ShutdownSignal,
    pub checkpoints: Arc<Mutex<Checkpoints>>,
}

impl Out {
    /// Sends `recs` in batches; `false` when the pipeline is gone (nothing more can be sent,
    /// and the positions must not move). The positions may move as soon as this returns.
    pub fn send(&self, recs: Vec<Rec>) -> bool {
        self.send_from(recs, None, false).is_some()
    }

    /// Sends `recs` in batches, each with an [`Ack`] when `acked`: the answers to wait for
    /// before the positions move, or `None` when the pipeline is gone. `file`: the path the
    /// records were read from and where the first one begins (the next begins where the one
    /// before ends).
    pub fn send_from(
        &self,
        recs: Vec<Rec>,
        file: Option<(&SmolStr, u64)>,
        acked: bool,
    ) -> Option<Vec<AckWait>> {
        let mut waits = Vec::new();
        if recs.is_empty() {
            return Some(waits);
        }
        let received = Timestamp::now();
        let mut records: Vec<RawRecord> = Vec::with_capacity(recs.len().min(BATCH_MAX));
        let mut offsets: Vec<u64> = Vec::new();
        let mut at = file.map_or(0, |f| f.1);
        let mut oversized = 0;
        let total = recs.len();
        for (i, r) in recs.into_iter().enumerate() {
            if r.error.is_some() {
                oversized += 1;
            }
            if file.is_some() {
                offsets.push(at);
                at = r.end;
            }
            records.push(RawRecord {
                data: r.data,
                received,
                peer: None,
                transport_error: r.error.map(SmolStr::new_static),
            });
            if records.len() == BATCH_MAX || i + 1 == total {
                let n = records.len() as u64;
                let ack = acked.then(|| {
                    let (ack, wait) = Ack::new();
                    waits.push(wait);
                    ack
                });
                let batch = RawBatch {
                    source: self.source.clone(),
                    records: std::mem::take(&mut records),
                    ack,
                    file: file.map(|(path, _)| FileOrigin {
                        path: path.clone(),
                        offsets: std::mem::take(&mut offsets),
                    }),
                };
                if self.tx.send(batch).is_err() {
                    self.metrics.drop("pipeline_closed", n);
                    return None;
                }
                self.metrics.events_in(n);
            }
        }
        if oversized > 0 {
            self.metrics.error(lines::OVERSIZED, oversized);
        }
        Some(waits)
    }

    /// Writes the checkpoints, counting a failure.
    pub fn save(&self) {
        if let Err(e) = self.checkpoints.lock().save() {
            self.metrics.error("checkpoint", 1);
            tracing::warn!(connector = %self.source.id, error = %e, "cannot write checkpoints");
        }
    }
}

/// Positions waiting for the pipeline's answers on the batches sent before them: each moves
/// (is handed out by [`Settle::ready`]) once every batch up to it is durable, in the order
/// they were sent. After a batch that is not durable, none moves any more: what was sent from
/// then on is read again at the next start.
pub(crate) struct Settle<T> {
    queue: VecDeque<(Vec<AckWait>, T)>,
    broken: bool,
}

impl<T> Settle<T> {
    pub fn new() -> Settle<T> {
        Settle {
            queue: VecDeque::new(),
            broken: false,
        }
    }

    /// `t` moves once `waits` (and every earlier send's) are answered durable.
    pub fn push(&mut self, waits: Vec<AckWait>, t: T) {
        self.queue.push_back((waits, t));
    }

    /// Sends whose answers have not all come.
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// Whether a batch was answered not durable (positions no longer move).
    pub fn broken(&self) -> bool {
        self.broken
    }

    /// The positions whose batches are all durable now, in order.
    pub fn ready(&mut self, metrics: &ComponentMetrics, source: &str) -> Vec<T> {
        let mut out = Vec::new();
        while let Some((waits, _)) = self.queue.front_mut() {
            let mut failed = false;
            waits.retain_mut(|w| match w.try_durable() {
                None => true,
                Some(d) => {
                    failed |= !d;
                    false
                }
            });
            if failed && !self.broken {
                self.broken = true;
                metrics.error("not_durable", 1);
                tracing::warn!(
                    connector = %source,
                    "a batch was not written by every destination; positions no longer move \
                     (what was sent from then on is read again at the next start)"
                );
            }
            if !waits.is_empty() && !failed {
                break;
            }
            if let Some((_, t)) = self.queue.pop_front()
                && !self.broken
            {
                out.push(t);
            }
        }
        out
    }

    /// Waits (at most `limit`) for every answer; what is not answered by then is taken as not
    /// durable.
    pub fn drain(&mut self, limit: Duration, metrics: &ComponentMetrics, source: &str) -> Vec<T> {
        let end = Instant::now() + limit;
        let mut out = self.ready(metrics, source);
        while !self.queue.is_empty() {
            if Instant::now() >= end {
                self.queue.clear();
                if !self.broken {
                    self.broken = true;
                    metrics.error("not_durable", 1);
                }
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
            out.extend(self.ready(metrics, source));
        }
        out
    }
}

/// What was read of a file that was truncated, waiting for its copy.
#[derive(Debug)]
struct Orphan {
    fp: Fingerprint,
    offset: u64,
    at: Instant,
}

struct Reader {
    conn: FileConnector,
    out: Out,
    tailers: Vec<Tailer>,
    orphans: Vec<Orphan>,
    /// Files that look like a copy of an open file, by id, with the scans they waited.
    copies: HashMap<(u64, u64), u32>,
    /// Compressed files found and not yet read whole.
    compressed: Vec<PathBuf>,
    first_scan: bool,
    /// A path was seen to lead to another file: scan at once.
    rescan: bool,
    files_gauge: Arc<AtomicI64>,
    close_after: Duration,
    /// Positions waiting for the pipeline's answers.
    settle: Settle<Vec<FileMark>>,
    /// Compressed files read whole in this run, whose `done` mark may still be settling.
    compressed_read: HashSet<(u64, u64)>,
}

fn run_blocking(conn: FileConnector, ctx: ConnectorContext) -> Result<(), ComponentError> {
    let checkpoints = match Checkpoints::open(&conn.settings.state_dir) {
        Ok(c) => c,
        Err(e) => {
            ctx.shutdown_all.trigger();
            return Err(ComponentError::new(&ctx.metrics, e));
        }
    };
    let first_start = !checkpoints.existed;
    let out = Out {
        tx: ctx.out.clone(),
        source: ctx.source.clone(),
        metrics: ctx.metrics.clone(),
        shutdown: ctx.shutdown.clone(),
        checkpoints: Arc::new(Mutex::new(checkpoints)),
    };
    let journal = conn
        .settings
        .journal
        .clone()
        .map(|j| journal::spawn(j, conn.settings.max_line_size, out.clone()));
    let close_after = (conn.settings.scan_interval * 2).max(Duration::from_secs(10));
    let mut r = Reader {
        out,
        tailers: Vec::new(),
        orphans: Vec::new(),
        copies: HashMap::new(),
        compressed: Vec::new(),
        first_scan: first_start,
        rescan: false,
        files_gauge: ctx.metrics.gauge("files"),
        close_after,
        settle: Settle::new(),
        compressed_read: HashSet::new(),
        conn,
    };
    tracing::info!(connector = %ctx.source.id, paths = r.conn.settings.paths.len(),
        "file connector started");
    let result = r.run();
    r.stop();
    if let Some(j) = journal {
        let _ = j.join();
    }
    tracing::info!(connector = %ctx.source.id, "file connector stopped");
    result.map_err(|e| ComponentError::new(&ctx.metrics, e))
}

impl Reader {
    fn run(&mut self) -> Result<(), String> {
        let mut next_scan = Instant::now();
        let mut last_save = Instant::now();
        let mut dirty = false;
        while !self.out.shutdown.is_triggered() {
            let now = Instant::now();
            if now >= next_scan || self.rescan {
                self.rescan = false;
                self.scan();
                next_scan = now + self.conn.settings.scan_interval;
            }
            if let Some(p) = self.compressed.pop() {
                if !self.read_compressed(&p) {
                    return Ok(());
                }
                continue;
            }
            let more = match self.poll_all() {
                Some(x) => x,
                None => return Ok(()),
            };
            dirty |= self.settled();
            // reading runs ahead of the answers by a bounded number of sends
            while self.settle.len() >= MAX_UNSETTLED && !self.out.shutdown.is_triggered() {
                std::thread::sleep(Duration::from_millis(5));
                dirty |= self.settled();
            }
            if dirty && last_save.elapsed() >= SAVE_EVERY {
                self.out.save();
                last_save = Instant::now();
                dirty = false;
            }
            if !more {
                self.close_gone();
                sleep_until(&self.out.shutdown, self.conn.settings.poll_interval);
            }
        }
        Ok(())
    }

    /// Applies the positions whose batches are durable now; whether any moved.
    fn settled(&mut self) -> bool {
        let ready = self.settle.ready(&self.out.metrics, &self.out.source.id);
        if ready.is_empty() {
            return false;
        }
        let mut cp = self.out.checkpoints.lock();
        for marks in ready {
            for m in marks {
                cp.set_file(m);
            }
        }
        true
    }

    /// Sends `recs`, read from `path` beginning at `start`, with acknowledgements; the
    /// answers, or `None` when the pipeline is gone.
    fn send_acked(&self, recs: Vec<Rec>, path: &Path, start: u64) -> Option<Vec<AckWait>> {
        let path = SmolStr::new(path.to_string_lossy());
        self.out.send_from(recs, Some((&path, start)), true)
    }

    /// Polls every open file once; whether a file has more to read now. `None` when the
    /// pipeline is gone.
    fn poll_all(&mut self) -> Option<bool> {
        // the records of each file, with where the first begins
        let mut groups: Vec<(u64, Vec<Rec>)> = Vec::with_capacity(self.tailers.len());
        let mut more = false;
        let now = Instant::now();
        let mut truncated = Vec::new();
        for (i, t) in self.tailers.iter_mut().enumerate() {
            let start = t.checkpoint();
            let mut recs = Vec::new();
            match t.poll(FILE_BUDGET, &mut recs) {
                Ok(Polled::Read { bytes, more: m }) => {
                    self.out.metrics.bytes_in(bytes);
                    more |= m;
                    // at its end, a file whose path now leads elsewhere was rotated: scan now
                    // rather than at the next scan_interval, so the new file is found at once
                    if !m && t.gone_since.is_none() && !t.path_leads_here() {
                        self.rescan = true;
                    }
                }
                Ok(Polled::Truncated(_)) => truncated.push(i),
                Err(e) => {
                    self.out.metrics.error("read", 1);
                    tracing::warn!(path = %t.path.display(), error = %e, "cannot read file");
                }
            }
            t.tick(now, &mut recs);
            groups.push((start, recs));
        }
        for i in truncated {
            if let (Some(t), Some((_, recs))) = (self.tailers.get_mut(i), groups.get_mut(i)) {
                let fp_before = t.fp;
                match t.restart(recs) {
                    Ok(offset) => {
                        tracing::info!(path = %t.path.display(), offset, "file truncated; reading it again from its beginning");
                        if offset > 0 {
                            self.orphans.push(Orphan {
                                fp: fp_before,
                                offset,
                                at: now,
                            });
                        }
                        more = true;
                    }
                    Err(e) => {
                        self.out.metrics.error("read", 1);
                        tracing::warn!(path = %t.path.display(), error = %e, "cannot read file");
                    }
                }
            }
        }
        let mut waits = Vec::new();
        for (t, (start, recs)) in self.tailers.iter().zip(groups) {
            if !recs.is_empty() {
                waits.extend(self.send_acked(recs, &t.path, start)?);
            }
        }
        if !waits.is_empty() {
            let marks = self.current_marks();
            self.settle.push(waits, marks);
        }
        Some(more)
    }

    /// Every open file's mark at what was sent.
    fn current_marks(&self) -> Vec<FileMark> {
        self.tailers
            .iter()
            .map(|t| FileMark {
                dev: t.dev,
                ino: t.ino,
                fp: t.fp.crc,
                fp_len: t.fp.len,
                offset: t.checkpoint(),
                path: t.path.to_string_lossy().into_owned(),
                done: false,
                updated: 0,
            })
            .collect()
    }

    /// Expands the globs: new files are opened, renamed ones followed, missing ones noted.
    fn scan(&mut self) {
        let first = std::mem::replace(&mut self.first_scan, false);
        let mut seen: HashSet<(u64, u64)> = HashSet::new();
        let mut found: Vec<(PathBuf, std::fs::Metadata)> = Vec::new();
        let opts = glob::MatchOptions {
            case_sensitive: true,
            require_literal_separator: true,
            require_literal_leading_dot: false,
        };
        for pattern in &self.conn.settings.paths {
            let Ok(paths) = glob::glob_with(&pattern.to_string_lossy(), opts) else {
                continue;
            };
            for p in paths.flatten() {
                if self.conn.excluded(&p) {
                    continue;
                }
                let Ok(md) = std::fs::metadata(&p) else {
                    continue;
                };
                if md.is_file() && seen.insert((md.dev(), md.ino())) {
                    found.push((p, md));
                }
            }
        }
        // files whose path no longer leads to them
        for t in &mut self.tailers {
            if seen.contains(&(t.dev, t.ino)) {
                t.gone_since = None;
            } else if t.gone_since.is_none() {
                t.gone_since = Some(Instant::now());
            }
        }
        self.orphans
            .retain(|o| o.at.elapsed() < Duration::from_secs(3600));
        let mut copies = HashMap::new();
        for (path, md) in found {
            let id = (md.dev(), md.ino());
            if let Some(t) = self.tailers.iter_mut().find(|t| (t.dev, t.ino) == id) {
                t.path = path;
                continue;
            }
            if tail::is_compressed(&path) {
                if first && self.conn.settings.start_at == vigil_config::StartAt::End {
                    // only what is written from now on: existing archives are not read
                    if let Ok(f) = std::fs::File::open(&path)
                        && let Ok(fp) = Fingerprint::read(&f, tail::FP_MAX)
                    {
                        self.out.checkpoints.lock().set_file(FileMark {
                            dev: id.0,
                            ino: id.1,
                            fp: fp.crc,
                            fp_len: fp.len,
                            offset: 0,
                            path: path.to_string_lossy().into_owned(),
                            done: true,
                            updated: 0,
                        });
                    }
                } else if !self.compressed.contains(&path)
                    && !self.compressed_read.contains(&id)
                    && !self.compressed_done(&path, &md)
                {
                    self.compressed.push(path);
                }
                continue;
            }
            let Ok(f) = std::fs::File::open(&path) else {
                continue;
            };
            let Ok(fp) = Fingerprint::read(&f, tail::FP_MAX) else {
                continue;
            };
            let len = md.len();
            let offset = match self.resume_offset(&f, id, fp, len) {
                Some(o) => o,
                None => {
                    // the same first bytes as a file still open: a copy being made?
                    let waited = self.copies.get(&id).copied().unwrap_or(0);
                    if fp.len > 0
                        && waited < COPY_WAIT_SCANS
                        && self
                            .tailers
                            .iter()
                            .any(|t| t.fp.len > 0 && prefix_matches(&f, t.fp, fp))
                    {
                        copies.insert(id, waited + 1);
                        continue;
                    }
                    if first && self.conn.settings.start_at == vigil_config::StartAt::End {
                        len
                    } else {
                        0
                    }
                }
            };
            match Tailer::open(
                &path,
                offset,
                self.conn.settings.max_line_size,
                self.conn.rule.clone(),
            ) {
                Ok(t) if (t.dev, t.ino) == id => {
                    tracing::debug!(path = %path.display(), offset, "following file");
                    self.tailers.push(t);
                }
                Ok(_) => {} // replaced between the scan and the open: next scan
                Err(e) => {
                    self.out.metrics.error("read", 1);
                    tracing::warn!(path = %path.display(), error = %e, "cannot open file");
                }
            }
        }
        self.copies = copies;
        self.files_gauge
            .store(self.tailers.len() as i64, Ordering::Relaxed);
    }

    /// Where to start in a newly found plain file: its own mark (same inode, same first
    /// bytes), or what was read of a truncated file it is a copy of. `None` when nothing
    /// is known of it.
    fn resume_offset(
        &mut self,
        f: &std::fs::File,
        id: (u64, u64),
        fp: Fingerprint,
        len: u64,
    ) -> Option<u64> {
        let mark = self.out.checkpoints.lock().file(id.0, id.1).cloned();
        if let Some(m) = mark
            && !m.done
        {
            let want = Fingerprint {
                crc: m.fp,
                len: m.fp_len,
            };
            if prefix_matches(f, want, fp) {
                // shorter than what was read: truncated while the connector was stopped
                return Some(if m.offset > len { 0 } else { m.offset });
            }
        }
        let i = self
            .orphans
            .iter()
            .position(|o| o.fp.len > 0 && prefix_matches(f, o.fp, fp))?;
        let o = self.orphans.remove(i);
        tracing::info!(
            offset = o.offset,
            "copy of a truncated file; reading it past what was read"
        );
        Some(o.offset.min(len))
    }

    fn compressed_done(&self, path: &Path, md: &std::fs::Metadata) -> bool {
        let cp = self.out.checkpoints.lock();
        let Some(m) = cp.file(md.dev(), md.ino()) else {
            return false;
        };
        let Ok(f) = std::fs::File::open(path) else {
            return true;
        };
        m.done
            && Fingerprint::read(&f, m.fp_len as usize).is_ok_and(|fp| {
                fp == Fingerprint {
                    crc: m.fp,
                    len: m.fp_len,
                }
            })
    }

    /// Reads a `.gz` or `.zst` file whole; `false` when the pipeline is gone.
    fn read_compressed(&mut self, path: &Path) -> bool {
        let fail = |r: &Reader, e: String| {
            r.out.metrics.error("read", 1);
            tracing::warn!(path = %path.display(), error = %e, "cannot read compressed file");
            true
        };
        let mut f = match std::fs::File::open(path) {
            Ok(f) => f,
            Err(e) => return fail(self, e.to_string()),
        };
        let (md, cfp) = match f
            .metadata()
            .and_then(|md| Ok((md, Fingerprint::read(&f, tail::FP_MAX)?)))
        {
            Ok(x) => x,
            Err(e) => return fail(self, e.to_string()),
        };
        let size = md.len();
        let mut mark = FileMark {
            dev: md.dev(),
            ino: md.ino(),
            fp: cfp.crc,
            fp_len: cfp.len,
            offset: 0,
            path: path.to_string_lossy().into_owned(),
            done: false,
            updated: 0,
        };
        let resumed = {
            let cp = self.out.checkpoints.lock();
            cp.file(mark.dev, mark.ino)
                .filter(|m| m.fp == cfp.crc && m.fp_len == cfp.len)
                .map(|m| m.offset)
        };
        let kind = match tail::sniff(&mut f) {
            Ok(k) => k,
            Err(e) => return fail(self, e.to_string()),
        };
        let mut stream: Box<dyn std::io::Read> = match kind {
            Some("gz") => Box::new(flate2::read::MultiGzDecoder::new(std::io::BufReader::new(
                f,
            ))),
            Some(_) => match zstd::stream::read::Decoder::new(f) {
                Ok(d) => Box::new(d),
                Err(e) => return fail(self, e.to_string()),
            },
            None => {
                self.out.metrics.error("corrupt_compressed", 1);
                tracing::warn!(path = %path.display(), "named as compressed but neither gzip nor zstd; skipped");
                mark.done = true;
                self.settle.push(Vec::new(), vec![mark]);
                return true;
            }
        };
        let head = match Tailer::head_of(&mut stream) {
            Ok(h) => h,
            Err(e) => return self.compressed_error(path, mark, size, &e.to_string(), Vec::new()),
        };
        // already read: as this file (resumed), or as the plain file it was compressed from
        let skip = resumed.unwrap_or_else(|| self.read_before(&head));
        // where the next record sent begins
        let mut at = skip;
        let max = self.conn.settings.max_line_size;
        let mut cutter = LineCutter::new(0, max);
        let mut recs: Vec<Rec> = Vec::new();
        let feed = |cutter: &mut LineCutter, data: &[u8], recs: &mut Vec<Rec>| {
            cutter.push(data, &mut |r, _| {
                if r.end > skip {
                    recs.push(r)
                }
            });
        };
        feed(&mut cutter, &head, &mut recs);
        self.out.metrics.bytes_in(head.len() as u64);
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            if self.out.shutdown.is_triggered() {
                // partial: resume at the last line sent
                self.compressed.push(path.to_path_buf());
                break;
            }
            let n = match stream.read(&mut buf) {
                Ok(n) => n,
                Err(e) => {
                    let end = recs.last().map(|r| r.end);
                    let Some(waits) = self.send_acked(std::mem::take(&mut recs), path, at) else {
                        return false;
                    };
                    if let Some(end) = end {
                        mark.offset = end;
                    }
                    return self.compressed_error(path, mark, size, &e.to_string(), waits);
                }
            };
            if n == 0 {
                let mut last = Vec::new();
                cutter.finish(&mut |r, _| {
                    if r.end > skip {
                        last.push(r)
                    }
                });
                recs.extend(last);
                mark.done = true;
            }
            self.out.metrics.bytes_in(n as u64);
            feed(&mut cutter, &buf[..n], &mut recs);
            if recs.len() >= BATCH_MAX || mark.done {
                let end = recs.last().map(|r| r.end);
                let Some(waits) = self.send_acked(std::mem::take(&mut recs), path, at) else {
                    return false;
                };
                if let Some(end) = end {
                    mark.offset = end;
                    at = end;
                }
                self.settle.push(waits, vec![mark.clone()]);
                if mark.done {
                    self.compressed_read.insert((mark.dev, mark.ino));
                    tracing::info!(path = %path.display(), "compressed file read");
                    return true;
                }
            }
        }
        let end = recs.last().map(|r| r.end);
        let Some(waits) = self.send_acked(recs, path, at) else {
            return false;
        };
        if let Some(end) = end {
            mark.offset = end;
        }
        self.settle.push(waits, vec![mark]);
        true
    }

    /// A compressed stream that ends in an error: still being written (its size changes), so
    /// it is read again at the next scan; or corrupt, counted, and kept as read so far.
    fn compressed_error(
        &mut self,
        path: &Path,
        mut mark: FileMark,
        size: u64,
        e: &str,
        waits: Vec<AckWait>,
    ) -> bool {
        let now = std::fs::metadata(path).map(|m| m.len()).unwrap_or(size);
        let fresh = std::fs::metadata(path)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|d| d < Duration::from_secs(5));
        if now != size || fresh {
            tracing::debug!(path = %path.display(), "compressed file still being written");
            self.settle.push(waits, vec![mark]);
            return true;
        }
        self.out.metrics.error("corrupt_compressed", 1);
        tracing::warn!(path = %path.display(), error = %e, "corrupt compressed file; what was read of it is kept");
        mark.done = true;
        self.compressed_read.insert((mark.dev, mark.ino));
        self.settle.push(waits, vec![mark]);
        true
    }

    /// How much of a file whose content begins with `head` was read already as a plain file
    /// (an open one, or a saved mark).
    fn read_before(&self, head: &[u8]) -> u64 {
        let matches = |crc: u32, len: u32| {
            len > 0 && (len as usize) <= head.len() && crc32fast::hash(&head[..len as usize]) == crc
        };
        let open = self
            .tailers
            .iter()
            .filter(|t| matches(t.fp.crc, t.fp.len))
            .map(Tailer::checkpoint);
        let cp = self.out.checkpoints.lock();
        let saved = cp
            .state
            .files
            .iter()
            .filter(|m| !m.done && matches(m.fp, m.fp_len))
            .map(|m| m.offset);
        open.chain(saved).max().unwrap_or(0)
    }

    /// Closes files whose path is gone and that had no new data for a while.
    fn close_gone(&mut self) {
        let after = self.close_after;
        let mut sends = Vec::new();
        let mut closed = Vec::new();
        self.tailers.retain_mut(|t| {
            let idle = t.last_data.elapsed() >= after;
            if t.gone_since.is_some_and(|g| g.elapsed() >= after) && idle {
                let start = t.checkpoint();
                let mut recs = Vec::new();
                t.finish(&mut recs);
                sends.push((t.path.clone(), start, recs));
                closed.push(FileMark {
                    dev: t.dev,
                    ino: t.ino,
                    fp: t.fp.crc,
                    fp_len: t.fp.len,
                    offset: t.checkpoint(),
                    path: t.path.to_string_lossy().into_owned(),
                    done: false,
                    updated: 0,
                });
                tracing::debug!(path = %t.path.display(), "closed rotated file");
                false
            } else {
                true
            }
        });
        if closed.is_empty() {
            return;
        }
        let mut waits = Vec::new();
        for (path, start, recs) in sends {
            match self.send_acked(recs, &path, start) {
                Some(w) => waits.extend(w),
                None => return,
            }
        }
        self.settle.push(waits, closed);
        self.files_gauge
            .store(self.tailers.len() as i64, Ordering::Relaxed);
    }

    /// At shutdown: waits for the answers on the batches in flight, records still being
    /// joined are dropped (read again next time), positions saved.
    fn stop(&mut self) {
        let ready = self
            .settle
            .drain(SHUTDOWN_WAIT, &self.out.metrics, &self.out.source.id);
        let current = (!self.settle.broken()).then(|| self.current_marks());
        {
            let mut cp = self.out.checkpoints.lock();
            for m in ready.into_iter().flatten() {
                cp.set_file(m);
            }
            // everything sent is durable: the marks of what was sent (they point at the start
            // of records still being joined)
            for m in current.into_iter().flatten() {
                cp.set_file(m);
            }
        }
        for t in &mut self.tailers {
            t.discard_pending();
        }
        self.out.save();
        let held: usize = self.tailers.iter().map(Tailer::held).sum();
        tracing::debug!(held, "file positions saved");
    }
}

/// Whether `f` begins with the bytes `want` fingerprints; `have` is `f`'s own fingerprint
/// (up to [`tail::FP_MAX`] bytes), which answers without reading when the lengths agree.
fn prefix_matches(f: &std::fs::File, want: Fingerprint, have: Fingerprint) -> bool {
    if want.len == have.len {
        return want == have;
    }
    if want.len > have.len {
        return false;
    }
    want.matches(f).unwrap_or(false)
}

/// CRC-32 of the first `n` bytes of `f` (fewer when it is shorter).
pub(crate) fn tail_fingerprint(f: &std::fs::File, n: usize) -> std::io::Result<u32> {
    let mut buf = Vec::with_capacity(n);
    #[allow(clippy::disallowed_methods)] // bounded by take()
    f.take(n as u64).read_to_end(&mut buf)?;
    Ok(crc32fast::hash(&buf))
}

/// Sleeps `d`, waking early on shutdown.
pub(crate) fn sleep_until(shutdown: &ShutdownSignal, d: Duration) {
    let end = Instant::now() + d;
    while !shutdown.is_triggered() {
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        std::thread::sleep(left.min(Duration::from_millis(50)));
    }
}
