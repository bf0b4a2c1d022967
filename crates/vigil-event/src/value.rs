//! Field values: the owned [`Value`] of the open maps, the borrowed [`ValueRef`] that every
//! reader (search, rules, output) sees, and the [`FieldKind`] of a schema field.

use std::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use smol_str::SmolStr;

use crate::Timestamp;

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
            other => other.as_ref_scalar().to_json(),
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

/// A borrowed scalar value: what readers of an event see.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ValueRef<'a> {
    /// No value.
    Null,
    /// Text.
    Str(&'a str),
    /// Integer.
    Int(i64),
    /// Floating point.
    Float(f64),
    /// Boolean.
    Bool(bool),
    /// IP address.
    Ip(IpAddr),
    /// Instant, nanoseconds since the epoch.
    Time(i64),
}

impl ValueRef<'_> {
    /// The value as JSON (times as RFC 3339 strings, IPs as strings).
    pub fn to_json(&self) -> serde_json::Value {
        match *self {
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

    /// The owned form.
    pub fn to_owned_value(&self) -> Value {
        match *self {
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

impl fmt::Display for ValueRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ValueRef::Null => f.write_str(""),
            ValueRef::Str(s) => f.write_str(s),
            ValueRef::Int(i) => write!(f, "{i}"),
            ValueRef::Float(x) => write!(f, "{x}"),
            ValueRef::Bool(b) => write!(f, "{b}"),
            ValueRef::Ip(ip) => write!(f, "{ip}"),
            ValueRef::Time(t) => f.write_str(&Timestamp(t).to_rfc3339()),
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
