//! Cutting request bodies into records: NDJSON and JSON arrays (`/ingest`), Elasticsearch
//! `_bulk` bodies, Splunk HEC event and raw bodies; decompression with a cap; basic-auth
//! decoding. Pure functions over bytes, so every case is unit-tested without a socket.

use std::io::Read;

use bytes::Bytes;
use serde::de::IgnoredAny;

/// One record cut from a body: its bytes and a transport problem (kept and marked, never
/// dropped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Piece {
    pub data: Bytes,
    pub error: Option<&'static str>,
}

/// The transport error of an event longer than `max_event_size`.
pub(crate) const OVERSIZED: &str = "event longer than max_event_size, truncated";
/// The transport error of a line or element that is not JSON where JSON was expected.
pub(crate) const NOT_JSON: &str = "not valid JSON";

impl Piece {
    fn new(data: Bytes, max: usize, want_json: bool) -> Piece {
        if data.len() > max {
            return Piece {
                data: data.slice(..max),
                error: Some(OVERSIZED),
            };
        }
        let error = (want_json && serde_json::from_slice::<serde::de::IgnoredAny>(&data).is_err())
            .then_some(NOT_JSON);
        Piece { data, error }
    }
}

/// Why a body could not be decoded: the sender is told (400 or 413) and it is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DecodeError {
    /// `Content-Encoding` other than identity, gzip or zstd.
    UnsupportedEncoding,
    /// The compressed stream is corrupt.
    Corrupt,
    /// It inflates beyond `max_decompressed_size`.
    TooLarge,
}

/// Decompresses `body` per `Content-Encoding` (`gzip`, `x-gzip`, `zstd`, `identity` or none),
/// reading at most `cap` bytes of output.
pub(crate) fn decode(
    body: Bytes,
    encoding: Option<&str>,
    cap: usize,
) -> Result<Bytes, DecodeError> {
    let enc = encoding.map(|e| e.trim().to_ascii_lowercase());
    let mut out = Vec::new();
    let limit = cap as u64 + 1;
    #[allow(clippy::disallowed_methods)] // bounded by `take`
    let read = match enc.as_deref() {
        None | Some("" | "identity") => return Ok(body),
        Some("gzip" | "x-gzip") => flate2::read::MultiGzDecoder::new(&body[..])
            .take(limit)
            .read_to_end(&mut out),
        Some("zstd") => match zstd::stream::read::Decoder::new(&body[..]) {
            Ok(d) => d.take(limit).read_to_end(&mut out),
            Err(_) => return Err(DecodeError::Corrupt),
        },
        Some(_) => return Err(DecodeError::UnsupportedEncoding),
    };
    if read.is_err() {
        return Err(DecodeError::Corrupt);
    }
    if out.len() > cap {
        return Err(DecodeError::TooLarge);
    }
    Ok(Bytes::from(out))
}

/// The lines of `body` (LF or CRLF), blank lines skipped.
fn lines(body: &Bytes) -> impl Iterator<Item = Bytes> + '_ {
    let mut start = 0;
    let mut pieces = Vec::new();
    for (i, &b) in body.iter().enumerate() {
        if b == b'\n' {
            pieces.push((start, i));
            start = i + 1;
        }
    }
    pieces.push((start, body.len()));
    pieces.into_iter().filter_map(move |(s, mut e)| {
        if e > s && body[e - 1] == b'\r' {
            e -= 1;
        }
        let line = body.slice(s..e);
        (!line.iter().all(u8::is_ascii_whitespace)).then_some(line)
    })
}

/// `/ingest`: a JSON array (each element one record) or NDJSON (each line one record). A line
/// that is not JSON is kept, marked [`NOT_JSON`]; a body that starts like an array but is not
/// one is read as lines.
pub(crate) fn ingest(body: &Bytes, max: usize) -> Vec<Piece> {
    let first = body.iter().position(|b| !b.is_ascii_whitespace());
    if let Some(i) = first
        && body[i] == b'['
        && let Some(spans) = array_spans(body, i + 1)
    {
        return spans
            .into_iter()
            .map(|(s, e)| Piece::new(body.slice(s..e), max, false))
            .collect();
    }
    lines(body).map(|l| Piece::new(l, max, true)).collect()
}

/// The byte spans of the elements of the JSON array whose `[` ends at `pos`, or `None` when
/// the body is not exactly one array.
fn array_spans(body: &[u8], mut pos: usize) -> Option<Vec<(usize, usize)>> {
    let skip = |p: &mut usize| {
        while *p < body.len() && body[*p].is_ascii_whitespace() {
            *p += 1;
        }
    };
    let mut spans = Vec::new();
    skip(&mut pos);
    if body.get(pos) == Some(&b']') {
        pos += 1;
    } else {
        loop {
            skip(&mut pos);
            let mut one =
                serde_json::Deserializer::from_slice(&body[pos..]).into_iter::<IgnoredAny>();
            one.next()?.ok()?;
            let end = pos + one.byte_offset();
            spans.push((pos, end));
            pos = end;
            skip(&mut pos);
            match body.get(pos) {
                Some(b',') => pos += 1,
                Some(b']') => {
                    pos += 1;
                    break;
                }
                _ => return None,
            }
        }
    }
    skip(&mut pos);
    (pos == body.len()).then_some(spans)
}

/// The action of one `_bulk` item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BulkItem {
    /// `index`, `create`, `update`, `delete`, or `index` for an unreadable action line.
    pub action: String,
    /// The target index (the action's `_index`, else the path's, else `vigil`).
    pub index: String,
    /// The document id given, if any.
    pub id: Option<String>,
    /// `None` when stored; else the ES error type and reason.
    pub error: Option<(&'static str, String)>,
    /// Index into the records of the request, when this item produced one.
    pub record: Option<usize>,
}

/// An Elasticsearch `_bulk` body: action lines (`index`, `create`) each followed by a document,
/// which becomes a record. `delete` and `update` are answered per item with an error (events
/// are immutable); their document line (update) is kept as a marked record, so nothing is lost.
/// An unreadable action line is kept as a marked record and answered with an error.
pub(crate) fn bulk(
    body: &Bytes,
    path_index: Option<&str>,
    max: usize,
) -> (Vec<Piece>, Vec<BulkItem>) {
    let mut pieces = Vec::new();
    let mut items = Vec::new();
    let mut it = lines(body);
    while let Some(line) = it.next() {
        let parsed: Option<(String, serde_json::Map<String, serde_json::Value>)> =
            serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(&line)
                .ok()
                .and_then(|m| {
                    let mut m = m.into_iter();
                    let (k, v) = m.next()?;
                    match v {
                        serde_json::Value::Object(o) if m.next().is_none() => Some((k, o)),
                        _ => None,
                    }
                });
        let default_index = path_index.unwrap_or("vigil").to_owned();
        let Some((action, meta)) = parsed else {
            pieces.push(Piece {
                error: Some("bulk: unreadable action line"),
                ..Piece::new(line, max, false)
            });
            items.push(BulkItem {
                action: "index".into(),
                index: default_index,
                id: None,
                error: Some((
                    "action_request_validation_exception",
                    "malformed action/metadata line; kept as a marked record".into(),
                )),
                record: Some(pieces.len() - 1),
            });
            continue;
        };
        let text = |k: &str| meta.get(k).and_then(|v| v.as_str()).map(str::to_owned);
        let index = text("_index").unwrap_or(default_index);
        let id = text("_id");
        match action.as_str() {
            "index" | "create" => match it.next() {
                Some(doc) => {
                    pieces.push(Piece::new(doc, max, true));
                    items.push(BulkItem {
                        action,
                        index,
                        id,
                        error: None,
                        record: Some(pieces.len() - 1),
                    });
                }
                None => items.push(BulkItem {
                    action,
                    index,
                    id,
                    error: Some((
                        "action_request_validation_exception",
                        "action line without a document".into(),
                    )),
                    record: None,
                }),
            },
            "update" => {
                let record = it.next().map(|doc| {
                    pieces.push(Piece {
                        error: Some("bulk: update of an event (events are immutable)"),
                        ..Piece::new(doc, max, false)
                    });
                    pieces.len() - 1
                });
                items.push(BulkItem {
                    action,
                    index,
                    id,
                    error: Some((
                        "illegal_argument_exception",
                        "events are immutable: update is not supported; the document was kept as a marked record".into(),
                    )),
                    record,
                });
            }
            _ => items.push(BulkItem {
                action: if action == "delete" {
                    action
                } else {
                    "index".into()
                },
                index,
                id,
                error: Some((
                    "illegal_argument_exception",
                    "events are immutable: only index and create are supported".into(),
                )),
                record: None,
            }),
        }
    }
    (pieces, items)
}

/// What a HEC event body could not be read as (Splunk's codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct HecError {
    /// Splunk's code: 6 invalid data format, 12 event field required, 13 event field blank.
    pub code: u32,
    /// Splunk's text.
    pub text: &'static str,
    /// The zero-based number of the event at fault.
    pub event: usize,
}

/// A HEC `/services/collector/event` body: JSON objects one after another (whitespace or
/// nothing between). Each object's `event` becomes a record: a string as is, anything else as
/// its JSON. The rest of a body from an unreadable object on is kept as one marked record.
pub(crate) fn hec_event(body: &Bytes, max: usize) -> (Vec<Piece>, Option<HecError>) {
    #[derive(serde::Deserialize)]
    struct Envelope {
        event: Option<serde_json::Value>,
    }
    let mut pieces = Vec::new();
    let mut stream = serde_json::Deserializer::from_slice(body).into_iter::<IgnoredAny>();
    let mut n = 0;
    loop {
        let start = stream.byte_offset();
        let next = stream.next();
        let fail = |pieces: &mut Vec<Piece>, code, text| {
            let rest = body.slice(start..);
            let trimmed = rest
                .iter()
                .position(|b| !b.is_ascii_whitespace())
                .unwrap_or(rest.len());
            pieces.push(Piece {
                error: Some("hec: unreadable event"),
                ..Piece::new(rest.slice(trimmed..), max, false)
            });
            Some(HecError {
                code,
                text,
                event: n,
            })
        };
        match next {
            None => return (pieces, None),
            Some(Err(_)) => {
                let f = fail(&mut pieces, 6, "Invalid data format");
                return (pieces, f);
            }
            Some(Ok(IgnoredAny)) => {
                match serde_json::from_slice::<Envelope>(&body[start..stream.byte_offset()]) {
                    Ok(Envelope {
                        event: Some(serde_json::Value::String(s)),
                    }) => {
                        if s.is_empty() {
                            {
                                let f = fail(&mut pieces, 13, "Event field cannot be blank");
                                return (pieces, f);
                            };
                        }
                        pieces.push(Piece::new(Bytes::from(s), max, false));
                    }
                    Ok(Envelope {
                        event: Some(serde_json::Value::Null),
                    })
                    | Ok(Envelope { event: None }) => {
                        {
                            let f = fail(&mut pieces, 12, "Event field is required");
                            return (pieces, f);
                        };
                    }
                    Ok(Envelope { event: Some(v) }) => {
                        pieces.push(Piece::new(Bytes::from(v.to_string()), max, false));
                    }
                    Err(_) => {
                        let f = fail(&mut pieces, 6, "Invalid data format");
                        return (pieces, f);
                    }
                }
            }
        }
        n += 1;
    }
}

/// A HEC `/services/collector/raw` body: each line a record, as is.
pub(crate) fn hec_raw(body: &Bytes, max: usize) -> Vec<Piece> {
    lines(body).map(|l| Piece::new(l, max, false)).collect()
}

/// The password of an HTTP basic credential (`base64(user:password)`), if it decodes.
pub(crate) fn basic_password(b64: &str) -> Option<String> {
    let mut bits: u32 = 0;
    let mut nbits = 0;
    let mut out = Vec::new();
    for c in b64.trim().bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            b'=' => break,
            _ => return None,
        };
        bits = (bits << 6) | u32::from(v);
        nbits += 6;
        if nbits >= 8 {
            nbits -= 8;
            out.push((bits >> nbits) as u8);
            bits &= (1 << nbits) - 1;
        }
    }
    let text = String::from_utf8(out).ok()?;
    text.split_once(':').map(|(_, p)| p.to_owned())
}
