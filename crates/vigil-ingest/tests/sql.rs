//! The SQL polling connector against the real servers this machine runs: PostgreSQL
//! (127.0.0.1:5432, user postgres, database test) and MariaDB (127.0.0.1:3306, root, database
//! test), and SQLite files. Each test makes its own uniquely named table and drops it.
//!
//! What is checked: rows arrive once each, in order, as JSON with typed columns; the cursor
//! survives a restart (a new connector reads only the rows added since); a PostgreSQL session
//! killed mid-query (`pg_terminate_backend`) loses and duplicates nothing; an unreachable
//! server stops the start with the reason; the cursor moves only when the pipeline answers
//! that a batch is durable (the tests play the pipeline's part: they answer each batch).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::disallowed_methods
)]

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use sqlx::Executor as _;
use vigil_config::{Secret, SqlConfig, SqlCursorType, SqlDriver, SqlTlsMode};
use vigil_ingest::sql::SqlConnector;
use vigil_pipeline::{
    ComponentError, ComponentMetrics, Connector, ConnectorContext, RawBatch, Shutdown, SourceInfo,
};

const PG: &str = "postgres://postgres@127.0.0.1:5432/test";
const MY: &str = "mysql://root@127.0.0.1:3306/test";
const DEADLINE: Duration = Duration::from_secs(60);

struct Running {
    rx: flume::Receiver<RawBatch>,
    metrics: ComponentMetrics,
    shutdown: Shutdown,
    task: tokio::task::JoinHandle<Result<(), ComponentError>>,
}

fn start(settings: SqlConfig) -> Running {
    let connector = SqlConnector::new(settings).unwrap();
    let (tx, rx) = flume::bounded(16);
    let shutdown = Shutdown::new();
    let metrics = ComponentMetrics::detached("connector", "sql-test");
    let ctx = ConnectorContext {
        out: tx,
        shutdown: shutdown.signal(),
        metrics: metrics.clone(),
        source: Arc::new(SourceInfo {
            id: "sql-test".into(),
            tenant: "main".into(),
            collector: "c".into(),
        }),
        shutdown_all: shutdown.clone(),
    };
    let task = tokio::spawn(Box::new(connector).run(ctx));
    Running {
        rx,
        metrics,
        shutdown,
        task,
    }
}

impl Running {
    /// Receives rows until `n` have arrived (fails on a hang).
    async fn rows(&self, n: usize) -> Vec<Value> {
        let mut out = Vec::new();
        while out.len() < n {
            let batch = tokio::time::timeout(DEADLINE, self.rx.recv_async())
                .await
                .unwrap_or_else(|_| panic!("only {} of {n} rows arrived", out.len()))
                .unwrap();
            // the pipeline's part: the batch is durable (the cursor may move)
            let mut batch = batch;
            if let Some(ack) = batch.ack.take() {
                ack.answer(true);
            }
            for r in batch.records {
                assert!(r.transport_error.is_none());
                out.push(serde_json::from_slice(&r.data).unwrap());
            }
        }
        out
    }

    /// The next batch, unanswered.
    async fn batch(&self) -> RawBatch {
        tokio::time::timeout(DEADLINE, self.rx.recv_async())
            .await
            .expect("no batch arrived")
            .unwrap()
    }

    /// Asserts nothing more arrives within a few polls.
    async fn nothing_more(&self) {
        if let Ok(Ok(b)) =
            tokio::time::timeout(Duration::from_millis(600), self.rx.recv_async()).await
        {
            panic!("unexpected rows: {:?}", b.records);
        }
    }

    async fn stop(self) {
        self.shutdown.trigger();
        tokio::time::timeout(DEADLINE, self.task)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
    }

    fn errors(&self) -> u64 {
        self.metrics.snapshot().errors.values().sum()
    }
}

fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{prefix}_{}_{nanos}", std::process::id())
}

fn settings(url: &str, driver: SqlDriver, query: String, cursor_file: &Path) -> SqlConfig {
    SqlConfig {
        url: Secret::literal(url),
        driver,
        query,
        cursor_column: "id".into(),
        cursor_type: SqlCursorType::Integer,
        cursor_start: "0".into(),
        cursor_file: cursor_file.to_owned(),
        interval: Duration::from_millis(100),
        max_rows: 3,
        timestamp_column: Some("at".into()),
        message_column: Some("msg".into()),
        timeout: Duration::from_secs(10),
        tls: None,
    }
}

fn ids(rows: &[Value]) -> Vec<i64> {
    rows.iter().map(|r| r["id"].as_i64().unwrap()).collect()
}

#[tokio::test]
async fn postgres_rows_typed_and_cursor_kept_across_restarts() {
    let pool = sqlx::PgPool::connect(PG).await.unwrap();
    let table = unique("vigil_sql_pg");
    pool.execute(sqlx::AssertSqlSafe(format!(
        "CREATE TABLE {table} (id BIGSERIAL PRIMARY KEY, at TIMESTAMPTZ NOT NULL, \
             msg TEXT, n INT, ok BOOLEAN, score DOUBLE PRECISION, attrs JSONB, amount NUMERIC)"
    )))
    .await
    .unwrap();
    for i in 1..=5 {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO {table} (at, msg, n, ok, score, attrs, amount) \
             VALUES ('2026-11-20T10:00:00Z'::timestamptz + $1 * interval '1 second', $2, $1, $1 % 2 = 0, $1 * 0.5, '{{\"k\": 1}}', 12.5)"
        )))
        .bind(i)
        .bind(format!("event {i}"))
        .execute(&pool)
        .await
        .unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let cursor = dir.path().join("cursors/pg.json");
    let query = format!("SELECT * FROM {table} WHERE id > $1 ORDER BY id LIMIT 100");
    let r = start(settings(PG, SqlDriver::Postgres, query.clone(), &cursor));
    let rows = r.rows(5).await;
    assert_eq!(ids(&rows), vec![1, 2, 3, 4, 5]);
    let first = &rows[0];
    assert_eq!(first["msg"], "event 1");
    assert_eq!(first["message"], "event 1");
    assert_eq!(first["at"], "2026-11-20T10:00:01Z");
    assert_eq!(first["@timestamp"], "2026-11-20T10:00:01Z");
    assert_eq!(first["n"], 1);
    assert_eq!(first["ok"], false);
    assert_eq!(first["score"], 0.5);
    assert_eq!(first["attrs"]["k"], 1);
    assert!(
        first["amount"].is_string(),
        "NUMERIC kept as its bytes: {first}"
    );
    r.nothing_more().await;
    r.stop().await;
    let kept: Value = serde_json::from_slice(&vigil_testkit::read_capped(&cursor, 4096)).unwrap();
    assert_eq!(kept["cursor"], "5");

    // rows added while stopped, read by a new connector from the kept cursor
    for i in 6..=8 {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO {table} (at, msg) VALUES ('2026-11-20T11:00:00Z', $1)"
        )))
        .bind(format!("event {i}"))
        .execute(&pool)
        .await
        .unwrap();
    }
    let r = start(settings(PG, SqlDriver::Postgres, query, &cursor));
    let rows = r.rows(3).await;
    assert_eq!(ids(&rows), vec![6, 7, 8]);
    assert!(rows[0]["n"].is_null());
    r.nothing_more().await;
    r.stop().await;
    pool.execute(sqlx::AssertSqlSafe(format!("DROP TABLE {table}")))
        .await
        .unwrap();
}

/// The connector's session is killed again and again while rows are being inserted and read:
/// every row arrives exactly once.
#[tokio::test]
async fn postgres_session_killed_mid_stream_loses_and_duplicates_nothing() {
    let pool = sqlx::PgPool::connect(PG).await.unwrap();
    let table = unique("vigil_sql_kill");
    pool.execute(sqlx::AssertSqlSafe(format!(
        "CREATE TABLE {table} (id BIGSERIAL PRIMARY KEY, msg TEXT)"
    )))
    .await
    .unwrap();
    let app = unique("vigil_poll_kill");
    let url = format!("{PG}?application_name={app}");
    let dir = tempfile::tempdir().unwrap();
    // each poll takes 200 ms (pg_sleep in FROM runs once per query), so kills land mid-query
    let query = format!(
        "SELECT t.id, t.msg FROM {table} t, pg_sleep(0.2) WHERE t.id > $1 ORDER BY t.id LIMIT 50"
    );
    let mut s = settings(&url, SqlDriver::Postgres, query, &dir.path().join("c.json"));
    s.max_rows = 50;
    s.timestamp_column = None;
    s.message_column = None;
    s.interval = Duration::from_millis(50);
    let r = start(s);
    const TOTAL: i64 = 600;
    let writer = {
        let pool = pool.clone();
        let table = table.clone();
        tokio::spawn(async move {
            for chunk in 0..(TOTAL / 20) {
                let mut tx = pool.begin().await.unwrap();
                for i in 0..20 {
                    sqlx::query(sqlx::AssertSqlSafe(format!(
                        "INSERT INTO {table} (msg) VALUES ($1)"
                    )))
                    .bind(format!("row {}", chunk * 20 + i + 1))
                    .execute(&mut *tx)
                    .await
                    .unwrap();
                }
                tx.commit().await.unwrap();
                tokio::time::sleep(Duration::from_millis(30)).await;
            }
        })
    };
    let killer = {
        let pool = pool.clone();
        let app = app.clone();
        tokio::spawn(async move {
            let mut killed = 0u64;
            for _ in 0..40 {
                tokio::time::sleep(Duration::from_millis(130)).await;
                let n: Vec<(bool,)> = sqlx::query_as(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                     WHERE application_name = $1 AND state = 'active'",
                )
                .bind(&app)
                .fetch_all(&pool)
                .await
                .unwrap();
                killed += n.iter().filter(|(ok,)| *ok).count() as u64;
            }
            killed
        })
    };
    writer.await.unwrap();
    let killed = killer.await.unwrap();
    let rows = r.rows(TOTAL as usize).await;
    r.nothing_more().await;
    let got = ids(&rows);
    let unique_ids: BTreeSet<i64> = got.iter().copied().collect();
    assert_eq!(got.len(), unique_ids.len(), "a row arrived twice");
    assert_eq!(
        unique_ids,
        (1..=TOTAL).collect::<BTreeSet<_>>(),
        "a row is missing"
    );
    assert!(got.windows(2).all(|w| w[0] < w[1]), "rows out of order");
    assert!(killed > 0, "no session was killed mid-query");
    assert!(r.errors() > 0, "the killed queries are counted");
    r.stop().await;
    pool.execute(sqlx::AssertSqlSafe(format!("DROP TABLE {table}")))
        .await
        .unwrap();
}

#[tokio::test]
async fn mariadb_rows_typed_and_timestamp_cursor() {
    let pool = sqlx::MySqlPool::connect(MY).await.unwrap();
    let table = unique("vigil_sql_my");
    pool.execute(sqlx::AssertSqlSafe(format!(
        "CREATE TABLE {table} (id INT AUTO_INCREMENT PRIMARY KEY, at DATETIME(3) NOT NULL, \
             msg VARCHAR(200), n BIGINT UNSIGNED, score DOUBLE, amount DECIMAL(10,2))"
    )))
    .await
    .unwrap();
    for i in 1..=4i64 {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO {table} (at, msg, n, score, amount) VALUES \
             (TIMESTAMPADD(SECOND, ?, '2026-11-20 10:00:00.250'), ?, ?, ?, 99.95)"
        )))
        .bind(i)
        .bind(format!("event {i}"))
        .bind(i)
        .bind(i as f64 / 4.0)
        .execute(&pool)
        .await
        .unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let cursor = dir.path().join("my.json");
    let query = format!("SELECT * FROM {table} WHERE at > ? ORDER BY at LIMIT 100");
    let mut s = settings(MY, SqlDriver::MySql, query.clone(), &cursor);
    s.cursor_column = "at".into();
    s.cursor_type = SqlCursorType::Timestamp;
    s.cursor_start = "1970-01-01T00:00:00Z".into();
    let r = start(s.clone());
    let rows = r.rows(4).await;
    assert_eq!(ids(&rows), vec![1, 2, 3, 4]);
    assert_eq!(rows[0]["at"], "2026-11-20T10:00:01.250Z");
    assert_eq!(rows[0]["message"], "event 1");
    assert_eq!(rows[0]["n"], 1);
    assert_eq!(rows[1]["score"], 0.5);
    assert_eq!(rows[0]["amount"], "99.95");
    r.nothing_more().await;
    r.stop().await;
    let kept: Value = serde_json::from_slice(&vigil_testkit::read_capped(&cursor, 4096)).unwrap();
    assert_eq!(kept["cursor"], "2026-11-20T10:00:04.250Z");
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO {table} (at, msg) VALUES ('2026-11-20 10:00:04.251', 'later')"
    )))
    .execute(&pool)
    .await
    .unwrap();
    let r = start(s);
    let rows = r.rows(1).await;
    assert_eq!(rows[0]["msg"], "later");
    r.nothing_more().await;
    r.stop().await;
    pool.execute(sqlx::AssertSqlSafe(format!("DROP TABLE {table}")))
        .await
        .unwrap();
}

#[tokio::test]
async fn sqlite_rows_and_text_timestamp_cursor() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("app.db");
    let url = format!("sqlite:{}", db.display());
    let opts = url
        .parse::<sqlx::sqlite::SqliteConnectOptions>()
        .unwrap()
        .create_if_missing(true);
    let pool = sqlx::SqlitePool::connect_with(opts).await.unwrap();
    pool.execute(
        "CREATE TABLE log (id INTEGER PRIMARY KEY, at TEXT, msg TEXT, size REAL, blob BLOB)",
    )
    .await
    .unwrap();
    for i in 1..=7 {
        sqlx::query("INSERT INTO log (at, msg, size, blob) VALUES (?, ?, ?, x'00ff')")
            .bind(format!("2026-11-20 10:00:0{i}"))
            .bind(format!("line {i}"))
            .bind(f64::from(i) * 1.5)
            .execute(&pool)
            .await
            .unwrap();
    }
    let mut s = settings(
        &url,
        SqlDriver::Sqlite,
        "SELECT * FROM log WHERE at > ? ORDER BY at LIMIT 100".into(),
        &dir.path().join("c.json"),
    );
    s.cursor_column = "at".into();
    s.cursor_type = SqlCursorType::Timestamp;
    s.cursor_start = "1970-01-01T00:00:00Z".into();
    let r = start(s);
    let rows = r.rows(7).await;
    assert_eq!(ids(&rows), (1..=7).collect::<Vec<_>>());
    assert_eq!(rows[6]["at"], "2026-11-20 10:00:07");
    assert_eq!(rows[0]["size"], 1.5);
    assert_eq!(rows[0]["blob"], "00ff");
    assert_eq!(rows[0]["message"], "line 1");
    sqlx::query("INSERT INTO log (at, msg) VALUES ('2026-11-20 10:00:08', 'line 8')")
        .execute(&pool)
        .await
        .unwrap();
    let rows = r.rows(1).await;
    assert_eq!(rows[0]["msg"], "line 8");
    r.nothing_more().await;
    r.stop().await;
}

#[tokio::test]
async fn an_unreachable_database_stops_the_start_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let s = settings(
        "postgres://postgres:hunter2@127.0.0.1:1/test",
        SqlDriver::Postgres,
        "SELECT * FROM t WHERE id > $1".into(),
        &dir.path().join("c.json"),
    );
    let r = start(s);
    let err = tokio::time::timeout(DEADLINE, r.task)
        .await
        .unwrap()
        .unwrap()
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("cannot connect to the database postgres://postgres:***@127.0.0.1:1/test"),
        "{err}"
    );
    assert!(
        !err.contains("hunter2"),
        "the password is never shown: {err}"
    );
}

/// A SQLite table of `rows` rows (`id`, `msg`) and the connector's settings for it.
async fn sqlite_table(dir: &Path, rows: i64) -> SqlConfig {
    let db = dir.join("app.db");
    let url = format!("sqlite:{}", db.display());
    let opts = url
        .parse::<sqlx::sqlite::SqliteConnectOptions>()
        .unwrap()
        .create_if_missing(true);
    let pool = sqlx::SqlitePool::connect_with(opts).await.unwrap();
    pool.execute("CREATE TABLE log (id INTEGER PRIMARY KEY, msg TEXT)")
        .await
        .unwrap();
    for i in 1..=rows {
        sqlx::query("INSERT INTO log (msg) VALUES (?)")
            .bind(format!("line {i}"))
            .execute(&pool)
            .await
            .unwrap();
    }
    pool.close().await;
    let mut s = settings(
        &url,
        SqlDriver::Sqlite,
        "SELECT * FROM log WHERE id > ? ORDER BY id LIMIT 100".into(),
        &dir.join("cursor.json"),
    );
    s.timestamp_column = None;
    s.message_column = None;
    s
}

fn batch_ids(b: &RawBatch) -> Vec<i64> {
    b.records
        .iter()
        .map(|r| {
            serde_json::from_slice::<Value>(&r.data).unwrap()["id"]
                .as_i64()
                .unwrap()
        })
        .collect()
}

/// A destination failed the batch (the pipeline answers *not durable*): the cursor stays and
/// the same rows are read again.
#[tokio::test]
async fn a_batch_not_durable_is_read_again() {
    let dir = tempfile::tempdir().unwrap();
    let s = sqlite_table(dir.path(), 5).await;
    let cursor = s.cursor_file.clone();
    let r = start(s);
    let mut b = r.batch().await;
    assert_eq!(batch_ids(&b), vec![1, 2, 3]);
    b.ack.take().unwrap().answer(false);
    // read again, from the unchanged cursor
    let mut b = r.batch().await;
    assert_eq!(batch_ids(&b), vec![1, 2, 3]);
    assert!(
        !cursor.exists(),
        "the cursor moved before the batch was durable"
    );
    b.ack.take().unwrap().answer(true);
    let rows = r.rows(2).await;
    assert_eq!(ids(&rows), vec![4, 5]);
    r.nothing_more().await;
    assert_eq!(r.metrics.snapshot().errors.get("not_durable"), Some(&1));
    r.stop().await;
    let kept: Value = serde_json::from_slice(&vigil_testkit::read_capped(&cursor, 4096)).unwrap();
    assert_eq!(kept["cursor"], "5");
}

/// The pipeline accepted a batch, then the process went away before the batch was durable (the
/// batch dropped unanswered, the connector stopped): the next start reads the same rows.
#[tokio::test]
async fn an_unanswered_batch_is_read_again_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let s = sqlite_table(dir.path(), 5).await;
    let cursor = s.cursor_file.clone();
    let r = start(s.clone());
    let first = r.rows(3).await;
    assert_eq!(ids(&first), vec![1, 2, 3]);
    // rows 4 and 5: accepted, never answered
    let b = r.batch().await;
    assert_eq!(batch_ids(&b), vec![4, 5]);
    r.shutdown.trigger();
    drop(b);
    tokio::time::timeout(DEADLINE, r.task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let kept: Value = serde_json::from_slice(&vigil_testkit::read_capped(&cursor, 4096)).unwrap();
    assert_eq!(kept["cursor"], "3", "the cursor of the last durable batch");
    let r = start(s);
    let again = r.rows(2).await;
    assert_eq!(ids(&again), vec![4, 5]);
    r.nothing_more().await;
    r.stop().await;
}

/// TLS options reach the drivers, against the real servers: this machine's PostgreSQL serves
/// TLS (Debian's cluster has `ssl = on` with its snakeoil certificate), MariaDB does not.
/// PostgreSQL with `require` polls over TLS (the query reports `pg_stat_ssl` of its own
/// session), with `disable` without; `verify_ca` with a CA that did not sign the server's
/// certificate fails to connect, naming the certificate. MariaDB with `require` fails, saying
/// the server has no TLS; with `prefer` it polls.
#[tokio::test]
async fn tls_modes_reach_the_drivers() {
    let pool = sqlx::PgPool::connect(PG).await.unwrap();
    let ssl: String = sqlx::query_scalar("SHOW ssl")
        .fetch_one(&pool)
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let query = "SELECT n AS id, (SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()) \
                 AS tls FROM generate_series(1, 2) n WHERE n > $1 ORDER BY n LIMIT 10"
        .to_owned();
    let pg = |mode, ca: Option<std::path::PathBuf>, file: &str| SqlConfig {
        tls: Some((mode, ca)),
        timestamp_column: None,
        message_column: None,
        ..settings(
            PG,
            SqlDriver::Postgres,
            query.clone(),
            &dir.path().join(file),
        )
    };
    if ssl == "on" {
        let r = start(pg(SqlTlsMode::Require, None, "a.json"));
        let rows = r.rows(2).await;
        assert_eq!(rows[0]["tls"], true, "{rows:?}");
        r.stop().await;
    } else {
        eprintln!("PostgreSQL has ssl = {ssl}: the TLS session itself is not checked");
    }
    let r = start(pg(SqlTlsMode::Disable, None, "b.json"));
    let rows = r.rows(2).await;
    assert_eq!(rows[0]["tls"], false, "{rows:?}");
    r.stop().await;

    // a CA that signed nothing of the server's
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "vigil test unrelated CA");
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, rcgen::KeyPair::generate().unwrap())
        .unwrap();
    let ca_path = dir.path().join("ca.pem");
    std::fs::write(&ca_path, ca.pem()).unwrap();
    let c = SqlConnector::new(pg(SqlTlsMode::VerifyCa, Some(ca_path.clone()), "c.json")).unwrap();
    let err = c.check().await.unwrap_err();
    if ssl == "on" {
        assert!(
            err.to_lowercase().contains("certificate") || err.contains("UnknownIssuer"),
            "{err}"
        );
    }

    // `verify_full` with the certificate that signed the server's own (Debian's snakeoil
    // certificate is self-signed for `localhost`, so it is its own CA): the poll succeeds over
    // TLS when the URL names `localhost`, and fails when it names an address the certificate
    // does not list.
    if ssl == "on" {
        let cert_file: String = sqlx::query_scalar("SHOW ssl_cert_file")
            .fetch_one(&pool)
            .await
            .unwrap();
        let data_dir: String = sqlx::query_scalar("SHOW data_directory")
            .fetch_one(&pool)
            .await
            .unwrap();
        let cert_path = std::path::Path::new(&data_dir).join(&cert_file);
        match std::fs::read(&cert_path) {
            Ok(pem) => {
                let server_ca = dir.path().join("server-ca.pem");
                std::fs::write(&server_ca, pem).unwrap();
                let by_name = |file: &str| SqlConfig {
                    url: Secret::literal(&PG.replace("127.0.0.1", "localhost")),
                    ..pg(SqlTlsMode::VerifyFull, Some(server_ca.clone()), file)
                };
                let r = start(by_name("f.json"));
                let rows = r.rows(2).await;
                assert_eq!(rows[0]["tls"], true, "{rows:?}");
                r.stop().await;

                let c = SqlConnector::new(pg(
                    SqlTlsMode::VerifyFull,
                    Some(server_ca.clone()),
                    "g.json",
                ))
                .unwrap();
                let err = c.check().await.unwrap_err();
                assert!(
                    err.to_lowercase().contains("certificate") || err.contains("NotValidForName"),
                    "{err}"
                );
            }
            Err(e) => eprintln!(
                "cannot read the server's certificate {}: {e}; verify_full is not checked",
                cert_path.display()
            ),
        }
    }

    // MariaDB: no TLS on this server
    let my = |mode, file: &str| SqlConfig {
        tls: Some((mode, None)),
        timestamp_column: None,
        message_column: None,
        ..settings(
            MY,
            SqlDriver::MySql,
            "SELECT 1 AS id FROM DUAL WHERE 1 > ? LIMIT 1".to_owned(),
            &dir.path().join(file),
        )
    };
    let mpool = sqlx::MySqlPool::connect(MY).await.unwrap();
    let have: Option<(String, String)> = sqlx::query_as("SHOW VARIABLES LIKE 'have_ssl'")
        .fetch_optional(&mpool)
        .await
        .unwrap();
    let c = SqlConnector::new(my(SqlTlsMode::Require, "d.json")).unwrap();
    let required = c.check().await;
    if have.as_ref().is_some_and(|(_, v)| v == "YES") {
        assert!(required.is_ok(), "{required:?}");
    } else {
        let err = required.unwrap_err();
        assert!(
            err.to_lowercase().contains("tls") || err.to_lowercase().contains("ssl"),
            "{err}"
        );
    }
    let c = SqlConnector::new(my(SqlTlsMode::Prefer, "e.json")).unwrap();
    c.check().await.unwrap();
}
