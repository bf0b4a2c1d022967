//! Typed values in the plan, the borrowed values records hand out, field types, and the
//! coercion rules between them.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// A typed literal in the plan (and a cell in an [`crate::Table`]).
///
/// Unquoted literals are typed by inference unless the caller declared the field's type (see
/// [`Schema`]); quoted literals are always strings unless the field is declared otherwise.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Value {
    /// Text.
    Str(String),
    /// A 64-bit integer.
    Int(i64),
    /// A finite 64-bit float.
    Float(f64),
    /// `true` / `false`.
    Bool(bool),
    /// An IPv4 or IPv6 address.
    Ip(IpAddr),
    /// A point in time, nanoseconds since the Unix epoch (UTC).
    Time(i64),
}

/// A borrowed scalar value: what a record hands the matcher through [`crate::Record::values`],
/// and what every reader of an event sees (`vigil_event` re-exports this type; it is the only
/// one, owned here because this crate sits below the event model and has no I/O).
///
/// Its [`fmt::Display`] is the value's text as normalizers and outputs write it: a float
/// without a fraction prints as `1`, a time as RFC 3339 UTC with 0, 3, 6 or 9 fraction digits.
/// The query language's text matching renders floats with their fraction (`1.0`); see
/// [`ValueRef::match_text`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ValueRef<'a> {
    /// Text.
    Str(&'a str),
    /// A 64-bit integer.
    Int(i64),
    /// A 64-bit float.
    Float(f64),
    /// A boolean.
    Bool(bool),
    /// An IP address.
    Ip(IpAddr),
    /// Nanoseconds since the Unix epoch (UTC).
    Time(i64),
    /// Present but null: counts as absent for `exists`.
    Null,
}

impl Value {
    /// Borrow as a [`ValueRef`].
    pub fn as_ref(&self) -> ValueRef<'_> {
        match self {
            Value::Str(s) => ValueRef::Str(s),
            Value::Int(i) => ValueRef::Int(*i),
            Value::Float(f) => ValueRef::Float(*f),
            Value::Bool(b) => ValueRef::Bool(*b),
            Value::Ip(ip) => ValueRef::Ip(*ip),
            Value::Time(t) => ValueRef::Time(*t),
        }
    }
}

impl ValueRef<'_> {
    /// Copy into an owned [`Value`]; `None` for [`ValueRef::Null`].
    pub fn to_owned_value(&self) -> Option<Value> {
        Some(match *self {
            ValueRef::Str(s) => Value::Str(s.to_owned()),
            ValueRef::Int(i) => Value::Int(i),
            ValueRef::Float(f) => Value::Float(f),
            ValueRef::Bool(b) => Value::Bool(b),
            ValueRef::Ip(ip) => Value::Ip(ip),
            ValueRef::Time(t) => Value::Time(t),
            ValueRef::Null => return None,
        })
    }

    /// The value as a number, if it is one or is text that parses as one.
    pub(crate) fn as_f64(&self) -> Option<f64> {
        match *self {
            ValueRef::Int(i) => Some(i as f64),
            ValueRef::Float(f) => Some(f),
            ValueRef::Str(s) => s.trim().parse::<f64>().ok().filter(|f| f.is_finite()),
            _ => None,
        }
    }
}

impl<'a> ValueRef<'a> {
    /// The text the query language matches a non-string value against (wildcards, `in`
    /// lists, regexes, a quoted literal): like [`fmt::Display`] except that floats keep their
    /// fraction or exponent (`1.0`, `1e21`), so `field:1.*` finds the float 1.
    pub(crate) fn match_text(&self) -> std::borrow::Cow<'a, str> {
        match *self {
            ValueRef::Str(s) => std::borrow::Cow::Borrowed(s),
            ValueRef::Float(x) => std::borrow::Cow::Owned(format!("{x:?}")),
            other => std::borrow::Cow::Owned(other.to_string()),
        }
    }
}

impl fmt::Display for ValueRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ValueRef::Str(s) => f.write_str(s),
            ValueRef::Int(i) => write!(f, "{i}"),
            ValueRef::Float(x) => write!(f, "{x}"),
            ValueRef::Bool(b) => write!(f, "{b}"),
            ValueRef::Ip(ip) => write!(f, "{ip}"),
            ValueRef::Time(t) => f.write_str(&format_time(t)),
            ValueRef::Null => Ok(()),
        }
    }
}

/// The declared type of a field, used at parse time to type literals and reject mismatches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    /// Text (keyword) field: every literal is a string.
    String,
    /// Integer field.
    Int,
    /// Floating-point field.
    Float,
    /// Boolean field.
    Bool,
    /// IP address field: `field:10.0.0.0/8` is a CIDR match.
    Ip,
    /// Timestamp field: literals are RFC 3339 or `YYYY-MM-DD`.
    Time,
}

impl fmt::Display for FieldType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FieldType::String => "string",
            FieldType::Int => "int",
            FieldType::Float => "float",
            FieldType::Bool => "bool",
            FieldType::Ip => "ip",
            FieldType::Time => "time",
        })
    }
}

/// What the parser may know about fields: aliases and types. The caller owns the schema; this
/// crate only asks.
pub trait Schema {
    /// The canonical name for `name` (e.g. KUMA's `SourceAddress` → `source.ip`), or `None`
    /// to keep `name` as written.
    fn resolve(&self, name: &str) -> Option<String> {
        let _ = name;
        None
    }
    /// The declared type of a (resolved) field, or `None` when unknown (literals are inferred).
    fn field_type(&self, name: &str) -> Option<FieldType> {
        let _ = name;
        None
    }
}

/// No aliases, no types: every literal is inferred.
impl Schema for () {}

/// A ready-made [`Schema`] backed by two maps.
#[derive(Debug, Clone, Default)]
pub struct SimpleSchema {
    aliases: HashMap<String, String>,
    types: HashMap<String, FieldType>,
}

impl SimpleSchema {
    /// An empty schema.
    pub fn new() -> Self {
        Self::default()
    }
    /// Declare the type of a field (by its canonical name).
    pub fn with_type(mut self, field: impl Into<String>, ty: FieldType) -> Self {
        self.types.insert(field.into(), ty);
        self
    }
    /// Declare an alias: `alias` is rewritten to `field` in parsed plans.
    pub fn with_alias(mut self, alias: impl Into<String>, field: impl Into<String>) -> Self {
        self.aliases.insert(alias.into(), field.into());
        self
    }
}

impl Schema for SimpleSchema {
    fn resolve(&self, name: &str) -> Option<String> {
        self.aliases.get(name).cloned()
    }
    fn field_type(&self, name: &str) -> Option<FieldType> {
        self.types.get(name).copied()
    }
}

// ---------------------------------------------------------------------------------------------
// Literal typing.

/// A literal as typed by the parser: a plain value or a network (only for IP-ish literals).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Typed {
    Value(Value),
    Net(ipnet::IpNet),
}

pub(crate) fn parse_int(s: &str) -> Option<i64> {
    let digits = s.strip_prefix('-').unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Float syntax accepted in queries: `-?\d+(\.\d+)?([eE][+-]?\d+)?` with a dot or an exponent.
pub(crate) fn parse_float(s: &str) -> Option<f64> {
    let b = s.strip_prefix('-').unwrap_or(s).as_bytes();
    let mut i = 0;
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i > start
    };
    if !digits(&mut i) {
        return None;
    }
    let mut special = false;
    if i < b.len() && b[i] == b'.' {
        i += 1;
        if !digits(&mut i) {
            return None;
        }
        special = true;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        if !digits(&mut i) {
            return None;
        }
        special = true;
    }
    if i != b.len() || !special {
        return None;
    }
    s.parse::<f64>().ok().filter(|f| f.is_finite())
}

/// RFC 3339 (`2024-01-01T00:00:00Z`, `...+03:00`, fractions) or a bare date (`2024-01-01`,
/// midnight UTC), as nanoseconds since the epoch.
pub(crate) fn parse_time(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 10 || !b[..4].iter().all(u8::is_ascii_digit) || b[4] != b'-' {
        return None;
    }
    if b.len() == 10 {
        let d = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?;
        return d.and_hms_opt(0, 0, 0)?.and_utc().timestamp_nanos_opt();
    }
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()?
        .timestamp_nanos_opt()
}

/// Canonical text of a timestamp: RFC 3339 in UTC with as many fraction digits as needed.
pub(crate) fn format_time(ns: i64) -> String {
    chrono::DateTime::from_timestamp_nanos(ns).to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

fn parse_bool(s: &str) -> Option<bool> {
    if s.eq_ignore_ascii_case("true") {
        Some(true)
    } else if s.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

fn parse_net(s: &str) -> Option<ipnet::IpNet> {
    if !s.contains('/') {
        return None;
    }
    s.parse::<ipnet::IpNet>().ok().map(|n| n.trunc())
}

/// Type an unquoted literal without a declared type: int, float, time, IP, CIDR, bool, else
/// string.
pub(crate) fn infer(s: &str) -> Typed {
    if let Some(i) = parse_int(s) {
        return Typed::Value(Value::Int(i));
    }
    if let Some(f) = parse_float(s) {
        return Typed::Value(Value::Float(f));
    }
    if let Some(t) = parse_time(s) {
        return Typed::Value(Value::Time(t));
    }
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Typed::Value(Value::Ip(ip));
    }
    if let Some(n) = parse_net(s) {
        return Typed::Net(n);
    }
    if let Some(b) = parse_bool(s) {
        return Typed::Value(Value::Bool(b));
    }
    Typed::Value(Value::Str(s.to_owned()))
}

/// Type a literal for a field: by its declared type if any, else by inference (quoted literals
/// are strings). The error is a message without position.
pub(crate) fn coerce(s: &str, quoted: bool, ty: Option<FieldType>) -> Result<Typed, String> {
    let Some(ty) = ty else {
        return Ok(if quoted {
            Typed::Value(Value::Str(s.to_owned()))
        } else {
            infer(s)
        });
    };
    let bad = |what: &str| format!("'{s}' is not {what}");
    Ok(Typed::Value(match ty {
        FieldType::String => Value::Str(s.to_owned()),
        FieldType::Int => match parse_int(s) {
            Some(i) => Value::Int(i),
            None => match parse_float(s) {
                Some(f) => Value::Float(f),
                None => return Err(bad("an integer")),
            },
        },
        FieldType::Float => match parse_int(s) {
            Some(i) => Value::Float(i as f64),
            None => Value::Float(parse_float(s).ok_or_else(|| bad("a number"))?),
        },
        FieldType::Bool => Value::Bool(parse_bool(s).ok_or_else(|| bad("true or false"))?),
        FieldType::Time => {
            Value::Time(parse_time(s).ok_or_else(|| bad("a timestamp (RFC 3339 or YYYY-MM-DD)"))?)
        }
        FieldType::Ip => match s.parse::<IpAddr>() {
            Ok(ip) => Value::Ip(ip),
            Err(_) => match parse_net(s) {
                Some(n) => return Ok(Typed::Net(n)),
                None => return Err(bad("an IP address or CIDR network")),
            },
        },
    }))
}

// ---------------------------------------------------------------------------------------------
// Comparison between a plan literal and a record value.

/// Order `r` (from a record) relative to `q` (from the plan), coercing text in the record to
/// the literal's type. `None` when the two cannot be compared.
pub(crate) fn compare(r: ValueRef<'_>, q: &Value) -> Option<Ordering> {
    match q {
        Value::Int(a) => match r {
            ValueRef::Int(b) => Some(b.cmp(a)),
            ValueRef::Str(s) => match parse_int(s.trim()) {
                Some(b) => Some(b.cmp(a)),
                None => r.as_f64()?.partial_cmp(&(*a as f64)),
            },
            _ => r.as_f64()?.partial_cmp(&(*a as f64)),
        },
        Value::Float(a) => r.as_f64()?.partial_cmp(a),
        Value::Time(a) => match r {
            ValueRef::Time(b) => Some(b.cmp(a)),
            ValueRef::Str(s) => Some(parse_time(s.trim())?.cmp(a)),
            _ => None,
        },
        Value::Ip(a) => match r {
            ValueRef::Ip(b) => Some(b.cmp(a)),
            ValueRef::Str(s) => Some(s.trim().parse::<IpAddr>().ok()?.cmp(a)),
            _ => None,
        },
        Value::Bool(a) => match r {
            ValueRef::Bool(b) => Some(b.cmp(a)),
            ValueRef::Str(s) => Some(parse_bool(s.trim())?.cmp(a)),
            ValueRef::Int(i @ (0 | 1)) => Some((i == 1).cmp(a)),
            _ => None,
        },
        Value::Str(a) => match r {
            ValueRef::Str(b) => Some(b.cmp(a.as_str())),
            ValueRef::Null => None,
            other => Some(other.match_text().as_ref().cmp(a.as_str())),
        },
    }
}

/// A total order over cells, for sorting tables and min/max: numbers (int and float together)
/// < times < IPs < bools < strings; `None` sorts last.
pub(crate) fn total_cmp(a: &Value, b: &Value) -> Ordering {
    fn rank(v: &Value) -> u8 {
        match v {
            Value::Int(_) | Value::Float(_) => 0,
            Value::Time(_) => 1,
            Value::Ip(_) => 2,
            Value::Bool(_) => 3,
            Value::Str(_) => 4,
        }
    }
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => x.cmp(y),
        (Value::Int(_) | Value::Float(_), Value::Int(_) | Value::Float(_)) => {
            let x = if let Value::Int(i) = a {
                *i as f64
            } else if let Value::Float(f) = a {
                *f
            } else {
                0.0
            };
            let y = if let Value::Int(i) = b {
                *i as f64
            } else if let Value::Float(f) = b {
                *f
            } else {
                0.0
            };
            x.total_cmp(&y)
        }
        (Value::Time(x), Value::Time(y)) => x.cmp(y),
        (Value::Ip(x), Value::Ip(y)) => x.cmp(y),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::Str(x), Value::Str(y)) => x.cmp(y),
        _ => rank(a).cmp(&rank(b)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inference() {
        assert_eq!(infer("42"), Typed::Value(Value::Int(42)));
        assert_eq!(infer("-4.5"), Typed::Value(Value::Float(-4.5)));
        assert_eq!(infer("1e3"), Typed::Value(Value::Float(1000.0)));
        assert_eq!(
            infer("1.2.3.4"),
            Typed::Value(Value::Ip("1.2.3.4".parse().unwrap()))
        );
        assert_eq!(
            infer("10.1.2.3/8"),
            Typed::Net("10.0.0.0/8".parse().unwrap())
        );
        assert_eq!(infer("fe80::/10"), Typed::Net("fe80::/10".parse().unwrap()));
        assert_eq!(
            infer("2024-01-01"),
            Typed::Value(Value::Time(1_704_067_200_000_000_000))
        );
        assert_eq!(
            infer("2024-01-01T00:00:01.5+00:00"),
            Typed::Value(Value::Time(1_704_067_201_500_000_000))
        );
        assert_eq!(infer("TRUE"), Typed::Value(Value::Bool(true)));
        assert_eq!(infer("root"), Typed::Value(Value::Str("root".into())));
        assert_eq!(infer("1e999"), Typed::Value(Value::Str("1e999".into())));
    }

    #[test]
    fn coercion_errors() {
        assert_eq!(
            coerce("abc", false, Some(FieldType::Int)),
            Err("'abc' is not an integer".into())
        );
        assert!(coerce("10.0.0.0/8", false, Some(FieldType::Ip)).is_ok());
        assert_eq!(
            coerce("42", true, Some(FieldType::Int)),
            Ok(Typed::Value(Value::Int(42)))
        );
        assert_eq!(
            coerce("42", true, None),
            Ok(Typed::Value(Value::Str("42".into())))
        );
    }

    #[test]
    fn time_round_trip() {
        for ns in [0_i64, 1_704_067_201_500_000_000, -1, 123_456_789] {
            assert_eq!(parse_time(&format_time(ns)), Some(ns));
        }
    }

    /// The query language matches a float's text with its fraction (`1.0`), while `Display`
    /// (shared with the event model) writes `1`: both as before the two enums became one.
    #[test]
    fn floats_match_as_text_with_their_fraction() {
        assert_eq!(ValueRef::Float(1.0).match_text(), "1.0");
        assert_eq!(ValueRef::Float(1e21).match_text(), "1e21");
        assert_eq!(ValueRef::Float(1.0).to_string(), "1");
        assert_eq!(ValueRef::Int(1).match_text(), "1");
        assert_eq!(
            compare(ValueRef::Float(1.0), &Value::Str("1.0".into())),
            Some(Ordering::Equal)
        );
        assert_ne!(
            compare(ValueRef::Float(1.0), &Value::Str("1".into())),
            Some(Ordering::Equal)
        );
    }

    #[test]
    fn record_coercion() {
        assert_eq!(
            compare(ValueRef::Str("4625"), &Value::Int(4625)),
            Some(Ordering::Equal)
        );
        assert_eq!(
            compare(ValueRef::Float(3.5), &Value::Int(3)),
            Some(Ordering::Greater)
        );
        assert_eq!(compare(ValueRef::Str("x"), &Value::Int(3)), None);
        assert_eq!(
            compare(
                ValueRef::Str("10.0.0.1"),
                &Value::Ip("10.0.0.1".parse().unwrap())
            ),
            Some(Ordering::Equal)
        );
    }
}
