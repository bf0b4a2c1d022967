//! The plan: a serde-serializable AST, and its canonical text (`Display`).
//!
//! `parse(&plan.to_string()) == Ok(plan)` holds for every plan the parser produces.

use std::fmt::{self, Write as _};

use serde::{Deserialize, Serialize};

use crate::value::{Value, format_time};

/// A parsed query: a filter over events, then a pipeline of stages.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Query {
    /// Which events take part. [`Expr::MatchAll`] when the query is empty or starts with `|`.
    pub filter: Expr,
    /// The stages after `|`, in order.
    pub stages: Vec<Stage>,
}

/// A boolean expression over one event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Expr {
    /// Matches every event (`*`, or an empty query).
    MatchAll,
    /// All children match (two or more, none of them an `And`).
    And(Vec<Expr>),
    /// Any child matches (two or more, none of them an `Or`).
    Or(Vec<Expr>),
    /// The child does not match.
    Not(Box<Expr>),
    /// A single condition.
    Term(Term),
}

/// A comparison operator of [`Term::Compare`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CmpOp {
    /// `!=`: the field is present and none of its values equals the literal.
    Ne,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `<`
    Lt,
    /// `<=`
    Le,
}

impl CmpOp {
    /// The operator as written in queries.
    pub fn as_str(self) -> &'static str {
        match self {
            CmpOp::Ne => "!=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
        }
    }
}

/// One end of a [`Term::Range`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bound {
    /// The limit.
    pub value: Value,
    /// `[`/`]` (inclusive) or `{`/`}` (exclusive).
    pub inclusive: bool,
}

/// A single condition. Field terms match when **any** value of a multi-valued field matches
/// (except `!=`, see [`CmpOp::Ne`]); an absent field never matches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Term {
    /// `field:value` (case-insensitive for strings) or `field==value` (`case_sensitive`).
    /// Non-string values compare by type (`event.code:4625` matches the text `"4625"` too).
    Eq {
        /// Field name.
        field: String,
        /// The literal.
        value: Value,
        /// `==`: compare strings exactly.
        case_sensitive: bool,
    },
    /// `field:adm*`: a glob over the whole value (`*` any run, `?` one character). The pattern
    /// uses `\*`, `\?` and `\\` for literal characters.
    Wildcard {
        /// Field name.
        field: String,
        /// Glob pattern, escaped as described above.
        pattern: String,
        /// `==`: match case exactly.
        case_sensitive: bool,
    },
    /// `field:/regex/`: an unanchored regex (Rust `regex` syntax, linear time), case-sensitive
    /// unless the pattern says `(?i)`.
    Regex {
        /// Field name.
        field: String,
        /// Regex source.
        pattern: String,
    },
    /// `field>value`, `field!=value`, ...
    Compare {
        /// Field name.
        field: String,
        /// Operator.
        op: CmpOp,
        /// The literal.
        value: Value,
    },
    /// `field:[low TO high]`, `{` `}` for exclusive ends, `*` for an open end.
    Range {
        /// Field name.
        field: String,
        /// Lower end, `None` when open.
        lower: Option<Bound>,
        /// Upper end, `None` when open.
        upper: Option<Bound>,
    },
    /// `field in (a, "b c", 3)`: equality (case-insensitive for strings) with any literal.
    In {
        /// Field name.
        field: String,
        /// One or more literals.
        values: Vec<Value>,
    },
    /// `source.ip:10.0.0.0/8`: an IP within the network.
    Cidr {
        /// Field name.
        field: String,
        /// The network (host bits cleared).
        net: ipnet::IpNet,
    },
    /// `exists(field)` or `field:*`: the field has at least one non-null value.
    Exists {
        /// Field name.
        field: String,
    },
    /// A bare word or a quoted phrase: case-insensitive substring of the event text.
    Text(String),
    /// A bare word with wildcards (`fail*ed`): case-insensitive glob, unanchored, over the
    /// event text. Same escapes as [`Term::Wildcard`].
    TextWildcard(String),
}

impl Term {
    /// The field this term tests, `None` for full-text terms.
    pub fn field(&self) -> Option<&str> {
        self.field_ref().map(|f| f.as_str())
    }

    fn field_ref(&self) -> Option<&String> {
        match self {
            Term::Eq { field, .. }
            | Term::Wildcard { field, .. }
            | Term::Regex { field, .. }
            | Term::Compare { field, .. }
            | Term::Range { field, .. }
            | Term::In { field, .. }
            | Term::Cidr { field, .. }
            | Term::Exists { field } => Some(field),
            Term::Text(_) | Term::TextWildcard(_) => None,
        }
    }

    fn field_mut(&mut self) -> Option<&mut String> {
        match self {
            Term::Eq { field, .. }
            | Term::Wildcard { field, .. }
            | Term::Regex { field, .. }
            | Term::Compare { field, .. }
            | Term::Range { field, .. }
            | Term::In { field, .. }
            | Term::Cidr { field, .. }
            | Term::Exists { field } => Some(field),
            Term::Text(_) | Term::TextWildcard(_) => None,
        }
    }
}

/// An aggregation function.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AggFunc {
    /// `count()` counts events; `count(f)` counts events where `f` exists.
    Count(Option<String>),
    /// `dc(f)`: exact number of distinct values.
    Dc(String),
    /// `sum(f)`: integer when every value is an integer, else float.
    Sum(String),
    /// `avg(f)`
    Avg(String),
    /// `min(f)`
    Min(String),
    /// `max(f)`
    Max(String),
    /// `percentile(f, p)`, `p` in 0..=100, exact (linear interpolation between ranks).
    Percentile(String, f64),
}

impl AggFunc {
    /// The field the function reads, if any.
    pub fn field(&self) -> Option<&str> {
        match self {
            AggFunc::Count(f) => f.as_deref(),
            AggFunc::Dc(f)
            | AggFunc::Sum(f)
            | AggFunc::Avg(f)
            | AggFunc::Min(f)
            | AggFunc::Max(f)
            | AggFunc::Percentile(f, _) => Some(f),
        }
    }

    fn field_mut(&mut self) -> Option<&mut String> {
        match self {
            AggFunc::Count(f) => f.as_mut(),
            AggFunc::Dc(f)
            | AggFunc::Sum(f)
            | AggFunc::Avg(f)
            | AggFunc::Min(f)
            | AggFunc::Max(f)
            | AggFunc::Percentile(f, _) => Some(f),
        }
    }
}

impl fmt::Display for AggFunc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (name, field) = match self {
            AggFunc::Count(None) => return f.write_str("count()"),
            AggFunc::Count(Some(x)) => ("count", x),
            AggFunc::Dc(x) => ("dc", x),
            AggFunc::Sum(x) => ("sum", x),
            AggFunc::Avg(x) => ("avg", x),
            AggFunc::Min(x) => ("min", x),
            AggFunc::Max(x) => ("max", x),
            AggFunc::Percentile(x, p) => {
                return write!(f, "percentile({}, {p})", FieldName(x));
            }
        };
        write!(f, "{name}({})", FieldName(field))
    }
}

/// An aggregation with its output column name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Agg {
    /// The function.
    pub func: AggFunc,
    /// `as name`.
    pub alias: Option<String>,
}

impl Agg {
    /// The output column name: the alias, else `count` for `count()`, else the canonical text
    /// of the function (`dc(user.name)`).
    pub fn column_name(&self) -> String {
        match (&self.alias, &self.func) {
            (Some(a), _) => a.clone(),
            (None, AggFunc::Count(None)) => "count".to_owned(),
            (None, func) => func.to_string(),
        }
    }
}

/// A sort key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SortKey {
    /// Field or column name.
    pub field: String,
    /// Descending (`-f` or `f desc`).
    pub desc: bool,
}

/// A pipeline stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// `where EXPR`: keep events (or rows, after an aggregation) that match.
    Where(Expr),
    /// `fields f1, f2`: keep these columns, in this order.
    Fields(Vec<String>),
    /// `sort -f1, f2`: stable sort; absent values last.
    Sort(Vec<SortKey>),
    /// `head N` (also `limit N`): the first N.
    Head(u64),
    /// `stats aggs by f1, f2`; `count by f` is `stats count() by f`.
    Stats {
        /// One or more aggregations.
        aggs: Vec<Agg>,
        /// Group-by fields (may be empty).
        by: Vec<String>,
    },
    /// `timechart span=5m aggs by f`.
    Timechart {
        /// Bucket width in seconds; `None` lets the executor (or backend) choose.
        span_secs: Option<u64>,
        /// One or more aggregations.
        aggs: Vec<Agg>,
        /// Optional split-by field.
        by: Option<String>,
    },
    /// `top N f1, f2`: the N most frequent value combinations, with count and percent.
    Top {
        /// N (default 10).
        limit: u64,
        /// The fields.
        fields: Vec<String>,
    },
    /// `rare N f1, f2`: the N least frequent value combinations.
    Rare {
        /// N (default 10).
        limit: u64,
        /// The fields.
        fields: Vec<String>,
    },
    /// `lookup LIST [on f1, f2]`: the entry of an active list or context table whose key is
    /// the fields' values (default: the fields named like the list's key columns) is added to
    /// each event as `LIST.COLUMN` fields; events without an entry pass unchanged. Run by the
    /// search service, which reads the live lists (the executor refuses it).
    Lookup {
        /// List or table name.
        list: String,
        /// Fields giving the key values, in the key columns' order (empty: the key columns'
        /// names).
        on: Vec<String>,
    },
}

impl Stage {
    /// Whether this stage aggregates (stats, timechart, top, rare).
    pub fn is_aggregation(&self) -> bool {
        matches!(
            self,
            Stage::Stats { .. } | Stage::Timechart { .. } | Stage::Top { .. } | Stage::Rare { .. }
        )
    }

    /// Every field name the stage reads (not output aliases), in order of appearance.
    pub fn fields(&self) -> Vec<&str> {
        let mut out = Vec::new();
        match self {
            Stage::Where(e) => e.collect_fields(&mut out),
            Stage::Fields(fs) | Stage::Top { fields: fs, .. } | Stage::Rare { fields: fs, .. } => {
                out.extend(fs.iter().map(String::as_str));
            }
            Stage::Sort(keys) => out.extend(keys.iter().map(|k| k.field.as_str())),
            Stage::Head(_) => {}
            Stage::Lookup { on, .. } => out.extend(on.iter().map(String::as_str)),
            Stage::Stats { aggs, by } => {
                out.extend(by.iter().map(String::as_str));
                out.extend(aggs.iter().filter_map(|a| a.func.field()));
            }
            Stage::Timechart { aggs, by, .. } => {
                out.extend(by.iter().map(String::as_str));
                out.extend(aggs.iter().filter_map(|a| a.func.field()));
            }
        }
        out
    }

    fn for_each_field_mut(&mut self, f: &mut dyn FnMut(&mut String)) {
        match self {
            Stage::Where(e) => e.for_each_field_mut(f),
            Stage::Fields(fs) | Stage::Top { fields: fs, .. } | Stage::Rare { fields: fs, .. } => {
                fs.iter_mut().for_each(f);
            }
            Stage::Sort(keys) => keys.iter_mut().for_each(|k| f(&mut k.field)),
            Stage::Head(_) => {}
            Stage::Lookup { on, .. } => on.iter_mut().for_each(f),
            Stage::Stats { aggs, by } => {
                by.iter_mut().for_each(&mut *f);
                aggs.iter_mut()
                    .filter_map(|a| a.func.field_mut())
                    .for_each(f);
            }
            Stage::Timechart { aggs, by, .. } => {
                by.iter_mut().for_each(&mut *f);
                aggs.iter_mut()
                    .filter_map(|a| a.func.field_mut())
                    .for_each(f);
            }
        }
    }
}

impl Expr {
    /// Every field name the expression tests, in order of appearance (with repeats).
    pub fn fields(&self) -> Vec<&str> {
        let mut out = Vec::new();
        self.collect_fields(&mut out);
        out
    }

    fn collect_fields<'a>(&'a self, out: &mut Vec<&'a str>) {
        match self {
            Expr::MatchAll => {}
            Expr::And(xs) | Expr::Or(xs) => xs.iter().for_each(|x| x.collect_fields(out)),
            Expr::Not(x) => x.collect_fields(out),
            Expr::Term(t) => out.extend(t.field()),
        }
    }

    fn for_each_field_mut(&mut self, f: &mut dyn FnMut(&mut String)) {
        match self {
            Expr::MatchAll => {}
            Expr::And(xs) | Expr::Or(xs) => xs.iter_mut().for_each(|x| x.for_each_field_mut(f)),
            Expr::Not(x) => x.for_each_field_mut(f),
            Expr::Term(t) => {
                if let Some(field) = t.field_mut() {
                    f(field);
                }
            }
        }
    }

    /// Rename fields: `resolver` returns the canonical name, or `None` to keep the name.
    pub fn resolve_fields(&mut self, resolver: &dyn Fn(&str) -> Option<String>) {
        self.for_each_field_mut(&mut |name| {
            if let Some(n) = resolver(name) {
                *name = n;
            }
        });
    }
}

impl Query {
    /// Rename every field the query reads (filter and stages, not output aliases):
    /// `resolver` returns the canonical name (e.g. `SourceAddress` → `source.ip`), or `None` to
    /// keep the name. Prefer [`crate::parse_with`] with a [`crate::Schema`] when types matter.
    pub fn resolve_fields(&mut self, resolver: &dyn Fn(&str) -> Option<String>) {
        let mut rename = |name: &mut String| {
            if let Some(n) = resolver(name) {
                *name = n;
            }
        };
        self.filter.for_each_field_mut(&mut rename);
        for s in &mut self.stages {
            s.for_each_field_mut(&mut rename);
        }
    }

    /// Every distinct field name the query reads, filter first, in order of appearance. A store
    /// uses it to decide which columns to load.
    pub fn fields(&self) -> Vec<&str> {
        let mut all = self.filter.fields();
        for s in &self.stages {
            all.extend(s.fields());
        }
        let mut seen = std::collections::HashSet::new();
        all.retain(|f| seen.insert(*f));
        all
    }

    /// Whether any stage aggregates.
    pub fn is_aggregation(&self) -> bool {
        self.stages.iter().any(Stage::is_aggregation)
    }
}

// ---------------------------------------------------------------------------------------------
// Canonical text.

/// Words the parser treats as keywords in some position; such field names are backquoted.
const RESERVED: &[&str] = &[
    "and", "or", "not", "in", "to", "by", "as", "exists", "asc", "desc",
];

pub(crate) fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '@' | '-')
}

/// A field name, backquoted when it is not a plain identifier.
pub(crate) struct FieldName<'a>(pub &'a str);

impl fmt::Display for FieldName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0;
        let plain = !s.is_empty()
            && s.chars().all(is_ident_char)
            && !s.starts_with('-')
            && !RESERVED.iter().any(|r| s.eq_ignore_ascii_case(r));
        if plain {
            return f.write_str(s);
        }
        f.write_char('`')?;
        for c in s.chars() {
            if c == '`' || c == '\\' {
                f.write_char('\\')?;
            }
            f.write_char(c)?;
        }
        f.write_char('`')
    }
}

/// A string literal: bare when it would parse back as the same string, else quoted.
struct StrLit<'a>(&'a str);

impl fmt::Display for StrLit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0;
        let mut chars = s.chars();
        let bare = chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(is_ident_char)
            && !RESERVED.iter().any(|r| s.eq_ignore_ascii_case(r))
            && !s.eq_ignore_ascii_case("true")
            && !s.eq_ignore_ascii_case("false");
        if bare {
            f.write_str(s)
        } else {
            write_quoted(f, s)
        }
    }
}

fn write_quoted(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    f.write_char('"')?;
    for c in s.chars() {
        if c == '"' || c == '\\' {
            f.write_char('\\')?;
        }
        f.write_char(c)?;
    }
    f.write_char('"')
}

/// Characters a backslash escapes in unquoted values and words (any other backslash is a
/// literal backslash, so `C:\Windows\System32` needs no quoting).
pub(crate) fn is_escapable(c: char) -> bool {
    matches!(
        c,
        '\\' | '*'
            | '?'
            | '('
            | ')'
            | '"'
            | '|'
            | ','
            | '['
            | ']'
            | '{'
            | '}'
            | '/'
            | ':'
            | '='
            | '<'
            | '>'
            | '!'
            | '-'
            | '&'
            | '`'
            | ' '
    )
}

/// A glob pattern (escaped form) as an unquoted token.
struct GlobLit<'a>(&'a str);

impl fmt::Display for GlobLit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut chars = self.0.chars();
        while let Some(c) = chars.next() {
            if c == '\\' {
                // Already escaped in the pattern: `\*`, `\?`, `\\`.
                f.write_char('\\')?;
                if let Some(n) = chars.next() {
                    f.write_char(n)?;
                }
            } else if c != '*' && c != '?' && (is_escapable(c) || c.is_whitespace()) {
                f.write_char('\\')?;
                f.write_char(c)?;
            } else {
                f.write_char(c)?;
            }
        }
        Ok(())
    }
}

struct Lit<'a>(&'a Value);

impl fmt::Display for Lit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Value::Str(s) => StrLit(s).fmt(f),
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(x) => write!(f, "{x:?}"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Ip(ip) => write!(f, "{ip}"),
            Value::Time(t) => f.write_str(&format_time(*t)),
        }
    }
}

fn write_list<T>(
    f: &mut fmt::Formatter<'_>,
    items: &[T],
    mut each: impl FnMut(&mut fmt::Formatter<'_>, &T) -> fmt::Result,
) -> fmt::Result {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        each(f, item)?;
    }
    Ok(())
}

fn write_fields(f: &mut fmt::Formatter<'_>, fields: &[String]) -> fmt::Result {
    write_list(f, fields, |f, x| write!(f, "{}", FieldName(x)))
}

fn write_aggs(f: &mut fmt::Formatter<'_>, aggs: &[Agg]) -> fmt::Result {
    write_list(f, aggs, |f, a| {
        write!(f, "{}", a.func)?;
        match &a.alias {
            Some(alias) => write!(f, " as {}", FieldName(alias)),
            None => Ok(()),
        }
    })
}

fn write_span(f: &mut fmt::Formatter<'_>, secs: u64) -> fmt::Result {
    if secs.is_multiple_of(86_400) {
        write!(f, "{}d", secs / 86_400)
    } else if secs.is_multiple_of(3_600) {
        write!(f, "{}h", secs / 3_600)
    } else if secs.is_multiple_of(60) {
        write!(f, "{}m", secs / 60)
    } else {
        write!(f, "{secs}s")
    }
}

impl fmt::Display for Term {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Term::Eq {
                field,
                value,
                case_sensitive,
            } => {
                let op = if *case_sensitive { "==" } else { ":" };
                write!(f, "{}{op}{}", FieldName(field), Lit(value))
            }
            Term::Wildcard {
                field,
                pattern,
                case_sensitive,
            } => {
                let op = if *case_sensitive { "==" } else { ":" };
                write!(f, "{}{op}{}", FieldName(field), GlobLit(pattern))
            }
            Term::Regex { field, pattern } => {
                write!(f, "{}:/", FieldName(field))?;
                let mut chars = pattern.chars();
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => {
                            f.write_char('\\')?;
                            if let Some(n) = chars.next() {
                                f.write_char(n)?;
                            }
                        }
                        '/' => f.write_str("\\/")?,
                        c => f.write_char(c)?,
                    }
                }
                f.write_char('/')
            }
            Term::Compare { field, op, value } => {
                write!(f, "{}{}{}", FieldName(field), op.as_str(), Lit(value))
            }
            Term::Range {
                field,
                lower,
                upper,
            } => {
                write!(f, "{}:", FieldName(field))?;
                match lower {
                    Some(b) => write!(
                        f,
                        "{}{}",
                        if b.inclusive { '[' } else { '{' },
                        Lit(&b.value)
                    )?,
                    None => f.write_str("[*")?,
                }
                f.write_str(" TO ")?;
                match upper {
                    Some(b) => write!(
                        f,
                        "{}{}",
                        Lit(&b.value),
                        if b.inclusive { ']' } else { '}' }
                    ),
                    None => f.write_str("*]"),
                }
            }
            Term::In { field, values } => {
                write!(f, "{} in (", FieldName(field))?;
                write_list(f, values, |f, v| write!(f, "{}", Lit(v)))?;
                f.write_char(')')
            }
            Term::Cidr { field, net } => write!(f, "{}:{net}", FieldName(field)),
            Term::Exists { field } => write!(f, "exists({})", FieldName(field)),
            Term::Text(s) => StrLit(s).fmt(f),
            Term::TextWildcard(p) => GlobLit(p).fmt(f),
        }
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::MatchAll => f.write_char('*'),
            Expr::And(xs) => {
                for (i, x) in xs.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" AND ")?;
                    }
                    match x {
                        Expr::Or(_) | Expr::And(_) => write!(f, "({x})")?,
                        _ => write!(f, "{x}")?,
                    }
                }
                Ok(())
            }
            Expr::Or(xs) => {
                for (i, x) in xs.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" OR ")?;
                    }
                    match x {
                        Expr::Or(_) => write!(f, "({x})")?,
                        _ => write!(f, "{x}")?,
                    }
                }
                Ok(())
            }
            Expr::Not(x) => match **x {
                Expr::Or(_) | Expr::And(_) => write!(f, "NOT ({x})"),
                _ => write!(f, "NOT {x}"),
            },
            Expr::Term(t) => t.fmt(f),
        }
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stage::Where(e) => write!(f, "where {e}"),
            Stage::Fields(fs) => {
                f.write_str("fields ")?;
                write_fields(f, fs)
            }
            Stage::Sort(keys) => {
                f.write_str("sort ")?;
                write_list(f, keys, |f, k| {
                    write!(
                        f,
                        "{}{}",
                        if k.desc { "-" } else { "" },
                        FieldName(&k.field)
                    )
                })
            }
            Stage::Head(n) => write!(f, "head {n}"),
            Stage::Stats { aggs, by } => {
                f.write_str("stats ")?;
                write_aggs(f, aggs)?;
                if !by.is_empty() {
                    f.write_str(" by ")?;
                    write_fields(f, by)?;
                }
                Ok(())
            }
            Stage::Timechart {
                span_secs,
                aggs,
                by,
            } => {
                f.write_str("timechart ")?;
                if let Some(s) = span_secs {
                    f.write_str("span=")?;
                    write_span(f, *s)?;
                    f.write_char(' ')?;
                }
                write_aggs(f, aggs)?;
                if let Some(b) = by {
                    write!(f, " by {}", FieldName(b))?;
                }
                Ok(())
            }
            Stage::Top { limit, fields } => {
                write!(f, "top {limit} ")?;
                write_fields(f, fields)
            }
            Stage::Rare { limit, fields } => {
                write!(f, "rare {limit} ")?;
                write_fields(f, fields)
            }
            Stage::Lookup { list, on } => {
                write!(f, "lookup {list}")?;
                if !on.is_empty() {
                    f.write_str(" on ")?;
                    write_fields(f, on)?;
                }
                Ok(())
            }
        }
    }
}

impl fmt::Display for Query {
    /// The canonical query text; parsing it gives back the same plan.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.filter)?;
        for s in &self.stages {
            write!(f, " | {s}")?;
        }
        Ok(())
    }
}
