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
    read_records(
        path,
        threads,
        true,
        move |rec| {
            let timestamp = i64::try_from(rec.timestamp.as_nanosecond()).ok();
            if !keep(timestamp) {
                return Outcome::Skipped;
            }
            let record_id = rec.event_record_id;
            let json = match rec.into_json() {
                Ok(j) => j,
                Err(e) => return Outcome::Failed(format!("record {record_id}: {e}")),
            };
            let raw: Value = match serde_json::from_str(&json.data) {
                Ok(v) => v,
                Err(e) => {
                    return Outcome::Failed(format!(
                        "record {record_id}: rendered JSON does not parse: {e}"
                    ));
                }
            };
            let event = flatten_evtx_json(&raw);
            match work(EvtxEvent {
                record_id,
                timestamp,
                event,
            }) {
                Some(u) => Outcome::Done(u),
                None => Outcome::Skipped,
            }
        },
        &mut |o| {
            sink(o);
            true
        },
    )
}

/// One EVTX record rendered as its event XML (`<Event xmlns=…><System>…</System>
/// <EventData>…</EventData></Event>`, no XML declaration, no indentation): what a Windows
/// Event Collector forwards, so it is normalized like forwarded events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvtxXmlRecord {
    /// The record number of the EVTX record header.
    pub record_id: u64,
    /// Record header time, nanoseconds since the epoch (`None` when out of range).
    pub timestamp: Option<i64>,
    /// The event XML.
    pub xml: String,
}

/// Reads every record of an EVTX file as event XML, in file order, with the parser settings
/// and error handling of hunting (a chunk or record that cannot be read is reported as `Err`
/// and the others are still read). With `validate_checksums`, a chunk whose header or record
/// checksum is wrong is rejected whole, as hunting does; without, its records are still
/// parsed (what an importer that must not lose events wants: copied, recovered and
/// shadow-copy logs often carry stale checksums). `sink` returns `false` to stop early.
/// Errors opening the file or reading its header are returned.
pub fn read_evtx_xml(
    path: &Path,
    threads: usize,
    validate_checksums: bool,
    sink: &mut dyn FnMut(Result<EvtxXmlRecord, String>) -> bool,
) -> Result<(), String> {
    let mut adapt = |o: Outcome<EvtxXmlRecord>| match o {
        Outcome::Done(r) => sink(Ok(r)),
        Outcome::Failed(e) => sink(Err(e)),
        Outcome::Skipped => true,
    };
    read_records(
        path,
        threads,
        validate_checksums,
        |rec| {
            let record_id = rec.event_record_id;
            let timestamp = i64::try_from(rec.timestamp.as_nanosecond()).ok();
            match rec.into_xml() {
                Ok(x) => Outcome::Done(EvtxXmlRecord {
                    record_id,
                    timestamp,
                    xml: event_xml(&x.data),
                }),
                Err(e) => Outcome::Failed(format!("record {record_id}: {e}")),
            }
        },
        &mut adapt,
    )
}

/// The `<Event>` element on one line: the declaration dropped, line breaks between elements
/// removed (those inside values are kept).
fn event_xml(rendered: &str) -> String {
    let body = match rendered.find("<Event") {
        Some(i) => &rendered[i..],
        None => rendered,
    };
    let mut out = String::with_capacity(body.len());
    let mut rest = body;
    while let Some(i) = rest.find(">\n") {
        out.push_str(&rest[..=i]);
        rest = rest[i + 2..].trim_start_matches([' ', '\t', '\r', '\n']);
        if !rest.starts_with('<') {
            // text after a line break inside an element: keep it as it was
            out.push('\n');
        }
    }
    out.push_str(rest.trim_end());
    out
}

/// The record loop shared by [`read_evtx`] and [`read_evtx_xml`]: `render` runs on the
/// parser's worker threads, outcomes reach `sink` in file order until it returns `false`.
fn read_records<U, R>(
    path: &Path,
    threads: usize,
    validate_checksums: bool,
    render: R,
    sink: &mut dyn FnMut(Outcome<U>) -> bool,
) -> Result<(), String>
where
    U: Send + 'static,
    R: Fn(evtx::EvtxRecord<'_>) -> Outcome<U> + Send + Sync + Clone + 'static,
{
    let settings = ParserSettings::new()
        .num_threads(threads.max(1))
        .indent(false)
        .separate_json_attributes(false)
        .validate_checksums(validate_checksums);
    let mut parser = EvtxParser::from_path(path)
        .map_err(|e| format!("not a readable EVTX file: {e}"))?
        .with_configuration(settings);
    let records = parser.serialized_records(move |rec| {
        Ok(match rec {
            Ok(r) => render(r),
            Err(e) => Outcome::Failed(format!("bad record: {e}")),
        })
    });
    for r in records {
        let go_on = match r {
            Ok(o) => sink(o),
            Err(e) => sink(Outcome::Failed(format!("bad chunk: {e}"))),
        };
        if !go_on {
            break;
        }
    }
    Ok(())
}
