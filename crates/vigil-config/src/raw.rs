//! Raw configuration types: exactly what the YAML says, with a doc comment on every field
//! (the configuration reference is generated from these). Unknown fields are rejected.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A Vigil configuration file.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// Configuration format version. Must be `1`.
    pub version: u32,
    /// Directory holding all of Vigil's data (events, state). Default `./vigil-data`.
    #[serde(default)]
    pub data_dir: Option<String>,
    /// The HTTP API (search, health, metrics).
    #[serde(default)]
    pub api: RawApi,
    /// Collectors: each one connector, one normalizer, then filters and enrichment, into storage.
    #[serde(default)]
    pub collectors: Vec<RawCollector>,
    /// The event store: `type: embedded` (the default) or `type: clickhouse`.
    #[serde(default)]
    pub storage: RawStorage,
    /// Limits on searches through the API: how many run at once, how long others wait, how
    /// much memory one may hold.
    #[serde(default)]
    pub search: RawSearch,
    /// Queues and worker threads between the components.
    #[serde(default)]
    pub pipeline: RawPipeline,
    /// Live detection: Sigma rules run on every event; matches are stored as alerts.
    #[serde(default)]
    pub detection: Option<RawDetection>,
    /// Stateful correlation on event time (`docs/correlation.md`): thresholds, sequences and
    /// absences over every normalized event; correlation events are stored and raise alerts.
    #[serde(default)]
    pub correlation: Option<RawCorrelation>,
    /// Where normalized events go (KUMA's destinations). Default: the event store only
    /// (`- type: storage`). List them to add a file output, or leave `storage` out to run as a
    /// forwarding collector that keeps nothing itself.
    #[serde(default)]
    pub destinations: Option<Vec<RawDestination>>,
    /// The metadata store: alerts, incidents, assets, users, roles, tenants, tokens,
    /// suppressions, saved searches and the audit trail. Default: SQLite in
    /// `<data_dir>/meta.db`.
    #[serde(default)]
    pub meta: RawMeta,
    /// Accounts and authentication: password policy, sessions, lockout and throttling, TOTP,
    /// LDAP.
    #[serde(default)]
    pub auth: RawAuth,
}

/// Where the metadata (alerts, incidents, accounts, ...) is kept.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawMeta {
    /// `sqlite` (one file, `<data_dir>/meta.db`, WAL mode, mode 0600; the default) or
    /// `postgres` (the distributed mode).
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    /// PostgreSQL URL (`postgres://user:password@host:5432/vigil`), only with
    /// `type: postgres`: a reference, `${env:NAME}` or `${file:PATH}`, never the URL itself.
    #[serde(default)]
    pub url: Option<String>,
    /// PostgreSQL connections, or SQLite reader connections (1–1000). Default `8`.
    #[serde(default)]
    pub max_connections: Option<u32>,
    /// Largest incident attachment (at most `1GiB`). Default `10MiB`.
    #[serde(default)]
    pub max_attachment_bytes: Option<RawSize>,
}

/// Accounts and authentication.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawAuth {
    /// Minimum password length in characters (8–128). Default `12`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_min_length: Option<usize>,
    /// A session ends after this long without a request (1m–1d). Default `30m`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_idle_timeout: Option<String>,
    /// A session ends this long after login (5m–30d). Default `12h`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_lifetime: Option<String>,
    /// Lockout of an account after consecutive failed logins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lockout: Option<RawLockout>,
    /// Throttling of a client address after failed logins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throttle: Option<RawThrottle>,
    /// Issuer shown by authenticator apps for TOTP. Default `Vigil`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub totp_issuer: Option<String>,
    /// LDAP bind authentication with group → role mapping.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ldap: Option<RawLdap>,
}

/// Account lockout.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawLockout {
    /// Consecutive failures that lock the account. Default `5`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_failures: Option<u32>,
    /// How long it stays locked. Default `15m`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<String>,
}

/// Client address throttling.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawThrottle {
    /// Failures from one address within the window that throttle it. Default `20`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_failures: Option<u32>,
    /// The sliding window. Default `10m`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<String>,
}

/// LDAP authentication.
#[derive(Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawLdap {
    /// `ldaps://host:port` (TLS), or `ldap://host:port` with `starttls: true`, or plain
    /// `ldap://` to loopback; plain LDAP elsewhere only with `allow_plaintext: true`.
    pub url: String,
    /// Accept plain LDAP to a host that is not loopback. Default `false`.
    #[serde(default)]
    pub allow_plaintext: bool,
    /// Upgrade an `ldap://` connection with StartTLS before binding. Default `false`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub starttls: bool,
    /// PEM file of the CA certificate(s) that sign the directory's certificate (TLS only);
    /// default: the system's trust store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<String>,
    /// Service account that searches users and groups; anonymous when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bind_dn: Option<String>,
    /// Its password: a reference, `${env:NAME}` or `${file:PATH}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bind_password: Option<String>,
    /// Where users are searched (subtree).
    pub user_base: String,
    /// Filter finding one user; `{username}` is replaced by the escaped login name. Default
    /// `(&(objectClass=inetOrgPerson)(uid={username}))`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_filter: Option<String>,
    /// Attribute of the display name. Default `cn`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name_attribute: Option<String>,
    /// Attribute of the e-mail address. Default `mail`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_attribute: Option<String>,
    /// Where groups are searched; when absent, the user's `memberOf` attribute is read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_base: Option<String>,
    /// Filter finding the user's groups; `{dn}` and `{username}` are replaced (escaped).
    /// Default `(&(objectClass=groupOfNames)(member={dn}))`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_filter: Option<String>,
    /// Group → tenant role mappings; a user whose groups map to no role cannot log in.
    #[serde(default)]
    pub roles: Vec<RawLdapRole>,
    /// Timeout of each LDAP operation. Default `10s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
}

impl std::fmt::Debug for RawLdap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawLdap")
            .field("url", &self.url)
            .field("bind_dn", &self.bind_dn)
            .field("user_base", &self.user_base)
            .field("roles", &self.roles)
            .finish_non_exhaustive()
    }
}

/// One LDAP group → tenant role mapping.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawLdapRole {
    /// The group: its full DN, or its `cn` (compared case-insensitively).
    pub group: String,
    /// The tenant.
    pub tenant: String,
    /// The role members get there: `administrator`, `tenant_administrator`, `tier2_analyst`,
    /// `tier1_analyst` or `read_only`.
    pub role: String,
}

/// A destination of normalized events.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum RawDestination {
    /// The event store (`storage` section): searchable, retained, tamper-evident.
    Storage {},
    /// A file, one event per line, appended to; reopened when it is moved away (log rotation).
    File(RawFileDestination),
    /// Syslog forwarding over TCP or TLS: RFC 5424 with octet counting (RFC 6587/5425), one
    /// message per event (its raw record as MSG), through a disk buffer.
    Syslog(crate::raw_bus::RawSyslogDestination),
    /// HTTP forwarding: NDJSON (`POST` of one ECS JSON object per line) or an Elasticsearch
    /// `_bulk` body, through a disk buffer; Vigil's own HTTP connector takes both.
    Http(crate::raw_bus::RawHttpDestination),
    /// NATS (JetStream) publishing, one message per event with `Nats-Msg-Id` set to the event
    /// id (so a stream's duplicate window drops a resend), through a disk buffer.
    Nats(crate::raw_bus::RawNatsDestination),
    /// A Kafka topic: one message per event, keyed by the event id (binary built with the
    /// `kafka` feature, the default).
    Kafka(RawKafkaDestination),
}

/// Kafka destination settings.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawKafkaDestination {
    /// Bootstrap brokers, `host:port` each (plaintext; TLS and SASL are not built in).
    pub brokers: Vec<String>,
    /// The topic written to.
    pub topic: String,
    /// `json` (nested ECS JSON with the raw record as `event.original`) or `raw` (the record as
    /// received). Default `json`.
    #[serde(default)]
    pub format: Option<crate::FileFormat>,
    /// How long a batch may wait for the brokers' acknowledgement before it is written again
    /// (the disk buffer holds what comes meanwhile). Default `30s`.
    #[serde(default)]
    pub timeout: Option<String>,
    /// The disk buffer in front of the brokers.
    #[serde(default)]
    pub buffer: Option<crate::raw_bus::RawBuffer>,
}

/// File destination settings.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawFileDestination {
    /// Path of the file, relative to the configuration file's directory. Its directory is
    /// created when missing (mode 0700), the file with mode 0600.
    pub path: String,
    /// `json` (nested ECS JSON with the raw record as `event.original`) or `raw` (the record as
    /// received). Default `json`.
    #[serde(default)]
    pub format: Option<crate::FileFormat>,
}

/// Live detection with Sigma rules.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawDetection {
    /// Rule files or directories (searched recursively for `.yml`/`.yaml`). Reloaded when they
    /// change.
    pub rules: Vec<String>,
    /// Sigma processing pipeline: `none` (every rule on every event, fields by name),
    /// `windows` (logsource routing to Windows channels and event ids, SigmaHQ's thor.yml
    /// mapping), `ecs` (logsource routing to the events of Vigil's normalizer packs: Linux
    /// syslog, web servers, proxies, firewalls, CloudTrail, Okta, Entra ID sign-ins, Kubernetes
    /// audit; Sigma taxonomy fields renamed to ECS), or a pipeline YAML file. Default `none`.
    #[serde(default)]
    pub pipeline: Option<RawSigmaPipeline>,
    /// How often the rule files are checked for changes. Default `2s`.
    #[serde(default)]
    pub reload_interval: Option<String>,
    /// Values for `%placeholder%` rules, by placeholder name.
    #[serde(default)]
    pub placeholders: std::collections::BTreeMap<String, Vec<String>>,
}

/// Stateful correlation rules (`docs/correlation.md`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawCorrelation {
    /// Correlation rule files or directories (searched recursively for `.yml`/`.yaml`),
    /// relative to the configuration file's directory. `builtin:correlation` is the shipped
    /// pack, embedded in the binary (the `rules/correlation/` of the source tree, so it needs
    /// no file wherever Vigil runs; `builtin:correlation/<file>` is one of its files). A rule
    /// with a problem is reported with its file and path and left out; the others run.
    pub rules: Vec<String>,
    /// How long without new events of a tenant before that tenant's watermark follows the
    /// wall clock, so that window ends and absences are decided for a quiet tenant (and on an
    /// idle input). Default `30s`.
    #[serde(default)]
    pub idle_after: Option<String>,
    /// How often the correlation state is saved to `<data_dir>/correlation-engine.state`
    /// (also saved at shutdown and restored at start). Default `30s`.
    #[serde(default)]
    pub snapshot_interval: Option<String>,
}

/// A Sigma processing pipeline: a built-in one by name, or a pipeline YAML file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum RawSigmaPipeline {
    /// `none`, `windows` or `ecs`.
    Builtin(BuiltinSigmaPipeline),
    /// A pipeline YAML file, relative to the configuration file's directory.
    File(String),
}

/// The built-in Sigma processing pipelines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum BuiltinSigmaPipeline {
    /// Every rule on every event, fields by name.
    None,
    /// Logsource routing to Windows channels and event ids (SigmaHQ's thor.yml mapping).
    Windows,
    /// Logsource routing to the events of Vigil's normalizer packs, Sigma taxonomy fields
    /// renamed to ECS.
    Ecs,
}

/// The HTTP API.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawApi {
    /// Address to listen on. Default `127.0.0.1:8080` (loopback only).
    #[serde(default)]
    pub listen: Option<String>,
    /// Serve HTTPS with this certificate and key.
    #[serde(default)]
    pub tls: Option<RawTls>,
    /// File holding the API bearer token. Default `<data_dir>/api-token`, created with a
    /// random token on first start (mode 0600).
    #[serde(default)]
    pub token_file: Option<String>,
    /// Largest accepted request body. Default `1MiB`.
    #[serde(default)]
    pub max_body_size: Option<RawSize>,
    /// Longest a search may run before it is cancelled. Default `30s`.
    #[serde(default)]
    pub query_timeout: Option<String>,
    /// Most open API connections. Beyond it, a new connection closes the connection that has
    /// been idle longest (waiting for a request); when every connection is busy with a request
    /// the new one is refused and counted. Default `512`.
    #[serde(default)]
    pub max_connections: Option<usize>,
    /// Most requests (other than `/health`) handled at once; more are answered 503
    /// `overloaded`. Default `64`.
    #[serde(default)]
    pub max_concurrent_requests: Option<usize>,
    /// Longest a client may take to send a request's headers, counted from the connection's
    /// start (including the TLS handshake) for its first request. Default `10s`.
    #[serde(default)]
    pub header_read_timeout: Option<String>,
    /// Longest a client may take to send a request's body; slower ones are answered 408
    /// `body_timeout`. Default `30s`.
    #[serde(default)]
    pub body_read_timeout: Option<String>,
    /// How long a keep-alive connection may stay idle between requests before it is closed.
    /// Default `60s`.
    #[serde(default)]
    pub idle_timeout: Option<String>,
    /// Failed authentications from one IP address within `auth_failure_window` after which it is
    /// locked out: answered 429 with `Retry-After` for `auth_lockout`, its token not even
    /// compared. Default `10`.
    #[serde(default)]
    pub auth_max_failures: Option<u32>,
    /// The window in which `auth_max_failures` are counted. Default `1m`.
    #[serde(default)]
    pub auth_failure_window: Option<String>,
    /// How long an IP address stays locked out after too many failed authentications.
    /// Default `5m`.
    #[serde(default)]
    pub auth_lockout: Option<String>,
    /// Failed authentications are logged at most once per IP address per interval, with the
    /// count since the last line (never the presented token). Default `1m`.
    #[serde(default)]
    pub auth_log_interval: Option<String>,
}

/// Search limits (the `search` section).
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawSearch {
    /// Most searches running at once; more wait in a queue. Default: the number of CPU cores.
    #[serde(default)]
    pub max_concurrent: Option<usize>,
    /// Most searches waiting for a slot; beyond it the API answers 429 at once. Default 64.
    #[serde(default)]
    pub max_queued: Option<usize>,
    /// Longest a search waits for a slot before the API answers 429. Default `10s`.
    #[serde(default)]
    pub queue_wait: Option<String>,
    /// Most memory one search may hold for its results and aggregation state; a search that
    /// needs more stops with `result_too_large`. Default `256MiB`.
    #[serde(default)]
    pub max_result_bytes: Option<RawSize>,
    /// Largest `limit` (events returned) a search may ask for. Default 10000, at most 100000.
    #[serde(default)]
    pub max_limit: Option<usize>,
}

/// A certificate and key in PEM files.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawTls {
    /// PEM certificate chain.
    pub cert: String,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key: String,
    /// PEM CA bundle: when set, clients must present a certificate signed by it (mutual TLS).
    #[serde(default)]
    pub client_ca: Option<String>,
}

/// A size: a number of bytes, or a string such as `64KiB`, `1MiB`, `10MB`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum RawSize {
    /// Bytes.
    Bytes(u64),
    /// With a unit: B, KB, KiB, MB, MiB, GB, GiB.
    Text(String),
}

/// One collector: KUMA's chain connector → normalizer → filters → enrichment → storage.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawCollector {
    /// Unique id, used in metrics, source status and `vigil.source` of every event.
    pub id: String,
    /// Tenant the events belong to. Default `main`.
    #[serde(default)]
    pub tenant: Option<String>,
    /// Where events come from.
    pub connector: RawConnector,
    /// How raw records become events. Default: syslog.
    #[serde(default)]
    pub normalizer: Option<RawNormalizer>,
    /// What happens to the events between the normalizer and the destinations, in order: each
    /// a `type`-tagged transform (`filter`, `set`, `copy`, `aggregate`), e.g.
    /// `- { type: filter, drop: 'process.name:CRON' }`.
    #[serde(default)]
    pub transforms: Vec<RawTransform>,
}

/// A transform, chosen by `type`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum RawTransform {
    /// Keep only the events matching a query (`keep: QUERY`) or drop them (`drop: QUERY`).
    Filter(RawFilter),
    /// Set a field to a constant.
    Set(RawSet),
    /// Copy one field's value into another when the target is empty.
    Copy(RawCopy),
    /// Aggregation rules (KUMA's), in order: an event is taken by the first that matches it.
    Aggregate(RawAggregate),
}

/// Aggregation settings.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawAggregate {
    /// The rules, in order: an event is taken by the first that matches it.
    pub rules: Vec<RawAggregation>,
}

/// An aggregation rule (KUMA's): matching events with identical values of some fields within a
/// window are stored as one event of type `aggregated` with a count and sums.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawAggregation {
    /// Rule name, recorded in `vigil.aggregated.rule`.
    pub name: String,
    /// Which events the rule takes (a query); all events when absent.
    #[serde(default)]
    pub when: Option<String>,
    /// Fields whose values must be the same for events to fold together.
    pub identical: Vec<String>,
    /// How long a bucket collects events after its first one, e.g. `1m`.
    pub window: String,
    /// Numeric fields to sum over the bucket (e.g. `source.bytes`).
    #[serde(default)]
    pub sum: Vec<String>,
}

/// A connector.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum RawConnector {
    /// Syslog over UDP, TCP (RFC 6587 octet counting or LF framing, detected per connection)
    /// and TLS (RFC 5425).
    Syslog(RawSyslog),
    /// HTTP ingestion: `POST /ingest` (NDJSON or a JSON array), the Elasticsearch `_bulk` API
    /// (`POST /_bulk`, `POST /{index}/_bulk`) and the Splunk HTTP Event Collector
    /// (`POST /services/collector/event`, `POST /services/collector/raw`), so shippers built for
    /// those (Beats, Logstash, rsyslog's omelasticsearch, Splunk forwarders) send here unchanged.
    Http(RawHttp),
    /// NATS JetStream: a durable pull consumer, each message acknowledged only once its
    /// event is durable (stored), redelivered otherwise; redeliveries of messages already
    /// stored are recognized by message id and acknowledged without storing them twice.
    Nats(crate::raw_bus::RawNats),
    /// SQL polling (PostgreSQL, MySQL/MariaDB, SQLite): a query run every `interval` that reads
    /// the rows after a cursor (an increasing id or timestamp column), kept on disk between
    /// polls and restarts; each row is one event (its columns as JSON).
    Sql(RawSql),
    /// NetFlow v5, v9 (RFC 3954) and IPFIX (RFC 7011) export packets over UDP; each flow record
    /// is one event (`source.*`, `destination.*`, `network.*`, `event.start`/`end`).
    Netflow(RawNetflow),
    /// SNMP traps v1 and v2c (and v2c informs) over UDP; each trap is one event, its varbinds
    /// as fields named from `oid_names`. SNMPv3 messages are not decoded: they are stored raw
    /// and counted as `unsupported_version`.
    SnmpTrap(RawSnmpTrap),
    /// sFlow v5 datagrams over UDP; each sampled packet header (addresses, ports, transport) and
    /// each interface counter set is one event.
    Sflow(RawSflow),
    /// Files on disk: tails files and globs, follows rotation (rename and copytruncate),
    /// reads rotated `.gz` and `.zst` files once, joins multiline records, keeps its read
    /// positions in `<data_dir>/connectors/<id>/`; with `journal` it also reads the systemd
    /// journal.
    File(RawFile),
    /// Windows EVTX files and folders, imported once each (folders are watched for new
    /// files); each record becomes its event XML, normalized like forwarded Windows events.
    Evtx(RawEvtx),
    /// Kafka consumer in a consumer group; offsets are committed only once the events are
    /// written by every destination (binary built with the `kafka` feature, the default).
    Kafka(RawKafka),
}

/// Kafka connector settings.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawKafka {
    /// Bootstrap brokers, `host:port` each (plaintext; TLS and SASL are not built in).
    pub brokers: Vec<String>,
    /// Topics to consume.
    pub topics: Vec<String>,
    /// Consumer group id; the group's committed offsets are where a restart resumes.
    pub group: String,
    /// Where a group without committed offsets starts: `earliest` or `latest`. Default
    /// `earliest`.
    #[serde(default)]
    pub start: Option<crate::KafkaStart>,
    /// Longest message; longer ones are truncated, marked and kept. Default `1MiB`.
    #[serde(default)]
    pub max_message_size: Option<RawSize>,
    /// Most messages per batch handed to the pipeline. Default 1000.
    #[serde(default)]
    pub batch_size: Option<usize>,
    /// Most batches in the pipeline not yet durable; beyond it the connector stops fetching.
    /// Default 8.
    #[serde(default)]
    pub max_in_flight: Option<usize>,
}

/// HTTP connector settings.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawHttp {
    /// Address to listen on, e.g. `127.0.0.1:8088`.
    pub listen: String,
    /// Tokens that may send, each a secret written literally or as `${env:NAME}` /
    /// `${file:PATH}`; events sent with any of them belong to the collector's tenant. Accepted as
    /// `Authorization: Bearer <token>`, as HEC's `Authorization: Splunk <token>` and as the
    /// password of basic auth (any user name), which is how Beats and Logstash authenticate.
    /// At least one.
    pub tokens: Vec<String>,
    /// Serve HTTPS with this certificate and key (client certificates with `client_ca`).
    #[serde(default)]
    pub tls: Option<RawHttpTls>,
    /// Largest request body as sent (compressed or not); larger requests get 413. Default
    /// `16MiB`.
    #[serde(default)]
    pub max_body_size: Option<RawSize>,
    /// Largest body after gzip or zstd decompression; a body that inflates beyond it gets 413.
    /// Default `128MiB`.
    #[serde(default)]
    pub max_decompressed_size: Option<RawSize>,
    /// Longest event (line, array element or HEC event); longer ones are truncated, marked and
    /// kept. Default `1MiB`.
    #[serde(default)]
    pub max_event_size: Option<RawSize>,
    /// Most simultaneous connections; beyond it new connections are closed at once, counted as
    /// `refused_max_connections`. Default 1024.
    #[serde(default)]
    pub max_connections: Option<usize>,
    /// How long a request's body may take to arrive, and how long a request waits for room in
    /// a full pipeline before it is answered 429 with `Retry-After`. Default `30s`.
    #[serde(default)]
    pub request_timeout: Option<String>,
    /// Splunk HEC indexer acknowledgement: HEC requests must name a channel
    /// (`X-Splunk-Request-Channel` header or `?channel=`), each accepted request is answered
    /// with an `ackId`, and `POST /services/collector/ack` tells which ack ids are durable
    /// (written by every destination: for the store, its write-ahead log). Default `false`.
    #[serde(default)]
    pub hec_acknowledgements: bool,
}

/// HTTPS settings of the HTTP connector.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawHttpTls {
    /// PEM certificate chain.
    pub cert: String,
    /// PEM private key.
    pub key: String,
    /// PEM CA bundle for client certificates (mutual TLS).
    #[serde(default)]
    pub client_ca: Option<String>,
}

/// Syslog connector settings.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawSyslog {
    /// UDP address to listen on, e.g. `127.0.0.1:5514`.
    #[serde(default)]
    pub udp: Option<String>,
    /// TCP address to listen on, e.g. `127.0.0.1:5514`.
    #[serde(default)]
    pub tcp: Option<String>,
    /// TLS listener (RFC 5425).
    #[serde(default)]
    pub tls: Option<RawSyslogTls>,
    /// Largest frame accepted; longer frames are truncated, marked and kept. Default `64KiB`.
    #[serde(default)]
    pub max_frame_size: Option<RawSize>,
    /// Most simultaneous TCP/TLS connections (both listeners together). When full, a new
    /// connection is still admitted and the longest-idle one (longest without a complete
    /// frame) is closed, counted as `evicted`. Default 1024.
    #[serde(default)]
    pub max_connections: Option<usize>,
    /// Most simultaneous TCP/TLS connections from one source address (IPv4-mapped IPv6
    /// counts as IPv4). A new connection beyond it closes that address's longest-idle
    /// connection, counted as `evicted_per_ip`, so one host can never take the slots of
    /// others. Raise it for a NAT gateway or relay with more senders behind it. At most
    /// `max_connections`. Default `max_connections / 8` (128 with the default 1024).
    #[serde(default)]
    pub max_connections_per_ip: Option<usize>,
    /// Close a TCP/TLS connection that delivers no complete frame for this long, counted as
    /// `idle_timeout`. Bytes of an unfinished frame do not restart it. Default `10m`.
    #[serde(default)]
    pub idle_timeout: Option<String>,
    /// Close a TCP/TLS connection whose frame (line or octet-counted message) is not complete
    /// this long after its first bytes arrived, counted as `frame_timeout`; what arrived is
    /// kept. Stops clients that drip bytes to hold a connection. Default `30s`.
    #[serde(default)]
    pub frame_timeout: Option<String>,
    /// Abort a TLS handshake that takes longer. Default `10s`.
    #[serde(default)]
    pub tls_handshake_timeout: Option<String>,
    /// Kernel receive buffer for the UDP socket. Default `4MiB`.
    #[serde(default)]
    pub udp_recv_buffer: Option<RawSize>,
}

/// A TLS syslog listener.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawSyslogTls {
    /// Address to listen on, e.g. `127.0.0.1:6514`.
    pub listen: String,
    /// PEM certificate chain.
    pub cert: String,
    /// PEM private key.
    pub key: String,
    /// PEM CA bundle for client certificates (mutual TLS).
    #[serde(default)]
    pub client_ca: Option<String>,
}

/// A normalizer.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum RawNormalizer {
    /// RFC 3164 / RFC 5424 syslog header only, detected per message.
    Syslog {
        /// Time zone of timestamps without an offset (RFC 3164), e.g. `UTC`, `Europe/Berlin`.
        /// Default `UTC`.
        #[serde(default)]
        timezone: Option<String>,
    },
    /// A normalizer pack shipped with Vigil (`vigil normalize --suggest` lists them), e.g.
    /// `linux` (syslog routed by program to sshd, sudo, su, useradd, cron, netfilter, web
    /// access packs), `suricata`, `cloudtrail`.
    Pack {
        /// Pack name.
        name: String,
        /// Time zone of timestamps without an offset. Default `UTC`.
        #[serde(default)]
        timezone: Option<String>,
    },
    /// A normalizer definition in a YAML file (docs/normalizers.md).
    File {
        /// The YAML file.
        path: String,
        /// Time zone of timestamps without an offset. Default `UTC`.
        #[serde(default)]
        timezone: Option<String>,
    },
    /// Best guess per record among the packs, falling back to a generic parser.
    Auto {
        /// Time zone of timestamps without an offset. Default `UTC`.
        #[serde(default)]
        timezone: Option<String>,
    },
}

/// A filter: exactly one of `keep` or `drop`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawFilter {
    /// Keep only events matching this query.
    #[serde(default)]
    pub keep: Option<String>,
    /// Drop events matching this query.
    #[serde(default)]
    pub drop: Option<String>,
}

/// Set a field to a constant.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawSet {
    /// Field name (ECS name or KUMA alias).
    pub field: String,
    /// The value, converted to the field's type.
    pub value: String,
}

/// Copy a field into another.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawCopy {
    /// Field to read.
    pub from: String,
    /// Field to write (only when it is empty).
    pub to: String,
}

/// The event store, chosen by `type`. Without `type`, the embedded store.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
#[allow(clippy::large_enum_variant)] // read once at start; boxing would only add noise to every match
pub enum RawStorage {
    /// Vigil's own store in `data_dir` (write-ahead log, Parquet segments, storage spaces,
    /// retention, cold tier, encryption at rest). The default.
    Embedded(RawEmbeddedStorage),
    /// A ClickHouse server (18.16 or later) over its HTTP interface: one table, one row per
    /// event. Spaces, tiers, encryption and retention are the server's business.
    #[serde(rename = "clickhouse")]
    ClickHouse(RawClickHouseStorage),
}

impl Default for RawStorage {
    fn default() -> Self {
        RawStorage::Embedded(RawEmbeddedStorage::default())
    }
}

/// ClickHouse settings.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawClickHouseStorage {
    /// The server's HTTP interface, e.g. `http://127.0.0.1:8123` (`https://` for TLS).
    pub url: String,
    /// Database, created when missing. Default `vigil`.
    #[serde(default)]
    pub database: Option<String>,
    /// Table of events, created when missing. Default `events`.
    #[serde(default)]
    pub table: Option<String>,
    /// User. Default `default`.
    #[serde(default)]
    pub user: Option<String>,
    /// Password, as a reference: `${env:NAME}` (an environment variable) or `${file:PATH}` (a
    /// file's first line). Written out in the file it is refused. Default: none.
    #[serde(default)]
    pub password: Option<String>,
    /// Longest a query may run on the server (`max_execution_time`). Default `60s`.
    #[serde(default)]
    pub query_timeout: Option<String>,
}

/// Embedded store settings.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawEmbeddedStorage {
    /// Longest time between write-ahead-log syncs (group commit). At most `1s`. Default `200ms`.
    #[serde(default)]
    pub fsync_interval: Option<String>,
    /// Events per sealed segment. Default 262144.
    #[serde(default)]
    pub segment_max_events: Option<usize>,
    /// Seal a segment after this long even if not full. Default `30s`.
    #[serde(default)]
    pub segment_max_age: Option<String>,
    /// Memory a storage space's unsealed events may take (events, pruning sets and columns,
    /// counted by the store): its segment is sealed early when they reach it. Default
    /// `64MiB`.
    #[serde(default)]
    pub memtable_max: Option<RawSize>,
    /// Memory the unsealed events of all tenants and spaces may take together (those being
    /// sealed included): above it the largest memtable is sealed early, and ingestion waits
    /// while the ones being sealed hold that much. Default `160MiB`.
    #[serde(default)]
    pub memtable_total_max: Option<RawSize>,
    /// Delete events older than this (by `@timestamp`), e.g. `30d`, for every tenant and space
    /// that sets no retention of its own. Default: keep forever.
    #[serde(default)]
    pub retention: Option<String>,
    /// Move segments older than this to the cold tier, for every tenant and space that sets
    /// none. Default: never.
    #[serde(default)]
    pub hot_age: Option<String>,
    /// How often retention runs. Each deletion is written to `<data_dir>/audit/audit.log` and
    /// stored as an audit event of the tenant. Default `1m`.
    #[serde(default)]
    pub retention_interval: Option<String>,
    /// Refuse new events while the data directory's file system has less free space than this
    /// (events already accepted are kept; ingestion resumes when space returns). Default
    /// `256MiB`.
    #[serde(default)]
    pub min_free: Option<RawSize>,
    /// ... or less than this percentage of its size, whichever is larger. Default 1.
    #[serde(default)]
    pub min_free_percent: Option<f64>,
    /// Encryption at rest (AES-256-GCM) of the write-ahead log and sealed segments.
    #[serde(default)]
    pub encryption: Option<RawEncryption>,
    /// The cold tier and background merges.
    #[serde(default)]
    pub tiers: Option<RawTiers>,
    /// Storage spaces, retention and hot age per tenant, by tenant name.
    #[serde(default)]
    pub tenants: std::collections::BTreeMap<String, RawTenantStorage>,
}

/// The cold tier and background merges. Segments move to the cold tier at their space's
/// `hot_age`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawTiers {
    /// Directory for cold segments, e.g. on a cheaper disk (relative paths resolve against the
    /// configuration file's directory). Each partition's `cold/` becomes a link to the same
    /// layout under it. Default: `cold/` inside the data directory's partitions.
    #[serde(default)]
    pub cold_dir: Option<String>,
    /// zstd level of cold segments, 1 to 19. Default 9.
    #[serde(default)]
    pub cold_zstd_level: Option<i32>,
    /// How often the background pass merges small segments and moves old ones to the cold
    /// tier. Default `1m`.
    #[serde(default)]
    pub interval: Option<String>,
}

/// Encryption at rest: exactly one of `key_file` or `key_env`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawEncryption {
    /// File holding the keys, one `<id>:<key>` per line (key: 64 hex digits or base64 of 32
    /// bytes); the last is current. Must be mode 0600 or stricter. Re-read every 10 s:
    /// `vigil storage rotate-key` appends a new key and older files are re-encrypted in the
    /// background.
    #[serde(default)]
    pub key_file: Option<String>,
    /// Environment variable holding the keys (same format; entries may be separated by `,`).
    #[serde(default)]
    pub key_env: Option<String>,
}

/// Storage settings of one tenant.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawTenantStorage {
    /// Retention of the tenant's default space (and of its spaces that set none).
    #[serde(default)]
    pub retention: Option<String>,
    /// Hot age of the tenant's default space (and of its spaces that set none).
    #[serde(default)]
    pub hot_age: Option<String>,
    /// Storage spaces, in routing order: an event goes to the first whose condition matches,
    /// else to the space `default`.
    #[serde(default)]
    pub spaces: Vec<RawSpace>,
}

/// A storage space (KUMA's term): a partition of a tenant's events with its own retention.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawSpace {
    /// Name: 1-64 of `a-z 0-9 _ -` (not `default`); its directory is
    /// `<data_dir>/events/<tenant>/spaces/<name>/`.
    pub name: String,
    /// Which events go here: a query filter, e.g. `event.kind:alert` or
    /// `observer.type = "firewall"`.
    pub condition: String,
    /// Delete this space's events older than this, e.g. `1h`, `90d`.
    #[serde(default)]
    pub retention: Option<String>,
    /// Move this space's segments older than this to the cold tier.
    #[serde(default)]
    pub hot_age: Option<String>,
}

/// Pipeline settings.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawPipeline {
    /// Worker threads running normalizers, filters and enrichment. Default 1.
    #[serde(default)]
    pub workers: Option<usize>,
    /// Batches that may wait between connectors and workers. Default 256.
    #[serde(default)]
    pub raw_queue_batches: Option<usize>,
    /// Batches that may wait in front of each destination. Default 64.
    #[serde(default)]
    pub event_queue_batches: Option<usize>,
    /// How long a worker holding fewer than `batch_events` events waits for more before it
    /// hands them to the destinations, e.g. `5ms`; `0s` hands each batch on at once. Many
    /// slow senders deliver a line per read: gathering them makes one store append (one WAL
    /// write) of many lines instead of one per line. At most 1 s. Default `5ms`.
    #[serde(default)]
    pub batch_linger: Option<String>,
    /// Most records a worker gathers into one batch for the destinations (a batch received
    /// from a connector is never split, so one larger batch goes on whole). It bounds, with
    /// `event_queue_batches`, how many events wait in front of each destination. Default 1024.
    #[serde(default)]
    pub batch_events: Option<usize>,
    /// How far ahead of the receive time a source timestamp may be, e.g. `1d`, `15m`. An event
    /// dated later gets the receive time as `@timestamp`, its own time in
    /// `vigil.original_timestamp` and the tag `implausible_timestamp` (counted as normalizer
    /// error `implausible_timestamp`). Default `1d`.
    #[serde(default)]
    pub max_future_skew: Option<String>,
    /// The earliest believable source timestamp, RFC 3339 in UTC (`2000-01-01T00:00:00Z`) or a
    /// date (`2000-01-01`), 1970 or later. Earlier events are handled as for
    /// `max_future_skew`. Default `2000-01-01T00:00:00Z`.
    #[serde(default)]
    pub min_timestamp: Option<String>,
}

/// SQL polling connector settings.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawSql {
    /// The database: `postgres://USER[:PASSWORD]@HOST[:PORT]/DB`, `mysql://...` (MySQL and
    /// MariaDB) or `sqlite:PATH` (`sqlite://PATH`). Written literally, or as `${env:NAME}` /
    /// `${file:PATH}`, which a URL with a password must be; never logged with its password.
    pub url: String,
    /// The query. It takes the cursor as its one parameter (`$1` for PostgreSQL, `?` for
    /// MySQL/MariaDB and SQLite), returns the rows after it ordered by the cursor column, and
    /// should end with a `LIMIT`, e.g. `SELECT * FROM audit WHERE id > $1 ORDER BY id LIMIT 1000`.
    pub query: String,
    /// The column holding the cursor: strictly increasing per row (an identity/serial id, or
    /// a timestamp that no two rows share).
    pub cursor_column: String,
    /// `integer` (the default) or `timestamp`.
    #[serde(default)]
    pub cursor_type: Option<String>,
    /// The cursor before the first poll: an integer, or an RFC 3339 time for `timestamp`.
    /// Default `0` / `1970-01-01T00:00:00Z` (every row).
    #[serde(default)]
    pub cursor_start: Option<String>,
    /// Where the cursor is kept between polls and restarts. Default
    /// `<data_dir>/cursors/<collector id>.json`.
    #[serde(default)]
    pub cursor_file: Option<String>,
    /// How long to wait between polls that returned fewer than `max_rows` rows (a full poll
    /// is followed by the next at once). Default `10s`.
    #[serde(default)]
    pub interval: Option<String>,
    /// Most rows read per poll, whatever the query's `LIMIT`. Default 1000.
    #[serde(default)]
    pub max_rows: Option<usize>,
    /// A column whose value becomes the event's `@timestamp` (else the poll time).
    #[serde(default)]
    pub timestamp_column: Option<String>,
    /// A column whose value becomes the event's `message`.
    #[serde(default)]
    pub message_column: Option<String>,
    /// How long to wait for a connection or a query. Default `30s`.
    #[serde(default)]
    pub timeout: Option<String>,
    /// TLS to the database server (PostgreSQL's `sslmode`/`sslrootcert`, MySQL/MariaDB's
    /// `ssl-mode`/`ssl-ca`); overrides those options in the URL. Not for SQLite.
    #[serde(default)]
    pub tls: Option<RawSqlTls>,
}

/// TLS settings of the `sql` connector.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawSqlTls {
    /// `disable`, `prefer` (TLS when the server offers it; the drivers' default), `require`
    /// (TLS, certificate not checked), `verify_ca` (the certificate must chain to `ca`) or
    /// `verify_full` (also name the host of the URL).
    pub mode: RawSqlTlsMode,
    /// PEM file of the CA(s) the server's certificate must chain to (`verify_ca`,
    /// `verify_full`); relative to the configuration's directory. Without it, the public web
    /// CAs (webpki roots) are trusted.
    #[serde(default)]
    pub ca: Option<String>,
}

/// How the `sql` connector uses TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RawSqlTlsMode {
    /// Never.
    Disable,
    /// When the server offers it.
    Prefer,
    /// Always; the certificate is not checked.
    Require,
    /// Always; the certificate must chain to the CA.
    VerifyCa,
    /// Always; the certificate must chain to the CA and name the host.
    VerifyFull,
}

/// NetFlow/IPFIX connector settings.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawNetflow {
    /// UDP address to listen on, e.g. `0.0.0.0:2055` (NetFlow) or `0.0.0.0:4739` (IPFIX); one
    /// port takes all three versions.
    pub listen: String,
    /// Kernel receive buffer for the UDP socket. Default `8MiB`.
    #[serde(default)]
    pub udp_recv_buffer: Option<RawSize>,
    /// Most exporters (address and v9 source id / IPFIX observation domain) whose templates are
    /// kept; the least recently heard is forgotten first. Default 1024.
    #[serde(default)]
    pub max_exporters: Option<usize>,
    /// Most templates kept per exporter. Default 256.
    #[serde(default)]
    pub max_templates_per_exporter: Option<usize>,
}

/// File connector settings.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawFile {
    /// Files and globs to read (`/var/log/app/*.log`, `/var/log/**/*.log`); relative ones
    /// resolve against the configuration's directory. Globs are scanned again every
    /// `scan_interval`, so new files are picked up. Names ending in `.gz` or `.zst` are read
    /// once, whole, and never tailed.
    #[serde(default)]
    pub paths: Vec<String>,
    /// Globs of files not to read, e.g. `*.tmp`.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Where to start in a file seen for the first time when the connector first starts:
    /// `beginning` or `end`. Files that appear later are always read from their beginning,
    /// and files with a saved position resume there. Default `beginning`.
    #[serde(default)]
    pub start_at: Option<RawStartAt>,
    /// Longest line (or multiline record); longer ones are cut to it, marked
    /// `oversized_line` and kept; the rest of the line is skipped. Default `1MiB`.
    #[serde(default)]
    pub max_line_size: Option<RawSize>,
    /// How often the globs are scanned for new, renamed and removed files. Default `5s`.
    #[serde(default)]
    pub scan_interval: Option<String>,
    /// How often open files are checked for new data. Default `250ms`.
    #[serde(default)]
    pub poll_interval: Option<String>,
    /// Join lines into one record (Java stack traces, Python tracebacks).
    #[serde(default)]
    pub multiline: Option<RawMultiline>,
    /// Also read the systemd journal through `journalctl --output=json --follow`, resuming
    /// from the saved cursor. Each entry is one record: its JSON object.
    #[serde(default)]
    pub journal: Option<RawJournal>,
}

/// Where to start reading a file seen for the first time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RawStartAt {
    /// From its first byte.
    Beginning,
    /// From its current end: only lines written from now on.
    End,
}

/// Multiline joining (Filebeat's model): a line matching `pattern` (or not matching, with
/// `negate`) continues the record before it (`match: after`) or the record after it
/// (`match: before`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawMultiline {
    /// A regular expression (linear time, Rust `regex` syntax), e.g. `'^[[:space:]]'` or
    /// `'^(\s+at |Caused by:|\s+\.\.\. )'` for Java stack traces.
    pub pattern: String,
    /// Lines that do *not* match the pattern are the continuation lines. Default false.
    #[serde(default)]
    pub negate: Option<bool>,
    /// `after`: a continuation line joins the record before it (stack traces); `before`: it
    /// joins the record after it (lines ending in `\`). Default `after`.
    #[serde(default, rename = "match")]
    pub match_: Option<RawMultilineMatch>,
    /// Most lines in one record; the next line starts a new one. Default 500.
    #[serde(default)]
    pub max_lines: Option<usize>,
    /// A record with no new line for this long is sent as it is. Default `5s`.
    #[serde(default)]
    pub timeout: Option<String>,
}

/// Which record a continuation line joins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RawMultilineMatch {
    /// The one before it.
    After,
    /// The one after it.
    Before,
}

/// Reading the systemd journal.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawJournal {
    /// Only these units (`journalctl --unit`), e.g. `sshd.service`. Default: all.
    #[serde(default)]
    pub units: Vec<String>,
    /// Read the journal files in this directory (`journalctl --directory`) instead of the
    /// system journal.
    #[serde(default)]
    pub directory: Option<String>,
    /// Read these journal files (`journalctl --file`) instead of the system journal.
    #[serde(default)]
    pub files: Vec<String>,
    /// The `journalctl` program. Default `journalctl` (found on `PATH`).
    #[serde(default)]
    pub journalctl: Option<String>,
    /// Without a saved cursor: `beginning` reads the whole journal, `end` only new entries.
    /// Default `end`.
    #[serde(default)]
    pub start_at: Option<RawStartAt>,
}

/// EVTX connector settings.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawEvtx {
    /// `.evtx` files and folders (read recursively for `*.evtx`); relative ones resolve against
    /// the configuration's directory. Each file is imported once; its progress is kept in
    /// `<data_dir>/connectors/<id>/`, so a restart resumes after the last record sent.
    pub paths: Vec<String>,
    /// How often folders are scanned for new files. Default `30s`.
    #[serde(default)]
    pub scan_interval: Option<String>,
}

/// SNMP trap connector settings.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawSnmpTrap {
    /// UDP address to listen on, e.g. `0.0.0.0:162` (the standard trap port needs
    /// `CAP_NET_BIND_SERVICE`) or `0.0.0.0:1162`.
    pub listen: String,
    /// Kernel receive buffer for the UDP socket. Default `8MiB`.
    #[serde(default)]
    pub udp_recv_buffer: Option<RawSize>,
    /// Names of OIDs, added to the built-in ones (the standard traps `coldStart` ... `egpNeighborLoss`,
    /// `sysUpTime`, `snmpTrapOID`, `ifIndex`, ...), e.g. `1.3.6.1.4.1.9.9.41.2.0.1: clogMessageGenerated`.
    /// A varbind whose OID starts with a named OID is called by the name plus the rest
    /// (`ifIndex.3`); the trap OID's name becomes `snmp.trap.name`.
    #[serde(default)]
    pub oid_names: std::collections::BTreeMap<String, String>,
    /// SNMPv3 users (USM, RFC 3414). A v3 trap or inform is accepted only from a user listed
    /// here, at the security level the user's entry sets: with `auth_protocol` it must be
    /// authenticated, with `priv_protocol` also encrypted. v1 and v2c are accepted either way.
    #[serde(default)]
    pub users: Vec<RawSnmpUser>,
    /// This receiver's SNMP engine ID, in hex (5 to 32 bytes, e.g. `0x80001f8804766967696c`),
    /// which v3 informs are sent to (senders discover it; net-snmp's `snmpinform -e` may name
    /// it). Default: one made at first start and kept with the engine's boot counter in
    /// `<data_dir>/connectors/<id>/snmp_engine.json`.
    #[serde(default)]
    pub engine_id: Option<String>,
}

/// An SNMPv3 (USM) user of the `snmp_trap` connector. Keys are derived from the passphrases
/// as RFC 3414 (A.2) and RFC 7860 say, and localized to the authoritative engine: the
/// sender's for traps, this receiver's for informs.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawSnmpUser {
    /// The user name (net-snmp's `-u`).
    pub name: String,
    /// Authentication: `md5` (HMAC-MD5-96), `sha` (HMAC-SHA-96), `sha224`, `sha256`, `sha384`
    /// or `sha512` (RFC 7860). Absent: the user sends unauthenticated (noAuthNoPriv) messages.
    #[serde(default)]
    pub auth_protocol: Option<RawSnmpAuthProtocol>,
    /// The authentication passphrase (net-snmp's `-A`), a reference `${env:NAME}` or
    /// `${file:PATH}`; at least 8 characters. Required with `auth_protocol`.
    #[serde(default)]
    pub auth_passphrase: Option<String>,
    /// Privacy (encryption of the PDU): `des` (CBC-DES, RFC 3414) or `aes` (AES-128 in CFB
    /// mode, RFC 3826; net-snmp's `-x AES`). Needs `auth_protocol`.
    #[serde(default)]
    pub priv_protocol: Option<RawSnmpPrivProtocol>,
    /// The privacy passphrase (net-snmp's `-X`), a reference like `auth_passphrase`; at least 8
    /// characters. Required with `priv_protocol`.
    #[serde(default)]
    pub priv_passphrase: Option<String>,
}

/// An SNMPv3 authentication protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RawSnmpAuthProtocol {
    /// HMAC-MD5-96 (RFC 3414).
    Md5,
    /// HMAC-SHA-96 (RFC 3414), SHA-1.
    Sha,
    /// HMAC-SHA-224 with a 128-bit MAC (RFC 7860).
    Sha224,
    /// HMAC-SHA-256 with a 192-bit MAC (RFC 7860).
    Sha256,
    /// HMAC-SHA-384 with a 256-bit MAC (RFC 7860).
    Sha384,
    /// HMAC-SHA-512 with a 384-bit MAC (RFC 7860).
    Sha512,
}

/// An SNMPv3 privacy protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RawSnmpPrivProtocol {
    /// CBC-DES (RFC 3414). Weak: for old agents only.
    Des,
    /// AES-128 in CFB-128 mode (RFC 3826).
    Aes,
}

/// sFlow connector settings.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawSflow {
    /// UDP address to listen on, e.g. `0.0.0.0:6343`.
    pub listen: String,
    /// Kernel receive buffer for the UDP socket. Default `8MiB`.
    #[serde(default)]
    pub udp_recv_buffer: Option<RawSize>,
}
