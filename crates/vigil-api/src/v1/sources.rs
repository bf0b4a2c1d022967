//! Source status: every collector and host with its last event, EPS now and over 24 h, parse
//! errors, drops and monitoring breaches; one source's per-minute series (sparklines); each
//! tenant's EPS averaged over 24 h (the licensing figure). All `sources.read`, scoped through
//! [`Caller::scope`].

use std::collections::HashMap;

use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use vigil_core::sources::{SourceKind, SourcePoint};
use vigil_core::{Action, Paged, TenantId};

use super::Core;
use super::common::*;
use crate::ApiState;

/// Seconds in the day the 24-hour figures cover.
const DAY_SECS: i64 = 86_400;

/// Which sources to list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SourceParams {
    /// Tenants (comma-separated); default: every tenant where the caller may read sources.
    pub tenant: Option<String>,
    /// Only `collector` or only `host` sources.
    pub kind: Option<SourceKind>,
    /// Rows per page (1–1000, default 50).
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// A policy a source breaches now.
#[derive(Debug, Serialize, ToSchema)]
pub struct SourceBreach {
    /// The monitoring policy's id.
    pub policy_id: String,
    /// `silent`, `below` or `above`.
    pub breach: String,
}

/// A source with its figures.
#[derive(Debug, Serialize, ToSchema)]
pub struct SourceView {
    /// Tenant.
    pub tenant: TenantId,
    /// Source id: the collector id, or `collector/host`.
    pub id: String,
    /// `collector` or `host`.
    pub kind: SourceKind,
    /// The collector (configuration id).
    pub collector: String,
    /// The Vigil node that received it.
    pub node: String,
    /// Host name (host sources).
    pub host: Option<String>,
    /// Last sender address.
    pub ip: Option<String>,
    /// When Vigil first saw it.
    pub first_seen: DateTime<Utc>,
    /// Receive time of its newest event.
    pub last_event_at: Option<DateTime<Utc>>,
    /// Events per second over the last 10 s.
    pub eps_now: f64,
    /// Events per second averaged over the last 24 h.
    pub eps_24h: f64,
    /// Events in the last 24 h.
    pub events_24h: u64,
    /// Parse errors in the last 24 h (kept raw, counted).
    pub parse_errors_24h: u64,
    /// Records lost in the last 24 h.
    pub drops_24h: u64,
    /// Events since first seen.
    pub events_total: u64,
    /// Parse errors since first seen.
    pub parse_errors_total: u64,
    /// Drops since first seen.
    pub drops_total: u64,
    /// Monitoring policies it breaches now (empty: healthy or not monitored).
    pub breaches: Vec<SourceBreach>,
    /// Records kept raw (not normalized, flagged `vigil.quota: eps_exceeded`) because the
    /// tenant was over its EPS limit, since this process started (collector sources; 0 for
    /// hosts).
    pub quota_exceeded_total: u64,
}

/// Reads the collectors' telemetry and writes the tracker's pending increments, so a listing
/// includes the last second.
async fn flush(st: &ApiState, core: &Core) {
    let Some(tracker) = &core.sources else { return };
    tracker.sample_components(&st.telemetry);
    let pending = tracker.take_flush();
    if pending.is_empty() {
        return;
    }
    if let Err(e) = core.store.record_sources(&pending).await {
        tracing::warn!(error = %e, "source figures not flushed; kept for the next flush");
        tracker.restore(pending);
    }
}

/// Lists sources (collectors and the hosts behind them) with their figures.
#[utoipa::path(get, path = "/api/v1/sources", tag = "sources", params(SourceParams),
    responses((status = 200, body = Paged<SourceView>), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub async fn list_sources(
    State(st): State<ApiState>,
    caller: Caller,
    Params(p): Params<SourceParams>,
) -> ApiResult<axum::Json<Paged<SourceView>>> {
    let core = st.core()?;
    let scope = caller.scope(Action::SourcesRead, &tenants(&p.tenant)?)?;
    flush(&st, core).await;
    let now = Utc::now();
    let since = now - chrono::Duration::seconds(DAY_SECS);
    let page = core
        .store
        .list_sources(&scope, p.kind, since, &page(p.limit, &p.cursor))
        .await?;
    let live: HashMap<(TenantId, String), vigil_core::sources::LiveSource> = core
        .sources
        .as_ref()
        .map(|t| {
            t.snapshot()
                .into_iter()
                .map(|s| ((s.tenant.clone(), s.id.clone()), s))
                .collect()
        })
        .unwrap_or_default();
    let mut breaches: HashMap<(TenantId, String), Vec<SourceBreach>> = HashMap::new();
    if let Some(m) = &core.monitor {
        for (policy_id, tenant, source, kind) in m.breaches() {
            breaches
                .entry((tenant, source))
                .or_default()
                .push(SourceBreach {
                    policy_id,
                    breach: kind.to_owned(),
                });
        }
    }
    // the collectors' records over their tenant's EPS quota: the normalizer's counter
    let over_quota: HashMap<String, u64> = st
        .telemetry
        .snapshot()
        .into_iter()
        .filter(|c| c.kind == "normalizer")
        .filter_map(|c| {
            let n = c.errors.get("tenant_quota").copied()?;
            Some((c.id.to_string(), n))
        })
        .collect();
    let items = page
        .items
        .into_iter()
        .map(|r| {
            let key = (r.tenant.clone(), r.id.clone());
            let quota_exceeded_total = if r.kind == SourceKind::Collector {
                over_quota.get(&r.id).copied().unwrap_or(0)
            } else {
                0
            };
            let l = live.get(&key);
            let live_last = l
                .and_then(|l| l.last_event_ms)
                .and_then(DateTime::from_timestamp_millis);
            SourceView {
                last_event_at: r.last_event_at.max(live_last),
                eps_now: l.map_or(0.0, |l| l.eps_now),
                eps_24h: r.events_window as f64 / DAY_SECS as f64,
                events_24h: r.events_window,
                parse_errors_24h: r.parse_errors_window,
                drops_24h: r.drops_window,
                events_total: r.events_total.max(l.map_or(0, |l| l.events_total)),
                parse_errors_total: r
                    .parse_errors_total
                    .max(l.map_or(0, |l| l.parse_errors_total)),
                drops_total: r.drops_total.max(l.map_or(0, |l| l.drops_total)),
                breaches: breaches.remove(&key).unwrap_or_default(),
                quota_exceeded_total,
                tenant: r.tenant,
                id: r.id,
                kind: r.kind,
                collector: r.collector,
                node: r.node,
                host: r.host,
                ip: r.ip,
                first_seen: r.first_seen,
            }
        })
        .collect();
    Ok(axum::Json(Paged {
        items,
        next_cursor: page.next_cursor,
    }))
}

/// Which source's series.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SeriesParams {
    /// The source's tenant.
    pub tenant: String,
    /// The source id (`fw`, `fw/web1`).
    pub id: String,
    /// Hours back, 1–24 (default 24).
    pub hours: Option<u32>,
}

/// One source's events, parse errors and drops per minute (for sparklines), oldest first;
/// minutes without any are left out.
#[utoipa::path(get, path = "/api/v1/sources/series", tag = "sources", params(SeriesParams),
    responses((status = 200, body = Vec<SourcePoint>), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub async fn source_series(
    State(st): State<ApiState>,
    caller: Caller,
    Params(p): Params<SeriesParams>,
) -> ApiResult<axum::Json<Vec<SourcePoint>>> {
    let core = st.core()?;
    let t = tenant(&p.tenant)?;
    let scope = caller.scope(Action::SourcesRead, std::slice::from_ref(&t))?;
    let hours = p.hours.unwrap_or(24);
    if !(1..=24).contains(&hours) {
        return Err(ApiError::invalid("hours: 1 to 24"));
    }
    flush(&st, core).await;
    let since = Utc::now() - chrono::Duration::hours(i64::from(hours));
    Ok(axum::Json(
        core.store.source_series(&scope, &t, &p.id, since).await?,
    ))
}

/// A tenant's event rate averaged over 24 h, as KUMA counts it for licensing.
#[derive(Debug, Serialize, ToSchema)]
pub struct TenantEps {
    /// Tenant.
    pub tenant: TenantId,
    /// Events its collectors received in the last 24 h.
    pub events_24h: u64,
    /// `events_24h / 86,400`.
    pub eps_24h: f64,
    /// The tenant's EPS limit, when it has one.
    pub eps_limit: Option<u64>,
}

/// Which tenants' EPS.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EpsParams {
    /// Tenants (comma-separated); default: every tenant where the caller may read sources.
    pub tenant: Option<String>,
}

/// Each tenant's EPS averaged over the last 24 h (the licensing figure).
#[utoipa::path(get, path = "/api/v1/sources/eps", tag = "sources", params(EpsParams),
    responses((status = 200, body = Vec<TenantEps>), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub async fn tenant_eps(
    State(st): State<ApiState>,
    caller: Caller,
    Params(p): Params<EpsParams>,
) -> ApiResult<axum::Json<Vec<TenantEps>>> {
    let core = st.core()?;
    let scope = caller.scope(Action::SourcesRead, &tenants(&p.tenant)?)?;
    flush(&st, core).await;
    let since = Utc::now() - chrono::Duration::seconds(DAY_SECS);
    let limits: HashMap<TenantId, Option<u64>> = core
        .store
        .list_tenants(&scope)
        .await?
        .into_iter()
        .map(|t| (t.id, t.eps_limit))
        .collect();
    let out = core
        .store
        .tenant_events(&scope, since)
        .await?
        .into_iter()
        .map(|t| TenantEps {
            eps_24h: t.events as f64 / DAY_SECS as f64,
            eps_limit: limits.get(&t.tenant).copied().flatten(),
            events_24h: t.events,
            tenant: t.tenant,
        })
        .collect();
    Ok(axum::Json(out))
}
