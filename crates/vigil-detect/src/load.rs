//! Rule loading: files and strings → [`RuleSet`], with every rule that cannot run reported,
//! and why. One bad rule never stops the others.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;
use yaml_serde::{Mapping, Value as Yaml};

use crate::correlation::{self, CorrelationRule};
use crate::engine::{CompiledRule, RuleInfo, RuleSet};
use crate::pipeline::Pipeline;
use crate::rule::{self, CompileCtx, SigmaRule};
use crate::tree::Node;
use crate::value::{ValueCtx, ValueLimits};

/// How rules are loaded and compiled.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// Logsource routing and field mapping (default: none, every rule on every event).
    pub pipeline: Pipeline,
    /// Values for `%name%` placeholders (`|expand`), by name without the `%`.
    pub placeholders: HashMap<String, Vec<String>>,
    /// Field searched by keyword detections; `None` searches every string value.
    pub keyword_field: Option<String>,
    /// Compiled size limit of one regex, in bytes.
    pub regex_size_limit: usize,
    /// Most values one field may list (after which the rule is rejected).
    pub max_values_per_field: usize,
    /// Largest rule file read, in bytes.
    pub max_file_bytes: u64,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            pipeline: Pipeline::none(),
            placeholders: HashMap::new(),
            keyword_field: None,
            regex_size_limit: 10 << 20,
            max_values_per_field: 10_000,
            max_file_bytes: 4 << 20,
        }
    }
}

impl LoadOptions {
    /// Options with the built-in Windows pipeline ([`Pipeline::windows`]).
    pub fn windows() -> Self {
        LoadOptions {
            pipeline: Pipeline::windows(),
            ..Default::default()
        }
    }
}

/// How serious a [`LoadProblem`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// The rule (or document) cannot run.
    Error,
    /// Lint level: the rule runs, but maybe not as intended.
    Warning,
}

/// A rule that could not be loaded (or a warning about one), with the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadProblem {
    /// The file (or the name given to a string source).
    pub path: PathBuf,
    /// Rule id, if it could be read.
    pub rule_id: Option<String>,
    /// Rule title, if it could be read.
    pub title: Option<String>,
    /// Error or warning.
    pub severity: Severity,
    /// What is wrong, in words.
    pub reason: String,
}

impl LoadProblem {
    pub(crate) fn warning(info: &RuleInfo, reason: String) -> LoadProblem {
        LoadProblem {
            path: info.path.clone().unwrap_or_default(),
            rule_id: Some(info.id.clone()),
            title: Some(info.title.clone()),
            severity: Severity::Warning,
            reason,
        }
    }
}

impl fmt::Display for LoadProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, "{sev}: {}", self.path.display())?;
        if let Some(id) = &self.rule_id {
            write!(f, " [{id}]")?;
        }
        if let Some(t) = &self.title {
            write!(f, " \"{t}\"")?;
        }
        write!(f, ": {}", self.reason)
    }
}

/// A Sigma meta-filter: extra conditions ANDed into the referenced rules.
#[derive(Debug, Clone)]
struct FilterDoc {
    path: PathBuf,
    id: Option<String>,
    title: String,
    rules: Vec<String>,
    tree: Node,
}

/// Accumulates documents, then compiles them into a [`RuleSet`].
#[derive(Debug)]
pub struct Loader {
    opts: LoadOptions,
    rules: Vec<CompiledRule>,
    filters: Vec<FilterDoc>,
    correlations: Vec<(PathBuf, Mapping)>,
    problems: Vec<LoadProblem>,
    warnings: Vec<LoadProblem>,
}

fn problem(
    path: &Path,
    id: Option<String>,
    title: Option<String>,
    sev: Severity,
    reason: String,
) -> LoadProblem {
    LoadProblem {
        path: path.to_path_buf(),
        rule_id: id,
        title,
        severity: sev,
        reason,
    }
}

impl Loader {
    /// A loader with these options.
    pub fn new(opts: LoadOptions) -> Loader {
        Loader {
            opts,
            rules: Vec::new(),
            filters: Vec::new(),
            correlations: Vec::new(),
            problems: Vec::new(),
            warnings: Vec::new(),
        }
    }

    /// Leaves out the detection rules (and correlations) with these ids from what
    /// [`Loader::finish`] compiles: rules an operator disabled. Filters still apply to the rest.
    pub fn exclude(&mut self, ids: &std::collections::HashSet<String>) {
        if ids.is_empty() {
            return;
        }
        self.rules.retain(|r| !ids.contains(&r.info.id));
        self.correlations.retain(|(_, m)| {
            m.get("id")
                .and_then(Yaml::as_str)
                .is_none_or(|id| !ids.contains(id))
        });
    }

    /// Add every `.yml` / `.yaml` file under `dir` (recursively, in sorted order).
    pub fn add_dir(&mut self, dir: &Path) {
        let mut files = Vec::new();
        collect_files(dir, &mut files, &mut self.problems, 0);
        files.sort();
        for f in files {
            self.add_file(&f);
        }
    }

    /// Add one rule file.
    pub fn add_file(&mut self, path: &Path) {
        match read_capped(path, self.opts.max_file_bytes) {
            Ok(text) => self.add_str(path, &text),
            Err(e) => self
                .problems
                .push(problem(path, None, None, Severity::Error, e)),
        }
    }

    /// Add the YAML documents of one source text; `path` names it in problems.
    pub fn add_str(&mut self, path: &Path, text: &str) {
        let mut n = 0;
        for doc in yaml_serde::Deserializer::from_str(text) {
            n += 1;
            match Yaml::deserialize(doc) {
                Ok(Yaml::Mapping(m)) => self.add_doc(path, m),
                Ok(Yaml::Null) => {}
                Ok(_) => self.problems.push(problem(
                    path,
                    None,
                    None,
                    Severity::Error,
                    format!("document {n} is not a mapping"),
                )),
                Err(e) => {
                    self.problems.push(problem(
                        path,
                        None,
                        None,
                        Severity::Error,
                        format!("invalid YAML: {e}"),
                    ));
                    // The YAML stream cannot be resynchronised after a syntax error.
                    break;
                }
            }
        }
    }

    fn add_doc(&mut self, path: &Path, m: Mapping) {
        if m.get("action").is_some() {
            let title = m.get("title").and_then(Yaml::as_str).map(str::to_string);
            self.problems.push(problem(path, None, title, Severity::Error,
                "legacy multi-document collections ('action: global/reset/repeat') are not supported; write one rule per document".into()));
            return;
        }
        if m.get("correlation").is_some() {
            self.correlations.push((path.to_path_buf(), m));
            return;
        }
        let is_filter = m.get("filter").is_some() && m.get("detection").is_none();
        if is_filter {
            self.add_filter(path, &m);
            return;
        }
        let (rule, mut errs) = SigmaRule::from_yaml(&m);
        let mut missing = Vec::new();
        let tree = if errs.iter().any(|e| e.contains("detection")) {
            None
        } else {
            let limits = ValueLimits {
                regex_size_limit: self.opts.regex_size_limit,
                max_values: self.opts.max_values_per_field,
            };
            let mut ctx = CompileCtx {
                values: ValueCtx {
                    limits: &limits,
                    placeholders: &self.opts.placeholders,
                    missing_placeholders: Vec::new(),
                },
                keyword_field: self.opts.keyword_field.as_deref(),
            };
            let r = rule::compile_detection(&rule.detection, &mut ctx);
            missing = ctx.values.missing_placeholders;
            match r {
                Ok(t) => Some(t),
                Err(e) => {
                    errs.extend(e);
                    None
                }
            }
        };
        let id = rule.id.clone();
        let title = (!rule.title.is_empty()).then(|| rule.title.clone());
        if !errs.is_empty() {
            for e in errs {
                self.problems
                    .push(problem(path, id.clone(), title.clone(), Severity::Error, e));
            }
            return;
        }
        let Some(tree) = tree else { return };
        if !missing.is_empty() {
            missing.sort();
            missing.dedup();
            self.warnings.push(problem(path, id.clone(), title.clone(), Severity::Warning, format!(
                "needs placeholder values for {}; values using them never match until configured",
                missing.iter().map(|m| format!("%{m}%")).collect::<Vec<_>>().join(", ")
            )));
        }
        let info = RuleInfo {
            id: rule.id.clone().unwrap_or_else(|| rule.title.clone()),
            name: rule.name.clone(),
            title: rule.title.clone(),
            level: rule.level.clone(),
            status: rule.status.clone(),
            tags: rule.tags.clone(),
            logsource: rule.logsource.clone(),
            path: Some(path.to_path_buf()),
        };
        self.rules.push(CompiledRule {
            info: Arc::new(info),
            tree,
        });
    }

    fn add_filter(&mut self, path: &Path, m: &Mapping) {
        let mut p = Vec::new();
        let title = rule::get_str(m, "title", &mut p).unwrap_or_default();
        let id = rule::get_str(m, "id", &mut p);
        let Some(Yaml::Mapping(f)) = m.get("filter") else {
            self.problems.push(problem(
                path,
                id,
                Some(title),
                Severity::Error,
                "'filter' must be a mapping".into(),
            ));
            return;
        };
        let rules: Vec<String> = match f.get("rules") {
            Some(Yaml::Sequence(s)) => s
                .iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect(),
            Some(Yaml::String(s)) => vec![s.clone()],
            _ => {
                p.push("filter needs 'rules' (a list of rule ids or names)".into());
                Vec::new()
            }
        };
        let mut det = f.clone();
        det.remove("rules");
        let limits = ValueLimits {
            regex_size_limit: self.opts.regex_size_limit,
            max_values: self.opts.max_values_per_field,
        };
        let mut ctx = CompileCtx {
            values: ValueCtx {
                limits: &limits,
                placeholders: &self.opts.placeholders,
                missing_placeholders: Vec::new(),
            },
            keyword_field: self.opts.keyword_field.as_deref(),
        };
        match rule::compile_detection(&det, &mut ctx) {
            Ok(tree) if p.is_empty() => self.filters.push(FilterDoc {
                path: path.to_path_buf(),
                id,
                title,
                rules,
                tree,
            }),
            Ok(_) => {
                for e in p {
                    self.problems.push(problem(
                        path,
                        id.clone(),
                        Some(title.clone()),
                        Severity::Error,
                        e,
                    ));
                }
            }
            Err(es) => {
                for e in p.into_iter().chain(es) {
                    self.problems.push(problem(
                        path,
                        id.clone(),
                        Some(title.clone()),
                        Severity::Error,
                        e,
                    ));
                }
            }
        }
    }

    /// Compile everything added so far. Returns the rule set and the errors (rules that
    /// cannot run); warnings are in [`RuleSet::warnings`].
    pub fn finish(mut self) -> (RuleSet, Vec<LoadProblem>) {
        // Filters: AND their condition into each referenced rule.
        for f in &self.filters {
            let mut used = false;
            for r in &mut self.rules {
                if f.rules
                    .iter()
                    .any(|x| *x == r.info.id || Some(x) == r.info.name.as_ref())
                {
                    used = true;
                    let t = std::mem::replace(&mut r.tree, Node::Const(false));
                    r.tree = Node::And(vec![t, f.tree.clone()]);
                }
            }
            if !used {
                self.warnings.push(problem(
                    &f.path,
                    f.id.clone(),
                    Some(f.title.clone()),
                    Severity::Warning,
                    format!("filter references no loaded rule ({})", f.rules.join(", ")),
                ));
            }
        }
        // Duplicate ids are allowed but reported.
        let mut seen: HashMap<&str, &Path> = HashMap::new();
        for r in &self.rules {
            if let Some(prev) = seen.insert(
                r.info.id.as_str(),
                r.info.path.as_deref().unwrap_or(Path::new("")),
            ) {
                self.warnings.push(LoadProblem::warning(
                    &r.info,
                    format!("duplicate rule id (also in {})", prev.display()),
                ));
            }
        }
        let mut correlations: Vec<CorrelationRule> = Vec::new();
        for (path, m) in &self.correlations {
            match correlation::parse(path, m) {
                Ok(c) => correlations.push(c),
                Err((id, title, errs)) => {
                    for e in errs {
                        self.problems.push(problem(
                            path,
                            id.clone(),
                            title.clone(),
                            Severity::Error,
                            e,
                        ));
                    }
                }
            }
        }
        let known: Vec<(String, Option<String>)> = self
            .rules
            .iter()
            .map(|r| (r.info.id.clone(), r.info.name.clone()))
            .chain(correlations.iter().map(|c| (c.id.clone(), c.name.clone())))
            .collect();
        correlations.retain(|c| {
            let missing: Vec<&String> = c
                .rules
                .iter()
                .filter(|x| {
                    !known
                        .iter()
                        .any(|(id, name)| id == *x || name.as_ref() == Some(*x))
                })
                .collect();
            if missing.is_empty() {
                true
            } else {
                self.problems.push(problem(
                    &c.path,
                    Some(c.id.clone()),
                    Some(c.title.clone()),
                    Severity::Error,
                    format!(
                        "correlation references unknown rules: {}",
                        missing
                            .iter()
                            .map(|s| s.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
                false
            }
        });
        let mut set = RuleSet::build(self.rules, &self.opts.pipeline);
        set.warnings.extend(self.warnings);
        set.correlations = correlations;
        (set, self.problems)
    }
}

/// Read a UTF-8 file of at most `limit` bytes.
fn read_capped(path: &Path, limit: u64) -> Result<String, String> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(|e| format!("cannot read: {e}"))?;
    let mut reader = file.take(limit.saturating_add(1));
    let mut buf = Vec::new();
    let mut chunk = [0u8; 64 * 1024];
    loop {
        let n = reader
            .read(&mut chunk)
            .map_err(|e| format!("cannot read: {e}"))?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    if buf.len() as u64 > limit {
        return Err(format!("file is larger than the limit of {limit} bytes"));
    }
    String::from_utf8(buf).map_err(|e| format!("file is not valid UTF-8: {e}"))
}

fn collect_files(
    dir: &Path,
    out: &mut Vec<PathBuf>,
    problems: &mut Vec<LoadProblem>,
    depth: usize,
) {
    if depth > 32 {
        return;
    }
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) => {
            problems.push(problem(
                dir,
                None,
                None,
                Severity::Error,
                format!("cannot read directory: {e}"),
            ));
            return;
        }
    };
    for entry in rd.flatten() {
        let p = entry.path();
        match entry.file_type() {
            Ok(t) if t.is_dir() => collect_files(&p, out, problems, depth + 1),
            Ok(t) if t.is_file() => {
                if matches!(p.extension().and_then(|e| e.to_str()), Some("yml" | "yaml")) {
                    out.push(p)
                }
            }
            _ => {}
        }
    }
}

/// Load every rule file under `path` (recursively). Returns the compiled set and the
/// problems of rules that cannot run; lint-level warnings are in [`RuleSet::warnings`].
pub fn load_dir(path: &Path, opts: &LoadOptions) -> (RuleSet, Vec<LoadProblem>) {
    let mut l = Loader::new(opts.clone());
    l.add_dir(path);
    l.finish()
}

/// Load rules from YAML text (one or more documents).
pub fn load_str(text: &str, opts: &LoadOptions) -> (RuleSet, Vec<LoadProblem>) {
    let mut l = Loader::new(opts.clone());
    l.add_str(Path::new("<string>"), text);
    l.finish()
}
