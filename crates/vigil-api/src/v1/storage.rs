//! Storage spaces of the event store: their retention, hot age and usage per tenant
//! (`storage.read`), and their retention changed at run time (`storage.write`:
//! administrators), audited in the tenant's trail and the store's own audit log.
//!
//! The handlers call the event store's [`vigil_store::EventStore::storage_spaces`] and
//! [`vigil_store::EventStore::set_space_retention`] on blocking threads (they touch files).
//! A store without spaces (ClickHouse) answers 409 `not_supported`.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use vigil_core::{Action, TenantId};
use vigil_store::{EventStore, RetentionSetting, SpaceInfo, StoreError};

use super::admin::audit;
use super::common::*;
use crate::ApiState;

/// A storage space of a tenant.
#[derive(Debug, Serialize, ToSchema)]
pub struct StorageSpace {
    /// Tenant.
    pub tenant: TenantId,
    /// Space name (`default`: the events no other space's condition takes).
    pub name: String,
    /// Routing condition (a query filter); none for `default` and for spaces no longer
    /// configured.
    pub condition: Option<String>,
    /// Retention in force, in seconds; none: kept forever.
    pub retention_secs: Option<u64>,
    /// Retention in force as text (`30d`, `forever`).
    pub retention: String,
    /// Retention the configuration gives, in seconds; none: forever.
    pub configured_retention_secs: Option<u64>,
    /// Whether the retention in force was set through the API (it wins over the
    /// configuration, across restarts, until set back).
    pub retention_overridden: bool,
    /// Segments older than this many seconds move to the cold tier; none: never.
    pub hot_age_secs: Option<u64>,
    /// Events stored.
    pub events: u64,
    /// Segment files.
    pub segments: u64,
    /// Bytes on disk (segments and write-ahead log).
    pub bytes: u64,
    /// Bytes in the cold tier (included in `bytes`).
    pub cold_bytes: u64,
    /// Events in the cold tier.
    pub cold_events: u64,
    /// Oldest event time in a sealed segment.
    pub oldest: Option<DateTime<Utc>>,
    /// Newest event time in a sealed segment.
    pub newest: Option<DateTime<Utc>>,
}

/// `30d`, `12h`, `90m`, `45s`, or `forever`.
pub fn humanize(d: Option<Duration>) -> String {
    match d.map(|d| d.as_secs()) {
        None => "forever".into(),
        Some(s) if s > 0 && s % 86_400 == 0 => format!("{}d", s / 86_400),
        Some(s) if s > 0 && s % 3600 == 0 => format!("{}h", s / 3600),
        Some(s) if s > 0 && s % 60 == 0 => format!("{}m", s / 60),
        Some(s) => format!("{s}s"),
    }
}

fn time(t: Option<vigil_event::Timestamp>) -> Option<DateTime<Utc>> {
    t.map(|t| DateTime::from_timestamp_nanos(t.0))
}

fn space(tenant: &TenantId, s: SpaceInfo) -> StorageSpace {
    StorageSpace {
        tenant: tenant.clone(),
        retention: humanize(s.retention),
        retention_secs: s.retention.map(|d| d.as_secs()),
        configured_retention_secs: s.configured_retention.map(|d| d.as_secs()),
        retention_overridden: s.retention_overridden,
        hot_age_secs: s.hot_age.map(|d| d.as_secs()),
        name: s.name,
        condition: s.condition,
        events: s.events,
        segments: s.segments,
        bytes: s.bytes,
        cold_bytes: s.cold_bytes,
        cold_events: s.cold_events,
        oldest: time(s.oldest),
        newest: time(s.newest),
    }
}

fn store(st: &ApiState) -> ApiResult<Arc<dyn EventStore>> {
    st.core()?.events.clone().ok_or_else(|| {
        ApiError::new(
            StatusCode::CONFLICT,
            "not_supported",
            "this server has no event store handle",
        )
    })
}

fn store_err(e: StoreError) -> ApiError {
    match e {
        StoreError::Unsupported(m) => ApiError::new(StatusCode::CONFLICT, "not_supported", m),
        StoreError::Invalid(m) => ApiError::invalid(m),
        other => ApiError::internal(other),
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> ApiResult<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(ApiError::internal)?
        .map_err(store_err)
}

/// Which tenants' spaces to list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SpaceParams {
    /// Tenants (comma-separated); every tenant where the caller has `storage.read` by default.
    pub tenant: Option<String>,
}

/// The storage spaces of the caller's tenants with their retention, hot age and usage
/// (`storage.read`), by tenant, the default space first.
#[utoipa::path(get, path = "/api/v1/storage/spaces", tag = "storage", params(SpaceParams),
    responses((status = 200, body = Vec<StorageSpace>), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub async fn list_spaces(
    State(st): State<ApiState>,
    caller: Caller,
    Params(p): Params<SpaceParams>,
) -> ApiResult<axum::Json<Vec<StorageSpace>>> {
    let scope = caller.scope(Action::StorageRead, &tenants(&p.tenant)?)?;
    let events = store(&st)?;
    let ids: Vec<TenantId> = scope.iter().cloned().collect();
    let out = blocking(move || {
        let mut out = Vec::new();
        for t in &ids {
            for s in events.storage_spaces(t)? {
                out.push(space(t, s));
            }
        }
        Ok(out)
    })
    .await?;
    Ok(axum::Json(out))
}

/// A new retention for a storage space.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RetentionRequest {
    /// `30d`, `12h`, ... (at least a minute), `forever`, or null to go back to the
    /// configuration's retention. Required.
    #[serde(default, deserialize_with = "super::admin::double_option")]
    #[schema(value_type = Option<String>, required = true)]
    pub retention: Option<Option<String>>,
}

fn setting(r: &RetentionRequest) -> ApiResult<RetentionSetting> {
    let Some(value) = &r.retention else {
        return Err(ApiError::invalid(
            "retention: required (a duration, forever, or null for the configuration's)",
        ));
    };
    match value.as_deref().map(str::trim) {
        None => Ok(RetentionSetting::Configured),
        Some("forever") => Ok(RetentionSetting::Forever),
        Some(s) => {
            let d = vigil_config::parse_duration(s)
                .map_err(|e| ApiError::invalid(format!("retention: {e}, or forever")))?;
            if d < Duration::from_secs(60) {
                return Err(ApiError::invalid("retention: at least 1m"));
            }
            Ok(RetentionSetting::For(Duration::from_secs(d.as_secs())))
        }
    }
}

/// Sets a storage space's retention (`storage.write`: administrators of the tenant). In force
/// for searches at once and for the next retention pass, which deletes what is past it; kept
/// across restarts. Audited.
#[utoipa::path(put, path = "/api/v1/storage/spaces/{tenant}/{space}/retention", tag = "storage",
    params(("tenant" = String, Path, description = "tenant"), ("space" = String, Path, description = "space name")),
    request_body = RetentionRequest,
    responses((status = 200, body = StorageSpace), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub async fn set_retention(
    State(st): State<ApiState>,
    caller: Caller,
    PathParam((tenant_name, space_name)): PathParam<(String, String)>,
    Body(req): Body<RetentionRequest>,
) -> ApiResult<axum::Json<StorageSpace>> {
    let t = tenant(&tenant_name)?;
    caller.scope(Action::StorageWrite, std::slice::from_ref(&t))?;
    let set = setting(&req)?;
    let events = store(&st)?;
    let before = {
        let (events, t, name) = (events.clone(), t.clone(), space_name.clone());
        blocking(move || {
            Ok(events
                .storage_spaces(&t)?
                .into_iter()
                .find(|s| s.name == name))
        })
        .await?
    }
    .ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("tenant {t} has no storage space {space_name:?}"),
        )
    })?;
    let actor = caller.actor();
    let after = {
        let (t, name) = (t.clone(), space_name.clone());
        blocking(move || events.set_space_retention(&t, &name, set, &actor)).await?
    };
    audit(
        &st,
        &caller,
        &t,
        "storage.retention.set",
        ("storage_space", &space_name),
        json!({
            "from": humanize(before.retention),
            "to": humanize(after.retention),
            "configured": humanize(after.configured_retention),
            "overridden": after.retention_overridden,
        }),
    )
    .await;
    Ok(axum::Json(space(&t, after)))
}
