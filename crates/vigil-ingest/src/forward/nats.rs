//! NATS forwarding: one JetStream publish per event, `Nats-Msg-Id` = the event id, each
//! confirmed by the stream.

use std::time::Duration;

use async_nats::jetstream;
use vigil_config::NatsForwardConfig;
use vigil_event::Event;
use vigil_pipeline::{ComponentError, ComponentMetrics, Destination};

/// How long one batch may take, publishes and acknowledgements together.
const BATCH_TIMEOUT: Duration = Duration::from_secs(30);

/// Publishes events to a JetStream subject.
pub struct NatsForward {
    cfg: NatsForwardConfig,
    metrics: ComponentMetrics,
    /// A runtime of its own (one thread: the client's connection task runs between
    /// batches), made on the first write in the destination's thread.
    rt: Option<tokio::runtime::Runtime>,
    js: Option<jetstream::Context>,
}

impl std::fmt::Debug for NatsForward {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsForward")
            .field("url", &self.cfg.url)
            .field("subject", &self.cfg.subject)
            .finish_non_exhaustive()
    }
}

impl NatsForward {
    /// Checks the CA file; connects on the first write.
    pub fn new(cfg: NatsForwardConfig, metrics: ComponentMetrics) -> Result<Self, String> {
        if let Some(ca) = &cfg.ca {
            super::client_tls(Some(ca))?;
        }
        Ok(NatsForward {
            cfg,
            metrics,
            rt: None,
            js: None,
        })
    }

    fn err(&self, reason: &str, message: String) -> ComponentError {
        self.metrics.error(reason, 1);
        ComponentError::new(&self.metrics, message)
    }
}

impl Destination for NatsForward {
    fn write(&mut self, events: &[Event]) -> Result<(), ComponentError> {
        if events.is_empty() {
            return Ok(());
        }
        if self.rt.is_none() {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name("vigil-nats-out")
                .enable_all()
                .build()
                .map_err(|e| self.err("connect", format!("runtime: {e}")))?;
            self.rt = Some(rt);
        }
        let Some(rt) = self.rt.as_ref() else {
            return Err(self.err("connect", "no runtime".into()));
        };
        // the client spawns its tasks on this runtime
        let _entered = rt.enter();
        if self.js.is_none() {
            let (url, auth, ca) = (&self.cfg.url, &self.cfg.auth, self.cfg.ca.as_deref());
            let client = rt
                .block_on(crate::nats::connect(url, auth, ca, "vigil destination"))
                .map_err(|e| self.err("connect", e))?;
            self.js = Some(jetstream::new(client));
        }
        let Some(js) = self.js.clone() else {
            return Err(self.err("connect", "not connected".into()));
        };
        let subject = self.cfg.subject.clone();
        let mut bytes = 0u64;
        let payloads: Vec<(String, bytes::Bytes)> = events
            .iter()
            .map(|e| {
                let mut b = Vec::with_capacity(e.raw.len() + 256);
                e.write_json(&mut b);
                bytes += b.len() as u64;
                (e.meta.id.to_string(), bytes::Bytes::from(b))
            })
            .collect();
        let sent = rt.block_on(async move {
            tokio::time::timeout(BATCH_TIMEOUT, async move {
                let mut acks = Vec::with_capacity(payloads.len());
                for (id, p) in payloads {
                    let mut h = async_nats::HeaderMap::new();
                    h.insert("Nats-Msg-Id", id.as_str());
                    let ack = js
                        .publish_with_headers(subject.clone(), h, p)
                        .await
                        .map_err(|e| e.to_string())?;
                    acks.push(ack);
                }
                for a in acks {
                    a.await.map_err(|e| e.to_string())?;
                }
                Ok::<(), String>(())
            })
            .await
            .unwrap_or_else(|_| Err(format!("no acknowledgement within {BATCH_TIMEOUT:?}")))
        });
        sent.map_err(|e| {
            self.err(
                "send",
                format!(
                    "publishing to {} on {}: {e}",
                    self.cfg.subject, self.cfg.url
                ),
            )
        })?;
        self.metrics.bytes_out(bytes);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), ComponentError> {
        if let (Some(rt), Some(js)) = (self.rt.as_ref(), self.js.as_ref()) {
            let client = js.client();
            let _ = rt.block_on(async {
                tokio::time::timeout(Duration::from_secs(5), client.flush()).await
            });
        }
        Ok(())
    }
}
