//! The SOC API over HTTP against a real `vigil up` (issue 13): tenant isolation of analysts,
//! read-only users, revoked tokens, every route of the OpenAPI document without credentials
//! and as another tenant's analyst, Sigma detections becoming alerts with their base events,
//! grouping of 1,000 repeated detections into one alert, and suppression.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)]

mod support;

use std::path::Path;

use serde_json::{Value, json};
use support::api::{Api, Auth, send_lines as send, wait};
use support::{Vigil, free_port, tmp};

const SSH_RULE: &str = r#"
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

const RULE_ID: &str = "0b8a7c1e-4d2f-4c4a-9a51-6a1d2b3c4d5e";

fn config(dir: &Path, extra_port: u16) -> std::path::PathBuf {
    let rules = dir.join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    std::fs::write(rules.join("ssh.yml"), SSH_RULE).unwrap();
    let cfg = dir.join("vigil.yaml");
    std::fs::write(
        &cfg,
        format!(
            "version: 1
collectors:
  - id: acme-syslog
    tenant: acme
    connector: {{ type: syslog, tcp: 127.0.0.1:{} }}
  - id: globex-syslog
    tenant: globex
    connector: {{ type: syslog, tcp: 127.0.0.1:{extra_port} }}
detection:
  rules: [{}]
",
            free_port(),
            rules.display()
        ),
    )
    .unwrap();
    cfg
}

fn failed_login(host: &str, i: usize) -> String {
    format!(
        "<38>Nov 22 07:{:02}:{:02} {host} sshd[42]: Failed password for root from 203.0.113.45 port {} ssh2",
        (i / 60) % 60,
        i % 60,
        1024 + i
    )
}

fn alerts_of(api: &Api, admin: &Auth, tenant: &str) -> Vec<Value> {
    let (s, b) = api.call(
        "GET",
        &format!("/api/v1/alerts?tenant={tenant}"),
        admin,
        None,
    );
    assert_eq!(s, 200, "{b}");
    b["items"].as_array().cloned().unwrap_or_default()
}

#[test]
fn analysts_see_only_their_tenant_and_every_route_is_guarded() {
    let dir = tmp();
    let globex_port = free_port();
    let cfg = config(dir.path(), globex_port);
    let v = Vigil::start(&dir.path().join("data"), Some(&cfg));
    let api = Api::new(&v);
    let admin = Auth::Bearer(v.token.clone());
    // the first start printed a generated administrator password on the console
    let console = std::fs::read_to_string(dir.path().join("data").with_extension("log")).unwrap();
    assert!(
        console.contains("created the administrator `admin`"),
        "{console}"
    );

    // one alert in each tenant
    send(v.syslog, &[failed_login("web-acme", 0)]);
    send(
        format!("127.0.0.1:{globex_port}").parse().unwrap(),
        &[failed_login("web-globex", 0)],
    );
    wait("an alert in each tenant", || {
        alerts_of(&api, &admin, "acme").len() == 1 && alerts_of(&api, &admin, "globex").len() == 1
    });
    let acme_alert = alerts_of(&api, &admin, "acme")[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let globex_alert = alerts_of(&api, &admin, "globex")[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // accounts: a tier-1 analyst and a read-only user of acme
    let pw = "Turquoise-Lantern-Harbor-71";
    for (name, role) in [("tina", "tier1_analyst"), ("rory", "read_only")] {
        let (s, b) = api.call(
            "POST",
            "/api/v1/users",
            &admin,
            Some(&json!({ "username": name, "password": pw, "roles": [{ "tenant": "acme", "role": role }] })),
        );
        assert_eq!(s, 201, "{b}");
        assert!(!b.to_string().contains(pw), "the password is never echoed");
    }
    let (tina, set_cookie) = api.login_response("tina", pw);
    assert!(!set_cookie.contains("Secure"), "no TLS here: {set_cookie}");
    let rory = api.login("rory", pw);

    // tier-1 of acme: sees acme only, 403 for globex by name, 404 for globex records
    let (s, b) = api.call("GET", "/api/v1/alerts", &tina, None);
    assert_eq!(s, 200, "{b}");
    let items = b["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{b}");
    assert!(items.iter().all(|a| a["tenant"] == "acme"), "{b}");
    let (s, b) = api.call("GET", "/api/v1/alerts?tenant=globex", &tina, None);
    assert_eq!(s, 403, "{b}");
    assert_eq!(b["error"]["code"], "forbidden");
    let (s, _) = api.call(
        "GET",
        &format!("/api/v1/alerts/{globex_alert}"),
        &tina,
        None,
    );
    assert_eq!(s, 404);
    // changes her tenant's alert, not the other's
    let assign = json!({ "assignee": "tina" });
    let (s, b) = api.call(
        "PATCH",
        &format!("/api/v1/alerts/{acme_alert}"),
        &tina,
        Some(&assign),
    );
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["status"], "assigned");
    let (s, _) = api.call(
        "PATCH",
        &format!("/api/v1/alerts/{globex_alert}"),
        &tina,
        Some(&assign),
    );
    assert_eq!(s, 404);
    assert_eq!(alerts_of(&api, &admin, "globex")[0]["status"], "new");
    // a cookie without its CSRF header cannot write
    let Auth::Session { cookie, .. } = &tina else {
        unreachable!()
    };
    let (s, b) = api.call(
        "POST",
        &format!("/api/v1/alerts/{acme_alert}/comments"),
        &Auth::SessionNoCsrf(cookie.clone()),
        Some(&json!({ "body": "x" })),
    );
    assert_eq!((s, b["error"]["code"].as_str()), (403, Some("csrf")), "{b}");
    let (s, b) = api.call(
        "POST",
        &format!("/api/v1/alerts/{acme_alert}/comments"),
        &tina,
        Some(&json!({ "body": "looking into it" })),
    );
    assert_eq!(s, 201, "{b}");
    let (s, b) = api.call(
        "GET",
        &format!("/api/v1/alerts/{acme_alert}/history"),
        &tina,
        None,
    );
    assert_eq!(s, 200, "{b}");
    assert!(
        b["changes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["field"] == "assignee"),
        "{b}"
    );

    // read-only: reads, writes nothing
    let (s, _) = api.call("GET", "/api/v1/alerts", &rory, None);
    assert_eq!(s, 200);
    for (method, path, body) in [
        (
            "PATCH",
            format!("/api/v1/alerts/{acme_alert}"),
            json!({ "status": "escalated" }),
        ),
        (
            "POST",
            format!("/api/v1/alerts/{acme_alert}/comments"),
            json!({ "body": "x" }),
        ),
        (
            "POST",
            "/api/v1/alerts/bulk".into(),
            json!({ "ids": [acme_alert], "update": { "assignee": "rory" } }),
        ),
        (
            "POST",
            "/api/v1/incidents".into(),
            json!({ "title": "x", "alerts": [acme_alert] }),
        ),
        (
            "POST",
            "/api/v1/assets".into(),
            json!({ "tenant": "acme", "name": "h1" }),
        ),
        (
            "POST",
            "/api/v1/suppressions".into(),
            json!({ "tenant": "acme", "rule_id": RULE_ID, "reason": "x", "expires_at": "2099-01-01T00:00:00Z" }),
        ),
        (
            "POST",
            "/api/v1/users".into(),
            json!({ "username": "eve", "roles": [{ "tenant": "acme", "role": "read_only" }] }),
        ),
        (
            "POST",
            "/api/v1/tenants".into(),
            json!({ "id": "evil", "name": "evil" }),
        ),
    ] {
        let (s, b) = api.call(method, &path, &rory, Some(&body));
        assert_eq!(s, 403, "read-only {method} {path}: {b}");
    }
    assert_eq!(alerts_of(&api, &admin, "acme")[0]["assignee"], "tina");

    // a personal token works until it is revoked, then fails on its next request
    let (s, b) = api.call(
        "POST",
        "/api/v1/tokens",
        &tina,
        Some(
            &json!({ "name": "script", "roles": [{ "tenant": "acme", "role": "tier1_analyst" }] }),
        ),
    );
    assert_eq!(s, 201, "{b}");
    let secret = b["secret"].as_str().unwrap().to_owned();
    let token_id = b["token"]["id"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("vgl_"));
    let tok = Auth::Bearer(secret.clone());
    assert_eq!(api.call("GET", "/api/v1/alerts", &tok, None).0, 200);
    let (s, b) = api.call("GET", "/api/v1/tokens", &tina, None);
    assert_eq!(s, 200);
    assert!(
        !b.to_string().contains(&secret),
        "listing never shows a secret"
    );
    assert_eq!(
        api.call("DELETE", &format!("/api/v1/tokens/{token_id}"), &tina, None)
            .0,
        204
    );
    let (s, b) = api.call("GET", "/api/v1/alerts", &tok, None);
    assert_eq!(s, 401, "a revoked token: {b}");

    // every route of the OpenAPI document: nothing without credentials, nothing of globex
    // for acme's analyst
    let (s, doc) = api.call("GET", "/api/v1/openapi.json", &Auth::None, None);
    assert_eq!(s, 200);
    assert_eq!(doc["openapi"], "3.1.0");
    let (s, b) = api.call(
        "POST",
        "/api/v1/tokens",
        &tina,
        Some(
            &json!({ "name": "walker", "roles": [{ "tenant": "acme", "role": "tier1_analyst" }] }),
        ),
    );
    assert_eq!(s, 201, "{b}");
    let walker = Auth::Bearer(b["secret"].as_str().unwrap().to_owned());
    let public = ["/health", "/api/v1/auth/login", "/api/v1/openapi.json"];
    let mut walked = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            let concrete = path.replace("{id}", &globex_alert);
            let with_tenant = format!("{concrete}?tenant=globex");
            let body = json!({ "tenant": "globex", "title": "x", "name": "x", "ids": [globex_alert],
                "alert_ids": [globex_alert], "from": [globex_alert], "body": "x", "text": "x",
                "update": { "assignee": "tina" }, "q": "*" });
            let m = method.to_uppercase();
            if !public.contains(&path.as_str()) {
                let (s, b) = api.call(&m, &with_tenant, &Auth::None, Some(&body));
                // 429 once the anonymous address is throttled for its failures
                assert!(
                    s == 401 || s == 429,
                    "{m} {path} without credentials: {s} {b}"
                );
            }
            if path == "/api/v1/auth/logout" || path == "/api/v1/auth/login" {
                continue;
            }
            for p in [&concrete, &with_tenant] {
                let (s, b) = api.call(&m, p, &walker, Some(&body));
                let text = b.to_string();
                assert!(
                    !((200..300).contains(&s) && text.contains("globex")),
                    "{m} {p} as acme's analyst answered globex data: {s} {text}"
                );
                assert!(s < 500, "{m} {p}: {s} {text}");
            }
            walked += 1;
        }
    }
    assert!(walked >= 50, "walked {walked} operations");
    // and globex's alert is still untouched
    let g = &alerts_of(&api, &admin, "globex")[0];
    assert_eq!(
        (g["status"].as_str(), g["assignee"].as_str()),
        (Some("new"), None),
        "{g}"
    );
    v.stop();
}

#[test]
fn sigma_detections_become_alerts_grouped_with_base_events_and_suppressed() {
    let dir = tmp();
    let globex_port = free_port();
    let cfg = config(dir.path(), globex_port);
    let v = Vigil::start(&dir.path().join("data"), Some(&cfg));
    let api = Api::new(&v);
    let admin = Auth::Bearer(v.token.clone());

    // 1,000 detections of one rule for one entity: one alert counting 1,000
    let lines: Vec<String> = (0..1000).map(|i| failed_login("jump01", i)).collect();
    send(v.syslog, &lines);
    wait("1,000 detections folded", || {
        let a = alerts_of(&api, &admin, "acme");
        a.len() == 1 && a[0]["count"] == 1000
    });
    let alert = alerts_of(&api, &admin, "acme")[0].clone();
    assert_eq!(alert["rule_id"], RULE_ID);
    assert_eq!(alert["rule_name"], "SSH password guessing");
    assert_eq!(alert["severity"], "medium");
    assert!(
        alert["techniques"].to_string().contains("T1110.001"),
        "{alert}"
    );
    let entities = alert["entities"].to_string();
    assert!(
        entities.contains("jump01") && entities.contains("203.0.113.45"),
        "{entities}"
    );
    // its base events are the stored sshd events
    let (s, detail) = api.call(
        "GET",
        &format!("/api/v1/alerts/{}", alert["id"].as_str().unwrap()),
        &admin,
        None,
    );
    assert_eq!(s, 200, "{detail}");
    let ids = detail["event_ids"].as_array().unwrap();
    assert_eq!(ids.len(), 1000, "every base event id is kept (cap 1,000)");
    let first = ids[0].as_str().unwrap();
    let (s, found) = support::http_post(
        v.http,
        "/api/v1/search",
        &v.token,
        &json!({ "q": format!("vigil.event_id:{first}"), "tenant": "acme" }).to_string(),
    )
    .unwrap();
    assert_eq!(s, 200, "{found}");
    let found: Value = serde_json::from_str(&found).unwrap();
    assert_eq!(found["events"].as_array().map(Vec::len), Some(1), "{found}");
    assert_eq!(found["events"][0]["process"]["name"], "sshd", "{found}");

    // a suppression stops new alerts for its values and counts what it suppressed
    let (s, rule) = api.call(
        "POST",
        "/api/v1/suppressions",
        &admin,
        Some(&json!({ "tenant": "acme", "rule_id": RULE_ID, "fields": { "host.name": "jump02" },
            "reason": "pentest of jump02", "expires_at": (chrono::Utc::now() + chrono::Duration::days(1)).to_rfc3339() })),
    );
    assert_eq!(s, 201, "{rule}");
    let lines: Vec<String> = (0..5).map(|i| failed_login("jump02", i)).collect();
    send(v.syslog, &lines);
    // then one more detection of another host shows the batch has been handled
    send(v.syslog, &[failed_login("jump03", 0)]);
    wait("the jump03 alert", || {
        alerts_of(&api, &admin, "acme").len() == 2
    });
    wait("5 suppressed detections counted", || {
        let (_, b) = api.call("GET", "/api/v1/suppressions?tenant=acme", &admin, None);
        b[0]["suppressed_count"] == 5
    });
    assert!(
        alerts_of(&api, &admin, "acme")
            .iter()
            .all(|a| !a["entities"].to_string().contains("jump02")),
        "no alert for the suppressed host"
    );
    let metrics = v.metrics();
    let metric = |name: &str| {
        metrics
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|n| n.parse::<u64>().ok())
    };
    assert_eq!(
        metric("vigil_alerts_suppressed_total"),
        Some(5),
        "{metrics}"
    );
    assert_eq!(metric("vigil_alerts_created_total"), Some(2), "{metrics}");
    assert_eq!(
        metric("vigil_alerts_detections_total"),
        Some(1006),
        "{metrics}"
    );

    // incidents from alerts, exported as JSON and HTML
    let (s, inc) = api.call(
        "POST",
        "/api/v1/incidents",
        &admin,
        Some(&json!({ "title": "Brute force on <jump01>", "priority": "high", "alerts": [alert["id"]] })),
    );
    assert_eq!(s, 201, "{inc}");
    assert_eq!(inc["tenant"], "acme");
    let id = inc["id"].as_str().unwrap();
    let (s, x) = api.call(
        "GET",
        &format!("/api/v1/incidents/{id}/export"),
        &admin,
        None,
    );
    assert_eq!(s, 200, "{x}");
    assert_eq!(x["alerts"][0]["status"], "escalated");
    let (s, html, _) = api.raw(
        "GET",
        &format!("/api/v1/incidents/{id}/report"),
        &admin,
        None,
    );
    assert_eq!(s, 200);
    assert!(
        html.contains("Brute force on &lt;jump01&gt;"),
        "escaped title"
    );
    assert!(!html.contains("<jump01>"));
    v.stop();
}

#[test]
fn cli_manages_users_tokens_and_tenants_in_the_metadata_store() {
    let dir = tmp();
    let data = dir.path().join("data");
    let run = |args: &[&str]| {
        let out = support::vigil()
            .args(args)
            .arg("--data-dir")
            .arg(&data)
            .env_remove("VIGIL_CONFIG")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        (out.status.code(), text, err)
    };
    let (code, out, err) = run(&["tenant", "add", "acme", "--name", "Acme Corp"]);
    assert_eq!(code, Some(0), "{out}{err}");
    let (code, _, err) = run(&["tenant", "add", "acme"]);
    assert_eq!(code, Some(2), "a second add is a usage error: {err}");
    let (_, out, _) = run(&["tenant", "list"]);
    assert!(
        out.contains("acme") && out.contains("Acme Corp") && out.contains("main"),
        "{out}"
    );

    let (code, out, err) = run(&["user", "add", "bob", "--role", "acme:tier1_analyst"]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("password (shown once"), "{out}");
    let (code, _, err) = run(&["user", "add", "eve", "--role", "acme:wizard"]);
    assert_eq!(code, Some(2), "{err}");
    let (code, out, err) = run(&["user", "add", "--admin", "root2"]);
    assert_eq!(code, Some(0), "{out}{err}");
    let (_, out, _) = run(&["user", "list"]);
    assert!(
        out.contains("bob") && out.contains("acme:tier1_analyst"),
        "{out}"
    );
    assert!(
        out.contains("root2") && out.contains("main:administrator"),
        "{out}"
    );

    let (code, out, err) = run(&["token", "add", "scraper", "--role", "acme:read_only"]);
    assert_eq!(code, Some(0), "{out}{err}");
    let secret = out
        .lines()
        .find_map(|l| l.strip_prefix("secret (shown once): "))
        .unwrap()
        .to_owned();
    assert!(secret.starts_with("vgl_"));
    let id = out
        .lines()
        .next()
        .and_then(|l| l.split('(').nth(1))
        .and_then(|r| r.split(')').next())
        .unwrap()
        .to_owned();
    let (_, out, _) = run(&["token", "list"]);
    assert!(
        out.contains("scraper") && out.contains("active") && !out.contains(&secret),
        "{out}"
    );
    let (code, _, err) = run(&["token", "remove", &id]);
    assert_eq!(code, Some(0), "{err}");
    let (_, out, _) = run(&["token", "list"]);
    assert!(out.contains("revoked"), "{out}");

    let (code, _, err) = run(&["user", "remove", "bob"]);
    assert_eq!(code, Some(0), "{err}");
    let (_, out, _) = run(&["user", "list"]);
    assert!(
        out.lines()
            .any(|l| l.contains("bob") && l.contains("disabled")),
        "{out}"
    );
    let (code, _, err) = run(&["tenant", "remove", "main"]);
    assert_eq!(code, Some(2), "{err}");
    let (code, _, err) = run(&["tenant", "remove", "acme"]);
    assert_eq!(code, Some(0), "{err}");
    let (_, out, _) = run(&["tenant", "list"]);
    assert!(
        out.lines()
            .any(|l| l.starts_with("acme") && l.contains("disabled")),
        "{out}"
    );
    // `vigil validate` checks the meta and auth sections in detail
    let validate = |yaml: &str| {
        let bad = dir.path().join("bad.yaml");
        std::fs::write(&bad, yaml).unwrap();
        let out = support::vigil()
            .args(["validate", "-c"])
            .arg(&bad)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, err) = validate("version: 1\nmeta: { max_connections: 0 }\n");
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("meta.max_connections"), "{err}");
    let (code, err) =
        validate("version: 1\nauth: { password_min_length: 4, session_lifetime: 1s }\n");
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("auth.password_min_length"), "{err}");
    assert!(err.contains("auth.session_lifetime"), "{err}");
    // the metadata store is one private file
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(data.join("meta.db"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0);
    }
}

/// `psql` against the local PostgreSQL (127.0.0.1:5432, user postgres); `None` when absent.
fn psql(sql: &str) -> Option<String> {
    let out = std::process::Command::new("psql")
        .args([
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "-d",
            "postgres",
            "-tAc",
            sql,
        ])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn postgres_metadata_store_first_admin_and_alerts() {
    if psql("select 1").is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "PostgreSQL on 127.0.0.1:5432 is required in CI"
        );
        eprintln!("SKIPPED: no PostgreSQL on 127.0.0.1:5432");
        return;
    }
    let db = format!(
        "vigil_api_{}_{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    psql(&format!("CREATE DATABASE {db}")).unwrap();
    let dir = tmp();
    let globex_port = free_port();
    let cfg = config(dir.path(), globex_port);
    std::fs::write(
        dir.path().join("meta-url"),
        format!("postgres://postgres@127.0.0.1:5432/{db}\n"),
    )
    .unwrap();
    let mut text = std::fs::read_to_string(&cfg).unwrap();
    text.push_str("meta: { type: postgres, url: \"${file:meta-url}\" }\n");
    std::fs::write(&cfg, text).unwrap();
    let data = dir.path().join("data");
    let v = Vigil::start(&data, Some(&cfg));
    assert!(
        !data.join("meta.db").exists(),
        "no SQLite file in postgres mode"
    );
    let api = Api::new(&v);
    // the generated administrator password, from the console
    let console = std::fs::read_to_string(data.with_extension("log")).unwrap();
    let pw = console
        .split("created the administrator `admin` with the password")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .unwrap()
        .to_owned();
    let first = api.login("admin", &pw);
    let (s, b) = api.call("GET", "/api/v1/alerts", &first, None);
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (403, Some("password_change_required")),
        "{b}"
    );
    let new_pw = "Violet-Compass-Meadow-93";
    let (s, b) = api.call(
        "POST",
        "/api/v1/auth/password",
        &first,
        Some(&json!({ "current": pw, "new": new_pw })),
    );
    assert_eq!(s, 204, "{b}");
    let admin = api.login("admin", new_pw);
    send(
        v.syslog,
        &[failed_login("pg-host", 0), failed_login("pg-host", 1)],
    );
    wait("the alert in PostgreSQL", || {
        let a = alerts_of(&api, &admin, "acme");
        a.len() == 1 && a[0]["count"] == 2
    });
    let (s, b) = api.call("GET", "/api/v1/audit?action=auth.", &admin, None);
    assert_eq!(s, 200, "{b}");
    assert!(b["items"].as_array().is_some_and(|i| !i.is_empty()), "{b}");
    v.stop();
    let n = psql(&format!(
        "SELECT count(*) FROM pg_catalog.pg_database WHERE datname = '{db}'"
    ));
    assert_eq!(n.as_deref().map(str::trim), Some("1"));
    let _ = psql(&format!("DROP DATABASE {db} WITH (FORCE)"));
}

#[test]
fn administrators_run_incidents_assets_and_accounts_through_the_api() {
    let dir = tmp();
    let globex_port = free_port();
    let cfg = config(dir.path(), globex_port);
    let v = Vigil::start(&dir.path().join("data"), Some(&cfg));
    let api = Api::new(&v);
    let admin = Auth::Bearer(v.token.clone());
    // three alerts in acme (three hosts)
    send(
        v.syslog,
        &[
            failed_login("h1", 0),
            failed_login("h2", 1),
            failed_login("h3", 2),
        ],
    );
    wait("three alerts", || {
        alerts_of(&api, &admin, "acme").len() == 3
    });
    let ids: Vec<String> = alerts_of(&api, &admin, "acme")
        .iter()
        .map(|a| a["id"].as_str().unwrap().to_owned())
        .collect();
    // sorting and filtering
    let (s, b) = api.call(
        "GET",
        "/api/v1/alerts?tenant=acme&entity=host:h2&sort=first_seen&dir=asc&limit=1",
        &admin,
        None,
    );
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["items"].as_array().unwrap().len(), 1);
    assert!(b["items"][0]["entities"].to_string().contains("h2"), "{b}");
    let (s, b) = api.call("GET", "/api/v1/alerts?status=bogus", &admin, None);
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (400, Some("invalid")),
        "{b}"
    );
    let (s, b) = api.call("GET", "/api/v1/alerts?limit=2", &admin, None);
    assert_eq!(s, 200);
    let cursor = b["next_cursor"].as_str().unwrap().to_owned();
    let (_, b) = api.call(
        "GET",
        &format!("/api/v1/alerts?limit=2&cursor={cursor}"),
        &admin,
        None,
    );
    assert_eq!(b["items"].as_array().unwrap().len(), 1, "{b}");

    // bulk: close two as false positives (one closing without a reason fails alone)
    let (s, b) = api.call(
        "POST",
        "/api/v1/alerts/bulk",
        &admin,
        Some(&json!({ "ids": [ids[0], "01J0000000000000000000NOPE"],
            "update": { "status": "closed", "resolution": "false_positive", "resolution_reason": "scanner" } })),
    );
    assert_eq!(s, 200, "{b}");
    assert_eq!(
        (b["updated"].as_u64(), b["failed"].as_u64()),
        (Some(1), Some(1)),
        "{b}"
    );
    assert_eq!(b["items"][1]["error"]["code"], "not_found");

    // incidents: two from alerts, merged, exported
    let mk = |alert: &str, title: &str| {
        let (s, b) = api.call(
            "POST",
            "/api/v1/incidents",
            &admin,
            Some(&json!({ "title": title, "priority": "high", "category": "brute-force", "alerts": [alert] })),
        );
        assert_eq!(s, 201, "{b}");
        b["id"].as_str().unwrap().to_owned()
    };
    let a = mk(&ids[1], "Brute force A");
    let b_id = mk(&ids[2], "Brute force B");
    let (s, b) = api.call(
        "POST",
        &format!("/api/v1/incidents/{a}/merge"),
        &admin,
        Some(&json!({ "from": [b_id] })),
    );
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["alerts"].as_array().unwrap().len(), 2, "{b}");
    let (_, merged) = api.call("GET", &format!("/api/v1/incidents/{b_id}"), &admin, None);
    assert_eq!(
        (merged["status"].as_str(), merged["resolution"].as_str()),
        (Some("closed"), Some("duplicate"))
    );
    let (s, b) = api.call(
        "POST",
        &format!("/api/v1/incidents/{a}/timeline"),
        &admin,
        Some(&json!({ "text": "attacker switched to h3" })),
    );
    assert_eq!(s, 201, "{b}");
    let (s, b) = api.call(
        "PATCH",
        &format!("/api/v1/incidents/{a}"),
        &admin,
        Some(&json!({ "status": "in_progress", "assignee": "admin" })),
    );
    assert_eq!((s, b["status"].as_str()), (200, Some("in_progress")), "{b}");
    let (s, tl) = api.call(
        "GET",
        &format!("/api/v1/incidents/{a}/timeline"),
        &admin,
        None,
    );
    assert_eq!(s, 200);
    let tl = tl.to_string();
    assert!(
        tl.contains("merge") && tl.contains("attacker switched"),
        "{tl}"
    );
    // an attachment, downloaded as sent
    let req = api
        .client
        .post(format!(
            "{}/api/v1/incidents/{a}/attachments?name=pcap.txt",
            api.base
        ))
        .bearer_auth(&v.token)
        .header("Content-Type", "text/plain")
        .body("GET /etc/passwd")
        .send()
        .unwrap();
    assert_eq!(req.status().as_u16(), 201);
    let att: Value = req.json().unwrap();
    let (s, body, h) = api.raw(
        "GET",
        &format!("/api/v1/attachments/{}", att["id"].as_str().unwrap()),
        &admin,
        None,
    );
    assert_eq!((s, body.as_str()), (200, "GET /etc/passwd"));
    assert_eq!(h["content-type"], "application/octet-stream");
    let (s, x) = api.call(
        "GET",
        &format!("/api/v1/incidents/{a}/export"),
        &admin,
        None,
    );
    assert_eq!(s, 200);
    assert_eq!(x["alerts"].as_array().unwrap().len(), 2);
    assert_eq!(x["attachments"][0]["name"], "pcap.txt");

    // assets: CSV import, export, and the CRUD routes
    let csv = "name,ips,owner,criticality,categories,os,description\nh1,10.0.0.1,ops,critical,db;prod,linux,primary\nh2,10.0.0.2;10.0.0.3,,low,,,\nbad,not-an-ip,,low,,,\n";
    let r = api
        .client
        .post(format!(
            "{}/api/v1/assets/import?tenant=acme&label=cmdb",
            api.base
        ))
        .bearer_auth(&v.token)
        .header("Content-Type", "text/csv")
        .body(csv)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let rep: Value = r.json().unwrap();
    assert_eq!(
        (rep["created"].as_u64(), rep["errors"][0]["line"].as_u64()),
        (Some(2), Some(4)),
        "{rep}"
    );
    let (s, out, _) = api.raw("GET", "/api/v1/assets/export?tenant=acme", &admin, None);
    assert_eq!(s, 200);
    assert!(out.contains("h1,10.0.0.1,ops,critical,db;prod"), "{out}");
    let (s, b) = api.call(
        "POST",
        "/api/v1/assets",
        &admin,
        Some(
            &json!({ "tenant": "acme", "name": "h9", "ips": ["10.0.0.9"], "criticality": "high" }),
        ),
    );
    assert_eq!(s, 201, "{b}");
    let asset = b["id"].as_str().unwrap().to_owned();
    let (s, b) = api.call(
        "PUT",
        &format!("/api/v1/assets/{asset}"),
        &admin,
        Some(
            &json!({ "name": "h9", "ips": ["10.0.0.9"], "criticality": "medium", "owner": "sec" }),
        ),
    );
    assert_eq!((s, b["owner"].as_str()), (200, Some("sec")), "{b}");
    assert_eq!(
        api.call("DELETE", &format!("/api/v1/assets/{asset}"), &admin, None)
            .0,
        204
    );
    assert_eq!(
        api.call("GET", &format!("/api/v1/assets/{asset}"), &admin, None)
            .0,
        404
    );

    // tenants, users, roles, saved searches and the audit trail
    let (s, b) = api.call(
        "POST",
        "/api/v1/tenants",
        &admin,
        Some(&json!({ "id": "initech", "name": "Initech" })),
    );
    assert_eq!(s, 201, "{b}");
    let (s, b) = api.call(
        "POST",
        "/api/v1/users",
        &admin,
        Some(&json!({ "username": "tam", "roles": [{ "tenant": "initech", "role": "tenant_administrator" }] })),
    );
    assert_eq!(s, 201, "{b}");
    let tam_pw = b["password"].as_str().unwrap().to_owned();
    let tam_id = b["user"]["id"].as_str().unwrap().to_owned();
    // roles change in a user's session, never through a token
    let (s, b) = api.call(
        "POST",
        "/api/v1/users",
        &admin,
        Some(&json!({ "username": "boss", "password": "Amber-Quarry-Lighthouse-58", "roles": [{ "tenant": "main", "role": "administrator" }] })),
    );
    assert_eq!(s, 201, "{b}");
    let boss = api.login("boss", "Amber-Quarry-Lighthouse-58");
    let (s, b) = api.call(
        "PUT",
        &format!("/api/v1/users/{tam_id}/roles"),
        &admin,
        Some(&json!({ "roles": [] })),
    );
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (403, Some("forbidden")),
        "{b}"
    );
    let (s, b) = api.call(
        "PUT",
        &format!("/api/v1/users/{tam_id}/roles"),
        &boss,
        Some(&json!({ "roles": [{ "tenant": "initech", "role": "tier2_analyst" }] })),
    );
    assert_eq!(s, 200, "{b}");
    assert!(b["roles"].to_string().contains("tier2_analyst"), "{b}");
    // the generated password must be changed first
    let tam = api.login("tam", &tam_pw);
    assert_eq!(api.call("GET", "/api/v1/alerts", &tam, None).0, 403);
    let (s, b) = api.call("GET", "/api/v1/auth/me", &tam, None);
    assert_eq!(
        (s, b["must_change_password"].as_bool()),
        (200, Some(true)),
        "{b}"
    );
    let (s, b) = api.call(
        "POST",
        "/api/v1/saved-searches",
        &admin,
        Some(&json!({ "tenant": "acme", "name": "ssh failures", "query": "process.name:sshd AND failed" })),
    );
    assert_eq!(s, 201, "{b}");
    let saved = b["id"].as_str().unwrap().to_owned();
    let (s, b) = api.call("GET", "/api/v1/saved-searches", &admin, None);
    assert_eq!((s, b.as_array().map(Vec::len)), (200, Some(1)), "{b}");
    assert_eq!(
        api.call(
            "DELETE",
            &format!("/api/v1/saved-searches/{saved}"),
            &admin,
            None
        )
        .0,
        204
    );
    let (s, b) = api.call("GET", "/api/v1/audit?action=incident.", &admin, None);
    assert_eq!(s, 200, "{b}");
    let actions = b.to_string();
    assert!(
        actions.contains("incident.merge") && actions.contains("incident.create"),
        "{actions}"
    );
    // monitoring policies
    let policy = json!({ "tenant": "acme", "name": "firewall silent", "kind": "by_count", "lower": 1.0,
        "interval_secs": 300, "silent_after_secs": 600, "sources": ["acme-syslog"], "enabled": true });
    let (s, b) = api.call("POST", "/api/v1/monitoring-policies", &admin, Some(&policy));
    assert_eq!(s, 201, "{b}");
    let pid = b["id"].as_str().unwrap().to_owned();
    let mut changed = policy.clone();
    changed["lower"] = json!(5.0);
    let (s, b) = api.call(
        "PUT",
        &format!("/api/v1/monitoring-policies/{pid}"),
        &admin,
        Some(&changed),
    );
    assert_eq!((s, b["lower"].as_f64()), (200, Some(5.0)), "{b}");
    let (s, b) = api.call(
        "GET",
        "/api/v1/monitoring-policies?tenant=acme",
        &admin,
        None,
    );
    assert_eq!((s, b.as_array().map(Vec::len)), (200, Some(1)), "{b}");
    assert_eq!(
        api.call(
            "DELETE",
            &format!("/api/v1/monitoring-policies/{pid}"),
            &admin,
            None
        )
        .0,
        204
    );

    // TOTP: enrol in a session, then logins need the code
    let (s, e) = api.call("POST", "/api/v1/auth/totp", &boss, None);
    assert_eq!(s, 200, "{e}");
    let totp_secret = vigil_core::Secret::new(e["secret"].as_str().unwrap().to_owned());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let code = vigil_core::auth::totp_code_at(&totp_secret, now).unwrap();
    let (s, b) = api.call(
        "POST",
        "/api/v1/auth/totp/confirm",
        &boss,
        Some(&json!({ "secret": totp_secret.expose(), "code": code })),
    );
    assert_eq!(s, 204, "{b}");
    let (s, b) = api.call(
        "POST",
        "/api/v1/auth/login",
        &Auth::None,
        Some(&json!({ "username": "boss", "password": "Amber-Quarry-Lighthouse-58" })),
    );
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (401, Some("totp_required")),
        "{b}"
    );

    // searches are audited in the searched tenant
    let (s, _) = api.call(
        "POST",
        "/api/v1/search",
        &admin,
        Some(&json!({ "q": "process.name:sshd", "tenant": "acme" })),
    );
    assert_eq!(s, 200);
    wait("the search's audit record", || {
        let (_, b) = api.call(
            "GET",
            "/api/v1/audit?action=search&tenant=acme",
            &admin,
            None,
        );
        b["items"][0]["details"]["q"] == "process.name:sshd"
    });
    let (s, b) = api.call("GET", "/api/v1/roles", &admin, None);
    assert_eq!(s, 200);
    assert_eq!(b.as_array().map(Vec::len), Some(5));
    v.stop();
}
