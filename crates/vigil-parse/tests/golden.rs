//! Golden files: `testdata/syslog/<case>.log` (one raw frame) is parsed leniently and rendered
//! as JSON, which must equal `<case>.expected.json`. One check per file, named after the case;
//! `VIGIL_BLESS=1 cargo test -p vigil-parse --test golden` rewrites the expected files.
//! Options: UTC, `now` = 2024-06-15T12:00:00Z.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Read;
use std::path::Path;

use chrono::{SecondsFormat, TimeZone, Utc};
use serde_json::{Value, json};
use vigil_parse::syslog::{SyslogOptions, parse_lenient};

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

/// Reads a file of at most 1 MiB (the workspace bans unbounded reads).
fn read_capped(path: &Path) -> Vec<u8> {
    let mut file = std::fs::File::open(path).unwrap().take(1 << 20);
    let mut out = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let n = file.read(&mut chunk).unwrap();
        if n == 0 {
            return out;
        }
        out.extend_from_slice(&chunk[..n]);
    }
}

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/syslog");
    let bless = std::env::var_os("VIGIL_BLESS").is_some();
    let mut cases: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    cases.sort();
    let mut failed = 0;
    for case in &cases {
        let name = case.file_stem().unwrap().to_string_lossy();
        let got = render(&read_capped(case));
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
    assert!(!cases.is_empty(), "no golden cases in {}", dir.display());
    assert_eq!(failed, 0, "golden files differ (VIGIL_BLESS=1 to accept)");
}
