//! `cargo fuzz run xml`: flattening and XPath selection never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigil_parse::xml::{XPath, XmlField, XmlOptions, XmlParser};

fuzz_target!(|data: &[u8]| {
    let all = XmlParser::new(&XmlOptions::default()).unwrap();
    let _ = all.parse(data);
    let some = XmlParser::new(&XmlOptions {
        fields: vec![
            XmlField {
                name: "a".into(),
                path: "//Data[@Name='x']".into(),
            },
            XmlField {
                name: "b".into(),
                path: "/*/*[2]/@id".into(),
            },
        ],
        ..XmlOptions::default()
    })
    .unwrap();
    let _ = some.parse(data);
    let _ = XPath::parse(&String::from_utf8_lossy(data));
});
