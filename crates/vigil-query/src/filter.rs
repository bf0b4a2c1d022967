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

/// Whether a byte belongs to a word (token) of the searched text: ASCII letters and digits,
/// and every byte of a non-ASCII character. Everything else (spaces, punctuation, `_`, `.`,
/// `:`, `/`, ...) separates words. Full-text terms match at word boundaries (see the crate
/// docs), and stores index words with the same definition, so a word of a query can be looked
/// up in a token index.
#[inline]
pub const fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b >= 0x80
}

/// The words that every text matched by a full-text term holds as whole words, ASCII only
/// (empty for other terms and for non-ASCII needles, whose Unicode case folding an
/// ASCII-lowercasing index cannot follow). A store with a per-block word index may skip a
/// block that lacks one of them. Words are returned as written (the caller lowercases).
pub fn whole_words(term: &Term) -> Vec<String> {
    fn runs(lit: &str, open_start: bool, open_end: bool, out: &mut Vec<String>) {
        let b = lit.as_bytes();
        let mut i = 0;
        while i < b.len() {
            if !is_token_byte(b[i]) {
                i += 1;
                continue;
            }
            let start = i;
            while i < b.len() && is_token_byte(b[i]) {
                i += 1;
            }
            if (start > 0 || !open_start) && (i < b.len() || !open_end) {
                out.push(lit[start..i].to_owned());
            }
        }
    }
    let mut out = Vec::new();
    match term {
        Term::Text(s) if s.is_ascii() => runs(s, false, false, &mut out),
        Term::TextWildcard(p) if p.is_ascii() => {
            // Literal runs between wildcards (escapes resolved as the matcher resolves them);
            // a run touching a wildcard is not whole.
            let parts = glob_parts(p);
            for (i, part) in parts.iter().enumerate() {
                if let GlobPart::Lit(l) = part {
                    runs(l, i > 0, i + 1 < parts.len(), &mut out);
                }
            }
        }
        _ => {}
    }
    out
}

/// The boundary a full-text match needs on one side, as a regex over bytes: the start or end
/// of the text, or one separator byte.
const SEP_CLASS: &str = r"(?-u:[^0-9A-Za-z\x80-\xFF])";

/// A case-insensitive full-text matcher over bytes: a literal found at word boundaries, or a
/// glob whose literal ends are at word boundaries.
#[derive(Debug)]
struct TextMatcher {
    find: TextFind,
    /// The match must not be preceded by a word byte.
    left: bool,
    /// The match must not be followed by a word byte.
    right: bool,
}

#[derive(Debug)]
enum TextFind {
    /// The needle has no cased characters: plain `memmem`.
    Bytes(Box<memmem::Finder<'static>>),
    /// ASCII needle with letters: Aho-Corasick with ASCII case folding.
    Ascii(AhoCorasick),
    /// Non-ASCII needle or glob: a Unicode case-insensitive regex over bytes, boundaries
    /// included in the pattern.
    Regex(regex::bytes::Regex),
    /// Empty needle, or only wildcards.
    Always,
}

impl TextMatcher {
    /// A bare word or phrase: the literal, with a word boundary on each side where the literal
    /// starts or ends with a word byte.
    fn literal(s: &str) -> Result<Self, QueryError> {
        let b = s.as_bytes();
        let left = b.first().is_some_and(|&c| is_token_byte(c));
        let right = b.last().is_some_and(|&c| is_token_byte(c));
        Self::bounded(s, left, right)
    }

    fn bounded(s: &str, left: bool, right: bool) -> Result<Self, QueryError> {
        if s.is_empty() {
            return Ok(Self::unbounded(TextFind::Always));
        }
        let cased = s.chars().any(|c| c.to_lowercase().ne(c.to_uppercase()));
        if !cased {
            let f = TextFind::Bytes(Box::new(memmem::Finder::new(s.as_bytes()).into_owned()));
            return Ok(TextMatcher {
                find: f,
                left,
                right,
            });
        }
        if s.is_ascii() {
            let ac = AhoCorasick::builder()
                .ascii_case_insensitive(true)
                .build([s])
                .map_err(|e| QueryError::Compile(e.to_string()))?;
            return Ok(TextMatcher {
                find: TextFind::Ascii(ac),
                left,
                right,
            });
        }
        let mut re = String::from("(?i)");
        if left {
            re.push_str(&format!(r"(?:\A|{SEP_CLASS})"));
        }
        re.push_str(&regex::escape(s));
        if right {
            re.push_str(&format!(r"(?:\z|{SEP_CLASS})"));
        }
        Self::bytes_regex(&re)
    }

    fn unbounded(find: TextFind) -> Self {
        TextMatcher {
            find,
            left: false,
            right: false,
        }
    }

    /// A bare word with wildcards: `*` any run, `?` one character. A literal end of the
    /// pattern is at a word boundary (`fail*` finds words starting with `fail`, `*fail*` any
    /// text containing `fail`).
    fn glob(pattern: &str) -> Result<Self, QueryError> {
        let parts = glob_parts(pattern);
        let edge = |p: Option<&GlobPart>, first: bool| match p {
            Some(GlobPart::Lit(l)) => {
                let b = l.as_bytes();
                let c = if first { b.first() } else { b.last() };
                c.is_some_and(|&c| is_token_byte(c))
            }
            _ => false,
        };
        let left = edge(parts.first(), true);
        let right = edge(parts.last(), false);
        match parts.as_slice() {
            [GlobPart::Lit(l)]
            | [GlobPart::Star, GlobPart::Lit(l)]
            | [GlobPart::Lit(l), GlobPart::Star]
            | [GlobPart::Star, GlobPart::Lit(l), GlobPart::Star] => {
                return Self::bounded(l, left, right);
            }
            _ => {}
        }
        if parts.iter().all(|p| matches!(p, GlobPart::Star)) {
            return Ok(Self::unbounded(TextFind::Always));
        }
        let mut re = String::from("(?is)");
        if left {
            re.push_str(&format!(r"(?:\A|{SEP_CLASS})"));
        }
        // Leading and trailing stars add nothing to an unanchored search.
        let inner: &[GlobPart] = {
            let mut p = parts.as_slice();
            while let [GlobPart::Star, rest @ ..] = p {
                p = rest;
            }
            while let [rest @ .., GlobPart::Star] = p {
                p = rest;
            }
            p
        };
        for p in inner {
            match p {
                GlobPart::Lit(l) => re.push_str(&regex::escape(l)),
                GlobPart::Star => re.push_str(".*"),
                GlobPart::One => re.push('.'),
            }
        }
        if right {
            re.push_str(&format!(r"(?:\z|{SEP_CLASS})"));
        }
        Self::bytes_regex(&re)
    }

    fn bytes_regex(re: &str) -> Result<Self, QueryError> {
        regex::bytes::RegexBuilder::new(re)
            .size_limit(REGEX_SIZE_LIMIT)
            .build()
            .map(|r| Self::unbounded(TextFind::Regex(r)))
            .map_err(|e| QueryError::Compile(format!("pattern too complex: {e}")))
    }

    fn is_match(&self, hay: &[u8]) -> bool {
        let mut from = 0;
        while from <= hay.len() {
            let found = match &self.find {
                TextFind::Always => return true,
                TextFind::Regex(re) => return re.is_match(hay),
                TextFind::Bytes(f) => f.find(&hay[from..]).map(|s| (from + s, f.needle().len())),
                TextFind::Ascii(ac) => ac
                    .find(aho_corasick::Input::new(hay).span(from..hay.len()))
                    .map(|m| (m.start(), m.len())),
            };
            let Some((start, len)) = found else {
                return false;
            };
            let end = start + len;
            let left_ok = !self.left || start == 0 || !is_token_byte(hay[start - 1]);
            let right_ok = !self.right || end == hay.len() || !is_token_byte(hay[end]);
            if left_ok && right_ok {
                return true;
            }
            from = start + 1;
        }
        false
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
            TextMatcher::literal("4625").unwrap().find,
            TextFind::Bytes(_)
        ));
        assert!(matches!(
            TextMatcher::literal("Failed").unwrap().find,
            TextFind::Ascii(_)
        ));
        assert!(matches!(
            TextMatcher::literal("Ошибка").unwrap().find,
            TextFind::Regex(_)
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

    fn text(q: &str, hay: &str) -> bool {
        let m = if q.contains(['*', '?']) {
            TextMatcher::glob(q)
        } else {
            TextMatcher::literal(q)
        };
        m.unwrap().is_match(hay.as_bytes())
    }

    #[test]
    fn whole_words_of_full_text_terms() {
        let t = |s: &str| Term::Text(s.into());
        let w = |s: &str| Term::TextWildcard(s.into());
        assert_eq!(whole_words(&t("10.0.0.1")), ["10", "0", "0", "1"]);
        assert_eq!(whole_words(&t("Failed password")), ["Failed", "password"]);
        assert_eq!(whole_words(&w("fail*")), Vec::<&str>::new());
        assert_eq!(whole_words(&w("*wp-login.php*")), ["login"]);
        assert_eq!(whole_words(&w("GET /admin/*.php")), ["GET", "admin", "php"]);
        assert_eq!(whole_words(&w("a?c d")), ["d"]);
        assert!(whole_words(&t("Ошибка")).is_empty());
    }

    #[test]
    fn full_text_matches_at_word_boundaries() {
        // An IP does not find a longer IP that contains it.
        assert!(text("10.0.0.1", "from 10.0.0.1 port 22"));
        assert!(text("10.0.0.1", "10.0.0.1"));
        assert!(!text("10.0.0.1", "from 10.0.0.15 port 22"));
        assert!(!text("10.0.0.1", "from 110.0.0.1 port 22"));
        assert!(text("10.0.0.1", "from 110.0.0.1 or 10.0.0.1:22"));
        // A word is a whole word; `_` and punctuation separate words.
        assert!(!text("fail", "Failed password"));
        assert!(text("failure", "pam: authentication_failure"));
        assert!(text("FAILED", "failed password"));
        assert!(!text("4625", "EventID 46250"));
        // Wildcards lift the boundary on their side.
        assert!(text("fail*", "Failed password"));
        assert!(!text("fail*", "nofail"));
        assert!(text("*fail", "nofail here"));
        assert!(text("*ail*", "Failed"));
        assert!(text("f*ed", "it FAILED now"));
        assert!(!text("f*ed", "it FAILEDX now"));
        assert!(text("f?il*", "Foiled"));
        // Phrases: boundaries at the phrase's ends only.
        assert!(text(
            "Failed password for",
            "sshd: Failed password for root"
        ));
        assert!(!text("password for", "passwordx password forx"));
        assert!(text(" root ", "for root from"));
        // A rejected occurrence does not hide a later, overlapping one.
        assert!(text("ab-ab", "xab-ab-ab"));
        // Non-ASCII: words of Unicode letters, case folded.
        assert!(text("Ошибка", "вход: ОШИБКА"));
        assert!(!text("Ошибка", "вход: ОШИБКАМИ"));
        assert!(text("ошибк*", "вход: ОШИБКАМИ"));
        // Empty and only-wildcard needles match everything.
        assert!(text("", "x"));
        assert!(text("*", ""));
    }
}
