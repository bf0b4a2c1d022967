//! Event access: the [`SigmaEvent`] trait the engine reads events through, its
//! implementation for `serde_json::Value`, and the EVTX-JSON flattener.

use serde_json::{Map, Value};

/// One value of an event field, borrowed from the event.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FieldValue<'a> {
    /// A string.
    Str(&'a str),
    /// An integer.
    Int(i64),
    /// A floating point number.
    Float(f64),
    /// A boolean.
    Bool(bool),
    /// An explicit null.
    Null,
}

/// How the engine reads an event. Implemented by the event model of the caller, so this crate
/// does not depend on it.
pub trait SigmaEvent {
    /// Visit the value(s) of a field by name (after field mapping). Absent: do not call `f`.
    fn field(&self, name: &str, f: &mut dyn FnMut(FieldValue<'_>));
    /// Visit every string value (for keyword detections and the literal prefilter).
    /// Numbers and booleans need not be visited.
    fn all_values(&self, f: &mut dyn FnMut(&str));
}

fn visit_json(v: &Value, f: &mut dyn FnMut(FieldValue<'_>)) {
    match v {
        Value::String(s) => f(FieldValue::Str(s)),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                f(FieldValue::Int(i))
            } else if let Some(x) = n.as_f64() {
                f(FieldValue::Float(x))
            }
        }
        Value::Bool(b) => f(FieldValue::Bool(*b)),
        Value::Null => f(FieldValue::Null),
        Value::Array(a) => {
            for x in a {
                // Nested arrays and objects inside arrays are not field values.
                if !matches!(x, Value::Array(_) | Value::Object(_)) {
                    visit_json(x, f)
                }
            }
        }
        Value::Object(_) => {}
    }
}

fn lookup_json<'a>(obj: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    if let Some(v) = obj.get(name) {
        return Some(v);
    }
    // Dotted names walk nested objects: `a.b.c` is tried as `a` → `b.c`, `a.b` → `c`, ...
    let mut start = 0;
    while let Some(pos) = name[start..].find('.') {
        let split = start + pos;
        if let Some(Value::Object(inner)) = obj.get(&name[..split])
            && let Some(v) = lookup_json(inner, &name[split + 1..])
        {
            return Some(v);
        }
        start = split + 1;
    }
    None
}

fn all_json(v: &Value, depth: usize, f: &mut dyn FnMut(&str)) {
    if depth > 64 {
        return;
    }
    match v {
        Value::String(s) => f(s),
        Value::Array(a) => a.iter().for_each(|x| all_json(x, depth + 1, f)),
        Value::Object(o) => o.values().for_each(|x| all_json(x, depth + 1, f)),
        _ => {}
    }
}

/// A JSON object is an event: top-level keys are field names; dotted names also reach nested
/// objects (`process.name` finds `{"process": {"name": ..}}`); arrays give several values.
impl SigmaEvent for Value {
    fn field(&self, name: &str, f: &mut dyn FnMut(FieldValue<'_>)) {
        if let Value::Object(obj) = self
            && let Some(v) = lookup_json(obj, name)
        {
            visit_json(v, f)
        }
    }
    fn all_values(&self, f: &mut dyn FnMut(&str)) {
        all_json(self, 0, f)
    }
}

impl SigmaEvent for Map<String, Value> {
    fn field(&self, name: &str, f: &mut dyn FnMut(FieldValue<'_>)) {
        if let Some(v) = lookup_json(self, name) {
            visit_json(v, f)
        }
    }
    fn all_values(&self, f: &mut dyn FnMut(&str)) {
        self.values().for_each(|x| all_json(x, 0, f))
    }
}

/// Unwrap evtx_dump's `{"#attributes": {..}, "#text": v}` convention to `v`.
fn text_of(v: &Value) -> Option<&Value> {
    match v {
        Value::Object(o) => o.get("#text"),
        _ => Some(v),
    }
}

/// Turn an evtx_dump-style JSON record (`{"Event": {"System": {..}, "EventData": {..}}}`)
/// into the flat Windows field view Sigma rules expect: `EventData` / `UserData` fields at the
/// top level, plus the `System` fields `EventID`, `Channel`, `Provider_Name`, `Provider_Guid`,
/// `Computer`, `Level`, `Task`, `Opcode`, `Keywords`, `EventRecordID`, `TimeCreated`
/// (`SystemTime`), `ProcessID`, `ThreadID`, `UserID` (Security). Unnamed `Data` items stay
/// as a multi-valued `Data` field; spaces are removed from data field names (`Threat Name`
/// → `ThreatName`). A record that is not of that shape is returned unchanged.
pub fn flatten_evtx_json(record: &Value) -> Value {
    let Some(event) = record.get("Event").and_then(Value::as_object) else {
        return record.clone();
    };
    let mut out = Map::new();
    if let Some(sys) = event.get("System").and_then(Value::as_object) {
        for (k, v) in sys {
            match (k.as_str(), v) {
                ("Provider", Value::Object(p)) => {
                    if let Some(Value::Object(a)) = p.get("#attributes") {
                        for (ak, av) in a {
                            out.insert(format!("Provider_{ak}"), av.clone());
                        }
                    }
                }
                ("TimeCreated", Value::Object(p)) => {
                    if let Some(t) = p.get("#attributes").and_then(|a| a.get("SystemTime")) {
                        out.insert("TimeCreated".into(), t.clone());
                    }
                }
                (_, Value::Object(p)) => {
                    if let Some(t) = p.get("#text") {
                        out.insert(k.clone(), t.clone());
                    }
                    if let Some(Value::Object(a)) = p.get("#attributes") {
                        for (ak, av) in a {
                            out.entry(ak.clone()).or_insert_with(|| av.clone());
                        }
                    }
                }
                (_, v) => {
                    out.insert(k.clone(), v.clone());
                }
            }
        }
    }
    for section in ["EventData", "UserData"] {
        let Some(data) = event.get(section) else {
            continue;
        };
        let data = match (section, data) {
            // UserData wraps its fields in one element named after the event template.
            ("UserData", Value::Object(o)) if o.len() == 1 => {
                o.values().next().unwrap_or(&Value::Null)
            }
            _ => data,
        };
        flatten_data(data, &mut out);
    }
    Value::Object(out)
}

fn flatten_data(data: &Value, out: &mut Map<String, Value>) {
    match data {
        Value::Object(o) => {
            for (k, v) in o {
                if k == "#attributes" {
                    continue;
                }
                if k == "Data" {
                    flatten_data_items(v, out);
                    continue;
                }
                if let Some(t) = text_of(v) {
                    out.insert(field_name(k), t.clone());
                }
            }
        }
        Value::Null => {}
        other => {
            out.insert("Data".into(), other.clone());
        }
    }
}

/// Event data names with spaces (Defender's `Threat Name`) are used without them
/// (`ThreatName`), as Sigma rules and THOR expect.
fn field_name(k: &str) -> String {
    if k.contains(' ') {
        k.replace(' ', "")
    } else {
        k.to_string()
    }
}

/// `Data` items: `{"#attributes": {"Name": n}, "#text": v}` become field `n`; unnamed
/// values are collected in `Data`.
fn flatten_data_items(v: &Value, out: &mut Map<String, Value>) {
    let items: Vec<&Value> = match v {
        Value::Array(a) => a.iter().collect(),
        other => vec![other],
    };
    let mut unnamed = Vec::new();
    for item in items {
        let name = item
            .get("#attributes")
            .and_then(|a| a.get("Name"))
            .and_then(Value::as_str);
        match name {
            Some(n) => {
                let t = item.get("#text").cloned().unwrap_or(Value::Null);
                out.insert(field_name(n), t);
            }
            None => {
                if let Some(t) = text_of(item) {
                    unnamed.push(t.clone());
                }
            }
        }
    }
    if !unnamed.is_empty() {
        let v = if unnamed.len() == 1 {
            unnamed.pop().unwrap_or(Value::Null)
        } else {
            Value::Array(unnamed)
        };
        out.insert("Data".into(), v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn values(ev: &dyn SigmaEvent, name: &str) -> Vec<String> {
        let mut out = Vec::new();
        ev.field(name, &mut |v| out.push(format!("{v:?}")));
        out
    }

    #[test]
    fn json_flat_nested_and_dotted() {
        let ev = json!({"a": "x", "n": {"b": 3, "c": [1, "y"]}, "d.e": true});
        assert_eq!(values(&ev, "a"), ["Str(\"x\")"]);
        assert_eq!(values(&ev, "n.b"), ["Int(3)"]);
        assert_eq!(values(&ev, "n.c"), ["Int(1)", "Str(\"y\")"]);
        assert_eq!(values(&ev, "d.e"), ["Bool(true)"]);
        assert!(values(&ev, "zz").is_empty());
    }

    #[test]
    fn evtx_flattening() {
        let rec = json!({"Event": {"System": {"EventID": {"#attributes": {"Qualifiers": 0}, "#text": 4688},
            "Provider": {"#attributes": {"Name": "P"}}, "Channel": "Security",
            "TimeCreated": {"#attributes": {"SystemTime": "2020-01-01T00:00:00Z"}}},
            "EventData": {"Data": [{"#attributes": {"Name": "NewProcessName"}, "#text": "C:\\a.exe"}, "free"]}}});
        let flat = flatten_evtx_json(&rec);
        assert_eq!(flat["EventID"], json!(4688));
        assert_eq!(flat["Provider_Name"], json!("P"));
        assert_eq!(flat["NewProcessName"], json!("C:\\a.exe"));
        assert_eq!(flat["Data"], json!("free"));
        assert_eq!(flat["TimeCreated"], json!("2020-01-01T00:00:00Z"));
    }
}
