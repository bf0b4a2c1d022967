//! What every `/api/v1` handler shares: the caller, errors with stable codes, body and query
//! extractors that answer JSON errors, tenant parameters.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use utoipa::ToSchema;
use vigil_core::{Action, AuthError, Forbidden, MetaError, Page, Principal, TenantId, TenantScope};

/// The error body every route answers with.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// A stable machine code and a message for people.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable code: `unauthorized`, `forbidden`, `not_found`, `invalid`, `conflict`,
    /// `bad_request`, `too_large`, `csrf`, `throttled`, `internal`, ...
    pub code: String,
    /// What went wrong (never internals or secrets).
    pub message: String,
}

/// An error answered as `{"error": {"code", "message"}}` with its HTTP status.
#[derive(Debug)]
pub struct ApiError {
    /// Status.
    pub status: StatusCode,
    /// Stable code.
    pub code: &'static str,
    /// Message.
    pub message: String,
}

impl ApiError {
    /// An error.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    /// 400 `invalid`.
    pub fn invalid(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid", message)
    }

    /// 400 `bad_request`.
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    /// 500 `internal`, with the detail logged and not returned.
    pub fn internal(detail: impl std::fmt::Display) -> ApiError {
        tracing::error!(error = %detail, "API request failed");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; see the server log",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        crate::server::error(self.status, self.code, self.message)
    }
}

impl From<MetaError> for ApiError {
    fn from(e: MetaError) -> ApiError {
        match &e {
            MetaError::NotFound { .. } => {
                ApiError::new(StatusCode::NOT_FOUND, "not_found", e.to_string())
            }
            MetaError::Conflict { what, .. } => ApiError::new(
                StatusCode::CONFLICT,
                "conflict",
                format!("{what} already exists"),
            ),
            MetaError::OutOfScope { .. } => {
                ApiError::new(StatusCode::FORBIDDEN, "forbidden", e.to_string())
            }
            MetaError::Invalid { .. } => ApiError::invalid(e.to_string()),
            MetaError::TooLarge { .. } => {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", e.to_string())
            }
            _ => ApiError::internal(e),
        }
    }
}

impl From<Forbidden> for ApiError {
    fn from(e: Forbidden) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", e.to_string())
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> ApiError {
        match e {
            AuthError::Store(m) => m.into(),
            AuthError::Internal(_) => ApiError::internal(e),
            AuthError::Ldap(_) => {
                tracing::warn!(error = %e, "directory unavailable");
                ApiError::new(
                    StatusCode::BAD_GATEWAY,
                    "directory_unavailable",
                    "the directory could not be reached",
                )
            }
            other => ApiError::new(
                StatusCode::from_u16(other.status()).unwrap_or(StatusCode::FORBIDDEN),
                other.code(),
                other.to_string(),
            ),
        }
    }
}

/// What a handler returns.
pub type ApiResult<T> = Result<T, ApiError>;

/// The authenticated caller of a request, resolved once by the authentication middleware
/// (session cookie, `vgl_` token, or the installation's API token file).
#[derive(Debug, Clone)]
pub struct Caller {
    /// Who, with the role held per tenant.
    pub principal: Principal,
    /// Client address.
    pub ip: Option<String>,
}

impl Caller {
    /// **The** scope of a request: [`Principal::scope_for`] with the tenants it names (403
    /// when one is not permitted). Every store call of a handler takes what this returns.
    pub fn scope(&self, action: Action, requested: &[TenantId]) -> ApiResult<TenantScope> {
        Ok(self.principal.scope_for(action, requested)?)
    }

    /// The actor written into histories and the audit trail.
    pub fn actor(&self) -> String {
        self.principal.actor()
    }

    /// The client address.
    pub fn ip(&self) -> Option<&str> {
        self.ip.as_deref()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Caller, ApiError> {
        parts.extensions.get::<Caller>().cloned().ok_or_else(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "authentication required",
            )
        })
    }
}

/// A JSON body; a malformed one is answered 400 `bad_request` with serde's message.
#[derive(Debug)]
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Body<T>, ApiError> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Body(v)),
            Err(e) => Err(json_rejection(e)),
        }
    }
}

fn json_rejection(e: JsonRejection) -> ApiError {
    match e {
        JsonRejection::MissingJsonContentType(_) => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the body as application/json",
        ),
        JsonRejection::BytesRejection(_) => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            "the request body could not be read or is too large",
        ),
        other => ApiError::bad_request(other.body_text()),
    }
}

/// Query parameters; malformed ones are answered 400 `bad_request`.
#[derive(Debug)]
pub struct Params<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Params<T>, ApiError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(Params(v)),
            Err(e) => Err(query_rejection(e)),
        }
    }
}

fn query_rejection(e: QueryRejection) -> ApiError {
    ApiError::bad_request(e.body_text())
}

/// Path parameters; malformed ones are answered 400 `bad_request`.
#[derive(Debug)]
pub struct PathParam<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for PathParam<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<PathParam<T>, ApiError> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(PathParam(v)),
            Err(e) => Err(ApiError::bad_request(e.body_text())),
        }
    }
}

/// Tenants named by a `tenant` parameter: one id or several separated by commas.
pub fn tenants(param: &Option<String>) -> ApiResult<Vec<TenantId>> {
    let Some(s) = param else {
        return Ok(Vec::new());
    };
    s.split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| TenantId::new(t).map_err(|e| ApiError::invalid(format!("tenant: {e}"))))
        .collect()
}

/// One tenant id.
pub fn tenant(s: &str) -> ApiResult<TenantId> {
    TenantId::new(s).map_err(|e| ApiError::invalid(format!("tenant: {e}")))
}

/// A page from `limit` and `cursor` parameters.
pub fn page(limit: Option<u32>, cursor: &Option<String>) -> Page {
    Page {
        limit: limit.unwrap_or(0),
        cursor: cursor.clone(),
    }
}

/// The one tenant a create names: the body's, else the caller's only permitted one.
pub fn target_tenant(
    caller: &Caller,
    action: Action,
    named: Option<&TenantId>,
) -> ApiResult<(TenantId, TenantScope)> {
    match named {
        Some(t) => {
            let scope = caller.scope(action, std::slice::from_ref(t))?;
            Ok((t.clone(), scope))
        }
        None => {
            let scope = caller.scope(action, &[])?;
            let ids: Vec<&TenantId> = scope.iter().collect();
            match ids.as_slice() {
                [one] => {
                    let t = (*one).clone();
                    Ok((t.clone(), TenantScope::single(t)))
                }
                _ => Err(ApiError::invalid(
                    "tenant: the caller has several tenants; name one",
                )),
            }
        }
    }
}

/// 204 No Content.
pub fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

/// The client's address, when the listener knows it.
#[derive(Debug, Clone)]
pub struct ClientIp(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<ClientIp, ApiError> {
        Ok(ClientIp(
            parts
                .extensions
                .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                .map(|c| c.0.ip().to_string()),
        ))
    }
}
