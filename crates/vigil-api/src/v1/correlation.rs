//! The running correlator (`docs/correlation.md`): explain a correlation event (its base
//! events and the selector each satisfied), a rule (open buckets, memory, evaluation cost,
//! matches, late events) and "why didn't this fire" for a group; reload the rules.
//!
//! Rules are the installation's, and a rule's counters span every tenant: the rule reports
//! and the reload need `rules.read` / `rules.write` in Main. A group and a correlation event
//! belong to one tenant, checked through [`Caller::scope`] like every other record.

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use vigil_core::correlation::{CorrelationHandle, ReloadReport};
use vigil_core::{Action, TenantId};

use super::admin::audit;
use super::common::*;
use crate::ApiState;

/// The running correlator, or 503 `correlation_off`.
pub(crate) fn correlator(st: &ApiState) -> ApiResult<CorrelationHandle> {
    st.core()?.correlation.get().cloned().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "correlation_off",
            "this server runs without the correlator (its configuration has no correlation section)",
        )
    })
}

/// The one tenant a request about a group, an event or a list instance addresses: the named
/// one (checked through [`Caller::scope`]), else Main when the caller may act there, else the
/// caller's only tenant (Shared aside).
pub(crate) fn one_tenant(
    caller: &Caller,
    action: Action,
    named: &Option<String>,
) -> ApiResult<TenantId> {
    let named = tenants(named)?;
    match named.as_slice() {
        [] => {}
        [one] => {
            caller.scope(action, std::slice::from_ref(one))?;
            return Ok(one.clone());
        }
        _ => return Err(ApiError::invalid("tenant: name one tenant")),
    }
    let scope = caller.scope(action, &[])?;
    let main = TenantId::main();
    if scope.contains(&main) {
        return Ok(main);
    }
    let shared = TenantId::shared();
    let own: Vec<&TenantId> = scope.iter().filter(|t| **t != shared).collect();
    match own.as_slice() {
        [one] => Ok((*one).clone()),
        _ => Err(ApiError::invalid(
            "tenant: the caller has several tenants; name one",
        )),
    }
}

/// A rule's state and counters.
#[derive(Debug, Serialize, ToSchema)]
pub struct RuleExplain {
    /// Rule id.
    pub id: String,
    /// Version.
    pub version: u32,
    /// `simple`, `standard`, `sequence`, `absence`, `operational`.
    pub kind: String,
    /// Open buckets (groups), all tenants.
    pub open_buckets: usize,
    /// Open buckets of the late window.
    pub late_buckets: usize,
    /// Events buffered for in-order evaluation.
    pub pending: usize,
    /// Estimated memory of the rule's state, bytes.
    pub memory_bytes: usize,
    /// The rule's watermark (RFC 3339; absent before any event).
    pub watermark: Option<String>,
    /// Selector tests per event processed since start.
    pub tests_per_event: f64,
    /// Mean time of one selector test, ns (sampled).
    pub ns_per_test: f64,
    /// Evaluation cost per event processed, ns.
    pub ns_per_event: f64,
    /// Counters (since the state began; kept across restarts): evaluated, matched,
    /// missing_group, late, late_dropped, fired, rate_limited, recovered, skipped, evicted,
    /// partials_dropped, forced_releases, depth_exceeded.
    #[schema(value_type = Object)]
    pub counters: serde_json::Value,
    /// The most recent late events: time and id.
    #[schema(value_type = Vec<Object>)]
    pub late_events: Vec<serde_json::Value>,
}

fn time(ns: i64) -> Option<String> {
    (ns != i64::MIN && ns != i64::MAX).then(|| vigil_event::Timestamp(ns).to_rfc3339())
}

fn rule_explain(r: vigil_correlate::RuleReport) -> RuleExplain {
    RuleExplain {
        id: r.id,
        version: r.version,
        kind: r.kind.to_owned(),
        open_buckets: r.groups,
        late_buckets: r.late_groups,
        pending: r.pending,
        memory_bytes: r.state_bytes,
        watermark: time(r.watermark),
        tests_per_event: r.tests_per_event,
        ns_per_test: r.ns_per_test,
        ns_per_event: r.ns_per_event,
        counters: serde_json::to_value(&r.stats).unwrap_or_default(),
        late_events: r
            .late_samples
            .into_iter()
            .map(|(t, id)| json!({ "time": time(t), "id": id }))
            .collect(),
    }
}

/// Rules and their counters are the installation's: `rules.read` (or `rules.write`) in Main.
fn main_scope(caller: &Caller, action: Action) -> ApiResult<()> {
    caller.scope(action, &[TenantId::main()])?;
    Ok(())
}

/// Every running correlation rule with its state and counters.
#[utoipa::path(get, path = "/api/v1/correlation/rules", tag = "correlation",
    responses((status = 200, body = Vec<RuleExplain>), (status = 403, body = ErrorBody), (status = 503, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub async fn list_rules(
    State(st): State<ApiState>,
    caller: Caller,
) -> ApiResult<axum::Json<Vec<RuleExplain>>> {
    let c = correlator(&st)?;
    main_scope(&caller, Action::RulesRead)?;
    let out = c
        .rules()
        .into_iter()
        .filter_map(|(id, ..)| c.rule_report(&id))
        .map(rule_explain)
        .collect();
    Ok(axum::Json(out))
}

/// One rule: open buckets, memory, evaluation cost per event, matches, late events.
#[utoipa::path(get, path = "/api/v1/correlation/rules/{id}", tag = "correlation",
    params(("id" = String, Path, description = "rule id")),
    responses((status = 200, body = RuleExplain), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub async fn get_rule(
    State(st): State<ApiState>,
    caller: Caller,
    PathParam(id): PathParam<String>,
) -> ApiResult<axum::Json<RuleExplain>> {
    let c = correlator(&st)?;
    main_scope(&caller, Action::RulesRead)?;
    c.rule_report(&id)
        .map(|r| axum::Json(rule_explain(r)))
        .ok_or_else(|| no_rule(&id))
}

fn no_rule(id: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("no running correlation rule '{id}'"),
    )
}

/// The group to explain.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WhyParams {
    /// Tenant of the group (default: Main, or the caller's only tenant).
    pub tenant: Option<String>,
    /// The group-by values in the rule's order: comma-separated (`203.0.113.5`), or a JSON
    /// array of strings when a value holds a comma (`["a,b","c"]`).
    pub group: String,
}

/// "Why didn't this fire": what a group's bucket holds against what the rule needs.
#[derive(Debug, Serialize, ToSchema)]
pub struct WhyExplain {
    /// Rule id.
    pub rule: String,
    /// Tenant.
    pub tenant: String,
    /// The group-by fields and the values asked about.
    #[schema(value_type = Object)]
    pub group: serde_json::Value,
    /// Whether a bucket is open for the group.
    pub open: bool,
    /// Per selector: name, events (or distinct values) in the window, threshold, whether it
    /// is a recovery selector.
    #[schema(value_type = Vec<Object>)]
    pub selectors: Vec<serde_json::Value>,
    /// Events of the group buffered, not yet evaluated (waiting for the watermark).
    pub pending: usize,
    /// The group fired and skips events until then (`first_threshold`).
    pub skip_until: Option<String>,
    /// Sequences: each partial match, the step it waits for and its start.
    #[schema(value_type = Vec<Object>)]
    pub partials: Vec<serde_json::Value>,
    /// Absences: the deadline after which it fires unless the expected event comes.
    pub deadline: Option<String>,
    /// Firings within the rate-limit period.
    pub recent_fires: usize,
    /// In words: what was seen and what is missing.
    pub summary: String,
}

fn group_values(s: &str) -> ApiResult<Vec<String>> {
    let t = s.trim();
    if t.starts_with('[') {
        return serde_json::from_str::<Vec<String>>(t)
            .map_err(|e| ApiError::invalid(format!("group: not a JSON array of strings: {e}")));
    }
    Ok(t.split(',').map(|v| v.trim().to_owned()).collect())
}

/// "Why didn't this fire" for one group of a rule.
#[utoipa::path(get, path = "/api/v1/correlation/rules/{id}/why", tag = "correlation",
    params(("id" = String, Path, description = "rule id"), WhyParams),
    responses((status = 200, body = WhyExplain), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub async fn why(
    State(st): State<ApiState>,
    caller: Caller,
    PathParam(id): PathParam<String>,
    Params(p): Params<WhyParams>,
) -> ApiResult<axum::Json<WhyExplain>> {
    let c = correlator(&st)?;
    let t = one_tenant(&caller, Action::RulesRead, &p.tenant)?;
    let fields = c.group_by(&id).ok_or_else(|| no_rule(&id))?;
    let values = group_values(&p.group)?;
    if values.len() != fields.len() {
        return Err(ApiError::invalid(format!(
            "group: rule '{id}' groups by {} field(s) ({}), got {} value(s)",
            fields.len(),
            fields.join(", "),
            values.len()
        )));
    }
    let refs: Vec<&str> = values.iter().map(String::as_str).collect();
    let ex = c
        .explain_group(&id, t.as_str(), &refs)
        .ok_or_else(|| no_rule(&id))?;
    Ok(axum::Json(WhyExplain {
        rule: ex.rule,
        tenant: t.to_string(),
        group: serde_json::Value::Object(
            fields
                .iter()
                .cloned()
                .zip(values.into_iter().map(serde_json::Value::String))
                .collect(),
        ),
        open: ex.open,
        selectors: ex
            .selectors
            .into_iter()
            .map(|(name, seen, threshold, recovery)| {
                json!({ "name": name, "seen": seen, "threshold": threshold, "recovery": recovery })
            })
            .collect(),
        pending: ex.pending,
        skip_until: ex.skip_until.and_then(time),
        partials: ex
            .partials
            .into_iter()
            .map(|(waits_for, start)| json!({ "waits_for": waits_for, "start": time(start) }))
            .collect(),
        deadline: ex.deadline.and_then(time),
        recent_fires: ex.recent_fires,
        summary: ex.summary,
    }))
}

/// The tenant of a stored event.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventParams {
    /// Tenant (default: Main, or the caller's only tenant).
    pub tenant: Option<String>,
}

/// A base event of a correlation event.
#[derive(Debug, Serialize, ToSchema)]
pub struct BaseEventExplain {
    /// Event id.
    pub id: String,
    /// The selector of the rule it satisfied.
    pub selector: String,
    /// The stored event (nested ECS JSON), null when it is no longer stored.
    #[schema(value_type = Object)]
    pub event: serde_json::Value,
}

/// A correlation event and its base events.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventExplainBody {
    /// The correlation event (nested ECS JSON).
    #[schema(value_type = Object)]
    pub event: serde_json::Value,
    /// Rule id.
    pub rule: Option<String>,
    /// Base events counted by the firing (more than listed when over the id cap).
    pub base_count: u64,
    /// The base events listed, with the selector each satisfied.
    pub base: Vec<BaseEventExplain>,
}

/// A correlation event by id: its base events and which selector each satisfied.
#[utoipa::path(get, path = "/api/v1/correlation/events/{id}", tag = "correlation",
    params(("id" = String, Path, description = "correlation event id"), EventParams),
    responses((status = 200, body = EventExplainBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub async fn explain_event(
    State(st): State<ApiState>,
    caller: Caller,
    PathParam(id): PathParam<String>,
    Params(p): Params<EventParams>,
) -> ApiResult<axum::Json<EventExplainBody>> {
    let c = correlator(&st)?;
    let t = one_tenant(&caller, Action::Search, &p.tenant)?;
    let found = tokio::task::spawn_blocking(move || c.explain_event(&t, &id).map(|x| (x, id)))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    let (Some(x), _) = found else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "no such correlation event in this tenant",
        ));
    };
    Ok(axum::Json(EventExplainBody {
        rule: x.event.rule.id.as_ref().map(|s| s.to_string()),
        event: x.event.to_json(),
        base_count: x.base_count,
        base: x
            .base
            .into_iter()
            .map(|b| BaseEventExplain {
                id: b.id,
                selector: b.selector,
                event: b.event.map(|e| e.to_json()).unwrap_or_default(),
            })
            .collect(),
    }))
}

/// Reloads the correlation rules from their files: unchanged rules (same id, version and
/// logic) keep their state, changed and new ones start clean. The rules are also reloaded
/// when their files change and on SIGHUP.
#[utoipa::path(post, path = "/api/v1/correlation/reload", tag = "correlation",
    responses((status = 200, body = ReloadReport), (status = 403, body = ErrorBody), (status = 503, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub async fn reload(
    State(st): State<ApiState>,
    caller: Caller,
) -> ApiResult<axum::Json<ReloadReport>> {
    let c = correlator(&st)?;
    main_scope(&caller, Action::RulesWrite)?;
    let r = tokio::task::spawn_blocking(move || c.reload())
        .await
        .map_err(ApiError::internal)?;
    audit(
        &st,
        &caller,
        &TenantId::main(),
        "correlation.reload",
        ("correlation_rules", "*"),
        json!({ "rules": r.rules, "kept": r.kept, "restarted": r.restarted, "problems": r.problems.len() }),
    )
    .await;
    Ok(axum::Json(r))
}
