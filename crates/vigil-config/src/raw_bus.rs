//! Raw settings of the message-bus connector (`nats`) and of the forwarding destinations
//! (`syslog`, `http`, `nats`) with their disk buffer, as written in the file.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::raw::RawSize;

/// NATS JetStream connector settings.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawNats {
    /// Server URL: `nats://host:4222`, or `tls://host:4222` for TLS (verified against `ca`,
    /// or the system's roots).
    pub url: String,
    /// The stream to read (it must exist).
    pub stream: String,
    /// The durable consumer's name; created when missing (pull, explicit acknowledgement,
    /// delivering everything in the stream from its start), reused when it exists, so a
    /// restart resumes where it stopped.
    pub consumer: String,
    /// Only messages on this subject (wildcards allowed) when the consumer is created.
    /// Default: every subject of the stream.
    #[serde(default)]
    pub subject: Option<String>,
    /// Authentication token, literal or `${env:NAME}` / `${file:PATH}`.
    #[serde(default)]
    pub token: Option<String>,
    /// User name (with `password`).
    #[serde(default)]
    pub user: Option<String>,
    /// Password, literal or `${env:NAME}` / `${file:PATH}`.
    #[serde(default)]
    pub password: Option<String>,
    /// PEM CA bundle to verify a `tls://` server.
    #[serde(default)]
    pub ca: Option<String>,
    /// Messages fetched and sent to the pipeline as one batch. Default 512.
    #[serde(default)]
    pub batch_size: Option<usize>,
    /// Batches in the pipeline, not yet durable, before the connector stops fetching. Default 8.
    #[serde(default)]
    pub max_in_flight: Option<usize>,
    /// How long the server waits for an acknowledgement before it redelivers, when the
    /// consumer is created. Default `30s`.
    #[serde(default)]
    pub ack_wait: Option<String>,
    /// How many ids of recently stored messages are remembered to recognize redeliveries
    /// (the `Nats-Msg-Id` header, else the stream sequence). Default 100000.
    #[serde(default)]
    pub dedup_ids: Option<usize>,
}

/// The disk buffer in front of a forwarding destination.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawBuffer {
    /// Most bytes held on disk (under `<data_dir>/buffers/<destination>`); when full, the
    /// pipeline waits (backpressure) instead of dropping. Default `256MiB`.
    #[serde(default)]
    pub max_size: Option<RawSize>,
}

/// TLS settings of a forwarding destination.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawClientTls {
    /// PEM CA bundle the server's certificate must chain to. Default: the webpki roots.
    #[serde(default)]
    pub ca: Option<String>,
    /// The name the certificate must carry. Default: the address's host.
    #[serde(default)]
    pub server_name: Option<String>,
}

/// Syslog forwarding settings.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawSyslogDestination {
    /// The receiver, `host:port`.
    pub address: String,
    /// Use TLS (RFC 5425).
    #[serde(default)]
    pub tls: Option<RawClientTls>,
    /// The disk buffer.
    #[serde(default)]
    pub buffer: Option<RawBuffer>,
}

/// Body format of the HTTP destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum HttpBodyFormat {
    /// One ECS JSON object per line (`Content-Type: application/x-ndjson`).
    #[default]
    Ndjson,
    /// An Elasticsearch `_bulk` body: a `create` action line before each event (with the
    /// event id as `_id`); item errors are retried.
    Bulk,
}

/// HTTP forwarding settings.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawHttpDestination {
    /// Where to `POST`: `http://host:port/path` or `https://...` (for `bulk`, the `_bulk`
    /// endpoint, e.g. `https://es:9200/_bulk`).
    pub url: String,
    /// `ndjson` or `bulk`. Default `ndjson`.
    #[serde(default)]
    pub format: Option<HttpBodyFormat>,
    /// The index named in `bulk` actions. Default `vigil`.
    #[serde(default)]
    pub index: Option<String>,
    /// Sent as `Authorization: Bearer <token>`; literal or `${env:NAME}` / `${file:PATH}`.
    #[serde(default)]
    pub token: Option<String>,
    /// PEM CA bundle for an `https` server. Default: the webpki roots.
    #[serde(default)]
    pub ca: Option<String>,
    /// Give up on one request after this long (and retry it). Default `30s`.
    #[serde(default)]
    pub timeout: Option<String>,
    /// The disk buffer.
    #[serde(default)]
    pub buffer: Option<RawBuffer>,
}

/// NATS forwarding settings.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawNatsDestination {
    /// Server URL: `nats://host:4222` or `tls://host:4222`.
    pub url: String,
    /// The subject to publish to; a JetStream stream must capture it (the publish waits for
    /// the stream's acknowledgement).
    pub subject: String,
    /// Authentication token, literal or `${env:NAME}` / `${file:PATH}`.
    #[serde(default)]
    pub token: Option<String>,
    /// User name (with `password`).
    #[serde(default)]
    pub user: Option<String>,
    /// Password, literal or `${env:NAME}` / `${file:PATH}`.
    #[serde(default)]
    pub password: Option<String>,
    /// PEM CA bundle to verify a `tls://` server.
    #[serde(default)]
    pub ca: Option<String>,
    /// The disk buffer.
    #[serde(default)]
    pub buffer: Option<RawBuffer>,
}
