//! JSON output of an event: nested ECS objects holding only the fields that are set.

use serde_json::{Map, Value as Json};

use crate::{Event, schema};

fn insert_path(root: &mut Map<String, Json>, path: &str, v: Json) {
    match path.split_once('.') {
        None => {
            root.insert(path.to_owned(), v);
        }
        Some((head, rest)) => {
            if !matches!(root.get(head), None | Some(Json::Object(_))) {
                // a scalar already sits where an object is needed: keep this one flat
                root.insert(path.to_owned(), v);
                return;
            }
            let entry = root
                .entry(head.to_owned())
                .or_insert_with(|| Json::Object(Map::new()));
            if let Json::Object(m) = entry {
                insert_path(m, rest, v);
            }
        }
    }
}

impl Event {
    /// The event as nested ECS JSON: every set field, `vigil.*` metadata, the source's
    /// original fields under `original`, and the raw record as `event.original`.
    pub fn to_json(&self) -> Json {
        let mut root = Map::new();
        for def in schema::fields() {
            let mut vals = Vec::new();
            def.visit(self, &mut |v| vals.push(v.to_json()));
            let list = matches!(def.kind(), crate::FieldKind::StrList);
            match (vals.len(), list) {
                (0, _) => {}
                (1, false) => insert_path(&mut root, def.name, vals.pop().unwrap_or(Json::Null)),
                _ => insert_path(&mut root, def.name, Json::Array(vals)),
            }
        }
        for (k, v) in self.extra.iter() {
            insert_path(&mut root, k, v.to_json());
        }
        if !self.original.is_empty() {
            let orig: Map<String, Json> = self
                .original
                .iter()
                .map(|(k, v)| (k.to_owned(), v.to_json()))
                .collect();
            root.insert("original".into(), Json::Object(orig));
        }
        if !self.raw.is_empty() {
            insert_path(
                &mut root,
                "event.original",
                Json::String(self.raw_str().into_owned()),
            );
        }
        Json::Object(root)
    }

    /// A flat view: canonical dotted name → value, for CSV and table output.
    pub fn flat_fields(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for def in schema::fields() {
            let mut vals: Vec<String> = Vec::new();
            def.visit(self, &mut |v| vals.push(v.to_string()));
            if !vals.is_empty() {
                out.push((def.name.to_owned(), vals.join(",")));
            }
        }
        for (k, v) in self.extra.iter() {
            out.push((k.to_owned(), v.to_string()));
        }
        out
    }
}
