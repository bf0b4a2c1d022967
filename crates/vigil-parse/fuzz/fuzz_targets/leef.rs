//! `cargo fuzz run leef`: strict and lenient agree and never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigil_parse::leef::{LeefOptions, parse, parse_lenient};

fuzz_target!(|data: &[u8]| {
    let opts = LeefOptions::default();
    let (f, err) = parse_lenient(data, &opts);
    assert_eq!(parse(data, &opts).ok(), err.is_none().then_some(f));
});
