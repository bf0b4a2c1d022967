//! The correlation and lists routes of the API against a real `vigil up`, with two tenants:
//! a tier-1 analyst of one tenant gets 403 (named) or 404 (not found in their own tenant) for
//! the other tenant's lists, groups, correlation events and retroscans, and 403 for the rules'
//! explain data (installation content: `rules.read` in Main); a Shared list is readable by
//! every tenant and writable only with a role in Shared; no route answers without credentials.
//! And `vigil retroscan` on a running instance: the CLI sends the rule files to its API and
//! prints the same report as on a stopped one.
//! Real processes, real HTTP; waits are bounded polls, no timing assertions.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)]

mod support;

use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use support::api::{Api, Auth, send_lines as send, wait};
use support::{Vigil, free_port, tmp, vigil};

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
    actions:
      lists: [{list: blocked_ips, op: set, key: [source.ip], set: {reason: guessing}}]
active_lists:
  - name: blocked_ips
    key: [ip]
  - name: intel
    key: [ip]
    scope: shared
"#;

fn failures(ip: &str, n: usize, minute: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            format!(
                "<38>Nov 22 07:{minute:02}:{:02} jump01 sshd[4242]: Failed password for root from {ip} port {} ssh2",
                10 + i,
                40000 + i
            )
        })
        .collect()
}

/// Two tenants, each with its own syslog collector, and the rules of `PACK`.
fn start(dir: &Path) -> (Vigil, std::net::SocketAddr, PathBuf) {
    let rules = dir.join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    std::fs::write(rules.join("pack.yaml"), PACK).unwrap();
    let globex: std::net::SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let cfg = dir.join("vigil.yaml");
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
    connector: {{ type: syslog, tcp: {globex} }}
    normalizer: {{ type: auto, timezone: UTC }}
correlation:
  rules: [{}]
",
            free_port(),
            rules.display()
        ),
    )
    .unwrap();
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    (Vigil::start(&data, Some(&cfg)), globex, rules)
}

fn correlation_event(api: &Api, admin: &Auth, tenant: &str) -> String {
    let q = json!({ "q": "vigil.type:correlation AND rule.id:guessing", "tenant": tenant, "limit": 10 });
    let mut id = String::new();
    wait(&format!("the correlation event of {tenant}"), || {
        let (s, b) = api.call("POST", "/api/v1/search", admin, Some(&q));
        assert_eq!(s, 200, "{b}");
        match b["events"][0]["vigil"]["event_id"].as_str() {
            Some(x) => {
                id = x.to_owned();
                true
            }
            None => false,
        }
    });
    id
}

#[test]
fn tenants_see_only_their_lists_and_explain_data_and_shared_lists_need_shared_to_change() {
    let dir = tmp();
    let (v, globex, _) = start(dir.path());
    let api = Api::new(&v);
    let admin = Auth::Bearer(v.token.clone());

    // one brute force in each tenant: a correlation event and a blocked_ips entry each
    // (globex's a minute later, once acme's fired: the correlator's watermark is one for all
    // tenants, and these rules allow no lateness)
    send(v.syslog, &failures("203.0.113.45", 3, 0));
    let acme_event = correlation_event(&api, &admin, "acme");
    send(globex, &failures("198.51.100.9", 3, 1));
    let globex_event = correlation_event(&api, &admin, "globex");

    // accounts: tier-1 of acme, tier-1 of globex, tier-2 of acme, tier-2 of Shared
    let pw = "Turquoise-Lantern-Harbor-71";
    for (name, tenant, role) in [
        ("tina", "acme", "tier1_analyst"),
        ("gina", "globex", "tier1_analyst"),
        ("tim", "acme", "tier2_analyst"),
        ("sam", "shared", "tier2_analyst"),
    ] {
        let (s, b) = api.call(
            "POST",
            "/api/v1/users",
            &admin,
            Some(&json!({ "username": name, "password": pw, "roles": [{ "tenant": tenant, "role": role }] })),
        );
        assert_eq!(s, 201, "{b}");
    }
    let tina = api.login("tina", pw);
    let gina = api.login("gina", pw);
    let tim = api.login("tim", pw);
    let sam = api.login("sam", pw);

    // lists: acme's analyst reads acme's instance; globex's by name is 403, its key 404
    let (s, b) = api.call("GET", "/api/v1/lists/blocked_ips/entries", &tina, None);
    assert_eq!(s, 200, "{b}");
    let keys: Vec<&str> = b
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["key"][0].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["203.0.113.45"], "{b}");
    for path in [
        "/api/v1/lists?tenant=globex",
        "/api/v1/lists/blocked_ips?tenant=globex",
        "/api/v1/lists/blocked_ips/entries?tenant=globex",
        "/api/v1/lists/blocked_ips/entries/198.51.100.9?tenant=globex",
        "/api/v1/lists/blocked_ips/export?tenant=globex",
    ] {
        let (s, b) = api.call("GET", path, &tina, None);
        assert_eq!(s, 403, "GET {path}: {b}");
        assert_eq!(b["error"]["code"], "forbidden", "{b}");
    }
    let (s, b) = api.call(
        "GET",
        "/api/v1/lists/blocked_ips/entries/198.51.100.9",
        &tina,
        None,
    );
    assert_eq!(s, 404, "globex's key is not in acme's instance: {b}");
    let (s, b) = api.call(
        "PUT",
        "/api/v1/lists/blocked_ips/entries/192.0.2.1?tenant=globex",
        &tim,
        Some(&json!({ "values": { "reason": "x" } })),
    );
    assert_eq!(s, 403, "{b}");
    let (s, b) = api.call(
        "DELETE",
        "/api/v1/lists/blocked_ips/entries/198.51.100.9?tenant=globex",
        &tim,
        None,
    );
    assert_eq!(s, 403, "{b}");
    // globex's entry is intact
    let (s, b) = api.call(
        "GET",
        "/api/v1/lists/blocked_ips/entries/198.51.100.9?tenant=globex",
        &admin,
        None,
    );
    assert_eq!(s, 200, "{b}");
    // a tier-1 analyst changes no list; a tier-2 one changes their tenant's
    let put = json!({ "values": { "reason": "manual" } });
    let (s, b) = api.call(
        "PUT",
        "/api/v1/lists/blocked_ips/entries/192.0.2.7",
        &tina,
        Some(&put),
    );
    assert_eq!(s, 403, "{b}");
    let (s, b) = api.call(
        "PUT",
        "/api/v1/lists/blocked_ips/entries/192.0.2.7",
        &tim,
        Some(&put),
    );
    assert_eq!(s, 200, "{b}");

    // explain: the rules' data is the installation's (rules.read in Main)
    for path in [
        "/api/v1/correlation/rules",
        "/api/v1/correlation/rules/guessing",
    ] {
        let (s, b) = api.call("GET", path, &tina, None);
        assert_eq!(s, 403, "GET {path}: {b}");
    }
    // a group and a correlation event of globex: 403 by name, 404 from acme's side
    let (s, b) = api.call(
        "GET",
        "/api/v1/correlation/rules/guessing/why?group=198.51.100.9&tenant=globex",
        &tina,
        None,
    );
    assert_eq!(s, 403, "{b}");
    let (s, b) = api.call(
        "GET",
        "/api/v1/correlation/rules/guessing/why?group=198.51.100.9",
        &tina,
        None,
    );
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["tenant"], "acme", "{b}");
    assert_eq!(
        b["open"], false,
        "acme has no bucket for globex's source: {b}"
    );
    let (s, b) = api.call(
        "GET",
        &format!("/api/v1/correlation/events/{globex_event}?tenant=globex"),
        &tina,
        None,
    );
    assert_eq!(s, 403, "{b}");
    let (s, b) = api.call(
        "GET",
        &format!("/api/v1/correlation/events/{globex_event}"),
        &tina,
        None,
    );
    assert_eq!(s, 404, "{b}");
    let (s, b) = api.call(
        "GET",
        &format!("/api/v1/correlation/events/{acme_event}"),
        &tina,
        None,
    );
    assert_eq!(s, 200, "own tenant's event: {b}");
    assert_eq!(b["base_count"], 3, "{b}");
    let (s, b) = api.call(
        "POST",
        "/api/v1/correlation/reload",
        &tina,
        Some(&json!({})),
    );
    assert_eq!(s, 403, "{b}");
    // a retroscan reads events: globex's by name is 403, and without a name only acme's
    let scan = json!({ "rules": [{ "name": "pack.yaml", "source": PACK }], "no_diff": true });
    let mut named = scan.clone();
    named["tenant"] = "globex".into();
    let (s, b) = api.call("POST", "/api/v1/correlation/retroscan", &tina, Some(&named));
    assert_eq!(s, 403, "{b}");
    let (s, b) = api.call("POST", "/api/v1/correlation/retroscan", &tina, Some(&scan));
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["tenants"], 1, "{b}");
    assert_eq!(b["alert_count"], 1, "{b}");
    assert_eq!(b["alerts"][0]["tenant"], "acme", "{b}");
    assert!(!b.to_string().contains("198.51.100.9"), "{b}");

    // the Shared list: written with a role in Shared only, read by every tenant
    let entry = json!({ "values": { "source": "feed" } });
    for who in [&tina, &tim] {
        let (s, b) = api.call(
            "PUT",
            "/api/v1/lists/intel/entries/192.0.2.99",
            who,
            Some(&entry),
        );
        assert_eq!(s, 403, "{b}");
    }
    let (s, b) = api.call(
        "PUT",
        "/api/v1/lists/intel/entries/192.0.2.99",
        &sam,
        Some(&entry),
    );
    assert_eq!(s, 200, "{b}");
    for who in [&tina, &gina, &tim, &sam] {
        let (s, b) = api.call("GET", "/api/v1/lists/intel/entries/192.0.2.99", who, None);
        assert_eq!(s, 200, "{b}");
        assert_eq!(b["values"]["source"], "feed", "{b}");
    }
    let (s, b) = api.call(
        "DELETE",
        "/api/v1/lists/intel/entries/192.0.2.99",
        &tim,
        None,
    );
    assert_eq!(s, 403, "{b}");
    let (s, b) = api.call(
        "DELETE",
        "/api/v1/lists/intel/entries/192.0.2.99",
        &sam,
        None,
    );
    assert_eq!(s, 204, "{b}");

    // no route of the correlation and lists sections answers without credentials
    let (s, doc) = api.call("GET", "/api/v1/openapi.json", &Auth::None, None);
    assert_eq!(s, 200);
    let mut walked = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        if !(path.starts_with("/api/v1/lists") || path.starts_with("/api/v1/correlation")) {
            continue;
        }
        let concrete = path
            .replace("{name}", "blocked_ips")
            .replace("{key}", "203.0.113.45")
            .replace("{id}", "guessing");
        for method in item.as_object().unwrap().keys() {
            let (s, b) = api.call(&method.to_uppercase(), &concrete, &Auth::None, Some(&scan));
            assert!(s == 401 || s == 429, "{method} {path}: {s} {b}");
            walked += 1;
        }
    }
    assert!(walked >= 14, "walked {walked} operations");
    v.stop();
}

const CANDIDATE: &str = r#"
id: guessing
name: SSH guessing (tighter)
kind: standard
severity: high
window: 10m
lateness: 0s
group_by: [source.ip]
selectors:
  - {name: failure, query: 'event.action:ssh_login AND event.outcome:failure', threshold: 2}
"#;

#[test]
fn retroscan_on_a_running_instance_goes_through_its_api_with_the_same_report() {
    let dir = tmp();
    let (v, globex, rules) = start(dir.path());
    // acme: 3 failures from one source, 2 from another; globex: 2 from a third
    send(v.syslog, &failures("203.0.113.45", 3, 0));
    send(v.syslog, &failures("203.0.113.46", 2, 1));
    send(globex, &failures("198.51.100.9", 2, 2));
    let api = Api::new(&v);
    let admin = Auth::Bearer(v.token.clone());
    for (tenant, n) in [("acme", 5), ("globex", 2)] {
        wait(&format!("{tenant}'s events stored"), || {
            let q = json!({ "q": "vigil.type:base AND event.action:ssh_login | count", "tenant": tenant });
            let (_, b) = api.call("POST", "/api/v1/search", &admin, Some(&q));
            b["rows"][0][0].as_u64() == Some(n)
        });
    }
    let candidate = dir.path().join("candidate.yaml");
    std::fs::write(&candidate, CANDIDATE).unwrap();
    let data = v.data.clone();
    let scan = |format: &str| {
        let out = vigil()
            .args(["retroscan", "--no-progress", "--format", format, "--rules"])
            .arg(&candidate)
            .arg("--live")
            .arg(&rules)
            .arg("--data-dir")
            .arg(&data)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
        stdout
    };
    // while it runs: through the API (the store is locked)
    let live_json: Value = serde_json::from_str(&scan("json")).unwrap();
    let live_table = scan("table");
    // the candidate (threshold 2) fires for all three sources, the live rule (3) for one
    // acme and globex (and Main, where the first administrator's audit events are)
    assert!(live_json["tenants"].as_u64().unwrap() >= 2, "{live_json}");
    assert_eq!(live_json["diff"], true, "{live_json}");
    assert_eq!(
        live_json["rules"],
        json!([{ "id": "guessing", "before": 1, "after": 3, "new": 2, "gone": 0 }]),
        "{live_json}"
    );
    assert_eq!(live_json["alert_count"], 3, "{live_json}");
    assert!(
        live_table.contains("BEFORE") && live_table.contains("GONE"),
        "{live_table}"
    );
    // without --live, the instance diffs against the rules it runs (the same file here)
    let out = vigil()
        .args(["retroscan", "--no-progress", "--format", "json", "--rules"])
        .arg(&candidate)
        .arg("--data-dir")
        .arg(&v.data)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let running: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(running["rules"], live_json["rules"], "{running}");
    // a broken candidate: exit 2 with its file name, nothing sent
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, CANDIDATE.replace("threshold: 2", "threshold: many")).unwrap();
    let out = vigil()
        .args(["retroscan", "--no-progress", "--rules"])
        .arg(&bad)
        .arg("--data-dir")
        .arg(&v.data)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("bad.yaml"), "{stderr}");
    v.stop();

    // stopped: the command opens the data directory itself, and reports the same
    let stopped_json: Value = serde_json::from_str(&scan("json")).unwrap();
    let stopped_table = scan("table");
    for k in ["tenants", "diff", "rules", "alert_count"] {
        assert_eq!(
            stopped_json[k], live_json[k],
            "{k}: {stopped_json} vs {live_json}"
        );
    }
    let alerts = |v: &Value| -> Vec<(String, String)> {
        v["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| (a["tenant"].to_string(), a["group_by"].to_string()))
            .collect()
    };
    assert_eq!(alerts(&stopped_json), alerts(&live_json));
    // the tables are the same but for the first line (events, the time the replay took)
    let rest = |t: &str| t.lines().skip(1).map(str::to_owned).collect::<Vec<_>>();
    assert_eq!(rest(&stopped_table), rest(&live_table));
    assert!(
        stopped_table.starts_with(&format!(
            "{} events replayed from {} tenant(s)",
            stopped_json["events"], stopped_json["tenants"]
        )),
        "{stopped_table}"
    );
}
