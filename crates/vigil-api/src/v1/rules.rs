//! Rules: the Sigma and correlation rules live in this instance (list, get, enable, disable,
//! create, update, validate, test on their own events, retroscan over stored events) and the
//! ATT&CK coverage they give, on [`vigil_core::rulebook::RuleBook`].
//!
//! Rules are installation-wide content, held for every tenant by Shared: reading needs
//! `rules.read` in any tenant, writing needs `rules.write` in Shared (a tier-2 analyst or an
//! administrator there, or a general administrator). A retroscan and the coverage's source
//! counts read events, so they run over the tenants where the caller may search.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use vigil_core::rulebook::{
    BookError, RuleBook, RuleDetail, RuleKind, RuleProblem, RuleRun, RuleSummary, TACTICS,
    Validation, guess_kind,
};
use vigil_core::{Action, TenantId};

use super::admin::audit;
use super::common::*;
use crate::ApiState;

/// Longest retroscan range, hours.
const MAX_HOURS: u32 = 24 * 7;

fn book(st: &ApiState) -> ApiResult<Arc<RuleBook>> {
    Ok(st.core()?.rules.clone())
}

/// The error body of a rule that does not validate: `invalid_rule` with every problem.
#[derive(Debug, Serialize, ToSchema)]
pub struct InvalidRuleBody {
    /// `{"code": "invalid_rule", "message"}`.
    pub error: ErrorDetail,
    /// Every problem, with its line and column when known.
    pub problems: Vec<RuleProblem>,
}

impl From<BookError> for ApiError {
    fn from(e: BookError) -> ApiError {
        match e {
            BookError::NotFound(_) => {
                ApiError::new(StatusCode::NOT_FOUND, "not_found", e.to_string())
            }
            BookError::Conflict(m) => ApiError::new(StatusCode::CONFLICT, "conflict", m),
            BookError::BadRequest(m) => ApiError::invalid(m),
            BookError::Unavailable(m) => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "rules_unavailable", m)
            }
            BookError::Invalid(_) => ApiError::invalid(e.to_string()),
            BookError::Io(m) => ApiError::internal(m),
        }
    }
}

fn book_error(e: BookError) -> Response {
    match e {
        BookError::Invalid(problems) => {
            let first = problems
                .iter()
                .find(|p| p.severity == "error")
                .map(|p| match p.line {
                    Some(l) => format!("line {l}: {}", p.message),
                    None => p.message.clone(),
                })
                .unwrap_or_default();
            (
                StatusCode::BAD_REQUEST,
                axum::Json(InvalidRuleBody {
                    error: ErrorDetail {
                        code: "invalid_rule".into(),
                        message: format!("the rule does not validate: {first}"),
                    },
                    problems,
                }),
            )
                .into_response()
        }
        other => ApiError::from(other).into_response(),
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, BookError> + Send + 'static,
) -> Result<T, Response> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r.map_err(book_error),
        Err(e) => Err(ApiError::internal(e).into_response()),
    }
}

fn write_scope(caller: &Caller) -> ApiResult<TenantId> {
    let shared = TenantId::shared();
    caller.scope(Action::RulesWrite, std::slice::from_ref(&shared))?;
    Ok(shared)
}

/// The engines' totals.
#[derive(Debug, Serialize, ToSchema)]
pub struct EngineTotals {
    /// Sigma rules in force.
    pub sigma_rules: usize,
    /// Correlation rules in force.
    pub correlation_rules: usize,
    /// Rules disabled.
    pub disabled: usize,
    /// Events the Sigma engine evaluated since the start.
    pub sigma_events: u64,
    /// Rule variants its literal prefilter let through to evaluation (its cost).
    pub sigma_evaluations: u64,
}

/// The rules list.
#[derive(Debug, Serialize, ToSchema)]
pub struct RuleList {
    /// Every rule, running or disabled.
    pub rules: Vec<RuleSummary>,
    /// Counts.
    pub totals: EngineTotals,
}

/// Filters of the rules list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RuleParams {
    /// `sigma` or `correlation`.
    pub kind: Option<RuleKind>,
    /// `true`: running only; `false`: disabled only.
    pub enabled: Option<bool>,
    /// Level (`low`, `medium`, `high`, `critical`, ...).
    pub level: Option<String>,
    /// Carrying this ATT&CK tactic (`credential-access`) or technique (`T1110`, prefix).
    pub attack: Option<String>,
    /// Id or title contains (case-insensitive).
    pub q: Option<String>,
}

/// Lists the rules of the running instance with their ATT&CK tags, log sources, match counts
/// and evaluation cost.
#[utoipa::path(get, path = "/api/v1/rules", tag = "rules", params(RuleParams),
    responses((status = 200, body = RuleList), (status = 403, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub async fn list_rules(
    State(st): State<ApiState>,
    caller: Caller,
    Params(p): Params<RuleParams>,
) -> ApiResult<axum::Json<RuleList>> {
    caller.scope(Action::RulesRead, &[])?;
    let book = book(&st)?;
    let all = book.list();
    let counters = book.sigma_counters();
    let totals = EngineTotals {
        sigma_rules: all
            .iter()
            .filter(|r| r.enabled && r.kind == RuleKind::Sigma)
            .count(),
        correlation_rules: all
            .iter()
            .filter(|r| r.enabled && r.kind == RuleKind::Correlation)
            .count(),
        disabled: all.iter().filter(|r| !r.enabled).count(),
        sigma_events: counters.as_ref().map_or(0, |c| c.events),
        sigma_evaluations: counters.as_ref().map_or(0, |c| c.evaluated),
    };
    let q = p.q.as_deref().map(str::to_lowercase);
    let attack = p.attack.as_deref().map(str::to_lowercase);
    let rules = all
        .into_iter()
        .filter(|r| p.kind.is_none_or(|k| r.kind == k))
        .filter(|r| p.enabled.is_none_or(|e| r.enabled == e))
        .filter(|r| {
            p.level.as_deref().is_none_or(|l| {
                r.level
                    .as_deref()
                    .is_some_and(|x| x.eq_ignore_ascii_case(l))
            })
        })
        .filter(|r| {
            attack.as_deref().is_none_or(|a| {
                r.tactics.iter().any(|t| t == a)
                    || r.techniques.iter().any(|t| t.to_lowercase().starts_with(a))
            })
        })
        .filter(|r| {
            q.as_deref().is_none_or(|q| {
                r.id.to_lowercase().contains(q) || r.title.to_lowercase().contains(q)
            })
        })
        .collect();
    Ok(axum::Json(RuleList { rules, totals }))
}

/// A rule with the YAML source of its file.
#[utoipa::path(get, path = "/api/v1/rules/{id}", tag = "rules",
    params(("id" = String, Path, description = "Rule id")),
    responses((status = 200, body = RuleDetail), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub async fn get_rule(
    State(st): State<ApiState>,
    caller: Caller,
    PathParam(id): PathParam<String>,
) -> Result<axum::Json<RuleDetail>, Response> {
    caller
        .scope(Action::RulesRead, &[])
        .map_err(IntoResponse::into_response)?;
    let book = book(&st).map_err(IntoResponse::into_response)?;
    blocking(move || book.get(&id)).await.map(axum::Json)
}

/// A rule source.
#[derive(Debug, Deserialize, ToSchema)]
pub struct RuleSource {
    /// `sigma` or `correlation`; guessed from the source when absent (Sigma has `detection:`
    /// or `logsource:`).
    pub kind: Option<RuleKind>,
    /// The YAML.
    pub source: String,
}

impl RuleSource {
    fn kind(&self) -> RuleKind {
        self.kind.unwrap_or_else(|| guess_kind(&self.source))
    }
}

/// Validates a rule source without saving it: every problem with its line and column.
#[utoipa::path(post, path = "/api/v1/rules/validate", tag = "rules", request_body = RuleSource,
    responses((status = 200, body = Validation), (status = 403, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub async fn validate_rule(
    State(st): State<ApiState>,
    caller: Caller,
    Body(req): Body<RuleSource>,
) -> Result<axum::Json<Validation>, Response> {
    caller
        .scope(Action::RulesRead, &[])
        .map_err(IntoResponse::into_response)?;
    let book = book(&st).map_err(IntoResponse::into_response)?;
    let kind = req.kind();
    blocking(move || Ok(book.validate(kind, &req.source)))
        .await
        .map(axum::Json)
}

/// Creates a rule under `<data_dir>/rules` and puts it in force at once. A rule that does not
/// validate is answered 400 `invalid_rule` with its problems.
#[utoipa::path(post, path = "/api/v1/rules", tag = "rules", request_body = RuleSource,
    responses((status = 201, body = RuleSummary), (status = 400, body = InvalidRuleBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub async fn create_rule(
    State(st): State<ApiState>,
    caller: Caller,
    Body(req): Body<RuleSource>,
) -> Result<Response, Response> {
    let shared = write_scope(&caller).map_err(IntoResponse::into_response)?;
    let book = book(&st).map_err(IntoResponse::into_response)?;
    let kind = req.kind();
    let (rule, _) = blocking(move || book.save(kind, &req.source, None)).await?;
    audit(
        &st,
        &caller,
        &shared,
        "rule.create",
        ("rule", &rule.id),
        serde_json::json!({ "kind": rule.kind }),
    )
    .await;
    Ok((StatusCode::CREATED, axum::Json(rule)).into_response())
}

/// Replaces a rule written through the API (its source must keep its id) and reloads it.
#[utoipa::path(put, path = "/api/v1/rules/{id}", tag = "rules", request_body = RuleSource,
    params(("id" = String, Path, description = "Rule id")),
    responses((status = 200, body = RuleSummary), (status = 400, body = InvalidRuleBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub async fn update_rule(
    State(st): State<ApiState>,
    caller: Caller,
    PathParam(id): PathParam<String>,
    Body(req): Body<RuleSource>,
) -> Result<axum::Json<RuleSummary>, Response> {
    let shared = write_scope(&caller).map_err(IntoResponse::into_response)?;
    let book = book(&st).map_err(IntoResponse::into_response)?;
    let kind = req.kind();
    let rid = id.clone();
    let (rule, _) = blocking(move || book.save(kind, &req.source, Some(&rid))).await?;
    audit(
        &st,
        &caller,
        &shared,
        "rule.update",
        ("rule", &id),
        serde_json::json!({ "kind": rule.kind }),
    )
    .await;
    Ok(axum::Json(rule))
}

async fn set_enabled(
    st: ApiState,
    caller: Caller,
    id: String,
    enabled: bool,
) -> Result<axum::Json<RuleSummary>, Response> {
    let shared = write_scope(&caller).map_err(IntoResponse::into_response)?;
    let book = book(&st).map_err(IntoResponse::into_response)?;
    let rid = id.clone();
    let rule = blocking(move || book.set_enabled(&rid, enabled)).await?;
    audit(
        &st,
        &caller,
        &shared,
        if enabled {
            "rule.enable"
        } else {
            "rule.disable"
        },
        ("rule", &id),
        serde_json::json!({ "kind": rule.kind }),
    )
    .await;
    Ok(axum::Json(rule))
}

/// Enables a rule: persisted, in force at once.
#[utoipa::path(post, path = "/api/v1/rules/{id}/enable", tag = "rules",
    params(("id" = String, Path, description = "Rule id")),
    responses((status = 200, body = RuleSummary), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub async fn enable_rule(
    State(st): State<ApiState>,
    caller: Caller,
    PathParam(id): PathParam<String>,
) -> Result<axum::Json<RuleSummary>, Response> {
    set_enabled(st, caller, id, true).await
}

/// Disables a rule: persisted (`<data_dir>/rules/disabled.json`), out of the engine at once.
#[utoipa::path(post, path = "/api/v1/rules/{id}/disable", tag = "rules",
    params(("id" = String, Path, description = "Rule id")),
    responses((status = 200, body = RuleSummary), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub async fn disable_rule(
    State(st): State<ApiState>,
    caller: Caller,
    PathParam(id): PathParam<String>,
) -> Result<axum::Json<RuleSummary>, Response> {
    set_enabled(st, caller, id, false).await
}

/// Runs a rule source's own test events (Sigma `tests: {match, no_match}`, correlation
/// `tests:`) and returns the results and the alerts they raise.
#[utoipa::path(post, path = "/api/v1/rules/test", tag = "rules", request_body = RuleSource,
    responses((status = 200, body = RuleRun), (status = 400, body = InvalidRuleBody), (status = 403, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub async fn test_rule(
    State(st): State<ApiState>,
    caller: Caller,
    Body(req): Body<RuleSource>,
) -> Result<axum::Json<RuleRun>, Response> {
    caller
        .scope(Action::RulesRead, &[])
        .map_err(IntoResponse::into_response)?;
    let book = book(&st).map_err(IntoResponse::into_response)?;
    let kind = req.kind();
    blocking(move || book.test(kind, &req.source))
        .await
        .map(axum::Json)
}

/// A retroscan.
#[derive(Debug, Deserialize, ToSchema)]
pub struct RetroscanRequest {
    /// `sigma` or `correlation` (guessed when absent).
    pub kind: Option<RuleKind>,
    /// The rule's YAML.
    pub source: String,
    /// Hours back from now (1–168, default 24).
    pub hours: Option<u32>,
    /// Tenants (default: every tenant where the caller may search).
    pub tenants: Option<Vec<TenantId>>,
}

/// Replays the stored events of the last hours (at most 100,000, the newest) through a rule
/// source and returns the alerts it would have raised.
#[utoipa::path(post, path = "/api/v1/rules/retroscan", tag = "rules", request_body = RetroscanRequest,
    responses((status = 200, body = RuleRun), (status = 400, body = InvalidRuleBody), (status = 403, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub async fn retroscan_rule(
    State(st): State<ApiState>,
    caller: Caller,
    Body(req): Body<RetroscanRequest>,
) -> Result<axum::Json<RuleRun>, Response> {
    caller
        .scope(Action::RulesRead, &[])
        .map_err(IntoResponse::into_response)?;
    let scope = caller
        .scope(Action::Search, req.tenants.as_deref().unwrap_or(&[]))
        .map_err(IntoResponse::into_response)?;
    let hours = req.hours.unwrap_or(24);
    if hours == 0 || hours > MAX_HOURS {
        return Err(ApiError::invalid(format!("hours: 1 to {MAX_HOURS}")).into_response());
    }
    let book = book(&st).map_err(IntoResponse::into_response)?;
    let tenants: Vec<TenantId> = scope.iter().cloned().collect();
    let kind = req.kind.unwrap_or_else(|| guess_kind(&req.source));
    blocking(move || book.retroscan(kind, &req.source, hours, &tenants))
        .await
        .map(axum::Json)
}

/// Which coverage to compute.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CoverageParams {
    /// Hours back in which a log source counts as sending (1–168, default 24).
    pub hours: Option<u32>,
    /// Tenants (comma-separated; default every tenant where the caller may search).
    pub tenant: Option<String>,
}

/// One technique under one tactic.
#[derive(Debug, Serialize, ToSchema)]
pub struct CoverageCell {
    /// Tactic (`credential-access`).
    pub tactic: String,
    /// Technique (`T1110.001`), or `""` for rules tagged with the tactic only.
    pub technique: String,
    /// Running rules covering it.
    pub live: Vec<String>,
    /// Of those, rules whose log sources sent events in the range (or that need no
    /// particular source).
    pub sending: Vec<String>,
    /// Disabled rules covering it.
    pub disabled: Vec<String>,
}

/// The ATT&CK coverage of the rules.
#[derive(Debug, Serialize, ToSchema)]
pub struct Coverage {
    /// Tactics in matrix order (Enterprise).
    pub tactics: Vec<String>,
    /// Techniques the rules name, per tactic (a technique is placed under the tactics its
    /// rule names). Techniques no rule names are not listed.
    pub cells: Vec<CoverageCell>,
    /// Events per `event.module` in the range (what "sending" is decided on).
    pub sources: BTreeMap<String, u64>,
    /// The range, hours.
    pub hours: u32,
}

/// Whether one of a rule's log sources sent: a source matches an `event.module` with events
/// when one of its `/`-separated parts (Sigma product, category, service; correlation module)
/// is that module. A rule without log sources counts as sending when anything sent.
fn rule_sending(r: &RuleSummary, sources: &BTreeMap<String, u64>) -> bool {
    let any = sources.values().any(|n| *n > 0);
    if r.log_sources.is_empty() {
        return any;
    }
    r.log_sources.iter().any(|ls| {
        ls.split('/')
            .filter(|p| !p.is_empty())
            .any(|p| sources.get(&p.to_ascii_lowercase()).is_some_and(|n| *n > 0))
    })
}

/// The ATT&CK matrix of the rules: per tactic and technique, the running rules, those whose
/// log sources are sending, and the disabled ones.
#[utoipa::path(get, path = "/api/v1/rules/coverage", tag = "rules", params(CoverageParams),
    responses((status = 200, body = Coverage), (status = 403, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub async fn coverage(
    State(st): State<ApiState>,
    caller: Caller,
    Params(p): Params<CoverageParams>,
) -> Result<axum::Json<Coverage>, Response> {
    caller
        .scope(Action::RulesRead, &[])
        .map_err(IntoResponse::into_response)?;
    let scope = caller
        .scope(
            Action::Search,
            &tenants(&p.tenant).map_err(IntoResponse::into_response)?,
        )
        .map_err(IntoResponse::into_response)?;
    let hours = p.hours.unwrap_or(24);
    if hours == 0 || hours > MAX_HOURS {
        return Err(ApiError::invalid(format!("hours: 1 to {MAX_HOURS}")).into_response());
    }
    let book = book(&st).map_err(IntoResponse::into_response)?;
    let tenants: Vec<TenantId> = scope.iter().cloned().collect();
    let (rules, sources) = blocking(move || {
        let sources = book.source_counts(hours, &tenants)?;
        Ok((book.list(), sources))
    })
    .await?;
    let mut cells: BTreeMap<(usize, String, String), CoverageCell> = BTreeMap::new();
    for r in &rules {
        let sending = r.enabled && rule_sending(r, &sources);
        for tactic in &r.tactics {
            let Some(ti) = TACTICS.iter().position(|t| t == tactic) else {
                continue;
            };
            let techniques: Vec<String> = if r.techniques.is_empty() {
                vec![String::new()]
            } else {
                r.techniques.clone()
            };
            for te in techniques {
                let c = cells
                    .entry((ti, te.clone(), tactic.clone()))
                    .or_insert_with(|| CoverageCell {
                        tactic: tactic.clone(),
                        technique: te,
                        live: Vec::new(),
                        sending: Vec::new(),
                        disabled: Vec::new(),
                    });
                if !r.enabled {
                    c.disabled.push(r.id.clone());
                } else {
                    c.live.push(r.id.clone());
                    if sending {
                        c.sending.push(r.id.clone());
                    }
                }
            }
        }
    }
    Ok(axum::Json(Coverage {
        tactics: TACTICS.iter().map(|t| (*t).to_owned()).collect(),
        cells: cells.into_values().collect(),
        sources,
        hours,
    }))
}
