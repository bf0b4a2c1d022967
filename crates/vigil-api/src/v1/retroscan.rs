//! Retroscan on a running instance (`docs/correlation.md`, "Retroscan"): candidate
//! correlation rule files, sent as text, replayed over the stored events of a time range, with
//! the diff against the rules this instance runs (or against other rule files sent too). The
//! answer is the report `vigil retroscan --format json` prints; `vigil retroscan` sends this
//! request when `vigil up` runs on its data directory, since the embedded store is then locked.
//!
//! It reads events, so it runs over the tenants where the caller may search (the named one,
//! checked through [`Caller::scope`], or all of them), and it needs `rules.read` (rules are
//! content). Nothing is changed: the candidate and live rules run on engines of their own.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use vigil_core::{Action, TenantId};
use vigil_event::Timestamp;
use vigil_store::TimeRange;

use super::common::*;
use super::correlation::correlator;
use crate::ApiState;
use crate::store_search::parse_time_arg;

/// Most alerts listed in an answer (`alert_count` counts them all).
const MAX_ALERTS: usize = 100_000;
/// Alerts listed when the request does not say.
const DEFAULT_ALERTS: usize = 1_000;

/// One rule file: a name (for the problems) and its YAML.
#[derive(Debug, Deserialize, ToSchema)]
pub struct RuleFile {
    /// File name, e.g. `draft.yaml` (problems are reported with it).
    pub name: String,
    /// The file's YAML: one rule, or `rules:`, `active_lists:`, `context_tables:`.
    pub source: String,
}

/// A retroscan.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CorrelationRetroscanRequest {
    /// The candidate rule files (loaded together as one set). Every rule that does not load
    /// is reported (400 `invalid_rules`) and nothing is replayed.
    pub rules: Vec<RuleFile>,
    /// The rule files to diff against; absent: the rules this instance runs now.
    #[serde(default)]
    pub live: Option<Vec<RuleFile>>,
    /// Only the candidate's alerts, no diff.
    #[serde(default)]
    pub no_diff: bool,
    /// Start of the range (inclusive): RFC 3339, a date, epoch seconds, or a relative time
    /// like `2h`, `7d` (ago). Default: the oldest stored event.
    #[serde(default)]
    pub from: Option<String>,
    /// End of the range (exclusive); same forms. Default: now.
    #[serde(default)]
    pub to: Option<String>,
    /// Only this tenant (default: every tenant where the caller may search, each replayed on
    /// its own).
    #[serde(default)]
    pub tenant: Option<String>,
    /// Most alerts listed in the answer (default 1,000; at most 100,000).
    #[serde(default)]
    pub max_alerts: Option<usize>,
}

/// Per rule: alerts before (live rules), after (candidate), new and gone.
#[derive(Debug, Serialize, ToSchema)]
pub struct RetroRuleBody {
    /// Rule id.
    pub id: String,
    /// Alerts of the live rule.
    pub before: u64,
    /// Alerts of the candidate rule.
    pub after: u64,
    /// Candidate alerts the live rule did not raise.
    pub new: u64,
    /// Live alerts the candidate does not raise.
    pub gone: u64,
}

/// The report of a retroscan (as `vigil retroscan --format json` prints it).
#[derive(Debug, Serialize, ToSchema)]
pub struct RetroscanReport {
    /// Events replayed.
    pub events: u64,
    /// Tenants replayed.
    pub tenants: usize,
    /// Whether the live rules ran for the diff.
    pub diff: bool,
    /// Per rule.
    pub rules: Vec<RetroRuleBody>,
    /// Alerts of the candidate rules.
    pub alert_count: usize,
    /// The first `max_alerts` of them, oldest first: time, tenant, rule, name, severity,
    /// group_by, base_events, id.
    #[schema(value_type = Vec<Object>)]
    pub alerts: Vec<serde_json::Value>,
}

/// Sets the flag when the request's future is dropped (the client went away).
struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

fn load(files: &[RuleFile], what: &str) -> ApiResult<vigil_correlate::Rules> {
    let mut loader = vigil_correlate::Loader::new();
    for f in files {
        loader.add_str(std::path::Path::new(&f.name), &f.source);
    }
    let (rules, problems) = loader.finish();
    if !problems.is_empty() {
        let lines: Vec<String> = problems.iter().map(|p| format!("{what}: {p}")).collect();
        return Err(ApiError::new(
            axum::http::StatusCode::BAD_REQUEST,
            "invalid_rules",
            lines.join("\n"),
        ));
    }
    if rules.rules.is_empty() {
        return Err(ApiError::invalid(format!(
            "{what}: no correlation rules found"
        )));
    }
    Ok(rules)
}

/// Replays the stored events of a range through candidate correlation rules and reports the
/// alerts they would have raised, with the diff per rule (before, after, new, gone) against
/// the rules running (or the `live` files given).
#[utoipa::path(post, path = "/api/v1/correlation/retroscan", tag = "correlation",
    request_body = CorrelationRetroscanRequest,
    responses((status = 200, body = RetroscanReport), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 503, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub async fn retroscan(
    State(st): State<ApiState>,
    caller: Caller,
    Body(req): Body<CorrelationRetroscanRequest>,
) -> ApiResult<axum::Json<RetroscanReport>> {
    let c = correlator(&st)?;
    caller.scope(Action::RulesRead, &[])?;
    let named = tenants(&req.tenant)?;
    let scope = caller.scope(Action::Search, &named)?;
    let now = Timestamp::now();
    let from = match &req.from {
        Some(f) => parse_time_arg(f, now).map_err(|e| ApiError::invalid(format!("from: {e}")))?,
        None => Timestamp::MIN,
    };
    let to = match &req.to {
        Some(t) => parse_time_arg(t, now).map_err(|e| ApiError::invalid(format!("to: {e}")))?,
        None => now,
    };
    if from >= to {
        return Err(ApiError::invalid("from must be before to"));
    }
    let max_alerts = req.max_alerts.unwrap_or(DEFAULT_ALERTS).min(MAX_ALERTS);
    let candidate = Arc::new(load(&req.rules, "rules")?);
    let (store, running) = c.retroscan_inputs();
    let live = match (&req.live, req.no_diff) {
        (_, true) => None,
        (Some(files), false) => Some(Arc::new(load(files, "live")?)),
        (None, false) => Some(running),
    };
    let diff = live.is_some();
    let cancel = Arc::new(AtomicBool::new(false));
    let _guard = CancelOnDrop(cancel.clone());
    let (r, n_tenants) = tokio::task::spawn_blocking(move || {
        let stored: Vec<TenantId> = store.tenants().map_err(ApiError::internal)?;
        let wanted: Vec<TenantId> = stored
            .into_iter()
            .filter(|t| scope.iter().any(|s| s == t))
            .collect();
        let r = vigil_core::retroscan::run(
            &*store,
            &wanted,
            TimeRange::new(from, to),
            candidate,
            live,
            Some(&cancel),
            |_| {},
        )
        .map_err(ApiError::internal)?;
        Ok::<_, ApiError>((r, wanted.len()))
    })
    .await
    .map_err(ApiError::internal)??;
    Ok(axum::Json(RetroscanReport {
        events: r.events,
        tenants: n_tenants,
        diff,
        rules: r
            .rules
            .iter()
            .map(|x| RetroRuleBody {
                id: x.id.clone(),
                before: x.before,
                after: x.after,
                new: x.new,
                gone: x.gone,
            })
            .collect(),
        alert_count: r.alerts.len(),
        alerts: r
            .alerts
            .iter()
            .take(max_alerts)
            .map(vigil_core::retroscan::alert_json)
            .collect(),
    }))
}
