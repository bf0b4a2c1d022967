//! Active lists and context tables of the running correlator (`docs/correlation.md`): the
//! declarations, and per instance the entries (list, get, put, delete) and CSV import and
//! export.
//!
//! A list declared `scope: tenant` has one instance per tenant: the request's `tenant` (or the
//! caller's only tenant) picks it, checked through [`Caller::scope`] with `rules.read` /
//! `rules.write`. A `scope: shared` list has one instance, KUMA's Shared tenant: reading it
//! needs `rules.read` in any tenant (Shared is readable by all), changing it `rules.write` in
//! Shared. A key of several columns is written `v1|v2` in the path.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use vigil_core::correlation::{CorrelationHandle, ListError};
use vigil_core::{Action, TenantId};

use super::admin::audit;
use super::common::*;
use super::correlation::{correlator, one_tenant};
use crate::ApiState;

/// Largest CSV import, bytes (the API's body limit applies too).
const MAX_IMPORT: usize = 32 << 20;

impl From<ListError> for ApiError {
    fn from(e: ListError) -> ApiError {
        match &e {
            ListError::Store(vigil_correlate::StoreError::Unknown(_)) => {
                ApiError::new(StatusCode::NOT_FOUND, "not_found", e.to_string())
            }
            ListError::Store(vigil_correlate::StoreError::Full(_)) => {
                ApiError::new(StatusCode::CONFLICT, "list_full", e.to_string())
            }
            _ => ApiError::invalid(e.to_string()),
        }
    }
}

/// An active list or context table.
#[derive(Debug, Serialize, ToSchema)]
pub struct ListBody {
    /// Name.
    pub name: String,
    /// `active_list` or `context_table`.
    pub kind: String,
    /// Description.
    pub description: String,
    /// Key columns, in order.
    pub key: Vec<String>,
    /// Typed columns of a table: name → `string`, `integer`, `float`, `boolean`,
    /// `timestamp`, `ip`, `strings`.
    pub columns: BTreeMap<String, String>,
    /// Entry time to live, seconds (event time).
    pub ttl_seconds: Option<i64>,
    /// Most entries per instance.
    pub max_entries: usize,
    /// `tenant` (one instance per tenant) or `shared` (one for all).
    pub scope: String,
    /// Entries of the instance the request's tenant sees.
    pub entries: usize,
    /// Counters over all instances: writes, deletes, expired, evicted, rejected, type_errors.
    #[schema(value_type = Object)]
    pub counters: serde_json::Value,
}

/// The tenant whose instance a request addresses.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Tenant (default: Main, or the caller's only tenant; ignored for shared lists).
    pub tenant: Option<String>,
}

/// The instance tenant of `list` for this request, after the scope check.
fn instance(
    c: &CorrelationHandle,
    caller: &Caller,
    list: &str,
    tenant: &Option<String>,
    write: bool,
) -> ApiResult<TenantId> {
    let action = if write {
        Action::RulesWrite
    } else {
        Action::RulesRead
    };
    if c.is_shared(list)? {
        let shared = TenantId::shared();
        if write {
            caller.scope(action, std::slice::from_ref(&shared))?;
        } else {
            caller.scope(action, &[])?;
        }
        return Ok(shared);
    }
    one_tenant(caller, action, tenant)
}

/// Every active list and context table, with the entries of the caller's instance.
#[utoipa::path(get, path = "/api/v1/lists", tag = "lists", params(ListParams),
    responses((status = 200, body = Vec<ListBody>), (status = 403, body = ErrorBody), (status = 503, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub async fn list_lists(
    State(st): State<ApiState>,
    caller: Caller,
    Params(p): Params<ListParams>,
) -> ApiResult<axum::Json<Vec<ListBody>>> {
    let c = correlator(&st)?;
    let mut out = Vec::new();
    for l in c.lists() {
        let t = instance(&c, &caller, &l.name, &p.tenant, false)?;
        out.push(list_body(&c, l, &t)?);
    }
    Ok(axum::Json(out))
}

fn list_body(
    c: &CorrelationHandle,
    l: vigil_core::correlation::ListInfo,
    t: &TenantId,
) -> ApiResult<ListBody> {
    let entries = c.entries(&l.name, t.as_str())?.len();
    Ok(ListBody {
        entries,
        counters: serde_json::to_value(&l.stats).unwrap_or_default(),
        name: l.name,
        kind: l.kind.to_owned(),
        description: l.description,
        key: l.key,
        columns: l.columns,
        ttl_seconds: l.ttl_seconds,
        max_entries: l.max_entries,
        scope: l.scope.to_owned(),
    })
}

/// One list or table.
#[utoipa::path(get, path = "/api/v1/lists/{name}", tag = "lists",
    params(("name" = String, Path, description = "list name"), ListParams),
    responses((status = 200, body = ListBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub async fn get_list(
    State(st): State<ApiState>,
    caller: Caller,
    PathParam(name): PathParam<String>,
    Params(p): Params<ListParams>,
) -> ApiResult<axum::Json<ListBody>> {
    let c = correlator(&st)?;
    let t = instance(&c, &caller, &name, &p.tenant, false)?;
    let l = c
        .lists()
        .into_iter()
        .find(|l| l.name == name)
        .ok_or_else(|| {
            ApiError::from(ListError::Store(vigil_correlate::StoreError::Unknown(name)))
        })?;
    Ok(axum::Json(list_body(&c, l, &t)?))
}

/// An entry.
#[derive(Debug, Serialize, ToSchema)]
pub struct EntryBody {
    /// Key values, in the key columns' order.
    pub key: Vec<String>,
    /// Column → value (key columns included).
    #[schema(value_type = Object)]
    pub values: serde_json::Value,
    /// Last update (event time, RFC 3339).
    pub updated: Option<String>,
    /// When it expires (event time), if it does.
    pub expires: Option<String>,
    /// Number of updates.
    pub updates: u64,
}

fn entry_body(key: Vec<String>, e: vigil_correlate::Entry) -> EntryBody {
    let t = |ns: i64| (ns != i64::MIN).then(|| vigil_event::Timestamp(ns).to_rfc3339());
    EntryBody {
        key,
        values: serde_json::Value::Object(
            e.values
                .iter()
                .map(|(k, v)| (k.clone(), v.to_json()))
                .collect(),
        ),
        updated: t(e.updated),
        expires: e.expires.and_then(t),
        updates: e.updates,
    }
}

/// The live entries of one instance, sorted by key.
#[utoipa::path(get, path = "/api/v1/lists/{name}/entries", tag = "lists",
    params(("name" = String, Path, description = "list name"), ListParams),
    responses((status = 200, body = Vec<EntryBody>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub async fn list_entries(
    State(st): State<ApiState>,
    caller: Caller,
    PathParam(name): PathParam<String>,
    Params(p): Params<ListParams>,
) -> ApiResult<axum::Json<Vec<EntryBody>>> {
    let c = correlator(&st)?;
    let t = instance(&c, &caller, &name, &p.tenant, false)?;
    Ok(axum::Json(
        c.entries(&name, t.as_str())?
            .into_iter()
            .map(|(k, e)| entry_body(k.iter().map(|s| s.to_string()).collect(), e))
            .collect(),
    ))
}

fn split_key(key: &str) -> Vec<String> {
    key.split('|').map(str::to_owned).collect()
}

/// The key of a one-column list is the whole segment; of several, `v1|v2`.
fn key_of(c: &CorrelationHandle, list: &str, key: &str) -> ApiResult<Vec<String>> {
    let n = c
        .lists()
        .into_iter()
        .find(|l| l.name == list)
        .map(|l| l.key.len())
        .ok_or_else(|| {
            ApiError::from(ListError::Store(vigil_correlate::StoreError::Unknown(
                list.to_owned(),
            )))
        })?;
    Ok(if n == 1 {
        vec![key.to_owned()]
    } else {
        split_key(key)
    })
}

/// One entry.
#[utoipa::path(get, path = "/api/v1/lists/{name}/entries/{key}", tag = "lists",
    params(("name" = String, Path, description = "list name"), ("key" = String, Path, description = "key value (several key columns: `v1|v2`)"), ListParams),
    responses((status = 200, body = EntryBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub async fn get_entry(
    State(st): State<ApiState>,
    caller: Caller,
    PathParam((name, key)): PathParam<(String, String)>,
    Params(p): Params<ListParams>,
) -> ApiResult<axum::Json<EntryBody>> {
    let c = correlator(&st)?;
    let t = instance(&c, &caller, &name, &p.tenant, false)?;
    let k = key_of(&c, &name, &key)?;
    match c.get(&name, t.as_str(), &k)? {
        Some(e) => Ok(axum::Json(entry_body(k, e))),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no entry '{key}' in '{name}'"),
        )),
    }
}

/// An entry to write.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EntryRequest {
    /// Column → value (a table converts each to its column's type; a value that does not
    /// convert is refused).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub values: serde_json::Map<String, serde_json::Value>,
    /// Time to live, seconds (default: the list's).
    #[serde(default)]
    pub ttl_seconds: Option<i64>,
}

/// Writes (creates or replaces) an entry.
#[utoipa::path(put, path = "/api/v1/lists/{name}/entries/{key}", tag = "lists",
    params(("name" = String, Path, description = "list name"), ("key" = String, Path, description = "key value (several key columns: `v1|v2`)"), ListParams),
    request_body = EntryRequest,
    responses((status = 200, body = EntryBody), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 503, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub async fn put_entry(
    State(st): State<ApiState>,
    caller: Caller,
    PathParam((name, key)): PathParam<(String, String)>,
    Params(p): Params<ListParams>,
    Body(req): Body<EntryRequest>,
) -> ApiResult<axum::Json<EntryBody>> {
    let c = correlator(&st)?;
    let t = instance(&c, &caller, &name, &p.tenant, true)?;
    let k = key_of(&c, &name, &key)?;
    let values = req
        .values
        .iter()
        .map(|(col, v)| (col.clone(), vigil_event::Value::from_json(v)))
        .collect();
    let e = c.put(&name, t.as_str(), &k, values, req.ttl_seconds)?;
    audit(
        &st,
        &caller,
        &t,
        "list.put",
        ("list", &name),
        json!({ "key": key }),
    )
    .await;
    Ok(axum::Json(entry_body(k, e)))
}

/// Deletes an entry.
#[utoipa::path(delete, path = "/api/v1/lists/{name}/entries/{key}", tag = "lists",
    params(("name" = String, Path, description = "list name"), ("key" = String, Path, description = "key value (several key columns: `v1|v2`)"), ListParams),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub async fn delete_entry(
    State(st): State<ApiState>,
    caller: Caller,
    PathParam((name, key)): PathParam<(String, String)>,
    Params(p): Params<ListParams>,
) -> ApiResult<Response> {
    let c = correlator(&st)?;
    let t = instance(&c, &caller, &name, &p.tenant, true)?;
    let k = key_of(&c, &name, &key)?;
    if !c.delete(&name, t.as_str(), &k)? {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no entry '{key}' in '{name}'"),
        ));
    }
    audit(
        &st,
        &caller,
        &t,
        "list.delete",
        ("list", &name),
        json!({ "key": key }),
    )
    .await;
    Ok(no_content())
}

/// One instance as CSV: key columns, the other columns, `_expires`.
#[utoipa::path(get, path = "/api/v1/lists/{name}/export", tag = "lists",
    params(("name" = String, Path, description = "list name"), ListParams),
    responses((status = 200, content_type = "text/csv", body = String), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub async fn export_csv(
    State(st): State<ApiState>,
    caller: Caller,
    PathParam(name): PathParam<String>,
    Params(p): Params<ListParams>,
) -> ApiResult<Response> {
    let c = correlator(&st)?;
    let t = instance(&c, &caller, &name, &p.tenant, false)?;
    let text = c.export_csv(&name, t.as_str())?;
    let mut resp = text.into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    Ok(resp)
}

/// What an import did.
#[derive(Debug, Serialize, ToSchema)]
pub struct ListImportResult {
    /// Entries written.
    pub written: usize,
}

/// Imports CSV into one instance (a header naming every key column, then any columns;
/// `_expires` optional). All rows or none: every problem is answered with its line.
#[utoipa::path(post, path = "/api/v1/lists/{name}/import", tag = "lists",
    params(("name" = String, Path, description = "list name"), ListParams),
    request_body(content = String, content_type = "text/csv"),
    responses((status = 200, body = ListImportResult), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 413, body = ErrorBody), (status = 503, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub async fn import_csv(
    State(st): State<ApiState>,
    caller: Caller,
    PathParam(name): PathParam<String>,
    Params(p): Params<ListParams>,
    body: axum::body::Bytes,
) -> ApiResult<axum::Json<ListImportResult>> {
    let c = correlator(&st)?;
    let t = instance(&c, &caller, &name, &p.tenant, true)?;
    if body.len() > MAX_IMPORT {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!("a CSV import is at most {MAX_IMPORT} bytes"),
        ));
    }
    let text = std::str::from_utf8(&body)
        .map_err(|_| ApiError::invalid("the CSV is not UTF-8"))?
        .to_owned();
    let (c2, n2, t2) = (c.clone(), name.clone(), t.clone());
    let written = tokio::task::spawn_blocking(move || c2.import_csv(&n2, t2.as_str(), &text))
        .await
        .map_err(ApiError::internal)??;
    audit(
        &st,
        &caller,
        &t,
        "list.import",
        ("list", &name),
        json!({ "written": written }),
    )
    .await;
    Ok(axum::Json(ListImportResult { written }))
}
