//! Normalizers: raw records into Vigil events.
//!
//! # Shape: KUMA's normalizer tree, as data
//! A normalizer is a YAML definition ([`def::NormalizerDef`]): a **parser** (syslog, JSON, KV,
//! regex, CSV, CEF, LEEF, XML, Windows event XML) that reads the input into named fields; a
//! **mapping** of those fields onto the schema (`from` → `to`, with conversions to IP, integer,
//! float, boolean, timestamp in any common format and time zone, duration; transforms
//! lowercase/uppercase/trim/regex-replace/split/dictionary lookup; constants; templates); the
//! ECS **categorization** (`set`, and `categorize` entries chosen by condition); and **extra**
//! normalizers applied to a field of the result when a condition holds (syslog → message is
//! CEF → CEF `msg` is JSON). `select` routes hand a whole record to another normalizer by
//! sender address, host or a test of the raw line. Conditions are queries of Vigil's own
//! language over the event (`process.name:sshd`, `vigil.peer:10.0.0.0/8`) or text predicates
//! (`starts_with`, `contains`, `regex`).
//!
//! A [`Library`] holds definitions (the packs shipped in `packs/`, embedded in the binary at
//! build time, plus any files given) and compiles one into a runtime [`Normalizer`] tree:
//! regexes, templates, queries, time zones and field ids are resolved once, so the hot path
//! only matches and copies. Validation reports every problem with its path, like the config.
//!
//! # Never lose a record
//! A normalizer never fails: a record it cannot parse still becomes an event holding the raw
//! bytes, the receive time as `@timestamp`, and the reason in `vigil.parse_error`, so it is
//! stored, counted and searchable. A failing *extra* normalizer leaves the main result and
//! notes the reason in `vigil.extra_error`; a failing conversion notes `vigil.mapping_error`.
//!
//! [`SyslogNormalizer`] is the fixed syslog normalizer `vigil up` started with; [`NormalizerTree`]
//! and [`AutoNormalizer`] implement the same [`vigil_event::Normalizer`] trait.

#![warn(missing_docs)]

mod auto;
pub mod convert;
pub mod def;
mod forwarded;
mod library;
pub mod parser;
mod prefilter;
mod syslog;
mod tree;

pub use auto::{AutoNormalizer, GENERIC, Suggestion, rfc3164_view, suggest};
pub use forwarded::from_forwarded;
pub use library::{DefinitionError, DefinitionErrors, Library, shipped_packs};
pub use parser::{ParseContext, ParseError};

/// Splits one CSV line (RFC 4180 double-quote quoting, read leniently), for tools and tests.
pub fn split_csv_line(line: &str) -> Vec<String> {
    let p = vigil_parse::csv::CsvParser::new(vigil_parse::csv::CsvOptions::default());
    p.parse_lenient(line.as_bytes())
        .0
        .into_iter()
        .map(|(_, v)| v.to_string())
        .collect()
}
pub use syslog::{SyslogNormalizer, severity_name};
pub use tree::{MAX_DEPTH, NormalizeError, Normalizer, NormalizerTree, new_event};
