//! The built-in `ecs` pipeline: SigmaHQ Linux, web, network and cloud rules load and route to
//! events shaped like those of Vigil's normalizer packs (ECS fields, plus the source's own
//! field names at the top level, as Vigil's event view presents them).

use serde_json::{Value, json};
use vigil_detect::{LoadOptions, Loader, Pipeline, RuleSet};

fn ecs() -> LoadOptions {
    LoadOptions {
        pipeline: Pipeline::ecs(),
        ..LoadOptions::default()
    }
}

fn load_sigmahq() -> Option<RuleSet> {
    let root = vigil_testkit::corpus("sigma")?;
    let mut loader = Loader::new(ecs());
    for d in [
        "linux",
        "web",
        "network",
        "cloud",
        "application",
        "identity",
    ] {
        loader.add_dir(&root.join("rules").join(d));
    }
    let (set, problems) = loader.finish();
    for p in &problems {
        eprintln!("{p}");
    }
    assert!(
        problems.is_empty(),
        "{} rules failed to load",
        problems.len()
    );
    Some(set)
}

fn fired(set: &RuleSet, ev: &Value) -> Vec<String> {
    set.detect(ev)
        .into_iter()
        .map(|d| d.rule.id.clone())
        .collect()
}

const PATH_TRAVERSAL: &str = "7745c2ea-24a5-4290-b680-04359cb84b35";
const SSHD_ERROR: &str = "e76b413a-83d0-4b94-8e4c-85db4a5b8bdc";
const CLOUDTRAIL_DISABLED: &str = "4db60cc0-36fb-42b7-9b58-a5b53019fb74";

fn web(url: &str) -> Value {
    json!({
        "event": {"module": "web-access", "dataset": "web.access", "category": ["web"], "type": ["access"]},
        "http": {"request": {"method": "GET"}, "response": {"status_code": 200}},
        "url": {"original": url, "path": url.split('?').next().unwrap_or(url)},
        "source": {"ip": "203.0.113.9"},
        "user_agent": {"original": "curl/8.0"},
    })
}

fn syslog(program: &str, message: &str) -> Value {
    json!({
        "event": {"module": program, "kind": "event"},
        "host": {"name": "web01", "os": {"type": "linux"}},
        "process": {"name": program, "pid": 4242},
        "message": message,
    })
}

fn cloudtrail(source: &str, name: &str) -> Value {
    json!({
        "event": {"module": "cloudtrail", "dataset": "aws.cloudtrail", "action": name, "provider": source},
        "cloud": {"provider": "aws"},
        "eventSource": source,
        "eventName": name,
        "userIdentity.type": "IAMUser",
    })
}

#[test]
fn sigmahq_rules_load_and_route() {
    let Some(set) = load_sigmahq() else {
        return;
    };
    let s = set.stats();
    let routed = s.rules - s.unmapped;
    eprintln!(
        "ecs: {} rules, {} routed ({} variants), {} unmapped",
        s.rules, routed, s.variants, s.unmapped
    );
    assert!(routed >= 150, "only {routed} rules routed");
}

#[test]
fn sigmahq_rules_fire_on_ecs_events() {
    let Some(set) = load_sigmahq() else {
        return;
    };
    // Web server: path traversal in the URL.
    let bad = web("/index.php?page=../../../etc/passwd");
    assert!(
        fired(&set, &bad).iter().any(|r| r == PATH_TRAVERSAL),
        "{:?}",
        fired(&set, &bad)
    );
    assert!(
        !fired(&set, &web("/index.html?page=2"))
            .iter()
            .any(|r| r == PATH_TRAVERSAL)
    );

    // sshd keyword rule: fires on sshd's message, not on the same text from another program.
    let bad = syslog("sshd", "fatal: error in libcrypto while decoding key");
    assert!(
        fired(&set, &bad).iter().any(|r| r == SSHD_ERROR),
        "{:?}",
        fired(&set, &bad)
    );
    let benign = syslog(
        "sshd",
        "Accepted publickey for deploy from 10.20.1.5 port 50022 ssh2",
    );
    assert!(!fired(&set, &benign).iter().any(|r| r == SSHD_ERROR));
    let other = syslog("nginx", "fatal: error in libcrypto while decoding key");
    assert!(!fired(&set, &other).iter().any(|r| r == SSHD_ERROR));

    // CloudTrail: logging stopped; the rule's own field names are the event's original ones.
    let bad = cloudtrail("cloudtrail.amazonaws.com", "StopLogging");
    assert!(
        fired(&set, &bad).iter().any(|r| r == CLOUDTRAIL_DISABLED),
        "{:?}",
        fired(&set, &bad)
    );
    let benign = cloudtrail("cloudtrail.amazonaws.com", "DescribeTrails");
    assert!(
        !fired(&set, &benign)
            .iter()
            .any(|r| r == CLOUDTRAIL_DISABLED)
    );
    // Routing: the same fields on a non-CloudTrail event do not fire.
    let mut other = bad.clone();
    other["event"]["dataset"] = json!("okta.system");
    assert!(!fired(&set, &other).iter().any(|r| r == CLOUDTRAIL_DISABLED));
}

#[test]
fn ecs_renames_and_routes_without_the_corpus() {
    let rules = r#"
title: Firewall block to RDP
id: 11111111-0000-4000-8000-000000000001
logsource: {category: firewall}
detection:
    selection: {dst_port: 3389, action: blocked}
    condition: selection
---
title: Webserver POST 401
id: 11111111-0000-4000-8000-000000000002
logsource: {category: webserver}
detection:
    selection: {cs-method: POST, sc-status: 401, c-ip: 203.0.113.66}
    condition: selection
---
title: Okta user created
id: 11111111-0000-4000-8000-000000000003
logsource: {product: okta, service: okta}
detection:
    selection: {eventType: user.lifecycle.create}
    condition: selection
"#;
    let (set, problems) = vigil_detect::load_str(rules, &ecs());
    assert!(problems.is_empty(), "{problems:?}");
    let fw = json!({
        "event": {"module": "netfilter", "action": "blocked", "type": ["connection", "denied"]},
        "observer": {"type": "firewall"},
        "source": {"ip": "203.0.113.50", "port": 41234},
        "destination": {"ip": "198.51.100.10", "port": 3389},
    });
    assert_eq!(
        fired(&set, &fw),
        vec!["11111111-0000-4000-8000-000000000001"]
    );
    let mut allowed = fw.clone();
    allowed["event"]["action"] = json!("allowed");
    assert!(fired(&set, &allowed).is_empty());
    let mut not_fw = fw.clone();
    not_fw["observer"]["type"] = json!("ids");
    assert!(fired(&set, &not_fw).is_empty());

    let post = json!({
        "event": {"category": ["web"]},
        "http": {"request": {"method": "POST"}, "response": {"status_code": 401}},
        "source": {"ip": "203.0.113.66"},
    });
    assert_eq!(
        fired(&set, &post),
        vec!["11111111-0000-4000-8000-000000000002"]
    );

    let okta = json!({"event": {"dataset": "okta.system"}, "eventType": "user.lifecycle.create"});
    assert_eq!(
        fired(&set, &okta),
        vec!["11111111-0000-4000-8000-000000000003"]
    );
    let not_okta =
        json!({"event": {"dataset": "aws.cloudtrail"}, "eventType": "user.lifecycle.create"});
    assert!(fired(&set, &not_okta).is_empty());
}
