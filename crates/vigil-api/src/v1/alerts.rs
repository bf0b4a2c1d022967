//! Alerts (list, get, triage, bulk, comments, history) and suppression rules.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use vigil_core::{
    Action, Alert, AlertChange, AlertQuery, AlertSort, AlertStatus, AlertUpdate, Comment, Entity,
    EntityKind, NewSuppressionRule, Paged, Resolution, Severity, SortDir, SuppressionRule,
    TenantId,
};

use super::admin::double_option;
use super::common::*;
use super::records::{Record, csv_param};
use crate::ApiState;

/// Which alerts to list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AlertParams {
    /// Tenants (comma-separated); default: every tenant where the caller may read alerts.
    pub tenant: Option<String>,
    /// Statuses (comma-separated): `new`, `assigned`, `escalated`, `closed`.
    pub status: Option<String>,
    /// At least this severity.
    pub min_severity: Option<Severity>,
    /// Of this rule.
    pub rule_id: Option<String>,
    /// Assigned to this user.
    pub assignee: Option<String>,
    /// Only unassigned alerts.
    pub unassigned: Option<bool>,
    /// Involving this entity, `kind:value` (`host:web1`, `ip:203.0.113.7`).
    pub entity: Option<String>,
    /// Carrying this ATT&CK technique.
    pub technique: Option<String>,
    /// Rule name contains (case-insensitive).
    pub q: Option<String>,
    /// Last seen at or after (RFC 3339).
    pub since: Option<DateTime<Utc>>,
    /// Last seen before (RFC 3339).
    pub until: Option<DateTime<Utc>>,
    /// Escalated into this incident.
    pub incident_id: Option<String>,
    /// Sort: `last_seen` (default), `first_seen`, `created_at`, `count`, `risk_score`, `severity`.
    pub sort: Option<AlertSort>,
    /// `desc` (default) or `asc`.
    pub dir: Option<SortDir>,
    /// Rows per page (1–1000, default 50).
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

fn alert_query(p: &AlertParams) -> ApiResult<AlertQuery> {
    let statuses = csv_param::<AlertStatus>("status", &p.status)?;
    let entity = match &p.entity {
        None => None,
        Some(s) => {
            let (k, v) = s
                .split_once(':')
                .ok_or_else(|| ApiError::invalid("entity: write kind:value"))?;
            let kind = k
                .parse::<EntityKind>()
                .map_err(|_| ApiError::invalid(format!("entity: unknown kind {k:?}")))?;
            Some(Entity {
                kind,
                value: v.to_owned(),
            })
        }
    };
    Ok(AlertQuery {
        statuses,
        min_severity: p.min_severity,
        rule_id: p.rule_id.clone(),
        assignee: p.assignee.clone(),
        unassigned: p.unassigned.unwrap_or(false),
        entity,
        technique: p.technique.clone(),
        text: p.q.clone(),
        since: p.since,
        until: p.until,
        incident_id: p.incident_id.clone(),
        sort: p.sort.unwrap_or_default(),
        dir: p.dir.unwrap_or_default(),
    })
}

/// Lists alerts, filtered, sorted, a page at a time.
#[utoipa::path(get, path = "/api/v1/alerts", tag = "alerts", params(AlertParams),
    responses((status = 200, body = Paged<Alert>), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub async fn list_alerts(
    State(st): State<ApiState>,
    caller: Caller,
    Params(p): Params<AlertParams>,
) -> ApiResult<axum::Json<Paged<Alert>>> {
    let (core, scope) = Record::Alert.lister(&st, &caller, &p.tenant)?;
    let (q, page) = (alert_query(&p)?, page(p.limit, &p.cursor));
    Ok(axum::Json(core.store.list_alerts(&scope, &q, &page).await?))
}

/// An alert with its base event ids.
#[derive(Debug, Serialize, ToSchema)]
pub struct AlertDetail {
    /// The alert.
    #[serde(flatten)]
    pub alert: Alert,
    /// Ids of the base events kept for it (in the event store), in the order they came.
    pub event_ids: Vec<String>,
}

/// One alert with its base event ids.
#[utoipa::path(get, path = "/api/v1/alerts/{id}", tag = "alerts", params(("id" = String, Path, description = "alert id")),
    responses((status = 200, body = AlertDetail), (status = 404, body = ErrorBody)), security(("bearer" = []), ("session" = [])))]
pub async fn get_alert(
    State(st): State<ApiState>,
    caller: Caller,
    PathParam(id): PathParam<String>,
) -> ApiResult<axum::Json<AlertDetail>> {
    let (core, scope) = Record::Alert.reader(&st, &caller)?;
    let alert = core.store.get_alert(&scope, &id).await?;
    let event_ids = core.store.alert_event_ids(&scope, &id).await?;
    Ok(axum::Json(AlertDetail { alert, event_ids }))
}

/// A triage change; absent fields stay.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AlertChangeRequest {
    /// New status (`closed` needs `resolution` and `resolution_reason`; reopening to `new`
    /// needs a reason in `resolution_reason`).
    #[serde(default)]
    pub status: Option<AlertStatus>,
    /// Assignee user name (`null` unassigns).
    #[serde(default, deserialize_with = "double_option")]
    pub assignee: Option<Option<String>>,
    /// Resolution (with `status: closed`).
    #[serde(default)]
    pub resolution: Option<Resolution>,
    /// Why.
    #[serde(default)]
    pub resolution_reason: Option<String>,
    /// Analyst-set severity.
    #[serde(default)]
    pub severity: Option<Severity>,
}

impl From<AlertChangeRequest> for AlertUpdate {
    fn from(r: AlertChangeRequest) -> AlertUpdate {
        AlertUpdate {
            status: r.status,
            assignee: r.assignee,
            resolution: r.resolution,
            resolution_reason: r.resolution_reason,
            severity: r.severity,
        }
    }
}

/// Changes an alert's status, assignee, resolution or severity (history and audit written).
#[utoipa::path(patch, path = "/api/v1/alerts/{id}", tag = "alerts", params(("id" = String, Path, description = "alert id")),
    request_body = AlertChangeRequest,
    responses((status = 200, body = Alert), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub async fn update_alert(
    State(st): State<ApiState>,
    caller: Caller,
    PathParam(id): PathParam<String>,
    Body(req): Body<AlertChangeRequest>,
) -> ApiResult<axum::Json<Alert>> {
    let (core, scope) = Record::Alert.writer(&st, &caller)?;
    let actor = caller.actor();
    Ok(axum::Json(
        core.alerts.update(&scope, &id, &actor, req.into()).await?,
    ))
}

/// One change applied to many alerts.
#[derive(Debug, Deserialize, ToSchema)]
pub struct BulkRequest {
    /// Alert ids (at most 1000).
    pub ids: Vec<String>,
    /// The change.
    pub update: AlertChangeRequest,
}

/// What happened to one alert of a bulk change.
#[derive(Debug, Serialize, ToSchema)]
pub struct BulkItem {
    /// Alert id.
    pub id: String,
    /// Whether it changed.
    pub ok: bool,
    /// The error when not.
    pub error: Option<ErrorDetail>,
}

/// The result of a bulk change.
#[derive(Debug, Serialize, ToSchema)]
pub struct BulkResult {
    /// Alerts changed.
    pub updated: u64,
    /// Alerts not changed.
    pub failed: u64,
    /// Per alert.
    pub items: Vec<BulkItem>,
}

/// Applies one triage change to many alerts; each succeeds or fails on its own.
#[utoipa::path(post, path = "/api/v1/alerts/bulk", tag = "alerts", request_body = BulkRequest,
    responses((status = 200, body = BulkResult), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub async fn bulk_update(
    State(st): State<ApiState>,
    caller: Caller,
    Body(req): Body<BulkRequest>,
) -> ApiResult<axum::Json<BulkResult>> {
    let (core, scope) = Record::Alert.writer(&st, &caller)?;
    if req.ids.is_empty() || req.ids.len() > 1000 {
        return Err(ApiError::invalid("ids: 1 to 1000 alert ids"));
    }
    let actor = caller.actor();
    let mut out = BulkResult {
        updated: 0,
        failed: 0,
        items: Vec::with_capacity(req.ids.len()),
    };
    for id in req.ids {
        match core
            .alerts
            .update(&scope, &id, &actor, req.update.clone().into())
            .await
        {
            Ok(_) => {
                out.updated += 1;
                out.items.push(BulkItem {
                    id,
                    ok: true,
                    error: None,
                });
            }
            Err(e) => {
                let e = ApiError::from(e);
                out.failed += 1;
                out.items.push(BulkItem {
                    id,
                    ok: false,
                    error: Some(ErrorDetail {
                        code: e.code.to_owned(),
                        message: e.message,
                    }),
                });
            }
        }
    }
    Ok(axum::Json(out))
}

/// An alert's comments, oldest first.
#[utoipa::path(get, path = "/api/v1/alerts/{id}/comments", tag = "alerts", params(("id" = String, Path, description = "alert id")),
    responses((status = 200, body = Vec<Comment>), (status = 404, body = ErrorBody)), security(("bearer" = []), ("session" = [])))]
pub async fn list_comments(
    State(st): State<ApiState>,
    caller: Caller,
    PathParam(id): PathParam<String>,
) -> ApiResult<axum::Json<Vec<Comment>>> {
    Record::Alert.list_comments(&st, &caller, id).await
}

/// A comment.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CommentRequest {
    /// Text (Markdown, at most 64 KiB).
    pub body: String,
}

/// Comments on an alert.
#[utoipa::path(post, path = "/api/v1/alerts/{id}/comments", tag = "alerts", params(("id" = String, Path, description = "alert id")),
    request_body = CommentRequest,
    responses((status = 201, body = Comment), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)), security(("bearer" = []), ("session" = [])))]
pub async fn add_comment(
    State(st): State<ApiState>,
    caller: Caller,
    PathParam(id): PathParam<String>,
    Body(req): Body<CommentRequest>,
) -> ApiResult<Response> {
    Record::Alert.add_comment(&st, &caller, id, &req.body).await
}

/// An alert's change history and comments.
#[derive(Debug, Serialize, ToSchema)]
pub struct AlertHistory {
    /// Changes, oldest first.
    pub changes: Vec<AlertChange>,
    /// Comments, oldest first.
    pub comments: Vec<Comment>,
}

/// Who changed what on an alert, and when.
#[utoipa::path(get, path = "/api/v1/alerts/{id}/history", tag = "alerts", params(("id" = String, Path, description = "alert id")),
    responses((status = 200, body = AlertHistory), (status = 404, body = ErrorBody)), security(("bearer" = []), ("session" = [])))]
pub async fn history(
    State(st): State<ApiState>,
    caller: Caller,
    PathParam(id): PathParam<String>,
) -> ApiResult<axum::Json<AlertHistory>> {
    let (core, scope) = Record::Alert.reader_of(&st, &caller, &id).await?;
    let (changes, comments) = core.alerts.history(&scope, &id).await?;
    Ok(axum::Json(AlertHistory { changes, comments }))
}

// ------------------------------------------------------------------ suppressions

/// Which suppression rules to list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SuppressionParams {
    /// Tenants (comma-separated).
    pub tenant: Option<String>,
    /// Of this detection rule.
    pub rule_id: Option<String>,
    /// Only those in force now.
    pub active: Option<bool>,
}

/// Lists suppression rules.
#[utoipa::path(get, path = "/api/v1/suppressions", tag = "suppressions", params(SuppressionParams),
    responses((status = 200, body = Vec<SuppressionRule>), (status = 403, body = ErrorBody)), security(("bearer" = []), ("session" = [])))]
pub async fn list_suppressions(
    State(st): State<ApiState>,
    caller: Caller,
    Params(p): Params<SuppressionParams>,
) -> ApiResult<axum::Json<Vec<SuppressionRule>>> {
    let core = st.core()?;
    let scope = caller.scope(Action::RulesRead, &tenants(&p.tenant)?)?;
    let at = p.active.unwrap_or(false).then(Utc::now);
    Ok(axum::Json(
        core.store
            .list_suppressions(&scope, p.rule_id.as_deref(), at)
            .await?,
    ))
}

/// A suppression rule to create.
#[derive(Debug, Deserialize, ToSchema)]
pub struct SuppressionRequest {
    /// Tenant; may be left out by a caller with one tenant.
    #[serde(default)]
    pub tenant: Option<TenantId>,
    /// The detection rule id.
    pub rule_id: String,
    /// Field → value; all must match (none: the whole rule).
    #[serde(default)]
    pub fields: BTreeMap<String, String>,
    /// Why (required).
    pub reason: String,
    /// Expiry (required, in the future, within the configured maximum).
    pub expires_at: DateTime<Utc>,
}

/// Creates a time-limited suppression rule (audited; in force for the next batch).
#[utoipa::path(post, path = "/api/v1/suppressions", tag = "suppressions", request_body = SuppressionRequest,
    responses((status = 201, body = SuppressionRule), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub async fn create_suppression(
    State(st): State<ApiState>,
    caller: Caller,
    Body(req): Body<SuppressionRequest>,
) -> ApiResult<Response> {
    let core = st.core()?;
    let (t, scope) = target_tenant(&caller, Action::RulesWrite, req.tenant.as_ref())?;
    let rule = core
        .alerts
        .suppress(
            &scope,
            NewSuppressionRule {
                tenant: t,
                rule_id: req.rule_id,
                fields: req.fields,
                reason: req.reason,
                created_by: caller.actor(),
                expires_at: Some(req.expires_at),
            },
            core.max_suppression_lifetime,
            caller.ip.clone(),
        )
        .await?;
    Ok((StatusCode::CREATED, axum::Json(rule)).into_response())
}

/// Deletes a suppression rule (audited).
#[utoipa::path(delete, path = "/api/v1/suppressions/{id}", tag = "suppressions", params(("id" = String, Path, description = "suppression id")),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)), security(("bearer" = []), ("session" = [])))]
pub async fn delete_suppression(
    State(st): State<ApiState>,
    caller: Caller,
    PathParam(id): PathParam<String>,
) -> ApiResult<Response> {
    let core = st.core()?;
    let scope = caller.scope(Action::RulesWrite, &[])?;
    core.alerts
        .unsuppress(&scope, &id, &caller.actor(), caller.ip.clone())
        .await?;
    Ok(no_content())
}

// ------------------------------------------------------------------ matched conditions

/// One condition of the rule that an event satisfied.
#[derive(Debug, Serialize, ToSchema)]
pub struct MatchedField {
    /// The event field; null for a full-text word (found in the raw line or message).
    pub field: Option<String>,
    /// The value that satisfied the condition (for a full-text term, the word found; empty
    /// when the term is a phrase or a pattern).
    pub value: String,
}

/// A base event of an alert with what in it made the rule match.
#[derive(Debug, Serialize, ToSchema)]
pub struct AlertBaseEvent {
    /// The base event's id.
    pub id: String,
    /// The correlation event (or Sigma alert event) it was found through.
    pub via: Option<String>,
    /// The rule that matched it.
    pub rule_id: Option<String>,
    /// The correlation rule's selector it satisfied (null for Sigma rules).
    pub selector: Option<String>,
    /// The stored event (nested ECS JSON), null when it is no longer stored.
    #[schema(value_type = Object)]
    pub event: serde_json::Value,
    /// The conditions it satisfied, in the rule's order (empty when they could not be
    /// recovered: the rule changed or is gone, or the event is no longer stored).
    pub matched: Vec<MatchedField>,
}

/// An alert's base events with their matched conditions.
#[derive(Debug, Serialize, ToSchema)]
pub struct AlertEvents {
    /// Base events, in the order the alert lists them (at most 200 of the alert's event ids
    /// are read; a correlation event stands for all its base events).
    pub events: Vec<AlertBaseEvent>,
}

/// An alert's base events, each with the selector or condition it satisfied and the fields and
/// values that matched (the alert page highlights them). Needs `alerts.read` and `search` in
/// the alert's tenant; 503 `correlation_off` when the server runs without the correlator.
#[utoipa::path(get, path = "/api/v1/alerts/{id}/events", tag = "alerts", params(("id" = String, Path, description = "alert id")),
    responses((status = 200, body = AlertEvents), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub async fn alert_events(
    State(st): State<ApiState>,
    caller: Caller,
    PathParam(id): PathParam<String>,
) -> ApiResult<axum::Json<AlertEvents>> {
    let (core, scope) = Record::Alert.reader(&st, &caller)?;
    let alert = core.store.get_alert(&scope, &id).await?;
    caller.scope(Action::Search, std::slice::from_ref(&alert.tenant))?;
    let c = super::correlation::correlator(&st)?;
    let ids = core.store.alert_event_ids(&scope, &id).await?;
    let tenant = alert.tenant.clone();
    let found = tokio::task::spawn_blocking(move || c.explain_alert_events(&tenant, &ids))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    Ok(axum::Json(AlertEvents {
        events: found
            .into_iter()
            .map(|m| AlertBaseEvent {
                id: m.id,
                via: m.via,
                rule_id: m.rule_id,
                selector: m.selector,
                event: m.event.map(|e| e.to_json()).unwrap_or_default(),
                matched: m
                    .matched
                    .into_iter()
                    .map(|(field, value)| MatchedField { field, value })
                    .collect(),
            })
            .collect(),
    }))
}
