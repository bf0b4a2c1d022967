//! `cargo fuzz run winxml`: single events and batches never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigil_parse::winxml::{WinXmlOptions, parse, parse_batch};

fuzz_target!(|data: &[u8]| {
    let opts = WinXmlOptions::default();
    let _ = parse(data, &opts);
    let _ = parse_batch(data, &opts);
});
