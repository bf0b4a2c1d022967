//! Behavior tests for the query language: plans, errors, matching, execution, properties.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod errors;
mod exec;
mod matching;
mod plans;
mod props;

use serde_json::Value as Json;
use vigil_query::{Record, ValueRef};

/// A test event built from JSON: arrays are multi-valued fields, `_raw` is the full text.
/// Strings that start with `ip:` are IP values, `t:` RFC 3339 timestamps.
#[derive(Debug)]
pub struct JsonRecord(pub Json);

impl Record for JsonRecord {
    fn values(&self, field: &str, f: &mut dyn FnMut(ValueRef<'_>)) {
        fn visit(v: &Json, f: &mut dyn FnMut(ValueRef<'_>)) {
            match v {
                Json::Null => f(ValueRef::Null),
                Json::Bool(b) => f(ValueRef::Bool(*b)),
                Json::Number(n) => match n.as_i64() {
                    Some(i) => f(ValueRef::Int(i)),
                    None => f(ValueRef::Float(n.as_f64().unwrap_or(0.0))),
                },
                Json::String(s) => {
                    if let Some(ip) = s.strip_prefix("ip:") {
                        f(ValueRef::Ip(ip.parse().unwrap()));
                    } else if let Some(t) = s.strip_prefix("t:") {
                        let ns = chrono::DateTime::parse_from_rfc3339(t)
                            .unwrap()
                            .timestamp_nanos_opt()
                            .unwrap();
                        f(ValueRef::Time(ns));
                    } else {
                        f(ValueRef::Str(s));
                    }
                }
                Json::Array(xs) => xs.iter().for_each(|x| visit(x, f)),
                Json::Object(_) => {}
            }
        }
        if let Some(v) = self.0.get(field) {
            visit(v, f);
        }
    }

    fn text(&self, f: &mut dyn FnMut(&[u8])) {
        if let Some(Json::String(s)) = self.0.get("_raw") {
            f(s.as_bytes());
        }
        if let Some(Json::String(s)) = self.0.get("message") {
            f(s.as_bytes());
        }
    }
}
