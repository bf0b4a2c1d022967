//! The SOC's REST API under `/api/v1`: authentication, users, tokens, tenants, roles,
//! alerts, incidents, assets, suppressions, saved searches and the audit trail, on
//! `vigil-core`.
//!
//! # One caller, one scope function
//! The authentication middleware (`server::authenticate`) resolves the caller once per
//! request — a session cookie (with its CSRF header on writes), a `vgl_` API token, or the
//! installation's token file (an administrator of every tenant) — into a [`Caller`]. Handlers
//! take it as an extractor and get every [`vigil_core::TenantScope`] from
//! [`Caller::scope`], which is `Principal::scope_for`: a request naming a tenant the caller
//! may not act in is answered 403; records of other tenants are answered 404 like missing
//! ones.
//!
//! # The document
//! Every handler carries its `#[utoipa::path]`; [`routes`] collects them with `utoipa-axum`,
//! so the OpenAPI 3.1 document served at `/api/v1/openapi.json` is the router itself.

pub mod admin;
pub mod alert_assets;
pub mod alerts;
pub mod assets;
pub mod audit_chain;
pub mod collectors;
pub mod common;
pub mod correlation;
pub mod dashboards;
pub mod incidents;
pub mod lists;
pub mod normalizers;
pub mod records;
pub mod retroscan;
pub mod rules;
pub mod sources;
pub mod storage;

use std::sync::Arc;

use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{InfoBuilder, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use vigil_core::alerts::AlertService;
use vigil_core::assets::AssetBook;
use vigil_core::incidents::IncidentService;
use vigil_core::{Authenticator, MetaStore};

pub use common::{ApiError, Caller};

use crate::ApiState;

/// The core services the API works on.
#[derive(Debug)]
pub struct Core {
    /// The metadata store.
    pub store: Arc<dyn MetaStore>,
    /// Logins, sessions, tokens, accounts.
    pub auth: Arc<Authenticator>,
    /// The alert pipeline (triage, suppressions).
    pub alerts: Arc<AlertService>,
    /// The asset inventory.
    pub assets: Arc<AssetBook>,
    /// Incidents.
    pub incidents: IncidentService,
    /// Whether the listener has TLS (the session cookie is `Secure` then).
    pub tls: bool,
    /// Longest a suppression may last.
    pub max_suppression_lifetime: chrono::Duration,
    /// The ingest path's per-source counters (none without a pipeline).
    pub sources: Option<Arc<vigil_core::sources::SourceTracker>>,
    /// The source monitor (which sources breach a policy now).
    pub monitor: Option<Arc<vigil_core::sources::monitor::SourceMonitor>>,
    /// The running correlator (explain, lists, reload), set once `vigil up` has started it;
    /// unset, those routes answer 503 `correlation_off`.
    pub correlation: std::sync::OnceLock<vigil_core::correlation::CorrelationHandle>,
    /// The rules live in this instance (`v1::rules`).
    pub rules: Arc<vigil_core::rulebook::RuleBook>,
    /// The event store, for its storage spaces (`v1::storage`); none answers 409
    /// `not_supported`.
    pub events: Option<Arc<dyn vigil_store::EventStore>>,
    /// The configuration file `vigil up` runs from (`v1::collectors`), set once it has
    /// started; unset, those routes answer 409 `not_supported`.
    pub config: std::sync::OnceLock<Arc<collectors::ConfigFile>>,
}

/// The `/api/v1` routes that need a caller, with their OpenAPI description.
pub fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(admin::logout))
        .routes(routes!(admin::me))
        .routes(routes!(admin::change_password))
        .routes(routes!(admin::begin_totp))
        .routes(routes!(admin::confirm_totp))
        .routes(routes!(admin::disable_totp))
        .routes(routes!(admin::list_policies, admin::create_policy))
        .routes(routes!(admin::replace_policy, admin::delete_policy))
        .routes(routes!(admin::list_users, admin::create_user))
        .routes(routes!(admin::get_user, admin::update_user))
        .routes(routes!(admin::set_roles))
        .routes(routes!(admin::reset_password))
        .routes(routes!(admin::list_tokens, admin::create_token))
        .routes(routes!(admin::revoke_token))
        .routes(routes!(admin::list_tenants, admin::create_tenant))
        .routes(routes!(admin::get_tenant, admin::update_tenant))
        .routes(routes!(admin::list_roles))
        .routes(routes!(admin::list_audit))
        .routes(routes!(alerts::list_alerts))
        .routes(routes!(alerts::get_alert, alerts::update_alert))
        .routes(routes!(alerts::bulk_update))
        .routes(routes!(alerts::list_comments, alerts::add_comment))
        .routes(routes!(alerts::history))
        .routes(routes!(alerts::alert_events))
        .routes(routes!(alert_assets::alert_assets))
        .routes(routes!(
            alerts::list_suppressions,
            alerts::create_suppression
        ))
        .routes(routes!(alerts::delete_suppression))
        .routes(routes!(
            incidents::list_incidents,
            incidents::create_incident
        ))
        .routes(routes!(incidents::get_incident, incidents::update_incident))
        .routes(routes!(incidents::link_alerts))
        .routes(routes!(incidents::link_objects))
        .routes(routes!(incidents::merge))
        .routes(routes!(incidents::timeline, incidents::add_timeline_entry))
        .routes(routes!(incidents::list_comments, incidents::add_comment))
        .routes(routes!(
            incidents::list_attachments,
            incidents::add_attachment
        ))
        .routes(routes!(incidents::get_attachment))
        .routes(routes!(incidents::export_json))
        .routes(routes!(incidents::export_html))
        .routes(routes!(assets::list_assets, assets::create_asset))
        .routes(routes!(
            assets::get_asset,
            assets::replace_asset,
            assets::delete_asset
        ))
        .routes(routes!(assets::import_csv))
        .routes(routes!(assets::export_csv))
        .routes(routes!(assets::list_saved, assets::create_saved))
        .routes(routes!(assets::replace_saved, assets::delete_saved))
        .routes(routes!(sources::list_sources))
        .routes(routes!(sources::source_series))
        .routes(routes!(sources::tenant_eps))
        .routes(routes!(audit_chain::verify_audit))
        .routes(routes!(correlation::list_rules))
        .routes(routes!(correlation::get_rule))
        .routes(routes!(correlation::why))
        .routes(routes!(correlation::explain_event))
        .routes(routes!(correlation::reload))
        .routes(routes!(lists::list_lists))
        .routes(routes!(lists::get_list))
        .routes(routes!(lists::list_entries))
        .routes(routes!(
            lists::get_entry,
            lists::put_entry,
            lists::delete_entry
        ))
        .routes(routes!(lists::export_csv))
        .routes(routes!(lists::import_csv))
        .routes(routes!(retroscan::retroscan))
        .merge(rules_routes())
        .routes(routes!(normalizers::list_normalizers))
        .routes(routes!(normalizers::try_normalizer))
        .routes(routes!(collectors::list_collectors))
        .routes(routes!(collectors::validate_collector))
        .routes(routes!(
            collectors::save_collector,
            collectors::delete_collector
        ))
        .merge(dashboard_routes())
}

/// The dashboards routes (`v1::dashboards`).
fn dashboard_routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(
            dashboards::list_dashboards,
            dashboards::create_dashboard
        ))
        .routes(routes!(dashboards::default_dashboard))
        .routes(routes!(storage::list_spaces))
        .routes(routes!(storage::set_retention))
        .routes(routes!(
            dashboards::get_dashboard,
            dashboards::replace_dashboard,
            dashboards::delete_dashboard
        ))
}

/// The rules routes (`v1::rules`).
fn rules_routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(rules::list_rules, rules::create_rule))
        .routes(routes!(rules::get_rule, rules::update_rule))
        .routes(routes!(rules::enable_rule))
        .routes(routes!(rules::disable_rule))
        .routes(routes!(rules::validate_rule))
        .routes(routes!(rules::test_rule))
        .routes(routes!(rules::retroscan_rule))
        .routes(routes!(rules::coverage))
}

/// The routes that need no caller (login), with their description.
pub fn public_routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new().routes(routes!(admin::login))
}

/// Schemas that only query parameters name (the routes do not collect them).
#[derive(utoipa::OpenApi)]
#[openapi(components(schemas(
    vigil_core::SortDir,
    vigil_core::AlertSort,
    vigil_core::AssetSort,
    vigil_core::IncidentSort,
    vigil_core::Severity,
    vigil_core::Priority,
    vigil_core::Criticality,
    vigil_core::sources::SourceKind,
    vigil_core::rulebook::RuleKind
)))]
struct ParameterSchemas;

/// Completes the generated document: title, version, security schemes.
pub fn finish_document(mut doc: OpenApi) -> OpenApi {
    doc.merge(<ParameterSchemas as utoipa::OpenApi>::openapi());
    doc.info = InfoBuilder::new()
        .title("Vigil API")
        .version(env!("CARGO_PKG_VERSION"))
        .description(Some(
            "Vigil's REST API. Authenticate with `Authorization: Bearer <token>` (a `vgl_` API \
             token, or the installation token in <data_dir>/api-token) or with the session \
             cookie from POST /api/v1/auth/login plus its `X-CSRF-Token` header on writes. \
             Errors are `{\"error\": {\"code\", \"message\"}}` with a stable code.",
        ))
        .build();
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "bearer",
        SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
    );
    components.add_security_scheme(
        "session",
        SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new("vigil_session"))),
    );
    doc
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_document_is_openapi_3_1_and_lists_every_route_with_its_security() {
        let doc = crate::openapi();
        let v = serde_json::to_value(&doc).unwrap_or_default();
        assert_eq!(v["openapi"], "3.1.0");
        let paths = v["paths"].as_object().cloned().unwrap_or_default();
        for p in [
            "/api/v1/alerts",
            "/api/v1/alerts/{id}",
            "/api/v1/incidents/{id}/report",
            "/api/v1/assets/import",
            "/api/v1/search",
            "/api/v1/auth/login",
            "/api/v1/rules",
            "/api/v1/rules/{id}",
            "/api/v1/rules/coverage",
            "/api/v1/openapi.json",
            "/health",
            "/metrics",
        ] {
            assert!(paths.contains_key(p), "{p} missing");
        }
        assert!(paths.len() >= 35, "{} paths", paths.len());
        // every operation but login, health and the document requires credentials
        for (path, item) in &paths {
            for (method, op) in item.as_object().into_iter().flatten() {
                let public = matches!(
                    path.as_str(),
                    "/health" | "/api/v1/auth/login" | "/api/v1/openapi.json"
                );
                let sec = op["security"].as_array().cloned().unwrap_or_default();
                let open = sec.is_empty()
                    || sec
                        .iter()
                        .any(|s| s.as_object().is_some_and(|o| o.is_empty()));
                assert_eq!(open, public, "{method} {path}: security {sec:?}");
            }
        }
        assert!(v["components"]["schemas"]["Alert"].is_object());
    }
}
