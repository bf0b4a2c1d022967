//! The SQL polling connector: reads new rows from PostgreSQL, MySQL/MariaDB or SQLite with
//! a query that takes a cursor, every `interval`.
//!
//! # Cursor
//!
//! The query reads the rows after the cursor (`WHERE id > $1 ORDER BY id LIMIT 1000`); the
//! connector reads at most `max_rows` of them and sends them to the pipeline as one batch with
//! an [`Ack`]. Only when the pipeline answers that the batch is **durable** (every destination
//! wrote its events; for the store: appended to its write-ahead log) does the cursor move to
//! the last row's `cursor_column`, written to `cursor_file` (a temporary file, `fsync`,
//! rename, `fsync` of the directory); the next poll starts after the answer. So a failure at
//! any point before that — the query or the connection breaking mid-stream, a destination
//! that fails or gives the batch up at shutdown, the process killed — leaves the cursor where
//! it was, and the rows are read again from the database (by the next poll, or after the
//! restart): no row is skipped. A batch answered *not durable* is counted (`not_durable`) and
//! its rows are read again after `interval`. A row is stored twice only when the process dies
//! between the store's write and the cursor's (a few milliseconds). A poll that returns
//! `max_rows` rows is followed by the next at once; a shorter one waits `interval`.
//!
//! The cursor is an integer (identity, serial, auto-increment) or a timestamp. A timestamp
//! cursor is bound as a timestamp for PostgreSQL and MySQL, and as the column's own text for
//! SQLite (which stores times as text and compares them as text). Either must be strictly
//! increasing: rows that share the last cursor value of a poll cut by `LIMIT` would be
//! skipped.
//!
//! # Rows
//!
//! Each row is one record: a JSON object of its columns (`{"id":7,"user":"alice",...}`),
//! typed: integers, floats, booleans, text, JSON; times as RFC 3339 (`TIMESTAMP` without a
//! zone read as UTC); dates and times of day as text; anything else (PostgreSQL `NUMERIC`,
//! `UUID`, `INET`, byte strings) as lowercase hex of its bytes — cast such columns to text
//! in the query to get them readable. `timestamp_column` is copied to `@timestamp` and
//! `message_column` to `message`; the `sql` normalizer pack (the default for this connector)
//! maps those and keeps every column as `original.<column>`.
//!
//! # TLS
//!
//! `tls.mode` and `tls.ca` become PostgreSQL's `sslmode`/`sslrootcert` and MySQL's
//! `ssl-mode`/`ssl-ca` (rustls with ring, webpki roots when no CA is given); a server that does
//! not offer TLS under `require` or stricter, or a certificate that does not verify, is a
//! connection error at start (and in `vigil validate`).
//!
//! # Failures
//!
//! The first connection is made at start: a database that cannot be reached (or a wrong
//! password) stops `vigil up` with the reason. Later failures (the server restarting, the
//! connection killed, a query error or timeout) are counted (`query`, `connect`), logged at
//! most once a minute, and retried every `interval`. On shutdown the connector waits (at most
//! 30 s) for the answer on the batch in flight before it stops.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::{DateTime, NaiveDateTime, SecondsFormat, Utc};
use futures_util::TryStreamExt;
use serde_json::{Map, Value};
use sqlx::mysql::{MySqlConnectOptions, MySqlPool, MySqlPoolOptions, MySqlRow, MySqlSslMode};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow, PgSslMode};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions, SqliteRow};
use sqlx::{Column, Row, TypeInfo, ValueRef};
use vigil_config::{SqlConfig, SqlCursorType, SqlDriver, SqlTlsMode};
use vigil_event::Timestamp;
use vigil_pipeline::{
    Ack, AckWait, BoxFuture, ComponentError, Connector, ConnectorContext, RawBatch, RawRecord,
    ShutdownSignal,
};

use crate::IngestError;

/// Validated settings of the connector (built by `vigil-config`).
pub type SqlSettings = SqlConfig;

/// How often a failing poll is logged at most (every failure is counted).
const LOG_EVERY: Duration = Duration::from_secs(60);
/// How long shutdown waits for the pipeline's answer on the batch in flight.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(30);

/// The `sql` connector.
#[derive(Debug)]
pub struct SqlConnector {
    settings: SqlSettings,
    options: Options,
}

#[derive(Debug, Clone)]
enum Options {
    Pg(PgConnectOptions),
    My(MySqlConnectOptions),
    Lite(SqliteConnectOptions),
}

#[derive(Debug, Clone)]
enum Pool {
    Pg(PgPool),
    My(MySqlPool),
    Lite(SqlitePool),
}

/// Why a poll failed.
#[derive(Debug, thiserror::Error)]
enum PollError {
    #[error("{0}")]
    Db(#[from] sqlx::Error),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("the rows have no column `{0}` (cursor_column)")]
    NoCursorColumn(String),
    #[error("the cursor column `{column}` of a row is {found}, not {expected}")]
    BadCursor {
        column: String,
        found: String,
        expected: &'static str,
    },
}

impl SqlConnector {
    /// A connector for `settings`; the URL is parsed here (an unusable URL is an error), the
    /// database is first reached when it runs.
    pub fn new(settings: SqlSettings) -> Result<SqlConnector, IngestError> {
        let url = settings.url.expose();
        let bad = |e: sqlx::Error| IngestError::Invalid {
            field: "url",
            reason: format!("{}: {e}", redact(url)),
        };
        let options = match settings.driver {
            SqlDriver::Postgres => {
                let mut o = PgConnectOptions::from_str(url).map_err(bad)?;
                if let Some((mode, ca)) = &settings.tls {
                    o = o.ssl_mode(match mode {
                        SqlTlsMode::Disable => PgSslMode::Disable,
                        SqlTlsMode::Prefer => PgSslMode::Prefer,
                        SqlTlsMode::Require => PgSslMode::Require,
                        SqlTlsMode::VerifyCa => PgSslMode::VerifyCa,
                        SqlTlsMode::VerifyFull => PgSslMode::VerifyFull,
                    });
                    if let Some(ca) = ca {
                        o = o.ssl_root_cert(ca.clone());
                    }
                }
                Options::Pg(o)
            }
            SqlDriver::MySql => {
                // sqlx knows the scheme `mysql` only; MariaDB speaks the same protocol
                let url = url
                    .strip_prefix("mariadb:")
                    .map_or_else(|| url.to_owned(), |r| format!("mysql:{r}"));
                let mut o = MySqlConnectOptions::from_str(&url).map_err(bad)?;
                if let Some((mode, ca)) = &settings.tls {
                    o = o.ssl_mode(match mode {
                        SqlTlsMode::Disable => MySqlSslMode::Disabled,
                        SqlTlsMode::Prefer => MySqlSslMode::Preferred,
                        SqlTlsMode::Require => MySqlSslMode::Required,
                        SqlTlsMode::VerifyCa => MySqlSslMode::VerifyCa,
                        SqlTlsMode::VerifyFull => MySqlSslMode::VerifyIdentity,
                    });
                    if let Some(ca) = ca {
                        o = o.ssl_ca(ca.clone());
                    }
                }
                Options::My(o)
            }
            SqlDriver::Sqlite => Options::Lite(SqliteConnectOptions::from_str(url).map_err(bad)?),
        };
        Ok(SqlConnector { settings, options })
    }

    /// Connects once (within `timeout`) and disconnects: what `vigil validate` asks of an
    /// `sql` connector. The error is the one `vigil up` would stop with.
    pub async fn check(&self) -> Result<(), String> {
        let pool = self.pool();
        let shown = redact(self.settings.url.expose());
        let r = tokio::time::timeout(self.settings.timeout, pool.check()).await;
        pool.close().await;
        match r {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(format!("cannot connect to the database {shown}: {e}")),
            Err(_) => Err(format!(
                "cannot connect to the database {shown}: no answer within {:?}",
                self.settings.timeout
            )),
        }
    }

    fn pool(&self) -> Pool {
        let t = self.settings.timeout;
        match &self.options {
            Options::Pg(o) => Pool::Pg(
                PgPoolOptions::new()
                    .max_connections(1)
                    .acquire_timeout(t)
                    .connect_lazy_with(o.clone()),
            ),
            Options::My(o) => Pool::My(
                MySqlPoolOptions::new()
                    .max_connections(1)
                    .acquire_timeout(t)
                    .connect_lazy_with(o.clone()),
            ),
            Options::Lite(o) => Pool::Lite(
                SqlitePoolOptions::new()
                    .max_connections(1)
                    .acquire_timeout(t)
                    .connect_lazy_with(o.clone()),
            ),
        }
    }
}

/// `url` without its password.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (auth, host) = match rest.rsplit_once('@') {
        Some((a, h)) => (a, h),
        None => return url.to_owned(),
    };
    let user = auth.split_once(':').map_or(auth, |(u, _)| u);
    if auth.contains(':') {
        format!("{scheme}://{user}:***@{host}")
    } else {
        format!("{scheme}://{user}@{host}")
    }
}

impl Connector for SqlConnector {
    fn run(self: Box<Self>, ctx: ConnectorContext) -> BoxFuture<Result<(), ComponentError>> {
        Box::pin(async move {
            let s = &self.settings;
            let pool = self.pool();
            let shown = redact(s.url.expose());
            let mut cursor = match load_cursor(&s.cursor_file) {
                Ok(Some(c)) => c,
                Ok(None) => s.cursor_start.clone(),
                Err(e) => {
                    return Err(ComponentError::new(
                        &ctx.metrics,
                        format!("cursor file {}: {e}", s.cursor_file.display()),
                    ));
                }
            };
            // the first connection: an unreachable database stops the start with the reason
            let first = tokio::time::timeout(s.timeout, pool.check()).await;
            match first {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    return Err(ComponentError::new(
                        &ctx.metrics,
                        format!("cannot connect to the database {shown}: {e}"),
                    ));
                }
                Err(_) => {
                    return Err(ComponentError::new(
                        &ctx.metrics,
                        format!(
                            "cannot connect to the database {shown}: no answer within {:?}",
                            s.timeout
                        ),
                    ));
                }
            }
            tracing::info!(connector = %ctx.source.id, database = %shown, %cursor, "polling");
            let mut shutdown = ctx.shutdown.clone();
            let mut last_log: Option<Instant> = None;
            let mut wait = Duration::ZERO;
            loop {
                tokio::select! {
                    biased;
                    () = shutdown.wait() => break,
                    () = tokio::time::sleep(wait) => {}
                }
                let polled = tokio::select! {
                    biased;
                    () = shutdown.wait() => break,
                    r = tokio::time::timeout(s.timeout, pool.poll(s, &cursor)) => {
                        r.unwrap_or(Err(PollError::Timeout(s.timeout)))
                    }
                };
                match polled {
                    Ok((rows, last)) => {
                        let n = rows.len();
                        ctx.metrics
                            .bytes_in(rows.iter().map(|r| r.len() as u64).sum());
                        let received = Timestamp::now();
                        let records = rows
                            .into_iter()
                            .map(|data| RawRecord {
                                data: Bytes::from(data),
                                received,
                                peer: None,
                                transport_error: None,
                            })
                            .collect();
                        let durable = match send_acked(&ctx, records).await {
                            Sent::Closed => break,
                            Sent::Nothing => true,
                            Sent::Waiting(w) => answer(w, &mut shutdown).await,
                        };
                        if !durable {
                            // the rows are read again from the unchanged cursor
                            ctx.metrics.error("not_durable", 1);
                            tracing::warn!(
                                connector = %ctx.source.id, rows = n,
                                "a batch was not written by every destination; the cursor \
                                 stays, its rows are read again"
                            );
                            if shutdown.is_triggered() {
                                break;
                            }
                            wait = s.interval;
                            continue;
                        }
                        if let Some(last) = last {
                            if let Err(e) = save_cursor(&s.cursor_file, &last) {
                                // the rows were sent: without the cursor on disk a restart
                                // would read them again, so stop rather than duplicate
                                return Err(ComponentError::new(
                                    &ctx.metrics,
                                    format!(
                                        "cannot write the cursor file {}: {e}",
                                        s.cursor_file.display()
                                    ),
                                ));
                            }
                            cursor = last;
                        }
                        wait = if n >= s.max_rows {
                            Duration::ZERO
                        } else {
                            s.interval
                        };
                    }
                    Err(e) => {
                        let reason = match &e {
                            PollError::Db(
                                sqlx::Error::Io(_)
                                | sqlx::Error::PoolTimedOut
                                | sqlx::Error::Tls(_)
                                | sqlx::Error::Protocol(_),
                            ) => "connect",
                            PollError::Timeout(_) => "timeout",
                            _ => "query",
                        };
                        ctx.metrics.error(reason, 1);
                        if last_log.is_none_or(|t| t.elapsed() >= LOG_EVERY) {
                            last_log = Some(Instant::now());
                            tracing::warn!(
                                connector = %ctx.source.id, database = %shown, error = %e,
                                "SQL poll failed; retrying every interval (logged once a minute)"
                            );
                        }
                        wait = s.interval;
                    }
                }
            }
            pool.close().await;
            Ok(())
        })
    }
}

/// What became of a poll's rows.
enum Sent {
    /// There were none.
    Nothing,
    /// The pipeline is gone.
    Closed,
    /// Sent; the pipeline's answer is coming.
    Waiting(AckWait),
}

/// Sends `records` as one batch with an [`Ack`].
async fn send_acked(ctx: &ConnectorContext, records: Vec<RawRecord>) -> Sent {
    if records.is_empty() {
        return Sent::Nothing;
    }
    let n = records.len() as u64;
    let (ack, wait) = Ack::new();
    let batch = RawBatch {
        source: ctx.source.clone(),
        records,
        ack: Some(ack),
        file: None,
    };
    if ctx.out.send_async(batch).await.is_err() {
        ctx.metrics.drop("pipeline_closed", n);
        return Sent::Closed;
    }
    ctx.metrics.events_in(n);
    Sent::Waiting(wait)
}

/// The pipeline's answer on a batch: `true` when durable. Once shutdown begins, waits at most
/// [`SHUTDOWN_WAIT`] more (the pipeline drains its queues first).
async fn answer(wait: AckWait, shutdown: &mut ShutdownSignal) -> bool {
    let answer = wait.durable();
    tokio::pin!(answer);
    tokio::select! {
        d = &mut answer => return d,
        () = shutdown.wait() => {}
    }
    tokio::time::timeout(SHUTDOWN_WAIT, answer)
        .await
        .unwrap_or(false)
}

impl Pool {
    async fn check(&self) -> Result<(), sqlx::Error> {
        match self {
            Pool::Pg(p) => p.acquire().await.map(drop),
            Pool::My(p) => p.acquire().await.map(drop),
            Pool::Lite(p) => p.acquire().await.map(drop),
        }
    }

    async fn close(&self) {
        match self {
            Pool::Pg(p) => p.close().await,
            Pool::My(p) => p.close().await,
            Pool::Lite(p) => p.close().await,
        }
    }

    /// Runs the query after `cursor`: the rows as JSON and the last row's cursor.
    async fn poll(
        &self,
        s: &SqlSettings,
        cursor: &str,
    ) -> Result<(Vec<Vec<u8>>, Option<String>), PollError> {
        let mut out = Vec::new();
        let mut last = None;
        macro_rules! fetch {
            ($pool:expr, $q:expr, $value:path) => {{
                let mut rows = $q.fetch($pool);
                while let Some(row) = rows.try_next().await? {
                    let obj = row_map(&row, $value);
                    last = Some(cursor_of(&obj, s)?);
                    out.push(record(obj, s));
                    if out.len() >= s.max_rows {
                        break;
                    }
                }
            }};
        }
        match self {
            Pool::Pg(p) => {
                let q = sqlx::query(sqlx::AssertSqlSafe(s.query.clone()));
                let q = match s.cursor_type {
                    SqlCursorType::Integer => q.bind(int_cursor(cursor)),
                    SqlCursorType::Timestamp => q.bind(time_cursor(cursor)),
                };
                fetch!(p, q, pg_value)
            }
            Pool::My(p) => {
                let q = sqlx::query(sqlx::AssertSqlSafe(s.query.clone()));
                let q = match s.cursor_type {
                    SqlCursorType::Integer => q.bind(int_cursor(cursor)),
                    SqlCursorType::Timestamp => q.bind(time_cursor(cursor)),
                };
                fetch!(p, q, my_value)
            }
            Pool::Lite(p) => {
                let q = sqlx::query(sqlx::AssertSqlSafe(s.query.clone()));
                let q = match s.cursor_type {
                    SqlCursorType::Integer => q.bind(int_cursor(cursor)),
                    SqlCursorType::Timestamp => q.bind(cursor.to_owned()),
                };
                fetch!(p, q, lite_value)
            }
        }
        Ok((out, last))
    }
}

fn int_cursor(c: &str) -> i64 {
    c.trim().parse().unwrap_or(0)
}

fn time_cursor(c: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(c.trim())
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_default()
}

/// The cursor value of a row, as kept in the cursor file.
fn cursor_of(row: &Map<String, Value>, s: &SqlSettings) -> Result<String, PollError> {
    let v = row
        .get(&s.cursor_column)
        .ok_or_else(|| PollError::NoCursorColumn(s.cursor_column.clone()))?;
    let bad = |expected| PollError::BadCursor {
        column: s.cursor_column.clone(),
        found: v.to_string(),
        expected,
    };
    match (s.cursor_type, v) {
        (SqlCursorType::Integer, Value::Number(n)) if n.is_i64() || n.is_u64() => Ok(n.to_string()),
        (SqlCursorType::Integer, _) => Err(bad("an integer")),
        (SqlCursorType::Timestamp, Value::String(t)) => Ok(t.clone()),
        (SqlCursorType::Timestamp, Value::Number(n)) if s.driver == SqlDriver::Sqlite => {
            Ok(n.to_string())
        }
        (SqlCursorType::Timestamp, _) => Err(bad("a timestamp")),
    }
}

/// The record of a row: its columns, with `@timestamp` and `message` copied from the
/// configured columns.
fn record(mut obj: Map<String, Value>, s: &SqlSettings) -> Vec<u8> {
    if let Some(c) = &s.timestamp_column
        && let Some(v) = obj.get(c).cloned()
    {
        obj.insert("@timestamp".into(), v);
    }
    if let Some(c) = &s.message_column
        && let Some(v) = obj.get(c).cloned()
    {
        obj.insert("message".into(), v);
    }
    serde_json::to_vec(&Value::Object(obj)).unwrap_or_default()
}

fn rfc3339(t: DateTime<Utc>) -> Value {
    Value::String(t.to_rfc3339_opts(SecondsFormat::AutoSi, true))
}

fn hex(b: &[u8]) -> Value {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        let _ = write!(s, "{x:02x}");
    }
    Value::String(s)
}

fn float(f: f64) -> Value {
    serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)
}

/// A row as a JSON object: each column by name, its value read by the driver's `value`.
fn row_map<R: Row>(row: &R, value: fn(&R, usize) -> Value) -> Map<String, Value> {
    let mut m = Map::new();
    for (i, col) in row.columns().iter().enumerate() {
        m.insert(col.name().to_owned(), value(row, i));
    }
    m
}

fn pg_value(row: &PgRow, i: usize) -> Value {
    let Ok(raw) = row.try_get_raw(i) else {
        return Value::Null;
    };
    if raw.is_null() {
        return Value::Null;
    }
    let ty = raw.type_info().name().to_owned();
    let v = match ty.as_str() {
        "INT2" => row.try_get::<i16, _>(i).map(Value::from),
        "INT4" => row.try_get::<i32, _>(i).map(Value::from),
        "INT8" => row.try_get::<i64, _>(i).map(Value::from),
        "FLOAT4" => row.try_get::<f32, _>(i).map(|f| float(f64::from(f))),
        "FLOAT8" => row.try_get::<f64, _>(i).map(float),
        "BOOL" => row.try_get::<bool, _>(i).map(Value::from),
        "TEXT" | "VARCHAR" | "BPCHAR" | "NAME" | "CHAR" | "CITEXT" => {
            row.try_get::<String, _>(i).map(Value::from)
        }
        "TIMESTAMPTZ" => row.try_get::<DateTime<Utc>, _>(i).map(rfc3339),
        "TIMESTAMP" => row
            .try_get::<NaiveDateTime, _>(i)
            .map(|t| rfc3339(t.and_utc())),
        "DATE" => row
            .try_get::<chrono::NaiveDate, _>(i)
            .map(|d| Value::String(d.to_string())),
        "TIME" => row
            .try_get::<chrono::NaiveTime, _>(i)
            .map(|d| Value::String(d.to_string())),
        "JSON" | "JSONB" => row.try_get::<Value, _>(i),
        _ => Err(sqlx::Error::ColumnNotFound(String::new())),
    };
    v.unwrap_or_else(|_| {
        row.try_get_raw(i)
            .ok()
            .and_then(|r| r.as_bytes().ok().map(hex))
            .unwrap_or(Value::Null)
    })
}

fn my_value(row: &MySqlRow, i: usize) -> Value {
    let Ok(raw) = row.try_get_raw(i) else {
        return Value::Null;
    };
    if raw.is_null() {
        return Value::Null;
    }
    let ty = raw.type_info().name().to_owned();
    let v = match ty.as_str() {
        "BOOLEAN" => row.try_get::<bool, _>(i).map(Value::from),
        "TINYINT" | "SMALLINT" | "MEDIUMINT" | "INT" | "BIGINT" => {
            row.try_get::<i64, _>(i).map(Value::from)
        }
        "TINYINT UNSIGNED" | "SMALLINT UNSIGNED" | "MEDIUMINT UNSIGNED" | "INT UNSIGNED"
        | "BIGINT UNSIGNED" | "YEAR" => row.try_get::<u64, _>(i).map(Value::from),
        "FLOAT" => row.try_get::<f32, _>(i).map(|f| float(f64::from(f))),
        "DOUBLE" => row.try_get::<f64, _>(i).map(float),
        "TIMESTAMP" => row.try_get::<DateTime<Utc>, _>(i).map(rfc3339),
        "DATETIME" => row
            .try_get::<NaiveDateTime, _>(i)
            .map(|t| rfc3339(t.and_utc())),
        "DATE" => row
            .try_get::<chrono::NaiveDate, _>(i)
            .map(|d| Value::String(d.to_string())),
        "TIME" => row
            .try_get::<chrono::NaiveTime, _>(i)
            .map(|d| Value::String(d.to_string())),
        "JSON" => row.try_get::<Value, _>(i),
        _ => row.try_get_unchecked::<String, _>(i).map(Value::from),
    };
    v.unwrap_or_else(|_| {
        row.try_get_unchecked::<Vec<u8>, _>(i)
            .map(|b| hex(&b))
            .unwrap_or(Value::Null)
    })
}

fn lite_value(row: &SqliteRow, i: usize) -> Value {
    let Ok(raw) = row.try_get_raw(i) else {
        return Value::Null;
    };
    if raw.is_null() {
        return Value::Null;
    }
    // SQLite values carry their own storage class, whatever the column's declared type
    let ty = raw.type_info().name().to_owned();
    let v = match ty.as_str() {
        "INTEGER" | "BOOLEAN" => row.try_get_unchecked::<i64, _>(i).map(Value::from),
        "REAL" => row.try_get_unchecked::<f64, _>(i).map(float),
        "BLOB" => row.try_get_unchecked::<Vec<u8>, _>(i).map(|b| hex(&b)),
        _ => row.try_get_unchecked::<String, _>(i).map(Value::from),
    };
    v.unwrap_or(Value::Null)
}

/// The cursor kept in `path`, `None` when there is none yet.
fn load_cursor(path: &Path) -> Result<Option<String>, String> {
    // a cursor is a few dozen bytes; a large file is not ours
    let bytes = match vigil_config::read_file_capped(path, 64 * 1024) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.to_string()),
    };
    let v: Value = serde_json::from_slice(&bytes)
        .map_err(|e| format!("not a cursor file ({e}); delete it to read from cursor_start"))?;
    match v.get("cursor") {
        Some(Value::String(s)) => Ok(Some(s.clone())),
        _ => Err("no `cursor` in it; delete it to read from cursor_start".into()),
    }
}

/// Writes the cursor durably: a temporary file, synced, renamed over the old one, and the
/// directory synced, so a crash leaves the old cursor or the new one, never a torn file.
fn save_cursor(path: &Path, cursor: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    let dir = path.parent().unwrap_or(Path::new("."));
    vigil_fs::create_dir_all(dir)?;
    let tmp: PathBuf = path.with_extension("json.tmp");
    let mut f = vigil_fs::create(&tmp)?;
    f.write_all(&serde_json::to_vec(&serde_json::json!({ "cursor": cursor })).unwrap_or_default())?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, path)?;
    if let Ok(d) = std::fs::File::open(dir) {
        d.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_shown_without_password() {
        assert_eq!(
            redact("postgres://vigil:s3cret@db:5432/app"),
            "postgres://vigil:***@db:5432/app"
        );
        assert_eq!(redact("mysql://root@db/test"), "mysql://root@db/test");
        assert_eq!(redact("sqlite:/tmp/x.db"), "sqlite:/tmp/x.db");
    }

    #[test]
    fn cursor_file_round_trip() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let f = dir.path().join("c/x.json");
        assert_eq!(load_cursor(&f), Ok(None));
        save_cursor(&f, "42").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(load_cursor(&f), Ok(Some("42".into())));
        std::fs::write(&f, b"garbage").unwrap_or_else(|e| panic!("{e}"));
        assert!(load_cursor(&f).is_err());
    }
}
