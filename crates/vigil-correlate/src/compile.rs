//! Loading rule files into [`Rules`]: every problem is collected with its file and its path
//! inside the file (`rules[2].selectors[0].query: ...`), a rule with a problem is left out and
//! the others load. Query selectors are parsed against the event schema; Sigma detection
//! blocks are compiled together into one Sigma rule set, so the Sigma engine's prefilter
//! serves all of them at once.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use vigil_event::Value;
use vigil_query::{CompiledFilter, Expr, Term, Value as QValue};

use crate::raw::{
    CmpName, LatePolicy, ListOp, RawFile, RawRule, RawStore, RawTest, RuleKind, SeverityName,
    Trigger,
};
use crate::store::{DEFAULT_MAX_ENTRIES, StoreDef, StoreKind};

/// Largest rule file read (bytes).
pub const MAX_FILE_BYTES: u64 = 4 << 20;
/// Largest threshold of one selector (state per bucket is bounded by it).
pub const MAX_THRESHOLD: u64 = 10_000;
/// Most selectors (or steps) of one rule.
pub const MAX_SELECTORS: usize = 32;

/// One problem found while loading, with where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadProblem {
    /// The file (or the origin name given to a string).
    pub file: PathBuf,
    /// Path inside the file (`rules[0].selectors[1].query`), empty for the whole file.
    pub at: String,
    /// The rule id, when known.
    pub rule: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for LoadProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if !self.at.is_empty() {
            write!(f, ": {}", self.at)?;
        }
        if let Some(r) = &self.rule {
            write!(f, " [{r}]")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Parses a duration: a whole number and a unit (`ms`, `s`, `m`, `h`, `d`, `w`); returns
/// nanoseconds.
pub fn parse_duration(s: &str) -> Result<i64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: i64 = num
        .parse()
        .map_err(|_| format!("invalid duration '{s}' (e.g. 30s, 5m, 1h)"))?;
    let mult: i64 = match unit.trim() {
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60 * 1_000_000_000,
        "h" => 3_600 * 1_000_000_000,
        "d" => 86_400 * 1_000_000_000,
        "w" => 7 * 86_400 * 1_000_000_000,
        "" => return Err(format!("duration '{s}' needs a unit (ms, s, m, h, d, w)")),
        u => return Err(format!("unknown unit '{u}' in duration '{s}'")),
    };
    n.checked_mul(mult)
        .filter(|v| *v <= 366 * 86_400 * 1_000_000_000)
        .ok_or_else(|| format!("duration '{s}' is longer than a year"))
}

/// A comparison on a list entry column.
#[derive(Debug, Clone)]
pub struct Membership {
    /// Store index.
    pub store: usize,
    /// Event fields forming the key.
    pub key: Vec<String>,
    /// Require absence.
    pub absent: bool,
    /// Column compared.
    pub column: Option<String>,
    /// Operator.
    pub op: CmpName,
    /// Constant operand.
    pub value: Option<Value>,
    /// Field operand.
    pub field: Option<String>,
    /// Capture indices of the key fields.
    pub key_caps: Vec<usize>,
    /// Capture index of the field operand.
    pub field_cap: Option<usize>,
}

/// A compiled selector.
#[derive(Debug)]
pub struct Selector {
    /// Name.
    pub name: String,
    /// The query text, if any.
    pub query_text: Option<String>,
    /// The compiled query.
    pub filter: Option<CompiledFilter>,
    /// Whether a Sigma block must match too.
    pub sigma: bool,
    /// Membership tests.
    pub lists: Vec<Membership>,
    /// Threshold (≥ 1).
    pub threshold: u64,
    /// Recovery selector (standard).
    pub recovery: bool,
    /// Sequence joins: (capture index of this step's field, step, capture index of its field).
    pub join: Vec<(usize, usize, usize)>,
    /// Prefilter route: a field and the lowercase values one of which it must have.
    pub route: Option<(String, Vec<String>)>,
    /// A field the query requires to be present (when it has no route): the selector is
    /// evaluated only on events that have it.
    pub requires: Option<String>,
    /// Prefilter routes when there is no single one: the query is an `OR` of branches on
    /// different fields, each with a route; the selector is a candidate when any of them hits.
    pub any_routes: Vec<(String, Vec<String>)>,
    /// The query is exactly `requires:*` (the field has a value): an event routed to the
    /// selector by that field matches it without evaluating the query.
    pub exists_only: bool,
    /// Further conditions of a routed selector's top-level `AND`, each a field and the
    /// lowercase text values one of which it must have (`event.outcome:failure` beside the
    /// `event.action` route): the selector is a candidate only when every one holds too, so
    /// the query is not evaluated on events that fail any of them.
    pub extra_routes: Vec<(String, Vec<String>)>,
    /// The query is exactly its route and further conditions (an `AND` of case-insensitive
    /// equalities and `in` lists, nothing else): a candidate matches it without evaluating
    /// the query, since the prefilter tested each condition as the query does.
    pub decided: bool,
    /// Whether the selector takes correlation and service events (its query names
    /// `vigil.type`); other selectors see base and aggregated events only, so a rule never
    /// feeds on its own output by accident.
    pub derived: bool,
}

/// A list/table action of a rule.
#[derive(Debug, Clone)]
pub struct ListAction {
    /// Store index.
    pub store: usize,
    /// Operation.
    pub op: ListOp,
    /// Key fields.
    pub key: Vec<String>,
    /// column ← field.
    pub from: Vec<(String, String)>,
    /// column ← constant.
    pub set: Vec<(String, Value)>,
    /// Increment column.
    pub column: String,
    /// Increment amount.
    pub by: f64,
    /// TTL override (ns).
    pub ttl_ns: Option<i64>,
}

/// A compiled correlation rule.
#[derive(Debug)]
pub struct Rule {
    /// Stable id.
    pub id: String,
    /// Version.
    pub version: u32,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Kind.
    pub kind: RuleKind,
    /// Severity.
    pub severity: SeverityName,
    /// ATT&CK tactics.
    pub tactics: Vec<String>,
    /// ATT&CK techniques.
    pub techniques: Vec<String>,
    /// Tags.
    pub tags: Vec<String>,
    /// Window (ns; 0 for simple/operational).
    pub window_ns: i64,
    /// Allowed lateness (ns).
    pub lateness_ns: i64,
    /// Late policy.
    pub late_policy: LatePolicy,
    /// Group-by fields (canonical names).
    pub group_by: Vec<String>,
    /// Unique fields.
    pub unique: Vec<String>,
    /// Selectors.
    pub selectors: Vec<Selector>,
    /// Trigger (standard).
    pub trigger: Trigger,
    /// Beaconing: the largest standard deviation of the gaps, as a fraction of their mean.
    pub max_jitter: Option<f64>,
    /// Rate limit: (max, period ns).
    pub rate_limit: Option<(u32, i64)>,
    /// Fields copied into the correlation event.
    pub copy: Vec<String>,
    /// Emit a correlation event.
    pub emit_event: bool,
    /// Hand it to the core as an alert.
    pub alert: bool,
    /// Loop it back.
    pub loop_back: bool,
    /// List actions.
    pub list_actions: Vec<ListAction>,
    /// Fields captured from each matching event (copy, joins, list actions).
    pub captures: Vec<String>,
    /// Tests.
    pub tests: Vec<RawTest>,
    /// Hash of the rule's logic: state survives a reload only while it is unchanged.
    pub fingerprint: u64,
    /// File it came from.
    pub path: PathBuf,
}

impl Rule {
    /// An absence rule with one selector and no list test (a source that goes silent): its
    /// state per group is the newest event, updated on arrival, in any order.
    pub fn is_silent_group(&self) -> bool {
        self.kind == RuleKind::Absence
            && self.selectors.len() == 1
            && self.selectors[0].lists.is_empty()
    }

    /// Index of a captured field.
    pub fn capture_index(&self, field: &str) -> Option<usize> {
        self.captures.iter().position(|c| c == field)
    }
}

/// A set of compiled rules and list declarations, ready for [`crate::Engine`].
#[derive(Debug)]
pub struct Rules {
    /// Rules, in load order.
    pub rules: Vec<Arc<Rule>>,
    /// Active lists and context tables.
    pub stores: Vec<StoreDef>,
    /// Sigma blocks of every selector, as one rule set (rule id `"<rule index>:<selector>"`).
    pub(crate) sigma: Option<vigil_detect::RuleSet>,
}

impl Rules {
    /// A rule by id.
    pub fn get(&self, id: &str) -> Option<&Arc<Rule>> {
        self.rules.iter().find(|r| r.id == id)
    }
}

/// The rule kinds, as the `kind:` of a rule file says them.
pub const KINDS: &[&str] = &["simple", "standard", "sequence", "absence", "operational"];

/// Whether a YAML text is a correlation rule file (one rule with `id` and a correlation
/// `kind`, or a file of `rules` / `active_lists` / `context_tables`) rather than, say, a
/// Sigma rule: how `vigil rules test` tells the two apart in one directory.
pub fn is_rule_file(text: &str) -> bool {
    let Ok(yaml_serde::Value::Mapping(m)) = yaml_serde::from_str::<yaml_serde::Value>(text) else {
        return false;
    };
    if m.contains_key("id") {
        return m
            .get("kind")
            .and_then(|k| k.as_str())
            .is_some_and(|k| KINDS.contains(&k));
    }
    !m.is_empty()
        && m.keys().all(|k| {
            matches!(
                k.as_str(),
                Some("rules" | "active_lists" | "context_tables")
            )
        })
}

/// Accumulates rule files, then compiles them.
#[derive(Debug, Default)]
pub struct Loader {
    rules: Vec<(PathBuf, String, RawRule)>,
    stores: Vec<(PathBuf, String, RawStore, StoreKind)>,
    problems: Vec<LoadProblem>,
}

fn fnv(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

fn to_value(v: &serde_json::Value) -> Value {
    Value::from_json(v)
}

fn canonical(field: &str) -> String {
    vigil_event::canonical_name(field)
        .map(str::to_string)
        .unwrap_or_else(|| field.to_string())
}

fn route_of(expr: &Expr) -> Option<(String, Vec<String>)> {
    fn text(v: &QValue) -> Option<String> {
        match v {
            QValue::Str(s) => Some(s.to_lowercase()),
            QValue::Int(i) => Some(i.to_string()),
            _ => None,
        }
    }
    const PREFERRED: &[&str] = &[
        "event.action",
        "event.code",
        "event.dataset",
        "event.module",
        "vigil.type",
        "rule.id",
        "process.name",
        "event.provider",
        "event.category",
        "event.outcome",
    ];
    match expr {
        Expr::Term(Term::Eq {
            field,
            value,
            case_sensitive: false,
        }) => Some((field.clone(), vec![text(value)?])),
        Expr::Term(Term::In { field, values }) => Some((
            field.clone(),
            values.iter().map(text).collect::<Option<Vec<_>>>()?,
        )),
        Expr::And(children) => {
            let routes: Vec<(String, Vec<String>)> = children.iter().filter_map(route_of).collect();
            routes
                .iter()
                .min_by_key(|(f, v)| {
                    (
                        PREFERRED
                            .iter()
                            .position(|p| p == f)
                            .unwrap_or(PREFERRED.len()),
                        v.len(),
                    )
                })
                .cloned()
        }
        Expr::Or(children) => {
            let mut field: Option<String> = None;
            let mut values = Vec::new();
            for c in children {
                let (f, v) = route_of(c)?;
                if field.as_ref().is_some_and(|x| *x != f) {
                    return None;
                }
                field = Some(f);
                values.extend(v);
            }
            Some((field?, values))
        }
        _ => None,
    }
}

/// Necessary conditions of an `AND` beside its route `primary`: each child that is a
/// case-insensitive equality (or `in`) on text values, as a field and its lowercase values.
/// Only text values: their test is the route's (a lowercase comparison of the value's text),
/// where a number's is not (`event.code:4625` also takes `"04625"`).
fn extra_routes_of(expr: &Expr, primary: &(String, Vec<String>)) -> Vec<(String, Vec<String>)> {
    let Expr::And(children) = expr else {
        return Vec::new();
    };
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for c in children {
        let r = match c {
            Expr::Term(Term::Eq {
                field,
                value: QValue::Str(s),
                case_sensitive: false,
            }) => (field.clone(), vec![s.to_lowercase()]),
            Expr::Term(Term::In { field, values }) => {
                let Some(vs) = values
                    .iter()
                    .map(|v| match v {
                        QValue::Str(s) => Some(s.to_lowercase()),
                        _ => None,
                    })
                    .collect::<Option<Vec<_>>>()
                else {
                    continue;
                };
                (field.clone(), vs)
            }
            _ => continue,
        };
        if r != *primary && !out.contains(&r) {
            out.push(r);
        }
    }
    out
}

/// Whether `expr` is exactly the conjunction of its route and further conditions: every term
/// an equality or `in` list that the prefilter tests (a route value holds exactly when the
/// term does: the same lowercase text, and a number's text is the number).
fn decided_by_routes(
    expr: &Expr,
    primary: &(String, Vec<String>),
    extra: &[(String, Vec<String>)],
) -> bool {
    let covered = |e: &Expr| match e {
        Expr::Term(Term::Eq {
            case_sensitive: false,
            ..
        })
        | Expr::Term(Term::In { .. }) => {
            route_of(e).is_some_and(|r| r == *primary || extra.iter().take(63).any(|x| *x == r))
        }
        _ => false,
    };
    match expr {
        Expr::And(children) => !children.is_empty() && children.iter().all(covered),
        e => covered(e),
    }
}

/// Routes one of which every match of `expr` takes: for an `OR` of branches on different
/// fields (`event.code:4672 OR (event.module:sshd AND user.name:root)`), each branch's route.
fn any_routes_of(expr: &Expr) -> Option<Vec<(String, Vec<String>)>> {
    if let Some(r) = route_of(expr) {
        return Some(vec![r]);
    }
    match expr {
        Expr::And(children) => children.iter().find_map(any_routes_of),
        Expr::Or(children) => {
            let mut out: Vec<(String, Vec<String>)> = Vec::new();
            for c in children {
                for (f, vs) in any_routes_of(c)? {
                    match out.iter_mut().find(|(g, _)| *g == f) {
                        Some((_, have)) => have.extend(vs),
                        None => out.push((f, vs)),
                    }
                }
            }
            Some(out)
        }
        _ => None,
    }
}

/// A field every match of `expr` has a value in.
fn required_field(expr: &Expr) -> Option<String> {
    match expr {
        Expr::Term(t) => t.field().map(str::to_string),
        Expr::And(children) => children.iter().find_map(required_field),
        Expr::Or(children) => {
            let fields: Vec<String> = children.iter().map(required_field).collect::<Option<_>>()?;
            let first = fields.first()?.clone();
            fields.iter().all(|f| *f == first).then_some(first)
        }
        _ => None,
    }
}

impl Loader {
    /// An empty loader.
    pub fn new() -> Loader {
        Loader::default()
    }

    /// The problems found so far.
    pub fn problems(&self) -> &[LoadProblem] {
        &self.problems
    }

    fn problem(
        &mut self,
        file: &Path,
        at: impl Into<String>,
        rule: Option<&str>,
        msg: impl Into<String>,
    ) {
        self.problems.push(LoadProblem {
            file: file.to_path_buf(),
            at: at.into(),
            rule: rule.map(str::to_string),
            message: msg.into(),
        });
    }

    /// Adds what a configured path names: the embedded pack or one of its files
    /// (`builtin:correlation[/<file>]`, [`crate::shipped`]), a directory (recursively) or a
    /// file. An unknown `builtin:` name is a problem of that path.
    pub fn add_path(&mut self, p: &Path) {
        if crate::shipped::is_builtin(p) {
            match crate::shipped::resolve(p) {
                Some(files) => {
                    for (name, text) in files {
                        let origin = PathBuf::from(format!("{}/{name}", crate::shipped::PACK));
                        self.add_str(&origin, text);
                    }
                }
                None => self.problem(
                    p,
                    "",
                    None,
                    format!(
                        "no such built-in rule file (the shipped pack is {}, or one of its files: {})",
                        crate::shipped::PACK,
                        crate::shipped::files()
                            .iter()
                            .map(|(n, _)| format!("{}/{n}", crate::shipped::PACK))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ),
            }
        } else if p.is_dir() {
            self.add_dir(p);
        } else {
            self.add_file(p);
        }
    }

    /// Adds every `*.yaml` / `*.yml` file under `dir` (recursively, in name order).
    pub fn add_dir(&mut self, dir: &Path) {
        let mut files = Vec::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            let rd = match std::fs::read_dir(&d) {
                Ok(rd) => rd,
                Err(e) => {
                    self.problem(&d, "", None, format!("cannot read directory: {e}"));
                    continue;
                }
            };
            for e in rd.flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else if p.extension().is_some_and(|x| x == "yaml" || x == "yml") {
                    files.push(p);
                }
            }
        }
        files.sort();
        for f in files {
            self.add_file(&f);
        }
    }

    /// Adds one file.
    pub fn add_file(&mut self, path: &Path) {
        match std::fs::metadata(path) {
            Ok(m) if m.len() > MAX_FILE_BYTES => {
                self.problem(
                    path,
                    "",
                    None,
                    format!("file larger than {MAX_FILE_BYTES} bytes"),
                );
                return;
            }
            Err(e) => {
                self.problem(path, "", None, format!("cannot read: {e}"));
                return;
            }
            _ => {}
        }
        let mut text = String::new();
        #[allow(clippy::disallowed_methods)] // bounded by `take`
        let read = std::fs::File::open(path).and_then(|f| {
            use std::io::Read as _;
            f.take(MAX_FILE_BYTES).read_to_string(&mut text)
        });
        match read {
            Ok(_) => self.add_str(path, &text),
            Err(e) => self.problem(path, "", None, format!("cannot read: {e}")),
        }
    }

    /// Adds the text of a rule file, named `origin` in problems.
    pub fn add_str(&mut self, origin: &Path, text: &str) {
        let doc: yaml_serde::Value = match yaml_serde::from_str(text) {
            Ok(v) => v,
            Err(e) => {
                self.problem(origin, "", None, format!("invalid YAML: {e}"));
                return;
            }
        };
        let single = matches!(&doc, yaml_serde::Value::Mapping(m) if m.contains_key("id"));
        if single {
            if let Some(r) = self.decode::<RawRule>(origin, "", &doc) {
                self.rules.push((origin.to_path_buf(), String::new(), r));
            }
            return;
        }
        // a file of several rules and lists: each element decoded on its own, so one bad rule
        // does not hide the others
        let yaml_serde::Value::Mapping(m) = &doc else {
            self.problem(
                origin,
                "",
                None,
                "a rule file is a mapping (one rule, or rules/active_lists/context_tables)",
            );
            return;
        };
        for (k, v) in m {
            let key = k.as_str().unwrap_or("");
            let items: &[yaml_serde::Value] = match v {
                yaml_serde::Value::Sequence(items) => items,
                yaml_serde::Value::Null => &[],
                _ => {
                    self.problem(origin, key, None, "expected a list");
                    continue;
                }
            };
            for (i, item) in items.iter().enumerate() {
                let at = format!("{key}[{i}]");
                match key {
                    "rules" => {
                        if let Some(r) = self.decode::<RawRule>(origin, &at, item) {
                            self.rules.push((origin.to_path_buf(), at, r));
                        }
                    }
                    "active_lists" | "context_tables" => {
                        if let Some(s) = self.decode::<RawStore>(origin, &at, item) {
                            let kind = if key == "active_lists" {
                                StoreKind::ActiveList
                            } else {
                                StoreKind::ContextTable
                            };
                            self.stores.push((origin.to_path_buf(), at, s, kind));
                        }
                    }
                    _ => {}
                }
            }
            if !matches!(key, "rules" | "active_lists" | "context_tables") {
                self.problem(origin, key, None, "unknown key (expected a rule with `id`, or rules, active_lists, context_tables)");
            }
        }
    }

    fn decode<T: serde::de::DeserializeOwned>(
        &mut self,
        file: &Path,
        base: &str,
        v: &yaml_serde::Value,
    ) -> Option<T> {
        match serde_path_to_error::deserialize::<_, T>(v.clone()) {
            Ok(t) => Some(t),
            Err(e) => {
                let inner = e.path().to_string();
                let at = match (base.is_empty(), inner.as_str()) {
                    (_, ".") => base.to_string(),
                    (true, p) => p.to_string(),
                    (false, p) => format!("{base}.{p}"),
                };
                let rule = match v {
                    yaml_serde::Value::Mapping(m) => {
                        m.get("id").and_then(|x| x.as_str()).map(str::to_string)
                    }
                    _ => None,
                };
                self.problem(file, at, rule.as_deref(), e.into_inner().to_string());
                None
            }
        }
    }

    /// Leaves out the rules with these ids from what [`Loader::finish`] compiles: rules an
    /// operator disabled. Lists and tables stay.
    pub fn exclude(&mut self, ids: &std::collections::HashSet<String>) {
        self.rules.retain(|(_, _, r)| !ids.contains(&r.id));
    }

    /// Compiles what was added. Rules and lists with problems are left out; the problems
    /// (every one, with its path) are returned beside the rules that load.
    pub fn finish(mut self) -> (Rules, Vec<LoadProblem>) {
        // stores first: rules refer to them
        let mut stores: Vec<StoreDef> = Vec::new();
        let mut store_names: HashMap<String, usize> = HashMap::new();
        let raw_stores = std::mem::take(&mut self.stores);
        for (file, at, s, kind) in raw_stores {
            if let Some(def) = self.compile_store(&file, &at, s, kind) {
                if store_names.contains_key(&def.name) {
                    self.problem(
                        &file,
                        format!("{at}.name"),
                        None,
                        format!("'{}' is declared twice", def.name),
                    );
                    continue;
                }
                store_names.insert(def.name.clone(), stores.len());
                stores.push(def);
            }
        }
        let raw_rules = std::mem::take(&mut self.rules);
        let mut seen_ids: HashMap<String, PathBuf> = HashMap::new();
        let mut rules: Vec<Rule> = Vec::new();
        let mut sigma_docs: Vec<(usize, usize, PathBuf, String, String)> = Vec::new();
        for (file, base, raw) in raw_rules {
            if let Some(prev) = seen_ids.get(&raw.id) {
                let msg = format!("rule id '{}' is also used in {}", raw.id, prev.display());
                self.problem(&file, join(&base, "id"), Some(&raw.id), msg);
                continue;
            }
            seen_ids.insert(raw.id.clone(), file.clone());
            if !raw.enabled {
                continue;
            }
            let before = self.problems.len();
            let rule = self.compile_rule(&file, &base, &raw, &stores, &store_names);
            if self.problems.len() > before {
                continue;
            }
            if let Some(rule) = rule {
                let idx = rules.len();
                for (si, sel) in raw.selectors.iter().enumerate() {
                    if let Some(block) = &sel.sigma {
                        sigma_docs.push((
                            idx,
                            si,
                            file.clone(),
                            join(&base, &format!("selectors[{si}].sigma")),
                            sigma_doc(&raw.id, idx, si, block),
                        ));
                    }
                }
                rules.push(rule);
            }
        }
        // compile the Sigma blocks together; a block that does not compile removes its rule
        let mut sigma = None;
        if !sigma_docs.is_empty() {
            let mut loader = vigil_detect::Loader::new(vigil_detect::LoadOptions::default());
            for (_, _, file, _, text) in &sigma_docs {
                loader.add_str(file, text);
            }
            let (set, problems) = loader.finish();
            let mut bad: BTreeSet<usize> = BTreeSet::new();
            for p in problems {
                if p.severity != vigil_detect::Severity::Error {
                    continue;
                }
                let Some((ri, si)) = p.rule_id.as_deref().and_then(split_sigma_id) else {
                    continue;
                };
                if let Some((_, _, file, at, _)) =
                    sigma_docs.iter().find(|d| d.0 == ri && d.1 == si)
                {
                    let (file, at) = (file.clone(), at.clone());
                    let id = rules.get(ri).map(|r| r.id.clone());
                    self.problem(&file, at, id.as_deref(), p.reason.clone());
                }
                bad.insert(ri);
            }
            if bad.is_empty() {
                sigma = Some(set);
            } else {
                // drop the bad rules and compile again without them (indices shift)
                let keep: Vec<bool> = (0..rules.len()).map(|i| !bad.contains(&i)).collect();
                let mut remap = HashMap::new();
                let mut kept = Vec::new();
                for (i, r) in rules.into_iter().enumerate() {
                    if keep[i] {
                        remap.insert(i, kept.len());
                        kept.push(r);
                    }
                }
                rules = kept;
                let mut loader = vigil_detect::Loader::new(vigil_detect::LoadOptions::default());
                for (ri, si, file, _, _) in &sigma_docs {
                    if let Some(&ni) = remap.get(ri)
                        && let Some(raw_sel) = raw_sigma_block(&sigma_docs, *ri, *si)
                    {
                        loader.add_str(file, &sigma_doc(&rules[ni].id, ni, *si, &raw_sel));
                    }
                }
                let (set, _) = loader.finish();
                sigma = (!set.is_empty()).then_some(set);
            }
        }
        let rules = Rules {
            rules: rules.into_iter().map(Arc::new).collect(),
            stores,
            sigma,
        };
        (rules, self.problems)
    }

    fn compile_store(
        &mut self,
        file: &Path,
        at: &str,
        s: RawStore,
        kind: StoreKind,
    ) -> Option<StoreDef> {
        let before = self.problems.len();
        if s.name.trim().is_empty() {
            self.problem(file, join(at, "name"), None, "empty name");
        }
        if s.key.is_empty() {
            self.problem(
                file,
                join(at, "key"),
                None,
                "at least one key column is needed",
            );
        }
        if kind == StoreKind::ContextTable {
            for k in &s.key {
                match s.columns.get(k) {
                    None => self.problem(
                        file,
                        join(at, "key"),
                        None,
                        format!("key column '{k}' is not among the columns"),
                    ),
                    Some(crate::raw::ColumnType::Strings) => self.problem(
                        file,
                        join(at, "key"),
                        None,
                        format!("key column '{k}' cannot be a list"),
                    ),
                    _ => {}
                }
            }
            if s.columns.is_empty() {
                self.problem(
                    file,
                    join(at, "columns"),
                    None,
                    "a context table needs typed columns",
                );
            }
        } else if !s.columns.is_empty() {
            self.problem(
                file,
                join(at, "columns"),
                None,
                "active lists are untyped; declare a context table for typed columns",
            );
        }
        let ttl_ns = match s.ttl.as_deref().map(parse_duration) {
            Some(Ok(0)) | None => None,
            Some(Ok(n)) => Some(n),
            Some(Err(e)) => {
                self.problem(file, join(at, "ttl"), None, e);
                None
            }
        };
        let max_entries = s.max_entries.unwrap_or(DEFAULT_MAX_ENTRIES);
        if max_entries == 0 {
            self.problem(file, join(at, "max_entries"), None, "must be at least 1");
        }
        (self.problems.len() == before).then_some(StoreDef {
            name: s.name,
            kind,
            description: s.description,
            key: s.key,
            columns: s.columns,
            ttl_ns,
            max_entries,
            overflow: s.overflow,
            scope: s.scope,
        })
    }

    fn compile_rule(
        &mut self,
        file: &Path,
        base: &str,
        raw: &RawRule,
        stores: &[StoreDef],
        store_names: &HashMap<String, usize>,
    ) -> Option<Rule> {
        let id = raw.id.as_str();
        let p = |at: &str| join(base, at);
        let mut probs: Vec<(String, String)> = Vec::new();
        if id.trim().is_empty() || id.chars().any(|c| c.is_whitespace() || c == ':') {
            probs.push((p("id"), "an id is needed, without spaces or ':'".into()));
        }
        let kind = raw.kind;
        let stateful = matches!(
            kind,
            RuleKind::Standard | RuleKind::Sequence | RuleKind::Absence
        );
        let window_ns = match (&raw.window, stateful) {
            (Some(w), true) => match parse_duration(w) {
                Ok(0) => {
                    probs.push((p("window"), "must be longer than 0".into()));
                    0
                }
                Ok(n) => n,
                Err(e) => {
                    probs.push((p("window"), e));
                    0
                }
            },
            (None, true) => {
                probs.push((
                    p("window"),
                    format!("a {} rule needs a window", kind.as_str()),
                ));
                0
            }
            (Some(_), false) => {
                probs.push((
                    p("window"),
                    format!("a {} rule has no window", kind.as_str()),
                ));
                0
            }
            (None, false) => 0,
        };
        let lateness_ns = match &raw.lateness {
            Some(l) => parse_duration(l).unwrap_or_else(|e| {
                probs.push((p("lateness"), e));
                0
            }),
            None if stateful => 30_000_000_000,
            None => 0,
        };
        let n = raw.selectors.len();
        match kind {
            RuleKind::Simple | RuleKind::Operational if n != 1 => {
                probs.push((p("selectors"), format!("a {} rule has exactly one selector", kind.as_str())))
            }
            RuleKind::Absence if !(1..=2).contains(&n) => probs.push((
                p("selectors"),
                "an absence rule has one selector (a silent group) or two (the first, then not the second)".into(),
            )),
            RuleKind::Sequence if n < 2 => probs.push((p("selectors"), "a sequence needs at least two steps".into())),
            _ if n == 0 => probs.push((p("selectors"), "at least one selector is needed".into())),
            _ if n > MAX_SELECTORS => probs.push((p("selectors"), format!("at most {MAX_SELECTORS} selectors"))),
            _ => {}
        }
        if kind != RuleKind::Standard && !raw.unique.is_empty() {
            probs.push((
                p("unique"),
                "unique fields apply to standard rules only".into(),
            ));
        }
        if kind != RuleKind::Standard && raw.trigger != Trigger::FirstThreshold {
            probs.push((p("trigger"), "triggers apply to standard rules only".into()));
        }
        if kind == RuleKind::Absence && raw.group_by.is_empty() {
            probs.push((
                p("group_by"),
                "an absence rule needs group_by (per what is the absence watched?)".into(),
            ));
        }
        if kind == RuleKind::Standard && raw.selectors.iter().all(|s| s.recovery) {
            probs.push((
                p("selectors"),
                "a standard rule needs a selector that is not a recovery".into(),
            ));
        }
        let group_by: Vec<String> = raw.group_by.iter().map(|f| canonical(f)).collect();
        let unique: Vec<String> = raw.unique.iter().map(|f| canonical(f)).collect();
        let copy: Vec<String> = raw.copy.iter().map(|f| canonical(f)).collect();
        // captures: copy fields, join fields, list action fields, membership fields
        let mut captures: Vec<String> = Vec::new();
        let capture = |f: &str, caps: &mut Vec<String>| -> usize {
            let f = canonical(f);
            caps.iter().position(|c| *c == f).unwrap_or_else(|| {
                caps.push(f);
                caps.len() - 1
            })
        };
        for f in &copy {
            capture(f, &mut captures);
        }
        let emit_event = match (kind, raw.actions.event) {
            (RuleKind::Operational, Some(true)) => {
                probs.push((
                    p("actions.event"),
                    "operational rules do not emit correlation events".into(),
                ));
                false
            }
            (RuleKind::Operational, _) => false,
            (_, e) => e.unwrap_or(true),
        };
        if kind == RuleKind::Operational && raw.actions.lists.is_empty() {
            probs.push((
                p("actions.lists"),
                "an operational rule updates at least one list or table".into(),
            ));
        }
        let mut list_actions = Vec::new();
        for (i, a) in raw.actions.lists.iter().enumerate() {
            let at = p(&format!("actions.lists[{i}]"));
            let Some(&store) = store_names.get(&a.list) else {
                probs.push((
                    format!("{at}.list"),
                    format!("no active list or context table named '{}'", a.list),
                ));
                continue;
            };
            let def = &stores[store];
            if a.key.len() != def.key.len() {
                probs.push((
                    format!("{at}.key"),
                    format!(
                        "'{}' has {} key column(s), {} field(s) given",
                        a.list,
                        def.key.len(),
                        a.key.len()
                    ),
                ));
            }
            if a.op == ListOp::Get && !emit_event {
                probs.push((
                    format!("{at}.op"),
                    "get copies into the correlation event, which this rule does not emit".into(),
                ));
            }
            if def.kind == StoreKind::ContextTable {
                for col in a.from.keys().chain(a.set.keys()).chain(a.column.iter()) {
                    if !def.columns.contains_key(col) {
                        probs.push((at.clone(), format!("'{}' has no column '{col}'", a.list)));
                    }
                }
            }
            let ttl_ns = match a.ttl.as_deref().map(parse_duration) {
                Some(Ok(n)) => Some(n),
                Some(Err(e)) => {
                    probs.push((format!("{at}.ttl"), e));
                    None
                }
                None => None,
            };
            for f in a.key.iter().chain(a.from.values()) {
                if !group_by.contains(&canonical(f)) {
                    capture(f, &mut captures);
                }
            }
            list_actions.push(ListAction {
                store,
                op: a.op,
                key: a.key.iter().map(|f| canonical(f)).collect(),
                from: a
                    .from
                    .iter()
                    .map(|(c, f)| (c.clone(), canonical(f)))
                    .collect(),
                set: a
                    .set
                    .iter()
                    .map(|(c, v)| (c.clone(), to_value(v)))
                    .collect(),
                column: a.column.clone().unwrap_or_else(|| "count".into()),
                by: a.by.unwrap_or(1.0),
                ttl_ns,
            });
        }
        let mut names: BTreeSet<&str> = BTreeSet::new();
        let mut selectors = Vec::new();
        for (si, s) in raw.selectors.iter().enumerate() {
            let at = p(&format!("selectors[{si}]"));
            if s.name.trim().is_empty() || s.name.contains('.') {
                probs.push((format!("{at}.name"), "a name is needed, without '.'".into()));
            } else if !names.insert(&s.name) {
                probs.push((format!("{at}.name"), format!("'{}' is used twice", s.name)));
            }
            if s.query.is_none() && s.sigma.is_none() && s.lists.is_empty() {
                probs.push((
                    at.clone(),
                    "a selector needs a query, a sigma block or a list test".into(),
                ));
            }
            let mut filter = None;
            let mut route = None;
            let mut requires = None;
            let mut any_routes = Vec::new();
            let mut exists_only = false;
            let mut extra_routes = Vec::new();
            let mut decided = false;
            if let Some(q) = &s.query {
                match vigil_event::query::parse_query(q) {
                    Ok(query) if !query.stages.is_empty() => probs.push((
                        format!("{at}.query"),
                        "a selector is a filter: no '|' stages".into(),
                    )),
                    Ok(query) => {
                        route = route_of(&query.filter);
                        if let Some(r) = &route {
                            extra_routes = extra_routes_of(&query.filter, r);
                            decided = decided_by_routes(&query.filter, r, &extra_routes);
                        }
                        requires = required_field(&query.filter);
                        if route.is_none() {
                            any_routes = any_routes_of(&query.filter).unwrap_or_default();
                        }
                        exists_only = matches!(&query.filter, Expr::Term(Term::Exists { field })
                            if requires.as_deref() == Some(field.as_str()));
                        match CompiledFilter::new(&query.filter) {
                            Ok(f) => filter = Some(f),
                            Err(e) => probs.push((format!("{at}.query"), e.render(q))),
                        }
                    }
                    Err(e) => probs.push((format!("{at}.query"), e.render(q))),
                }
            }
            if let Some(b) = &s.sigma
                && !b.is_object()
            {
                probs.push((
                    format!("{at}.sigma"),
                    "a Sigma detection block is a mapping with a condition".into(),
                ));
            }
            let threshold = s.threshold.unwrap_or(1);
            if threshold == 0 || threshold > MAX_THRESHOLD {
                probs.push((
                    format!("{at}.threshold"),
                    format!("must be between 1 and {MAX_THRESHOLD}"),
                ));
            }
            if s.threshold.is_some() && !matches!(kind, RuleKind::Standard | RuleKind::Sequence) {
                probs.push((
                    format!("{at}.threshold"),
                    "thresholds apply to standard and sequence rules".into(),
                ));
            }
            if s.recovery && kind != RuleKind::Standard {
                probs.push((
                    format!("{at}.recovery"),
                    "recovery selectors apply to standard rules".into(),
                ));
            }
            let mut lists = Vec::new();
            for (li, m) in s.lists.iter().enumerate() {
                let lat = format!("{at}.lists[{li}]");
                let Some(&store) = store_names.get(&m.list) else {
                    probs.push((
                        format!("{lat}.list"),
                        format!("no active list or context table named '{}'", m.list),
                    ));
                    continue;
                };
                let def = &stores[store];
                if m.key.len() != def.key.len() {
                    probs.push((
                        format!("{lat}.key"),
                        format!(
                            "'{}' has {} key column(s), {} field(s) given",
                            m.list,
                            def.key.len(),
                            m.key.len()
                        ),
                    ));
                }
                if m.value.is_some() && m.field.is_some() {
                    probs.push((
                        lat.clone(),
                        "compare with a value or a field, not both".into(),
                    ));
                }
                if m.column.is_some() && m.value.is_none() && m.field.is_none() {
                    probs.push((
                        lat.clone(),
                        "a column comparison needs a value or a field".into(),
                    ));
                }
                if m.column.is_none() && (m.value.is_some() || m.field.is_some() || m.op.is_some())
                {
                    probs.push((lat.clone(), "a comparison needs a column".into()));
                }
                if m.absent && m.column.is_some() {
                    probs.push((lat.clone(), "an absence test has no comparison".into()));
                }
                if let (Some(c), StoreKind::ContextTable) = (&m.column, def.kind)
                    && !def.columns.contains_key(c)
                {
                    probs.push((
                        format!("{lat}.column"),
                        format!("'{}' has no column '{c}'", m.list),
                    ));
                }
                let key_caps = m.key.iter().map(|f| capture(f, &mut captures)).collect();
                let field_cap = m.field.as_ref().map(|f| capture(f, &mut captures));
                lists.push(Membership {
                    key_caps,
                    field_cap,
                    store,
                    key: m.key.iter().map(|f| canonical(f)).collect(),
                    absent: m.absent,
                    column: m.column.clone(),
                    op: m.op.unwrap_or(CmpName::Eq),
                    value: m.value.as_ref().map(to_value),
                    field: m.field.as_ref().map(|f| canonical(f)),
                });
            }
            let mut join_specs = Vec::new();
            if !s.join.is_empty() && kind != RuleKind::Sequence {
                probs.push((format!("{at}.join"), "joins apply to sequence steps".into()));
            }
            for (field, other) in &s.join {
                let Some((step, ofield)) = other.split_once('.') else {
                    probs.push((
                        format!("{at}.join.{field}"),
                        format!("'{other}' is not '<step>.<field>'"),
                    ));
                    continue;
                };
                match raw.selectors[..si].iter().position(|x| x.name == step) {
                    Some(stepi) => {
                        let a = capture(field, &mut captures);
                        let b = capture(ofield, &mut captures);
                        join_specs.push((a, stepi, b));
                    }
                    None => probs.push((
                        format!("{at}.join.{field}"),
                        format!("'{step}' is not an earlier step"),
                    )),
                }
            }
            selectors.push(Selector {
                name: s.name.clone(),
                query_text: s.query.clone(),
                filter,
                sigma: s.sigma.is_some(),
                lists,
                threshold: threshold.clamp(1, MAX_THRESHOLD),
                recovery: s.recovery,
                join: join_specs,
                route,
                requires,
                any_routes,
                exists_only,
                extra_routes,
                decided,
                derived: s
                    .query
                    .as_deref()
                    .is_some_and(|q| q.contains("vigil.type") || q.contains("Type:")),
            });
        }
        if let Some(j) = raw.max_jitter {
            if kind != RuleKind::Standard || raw.trigger == Trigger::WindowEnd {
                probs.push((
                    p("max_jitter"),
                    "max_jitter applies to standard rules with a sliding trigger".into(),
                ));
            } else if !(j.is_finite() && (0.0..=1.0).contains(&j)) {
                probs.push((p("max_jitter"), "must be between 0 and 1".into()));
            } else if raw
                .selectors
                .iter()
                .any(|s| !s.recovery && s.threshold.unwrap_or(1) < 3)
            {
                probs.push((
                    p("max_jitter"),
                    "regularity needs thresholds of at least 3 (two gaps)".into(),
                ));
            }
        }
        let rate_limit = match &raw.rate_limit {
            Some(rl) => match parse_duration(&rl.per) {
                Ok(per) if rl.max > 0 && per > 0 => Some((rl.max, per)),
                Ok(_) => {
                    probs.push((p("rate_limit"), "max and per must be above 0".into()));
                    None
                }
                Err(e) => {
                    probs.push((p("rate_limit.per"), e));
                    None
                }
            },
            None => None,
        };
        for (ti, t) in raw.tests.iter().enumerate() {
            if let Some(a) = &t.advance
                && let Err(e) = parse_duration(a)
            {
                probs.push((p(&format!("tests[{ti}].advance")), e));
            }
        }
        for (at, msg) in probs.iter() {
            self.problem(file, at.clone(), Some(id), msg.clone());
        }
        if !probs.is_empty() {
            return None;
        }
        // the logic's fingerprint: everything but texts, tests and the alert's presentation
        let mut logic = raw.clone();
        logic.name.clear();
        logic.description.clear();
        logic.tests.clear();
        logic.tags.clear();
        logic.attack = Default::default();
        logic.severity = SeverityName::Medium;
        let fingerprint = fnv(serde_json::to_string(&logic).unwrap_or_default().as_bytes());
        Some(Rule {
            id: raw.id.clone(),
            version: raw.version,
            name: raw.name.clone(),
            description: raw.description.clone(),
            kind,
            severity: raw.severity,
            tactics: raw.attack.tactics.clone(),
            techniques: raw.attack.techniques.clone(),
            tags: raw.tags.clone(),
            window_ns,
            lateness_ns,
            late_policy: raw.late_policy.unwrap_or(if stateful {
                LatePolicy::Drop
            } else {
                LatePolicy::LateWindow
            }),
            group_by,
            unique,
            selectors,
            trigger: raw.trigger,
            max_jitter: raw.max_jitter,
            rate_limit,
            copy,
            emit_event,
            alert: raw.actions.alert && emit_event,
            loop_back: raw.actions.r#loop && emit_event,
            list_actions,
            captures,
            tests: raw.tests.clone(),
            fingerprint,
            path: file.to_path_buf(),
        })
    }
}

fn join(base: &str, at: &str) -> String {
    if base.is_empty() {
        at.to_string()
    } else {
        format!("{base}.{at}")
    }
}

fn sigma_doc(rule_id: &str, ri: usize, si: usize, block: &serde_json::Value) -> String {
    let doc = serde_json::json!({
        "title": format!("{rule_id} selector {si}"),
        "id": format!("{ri}:{si}"),
        "logsource": {"product": "vigil"},
        "detection": block,
    });
    yaml_serde::to_string(&doc).unwrap_or_default()
}

fn raw_sigma_block(
    docs: &[(usize, usize, PathBuf, String, String)],
    ri: usize,
    si: usize,
) -> Option<serde_json::Value> {
    let (_, _, _, _, text) = docs.iter().find(|d| d.0 == ri && d.1 == si)?;
    let v: serde_json::Value = yaml_serde::from_str(text).ok()?;
    v.get("detection").cloned()
}

pub(crate) fn split_sigma_id(id: &str) -> Option<(usize, usize)> {
    let (a, b) = id.split_once(':')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// Loads a directory of rule files.
pub fn load_dir(dir: &Path) -> (Rules, Vec<LoadProblem>) {
    let mut l = Loader::new();
    l.add_dir(dir);
    l.finish()
}

/// Loads rules from text (tests, API).
pub fn load_str(origin: &str, text: &str) -> (Rules, Vec<LoadProblem>) {
    let mut l = Loader::new();
    l.add_str(Path::new(origin), text);
    l.finish()
}

/// The JSON schema of a rule file.
pub fn json_schema() -> serde_json::Value {
    let file = schemars::schema_for!(RawFile);
    let rule = schemars::schema_for!(RawRule);
    serde_json::json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Vigil correlation rule file",
        "description": "Either one rule at the top level, or `rules`, `active_lists` and `context_tables`.",
        "oneOf": [
            serde_json::to_value(rule).unwrap_or_default(),
            serde_json::to_value(file).unwrap_or_default(),
        ],
    })
}
