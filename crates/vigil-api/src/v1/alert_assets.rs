//! The assets an alert is about: `GET /api/v1/alerts/{id}/assets` resolves the alert's host
//! and IP entities to the assets of its tenant (learned from events or imported), so the alert
//! page can link each entity to its asset. Needs `alerts.read` for the alert and `assets.read`
//! in its tenant.

use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;
use vigil_core::{Action, Asset, AssetQuery, EntityKind, Page};

use super::common::*;
use crate::ApiState;

/// One entity of an alert and the asset it names.
#[derive(Debug, Serialize, ToSchema)]
pub struct EntityAsset {
    /// `host` or `ip`.
    pub kind: EntityKind,
    /// The entity's value as the alert holds it.
    pub value: String,
    /// The asset.
    pub asset: Asset,
}

/// The assets of an alert's host and IP entities (entities without an asset are left out).
#[utoipa::path(get, path = "/api/v1/alerts/{id}/assets", tag = "alerts", params(("id" = String, Path, description = "alert id")),
    responses((status = 200, body = Vec<EntityAsset>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub async fn alert_assets(
    State(st): State<ApiState>,
    caller: Caller,
    PathParam(id): PathParam<String>,
) -> ApiResult<axum::Json<Vec<EntityAsset>>> {
    let core = st.core()?;
    let scope = caller.scope(Action::AlertsRead, &[])?;
    let alert = core.store.get_alert(&scope, &id).await?;
    let assets = caller.scope(Action::AssetsRead, std::slice::from_ref(&alert.tenant))?;
    let mut out = Vec::new();
    for e in &alert.entities {
        let q = match e.kind {
            EntityKind::Host => AssetQuery {
                name: Some(e.value.clone()),
                ..AssetQuery::default()
            },
            EntityKind::Ip => AssetQuery {
                ip: Some(e.value.clone()),
                ..AssetQuery::default()
            },
            _ => continue,
        };
        let found = core
            .store
            .list_assets(&assets, &q, &Page::first(50))
            .await?;
        for a in found.items.into_iter().filter(|a| a.tenant == alert.tenant) {
            // a name filter matches substrings: keep the exact name
            if e.kind == EntityKind::Host && !a.name.eq_ignore_ascii_case(&e.value) {
                continue;
            }
            out.push(EntityAsset {
                kind: e.kind,
                value: e.value.clone(),
                asset: a,
            });
        }
    }
    Ok(axum::Json(out))
}
