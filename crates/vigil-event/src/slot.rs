//! [`Slot`]: one typed field of the event, read and written through one object-safe interface so
//! that the schema table can treat `Option<IpAddr>` and `Vec<SmolStr>` alike.

use std::net::IpAddr;

use smol_str::SmolStr;

use crate::{FieldKind, Timestamp, Value, ValueRef};

/// Why a value could not be stored in a typed field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot store {got} as {expected}")]
pub struct SetError {
    /// The field's kind.
    pub expected: &'static str,
    /// A short description of the rejected value.
    pub got: String,
}

fn mismatch(expected: FieldKind, got: &Value) -> SetError {
    let mut shown = got.to_string();
    if shown.len() > 64 {
        let mut cut = 64;
        while !shown.is_char_boundary(cut) {
            cut -= 1;
        }
        shown.truncate(cut);
        shown.push('…');
    }
    SetError {
        expected: expected.name(),
        got: format!("'{shown}'"),
    }
}

/// One typed field of the event.
pub trait Slot {
    /// The field's kind.
    fn kind(&self) -> FieldKind;
    /// Whether a value is present.
    fn is_set(&self) -> bool;
    /// Visit the value(s); nothing when unset.
    fn visit(&self, f: &mut dyn FnMut(ValueRef<'_>));
    /// Store a value, converting strings to the field's type (`"10.0.0.1"` into an IP field).
    fn set(&mut self, v: Value) -> Result<(), SetError>;
    /// Store a copy of a value: what `set(v.clone())` does, without building the clone where
    /// the slot can copy from the original (a constant list into a string list reuses the
    /// slot's buffer).
    fn set_ref(&mut self, v: &Value) -> Result<(), SetError> {
        self.set(v.clone())
    }
    /// Remove the value.
    fn clear(&mut self);
}

impl Slot for Option<SmolStr> {
    fn kind(&self) -> FieldKind {
        FieldKind::Str
    }
    fn is_set(&self) -> bool {
        self.is_some()
    }
    fn visit(&self, f: &mut dyn FnMut(ValueRef<'_>)) {
        if let Some(s) = self {
            f(ValueRef::Str(s));
        }
    }
    fn set(&mut self, v: Value) -> Result<(), SetError> {
        *self = match v {
            Value::Null => None,
            Value::Str(s) => Some(s),
            Value::List(ref items) if items.len() == 1 => {
                return self.set(items.first().cloned().unwrap_or(Value::Null));
            }
            Value::List(_) => return Err(mismatch(FieldKind::Str, &v)),
            other => Some(SmolStr::new(other.to_string())),
        };
        Ok(())
    }
    fn set_ref(&mut self, v: &Value) -> Result<(), SetError> {
        match v {
            Value::Str(s) => {
                *self = Some(s.clone());
                Ok(())
            }
            other => self.set(other.clone()),
        }
    }
    fn clear(&mut self) {
        *self = None;
    }
}

impl Slot for Vec<SmolStr> {
    fn kind(&self) -> FieldKind {
        FieldKind::StrList
    }
    fn is_set(&self) -> bool {
        !self.is_empty()
    }
    fn visit(&self, f: &mut dyn FnMut(ValueRef<'_>)) {
        self.iter().for_each(|s| f(ValueRef::Str(s)));
    }
    fn set(&mut self, v: Value) -> Result<(), SetError> {
        match v {
            Value::Null => self.clear(),
            Value::List(items) => {
                self.clear();
                for item in items {
                    match item {
                        Value::Null => {}
                        Value::Str(s) => self.push(s),
                        other => self.push(SmolStr::new(other.to_string())),
                    }
                }
            }
            Value::Str(s) => *self = vec![s],
            other => *self = vec![SmolStr::new(other.to_string())],
        }
        Ok(())
    }
    fn set_ref(&mut self, v: &Value) -> Result<(), SetError> {
        match v {
            Value::List(items)
                if items
                    .iter()
                    .all(|i| matches!(i, Value::Str(_) | Value::Null)) =>
            {
                self.clear();
                self.extend(items.iter().filter_map(|i| match i {
                    Value::Str(s) => Some(s.clone()),
                    _ => None,
                }));
                Ok(())
            }
            other => self.set(other.clone()),
        }
    }
    fn clear(&mut self) {
        Vec::clear(self);
    }
}

fn parse_int(s: &str) -> Option<i64> {
    let t = s.trim();
    if let Some(hex) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        return i64::from_str_radix(hex, 16).ok();
    }
    t.parse::<i64>().ok().or_else(|| {
        // "12.0" from JSON-ish sources
        t.parse::<f64>()
            .ok()
            .filter(|x| x.fract() == 0.0 && x.abs() < 9.0e18)
            .map(|x| x as i64)
    })
}

macro_rules! int_slot {
    ($t:ty) => {
        impl Slot for Option<$t> {
            fn kind(&self) -> FieldKind {
                FieldKind::Int
            }
            fn is_set(&self) -> bool {
                self.is_some()
            }
            fn visit(&self, f: &mut dyn FnMut(ValueRef<'_>)) {
                if let Some(i) = self {
                    f(ValueRef::Int(i64::from(*i)));
                }
            }
            fn set(&mut self, v: Value) -> Result<(), SetError> {
                let n = match &v {
                    Value::Null => {
                        *self = None;
                        return Ok(());
                    }
                    Value::Int(i) => Some(*i),
                    Value::Float(x) if x.fract() == 0.0 => Some(*x as i64),
                    Value::Str(s) => parse_int(s),
                    Value::Bool(b) => Some(i64::from(*b)),
                    _ => None,
                };
                match n.and_then(|n| <$t>::try_from(n).ok()) {
                    Some(n) => {
                        *self = Some(n);
                        Ok(())
                    }
                    None => Err(mismatch(FieldKind::Int, &v)),
                }
            }
            fn clear(&mut self) {
                *self = None;
            }
        }
    };
}
int_slot!(i64);
int_slot!(u16);
int_slot!(u32);
int_slot!(u8);

impl Slot for Option<f64> {
    fn kind(&self) -> FieldKind {
        FieldKind::Float
    }
    fn is_set(&self) -> bool {
        self.is_some()
    }
    fn visit(&self, f: &mut dyn FnMut(ValueRef<'_>)) {
        if let Some(x) = self {
            f(ValueRef::Float(*x));
        }
    }
    fn set(&mut self, v: Value) -> Result<(), SetError> {
        *self = match &v {
            Value::Null => None,
            Value::Float(x) => Some(*x),
            Value::Int(i) => Some(*i as f64),
            Value::Str(s) => Some(
                s.trim()
                    .parse::<f64>()
                    .map_err(|_| mismatch(FieldKind::Float, &v))?,
            ),
            _ => return Err(mismatch(FieldKind::Float, &v)),
        };
        Ok(())
    }
    fn clear(&mut self) {
        *self = None;
    }
}

impl Slot for Option<bool> {
    fn kind(&self) -> FieldKind {
        FieldKind::Bool
    }
    fn is_set(&self) -> bool {
        self.is_some()
    }
    fn visit(&self, f: &mut dyn FnMut(ValueRef<'_>)) {
        if let Some(b) = self {
            f(ValueRef::Bool(*b));
        }
    }
    fn set(&mut self, v: Value) -> Result<(), SetError> {
        *self = match &v {
            Value::Null => None,
            Value::Bool(b) => Some(*b),
            Value::Int(i) => Some(*i != 0),
            Value::Str(s) => match s.trim().to_ascii_lowercase().as_str() {
                "true" | "yes" | "1" | "on" => Some(true),
                "false" | "no" | "0" | "off" => Some(false),
                _ => return Err(mismatch(FieldKind::Bool, &v)),
            },
            _ => return Err(mismatch(FieldKind::Bool, &v)),
        };
        Ok(())
    }
    fn clear(&mut self) {
        *self = None;
    }
}

/// Parses an IP address, accepting the bracketed and zone forms sources emit
/// (`[::1]`, `fe80::1%eth0`) and IPv4-mapped IPv6 as IPv4.
pub fn parse_ip(s: &str) -> Option<IpAddr> {
    let t = s.trim().trim_start_matches('[').trim_end_matches(']');
    let t = t.split('%').next().unwrap_or(t);
    let ip: IpAddr = t.parse().ok()?;
    Some(match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    })
}

impl Slot for Option<IpAddr> {
    fn kind(&self) -> FieldKind {
        FieldKind::Ip
    }
    fn is_set(&self) -> bool {
        self.is_some()
    }
    fn visit(&self, f: &mut dyn FnMut(ValueRef<'_>)) {
        if let Some(ip) = self {
            f(ValueRef::Ip(*ip));
        }
    }
    fn set(&mut self, v: Value) -> Result<(), SetError> {
        *self = match &v {
            Value::Null => None,
            Value::Ip(ip) => Some(*ip),
            Value::Str(s) => Some(parse_ip(s).ok_or_else(|| mismatch(FieldKind::Ip, &v))?),
            _ => return Err(mismatch(FieldKind::Ip, &v)),
        };
        Ok(())
    }
    fn clear(&mut self) {
        *self = None;
    }
}

impl Slot for Option<Timestamp> {
    fn kind(&self) -> FieldKind {
        FieldKind::Time
    }
    fn is_set(&self) -> bool {
        self.is_some()
    }
    fn visit(&self, f: &mut dyn FnMut(ValueRef<'_>)) {
        if let Some(t) = self {
            f(ValueRef::Time(t.0));
        }
    }
    fn set(&mut self, v: Value) -> Result<(), SetError> {
        *self = match &v {
            Value::Null => None,
            Value::Time(t) => Some(Timestamp(*t)),
            Value::Int(i) => Timestamp::parse(&i.to_string()),
            Value::Str(s) => {
                Some(Timestamp::parse(s).ok_or_else(|| mismatch(FieldKind::Time, &v))?)
            }
            _ => return Err(mismatch(FieldKind::Time, &v)),
        };
        Ok(())
    }
    fn clear(&mut self) {
        *self = None;
    }
}

/// `@timestamp` is always present: a plain [`Timestamp`] slot.
impl Slot for Timestamp {
    fn kind(&self) -> FieldKind {
        FieldKind::Time
    }
    fn is_set(&self) -> bool {
        true
    }
    fn visit(&self, f: &mut dyn FnMut(ValueRef<'_>)) {
        f(ValueRef::Time(self.0));
    }
    fn set(&mut self, v: Value) -> Result<(), SetError> {
        let mut t = None;
        Slot::set(&mut t, v)?;
        if let Some(t) = t {
            *self = t;
        }
        Ok(())
    }
    fn clear(&mut self) {}
}

/// Always-present text (tenant, source id).
impl Slot for SmolStr {
    fn kind(&self) -> FieldKind {
        FieldKind::Str
    }
    fn is_set(&self) -> bool {
        !self.is_empty()
    }
    fn visit(&self, f: &mut dyn FnMut(ValueRef<'_>)) {
        if !self.is_empty() {
            f(ValueRef::Str(self));
        }
    }
    fn set(&mut self, v: Value) -> Result<(), SetError> {
        let mut s: Option<SmolStr> = None;
        Slot::set(&mut s, v)?;
        *self = s.unwrap_or_default();
        Ok(())
    }
    fn clear(&mut self) {
        *self = SmolStr::default();
    }
}
