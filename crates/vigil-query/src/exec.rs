//! Streaming in-memory execution of the pipeline stages.
//!
//! The store scans events, runs the query's filter ([`crate::CompiledFilter`]), and pushes each
//! match into an [`Executor`]; [`Executor::finish`] returns a [`Table`].
//!
//! Execution model:
//! 1. Leading `where` stages filter records as they are pushed.
//! 2. If the next stage aggregates (`stats`, `count`, `timechart`, `top`, `rare`), records feed
//!    that aggregation directly and only the groups are kept (at most
//!    [`ExecOptions::max_groups`]).
//! 3. Otherwise the executor keeps one row per record, holding the fields the remaining stages
//!    read; each row carries the record's ordinal ([`Row::id`]) so the store can show the full
//!    event. `head N` stops early ([`Executor::is_done`]); `sort … | head N` keeps only the best
//!    N; anything else holds at most [`ExecOptions::max_rows`] rows.
//! 4. The remaining stages run over the resulting table, in order (a table row is itself a
//!    [`Record`], so `where`, `stats`, ... work the same on rows).
//!
//! Aggregation rules: events whose by-field is absent are not counted (as in Splunk); a
//! multi-valued by-field counts the event once per value; groups compare values exactly (case
//! sensitive); output rows are sorted by group key.

use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

use crate::ast::{Agg, AggFunc, Query, SortKey, Stage};
use crate::control::{CHECK_EVERY, LocalBudget, SearchControl};
use crate::error::QueryError;
use crate::filter::{CompiledFilter, Record};
use crate::value::{Value, ValueRef, parse_time, total_cmp};

/// Limits and defaults for [`Executor`].
#[derive(Debug, Clone)]
pub struct ExecOptions {
    /// Most groups an aggregation may hold before failing with
    /// [`QueryError::TooManyGroups`]. Default 100,000.
    pub max_groups: usize,
    /// Most rows a non-aggregating pipeline may hold before failing with
    /// [`QueryError::TooManyRows`]. Default 100,000.
    pub max_rows: usize,
    /// Timechart bucket width when the query gives no `span=`. Default 60 s.
    pub default_span_secs: u64,
    /// The field holding event time, for timechart. Default `@timestamp`.
    pub time_field: String,
}

impl Default for ExecOptions {
    fn default() -> Self {
        Self {
            max_groups: 100_000,
            max_rows: 100_000,
            default_span_secs: 60,
            time_field: "@timestamp".to_owned(),
        }
    }
}

/// The result of a pipeline: named columns and rows.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct Table {
    /// Column names.
    pub columns: Vec<String>,
    /// Rows, each with one cell per column.
    pub rows: Vec<Row>,
}

/// One result row.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Row {
    /// For rows that stand for one pushed record: its ordinal (0 for the first push). `None`
    /// for aggregated rows.
    pub id: Option<u64>,
    /// One cell per column; `None` when absent. Multi-valued fields keep their first value.
    pub cells: Vec<Option<Value>>,
}

impl Table {
    /// The index of a column.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == name)
    }

    /// A cell by row index and column name.
    pub fn get(&self, row: usize, column: &str) -> Option<&Value> {
        let c = self.column(column)?;
        self.rows.get(row)?.cells.get(c)?.as_ref()
    }
}

/// A row seen as a record, so later stages can run over a table.
struct RowRecord<'a> {
    columns: &'a HashMap<&'a str, usize>,
    row: &'a Row,
}

impl Record for RowRecord<'_> {
    fn values(&self, field: &str, f: &mut dyn FnMut(ValueRef<'_>)) {
        if let Some(v) = self
            .columns
            .get(field)
            .and_then(|&i| self.row.cells.get(i)?.as_ref())
        {
            f(v.as_ref());
        }
    }
    fn text(&self, _f: &mut dyn FnMut(&[u8])) {}
}

/// Streaming executor for a query's stages. Push matching records, then [`finish`](Self::finish).
#[derive(Debug)]
pub struct Executor {
    opts: ExecOptions,
    pre: Vec<CompiledFilter>,
    sink: Sink,
    post: Vec<Stage>,
    pushed: u64,
    ctl: SearchControl,
    /// Bytes of the sink counted against `ctl` so far.
    budget: LocalBudget,
    accounted: usize,
}

#[derive(Debug)]
enum Sink {
    Agg(Box<Aggregator>),
    Rows(RowCollector),
}

impl Executor {
    /// An executor for `query.stages` (the filter is not applied: the caller pushes only
    /// records that matched it).
    pub fn new(query: &Query, opts: ExecOptions) -> Result<Self, QueryError> {
        Self::for_stages(&query.stages, opts)
    }

    /// An executor for a list of stages.
    pub fn for_stages(stages: &[Stage], opts: ExecOptions) -> Result<Self, QueryError> {
        if let Some(l) = stages.iter().find(|s| matches!(s, Stage::Lookup { .. })) {
            return Err(QueryError::Compile(format!(
                "'{l}' reads active lists: it runs in a search of a running instance (the API, or `vigil search` on a running `vigil up`)"
            )));
        }
        let mut pre = Vec::new();
        let mut i = 0;
        while let Some(Stage::Where(e)) = stages.get(i) {
            pre.push(CompiledFilter::new(e)?);
            i += 1;
        }
        let rest = &stages[i..];
        let (sink, post) = match rest.first() {
            Some(s) if s.is_aggregation() => (
                Sink::Agg(Box::new(Aggregator::new(s, &opts)?)),
                rest[1..].to_vec(),
            ),
            _ => (Sink::Rows(RowCollector::new(rest, &opts)), rest.to_vec()),
        };
        // Validate the later stages now (regexes in `where`), not at finish.
        for s in &post {
            if let Stage::Where(e) = s {
                CompiledFilter::new(e)?;
            }
        }
        Ok(Self {
            opts,
            pre,
            sink,
            post,
            pushed: 0,
            ctl: SearchControl::default(),
            budget: LocalBudget::default(),
            accounted: 0,
        })
    }

    /// Stop with the control's error when it is cancelled or past its deadline (checked every
    /// [`CHECK_EVERY`] pushes and between stages), and count the rows and groups held against
    /// its memory budget.
    pub fn with_control(mut self, ctl: SearchControl) -> Self {
        self.ctl = ctl;
        self
    }

    /// Brings the budget up to date with the sink's size, and checks the control now and
    /// then.
    fn account(&mut self, pushes: u64) -> Result<(), QueryError> {
        let now = match &self.sink {
            Sink::Agg(a) => a.bytes,
            Sink::Rows(c) => c.bytes,
        };
        if now > self.accounted {
            self.budget.add(&self.ctl, now - self.accounted)?;
        }
        self.accounted = now;
        let every = CHECK_EVERY as u64;
        if self.pushed / every != self.pushed.saturating_sub(pushes) / every {
            self.ctl.check()?;
        }
        Ok(())
    }

    /// Push one record (one that matched the query's filter).
    pub fn push(&mut self, r: &dyn Record) -> Result<(), QueryError> {
        let id = self.pushed;
        self.pushed += 1;
        if !self.pre.iter().all(|f| f.matches(r)) {
            return self.account(1);
        }
        match &mut self.sink {
            Sink::Agg(a) => a.push(r)?,
            Sink::Rows(c) => c.push(r, id)?,
        }
        self.account(1)
    }

    /// Push one record as if it were pushed `n` times: a store that groups identical records
    /// (same values in every field the query reads) pushes each group once.
    pub fn push_repeated(&mut self, r: &dyn Record, n: u64) -> Result<(), QueryError> {
        if n == 0 {
            return Ok(());
        }
        let id = self.pushed;
        self.pushed += n;
        if !self.pre.iter().all(|f| f.matches(r)) {
            return self.account(n);
        }
        match &mut self.sink {
            Sink::Agg(a) => a.push_n(r, n)?,
            Sink::Rows(c) => {
                for k in 0..n {
                    if c.done() {
                        break;
                    }
                    c.push(r, id + k)?;
                    if k % CHECK_EVERY as u64 == CHECK_EVERY as u64 - 1 {
                        self.ctl.check()?;
                    }
                }
            }
        }
        self.account(n)
    }

    /// True when more records cannot change the result (a plain `head N` is full): the store
    /// may stop scanning.
    pub fn is_done(&self) -> bool {
        matches!(&self.sink, Sink::Rows(c) if c.done())
    }

    /// Run the remaining stages and return the result.
    pub fn finish(mut self) -> Result<Table, QueryError> {
        self.ctl.check()?;
        let mut table = match self.sink {
            Sink::Agg(a) => a.finish(),
            Sink::Rows(c) => c.finish(),
        };
        for stage in &self.post {
            self.ctl.check()?;
            table = apply_stage(table, stage, &self.opts, &self.ctl)?;
        }
        self.budget.release_all(&self.ctl);
        Ok(table)
    }
}

/// Run one stage over a whole table.
fn apply_stage(
    table: Table,
    stage: &Stage,
    opts: &ExecOptions,
    ctl: &SearchControl,
) -> Result<Table, QueryError> {
    let index: HashMap<&str, usize> = table
        .columns
        .iter()
        .enumerate()
        .map(|(i, c)| (c.as_str(), i))
        .collect();
    Ok(match stage {
        Stage::Where(e) => {
            let f = CompiledFilter::new(e)?;
            let mut rows = Vec::new();
            for (i, row) in table.rows.iter().enumerate() {
                if i % CHECK_EVERY == CHECK_EVERY - 1 {
                    ctl.check()?;
                }
                if f.matches(&RowRecord {
                    columns: &index,
                    row,
                }) {
                    rows.push(row.clone());
                }
            }
            Table {
                columns: table.columns.clone(),
                rows,
            }
        }
        Stage::Fields(fs) => {
            let pick: Vec<Option<usize>> =
                fs.iter().map(|f| index.get(f.as_str()).copied()).collect();
            let rows = table
                .rows
                .iter()
                .map(|r| Row {
                    id: r.id,
                    cells: pick
                        .iter()
                        .map(|p| p.and_then(|i| r.cells.get(i).cloned().flatten()))
                        .collect(),
                })
                .collect();
            Table {
                columns: fs.clone(),
                rows,
            }
        }
        Stage::Sort(keys) => {
            let idx: Vec<(Option<usize>, bool)> = keys
                .iter()
                .map(|k| (index.get(k.field.as_str()).copied(), k.desc))
                .collect();
            let mut rows = table.rows.clone();
            rows.sort_by(|a, b| cmp_rows(&a.cells, &b.cells, &idx));
            Table {
                columns: table.columns.clone(),
                rows,
            }
        }
        Stage::Head(n) => {
            let mut t = table.clone();
            t.rows.truncate(usize::try_from(*n).unwrap_or(usize::MAX));
            t
        }
        agg => {
            let mut a = Aggregator::new(agg, opts)?;
            for (i, row) in table.rows.iter().enumerate() {
                if i % CHECK_EVERY == CHECK_EVERY - 1 {
                    ctl.check()?;
                }
                a.push(&RowRecord {
                    columns: &index,
                    row,
                })?;
            }
            a.finish()
        }
    })
}

/// Compare two rows by sort keys; absent cells last regardless of direction.
fn cmp_rows(a: &[Option<Value>], b: &[Option<Value>], keys: &[(Option<usize>, bool)]) -> Ordering {
    for &(i, desc) in keys {
        let Some(i) = i else { continue };
        let o = match (
            a.get(i).and_then(Option::as_ref),
            b.get(i).and_then(Option::as_ref),
        ) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Greater,
            (Some(_), None) => Ordering::Less,
            (Some(x), Some(y)) => {
                let o = total_cmp(x, y);
                if desc { o.reverse() } else { o }
            }
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    Ordering::Equal
}

fn first_value(r: &dyn Record, field: &str) -> Option<Value> {
    let mut out = None;
    r.values(field, &mut |v| {
        if out.is_none() {
            out = v.to_owned_value();
        }
    });
    out
}

// ---------------------------------------------------------------------------------------------
// Row mode.

#[derive(Debug)]
struct RowCollector {
    columns: Vec<String>,
    rows: Vec<Row>,
    /// `head N` first: stop after N.
    head: Option<usize>,
    /// `sort keys | head N` first: keep the best N.
    top: Option<(SortIndex, usize)>,
    max_rows: usize,
    /// Estimated bytes held by `rows`.
    bytes: usize,
}

impl RowCollector {
    fn new(stages: &[Stage], opts: &ExecOptions) -> Self {
        // Columns: everything the stages read, up to and including the first aggregation.
        let mut columns: Vec<String> = Vec::new();
        for s in stages {
            for f in s.fields() {
                if !columns.iter().any(|c| c == f) {
                    columns.push(f.to_owned());
                }
            }
            if s.is_aggregation() {
                break;
            }
        }
        let to_usize = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
        let head = match stages.first() {
            Some(Stage::Head(n)) => Some(to_usize(*n)),
            _ => None,
        };
        let top = match (stages.first(), stages.get(1)) {
            (Some(Stage::Sort(keys)), Some(Stage::Head(n))) => {
                Some((sort_index(keys, &columns), to_usize(*n)))
            }
            _ => None,
        };
        Self {
            columns,
            rows: Vec::new(),
            head,
            top,
            max_rows: opts.max_rows,
            bytes: 0,
        }
    }

    fn done(&self) -> bool {
        self.head.is_some_and(|n| self.rows.len() >= n)
    }

    fn push(&mut self, r: &dyn Record, id: u64) -> Result<(), QueryError> {
        if self.done() {
            return Ok(());
        }
        let cells = self.columns.iter().map(|c| first_value(r, c)).collect();
        let row = Row {
            id: Some(id),
            cells,
        };
        self.bytes += row_bytes(&row);
        self.rows.push(row);
        if let Some((keys, n)) = &self.top {
            if self.rows.len() >= n.saturating_mul(2).max(1024) {
                self.rows.sort_by(|a, b| cmp_rows(&a.cells, &b.cells, keys));
                self.rows.truncate(*n);
                self.bytes = self.rows.iter().map(row_bytes).sum();
            }
        } else if self.rows.len() > self.max_rows {
            return Err(QueryError::TooManyRows {
                limit: self.max_rows,
            });
        }
        Ok(())
    }

    fn finish(self) -> Table {
        Table {
            columns: self.columns,
            rows: self.rows,
        }
    }
}

/// Estimated heap and inline bytes of a row.
fn row_bytes(r: &Row) -> usize {
    std::mem::size_of::<Row>()
        + r.cells
            .iter()
            .map(|c| std::mem::size_of::<Option<Value>>() + c.as_ref().map_or(0, value_heap))
            .sum::<usize>()
}

fn value_heap(v: &Value) -> usize {
    match v {
        Value::Str(s) => s.len(),
        _ => 0,
    }
}

/// Per sort key: its column index (if the column exists) and whether descending.
type SortIndex = Vec<(Option<usize>, bool)>;

fn sort_index(keys: &[SortKey], columns: &[String]) -> SortIndex {
    keys.iter()
        .map(|k| (columns.iter().position(|c| *c == k.field), k.desc))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Aggregation.

/// Every combination of one value per component, capped at [`MAX_COMBINATIONS`].
fn cartesian(parts: &[Vec<Key>]) -> Vec<Vec<Key>> {
    let mut keys: Vec<Vec<Key>> = vec![Vec::with_capacity(parts.len())];
    for p in parts {
        let mut next = Vec::new();
        'outer: for k in &keys {
            for v in p {
                if next.len() >= MAX_COMBINATIONS {
                    break 'outer;
                }
                let mut k = k.clone();
                k.push(v.clone());
                next.push(k);
            }
        }
        keys = next;
    }
    keys
}

/// A hashable group-key component.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Str(String),
    Int(i64),
    Float(u64),
    Bool(bool),
    Ip(IpAddr),
    Time(i64),
}

impl Key {
    fn from_ref(v: ValueRef<'_>) -> Option<Key> {
        Some(match v {
            ValueRef::Str(s) => Key::Str(s.to_owned()),
            ValueRef::Int(i) => Key::Int(i),
            ValueRef::Float(f) => Key::Float(if f == 0.0 { 0 } else { f.to_bits() }),
            ValueRef::Bool(b) => Key::Bool(b),
            ValueRef::Ip(ip) => Key::Ip(ip),
            ValueRef::Time(t) => Key::Time(t),
            ValueRef::Null => return None,
        })
    }

    /// Estimated bytes held.
    fn bytes(&self) -> usize {
        std::mem::size_of::<Key>()
            + match self {
                Key::Str(s) => s.len(),
                _ => 0,
            }
    }

    fn to_value(&self) -> Value {
        match self {
            Key::Str(s) => Value::Str(s.clone()),
            Key::Int(i) => Value::Int(*i),
            Key::Float(b) => Value::Float(f64::from_bits(*b)),
            Key::Bool(b) => Value::Bool(*b),
            Key::Ip(ip) => Value::Ip(*ip),
            Key::Time(t) => Value::Time(*t),
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Stats,
    Timechart { span_ns: i64 },
    Top { limit: u64, rare: bool },
}

#[derive(Debug)]
struct Aggregator {
    kind: Kind,
    by: Vec<String>,
    aggs: Vec<Agg>,
    groups: HashMap<Vec<Key>, Vec<State>>,
    max_groups: usize,
    time_field: String,
    total: u64,
    /// Estimated bytes held by the groups and their states.
    bytes: usize,
}

/// Bytes of a group beyond its key and states: the map entry and the vectors.
const GROUP_OVERHEAD: usize = 64;

/// Most key combinations one record may contribute through multi-valued by-fields.
const MAX_COMBINATIONS: usize = 64;

impl Aggregator {
    fn new(stage: &Stage, opts: &ExecOptions) -> Result<Self, QueryError> {
        let count = || {
            vec![Agg {
                func: AggFunc::Count(None),
                alias: None,
            }]
        };
        let (kind, by, aggs) = match stage {
            Stage::Stats { aggs, by } => (Kind::Stats, by.clone(), aggs.clone()),
            Stage::Timechart {
                span_secs,
                aggs,
                by,
            } => {
                let secs = span_secs.unwrap_or(opts.default_span_secs).max(1);
                let span_ns = i64::try_from(secs)
                    .ok()
                    .and_then(|s| s.checked_mul(1_000_000_000))
                    .unwrap_or(i64::MAX);
                (
                    Kind::Timechart { span_ns },
                    by.iter().cloned().collect(),
                    aggs.clone(),
                )
            }
            Stage::Top { limit, fields } => (
                Kind::Top {
                    limit: *limit,
                    rare: false,
                },
                fields.clone(),
                count(),
            ),
            Stage::Rare { limit, fields } => (
                Kind::Top {
                    limit: *limit,
                    rare: true,
                },
                fields.clone(),
                count(),
            ),
            other => {
                return Err(QueryError::Compile(format!(
                    "'{other}' is not an aggregation"
                )));
            }
        };
        Ok(Self {
            kind,
            by,
            aggs,
            groups: HashMap::new(),
            max_groups: opts.max_groups,
            time_field: opts.time_field.clone(),
            total: 0,
            bytes: 0,
        })
    }

    fn push(&mut self, r: &dyn Record) -> Result<(), QueryError> {
        self.push_n(r, 1)
    }

    fn push_n(&mut self, r: &dyn Record, times: u64) -> Result<(), QueryError> {
        // Key components: [time bucket] + one list of values per by-field.
        let mut parts: Vec<Vec<Key>> = Vec::with_capacity(self.by.len() + 1);
        if let Kind::Timechart { span_ns } = self.kind {
            let mut t = None;
            r.values(&self.time_field, &mut |v| {
                if t.is_none() {
                    t = match v {
                        ValueRef::Time(ns) => Some(ns),
                        ValueRef::Str(s) => parse_time(s.trim()),
                        _ => None,
                    };
                }
            });
            let Some(t) = t else { return Ok(()) };
            parts.push(vec![Key::Time(
                t.div_euclid(span_ns).saturating_mul(span_ns),
            )]);
        }
        for f in &self.by {
            let mut vals = Vec::new();
            r.values(f, &mut |v| {
                if let Some(k) = Key::from_ref(v)
                    && !vals.contains(&k)
                {
                    vals.push(k);
                }
            });
            if vals.is_empty() {
                return Ok(());
            }
            parts.push(vals);
        }
        self.total += times;
        let keys = if parts.iter().all(|p| p.len() == 1) {
            // Common case: single-valued fields, one group.
            vec![parts.into_iter().flatten().collect()]
        } else {
            cartesian(&parts)
        };
        for key in keys {
            let states = match self.groups.get_mut(&key) {
                Some(s) => s,
                None => {
                    if self.groups.len() >= self.max_groups {
                        return Err(QueryError::TooManyGroups {
                            limit: self.max_groups,
                        });
                    }
                    let fresh = self.aggs.iter().map(|a| State::new(&a.func)).collect();
                    self.bytes += GROUP_OVERHEAD
                        + key.iter().map(Key::bytes).sum::<usize>()
                        + self.aggs.len() * std::mem::size_of::<State>();
                    self.groups.entry(key).or_insert(fresh)
                }
            };
            for (state, agg) in states.iter_mut().zip(&self.aggs) {
                self.bytes += state.update_n(&agg.func, r, times);
            }
        }
        Ok(())
    }

    fn finish(self) -> Table {
        let mut columns = Vec::new();
        if matches!(self.kind, Kind::Timechart { .. }) {
            columns.push("_time".to_owned());
        }
        columns.extend(self.by.iter().cloned());
        columns.extend(self.aggs.iter().map(Agg::column_name));
        if let Kind::Top { .. } = self.kind {
            columns.push("percent".to_owned());
        }
        let no_groups =
            self.groups.is_empty() && self.by.is_empty() && matches!(self.kind, Kind::Stats);
        let mut groups: Vec<(Vec<Key>, Vec<State>)> = self.groups.into_iter().collect();
        if no_groups {
            // `stats count()` over nothing is one row of zeros, not an empty table.
            groups.push((
                Vec::new(),
                self.aggs.iter().map(|a| State::new(&a.func)).collect(),
            ));
        }
        groups.sort_by(|a, b| {
            for (x, y) in a.0.iter().zip(&b.0) {
                let o = total_cmp(&x.to_value(), &y.to_value());
                if o != Ordering::Equal {
                    return o;
                }
            }
            Ordering::Equal
        });
        let mut rows: Vec<Row> = groups
            .into_iter()
            .map(|(key, states)| {
                let mut cells: Vec<Option<Value>> =
                    key.iter().map(|k| Some(k.to_value())).collect();
                cells.extend(
                    states
                        .into_iter()
                        .zip(&self.aggs)
                        .map(|(s, a)| s.finish(&a.func)),
                );
                Row { id: None, cells }
            })
            .collect();
        if let Kind::Top { limit, rare } = self.kind {
            let ci = self.by.len();
            let count_of = |r: &Row| match r.cells.get(ci) {
                Some(Some(Value::Int(n))) => *n,
                _ => 0,
            };
            // Stable sort keeps the key order among equal counts.
            if rare {
                rows.sort_by_key(count_of);
            } else {
                rows.sort_by_key(|r| std::cmp::Reverse(count_of(r)));
            }
            rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
            let total = self.total.max(1) as f64;
            for r in &mut rows {
                let pct = count_of(r) as f64 * 100.0 / total;
                r.cells.push(Some(Value::Float(pct)));
            }
        }
        Table { columns, rows }
    }
}

#[derive(Debug)]
enum State {
    Count(u64),
    Dc(HashSet<Key>),
    Sum {
        int: i128,
        float: f64,
        any_float: bool,
        n: u64,
    },
    Avg {
        sum: f64,
        n: u64,
    },
    Min(Option<Value>),
    Max(Option<Value>),
    Pct(Vec<f64>),
}

impl State {
    fn new(f: &AggFunc) -> Self {
        match f {
            AggFunc::Count(_) => State::Count(0),
            AggFunc::Dc(_) => State::Dc(HashSet::new()),
            AggFunc::Sum(_) => State::Sum {
                int: 0,
                float: 0.0,
                any_float: false,
                n: 0,
            },
            AggFunc::Avg(_) => State::Avg { sum: 0.0, n: 0 },
            AggFunc::Min(_) => State::Min(None),
            AggFunc::Max(_) => State::Max(None),
            AggFunc::Percentile(..) => State::Pct(Vec::new()),
        }
    }

    /// `update` `times` times: counts add, sets and extremes need one update. Returns the
    /// bytes the state grew by.
    fn update_n(&mut self, f: &AggFunc, r: &dyn Record, times: u64) -> usize {
        match self {
            State::Count(n) => {
                let before = *n;
                self.update(f, r);
                if let State::Count(after) = self
                    && *after > before
                {
                    *after = before + (*after - before) * times;
                }
                0
            }
            State::Dc(_) | State::Min(_) | State::Max(_) => self.update(f, r),
            _ => {
                let mut grew = 0;
                for _ in 0..times {
                    grew += self.update(f, r);
                }
                grew
            }
        }
    }

    /// Returns the bytes the state grew by (new distinct values, percentile samples).
    fn update(&mut self, f: &AggFunc, r: &dyn Record) -> usize {
        let field = match f.field() {
            Some(field) => field,
            None => {
                if let State::Count(n) = self {
                    *n += 1;
                }
                return 0;
            }
        };
        let mut grew = 0;
        match self {
            State::Count(n) => {
                let mut present = false;
                r.values(field, &mut |v| present |= !matches!(v, ValueRef::Null));
                if present {
                    *n += 1;
                }
            }
            State::Dc(set) => r.values(field, &mut |v| {
                if let Some(k) = Key::from_ref(v) {
                    let b = k.bytes() + 16;
                    if set.insert(k) {
                        grew += b;
                    }
                }
            }),
            State::Sum {
                int,
                float,
                any_float,
                n,
            } => r.values(field, &mut |v| match v {
                ValueRef::Int(i) => {
                    *int += i128::from(i);
                    *n += 1;
                }
                ValueRef::Str(s) if s.trim().parse::<i64>().is_ok() => {
                    *int += i128::from(s.trim().parse::<i64>().unwrap_or(0));
                    *n += 1;
                }
                other => {
                    if let Some(x) = other.as_f64() {
                        *float += x;
                        *any_float = true;
                        *n += 1;
                    }
                }
            }),
            State::Avg { sum, n } => r.values(field, &mut |v| {
                if let Some(x) = v.as_f64() {
                    *sum += x;
                    *n += 1;
                }
            }),
            State::Min(cur) | State::Max(cur) => {
                let want = if matches!(f, AggFunc::Min(_)) {
                    Ordering::Less
                } else {
                    Ordering::Greater
                };
                r.values(field, &mut |v| {
                    // Numeric text counts as a number.
                    let v = match v {
                        ValueRef::Str(s) => match s.trim().parse::<i64>() {
                            Ok(i) => Some(Value::Int(i)),
                            Err(_) => {
                                match s.trim().parse::<f64>().ok().filter(|x| x.is_finite()) {
                                    Some(x) => Some(Value::Float(x)),
                                    None => v.to_owned_value(),
                                }
                            }
                        },
                        v => v.to_owned_value(),
                    };
                    if let Some(v) = v
                        && cur.as_ref().is_none_or(|c| total_cmp(&v, c) == want)
                    {
                        *cur = Some(v);
                    }
                });
            }
            State::Pct(vals) => r.values(field, &mut |v| {
                if let Some(x) = v.as_f64() {
                    vals.push(x);
                    grew += std::mem::size_of::<f64>();
                }
            }),
        }
        grew
    }

    fn finish(self, f: &AggFunc) -> Option<Value> {
        match self {
            State::Count(n) => Some(Value::Int(i64::try_from(n).unwrap_or(i64::MAX))),
            State::Dc(set) => Some(Value::Int(i64::try_from(set.len()).unwrap_or(i64::MAX))),
            State::Sum {
                int,
                float,
                any_float,
                n,
            } => {
                if n == 0 {
                    None
                } else if any_float {
                    Some(Value::Float(int as f64 + float))
                } else {
                    Some(match i64::try_from(int) {
                        Ok(i) => Value::Int(i),
                        Err(_) => Value::Float(int as f64),
                    })
                }
            }
            State::Avg { sum, n } => (n > 0).then(|| Value::Float(sum / n as f64)),
            State::Min(v) | State::Max(v) => v,
            State::Pct(mut vals) => {
                if vals.is_empty() {
                    return None;
                }
                let p = match f {
                    AggFunc::Percentile(_, p) => p.clamp(0.0, 100.0),
                    _ => 50.0,
                };
                vals.sort_by(f64::total_cmp);
                let rank = p / 100.0 * (vals.len() - 1) as f64;
                let lo = rank.floor() as usize;
                let hi = rank.ceil() as usize;
                let (a, b) = (vals[lo.min(vals.len() - 1)], vals[hi.min(vals.len() - 1)]);
                Some(Value::Float(a + (b - a) * (rank - lo as f64)))
            }
        }
    }
}
