//! The HTTP connector (`type: http`) in a real `vigil up`, fed by `curl`: NDJSON on `/ingest`,
//! a gzip `_bulk` body with basic auth, HEC events with `Splunk <token>`, and a wrong token.

#![allow(clippy::disallowed_methods, clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::Path;
use std::process::Command;

use support::{Vigil, free_port, tmp};

const TOKEN: &str = "test-token-0123456789";

/// `curl` posting `file` to `url` with `headers`; returns the status and the body.
fn curl(url: &str, headers: &[&str], file: &Path) -> (u16, String) {
    let mut cmd = Command::new("curl");
    cmd.args([
        "-sS",
        "--max-time",
        "30",
        "-w",
        "\n%{http_code}",
        "-X",
        "POST",
    ]);
    for h in headers {
        cmd.args(["-H", h]);
    }
    cmd.arg("--data-binary")
        .arg(format!("@{}", file.display()))
        .arg(url);
    let out = cmd.output().expect("curl runs");
    let text = String::from_utf8(out.stdout).unwrap();
    let (body, code) = text.rsplit_once('\n').unwrap();
    (code.trim().parse().unwrap(), body.to_owned())
}

#[test]
fn curl_posts_ndjson_bulk_and_hec_events_that_are_searchable() {
    let dir = tmp();
    let hport = free_port();
    let cfg = dir.path().join("vigil.yaml");
    std::fs::write(
        &cfg,
        format!(
            "version: 1\ncollectors:\n  - id: syslog\n    connector: {{ type: syslog, tcp: \"127.0.0.1:5514\" }}\n  - id: web\n    connector:\n      type: http\n      listen: 127.0.0.1:{hport}\n      tokens: [{TOKEN}]\n    normalizer: {{ type: auto }}\n"
        ),
    )
    .unwrap();
    let data = dir.path().join("data");
    let v = Vigil::start(&data, Some(&cfg));
    let base = format!("http://127.0.0.1:{hport}");
    let bearer = format!("Authorization: Bearer {TOKEN}");

    // NDJSON, one malformed line kept
    let f = dir.path().join("a.ndjson");
    std::fs::write(
        &f,
        "{\"message\":\"ndjsonalpha one\"}\n{\"message\":\"ndjsonalpha two\"}\nndjsonalpha not json\n",
    )
    .unwrap();
    let (s, b) = curl(&format!("{base}/ingest"), &[&bearer], &f);
    assert_eq!(s, 200, "{b}");
    let r: serde_json::Value = serde_json::from_str(&b).unwrap();
    assert_eq!(r["accepted"], 3);
    assert_eq!(r["malformed"], 1);

    // a JSON array
    std::fs::write(
        &f,
        "[{\"message\":\"arraybeta 1\"},{\"message\":\"arraybeta 2\"}]",
    )
    .unwrap();
    let (s, b) = curl(&format!("{base}/ingest"), &[&bearer], &f);
    assert_eq!(s, 200, "{b}");

    // _bulk, gzip, basic auth as Beats sends it
    let bulk = dir.path().join("bulk.ndjson");
    let mut body = String::new();
    for i in 0..50 {
        body.push_str("{\"index\":{\"_index\":\"filebeat\"}}\n");
        body.push_str(&format!("{{\"message\":\"bulkgamma {i}\"}}\n"));
    }
    body.push_str("{\"delete\":{\"_id\":\"x\"}}\n");
    std::fs::write(&bulk, body).unwrap();
    assert!(
        Command::new("gzip")
            .arg("-kf")
            .arg(&bulk)
            .status()
            .unwrap()
            .success()
    );
    let gz = dir.path().join("bulk.ndjson.gz");
    let (s, b) = curl(
        &format!("{base}/filebeat/_bulk"),
        &[
            "Content-Encoding: gzip",
            "Content-Type: application/x-ndjson",
        ],
        &gz,
    );
    assert_eq!(s, 401, "no credentials: {b}");
    let out = Command::new("curl")
        .args([
            "-sS",
            "-u",
            &format!("elastic:{TOKEN}"),
            "-H",
            "Content-Encoding: gzip",
        ])
        .args(["-H", "Content-Type: application/x-ndjson", "--data-binary"])
        .arg(format!("@{}", gz.display()))
        .arg(format!("{base}/_bulk"))
        .output()
        .unwrap();
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["errors"], true, "the delete is refused per item");
    let items = r["items"].as_array().unwrap();
    assert_eq!(items.len(), 51);
    assert_eq!(items[0]["index"]["status"], 201);
    assert_eq!(items[0]["index"]["_index"], "filebeat");
    assert_eq!(items[50]["delete"]["status"], 400);

    // HEC
    let hec = dir.path().join("hec.json");
    std::fs::write(
        &hec,
        "{\"event\":\"hecdelta first\",\"sourcetype\":\"x\"}{\"event\":{\"message\":\"hecdelta second\"}}",
    )
    .unwrap();
    let splunk = format!("Authorization: Splunk {TOKEN}");
    let (s, b) = curl(
        &format!("{base}/services/collector/event"),
        &[&splunk],
        &hec,
    );
    assert_eq!(s, 200, "{b}");
    let r: serde_json::Value = serde_json::from_str(&b).unwrap();
    assert_eq!(r, serde_json::json!({"text": "Success", "code": 0}));
    std::fs::write(&hec, "hecraw line one\nhecraw line two\n").unwrap();
    let (s, b) = curl(&format!("{base}/services/collector/raw"), &[&splunk], &hec);
    assert_eq!(s, 200, "{b}");

    // a wrong token
    let (s, b) = curl(
        &format!("{base}/services/collector/event"),
        &["Authorization: Splunk wrong-token-000000"],
        &hec,
    );
    assert_eq!(s, 401, "{b}");
    let (s, _) = curl(
        &format!("{base}/ingest"),
        &["Authorization: Bearer wrong-token-000000"],
        &f,
    );
    assert_eq!(s, 401);

    assert_eq!(v.wait_count("ndjsonalpha", 3), 3);
    assert_eq!(v.wait_count("arraybeta", 2), 2);
    assert_eq!(v.wait_count("bulkgamma", 50), 50);
    assert_eq!(v.wait_count("hecdelta", 2), 2);
    assert_eq!(v.wait_count("hecraw", 2), 2);
    assert_eq!(v.count("vigil.source:web"), 59);
    v.stop();
}

/// HEC indexer acknowledgement against the real store: `curl` posts events on a channel, gets
/// `ackId`s, and polls `/services/collector/ack` until the store has them (true, once); the
/// events are then searchable.
#[test]
fn curl_hec_acks_turn_true_once_the_store_has_the_events() {
    let dir = tmp();
    let hport = free_port();
    let sport = free_port();
    let cfg = dir.path().join("vigil.yaml");
    std::fs::write(
        &cfg,
        format!(
            "version: 1\ncollectors:\n  - id: syslog\n    connector: {{ type: syslog, tcp: \"127.0.0.1:{sport}\" }}\n  - id: hec\n    connector:\n      type: http\n      listen: 127.0.0.1:{hport}\n      tokens: [{TOKEN}]\n      hec_acknowledgements: true\n    normalizer: {{ type: auto }}\n"
        ),
    )
    .unwrap();
    let v = Vigil::start(&dir.path().join("data"), Some(&cfg));
    let base = format!("http://127.0.0.1:{hport}");
    let splunk = format!("Authorization: Splunk {TOKEN}");
    let channel = "X-Splunk-Request-Channel: 0b2a3a5e-3f1c-4d8e-9f00-5d6b7a8c9d01";
    let f = dir.path().join("hec.json");

    std::fs::write(&f, "{\"event\":\"hecackzeta no channel\"}").unwrap();
    let (s, b) = curl(&format!("{base}/services/collector/event"), &[&splunk], &f);
    assert_eq!(s, 400, "{b}");
    assert!(b.contains("\"code\":10"), "{b}");

    let mut ids = Vec::new();
    for i in 0..5 {
        std::fs::write(
            &f,
            format!("{{\"event\":\"hecackzeta {i}a\"}}{{\"event\":\"hecackzeta {i}b\"}}"),
        )
        .unwrap();
        let (s, b) = curl(
            &format!("{base}/services/collector/event"),
            &[&splunk, channel],
            &f,
        );
        assert_eq!(s, 200, "{b}");
        let r: serde_json::Value = serde_json::from_str(&b).unwrap();
        ids.push(r["ackId"].as_u64().unwrap());
    }
    assert_eq!(ids, [0, 1, 2, 3, 4]);

    // poll as a Splunk forwarder does, bounded
    let query = dir.path().join("ack.json");
    std::fs::write(&query, "{\"acks\":[0,1,2,3,4]}").unwrap();
    let mut durable = std::collections::BTreeSet::new();
    for _ in 0..120 {
        let (s, b) = curl(
            &format!("{base}/services/collector/ack"),
            &[&splunk, channel],
            &query,
        );
        assert_eq!(s, 200, "{b}");
        let r: serde_json::Value = serde_json::from_str(&b).unwrap();
        for (id, d) in r["acks"].as_object().unwrap() {
            if d == true {
                assert!(durable.insert(id.clone()), "ack {id} reported twice");
            }
        }
        if durable.len() == 5 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    assert_eq!(durable.len(), 5, "durable: {durable:?}");
    // every acknowledged event is in the store (durable in its log; searchable shortly)
    assert_eq!(v.wait_count("hecackzeta", 10), 10);
    v.stop();
}

/// rsyslog's `omelasticsearch` module, Debian's `rsyslog-elasticsearch`.
const OMELASTICSEARCH: &str = "/usr/lib/x86_64-linux-gnu/rsyslog/omelasticsearch.so";

/// The real peer: rsyslogd (in the foreground, its own config and ports) receives syslog over
/// TCP and ships it with `omelasticsearch` in bulk mode, basic auth, into `/_bulk`. Skipped
/// (with a message) only when rsyslogd or its elasticsearch module is not installed.
#[test]
fn rsyslog_omelasticsearch_ships_into_bulk() {
    if !Path::new(OMELASTICSEARCH).exists() || Command::new("rsyslogd").arg("-v").output().is_err()
    {
        eprintln!(
            "skipped: rsyslogd with omelasticsearch (Debian rsyslog-elasticsearch) is not installed"
        );
        return;
    }
    let dir = tmp();
    let hport = free_port();
    let rport = free_port();
    let cfg = dir.path().join("vigil.yaml");
    std::fs::write(
        &cfg,
        format!(
            "version: 1\ncollectors:\n  - id: syslog\n    connector: {{ type: syslog, tcp: \"127.0.0.1:5514\" }}\n  - id: es\n    connector:\n      type: http\n      listen: 127.0.0.1:{hport}\n      tokens: [{TOKEN}]\n    normalizer: {{ type: auto }}\n"
        ),
    )
    .unwrap();
    let v = Vigil::start(&dir.path().join("data"), Some(&cfg));
    let work = dir.path().join("rsyslog");
    std::fs::create_dir(&work).unwrap();
    let conf = work.join("rsyslog.conf");
    std::fs::write(
        &conf,
        format!(
            r#"global(workDirectory="{w}")
module(load="imtcp")
module(load="omelasticsearch")
template(name="doc" type="string" string="{{\"message\":\"%msg:::json%\",\"host\":\"%hostname:::json%\"}}")
input(type="imtcp" address="127.0.0.1" port="{rport}" ruleset="es")
ruleset(name="es") {{
  action(type="omelasticsearch" server="127.0.0.1" serverport="{hport}" template="doc"
         searchIndex="rsyslog" bulkmode="on" uid="rsyslog" pwd="{TOKEN}"
         errorFile="{w}/errors.json" action.resumeRetryCount="-1")
}}
"#,
            w = work.display()
        ),
    )
    .unwrap();
    let mut rsyslog = Command::new("rsyslogd")
        .args(["-n", "-f"])
        .arg(&conf)
        .arg("-i")
        .arg(work.join("rsyslog.pid"))
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(work.join("rsyslogd.log")).unwrap())
        .spawn()
        .unwrap();
    // wait for its TCP input
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut s = loop {
        match std::net::TcpStream::connect(("127.0.0.1", rport)) {
            Ok(s) => break s,
            Err(_) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            Err(e) => panic!("rsyslogd did not listen: {e}"),
        }
    };
    for i in 0..200 {
        use std::io::Write;
        writeln!(s, "<13>Dec  7 10:00:00 web01 app: rsyslogepsilon event {i}").unwrap();
    }
    drop(s);
    let n = v.wait_count("rsyslogepsilon", 200);
    let errors = std::fs::read_to_string(work.join("errors.json")).unwrap_or_default();
    Command::new("kill")
        .args(["-TERM", &rsyslog.id().to_string()])
        .status()
        .unwrap();
    let _ = rsyslog.wait();
    assert_eq!(
        n,
        200,
        "rsyslog errors: {errors}\nrsyslogd log: {}",
        std::fs::read_to_string(work.join("rsyslogd.log")).unwrap_or_default()
    );
    assert!(errors.is_empty(), "{errors}");
    assert_eq!(v.count("vigil.source:es"), 200);
    v.stop();
}

/// syslog-ng unpacked privately by `scripts/test` (Debian's syslog-ng-core conflicts with the
/// rsyslog package this machine has), with its `http` module.
const SYSLOG_NG_ROOT: &str = "/opt/syslog-ng-root";

/// The real peer: syslog-ng 3.38's `http()` destination (Debian `syslog-ng-mod-http`) reads a
/// file of 300 syslog lines and posts them in `_bulk` batches of 50 (`index` action lines,
/// basic auth). syslog-ng must count every message `written` (it takes the answer as
/// accepted) and none `dropped`, and Vigil must hold exactly 300. Skipped (with a message)
/// only when syslog-ng is not unpacked.
#[test]
fn syslog_ng_http_destination_ships_into_bulk() {
    let root = Path::new(SYSLOG_NG_ROOT);
    let bin = root.join("usr/sbin/syslog-ng");
    let modules = root.join("usr/lib/syslog-ng/3.38");
    if !bin.exists() || !modules.join("libhttp.so").exists() {
        eprintln!(
            "skipped: syslog-ng with its http module is not unpacked in {SYSLOG_NG_ROOT} (scripts/test does it)"
        );
        return;
    }
    let dir = tmp();
    let hport = free_port();
    let sport = free_port();
    let cfg = dir.path().join("vigil.yaml");
    std::fs::write(
        &cfg,
        format!(
            "version: 1\ncollectors:\n  - id: syslog\n    connector: {{ type: syslog, tcp: \"127.0.0.1:{sport}\" }}\n  - id: sng\n    connector:\n      type: http\n      listen: 127.0.0.1:{hport}\n      tokens: [{TOKEN}]\n    normalizer: {{ type: auto }}\n"
        ),
    )
    .unwrap();
    let v = Vigil::start(&dir.path().join("data"), Some(&cfg));
    let work = dir.path().join("syslog-ng");
    std::fs::create_dir(&work).unwrap();
    let input = work.join("in.log");
    let mut lines = String::new();
    for i in 0..300 {
        lines.push_str(&format!(
            "<13>Dec  7 10:00:00 web01 app: syslogngtheta event {i}\n"
        ));
    }
    std::fs::write(&input, lines).unwrap();
    let conf = work.join("syslog-ng.conf");
    std::fs::write(
        &conf,
        format!(
            r#"@version: 3.38
options {{ stats-level(1); }};
source s_in {{ file("{input}" follow-freq(1)); }};
destination d_bulk {{
  http(url("http://127.0.0.1:{hport}/_bulk") method("POST") user("elastic") password("{TOKEN}")
       headers("Content-Type: application/x-ndjson")
       body("{{\"index\":{{\"_index\":\"syslog-ng\"}}}}\n$(format-json message=$MESSAGE host=$HOST program=$PROGRAM)")
       body-suffix("\n") batch-lines(50) batch-timeout(500));
}};
log {{ source(s_in); destination(d_bulk); }};
"#,
            input = input.display()
        ),
    )
    .unwrap();
    let lib = root.join("usr/lib/syslog-ng");
    let ctl = work.join("ctl");
    let mut sng = Command::new(&bin)
        .env("LD_LIBRARY_PATH", &lib)
        .args(["-F", "--no-caps", "-f"])
        .arg(&conf)
        .arg(format!("--module-path={}", modules.display()))
        .arg("-R")
        .arg(work.join("persist"))
        .arg("-p")
        .arg(work.join("pid"))
        .arg("-c")
        .arg(&ctl)
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(work.join("syslog-ng.log")).unwrap())
        .spawn()
        .unwrap();
    // syslog-ng's own counters of the destination, polled (bounded) until all are written
    let stat = |name: &str| -> Option<u64> {
        let out = Command::new(root.join("usr/sbin/syslog-ng-ctl"))
            .env("LD_LIBRARY_PATH", &lib)
            .args(["stats", "-c"])
            .arg(&ctl)
            .output()
            .ok()?;
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .find(|l| l.starts_with("dst.http;d_bulk") && l.contains(&format!(";{name};")))
            .and_then(|l| l.rsplit(';').next()?.trim().parse().ok())
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let mut written = None;
    while std::time::Instant::now() < deadline {
        written = stat("written");
        if written == Some(300) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let dropped = stat("dropped");
    Command::new("kill")
        .args(["-TERM", &sng.id().to_string()])
        .status()
        .unwrap();
    let _ = sng.wait();
    let log = std::fs::read_to_string(work.join("syslog-ng.log")).unwrap_or_default();
    assert_eq!(written, Some(300), "syslog-ng log: {log}");
    assert_eq!(dropped, Some(0), "syslog-ng log: {log}");
    assert_eq!(v.wait_count("syslogngtheta", 300), 300);
    assert_eq!(v.count("vigil.source:sng"), 300);
    v.stop();
}
