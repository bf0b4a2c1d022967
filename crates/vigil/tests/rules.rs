//! `vigil rules lint` and `vigil rules test` through the real binary.

#![allow(clippy::disallowed_methods, clippy::unwrap_used)] // test code: small files it wrote itself

use std::process::{Command, Output};

fn vigil() -> Command {
    Command::new(env!("CARGO_BIN_EXE_vigil"))
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn last_line(s: &str) -> &str {
    s.lines().last().unwrap_or("")
}

#[test]
fn every_sigmahq_regression_case_passes() {
    let Some(sigma) = vigil_testkit::corpus("sigma") else {
        return;
    };
    let out = vigil()
        .args(["rules", "test"])
        .arg(&sigma)
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(
        last_line(&stdout),
        "142 passed, 0 failed",
        "{stdout}\n{stderr}"
    );
    assert_eq!(out.status.code(), Some(0));
    assert!(stderr.contains("3720 loaded"), "{stderr}");
    assert!(
        stderr.contains("1 case files without an active test"),
        "{stderr}"
    );
}

#[test]
fn a_failing_case_fails_the_run() {
    let Some(sigma) = vigil_testkit::corpus("sigma") else {
        return;
    };
    // one real case folder, its info.yml asking for more matches than the data has
    let case = "regression_data/rules/windows/builtin/security/win_security_explicit_credential_local_logon";
    let src = sigma.join(case);
    let dir = tempfile::tempdir().unwrap();
    let dst = dir.path().join(case);
    std::fs::create_dir_all(&dst).unwrap();
    for e in std::fs::read_dir(&src).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), dst.join(e.file_name())).unwrap();
    }
    let info = std::fs::read_to_string(dst.join("info.yml")).unwrap();
    assert!(info.contains("match_count: 1"), "{info}");
    std::fs::write(
        dst.join("info.yml"),
        info.replace("match_count: 1", "match_count: 50"),
    )
    .unwrap();
    let rules = sigma.join("rules/windows/builtin/security");
    let out = vigil()
        .args(["rules", "test", "--rules"])
        .arg(&rules)
        .arg(dir.path())
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(
        last_line(&stdout),
        "0 passed, 1 failed",
        "{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains("FAIL ") && stdout.contains("(expected 50)"),
        "{stdout}"
    );
    assert_eq!(out.status.code(), Some(1));
}

const GOOD: &str = r#"title: Whoami Execution
id: 5a1e0c2e-8d7a-4d8e-9d6f-0e1f2a3b4c5d
status: test
description: whoami run
date: 2024-01-01
level: low
tags: [attack.discovery, attack.t1033]
logsource: {category: process_creation, product: windows}
detection:
  selection:
    Image|endswith: '\whoami.exe'
  filter:
    CommandLine|contains: '/help'
  condition: selection and not filter
tests:
  match:
    - {Image: 'C:\Windows\System32\whoami.exe', CommandLine: 'whoami /all'}
  no_match:
    - {Image: 'C:\Windows\System32\whoami.exe', CommandLine: 'whoami /help'}
    - {Image: 'C:\Windows\explorer.exe'}
"#;

#[test]
fn attached_tests_run_and_report_failures() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("good.yml"), GOOD).unwrap();
    let out = vigil()
        .args(["rules", "test"])
        .arg(dir.path())
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(
        last_line(&stdout),
        "3 passed, 0 failed",
        "{stdout}\n{stderr}"
    );
    assert_eq!(out.status.code(), Some(0));
    // a wrong expectation fails, naming the event
    let wrong = GOOD.replace(
        "  no_match:\n",
        "  no_match:\n    - {Image: 'D:\\whoami.exe'}\n",
    );
    std::fs::write(dir.path().join("wrong.yml"), wrong).unwrap();
    let out = vigil()
        .args(["rules", "test"])
        .arg(dir.path())
        .output()
        .unwrap();
    let (stdout, _) = text(&out);
    assert_eq!(last_line(&stdout), "6 passed, 1 failed", "{stdout}");
    assert!(
        stdout.contains("wrong.yml") && stdout.contains("tests.no_match[0]"),
        "{stdout}"
    );
    assert!(stdout.contains("rule fired on"), "{stdout}");
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn lint_reports_bad_rules_with_path_and_reason() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("good.yml"), GOOD).unwrap();
    let bad = dir.path().join("bad.yml");
    std::fs::write(
        &bad,
        "title: Broken\nid: 6b2f1d3e-0000-4000-8000-000000000001\nlevel: high\nlogsource: {product: windows}\n\
         detection:\n  sel: {Image|endswith2: x}\n  condition: sel\n",
    )
    .unwrap();
    let out = vigil()
        .args(["rules", "lint"])
        .arg(dir.path())
        .output()
        .unwrap();
    let (stdout, _) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let line = stdout
        .lines()
        .find(|l| l.starts_with("error:"))
        .unwrap_or_else(|| panic!("no error line in {stdout}"));
    assert!(line.contains(&bad.display().to_string()), "{line}");
    assert!(
        line.contains("6b2f1d3e-0000-4000-8000-000000000001") && line.contains("\"Broken\""),
        "{line}"
    );
    assert!(line.contains("endswith2"), "{line}");
    assert!(
        last_line(&stdout).contains("1 rules loaded, 1 errors"),
        "{stdout}"
    );

    // warnings alone pass, unless --strict
    std::fs::remove_file(&bad).unwrap();
    std::fs::write(
        dir.path().join("warn.yml"),
        "title: Unused\nid: not-a-uuid\nlevel: low\nlogsource: {product: windows}\n\
         detection:\n  sel: {EventID: 1}\n  other: {EventID: 2}\n  condition: sel\n",
    )
    .unwrap();
    let out = vigil()
        .args(["rules", "lint"])
        .arg(dir.path())
        .output()
        .unwrap();
    let (stdout, _) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("search identifier 'other' is not used"),
        "{stdout}"
    );
    assert!(stdout.contains("is not a UUID"), "{stdout}");
    let out = vigil()
        .args(["rules", "lint", "--strict"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn the_sigmahq_rules_lint_without_errors() {
    let Some(sigma) = vigil_testkit::corpus("sigma") else {
        return;
    };
    let mut cmd = vigil();
    cmd.args(["rules", "lint"]);
    for d in [
        "rules",
        "rules-emerging-threats",
        "rules-threat-hunting",
        "rules-compliance",
        "rules-placeholder",
    ] {
        cmd.arg(sigma.join(d));
    }
    let out = cmd.output().unwrap();
    let (stdout, _) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        last_line(&stdout).starts_with("3720 files: 3720 rules loaded, 0 errors"),
        "{}",
        last_line(&stdout)
    );
}
