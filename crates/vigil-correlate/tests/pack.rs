//! The shipped rule pack (`rules/correlation/`): it loads without problems, every rule has
//! tests (positive and negative), and every test passes.

#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::disallowed_methods,
    clippy::field_reassign_with_default
)]

use std::path::Path;

use vigil_correlate::{load_dir, run_tests};

#[test]
fn shipped_pack_loads_and_passes_its_tests() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rules/correlation");
    let (rules, problems) = load_dir(&dir);
    assert!(
        problems.is_empty(),
        "{}",
        problems
            .iter()
            .map(|p| p.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    );
    let n = rules.rules.len();
    let mut without_negative = Vec::new();
    for r in &rules.rules {
        let pos = r.tests.iter().any(|t| t.expect.fires > 0);
        let neg = r.tests.iter().any(|t| t.expect.fires == 0);
        if !(pos && neg) {
            without_negative.push(r.id.clone());
        }
        assert!(!r.techniques.is_empty(), "{} has no ATT&CK technique", r.id);
    }
    assert!(
        without_negative.is_empty(),
        "rules without both a positive and a negative test: {without_negative:?}"
    );
    let report = run_tests(rules);
    assert!(
        report.untested.is_empty(),
        "untested: {:?}",
        report.untested
    );
    let failures: Vec<String> = report
        .failures
        .iter()
        .map(|f| format!("{} / {}: {}", f.rule, f.test, f.message))
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    eprintln!("{n} rules, {} tests passed", report.passed);
}
