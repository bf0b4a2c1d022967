//! EVTX files through the `evtx` crate: records rendered to evtx_dump-style JSON and
//! flattened ([`crate::flatten_evtx_json`]), with the work per record done on the parser's
//! worker threads when it has more than one.
//!
//! Records come out in file order (the crate's chunk pipeline reorders them). A chunk that
//! cannot be read (bad magic, bad checksum, truncated) and a record that cannot be rendered are
//! reported and counted; the other chunks and records are still read.

use std::path::Path;

use evtx::{EvtxParser, ParserSettings};
use serde_json::Value;

use crate::event::flatten_evtx_json;

/// One EVTX record handed to the per-record work.
#[derive(Debug)]
pub(crate) struct EvtxEvent {
    /// The record number of the EVTX record header. Not always the event's `EventRecordID`
    /// (an exported or filtered log numbers its records from 1): hits take the event's own.
    pub record_id: u64,
    /// Record header time, nanoseconds since the epoch (`None` when out of range, e.g. 0).
    pub timestamp: Option<i64>,
    /// The flattened event view.
    pub event: Value,
}

/// What happened to one record.
#[derive(Debug)]
pub(crate) enum Outcome<U> {
    /// Rendered and handed to the work function.
    Done(U),
    /// Skipped by the time predicate before rendering.
    Skipped,
    /// The record could not be read or rendered.
    Failed(String),
}

/// Read every record of an EVTX file. `keep` sees the record header time (ns) before the
/// record is rendered (records it rejects are `Skipped`); `work` runs on each kept record, on the
/// parser's worker threads when `threads > 1`; `sink` receives outcomes in file order, and
/// chunk-level failures as `Failed`. Errors opening the file or reading its header are
/// returned.
pub(crate) fn read_evtx<U, K, W>(
    path: &Path,
    threads: usize,
    keep: K,
    work: W,
    sink: &mut dyn FnMut(Outcome<U>),
) -> Result<(), String>
where
    U: Send + 'static,
    K: Fn(Option<i64>) -> bool + Send + Sync + Clone + 'static,
    W: Fn(EvtxEvent) -> Option<U> + Send + Sync + Clone + 'static,
{
    let settings = ParserSettings::new()
        .num_threads(threads.max(1))
        .indent(false)
        .separate_json_attributes(false)
        .validate_checksums(true);
    let mut parser = EvtxParser::from_path(path)
        .map_err(|e| format!("not a readable EVTX file: {e}"))?
        .with_configuration(settings);
    let records = parser.serialized_records(move |rec| {
        let rec = match rec {
            Ok(r) => r,
            Err(e) => return Ok(Outcome::Failed(format!("bad record: {e}"))),
        };
        let timestamp = i64::try_from(rec.timestamp.as_nanosecond()).ok();
        if !keep(timestamp) {
            return Ok(Outcome::Skipped);
        }
        let record_id = rec.event_record_id;
        let json = match rec.into_json() {
            Ok(j) => j,
            Err(e) => return Ok(Outcome::Failed(format!("record {record_id}: {e}"))),
        };
        let raw: Value = match serde_json::from_str(&json.data) {
            Ok(v) => v,
            Err(e) => {
                return Ok(Outcome::Failed(format!(
                    "record {record_id}: rendered JSON does not parse: {e}"
                )));
            }
        };
        let event = flatten_evtx_json(&raw);
        Ok(
            match work(EvtxEvent {
                record_id,
                timestamp,
                event,
            }) {
                Some(u) => Outcome::Done(u),
                None => Outcome::Skipped,
            },
        )
    });
    for r in records {
        match r {
            Ok(o) => sink(o),
            Err(e) => sink(Outcome::Failed(format!("bad chunk: {e}"))),
        }
    }
    Ok(())
}
