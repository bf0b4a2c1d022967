//! The built-in transforms of the chain: filters (KUMA: filter) and enrichment rules.
//! Both are plain functions over a batch.

use vigil_event::query::parse_query;
use vigil_event::{Event, FieldId, Value};
use vigil_query::CompiledFilter;

use crate::Transform;

/// Keeps (or drops) the events matching a query.
#[derive(Debug)]
pub struct QueryFilter {
    filter: CompiledFilter,
    keep: bool,
}

impl QueryFilter {
    /// Compiles `query`; `keep` keeps matching events, otherwise they are dropped. The error
    /// renders the query with a caret under the mistake.
    pub fn new(query: &str, keep: bool) -> Result<QueryFilter, String> {
        let parsed = parse_query(query).map_err(|e| e.render(query))?;
        if !parsed.stages.is_empty() {
            return Err(format!("{query}\na filter takes a search expression without `| stages`"));
        }
        let filter = CompiledFilter::new(&parsed.filter).map_err(|e| e.render(query))?;
        Ok(QueryFilter { filter, keep })
    }
}

impl Transform for QueryFilter {
    fn transform(&mut self, events: &mut Vec<Event>) {
        let keep = self.keep;
        events.retain(|e| self.filter.matches(e) == keep);
    }
}

/// One enrichment step.
#[derive(Debug, Clone)]
pub enum Enrich {
    /// Set a field to a constant (already converted to the field's type).
    Set(String, Value),
    /// Copy a field into another when the target is empty.
    Copy(String, String),
}

/// Applies enrichment steps in order.
#[derive(Debug)]
pub struct Enrichment {
    steps: Vec<Enrich>,
}

impl Enrichment {
    /// Checks the steps: a constant must convert to its field's type.
    pub fn new(steps: Vec<Enrich>) -> Result<Enrichment, String> {
        let mut probe = Event::default();
        for s in &steps {
            if let Enrich::Set(field, value) = s {
                probe.set(field, value.clone()).map_err(|e| format!("{field}: {e}"))?;
            }
        }
        Ok(Enrichment { steps })
    }
}

impl Transform for Enrichment {
    fn transform(&mut self, events: &mut Vec<Event>) {
        for ev in events.iter_mut() {
            for s in &self.steps {
                match s {
                    Enrich::Set(field, value) => {
                        // checked in new(): cannot fail
                        let _ = ev.set(field, value.clone());
                    }
                    Enrich::Copy(from, to) => {
                        let target_set = match FieldId::lookup(to) {
                            Some(id) => id.def().is_set(ev),
                            None => ev.extra.get(to).is_some(),
                        };
                        if !target_set {
                            if let Some(v) = ev.get(from) {
                                let _ = ev.set(to, v);
                            }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(program: &str, ip: &str) -> Event {
        let mut e = Event::default();
        e.process.name = Some(program.into());
        e.source.ip = Some(ip.parse().unwrap());
        e
    }

    #[test]
    fn filters_keep_or_drop() {
        let mut batch = vec![ev("sshd", "10.0.0.1"), ev("CRON", "10.0.0.2"), ev("sshd", "192.168.1.1")];
        QueryFilter::new("NOT process.name:CRON", true).unwrap().transform(&mut batch);
        assert_eq!(batch.len(), 2);
        QueryFilter::new("SourceAddress:192.168.0.0/16", false).unwrap().transform(&mut batch);
        assert_eq!(batch.len(), 1);
        let err = QueryFilter::new("source.ip:", true).unwrap_err();
        assert!(err.contains('^'), "{err}");
    }

    #[test]
    fn enrichment_sets_and_copies() {
        let mut batch = vec![ev("sshd", "10.0.0.1")];
        Enrichment::new(vec![
            Enrich::Set("observer.name".into(), Value::from("dc1")),
            Enrich::Copy("source.ip".into(), "host.ip".into()),
            Enrich::Set("site".into(), Value::from("berlin")),
        ])
        .unwrap()
        .transform(&mut batch);
        assert_eq!(batch[0].observer.name.as_deref(), Some("dc1"));
        assert_eq!(batch[0].host.ip, batch[0].source.ip);
        assert_eq!(batch[0].get("site"), Some(Value::from("berlin")));
        assert!(Enrichment::new(vec![Enrich::Set("source.port".into(), Value::from("http"))]).is_err());
    }
}
