//! The rules live in a running instance, for the rules API: Sigma rules (the detection
//! destination's [`Rules`]) and correlation rules (the correlator's [`CorrelationHandle`]),
//! listed with their ATT&CK tags, log sources, match counts and evaluation cost; enabled and
//! disabled; written, validated and tested.
//!
//! # Where rules are kept
//! The configured rule paths (`detection.rules`, `correlation.rules`, the shipped pack) are
//! read-only here. Rules written through the API go to `<data_dir>/rules/sigma/<id>.yaml` and
//! `<data_dir>/rules/correlation/<id>.yaml`, which `vigil up` adds to the rule paths, so they
//! load at every start. Disabled rules are listed in `<data_dir>/rules/disabled.json` (with
//! what the list shows of them) and left out of every load. A write, an enable or a disable
//! reloads the engine at once: no restart, and the correlator keeps the state of the rules
//! that did not change.
//!
//! # Tests
//! "Test" runs a rule's own test events (Sigma `tests: {match, no_match}`, correlation
//! `tests:`) and returns the alerts they raise; "retroscan" replays the stored events of the
//! last hours of the caller's tenants through the rule (at most [`MAX_RETRO_EVENTS`]).

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use serde::{Deserialize, Serialize};
use vigil_detect::{Loader as SigmaLoader, SigmaView};
use vigil_event::Timestamp;
use vigil_store::{AggregateRequest, EventStore, Order, SearchRequest, TenantId, TimeRange};

use crate::correlation::CorrelationHandle;
use crate::detection::{Rules, alert_event, load_options};

/// Most stored events a retroscan replays.
pub const MAX_RETRO_EVENTS: usize = 100_000;
/// Most alerts a test or retroscan returns (the count is exact).
pub const MAX_ALERTS_RETURNED: usize = 500;
/// Largest rule source accepted.
pub const MAX_RULE_BYTES: usize = 1 << 20;
/// Largest rule file read back.
const MAX_FILE: u64 = 4 << 20;

/// Which engine a rule runs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum RuleKind {
    /// A Sigma detection (or Sigma correlation) rule.
    Sigma,
    /// A stateful correlation rule (`docs/correlation.md`).
    Correlation,
}

impl RuleKind {
    fn dir(self) -> &'static str {
        match self {
            RuleKind::Sigma => "sigma",
            RuleKind::Correlation => "correlation",
        }
    }
}

/// What an engine counted for a rule since the start.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RuleCost {
    /// Correlation: selector evaluations. Sigma: not counted per rule (see `prefiltered`).
    pub evaluations: Option<u64>,
    /// Sigma: whether the literal prefilter gates the rule (evaluated only on events carrying
    /// its literals); an ungated rule is evaluated on every event of its log source.
    pub prefiltered: Option<bool>,
    /// Correlation: estimated bytes of the rule's open windows.
    pub state_bytes: Option<u64>,
}

/// A rule as the list shows it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RuleSummary {
    /// Rule id.
    pub id: String,
    /// Title (Sigma `title`, correlation `name`).
    pub title: String,
    /// Engine.
    pub kind: RuleKind,
    /// Whether the rule runs.
    pub enabled: bool,
    /// Level (Sigma `level`, correlation `severity`).
    pub level: Option<String>,
    /// Sigma `status` (`stable`, `test`, `experimental`, ...).
    pub maturity: Option<String>,
    /// ATT&CK tactics (`credential-access`).
    pub tactics: Vec<String>,
    /// ATT&CK techniques (`T1110.001`).
    pub techniques: Vec<String>,
    /// Log sources: Sigma `product/category/service`; correlation: the `event.module` values
    /// its selectors require (empty when a selector takes any source).
    pub log_sources: Vec<String>,
    /// The file it was loaded from.
    pub path: Option<String>,
    /// Whether the API may change it (it lives under `<data_dir>/rules`).
    pub writable: bool,
    /// Matches since the start (Sigma: detections; correlation: events matching a selector).
    pub matches: u64,
    /// Correlation: firings since the start.
    pub fired: Option<u64>,
    /// Evaluation cost.
    pub cost: RuleCost,
}

/// A rule with its source.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RuleDetail {
    /// The rule.
    #[serde(flatten)]
    pub rule: RuleSummary,
    /// The YAML of the file the rule is in (a shipped correlation file holds several rules).
    pub source: String,
}

/// One validation problem, at its place in the source when it can be told.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RuleProblem {
    /// 1-based line.
    pub line: Option<u32>,
    /// 1-based column.
    pub column: Option<u32>,
    /// `error` (the rule cannot run) or `warning`.
    pub severity: String,
    /// What is wrong.
    pub message: String,
}

/// The outcome of a validation.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Validation {
    /// No error (warnings allowed).
    pub valid: bool,
    /// The rule id, when it could be read.
    pub id: Option<String>,
    /// Every problem.
    pub problems: Vec<RuleProblem>,
}

/// One test of a rule.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TestCase {
    /// What was tested.
    pub name: String,
    /// Passed?
    pub passed: bool,
    /// Why it failed, or what it found.
    pub detail: String,
}

/// The outcome of a test or a retroscan: the alerts the rule would raise.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RuleRun {
    /// Events evaluated.
    pub events: u64,
    /// Whether the stored events of the range were more than [`MAX_RETRO_EVENTS`] (the
    /// newest were replayed).
    pub truncated: bool,
    /// Tests (empty for a retroscan).
    pub tests: Vec<TestCase>,
    /// Alerts raised (exact count).
    pub alert_count: u64,
    /// The alerts, as nested ECS JSON (at most 500).
    pub alerts: Vec<serde_json::Value>,
}

/// Why a rule operation failed.
#[derive(Debug, thiserror::Error)]
pub enum BookError {
    /// No such rule.
    #[error("no rule '{0}'")]
    NotFound(String),
    /// The rule does not validate.
    #[error("the rule does not validate")]
    Invalid(Vec<RuleProblem>),
    /// The rule is not under `<data_dir>/rules`, or its id is taken.
    #[error("{0}")]
    Conflict(String),
    /// Bad input.
    #[error("{0}")]
    BadRequest(String),
    /// The engine is not running (no rules loaded in this process).
    #[error("{0}")]
    Unavailable(String),
    /// A file or the store failed.
    #[error("{0}")]
    Io(String),
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct DisabledFile {
    /// Disabled rules, by id, with what the list shows of them.
    rules: BTreeMap<String, RuleSummary>,
}

#[derive(Default)]
struct Live {
    sigma: Option<Arc<Rules>>,
    correlation: Option<CorrelationHandle>,
    store: Option<Arc<dyn EventStore>>,
}

/// The rules of the running instance (see the module documentation).
pub struct RuleBook {
    dir: PathBuf,
    disabled: Mutex<DisabledFile>,
    live: RwLock<Live>,
}

impl std::fmt::Debug for RuleBook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuleBook")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

/// ATT&CK tactics in matrix order (Enterprise).
pub const TACTICS: &[&str] = &[
    "reconnaissance",
    "resource-development",
    "initial-access",
    "execution",
    "persistence",
    "privilege-escalation",
    "defense-evasion",
    "credential-access",
    "discovery",
    "lateral-movement",
    "collection",
    "command-and-control",
    "exfiltration",
    "impact",
];

/// Splits Sigma `attack.*` tags into tactics and techniques.
fn attack_tags(tags: &[String]) -> (Vec<String>, Vec<String>) {
    let mut tactics = Vec::new();
    let mut techniques = Vec::new();
    for t in tags {
        let Some(rest) = t.strip_prefix("attack.") else {
            continue;
        };
        let lower = rest.to_ascii_lowercase();
        if lower.starts_with('t') && lower[1..].starts_with(|c: char| c.is_ascii_digit()) {
            techniques.push(lower.to_ascii_uppercase());
        } else {
            let tactic = lower.replace('_', "-");
            if TACTICS.contains(&tactic.as_str()) {
                tactics.push(tactic);
            }
        }
    }
    (tactics, techniques)
}

/// The `event.module` values a correlation selector query requires.
fn query_modules(q: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = q;
    while let Some(i) = rest.find("event.module:") {
        rest = &rest[i + "event.module:".len()..];
        let v: String = rest
            .trim_start_matches(['(', '"', '\''])
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
            .collect();
        if !v.is_empty() {
            out.push(v.to_ascii_lowercase());
        }
    }
    out
}

/// A file name for a rule id: letters, digits, `-`, `_`, `.` (not leading).
fn file_stem(id: &str) -> Result<String, BookError> {
    if id.is_empty()
        || id.len() > 128
        || id.starts_with('.')
        || !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(BookError::BadRequest(format!(
            "id '{id}': use 1-128 letters, digits, '-', '_' or '.' (not leading) for a rule written through the API"
        )));
    }
    Ok(id.to_owned())
}

/// Line and column of a YAML parser message (`... at line 3 column 5`).
fn yaml_position(msg: &str) -> (Option<u32>, Option<u32>) {
    let num_after = |key: &str| -> Option<u32> {
        let i = msg.find(key)? + key.len();
        msg[i..]
            .trim_start()
            .chars()
            .take_while(char::is_ascii_digit)
            .collect::<String>()
            .parse()
            .ok()
    };
    (num_after("line "), num_after("column "))
}

/// The line of the last key of a path such as `rules[0].selectors[1].query`, searched in order
/// through the source.
fn path_line(text: &str, at: &str) -> Option<u32> {
    let keys: Vec<&str> = at
        .split('.')
        .map(|k| k.split('[').next().unwrap_or(k))
        .filter(|k| !k.is_empty())
        .collect();
    let mut from = 0usize;
    let lines: Vec<&str> = text.lines().collect();
    let mut found = None;
    for k in keys {
        let pat = format!("{k}:");
        let hit = lines.iter().enumerate().skip(from).find(|(_, l)| {
            let t = l.trim_start().trim_start_matches("- ");
            t.starts_with(&pat)
        });
        if let Some((i, _)) = hit {
            from = i;
            found = Some(i as u32 + 1);
        }
    }
    found
}

/// The line of the most specific quoted word of a message found in the source (the last one
/// the source holds: `selection 'a': field 'b|x': unknown modifier 'x'` points at `x`).
fn quoted_line(text: &str, msg: &str) -> Option<u32> {
    let words: Vec<&str> = msg
        .split('\'')
        .skip(1)
        .step_by(2)
        .filter(|w| !w.is_empty() && w.len() < 200)
        .collect();
    words.iter().rev().find_map(|w| {
        text.lines()
            .position(|l| l.contains(w))
            .map(|i| i as u32 + 1)
    })
}

fn problem_at(text: &str, message: String, severity: &str, at: Option<&str>) -> RuleProblem {
    let (mut line, column) = yaml_position(&message);
    if line.is_none() {
        line = at
            .filter(|a| !a.is_empty())
            .and_then(|a| path_line(text, a))
            .or_else(|| quoted_line(text, &message));
    }
    RuleProblem {
        line,
        column: if line.is_some() {
            column.or(Some(1))
        } else {
            None
        },
        severity: severity.into(),
        message,
    }
}

/// Guesses the kind of a rule source: Sigma has `detection:` or `correlation:` at the top.
pub fn guess_kind(text: &str) -> RuleKind {
    let sigma = text.lines().any(|l| {
        l.starts_with("detection:") || l.starts_with("logsource:") || l.starts_with("correlation:")
    });
    if sigma {
        RuleKind::Sigma
    } else {
        RuleKind::Correlation
    }
}

fn read_text(p: &Path) -> Result<String, BookError> {
    let bytes = vigil_config::read_file_capped(p, MAX_FILE)
        .map_err(|e| BookError::Io(format!("{}: {e}", p.display())))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

impl RuleBook {
    /// The book of `<data_dir>/rules` (`dir`): reads the disabled list (an unreadable one is
    /// logged and taken as empty).
    pub fn new(dir: PathBuf) -> RuleBook {
        let path = dir.join("disabled.json");
        let disabled = if path.exists() {
            match read_text(&path).and_then(|t| {
                serde_json::from_str::<DisabledFile>(&t)
                    .map_err(|e| BookError::Io(format!("{}: {e}", path.display())))
            }) {
                Ok(d) => d,
                Err(e) => {
                    tracing::error!(error = %e, "the disabled rules list is not readable; every rule runs");
                    DisabledFile::default()
                }
            }
        } else {
            DisabledFile::default()
        };
        RuleBook {
            dir,
            disabled: Mutex::new(disabled),
            live: RwLock::new(Live::default()),
        }
    }

    /// The writable directory of a kind (`<data_dir>/rules/sigma`, `.../correlation`).
    pub fn writable_dir(&self, kind: RuleKind) -> PathBuf {
        self.dir.join(kind.dir())
    }

    /// Creates the writable directories (mode 0700 like the data directory).
    pub fn create_dirs(&self) -> std::io::Result<()> {
        for k in [RuleKind::Sigma, RuleKind::Correlation] {
            vigil_fs::create_dir_all(&self.writable_dir(k))?;
        }
        Ok(())
    }

    /// Connects the running engines and the event store, and puts the disabled list in force.
    pub fn attach(
        &self,
        sigma: Option<Arc<Rules>>,
        correlation: Option<CorrelationHandle>,
        store: Arc<dyn EventStore>,
    ) {
        {
            let mut live = self.live.write();
            live.sigma = sigma;
            live.correlation = correlation;
            live.store = Some(store);
        }
        if !self.disabled.lock().rules.is_empty() {
            self.apply();
        }
    }

    fn disabled_ids(&self) -> HashSet<String> {
        self.disabled.lock().rules.keys().cloned().collect()
    }

    /// Reloads both engines without the disabled ids; returns the problems of rules that did
    /// not load.
    fn apply(&self) -> Vec<String> {
        let ids = self.disabled_ids();
        let live = self.live.read();
        let mut problems = Vec::new();
        if let Some(s) = &live.sigma {
            s.set_disabled(ids.clone());
            match s.reload_now() {
                Ok(p) => problems.extend(p),
                Err(e) => problems.push(e),
            }
        }
        if let Some(c) = &live.correlation {
            problems.extend(c.reload_without(&ids));
        }
        problems
    }

    fn is_writable(&self, path: Option<&Path>) -> bool {
        path.is_some_and(|p| p.starts_with(&self.dir))
    }

    /// Every rule: the ones running, then the disabled ones.
    pub fn list(&self) -> Vec<RuleSummary> {
        let live = self.live.read();
        let mut out = Vec::new();
        if let Some(s) = &live.sigma {
            let set = s.get();
            let counters = s.counters();
            let ungated: HashSet<String> =
                set.ungated_rules().iter().map(|r| r.id.clone()).collect();
            for r in set.rules() {
                let (tactics, techniques) = attack_tags(&r.tags);
                let ls = &r.logsource;
                let source: Vec<String> = [&ls.product, &ls.category, &ls.service]
                    .into_iter()
                    .map(|x| x.clone().unwrap_or_default())
                    .collect();
                let log_sources = if source.iter().all(String::is_empty) {
                    Vec::new()
                } else {
                    vec![source.join("/")]
                };
                out.push(RuleSummary {
                    id: r.id.clone(),
                    title: r.title.clone(),
                    kind: RuleKind::Sigma,
                    enabled: true,
                    level: r.level.clone(),
                    maturity: r.status.clone(),
                    tactics,
                    techniques,
                    log_sources,
                    path: r.path.as_ref().map(|p| p.display().to_string()),
                    writable: self.is_writable(r.path.as_deref()),
                    matches: counters.matches.get(&r.id).copied().unwrap_or(0),
                    fired: None,
                    cost: RuleCost {
                        evaluations: None,
                        prefiltered: Some(!ungated.contains(&r.id)),
                        state_bytes: None,
                    },
                });
            }
        }
        if let Some(c) = &live.correlation {
            for (r, report) in c.rules_with_reports() {
                let mut modules: Vec<String> = r
                    .selectors
                    .iter()
                    .flat_map(|s| {
                        s.query_text
                            .as_deref()
                            .map(query_modules)
                            .unwrap_or_default()
                    })
                    .collect();
                modules.sort();
                modules.dedup();
                let path = r.path.clone();
                out.push(RuleSummary {
                    id: r.id.clone(),
                    title: r.name.clone(),
                    kind: RuleKind::Correlation,
                    enabled: true,
                    level: Some(r.severity.as_str().to_owned()),
                    maturity: None,
                    tactics: r.tactics.clone(),
                    techniques: r.techniques.clone(),
                    log_sources: modules,
                    writable: self.is_writable(Some(&path)),
                    path: Some(path.display().to_string()),
                    matches: report.as_ref().map_or(0, |x| x.stats.matched),
                    fired: Some(report.as_ref().map_or(0, |x| x.stats.fired)),
                    cost: RuleCost {
                        evaluations: Some(report.as_ref().map_or(0, |x| x.stats.evaluated)),
                        prefiltered: None,
                        state_bytes: Some(report.as_ref().map_or(0, |x| x.state_bytes as u64)),
                    },
                });
            }
        }
        let sigma_counts = live.sigma.as_ref().map(|s| s.counters());
        for r in self.disabled.lock().rules.values() {
            if !out.iter().any(|x| x.id == r.id && x.kind == r.kind) {
                let mut r = r.clone();
                r.enabled = false;
                // what the engine counted since the start (the saved figure is from before)
                r.matches = match (&sigma_counts, r.kind) {
                    (Some(c), RuleKind::Sigma) => c.matches.get(&r.id).copied().unwrap_or(0),
                    _ => 0,
                };
                if r.kind == RuleKind::Correlation {
                    r.fired = Some(0);
                }
                out.push(r);
            }
        }
        out
    }

    /// What the Sigma engine counted since the start (none when it does not run).
    pub fn sigma_counters(&self) -> Option<crate::detection::RuleCounters> {
        self.live.read().sigma.as_ref().map(|s| s.counters())
    }

    /// One rule with its file's source.
    pub fn get(&self, id: &str) -> Result<RuleDetail, BookError> {
        let rule = self
            .list()
            .into_iter()
            .find(|r| r.id == id)
            .ok_or_else(|| BookError::NotFound(id.to_owned()))?;
        let source = match &rule.path {
            // a rule of the pack embedded in the binary: its file's text
            Some(p) => match vigil_correlate::shipped::source(Path::new(p)) {
                Some(text) => text.to_owned(),
                None => read_text(Path::new(p))?,
            },
            None => String::new(),
        };
        Ok(RuleDetail { rule, source })
    }

    /// Enables or disables a rule: persisted, and in force at once.
    pub fn set_enabled(&self, id: &str, enabled: bool) -> Result<RuleSummary, BookError> {
        let current = self
            .list()
            .into_iter()
            .find(|r| r.id == id)
            .ok_or_else(|| BookError::NotFound(id.to_owned()))?;
        {
            let mut d = self.disabled.lock();
            if enabled {
                d.rules.remove(id);
            } else {
                let mut r = current.clone();
                r.enabled = false;
                d.rules.insert(id.to_owned(), r);
            }
            self.save_disabled(&d)?;
        }
        for p in self.apply() {
            tracing::warn!(problem = %p, "rule not loaded");
        }
        Ok(self
            .list()
            .into_iter()
            .find(|r| r.id == id)
            .unwrap_or(RuleSummary { enabled, ..current }))
    }

    fn save_disabled(&self, d: &DisabledFile) -> Result<(), BookError> {
        let io = |e: std::io::Error| BookError::Io(format!("{}: {e}", self.dir.display()));
        vigil_fs::create_dir_all(&self.dir).map_err(io)?;
        let bytes = serde_json::to_vec_pretty(d).map_err(|e| BookError::Io(e.to_string()))?;
        write_atomic(&self.dir.join("disabled.json"), &bytes).map_err(io)
    }

    fn sigma_options(&self) -> Result<vigil_detect::LoadOptions, BookError> {
        let live = self.live.read();
        match live.sigma.as_ref().and_then(|s| s.config()) {
            Some(cfg) => load_options(&cfg.pipeline, &cfg.placeholders).map_err(BookError::Io),
            None => Ok(vigil_detect::LoadOptions::default()),
        }
    }

    /// A correlation loader holding `text` (named `origin`) and the configured rule paths
    /// (their lists and tables, which rules refer to), but no other rule and not the file that
    /// `origin` replaces. Returns the loader and the ids `text` defines.
    fn correlation_loader(
        &self,
        origin: &Path,
        text: &str,
    ) -> Result<(vigil_correlate::Loader, Vec<String>), BookError> {
        let mut own = vigil_correlate::Loader::new();
        own.add_str(origin, text);
        let (alone, _) = own.finish();
        let mut ids: Vec<String> = alone.rules.iter().map(|r| r.id.clone()).collect();
        // ids of rules that failed to compile alone (a list they name is declared elsewhere)
        for id in raw_ids(text) {
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        let mut loader = vigil_correlate::Loader::new();
        let live = self.live.read();
        if let Some(c) = &live.correlation {
            for p in &c.config().rules {
                add_correlation_path(&mut loader, p, origin);
            }
        }
        loader.add_str(origin, text);
        let (all, _) = {
            let mut probe = vigil_correlate::Loader::new();
            if let Some(c) = &live.correlation {
                for p in &c.config().rules {
                    add_correlation_path(&mut probe, p, origin);
                }
            }
            probe.finish()
        };
        let others: HashSet<String> = all
            .rules
            .iter()
            .map(|r| r.id.clone())
            .filter(|id| !ids.contains(id))
            .collect();
        loader.exclude(&others);
        Ok((loader, ids))
    }

    /// Validates a rule source; problems carry their line and column when they can be told.
    pub fn validate(&self, kind: RuleKind, text: &str) -> Validation {
        let origin = Path::new("rule.yaml");
        let mut problems = Vec::new();
        let mut id = None;
        if text.len() > MAX_RULE_BYTES {
            problems.push(RuleProblem {
                line: None,
                column: None,
                severity: "error".into(),
                message: format!("the rule is larger than {MAX_RULE_BYTES} bytes"),
            });
            return Validation {
                valid: false,
                id,
                problems,
            };
        }
        match kind {
            RuleKind::Sigma => {
                let opts = match self.sigma_options() {
                    Ok(o) => o,
                    Err(e) => {
                        problems.push(problem_at(text, e.to_string(), "error", None));
                        return Validation {
                            valid: false,
                            id,
                            problems,
                        };
                    }
                };
                let mut loader = SigmaLoader::new(opts);
                loader.add_str(origin, text);
                let (set, errs) = loader.finish();
                id = set
                    .rules()
                    .first()
                    .map(|r| r.id.clone())
                    .or_else(|| set.correlations().first().map(|c| c.id.clone()))
                    .or_else(|| errs.iter().find_map(|p| p.rule_id.clone()));
                for p in errs {
                    problems.push(problem_at(text, p.reason, "error", None));
                }
                for w in set.warnings() {
                    problems.push(problem_at(text, w.reason.clone(), "warning", None));
                }
                for w in vigil_detect::ruletest::lint_text(origin, text) {
                    let sev = match w.severity {
                        vigil_detect::Severity::Error => "error",
                        vigil_detect::Severity::Warning => "warning",
                    };
                    if !problems.iter().any(|p| p.message == w.reason) {
                        problems.push(problem_at(text, w.reason, sev, None));
                    }
                }
                if set.is_empty() && set.correlations().is_empty() && problems.is_empty() {
                    problems.push(problem_at(
                        text,
                        "no rule in the source".into(),
                        "error",
                        None,
                    ));
                }
            }
            RuleKind::Correlation => match self.correlation_loader(origin, text) {
                Ok((loader, ids)) => {
                    let (rules, errs) = loader.finish();
                    id = ids.first().cloned();
                    for p in errs.into_iter().filter(|p| p.file == origin) {
                        let msg = if p.at.is_empty() {
                            p.message.clone()
                        } else {
                            format!("{}: {}", p.at, p.message)
                        };
                        problems.push(problem_at(text, msg, "error", Some(&p.at)));
                    }
                    if !rules.rules.iter().any(|r| ids.contains(&r.id)) && problems.is_empty() {
                        problems.push(problem_at(
                            text,
                            "no rule in the source".into(),
                            "error",
                            None,
                        ));
                    }
                }
                Err(e) => problems.push(problem_at(text, e.to_string(), "error", None)),
            },
        }
        Validation {
            valid: !problems.iter().any(|p| p.severity == "error"),
            id,
            problems,
        }
    }

    /// Writes a rule to `<data_dir>/rules/<kind>/<id>.yaml` and puts it in force. `expect_id`:
    /// an update of that rule (the source must keep its id). A rule whose id a configured
    /// (read-only) file holds is refused. Returns the rule and whether it was created.
    pub fn save(
        &self,
        kind: RuleKind,
        text: &str,
        expect_id: Option<&str>,
    ) -> Result<(RuleSummary, bool), BookError> {
        let v = self.validate(kind, text);
        if !v.valid {
            return Err(BookError::Invalid(v.problems));
        }
        let id =
            v.id.ok_or_else(|| BookError::BadRequest("the rule has no id".into()))?;
        if raw_ids(text).len() > 1 {
            return Err(BookError::BadRequest(
                "write one rule per source through the API".into(),
            ));
        }
        if let Some(want) = expect_id
            && want != id
        {
            return Err(BookError::BadRequest(format!(
                "the source's id '{id}' is not the rule's id '{want}'"
            )));
        }
        let stem = file_stem(&id)?;
        let existing = self.list().into_iter().find(|r| r.id == id);
        if let Some(r) = &existing {
            if !r.writable {
                return Err(BookError::Conflict(format!(
                    "rule '{id}' is in {} (configured, read-only here); give the new rule another id",
                    r.path.as_deref().unwrap_or("the configuration")
                )));
            }
            if expect_id.is_none() {
                return Err(BookError::Conflict(format!("rule '{id}' already exists")));
            }
            if r.kind != kind {
                return Err(BookError::Conflict(format!(
                    "rule '{id}' is a {} rule",
                    r.kind.dir()
                )));
            }
        } else if let Some(want) = expect_id {
            return Err(BookError::NotFound(want.to_owned()));
        }
        let dir = self.writable_dir(kind);
        let io = |e: std::io::Error| BookError::Io(format!("{}: {e}", dir.display()));
        vigil_fs::create_dir_all(&dir).map_err(io)?;
        write_atomic(&dir.join(format!("{stem}.yaml")), text.as_bytes()).map_err(io)?;
        for p in self.apply() {
            tracing::warn!(problem = %p, "rule not loaded");
        }
        let created = existing.is_none();
        let summary = self
            .list()
            .into_iter()
            .find(|r| r.id == id)
            .ok_or_else(|| BookError::Io(format!("rule '{id}' was written but did not load")))?;
        Ok((summary, created))
    }

    /// Runs a rule source's own test events and returns the alerts they raise.
    pub fn test(&self, kind: RuleKind, text: &str) -> Result<RuleRun, BookError> {
        let v = self.validate(kind, text);
        if !v.valid {
            return Err(BookError::Invalid(v.problems));
        }
        let origin = Path::new("rule.yaml");
        match kind {
            RuleKind::Sigma => {
                let attached = vigil_detect::ruletest::parse_attached(origin, text)
                    .map_err(BookError::BadRequest)?;
                if attached.is_empty() {
                    return Err(BookError::BadRequest(
                        "the rule has no tests: add `tests: {match: [...], no_match: [...]}`"
                            .into(),
                    ));
                }
                let mut run = RuleRun {
                    events: 0,
                    truncated: false,
                    tests: Vec::new(),
                    alert_count: 0,
                    alerts: Vec::new(),
                };
                let opts = self.sigma_options()?;
                for t in &attached {
                    for r in vigil_detect::ruletest::run_attached(t) {
                        run.tests.push(TestCase {
                            name: r.name,
                            passed: r.passed,
                            detail: r.detail,
                        });
                    }
                    let mut loader = SigmaLoader::new(if t.windows {
                        vigil_detect::LoadOptions::windows()
                    } else {
                        opts.clone()
                    });
                    loader.add_str(origin, &t.text);
                    let (set, _) = loader.finish();
                    for e in t.matching.iter().chain(&t.non_matching) {
                        run.events += 1;
                        for d in set.detect(e) {
                            run.alert_count += 1;
                            if run.alerts.len() < MAX_ALERTS_RETURNED {
                                run.alerts.push(serde_json::json!({
                                    "rule": {"id": d.rule.id, "name": d.rule.title},
                                    "log": {"level": d.rule.level},
                                    "tags": d.rule.tags,
                                    "vigil": {"detection": {"matched": d.matched.iter().map(|m| format!("{}={}", m.field, m.value)).collect::<Vec<_>>()}},
                                    "event": e,
                                }));
                            }
                        }
                    }
                }
                Ok(run)
            }
            RuleKind::Correlation => {
                let (loader, ids) = self.correlation_loader(origin, text)?;
                let (rules, _) = loader.finish();
                let (report, outputs) = vigil_correlate::run_tests_with_alerts(rules);
                let mut run = RuleRun {
                    events: 0,
                    truncated: false,
                    tests: Vec::new(),
                    alert_count: 0,
                    alerts: Vec::new(),
                };
                let failed: BTreeSet<(String, String)> = report
                    .failures
                    .iter()
                    .map(|f| (f.rule.clone(), f.test.clone()))
                    .collect();
                for f in &report.failures {
                    run.tests.push(TestCase {
                        name: format!("{} / {}", f.rule, f.test),
                        passed: false,
                        detail: f.message.clone(),
                    });
                }
                for (rule, test, events, alerts) in outputs {
                    if !ids.contains(&rule) {
                        continue;
                    }
                    run.events += events;
                    if !failed.contains(&(rule.clone(), test.clone())) {
                        run.tests.push(TestCase {
                            name: format!("{rule} / {test}"),
                            passed: true,
                            detail: format!("{} alert(s)", alerts.len()),
                        });
                    }
                    for a in alerts {
                        run.alert_count += 1;
                        if run.alerts.len() < MAX_ALERTS_RETURNED {
                            run.alerts.push(a.to_json());
                        }
                    }
                }
                if run.tests.is_empty() {
                    return Err(BookError::BadRequest(
                        "the rule has no tests: add `tests:` (docs/correlation.md)".into(),
                    ));
                }
                Ok(run)
            }
        }
    }

    /// Replays the stored events of the last `hours` of `tenants` (oldest first, at most
    /// [`MAX_RETRO_EVENTS`], the newest kept) through a rule source.
    pub fn retroscan(
        &self,
        kind: RuleKind,
        text: &str,
        hours: u32,
        tenants: &[TenantId],
    ) -> Result<RuleRun, BookError> {
        let v = self.validate(kind, text);
        if !v.valid {
            return Err(BookError::Invalid(v.problems));
        }
        let store = self
            .live
            .read()
            .store
            .clone()
            .ok_or_else(|| BookError::Unavailable("no event store in this process".into()))?;
        let now = Timestamp::now();
        let from = Timestamp(now.0.saturating_sub(i64::from(hours) * 3_600_000_000_000));
        let mut events = Vec::new();
        let mut truncated = false;
        for t in tenants {
            let mut req = SearchRequest::parse("NOT vigil.type:correlation", MAX_RETRO_EVENTS)
                .map_err(|e| BookError::Io(e.to_string()))?;
            req.range = TimeRange::new(from, Timestamp(now.0.saturating_add(1)));
            req.order = Order::NewestFirst;
            let mut r = store
                .search(t, &req)
                .map_err(|e| BookError::Io(e.to_string()))?;
            truncated |= r.events.len() >= MAX_RETRO_EVENTS;
            events.append(&mut r.events);
        }
        events.sort_by_key(|e| e.timestamp.0);
        if events.len() > MAX_RETRO_EVENTS {
            truncated = true;
            events.drain(..events.len() - MAX_RETRO_EVENTS);
        }
        let origin = Path::new("rule.yaml");
        let mut run = RuleRun {
            events: events.len() as u64,
            truncated,
            tests: Vec::new(),
            alert_count: 0,
            alerts: Vec::new(),
        };
        match kind {
            RuleKind::Sigma => {
                let mut loader = SigmaLoader::new(self.sigma_options()?);
                loader.add_str(origin, text);
                let (set, _) = loader.finish();
                let mut found = Vec::new();
                for ev in &events {
                    found.clear();
                    set.matches(&SigmaView(ev), &mut found);
                    for d in &found {
                        run.alert_count += 1;
                        if run.alerts.len() < MAX_ALERTS_RETURNED {
                            run.alerts.push(alert_event(ev, d).to_json());
                        }
                    }
                }
            }
            RuleKind::Correlation => {
                let (loader, ids) = self.correlation_loader(origin, text)?;
                let (rules, _) = loader.finish();
                let report = vigil_correlate::retroscan(rules, None, &events, 1000);
                for a in report.alerts {
                    let rule = a.rule.id.as_deref().unwrap_or_default().to_owned();
                    if !ids.contains(&rule) {
                        continue;
                    }
                    run.alert_count += 1;
                    if run.alerts.len() < MAX_ALERTS_RETURNED {
                        run.alerts.push(a.to_json());
                    }
                }
            }
        }
        Ok(run)
    }

    /// Events per `event.module` over the last `hours` in `tenants`: which log sources send.
    pub fn source_counts(
        &self,
        hours: u32,
        tenants: &[TenantId],
    ) -> Result<BTreeMap<String, u64>, BookError> {
        let store = self
            .live
            .read()
            .store
            .clone()
            .ok_or_else(|| BookError::Unavailable("no event store in this process".into()))?;
        let now = Timestamp::now();
        let from = Timestamp(now.0.saturating_sub(i64::from(hours) * 3_600_000_000_000));
        let mut out = BTreeMap::new();
        for t in tenants {
            let mut req =
                AggregateRequest::parse("NOT vigil.type:correlation | count by event.module")
                    .map_err(|e| BookError::Io(e.to_string()))?;
            req.range = TimeRange::new(from, Timestamp(now.0.saturating_add(1)));
            let r = store
                .aggregate(t, &req)
                .map_err(|e| BookError::Io(e.to_string()))?;
            let table = &r.table;
            for i in 0..table.rows.len() {
                use vigil_query::Value as Cell;
                let module = match table.get(i, "event.module") {
                    Some(Cell::Str(s)) => Some(s.clone()),
                    _ => None,
                };
                let n = match table.get(i, "count") {
                    Some(Cell::Int(n)) => u64::try_from(*n).unwrap_or(0),
                    Some(Cell::Float(f)) => *f as u64,
                    _ => 0,
                };
                if let Some(m) = module {
                    *out.entry(m.to_ascii_lowercase()).or_insert(0) += n;
                }
            }
        }
        Ok(out)
    }
}

/// The ids a correlation source declares (single rule, or under `rules:`), or a Sigma source's.
fn raw_ids(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for l in text.lines() {
        let t = l.trim_start();
        let indent = l.len() - t.len();
        let t = t.strip_prefix("- ").unwrap_or(t);
        if (indent == 0 || l.trim_start().starts_with("- ") || indent <= 4)
            && let Some(v) = t.strip_prefix("id:")
        {
            let v = v.trim().trim_matches(['"', '\'']);
            if !v.is_empty() && (indent == 0 || l.trim_start().starts_with("- id:")) {
                out.push(v.to_owned());
            }
        }
    }
    out
}

fn add_correlation_path(loader: &mut vigil_correlate::Loader, p: &Path, skip: &Path) {
    if vigil_correlate::shipped::is_builtin(p) {
        // the embedded pack: never the file a rule of the API replaces
        loader.add_path(p);
    } else if p.is_dir() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(p)
            .map(|rd| rd.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        files.sort();
        for f in files {
            if f == skip {
                continue;
            }
            if f.is_dir() {
                add_correlation_path(loader, &f, skip);
            } else if matches!(f.extension().and_then(|x| x.to_str()), Some("yml" | "yaml")) {
                loader.add_file(&f);
            }
        }
    } else if p != skip {
        loader.add_file(p);
    }
}

fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    {
        let mut f = vigil_fs::create(&tmp)?;
        std::io::Write::write_all(&mut f, bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attack_tags_split_into_tactics_and_techniques() {
        let (ta, te) = attack_tags(&[
            "attack.credential_access".into(),
            "attack.t1110.001".into(),
            "attack.g0016".into(),
            "cve.2021-1".into(),
        ]);
        assert_eq!(ta, ["credential-access"]);
        assert_eq!(te, ["T1110.001"]);
    }

    #[test]
    fn positions_come_from_the_parser_or_the_path() {
        assert_eq!(
            yaml_position("did not find expected key at line 3 column 5"),
            (Some(3), Some(5))
        );
        let text = "id: a\nselectors:\n  - name: x\n    query: 'a:'\n";
        assert_eq!(path_line(text, "selectors[0].query"), Some(4));
        assert_eq!(
            query_modules("event.module:sshd AND event.action:x"),
            ["sshd"]
        );
        assert_eq!(
            raw_ids("rules:\n  - id: a\n    name: b\n  - id: c\n"),
            ["a", "c"]
        );
        assert_eq!(raw_ids("title: x\nid: abc\n"), ["abc"]);
        let rule = "detection:\n  selection:\n    a|nosuch: x\n";
        assert_eq!(
            quoted_line(
                rule,
                "selection 'selection': field 'a|nosuch': unknown modifier 'nosuch'"
            ),
            Some(3)
        );
    }

    #[test]
    fn ids_that_are_not_file_names_are_refused() {
        assert!(file_stem("../etc/passwd").is_err());
        assert!(file_stem(".hidden").is_err());
        assert!(file_stem("ssh-brute_force.v2").is_ok());
    }
}
