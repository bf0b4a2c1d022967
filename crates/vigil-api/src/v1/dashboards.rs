//! Dashboards: list, read, create, change and delete the caller's dashboards and the
//! tenant's shared ones, and the built-in default (`vigil_core::dashboards`).
//!
//! Who may do what: `search` reads one's own dashboards and the shared ones of one's tenants;
//! `dashboards.write` creates and changes one's own private dashboards; `dashboards.share`
//! (tenant administrator and above) creates shared ones and changes, unshares or deletes any
//! shared dashboard of the tenant. Another user's private dashboard is answered 404 like a
//! missing one. Every change is audited.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use vigil_core::dashboards::{self, Dashboard, DashboardSpec, DashboardTemplate, Widget};
use vigil_core::{Action, TenantId};

use super::admin::audit;
use super::common::*;
use crate::ApiState;

/// Which dashboards to list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DashboardParams {
    /// Tenants (comma-separated); all of the caller's by default.
    pub tenant: Option<String>,
}

/// Dashboards the caller may use: their own and the shared ones of their tenants, by name.
#[utoipa::path(get, path = "/api/v1/dashboards", tag = "dashboards", params(DashboardParams),
    responses((status = 200, body = Vec<Dashboard>), (status = 403, body = ErrorBody)), security(("bearer" = []), ("session" = [])))]
pub async fn list_dashboards(
    State(st): State<ApiState>,
    caller: Caller,
    Params(p): Params<DashboardParams>,
) -> ApiResult<axum::Json<Vec<Dashboard>>> {
    let core = st.core()?;
    let scope = caller.scope(Action::Search, &tenants(&p.tenant)?)?;
    Ok(axum::Json(
        core.store.list_dashboards(&scope, &caller.actor()).await?,
    ))
}

/// The built-in SOC dashboard, shown to a user who has none (it is stored once saved).
#[utoipa::path(get, path = "/api/v1/dashboards/default", tag = "dashboards",
    responses((status = 200, body = DashboardTemplate), (status = 403, body = ErrorBody)), security(("bearer" = []), ("session" = [])))]
pub async fn default_dashboard(caller: Caller) -> ApiResult<axum::Json<DashboardTemplate>> {
    caller.scope(Action::Search, &[])?;
    Ok(axum::Json(dashboards::soc_overview()))
}

/// A dashboard to create, or the new state of one.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DashboardRequest {
    /// Tenant (may be left out by a caller with one tenant; ignored on update).
    #[serde(default)]
    pub tenant: Option<TenantId>,
    /// Name (unique per owner and tenant).
    pub name: String,
    /// Shared with the tenant's users (needs `dashboards.share`).
    #[serde(default)]
    pub shared: bool,
    /// The widgets, in grid order.
    pub widgets: Vec<Widget>,
}

/// Every problem of a request, with its path: the core's checks and each query parsed.
fn check(req: &DashboardRequest) -> ApiResult<()> {
    let mut problems = dashboards::problems(&req.name, &req.widgets);
    for (i, w) in req.widgets.iter().enumerate() {
        if !w.chart.needs_query() || w.query.trim().is_empty() {
            continue;
        }
        if w.query.len() <= dashboards::MAX_QUERY_BYTES
            && let Err(e) = vigil_query::parse(&w.query.replace("{span}", "1m"))
        {
            problems.push(format!("widgets[{i}].query: {e}"));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid(problems.join("; ")))
    }
}

fn not_found(id: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("dashboard {id:?} not found"),
    )
}

/// The dashboard if the caller may see it (their own, or shared).
async fn visible(st: &ApiState, caller: &Caller, id: &str) -> ApiResult<Dashboard> {
    let core = st.core()?;
    let scope = caller.scope(Action::Search, &[])?;
    let d = core.store.get_dashboard(&scope, id).await?;
    if d.shared || d.owner == caller.actor() {
        Ok(d)
    } else {
        Err(not_found(id))
    }
}

/// What changing `old` into a dashboard shared or not needs: the tenant's shared dashboards
/// need `dashboards.share`, one's own private ones `dashboards.write`.
fn needed(old: &Dashboard, shared_after: bool) -> Action {
    if old.shared || shared_after {
        Action::DashboardsShare
    } else {
        Action::DashboardsWrite
    }
}

/// One dashboard.
#[utoipa::path(get, path = "/api/v1/dashboards/{id}", tag = "dashboards", params(("id" = String, Path, description = "dashboard id")),
    responses((status = 200, body = Dashboard), (status = 404, body = ErrorBody)), security(("bearer" = []), ("session" = [])))]
pub async fn get_dashboard(
    State(st): State<ApiState>,
    caller: Caller,
    PathParam(id): PathParam<String>,
) -> ApiResult<axum::Json<Dashboard>> {
    Ok(axum::Json(visible(&st, &caller, &id).await?))
}

/// Creates a dashboard: private (`dashboards.write`) or shared with the tenant
/// (`dashboards.share`).
#[utoipa::path(post, path = "/api/v1/dashboards", tag = "dashboards", request_body = DashboardRequest,
    responses((status = 201, body = Dashboard), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub async fn create_dashboard(
    State(st): State<ApiState>,
    caller: Caller,
    Body(req): Body<DashboardRequest>,
) -> ApiResult<Response> {
    let core = st.core()?;
    let action = if req.shared {
        Action::DashboardsShare
    } else {
        Action::DashboardsWrite
    };
    let (tenant, scope) = target_tenant(&caller, action, req.tenant.as_ref())?;
    check(&req)?;
    let d = core
        .store
        .create_dashboard(
            &scope,
            DashboardSpec {
                tenant,
                owner: caller.actor(),
                name: req.name,
                shared: req.shared,
                widgets: req.widgets,
            },
        )
        .await?;
    audit(
        &st,
        &caller,
        &d.tenant,
        "dashboard.create",
        ("dashboard", &d.id),
        json!({ "name": d.name, "shared": d.shared, "widgets": d.widgets.len() }),
    )
    .await;
    Ok((StatusCode::CREATED, axum::Json(d)).into_response())
}

/// Replaces a dashboard's name, sharing and widgets (its tenant and owner stay).
#[utoipa::path(put, path = "/api/v1/dashboards/{id}", tag = "dashboards", params(("id" = String, Path, description = "dashboard id")),
    request_body = DashboardRequest,
    responses((status = 200, body = Dashboard), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub async fn replace_dashboard(
    State(st): State<ApiState>,
    caller: Caller,
    PathParam(id): PathParam<String>,
    Body(req): Body<DashboardRequest>,
) -> ApiResult<axum::Json<Dashboard>> {
    let core = st.core()?;
    let old = visible(&st, &caller, &id).await?;
    let scope = caller.scope(needed(&old, req.shared), std::slice::from_ref(&old.tenant))?;
    check(&req)?;
    let d = core
        .store
        .update_dashboard(
            &scope,
            &id,
            DashboardSpec {
                tenant: old.tenant.clone(),
                owner: old.owner.clone(),
                name: req.name,
                shared: req.shared,
                widgets: req.widgets,
            },
        )
        .await?;
    audit(
        &st,
        &caller,
        &d.tenant,
        "dashboard.update",
        ("dashboard", &d.id),
        json!({ "name": d.name, "shared": d.shared, "widgets": d.widgets.len() }),
    )
    .await;
    Ok(axum::Json(d))
}

/// Deletes a dashboard (one's own private one, or a shared one with `dashboards.share`).
#[utoipa::path(delete, path = "/api/v1/dashboards/{id}", tag = "dashboards", params(("id" = String, Path, description = "dashboard id")),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)), security(("bearer" = []), ("session" = [])))]
pub async fn delete_dashboard(
    State(st): State<ApiState>,
    caller: Caller,
    PathParam(id): PathParam<String>,
) -> ApiResult<Response> {
    let core = st.core()?;
    let old = visible(&st, &caller, &id).await?;
    let scope = caller.scope(needed(&old, old.shared), std::slice::from_ref(&old.tenant))?;
    core.store.delete_dashboard(&scope, &id).await?;
    audit(
        &st,
        &caller,
        &old.tenant,
        "dashboard.delete",
        ("dashboard", &id),
        json!({ "name": old.name, "shared": old.shared }),
    )
    .await;
    Ok(no_content())
}
