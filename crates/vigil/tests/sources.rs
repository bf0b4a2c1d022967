//! Source status and monitoring against a real `vigil up` (issue 13, point 7): a host sends
//! syslog over TCP on loopback, `/api/v1/sources` lists its collector and the host with their
//! figures, and once the host stops for longer than its monitoring policy allows, a monitoring
//! alert is raised within one policy interval, with its monitoring event in the event store;
//! the policy's creation is an audit event of the tenant and the audit chain verifies.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::disallowed_methods
)]

mod support;

use std::io::Write;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{Vigil, free_port, http_get, http_post, tmp};

/// The policy's interval: short, so the test is quick.
const INTERVAL_SECS: u64 = 4;

fn get(v: &Vigil, path: &str) -> Value {
    let (s, b) = http_get(v.http, path, Some(&v.token)).unwrap();
    assert_eq!(s, 200, "GET {path}: {b}");
    serde_json::from_str(&b).unwrap()
}

fn monitoring_alerts(v: &Vigil, rule_id: &str) -> Vec<Value> {
    get(v, &format!("/api/v1/alerts?tenant=acme&rule_id={rule_id}"))["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[test]
fn a_silent_source_raises_a_monitoring_alert_within_one_interval() {
    let dir = tmp();
    let cfg = dir.path().join("vigil.yaml");
    std::fs::write(
        &cfg,
        format!(
            "version: 1\ncollectors:\n  - id: fw\n    tenant: acme\n    connector: {{ type: syslog, tcp: 127.0.0.1:{} }}\n",
            free_port()
        ),
    )
    .unwrap();
    let v = Vigil::start(&dir.path().join("data"), Some(&cfg));

    let spec = json!({
        "tenant": "acme", "name": "web1 heartbeat", "kind": "by_count", "lower": 1.0,
        "interval_secs": INTERVAL_SECS, "sources": ["web1"], "enabled": true
    });
    let (s, b) = http_post(
        v.http,
        "/api/v1/monitoring-policies",
        &v.token,
        &spec.to_string(),
    )
    .unwrap();
    assert_eq!(s, 201, "{b}");
    let policy: Value = serde_json::from_str(&b).unwrap();
    let rule_id = format!("monitoring:{}", policy["id"].as_str().unwrap());

    // web1 sends a line every 100 ms for two and a half intervals: no alert meanwhile
    let mut conn = std::net::TcpStream::connect(v.syslog).unwrap();
    let sending = Instant::now();
    let mut sent = 0u64;
    while sending.elapsed() < Duration::from_millis(INTERVAL_SECS * 2500) {
        writeln!(conn, "<38>Dec  7 10:00:00 web1 sshd[42]: heartbeat {sent}").unwrap();
        conn.flush().unwrap();
        sent += 1;
        std::thread::sleep(Duration::from_millis(100));
    }
    let stopped = Instant::now();
    assert!(
        monitoring_alerts(&v, &rule_id).is_empty(),
        "an alert while web1 was sending"
    );

    // the source list: the collector and the host, with their figures
    let deadline = Instant::now() + Duration::from_secs(30);
    let (collector, host) = loop {
        let list = get(&v, "/api/v1/sources?tenant=acme");
        let items = list["items"].as_array().cloned().unwrap_or_default();
        let find = |id: &str| items.iter().find(|s| s["id"] == id).cloned();
        if let (Some(c), Some(h)) = (find("fw"), find("fw/web1"))
            && h["events_total"].as_u64() == Some(sent)
            && c["events_total"].as_u64() == Some(sent)
        {
            break (c, h);
        }
        assert!(
            Instant::now() < deadline,
            "sources never showed {sent} events: {list}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(collector["kind"], "collector");
    assert_eq!(host["kind"], "host");
    assert_eq!(host["host"], "web1");
    assert_eq!(host["ip"], "127.0.0.1");
    assert_eq!(host["events_24h"].as_u64(), Some(sent));
    assert_eq!(host["parse_errors_24h"].as_u64(), Some(0));
    assert!(host["last_event_at"].is_string(), "{host}");
    assert!(
        collector["events_total"].as_u64().unwrap() >= sent,
        "{collector}"
    );

    // stopped for longer than the policy allows (one interval without an event): the alert
    // comes within one more interval
    let alert = loop {
        if let Some(a) = monitoring_alerts(&v, &rule_id).into_iter().next() {
            break a;
        }
        assert!(
            stopped.elapsed() < Duration::from_secs(INTERVAL_SECS * 2 + 5),
            "no monitoring alert {} s after web1 stopped",
            stopped.elapsed().as_secs()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let latency = stopped.elapsed();
    eprintln!(
        "monitoring alert {:.1} s after the source stopped (interval {INTERVAL_SECS} s)",
        latency.as_secs_f64()
    );
    assert_eq!(
        alert["rule_name"], "Source monitoring: web1 heartbeat",
        "{alert}"
    );
    assert_eq!(alert["group_key"], "source=fw/web1", "{alert}");
    assert_eq!(alert["severity"], "high", "{alert}");
    assert_eq!(alert["count"].as_u64(), Some(1), "{alert}");

    // the source shows the breach, and the monitoring event is searchable in acme
    let list = get(&v, "/api/v1/sources?tenant=acme&kind=host");
    let web1 = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "fw/web1")
        .cloned()
        .unwrap();
    assert_eq!(web1["breaches"][0]["breach"], "below", "{web1}");
    assert!(
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["kind"] == "host"),
        "{list}"
    );
    let (s, b) = http_post(
        v.http,
        "/api/v1/search",
        &v.token,
        &json!({ "q": "vigil.type:monitoring", "tenant": "acme" }).to_string(),
    )
    .unwrap();
    assert_eq!(s, 200, "{b}");
    let events: Value = serde_json::from_str(&b).unwrap();
    let events = events["events"].as_array().cloned().unwrap_or_default();
    assert_eq!(events.len(), 1, "{events:?}");
    let msg = events[0]["message"].as_str().unwrap_or_default();
    assert!(msg.contains("fw/web1") && msg.contains("below 1"), "{msg}");

    // the policy's creation is an audit event of acme, and acme's audit chain verifies
    let (s, b) = http_post(
        v.http,
        "/api/v1/search",
        &v.token,
        &json!({ "q": "vigil.type:audit AND event.action:monitoring_policy.create", "tenant": "acme" })
            .to_string(),
    )
    .unwrap();
    assert_eq!(s, 200, "{b}");
    let audit: Value = serde_json::from_str(&b).unwrap();
    let audit = audit["events"].as_array().cloned().unwrap_or_default();
    assert_eq!(audit.len(), 1, "{audit:?}");
    let chain = get(&v, "/api/v1/audit/verify?tenant=acme");
    assert_eq!(chain[0]["ok"], true, "{chain}");
    assert!(chain[0]["records"].as_u64().unwrap() >= 1, "{chain}");

    // a sparkline series and the tenant's 24-hour EPS
    let series = get(&v, "/api/v1/sources/series?tenant=acme&id=fw/web1");
    let total: u64 = series
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["events"].as_u64().unwrap())
        .sum();
    assert_eq!(total, sent, "{series}");
    let eps = get(&v, "/api/v1/sources/eps?tenant=acme");
    let acme = &eps.as_array().unwrap()[0];
    assert_eq!(acme["tenant"], "acme");
    assert!(acme["events_24h"].as_u64().unwrap() >= sent, "{eps}");
    let want = acme["events_24h"].as_f64().unwrap() / 86_400.0;
    assert!(
        (acme["eps_24h"].as_f64().unwrap() - want).abs() < 1e-9,
        "{eps}"
    );
    v.stop();
}
