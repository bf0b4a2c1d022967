//! Queries against sample events: which match, which do not.

use serde_json::json;
use vigil_query::{CompiledFilter, FieldType, SimpleSchema, parse, parse_with};

use crate::JsonRecord;

fn events() -> Vec<JsonRecord> {
    [
        // 0: ssh failure
        json!({
            "_raw": "Jan 1 00:00:01 host sshd[1]: Failed password for root from 10.1.2.3 port 22",
            "event.category": "authentication", "event.outcome": "failure",
            "user.name": "root", "source.ip": "ip:10.1.2.3", "event.severity": 5,
            "host.name": "web-01", "@timestamp": "t:2024-01-01T00:00:01Z"
        }),
        // 1: ssh success, IP as text, severity as text
        json!({
            "_raw": "Accepted publickey for Administrator from 192.168.1.7",
            "event.category": "authentication", "event.outcome": "success",
            "user.name": "Administrator", "source.ip": "192.168.1.7", "event.severity": "2",
            "host.name": "web-02", "@timestamp": "t:2024-01-02T00:00:00Z"
        }),
        // 2: process, multi-valued tags, IPv6, Cyrillic message, Windows path
        json!({
            "message": "Ошибка входа: процесс cmd.exe",
            "event.category": "process", "process.name": "cmd.exe",
            "process.executable": "C:\\Windows\\System32\\cmd.exe",
            "tags": ["windows", "Sysmon"], "source.ip": "ip:fe80::1", "bytes": 2048.5,
            "@timestamp": "2024-01-03T12:00:00Z", "flag": null
        }),
    ]
    .into_iter()
    .map(JsonRecord)
    .collect()
}

#[test]
fn table() {
    let cases: &[(&str, &[usize])] = &[
        ("*", &[0, 1, 2]),
        ("failed", &[0]),
        ("FAILED", &[0]),
        // Full text matches whole words: a prefix needs a wildcard.
        ("fail", &[]),
        ("fail*", &[0]),
        ("*ail*", &[0]),
        ("10.1.2.30", &[]),
        ("0.1.2.3", &[]),
        ("*0.1.2.3", &[0]),
        ("10.1.2", &[0]), // `.` separates words: 10, 1 and 2 are whole words of 10.1.2.3
        (r#""port 22""#, &[0]),
        (r#""port 2""#, &[]),
        (r#""failed password""#, &[0]),
        (r#""password failed""#, &[]),
        ("f*led", &[0]),
        ("acc?pted", &[1]),
        ("ошибка", &[2]),
        ("ОШИБКА входа", &[2]),
        ("10.1.2.3", &[0]),
        ("user.name:root", &[0]),
        ("user.name:ROOT", &[0]),
        ("user.name==root", &[0]),
        ("user.name==ROOT", &[]),
        ("user.name:admin*", &[1]),
        ("user.name==admin*", &[]),
        ("user.name:*STRATOR", &[1]),
        ("user.name:*min*", &[1]),
        ("user.name:r?ot", &[0]),
        ("user.name:ro", &[]),
        ("user.name:*", &[0, 1]),
        ("exists(user.name)", &[0, 1]),
        ("exists(flag)", &[]),
        ("NOT exists(user.name)", &[2]),
        ("user.name!=root", &[1]),
        ("NOT user.name:root", &[1, 2]),
        ("-user.name:root", &[1, 2]),
        ("user.name in (ROOT, nobody)", &[0]),
        ("user.name in (x, \"administrator\")", &[1]),
        ("user.name:/^Adm/", &[1]),
        ("user.name:/^adm/", &[]),
        ("user.name:/(?i)^adm/", &[1]),
        ("source.ip:10.0.0.0/8", &[0]),
        ("source.ip:192.168.0.0/16", &[1]),
        ("source.ip:fe80::/10", &[2]),
        ("source.ip:10.1.2.3", &[0]),
        ("source.ip:192.168.1.7", &[1]),
        ("source.ip:192.168.*", &[1]),
        ("event.severity>3", &[0]),
        ("event.severity>=2", &[0, 1]),
        ("event.severity<5", &[1]),
        ("event.severity:2", &[1]),
        ("event.severity:[2 TO 5]", &[0, 1]),
        ("event.severity:{2 TO 5]", &[0]),
        ("event.severity:[* TO 5}", &[1]),
        ("bytes>2048", &[2]),
        ("bytes:2048.5", &[2]),
        ("tags:sysmon", &[2]),
        ("tags:windows AND tags:sysmon", &[2]),
        ("tags!=linux", &[2]),
        ("tags!=windows", &[]),
        (r"process.executable:C:\Windows\System32\cmd.exe", &[2]),
        (r"process.executable:c:\windows\\*", &[2]),
        // `\*` is a literal star (Sigma's convention), so this looks for a file named `*`.
        (r"process.executable:c:\windows\*", &[]),
        (r#"process.executable:"C:\Windows\System32\cmd.exe""#, &[2]),
        ("@timestamp>=2024-01-02T00:00:00Z", &[1, 2]),
        ("@timestamp<2024-01-02", &[0]),
        (
            "@timestamp:[2024-01-01T00:00:00Z TO 2024-01-02T00:00:00Z}",
            &[0],
        ),
        (
            "event.category:authentication failed OR process.name:cmd.exe",
            &[0, 2],
        ),
        (
            "event.category:authentication (failed OR accepted)",
            &[0, 1],
        ),
        (
            "event.category:authentication NOT (failed OR accepted)",
            &[],
        ),
        ("nosuchfield:x", &[]),
        ("NOT nosuchfield:x", &[0, 1, 2]),
        ("host.name:web-0?", &[0, 1]),
    ];
    let evs = events();
    let mut failures = Vec::new();
    for (q, want) in cases {
        let plan = parse(q).unwrap_or_else(|e| panic!("{}", e.render(q)));
        let f = CompiledFilter::new(&plan.filter).unwrap();
        let got: Vec<usize> = (0..evs.len()).filter(|&i| f.matches(&evs[i])).collect();
        if got != *want {
            failures.push(format!("{q:?}: got {got:?}, want {want:?}"));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn typed_schema_matches_text_values() {
    let schema = SimpleSchema::new()
        .with_type("event.severity", FieldType::Int)
        .with_type("user.name", FieldType::String);
    let evs = events();
    for (q, want) in [("event.severity:\"2\"", vec![1]), ("user.name:5", vec![])] {
        let plan = parse_with(q, &schema).unwrap();
        let f = CompiledFilter::new(&plan.filter).unwrap();
        let got: Vec<usize> = (0..evs.len()).filter(|&i| f.matches(&evs[i])).collect();
        assert_eq!(got, want, "{q}");
    }
}
