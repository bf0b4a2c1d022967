//! The disk buffer in front of a destination whose next hop may be slow or down (a syslog
//! receiver, an HTTP endpoint, a NATS server).
//!
//! [`DiskBuffer`] is itself a [`Destination`]: the pipeline's destination thread appends each
//! batch to a segment file and goes on; a drain thread of its own reads the segments in order
//! and writes them to the destination it wraps, retrying a batch (backoff 50 ms to 5 s) until
//! the next hop takes it. So a peer that is down for a while costs disk space, not events, and
//! does not hold the other destinations (the store) back.
//!
//! **Files.** `<dir>/<n>.seg`, numbered from 1, each up to [`SEGMENT_BYTES`]; a record is
//! `[len u32][crc32 u32][count u32][events]` (little-endian; events in Vigil's binary
//! encoding). Each append is `fdatasync`ed before `write` returns, so a batch the pipeline
//! counts as written (and a message bus acknowledges) is on disk. `<dir>/cursor` holds the
//! segment and offset the drain has reached, rewritten after each batch the next hop took; a
//! segment drained and no longer written is deleted.
//!
//! **Bounded.** At most `max_bytes` on disk: a batch that does not fit waits (up to a second
//! per attempt, then the pipeline retries): backpressure, never loss. A single batch larger
//! than the bound is taken when the buffer is empty.
//!
//! **Restart.** Opening the directory resumes at the cursor; a torn record at the end of the
//! last segment (a crash mid-append) is cut off. Delivery is at least once: a crash between
//! the next hop taking a batch and the cursor's rewrite sends that batch again (the NATS
//! destination's `Nats-Msg-Id` lets the stream drop it; `_bulk` `create` with the event id as
//! `_id` does the same in Elasticsearch).
//!
//! **Shutdown.** [`Destination::flush`] lets the drain go on for up to
//! [`SHUTDOWN_DRAIN`] while it makes progress, then stops it; what is left stays on disk for
//! the next start.
//!
//! Metrics (on the wrapping destination's component): gauges `buffer_bytes` and
//! `buffer_batches`, errors `buffer_io`, `buffer_corrupt` (a damaged record, skipped with the
//! rest of its segment, its events counted as drop `buffer_corrupt`), `forward` (a failed
//! write to the next hop, retried).

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};
use vigil_event::Event;

use crate::component::{ComponentError, Destination};
use crate::telemetry::ComponentMetrics;

/// Largest segment file (smaller for small buffers: an eighth of the bound, at least 64 KiB),
/// so that drained space is given back in steps.
pub const SEGMENT_BYTES: u64 = 16 << 20;
/// How long shutdown lets the drain go on while it makes progress.
pub const SHUTDOWN_DRAIN: Duration = Duration::from_secs(5);
/// Largest record read back (a corrupt length beyond it ends the segment).
const MAX_RECORD: u32 = 1 << 30;
const HEADER: u64 = 8;

/// Where the writer and the drain meet.
#[derive(Debug)]
struct State {
    /// Segment being appended to, and its length.
    write_seg: u64,
    write_len: u64,
    /// Bytes and records not yet drained.
    bytes: u64,
    batches: u64,
    stop: bool,
}

#[derive(Debug)]
struct Shared {
    dir: PathBuf,
    max_bytes: u64,
    segment_bytes: u64,
    state: Mutex<State>,
    /// Signalled when a record is appended or drained, and at stop.
    changed: Condvar,
    metrics: ComponentMetrics,
    bytes_gauge: Arc<std::sync::atomic::AtomicI64>,
    batches_gauge: Arc<std::sync::atomic::AtomicI64>,
}

impl Shared {
    fn gauges(&self, s: &State) {
        self.bytes_gauge.store(
            i64::try_from(s.bytes).unwrap_or(i64::MAX),
            Ordering::Relaxed,
        );
        self.batches_gauge.store(
            i64::try_from(s.batches).unwrap_or(i64::MAX),
            Ordering::Relaxed,
        );
    }
}

fn seg_path(dir: &Path, n: u64) -> PathBuf {
    dir.join(format!("{n:016}.seg"))
}

/// The segments in `dir`, in order.
fn segments(dir: &Path) -> std::io::Result<Vec<u64>> {
    let mut v: Vec<u64> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            e.file_name()
                .to_str()?
                .strip_suffix(".seg")?
                .parse::<u64>()
                .ok()
        })
        .collect();
    v.sort_unstable();
    Ok(v)
}

/// One record read from `f` at its position: `Ok(None)` at a clean end or a torn/corrupt
/// tail (the caller tells them apart by what follows).
fn read_record(f: &mut File) -> std::io::Result<Option<(u32, Vec<u8>)>> {
    let mut h = [0u8; HEADER as usize];
    match f.read_exact(&mut h) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = u32::from_le_bytes([h[0], h[1], h[2], h[3]]);
    let crc = u32::from_le_bytes([h[4], h[5], h[6], h[7]]);
    if len > MAX_RECORD {
        return Ok(None);
    }
    let mut body = vec![0u8; len as usize];
    match f.read_exact(&mut body) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    if crc32fast::hash(&body) != crc {
        return Ok(None);
    }
    Ok(Some((len, body)))
}

fn decode(body: &[u8]) -> Option<Vec<Event>> {
    let n = u32::from_le_bytes(body.get(..4)?.try_into().ok()?) as usize;
    let mut rest = &body[4..];
    let mut out = Vec::with_capacity(n.min(1 << 16));
    for _ in 0..n {
        let (e, r) = Event::decode(rest).ok()?;
        out.push(e);
        rest = r;
    }
    Some(out)
}

fn read_cursor(dir: &Path) -> (u64, u64) {
    match vigil_config::read_file_capped(&dir.join("cursor"), 64) {
        Ok(b) if b.len() == 16 => (
            u64::from_le_bytes(b[..8].try_into().unwrap_or_default()),
            u64::from_le_bytes(b[8..].try_into().unwrap_or_default()),
        ),
        _ => (0, 0),
    }
}

fn write_cursor(dir: &Path, seg: u64, off: u64) -> std::io::Result<()> {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&seg.to_le_bytes());
    b[8..].copy_from_slice(&off.to_le_bytes());
    let tmp = dir.join("cursor.tmp");
    vigil_fs::write(&tmp, b)?;
    std::fs::rename(tmp, dir.join("cursor"))
}

/// A destination behind a bounded disk buffer.
pub struct DiskBuffer {
    shared: Arc<Shared>,
    file: File,
    drain: Option<JoinHandle<()>>,
    scratch: Vec<u8>,
}

impl std::fmt::Debug for DiskBuffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiskBuffer")
            .field("dir", &self.shared.dir)
            .finish_non_exhaustive()
    }
}

impl DiskBuffer {
    /// Opens (or creates, mode 0700) the buffer in `dir`, holding at most `max_bytes`, and
    /// starts draining it into `inner`. `metrics` are the wrapping destination's.
    pub fn open(
        dir: &Path,
        max_bytes: u64,
        inner: Box<dyn Destination>,
        metrics: ComponentMetrics,
    ) -> std::io::Result<DiskBuffer> {
        vigil_fs::create_dir_all(dir)?;
        let (mut cur_seg, mut cur_off) = read_cursor(dir);
        let mut segs = segments(dir)?;
        // segments wholly before the cursor were drained: remove them
        for s in segs.iter().filter(|s| **s < cur_seg) {
            let _ = std::fs::remove_file(seg_path(dir, *s));
        }
        segs.retain(|s| *s >= cur_seg);
        if segs.first() != Some(&cur_seg) {
            // the cursor's segment is gone (never written, or drained): start at the first
            cur_seg = segs.first().copied().unwrap_or(1);
            cur_off = 0;
        }
        // count what is left, cutting a torn tail off the last segment
        let (mut bytes, mut batches) = (0u64, 0u64);
        let last = segs.last().copied();
        for s in &segs {
            let path = seg_path(dir, *s);
            let mut f = vigil_fs::options().read(true).write(true).open(&path)?;
            let start = if *s == cur_seg { cur_off } else { 0 };
            f.seek(SeekFrom::Start(start))?;
            let mut pos = start;
            while let Some((len, _)) = read_record(&mut f)? {
                pos += HEADER + u64::from(len);
                bytes += HEADER + u64::from(len);
                batches += 1;
            }
            if Some(*s) == last && pos < f.metadata()?.len() {
                f.set_len(pos)?;
                f.sync_all()?;
            }
        }
        let write_seg = last.unwrap_or(cur_seg).max(1);
        let path = seg_path(dir, write_seg);
        let file = vigil_fs::options().create(true).append(true).open(&path)?;
        let write_len = file.metadata()?.len();
        let shared = Arc::new(Shared {
            dir: dir.to_path_buf(),
            max_bytes,
            segment_bytes: (max_bytes / 8).clamp(64 << 10, SEGMENT_BYTES),
            state: Mutex::new(State {
                write_seg,
                write_len,
                bytes,
                batches,
                stop: false,
            }),
            changed: Condvar::new(),
            bytes_gauge: metrics.gauge("buffer_bytes"),
            batches_gauge: metrics.gauge("buffer_batches"),
            metrics,
        });
        shared.gauges(&shared.state.lock());
        let s2 = shared.clone();
        let name = format!("vigil-drain-{}", shared.metrics.id());
        let drain = std::thread::Builder::new()
            .name(name)
            .spawn(move || drain(&s2, inner, cur_seg, cur_off))?;
        Ok(DiskBuffer {
            shared,
            file,
            drain: Some(drain),
            scratch: Vec::new(),
        })
    }

    fn err(&self, message: impl Into<String>) -> ComponentError {
        ComponentError::new(&self.shared.metrics, message)
    }

    fn io_err(&self, what: &str, e: std::io::Error) -> ComponentError {
        self.shared.metrics.error("buffer_io", 1);
        self.err(format!(
            "disk buffer {}: {what}: {e}",
            self.shared.dir.display()
        ))
    }
}

impl Destination for DiskBuffer {
    fn write(&mut self, events: &[Event]) -> Result<(), ComponentError> {
        if events.is_empty() {
            return Ok(());
        }
        self.scratch.clear();
        self.scratch.extend_from_slice(&[0u8; HEADER as usize]);
        self.scratch
            .extend_from_slice(&(events.len() as u32).to_le_bytes());
        for e in events {
            e.encode(&mut self.scratch);
        }
        let body_len = self.scratch.len() as u64 - HEADER;
        if body_len > u64::from(MAX_RECORD) {
            return Err(self.err("a batch larger than 1 GiB cannot be buffered"));
        }
        let crc = crc32fast::hash(&self.scratch[HEADER as usize..]);
        self.scratch[..4].copy_from_slice(&(body_len as u32).to_le_bytes());
        self.scratch[4..8].copy_from_slice(&crc.to_le_bytes());
        let rec = self.scratch.len() as u64;
        // room: wait (bounded) for the drain; an oversized batch goes alone into an empty buffer
        {
            let mut s = self.shared.state.lock();
            let deadline = Instant::now() + Duration::from_secs(1);
            while s.bytes > 0 && s.bytes + rec > self.shared.max_bytes {
                if self.shared.changed.wait_until(&mut s, deadline).timed_out() {
                    self.shared.metrics.error("buffer_full", 1);
                    return Err(self.err(format!(
                        "disk buffer full ({} bytes); waiting for the next hop",
                        s.bytes
                    )));
                }
            }
            if s.write_len > 0 && s.write_len + rec > self.shared.segment_bytes {
                let next = s.write_seg + 1;
                let f = vigil_fs::options()
                    .create(true)
                    .append(true)
                    .open(seg_path(&self.shared.dir, next))
                    .map_err(|e| self.io_err("new segment", e))?;
                self.file = f;
                s.write_seg = next;
                s.write_len = 0;
            }
            // counted before the append: the drain may read the record as soon as it is in
            // the file, and subtracts it then
            s.bytes += rec;
            s.batches += 1;
        }
        let before = self.shared.state.lock().write_len;
        if let Err(e) = self
            .file
            .write_all(&self.scratch)
            .and_then(|()| self.file.sync_data())
        {
            // cut a partial append off so the segment stays readable
            let _ = self.file.set_len(before);
            let mut s = self.shared.state.lock();
            s.bytes = s.bytes.saturating_sub(rec);
            s.batches = s.batches.saturating_sub(1);
            return Err(self.io_err("append", e));
        }
        let mut s = self.shared.state.lock();
        s.write_len += rec;
        self.shared.gauges(&s);
        self.shared.changed.notify_all();
        Ok(())
    }

    fn flush(&mut self) -> Result<(), ComponentError> {
        let _ = self.file.sync_all();
        // let the drain go on while it makes progress, up to SHUTDOWN_DRAIN
        {
            let mut s = self.shared.state.lock();
            let deadline = Instant::now() + SHUTDOWN_DRAIN;
            while s.bytes > 0 {
                let before = s.bytes;
                let step = Instant::now() + Duration::from_secs(1);
                let _ = self.shared.changed.wait_until(&mut s, step.min(deadline));
                if Instant::now() >= deadline || s.bytes == before {
                    break;
                }
            }
            s.stop = true;
            self.shared.changed.notify_all();
        }
        if let Some(h) = self.drain.take() {
            let _ = h.join();
        }
        Ok(())
    }
}

impl Drop for DiskBuffer {
    fn drop(&mut self) {
        self.shared.state.lock().stop = true;
        self.shared.changed.notify_all();
        if let Some(h) = self.drain.take() {
            let _ = h.join();
        }
    }
}

/// The drain thread: segments in order into `inner`, from `(seg, off)`.
fn drain(shared: &Shared, mut inner: Box<dyn Destination>, mut seg: u64, mut off: u64) {
    let m = &shared.metrics;
    let mut file: Option<File> = None;
    loop {
        if shared.state.lock().stop {
            break;
        }
        if file.is_none() {
            match File::open(seg_path(&shared.dir, seg)).and_then(|mut f| {
                f.seek(SeekFrom::Start(off))?;
                Ok(f)
            }) {
                Ok(f) => file = Some(f),
                Err(_) => {
                    // not created yet: wait for the writer
                    let mut s = shared.state.lock();
                    if !s.stop && s.write_seg <= seg {
                        shared.changed.wait_for(&mut s, Duration::from_millis(200));
                    } else if s.write_seg > seg {
                        seg += 1;
                        off = 0;
                    }
                    continue;
                }
            }
        }
        let Some(f) = file.as_mut() else { continue };
        let rec = match read_record(f) {
            Ok(r) => r,
            Err(e) => {
                m.error("buffer_io", 1);
                tracing::error!(error = %e, dir = %shared.dir.display(), "reading the disk buffer");
                file = None;
                std::thread::sleep(Duration::from_secs(1));
                continue;
            }
        };
        let Some((len, body)) = rec else {
            // the end of what is written: the segment is finished when the writer moved on
            let write_seg = shared.state.lock().write_seg;
            if write_seg > seg {
                if off < std::fs::metadata(seg_path(&shared.dir, seg)).map_or(0, |md| md.len()) {
                    // a damaged record: the rest of this segment cannot be read
                    m.error("buffer_corrupt", 1);
                    tracing::error!(
                        segment = seg,
                        offset = off,
                        "disk buffer record damaged; skipping the rest of its segment"
                    );
                    let len =
                        std::fs::metadata(seg_path(&shared.dir, seg)).map_or(0, |md| md.len());
                    let mut s = shared.state.lock();
                    s.bytes = s.bytes.saturating_sub(len.saturating_sub(off));
                }
                let _ = std::fs::remove_file(seg_path(&shared.dir, seg));
                seg += 1;
                off = 0;
                file = None;
                let _ = write_cursor(&shared.dir, seg, 0);
                continue;
            }
            // caught up with the writer: wait for more (re-reading from `off`)
            let mut s = shared.state.lock();
            if !s.stop && s.write_seg == seg && s.write_len <= off {
                shared.changed.wait_for(&mut s, Duration::from_millis(500));
            }
            drop(s);
            if let Some(f) = file.as_mut() {
                let _ = f.seek(SeekFrom::Start(off));
            }
            continue;
        };
        let rec_len = HEADER + u64::from(len);
        match decode(&body) {
            Some(events) => {
                let mut backoff = Duration::from_millis(50);
                loop {
                    match inner.write(&events) {
                        Ok(()) => {
                            m.bytes_out(rec_len);
                            break;
                        }
                        Err(e) => {
                            m.error("forward", 1);
                            tracing::warn!(error = %e, "forwarding failed; the disk buffer holds the events and retries");
                            let mut s = shared.state.lock();
                            if s.stop {
                                return finish(inner);
                            }
                            shared.changed.wait_for(&mut s, backoff);
                            backoff = (backoff * 2).min(Duration::from_secs(5));
                        }
                    }
                }
            }
            None => {
                m.error("buffer_corrupt", 1);
                m.drop("buffer_corrupt", 1);
            }
        }
        off += rec_len;
        if let Err(e) = write_cursor(&shared.dir, seg, off) {
            m.error("buffer_io", 1);
            tracing::error!(error = %e, "writing the disk buffer's cursor");
        }
        let mut s = shared.state.lock();
        s.bytes = s.bytes.saturating_sub(rec_len);
        s.batches = s.batches.saturating_sub(1);
        shared.gauges(&s);
        shared.changed.notify_all();
    }
    finish(inner);
}

fn finish(mut inner: Box<dyn Destination>) {
    if let Err(e) = inner.flush() {
        tracing::error!(error = %e, "flushing the destination behind the disk buffer");
    }
}
