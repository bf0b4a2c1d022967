//! The library of normalizer definitions (the shipped packs plus any files given), and their
//! validation and compilation into runtime trees. Validation collects every problem with its
//! path (`sshd.extra[0].normalizer.mapping[2].convert: unknown conversion 'ipp'`).

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;

use chrono_tz::Tz;
use smol_str::SmolStr;
use vigil_event::{Event, Value};
use vigil_query::CompiledFilter;

use crate::convert::{Convert, DurationUnit};
use crate::def::{
    ChildDef, ConditionDef, ConstDef, ExtraDef, NormalizerDef, ParserDef, PatternDef, TransformDef,
};
use crate::parser::{Parser, Pattern};
use crate::tree::{
    Condition, Extra, MapOp, Normalizer, Predicate, Segment, Source, Target, Transform,
};

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/packs.rs"));
}

/// The packs shipped with Vigil: (pack directory name, normalizer.yaml text).
pub fn shipped_packs() -> &'static [(&'static str, &'static str)] {
    embedded::PACKS
}

/// One problem in a definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefinitionError {
    /// Where: `name.mapping[2].convert`.
    pub path: String,
    /// What.
    pub message: String,
}

/// Every problem found in a set of definitions.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct DefinitionErrors(pub Vec<DefinitionError>);

impl fmt::Display for DefinitionErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{}: {}", e.path, e.message)?;
        }
        Ok(())
    }
}

/// Named normalizer definitions, and compilation of any of them into a runtime tree.
#[derive(Debug, Clone, Default)]
pub struct Library {
    defs: BTreeMap<String, (NormalizerDef, String)>,
    top: Vec<String>,
}

impl Library {
    /// An empty library.
    pub fn new() -> Library {
        Library::default()
    }

    /// The library of the packs shipped with Vigil.
    pub fn builtin() -> Result<Library, DefinitionErrors> {
        let mut lib = Library::new();
        let mut errors = Vec::new();
        for (dir, text) in shipped_packs() {
            if let Err(e) = lib.add_yaml(text, &format!("packs/{dir}/normalizer.yaml")) {
                errors.extend(e.0);
            }
        }
        if errors.is_empty() {
            Ok(lib)
        } else {
            Err(DefinitionErrors(errors))
        }
    }

    /// Adds the definition(s) of one YAML document; returns the top-level name.
    pub fn add_yaml(&mut self, text: &str, origin: &str) -> Result<String, DefinitionErrors> {
        let fail = |path: String, message: String| {
            DefinitionErrors(vec![DefinitionError { path, message }])
        };
        let value: yaml_serde::Value = yaml_serde::from_str(text)
            .map_err(|e| fail(origin.to_owned(), format!("invalid YAML: {e}")))?;
        let def: NormalizerDef = serde_path_to_error::deserialize(value).map_err(|e| {
            let p = e.path().to_string();
            fail(
                if p == "." {
                    origin.to_owned()
                } else {
                    format!("{origin}: {p}")
                },
                e.into_inner().to_string(),
            )
        })?;
        let name = def.name.clone();
        self.add(def, origin)?;
        self.top.push(name.clone());
        Ok(name)
    }

    /// Adds a definition and its `definitions`.
    pub fn add(&mut self, def: NormalizerDef, origin: &str) -> Result<(), DefinitionErrors> {
        let mut errors = Vec::new();
        self.add_rec(def, origin, &mut errors);
        if errors.is_empty() {
            Ok(())
        } else {
            Err(DefinitionErrors(errors))
        }
    }

    fn add_rec(&mut self, mut def: NormalizerDef, origin: &str, errors: &mut Vec<DefinitionError>) {
        for sub in std::mem::take(&mut def.definitions) {
            self.add_rec(sub, origin, errors);
        }
        if def.name.trim().is_empty() {
            errors.push(DefinitionError {
                path: format!("{origin}: name"),
                message: "a normalizer needs a name".into(),
            });
            return;
        }
        if let Some((_, other)) = self.defs.get(&def.name)
            && other != origin
        {
            errors.push(DefinitionError {
                path: format!("{origin}: name"),
                message: format!("'{}' is already defined in {other}", def.name),
            });
            return;
        }
        self.defs.insert(def.name.clone(), (def, origin.to_owned()));
    }

    /// Top-level normalizer names (one per pack/file), in the order added.
    pub fn names(&self) -> &[String] {
        &self.top
    }

    /// Every name, sub-definitions included.
    pub fn all_names(&self) -> impl Iterator<Item = &str> {
        self.defs.keys().map(String::as_str)
    }

    /// The definition of `name`.
    pub fn get(&self, name: &str) -> Option<&NormalizerDef> {
        self.defs.get(name).map(|(d, _)| d)
    }

    /// Compiles `name` (and every normalizer it refers to) into a runtime tree.
    pub fn compile(&self, name: &str) -> Result<Arc<Normalizer>, DefinitionErrors> {
        let mut c = Compiler {
            lib: self,
            done: HashMap::new(),
            stack: Vec::new(),
            errors: Vec::new(),
        };
        let n = c.named(name, name);
        match n {
            Some(n) if c.errors.is_empty() => Ok(n),
            _ => Err(DefinitionErrors(c.errors)),
        }
    }

    /// Compiles every definition, reporting every problem (what `vigil normalize --check` and
    /// the pack tests run).
    pub fn check(&self) -> Result<(), DefinitionErrors> {
        let mut c = Compiler {
            lib: self,
            done: HashMap::new(),
            stack: Vec::new(),
            errors: Vec::new(),
        };
        for name in self.defs.keys() {
            c.named(name, name);
        }
        if c.errors.is_empty() {
            Ok(())
        } else {
            Err(DefinitionErrors(c.errors))
        }
    }
}

struct Compiler<'a> {
    lib: &'a Library,
    done: HashMap<String, Arc<Normalizer>>,
    stack: Vec<String>,
    errors: Vec<DefinitionError>,
}

impl Compiler<'_> {
    fn err(&mut self, path: &str, message: impl Into<String>) {
        let message = message.into();
        if !self
            .errors
            .iter()
            .any(|e| e.path == path && e.message == message)
        {
            self.errors.push(DefinitionError {
                path: path.to_owned(),
                message,
            });
        }
    }

    fn named(&mut self, name: &str, path: &str) -> Option<Arc<Normalizer>> {
        if let Some(n) = self.done.get(name) {
            return Some(n.clone());
        }
        if self.stack.iter().any(|s| s == name) {
            let cycle = format!("{} -> {name}", self.stack.join(" -> "));
            self.err(
                path,
                format!("normalizers refer to each other in a cycle: {cycle}"),
            );
            return None;
        }
        let Some((def, _)) = self.lib.defs.get(name) else {
            let mut known: Vec<&str> = self.lib.defs.keys().map(String::as_str).collect();
            known.sort_by_key(|k| strsim(k, name));
            known.truncate(3);
            self.err(
                path,
                format!(
                    "unknown normalizer '{name}' (closest: {})",
                    known.join(", ")
                ),
            );
            return None;
        };
        self.stack.push(name.to_owned());
        let n = self.def(def, name);
        self.stack.pop();
        let n = Arc::new(n?);
        self.done.insert(name.to_owned(), n.clone());
        Some(n)
    }

    fn def(&mut self, d: &NormalizerDef, path: &str) -> Option<Normalizer> {
        let before = self.errors.len();
        let parser = d
            .parser
            .as_ref()
            .and_then(|p| self.parser(p, &format!("{path}.parser")));
        if d.parser.is_none() && d.select.is_empty() {
            self.err(path, "a normalizer needs a `parser` or `select` routes");
        }
        let detect = d
            .detect
            .as_ref()
            .and_then(|c| self.condition(c, &format!("{path}.detect")));
        let mut dicts: HashMap<String, Arc<HashMap<String, String>>> = HashMap::new();
        for (k, v) in &d.dictionaries {
            dicts.insert(
                k.clone(),
                Arc::new(v.iter().map(|(a, b)| (a.clone(), b.clone())).collect()),
            );
        }
        let mut maps = Vec::new();
        for (i, m) in d.mapping.iter().enumerate() {
            let p = format!("{path}.mapping[{i}]");
            let sources = usize::from(m.from.is_some())
                + usize::from(m.value.is_some())
                + usize::from(m.template.is_some());
            if sources != 1 {
                self.err(&p, "give exactly one of `from`, `value`, `template`");
                continue;
            }
            let source = if let Some(f) = &m.from {
                Source::Field(SmolStr::new(f))
            } else if let Some(v) = &m.value {
                Source::Const(const_value(v))
            } else {
                match template(m.template.as_deref().unwrap_or("")) {
                    Ok(t) => Source::Template(t),
                    Err(e) => {
                        self.err(&format!("{p}.template"), e);
                        continue;
                    }
                }
            };
            let convert = match m.convert.as_deref() {
                None => None,
                Some(c) => match Convert::parse(c) {
                    Some(c) => Some(c),
                    None => {
                        self.err(&format!("{p}.convert"), format!("unknown conversion '{c}' (string, int, float, bool, ip, timestamp, duration)"));
                        None
                    }
                },
            };
            let timezone = m
                .timezone
                .as_deref()
                .and_then(|t| self.tz(t, &format!("{p}.timezone")));
            let unit = match m.unit.as_deref() {
                None => DurationUnit::S,
                Some(u) => DurationUnit::parse(u).unwrap_or_else(|| {
                    self.err(
                        &format!("{p}.unit"),
                        format!("unknown unit '{u}' (s, ms, us, ns)"),
                    );
                    DurationUnit::S
                }),
            };
            let mut transforms = Vec::new();
            for (j, t) in m.transform.iter().enumerate() {
                if let Some(t) = self.transform(t, &dicts, &format!("{p}.transform[{j}]")) {
                    transforms.push(t);
                }
            }
            let when = m
                .when
                .as_ref()
                .and_then(|c| self.condition(c, &format!("{p}.when")));
            if m.to.trim().is_empty() {
                self.err(&format!("{p}.to"), "empty target field");
            }
            maps.push(MapOp {
                source,
                target: Target::resolve(&m.to),
                transforms,
                convert,
                format: m.format.clone(),
                timezone,
                unit,
                when,
            });
        }
        let set = self.sets(&d.set, &format!("{path}.set"));
        let mut categorize = Vec::new();
        for (i, c) in d.categorize.iter().enumerate() {
            let p = format!("{path}.categorize[{i}]");
            let cond = self.condition(&c.when, &format!("{p}.when"));
            let sets = self.sets(&c.set, &format!("{p}.set"));
            if let Some(cond) = cond {
                categorize.push((cond, sets));
            }
        }
        let select = self.extras(&d.select, &format!("{path}.select"));
        let extra = self.extras(&d.extra, &format!("{path}.extra"));
        if self.errors.len() > before {
            return None;
        }
        Some(Normalizer {
            name: SmolStr::new(&d.name),
            description: d.description.clone(),
            product: d.product.clone(),
            detect,
            select,
            parser,
            keep_original: d.keep_original.unwrap_or(true),
            maps_have_when: maps.iter().any(|m| m.when.is_some()),
            maps,
            set,
            categorize,
            extra,
        })
    }

    fn extras(&mut self, list: &[ExtraDef], path: &str) -> Vec<Extra> {
        let mut out = Vec::new();
        for (i, x) in list.iter().enumerate() {
            let p = format!("{path}[{i}]");
            let when = x
                .when
                .as_ref()
                .and_then(|c| self.condition(c, &format!("{p}.when")));
            let child = match &x.normalizer {
                ChildDef::Name(n) => self.named(n, &format!("{p}.normalizer")),
                ChildDef::Inline(d) => {
                    if !d.definitions.is_empty() {
                        self.err(
                            &format!("{p}.normalizer.definitions"),
                            "inline normalizers cannot hold definitions",
                        );
                    }
                    self.def(d, &format!("{p}.normalizer")).map(Arc::new)
                }
            };
            if let Some(child) = child {
                out.push(Extra {
                    field: SmolStr::new(x.field.as_deref().unwrap_or("message")),
                    when,
                    child,
                });
            }
        }
        out
    }

    fn sets(&mut self, m: &BTreeMap<String, ConstDef>, path: &str) -> Vec<(Target, Value)> {
        let mut out = Vec::new();
        let mut probe = Event::default();
        for (k, v) in m {
            let t = Target::resolve(k);
            let v = const_value(v);
            if let Err(e) = t.set(&mut probe, v.clone()) {
                self.err(&format!("{path}.{k}"), e.to_string());
                continue;
            }
            out.push((t, v));
        }
        out
    }

    fn tz(&mut self, t: &str, path: &str) -> Option<Tz> {
        match t.parse::<Tz>() {
            Ok(tz) => Some(tz),
            Err(_) => {
                self.err(
                    path,
                    format!("unknown time zone '{t}' (IANA names such as UTC, Europe/Berlin)"),
                );
                None
            }
        }
    }

    fn parser(&mut self, p: &ParserDef, path: &str) -> Option<Parser> {
        Some(match p {
            ParserDef::Syslog {
                timezone,
                require_pri,
            } => Parser::Syslog {
                timezone: match timezone {
                    Some(t) => Some(self.tz(t, &format!("{path}.timezone"))?),
                    None => None,
                },
                require_pri: *require_pri,
            },
            ParserDef::Json { max_depth } => Parser::json(max_depth.unwrap_or(32).clamp(1, 64)),
            ParserDef::Kv {
                pair_separator,
                kv_separator,
            } => {
                let kv = kv_separator.as_deref().unwrap_or("=");
                if kv.is_empty() {
                    self.err(&format!("{path}.kv_separator"), "must not be empty");
                    return None;
                }
                let pair = pair_separator.as_deref().unwrap_or(" ");
                if pair.is_empty() {
                    self.err(&format!("{path}.pair_separator"), "must not be empty");
                    return None;
                }
                Parser::kv(pair, kv)
            }
            ParserDef::Regex { patterns } => {
                if patterns.is_empty() {
                    self.err(
                        &format!("{path}.patterns"),
                        "at least one pattern is needed",
                    );
                }
                let mut out = Vec::new();
                for (i, pd) in patterns.iter().enumerate() {
                    let (id, re) = match pd {
                        PatternDef::Plain(r) => (None, r.as_str()),
                        PatternDef::Named { id, regex } => (Some(id.as_str()), regex.as_str()),
                    };
                    match Pattern::new(id, re) {
                        Ok(p) => out.push(p),
                        Err(e) => self.err(
                            &format!("{path}.patterns[{i}]"),
                            format!("invalid regex: {e}"),
                        ),
                    }
                }
                Parser::Regex(out)
            }
            ParserDef::Csv { columns, delimiter } => {
                let d = delimiter.as_deref().unwrap_or(",");
                let d = if d == "\\t" { "\t" } else { d };
                if d.len() != 1 {
                    self.err(&format!("{path}.delimiter"), "must be one character");
                    return None;
                }
                if columns.is_empty() {
                    self.err(&format!("{path}.columns"), "name at least one column");
                }
                Parser::csv(columns, d.as_bytes()[0])
            }
            ParserDef::Cef {} => Parser::Cef,
            ParserDef::Leef {} => Parser::Leef,
            ParserDef::Xml {} => match Parser::xml() {
                Ok(p) => p,
                Err(e) => {
                    self.err(path, e);
                    return None;
                }
            },
            ParserDef::Winxml {} => Parser::WinXml,
        })
    }

    fn transform(
        &mut self,
        t: &TransformDef,
        dicts: &HashMap<String, Arc<HashMap<String, String>>>,
        path: &str,
    ) -> Option<Transform> {
        match t {
            TransformDef::Simple(s) => match s.as_str() {
                "lowercase" | "lower" => Some(Transform::Lower),
                "uppercase" | "upper" => Some(Transform::Upper),
                "trim" => Some(Transform::Trim),
                other => {
                    self.err(path, format!("unknown transform '{other}' (lowercase, uppercase, trim, replace, split, lookup, default)"));
                    None
                }
            },
            TransformDef::Keyed(m) => {
                if m.len() != 1 {
                    self.err(path, "a transform has exactly one key");
                    return None;
                }
                let (k, v) = m.iter().next()?;
                let text = |v: &yaml_serde::Value| match v {
                    yaml_serde::Value::String(s) => Some(s.clone()),
                    yaml_serde::Value::Number(n) => Some(n.to_string()),
                    yaml_serde::Value::Bool(b) => Some(b.to_string()),
                    _ => None,
                };
                match k.as_str() {
                    "replace" => {
                        let re = v.get("regex").and_then(text);
                        let with = v.get("with").and_then(text).unwrap_or_default();
                        let Some(re) = re else {
                            self.err(&format!("{path}.replace"), "needs `regex` (and `with`)");
                            return None;
                        };
                        match regex::Regex::new(&re) {
                            Ok(r) => Some(Transform::Replace(r, with)),
                            Err(e) => {
                                self.err(
                                    &format!("{path}.replace.regex"),
                                    format!("invalid regex: {e}"),
                                );
                                None
                            }
                        }
                    }
                    "split" => text(v).map(Transform::Split).or_else(|| {
                        self.err(&format!("{path}.split"), "needs a separator");
                        None
                    }),
                    "lookup" => {
                        let name = text(v).unwrap_or_default();
                        match dicts.get(&name) {
                            Some(d) => Some(Transform::Lookup(d.clone())),
                            None => {
                                self.err(
                                    &format!("{path}.lookup"),
                                    format!("no dictionary '{name}' in `dictionaries`"),
                                );
                                None
                            }
                        }
                    }
                    "default" => match text(v) {
                        Some(s) => Some(Transform::Default(Value::Str(SmolStr::new(s)))),
                        None => {
                            self.err(&format!("{path}.default"), "needs a value");
                            None
                        }
                    },
                    other => {
                        self.err(path, format!("unknown transform '{other}'"));
                        None
                    }
                }
            }
        }
    }

    /// A condition's query: its parsed expression and its compiled filter.
    fn parsed_query(&mut self, q: &str, path: &str) -> Option<(vigil_query::Expr, CompiledFilter)> {
        match vigil_event::query::parse_query(q) {
            Ok(parsed) => {
                if !parsed.stages.is_empty() {
                    self.err(path, "a condition cannot have `|` stages");
                    return None;
                }
                match CompiledFilter::new(&parsed.filter) {
                    Ok(f) => Some((parsed.filter, f)),
                    Err(e) => {
                        self.err(path, e.to_string());
                        None
                    }
                }
            }
            Err(e) => {
                self.err(path, format!("invalid query: {}", e.render(q)));
                None
            }
        }
    }

    /// A query as a condition: decided in place when it has a [`crate::tree::ValueTest`]'s
    /// shape, else by the query engine.
    fn query_condition(&mut self, q: &str, path: &str) -> Option<Condition> {
        self.parsed_query(q, path).map(|(expr, f)| {
            match crate::tree::ValueTest::from_query(&expr) {
                Some(t) => Condition::Values(Box::new(t)),
                None => Condition::Query(Box::new(f)),
            }
        })
    }

    fn condition(&mut self, c: &ConditionDef, path: &str) -> Option<Condition> {
        match c {
            ConditionDef::Query(q) => self.query_condition(q, path),
            ConditionDef::Predicate(p) => {
                let mut out = Predicate {
                    field: p.field.as_deref().map(SmolStr::new),
                    starts_with: p.starts_with.clone(),
                    contains: p
                        .contains
                        .iter()
                        .chain(p.contains_all.iter())
                        .cloned()
                        .collect(),
                    contains_any: p.contains_any.clone(),
                    equals: p.equals.clone(),
                    ..Predicate::default()
                };
                if let Some(r) = &p.regex {
                    match regex::Regex::new(r) {
                        Ok(r) => out.regex = Some(r),
                        Err(e) => self.err(&format!("{path}.regex"), format!("invalid regex: {e}")),
                    }
                }
                if let Some(q) = &p.query {
                    out.query = self.query_condition(q, &format!("{path}.query"));
                }
                for (i, c) in p.any.iter().enumerate() {
                    if let Some(c) = self.condition(c, &format!("{path}.any[{i}]")) {
                        out.any.push(c);
                    }
                }
                for (i, c) in p.not.iter().enumerate() {
                    if let Some(c) = self.condition(c, &format!("{path}.not[{i}]")) {
                        out.not.push(c);
                    }
                }
                Some(Condition::Pred(Box::new(out)))
            }
        }
    }
}

fn const_value(v: &ConstDef) -> Value {
    match v {
        ConstDef::Bool(b) => Value::Bool(*b),
        ConstDef::Int(i) => Value::Int(*i),
        ConstDef::Float(x) => Value::Float(*x),
        ConstDef::Str(s) => Value::Str(SmolStr::new(s)),
        ConstDef::List(l) => Value::List(l.iter().map(|s| Value::Str(SmolStr::new(s))).collect()),
    }
}

/// `"{user}@{domain}"` into segments; `{{` and `}}` are literal braces.
fn template(t: &str) -> Result<Vec<Segment>, String> {
    let mut out = Vec::new();
    let mut lit = String::new();
    let mut chars = t.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                lit.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                lit.push('}');
            }
            '{' => {
                let mut name = String::new();
                loop {
                    match chars.next() {
                        Some('}') => break,
                        Some(x) => name.push(x),
                        None => return Err(format!("unclosed '{{' in template '{t}'")),
                    }
                }
                if name.trim().is_empty() {
                    return Err("empty field name in template".into());
                }
                if !lit.is_empty() {
                    out.push(Segment::Lit(std::mem::take(&mut lit)));
                }
                out.push(Segment::Field(SmolStr::new(name.trim())));
            }
            '}' => return Err(format!("unmatched '}}' in template '{t}'")),
            c => lit.push(c),
        }
    }
    if !lit.is_empty() {
        out.push(Segment::Lit(lit));
    }
    Ok(out)
}

fn strsim(a: &str, b: &str) -> usize {
    // Levenshtein distance, small inputs only
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_reports_every_problem_with_its_path() {
        let mut lib = Library::new();
        let yaml = r#"
name: bad
parser: {type: regex, patterns: ['(unclosed']}
mapping:
  - {from: a, to: source.ip, convert: ipp}
  - {from: a, value: x, to: b}
  - {template: "{a", to: c}
set: {source.port: "notaport"}
categorize:
  - when: 'source.ip:notanip'
    set: {event.outcome: failure}
extra:
  - normalizer: nosuch
"#;
        lib.add_yaml(yaml, "t.yaml").unwrap_or_default();
        let errs = lib
            .compile("bad")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        for want in [
            "bad.parser.patterns[0]: invalid regex",
            "bad.mapping[0].convert: unknown conversion 'ipp'",
            "bad.mapping[1]: give exactly one",
            "bad.mapping[2].template: unclosed",
            "bad.set.source.port: cannot store",
            "bad.categorize[0].when: invalid query",
            "bad.extra[0].normalizer: unknown normalizer 'nosuch'",
        ] {
            assert!(errs.contains(want), "missing {want:?} in\n{errs}");
        }
    }

    #[test]
    fn cycles_are_reported() {
        let mut lib = Library::new();
        lib.add_yaml("name: a\nparser: {type: kv}\nextra: [{normalizer: b}]", "a")
            .unwrap_or_default();
        lib.add_yaml("name: b\nparser: {type: kv}\nextra: [{normalizer: a}]", "b")
            .unwrap_or_default();
        let errs = lib
            .compile("a")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(errs.contains("cycle: a -> b -> a"), "{errs}");
    }

    #[test]
    fn unknown_keys_are_rejected_with_their_path() {
        let mut lib = Library::new();
        let e = lib.add_yaml(
            "name: a\nparser: {type: kv}\nmapping: [{from: x, to: y, covnert: int}]",
            "f.yaml",
        );
        let msg = e.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(
            msg.contains("f.yaml: mapping[0]") && msg.contains("covnert"),
            "{msg}"
        );
    }

    #[test]
    fn builtin_packs_compile() {
        let lib = match Library::builtin() {
            Ok(l) => l,
            Err(e) => panic!("{e}"),
        };
        if let Err(e) = lib.check() {
            panic!("{e}");
        }
    }
}
