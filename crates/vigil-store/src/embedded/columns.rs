//! Keyword columns: per block (a memtable block, or a segment's row group read from its
//! Parquet dictionary columns, or byte columns for IP fields), the values of the [`KEYWORD_FIELDS`] as a small value list plus
//! one id per event (0 = absent, i = value i-1). Aggregations and filters that touch only these
//! fields (and `@timestamp`) run over the columns without decoding events: `| count by
//! process.name` reads a few bytes per event instead of decoding ~500.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::net::IpAddr;

use vigil_event::{FieldId, FieldKind};
use vigil_query::{Expr, Query, Record, Stage, Term, ValueRef};

use super::index::{BytesHasher, KEYWORD_FIELDS};

/// A column value, typed like the event field it comes from.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ColValue {
    Str(Box<str>),
    Ip(IpAddr),
    Int(i64),
}

impl ColValue {
    pub(crate) fn parse(kind: FieldKind, s: &str) -> Option<ColValue> {
        Some(match kind {
            FieldKind::Ip => ColValue::Ip(s.parse().ok()?),
            FieldKind::Int => ColValue::Int(s.parse().ok()?),
            _ => ColValue::Str(s.into()),
        })
    }

    fn as_ref(&self) -> ValueRef<'_> {
        match self {
            ColValue::Str(s) => ValueRef::Str(s),
            ColValue::Ip(ip) => ValueRef::Ip(*ip),
            ColValue::Int(i) => ValueRef::Int(*i),
        }
    }
}

/// The field kinds of [`KEYWORD_FIELDS`], `None` for a field that is not single-valued
/// keyword-like (never stored as a column).
pub(crate) fn kinds() -> [Option<FieldKind>; KEYWORD_FIELDS.len()] {
    let mut out = [None; KEYWORD_FIELDS.len()];
    for (i, n) in KEYWORD_FIELDS.iter().enumerate() {
        out[i] = FieldId::lookup(n)
            .map(|id| id.def().kind())
            .filter(|k| matches!(k, FieldKind::Str | FieldKind::Ip | FieldKind::Int));
    }
    out
}

/// One column of a block.
#[derive(Debug, Clone, Default)]
pub(crate) struct Col {
    pub vals: Vec<ColValue>,
    pub ids: Vec<u32>,
}

/// The columns of one block (absent fields have no values).
#[derive(Debug, Clone, Default)]
pub(crate) struct Columns {
    pub cols: Vec<Col>,
    pub ts: Vec<i64>,
}

/// Bytes a dictionary of `n` slots of `slot` bytes holds (hashbrown's table, 7/8 full at most).
fn table_bytes(capacity: usize, slot: usize) -> usize {
    if capacity == 0 {
        return 0;
    }
    (capacity * 8).div_ceil(7).next_power_of_two() * (slot + 1)
}

fn value_heap(v: &ColValue) -> usize {
    match v {
        ColValue::Str(s) => s.len(),
        ColValue::Ip(_) | ColValue::Int(_) => 0,
    }
}

impl Columns {
    /// Bytes the columns hold on the heap.
    pub(crate) fn mem_bytes(&self) -> usize {
        self.ts.capacity() * 8
            + self
                .cols
                .iter()
                .map(|c| {
                    c.ids.capacity() * 4
                        + c.vals.capacity() * std::mem::size_of::<ColValue>()
                        + c.vals.iter().map(value_heap).sum::<usize>()
                })
                .sum::<usize>()
    }

    pub(crate) fn value(&self, field: usize, i: usize) -> Option<&ColValue> {
        let c = self.cols.get(field)?;
        let id = *c.ids.get(i)? as usize;
        if id == 0 { None } else { c.vals.get(id - 1) }
    }
}

/// Builds a block's columns as events arrive.
#[derive(Debug, Clone, Default)]
pub(crate) struct ColumnsBuilder {
    pub cols: Columns,
    dicts: Vec<HashMap<Box<str>, u32, BuildHasherDefault<BytesHasher>>>,
    /// Bytes of the distinct values (each held twice: in `cols` and as a dictionary key).
    text_bytes: usize,
}

impl ColumnsBuilder {
    /// Adds event `i` (events arrive in order) with its `(field, display value)` pairs.
    pub(crate) fn push(&mut self, i: usize, values: &[(u8, &str)]) {
        if self.dicts.is_empty() {
            self.dicts = vec![HashMap::default(); KEYWORD_FIELDS.len()];
            self.cols.cols = vec![Col::default(); KEYWORD_FIELDS.len()];
        }
        let kinds = KINDS.get_or_init(kinds);
        for &(f, s) in values {
            let f = f as usize;
            let (Some(dict), Some(col), Some(kind)) =
                (self.dicts.get_mut(f), self.cols.cols.get_mut(f), kinds[f])
            else {
                continue;
            };
            let id = match dict.get(s) {
                Some(&id) => id,
                None => {
                    let Some(v) = ColValue::parse(kind, s) else {
                        continue;
                    };
                    self.text_bytes += value_heap(&v) + s.len();
                    col.vals.push(v);
                    let id = col.vals.len() as u32;
                    dict.insert(s.into(), id);
                    id
                }
            };
            if col.ids.len() < i {
                col.ids.resize(i, 0);
            }
            col.ids.push(id);
        }
    }

    /// Bytes the builder holds on the heap.
    pub(crate) fn mem_bytes(&self) -> usize {
        let slot = std::mem::size_of::<(Box<str>, u32)>();
        self.text_bytes
            + self.cols.cols.capacity() * std::mem::size_of::<Col>()
            + self
                .cols
                .cols
                .iter()
                .map(|c| c.ids.capacity() * 4 + c.vals.capacity() * std::mem::size_of::<ColValue>())
                .sum::<usize>()
            + self
                .dicts
                .iter()
                .map(|d| table_bytes(d.capacity(), slot))
                .sum::<usize>()
    }

    /// Pads every column to `count` events and adds the timestamps.
    pub(crate) fn finish(&self, ts: &[i64]) -> Columns {
        let count = ts.len();
        let mut c = self.cols.clone();
        c.ts = ts.to_vec();
        for col in &mut c.cols {
            if !col.vals.is_empty() {
                col.ids.resize(count, 0);
            }
        }
        c
    }
}

static KINDS: std::sync::OnceLock<[Option<FieldKind>; KEYWORD_FIELDS.len()]> =
    std::sync::OnceLock::new();

/// Where a query field is read from in column mode.
#[derive(Debug, Clone, Copy)]
enum Target {
    Col(usize),
    Timestamp,
}

/// The fields of a query that can run on columns alone, or `None` when it needs whole events
/// (full-text terms, or fields outside the columns).
#[derive(Debug)]
pub(crate) struct ColumnPlan {
    fields: Vec<(String, Target)>,
}

impl ColumnPlan {
    pub(crate) fn new(q: &Query) -> Option<ColumnPlan> {
        if has_text(&q.filter) {
            return None;
        }
        // Only `where* aggregation ...` pipelines: the executor feeds records to the first
        // aggregation, and later stages read its rows, not records.
        let mut names: Vec<&str> = q.filter.fields();
        let mut aggregated = false;
        for s in &q.stages {
            match s {
                Stage::Where(e) if !has_text(e) => names.extend(e.fields()),
                s if s.is_aggregation() => {
                    names.extend(s.fields());
                    if matches!(s, Stage::Timechart { .. }) {
                        // Buckets read the event time.
                        names.push("@timestamp");
                    }
                    aggregated = true;
                    break;
                }
                _ => return None,
            }
        }
        if !aggregated {
            return None;
        }
        let kinds = KINDS.get_or_init(kinds);
        let mut fields = Vec::new();
        for n in names {
            let canon = FieldId::lookup(n)?.name();
            let t = if canon == "@timestamp" {
                Target::Timestamp
            } else {
                let i = KEYWORD_FIELDS.iter().position(|k| *k == canon)?;
                kinds[i]?;
                Target::Col(i)
            };
            fields.push((n.to_owned(), t));
        }
        Some(ColumnPlan { fields })
    }

    /// A plan for evaluating `e` on columns, if every field it tests is a column (or
    /// `@timestamp`) and it has no full-text term.
    pub(crate) fn for_expr(e: &Expr) -> Option<ColumnPlan> {
        if has_text(e) || matches!(e, Expr::MatchAll) {
            return None;
        }
        let kinds = KINDS.get_or_init(kinds);
        let mut fields = Vec::new();
        for n in e.fields() {
            let canon = FieldId::lookup(n)?.name();
            let t = if canon == "@timestamp" {
                Target::Timestamp
            } else {
                let i = KEYWORD_FIELDS.iter().position(|k| *k == canon)?;
                kinds[i]?;
                Target::Col(i)
            };
            fields.push((n.to_owned(), t));
        }
        Some(ColumnPlan { fields })
    }

    /// The keyword columns the plan reads (indexes into [`KEYWORD_FIELDS`]).
    pub(crate) fn col_fields(&self) -> Vec<usize> {
        let mut v: Vec<usize> = self
            .fields
            .iter()
            .filter_map(|(_, t)| match t {
                Target::Col(i) => Some(*i),
                Target::Timestamp => None,
            })
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    /// Whether the plan reads `@timestamp`.
    pub(crate) fn uses_timestamp(&self) -> bool {
        self.fields
            .iter()
            .any(|(_, t)| matches!(t, Target::Timestamp))
    }

    fn target(&self, field: &str) -> Option<Target> {
        self.fields
            .iter()
            .find(|(n, _)| n == field)
            .map(|e| e.1)
            .or_else(|| {
                // Aggregation output names read back by later stages are not event fields.
                let canon = FieldId::lookup(field)?.name();
                if canon == "@timestamp" {
                    return Some(Target::Timestamp);
                }
                KEYWORD_FIELDS
                    .iter()
                    .position(|k| *k == canon)
                    .map(Target::Col)
            })
    }
}

/// The conjunction of the AND-ed parts of `exprs` that can be evaluated on columns: a
/// necessary condition for the whole filter, checked before decoding an event.
pub(crate) fn prefilter(exprs: &[&Expr]) -> Option<(Expr, ColumnPlan)> {
    let mut parts = Vec::new();
    for e in exprs {
        match e {
            Expr::And(xs) => parts.extend(
                xs.iter()
                    .filter(|x| ColumnPlan::for_expr(x).is_some())
                    .cloned(),
            ),
            e if ColumnPlan::for_expr(e).is_some() => parts.push((*e).clone()),
            _ => {}
        }
    }
    let expr = match parts.len() {
        0 => return None,
        1 => parts.pop()?,
        _ => Expr::And(parts),
    };
    let plan = ColumnPlan::for_expr(&expr)?;
    Some((expr, plan))
}

fn has_text(e: &Expr) -> bool {
    match e {
        Expr::MatchAll => false,
        Expr::And(xs) | Expr::Or(xs) => xs.iter().any(has_text),
        Expr::Not(x) => has_text(x),
        Expr::Term(t) => matches!(t, Term::Text(_) | Term::TextWildcard(_)),
    }
}

/// Event `i` of a block, seen through its columns.
#[derive(Debug)]
pub(crate) struct ColRecord<'a> {
    pub plan: &'a ColumnPlan,
    pub cols: &'a Columns,
    pub i: usize,
}

impl Record for ColRecord<'_> {
    fn values(&self, field: &str, f: &mut dyn FnMut(ValueRef<'_>)) {
        match self.plan.target(field) {
            Some(Target::Col(c)) => {
                if let Some(v) = self.cols.value(c, self.i) {
                    f(v.as_ref());
                }
            }
            Some(Target::Timestamp) => {
                if let Some(&t) = self.cols.ts.get(self.i) {
                    f(ValueRef::Time(t));
                }
            }
            None => {}
        }
    }

    fn text(&self, _f: &mut dyn FnMut(&[u8])) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builder_pads_absent_values() {
        let mut b = ColumnsBuilder::default();
        b.push(0, &[(1, "sshd"), (2, "10.0.0.1")]);
        b.push(1, &[]);
        b.push(2, &[(1, "nginx"), (11, "443")]);
        b.push(3, &[(1, "sshd")]);
        let c = b.finish(&[5, 3, 9, 1_700_000_000_000_000_000, -4]);
        let names: Vec<_> = (0..5).map(|i| c.value(1, i).cloned()).collect();
        assert_eq!(
            names,
            vec![
                Some(ColValue::Str("sshd".into())),
                None,
                Some(ColValue::Str("nginx".into())),
                Some(ColValue::Str("sshd".into())),
                None
            ]
        );
        assert_eq!(c.value(2, 0), Some(&ColValue::Ip([10, 0, 0, 1].into())));
        assert_eq!(c.value(11, 2), Some(&ColValue::Int(443)));
        assert_eq!(c.ts, vec![5, 3, 9, 1_700_000_000_000_000_000, -4]);
    }

    #[test]
    fn column_plans() {
        let ok = |q: &str| ColumnPlan::new(&vigil_query::parse(q).expect("parses")).is_some();
        assert!(ok("| count by process.name"));
        assert!(ok(
            "user.name:alice | stats count() by host.name, source.ip"
        ));
        assert!(ok("| timechart span=1m count() by process.name"));
        assert!(ok("| count by process.name | sort -count | head 3"));
        assert!(ok("| where host.name:web* | top 5 user.name"));
        assert!(!ok("| sort -process.name | count by process.name"));
        assert!(!ok("| where failed | count by process.name"));
        assert!(!ok("failed | count by process.name"));
        assert!(!ok("message:x | count by process.name"));
        assert!(!ok("process.name:sshd"));
        assert!(!ok("| count by custom.field"));
        // Vigil's metadata and the rule fields are columns too (issue 12)
        assert!(ok("vigil.type:correlation | count by rule.name"));
        assert!(ok(
            "| stats count() by vigil.tenant, vigil.source, vigil.collector"
        ));
        assert!(ok("rule.id:x | count by rule.category, rule.ruleset"));
        assert!(!ok("vigil.peer:10.0.0.1 | count"));
    }
}
