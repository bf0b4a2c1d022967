//! `vigil search`: one path from a query string to events or rows ([`StoreSearch`]), whether
//! the CLI opens the data directory itself or asks a running instance.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use vigil_api::store_search::{MAX_LIMIT, StoreSearch};
use vigil_api::{SearchControl, SearchError, SearchRequest, SearchResponse, SearchService};
use vigil_store::EventStore;
use vigil_store::embedded::{EmbeddedConfig, EmbeddedStore};

use crate::cli::SearchArgs;
use crate::{UsageError, exit, output};

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

pub(crate) fn data_dir_in_use(dir: &Path) -> bool {
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
    vigil_api::token::read(&dir.join("api-token"))
        .map_err(|e| anyhow::anyhow!("{e} (or pass --token)"))
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
