//! Incidents: list, create from alerts, get, update, link, merge, timeline, comments,
//! attachments, export as JSON and as a printable HTML report.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use vigil_core::incidents::{IncidentExport, render_html};
use vigil_core::{
    Action, Attachment, Comment, Incident, IncidentQuery, IncidentSort, IncidentStatus,
    IncidentUpdate, LinkKind, NewIncident, NewTimelineEntry, Paged, Priority, Resolution, SortDir,
    TenantId, TimelineEntry,
};

use super::admin::double_option;
use super::alerts::CommentRequest;
use super::common::*;
use super::records::{Record, csv_param};
use crate::ApiState;

/// Which incidents to list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct IncidentParams {
    /// Tenants (comma-separated).
    pub tenant: Option<String>,
    /// Statuses (comma-separated): `open`, `in_progress`, `closed`.
    pub status: Option<String>,
    /// At least this priority.
    pub min_priority: Option<Priority>,
    /// Assigned to.
    pub assignee: Option<String>,
    /// Category.
    pub category: Option<String>,
    /// Title contains.
    pub q: Option<String>,
    /// `created_at` (default), `updated_at`, `priority`.
    pub sort: Option<IncidentSort>,
    /// `desc` (default) or `asc`.
    pub dir: Option<SortDir>,
    /// Rows per page.
    pub limit: Option<u32>,
    /// Cursor.
    pub cursor: Option<String>,
}

/// Lists incidents.
#[utoipa::path(get, path = "/api/v1/incidents", tag = "incidents", params(IncidentParams),
    responses((status = 200, body = Paged<Incident>), (status = 403, body = ErrorBody)), security(("bearer" = []), ("session" = [])))]
pub async fn list_incidents(
    State(st): State<ApiState>,
    caller: Caller,
    Params(p): Params<IncidentParams>,
) -> ApiResult<axum::Json<Paged<Incident>>> {
    let (core, scope) = Record::Incident.lister(&st, &caller, &p.tenant)?;
    let q = IncidentQuery {
        statuses: csv_param::<IncidentStatus>("status", &p.status)?,
        min_priority: p.min_priority,
        assignee: p.assignee,
        category: p.category,
        text: p.q,
        sort: p.sort.unwrap_or_default(),
        dir: p.dir.unwrap_or_default(),
    };
    let page = page(p.limit, &p.cursor);
    Ok(axum::Json(
        core.store.list_incidents(&scope, &q, &page).await?,
    ))
}

/// An incident to create, optionally from alerts.
#[derive(Debug, Deserialize, ToSchema)]
pub struct NewIncidentRequest {
    /// Tenant; may be left out by a caller with one tenant, or when alerts are given (theirs).
    #[serde(default)]
    pub tenant: Option<TenantId>,
    /// Title.
    pub title: String,
    /// Description.
    #[serde(default)]
    pub description: String,
    /// Category.
    #[serde(default)]
    pub category: String,
    /// Priority (default medium).
    #[serde(default)]
    pub priority: Option<Priority>,
    /// Assignee.
    #[serde(default)]
    pub assignee: Option<String>,
    /// Alerts to link (they become escalated).
    #[serde(default)]
    pub alerts: Vec<String>,
}

/// Creates an incident, from alerts when given.
#[utoipa::path(post, path = "/api/v1/incidents", tag = "incidents", request_body = NewIncidentRequest,
    responses((status = 201, body = Incident), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub async fn create_incident(
    State(st): State<ApiState>,
    caller: Caller,
    Body(req): Body<NewIncidentRequest>,
) -> ApiResult<Response> {
    let core = st.core()?;
    let named = match (&req.tenant, req.alerts.first()) {
        (Some(t), _) => Some(t.clone()),
        (None, Some(a)) => {
            let read = caller.scope(Action::AlertsRead, &[])?;
            Some(core.store.get_alert(&read, a).await?.tenant)
        }
        (None, None) => None,
    };
    let (t, scope) = target_tenant(&caller, Action::IncidentsWrite, named.as_ref())?;
    let incident = core
        .incidents
        .create(
            &scope,
            NewIncident {
                tenant: t,
                title: req.title,
                description: req.description,
                category: req.category,
                priority: req.priority.unwrap_or(Priority::Medium),
                assignee: req.assignee,
                created_by: caller.actor(),
            },
            &req.alerts,
            caller.ip(),
        )
        .await?;
    Ok((StatusCode::CREATED, axum::Json(incident)).into_response())
}

/// One incident with its links.
#[utoipa::path(get, path = "/api/v1/incidents/{id}", tag = "incidents", params(("id" = String, Path, description = "incident id")),
    responses((status = 200, body = Incident), (status = 404, body = ErrorBody)), security(("bearer" = []), ("session" = [])))]
pub async fn get_incident(
    State(st): State<ApiState>,
    caller: Caller,
    PathParam(id): PathParam<String>,
) -> ApiResult<axum::Json<Incident>> {
    let (core, scope) = Record::Incident.reader(&st, &caller)?;
    Ok(axum::Json(core.store.get_incident(&scope, &id).await?))
}

/// Changes to an incident; absent fields stay.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IncidentChange {
    /// Title.
    #[serde(default)]
    pub title: Option<String>,
    /// Description.
    #[serde(default)]
    pub description: Option<String>,
    /// Category.
    #[serde(default)]
    pub category: Option<String>,
    /// Priority.
    #[serde(default)]
    pub priority: Option<Priority>,
    /// Status (closing needs a resolution).
    #[serde(default)]
    pub status: Option<IncidentStatus>,
    /// Resolution.
    #[serde(default)]
    pub resolution: Option<Resolution>,
    /// Assignee (`null` unassigns).
    #[serde(default, deserialize_with = "double_option")]
    pub assignee: Option<Option<String>>,
}

/// Changes an incident (one timeline entry per changed field; audited).
#[utoipa::path(patch, path = "/api/v1/incidents/{id}", tag = "incidents", params(("id" = String, Path, description = "incident id")),
    request_body = IncidentChange,
    responses((status = 200, body = Incident), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub async fn update_incident(
    State(st): State<ApiState>,
    caller: Caller,
    PathParam(id): PathParam<String>,
    Body(req): Body<IncidentChange>,
) -> ApiResult<axum::Json<Incident>> {
    let (core, scope) = Record::Incident.writer(&st, &caller)?;
    let update = IncidentUpdate {
        title: req.title,
        description: req.description,
        category: req.category,
        priority: req.priority,
        status: req.status,
        resolution: req.resolution,
        assignee: req.assignee,
    };
    Ok(axum::Json(
        core.incidents
            .update(&scope, &id, &caller.actor(), update, caller.ip())
            .await?,
    ))
}

/// Alerts to link.
#[derive(Debug, Deserialize, ToSchema)]
pub struct LinkAlertsRequest {
    /// Alert ids of the incident's tenant.
    pub alert_ids: Vec<String>,
}

/// Links alerts to an incident (they become escalated).
#[utoipa::path(post, path = "/api/v1/incidents/{id}/alerts", tag = "incidents", params(("id" = String, Path, description = "incident id")),
    request_body = LinkAlertsRequest,
    responses((status = 200, body = Incident), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub async fn link_alerts(
    State(st): State<ApiState>,
    caller: Caller,
    PathParam(id): PathParam<String>,
    Body(req): Body<LinkAlertsRequest>,
) -> ApiResult<axum::Json<Incident>> {
    let (core, scope) = Record::Incident.writer(&st, &caller)?;
    Ok(axum::Json(
        core.incidents
            .link_alerts(&scope, &id, &caller.actor(), &req.alert_ids, caller.ip())
            .await?,
    ))
}

/// Events, assets or accounts to link or unlink.
#[derive(Debug, Deserialize, ToSchema)]
pub struct LinkRequest {
    /// `event`, `asset` or `account`.
    pub kind: LinkKind,
    /// Event ids, asset ids or account names (at most 1000).
    pub values: Vec<String>,
    /// Remove the links instead.
    #[serde(default)]
    pub remove: bool,
}

/// Links (or unlinks) events, assets or accounts.
#[utoipa::path(post, path = "/api/v1/incidents/{id}/links", tag = "incidents", params(("id" = String, Path, description = "incident id")),
    request_body = LinkRequest,
    responses((status = 200, body = Incident), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub async fn link_objects(
    State(st): State<ApiState>,
    caller: Caller,
    PathParam(id): PathParam<String>,
    Body(req): Body<LinkRequest>,
) -> ApiResult<axum::Json<Incident>> {
    let (core, scope) = Record::Incident.writer(&st, &caller)?;
    if req.values.is_empty() || req.values.len() > 1000 {
        return Err(ApiError::invalid("values: 1 to 1000 values"));
    }
    let actor = caller.actor();
    let i = if req.remove {
        core.store
            .unlink(&scope, &id, &actor, req.kind, &req.values)
            .await?
    } else {
        core.store
            .link(&scope, &id, &actor, req.kind, &req.values)
            .await?
    };
    Ok(axum::Json(i))
}

/// Incidents to merge into this one.
#[derive(Debug, Deserialize, ToSchema)]
pub struct MergeRequest {
    /// Incident ids of the same tenant; each is closed as a duplicate.
    pub from: Vec<String>,
}

/// Merges incidents into this one: their alerts, events, assets and accounts move here.
#[utoipa::path(post, path = "/api/v1/incidents/{id}/merge", tag = "incidents", params(("id" = String, Path, description = "incident id")),
    request_body = MergeRequest,
    responses((status = 200, body = Incident), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub async fn merge(
    State(st): State<ApiState>,
    caller: Caller,
    PathParam(id): PathParam<String>,
    Body(req): Body<MergeRequest>,
) -> ApiResult<axum::Json<Incident>> {
    let (core, scope) = Record::Incident.writer(&st, &caller)?;
    Ok(axum::Json(
        core.incidents
            .merge(&scope, &id, &req.from, &caller.actor(), caller.ip())
            .await?,
    ))
}

/// The incident's timeline, by event time.
#[utoipa::path(get, path = "/api/v1/incidents/{id}/timeline", tag = "incidents", params(("id" = String, Path, description = "incident id")),
    responses((status = 200, body = Vec<TimelineEntry>), (status = 404, body = ErrorBody)), security(("bearer" = []), ("session" = [])))]
pub async fn timeline(
    State(st): State<ApiState>,
    caller: Caller,
    PathParam(id): PathParam<String>,
) -> ApiResult<axum::Json<Vec<TimelineEntry>>> {
    let (core, scope) = Record::Incident.reader_of(&st, &caller, &id).await?;
    Ok(axum::Json(core.store.timeline(&scope, &id).await?))
}

/// An analyst's timeline entry.
#[derive(Debug, Deserialize, ToSchema)]
pub struct TimelineRequest {
    /// When the described thing happened (default now).
    #[serde(default)]
    pub at: Option<DateTime<Utc>>,
    /// Kind (`note`, `event`, ...; default `note`).
    #[serde(default)]
    pub kind: Option<String>,
    /// Text.
    pub text: String,
    /// The event described.
    #[serde(default)]
    pub event_id: Option<String>,
}

/// Adds an analyst's entry to the timeline.
#[utoipa::path(post, path = "/api/v1/incidents/{id}/timeline", tag = "incidents", params(("id" = String, Path, description = "incident id")),
    request_body = TimelineRequest,
    responses((status = 201, body = TimelineEntry), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub async fn add_timeline_entry(
    State(st): State<ApiState>,
    caller: Caller,
    PathParam(id): PathParam<String>,
    Body(req): Body<TimelineRequest>,
) -> ApiResult<Response> {
    let (core, scope) = Record::Incident.writer(&st, &caller)?;
    if req.text.trim().is_empty() || req.text.len() > 65_536 {
        return Err(ApiError::invalid("text: 1 byte to 64 KiB"));
    }
    let e = core
        .store
        .add_timeline_entry(
            &scope,
            &id,
            NewTimelineEntry {
                at: req.at.unwrap_or_else(Utc::now),
                author: caller.actor(),
                kind: req.kind.unwrap_or_else(|| "note".into()),
                text: req.text,
                event_id: req.event_id,
            },
        )
        .await?;
    Ok((StatusCode::CREATED, axum::Json(e)).into_response())
}

/// The incident's comments, oldest first.
#[utoipa::path(get, path = "/api/v1/incidents/{id}/comments", tag = "incidents", params(("id" = String, Path, description = "incident id")),
    responses((status = 200, body = Vec<Comment>), (status = 404, body = ErrorBody)), security(("bearer" = []), ("session" = [])))]
pub async fn list_comments(
    State(st): State<ApiState>,
    caller: Caller,
    PathParam(id): PathParam<String>,
) -> ApiResult<axum::Json<Vec<Comment>>> {
    Record::Incident.list_comments(&st, &caller, id).await
}

/// Comments on an incident.
#[utoipa::path(post, path = "/api/v1/incidents/{id}/comments", tag = "incidents", params(("id" = String, Path, description = "incident id")),
    request_body = CommentRequest,
    responses((status = 201, body = Comment), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub async fn add_comment(
    State(st): State<ApiState>,
    caller: Caller,
    PathParam(id): PathParam<String>,
    Body(req): Body<CommentRequest>,
) -> ApiResult<Response> {
    Record::Incident
        .add_comment(&st, &caller, id, &req.body)
        .await
}

/// The incident's attachments (metadata).
#[utoipa::path(get, path = "/api/v1/incidents/{id}/attachments", tag = "incidents", params(("id" = String, Path, description = "incident id")),
    responses((status = 200, body = Vec<Attachment>), (status = 404, body = ErrorBody)), security(("bearer" = []), ("session" = [])))]
pub async fn list_attachments(
    State(st): State<ApiState>,
    caller: Caller,
    PathParam(id): PathParam<String>,
) -> ApiResult<axum::Json<Vec<Attachment>>> {
    let (core, scope) = Record::Incident.reader_of(&st, &caller, &id).await?;
    Ok(axum::Json(core.store.list_attachments(&scope, &id).await?))
}

/// The name of an uploaded attachment.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AttachmentParams {
    /// File name.
    pub name: String,
}

/// Attaches a file: the body is the file (its `Content-Type` is kept), capped by the API's
/// body limit and `meta.max_attachment_bytes`.
#[utoipa::path(post, path = "/api/v1/incidents/{id}/attachments", tag = "incidents",
    params(("id" = String, Path, description = "incident id"), AttachmentParams),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 201, body = Attachment), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 413, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub async fn add_attachment(
    State(st): State<ApiState>,
    caller: Caller,
    PathParam(id): PathParam<String>,
    Params(p): Params<AttachmentParams>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> ApiResult<Response> {
    let (core, scope) = Record::Incident.writer(&st, &caller)?;
    let name = p.name.trim();
    if name.is_empty() || name.len() > 255 || name.contains(['/', '\\', '\0']) {
        return Err(ApiError::invalid(
            "name: 1 to 255 bytes, no path separators",
        ));
    }
    if body.is_empty() {
        return Err(ApiError::invalid("body: the file is empty"));
    }
    let media = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .filter(|v| v.len() <= 255)
        .unwrap_or("application/octet-stream");
    let a = core
        .store
        .add_attachment(&scope, &id, name, media, body.to_vec(), &caller.actor())
        .await?;
    Ok((StatusCode::CREATED, axum::Json(a)).into_response())
}

/// Downloads an attachment (always as a download, never rendered).
#[utoipa::path(get, path = "/api/v1/attachments/{id}", tag = "incidents", params(("id" = String, Path, description = "attachment id")),
    responses((status = 200, content_type = "application/octet-stream", body = Vec<u8>), (status = 404, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub async fn get_attachment(
    State(st): State<ApiState>,
    caller: Caller,
    PathParam(id): PathParam<String>,
) -> ApiResult<Response> {
    let (core, scope) = Record::Incident.reader(&st, &caller)?;
    let (a, data) = core.store.get_attachment(&scope, &id).await?;
    let mut resp = data.into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    let safe: String = a
        .name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{safe}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    Ok(resp)
}

/// The whole incident as JSON: links, alerts, timeline, comments, attachments (metadata).
#[utoipa::path(get, path = "/api/v1/incidents/{id}/export", tag = "incidents", params(("id" = String, Path, description = "incident id")),
    responses((status = 200, body = IncidentExport), (status = 404, body = ErrorBody)), security(("bearer" = []), ("session" = [])))]
pub async fn export_json(
    State(st): State<ApiState>,
    caller: Caller,
    PathParam(id): PathParam<String>,
) -> ApiResult<axum::Json<IncidentExport>> {
    let (core, scope) = Record::Incident.reader(&st, &caller)?;
    Ok(axum::Json(
        core.incidents.export(&scope, &id, &caller.actor()).await?,
    ))
}

/// The incident as a printable, self-contained HTML report.
#[utoipa::path(get, path = "/api/v1/incidents/{id}/report", tag = "incidents", params(("id" = String, Path, description = "incident id")),
    responses((status = 200, content_type = "text/html", body = String), (status = 404, body = ErrorBody)), security(("bearer" = []), ("session" = [])))]
pub async fn export_html(
    State(st): State<ApiState>,
    caller: Caller,
    PathParam(id): PathParam<String>,
) -> ApiResult<Response> {
    let (core, scope) = Record::Incident.reader(&st, &caller)?;
    let x = core.incidents.export(&scope, &id, &caller.actor()).await?;
    let mut resp = render_html(&x).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'"),
    );
    Ok(resp)
}
