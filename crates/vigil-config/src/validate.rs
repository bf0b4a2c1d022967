//! Validation: raw types into runtime types, every problem collected with its path.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::raw::*;
use crate::{ConfigErrors, Problems};

mod bus;
pub use bus::*;
mod polled;
pub use polled::{
    DEFAULT_FLOW_RECV_BUFFER, NetflowConfig, SflowConfig, SnmpAuthProtocol, SnmpPrivProtocol,
    SnmpTrapConfig, SnmpUser, SqlConfig, SqlCursorType, SqlDriver, SqlTlsMode, sql_driver,
};
mod files;
pub use files::{EvtxConfig, FileConfig, JournalConfig, MultilineConfig, StartAt};

/// A validated configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Where all data lives.
    pub data_dir: PathBuf,
    /// The HTTP API.
    pub api: ApiConfig,
    /// The collectors.
    pub collectors: Vec<CollectorConfig>,
    /// The store.
    pub storage: StorageConfig,
    /// Queues and workers.
    pub pipeline: PipelineConfig,
    /// Search limits.
    pub search: SearchConfig,
    /// Live detection, when configured.
    pub detection: Option<DetectionConfig>,
    /// Stateful correlation, when configured.
    pub correlation: Option<CorrelationConfig>,
    /// Where normalized events go, in order (at least one).
    pub destinations: Vec<DestinationConfig>,
    /// The metadata store.
    pub meta: MetaSettings,
    /// Accounts and authentication (checked in detail by `vigil-core` at start and by
    /// `vigil validate`).
    pub auth: AuthSettings,
}

/// Which database keeps the metadata.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum MetaKind {
    /// `<data_dir>/meta.db`.
    #[default]
    Sqlite,
    /// A PostgreSQL database.
    Postgres,
}

/// The validated `meta:` section.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MetaSettings {
    /// The backend.
    pub kind: MetaKind,
    /// The resolved PostgreSQL URL (a secret).
    pub url: Option<crate::Secret>,
    /// Connections.
    pub max_connections: Option<u32>,
    /// Largest attachment, bytes.
    pub max_attachment_bytes: Option<u64>,
}

/// The `auth:` section: the raw section (its LDAP bind password taken out) and the resolved
/// password.
#[derive(Debug, Clone, Default)]
pub struct AuthSettings {
    /// The section as written, without `ldap.bind_password`.
    pub raw: crate::raw::RawAuth,
    /// The resolved LDAP bind password.
    pub ldap_bind_password: Option<crate::Secret>,
}

impl PartialEq for AuthSettings {
    fn eq(&self, other: &AuthSettings) -> bool {
        serde_json::to_value(&self.raw).ok() == serde_json::to_value(&other.raw).ok()
            && self.ldap_bind_password == other.ldap_bind_password
    }
}

/// A validated destination.
#[derive(Debug, Clone, PartialEq)]
pub enum DestinationConfig {
    /// The event store.
    Storage,
    /// A file of one event per line.
    File {
        /// Absolute path.
        path: PathBuf,
        /// Line format.
        format: FileFormat,
    },
    /// Syslog forwarding (TCP/TLS).
    Syslog(SyslogForwardConfig),
    /// HTTP forwarding (NDJSON or `_bulk`).
    Http(HttpForwardConfig),
    /// NATS publishing.
    Nats(NatsForwardConfig),
    /// A Kafka topic.
    Kafka(KafkaDestinationConfig),
}

/// Where a Kafka consumer group without committed offsets starts.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    serde::Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum KafkaStart {
    /// The oldest message the brokers keep.
    #[default]
    Earliest,
    /// Only messages produced from now on.
    Latest,
}

/// Validated settings of a Kafka connector (`vigil_ingest::kafka` runs it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaConfig {
    /// Bootstrap brokers, `host:port`, joined with commas.
    pub brokers: String,
    /// Topics.
    pub topics: Vec<String>,
    /// Consumer group.
    pub group: String,
    /// Start of a group without committed offsets.
    pub start: KafkaStart,
    /// Longest message; longer ones are cut and marked.
    pub max_message_size: usize,
    /// Most messages per batch.
    pub batch_size: usize,
    /// Most batches unanswered in the pipeline.
    pub max_in_flight: usize,
}

/// Validated settings of a Kafka destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaDestinationConfig {
    /// Bootstrap brokers, `host:port`, joined with commas.
    pub brokers: String,
    /// Topic.
    pub topic: String,
    /// Message format.
    pub format: FileFormat,
    /// Longest wait for the brokers' acknowledgement of a batch.
    pub timeout: Duration,
    /// The disk buffer.
    pub buffer: BufferConfig,
}

/// Line format of a file destination (the same type in the file and after validation).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    serde::Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum FileFormat {
    /// Nested ECS JSON with the raw record as `event.original`.
    #[default]
    Json,
    /// The raw record as received.
    Raw,
}

/// Which Sigma processing pipeline live detection uses.
#[derive(Debug, Clone, PartialEq)]
pub enum SigmaPipeline {
    /// Every rule on every event.
    None,
    /// Windows logsource routing (SigmaHQ's thor.yml).
    Windows,
    /// ECS routing for events normalized by Vigil's packs (Linux syslog, web servers,
    /// firewalls, cloud and identity audit logs), Sigma taxonomy fields renamed to ECS.
    Ecs,
    /// A pipeline YAML file.
    File(PathBuf),
}

impl SigmaPipeline {
    /// `none`, `windows` or `ecs`, or else the path of a pipeline file (as `vigil hunt
    /// --pipeline` takes it).
    pub fn from_name(name: &str) -> SigmaPipeline {
        match name {
            "none" => SigmaPipeline::None,
            "windows" => SigmaPipeline::Windows,
            "ecs" => SigmaPipeline::Ecs,
            file => SigmaPipeline::File(PathBuf::from(file)),
        }
    }
}

/// Validated live-detection settings.
#[derive(Debug, Clone, PartialEq)]
pub struct DetectionConfig {
    /// Rule files and directories.
    pub rules: Vec<PathBuf>,
    /// The processing pipeline.
    pub pipeline: SigmaPipeline,
    /// How often rule files are checked for changes.
    pub reload_interval: Duration,
    /// Placeholder values.
    pub placeholders: std::collections::BTreeMap<String, Vec<String>>,
}

/// Validated correlation settings.
#[derive(Debug, Clone, PartialEq)]
pub struct CorrelationConfig {
    /// Rule files and directories.
    pub rules: Vec<PathBuf>,
    /// Idle time after which the watermark follows the wall clock.
    pub idle_after: Duration,
    /// How often the state is saved.
    pub snapshot_interval: Duration,
}

/// Validated API settings.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiConfig {
    /// Listen address.
    pub listen: SocketAddr,
    /// HTTPS material.
    pub tls: Option<TlsFiles>,
    /// Bearer token file; `None` means `<data_dir>/api-token`.
    pub token_file: Option<PathBuf>,
    /// Largest request body.
    pub max_body_size: usize,
    /// Search time limit.
    pub query_timeout: Duration,
    /// Most open connections.
    pub max_connections: usize,
    /// Most requests in progress (other than `/health`).
    pub max_concurrent_requests: usize,
    /// Time to send request headers.
    pub header_read_timeout: Duration,
    /// Time to send a request body.
    pub body_read_timeout: Duration,
    /// Keep-alive idle limit.
    pub idle_timeout: Duration,
    /// Failed authentications per IP address and window before a lockout.
    pub auth_max_failures: u32,
    /// Window of `auth_max_failures`.
    pub auth_failure_window: Duration,
    /// Length of a lockout.
    pub auth_lockout: Duration,
    /// At most one log line per IP address and interval for failed authentications.
    pub auth_log_interval: Duration,
}

/// Validated search limits.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchConfig {
    /// Most searches running at once.
    pub max_concurrent: usize,
    /// Most searches waiting for a slot.
    pub max_queued: usize,
    /// Longest wait for a slot.
    pub queue_wait: Duration,
    /// Memory budget of one search, bytes.
    pub max_result_bytes: usize,
    /// Largest `limit` of a search.
    pub max_limit: usize,
}

impl Default for SearchConfig {
    fn default() -> Self {
        SearchConfig {
            max_concurrent: default_search_concurrency(),
            max_queued: 64,
            queue_wait: Duration::from_secs(10),
            max_result_bytes: 256 << 20,
            max_limit: 10_000,
        }
    }
}

fn default_search_concurrency() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

/// Certificate, key and optional client CA, as files.
#[derive(Debug, Clone, PartialEq)]
pub struct TlsFiles {
    /// PEM certificate chain.
    pub cert: PathBuf,
    /// PEM private key.
    pub key: PathBuf,
    /// PEM CA for client certificates.
    pub client_ca: Option<PathBuf>,
}

/// A validated collector.
#[derive(Debug, Clone, PartialEq)]
pub struct CollectorConfig {
    /// Unique id.
    pub id: String,
    /// Tenant of its events.
    pub tenant: String,
    /// The connector.
    pub connector: ConnectorConfig,
    /// The normalizer.
    pub normalizer: NormalizerConfig,
    /// Transforms in order.
    pub transforms: Vec<TransformConfig>,
}

/// A validated transform and its path in the configuration (`collectors[0].transforms[1]`).
#[derive(Debug, Clone, PartialEq)]
pub struct TransformConfig {
    /// Config path, for metrics and error messages.
    pub path: String,
    /// What it does.
    pub kind: TransformKind,
}

/// What a transform does: the closed set of transforms, built by one `match` in the binary's
/// topology.
#[derive(Debug, Clone, PartialEq)]
pub enum TransformKind {
    /// Keep (`keep: true`) or drop the events matching `query` (checked when it is built).
    Filter {
        /// `true`: keep matching events; `false`: drop them.
        keep: bool,
        /// The query.
        query: String,
    },
    /// Set `field` to `value`.
    Set {
        /// Field.
        field: String,
        /// Value.
        value: String,
    },
    /// Copy `from` into `to` when `to` is empty.
    Copy {
        /// Source field.
        from: String,
        /// Target field.
        to: String,
    },
    /// Aggregation rules in order.
    Aggregate(Vec<AggregationConfig>),
}

/// A validated aggregation rule.
#[derive(Debug, Clone, PartialEq)]
pub struct AggregationConfig {
    /// Rule name.
    pub name: String,
    /// The query selecting events ("" for all).
    pub when: String,
    /// Identical fields.
    pub identical: Vec<String>,
    /// Window.
    pub window: Duration,
    /// Summed fields.
    pub sum: Vec<String>,
    /// Config path, for error messages.
    pub path: String,
}

/// A validated connector.
#[derive(Debug, Clone, PartialEq)]
pub enum ConnectorConfig {
    /// Syslog.
    Syslog(SyslogConfig),
    /// HTTP (`/ingest`, Elasticsearch `_bulk`, Splunk HEC).
    Http(HttpConfig),
    /// NATS JetStream durable consumer.
    Nats(NatsConfig),
    /// SQL polling.
    Sql(SqlConfig),
    /// NetFlow v5/v9 and IPFIX over UDP.
    Netflow(NetflowConfig),
    /// Files on disk (and the systemd journal).
    File(FileConfig),
    /// Windows EVTX files.
    Evtx(EvtxConfig),
    /// Kafka consumer.
    Kafka(KafkaConfig),
    /// SNMP traps (v1, v2c) over UDP.
    SnmpTrap(SnmpTrapConfig),
    /// sFlow v5 over UDP.
    Sflow(SflowConfig),
}

/// Validated settings of an HTTP connector, and its runtime settings
/// (`vigil_ingest::http::HttpSettings` is this type).
#[derive(Debug, Clone, PartialEq)]
pub struct HttpConfig {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Accepted tokens (never logged).
    pub tokens: Vec<crate::Secret>,
    /// HTTPS: the certificate, key and client CA (`listen` is the connector's `listen`).
    pub tls: Option<SyslogTlsConfig>,
    /// Largest body as sent.
    pub max_body_size: usize,
    /// Largest body after decompression.
    pub max_decompressed_size: usize,
    /// Longest event; longer ones are cut and marked.
    pub max_event_size: usize,
    /// Most connections at once.
    pub max_connections: usize,
    /// Time allowed for a body to arrive and for room in a full pipeline.
    pub request_timeout: Duration,
    /// Splunk HEC indexer acknowledgement (channels, `ackId`, `/services/collector/ack`).
    pub hec_acknowledgements: bool,
}

impl Default for HttpConfig {
    /// Loopback port 8088 (HEC's), no tokens, default limits.
    fn default() -> Self {
        HttpConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8088)),
            tokens: Vec::new(),
            tls: None,
            max_body_size: 16 << 20,
            max_decompressed_size: 128 << 20,
            max_event_size: 1 << 20,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            request_timeout: Duration::from_secs(30),
            hec_acknowledgements: false,
        }
    }
}

/// TLS listener settings (RFC 5425).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyslogTlsConfig {
    /// Address to listen on (the registered port is 6514).
    pub listen: SocketAddr,
    /// PEM file with the server certificate chain, leaf first.
    pub cert_path: PathBuf,
    /// PEM file with the private key (PKCS#8, PKCS#1 or SEC1).
    pub key_path: PathBuf,
    /// PEM file with the CA certificates that sign client certificates. When set, clients
    /// must present a certificate signed by one of them (mutual TLS).
    pub client_ca_path: Option<PathBuf>,
}

/// Validated settings of a syslog connector, and the connector's runtime settings
/// (`vigil_ingest::syslog::SyslogSettings` is this type): one type from the file to the
/// sockets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyslogConfig {
    /// UDP listen address; one datagram is one record.
    pub udp: Option<SocketAddr>,
    /// Plain TCP listen address (RFC 6587 framing, auto-detected per frame).
    pub tcp: Option<SocketAddr>,
    /// TLS listener.
    pub tls: Option<SyslogTlsConfig>,
    /// Longest record; longer frames are cut to this and marked.
    pub max_frame_size: usize,
    /// Most TCP and TLS connections open at once (both listeners together). When full, a new
    /// connection is admitted and the longest-idle one closed and counted (`evicted`).
    pub max_connections: usize,
    /// Most TCP and TLS connections from one source address. Its next connection closes its
    /// longest-idle one (counted as `evicted_per_ip`). Above `max_connections` it acts as
    /// `max_connections`.
    pub max_connections_per_ip: usize,
    /// A connection that delivers no complete frame for this long is closed and counted
    /// (`idle_timeout`). Bytes of an unfinished frame do not restart it.
    pub idle_timeout: Duration,
    /// A frame that has begun to arrive must be complete within this, or the connection is
    /// closed and counted (`frame_timeout`); what arrived is kept as a record.
    pub frame_timeout: Duration,
    /// A TLS handshake that takes longer than this fails and is counted.
    pub tls_handshake_timeout: Duration,
    /// SO_RCVBUF to request for the UDP socket; `None` keeps the kernel default. The kernel
    /// caps it at `net.core.rmem_max`; the size granted is reported as a gauge.
    pub udp_recv_buffer: Option<usize>,
    /// Most records in one batch.
    pub batch_max: usize,
}

/// Default [`SyslogConfig::max_frame_size`]: 64 KiB.
pub const DEFAULT_MAX_FRAME_SIZE: usize = 64 * 1024;
/// Default [`SyslogConfig::udp_recv_buffer`]: 4 MiB.
pub const DEFAULT_UDP_RECV_BUFFER: usize = 4 * 1024 * 1024;
/// Default [`SyslogConfig::max_connections`].
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;
/// Default [`SyslogConfig::frame_timeout`]: 30 s.
pub const DEFAULT_SYSLOG_FRAME_TIMEOUT: Duration = Duration::from_secs(30);

/// Default [`SyslogConfig::max_connections_per_ip`] for a `max_connections`: an eighth of
/// it (at least 1), so no single host holds more than an eighth of the slots while a NAT
/// gateway in front of many senders still gets plenty.
pub fn default_max_connections_per_ip(max_connections: usize) -> usize {
    (max_connections / 8).max(1)
}

/// Largest accepted [`SyslogConfig::max_frame_size`]: 16 MiB.
pub const MAX_MAX_FRAME_SIZE: usize = 16 * 1024 * 1024;

impl Default for SyslogConfig {
    /// No listeners; limits suited to a busy collector. Idle connections are closed after 10
    /// minutes: long enough that quiet senders (rsyslog keeps one connection for hours) are
    /// rarely cut, short enough that stalled clients do not hold connection slots forever
    /// (and a full connector evicts the idlest anyway). A frame must arrive within 30 s of its
    /// first byte: senders write whole messages, so only a stalled or hostile client is slower.
    fn default() -> Self {
        SyslogConfig {
            udp: None,
            tcp: None,
            tls: None,
            max_frame_size: DEFAULT_MAX_FRAME_SIZE,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_connections_per_ip: default_max_connections_per_ip(DEFAULT_MAX_CONNECTIONS),
            idle_timeout: Duration::from_secs(600),
            frame_timeout: DEFAULT_SYSLOG_FRAME_TIMEOUT,
            tls_handshake_timeout: Duration::from_secs(10),
            udp_recv_buffer: Some(DEFAULT_UDP_RECV_BUFFER),
            batch_max: 1024,
        }
    }
}

/// A validated normalizer.
#[derive(Debug, Clone, PartialEq)]
pub enum NormalizerConfig {
    /// Syslog header only.
    Syslog {
        /// Zone for timestamps without an offset.
        timezone: chrono_tz::Tz,
    },
    /// A shipped pack (checked when the pipeline is built).
    Pack {
        /// Pack name.
        name: String,
        /// Zone for timestamps without an offset.
        timezone: chrono_tz::Tz,
    },
    /// A definition file.
    File {
        /// The file.
        path: PathBuf,
        /// Zone for timestamps without an offset.
        timezone: chrono_tz::Tz,
    },
    /// Best guess per record.
    Auto {
        /// Zone for timestamps without an offset.
        timezone: chrono_tz::Tz,
    },
}

/// The validated event store.
#[derive(Debug, Clone, PartialEq)]
pub enum StorageConfig {
    /// Vigil's own store in the data directory.
    Embedded(EmbeddedStorageConfig),
    /// A ClickHouse server.
    ClickHouse(ClickHouseStorageConfig),
}

impl StorageConfig {
    /// The embedded store's settings, when that is the store.
    pub fn embedded(&self) -> Option<&EmbeddedStorageConfig> {
        match self {
            StorageConfig::Embedded(e) => Some(e),
            StorageConfig::ClickHouse(_) => None,
        }
    }

    /// The `type` as written in the file.
    pub fn kind(&self) -> &'static str {
        match self {
            StorageConfig::Embedded(_) => "embedded",
            StorageConfig::ClickHouse(_) => "clickhouse",
        }
    }
}

/// Validated ClickHouse settings (the password is redacted in `Debug`).
#[derive(Debug, Clone, PartialEq)]
pub struct ClickHouseStorageConfig {
    /// The HTTP interface, `http://` or `https://`, without a trailing `/`.
    pub url: String,
    /// Database.
    pub database: String,
    /// Table.
    pub table: String,
    /// User.
    pub user: String,
    /// Password (empty when none was given).
    pub password: crate::Secret,
    /// `max_execution_time` of every query.
    pub query_timeout: Duration,
}

/// Validated embedded store settings.
#[derive(Debug, Clone, PartialEq)]
pub struct EmbeddedStorageConfig {
    /// Group-commit interval (≤ 1 s).
    pub fsync_interval: Duration,
    /// Events per segment.
    pub segment_max_events: usize,
    /// Segment age limit.
    pub segment_max_age: Duration,
    /// Bytes a partition's memtable may hold before it is sealed early.
    pub memtable_max_bytes: u64,
    /// Bytes all memtables may hold together.
    pub memtable_total_bytes: u64,
    /// Default retention (`None`: forever).
    pub retention: Option<Duration>,
    /// Default hot age (`None`: never cold).
    pub hot_age: Option<Duration>,
    /// How often retention runs.
    pub retention_interval: Duration,
    /// Free-space reserve in bytes.
    pub min_free_bytes: u64,
    /// Free-space reserve in percent of the file system.
    pub min_free_percent: f64,
    /// Encryption at rest.
    pub encryption: Option<EncryptionConfig>,
    /// Cold tier and merges.
    pub tiers: TiersConfig,
    /// Per-tenant spaces and retention, by tenant name.
    pub tenants: std::collections::BTreeMap<String, TenantStorageConfig>,
}

/// Validated cold-tier settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TiersConfig {
    /// Directory for cold segments (`None`: inside the data directory).
    pub cold_dir: Option<PathBuf>,
    /// zstd level of cold segments.
    pub cold_zstd_level: i32,
    /// Time between background merge and tier passes.
    pub interval: Duration,
}

impl Default for TiersConfig {
    fn default() -> Self {
        TiersConfig {
            cold_dir: None,
            cold_zstd_level: 9,
            interval: Duration::from_secs(60),
        }
    }
}

/// Where the encryption keys come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EncryptionConfig {
    /// A key file (resolved against the config file's directory).
    KeyFile(PathBuf),
    /// An environment variable.
    KeyEnv(String),
}

/// Validated storage settings of one tenant.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TenantStorageConfig {
    /// Retention of the default space.
    pub retention: Option<Duration>,
    /// Hot age of the default space.
    pub hot_age: Option<Duration>,
    /// Spaces in routing order.
    pub spaces: Vec<SpaceStorageConfig>,
}

/// A validated storage space (the condition is compiled when the store opens; `vigil
/// validate` checks it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpaceStorageConfig {
    /// Name.
    pub name: String,
    /// Query filter choosing its events.
    pub condition: String,
    /// Retention.
    pub retention: Option<Duration>,
    /// Hot age.
    pub hot_age: Option<Duration>,
    /// Config path, for error messages.
    pub path: String,
}

/// Validated pipeline settings.
#[derive(Debug, Clone, PartialEq)]
pub struct PipelineConfig {
    /// Worker threads.
    pub workers: usize,
    /// Raw queue size in batches.
    pub raw_queue_batches: usize,
    /// Event queue size in batches.
    pub event_queue_batches: usize,
    /// How long a worker waits to gather more events into a batch for the destinations.
    pub batch_linger: Duration,
    /// Most events a worker gathers into one batch.
    pub batch_events: usize,
    /// How far a source time may be ahead of the receive time.
    pub max_future_skew: Duration,
    /// The earliest believable source time.
    pub min_timestamp: std::time::SystemTime,
}

/// The default `pipeline.batch_linger`: 5 ms.
pub const DEFAULT_BATCH_LINGER: Duration = Duration::from_millis(5);

/// The default `pipeline.max_future_skew`: one day (time zone mistakes are at most 14 hours).
pub const DEFAULT_MAX_FUTURE_SKEW: Duration = Duration::from_secs(86_400);

/// The default `pipeline.min_timestamp`, 2000-01-01T00:00:00Z: later than the 1970 of a
/// device whose clock was reset, earlier than any log a live source sends.
pub const DEFAULT_MIN_TIMESTAMP_SECS: u64 = 946_684_800;

/// Parses an instant in UTC: RFC 3339 with `Z` (`2000-01-01T00:00:00Z`) or a date
/// (`2000-01-01`), 1970 or later.
pub fn parse_utc_instant(s: &str) -> Result<std::time::SystemTime, String> {
    let t = s.trim();
    let full = if t.len() == 10 {
        format!("{t}T00:00:00Z")
    } else {
        t.to_owned()
    };
    humantime::parse_rfc3339(&full).map_err(|e| {
        format!("'{s}' is not an instant ({e}); write e.g. 2000-01-01T00:00:00Z or 2000-01-01 (UTC, 1970 or later)")
    })
}

/// Parses a size such as `65536`, `64KiB`, `1MiB`, `10MB`.
pub fn parse_size(s: &RawSize) -> Result<u64, String> {
    let text = match s {
        RawSize::Bytes(n) => return Ok(*n),
        RawSize::Text(t) => t.trim(),
    };
    let split = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(text.len());
    let (num, unit) = text.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("'{text}' is not a size; write e.g. 65536, 64KiB or 1MiB"))?;
    let mult: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "kb" | "k" => 1e3,
        "kib" => 1024.0,
        "mb" | "m" => 1e6,
        "mib" => 1024.0 * 1024.0,
        "gb" | "g" => 1e9,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        other => {
            return Err(format!(
                "unknown size unit '{other}'; use B, KB, KiB, MB, MiB, GB or GiB"
            ));
        }
    };
    Ok((n * mult) as u64)
}

/// Parses a duration such as `200ms`, `30s`, `10m`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s.trim())
        .map_err(|e| format!("'{s}' is not a duration ({e}); write e.g. 200ms, 30s or 10m"))
}

/// Parses a listen address, rejecting port 0.
pub fn parse_listen(s: &str) -> Result<SocketAddr, String> {
    let addr: SocketAddr = s.trim().parse().map_err(|_| {
        format!("'{s}' is not an address; write IP:PORT, e.g. 127.0.0.1:5514 or [::1]:5514")
    })?;
    if addr.port() == 0 {
        return Err("port 0 is not allowed; choose a port".into());
    }
    Ok(addr)
}

/// ClickHouse settings, every problem under `storage.`.
fn clickhouse_storage(
    v: &mut V<'_>,
    c: &RawClickHouseStorage,
    base_dir: &Path,
) -> ClickHouseStorageConfig {
    let url = c.url.trim().trim_end_matches('/').to_owned();
    match url.split_once("://") {
        Some(("http" | "https", rest))
            if !rest.is_empty() && !rest.contains(['/', '?', '#', ' ']) => {}
        _ => v.p.add(
            "storage.url",
            format!(
                "'{}' is not a server address; write `http://HOST:PORT` (or https://)",
                c.url
            ),
        ),
    }
    let mut ident = |key: &str, value: &Option<String>, default: &str| {
        let s = value.as_deref().unwrap_or(default).trim().to_owned();
        let ok = !s.is_empty()
            && s.len() <= 64
            && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            && !s.as_bytes()[0].is_ascii_digit();
        if !ok {
            v.p.add(
                format!("storage.{key}"),
                format!(
                    "'{s}' is not a ClickHouse identifier (1-64 of A-Z, a-z, 0-9 and _, not starting with a digit)"
                ),
            );
        }
        s
    };
    let database = ident("database", &c.database, "vigil");
    let table = ident("table", &c.table, "events");
    let user = c.user.as_deref().unwrap_or("default").trim().to_owned();
    if user.is_empty() {
        v.p.add("storage.user", "is empty; remove it to use `default`");
    }
    let password = match &c.password {
        None => crate::Secret::default(),
        Some(r) => crate::Secret::resolve(r, base_dir).unwrap_or_else(|e| {
            v.p.add("storage.password", e);
            crate::Secret::default()
        }),
    };
    let query_timeout = v.duration(
        "storage.query_timeout",
        &c.query_timeout,
        Duration::from_secs(60),
    );
    if query_timeout < Duration::from_secs(1) {
        v.p.add("storage.query_timeout", "must be at least 1s");
    }
    ClickHouseStorageConfig {
        url,
        database,
        table,
        user,
        password,
        query_timeout,
    }
}

/// Whether a tenant name is acceptable: [`vigil_event::TenantId`]'s rule (1-64 of
/// `a-z 0-9 _ -`, starting with a letter or digit), the one every crate uses.
pub fn valid_tenant(t: &str) -> bool {
    vigil_event::TenantId::is_valid(t)
}

struct V<'a> {
    p: Problems,
    base: &'a Path,
}

impl V<'_> {
    fn duration(&mut self, path: &str, v: &Option<String>, default: Duration) -> Duration {
        match v {
            None => default,
            Some(s) => parse_duration(s).unwrap_or_else(|e| {
                self.p.add(path, e);
                default
            }),
        }
    }

    /// An API limit: a duration between 1 ms and 1 day (0 would close every connection at
    /// once; more than a day is a typo).
    fn api_duration(&mut self, path: &str, v: &Option<String>, default: Duration) -> Duration {
        let d = self.duration(path, v, default);
        if d < Duration::from_millis(1) || d > Duration::from_secs(86_400) {
            self.p.add(
                path,
                format!(
                    "{} is out of range (1ms..=1d)",
                    humantime::format_duration(d)
                ),
            );
            return default;
        }
        d
    }

    /// An optional duration that must be more than 0 when given.
    fn opt_duration(&mut self, path: &str, v: &Option<String>) -> Option<Duration> {
        let s = v.as_ref()?;
        match parse_duration(s) {
            Ok(d) if d.is_zero() => {
                self.p.add(path, "must be more than 0");
                None
            }
            Ok(d) => Some(d),
            Err(e) => {
                self.p.add(path, e);
                None
            }
        }
    }

    fn size(&mut self, path: &str, v: &Option<RawSize>, default: u64, min: u64, max: u64) -> u64 {
        let Some(s) = v else { return default };
        match parse_size(s) {
            Ok(n) if n < min || n > max => {
                self.p
                    .add(path, format!("{n} bytes is out of range ({min}..={max})"));
                default
            }
            Ok(n) => n,
            Err(e) => {
                self.p.add(path, e);
                default
            }
        }
    }

    fn listen(&mut self, path: &str, v: &str) -> Option<SocketAddr> {
        parse_listen(v).map_err(|e| self.p.add(path, e)).ok()
    }

    fn file(&mut self, path: &str, v: &str) -> PathBuf {
        let p = self.base.join(v);
        if !p.is_file() {
            self.p
                .add(path, format!("file {} does not exist", p.display()));
        }
        p
    }

    fn tls(&mut self, path: &str, cert: &str, key: &str, ca: &Option<String>) -> TlsFiles {
        TlsFiles {
            cert: self.file(&format!("{path}.cert"), cert),
            key: self.file(&format!("{path}.key"), key),
            client_ca: ca
                .as_ref()
                .map(|c| self.file(&format!("{path}.client_ca"), c)),
        }
    }

    fn count(
        &mut self,
        path: &str,
        v: Option<usize>,
        default: usize,
        min: usize,
        max: usize,
    ) -> usize {
        match v {
            None => default,
            Some(n) if n < min || n > max => {
                self.p
                    .add(path, format!("{n} is out of range ({min}..={max})"));
                default
            }
            Some(n) => n,
        }
    }
}

fn validate_meta(v: &mut V<'_>, m: &crate::raw::RawMeta) -> MetaSettings {
    let kind = match m.kind.as_deref() {
        None | Some("sqlite") => MetaKind::Sqlite,
        Some("postgres") => MetaKind::Postgres,
        Some(o) => {
            v.p.add(
                "meta.type",
                format!("unknown type {o:?}: use sqlite or postgres"),
            );
            MetaKind::Sqlite
        }
    };
    let url = match (kind, &m.url) {
        (MetaKind::Sqlite, Some(_)) => {
            v.p.add(
                "meta.url",
                "only `type: postgres` takes a url (SQLite uses <data_dir>/meta.db)",
            );
            None
        }
        (MetaKind::Sqlite, None) => None,
        (MetaKind::Postgres, None) => {
            v.p.add(
                "meta.url",
                "missing; write `url: \"${env:NAME}\"` naming a postgres:// URL",
            );
            None
        }
        (MetaKind::Postgres, Some(r)) => match crate::Secret::resolve(r, v.base) {
            Ok(s)
                if s.expose().starts_with("postgres://")
                    || s.expose().starts_with("postgresql://") =>
            {
                Some(s)
            }
            Ok(_) => {
                v.p.add(
                    "meta.url",
                    "the referenced value must start with postgres:// or postgresql://",
                );
                None
            }
            Err(e) => {
                v.p.add("meta.url", e);
                None
            }
        },
    };
    if let Some(n) = m.max_connections
        && !(1..=1000).contains(&n)
    {
        v.p.add("meta.max_connections", format!("{n} is outside 1 to 1000"));
    }
    let max_attachment_bytes = m.max_attachment_bytes.as_ref().map(|_| {
        v.size(
            "meta.max_attachment_bytes",
            &m.max_attachment_bytes,
            10 << 20,
            1,
            1 << 30,
        )
    });
    MetaSettings {
        kind,
        url,
        max_connections: m.max_connections,
        max_attachment_bytes,
    }
}

/// Validates raw configuration; relative paths resolve against `base_dir`.
pub fn validate(raw: &RawConfig, origin: &str, base_dir: &Path) -> Result<Config, ConfigErrors> {
    let mut v = V {
        p: Problems::default(),
        base: base_dir,
    };
    if raw.version != 1 {
        v.p.add(
            "version",
            format!(
                "version {} is not supported; this Vigil reads version 1",
                raw.version
            ),
        );
    }
    let data_dir = base_dir.join(raw.data_dir.as_deref().unwrap_or("./vigil-data"));

    let api = check_api(&mut v, &raw.api);
    let mut collectors = check_collectors(&mut v, &raw.collectors);
    for c in &mut collectors {
        if let ConnectorConfig::Sql(s) = &mut c.connector
            && s.cursor_file.as_os_str().is_empty()
        {
            s.cursor_file = data_dir.join("cursors").join(format!("{}.json", c.id));
        }
    }
    let storage = check_storage(&mut v, &raw.storage);
    let pipeline = check_pipeline(&mut v, &raw.pipeline);
    let detection = check_detection(&mut v, raw.detection.as_ref());
    let correlation = check_correlation(&mut v, raw.correlation.as_ref());
    let destinations = check_destinations(&mut v, raw.destinations.as_deref());
    let search = check_search(&mut v, &raw.search);
    let meta = validate_meta(&mut v, &raw.meta);
    let auth = check_auth(&mut v, &raw.auth);
    v.p.into_result(origin)?;
    Ok(Config {
        data_dir,
        api,
        collectors,
        storage,
        pipeline,
        search,
        detection,
        correlation,
        destinations,
        meta,
        auth,
    })
}

/// The `auth` section: its LDAP bind password resolved (the rest is checked in detail by
/// `vigil-core`).
fn check_auth(v: &mut V<'_>, raw: &crate::raw::RawAuth) -> AuthSettings {
    let mut auth = AuthSettings {
        raw: raw.clone(),
        ldap_bind_password: None,
    };
    if let Some(l) = &mut auth.raw.ldap
        && let Some(r) = l.bind_password.take()
    {
        match crate::Secret::resolve(&r, v.base) {
            Ok(s) => auth.ldap_bind_password = Some(s),
            Err(e) => v.p.add("auth.ldap.bind_password", e),
        }
    }
    auth
}

/// The `api` section.
fn check_api(v: &mut V<'_>, api: &RawApi) -> ApiConfig {
    let base = v.base;
    ApiConfig {
        listen: api
            .listen
            .as_deref()
            .map(|l| v.listen("api.listen", l))
            .unwrap_or_else(|| Some(SocketAddr::from(([127, 0, 0, 1], 8080))))
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080))),
        tls: api
            .tls
            .as_ref()
            .map(|t| v.tls("api.tls", &t.cert, &t.key, &t.client_ca)),
        token_file: api.token_file.as_ref().map(|f| base.join(f)),
        max_body_size: v.size(
            "api.max_body_size",
            &api.max_body_size,
            1 << 20,
            1024,
            1 << 30,
        ) as usize,
        query_timeout: v.duration(
            "api.query_timeout",
            &api.query_timeout,
            Duration::from_secs(30),
        ),
        max_connections: v.count(
            "api.max_connections",
            api.max_connections,
            512,
            1,
            1_000_000,
        ),
        max_concurrent_requests: v.count(
            "api.max_concurrent_requests",
            api.max_concurrent_requests,
            64,
            1,
            100_000,
        ),
        header_read_timeout: v.api_duration(
            "api.header_read_timeout",
            &api.header_read_timeout,
            Duration::from_secs(10),
        ),
        body_read_timeout: v.api_duration(
            "api.body_read_timeout",
            &api.body_read_timeout,
            Duration::from_secs(30),
        ),
        idle_timeout: v.api_duration(
            "api.idle_timeout",
            &api.idle_timeout,
            Duration::from_secs(60),
        ),
        auth_max_failures: v.count(
            "api.auth_max_failures",
            api.auth_max_failures.map(|n| n as usize),
            10,
            1,
            1_000_000,
        ) as u32,
        auth_failure_window: v.api_duration(
            "api.auth_failure_window",
            &api.auth_failure_window,
            Duration::from_secs(60),
        ),
        auth_lockout: v.api_duration(
            "api.auth_lockout",
            &api.auth_lockout,
            Duration::from_secs(300),
        ),
        auth_log_interval: v.api_duration(
            "api.auth_log_interval",
            &api.auth_log_interval,
            Duration::from_secs(60),
        ),
    }
}

/// The `collectors` section: ids unique, every listen address claimed once.
fn check_collectors(v: &mut V<'_>, raw: &[RawCollector]) -> Vec<CollectorConfig> {
    let mut ids = HashSet::new();
    let mut listeners: HashMap<(SocketAddr, &'static str), String> = HashMap::new();
    let mut collectors = Vec::new();
    for (i, c) in raw.iter().enumerate() {
        let path = format!("collectors[{i}]");
        if c.id.trim().is_empty() {
            v.p.add(format!("{path}.id"), "must not be empty");
        } else if !ids.insert(c.id.clone()) {
            v.p.add(
                format!("{path}.id"),
                format!("duplicate collector id '{}'", c.id),
            );
        }
        let tenant = c.tenant.clone().unwrap_or_else(|| "main".into());
        if !valid_tenant(&tenant) {
            v.p.add(
                format!("{path}.tenant"),
                format!("'{tenant}' is not a valid tenant name (1-64 of a-z, 0-9, _ and -)"),
            );
        }
        let connector = match &c.connector {
            RawConnector::Syslog(s) => {
                let cp = format!("{path}.connector");
                let mut claim =
                    |v: &mut V, addr: Option<SocketAddr>, proto: &'static str, field: &str| {
                        if let Some(a) = addr {
                            let key = (a, if proto == "udp" { "udp" } else { "tcp" });
                            if let Some(prev) = listeners.insert(key, format!("{cp}.{field}")) {
                                v.p.add(
                                    format!("{cp}.{field}"),
                                    format!("{a}/{} is already used by {prev}", key.1),
                                );
                            }
                        }
                        addr
                    };
                let udp = s
                    .udp
                    .as_deref()
                    .and_then(|a| v.listen(&format!("{cp}.udp"), a));
                let udp = claim(v, udp, "udp", "udp");
                let tcp = s
                    .tcp
                    .as_deref()
                    .and_then(|a| v.listen(&format!("{cp}.tcp"), a));
                let tcp = claim(v, tcp, "tcp", "tcp");
                let tls = s.tls.as_ref().and_then(|t| {
                    let addr = v.listen(&format!("{cp}.tls.listen"), &t.listen);
                    let files = v.tls(&format!("{cp}.tls"), &t.cert, &t.key, &t.client_ca);
                    let addr = claim(v, addr, "tls", "tls.listen");
                    addr.map(|listen| SyslogTlsConfig {
                        listen,
                        cert_path: files.cert,
                        key_path: files.key,
                        client_ca_path: files.client_ca,
                    })
                });
                if s.udp.is_none() && s.tcp.is_none() && s.tls.is_none() {
                    v.p.add(cp.clone(), "listens nowhere; set udp, tcp or tls");
                }
                let max_connections = v.count(
                    &format!("{cp}.max_connections"),
                    s.max_connections,
                    1024,
                    1,
                    1_000_000,
                );
                let max_connections_per_ip = v.count(
                    &format!("{cp}.max_connections_per_ip"),
                    s.max_connections_per_ip,
                    (max_connections / 8).max(1),
                    1,
                    max_connections,
                );
                let timeout = |v: &mut V, field: &str, raw: &Option<String>, default: u64| {
                    v.opt_duration(&format!("{cp}.{field}"), raw)
                        .unwrap_or(Duration::from_secs(default))
                };
                ConnectorConfig::Syslog(SyslogConfig {
                    udp,
                    tcp,
                    tls,
                    max_frame_size: v.size(
                        &format!("{cp}.max_frame_size"),
                        &s.max_frame_size,
                        DEFAULT_MAX_FRAME_SIZE as u64,
                        480,
                        MAX_MAX_FRAME_SIZE as u64,
                    ) as usize,
                    max_connections,
                    max_connections_per_ip,
                    idle_timeout: timeout(v, "idle_timeout", &s.idle_timeout, 600),
                    frame_timeout: timeout(v, "frame_timeout", &s.frame_timeout, 30),
                    tls_handshake_timeout: timeout(
                        v,
                        "tls_handshake_timeout",
                        &s.tls_handshake_timeout,
                        10,
                    ),
                    udp_recv_buffer: Some(v.size(
                        &format!("{cp}.udp_recv_buffer"),
                        &s.udp_recv_buffer,
                        DEFAULT_UDP_RECV_BUFFER as u64,
                        4096,
                        1 << 30,
                    ) as usize),
                    batch_max: SyslogConfig::default().batch_max,
                })
            }
            RawConnector::Http(h) => {
                let cp = format!("{path}.connector");
                let listen = v.listen(&format!("{cp}.listen"), &h.listen);
                if let Some(a) = listen
                    && let Some(prev) = listeners.insert((a, "tcp"), format!("{cp}.listen"))
                {
                    v.p.add(
                        format!("{cp}.listen"),
                        format!("{a}/tcp is already used by {prev}"),
                    );
                }
                if h.tokens.is_empty() {
                    v.p.add(
                        format!("{cp}.tokens"),
                        "list at least one token (literal or `${env:NAME}`)",
                    );
                }
                let mut tokens = Vec::new();
                for (j, t) in h.tokens.iter().enumerate() {
                    let tp = format!("{cp}.tokens[{j}]");
                    let resolved = if t.trim_start().starts_with("${") {
                        crate::Secret::resolve(t, v.base)
                    } else {
                        Ok(crate::Secret::literal(t))
                    };
                    match resolved {
                        Ok(s) if s.expose().len() < 8 => v.p.add(
                            tp,
                            "too short: use at least 8 characters (a random token of 32 or more)",
                        ),
                        Ok(s) => tokens.push(s),
                        Err(e) => v.p.add(tp, e),
                    }
                }
                let tls = h.tls.as_ref().and_then(|t| {
                    let files = v.tls(&format!("{cp}.tls"), &t.cert, &t.key, &t.client_ca);
                    listen.map(|listen| SyslogTlsConfig {
                        listen,
                        cert_path: files.cert,
                        key_path: files.key,
                        client_ca_path: files.client_ca,
                    })
                });
                let d = HttpConfig::default();
                let max_body_size = v.size(
                    &format!("{cp}.max_body_size"),
                    &h.max_body_size,
                    d.max_body_size as u64,
                    1024,
                    1 << 30,
                ) as usize;
                ConnectorConfig::Http(HttpConfig {
                    listen: listen.unwrap_or(d.listen),
                    tokens,
                    tls,
                    max_body_size,
                    max_decompressed_size: v.size(
                        &format!("{cp}.max_decompressed_size"),
                        &h.max_decompressed_size,
                        d.max_decompressed_size as u64,
                        1024,
                        4 << 30,
                    ) as usize,
                    max_event_size: v.size(
                        &format!("{cp}.max_event_size"),
                        &h.max_event_size,
                        d.max_event_size as u64,
                        480,
                        MAX_MAX_FRAME_SIZE as u64,
                    ) as usize,
                    max_connections: v.count(
                        &format!("{cp}.max_connections"),
                        h.max_connections,
                        d.max_connections,
                        1,
                        1_000_000,
                    ),
                    request_timeout: v
                        .opt_duration(&format!("{cp}.request_timeout"), &h.request_timeout)
                        .unwrap_or(d.request_timeout),
                    hec_acknowledgements: h.hec_acknowledgements,
                })
            }
            RawConnector::Nats(n) => {
                ConnectorConfig::Nats(bus::nats_connector(v, &format!("{path}.connector"), n))
            }
            RawConnector::Sql(s) => {
                ConnectorConfig::Sql(polled::check_sql(v, &format!("{path}.connector"), s))
            }
            RawConnector::Netflow(n) => {
                let cp = format!("{path}.connector");
                let (listen, cfg) = polled::check_netflow(v, &cp, n);
                if let Some(a) = listen
                    && let Some(prev) = listeners.insert((a, "udp"), format!("{cp}.listen"))
                {
                    v.p.add(
                        format!("{cp}.listen"),
                        format!("{a}/udp is already used by {prev}"),
                    );
                }
                ConnectorConfig::Netflow(cfg)
            }
            RawConnector::File(f) => {
                ConnectorConfig::File(files::check_file(v, &format!("{path}.connector"), f))
            }
            RawConnector::Evtx(e) => {
                ConnectorConfig::Evtx(files::check_evtx(v, &format!("{path}.connector"), e))
            }
            RawConnector::Kafka(k) => {
                ConnectorConfig::Kafka(check_kafka(v, &format!("{path}.connector"), k))
            }
            RawConnector::SnmpTrap(t) => {
                let cp = format!("{path}.connector");
                let (listen, cfg) = polled::check_snmp_trap(v, &cp, t);
                if let Some(a) = listen
                    && let Some(prev) = listeners.insert((a, "udp"), format!("{cp}.listen"))
                {
                    v.p.add(
                        format!("{cp}.listen"),
                        format!("{a}/udp is already used by {prev}"),
                    );
                }
                ConnectorConfig::SnmpTrap(cfg)
            }
            RawConnector::Sflow(f) => {
                let cp = format!("{path}.connector");
                let listen = v.listen(&format!("{cp}.listen"), &f.listen);
                if let Some(a) = listen
                    && let Some(prev) = listeners.insert((a, "udp"), format!("{cp}.listen"))
                {
                    v.p.add(
                        format!("{cp}.listen"),
                        format!("{a}/udp is already used by {prev}"),
                    );
                }
                ConnectorConfig::Sflow(SflowConfig {
                    listen: listen.unwrap_or(SocketAddr::from(([127, 0, 0, 1], 6343))),
                    udp_recv_buffer: v.size(
                        &format!("{cp}.udp_recv_buffer"),
                        &f.udp_recv_buffer,
                        DEFAULT_FLOW_RECV_BUFFER as u64,
                        4096,
                        1 << 30,
                    ) as usize,
                })
            }
        };
        let tz_path = format!("{path}.normalizer.timezone");
        let tz = |v: &mut V, timezone: &Option<String>| match timezone.as_deref() {
            None => chrono_tz::UTC,
            Some(name) => name.parse::<chrono_tz::Tz>().unwrap_or_else(|_| {
                v.p.add(
                    tz_path.clone(),
                    format!(
                        "unknown time zone '{name}'; use an IANA name such as UTC or Europe/Berlin"
                    ),
                );
                chrono_tz::UTC
            }),
        };
        let normalizer = match &c.normalizer {
            // records that are JSON documents of known keys get their pack by default
            None if matches!(connector, ConnectorConfig::Sql(_)) => NormalizerConfig::Pack {
                name: "sql".into(),
                timezone: chrono_tz::UTC,
            },
            None if matches!(connector, ConnectorConfig::Netflow(_)) => NormalizerConfig::Pack {
                name: "netflow".into(),
                timezone: chrono_tz::UTC,
            },
            // EVTX records are Windows event XML: the packs that read it are found per record
            None if matches!(c.connector, RawConnector::Evtx(_)) => NormalizerConfig::Auto {
                timezone: chrono_tz::UTC,
            },
            None if matches!(connector, ConnectorConfig::Sflow(_)) => NormalizerConfig::Pack {
                name: "sflow".into(),
                timezone: chrono_tz::UTC,
            },
            None if matches!(connector, ConnectorConfig::SnmpTrap(_)) => NormalizerConfig::Pack {
                name: "snmp".into(),
                timezone: chrono_tz::UTC,
            },
            None => NormalizerConfig::Syslog {
                timezone: chrono_tz::UTC,
            },
            Some(RawNormalizer::Syslog { timezone }) => NormalizerConfig::Syslog {
                timezone: tz(v, timezone),
            },
            Some(RawNormalizer::Pack { name, timezone }) => NormalizerConfig::Pack {
                name: name.clone(),
                timezone: tz(v, timezone),
            },
            Some(RawNormalizer::File { path: f, timezone }) => {
                let file = v.file(&format!("{path}.normalizer.path"), f);
                NormalizerConfig::File {
                    path: file,
                    timezone: tz(v, timezone),
                }
            }
            Some(RawNormalizer::Auto { timezone }) => NormalizerConfig::Auto {
                timezone: tz(v, timezone),
            },
        };
        let mut transforms = Vec::new();
        for (j, t) in c.transforms.iter().enumerate() {
            let tpath = format!("{path}.transforms[{j}]");
            if let Some(kind) = check_transform(v, t, &tpath) {
                transforms.push(TransformConfig { path: tpath, kind });
            }
        }
        collectors.push(CollectorConfig {
            id: c.id.clone(),
            tenant,
            connector,
            normalizer,
            transforms,
        });
    }
    collectors
}

/// One transform of a collector; `None` (with its problems added) when it cannot be built.
fn check_transform(v: &mut V<'_>, t: &RawTransform, path: &str) -> Option<TransformKind> {
    match t {
        RawTransform::Filter(f) => {
            let (keep, query) = match (&f.keep, &f.drop) {
                (Some(q), None) => (true, q.clone()),
                (None, Some(q)) => (false, q.clone()),
                _ => {
                    v.p.add(path, "write exactly one of `keep: QUERY` or `drop: QUERY`");
                    return None;
                }
            };
            if query.trim().is_empty() {
                v.p.add(path, "the query is empty");
            }
            Some(TransformKind::Filter { keep, query })
        }
        RawTransform::Set(s) => {
            if s.field.trim().is_empty() {
                v.p.add(format!("{path}.field"), "must not be empty");
            }
            Some(TransformKind::Set {
                field: s.field.clone(),
                value: s.value.clone(),
            })
        }
        RawTransform::Copy(cp) => {
            for (name, f) in [("from", &cp.from), ("to", &cp.to)] {
                if f.trim().is_empty() {
                    v.p.add(format!("{path}.{name}"), "must not be empty");
                }
            }
            Some(TransformKind::Copy {
                from: cp.from.clone(),
                to: cp.to.clone(),
            })
        }
        RawTransform::Aggregate(a) => {
            if a.rules.is_empty() {
                v.p.add(format!("{path}.rules"), "name at least one rule");
            }
            let mut rules = Vec::new();
            for (j, r) in a.rules.iter().enumerate() {
                let rpath = format!("{path}.rules[{j}]");
                if r.identical.is_empty() {
                    v.p.add(format!("{rpath}.identical"), "name at least one field");
                }
                let window = v.duration(
                    &format!("{rpath}.window"),
                    &Some(r.window.clone()),
                    Duration::from_secs(60),
                );
                if window.is_zero() {
                    v.p.add(format!("{rpath}.window"), "must be more than 0");
                }
                rules.push(AggregationConfig {
                    name: r.name.clone(),
                    when: r.when.clone().unwrap_or_default(),
                    identical: r.identical.clone(),
                    window,
                    sum: r.sum.clone(),
                    path: rpath,
                });
            }
            Some(TransformKind::Aggregate(rules))
        }
    }
}

/// The `storage` section: the embedded store's settings, or ClickHouse's.
fn check_storage(v: &mut V<'_>, storage: &RawStorage) -> StorageConfig {
    let base = v.base;
    // The embedded store's keys; with another backend they are not allowed (unknown fields),
    // so its defaults are validated and set aside.
    let default_embedded = RawEmbeddedStorage::default();
    let (raw_embedded, clickhouse) = match storage {
        RawStorage::Embedded(e) => (e, None),
        RawStorage::ClickHouse(c) => (&default_embedded, Some(c)),
    };
    let fsync_interval = v.duration(
        "storage.fsync_interval",
        &raw_embedded.fsync_interval,
        Duration::from_millis(200),
    );
    if fsync_interval > Duration::from_secs(1) {
        v.p.add(
            "storage.fsync_interval",
            "must be at most 1s (events older than that are promised durable)",
        );
    }
    if fsync_interval.is_zero() {
        v.p.add("storage.fsync_interval", "must be more than 0");
    }
    let embedded = EmbeddedStorageConfig {
        fsync_interval,
        segment_max_events: v.count(
            "storage.segment_max_events",
            raw_embedded.segment_max_events,
            262_144,
            1_024,
            16_777_216,
        ),
        segment_max_age: v.duration(
            "storage.segment_max_age",
            &raw_embedded.segment_max_age,
            Duration::from_secs(30),
        ),
        memtable_max_bytes: v.size(
            "storage.memtable_max",
            &raw_embedded.memtable_max,
            64 << 20,
            1 << 20,
            1 << 40,
        ),
        memtable_total_bytes: v.size(
            "storage.memtable_total_max",
            &raw_embedded.memtable_total_max,
            160 << 20,
            1 << 20,
            1 << 40,
        ),
        retention: v.opt_duration("storage.retention", &raw_embedded.retention),
        hot_age: v.opt_duration("storage.hot_age", &raw_embedded.hot_age),
        retention_interval: v.duration(
            "storage.retention_interval",
            &raw_embedded.retention_interval,
            Duration::from_secs(60),
        ),
        min_free_bytes: v.size(
            "storage.min_free",
            &raw_embedded.min_free,
            256 << 20,
            0,
            1 << 50,
        ),
        min_free_percent: match raw_embedded.min_free_percent {
            None => 1.0,
            Some(p) if (0.0..=90.0).contains(&p) => p,
            Some(p) => {
                v.p.add(
                    "storage.min_free_percent",
                    format!("{p} is out of range (0..=90)"),
                );
                1.0
            }
        },
        encryption: match &raw_embedded.encryption {
            None => None,
            Some(e) => match (&e.key_file, &e.key_env) {
                (Some(f), None) => Some(EncryptionConfig::KeyFile(base.join(f))),
                (None, Some(n)) if !n.trim().is_empty() => {
                    Some(EncryptionConfig::KeyEnv(n.trim().to_owned()))
                }
                _ => {
                    v.p.add(
                        "storage.encryption",
                        "write exactly one of `key_file: PATH` or `key_env: NAME`",
                    );
                    None
                }
            },
        },
        tiers: {
            let t = raw_embedded.tiers.clone().unwrap_or_default();
            let d = TiersConfig::default();
            let cold_zstd_level = match t.cold_zstd_level {
                None => d.cold_zstd_level,
                Some(l) if (1..=19).contains(&l) => l,
                Some(l) => {
                    v.p.add(
                        "storage.tiers.cold_zstd_level",
                        format!("{l} is out of range (1..=19)"),
                    );
                    d.cold_zstd_level
                }
            };
            let interval = v.duration("storage.tiers.interval", &t.interval, d.interval);
            if interval.is_zero() {
                v.p.add("storage.tiers.interval", "must be more than 0");
            }
            let cold_dir = match t.cold_dir.as_deref().map(str::trim) {
                Some("") => {
                    v.p.add(
                        "storage.tiers.cold_dir",
                        "is empty: give a directory, or remove the key to keep cold data in the data directory",
                    );
                    None
                }
                Some(c) => Some(base.join(c)),
                None => None,
            };
            TiersConfig {
                cold_dir,
                cold_zstd_level,
                interval,
            }
        },
        tenants: raw_embedded
            .tenants
            .iter()
            .map(|(name, t)| {
                let tp = format!("storage.tenants.{name}");
                if !valid_tenant(name) {
                    v.p.add(
                        tp.clone(),
                        format!("'{name}' is not a valid tenant name (1-64 of a-z, 0-9, _ and -)"),
                    );
                }
                let mut names = HashSet::new();
                let spaces = t
                    .spaces
                    .iter()
                    .enumerate()
                    .map(|(i, s)| {
                        let sp = format!("{tp}.spaces[{i}]");
                        if s.name == "default" {
                            v.p.add(
                                format!("{sp}.name"),
                                "'default' is the space of events no condition matches; choose another name",
                            );
                        } else if !valid_tenant(&s.name) {
                            v.p.add(
                                format!("{sp}.name"),
                                format!("'{}' is not a valid space name (1-64 of a-z, 0-9, _ and -)", s.name),
                            );
                        } else if !names.insert(s.name.clone()) {
                            v.p.add(format!("{sp}.name"), format!("duplicate space '{}'", s.name));
                        }
                        if s.condition.trim().is_empty() {
                            v.p.add(format!("{sp}.condition"), "the condition is empty");
                        }
                        SpaceStorageConfig {
                            name: s.name.clone(),
                            condition: s.condition.clone(),
                            retention: v.opt_duration(&format!("{sp}.retention"), &s.retention),
                            hot_age: v.opt_duration(&format!("{sp}.hot_age"), &s.hot_age),
                            path: sp,
                        }
                    })
                    .collect();
                (
                    name.clone(),
                    TenantStorageConfig {
                        retention: v.opt_duration(&format!("{tp}.retention"), &t.retention),
                        hot_age: v.opt_duration(&format!("{tp}.hot_age"), &t.hot_age),
                        spaces,
                    },
                )
            })
            .collect(),
    };
    if embedded.retention_interval.is_zero() {
        v.p.add("storage.retention_interval", "must be more than 0");
    }
    match clickhouse {
        None => StorageConfig::Embedded(embedded),
        Some(c) => StorageConfig::ClickHouse(clickhouse_storage(v, c, base)),
    }
}

/// The `pipeline` section.
fn check_pipeline(v: &mut V<'_>, pipeline: &RawPipeline) -> PipelineConfig {
    PipelineConfig {
        workers: v.count("pipeline.workers", pipeline.workers, 1, 1, 64),
        raw_queue_batches: v.count(
            "pipeline.raw_queue_batches",
            pipeline.raw_queue_batches,
            256,
            1,
            65_536,
        ),
        event_queue_batches: v.count(
            "pipeline.event_queue_batches",
            pipeline.event_queue_batches,
            64,
            1,
            65_536,
        ),
        batch_linger: {
            let d = v.duration(
                "pipeline.batch_linger",
                &pipeline.batch_linger,
                DEFAULT_BATCH_LINGER,
            );
            if d > Duration::from_secs(1) {
                v.p.add(
                    "pipeline.batch_linger",
                    format!(
                        "{} is out of range (0s..=1s)",
                        humantime::format_duration(d)
                    ),
                );
                DEFAULT_BATCH_LINGER
            } else {
                d
            }
        },
        batch_events: v.count(
            "pipeline.batch_events",
            pipeline.batch_events,
            1024,
            1,
            1_048_576,
        ),
        max_future_skew: v.duration(
            "pipeline.max_future_skew",
            &pipeline.max_future_skew,
            DEFAULT_MAX_FUTURE_SKEW,
        ),
        min_timestamp: {
            let default = std::time::UNIX_EPOCH + Duration::from_secs(DEFAULT_MIN_TIMESTAMP_SECS);
            match pipeline.min_timestamp.as_deref().map(parse_utc_instant) {
                None => default,
                Some(Ok(t)) if t >= std::time::SystemTime::now() => {
                    v.p.add(
                        "pipeline.min_timestamp",
                        "must be in the past (every event would be dated by its receive time)",
                    );
                    default
                }
                Some(Ok(t)) => t,
                Some(Err(e)) => {
                    v.p.add("pipeline.min_timestamp", e);
                    default
                }
            }
        },
    }
}

/// The `detection` section: rule paths exist, the pipeline is known.
fn check_detection(v: &mut V<'_>, detection: Option<&RawDetection>) -> Option<DetectionConfig> {
    let base = v.base;
    detection.map(|d| {
        if d.rules.is_empty() {
            v.p.add(
                "detection.rules",
                "name at least one rule file or directory",
            );
        }
        let rules: Vec<PathBuf> = d
            .rules
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let p = base.join(r);
                if !p.exists() {
                    v.p.add(
                        format!("detection.rules[{i}]"),
                        format!("{} does not exist", p.display()),
                    );
                }
                p
            })
            .collect();
        let pipeline = match &d.pipeline {
            None | Some(RawSigmaPipeline::Builtin(BuiltinSigmaPipeline::None)) => {
                SigmaPipeline::None
            }
            Some(RawSigmaPipeline::Builtin(BuiltinSigmaPipeline::Windows)) => {
                SigmaPipeline::Windows
            }
            Some(RawSigmaPipeline::Builtin(BuiltinSigmaPipeline::Ecs)) => SigmaPipeline::Ecs,
            Some(RawSigmaPipeline::File(f)) => SigmaPipeline::File(v.file("detection.pipeline", f)),
        };
        DetectionConfig {
            rules,
            pipeline,
            reload_interval: v.duration(
                "detection.reload_interval",
                &d.reload_interval,
                Duration::from_secs(2),
            ),
            placeholders: d.placeholders.clone(),
        }
    })
}

/// The `correlation` section: rule paths exist, durations are durations.
fn check_correlation(
    v: &mut V<'_>,
    correlation: Option<&RawCorrelation>,
) -> Option<CorrelationConfig> {
    let base = v.base;
    correlation.map(|c| {
        if c.rules.is_empty() {
            v.p.add(
                "correlation.rules",
                "name at least one rule file or directory (the shipped pack is builtin:correlation)",
            );
        }
        let rules: Vec<PathBuf> = c
            .rules
            .iter()
            .enumerate()
            .map(|(i, r)| {
                if let Some(name) = r.strip_prefix("builtin:") {
                    // the pack embedded in the binary (vigil_correlate::shipped); which of its
                    // files exist is the loader's to say
                    if name != "correlation" && !name.starts_with("correlation/") {
                        v.p.add(
                            format!("correlation.rules[{i}]"),
                            format!("unknown built-in rule set '{r}': the shipped pack is builtin:correlation (or builtin:correlation/<file>)"),
                        );
                    }
                    return PathBuf::from(r);
                }
                let p = base.join(r);
                if !p.exists() {
                    v.p.add(
                        format!("correlation.rules[{i}]"),
                        format!("{} does not exist", p.display()),
                    );
                }
                p
            })
            .collect();
        let idle_after = v.duration(
            "correlation.idle_after",
            &c.idle_after,
            Duration::from_secs(30),
        );
        let snapshot_interval = v.duration(
            "correlation.snapshot_interval",
            &c.snapshot_interval,
            Duration::from_secs(30),
        );
        if snapshot_interval.is_zero() {
            v.p.add("correlation.snapshot_interval", "must be more than 0");
        }
        if idle_after.is_zero() {
            v.p.add("correlation.idle_after", "must be more than 0");
        }
        CorrelationConfig {
            rules,
            idle_after,
            snapshot_interval,
        }
    })
}

/// The `destinations` section: storage at most once, every file written by one destination.
fn check_destinations(
    v: &mut V<'_>,
    destinations: Option<&[RawDestination]>,
) -> Vec<DestinationConfig> {
    let base = v.base;
    match destinations {
        None => vec![DestinationConfig::Storage],
        Some(list) => {
            if list.is_empty() {
                v.p.add(
                    "destinations",
                    "name at least one destination (`- type: storage` keeps events searchable)",
                );
            }
            let mut seen_storage = false;
            let mut seen_files: HashSet<PathBuf> = HashSet::new();
            list.iter()
                .enumerate()
                .map(|(i, d)| match d {
                    RawDestination::Storage {} => {
                        if seen_storage {
                            v.p.add(
                                format!("destinations[{i}]"),
                                "storage is listed twice; events would be stored twice",
                            );
                        }
                        seen_storage = true;
                        DestinationConfig::Storage
                    }
                    RawDestination::File(f) => {
                        let path = base.join(&f.path);
                        if f.path.trim().is_empty() {
                            v.p.add(format!("destinations[{i}].path"), "must not be empty");
                        } else if !seen_files.insert(path.clone()) {
                            v.p.add(
                                format!("destinations[{i}].path"),
                                format!(
                                    "{} is already written by another destination",
                                    path.display()
                                ),
                            );
                        }
                        let format = f.format.unwrap_or_default();
                        DestinationConfig::File { path, format }
                    }
                    RawDestination::Syslog(d) => DestinationConfig::Syslog(
                        bus::syslog_destination(v, &format!("destinations[{i}]"), d),
                    ),
                    RawDestination::Http(d) => DestinationConfig::Http(bus::http_destination(
                        v,
                        &format!("destinations[{i}]"),
                        d,
                    )),
                    RawDestination::Nats(d) => DestinationConfig::Nats(bus::nats_destination(
                        v,
                        &format!("destinations[{i}]"),
                        d,
                    )),
                    RawDestination::Kafka(k) => {
                        let p = format!("destinations[{i}]");
                        DestinationConfig::Kafka(KafkaDestinationConfig {
                            brokers: check_brokers(v, &format!("{p}.brokers"), &k.brokers),
                            topic: check_topic(v, &format!("{p}.topic"), &k.topic),
                            format: k.format.unwrap_or_default(),
                            timeout: v
                                .opt_duration(&format!("{p}.timeout"), &k.timeout)
                                .unwrap_or(Duration::from_secs(30)),
                            buffer: bus::buffer(v, &p, &k.buffer),
                        })
                    }
                })
                .collect()
        }
    }
}

/// Kafka bootstrap brokers: at least one, each `host:port` with a port of 1..=65535; joined
/// with commas as librdkafka takes them.
fn check_brokers(v: &mut V<'_>, path: &str, brokers: &[String]) -> String {
    if brokers.is_empty() {
        v.p.add(path, "list at least one broker (`host:port`)");
    }
    for (j, b) in brokers.iter().enumerate() {
        let ok = b.rsplit_once(':').is_some_and(|(host, port)| {
            !host.is_empty()
                && !host.contains([',', ' '])
                && port.parse::<u16>().is_ok_and(|p| p > 0)
        });
        if !ok {
            v.p.add(
                format!("{path}[{j}]"),
                format!("'{b}' is not `host:port` (e.g. `127.0.0.1:9092`)"),
            );
        }
    }
    brokers.join(",")
}

/// A Kafka topic name: 1-249 of `a-z A-Z 0-9 . _ -`, not `.` or `..` (Kafka's own rule).
fn check_topic(v: &mut V<'_>, path: &str, topic: &str) -> String {
    let ok = !topic.is_empty()
        && topic.len() <= 249
        && topic != "."
        && topic != ".."
        && topic
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-'));
    if !ok {
        v.p.add(
            path,
            format!("'{topic}' is not a Kafka topic name (1-249 of a-z, A-Z, 0-9, `.`, `_`, `-`)"),
        );
    }
    topic.to_owned()
}

/// A Kafka connector.
fn check_kafka(v: &mut V<'_>, cp: &str, k: &crate::raw::RawKafka) -> KafkaConfig {
    let brokers = check_brokers(v, &format!("{cp}.brokers"), &k.brokers);
    if k.topics.is_empty() {
        v.p.add(format!("{cp}.topics"), "list at least one topic");
    }
    let topics = k
        .topics
        .iter()
        .enumerate()
        .map(|(j, t)| check_topic(v, &format!("{cp}.topics[{j}]"), t))
        .collect();
    if k.group.trim().is_empty() {
        v.p.add(format!("{cp}.group"), "name the consumer group");
    }
    KafkaConfig {
        brokers,
        topics,
        group: k.group.clone(),
        start: k.start.unwrap_or_default(),
        max_message_size: v.size(
            &format!("{cp}.max_message_size"),
            &k.max_message_size,
            1 << 20,
            480,
            MAX_MAX_FRAME_SIZE as u64,
        ) as usize,
        batch_size: v.count(&format!("{cp}.batch_size"), k.batch_size, 1000, 1, 100_000),
        max_in_flight: v.count(&format!("{cp}.max_in_flight"), k.max_in_flight, 8, 1, 1024),
    }
}

/// The `search` section.
fn check_search(v: &mut V<'_>, search: &RawSearch) -> SearchConfig {
    let d = SearchConfig::default();
    SearchConfig {
        max_concurrent: v.count(
            "search.max_concurrent",
            search.max_concurrent,
            d.max_concurrent,
            1,
            1024,
        ),
        max_queued: v.count(
            "search.max_queued",
            search.max_queued,
            d.max_queued,
            0,
            65_536,
        ),
        queue_wait: v.duration("search.queue_wait", &search.queue_wait, d.queue_wait),
        max_result_bytes: v.size(
            "search.max_result_bytes",
            &search.max_result_bytes,
            d.max_result_bytes as u64,
            1 << 20,
            1 << 40,
        ) as usize,
        max_limit: v.count(
            "search.max_limit",
            search.max_limit,
            d.max_limit,
            1,
            100_000,
        ),
    }
}

/// Each section's check pass on its own: the problems it finds carry the section's path, and
/// nothing from another section is needed to find them.
#[cfg(test)]
mod section_tests {
    use super::*;

    /// Runs one check pass; returns its result and its problems as `path: message`.
    fn run<T>(f: impl FnOnce(&mut V<'_>) -> T) -> (T, Vec<String>) {
        let mut v = V {
            p: Problems::default(),
            base: Path::new("/nonexistent-vigil-base"),
        };
        let t = f(&mut v);
        let errs = match v.p.into_result("t") {
            Ok(()) => Vec::new(),
            Err(e) => e.errors.iter().map(|e| e.to_string()).collect(),
        };
        (t, errs)
    }

    fn yaml<T: serde::de::DeserializeOwned>(text: &str) -> T {
        yaml_serde::from_str(text).expect("test YAML fits the raw type")
    }

    #[test]
    fn api_section() {
        let (api, errs) = run(|v| check_api(v, &RawApi::default()));
        assert!(errs.is_empty(), "{errs:?}");
        assert_eq!(api.listen, SocketAddr::from(([127, 0, 0, 1], 8080)));
        let raw: RawApi = yaml("listen: 127.0.0.1:0\nidle_timeout: 2d\nmax_connections: 0\n");
        let (_, errs) = run(|v| check_api(v, &raw));
        assert_eq!(
            errs,
            vec![
                "api.listen: port 0 is not allowed; choose a port",
                "api.max_connections: 0 is out of range (1..=1000000)",
                "api.idle_timeout: 2days is out of range (1ms..=1d)",
            ]
        );
    }

    #[test]
    fn collectors_section() {
        let raw: Vec<RawCollector> = yaml(
            r#"
- id: a
  connector: { type: syslog, udp: 127.0.0.1:5514, tcp: 127.0.0.1:5514 }
- id: a
  tenant: _ops
  connector: { type: syslog, tcp: 127.0.0.1:5514 }
  normalizer: { type: syslog, timezone: Mars/Olympus }
- id: c
  connector: { type: syslog }
  transforms:
    - { type: filter }
    - { type: set, field: " ", value: x }
    - { type: copy, from: a, to: "" }
    - { type: aggregate, rules: [] }
    - type: aggregate
      rules: [{ name: r, identical: [], window: soon }]
"#,
        );
        let (collectors, errs) = run(|v| check_collectors(v, &raw));
        assert_eq!(collectors.len(), 3);
        assert_eq!(
            errs,
            vec![
                "collectors[1].id: duplicate collector id 'a'",
                "collectors[1].tenant: '_ops' is not a valid tenant name (1-64 of a-z, 0-9, _ and -)",
                "collectors[1].connector.tcp: 127.0.0.1:5514/tcp is already used by collectors[0].connector.tcp",
                "collectors[1].normalizer.timezone: unknown time zone 'Mars/Olympus'; use an IANA name such as UTC or Europe/Berlin",
                "collectors[2].connector: listens nowhere; set udp, tcp or tls",
                "collectors[2].transforms[0]: write exactly one of `keep: QUERY` or `drop: QUERY`",
                "collectors[2].transforms[1].field: must not be empty",
                "collectors[2].transforms[2].to: must not be empty",
                "collectors[2].transforms[3].rules: name at least one rule",
                "collectors[2].transforms[4].rules[0].identical: name at least one field",
                "collectors[2].transforms[4].rules[0].window: 'soon' is not a duration (expected number at 0); write e.g. 200ms, 30s or 10m",
            ]
        );
    }

    #[test]
    fn storage_section() {
        let (storage, errs) = run(|v| check_storage(v, &RawStorage::default()));
        assert!(errs.is_empty(), "{errs:?}");
        assert!(storage.embedded().is_some());
        let raw: RawStorage = yaml(
            "type: embedded\nfsync_interval: 3s\ntenants:\n  Main: {}\n  acme:\n    spaces: [{ name: default, condition: 'x' }]\n",
        );
        let (_, errs) = run(|v| check_storage(v, &raw));
        assert_eq!(
            errs,
            vec![
                "storage.fsync_interval: must be at most 1s (events older than that are promised durable)",
                "storage.tenants.Main: 'Main' is not a valid tenant name (1-64 of a-z, 0-9, _ and -)",
                "storage.tenants.acme.spaces[0].name: 'default' is the space of events no condition matches; choose another name",
            ]
        );
        let raw: RawStorage = yaml("type: clickhouse\nurl: ftp://x\ndatabase: 1db\n");
        let (_, errs) = run(|v| check_storage(v, &raw));
        assert_eq!(errs.len(), 2, "{errs:?}");
        assert!(errs[0].starts_with("storage.url: "), "{errs:?}");
        assert!(errs[1].starts_with("storage.database: "), "{errs:?}");
    }

    #[test]
    fn correlation_section() {
        assert_eq!(run(|v| check_correlation(v, None)), (None, Vec::new()));
        let raw: RawCorrelation =
            yaml("rules: [missing/]\nidle_after: soon\nsnapshot_interval: 0s\n");
        let (c, errs) = run(|v| check_correlation(v, Some(&raw)));
        assert!(c.is_some());
        assert_eq!(
            errs,
            vec![
                "correlation.rules[0]: /nonexistent-vigil-base/missing/ does not exist",
                "correlation.idle_after: 'soon' is not a duration (expected number at 0); write e.g. 200ms, 30s or 10m",
                "correlation.snapshot_interval: must be more than 0",
            ]
        );
        // the embedded pack is not a file
        let raw: RawCorrelation =
            yaml("rules: [builtin:correlation, builtin:correlation/web.yaml, builtin:sigma]\n");
        let (c, errs) = run(|v| check_correlation(v, Some(&raw)));
        assert_eq!(
            c.expect("config").rules[..2],
            [
                PathBuf::from("builtin:correlation"),
                PathBuf::from("builtin:correlation/web.yaml")
            ]
        );
        assert_eq!(
            errs,
            vec![
                "correlation.rules[2]: unknown built-in rule set 'builtin:sigma': the shipped pack is builtin:correlation (or builtin:correlation/<file>)"
            ]
        );
        let raw: RawCorrelation = yaml("rules: []\n");
        let (c, errs) = run(|v| check_correlation(v, Some(&raw)));
        let c = c.expect("config");
        assert_eq!(c.idle_after, Duration::from_secs(30));
        assert_eq!(c.snapshot_interval, Duration::from_secs(30));
        assert_eq!(
            errs,
            vec![
                "correlation.rules: name at least one rule file or directory (the shipped pack is builtin:correlation)"
            ]
        );
    }

    #[test]
    fn detection_section() {
        assert_eq!(run(|v| check_detection(v, None)), (None, Vec::new()));
        let raw: RawDetection = yaml("rules: [missing/]\npipeline: ecs\nreload_interval: soon\n");
        let (d, errs) = run(|v| check_detection(v, Some(&raw)));
        assert_eq!(d.map(|d| d.pipeline), Some(SigmaPipeline::Ecs));
        assert_eq!(
            errs,
            vec![
                "detection.rules[0]: /nonexistent-vigil-base/missing/ does not exist",
                "detection.reload_interval: 'soon' is not a duration (expected number at 0); write e.g. 200ms, 30s or 10m",
            ]
        );
        let raw: RawDetection = yaml("rules: []\npipeline: my-pipeline.yml\n");
        let (d, errs) = run(|v| check_detection(v, Some(&raw)));
        assert_eq!(
            d.map(|d| d.pipeline),
            Some(SigmaPipeline::File(
                "/nonexistent-vigil-base/my-pipeline.yml".into()
            ))
        );
        assert_eq!(
            errs,
            vec![
                "detection.rules: name at least one rule file or directory",
                "detection.pipeline: file /nonexistent-vigil-base/my-pipeline.yml does not exist",
            ]
        );
    }

    #[test]
    fn destinations_section() {
        assert_eq!(
            run(|v| check_destinations(v, None)),
            (vec![DestinationConfig::Storage], Vec::new())
        );
        let raw: Vec<RawDestination> = yaml(
            "- type: storage\n- type: storage\n- { type: file, path: a.log, format: raw }\n- { type: file, path: a.log }\n- { type: file, path: ' ' }\n",
        );
        let (d, errs) = run(|v| check_destinations(v, Some(&raw)));
        assert_eq!(
            d[2],
            DestinationConfig::File {
                path: "/nonexistent-vigil-base/a.log".into(),
                format: FileFormat::Raw
            }
        );
        assert_eq!(
            errs,
            vec![
                "destinations[1]: storage is listed twice; events would be stored twice",
                "destinations[3].path: /nonexistent-vigil-base/a.log is already written by another destination",
                "destinations[4].path: must not be empty",
            ]
        );
        let (_, errs) = run(|v| check_destinations(v, Some(&[])));
        assert_eq!(
            errs,
            vec![
                "destinations: name at least one destination (`- type: storage` keeps events searchable)"
            ]
        );
    }
}
