//! Tenant quotas, asset learning and the audit mirror's counters against a real `vigil up`
//! (issue 13, points 3, 6 and 8), over HTTP:
//! * an EPS limit set through `PATCH /api/v1/tenants/{id}` is in force within a second: a
//!   burst beyond it is kept raw and flagged (`vigil.quota:eps_exceeded`), none lost, counted
//!   in `/metrics` per tenant and in the collector's source status; lifting it lifts it;
//! * a storage quota set the same way makes the store refuse the tenant's events (counted per
//!   tenant), raises one monitoring event and one monitoring alert, and lifting it stores
//!   events again;
//! * the hosts of the events become assets of the tenant (name, address, MAC address, OS,
//!   first and last seen), which an alert's entities link to
//!   (`GET /api/v1/alerts/{id}/assets`);
//! * `/metrics` counts audit records not mirrored as events, by reason.

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
use support::{Vigil, free_port, tmp};

const RULE: &str = r#"
title: Quota test login failure
id: 5d1c6f0e-8f7a-4c55-9d7e-2f6a1b0c9e11
status: test
level: medium
logsource: { product: linux, service: sshd }
detection:
  selection:
    process.name: sshd
    message|contains: 'Failed password'
  condition: selection
"#;

/// The events the test sent: normalized (`process.name:sshd`) or kept raw by the EPS quota.
const SENT: &str = "(process.name:sshd OR vigil.quota:eps_exceeded) AND NOT vigil.type:correlation";

struct Http {
    base: String,
    token: String,
    client: reqwest::blocking::Client,
}

impl Http {
    fn new(v: &Vigil) -> Http {
        // reqwest is built without a crypto provider of its own (the binary installs one)
        let _ = rustls::crypto::ring::default_provider().install_default();
        Http {
            base: format!("http://{}", v.http),
            token: v.token.clone(),
            client: reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap(),
        }
    }

    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut r = self
            .client
            .request(m, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            r = r.json(b);
        }
        let resp = r.send().unwrap();
        let s = resp.status().as_u16();
        let text = resp.text().unwrap_or_default();
        (
            s,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    fn get(&self, path: &str) -> Value {
        let (s, b) = self.call("GET", path, None);
        assert_eq!(s, 200, "GET {path}: {b}");
        b
    }

    fn patch_tenant(&self, body: Value) -> Value {
        let (s, b) = self.call("PATCH", "/api/v1/tenants/acme", Some(&body));
        assert_eq!(s, 200, "PATCH tenant {body}: {b}");
        b
    }

    fn count(&self, q: &str) -> u64 {
        let (s, b) = self.call(
            "POST",
            "/api/v1/search",
            Some(&json!({ "q": format!("{q} | count"), "tenant": "acme", "limit": 10 })),
        );
        assert_eq!(s, 200, "{q}: {b}");
        b["rows"][0][0].as_u64().unwrap_or(0)
    }

    /// Waits (at most 60 s) until `q` counts `want` events of acme; returns the last count.
    fn wait_count(&self, q: &str, want: u64) -> u64 {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let n = self.count(q);
            if n >= want || Instant::now() > deadline {
                return n;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn metric(&self, line_start: &str) -> Option<u64> {
        let (_, b) = self.call("GET", "/metrics", None);
        let text = b.as_str().unwrap_or_default().to_owned();
        text.lines()
            .find(|l| l.starts_with(line_start))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
    }

    fn wait_metric(&self, line_start: &str, want: u64) -> Option<u64> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let v = self.metric(line_start);
            if v.is_some_and(|v| v >= want) || Instant::now() > deadline {
                return v;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn send(conn: &mut std::net::TcpStream, host: &str, n: usize, tag: &str) {
    let mut buf = Vec::new();
    for i in 0..n {
        writeln!(
            buf,
            "<38>Dec  7 10:00:00 {host} sshd[42]: Failed password for root from 203.0.113.9 port 22 ({tag} {i})"
        )
        .unwrap();
    }
    conn.write_all(&buf).unwrap();
    conn.flush().unwrap();
}

/// Within a second of a change: the quota watch re-reads the tenants every 500 ms.
fn settle() {
    std::thread::sleep(Duration::from_millis(1200));
}

#[test]
fn tenant_quotas_asset_learning_and_audit_metrics() {
    let dir = tmp();
    let rules = dir.path().join("rules");
    std::fs::create_dir(&rules).unwrap();
    std::fs::write(rules.join("login.yml"), RULE).unwrap();
    let port = free_port();
    let cfg = dir.path().join("vigil.yaml");
    std::fs::write(
        &cfg,
        format!(
            "version: 1
collectors:
  - id: fw
    tenant: acme
    connector: {{ type: syslog, tcp: 127.0.0.1:{port} }}
    transforms:
      - {{ type: set, field: host.ip, value: 192.0.2.10 }}
      - {{ type: set, field: host.mac, value: 'aa:bb:cc:dd:ee:0f' }}
      - {{ type: set, field: host.os.name, value: Debian GNU/Linux 12 }}
detection:
  rules: [{}]
",
            rules.display()
        ),
    )
    .unwrap();
    let v = Vigil::start(&dir.path().join("data"), Some(&cfg));
    let api = Http::new(&v);
    let mut conn = std::net::TcpStream::connect(v.syslog).unwrap();

    // the audit mirror's counters are in /metrics, by reason
    assert_eq!(
        api.metric("vigil_audit_events_not_mirrored_total{reason=\"queue_full\"}"),
        Some(0)
    );
    assert!(
        api.metric("vigil_audit_events_not_mirrored_total{reason=\"store_refused\"}")
            .is_some()
    );

    // no limit: everything is normalized; web1 becomes an asset
    send(&mut conn, "web1", 50, "warm-up");
    assert_eq!(api.wait_count(SENT, 50), 50);
    let deadline = Instant::now() + Duration::from_secs(30);
    let asset = loop {
        let list = api.get("/api/v1/assets?tenant=acme&name=web1");
        if let Some(a) = list["items"].as_array().and_then(|a| a.first()).cloned() {
            break a;
        }
        assert!(Instant::now() < deadline, "web1 never became an asset");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(asset["name"], "web1");
    assert_eq!(asset["ips"], json!(["192.0.2.10"]));
    assert_eq!(asset["macs"], json!(["AA-BB-CC-DD-EE-0F"]));
    assert_eq!(asset["os"], "Debian GNU/Linux 12");
    assert!(
        asset["sources"]
            .as_array()
            .unwrap()
            .contains(&json!("events:fw")),
        "{asset}"
    );
    assert!(asset["first_seen"].as_str() <= asset["last_seen"].as_str());
    // learned in batches: one write per host per flush, not one per event
    let learned: u64 = ["created", "merged", "touched", "unchanged"]
        .iter()
        .filter_map(|o| api.metric(&format!("vigil_assets_learning_total{{outcome=\"{o}\"}}")))
        .sum();
    assert!(
        (1..50).contains(&learned),
        "{learned} learning writes for 50 events"
    );

    // the detections' alert links its host entity to the asset
    let deadline = Instant::now() + Duration::from_secs(30);
    let alert = loop {
        let list =
            api.get("/api/v1/alerts?tenant=acme&rule_id=5d1c6f0e-8f7a-4c55-9d7e-2f6a1b0c9e11");
        if let Some(a) = list["items"].as_array().and_then(|a| a.first()).cloned() {
            break a;
        }
        assert!(Instant::now() < deadline, "no alert");
        std::thread::sleep(Duration::from_millis(200));
    };
    let linked = api.get(&format!(
        "/api/v1/alerts/{}/assets",
        alert["id"].as_str().unwrap()
    ));
    let linked = linked.as_array().unwrap();
    assert!(
        linked.iter().any(|l| l["kind"] == "host"
            && l["value"] == "web1"
            && l["asset"]["id"] == asset["id"]),
        "{linked:?}"
    );

    // ---- EPS quota: 20 events per second
    let t = api.patch_tenant(json!({ "eps_limit": 20 }));
    assert_eq!(t["eps_limit"], 20);
    settle();
    send(&mut conn, "web1", 300, "burst");
    assert_eq!(api.wait_count(SENT, 350), 350, "nothing is lost");
    let flagged = api.count("vigil.quota:eps_exceeded");
    // a full bucket (20) and what it refilled while the burst was read pass
    assert!(
        (200..=280).contains(&flagged),
        "{flagged} of 300 flagged over a limit of 20/s"
    );
    assert_eq!(
        api.wait_metric(
            "vigil_tenant_quota_events_total{tenant=\"acme\",reason=\"eps\"}",
            flagged
        ),
        Some(flagged)
    );
    let sources = api.get("/api/v1/sources?tenant=acme&kind=collector");
    let fw = sources["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "fw")
        .cloned()
        .unwrap();
    assert_eq!(fw["quota_exceeded_total"].as_u64(), Some(flagged), "{fw}");

    // lifted: the next burst is all normalized
    api.patch_tenant(json!({ "eps_limit": null }));
    settle();
    send(&mut conn, "web1", 100, "lifted");
    assert_eq!(api.wait_count(SENT, 450), 450);
    assert_eq!(api.count("vigil.quota:eps_exceeded"), flagged);

    // ---- storage quota: already exceeded by one byte
    let t = api.patch_tenant(json!({ "storage_limit_bytes": 1 }));
    assert_eq!(t["storage_limit_bytes"], 1);
    let changed = Instant::now();
    let deadline = changed + Duration::from_secs(30);
    loop {
        let alerts = api.get("/api/v1/alerts?tenant=acme&rule_id=quota:storage");
        if !alerts["items"].as_array().unwrap().is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "no storage quota alert");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        api.wait_count(
            "vigil.type:monitoring AND vigil.monitoring.quota:storage",
            1
        ),
        1
    );
    let stored = api.count(SENT);
    send(&mut conn, "web1", 20, "over-storage");
    assert_eq!(
        api.wait_metric(
            "vigil_tenant_quota_events_total{tenant=\"acme\",reason=\"storage\"}",
            20
        ),
        Some(20)
    );
    assert_eq!(
        api.metric("vigil_tenant_storage_full{tenant=\"acme\"}"),
        Some(1)
    );
    assert_eq!(api.count(SENT), stored, "refused events are not stored");
    // raised once: still one monitoring event and one alert with one detection
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        api.count("vigil.type:monitoring AND vigil.monitoring.quota:storage"),
        1
    );
    let alerts = api.get("/api/v1/alerts?tenant=acme&rule_id=quota:storage");
    let items = alerts["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["count"], 1);

    // lifted: stored again
    api.patch_tenant(json!({ "storage_limit_bytes": null }));
    settle();
    send(&mut conn, "web1", 10, "stored-again");
    assert_eq!(api.wait_count(SENT, stored + 10), stored + 10);
    assert_eq!(
        api.metric("vigil_tenant_quota_events_total{tenant=\"acme\",reason=\"storage\"}"),
        Some(20)
    );

    // the limit changes are audited (in the Main tenant)
    let audit = api.get("/api/v1/audit?tenant=main&action=tenant.update");
    assert!(
        audit["items"].as_array().is_some_and(|a| a.len() >= 4),
        "{audit}"
    );
    drop(conn);
    v.stop();
}
