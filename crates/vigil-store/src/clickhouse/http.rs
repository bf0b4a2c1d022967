//! A minimal client for ClickHouse's HTTP interface: the query in the body (or in `query=` for
//! inserts), settings as URL parameters, credentials in `X-ClickHouse-User`/`X-ClickHouse-Key`
//! headers. Works with 18.16 (no server-side parameters, no `X-ClickHouse-Exception-Code`:
//! errors are recognised by status and by a `Code: N, e.displayText()` body).

use std::io::{BufRead, BufReader, Read};
use std::time::Duration;

use crate::StoreError;

/// Longest error text kept from a response body.
const MAX_ERROR_TEXT: usize = 2_000;
/// Longest body of a statement answered in one piece (`execute`).
const MAX_SMALL_BODY: usize = 16 << 20;

/// Reads at most `cap` bytes (the rest is left unread).
fn read_capped(r: &mut dyn Read, cap: usize) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    while out.len() < cap {
        let want = buf.len().min(cap - out.len());
        let n = r.read(&mut buf[..want])?;
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    Ok(out)
}

#[derive(Clone)]
pub(crate) struct Client {
    base: String,
    database: String,
    user: String,
    password: String,
    http: reqwest::blocking::Client,
    /// Client-side limit on one request (a query's server-side limit plus a margin).
    timeout: Duration,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.base)
            .field("database", &self.database)
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// A running query's response, read line by line (JSONEachRow).
pub(crate) struct Lines {
    reader: BufReader<Box<dyn Read + Send>>,
    line: Vec<u8>,
    max_line: usize,
}

impl Lines {
    /// The next line without its newline; `None` at the end. A line that is a ClickHouse
    /// exception (sent after a 200 status when the query fails midway) is an error.
    pub(crate) fn next_line(&mut self) -> Result<Option<&[u8]>, StoreError> {
        self.line.clear();
        let n = (&mut self.reader)
            .take(self.max_line as u64 + 1)
            .read_until(b'\n', &mut self.line)
            .map_err(|e| backend("read response", e.to_string()))?;
        if n == 0 {
            return Ok(None);
        }
        if self.line.len() > self.max_line {
            return Err(backend(
                "read response",
                format!("a result row exceeds {} bytes", self.max_line),
            ));
        }
        if self.line.last() == Some(&b'\n') {
            self.line.pop();
        }
        if self.line.starts_with(b"Code: ") {
            return Err(classify(String::from_utf8_lossy(&self.line).into_owned()));
        }
        Ok(Some(&self.line))
    }
}

pub(crate) fn backend(op: &'static str, message: String) -> StoreError {
    StoreError::Backend {
        backend: "clickhouse",
        op,
        message,
    }
}

/// A request that got no (complete) answer: a timeout says so and names the limit; other
/// transport errors carry their whole cause chain (reqwest's own text is only "error sending
/// request for url").
pub(crate) fn send_error(op: &'static str, e: &reqwest::Error, timeout: Duration) -> StoreError {
    let mut msg = if e.is_timeout() {
        format!("no answer within {timeout:?} (the client's timeout): {e}")
    } else {
        e.to_string()
    };
    let mut src = std::error::Error::source(e);
    while let Some(cause) = src {
        msg.push_str(": ");
        msg.push_str(&cause.to_string());
        src = cause.source();
    }
    backend(op, msg)
}

/// Maps an exception text to an error: limits (time, memory, result size, groups) are
/// [`StoreError::QueryLimit`], everything else [`StoreError::Backend`].
fn classify(mut text: String) -> StoreError {
    if text.len() > MAX_ERROR_TEXT {
        let mut cut = MAX_ERROR_TEXT;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
    let text = text.trim().to_owned();
    // 159 timeout, 241 memory limit, 396 result rows, 158 group-by rows, 394 cancelled.
    for code in [
        "Code: 159",
        "Code: 241",
        "Code: 396",
        "Code: 158",
        "Code: 394",
    ] {
        if text.starts_with(code) {
            return StoreError::QueryLimit(text);
        }
    }
    backend("query", text)
}

/// TLS with the ring provider chosen here (reqwest is built without a provider, and a library
/// must not install the process-wide default) and the webpki roots.
pub(crate) fn tls_config() -> Result<rustls::ClientConfig, StoreError> {
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| backend("tls", e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

impl Client {
    pub(crate) fn new(
        url: &str,
        database: &str,
        user: &str,
        password: &str,
        timeout: Duration,
    ) -> Result<Client, StoreError> {
        let http = reqwest::blocking::Client::builder()
            .use_preconfigured_tls(tls_config()?)
            .timeout(None)
            .connect_timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| backend("connect", e.to_string()))?;
        Ok(Client {
            base: url.trim_end_matches('/').to_owned(),
            database: database.to_owned(),
            user: user.to_owned(),
            password: password.to_owned(),
            http,
            timeout,
        })
    }

    fn request(
        &self,
        settings: &[(&str, String)],
        with_db: bool,
        timeout: Duration,
    ) -> reqwest::blocking::RequestBuilder {
        let mut params: Vec<(&str, String)> = settings.to_vec();
        if with_db {
            params.push(("database", self.database.clone()));
        }
        self.http
            .post(format!("{}/", self.base))
            .timeout(timeout)
            .query(&params)
            .header("X-ClickHouse-User", &self.user)
            .header("X-ClickHouse-Key", &self.password)
    }

    fn check(
        resp: reqwest::blocking::Response,
        op: &'static str,
    ) -> Result<reqwest::blocking::Response, StoreError> {
        if resp.status().is_success() {
            return Ok(resp);
        }
        let status = resp.status();
        let mut resp = resp;
        let body = read_capped(&mut resp, MAX_ERROR_TEXT).unwrap_or_default();
        let text = String::from_utf8_lossy(&body).into_owned();
        Err(match classify(text) {
            StoreError::Backend { message, .. } => {
                backend(op, format!("HTTP {}: {message}", status.as_u16()))
            }
            other => other,
        })
    }

    /// Runs a statement and returns the whole (small) response body.
    pub(crate) fn execute(
        &self,
        sql: &str,
        settings: &[(&str, String)],
        op: &'static str,
    ) -> Result<String, StoreError> {
        self.execute_in(sql, settings, op, true)
    }

    /// Like [`execute`](Self::execute), optionally without selecting the database (to create
    /// it).
    pub(crate) fn execute_in(
        &self,
        sql: &str,
        settings: &[(&str, String)],
        op: &'static str,
        with_db: bool,
    ) -> Result<String, StoreError> {
        self.execute_within(sql, settings, op, with_db, self.timeout)
    }

    /// Like [`execute_in`](Self::execute_in) with its own client timeout: maintenance
    /// statements (`OPTIMIZE ... FINAL` over a large table) run far longer than a query may.
    pub(crate) fn execute_within(
        &self,
        sql: &str,
        settings: &[(&str, String)],
        op: &'static str,
        with_db: bool,
        timeout: Duration,
    ) -> Result<String, StoreError> {
        let resp = self
            .request(settings, with_db, timeout)
            .body(sql.to_owned())
            .send()
            .map_err(|e| send_error(op, &e, timeout))?;
        let mut resp = Self::check(resp, op)?;
        let out = read_capped(&mut resp, MAX_SMALL_BODY).map_err(|e| backend(op, e.to_string()))?;
        let out = String::from_utf8_lossy(&out).into_owned();
        if out.starts_with("Code: ") {
            return Err(classify(out));
        }
        Ok(out)
    }

    /// Runs a query and streams its result lines.
    pub(crate) fn stream(
        &self,
        sql: &str,
        settings: &[(&str, String)],
        max_line: usize,
    ) -> Result<Lines, StoreError> {
        let resp = self
            .request(settings, true, self.timeout)
            .body(sql.to_owned())
            .send()
            .map_err(|e| send_error("query", &e, self.timeout))?;
        let resp = Self::check(resp, "query")?;
        Ok(Lines {
            reader: BufReader::with_capacity(256 * 1024, Box::new(resp)),
            line: Vec::new(),
            max_line,
        })
    }

    /// Sends an `INSERT ... FORMAT JSONEachRow` with `body` as its data.
    pub(crate) fn insert(
        &self,
        insert: &str,
        body: Vec<u8>,
        settings: &[(&str, String)],
    ) -> Result<(), StoreError> {
        let mut params: Vec<(&str, String)> = settings.to_vec();
        params.push(("query", insert.to_owned()));
        let resp = self
            .request(&params, true, self.timeout)
            .body(body)
            .send()
            .map_err(|e| send_error("insert", &e, self.timeout))?;
        let mut resp = Self::check(resp, "insert")?;
        let out = read_capped(&mut resp, MAX_ERROR_TEXT).unwrap_or_default();
        let out = String::from_utf8_lossy(&out).into_owned();
        if out.starts_with("Code: ") {
            return Err(classify(out));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server that accepts and never answers: the request ends at the client's timeout
    /// and the error names it (reqwest's own text is only "error sending request").
    #[test]
    fn a_silent_server_times_out_with_a_clear_error() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        // The accepted connection stays open (unanswered) until the client has given up.
        let hold = std::thread::spawn(move || listener.accept().unwrap());
        let client = Client::new(&url, "vigil", "default", "", Duration::from_secs(30)).unwrap();
        let err = client
            .execute_within(
                "SELECT 1",
                &[],
                "optimize",
                true,
                Duration::from_millis(500),
            )
            .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("optimize"), "{text}");
        assert!(text.contains("no answer within 500ms"), "{text}");
        drop(hold.join().unwrap());
    }
}
