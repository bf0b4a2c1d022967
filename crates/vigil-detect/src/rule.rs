//! The Sigma rule model (read from YAML, every problem collected) and the detection compiler.

use std::collections::BTreeMap;

use yaml_serde::{Mapping, Value as Yaml};

use crate::condition::{self, Cond, OfCount};
use crate::tree::{FieldCheck, KeywordCheck, Node};
use crate::value::{self, RawValue, ValueCtx};

/// The `logsource` of a rule.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct LogSource {
    /// `category`, e.g. `process_creation`.
    pub category: Option<String>,
    /// `product`, e.g. `windows`.
    pub product: Option<String>,
    /// `service`, e.g. `security`.
    pub service: Option<String>,
    /// `definition` (free text).
    pub definition: Option<String>,
}

/// A Sigma detection rule as written (before compilation).
#[derive(Debug, Clone, Default)]
pub struct SigmaRule {
    /// `id` (a UUID in SigmaHQ).
    pub id: Option<String>,
    /// `name` (used by correlation and filter references).
    pub name: Option<String>,
    /// `title`.
    pub title: String,
    /// `status`.
    pub status: Option<String>,
    /// `description`.
    pub description: Option<String>,
    /// `level` (informational, low, medium, high, critical).
    pub level: Option<String>,
    /// `tags` (e.g. `attack.t1059.001`).
    pub tags: Vec<String>,
    /// `author`.
    pub author: Option<String>,
    /// `references`.
    pub references: Vec<String>,
    /// `falsepositives`.
    pub falsepositives: Vec<String>,
    /// `logsource`.
    pub logsource: LogSource,
    /// Any other top-level key, kept as JSON.
    pub extra: BTreeMap<String, serde_json::Value>,
    pub(crate) detection: Mapping,
}

fn yaml_str(v: &Yaml) -> Option<String> {
    match v {
        Yaml::String(s) => Some(s.clone()),
        Yaml::Number(n) => Some(n.to_string()),
        Yaml::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn str_list(v: &Yaml) -> Vec<String> {
    match v {
        Yaml::Sequence(s) => s.iter().filter_map(yaml_str).collect(),
        other => yaml_str(other).into_iter().collect(),
    }
}

/// Get a string-valued key; a wrong type is a problem.
pub(crate) fn get_str(m: &Mapping, key: &str, problems: &mut Vec<String>) -> Option<String> {
    match m.get(key) {
        None | Some(Yaml::Null) => None,
        Some(v) => match yaml_str(v) {
            Some(s) => Some(s),
            None => {
                problems.push(format!("'{key}' must be a string"));
                None
            }
        },
    }
}

pub(crate) fn to_json(v: &Yaml) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or(serde_json::Value::Null)
}

const KNOWN_KEYS: &[&str] = &[
    "id",
    "name",
    "title",
    "status",
    "description",
    "level",
    "tags",
    "author",
    "references",
    "falsepositives",
    "logsource",
    "detection",
];

impl SigmaRule {
    /// Read one rule document (YAML text) into the model, with every problem found in its
    /// top-level structure (detections are checked when compiled by the loader).
    pub fn parse(text: &str) -> Result<(SigmaRule, Vec<String>), String> {
        match yaml_serde::from_str::<Yaml>(text) {
            Ok(Yaml::Mapping(m)) => Ok(SigmaRule::from_yaml(&m)),
            Ok(_) => Err("a rule must be a YAML mapping".into()),
            Err(e) => Err(format!("invalid YAML: {e}")),
        }
    }

    /// Read a rule from a YAML mapping. Returns the rule (as far as it could be read) and
    /// every problem found.
    pub(crate) fn from_yaml(m: &Mapping) -> (SigmaRule, Vec<String>) {
        let mut p = Vec::new();
        let mut r = SigmaRule {
            id: get_str(m, "id", &mut p),
            name: get_str(m, "name", &mut p),
            title: get_str(m, "title", &mut p).unwrap_or_default(),
            status: get_str(m, "status", &mut p),
            description: get_str(m, "description", &mut p),
            level: get_str(m, "level", &mut p),
            author: get_str(m, "author", &mut p),
            tags: m.get("tags").map(str_list).unwrap_or_default(),
            references: m.get("references").map(str_list).unwrap_or_default(),
            falsepositives: m.get("falsepositives").map(str_list).unwrap_or_default(),
            ..Default::default()
        };
        if r.title.is_empty() {
            p.push("missing 'title'".into());
        }
        match m.get("logsource") {
            Some(Yaml::Mapping(ls)) => {
                r.logsource = LogSource {
                    category: get_str(ls, "category", &mut p),
                    product: get_str(ls, "product", &mut p),
                    service: get_str(ls, "service", &mut p),
                    definition: get_str(ls, "definition", &mut p),
                }
            }
            Some(_) => p.push("'logsource' must be a mapping".into()),
            None => p.push("missing 'logsource'".into()),
        }
        match m.get("detection") {
            Some(Yaml::Mapping(d)) => r.detection = d.clone(),
            Some(_) => p.push("'detection' must be a mapping".into()),
            None => p.push("missing 'detection'".into()),
        }
        if let Some(l) = &r.level
            && !["informational", "low", "medium", "high", "critical"].contains(&l.as_str())
        {
            p.push(format!("unknown level '{l}'"));
        }
        for (k, v) in m {
            if let Some(k) = k.as_str()
                && !KNOWN_KEYS.contains(&k)
            {
                r.extra.insert(k.to_string(), to_json(v));
            }
        }
        (r, p)
    }
}

/// Settings for detection compilation.
pub(crate) struct CompileCtx<'a> {
    pub values: ValueCtx<'a>,
    /// Field searched by keyword detections; `None` searches every string value.
    pub keyword_field: Option<&'a str>,
}

fn raw_value(v: &Yaml) -> Result<RawValue, String> {
    Ok(match v {
        Yaml::String(s) => RawValue::Str(s.clone()),
        Yaml::Number(n) => RawValue::Num(n.to_string()),
        Yaml::Bool(b) => RawValue::Bool(*b),
        Yaml::Null => RawValue::Null,
        Yaml::Tagged(t) => raw_value(&t.value)?,
        Yaml::Sequence(_) => return Err("nested lists are not allowed as values".into()),
        Yaml::Mapping(_) => return Err("a mapping is not allowed as a value".into()),
    })
}

/// Modifiers that already say where (or how) a value matches; a keyword with none of them
/// is a substring search.
const POSITIONAL: &[&str] = &[
    "contains",
    "startswith",
    "endswith",
    "re",
    "cidr",
    "exists",
    "fieldref",
    "lt",
    "lte",
    "gt",
    "gte",
];

fn compile_field(key: &str, val: &Yaml, ctx: &mut CompileCtx<'_>) -> Result<Node, String> {
    let mut parts = key.split('|');
    let field = parts.next().unwrap_or("").trim();
    let mods: Vec<&str> = parts.collect();
    let mut spec = value::parse_mods(&mods).map_err(|e| format!("field '{key}': {e}"))?;
    if field.is_empty() && !spec.mods.iter().any(|m| POSITIONAL.contains(&m.as_str())) {
        // Keywords are substring searches, with or without modifiers (`'|all': [a, b]` is
        // "a and b anywhere in the text"), as for plain keyword lists.
        spec.mods.push("contains".into());
    }
    let values: Vec<RawValue> = match val {
        Yaml::Sequence(s) => {
            if s.is_empty() {
                return Err(format!("field '{key}': empty value list"));
            }
            s.iter().map(raw_value).collect::<Result<_, _>>()
        }
        v => raw_value(v).map(|x| vec![x]),
    }
    .map_err(|e| format!("field '{key}': {e}"))?;
    let matchers = value::compile_values(&spec, &values, &mut ctx.values)
        .map_err(|e| format!("field '{key}': {e}"))?;
    if field.is_empty() {
        // `|modifier: values` without a field: keyword search with modifiers.
        return Ok(keyword_node(matchers, spec.all, ctx));
    }
    Ok(Node::Field(FieldCheck {
        field: field.into(),
        matchers,
        all: spec.all,
    }))
}

fn keyword_node(matchers: Vec<value::Matcher>, all: bool, ctx: &CompileCtx<'_>) -> Node {
    match ctx.keyword_field {
        Some(f) => Node::Field(FieldCheck {
            field: f.into(),
            matchers,
            all,
        }),
        None => Node::Keyword(KeywordCheck { matchers, all }),
    }
}

fn compile_keywords(vals: &[&Yaml], ctx: &mut CompileCtx<'_>) -> Result<Node, String> {
    let raws: Vec<RawValue> = vals
        .iter()
        .map(|v| raw_value(v))
        .collect::<Result<_, _>>()?;
    // Plain keywords are substring searches over the full text.
    let spec = value::ModSpec {
        all: false,
        mods: vec!["contains".into()],
    };
    let matchers = value::compile_values(&spec, &raws, &mut ctx.values)?;
    Ok(keyword_node(matchers, false, ctx))
}

fn compile_map(m: &Mapping, ctx: &mut CompileCtx<'_>, errs: &mut Vec<String>) -> Node {
    let mut items = Vec::new();
    for (k, v) in m {
        let Some(k) = yaml_str(k) else {
            errs.push("detection keys must be strings".into());
            continue;
        };
        match compile_field(&k, v, ctx) {
            Ok(n) => items.push(n),
            Err(e) => errs.push(e),
        }
    }
    if items.len() == 1 {
        items.remove(0)
    } else {
        Node::And(items)
    }
}

/// Compile one search identifier's definition.
fn compile_search(v: &Yaml, ctx: &mut CompileCtx<'_>, errs: &mut Vec<String>) -> Node {
    match v {
        Yaml::Mapping(m) => {
            if m.is_empty() {
                errs.push("empty selection".into());
            }
            compile_map(m, ctx, errs)
        }
        Yaml::Sequence(s) => {
            if s.is_empty() {
                errs.push("empty selection list".into());
                return Node::Const(false);
            }
            let scalars: Vec<&Yaml> = s
                .iter()
                .filter(|x| !matches!(x, Yaml::Mapping(_) | Yaml::Sequence(_)))
                .collect();
            let mut alts = Vec::new();
            if !scalars.is_empty() {
                match compile_keywords(&scalars, ctx) {
                    Ok(n) => alts.push(n),
                    Err(e) => errs.push(e),
                }
            }
            for x in s {
                match x {
                    Yaml::Mapping(m) => alts.push(compile_map(m, ctx, errs)),
                    Yaml::Sequence(_) => {
                        errs.push("nested lists are not allowed in a selection".into())
                    }
                    _ => {}
                }
            }
            if alts.len() == 1 {
                alts.remove(0)
            } else {
                Node::Or(alts)
            }
        }
        Yaml::Null => {
            errs.push("empty selection".into());
            Node::Const(false)
        }
        scalar => match compile_keywords(&[scalar], ctx) {
            Ok(n) => n,
            Err(e) => {
                errs.push(e);
                Node::Const(false)
            }
        },
    }
}

/// Compile the `detection` section of a rule into one tree. Every problem is collected.
pub(crate) fn compile_detection(
    det: &Mapping,
    ctx: &mut CompileCtx<'_>,
) -> Result<Node, Vec<String>> {
    let mut errs = Vec::new();
    let mut searches: Vec<(String, Node)> = Vec::new();
    let mut conditions: Vec<String> = Vec::new();
    for (k, v) in det {
        let Some(name) = yaml_str(k) else {
            errs.push("detection keys must be strings".into());
            continue;
        };
        match name.as_str() {
            "condition" => match v {
                Yaml::Sequence(s) => conditions.extend(s.iter().filter_map(yaml_str)),
                other => match yaml_str(other) {
                    Some(s) => conditions.push(s),
                    None => errs.push("'condition' must be a string or a list of strings".into()),
                },
            },
            // Legacy aggregation window: not part of Sigma v2 detections.
            "timeframe" => {}
            _ => {
                let mut e = Vec::new();
                let node = compile_search(v, ctx, &mut e);
                errs.extend(e.into_iter().map(|e| format!("selection '{name}': {e}")));
                searches.push((name, node));
            }
        }
    }
    if conditions.is_empty() {
        errs.push("missing 'condition'".into());
    }
    let mut roots = Vec::new();
    for c in &conditions {
        match condition::parse(c) {
            Ok(cond) => match resolve(&cond, &searches) {
                Ok(n) => roots.push(n),
                Err(e) => errs.push(format!("condition '{}': {e}", c.trim())),
            },
            Err(e) => errs.push(format!("condition '{}': {e}", c.trim())),
        }
    }
    if !errs.is_empty() {
        return Err(errs);
    }
    Ok(if roots.len() == 1 {
        roots.remove(0)
    } else {
        Node::Or(roots)
    })
}

/// Turn a parsed condition into a tree, inlining the search identifiers.
pub(crate) fn resolve(c: &Cond, searches: &[(String, Node)]) -> Result<Node, String> {
    Ok(match c {
        Cond::Ident(name) => searches
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, node)| node.clone())
            .ok_or_else(|| format!("unknown search identifier '{name}'"))?,
        Cond::Of { n, pattern } => {
            let matched: Vec<Node> = searches
                .iter()
                .filter(|(name, _)| match pattern {
                    Some(p) => condition::ident_matches(p, name),
                    None => !name.starts_with('_'),
                })
                .map(|(_, node)| node.clone())
                .collect();
            if matched.is_empty() {
                return Err(format!(
                    "'{}' matches no search identifier",
                    pattern.as_deref().unwrap_or("them")
                ));
            }
            match n {
                OfCount::All => Node::And(matched),
                OfCount::AtLeast(1) => Node::Or(matched),
                OfCount::AtLeast(k) => Node::AtLeast(*k, matched),
            }
        }
        Cond::Not(x) => Node::Not(Box::new(resolve(x, searches)?)),
        Cond::And(xs) => Node::And(
            xs.iter()
                .map(|x| resolve(x, searches))
                .collect::<Result<_, _>>()?,
        ),
        Cond::Or(xs) => Node::Or(
            xs.iter()
                .map(|x| resolve(x, searches))
                .collect::<Result<_, _>>()?,
        ),
    })
}
