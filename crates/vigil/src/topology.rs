//! From a validated [`Config`] to components: one explicit `match` per component type, no
//! registration magic. `vigil validate` calls [`build`] without starting anything, so every
//! problem that only shows when a component is built (a filter query, TLS material) is found
//! before `vigil up`.

use std::collections::HashMap;
use std::sync::Arc;

use smol_str::SmolStr;
use vigil_config::{CollectorConfig, Config, ConnectorConfig, EnrichmentConfig, NormalizerConfig};
use vigil_event::{Event, Value};
use vigil_ingest::syslog::{SyslogConnector, SyslogSettings, TlsSettings};
use vigil_normalize::SyslogNormalizer;
use vigil_pipeline::transforms::{Aggregation, AggregationRule, Enrich, Enrichment, QueryFilter};
use vigil_pipeline::{
    Chain, ComponentError, ComponentMetrics, Connector, Destination, Normalizer, SourceChain,
    SourceInfo, Telemetry, Transform,
};
use vigil_store::{EventStore, TenantId};

/// A collector's parts, built but not started.
pub struct BuiltCollector {
    pub source: SourceInfo,
    pub connector: Box<dyn Connector>,
    pub normalizer: Arc<dyn Normalizer>,
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
        idle_timeout: c.idle_timeout,
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

fn build_collector(
    c: &CollectorConfig,
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
        if let Some(b) = build_collector(c, &format!("collectors[{i}]"), &mut problems) {
            built.push(b);
        }
    }
    if problems.is_empty() {
        Ok(built)
    } else {
        Err(problems)
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
            (c.source.id.clone(), c.normalizer.clone(), nm, ts)
        })
        .collect();
    move || {
        let mut sources = HashMap::new();
        for (id, n, nm, ts) in &parts {
            let transforms = ts
                .iter()
                // validated in build(): cannot fail here
                .filter_map(|(spec, m)| spec.build().ok().map(|t| (t, m.clone())))
                .collect();
            sources.insert(
                id.clone(),
                SourceChain {
                    normalizer: (n.clone(), nm.clone()),
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
}

impl StoreDestination {
    pub fn new(store: Arc<dyn EventStore>, metrics: ComponentMetrics) -> StoreDestination {
        StoreDestination {
            store,
            metrics,
            tenants: HashMap::new(),
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
            self.store
                .append(&t, events)
                .map_err(|e| ComponentError::new(&self.metrics, e.to_string()))?;
        } else {
            let mut by: HashMap<SmolStr, Vec<Event>> = HashMap::new();
            for e in events {
                by.entry(e.meta.tenant.clone()).or_default().push(e.clone());
            }
            for (name, evs) in by {
                let t = self.tenant(&name)?;
                self.store
                    .append(&t, &evs)
                    .map_err(|e| ComponentError::new(&self.metrics, e.to_string()))?;
            }
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
