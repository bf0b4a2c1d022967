//! `cargo fuzz run regex`: the first line is a pattern, the rest the input; compiling under
//! the size limit and matching never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigil_parse::regex::RegexParser;

fuzz_target!(|data: &[u8]| {
    let split = data.iter().position(|&c| c == b'\n').unwrap_or(data.len());
    let pattern = String::from_utf8_lossy(&data[..split]);
    if let Ok(p) = RegexParser::new(&pattern) {
        let _ = p.parse(data.get(split + 1..).unwrap_or_default());
    }
});
