//! `cargo fuzz run kv`: default and exotic separators, greedy values; never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigil_parse::DuplicateKeys;
use vigil_parse::kv::{KvOptions, parse, parse_lenient};

fuzz_target!(|data: &[u8]| {
    let opts = KvOptions::default();
    let (f, err) = parse_lenient(data, &opts);
    assert_eq!(parse(data, &opts).ok(), err.is_none().then_some(f));
    let odd = KvOptions {
        pair_separator: ", ".into(),
        kv_separator: "=>".into(),
        greedy_values: true,
        duplicate_keys: DuplicateKeys::List,
        max_pairs: 64,
        ..KvOptions::default()
    };
    let (f, _) = parse_lenient(data, &odd);
    assert!(f.len() <= 64);
});
