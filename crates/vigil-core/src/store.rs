//! The [`MetaStore`] trait, its query types and its error.

use std::path::PathBuf;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::model::*;
use crate::scope::{TenantId, TenantScope};

/// Everything that can go wrong in the metadata store.
#[derive(Debug, thiserror::Error)]
pub enum MetaError {
    /// No such record in the caller's scope (records of other tenants look absent too).
    #[error("{what} {id:?} not found")]
    NotFound {
        /// Kind of record.
        what: &'static str,
        /// Its id.
        id: String,
    },
    /// A unique constraint (name, token hash, ...) refused the write.
    #[error("{what} already exists: {detail}")]
    Conflict {
        /// Kind of record.
        what: &'static str,
        /// The backend's description of the constraint.
        detail: String,
    },
    /// A write named a tenant outside the caller's scope.
    #[error("tenant {tenant} is outside the caller's scope")]
    OutOfScope {
        /// The tenant.
        tenant: TenantId,
    },
    /// An argument is not acceptable.
    #[error("{field}: {reason}")]
    Invalid {
        /// The field or argument.
        field: String,
        /// Why.
        reason: String,
    },
    /// An attachment or another value is over its size cap.
    #[error("{what} is {size} bytes, over the limit of {limit}")]
    TooLarge {
        /// What.
        what: &'static str,
        /// Its size.
        size: u64,
        /// The cap.
        limit: u64,
    },
    /// The database was migrated by a newer Vigil; this binary refuses to touch it.
    #[error(
        "the metadata database has schema version {found}, newer than this binary's {known}: \
         run the newer Vigil or restore a backup"
    )]
    SchemaTooNew {
        /// Version in the database.
        found: i64,
        /// Newest version this binary knows.
        known: i64,
    },
    /// A migration failed; the database is left at the version before it.
    #[error("metadata migration {version} ({name}) failed: {source}")]
    Migration {
        /// Version.
        version: i64,
        /// Its file name.
        name: &'static str,
        /// The backend error.
        source: sqlx::Error,
    },
    /// The data directory or database file could not be prepared.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A stored value does not decode (a hand-edited database or a bug).
    #[error("stored {what} is malformed: {detail}")]
    Corrupt {
        /// What.
        what: &'static str,
        /// Detail.
        detail: String,
    },
    /// The backend failed (connection, I/O, SQL).
    #[error("metadata store: {0}")]
    Backend(#[source] sqlx::Error),
}

/// One page of a listing: at most `limit` rows after `cursor`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Page {
    /// Rows per page, 1–1000 (0 means the default of 50).
    #[serde(default)]
    pub limit: u32,
    /// The `next_cursor` of the previous page; none for the first.
    #[serde(default)]
    pub cursor: Option<String>,
}

impl Page {
    /// The first page of `limit` rows.
    pub fn first(limit: u32) -> Page {
        Page {
            limit,
            cursor: None,
        }
    }

    /// The effective limit.
    pub fn effective_limit(&self) -> u32 {
        match self.limit {
            0 => 50,
            n => n.min(1000),
        }
    }
}

/// A page of results and the cursor of the next one (none on the last page). Cursors are
/// keyset positions (sort value and id), so a page costs the same at row 100,000 as at row 0
/// and rows inserted meanwhile neither repeat nor vanish.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Paged<T> {
    /// The rows.
    pub items: Vec<T>,
    /// Pass as `Page::cursor` for the next page.
    pub next_cursor: Option<String>,
}

/// Sort direction.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SortDir {
    /// Ascending.
    Asc,
    /// Descending (newest, highest first).
    #[default]
    Desc,
}

/// What alerts are sorted by (ties broken by id).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertSort {
    /// Last event time (the default).
    #[default]
    LastSeen,
    /// First event time.
    FirstSeen,
    /// Creation time.
    CreatedAt,
    /// Event count.
    Count,
    /// Risk score.
    RiskScore,
    /// Severity.
    Severity,
}

/// Which alerts to list. Empty fields do not filter.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AlertQuery {
    /// Any of these statuses.
    pub statuses: Vec<AlertStatus>,
    /// At least this severity.
    pub min_severity: Option<Severity>,
    /// This rule.
    pub rule_id: Option<String>,
    /// Assigned to this user.
    pub assignee: Option<String>,
    /// Only alerts with no assignee.
    pub unassigned: bool,
    /// Involving this entity.
    pub entity: Option<Entity>,
    /// Carrying this ATT&CK technique.
    pub technique: Option<String>,
    /// Rule name contains this (case-insensitive).
    pub text: Option<String>,
    /// Last seen at or after.
    pub since: Option<DateTime<Utc>>,
    /// Last seen before.
    pub until: Option<DateTime<Utc>>,
    /// Escalated into this incident.
    pub incident_id: Option<String>,
    /// Sort field.
    pub sort: AlertSort,
    /// Sort direction.
    pub dir: SortDir,
}

/// What incidents are sorted by.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IncidentSort {
    /// Creation time (the default).
    #[default]
    CreatedAt,
    /// Last change.
    UpdatedAt,
    /// Priority.
    Priority,
}

/// Which incidents to list.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct IncidentQuery {
    /// Any of these statuses.
    pub statuses: Vec<IncidentStatus>,
    /// At least this priority.
    pub min_priority: Option<Priority>,
    /// Assigned to.
    pub assignee: Option<String>,
    /// Category.
    pub category: Option<String>,
    /// Title contains (case-insensitive).
    pub text: Option<String>,
    /// Sort field.
    pub sort: IncidentSort,
    /// Direction.
    pub dir: SortDir,
}

/// What assets are sorted by.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AssetSort {
    /// Name (the default).
    #[default]
    Name,
    /// Last seen.
    LastSeen,
    /// Criticality.
    Criticality,
}

/// Which assets to list.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AssetQuery {
    /// Name contains (case-insensitive).
    pub name: Option<String>,
    /// Has this IP address.
    pub ip: Option<String>,
    /// At least this criticality.
    pub min_criticality: Option<Criticality>,
    /// In this category.
    pub category: Option<String>,
    /// Sort field.
    pub sort: AssetSort,
    /// Direction.
    pub dir: SortDir,
}

/// Which users to list (sorted by username).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct UserQuery {
    /// Username or display name contains (case-insensitive).
    pub text: Option<String>,
    /// Include disabled users.
    pub include_disabled: bool,
}

/// Which tokens to list (newest first).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TokenQuery {
    /// Of this user.
    pub user_id: Option<String>,
    /// Include revoked tokens.
    pub include_revoked: bool,
}

/// Which audit records to list (newest first).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AuditQuery {
    /// By this actor.
    pub actor: Option<String>,
    /// This action, or actions under this prefix when it ends with `.` (`user.`).
    pub action: Option<String>,
    /// At or after.
    pub since: Option<DateTime<Utc>>,
    /// Before.
    pub until: Option<DateTime<Utc>>,
}

/// An audit record to append (the store assigns the id).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewAuditRecord {
    /// Tenant.
    pub tenant: TenantId,
    /// When.
    pub at: DateTime<Utc>,
    /// Who.
    pub actor: String,
    /// Action.
    pub action: String,
    /// Object kind.
    pub target_kind: String,
    /// Object id.
    pub target_id: String,
    /// Outcome.
    pub outcome: AuditOutcome,
    /// Client address.
    pub source_ip: Option<String>,
    /// Details.
    pub details: serde_json::Value,
}

/// The verification of one tenant's audit hash chain.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditChainReport {
    /// Tenant.
    pub tenant: TenantId,
    /// Chained records read.
    pub records: u64,
    /// Records written before the chain existed (not covered).
    pub unchained: u64,
    /// The sequence number the chain head holds.
    pub head_seq: u64,
    /// Records (or places) that failed.
    pub bad: u64,
    /// Whether the chain verified.
    pub ok: bool,
    /// What failed, first ones first (at most 20).
    pub problems: Vec<String>,
}

/// A timeline entry to add.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewTimelineEntry {
    /// When the described thing happened.
    pub at: DateTime<Utc>,
    /// Author.
    pub author: String,
    /// Kind (`note`, `event`, ...).
    pub kind: String,
    /// Text.
    pub text: String,
    /// Event described.
    #[serde(default)]
    pub event_id: Option<String>,
}

/// The core's metadata store: one trait, a SQLite and a PostgreSQL backend
/// ([`crate::SqlMetaStore`]).
///
/// Every method that reads or changes tenant data takes a [`TenantScope`]; a record outside
/// the scope behaves exactly like a missing one ([`MetaError::NotFound`]), and a write that
/// names a tenant outside it fails with [`MetaError::OutOfScope`]. The few unscoped methods
/// are the ones that run before a scope exists (login, token authentication) or that build
/// one, and say so.
#[async_trait]
pub trait MetaStore: Send + Sync + std::fmt::Debug {
    // ---- tenants ----

    /// Every tenant id (unscoped: builds the scope of an installation-wide administrator).
    async fn all_tenant_ids(&self) -> Result<Vec<TenantId>, MetaError>;
    /// Creates a customer tenant (Main and Shared exist from the first start).
    async fn create_tenant(&self, tenant: NewTenant) -> Result<Tenant, MetaError>;
    /// One tenant.
    async fn get_tenant(&self, scope: &TenantScope, id: &TenantId) -> Result<Tenant, MetaError>;
    /// The tenants in scope, by id.
    async fn list_tenants(&self, scope: &TenantScope) -> Result<Vec<Tenant>, MetaError>;
    /// Renames, describes, limits, disables or enables a tenant.
    async fn update_tenant(
        &self,
        scope: &TenantScope,
        id: &TenantId,
        name: Option<String>,
        description: Option<String>,
        eps_limit: Option<Option<u64>>,
        disabled: Option<bool>,
    ) -> Result<Tenant, MetaError>;
    /// Sets or (`None`) removes a tenant's storage quota, in bytes of the event store.
    async fn set_tenant_storage_limit(
        &self,
        scope: &TenantScope,
        id: &TenantId,
        limit: Option<u64>,
    ) -> Result<Tenant, MetaError>;

    // ---- users ----

    /// Creates a user; every role grant must be in scope and there must be at least one.
    async fn create_user(&self, scope: &TenantScope, user: NewUser) -> Result<User, MetaError>;
    /// A user with a role in a scope tenant.
    async fn get_user(&self, scope: &TenantScope, id: &str) -> Result<User, MetaError>;
    /// The user to authenticate (unscoped: runs before the scope is known). `None` when absent.
    async fn find_user_for_login(&self, username: &str) -> Result<Option<User>, MetaError>;
    /// Users with a role in a scope tenant, by username.
    async fn list_users(
        &self,
        scope: &TenantScope,
        query: &UserQuery,
        page: &Page,
    ) -> Result<Paged<User>, MetaError>;
    /// Changes a user's own fields.
    async fn update_user(
        &self,
        scope: &TenantScope,
        id: &str,
        patch: UserPatch,
    ) -> Result<User, MetaError>;
    /// Replaces the user's grants in the scope tenants; grants in other tenants stay.
    async fn set_user_roles(
        &self,
        scope: &TenantScope,
        id: &str,
        roles: Vec<RoleGrant>,
    ) -> Result<User, MetaError>;
    /// Counts a failed login atomically; at `lock_after` consecutive failures the account is
    /// locked until `at + lock_for` (unscoped: login).
    async fn record_login_failure(
        &self,
        user_id: &str,
        at: Time,
        lock_after: u32,
        lock_for: chrono::Duration,
    ) -> Result<LoginState, MetaError>;
    /// Resets the failure counter and the lock, records the login time (unscoped: login).
    async fn record_login_success(&self, user_id: &str, at: Time) -> Result<(), MetaError>;

    /// A user by id whatever its tenants (unscoped: resolving a session or a token's user).
    /// `None` when absent.
    async fn user_for_auth(&self, id: &str) -> Result<Option<User>, MetaError>;
    /// How many users exist (unscoped: the first start creates an administrator when none).
    async fn user_count(&self) -> Result<u64, MetaError>;
    /// Accepts TOTP time step `step` for the user when it is newer than the last accepted one
    /// and records it, atomically; `false` means the code (or an older one) was used already
    /// (unscoped: login).
    async fn claim_totp_step(&self, user_id: &str, step: i64) -> Result<bool, MetaError>;
    /// Counts a failed authentication from `source` (a client address) at `at`, forgets that
    /// source's failures older than `at - window`, and returns how many remain in the window,
    /// this one included (unscoped: login).
    async fn record_source_failure(
        &self,
        source: &str,
        at: Time,
        window: chrono::Duration,
    ) -> Result<u32, MetaError>;
    /// Failed authentications from `source` at or after `since` (unscoped: login).
    async fn source_failures(&self, source: &str, since: Time) -> Result<u32, MetaError>;

    // ---- sessions ----

    /// Stores a login session (unscoped: login).
    async fn create_session(&self, session: NewSession) -> Result<Session, MetaError>;
    /// The session with this secret hash, expired or not (unscoped: authentication).
    async fn session_by_hash(&self, secret_hash: &str) -> Result<Option<Session>, MetaError>;
    /// Records activity on a session (unscoped: authentication).
    async fn touch_session(&self, id: &str, at: Time) -> Result<(), MetaError>;
    /// Ends one session (logout); absent sessions are not an error.
    async fn delete_session(&self, id: &str) -> Result<(), MetaError>;
    /// Ends every session of a user (password change, disable, role change); returns how many.
    async fn delete_user_sessions(&self, user_id: &str) -> Result<u64, MetaError>;
    /// The user's sessions, newest first.
    async fn list_user_sessions(&self, user_id: &str) -> Result<Vec<Session>, MetaError>;
    /// Deletes sessions past their absolute expiry or idle longer than `idle`, and failed-login
    /// records older than `failures_before`; returns how many rows went (a periodic job).
    async fn purge_auth_state(
        &self,
        now: Time,
        idle: chrono::Duration,
        failures_before: Time,
    ) -> Result<u64, MetaError>;

    // ---- API tokens ----

    /// Stores a token; its tenants must be in scope.
    async fn create_token(
        &self,
        scope: &TenantScope,
        token: NewToken,
    ) -> Result<ApiToken, MetaError>;
    /// The token with this hash, revoked or not (unscoped: authentication).
    async fn token_by_hash(&self, token_hash: &str) -> Result<Option<ApiToken>, MetaError>;
    /// Tokens with a role in a scope tenant, newest first.
    async fn list_tokens(
        &self,
        scope: &TenantScope,
        query: &TokenQuery,
        page: &Page,
    ) -> Result<Paged<ApiToken>, MetaError>;
    /// Revokes a token.
    async fn revoke_token(&self, scope: &TenantScope, id: &str) -> Result<(), MetaError>;
    /// Records a use (unscoped: authentication).
    async fn touch_token(&self, id: &str, at: Time) -> Result<(), MetaError>;

    // ---- alerts ----

    /// Folds a detection into the filling alert of `(tenant, rule_id, group_key)` (count +=
    /// n, last_seen = max, first_seen = min, severity and risk = max, entities and event ids
    /// merged) or creates one, atomically: concurrent folds of one key give one alert with
    /// the exact total. Alerts over the fill policy stop filling first. The correlator's
    /// write path: the tenant is the detection's own.
    async fn fold_detection(
        &self,
        detection: &Detection,
        policy: &FillPolicy,
    ) -> Result<FoldOutcome, MetaError>;
    /// One alert (without its event ids: [`MetaStore::alert_event_ids`]).
    async fn get_alert(&self, scope: &TenantScope, id: &str) -> Result<Alert, MetaError>;
    /// Alerts, filtered, sorted, a page at a time.
    async fn list_alerts(
        &self,
        scope: &TenantScope,
        query: &AlertQuery,
        page: &Page,
    ) -> Result<Paged<Alert>, MetaError>;
    /// How many alerts match.
    async fn count_alerts(&self, scope: &TenantScope, query: &AlertQuery)
    -> Result<u64, MetaError>;
    /// The base event ids kept for an alert, in the order they came.
    async fn alert_event_ids(
        &self,
        scope: &TenantScope,
        id: &str,
    ) -> Result<Vec<String>, MetaError>;
    /// Applies a triage change and writes one history entry per changed field, in one
    /// transaction. Assigning a new alert makes it assigned; closing needs a resolution
    /// and stops filling; reopening clears the resolution.
    async fn update_alert(
        &self,
        scope: &TenantScope,
        id: &str,
        actor: &str,
        update: AlertUpdate,
    ) -> Result<Alert, MetaError>;
    /// The alert's change history, oldest first.
    async fn alert_history(
        &self,
        scope: &TenantScope,
        id: &str,
    ) -> Result<Vec<AlertChange>, MetaError>;

    // ---- comments ----

    /// Adds a comment to an alert or incident in scope.
    async fn add_comment(
        &self,
        scope: &TenantScope,
        target: &CommentTarget,
        author: &str,
        body: &str,
    ) -> Result<Comment, MetaError>;
    /// Comments of a target, oldest first.
    async fn list_comments(
        &self,
        scope: &TenantScope,
        target: &CommentTarget,
    ) -> Result<Vec<Comment>, MetaError>;

    // ---- incidents ----

    /// Creates an incident (its first timeline entry says so).
    async fn create_incident(
        &self,
        scope: &TenantScope,
        incident: NewIncident,
    ) -> Result<Incident, MetaError>;
    /// One incident with its links.
    async fn get_incident(&self, scope: &TenantScope, id: &str) -> Result<Incident, MetaError>;
    /// Incidents, filtered, sorted, a page at a time (links included).
    async fn list_incidents(
        &self,
        scope: &TenantScope,
        query: &IncidentQuery,
        page: &Page,
    ) -> Result<Paged<Incident>, MetaError>;
    /// Changes an incident, one timeline entry per changed field, in one transaction.
    async fn update_incident(
        &self,
        scope: &TenantScope,
        id: &str,
        actor: &str,
        update: IncidentUpdate,
    ) -> Result<Incident, MetaError>;
    /// Links alerts of the incident's tenant: each becomes escalated with a history entry,
    /// and the timeline records the link, in one transaction.
    async fn link_alerts(
        &self,
        scope: &TenantScope,
        incident_id: &str,
        actor: &str,
        alert_ids: &[String],
    ) -> Result<Incident, MetaError>;
    /// Links events, assets or accounts (idempotent).
    async fn link(
        &self,
        scope: &TenantScope,
        incident_id: &str,
        actor: &str,
        kind: LinkKind,
        values: &[String],
    ) -> Result<Incident, MetaError>;
    /// Removes links.
    async fn unlink(
        &self,
        scope: &TenantScope,
        incident_id: &str,
        actor: &str,
        kind: LinkKind,
        values: &[String],
    ) -> Result<Incident, MetaError>;
    /// Adds a timeline entry.
    async fn add_timeline_entry(
        &self,
        scope: &TenantScope,
        incident_id: &str,
        entry: NewTimelineEntry,
    ) -> Result<TimelineEntry, MetaError>;
    /// The timeline, by event time.
    async fn timeline(
        &self,
        scope: &TenantScope,
        incident_id: &str,
    ) -> Result<Vec<TimelineEntry>, MetaError>;
    /// Attaches a file (at most the store's attachment cap).
    async fn add_attachment(
        &self,
        scope: &TenantScope,
        incident_id: &str,
        name: &str,
        media_type: &str,
        data: Vec<u8>,
        uploaded_by: &str,
    ) -> Result<Attachment, MetaError>;
    /// An incident's attachments (metadata).
    async fn list_attachments(
        &self,
        scope: &TenantScope,
        incident_id: &str,
    ) -> Result<Vec<Attachment>, MetaError>;
    /// One attachment with its bytes.
    async fn get_attachment(
        &self,
        scope: &TenantScope,
        id: &str,
    ) -> Result<(Attachment, Vec<u8>), MetaError>;

    // ---- assets ----

    /// Creates an asset (name unique per tenant).
    async fn create_asset(&self, scope: &TenantScope, spec: AssetSpec) -> Result<Asset, MetaError>;
    /// One asset.
    async fn get_asset(&self, scope: &TenantScope, id: &str) -> Result<Asset, MetaError>;
    /// Assets, filtered, sorted, a page at a time.
    async fn list_assets(
        &self,
        scope: &TenantScope,
        query: &AssetQuery,
        page: &Page,
    ) -> Result<Paged<Asset>, MetaError>;
    /// Replaces an asset's fields (the tenant cannot change).
    async fn update_asset(
        &self,
        scope: &TenantScope,
        id: &str,
        spec: AssetSpec,
    ) -> Result<Asset, MetaError>;
    /// Records what events showed of an asset (asset learning, once per host per flush):
    /// last seen only grows, first seen only shrinks, the source and MAC addresses are
    /// added (at most [`MAX_ASSET_MACS`]), a known OS replaces the stored one.
    async fn observe_asset(
        &self,
        scope: &TenantScope,
        id: &str,
        seen: &AssetSeen,
    ) -> Result<(), MetaError>;
    /// Deletes an asset.
    async fn delete_asset(&self, scope: &TenantScope, id: &str) -> Result<(), MetaError>;

    // ---- suppression rules ----

    /// Creates a suppression rule.
    async fn create_suppression(
        &self,
        scope: &TenantScope,
        rule: NewSuppressionRule,
    ) -> Result<SuppressionRule, MetaError>;
    /// Suppression rules in scope, optionally of one detection rule, optionally only those
    /// in force at a time.
    async fn list_suppressions(
        &self,
        scope: &TenantScope,
        rule_id: Option<&str>,
        active_at: Option<Time>,
    ) -> Result<Vec<SuppressionRule>, MetaError>;
    /// Counts `n` suppressed detections.
    async fn record_suppressed(
        &self,
        scope: &TenantScope,
        id: &str,
        n: u64,
        at: Time,
    ) -> Result<(), MetaError>;
    /// Deletes a suppression rule.
    async fn delete_suppression(&self, scope: &TenantScope, id: &str) -> Result<(), MetaError>;

    // ---- monitoring policies ----

    /// Creates a monitoring policy (name unique per tenant).
    async fn create_monitoring_policy(
        &self,
        scope: &TenantScope,
        spec: MonitoringPolicySpec,
    ) -> Result<MonitoringPolicy, MetaError>;
    /// Policies in scope, by name.
    async fn list_monitoring_policies(
        &self,
        scope: &TenantScope,
    ) -> Result<Vec<MonitoringPolicy>, MetaError>;
    /// Replaces a policy's fields.
    async fn update_monitoring_policy(
        &self,
        scope: &TenantScope,
        id: &str,
        spec: MonitoringPolicySpec,
    ) -> Result<MonitoringPolicy, MetaError>;
    /// Deletes a policy.
    async fn delete_monitoring_policy(
        &self,
        scope: &TenantScope,
        id: &str,
    ) -> Result<(), MetaError>;

    // ---- saved searches ----

    /// Saves a search (name unique per owner and tenant).
    async fn create_saved_search(
        &self,
        scope: &TenantScope,
        spec: SavedSearchSpec,
    ) -> Result<SavedSearch, MetaError>;
    /// Searches `owner` may use: their own and the shared ones, by name.
    async fn list_saved_searches(
        &self,
        scope: &TenantScope,
        owner: &str,
    ) -> Result<Vec<SavedSearch>, MetaError>;
    /// Replaces a saved search.
    async fn update_saved_search(
        &self,
        scope: &TenantScope,
        id: &str,
        spec: SavedSearchSpec,
    ) -> Result<SavedSearch, MetaError>;
    /// Deletes a saved search.
    async fn delete_saved_search(&self, scope: &TenantScope, id: &str) -> Result<(), MetaError>;

    // ---- dashboards ----

    /// Creates a dashboard (name unique per owner and tenant; widgets checked by
    /// [`crate::dashboards::check`]).
    async fn create_dashboard(
        &self,
        scope: &TenantScope,
        spec: crate::dashboards::DashboardSpec,
    ) -> Result<crate::dashboards::Dashboard, MetaError>;
    /// One dashboard in scope, whoever owns it (the caller decides who may see it).
    async fn get_dashboard(
        &self,
        scope: &TenantScope,
        id: &str,
    ) -> Result<crate::dashboards::Dashboard, MetaError>;
    /// Dashboards `owner` may use: their own and the shared ones, by name.
    async fn list_dashboards(
        &self,
        scope: &TenantScope,
        owner: &str,
    ) -> Result<Vec<crate::dashboards::Dashboard>, MetaError>;
    /// Replaces a dashboard's name, sharing and widgets (its tenant and owner stay; `spec`
    /// must name them).
    async fn update_dashboard(
        &self,
        scope: &TenantScope,
        id: &str,
        spec: crate::dashboards::DashboardSpec,
    ) -> Result<crate::dashboards::Dashboard, MetaError>;
    /// Deletes a dashboard.
    async fn delete_dashboard(&self, scope: &TenantScope, id: &str) -> Result<(), MetaError>;

    // ---- audit ----

    /// Appends an audit record (there is no update or delete).
    async fn append_audit(&self, record: NewAuditRecord) -> Result<AuditRecord, MetaError>;
    /// Checks each scope tenant's audit hash chain: every record's hash against its fields and
    /// the record before it, the sequence without gaps, the chain head against the last record.
    async fn verify_audit(&self, scope: &TenantScope) -> Result<Vec<AuditChainReport>, MetaError>;
    /// Audit records, newest first.
    async fn list_audit(
        &self,
        scope: &TenantScope,
        query: &AuditQuery,
        page: &Page,
    ) -> Result<Paged<AuditRecord>, MetaError>;

    // ---- source status ----

    /// Adds the ingest path's per-source increments (totals, last event, per-minute counts)
    /// in one transaction (unscoped: the ingest path's write; each row names its tenant).
    async fn record_sources(&self, flush: &[crate::sources::SourceFlush]) -> Result<(), MetaError>;
    /// The sources in scope (of one kind, or all), by tenant and id, with their sums since
    /// `since`.
    async fn list_sources(
        &self,
        scope: &TenantScope,
        kind: Option<crate::sources::SourceKind>,
        since: Time,
        page: &Page,
    ) -> Result<Paged<crate::sources::SourceRecord>, MetaError>;
    /// One source's per-minute counts since `since`, oldest first.
    async fn source_series(
        &self,
        scope: &TenantScope,
        tenant: &TenantId,
        id: &str,
        since: Time,
    ) -> Result<Vec<crate::sources::SourcePoint>, MetaError>;
    /// Events the collectors of each tenant in scope received since `since` (the licensing
    /// figure's numerator).
    async fn tenant_events(
        &self,
        scope: &TenantScope,
        since: Time,
    ) -> Result<Vec<crate::sources::TenantEvents>, MetaError>;
    /// Deletes per-minute counts older than `before` (a periodic job); returns how many.
    async fn purge_source_series(&self, before: Time) -> Result<u64, MetaError>;
    /// Refreshes the query planner's statistics where they went stale (a periodic job), so
    /// listings keep choosing the indexes that serve them as tables grow: SQLite's
    /// `PRAGMA optimize` (bounded, a no-op when nothing changed); on PostgreSQL autovacuum's
    /// analyze already does this, and the call does nothing.
    async fn refresh_statistics(&self) -> Result<(), MetaError>;
}

/// Most MAC addresses kept per asset.
pub const MAX_ASSET_MACS: usize = 32;

/// What events showed of an asset between two flushes of asset learning
/// ([`MetaStore::observe_asset`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssetSeen {
    /// Earliest receive time.
    pub first_seen: Time,
    /// Latest receive time.
    pub last_seen: Time,
    /// `events:<source id>`.
    pub source: String,
    /// MAC addresses, `AA-BB-CC-DD-EE-FF`.
    pub macs: Vec<String>,
    /// The operating system, when the events named it.
    pub os: Option<String>,
}
