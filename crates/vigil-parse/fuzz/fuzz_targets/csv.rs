//! `cargo fuzz run csv`: record splitting and field parsing never panic and stay in bounds.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigil_parse::csv::{CsvOptions, CsvParser, records};

fuzz_target!(|data: &[u8]| {
    let p = CsvParser::new(CsvOptions {
        columns: vec!["a".into(), "b".into(), "c".into()],
        ..CsvOptions::default()
    });
    for r in records(data, Some(b'"')) {
        let _ = p.parse_lenient(&data[r]);
    }
    let tsv = CsvParser::new(CsvOptions::tsv());
    let _ = tsv.parse(data);
});
