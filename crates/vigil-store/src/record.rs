//! [`EventRecord`]: an [`Event`] as the query engine sees it ([`vigil_query::Record`]).

use std::cell::RefCell;

use vigil_event::{Event, FieldId};
use vigil_query::{Record, ValueRef};

/// How a field name resolves for an event: a typed field of the registry (aliases included), or
/// the open maps (`extra`, then `original`).
#[derive(Debug, Clone, Copy)]
enum Resolved {
    Typed(FieldId),
    Dynamic,
}

/// Remembers how the field names of one query resolve, so that scanning a million events does
/// not hash each field name a million times. One per scanning thread (not `Sync`).
#[derive(Debug, Default)]
pub struct FieldCache {
    entries: RefCell<Vec<(Box<str>, Resolved)>>,
}

const CACHE_MAX: usize = 32;

impl FieldCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    fn resolve(&self, name: &str) -> Resolved {
        if let Some(r) = self
            .entries
            .borrow()
            .iter()
            .find(|(n, _)| &**n == name)
            .map(|e| e.1)
        {
            return r;
        }
        let r = match FieldId::lookup(name) {
            Some(id) => Resolved::Typed(id),
            None => Resolved::Dynamic,
        };
        let mut entries = self.entries.borrow_mut();
        if entries.len() < CACHE_MAX {
            entries.push((name.into(), r));
        }
        r
    }
}

/// An event seen as a query [`Record`]: fields by canonical name or alias (`SourceAddress` reads
/// `source.ip`), names outside the typed core from `extra` then `original` (`original.X` only
/// from `original`), and full text = the raw record, then the message.
#[derive(Debug, Clone, Copy)]
pub struct EventRecord<'a> {
    ev: &'a Event,
    cache: Option<&'a FieldCache>,
}

impl<'a> EventRecord<'a> {
    /// A record over `ev` that resolves field names on every call.
    pub fn new(ev: &'a Event) -> Self {
        EventRecord { ev, cache: None }
    }

    /// A record over `ev` that resolves field names through `cache`.
    pub fn with_cache(ev: &'a Event, cache: &'a FieldCache) -> Self {
        EventRecord {
            ev,
            cache: Some(cache),
        }
    }
}

impl Record for EventRecord<'_> {
    fn values(&self, field: &str, f: &mut dyn FnMut(ValueRef<'_>)) {
        let resolved = match self.cache {
            Some(c) => c.resolve(field),
            None => match FieldId::lookup(field) {
                Some(id) => Resolved::Typed(id),
                None => Resolved::Dynamic,
            },
        };
        match resolved {
            Resolved::Typed(id) => id.def().visit(self.ev, f),
            Resolved::Dynamic => self.ev.visit_field(field, f),
        }
    }

    fn text(&self, f: &mut dyn FnMut(&[u8])) {
        f(&self.ev.raw);
        if let Some(m) = &self.ev.message {
            f(m.as_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_query::{CompiledFilter, parse};

    #[test]
    fn aliases_and_text() {
        let mut ev = Event::new(vigil_event::Bytes::from_static(
            b"Failed password for alice",
        ));
        ev.source.ip = Some([10, 0, 0, 1].into());
        ev.extra.insert("custom.x", "y");
        let cache = FieldCache::new();
        for q in [
            "SourceAddress:10.0.0.1",
            "source.ip:10.0.0.0/8",
            "custom.x:Y",
            "password",
            "FAILED",
        ] {
            let f = CompiledFilter::new(&parse(q).expect("parses").filter).expect("compiles");
            assert!(f.matches(&EventRecord::with_cache(&ev, &cache)), "{q}");
            assert!(f.matches(&EventRecord::new(&ev)), "{q}");
        }
        let f = CompiledFilter::new(&parse("bob").expect("parses").filter).expect("compiles");
        assert!(!f.matches(&EventRecord::new(&ev)));
    }
}
