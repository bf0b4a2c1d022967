//! `cargo fuzz run syslog_3164` (seeds: `../shared/corpora/rsyslog-parser-testvectors/fuzz-seeds`):
//! any frame that does not open with an RFC 5424 `<PRI>1 ` header takes the RFC 3164 path
//! (rsyslog's heuristics); the lenient and strict parsers agree, never panic, and `msg` is a
//! tail of the frame.
#![no_main]

use chrono::{TimeZone, Utc};
use libfuzzer_sys::fuzz_target;
use vigil_parse::syslog::{Format, SyslogOptions, parse, parse_lenient};

fuzz_target!(|data: &[u8]| {
    // A fixed `now` and a zone with DST keep runs reproducible and exercise the year guess.
    let opts = SyslogOptions {
        default_timezone: chrono_tz::Europe::Paris,
        now: Utc.with_ymd_and_hms(2024, 1, 3, 0, 30, 0).unwrap(),
    };
    let (m, err) = parse_lenient(data, &opts);
    assert_eq!(parse(data, &opts).err(), err);
    if m.format != Format::Rfc3164 {
        return; // the 5424 path has its own target
    }
    assert!(m.version.is_none());
    if !m.msg.is_empty() {
        let start = (m.msg.as_ptr() as usize).wrapping_sub(data.as_ptr() as usize);
        assert!(start <= data.len() && start + m.msg.len() <= data.len());
    }
});
