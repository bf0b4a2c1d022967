//! `cargo fuzz run syslog_5424`: every input is put behind an RFC 5424 `<PRI>1 ` header (the
//! first byte picks PRI), so the fuzzer spends its time in the timestamp, header fields and
//! structured-data grammar. Lenient and strict agree, never panic, parameters and `msg` lie
//! inside the frame.
#![no_main]

use chrono::{TimeZone, Utc};
use libfuzzer_sys::fuzz_target;
use vigil_parse::syslog::{Format, SyslogOptions, parse, parse_lenient};

fuzz_target!(|data: &[u8]| {
    let [pri, rest @ ..] = data else {
        return;
    };
    let mut frame = format!("<{}>1 ", pri % 192).into_bytes();
    frame.extend_from_slice(rest);
    let opts = SyslogOptions {
        default_timezone: chrono_tz::America::New_York,
        now: Utc.with_ymd_and_hms(2024, 6, 15, 12, 0, 0).unwrap(),
    };
    let (m, err) = parse_lenient(&frame, &opts);
    assert_eq!(parse(&frame, &opts).err(), err);
    assert_eq!(m.format, Format::Rfc5424);
    assert_eq!(m.pri, Some(pri % 192));
    let inside = |s: &[u8]| {
        let start = (s.as_ptr() as usize).wrapping_sub(frame.as_ptr() as usize);
        s.is_empty() || (start <= frame.len() && start + s.len() <= frame.len())
    };
    assert!(inside(m.msg));
    if err.is_some() {
        return;
    }
    for e in &m.structured_data {
        assert!(!e.id.is_empty());
        for p in &e.params {
            assert!(!p.name.is_empty());
        }
    }
});
