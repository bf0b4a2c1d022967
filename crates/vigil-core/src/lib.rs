//! Vigil's core: the state a SOC works on — alerts, incidents, assets, tenants, users, roles,
//! API tokens, suppression rules, monitoring policies, saved searches and the audit trail —
//! and the metadata store that keeps it.
//!
//! # What this crate owns
//! Events live in `vigil-store`; everything analysts and administrators *change* lives here.
//! The [`MetaStore`] trait is the only way in: the API, the correlator's alert sink and the
//! background jobs call it, never SQL. It has two implementations in one type,
//! [`SqlMetaStore`]: SQLite for all-in-one mode (one file, `<data_dir>/meta.db`, WAL) and
//! PostgreSQL for the distributed mode, selected by [`MetaConfig`] (`meta:` in `vigil.yaml`).
//!
//! # Why it is shaped this way
//! * **Tenancy cannot be forgotten.** Every method that reads or changes tenant data takes a
//!   [`TenantScope`] (a non-empty set of tenant ids with no wildcard), and the SQL backends turn
//!   it into `tenant_id IN (...)` in one function. A record of another tenant is
//!   indistinguishable from a missing one. Peers' isolation bugs (see
//!   `shared/research/soc-anchors.md` §6.4) came from code paths that read without a scope.
//! * **Alert filling is one statement.** KUMA-style alerts grow while open: a detection folds
//!   into the filling alert of `(tenant, rule, group key)` — a partial unique index — with an
//!   `INSERT ... ON CONFLICT DO UPDATE` that adds the count and takes the max of the times, so
//!   concurrent correlator tasks (or processes, on PostgreSQL) never split a group or lose a
//!   count. The fill policy (event limit, filling time) closes a group's alert for filling in
//!   the same transaction.
//! * **Triage is audited by construction.** An alert's status, assignee, resolution and
//!   severity change only through [`MetaStore::update_alert`], which writes the history row in
//!   the same transaction; incidents write timeline entries the same way.
//! * **One code path, two databases.** sqlx's `Any` driver with runtime queries: both schemas
//!   use the same column shapes (Unix-millisecond times, 0/1 flags, JSON text lists), `$n`
//!   placeholders work in both, and the handful of differences are dialect strings. The shared
//!   test suite (`tests/meta_store.rs`) runs every case against both.
//! * **Versioned migrations** (`migrations/<backend>/NNNN_name.sql`) run at open, each in a
//!   transaction with its `schema_migrations` row; a database newer than the binary is refused.
//!
//! * **Authorization has one entry point.** A request's [`Principal`] (user or token, the
//!   role held per tenant) comes from [`Authenticator::resolve_session`] or
//!   [`Authenticator::resolve_bearer`], and [`Principal::scope_for`] is the one function that
//!   turns an [`Action`] and the tenants a request names into the [`TenantScope`] the store
//!   takes — or a 403 ([`Forbidden`]) when a named tenant is not permitted (module [`rbac`]).
//!   Accounts, sessions, tokens, lockout, TOTP and LDAP live in [`auth`].
//! * **Alerts are made in front of the store.** [`alerts::AlertService`] takes batches of
//!   detections from the detection engine: suppression, entity extraction, risk (severity
//!   plus asset criticality), grouping of a batch into one fold per group, a storm cap per
//!   rule and tenant, and the triage workflow. [`assets::AssetBook`] learns hosts from
//!   events, imports and exports CSV, and answers the risk score's criticality lookups.
//!
//! * **Live detection makes alert events.** [`detection::DetectionDestination`] is the
//!   pipeline's correlator destination: Sigma rules (hot-reloaded) and correlation windows
//!   over every event, each match an alert event stored next to the events, retry-safe.
//!
//! See `docs/core.md` for the data model, the permission matrix, authentication and the alert
//! pipeline.

pub mod alerts;
pub mod asset_learning;
pub mod assets;
pub mod audit_events;
pub mod auth;
mod config;
pub mod correlation;
pub mod dashboards;
pub mod detection;
pub mod incidents;
mod model;
pub mod rbac;
pub mod retroscan;
pub mod rulebook;
mod scope;
pub mod sources;
mod sql;
mod store;

pub use auth::{AuthConfig, AuthError, AuthPolicy, Authenticator, Secret};
pub use config::{MetaBackend, MetaConfig, ValidMetaConfig};
pub use model::*;
pub use rbac::{Action, Forbidden, Principal, PrincipalKind};
pub use scope::{MAIN_TENANT, SHARED_TENANT, TenantId, TenantScope};
pub use sql::{AuditMirror, Dialect, LATEST_VERSION, SqlMetaStore, StoreOptions};
pub use store::*;
