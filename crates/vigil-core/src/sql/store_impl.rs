//! [`MetaStore`] for [`SqlMetaStore`].

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::any::AnyRow;
use sqlx::{Any, AnyPool, Row, Transaction};

use super::build::{Sql, finish_page, page_tail};
use super::{Dialect, SqlMetaStore};
use crate::model::*;
use crate::scope::{MAIN_TENANT, SHARED_TENANT, TenantId, TenantScope};
use crate::store::*;

mod audit_chain;
mod dashboards;
mod sources;

type Tx = Transaction<'static, Any>;

fn now() -> Time {
    // Millisecond precision, as stored, so returned values equal re-read ones.
    DateTime::from_timestamp_millis(Utc::now().timestamp_millis()).unwrap_or_default()
}

/// A new row id. Ids from one process increase strictly, even within one millisecond,
/// so rows ordered by `(created_at, id)` keep the order they were written in.
fn new_id() -> String {
    static GENERATOR: std::sync::Mutex<ulid::Generator> =
        std::sync::Mutex::new(ulid::Generator::new());
    let mut generator = GENERATOR.lock().unwrap_or_else(|e| e.into_inner());
    // The random part overflows only after 2^80 ids in one millisecond; fall back to a
    // fresh (non-monotonic) id rather than fail a write.
    generator
        .generate()
        .unwrap_or_else(|_| ulid::Ulid::new())
        .to_string()
}

fn be(e: sqlx::Error) -> MetaError {
    MetaError::Backend(e)
}

/// Maps a write error: unique violations become [`MetaError::Conflict`], foreign-key
/// violations [`MetaError::Invalid`] (a role in an unknown tenant, ...).
fn write_err(what: &'static str) -> impl Fn(sqlx::Error) -> MetaError {
    move |e| {
        if let sqlx::Error::Database(db) = &e {
            if db.is_unique_violation() {
                return MetaError::Conflict {
                    what,
                    detail: db.message().to_owned(),
                };
            }
            if db.is_foreign_key_violation() {
                return MetaError::Invalid {
                    field: what.into(),
                    reason: format!("refers to a record that does not exist ({})", db.message()),
                };
            }
        }
        MetaError::Backend(e)
    }
}

fn not_found(what: &'static str, id: &str) -> MetaError {
    MetaError::NotFound {
        what,
        id: id.to_owned(),
    }
}

impl SqlMetaStore {
    /// Deletes the row `id` of `table` within the caller's tenants; `NotFound` (naming `what`)
    /// when no such row is in scope.
    async fn delete_scoped(
        &self,
        table: &'static str,
        what: &'static str,
        scope: &TenantScope,
        id: &str,
    ) -> Result<(), MetaError> {
        let mut sql = Sql::new("DELETE FROM ");
        sql.push(table).push(" WHERE id = ");
        sql.arg(id).push(" AND ").scope("tenant_id", scope);
        if sql
            .query()
            .execute(&self.w)
            .await
            .map_err(be)?
            .rows_affected()
            == 0
        {
            return Err(not_found(what, id));
        }
        Ok(())
    }
}

fn get<'r, T>(r: &'r AnyRow, col: &str) -> Result<T, MetaError>
where
    T: sqlx::Decode<'r, Any> + sqlx::Type<Any>,
{
    r.try_get::<T, _>(col).map_err(be)
}

fn time(r: &AnyRow, col: &str) -> Result<Time, MetaError> {
    let ms: i64 = get(r, col)?;
    DateTime::from_timestamp_millis(ms).ok_or_else(|| MetaError::Corrupt {
        what: "time",
        detail: format!("{col} = {ms}"),
    })
}

fn opt_time(r: &AnyRow, col: &str) -> Result<Option<Time>, MetaError> {
    let ms: Option<i64> = get(r, col)?;
    Ok(ms.and_then(DateTime::from_timestamp_millis))
}

fn u(r: &AnyRow, col: &str) -> Result<u64, MetaError> {
    Ok(u64::try_from(get::<i64>(r, col)?).unwrap_or(0))
}

fn flag(r: &AnyRow, col: &str) -> Result<bool, MetaError> {
    Ok(get::<i64>(r, col)? != 0)
}

fn parse<T: std::str::FromStr<Err = MetaError>>(r: &AnyRow, col: &str) -> Result<T, MetaError> {
    get::<String>(r, col)?.parse()
}

fn tenant(r: &AnyRow) -> Result<TenantId, MetaError> {
    Ok(TenantId::new(&get::<String>(r, "tenant_id")?)?)
}

fn json_list(v: &[String]) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "[]".into())
}

fn list(r: &AnyRow, col: &str) -> Result<Vec<String>, MetaError> {
    let s: String = get(r, col)?;
    serde_json::from_str(&s).map_err(|e| MetaError::Corrupt {
        what: "list",
        detail: format!("{col}: {e}"),
    })
}

fn nonempty(field: &str, v: &str, max: usize) -> Result<(), MetaError> {
    if v.trim().is_empty() || v.len() > max {
        return Err(MetaError::Invalid {
            field: field.into(),
            reason: format!("must be 1 to {max} bytes and not blank"),
        });
    }
    Ok(())
}

async fn fetch_all(pool: &AnyPool, sql: &Sql) -> Result<Vec<AnyRow>, MetaError> {
    sql.query().fetch_all(pool).await.map_err(be)
}

async fn fetch_opt(pool: &AnyPool, sql: &Sql) -> Result<Option<AnyRow>, MetaError> {
    sql.query().fetch_optional(pool).await.map_err(be)
}

async fn tx_opt(tx: &mut Tx, sql: &Sql) -> Result<Option<AnyRow>, MetaError> {
    sql.query().fetch_optional(&mut **tx).await.map_err(be)
}

async fn tx_exec(tx: &mut Tx, sql: &Sql, what: &'static str) -> Result<u64, MetaError> {
    sql.query()
        .execute(&mut **tx)
        .await
        .map(|r| r.rows_affected())
        .map_err(write_err(what))
}

const TENANT_COLS: &str = "id AS tenant_id, name, description, kind, disabled, eps_limit, storage_limit_bytes, created_at, updated_at";

fn tenant_row(r: &AnyRow) -> Result<Tenant, MetaError> {
    Ok(Tenant {
        id: tenant(r)?,
        name: get(r, "name")?,
        description: get(r, "description")?,
        kind: parse(r, "kind")?,
        disabled: flag(r, "disabled")?,
        eps_limit: get::<Option<i64>>(r, "eps_limit")?.and_then(|v| u64::try_from(v).ok()),
        storage_limit_bytes: get::<Option<i64>>(r, "storage_limit_bytes")?
            .and_then(|v| u64::try_from(v).ok()),
        created_at: time(r, "created_at")?,
        updated_at: time(r, "updated_at")?,
    })
}

const USER_COLS: &str = "id, username, display_name, email, password_hash, totp_secret, disabled, \
     must_change_password, failed_logins, locked_until, last_login_at, created_at, updated_at";

fn user_row(r: &AnyRow) -> Result<User, MetaError> {
    let totp_secret: Option<String> = get(r, "totp_secret")?;
    Ok(User {
        id: get(r, "id")?,
        username: get(r, "username")?,
        display_name: get(r, "display_name")?,
        email: get(r, "email")?,
        password_hash: get(r, "password_hash")?,
        totp_enabled: totp_secret.is_some(),
        totp_secret,
        roles: Vec::new(),
        disabled: flag(r, "disabled")?,
        must_change_password: flag(r, "must_change_password")?,
        failed_logins: u32::try_from(u(r, "failed_logins")?).unwrap_or(u32::MAX),
        locked_until: opt_time(r, "locked_until")?,
        last_login_at: opt_time(r, "last_login_at")?,
        created_at: time(r, "created_at")?,
        updated_at: time(r, "updated_at")?,
    })
}

const TOKEN_COLS: &str = "id, name, user_id, token_hash, endpoints, revoked, expires_at, \
     last_used_at, created_by, created_at";

fn token_row(r: &AnyRow) -> Result<ApiToken, MetaError> {
    Ok(ApiToken {
        id: get(r, "id")?,
        name: get(r, "name")?,
        user_id: get(r, "user_id")?,
        token_hash: get(r, "token_hash")?,
        roles: Vec::new(),
        endpoints: list(r, "endpoints")?,
        revoked: flag(r, "revoked")?,
        expires_at: opt_time(r, "expires_at")?,
        last_used_at: opt_time(r, "last_used_at")?,
        created_by: get(r, "created_by")?,
        created_at: time(r, "created_at")?,
    })
}

const SESSION_COLS: &str =
    "id, user_id, secret_hash, source_ip, created_at, last_seen_at, expires_at";

fn session_row(r: &AnyRow) -> Result<Session, MetaError> {
    Ok(Session {
        id: get(r, "id")?,
        user_id: get(r, "user_id")?,
        secret_hash: get(r, "secret_hash")?,
        source_ip: get(r, "source_ip")?,
        created_at: time(r, "created_at")?,
        last_seen_at: time(r, "last_seen_at")?,
        expires_at: time(r, "expires_at")?,
    })
}

const ALERT_COLS: &str = "id, tenant_id, rule_id, rule_name, rule_version, severity, risk_score, \
     status, resolution, resolution_reason, assignee, tactics, techniques, group_key, filling, \
     first_seen, last_seen, count, event_ids_kept, event_ids_dropped, incident_id, created_at, \
     updated_at";

fn alert_row(r: &AnyRow) -> Result<Alert, MetaError> {
    Ok(Alert {
        id: get(r, "id")?,
        tenant: tenant(r)?,
        rule_id: get(r, "rule_id")?,
        rule_name: get(r, "rule_name")?,
        rule_version: get(r, "rule_version")?,
        severity: Severity::from_rank(get(r, "severity")?),
        risk_score: get(r, "risk_score")?,
        status: parse(r, "status")?,
        resolution: get::<Option<String>>(r, "resolution")?
            .map(|s| s.parse())
            .transpose()?,
        resolution_reason: get(r, "resolution_reason")?,
        assignee: get(r, "assignee")?,
        tactics: list(r, "tactics")?,
        techniques: list(r, "techniques")?,
        entities: Vec::new(),
        group_key: get(r, "group_key")?,
        filling: flag(r, "filling")?,
        first_seen: time(r, "first_seen")?,
        last_seen: time(r, "last_seen")?,
        count: u(r, "count")?,
        event_ids_kept: u(r, "event_ids_kept")?,
        event_ids_dropped: u(r, "event_ids_dropped")?,
        incident_id: get(r, "incident_id")?,
        created_at: time(r, "created_at")?,
        updated_at: time(r, "updated_at")?,
    })
}

const INCIDENT_COLS: &str = "id, tenant_id, title, description, category, priority, status, \
     resolution, assignee, created_by, created_at, updated_at, closed_at";

fn incident_row(r: &AnyRow) -> Result<Incident, MetaError> {
    Ok(Incident {
        id: get(r, "id")?,
        tenant: tenant(r)?,
        title: get(r, "title")?,
        description: get(r, "description")?,
        category: get(r, "category")?,
        priority: Priority::from_rank(get(r, "priority")?),
        status: parse(r, "status")?,
        resolution: get::<Option<String>>(r, "resolution")?
            .map(|s| s.parse())
            .transpose()?,
        assignee: get(r, "assignee")?,
        alerts: Vec::new(),
        events: Vec::new(),
        assets: Vec::new(),
        accounts: Vec::new(),
        created_by: get(r, "created_by")?,
        created_at: time(r, "created_at")?,
        updated_at: time(r, "updated_at")?,
        closed_at: opt_time(r, "closed_at")?,
    })
}

fn timeline_row(r: &AnyRow) -> Result<TimelineEntry, MetaError> {
    Ok(TimelineEntry {
        id: get(r, "id")?,
        incident_id: get(r, "incident_id")?,
        at: time(r, "at")?,
        author: get(r, "author")?,
        kind: get(r, "kind")?,
        text: get(r, "text")?,
        event_id: get(r, "event_id")?,
        created_at: time(r, "created_at")?,
    })
}

fn attachment_row(r: &AnyRow) -> Result<Attachment, MetaError> {
    Ok(Attachment {
        id: get(r, "id")?,
        incident_id: get(r, "incident_id")?,
        name: get(r, "name")?,
        media_type: get(r, "media_type")?,
        size: u(r, "size")?,
        uploaded_by: get(r, "uploaded_by")?,
        created_at: time(r, "created_at")?,
    })
}

const ASSET_COLS: &str = "id, tenant_id, name, ips, owner, criticality, categories, os, \
     description, sources, macs, first_seen, last_seen, created_at, updated_at";

fn asset_row(r: &AnyRow) -> Result<Asset, MetaError> {
    Ok(Asset {
        id: get(r, "id")?,
        tenant: tenant(r)?,
        name: get(r, "name")?,
        ips: list(r, "ips")?,
        owner: get(r, "owner")?,
        criticality: Criticality::from_rank(get(r, "criticality")?),
        categories: list(r, "categories")?,
        os: get(r, "os")?,
        description: get(r, "description")?,
        sources: list(r, "sources")?,
        macs: list(r, "macs")?,
        first_seen: time(r, "first_seen")?,
        last_seen: time(r, "last_seen")?,
        created_at: time(r, "created_at")?,
        updated_at: time(r, "updated_at")?,
    })
}

fn suppression_row(r: &AnyRow) -> Result<SuppressionRule, MetaError> {
    let fields: String = get(r, "fields")?;
    Ok(SuppressionRule {
        id: get(r, "id")?,
        tenant: tenant(r)?,
        rule_id: get(r, "rule_id")?,
        fields: serde_json::from_str(&fields).map_err(|e| MetaError::Corrupt {
            what: "suppression fields",
            detail: e.to_string(),
        })?,
        reason: get(r, "reason")?,
        created_by: get(r, "created_by")?,
        expires_at: opt_time(r, "expires_at")?,
        suppressed_count: u(r, "suppressed_count")?,
        last_hit_at: opt_time(r, "last_hit_at")?,
        created_at: time(r, "created_at")?,
    })
}

fn policy_row(r: &AnyRow) -> Result<MonitoringPolicy, MetaError> {
    Ok(MonitoringPolicy {
        id: get(r, "id")?,
        tenant: tenant(r)?,
        name: get(r, "name")?,
        kind: parse(r, "kind")?,
        lower: get(r, "lower_bound")?,
        upper: get(r, "upper_bound")?,
        interval_secs: u(r, "interval_secs")?,
        silent_after_secs: get::<Option<i64>>(r, "silent_after_secs")?
            .and_then(|v| u64::try_from(v).ok()),
        sources: list(r, "sources")?,
        enabled: flag(r, "enabled")?,
        created_at: time(r, "created_at")?,
        updated_at: time(r, "updated_at")?,
    })
}

fn saved_search_row(r: &AnyRow) -> Result<SavedSearch, MetaError> {
    Ok(SavedSearch {
        id: get(r, "id")?,
        tenant: tenant(r)?,
        owner: get(r, "owner")?,
        name: get(r, "name")?,
        query: get(r, "query")?,
        time_range: get(r, "time_range")?,
        shared: flag(r, "shared")?,
        created_at: time(r, "created_at")?,
        updated_at: time(r, "updated_at")?,
    })
}

fn audit_row(r: &AnyRow) -> Result<AuditRecord, MetaError> {
    let details: String = get(r, "details")?;
    Ok(AuditRecord {
        id: get(r, "id")?,
        tenant: tenant(r)?,
        at: time(r, "at")?,
        actor: get(r, "actor")?,
        action: get(r, "action")?,
        target_kind: get(r, "target_kind")?,
        target_id: get(r, "target_id")?,
        outcome: parse(r, "outcome")?,
        source_ip: get(r, "source_ip")?,
        details: serde_json::from_str(&details).unwrap_or(serde_json::Value::String(details)),
        seq: get::<Option<i64>>(r, "seq")?.and_then(|v| u64::try_from(v).ok()),
        hash: get(r, "hash")?,
    })
}

fn grants(rows: &[AnyRow], owner_col: &str) -> Result<HashMap<String, Vec<RoleGrant>>, MetaError> {
    let mut out: HashMap<String, Vec<RoleGrant>> = HashMap::new();
    for r in rows {
        out.entry(get(r, owner_col)?).or_default().push(RoleGrant {
            tenant: tenant(r)?,
            role: parse(r, "role")?,
        });
    }
    Ok(out)
}

impl SqlMetaStore {
    fn d(&self) -> Dialect {
        self.dialect
    }

    async fn begin(&self) -> Result<Tx, MetaError> {
        self.w.begin().await.map_err(be)
    }

    pub(super) async fn ensure_default_tenants(&self) -> Result<(), MetaError> {
        let t = now();
        for (id, name, kind) in [
            (MAIN_TENANT, "Main", TenantKind::Main),
            (SHARED_TENANT, "Shared", TenantKind::Shared),
        ] {
            let mut sql = Sql::new(
                "INSERT INTO tenants (id, name, description, kind, disabled, created_at, updated_at) VALUES (",
            );
            sql.arg(id)
                .push(", ")
                .arg(name)
                .push(", '', ")
                .arg(kind.as_str());
            sql.push(", 0, ")
                .arg(t)
                .push(", ")
                .arg(t)
                .push(") ON CONFLICT (id) DO NOTHING");
            sql.query().execute(&self.w).await.map_err(be)?;
        }
        Ok(())
    }

    async fn load_user_roles(&self, users: &mut [User]) -> Result<(), MetaError> {
        if users.is_empty() {
            return Ok(());
        }
        let mut sql = Sql::new("SELECT user_id, tenant_id, role FROM user_roles WHERE user_id IN ");
        sql.list(users.iter().map(|u| u.id.as_str()));
        sql.push(" ORDER BY tenant_id, role");
        let mut by = grants(&fetch_all(&self.r, &sql).await?, "user_id")?;
        for u in users {
            u.roles = by.remove(&u.id).unwrap_or_default();
        }
        Ok(())
    }

    async fn load_token_roles(&self, tokens: &mut [ApiToken]) -> Result<(), MetaError> {
        if tokens.is_empty() {
            return Ok(());
        }
        let mut sql =
            Sql::new("SELECT token_id, tenant_id, role FROM token_roles WHERE token_id IN ");
        sql.list(tokens.iter().map(|t| t.id.as_str()));
        sql.push(" ORDER BY tenant_id, role");
        let mut by = grants(&fetch_all(&self.r, &sql).await?, "token_id")?;
        for t in tokens {
            t.roles = by.remove(&t.id).unwrap_or_default();
        }
        Ok(())
    }

    async fn load_entities(&self, alerts: &mut [Alert]) -> Result<(), MetaError> {
        if alerts.is_empty() {
            return Ok(());
        }
        let mut sql =
            Sql::new("SELECT alert_id, kind, value FROM alert_entities WHERE alert_id IN ");
        sql.list(alerts.iter().map(|a| a.id.as_str()));
        sql.push(" ORDER BY kind, value");
        let mut by: HashMap<String, Vec<Entity>> = HashMap::new();
        for r in fetch_all(&self.r, &sql).await? {
            by.entry(get(&r, "alert_id")?).or_default().push(Entity {
                kind: parse(&r, "kind")?,
                value: get(&r, "value")?,
            });
        }
        for a in alerts {
            a.entities = by.remove(&a.id).unwrap_or_default();
        }
        Ok(())
    }

    async fn load_links(&self, incidents: &mut [Incident]) -> Result<(), MetaError> {
        if incidents.is_empty() {
            return Ok(());
        }
        let ids = || incidents.iter().map(|i| i.id.clone()).collect::<Vec<_>>();
        let mut sql =
            Sql::new("SELECT incident_id, kind, value FROM incident_links WHERE incident_id IN ");
        sql.list(ids()).push(" ORDER BY kind, value");
        let links = fetch_all(&self.r, &sql).await?;
        let mut sql = Sql::new("SELECT incident_id, id FROM alerts WHERE incident_id IN ");
        sql.list(ids()).push(" ORDER BY id");
        let alerts = fetch_all(&self.r, &sql).await?;
        let mut by: HashMap<String, &mut Incident> =
            incidents.iter_mut().map(|i| (i.id.clone(), i)).collect();
        for r in &links {
            let Some(inc) = by.get_mut(&get::<String>(r, "incident_id")?) else {
                continue;
            };
            let value: String = get(r, "value")?;
            match parse::<LinkKind>(r, "kind")? {
                LinkKind::Event => inc.events.push(value),
                LinkKind::Asset => inc.assets.push(value),
                LinkKind::Account => inc.accounts.push(value),
            }
        }
        for r in &alerts {
            if let Some(inc) = by.get_mut(&get::<String>(r, "incident_id")?) {
                inc.alerts.push(get(r, "id")?);
            }
        }
        Ok(())
    }

    async fn set_asset_ips(
        &self,
        tx: &mut Tx,
        id: &str,
        tenant: &TenantId,
        ips: &[String],
    ) -> Result<(), MetaError> {
        let mut sql = Sql::new("DELETE FROM asset_ips WHERE asset_id = ");
        sql.arg(id);
        tx_exec(tx, &sql, "asset ip").await?;
        let mut seen = std::collections::BTreeSet::new();
        for ip in ips.iter().filter(|ip| seen.insert(ip.as_str())) {
            let mut sql = Sql::new("INSERT INTO asset_ips (asset_id, tenant_id, ip) VALUES (");
            sql.arg(id)
                .push(", ")
                .arg(tenant.as_str())
                .push(", ")
                .arg(ip)
                .push(")");
            tx_exec(tx, &sql, "asset ip").await?;
        }
        Ok(())
    }

    /// Reads an incident's tenant in scope inside a write transaction, locking the row.
    async fn incident_tenant(
        &self,
        tx: &mut Tx,
        scope: &TenantScope,
        id: &str,
    ) -> Result<TenantId, MetaError> {
        let mut sql = Sql::new("SELECT tenant_id FROM incidents WHERE id = ");
        sql.arg(id)
            .push(" AND ")
            .scope("tenant_id", scope)
            .push(self.d().for_update());
        let row = tx_opt(tx, &sql)
            .await?
            .ok_or_else(|| not_found("incident", id))?;
        tenant(&row)
    }

    async fn timeline_in_tx(
        tx: &mut Tx,
        incident_id: &str,
        at: Time,
        author: &str,
        kind: &str,
        text: &str,
        event_id: Option<&str>,
    ) -> Result<TimelineEntry, MetaError> {
        let entry = TimelineEntry {
            id: new_id(),
            incident_id: incident_id.to_owned(),
            at,
            author: author.to_owned(),
            kind: kind.to_owned(),
            text: text.to_owned(),
            event_id: event_id.map(str::to_owned),
            created_at: now(),
        };
        let mut sql = Sql::new(
            "INSERT INTO incident_timeline (id, incident_id, at, author, kind, text, event_id, created_at) VALUES (",
        );
        sql.arg(&entry.id)
            .push(", ")
            .arg(incident_id)
            .push(", ")
            .arg(at)
            .push(", ");
        sql.arg(author)
            .push(", ")
            .arg(kind)
            .push(", ")
            .arg(text)
            .push(", ");
        sql.arg(event_id).push(", ").arg(entry.created_at).push(")");
        tx_exec(tx, &sql, "timeline entry").await?;
        Ok(entry)
    }

    async fn history_in_tx(
        tx: &mut Tx,
        alert_id: &str,
        actor: &str,
        at: Time,
        field: &str,
        old: Option<String>,
        new: Option<String>,
    ) -> Result<(), MetaError> {
        let mut sql = Sql::new(
            "INSERT INTO alert_history (alert_id, actor, at, field, old_value, new_value) VALUES (",
        );
        sql.arg(alert_id)
            .push(", ")
            .arg(actor)
            .push(", ")
            .arg(at)
            .push(", ")
            .arg(field);
        sql.push(", ").arg(old).push(", ").arg(new).push(")");
        tx_exec(tx, &sql, "alert history").await?;
        Ok(())
    }

    async fn get_alert_in_tx(
        &self,
        tx: &mut Tx,
        scope: &TenantScope,
        id: &str,
    ) -> Result<Alert, MetaError> {
        let mut sql = Sql::new(&format!("SELECT {ALERT_COLS} FROM alerts WHERE id = "));
        sql.arg(id)
            .push(" AND ")
            .scope("tenant_id", scope)
            .push(self.d().for_update());
        let row = tx_opt(tx, &sql)
            .await?
            .ok_or_else(|| not_found("alert", id))?;
        alert_row(&row)
    }

    fn check_grants(scope: &TenantScope, roles: &[RoleGrant]) -> Result<(), MetaError> {
        if roles.is_empty() {
            return Err(MetaError::Invalid {
                field: "roles".into(),
                reason: "at least one role in one tenant is required".into(),
            });
        }
        roles.iter().try_for_each(|g| scope.check(&g.tenant))
    }

    async fn insert_grants(
        tx: &mut Tx,
        table: &str,
        owner_col: &str,
        owner: &str,
        roles: &[RoleGrant],
    ) -> Result<(), MetaError> {
        let mut unique = roles.to_vec();
        unique.sort();
        unique.dedup();
        for g in &unique {
            let mut sql = Sql::new(&format!(
                "INSERT INTO {table} ({owner_col}, tenant_id, role) VALUES ("
            ));
            sql.arg(owner)
                .push(", ")
                .arg(g.tenant.as_str())
                .push(", ")
                .arg(g.role.as_str());
            sql.push(")");
            tx_exec(tx, &sql, "role grant").await?;
        }
        Ok(())
    }

    /// The query of one page of `list_alerts` (also what `explain_alerts` explains).
    fn alert_page_sql(scope: &TenantScope, q: &AlertQuery, page: &Page) -> Result<Sql, MetaError> {
        let col = match q.sort {
            AlertSort::LastSeen => "last_seen",
            AlertSort::FirstSeen => "first_seen",
            AlertSort::CreatedAt => "created_at",
            AlertSort::Count => "count",
            AlertSort::RiskScore => "risk_score",
            AlertSort::Severity => "severity",
        };
        let mut sql = Sql::new(&format!(
            "SELECT {ALERT_COLS}, {col} AS sort_key FROM alerts WHERE "
        ));
        sql.scope("tenant_id", scope);
        Self::alert_filters(&mut sql, q);
        let limit = page.effective_limit();
        page_tail(&mut sql, col, "id", q.dir, page.cursor.as_deref(), limit)?;
        Ok(sql)
    }

    /// The query of one page of `list_incidents` (also what `explain_incidents` explains).
    fn incident_page_sql(
        scope: &TenantScope,
        q: &IncidentQuery,
        page: &Page,
    ) -> Result<Sql, MetaError> {
        let col = match q.sort {
            IncidentSort::CreatedAt => "created_at",
            IncidentSort::UpdatedAt => "updated_at",
            IncidentSort::Priority => "priority",
        };
        let mut sql = Sql::new(&format!(
            "SELECT {INCIDENT_COLS}, {col} AS sort_key FROM incidents WHERE "
        ));
        sql.scope("tenant_id", scope);
        if !q.statuses.is_empty() {
            sql.push(" AND status IN ")
                .list(q.statuses.iter().map(|s| s.as_str()));
        }
        if let Some(p) = q.min_priority {
            sql.push(" AND priority >= ").arg(p.rank());
        }
        if let Some(a) = &q.assignee {
            sql.push(" AND assignee = ").arg(a);
        }
        if let Some(c) = &q.category {
            sql.push(" AND category = ").arg(c);
        }
        if let Some(t) = &q.text {
            sql.contains("title", t);
        }
        let limit = page.effective_limit();
        page_tail(&mut sql, col, "id", q.dir, page.cursor.as_deref(), limit)?;
        Ok(sql)
    }

    /// The backend's plan for `sql` (`EXPLAIN QUERY PLAN` / `EXPLAIN`), one line per step.
    async fn explain(&self, sql: &Sql) -> Result<Vec<String>, MetaError> {
        let prefix = match self.dialect {
            Dialect::Sqlite => "EXPLAIN QUERY PLAN ",
            Dialect::Postgres => "EXPLAIN ",
        };
        let explained = sql.prefixed(prefix);
        let rows = fetch_all(&self.r, &explained).await?;
        rows.iter()
            .map(|r| match self.dialect {
                Dialect::Sqlite => get::<String>(r, "detail"),
                Dialect::Postgres => get::<String>(r, "QUERY PLAN"),
            })
            .collect()
    }

    /// How the backend would run [`MetaStore::list_alerts`] for this query and page: its
    /// plan, one line per step (SQLite's `EXPLAIN QUERY PLAN` details, PostgreSQL's
    /// `EXPLAIN` lines), naming the indexes it reads. For diagnostics and the index tests.
    pub async fn explain_alerts(
        &self,
        scope: &TenantScope,
        query: &AlertQuery,
        page: &Page,
    ) -> Result<Vec<String>, MetaError> {
        self.explain(&Self::alert_page_sql(scope, query, page)?)
            .await
    }

    /// As [`SqlMetaStore::explain_alerts`], for [`MetaStore::list_incidents`].
    pub async fn explain_incidents(
        &self,
        scope: &TenantScope,
        query: &IncidentQuery,
        page: &Page,
    ) -> Result<Vec<String>, MetaError> {
        self.explain(&Self::incident_page_sql(scope, query, page)?)
            .await
    }

    fn alert_filters(sql: &mut Sql, q: &AlertQuery) {
        if !q.statuses.is_empty() {
            sql.push(" AND status IN ")
                .list(q.statuses.iter().map(|s| s.as_str()));
        }
        if let Some(s) = q.min_severity {
            sql.push(" AND severity >= ").arg(s.rank());
        }
        if let Some(r) = &q.rule_id {
            sql.push(" AND rule_id = ").arg(r);
        }
        if let Some(a) = &q.assignee {
            sql.push(" AND assignee = ").arg(a);
        }
        if q.unassigned {
            sql.push(" AND assignee IS NULL");
        }
        if let Some(e) = &q.entity {
            // `id IN (…)` rather than a correlated `EXISTS`: SQLite then starts from the
            // entity index instead of testing every alert of the tenant.
            sql.push(" AND id IN (SELECT alert_id FROM alert_entities WHERE kind = ");
            sql.arg(e.kind.as_str())
                .push(" AND value = ")
                .arg(&e.value)
                .push(")");
        }
        if let Some(t) = &q.technique {
            // The list is JSON text: match the quoted element exactly.
            let quoted = serde_json::to_string(t).unwrap_or_default();
            sql.contains("techniques", &quoted);
        }
        if let Some(t) = &q.text {
            sql.contains("rule_name", t);
        }
        if let Some(t) = q.since {
            sql.push(" AND last_seen >= ").arg(t);
        }
        if let Some(t) = q.until {
            sql.push(" AND last_seen < ").arg(t);
        }
        if let Some(i) = &q.incident_id {
            sql.push(" AND incident_id = ").arg(i);
        }
    }
}

#[async_trait]
impl MetaStore for SqlMetaStore {
    async fn all_tenant_ids(&self) -> Result<Vec<TenantId>, MetaError> {
        let rows = fetch_all(
            &self.r,
            &Sql::new("SELECT id AS tenant_id FROM tenants ORDER BY id"),
        )
        .await?;
        rows.iter().map(tenant).collect()
    }

    async fn create_tenant(&self, t: NewTenant) -> Result<Tenant, MetaError> {
        nonempty("name", &t.name, 200)?;
        let at = now();
        let mut sql = Sql::new(
            "INSERT INTO tenants (id, name, description, kind, disabled, eps_limit, created_at, updated_at) VALUES (",
        );
        sql.arg(t.id.as_str())
            .push(", ")
            .arg(&t.name)
            .push(", ")
            .arg(&t.description);
        sql.push(", 'customer', 0, ")
            .arg(t.eps_limit)
            .push(", ")
            .arg(at)
            .push(", ")
            .arg(at);
        sql.push(")");
        sql.query()
            .execute(&self.w)
            .await
            .map_err(write_err("tenant"))?;
        Ok(Tenant {
            id: t.id,
            name: t.name,
            description: t.description,
            kind: TenantKind::Customer,
            disabled: false,
            eps_limit: t.eps_limit,
            storage_limit_bytes: None,
            created_at: at,
            updated_at: at,
        })
    }

    async fn get_tenant(&self, scope: &TenantScope, id: &TenantId) -> Result<Tenant, MetaError> {
        let mut sql = Sql::new(&format!("SELECT {TENANT_COLS} FROM tenants WHERE id = "));
        sql.arg(id.as_str()).push(" AND ").scope("id", scope);
        let row = fetch_opt(&self.r, &sql)
            .await?
            .ok_or_else(|| not_found("tenant", id.as_str()))?;
        tenant_row(&row)
    }

    async fn list_tenants(&self, scope: &TenantScope) -> Result<Vec<Tenant>, MetaError> {
        let mut sql = Sql::new(&format!("SELECT {TENANT_COLS} FROM tenants WHERE "));
        sql.scope("id", scope).push(" ORDER BY id");
        fetch_all(&self.r, &sql)
            .await?
            .iter()
            .map(tenant_row)
            .collect()
    }

    async fn update_tenant(
        &self,
        scope: &TenantScope,
        id: &TenantId,
        name: Option<String>,
        description: Option<String>,
        eps_limit: Option<Option<u64>>,
        disabled: Option<bool>,
    ) -> Result<Tenant, MetaError> {
        let mut sql = Sql::new("UPDATE tenants SET updated_at = ");
        sql.arg(now());
        if let Some(n) = &name {
            nonempty("name", n, 200)?;
            sql.push(", name = ").arg(n);
        }
        if let Some(d) = description {
            sql.push(", description = ").arg(d);
        }
        if let Some(e) = eps_limit {
            sql.push(", eps_limit = ").arg(e);
        }
        if let Some(d) = disabled {
            if d && (id.as_str() == MAIN_TENANT || id.as_str() == SHARED_TENANT) {
                return Err(MetaError::Invalid {
                    field: "disabled".into(),
                    reason: "the Main and Shared tenants cannot be disabled".into(),
                });
            }
            sql.push(", disabled = ").arg(d);
        }
        sql.push(" WHERE id = ")
            .arg(id.as_str())
            .push(" AND ")
            .scope("id", scope);
        if sql
            .query()
            .execute(&self.w)
            .await
            .map_err(be)?
            .rows_affected()
            == 0
        {
            return Err(not_found("tenant", id.as_str()));
        }
        self.get_tenant(scope, id).await
    }

    async fn set_tenant_storage_limit(
        &self,
        scope: &TenantScope,
        id: &TenantId,
        limit: Option<u64>,
    ) -> Result<Tenant, MetaError> {
        if limit.is_some_and(|l| i64::try_from(l).is_err()) {
            return Err(MetaError::Invalid {
                field: "storage_limit_bytes".into(),
                reason: "at most 9223372036854775807".into(),
            });
        }
        let mut sql = Sql::new("UPDATE tenants SET updated_at = ");
        sql.arg(now())
            .push(", storage_limit_bytes = ")
            .arg(limit)
            .push(" WHERE id = ")
            .arg(id.as_str())
            .push(" AND ")
            .scope("id", scope);
        if sql
            .query()
            .execute(&self.w)
            .await
            .map_err(be)?
            .rows_affected()
            == 0
        {
            return Err(not_found("tenant", id.as_str()));
        }
        self.get_tenant(scope, id).await
    }

    async fn create_user(&self, scope: &TenantScope, user: NewUser) -> Result<User, MetaError> {
        nonempty("username", &user.username, 200)?;
        Self::check_grants(scope, &user.roles)?;
        let id = new_id();
        let at = now();
        let mut tx = self.begin().await?;
        let mut sql = Sql::new(
            "INSERT INTO users (id, username, display_name, email, password_hash, disabled, must_change_password, failed_logins, created_at, updated_at) VALUES (",
        );
        sql.arg(&id)
            .push(", ")
            .arg(&user.username)
            .push(", ")
            .arg(&user.display_name);
        sql.push(", ")
            .arg(user.email.clone())
            .push(", ")
            .arg(user.password_hash.clone());
        sql.push(", 0, ")
            .arg(user.must_change_password)
            .push(", 0, ")
            .arg(at)
            .push(", ");
        sql.arg(at).push(")");
        tx_exec(&mut tx, &sql, "user").await?;
        Self::insert_grants(&mut tx, "user_roles", "user_id", &id, &user.roles).await?;
        tx.commit().await.map_err(be)?;
        self.get_user(scope, &id).await
    }

    async fn get_user(&self, scope: &TenantScope, id: &str) -> Result<User, MetaError> {
        let mut sql = Sql::new(&format!("SELECT {USER_COLS} FROM users WHERE id = "));
        sql.arg(id)
            .push(" AND EXISTS (SELECT 1 FROM user_roles r WHERE r.user_id = users.id AND ");
        sql.scope("r.tenant_id", scope).push(")");
        let row = fetch_opt(&self.r, &sql)
            .await?
            .ok_or_else(|| not_found("user", id))?;
        let mut users = [user_row(&row)?];
        self.load_user_roles(&mut users).await?;
        let [user] = users;
        Ok(user)
    }

    async fn find_user_for_login(&self, username: &str) -> Result<Option<User>, MetaError> {
        let mut sql = Sql::new(&format!("SELECT {USER_COLS} FROM users WHERE username = "));
        sql.arg(username);
        let Some(row) = fetch_opt(&self.r, &sql).await? else {
            return Ok(None);
        };
        let mut users = [user_row(&row)?];
        self.load_user_roles(&mut users).await?;
        let [user] = users;
        Ok(Some(user))
    }

    async fn list_users(
        &self,
        scope: &TenantScope,
        query: &UserQuery,
        page: &Page,
    ) -> Result<Paged<User>, MetaError> {
        let limit = page.effective_limit();
        let mut sql = Sql::new(&format!(
            "SELECT {USER_COLS}, username AS sort_key FROM users WHERE EXISTS (SELECT 1 FROM user_roles r WHERE r.user_id = users.id AND "
        ));
        sql.scope("r.tenant_id", scope).push(")");
        if !query.include_disabled {
            sql.push(" AND disabled = 0");
        }
        if let Some(t) = &query.text {
            sql.push(" AND (1 = 1")
                .contains("username", t)
                .push(" OR 1 = 1");
            sql.contains("display_name", t).push(")");
        }
        page_tail(
            &mut sql,
            "username",
            "id",
            SortDir::Asc,
            page.cursor.as_deref(),
            limit,
        )?;
        let rows = fetch_all(&self.r, &sql).await?;
        let (mut items, next_cursor) = finish_page(rows, limit, true, |r| {
            let u = user_row(r)?;
            let id = u.id.clone();
            Ok((u, id))
        })?;
        self.load_user_roles(&mut items).await?;
        Ok(Paged { items, next_cursor })
    }

    async fn update_user(
        &self,
        scope: &TenantScope,
        id: &str,
        patch: UserPatch,
    ) -> Result<User, MetaError> {
        let mut sql = Sql::new("UPDATE users SET updated_at = ");
        sql.arg(now());
        if let Some(v) = &patch.display_name {
            sql.push(", display_name = ").arg(v);
        }
        if let Some(v) = patch.email {
            sql.push(", email = ").arg(v);
        }
        if let Some(v) = patch.password_hash {
            sql.push(", password_hash = ").arg(v);
        }
        if let Some(v) = patch.totp_secret {
            sql.push(", totp_secret = ").arg(v);
        }
        if let Some(v) = patch.disabled {
            sql.push(", disabled = ").arg(v);
        }
        if let Some(v) = patch.must_change_password {
            sql.push(", must_change_password = ").arg(v);
        }
        sql.push(" WHERE id = ").arg(id);
        sql.push(" AND EXISTS (SELECT 1 FROM user_roles r WHERE r.user_id = users.id AND ");
        sql.scope("r.tenant_id", scope).push(")");
        if sql
            .query()
            .execute(&self.w)
            .await
            .map_err(be)?
            .rows_affected()
            == 0
        {
            return Err(not_found("user", id));
        }
        self.get_user(scope, id).await
    }

    async fn set_user_roles(
        &self,
        scope: &TenantScope,
        id: &str,
        roles: Vec<RoleGrant>,
    ) -> Result<User, MetaError> {
        roles.iter().try_for_each(|g| scope.check(&g.tenant))?;
        // The user must be visible in the scope before its grants there change.
        self.get_user(scope, id).await?;
        let mut tx = self.begin().await?;
        let mut sql = Sql::new("DELETE FROM user_roles WHERE user_id = ");
        sql.arg(id).push(" AND ").scope("tenant_id", scope);
        tx_exec(&mut tx, &sql, "role grant").await?;
        Self::insert_grants(&mut tx, "user_roles", "user_id", id, &roles).await?;
        let mut sql = Sql::new("UPDATE users SET updated_at = ");
        sql.arg(now()).push(" WHERE id = ").arg(id);
        tx_exec(&mut tx, &sql, "user").await?;
        tx.commit().await.map_err(be)?;
        // The user may have lost every grant in the scope: read unscoped.
        let mut sql = Sql::new(&format!("SELECT {USER_COLS} FROM users WHERE id = "));
        sql.arg(id);
        let row = fetch_opt(&self.r, &sql)
            .await?
            .ok_or_else(|| not_found("user", id))?;
        let mut users = [user_row(&row)?];
        self.load_user_roles(&mut users).await?;
        let [user] = users;
        Ok(user)
    }

    async fn record_login_failure(
        &self,
        user_id: &str,
        at: Time,
        lock_after: u32,
        lock_for: chrono::Duration,
    ) -> Result<LoginState, MetaError> {
        // One statement: the increment and the lock decision cannot race.
        let mut sql = Sql::new(
            "UPDATE users SET failed_logins = failed_logins + 1, locked_until = CASE WHEN failed_logins + 1 >= ",
        );
        sql.arg(i64::from(lock_after))
            .push(" THEN ")
            .arg(at + lock_for);
        sql.push(" ELSE locked_until END WHERE id = ").arg(user_id);
        sql.push(" RETURNING failed_logins, locked_until");
        let row = sql
            .query()
            .fetch_optional(&self.w)
            .await
            .map_err(be)?
            .ok_or_else(|| not_found("user", user_id))?;
        Ok(LoginState {
            failed_logins: u32::try_from(u(&row, "failed_logins")?).unwrap_or(u32::MAX),
            locked_until: opt_time(&row, "locked_until")?,
        })
    }

    async fn record_login_success(&self, user_id: &str, at: Time) -> Result<(), MetaError> {
        let mut sql =
            Sql::new("UPDATE users SET failed_logins = 0, locked_until = NULL, last_login_at = ");
        sql.arg(at).push(" WHERE id = ").arg(user_id);
        if sql
            .query()
            .execute(&self.w)
            .await
            .map_err(be)?
            .rows_affected()
            == 0
        {
            return Err(not_found("user", user_id));
        }
        Ok(())
    }

    async fn create_token(
        &self,
        scope: &TenantScope,
        token: NewToken,
    ) -> Result<ApiToken, MetaError> {
        nonempty("name", &token.name, 200)?;
        nonempty("token_hash", &token.token_hash, 200)?;
        Self::check_grants(scope, &token.roles)?;
        let id = new_id();
        let at = now();
        let mut tx = self.begin().await?;
        let mut sql = Sql::new(
            "INSERT INTO api_tokens (id, name, user_id, token_hash, endpoints, revoked, expires_at, created_by, created_at) VALUES (",
        );
        sql.arg(&id)
            .push(", ")
            .arg(&token.name)
            .push(", ")
            .arg(token.user_id.clone());
        sql.push(", ")
            .arg(&token.token_hash)
            .push(", ")
            .arg(json_list(&token.endpoints));
        sql.push(", 0, ")
            .arg(token.expires_at)
            .push(", ")
            .arg(&token.created_by)
            .push(", ");
        sql.arg(at).push(")");
        tx_exec(&mut tx, &sql, "token").await?;
        Self::insert_grants(&mut tx, "token_roles", "token_id", &id, &token.roles).await?;
        tx.commit().await.map_err(be)?;
        let mut roles = token.roles;
        roles.sort();
        roles.dedup();
        Ok(ApiToken {
            id,
            name: token.name,
            user_id: token.user_id,
            token_hash: token.token_hash,
            roles,
            endpoints: token.endpoints,
            revoked: false,
            expires_at: token.expires_at,
            last_used_at: None,
            created_by: token.created_by,
            created_at: at,
        })
    }

    async fn token_by_hash(&self, token_hash: &str) -> Result<Option<ApiToken>, MetaError> {
        let mut sql = Sql::new(&format!(
            "SELECT {TOKEN_COLS} FROM api_tokens WHERE token_hash = "
        ));
        sql.arg(token_hash);
        let Some(row) = fetch_opt(&self.r, &sql).await? else {
            return Ok(None);
        };
        let mut tokens = [token_row(&row)?];
        self.load_token_roles(&mut tokens).await?;
        let [t] = tokens;
        Ok(Some(t))
    }

    async fn list_tokens(
        &self,
        scope: &TenantScope,
        query: &TokenQuery,
        page: &Page,
    ) -> Result<Paged<ApiToken>, MetaError> {
        let limit = page.effective_limit();
        let mut sql = Sql::new(&format!(
            "SELECT {TOKEN_COLS}, created_at AS sort_key FROM api_tokens WHERE EXISTS (SELECT 1 FROM token_roles r WHERE r.token_id = api_tokens.id AND "
        ));
        sql.scope("r.tenant_id", scope).push(")");
        if let Some(u) = &query.user_id {
            sql.push(" AND user_id = ").arg(u);
        }
        if !query.include_revoked {
            sql.push(" AND revoked = 0");
        }
        page_tail(
            &mut sql,
            "created_at",
            "id",
            SortDir::Desc,
            page.cursor.as_deref(),
            limit,
        )?;
        let rows = fetch_all(&self.r, &sql).await?;
        let (mut items, next_cursor) = finish_page(rows, limit, false, |r| {
            let t = token_row(r)?;
            let id = t.id.clone();
            Ok((t, id))
        })?;
        self.load_token_roles(&mut items).await?;
        Ok(Paged { items, next_cursor })
    }

    async fn revoke_token(&self, scope: &TenantScope, id: &str) -> Result<(), MetaError> {
        let mut sql = Sql::new("UPDATE api_tokens SET revoked = 1 WHERE id = ");
        sql.arg(id);
        sql.push(" AND EXISTS (SELECT 1 FROM token_roles r WHERE r.token_id = api_tokens.id AND ");
        sql.scope("r.tenant_id", scope).push(")");
        if sql
            .query()
            .execute(&self.w)
            .await
            .map_err(be)?
            .rows_affected()
            == 0
        {
            return Err(not_found("token", id));
        }
        Ok(())
    }

    async fn touch_token(&self, id: &str, at: Time) -> Result<(), MetaError> {
        let mut sql = Sql::new("UPDATE api_tokens SET last_used_at = ");
        sql.arg(at).push(" WHERE id = ").arg(id);
        sql.query().execute(&self.w).await.map_err(be)?;
        Ok(())
    }

    async fn user_for_auth(&self, id: &str) -> Result<Option<User>, MetaError> {
        let mut sql = Sql::new(&format!("SELECT {USER_COLS} FROM users WHERE id = "));
        sql.arg(id);
        let Some(row) = fetch_opt(&self.r, &sql).await? else {
            return Ok(None);
        };
        let mut users = [user_row(&row)?];
        self.load_user_roles(&mut users).await?;
        let [user] = users;
        Ok(Some(user))
    }

    async fn user_count(&self) -> Result<u64, MetaError> {
        let row = fetch_opt(&self.r, &Sql::new("SELECT COUNT(*) AS n FROM users"))
            .await?
            .ok_or_else(|| not_found("count", "users"))?;
        u(&row, "n")
    }

    async fn claim_totp_step(&self, user_id: &str, step: i64) -> Result<bool, MetaError> {
        // One statement: two logins racing with the same code cannot both win.
        let mut sql = Sql::new("UPDATE users SET totp_last_step = ");
        sql.arg(step).push(" WHERE id = ").arg(user_id);
        sql.push(" AND (totp_last_step IS NULL OR totp_last_step < ")
            .arg(step)
            .push(")");
        let n = sql
            .query()
            .execute(&self.w)
            .await
            .map_err(be)?
            .rows_affected();
        Ok(n == 1)
    }

    async fn record_source_failure(
        &self,
        source: &str,
        at: Time,
        window: chrono::Duration,
    ) -> Result<u32, MetaError> {
        nonempty("source", source, 200)?;
        let mut tx = self.begin().await?;
        let mut sql = Sql::new("DELETE FROM login_failures WHERE source = ");
        sql.arg(source).push(" AND at < ").arg(at - window);
        tx_exec(&mut tx, &sql, "login failure").await?;
        let mut sql = Sql::new("INSERT INTO login_failures (source, at) VALUES (");
        sql.arg(source).push(", ").arg(at).push(")");
        tx_exec(&mut tx, &sql, "login failure").await?;
        let mut sql = Sql::new("SELECT COUNT(*) AS n FROM login_failures WHERE source = ");
        sql.arg(source);
        let row = tx_opt(&mut tx, &sql)
            .await?
            .ok_or_else(|| not_found("count", "login_failures"))?;
        let n = u(&row, "n")?;
        tx.commit().await.map_err(be)?;
        Ok(u32::try_from(n).unwrap_or(u32::MAX))
    }

    async fn source_failures(&self, source: &str, since: Time) -> Result<u32, MetaError> {
        let mut sql = Sql::new("SELECT COUNT(*) AS n FROM login_failures WHERE source = ");
        sql.arg(source).push(" AND at >= ").arg(since);
        let row = fetch_opt(&self.r, &sql)
            .await?
            .ok_or_else(|| not_found("count", "login_failures"))?;
        Ok(u32::try_from(u(&row, "n")?).unwrap_or(u32::MAX))
    }

    async fn create_session(&self, s: NewSession) -> Result<Session, MetaError> {
        nonempty("secret_hash", &s.secret_hash, 200)?;
        let id = new_id();
        let at =
            DateTime::from_timestamp_millis(s.created_at.timestamp_millis()).unwrap_or_default();
        let expires_at =
            DateTime::from_timestamp_millis(s.expires_at.timestamp_millis()).unwrap_or_default();
        let mut sql = Sql::new(
            "INSERT INTO sessions (id, user_id, secret_hash, source_ip, created_at, last_seen_at, expires_at) VALUES (",
        );
        sql.arg(&id)
            .push(", ")
            .arg(&s.user_id)
            .push(", ")
            .arg(&s.secret_hash);
        sql.push(", ")
            .arg(s.source_ip.clone())
            .push(", ")
            .arg(at)
            .push(", ")
            .arg(at);
        sql.push(", ").arg(expires_at).push(")");
        sql.query()
            .execute(&self.w)
            .await
            .map_err(write_err("session"))?;
        Ok(Session {
            id,
            user_id: s.user_id,
            secret_hash: s.secret_hash,
            source_ip: s.source_ip,
            created_at: at,
            last_seen_at: at,
            expires_at,
        })
    }

    async fn session_by_hash(&self, secret_hash: &str) -> Result<Option<Session>, MetaError> {
        let mut sql = Sql::new(&format!(
            "SELECT {SESSION_COLS} FROM sessions WHERE secret_hash = "
        ));
        sql.arg(secret_hash);
        fetch_opt(&self.r, &sql)
            .await?
            .map(|r| session_row(&r))
            .transpose()
    }

    async fn touch_session(&self, id: &str, at: Time) -> Result<(), MetaError> {
        let mut sql = Sql::new("UPDATE sessions SET last_seen_at = ");
        sql.arg(at).push(" WHERE id = ").arg(id);
        sql.query().execute(&self.w).await.map_err(be)?;
        Ok(())
    }

    async fn delete_session(&self, id: &str) -> Result<(), MetaError> {
        let mut sql = Sql::new("DELETE FROM sessions WHERE id = ");
        sql.arg(id);
        sql.query().execute(&self.w).await.map_err(be)?;
        Ok(())
    }

    async fn delete_user_sessions(&self, user_id: &str) -> Result<u64, MetaError> {
        let mut sql = Sql::new("DELETE FROM sessions WHERE user_id = ");
        sql.arg(user_id);
        Ok(sql
            .query()
            .execute(&self.w)
            .await
            .map_err(be)?
            .rows_affected())
    }

    async fn list_user_sessions(&self, user_id: &str) -> Result<Vec<Session>, MetaError> {
        let mut sql = Sql::new(&format!(
            "SELECT {SESSION_COLS} FROM sessions WHERE user_id = "
        ));
        sql.arg(user_id).push(" ORDER BY created_at DESC, id DESC");
        fetch_all(&self.r, &sql)
            .await?
            .iter()
            .map(session_row)
            .collect()
    }

    async fn purge_auth_state(
        &self,
        now: Time,
        idle: chrono::Duration,
        failures_before: Time,
    ) -> Result<u64, MetaError> {
        let mut sql = Sql::new("DELETE FROM sessions WHERE expires_at <= ");
        sql.arg(now).push(" OR last_seen_at < ").arg(now - idle);
        let mut n = sql
            .query()
            .execute(&self.w)
            .await
            .map_err(be)?
            .rows_affected();
        let mut sql = Sql::new("DELETE FROM login_failures WHERE at < ");
        sql.arg(failures_before);
        n += sql
            .query()
            .execute(&self.w)
            .await
            .map_err(be)?
            .rows_affected();
        Ok(n)
    }

    async fn fold_detection(
        &self,
        det: &Detection,
        policy: &FillPolicy,
    ) -> Result<FoldOutcome, MetaError> {
        nonempty("rule_id", &det.rule_id, 500)?;
        nonempty("group_key", &det.group_key, 4096)?;
        if det.count == 0 {
            return Err(MetaError::Invalid {
                field: "count".into(),
                reason: "a detection stands for at least one event".into(),
            });
        }
        let at = now();
        let n = i64::try_from(det.count).unwrap_or(i64::MAX);
        let (first, last) = if det.first_seen <= det.last_seen {
            (det.first_seen, det.last_seen)
        } else {
            (det.last_seen, det.first_seen)
        };
        let d = self.d();
        let mut tx = self.begin().await?;
        // 1. The group's filling alert stops filling when this detection would take it over
        //    the event limit or it is older than the filling time.
        let mut sql = Sql::new("UPDATE alerts SET filling = 0, updated_at = ");
        sql.arg(at)
            .push(" WHERE tenant_id = ")
            .arg(det.tenant.as_str());
        sql.push(" AND rule_id = ")
            .arg(&det.rule_id)
            .push(" AND group_key = ");
        sql.arg(&det.group_key)
            .push(" AND filling = 1 AND (count + ")
            .arg(n);
        sql.push(" > ")
            .arg(policy.max_events)
            .push(" OR created_at < ");
        sql.arg(at - policy.max_age).push(")");
        tx_exec(&mut tx, &sql, "alert").await?;
        // 2. Upsert into the filling alert: atomic on both backends (the partial unique index
        //    is the conflict target; PostgreSQL locks the row, SQLite has one writer).
        let id = new_id();
        let mut sql = Sql::new(
            "INSERT INTO alerts (id, tenant_id, rule_id, rule_name, rule_version, severity, risk_score, status, tactics, techniques, group_key, filling, first_seen, last_seen, count, event_ids_kept, event_ids_dropped, created_at, updated_at) VALUES (",
        );
        sql.arg(&id)
            .push(", ")
            .arg(det.tenant.as_str())
            .push(", ")
            .arg(&det.rule_id);
        sql.push(", ")
            .arg(&det.rule_name)
            .push(", ")
            .arg(det.rule_version)
            .push(", ");
        sql.arg(det.severity.rank())
            .push(", ")
            .arg(det.risk_score.clamp(0, 100));
        sql.push(", 'new', ")
            .arg(json_list(&det.tactics))
            .push(", ");
        sql.arg(json_list(&det.techniques))
            .push(", ")
            .arg(&det.group_key)
            .push(", 1, ");
        sql.arg(first)
            .push(", ")
            .arg(last)
            .push(", ")
            .arg(n)
            .push(", 0, 0, ")
            .arg(at);
        sql.push(", ").arg(at).push(
            ") ON CONFLICT (tenant_id, rule_id, group_key) WHERE filling = 1 DO UPDATE SET count = alerts.count + excluded.count",
        );
        let (g, l) = (d.greatest(), d.least());
        sql.push(&format!(
            ", first_seen = {l}(alerts.first_seen, excluded.first_seen), \
             last_seen = {g}(alerts.last_seen, excluded.last_seen), \
             severity = {g}(alerts.severity, excluded.severity), \
             risk_score = {g}(alerts.risk_score, excluded.risk_score), \
             updated_at = excluded.updated_at \
             RETURNING id, count, event_ids_kept"
        ));
        let row = tx_opt(&mut tx, &sql)
            .await?
            .ok_or_else(|| not_found("alert", &det.group_key))?;
        let alert_id: String = get(&row, "id")?;
        let count = u(&row, "count")?;
        let kept = u(&row, "event_ids_kept")?;
        // 3. Entities (deduplicated by the primary key).
        let mut entities = det.entities.clone();
        entities.sort();
        entities.dedup();
        for chunk in entities.chunks(100) {
            let mut sql = Sql::new("INSERT INTO alert_entities (alert_id, kind, value) VALUES ");
            for (i, e) in chunk.iter().enumerate() {
                sql.push(if i == 0 { "(" } else { ", (" });
                sql.arg(&alert_id)
                    .push(", ")
                    .arg(e.kind.as_str())
                    .push(", ")
                    .arg(&e.value);
                sql.push(")");
            }
            sql.push(" ON CONFLICT DO NOTHING");
            tx_exec(&mut tx, &sql, "alert entity").await?;
        }
        // 4. Base event ids up to the cap, in multi-row statements (a batch folds hundreds of
        //    detections of a group at once); the rest is counted.
        let room = usize::try_from(policy.max_event_ids.saturating_sub(kept)).unwrap_or(usize::MAX);
        let mut seen = std::collections::HashSet::with_capacity(det.event_ids.len().min(room));
        let mut ids: Vec<&String> = Vec::with_capacity(det.event_ids.len().min(room));
        let mut dropped = 0u64;
        for (i, eid) in det.event_ids.iter().enumerate() {
            if ids.len() >= room {
                dropped = (det.event_ids.len() - i) as u64;
                break;
            }
            if seen.insert(eid.as_str()) {
                ids.push(eid);
            }
        }
        let mut added = 0u64;
        for chunk in ids.chunks(200) {
            let mut sql = Sql::new("INSERT INTO alert_events (alert_id, seq, event_id) VALUES ");
            for (i, eid) in chunk.iter().enumerate() {
                sql.push(if i == 0 { "(" } else { ", (" });
                sql.arg(&alert_id)
                    .push(", ")
                    .arg(kept + added + i as u64)
                    .push(", ")
                    .arg(*eid);
                sql.push(")");
            }
            sql.push(" ON CONFLICT DO NOTHING");
            added += tx_exec(&mut tx, &sql, "alert event").await?;
        }
        if added > 0 || dropped > 0 {
            let mut sql = Sql::new("UPDATE alerts SET event_ids_kept = event_ids_kept + ");
            sql.arg(added)
                .push(", event_ids_dropped = event_ids_dropped + ")
                .arg(dropped);
            sql.push(" WHERE id = ").arg(&alert_id);
            tx_exec(&mut tx, &sql, "alert").await?;
        }
        tx.commit().await.map_err(be)?;
        Ok(FoldOutcome {
            created: alert_id == id,
            alert_id,
            count,
        })
    }

    async fn get_alert(&self, scope: &TenantScope, id: &str) -> Result<Alert, MetaError> {
        let mut sql = Sql::new(&format!("SELECT {ALERT_COLS} FROM alerts WHERE id = "));
        sql.arg(id).push(" AND ").scope("tenant_id", scope);
        let row = fetch_opt(&self.r, &sql)
            .await?
            .ok_or_else(|| not_found("alert", id))?;
        let mut alerts = [alert_row(&row)?];
        self.load_entities(&mut alerts).await?;
        let [a] = alerts;
        Ok(a)
    }

    async fn list_alerts(
        &self,
        scope: &TenantScope,
        query: &AlertQuery,
        page: &Page,
    ) -> Result<Paged<Alert>, MetaError> {
        let limit = page.effective_limit();
        let sql = Self::alert_page_sql(scope, query, page)?;
        let rows = fetch_all(&self.r, &sql).await?;
        let (mut items, next_cursor) = finish_page(rows, limit, false, |r| {
            let a = alert_row(r)?;
            let id = a.id.clone();
            Ok((a, id))
        })?;
        self.load_entities(&mut items).await?;
        Ok(Paged { items, next_cursor })
    }

    async fn count_alerts(
        &self,
        scope: &TenantScope,
        query: &AlertQuery,
    ) -> Result<u64, MetaError> {
        let mut sql = Sql::new("SELECT COUNT(*) AS n FROM alerts WHERE ");
        sql.scope("tenant_id", scope);
        Self::alert_filters(&mut sql, query);
        let row = sql.query().fetch_one(&self.r).await.map_err(be)?;
        u(&row, "n")
    }

    async fn alert_event_ids(
        &self,
        scope: &TenantScope,
        id: &str,
    ) -> Result<Vec<String>, MetaError> {
        self.get_alert(scope, id).await?;
        let mut sql = Sql::new("SELECT event_id FROM alert_events WHERE alert_id = ");
        sql.arg(id).push(" ORDER BY seq");
        fetch_all(&self.r, &sql)
            .await?
            .iter()
            .map(|r| get(r, "event_id"))
            .collect()
    }

    async fn update_alert(
        &self,
        scope: &TenantScope,
        id: &str,
        actor: &str,
        up: AlertUpdate,
    ) -> Result<Alert, MetaError> {
        let at = now();
        let mut tx = self.begin().await?;
        let old = self.get_alert_in_tx(&mut tx, scope, id).await?;
        let mut new = old.clone();
        if let Some(a) = up.assignee.clone() {
            new.assignee = a;
            if new.assignee.is_some() && up.status.is_none() && old.status == AlertStatus::New {
                new.status = AlertStatus::Assigned;
            }
        }
        if let Some(s) = up.severity {
            new.severity = s;
        }
        if let Some(s) = up.status {
            new.status = s;
        }
        if new.status == AlertStatus::Closed {
            if old.status != AlertStatus::Closed {
                let Some(r) = up.resolution else {
                    return Err(MetaError::Invalid {
                        field: "resolution".into(),
                        reason: "closing an alert needs a resolution".into(),
                    });
                };
                new.resolution = Some(r);
                new.resolution_reason = up.resolution_reason.clone();
            } else if let Some(r) = up.resolution {
                new.resolution = Some(r);
                new.resolution_reason = up.resolution_reason.clone().or(new.resolution_reason);
            }
            new.filling = false;
        } else {
            if up.resolution.is_some() {
                return Err(MetaError::Invalid {
                    field: "resolution".into(),
                    reason: "only a closed alert has a resolution".into(),
                });
            }
            new.resolution = None;
            new.resolution_reason = None;
            // A reopened alert takes no more detections: a new one may be filling now.
            new.filling = old.filling && old.status != AlertStatus::Closed;
        }
        let changes: [(&str, Option<String>, Option<String>); 4] = [
            (
                "status",
                Some(old.status.to_string()),
                Some(new.status.to_string()),
            ),
            ("assignee", old.assignee.clone(), new.assignee.clone()),
            (
                "resolution",
                old.resolution.map(|r| r.to_string()),
                new.resolution.map(|r| r.to_string()),
            ),
            (
                "severity",
                Some(old.severity.to_string()),
                Some(new.severity.to_string()),
            ),
        ];
        let mut sql = Sql::new("UPDATE alerts SET status = ");
        sql.arg(new.status.as_str())
            .push(", assignee = ")
            .arg(new.assignee.clone());
        sql.push(", resolution = ")
            .arg(new.resolution.map(|r| r.as_str()));
        sql.push(", resolution_reason = ")
            .arg(new.resolution_reason.clone());
        sql.push(", severity = ")
            .arg(new.severity.rank())
            .push(", filling = ");
        sql.arg(new.filling)
            .push(", updated_at = ")
            .arg(at)
            .push(" WHERE id = ")
            .arg(id);
        tx_exec(&mut tx, &sql, "alert").await?;
        for (field, o, n) in changes {
            if o != n {
                Self::history_in_tx(&mut tx, id, actor, at, field, o, n).await?;
            }
        }
        tx.commit().await.map_err(be)?;
        self.get_alert(scope, id).await
    }

    async fn alert_history(
        &self,
        scope: &TenantScope,
        id: &str,
    ) -> Result<Vec<AlertChange>, MetaError> {
        self.get_alert(scope, id).await?;
        let mut sql = Sql::new(
            "SELECT alert_id, actor, at, field, old_value, new_value FROM alert_history WHERE alert_id = ",
        );
        sql.arg(id).push(" ORDER BY id");
        fetch_all(&self.r, &sql)
            .await?
            .iter()
            .map(|r| {
                Ok(AlertChange {
                    alert_id: get(r, "alert_id")?,
                    actor: get(r, "actor")?,
                    at: time(r, "at")?,
                    field: get(r, "field")?,
                    old: get(r, "old_value")?,
                    new: get(r, "new_value")?,
                })
            })
            .collect()
    }

    async fn add_comment(
        &self,
        scope: &TenantScope,
        target: &CommentTarget,
        author: &str,
        body: &str,
    ) -> Result<Comment, MetaError> {
        nonempty("body", body, 64 * 1024)?;
        let (kind, tid, table, what) = match target {
            CommentTarget::Alert(id) => ("alert", id, "alerts", "alert"),
            CommentTarget::Incident(id) => ("incident", id, "incidents", "incident"),
        };
        let mut sql = Sql::new(&format!("SELECT tenant_id FROM {table} WHERE id = "));
        sql.arg(tid).push(" AND ").scope("tenant_id", scope);
        let row = fetch_opt(&self.r, &sql)
            .await?
            .ok_or_else(|| not_found(what, tid))?;
        let comment = Comment {
            id: new_id(),
            tenant: tenant(&row)?,
            target: target.clone(),
            author: author.to_owned(),
            body: body.to_owned(),
            created_at: now(),
        };
        let mut sql = Sql::new(
            "INSERT INTO comments (id, tenant_id, target_kind, target_id, author, body, created_at) VALUES (",
        );
        sql.arg(&comment.id)
            .push(", ")
            .arg(comment.tenant.as_str())
            .push(", ")
            .arg(kind);
        sql.push(", ")
            .arg(tid)
            .push(", ")
            .arg(author)
            .push(", ")
            .arg(body)
            .push(", ");
        sql.arg(comment.created_at).push(")");
        sql.query()
            .execute(&self.w)
            .await
            .map_err(write_err("comment"))?;
        Ok(comment)
    }

    async fn list_comments(
        &self,
        scope: &TenantScope,
        target: &CommentTarget,
    ) -> Result<Vec<Comment>, MetaError> {
        let (kind, tid) = match target {
            CommentTarget::Alert(id) => ("alert", id),
            CommentTarget::Incident(id) => ("incident", id),
        };
        let mut sql = Sql::new(
            "SELECT id, tenant_id, author, body, created_at FROM comments WHERE target_kind = ",
        );
        sql.arg(kind)
            .push(" AND target_id = ")
            .arg(tid)
            .push(" AND ");
        sql.scope("tenant_id", scope)
            .push(" ORDER BY created_at, id");
        fetch_all(&self.r, &sql)
            .await?
            .iter()
            .map(|r| {
                Ok(Comment {
                    id: get(r, "id")?,
                    tenant: tenant(r)?,
                    target: target.clone(),
                    author: get(r, "author")?,
                    body: get(r, "body")?,
                    created_at: time(r, "created_at")?,
                })
            })
            .collect()
    }

    async fn create_incident(
        &self,
        scope: &TenantScope,
        inc: NewIncident,
    ) -> Result<Incident, MetaError> {
        scope.check(&inc.tenant)?;
        nonempty("title", &inc.title, 1000)?;
        let id = new_id();
        let at = now();
        let mut tx = self.begin().await?;
        let mut sql = Sql::new(
            "INSERT INTO incidents (id, tenant_id, title, description, category, priority, status, assignee, created_by, created_at, updated_at) VALUES (",
        );
        sql.arg(&id)
            .push(", ")
            .arg(inc.tenant.as_str())
            .push(", ")
            .arg(&inc.title);
        sql.push(", ")
            .arg(&inc.description)
            .push(", ")
            .arg(&inc.category)
            .push(", ");
        sql.arg(inc.priority.rank())
            .push(", 'open', ")
            .arg(inc.assignee.clone())
            .push(", ");
        sql.arg(&inc.created_by)
            .push(", ")
            .arg(at)
            .push(", ")
            .arg(at)
            .push(")");
        tx_exec(&mut tx, &sql, "incident").await?;
        Self::timeline_in_tx(
            &mut tx,
            &id,
            at,
            &inc.created_by,
            "change",
            "incident created",
            None,
        )
        .await?;
        tx.commit().await.map_err(be)?;
        self.get_incident(scope, &id).await
    }

    async fn get_incident(&self, scope: &TenantScope, id: &str) -> Result<Incident, MetaError> {
        let mut sql = Sql::new(&format!(
            "SELECT {INCIDENT_COLS} FROM incidents WHERE id = "
        ));
        sql.arg(id).push(" AND ").scope("tenant_id", scope);
        let row = fetch_opt(&self.r, &sql)
            .await?
            .ok_or_else(|| not_found("incident", id))?;
        let mut v = [incident_row(&row)?];
        self.load_links(&mut v).await?;
        let [i] = v;
        Ok(i)
    }

    async fn list_incidents(
        &self,
        scope: &TenantScope,
        q: &IncidentQuery,
        page: &Page,
    ) -> Result<Paged<Incident>, MetaError> {
        let limit = page.effective_limit();
        let sql = Self::incident_page_sql(scope, q, page)?;
        let rows = fetch_all(&self.r, &sql).await?;
        let (mut items, next_cursor) = finish_page(rows, limit, false, |r| {
            let i = incident_row(r)?;
            let id = i.id.clone();
            Ok((i, id))
        })?;
        self.load_links(&mut items).await?;
        Ok(Paged { items, next_cursor })
    }

    async fn update_incident(
        &self,
        scope: &TenantScope,
        id: &str,
        actor: &str,
        up: IncidentUpdate,
    ) -> Result<Incident, MetaError> {
        let at = now();
        let mut tx = self.begin().await?;
        let mut sql = Sql::new(&format!(
            "SELECT {INCIDENT_COLS} FROM incidents WHERE id = "
        ));
        sql.arg(id)
            .push(" AND ")
            .scope("tenant_id", scope)
            .push(self.d().for_update());
        let old = incident_row(
            &tx_opt(&mut tx, &sql)
                .await?
                .ok_or_else(|| not_found("incident", id))?,
        )?;
        let mut new = old.clone();
        if let Some(t) = up.title {
            nonempty("title", &t, 1000)?;
            new.title = t;
        }
        if let Some(d) = up.description {
            new.description = d;
        }
        if let Some(c) = up.category {
            new.category = c;
        }
        if let Some(p) = up.priority {
            new.priority = p;
        }
        if let Some(a) = up.assignee {
            new.assignee = a;
        }
        if let Some(s) = up.status {
            new.status = s;
        }
        if new.status == IncidentStatus::Closed {
            new.resolution = up.resolution.or(old.resolution);
            if new.resolution.is_none() {
                return Err(MetaError::Invalid {
                    field: "resolution".into(),
                    reason: "closing an incident needs a resolution".into(),
                });
            }
            new.closed_at = old.closed_at.or(Some(at));
        } else {
            new.resolution = None;
            new.closed_at = None;
        }
        let mut sql = Sql::new("UPDATE incidents SET title = ");
        sql.arg(&new.title)
            .push(", description = ")
            .arg(&new.description);
        sql.push(", category = ")
            .arg(&new.category)
            .push(", priority = ");
        sql.arg(new.priority.rank())
            .push(", status = ")
            .arg(new.status.as_str());
        sql.push(", resolution = ")
            .arg(new.resolution.map(|r| r.as_str()));
        sql.push(", assignee = ")
            .arg(new.assignee.clone())
            .push(", closed_at = ");
        sql.arg(new.closed_at)
            .push(", updated_at = ")
            .arg(at)
            .push(" WHERE id = ")
            .arg(id);
        tx_exec(&mut tx, &sql, "incident").await?;
        let show = |v: &Option<String>| v.clone().unwrap_or_else(|| "none".into());
        let changes = [
            ("title", old.title.clone(), new.title.clone()),
            ("category", old.category.clone(), new.category.clone()),
            (
                "priority",
                old.priority.to_string(),
                new.priority.to_string(),
            ),
            ("status", old.status.to_string(), new.status.to_string()),
            (
                "resolution",
                show(&old.resolution.map(|r| r.to_string())),
                show(&new.resolution.map(|r| r.to_string())),
            ),
            ("assignee", show(&old.assignee), show(&new.assignee)),
        ];
        for (field, o, n) in changes {
            if o != n {
                let text = format!("{field}: {o} → {n}");
                Self::timeline_in_tx(&mut tx, id, at, actor, "change", &text, None).await?;
            }
        }
        if old.description != new.description {
            Self::timeline_in_tx(&mut tx, id, at, actor, "change", "description edited", None)
                .await?;
        }
        tx.commit().await.map_err(be)?;
        self.get_incident(scope, id).await
    }

    async fn link_alerts(
        &self,
        scope: &TenantScope,
        incident_id: &str,
        actor: &str,
        alert_ids: &[String],
    ) -> Result<Incident, MetaError> {
        let at = now();
        let mut tx = self.begin().await?;
        let t = self.incident_tenant(&mut tx, scope, incident_id).await?;
        let only = TenantScope::single(t);
        for aid in alert_ids {
            let old = self.get_alert_in_tx(&mut tx, &only, aid).await?;
            if old.incident_id.as_deref() == Some(incident_id) {
                continue;
            }
            let status = if old.status == AlertStatus::Closed {
                AlertStatus::Closed
            } else {
                AlertStatus::Escalated
            };
            let mut sql = Sql::new("UPDATE alerts SET incident_id = ");
            sql.arg(incident_id)
                .push(", status = ")
                .arg(status.as_str());
            sql.push(", updated_at = ")
                .arg(at)
                .push(" WHERE id = ")
                .arg(aid);
            tx_exec(&mut tx, &sql, "alert").await?;
            Self::history_in_tx(
                &mut tx,
                aid,
                actor,
                at,
                "incident",
                old.incident_id.clone(),
                Some(incident_id.to_owned()),
            )
            .await?;
            if status != old.status {
                Self::history_in_tx(
                    &mut tx,
                    aid,
                    actor,
                    at,
                    "status",
                    Some(old.status.to_string()),
                    Some(status.to_string()),
                )
                .await?;
            }
            let text = format!("alert {aid} linked: {}", old.rule_name);
            Self::timeline_in_tx(
                &mut tx,
                incident_id,
                old.first_seen,
                actor,
                "alert",
                &text,
                None,
            )
            .await?;
        }
        let mut sql = Sql::new("UPDATE incidents SET updated_at = ");
        sql.arg(at).push(" WHERE id = ").arg(incident_id);
        tx_exec(&mut tx, &sql, "incident").await?;
        tx.commit().await.map_err(be)?;
        self.get_incident(scope, incident_id).await
    }

    async fn link(
        &self,
        scope: &TenantScope,
        incident_id: &str,
        actor: &str,
        kind: LinkKind,
        values: &[String],
    ) -> Result<Incident, MetaError> {
        let at = now();
        let mut tx = self.begin().await?;
        let t = self.incident_tenant(&mut tx, scope, incident_id).await?;
        for v in values {
            nonempty("value", v, 1000)?;
            if kind == LinkKind::Asset {
                let mut sql = Sql::new("SELECT id FROM assets WHERE id = ");
                sql.arg(v).push(" AND tenant_id = ").arg(t.as_str());
                tx_opt(&mut tx, &sql)
                    .await?
                    .ok_or_else(|| not_found("asset", v))?;
            }
            let mut sql =
                Sql::new("INSERT INTO incident_links (incident_id, kind, value) VALUES (");
            sql.arg(incident_id)
                .push(", ")
                .arg(kind.as_str())
                .push(", ")
                .arg(v);
            sql.push(") ON CONFLICT DO NOTHING");
            if tx_exec(&mut tx, &sql, "incident link").await? > 0 {
                let text = format!("{kind} {v} linked");
                Self::timeline_in_tx(&mut tx, incident_id, at, actor, "change", &text, None)
                    .await?;
            }
        }
        let mut sql = Sql::new("UPDATE incidents SET updated_at = ");
        sql.arg(at).push(" WHERE id = ").arg(incident_id);
        tx_exec(&mut tx, &sql, "incident").await?;
        tx.commit().await.map_err(be)?;
        self.get_incident(scope, incident_id).await
    }

    async fn unlink(
        &self,
        scope: &TenantScope,
        incident_id: &str,
        actor: &str,
        kind: LinkKind,
        values: &[String],
    ) -> Result<Incident, MetaError> {
        let at = now();
        let mut tx = self.begin().await?;
        self.incident_tenant(&mut tx, scope, incident_id).await?;
        for v in values {
            let mut sql = Sql::new("DELETE FROM incident_links WHERE incident_id = ");
            sql.arg(incident_id).push(" AND kind = ").arg(kind.as_str());
            sql.push(" AND value = ").arg(v);
            if tx_exec(&mut tx, &sql, "incident link").await? > 0 {
                let text = format!("{kind} {v} unlinked");
                Self::timeline_in_tx(&mut tx, incident_id, at, actor, "change", &text, None)
                    .await?;
            }
        }
        tx.commit().await.map_err(be)?;
        self.get_incident(scope, incident_id).await
    }

    async fn add_timeline_entry(
        &self,
        scope: &TenantScope,
        incident_id: &str,
        e: NewTimelineEntry,
    ) -> Result<TimelineEntry, MetaError> {
        nonempty("text", &e.text, 64 * 1024)?;
        let mut tx = self.begin().await?;
        self.incident_tenant(&mut tx, scope, incident_id).await?;
        let entry = Self::timeline_in_tx(
            &mut tx,
            incident_id,
            e.at,
            &e.author,
            &e.kind,
            &e.text,
            e.event_id.as_deref(),
        )
        .await?;
        tx.commit().await.map_err(be)?;
        Ok(entry)
    }

    async fn timeline(
        &self,
        scope: &TenantScope,
        incident_id: &str,
    ) -> Result<Vec<TimelineEntry>, MetaError> {
        self.get_incident(scope, incident_id).await?;
        let mut sql = Sql::new(
            "SELECT id, incident_id, at, author, kind, text, event_id, created_at FROM incident_timeline WHERE incident_id = ",
        );
        sql.arg(incident_id).push(" ORDER BY at, created_at, id");
        fetch_all(&self.r, &sql)
            .await?
            .iter()
            .map(timeline_row)
            .collect()
    }

    async fn add_attachment(
        &self,
        scope: &TenantScope,
        incident_id: &str,
        name: &str,
        media_type: &str,
        data: Vec<u8>,
        uploaded_by: &str,
    ) -> Result<Attachment, MetaError> {
        nonempty("name", name, 255)?;
        let size = data.len() as u64;
        if size > self.opts.max_attachment_bytes {
            return Err(MetaError::TooLarge {
                what: "attachment",
                size,
                limit: self.opts.max_attachment_bytes,
            });
        }
        let att = Attachment {
            id: new_id(),
            incident_id: incident_id.to_owned(),
            name: name.to_owned(),
            media_type: media_type.to_owned(),
            size,
            uploaded_by: uploaded_by.to_owned(),
            created_at: now(),
        };
        let mut tx = self.begin().await?;
        self.incident_tenant(&mut tx, scope, incident_id).await?;
        let mut sql = Sql::new(
            "INSERT INTO incident_attachments (id, incident_id, name, media_type, size, data, uploaded_by, created_at) VALUES (",
        );
        sql.arg(&att.id)
            .push(", ")
            .arg(incident_id)
            .push(", ")
            .arg(name)
            .push(", ");
        sql.arg(media_type)
            .push(", ")
            .arg(size)
            .push(", ")
            .arg(data)
            .push(", ");
        sql.arg(uploaded_by)
            .push(", ")
            .arg(att.created_at)
            .push(")");
        tx_exec(&mut tx, &sql, "attachment").await?;
        let text = format!("attachment {name} ({size} bytes) added");
        Self::timeline_in_tx(
            &mut tx,
            incident_id,
            att.created_at,
            uploaded_by,
            "change",
            &text,
            None,
        )
        .await?;
        tx.commit().await.map_err(be)?;
        Ok(att)
    }

    async fn list_attachments(
        &self,
        scope: &TenantScope,
        incident_id: &str,
    ) -> Result<Vec<Attachment>, MetaError> {
        self.get_incident(scope, incident_id).await?;
        let mut sql = Sql::new(
            "SELECT id, incident_id, name, media_type, size, uploaded_by, created_at FROM incident_attachments WHERE incident_id = ",
        );
        sql.arg(incident_id).push(" ORDER BY created_at, id");
        fetch_all(&self.r, &sql)
            .await?
            .iter()
            .map(attachment_row)
            .collect()
    }

    async fn get_attachment(
        &self,
        scope: &TenantScope,
        id: &str,
    ) -> Result<(Attachment, Vec<u8>), MetaError> {
        let mut sql = Sql::new(
            "SELECT a.id, a.incident_id, a.name, a.media_type, a.size, a.data, a.uploaded_by, a.created_at FROM incident_attachments a JOIN incidents i ON i.id = a.incident_id WHERE a.id = ",
        );
        sql.arg(id).push(" AND ").scope("i.tenant_id", scope);
        let row = fetch_opt(&self.r, &sql)
            .await?
            .ok_or_else(|| not_found("attachment", id))?;
        Ok((attachment_row(&row)?, get(&row, "data")?))
    }

    async fn create_asset(&self, scope: &TenantScope, spec: AssetSpec) -> Result<Asset, MetaError> {
        scope.check(&spec.tenant)?;
        nonempty("name", &spec.name, 1000)?;
        let id = new_id();
        let at = now();
        let mut tx = self.begin().await?;
        let mut sql = Sql::new(
            "INSERT INTO assets (id, tenant_id, name, ips, owner, criticality, categories, os, description, sources, first_seen, last_seen, created_at, updated_at) VALUES (",
        );
        sql.arg(&id)
            .push(", ")
            .arg(spec.tenant.as_str())
            .push(", ")
            .arg(&spec.name);
        sql.push(", ")
            .arg(json_list(&spec.ips))
            .push(", ")
            .arg(spec.owner.clone());
        sql.push(", ")
            .arg(spec.criticality.rank())
            .push(", ")
            .arg(json_list(&spec.categories));
        sql.push(", ")
            .arg(spec.os.clone())
            .push(", ")
            .arg(&spec.description)
            .push(", ");
        sql.arg(json_list(&spec.sources))
            .push(", ")
            .arg(at)
            .push(", ")
            .arg(at)
            .push(", ");
        sql.arg(at).push(", ").arg(at).push(")");
        tx_exec(&mut tx, &sql, "asset").await?;
        self.set_asset_ips(&mut tx, &id, &spec.tenant, &spec.ips)
            .await?;
        tx.commit().await.map_err(be)?;
        self.get_asset(scope, &id).await
    }

    async fn get_asset(&self, scope: &TenantScope, id: &str) -> Result<Asset, MetaError> {
        let mut sql = Sql::new(&format!("SELECT {ASSET_COLS} FROM assets WHERE id = "));
        sql.arg(id).push(" AND ").scope("tenant_id", scope);
        asset_row(
            &fetch_opt(&self.r, &sql)
                .await?
                .ok_or_else(|| not_found("asset", id))?,
        )
    }

    async fn list_assets(
        &self,
        scope: &TenantScope,
        q: &AssetQuery,
        page: &Page,
    ) -> Result<Paged<Asset>, MetaError> {
        let limit = page.effective_limit();
        let (col, text) = match q.sort {
            AssetSort::Name => ("name", true),
            AssetSort::LastSeen => ("last_seen", false),
            AssetSort::Criticality => ("criticality", false),
        };
        let mut sql = Sql::new(&format!(
            "SELECT {ASSET_COLS}, {col} AS sort_key FROM assets WHERE "
        ));
        sql.scope("tenant_id", scope);
        if let Some(n) = &q.name {
            sql.contains("name", n);
        }
        if let Some(ip) = &q.ip {
            sql.push(" AND id IN (SELECT asset_id FROM asset_ips WHERE ");
            sql.scope("tenant_id", scope)
                .push(" AND ip = ")
                .arg(ip)
                .push(")");
        }
        if let Some(c) = q.min_criticality {
            sql.push(" AND criticality >= ").arg(c.rank());
        }
        if let Some(c) = &q.category {
            let quoted = serde_json::to_string(c).unwrap_or_default();
            sql.contains("categories", &quoted);
        }
        page_tail(&mut sql, col, "id", q.dir, page.cursor.as_deref(), limit)?;
        let rows = fetch_all(&self.r, &sql).await?;
        let (items, next_cursor) = finish_page(rows, limit, text, |r| {
            let a = asset_row(r)?;
            let id = a.id.clone();
            Ok((a, id))
        })?;
        Ok(Paged { items, next_cursor })
    }

    async fn update_asset(
        &self,
        scope: &TenantScope,
        id: &str,
        spec: AssetSpec,
    ) -> Result<Asset, MetaError> {
        nonempty("name", &spec.name, 1000)?;
        let old = self.get_asset(scope, id).await?;
        if old.tenant != spec.tenant {
            return Err(MetaError::Invalid {
                field: "tenant".into(),
                reason: "an asset cannot move to another tenant".into(),
            });
        }
        let mut tx = self.begin().await?;
        let mut sql = Sql::new("UPDATE assets SET name = ");
        sql.arg(&spec.name)
            .push(", ips = ")
            .arg(json_list(&spec.ips))
            .push(", owner = ");
        sql.arg(spec.owner.clone())
            .push(", criticality = ")
            .arg(spec.criticality.rank());
        sql.push(", categories = ")
            .arg(json_list(&spec.categories))
            .push(", os = ");
        sql.arg(spec.os.clone())
            .push(", description = ")
            .arg(&spec.description);
        sql.push(", sources = ")
            .arg(json_list(&spec.sources))
            .push(", updated_at = ");
        sql.arg(now()).push(" WHERE id = ").arg(id);
        tx_exec(&mut tx, &sql, "asset").await?;
        self.set_asset_ips(&mut tx, id, &spec.tenant, &spec.ips)
            .await?;
        tx.commit().await.map_err(be)?;
        self.get_asset(scope, id).await
    }

    async fn observe_asset(
        &self,
        scope: &TenantScope,
        id: &str,
        seen: &AssetSeen,
    ) -> Result<(), MetaError> {
        let mut tx = self.begin().await?;
        let mut sql = Sql::new("SELECT sources, macs, os FROM assets WHERE id = ");
        sql.arg(id)
            .push(" AND ")
            .scope("tenant_id", scope)
            .push(self.d().for_update());
        let row = tx_opt(&mut tx, &sql)
            .await?
            .ok_or_else(|| not_found("asset", id))?;
        let mut sources = list(&row, "sources")?;
        if !seen.source.is_empty() && !sources.contains(&seen.source) {
            sources.push(seen.source.clone());
        }
        let mut macs = list(&row, "macs")?;
        for m in &seen.macs {
            if macs.len() < MAX_ASSET_MACS && !macs.contains(m) {
                macs.push(m.clone());
            }
        }
        let os: Option<String> = get(&row, "os")?;
        let os = seen.os.clone().or(os);
        let (g, l) = (self.d().greatest(), self.d().least());
        let mut sql = Sql::new(&format!("UPDATE assets SET last_seen = {g}(last_seen, "));
        sql.arg(seen.last_seen)
            .push(&format!("), first_seen = {l}(first_seen, "))
            .arg(seen.first_seen)
            .push("), sources = ")
            .arg(json_list(&sources))
            .push(", macs = ")
            .arg(json_list(&macs))
            .push(", os = ")
            .arg(os)
            .push(" WHERE id = ")
            .arg(id);
        tx_exec(&mut tx, &sql, "asset").await?;
        tx.commit().await.map_err(be)
    }

    async fn delete_asset(&self, scope: &TenantScope, id: &str) -> Result<(), MetaError> {
        self.delete_scoped("assets", "asset", scope, id).await
    }

    async fn create_suppression(
        &self,
        scope: &TenantScope,
        rule: NewSuppressionRule,
    ) -> Result<SuppressionRule, MetaError> {
        scope.check(&rule.tenant)?;
        nonempty("rule_id", &rule.rule_id, 500)?;
        nonempty("reason", &rule.reason, 4096)?;
        let s = SuppressionRule {
            id: new_id(),
            tenant: rule.tenant,
            rule_id: rule.rule_id,
            fields: rule.fields,
            reason: rule.reason,
            created_by: rule.created_by,
            expires_at: rule.expires_at,
            suppressed_count: 0,
            last_hit_at: None,
            created_at: now(),
        };
        let fields = serde_json::to_string(&s.fields).unwrap_or_else(|_| "{}".into());
        let mut sql = Sql::new(
            "INSERT INTO suppression_rules (id, tenant_id, rule_id, fields, reason, created_by, expires_at, suppressed_count, created_at) VALUES (",
        );
        sql.arg(&s.id)
            .push(", ")
            .arg(s.tenant.as_str())
            .push(", ")
            .arg(&s.rule_id);
        sql.push(", ")
            .arg(fields)
            .push(", ")
            .arg(&s.reason)
            .push(", ")
            .arg(&s.created_by);
        sql.push(", ")
            .arg(s.expires_at)
            .push(", 0, ")
            .arg(s.created_at)
            .push(")");
        sql.query()
            .execute(&self.w)
            .await
            .map_err(write_err("suppression rule"))?;
        Ok(s)
    }

    async fn list_suppressions(
        &self,
        scope: &TenantScope,
        rule_id: Option<&str>,
        active_at: Option<Time>,
    ) -> Result<Vec<SuppressionRule>, MetaError> {
        let mut sql = Sql::new(
            "SELECT id, tenant_id, rule_id, fields, reason, created_by, expires_at, suppressed_count, last_hit_at, created_at FROM suppression_rules WHERE ",
        );
        sql.scope("tenant_id", scope);
        if let Some(r) = rule_id {
            sql.push(" AND rule_id = ").arg(r);
        }
        if let Some(t) = active_at {
            sql.push(" AND (expires_at IS NULL OR expires_at > ")
                .arg(t)
                .push(")");
        }
        sql.push(" ORDER BY created_at, id");
        fetch_all(&self.r, &sql)
            .await?
            .iter()
            .map(suppression_row)
            .collect()
    }

    async fn record_suppressed(
        &self,
        scope: &TenantScope,
        id: &str,
        n: u64,
        at: Time,
    ) -> Result<(), MetaError> {
        let g = self.d().greatest();
        let mut sql =
            Sql::new("UPDATE suppression_rules SET suppressed_count = suppressed_count + ");
        sql.arg(n)
            .push(&format!(", last_hit_at = {g}(COALESCE(last_hit_at, 0), "));
        sql.arg(at)
            .push(") WHERE id = ")
            .arg(id)
            .push(" AND ")
            .scope("tenant_id", scope);
        if sql
            .query()
            .execute(&self.w)
            .await
            .map_err(be)?
            .rows_affected()
            == 0
        {
            return Err(not_found("suppression rule", id));
        }
        Ok(())
    }

    async fn delete_suppression(&self, scope: &TenantScope, id: &str) -> Result<(), MetaError> {
        self.delete_scoped("suppression_rules", "suppression rule", scope, id)
            .await
    }

    async fn create_monitoring_policy(
        &self,
        scope: &TenantScope,
        spec: MonitoringPolicySpec,
    ) -> Result<MonitoringPolicy, MetaError> {
        scope.check(&spec.tenant)?;
        check_policy(&spec)?;
        let id = new_id();
        let at = now();
        let mut sql = Sql::new(
            "INSERT INTO monitoring_policies (id, tenant_id, name, kind, lower_bound, upper_bound, interval_secs, silent_after_secs, sources, enabled, created_at, updated_at) VALUES (",
        );
        sql.arg(&id)
            .push(", ")
            .arg(spec.tenant.as_str())
            .push(", ")
            .arg(&spec.name);
        sql.push(", ")
            .arg(spec.kind.as_str())
            .push(", ")
            .arg(spec.lower)
            .push(", ");
        sql.arg(spec.upper)
            .push(", ")
            .arg(spec.interval_secs)
            .push(", ");
        sql.arg(spec.silent_after_secs)
            .push(", ")
            .arg(json_list(&spec.sources))
            .push(", ");
        sql.arg(spec.enabled)
            .push(", ")
            .arg(at)
            .push(", ")
            .arg(at)
            .push(")");
        sql.query()
            .execute(&self.w)
            .await
            .map_err(write_err("monitoring policy"))?;
        Ok(MonitoringPolicy {
            id,
            tenant: spec.tenant,
            name: spec.name,
            kind: spec.kind,
            lower: spec.lower,
            upper: spec.upper,
            interval_secs: spec.interval_secs,
            silent_after_secs: spec.silent_after_secs,
            sources: spec.sources,
            enabled: spec.enabled,
            created_at: at,
            updated_at: at,
        })
    }

    async fn list_monitoring_policies(
        &self,
        scope: &TenantScope,
    ) -> Result<Vec<MonitoringPolicy>, MetaError> {
        let mut sql = Sql::new(
            "SELECT id, tenant_id, name, kind, lower_bound, upper_bound, interval_secs, silent_after_secs, sources, enabled, created_at, updated_at FROM monitoring_policies WHERE ",
        );
        sql.scope("tenant_id", scope).push(" ORDER BY name, id");
        fetch_all(&self.r, &sql)
            .await?
            .iter()
            .map(policy_row)
            .collect()
    }

    async fn update_monitoring_policy(
        &self,
        scope: &TenantScope,
        id: &str,
        spec: MonitoringPolicySpec,
    ) -> Result<MonitoringPolicy, MetaError> {
        scope.check(&spec.tenant)?;
        check_policy(&spec)?;
        let mut sql = Sql::new("UPDATE monitoring_policies SET name = ");
        sql.arg(&spec.name)
            .push(", kind = ")
            .arg(spec.kind.as_str())
            .push(", lower_bound = ");
        sql.arg(spec.lower).push(", upper_bound = ").arg(spec.upper);
        sql.push(", interval_secs = ")
            .arg(spec.interval_secs)
            .push(", silent_after_secs = ");
        sql.arg(spec.silent_after_secs)
            .push(", sources = ")
            .arg(json_list(&spec.sources));
        sql.push(", enabled = ")
            .arg(spec.enabled)
            .push(", updated_at = ")
            .arg(now());
        sql.push(" WHERE id = ")
            .arg(id)
            .push(" AND tenant_id = ")
            .arg(spec.tenant.as_str());
        let n = sql
            .query()
            .execute(&self.w)
            .await
            .map_err(write_err("monitoring policy"))?;
        if n.rows_affected() == 0 {
            return Err(not_found("monitoring policy", id));
        }
        self.list_monitoring_policies(scope)
            .await?
            .into_iter()
            .find(|p| p.id == id)
            .ok_or_else(|| not_found("monitoring policy", id))
    }

    async fn delete_monitoring_policy(
        &self,
        scope: &TenantScope,
        id: &str,
    ) -> Result<(), MetaError> {
        self.delete_scoped("monitoring_policies", "monitoring policy", scope, id)
            .await
    }

    async fn create_saved_search(
        &self,
        scope: &TenantScope,
        spec: SavedSearchSpec,
    ) -> Result<SavedSearch, MetaError> {
        scope.check(&spec.tenant)?;
        nonempty("name", &spec.name, 200)?;
        nonempty("query", &spec.query, 64 * 1024)?;
        let id = new_id();
        let at = now();
        let mut sql = Sql::new(
            "INSERT INTO saved_searches (id, tenant_id, owner, name, query, time_range, shared, created_at, updated_at) VALUES (",
        );
        sql.arg(&id)
            .push(", ")
            .arg(spec.tenant.as_str())
            .push(", ")
            .arg(&spec.owner);
        sql.push(", ")
            .arg(&spec.name)
            .push(", ")
            .arg(&spec.query)
            .push(", ");
        sql.arg(&spec.time_range)
            .push(", ")
            .arg(spec.shared)
            .push(", ")
            .arg(at)
            .push(", ");
        sql.arg(at).push(")");
        sql.query()
            .execute(&self.w)
            .await
            .map_err(write_err("saved search"))?;
        Ok(SavedSearch {
            id,
            tenant: spec.tenant,
            owner: spec.owner,
            name: spec.name,
            query: spec.query,
            time_range: spec.time_range,
            shared: spec.shared,
            created_at: at,
            updated_at: at,
        })
    }

    async fn list_saved_searches(
        &self,
        scope: &TenantScope,
        owner: &str,
    ) -> Result<Vec<SavedSearch>, MetaError> {
        let mut sql = Sql::new(
            "SELECT id, tenant_id, owner, name, query, time_range, shared, created_at, updated_at FROM saved_searches WHERE ",
        );
        sql.scope("tenant_id", scope)
            .push(" AND (owner = ")
            .arg(owner);
        sql.push(" OR shared = 1) ORDER BY name, id");
        fetch_all(&self.r, &sql)
            .await?
            .iter()
            .map(saved_search_row)
            .collect()
    }

    async fn update_saved_search(
        &self,
        scope: &TenantScope,
        id: &str,
        spec: SavedSearchSpec,
    ) -> Result<SavedSearch, MetaError> {
        scope.check(&spec.tenant)?;
        nonempty("name", &spec.name, 200)?;
        nonempty("query", &spec.query, 64 * 1024)?;
        let mut sql = Sql::new("UPDATE saved_searches SET name = ");
        sql.arg(&spec.name)
            .push(", query = ")
            .arg(&spec.query)
            .push(", time_range = ");
        sql.arg(&spec.time_range)
            .push(", shared = ")
            .arg(spec.shared)
            .push(", updated_at = ");
        sql.arg(now())
            .push(" WHERE id = ")
            .arg(id)
            .push(" AND tenant_id = ");
        sql.arg(spec.tenant.as_str())
            .push(" AND owner = ")
            .arg(&spec.owner);
        let n = sql
            .query()
            .execute(&self.w)
            .await
            .map_err(write_err("saved search"))?;
        if n.rows_affected() == 0 {
            return Err(not_found("saved search", id));
        }
        self.list_saved_searches(scope, &spec.owner)
            .await?
            .into_iter()
            .find(|s| s.id == id)
            .ok_or_else(|| not_found("saved search", id))
    }

    async fn delete_saved_search(&self, scope: &TenantScope, id: &str) -> Result<(), MetaError> {
        self.delete_scoped("saved_searches", "saved search", scope, id)
            .await
    }

    async fn create_dashboard(
        &self,
        scope: &TenantScope,
        spec: crate::dashboards::DashboardSpec,
    ) -> Result<crate::dashboards::Dashboard, MetaError> {
        self.create_dashboard_impl(scope, spec).await
    }

    async fn get_dashboard(
        &self,
        scope: &TenantScope,
        id: &str,
    ) -> Result<crate::dashboards::Dashboard, MetaError> {
        self.get_dashboard_impl(scope, id).await
    }

    async fn list_dashboards(
        &self,
        scope: &TenantScope,
        owner: &str,
    ) -> Result<Vec<crate::dashboards::Dashboard>, MetaError> {
        self.list_dashboards_impl(scope, owner).await
    }

    async fn update_dashboard(
        &self,
        scope: &TenantScope,
        id: &str,
        spec: crate::dashboards::DashboardSpec,
    ) -> Result<crate::dashboards::Dashboard, MetaError> {
        self.update_dashboard_impl(scope, id, spec).await
    }

    async fn delete_dashboard(&self, scope: &TenantScope, id: &str) -> Result<(), MetaError> {
        self.delete_dashboard_impl(scope, id).await
    }

    async fn append_audit(&self, rec: NewAuditRecord) -> Result<AuditRecord, MetaError> {
        self.append_audit_chained(rec).await
    }

    async fn verify_audit(&self, scope: &TenantScope) -> Result<Vec<AuditChainReport>, MetaError> {
        self.verify_audit_impl(scope).await
    }

    async fn list_audit(
        &self,
        scope: &TenantScope,
        q: &AuditQuery,
        page: &Page,
    ) -> Result<Paged<AuditRecord>, MetaError> {
        let limit = page.effective_limit();
        let mut sql = Sql::new(
            "SELECT id, tenant_id, at, actor, action, target_kind, target_id, outcome, source_ip, details, seq, hash, at AS sort_key FROM audit_log WHERE ",
        );
        sql.scope("tenant_id", scope);
        if let Some(a) = &q.actor {
            sql.push(" AND actor = ").arg(a);
        }
        if let Some(a) = &q.action {
            if a.ends_with('.') {
                let mut pat = String::new();
                for c in a.chars() {
                    if matches!(c, '%' | '_' | '\\') {
                        pat.push('\\');
                    }
                    pat.push(c);
                }
                pat.push('%');
                sql.push(" AND action LIKE ").arg(pat).push(" ESCAPE '\\'");
            } else {
                sql.push(" AND action = ").arg(a);
            }
        }
        if let Some(t) = q.since {
            sql.push(" AND at >= ").arg(t);
        }
        if let Some(t) = q.until {
            sql.push(" AND at < ").arg(t);
        }
        page_tail(
            &mut sql,
            "at",
            "id",
            SortDir::Desc,
            page.cursor.as_deref(),
            limit,
        )?;
        let rows = fetch_all(&self.r, &sql).await?;
        let (items, next_cursor) = finish_page(rows, limit, false, |r| {
            let a = audit_row(r)?;
            let id = a.id.clone();
            Ok((a, id))
        })?;
        Ok(Paged { items, next_cursor })
    }

    async fn record_sources(&self, flush: &[crate::sources::SourceFlush]) -> Result<(), MetaError> {
        self.record_sources_impl(flush).await
    }

    async fn list_sources(
        &self,
        scope: &TenantScope,
        kind: Option<crate::sources::SourceKind>,
        since: Time,
        page: &Page,
    ) -> Result<Paged<crate::sources::SourceRecord>, MetaError> {
        self.list_sources_impl(scope, kind, since, page).await
    }

    async fn source_series(
        &self,
        scope: &TenantScope,
        tenant: &TenantId,
        id: &str,
        since: Time,
    ) -> Result<Vec<crate::sources::SourcePoint>, MetaError> {
        self.source_series_impl(scope, tenant, id, since).await
    }

    async fn tenant_events(
        &self,
        scope: &TenantScope,
        since: Time,
    ) -> Result<Vec<crate::sources::TenantEvents>, MetaError> {
        self.tenant_events_impl(scope, since).await
    }

    async fn purge_source_series(&self, before: Time) -> Result<u64, MetaError> {
        self.purge_source_series_impl(before).await
    }

    async fn refresh_statistics(&self) -> Result<(), MetaError> {
        match self.dialect {
            Dialect::Sqlite => {
                // On the writer: ANALYZE writes sqlite_stat1.
                sqlx::raw_sql("PRAGMA optimize")
                    .execute(&self.w)
                    .await
                    .map_err(be)?;
                Ok(())
            }
            Dialect::Postgres => Ok(()),
        }
    }
}

fn check_policy(spec: &MonitoringPolicySpec) -> Result<(), MetaError> {
    nonempty("name", &spec.name, 200)?;
    let bad = |field: &str, reason: &str| {
        Err(MetaError::Invalid {
            field: field.into(),
            reason: reason.into(),
        })
    };
    if !spec.lower.is_finite() || spec.lower < 0.0 {
        return bad("lower", "must be a finite number ≥ 0");
    }
    if let Some(u) = spec.upper
        && (!u.is_finite() || u < spec.lower)
    {
        return bad("upper", "must be a finite number ≥ lower");
    }
    if spec.interval_secs == 0 || spec.interval_secs > 14 * 86_400 {
        return bad("interval_secs", "must be 1 s to 14 days");
    }
    Ok(())
}
