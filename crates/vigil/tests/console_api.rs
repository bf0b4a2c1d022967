//! The console's dashboards and storage administration over HTTP against a real `vigil up`
//! (issue 15, points 2 and 8).
//!
//! Dashboards on the SQLite and on
//! the PostgreSQL metadata store: the built-in default, private dashboards of an analyst
//! (created, moved, resized, renamed, read back equal, deleted), shared ones only tenant
//! administrators change, read-only users who may read but not write, another user's private
//! dashboard and another tenant's answered 404, every problem of a layout (and each widget
//! query that does not parse) answered 400 with its path, and each change in the audit trail.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::disallowed_methods,
    clippy::panic
)]

mod support;

use std::path::Path;

use serde_json::{Value, json};
use support::api::{Api, Auth};
use support::{Vigil, tmp};

fn names(list: &Value) -> Vec<&str> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect()
}

/// The whole scenario on a running instance.
fn scenario(v: &Vigil) {
    let api = Api::new(v);
    let admin = Auth::Bearer(v.token.clone());
    for (id, name) in [("acme", "Acme"), ("globex", "Globex")] {
        let (s, b) = api.call(
            "POST",
            "/api/v1/tenants",
            &admin,
            Some(&json!({ "id": id, "name": name })),
        );
        assert_eq!(s, 201, "{b}");
    }
    let pw = "Turquoise-Lantern-Harbor-71";
    for (user, tenant, role) in [
        ("tina", "acme", "tier1_analyst"),
        ("rory", "acme", "read_only"),
        ("ada", "acme", "tenant_administrator"),
        ("gil", "globex", "tier1_analyst"),
    ] {
        let (s, b) = api.call(
            "POST",
            "/api/v1/users",
            &admin,
            Some(&json!({ "username": user, "password": pw, "roles": [{ "tenant": tenant, "role": role }] })),
        );
        assert_eq!(s, 201, "{b}");
    }
    let tina = api.login("tina", pw);
    let rory = api.login("rory", pw);
    let ada = api.login("ada", pw);
    let gil = api.login("gil", pw);

    // Nobody has a dashboard yet; the built-in default is served, not stored.
    let (s, b) = api.call("GET", "/api/v1/dashboards", &tina, None);
    assert_eq!((s, b.clone()), (200, json!([])), "{b}");
    let (s, default) = api.call("GET", "/api/v1/dashboards/default", &tina, None);
    assert_eq!(s, 200, "{default}");
    assert_eq!(default["name"], "SOC overview");
    let widgets = default["widgets"].as_array().unwrap().clone();
    assert!(widgets.len() >= 10, "{default}");
    assert!(
        widgets
            .iter()
            .any(|w| w["chart"] == "line" && w["query"].as_str().unwrap().contains("timechart")),
        "{default}"
    );

    // tina saves it as her own dashboard.
    let (s, mine) = api.call(
        "POST",
        "/api/v1/dashboards",
        &tina,
        Some(&json!({ "name": "My SOC", "widgets": widgets })),
    );
    assert_eq!(s, 201, "{mine}");
    assert_eq!(
        (&mine["owner"], &mine["shared"], &mine["tenant"]),
        (&json!("tina"), &json!(false), &json!("acme"))
    );
    let id = mine["id"].as_str().unwrap().to_owned();
    // ... but may not share one.
    let (s, b) = api.call(
        "POST",
        "/api/v1/dashboards",
        &tina,
        Some(&json!({ "name": "Team", "shared": true, "widgets": widgets })),
    );
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (403, Some("forbidden")),
        "{b}"
    );
    // A read-only user reads, never writes.
    let (s, b) = api.call(
        "POST",
        "/api/v1/dashboards",
        &rory,
        Some(&json!({ "name": "Mine", "widgets": widgets })),
    );
    assert_eq!(s, 403, "{b}");

    // Move, resize, remove, add, rename: read back exactly.
    let mut next = widgets.clone();
    next.swap(0, 2);
    next[0]["width"] = json!(12);
    next[0]["height"] = json!(3);
    next.pop();
    next.push(json!({ "id": "sudo", "title": "sudo by user", "query": "process.name:sudo | top 5 user.name", "chart": "bar", "width": 6, "field": "user.name" }));
    let (s, b) = api.call(
        "PUT",
        &format!("/api/v1/dashboards/{id}"),
        &tina,
        Some(&json!({ "name": "Night shift", "widgets": next })),
    );
    assert_eq!(s, 200, "{b}");
    let (s, got) = api.call("GET", &format!("/api/v1/dashboards/{id}"), &tina, None);
    assert_eq!(s, 200, "{got}");
    assert_eq!(got["name"], "Night shift");
    let got_widgets = got["widgets"].as_array().unwrap();
    assert_eq!(got_widgets.len(), next.len());
    assert_eq!(got_widgets[0]["id"], widgets[2]["id"]);
    assert_eq!(
        (
            got_widgets[0]["width"].as_u64(),
            got_widgets[0]["height"].as_u64()
        ),
        (Some(12), Some(3))
    );
    assert_eq!(
        got_widgets.last().unwrap()["height"],
        2,
        "the default height"
    );
    // Sharing her own needs dashboards.share.
    let (s, b) = api.call(
        "PUT",
        &format!("/api/v1/dashboards/{id}"),
        &tina,
        Some(&json!({ "name": "Night shift", "shared": true, "widgets": next })),
    );
    assert_eq!(s, 403, "{b}");

    // Every problem of a layout, with its path; a query that does not parse too.
    let mut bad = next.clone();
    bad[0]["width"] = json!(13);
    bad[1]["query"] = json!("| top");
    bad[2]["id"] = bad[3]["id"].clone();
    let (s, b) = api.call(
        "PUT",
        &format!("/api/v1/dashboards/{id}"),
        &tina,
        Some(&json!({ "name": "Night shift", "widgets": bad })),
    );
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (400, Some("invalid")),
        "{b}"
    );
    let msg = b["error"]["message"].as_str().unwrap();
    for p in ["widgets[0].width", "widgets[1].query", "widgets[3].id"] {
        assert!(msg.contains(p), "{p} in {msg}");
    }
    let (s, b) = api.call(
        "POST",
        "/api/v1/dashboards",
        &tina,
        Some(&json!({ "name": "x", "widgets": [{ "id": "a", "title": "A", "chart": "donut", "width": 4 }] })),
    );
    assert_eq!(s, 400, "an unknown chart type: {b}");
    let (s, _) = api.call("GET", &format!("/api/v1/dashboards/{id}"), &tina, None);
    assert_eq!(s, 200, "a refused change leaves the dashboard");

    // A tenant administrator shares one; the analysts see it, only administrators change it.
    let (s, team) = api.call(
        "POST",
        "/api/v1/dashboards",
        &ada,
        Some(&json!({ "name": "Team", "shared": true, "widgets": widgets })),
    );
    assert_eq!(s, 201, "{team}");
    let team_id = team["id"].as_str().unwrap().to_owned();
    let (_, l) = api.call("GET", "/api/v1/dashboards", &tina, None);
    assert_eq!(names(&l), ["Night shift", "Team"]);
    let (_, l) = api.call("GET", "/api/v1/dashboards", &rory, None);
    assert_eq!(names(&l), ["Team"], "tina's private dashboard is hers");
    let (s, _) = api.call("GET", &format!("/api/v1/dashboards/{id}"), &ada, None);
    assert_eq!(s, 404, "another user's private dashboard is not found");
    let (s, b) = api.call(
        "PUT",
        &format!("/api/v1/dashboards/{team_id}"),
        &tina,
        Some(&json!({ "name": "Mine now", "shared": false, "widgets": widgets })),
    );
    assert_eq!(s, 403, "{b}");
    let (s, b) = api.call(
        "DELETE",
        &format!("/api/v1/dashboards/{team_id}"),
        &tina,
        None,
    );
    assert_eq!(s, 403, "{b}");
    let (s, b) = api.call(
        "PUT",
        &format!("/api/v1/dashboards/{team_id}"),
        &ada,
        Some(&json!({ "name": "Team", "shared": true, "widgets": next })),
    );
    assert_eq!(s, 200, "{b}");

    // Another tenant's analyst sees none of it.
    let (_, l) = api.call("GET", "/api/v1/dashboards", &gil, None);
    assert_eq!(l, json!([]));
    for d in [&id, &team_id] {
        let (s, _) = api.call("GET", &format!("/api/v1/dashboards/{d}"), &gil, None);
        assert_eq!(s, 404);
        let (s, _) = api.call("DELETE", &format!("/api/v1/dashboards/{d}"), &gil, None);
        assert_eq!(s, 404);
    }
    let (s, b) = api.call("GET", "/api/v1/dashboards?tenant=acme", &gil, None);
    assert_eq!(s, 403, "{b}");

    // tina deletes hers; ada the shared one.
    let (s, _) = api.call("DELETE", &format!("/api/v1/dashboards/{id}"), &tina, None);
    assert_eq!(s, 204);
    let (s, _) = api.call("GET", &format!("/api/v1/dashboards/{id}"), &tina, None);
    assert_eq!(s, 404);
    let (s, _) = api.call(
        "DELETE",
        &format!("/api/v1/dashboards/{team_id}"),
        &ada,
        None,
    );
    assert_eq!(s, 204);

    // Each change is in the audit trail.
    let (s, b) = api.call(
        "GET",
        "/api/v1/audit?tenant=acme&action=dashboard.",
        &admin,
        None,
    );
    assert_eq!(s, 200, "{b}");
    let mut actions: Vec<String> = b["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            format!(
                "{} {}",
                r["actor"].as_str().unwrap(),
                r["action"].as_str().unwrap()
            )
        })
        .collect();
    actions.sort();
    assert_eq!(
        actions,
        [
            "ada dashboard.create",
            "ada dashboard.delete",
            "ada dashboard.update",
            "tina dashboard.create",
            "tina dashboard.delete",
            "tina dashboard.update",
        ]
    );
}

#[test]
fn dashboards_on_sqlite() {
    let dir = tmp();
    let v = Vigil::start(&dir.path().join("data"), None);
    scenario(&v);
    v.stop();
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

fn postgres_config(dir: &Path, db: &str) -> std::path::PathBuf {
    std::fs::write(
        dir.join("meta-url"),
        format!("postgres://postgres@127.0.0.1:5432/{db}\n"),
    )
    .unwrap();
    let cfg = dir.join("vigil.yaml");
    std::fs::write(
        &cfg,
        format!(
            "version: 1\ncollectors:\n  - id: main-syslog\n    tenant: main\n    connector: {{ type: syslog, tcp: 127.0.0.1:{} }}\nmeta: {{ type: postgres, url: \"${{file:meta-url}}\" }}\n",
            support::free_port()
        ),
    )
    .unwrap();
    cfg
}

#[test]
fn dashboards_on_postgres() {
    if psql("select 1").is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "PostgreSQL on 127.0.0.1:5432 is required in CI"
        );
        eprintln!("SKIPPED: no PostgreSQL on 127.0.0.1:5432");
        return;
    }
    let db = format!(
        "vigil_dash_{}_{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    psql(&format!("CREATE DATABASE {db}")).unwrap();
    let dir = tmp();
    let cfg = postgres_config(dir.path(), &db);
    let v = Vigil::start(&dir.path().join("data"), Some(&cfg));
    scenario(&v);
    v.stop();
    let _ = psql(&format!("DROP DATABASE {db} WITH (FORCE)"));
}

/// Storage spaces: listed per tenant with settings and usage, retention changed by an
/// administrator only, in force for searches at once, kept across a restart, set back to the
/// configuration's, and audited.
#[test]
fn storage_spaces_list_and_retention_changes() {
    let dir = tmp();
    let cfg = dir.path().join("vigil.yaml");
    std::fs::write(
        &cfg,
        format!(
            "version: 1
collectors:
  - id: main-syslog
    tenant: main
    connector: {{ type: syslog, tcp: 127.0.0.1:{} }}
storage:
  tenants:
    acme:
      retention: 30d
      spaces:
        - {{ name: fw, condition: 'observer.type = \"firewall\"', retention: 7d }}
",
            support::free_port()
        ),
    )
    .unwrap();
    let data = dir.path().join("data");
    let v = Vigil::start(&data, Some(&cfg));
    let api = Api::new(&v);
    let admin = Auth::Bearer(v.token.clone());
    let (s, b) = api.call(
        "POST",
        "/api/v1/tenants",
        &admin,
        Some(&json!({ "id": "acme", "name": "Acme" })),
    );
    assert_eq!(s, 201, "{b}");
    let pw = "Turquoise-Lantern-Harbor-71";
    for (user, role) in [("ada", "tenant_administrator"), ("tina", "tier1_analyst")] {
        let (s, b) = api.call(
            "POST",
            "/api/v1/users",
            &admin,
            Some(&json!({ "username": user, "password": pw, "roles": [{ "tenant": "acme", "role": role }] })),
        );
        assert_eq!(s, 201, "{b}");
    }
    let ada = api.login("ada", pw);
    let tina = api.login("tina", pw);

    let (s, b) = api.call("GET", "/api/v1/storage/spaces?tenant=acme", &ada, None);
    assert_eq!(s, 200, "{b}");
    let spaces = b.as_array().unwrap();
    assert_eq!(
        spaces
            .iter()
            .map(|x| x["name"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["default", "fw"]
    );
    assert_eq!(
        (
            &spaces[0]["retention"],
            &spaces[1]["retention"],
            &spaces[1]["retention_overridden"]
        ),
        (&json!("30d"), &json!("7d"), &json!(false))
    );
    assert_eq!(spaces[1]["condition"], "observer.type = \"firewall\"");
    // a tier-1 analyst does not see storage; a tenant administrator may not change it
    let (s, _) = api.call("GET", "/api/v1/storage/spaces", &tina, None);
    assert_eq!(s, 403);
    let body = json!({ "retention": "90d" });
    let (s, b) = api.call(
        "PUT",
        "/api/v1/storage/spaces/acme/fw/retention",
        &ada,
        Some(&body),
    );
    assert_eq!(s, 403, "{b}");
    // bad values and unknown spaces
    for (path, bad, code) in [
        (
            "/api/v1/storage/spaces/acme/fw/retention",
            json!({ "retention": "soon" }),
            400,
        ),
        (
            "/api/v1/storage/spaces/acme/fw/retention",
            json!({ "retention": "10s" }),
            400,
        ),
        (
            "/api/v1/storage/spaces/acme/nope/retention",
            json!({ "retention": "1d" }),
            404,
        ),
        (
            "/api/v1/storage/spaces/acme/fw/retention",
            json!({ "days": 3 }),
            400,
        ),
    ] {
        let (s, b) = api.call("PUT", path, &admin, Some(&bad));
        assert_eq!(s, code, "{bad}: {b}");
    }
    // the administrator sets it ...
    let (s, b) = api.call(
        "PUT",
        "/api/v1/storage/spaces/acme/fw/retention",
        &admin,
        Some(&body),
    );
    assert_eq!(s, 200, "{b}");
    assert_eq!(
        (
            &b["retention"],
            &b["retention_secs"],
            &b["configured_retention_secs"],
            &b["retention_overridden"]
        ),
        (
            &json!("90d"),
            &json!(90 * 86_400),
            &json!(7 * 86_400),
            &json!(true)
        )
    );
    let (s, b) = api.call(
        "PUT",
        "/api/v1/storage/spaces/acme/default/retention",
        &admin,
        Some(&json!({ "retention": "forever" })),
    );
    assert_eq!((s, &b["retention"]), (200, &json!("forever")), "{b}");
    // ... it outlives a restart ...
    v.stop();
    let v = Vigil::start(&data, Some(&cfg));
    let api = Api::new(&v);
    let admin = Auth::Bearer(v.token.clone());
    let (_, b) = api.call("GET", "/api/v1/storage/spaces?tenant=acme", &admin, None);
    assert_eq!(
        (&b[0]["retention"], &b[1]["retention"]),
        (&json!("forever"), &json!("90d")),
        "{b}"
    );
    // ... until set back to the configuration's
    let (s, b) = api.call(
        "PUT",
        "/api/v1/storage/spaces/acme/fw/retention",
        &admin,
        Some(&json!({ "retention": null })),
    );
    assert_eq!(s, 200, "{b}");
    assert_eq!(
        (&b["retention"], &b["retention_overridden"]),
        (&json!("7d"), &json!(false))
    );
    // every change is in the tenant's trail and the store's audit log
    let (s, b) = api.call(
        "GET",
        "/api/v1/audit?tenant=acme&action=storage.retention.set",
        &admin,
        None,
    );
    assert_eq!(s, 200, "{b}");
    let items = b["items"].as_array().unwrap();
    assert_eq!(items.len(), 3, "{b}");
    assert!(
        items
            .iter()
            .any(|r| r["details"]["from"] == "7d" && r["details"]["to"] == "90d"),
        "{b}"
    );
    let log = std::fs::read_to_string(data.join("audit/audit.log")).unwrap();
    assert_eq!(log.matches("storage.retention.set").count(), 3, "{log}");
    v.stop();
}
