//! `cargo fuzz run json`: never panics, and accepts every object serde_json accepts (within
//! the depth and field caps), so the hand-written reader reads all of JSON. (It is laxer in two
//! places: lone surrogates become U+FFFD, out-of-range numbers are kept as text.)
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigil_parse::json::{JsonOptions, parse};

fuzz_target!(|data: &[u8]| {
    let opts = JsonOptions {
        max_depth: 16,
        ..JsonOptions::default()
    };
    let ours = parse(data, &opts);
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(serde_json::Value::Object(_)) = serde_json::from_str::<serde_json::Value>(text) {
            // serde_json's own recursion limit is 128; ours is 16, and we cap fields.
            if let Err(e) = &ours {
                let s = e.to_string();
                assert!(s.contains("deeper") || s.contains("fields"), "{s}: {text}");
            }
        }
    }
});
