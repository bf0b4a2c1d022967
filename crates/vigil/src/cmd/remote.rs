//! The API client of the commands that talk to a running `vigil up` (`vigil explain`,
//! `vigil list`, `vigil rules reload`): where the instance is (`--url`, or the `api.url` file
//! of its data directory), its token (`--token`, or the data directory's `api-token`), and
//! requests whose API errors become messages (a 4xx is the user's input: exit code 2).

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

use crate::UsageError;

/// Where the running instance is.
#[derive(Debug, Args, Clone)]
pub struct RemoteArgs {
    /// The instance's API, e.g. `http://127.0.0.1:8080` (default: the `api.url` its data
    /// directory holds while it runs).
    #[arg(long, env = "VIGIL_URL", global = true)]
    pub url: Option<String>,
    /// API token (default: read from <data_dir>/api-token).
    #[arg(long, env = "VIGIL_TOKEN", hide_env_values = true, global = true)]
    pub token: Option<String>,
    /// Data directory of the running instance (default `./vigil-data`).
    #[arg(long, env = "VIGIL_DATA_DIR", global = true)]
    pub data_dir: Option<PathBuf>,
    /// PEM CA certificate to trust for an https URL.
    #[arg(long, global = true)]
    pub ca: Option<PathBuf>,
}

/// A connection to a running instance.
pub struct Remote {
    base: String,
    token: String,
    client: reqwest::blocking::Client,
}

impl Remote {
    pub fn connect(a: &RemoteArgs) -> Result<Remote> {
        Remote::connect_with_timeout(a, std::time::Duration::from_secs(120))
    }

    /// As [`Remote::connect`], with the longest wait for one answer.
    pub fn connect_with_timeout(a: &RemoteArgs, timeout: std::time::Duration) -> Result<Remote> {
        let dir = a
            .data_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from("./vigil-data"));
        let base = match &a.url {
            Some(u) => u.clone(),
            None => vigil_config::read_file_capped(&dir.join("api.url"), 4096)
                .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
                .map_err(|_| {
                    UsageError(format!(
                        "no running vigil found in {} (start `vigil up`, or pass --url or --data-dir)",
                        dir.display()
                    ))
                })?,
        };
        let token = match &a.token {
            Some(t) => t.clone(),
            None => vigil_api::token::read(&dir.join("api-token"))
                .map_err(|e| UsageError(format!("{e} (or pass --token)")))?,
        };
        let mut client = reqwest::blocking::Client::builder().timeout(timeout);
        if let Some(ca) = &a.ca {
            let pem = vigil_config::read_file_capped(ca, 1 << 20)
                .with_context(|| format!("reading {}", ca.display()))?;
            client = client.add_root_certificate(
                reqwest::Certificate::from_pem(&pem).context("parsing --ca")?,
            );
        }
        Ok(Remote {
            base: base.trim_end_matches('/').to_owned(),
            token,
            client: client.build().context("building the HTTP client")?,
        })
    }

    /// Sends a request to `/api/v1/<path>` (query pairs added) and returns the body text.
    pub fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<(&'static str, Vec<u8>)>,
    ) -> Result<String> {
        let endpoint = format!("{}/api/v1/{path}", self.base);
        let mut req = self
            .client
            .request(method, &endpoint)
            .bearer_auth(&self.token)
            .query(query);
        if let Some((ct, b)) = body {
            req = req.header(reqwest::header::CONTENT_TYPE, ct).body(b);
        }
        let resp = req
            .send()
            .with_context(|| format!("cannot reach {endpoint}; is `vigil up` running?"))?;
        let status = resp.status();
        let text = resp.text().unwrap_or_default();
        if status.is_success() {
            return Ok(text);
        }
        let msg = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| {
                v.pointer("/error/message")
                    .and_then(|m| m.as_str())
                    .map(str::to_owned)
            })
            .unwrap_or_else(|| format!("{status}"));
        if status.is_client_error() {
            return Err(UsageError(msg).into());
        }
        anyhow::bail!("{endpoint}: {status}: {msg}")
    }

    /// GET returning JSON.
    pub fn get_json(&self, path: &str, query: &[(&str, String)]) -> Result<serde_json::Value> {
        let t = self.send(reqwest::Method::GET, path, query, None)?;
        serde_json::from_str(&t).context("the API answered something that is not JSON")
    }
}

/// One path segment, percent-encoded.
pub fn segment(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `tenant` as a query pair when given.
pub fn tenant_query(t: &Option<String>) -> Vec<(&'static str, String)> {
    t.iter().map(|t| ("tenant", t.clone())).collect()
}
