//! The CLI's one-shot commands: validate, config, search errors.

use std::process::Command;

fn vigil() -> Command {
    Command::new(env!("CARGO_BIN_EXE_vigil"))
}

#[test]
fn validate_lists_every_problem_with_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bad.yaml");
    std::fs::write(
        &cfg,
        "version: 1\ncollectors:\n  - id: a\n    connector: { type: syslog, tcp: 127.0.0.1:0 }\n    transforms:\n      - { type: filter, drop: 'process.name:' }\n  - id: a\n    connector: { type: syslog, udp: 127.0.0.1:5999 }\nstorage:\n  fsync_interval: 3s\n",
    )
    .unwrap();
    let out = vigil().args(["validate", "-c"]).arg(&cfg).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    for needle in [
        "collectors[0].connector.tcp: port 0 is not allowed",
        "collectors[1].id: duplicate collector id 'a'",
        "storage.fsync_interval: must be at most 1s",
    ] {
        assert!(err.contains(needle), "missing {needle:?} in:\n{err}");
    }
}

/// `vigil validate` loads the correlation rules: the shipped pack loads clean, a broken rule is
/// reported with its file, its path in the file and its id, and a missing path with its index.
#[test]
fn validate_reports_correlation_rule_problems_with_their_paths() {
    let dir = tempfile::tempdir().unwrap();
    let pack = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rules/correlation");
    std::fs::create_dir(dir.path().join("rules")).unwrap();
    let cfg = dir.path().join("vigil.yaml");
    std::fs::write(
        &cfg,
        format!(
            "version: 1\ncollectors:\n  - id: s\n    connector: {{ type: syslog, tcp: 127.0.0.1:5999 }}\ncorrelation:\n  rules: [{}]\n",
            pack.display()
        ),
    )
    .unwrap();
    let out = vigil().args(["validate", "-c"]).arg(&cfg).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(
        dir.path().join("rules/bad.yaml"),
        "id: bad-rule\nname: Bad\nkind: standard\nseverity: high\nwindow: 60s\nselectors:\n  - name: one\n    query: 'event.action:('\n",
    )
    .unwrap();
    std::fs::write(
        &cfg,
        format!(
            "version: 1\ncollectors:\n  - id: s\n    connector: {{ type: syslog, tcp: 127.0.0.1:5999 }}\ncorrelation:\n  rules: [{}, rules/, missing.yaml]\n",
            pack.display()
        ),
    )
    .unwrap();
    let out = vigil().args(["validate", "-c"]).arg(&cfg).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("correlation.rules[2]: ") && err.contains("missing.yaml does not exist"),
        "{err}"
    );
    std::fs::write(
        &cfg,
        format!(
            "version: 1\ncollectors:\n  - id: s\n    connector: {{ type: syslog, tcp: 127.0.0.1:5999 }}\ncorrelation:\n  rules: [{}, rules/]\n",
            pack.display()
        ),
    )
    .unwrap();
    let out = vigil().args(["validate", "-c"]).arg(&cfg).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("correlation.rules: ")
            && err.contains("bad.yaml: selectors[0].query [bad-rule]: "),
        "{err}"
    );
}

/// One error in each of the five sections that build components: all five are reported, each
/// with its path, and the exit code says the input is wrong.
#[test]
fn validate_reports_one_error_in_each_section() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("five.yaml");
    std::fs::write(
        &cfg,
        r#"version: 1
api:
  listen: 127.0.0.1:0
collectors:
  - id: fw
    connector: { type: syslog, tcp: 127.0.0.1:0 }
storage:
  fsync_interval: 3s
detection:
  rules: [no-such-rules/]
destinations:
  - type: storage
  - type: storage
"#,
    )
    .unwrap();
    let out = vigil().args(["validate", "-c"]).arg(&cfg).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    for needle in [
        "api.listen: port 0 is not allowed",
        "collectors[0].connector.tcp: port 0 is not allowed",
        "storage.fsync_interval: must be at most 1s",
        "detection.rules[0]: ",
        "destinations[1]: storage is listed twice",
    ] {
        assert!(err.contains(needle), "missing {needle:?} in:\n{err}");
    }
    assert!(err.contains("5 problems"), "{err}");
}

#[test]
fn validate_reports_bad_filter_queries_with_a_caret() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("q.yaml");
    std::fs::write(
        &cfg,
        "version: 1\ncollectors:\n  - id: a\n    connector: { type: syslog, tcp: 127.0.0.1:5998 }\n    transforms:\n      - { type: filter, drop: 'process.name:' }\n",
    )
    .unwrap();
    let out = vigil().args(["validate", "-c"]).arg(&cfg).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("collectors[0].transforms[0]: invalid query"),
        "{err}"
    );
    assert!(err.contains('^'), "{err}");
}

#[test]
fn validate_reports_bad_storage_space_conditions_with_their_path() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("s.yaml");
    std::fs::write(
        &cfg,
        "version: 1\nstorage:\n  tenants:\n    main:\n      spaces:\n        - { name: fw, condition: 'observer.type:' }\n",
    )
    .unwrap();
    let out = vigil().args(["validate", "-c"]).arg(&cfg).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("storage.tenants.main.spaces[0].condition:"),
        "{err}"
    );
}

#[test]
fn the_default_config_validates() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("default.yaml");
    let out = vigil().args(["config", "default"]).output().unwrap();
    assert!(out.status.success());
    std::fs::write(&cfg, &out.stdout).unwrap();
    let out = vigil().args(["validate", "-c"]).arg(&cfg).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("OK (1 collector)"));
}

#[test]
fn search_explains_an_empty_data_dir_and_bad_queries() {
    let dir = tempfile::tempdir().unwrap();
    let out = vigil()
        .args(["search", "x", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("start `vigil up`"));
}

#[test]
fn help_names_every_command() {
    let out = vigil().arg("--help").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    for c in ["up", "search", "validate", "config", "demo"] {
        assert!(text.contains(c), "{text}");
    }
}

#[test]
fn aggregation_rules_are_validated() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("agg.yaml");
    std::fs::write(
        &cfg,
        "version: 1\ncollectors:\n  - id: fw\n    connector: { type: syslog, udp: 127.0.0.1:5997 }\n    transforms:\n      - type: aggregate\n        rules:\n          - { name: ok, when: 'process.name:kernel', identical: [source.ip], window: 1m, sum: [source.bytes] }\n          - { name: bad, when: 'source.ip:', identical: [], window: soon }\n",
    )
    .unwrap();
    let out = vigil().args(["validate", "-c"]).arg(&cfg).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("collectors[0].transforms[0].rules[1].identical: name at least one field"),
        "{err}"
    );
    assert!(
        err.contains("collectors[0].transforms[0].rules[1].window: 'soon' is not a duration"),
        "{err}"
    );
}

/// Transforms that read and validate but cannot be built (a filter's query, a constant of the
/// wrong type, an aggregation rule's query) are all listed by `vigil validate`, each with its
/// path, in one run.
#[test]
fn validate_lists_every_transform_problem_with_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("t.yaml");
    std::fs::write(
        &cfg,
        r#"version: 1
collectors:
  - id: a
    connector: { type: syslog, tcp: 127.0.0.1:5996 }
    transforms:
      - { type: filter, keep: 'process.name:sshd' }
      - { type: filter, drop: 'process.name:' }
      - { type: set, field: source.port, value: not-a-port }
      - { type: copy, from: source.ip, to: host.ip }
      - type: aggregate
        rules:
          - { name: ok, identical: [source.ip], window: 1m }
          - { name: bad, when: 'user.name:', identical: [source.ip], window: 1m }
"#,
    )
    .unwrap();
    let out = vigil().args(["validate", "-c"]).arg(&cfg).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    for needle in [
        "collectors[0].transforms[1]: invalid query",
        "collectors[0].transforms[2].value: source.port: ",
        "collectors[0].transforms[4].rules[1]: ",
    ] {
        assert!(err.contains(needle), "missing {needle:?} in:\n{err}");
    }
    for fine in ["transforms[0]", "transforms[3]", "rules[0]"] {
        assert!(!err.contains(fine), "{fine} reported in:\n{err}");
    }
}
