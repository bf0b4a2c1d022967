//! Property tests for the field parsers: arbitrary bytes never panic (and strict agrees with
//! lenient), and generated well-formed records come back field for field (CEF, LEEF, KV, JSON,
//! CSV, Windows event XML, XML flattened and through XPath selectors, regex captures).

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::prelude::*;
use vigil_parse::{
    DuplicateKeys, FieldValue, Fields, cef, csv, json, kv, leef, regex, winxml, xml,
};

fn bytes() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..300)
}

/// Bytes built from pieces of the formats, to reach deeper than uniform noise.
fn formatish() -> impl Strategy<Value = Vec<u8>> {
    let atoms = prop_oneof![
        Just(b"CEF:0|".to_vec()),
        Just(b"LEEF:2.0|".to_vec()),
        Just(b"|".to_vec()),
        Just(b"\\".to_vec()),
        Just(b"=".to_vec()),
        Just(b" ".to_vec()),
        Just(b"\t".to_vec()),
        Just(b"\"".to_vec()),
        Just(b"k=v ".to_vec()),
        Just(b"{\"a\":".to_vec()),
        Just(b"[".to_vec()),
        Just(b"]".to_vec()),
        Just(b"}".to_vec()),
        Just(b"\\u00".to_vec()),
        Just(b"<Event><System>".to_vec()),
        Just(b"<Data Name='x'>".to_vec()),
        Just(b"</Data>".to_vec()),
        Just(b"</System></Event>".to_vec()),
        Just(b",".to_vec()),
        Just(b"\n".to_vec()),
        "[ -~]{0,8}".prop_map(String::into_bytes),
        proptest::collection::vec(any::<u8>(), 0..4),
    ];
    proptest::collection::vec(atoms, 0..16).prop_map(|v| v.concat())
}

fn all_parsers_survive(input: &[u8]) {
    let (f, e) = cef::parse_lenient(input, &cef::CefOptions::default());
    match cef::parse(input, &cef::CefOptions::default()) {
        Ok(g) => {
            assert!(e.is_none());
            assert_eq!(f, g);
        }
        Err(x) => assert_eq!(Some(x), e),
    }
    let (f, e) = leef::parse_lenient(input, &leef::LeefOptions::default());
    assert_eq!(
        leef::parse(input, &leef::LeefOptions::default()).ok(),
        e.is_none().then_some(f)
    );
    let (f, e) = kv::parse_lenient(input, &kv::KvOptions::default());
    assert_eq!(
        kv::parse(input, &kv::KvOptions::default()).ok(),
        e.is_none().then_some(f)
    );
    let greedy = kv::KvOptions {
        greedy_values: true,
        pair_separator: ", ".into(),
        kv_separator: "=>".into(),
        ..kv::KvOptions::default()
    };
    let _ = kv::parse_lenient(input, &greedy);
    let _ = json::parse(input, &json::JsonOptions::default());
    let p = csv::CsvParser::new(csv::CsvOptions::default());
    let _ = p.parse_lenient(input);
    for r in csv::records(input, Some(b'"')) {
        assert!(r.end <= input.len());
    }
    let _ = winxml::parse(input, &winxml::WinXmlOptions::default());
    let _ = winxml::parse_batch(input, &winxml::WinXmlOptions::default());
    let x = xml::XmlParser::new(&xml::XmlOptions::default()).unwrap();
    let _ = x.parse(input);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(input in bytes()) {
        all_parsers_survive(&input);
    }

    #[test]
    fn formatish_bytes_never_panic(input in formatish()) {
        all_parsers_survive(&input);
    }

    #[test]
    fn regex_never_panics_on_any_pattern_or_input(pat in "\\PC{0,20}", input in bytes()) {
        if let Ok(p) = regex::RegexParser::new(&pat) {
            let _ = p.parse(&input);
        }
    }
}

fn cef_header_escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('|', "\\|")
}

fn cef_ext_escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('=', "\\=")
        .replace('\n', "\\n")
        .replace('\r', "\\r")
}

fn key() -> impl Strategy<Value = String> {
    "[a-zA-Z][a-zA-Z0-9_]{0,10}"
}

/// Distinct keys (the parsers' duplicate policies are tested elsewhere).
fn pairs(value: &'static str) -> impl Strategy<Value = Vec<(String, String)>> {
    proptest::collection::btree_map(key(), value, 0..8).prop_map(|m| m.into_iter().collect())
}

fn strs<'a>(f: &'a Fields<'a>, skip: usize) -> Vec<(String, String)> {
    f.iter()
        .skip(skip)
        .map(|(k, v)| (k.to_string(), v.as_str().unwrap().to_string()))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn cef_round_trip(
        header in proptest::collection::vec("[ -~]{0,12}", 6),
        // Values: printable text with '=', '\', '|', spaces, newlines; no trailing blank.
        ext in pairs("([ -~\n\r]{0,15}[!-~])?"),
        prefix in proptest::option::of("<13>May  1 00:00:00 host "),
    ) {
        let mut line = format!("{}CEF:0", prefix.unwrap_or_default());
        for h in &header {
            line.push('|');
            line.push_str(&cef_header_escape(h));
        }
        line.push('|');
        let text: Vec<String> = ext.iter().map(|(k, v)| format!("{k}={}", cef_ext_escape(v))).collect();
        line.push_str(&text.join(" "));
        let f = cef::parse(line.as_bytes(), &cef::CefOptions::default())
            .map_err(|e| TestCaseError::fail(format!("{e}: {line:?}")))?;
        let got = strs(&f, 1);
        prop_assert_eq!(&got[..6], &header.iter().map(|h| (String::new(), h.clone())).zip(cef::names::HEADER.iter().skip(1))
            .map(|((_, h), n)| (n.to_string(), h)).collect::<Vec<_>>()[..]);
        prop_assert_eq!(&got[6..], &ext[..]);
    }

    #[test]
    fn leef_round_trip(
        header in proptest::collection::vec("[ -~&&[^|\\\\]]{0,12}", 4),
        ext in pairs("[ -~&&[^^]]{0,15}"),
        v2 in any::<bool>(),
    ) {
        let (version, delim, sep) = if v2 { ("2.0", "|^", "^") } else { ("1.0", "", "\t") };
        let line = format!(
            "LEEF:{version}|{}{delim}|{}",
            header.join("|"),
            ext.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(sep),
        );
        let f = leef::parse(line.as_bytes(), &leef::LeefOptions::default())
            .map_err(|e| TestCaseError::fail(format!("{e}: {line:?}")))?;
        let got = strs(&f, 1);
        prop_assert_eq!(got[..4].iter().map(|(_, v)| v.clone()).collect::<Vec<_>>(), header);
        prop_assert_eq!(&got[4..], &ext[..]);
    }

    #[test]
    fn kv_round_trip(ext in pairs("[ -~\n]{0,15}"), comma in any::<bool>()) {
        let opts = kv::KvOptions {
            pair_separator: if comma { ",".into() } else { " ".into() },
            trim: false,
            ..kv::KvOptions::default()
        };
        let line = ext
            .iter()
            .map(|(k, v)| format!("{k}=\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")))
            .collect::<Vec<_>>()
            .join(&opts.pair_separator);
        let f = kv::parse(line.as_bytes(), &opts)
            .map_err(|e| TestCaseError::fail(format!("{e}: {line:?}")))?;
        prop_assert_eq!(strs(&f, 0), ext);
    }

    #[test]
    fn json_round_trip(
        v in proptest::collection::btree_map(key(), prop_oneof![
            any::<i64>().prop_map(FieldValue::Int),
            "\\PC{0,10}".prop_map(FieldValue::from),
            any::<bool>().prop_map(FieldValue::Bool),
            Just(FieldValue::Null),
        ], 0..8),
        nest in proptest::option::of(key()),
    ) {
        let obj = serde_json::Value::Object(v.iter().map(|(k, x)| (k.clone(), match x {
            FieldValue::Int(i) => serde_json::json!(i),
            FieldValue::Str(s) => serde_json::json!(s),
            FieldValue::Bool(b) => serde_json::json!(b),
            _ => serde_json::Value::Null,
        })).collect());
        let doc = match &nest {
            Some(n) => serde_json::json!({ n.clone(): obj }),
            None => obj,
        };
        let text = serde_json::to_string(&doc).unwrap();
        let f = json::parse(text.as_bytes(), &json::JsonOptions::default()).unwrap();
        let want: Vec<(String, FieldValue<'_>)> = v.iter().map(|(k, x)| {
            (nest.as_ref().map_or(k.clone(), |n| format!("{n}.{k}")), x.clone())
        }).collect();
        let got: Vec<(String, FieldValue<'_>)> = f.iter().map(|(k, x)| (k.to_string(), x.clone())).collect();
        prop_assert_eq!(got, want);
    }

    #[test]
    fn csv_round_trip(row in proptest::collection::vec("[ -~\n]{0,12}", 1..8)) {
        let line = row
            .iter()
            .map(|f| if f.contains([',', '"', '\n']) { format!("\"{}\"", f.replace('"', "\"\"")) } else { f.clone() })
            .collect::<Vec<_>>()
            .join(",");
        let got = csv::split_record(&line, &csv::CsvOptions::default()).unwrap();
        // A trailing line break of the last field is framing, not data.
        let mut want = row.clone();
        if let Some(last) = want.last_mut()
            && !last.contains([',', '"', '\n']) {
                *last = last.trim_end_matches(['\r', '\n']).to_string();
            }
        prop_assert_eq!(got, want);
    }

    #[test]
    fn winxml_round_trip(
        id in 0i64..65536,
        data in proptest::collection::btree_map("[A-Z][a-zA-Z]{0,10}", "[ -~]{0,20}", 0..6),
    ) {
        let esc = |s: &str| s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;");
        let body: String = data.iter().map(|(k, v)| format!("<Data Name=\"{k}\">{}</Data>", esc(v))).collect();
        let doc = format!("<Event xmlns=\"http://schemas.microsoft.com/win/2004/08/events/event\"><System><EventID>{id}</EventID></System><EventData>{body}</EventData></Event>");
        let f = winxml::parse(doc.as_bytes(), &winxml::WinXmlOptions { paths: false, ..Default::default() }).unwrap();
        prop_assert_eq!(f.get("EventID"), Some(&FieldValue::Int(id)));
        let got: Vec<(String, String)> = strs(&f, 1);
        let want: Vec<(String, String)> = data.into_iter().collect();
        prop_assert_eq!(got, want);
    }

    #[test]
    fn xml_round_trip_flattened_and_selected(
        leaves in proptest::collection::btree_map("f[a-z0-9]{0,5}", ("[ -~]{0,10}", "[!-~][ -~]{0,14}"), 1..6),
        pick in any::<prop::sample::Index>(),
    ) {
        let esc = |s: &str| s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;");
        let body: String = leaves.iter().map(|(n, (a, t))| format!("<{n} id=\"{}\">{}</{n}>", esc(a), esc(t))).collect();
        let doc = format!("<r>{body}</r>");
        let flat = xml::XmlParser::new(&xml::XmlOptions::default()).unwrap();
        let f = flat.parse(doc.as_bytes()).unwrap();
        let got: Vec<(String, String)> = strs(&f, 0);
        let want: Vec<(String, String)> = leaves
            .iter()
            .flat_map(|(n, (a, t))| [(format!("r.{n}.@id"), a.clone()), (format!("r.{n}"), t.clone())])
            .collect();
        prop_assert_eq!(got, want);
        // The same values through XPath selectors.
        let (name, (attr, text)) = leaves.iter().nth(pick.index(leaves.len())).unwrap();
        let sel = xml::XmlParser::new(&xml::XmlOptions {
            fields: vec![
                xml::XmlField { name: "t".into(), path: format!("//{name}") },
                xml::XmlField { name: "a".into(), path: format!("/r/{name}/@id") },
            ],
            ..xml::XmlOptions::default()
        })
        .unwrap();
        let f = sel.parse(doc.as_bytes()).unwrap();
        prop_assert_eq!(f.get_str("t"), Some(text.as_str()));
        prop_assert_eq!(f.get_str("a"), Some(attr.as_str()));
    }

    #[test]
    fn regex_captures_what_was_generated(user in "[a-z]{1,10}", port in 1u16..) {
        let p = regex::RegexParser::new(r"user (?P<user>\w+) port (?P<port>\d+)").unwrap();
        let line = format!("x user {user} port {port} y");
        let f = p.parse(line.as_bytes()).unwrap();
        prop_assert_eq!(f.get_str("user"), Some(user.as_str()));
        let port_s = port.to_string();
        prop_assert_eq!(f.get_str("port"), Some(port_s.as_str()));
    }
}

#[test]
fn duplicate_policy_applies_to_json_too() {
    let o = json::JsonOptions {
        duplicate_keys: DuplicateKeys::List,
        ..json::JsonOptions::default()
    };
    let f = json::parse(br#"{"a":1,"a":2}"#, &o).unwrap();
    assert_eq!(
        f.get("a"),
        Some(&FieldValue::List(vec![
            FieldValue::Int(1),
            FieldValue::Int(2)
        ]))
    );
}
