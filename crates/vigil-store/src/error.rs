//! The store's error type.

use std::path::PathBuf;

/// Everything that can go wrong in a store call. Variants carry the path or tenant involved.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A tenant name that is not a safe directory name.
    #[error("invalid tenant name '{name}': {reason}")]
    InvalidTenant {
        /// The rejected name.
        name: String,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// An event of the batch belongs to another tenant than the one the call is for.
    #[error("event {index} of the batch belongs to tenant '{found}', not '{expected}'")]
    TenantMismatch {
        /// The tenant of the call.
        expected: String,
        /// The tenant in the event's metadata.
        found: String,
        /// The event's position in the batch.
        index: usize,
    },
    /// A file operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done (`write WAL`, `fsync`, `rename segment`).
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A file failed verification (checksum, magic, version, bounds).
    #[error("corrupt {path}: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
    /// An earlier write, fsync or seal failed; the tenant refuses writes until reopened so that
    /// nothing is acknowledged that might not be on disk.
    #[error("tenant '{tenant}' is failed after an earlier error: {reason}")]
    Failed {
        /// The tenant.
        tenant: String,
        /// The first error.
        reason: String,
    },
    /// The query could not be compiled or executed.
    #[error("query: {0}")]
    Query(#[from] vigil_query::QueryError),
    /// The request is not valid for this call (e.g. a bad configuration value).
    #[error("invalid request: {0}")]
    Invalid(String),
    /// Waiting for durability timed out.
    #[error(
        "timed out waiting for LSN {lsn} of tenant '{tenant}' to be durable (durable: {durable})"
    )]
    Timeout {
        /// The tenant.
        tenant: String,
        /// The LSN waited for.
        lsn: u64,
        /// The durable LSN when the wait gave up.
        durable: u64,
    },
    /// The store was closed.
    #[error("the store is closed")]
    Closed,
    /// A remote backend (ClickHouse) failed or refused a request.
    #[error("{backend} {op}: {message}")]
    Backend {
        /// The backend (`clickhouse`).
        backend: &'static str,
        /// What was being done (`insert`, `search`, `create table`).
        op: &'static str,
        /// The backend's message (its exception text, or the transport error).
        message: String,
    },
    /// Free space on the data directory's file system is below the configured reserve: the
    /// append was refused before anything was written. Retry once space is freed; events
    /// accepted earlier are safe.
    #[error(
        "disk full: {free} bytes free on the file system of {path}, below the reserve of {reserve} bytes; new events are refused until space is freed (events already accepted are safe)"
    )]
    DiskFull {
        /// The data directory.
        path: PathBuf,
        /// Bytes free (for unprivileged users) when measured.
        free: u64,
        /// The reserve (`min_free_bytes`, or `min_free_percent` of the file system).
        reserve: u64,
    },
    /// Encryption at rest: a key is missing from the keyring, does not match the one a file
    /// was written with, or the key material is unusable. Never carries key bytes.
    #[error("encryption key: {0}")]
    Key(String),
    /// A query was cancelled, or ran out of its time or memory budget.
    #[error("query stopped: {0}")]
    QueryLimit(String),
    /// The backend does not offer this operation (storage spaces on ClickHouse).
    #[error("not supported by this store: {0}")]
    Unsupported(String),
}

impl StoreError {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        StoreError::Io {
            op,
            path: path.into(),
            source,
        }
    }

    pub(crate) fn corrupt(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        StoreError::Corrupt {
            path: path.into(),
            reason: reason.into(),
        }
    }
}
