//! The field parsers against real third-party data, read in place from the shared corpora
//! (never copied here; see `../shared/corpora/README.md`). Skipped with a message when the
//! corpora are missing, except under CI.
//!
//! * JSON: every evtx_dump-style document (Chainsaw's JSONL, evtx-rs snapshots, the Sigma
//!   regression renderings) flattens to exactly the leaves serde_json sees, path for path.
//! * Windows event XML: the evtx-rs XML snapshot gives the values of its JSON twin.
//! * CSV: loghub's structured files (quoted `Content` with commas and quotes) split into as
//!   many fields as their header, `LineId` counts 1..n, and `Content` is part of raw line n.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use serde_json::Value;
use vigil_parse::{DuplicateKeys, FieldValue, Fields, csv, json, winxml};

fn read_capped(path: &Path) -> Vec<u8> {
    vigil_testkit::read_capped(path, 8 << 20)
}

fn files(dir: &Path, ext: &str, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files(&p, ext, out);
        } else if p.to_string_lossy().ends_with(ext) {
            out.push(p);
        }
    }
}

/// serde_json's leaves as (dotted path, value), arrays whole.
fn leaves(v: &Value, path: &str, out: &mut Vec<(String, Value)>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                leaves(x, &p, out);
            }
        }
        other => out.push((path.to_string(), other.clone())),
    }
}

fn same(ours: &FieldValue<'_>, theirs: &Value) -> bool {
    match (ours, theirs) {
        (FieldValue::Str(s), Value::String(t)) => s == t,
        (FieldValue::Str(s), Value::Object(_)) => {
            serde_json::from_str::<Value>(s).ok().as_ref() == Some(theirs)
        }
        (FieldValue::Int(i), Value::Number(n)) => n.as_i64() == Some(*i),
        (FieldValue::Str(s), Value::Number(n)) => n.to_string() == **s,
        (FieldValue::Float(f), Value::Number(n)) => n.as_f64() == Some(*f),
        (FieldValue::Bool(b), Value::Bool(c)) => b == c,
        (FieldValue::Null, Value::Null) => true,
        (FieldValue::List(l), Value::Array(a)) => {
            l.len() == a.len() && l.iter().zip(a).all(|(x, y)| same(x, y))
        }
        _ => false,
    }
}

fn check_json_doc(text: &str, origin: &str) {
    let theirs: Value = serde_json::from_str(text).unwrap();
    let opts = json::JsonOptions {
        duplicate_keys: DuplicateKeys::Keep,
        ..json::JsonOptions::default()
    };
    let ours = json::parse(text.as_bytes(), &opts).unwrap_or_else(|e| panic!("{origin}: {e}"));
    let mut want = Vec::new();
    leaves(&theirs, "", &mut want);
    // Empty objects give no field in ours; serde's leaves skip them too (no entries).
    assert_eq!(ours.len(), want.len(), "{origin}: field count");
    for (path, v) in &want {
        let got = ours
            .get(path)
            .unwrap_or_else(|| panic!("{origin}: no {path}"));
        assert!(same(got, v), "{origin}: {path}: {got:?} vs {v}");
    }
}

#[test]
fn json_flattens_evtx_dump_documents_like_serde_json() {
    let Some(root) = vigil_testkit::corpora() else {
        return;
    };
    let mut docs = 0;
    // Chainsaw's JSONL: one event per line.
    let jsonl = root.join("chainsaw-evtx-golden/tests/evtx/clo_search_q_jsonl_simple_string.txt");
    if jsonl.exists() {
        let text = String::from_utf8(read_capped(&jsonl)).unwrap();
        for (i, line) in text.lines().filter(|l| l.starts_with('{')).enumerate() {
            check_json_doc(line, &format!("{}:{}", jsonl.display(), i + 1));
            let f = json::parse(line.as_bytes(), &json::JsonOptions::default()).unwrap();
            assert_eq!(f.get("Event.System.EventID"), Some(&FieldValue::Int(4624)));
            assert_eq!(f.get_str("Event.EventData.TargetUserName"), Some("SYSTEM"));
            docs += 1;
        }
    }
    // evtx-rs JSON snapshots (after the `---` header) and Sigma's regression renderings
    // (concatenated pretty-printed objects).
    let mut paths = Vec::new();
    files(
        &root.join("evtx-rs-parser-samples/snapshots"),
        ".snap",
        &mut paths,
    );
    files(&root.join("sigma/regression_data"), ".json", &mut paths);
    for p in &paths {
        let raw = String::from_utf8(read_capped(p)).unwrap();
        let body = match raw.strip_prefix("---\n") {
            Some(rest) => rest.split_once("\n---\n").map_or(rest, |(_, b)| b),
            None => &raw,
        };
        if !body.trim_start().starts_with('{') {
            continue;
        }
        let mut stream = serde_json::Deserializer::from_str(body).into_iter::<Value>();
        let mut start = 0;
        while let Some(Ok(_)) = stream.next() {
            let end = stream.byte_offset();
            check_json_doc(&body[start..end], &p.display().to_string());
            start = end;
            docs += 1;
        }
    }
    eprintln!("{docs} JSON documents checked");
    assert!(docs > 100, "only {docs} documents found");
}

#[test]
fn winxml_matches_evtx_rs_snapshot() {
    let Some(dir) = vigil_testkit::corpus("evtx-rs-parser-samples") else {
        return;
    };
    let snap = |name: &str| {
        let raw = String::from_utf8(read_capped(&dir.join("snapshots").join(name))).unwrap();
        raw.strip_prefix("---\n")
            .and_then(|r| r.split_once("\n---\n"))
            .map(|(_, b)| b.to_string())
            .unwrap()
    };
    let xml =
        snap("test_record_samples__event_xml_sample_with_event_data_with_attributes_and_text.snap");
    let json: Value = serde_json::from_str(&snap(
        "test_record_samples__event_json_sample_with_event_data_with_attributes_and_text.snap",
    ))
    .unwrap();
    let f: Fields<'_> = winxml::parse(xml.as_bytes(), &winxml::WinXmlOptions::default()).unwrap();
    let sys = &json["Event"]["System"];
    assert_eq!(
        f.get("EventID"),
        Some(&FieldValue::Int(sys["EventID"]["#text"].as_i64().unwrap()))
    );
    assert_eq!(
        f.get("EventID_Qualifiers"),
        Some(&FieldValue::Int(
            sys["EventID"]["#attributes"]["Qualifiers"]
                .as_i64()
                .unwrap()
        ))
    );
    assert_eq!(
        f.get_str("Provider_Name"),
        sys["Provider"]["#attributes"]["Name"].as_str()
    );
    assert_eq!(
        f.get_str("TimeCreated_SystemTime"),
        sys["TimeCreated"]["#attributes"]["SystemTime"].as_str()
    );
    for k in ["Channel", "Computer", "Keywords"] {
        assert_eq!(f.get_str(k), sys[k].as_str(), "{k}");
    }
    for k in ["Level", "Task", "EventRecordID"] {
        assert_eq!(
            f.get(k),
            Some(&FieldValue::Int(sys[k].as_i64().unwrap())),
            "{k}"
        );
    }
    assert_eq!(f.get("Security"), Some(&FieldValue::Null));
    assert_eq!(f.get("Binary"), Some(&FieldValue::Null));
    let data: Vec<&str> = json["Event"]["EventData"]["Data"]["#text"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for (i, want) in data.iter().enumerate() {
        assert_eq!(f.get_str(&format!("Data_{}", i + 1)), Some(*want));
    }
    assert!(!f.contains(&format!("Data_{}", data.len() + 1)));
    assert!(same(
        f.get("Event.EventData.Data").unwrap(),
        &json["Event"]["EventData"]["Data"]["#text"]
    ));
}

#[test]
fn csv_reads_loghub_structured_files() {
    let Some(dir) = vigil_testkit::corpus("loghub") else {
        return;
    };
    let mut structured = Vec::new();
    files(&dir, "_structured.csv", &mut structured);
    structured.sort();
    assert!(!structured.is_empty());
    let mut rows = 0;
    for p in &structured {
        let doc = read_capped(p);
        let raw_path = PathBuf::from(p.to_string_lossy().replace("_structured.csv", ""));
        let raw = String::from_utf8_lossy(&read_capped(&raw_path)).into_owned();
        let raw_lines: Vec<&str> = raw.lines().collect();
        let mut parser = csv::CsvParser::new(csv::CsvOptions {
            header_row: true,
            ..csv::CsvOptions::default()
        });
        let mut n = 0usize;
        for r in csv::records(&doc, Some(b'"')) {
            let line = &doc[r];
            let Some(f) = parser.parse_line(line).unwrap_or_else(|e| {
                panic!("{}: {e}: {}", p.display(), String::from_utf8_lossy(line))
            }) else {
                continue;
            };
            n += 1;
            assert_eq!(
                f.get_str("LineId"),
                Some(n.to_string().as_str()),
                "{}",
                p.display()
            );
            let content = f.get_str("Content").unwrap();
            let raw_line = raw_lines.get(n - 1).copied().unwrap_or_default();
            assert!(
                raw_line.contains(content.trim()),
                "{} line {n}: {content:?} not in {raw_line:?}",
                p.display()
            );
        }
        assert_eq!(n, 2000, "{}", p.display());
        rows += n;
    }
    eprintln!("{rows} loghub rows checked in {} files", structured.len());
}
