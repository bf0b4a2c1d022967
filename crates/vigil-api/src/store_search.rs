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
}

impl StoreSearch {
    /// The search service of `store`.
    pub fn new(store: Arc<dyn EventStore>) -> StoreSearch {
        StoreSearch { store }
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
