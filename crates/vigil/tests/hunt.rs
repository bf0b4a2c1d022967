//! `vigil hunt` through the real binary: EVTX attack samples against the SigmaHQ rules, JSON
//! lines, text logs, broken EVTX files, filters and output formats.

#![allow(clippy::disallowed_methods, clippy::unwrap_used)] // test code: small files it wrote itself

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn vigil() -> Command {
    Command::new(env!("CARGO_BIN_EXE_vigil"))
}

fn corpora() -> Option<(PathBuf, PathBuf)> {
    let sigma = vigil_testkit::corpus("sigma")?;
    let samples = vigil_testkit::corpus("evtx-attack-samples")?;
    Some((sigma, samples))
}

fn hunt(args: &[&str], paths: &[&Path]) -> Output {
    let out = vigil().arg("hunt").args(args).args(paths).output().unwrap();
    assert!(
        out.status.success(),
        "hunt failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn jsonl(out: &Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn rule_ids(lines: &[serde_json::Value]) -> Vec<String> {
    lines
        .iter()
        .map(|l| l["rule"]["id"].as_str().unwrap_or("").to_string())
        .collect()
}

#[test]
fn evtx_attack_samples_fire_the_rules_they_are_named_after() {
    let Some((sigma, samples)) = corpora() else {
        return;
    };
    let rules = sigma.join("rules");
    // sample → a SigmaHQ rule that must fire on it
    let cases = [
        (
            "Credential Access/CA_DCSync_4662.evtx",
            "17d619c1-e020-4347-957e-1d1207455c93", // AD Replication from Non Machine Account - DcSync
        ),
        (
            "Defense Evasion/DE_104_system_log_cleared.evtx",
            "100ef69e-3327-481c-8e5c-6d80d9507556", // Important Windows Eventlog Cleared
        ),
        (
            "Credential Access/sysmon_10_lsass_mimikatz_sekurlsa_logonpasswords.evtx",
            "d0d2f720-d14f-448d-8242-51ff396a334e", // HackTool - Generic Process Access (mimikatz → lsass)
        ),
    ];
    let paths: Vec<PathBuf> = cases.iter().map(|(p, _)| samples.join(p)).collect();
    let path_refs: Vec<&Path> = paths.iter().map(PathBuf::as_path).collect();
    let out = hunt(
        &["--rules", rules.to_str().unwrap(), "--format", "jsonl"],
        &path_refs,
    );
    let lines = jsonl(&out);
    for (sample, id) in cases {
        let file = samples.join(sample).display().to_string();
        let found = lines
            .iter()
            .any(|l| l["rule"]["id"] == id && l["log"]["file"]["path"] == file.as_str());
        assert!(
            found,
            "{sample}: rule {id} did not fire; fired: {:?}",
            rule_ids(&lines)
        );
    }
    // every line carries the timeline fields
    for l in &lines {
        assert!(
            l["@timestamp"].as_str().is_some_and(|t| t.ends_with('Z')),
            "{l}"
        );
        assert!(l["rule"]["title"].is_string() && l["rule"]["level"].is_string());
        assert!(
            l["host"]["name"].is_string() && l["event"]["code"].is_string(),
            "{l}"
        );
        assert!(
            l["matched"].as_object().is_some_and(|m| !m.is_empty()),
            "{l}"
        );
    }
    // the timeline is sorted by time
    let times: Vec<&str> = lines
        .iter()
        .filter_map(|l| l["@timestamp"].as_str())
        .collect();
    assert!(
        times.windows(2).all(|w| w[0] <= w[1]),
        "timeline not sorted"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("hunted 3 files"), "{err}");
    assert!(
        err.contains("top rules:") && err.contains("top hosts:"),
        "{err}"
    );
}

#[test]
fn output_is_deterministic_across_thread_counts_and_formats() {
    let Some((sigma, samples)) = corpora() else {
        return;
    };
    let rules = sigma.join("rules");
    let dir = samples.join("Lateral Movement");
    let one = hunt(
        &[
            "--rules",
            rules.to_str().unwrap(),
            "--format",
            "csv",
            "--threads",
            "1",
        ],
        &[&dir],
    );
    let two = hunt(
        &[
            "--rules",
            rules.to_str().unwrap(),
            "--format",
            "csv",
            "--threads",
            "2",
        ],
        &[&dir],
    );
    assert_eq!(one.stdout, two.stdout);
    let csv = String::from_utf8_lossy(&one.stdout);
    assert!(csv.starts_with("@timestamp,rule.level,rule.title,rule.id,host.name,event.code"));
    assert!(csv.lines().count() > 5, "{csv}");
    let table = hunt(&["--rules", rules.to_str().unwrap()], &[&dir]);
    let t = String::from_utf8_lossy(&table.stdout);
    assert!(t.starts_with("@timestamp"), "{t}");
    let lines = jsonl(&hunt(
        &["--rules", rules.to_str().unwrap(), "-f", "jsonl"],
        &[&dir],
    ));
    assert_eq!(
        t.lines().count(),
        lines.len() + 1,
        "one table row per detection"
    );
}

#[test]
fn filters_level_tags_and_time() {
    let Some((sigma, samples)) = corpora() else {
        return;
    };
    let rules = sigma.join("rules");
    let dir = samples.join("Credential Access");
    let r = rules.to_str().unwrap();
    let all = jsonl(&hunt(&["--rules", r, "-f", "jsonl"], &[&dir]));
    let high = jsonl(&hunt(
        &["--rules", r, "-f", "jsonl", "--level", "high"],
        &[&dir],
    ));
    assert!(!high.is_empty() && high.len() < all.len());
    assert!(
        high.iter()
            .all(|l| l["rule"]["level"] == "high" || l["rule"]["level"] == "critical")
    );
    let tagged = jsonl(&hunt(
        &["--rules", r, "-f", "jsonl", "--tags", "attack.t1003"],
        &[&dir],
    ));
    assert!(!tagged.is_empty() && tagged.len() < all.len());
    for l in &tagged {
        let tags = l["rule"]["tags"].as_array().unwrap();
        assert!(
            tags.iter()
                .any(|t| t.as_str().unwrap().starts_with("attack.t1003")),
            "{l}"
        );
    }
    // a window that ends before the first event keeps nothing
    let none = hunt(
        &["--rules", r, "-f", "jsonl", "--to", "2000-01-01"],
        &[&dir],
    );
    assert!(none.stdout.is_empty());
    assert!(String::from_utf8_lossy(&none.stderr).contains("outside --from/--to"));
    // a window around the middle keeps a strict subset, all inside it
    let mut times: Vec<&str> = all
        .iter()
        .filter_map(|l| l["@timestamp"].as_str())
        .collect();
    times.sort();
    let mid = times[times.len() / 2];
    let later = jsonl(&hunt(
        &["--rules", r, "-f", "jsonl", "--from", mid],
        &[&dir],
    ));
    assert!(!later.is_empty() && later.len() < all.len());
    assert!(
        later
            .iter()
            .all(|l| l["@timestamp"].as_str().unwrap() >= mid)
    );
}

#[test]
fn jsonl_evtx_dump_and_text_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    std::fs::create_dir(&rules).unwrap();
    std::fs::write(
        rules.join("whoami.yml"),
        "title: Whoami\nid: 0b0b0b0b-1111-2222-3333-444444444444\nlevel: high\ntags: [attack.discovery]\n\
         logsource: {category: process_creation, product: windows}\n\
         detection:\n  sel: {Image|endswith: '\\whoami.exe'}\n  condition: sel\n",
    )
    .unwrap();
    std::fs::write(
        rules.join("kw.yml"),
        "title: Keyword\nid: 0c0c0c0c-1111-2222-3333-444444444444\nlevel: medium\n\
         logsource: {product: linux}\ndetection:\n  keywords: ['Accepted password for root']\n  condition: keywords\n",
    )
    .unwrap();
    // JSON lines (flat Sysmon fields), one broken line, and an evtx_dump-style pretty object
    let data = dir.path().join("events.jsonl");
    std::fs::write(
        &data,
        concat!(
            r#"{"@timestamp":"2024-05-01T10:00:02Z","Channel":"Microsoft-Windows-Sysmon/Operational","EventID":1,"Computer":"ws1","Image":"C:\\Windows\\System32\\whoami.exe"}"#,
            "\n{not json}\n",
            r#"{"@timestamp":"2024-05-01T10:00:01Z","Channel":"Microsoft-Windows-Sysmon/Operational","EventID":1,"Computer":"ws1","Image":"C:\\Windows\\explorer.exe"}"#,
            "\n{\n  \"Event\": {\n    \"System\": {\"EventID\": 1, \"Channel\": \"Microsoft-Windows-Sysmon/Operational\", \"Computer\": \"ws2\",\n",
            "      \"TimeCreated\": {\"#attributes\": {\"SystemTime\": \"2024-05-01T09:00:00.000000Z\"}}},\n",
            "    \"EventData\": {\"Image\": \"C:\\\\x\\\\WHOAMI.EXE\"}\n  }\n}\n",
        ),
    )
    .unwrap();
    let log = dir.path().join("auth.log");
    std::fs::write(
        &log,
        "May  1 10:00:00 srv sshd[1]: Accepted password for root from 10.0.0.1 port 22 ssh2\nMay  1 10:00:01 srv sshd[1]: session closed\n",
    )
    .unwrap();
    let out = hunt(
        &["--rules", rules.to_str().unwrap(), "--format", "jsonl"],
        &[&data],
    );
    let lines = jsonl(&out);
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0]["host"]["name"], "ws2");
    assert_eq!(lines[0]["@timestamp"], "2024-05-01T09:00:00Z");
    assert_eq!(lines[1]["host"]["name"], "ws1");
    assert_eq!(lines[1]["event"]["code"], "1");
    assert_eq!(
        lines[1]["matched"]["Image"],
        "C:\\Windows\\System32\\whoami.exe"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("read errors: 1 in 1 files"), "{err}");
    // text lines need --pipeline none for non-Windows rules
    let out = hunt(
        &[
            "--rules",
            rules.to_str().unwrap(),
            "-f",
            "jsonl",
            "-p",
            "none",
        ],
        &[&log],
    );
    let lines = jsonl(&out);
    assert_eq!(rule_ids(&lines), ["0c0c0c0c-1111-2222-3333-444444444444"]);
    assert_eq!(
        lines[0]["matched"]["<keyword>"]
            .as_str()
            .map(|s| s.contains("Accepted")),
        Some(true)
    );
    // --output writes the timeline to a file
    let file = dir.path().join("timeline.csv");
    let out = hunt(
        &[
            "--rules",
            rules.to_str().unwrap(),
            "-f",
            "csv",
            "-o",
            file.to_str().unwrap(),
        ],
        &[&data],
    );
    assert!(out.stdout.is_empty());
    assert_eq!(std::fs::read_to_string(&file).unwrap().lines().count(), 3);
}

#[test]
fn broken_evtx_files_are_reported_not_fatal() {
    let Some(parser) = vigil_testkit::corpus("evtx-rs-parser-samples") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("r.yml");
    std::fs::write(
        &rules,
        "title: Any\nid: 0d0d0d0d-1111-2222-3333-444444444444\nlevel: low\nlogsource: {product: windows}\n\
         detection:\n  sel: {EventID: 4624}\n  condition: sel\n",
    )
    .unwrap();
    let junk = dir.path().join("junk.evtx");
    std::fs::write(&junk, b"ElfFile\0 this is not really an event log").unwrap();
    let out = hunt(
        &[
            "--rules",
            rules.to_str().unwrap(),
            "-f",
            "jsonl",
            "-p",
            "none",
        ],
        &[&parser.join("samples"), &junk],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("read errors:"), "{err}");
    assert!(err.contains("junk.evtx"), "{err}");
    assert!(err.contains("sample_with_a_bad_chunk_magic.evtx"), "{err}");
    // the good records of the damaged files are still hunted
    assert!(!out.stdout.is_empty());
}

#[test]
fn usage_errors() {
    let out = vigil()
        .args([
            "hunt",
            "--rules",
            "/nonexistent-rules",
            "/nonexistent-input",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = vigil().args(["hunt", "/tmp"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "--rules is required");
    let out = vigil()
        .args(["hunt", "--rules", "x", "--level", "severe", "y"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// A Sigma correlation rule over the hunt timeline: 10 failed MSSQL logons (EventID 18456) on
/// one host within a second; `event_count >= 5` by `Computer` fires at the 5th and the 10th.
#[test]
fn correlation_rules_run_over_the_timeline() {
    let Some((sigma, samples)) = corpora() else {
        return;
    };
    let sample = samples.join("Credential Access/MSSQL_multiple_failed_logon_EventID_18456.evtx");
    let base =
        sigma.join("rules/windows/builtin/application/mssqlserver/win_mssql_failed_logon.yml");
    let dir = tempfile::tempdir().unwrap();
    let corr = |gte: u32, generate: bool| {
        format!(
            "title: MSSQL logon brute force\nid: 5f1c0a43-7e0b-4d2c-9a51-0c0ffee18456\nlevel: high\ntags: [attack.t1110]\ncorrelation:\n  type: event_count\n  rules: [218d2855-2bba-4f61-9c85-81d0ea63ac71]\n  group-by: [Computer]\n  timespan: 1m\n  generate: {generate}\n  condition: {{gte: {gte}}}\n"
        )
    };
    let run = |text: String| {
        let c = dir.path().join("corr.yml");
        std::fs::write(&c, text).unwrap();
        let out = hunt(
            &[
                "-r",
                base.to_str().unwrap(),
                "-r",
                c.to_str().unwrap(),
                "-f",
                "jsonl",
                "--no-progress",
            ],
            &[&sample],
        );
        (
            jsonl(&out),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };

    let (lines, stderr) = run(corr(5, false));
    let ids = rule_ids(&lines);
    // generate: false: the failed-logon rule's own hits are not in the timeline
    assert!(
        !ids.iter()
            .any(|i| i == "218d2855-2bba-4f61-9c85-81d0ea63ac71"),
        "{ids:?}"
    );
    let corr_lines: Vec<_> = lines
        .iter()
        .filter(|l| l["rule"]["id"] == "5f1c0a43-7e0b-4d2c-9a51-0c0ffee18456")
        .collect();
    assert_eq!(corr_lines.len(), 2, "{lines:?}");
    for l in &corr_lines {
        assert_eq!(l["matched"]["Computer"], "MSEDGEWIN10");
        assert_eq!(l["matched"]["correlation.count"], "5");
        assert_eq!(l["rule"]["level"], "high");
        assert!(
            l["@timestamp"]
                .as_str()
                .unwrap()
                .starts_with("2019-11-04T13:46:01")
        );
    }
    assert!(stderr.contains("1 correlation rules"), "{stderr}");
    assert!(
        stderr.contains("correlation rules fired 2 times"),
        "{stderr}"
    );

    // generate: true keeps the base hits; the threshold is not reached with 11.
    let (lines, _) = run(corr(11, true));
    let ids = rule_ids(&lines);
    assert_eq!(
        ids.iter()
            .filter(|i| *i == "218d2855-2bba-4f61-9c85-81d0ea63ac71")
            .count(),
        10
    );
    assert!(
        !ids.iter()
            .any(|i| i == "5f1c0a43-7e0b-4d2c-9a51-0c0ffee18456")
    );

    // --level filters correlation hits like any other; referenced rules still feed them.
    let c = dir.path().join("corr.yml");
    std::fs::write(&c, corr(5, true)).unwrap();
    let out = hunt(
        &[
            "-r",
            base.to_str().unwrap(),
            "-r",
            c.to_str().unwrap(),
            "-f",
            "jsonl",
            "--no-progress",
            "--level",
            "high",
        ],
        &[&sample],
    );
    let ids = rule_ids(&jsonl(&out));
    assert_eq!(ids.len(), 2, "{ids:?}"); // the base rule is low: only the correlations remain
}

/// Issue 11, point 7: `winlog.record_id` is the event's `EventRecordID` (what Event Viewer
/// shows), not the EVTX record header's number, which restarts at 1 in an exported log. The
/// one record of this sample has header number 1 and `<EventRecordID>27736</EventRecordID>`
/// (read with the evtx crate's XML output).
#[test]
fn winlog_record_id_is_the_events_event_record_id() {
    let Some((sigma, samples)) = corpora() else {
        return;
    };
    let rules = sigma.join("rules");
    let sample = samples.join("Defense Evasion/DE_104_system_log_cleared.evtx");
    let out = hunt(
        &["--rules", rules.to_str().unwrap(), "--format", "jsonl"],
        &[&sample],
    );
    let lines = jsonl(&out);
    let hit = lines
        .iter()
        .find(|l| l["rule"]["id"] == "100ef69e-3327-481c-8e5c-6d80d9507556")
        .unwrap_or_else(|| panic!("the log-cleared rule did not fire: {lines:?}"));
    assert_eq!(hit["winlog"]["record_id"], 27736, "{hit}");
}
