//! Authentication, users, tokens, tenants, roles and the audit trail.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use vigil_core::auth::{CreateUser, TokenRequest};
use vigil_core::rbac::role_allows;
use vigil_core::{
    Action, ApiToken, AuditOutcome, AuditQuery, AuditRecord, MonitoringPolicy,
    MonitoringPolicySpec, NewAuditRecord, NewTenant, Paged, Principal, Role, RoleGrant, Secret,
    Tenant, TenantId, User, UserPatch, UserQuery,
};

use super::common::*;
use crate::ApiState;

/// Deserializes a field that may be absent (leave it), `null` (clear it) or a value.
pub fn double_option<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// Appends an audit record for a change made through the API (failures are logged).
pub async fn audit(
    st: &ApiState,
    caller: &Caller,
    tenant: &TenantId,
    action: &str,
    target: (&str, &str),
    details: serde_json::Value,
) {
    let Ok(core) = st.core() else { return };
    let rec = NewAuditRecord {
        tenant: tenant.clone(),
        at: Utc::now(),
        actor: caller.actor(),
        action: action.to_owned(),
        target_kind: target.0.to_owned(),
        target_id: target.1.to_owned(),
        outcome: AuditOutcome::Success,
        source_ip: caller.ip.clone(),
        details,
    };
    if let Err(e) = core.store.append_audit(rec).await {
        tracing::error!(error = %e, action, "audit record not written");
    }
}

// ------------------------------------------------------------------ authentication

/// A login.
#[derive(Deserialize, ToSchema)]
pub struct LoginRequest {
    /// User name.
    pub username: String,
    /// Password.
    pub password: String,
    /// TOTP code, when the account has a second factor.
    #[serde(default)]
    pub totp: Option<String>,
}

impl std::fmt::Debug for LoginRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginRequest")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// A session opened: the cookie is in `Set-Cookie`; send `csrf_token` as `X-CSRF-Token` on
/// every write.
#[derive(Debug, Serialize, ToSchema)]
pub struct LoginResponse {
    /// The CSRF token of the session.
    pub csrf_token: String,
    /// When the session ends at the latest.
    pub expires_at: DateTime<Utc>,
    /// Who logged in.
    pub principal: Principal,
}

/// Logs in with a user name and password (and TOTP code) and opens a session.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = LoginResponse, description = "session opened; the cookie is in Set-Cookie"),
        (status = 401, body = ErrorBody), (status = 429, body = ErrorBody)), security(()))]
pub async fn login(
    State(st): State<ApiState>,
    ClientIp(ip): ClientIp,
    Body(req): Body<LoginRequest>,
) -> ApiResult<Response> {
    let core = st.core()?;
    let password = Secret::new(req.password);
    let s = core
        .auth
        .login(&req.username, &password, req.totp.as_deref(), ip.as_deref())
        .await?;
    let cookie = core.auth.cookie(core.tls).set_cookie(&s.cookie_value);
    let mut resp = axum::Json(LoginResponse {
        csrf_token: s.csrf_token.clone(),
        expires_at: s.session.expires_at,
        principal: s.principal.clone(),
    })
    .into_response();
    let v = HeaderValue::from_str(cookie.expose()).map_err(ApiError::internal)?;
    resp.headers_mut().insert(header::SET_COOKIE, v);
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

/// Ends the caller's session (a no-op for tokens) and clears the cookie.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth",
    responses((status = 204), (status = 401, body = ErrorBody)), security(("bearer" = []), ("session" = [])))]
pub async fn logout(
    State(st): State<ApiState>,
    caller: Caller,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let core = st.core()?;
    let attrs = core.auth.cookie(core.tls);
    if let Some(v) = headers
        .get(header::COOKIE)
        .and_then(|c| c.to_str().ok())
        .and_then(|c| attrs.find_in(c))
    {
        core.auth.logout(v, caller.ip()).await?;
    }
    let mut resp = no_content();
    let v = HeaderValue::from_str(&attrs.clear_cookie()).map_err(ApiError::internal)?;
    resp.headers_mut().insert(header::SET_COOKIE, v);
    Ok(resp)
}

/// The caller: user or token, and the role held in each tenant.
#[utoipa::path(get, path = "/api/v1/auth/me", tag = "auth",
    responses((status = 200, body = Principal), (status = 401, body = ErrorBody)), security(("bearer" = []), ("session" = [])))]
pub async fn me(caller: Caller) -> axum::Json<Principal> {
    axum::Json(caller.principal)
}

/// A password change.
#[derive(Deserialize, ToSchema)]
pub struct PasswordChange {
    /// The current password.
    pub current: String,
    /// The new password (policy: length, not the user name, not common).
    pub new: String,
}

impl std::fmt::Debug for PasswordChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PasswordChange { .. }")
    }
}

/// Changes the caller's own password (sessions only); every session of the user ends.
#[utoipa::path(post, path = "/api/v1/auth/password", tag = "auth", request_body = PasswordChange,
    responses((status = 204), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)), security(("session" = [])))]
pub async fn change_password(
    State(st): State<ApiState>,
    caller: Caller,
    Body(req): Body<PasswordChange>,
) -> ApiResult<Response> {
    let core = st.core()?;
    core.auth
        .change_own_password(
            &caller.principal,
            &Secret::new(req.current),
            &Secret::new(req.new),
            caller.ip(),
        )
        .await?;
    Ok(no_content())
}

// ------------------------------------------------------------------ users

/// Which users to list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UserParams {
    /// Tenants (comma-separated); default: every tenant where the caller may read users.
    pub tenant: Option<String>,
    /// Name contains.
    pub text: Option<String>,
    /// Include disabled users.
    pub include_disabled: Option<bool>,
    /// Rows per page (1–1000, default 50).
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Lists users with a role in the tenants.
#[utoipa::path(get, path = "/api/v1/users", tag = "users", params(UserParams),
    responses((status = 200, body = Paged<User>), (status = 403, body = ErrorBody)), security(("bearer" = []), ("session" = [])))]
pub async fn list_users(
    State(st): State<ApiState>,
    caller: Caller,
    Params(p): Params<UserParams>,
) -> ApiResult<axum::Json<Paged<User>>> {
    let core = st.core()?;
    let scope = caller.scope(Action::UsersRead, &tenants(&p.tenant)?)?;
    let q = UserQuery {
        text: p.text,
        include_disabled: p.include_disabled.unwrap_or(false),
    };
    Ok(axum::Json(
        core.store
            .list_users(&scope, &q, &page(p.limit, &p.cursor))
            .await?,
    ))
}

/// A user to create.
#[derive(Deserialize, ToSchema)]
pub struct NewUserRequest {
    /// Login name.
    pub username: String,
    /// Display name.
    #[serde(default)]
    pub display_name: String,
    /// E-mail.
    #[serde(default)]
    pub email: Option<String>,
    /// Initial password; absent: one is generated, returned once, and must be changed.
    #[serde(default)]
    pub password: Option<String>,
    /// Roles per tenant (each within the caller's own).
    pub roles: Vec<RoleGrant>,
}

impl std::fmt::Debug for NewUserRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewUserRequest")
            .field("username", &self.username)
            .field("roles", &self.roles)
            .finish_non_exhaustive()
    }
}

/// A user just created, with the generated password shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedUser {
    /// The user.
    pub user: User,
    /// The generated password, when none was given.
    pub password: Option<String>,
}

/// Creates a local user.
#[utoipa::path(post, path = "/api/v1/users", tag = "users", request_body = NewUserRequest,
    responses((status = 201, body = CreatedUser), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub async fn create_user(
    State(st): State<ApiState>,
    caller: Caller,
    Body(req): Body<NewUserRequest>,
) -> ApiResult<Response> {
    let core = st.core()?;
    let (user, pw) = core
        .auth
        .create_user(
            &caller.principal,
            CreateUser {
                username: req.username,
                display_name: req.display_name,
                email: req.email,
                password: req.password.map(Secret::new),
                roles: req.roles,
            },
        )
        .await?;
    let body = CreatedUser {
        user,
        password: pw.map(|p| p.expose().to_owned()),
    };
    let mut resp = (StatusCode::CREATED, axum::Json(body)).into_response();
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

/// One user.
#[utoipa::path(get, path = "/api/v1/users/{id}", tag = "users", params(("id" = String, Path, description = "user id")),
    responses((status = 200, body = User), (status = 404, body = ErrorBody)), security(("bearer" = []), ("session" = [])))]
pub async fn get_user(
    State(st): State<ApiState>,
    caller: Caller,
    PathParam(id): PathParam<String>,
) -> ApiResult<axum::Json<User>> {
    let core = st.core()?;
    let scope = caller.scope(Action::UsersRead, &[])?;
    Ok(axum::Json(core.store.get_user(&scope, &id).await?))
}

/// Changes to a user; absent fields stay.
#[derive(Debug, Deserialize, ToSchema)]
pub struct UserUpdate {
    /// Display name.
    #[serde(default)]
    pub display_name: Option<String>,
    /// E-mail (`null` clears it).
    #[serde(default, deserialize_with = "double_option")]
    pub email: Option<Option<String>>,
    /// Disable or enable the account (not one's own; sessions end, tokens stop).
    #[serde(default)]
    pub disabled: Option<bool>,
}

/// Changes a user's display name, e-mail or disabled state (others' accounts: in a user
/// session, and only of users not above the caller).
#[utoipa::path(patch, path = "/api/v1/users/{id}", tag = "users", params(("id" = String, Path, description = "user id")),
    request_body = UserUpdate,
    responses((status = 200, body = User), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)), security(("bearer" = []), ("session" = [])))]
pub async fn update_user(
    State(st): State<ApiState>,
    caller: Caller,
    PathParam(id): PathParam<String>,
    Body(req): Body<UserUpdate>,
) -> ApiResult<axum::Json<User>> {
    let core = st.core()?;
    let scope = caller.scope(Action::UsersManage, &[])?;
    let mut user = core.store.get_user(&scope, &id).await?;
    if req.display_name.is_some() || req.email.is_some() {
        // others' accounts: the same rule as a role change (nobody above the caller)
        if caller.principal.user_id() != Some(id.as_str()) {
            caller
                .principal
                .authorize_role_change(&id, &user.roles, &user.roles)?;
        }
        user = core
            .store
            .update_user(
                &scope,
                &id,
                UserPatch {
                    display_name: req.display_name.clone(),
                    email: req.email.clone(),
                    ..UserPatch::default()
                },
            )
            .await?;
        audit(
            &st,
            &caller,
            &TenantId::main(),
            "user.update",
            ("user", &id),
            json!({ "display_name": req.display_name, "email": req.email }),
        )
        .await;
    }
    if let Some(d) = req.disabled {
        user = core
            .auth
            .set_user_disabled(&caller.principal, &id, d)
            .await?;
    }
    Ok(axum::Json(user))
}

/// A user's roles in the caller's tenants.
#[derive(Debug, Deserialize, ToSchema)]
pub struct RolesRequest {
    /// The grants (replacing the user's grants in the caller's tenants).
    pub roles: Vec<RoleGrant>,
}

/// Replaces a user's roles in the caller's tenants (nobody changes their own; none above the
/// caller's). The user's sessions end.
#[utoipa::path(put, path = "/api/v1/users/{id}/roles", tag = "users", params(("id" = String, Path, description = "user id")),
    request_body = RolesRequest,
    responses((status = 200, body = User), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)), security(("bearer" = []), ("session" = [])))]
pub async fn set_roles(
    State(st): State<ApiState>,
    caller: Caller,
    PathParam(id): PathParam<String>,
    Body(req): Body<RolesRequest>,
) -> ApiResult<axum::Json<User>> {
    let core = st.core()?;
    Ok(axum::Json(
        core.auth
            .set_user_roles(&caller.principal, &id, req.roles)
            .await?,
    ))
}

/// A password reset.
#[derive(Deserialize, ToSchema, Default)]
pub struct PasswordReset {
    /// The new password; absent: one is generated and returned once.
    #[serde(default)]
    pub password: Option<String>,
}

impl std::fmt::Debug for PasswordReset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PasswordReset { .. }")
    }
}

/// The generated password of a reset, shown once.
#[derive(Debug, Serialize, ToSchema)]
pub struct ResetResult {
    /// The generated password (none when one was given).
    pub password: Option<String>,
}

/// Sets another user's password; the user must change it at the next login.
#[utoipa::path(post, path = "/api/v1/users/{id}/password", tag = "users", params(("id" = String, Path, description = "user id")),
    request_body = PasswordReset,
    responses((status = 200, body = ResetResult), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)), security(("bearer" = []), ("session" = [])))]
pub async fn reset_password(
    State(st): State<ApiState>,
    caller: Caller,
    PathParam(id): PathParam<String>,
    Body(req): Body<PasswordReset>,
) -> ApiResult<Response> {
    let core = st.core()?;
    let pw = core
        .auth
        .reset_password(&caller.principal, &id, req.password.map(Secret::new))
        .await?;
    let mut resp = axum::Json(ResetResult {
        password: pw.map(|p| p.expose().to_owned()),
    })
    .into_response();
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

// ------------------------------------------------------------------ tokens

/// Which tokens to list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TokenParams {
    /// Include revoked tokens.
    pub include_revoked: Option<bool>,
    /// Rows per page.
    pub limit: Option<u32>,
    /// Cursor.
    pub cursor: Option<String>,
}

/// Lists tokens: with `tokens.manage` every token of those tenants, else the caller's own.
#[utoipa::path(get, path = "/api/v1/tokens", tag = "tokens", params(TokenParams),
    responses((status = 200, body = Paged<ApiToken>), (status = 403, body = ErrorBody)), security(("bearer" = []), ("session" = [])))]
pub async fn list_tokens(
    State(st): State<ApiState>,
    caller: Caller,
    Params(p): Params<TokenParams>,
) -> ApiResult<axum::Json<Paged<ApiToken>>> {
    let core = st.core()?;
    Ok(axum::Json(
        core.auth
            .list_tokens(
                &caller.principal,
                p.include_revoked.unwrap_or(false),
                &page(p.limit, &p.cursor),
            )
            .await?,
    ))
}

/// A token to create.
#[derive(Debug, Deserialize, ToSchema)]
pub struct NewTokenRequest {
    /// Name.
    pub name: String,
    /// Roles per tenant (within the caller's).
    pub roles: Vec<RoleGrant>,
    /// Endpoint allow-list (`GET /api/v1/alerts/**`); empty: every endpoint the roles allow.
    #[serde(default)]
    pub endpoints: Vec<String>,
    /// Expiry.
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
    /// A service token (no user; needs `tokens.manage`).
    #[serde(default)]
    pub service: bool,
}

/// A token just created: the secret is shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedTokenBody {
    /// The token's record.
    pub token: ApiToken,
    /// `vgl_...`: the secret, shown once.
    pub secret: String,
}

/// Creates an API token (sessions only: tokens cannot create tokens).
#[utoipa::path(post, path = "/api/v1/tokens", tag = "tokens", request_body = NewTokenRequest,
    responses((status = 201, body = CreatedTokenBody), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)), security(("session" = [])))]
pub async fn create_token(
    State(st): State<ApiState>,
    caller: Caller,
    Body(req): Body<NewTokenRequest>,
) -> ApiResult<Response> {
    let core = st.core()?;
    let created = core
        .auth
        .create_token(
            &caller.principal,
            TokenRequest {
                name: req.name,
                roles: req.roles,
                endpoints: req.endpoints,
                expires_at: req.expires_at,
                service: req.service,
            },
        )
        .await?;
    let body = CreatedTokenBody {
        token: created.token.clone(),
        secret: created.secret.expose().to_owned(),
    };
    let mut resp = (StatusCode::CREATED, axum::Json(body)).into_response();
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

/// Revokes a token (one's own, or any with `tokens.manage`); its next request fails.
#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "tokens", params(("id" = String, Path, description = "token id")),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)), security(("bearer" = []), ("session" = [])))]
pub async fn revoke_token(
    State(st): State<ApiState>,
    caller: Caller,
    PathParam(id): PathParam<String>,
) -> ApiResult<Response> {
    let core = st.core()?;
    core.auth.revoke_token(&caller.principal, &id).await?;
    Ok(no_content())
}

// ------------------------------------------------------------------ tenants

/// A tenant filter.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TenantParams {
    /// Tenants (comma-separated); default: every tenant of the caller.
    pub tenant: Option<String>,
}

/// Lists the caller's tenants (Shared included).
#[utoipa::path(get, path = "/api/v1/tenants", tag = "tenants", params(TenantParams),
    responses((status = 200, body = Vec<Tenant>), (status = 403, body = ErrorBody)), security(("bearer" = []), ("session" = [])))]
pub async fn list_tenants(
    State(st): State<ApiState>,
    caller: Caller,
    Params(p): Params<TenantParams>,
) -> ApiResult<axum::Json<Vec<Tenant>>> {
    let core = st.core()?;
    let scope = caller.scope(Action::TenantsRead, &tenants(&p.tenant)?)?;
    Ok(axum::Json(core.store.list_tenants(&scope).await?))
}

/// Creates a customer tenant (general administrators).
#[utoipa::path(post, path = "/api/v1/tenants", tag = "tenants", request_body = NewTenant,
    responses((status = 201, body = Tenant), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)), security(("bearer" = []), ("session" = [])))]
pub async fn create_tenant(
    State(st): State<ApiState>,
    caller: Caller,
    Body(req): Body<NewTenant>,
) -> ApiResult<Response> {
    let core = st.core()?;
    caller.scope(Action::TenantsManage, &[])?;
    let t = core.store.create_tenant(req).await?;
    audit(
        &st,
        &caller,
        &TenantId::main(),
        "tenant.create",
        ("tenant", t.id.as_str()),
        json!({ "name": t.name, "eps_limit": t.eps_limit }),
    )
    .await;
    Ok((StatusCode::CREATED, axum::Json(t)).into_response())
}

/// One tenant.
#[utoipa::path(get, path = "/api/v1/tenants/{id}", tag = "tenants", params(("id" = String, Path, description = "tenant id")),
    responses((status = 200, body = Tenant), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)), security(("bearer" = []), ("session" = [])))]
pub async fn get_tenant(
    State(st): State<ApiState>,
    caller: Caller,
    PathParam(id): PathParam<String>,
) -> ApiResult<axum::Json<Tenant>> {
    let core = st.core()?;
    let id = tenant(&id)?;
    let scope = caller.scope(Action::TenantsRead, std::slice::from_ref(&id))?;
    Ok(axum::Json(core.store.get_tenant(&scope, &id).await?))
}

/// Changes to a tenant; absent fields stay.
#[derive(Debug, Deserialize, ToSchema)]
pub struct TenantUpdate {
    /// Display name.
    #[serde(default)]
    pub name: Option<String>,
    /// Description.
    #[serde(default)]
    pub description: Option<String>,
    /// EPS limit (`null` removes it). Records beyond it are kept raw, flagged
    /// `vigil.quota: eps_exceeded`, and counted; in force within a second.
    #[serde(default, deserialize_with = "double_option")]
    pub eps_limit: Option<Option<u64>>,
    /// Storage quota in bytes of the event store (`null` removes it). Once reached, the
    /// store refuses the tenant's new events (counted) and a monitoring alert is raised
    /// once; in force within a second.
    #[serde(default, deserialize_with = "double_option")]
    pub storage_limit_bytes: Option<Option<u64>>,
    /// Disable (its users cannot log in) or enable.
    #[serde(default)]
    pub disabled: Option<bool>,
}

/// Renames, describes, limits, disables or enables a tenant (general administrators).
#[utoipa::path(patch, path = "/api/v1/tenants/{id}", tag = "tenants", params(("id" = String, Path, description = "tenant id")),
    request_body = TenantUpdate,
    responses((status = 200, body = Tenant), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)), security(("bearer" = []), ("session" = [])))]
pub async fn update_tenant(
    State(st): State<ApiState>,
    caller: Caller,
    PathParam(id): PathParam<String>,
    Body(req): Body<TenantUpdate>,
) -> ApiResult<axum::Json<Tenant>> {
    let core = st.core()?;
    let id = tenant(&id)?;
    caller.scope(Action::TenantsManage, &[])?;
    let scope = caller.scope(Action::TenantsRead, std::slice::from_ref(&id))?;
    let details = json!({ "name": req.name, "description": req.description, "eps_limit": req.eps_limit, "storage_limit_bytes": req.storage_limit_bytes, "disabled": req.disabled });
    let mut t = core
        .store
        .update_tenant(
            &scope,
            &id,
            req.name,
            req.description,
            req.eps_limit,
            req.disabled,
        )
        .await?;
    if let Some(limit) = req.storage_limit_bytes {
        t = core
            .store
            .set_tenant_storage_limit(&scope, &id, limit)
            .await?;
    }
    audit(
        &st,
        &caller,
        &TenantId::main(),
        "tenant.update",
        ("tenant", id.as_str()),
        details,
    )
    .await;
    Ok(axum::Json(t))
}

// ------------------------------------------------------------------ roles

/// A role and what it may do.
#[derive(Debug, Serialize, ToSchema)]
pub struct RoleInfo {
    /// The role.
    pub role: Role,
    /// The actions it allows (`alerts.write`, ...); `tenants.manage` and `config.write` need
    /// the administrator role in the Main tenant.
    pub actions: Vec<String>,
}

/// The roles and the permission matrix.
#[utoipa::path(get, path = "/api/v1/roles", tag = "tenants",
    responses((status = 200, body = Vec<RoleInfo>)), security(("bearer" = []), ("session" = [])))]
pub async fn list_roles(_caller: Caller) -> axum::Json<Vec<RoleInfo>> {
    axum::Json(
        Role::ALL
            .iter()
            .map(|r| RoleInfo {
                role: *r,
                actions: Action::ALL
                    .iter()
                    .filter(|a| role_allows(*r, **a))
                    .map(|a| a.as_str().to_owned())
                    .collect(),
            })
            .collect(),
    )
}

// ------------------------------------------------------------------ audit

/// Which audit records to list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    /// Tenants (comma-separated); default: every tenant where the caller may read the audit.
    pub tenant: Option<String>,
    /// By this actor.
    pub actor: Option<String>,
    /// This action, or a prefix ending with `.` (`user.`).
    pub action: Option<String>,
    /// At or after (RFC 3339).
    pub since: Option<DateTime<Utc>>,
    /// Before (RFC 3339).
    pub until: Option<DateTime<Utc>>,
    /// Rows per page.
    pub limit: Option<u32>,
    /// Cursor.
    pub cursor: Option<String>,
}

/// The audit trail, newest first.
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", params(AuditParams),
    responses((status = 200, body = Paged<AuditRecord>), (status = 403, body = ErrorBody)), security(("bearer" = []), ("session" = [])))]
pub async fn list_audit(
    State(st): State<ApiState>,
    caller: Caller,
    Params(p): Params<AuditParams>,
) -> ApiResult<axum::Json<Paged<AuditRecord>>> {
    let core = st.core()?;
    let scope = caller.scope(Action::AuditRead, &tenants(&p.tenant)?)?;
    let q = AuditQuery {
        actor: p.actor,
        action: p.action,
        since: p.since,
        until: p.until,
    };
    Ok(axum::Json(
        core.store
            .list_audit(&scope, &q, &page(p.limit, &p.cursor))
            .await?,
    ))
}

// ------------------------------------------------------------------ TOTP

/// A TOTP enrolment: shown once; confirm it with a code from the device.
#[derive(Serialize, ToSchema)]
pub struct TotpEnrolmentBody {
    /// Base32 secret, for manual entry (send it back with the first code).
    pub secret: String,
    /// `otpauth://` URI, for a QR code.
    pub uri: String,
}

impl std::fmt::Debug for TotpEnrolmentBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpEnrolmentBody { .. }")
    }
}

/// Starts TOTP enrolment for the caller (sessions only); nothing is stored until confirmed.
#[utoipa::path(post, path = "/api/v1/auth/totp", tag = "auth",
    responses((status = 200, body = TotpEnrolmentBody), (status = 403, body = ErrorBody)), security(("session" = [])))]
pub async fn begin_totp(State(st): State<ApiState>, caller: Caller) -> ApiResult<Response> {
    let core = st.core()?;
    let e = core.auth.begin_totp(&caller.principal)?;
    let mut resp = axum::Json(TotpEnrolmentBody {
        secret: e.secret.expose().to_owned(),
        uri: e.uri.expose().to_owned(),
    })
    .into_response();
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

/// The confirmation of a TOTP enrolment.
#[derive(Deserialize, ToSchema)]
pub struct TotpConfirm {
    /// The secret from `POST /api/v1/auth/totp`.
    pub secret: String,
    /// A current code from the device.
    pub code: String,
}

impl std::fmt::Debug for TotpConfirm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpConfirm { .. }")
    }
}

/// Completes TOTP enrolment: from now on logins need a code.
#[utoipa::path(post, path = "/api/v1/auth/totp/confirm", tag = "auth", request_body = TotpConfirm,
    responses((status = 204), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)), security(("session" = [])))]
pub async fn confirm_totp(
    State(st): State<ApiState>,
    caller: Caller,
    Body(req): Body<TotpConfirm>,
) -> ApiResult<Response> {
    let core = st.core()?;
    core.auth
        .confirm_totp(&caller.principal, &Secret::new(req.secret), &req.code)
        .await?;
    Ok(no_content())
}

/// Removes a user's second factor: one's own, or with `users.manage` over them.
#[utoipa::path(delete, path = "/api/v1/users/{id}/totp", tag = "users", params(("id" = String, Path, description = "user id")),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)), security(("bearer" = []), ("session" = [])))]
pub async fn disable_totp(
    State(st): State<ApiState>,
    caller: Caller,
    PathParam(id): PathParam<String>,
) -> ApiResult<Response> {
    let core = st.core()?;
    core.auth.disable_totp(&caller.principal, &id).await?;
    Ok(no_content())
}

// ------------------------------------------------------------------ monitoring policies

/// Lists source monitoring policies (Shared ones included).
#[utoipa::path(get, path = "/api/v1/monitoring-policies", tag = "sources", params(TenantParams),
    responses((status = 200, body = Vec<MonitoringPolicy>), (status = 403, body = ErrorBody)), security(("bearer" = []), ("session" = [])))]
pub async fn list_policies(
    State(st): State<ApiState>,
    caller: Caller,
    Params(p): Params<TenantParams>,
) -> ApiResult<axum::Json<Vec<MonitoringPolicy>>> {
    let core = st.core()?;
    let scope = caller.scope(Action::SourcesRead, &tenants(&p.tenant)?)?;
    Ok(axum::Json(
        core.store.list_monitoring_policies(&scope).await?,
    ))
}

fn check_policy(p: &MonitoringPolicySpec) -> ApiResult<()> {
    let mut problems = Vec::new();
    if p.name.trim().is_empty() || p.name.len() > 200 {
        problems.push("name: 1 to 200 bytes".to_owned());
    }
    if !p.lower.is_finite() || p.lower < 0.0 {
        problems.push("lower: a number ≥ 0".to_owned());
    }
    if let Some(u) = p.upper
        && (!u.is_finite() || u < p.lower)
    {
        problems.push("upper: a number ≥ lower".to_owned());
    }
    if p.interval_secs == 0 || p.interval_secs > 14 * 86_400 {
        problems.push("interval_secs: 1 s to 14 days".to_owned());
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid(problems.join("; ")))
    }
}

/// Creates a monitoring policy (`sources.write` in its tenant).
#[utoipa::path(post, path = "/api/v1/monitoring-policies", tag = "sources", request_body = MonitoringPolicySpec,
    responses((status = 201, body = MonitoringPolicy), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub async fn create_policy(
    State(st): State<ApiState>,
    caller: Caller,
    Body(spec): Body<MonitoringPolicySpec>,
) -> ApiResult<Response> {
    let core = st.core()?;
    check_policy(&spec)?;
    let scope = caller.scope(Action::SourcesWrite, std::slice::from_ref(&spec.tenant))?;
    let p = core.store.create_monitoring_policy(&scope, spec).await?;
    audit(
        &st,
        &caller,
        &p.tenant,
        "monitoring_policy.create",
        ("monitoring_policy", &p.id),
        json!({ "name": p.name, "kind": p.kind }),
    )
    .await;
    Ok((StatusCode::CREATED, axum::Json(p)).into_response())
}

/// Replaces a monitoring policy (its tenant stays).
#[utoipa::path(put, path = "/api/v1/monitoring-policies/{id}", tag = "sources", params(("id" = String, Path, description = "policy id")),
    request_body = MonitoringPolicySpec,
    responses((status = 200, body = MonitoringPolicy), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub async fn replace_policy(
    State(st): State<ApiState>,
    caller: Caller,
    PathParam(id): PathParam<String>,
    Body(spec): Body<MonitoringPolicySpec>,
) -> ApiResult<axum::Json<MonitoringPolicy>> {
    let core = st.core()?;
    check_policy(&spec)?;
    let scope = caller.scope(Action::SourcesWrite, std::slice::from_ref(&spec.tenant))?;
    let p = core
        .store
        .update_monitoring_policy(&scope, &id, spec)
        .await?;
    audit(
        &st,
        &caller,
        &p.tenant,
        "monitoring_policy.update",
        ("monitoring_policy", &p.id),
        json!({ "name": p.name }),
    )
    .await;
    Ok(axum::Json(p))
}

/// Deletes a monitoring policy.
#[utoipa::path(delete, path = "/api/v1/monitoring-policies/{id}", tag = "sources", params(("id" = String, Path, description = "policy id")),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)), security(("bearer" = []), ("session" = [])))]
pub async fn delete_policy(
    State(st): State<ApiState>,
    caller: Caller,
    PathParam(id): PathParam<String>,
) -> ApiResult<Response> {
    let core = st.core()?;
    let scope = caller.scope(Action::SourcesWrite, &[])?;
    let p = core
        .store
        .list_monitoring_policies(&scope)
        .await?
        .into_iter()
        .find(|p| p.id == id)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("monitoring policy {id:?} not found"),
            )
        })?;
    core.store.delete_monitoring_policy(&scope, &id).await?;
    audit(
        &st,
        &caller,
        &p.tenant,
        "monitoring_policy.delete",
        ("monitoring_policy", &id),
        json!({ "name": p.name }),
    )
    .await;
    Ok(no_content())
}
