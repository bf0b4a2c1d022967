//! The audit trail's hash chain: `GET /api/v1/audit/verify` checks each tenant's chain (every
//! record against its fields and the record before it, no gap, the head against the last
//! record) and says what failed.

use axum::extract::State;
use vigil_core::{Action, AuditChainReport};

use super::admin::TenantParams;
use super::common::*;
use crate::ApiState;

/// Verifies the audit hash chain of each tenant (`audit.read`).
#[utoipa::path(get, path = "/api/v1/audit/verify", tag = "audit", params(TenantParams),
    responses((status = 200, body = Vec<AuditChainReport>), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub async fn verify_audit(
    State(st): State<ApiState>,
    caller: Caller,
    Params(p): Params<TenantParams>,
) -> ApiResult<axum::Json<Vec<AuditChainReport>>> {
    let core = st.core()?;
    let scope = caller.scope(Action::AuditRead, &tenants(&p.tenant)?)?;
    Ok(axum::Json(core.store.verify_audit(&scope).await?))
}
