//! The alert page's matched conditions (issue 15 point 2), through a real `vigil up`:
//! `GET /api/v1/alerts/{id}/events` answers, for each base event of an alert, the rule's
//! selector (correlation rules) and the fields and values that matched: for a correlation
//! rule the base events behind its correlation event, each explained by its selector's
//! query; for a Sigma rule the events that fired it, with the fields its detection recorded.
//! Another tenant's analyst gets 404 for the alert. Real processes, real HTTP; waits are
//! bounded polls, no timing assertions.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)]

mod support;

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{Vigil, free_port, http_get, http_post, tmp};

const SIGMA: &str = r#"
title: SSH password guessing
id: 0b8a7c1e-4d2f-4c4a-9a51-6a1d2b3c4d5e
status: test
level: medium
tags: [attack.credential-access, attack.t1110.001]
logsource: { product: linux, service: sshd }
detection:
  selection:
    process.name: sshd
    message|contains: 'Failed password'
  condition: selection
"#;

const SIGMA_ID: &str = "0b8a7c1e-4d2f-4c4a-9a51-6a1d2b3c4d5e";

const PACK: &str = r#"
rules:
  - id: guessing
    name: SSH guessing
    kind: standard
    severity: high
    window: 10m
    lateness: 0s
    group_by: [source.ip]
    selectors:
      - {name: failure, query: 'event.action:ssh_login AND event.outcome:failure', threshold: 3}
"#;

fn failures(ip: &str, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            format!(
                "<38>Nov 22 07:00:{:02} jump01 sshd[4242]: Failed password for root from {ip} port {} ssh2",
                10 + i,
                40000 + i
            )
        })
        .collect()
}

fn get(v: &Vigil, path: &str, token: &str) -> (u16, Value) {
    let (s, body) = http_get(v.http, path, Some(token)).unwrap();
    (
        s,
        serde_json::from_str(&body).unwrap_or(Value::String(body)),
    )
}

fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    // generous: the machines that run this are shared
    let deadline = Instant::now() + Duration::from_secs(180);
    while !f() {
        assert!(Instant::now() < deadline, "waited 180 s for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The `matched` list of a base event as `field=value` strings (`*` for a full-text word).
fn matched(e: &Value) -> Vec<String> {
    e["matched"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            format!(
                "{}={}",
                m["field"].as_str().unwrap_or("*"),
                m["value"].as_str().unwrap()
            )
        })
        .collect()
}

#[test]
fn alert_base_events_carry_the_conditions_they_matched() {
    let dir = tmp();
    let rules = dir.path().join("rules");
    let sigma = dir.path().join("sigma");
    std::fs::create_dir_all(&rules).unwrap();
    std::fs::create_dir_all(&sigma).unwrap();
    std::fs::write(rules.join("pack.yaml"), PACK).unwrap();
    std::fs::write(sigma.join("ssh.yml"), SIGMA).unwrap();
    let cfg = dir.path().join("vigil.yaml");
    std::fs::write(
        &cfg,
        format!(
            "version: 1
collectors:
  - id: acme-syslog
    tenant: acme
    connector: {{ type: syslog, tcp: 127.0.0.1:{} }}
    normalizer: {{ type: auto, timezone: UTC }}
  - id: globex-syslog
    tenant: globex
    connector: {{ type: syslog, tcp: 127.0.0.1:{} }}
    normalizer: {{ type: auto, timezone: UTC }}
correlation:
  rules: [{}]
detection:
  rules: [{}]
",
            free_port(),
            free_port(),
            rules.display(),
            sigma.display()
        ),
    )
    .unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let v = Vigil::start(&data, Some(&cfg));
    let lines = failures("203.0.113.45", 3);
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    v.send_tcp(&refs);

    // one alert of each rule in acme
    let alert_of = |rule: &str| -> Option<Value> {
        let (s, b) = get(
            &v,
            &format!("/api/v1/alerts?tenant=acme&rule_id={rule}"),
            &v.token,
        );
        assert_eq!(s, 200, "{b}");
        b["items"].as_array().and_then(|a| a.first().cloned())
    };
    wait_for("the correlation alert", || alert_of("guessing").is_some());
    wait_for("the Sigma alert to hold 3 events", || {
        alert_of(SIGMA_ID).is_some_and(|a| a["count"] == 3)
    });

    // the correlation rule: its correlation event stands for 3 base events, each explained by
    // the selector's query
    let corr = alert_of("guessing").unwrap();
    let id = corr["id"].as_str().unwrap();
    let (s, x) = get(&v, &format!("/api/v1/alerts/{id}/events"), &v.token);
    assert_eq!(s, 200, "{x}");
    let events = x["events"].as_array().unwrap();
    assert_eq!(events.len(), 3, "{x}");
    for e in events {
        assert_eq!(e["rule_id"], "guessing", "{x}");
        assert_eq!(e["selector"], "failure", "{x}");
        assert!(e["via"].is_string(), "{x}");
        assert_eq!(e["event"]["source"]["ip"], "203.0.113.45", "{x}");
        assert_eq!(
            matched(e),
            ["event.action=ssh_login", "event.outcome=failure"],
            "{x}"
        );
    }

    // the Sigma rule: the events that fired it, with the fields the detection recorded
    let sig = alert_of(SIGMA_ID).unwrap();
    let id = sig["id"].as_str().unwrap();
    let (s, x) = get(&v, &format!("/api/v1/alerts/{id}/events"), &v.token);
    assert_eq!(s, 200, "{x}");
    let events = x["events"].as_array().unwrap();
    assert_eq!(events.len(), 3, "{x}");
    for e in events {
        assert_eq!(e["rule_id"], SIGMA_ID, "{x}");
        assert!(e["selector"].is_null(), "{x}");
        assert_eq!(e["event"]["process"]["name"], "sshd", "{x}");
        let m = matched(e);
        assert!(m.iter().any(|f| f == "process.name=sshd"), "{x}");
        assert!(
            m.iter()
                .any(|f| f.starts_with("message=") && f.contains("Failed password")),
            "{x}"
        );
    }

    // another tenant's analyst: 404 for acme's alert, as for every acme record
    let pw = "Turquoise-Lantern-Harbor-71";
    let (s, b) = http_post(
        v.http,
        "/api/v1/users",
        &v.token,
        &json!({ "username": "gina", "password": pw,
                 "roles": [{ "tenant": "globex", "role": "tier1_analyst" }] })
        .to_string(),
    )
    .unwrap();
    assert_eq!(s, 201, "{b}");
    let (s, b, cookie) = raw(
        &v,
        "POST",
        "/api/v1/auth/login",
        "",
        &json!({ "username": "gina", "password": pw }).to_string(),
    );
    assert_eq!(s, 200, "{b}");
    let (s, b, _) = raw(
        &v,
        "GET",
        &format!("/api/v1/alerts/{id}/events"),
        &cookie,
        "",
    );
    assert_eq!(s, 404, "{b}");
    let (s, _) = get(&v, "/api/v1/alerts/not-an-alert/events", &v.token);
    assert_eq!(s, 404);
    let (s, _) = http_get(v.http, &format!("/api/v1/alerts/{id}/events"), None).unwrap();
    assert_eq!(s, 401);
    v.stop();
}

/// One request with an optional session cookie; answers (status, body, the session cookie set).
fn raw(v: &Vigil, method: &str, path: &str, cookie: &str, body: &str) -> (u16, String, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(v.http).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let c = if cookie.is_empty() {
        String::new()
    } else {
        format!("Cookie: {cookie}\r\n")
    };
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: x\r\n{c}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).unwrap();
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let set = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("set-cookie")
                .then(|| v.trim().split(';').next().unwrap_or("").to_owned())
        })
        .unwrap_or_default();
    (status, body.to_owned(), set)
}
