//! Parsers for log formats: syslog (RFC 3164/5424) and its transport framing (RFC 6587), and
//! the field parsers that read what a message carries: CEF, LEEF, JSON, CSV/TSV, key-value,
//! regex, XML and Windows event XML; and the binary flow exports NetFlow v5/v9 and IPFIX, whose
//! decoder keeps each exporter's templates ([`netflow::NetflowDecoder`]).
//!
//! This crate is pure logic: bytes in, borrowed structures out. No I/O, no async, no
//! allocation on the common path beyond the output's own `Vec`. Connectors own sockets and
//! files; they call the [`framing::Framer`] to cut a byte stream into frames and
//! [`syslog::parse_lenient`] to read each frame; the normalizer then runs a field parser over
//! the message (or the whole record) and maps the result. Keeping the three apart lets the
//! same parser serve UDP datagrams, TCP streams and files, and lets each be tested byte by
//! byte without a network.
//!
//! # One output shape
//!
//! Every field parser returns [`Fields`]: `(name, value)` pairs in input order, values a small
//! typed [`FieldValue`] (text, integer, float, bool, null, list). The normalizer maps any
//! format the same way, by field name. Names and values borrow from the input
//! (`Cow::Borrowed`) unless they had to be unescaped or assembled (a dotted JSON path).
//! Repeated names are kept in order or merged by a [`DuplicateKeys`] policy.
//!
//! | module | format | entry point |
//! |---|---|---|
//! | [`syslog`] | RFC 3164 / 5424 header | [`syslog::parse_lenient`] |
//! | [`cef`] | `CEF:0\|vendor\|...\|ext`, after a syslog header or not | [`cef::parse`], [`cef::find_cef`] |
//! | [`leef`] | LEEF 1.0 (tabs) and 2.0 (declared delimiter) | [`leef::parse`] |
//! | [`json`] | an object, flattened to `a.b.c`, arrays kept as lists | [`json::parse`] |
//! | [`mod@csv`] | CSV/TSV, header row or configured columns | [`csv::CsvParser`] |
//! | [`kv`] | `k=v` pairs, configurable separators and quotes | [`kv::parse`] |
//! | [`mod@regex`] | named captures, linear-time engine | [`regex::RegexParser`] |
//! | [`xml`] | XPath-like selection (`//Data[@Name='X']`) | [`xml::XmlParser`] |
//! | [`winxml`] | Windows event XML (WEC): Sigma/evtx_dump names | [`winxml::parse`] |
//! | [`netflow`] | NetFlow v5, v9, IPFIX packets → flow records (ECS names) | [`netflow::NetflowDecoder::decode`] |
//!
//! # Design
//!
//! **Zero-copy.** A [`syslog::SyslogMessage`] borrows every field from the frame; so do the
//! field parsers' names and values wherever the input spells them literally. Frames are
//! `Bytes` split off the connection's buffer, so a frame can outlive the buffer without a copy.
//! Input that is not UTF-8 is parsed from a lossy copy (U+FFFD), and the result is owned.
//!
//! **Strict and lenient are one parser.** A SIEM must never lose a line because its sender
//! is sloppy, yet it must be able to say which lines were sloppy. [`syslog::parse_lenient`]
//! always returns a message: every field it could read, and the unreadable rest left in
//! `msg` (at worst the whole line), plus the first error it met, with its byte offset.
//! [`syslog::parse`] is the same run, with that error turned into `Err`. The line-oriented
//! field parsers (CEF, LEEF, KV, CSV) follow the same pattern (`parse_lenient` returns the
//! fields read and the first problem); for JSON and XML a broken document has no trustworthy
//! fields, so they only fail. Every error says where ([`Position`]: offset, line, column) and
//! what. The pipeline keeps the raw line next to a failed parse, with the reason; nothing is
//! dropped. The RFC 3164 side follows rsyslog's heuristics, checked against rsyslog's own test
//! vectors (see `tests/rsyslog_vectors.rs` for the table of deliberate differences).
//!
//! **Bounded.** No input can make a parser panic, recurse without limit or allocate without
//! limit: JSON and XML have size, depth and field/node caps; KV and CSV cap pairs and fields;
//! regexes are compiled under a size limit by an engine that runs in linear time (no
//! backtracking, so no catastrophic patterns). Each parser has a `cargo fuzz` target in
//! `fuzz/` and property tests in `tests/`.
//!
//! **CEF's hard part** is the extension: producers leave `=` and spaces unescaped in values.
//! A key is only the word right before an unescaped `=` that follows a space, so
//! `msg=a b=c` is ambiguous only when it is truly ambiguous; see [`cef`].
//!
//! **Time.** Syslog timestamps come out as UTC instants, with the offset the message stated
//! kept beside them. Timestamps without an offset (all of RFC 3164) are read in a configured
//! time zone. RFC 3164 has no year: the parser picks the latest year that puts the message
//! no more than 31 days after a reference `now` (the receive time), so a `Dec 31` line
//! received on 1 January lands in the old year and a clock running slightly fast still
//! lands in the current one. Field parsers leave timestamps as text: the normalizer knows
//! each product's format.
//!
//! **Framing** is detected per frame like syslog-ng: a leading digit means octet counting,
//! anything else a line. Oversized frames are cut and flagged, bad counts are errors that
//! carry the skipped bytes; both resynchronise so the next frame is intact.
#![warn(missing_docs)]

pub mod cef;
pub mod csv;
pub mod fields;
pub mod framing;
pub mod json;
pub mod kv;
pub mod leef;
pub mod netflow;
pub mod regex;
pub mod syslog;
pub mod winxml;
pub mod xml;

pub use fields::{DuplicateKeys, FieldValue, Fields, Position};
