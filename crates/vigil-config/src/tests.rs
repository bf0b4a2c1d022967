use std::path::Path;

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
    let ConnectorConfig::Syslog(s) = &c.collectors[0].connector;
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
        "collectors[1].connector: unknown field `frobnicate`",
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
fn filters_and_enrichment_read_as_written() {
    let c = load_str(
        "version: 1\ncollectors:\n  - id: a\n    connector: { type: syslog, tcp: 127.0.0.1:5514 }\n    filters:\n      - drop: 'process.name:CRON'\n      - keep: '*'\n    enrichment:\n      - set: { field: observer.name, value: dc1 }\n      - copy: { from: source.ip, to: host.ip }\n",
        "t",
        Path::new("."),
    )
    .unwrap();
    let f = &c.collectors[0].filters;
    assert_eq!(
        (f[0].keep, f[0].query.as_str(), f[0].path.as_str()),
        (false, "process.name:CRON", "collectors[0].filters[0]")
    );
    assert!(f[1].keep);
    assert_eq!(c.collectors[0].enrichment.len(), 2);
    let errs = errors(
        "version: 1\ncollectors:\n  - id: a\n    connector: { type: syslog, tcp: 127.0.0.1:5514 }\n    filters:\n      - reject: x\n",
    );
    assert!(
        errs[0].starts_with(
            "collectors[0].filters[0].reject: unknown field `reject`, expected `keep` or `drop`"
        ),
        "{errs:?}"
    );
    let errs = errors(
        "version: 1\ncollectors:\n  - id: a\n    connector: { type: syslog, tcp: 127.0.0.1:5514 }\n    filters:\n      - { keep: a, drop: b }\n",
    );
    assert_eq!(
        errs,
        vec!["collectors[0].filters[0]: write exactly one of `keep: QUERY` or `drop: QUERY`"]
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
    format: xml
  - type: file
    path: out/a.jsonl
"#,
    );
    assert_eq!(
        errs,
        vec![
            "destinations[1]: storage is listed twice; events would be stored twice".to_string(),
            "destinations[2].format: unknown format \"xml\": use json or raw".to_string(),
            "destinations[3].path: ./out/a.jsonl is already written by another destination"
                .to_string(),
        ]
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
    let current = std::fs::read_to_string(&path).unwrap_or_default();
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
