//! From a validated [`Config`] to components: the one registration point. Each component kind
//! is built from its closed, `type`-tagged config enum in one explicit `match`, no
//! registration magic: connectors ([`build_connector`]), normalizers ([`build_normalizer`]),
//! transforms ([`build_transform`]), destinations ([`build_destination`]) and the correlator
//! ([`build_detection`]). `vigil validate` calls [`build`] without starting anything (no socket
//! is bound, no data written), so every problem that only shows when a component is built (a
//! filter query, TLS material, a rule, a storage space condition) is found before `vigil up`;
//! `vigil up` calls the same [`build`], then [`Topology::start`].
//!
//! # Adding a connector
//! One variant in `vigil_config::ConnectorConfig` (with its raw form and checks in
//! `vigil-config`), one module in `vigil-ingest` implementing `vigil_pipeline::Connector`
//! (reporting its sockets through `Connector::listen`), and one arm in [`build_connector`]
//! (and in [`set_listen_addr`] if `--syslog-addr` should reach it). Nothing else names a
//! connector type.

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::Context as _;
use smol_str::SmolStr;
use vigil_config::{ClickHouseStorageConfig, EmbeddedStorageConfig, StorageConfig};
use vigil_config::{
    CollectorConfig, Config, ConnectorConfig, CorrelationConfig, DestinationConfig,
    DetectionConfig, NormalizerConfig, TransformConfig, TransformKind,
};
use vigil_core::correlation::CorrelationDestination;
use vigil_core::detection::{DetectionDestination, LoadedRules, Rules};
use vigil_event::{TimePolicy, Timestamp, Value};
use vigil_ingest::evtx::EvtxConnector;
use vigil_ingest::file::FileConnector;
use vigil_ingest::http::HttpConnector;
use vigil_ingest::syslog::SyslogConnector;
use vigil_normalize::SyslogNormalizer;
use vigil_pipeline::transforms::{Aggregation, AggregationRule, Enrich, Enrichment, QueryFilter};
use vigil_pipeline::{
    Chain, ComponentMetrics, Connector, Destination, FileDestination, Normalizer, PipelineBuilder,
    Shutdown, SourceChain, SourceInfo, Telemetry, Transform,
};
use vigil_store::clickhouse::{ClickHouseConfig, ClickHouseStore};
use vigil_store::embedded::{
    EmbeddedConfig, EmbeddedStore, KeySource, SpaceConfig, SpacesConfig, TenantSpaces, TierOptions,
};
use vigil_store::{EventStore, StoreDestination};

use crate::UsageError;

/// A collector's parts, built but not started.
pub struct BuiltCollector {
    /// Its path in the configuration (`collectors[0]`).
    pub path: String,
    /// The connector's `type` (`syslog`).
    pub kind: &'static str,
    pub source: SourceInfo,
    pub connector: Box<dyn Connector>,
    pub normalizer: Arc<dyn Normalizer>,
    /// What happens to implausible source timestamps (`pipeline.max_future_skew`,
    /// `pipeline.min_timestamp`).
    pub time_policy: TimePolicy,
    /// Transforms in order, checked by building them once: each worker builds its own
    /// instances ([`build_transform`]).
    pub transforms: Vec<TransformConfig>,
}

/// A transform, built: the one `match` over transform types. [`build`] calls it once per
/// transform to find problems; each pipeline worker calls it for its own instances (a
/// transform may hold state, such as aggregation buckets).
pub fn build_transform(t: &TransformConfig) -> Result<Box<dyn Transform>, String> {
    let at = |e: String| format!("{}: {e}", t.path);
    Ok(match &t.kind {
        TransformKind::Filter { query, keep } => Box::new(
            QueryFilter::new(query, *keep)
                .map_err(|e| format!("{}: invalid query:\n{e}", t.path))?,
        ),
        TransformKind::Set { field, value } => Box::new(
            Enrichment::new(vec![Enrich::Set(
                field.clone(),
                Value::from(value.as_str()),
            )])
            .map_err(|e| format!("{}.value: {e}", t.path))?,
        ),
        TransformKind::Copy { from, to } => {
            Box::new(Enrichment::new(vec![Enrich::Copy(from.clone(), to.clone())]).map_err(at)?)
        }
        TransformKind::Aggregate(rules) => {
            let mut built = Vec::new();
            for r in rules {
                built.push(
                    AggregationRule::new(
                        &r.name,
                        &r.when,
                        r.identical.clone(),
                        r.window,
                        r.sum.clone(),
                    )
                    .map_err(|e| format!("{}: {e}", r.path))?,
                );
            }
            Box::new(Aggregation::new(built))
        }
    })
}

/// The component kind a transform's metrics are reported under.
fn transform_metrics_kind(t: &TransformKind) -> &'static str {
    match t {
        TransformKind::Filter { .. } => "filter",
        TransformKind::Set { .. } | TransformKind::Copy { .. } => "enrichment",
        TransformKind::Aggregate(_) => "aggregation",
    }
}

/// The name this collector reports as (`vigil.collector`).
pub fn collector_name() -> SmolStr {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| {
            let bytes =
                vigil_config::read_file_capped(std::path::Path::new("/etc/hostname"), 256).ok()?;
            Some(String::from_utf8_lossy(&bytes).trim().to_owned())
        })
        .filter(|h| !h.is_empty())
        .map(SmolStr::new)
        .unwrap_or_else(|| SmolStr::new_static("local"))
}

/// The time policy of `pipeline.max_future_skew` and `pipeline.min_timestamp`.
pub fn time_policy(p: &vigil_config::PipelineConfig) -> TimePolicy {
    let min_timestamp = match p.min_timestamp.duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => Timestamp(i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)),
        // validation allows 1970 or later only
        Err(_) => Timestamp::EPOCH,
    };
    TimePolicy {
        max_future_skew: i64::try_from(p.max_future_skew.as_nanos()).unwrap_or(i64::MAX),
        min_timestamp,
    }
}

/// The connector of `c`: the one `match` over connector types.
pub fn build_connector(
    c: &ConnectorConfig,
    path: &str,
) -> Result<(&'static str, Box<dyn Connector>), String> {
    match c {
        ConnectorConfig::Syslog(s) => SyslogConnector::new(s.clone())
            .map(|conn| ("syslog", Box::new(conn) as Box<dyn Connector>))
            .map_err(|e| format!("{path}: {e}")),
        ConnectorConfig::Http(h) => HttpConnector::new(h.clone())
            .map(|conn| ("http", Box::new(conn) as Box<dyn Connector>))
            .map_err(|e| format!("{path}: {e}")),
        ConnectorConfig::Nats(n) => Ok((
            "nats",
            Box::new(vigil_ingest::nats::NatsConnector::new(n.clone())) as Box<dyn Connector>,
        )),
        ConnectorConfig::Sql(s) => vigil_ingest::sql::SqlConnector::new(s.clone())
            .map(|conn| ("sql", Box::new(conn) as Box<dyn Connector>))
            .map_err(|e| format!("{path}: {e}")),
        ConnectorConfig::Netflow(n) => Ok((
            "netflow",
            Box::new(vigil_ingest::netflow::NetflowConnector::new(n.clone())) as Box<dyn Connector>,
        )),
        ConnectorConfig::File(f) => FileConnector::new(f.clone())
            .map(|conn| ("file", Box::new(conn) as Box<dyn Connector>))
            .map_err(|e| format!("{path}: {e}")),
        ConnectorConfig::Evtx(e) => EvtxConnector::new(e.clone())
            .map(|conn| ("evtx", Box::new(conn) as Box<dyn Connector>))
            .map_err(|e| format!("{path}: {e}")),
        #[cfg(feature = "kafka")]
        ConnectorConfig::Kafka(k) => Ok((
            "kafka",
            Box::new(vigil_ingest::kafka::KafkaConnector::new(k.clone())) as Box<dyn Connector>,
        )),
        #[cfg(not(feature = "kafka"))]
        ConnectorConfig::Kafka(_) => Err(format!("{path}: {WITHOUT_KAFKA}")),
        ConnectorConfig::Sflow(f) => Ok((
            "sflow",
            Box::new(vigil_ingest::sflow::SflowConnector::new(f.clone())) as Box<dyn Connector>,
        )),
        ConnectorConfig::SnmpTrap(t) => Ok((
            "snmp_trap",
            Box::new(vigil_ingest::snmp_trap::SnmpTrapConnector::new(t.clone()))
                as Box<dyn Connector>,
        )),
    }
}

/// The checks of a configuration's collectors that validation alone does not make (connector
/// settings such as TLS material, normalizer packs and files), each as (path, message): what
/// the API's collector editor reports besides the configuration's own problems. Builds the
/// components without starting them: binds nothing, writes nothing.
pub fn check_collectors(cfg: &Config) -> Vec<(String, String)> {
    let mut problems = Vec::new();
    for (i, c) in cfg.collectors.iter().enumerate() {
        let path = format!("collectors[{i}]");
        if let Err(e) = build_connector(&c.connector, &format!("{path}.connector")) {
            problems.push(e);
        }
        build_normalizer(&c.normalizer, &format!("{path}.normalizer"), &mut problems);
    }
    problems
        .into_iter()
        .map(|p| match p.split_once(": ") {
            Some((path, message)) => (path.to_owned(), message.to_owned()),
            None => (String::new(), p),
        })
        .collect()
}

/// Where a connector that keeps state (read positions, cursors) keeps it:
/// `<data_dir>/connectors/<collector id>`.
pub fn set_state_dir(c: &mut ConnectorConfig, data_dir: &std::path::Path, id: &str) {
    let dir = data_dir.join("connectors").join(id);
    match c {
        ConnectorConfig::File(f) => f.state_dir = dir,
        ConnectorConfig::Evtx(e) => e.state_dir = dir,
        ConnectorConfig::SnmpTrap(t) => t.state_dir = dir,
        ConnectorConfig::Nats(n) => n.state_dir = dir,
        ConnectorConfig::Syslog(_)
        | ConnectorConfig::Http(_)
        | ConnectorConfig::Sql(_)
        | ConnectorConfig::Netflow(_)
        | ConnectorConfig::Sflow(_)
        | ConnectorConfig::Kafka(_) => {}
    }
}

/// Why a Kafka component cannot be built by this binary.
#[cfg(not(feature = "kafka"))]
const WITHOUT_KAFKA: &str =
    "this vigil was built without Kafka support (cargo feature `kafka`, on by default)";

/// Points the first connector that takes `--syslog-addr` (a syslog one: UDP and TCP) at
/// `addr`; false when none does.
pub fn set_listen_addr(c: &mut ConnectorConfig, addr: std::net::SocketAddr) -> bool {
    match c {
        ConnectorConfig::Syslog(s) => {
            s.udp = Some(addr);
            s.tcp = Some(addr);
            true
        }
        ConnectorConfig::Http(_) => false,
        ConnectorConfig::Nats(_) => false,
        ConnectorConfig::Sql(_) | ConnectorConfig::Netflow(_) => false,
        ConnectorConfig::File(_) | ConnectorConfig::Evtx(_) => false,
        ConnectorConfig::Kafka(_) => false,
        ConnectorConfig::Sflow(_) | ConnectorConfig::SnmpTrap(_) => false,
    }
}

/// The TLS private keys a connector reads, with their paths (checked like every secret file).
fn connector_secrets(c: &ConnectorConfig, path: &str) -> Vec<(String, std::path::PathBuf)> {
    match c {
        ConnectorConfig::Syslog(s) => s
            .tls
            .iter()
            .map(|t| (format!("{path}.tls.key"), t.key_path.clone()))
            .collect(),
        ConnectorConfig::Http(h) => h
            .tls
            .iter()
            .map(|t| (format!("{path}.tls.key"), t.key_path.clone()))
            .collect(),
        ConnectorConfig::Nats(_) => Vec::new(),
        ConnectorConfig::Sql(_) | ConnectorConfig::Netflow(_) => Vec::new(),
        ConnectorConfig::File(_) | ConnectorConfig::Evtx(_) => Vec::new(),
        ConnectorConfig::Kafka(_) => Vec::new(),
        ConnectorConfig::Sflow(_) | ConnectorConfig::SnmpTrap(_) => Vec::new(),
    }
}

/// The normalizer of `n`: the one `match` over normalizer types. A problem is reported and
/// the header-only syslog normalizer stands in, so the other problems are still found.
pub fn build_normalizer(
    n: &NormalizerConfig,
    path: &str,
    problems: &mut Vec<String>,
) -> Arc<dyn Normalizer> {
    let fallback = |tz| Arc::new(SyslogNormalizer::new(tz)) as Arc<dyn Normalizer>;
    let mut fail = |e: String, tz| {
        problems.push(format!("{path}: {e}"));
        fallback(tz)
    };
    match n {
        NormalizerConfig::Syslog { timezone } => fallback(*timezone),
        NormalizerConfig::Pack { name, timezone } => match pack(name, None) {
            Ok(n) => Arc::new(vigil_normalize::NormalizerTree::new(n, *timezone)),
            Err(e) => fail(e, *timezone),
        },
        NormalizerConfig::File {
            path: file,
            timezone,
        } => match pack("", Some(file)) {
            Ok(n) => Arc::new(vigil_normalize::NormalizerTree::new(n, *timezone)),
            Err(e) => fail(e, *timezone),
        },
        NormalizerConfig::Auto { timezone } => {
            match vigil_normalize::Library::builtin()
                .map_err(|e| e.to_string())
                .and_then(|lib| {
                    vigil_normalize::AutoNormalizer::new(&lib, *timezone).map_err(|e| e.to_string())
                }) {
                Ok(a) => Arc::new(a),
                Err(e) => fail(e, *timezone),
            }
        }
    }
}

fn build_collector(
    c: &CollectorConfig,
    data_dir: &std::path::Path,
    time_policy: TimePolicy,
    path: &str,
    problems: &mut Vec<String>,
) -> Option<BuiltCollector> {
    let source = SourceInfo {
        id: SmolStr::new(&c.id),
        tenant: SmolStr::new(&c.tenant),
        collector: collector_name(),
    };
    let mut connector_cfg = c.connector.clone();
    set_state_dir(&mut connector_cfg, data_dir, &c.id);
    let connector = build_connector(&connector_cfg, &format!("{path}.connector"))
        .map_err(|e| problems.push(e))
        .ok();
    let normalizer = build_normalizer(&c.normalizer, &format!("{path}.normalizer"), problems);
    let mut transforms = Vec::new();
    for t in &c.transforms {
        match build_transform(t) {
            Ok(_) => transforms.push(t.clone()),
            Err(e) => problems.push(e),
        }
    }
    let (kind, connector) = connector?;
    Some(BuiltCollector {
        path: path.to_owned(),
        kind,
        source,
        connector,
        normalizer,
        time_policy,
        transforms,
    })
}

/// A destination, built. The store's needs the store, which `vigil up` opens after building
/// (and `vigil validate` never opens).
pub enum BuiltDestination {
    /// The event store.
    Storage,
    /// Any other destination, ready to run.
    Ready {
        /// Its id in metrics (`file-1`).
        id: String,
        /// What `vigil up` prints about it.
        what: String,
        destination: Box<dyn Destination>,
    },
    /// A forwarding destination, run behind a disk buffer in `<data_dir>/buffers/<id>`
    /// (opened by `vigil up`, never by `vigil validate`).
    Buffered {
        /// Its id in metrics and the buffer's directory name (`syslog-1`).
        id: String,
        /// What `vigil up` prints about it.
        what: String,
        destination: Box<dyn Destination>,
        /// The buffer's bound in bytes.
        max_bytes: u64,
    },
}

/// The destination of `d`: the one `match` over destination types. A forwarding
/// destination that cannot be built (its TLS material does not load) is an error with its
/// path.
pub fn build_destination(
    d: &DestinationConfig,
    index: usize,
    telemetry: &Telemetry,
) -> Result<BuiltDestination, String> {
    use vigil_ingest::forward::{HttpForward, NatsForward, SyslogForward};
    let path = format!("destinations[{index}]");
    let buffered =
        |kind: &str, what: String, max_bytes: u64, d: Result<Box<dyn Destination>, String>| {
            let id = format!("{kind}-{index}");
            d.map(|destination| BuiltDestination::Buffered {
                what: format!("{kind:<10} {what} ({id}, disk buffer up to {max_bytes} bytes)"),
                id,
                destination,
                max_bytes,
            })
            .map_err(|e| format!("{path}: {e}"))
        };
    let metrics = |kind: &str| telemetry.component("destination", &format!("{kind}-{index}"));
    Ok(match d {
        DestinationConfig::Syslog(c) => {
            let scheme = if c.tls.is_some() { "tls" } else { "tcp" };
            return buffered(
                "syslog",
                format!("{scheme}://{}", c.address),
                c.buffer.max_size,
                SyslogForward::new(c.clone(), metrics("syslog"))
                    .map(|d| Box::new(d) as Box<dyn Destination>),
            );
        }
        DestinationConfig::Http(c) => {
            return buffered(
                "http",
                c.url.clone(),
                c.buffer.max_size,
                HttpForward::new(c.clone(), metrics("http"))
                    .map(|d| Box::new(d) as Box<dyn Destination>),
            );
        }
        DestinationConfig::Nats(c) => {
            return buffered(
                "nats",
                format!("{} {}", c.url, c.subject),
                c.buffer.max_size,
                NatsForward::new(c.clone(), metrics("nats"))
                    .map(|d| Box::new(d) as Box<dyn Destination>),
            );
        }
        DestinationConfig::Storage => BuiltDestination::Storage,
        DestinationConfig::File { path, format } => {
            let id = format!("file-{index}");
            let m = telemetry.component("destination", &id);
            BuiltDestination::Ready {
                what: format!("file       {} ({id})", path.display()),
                destination: Box::new(FileDestination::new(path, *format, m)),
                id,
            }
        }
        #[cfg(feature = "kafka")]
        DestinationConfig::Kafka(k) => {
            return buffered(
                "kafka",
                format!("{} at {}", k.topic, k.brokers),
                k.buffer.max_size,
                Ok(Box::new(vigil_ingest::kafka::KafkaDestination::new(
                    k.clone(),
                    metrics("kafka"),
                ))),
            );
        }
        #[cfg(not(feature = "kafka"))]
        DestinationConfig::Kafka(_) => {
            return Err(format!("destinations[{index}]: {WITHOUT_KAFKA}"));
        }
    })
}

/// The correlator's rules, loaded (the destination itself needs the store).
pub struct BuiltDetection {
    pub config: DetectionConfig,
    pub rules: LoadedRules,
}

/// Loads the correlator's rules. A rule that does not load is a problem for `vigil validate`
/// (with its file); `vigil up` runs the others and logs it, as when a reload finds it.
pub fn build_detection(d: &DetectionConfig) -> Result<(BuiltDetection, Vec<String>), String> {
    let rules =
        vigil_core::detection::load_rules(d).map_err(|e| format!("detection.pipeline: {e}"))?;
    let problems = rules
        .problems
        .iter()
        .map(|p| format!("detection.rules: {p}"))
        .collect();
    Ok((
        BuiltDetection {
            config: d.clone(),
            rules,
        },
        problems,
    ))
}

/// The correlation rules, loaded (the destination itself needs the store).
pub struct BuiltCorrelation {
    pub config: CorrelationConfig,
    pub rules: vigil_correlate::Rules,
}

/// Loads the correlation rules. A rule that does not load is a problem for `vigil validate`
/// (`correlation.rules: file: path [rule]: reason`); `vigil up` runs the others and logs it.
pub fn build_correlation(c: &CorrelationConfig) -> (BuiltCorrelation, Vec<String>) {
    let (rules, problems) = vigil_core::correlation::load_rules(c);
    let problems = problems
        .into_iter()
        .map(|p| format!("correlation.rules: {p}"))
        .collect();
    (
        BuiltCorrelation {
            config: c.clone(),
            rules,
        },
        problems,
    )
}

/// Compiles a shipped pack, or the normalizer defined in `file`.
fn pack(
    name: &str,
    file: Option<&std::path::Path>,
) -> Result<Arc<vigil_normalize::Normalizer>, String> {
    let mut lib = vigil_normalize::Library::builtin().map_err(|e| e.to_string())?;
    let name = match file {
        Some(f) => {
            let bytes = vigil_config::read_file_capped(f, 4 << 20)
                .map_err(|e| format!("{}: {e}", f.display()))?;
            lib.add_yaml(&String::from_utf8_lossy(&bytes), &f.display().to_string())
                .map_err(|e| e.to_string())?
        }
        None => {
            if lib.get(name).is_none() {
                return Err(format!(
                    "no pack named '{name}'; shipped packs: {}",
                    lib.names().join(", ")
                ));
            }
            name.to_owned()
        }
    };
    lib.compile(&name).map_err(|e| e.to_string())
}

/// Everything `vigil up` runs, built but not started.
pub struct Topology {
    pub collectors: Vec<BuiltCollector>,
    /// In configuration order.
    pub destinations: Vec<BuiltDestination>,
    pub detection: Option<BuiltDetection>,
    pub correlation: Option<BuiltCorrelation>,
    /// The API's TLS material, loaded.
    pub api_tls: Option<Arc<rustls::ServerConfig>>,
}

/// Builds every component, collecting every problem with its path. Binds nothing, writes
/// nothing. With the topology come the problems `vigil up` runs despite (rules that do not
/// load, which it logs); an error lists all problems.
pub fn build(cfg: &Config, telemetry: &Telemetry) -> Result<(Topology, Vec<String>), Vec<String>> {
    let mut problems = Vec::new();
    let mut collectors = Vec::new();
    for (i, c) in cfg.collectors.iter().enumerate() {
        let policy = time_policy(&cfg.pipeline);
        if let Some(b) = build_collector(
            c,
            &cfg.data_dir,
            policy,
            &format!("collectors[{i}]"),
            &mut problems,
        ) {
            collectors.push(b);
        }
    }
    let mut destinations = Vec::new();
    for (i, d) in cfg.destinations.iter().enumerate() {
        match build_destination(d, i, telemetry) {
            Ok(d) => destinations.push(d),
            Err(e) => problems.push(e),
        }
    }
    let mut rule_problems = Vec::new();
    let detection = match cfg.detection.as_ref().map(build_detection) {
        None => None,
        Some(Ok((d, p))) => {
            rule_problems = p;
            Some(d)
        }
        Some(Err(e)) => {
            problems.push(e);
            None
        }
    };
    let correlation = cfg.correlation.as_ref().map(|c| {
        let (built, p) = build_correlation(c);
        rule_problems.extend(p);
        built
    });
    let api_tls = match &cfg.api.tls {
        Some(t) => match vigil_api::tls_config(&t.cert, &t.key, t.client_ca.as_deref()) {
            Ok(c) => Some(Arc::new(c)),
            Err(e) => {
                problems.push(format!("api.tls: {e}"));
                None
            }
        },
        None => None,
    };
    // storage space conditions are queries: compiled here so that `vigil validate` finds them
    if let Some(e) = cfg.storage.embedded() {
        for p in spaces_config(e).problems() {
            problems.push(format!("storage.{p}"));
        }
    }
    secret_problems(cfg, &mut problems);
    if problems.is_empty() {
        Ok((
            Topology {
                collectors,
                destinations,
                detection,
                correlation,
                api_tls,
            },
            rule_problems,
        ))
    } else {
        problems.extend(rule_problems);
        Err(problems)
    }
}

impl Topology {
    /// Binds every connector's sockets (a taken port fails here, with its collector's path)
    /// and hands the components to `builder`: connectors, the workers' chains, the
    /// destinations on `store`, the Sigma detection destination (its rules watched until
    /// `rules_watch`) and the stateful correlator; their alerts are also handed to a sink made
    /// by `alert_sink` (the core's alert feed), when given.
    /// Returns what listens where, for the start banner, and the first TCP address a
    /// connector listens on (where `--demo` sends).
    pub fn start(
        self,
        builder: &mut PipelineBuilder,
        telemetry: &Telemetry,
        store: &Arc<dyn EventStore>,
        data_dir: &std::path::Path,
        rules_watch: &Shutdown,
        alert_sink: Option<&dyn Fn() -> vigil_core::detection::AlertSink>,
    ) -> anyhow::Result<Started> {
        let mut started = Started::default();
        builder.chain(chain_factory(&self.collectors, telemetry));
        for mut c in self.collectors {
            let addrs = c
                .connector
                .listen()
                .map_err(|e| UsageError(format!("{}.connector: {e}", c.path)))?;
            for a in addrs {
                if a.scheme == "tcp" && started.tcp.is_none() {
                    started.tcp = Some(a.addr);
                }
                started
                    .listening
                    .push(format!("{} {a} ({})", c.kind, c.source.id));
            }
            builder.connector(c.connector, c.source);
        }
        for d in self.destinations {
            match d {
                BuiltDestination::Storage => {
                    let m = telemetry.component("destination", "storage");
                    let d = StoreDestination::new(store.clone(), m)
                        .with_quotas(builder.tenant_quotas());
                    builder.destination("storage", Box::new(d));
                }
                BuiltDestination::Ready {
                    id,
                    what,
                    destination,
                } => {
                    started.listening.push(what);
                    builder.destination(&id, destination);
                }
                BuiltDestination::Buffered {
                    id,
                    what,
                    destination,
                    max_bytes,
                } => {
                    let dir = data_dir.join("buffers").join(&id);
                    let m = telemetry.component("destination", &id);
                    let buffered =
                        vigil_pipeline::DiskBuffer::open(&dir, max_bytes, destination, m)
                            .with_context(|| {
                                format!("opening the disk buffer of {id} in {}", dir.display())
                            })?;
                    started.listening.push(what);
                    builder.destination(&id, Box::new(buffered));
                }
            }
        }
        if let Some(d) = self.detection {
            let m = telemetry.component("destination", "correlator");
            let n_paths = d.config.rules.len();
            let rules = Rules::watch(d.rules, d.config, m.clone(), rules_watch.clone())
                .map_err(|e| UsageError(format!("detection: {e}")))?;
            started.detection = Some(format!(
                "{} rules from {n_paths} path(s), reloaded on change",
                rules.get().len()
            ));
            started.sigma_rules = Some(rules.clone());
            let mut destination =
                DetectionDestination::new(rules, store.clone(), m, Some(data_dir));
            if let Some(sink) = alert_sink {
                destination = destination.with_alert_sink(sink());
            }
            builder.destination("correlator", Box::new(destination));
        }
        if let Some(c) = self.correlation {
            let m = telemetry.component("destination", "correlation");
            let n_rules = c.rules.rules.len();
            let n_paths = c.config.rules.len();
            let destination = CorrelationDestination::new(
                c.rules,
                &c.config,
                store.clone(),
                m,
                Some(data_dir),
                alert_sink.map(|s| s()),
            )
            .map_err(|e| anyhow::anyhow!("correlation: starting the idle ticker: {e}"))?;
            started.correlation = Some(format!(
                "{n_rules} correlation rules from {n_paths} path(s), reloaded on change and SIGHUP"
            ));
            started.correlator = Some(destination.handle());
            builder.destination("correlation", Box::new(destination));
        }
        Ok(started)
    }
}

/// What [`Topology::start`] reports.
#[derive(Default)]
pub struct Started {
    /// `syslog tcp://127.0.0.1:5514 (fw)`, `file ...`: one line each.
    pub listening: Vec<String>,
    /// The first TCP address a connector listens on.
    pub tcp: Option<std::net::SocketAddr>,
    /// The correlator's line.
    pub detection: Option<String>,
    /// The stateful correlator's line.
    pub correlation: Option<String>,
    /// The stateful correlator, for the API and SIGHUP.
    pub correlator: Option<vigil_core::correlation::CorrelationHandle>,
    /// The Sigma rules in force (for the rules API).
    pub sigma_rules: Option<Arc<Rules>>,
}

/// Checks every secret file of the configuration with [`vigil_fs::check_secret_file`]: the API
/// token (the configured file, or `<data_dir>/api-token`, once it exists), the API and syslog
/// TLS private keys and the storage key file. `vigil validate` and `vigil up` both come here,
/// so they accept and refuse the same files. Missing TLS files are already reported by the
/// configuration's validation.
fn secret_problems(cfg: &Config, problems: &mut Vec<String>) {
    let mut check = |path: &str, file: &std::path::Path| {
        if let Err(e) = vigil_fs::check_secret_file(file) {
            problems.push(format!("{path}: {e}"));
        }
    };
    let token = cfg
        .api
        .token_file
        .clone()
        .unwrap_or_else(|| cfg.data_dir.join("api-token"));
    if token.exists() {
        check("api.token_file", &token);
    }
    if let Some(t) = &cfg.api.tls
        && t.key.is_file()
    {
        check("api.tls.key", &t.key);
    }
    for (i, c) in cfg.collectors.iter().enumerate() {
        for (path, key) in connector_secrets(&c.connector, &format!("collectors[{i}].connector")) {
            if key.is_file() {
                check(&path, &key);
            }
        }
    }
    if let Some(vigil_config::EncryptionConfig::KeyFile(p)) =
        cfg.storage.embedded().and_then(|e| e.encryption.as_ref())
    {
        check("storage.encryption.key_file", p);
    }
}

/// The store's spaces, retention and hot ages from the validated configuration.
pub fn spaces_config(s: &EmbeddedStorageConfig) -> SpacesConfig {
    SpacesConfig {
        retention: s.retention,
        hot_age: s.hot_age,
        tenants: s
            .tenants
            .iter()
            .map(|(name, t)| {
                (
                    name.clone(),
                    TenantSpaces {
                        retention: t.retention,
                        hot_age: t.hot_age,
                        spaces: t
                            .spaces
                            .iter()
                            .map(|sp| SpaceConfig {
                                name: sp.name.clone(),
                                condition: sp.condition.clone(),
                                retention: sp.retention,
                                hot_age: sp.hot_age,
                            })
                            .collect(),
                    },
                )
            })
            .collect(),
    }
}

/// The embedded store's configuration from the validated configuration; an error (for the
/// user) when the configuration chooses another store.
pub fn store_config(cfg: &Config) -> Result<EmbeddedConfig, UsageError> {
    let s = cfg.storage.embedded().ok_or_else(|| {
        UsageError(format!(
            "storage.type is {}: this works on the embedded store only",
            cfg.storage.kind()
        ))
    })?;
    Ok(EmbeddedConfig {
        fsync_interval: s.fsync_interval,
        segment_max_events: s.segment_max_events,
        segment_max_age: s.segment_max_age,
        memtable_max_bytes: usize::try_from(s.memtable_max_bytes).unwrap_or(usize::MAX),
        memtable_total_bytes: usize::try_from(s.memtable_total_bytes).unwrap_or(usize::MAX),
        spaces: spaces_config(s),
        retention_interval: s.retention_interval,
        min_free_bytes: s.min_free_bytes,
        min_free_percent: s.min_free_percent,
        keys: s.encryption.as_ref().map(|e| match e {
            vigil_config::EncryptionConfig::KeyFile(p) => KeySource::File(p.clone()),
            vigil_config::EncryptionConfig::KeyEnv(n) => KeySource::Env(n.clone()),
        }),
        tiers: TierOptions {
            cold_dir: s.tiers.cold_dir.clone(),
            cold_zstd_level: s.tiers.cold_zstd_level,
            interval: Some(s.tiers.interval),
            ..TierOptions::default()
        },
        ..EmbeddedConfig::new(&cfg.data_dir)
    })
}

/// The ClickHouse backend's configuration from the validated configuration.
pub fn clickhouse_config(c: &ClickHouseStorageConfig) -> ClickHouseConfig {
    let mut out = ClickHouseConfig::new(&c.url);
    out.database = c.database.clone();
    out.table = c.table.clone();
    out.user = c.user.clone();
    out.password = c.password.expose().to_owned();
    out.limits.max_execution_time = c.query_timeout;
    out
}

/// Opens the configured store: the embedded one in the data directory, or the ClickHouse
/// server (its database and table are created when missing).
pub fn open_store(cfg: &Config) -> anyhow::Result<Arc<dyn EventStore>> {
    Ok(match &cfg.storage {
        StorageConfig::Embedded(_) => Arc::new(
            EmbeddedStore::open(store_config(cfg)?)
                .with_context(|| format!("opening the store in {}", cfg.data_dir.display()))?,
        ),
        StorageConfig::ClickHouse(c) => Arc::new(
            ClickHouseStore::open(clickhouse_config(c))
                .with_context(|| format!("opening the ClickHouse store at {}", c.url))?,
        ),
    })
}

/// How long `vigil validate` waits for a ClickHouse server.
const CHECK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// What `vigil validate` finds only by asking: whether the ClickHouse server answers and
/// takes the credentials (nothing is created); `Ok(Some(what answered))`. The embedded store
/// needs nothing here (`Ok(None)`); a problem comes with its path.
pub fn check_storage(cfg: &Config) -> Result<Option<String>, String> {
    match &cfg.storage {
        StorageConfig::Embedded(_) => Ok(None),
        StorageConfig::ClickHouse(c) => {
            match ClickHouseStore::ping(&clickhouse_config(c), CHECK_TIMEOUT) {
                Ok(v) => Ok(Some(format!("ClickHouse {v} at {}", c.url))),
                Err(e) => Err(format!(
                    "storage.url: ClickHouse at {} does not answer: {e}",
                    c.url
                )),
            }
        }
    }
}

/// The chain factory for the pipeline workers.
pub fn chain_factory(
    collectors: &[BuiltCollector],
    telemetry: &Telemetry,
) -> impl Fn() -> Chain + Send + Sync + 'static + use<> {
    type Part = (
        SmolStr,
        Arc<dyn Normalizer>,
        ComponentMetrics,
        TimePolicy,
        Vec<(TransformConfig, ComponentMetrics)>,
    );
    let parts: Vec<Part> = collectors
        .iter()
        .map(|c| {
            let nm = telemetry.component("normalizer", &c.source.id);
            let ts = c
                .transforms
                .iter()
                .map(|t| {
                    let kind = transform_metrics_kind(&t.kind);
                    (t.clone(), telemetry.component(kind, &t.path))
                })
                .collect();
            (
                c.source.id.clone(),
                c.normalizer.clone(),
                nm,
                c.time_policy,
                ts,
            )
        })
        .collect();
    move || {
        let mut sources = HashMap::new();
        for (id, n, nm, policy, ts) in &parts {
            let transforms = ts
                .iter()
                // validated in build(): cannot fail here
                .filter_map(|(t, m)| build_transform(t).ok().map(|t| (t, m.clone())))
                .collect();
            sources.insert(
                id.clone(),
                SourceChain {
                    normalizer: (n.clone(), nm.clone()),
                    time_policy: *policy,
                    transforms,
                },
            );
        }
        Chain { sources }
    }
}

/// Whether the database of every `sql` connector answers (a connection made and closed, each
/// within the connector's `timeout`): the problems, with their paths. `vigil validate` asks
/// this, as `vigil up` would fail on it at start.
pub fn check_databases(cfg: &Config) -> Vec<String> {
    let mut problems = Vec::new();
    let Ok(rt) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return problems;
    };
    for (i, c) in cfg.collectors.iter().enumerate() {
        if let ConnectorConfig::Sql(s) = &c.connector {
            // an unusable URL is reported by `build` already
            let Ok(conn) = vigil_ingest::sql::SqlConnector::new(s.clone()) else {
                continue;
            };
            if let Err(e) = rt.block_on(conn.check()) {
                problems.push(format!("collectors[{i}].connector.url: {e}"));
            }
        }
    }
    problems
}
