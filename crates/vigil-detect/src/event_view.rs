//! The Sigma view of Vigil's event model (feature `event`): how live detection hands a
//! `vigil_event::Event` to the engine.

use vigil_event::{Event, ValueRef};

use crate::{FieldValue, SigmaEvent};

/// An event as the Sigma engine sees it: the source's own field names first (Windows
/// `EventData`, CEF keys), then Vigil's names and aliases.
#[derive(Debug, Clone, Copy)]
pub struct SigmaView<'a>(pub &'a Event);

fn with_value(v: ValueRef<'_>, f: &mut dyn FnMut(FieldValue<'_>)) {
    match v {
        ValueRef::Null => f(FieldValue::Null),
        ValueRef::Str(s) => f(FieldValue::Str(s)),
        ValueRef::Int(i) => f(FieldValue::Int(i)),
        ValueRef::Float(x) => f(FieldValue::Float(x)),
        ValueRef::Bool(b) => f(FieldValue::Bool(b)),
        ValueRef::Ip(ip) => f(FieldValue::Str(&ip.to_string())),
        ValueRef::Time(t) => f(FieldValue::Str(&vigil_event::Timestamp(t).to_rfc3339())),
    }
}

impl SigmaEvent for SigmaView<'_> {
    fn field(&self, name: &str, f: &mut dyn FnMut(FieldValue<'_>)) {
        if let Some(v) = self.0.original.get(name) {
            v.visit(&mut |x| with_value(x, f));
            return;
        }
        self.0.visit_field(name, &mut |x| with_value(x, f));
    }

    fn all_values(&self, f: &mut dyn FnMut(&str)) {
        let ev = self.0;
        f(&ev.raw_str());
        if let Some(m) = &ev.message {
            f(m);
        }
        for (_, v) in ev.original.iter().chain(ev.extra.iter()) {
            v.visit(&mut |x| {
                if let ValueRef::Str(s) = x {
                    f(s)
                }
            });
        }
    }
}
