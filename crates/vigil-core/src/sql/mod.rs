//! The SQL backends of [`MetaStore`]: SQLite (all-in-one) and PostgreSQL (distributed), one
//! implementation over sqlx's `Any` driver with runtime queries.
//!
//! Both schemas use the same column shapes (times as Unix milliseconds, flags as 0/1
//! integers, lists as JSON text), placeholders are `$n` (SQLite accepts them), and the few
//! differences are [`Dialect`] strings: `GREATEST`/`MAX`, `FOR UPDATE`, the migration lock.
//! SQLite gets one writer connection (writes queue in the pool instead of failing with
//! `SQLITE_BUSY`) and a pool of readers; PostgreSQL one pool for both, with row locks and
//! `ON CONFLICT` upserts carrying the concurrency.

mod build;
mod migrate;
mod store_impl;

use std::path::{Path, PathBuf};
use std::time::Duration;

use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{AnyPool, Executor};

use crate::config::{MetaBackend, ValidMetaConfig};
use crate::store::MetaError;

pub use migrate::LATEST_VERSION;

/// Which database a [`SqlMetaStore`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// SQLite through the bundled library.
    Sqlite,
    /// PostgreSQL 12 or newer.
    Postgres,
}

impl Dialect {
    fn greatest(self) -> &'static str {
        match self {
            Dialect::Sqlite => "MAX",
            Dialect::Postgres => "GREATEST",
        }
    }

    fn least(self) -> &'static str {
        match self {
            Dialect::Sqlite => "MIN",
            Dialect::Postgres => "LEAST",
        }
    }

    /// Row lock for read-then-write transactions (SQLite's single writer needs none).
    fn for_update(self) -> &'static str {
        match self {
            Dialect::Sqlite => "",
            Dialect::Postgres => " FOR UPDATE",
        }
    }
}

/// Options of a SQL metadata store beyond the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreOptions {
    /// Largest incident attachment accepted, in bytes.
    pub max_attachment_bytes: u64,
    /// Connections to PostgreSQL, or SQLite reader connections.
    pub max_connections: u32,
}

impl Default for StoreOptions {
    fn default() -> StoreOptions {
        StoreOptions {
            max_attachment_bytes: 10 * 1024 * 1024,
            max_connections: 8,
        }
    }
}

/// The metadata store on SQLite or PostgreSQL.
#[derive(Clone)]
pub struct SqlMetaStore {
    dialect: Dialect,
    /// Writes (SQLite: one connection).
    w: AnyPool,
    /// Reads (PostgreSQL: the same pool as `w`).
    r: AnyPool,
    opts: StoreOptions,
    /// Called with every audit record once it is committed (the binary stores it as an audit
    /// event of its tenant).
    audit_mirror: std::sync::Arc<std::sync::OnceLock<AuditMirror>>,
}

/// What [`SqlMetaStore::set_audit_mirror`] takes.
pub type AuditMirror = Box<dyn Fn(&crate::model::AuditRecord) + Send + Sync>;

impl std::fmt::Debug for SqlMetaStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may carry a password: only the dialect is shown.
        f.debug_struct("SqlMetaStore")
            .field("dialect", &self.dialect)
            .field("opts", &self.opts)
            .finish_non_exhaustive()
    }
}

impl SqlMetaStore {
    /// Opens the store the configuration selects (SQLite: `<data_dir>/meta.db`) and runs
    /// pending migrations.
    pub async fn open(
        config: &ValidMetaConfig,
        data_dir: &Path,
    ) -> Result<SqlMetaStore, MetaError> {
        match config.backend {
            MetaBackend::Sqlite => {
                Self::open_sqlite(&data_dir.join("meta.db"), config.options).await
            }
            MetaBackend::Postgres => {
                let url = config.postgres_url.as_deref().unwrap_or_default();
                Self::open_postgres(url, config.options).await
            }
        }
    }

    /// Opens (creating it 0600 if missing) a SQLite database in WAL mode and migrates it.
    pub async fn open_sqlite(path: &Path, opts: StoreOptions) -> Result<SqlMetaStore, MetaError> {
        install_default_drivers();
        let display = path.to_string_lossy();
        if display.contains(['?', '#', '%']) {
            return Err(MetaError::Invalid {
                field: "meta.path".into(),
                reason: format!("{display}: '?', '#' and '%' are not allowed in the path"),
            });
        }
        create_private_file(path)?;
        let url = format!("sqlite://{display}?mode=rw");
        let connect = |max: u32| {
            AnyPoolOptions::new()
                .max_connections(max)
                .acquire_timeout(Duration::from_secs(30))
                .after_connect(|conn, _| {
                    Box::pin(async move {
                        conn.execute(
                            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                             PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000;",
                        )
                        .await?;
                        Ok(())
                    })
                })
                .connect(&url)
        };
        let w = connect(1).await.map_err(MetaError::Backend)?;
        let r = connect(opts.max_connections.max(1))
            .await
            .map_err(MetaError::Backend)?;
        let store = SqlMetaStore {
            dialect: Dialect::Sqlite,
            w,
            r,
            opts,
            audit_mirror: std::sync::Arc::default(),
        };
        store.start().await?;
        Ok(store)
    }

    /// Connects to PostgreSQL (`postgres://user@host:port/db`) and migrates the database.
    pub async fn open_postgres(url: &str, opts: StoreOptions) -> Result<SqlMetaStore, MetaError> {
        install_default_drivers();
        let pool = AnyPoolOptions::new()
            .max_connections(opts.max_connections.max(2))
            .acquire_timeout(Duration::from_secs(30))
            .connect(url)
            .await
            .map_err(MetaError::Backend)?;
        let store = SqlMetaStore {
            dialect: Dialect::Postgres,
            w: pool.clone(),
            r: pool,
            opts,
            audit_mirror: std::sync::Arc::default(),
        };
        store.start().await?;
        Ok(store)
    }

    /// Hands every audit record, once committed, to `mirror` (set once; later calls are
    /// ignored and return `false`). The mirror must not block: it runs on the writer's task.
    pub fn set_audit_mirror(&self, mirror: AuditMirror) -> bool {
        self.audit_mirror.set(mirror).is_ok()
    }

    /// The backend.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// The schema version of the database (after `open`, [`LATEST_VERSION`]).
    pub async fn schema_version(&self) -> Result<i64, MetaError> {
        migrate::current_version(&self.r).await
    }

    /// Closes the pools (waits for connections in use).
    pub async fn close(&self) {
        self.w.close().await;
        self.r.close().await;
    }

    async fn start(&self) -> Result<(), MetaError> {
        migrate::run(&self.w, self.dialect).await?;
        self.ensure_default_tenants().await?;
        if self.dialect == Dialect::Sqlite {
            // Statistics for tables that have none or grew since the last run (SQLite's
            // advice for long-lived connections: 0x10002 at open, plain `optimize` after;
            // see `MetaStore::refresh_statistics`). Without them the planner guesses, and
            // at 100,000 alerts it guesses a sort of every alert for a risk-sorted page.
            sqlx::raw_sql("PRAGMA optimize = 0x10002")
                .execute(&self.w)
                .await
                .map_err(MetaError::Backend)?;
        }
        Ok(())
    }
}

/// Creates the file with mode 0600 when it does not exist (SQLite gives its `-wal` and `-shm`
/// files the same mode), and its directory.
fn create_private_file(path: &Path) -> Result<(), MetaError> {
    let io = |source| MetaError::Io {
        path: PathBuf::from(path),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let mut open = std::fs::OpenOptions::new();
    open.write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        open.mode(0o600);
    }
    open.open(path).map_err(io)?;
    Ok(())
}
