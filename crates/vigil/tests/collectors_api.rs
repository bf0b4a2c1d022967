//! The collectors API over HTTP against a real `vigil up --config FILE` (issue 15, point 7):
//! the configuration's collectors are listed per tenant with their secrets masked; an edit is
//! validated against the whole file with every problem at its path and line; a save keeps the
//! stored secret when the mask comes back, rewrites the file, is audited, and runs after a
//! restart; normalizers loaded from files are listed and tried by name. Tier-1 analysts and
//! administrators of other tenants are refused (403); no answer ever holds a secret.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::disallowed_methods,
    clippy::panic
)]

mod support;

use serde_json::{Value, json};
use support::api::{Api, Auth};
use support::{Vigil, free_port, tmp};

const SECRET: &str = "acme-literal-token-7f3a9c21";

/// The shared client, keeping every answer's body to check that no secret was ever answered.
struct Recorder {
    api: Api,
    seen: std::cell::RefCell<String>,
}

impl Recorder {
    fn new(v: &Vigil) -> Recorder {
        Recorder {
            api: Api::new(v),
            seen: Default::default(),
        }
    }

    fn call(&self, method: &str, path: &str, auth: &Auth, body: Option<&Value>) -> (u16, Value) {
        let (s, b) = self.api.call(method, path, auth, body);
        self.seen.borrow_mut().push_str(&b.to_string());
        (s, b)
    }
}

const NORMALIZER: &str = "name: acme-kv
product: Acme appliance
parser: {type: kv}
mapping:
  - {from: user, to: user.name}
";

fn edited(web_port: u16, max_connections: &str) -> String {
    format!(
        "id: web\ntenant: acme\nconnector:\n  type: http\n  listen: 127.0.0.1:{web_port}\n  tokens:\n  - '********'\n  - ${{file:hec.token}}\n  max_connections: {max_connections}\nnormalizer:\n  type: file\n  path: acme-kv.yaml\n"
    )
}

#[test]
fn collectors_are_listed_validated_and_saved_with_secrets_masked_and_scope_checks() {
    let dir = tmp();
    let data = dir.path().join("data");
    let web_port = free_port();
    std::fs::write(dir.path().join("acme-kv.yaml"), NORMALIZER).unwrap();
    std::fs::write(dir.path().join("hec.token"), "file-token-0123456789\n").unwrap();
    let file = dir.path().join("vigil.yaml");
    let secret = SECRET;
    std::fs::write(
        &file,
        format!(
            "version: 1
collectors:
  - id: syslog
    connector: {{type: syslog, udp: 127.0.0.1:5514, tcp: 127.0.0.1:5514}}
    normalizer: {{type: auto}}
  - id: web
    tenant: acme
    connector:
      type: http
      listen: 127.0.0.1:{web_port}
      tokens: [{secret}, '${{file:hec.token}}']
    normalizer: {{type: file, path: acme-kv.yaml}}
"
        ),
    )
    .unwrap();
    let v = Vigil::start(&data, Some(&file));
    let api = Recorder::new(&v);
    let t = &Auth::bearer(&v.token);

    let (s, doc) = api.call("GET", "/api/v1/openapi.json", t, None);
    assert_eq!(s, 200);
    for p in [
        "/api/v1/collectors",
        "/api/v1/collectors/validate",
        "/api/v1/collectors/{id}",
    ] {
        assert!(doc["paths"][p].is_object(), "{p} missing from the document");
    }
    let (s, _) = api.call("GET", "/api/v1/collectors", &Auth::None, None);
    assert_eq!(s, 401);

    // the administrator sees both collectors, the token masked, the reference as written
    let (s, b) = api.call("GET", "/api/v1/collectors", t, None);
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["editable"], true, "{b}");
    assert_eq!(b["restart_pending"], false, "{b}");
    assert!(b["config_file"].as_str().unwrap().ends_with("vigil.yaml"));
    assert!(b["takes_effect"].as_str().unwrap().contains("restart"));
    let cs = b["collectors"].as_array().unwrap();
    assert_eq!(cs.len(), 2, "{b}");
    let web = cs.iter().find(|c| c["id"] == "web").unwrap();
    assert_eq!(web["tenant"], "acme");
    assert_eq!(web["connector"], "http");
    assert_eq!(web["normalizer"], "file");
    assert_eq!(web["options"]["tokens"][0], "********", "{web}");
    assert_eq!(web["options"]["tokens"][1], "${file:hec.token}", "{web}");
    assert!(
        web["yaml"].as_str().unwrap().contains("'********'"),
        "{web}"
    );

    // the file normalizer is listed with its collector and tried by name
    let (s, b) = api.call("GET", "/api/v1/normalizers", t, None);
    assert_eq!(s, 200, "{b}");
    let n = b
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == "acme-kv")
        .unwrap_or_else(|| panic!("acme-kv not listed: {b}"));
    assert_eq!(n["source"], "file");
    assert_eq!(n["collectors"], json!(["web"]));
    assert_eq!(n["product"], "Acme appliance");
    assert!(n["file"].as_str().unwrap().ends_with("acme-kv.yaml"));
    let (s, b) = api.call(
        "POST",
        "/api/v1/normalizers/try",
        t,
        Some(&json!({"normalizer": "acme-kv", "lines": ["user=alice"]})),
    );
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["results"][0]["event"]["user"]["name"], "alice", "{b}");

    // validation: every problem at its path and line
    let (s, b) = api.call(
        "POST",
        "/api/v1/collectors/validate",
        t,
        Some(&json!({"id": "web", "yaml": edited(web_port, "lots")})),
    );
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["valid"], false, "{b}");
    let p = &b["problems"][0];
    assert_eq!(p["path"], "connector.max_connections", "{b}");
    assert_eq!(p["line"], 9, "{b}");
    let bad_pack = edited(web_port, "64").replace(
        "type: file\n  path: acme-kv.yaml",
        "type: pack\n  name: nosuchpack",
    );
    let (s, b) = api.call(
        "POST",
        "/api/v1/collectors/validate",
        t,
        Some(&json!({"id": "web", "yaml": bad_pack})),
    );
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["problems"][0]["path"], "normalizer", "{b}");
    assert!(
        b["problems"][0]["message"]
            .as_str()
            .unwrap()
            .contains("nosuchpack")
    );
    assert_eq!(b["problems"][0]["line"], 10, "{b}");
    // a duplicate id is caught against the rest of the file
    let dup = edited(web_port, "64").replace("id: web", "id: syslog");
    let (_, b) = api.call(
        "POST",
        "/api/v1/collectors/validate",
        t,
        Some(&json!({"id": "web", "yaml": dup})),
    );
    assert_eq!(b["valid"], false, "{b}");
    // a syntax error at its line
    let (_, b) = api.call(
        "POST",
        "/api/v1/collectors/validate",
        t,
        Some(&json!({"id": "web", "yaml": "id: web\nconnector: [\n"})),
    );
    assert_eq!(b["valid"], false, "{b}");
    assert!(b["problems"][0]["line"].as_u64().is_some(), "{b}");
    // a saved invalid edit is refused and the file is unchanged
    let before = std::fs::read_to_string(&file).unwrap();
    let (s, b) = api.call(
        "PUT",
        "/api/v1/collectors/web",
        t,
        Some(&json!({"yaml": edited(web_port, "lots")})),
    );
    assert_eq!(s, 400, "{b}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), before);

    // roles: a tier-1 analyst of acme reads but may not validate or save; an administrator
    // of acme edits acme's collector only
    let (s, b) = api.call(
        "POST",
        "/api/v1/tenants",
        t,
        Some(&json!({"id": "globex", "name": "Globex"})),
    );
    assert!(s == 201 || s == 409, "{b}");
    let pw = "Turquoise-Lantern-Harbor-71";
    for (user, role) in [("tia", "tier1_analyst"), ("ada", "tenant_administrator")] {
        let (s, b) = api.call(
            "POST",
            "/api/v1/users",
            t,
            Some(&json!({"username": user, "password": pw, "roles": [{"tenant": "acme", "role": role}]})),
        );
        assert_eq!(s, 201, "{b}");
    }
    let tia = &api.api.login("tia", pw);
    let (s, b) = api.call("GET", "/api/v1/collectors", tia, None);
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["collectors"].as_array().unwrap().len(), 1, "{b}");
    let (s, b) = api.call("GET", "/api/v1/collectors?tenant=main", tia, None);
    assert_eq!(s, 403, "{b}");
    let body = json!({"id": "web", "yaml": edited(web_port, "64")});
    let (s, b) = api.call("POST", "/api/v1/collectors/validate", tia, Some(&body));
    assert_eq!(s, 403, "{b}");
    let (s, b) = api.call(
        "PUT",
        "/api/v1/collectors/web",
        tia,
        Some(&json!({"yaml": edited(web_port, "64")})),
    );
    assert_eq!(s, 403, "{b}");
    let (s, b) = api.call("GET", "/api/v1/normalizers?tenant=acme", tia, None);
    assert_eq!(s, 200, "{b}");
    assert!(b.to_string().contains("acme-kv"));

    let ada = &api.api.login("ada", pw);
    let (s, b) = api.call("GET", "/api/v1/collectors", ada, None);
    assert_eq!(s, 200, "{b}");
    let ids: Vec<&str> = b["collectors"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["id"].as_str())
        .collect();
    assert_eq!(ids, ["web"]);
    // another tenant's collector, moving one to another tenant, deleting another's: 403
    let (s, b) = api.call(
        "PUT",
        "/api/v1/collectors/syslog",
        ada,
        Some(&json!({"yaml": "id: syslog\nconnector: {type: syslog, udp: 127.0.0.1:5514}\n"})),
    );
    assert_eq!(s, 403, "{b}");
    let moved = edited(web_port, "64").replace("tenant: acme", "tenant: globex");
    let (s, b) = api.call(
        "POST",
        "/api/v1/collectors/validate",
        ada,
        Some(&json!({"id": "web", "yaml": moved})),
    );
    assert_eq!(s, 403, "{b}");
    let (s, b) = api.call("DELETE", "/api/v1/collectors/syslog", ada, None);
    assert_eq!(s, 403, "{b}");
    // ... their own: saved, the masked token kept, audited
    let (s, b) = api.call(
        "PUT",
        "/api/v1/collectors/web",
        ada,
        Some(&json!({"yaml": edited(web_port, "64")})),
    );
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["restart_pending"], true);
    assert_eq!(b["collector"]["options"]["max_connections"], 64, "{b}");
    let saved = std::fs::read_to_string(&file).unwrap();
    assert!(
        saved.contains(SECRET),
        "the stored token was lost:\n{saved}"
    );
    assert!(saved.contains("max_connections: 64"), "{saved}");
    assert!(
        std::fs::read_to_string(format!("{}.previous", file.display()))
            .unwrap()
            .contains(SECRET)
    );
    let (_, b) = api.call("GET", "/api/v1/collectors", t, None);
    assert_eq!(b["restart_pending"], true, "{b}");
    let (s, b) = api.call("GET", "/api/v1/audit?tenant=acme", t, None);
    assert_eq!(s, 200, "{b}");
    assert!(b.to_string().contains("collector.update"), "{b}");

    // no answer held a secret
    let seen = api.seen.borrow().clone();
    assert!(!seen.contains(SECRET), "a secret was answered");
    assert!(!seen.contains("file-token-0123456789"));
    v.stop();

    // the saved file runs after a restart
    let v = Vigil::start(&data, Some(&file));
    let api = Api::new(&v);
    let (s, b) = api.call("GET", "/api/v1/collectors", &Auth::bearer(&v.token), None);
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["restart_pending"], false, "{b}");
    v.stop();
}
