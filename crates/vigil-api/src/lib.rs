//! Vigil's HTTP API: search, health, metrics and source status.
//!
//! Secure by default: every route but `/health` (which says only "ok") requires the bearer
//! token, compared in constant time; failed authentications are counted, logged at a bounded
//! rate and throttled per client address (see `auth`); connections are capped, share the
//! process's descriptor budget and are closed when they stall (see `listener`); requests in
//! progress are capped; bodies are capped in size and in time; searches run under a time limit on the
//! blocking pool so a heavy query never stalls the runtime; TLS is one config block away; the
//! default listen address is loopback. Errors have a stable machine `code`, an HTTP status and
//! a message, and never leak internals.
//!
//! The API does not know the store: it calls a [`SearchService`] the binary provides, so the
//! embedded store and ClickHouse serve the same routes.

#![warn(missing_docs)]

mod auth;
#[cfg(test)]
mod gate_tests;
mod listener;
mod server;

pub use auth::AuthPolicy;
pub use listener::{ApiLimits, serve};
pub use server::{ApiState, api_metrics, router, tls_config};

use serde::{Deserialize, Serialize};

/// A search request, as the API and CLI send it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SearchRequest {
    /// The query, e.g. `process.name:sshd AND failed | count by source.ip`.
    #[serde(default)]
    pub q: String,
    /// Start of the time range (RFC 3339, a date, or epoch seconds/ms), inclusive.
    #[serde(default)]
    pub from: Option<String>,
    /// End of the time range, exclusive.
    #[serde(default)]
    pub to: Option<String>,
    /// Most events returned (default 100, at most 10,000).
    #[serde(default)]
    pub limit: Option<usize>,
    /// Tenant to search (default `main`).
    #[serde(default)]
    pub tenant: Option<String>,
    /// Only this storage space of the tenant (`default` for the default space); all spaces
    /// when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub space: Option<String>,
}

/// What a search returns: events, or a table for aggregations.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SearchResponse {
    /// Matching events, newest first, as nested ECS JSON.
    Events {
        /// The events.
        events: Vec<serde_json::Value>,
        /// Whether more events matched than were returned.
        truncated: bool,
        /// Milliseconds spent.
        took_ms: u64,
    },
    /// Rows of an aggregation (`| count by f`, `| stats ...`).
    Table {
        /// Column names.
        columns: Vec<String>,
        /// Rows, one value per column.
        rows: Vec<Vec<serde_json::Value>>,
        /// Milliseconds spent.
        took_ms: u64,
    },
}

/// Why a search failed.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum SearchError {
    /// The query or a parameter is wrong: the message says where and why.
    #[error("{0}")]
    BadRequest(String),
    /// The query ran past its time limit.
    #[error("the query ran longer than {0} ms; narrow the time range or the filter")]
    Timeout(u64),
    /// The store failed; details are logged, not returned.
    #[error("internal error")]
    Internal(String),
}

/// Runs searches; implemented by the binary over the configured store.
pub trait SearchService: Send + Sync + 'static {
    /// Runs one search. Called on the blocking thread pool; may take time.
    fn search(&self, req: &SearchRequest) -> Result<SearchResponse, SearchError>;
}
