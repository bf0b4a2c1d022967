//! The built-in `ecs` Sigma pipeline against real normalized events: log lines (the packs'
//! golden samples and a few attack lines) go through the shipped packs, exactly as in
//! `vigil up`, and SigmaHQ's Linux, web, network and cloud rules run over them through
//! [`SigmaView`], the view live detection uses.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::collections::BTreeSet;

use vigil_detect::{LoadOptions, Loader, Pipeline, RuleSet, SigmaView};
use vigil_event::{Bytes, Event, Timestamp};
use vigil_normalize::{Library, NormalizerTree};
use vigil_pipeline::{RawRecord, SourceInfo};

fn normalize(pack: &str, lines: &[&str]) -> Vec<Event> {
    let lib = Library::builtin().expect("shipped packs are valid");
    let tree = NormalizerTree::new(lib.compile(pack).expect("pack compiles"), chrono_tz::UTC);
    let src = SourceInfo {
        id: "test".into(),
        tenant: "main".into(),
        collector: "test".into(),
    };
    lines
        .iter()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            tree.normalize_record(
                &src,
                RawRecord {
                    data: Bytes::copy_from_slice(l.as_bytes()),
                    received: Timestamp::parse("2026-11-22T12:00:00Z").unwrap_or_default(),
                    peer: None,
                    transport_error: None,
                },
            )
        })
        .collect()
}

fn samples(pack: &str) -> Vec<Event> {
    let dir = vigil_testkit::repo_root()
        .join("packs")
        .join(pack)
        .join("samples");
    let mut out = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .map(|rd| rd.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort();
    for f in files
        .iter()
        .filter(|f| f.extension().is_some_and(|e| e == "log"))
    {
        let bytes = vigil_config::read_file_capped(f, 1 << 20).unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes);
        out.extend(normalize(pack, &text.lines().collect::<Vec<_>>()));
    }
    out
}

fn sigmahq() -> Option<RuleSet> {
    let root = vigil_testkit::corpus("sigma")?;
    let mut loader = Loader::new(LoadOptions {
        pipeline: Pipeline::ecs(),
        ..LoadOptions::default()
    });
    for d in [
        "linux",
        "web",
        "network",
        "cloud",
        "application",
        "identity",
        "windows",
    ] {
        loader.add_dir(&root.join("rules").join(d));
    }
    let (set, problems) = loader.finish();
    assert!(problems.is_empty(), "{problems:?}");
    Some(set)
}

fn fired(set: &RuleSet, events: &[Event]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for ev in events {
        for d in set.detect(&SigmaView(ev)) {
            out.insert(d.rule.id.clone());
        }
    }
    out
}

/// (pack, log lines: `None` = the pack's golden samples, SigmaHQ rule ids that must fire).
type Case = (
    &'static str,
    Option<&'static [&'static str]>,
    &'static [&'static str],
);

const CASES: &[Case] = &[
    // auditd service: EXECVE arguments (`type`, `a0`), SYSCALL with the interpreted syscall
    // name (`SYSCALL` → event.action) and `euid`.
    (
        "auditd",
        Some(&[
            r#"type=EXECVE msg=audit(1700000100.000:600): argc=2 a0="uname" a1="-a""#,
            r#"type=SYSCALL msg=audit(1700000101.000:601): arch=c000003e syscall=59 success=yes exit=0 a0=1 a1=2 a2=3 a3=0 items=2 ppid=900 pid=901 auid=4294967295 uid=33 gid=33 euid=33 suid=33 fsuid=33 egid=33 sgid=33 fsgid=33 tty=(none) ses=4294967295 comm="sh" exe="/usr/bin/dash" subj=unconfined key="detect_execve_www""#,
        ]),
        &[
            "f34047d9-20d3-4e8b-8672-0a35cc50dc71", // System Information Discovery - Auditd
            "c0d3734d-330f-4a03-aae2-65dacc6a8222", // Webshell Remote Command Execution
        ],
    ),
    // Linux process_creation and file_event from auditd SYSCALL / PATH records.
    (
        "auditd",
        Some(&[
            r#"type=SYSCALL msg=audit(1700000102.000:602): arch=c000003e syscall=59 success=yes exit=0 a0=1 a1=2 a2=3 a3=0 items=2 ppid=900 pid=902 auid=1000 uid=1000 gid=1000 euid=1000 suid=1000 fsuid=1000 egid=1000 sgid=1000 fsgid=1000 tty=pts0 ses=3 comm="curl" exe="/usr/bin/curl" subj=unconfined key="exec_log""#,
            r#"type=PATH msg=audit(1700000103.000:603): item=1 name="/etc/sudoers.d/backdoor" inode=1234 dev=fd:00 mode=0100640 ouid=0 ogid=0 rdev=00:00 nametype=CREATE cap_fp=0"#,
        ]),
        &[
            "ea34fb97-e2c4-4afb-810f-785e4459b194", // Curl Usage on Linux
            "ddb26b76-4447-4807-871f-1b035b2bfa5d", // Persistence Via Sudoers Files
        ],
    ),
    // The auditd golden sample executes /usr/bin/id (SYSCALL execve, exe=/usr/bin/id).
    (
        "auditd",
        None,
        &["b45e3d6f-42c6-47d8-a478-df6bd6cf534c"], // Local System Accounts Discovery - Linux
    ),
    // sshd (syslog): keyword rule on sshd's messages.
    (
        "sshd",
        Some(&["<38>Nov 22 07:01:00 web01 sshd[4300]: fatal: error in libcrypto"]),
        &["e76b413a-83d0-4b94-8e4c-85db4a5b8bdc"], // Suspicious OpenSSH Daemon Error
    ),
    // Web server access log: `cs-uri-query` → url.original.
    (
        "web-access",
        Some(&[
            r#"203.0.113.9 - - [22/Nov/2026:07:00:05 +0000] "GET /index.php?page=../../../etc/passwd HTTP/1.1" 200 512 "-" "curl/8.0""#,
        ]),
        &["7745c2ea-24a5-4290-b680-04359cb84b35"], // Path Traversal Exploitation Attempts
    ),
    // Proxy (squid): `c-uri` → url.original.
    (
        "squid",
        Some(&[
            "1700000003.000    100 192.168.1.10 TCP_MISS/200 500 GET http://paste.ee/r/abc - HIER_DIRECT/192.0.2.80 text/plain",
        ]),
        &["5468045b-4fcc-4d1a-973c-c9c9578edacb"], // Raw Paste Service Access
    ),
    // Cloud and identity packs: their golden samples, the sources' own field names.
    (
        "cloudtrail",
        None,
        &["6393e346-1977-46ef-8987-ad414a145fad"], // AWS ConsoleLogin Failed Authentication
    ),
    (
        "azure-signin",
        None,
        &["2b7d6fc0-71ac-4cf7-8ed1-b5788ee5257a"], // Account Lockout
    ),
    (
        "k8s-audit",
        None,
        &[
            "a1b0ca4e-7835-413e-8471-3ff2b8a66be6", // Potential Remote Command Execution In Pod Container
            "eeb3e9e1-b685-44e4-9232-6bb701f925b5", // Kubernetes Secrets Enumeration
        ],
    ),
    (
        "okta",
        Some(&[
            r#"{"actor":{"id":"00uadmin","type":"User","alternateId":"admin@example.com","displayName":"Admin"},"client":{"ipAddress":"203.0.113.10"},"displayMessage":"Create Okta user","eventType":"user.lifecycle.create","outcome":{"result":"SUCCESS"},"published":"2026-11-22T08:20:00.000Z","severity":"INFO","uuid":"5b6f0c1e-0000-4000-8000-000000000001"}"#,
        ]),
        &["b6c718dd-8f53-4b9f-98d8-93fdca966969"], // Okta User Created
    ),
];

#[test]
fn sigmahq_rules_fire_on_pack_normalized_events() {
    let Some(set) = sigmahq() else { return };
    let mut failures = Vec::new();
    for (pack, lines, want) in CASES {
        let events = match lines {
            Some(lines) => normalize(pack, lines),
            None => samples(pack),
        };
        assert!(!events.is_empty(), "{pack}: no events");
        let got = fired(&set, &events);
        for id in *want {
            if !got.contains(*id) {
                failures.push(format!("{pack}: {id} did not fire (fired: {got:?})"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn routing_keeps_rules_to_their_sources() {
    let Some(set) = sigmahq() else { return };
    // The auditd rule does not fire on the same arguments from another source.
    let text = normalize(
        "generic",
        &[r#"type=EXECVE msg=audit(1700000100.000:600): argc=2 a0="uname" a1="-a""#],
    );
    assert!(!fired(&set, &text).contains("f34047d9-20d3-4e8b-8672-0a35cc50dc71"));
    // A PATH record that only reads the file is not a file_event.
    let read = normalize(
        "auditd",
        &[
            r#"type=PATH msg=audit(1700000103.000:603): item=0 name="/etc/sudoers.d/x" inode=1234 dev=fd:00 mode=0100640 ouid=0 ogid=0 rdev=00:00 nametype=NORMAL cap_fp=0"#,
        ],
    );
    assert!(!fired(&set, &read).contains("ddb26b76-4447-4807-871f-1b035b2bfa5d"));
    // Benign golden samples of the Linux packs raise nothing.
    for pack in ["sshd", "sudo", "su", "web-access", "squid", "netfilter"] {
        let got = fired(&set, &samples(pack));
        assert!(got.is_empty(), "{pack}: {got:?}");
    }
}

#[test]
fn windows_rules_run_on_windows_pack_events() {
    let Some(set) = sigmahq() else { return };
    let got: BTreeSet<String> = ["windows-security", "sysmon", "powershell"]
        .iter()
        .flat_map(|p| fired(&set, &samples(p)))
        .collect();
    eprintln!("windows packs: {got:?}");
    assert!(!got.is_empty());
}
