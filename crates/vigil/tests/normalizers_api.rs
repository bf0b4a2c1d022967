//! The normalizers API over HTTP against a real `vigil up` (issue 15, point 7): the shipped
//! packs are listed with their definitions; "try this normalizer on a sample" answers the
//! parsed events of a pack or of a definition sent in the request, with the reason of each
//! line that does not parse; a definition that does not validate is answered with every
//! problem and its path; bad requests are 400; no credentials is 401; a caller asking for a
//! tenant it has no role in is 403.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::disallowed_methods,
    clippy::panic
)]

mod support;

use serde_json::json;
use support::api::{Api, Auth};
use support::{Vigil, tmp};

const SSHD: &str =
    "<38>Dec  7 10:01:02 web1 sshd[42]: Failed password for root from 203.0.113.7 port 4242 ssh2";

const DEFINITION: &str = "name: try-kv
product: a test
parser: {type: kv}
mapping:
  - {from: user, to: user.name}
  - {from: src, to: source.ip}
set: {event.kind: event}
";

#[test]
fn normalizers_are_listed_and_tried_on_samples_with_scope_checks() {
    let dir = tmp();
    let data = dir.path().join("data");
    let v = Vigil::start(&data, None);
    let api = Api::new(&v);
    let t = &Auth::Bearer(v.token.clone());

    // the document lists the routes
    let (s, doc) = api.call("GET", "/api/v1/openapi.json", t, None);
    assert_eq!(s, 200);
    for p in ["/api/v1/normalizers", "/api/v1/normalizers/try"] {
        assert!(doc["paths"][p].is_object(), "{p} missing from the document");
    }
    assert!(doc["components"]["schemas"]["TryResponse"].is_object());

    // no credentials: 401
    let anon = reqwest::blocking::get(format!("{}/api/v1/normalizers", api.base)).unwrap();
    assert_eq!(anon.status().as_u16(), 401);

    // the shipped packs, with their definitions
    let (s, b) = api.call("GET", "/api/v1/normalizers", t, None);
    assert_eq!(s, 200, "{b}");
    let packs = b.as_array().unwrap();
    let sshd = packs.iter().find(|p| p["name"] == "sshd").expect("sshd");
    assert_eq!(sshd["pack"], "sshd");
    assert!(sshd["definition"].as_str().unwrap().contains("name: sshd"));
    assert!(packs.len() >= 20, "{} packs", packs.len());

    // a pack on a sample: one line parses, one does not (and says why, keeping the line)
    let (s, b) = api.call(
        "POST",
        "/api/v1/normalizers/try",
        t,
        Some(&json!({"normalizer": "linux", "lines": [SSHD, "\u{1}garbage that is no syslog"]})),
    );
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["valid"], true, "{b}");
    assert_eq!(b["normalizer"], "linux", "{b}");
    let ok = &b["results"][0];
    assert_eq!(ok["parsed"], true, "{b}");
    assert_eq!(ok["event"]["source"]["ip"], "203.0.113.7", "{b}");
    assert_eq!(ok["event"]["host"]["name"], "web1", "{b}");
    assert_eq!(b["results"].as_array().unwrap().len(), 2);

    // a definition sent in the request
    let (s, b) = api.call(
        "POST",
        "/api/v1/normalizers/try",
        t,
        Some(&json!({"definition": DEFINITION, "lines": ["user=alice src=198.51.100.9"]})),
    );
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["normalizer"], "try-kv");
    assert_eq!(b["parsed"], 1, "{b}");
    assert_eq!(b["results"][0]["event"]["user"]["name"], "alice", "{b}");
    assert_eq!(b["results"][0]["event"]["source"]["ip"], "198.51.100.9");

    // validation only: every problem with its path
    let broken = DEFINITION.replace("type: kv", "type: nosuchparser");
    let (s, b) = api.call(
        "POST",
        "/api/v1/normalizers/try",
        t,
        Some(&json!({"definition": broken})),
    );
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["valid"], false, "{b}");
    let e = &b["errors"][0];
    assert!(e["path"].as_str().unwrap().contains("parser"), "{b}");
    assert!(
        e["message"].as_str().unwrap().contains("nosuchparser"),
        "{b}"
    );
    assert!(b["results"].as_array().unwrap().is_empty());

    // bad requests
    for (body, want) in [
        (json!({"lines": [SSHD]}), "one of them"),
        (
            json!({"normalizer": "sshd", "definition": DEFINITION}),
            "one of them",
        ),
        (
            json!({"normalizer": "nosuchpack", "lines": []}),
            "nosuchpack",
        ),
        (
            json!({"normalizer": "sshd", "lines": vec!["x"; 201]}),
            "at most 200",
        ),
        (
            json!({"normalizer": "sshd", "lines": ["x".repeat(70_000)]}),
            "lines[0]",
        ),
        (
            json!({"normalizer": "sshd", "lines": [], "timezone": "Mars/Olympus"}),
            "Mars/Olympus",
        ),
        (json!({"normalizer": "sshd", "bogus": 1}), "bogus"),
    ] {
        let (s, b) = api.call("POST", "/api/v1/normalizers/try", t, Some(&body));
        assert_eq!(s, 400, "{body}: {b}");
        assert!(b.to_string().contains(want), "{body}: {b}");
    }

    // scoped: an analyst of one tenant may not name another
    let (s, b) = api.call(
        "POST",
        "/api/v1/tenants",
        t,
        Some(&json!({"id": "acme", "name": "Acme"})),
    );
    assert_eq!(s, 201, "{b}");
    let pw = "Turquoise-Lantern-Harbor-71";
    let (s, b) = api.call(
        "POST",
        "/api/v1/users",
        t,
        Some(&json!({"username": "ana", "password": pw, "roles": [{"tenant": "acme", "role": "tier1_analyst"}]})),
    );
    assert_eq!(s, 201, "{b}");
    let ana = &api.login("ana", pw);
    let (s, b) = api.call("GET", "/api/v1/normalizers?tenant=acme", ana, None);
    assert_eq!(s, 200, "{b}");
    let (s, b) = api.call("GET", "/api/v1/normalizers?tenant=main", ana, None);
    assert_eq!(s, 403, "{b}");
    let (s, b) = api.call(
        "POST",
        "/api/v1/normalizers/try",
        ana,
        Some(&json!({"tenant": "main", "normalizer": "sshd", "lines": [SSHD]})),
    );
    assert_eq!(s, 403, "{b}");
    let (s, b) = api.call(
        "POST",
        "/api/v1/normalizers/try",
        ana,
        Some(&json!({"normalizer": "linux", "lines": [SSHD]})),
    );
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["parsed"], 1, "{b}");
    v.stop();
}
