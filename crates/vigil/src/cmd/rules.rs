//! `vigil rules lint PATH...` and `vigil rules test [PATH...]`: check Sigma rules and run their
//! tests (SigmaHQ regression cases and tests attached to rules), and run the tests of the
//! correlation rules found under the same paths (`vigil_correlate::run_tests`, the whole set
//! loaded together so chained rules and shared lists work as they do live). The finding,
//! loading and running are in `vigil_detect::ruletest` and `vigil_correlate`; this module
//! prints and sets the exit code.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, Subcommand};
use vigil_detect::ruletest::{
    Discovery, TestResult, default_rule_dirs, discover, is_case_file, lint_text, run_attached,
    run_case, yaml_files_under,
};
use vigil_detect::{LoadProblem, Loader, RuleSet, Severity};

use crate::cmd::hunt::{load_options, load_rules};
use crate::{UsageError, exit};

#[derive(Debug, Args)]
pub struct RulesArgs {
    #[command(subcommand)]
    pub what: RulesCommand,
}

#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// Report every rule that cannot load (errors) and every likely mistake (warnings), with
    /// path, id, title and reason. Exits 1 on errors (with --strict, also on warnings).
    Lint(LintArgs),
    /// Run SigmaHQ regression cases (`info.yml`), tests attached to Sigma rules (`tests:`
    /// blocks) and the tests of every correlation rule found under the paths (default: the
    /// shipped pack, embedded in the binary: `builtin:correlation`). Correlation rules are
    /// reported one line per rule.
    /// Ends with `N passed, M failed`; exits 1 on failures.
    Test(TestArgs),
    /// Reload the correlation rules of a running `vigil up` from their files (as a change of
    /// the files or SIGHUP does): unchanged rules keep their state, changed ones start clean.
    Reload(crate::cmd::remote::RemoteArgs),
}

#[derive(Debug, Args)]
pub struct LintArgs {
    /// Rule files and directories (walked for .yml/.yaml; regression `info.yml` files are
    /// skipped).
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Also fail (exit 1) on warnings.
    #[arg(long)]
    pub strict: bool,
    /// Pipeline to compile with: `none` (default), `windows` (also warns about rules it
    /// cannot route to Windows events), `ecs`, or a pipeline YAML file.
    #[arg(short, long, default_value = "none", value_name = "P")]
    pub pipeline: String,
}

#[derive(Debug, Args)]
pub struct TestArgs {
    /// Files and directories to search for regression cases, Sigma rules with tests and
    /// correlation rules, e.g. the SigmaHQ corpus root or `rules/correlation`
    /// (`builtin:correlation` is the pack embedded in the binary). Default: the shipped
    /// correlation pack, `builtin:correlation`.
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Rules for the regression cases (repeatable). Default: the `rules*` directories of the
    /// root each case's data path resolves against (the corpus root).
    #[arg(short, long = "rules", value_name = "DIR")]
    pub rules: Vec<PathBuf>,
    /// Pipeline for the regression cases: `windows` (default), `none`, `ecs`, or a YAML file.
    /// Attached tests use the pipeline named in their `tests` block (default none).
    #[arg(short, long, default_value = "windows", value_name = "P")]
    pub pipeline: String,
    /// Also list the tests that pass.
    #[arg(long)]
    pub show_passed: bool,
}

pub fn run(a: RulesArgs) -> Result<u8> {
    match a.what {
        RulesCommand::Lint(l) => lint(l),
        RulesCommand::Test(t) => test(t),
        RulesCommand::Reload(r) => reload(r),
    }
}

fn reload(a: crate::cmd::remote::RemoteArgs) -> Result<u8> {
    let r = crate::cmd::remote::Remote::connect(&a)?;
    let t = r.send(reqwest::Method::POST, "correlation/reload", &[], None)?;
    let v: serde_json::Value = serde_json::from_str(&t).unwrap_or_default();
    let n = |k: &str| v.get(k).and_then(|x| x.as_u64()).unwrap_or(0);
    println!(
        "{} correlation rules running: {} kept their state, {} started clean",
        n("rules"),
        n("kept"),
        n("restarted")
    );
    for id in v
        .get("removed")
        .and_then(|x| x.as_array())
        .into_iter()
        .flatten()
    {
        println!("removed {}", id.as_str().unwrap_or(""));
    }
    let problems: Vec<&str> = v
        .get("problems")
        .and_then(|x| x.as_array())
        .into_iter()
        .flatten()
        .filter_map(|p| p.as_str())
        .collect();
    for p in &problems {
        println!("not loaded: {p}");
    }
    Ok(if problems.is_empty() {
        exit::OK
    } else {
        exit::FAILURE
    })
}

fn lint(a: LintArgs) -> Result<u8> {
    let (files, missing) = yaml_files_under(&a.paths);
    if let Some((p, e)) = missing.first() {
        return Err(UsageError(format!("{}: {e}", p.display())).into());
    }
    let mut loader = Loader::new(load_options(&a.pipeline)?);
    let mut extra: Vec<LoadProblem> = Vec::new();
    let mut n_files = 0;
    for f in files.iter().filter(|f| !is_case_file(f)) {
        n_files += 1;
        loader.add_file(f);
        if let Ok(bytes) = vigil_config::read_file_capped(f, 4 << 20)
            && let Ok(text) = String::from_utf8(bytes)
        {
            extra.extend(lint_text(f, &text));
        }
    }
    let (set, errors) = loader.finish();
    let mut warnings: Vec<LoadProblem> = set.warnings().to_vec();
    warnings.extend(extra);
    warnings.sort_by(|a, b| a.path.cmp(&b.path).then(a.reason.cmp(&b.reason)));
    let mut errors = errors;
    errors.sort_by(|a, b| a.path.cmp(&b.path).then(a.reason.cmp(&b.reason)));
    for p in errors.iter().chain(&warnings) {
        println!("{p}");
    }
    let error_rules = count_rules(&errors);
    println!(
        "{n_files} files: {} rules loaded, {} errors ({error_rules} files), {} warnings",
        set.len(),
        errors.len(),
        warnings.len()
    );
    debug_assert!(errors.iter().all(|e| e.severity == Severity::Error));
    Ok(
        if !errors.is_empty() || (a.strict && !warnings.is_empty()) {
            exit::FAILURE
        } else {
            exit::OK
        },
    )
}

fn count_rules(ps: &[LoadProblem]) -> usize {
    let mut paths: Vec<&std::path::Path> = ps.iter().map(|p| p.path.as_path()).collect();
    paths.dedup();
    paths.len()
}

/// Splits the YAML files under `paths` into correlation rule files and the rest (Sigma rules,
/// regression cases), which go to Sigma discovery as given (missing paths included, so
/// discovery reports them).
fn split_correlation(paths: &[PathBuf]) -> (Vec<PathBuf>, Vec<PathBuf>) {
    // the pack embedded in the binary (`builtin:correlation[/<file>]`) is correlation rules
    let (builtin, paths): (Vec<PathBuf>, Vec<PathBuf>) = paths
        .iter()
        .cloned()
        .partition(|p| vigil_correlate::shipped::is_builtin(p));
    let (files, missing) = yaml_files_under(&paths);
    let mut correlation = builtin;
    let mut other: Vec<PathBuf> = missing.into_iter().map(|(p, _)| p).collect();
    for f in files {
        let is_corr = !is_case_file(&f)
            && vigil_config::read_file_capped(&f, 4 << 20)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .is_some_and(|t| vigil_correlate::is_rule_file(&t));
        if is_corr {
            correlation.push(f);
        } else {
            other.push(f);
        }
    }
    (correlation, other)
}

/// Runs the correlation rules' tests (the files loaded as one set), prints one line per rule
/// (and per failing test), and returns (tests passed, tests failed, rules).
fn test_correlation(files: &[PathBuf]) -> (usize, usize, usize) {
    let mut loader = vigil_correlate::Loader::new();
    let mut file_count = 0;
    for f in files {
        loader.add_path(f);
        file_count += vigil_correlate::shipped::resolve(f).map_or(1, |v| v.len());
    }
    let (rules, problems) = loader.finish();
    let mut failed = 0;
    for p in &problems {
        println!("FAIL correlation {p}");
        failed += 1;
    }
    let counts: Vec<(String, usize)> = rules
        .rules
        .iter()
        .map(|r| (r.id.clone(), r.tests.len()))
        .collect();
    let report = vigil_correlate::run_tests(rules);
    for (id, n) in &counts {
        let fails: Vec<_> = report.failures.iter().filter(|f| &f.rule == id).collect();
        if *n == 0 {
            println!("note correlation {id}: no tests");
        } else if fails.is_empty() {
            println!(
                "ok   correlation {id}: {n} test{}",
                if *n == 1 { "" } else { "s" }
            );
        } else {
            for f in &fails {
                println!("FAIL correlation {id}: test '{}': {}", f.test, f.message);
            }
        }
    }
    failed += report.failures.len();
    eprintln!(
        "{} correlation rules from {} file(s): {} tests, {} without tests, {} could not load",
        counts.len(),
        file_count,
        report.run,
        report.untested.len(),
        problems.len()
    );
    (report.passed, failed, counts.len())
}

fn test(a: TestArgs) -> Result<u8> {
    let paths = if a.paths.is_empty() {
        // the shipped pack, embedded in the binary
        vec![PathBuf::from(vigil_correlate::shipped::PACK)]
    } else {
        a.paths.clone()
    };
    let (correlation, sigma_paths) = split_correlation(&paths);
    let (corr_passed, corr_failed, corr_rules) = if correlation.is_empty() {
        (0, 0, 0)
    } else {
        test_correlation(&correlation)
    };
    let Discovery {
        cases,
        attached,
        inactive,
        problems,
    } = if sigma_paths.is_empty() {
        Discovery::default()
    } else {
        discover(&sigma_paths)
    };
    let mut results: Vec<TestResult> = problems
        .into_iter()
        .map(|(p, e)| TestResult {
            name: p.display().to_string(),
            passed: false,
            detail: e,
            note: None,
        })
        .collect();

    // Rule sets for the regression cases: one from --rules, or one per corpus root.
    let mut sets: BTreeMap<Option<PathBuf>, (RuleSet, usize)> = BTreeMap::new();
    let opts = load_options(&a.pipeline)?;
    let key_of = |c: &vigil_detect::ruletest::RegressionCase| {
        if a.rules.is_empty() {
            c.root.clone()
        } else {
            None
        }
    };
    for c in &cases {
        let key = key_of(c);
        if sets.contains_key(&key) {
            continue;
        }
        let dirs = match (&key, a.rules.is_empty()) {
            (_, false) => a.rules.clone(),
            (Some(root), true) => default_rule_dirs(root),
            (None, true) => Vec::new(),
        };
        let (set, problems) = load_rules(&dirs, opts.clone())?;
        eprintln!(
            "rules for {}: {} loaded from {} director{}, {} could not load",
            key.as_ref()
                .map(|k| k.display().to_string())
                .unwrap_or_else(|| "--rules".into()),
            set.len(),
            dirs.len(),
            if dirs.len() == 1 { "y" } else { "ies" },
            problems.len()
        );
        sets.insert(key, (set, problems.len()));
    }
    for c in &cases {
        match sets.get(&key_of(c)) {
            Some((set, _)) => results.push(run_case(c, set)),
            None => results.push(TestResult {
                name: c.info.display().to_string(),
                passed: false,
                detail: "no rules to test against (give --rules)".into(),
                note: None,
            }),
        }
    }
    for t in &attached {
        results.extend(run_attached(t));
    }

    let passed = results.iter().filter(|r| r.passed).count();
    let failed = results.len() - passed;
    for r in &results {
        if !r.passed {
            println!("FAIL {}: {}", r.name, r.detail);
        } else if let Some(n) = &r.note {
            println!("note {}: {n}", r.name);
        } else if a.show_passed {
            println!(
                "ok   {}{}",
                r.name,
                if r.detail.is_empty() {
                    String::new()
                } else {
                    format!(": {}", r.detail)
                }
            );
        }
    }
    eprintln!(
        "{} regression cases, {} rules with attached tests, {} case files without an active test",
        cases.len(),
        attached.len(),
        inactive.len()
    );
    let passed = passed + corr_passed;
    let failed = failed + corr_failed;
    println!("{passed} passed, {failed} failed");
    if results.is_empty() && corr_rules == 0 && corr_failed == 0 {
        return Err(UsageError("no tests found under the given paths (regression info.yml files, rules with a tests: block, or correlation rules)".into()).into());
    }
    Ok(if failed > 0 { exit::FAILURE } else { exit::OK })
}
