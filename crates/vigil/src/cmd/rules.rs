//! `vigil rules lint PATH...` and `vigil rules test PATH...`: check Sigma rules and run their
//! tests (SigmaHQ regression cases and tests attached to rules). The finding, loading and
//! running are in `vigil_detect::ruletest`; this module prints and sets the exit code.

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
    /// Run SigmaHQ regression cases (`info.yml`) and tests attached to rules (`tests:`
    /// blocks) found under the paths. Ends with `N passed, M failed`; exits 1 on failures.
    Test(TestArgs),
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
    /// Files and directories to search for regression cases and rules with tests, e.g. the
    /// SigmaHQ corpus root or `regression_data/rules/windows`.
    #[arg(required = true, value_name = "PATH")]
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
    }
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

fn test(a: TestArgs) -> Result<u8> {
    let Discovery {
        cases,
        attached,
        inactive,
        problems,
    } = discover(&a.paths);
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
    println!("{passed} passed, {failed} failed");
    if results.is_empty() {
        return Err(UsageError("no tests found under the given paths (regression info.yml files or rules with a tests: block)".into()).into());
    }
    Ok(if failed > 0 { exit::FAILURE } else { exit::OK })
}
