//! [`StoreSearch`]: the [`SearchService`] over an [`EventStore`] (embedded or ClickHouse), one
//! path from a query string to events or rows, for the API of `vigil up` and for `vigil
//! search` on a data directory. Also the time arguments searches and hunts take.

use std::sync::Arc;
use std::time::Instant;

use vigil_event::Timestamp;
use vigil_store::{AggregateRequest, EventStore, Order, StoreError, TenantId, TimeRange};

use crate::{SearchControl, SearchError, SearchRequest, SearchResponse, SearchService};

/// Largest `limit` a search may ask for.
pub const MAX_LIMIT: usize = 10_000;

/// Parses a time argument: RFC 3339, a date, epoch seconds/ms, or a relative `15m`/`2h`/`7d`
/// meaning that long ago.
pub fn parse_time_arg(s: &str, now: Timestamp) -> Result<Timestamp, String> {
    let t = s.trim();
    if t == "now" {
        return Ok(now);
    }
    if let Some(ts) = Timestamp::parse(t) {
        return Ok(ts);
    }
    let rel = t.strip_suffix(" ago").unwrap_or(t).trim_start_matches('-');
    if let Ok(d) = vigil_config::parse_duration(rel) {
        return Ok(Timestamp(
            now.0
                .saturating_sub(d.as_nanos().min(i64::MAX as u128) as i64),
        ));
    }
    Err(format!(
        "'{s}' is not a time; use RFC 3339 (2026-11-22T07:00:00Z), a date (2026-11-22), epoch seconds, or a relative time (15m, 2h, 7d)"
    ))
}

fn range(req: &SearchRequest) -> Result<TimeRange, SearchError> {
    let now = Timestamp::now();
    let from = match &req.from {
        Some(f) => {
            parse_time_arg(f, now).map_err(|e| SearchError::BadRequest(format!("from: {e}")))?
        }
        None => Timestamp::MIN,
    };
    let to = match &req.to {
        Some(t) => {
            parse_time_arg(t, now).map_err(|e| SearchError::BadRequest(format!("to: {e}")))?
        }
        None => Timestamp::MAX,
    };
    if from >= to {
        return Err(SearchError::BadRequest("from must be before to".into()));
    }
    Ok(TimeRange::new(from, to))
}

/// Converts a query-result value to JSON.
pub fn value_json(v: &vigil_query::Value) -> serde_json::Value {
    use vigil_query::Value as V;
    match v {
        V::Str(s) => serde_json::Value::String(s.to_string()),
        V::Int(i) => serde_json::Value::from(*i),
        V::Float(x) => serde_json::Number::from_f64(*x)
            .map(serde_json::Value::Number)
            .unwrap_or(serde_json::Value::Null),
        V::Bool(b) => serde_json::Value::Bool(*b),
        V::Ip(ip) => serde_json::Value::String(ip.to_string()),
        V::Time(t) => serde_json::Value::String(Timestamp(*t).to_rfc3339()),
    }
}

fn store_err(e: StoreError, ctl: &SearchControl) -> SearchError {
    // A search stopped by its control reports why it stopped, whatever the backend said.
    if let Err(q) = ctl.check()
        && let Some(e) = SearchError::from_query(&q)
    {
        return e;
    }
    match e {
        StoreError::Query(q) => {
            SearchError::from_query(&q).unwrap_or_else(|| SearchError::BadRequest(q.to_string()))
        }
        // the backend's own limits (ClickHouse: memory, rows read, execution time)
        StoreError::QueryLimit(m) => SearchError::TooLarge(format!(
            "{m}; narrow the time range or the filter, or lower the limit"
        )),
        // an unknown storage space, an aggregation sent to search
        StoreError::Invalid(m) => SearchError::BadRequest(m),
        other => SearchError::Internal(other.to_string()),
    }
}

/// Searches over a store.
#[derive(Debug)]
pub struct StoreSearch {
    store: Arc<dyn EventStore>,
    lists: Option<Arc<dyn crate::ListLookup>>,
}

impl StoreSearch {
    /// The search service of `store`.
    pub fn new(store: Arc<dyn EventStore>) -> StoreSearch {
        StoreSearch { store, lists: None }
    }

    /// With the lists the `lookup` stage reads.
    pub fn with_lists(mut self, lists: Arc<dyn crate::ListLookup>) -> StoreSearch {
        self.lists = Some(lists);
        self
    }

    /// A query with `| lookup LIST [on F]`: the filter and the `where` stages before the
    /// first lookup select events in the store (newest first, at most
    /// [`vigil_store::MAX_SEARCH_LIMIT`]); each lookup adds its entry's columns to the events
    /// as `LIST.COLUMN`; the stages after the lookups run over the enriched events.
    #[allow(clippy::too_many_arguments)]
    fn search_with_lookup(
        &self,
        req: &SearchRequest,
        ctl: &SearchControl,
        mut query: vigil_query::Query,
        range: TimeRange,
        tenant: &TenantId,
        at: usize,
        started: Instant,
    ) -> Result<SearchResponse, SearchError> {
        use vigil_query::Stage;
        let Some(lists) = &self.lists else {
            return Err(SearchError::BadRequest(
                "lookup reads the active lists and context tables of a running `vigil up` with a correlation section; this search has none".into(),
            ));
        };
        if query.stages[..at]
            .iter()
            .any(|s| !matches!(s, Stage::Where(_)))
        {
            return Err(SearchError::BadRequest(
                "lookup comes right after the filter and its `where` stages (before fields, sort, head and aggregations)".into(),
            ));
        }
        let mut stages = query.stages.split_off(at);
        let mut lookups = Vec::new();
        while let Some(Stage::Lookup { .. }) = stages.first() {
            let Stage::Lookup { list, on } = stages.remove(0) else {
                break;
            };
            let key = lists.key_columns(&list).ok_or_else(|| {
                SearchError::BadRequest(format!(
                    "lookup: no active list or context table named '{list}'"
                ))
            })?;
            let on = if on.is_empty() { key.clone() } else { on };
            if on.len() != key.len() {
                return Err(SearchError::BadRequest(format!(
                    "lookup {list}: its key has {} column(s) ({}), `on` names {} field(s)",
                    key.len(),
                    key.join(", "),
                    on.len()
                )));
            }
            lookups.push((list, on));
        }
        if stages.iter().any(|s| matches!(s, Stage::Lookup { .. })) {
            return Err(SearchError::BadRequest(
                "lookup stages come together, right after the filter and its `where` stages".into(),
            ));
        }
        let r = self
            .store
            .search(
                tenant,
                &vigil_store::SearchRequest {
                    query,
                    range,
                    limit: vigil_store::MAX_SEARCH_LIMIT,
                    order: Order::NewestFirst,
                    space: req.space.clone(),
                    control: ctl.clone(),
                },
            )
            .map_err(|e| store_err(e, ctl))?;
        let scanned_all = r.events.len() < vigil_store::MAX_SEARCH_LIMIT;
        let mut events = r.events;
        for (i, ev) in events.iter_mut().enumerate() {
            if i % vigil_query::CHECK_EVERY == 0 {
                ctl.check().map_err(|q| store_err(q.into(), ctl))?;
            }
            for (list, on) in &lookups {
                let key: Option<Vec<String>> = on
                    .iter()
                    .map(|f| ev.get(f).map(|v| vigil_correlate::store::value_text(&v)))
                    .collect();
                let Some(key) = key else { continue };
                if let Some(values) = lists.lookup(list, tenant.as_str(), &key) {
                    for (col, v) in values {
                        let _ = ev.set(&format!("{list}.{col}"), v);
                    }
                }
            }
        }
        if stages.is_empty() {
            let limit = req.limit.unwrap_or(100).min(MAX_LIMIT);
            let truncated = events.len() > limit || !scanned_all;
            let mut out = Vec::with_capacity(events.len().min(limit));
            for e in events.iter().take(limit) {
                ctl.reserve(2 * vigil_store::event_bytes(e))
                    .map_err(|q| store_err(q.into(), ctl))?;
                out.push(e.to_json());
            }
            return Ok(SearchResponse::Events {
                events: out,
                truncated,
                took_ms: started.elapsed().as_millis() as u64,
            });
        }
        let mut exec = vigil_query::Executor::for_stages(&stages, Default::default())
            .map_err(|e| SearchError::BadRequest(e.to_string()))?
            .with_control(ctl.clone());
        for e in &events {
            exec.push(e as &dyn vigil_query::Record)
                .map_err(|q| store_err(q.into(), ctl))?;
        }
        let table = exec.finish().map_err(|q| store_err(q.into(), ctl))?;
        Ok(table_response(table, started))
    }
}

fn table_response(table: vigil_query::Table, started: Instant) -> SearchResponse {
    let rows = table
        .rows
        .iter()
        .map(|row| {
            row.cells
                .iter()
                .map(|c| {
                    c.as_ref()
                        .map(value_json)
                        .unwrap_or(serde_json::Value::Null)
                })
                .collect()
        })
        .collect();
    SearchResponse::Table {
        columns: table.columns,
        rows,
        took_ms: started.elapsed().as_millis() as u64,
    }
}

impl SearchService for StoreSearch {
    fn search(
        &self,
        req: &SearchRequest,
        ctl: &SearchControl,
    ) -> Result<SearchResponse, SearchError> {
        let started = Instant::now();
        let tenant = TenantId::new(req.tenant.as_deref().unwrap_or(vigil_event::DEFAULT_TENANT))
            .map_err(|e| SearchError::BadRequest(e.to_string()))?;
        let query = vigil_event::query::parse_query(&req.q)
            .map_err(|e| SearchError::BadRequest(e.render(&req.q)))?;
        let range = range(req)?;
        if let Some(at) = query
            .stages
            .iter()
            .position(|s| matches!(s, vigil_query::Stage::Lookup { .. }))
        {
            return self.search_with_lookup(req, ctl, query, range, &tenant, at, started);
        }
        if query.stages.is_empty() {
            let limit = req.limit.unwrap_or(100).min(MAX_LIMIT);
            // ask for one more than shown, to tell whether there are more
            let r = self
                .store
                .search(
                    &tenant,
                    &vigil_store::SearchRequest {
                        query,
                        range,
                        limit: limit + 1,
                        order: Order::NewestFirst,
                        space: req.space.clone(),
                        control: ctl.clone(),
                    },
                )
                .map_err(|e| store_err(e, ctl))?;
            let truncated = r.events.len() > limit;
            // The JSON form is held next to the events until the response is written: it
            // counts against the budget too (about twice the event's size).
            let mut events = Vec::with_capacity(r.events.len().min(limit));
            for (i, e) in r.events.iter().take(limit).enumerate() {
                if i % vigil_query::CHECK_EVERY == 0 {
                    ctl.check().map_err(|q| store_err(q.into(), ctl))?;
                }
                ctl.reserve(2 * vigil_store::event_bytes(e))
                    .map_err(|q| store_err(q.into(), ctl))?;
                events.push(e.to_json());
            }
            Ok(SearchResponse::Events {
                events,
                truncated,
                took_ms: started.elapsed().as_millis() as u64,
            })
        } else {
            let r = self
                .store
                .aggregate(
                    &tenant,
                    &AggregateRequest {
                        query,
                        range,
                        space: req.space.clone(),
                        control: ctl.clone(),
                    },
                )
                .map_err(|e| store_err(e, ctl))?;
            let rows = r
                .table
                .rows
                .iter()
                .map(|row| {
                    row.cells
                        .iter()
                        .map(|c| {
                            c.as_ref()
                                .map(value_json)
                                .unwrap_or(serde_json::Value::Null)
                        })
                        .collect()
                })
                .collect();
            Ok(SearchResponse::Table {
                columns: r.table.columns,
                rows,
                took_ms: started.elapsed().as_millis() as u64,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_arguments() {
        let now = Timestamp::parse("2026-11-22T12:00:00Z").unwrap();
        assert_eq!(
            parse_time_arg("2h", now).unwrap().to_rfc3339(),
            "2026-11-22T10:00:00Z"
        );
        assert_eq!(
            parse_time_arg("2026-11-01", now).unwrap().to_rfc3339(),
            "2026-11-01T00:00:00Z"
        );
        assert_eq!(parse_time_arg("now", now).unwrap(), now);
        assert!(parse_time_arg("last tuesday", now).is_err());
    }
}
