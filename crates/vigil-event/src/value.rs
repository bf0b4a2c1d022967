//! Field values: the owned [`Value`] of the open maps, the borrowed [`ValueRef`] that every
//! reader (search, rules, output) sees, and the [`FieldKind`] of a schema field.
//!
//! [`ValueRef`] is `vigil_query::ValueRef`, re-exported: the one borrowed value of the tree,
//! owned by the lower crate so that a record handed to the query engine needs no conversion.

use std::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use smol_str::SmolStr;

use crate::Timestamp;
pub use vigil_query::ValueRef;

/// The type of a schema field. Readers use it to interpret query values (an IP field takes a
/// CIDR, an integer field takes a range), writers to convert strings from parsers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FieldKind {
    /// UTF-8 text (ECS `keyword`).
    Str,
    /// A list of strings (ECS keyword arrays such as `event.category`).
    StrList,
    /// A signed 64-bit integer.
    Int,
    /// A floating-point number.
    Float,
    /// An IPv4 or IPv6 address.
    Ip,
    /// An instant, nanoseconds since the Unix epoch, UTC.
    Time,
    /// true / false.
    Bool,
}

impl FieldKind {
    /// The lowercase name used in docs and error messages.
    pub fn name(self) -> &'static str {
        match self {
            FieldKind::Str => "string",
            FieldKind::StrList => "string list",
            FieldKind::Int => "integer",
            FieldKind::Float => "float",
            FieldKind::Ip => "ip",
            FieldKind::Time => "timestamp",
            FieldKind::Bool => "boolean",
        }
    }
}

/// An owned value, as kept in the open maps ([`crate::Event::extra`], [`crate::Event::original`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Value {
    /// No value (JSON null).
    Null,
    /// Text.
    Str(SmolStr),
    /// Integer.
    Int(i64),
    /// Floating point.
    Float(f64),
    /// Boolean.
    Bool(bool),
    /// IP address.
    Ip(IpAddr),
    /// Instant in nanoseconds since the epoch.
    Time(i64),
    /// A list of values.
    List(Vec<Value>),
}

impl Value {
    /// Visit this value as borrowed values (a list visits each element).
    pub fn visit(&self, f: &mut dyn FnMut(ValueRef<'_>)) {
        match self {
            Value::List(items) => items.iter().for_each(|v| v.visit(f)),
            other => f(other.as_ref_scalar()),
        }
    }

    fn as_ref_scalar(&self) -> ValueRef<'_> {
        match self {
            Value::Null | Value::List(_) => ValueRef::Null,
            Value::Str(s) => ValueRef::Str(s),
            Value::Int(i) => ValueRef::Int(*i),
            Value::Float(x) => ValueRef::Float(*x),
            Value::Bool(b) => ValueRef::Bool(*b),
            Value::Ip(ip) => ValueRef::Ip(*ip),
            Value::Time(t) => ValueRef::Time(*t),
        }
    }

    /// The value as JSON.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::List(items) => {
                serde_json::Value::Array(items.iter().map(Value::to_json).collect())
            }
            other => ref_to_json(other.as_ref_scalar()),
        }
    }

    /// Converts JSON into a value (objects are rendered as their JSON text).
    pub fn from_json(v: &serde_json::Value) -> Value {
        match v {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Bool(b) => Value::Bool(*b),
            serde_json::Value::Number(n) => match n.as_i64() {
                Some(i) => Value::Int(i),
                None => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
            },
            serde_json::Value::String(s) => Value::Str(SmolStr::new(s)),
            serde_json::Value::Array(a) => Value::List(a.iter().map(Value::from_json).collect()),
            serde_json::Value::Object(_) => Value::Str(SmolStr::new(v.to_string())),
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Str(SmolStr::new(s))
    }
}
impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::Str(SmolStr::new(s))
    }
}
impl From<SmolStr> for Value {
    fn from(s: SmolStr) -> Self {
        Value::Str(s)
    }
}
impl From<i64> for Value {
    fn from(i: i64) -> Self {
        Value::Int(i)
    }
}
impl From<IpAddr> for Value {
    fn from(ip: IpAddr) -> Self {
        Value::Ip(ip)
    }
}
impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

/// The value's JSON (times as RFC 3339 strings, IPs as strings, non-finite floats as null).
pub fn ref_to_json(v: ValueRef<'_>) -> serde_json::Value {
    match v {
        ValueRef::Null => serde_json::Value::Null,
        ValueRef::Str(s) => serde_json::Value::String(s.to_owned()),
        ValueRef::Int(i) => serde_json::Value::from(i),
        ValueRef::Float(x) => serde_json::Number::from_f64(x)
            .map(serde_json::Value::Number)
            .unwrap_or(serde_json::Value::Null),
        ValueRef::Bool(b) => serde_json::Value::Bool(b),
        ValueRef::Ip(ip) => serde_json::Value::String(ip.to_string()),
        ValueRef::Time(t) => serde_json::Value::String(Timestamp(t).to_rfc3339()),
    }
}

impl From<ValueRef<'_>> for Value {
    fn from(v: ValueRef<'_>) -> Value {
        match v {
            ValueRef::Null => Value::Null,
            ValueRef::Str(s) => Value::Str(SmolStr::new(s)),
            ValueRef::Int(i) => Value::Int(i),
            ValueRef::Float(x) => Value::Float(x),
            ValueRef::Bool(b) => Value::Bool(b),
            ValueRef::Ip(ip) => Value::Ip(ip),
            ValueRef::Time(t) => Value::Time(t),
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::List(items) => {
                f.write_str("[")?;
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str("]")
            }
            other => write!(f, "{}", other.as_ref_scalar()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `ValueRef` is `vigil_query::ValueRef` (issue 12: one value enum); its text is what
    /// vigil-event's own enum wrote, so normalization output is unchanged: floats without a
    /// fraction print as integers, times as `Timestamp::to_rfc3339`.
    #[test]
    fn the_shared_value_ref_writes_text_as_events_always_did() {
        assert_eq!(ValueRef::Float(1.0).to_string(), "1");
        assert_eq!(ValueRef::Float(-2.5).to_string(), "-2.5");
        assert_eq!(ValueRef::Float(1e21).to_string(), "1000000000000000000000");
        assert_eq!(Value::Float(3.0).to_string(), "3");
        assert_eq!(ValueRef::Int(-7).to_string(), "-7");
        assert_eq!(ValueRef::Null.to_string(), "");
        assert_eq!(ValueRef::Bool(true).to_string(), "true");
        assert_eq!(
            ValueRef::Ip("::ffff:10.0.0.1".parse().unwrap()).to_string(),
            "::ffff:10.0.0.1"
        );
        for t in [
            i64::MIN,
            -1,
            0,
            1,
            999,
            1_000,
            1_000_000,
            1_700_000_000_123_000_000,
            1_700_000_000_123_456_000,
            1_700_000_000_123_456_789,
            9_223_372_036_000_000_000,
            i64::MAX,
        ] {
            assert_eq!(
                ValueRef::Time(t).to_string(),
                Timestamp(t).to_rfc3339(),
                "{t}"
            );
        }
        assert_eq!(
            ref_to_json(ValueRef::Time(0)),
            serde_json::json!("1970-01-01T00:00:00Z")
        );
        assert_eq!(
            ref_to_json(ValueRef::Float(f64::NAN)),
            serde_json::Value::Null
        );
        assert_eq!(Value::from(ValueRef::Str("x")), Value::Str("x".into()));
    }
}
