//! KUMA's Retroscan over the event store: the stored events of a time range, read oldest first
//! page by page, replayed through candidate correlation rules and, for the diff, through the
//! rules live, one engine pair per tenant ([`vigil_correlate::Retroscan`]). `vigil retroscan`
//! runs it on a data directory it opens itself, and `POST /api/v1/correlation/retroscan` on the
//! store of a running `vigil up`; both print or answer [`report_json`].
//!
//! Correlation events already stored (and list-expiry service events) are not replayed: the
//! engines make their own, and replaying the live ones would chain them twice. Only alerts are
//! kept, so a replay of any length runs in the memory of the rules' state.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use vigil_correlate::{RetroReport, RetroRule, Retroscan, Rules};
use vigil_event::{Event, EventType, TenantId};
use vigil_store::{EventStore, Order, SearchRequest, TimeRange};

/// Events read from the store per page.
pub const PAGE: usize = 20_000;

/// Why a retroscan stopped.
#[derive(Debug, thiserror::Error)]
pub enum RetroError {
    /// The store failed.
    #[error("reading the events of tenant {tenant}: {message}")]
    Store {
        /// The tenant being read.
        tenant: TenantId,
        /// What the store said.
        message: String,
    },
    /// More than a page of events at one instant: the paging cannot move past them.
    #[error("more than {PAGE} events at {at} in tenant {tenant}; retroscan cannot page past them")]
    Instant {
        /// The tenant.
        tenant: TenantId,
        /// The instant (RFC 3339).
        at: String,
    },
    /// The caller gave up (the API client went away).
    #[error("cancelled")]
    Cancelled,
}

/// Whether the replay feeds this stored event to the engines.
pub fn replayed(e: &Event) -> bool {
    match e.meta.kind {
        EventType::Correlation => false,
        EventType::Monitoring => e.extra.get("vigil.list.name").is_none(),
        _ => true,
    }
}

/// Reads `tenant`'s events of `range` oldest first, page by page, and hands each page (without
/// the events that are not replayed) to `f`. Events sharing the last timestamp of a page are
/// not lost: the next page starts at that timestamp and skips the ids already read.
pub fn scan(
    store: &dyn EventStore,
    tenant: &TenantId,
    range: TimeRange,
    cancel: Option<&AtomicBool>,
    mut f: impl FnMut(&[Event]),
) -> Result<(), RetroError> {
    let mut from = range.from;
    let mut seen_at_from: HashSet<vigil_event::Ulid> = HashSet::new();
    let store_err = |message: String| RetroError::Store {
        tenant: tenant.clone(),
        message,
    };
    loop {
        if cancel.is_some_and(|c| c.load(Ordering::Relaxed)) {
            return Err(RetroError::Cancelled);
        }
        let mut req = SearchRequest::parse("", PAGE).map_err(|e| store_err(e.to_string()))?;
        req.order = Order::OldestFirst;
        req.range = TimeRange::new(from, range.to);
        let page = store
            .search(tenant, &req)
            .map_err(|e| store_err(e.to_string()))?;
        let n = page.events.len();
        let page_last = page.events.last().map(|e| e.timestamp).unwrap_or(from);
        let unseen: Vec<Event> = page
            .events
            .into_iter()
            .filter(|e| !(e.timestamp == from && seen_at_from.contains(&e.meta.id)))
            .collect();
        if n == PAGE && page_last == from && unseen.is_empty() {
            // a whole page at one instant, every id seen: nothing new can come from here
            return Err(RetroError::Instant {
                tenant: tenant.clone(),
                at: from.to_rfc3339(),
            });
        }
        if page_last != from {
            seen_at_from.clear();
        }
        seen_at_from.extend(
            unseen
                .iter()
                .filter(|e| e.timestamp == page_last)
                .map(|e| e.meta.id),
        );
        let fresh: Vec<Event> = unseen.into_iter().filter(replayed).collect();
        if !fresh.is_empty() {
            f(&fresh);
        }
        if n < PAGE {
            return Ok(());
        }
        from = page_last;
    }
}

/// Where a replay is, for a progress display: the tenant, its replay so far, and the time of
/// its first and of the last replayed event (nanoseconds).
pub struct Progress<'a> {
    /// The tenant being replayed.
    pub tenant: &'a TenantId,
    /// Its replay so far (events, alerts).
    pub scan: &'a Retroscan,
    /// The first replayed event's time in this tenant.
    pub first: i64,
    /// The last replayed event's time.
    pub last: i64,
}

impl std::fmt::Debug for Progress<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Progress")
            .field("tenant", self.tenant)
            .field("events", &self.scan.events())
            .field("alerts", &self.scan.alerts())
            .field("first", &self.first)
            .field("last", &self.last)
            .finish()
    }
}

/// Replays `tenants`' events of `range` through `candidate` (and `live`, for the diff), each
/// tenant on its own engines, and merges the reports: per rule the alerts before, after, new
/// and gone summed over the tenants, and every candidate alert oldest first.
pub fn run(
    store: &dyn EventStore,
    tenants: &[TenantId],
    range: TimeRange,
    candidate: Arc<Rules>,
    live: Option<Arc<Rules>>,
    cancel: Option<&AtomicBool>,
    mut progress: impl FnMut(Progress<'_>),
) -> Result<RetroReport, RetroError> {
    let mut total = RetroReport::default();
    let mut per_rule: BTreeMap<String, RetroRule> = BTreeMap::new();
    for tenant in tenants {
        let mut rs = Retroscan::shared(candidate.clone(), live.clone());
        let mut first: Option<i64> = None;
        scan(store, tenant, range, cancel, |events| {
            rs.feed(events);
            if let (Some(e0), Some(last)) = (events.first(), events.last()) {
                let first = *first.get_or_insert(e0.timestamp.0);
                progress(Progress {
                    tenant,
                    scan: &rs,
                    first,
                    last: last.timestamp.0,
                });
            }
        })?;
        let r = rs.finish();
        total.events += r.events;
        for x in r.rules {
            let e = per_rule.entry(x.id.clone()).or_insert_with(|| RetroRule {
                id: x.id.clone(),
                ..RetroRule::default()
            });
            e.before += x.before;
            e.after += x.after;
            e.new += x.new;
            e.gone += x.gone;
        }
        total.alerts.extend(r.alerts);
    }
    total.alerts.sort_by_key(|e| e.timestamp);
    total.rules = per_rule.into_values().collect();
    Ok(total)
}

/// One alert of the report: time, tenant, rule, name, severity, group-by values, base event
/// count and the correlation event's id.
pub fn alert_json(e: &Event) -> serde_json::Value {
    let group = e
        .extra
        .get("vigil.correlation.group_by")
        .map(|v| v.to_json())
        .unwrap_or(serde_json::Value::Null);
    serde_json::json!({
        "time": e.timestamp.to_rfc3339(),
        "tenant": e.meta.tenant.as_str(),
        "rule": e.rule.id.as_deref(),
        "name": e.rule.name.as_deref(),
        "severity": e.log.level.as_deref(),
        "group_by": group,
        "base_events": e.extra.get("vigil.correlation.base_event_count").map(|v| v.to_json()),
        "id": e.meta.id.to_string(),
    })
}

/// The report as `vigil retroscan --format json` prints it and the API answers it: `events`,
/// `tenants`, `diff`, `rules` (`id`, `before`, `after`, `new`, `gone`), `alert_count` and the
/// first `max_alerts` of `alerts`, oldest first.
pub fn report_json(
    r: &RetroReport,
    tenants: usize,
    diff: bool,
    max_alerts: usize,
) -> serde_json::Value {
    serde_json::json!({
        "events": r.events,
        "tenants": tenants,
        "diff": diff,
        "rules": r.rules.iter().map(|x| serde_json::json!({
            "id": x.id, "before": x.before, "after": x.after, "new": x.new, "gone": x.gone,
        })).collect::<Vec<_>>(),
        "alert_count": r.alerts.len(),
        "alerts": r.alerts.iter().take(max_alerts).map(alert_json).collect::<Vec<_>>(),
    })
}
