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
            return Err(format!(
                "{query}\na filter takes a search expression without `| stages`"
            ));
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
                probe
                    .set(field, value.clone())
                    .map_err(|e| format!("{field}: {e}"))?;
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
                        if !target_set && let Some(v) = ev.get(from) {
                            let _ = ev.set(to, v);
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
        let mut batch = vec![
            ev("sshd", "10.0.0.1"),
            ev("CRON", "10.0.0.2"),
            ev("sshd", "192.168.1.1"),
        ];
        QueryFilter::new("NOT process.name:CRON", true)
            .unwrap()
            .transform(&mut batch);
        assert_eq!(batch.len(), 2);
        QueryFilter::new("SourceAddress:192.168.0.0/16", false)
            .unwrap()
            .transform(&mut batch);
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
        assert!(
            Enrichment::new(vec![Enrich::Set("source.port".into(), Value::from("http"))]).is_err()
        );
    }
}

/// An aggregation rule (KUMA: aggregation rule): events matching `when` with the same values of
/// the `identical` fields within `window` are folded into one event of type `aggregated`,
/// holding the first event's fields, the count (`vigil.aggregated.count`), the time span
/// (`event.start`, `event.end`) and the sums of the `sum` fields.
#[derive(Debug)]
pub struct AggregationRule {
    /// Rule name, recorded in `vigil.aggregated.rule`.
    pub name: String,
    /// Which events the rule takes; `None` takes all.
    pub when: Option<CompiledFilter>,
    /// Fields whose values must be identical for events to fold together.
    pub identical: Vec<String>,
    /// How long a bucket stays open after its first event.
    pub window: std::time::Duration,
    /// Numeric fields summed over the bucket.
    pub sum: Vec<String>,
}

impl AggregationRule {
    /// A rule; `when` is a query (empty for all events).
    pub fn new(
        name: &str,
        when: &str,
        identical: Vec<String>,
        window: std::time::Duration,
        sum: Vec<String>,
    ) -> Result<AggregationRule, String> {
        let when = if when.trim().is_empty() {
            None
        } else {
            let parsed = parse_query(when).map_err(|e| e.render(when))?;
            Some(CompiledFilter::new(&parsed.filter).map_err(|e| e.render(when))?)
        };
        if identical.is_empty() {
            return Err("identical: name at least one field".into());
        }
        if window.is_zero() {
            return Err("window must be more than 0".into());
        }
        Ok(AggregationRule {
            name: name.to_owned(),
            when,
            identical,
            window,
            sum,
        })
    }
}

#[derive(Debug)]
struct Bucket {
    first: Event,
    opened: std::time::Instant,
    count: u64,
    last_ts: vigil_event::Timestamp,
    sums: Vec<f64>,
}

/// Most open buckets across rules; beyond it the oldest is emitted early (never dropped).
pub const MAX_AGGREGATION_BUCKETS: usize = 100_000;

/// Runs aggregation rules in order; an event is taken by the first rule that matches it.
#[derive(Debug)]
pub struct Aggregation {
    rules: Vec<AggregationRule>,
    buckets: std::collections::HashMap<(usize, Vec<String>), Bucket>,
}

impl Aggregation {
    /// An aggregation over `rules`.
    pub fn new(rules: Vec<AggregationRule>) -> Aggregation {
        Aggregation {
            rules,
            buckets: std::collections::HashMap::new(),
        }
    }

    fn key(ev: &Event, fields: &[String]) -> Vec<String> {
        fields
            .iter()
            .map(|f| {
                let mut s = String::new();
                ev.visit_field(f, &mut |v| {
                    if !s.is_empty() {
                        s.push('\u{1f}');
                    }
                    s.push_str(&v.to_string());
                });
                s
            })
            .collect()
    }

    fn emit(rule: &AggregationRule, b: Bucket) -> Event {
        let mut ev = b.first;
        ev.meta.kind = vigil_event::EventType::Aggregated;
        ev.event.start = Some(ev.timestamp);
        ev.event.end = Some(b.last_ts);
        ev.extra
            .insert("vigil.aggregated.count", Value::Int(b.count as i64));
        ev.extra
            .insert("vigil.aggregated.rule", Value::from(rule.name.as_str()));
        for (f, total) in rule.sum.iter().zip(b.sums) {
            let v = if total.fract() == 0.0 && total.abs() < 9.0e18 {
                Value::Int(total as i64)
            } else {
                Value::Float(total)
            };
            let _ = ev.set(f, v);
        }
        ev
    }

    fn numeric(ev: &Event, f: &str) -> f64 {
        let mut x = 0.0;
        ev.visit_field(f, &mut |v| match v {
            vigil_event::ValueRef::Int(i) => x += i as f64,
            vigil_event::ValueRef::Float(y) => x += y,
            vigil_event::ValueRef::Str(s) => x += s.trim().parse::<f64>().unwrap_or(0.0),
            _ => {}
        });
        x
    }

    fn evict_oldest(&mut self, out: &mut Vec<Event>) {
        let oldest = self
            .buckets
            .iter()
            .min_by_key(|(_, b)| b.opened)
            .map(|(k, _)| k.clone());
        if let Some(k) = oldest
            && let Some(b) = self.buckets.remove(&k)
            && let Some(rule) = self.rules.get(k.0)
        {
            out.push(Self::emit(rule, b));
        }
    }
}

impl Transform for Aggregation {
    fn transform(&mut self, events: &mut Vec<Event>) {
        let now = std::time::Instant::now();
        let mut passed = Vec::with_capacity(events.len());
        let mut early = Vec::new();
        for ev in events.drain(..) {
            let Some(ri) = self
                .rules
                .iter()
                .position(|r| r.when.as_ref().is_none_or(|f| f.matches(&ev)))
            else {
                passed.push(ev);
                continue;
            };
            let rule = &self.rules[ri];
            let key = (ri, Self::key(&ev, &rule.identical));
            let sums: Vec<f64> = rule.sum.iter().map(|f| Self::numeric(&ev, f)).collect();
            match self.buckets.get_mut(&key) {
                Some(b) => {
                    b.count += 1;
                    b.last_ts = b.last_ts.max(ev.timestamp);
                    for (acc, x) in b.sums.iter_mut().zip(sums) {
                        *acc += x;
                    }
                }
                None => {
                    if self.buckets.len() >= MAX_AGGREGATION_BUCKETS {
                        self.evict_oldest(&mut early);
                    }
                    let last_ts = ev.timestamp;
                    self.buckets.insert(
                        key,
                        Bucket {
                            first: ev,
                            opened: now,
                            count: 1,
                            last_ts,
                            sums,
                        },
                    );
                }
            }
        }
        passed.append(&mut early);
        *events = passed;
    }

    fn tick(&mut self, now: std::time::Instant, out: &mut Vec<Event>) {
        let due: Vec<(usize, Vec<String>)> = self
            .buckets
            .iter()
            .filter(|((ri, _), b)| {
                self.rules
                    .get(*ri)
                    .is_some_and(|r| now.duration_since(b.opened) >= r.window)
            })
            .map(|(k, _)| k.clone())
            .collect();
        for k in due {
            if let (Some(b), Some(rule)) = (self.buckets.remove(&k), self.rules.get(k.0)) {
                out.push(Self::emit(rule, b));
            }
        }
    }

    fn flush(&mut self, out: &mut Vec<Event>) {
        for (k, b) in self.buckets.drain() {
            if let Some(rule) = self.rules.get(k.0) {
                out.push(Self::emit(rule, b));
            }
        }
    }
}

#[cfg(test)]
mod aggregation_tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn fw(src: &str, bytes: i64) -> Event {
        let mut e = Event::default();
        e.observer.product = Some("ufw".into());
        e.source.ip = Some(src.parse().unwrap());
        e.destination.port = Some(23);
        e.source.bytes = Some(bytes);
        e
    }

    #[test]
    fn identical_events_fold_within_the_window_and_others_pass() {
        let rule = AggregationRule::new(
            "fw-noise",
            "observer.product:ufw",
            vec!["source.ip".into(), "destination.port".into()],
            Duration::from_secs(60),
            vec!["source.bytes".into()],
        )
        .unwrap();
        let mut agg = Aggregation::new(vec![rule]);
        let mut other = Event::default();
        other.process.name = Some("sshd".into());
        let mut batch = vec![
            fw("10.0.0.1", 40),
            fw("10.0.0.1", 60),
            fw("10.0.0.2", 1),
            other,
        ];
        agg.transform(&mut batch);
        assert_eq!(batch.len(), 1, "only the non-matching event passes at once");
        let mut out = Vec::new();
        agg.tick(Instant::now(), &mut out);
        assert!(out.is_empty(), "the window is still open");
        agg.tick(Instant::now() + Duration::from_secs(61), &mut out);
        assert_eq!(out.len(), 2);
        let a = out
            .iter()
            .find(|e| e.source.ip == Some("10.0.0.1".parse().unwrap()))
            .unwrap();
        assert_eq!(a.meta.kind, vigil_event::EventType::Aggregated);
        assert_eq!(a.extra.get("vigil.aggregated.count"), Some(&Value::Int(2)));
        assert_eq!(a.source.bytes, Some(100));
        let mut rest = Vec::new();
        agg.flush(&mut rest);
        assert!(rest.is_empty());
    }

    #[test]
    fn shutdown_flushes_open_buckets() {
        let rule = AggregationRule::new(
            "all",
            "",
            vec!["source.ip".into()],
            Duration::from_secs(600),
            vec![],
        )
        .unwrap();
        let mut agg = Aggregation::new(vec![rule]);
        let mut batch = vec![fw("10.0.0.1", 1), fw("10.0.0.1", 1)];
        agg.transform(&mut batch);
        let mut out = Vec::new();
        agg.flush(&mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(
            out[0].extra.get("vigil.aggregated.count"),
            Some(&Value::Int(2))
        );
        assert!(AggregationRule::new("x", "", vec![], Duration::from_secs(1), vec![]).is_err());
    }
}
