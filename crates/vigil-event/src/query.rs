//! The bridge to the query language (feature `query`): events are [`vigil_query::Record`]s,
//! and [`EventSchema`] tells the parser every field's type and KUMA's aliases.

use vigil_query::{FieldType, Record, Schema};

use crate::{Event, FieldId, FieldKind, ValueRef};

/// The query type of a field kind.
pub fn query_type(kind: FieldKind) -> FieldType {
    match kind {
        FieldKind::Str | FieldKind::StrList => FieldType::String,
        FieldKind::Int => FieldType::Int,
        FieldKind::Float => FieldType::Float,
        FieldKind::Ip => FieldType::Ip,
        FieldKind::Time => FieldType::Time,
        FieldKind::Bool => FieldType::Bool,
    }
}

impl Record for Event {
    fn values(&self, field: &str, f: &mut dyn FnMut(ValueRef<'_>)) {
        self.visit_field(field, f);
    }

    fn text(&self, f: &mut dyn FnMut(&[u8])) {
        f(&self.raw);
        if let Some(m) = &self.message {
            // the message is normally a slice of the raw line; search it separately only when
            // it is not (a normalizer rewrote it)
            if memchr_contains(&self.raw, m.as_bytes()) {
                return;
            }
            f(m.as_bytes());
        }
    }
}

fn memchr_contains(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || hay.windows(needle.len()).any(|w| w == needle)
}

/// The event schema for the query parser: aliases (KUMA names, short forms) and field types.
#[derive(Debug, Clone, Copy, Default)]
pub struct EventSchema;

impl Schema for EventSchema {
    fn resolve(&self, name: &str) -> Option<String> {
        FieldId::lookup(name)
            .map(|id| id.name().to_owned())
            .filter(|c| c != name)
    }

    fn field_type(&self, name: &str) -> Option<FieldType> {
        FieldId::lookup(name).map(|id| query_type(id.def().kind()))
    }
}

/// Parses a query against the event schema.
pub fn parse_query(q: &str) -> Result<vigil_query::Query, vigil_query::QueryError> {
    vigil_query::parse_with(q, &EventSchema)
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_query::CompiledFilter;

    #[test]
    fn queries_match_events_through_aliases_and_types() {
        let mut ev = Event::new(bytes::Bytes::from_static(b"<38>Nov 22 07:23:36 web01 sshd[1]: Failed password for root from 10.1.2.3 port 22 ssh2"));
        ev.source.ip = Some("10.1.2.3".parse().unwrap());
        ev.process.name = Some("sshd".into());
        ev.source.port = Some(22);
        for (q, want) in [
            ("SourceAddress:10.0.0.0/8", true),
            ("source.ip:192.168.0.0/16", false),
            ("process.name:sshd AND \"failed password\"", true),
            ("source.port>=1024", false),
            ("NOT program:sshd", false),
        ] {
            let parsed = parse_query(q).unwrap_or_else(|e| panic!("{q}: {}", e.render(q)));
            let f = CompiledFilter::new(&parsed.filter).unwrap();
            assert_eq!(f.matches(&ev), want, "{q}");
        }
        assert!(parse_query("source.ip:notanip").is_err());
    }
}
