//! The runtime normalizer tree: compiled once from definitions, then run per record without
//! re-parsing any regex, template, query or time zone.

use std::collections::HashMap;
use std::sync::Arc;

use chrono_tz::Tz;
use regex::Regex;
use smol_str::SmolStr;
use vigil_event::{Event, FieldId, FieldKind, FieldMap, Value, ValueRef};
use vigil_event::{RawRecord, SourceInfo};
use vigil_query::CompiledFilter;

use crate::convert::{Convert, DurationUnit, convert};
use crate::parser::{ParseContext, ParseError, Parser};

/// Deepest nesting of extra normalizers (a guard against definitions that recurse by data).
pub const MAX_DEPTH: u8 = 8;

/// Why a record could not be normalized (the event is still produced, raw, with the reason).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NormalizeError {
    /// The normalizer's parser failed.
    #[error("{normalizer}: {error}")]
    Parse {
        /// The normalizer.
        normalizer: SmolStr,
        /// The parser's error.
        error: ParseError,
    },
    /// No `select` route matched and the normalizer has no parser of its own.
    #[error("{normalizer}: no route matched")]
    NoRoute {
        /// The normalizer.
        normalizer: SmolStr,
    },
    /// Extra normalizers nested deeper than [`MAX_DEPTH`].
    #[error("{normalizer}: extra normalizers nested too deep")]
    TooDeep {
        /// The normalizer.
        normalizer: SmolStr,
    },
}

impl NormalizeError {
    /// A short, stable reason for summaries.
    pub fn reason(&self) -> String {
        match self {
            NormalizeError::Parse { normalizer, error } => {
                format!("{normalizer}: {}", error.reason())
            }
            other => other.to_string(),
        }
    }
}

/// A compiled condition.
#[derive(Debug)]
pub enum Condition {
    /// A query over the event.
    Query(Box<CompiledFilter>),
    /// A query of the shape `field:value` or `field in (a, b)` on text: decided in place,
    /// without the query engine (most routing and categorization conditions look like this).
    Values(Box<ValueTest>),
    /// A text predicate.
    Pred(Box<Predicate>),
}

/// Where a [`ValueTest`] reads, resolved as [`Event::visit_field`] resolves a name.
#[derive(Debug)]
enum FieldRef {
    /// A registered field.
    Registered(FieldId),
    /// `original.NAME`: only the source's own fields.
    Original(SmolStr),
    /// Any other name: the extra fields, else the source's own fields.
    Open(SmolStr),
}

/// `field:value`, `field==value` or `field in (a, b, ...)` with text literals, as the query
/// engine decides it (any value of the field; text compared case-insensitively except for
/// `==`; a non-text value compared as its text).
#[derive(Debug)]
pub struct ValueTest {
    field: FieldRef,
    /// Lowercased when `fold`.
    values: Vec<String>,
    fold: bool,
}

impl ValueTest {
    /// The test for a parsed query, when it has one of the shapes above.
    pub fn from_query(filter: &vigil_query::Expr) -> Option<ValueTest> {
        use vigil_query::{Expr, Term, Value as Q};
        let (field, values, fold) = match filter {
            Expr::Term(Term::Eq {
                field,
                value: Q::Str(s),
                case_sensitive,
            }) => {
                let v = if *case_sensitive {
                    s.clone()
                } else {
                    s.to_lowercase()
                };
                (field, vec![v], !*case_sensitive)
            }
            Expr::Term(Term::In { field, values }) => {
                let mut out = Vec::with_capacity(values.len());
                for v in values {
                    match v {
                        Q::Str(s) => out.push(s.to_lowercase()),
                        _ => return None,
                    }
                }
                (field, out, true)
            }
            _ => return None,
        };
        let field = match FieldId::lookup(field) {
            Some(id) => FieldRef::Registered(id),
            None => match field.strip_prefix("original.") {
                Some(rest) => FieldRef::Original(SmolStr::new(rest)),
                None => FieldRef::Open(SmolStr::new(field)),
            },
        };
        Some(ValueTest {
            field,
            values,
            fold,
        })
    }

    fn text_matches(&self, s: &str) -> bool {
        if !self.fold {
            return self.values.iter().any(|v| v == s);
        }
        if s.is_ascii() {
            self.values.iter().any(|v| v.eq_ignore_ascii_case(s))
        } else {
            let low = s.to_lowercase();
            self.values.contains(&low)
        }
    }

    fn value_matches(&self, v: ValueRef<'_>) -> bool {
        match v {
            ValueRef::Null => false,
            ValueRef::Str(s) => self.text_matches(s),
            other => self.text_matches(&other.to_string()),
        }
    }

    /// Whether any value of the field matches.
    pub fn matches(&self, ev: &Event) -> bool {
        let mut hit = false;
        let mut test = |v: ValueRef<'_>| {
            if !hit && self.value_matches(v) {
                hit = true;
            }
        };
        match &self.field {
            FieldRef::Registered(id) => id.def().visit(ev, &mut test),
            FieldRef::Original(name) => {
                if let Some(v) = ev.original.get(name) {
                    v.visit(&mut test);
                }
            }
            FieldRef::Open(name) => {
                if let Some(v) = ev.extra.get(name).or_else(|| ev.original.get(name)) {
                    v.visit(&mut test);
                }
            }
        }
        hit
    }
}

/// A compiled text predicate (all given tests must hold).
#[derive(Debug, Default)]
pub struct Predicate {
    pub(crate) field: Option<SmolStr>,
    pub(crate) starts_with: Option<String>,
    pub(crate) contains: Vec<String>,
    pub(crate) contains_any: Vec<String>,
    pub(crate) equals: Option<String>,
    pub(crate) regex: Option<Regex>,
    /// The `query` part: [`Condition::Values`] or [`Condition::Query`].
    pub(crate) query: Option<Condition>,
    pub(crate) any: Vec<Condition>,
    pub(crate) not: Vec<Condition>,
}

impl Condition {
    /// Whether the condition holds for `ev`, with `text` the input under test (the raw line
    /// or the extra normalizer's field).
    pub fn eval(&self, ev: &Event, text: &str) -> bool {
        match self {
            Condition::Query(f) => f.matches(ev),
            Condition::Values(t) => t.matches(ev),
            Condition::Pred(p) => {
                // the event test first: cheaper than the text's, and when it fails (the
                // `linux` pack's `process.name:kernel` beside a regex) they are not run
                if !p.query.as_ref().is_none_or(|q| q.eval(ev, text)) {
                    return false;
                }
                let tested = match &p.field {
                    None => p.text_holds(text),
                    Some(name) if name == "message" => {
                        ev.message.as_deref().is_some_and(|t| p.text_holds(t))
                    }
                    // the field's first value, read in place
                    Some(name) => {
                        let mut first = None;
                        ev.visit_field(name, &mut |v| {
                            if first.is_none() {
                                first = Some(match v {
                                    ValueRef::Str(s) => p.text_holds(s),
                                    other => p.text_holds(&other.to_string()),
                                });
                            }
                        });
                        first == Some(true)
                    }
                };
                tested
                    && (p.any.is_empty() || p.any.iter().any(|c| c.eval(ev, text)))
                    && !p.not.iter().any(|c| c.eval(ev, text))
            }
        }
    }

    /// Whether [`Condition::eval`] reads its `text` argument (else any text gives the same
    /// answer, and a caller may skip making one).
    pub fn reads_text(&self) -> bool {
        match self {
            Condition::Query(_) | Condition::Values(_) => false,
            Condition::Pred(p) => {
                (p.field.is_none() && p.has_text_tests())
                    || p.any.iter().any(Condition::reads_text)
                    || p.not.iter().any(Condition::reads_text)
            }
        }
    }
}

impl Predicate {
    /// Whether `t` passes the text tests (starts with, contains, equals, regex).
    fn text_holds(&self, t: &str) -> bool {
        self.starts_with
            .as_ref()
            .is_none_or(|s| t.starts_with(s.as_str()))
            && self.contains.iter().all(|s| t.contains(s.as_str()))
            && (self.contains_any.is_empty()
                || self.contains_any.iter().any(|s| t.contains(s.as_str())))
            && self.equals.as_ref().is_none_or(|s| t == s)
            && self.regex.as_ref().is_none_or(|r| r.is_match(t))
    }

    fn has_text_tests(&self) -> bool {
        self.starts_with.is_some()
            || !self.contains.is_empty()
            || !self.contains_any.is_empty()
            || self.equals.is_some()
            || self.regex.is_some()
    }
}

/// The first value of a field as text.
fn field_text(ev: &Event, name: &str) -> Option<SmolStr> {
    if name == "message" {
        return ev.message.clone();
    }
    let mut out = None;
    ev.visit_field(name, &mut |v| {
        if out.is_none() {
            out = Some(match v {
                ValueRef::Str(s) => SmolStr::new(s),
                other => SmolStr::new(other.to_string()),
            });
        }
    });
    out
}

/// A field as text for an extra normalizer: like [`field_text`], but a list of the source's
/// own fields (a JSON array) is the whole list (`[a, b]`), not its first item.
fn whole_text(ev: &Event, name: &str) -> Option<SmolStr> {
    if name == "message" {
        return ev.message.clone();
    }
    if FieldId::lookup(name).is_none() {
        let own = name.strip_prefix("original.").unwrap_or(name);
        let v = if own.len() < name.len() {
            ev.original.get(own)
        } else {
            ev.extra.get(name).or_else(|| ev.original.get(name))
        };
        if let Some(v @ Value::List(_)) = v {
            return Some(SmolStr::new(v.to_string()));
        }
    }
    field_text(ev, name)
}

/// Where a mapping writes.
#[derive(Debug, Clone)]
pub enum Target {
    /// A registered field.
    Id(FieldId),
    /// Any other name, kept in [`Event::extra`].
    Extra(SmolStr),
}

impl Target {
    /// Resolves a name once.
    pub fn resolve(name: &str) -> Target {
        match FieldId::lookup(name) {
            Some(id) => Target::Id(id),
            None => Target::Extra(SmolStr::new(name)),
        }
    }

    fn name(&self) -> &str {
        match self {
            Target::Id(id) => id.name(),
            Target::Extra(s) => s,
        }
    }

    fn kind(&self) -> Option<FieldKind> {
        match self {
            Target::Id(id) => Some(id.def().kind()),
            Target::Extra(_) => None,
        }
    }

    /// Stores a copy of `v` (a constant).
    pub fn set_ref(&self, ev: &mut Event, v: &Value) -> Result<(), vigil_event::SetError> {
        match self {
            Target::Id(id) => id.def().set_ref(ev, v),
            Target::Extra(name) => {
                ev.extra.insert(name.clone(), v.clone());
                Ok(())
            }
        }
    }

    /// Stores `v`.
    pub fn set(&self, ev: &mut Event, v: Value) -> Result<(), vigil_event::SetError> {
        match self {
            Target::Id(id) => id.def().set(ev, v),
            Target::Extra(name) => {
                ev.extra.insert(name.clone(), v);
                Ok(())
            }
        }
    }
}

/// A template segment.
#[derive(Debug, Clone)]
pub enum Segment {
    /// Literal text.
    Lit(String),
    /// A field's value.
    Field(SmolStr),
}

/// Where a mapping reads.
#[derive(Debug, Clone)]
pub enum Source {
    /// A parsed field, else an event field.
    Field(SmolStr),
    /// A constant.
    Const(Value),
    /// A template.
    Template(Vec<Segment>),
}

/// A compiled transform.
#[derive(Debug, Clone)]
pub enum Transform {
    /// Lowercase.
    Lower,
    /// Uppercase.
    Upper,
    /// Trim blanks.
    Trim,
    /// Regex replace (`$1` and `${name}` in the replacement).
    Replace(Regex, String),
    /// Split into a list.
    Split(String),
    /// Dictionary lookup; keys not found are kept.
    Lookup(Arc<HashMap<String, String>>),
    /// Value when the source is absent or empty.
    Default(Value),
}

/// A compiled mapping entry.
#[derive(Debug)]
pub struct MapOp {
    pub(crate) source: Source,
    pub(crate) target: Target,
    pub(crate) transforms: Vec<Transform>,
    pub(crate) convert: Option<Convert>,
    pub(crate) format: Option<String>,
    pub(crate) timezone: Option<Tz>,
    pub(crate) unit: DurationUnit,
    pub(crate) when: Option<Condition>,
}

/// A compiled extra normalizer or select route.
#[derive(Debug)]
pub struct Extra {
    pub(crate) field: SmolStr,
    pub(crate) when: Option<Condition>,
    pub(crate) child: Arc<Normalizer>,
}

/// A compiled normalizer: one node of the tree.
#[derive(Debug)]
pub struct Normalizer {
    pub(crate) name: SmolStr,
    pub(crate) description: Option<String>,
    pub(crate) product: Option<String>,
    pub(crate) detect: Option<Condition>,
    pub(crate) select: Vec<Extra>,
    pub(crate) parser: Option<Parser>,
    pub(crate) keep_original: bool,
    pub(crate) maps: Vec<MapOp>,
    /// Whether any mapping line has a `when` condition.
    pub(crate) maps_have_when: bool,
    pub(crate) set: Vec<(Target, Value)>,
    pub(crate) categorize: Vec<(Condition, Vec<(Target, Value)>)>,
    pub(crate) extra: Vec<Extra>,
}

fn lookup(fields: &FieldMap, ev: &Event, name: &str) -> Option<Value> {
    match fields.get(name) {
        Some(v) => Some(v.clone()),
        None if name == "message" => ev.message.clone().map(Value::Str),
        None => ev.get(name).or_else(|| ev.original.get(name).cloned()),
    }
}

fn as_text(v: &Value) -> std::borrow::Cow<'_, str> {
    match v {
        Value::Str(s) => std::borrow::Cow::Borrowed(s.as_str()),
        other => std::borrow::Cow::Owned(other.to_string()),
    }
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Str(s) => s.is_empty() || s == "-",
        Value::List(l) => l.is_empty(),
        _ => false,
    }
}

impl MapOp {
    fn value(&self, fields: &FieldMap, ev: &Event) -> Option<Value> {
        match &self.source {
            Source::Field(name) => lookup(fields, ev, name),
            Source::Const(v) => Some(v.clone()),
            Source::Template(segs) => {
                let mut s = String::new();
                for seg in segs {
                    match seg {
                        Segment::Lit(l) => s.push_str(l),
                        Segment::Field(f) => {
                            let v = lookup(fields, ev, f)?;
                            s.push_str(&as_text(&v));
                        }
                    }
                }
                Some(Value::Str(SmolStr::new(s)))
            }
        }
    }

    fn apply(&self, fields: &FieldMap, ev: &mut Event, ctx: &ParseContext) {
        let mut v = self.value(fields, ev);
        for t in &self.transforms {
            v = match (t, v) {
                (Transform::Default(d), None) => Some(d.clone()),
                (Transform::Default(d), Some(x)) if is_empty(&x) => Some(d.clone()),
                (_, None) => None,
                (t, Some(x)) => Some(transform(t, x)),
            };
        }
        let Some(v) = v else { return };
        if is_empty(&v) {
            return;
        }
        let conv = self.convert.or(match self.target.kind() {
            Some(FieldKind::Time) => Some(Convert::Timestamp),
            Some(FieldKind::Ip) => Some(Convert::Ip),
            _ => None,
        });
        let v = match conv {
            None => Some(v),
            Some(c) => {
                // kept for the error message, formatted only if there is one
                let shown = v.clone();
                let tz = self.timezone.unwrap_or(ctx.timezone);
                match convert(v, c, self.format.as_deref(), tz, ctx.received, self.unit) {
                    Some(v) => Some(v),
                    None => {
                        mapping_error(
                            ev,
                            self.target.name(),
                            &format!("cannot convert '{}' to {c:?}", truncate(&shown.to_string())),
                        );
                        None
                    }
                }
            }
        };
        if let Some(v) = v
            && let Err(e) = self.target.set(ev, v)
        {
            mapping_error(ev, self.target.name(), &e.to_string());
        }
    }
}

fn truncate(s: &str) -> &str {
    let mut n = s.len().min(48);
    while !s.is_char_boundary(n) {
        n -= 1;
    }
    &s[..n]
}

fn mapping_error(ev: &mut Event, to: &str, msg: &str) {
    if ev.extra.get("vigil.mapping_error").is_none() {
        ev.extra.insert(
            "vigil.mapping_error",
            Value::Str(SmolStr::new(format!("{to}: {msg}"))),
        );
    }
}

fn transform(t: &Transform, v: Value) -> Value {
    match t {
        Transform::Lower => map_str(v, &|s| s.to_lowercase()),
        Transform::Upper => map_str(v, &|s| s.to_uppercase()),
        Transform::Trim => map_str(v, &|s| s.trim().to_owned()),
        Transform::Replace(re, with) => {
            map_str(v, &|s| re.replace_all(s, with.as_str()).into_owned())
        }
        Transform::Split(sep) => match v {
            Value::List(l) => Value::List(l),
            other => Value::List(
                as_text(&other)
                    .split(sep.as_str())
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(|s| Value::Str(SmolStr::new(s)))
                    .collect(),
            ),
        },
        Transform::Lookup(d) => match d.get(as_text(&v).as_ref()) {
            Some(x) => Value::Str(SmolStr::new(x)),
            None => v,
        },
        Transform::Default(_) => v,
    }
}

fn map_str(v: Value, f: &dyn Fn(&str) -> String) -> Value {
    match v {
        Value::List(l) => Value::List(l.into_iter().map(|x| map_str(x, f)).collect()),
        Value::Str(s) => Value::Str(SmolStr::new(f(&s))),
        other => other,
    }
}

impl Normalizer {
    /// The normalizer's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its description.
    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }

    /// The product it reads.
    pub fn product(&self) -> Option<&str> {
        self.product.as_deref()
    }

    /// The parser type (`syslog`, `json`, ...), if it has one.
    pub fn parser_kind(&self) -> Option<&'static str> {
        self.parser.as_ref().map(Parser::kind)
    }

    /// Whether its `detect` condition accepts `line` (false without one).
    pub fn detects(&self, ev: &Event, line: &str) -> bool {
        self.detect.as_ref().is_some_and(|d| d.eval(ev, line))
    }

    /// Whether it has a `detect` condition.
    pub fn has_detect(&self) -> bool {
        self.detect.is_some()
    }

    /// Runs this normalizer on `input`, filling `ev`.
    pub fn apply(
        &self,
        ev: &mut Event,
        input: &str,
        ctx: &ParseContext,
        depth: u8,
    ) -> Result<(), NormalizeError> {
        if depth > MAX_DEPTH {
            return Err(NormalizeError::TooDeep {
                normalizer: self.name.clone(),
            });
        }
        for route in &self.select {
            if route.when.as_ref().is_none_or(|c| c.eval(ev, input)) {
                return route.child.apply(ev, input, ctx, depth + 1);
            }
        }
        let Some(parser) = &self.parser else {
            return Err(NormalizeError::NoRoute {
                normalizer: self.name.clone(),
            });
        };
        let mut fields = FieldMap::new();
        parser
            .parse(input, ev, ctx, &mut fields)
            .map_err(|error| NormalizeError::Parse {
                normalizer: self.name.clone(),
                error,
            })?;
        // The parsed fields are visible as `original.NAME` to every condition from here on,
        // mapping lines' `when` included. Without `keep_original` they are shown to the
        // mapping conditions only, then withdrawn.
        let mut withdrawn = None;
        if self.keep_original {
            ev.original.reserve(fields.len());
            for (k, v) in fields.iter() {
                ev.original.push(k, v.clone());
            }
        } else if self.maps_have_when {
            let before = ev.original.clone();
            for (k, v) in fields.iter() {
                ev.original.push(k, v.clone());
            }
            withdrawn = Some(before);
        }
        for m in &self.maps {
            if m.when.as_ref().is_none_or(|c| c.eval(ev, input)) {
                m.apply(&fields, ev, ctx);
            }
        }
        if let Some(before) = withdrawn {
            ev.original = before;
        }
        if self.keep_original {
            fields.clear();
        }
        for (t, v) in &self.set {
            let _ = t.set_ref(ev, v);
        }
        for (cond, sets) in &self.categorize {
            if cond.eval(ev, input) {
                for (t, v) in sets {
                    let _ = t.set_ref(ev, v);
                }
                break;
            }
        }
        for x in &self.extra {
            // a condition that does not read the text is decided before the text is made
            let reads_text = x.when.as_ref().is_some_and(Condition::reads_text);
            if !reads_text && !x.when.as_ref().is_none_or(|c| c.eval(ev, "")) {
                continue;
            }
            let text = match fields.get(&x.field) {
                Some(v) => SmolStr::new(as_text(v)),
                None => match whole_text(ev, &x.field) {
                    Some(t) => t,
                    None => continue,
                },
            };
            if reads_text && !x.when.as_ref().is_none_or(|c| c.eval(ev, &text)) {
                continue;
            }
            if let Err(e) = x.child.apply(ev, &text, ctx, depth + 1)
                && ev.extra.get("vigil.extra_error").is_none()
            {
                ev.extra
                    .insert("vigil.extra_error", Value::Str(SmolStr::new(e.to_string())));
            }
        }
        Ok(())
    }
}

/// A normalizer tree ready for the pipeline: the root normalizer, the default time zone, and
/// the event construction every normalizer shares (metadata, raw bytes, parse-error mark).
#[derive(Debug, Clone)]
pub struct NormalizerTree {
    root: Arc<Normalizer>,
    timezone: Tz,
}

impl NormalizerTree {
    /// A tree rooted at `root`, reading offset-less times in `timezone`.
    pub fn new(root: Arc<Normalizer>, timezone: Tz) -> NormalizerTree {
        NormalizerTree { root, timezone }
    }

    /// The root normalizer.
    pub fn root(&self) -> &Arc<Normalizer> {
        &self.root
    }

    /// Normalizes one record. The event is always produced; a parse failure leaves the raw
    /// bytes, the receive time and the reason in `vigil.parse_error`.
    pub fn normalize_record(&self, source: &SourceInfo, rec: RawRecord) -> Event {
        let mut ev = new_event(source, rec);
        self.fill(&mut ev);
        ev
    }

    /// Normalizes the base event `ev` in place.
    fn fill(&self, ev: &mut Event) {
        let ctx = ParseContext {
            timezone: self.timezone,
            received: ev.meta.received,
        };
        let raw = ev.raw.clone();
        let text = utf8_lossy(trim_eol(&raw));
        if let Err(e) = self.root.apply(ev, &text, &ctx, 0) {
            ev.meta.parse_error = Some(SmolStr::new(e.to_string()));
        }
    }
}

impl vigil_event::Normalizer for NormalizerTree {
    fn normalize(&self, source: &SourceInfo, rec: RawRecord, out: &mut Vec<Event>) {
        // filled where it will stay: an event is large, and every move copies it
        out.push(new_event(source, rec));
        if let Some(ev) = out.last_mut() {
            self.fill(ev);
        }
    }
}

/// `b` as text, invalid sequences replaced by U+FFFD; borrows valid UTF-8 (checked a word at a
/// time, where `String::from_utf8_lossy` decodes byte by byte).
pub(crate) fn utf8_lossy(b: &[u8]) -> std::borrow::Cow<'_, str> {
    match std::str::from_utf8(b) {
        Ok(s) => std::borrow::Cow::Borrowed(s),
        Err(_) => String::from_utf8_lossy(b),
    }
}

pub(crate) fn trim_eol(b: &[u8]) -> &[u8] {
    let mut n = b.len();
    while n > 0 && matches!(b[n - 1], b'\n' | b'\r' | 0) {
        n -= 1;
    }
    &b[..n]
}

/// A base event for `rec` with Vigil's metadata filled in ([`Event::from_raw`]).
pub fn new_event(source: &SourceInfo, rec: RawRecord) -> Event {
    Event::from_raw(source, rec)
}

#[cfg(test)]
mod tests {
    use crate::Library;
    use vigil_event::{Bytes, Timestamp};
    use vigil_event::{RawRecord, SourceInfo};

    use super::NormalizerTree;

    fn run(yaml: &str, line: &str) -> vigil_event::Event {
        let mut lib = Library::new();
        let name = lib.add_yaml(yaml, "t.yaml").unwrap_or_default();
        let n = lib.compile(&name).unwrap_or_else(|e| panic!("{e}"));
        let tree = NormalizerTree::new(n, chrono_tz::UTC);
        let src = SourceInfo {
            id: "t".into(),
            tenant: "main".into(),
            collector: "t".into(),
        };
        tree.normalize_record(
            &src,
            RawRecord {
                data: Bytes::copy_from_slice(line.as_bytes()),
                received: Timestamp::EPOCH,
                peer: None,
                transport_error: None,
            },
        )
    }

    #[test]
    fn value_tests_decide_as_the_query_engine() {
        use vigil_event::{Event, Value};
        let mut events = Vec::new();
        for (name, extra, orig) in [
            ("sshd", "x", "accepted"),
            ("CRON", "Ärger", "failed"),
            ("cron", "ärger", "Failed"),
            ("Sshd", "", "other"),
        ] {
            let mut ev = Event::default();
            ev.process.name = Some(name.into());
            ev.extra.insert("custom.f", Value::from(extra));
            ev.original.insert("pattern", Value::from(orig));
            ev.original.insert("n", Value::Int(42));
            events.push(ev);
        }
        events.push(Event::default());
        let mut shapes = 0;
        for q in [
            "process.name:sshd",
            "process.name==sshd",
            "program:SSHD",
            "process.name in (cron, crond, CRON)",
            "custom.f:ärger",
            "custom.f:ÄRGER",
            "custom.f in (x, Ärger)",
            "original.pattern:failed",
            "original.pattern in (failed, accepted)",
            "original.pattern==Failed",
            "pattern:accepted",
            "original.n:42",
            "original.n in (42, 43)",
            "process.name:ssh*",
            "NOT process.name:sshd",
        ] {
            let parsed = vigil_event::query::parse_query(q).unwrap_or_else(|e| panic!("{q}: {e}"));
            let filter = vigil_query::CompiledFilter::new(&parsed.filter)
                .unwrap_or_else(|e| panic!("{q}: {e}"));
            let Some(test) = super::ValueTest::from_query(&parsed.filter) else {
                // typed literals, globs and NOT stay with the query engine
                continue;
            };
            shapes += 1;
            for ev in &events {
                assert_eq!(test.matches(ev), filter.matches(ev), "{q} on {ev:?}");
            }
        }
        assert_eq!(shapes, 11);
    }

    #[test]
    fn mapping_when_sees_parsed_original_fields() {
        for keep in ["true", "false"] {
            let yaml = format!(
                "name: t\nparser: {{type: kv}}\nkeep_original: {keep}\nmapping:\n  - {{from: relay, to: destination.domain, when: 'NOT original.relay:none'}}\n  - {{from: u, to: user.name, when: 'original.kind:login'}}\n  - {{value: x, to: event.action, when: 'exists(original.nope)'}}\n"
            );
            let ev = run(&yaml, "relay=none u=alice kind=login");
            assert_eq!(ev.destination.domain, None, "keep_original {keep}");
            assert_eq!(
                ev.user.name.as_deref(),
                Some("alice"),
                "keep_original {keep}"
            );
            assert_eq!(ev.event.action, None);
            let ev = run(&yaml, "relay=mx.example.com u=bob kind=logout");
            assert_eq!(ev.destination.domain.as_deref(), Some("mx.example.com"));
            assert_eq!(ev.user.name, None);
            assert_eq!(ev.original.is_empty(), keep == "false");
        }
    }
}
