//! Parsers for log formats: syslog (RFC 3164/5424) and its transport framing (RFC 6587),
//! later CEF, LEEF, JSON, CSV, KV, XML, EVTX.
//!
//! This crate is pure logic: bytes in, borrowed structures out. No I/O, no async, no
//! allocation on the common path. Connectors own sockets and files; they call the
//! [`framing::Framer`] to cut a byte stream into frames and [`syslog::parse_lenient`] to read
//! each frame. Keeping the two apart lets the same parser serve UDP datagrams, TCP streams
//! and files, and lets each be tested byte by byte without a network.
//!
//! # Design
//!
//! **Zero-copy.** A [`syslog::SyslogMessage`] borrows every field from the frame. The only
//! allocations are the `Vec` of RFC 5424 structured data (empty, so free, for most lines)
//! and parameter values that contained escapes. Frames are `Bytes` split off the
//! connection's buffer, so a frame can outlive the buffer without a copy.
//!
//! **Strict and lenient are one parser.** A SIEM must never lose a line because its sender
//! is sloppy, yet it must be able to say which lines were sloppy. [`syslog::parse_lenient`]
//! always returns a message: every field it could read, and the unreadable rest left in
//! `msg` (at worst the whole line), plus the first error it met, with its byte offset.
//! [`syslog::parse`] is the same run, with that error turned into `Err`. The pipeline keeps
//! the raw line next to a lenient parse and counts the error; nothing is dropped. The RFC
//! 3164 side follows rsyslog's heuristics, checked against rsyslog's own test vectors (see
//! `tests/rsyslog_vectors.rs` for the table of deliberate differences).
//!
//! **Time.** Timestamps come out as UTC instants, with the offset the message stated kept
//! beside them. Timestamps without an offset (all of RFC 3164) are read in a configured
//! time zone. RFC 3164 has no year: the parser picks the latest year that puts the message
//! no more than 31 days after a reference `now` (the receive time), so a `Dec 31` line
//! received on 1 January lands in the old year and a clock running slightly fast still
//! lands in the current one.
//!
//! **Framing** is detected per frame like syslog-ng: a leading digit means octet counting,
//! anything else a line. Oversized frames are cut and flagged, bad counts are errors that
//! carry the skipped bytes; both resynchronise so the next frame is intact.
#![warn(missing_docs)]

pub mod framing;
pub mod syslog;
