//! Normalizers: raw records into Vigil events.
//!
//! A normalizer never fails: a record it cannot parse still becomes an event holding the raw
//! bytes, the receive time as `@timestamp`, and the reason in `vigil.parse_error`, so it is
//! stored, counted and searchable. This crate holds the syslog normalizer the foundation needs;
//! the normalizer tree (main + extra normalizers chosen by condition), the other formats and
//! the product packs follow in the same shape.

#![warn(missing_docs)]

mod syslog;

pub use syslog::{SyslogNormalizer, severity_name};
