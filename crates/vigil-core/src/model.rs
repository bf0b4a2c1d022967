//! The core's domain types: what the metadata store keeps and the API serves.
//!
//! Times are UTC with millisecond precision (the store keeps Unix milliseconds). Ids of
//! records the core creates are ULIDs (sortable by creation time). Secrets (password hashes,
//! TOTP secrets, token hashes) are never serialized and are redacted in `Debug`.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::scope::TenantId;

/// A point in time as the core keeps it.
pub type Time = DateTime<Utc>;

/// Defines a closed enum stored as snake_case text, with `as_str` and `FromStr`.
macro_rules! text_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $v:ident = $s:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($(#[$vm])* $v),+ }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$v),+];

            /// The stored and serialized name.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$v => $s),+ }
            }
        }

        impl FromStr for $name {
            type Err = crate::MetaError;
            fn from_str(s: &str) -> Result<Self, crate::MetaError> {
                match s {
                    $($s => Ok($name::$v),)+
                    other => Err(crate::MetaError::Invalid {
                        field: stringify!($name).into(),
                        reason: format!("unknown value {other:?}"),
                    }),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

text_enum! {
    /// What a tenant is for.
    TenantKind {
        /// Vigil's own tenant (KUMA "Main"): audit and monitoring events.
        Main = "main",
        /// Resources every tenant may use (KUMA "Shared").
        Shared = "shared",
        /// A customer (MSSP) or business unit.
        Customer = "customer",
    }
}

/// A tenant: its own events, alerts, incidents and assets, kept apart from the others.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tenant {
    /// The id used everywhere (event metadata, store directories, API).
    pub id: TenantId,
    /// Display name.
    pub name: String,
    /// Free text.
    pub description: String,
    /// Main, Shared or a customer.
    pub kind: TenantKind,
    /// A disabled tenant's data stays, but it takes no new events and its users cannot log in.
    pub disabled: bool,
    /// The tenant's share of the licensed events per second, if limited.
    pub eps_limit: Option<u64>,
    /// The tenant's storage quota in bytes of the event store, if limited.
    #[serde(default)]
    pub storage_limit_bytes: Option<u64>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// A tenant to create.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewTenant {
    /// The id (unique).
    pub id: TenantId,
    /// Display name.
    pub name: String,
    /// Free text.
    #[serde(default)]
    pub description: String,
    /// Optional EPS limit.
    #[serde(default)]
    pub eps_limit: Option<u64>,
}

text_enum! {
    /// A role a user or token holds in one tenant (KUMA's role names).
    Role {
        /// Everything, in every tenant of the grant (KUMA "General administrator" when held in Main).
        Administrator = "administrator",
        /// Users, sources and content of one tenant.
        TenantAdministrator = "tenant_administrator",
        /// Investigates: incidents, rules, response.
        Tier2Analyst = "tier2_analyst",
        /// Triages alerts.
        Tier1Analyst = "tier1_analyst",
        /// Reads, changes nothing.
        ReadOnly = "read_only",
    }
}

/// One role in one tenant. A user may hold different roles in different tenants.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RoleGrant {
    /// The tenant.
    pub tenant: TenantId,
    /// The role held there.
    pub role: Role,
}

/// A user account. Password and TOTP secrets are kept for verification by the core's auth
/// code; they are never serialized.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    /// ULID.
    pub id: String,
    /// Login name, unique, compared case-sensitively.
    pub username: String,
    /// Display name.
    pub display_name: String,
    /// E-mail address for notifications.
    pub email: Option<String>,
    /// argon2id PHC string (`$argon2id$v=19$...`); none for accounts that log in elsewhere (LDAP).
    #[serde(skip)]
    pub password_hash: Option<String>,
    /// TOTP secret (base32) when second-factor login is enrolled.
    #[serde(skip)]
    pub totp_secret: Option<String>,
    /// Whether a TOTP secret is enrolled (serialized instead of the secret).
    pub totp_enabled: bool,
    /// Per-tenant roles.
    pub roles: Vec<RoleGrant>,
    /// A disabled user cannot log in or use tokens.
    pub disabled: bool,
    /// The password must be changed at next login.
    pub must_change_password: bool,
    /// Consecutive failed logins since the last success.
    pub failed_logins: u32,
    /// Locked out until this time after too many failed logins.
    pub locked_until: Option<DateTime<Utc>>,
    /// Last successful login.
    pub last_login_at: Option<DateTime<Utc>>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("username", &self.username)
            .field(
                "password_hash",
                &self.password_hash.as_ref().map(|_| "<redacted>"),
            )
            .field(
                "totp_secret",
                &self.totp_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("roles", &self.roles)
            .field("disabled", &self.disabled)
            .field("failed_logins", &self.failed_logins)
            .field("locked_until", &self.locked_until)
            .finish_non_exhaustive()
    }
}

/// A user to create.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, PartialEq, Deserialize)]
pub struct NewUser {
    /// Login name (unique).
    pub username: String,
    /// Display name.
    #[serde(default)]
    pub display_name: String,
    /// E-mail.
    #[serde(default)]
    pub email: Option<String>,
    /// argon2id PHC string, already hashed by the caller.
    #[serde(default)]
    pub password_hash: Option<String>,
    /// Per-tenant roles.
    pub roles: Vec<RoleGrant>,
    /// Force a password change at first login.
    #[serde(default)]
    pub must_change_password: bool,
}

impl fmt::Debug for NewUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewUser")
            .field("username", &self.username)
            .field("roles", &self.roles)
            .finish_non_exhaustive()
    }
}

/// Changes to a user's own fields; `None` leaves a field as it is.
#[derive(Clone, Default, PartialEq)]
pub struct UserPatch {
    /// New display name.
    pub display_name: Option<String>,
    /// New e-mail (`Some(None)` clears it).
    pub email: Option<Option<String>>,
    /// New password hash (argon2id PHC).
    pub password_hash: Option<String>,
    /// Enroll (`Some(Some)`) or remove (`Some(None)`) the TOTP secret.
    pub totp_secret: Option<Option<String>>,
    /// Disable or enable.
    pub disabled: Option<bool>,
    /// Force or clear a password change.
    pub must_change_password: Option<bool>,
}

impl fmt::Debug for UserPatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserPatch")
            .field("display_name", &self.display_name)
            .field("disabled", &self.disabled)
            .finish_non_exhaustive()
    }
}

/// The login counters after a failed or successful login.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct LoginState {
    /// Consecutive failures.
    pub failed_logins: u32,
    /// Locked until, when the failures reached the threshold.
    pub locked_until: Option<DateTime<Utc>>,
}

/// An API token. The secret itself is shown once at creation; the store keeps its hash
/// (SHA-256, hex) and finds tokens by it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiToken {
    /// ULID.
    pub id: String,
    /// Name given at creation.
    pub name: String,
    /// The user the token acts for, if any (service tokens have none).
    pub user_id: Option<String>,
    /// Hash of the secret (never serialized).
    #[serde(skip)]
    pub token_hash: String,
    /// Roles per tenant; the token sees only these tenants.
    pub roles: Vec<RoleGrant>,
    /// API endpoints the token may call (`GET /api/v1/alerts`, ...); empty means every endpoint
    /// its roles allow.
    pub endpoints: Vec<String>,
    /// A revoked token is refused.
    pub revoked: bool,
    /// When it stops working.
    pub expires_at: Option<DateTime<Utc>>,
    /// Last use (updated at most about once a minute by the caller).
    pub last_used_at: Option<DateTime<Utc>>,
    /// Who created it.
    pub created_by: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

impl fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiToken")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("user_id", &self.user_id)
            .field("token_hash", &"<redacted>")
            .field("roles", &self.roles)
            .field("revoked", &self.revoked)
            .finish_non_exhaustive()
    }
}

/// A token to create.
#[derive(Clone, PartialEq)]
pub struct NewToken {
    /// Name.
    pub name: String,
    /// The user it acts for.
    pub user_id: Option<String>,
    /// Hash of the secret (unique).
    pub token_hash: String,
    /// Roles per tenant (every tenant must be in the creator's scope).
    pub roles: Vec<RoleGrant>,
    /// Endpoint restriction (empty: none).
    pub endpoints: Vec<String>,
    /// Expiry.
    pub expires_at: Option<DateTime<Utc>>,
    /// Creator.
    pub created_by: String,
}

impl fmt::Debug for NewToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewToken")
            .field("name", &self.name)
            .field("roles", &self.roles)
            .finish_non_exhaustive()
    }
}

text_enum! {
    /// Alert and detection severity, ordered.
    Severity {
        /// Informational or low.
        Low = "low",
        /// Medium.
        Medium = "medium",
        /// High.
        High = "high",
        /// Critical.
        Critical = "critical",
    }
}

impl Severity {
    /// 0 (low) to 3 (critical): the stored, sortable form.
    pub fn rank(self) -> i64 {
        self as i64
    }

    /// The severity of a stored rank (out-of-range ranks clamp).
    pub fn from_rank(r: i64) -> Severity {
        match r {
            i64::MIN..=0 => Severity::Low,
            1 => Severity::Medium,
            2 => Severity::High,
            _ => Severity::Critical,
        }
    }
}

text_enum! {
    /// Where an alert is in triage (KUMA's statuses; "escalated" is KUMA's "in incident").
    AlertStatus {
        /// Nobody has looked at it.
        New = "new",
        /// An analyst owns it.
        Assigned = "assigned",
        /// Linked to an incident.
        Escalated = "escalated",
        /// Done, with a resolution.
        Closed = "closed",
    }
}

text_enum! {
    /// Why an alert was closed.
    Resolution {
        /// A real attack or policy violation.
        TruePositive = "true_positive",
        /// The rule matched something it should not have.
        FalsePositive = "false_positive",
        /// Real activity, expected and harmless.
        Benign = "benign",
        /// Another alert covers it.
        Duplicate = "duplicate",
    }
}

text_enum! {
    /// What an alert entity is.
    EntityKind {
        /// A host name or FQDN.
        Host = "host",
        /// An account.
        User = "user",
        /// An IP address.
        Ip = "ip",
        /// A process (name or path).
        Process = "process",
        /// A file path.
        File = "file",
        /// A hash of a file.
        Hash = "hash",
        /// A domain name.
        Domain = "domain",
        /// A URL.
        Url = "url",
    }
}

/// Something an alert is about: the pivots of an investigation.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Entity {
    /// What it is.
    pub kind: EntityKind,
    /// Its value as the events carried it.
    pub value: String,
}

/// A detection the correlator hands to the core: one rule firing, with the events that made
/// it fire. [`crate::MetaStore::fold_detection`] folds it into the open alert of its group or
/// starts a new alert.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Detection {
    /// The tenant the events belong to.
    pub tenant: TenantId,
    /// Rule id.
    pub rule_id: String,
    /// Rule name (the alert is named after it).
    pub rule_name: String,
    /// Rule version (a changed rule starts new alerts: it is part of nothing but kept for audit).
    pub rule_version: i64,
    /// Severity of this firing.
    pub severity: Severity,
    /// Risk score 0–100.
    pub risk_score: i64,
    /// ATT&CK tactics (`TA0006`).
    pub tactics: Vec<String>,
    /// ATT&CK techniques (`T1110.001`).
    pub techniques: Vec<String>,
    /// Entities seen.
    pub entities: Vec<Entity>,
    /// The grouping key: the rule's identical fields' values (KUMA's "GroupedBy"), joined by
    /// the correlator. The open alert of `(tenant, rule_id, group_key)` takes the detection.
    pub group_key: String,
    /// Time of the first event of this firing.
    pub first_seen: DateTime<Utc>,
    /// Time of the last event of this firing.
    pub last_seen: DateTime<Utc>,
    /// How many events this firing stands for (≥ 1).
    pub count: u64,
    /// Ids of the base events (kept up to the fill policy's cap per alert).
    pub event_ids: Vec<String>,
}

/// When an open alert stops taking detections (KUMA's alert filling time and event limit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FillPolicy {
    /// An alert that stands for this many events takes no more; the next detection starts a
    /// new alert (KUMA: 10,000).
    pub max_events: u64,
    /// An alert created longer ago than this takes no more (KUMA: 336 h).
    pub max_age: chrono::Duration,
    /// Base event ids kept per alert; ids beyond it are counted in `event_ids_dropped`.
    pub max_event_ids: u64,
}

impl Default for FillPolicy {
    fn default() -> FillPolicy {
        FillPolicy {
            max_events: 10_000,
            max_age: chrono::Duration::hours(336),
            max_event_ids: 1_000,
        }
    }
}

/// What [`crate::MetaStore::fold_detection`] did.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FoldOutcome {
    /// The alert that took the detection.
    pub alert_id: String,
    /// Whether the alert was created by this detection.
    pub created: bool,
    /// The alert's event count afterwards.
    pub count: u64,
}

/// An alert: one rule's detections for one group key, until closed or full.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// ULID.
    pub id: String,
    /// Tenant.
    pub tenant: TenantId,
    /// Rule id.
    pub rule_id: String,
    /// Rule name.
    pub rule_name: String,
    /// Rule version of the first detection.
    pub rule_version: i64,
    /// Highest severity of its detections (or as set by an analyst).
    pub severity: Severity,
    /// Highest risk score of its detections.
    pub risk_score: i64,
    /// Triage status.
    pub status: AlertStatus,
    /// Resolution, when closed.
    pub resolution: Option<Resolution>,
    /// Why it was resolved so.
    pub resolution_reason: Option<String>,
    /// Assigned user id.
    pub assignee: Option<String>,
    /// ATT&CK tactics.
    pub tactics: Vec<String>,
    /// ATT&CK techniques.
    pub techniques: Vec<String>,
    /// Entities of all its detections (deduplicated, sorted).
    pub entities: Vec<Entity>,
    /// Grouping key.
    pub group_key: String,
    /// Whether it still takes detections (open and within the fill policy).
    pub filling: bool,
    /// First event time.
    pub first_seen: DateTime<Utc>,
    /// Last event time.
    pub last_seen: DateTime<Utc>,
    /// Events it stands for.
    pub count: u64,
    /// Base event ids kept (up to the fill policy's cap; read them with
    /// [`crate::MetaStore::alert_event_ids`]).
    pub event_ids_kept: u64,
    /// Base event ids not kept because of the cap (KUMA's overflow flag, as a count).
    pub event_ids_dropped: u64,
    /// The incident it was escalated into.
    pub incident_id: Option<String>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// A triage change to an alert; `None` leaves a field as it is. Every change is written to
/// the alert's history in the same transaction.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AlertUpdate {
    /// New status. Closing requires `resolution`; reopening clears it.
    pub status: Option<AlertStatus>,
    /// Assign (`Some(Some(user))`) or unassign (`Some(None)`).
    #[serde(default)]
    pub assignee: Option<Option<String>>,
    /// Resolution (with `status: closed`).
    pub resolution: Option<Resolution>,
    /// Reason for the resolution.
    pub resolution_reason: Option<String>,
    /// Analyst-set severity.
    pub severity: Option<Severity>,
}

/// One recorded change to an alert.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertChange {
    /// Alert id.
    pub alert_id: String,
    /// Who (user id, token id or `system`).
    pub actor: String,
    /// When.
    pub at: DateTime<Utc>,
    /// The field: `status`, `assignee`, `resolution`, `severity`, `incident`.
    pub field: String,
    /// Value before.
    pub old: Option<String>,
    /// Value after.
    pub new: Option<String>,
}

/// What a comment is attached to.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "id", rename_all = "snake_case")]
pub enum CommentTarget {
    /// An alert.
    Alert(String),
    /// An incident.
    Incident(String),
}

/// An analyst's comment.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comment {
    /// ULID.
    pub id: String,
    /// Tenant (that of its target).
    pub tenant: TenantId,
    /// Target.
    pub target: CommentTarget,
    /// Author user id.
    pub author: String,
    /// Text (Markdown).
    pub body: String,
    /// When it was written.
    pub created_at: DateTime<Utc>,
}

text_enum! {
    /// Incident priority (KUMA's four levels).
    Priority {
        /// Low.
        Low = "low",
        /// Medium.
        Medium = "medium",
        /// High.
        High = "high",
        /// Critical.
        Critical = "critical",
    }
}

impl Priority {
    /// 0–3, the stored and sortable form.
    pub fn rank(self) -> i64 {
        self as i64
    }

    /// The priority of a stored rank (clamped).
    pub fn from_rank(r: i64) -> Priority {
        match r {
            i64::MIN..=0 => Priority::Low,
            1 => Priority::Medium,
            2 => Priority::High,
            _ => Priority::Critical,
        }
    }
}

text_enum! {
    /// Incident life cycle.
    IncidentStatus {
        /// Created, not yet worked.
        Open = "open",
        /// Someone works it.
        InProgress = "in_progress",
        /// Done.
        Closed = "closed",
    }
}

text_enum! {
    /// What else an incident links to, besides alerts.
    LinkKind {
        /// A stored event (by event id).
        Event = "event",
        /// An asset (by asset id).
        Asset = "asset",
        /// An account (user name as seen in events).
        Account = "account",
    }
}

/// An incident: a case that groups alerts, events, assets and accounts, with a timeline.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    /// ULID.
    pub id: String,
    /// Tenant.
    pub tenant: TenantId,
    /// Title.
    pub title: String,
    /// Description (Markdown).
    pub description: String,
    /// Category (KUMA: category and type; `malware`, `account-compromise`, ...).
    pub category: String,
    /// Priority.
    pub priority: Priority,
    /// Status.
    pub status: IncidentStatus,
    /// Resolution when closed.
    pub resolution: Option<Resolution>,
    /// Assigned user id.
    pub assignee: Option<String>,
    /// Linked alert ids.
    pub alerts: Vec<String>,
    /// Linked event ids.
    pub events: Vec<String>,
    /// Linked asset ids.
    pub assets: Vec<String>,
    /// Linked account names.
    pub accounts: Vec<String>,
    /// Who created it.
    pub created_by: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// When it was closed.
    pub closed_at: Option<DateTime<Utc>>,
}

/// An incident to create.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewIncident {
    /// Tenant (must be in scope).
    pub tenant: TenantId,
    /// Title.
    pub title: String,
    /// Description.
    #[serde(default)]
    pub description: String,
    /// Category.
    #[serde(default)]
    pub category: String,
    /// Priority.
    pub priority: Priority,
    /// Assignee.
    #[serde(default)]
    pub assignee: Option<String>,
    /// Creator.
    pub created_by: String,
}

/// A change to an incident; `None` leaves a field. Each change adds a timeline entry in the
/// same transaction.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IncidentUpdate {
    /// Title.
    pub title: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Category.
    pub category: Option<String>,
    /// Priority.
    pub priority: Option<Priority>,
    /// Status; closing requires a resolution.
    pub status: Option<IncidentStatus>,
    /// Resolution.
    pub resolution: Option<Resolution>,
    /// Assign or unassign.
    #[serde(default)]
    pub assignee: Option<Option<String>>,
}

/// One entry of an incident's timeline: what happened when, as the analysts reconstructed
/// it, plus the system's own entries for every change.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimelineEntry {
    /// ULID.
    pub id: String,
    /// Incident id.
    pub incident_id: String,
    /// When the described thing happened.
    pub at: DateTime<Utc>,
    /// Who wrote it (`system` for automatic entries).
    pub author: String,
    /// `note`, `change`, `event`, `alert` ...
    pub kind: String,
    /// Text.
    pub text: String,
    /// The event it describes, if any.
    pub event_id: Option<String>,
    /// When it was written.
    pub created_at: DateTime<Utc>,
}

/// A file attached to an incident (metadata; the bytes are read separately).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attachment {
    /// ULID.
    pub id: String,
    /// Incident id.
    pub incident_id: String,
    /// File name as uploaded.
    pub name: String,
    /// Media type.
    pub media_type: String,
    /// Size in bytes.
    pub size: u64,
    /// Uploader.
    pub uploaded_by: String,
    /// When.
    pub created_at: DateTime<Utc>,
}

text_enum! {
    /// How much an asset matters.
    Criticality {
        /// Low.
        Low = "low",
        /// Medium.
        Medium = "medium",
        /// High.
        High = "high",
        /// Critical.
        Critical = "critical",
    }
}

impl Criticality {
    /// 0–3, the stored and sortable form.
    pub fn rank(self) -> i64 {
        self as i64
    }

    /// The criticality of a stored rank (clamped).
    pub fn from_rank(r: i64) -> Criticality {
        match r {
            i64::MIN..=0 => Criticality::Low,
            1 => Criticality::Medium,
            2 => Criticality::High,
            _ => Criticality::Critical,
        }
    }
}

/// An asset: a host the SOC knows about.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Asset {
    /// ULID.
    pub id: String,
    /// Tenant.
    pub tenant: TenantId,
    /// Host name or FQDN (unique per tenant).
    pub name: String,
    /// IP addresses.
    pub ips: Vec<String>,
    /// Owner (person or team).
    pub owner: Option<String>,
    /// Criticality.
    pub criticality: Criticality,
    /// Categories (KUMA asset categories).
    pub categories: Vec<String>,
    /// Operating system.
    pub os: Option<String>,
    /// Free text.
    pub description: String,
    /// Where it was learned from (`manual`, `events`, an import's name).
    pub sources: Vec<String>,
    /// MAC addresses learned from events (`host.mac`), `AA-BB-CC-DD-EE-FF`.
    #[serde(default)]
    pub macs: Vec<String>,
    /// First seen in events or created.
    pub first_seen: DateTime<Utc>,
    /// Last seen in events.
    pub last_seen: DateTime<Utc>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// An asset to create, or the new state of an existing one (`update_asset` replaces every
/// field but the id, tenant and times).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AssetSpec {
    /// Tenant (must be in scope).
    pub tenant: TenantId,
    /// Host name or FQDN.
    pub name: String,
    /// IP addresses.
    #[serde(default)]
    pub ips: Vec<String>,
    /// Owner.
    #[serde(default)]
    pub owner: Option<String>,
    /// Criticality.
    pub criticality: Criticality,
    /// Categories.
    #[serde(default)]
    pub categories: Vec<String>,
    /// Operating system.
    #[serde(default)]
    pub os: Option<String>,
    /// Free text.
    #[serde(default)]
    pub description: String,
    /// Sources.
    #[serde(default)]
    pub sources: Vec<String>,
}

/// A suppression rule: detections of `rule_id` whose fields have these values make no alert
/// (until the rule expires); each is counted.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SuppressionRule {
    /// ULID.
    pub id: String,
    /// Tenant.
    pub tenant: TenantId,
    /// The detection rule it applies to.
    pub rule_id: String,
    /// Field → value; all must match.
    pub fields: BTreeMap<String, String>,
    /// Why it exists.
    pub reason: String,
    /// Who made it.
    pub created_by: String,
    /// When it stops applying.
    pub expires_at: Option<DateTime<Utc>>,
    /// Detections suppressed so far.
    pub suppressed_count: u64,
    /// Last suppressed detection.
    pub last_hit_at: Option<DateTime<Utc>>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

/// A suppression rule to create.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewSuppressionRule {
    /// Tenant (in scope).
    pub tenant: TenantId,
    /// Rule id.
    pub rule_id: String,
    /// Field values.
    pub fields: BTreeMap<String, String>,
    /// Why.
    pub reason: String,
    /// Who.
    pub created_by: String,
    /// Expiry.
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
}

text_enum! {
    /// What a monitoring policy counts (KUMA's policy types).
    MonitoringKind {
        /// Events per interval.
        ByCount = "by_count",
        /// Events per second averaged over the interval.
        ByEps = "by_eps",
    }
}

/// A source monitoring policy: a source whose rate leaves `[lower, upper]` over `interval`
/// turns red and raises a monitoring event; no event for `silent_after` marks it silent.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MonitoringPolicy {
    /// ULID.
    pub id: String,
    /// Tenant (Shared for policies every tenant may apply).
    pub tenant: TenantId,
    /// Name (unique per tenant).
    pub name: String,
    /// By count or by EPS.
    pub kind: MonitoringKind,
    /// Lower bound (events or events/s).
    pub lower: f64,
    /// Optional upper bound.
    pub upper: Option<f64>,
    /// Counting interval in seconds.
    pub interval_secs: u64,
    /// A source with no events for this many seconds is silent.
    pub silent_after_secs: Option<u64>,
    /// Source ids it applies to.
    pub sources: Vec<String>,
    /// Whether it is applied.
    pub enabled: bool,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// A monitoring policy to create, or the new state of one.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MonitoringPolicySpec {
    /// Tenant (in scope).
    pub tenant: TenantId,
    /// Name.
    pub name: String,
    /// Kind.
    pub kind: MonitoringKind,
    /// Lower bound.
    pub lower: f64,
    /// Upper bound.
    #[serde(default)]
    pub upper: Option<f64>,
    /// Interval (seconds).
    pub interval_secs: u64,
    /// Silence threshold (seconds).
    #[serde(default)]
    pub silent_after_secs: Option<u64>,
    /// Sources.
    #[serde(default)]
    pub sources: Vec<String>,
    /// Enabled.
    pub enabled: bool,
}

/// A saved search.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedSearch {
    /// ULID.
    pub id: String,
    /// Tenant.
    pub tenant: TenantId,
    /// Owner user id.
    pub owner: String,
    /// Name (unique per owner and tenant).
    pub name: String,
    /// The query, in Vigil's query language.
    pub query: String,
    /// Time range (`24h`, `7d`, or `FROM..TO`).
    pub time_range: String,
    /// Whether other users of the tenant see it.
    pub shared: bool,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// A saved search to create, or the new state of one.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedSearchSpec {
    /// Tenant (in scope).
    pub tenant: TenantId,
    /// Owner.
    pub owner: String,
    /// Name.
    pub name: String,
    /// Query.
    pub query: String,
    /// Time range.
    pub time_range: String,
    /// Shared with the tenant.
    pub shared: bool,
}

text_enum! {
    /// Whether an audited action succeeded.
    AuditOutcome {
        /// It succeeded.
        Success = "success",
        /// It was refused or failed.
        Failure = "failure",
    }
}

/// An audit record: who did what to which object, when, from where.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// ULID (assigned by the store when appended).
    pub id: String,
    /// The tenant the action concerned (Main for installation-wide actions).
    pub tenant: TenantId,
    /// When.
    pub at: DateTime<Utc>,
    /// User id, token id or `system`.
    pub actor: String,
    /// Dotted action name (`user.login`, `alert.close`, `token.revoke`).
    pub action: String,
    /// Kind of object (`alert`, `user`, ...).
    pub target_kind: String,
    /// Its id.
    pub target_id: String,
    /// Outcome.
    pub outcome: AuditOutcome,
    /// Client address.
    pub source_ip: Option<String>,
    /// Details (never secrets).
    pub details: serde_json::Value,
    /// Position in the tenant's hash chain (none for records written before the chain).
    #[serde(default)]
    pub seq: Option<u64>,
    /// SHA-256 over the previous record's hash and this record's fields (hex).
    #[serde(default)]
    pub hash: Option<String>,
}

/// A login session. The browser holds a random 256-bit secret in a cookie; the store keeps
/// only its SHA-256 hash (`secret_hash`, never serialized), so a copy of the database does not
/// hand out sessions.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, PartialEq, Serialize)]
pub struct Session {
    /// ULID: names the session in listings and for revocation (not a credential).
    pub id: String,
    /// The user.
    pub user_id: String,
    /// SHA-256 of the cookie secret, hex (never serialized).
    #[serde(skip)]
    pub secret_hash: String,
    /// Client address at login.
    pub source_ip: Option<String>,
    /// Login time.
    pub created_at: DateTime<Utc>,
    /// Last request (updated at most about once a minute).
    pub last_seen_at: DateTime<Utc>,
    /// Absolute expiry: the session ends then whatever its activity.
    pub expires_at: DateTime<Utc>,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("id", &self.id)
            .field("user_id", &self.user_id)
            .field("secret_hash", &"<redacted>")
            .field("source_ip", &self.source_ip)
            .field("created_at", &self.created_at)
            .field("last_seen_at", &self.last_seen_at)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// A session to store.
#[derive(Clone, PartialEq)]
pub struct NewSession {
    /// The user.
    pub user_id: String,
    /// SHA-256 of the cookie secret, hex (unique).
    pub secret_hash: String,
    /// Client address.
    pub source_ip: Option<String>,
    /// Login time (also the first `last_seen_at`).
    pub created_at: DateTime<Utc>,
    /// Absolute expiry.
    pub expires_at: DateTime<Utc>,
}

impl fmt::Debug for NewSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewSession")
            .field("user_id", &self.user_id)
            .field("source_ip", &self.source_ip)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}
