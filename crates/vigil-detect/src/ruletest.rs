//! Rule tests and lint: the library side of `vigil rules test` and `vigil rules lint`.
//!
//! # Two kinds of test
//! - **Regression cases** (SigmaHQ's layout): an `info.yml` with `rule_metadata` (the rule id)
//!   and `regression_tests_info` (entries with `type`, `path` to a data file, optional
//!   `match_count`). The data file (EVTX, evtx_dump JSON, or raw lines) is read, the whole
//!   rule set is run over it, and the case passes when the named rule fires on at least
//!   `match_count` events (1 when unspecified), as upstream's runner decides; more matches
//!   than that are reported as a note. A `path` resolves against the nearest ancestor of the
//!   `info.yml` that contains it (the corpus root), or next to the `info.yml`.
//! - **Attached tests**: a rule document may carry a `tests` block:
//!   ```yaml
//!   tests:
//!     pipeline: none          # optional: none (default) or windows
//!     match:                  # events the rule must fire on
//!       - {Image: 'C:\Windows\System32\whoami.exe', CommandLine: whoami /all}
//!     no_match:               # events it must not fire on
//!       - {Image: 'C:\Windows\explorer.exe'}
//!   ```
//!   Each event is one test. The rule is compiled alone; with the default `none` pipeline the
//!   events use the rule's own field names and logsource routing is not involved (with
//!   `windows` they need `Channel` and `EventID`). evtx_dump-style events (`{"Event": ..}`)
//!   are flattened first.
//!
//! # Lint
//! [`lint_text`] adds document-level checks to what the loader reports: missing or malformed
//! `id`, unknown `status`, malformed `date`/`modified`, malformed tags, unknown top-level keys,
//! search identifiers the condition never uses, and malformed `tests` blocks.

use std::path::{Path, PathBuf};

use serde_json::Value;
use yaml_serde::{Mapping, Value as Yaml};

use crate::engine::RuleSet;
use crate::hunt::{event_view, read_events};
use crate::load::{LoadOptions, LoadProblem, Loader, Severity};
use crate::pipeline::Pipeline;

/// Largest YAML file read.
const MAX_YAML: u64 = 4 << 20;

/// One regression case: a data file on which a rule must fire.
#[derive(Debug, Clone)]
pub struct RegressionCase {
    /// The `info.yml`.
    pub info: PathBuf,
    /// The test's `name` (e.g. `Positive Detection Test`).
    pub name: String,
    /// The rule that must fire (`rule_metadata[0].id`).
    pub rule_id: String,
    /// Its title, if given.
    pub rule_title: Option<String>,
    /// `type`: `evtx`, `json`, `raw`, ...
    pub kind: String,
    /// The data file, resolved.
    pub data: PathBuf,
    /// Directory the `path` resolved against (the corpus root), when not the case folder.
    pub root: Option<PathBuf>,
    /// Matches required (`match_count`, default 1).
    pub match_count: usize,
}

/// A rule document with a `tests` block.
#[derive(Debug, Clone)]
pub struct AttachedTests {
    /// The rule file.
    pub path: PathBuf,
    /// The rule document's YAML text (the whole file when it has one document).
    pub text: String,
    /// Rule id (or title).
    pub rule: String,
    /// Compile with the Windows pipeline instead of none.
    pub windows: bool,
    /// Events that must match.
    pub matching: Vec<Value>,
    /// Events that must not match.
    pub non_matching: Vec<Value>,
}

/// Everything found under the given paths.
#[derive(Debug, Default)]
pub struct Discovery {
    /// Regression cases, sorted by `info.yml` path.
    pub cases: Vec<RegressionCase>,
    /// Rules with attached tests, sorted by path.
    pub attached: Vec<AttachedTests>,
    /// `info.yml` files without an active test (e.g. commented out upstream).
    pub inactive: Vec<PathBuf>,
    /// Files that could not be read or understood; each counts as a failed test.
    pub problems: Vec<(PathBuf, String)>,
}

/// The result of one test.
#[derive(Debug, Clone)]
pub struct TestResult {
    /// What was tested (file and case).
    pub name: String,
    /// Passed?
    pub passed: bool,
    /// Why it failed, or what it found.
    pub detail: String,
    /// A note on a passing test (e.g. more matches than expected).
    pub note: Option<String>,
}

fn read_yaml_file(path: &Path) -> Result<String, String> {
    use std::io::Read;
    let f = std::fs::File::open(path).map_err(|e| format!("cannot read: {e}"))?;
    let mut buf = Vec::new();
    #[allow(clippy::disallowed_methods)] // bounded by `take`
    f.take(MAX_YAML + 1)
        .read_to_end(&mut buf)
        .map_err(|e| format!("cannot read: {e}"))?;
    if buf.len() as u64 > MAX_YAML {
        return Err(format!("larger than {MAX_YAML} bytes"));
    }
    String::from_utf8(buf).map_err(|e| format!("not UTF-8: {e}"))
}

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>, depth: usize) {
    if depth > 32 {
        return;
    }
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        match e.file_type() {
            Ok(t) if t.is_dir() => yaml_files(&p, out, depth + 1),
            Ok(t) if t.is_file() => {
                if matches!(p.extension().and_then(|x| x.to_str()), Some("yml" | "yaml")) {
                    out.push(p)
                }
            }
            _ => {}
        }
    }
}

/// The YAML files under the paths (files as given, directories walked), sorted.
pub fn yaml_files_under(paths: &[PathBuf]) -> (Vec<PathBuf>, Vec<(PathBuf, String)>) {
    let mut files = Vec::new();
    let mut problems = Vec::new();
    for p in paths {
        if p.is_dir() {
            yaml_files(p, &mut files, 0);
        } else if p.is_file() {
            files.push(p.clone());
        } else {
            problems.push((p.clone(), "no such file or directory".to_string()));
        }
    }
    files.sort();
    files.dedup();
    (files, problems)
}

/// True for a SigmaHQ regression-case metadata file.
pub fn is_case_file(path: &Path) -> bool {
    path.file_name().is_some_and(|n| n == "info.yml")
}

/// Find regression cases (`info.yml`) and rules with `tests` blocks under the paths.
pub fn discover(paths: &[PathBuf]) -> Discovery {
    let (files, problems) = yaml_files_under(paths);
    let mut d = Discovery {
        problems,
        ..Default::default()
    };
    for f in files {
        let text = match read_yaml_file(&f) {
            Ok(t) => t,
            Err(e) => {
                d.problems.push((f, e));
                continue;
            }
        };
        if is_case_file(&f) {
            match parse_case(&f, &text) {
                Ok(cases) if cases.is_empty() => d.inactive.push(f),
                Ok(cases) => d.cases.extend(cases),
                Err(e) => d.problems.push((f, e)),
            }
        } else if text.lines().any(|l| l.starts_with("tests:")) {
            match parse_attached(&f, &text) {
                Ok(ts) => d.attached.extend(ts),
                Err(e) => d.problems.push((f, e)),
            }
        }
    }
    d
}

fn ystr(v: Option<&Yaml>) -> Option<String> {
    match v? {
        Yaml::String(s) => Some(s.clone()),
        Yaml::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Parse one `info.yml` into its active cases.
pub fn parse_case(info: &Path, text: &str) -> Result<Vec<RegressionCase>, String> {
    let y: Yaml = yaml_serde::from_str(text).map_err(|e| format!("invalid YAML: {e}"))?;
    let meta = y
        .get("rule_metadata")
        .and_then(Yaml::as_sequence)
        .and_then(|s| s.first())
        .ok_or("no rule_metadata entry")?;
    let rule_id = ystr(meta.get("id")).ok_or("rule_metadata[0] has no id")?;
    let rule_title = ystr(meta.get("title"));
    let Some(tests) = y.get("regression_tests_info") else {
        return Ok(Vec::new());
    };
    let tests = tests
        .as_sequence()
        .ok_or("regression_tests_info must be a list")?;
    let dir = info.parent().unwrap_or(Path::new("."));
    let mut out = Vec::new();
    for (i, t) in tests.iter().enumerate() {
        let rel = ystr(t.get("path")).ok_or(format!("regression_tests_info[{i}] has no path"))?;
        let (data, root) = resolve(dir, &rel).ok_or(format!(
            "regression_tests_info[{i}]: data file {rel} not found (relative to an ancestor of {} or next to it)",
            info.display()
        ))?;
        let match_count = match t.get("match_count") {
            None | Some(Yaml::Null) => 1,
            Some(Yaml::Number(n)) => n
                .as_u64()
                .map(|n| n as usize)
                .ok_or(format!("regression_tests_info[{i}]: bad match_count"))?,
            Some(_) => return Err(format!("regression_tests_info[{i}]: bad match_count")),
        };
        out.push(RegressionCase {
            info: info.to_path_buf(),
            name: ystr(t.get("name")).unwrap_or_else(|| format!("test {i}")),
            rule_id: rule_id.clone(),
            rule_title: rule_title.clone(),
            kind: ystr(t.get("type")).unwrap_or_default(),
            data,
            root,
            match_count,
        });
    }
    Ok(out)
}

/// Resolve a case data path: against the nearest ancestor containing it, else by file name
/// next to the `info.yml`.
fn resolve(dir: &Path, rel: &str) -> Option<(PathBuf, Option<PathBuf>)> {
    let rel_path = Path::new(rel);
    if rel_path.is_absolute() {
        return rel_path.is_file().then(|| (rel_path.to_path_buf(), None));
    }
    for anc in dir.ancestors().skip(1) {
        let c = anc.join(rel_path);
        if c.is_file() {
            return Some((c, Some(anc.to_path_buf())));
        }
    }
    let local = dir.join(rel_path.file_name()?);
    local.is_file().then_some((local, None))
}

fn to_events(v: Option<&Yaml>, what: &str) -> Result<Vec<Value>, String> {
    match v {
        None | Some(Yaml::Null) => Ok(Vec::new()),
        Some(Yaml::Sequence(s)) => s
            .iter()
            .enumerate()
            .map(|(i, e)| match e {
                Yaml::Mapping(_) => serde_json::to_value(e)
                    .map(event_view)
                    .map_err(|x| format!("tests.{what}[{i}]: {x}")),
                _ => Err(format!("tests.{what}[{i}] must be a mapping (an event)")),
            })
            .collect(),
        Some(_) => Err(format!("tests.{what} must be a list of events")),
    }
}

fn parse_tests_block(tests: &Yaml) -> Result<(bool, Vec<Value>, Vec<Value>), String> {
    let m = tests.as_mapping().ok_or("'tests' must be a mapping")?;
    for (k, _) in m {
        let k = k.as_str().unwrap_or("");
        if !["match", "no_match", "pipeline"].contains(&k) {
            return Err(format!(
                "tests: unknown key '{k}' (expected match, no_match, pipeline)"
            ));
        }
    }
    let windows = match ystr(m.get("pipeline")).as_deref() {
        None | Some("none") => false,
        Some("windows") => true,
        Some(o) => return Err(format!("tests.pipeline: '{o}' is not none or windows")),
    };
    let matching = to_events(m.get("match"), "match")?;
    let non_matching = to_events(m.get("no_match"), "no_match")?;
    if matching.is_empty() && non_matching.is_empty() {
        return Err("tests: no events under match or no_match".into());
    }
    Ok((windows, matching, non_matching))
}

/// The rule documents of a file that carry a `tests` block.
pub fn parse_attached(path: &Path, text: &str) -> Result<Vec<AttachedTests>, String> {
    let mut out = Vec::new();
    let docs: Vec<&str> = split_documents(text);
    for doc in docs {
        let y: Yaml = match yaml_serde::from_str(doc) {
            Ok(y) => y,
            Err(e) => return Err(format!("invalid YAML: {e}")),
        };
        let Some(tests) = y.get("tests") else {
            continue;
        };
        let (windows, matching, non_matching) = parse_tests_block(tests)?;
        let rule = ystr(y.get("id"))
            .or_else(|| ystr(y.get("title")))
            .unwrap_or_default();
        out.push(AttachedTests {
            path: path.to_path_buf(),
            text: doc.to_string(),
            rule,
            windows,
            matching,
            non_matching,
        });
    }
    Ok(out)
}

/// Split a YAML stream at `---` document markers (column 0).
fn split_documents(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut pos = 0;
    for line in text.split_inclusive('\n') {
        if line.trim_end() == "---" {
            if !text[start..pos].trim().is_empty() {
                out.push(&text[start..pos]);
            }
            start = pos + line.len();
        }
        pos += line.len();
    }
    if !text[start..].trim().is_empty() {
        out.push(&text[start..]);
    }
    out
}

/// Run one regression case against a rule set.
pub fn run_case(case: &RegressionCase, set: &RuleSet) -> TestResult {
    let name = format!("{} ({})", case.info.display(), case.name);
    let fail = |detail: String| TestResult {
        name: name.clone(),
        passed: false,
        detail,
        note: None,
    };
    if !set.rules().iter().any(|r| r.id == case.rule_id) {
        return fail(format!(
            "rule {} ({}) is not loaded",
            case.rule_id,
            case.rule_title.as_deref().unwrap_or("no title")
        ));
    }
    let (events, errors) = match read_events(&case.data) {
        Ok(x) => x,
        Err(e) => return fail(format!("{}: {e}", case.data.display())),
    };
    let mut count = 0;
    let mut out = Vec::new();
    for e in &events {
        out.clear();
        set.matches(e, &mut out);
        if out.iter().any(|d| d.rule.id == case.rule_id) {
            count += 1;
        }
    }
    let mut detail = format!(
        "rule {} fired on {count} of {} events (expected {})",
        case.rule_id,
        events.len(),
        case.match_count
    );
    if !errors.is_empty() {
        detail.push_str(&format!(
            "; {} read errors, first: {}",
            errors.len(),
            errors[0]
        ));
    }
    TestResult {
        name,
        passed: count >= case.match_count,
        note: (count > case.match_count)
            .then(|| format!("more matches than expected: {count} > {}", case.match_count)),
        detail,
    }
}

/// The default rule directories for a corpus root: its subdirectories named `rules*`.
pub fn default_rule_dirs(root: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| {
                    p.is_dir()
                        && p.file_name()
                            .and_then(|n| n.to_str())
                            .is_some_and(|n| n.starts_with("rules"))
                })
                .collect()
        })
        .unwrap_or_default();
    dirs.sort();
    dirs
}

/// Run the attached tests of one rule document: one result per event.
pub fn run_attached(t: &AttachedTests) -> Vec<TestResult> {
    let opts = LoadOptions {
        pipeline: if t.windows {
            Pipeline::windows()
        } else {
            Pipeline::none()
        },
        ..Default::default()
    };
    let mut loader = Loader::new(opts);
    loader.add_str(&t.path, &t.text);
    let (set, problems) = loader.finish();
    let base = format!("{} [{}]", t.path.display(), t.rule);
    if let Some(p) = problems.first() {
        return vec![TestResult {
            name: base,
            passed: false,
            detail: format!("rule does not load: {}", p.reason),
            note: None,
        }];
    }
    let Some(rule) = set.rules().first().cloned() else {
        return vec![TestResult {
            name: base,
            passed: false,
            detail: "no detection rule in the document".into(),
            note: None,
        }];
    };
    let mut out = Vec::new();
    let cases = t
        .matching
        .iter()
        .enumerate()
        .map(|(i, e)| (true, i, e))
        .chain(
            t.non_matching
                .iter()
                .enumerate()
                .map(|(i, e)| (false, i, e)),
        );
    for (want, i, e) in cases {
        let fired = set.detect(e).iter().any(|d| d.rule.id == rule.id);
        let what = if want { "match" } else { "no_match" };
        out.push(TestResult {
            name: format!("{base} tests.{what}[{i}]"),
            passed: fired == want,
            detail: if fired == want {
                String::new()
            } else if want {
                format!("rule did not fire on {e}")
            } else {
                format!("rule fired on {e}")
            },
            note: None,
        });
    }
    out
}

/// Top-level keys of a Sigma rule (specification v2, plus `tests`).
const RULE_KEYS: &[&str] = &[
    "title",
    "id",
    "name",
    "related",
    "taxonomy",
    "status",
    "description",
    "license",
    "author",
    "references",
    "date",
    "modified",
    "logsource",
    "detection",
    "fields",
    "falsepositives",
    "level",
    "tags",
    "scope",
    "tests",
    "simulation",
    "regression_tests_path",
    "custom_attributes",
];
const STATUSES: &[&str] = &[
    "stable",
    "test",
    "experimental",
    "deprecated",
    "unsupported",
];

fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| {
            if matches!(i, 8 | 13 | 18 | 23) {
                *c == b'-'
            } else {
                c.is_ascii_hexdigit()
            }
        })
}

fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 10
        && b.iter().enumerate().all(|(i, c)| {
            if i == 4 || i == 7 {
                *c == b'-' || *c == b'/'
            } else {
                c.is_ascii_digit()
            }
        })
}

fn is_tag(s: &str) -> bool {
    let Some((ns, rest)) = s.split_once('.') else {
        return false;
    };
    let ok = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-' | '.');
    !ns.is_empty() && !rest.is_empty() && ns.chars().all(ok) && rest.chars().all(ok)
}

/// Identifiers used by a condition, and wildcard patterns (`selection_*`, `them`).
fn condition_names(cond: &str) -> Vec<String> {
    cond.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '*' || c == '-' || c == '.'))
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect()
}

fn glob_match(pat: &str, s: &str) -> bool {
    match pat.split_once('*') {
        None => pat == s,
        Some((pre, rest)) => {
            if !s.starts_with(pre) {
                return false;
            }
            let s = &s[pre.len()..];
            if rest.is_empty() {
                return true;
            }
            (0..=s.len()).any(|i| s.is_char_boundary(i) && glob_match(rest, &s[i..]))
        }
    }
}

/// Document-level lint warnings for the rule documents of one file (see the module docs).
/// Problems that stop a rule from loading are the loader's; this only adds warnings.
pub fn lint_text(path: &Path, text: &str) -> Vec<LoadProblem> {
    let mut out = Vec::new();
    for doc in split_documents(text) {
        let Ok(Yaml::Mapping(m)) = yaml_serde::from_str::<Yaml>(doc) else {
            continue;
        };
        lint_doc(path, &m, &mut out);
    }
    out
}

fn lint_doc(path: &Path, m: &Mapping, out: &mut Vec<LoadProblem>) {
    let id = ystr(m.get("id"));
    let title = ystr(m.get("title"));
    let mut warn = |reason: String| {
        out.push(LoadProblem {
            path: path.to_path_buf(),
            rule_id: id.clone(),
            title: title.clone(),
            severity: Severity::Warning,
            reason,
        })
    };
    let is_correlation = m.get("correlation").is_some();
    let is_filter = m.get("filter").is_some() && m.get("detection").is_none();
    match &id {
        None => warn("missing 'id' (a UUID identifies the rule across renames)".into()),
        Some(i) if !is_uuid(i) => warn(format!("'id' {i:?} is not a UUID")),
        _ => {}
    }
    if let Some(s) = ystr(m.get("status"))
        && !STATUSES.contains(&s.as_str())
    {
        warn(format!(
            "unknown status '{s}' (expected one of {})",
            STATUSES.join(", ")
        ));
    }
    for key in ["date", "modified"] {
        if let Some(d) = ystr(m.get(key))
            && !is_date(&d)
        {
            warn(format!("'{key}' {d:?} is not a date (YYYY-MM-DD)"));
        }
    }
    if let Some(Yaml::Sequence(tags)) = m.get("tags") {
        for t in tags {
            match t.as_str() {
                Some(s) if is_tag(s) => {}
                Some(s) => warn(format!(
                    "tag {s:?} is not 'namespace.name' in lowercase (e.g. attack.t1059.001)"
                )),
                None => warn("a tag is not a string".into()),
            }
        }
    }
    if !is_correlation && !is_filter {
        for (k, _) in m {
            if let Some(k) = k.as_str()
                && !RULE_KEYS.contains(&k)
            {
                warn(format!("unknown top-level key '{k}'"));
            }
        }
        if m.get("level").is_none() {
            warn("missing 'level'".into());
        }
        if let Some(Yaml::Mapping(det)) = m.get("detection") {
            let conds: Vec<String> = match det.get("condition") {
                Some(Yaml::String(c)) => vec![c.clone()],
                Some(Yaml::Sequence(cs)) => cs.iter().filter_map(|c| ystr(Some(c))).collect(),
                _ => Vec::new(),
            };
            let names: Vec<String> = conds.iter().flat_map(|c| condition_names(c)).collect();
            let all = names.iter().any(|n| n == "them");
            if !all && !conds.is_empty() {
                for (k, _) in det {
                    let Some(k) = k.as_str() else { continue };
                    if k == "condition" || k == "timeframe" {
                        continue;
                    }
                    if !names.iter().any(|n| glob_match(n, k)) {
                        warn(format!(
                            "search identifier '{k}' is not used by the condition"
                        ));
                    }
                }
            }
        }
    }
    if let Some(t) = m.get("tests")
        && let Err(e) = parse_tests_block(t)
    {
        warn(e);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULE: &str = r#"
title: Whoami
id: 11111111-2222-3333-4444-555555555555
status: test
date: 2024-01-01
level: low
tags: [attack.discovery, attack.t1033]
logsource: {category: process_creation, product: windows}
detection:
  selection: {Image|endswith: '\whoami.exe'}
  unused: {CommandLine: x}
  condition: selection
tests:
  match:
    - {Image: 'C:\Windows\System32\whoami.exe'}
  no_match:
    - {Image: 'C:\Windows\explorer.exe'}
    - {Image: 'C:\x\whoami.exe'}
"#;

    #[test]
    fn attached_tests_pass_and_fail() {
        let t = parse_attached(Path::new("r.yml"), RULE).unwrap();
        assert_eq!(t.len(), 1);
        let res = run_attached(&t[0]);
        assert_eq!(res.len(), 3);
        assert!(res[0].passed && res[1].passed);
        assert!(!res[2].passed, "{res:?}");
        assert!(res[2].detail.contains("fired"));
    }

    #[test]
    fn lint_finds_unused_identifier_and_bad_fields() {
        let w = lint_text(Path::new("r.yml"), RULE);
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].reason.contains("'unused'"));
        let bad = "title: x\nid: nope\nstatus: wip\ntags: [Attack.T1]\nfoo: 1\nlogsource: {}\ndetection: {sel_a: {a: 1}, sel_b: {b: 1}, condition: 1 of sel_*}\n";
        let w: Vec<String> = lint_text(Path::new("r.yml"), bad)
            .into_iter()
            .map(|p| p.reason)
            .collect();
        assert_eq!(w.len(), 5, "{w:?}");
    }

    #[test]
    fn split_docs() {
        assert_eq!(split_documents("a: 1\n---\nb: 2\n").len(), 2);
        assert_eq!(split_documents("---\na: 1\n").len(), 1);
    }
}
