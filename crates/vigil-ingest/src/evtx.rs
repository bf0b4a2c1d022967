//! The EVTX connector (`type: evtx`): imports Windows `.evtx` files and folders.
//!
//! Records are read by the `evtx` crate through `vigil_detect::hunt::read_evtx_xml`, the
//! reader `vigil hunt` uses (same parser settings: checksums validated, a damaged chunk or
//! record reported and the rest still read), and each becomes one record holding its event
//! XML on one line, the form a Windows Event Collector forwards. The collector's normalizer
//! (by default `auto`, which routes Security, Sysmon and PowerShell events to their packs)
//! turns it into the same event as the same XML arriving over syslog or HTTP.
//!
//! Each file is imported once. Its progress (device, inode, CRC-32 of its first 4 KiB, records
//! handed on, done) is saved in `<data_dir>/connectors/<collector id>/checkpoints.json` after
//! every batch the pipeline accepted, so a restart resumes after the last record sent and a
//! finished file is not read again. Folders are read recursively for `*.evtx` and scanned
//! again every `scan_interval` for new files.
//!
//! Metrics (component kind `connector`): `events_in` (records sent), `bytes_in` (bytes of
//! the files imported), errors `evtx_file` (a file that is not a readable EVTX file),
//! `evtx_record` (a chunk or record that could not be read: counted, logged, the rest of the
//! file still read), `checkpoint`; drop `pipeline_closed`; gauge `files_done`.

use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use parking_lot::Mutex;
use vigil_pipeline::{BoxFuture, ComponentError, Connector, ConnectorContext};

use crate::IngestError;
use crate::file::Out;
use crate::file::checkpoint::{Checkpoints, EvtxMark};
use crate::file::lines::Rec;

/// The EVTX connector's settings: the validated configuration type itself
/// (`collectors[].connector` with `type: evtx`); `state_dir` is set by the topology.
pub use vigil_config::EvtxConfig as EvtxSettings;

/// Records per batch.
const BATCH: usize = 1024;
/// Bytes fingerprinted at the start of a file.
const FP_BYTES: usize = 4096;

/// Imports EVTX files. Build with [`EvtxConnector::new`].
#[derive(Debug)]
pub struct EvtxConnector {
    settings: EvtxSettings,
}

impl EvtxConnector {
    /// Checks the settings; nothing is opened yet.
    pub fn new(settings: EvtxSettings) -> Result<EvtxConnector, IngestError> {
        if settings.state_dir.as_os_str().is_empty() {
            return Err(IngestError::Invalid {
                field: "state_dir",
                reason: "no directory for checkpoints".into(),
            });
        }
        if settings.paths.is_empty() {
            return Err(IngestError::Invalid {
                field: "paths",
                reason: "no .evtx file or folder".into(),
            });
        }
        Ok(EvtxConnector { settings })
    }
}

impl Connector for EvtxConnector {
    fn run(self: Box<Self>, ctx: ConnectorContext) -> BoxFuture<Result<(), ComponentError>> {
        Box::pin(async move {
            let metrics = ctx.metrics.clone();
            match tokio::task::spawn_blocking(move || run_blocking(&self.settings, ctx)).await {
                Ok(r) => r,
                Err(e) => Err(ComponentError::new(&metrics, format!("evtx reader: {e}"))),
            }
        })
    }
}

/// The `.evtx` files under `paths` (folders recursively), sorted.
pub fn evtx_files(paths: &[PathBuf]) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>, depth: usize) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.flatten() {
            let p = e.path();
            // symbolic links followed; the depth bound stops link loops
            match std::fs::metadata(&p) {
                Ok(m) if m.is_dir() && depth < 32 => walk(&p, out, depth + 1),
                Ok(m) if m.is_file() && is_evtx(&p) => out.push(p),
                _ => {}
            }
        }
    }
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            walk(p, &mut out, 0);
        } else if p.is_file() {
            out.push(p.clone());
        }
    }
    out.sort();
    out.dedup();
    out
}

fn is_evtx(p: &Path) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("evtx"))
}

fn run_blocking(settings: &EvtxSettings, ctx: ConnectorContext) -> Result<(), ComponentError> {
    let checkpoints = match Checkpoints::open(&settings.state_dir) {
        Ok(c) => c,
        Err(e) => {
            ctx.shutdown_all.trigger();
            return Err(ComponentError::new(&ctx.metrics, e));
        }
    };
    let out = Out {
        tx: ctx.out.clone(),
        source: ctx.source.clone(),
        metrics: ctx.metrics.clone(),
        shutdown: ctx.shutdown.clone(),
        checkpoints: Arc::new(Mutex::new(checkpoints)),
    };
    let done_gauge = ctx.metrics.gauge("files_done");
    tracing::info!(connector = %ctx.source.id, "evtx connector started");
    while !out.shutdown.is_triggered() {
        for path in evtx_files(&settings.paths) {
            if out.shutdown.is_triggered() {
                break;
            }
            if !import(&path, &out) {
                return Ok(()); // pipeline gone
            }
        }
        let done = out
            .checkpoints
            .lock()
            .state
            .evtx
            .iter()
            .filter(|m| m.done)
            .count();
        done_gauge.store(done as i64, Ordering::Relaxed);
        crate::file::sleep_until(&out.shutdown, settings.scan_interval);
    }
    tracing::info!(connector = %ctx.source.id, "evtx connector stopped");
    Ok(())
}

/// Imports one file from where it was left; `false` when the pipeline is gone.
fn import(path: &Path, out: &Out) -> bool {
    let Ok(md) = std::fs::metadata(path) else {
        return true;
    };
    let fp =
        match std::fs::File::open(path).and_then(|f| crate::file::tail_fingerprint(&f, FP_BYTES)) {
            Ok(fp) => fp,
            Err(e) => {
                out.metrics.error("evtx_file", 1);
                tracing::warn!(path = %path.display(), error = %e, "cannot read EVTX file");
                return true;
            }
        };
    let (dev, ino) = (md.dev(), md.ino());
    let prior = out
        .checkpoints
        .lock()
        .state
        .evtx
        .iter()
        .find(|m| m.dev == dev && m.ino == ino && m.fp == fp)
        .cloned();
    let mut mark = match prior {
        Some(m) if m.done => return true,
        Some(m) => m,
        None => EvtxMark {
            dev,
            ino,
            fp,
            path: path.to_string_lossy().into_owned(),
            records: 0,
            done: false,
        },
    };
    let skip = mark.records;
    let mut seen = 0u64;
    let mut recs: Vec<Rec> = Vec::new();
    let mut failed = 0u64;
    let mut gone = false;
    let save = |mark: &mut EvtxMark, seen: u64, recs: &mut Vec<Rec>| -> bool {
        if !out.send(std::mem::take(recs)) {
            return false;
        }
        mark.records = seen;
        set(out, mark.clone());
        out.save();
        true
    };
    let res = vigil_detect::hunt::read_evtx_xml(path, 1, false, &mut |r| {
        seen += 1;
        if seen <= skip {
            return true;
        }
        match r {
            Ok(rec) => recs.push(Rec {
                data: Bytes::from(rec.xml),
                end: 0,
                error: None,
            }),
            Err(e) => {
                failed += 1;
                if failed <= 10 {
                    tracing::warn!(path = %path.display(), error = %e, "unreadable EVTX record");
                }
            }
        }
        if recs.len() >= BATCH {
            if !save(&mut mark, seen, &mut recs) {
                gone = true;
                return false;
            }
            if out.shutdown.is_triggered() {
                return false;
            }
        }
        true
    });
    if failed > 0 {
        out.metrics.error("evtx_record", failed);
    }
    if gone {
        return false;
    }
    let stopped = out.shutdown.is_triggered();
    if let Err(e) = res {
        out.metrics.error("evtx_file", 1);
        tracing::warn!(path = %path.display(), error = %e, "cannot import EVTX file");
    }
    if !stopped {
        mark.done = true;
        out.metrics.bytes_in(md.len());
        tracing::info!(path = %path.display(), records = seen, "EVTX file imported");
    }
    save(&mut mark, seen, &mut recs)
}

fn set(out: &Out, mark: EvtxMark) {
    let mut cp = out.checkpoints.lock();
    match cp
        .state
        .evtx
        .iter_mut()
        .find(|m| m.dev == mark.dev && m.ino == mark.ino)
    {
        Some(m) => *m = mark,
        None => cp.state.evtx.push(mark),
    }
}
