//! Sigma values and modifiers: parsing of wildcard strings, the modifier pipeline, and the
//! compiled [`Matcher`] that tests one event value.
//!
//! A rule value goes through three stages:
//! 1. parsed into a [`SStr`] (literal bytes and the wildcards `*` / `?`, with `\` escapes as
//!    pySigma reads them: `\*`, `\?` and `\\` are literals, any other `\` stays a backslash);
//! 2. transformed, left to right, by the value modifiers (`contains`, `base64offset`, `wide`,
//!    `windash`, `expand`, ...), each mapping one value to one or more values;
//! 3. compiled into a [`Matcher`] (exact / prefix / suffix / substring / glob / regex / CIDR /
//!    numeric comparison / null / exists / field reference).

use std::borrow::Cow;
use std::collections::HashMap;
use std::net::IpAddr;

use ipnet::IpNet;
use memchr::memmem;
use regex::{Regex, RegexBuilder};

use crate::event::{FieldValue, SigmaEvent};

/// Limits applied while compiling values (see [`crate::LoadOptions`]).
#[derive(Debug, Clone)]
pub(crate) struct ValueLimits {
    pub regex_size_limit: usize,
    pub max_values: usize,
}

/// One piece of a Sigma string.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Part {
    Lit(Vec<u8>),
    Star,
    One,
}

/// Maps one literal to its alternatives (each a sequence of parts).
type LitExpander<'a> = dyn Fn(&[u8]) -> Result<Vec<Vec<Part>>, String> + 'a;

/// A Sigma string: literals and wildcards.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct SStr(pub Vec<Part>);

impl SStr {
    /// Parse a rule string with wildcards and escapes.
    pub fn parse(s: &str) -> SStr {
        let mut parts = Vec::new();
        let mut lit = Vec::new();
        let mut chars = s.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.peek() {
                    Some(&n @ ('*' | '?' | '\\')) => {
                        chars.next();
                        push_char(&mut lit, n);
                    }
                    _ => lit.push(b'\\'),
                },
                '*' | '?' => {
                    if !lit.is_empty() {
                        parts.push(Part::Lit(std::mem::take(&mut lit)));
                    }
                    parts.push(if c == '*' { Part::Star } else { Part::One });
                }
                c => push_char(&mut lit, c),
            }
        }
        if !lit.is_empty() {
            parts.push(Part::Lit(lit));
        }
        SStr(parts)
    }

    /// A plain literal (no wildcard interpretation).
    pub fn lit(s: &str) -> SStr {
        if s.is_empty() {
            SStr(Vec::new())
        } else {
            SStr(vec![Part::Lit(s.as_bytes().to_vec())])
        }
    }

    fn has_wildcards(&self) -> bool {
        self.0.iter().any(|p| !matches!(p, Part::Lit(_)))
    }

    /// Concatenated literal bytes (used when there are no wildcards).
    fn bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for p in &self.0 {
            if let Part::Lit(b) = p {
                out.extend_from_slice(b)
            }
        }
        out
    }

    fn normalized(mut self) -> SStr {
        let mut out: Vec<Part> = Vec::with_capacity(self.0.len());
        for p in self.0.drain(..) {
            match (out.last_mut(), p) {
                (Some(Part::Star), Part::Star) => {}
                (Some(Part::Lit(a)), Part::Lit(b)) => a.extend_from_slice(&b),
                (_, Part::Lit(b)) if b.is_empty() => {}
                (_, p) => out.push(p),
            }
        }
        SStr(out)
    }

    /// Map every literal piece through `f`, which may return several alternatives; the result
    /// is the cartesian product (capped by `max`).
    fn expand_lits(&self, max: usize, f: &LitExpander<'_>) -> Result<Vec<SStr>, String> {
        let mut acc: Vec<Vec<Part>> = vec![Vec::new()];
        for p in &self.0 {
            match p {
                Part::Lit(b) => {
                    let alts = f(b)?;
                    if acc.len() * alts.len() > max {
                        return Err(format!("value expands to more than {max} alternatives"));
                    }
                    let mut next = Vec::with_capacity(acc.len() * alts.len());
                    for a in &acc {
                        for alt in &alts {
                            let mut v = a.clone();
                            v.extend(alt.iter().cloned());
                            next.push(v);
                        }
                    }
                    acc = next;
                }
                other => acc.iter_mut().for_each(|a| a.push(other.clone())),
            }
        }
        Ok(acc.into_iter().map(|v| SStr(v).normalized()).collect())
    }
}

fn push_char(buf: &mut Vec<u8>, c: char) {
    let mut tmp = [0u8; 4];
    buf.extend_from_slice(c.encode_utf8(&mut tmp).as_bytes());
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding.
pub(crate) fn base64_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        out.push(B64[(n >> 18) as usize & 63] as char);
        out.push(B64[(n >> 12) as usize & 63] as char);
        out.push(if chunk.len() > 1 {
            B64[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        out.push(if chunk.len() > 2 {
            B64[n as usize & 63] as char
        } else {
            '='
        });
    }
    out
}

/// The three base64 encodings of `val` at byte offsets 0, 1, 2 with the unstable edges cut,
/// exactly as pySigma's `base64offset`.
pub(crate) fn base64_offsets(val: &[u8]) -> Vec<String> {
    let starts = [0usize, 2, 3];
    let ends: [usize; 3] = [0, 3, 2];
    (0..3)
        .map(|i| {
            let mut data = vec![b' '; i];
            data.extend_from_slice(val);
            let enc = base64_encode(&data);
            let end_cut = ends[(val.len() + i) % 3];
            let end = enc.len().saturating_sub(end_cut);
            enc.get(starts[i]..end).unwrap_or("").to_string()
        })
        .collect()
}

fn utf16(b: &[u8], le: bool) -> Vec<u8> {
    let s = String::from_utf8_lossy(b);
    let mut out = Vec::with_capacity(s.len() * 2);
    for u in s.encode_utf16() {
        let bytes = if le { u.to_le_bytes() } else { u.to_be_bytes() };
        out.extend_from_slice(&bytes);
    }
    out
}

const WINDASH: [&str; 5] = ["-", "/", "\u{2013}", "\u{2014}", "\u{2015}"];

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// pySigma's `windash`: every `-` or `/` that starts a word (regex `\B[-/]\b`) becomes each of
/// `-`, `/`, en dash, em dash, horizontal bar.
fn windash(b: &[u8]) -> Result<Vec<Vec<Part>>, String> {
    let s = String::from_utf8_lossy(b);
    let chars: Vec<char> = s.chars().collect();
    let mut pieces: Vec<Vec<String>> = vec![vec![String::new()]];
    for (i, &c) in chars.iter().enumerate() {
        let prev_word = i > 0 && is_word(chars[i - 1]);
        let next_word = chars.get(i + 1).is_some_and(|&n| is_word(n));
        if (c == '-' || c == '/') && !prev_word && next_word {
            pieces.push(WINDASH.iter().map(|d| d.to_string()).collect());
            pieces.push(vec![String::new()]);
        } else if let Some(last) = pieces.last_mut().and_then(|p| p.first_mut()) {
            last.push(c);
        }
    }
    let mut acc = vec![String::new()];
    for alts in pieces {
        acc = acc
            .iter()
            .flat_map(|a| alts.iter().map(move |x| format!("{a}{x}")))
            .collect();
        if acc.len() > 4096 {
            return Err("windash expands to more than 4096 alternatives".into());
        }
    }
    Ok(acc
        .into_iter()
        .map(|s| vec![Part::Lit(s.into_bytes())])
        .collect())
}

/// Replace `%name%` placeholders in a literal with each configured value.
fn expand_placeholders(
    b: &[u8],
    placeholders: &HashMap<String, Vec<String>>,
    missing: &mut Vec<String>,
) -> Vec<Vec<Part>> {
    let s = String::from_utf8_lossy(b);
    let mut acc: Vec<Vec<Part>> = vec![Vec::new()];
    let mut rest: &str = &s;
    while let Some(start) = rest.find('%') {
        let Some(len) = rest[start + 1..].find('%') else {
            break;
        };
        let name = &rest[start + 1..start + 1 + len];
        let before = &rest[..start];
        acc.iter_mut()
            .for_each(|a| a.push(Part::Lit(before.as_bytes().to_vec())));
        match placeholders.get(name) {
            Some(vals) if !vals.is_empty() => {
                let mut next = Vec::new();
                for a in &acc {
                    for v in vals {
                        let mut x = a.clone();
                        x.extend(SStr::parse(v).0);
                        next.push(x);
                    }
                }
                acc = next;
            }
            _ => {
                missing.push(name.to_string());
                // Unresolved: keep the placeholder literally; the value is marked as never
                // matching by the caller.
                acc.iter_mut()
                    .for_each(|a| a.push(Part::Lit(format!("%{name}%").into_bytes())));
            }
        }
        rest = &rest[start + len + 2..];
    }
    acc.iter_mut()
        .for_each(|a| a.push(Part::Lit(rest.as_bytes().to_vec())));
    acc
}

/// Numeric comparison operator.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum CmpOp {
    Lt,
    Lte,
    Gt,
    Gte,
}

/// How a string pattern compares.
#[derive(Debug, Clone)]
pub(crate) enum StrPat {
    Exact(Box<str>),
    Prefix(Box<str>),
    Suffix(Box<str>),
    Contains(Box<memmem::Finder<'static>>),
    /// Any string at all (`*`).
    Any,
    /// Wildcards in the middle: compiled to an anchored regex over the prepared value.
    Glob(Regex),
}

/// Field reference comparison mode.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum RefMode {
    Exact,
    Prefix,
    Suffix,
    Contains,
}

/// A compiled matcher for one value of one field.
#[derive(Debug, Clone)]
pub(crate) enum Matcher {
    Str {
        pat: StrPat,
        cased: bool,
        /// The longest literal in the pattern (lowercased), used by the prefilter.
        needle: Option<Box<str>>,
    },
    /// A regex and, when known, literals one of which every match contains (lowercased).
    Re(Regex, Option<Vec<Box<str>>>),
    Cidr(IpNet),
    Cmp(CmpOp, f64),
    /// The field is absent, null or empty.
    Null,
    Exists(bool),
    FieldRef {
        field: Box<str>,
        mode: RefMode,
        cased: bool,
    },
    /// Cannot match (e.g. an unresolved placeholder).
    Never,
    /// Several substring patterns of one field, searched at once.
    AnyContains {
        ac: aho_corasick::AhoCorasick,
        cased: bool,
    },
    /// Several exact values of one field, looked up at once.
    AnyExact {
        set: std::collections::HashSet<Box<str>>,
        cased: bool,
    },
}

/// Lowercase unless already lowercase ASCII.
pub(crate) fn lower(s: &str) -> Cow<'_, str> {
    if s.bytes().all(|b| b.is_ascii() && !b.is_ascii_uppercase()) {
        Cow::Borrowed(s)
    } else if s.is_ascii() {
        Cow::Owned(s.to_ascii_lowercase())
    } else {
        Cow::Owned(s.to_lowercase())
    }
}

/// One event value as the matchers see it: its text, its lowercased text, its type.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CVal<'a> {
    /// Text form (`""` for null).
    pub raw: &'a str,
    lowered: &'a str,
    pub kind: Kind,
}

/// The type of an event value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Kind {
    Str,
    Int(i64),
    Float(f64),
    Bool,
    Null,
}

impl<'a> CVal<'a> {
    pub fn lower(&self) -> &'a str {
        self.lowered
    }
    fn text(&self, cased: bool) -> Option<&'a str> {
        if self.kind == Kind::Null {
            None
        } else if cased {
            Some(self.raw)
        } else {
            Some(self.lowered)
        }
    }
    /// The value as text for reports.
    pub fn display(&self) -> String {
        match self.kind {
            Kind::Null => "null".into(),
            _ => self.raw.to_string(),
        }
    }
}

/// Event values copied into one reused buffer, each field read and lowercased once per event
/// however many rules test it. Kept per thread between events, so the hot path does not
/// allocate once the buffers have grown.
#[derive(Debug, Default)]
pub(crate) struct Cache {
    buf: String,
    /// (raw start, raw end, lower start, lower end, kind)
    vals: Vec<(u32, u32, u32, u32, Kind)>,
    /// (field name, first value, end value); names beyond `nfields` are stale spares.
    fields: Vec<(String, u32, u32)>,
    nfields: usize,
    all: Option<(u32, u32)>,
}

impl Cache {
    fn clear(&mut self) {
        self.buf.clear();
        self.vals.clear();
        self.nfields = 0;
        self.all = None;
    }
    fn push(&mut self, v: FieldValue<'_>) {
        let start = self.buf.len() as u32;
        let kind = match v {
            FieldValue::Str(s) => {
                self.buf.push_str(s);
                Kind::Str
            }
            FieldValue::Int(i) => {
                use std::fmt::Write;
                let _ = write!(self.buf, "{i}");
                Kind::Int(i)
            }
            FieldValue::Float(f) => {
                use std::fmt::Write;
                let _ = write!(self.buf, "{f}");
                Kind::Float(f)
            }
            FieldValue::Bool(b) => {
                self.buf.push_str(if b { "true" } else { "false" });
                Kind::Bool
            }
            FieldValue::Null => Kind::Null,
        };
        let end = self.buf.len() as u32;
        let raw = &self.buf[start as usize..end as usize];
        let (ls, le) = if raw.bytes().any(|b| b.is_ascii_uppercase() || !b.is_ascii()) {
            let l = lower(raw).into_owned();
            self.buf.push_str(&l);
            (end, self.buf.len() as u32)
        } else {
            (start, end)
        };
        self.vals.push((start, end, ls, le, kind));
    }
    fn get(&self, i: usize) -> CVal<'_> {
        let (a, b, c, d, kind) = self.vals[i];
        CVal {
            raw: &self.buf[a as usize..b as usize],
            lowered: &self.buf[c as usize..d as usize],
            kind,
        }
    }
    fn find(&self, field: &str) -> Option<(u32, u32)> {
        self.fields[..self.nfields]
            .iter()
            .find(|(k, _, _)| k == field)
            .map(|(_, a, b)| (*a, *b))
    }
    fn load_field(&mut self, ev: &dyn SigmaEvent, field: &str) -> (u32, u32) {
        let start = self.vals.len() as u32;
        ev.field(field, &mut |v| self.push(v));
        let end = self.vals.len() as u32;
        if self.nfields < self.fields.len() {
            let e = &mut self.fields[self.nfields];
            e.0.clear();
            e.0.push_str(field);
            e.1 = start;
            e.2 = end;
        } else {
            self.fields.push((field.to_string(), start, end));
        }
        self.nfields += 1;
        (start, end)
    }
    fn load_all(&mut self, ev: &dyn SigmaEvent) -> (u32, u32) {
        let start = self.vals.len() as u32;
        ev.all_values(&mut |s| self.push(FieldValue::Str(s)));
        let r = (start, self.vals.len() as u32);
        self.all = Some(r);
        r
    }
}

/// The values of one field for the current event.
pub(crate) enum Vals<'c> {
    Cached(std::cell::Ref<'c, Cache>, usize, usize),
    Owned(Box<Cache>),
}

impl Vals<'_> {
    pub fn len(&self) -> usize {
        match self {
            Vals::Cached(_, a, b) => b - a,
            Vals::Owned(c) => c.vals.len(),
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    pub fn get(&self, i: usize) -> CVal<'_> {
        match self {
            Vals::Cached(c, a, _) => c.get(a + i),
            Vals::Owned(c) => c.get(i),
        }
    }
}

/// Per-event evaluation context: the event and its value cache.
pub(crate) struct EvalCtx<'e> {
    pub ev: &'e dyn SigmaEvent,
    cache: std::cell::RefCell<Cache>,
}

impl<'e> EvalCtx<'e> {
    /// A context reusing `cache`'s buffers.
    pub fn new(ev: &'e dyn SigmaEvent, mut cache: Cache) -> EvalCtx<'e> {
        cache.clear();
        EvalCtx {
            ev,
            cache: std::cell::RefCell::new(cache),
        }
    }
    /// Give the buffers back for the next event.
    pub fn into_cache(self) -> Cache {
        self.cache.into_inner()
    }
    fn view(&self, field: Option<&str>) -> Vals<'_> {
        let known = match self.cache.try_borrow() {
            Ok(c) => match field {
                Some(f) => c.find(f),
                None => c.all,
            },
            Err(_) => None,
        };
        let range = match known {
            Some(r) => Some(r),
            None => match self.cache.try_borrow_mut() {
                Ok(mut c) => Some(match field {
                    Some(f) => c.load_field(self.ev, f),
                    None => c.load_all(self.ev),
                }),
                Err(_) => None,
            },
        };
        if let Some((a, b)) = range
            && let Ok(c) = self.cache.try_borrow()
        {
            return Vals::Cached(c, a as usize, b as usize);
        }
        // Re-entrant read while the cache is being filled: read uncached.
        let mut own = Cache::default();
        match field {
            Some(f) => {
                own.load_field(self.ev, f);
            }
            None => {
                own.load_all(self.ev);
            }
        }
        Vals::Owned(Box::new(own))
    }
    /// The values of a field (empty when absent).
    pub fn values(&self, field: &str) -> Vals<'_> {
        self.view(Some(field))
    }
    /// Every string value of the event.
    pub fn all_values(&self) -> Vals<'_> {
        self.view(None)
    }
}

impl StrPat {
    fn is_match(&self, v: &str) -> bool {
        match self {
            StrPat::Exact(p) => v == &**p,
            StrPat::Prefix(p) => v.starts_with(&**p),
            StrPat::Suffix(p) => v.ends_with(&**p),
            StrPat::Contains(f) => f.find(v.as_bytes()).is_some(),
            StrPat::Any => true,
            StrPat::Glob(r) => r.is_match(v),
        }
    }
}

fn num_of(v: &CVal<'_>) -> Option<f64> {
    match v.kind {
        Kind::Int(i) => Some(i as f64),
        Kind::Float(f) => Some(f),
        Kind::Str => v.raw.trim().parse().ok(),
        _ => None,
    }
}

impl Matcher {
    /// Test one present value of the field.
    pub fn is_match(&self, v: &CVal<'_>, ctx: &EvalCtx<'_>) -> bool {
        match self {
            Matcher::Str { pat, cased, .. } => v.text(*cased).is_some_and(|t| pat.is_match(t)),
            Matcher::Re(r, _) => v.kind != Kind::Null && r.is_match(v.raw),
            Matcher::Cidr(net) => {
                v.kind == Kind::Str
                    && v.raw
                        .trim()
                        .parse::<IpAddr>()
                        .is_ok_and(|ip| net.contains(&ip))
            }
            Matcher::Cmp(op, x) => num_of(v).is_some_and(|n| match op {
                CmpOp::Lt => n < *x,
                CmpOp::Lte => n <= *x,
                CmpOp::Gt => n > *x,
                CmpOp::Gte => n >= *x,
            }),
            Matcher::Null => v.kind == Kind::Null || (v.kind == Kind::Str && v.raw.is_empty()),
            Matcher::Exists(want) => *want,
            Matcher::FieldRef { field, mode, cased } => {
                let Some(mine) = v.text(*cased) else {
                    return false;
                };
                let others = ctx.values(field);
                (0..others.len()).any(|i| {
                    others.get(i).text(*cased).is_some_and(|other| match mode {
                        RefMode::Exact => mine == other,
                        RefMode::Prefix => mine.starts_with(other),
                        RefMode::Suffix => mine.ends_with(other),
                        RefMode::Contains => mine.contains(other),
                    })
                })
            }
            Matcher::Never => false,
            Matcher::AnyContains { ac, cased } => v.text(*cased).is_some_and(|t| ac.is_match(t)),
            Matcher::AnyExact { set, cased } => v.text(*cased).is_some_and(|t| set.contains(t)),
        }
    }

    /// The result when the field is absent.
    pub fn on_absent(&self) -> bool {
        matches!(self, Matcher::Null | Matcher::Exists(false))
    }
}

/// A rule value as read from YAML, before modifiers.
#[derive(Debug, Clone)]
pub(crate) enum RawValue {
    Str(String),
    Num(String),
    Bool(bool),
    Null,
}

/// Options that affect value compilation.
pub(crate) struct ValueCtx<'a> {
    pub limits: &'a ValueLimits,
    pub placeholders: &'a HashMap<String, Vec<String>>,
    /// Placeholders that had no configured values (reported as warnings).
    pub missing_placeholders: Vec<String>,
}

/// Modifiers that change how a field check combines or compares, parsed from `field|a|b`.
#[derive(Debug, Default, Clone)]
pub(crate) struct ModSpec {
    pub all: bool,
    pub mods: Vec<String>,
}

const KNOWN: &[&str] = &[
    "contains",
    "startswith",
    "endswith",
    "all",
    "re",
    "i",
    "m",
    "s",
    "base64",
    "base64offset",
    "utf16le",
    "utf16be",
    "utf16",
    "wide",
    "windash",
    "cidr",
    "exists",
    "fieldref",
    "lt",
    "lte",
    "gt",
    "gte",
    "expand",
    "cased",
];

/// Parse the modifier list; unknown modifiers are errors.
pub(crate) fn parse_mods(mods: &[&str]) -> Result<ModSpec, String> {
    let mut spec = ModSpec::default();
    for m in mods {
        if !KNOWN.contains(m) {
            return Err(format!("unknown modifier '{m}'"));
        }
        if *m == "all" {
            spec.all = true;
        } else {
            spec.mods.push(m.to_string());
        }
    }
    Ok(spec)
}

/// Compile the values of one field check into matchers (OR or AND combined by the caller).
pub(crate) fn compile_values(
    spec: &ModSpec,
    values: &[RawValue],
    ctx: &mut ValueCtx<'_>,
) -> Result<Vec<Matcher>, String> {
    if values.len() > ctx.limits.max_values {
        return Err(format!(
            "list of {} values exceeds the limit of {}",
            values.len(),
            ctx.limits.max_values
        ));
    }
    let has = |m: &str| spec.mods.iter().any(|x| x == m);
    let mut out = Vec::new();
    // Type-changing modifiers first.
    if has("re") {
        let bad: Vec<&String> = spec
            .mods
            .iter()
            .filter(|m| !matches!(m.as_str(), "re" | "i" | "m" | "s"))
            .collect();
        if !bad.is_empty() {
            return Err(format!("modifier 're' cannot be combined with {bad:?}"));
        }
        for v in values {
            let RawValue::Str(s) = v else {
                return Err("'re' needs a string value".into());
            };
            let r = RegexBuilder::new(s)
                .case_insensitive(has("i"))
                .multi_line(has("m"))
                .dot_matches_new_line(has("s"))
                .size_limit(ctx.limits.regex_size_limit)
                .build()
                .map_err(|e| regex_error(s, &e))?;
            out.push(Matcher::Re(r, regex_literals(s, has("i"))));
        }
        return Ok(out);
    }
    for flag in ["i", "m", "s"] {
        if has(flag) {
            return Err(format!("modifier '{flag}' is only valid after 're'"));
        }
    }
    if has("cidr") {
        for v in values {
            let RawValue::Str(s) = v else {
                return Err("'cidr' needs a string value".into());
            };
            let net = s
                .trim()
                .parse::<IpNet>()
                .or_else(|_| s.trim().parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| format!("invalid CIDR network '{s}'"))?;
            out.push(Matcher::Cidr(net));
        }
        return Ok(out);
    }
    for (name, op) in [
        ("lt", CmpOp::Lt),
        ("lte", CmpOp::Lte),
        ("gt", CmpOp::Gt),
        ("gte", CmpOp::Gte),
    ] {
        if has(name) {
            for v in values {
                let n: f64 = match v {
                    RawValue::Num(s) | RawValue::Str(s) => s
                        .trim()
                        .parse()
                        .map_err(|_| format!("'{name}' needs a number, got '{s}'"))?,
                    _ => return Err(format!("'{name}' needs a number")),
                };
                out.push(Matcher::Cmp(op, n));
            }
            return Ok(out);
        }
    }
    if has("exists") {
        for v in values {
            match v {
                RawValue::Bool(b) => out.push(Matcher::Exists(*b)),
                RawValue::Str(s) if s.eq_ignore_ascii_case("true") => {
                    out.push(Matcher::Exists(true))
                }
                RawValue::Str(s) if s.eq_ignore_ascii_case("false") => {
                    out.push(Matcher::Exists(false))
                }
                _ => return Err("'exists' needs true or false".into()),
            }
        }
        return Ok(out);
    }
    let cased = has("cased");
    if has("fieldref") {
        let mode = if has("contains") {
            RefMode::Contains
        } else if has("startswith") {
            RefMode::Prefix
        } else if has("endswith") {
            RefMode::Suffix
        } else {
            RefMode::Exact
        };
        for v in values {
            let RawValue::Str(s) = v else {
                return Err("'fieldref' needs a field name".into());
            };
            out.push(Matcher::FieldRef {
                field: s.as_str().into(),
                mode,
                cased,
            });
        }
        return Ok(out);
    }
    for v in values {
        let (base, mut is_cased) = match v {
            RawValue::Null => {
                out.push(Matcher::Null);
                continue;
            }
            RawValue::Str(s) => (SStr::parse(s), cased),
            RawValue::Num(s) => (SStr::lit(s), cased),
            RawValue::Bool(b) => (SStr::lit(if *b { "true" } else { "false" }), cased),
        };
        let mut vals = vec![base];
        let mut unresolved = false;
        for m in &spec.mods {
            let max = 4096;
            let mut next = Vec::new();
            for sv in vals {
                match m.as_str() {
                    "contains" => {
                        let mut p = vec![Part::Star];
                        p.extend(sv.0);
                        p.push(Part::Star);
                        next.push(SStr(p).normalized());
                    }
                    "startswith" => {
                        let mut p = sv.0;
                        p.push(Part::Star);
                        next.push(SStr(p).normalized());
                    }
                    "endswith" => {
                        let mut p = vec![Part::Star];
                        p.extend(sv.0);
                        next.push(SStr(p).normalized());
                    }
                    "base64" | "base64offset" | "utf16le" | "wide" | "utf16be" | "utf16" => {
                        if sv.has_wildcards() {
                            return Err(format!(
                                "modifier '{m}' cannot be applied to a value with wildcards"
                            ));
                        }
                        let b = sv.bytes();
                        match m.as_str() {
                            "base64" => {
                                next.push(SStr::lit(&base64_encode(&b)));
                                is_cased = true;
                            }
                            "base64offset" => {
                                for e in base64_offsets(&b) {
                                    next.push(SStr::lit(&e));
                                }
                                is_cased = true;
                            }
                            "utf16be" => next.push(SStr(vec![Part::Lit(utf16(&b, false))])),
                            "utf16" => {
                                let mut x = vec![0xff, 0xfe];
                                x.extend(utf16(&b, true));
                                next.push(SStr(vec![Part::Lit(x)]));
                            }
                            _ => next.push(SStr(vec![Part::Lit(utf16(&b, true))])),
                        }
                    }
                    "windash" => next.extend(sv.expand_lits(max, &windash)?),
                    "expand" => {
                        let ph = ctx.placeholders;
                        let mut missing = Vec::new();
                        let f = |b: &[u8]| Ok(expand_placeholders(b, ph, &mut Vec::new()));
                        // Collect missing names separately (the closure above must be `Fn`).
                        for p in &sv.0 {
                            if let Part::Lit(b) = p {
                                expand_placeholders(b, ph, &mut missing);
                            }
                        }
                        if !missing.is_empty() {
                            unresolved = true;
                            ctx.missing_placeholders.extend(missing);
                        }
                        next.extend(sv.expand_lits(max, &f)?);
                    }
                    "cased" => next.push(sv),
                    other => return Err(format!("modifier '{other}' is not valid here")),
                }
            }
            if next.len() > max {
                return Err(format!("value expands to more than {max} alternatives"));
            }
            vals = next;
        }
        if unresolved {
            out.push(Matcher::Never);
            continue;
        }
        for sv in vals {
            out.push(compile_sstr(sv, is_cased)?);
        }
    }
    Ok(out)
}

/// Literals one of which every match of `pattern` contains (lowercased), from the prefix
/// literal extraction of `regex-syntax`; `None` when they are unknown or too weak.
fn regex_literals(pattern: &str, case_insensitive: bool) -> Option<Vec<Box<str>>> {
    use regex_syntax::hir::literal::Extractor;
    let hir = regex_syntax::ParserBuilder::new()
        .case_insensitive(case_insensitive)
        .build()
        .parse(pattern)
        .ok()?;
    let seq = Extractor::new().extract(&hir);
    let lits = seq.literals()?;
    if lits.is_empty() {
        return None;
    }
    let mut out: Vec<Box<str>> = Vec::new();
    for l in lits {
        let text = std::str::from_utf8(l.as_bytes()).ok()?;
        if text.is_empty() {
            return None;
        }
        let low: Box<str> = lower(text).into_owned().into();
        if !out.contains(&low) {
            out.push(low);
        }
    }
    Some(out)
}

fn regex_error(pat: &str, e: &regex::Error) -> String {
    let short: String = pat.chars().take(80).collect();
    match e {
        regex::Error::CompiledTooBig(limit) => {
            format!("regex '{short}' is too big to compile safely (limit {limit} bytes)")
        }
        other => {
            let full = other.to_string();
            // regex's messages span several lines (pattern, caret, error); keep the error.
            let msg = full
                .lines()
                .rev()
                .find(|l| l.trim_start().starts_with("error:"))
                .map(|l| {
                    l.trim_start()
                        .trim_start_matches("error:")
                        .trim()
                        .to_string()
                })
                .unwrap_or_else(|| full.split_whitespace().collect::<Vec<_>>().join(" "));
            if msg.contains("look-around") || msg.contains("backreference") {
                format!(
                    "regex '{short}' uses look-around or backreferences, which the linear-time regex engine does not support ({msg})"
                )
            } else {
                format!("invalid regex '{short}': {msg}")
            }
        }
    }
}

fn to_string_lossless(b: Vec<u8>) -> Result<String, String> {
    String::from_utf8(b).map_err(|_| {
        "value is not valid text after encoding (utf16le/utf16be/wide must be followed by base64 or base64offset)".to_string()
    })
}

/// Compile one final Sigma string into a matcher.
pub(crate) fn compile_sstr(sv: SStr, cased: bool) -> Result<Matcher, String> {
    let sv = sv.normalized();
    let mut parts: Vec<PartS> = Vec::with_capacity(sv.0.len());
    for p in sv.0 {
        parts.push(match p {
            Part::Lit(b) => {
                let s = to_string_lossless(b)?;
                PartS::Lit(if cased { s } else { lower(&s).into_owned() })
            }
            Part::Star => PartS::Star,
            Part::One => PartS::One,
        });
    }
    let needle = parts
        .iter()
        .filter_map(|p| match p {
            PartS::Lit(s) => Some(s.as_str()),
            _ => None,
        })
        .max_by_key(|s| s.len())
        .map(|s| {
            if cased {
                lower(s).into_owned()
            } else {
                s.to_string()
            }
        })
        .map(String::into_boxed_str);
    let pat = match parts.as_slice() {
        [] => StrPat::Exact("".into()),
        [PartS::Lit(a)] => StrPat::Exact(a.as_str().into()),
        [PartS::Star] => StrPat::Any,
        [PartS::Lit(a), PartS::Star] => StrPat::Prefix(a.as_str().into()),
        [PartS::Star, PartS::Lit(a)] => StrPat::Suffix(a.as_str().into()),
        [PartS::Star, PartS::Lit(a), PartS::Star] => {
            StrPat::Contains(Box::new(memmem::Finder::new(a.as_bytes()).into_owned()))
        }
        _ => {
            let mut re = String::from("(?s)^");
            for p in &parts {
                match p {
                    PartS::Lit(s) => re.push_str(&regex::escape(s)),
                    PartS::Star => re.push_str(".*"),
                    PartS::One => re.push('.'),
                }
            }
            re.push('$');
            let r = RegexBuilder::new(&re)
                .size_limit(1 << 22)
                .build()
                .map_err(|e| format!("cannot compile wildcard pattern: {e}"))?;
            StrPat::Glob(r)
        }
    };
    Ok(Matcher::Str { pat, cased, needle })
}

enum PartS {
    Lit(String),
    Star,
    One,
}

/// Group the string matchers of an OR list: substring patterns into one automaton, exact
/// values into one set. Order does not matter for an OR.
pub(crate) fn group_or(ms: Vec<Matcher>) -> Vec<Matcher> {
    const MIN: usize = 3;
    let mut contains: [Vec<Vec<u8>>; 2] = [Vec::new(), Vec::new()];
    let mut exact: [Vec<Box<str>>; 2] = [Vec::new(), Vec::new()];
    for m in &ms {
        if let Matcher::Str { pat, cased, .. } = m {
            match pat {
                StrPat::Contains(f) => contains[usize::from(*cased)].push(f.needle().to_vec()),
                StrPat::Exact(e) => exact[usize::from(*cased)].push(e.clone()),
                _ => {}
            }
        }
    }
    let group_c = [contains[0].len() >= MIN, contains[1].len() >= MIN];
    let group_e = [exact[0].len() >= MIN, exact[1].len() >= MIN];
    if !group_c.iter().any(|x| *x) && !group_e.iter().any(|x| *x) {
        return ms;
    }
    let mut out: Vec<Matcher> = ms
        .into_iter()
        .filter(|m| match m {
            Matcher::Str {
                pat: StrPat::Contains(_),
                cased,
                ..
            } => !group_c[usize::from(*cased)],
            Matcher::Str {
                pat: StrPat::Exact(_),
                cased,
                ..
            } => !group_e[usize::from(*cased)],
            _ => true,
        })
        .collect();
    for (i, cased) in [false, true].into_iter().enumerate() {
        if group_c[i] {
            match aho_corasick::AhoCorasick::new(&contains[i]) {
                Ok(ac) => out.push(Matcher::AnyContains { ac, cased }),
                Err(_) => {
                    for n in &contains[i] {
                        out.push(Matcher::Str {
                            pat: StrPat::Contains(Box::new(memmem::Finder::new(n).into_owned())),
                            cased,
                            needle: None,
                        })
                    }
                }
            }
        }
        if group_e[i] {
            out.push(Matcher::AnyExact {
                set: std::mem::take(&mut exact[i]).into_iter().collect(),
                cased,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(mods: &[&str], vals: &[&str]) -> Vec<Matcher> {
        let spec = parse_mods(mods).unwrap_or_default();
        let limits = ValueLimits {
            regex_size_limit: 1 << 20,
            max_values: 1000,
        };
        let ph = HashMap::new();
        let mut ctx = ValueCtx {
            limits: &limits,
            placeholders: &ph,
            missing_placeholders: vec![],
        };
        let raw: Vec<RawValue> = vals.iter().map(|s| RawValue::Str(s.to_string())).collect();
        compile_values(&spec, &raw, &mut ctx).unwrap_or_default()
    }

    fn hit(ms: &[Matcher], v: &str) -> bool {
        let ev = serde_json::Value::Null;
        let ctx = EvalCtx::new(&ev, Cache::default());
        let one = serde_json::json!({ "v": v });
        let ctx2 = EvalCtx::new(&one, Cache::default());
        let vals = ctx2.values("v");
        let cv = vals.get(0);
        ms.iter().any(|m| m.is_match(&cv, &ctx))
    }

    #[test]
    fn base64_vectors() {
        assert_eq!(base64_encode(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64_encode(b"fo"), "Zm8=");
        // pySigma's documented example for base64offset of "/bin/bash".
        assert_eq!(
            base64_offsets(b"/bin/bash"),
            ["L2Jpbi9iYXNo", "9iaW4vYmFza", "vYmluL2Jhc2"]
        );
    }

    #[test]
    fn wildcards_and_escapes() {
        assert_eq!(SStr::parse(r"a\*b").0, vec![Part::Lit(b"a*b".to_vec())]);
        assert_eq!(
            SStr::parse(r"C:\\*").0,
            vec![Part::Lit(b"C:\\".to_vec()), Part::Star]
        );
        assert_eq!(
            SStr::parse(r"C:\Win").0,
            vec![Part::Lit(b"C:\\Win".to_vec())]
        );
        let g = m(&[], &["a?c*z"]);
        assert!(hit(&g, "ABCxxZ"));
        assert!(!hit(&g, "abxcz"));
        assert!(hit(&m(&[], &[r"lit\*"]), "LIT*"));
        assert!(!hit(&m(&[], &[r"lit\*"]), "litx"));
    }

    #[test]
    fn windash_expands() {
        let ms = m(&["contains", "windash"], &[" -enc "]);
        assert_eq!(ms.len(), 5);
        assert!(hit(&ms, "powershell /enc abc"));
        assert!(hit(&ms, "powershell \u{2013}enc abc"));
        assert!(!hit(&ms, "powershell +enc abc"));
    }

    #[test]
    fn wide_base64offset() {
        let ms = m(&["wide", "base64offset", "contains"], &["ping"]);
        let enc = base64_encode(&utf16(b"xping", true));
        // Any offset encodes to one of the three variants.
        assert!(hit(&ms, &format!("xx{enc}yy")) || hit(&ms, &base64_encode(&utf16(b"ping", true))));
        assert!(hit(&ms, &base64_encode(&utf16(b"ping", true))));
    }
}
