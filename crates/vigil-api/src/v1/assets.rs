//! Assets (CRUD, CSV import and export) and saved searches.

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use vigil_core::{
    Action, Asset, AssetQuery, AssetSort, AssetSpec, Criticality, Paged, SavedSearch,
    SavedSearchSpec, SortDir, TenantId,
};

use super::admin::audit;
use super::common::*;
use crate::ApiState;

/// Which assets to list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AssetParams {
    /// Tenants (comma-separated).
    pub tenant: Option<String>,
    /// Name contains.
    pub name: Option<String>,
    /// Has this address.
    pub ip: Option<String>,
    /// At least this criticality.
    pub min_criticality: Option<Criticality>,
    /// In this category.
    pub category: Option<String>,
    /// `name` (default), `last_seen`, `criticality`.
    pub sort: Option<AssetSort>,
    /// `desc` or `asc` (default for names).
    pub dir: Option<SortDir>,
    /// Rows per page.
    pub limit: Option<u32>,
    /// Cursor.
    pub cursor: Option<String>,
}

/// Lists assets.
#[utoipa::path(get, path = "/api/v1/assets", tag = "assets", params(AssetParams),
    responses((status = 200, body = Paged<Asset>), (status = 403, body = ErrorBody)), security(("bearer" = []), ("session" = [])))]
pub async fn list_assets(
    State(st): State<ApiState>,
    caller: Caller,
    Params(p): Params<AssetParams>,
) -> ApiResult<axum::Json<Paged<Asset>>> {
    let core = st.core()?;
    let scope = caller.scope(Action::AssetsRead, &tenants(&p.tenant)?)?;
    let q = AssetQuery {
        name: p.name,
        ip: p.ip,
        min_criticality: p.min_criticality,
        category: p.category,
        sort: p.sort.unwrap_or_default(),
        dir: p.dir.unwrap_or(if p.sort.is_none() {
            SortDir::Asc
        } else {
            SortDir::Desc
        }),
    };
    Ok(axum::Json(
        core.store
            .list_assets(&scope, &q, &page(p.limit, &p.cursor))
            .await?,
    ))
}

/// An asset to create or the new state of one.
#[derive(Debug, Deserialize, ToSchema)]
pub struct AssetRequest {
    /// Tenant (for a create; may be left out by a caller with one tenant).
    #[serde(default)]
    pub tenant: Option<TenantId>,
    /// Host name or FQDN.
    pub name: String,
    /// Addresses.
    #[serde(default)]
    pub ips: Vec<String>,
    /// Owner.
    #[serde(default)]
    pub owner: Option<String>,
    /// Criticality (default low).
    #[serde(default)]
    pub criticality: Option<Criticality>,
    /// Categories.
    #[serde(default)]
    pub categories: Vec<String>,
    /// Operating system.
    #[serde(default)]
    pub os: Option<String>,
    /// Description.
    #[serde(default)]
    pub description: String,
}

fn check_asset(r: &AssetRequest) -> ApiResult<()> {
    let mut problems = Vec::new();
    if r.name.trim().is_empty() || r.name.len() > 255 {
        problems.push("name: 1 to 255 bytes".to_owned());
    }
    for ip in &r.ips {
        if ip.parse::<std::net::IpAddr>().is_err() {
            problems.push(format!("ips: {ip:?} is not an IP address"));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid(problems.join("; ")))
    }
}

fn spec(tenant: TenantId, r: AssetRequest, sources: Vec<String>) -> AssetSpec {
    AssetSpec {
        tenant,
        name: r.name.trim().to_owned(),
        ips: r.ips,
        owner: r.owner,
        criticality: r.criticality.unwrap_or(Criticality::Low),
        categories: r.categories,
        os: r.os,
        description: r.description,
        sources,
    }
}

/// Creates an asset.
#[utoipa::path(post, path = "/api/v1/assets", tag = "assets", request_body = AssetRequest,
    responses((status = 201, body = Asset), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub async fn create_asset(
    State(st): State<ApiState>,
    caller: Caller,
    Body(req): Body<AssetRequest>,
) -> ApiResult<Response> {
    let core = st.core()?;
    check_asset(&req)?;
    let (t, scope) = target_tenant(&caller, Action::AssetsWrite, req.tenant.as_ref())?;
    let a = core
        .store
        .create_asset(&scope, spec(t, req, vec!["manual".into()]))
        .await?;
    core.assets.put(&a);
    audit(
        &st,
        &caller,
        &a.tenant,
        "asset.create",
        ("asset", &a.id),
        json!({ "name": a.name, "criticality": a.criticality }),
    )
    .await;
    Ok((StatusCode::CREATED, axum::Json(a)).into_response())
}

/// One asset.
#[utoipa::path(get, path = "/api/v1/assets/{id}", tag = "assets", params(("id" = String, Path, description = "asset id")),
    responses((status = 200, body = Asset), (status = 404, body = ErrorBody)), security(("bearer" = []), ("session" = [])))]
pub async fn get_asset(
    State(st): State<ApiState>,
    caller: Caller,
    PathParam(id): PathParam<String>,
) -> ApiResult<axum::Json<Asset>> {
    let core = st.core()?;
    let scope = caller.scope(Action::AssetsRead, &[])?;
    Ok(axum::Json(core.store.get_asset(&scope, &id).await?))
}

/// Replaces an asset's fields (the tenant stays).
#[utoipa::path(put, path = "/api/v1/assets/{id}", tag = "assets", params(("id" = String, Path, description = "asset id")),
    request_body = AssetRequest,
    responses((status = 200, body = Asset), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub async fn replace_asset(
    State(st): State<ApiState>,
    caller: Caller,
    PathParam(id): PathParam<String>,
    Body(req): Body<AssetRequest>,
) -> ApiResult<axum::Json<Asset>> {
    let core = st.core()?;
    check_asset(&req)?;
    let scope = caller.scope(Action::AssetsWrite, &[])?;
    let old = core.store.get_asset(&scope, &id).await?;
    if req.tenant.as_ref().is_some_and(|t| *t != old.tenant) {
        return Err(ApiError::invalid("tenant: an asset cannot change tenant"));
    }
    let a = core
        .store
        .update_asset(&scope, &id, spec(old.tenant.clone(), req, old.sources))
        .await?;
    core.assets.put(&a);
    audit(
        &st,
        &caller,
        &a.tenant,
        "asset.update",
        ("asset", &a.id),
        json!({ "name": a.name, "criticality": a.criticality }),
    )
    .await;
    Ok(axum::Json(a))
}

/// Deletes an asset.
#[utoipa::path(delete, path = "/api/v1/assets/{id}", tag = "assets", params(("id" = String, Path, description = "asset id")),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)), security(("bearer" = []), ("session" = [])))]
pub async fn delete_asset(
    State(st): State<ApiState>,
    caller: Caller,
    PathParam(id): PathParam<String>,
) -> ApiResult<Response> {
    let core = st.core()?;
    let scope = caller.scope(Action::AssetsWrite, &[])?;
    let a = core.store.get_asset(&scope, &id).await?;
    core.store.delete_asset(&scope, &id).await?;
    core.assets.forget(&id);
    audit(
        &st,
        &caller,
        &a.tenant,
        "asset.delete",
        ("asset", &id),
        json!({ "name": a.name }),
    )
    .await;
    Ok(no_content())
}

/// The tenant of an import or export.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CsvParams {
    /// Tenant (may be left out by a caller with one tenant; export: comma-separated list).
    pub tenant: Option<String>,
    /// Import label, kept in the assets' sources as `import:<label>` (default `api`).
    pub label: Option<String>,
}

/// One rejected row of an import.
#[derive(Debug, Serialize, ToSchema)]
pub struct CsvRowError {
    /// Line (the header is line 1).
    pub line: u64,
    /// Every problem of the row.
    pub message: String,
}

/// What an import did.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImportResult {
    /// Rows read.
    pub rows: u64,
    /// Assets created.
    pub created: u64,
    /// Assets updated.
    pub updated: u64,
    /// Rows skipped, with why.
    pub errors: Vec<CsvRowError>,
}

/// Imports assets from CSV (`name, ips, owner, criticality, categories, os, description`;
/// lists separated by `;`), merged by name then address.
#[utoipa::path(post, path = "/api/v1/assets/import", tag = "assets", params(CsvParams),
    request_body(content = String, content_type = "text/csv"),
    responses((status = 200, body = ImportResult), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub async fn import_csv(
    State(st): State<ApiState>,
    caller: Caller,
    Params(p): Params<CsvParams>,
    body: axum::body::Bytes,
) -> ApiResult<axum::Json<ImportResult>> {
    let core = st.core()?;
    let named = tenants(&p.tenant)?;
    if named.len() > 1 {
        return Err(ApiError::invalid("tenant: an import goes to one tenant"));
    }
    let (t, scope) = target_tenant(&caller, Action::AssetsWrite, named.first())?;
    let label = p.label.unwrap_or_else(|| "api".into());
    if label.is_empty()
        || label.len() > 64
        || !label
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
    {
        return Err(ApiError::invalid(
            "label: 1 to 64 characters of a-z, 0-9, '.', '_', '-'",
        ));
    }
    let r = core
        .assets
        .import_csv(&scope, &t, body.as_ref(), &label)
        .await?;
    audit(
        &st,
        &caller,
        &t,
        "asset.import",
        ("asset", "*"),
        json!({ "label": label, "rows": r.rows, "created": r.created, "updated": r.updated, "errors": r.errors.len() }),
    )
    .await;
    Ok(axum::Json(ImportResult {
        rows: r.rows,
        created: r.created,
        updated: r.updated,
        errors: r
            .errors
            .into_iter()
            .map(|e| CsvRowError {
                line: e.line,
                message: e.message,
            })
            .collect(),
    }))
}

/// Exports the assets in scope as CSV (the import's columns plus sources, first and last seen).
#[utoipa::path(get, path = "/api/v1/assets/export", tag = "assets", params(CsvParams),
    responses((status = 200, content_type = "text/csv", body = String), (status = 403, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub async fn export_csv(
    State(st): State<ApiState>,
    caller: Caller,
    Params(p): Params<CsvParams>,
) -> ApiResult<Response> {
    let core = st.core()?;
    let scope = caller.scope(Action::AssetsRead, &tenants(&p.tenant)?)?;
    let mut out = Vec::new();
    core.assets.export_csv(&scope, &mut out).await?;
    let mut resp = out.into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    resp.headers_mut().insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"assets.csv\""),
    );
    Ok(resp)
}

// ------------------------------------------------------------------ saved searches

/// Which saved searches to list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SavedParams {
    /// Tenants (comma-separated).
    pub tenant: Option<String>,
}

/// Saved searches the caller may use: their own and the shared ones.
#[utoipa::path(get, path = "/api/v1/saved-searches", tag = "saved searches", params(SavedParams),
    responses((status = 200, body = Vec<SavedSearch>), (status = 403, body = ErrorBody)), security(("bearer" = []), ("session" = [])))]
pub async fn list_saved(
    State(st): State<ApiState>,
    caller: Caller,
    Params(p): Params<SavedParams>,
) -> ApiResult<axum::Json<Vec<SavedSearch>>> {
    let core = st.core()?;
    let scope = caller.scope(Action::Search, &tenants(&p.tenant)?)?;
    Ok(axum::Json(
        core.store
            .list_saved_searches(&scope, &caller.actor())
            .await?,
    ))
}

/// A saved search to create or the new state of one.
#[derive(Debug, Deserialize, ToSchema)]
pub struct SavedRequest {
    /// Tenant (may be left out by a caller with one tenant).
    #[serde(default)]
    pub tenant: Option<TenantId>,
    /// Name (unique per owner and tenant).
    pub name: String,
    /// The query.
    pub query: String,
    /// Time range (`24h`, `7d`, `FROM..TO`; default `24h`).
    #[serde(default)]
    pub time_range: Option<String>,
    /// Shared with the tenant's other users.
    #[serde(default)]
    pub shared: bool,
}

fn saved_spec(tenant: TenantId, owner: String, r: SavedRequest) -> ApiResult<SavedSearchSpec> {
    if r.name.trim().is_empty() || r.name.len() > 200 {
        return Err(ApiError::invalid("name: 1 to 200 bytes"));
    }
    if r.query.len() > 65_536 {
        return Err(ApiError::invalid("query: at most 64 KiB"));
    }
    Ok(SavedSearchSpec {
        tenant,
        owner,
        name: r.name.trim().to_owned(),
        query: r.query,
        time_range: r.time_range.unwrap_or_else(|| "24h".into()),
        shared: r.shared,
    })
}

/// Saves a search.
#[utoipa::path(post, path = "/api/v1/saved-searches", tag = "saved searches", request_body = SavedRequest,
    responses((status = 201, body = SavedSearch), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub async fn create_saved(
    State(st): State<ApiState>,
    caller: Caller,
    Body(req): Body<SavedRequest>,
) -> ApiResult<Response> {
    let core = st.core()?;
    let (t, scope) = target_tenant(&caller, Action::Search, req.tenant.as_ref())?;
    let s = core
        .store
        .create_saved_search(&scope, saved_spec(t, caller.actor(), req)?)
        .await?;
    Ok((StatusCode::CREATED, axum::Json(s)).into_response())
}

async fn own_saved(st: &ApiState, caller: &Caller, id: &str) -> ApiResult<SavedSearch> {
    let core = st.core()?;
    let scope = caller.scope(Action::Search, &[])?;
    core.store
        .list_saved_searches(&scope, &caller.actor())
        .await?
        .into_iter()
        .find(|s| s.id == id && s.owner == caller.actor())
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("saved search {id:?} not found"),
            )
        })
}

/// Replaces one of the caller's saved searches.
#[utoipa::path(put, path = "/api/v1/saved-searches/{id}", tag = "saved searches", params(("id" = String, Path, description = "saved search id")),
    request_body = SavedRequest,
    responses((status = 200, body = SavedSearch), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub async fn replace_saved(
    State(st): State<ApiState>,
    caller: Caller,
    PathParam(id): PathParam<String>,
    Body(req): Body<SavedRequest>,
) -> ApiResult<axum::Json<SavedSearch>> {
    let core = st.core()?;
    let old = own_saved(&st, &caller, &id).await?;
    let scope = caller.scope(Action::Search, std::slice::from_ref(&old.tenant))?;
    Ok(axum::Json(
        core.store
            .update_saved_search(&scope, &id, saved_spec(old.tenant, old.owner, req)?)
            .await?,
    ))
}

/// Deletes one of the caller's saved searches.
#[utoipa::path(delete, path = "/api/v1/saved-searches/{id}", tag = "saved searches", params(("id" = String, Path, description = "saved search id")),
    responses((status = 204), (status = 404, body = ErrorBody)), security(("bearer" = []), ("session" = [])))]
pub async fn delete_saved(
    State(st): State<ApiState>,
    caller: Caller,
    PathParam(id): PathParam<String>,
) -> ApiResult<Response> {
    let core = st.core()?;
    let old = own_saved(&st, &caller, &id).await?;
    let scope = caller.scope(Action::Search, std::slice::from_ref(&old.tenant))?;
    core.store.delete_saved_search(&scope, &id).await?;
    Ok(no_content())
}
