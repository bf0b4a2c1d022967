//! The ClickHouse backend: the same [`EventStore`] trait and the same queries, translated to
//! ClickHouse SQL over its HTTP interface (feature `clickhouse`).
//!
//! # Shape
//! * **One table** (`<database>.events` by default), one row per event: a typed column per
//!   registered field (generated from [`vigil_event::schema::fields`]), the open maps `extra` and
//!   `original` as JSON text, the raw record (`raw`, plus `raw_hex` holding the exact bytes when
//!   they are not UTF-8), the tenant and a per-tenant sequence number `seq` (the LSN).
//!   `PARTITION BY (tenant, day)`, `ORDER BY (tenant, ts, seq)`, so every query (always scoped to
//!   one tenant and a time range) reads only its tenant's parts and time slices.
//! * **Two dialects**, chosen from `SELECT version()` at open ([`Dialect`]): `Legacy` for
//!   servers before 19 (Debian's 18.16: plain types, no skip indexes, no codecs, no TTL) and
//!   `Modern` (LowCardinality, `CODEC`s, bloom-filter and token skip indexes).
//! * **Inserts** are batches of `INSERT ... FORMAT JSONEachRow` holding only the columns an
//!   event has (an omitted column takes its type's default, as an absent field is stored).
//! * **Queries**: the filter is translated to SQL ([`sql`]); each translation is exact or a
//!   superset, and a superset is completed by evaluating the plan in Rust on the candidates
//!   ([`vigil_query::CompiledFilter`]), so results are identical to the embedded store's.
//!   Aggregations with an exact filter and a simple first stage (`count`, `stats` with
//!   count/dc/sum/avg/min/max by typed scalar fields, `top`, `rare`, `timechart`) run as one
//!   `GROUP BY`; the rest of the pipeline runs in [`vigil_query::Executor`]. Anything else
//!   streams the needed columns of the matching rows into the executor.
//! * **Safety**: every query carries `max_execution_time`, `max_memory_usage`, a `query_id`
//!   (for [`ClickHouseStore::cancel_running`]) and, for `GROUP BY`, `max_rows_to_group_by`
//!   with `group_by_overflow_mode=throw`; the Rust side caps result rows and groups
//!   ([`QueryLimits`]).
//!
//! Durability is ClickHouse's: an insert that returned is in the table, so
//! [`EventStore::wait_durable`] returns at once.

mod http;
pub mod local;
mod schema;
mod sql;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde_json::Value as Json;
use vigil_event::{Event, FieldKind};
use vigil_query::{
    AggFunc, CHECK_EVERY, CompiledFilter, ExecOptions, Executor, Expr, QueryError, Record, Row,
    SearchControl, Stage, Table, Value, ValueRef,
};

use self::http::{Client, backend};
use self::schema::Column;
use crate::{
    AggregateRequest, AggregateResult, EventRecord, EventStore, FieldCache, Lsn, MAX_SEARCH_LIMIT,
    Order, ScanStats, SearchRequest, SearchResult, StoreError, StoreStats, TenantId, TimeRange,
};

/// Client-side limit on `OPTIMIZE TABLE ... FINAL` (the server sets none on it).
const OPTIMIZE_TIMEOUT: Duration = Duration::from_secs(4 * 3600);
/// How often a running query's control is looked at while the query runs (see
/// [`ClickHouseStore::kill_when_stopped`]): a stopped search is killed on the server within
/// about this long.
const KILL_POLL: Duration = Duration::from_millis(20);

/// Per-query limits, enforced by the server (settings) and on the Rust side.
#[derive(Debug, Clone)]
pub struct QueryLimits {
    /// `max_execution_time` of every query. Default 60 s.
    pub max_execution_time: Duration,
    /// `max_memory_usage` of every query, bytes. Default 4 GiB.
    pub max_memory_usage: u64,
    /// Most groups of an aggregation (`max_rows_to_group_by` on the server). Default 100,000.
    pub max_groups: usize,
    /// Most rows a non-aggregating pipeline holds. Default 100,000.
    pub max_rows: usize,
    /// Most rows one query may read on the server (`max_rows_to_read`), 0 for no cap.
    pub max_rows_to_read: u64,
    /// Longest result row accepted from the server, bytes. Default 16 MiB.
    pub max_row_bytes: usize,
}

impl Default for QueryLimits {
    fn default() -> Self {
        QueryLimits {
            max_execution_time: Duration::from_secs(60),
            max_memory_usage: 4 << 30,
            max_groups: 100_000,
            max_rows: 100_000,
            max_rows_to_read: 0,
            max_row_bytes: 16 << 20,
        }
    }
}

/// Connection and table settings.
#[derive(Clone)]
pub struct ClickHouseConfig {
    /// The HTTP interface, e.g. `http://127.0.0.1:8123`.
    pub url: String,
    /// The database (created if missing).
    pub database: String,
    /// The events table name.
    pub table: String,
    /// User (`X-ClickHouse-User`).
    pub user: String,
    /// Password (`X-ClickHouse-Key`); redacted in `Debug`.
    pub password: String,
    /// Events per `INSERT`. Default 50,000.
    pub insert_batch: usize,
    /// Query limits.
    pub limits: QueryLimits,
}

impl ClickHouseConfig {
    /// Defaults for a server URL: database `vigil`, table `events`, user `default`.
    pub fn new(url: impl Into<String>) -> Self {
        ClickHouseConfig {
            url: url.into(),
            database: "vigil".to_owned(),
            table: "events".to_owned(),
            user: "default".to_owned(),
            password: String::new(),
            insert_batch: 50_000,
            limits: QueryLimits::default(),
        }
    }
}

impl std::fmt::Debug for ClickHouseConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClickHouseConfig")
            .field("url", &self.url)
            .field("database", &self.database)
            .field("table", &self.table)
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .field("insert_batch", &self.insert_batch)
            .field("limits", &self.limits)
            .finish()
    }
}

/// The SQL dialect, chosen from the server version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// Before 19.x (Debian's 18.16): no skip indexes, codecs, TTL, DateTime64 or IP types;
    /// LowCardinality only as an experiment (not used).
    Legacy,
    /// 20.3 and later: LowCardinality, column codecs, bloom-filter and token skip indexes.
    Modern,
}

impl Dialect {
    /// The dialect for a `version()` string (`18.16.1`, `24.8.4.13`).
    pub fn for_version(v: &str) -> Dialect {
        let mut parts = v.trim().split('.').map(|p| p.parse::<u32>().unwrap_or(0));
        let major = parts.next().unwrap_or(0);
        let minor = parts.next().unwrap_or(0);
        if (major, minor) >= (20, 3) {
            Dialect::Modern
        } else {
            Dialect::Legacy
        }
    }
    fn low_cardinality(self) -> bool {
        self == Dialect::Modern
    }
    fn codecs(self) -> bool {
        self == Dialect::Modern
    }
    fn skip_indexes(self) -> bool {
        self == Dialect::Modern
    }
}

/// The ClickHouse store.
pub struct ClickHouseStore {
    client: Client,
    cfg: ClickHouseConfig,
    version: String,
    dialect: Dialect,
    cols: Vec<Column>,
    table: String,
    /// Last sequence number per tenant; the lock also orders appends.
    seqs: Mutex<HashMap<TenantId, u64>>,
    running: Mutex<HashSet<String>>,
    /// Queries killed on the server because their control stopped them.
    queries_killed: AtomicU64,
    next_query: AtomicU64,
    closed: AtomicBool,
}

impl std::fmt::Debug for ClickHouseStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClickHouseStore")
            .field("cfg", &self.cfg)
            .field("version", &self.version)
            .field("dialect", &self.dialect)
            .finish()
    }
}

fn ident_ok(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !s.as_bytes()[0].is_ascii_digit()
}

impl ClickHouseStore {
    /// Connects, detects the server version, creates the database and table if missing.
    pub fn open(cfg: ClickHouseConfig) -> Result<ClickHouseStore, StoreError> {
        if !ident_ok(&cfg.database) || !ident_ok(&cfg.table) {
            return Err(StoreError::Invalid(
                "database and table must be identifiers (A-Z, a-z, 0-9, _)".into(),
            ));
        }
        if cfg.insert_batch == 0 {
            return Err(StoreError::Invalid("insert_batch must be positive".into()));
        }
        let timeout = cfg.limits.max_execution_time + Duration::from_secs(30);
        let client = Client::new(&cfg.url, &cfg.database, &cfg.user, &cfg.password, timeout)?;
        let version = client
            .execute_in("SELECT version()", &[], "version", false)?
            .trim()
            .to_owned();
        let dialect = Dialect::for_version(&version);
        client.execute_in(
            &format!("CREATE DATABASE IF NOT EXISTS {}", cfg.database),
            &[],
            "create database",
            false,
        )?;
        let cols = schema::columns();
        let table = format!("{}.{}", cfg.database, cfg.table);
        client.execute(
            &schema::create_table(&table, dialect, &cols),
            &[],
            "create table",
        )?;
        tracing::info!(version = %version, dialect = ?dialect, table = %table, "clickhouse store opened");
        Ok(ClickHouseStore {
            client,
            cfg,
            version,
            dialect,
            cols,
            table,
            seqs: Mutex::new(HashMap::new()),
            running: Mutex::new(HashSet::new()),
            queries_killed: AtomicU64::new(0),
            next_query: AtomicU64::new(1),
            closed: AtomicBool::new(false),
        })
    }

    /// Checks that the server answers and accepts the credentials, within `timeout`, without
    /// creating anything (`vigil validate`); returns its `version()`.
    pub fn ping(cfg: &ClickHouseConfig, timeout: Duration) -> Result<String, StoreError> {
        if !ident_ok(&cfg.database) || !ident_ok(&cfg.table) {
            return Err(StoreError::Invalid(
                "database and table must be identifiers (A-Z, a-z, 0-9, _)".into(),
            ));
        }
        let client = Client::new(&cfg.url, &cfg.database, &cfg.user, &cfg.password, timeout)?;
        Ok(client
            .execute_in("SELECT version()", &[], "version", false)?
            .trim()
            .to_owned())
    }

    /// The server's `version()`.
    pub fn server_version(&self) -> &str {
        &self.version
    }

    /// The dialect in use.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// The `CREATE TABLE` statement for a dialect (for docs and review).
    pub fn table_ddl(dialect: Dialect) -> String {
        schema::create_table("vigil.events", dialect, &schema::columns())
    }

    /// Cancels every query of this store that is running now (`KILL QUERY`); their calls
    /// return [`StoreError::QueryLimit`] or [`StoreError::Backend`]. Returns how many.
    pub fn cancel_running(&self) -> Result<usize, StoreError> {
        let ids: Vec<String> = self.running.lock().iter().cloned().collect();
        if ids.is_empty() {
            return Ok(0);
        }
        let list = ids
            .iter()
            .map(|i| sql::quote(i))
            .collect::<Vec<_>>()
            .join(", ");
        self.client.execute(
            &format!("KILL QUERY WHERE query_id IN ({list}) ASYNC"),
            &[],
            "kill query",
        )?;
        Ok(ids.len())
    }

    /// Queries killed on the server since open because their search was cancelled, ran past
    /// its deadline or over its memory budget while the query was still running.
    pub fn queries_killed(&self) -> u64 {
        self.queries_killed.load(Ordering::Relaxed)
    }

    /// Bytes of the table's active parts on disk (all tenants) and their row count.
    pub fn disk_usage(&self) -> Result<(u64, u64), StoreError> {
        let out = self.client.execute(
            &format!(
                "SELECT sum(bytes_on_disk), sum(rows) FROM system.parts WHERE active AND database = {} AND table = {} FORMAT TSV",
                sql::quote(&self.cfg.database),
                sql::quote(&self.cfg.table)
            ),
            &[],
            "disk usage",
        )?;
        let mut it = out
            .split_whitespace()
            .map(|s| s.parse::<u64>().unwrap_or(0));
        Ok((it.next().unwrap_or(0), it.next().unwrap_or(0)))
    }

    /// Merges the table's parts (`OPTIMIZE TABLE ... FINAL`), for size measurements.
    pub fn optimize(&self) -> Result<(), StoreError> {
        // A full merge rewrites the whole table: minutes at 100 M rows on 2 cores, far past
        // a query's limit; the server imposes no time limit on OPTIMIZE.
        self.client.execute_within(
            &format!("OPTIMIZE TABLE {} FINAL", self.table),
            &[],
            "optimize",
            true,
            OPTIMIZE_TIMEOUT,
        )?;
        Ok(())
    }

    fn check_open(&self) -> Result<(), StoreError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(StoreError::Closed);
        }
        Ok(())
    }

    /// Settings of a query; `max_execution_time` is also bounded by the time the search's
    /// control has left, so the server gives up when the caller does.
    fn settings(&self, query_id: &str, ctl: &SearchControl) -> Vec<(&'static str, String)> {
        let l = &self.cfg.limits;
        let mut limit = l.max_execution_time;
        if let Some(left) = ctl.remaining() {
            limit = limit.min(left);
        }
        let mut s = vec![
            ("query_id", query_id.to_owned()),
            (
                "max_execution_time",
                limit.as_secs_f64().ceil().max(1.0).to_string(),
            ),
            ("max_memory_usage", l.max_memory_usage.to_string()),
            ("output_format_json_quote_64bit_integers", "0".to_owned()),
            ("readonly", "2".to_owned()),
        ];
        if l.max_rows_to_read > 0 {
            s.push(("max_rows_to_read", l.max_rows_to_read.to_string()));
        }
        s
    }

    /// Runs a SELECT, calling `each` for every row; `each` returns `false` to stop reading.
    /// Stops with the control's error when it says so (checked every [`CHECK_EVERY`] rows);
    /// dropping the response closes the connection, and a read-only HTTP query is cancelled
    /// by the server when its client goes away.
    fn select(
        &self,
        sql: &str,
        extra: &[(&'static str, String)],
        ctl: &SearchControl,
        mut each: impl FnMut(serde_json::Map<String, Json>) -> Result<bool, StoreError>,
    ) -> Result<(), StoreError> {
        ctl.check()?;
        let n = self.next_query.fetch_add(1, Ordering::Relaxed);
        let id = format!("vigil-{}-{n}", std::process::id());
        let mut settings = self.settings(&id, ctl);
        settings.extend(extra.iter().cloned());
        self.running.lock().insert(id.clone());
        let finished = AtomicBool::new(false);
        let result = std::thread::scope(|s| {
            let watcher = s.spawn(|| self.kill_when_stopped(&id, ctl, &finished));
            let result = (|| {
                let mut lines =
                    self.client
                        .stream(sql, &settings, self.cfg.limits.max_row_bytes)?;
                let mut read = 0usize;
                while let Some(line) = lines.next_line()? {
                    read += 1;
                    if read.is_multiple_of(CHECK_EVERY) {
                        ctl.check()?;
                    }
                    if line.is_empty() {
                        continue;
                    }
                    let row: serde_json::Map<String, Json> = serde_json::from_slice(line)
                        .map_err(|e| backend("read response", format!("bad row: {e}")))?;
                    if !each(row)? {
                        break;
                    }
                }
                Ok(())
            })();
            finished.store(true, Ordering::Release);
            watcher.thread().unpark();
            let killed = watcher.join().unwrap_or(true);
            (result, killed)
        });
        self.running.lock().remove(&id);
        // A query stopped by its control says why it stopped, not what the server answered
        // to the kill: an error, or (older servers) the end of a short result, which must not
        // pass for the whole answer.
        match result {
            (Err(e), _) => Err(ctl.check().err().map_or(e, StoreError::from)),
            (Ok(()), true) => ctl.check().map_err(StoreError::from),
            (ok, false) => ok,
        }
    }

    /// Watches the control of running query `id` until `finished`: once the control says stop
    /// (cancelled, past its deadline, over its budget), kills the query on the server (`KILL
    /// QUERY ... ASYNC`) and returns `true`. Until ClickHouse sends its first row the caller
    /// waits for the response and cannot look at the control, and a query that sorts or
    /// aggregates sends nothing before it is done: without the kill it would run on to
    /// `max_execution_time` after its client gave up (the API's timeout or a client that went
    /// away). Once rows flow, the reading loop sees the control itself and closing the
    /// response stops the query; the kill does no harm there.
    fn kill_when_stopped(&self, id: &str, ctl: &SearchControl, finished: &AtomicBool) -> bool {
        while !finished.load(Ordering::Acquire) {
            if ctl.check().is_err() {
                let kill = format!("KILL QUERY WHERE query_id = {} ASYNC", sql::quote(id));
                match self.client.execute(&kill, &[], "kill query") {
                    Ok(_) => {
                        self.queries_killed.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => {
                        tracing::warn!(query_id = %id, error = %e, "a stopped query was not killed; it runs until max_execution_time");
                    }
                }
                return true;
            }
            std::thread::park_timeout(KILL_POLL);
        }
        false
    }

    fn scope(&self, tenant: &TenantId, range: TimeRange) -> String {
        let mut w = format!("tenant = {}", sql::quote(tenant.as_str()));
        if range.from.0 != i64::MIN {
            w.push_str(&format!(" AND ts >= {}", range.from.0));
        }
        if range.to.0 != i64::MAX {
            w.push_str(&format!(" AND ts < {}", range.to.0));
        }
        w
    }

    fn column_list(cols: &[&Column], all_tail: bool) -> String {
        let mut names: Vec<String> = cols.iter().map(|c| format!("`{}`", c.name)).collect();
        if all_tail {
            for n in [
                schema::EXTRA,
                schema::ORIGINAL,
                schema::RAW,
                schema::RAW_HEX,
            ] {
                names.push(format!("`{n}`"));
            }
        }
        names.join(", ")
    }

    fn last_seq(&self, tenant: &TenantId) -> Result<u64, StoreError> {
        let out = self.client.execute(
            &format!(
                "SELECT max({}) FROM {} WHERE tenant = {} FORMAT TSV",
                schema::SEQ,
                self.table,
                sql::quote(tenant.as_str())
            ),
            &[],
            "read sequence",
        )?;
        Ok(out.trim().parse().unwrap_or(0))
    }
}

/// The filter plus the leading `where` stages, and the stages after them.
fn split_wheres(q: &vigil_query::Query) -> (Expr, &[Stage]) {
    let mut parts = vec![q.filter.clone()];
    let mut i = 0;
    while let Some(Stage::Where(e)) = q.stages.get(i) {
        parts.push(e.clone());
        i += 1;
    }
    let expr = if parts.len() == 1 {
        q.filter.clone()
    } else {
        Expr::And(parts)
    };
    (expr, &q.stages[i..])
}

fn has_text(e: &Expr) -> bool {
    match e {
        Expr::MatchAll => false,
        Expr::And(xs) | Expr::Or(xs) => xs.iter().any(has_text),
        Expr::Not(x) => has_text(x),
        Expr::Term(t) => t.field().is_none(),
    }
}

/// A result-table row as a record, for the stages after a pushed-down aggregation.
struct CellRecord<'a> {
    index: &'a HashMap<&'a str, usize>,
    cells: &'a [Option<Value>],
}

impl Record for CellRecord<'_> {
    fn values(&self, field: &str, f: &mut dyn FnMut(ValueRef<'_>)) {
        if let Some(v) = self
            .index
            .get(field)
            .and_then(|&i| self.cells.get(i)?.as_ref())
        {
            f(v.as_ref());
        }
    }
    fn text(&self, _f: &mut dyn FnMut(&[u8])) {}
}

/// `vigil_query`'s total order over cells (numbers < times < IPs < bools < strings).
fn total_cmp(a: &Value, b: &Value) -> std::cmp::Ordering {
    fn rank(v: &Value) -> u8 {
        match v {
            Value::Int(_) | Value::Float(_) => 0,
            Value::Time(_) => 1,
            Value::Ip(_) => 2,
            Value::Bool(_) => 3,
            Value::Str(_) => 4,
        }
    }
    fn num(v: &Value) -> f64 {
        match v {
            Value::Int(i) => *i as f64,
            Value::Float(f) => *f,
            _ => 0.0,
        }
    }
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => x.cmp(y),
        (Value::Int(_) | Value::Float(_), Value::Int(_) | Value::Float(_)) => {
            num(a).total_cmp(&num(b))
        }
        (Value::Time(x), Value::Time(y)) => x.cmp(y),
        (Value::Ip(x), Value::Ip(y)) => x.cmp(y),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::Str(x), Value::Str(y)) => x.cmp(y),
        _ => rank(a).cmp(&rank(b)),
    }
}

/// One output column of a pushed-down aggregation.
enum OutCol {
    Key(FieldKind),
    Time,
    Int,
    /// An aggregate over a column, null when the column had no values (`count` alias given).
    Opt(FieldKind, String),
    Float(String),
}

struct Pushdown {
    select: Vec<String>,
    group: Vec<String>,
    not_null: Vec<String>,
    out: Vec<(String, OutCol)>,
    columns: Vec<String>,
    top: Option<(u64, bool)>,
}

impl ClickHouseStore {
    /// The GROUP BY plan for a first aggregation stage, when it can be exact.
    fn pushdown(&self, stage: &Stage) -> Option<Pushdown> {
        let (aggs, by, time, top) = match stage {
            Stage::Stats { aggs, by } => (aggs.clone(), by.clone(), None, None),
            Stage::Timechart {
                span_secs,
                aggs,
                by,
            } => {
                let secs = span_secs
                    .unwrap_or(ExecOptions::default().default_span_secs)
                    .max(1);
                let span = i64::try_from(secs).ok()?.checked_mul(1_000_000_000)?;
                (aggs.clone(), by.iter().cloned().collect(), Some(span), None)
            }
            Stage::Top { limit, fields } => {
                (Vec::new(), fields.clone(), None, Some((*limit, false)))
            }
            Stage::Rare { limit, fields } => {
                (Vec::new(), fields.clone(), None, Some((*limit, true)))
            }
            _ => return None,
        };
        let scalar = |f: &str| match sql::target(&self.cols, f) {
            sql::Target::Typed(c) if c.kind != FieldKind::StrList => Some(c),
            _ => None,
        };
        let mut p = Pushdown {
            select: Vec::new(),
            group: Vec::new(),
            not_null: Vec::new(),
            out: Vec::new(),
            columns: Vec::new(),
            top,
        };
        if let Some(span) = time {
            p.select.push(format!(
                "(ts - (((ts % {span}) + {span}) % {span})) AS k_time"
            ));
            p.group.push("k_time".into());
            p.out.push(("k_time".into(), OutCol::Time));
            p.columns.push("_time".into());
        }
        for (i, f) in by.iter().enumerate() {
            let c = scalar(f)?;
            p.select.push(format!("`{}` AS k{i}", c.name));
            p.group.push(format!("k{i}"));
            if !c.required {
                p.not_null.push(format!("isNotNull(`{}`)", c.name));
            }
            p.out.push((format!("k{i}"), OutCol::Key(c.kind)));
            p.columns.push(f.clone());
        }
        let aggs = if top.is_some() {
            vec![vigil_query::Agg {
                func: AggFunc::Count(None),
                alias: None,
            }]
        } else {
            aggs
        };
        for (i, a) in aggs.iter().enumerate() {
            let name = format!("a{i}");
            let n = format!("n{i}");
            match &a.func {
                AggFunc::Count(None) => {
                    p.select.push(format!("count() AS {name}"));
                    p.out.push((name, OutCol::Int));
                }
                AggFunc::Count(Some(f)) => {
                    let c = scalar(f)?;
                    p.select.push(format!("count(`{}`) AS {name}", c.name));
                    p.out.push((name, OutCol::Int));
                }
                AggFunc::Dc(f) => {
                    let c = scalar(f)?;
                    p.select.push(format!("uniqExact(`{}`) AS {name}", c.name));
                    p.out.push((name, OutCol::Int));
                }
                AggFunc::Sum(f) | AggFunc::Min(f) | AggFunc::Max(f) => {
                    let c = scalar(f)?;
                    let func = match &a.func {
                        AggFunc::Sum(_) if matches!(c.kind, FieldKind::Int | FieldKind::Float) => {
                            "sum"
                        }
                        AggFunc::Min(_)
                            if matches!(
                                c.kind,
                                FieldKind::Int | FieldKind::Float | FieldKind::Time
                            ) =>
                        {
                            "min"
                        }
                        AggFunc::Max(_)
                            if matches!(
                                c.kind,
                                FieldKind::Int | FieldKind::Float | FieldKind::Time
                            ) =>
                        {
                            "max"
                        }
                        _ => return None,
                    };
                    p.select.push(format!("{func}(`{}`) AS {name}", c.name));
                    p.select.push(format!("count(`{}`) AS {n}", c.name));
                    p.out.push((name, OutCol::Opt(c.kind, n)));
                }
                AggFunc::Avg(f) => {
                    let c = scalar(f)?;
                    if !matches!(c.kind, FieldKind::Int | FieldKind::Float) {
                        return None;
                    }
                    p.select
                        .push(format!("sum(toFloat64(`{}`)) AS {name}", c.name));
                    p.select.push(format!("count(`{}`) AS {n}", c.name));
                    p.out.push((name, OutCol::Float(n)));
                }
                AggFunc::Percentile(..) => return None,
            }
            p.columns.push(a.column_name());
        }
        if top.is_some() {
            p.columns.push("percent".into());
        }
        Some(p)
    }

    fn run_pushdown(
        &self,
        p: &Pushdown,
        scope: &str,
        cond: &sql::Cond,
        stats: &mut ScanStats,
        ctl: &SearchControl,
    ) -> Result<Table, StoreError> {
        let max_groups = self.cfg.limits.max_groups;
        let mut wh = format!("{scope} AND {}", cond.sql);
        for n in &p.not_null {
            wh.push_str(" AND ");
            wh.push_str(n);
        }
        let mut sql = format!(
            "SELECT {} FROM {} {}WHERE {wh}",
            p.select.join(", "),
            self.table,
            cond.prewhere()
        );
        if !p.group.is_empty() {
            sql.push_str(&format!(" GROUP BY {}", p.group.join(", ")));
        }
        sql.push_str(&format!(" LIMIT {} FORMAT JSONEachRow", max_groups + 1));
        let settings = [
            ("max_rows_to_group_by", (max_groups + 1).to_string()),
            ("group_by_overflow_mode", "throw".to_owned()),
        ];
        let mut rows: Vec<Row> = Vec::new();
        let mut too_many = false;
        let res = self.select(&sql, &settings, ctl, |r| {
            if rows.len() >= max_groups {
                too_many = true;
                return Ok(false);
            }
            let mut cells = Vec::with_capacity(p.out.len());
            for (name, kind) in &p.out {
                let v = r.get(name).unwrap_or(&Json::Null);
                let count = |n: &str| r.get(n).and_then(Json::as_i64).unwrap_or(0);
                cells.push(match kind {
                    OutCol::Key(k) => schema::query_cell(*k, v),
                    OutCol::Time => schema::query_cell(FieldKind::Time, v),
                    // 18.16 gives NULL for uniqExact over only NULLs.
                    OutCol::Int => {
                        Some(schema::query_cell(FieldKind::Int, v).unwrap_or(Value::Int(0)))
                    }
                    OutCol::Opt(k, n) => {
                        if count(n) == 0 {
                            None
                        } else {
                            schema::query_cell(*k, v)
                        }
                    }
                    OutCol::Float(n) => {
                        let c = count(n);
                        match (c, v.as_f64()) {
                            (0, _) | (_, None) => None,
                            (c, Some(sum)) => Some(Value::Float(sum / c as f64)),
                        }
                    }
                });
            }
            rows.push(Row { id: None, cells });
            Ok(true)
        });
        match res {
            Err(StoreError::QueryLimit(t)) if t.starts_with("Code: 158") => too_many = true,
            Err(e) => return Err(e),
            Ok(()) => {}
        }
        if too_many {
            return Err(QueryError::TooManyGroups { limit: max_groups }.into());
        }
        let nkeys = p
            .out
            .iter()
            .take_while(|(_, k)| matches!(k, OutCol::Key(_) | OutCol::Time))
            .count();
        // Drop rows of a global aggregate over nothing only where the executor would.
        if nkeys > 0 {
            rows.retain(|r| r.cells[..nkeys].iter().all(Option::is_some));
        }
        rows.sort_by(|a, b| {
            for (x, y) in a.cells[..nkeys].iter().zip(&b.cells[..nkeys]) {
                if let (Some(x), Some(y)) = (x, y) {
                    let o = total_cmp(x, y);
                    if o != std::cmp::Ordering::Equal {
                        return o;
                    }
                }
            }
            std::cmp::Ordering::Equal
        });
        if let Some((limit, rare)) = p.top {
            let count_of = |r: &Row| match r.cells.get(nkeys) {
                Some(Some(Value::Int(n))) => *n,
                _ => 0,
            };
            let total: i64 = rows.iter().map(count_of).sum();
            if rare {
                rows.sort_by_key(count_of);
            } else {
                rows.sort_by_key(|r| std::cmp::Reverse(count_of(r)));
            }
            rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
            let total = total.max(1) as f64;
            for r in &mut rows {
                let pct = count_of(r) as f64 * 100.0 / total;
                r.cells.push(Some(Value::Float(pct)));
            }
        }
        stats.events_matched = rows.len() as u64;
        Ok(Table {
            columns: p.columns.clone(),
            rows,
        })
    }

    fn exec_options(&self) -> ExecOptions {
        ExecOptions {
            max_groups: self.cfg.limits.max_groups,
            max_rows: self.cfg.limits.max_rows,
            ..ExecOptions::default()
        }
    }
}

impl EventStore for ClickHouseStore {
    fn append(&self, tenant: &TenantId, events: &[Event]) -> Result<Lsn, StoreError> {
        self.check_open()?;
        for (index, ev) in events.iter().enumerate() {
            if ev.meta.tenant != tenant.as_str() {
                return Err(StoreError::TenantMismatch {
                    expected: tenant.to_string(),
                    found: ev.meta.tenant.to_string(),
                    index,
                });
            }
        }
        let mut seqs = self.seqs.lock();
        let last = match seqs.get(tenant) {
            Some(s) => *s,
            None => self.last_seq(tenant)?,
        };
        let insert = format!("INSERT INTO {} FORMAT JSONEachRow", self.table);
        let mut seq = last;
        let mut body = Vec::new();
        for chunk in events.chunks(self.cfg.insert_batch) {
            body.clear();
            for ev in chunk {
                seq += 1;
                schema::encode_row(ev, seq, &self.cols, &mut body);
            }
            let settings = [(
                "max_execution_time",
                self.cfg
                    .limits
                    .max_execution_time
                    .as_secs()
                    .max(1)
                    .to_string(),
            )];
            if let Err(e) = self
                .client
                .insert(&insert, std::mem::take(&mut body), &settings)
            {
                // Earlier chunks are in: remember how far, so sequence numbers stay unique.
                let done = seq - chunk.len() as u64;
                seqs.insert(tenant.clone(), done);
                return Err(e);
            }
        }
        seqs.insert(tenant.clone(), seq);
        Ok(seq)
    }

    fn wait_durable(
        &self,
        _tenant: &TenantId,
        _lsn: Lsn,
        _timeout: Duration,
    ) -> Result<(), StoreError> {
        // An INSERT that returned is written to the table's parts.
        Ok(())
    }

    fn search(&self, tenant: &TenantId, req: &SearchRequest) -> Result<SearchResult, StoreError> {
        self.check_open()?;
        no_spaces(req.space.as_deref())?;
        let started = Instant::now();
        if req.query.is_aggregation() {
            return Err(StoreError::Invalid(
                "search does not run aggregations; use aggregate".into(),
            ));
        }
        let (expr, _) = split_wheres(&req.query);
        let compiled = CompiledFilter::new(&expr)?;
        let cond = sql::filter(&self.cols, &expr);
        let limit = req.limit.min(MAX_SEARCH_LIMIT);
        let mut stats = ScanStats::default();
        let mut events = Vec::new();
        if limit == 0 {
            return Ok(SearchResult { events, stats });
        }
        let all: Vec<&Column> = self.cols.iter().collect();
        let cols = Self::column_list(&all, true);
        let dir = if req.order == Order::NewestFirst {
            "DESC"
        } else {
            "ASC"
        };
        let scope = self.scope(tenant, req.range);
        let cache = FieldCache::new();
        if cond.exact {
            // Two phases: the newest (oldest) `limit` keys, reading only the filter's columns
            // and `ts`/`seq`; then the full rows of those keys. Reading every column of every
            // match to sort them is what made `newest 100` slow on common terms.
            let seq = schema::SEQ;
            let t = &self.table;
            let keys_sql = format!(
                "SELECT ts, `{seq}` FROM {t} {}WHERE {scope} AND {} ORDER BY ts {dir}, `{seq}` {dir} LIMIT {limit} FORMAT JSONEachRow",
                cond.prewhere(),
                cond.sql
            );
            let mut keys: Vec<(i64, u64)> = Vec::new();
            self.select(&keys_sql, &[], &req.control, |row| {
                let ts = row.get("ts").and_then(Json::as_i64).unwrap_or(0);
                let seq = row.get(schema::SEQ).and_then(Json::as_u64).unwrap_or(0);
                keys.push((ts, seq));
                Ok(true)
            })?;
            stats.events_scanned = keys.len() as u64;
            if let (Some(lo), Some(hi)) = (
                keys.iter().map(|k| k.0).min(),
                keys.iter().map(|k| k.0).max(),
            ) {
                let seqs: Vec<String> = keys.iter().map(|k| k.1.to_string()).collect();
                let rows_sql = format!(
                    "SELECT {cols}, `{seq}` FROM {t} WHERE {scope} AND ts >= {lo} AND ts <= {hi} AND `{seq}` IN ({}) ORDER BY ts {dir}, `{seq}` {dir} FORMAT JSONEachRow",
                    seqs.join(",")
                );
                self.select(&rows_sql, &[], &req.control, |row| {
                    let ev = schema::decode_row(&row, &self.cols);
                    req.control.reserve(crate::event_bytes(&ev))?;
                    events.push(ev);
                    stats.events_decoded += 1;
                    Ok(true)
                })?;
            }
            stats.events_matched = events.len() as u64;
            stats.elapsed_us = started.elapsed().as_micros() as u64;
            return Ok(SearchResult { events, stats });
        }
        // Superset: pages in (ts, seq) order, filtered here, until enough.
        let page = 10_000.max(limit);
        let mut after: Option<(i64, u64)> = None;
        loop {
            let mut wh = format!("{scope} AND {}", cond.sql);
            if let Some((ts, seq)) = after {
                let op = if dir == "DESC" { "<" } else { ">" };
                wh.push_str(&format!(
                    " AND (ts {op} {ts} OR (ts = {ts} AND {} {op} {seq}))",
                    schema::SEQ
                ));
            }
            let sql = format!(
                "SELECT {cols}, `{seq}` FROM {t} {pre}WHERE {wh} ORDER BY ts {dir}, `{seq}` {dir} LIMIT {page} FORMAT JSONEachRow",
                pre = cond.prewhere(),
                seq = schema::SEQ,
                t = self.table
            );
            let mut got = 0usize;
            self.select(&sql, &[], &req.control, |row| {
                got += 1;
                stats.events_scanned += 1;
                let ts = row.get("ts").and_then(Json::as_i64).unwrap_or(0);
                let seq = row.get(schema::SEQ).and_then(Json::as_u64).unwrap_or(0);
                after = Some((ts, seq));
                let ev = schema::decode_row(&row, &self.cols);
                stats.events_decoded += 1;
                if compiled.matches(&EventRecord::with_cache(&ev, &cache)) {
                    req.control.reserve(crate::event_bytes(&ev))?;
                    events.push(ev);
                }
                Ok(events.len() < limit)
            })?;
            if events.len() >= limit || got < page {
                break;
            }
        }
        stats.events_matched = events.len() as u64;
        stats.elapsed_us = started.elapsed().as_micros() as u64;
        Ok(SearchResult { events, stats })
    }

    fn aggregate(
        &self,
        tenant: &TenantId,
        req: &AggregateRequest,
    ) -> Result<AggregateResult, StoreError> {
        self.check_open()?;
        no_spaces(req.space.as_deref())?;
        let started = Instant::now();
        let (expr, rest) = split_wheres(&req.query);
        let compiled = CompiledFilter::new(&expr)?;
        // Validates the stages (regexes in later `where`s) before any I/O.
        let mut exec =
            Executor::new(&req.query, self.exec_options())?.with_control(req.control.clone());
        let cond = sql::filter(&self.cols, &expr);
        let scope = self.scope(tenant, req.range);
        let mut stats = ScanStats::default();
        if cond.exact
            && let Some(first) = rest.first()
            && let Some(p) = self.pushdown(first)
        {
            let table = self.run_pushdown(&p, &scope, &cond, &mut stats, &req.control)?;
            let post = &rest[1..];
            let table = if post.is_empty() {
                table
            } else {
                let mut stages = vec![Stage::Fields(table.columns.clone())];
                stages.extend(post.iter().cloned());
                let mut ex = Executor::for_stages(&stages, self.exec_options())?;
                let index: HashMap<&str, usize> = table
                    .columns
                    .iter()
                    .enumerate()
                    .map(|(i, c)| (c.as_str(), i))
                    .collect();
                for r in &table.rows {
                    ex.push(&CellRecord {
                        index: &index,
                        cells: &r.cells,
                    })?;
                }
                let mut t = ex.finish()?;
                for r in &mut t.rows {
                    r.id = None;
                }
                t
            };
            stats.elapsed_us = started.elapsed().as_micros() as u64;
            return Ok(AggregateResult { table, stats });
        }
        // General path: stream the columns the query reads into the executor.
        let fields = req.query.fields();
        let mut need: Vec<&Column> = Vec::new();
        let mut dynamic = false;
        for f in &fields {
            match sql::target(&self.cols, f) {
                sql::Target::Typed(c) => {
                    if !need.iter().any(|n| n.name == c.name) {
                        need.push(c);
                    }
                }
                sql::Target::Dynamic => dynamic = true,
            }
        }
        let stage_text = req.query.stages.iter().any(|s| match s {
            Stage::Where(e) => has_text(e),
            _ => false,
        });
        let text = has_text(&req.query.filter) || stage_text;
        let mut names: Vec<String> = need.iter().map(|c| format!("`{}`", c.name)).collect();
        if !need.iter().any(|c| c.name == "ts") {
            names.push("`ts`".into());
        }
        if text {
            names.extend(["`message`", "`raw`", "`raw_hex`"].map(String::from));
        }
        if dynamic {
            names.extend(["`extra`", "`original`"].map(String::from));
        }
        // Row pipelines (no aggregation) see events newest first, like a search.
        let order = if req.query.is_aggregation() {
            String::new()
        } else {
            format!(" ORDER BY ts DESC, `{}` DESC", schema::SEQ)
        };
        let sql = format!(
            "SELECT {} FROM {} {}WHERE {scope} AND {}{order} FORMAT JSONEachRow",
            names.join(", "),
            self.table,
            cond.prewhere(),
            cond.sql
        );
        let cache = FieldCache::new();
        let mut push_err = None;
        self.select(&sql, &[], &req.control, |row| {
            stats.events_scanned += 1;
            let ev = schema::decode_row(&row, &self.cols);
            let rec = EventRecord::with_cache(&ev, &cache);
            if !cond.exact && !compiled.matches(&rec) {
                return Ok(true);
            }
            stats.events_matched += 1;
            if let Err(e) = exec.push(&rec) {
                push_err = Some(e);
                return Ok(false);
            }
            Ok(!exec.is_done())
        })?;
        if let Some(e) = push_err {
            return Err(e.into());
        }
        let table = exec.finish()?;
        stats.elapsed_us = started.elapsed().as_micros() as u64;
        Ok(AggregateResult { table, stats })
    }

    fn stats(&self, tenant: &TenantId) -> Result<StoreStats, StoreError> {
        let out = self.client.execute(
            &format!(
                "SELECT count(), max({}) FROM {} WHERE tenant = {} FORMAT TSV",
                schema::SEQ,
                self.table,
                sql::quote(tenant.as_str())
            ),
            &[],
            "stats",
        )?;
        let mut it = out
            .split_whitespace()
            .map(|s| s.parse::<u64>().unwrap_or(0));
        let events = it.next().unwrap_or(0);
        let last = it.next().unwrap_or(0);
        Ok(StoreStats {
            events,
            last_lsn: last,
            durable_lsn: last,
            sealed_lsn: last,
            ..StoreStats::default()
        })
    }

    fn tenants(&self) -> Result<Vec<TenantId>, StoreError> {
        self.check_open()?;
        let out = self.client.execute(
            &format!(
                "SELECT DISTINCT tenant FROM {} ORDER BY tenant FORMAT TSV",
                self.table
            ),
            &[],
            "list tenants",
        )?;
        // names were validated when stored; anything else in the table is not ours to report
        Ok(out
            .lines()
            .filter_map(|l| TenantId::new(l.trim()).ok())
            .collect())
    }

    fn flush(&self, _tenant: &TenantId) -> Result<(), StoreError> {
        self.check_open()
    }

    fn close(&self) -> Result<(), StoreError> {
        self.closed.store(true, Ordering::Release);
        Ok(())
    }
}

/// Storage spaces are an embedded-store feature: only the default space exists here.
fn no_spaces(space: Option<&str>) -> Result<(), StoreError> {
    match space {
        None | Some(crate::embedded::spaces::DEFAULT_SPACE) => Ok(()),
        Some(s) => Err(StoreError::Invalid(format!(
            "the ClickHouse backend has no storage spaces (asked for '{s}')"
        ))),
    }
}
