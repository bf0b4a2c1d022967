//! The rules API over HTTP against a real `vigil up` (issue 15, point 6): a Sigma rule that
//! does not validate is refused with its line, a valid one is written under the data
//! directory and fires on the next event without a restart, disable and enable take effect at
//! once and survive a restart, tests and retroscan return the alerts a rule would raise, the
//! ATT&CK coverage lists it, correlation rules are written and tested the same way, and only
//! writers of the Shared tenant may write rules.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::disallowed_methods,
    clippy::panic
)]

mod support;

use serde_json::{Value, json};
use support::api::{Api, Auth, wait};
use support::{Vigil, tmp};

const ID: &str = "5d1c2a9e-7b42-4f0e-9c1d-2a3b4c5d6e7f";

fn sigma_rule(title: &str) -> String {
    format!(
        r#"title: {title}
id: {ID}
status: experimental
level: high
description: A failed SSH password.
tags: [attack.credential-access, attack.t1110.001]
logsource: {{product: linux, service: sshd}}
detection:
  selection:
    process.name: sshd
    message|contains: Failed password
  condition: selection
tests:
  match:
    - {{process.name: sshd, message: Failed password for root from 203.0.113.7 port 4242 ssh2}}
  no_match:
    - {{process.name: sshd, message: Accepted publickey for deploy}}
"#
    )
}

/// `detection:` is not a mapping: the engine refuses it.
const BROKEN: &str = "title: Broken
id: 0f9e8d7c-6b5a-4f3e-8d2c-1b0a9f8e7d6c
status: experimental
logsource: {product: linux}
detection:
  selection:
    process.name|nosuchmodifier: sshd
  condition: selection
";

const CORRELATION: &str = "id: api-ssh-failures
version: 1
name: Three SSH failures from one source
description: written through the API
kind: standard
severity: medium
attack: {tactics: [credential-access], techniques: [T1110]}
window: 60s
group_by: [source.ip]
selectors:
  - name: failure
    query: 'event.action:ssh_login AND event.outcome:failure'
    threshold: 3
tests:
  - name: three failures fire
    events:
      - {repeat: 3, every: 2s, event.action: ssh_login, event.outcome: failure, source.ip: 203.0.113.10}
    expect: {fires: 1}
";

/// The rule `id` as the rules API lists it.
fn rule(api: &Api, auth: &Auth, id: &str) -> Option<Value> {
    let (s, b) = api.call("GET", "/api/v1/rules", auth, None);
    assert_eq!(s, 200, "{b}");
    b["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == id)
        .cloned()
}

/// A failed SSH login stamped now (the retroscan replays the last hours by event time).
fn failed_login(i: usize) -> String {
    format!(
        "<38>{} web1 sshd[42]: Failed password for root from 203.0.113.45 port {} ssh2",
        chrono::Utc::now().format("%b %e %H:%M:%S"),
        1024 + i
    )
}

fn alerts_of_rule(api: &Api, auth: &Auth) -> u64 {
    let (s, b) = api.call("GET", &format!("/api/v1/alerts?rule_id={ID}"), auth, None);
    assert_eq!(s, 200, "{b}");
    b["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["count"].as_u64().unwrap_or(1))
        .sum()
}

#[test]
fn rules_are_validated_written_toggled_tested_and_fire_without_a_restart() {
    let dir = tmp();
    let data = dir.path().join("data");
    let v = Vigil::start(&data, None);
    let api = Api::new(&v);
    let t = Auth::Bearer(v.token.clone());

    // the document lists the routes
    let (s, doc) = api.call("GET", "/api/v1/openapi.json", &t, None);
    assert_eq!(s, 200);
    for p in [
        "/api/v1/rules",
        "/api/v1/rules/{id}",
        "/api/v1/rules/{id}/enable",
        "/api/v1/rules/validate",
        "/api/v1/rules/test",
        "/api/v1/rules/retroscan",
        "/api/v1/rules/coverage",
    ] {
        assert!(doc["paths"][p].is_object(), "{p} missing from the document");
    }
    // no credentials: 401
    let anon = reqwest::blocking::get(format!("{}/api/v1/rules", api.base)).unwrap();
    assert_eq!(anon.status().as_u16(), 401);

    // nothing written yet
    assert!(rule(&api, &t, ID).is_none());

    // validation with the place of the problem
    let (s, b) = api.call(
        "POST",
        "/api/v1/rules/validate",
        &t,
        Some(&json!({"kind": "sigma", "source": BROKEN})),
    );
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["valid"], false, "{b}");
    let p = &b["problems"][0];
    assert!(
        p["message"].as_str().unwrap().contains("nosuchmodifier"),
        "{b}"
    );
    assert_eq!(p["line"], 7, "{b}");
    let (s, b) = api.call(
        "POST",
        "/api/v1/rules/validate",
        &t,
        Some(&json!({"kind": "sigma", "source": "title: x\ndetection: [unclosed\n"})),
    );
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["valid"], false, "{b}");
    assert!(b["problems"][0]["line"].as_u64().is_some(), "{b}");
    assert!(b["problems"][0]["column"].as_u64().is_some(), "{b}");

    // a rule that does not validate is not written
    let (s, b) = api.call(
        "POST",
        "/api/v1/rules",
        &t,
        Some(&json!({"kind": "sigma", "source": BROKEN})),
    );
    assert_eq!(s, 400, "{b}");
    assert_eq!(b["error"]["code"], "invalid_rule", "{b}");
    assert_eq!(b["problems"][0]["line"], 7, "{b}");

    // the rule's own tests, before it exists
    let (s, b) = api.call(
        "POST",
        "/api/v1/rules/test",
        &t,
        Some(&json!({"source": sigma_rule("SSH failed password")})),
    );
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["alert_count"], 1, "{b}");
    assert!(
        b["tests"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["passed"] == true),
        "{b}"
    );

    // an event before the rule: stored, no alert
    v.send_tcp(&[&failed_login(0)]);
    assert_eq!(v.wait_count("process.name:sshd", 1), 1);

    // created: written under the data directory, live without a restart
    let (s, b) = api.call(
        "POST",
        "/api/v1/rules",
        &t,
        Some(&json!({"kind": "sigma", "source": sigma_rule("SSH failed password")})),
    );
    assert_eq!(s, 201, "{b}");
    assert_eq!(b["enabled"], true);
    assert_eq!(b["writable"], true);
    let file = data.join("rules/sigma").join(format!("{ID}.yaml"));
    assert!(file.is_file());
    let (s, _) = api.call(
        "POST",
        "/api/v1/rules",
        &t,
        Some(&json!({"kind": "sigma", "source": sigma_rule("again")})),
    );
    assert_eq!(s, 409, "the id is taken");
    v.send_tcp(&[&failed_login(1)]);
    wait("the new rule's alert", || alerts_of_rule(&api, &t) >= 1);
    let r = rule(&api, &t, ID).unwrap();
    assert_eq!(r["kind"], "sigma");
    assert_eq!(r["level"], "high");
    assert_eq!(r["tactics"], json!(["credential-access"]));
    assert_eq!(r["techniques"], json!(["T1110.001"]));
    assert_eq!(r["log_sources"], json!(["linux//sshd"]));
    assert_eq!(r["matches"], 1, "{r}");
    assert!(r["cost"]["prefiltered"].is_boolean(), "{r}");

    // get: the source
    let (s, b) = api.call("GET", &format!("/api/v1/rules/{ID}"), &t, None);
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["source"], sigma_rule("SSH failed password"));

    // retroscan: both stored failures would have raised an alert
    let (s, b) = api.call(
        "POST",
        "/api/v1/rules/retroscan",
        &t,
        Some(&json!({"kind": "sigma", "source": sigma_rule("x"), "hours": 24})),
    );
    assert_eq!(s, 200, "{b}");
    assert!(b["events"].as_u64().unwrap() >= 2, "{b}");
    assert_eq!(b["alert_count"], 2, "{b}");
    assert_eq!(b["alerts"][0]["rule"]["id"], ID, "{b}");

    // coverage: the technique under its tactic, with the live rule
    let (s, b) = api.call("GET", "/api/v1/rules/coverage?hours=24", &t, None);
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["tactics"].as_array().unwrap().len(), 14);
    let cell = b["cells"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["technique"] == "T1110.001" && c["tactic"] == "credential-access")
        .cloned()
        .unwrap_or_else(|| panic!("{b}"));
    // the shipped pack (live in the default configuration) may name the technique too
    assert!(
        cell["live"].as_array().unwrap().contains(&json!(ID)),
        "{cell}"
    );

    // update: a new title, the same id; another id is refused
    let (s, b) = api.call(
        "PUT",
        &format!("/api/v1/rules/{ID}"),
        &t,
        Some(&json!({"kind": "sigma", "source": sigma_rule("SSH failed password (v2)")})),
    );
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["title"], "SSH failed password (v2)");
    let (s, _) = api.call(
        "PUT",
        &format!("/api/v1/rules/{ID}"),
        &t,
        Some(&json!({"kind": "sigma", "source": sigma_rule("x").replace(ID, "11111111-2222-4333-8444-555555555555")})),
    );
    assert_eq!(s, 400);

    // disabled: out of the engine at once
    let (s, b) = api.call("POST", &format!("/api/v1/rules/{ID}/disable"), &t, None);
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["enabled"], false);
    assert!(data.join("rules/disabled.json").is_file());
    let before = alerts_of_rule(&api, &t);
    v.send_tcp(&[&failed_login(2)]);
    assert_eq!(v.wait_count("process.name:sshd", 3), 3);
    // once the Sigma engine has seen the event (its third), the rule has not matched it
    wait("the engine to evaluate the third event", || {
        let (_, b) = api.call("GET", "/api/v1/rules", &t, None);
        b["totals"]["sigma_events"].as_u64().unwrap_or(0) >= 3
    });
    assert_eq!(rule(&api, &t, ID).unwrap()["matches"], 1);
    assert_eq!(rule(&api, &t, ID).unwrap()["enabled"], false);
    assert_eq!(alerts_of_rule(&api, &t), before);

    // correlation rules: written, tested, listed
    let (s, b) = api.call(
        "POST",
        "/api/v1/rules/test",
        &t,
        Some(&json!({"kind": "correlation", "source": CORRELATION})),
    );
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["alert_count"], 1, "{b}");
    let (s, b) = api.call(
        "POST",
        "/api/v1/rules",
        &t,
        Some(&json!({"kind": "correlation", "source": CORRELATION})),
    );
    assert_eq!(s, 201, "{b}");
    let r = rule(&api, &t, "api-ssh-failures").unwrap();
    assert_eq!(r["kind"], "correlation");
    assert_eq!(r["fired"], 0);
    let (s, b) = api.call(
        "POST",
        "/api/v1/rules/validate",
        &t,
        Some(&json!({"kind": "correlation", "source": CORRELATION.replace("threshold: 3", "threshold: many")})),
    );
    assert_eq!(s, 200);
    assert_eq!(b["valid"], false, "{b}");
    // in the selector that holds it (lines 13-16)
    let line = b["problems"][0]["line"].as_u64().unwrap_or(0);
    assert!((13..=16).contains(&line), "{b}");

    // writers of Shared only: a tier-2 analyst of main reads, and may not write
    let pw = "Turquoise-Lantern-Harbor-71";
    let (s, b) = api.call(
        "POST",
        "/api/v1/users",
        &t,
        Some(&json!({"username": "tia", "password": pw, "roles": [{"tenant": "main", "role": "tier2_analyst"}]})),
    );
    assert_eq!(s, 201, "{b}");
    let tia = api.login("tia", pw);
    let (s, b) = api.call("GET", "/api/v1/rules", &tia, None);
    assert_eq!(s, 200, "{b}");
    let (s, b) = api.call("POST", &format!("/api/v1/rules/{ID}/enable"), &tia, None);
    assert_eq!(s, 403, "{b}");
    assert_eq!(b["error"]["code"], "forbidden", "{b}");
    assert_eq!(rule(&api, &t, ID).unwrap()["enabled"], false);

    // the state survives a restart
    v.stop();
    let v = Vigil::start(&data, None);
    let api = Api::new(&v);
    let t = Auth::Bearer(v.token.clone());
    let r = rule(&api, &t, ID).unwrap();
    assert_eq!(r["enabled"], false, "{r}");
    assert_eq!(r["title"], "SSH failed password (v2)");
    assert!(rule(&api, &t, "api-ssh-failures").unwrap()["enabled"] == true);
    let (s, b) = api.call("POST", &format!("/api/v1/rules/{ID}/enable"), &t, None);
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["enabled"], true);
    let before = alerts_of_rule(&api, &t);
    v.send_tcp(&[&failed_login(3)]);
    wait("the enabled rule's alert", || {
        alerts_of_rule(&api, &t) > before
    });
    v.stop();
}
