//! `cargo fuzz run cef`: strict and lenient agree, never panic; `find_cef` is in bounds.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigil_parse::cef::{CefOptions, find_cef, parse, parse_lenient};

fuzz_target!(|data: &[u8]| {
    let opts = CefOptions {
        resolve_custom_labels: true,
        ..CefOptions::default()
    };
    let (f, err) = parse_lenient(data, &opts);
    match parse(data, &opts) {
        Ok(g) => assert!(err.is_none() && f == g),
        Err(e) => assert_eq!(Some(e), err),
    }
    if let Some(i) = find_cef(data) {
        assert!(data[i..].starts_with(b"CEF:"));
    }
});
