//! Translation of the query plan's filter to a ClickHouse `WHERE` condition.
//!
//! Every translation is either **exact** (the SQL selects exactly the events the in-memory
//! evaluator [`vigil_query::CompiledFilter`] selects) or a **superset** (it selects at least
//! those): the store then fetches the candidates and evaluates the whole filter in Rust. A term
//! is exact only for the combinations of column type and literal type whose semantics are the
//! same in both engines (see `CLICKHOUSE.md`); everything else (non-ASCII case folding, regexes
//! with Unicode classes, fields outside the typed columns, ...) is a superset.
//!
//! Null semantics: every term is `0`/`1`, never `NULL` (`ifNull(..., 0)`), so `NOT` of a term
//! on an absent field is true, as in memory; `!=` requires the field to be present.
//!
//! Values are always literals written by [`quote`]: `'` and `\` escaped, so no query text can
//! leave its string.

use std::fmt::Write as _;

use vigil_event::{FieldId, FieldKind};
use vigil_query::{Bound, CmpOp, Expr, Term, Value};

use super::schema::{self, Column, EXTRA, ORIGINAL, RAW};

/// A string literal: single-quoted, with `\` and `'` escaped (and control bytes as `\xNN`
/// escapes, so the statement stays one printable line).
pub(crate) fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            c if (c as u32) < 0x20 || c == '\x7f' => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// A condition and whether it is exact.
#[derive(Debug, Clone)]
pub(crate) struct Cond {
    pub sql: String,
    pub exact: bool,
    /// A cheaper condition that every row of `sql` meets (a superset of it), for `PREWHERE`:
    /// the substring prefilter of a word search. ClickHouse evaluates every operand of an
    /// `AND` over the whole block (18.16 does not short-circuit), so without it the RE2 word
    /// match runs over every row's text; with it, only over the rows holding the substring.
    pub pre: Option<String>,
}

impl Cond {
    fn exact(sql: String) -> Cond {
        Cond {
            sql,
            exact: true,
            pre: None,
        }
    }
    fn superset(sql: String) -> Cond {
        Cond {
            sql,
            exact: false,
            pre: None,
        }
    }
    fn all() -> Cond {
        Cond::exact("1".to_owned())
    }

    /// `PREWHERE <pre> ` when the condition has a prefilter, else nothing: goes between
    /// `FROM <table>` and `WHERE`.
    pub(crate) fn prewhere(&self) -> String {
        match &self.pre {
            Some(p) => format!("PREWHERE {p} "),
            None => String::new(),
        }
    }
}

/// How a field name resolves: a typed column, or the open maps.
pub(crate) enum Target<'a> {
    Typed(&'a Column),
    Dynamic,
}

pub(crate) fn target<'a>(cols: &'a [Column], field: &str) -> Target<'a> {
    match FieldId::lookup(field).and_then(|id| cols.iter().find(|c| c.field == id.name())) {
        Some(c) => Target::Typed(c),
        None => Target::Dynamic,
    }
}

/// The placeholder for "the value" in element predicates: a control character, which
/// [`quote`] never leaves in a literal.
const X: &str = "\u{1}";

fn col(c: &Column) -> String {
    format!("`{}`", c.name)
}

/// The field has a value.
fn present(c: &Column) -> String {
    match (c.kind, c.required) {
        (FieldKind::StrList, _) => format!("notEmpty({})", col(c)),
        (_, true) => "1".to_owned(),
        _ => format!("isNotNull({})", col(c)),
    }
}

/// A superset for a term on a field of the open maps: the key appears in their JSON.
fn dynamic_superset(field: &str) -> String {
    let (in_extra, key) = match field.strip_prefix("original.") {
        Some(rest) => (false, rest),
        None => (true, field),
    };
    let needle = quote(&serde_json::to_string(key).unwrap_or_default());
    let orig = format!("position(`{ORIGINAL}`, {needle}) > 0");
    if in_extra {
        format!("(position(`{EXTRA}`, {needle}) > 0 OR {orig})")
    } else {
        orig
    }
}

/// `pred` (over the placeholder `X`) for any value of the column, never NULL.
fn any_value(c: &Column, pred: &str) -> String {
    if c.kind == FieldKind::StrList {
        format!("arrayExists(x -> {}, {})", pred.replace(X, "x"), col(c))
    } else {
        format!("ifNull({}, 0)", pred.replace(X, &col(c)))
    }
}

fn float_lit(x: f64) -> String {
    let s = format!("{x:?}");
    if s.contains(['e', 'E']) || s.contains('.') {
        format!("toFloat64('{s}')")
    } else {
        format!("toFloat64({s})")
    }
}

/// The literal and the expression over `X` to compare it with, for a value of a column type,
/// when the comparison means the same as `vigil_query`'s `compare`.
fn comparable(kind: FieldKind, v: &Value) -> Option<(String, String)> {
    Some(match (kind, v) {
        (FieldKind::Int, Value::Int(i)) => (X.into(), i.to_string()),
        (FieldKind::Int, Value::Float(f)) => (format!("toFloat64({X})"), float_lit(*f)),
        (FieldKind::Float, Value::Int(i)) => (X.into(), float_lit(*i as f64)),
        (FieldKind::Float, Value::Float(f)) => (X.into(), float_lit(*f)),
        (FieldKind::Time, Value::Time(t)) => (X.into(), t.to_string()),
        (FieldKind::Ip, Value::Ip(ip)) => (X.into(), quote(&schema::ip_key(*ip))),
        (FieldKind::Bool, Value::Bool(b)) => (X.into(), u8::from(*b).to_string()),
        (FieldKind::Str | FieldKind::StrList, Value::Str(s)) => (X.into(), quote(s)),
        _ => return None,
    })
}

/// Case-insensitive equality with a string, over `X`; `None` when the needle is not ASCII
/// (ClickHouse's `lowerUTF8` does not fold like Rust's `to_lowercase`).
fn ci_eq(kind: FieldKind, s: &str) -> Option<String> {
    if !matches!(kind, FieldKind::Str | FieldKind::StrList) || !s.is_ascii() {
        return None;
    }
    Some(format!("lower({X}) = {}", quote(&s.to_ascii_lowercase())))
}

/// The `field:value` element predicate.
fn eq_pred(kind: FieldKind, v: &Value, case_sensitive: bool) -> Option<String> {
    match v {
        Value::Str(s) if !case_sensitive => ci_eq(kind, s),
        v => comparable(kind, v).map(|(x, lit)| format!("{x} = {lit}")),
    }
}

/// Regex-escapes a literal for RE2 (every ASCII punctuation character escaped).
fn re2_escape(s: &str, out: &mut String) {
    for c in s.chars() {
        if c.is_ascii_punctuation() || c == ' ' {
            out.push('\\');
        }
        out.push(c);
    }
}

/// `match()` of an ASCII glob over the SQL text `x`. Case-insensitive globs match the
/// ASCII-lowercased text against the lowercased pattern: 18.16's `match` ignores `(?i)` in its
/// literal prefilter.
fn glob_match(x: &str, pattern: &str, fold: bool, anchored: bool) -> String {
    if fold {
        format!(
            "match(lower({x}), {})",
            quote(&glob_re2(&pattern.to_ascii_lowercase(), anchored))
        )
    } else {
        format!("match({x}, {})", quote(&glob_re2(pattern, anchored)))
    }
}

/// A glob (`*`, `?`, `\` escapes) as an RE2 pattern.
fn glob_re2(pattern: &str, anchored: bool) -> String {
    let mut re = String::from("(?s)");
    if anchored {
        re.push_str("\\A");
    }
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => re2_escape(&chars.next().unwrap_or('\\').to_string(), &mut re),
            '*' => re.push_str(".*"),
            '?' => re.push('.'),
            c => re2_escape(&c.to_string(), &mut re),
        }
    }
    if anchored {
        re.push_str("\\z");
    }
    re
}

/// The displayed text of a column value as SQL over `X`, when it equals `ValueRef`'s display.
fn text_of(kind: FieldKind) -> Option<String> {
    match kind {
        FieldKind::Str | FieldKind::StrList => Some(X.to_owned()),
        FieldKind::Int => Some(format!("toString({X})")),
        _ => None,
    }
}

/// Whether a regex means the same in Rust's `regex` and RE2: ASCII, and no escape of a letter
/// or digit (`\d`, `\w`, `\b`, `\p` are Unicode-aware in Rust, ASCII in RE2).
fn portable_regex(p: &str) -> bool {
    if !p.is_ascii() {
        return false;
    }
    let b = p.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' {
            if b.get(i + 1).is_some_and(u8::is_ascii_alphanumeric) {
                return false;
            }
            i += 2;
        } else {
            i += 1;
        }
    }
    true
}

fn cmp_sql(op: CmpOp) -> &'static str {
    match op {
        CmpOp::Ne => "!=",
        CmpOp::Gt => ">",
        CmpOp::Ge => ">=",
        CmpOp::Lt => "<",
        CmpOp::Le => "<=",
    }
}

fn bound_pred(kind: FieldKind, b: &Bound, lower: bool) -> Option<String> {
    let (x, lit) = comparable(kind, &b.value)?;
    let op = match (lower, b.inclusive) {
        (true, true) => ">=",
        (true, false) => ">",
        (false, true) => "<=",
        (false, false) => "<",
    };
    Some(format!("{x} {op} {lit}"))
}

/// The element predicate of a field term, or `None` when it cannot be exact.
fn term_pred(c: &Column, t: &Term) -> Option<String> {
    let k = c.kind;
    match t {
        Term::Eq {
            value,
            case_sensitive,
            ..
        } => eq_pred(k, value, *case_sensitive),
        Term::Wildcard {
            pattern,
            case_sensitive,
            ..
        } => {
            if !pattern.is_ascii() {
                return None;
            }
            let x = text_of(k)?;
            Some(glob_match(&x, pattern, !case_sensitive, true))
        }
        Term::Regex { pattern, .. } => {
            // Flags inside the pattern (`(?i)`) are mishandled by 18.16's `match` (its literal
            // prefilter ignores them): evaluated here instead.
            if !portable_regex(pattern) || pattern.contains("(?") {
                return None;
            }
            let x = text_of(k)?;
            Some(format!("match({x}, {})", quote(pattern)))
        }
        Term::Compare { op, value, .. } => {
            let (x, lit) = comparable(k, value)?;
            Some(format!("{x} {} {lit}", cmp_sql(*op)))
        }
        Term::Range { lower, upper, .. } => {
            let mut parts = Vec::new();
            if let Some(b) = lower {
                parts.push(bound_pred(k, b, true)?);
            }
            if let Some(b) = upper {
                parts.push(bound_pred(k, b, false)?);
            }
            if parts.is_empty() {
                parts.push("1".to_owned());
            }
            Some(format!("({})", parts.join(" AND ")))
        }
        Term::In { values, .. } => {
            let preds: Option<Vec<String>> = values.iter().map(|v| eq_pred(k, v, false)).collect();
            Some(format!("({})", preds?.join(" OR ")))
        }
        Term::Cidr { net, .. } => {
            if k != FieldKind::Ip {
                return None;
            }
            let lo = schema::ip_key(net.network());
            let hi = schema::ip_key(net.broadcast());
            Some(format!("({X} >= {} AND {X} <= {})", quote(&lo), quote(&hi)))
        }
        Term::Exists { .. } => Some("1".to_owned()),
        Term::Text(_) | Term::TextWildcard(_) => None,
    }
}

/// RE2 for one word boundary of a full-text match: the start or end of the text, or one
/// ASCII byte that is not a letter or digit (non-ASCII bytes belong to words, as in
/// [`vigil_query::is_token_byte`]).
const RE2_SEP: &str = r"[\x00-\x2f\x3a-\x40\x5b-\x60\x7b-\x7f]";

/// Whether a literal's first (or last) byte is a word byte, so that a full-text match needs a
/// word boundary on that side.
fn word_edge(lit: &str, first: bool) -> bool {
    let b = lit.as_bytes();
    let c = if first { b.first() } else { b.last() };
    c.is_some_and(|&c| vigil_query::is_token_byte(c))
}

/// Full text over the raw text and the message: `pred` applied to both (over `X`).
fn over_text(pred: &str) -> String {
    format!(
        "({} OR {})",
        pred.replace(X, &format!("`{RAW}`")),
        pred.replace(X, "ifNull(`message`, '')")
    )
}

/// A bare word or phrase: the literal at word boundaries (see the query language's docs).
fn text_cond(needle: &str) -> Cond {
    text_literal(needle, word_edge(needle, true), word_edge(needle, false))
}

/// `needle` found case-insensitively, with a word boundary before it when `left` and after
/// it when `right`. ASCII needles are exact: a substring prefilter (`position`), then an RE2
/// `match` of the lowercased text for the boundaries (18.16's `match` ignores `(?i)` in its
/// literal prefilter). Non-ASCII needles (Unicode case folding) are left to the evaluator.
fn text_literal(needle: &str, left: bool, right: bool) -> Cond {
    if needle.is_empty() {
        return Cond::all();
    }
    if !needle.is_ascii() {
        return Cond::superset("1".to_owned());
    }
    let cased = needle.bytes().any(|c| c.is_ascii_alphabetic());
    let f = if cased {
        "positionCaseInsensitive"
    } else {
        "position"
    };
    // The substring test: the whole condition without boundaries, else its prefilter.
    let found = format!("{f}({X}, {}) > 0", quote(needle));
    if !left && !right {
        return Cond::exact(over_text(&found));
    }
    let mut re = String::from("(?s)");
    if left {
        re.push_str(&format!("(^|{RE2_SEP})"));
    }
    re2_escape(&needle.to_ascii_lowercase(), &mut re);
    if right {
        re.push_str(&format!("($|{RE2_SEP})"));
    }
    let mut c = Cond::exact(over_text(&format!(
        "({found} AND match(lower({X}), {}))",
        quote(&re)
    )));
    c.pre = Some(over_text(&found));
    c
}

/// A bare word with wildcards: a literal end is at a word boundary, a wildcard end is not.
fn text_wildcard_cond(pattern: &str) -> Cond {
    // The same reductions as the in-memory matcher: one literal, with or without stars around.
    let mut lits = Vec::new();
    let mut lit = String::new();
    let mut ones = 0;
    let mut chars = pattern.chars();
    let (mut lead, mut trail) = (false, false);
    while let Some(c) = chars.next() {
        match c {
            '\\' => lit.push(chars.next().unwrap_or('\\')),
            '*' | '?' => {
                if c == '?' {
                    ones += 1;
                }
                if lits.is_empty() && lit.is_empty() {
                    lead = true;
                }
                if !lit.is_empty() {
                    lits.push(std::mem::take(&mut lit));
                }
                trail = true;
            }
            c => {
                lit.push(c);
                trail = false;
            }
        }
    }
    if !lit.is_empty() {
        lits.push(lit);
    }
    if ones == 0 {
        match lits.as_slice() {
            [] => return Cond::all(),
            [one] => {
                return text_literal(
                    one,
                    !lead && word_edge(one, true),
                    !trail && word_edge(one, false),
                );
            }
            _ => {}
        }
    }
    if !pattern.is_ascii() {
        return Cond::superset("1".to_owned());
    }
    let lower = pattern.to_ascii_lowercase();
    let mut re = glob_re2(&lower, false);
    let body = re.split_off("(?s)".len());
    let first = lits.first().map(String::as_str).unwrap_or("");
    let last = lits.last().map(String::as_str).unwrap_or("");
    if !lead && word_edge(first, true) {
        re.push_str(&format!("(^|{RE2_SEP})"));
    }
    re.push_str(&body);
    if !trail && word_edge(last, false) {
        re.push_str(&format!("($|{RE2_SEP})"));
    }
    Cond::exact(over_text(&format!("match(lower({X}), {})", quote(&re))))
}

fn field_term(cols: &[Column], field: &str, t: &Term) -> Cond {
    let c = match target(cols, field) {
        Target::Typed(c) => c,
        Target::Dynamic => return Cond::superset(dynamic_superset(field)),
    };
    if let Term::Compare {
        op: CmpOp::Ne,
        value,
        ..
    } = t
    {
        // Present, and no value equal (case-insensitively for strings).
        let eq = match value {
            Value::Str(s) => ci_eq(c.kind, s),
            v => comparable(c.kind, v).map(|(x, lit)| format!("{x} = {lit}")),
        };
        return match eq {
            Some(p) => Cond::exact(format!("({} AND NOT {})", present(c), any_value(c, &p))),
            None => Cond::superset(present(c)),
        };
    }
    if let Term::Exists { .. } = t {
        return Cond::exact(present(c));
    }
    match term_pred(c, t) {
        Some(p) => Cond::exact(any_value(c, &p)),
        None => Cond::superset(present(c)),
    }
}

/// Translates a filter.
pub(crate) fn filter(cols: &[Column], e: &Expr) -> Cond {
    match e {
        Expr::MatchAll => Cond::all(),
        Expr::And(xs) => {
            let parts: Vec<Cond> = xs.iter().map(|x| filter(cols, x)).collect();
            // Any operand's prefilter holds for the conjunction; all of them, joined.
            let pres: Vec<&str> = parts.iter().filter_map(|p| p.pre.as_deref()).collect();
            Cond {
                pre: (!pres.is_empty()).then(|| format!("({})", pres.join(" AND "))),
                exact: parts.iter().all(|p| p.exact),
                sql: format!(
                    "({})",
                    parts
                        .iter()
                        .map(|p| p.sql.as_str())
                        .collect::<Vec<_>>()
                        .join(" AND ")
                ),
            }
        }
        Expr::Or(xs) => {
            let parts: Vec<Cond> = xs.iter().map(|x| filter(cols, x)).collect();
            // A disjunction has a prefilter only when every operand has one.
            let pres: Option<Vec<&str>> = parts.iter().map(|p| p.pre.as_deref()).collect();
            Cond {
                pre: pres.map(|p| format!("({})", p.join(" OR "))),
                exact: parts.iter().all(|p| p.exact),
                sql: format!(
                    "({})",
                    parts
                        .iter()
                        .map(|p| p.sql.as_str())
                        .collect::<Vec<_>>()
                        .join(" OR ")
                ),
            }
        }
        Expr::Not(x) => {
            let inner = filter(cols, x);
            if inner.exact {
                Cond::exact(format!("NOT {}", inner.sql))
            } else {
                // The complement of a superset is a subset: no pruning.
                Cond::superset("1".to_owned())
            }
        }
        Expr::Term(t) => match t {
            Term::Text(s) => text_cond(s),
            Term::TextWildcard(p) => text_wildcard_cond(p),
            t => match t.field() {
                Some(f) => field_term(cols, f, t),
                None => Cond::superset("1".to_owned()),
            },
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EventSchema;

    fn tr(q: &str) -> Cond {
        let cols = schema::columns();
        let query = vigil_query::parse_with(q, &EventSchema).unwrap_or_else(|e| {
            unreachable!("{q}: {e}");
        });
        filter(&cols, &query.filter)
    }

    #[test]
    fn word_searches_carry_a_prewhere_prefilter() {
        let c = tr("failed");
        let pre = c.pre.as_deref().unwrap_or_default();
        assert!(
            pre.contains("positionCaseInsensitive(`raw`, 'failed') > 0"),
            "{pre}"
        );
        assert!(!pre.contains("match("), "{pre}");
        assert!(c.prewhere().starts_with("PREWHERE ("));
        // A conjunction keeps the prefilters of its words; a disjunction only when every
        // operand has one; a negation never.
        let both = tr("failed AND user.name:root").pre.unwrap_or_default();
        assert!(
            both.contains("'failed'") && !both.contains("root"),
            "{both}"
        );
        let words = tr("failed OR denied").pre.unwrap_or_default();
        assert!(
            words.contains("'failed'") && words.contains(" OR "),
            "{words}"
        );
        assert!(tr("failed OR user.name:root").pre.is_none());
        assert!(tr("NOT failed").pre.is_none());
        assert!(tr("user.name:root").prewhere().is_empty());
    }

    #[test]
    fn quoting_cannot_escape() {
        assert_eq!(quote(r"a'b\c"), r"'a\'b\\c'");
        assert_eq!(quote("x\ny"), r"'x\x0ay'");
        let c = tr(r#"user.name:"x' OR 1=1 --\\""#);
        assert!(c.exact);
        assert!(c.sql.contains(r"'x\' or 1=1 --\\'"), "{}", c.sql);
    }

    #[test]
    fn exactness() {
        assert!(tr("user.name:root").exact);
        assert!(tr("NOT user.name:root").exact);
        assert!(tr("source.ip:10.0.0.0/8").exact);
        assert!(tr("failed").exact);
        assert!(!tr("ÄRGER").exact);
        assert!(!tr(r"process.name:/\d+/").exact);
        assert!(!tr("custom.x:y").exact);
        assert!(!tr("NOT custom.x:y").exact);
        assert_eq!(tr("NOT custom.x:y").sql, "1");
    }
}
