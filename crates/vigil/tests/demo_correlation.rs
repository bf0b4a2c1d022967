//! `vigil up --demo` as the README runs it, on the built-in configuration (the one `vigil config
//! default` prints: the `auto` normalizer and the shipped correlation pack embedded in the
//! binary), started from a directory that holds no rule file: each attack of the demo traffic
//! (SSH brute force that succeeds, port scan, web scan, sudo failures, backdoor account) becomes
//! an alert in the metadata store within 60 s of the start, and the brute force's correlation
//! events and base events are in the event store. Waits are bounded polls: the 60 s is the
//! issue's promise, not a performance assertion.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)]

mod support;

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
fn demo_raises_an_alert_for_each_attack_within_60_s_on_the_default_configuration() {
    let dir = tmp();
    let data = dir.path().join("data");
    // a working directory without rules/: the pack comes from the binary
    let cwd = dir.path().join("elsewhere");
    std::fs::create_dir_all(&cwd).unwrap();
    let syslog = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let http = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let log = dir.path().join("vigil.log");
    let started = Instant::now();
    let mut child = up(&data, None, syslog, http)
        .arg("--demo")
        .current_dir(&cwd)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let deadline = started + Duration::from_secs(60);
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
    let n_rules: usize = banner
        .lines()
        .find_map(|l| l.strip_prefix("  correlation "))
        .and_then(|s| s.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(n_rules >= 60, "{banner}");
    let token = std::fs::read_to_string(data.join("api-token"))
        .unwrap()
        .trim()
        .to_owned();

    // every attack of the demo is an alert within 60 s of the start
    const ATTACKS: &[(&str, &str)] = &[
        ("SSH brute force", "ssh-brute-force"),
        ("the brute force succeeds", "ssh-success-after-brute-force"),
        ("port scan", "port-scan"),
        ("web scan", "web-scan"),
        ("sudo failures", "sudo-auth-failures"),
        ("backdoor account", "uid0-account-created"),
    ];
    let mut missing: Vec<&str> = ATTACKS.iter().map(|(_, r)| *r).collect();
    while !missing.is_empty() {
        missing.retain(|rule| {
            let alerts = get(
                http,
                &format!("/api/v1/alerts?rule_id={rule}&limit=1"),
                &token,
            );
            alerts["items"].as_array().is_none_or(|a| a.is_empty())
        });
        if missing.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no alert within 60 s of the start for: {:?}\n{}",
            ATTACKS
                .iter()
                .filter(|(_, r)| missing.contains(r))
                .collect::<Vec<_>>(),
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let alerts = get(
        http,
        "/api/v1/alerts?rule_id=ssh-brute-force&limit=1",
        &token,
    );
    let alert = alerts["items"][0].clone();
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
