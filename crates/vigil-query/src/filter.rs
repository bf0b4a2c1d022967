//! In-memory evaluation of an [`Expr`] against a [`Record`].
//!
//! Everything that can be prepared once is prepared in [`CompiledFilter::new`]: lowercased
//! needles, globs reduced to prefix/suffix/contains checks where possible (else a regex),
//! `memchr::memmem` / Aho-Corasick finders for full text, hash sets for `in` lists.
//!
//! Many terms cost one pass, not one pass each: bare words OR-ed (or AND-ed) together become
//! one set of words looked up once per word of the text ([`WordSet`]), phrases OR-ed together
//! one Aho-Corasick automaton ([`PhraseSet`]), and `field:value` terms OR-ed on the same field
//! one hash set (as `field in (...)`). The property tests in `tests/query/props.rs` check that
//! these forms decide exactly as the terms one by one.

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
    /// Any of several whole words occurs in the text.
    AnyWord(WordSet),
    /// Every one of several whole words occurs in the text.
    AllWords(WordSet),
    /// Any of several phrases occurs in the text at its word boundaries.
    AnyPhrase(PhraseSet),
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

    /// Why the record matches: the field values (and full-text words) of the positive terms
    /// that made it match, in the order the filter tests them; None when it does not match.
    /// Terms under a `NOT` decide but are not listed (nothing in the record shows them).
    pub fn explain(&self, r: &dyn Record) -> Option<Vec<FilterHit>> {
        let mut hits = Vec::new();
        explain(&self.root, r, &mut hits).then_some(hits)
    }
}

/// A field value, or a piece of the text, that made a filter match ([`CompiledFilter::explain`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterHit {
    /// The field; None for full-text terms (bare words and phrases, matched in the text).
    pub field: Option<String>,
    /// The value that passed the test (a field's value), or the word found in the text (empty
    /// when the text term is not a set of whole words).
    pub value: String,
}

/// [`eval`], recording the hits of the positive terms; `Or` stops at its first true branch,
/// `And` records the hits of every branch (dropped again when the `And` fails).
fn explain(n: &Node, r: &dyn Record, hits: &mut Vec<FilterHit>) -> bool {
    match n {
        Node::All => true,
        Node::And(xs) => {
            let mark = hits.len();
            let ok = xs.iter().all(|x| explain(x, r, hits));
            if !ok {
                hits.truncate(mark);
            }
            ok
        }
        Node::Or(xs) => xs.iter().any(|x| {
            let mark = hits.len();
            let ok = explain(x, r, hits);
            if !ok {
                hits.truncate(mark);
            }
            ok
        }),
        Node::Not(x) => !eval(x, r),
        Node::Any(field, test) => {
            let mut hit = None;
            r.values(field, &mut |v| {
                if hit.is_none() && test.test(v) {
                    hit = Some(v.to_string());
                }
            });
            match hit {
                Some(value) => {
                    hits.push(FilterHit {
                        field: Some(field.clone()),
                        value,
                    });
                    true
                }
                None => false,
            }
        }
        Node::NoneOf(field, _) => {
            let ok = eval(n, r);
            if ok {
                // the field's value is what was compared: show it
                let mut first = None;
                r.values(field, &mut |v| {
                    if first.is_none() && !matches!(v, ValueRef::Null) {
                        first = Some(v.to_string());
                    }
                });
                hits.push(FilterHit {
                    field: Some(field.clone()),
                    value: first.unwrap_or_default(),
                });
            }
            ok
        }
        Node::AnyWord(set) | Node::AllWords(set) => {
            let ok = eval(n, r);
            if ok {
                let mut found: Vec<usize> = Vec::new();
                r.text(&mut |bytes| {
                    set.each_found(bytes, &mut |i| {
                        if !found.contains(&i) {
                            found.push(i);
                        }
                        true
                    });
                });
                for i in found {
                    if let Some((w, _)) = set.words.iter().find(|(_, k)| **k == i) {
                        hits.push(FilterHit {
                            field: None,
                            value: String::from_utf8_lossy(w).into_owned(),
                        });
                    }
                }
            }
            ok
        }
        Node::Text(m) => {
            let ok = eval(n, r);
            if ok {
                hits.push(FilterHit {
                    field: None,
                    value: m.shown.to_string(),
                });
            }
            ok
        }
        Node::AnyPhrase(_) => {
            let ok = eval(n, r);
            if ok {
                hits.push(FilterHit {
                    field: None,
                    value: String::new(),
                });
            }
            ok
        }
    }
}

fn compile(e: &Expr) -> Result<Node, QueryError> {
    Ok(match e {
        Expr::MatchAll => Node::All,
        Expr::And(xs) => compile_and(xs)?,
        Expr::Or(xs) => compile_or(xs)?,
        Expr::Not(x) => Node::Not(Box::new(compile(x)?)),
        Expr::Term(t) => compile_term(t)?,
    })
}

/// A full-text literal that is one ASCII word (letters and digits only): it matches exactly
/// when a whole word of the text equals it, ASCII case-insensitively.
fn single_word(t: &Term) -> Option<&str> {
    match t {
        Term::Text(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric()) => Some(s),
        _ => None,
    }
}

/// A full-text ASCII literal that is not a single word (a phrase, or a word with separators).
fn ascii_phrase(t: &Term) -> Option<&str> {
    match t {
        Term::Text(s) if !s.is_empty() && s.is_ascii() && single_word(t).is_none() => Some(s),
        _ => None,
    }
}

fn compile_and(xs: &[Expr]) -> Result<Node, QueryError> {
    let words: Vec<&str> = xs
        .iter()
        .filter_map(|x| match x {
            Expr::Term(t) => single_word(t),
            _ => None,
        })
        .collect();
    if words.len() < 2 {
        return Ok(Node::And(xs.iter().map(compile).collect::<Result<_, _>>()?));
    }
    let mut out = vec![Node::AllWords(WordSet::new(&words))];
    for x in xs {
        if !matches!(x, Expr::Term(t) if single_word(t).is_some()) {
            out.push(compile(x)?);
        }
    }
    Ok(Node::And(out))
}

fn compile_or(xs: &[Expr]) -> Result<Node, QueryError> {
    let mut words = Vec::new();
    let mut phrases = Vec::new();
    // `field:value` (case-insensitive string equality) by field, in first-seen order.
    let mut eqs: Vec<(&str, Vec<&str>)> = Vec::new();
    let mut rest = Vec::new();
    for x in xs {
        let Expr::Term(t) = x else {
            rest.push(x);
            continue;
        };
        if let Some(w) = single_word(t) {
            words.push(w);
        } else if let Some(p) = ascii_phrase(t) {
            phrases.push(p);
        } else if let Term::Eq {
            field,
            value: Value::Str(v),
            case_sensitive: false,
        } = t
        {
            match eqs.iter_mut().find(|(f, _)| f == field) {
                Some((_, vs)) => vs.push(v),
                None => eqs.push((field, vec![v])),
            }
        } else {
            rest.push(x);
        }
    }
    let mut out = Vec::new();
    match words.as_slice() {
        [] => {}
        [w] => out.push(Node::Text(TextMatcher::literal(w)?)),
        ws => out.push(Node::AnyWord(WordSet::new(ws))),
    }
    match phrases.as_slice() {
        [] => {}
        [p] => out.push(Node::Text(TextMatcher::literal(p)?)),
        ps => out.push(Node::AnyPhrase(PhraseSet::new(ps)?)),
    }
    for (field, vs) in eqs {
        if let [v] = vs.as_slice() {
            out.push(Node::Any(
                field.to_owned(),
                Test::Str(StrMatcher::exact(v, true)),
            ));
        } else {
            let strs = vs.iter().map(|v| v.to_lowercase()).collect();
            out.push(Node::Any(
                field.to_owned(),
                Test::In {
                    strs,
                    others: Vec::new(),
                },
            ));
        }
    }
    for x in rest {
        out.push(compile(x)?);
    }
    Ok(Node::Or(out))
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
        Node::AnyWord(set) => {
            let mut hit = false;
            r.text(&mut |bytes| {
                if !hit {
                    set.each_found(bytes, &mut |_| {
                        hit = true;
                        false
                    });
                }
            });
            hit
        }
        Node::AllWords(set) => {
            let mut seen = vec![false; set.len()];
            let mut missing = set.len();
            r.text(&mut |bytes| {
                if missing > 0 {
                    set.each_found(bytes, &mut |i| {
                        if !seen[i] {
                            seen[i] = true;
                            missing -= 1;
                        }
                        missing > 0
                    });
                }
            });
            missing == 0
        }
        Node::AnyPhrase(set) => {
            let mut hit = false;
            r.text(&mut |bytes| {
                if !hit && set.is_match(bytes) {
                    hit = true;
                }
            });
            hit
        }
    }
}

/// Whole ASCII words (letters and digits), looked up by word: one pass over the text whatever
/// the number of words.
#[derive(Debug)]
struct WordSet {
    /// Lowercased word → its index (duplicates share one).
    words: std::collections::HashMap<Box<[u8]>, usize>,
    longest: usize,
}

impl WordSet {
    fn new(words: &[&str]) -> WordSet {
        let mut map = std::collections::HashMap::new();
        let mut longest = 0;
        for w in words {
            let n = map.len();
            map.entry(w.to_ascii_lowercase().into_bytes().into_boxed_slice())
                .or_insert(n);
            longest = longest.max(w.len());
        }
        WordSet {
            words: map,
            longest,
        }
    }

    /// Distinct words.
    fn len(&self) -> usize {
        self.words.len()
    }

    /// Calls `f` with the index of every word of the set found as a whole word of `text`, in
    /// text order, while `f` returns true.
    fn each_found(&self, text: &[u8], f: &mut dyn FnMut(usize) -> bool) {
        let mut buf = Vec::with_capacity(self.longest);
        let mut i = 0;
        while i < text.len() {
            if !is_token_byte(text[i]) {
                i += 1;
                continue;
            }
            let start = i;
            while i < text.len() && is_token_byte(text[i]) {
                i += 1;
            }
            let w = &text[start..i];
            if w.len() > self.longest || !w.is_ascii() {
                continue;
            }
            buf.clear();
            buf.extend(w.iter().map(u8::to_ascii_lowercase));
            if let Some(&k) = self.words.get(buf.as_slice())
                && !f(k)
            {
                return;
            }
        }
    }
}

/// Several ASCII phrases in one Aho-Corasick automaton (ASCII case-insensitive, overlapping
/// matches), each with the word boundaries [`TextMatcher::literal`] would require.
#[derive(Debug)]
struct PhraseSet {
    ac: AhoCorasick,
    /// Per pattern: (left boundary, right boundary).
    bounds: Vec<(bool, bool)>,
}

impl PhraseSet {
    fn new(phrases: &[&str]) -> Result<PhraseSet, QueryError> {
        let ac = ascii_ci_finder(phrases)?;
        let bounds = phrases
            .iter()
            .map(|p| {
                let b = p.as_bytes();
                (
                    b.first().is_some_and(|&c| is_token_byte(c)),
                    b.last().is_some_and(|&c| is_token_byte(c)),
                )
            })
            .collect();
        Ok(PhraseSet { ac, bounds })
    }

    fn is_match(&self, hay: &[u8]) -> bool {
        self.ac.find_overlapping_iter(hay).any(|m| {
            let (left, right) = self.bounds[m.pattern().as_usize()];
            let (start, end) = (m.start(), m.end());
            (!left || start == 0 || !is_token_byte(hay[start - 1]))
                && (!right || end == hay.len() || !is_token_byte(hay[end]))
        })
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
                other => m.is_match(&other.match_text()),
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
                        other => contains_folded(strs, &other.match_text()),
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
                other => re.is_match(&other.match_text()),
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

/// Total pattern bytes up to which [`ascii_ci_finder`] builds a DFA.
const DFA_MAX_PATTERN_BYTES: usize = 256;

/// An ASCII case-insensitive Aho-Corasick automaton (standard semantics) built in time linear
/// in the patterns' length. The crate's automatic choice builds a DFA for up to 100 patterns,
/// and DFA construction follows failure links for every state and byte class: quadratic for
/// a long repetitive pattern (a 64 KiB `xxx…` word took 22 s to compile). Long patterns get
/// a contiguous NFA, whose construction is linear and whose search is nearly as fast.
pub fn ascii_ci_finder<I, P>(patterns: I) -> Result<AhoCorasick, QueryError>
where
    I: IntoIterator<Item = P>,
    P: AsRef<[u8]>,
{
    let patterns: Vec<P> = patterns.into_iter().collect();
    let total: usize = patterns.iter().map(|p| p.as_ref().len()).sum();
    let mut b = AhoCorasick::builder();
    b.ascii_case_insensitive(true);
    if total > DFA_MAX_PATTERN_BYTES {
        b.kind(Some(aho_corasick::AhoCorasickKind::ContiguousNFA));
    }
    b.build(&patterns)
        .map_err(|e| QueryError::Compile(e.to_string()))
}

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
    /// The literal searched (bare words and phrases; empty for globs), for
    /// [`CompiledFilter::explain`].
    shown: Box<str>,
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
        let mut m = Self::bounded(s, left, right)?;
        m.shown = s.into();
        Ok(m)
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
                shown: Box::default(),
            });
        }
        if s.is_ascii() {
            let ac = ascii_ci_finder([s])?;
            return Ok(TextMatcher {
                find: TextFind::Ascii(ac),
                left,
                right,
                shown: Box::default(),
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
            shown: Box::default(),
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
    use proptest::prelude::*;

    /// The straightforward plan: every term on its own, in order.
    fn naive(e: &Expr) -> Node {
        match e {
            Expr::MatchAll => Node::All,
            Expr::And(xs) => Node::And(xs.iter().map(naive).collect()),
            Expr::Or(xs) => Node::Or(xs.iter().map(naive).collect()),
            Expr::Not(x) => Node::Not(Box::new(naive(x))),
            Expr::Term(t) => compile_term(t).unwrap(),
        }
    }

    struct Rec {
        user: Vec<String>,
        texts: Vec<Vec<u8>>,
    }

    impl Record for Rec {
        fn values(&self, field: &str, f: &mut dyn FnMut(ValueRef<'_>)) {
            if field == "user.name" {
                for u in &self.user {
                    f(ValueRef::Str(u));
                }
            }
        }
        fn text(&self, f: &mut dyn FnMut(&[u8])) {
            for t in &self.texts {
                f(t);
            }
        }
    }

    const WORDS: &[&str] = &["root", "Root", "admin", "a", "10", "fail", "ab", "é", "x_y"];

    fn text_term() -> impl Strategy<Value = Term> {
        prop_oneof![
            prop::sample::select(WORDS).prop_map(|w| Term::Text(w.to_owned())),
            "[a-cA-C0-9]{1,3}".prop_map(Term::Text),
            "[a-cA-C .:-]{1,5}".prop_map(Term::Text),
            "[a-c]{1,2}\\*".prop_map(Term::TextWildcard),
            prop::sample::select(WORDS).prop_map(|w| Term::Eq {
                field: "user.name".into(),
                value: Value::Str(w.to_owned()),
                case_sensitive: false,
            }),
            "[a-cA-CéÉ]{0,3}".prop_map(|w| Term::Eq {
                field: "user.name".into(),
                value: Value::Str(w),
                case_sensitive: false,
            }),
        ]
    }

    fn expr() -> impl Strategy<Value = Expr> {
        let leaf = text_term().prop_map(Expr::Term);
        leaf.prop_recursive(3, 40, 12, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 1..12).prop_map(Expr::Or),
                prop::collection::vec(inner.clone(), 1..12).prop_map(Expr::And),
                inner.prop_map(|x| Expr::Not(Box::new(x))),
            ]
        })
    }

    fn hay() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            "[a-cA-C0-9 .:_-]{0,24}".prop_map(String::into_bytes),
            prop::collection::vec(
                prop::sample::select(
                    &[
                        "root", "ROOT", "admin", "a", "ab", "10", "fail", "failed", " ", ".", "_",
                        "é", "É", "x_y", "-",
                    ][..]
                ),
                0..10
            )
            .prop_map(|ws| ws.concat().into_bytes()),
            prop::collection::vec(any::<u8>(), 0..16),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Word sets, phrase sets and merged `field:value` terms decide exactly as the terms
        /// one by one.
        #[test]
        fn grouped_terms_decide_as_terms_one_by_one(
            e in expr(),
            user in prop::collection::vec("[a-cA-CéÉ]{0,3}|root|ROOT|admin", 0..3),
            texts in prop::collection::vec(hay(), 0..3),
        ) {
            let r = Rec { user, texts };
            let fast = CompiledFilter::new(&e).unwrap();
            prop_assert_eq!(fast.matches(&r), eval(&naive(&e), &r), "{:?}", e);
        }
    }

    #[test]
    fn long_needles_get_a_linear_time_automaton() {
        use aho_corasick::AhoCorasickKind;
        assert_eq!(
            ascii_ci_finder(["Failed"]).unwrap().kind(),
            AhoCorasickKind::DFA
        );
        let long = "x".repeat(64 * 1024);
        let ac = ascii_ci_finder([long.as_str()]).unwrap();
        assert_eq!(ac.kind(), AhoCorasickKind::ContiguousNFA);
        assert!(ac.is_match(format!("a {} b", long.to_uppercase()).as_bytes()));
        let m = TextMatcher::literal(&long).unwrap();
        assert!(
            matches!(&m.find, TextFind::Ascii(ac) if ac.kind() == AhoCorasickKind::ContiguousNFA)
        );
        assert!(!m.is_match(format!("{long}x").as_bytes()));
        assert!(m.is_match(format!("({long})").as_bytes()));
    }

    #[test]
    fn many_terms_are_grouped() {
        let words: Vec<Expr> = (0..100)
            .map(|i| Expr::Term(Term::Text(format!("w{i}"))))
            .collect();
        let f = CompiledFilter::new(&Expr::Or(words.clone())).unwrap();
        assert!(matches!(&f.root, Node::Or(xs) if matches!(xs.as_slice(), [Node::AnyWord(_)])));
        let f = CompiledFilter::new(&Expr::And(words)).unwrap();
        assert!(matches!(&f.root, Node::And(xs) if matches!(xs.as_slice(), [Node::AllWords(_)])));
        let phrases: Vec<Expr> = (0..100)
            .map(|i| Expr::Term(Term::Text(format!("w {i}"))))
            .collect();
        let f = CompiledFilter::new(&Expr::Or(phrases)).unwrap();
        assert!(matches!(&f.root, Node::Or(xs) if matches!(xs.as_slice(), [Node::AnyPhrase(_)])));
        let eqs: Vec<Expr> = (0..100)
            .map(|i| {
                Expr::Term(Term::Eq {
                    field: "user.name".into(),
                    value: Value::Str(format!("u{i}")),
                    case_sensitive: false,
                })
            })
            .collect();
        let f = CompiledFilter::new(&Expr::Or(eqs)).unwrap();
        assert!(matches!(
            &f.root,
            Node::Or(xs) if matches!(xs.as_slice(), [Node::Any(_, Test::In { .. })])
        ));
    }

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

    #[test]
    fn explain_lists_the_positive_terms_that_decided() {
        let eq = |v: &str| {
            Expr::Term(Term::Eq {
                field: "user.name".into(),
                value: Value::Str(v.into()),
                case_sensitive: false,
            })
        };
        let word = |w: &str| Expr::Term(Term::Text(w.into()));
        let rec = Rec {
            user: vec!["bob".into(), "root".into()],
            texts: vec![b"Failed password for root".to_vec()],
        };
        let hit = |f: Option<&str>, v: &str| FilterHit {
            field: f.map(str::to_owned),
            value: v.to_owned(),
        };
        // AND of a field test and a word: both listed
        let f = CompiledFilter::new(&Expr::And(vec![eq("root"), word("failed")])).unwrap();
        assert_eq!(
            f.explain(&rec),
            Some(vec![hit(Some("user.name"), "root"), hit(None, "failed")])
        );
        // OR: only the branch that matched; a failed AND branch leaves nothing behind
        let f = CompiledFilter::new(&Expr::Or(vec![
            Expr::And(vec![eq("bob"), word("accepted")]),
            eq("root"),
        ]))
        .unwrap();
        assert_eq!(f.explain(&rec), Some(vec![hit(Some("user.name"), "root")]));
        // NOT decides without being listed; no match gives None
        let f = CompiledFilter::new(&Expr::And(vec![
            eq("bob"),
            Expr::Not(Box::new(word("accepted"))),
        ]))
        .unwrap();
        assert_eq!(f.explain(&rec), Some(vec![hit(Some("user.name"), "bob")]));
        let f = CompiledFilter::new(&eq("alice")).unwrap();
        assert_eq!(f.explain(&rec), None);
        assert!(!f.matches(&rec));
    }
}
