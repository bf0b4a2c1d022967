//! From a validated [`Config`] to components: one explicit `match` per component type, no
//! registration magic. `vigil validate` calls [`build`] without starting anything, so every
//! problem that only shows when a component is built (a filter query, TLS material) is found
//! before `vigil up`.

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::Context as _;
use smol_str::SmolStr;
use vigil_config::{ClickHouseStorageConfig, EmbeddedStorageConfig, StorageConfig};
use vigil_config::{CollectorConfig, Config, ConnectorConfig, EnrichmentConfig, NormalizerConfig};
use vigil_event::{Event, TimePolicy, Timestamp, Value};
use vigil_ingest::syslog::{SyslogConnector, SyslogSettings, TlsSettings};
use vigil_normalize::SyslogNormalizer;
use vigil_pipeline::transforms::{Aggregation, AggregationRule, Enrich, Enrichment, QueryFilter};
use vigil_pipeline::{
    Chain, ComponentError, ComponentMetrics, Connector, Destination, Normalizer, SourceChain,
    SourceInfo, Telemetry, Transform,
};
use vigil_store::clickhouse::{ClickHouseConfig, ClickHouseStore};
use vigil_store::embedded::{
    EmbeddedConfig, EmbeddedStore, KeySource, SpaceConfig, SpacesConfig, TenantSpaces, TierOptions,
};
use vigil_store::{EventStore, StoreError, TenantId};

use crate::UsageError;

/// A collector's parts, built but not started.
pub struct BuiltCollector {
    pub source: SourceInfo,
    pub connector: Box<dyn Connector>,
    pub normalizer: Arc<dyn Normalizer>,
    /// What happens to implausible source timestamps (`pipeline.max_future_skew`,
    /// `pipeline.min_timestamp`).
    pub time_policy: TimePolicy,
    /// Transform factories: each worker gets its own instances.
    pub transforms: Vec<(String, &'static str, TransformSpec)>,
}

/// What a transform is built from (cheap to rebuild per worker).
#[derive(Clone)]
pub enum TransformSpec {
    Filter { query: String, keep: bool },
    Enrichment(Vec<Enrich>),
    Aggregation(Vec<vigil_config::AggregationConfig>),
}

impl TransformSpec {
    fn build(&self) -> Result<Box<dyn Transform>, String> {
        Ok(match self {
            TransformSpec::Filter { query, keep } => Box::new(QueryFilter::new(query, *keep)?),
            TransformSpec::Enrichment(steps) => Box::new(Enrichment::new(steps.clone())?),
            TransformSpec::Aggregation(rules) => {
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
}

fn syslog_settings(c: &vigil_config::SyslogConfig) -> SyslogSettings {
    SyslogSettings {
        udp: c.udp,
        tcp: c.tcp,
        tls: c.tls.as_ref().map(|(listen, files)| TlsSettings {
            listen: *listen,
            cert_path: files.cert.clone(),
            key_path: files.key.clone(),
            client_ca_path: files.client_ca.clone(),
        }),
        max_frame_size: c.max_frame_size,
        max_connections: c.max_connections,
        max_connections_per_ip: c.max_connections_per_ip,
        idle_timeout: c.idle_timeout,
        frame_timeout: c.frame_timeout,
        tls_handshake_timeout: c.tls_handshake_timeout,
        udp_recv_buffer: Some(c.udp_recv_buffer),
        batch_max: 1024,
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

fn build_collector(
    c: &CollectorConfig,
    time_policy: TimePolicy,
    path: &str,
    problems: &mut Vec<String>,
) -> Option<BuiltCollector> {
    let source = SourceInfo {
        id: SmolStr::new(&c.id),
        tenant: SmolStr::new(&c.tenant),
        collector: collector_name(),
    };
    let connector: Option<Box<dyn Connector>> = match &c.connector {
        ConnectorConfig::Syslog(s) => match SyslogConnector::new(syslog_settings(s)) {
            Ok(conn) => Some(Box::new(conn)),
            Err(e) => {
                problems.push(format!("{path}.connector: {e}"));
                None
            }
        },
    };
    let npath = format!("{path}.normalizer");
    let normalizer: Arc<dyn Normalizer> = match &c.normalizer {
        NormalizerConfig::Syslog { timezone } => Arc::new(SyslogNormalizer::new(*timezone)),
        NormalizerConfig::Pack { name, timezone } => match pack(name, None) {
            Ok(n) => Arc::new(vigil_normalize::NormalizerTree::new(n, *timezone)),
            Err(e) => {
                problems.push(format!("{npath}: {e}"));
                Arc::new(SyslogNormalizer::new(*timezone))
            }
        },
        NormalizerConfig::File {
            path: file,
            timezone,
        } => match pack("", Some(file)) {
            Ok(n) => Arc::new(vigil_normalize::NormalizerTree::new(n, *timezone)),
            Err(e) => {
                problems.push(format!("{npath}: {e}"));
                Arc::new(SyslogNormalizer::new(*timezone))
            }
        },
        NormalizerConfig::Auto { timezone } => {
            match vigil_normalize::Library::builtin()
                .map_err(|e| e.to_string())
                .and_then(|lib| {
                    vigil_normalize::AutoNormalizer::new(&lib, *timezone).map_err(|e| e.to_string())
                }) {
                Ok(a) => Arc::new(a),
                Err(e) => {
                    problems.push(format!("{npath}: {e}"));
                    Arc::new(SyslogNormalizer::new(*timezone))
                }
            }
        }
    };
    let mut transforms = Vec::new();
    for f in &c.filters {
        let spec = TransformSpec::Filter {
            query: f.query.clone(),
            keep: f.keep,
        };
        match spec.build() {
            Ok(_) => transforms.push((f.path.clone(), "filter", spec)),
            Err(e) => problems.push(format!("{}: invalid query:\n{e}", f.path)),
        }
    }
    if !c.enrichment.is_empty() {
        let steps: Vec<Enrich> = c
            .enrichment
            .iter()
            .map(|e| match e {
                EnrichmentConfig::Set { field, value } => {
                    Enrich::Set(field.clone(), Value::from(value.as_str()))
                }
                EnrichmentConfig::Copy { from, to } => Enrich::Copy(from.clone(), to.clone()),
            })
            .collect();
        let spec = TransformSpec::Enrichment(steps);
        match spec.build() {
            Ok(_) => transforms.push((format!("{path}.enrichment"), "enrichment", spec)),
            Err(e) => problems.push(format!("{path}.enrichment: {e}")),
        }
    }
    if !c.aggregation.is_empty() {
        let spec = TransformSpec::Aggregation(c.aggregation.clone());
        match spec.build() {
            Ok(_) => transforms.push((format!("{path}.aggregation"), "aggregation", spec)),
            Err(e) => problems.push(format!("invalid aggregation rule: {e}")),
        }
    }
    Some(BuiltCollector {
        source,
        connector: connector?,
        normalizer,
        time_policy,
        transforms,
    })
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

/// Builds every collector, collecting every problem.
pub fn build(cfg: &Config) -> Result<Vec<BuiltCollector>, Vec<String>> {
    let mut problems = Vec::new();
    let mut built = Vec::new();
    for (i, c) in cfg.collectors.iter().enumerate() {
        let policy = time_policy(&cfg.pipeline);
        if let Some(b) = build_collector(c, policy, &format!("collectors[{i}]"), &mut problems) {
            built.push(b);
        }
    }
    // storage space conditions are queries: compiled here so that `vigil validate` finds them
    if let Some(e) = cfg.storage.embedded() {
        for p in spaces_config(e).problems() {
            problems.push(format!("storage.{p}"));
        }
    }
    secret_problems(cfg, &mut problems);
    if problems.is_empty() {
        Ok(built)
    } else {
        Err(problems)
    }
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
        match &c.connector {
            ConnectorConfig::Syslog(s) => {
                if let Some((_, files)) = &s.tls
                    && files.key.is_file()
                {
                    check(&format!("collectors[{i}].connector.tls.key"), &files.key);
                }
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
        Vec<(TransformSpec, ComponentMetrics)>,
    );
    let parts: Vec<Part> = collectors
        .iter()
        .map(|c| {
            let nm = telemetry.component("normalizer", &c.source.id);
            let ts = c
                .transforms
                .iter()
                .map(|(id, kind, spec)| (spec.clone(), telemetry.component(kind, id)))
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
                .filter_map(|(spec, m)| spec.build().ok().map(|t| (t, m.clone())))
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

/// The store as the pipeline's destination.
pub struct StoreDestination {
    pub store: Arc<dyn EventStore>,
    pub metrics: ComponentMetrics,
    tenants: HashMap<SmolStr, TenantId>,
    /// Tenants of the batch being retried that were already stored (a mixed batch whose
    /// append failed for a later tenant is retried without storing the earlier ones twice).
    done: Vec<SmolStr>,
    /// Whether the last write failed because the disk was full (logged once per episode).
    disk_full: bool,
}

impl StoreDestination {
    pub fn new(store: Arc<dyn EventStore>, metrics: ComponentMetrics) -> StoreDestination {
        StoreDestination {
            store,
            metrics,
            tenants: HashMap::new(),
            done: Vec::new(),
            disk_full: false,
        }
    }

    fn tenant(&mut self, name: &SmolStr) -> Result<TenantId, ComponentError> {
        if let Some(t) = self.tenants.get(name) {
            return Ok(t.clone());
        }
        let t =
            TenantId::new(name).map_err(|e| ComponentError::new(&self.metrics, e.to_string()))?;
        self.tenants.insert(name.clone(), t.clone());
        Ok(t)
    }
}

impl StoreDestination {
    /// An append error for the pipeline, which retries the batch with backoff (the bounded
    /// queues behind it fill and hold the sources back): nothing is dropped. A full disk is
    /// reported once when it starts, not on every retry.
    fn append_err(&mut self, e: StoreError) -> ComponentError {
        if let StoreError::DiskFull { .. } = e {
            if !self.disk_full {
                self.disk_full = true;
                tracing::error!(error = %e, "storage refuses events: disk full; holding them and retrying");
            }
            self.metrics.error("disk_full", 1);
        }
        ComponentError::new(&self.metrics, e.to_string())
    }
}

impl Destination for StoreDestination {
    fn write(&mut self, events: &[Event]) -> Result<(), ComponentError> {
        // batches are almost always one tenant: append them whole, split only when mixed
        let first = match events.first() {
            Some(e) => e.meta.tenant.clone(),
            None => return Ok(()),
        };
        let bytes: usize = events.iter().map(|e| e.raw.len()).sum();
        if events.iter().all(|e| e.meta.tenant == first) {
            let t = self.tenant(&first)?;
            if let Err(e) = self.store.append(&t, events) {
                return Err(self.append_err(e));
            }
        } else {
            let mut by: Vec<(SmolStr, Vec<Event>)> = Vec::new();
            for e in events {
                match by.iter_mut().find(|(t, _)| *t == e.meta.tenant) {
                    Some((_, v)) => v.push(e.clone()),
                    None => by.push((e.meta.tenant.clone(), vec![e.clone()])),
                }
            }
            for (name, evs) in by {
                if self.done.contains(&name) {
                    continue;
                }
                let t = self.tenant(&name)?;
                if let Err(e) = self.store.append(&t, &evs) {
                    return Err(self.append_err(e));
                }
                self.done.push(name);
            }
            self.done.clear();
        }
        if self.disk_full {
            self.disk_full = false;
            tracing::info!("storage accepts events again");
        }
        self.metrics.bytes_out(bytes as u64);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), ComponentError> {
        for t in self.tenants.values() {
            self.store
                .flush(t)
                .map_err(|e| ComponentError::new(&self.metrics, e.to_string()))?;
        }
        Ok(())
    }
}
