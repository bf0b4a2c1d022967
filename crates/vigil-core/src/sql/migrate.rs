//! Versioned migrations: numbered SQL files per backend, applied in order at open, each in
//! its own transaction together with its row in `schema_migrations`.

use sqlx::{AnyPool, Row};

use super::Dialect;
use crate::store::MetaError;

/// A migration: version, file name, SQLite text, PostgreSQL text.
type Migration = (i64, &'static str, &'static str, &'static str);

const MIGRATIONS: &[Migration] = &[
    (
        1,
        "0001_init.sql",
        include_str!("../../migrations/sqlite/0001_init.sql"),
        include_str!("../../migrations/postgres/0001_init.sql"),
    ),
    (
        2,
        "0002_auth.sql",
        include_str!("../../migrations/sqlite/0002_auth.sql"),
        include_str!("../../migrations/postgres/0002_auth.sql"),
    ),
    (
        3,
        "0003_sources.sql",
        include_str!("../../migrations/sqlite/0003_sources.sql"),
        include_str!("../../migrations/postgres/0003_sources.sql"),
    ),
    (
        4,
        "0004_audit_chain.sql",
        include_str!("../../migrations/sqlite/0004_audit_chain.sql"),
        include_str!("../../migrations/postgres/0004_audit_chain.sql"),
    ),
    (
        5,
        "0005_quotas_and_asset_macs.sql",
        include_str!("../../migrations/sqlite/0005_quotas_and_asset_macs.sql"),
        include_str!("../../migrations/postgres/0005_quotas_and_asset_macs.sql"),
    ),
    (
        6,
        "0006_dashboards.sql",
        include_str!("../../migrations/sqlite/0006_dashboards.sql"),
        include_str!("../../migrations/postgres/0006_dashboards.sql"),
    ),
    (
        7,
        "0007_alert_queue_indexes.sql",
        include_str!("../../migrations/sqlite/0007_alert_queue_indexes.sql"),
        include_str!("../../migrations/postgres/0007_alert_queue_indexes.sql"),
    ),
];

/// The newest schema version this binary knows.
pub const LATEST_VERSION: i64 = 7;

const CREATE: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (\
     version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)";

pub(crate) async fn current_version(pool: &AnyPool) -> Result<i64, MetaError> {
    let row = sqlx::query("SELECT COALESCE(MAX(version), 0) AS v FROM schema_migrations")
        .fetch_one(pool)
        .await
        .map_err(MetaError::Backend)?;
    row.try_get::<i64, _>("v").map_err(MetaError::Backend)
}

/// Brings the database to [`LATEST_VERSION`]; refuses a newer one. Safe to run twice and, on
/// PostgreSQL, from several processes at once (an advisory lock serializes them).
pub(crate) async fn run(pool: &AnyPool, dialect: Dialect) -> Result<(), MetaError> {
    sqlx::raw_sql(CREATE)
        .execute(pool)
        .await
        .map_err(MetaError::Backend)?;
    for &(version, name, sqlite, postgres) in MIGRATIONS {
        let mut tx = pool.begin().await.map_err(MetaError::Backend)?;
        if dialect == Dialect::Postgres {
            // Vigil's migration lock: any constant shared by all Vigil processes.
            sqlx::query("SELECT pg_advisory_xact_lock(7366221001)")
                .execute(&mut *tx)
                .await
                .map_err(MetaError::Backend)?;
        }
        let found: i64 =
            sqlx::query("SELECT COALESCE(MAX(version), 0) AS v FROM schema_migrations")
                .fetch_one(&mut *tx)
                .await
                .and_then(|r| r.try_get("v"))
                .map_err(MetaError::Backend)?;
        if found > LATEST_VERSION {
            return Err(MetaError::SchemaTooNew {
                found,
                known: LATEST_VERSION,
            });
        }
        if found >= version {
            continue;
        }
        let text = match dialect {
            Dialect::Sqlite => sqlite,
            Dialect::Postgres => postgres,
        };
        let fail = |source| MetaError::Migration {
            version,
            name,
            source,
        };
        sqlx::raw_sql(text).execute(&mut *tx).await.map_err(fail)?;
        sqlx::query(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
        )
        .bind(version)
        .bind(name)
        .bind(chrono::Utc::now().timestamp_millis())
        .execute(&mut *tx)
        .await
        .map_err(fail)?;
        tx.commit().await.map_err(fail)?;
        tracing::info!(version, name, "metadata schema migrated");
    }
    // A database newer than the binary with no migration pending still must be refused.
    let found = current_version(pool).await?;
    if found > LATEST_VERSION {
        return Err(MetaError::SchemaTooNew {
            found,
            known: LATEST_VERSION,
        });
    }
    Ok(())
}
