//! Detection as code and operations on the correlator, through the binary: `vigil rules test`
//! runs every correlation rule's tests; `vigil retroscan` replays a stored range through
//! candidate rules and diffs against the live ones; on a running `vigil up`, the correlation
//! API and `vigil explain` explain rules, groups and correlation events, `vigil list` and
//! `/api/v1/lists` read and write active lists and context tables, and a change of the rule
//! files (or SIGHUP, or the API) reloads the rules keeping the state of unchanged ones.
//! Real processes, real HTTP; waits are bounded polls, no timing assertions.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)]

mod support;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{Vigil, http_get, http_post, tmp, vigil};

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn rules_test_runs_every_correlation_rule_of_the_shipped_pack() {
    let out = vigil()
        .args(["rules", "test"])
        .arg(repo().join("rules/correlation"))
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    // one line per rule
    for id in [
        "ssh-brute-force",
        "port-scan",
        "uid0-account-created",
        "beaconing",
    ] {
        assert!(
            stdout.contains(&format!("ok   correlation {id}: ")),
            "{id} missing:\n{stdout}"
        );
    }
    let oks = stdout
        .lines()
        .filter(|l| l.starts_with("ok   correlation "))
        .count();
    assert!(oks >= 60, "{oks} rules reported");
    assert!(stdout.trim_end().ends_with(" 0 failed"), "{stdout}");
    assert!(stderr.contains("correlation rules from"), "{stderr}");
}

#[test]
fn rules_test_fails_on_a_failing_correlation_test_and_a_broken_rule() {
    let dir = tmp();
    std::fs::write(
        dir.path().join("mine.yaml"),
        r#"
rules:
  - id: three-failures
    name: Three failures
    kind: standard
    severity: low
    window: 60s
    group_by: [source.ip]
    selectors:
      - {name: failure, query: 'event.outcome:failure', threshold: 3}
    tests:
      - name: three fire
        events: [{repeat: 3, event.outcome: failure, source.ip: 192.0.2.1}]
        expect: {fires: 1}
      - name: wrongly expects two to fire
        events: [{repeat: 2, event.outcome: failure, source.ip: 192.0.2.1}]
        expect: {fires: 1}
  - id: broken
    name: Broken
    kind: standard
    window: soon
    selectors: []
"#,
    )
    .unwrap();
    let out = vigil()
        .args(["rules", "test"])
        .arg(dir.path())
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(
        stdout.contains(
            "FAIL correlation three-failures: test 'wrongly expects two to fire': fired 0 time(s), expected 1"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("FAIL correlation ") && stdout.contains("mine.yaml"),
        "{stdout}"
    );
    assert!(
        stdout.contains("rules[1]"),
        "the broken rule's path: {stdout}"
    );
    assert!(stdout.contains("1 passed, 4 failed"), "{stdout}");
}

/// A store in `data` holding `tenant`'s SSH failures: `n` per source, one per second.
fn store_failures(data: &Path, tenant: &str, sources: &[(&str, usize)]) {
    use vigil_event::{Event, Timestamp, Value as V};
    use vigil_store::EventStore;
    let store = vigil_store::embedded::EmbeddedStore::open(
        vigil_store::embedded::EmbeddedConfig::new(data),
    )
    .unwrap();
    let t = vigil_store::TenantId::new(tenant).unwrap();
    let mut events = Vec::new();
    let base = Timestamp::parse("2026-11-22T07:00:00Z").unwrap().millis();
    for (k, (ip, n)) in sources.iter().enumerate() {
        for i in 0..*n {
            let ts = Timestamp::from_millis(base + (k as i64) * 600_000 + (i as i64) * 1000);
            let mut e = Event::new(vigil_event::Bytes::from(format!(
                "Failed password for root from {ip}"
            )));
            e.timestamp = ts;
            e.meta.id = vigil_event::new_event_id(ts);
            e.meta.tenant = tenant.into();
            for (f, v) in [
                ("event.module", "sshd"),
                ("event.action", "ssh_login"),
                ("event.outcome", "failure"),
                ("source.ip", ip),
                ("user.name", "root"),
            ] {
                e.set(f, V::from(v)).unwrap();
            }
            events.push(e);
        }
    }
    store.append(&t, &events).unwrap();
    store.flush(&t).unwrap();
    store.close().unwrap();
}

const RULE: &str = r#"
id: guessing
name: SSH guessing
kind: standard
severity: high
window: 60s
lateness: 0s
group_by: [source.ip]
selectors:
  - {name: failure, query: 'event.action:ssh_login AND event.outcome:failure', threshold: THRESHOLD}
"#;

#[test]
fn retroscan_reports_the_alerts_of_candidate_rules_and_the_diff_against_the_live_ones() {
    let dir = tmp();
    let data = dir.path().join("data");
    // three sources: 5, 3 and 2 failures within a minute each
    store_failures(
        &data,
        "main",
        &[("203.0.113.1", 5), ("203.0.113.2", 3), ("203.0.113.3", 2)],
    );
    store_failures(&data, "acme", &[("198.51.100.7", 4)]);
    let live = dir.path().join("live.yaml");
    std::fs::write(&live, RULE.replace("THRESHOLD", "5")).unwrap();
    let cand = dir.path().join("cand.yaml");
    std::fs::write(&cand, RULE.replace("THRESHOLD", "3")).unwrap();
    let out = vigil()
        .args(["retroscan", "--rules"])
        .arg(&cand)
        .arg("--live")
        .arg(&live)
        .arg("--data-dir")
        .arg(&data)
        .args([
            "--from",
            "2026-11-22T00:00:00Z",
            "--to",
            "2026-11-23T00:00:00Z",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    let v: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(v["events"], 14, "{v}");
    assert_eq!(v["tenants"], 2, "{v}");
    // live (5): 203.0.113.1 only; candidate (3): .1, .2 and acme's source
    assert_eq!(
        v["rules"],
        serde_json::json!([{"id": "guessing", "before": 1, "after": 3, "new": 2, "gone": 0}]),
        "{v}"
    );
    let alerts = v["alerts"].as_array().unwrap();
    assert_eq!(alerts.len(), 3);
    assert!(
        alerts
            .iter()
            .all(|a| a["rule"] == "guessing" && a["severity"] == "high")
    );
    let tenants: Vec<&str> = alerts
        .iter()
        .map(|a| a["tenant"].as_str().unwrap())
        .collect();
    assert_eq!(tenants.iter().filter(|t| **t == "acme").count(), 1, "{v}");

    // a range without the attacks: nothing; the table names the columns
    let out = vigil()
        .args(["retroscan", "--rules"])
        .arg(&cand)
        .arg("--live")
        .arg(&live)
        .arg("--data-dir")
        .arg(&data)
        .args([
            "--from",
            "2026-11-23T00:00:00Z",
            "--to",
            "2026-11-24T00:00:00Z",
        ])
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(
        stdout.starts_with("0 events replayed from 2 tenant(s)"),
        "{stdout}"
    );

    // one tenant, no diff
    let out = vigil()
        .args(["retroscan", "--no-diff", "--tenant", "acme", "--rules"])
        .arg(&cand)
        .arg("--data-dir")
        .arg(&data)
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("RULE") && stdout.contains("ALERTS"),
        "{stdout}"
    );
    assert!(
        stdout.contains("guessing") && stdout.contains("198.51.100.7"),
        "{stdout}"
    );

    // a broken candidate: every problem, exit 2, nothing replayed
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, RULE.replace("THRESHOLD", "many")).unwrap();
    let out = vigil()
        .args(["retroscan", "--rules"])
        .arg(&bad)
        .arg("--data-dir")
        .arg(&data)
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("--rules: ") && stderr.contains("bad.yaml"),
        "{stderr}"
    );

    // --help says what it does
    let out = vigil().args(["retroscan", "--help"]).output().unwrap();
    let (stdout, _) = text(&out);
    assert!(
        stdout.contains("--rules") && stdout.contains("--live") && stdout.contains("Examples"),
        "{stdout}"
    );
}

fn request(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    ctype: &str,
    body: &str,
) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: x\r\n{auth}Content-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).unwrap();
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

fn get(v: &Vigil, path: &str) -> Value {
    let (status, body) = http_get(v.http, path, Some(&v.token)).unwrap();
    assert_eq!(status, 200, "GET {path}: {body}");
    serde_json::from_str(&body).unwrap()
}

fn cli(v: &Vigil, args: &[&str]) -> (i32, String, String) {
    let out = vigil()
        .args(args)
        .arg("--data-dir")
        .arg(&v.data)
        .output()
        .unwrap();
    let (o, e) = text(&out);
    (out.status.code().unwrap_or(-1), o, e)
}

fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !f() {
        assert!(Instant::now() < deadline, "waited 60 s for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

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
  - id: root-login
    name: Root login
    kind: standard
    severity: low
    window: 10m
    lateness: 0s
    group_by: [source.ip]
    selectors:
      - {name: failure, query: 'event.action:ssh_login AND event.outcome:failure', threshold: 3}
active_lists:
  - name: blocked_ips
    key: [ip]
context_tables:
  - name: owners
    key: [host, app]
    columns: {host: string, app: string, owner: string, criticality: integer}
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

#[test]
fn explain_lists_and_reload_on_a_running_instance() {
    let dir = tmp();
    let rules = dir.path().join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    std::fs::write(rules.join("pack.yaml"), PACK).unwrap();
    let cfg = dir.path().join("vigil.yaml");
    std::fs::write(
        &cfg,
        format!(
            "version: 1\ncollectors:\n  - id: s\n    connector: {{ type: syslog, tcp: 127.0.0.1:5999 }}\n    normalizer: {{ type: auto, timezone: UTC }}\ncorrelation:\n  rules: [{}]\n",
            rules.display()
        ),
    )
    .unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let v = Vigil::start(&data, Some(&cfg));

    // three failures from one source fire; two from another wait
    let mut lines = failures("203.0.113.45", 3);
    lines.extend(failures("198.51.100.9", 2));
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    v.send_tcp(&refs);
    assert_eq!(
        v.wait_count("vigil.type:correlation AND rule.id:guessing", 1),
        1
    );

    // the rules, with their counters
    let all = get(&v, "/api/v1/correlation/rules");
    let ids: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["guessing", "root-login"]);
    let r = get(&v, "/api/v1/correlation/rules/guessing");
    assert_eq!(r["counters"]["matched"], 5, "{r}");
    assert_eq!(r["counters"]["fired"], 1, "{r}");
    assert_eq!(r["open_buckets"], 2, "{r}");
    assert!(r["memory_bytes"].as_u64().unwrap() > 0, "{r}");
    assert!(r["tests_per_event"].as_f64().unwrap() > 0.0, "{r}");
    let (code, out, err) = cli(&v, &["explain", "rules"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("NS/EVENT") && out.contains("guessing"),
        "{out}"
    );
    let (code, out, err) = cli(&v, &["explain", "rule", "guessing"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("open buckets  2") && out.contains("fired"),
        "{out}"
    );

    // why didn't 198.51.100.9 fire
    let w = get(
        &v,
        "/api/v1/correlation/rules/guessing/why?group=198.51.100.9",
    );
    assert_eq!(w["open"], true, "{w}");
    assert_eq!(w["selectors"][0]["seen"], 2, "{w}");
    assert_eq!(w["selectors"][0]["threshold"], 3, "{w}");
    assert_eq!(w["group"]["source.ip"], "198.51.100.9", "{w}");
    assert!(w["summary"].as_str().unwrap().contains("2 of 3"), "{w}");
    let (code, out, err) = cli(
        &v,
        &["explain", "why", "guessing", "--group", "198.51.100.9"],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("failure: 2 of 3"), "{out}");
    let (status, body) = http_get(
        v.http,
        "/api/v1/correlation/rules/guessing/why?group=a,b",
        Some(&v.token),
    )
    .unwrap();
    assert_eq!(status, 400, "{body}");
    let (status, _) = http_get(v.http, "/api/v1/correlation/rules/nope", Some(&v.token)).unwrap();
    assert_eq!(status, 404);
    let (code, _, err) = cli(&v, &["explain", "rule", "nope"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("no running correlation rule 'nope'"), "{err}");

    // a correlation event: its base events and the selector each satisfied
    let found = v.search_range("vigil.type:correlation AND rule.id:guessing", None, None);
    let id = found["events"][0]["vigil"]["event_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let x = get(&v, &format!("/api/v1/correlation/events/{id}"));
    assert_eq!(x["rule"], "guessing", "{x}");
    assert_eq!(x["base_count"], 3, "{x}");
    let base = x["base"].as_array().unwrap();
    assert_eq!(base.len(), 3, "{x}");
    for b in base {
        assert_eq!(b["selector"], "failure", "{x}");
        assert_eq!(b["event"]["source"]["ip"], "203.0.113.45", "{x}");
    }
    let (code, out, err) = cli(&v, &["explain", "event", &id]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out.lines()
            .filter(|l| l.trim_start().starts_with("failure ") && l.contains("Failed password"))
            .count(),
        3,
        "{out}"
    );
    assert!(out.contains("guessing (3 base events)"), "{out}");
    let base_id = base[0]["id"].as_str().unwrap();
    let (status, _) = http_get(
        v.http,
        &format!("/api/v1/correlation/events/{base_id}"),
        Some(&v.token),
    )
    .unwrap();
    assert_eq!(status, 404, "a base event is not a correlation event");

    // lists: put, get, entries, delete, export, import; through the API and the CLI
    let (status, body) = request(
        v.http,
        "PUT",
        "/api/v1/lists/blocked_ips/entries/203.0.113.45",
        Some(&v.token),
        "application/json",
        r#"{"values": {"reason": "brute force"}, "ttl_seconds": 3600}"#,
    );
    assert_eq!(status, 200, "{body}");
    let e: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(e["values"]["reason"], "brute force");
    assert!(e["expires"].is_string(), "{e}");
    // `| lookup` in a search reads the live list
    let t = v.search_range(
        "event.action:ssh_login | lookup blocked_ips on source.ip | where blocked_ips.reason:\"brute force\" | count by source.ip",
        None,
        None,
    );
    assert_eq!(t["rows"], serde_json::json!([["203.0.113.45", 3]]), "{t}");
    let t = v.search_range(
        "event.action:ssh_login | lookup blocked_ips on source.ip",
        None,
        None,
    );
    let evs = t["events"].as_array().unwrap();
    assert_eq!(evs.len(), 5, "{t}");
    assert_eq!(
        evs.iter()
            .filter(|e| e["blocked_ips"]["reason"] == "brute force")
            .count(),
        3,
        "{t}"
    );
    let body =
        serde_json::json!({"q": "event.action:ssh_login | lookup nope on source.ip"}).to_string();
    let (status, text) = http_post(v.http, "/api/v1/search", &v.token, &body).unwrap();
    assert_eq!(status, 400, "{text}");
    assert!(
        text.contains("no active list or context table named 'nope'"),
        "{text}"
    );
    let lists = get(&v, "/api/v1/lists");
    let bl = lists
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["name"] == "blocked_ips")
        .unwrap()
        .clone();
    assert_eq!(bl["entries"], 1, "{lists}");
    assert_eq!(bl["kind"], "active_list");
    let (code, out, err) = cli(
        &v,
        &[
            "list",
            "put",
            "owners",
            "web01|shop",
            "--set",
            "owner=alice",
            "--set",
            "criticality=3",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("web01|shop") && out.contains("criticality=3"),
        "{out}"
    );
    let o = get(&v, "/api/v1/lists/owners/entries/web01%7Cshop");
    assert_eq!(o["values"]["criticality"], 3, "{o}");
    assert_eq!(o["key"], serde_json::json!(["web01", "shop"]));
    // a value that is not the column's type, an unknown column: 400
    let (status, body) = request(
        v.http,
        "PUT",
        "/api/v1/lists/owners/entries/web02%7Cshop",
        Some(&v.token),
        "application/json",
        r#"{"values": {"criticality": "very"}}"#,
    );
    assert_eq!(status, 400, "{body}");
    let (status, body) = request(
        v.http,
        "PUT",
        "/api/v1/lists/owners/entries/web02%7Cshop",
        Some(&v.token),
        "application/json",
        r#"{"values": {"colour": "red"}}"#,
    );
    assert_eq!(status, 400, "{body}");
    let (code, csv, err) = cli(&v, &["list", "export", "owners"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        csv.starts_with("host,app,criticality,owner,_expires\nweb01,shop,3,alice,"),
        "{csv}"
    );
    let file = dir.path().join("owners.csv");
    std::fs::write(
        &file,
        "host,app,owner,criticality\ndb01,erp,bob,5\ndb02,erp,carol,4\n",
    )
    .unwrap();
    let (code, out, err) = cli(&v, &["list", "import", "owners", file.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("2 entries written"), "{out}");
    let (code, out, err) = cli(&v, &["list", "entries", "owners"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.lines().count(), 3, "{out}");
    std::fs::write(&file, "host,owner\ndb03,dave\n").unwrap();
    let (code, _, err) = cli(&v, &["list", "import", "owners", file.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("line 1: key column 'app' missing"), "{err}");
    let (code, out, err) = cli(&v, &["list", "ls"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("owners") && out.contains("context_table"),
        "{out}"
    );
    let (code, _, err) = cli(&v, &["list", "delete", "blocked_ips", "203.0.113.45"]);
    assert_eq!(code, 0, "{err}");
    let (status, _) = http_get(
        v.http,
        "/api/v1/lists/blocked_ips/entries/203.0.113.45",
        Some(&v.token),
    )
    .unwrap();
    assert_eq!(status, 404);
    let (status, _) = http_get(v.http, "/api/v1/lists/nope/entries", Some(&v.token)).unwrap();
    assert_eq!(status, 404);
    // no credentials, no answer
    let (status, _) = http_get(v.http, "/api/v1/lists", None).unwrap();
    assert_eq!(status, 401);
    let (status, _) = http_get(v.http, "/api/v1/correlation/rules", None).unwrap();
    assert_eq!(status, 401);
    // the routes are in the OpenAPI document
    let doc = get(&v, "/api/v1/openapi.json");
    for p in [
        "/api/v1/lists",
        "/api/v1/lists/{name}/entries/{key}",
        "/api/v1/lists/{name}/import",
        "/api/v1/correlation/rules/{id}/why",
        "/api/v1/correlation/events/{id}",
        "/api/v1/correlation/reload",
    ] {
        assert!(doc["paths"].get(p).is_some(), "{p} not in the document");
    }

    // reload: `root-login` changes (new version), `guessing` does not
    std::fs::write(
        rules.join("pack.yaml"),
        PACK.replace("name: Root login", "name: Root login\n    version: 2"),
    )
    .unwrap();
    // the watcher reloads it within a few seconds: root-login's bucket is gone, guessing's stays
    wait_for("the rule files to be reloaded", || {
        get(&v, "/api/v1/correlation/rules/root-login")["version"] == 2
    });
    assert_eq!(
        get(&v, "/api/v1/correlation/rules/root-login")["open_buckets"],
        0
    );
    assert_eq!(
        get(&v, "/api/v1/correlation/rules/guessing")["open_buckets"],
        2
    );
    // the third failure of 198.51.100.9 fires the rule that kept its bucket only
    let third = failures("198.51.100.9", 3);
    v.send_tcp(&[third[2].as_str()]);
    assert_eq!(
        v.wait_count("vigil.type:correlation AND rule.id:guessing", 2),
        2
    );
    assert_eq!(v.count("vigil.type:correlation AND rule.id:root-login"), 1);
    // the API and the CLI reload on demand; nothing changed, everything kept
    let (status, body) = http_post(v.http, "/api/v1/correlation/reload", &v.token, "").unwrap();
    assert_eq!(status, 200, "{body}");
    let r: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (r["rules"].as_u64(), r["kept"].as_u64()),
        (Some(2), Some(2)),
        "{r}"
    );
    let (code, out, err) = cli(&v, &["rules", "reload"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("2 correlation rules running: 2 kept their state, 0 started clean"),
        "{out}"
    );
    // SIGHUP too (the log says so)
    std::process::Command::new("kill")
        .args(["-HUP", &v.child.id().to_string()])
        .status()
        .unwrap();
    let log = data.with_extension("log");
    wait_for("the SIGHUP reload", || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("SIGHUP: correlation rules reloaded")
    });
    // the lists survived the reloads
    let (code, out, _) = cli(&v, &["list", "entries", "owners"]);
    assert_eq!(code, 0);
    assert_eq!(out.lines().count(), 3, "{out}");
    v.stop();
}

/// `vigil rules test` without a path tests the pack embedded in the binary, from any working
/// directory: the same rules as the source tree's `rules/correlation/`.
#[test]
fn rules_test_without_a_path_runs_the_embedded_pack_anywhere() {
    let dir = tmp();
    let out = vigil()
        .args(["rules", "test"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    let embedded: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("ok   correlation "))
        .collect();
    let out = vigil()
        .args(["rules", "test"])
        .arg(repo().join("rules/correlation"))
        .output()
        .unwrap();
    let (from_tree, _) = text(&out);
    let tree: Vec<&str> = from_tree
        .lines()
        .filter(|l| l.starts_with("ok   correlation "))
        .collect();
    assert!(embedded.len() >= 60, "{stdout}");
    assert_eq!(embedded, tree);
}
