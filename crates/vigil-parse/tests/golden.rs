//! Golden files: `testdata/<format>/<case>.log` is parsed and rendered as JSON, which must
//! equal `<case>.expected.json`. One check per file, named after the case;
//! `VIGIL_BLESS=1 cargo test -p vigil-parse --test golden` rewrites the expected files.
//!
//! * `syslog/`: one raw frame, parsed leniently. Options: UTC, `now` = 2024-06-15T12:00:00Z.
//! * `cef/`, `leef/`, `kv/`, `json/`, `regex/`, `xml/`, `winxml/`, `csv/`: the record (one
//!   trailing line break removed), rendered as `{"fields": [[name, value], ...], "error": ..}`
//!   so order and repeated names show. Parser options come from leading `#! key=value` lines,
//!   which are not part of the record (see `options` below). A `csv` case is a whole file:
//!   one rendering per record.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use chrono::{SecondsFormat, TimeZone, Utc};
use serde_json::{Value, json};
use vigil_parse::syslog::{SyslogOptions, parse_lenient};
use vigil_parse::{
    DuplicateKeys, FieldValue, Fields, cef, csv, json, kv, leef, regex, winxml, xml,
};

fn render(input: &[u8]) -> Value {
    let opts = SyslogOptions {
        default_timezone: chrono_tz::UTC,
        now: Utc.with_ymd_and_hms(2024, 6, 15, 12, 0, 0).unwrap(),
    };
    let (m, err) = parse_lenient(input, &opts);
    json!({
        "format": format!("{:?}", m.format),
        "pri": m.pri,
        "facility": m.facility(),
        "severity": m.severity(),
        "version": m.version,
        "timestamp": m.timestamp.map(|t| t.to_rfc3339_opts(SecondsFormat::AutoSi, true)),
        "timestamp_offset": m.timestamp_offset.map(|o| o.to_string()),
        "hostname": m.hostname,
        "app_name": m.app_name,
        "procid": m.procid,
        "msgid": m.msgid,
        "structured_data": m.structured_data.iter().map(|e| json!({
            "id": e.id,
            "params": e.params.iter().map(|p| json!([p.name, p.value])).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "msg": m.msg_lossy(),
        "error": err.map(|e| e.to_string()),
    })
}

fn read_capped(path: &Path) -> Vec<u8> {
    vigil_testkit::read_capped(path, 1 << 20)
}

fn value(v: &FieldValue<'_>) -> Value {
    match v {
        FieldValue::Str(s) => json!(s),
        FieldValue::Int(i) => json!(i),
        FieldValue::Float(f) => json!(f),
        FieldValue::Bool(b) => json!(b),
        FieldValue::Null => Value::Null,
        FieldValue::List(l) => Value::Array(l.iter().map(value).collect()),
    }
}

fn fields_json(f: &Fields<'_>, err: Option<String>) -> Value {
    json!({
        "fields": f.iter().map(|(k, v)| json!([k, value(v)])).collect::<Vec<_>>(),
        "error": err,
    })
}

fn result_json<E: std::fmt::Display>(r: Result<Fields<'_>, E>) -> Value {
    match r {
        Ok(f) => fields_json(&f, None),
        Err(e) => fields_json(&Fields::new(), Some(e.to_string())),
    }
}

/// Splits leading `#! key=value` lines off a case: (options, record).
fn options(input: &[u8]) -> (Vec<(String, String)>, &[u8]) {
    let mut opts = Vec::new();
    let mut rest = input;
    while rest.starts_with(b"#! ") {
        let end = rest.iter().position(|&c| c == b'\n').unwrap_or(rest.len());
        let line = String::from_utf8_lossy(&rest[3..end]).into_owned();
        let (k, v) = line.split_once('=').unwrap_or((&line, ""));
        opts.push((k.trim().to_string(), v.to_string()));
        rest = rest.get(end + 1..).unwrap_or_default();
    }
    (opts, rest)
}

fn unescape_opt(v: &str) -> String {
    v.replace("\\t", "\t")
}

fn dup(v: &str) -> DuplicateKeys {
    match v {
        "first" => DuplicateKeys::First,
        "last" => DuplicateKeys::Last,
        "list" => DuplicateKeys::List,
        "keep" => DuplicateKeys::Keep,
        other => panic!("bad duplicate policy {other}"),
    }
}

fn render_format(format: &str, input: &[u8]) -> Value {
    let (opts, record) = options(input);
    let record = record.strip_suffix(b"\n").unwrap_or(record);
    let record = record.strip_suffix(b"\r").unwrap_or(record);
    let get = |k: &str| opts.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    match format {
        "cef" => {
            let o = cef::CefOptions {
                resolve_custom_labels: get("resolve_custom_labels") == Some("true"),
                ..cef::CefOptions::default()
            };
            let (f, e) = cef::parse_lenient(record, &o);
            fields_json(&f, e.map(|e| e.to_string()))
        }
        "leef" => {
            let o = leef::LeefOptions {
                delimiter: get("delimiter").and_then(|d| unescape_opt(d).chars().next()),
                ..leef::LeefOptions::default()
            };
            let (f, e) = leef::parse_lenient(record, &o);
            fields_json(&f, e.map(|e| e.to_string()))
        }
        "kv" => {
            let mut o = kv::KvOptions::default();
            for (k, v) in &opts {
                match k.as_str() {
                    "pair_separator" => o.pair_separator = unescape_opt(v),
                    "kv_separator" => o.kv_separator = unescape_opt(v),
                    "duplicate_keys" => o.duplicate_keys = dup(v),
                    "greedy_values" => o.greedy_values = v == "true",
                    "bare_keys" => {
                        o.bare_keys = match v.as_str() {
                            "null" => kv::BareKeys::Null,
                            "true" => kv::BareKeys::True,
                            "skip" => kv::BareKeys::Skip,
                            _ => kv::BareKeys::Error,
                        }
                    }
                    other => panic!("unknown kv option {other}"),
                }
            }
            let (f, e) = kv::parse_lenient(record, &o);
            fields_json(&f, e.map(|e| e.to_string()))
        }
        "json" => {
            let mut o = json::JsonOptions::default();
            if let Some(d) = get("max_depth") {
                o.max_depth = d.parse().unwrap();
            }
            result_json(json::parse(record, &o))
        }
        "regex" => {
            let p = regex::RegexParser::new(get("pattern").expect("#! pattern=")).unwrap();
            result_json(p.parse(record))
        }
        "xml" => {
            let fields = opts
                .iter()
                .filter(|(k, _)| k == "field")
                .map(|(_, v)| {
                    let (name, path) = v.split_once(':').unwrap();
                    xml::XmlField {
                        name: name.into(),
                        path: path.into(),
                    }
                })
                .collect();
            let p = xml::XmlParser::new(&xml::XmlOptions {
                fields,
                ..xml::XmlOptions::default()
            })
            .unwrap();
            result_json(p.parse(record))
        }
        "winxml" => result_json(winxml::parse(record, &winxml::WinXmlOptions::default())),
        "csv" => {
            let mut o = csv::CsvOptions {
                header_row: get("header_row") == Some("true"),
                ..csv::CsvOptions::default()
            };
            if let Some(d) = get("delimiter") {
                o.delimiter = unescape_opt(d).as_bytes()[0];
            }
            if let Some(c) = get("columns") {
                o.columns = c.split(',').map(str::to_string).collect();
            }
            let mut p = csv::CsvParser::new(o);
            let mut out = Vec::new();
            for r in csv::records(record, Some(b'"')) {
                let line = &record[r];
                if p.columns().is_empty() && get("header_row") == Some("true") {
                    p.set_header(line).unwrap();
                    continue;
                }
                let (f, e) = p.parse_lenient(line);
                out.push(fields_json(&f, e.map(|e| e.to_string())));
            }
            Value::Array(out)
        }
        other => panic!("no renderer for testdata/{other}"),
    }
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata");
    let bless = std::env::var_os("VIGIL_BLESS").is_some();
    let mut cases: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .flat_map(|dir| std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()))
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    cases.sort();
    let mut failed = 0;
    for case in &cases {
        let format = case
            .parent()
            .and_then(Path::file_name)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let name = format!("{format}/{}", case.file_stem().unwrap().to_string_lossy());
        let input = read_capped(case);
        let got = if format == "syslog" {
            render(&input)
        } else {
            render_format(&format, &input)
        };
        let expected_path = case.with_extension("expected.json");
        let pretty = serde_json::to_string_pretty(&got).unwrap() + "\n";
        if bless {
            std::fs::write(&expected_path, &pretty).unwrap();
            println!("blessed {name}");
            continue;
        }
        let expected = String::from_utf8(read_capped(&expected_path)).unwrap_or_default();
        let want: Value = serde_json::from_str(&expected).unwrap_or(Value::Null);
        if want == got {
            println!("test {name} ... ok");
        } else {
            failed += 1;
            println!("test {name} ... FAILED\n--- expected\n{expected}--- got\n{pretty}");
        }
    }
    println!("golden: {} cases, {failed} failed", cases.len());
    assert!(!cases.is_empty(), "no golden cases in {}", root.display());
    assert_eq!(failed, 0, "golden files differ (VIGIL_BLESS=1 to accept)");
}
