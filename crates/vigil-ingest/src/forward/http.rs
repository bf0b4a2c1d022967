//! HTTP forwarding: NDJSON or an Elasticsearch `_bulk` body per batch.

use std::time::Duration;

use vigil_config::{HttpBodyFormat, HttpForwardConfig};
use vigil_event::Event;
use vigil_pipeline::{ComponentError, ComponentMetrics, Destination};

/// Largest answer read (a `_bulk` answer lists every item).
const MAX_ANSWER: usize = 64 << 20;

/// Posts batches of events to an HTTP endpoint.
pub struct HttpForward {
    cfg: HttpForwardConfig,
    tls: rustls::ClientConfig,
    /// Built on the first write, in the destination's own thread (a blocking client must not
    /// be made or dropped inside the async runtime).
    client: Option<reqwest::blocking::Client>,
    metrics: ComponentMetrics,
}

impl std::fmt::Debug for HttpForward {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpForward")
            .field("url", &self.cfg.url)
            .finish_non_exhaustive()
    }
}

impl HttpForward {
    /// Loads the TLS material; connects on the first write.
    pub fn new(cfg: HttpForwardConfig, metrics: ComponentMetrics) -> Result<Self, String> {
        let tls = super::client_tls(cfg.ca.as_deref())?;
        Ok(HttpForward {
            cfg,
            tls,
            client: None,
            metrics,
        })
    }

    fn err(&self, reason: &str, message: String) -> ComponentError {
        self.metrics.error(reason, 1);
        ComponentError::new(&self.metrics, message)
    }
}

/// The body for `events`: one JSON object per line, or `_bulk` `create` actions with the
/// event id as `_id` (so a resent batch is refused as a conflict, not stored twice).
pub(crate) fn body(events: &[Event], format: HttpBodyFormat, index: &str, out: &mut Vec<u8>) {
    for e in events {
        if format == HttpBodyFormat::Bulk {
            out.extend_from_slice(b"{\"create\":{\"_index\":");
            out.extend_from_slice(serde_json::Value::from(index).to_string().as_bytes());
            out.extend_from_slice(b",\"_id\":\"");
            out.extend_from_slice(e.meta.id.to_string().as_bytes());
            out.extend_from_slice(b"\"}}\n");
        }
        e.write_json(out);
        out.push(b'\n');
    }
}

/// Whether a `_bulk` answer reports an item that failed for another reason than a conflict
/// (409: the id is already stored, from an earlier attempt of this batch).
fn bulk_failed(answer: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(answer).ok()?;
    if v.get("errors").and_then(|e| e.as_bool()) != Some(true) {
        return None;
    }
    let items = v.get("items")?.as_array()?;
    items.iter().find_map(|it| {
        let (_, r) = it.as_object()?.iter().next()?;
        let status = r.get("status")?.as_u64()?;
        (!(200..300).contains(&status) && status != 409).then(|| {
            format!(
                "item refused with {status}: {}",
                r.get("error").map(|e| e.to_string()).unwrap_or_default()
            )
        })
    })
}

impl Destination for HttpForward {
    fn write(&mut self, events: &[Event]) -> Result<(), ComponentError> {
        if events.is_empty() {
            return Ok(());
        }
        if self.client.is_none() {
            let c = reqwest::blocking::Client::builder()
                .use_preconfigured_tls(self.tls.clone())
                .timeout(self.cfg.timeout)
                .connect_timeout(Duration::from_secs(10))
                .build()
                .map_err(|e| self.err("connect", format!("HTTP client: {e}")))?;
            self.client = Some(c);
        }
        let mut payload = Vec::new();
        body(events, self.cfg.format, &self.cfg.index, &mut payload);
        let n = payload.len() as u64;
        let Some(client) = self.client.as_ref() else {
            return Err(self.err("connect", "no HTTP client".into()));
        };
        let mut req = client
            .post(&self.cfg.url)
            .header("Content-Type", "application/x-ndjson")
            .body(payload);
        if let Some(t) = &self.cfg.token {
            req = req.bearer_auth(t.expose());
        }
        let resp = req
            .send()
            .map_err(|e| self.err("send", format!("POST {}: {e}", self.cfg.url)))?;
        let status = resp.status();
        let mut answer = Vec::new();
        #[allow(clippy::disallowed_methods)] // bounded by `take(MAX_ANSWER)`
        let read = std::io::Read::read_to_end(
            &mut std::io::Read::take(resp, MAX_ANSWER as u64),
            &mut answer,
        );
        if !status.is_success() {
            let text = String::from_utf8_lossy(&answer[..answer.len().min(512)]).into_owned();
            return Err(self.err(
                "status",
                format!("POST {}: {status}: {}", self.cfg.url, text.trim()),
            ));
        }
        if self.cfg.format == HttpBodyFormat::Bulk {
            if let Err(e) = read {
                return Err(self.err("send", format!("reading the _bulk answer: {e}")));
            }
            if let Some(why) = bulk_failed(&answer) {
                return Err(self.err("bulk_item", format!("POST {}: {why}", self.cfg.url)));
            }
        }
        self.metrics.bytes_out(n);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), ComponentError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bulk_answer_fails_only_for_items_refused_other_than_as_conflicts() {
        let ok = br#"{"errors":false,"items":[{"create":{"status":201}}]}"#;
        assert_eq!(bulk_failed(ok), None);
        let conflict = br#"{"errors":true,"items":[{"create":{"status":201}},{"create":{"status":409,"error":{"type":"version_conflict_engine_exception"}}}]}"#;
        assert_eq!(bulk_failed(conflict), None);
        let refused = br#"{"errors":true,"items":[{"create":{"status":409}},{"create":{"status":429,"error":{"type":"es_rejected_execution_exception"}}}]}"#;
        assert!(bulk_failed(refused).unwrap().contains("429"));
    }

    #[test]
    fn a_bulk_body_names_the_index_and_the_event_id() {
        let e = Event::new(bytes::Bytes::from_static(b"hello"));
        let mut out = Vec::new();
        body(
            std::slice::from_ref(&e),
            HttpBodyFormat::Bulk,
            "logs \"x\"",
            &mut out,
        );
        let text = String::from_utf8(out).unwrap_or_default();
        let mut lines = text.lines();
        let action: serde_json::Value =
            serde_json::from_str(lines.next().unwrap_or_default()).unwrap_or_default();
        assert_eq!(action["create"]["_index"], "logs \"x\"");
        assert_eq!(action["create"]["_id"], e.meta.id.to_string());
        let doc: serde_json::Value =
            serde_json::from_str(lines.next().unwrap_or_default()).unwrap_or_default();
        assert!(doc.is_object(), "{text}");
        assert!(text.ends_with('\n'));
    }
}
