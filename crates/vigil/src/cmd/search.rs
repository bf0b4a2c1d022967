//! `vigil search`, and the [`StoreSearch`] service the API uses: one path from a query string to
//! events or rows, whether the CLI opens the data directory itself or asks a running instance.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use vigil_api::{SearchControl, SearchError, SearchRequest, SearchResponse, SearchService};
use vigil_event::Timestamp;
use vigil_store::embedded::{EmbeddedConfig, EmbeddedStore};
use vigil_store::{AggregateRequest, EventStore, Order, StoreError, TenantId, TimeRange};

use crate::cli::SearchArgs;
use crate::{UsageError, exit, output};

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
pub struct StoreSearch {
    store: Arc<dyn EventStore>,
}

impl StoreSearch {
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

fn remote(
    url: &str,
    token: &str,
    ca: Option<&Path>,
    req: &SearchRequest,
) -> Result<SearchResponse> {
    let mut client =
        reqwest::blocking::Client::builder().timeout(std::time::Duration::from_secs(120));
    if let Some(ca) = ca {
        let pem = vigil_config::read_file_capped(ca, 1 << 20)
            .with_context(|| format!("reading {}", ca.display()))?;
        client = client
            .add_root_certificate(reqwest::Certificate::from_pem(&pem).context("parsing --ca")?);
    }
    let client = client.build().context("building the HTTP client")?;
    let endpoint = format!("{}/api/v1/search", url.trim_end_matches('/'));
    let resp = client
        .post(&endpoint)
        .bearer_auth(token)
        .json(req)
        .send()
        .with_context(|| format!("cannot reach {endpoint}; is `vigil up` running?"))?;
    let status = resp.status();
    let body: serde_json::Value = resp
        .json()
        .with_context(|| format!("{endpoint} answered {status} with a body that is not JSON"))?;
    if !status.is_success() {
        let msg = body
            .pointer("/error/message")
            .and_then(|m| m.as_str())
            .unwrap_or("request failed");
        if status.as_u16() == 400 {
            return Err(UsageError(msg.to_owned()).into());
        }
        anyhow::bail!("{endpoint}: {status}: {msg}");
    }
    serde_json::from_value(body).context("unexpected search response")
}

fn data_dir_in_use(dir: &Path) -> bool {
    let Ok(f) = std::fs::OpenOptions::new()
        .write(true)
        .open(dir.join("vigil.lock"))
    else {
        return false;
    };
    match f.try_lock() {
        Ok(()) => {
            let _ = f.unlock();
            false
        }
        Err(_) => true,
    }
}

fn read_token(dir: &Path) -> Result<String> {
    let p = dir.join("api-token");
    let b = vigil_config::read_file_capped(&p, 4096)
        .with_context(|| format!("reading the API token {} (or pass --token)", p.display()))?;
    Ok(String::from_utf8_lossy(&b).trim().to_owned())
}

pub fn run(args: SearchArgs) -> Result<u8> {
    let req = SearchRequest {
        q: args.query.clone(),
        from: args.from.clone(),
        to: args.to.clone(),
        limit: Some(args.limit.min(MAX_LIMIT)),
        tenant: Some(args.tenant.clone()),
        space: args.space.clone(),
    };
    // with --config: its data directory (unless --data-dir says otherwise) and its store
    let cfg = match &args.config {
        Some(p) => {
            let mut c = vigil_config::load_file(p).map_err(|e| UsageError(e.to_string()))?;
            if let Some(d) = &args.data_dir {
                c.data_dir = d.clone();
            }
            Some(c)
        }
        None => None,
    };
    let dir = match (&args.data_dir, &cfg) {
        (Some(d), _) => d.clone(),
        (None, Some(c)) => c.data_dir.clone(),
        (None, None) => PathBuf::from("./vigil-data"),
    };
    let resp = if let Some(url) = &args.url {
        let token = match &args.token {
            Some(t) => t.clone(),
            None => read_token(&dir)?,
        };
        remote(url, &token, args.ca.as_deref(), &req)?
    } else if data_dir_in_use(&dir) {
        // a running `vigil up` owns the directory: ask it
        let url = vigil_config::read_file_capped(&dir.join("api.url"), 4096)
            .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
            .with_context(|| {
                format!(
                    "{} is used by a running vigil, but its API address is unknown; pass --url",
                    dir.display()
                )
            })?;
        let token = match &args.token {
            Some(t) => t.clone(),
            None => read_token(&dir)?,
        };
        remote(&url, &token, args.ca.as_deref(), &req)?
    } else {
        let store: Arc<dyn EventStore> = match &cfg {
            // a ClickHouse server holds the events: ask it directly
            Some(c) if c.storage.embedded().is_none() => crate::topology::open_store(c)?,
            _ => {
                if !dir.join("events").is_dir() {
                    return Err(UsageError(format!(
                        "no events in {} yet; start `vigil up` (or pass --data-dir or --url)",
                        dir.display()
                    ))
                    .into());
                }
                // the storage settings (encryption keys, spaces, retention) of --config
                let store_cfg = match &cfg {
                    Some(c) => crate::topology::store_config(c)?,
                    None => EmbeddedConfig::new(&dir),
                };
                Arc::new(
                    EmbeddedStore::open(store_cfg)
                        .with_context(|| format!("opening the store in {}", dir.display()))?,
                )
            }
        };
        let svc = StoreSearch::new(store.clone());
        // Interactive: no deadline and no memory cap beyond the executor's row and group
        // limits; Ctrl-C ends the process.
        let r = svc.search(&req, &SearchControl::default());
        let _ = store.close();
        match r {
            Ok(r) => r,
            Err(SearchError::BadRequest(m) | SearchError::TooLarge(m)) => {
                return Err(UsageError(m).into());
            }
            Err(e) => return Err(anyhow::anyhow!("{e}")),
        }
    };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    output::print(&mut out, &resp, args.format, args.raw)?;
    Ok(exit::OK)
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
