//! Auto-detection: which pack fits a line (`--normalizer auto`) and which fit a sample
//! (`--suggest`).
//!
//! A line that is an event another Vigil forwarded (its destinations' nested ECS JSON) is
//! taken back field for field ([`crate::from_forwarded`]) before any pack is asked.
//!
//! Per line, the packs whose `detect` condition accepts the raw line are tried in library
//! order; the first that parses it without error wins. A literal prefilter
//! ([`crate::prefilter`]) first finds, in one Aho-Corasick pass over the line, which packs'
//! conditions can hold at all (a pack detecting `\bsshd(?:\[\d+\])?: ` needs `sshd` in the
//! line); only those are evaluated, so a line costs one scan plus the few conditions that fit
//! instead of every pack's condition. A line no pack claims goes to the
//! `generic` pack, which still finds the timestamp, host and message of common plain-text
//! log lines. `--suggest` instead runs every pack on every sample line and ranks them by how
//! many lines each parses and categorizes, and how many fields it fills.
//!
//! The packs' `detect` conditions are written against the RFC 3164 header's `program[pid]: `
//! (`\bsshd(?:\[\d+\])?: `). An RFC 5424 line says the same thing in other words
//! (`<38>1 2026-11-22T07:00:00Z host sshd 4242 - - Failed ...`), so a pack is also asked about
//! the line's RFC 3164 view (`<38>host sshd[4242]: Failed ...`, [`rfc3164_view`]): the lines of
//! one program normalize alike whichever header carried them. The pack itself still parses the
//! original line (its syslog parser reads both headers, and keeps the RFC 5424 line's full
//! timestamp and structured data).

use std::sync::Arc;

use chrono_tz::Tz;
use smol_str::SmolStr;
use vigil_event::Event;
use vigil_event::{RawRecord, SourceInfo};

use crate::library::{DefinitionErrors, Library};
use crate::parser::ParseContext;
use crate::prefilter::Prefilter;
use crate::tree::{Normalizer, new_event, trim_eol, utf8_lossy};

/// The name of the fallback pack.
pub const GENERIC: &str = "generic";

/// What `auto` names an event forwarded by another Vigil (see [`crate::from_forwarded`]).
pub const FORWARDED: &str = "vigil_forwarded";

/// `--normalizer auto`: the best-guess pack per line.
#[derive(Debug, Clone)]
pub struct AutoNormalizer {
    candidates: Vec<Arc<Normalizer>>,
    generic: Option<Arc<Normalizer>>,
    timezone: Tz,
    /// Skips the candidates whose `detect` cannot hold (see [`crate::prefilter`]); `None`
    /// asks every candidate.
    prefilter: Option<Prefilter>,
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
        let prefilter = Some(Prefilter::new(candidates.iter().map(|n| n.detect.as_ref())));
        Ok(AutoNormalizer {
            candidates,
            generic,
            timezone,
            prefilter,
        })
    }

    /// Turns the literal prefilter off (`false`: every candidate's `detect` is evaluated on
    /// every line, as before the prefilter) or back on. The choice and the event are the same
    /// either way; this is for the tests that check it and for measuring what it saves.
    pub fn with_prefilter(mut self, on: bool) -> AutoNormalizer {
        self.prefilter =
            on.then(|| Prefilter::new(self.candidates.iter().map(|n| n.detect.as_ref())));
        self
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
        // an event another Vigil forwarded: taken back as it was, not wrapped again
        if let Some(ev) = crate::forwarded::from_forwarded(&blank, &text) {
            return (ev, Some(SmolStr::new_static(FORWARDED)));
        }
        let view = rfc3164_view(&text);
        // the literals of the line and of its view, found in one pass each
        let found = self
            .prefilter
            .as_ref()
            .map(|p| (p, p.scan(&text), view.as_deref().map(|v| p.scan(v))));
        for (i, n) in self.candidates.iter().enumerate() {
            let (in_line, in_view) = match &found {
                Some((p, line, view)) => (
                    p.possible(i, line),
                    view.as_ref().is_some_and(|v| p.possible(i, v)),
                ),
                None => (true, true),
            };
            let detected = (in_line && n.detects(&blank, &text))
                || (in_view && view.as_deref().is_some_and(|v| n.detects(&blank, v)));
            if !detected {
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

/// The RFC 3164 view of an RFC 5424 line, `<PRI>HOST APP[PROCID]: MSG` (structured data and
/// message id left out, a NILVALUE field left out), for the packs' `detect` conditions. `None`
/// for any other line, or one without an APP-NAME.
pub fn rfc3164_view(line: &str) -> Option<String> {
    // cheap test before parsing: `<digits>1 `
    let rest = line.strip_prefix('<')?;
    let close = rest.find('>')?;
    if close == 0 || close > 3 || !rest.as_bytes()[..close].iter().all(u8::is_ascii_digit) {
        return None;
    }
    if !rest[close + 1..].starts_with("1 ") {
        return None;
    }
    let opts = vigil_parse::syslog::SyslogOptions {
        default_timezone: chrono_tz::UTC,
        now: chrono::DateTime::<chrono::Utc>::UNIX_EPOCH,
    };
    let (m, _) = vigil_parse::syslog::parse_lenient(line.as_bytes(), &opts);
    if m.format != vigil_parse::syslog::Format::Rfc5424 {
        return None;
    }
    let app = m.app_name.filter(|a| !a.is_empty() && *a != "-")?;
    let msg = m.msg_lossy();
    let mut v = String::with_capacity(line.len());
    v.push_str(&line[..close + 2]);
    if let Some(h) = m.hostname.filter(|h| !h.is_empty() && *h != "-") {
        v.push_str(h);
        v.push(' ');
    }
    v.push_str(app);
    if let Some(p) = m.procid.filter(|p| !p.is_empty() && *p != "-") {
        v.push('[');
        v.push_str(p);
        v.push(']');
    }
    v.push_str(": ");
    v.push_str(msg.strip_prefix('\u{feff}').unwrap_or(&msg));
    Some(v)
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

#[cfg(test)]
mod tests {
    use super::rfc3164_view;

    #[test]
    fn the_prefilter_leaves_few_packs_to_ask() {
        let lib = crate::Library::builtin().unwrap_or_else(|e| panic!("{e}"));
        let auto =
            super::AutoNormalizer::new(&lib, chrono_tz::UTC).unwrap_or_else(|e| panic!("{e}"));
        let Some(p) = &auto.prefilter else {
            panic!("auto has no prefilter")
        };
        let asked = |line: &str| -> Vec<&str> {
            let found = p.scan(line);
            (auto.candidates.iter().enumerate())
                .filter(|(i, _)| p.possible(*i, &found))
                .map(|(_, n)| n.name())
                .collect()
        };
        // a line without any literal: only the conditions that require none
        let always = asked("x");
        eprintln!("always asked: {always:?} of {}", auto.candidates.len());
        assert!(always.len() <= 3, "{always:?}");
        for (line, pack) in [
            (
                "<38>Nov 22 07:00:00 jump01 sshd[4242]: Failed password for root from 203.0.113.7 port 52144 ssh2",
                "sshd",
            ),
            (
                "<86>web-04 sudo: alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/bin/ls",
                "sudo",
            ),
            (
                "<4>Nov 22 06:59:58 fw kernel: [UFW BLOCK] IN=eth0 OUT= SRC=203.0.113.50 DST=198.51.100.10 PROTO=TCP",
                "netfilter",
            ),
        ] {
            let got = asked(line);
            eprintln!("{pack}: {got:?}");
            assert!(got.contains(&pack), "{pack} not asked: {got:?}");
            assert!(got.len() <= always.len() + 2, "{got:?}");
        }
    }

    #[test]
    fn the_rfc3164_view_of_rfc5424_lines() {
        assert_eq!(
            rfc3164_view("<86>1 2024-05-01T00:00:00.000197+00:00 web-04 sshd 7017 - - Failed password for alice from 45.140.125.58 port 49289 ssh2").as_deref(),
            Some("<86>web-04 sshd[7017]: Failed password for alice from 45.140.125.58 port 49289 ssh2")
        );
        // NILVALUE procid, structured data
        assert_eq!(
            rfc3164_view("<134>1 2026-11-22T07:00:00Z app01 shop - LOGIN [login@32473 user=\"a\\]b\"] user a logged in").as_deref(),
            Some("<134>app01 shop: user a logged in")
        );
        assert_eq!(
            rfc3164_view("<4>1 2024-05-01T00:00:00Z fw kernel - - - [1.0] [UFW BLOCK] SRC=1.2.3.4 DST=5.6.7.8").as_deref(),
            Some("<4>fw kernel: [1.0] [UFW BLOCK] SRC=1.2.3.4 DST=5.6.7.8")
        );
        // not RFC 5424, or no APP-NAME: no view
        for l in [
            "<38>Nov 22 07:00:00 jump01 sshd[1]: Failed password",
            "<38>1 2024-05-01T00:00:00Z host - - - - msg",
            "<38>1",
            "<>1 x",
            "<1234>1 2024-05-01T00:00:00Z h a - - - m",
            "plain text",
            "",
        ] {
            assert_eq!(rfc3164_view(l), None, "{l}");
        }
    }
}
