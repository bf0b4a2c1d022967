//! [`FieldMap`]: a small insertion-ordered map of dotted names to values.
//!
//! Events carry a handful of extra fields, so a vector with linear lookup beats a hash map on
//! every count that matters, keeps the source's order for output, and serializes compactly.

use serde::{Deserialize, Serialize};
use smol_str::SmolStr;

use crate::Value;

/// Insertion-ordered name → value map.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct FieldMap(Vec<(SmolStr, Value)>);

impl FieldMap {
    /// An empty map.
    pub fn new() -> FieldMap {
        FieldMap(Vec::new())
    }

    /// The value for `name`.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }

    /// Inserts or replaces `name`.
    pub fn insert(&mut self, name: impl Into<SmolStr>, v: impl Into<Value>) {
        let name = name.into();
        let v = v.into();
        match self.0.iter_mut().find(|(k, _)| *k == name) {
            Some(slot) => slot.1 = v,
            None => self.0.push((name, v)),
        }
    }

    /// Appends without checking for an existing key (for parsers that know keys are unique or
    /// want duplicates kept, e.g. repeated KV keys).
    pub fn push(&mut self, name: impl Into<SmolStr>, v: impl Into<Value>) {
        self.0.push((name.into(), v.into()));
    }

    /// Removes `name`, returning its value.
    pub fn remove(&mut self, name: &str) -> Option<Value> {
        let i = self.0.iter().position(|(k, _)| k == name)?;
        Some(self.0.remove(i).1)
    }

    /// Entries in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the map is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Makes room for `additional` more entries (one allocation instead of several as they
    /// are pushed).
    pub fn reserve(&mut self, additional: usize) {
        self.0.reserve(additional);
    }

    /// Removes every entry.
    pub fn clear(&mut self) {
        self.0.clear();
    }
}

impl<K: Into<SmolStr>, V: Into<Value>> FromIterator<(K, V)> for FieldMap {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut m = FieldMap::new();
        for (k, v) in iter {
            m.insert(k, v);
        }
        m
    }
}
