//! In-memory evaluation of an [`Expr`] against a [`Record`].
//!
//! Everything that can be prepared once is prepared in [`CompiledFilter::new`]: lowercased
//! needles, globs reduced to prefix/suffix/contains checks where possible (else a regex),
//! `memchr::memmem` / Aho-Corasick finders for full text, hash sets for `in` lists.

use std::cmp::Ordering;
use std::collections::HashSet;

use aho_corasick::AhoCorasick;
use memchr::memmem;

use crate::ast::{Bound, CmpOp, Expr, Term};
use crate::error::QueryError;
use crate::parse::{REGEX_SIZE_LIMIT, check_regex};
use crate::value::{Value, ValueRef, compare};

/// An event as seen by the matcher and the executor. The caller implements it over its own
/// event type, so this crate knows no schema and no storage format.
pub trait Record {
    /// Visit each value of `field` (multi-valued fields visit several). Return without calling
    /// `f` if the field is absent.
    fn values(&self, field: &str, f: &mut dyn FnMut(ValueRef<'_>));
    /// The text searched by bare words and phrases: typically the raw line and the message.
    fn text(&self, f: &mut dyn FnMut(&[u8]));
}

/// A filter compiled for repeated in-memory evaluation.
#[derive(Debug)]
pub struct CompiledFilter {
    root: Node,
}

#[derive(Debug)]
enum Node {
    All,
    And(Vec<Node>),
    Or(Vec<Node>),
    Not(Box<Node>),
    /// Any value of the field passes the test.
    Any(String, Test),
    /// The field is present and no value passes the test (`!=`).
    NoneOf(String, Test),
    Text(TextMatcher),
}

#[derive(Debug)]
enum Test {
    Exists,
    Str(StrMatcher),
    Eq(Value),
    Cmp(CmpOp, Value),
    Range(Option<Bound>, Option<Bound>),
    In {
        strs: HashSet<String>,
        others: Vec<Value>,
    },
    Cidr(ipnet::IpNet),
    Regex(regex::Regex),
}

impl CompiledFilter {
    /// Compile an expression. Fails only for plans not produced by the parser (an invalid or
    /// oversized regex).
    pub fn new(expr: &Expr) -> Result<Self, QueryError> {
        Ok(Self {
            root: compile(expr)?,
        })
    }

    /// Whether the record matches.
    pub fn matches(&self, r: &dyn Record) -> bool {
        eval(&self.root, r)
    }

    /// Whether the filter matches everything (lets a store skip evaluation).
    pub fn is_match_all(&self) -> bool {
        matches!(self.root, Node::All)
    }
}

fn compile(e: &Expr) -> Result<Node, QueryError> {
    Ok(match e {
        Expr::MatchAll => Node::All,
        Expr::And(xs) => Node::And(xs.iter().map(compile).collect::<Result<_, _>>()?),
        Expr::Or(xs) => Node::Or(xs.iter().map(compile).collect::<Result<_, _>>()?),
        Expr::Not(x) => Node::Not(Box::new(compile(x)?)),
        Expr::Term(t) => compile_term(t)?,
    })
}

fn compile_term(t: &Term) -> Result<Node, QueryError> {
    let any = |field: &String, test| Node::Any(field.clone(), test);
    Ok(match t {
        Term::Eq {
            field,
            value: Value::Str(s),
            case_sensitive,
        } => any(field, Test::Str(StrMatcher::exact(s, !case_sensitive))),
        Term::Eq { field, value, .. } => any(field, Test::Eq(value.clone())),
        Term::Wildcard {
            field,
            pattern,
            case_sensitive,
        } => any(
            field,
            Test::Str(StrMatcher::glob(pattern, !case_sensitive)?),
        ),
        Term::Regex { field, pattern } => any(
            field,
            Test::Regex(check_regex(pattern).map_err(QueryError::Compile)?),
        ),
        Term::Compare {
            field,
            op: CmpOp::Ne,
            value,
        } => {
            let test = match value {
                Value::Str(s) => Test::Str(StrMatcher::exact(s, true)),
                v => Test::Eq(v.clone()),
            };
            Node::NoneOf(field.clone(), test)
        }
        Term::Compare { field, op, value } => any(field, Test::Cmp(*op, value.clone())),
        Term::Range {
            field,
            lower,
            upper,
        } => any(field, Test::Range(lower.clone(), upper.clone())),
        Term::In { field, values } => {
            let mut strs = HashSet::new();
            let mut others = Vec::new();
            for v in values {
                match v {
                    Value::Str(s) => {
                        strs.insert(s.to_lowercase());
                    }
                    v => others.push(v.clone()),
                }
            }
            any(field, Test::In { strs, others })
        }
        Term::Cidr { field, net } => any(field, Test::Cidr(*net)),
        Term::Exists { field } => any(field, Test::Exists),
        Term::Text(s) => Node::Text(TextMatcher::literal(s)?),
        Term::TextWildcard(p) => Node::Text(TextMatcher::glob(p)?),
    })
}

fn eval(n: &Node, r: &dyn Record) -> bool {
    match n {
        Node::All => true,
        Node::And(xs) => xs.iter().all(|x| eval(x, r)),
        Node::Or(xs) => xs.iter().any(|x| eval(x, r)),
        Node::Not(x) => !eval(x, r),
        Node::Any(field, test) => {
            let mut hit = false;
            r.values(field, &mut |v| {
                if !hit && test.test(v) {
                    hit = true;
                }
            });
            hit
        }
        Node::NoneOf(field, test) => {
            let (mut present, mut hit) = (false, false);
            r.values(field, &mut |v| {
                if !matches!(v, ValueRef::Null) {
                    present = true;
                    if !hit && test.test(v) {
                        hit = true;
                    }
                }
            });
            present && !hit
        }
        Node::Text(m) => {
            let mut hit = false;
            r.text(&mut |bytes| {
                if !hit && m.is_match(bytes) {
                    hit = true;
                }
            });
            hit
        }
    }
}

impl Test {
    fn test(&self, v: ValueRef<'_>) -> bool {
        if matches!(v, ValueRef::Null) {
            return false;
        }
        match self {
            Test::Exists => true,
            Test::Str(m) => match v {
                ValueRef::Str(s) => m.is_match(s),
                other => m.is_match(&other.to_string()),
            },
            Test::Eq(q) => compare(v, q) == Some(Ordering::Equal),
            Test::Cmp(op, q) => match compare(v, q) {
                None => false,
                Some(o) => match op {
                    CmpOp::Ne => o != Ordering::Equal,
                    CmpOp::Gt => o == Ordering::Greater,
                    CmpOp::Ge => o != Ordering::Less,
                    CmpOp::Lt => o == Ordering::Less,
                    CmpOp::Le => o != Ordering::Greater,
                },
            },
            Test::Range(lo, hi) => {
                let ok = |b: &Option<Bound>, want: Ordering| match b {
                    None => true,
                    Some(b) => match compare(v, &b.value) {
                        None => false,
                        Some(Ordering::Equal) => b.inclusive,
                        Some(o) => o == want,
                    },
                };
                ok(lo, Ordering::Greater) && ok(hi, Ordering::Less)
            }
            Test::In { strs, others } => {
                if !strs.is_empty() {
                    let hit = match v {
                        ValueRef::Str(s) => contains_folded(strs, s),
                        other => contains_folded(strs, &other.to_string()),
                    };
                    if hit {
                        return true;
                    }
                }
                others
                    .iter()
                    .any(|q| compare(v, q) == Some(Ordering::Equal))
            }
            Test::Cidr(net) => match v {
                ValueRef::Ip(ip) => net.contains(&ip),
                ValueRef::Str(s) => s
                    .trim()
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| net.contains(&ip)),
                _ => false,
            },
            Test::Regex(re) => match v {
                ValueRef::Str(s) => re.is_match(s),
                other => re.is_match(&other.to_string()),
            },
        }
    }
}

fn contains_folded(set: &HashSet<String>, s: &str) -> bool {
    if !s.bytes().any(|b| b.is_ascii_uppercase() || b >= 0x80) {
        set.contains(s)
    } else {
        set.contains(&s.to_lowercase())
    }
}

// ---------------------------------------------------------------------------------------------
// String matching.

/// A whole-value string matcher: exact, or a glob reduced to its cheapest form.
#[derive(Debug)]
enum StrMatcher {
    /// `needle` is lowercased when `fold`.
    Exact {
        needle: String,
        fold: bool,
    },
    Prefix {
        needle: String,
        fold: bool,
    },
    Suffix {
        needle: String,
        fold: bool,
    },
    Contains {
        needle: String,
        fold: bool,
    },
    Any,
    Regex(regex::Regex),
}

/// A glob split into literal runs and wildcards.
enum GlobPart {
    Lit(String),
    Star,
    One,
}

fn glob_parts(pattern: &str) -> Vec<GlobPart> {
    let mut parts = Vec::new();
    let mut lit = String::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => lit.push(chars.next().unwrap_or('\\')),
            '*' | '?' => {
                if !lit.is_empty() {
                    parts.push(GlobPart::Lit(std::mem::take(&mut lit)));
                }
                if c == '*' {
                    if !matches!(parts.last(), Some(GlobPart::Star)) {
                        parts.push(GlobPart::Star);
                    }
                } else {
                    parts.push(GlobPart::One);
                }
            }
            c => lit.push(c),
        }
    }
    if !lit.is_empty() {
        parts.push(GlobPart::Lit(lit));
    }
    parts
}

fn glob_regex(parts: &[GlobPart], fold: bool, anchored: bool) -> String {
    let mut re = String::from(if fold { "(?is)" } else { "(?s)" });
    if anchored {
        re.push_str(r"\A");
    }
    for p in parts {
        match p {
            GlobPart::Lit(l) => re.push_str(&regex::escape(l)),
            GlobPart::Star => re.push_str(".*"),
            GlobPart::One => re.push('.'),
        }
    }
    if anchored {
        re.push_str(r"\z");
    }
    re
}

fn build_regex(re: &str) -> Result<regex::Regex, QueryError> {
    regex::RegexBuilder::new(re)
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|e| QueryError::Compile(format!("pattern too complex: {e}")))
}

impl StrMatcher {
    fn exact(s: &str, fold: bool) -> Self {
        StrMatcher::Exact {
            needle: if fold { s.to_lowercase() } else { s.to_owned() },
            fold,
        }
    }

    fn glob(pattern: &str, fold: bool) -> Result<Self, QueryError> {
        let parts = glob_parts(pattern);
        let low = |s: &String| if fold { s.to_lowercase() } else { s.clone() };
        Ok(match parts.as_slice() {
            [] => StrMatcher::exact("", fold),
            [GlobPart::Star] => StrMatcher::Any,
            [GlobPart::Lit(l)] => StrMatcher::Exact {
                needle: low(l),
                fold,
            },
            [GlobPart::Lit(l), GlobPart::Star] => StrMatcher::Prefix {
                needle: low(l),
                fold,
            },
            [GlobPart::Star, GlobPart::Lit(l)] => StrMatcher::Suffix {
                needle: low(l),
                fold,
            },
            [GlobPart::Star, GlobPart::Lit(l), GlobPart::Star] => StrMatcher::Contains {
                needle: low(l),
                fold,
            },
            parts => StrMatcher::Regex(build_regex(&glob_regex(parts, fold, true))?),
        })
    }

    fn is_match(&self, s: &str) -> bool {
        match self {
            StrMatcher::Any => true,
            StrMatcher::Regex(re) => re.is_match(s),
            StrMatcher::Exact { needle, fold } => {
                if !fold {
                    return s == needle;
                }
                if needle.is_ascii() && s.is_ascii() {
                    return s.eq_ignore_ascii_case(needle);
                }
                s.to_lowercase() == *needle
            }
            StrMatcher::Prefix { needle, fold } => {
                if !fold {
                    return s.starts_with(needle.as_str());
                }
                if needle.is_ascii() && s.is_ascii() {
                    return s.len() >= needle.len()
                        && s.as_bytes()[..needle.len()].eq_ignore_ascii_case(needle.as_bytes());
                }
                s.to_lowercase().starts_with(needle.as_str())
            }
            StrMatcher::Suffix { needle, fold } => {
                if !fold {
                    return s.ends_with(needle.as_str());
                }
                if needle.is_ascii() && s.is_ascii() {
                    return s.len() >= needle.len()
                        && s.as_bytes()[s.len() - needle.len()..]
                            .eq_ignore_ascii_case(needle.as_bytes());
                }
                s.to_lowercase().ends_with(needle.as_str())
            }
            StrMatcher::Contains { needle, fold } => {
                if !fold {
                    return memmem::find(s.as_bytes(), needle.as_bytes()).is_some();
                }
                if needle.is_ascii() && s.is_ascii() {
                    return s
                        .as_bytes()
                        .windows(needle.len().max(1))
                        .any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
                        || needle.is_empty();
                }
                s.to_lowercase().contains(needle.as_str())
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Full text.

/// A case-insensitive substring (or unanchored glob) matcher over bytes.
#[derive(Debug)]
enum TextMatcher {
    /// The needle has no cased characters: plain `memmem`.
    Bytes(Box<memmem::Finder<'static>>),
    /// ASCII needle with letters: Aho-Corasick with ASCII case folding.
    Ascii(AhoCorasick),
    /// Non-ASCII needle or glob: a Unicode case-insensitive regex over bytes.
    Regex(regex::bytes::Regex),
    /// Empty needle.
    Always,
}

impl TextMatcher {
    fn literal(s: &str) -> Result<Self, QueryError> {
        if s.is_empty() {
            return Ok(TextMatcher::Always);
        }
        let cased = s.chars().any(|c| c.to_lowercase().ne(c.to_uppercase()));
        if !cased {
            return Ok(TextMatcher::Bytes(Box::new(
                memmem::Finder::new(s.as_bytes()).into_owned(),
            )));
        }
        if s.is_ascii() {
            return AhoCorasick::builder()
                .ascii_case_insensitive(true)
                .build([s])
                .map(TextMatcher::Ascii)
                .map_err(|e| QueryError::Compile(e.to_string()));
        }
        Self::bytes_regex(&format!("(?i){}", regex::escape(s)))
    }

    fn glob(pattern: &str) -> Result<Self, QueryError> {
        let parts = glob_parts(pattern);
        if let [GlobPart::Lit(l)]
        | [GlobPart::Star, GlobPart::Lit(l)]
        | [GlobPart::Lit(l), GlobPart::Star]
        | [GlobPart::Star, GlobPart::Lit(l), GlobPart::Star] = parts.as_slice()
        {
            return Self::literal(l);
        }
        if parts.iter().all(|p| matches!(p, GlobPart::Star)) {
            return Ok(TextMatcher::Always);
        }
        Self::bytes_regex(&glob_regex(&parts, true, false))
    }

    fn bytes_regex(re: &str) -> Result<Self, QueryError> {
        regex::bytes::RegexBuilder::new(re)
            .size_limit(REGEX_SIZE_LIMIT)
            .build()
            .map(TextMatcher::Regex)
            .map_err(|e| QueryError::Compile(format!("pattern too complex: {e}")))
    }

    fn is_match(&self, hay: &[u8]) -> bool {
        match self {
            TextMatcher::Always => true,
            TextMatcher::Bytes(f) => f.find(hay).is_some(),
            TextMatcher::Ascii(ac) => ac.is_match(hay),
            TextMatcher::Regex(re) => re.is_match(hay),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_reduction() {
        assert!(matches!(
            StrMatcher::glob("adm*", true).unwrap(),
            StrMatcher::Prefix { .. }
        ));
        assert!(matches!(
            StrMatcher::glob("*.exe", true).unwrap(),
            StrMatcher::Suffix { .. }
        ));
        assert!(matches!(
            StrMatcher::glob("*cmd*", true).unwrap(),
            StrMatcher::Contains { .. }
        ));
        assert!(matches!(
            StrMatcher::glob("a?c", true).unwrap(),
            StrMatcher::Regex(_)
        ));
        assert!(matches!(
            StrMatcher::glob(r"a\*", true).unwrap(),
            StrMatcher::Exact { .. }
        ));
        let m = StrMatcher::glob("a*b?d", true).unwrap();
        assert!(m.is_match("AxxBcD"));
        assert!(!m.is_match("AxxBD"));
        let m = StrMatcher::glob("*ÄB*", true).unwrap();
        assert!(m.is_match("xäbx"));
    }

    #[test]
    fn text_matcher_kinds() {
        assert!(matches!(
            TextMatcher::literal("4625").unwrap(),
            TextMatcher::Bytes(_)
        ));
        assert!(matches!(
            TextMatcher::literal("Failed").unwrap(),
            TextMatcher::Ascii(_)
        ));
        assert!(matches!(
            TextMatcher::literal("Ошибка").unwrap(),
            TextMatcher::Regex(_)
        ));
        assert!(
            TextMatcher::literal("Ошибка")
                .unwrap()
                .is_match("вход: ОШИБКА".as_bytes())
        );
        assert!(
            TextMatcher::literal("failed")
                .unwrap()
                .is_match(b"FAILED password")
        );
    }
}
