//! `vigil up --demo` as the README runs it (from the repository root, built-in configuration):
//! the demo's attacks go through the shipped correlation pack `rules/correlation/` and become
//! alerts in the metadata store, whose correlation events and base events are in the event
//! store. No timing assertions: waits are bounded polls.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)]

mod support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{free_port, http_get, tmp, up};

fn get(http: std::net::SocketAddr, path: &str, token: &str) -> Value {
    let (status, body) = http_get(http, path, Some(token)).expect("API answers");
    assert_eq!(status, 200, "GET {path}: {body}");
    serde_json::from_str(&body).expect("JSON")
}

fn search(http: std::net::SocketAddr, token: &str, q: &str) -> Vec<Value> {
    let mut enc = String::new();
    for b in q.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.".contains(&b) {
            enc.push(b as char);
        } else {
            enc.push_str(&format!("%{b:02X}"));
        }
    }
    let v = get(http, &format!("/api/v1/search?q={enc}&limit=100"), token);
    v["events"].as_array().cloned().unwrap_or_default()
}

#[test]
fn demo_raises_alerts_from_the_correlation_pack() {
    let dir = tmp();
    let data = dir.path().join("data");
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    assert!(repo.join("rules/correlation").is_dir());
    let syslog = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let http = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let log = dir.path().join("vigil.log");
    let mut child = up(&data, None, syslog, http)
        .arg("--demo")
        .current_dir(&repo)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !http_get(http, "/health", None).is_ok_and(|(s, _)| s == 200) {
        assert!(
            Instant::now() < deadline,
            "vigil did not start: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        assert!(child.try_wait().unwrap().is_none(), "vigil exited");
        std::thread::sleep(Duration::from_millis(100));
    }
    // The banner is printed just after the API starts answering: wait for it (bounded).
    let banner = loop {
        let banner = std::fs::read_to_string(&log).unwrap_or_default();
        if banner.contains("Stop with Ctrl-C.") || Instant::now() >= deadline {
            break banner;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        // the shipped pack and the rules API's folder under the data directory
        banner.contains("correlation rules from 2 path(s)"),
        "{banner}"
    );
    let token = std::fs::read_to_string(data.join("api-token"))
        .unwrap()
        .trim()
        .to_owned();

    // the demo backfills an hour of traffic: its SSH brute force and sudo failures fire
    let deadline = Instant::now() + Duration::from_secs(180);
    let alert = loop {
        let alerts = get(http, "/api/v1/alerts", &token);
        let found = alerts["items"].as_array().and_then(|items| {
            items
                .iter()
                .find(|a| a["rule_id"] == "ssh-brute-force")
                .cloned()
        });
        if let Some(a) = found {
            break a;
        }
        assert!(
            Instant::now() < deadline,
            "no correlation alert after 180 s: {alerts}"
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    assert_eq!(alert["severity"], "high");
    assert_eq!(alert["tenant"], "main");

    // its correlation events are in the event store, each with base events that are too
    let events = search(
        http,
        &token,
        "vigil.type:correlation AND rule.ruleset:correlation AND rule.id:ssh-brute-force",
    );
    assert!(!events.is_empty(), "no correlation event stored");
    for ev in &events {
        let ids = ev["vigil"]["correlation"]["base_event_ids"]
            .as_array()
            .expect("base event ids");
        assert_eq!(ids.len(), 5, "{ev}");
        for id in ids {
            let id = id.as_str().unwrap();
            // the storage destination writes the same batch in parallel: a bounded wait
            let deadline = Instant::now() + Duration::from_secs(60);
            let base = loop {
                let base = search(http, &token, &format!("vigil.event_id:{id}"));
                if !base.is_empty() || Instant::now() > deadline {
                    break base;
                }
                std::thread::sleep(Duration::from_millis(200));
            };
            assert_eq!(base.len(), 1, "base event {id} not stored once");
            assert_eq!(base[0]["event"]["module"], "sshd");
            assert_eq!(base[0]["event"]["outcome"], "failure");
            assert_eq!(base[0]["source"]["ip"], ev["source"]["ip"]);
        }
    }

    // at shutdown the engine's state is saved for the next start
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("vigil did not stop on SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(data.join("correlation-engine.state").is_file());
}
