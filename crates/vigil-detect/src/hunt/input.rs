//! Input files: finding them, telling their format, reading them into events, and the few
//! fields the timeline shows (time, host, event code, channel).

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::json::{Piece, Splitter};
use crate::event::flatten_evtx_json;

/// Largest JSON value (one event) read from a JSON file.
pub const MAX_JSON_EVENT: usize = 16 << 20;
/// Deepest JSON nesting accepted.
pub const MAX_JSON_DEPTH: usize = 64;
/// Longest text line kept (longer lines are cut).
pub const MAX_LINE: usize = 1 << 20;

/// How a file is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum InputFormat {
    /// Windows XML event log (`ElfFile` magic).
    Evtx,
    /// JSON: one object per line, concatenated (pretty-printed) objects, or arrays of them.
    Json,
    /// Plain text: one event per line.
    Text,
}

impl InputFormat {
    /// Lowercase name.
    pub fn name(self) -> &'static str {
        match self {
            InputFormat::Evtx => "evtx",
            InputFormat::Json => "json",
            InputFormat::Text => "text",
        }
    }
}

/// Extensions picked up when walking a directory (files named on the command line are read
/// whatever their name).
pub const DIR_EXTENSIONS: &[&str] = &["evtx", "json", "jsonl", "ndjson", "log", "txt"];

/// The files to read, from paths given by the user: files as they are, directories walked
/// recursively for [`DIR_EXTENSIONS`]. Sorted, deduplicated. Paths that cannot be read are
/// returned as problems.
pub fn collect_inputs(paths: &[PathBuf]) -> (Vec<PathBuf>, Vec<(PathBuf, String)>) {
    let mut files = Vec::new();
    let mut problems = Vec::new();
    for p in paths {
        match std::fs::metadata(p) {
            Ok(m) if m.is_dir() => walk(p, &mut files, &mut problems, 0),
            Ok(_) => files.push(p.clone()),
            Err(e) => problems.push((p.clone(), format!("cannot read: {e}"))),
        }
    }
    files.sort();
    files.dedup();
    (files, problems)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>, problems: &mut Vec<(PathBuf, String)>, depth: usize) {
    if depth > 32 {
        problems.push((
            dir.to_path_buf(),
            "directory nesting deeper than 32; skipped".into(),
        ));
        return;
    }
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) => {
            problems.push((dir.to_path_buf(), format!("cannot read directory: {e}")));
            return;
        }
    };
    for entry in rd.flatten() {
        let p = entry.path();
        match entry.file_type() {
            Ok(t) if t.is_dir() => walk(&p, out, problems, depth + 1),
            Ok(t) if t.is_file() => {
                let ext = p
                    .extension()
                    .and_then(|e| e.to_str())
                    .map(str::to_ascii_lowercase);
                if ext.is_some_and(|e| DIR_EXTENSIONS.contains(&e.as_str())) {
                    out.push(p)
                }
            }
            _ => {}
        }
    }
}

/// The format of a file: EVTX by its magic, JSON when the first non-blank byte opens an
/// object or array, otherwise text.
pub fn detect_format(path: &Path) -> std::io::Result<InputFormat> {
    let mut head = [0u8; 512];
    let mut f = File::open(path)?;
    let mut n = 0;
    while n < head.len() {
        match f.read(&mut head[n..])? {
            0 => break,
            k => n += k,
        }
    }
    let head = &head[..n];
    if head.starts_with(b"ElfFile\0") {
        return Ok(InputFormat::Evtx);
    }
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    if ext.as_deref() == Some("evtx") {
        // Named .evtx but without the magic: let the EVTX parser report what is wrong.
        return Ok(InputFormat::Evtx);
    }
    let body = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
    match body.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{' | b'[') => Ok(InputFormat::Json),
        _ => Ok(InputFormat::Text),
    }
}

/// The event view the rules see for one JSON object: evtx_dump records (`{"Event": ..}`) are
/// flattened ([`flatten_evtx_json`]); Winlogbeat records get the same flat Windows view (event
/// data at the top level, plus `EventID`, `Channel`, `Computer`, `Provider_Name`) next to
/// their own fields; anything else is used as it is.
pub fn event_view(v: Value) -> Value {
    match &v {
        Value::Object(o) if o.get("Event").is_some_and(Value::is_object) => flatten_evtx_json(&v),
        Value::Object(o) if o.get("winlog").is_some_and(Value::is_object) => winlogbeat(v),
        _ => v,
    }
}

fn winlogbeat(v: Value) -> Value {
    let Value::Object(mut o) = v else { return v };
    let mut add = Map::new();
    if let Some(Value::Object(w)) = o.get("winlog") {
        if let Some(Value::Object(d)) = w.get("event_data") {
            for (k, x) in d {
                add.insert(k.replace(' ', ""), x.clone());
            }
        }
        if let Some(Value::Object(d)) = w.get("user_data") {
            for (k, x) in d {
                add.entry(k.clone()).or_insert_with(|| x.clone());
            }
        }
        for (from, to) in [
            ("event_id", "EventID"),
            ("channel", "Channel"),
            ("computer_name", "Computer"),
            ("provider_name", "Provider_Name"),
            ("record_id", "EventRecordID"),
        ] {
            if let Some(x) = w.get(from) {
                // Winlogbeat writes the event id as a string.
                let x = match x {
                    Value::String(s) if from == "event_id" => s
                        .parse::<i64>()
                        .map(Value::from)
                        .unwrap_or_else(|_| x.clone()),
                    _ => x.clone(),
                };
                add.insert(to.into(), x);
            }
        }
    }
    for (k, x) in add {
        o.entry(k).or_insert(x);
    }
    Value::Object(o)
}

/// A text line as an event: `message` is the line; `key=value` and `key="quoted value"`
/// tokens also become fields (the first occurrence of a key wins).
pub fn text_event(line: &str) -> Value {
    let mut m = Map::new();
    m.insert("message".into(), Value::String(line.to_string()));
    let b = line.as_bytes();
    let mut i = 0;
    while i < b.len() {
        // a key starts after a separator
        let key_start = i;
        while i < b.len() && (b[i].is_ascii_alphanumeric() || matches!(b[i], b'_' | b'.' | b'-')) {
            i += 1;
        }
        if i > key_start && i < b.len() && b[i] == b'=' {
            let key = &line[key_start..i];
            i += 1;
            let value = if i < b.len() && b[i] == b'"' {
                let start = i + 1;
                let end = line[start..].find('"').map_or(b.len(), |e| start + e);
                i = (end + 1).min(b.len());
                &line[start..end]
            } else {
                let start = i;
                while i < b.len() && !b[i].is_ascii_whitespace() {
                    i += 1;
                }
                line[start..i].trim_end_matches([',', ';'])
            };
            if key != "message" && !m.contains_key(key) {
                m.insert(key.to_string(), Value::String(value.to_string()));
            }
        } else {
            // skip to the next separator
            while i < b.len() && !b[i].is_ascii_whitespace() && b[i] != b',' && b[i] != b';' {
                i += 1;
            }
            i += 1;
        }
    }
    Value::Object(m)
}

/// Fields shown for an event in the timeline.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventMeta {
    /// Event time, nanoseconds since the Unix epoch.
    pub timestamp: Option<i64>,
    /// Host name (`Computer`, `host.name`, `Hostname`, ...).
    pub host: Option<String>,
    /// Event code (`EventID`, `event.code`, ...).
    pub code: Option<String>,
    /// Windows channel (`Channel`, `winlog.channel`, `event.provider`).
    pub channel: Option<String>,
}

fn first_text(v: &Value, names: &[&str]) -> Option<String> {
    use crate::event::{FieldValue, SigmaEvent};
    for n in names {
        let mut out = None;
        v.field(n, &mut |x| {
            if out.is_none() {
                out = match x {
                    FieldValue::Str(s) if !s.is_empty() => Some(s.to_string()),
                    FieldValue::Int(i) => Some(i.to_string()),
                    FieldValue::Float(f) => Some(f.to_string()),
                    FieldValue::Bool(b) => Some(b.to_string()),
                    _ => None,
                }
            }
        });
        if out.is_some() {
            return out;
        }
    }
    None
}

/// Time fields tried, in order, for JSON and text events.
const TIME_FIELDS: &[&str] = &[
    "@timestamp",
    "TimeCreated",
    "timestamp",
    "EventTime",
    "UtcTime",
    "eventTime",
    "time",
    "date",
];

impl EventMeta {
    /// Read the timeline fields of an event view (see [`event_view`]).
    pub fn of(v: &Value) -> EventMeta {
        EventMeta {
            timestamp: TIME_FIELDS.iter().find_map(|f| match v.get(*f) {
                Some(Value::String(s)) => parse_time(s),
                Some(Value::Number(n)) => n.as_f64().map(epoch_number),
                Some(Value::Object(o)) => o
                    .get("#attributes")
                    .and_then(|a| a.get("SystemTime"))
                    .and_then(Value::as_str)
                    .and_then(parse_time),
                _ => None,
            }),
            host: first_text(
                v,
                &[
                    "Computer",
                    "host.name",
                    "Hostname",
                    "hostname",
                    "computer_name",
                    "host",
                ],
            ),
            code: first_text(v, &["EventID", "event.code", "event_id", "EventCode"]),
            channel: first_text(v, &["Channel", "winlog.channel", "event.provider"]),
        }
    }
}

/// Epoch seconds, milliseconds or microseconds (by magnitude) to nanoseconds.
fn epoch_number(x: f64) -> i64 {
    let ns = if x.abs() < 1e11 {
        x * 1e9
    } else if x.abs() < 1e14 {
        x * 1e6
    } else if x.abs() < 1e17 {
        x * 1e3
    } else {
        x
    };
    ns as i64
}

/// Parse an event time: RFC 3339 (`2019-03-19T23:34:25.123Z`, with offset), or a date and
/// time without zone (`2019-03-19 23:34:25.123`, taken as UTC).
pub fn parse_time(s: &str) -> Option<i64> {
    let s = s.trim();
    if s.len() < 10 || !s.as_bytes()[0].is_ascii_digit() {
        return None;
    }
    if let Ok(t) = s.parse::<evtx::Timestamp>() {
        return i64::try_from(t.as_nanosecond()).ok();
    }
    // Naive: `YYYY-MM-DD[ T]HH:MM:SS[.frac]`, or a bare date.
    let mut fixed = s.replacen(' ', "T", 1);
    if fixed.len() == 10 {
        fixed.push_str("T00:00:00");
    }
    fixed.push('Z');
    fixed
        .parse::<evtx::Timestamp>()
        .ok()
        .and_then(|t| i64::try_from(t.as_nanosecond()).ok())
}

/// RFC 3339 text of a time in nanoseconds (UTC, fractional digits as needed).
pub fn format_time(ns: i64) -> String {
    evtx::Timestamp::from_nanosecond(i128::from(ns))
        .map(|t| t.to_string())
        .unwrap_or_default()
}

/// How reading a non-EVTX file went.
#[derive(Debug, Default)]
pub(crate) struct ReadCounts {
    pub errors: u64,
    pub error_samples: Vec<String>,
}

impl ReadCounts {
    pub(crate) fn error(&mut self, msg: String) {
        self.errors += 1;
        if self.error_samples.len() < super::MAX_ERROR_SAMPLES {
            self.error_samples.push(msg);
        }
    }
}

/// Read a JSON or text file, calling `f` with each event view (see [`event_view`]).
pub(crate) fn read_plain(
    path: &Path,
    format: InputFormat,
    counts: &mut ReadCounts,
    f: &mut dyn FnMut(Value),
) -> std::io::Result<()> {
    let file = File::open(path)?;
    match format {
        InputFormat::Json => {
            let mut sp = Splitter::new(BufReader::new(file), MAX_JSON_EVENT, MAX_JSON_DEPTH);
            while let Some(p) = sp.next_piece() {
                match p {
                    Piece::Value(bytes, at) => match serde_json::from_slice::<Value>(bytes) {
                        Ok(Value::Array(items)) => {
                            for x in items {
                                if x.is_object() {
                                    f(event_view(x))
                                }
                            }
                        }
                        Ok(v) => f(event_view(v)),
                        Err(e) => counts.error(format!("offset {at}: invalid JSON: {e}")),
                    },
                    Piece::Error(e, at) => counts.error(format!("offset {at}: {e}")),
                }
            }
        }
        InputFormat::Text | InputFormat::Evtx => {
            let mut r = BufReader::new(file);
            let mut buf = Vec::new();
            let mut line_no = 0u64;
            loop {
                buf.clear();
                // Bounded line read: at most MAX_LINE bytes are kept, the rest is skipped.
                let n = read_line_capped(&mut r, &mut buf, MAX_LINE)?;
                if n == 0 {
                    break;
                }
                line_no += 1;
                while buf.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
                    buf.pop();
                }
                if buf.is_empty() {
                    continue;
                }
                if n > MAX_LINE {
                    counts.error(format!("line {line_no}: longer than {MAX_LINE} bytes; cut"));
                }
                let line = String::from_utf8_lossy(&buf);
                f(text_event(&line));
            }
        }
    }
    Ok(())
}

/// Read one line into `buf`, keeping at most `cap` bytes; returns the bytes consumed.
fn read_line_capped(r: &mut impl BufRead, buf: &mut Vec<u8>, cap: usize) -> std::io::Result<usize> {
    let mut total = 0;
    loop {
        let avail = r.fill_buf()?;
        if avail.is_empty() {
            return Ok(total);
        }
        let (chunk, done) = match memchr::memchr(b'\n', avail) {
            Some(i) => (&avail[..=i], true),
            None => (avail, false),
        };
        let room = cap.saturating_sub(buf.len());
        buf.extend_from_slice(&chunk[..chunk.len().min(room)]);
        let used = chunk.len();
        total += used;
        r.consume(used);
        if done {
            return Ok(total);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn times() {
        assert_eq!(parse_time("1970-01-01T00:00:01Z"), Some(1_000_000_000));
        assert_eq!(parse_time("1970-01-01 00:00:01.5"), Some(1_500_000_000));
        assert_eq!(parse_time("1970-01-02"), Some(86_400_000_000_000));
        assert_eq!(parse_time("1970-01-01T01:00:00+01:00"), Some(0));
        assert_eq!(parse_time("yesterday"), None);
        assert_eq!(format_time(1_500_000_000), "1970-01-01T00:00:01.5Z");
    }

    #[test]
    fn text_fields() {
        let e = text_event(r#"Jan 1 sshd[1]: user=root src="1.2.3.4 x" ok=1, message=no"#);
        assert_eq!(e["user"], json!("root"));
        assert_eq!(e["src"], json!("1.2.3.4 x"));
        assert_eq!(e["ok"], json!("1"));
        assert!(
            e["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("Jan 1"))
        );
    }

    #[test]
    fn winlogbeat_view_and_meta() {
        let v = event_view(json!({"@timestamp": "2020-01-01T00:00:00Z",
            "winlog": {"event_id": "4688", "channel": "Security", "computer_name": "h1",
                       "event_data": {"NewProcessName": "C:\\x.exe"}}}));
        assert_eq!(v["EventID"], json!(4688));
        assert_eq!(v["NewProcessName"], json!("C:\\x.exe"));
        let m = EventMeta::of(&v);
        assert_eq!(m.host.as_deref(), Some("h1"));
        assert_eq!(m.code.as_deref(), Some("4688"));
        assert_eq!(m.channel.as_deref(), Some("Security"));
        assert_eq!(m.timestamp, parse_time("2020-01-01T00:00:00Z"));
    }
}
