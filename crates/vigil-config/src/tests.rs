use std::path::Path;
use std::time::Duration;

use super::*;

fn errors(text: &str) -> Vec<String> {
    match load_str(text, "test.yaml", Path::new(".")) {
        Ok(_) => vec![],
        Err(e) => e.errors.iter().map(|e| e.to_string()).collect(),
    }
}

#[test]
fn the_default_config_is_valid() {
    let c = default_config().unwrap();
    assert_eq!(c.api.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(c.collectors.len(), 1);
    let ConnectorConfig::Syslog(s) = &c.collectors[0].connector else {
        panic!("the default collector is a syslog one");
    };
    assert_eq!(s.udp.unwrap().to_string(), "127.0.0.1:5514");
    assert_eq!(s.tcp.unwrap().to_string(), "127.0.0.1:5514");
    assert_eq!(s.max_frame_size, 65536);
    assert_eq!(
        c.storage.embedded().unwrap().fsync_interval.as_millis(),
        200
    );
}

#[test]
fn every_problem_is_listed_with_its_path() {
    let errs = errors(
        r#"
version: 2
colectors: []
api:
  listen: 127.0.0.1:0
collectors:
  - id: a
    connector: { type: syslog, tcp: "127.0.0.1:99999", max_frame_size: 12QB }
  - id: a
    tenant: "Bad Tenant"
    connector: { type: syslog, udp: "127.0.0.1:5514", frobnicate: true }
  - id: b
    connector: { type: syslog }
    normalizer: { type: syslog, timezone: Mars/Olympus }
storage:
  fsync_interval: 5s
"#,
    );
    let expected = [
        "colectors: unknown field, expected one of: version, data_dir, api, collectors, storage, pipeline",
        "collectors[1].connector.frobnicate: unknown field `frobnicate`",
    ];
    for e in expected {
        assert!(
            errs.iter().any(|x| x.starts_with(e)),
            "missing '{e}' in {errs:#?}"
        );
    }
    // the structurally broken element stops validation of the rest, so fix it and look again
    let errs = errors(
        r#"
version: 2
api:
  listen: 127.0.0.1:0
collectors:
  - id: a
    connector: { type: syslog, tcp: "127.0.0.1:99999", max_frame_size: 12QB }
  - id: a
    tenant: "Bad Tenant"
    connector: { type: syslog, udp: "127.0.0.1:5514" }
  - id: b
    connector: { type: syslog, udp: "127.0.0.1:5514" }
    normalizer: { type: syslog, timezone: Mars/Olympus }
  - id: c
    connector: { type: syslog }
storage:
  fsync_interval: 5s
"#,
    );
    let expected = [
        "version: version 2 is not supported; this Vigil reads version 1",
        "api.listen: port 0 is not allowed; choose a port",
        "collectors[0].connector.tcp: '127.0.0.1:99999' is not an address",
        "collectors[0].connector.max_frame_size: unknown size unit 'qb'",
        "collectors[1].id: duplicate collector id 'a'",
        "collectors[1].tenant: 'Bad Tenant' is not a valid tenant name",
        "collectors[2].connector.udp: 127.0.0.1:5514/udp is already used by collectors[1].connector.udp",
        "collectors[2].normalizer.timezone: unknown time zone 'Mars/Olympus'",
        "collectors[3].connector: listens nowhere; set udp, tcp or tls",
        "storage.fsync_interval: must be at most 1s",
    ];
    for e in expected {
        assert!(
            errs.iter().any(|x| x.starts_with(e)),
            "missing '{e}' in {errs:#?}"
        );
    }
    assert_eq!(errs.len(), expected.len(), "{errs:#?}");
}

#[test]
fn syslog_connection_policy_defaults_and_limits() {
    let load = |extra: &str| {
        load_str(
            &format!(
                "version: 1\ncollectors:\n  - id: a\n    connector: {{ type: syslog, tcp: 127.0.0.1:5514{extra} }}\n"
            ),
            "test.yaml",
            Path::new("."),
        )
    };
    let syslog = |c: Config| match c.collectors.into_iter().next().map(|c| c.connector) {
        Some(ConnectorConfig::Syslog(s)) => s,
        Some(other) => panic!("not syslog: {other:?}"),
        None => panic!("no collector"),
    };
    let s = syslog(load("").unwrap());
    assert_eq!(s.max_connections, 1024);
    assert_eq!(s.max_connections_per_ip, 128);
    assert_eq!(s.idle_timeout, Duration::from_secs(600));
    assert_eq!(s.frame_timeout, Duration::from_secs(30));
    // the per-address default follows max_connections
    let s = syslog(load(", max_connections: 64").unwrap());
    assert_eq!(s.max_connections_per_ip, 8);
    let s = syslog(load(", max_connections: 4").unwrap());
    assert_eq!(s.max_connections_per_ip, 1);
    let s = syslog(
        load(", max_connections: 64, max_connections_per_ip: 64, frame_timeout: 2s").unwrap(),
    );
    assert_eq!(s.max_connections_per_ip, 64);
    assert_eq!(s.frame_timeout, Duration::from_secs(2));

    let errs = errors(
        "version: 1\ncollectors:\n  - id: a\n    connector: { type: syslog, tcp: 127.0.0.1:5514, max_connections: 64, max_connections_per_ip: 65, idle_timeout: 0s, frame_timeout: soon, tls_handshake_timeout: 0ms }\n",
    );
    let expected = [
        "collectors[0].connector.max_connections_per_ip: 65 is out of range (1..=64)",
        "collectors[0].connector.idle_timeout: must be more than 0",
        "collectors[0].connector.frame_timeout: 'soon' is not a duration",
        "collectors[0].connector.tls_handshake_timeout: must be more than 0",
    ];
    for e in expected {
        assert!(
            errs.iter().any(|x| x.starts_with(e)),
            "missing '{e}' in {errs:#?}"
        );
    }
    assert_eq!(errs.len(), expected.len(), "{errs:#?}");
}

#[test]
fn transforms_read_as_written_in_order() {
    let c = load_str(
        r#"
version: 1
collectors:
  - id: a
    connector: { type: syslog, tcp: 127.0.0.1:5514 }
    transforms:
      - { type: filter, drop: 'process.name:CRON' }
      - { type: set, field: observer.name, value: dc1 }
      - { type: filter, keep: '*' }
      - { type: copy, from: source.ip, to: host.ip }
      - type: aggregate
        rules:
          - { name: fw, identical: [source.ip], window: 1m, sum: [source.bytes] }
"#,
        "t",
        Path::new("."),
    )
    .unwrap();
    let t = &c.collectors[0].transforms;
    let paths: Vec<&str> = t.iter().map(|t| t.path.as_str()).collect();
    assert_eq!(
        paths,
        (0..5)
            .map(|i| format!("collectors[0].transforms[{i}]"))
            .collect::<Vec<_>>()
    );
    assert_eq!(
        t[0].kind,
        TransformKind::Filter {
            keep: false,
            query: "process.name:CRON".into()
        }
    );
    assert_eq!(
        t[1].kind,
        TransformKind::Set {
            field: "observer.name".into(),
            value: "dc1".into()
        }
    );
    assert!(matches!(
        t[2].kind,
        TransformKind::Filter { keep: true, .. }
    ));
    assert_eq!(
        t[3].kind,
        TransformKind::Copy {
            from: "source.ip".into(),
            to: "host.ip".into()
        }
    );
    let TransformKind::Aggregate(rules) = &t[4].kind else {
        panic!("{:?}", t[4]);
    };
    assert_eq!(rules[0].path, "collectors[0].transforms[4].rules[0]");
    assert_eq!(rules[0].window, std::time::Duration::from_secs(60));
}

/// Every transform problem is listed with its path, those found while reading the YAML
/// (unknown types and fields, wrong value types) and those found by validation alike.
#[test]
fn every_transform_problem_is_listed_with_its_path() {
    let errs = errors(
        r#"
version: 1
collectors:
  - id: a
    connector: { type: syslog, tcp: 127.0.0.1:5514 }
    transforms:
      - { type: filter, reject: x }
      - { type: filter, keep: a, drop: b }
      - { type: rename, from: a, to: b }
      - { type: set, field: observer.name }
      - { type: aggregate, rules: [{ name: r, identical: [a], window: 1m, sum: 3 }] }
      - { type: copy, from: a, to: b }
      - type
  - id: b
    connector: { type: syslog, tcp: 127.0.0.1:5515 }
    transforms: { type: filter, keep: a }
"#,
    );
    let want = [
        "collectors[0].transforms[0].reject: unknown field `reject`, expected `keep` or `drop`",
        "collectors[0].transforms[2].type: unknown variant `rename`, expected one of `filter`, `set`, `copy`, `aggregate`",
        "collectors[0].transforms[3]: missing field `value`",
        "collectors[0].transforms[4].rules[0].sum: invalid type: integer `3`, expected a sequence",
        "collectors[0].transforms[6]: invalid type: string \"type\"",
        "collectors[1].transforms: must be a list of transforms",
    ];
    assert_eq!(errs.len(), want.len(), "{errs:#?}");
    for (e, w) in errs.iter().zip(want) {
        assert!(
            e.starts_with(w),
            "{e:?} does not start with {w:?}\n{errs:#?}"
        );
    }
    // once they read, validation finds the rest, each at its path
    let errs = errors(
        "version: 1\ncollectors:\n  - id: a\n    connector: { type: syslog, tcp: 127.0.0.1:5514 }\n    transforms:\n      - { type: filter, keep: a, drop: b }\n      - { type: filter, drop: ' ' }\n",
    );
    assert_eq!(
        errs,
        vec![
            "collectors[0].transforms[0]: write exactly one of `keep: QUERY` or `drop: QUERY`",
            "collectors[0].transforms[1]: the query is empty",
        ]
    );
}

#[test]
fn empty_and_non_mapping_files_say_what_to_write() {
    assert_eq!(
        errors(""),
        vec!["the file is empty; start it with `version: 1`"]
    );
    assert_eq!(
        errors("- 1"),
        vec!["the top level must be a mapping (`version: 1` ...)"]
    );
    assert_eq!(
        errors("api: {}"),
        vec!["version: missing; add `version: 1` at the top"]
    );
    assert!(
        errors("version: [")
            .first()
            .unwrap()
            .starts_with("invalid YAML")
    );
}

#[test]
fn destinations_default_to_storage_and_report_every_problem() {
    let c = default_config().unwrap();
    assert_eq!(c.destinations, vec![DestinationConfig::Storage]);
    let errs = errors(
        r#"
version: 1
destinations:
  - type: storage
  - type: storage
  - type: file
    path: out/a.jsonl
    format: json
  - type: file
    path: out/a.jsonl
"#,
    );
    assert_eq!(
        errs,
        vec![
            "destinations[1]: storage is listed twice; events would be stored twice".to_string(),
            "destinations[3].path: ./out/a.jsonl is already written by another destination"
                .to_string(),
        ]
    );
    // the format is a closed choice: anything else is refused where it is written
    let errs = errors(
        "version: 1
destinations:
  - { type: file, path: a, format: xml }
",
    );
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(
        errs[0]
            .starts_with("destinations[0].format: unknown variant `xml`, expected `json` or `raw`"),
        "{errs:?}"
    );
    let c = load_str(
        "version: 1\ndestinations:\n  - type: file\n    path: fwd.jsonl\n    format: raw\n",
        "t.yaml",
        Path::new("/etc/vigil"),
    )
    .unwrap();
    assert_eq!(
        c.destinations,
        vec![DestinationConfig::File {
            path: "/etc/vigil/fwd.jsonl".into(),
            format: FileFormat::Raw
        }]
    );
}

#[test]
fn destination_unknown_format_is_reported_at_its_format() {
    // the destination list is an internally tagged enum, which loses the inner path: the
    // variant's settings are deserialized on their own so the path ends at `.format`
    let errs = errors(
        r#"
version: 1
destinations:
  - type: storage
  - type: file
    path: a.jsonl
    format: xml
  - { type: file, path: b.jsonl, format: 3 }
  - { type: file, path: c.jsonl, fromat: raw }
  - { type: parquet, path: d }
"#,
    );
    assert_eq!(errs.len(), 4, "{errs:?}");
    assert!(
        errs[0].starts_with("destinations[1].format: unknown variant `xml`"),
        "{errs:?}"
    );
    assert!(errs[1].starts_with("destinations[2].format: "), "{errs:?}");
    assert!(
        errs[2].starts_with("destinations[3].fromat: unknown field `fromat`"),
        "{errs:?}"
    );
    assert!(
        errs[3].starts_with("destinations[4].type: unknown variant `parquet`"),
        "{errs:?}"
    );
}

#[test]
fn tls_files_must_exist() {
    let errs =
        errors("version: 1\napi:\n  tls: { cert: /nonexistent/c.pem, key: /nonexistent/k.pem }\n");
    assert_eq!(errs.len(), 2, "{errs:?}");
    assert!(errs[0].starts_with("api.tls.cert: file /nonexistent/c.pem does not exist"));
}

#[test]
fn sizes_and_durations() {
    assert_eq!(parse_size(&raw::RawSize::Text("64KiB".into())), Ok(65536));
    assert_eq!(parse_size(&raw::RawSize::Text("1MB".into())), Ok(1_000_000));
    assert_eq!(parse_size(&raw::RawSize::Bytes(7)), Ok(7));
    assert!(parse_size(&raw::RawSize::Text("lots".into())).is_err());
    assert_eq!(parse_duration("200ms").unwrap().as_millis(), 200);
    assert!(parse_duration("soon").is_err());
}

#[test]
fn the_configuration_reference_is_up_to_date() {
    let generated = reference_markdown();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/configuration.md");
    let current = crate::read_file_capped(&path, 1 << 22)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    if std::env::var_os("VIGIL_BLESS").is_some() {
        std::fs::write(&path, &generated).unwrap();
        return;
    }
    assert!(
        current == generated,
        "docs/configuration.md is stale: run `VIGIL_BLESS=1 cargo test -p vigil-config` (or `vigil config reference > docs/configuration.md`)"
    );
}

#[test]
fn storage_spaces_retention_and_encryption() {
    let c = load_str(
        r#"version: 1
storage:
  retention: 30d
  retention_interval: 10s
  min_free: 1GiB
  min_free_percent: 2.5
  encryption: { key_env: VIGIL_KEYS }
  tiers: { cold_dir: /mnt/cheap/vigil-cold, cold_zstd_level: 12, interval: 5m }
  tenants:
    main:
      hot_age: 1d
      spaces:
        - name: fw
          condition: 'observer.type = "firewall"'
          retention: 1h
"#,
        "t",
        Path::new("."),
    )
    .unwrap();
    let s = c.storage.embedded().unwrap();
    assert_eq!(
        s.retention,
        Some(std::time::Duration::from_secs(30 * 86_400))
    );
    assert_eq!(s.retention_interval.as_secs(), 10);
    assert_eq!(s.min_free_bytes, 1 << 30);
    assert_eq!(s.min_free_percent, 2.5);
    assert_eq!(
        s.encryption,
        Some(EncryptionConfig::KeyEnv("VIGIL_KEYS".into()))
    );
    assert_eq!(
        s.tiers,
        TiersConfig {
            cold_dir: Some("/mnt/cheap/vigil-cold".into()),
            cold_zstd_level: 12,
            interval: std::time::Duration::from_secs(300),
        }
    );
    let main = &s.tenants["main"];
    assert_eq!(main.hot_age, Some(std::time::Duration::from_secs(86_400)));
    assert_eq!(main.spaces[0].name, "fw");
    assert_eq!(
        main.spaces[0].retention,
        Some(std::time::Duration::from_secs(3600))
    );
    assert_eq!(main.spaces[0].path, "storage.tenants.main.spaces[0]");

    let errs = errors(
        r#"version: 1
storage:
  retention: 0s
  min_free_percent: 99
  encryption: { key_file: a, key_env: B }
  tiers: { cold_dir: " ", cold_zstd_level: 22, interval: 0s }
  tenants:
    Bad:
      spaces:
        - { name: default, condition: x }
        - { name: ok, condition: "", hot_age: soon }
"#,
    );
    let expected = [
        "storage.retention: must be more than 0",
        "storage.min_free_percent: 99 is out of range",
        "storage.encryption: write exactly one of",
        "storage.tiers.cold_zstd_level: 22 is out of range (1..=19)",
        "storage.tiers.interval: must be more than 0",
        "storage.tiers.cold_dir: is empty",
        "storage.tenants.Bad: 'Bad' is not a valid tenant name",
        "storage.tenants.Bad.spaces[0].name: 'default' is the space",
        "storage.tenants.Bad.spaces[1].condition: the condition is empty",
        "storage.tenants.Bad.spaces[1].hot_age: 'soon' is not a duration",
    ];
    for e in expected {
        assert!(
            errs.iter().any(|x| x.starts_with(e)),
            "missing '{e}' in {errs:#?}"
        );
    }
    assert_eq!(errs.len(), expected.len(), "{errs:#?}");
}

#[test]
fn api_limits_have_defaults_and_are_checked_with_their_paths() {
    let c = default_config().unwrap();
    assert_eq!(c.api.max_connections, 512);
    assert_eq!(c.api.max_concurrent_requests, 64);
    assert_eq!(c.api.header_read_timeout.as_secs(), 10);
    assert_eq!(c.api.body_read_timeout.as_secs(), 30);
    assert_eq!(c.api.idle_timeout.as_secs(), 60);
    assert_eq!(c.api.auth_max_failures, 10);
    assert_eq!(c.api.auth_failure_window.as_secs(), 60);
    assert_eq!(c.api.auth_lockout.as_secs(), 300);
    assert_eq!(c.api.auth_log_interval.as_secs(), 60);

    let c = load_str(
        "version: 1\napi:\n  max_connections: 8\n  header_read_timeout: 2s\n  auth_max_failures: 3\n  auth_lockout: 90s\n",
        "t",
        Path::new("."),
    )
    .unwrap();
    assert_eq!(c.api.max_connections, 8);
    assert_eq!(c.api.header_read_timeout.as_secs(), 2);
    assert_eq!(c.api.auth_max_failures, 3);
    assert_eq!(c.api.auth_lockout.as_secs(), 90);

    let errs = errors(
        "version: 1\napi:\n  max_connections: 0\n  max_concurrent_requests: 0\n  header_read_timeout: 0s\n  body_read_timeout: soon\n  idle_timeout: 2d\n  auth_max_failures: 0\n  auth_failure_window: 0ms\n",
    );
    for e in [
        "api.max_connections: 0 is out of range",
        "api.max_concurrent_requests: 0 is out of range",
        "api.header_read_timeout: 0s is out of range",
        "api.body_read_timeout: 'soon' is not a duration",
        "api.idle_timeout: 2days is out of range",
        "api.auth_max_failures: 0 is out of range",
        "api.auth_failure_window: 0s is out of range",
    ] {
        assert!(
            errs.iter().any(|x| x.starts_with(e)),
            "missing '{e}' in {errs:#?}"
        );
    }
}

#[test]
fn pipeline_batch_keys() {
    let d = default_config().unwrap();
    assert_eq!(d.pipeline.batch_linger, DEFAULT_BATCH_LINGER);
    assert_eq!(d.pipeline.batch_events, 1024);
    let c = load_str(
        "version: 1\npipeline:\n  batch_linger: 0s\n  batch_events: 100\n",
        "t",
        Path::new("."),
    )
    .unwrap();
    assert_eq!(c.pipeline.batch_linger, Duration::ZERO);
    assert_eq!(c.pipeline.batch_events, 100);
    let errs = errors("version: 1\npipeline:\n  batch_linger: 2s\n  batch_events: 0\n");
    assert_eq!(
        errs,
        [
            "pipeline.batch_linger: 2s is out of range (0s..=1s)",
            "pipeline.batch_events: 0 is out of range (1..=1048576)"
        ]
    );
}

#[test]
fn pipeline_time_policy_keys() {
    let d = default_config().unwrap();
    assert_eq!(d.pipeline.max_future_skew, DEFAULT_MAX_FUTURE_SKEW);
    assert_eq!(
        d.pipeline.min_timestamp,
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(DEFAULT_MIN_TIMESTAMP_SECS)
    );
    let c = load_str(
        "version: 1\npipeline:\n  max_future_skew: 15m\n  min_timestamp: 2010-06-01\n",
        "t",
        Path::new("."),
    )
    .unwrap();
    assert_eq!(c.pipeline.max_future_skew.as_secs(), 900);
    assert_eq!(
        c.pipeline.min_timestamp,
        humantime::parse_rfc3339("2010-06-01T00:00:00Z").unwrap()
    );
    let errs = errors(
        "version: 1\npipeline:\n  max_future_skew: tomorrow\n  min_timestamp: 1969-12-31T00:00:00Z\n",
    );
    assert_eq!(errs.len(), 2, "{errs:?}");
    assert!(errs[0].starts_with("pipeline.max_future_skew: 'tomorrow' is not a duration"));
    assert!(
        errs[1].starts_with("pipeline.min_timestamp: '1969-12-31T00:00:00Z' is not an instant")
    );
    let errs = errors("version: 1\npipeline:\n  min_timestamp: 2999-01-01T00:00:00Z\n");
    assert_eq!(
        errs,
        [
            "pipeline.min_timestamp: must be in the past (every event would be dated by its receive time)"
        ]
    );
}

#[test]
fn search_limits_read_as_written_and_out_of_range_values_are_listed() {
    let c = load_str(
        "version: 1\nsearch:\n  max_concurrent: 3\n  max_queued: 0\n  queue_wait: 250ms\n  max_result_bytes: 64MiB\n  max_limit: 500\n",
        "t",
        Path::new("."),
    )
    .unwrap();
    assert_eq!(
        c.search,
        SearchConfig {
            max_concurrent: 3,
            max_queued: 0,
            queue_wait: std::time::Duration::from_millis(250),
            max_result_bytes: 64 << 20,
            max_limit: 500,
        }
    );
    assert_eq!(default_config().unwrap().search, SearchConfig::default());
    let errs = errors(
        "version: 1\nsearch:\n  max_concurrent: 0\n  max_limit: 1000000\n  max_result_bytes: 10\n",
    );
    for path in [
        "search.max_concurrent",
        "search.max_limit",
        "search.max_result_bytes",
    ] {
        assert!(
            errs.iter().any(|e| e.contains(path)),
            "{path} missing from {errs:?}"
        );
    }
}

#[test]
fn storage_type_chooses_the_backend() {
    // `type: embedded` is the default: written or not, the same store
    let written = load_str(
        "version: 1\nstorage:\n  type: embedded\n  retention: 7d\n",
        "t",
        Path::new("."),
    )
    .unwrap();
    let implied = load_str(
        "version: 1\nstorage:\n  retention: 7d\n",
        "t",
        Path::new("."),
    )
    .unwrap();
    assert_eq!(written.storage, implied.storage);
    assert_eq!(written.storage.kind(), "embedded");

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ch-password"), "s3cret-value\n").unwrap();
    let c = load_str(
        r#"version: 1
storage:
  type: clickhouse
  url: http://127.0.0.1:8123/
  database: siem
  user: vigil
  password: "${file:ch-password}"
"#,
        "t",
        dir.path(),
    )
    .unwrap();
    let StorageConfig::ClickHouse(ch) = &c.storage else {
        panic!("not clickhouse: {:?}", c.storage)
    };
    assert_eq!(ch.url, "http://127.0.0.1:8123");
    assert_eq!(ch.database, "siem");
    assert_eq!(ch.table, "events");
    assert_eq!(ch.user, "vigil");
    assert_eq!(ch.password.expose(), "s3cret-value");
    assert_eq!(ch.query_timeout.as_secs(), 60);
    let shown = format!("{c:?}");
    assert!(!shown.contains("s3cret-value"), "{shown}");
    assert!(
        shown.contains("<redacted> from ${file:ch-password}"),
        "{shown}"
    );

    // every problem, with its path
    let errs = errors(
        r#"version: 1
storage:
  type: clickhouse
  url: ftp://host
  database: "1bad"
  table: "ev-ents"
  user: " "
  password: hunter2
  query_timeout: 0s
"#,
    );
    let expected = [
        "storage.url: 'ftp://host' is not a server address",
        "storage.database: '1bad' is not a ClickHouse identifier",
        "storage.table: 'ev-ents' is not a ClickHouse identifier",
        "storage.user: is empty",
        "storage.password: write a reference",
        "storage.query_timeout: must be at least 1s",
    ];
    for e in expected {
        assert!(
            errs.iter().any(|x| x.starts_with(e)),
            "missing '{e}' in {errs:#?}"
        );
    }
    assert_eq!(errs.len(), expected.len(), "{errs:#?}");
    assert!(!errs.iter().any(|e| e.contains("hunter2")), "{errs:#?}");

    // the embedded store's keys are not ClickHouse's, and the type is a closed list
    let errs =
        errors("version: 1\nstorage:\n  type: clickhouse\n  url: http://h:8123\n  retention: 7d\n");
    assert_eq!(errs.len(), 1, "{errs:#?}");
    assert!(
        errs[0].starts_with("storage") && errs[0].contains("unknown field `retention`"),
        "{errs:#?}"
    );
    let errs = errors("version: 1\nstorage:\n  type: postgres\n");
    assert_eq!(errs.len(), 1, "{errs:#?}");
    assert!(
        errs[0].starts_with("storage") && errs[0].contains("unknown variant `postgres`"),
        "{errs:#?}"
    );
    let errs = errors("version: 1\nstorage:\n  type: clickhouse\n");
    assert!(errs[0].contains("missing field `url`"), "{errs:#?}");
}

#[test]
fn meta_and_auth_sections_resolve_references_and_list_problems() {
    let c = default_config().unwrap();
    assert_eq!(c.meta.kind, MetaKind::Sqlite);
    assert!(c.meta.url.is_none());
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("pg"),
        "postgres://vigil:s3cret@127.0.0.1/vigil\n",
    )
    .unwrap();
    let c = load_str(
        "version: 1\nmeta: { type: postgres, url: \"${file:pg}\", max_attachment_bytes: 1MiB }\n\
         auth: { password_min_length: 14, ldap: { url: \"ldap://127.0.0.1:389\", user_base: \"dc=x\", bind_password: \"${file:pg}\" } }\n",
        "test.yaml",
        dir.path(),
    )
    .unwrap();
    assert_eq!(c.meta.kind, MetaKind::Postgres);
    assert_eq!(
        c.meta.url.as_ref().map(|u| u.expose()),
        Some("postgres://vigil:s3cret@127.0.0.1/vigil")
    );
    assert_eq!(c.meta.max_attachment_bytes, Some(1 << 20));
    assert!(
        !format!("{c:?}").contains("s3cret"),
        "secrets stay out of Debug"
    );
    assert!(c.auth.raw.ldap.as_ref().unwrap().bind_password.is_none());
    assert!(c.auth.ldap_bind_password.is_some());
    let errs = errors(
        "version: 1\nmeta: { type: mysql, url: \"postgres://in-clear\", max_connections: 0 }\n\
         auth: { lockout: { tries: 3 } }\n",
    );
    assert!(
        errs.iter().any(|e| e.contains("lockout")),
        "unknown auth keys are refused: {errs:?}"
    );
    let errs = errors("version: 1\nmeta: { type: mysql, max_connections: 0 }\n");
    assert!(errs.iter().any(|e| e.contains("meta.type")), "{errs:?}");
    assert!(
        errs.iter().any(|e| e.contains("meta.max_connections")),
        "{errs:?}"
    );
    let errs = errors("version: 1\nmeta: { type: postgres, url: \"postgres://u:p@h/db\" }\n");
    assert!(
        errs.iter()
            .any(|e| e.contains("meta.url") && e.contains("reference")),
        "a URL in clear is refused: {errs:?}"
    );
    let errs = errors("version: 1\nmeta: { type: postgres }\n");
    assert!(errs.iter().any(|e| e.contains("meta.url")), "{errs:?}");
}

#[test]
fn http_connector_tokens_limits_and_errors() {
    let c = load_str(
        "version: 1\ncollectors:\n  - id: web\n    tenant: acme\n    connector:\n      type: http\n      listen: 127.0.0.1:9200\n      tokens: [literal-token-1, '${env:PATH}']\n      max_body_size: 1MiB\n      request_timeout: 5s\n",
        "test.yaml",
        Path::new("."),
    )
    .unwrap();
    let ConnectorConfig::Http(h) = &c.collectors[0].connector else {
        panic!("not http");
    };
    assert_eq!(h.listen.to_string(), "127.0.0.1:9200");
    assert_eq!(h.tokens.len(), 2);
    assert_eq!(h.tokens[0].expose(), "literal-token-1");
    assert_eq!(h.tokens[1].expose(), std::env::var("PATH").unwrap());
    assert!(
        !format!("{h:?}").contains("literal-token-1"),
        "tokens are never shown"
    );
    assert_eq!(h.max_body_size, 1 << 20);
    assert_eq!(h.max_decompressed_size, 128 << 20);
    assert_eq!(h.request_timeout, Duration::from_secs(5));

    let errs = errors(
        "version: 1\ncollectors:\n  - id: a\n    connector: { type: syslog, tcp: 127.0.0.1:5514 }\n  - id: b\n    connector: { type: http, listen: 127.0.0.1:5514, tokens: [short, '${env:VIGIL_TEST_SURELY_UNSET_VARIABLE}'], max_connections: 0, request_timeout: soon }\n  - id: c\n    connector: { type: http, listen: nowhere, tokens: [] }\n",
    );
    let expected = [
        "collectors[1].connector.listen: 127.0.0.1:5514/tcp is already used by collectors[0].connector.tcp",
        "collectors[1].connector.tokens[0]: too short",
        "collectors[1].connector.tokens[1]: environment variable VIGIL_TEST_SURELY_UNSET_VARIABLE is not set",
        "collectors[1].connector.max_connections: 0 is out of range",
        "collectors[1].connector.request_timeout: 'soon' is not a duration",
        "collectors[2].connector.listen:",
        "collectors[2].connector.tokens: list at least one token",
    ];
    for e in expected {
        assert!(
            errs.iter().any(|x| x.starts_with(e)),
            "missing '{e}' in {errs:#?}"
        );
    }
    assert_eq!(errs.len(), expected.len(), "{errs:#?}");
}

#[test]
fn nats_connector_and_forwarding_destinations_read_as_written_and_list_problems() {
    let c = load_str(
        "version: 1\ncollectors:\n  - id: bus\n    connector: { type: nats, url: 'nats://127.0.0.1:4222', stream: EVENTS, consumer: vigil, subject: 'events.>', token: literal-nats-token }\ndestinations:\n  - type: storage\n  - { type: syslog, address: 'siem.example.org:6514', tls: {}, buffer: { max_size: 16MiB } }\n  - { type: http, url: 'https://es.example.org:9200/_bulk', format: bulk }\n  - { type: nats, url: 'nats://127.0.0.1:4222', subject: out.events }\n",
        "test.yaml",
        Path::new("."),
    )
    .unwrap();
    let ConnectorConfig::Nats(n) = &c.collectors[0].connector else {
        panic!("not nats");
    };
    assert_eq!(
        (n.stream.as_str(), n.consumer.as_str()),
        ("EVENTS", "vigil")
    );
    assert_eq!(
        (n.batch_size, n.max_in_flight, n.dedup_ids),
        (512, 8, 100_000)
    );
    assert_eq!(n.ack_wait, Duration::from_secs(30));
    assert!(!format!("{n:?}").contains("literal-nats-token"));
    let DestinationConfig::Syslog(s) = &c.destinations[1] else {
        panic!("not syslog");
    };
    assert_eq!(s.host, "siem.example.org");
    assert_eq!(s.buffer.max_size, 16 << 20);
    assert!(s.tls.is_some());
    let DestinationConfig::Http(h) = &c.destinations[2] else {
        panic!("not http");
    };
    assert_eq!(h.format, crate::HttpBodyFormat::Bulk);
    assert_eq!(h.buffer.max_size, crate::DEFAULT_BUFFER_SIZE);
    assert!(matches!(&c.destinations[3], DestinationConfig::Nats(_)));

    let errs = errors(
        "version: 1\ncollectors:\n  - id: bus\n    connector: { type: nats, url: 'http://x:1', stream: 'a b', consumer: '', user: u, batch_size: 0, ca: missing-ca.pem }\ndestinations:\n  - { type: syslog, address: nohost, tls: { ca: missing.pem } }\n  - { type: http, url: 'ftp://x/y', token: '${env:VIGIL_TEST_SURELY_UNSET_VARIABLE}' }\n  - { type: nats, url: 'nats://h:0', subject: 'out.*', buffer: { max_size: 1KiB } }\n",
    );
    let expected = [
        "collectors[0].connector.url: 'http://x:1' is not a URL",
        "collectors[0].connector.stream: 'a b' is not a valid name",
        "collectors[0].connector.consumer: '' is not a valid name",
        "collectors[0].connector.password: missing",
        "collectors[0].connector.ca: file",
        "collectors[0].connector.batch_size: 0 is out of range",
        "destinations[0].address: 'nohost' is not an address",
        "destinations[0].tls.ca: file",
        "destinations[1].url: 'ftp://x/y' is not a URL",
        "destinations[1].token: environment variable VIGIL_TEST_SURELY_UNSET_VARIABLE is not set",
        "destinations[2].url: port 0 is not allowed",
        "destinations[2].subject: 'out.*' is not a valid subject",
        "destinations[2].buffer.max_size: 1024 bytes is out of range",
    ];
    for e in expected {
        assert!(
            errs.iter().any(|x| x.starts_with(e)),
            "missing '{e}' in {errs:#?}"
        );
    }
    assert_eq!(errs.len(), expected.len(), "{errs:#?}");
}

#[test]
fn sql_and_netflow_connectors_defaults_and_errors() {
    let c = load_str(
        "version: 1\ndata_dir: /var/lib/vigil\ncollectors:\n  - id: audit\n    connector:\n      type: sql\n      url: postgres://vigil@db:5432/app\n      query: SELECT * FROM audit WHERE id > $1 ORDER BY id LIMIT 500\n      cursor_column: id\n      message_column: text\n  - id: flows\n    connector: { type: netflow, listen: 0.0.0.0:2055 }\n",
        "test.yaml",
        Path::new("."),
    )
    .unwrap();
    let ConnectorConfig::Sql(s) = &c.collectors[0].connector else {
        panic!("not sql");
    };
    assert_eq!(s.driver, SqlDriver::Postgres);
    assert_eq!(s.cursor_type, SqlCursorType::Integer);
    assert_eq!(s.cursor_start, "0");
    assert_eq!(s.interval, Duration::from_secs(10));
    assert_eq!(s.max_rows, 1000);
    assert_eq!(
        s.cursor_file,
        Path::new("/var/lib/vigil/cursors/audit.json")
    );
    assert_eq!(s.message_column.as_deref(), Some("text"));
    assert!(matches!(
        &c.collectors[0].normalizer,
        NormalizerConfig::Pack { name, .. } if name == "sql"
    ));
    let ConnectorConfig::Netflow(n) = &c.collectors[1].connector else {
        panic!("not netflow");
    };
    assert_eq!(n.listen.to_string(), "0.0.0.0:2055");
    assert_eq!(n.udp_recv_buffer, DEFAULT_FLOW_RECV_BUFFER);
    assert!(matches!(
        &c.collectors[1].normalizer,
        NormalizerConfig::Pack { name, .. } if name == "netflow"
    ));

    let errs = errors(
        "version: 1\ncollectors:\n  - id: a\n    connector: { type: sql, url: 'postgres//db/app', query: 'SELECT 1', cursor_column: id, cursor_type: uuid }\n  - id: b\n    connector: { type: sql, url: 'mysql://root@db:99999/test', query: 'SELECT * FROM t WHERE id > $1', cursor_column: id, cursor_type: timestamp, cursor_start: yesterday, interval: 0s }\n  - id: c\n    connector: { type: netflow, listen: 127.0.0.1:2055 }\n  - id: d\n    connector: { type: netflow, listen: 127.0.0.1:2055, max_exporters: 0 }\n  - id: e\n    connector: { type: sql, url: 'postgres://vigil:pw@db/app', query: 'SELECT * FROM t WHERE id > $1', cursor_column: id }\n",
    );
    let expected = [
        "collectors[0].connector.url: not a database URL",
        "collectors[0].connector.query: the query must take the cursor as its parameter `$1`",
        "collectors[0].connector.cursor_type: 'uuid' is not a cursor type",
        "collectors[1].connector.url: '99999' is not a port",
        "collectors[1].connector.query: the query must take the cursor as its parameter `?`",
        "collectors[1].connector.cursor_start:",
        "collectors[1].connector.interval: must be more than 0",
        "collectors[3].connector.max_exporters: 0 is out of range",
        "collectors[3].connector.listen: 127.0.0.1:2055/udp is already used by collectors[2].connector.listen",
        "collectors[4].connector.url: holds a password in clear",
    ];
    for e in expected {
        assert!(
            errs.iter().any(|x| x.starts_with(e)),
            "missing '{e}' in {errs:#?}"
        );
    }
    assert_eq!(errs.len(), expected.len(), "{errs:#?}");
}

#[test]
fn kafka_connector_and_destination_read_as_written_and_list_every_problem() {
    let c = load_str(
        "version: 1\ncollectors:\n  - id: bus\n    connector:\n      type: kafka\n      brokers: [127.0.0.1:9092, 'kafka-2.example:9093']\n      topics: [logs, audit.events]\n      group: vigil\n      start: latest\n      batch_size: 500\ndestinations:\n  - type: storage\n  - { type: kafka, brokers: [127.0.0.1:9092], topic: out, format: raw, timeout: 5s }\n",
        "test.yaml",
        Path::new("."),
    )
    .unwrap();
    let ConnectorConfig::Kafka(k) = &c.collectors[0].connector else {
        panic!("not kafka");
    };
    assert_eq!(k.brokers, "127.0.0.1:9092,kafka-2.example:9093");
    assert_eq!(k.topics, ["logs", "audit.events"]);
    assert_eq!(k.group, "vigil");
    assert_eq!(k.start, KafkaStart::Latest);
    assert_eq!(k.batch_size, 500);
    assert_eq!(k.max_in_flight, 8);
    assert_eq!(k.max_message_size, 1 << 20);
    assert_eq!(
        c.destinations[1],
        DestinationConfig::Kafka(KafkaDestinationConfig {
            brokers: "127.0.0.1:9092".into(),
            topic: "out".into(),
            format: FileFormat::Raw,
            timeout: Duration::from_secs(5),
            buffer: BufferConfig {
                max_size: DEFAULT_BUFFER_SIZE,
            },
        })
    );

    let errs = errors(
        "version: 1\ncollectors:\n  - id: a\n    connector: { type: kafka, brokers: [], topics: [], group: '' }\n  - id: b\n    connector: { type: kafka, brokers: ['nohost', 'h:0'], topics: ['bad topic'], group: g, batch_size: 0 }\ndestinations:\n  - { type: kafka, brokers: [':9092'], topic: '..', timeout: never }\n",
    );
    let expected = [
        "collectors[0].connector.brokers: list at least one broker",
        "collectors[0].connector.topics: list at least one topic",
        "collectors[0].connector.group: name the consumer group",
        "collectors[1].connector.brokers[0]: 'nohost' is not `host:port`",
        "collectors[1].connector.brokers[1]: 'h:0' is not `host:port`",
        "collectors[1].connector.topics[0]: 'bad topic' is not a Kafka topic name",
        "collectors[1].connector.batch_size: 0 is out of range",
        "destinations[0].brokers[0]: ':9092' is not `host:port`",
        "destinations[0].topic: '..' is not a Kafka topic name",
        "destinations[0].timeout: 'never' is not a duration",
    ];
    for e in expected {
        assert!(
            errs.iter().any(|x| x.starts_with(e)),
            "missing '{e}' in {errs:#?}"
        );
    }
    assert_eq!(errs.len(), expected.len(), "{errs:#?}");
}

#[test]
fn snmp_trap_connector_defaults_and_errors() {
    let c = load_str(
        "version: 1\ncollectors:\n  - id: traps\n    connector:\n      type: snmp_trap\n      listen: 0.0.0.0:1162\n      oid_names: { .1.3.6.1.4.1.8072.2.3.0.1: netSnmpExampleHeartbeat }\n",
        "test.yaml",
        Path::new("."),
    )
    .unwrap();
    let ConnectorConfig::SnmpTrap(t) = &c.collectors[0].connector else {
        panic!("not snmp_trap");
    };
    assert_eq!(t.listen.to_string(), "0.0.0.0:1162");
    assert_eq!(t.udp_recv_buffer, DEFAULT_FLOW_RECV_BUFFER);
    assert_eq!(
        t.oid_names
            .get("1.3.6.1.4.1.8072.2.3.0.1")
            .map(String::as_str),
        Some("netSnmpExampleHeartbeat")
    );
    assert!(matches!(
        &c.collectors[0].normalizer,
        NormalizerConfig::Pack { name, .. } if name == "snmp"
    ));

    let errs = errors(
        "version: 1\ncollectors:\n  - id: a\n    connector: { type: snmp_trap, listen: 127.0.0.1:1162, oid_names: { 'iso.3.x': a, 1.3.6.1: 'bad name' } }\n  - id: b\n    connector: { type: snmp_trap, listen: 127.0.0.1:1162 }\n  - id: c\n    connector: { type: snmp_trap, listen: 'nowhere' }\n",
    );
    let expected = [
        "collectors[0].connector.oid_names[iso.3.x]: 'iso.3.x' is not a numeric OID",
        "collectors[0].connector.oid_names[1.3.6.1]: 'bad name' is not a name",
        "collectors[1].connector.listen: 127.0.0.1:1162/udp is already used by collectors[0].connector.listen",
        "collectors[2].connector.listen:",
    ];
    for e in expected {
        assert!(
            errs.iter().any(|x| x.starts_with(e)),
            "missing '{e}' in {errs:#?}"
        );
    }
    assert_eq!(errs.len(), expected.len(), "{errs:#?}");
}

#[test]
fn snmp_trap_v3_users_and_engine_id_are_checked_with_paths() {
    let dir = std::env::temp_dir().join(format!("vigil-config-snmp-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("auth"), "auth-passphrase\n").unwrap();
    std::fs::write(dir.join("short"), "short\n").unwrap();
    let auth = format!("${{file:{}}}", dir.join("auth").display());
    let short = format!("${{file:{}}}", dir.join("short").display());
    let c = load_str(
        &format!("version: 1\ncollectors:\n  - id: traps\n    connector:\n      type: snmp_trap\n      listen: 127.0.0.1:1162\n      engine_id: '0x80001f8804766967696c'\n      users:\n        - {{ name: alice, auth_protocol: sha256, auth_passphrase: '{auth}', priv_protocol: aes, priv_passphrase: '{auth}' }}\n        - {{ name: bob }}\n"),
        "test.yaml",
        Path::new("."),
    )
    .unwrap();
    let ConnectorConfig::SnmpTrap(t) = &c.collectors[0].connector else {
        panic!("not snmp_trap");
    };
    assert_eq!(
        t.engine_id.as_deref(),
        Some(&[0x80, 0x00, 0x1f, 0x88, 0x04, b'v', b'i', b'g', b'i', b'l'][..])
    );
    assert_eq!(t.users.len(), 2);
    assert_eq!(
        t.users[0].auth.as_ref().map(|a| a.0),
        Some(SnmpAuthProtocol::Sha256)
    );
    assert_eq!(
        t.users[0].privacy.as_ref().map(|p| p.1.expose()),
        Some("auth-passphrase")
    );
    assert!(t.users[1].auth.is_none() && t.users[1].privacy.is_none());

    let errs = errors(&format!(
        "version: 1\ncollectors:\n  - id: a\n    connector:\n      type: snmp_trap\n      listen: 127.0.0.1:1163\n      engine_id: '0x8000'\n      users:\n        - {{ name: alice, auth_protocol: md5 }}\n        - {{ name: alice, auth_protocol: sha, auth_passphrase: '{short}' }}\n        - {{ name: carol, priv_protocol: des, priv_passphrase: '${{env:VIGIL_TEST_SNMP_NOT_SET}}' }}\n        - {{ name: dave, auth_passphrase: 'literal-secret' }}\n  - id: b\n    connector: {{ type: snmp_trap, listen: 127.0.0.1:1164, engine_id: 'zz' }}\n"
    ));
    let _ = std::fs::remove_dir_all(&dir);
    let expected = [
        "collectors[0].connector.engine_id: 2 bytes",
        "collectors[0].connector.users[0].auth_passphrase: missing",
        "collectors[0].connector.users[1].name: user 'alice' is already defined at collectors[0].connector.users[0]",
        "collectors[0].connector.users[1].auth_passphrase: too short",
        "collectors[0].connector.users[2].priv_passphrase: environment variable VIGIL_TEST_SNMP_NOT_SET is not set",
        "collectors[0].connector.users[2].priv_protocol: privacy needs authentication",
        "collectors[0].connector.users[3].auth_passphrase: set without `auth_protocol`",
        "collectors[1].connector.engine_id: 'zz' is not hex bytes",
    ];
    for e in expected {
        assert!(
            errs.iter().any(|x| x.starts_with(e)),
            "missing '{e}' in {errs:#?}"
        );
    }
    assert_eq!(errs.len(), expected.len(), "{errs:#?}");
}

#[test]
fn sql_tls_options_and_a_missing_ca_are_listed_with_paths() {
    let dir = std::env::temp_dir().join(format!("vigil-config-sqltls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("ca.pem"),
        "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    std::fs::write(dir.join("not-pem.txt"), "hello").unwrap();
    let ca = dir.join("ca.pem");
    let c = load_str(
        &format!("version: 1\ncollectors:\n  - id: db\n    connector:\n      type: sql\n      url: postgres://vigil@db.example/app\n      query: SELECT * FROM t WHERE id > $1 ORDER BY id LIMIT 10\n      cursor_column: id\n      tls: {{ mode: verify_full, ca: '{}' }}\n", ca.display()),
        "test.yaml",
        Path::new("."),
    )
    .unwrap();
    let ConnectorConfig::Sql(s) = &c.collectors[0].connector else {
        panic!("not sql");
    };
    assert_eq!(s.tls, Some((SqlTlsMode::VerifyFull, Some(ca.clone()))));

    let missing = dir.join("nowhere/ca.pem");
    let errs = errors(&format!(
        "version: 1\ncollectors:\n  - id: a\n    connector: {{ type: sql, url: 'mysql://root@db/app', query: 'SELECT * FROM t WHERE id > ? LIMIT 5', cursor_column: id, tls: {{ mode: verify_ca, ca: '{}' }} }}\n  - id: b\n    connector: {{ type: sql, url: 'sqlite:/tmp/x.db', query: 'SELECT * FROM t WHERE id > ? LIMIT 5', cursor_column: id, tls: {{ mode: require }} }}\n  - id: c\n    connector: {{ type: sql, url: 'postgres://u@db/app', query: 'SELECT * FROM t WHERE id > $1 LIMIT 5', cursor_column: id, tls: {{ mode: prefer, ca: '{}' }} }}\n",
        missing.display(),
        dir.join("not-pem.txt").display()
    ));
    let expected = [
        format!(
            "collectors[0].connector.tls.ca: file {} does not exist",
            missing.display()
        ),
        "collectors[1].connector.tls: SQLite is a local file".to_owned(),
        format!(
            "collectors[2].connector.tls.ca: {}: no PEM certificate in it",
            dir.join("not-pem.txt").display()
        ),
        "collectors[2].connector.tls.ca: a CA is only used to verify".to_owned(),
    ];
    let _ = std::fs::remove_dir_all(&dir);
    for e in &expected {
        assert!(
            errs.iter().any(|x| x.starts_with(e.as_str())),
            "missing '{e}' in {errs:#?}"
        );
    }
    assert_eq!(errs.len(), expected.len(), "{errs:#?}");
}

#[test]
fn sflow_connector_defaults_and_errors() {
    let c = load_str(
        "version: 1\ncollectors:\n  - id: s\n    connector: { type: sflow, listen: 0.0.0.0:6343 }\n",
        "test.yaml",
        Path::new("."),
    )
    .unwrap();
    let ConnectorConfig::Sflow(f) = &c.collectors[0].connector else {
        panic!("not sflow");
    };
    assert_eq!(f.listen.to_string(), "0.0.0.0:6343");
    assert_eq!(f.udp_recv_buffer, DEFAULT_FLOW_RECV_BUFFER);
    assert!(matches!(
        &c.collectors[0].normalizer,
        NormalizerConfig::Pack { name, .. } if name == "sflow"
    ));
    let errs = errors(
        "version: 1\ncollectors:\n  - id: a\n    connector: { type: sflow, listen: 127.0.0.1:6343, udp_recv_buffer: 1KiB }\n  - id: b\n    connector: { type: netflow, listen: 127.0.0.1:6343 }\n",
    );
    let expected = [
        "collectors[0].connector.udp_recv_buffer:",
        "collectors[1].connector.listen: 127.0.0.1:6343/udp is already used by collectors[0].connector.listen",
    ];
    for e in expected {
        assert!(
            errs.iter().any(|x| x.starts_with(e)),
            "missing '{e}' in {errs:#?}"
        );
    }
    assert_eq!(errs.len(), expected.len(), "{errs:#?}");
}

/// Issue 14, "out of the box": the built-in configuration normalizes syslog with `auto` (every
/// program the packs know) and runs the shipped correlation pack embedded in the binary.
#[test]
fn the_default_config_runs_the_shipped_pack_on_auto_normalized_syslog() {
    let c = default_config().unwrap();
    assert!(matches!(
        c.collectors[0].normalizer,
        NormalizerConfig::Auto { .. }
    ));
    let corr = c.correlation.expect("a correlation section");
    assert_eq!(
        corr.rules,
        [std::path::PathBuf::from("builtin:correlation")]
    );
}
