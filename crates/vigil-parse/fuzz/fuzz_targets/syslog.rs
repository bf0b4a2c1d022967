//! `cargo fuzz run syslog` (seeds: `../shared/corpora/rsyslog-parser-testvectors/fuzz-seeds`):
//! the lenient and strict parsers agree and never panic, and `msg` is a tail of the frame.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigil_parse::syslog::{SyslogOptions, parse, parse_lenient};

fuzz_target!(|data: &[u8]| {
    let opts = SyslogOptions::default();
    let (m, err) = parse_lenient(data, &opts);
    assert_eq!(parse(data, &opts).err(), err);
    if !m.msg.is_empty() {
        let start = (m.msg.as_ptr() as usize).wrapping_sub(data.as_ptr() as usize);
        assert!(start <= data.len() && start + m.msg.len() <= data.len());
    }
});
