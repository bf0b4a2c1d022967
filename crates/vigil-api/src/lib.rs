//! Vigil's HTTP API: search, health, metrics and source status; and the web console, embedded
//! at compile time and served at `/` (see `ui`).
//!
//! Secure by default: every route but `/health` (which says only "ok") requires the bearer
//! token, compared in constant time; failed authentications are counted, logged at a bounded
//! rate and throttled per client address (see `auth`); connections are capped, share the
//! process's descriptor budget and are closed when they stall (see `listener`); requests in
//! progress are capped; bodies are capped in size and in time; searches are admitted by a gate
//! (concurrency, queue, 429 beyond), run on the blocking pool under a time limit and a memory
//! budget, and are cancelled inside the scan when they time out or the client goes away; TLS
//! is one config block away; the default listen address is loopback. Errors have a stable machine `code`, an HTTP status and
//! a message, and never leak internals.
//!
//! Searches are bounded ([`SearchLimits`]): at most `max_concurrent` run at once on the
//! blocking pool, at most `max_queued` wait (for at most `queue_wait`) and the rest get 429
//! `too_many_searches` with `Retry-After`; each runs under a [`SearchControl`] that stops the
//! scan at the query timeout (504 `query_timeout`), when the client goes away (the handler's
//! future is dropped, and a guard cancels the search), or when its results and aggregation
//! state pass `max_result_bytes` (422 `result_too_large`). A search's slot is freed only when
//! its scan has stopped, so abandoned searches cannot pile up behind the limit.
//!
//! The routes do not know the store: they call a [`SearchService`]. [`store_search::StoreSearch`]
//! is the one over any `vigil_store::EventStore`, so the embedded store and ClickHouse serve the
//! same routes; [`token`] keeps the bearer token file.

#![warn(missing_docs)]

mod auth;
#[cfg(test)]
mod gate_tests;
mod listener;
#[cfg(test)]
mod openapi_file;
mod server;
pub mod store_search;
pub mod token;
pub mod v1;

pub use auth::AuthPolicy;
pub use listener::{ApiLimits, serve};
pub use server::{ApiState, SearchGate, api_metrics, openapi, router, tls_config};
pub use v1::Core;
pub use vigil_query::SearchControl;

/// The web console behind the router's fallback.
mod ui;

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A search request, as the API and CLI send it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
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
    /// Most events returned (default 100, at most `search.max_limit`, 10,000 by default).
    #[serde(default)]
    pub limit: Option<usize>,
    /// Tenant to search (default `main`, or the caller's first tenant when it has no role in
    /// Main).
    #[serde(default)]
    pub tenant: Option<String>,
    /// Only this storage space of the tenant (`default` for the default space); all spaces
    /// when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub space: Option<String>,
}

/// What a search returns: events, or a table for aggregations.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
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
    /// The results would pass the search's memory budget: the message says how to narrow it.
    #[error("{0}")]
    TooLarge(String),
    /// The search was cancelled (its client went away).
    #[error("the search was cancelled")]
    Cancelled,
    /// The store failed; details are logged, not returned.
    #[error("internal error")]
    Internal(String),
}

impl SearchError {
    /// The error a search stopped by its [`SearchControl`] reports, if `e` is one.
    pub fn from_query(e: &vigil_query::QueryError) -> Option<SearchError> {
        use vigil_query::QueryError as Q;
        Some(match e {
            Q::Cancelled => SearchError::Cancelled,
            Q::TimedOut { limit_ms } => SearchError::Timeout(*limit_ms),
            Q::ResultTooLarge { .. } | Q::TooManyRows { .. } | Q::TooManyGroups { .. } => {
                SearchError::TooLarge(e.to_string())
            }
            _ => return None,
        })
    }
}

/// Runs searches; implemented by the binary over the configured store.
pub trait SearchService: Send + Sync + 'static {
    /// Runs one search. Called on the blocking thread pool; may take time. The search must
    /// stop soon after `ctl` says so ([`SearchControl::check`]): cancelled, past its deadline,
    /// or over its memory budget.
    fn search(
        &self,
        req: &SearchRequest,
        ctl: &SearchControl,
    ) -> Result<SearchResponse, SearchError>;
}

/// The active lists and context tables the `lookup` search stage reads (the running
/// correlator's).
pub trait ListLookup: Send + Sync + std::fmt::Debug + 'static {
    /// The key columns of a list or table; None when there is none of that name.
    fn key_columns(&self, list: &str) -> Option<Vec<String>>;
    /// The live entry with this key in `tenant`'s instance (the shared one for a shared
    /// list): column → value.
    fn lookup(
        &self,
        list: &str,
        tenant: &str,
        key: &[String],
    ) -> Option<std::collections::BTreeMap<String, vigil_event::Value>>;
}

impl ListLookup for vigil_core::correlation::CorrelationHandle {
    fn key_columns(&self, list: &str) -> Option<Vec<String>> {
        self.lists()
            .into_iter()
            .find(|l| l.name == list)
            .map(|l| l.key)
    }

    fn lookup(
        &self,
        list: &str,
        tenant: &str,
        key: &[String],
    ) -> Option<std::collections::BTreeMap<String, vigil_event::Value>> {
        self.get(list, tenant, key).ok().flatten().map(|e| e.values)
    }
}

/// Limits on searches through the API (config section `search`).
#[derive(Debug, Clone, PartialEq)]
pub struct SearchLimits {
    /// Most searches running at once.
    pub max_concurrent: usize,
    /// Most searches waiting for a slot; more get 429 at once.
    pub max_queued: usize,
    /// Longest a search waits for a slot before 429.
    pub queue_wait: Duration,
    /// Memory budget of one search (results and aggregation state), bytes.
    pub max_result_bytes: usize,
    /// Largest `limit` a search may ask for.
    pub max_limit: usize,
}

impl Default for SearchLimits {
    fn default() -> Self {
        SearchLimits {
            max_concurrent: std::thread::available_parallelism().map_or(2, |n| n.get()),
            max_queued: 64,
            queue_wait: Duration::from_secs(10),
            max_result_bytes: 256 << 20,
            max_limit: 10_000,
        }
    }
}
