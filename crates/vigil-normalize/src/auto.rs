//! Auto-detection: which pack fits a line (`--normalizer auto`) and which fit a sample
//! (`--suggest`).
//!
//! Per line, the packs whose `detect` condition accepts the raw line are tried in library
//! order; the first that parses it without error wins. A line no pack claims goes to the
//! `generic` pack, which still finds the timestamp, host and message of common plain-text
//! log lines. `--suggest` instead runs every pack on every sample line and ranks them by how
//! many lines each parses and categorizes, and how many fields it fills.

use std::sync::Arc;

use chrono_tz::Tz;
use smol_str::SmolStr;
use vigil_event::Event;
use vigil_event::{RawRecord, SourceInfo};

use crate::library::{DefinitionErrors, Library};
use crate::parser::ParseContext;
use crate::tree::{Normalizer, new_event, trim_eol, utf8_lossy};

/// The name of the fallback pack.
pub const GENERIC: &str = "generic";

/// `--normalizer auto`: the best-guess pack per line.
#[derive(Debug, Clone)]
pub struct AutoNormalizer {
    candidates: Vec<Arc<Normalizer>>,
    generic: Option<Arc<Normalizer>>,
    timezone: Tz,
}

impl AutoNormalizer {
    /// Candidates are the library's top-level normalizers with a `detect` condition.
    pub fn new(lib: &Library, timezone: Tz) -> Result<AutoNormalizer, DefinitionErrors> {
        let mut candidates = Vec::new();
        for name in lib.names() {
            if name == GENERIC {
                continue;
            }
            let n = lib.compile(name)?;
            if n.has_detect() {
                candidates.push(n);
            }
        }
        let generic = if lib.get(GENERIC).is_some() {
            Some(lib.compile(GENERIC)?)
        } else {
            None
        };
        Ok(AutoNormalizer {
            candidates,
            generic,
            timezone,
        })
    }

    /// Normalizes one record with the first fitting pack; returns the event and the pack's
    /// name (`None` when nothing parsed it).
    pub fn normalize_record(
        &self,
        source: &SourceInfo,
        rec: RawRecord,
    ) -> (Event, Option<SmolStr>) {
        let text_bytes = rec.data.clone();
        let text = utf8_lossy(trim_eol(&text_bytes));
        let ctx = ParseContext {
            timezone: self.timezone,
            received: rec.received,
        };
        let blank = new_event(source, rec);
        for n in &self.candidates {
            if !n.detects(&blank, &text) {
                continue;
            }
            let mut ev = blank.clone();
            if n.apply(&mut ev, &text, &ctx, 0).is_ok() {
                return (ev, Some(SmolStr::new(n.name())));
            }
        }
        let mut ev = blank;
        match &self.generic {
            Some(g) => match g.apply(&mut ev, &text, &ctx, 0) {
                Ok(()) => (ev, Some(SmolStr::new(g.name()))),
                Err(e) => {
                    ev.meta.parse_error = Some(SmolStr::new(e.to_string()));
                    (ev, None)
                }
            },
            None => {
                ev.meta.parse_error = Some(SmolStr::new_static("auto: no pack fits"));
                (ev, None)
            }
        }
    }
}

impl vigil_event::Normalizer for AutoNormalizer {
    fn normalize(&self, source: &SourceInfo, rec: RawRecord, out: &mut Vec<Event>) {
        out.push(self.normalize_record(source, rec).0);
    }
}

/// How well one pack fits a sample.
#[derive(Debug, Clone)]
pub struct Suggestion {
    /// The pack.
    pub name: String,
    /// What it reads.
    pub description: Option<String>,
    /// Lines its `detect` condition accepted.
    pub detected: usize,
    /// Lines it parsed without error (extra normalizers included).
    pub parsed: usize,
    /// Lines that got an `event.category`.
    pub categorized: usize,
    /// Mean number of normalized fields set per parsed line.
    pub mean_fields: f64,
    /// The fields it filled on the first parsed line (name=value).
    pub example: Vec<(String, String)>,
    /// Score used for the ranking.
    pub score: f64,
}

const SKIP: &[&str] = &[
    "@timestamp",
    "event.ingested",
    "vigil.tenant",
    "vigil.source",
    "vigil.collector",
    "vigil.event_id",
    "vigil.type",
];

/// Ranks every top-level pack of `lib` on the sample `lines`, best first.
pub fn suggest(
    lib: &Library,
    lines: &[&str],
    timezone: Tz,
    received: vigil_event::Timestamp,
) -> Vec<Suggestion> {
    let source = SourceInfo {
        id: "suggest".into(),
        tenant: "main".into(),
        collector: "cli".into(),
    };
    let ctx = ParseContext { timezone, received };
    let mut out = Vec::new();
    for name in lib.names() {
        let Ok(n) = lib.compile(name) else { continue };
        let mut s = Suggestion {
            name: name.clone(),
            description: n.description().map(str::to_owned),
            detected: 0,
            parsed: 0,
            categorized: 0,
            mean_fields: 0.0,
            example: Vec::new(),
            score: 0.0,
        };
        let mut fields_total = 0usize;
        for line in lines {
            let rec = RawRecord {
                data: bytes::Bytes::copy_from_slice(line.as_bytes()),
                received,
                peer: None,
                transport_error: None,
            };
            let mut ev = new_event(&source, rec);
            if n.detects(&ev, line) {
                s.detected += 1;
            }
            if n.apply(&mut ev, line, &ctx, 0).is_err()
                || ev.extra.get("vigil.extra_error").is_some()
            {
                continue;
            }
            s.parsed += 1;
            if !ev.event.category.is_empty() {
                s.categorized += 1;
            }
            let flat: Vec<(String, String)> = ev
                .flat_fields()
                .into_iter()
                .filter(|(k, _)| {
                    !SKIP.contains(&k.as_str())
                        && !k.starts_with("event.module")
                        && !k.starts_with("event.dataset")
                        && !k.starts_with("observer.vendor")
                        && !k.starts_with("observer.product")
                })
                .collect();
            fields_total += flat.len();
            if s.example.is_empty() {
                s.example = flat;
            }
        }
        let n_lines = lines.len().max(1) as f64;
        s.mean_fields = if s.parsed > 0 {
            fields_total as f64 / s.parsed as f64
        } else {
            0.0
        };
        s.score = (s.parsed as f64 / n_lines)
            * (1.0 + s.categorized as f64 / n_lines + s.detected as f64 / n_lines)
            + s.mean_fields / 100.0;
        if name == GENERIC {
            s.score *= 0.5;
        }
        out.push(s);
    }
    out.sort_by(|a, b| b.score.total_cmp(&a.score));
    out
}
