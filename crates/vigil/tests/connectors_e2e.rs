//! Connectors and destinations through the binary (issue 16): `vigil up` with a `file` and an
//! `evtx` connector, events searched through the API; a second `vigil up` fed by an `http`
//! destination whose receiver is stopped for a minute under load; `vigil validate` on `sql`
//! connectors with a bad URL and an unreachable database.

#![allow(
    clippy::disallowed_methods,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

mod support;

use std::collections::BTreeMap;
use std::io::Write as _;
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use support::{Vigil, free_port, tmp, vigil};

/// How many events `q` finds, over all time (EVTX samples are years old).
fn count_all(v: &Vigil, q: &str) -> u64 {
    let t = v.search_range(&format!("{q} | count"), Some("0"), None);
    t["rows"][0][0].as_u64().unwrap_or(0)
}

/// Waits (at most `secs`) until `q` counts at least `want`; the last count.
fn wait_all(v: &Vigil, q: &str, want: u64, secs: u64) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let n = count_all(v, q);
        if n >= want || Instant::now() > deadline {
            return n;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A `file` connector on a log file and an `evtx` connector on a corpus sample, in one `vigil
/// up`: every line and every record searchable, with the right counts, the file's events
/// carrying `log.file.path`.
#[test]
fn file_and_evtx_connectors_in_vigil_up_are_searchable() {
    let Some(corpus) = vigil_testkit::corpus("evtx-rs-parser-samples") else {
        return;
    };
    // 126 records (full_parse_counts of the corpus' EXPECTED.yml), all Security channel
    let evtx = corpus.join("samples/post-Security.evtx");
    let dir = tmp();
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let app = logs.join("app.log");
    let mut f = std::fs::File::create(&app).unwrap();
    for i in 0..1500 {
        writeln!(f, "filetail service=billing step={i} status=ok").unwrap();
    }
    drop(f);
    let cfg = dir.path().join("vigil.yaml");
    std::fs::write(
        &cfg,
        format!(
            "version: 1
collectors:
  - id: syslog
    connector: {{ type: syslog, tcp: \"127.0.0.1:5514\" }}
  - id: applog
    connector:
      type: file
      paths: [\"{logs}/*.log\"]
      poll_interval: 50ms
      scan_interval: 200ms
  - id: winlogs
    connector:
      type: evtx
      paths: [\"{evtx}\"]
destinations:
  - type: storage
",
            logs = logs.display(),
            evtx = evtx.display()
        ),
    )
    .unwrap();
    let data = dir.path().join("data");
    let v = Vigil::start(&data, Some(&cfg));
    assert_eq!(wait_all(&v, "vigil.source:applog", 1500, 120), 1500);
    assert_eq!(wait_all(&v, "vigil.source:winlogs", 126, 120), 126);
    // lines appended while running are followed
    let mut f = std::fs::OpenOptions::new().append(true).open(&app).unwrap();
    for i in 1500..1600 {
        writeln!(f, "filetail service=billing step={i} status=ok").unwrap();
    }
    drop(f);
    assert_eq!(wait_all(&v, "vigil.source:applog", 1600, 60), 1600);
    // the file's events say where they came from, and that is searchable
    let path = app.display().to_string();
    assert_eq!(
        count_all(&v, &format!("log.file.path:\"{path}\"")),
        1600,
        "every line has log.file.path {path}"
    );
    let r = v.search_range("vigil.source:applog", Some("0"), None);
    let ev = &r["events"][0];
    assert_eq!(
        ev["log"]["file"]["path"].as_str(),
        Some(path.as_str()),
        "{ev}"
    );
    assert!(ev["log"]["file"]["offset"].is_u64(), "{ev}");
    // the EVTX records were normalized as Windows events
    assert_eq!(
        count_all(&v, "vigil.source:winlogs AND winlog.channel:Security"),
        126
    );
    // a restart reads nothing twice
    v.stop();
    let v = Vigil::start(&data, Some(&cfg));
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(count_all(&v, "vigil.source:applog"), 1600);
    assert_eq!(count_all(&v, "vigil.source:winlogs"), 126);
    v.stop();
}

/// How often each `n=` of `prefix` is stored in `v` (from `message`, or from the raw record
/// when the receiver kept the forwarded JSON document as it came).
fn stored(v: &Vigil, prefix: &str) -> BTreeMap<u64, u64> {
    let r = v.search_range(prefix, Some("0"), None);
    let mut seen = BTreeMap::new();
    for e in r["events"].as_array().cloned().unwrap_or_default() {
        let text = e["message"]
            .as_str()
            .or_else(|| e["event"]["original"].as_str())
            .unwrap_or_default();
        let n = text.rsplit_once(" n=").and_then(|(_, rest)| {
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            digits.parse::<u64>().ok()
        });
        if let Some(n) = n {
            *seen.entry(n).or_insert(0) += 1;
        }
    }
    seen
}

/// A central Vigil that receives forwarded events on its `http` connector.
fn receiver_config(dir: &Path, port: u16) -> std::path::PathBuf {
    let cfg = dir.join("central.yaml");
    std::fs::write(
        &cfg,
        format!(
            "version: 1
collectors:
  - id: syslog
    connector: {{ type: syslog, tcp: \"127.0.0.1:5514\" }}
  - id: forwarded
    connector:
      type: http
      listen: 127.0.0.1:{port}
      tokens: [\"forwarding-secret-1\"]
    normalizer: {{ type: auto }}
destinations:
  - type: storage
"
        ),
    )
    .unwrap();
    cfg
}

/// A collector Vigil: syslog over TCP in (on the address `vigil up --syslog-addr` gives it), the
/// store and an `http` destination (NDJSON into the central Vigil's `/ingest`) out.
fn sender_config(dir: &Path, central: u16) -> std::path::PathBuf {
    let cfg = dir.join("edge.yaml");
    std::fs::write(
        &cfg,
        format!(
            "version: 1
collectors:
  - id: edge
    connector: {{ type: syslog, tcp: \"127.0.0.1:5514\" }}
destinations:
  - type: storage
  - type: http
    url: http://127.0.0.1:{central}/ingest
    token: forwarding-secret-1
    timeout: 5s
"
        ),
    )
    .unwrap();
    cfg
}

/// The receiver of an `http` destination stopped for one minute while events keep coming:
/// the disk buffer holds them, and once the receiver is back every event arrives exactly once.
#[test]
fn http_destination_survives_its_receiver_stopped_for_a_minute_under_load() {
    const TOTAL: u64 = 9000;
    let dir = tmp();
    let central_port = free_port();
    let central_cfg = receiver_config(dir.path(), central_port);
    let edge_cfg = sender_config(dir.path(), central_port);
    let central_data = dir.path().join("central");
    let central = Vigil::start(&central_data, Some(&central_cfg));
    let edge = Vigil::start(&dir.path().join("edge"), Some(&edge_cfg));
    let edge_syslog = edge.syslog;

    // about 100 events a second for 90 s, over one TCP connection
    let sender = std::thread::spawn(move || {
        let mut s = TcpStream::connect(edge_syslog).unwrap();
        let start = Instant::now();
        for n in 0..TOTAL {
            let due = start + Duration::from_millis(n * 10);
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            writeln!(
                s,
                "<134>Dec  7 10:00:00 edge app[1]: forwardload event n={n}"
            )
            .unwrap();
        }
        s.flush().unwrap();
    });
    // the receiver goes away after 10 s, for one minute
    std::thread::sleep(Duration::from_secs(10));
    let before = stored(&central, "forwardload").len();
    assert!(before > 0, "nothing forwarded before the outage");
    central.stop();
    std::thread::sleep(Duration::from_secs(60));
    let metrics = edge.metrics();
    let central = Vigil::start(&central_data, Some(&central_cfg));
    sender.join().unwrap();

    // everything arrives, once
    let deadline = Instant::now() + Duration::from_secs(180);
    let mut s = stored(&central, "forwardload");
    while (s.len() as u64) < TOTAL && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(500));
        s = stored(&central, "forwardload");
    }
    let missing: Vec<u64> = (0..TOTAL).filter(|n| !s.contains_key(n)).collect();
    let twice: Vec<u64> = s.iter().filter(|(_, c)| **c > 1).map(|(n, _)| *n).collect();
    assert!(
        missing.is_empty(),
        "not delivered: {} e.g. {:?} (delivered before the outage: {before})",
        missing.len(),
        &missing[..missing.len().min(10)]
    );
    assert!(
        twice.is_empty(),
        "delivered twice: {} e.g. {:?}",
        twice.len(),
        &twice[..twice.len().min(10)]
    );
    // the edge kept its own copy, and its buffer held the outage
    assert_eq!(stored(&edge, "forwardload").len() as u64, TOTAL);
    assert!(
        metrics.contains("buffer"),
        "the destination's buffer is in the metrics: {metrics}"
    );
    edge.stop();
    central.stop();
}

/// Runs `vigil validate -c` on `yaml`: (success, stderr).
fn validate(dir: &Path, yaml: &str) -> (bool, String) {
    let cfg = dir.join("validate.yaml");
    std::fs::write(&cfg, yaml).unwrap();
    let out = vigil()
        .arg("validate")
        .arg("-c")
        .arg(&cfg)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `vigil validate` names each `sql` connector's problem by its path: a URL that cannot be
/// parsed (a configuration error), and a database that does not answer (asked, as `vigil up`
/// would at start).
#[test]
fn validate_lists_a_bad_sql_url_and_an_unreachable_database() {
    let dir = tmp();
    let sql = |id: &str, url: &str| {
        format!(
            "  - id: {id}
    connector:
      type: sql
      url: {url}
      query: SELECT * FROM t WHERE id > $1
      cursor_column: id
      timeout: 3s
"
        )
    };
    let head = "version: 1\ncollectors:\n";
    let tail = "destinations:\n  - type: storage\n";
    let (ok, err) = validate(
        dir.path(),
        &format!(
            "{head}{}{tail}",
            sql("badurl", "postgres://postgres@127.0.0.1:99999/test")
        ),
    );
    assert!(!ok, "{err}");
    assert!(
        err.contains("collectors[0].connector.url: '99999' is not a port"),
        "{err}"
    );
    // nothing listens on port 1; PostgreSQL on 127.0.0.1:5432 where the tests run
    let (ok, err) = validate(
        dir.path(),
        &format!(
            "{head}{}{}{tail}",
            sql("db", "postgres://postgres@127.0.0.1:5432/test"),
            sql("nodb", "postgres://postgres@127.0.0.1:1/test")
        ),
    );
    assert!(!ok, "{err}");
    assert!(err.contains("1 problem"), "{err}");
    assert!(
        err.contains(
            "collectors[1].connector.url: cannot connect to the database \
             postgres://postgres@127.0.0.1:1/test"
        ),
        "{err}"
    );
    let (ok, err) = validate(
        dir.path(),
        &format!(
            "{head}{}{tail}",
            sql("db", "postgres://postgres@127.0.0.1:5432/test")
        ),
    );
    assert!(ok, "{err}");
}
