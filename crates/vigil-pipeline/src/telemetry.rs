//! One telemetry helper for every component: events in/out, bytes, errors and drops, with
//! reasons, readable as a snapshot (source status) and rendered in the Prometheus text format
//! (`/metrics`).
//!
//! Counters are plain atomics behind an `Arc`, so the hot path is one relaxed `fetch_add`; the
//! registry is only locked to register a component or to render.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use parking_lot::Mutex;
use smol_str::SmolStr;

/// The counters of one component.
#[derive(Debug, Default)]
pub struct Counters {
    /// Events (or records) received by the component.
    pub events_in: AtomicU64,
    /// Events passed on.
    pub events_out: AtomicU64,
    /// Bytes received.
    pub bytes_in: AtomicU64,
    /// Bytes passed on or written.
    pub bytes_out: AtomicU64,
    errors: Mutex<BTreeMap<SmolStr, u64>>,
    drops: Mutex<BTreeMap<SmolStr, u64>>,
    gauges: Mutex<BTreeMap<SmolStr, Arc<AtomicI64>>>,
}

/// A component's handle on its counters: cheap to clone, shared across its tasks.
#[derive(Debug, Clone)]
pub struct ComponentMetrics {
    kind: &'static str,
    id: SmolStr,
    counters: Arc<Counters>,
}

impl ComponentMetrics {
    /// A handle that is not registered anywhere (tests, tools).
    pub fn detached(kind: &'static str, id: &str) -> ComponentMetrics {
        ComponentMetrics {
            kind,
            id: SmolStr::new(id),
            counters: Arc::default(),
        }
    }

    /// The component kind: connector, normalizer, filter, enrichment, aggregation, destination.
    pub fn kind(&self) -> &'static str {
        self.kind
    }

    /// The component id from the config.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// `n` events received.
    #[inline]
    pub fn events_in(&self, n: u64) {
        self.counters.events_in.fetch_add(n, Ordering::Relaxed);
    }

    /// `n` events passed on.
    #[inline]
    pub fn events_out(&self, n: u64) {
        self.counters.events_out.fetch_add(n, Ordering::Relaxed);
    }

    /// `n` bytes received.
    #[inline]
    pub fn bytes_in(&self, n: u64) {
        self.counters.bytes_in.fetch_add(n, Ordering::Relaxed);
    }

    /// `n` bytes passed on or written.
    #[inline]
    pub fn bytes_out(&self, n: u64) {
        self.counters.bytes_out.fetch_add(n, Ordering::Relaxed);
    }

    /// `n` errors of kind `reason` (a short stable identifier such as `parse`, `oversized_frame`,
    /// `tls_handshake`). Errors do not lose data: the record is kept (raw) where there is one.
    pub fn error(&self, reason: &str, n: u64) {
        *self
            .counters
            .errors
            .lock()
            .entry(SmolStr::new(reason))
            .or_default() += n;
    }

    /// `n` events lost for `reason` (e.g. `kernel_udp_overflow`): reported, never hidden.
    pub fn drop(&self, reason: &str, n: u64) {
        *self
            .counters
            .drops
            .lock()
            .entry(SmolStr::new(reason))
            .or_default() += n;
    }

    /// Sets a drop counter to an absolute value read from elsewhere (the kernel's UDP drop
    /// count for the socket).
    pub fn set_drops(&self, reason: &str, total: u64) {
        self.counters
            .drops
            .lock()
            .insert(SmolStr::new(reason), total);
    }

    /// A gauge (open connections, queue depth).
    pub fn gauge(&self, name: &str) -> Arc<AtomicI64> {
        self.counters
            .gauges
            .lock()
            .entry(SmolStr::new(name))
            .or_default()
            .clone()
    }

    /// A snapshot of the counters.
    pub fn snapshot(&self) -> ComponentSnapshot {
        let c = &self.counters;
        ComponentSnapshot {
            kind: self.kind,
            id: self.id.clone(),
            events_in: c.events_in.load(Ordering::Relaxed),
            events_out: c.events_out.load(Ordering::Relaxed),
            bytes_in: c.bytes_in.load(Ordering::Relaxed),
            bytes_out: c.bytes_out.load(Ordering::Relaxed),
            errors: c.errors.lock().clone(),
            drops: c.drops.lock().clone(),
            gauges: c
                .gauges
                .lock()
                .iter()
                .map(|(k, v)| (k.clone(), v.load(Ordering::Relaxed)))
                .collect(),
        }
    }
}

/// Counters of one component at one instant.
#[derive(Debug, Clone, PartialEq)]
pub struct ComponentSnapshot {
    /// Component kind.
    pub kind: &'static str,
    /// Component id.
    pub id: SmolStr,
    /// Events received.
    pub events_in: u64,
    /// Events passed on.
    pub events_out: u64,
    /// Bytes received.
    pub bytes_in: u64,
    /// Bytes passed on.
    pub bytes_out: u64,
    /// Errors by reason.
    pub errors: BTreeMap<SmolStr, u64>,
    /// Drops by reason.
    pub drops: BTreeMap<SmolStr, u64>,
    /// Gauges by name.
    pub gauges: BTreeMap<SmolStr, i64>,
}

impl ComponentSnapshot {
    /// Total errors.
    pub fn error_total(&self) -> u64 {
        self.errors.values().sum()
    }
    /// Total drops.
    pub fn drop_total(&self) -> u64 {
        self.drops.values().sum()
    }
}

type ExtraRenderer = Box<dyn Fn(&mut String) + Send + Sync>;
type Collector = Box<dyn Fn(&mut MetricSet) + Send + Sync>;

/// Metrics owned outside the components (the store's figures per tenant), gathered at each
/// render. Samples of one metric stay together under one `# HELP`/`# TYPE` header, as the
/// exposition format requires, however many label sets (tenants) report it.
#[derive(Debug, Default)]
pub struct MetricSet {
    families: Vec<Family>,
}

#[derive(Debug)]
struct Family {
    name: &'static str,
    kind: &'static str,
    help: &'static str,
    samples: Vec<(String, u64)>,
}

impl MetricSet {
    /// A sample of the metric `name`, of `kind` `counter` or `gauge`, with its labels (values
    /// are escaped here).
    pub fn sample(
        &mut self,
        name: &'static str,
        kind: &'static str,
        help: &'static str,
        labels: &[(&str, &str)],
        value: u64,
    ) {
        let mut l = String::new();
        for (i, (k, v)) in labels.iter().enumerate() {
            let _ = write!(
                l,
                "{}{k}=\"{}\"",
                if i == 0 { "" } else { "," },
                escape_label(v)
            );
        }
        let family = match self.families.iter().position(|f| f.name == name) {
            Some(i) => &mut self.families[i],
            None => {
                self.families.push(Family {
                    name,
                    kind,
                    help,
                    samples: Vec::new(),
                });
                let last = self.families.len() - 1;
                &mut self.families[last]
            }
        };
        family.samples.push((l, value));
    }

    fn render(&self, out: &mut String) {
        for f in &self.families {
            let name = f.name;
            let _ = writeln!(out, "# HELP {name} {}\n# TYPE {name} {}", f.help, f.kind);
            for (labels, v) in &f.samples {
                if labels.is_empty() {
                    let _ = writeln!(out, "{name} {v}");
                } else {
                    let _ = writeln!(out, "{name}{{{labels}}} {v}");
                }
            }
        }
    }
}

/// The registry of every component's counters.
#[derive(Default, Clone)]
pub struct Telemetry {
    components: Arc<Mutex<Vec<ComponentMetrics>>>,
    extra: Arc<Mutex<Vec<ExtraRenderer>>>,
    collectors: Arc<Mutex<Vec<Collector>>>,
}

impl std::fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Telemetry")
            .field("components", &self.components.lock().len())
            .finish()
    }
}

impl Telemetry {
    /// An empty registry.
    pub fn new() -> Telemetry {
        Telemetry::default()
    }

    /// Registers (or returns the existing) counters of a component.
    pub fn component(&self, kind: &'static str, id: &str) -> ComponentMetrics {
        let mut all = self.components.lock();
        if let Some(c) = all.iter().find(|c| c.kind == kind && c.id == id) {
            return c.clone();
        }
        let c = ComponentMetrics::detached(kind, id);
        all.push(c.clone());
        c
    }

    /// Adds a renderer for metrics owned elsewhere (the store's counters), called on render.
    pub fn add_renderer(&self, f: impl Fn(&mut String) + Send + Sync + 'static) {
        self.extra.lock().push(Box::new(f));
    }

    /// Adds a collector of metrics owned elsewhere, called on render: the store's figures of
    /// every tenant go through here.
    pub fn add_collector(&self, f: impl Fn(&mut MetricSet) + Send + Sync + 'static) {
        self.collectors.lock().push(Box::new(f));
    }

    /// Snapshots of every component.
    pub fn snapshot(&self) -> Vec<ComponentSnapshot> {
        self.components
            .lock()
            .iter()
            .map(ComponentMetrics::snapshot)
            .collect()
    }

    /// Everything in the Prometheus text exposition format (version 0.0.4).
    pub fn render_prometheus(&self) -> String {
        let snaps = self.snapshot();
        let mut out = String::with_capacity(4096);
        let counters: [Counter; 4] = [
            (
                "vigil_component_events_in_total",
                "Events received by a component.",
                |s| s.events_in,
            ),
            (
                "vigil_component_events_out_total",
                "Events passed on by a component.",
                |s| s.events_out,
            ),
            (
                "vigil_component_bytes_in_total",
                "Bytes received by a component.",
                |s| s.bytes_in,
            ),
            (
                "vigil_component_bytes_out_total",
                "Bytes passed on or written by a component.",
                |s| s.bytes_out,
            ),
        ];
        for (name, help, get) in counters {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for s in &snaps {
                let _ = writeln!(out, "{name}{{{}}} {}", labels(s, None), get(s));
            }
        }
        for (name, help, pick) in [
            (
                "vigil_component_errors_total",
                "Errors by reason; the record is kept raw where there is one.",
                true,
            ),
            (
                "vigil_component_dropped_total",
                "Events lost, by reason.",
                false,
            ),
        ] {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for s in &snaps {
                let map = if pick { &s.errors } else { &s.drops };
                for (reason, n) in map {
                    let _ = writeln!(out, "{name}{{{}}} {n}", labels(s, Some(reason)));
                }
            }
        }
        let name = "vigil_component_gauge";
        let _ = writeln!(
            out,
            "# HELP {name} Component gauges (connections, queue depth).\n# TYPE {name} gauge"
        );
        for s in &snaps {
            for (g, v) in &s.gauges {
                let _ = writeln!(
                    out,
                    "{name}{{{},gauge=\"{}\"}} {v}",
                    labels(s, None),
                    escape_label(g)
                );
            }
        }
        for f in self.extra.lock().iter() {
            f(&mut out);
        }
        let mut set = MetricSet::default();
        for f in self.collectors.lock().iter() {
            f(&mut set);
        }
        set.render(&mut out);
        out
    }
}

fn labels(s: &ComponentSnapshot, reason: Option<&SmolStr>) -> String {
    let mut l = format!(
        "component_kind=\"{}\",component_id=\"{}\"",
        s.kind,
        escape_label(&s.id)
    );
    if let Some(r) = reason {
        let _ = write!(l, ",reason=\"{}\"", escape_label(r));
    }
    l
}

/// Escapes a Prometheus label value (`\`, `"` and newlines).
pub fn escape_label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// A counter family: metric name, help text and how to read it off a snapshot.
type Counter = (&'static str, &'static str, fn(&ComponentSnapshot) -> u64);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_render_in_prometheus_format() {
        let t = Telemetry::new();
        let c = t.component("connector", "syslog\"tcp");
        c.events_in(3);
        c.bytes_in(120);
        c.error("parse", 1);
        c.drop("kernel_udp_overflow", 2);
        c.gauge("connections").store(4, Ordering::Relaxed);
        assert_eq!(
            t.component("connector", "syslog\"tcp").snapshot().events_in,
            3
        );
        let text = t.render_prometheus();
        assert!(text.contains(
            "vigil_component_events_in_total{component_kind=\"connector\",component_id=\"syslog\\\"tcp\"} 3"
        ));
        assert!(text.contains("reason=\"parse\"} 1"));
        assert!(text.contains("vigil_component_dropped_total{component_kind=\"connector\",component_id=\"syslog\\\"tcp\",reason=\"kernel_udp_overflow\"} 2"));
        assert!(text.contains("gauge=\"connections\"} 4"));
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let value = line.rsplit(' ').next().unwrap();
            assert!(value.parse::<f64>().is_ok(), "bad sample line {line}");
        }
    }

    #[test]
    fn collected_metrics_keep_each_family_together() {
        let t = Telemetry::new();
        t.add_collector(|set| {
            for tenant in ["main", "a\"b"] {
                set.sample("x_events", "gauge", "Events.", &[("tenant", tenant)], 2);
                set.sample("x_total", "counter", "Total.", &[("tenant", tenant)], 3);
            }
        });
        let text = t.render_prometheus();
        let tail = &text[text.find("# HELP x_events").unwrap()..];
        assert_eq!(
            tail,
            "# HELP x_events Events.\n# TYPE x_events gauge\nx_events{tenant=\"main\"} 2\n\
             x_events{tenant=\"a\\\"b\"} 2\n# HELP x_total Total.\n# TYPE x_total counter\n\
             x_total{tenant=\"main\"} 3\nx_total{tenant=\"a\\\"b\"} 3\n"
        );
    }
}
