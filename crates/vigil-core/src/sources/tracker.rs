//! Per-source counters in memory: fed once per batch by [`SourceDestination`] and once a second
//! from the pipeline's telemetry, flushed to the metadata store every few seconds.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use parking_lot::Mutex;
use smol_str::SmolStr;
use vigil_event::Event;
use vigil_pipeline::{ComponentError, Destination, Telemetry};

use super::{SourceFlush, SourceKind, SourceRecord};
use crate::scope::TenantId;

/// Seconds kept for "EPS now".
const RECENT: usize = 16;
/// "EPS now" is the rate over the last this many whole seconds.
pub const EPS_NOW_SECS: i64 = 10;
/// Longest host part of a source id (longer names are cut at a character boundary).
const MAX_HOST_LEN: usize = 255;
/// The host source that takes a collector's events once [`TrackerOptions::max_sources`] is
/// reached.
pub const OVERFLOW_HOST: &str = "~other";

/// How many sources the tracker keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrackerOptions {
    /// Host sources held (default 10,000); past it a collector's new hosts count under
    /// `collector/~other`.
    pub max_sources: usize,
}

impl Default for TrackerOptions {
    fn default() -> TrackerOptions {
        TrackerOptions {
            max_sources: 10_000,
        }
    }
}

/// A configured collector: its id and tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectorSource {
    /// The collector's id in the configuration (the connector's telemetry id).
    pub id: String,
    /// Its tenant.
    pub tenant: TenantId,
}

/// A source as the tracker sees it now.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveSource {
    /// Tenant.
    pub tenant: TenantId,
    /// Source id.
    pub id: String,
    /// Kind.
    pub kind: SourceKind,
    /// Collector id.
    pub collector: String,
    /// Host name (host sources).
    pub host: Option<String>,
    /// Last sender address.
    pub ip: Option<String>,
    /// First seen (Unix ms).
    pub first_seen_ms: i64,
    /// Newest event's receive time (Unix ms).
    pub last_event_ms: Option<i64>,
    /// Events since first seen.
    pub events_total: u64,
    /// Parse errors since first seen.
    pub parse_errors_total: u64,
    /// Drops since first seen.
    pub drops_total: u64,
    /// Events per second over the last [`EPS_NOW_SECS`] whole seconds.
    pub eps_now: f64,
}

#[derive(Debug, Clone)]
struct Live {
    kind: SourceKind,
    collector: SmolStr,
    host: Option<SmolStr>,
    ip: Option<IpAddr>,
    first_seen_ms: i64,
    last_event_ms: Option<i64>,
    events_total: u64,
    parse_total: u64,
    drops_total: u64,
    // increments not yet flushed
    d_events: u64,
    d_parse: u64,
    d_drops: u64,
    d_last_event: Option<i64>,
    minutes: Vec<(i64, u64, u64, u64)>,
    dirty: bool,
    recent: [(i64, u32); RECENT],
}

impl Live {
    fn new(kind: SourceKind, collector: SmolStr, now_ms: i64) -> Live {
        Live {
            kind,
            collector,
            host: None,
            ip: None,
            first_seen_ms: now_ms,
            last_event_ms: None,
            events_total: 0,
            parse_total: 0,
            drops_total: 0,
            d_events: 0,
            d_parse: 0,
            d_drops: 0,
            d_last_event: None,
            minutes: Vec::new(),
            // a new source is written once even before its first event
            dirty: true,
            recent: [(i64::MIN, 0); RECENT],
        }
    }

    fn add(&mut self, at_ms: i64, events: u64, parse: u64, drops: u64) {
        if events == 0 && parse == 0 && drops == 0 {
            return;
        }
        self.events_total += events;
        self.parse_total += parse;
        self.drops_total += drops;
        self.d_events += events;
        self.d_parse += parse;
        self.d_drops += drops;
        if events > 0 {
            self.last_event_ms = Some(self.last_event_ms.map_or(at_ms, |l| l.max(at_ms)));
            self.d_last_event = Some(self.d_last_event.map_or(at_ms, |l| l.max(at_ms)));
        }
        let minute = at_ms - at_ms.rem_euclid(60_000);
        match self.minutes.iter_mut().rev().find(|m| m.0 == minute) {
            Some(m) => {
                m.1 += events;
                m.2 += parse;
                m.3 += drops;
            }
            None => self.minutes.push((minute, events, parse, drops)),
        }
        let sec = at_ms.div_euclid(1000);
        let slot = &mut self.recent[sec.rem_euclid(RECENT as i64) as usize];
        if slot.0 != sec {
            *slot = (sec, 0);
        }
        slot.1 = slot
            .1
            .saturating_add(u32::try_from(events).unwrap_or(u32::MAX));
        self.dirty = true;
    }

    fn eps_now(&self, now_ms: i64) -> f64 {
        let now_s = now_ms.div_euclid(1000);
        let n: u64 = self
            .recent
            .iter()
            .filter(|(s, _)| *s >= now_s - EPS_NOW_SECS && *s < now_s)
            .map(|(_, n)| u64::from(*n))
            .sum();
        n as f64 / EPS_NOW_SECS as f64
    }
}

/// What one batch adds to one host source.
#[derive(Debug, Default, Clone, Copy)]
struct Delta {
    events: u64,
    parse: u64,
    last_ms: i64,
    ip: Option<IpAddr>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum HostKey {
    Name(SmolStr),
    Ip(IpAddr),
    Unknown,
}

type BatchKey = (SmolStr, SmolStr, HostKey);

#[derive(Debug, Default)]
struct Inner {
    sources: HashMap<(TenantId, SmolStr), Live>,
    hosts: usize,
    /// The telemetry figures of each collector at the last sample: records in, parse errors,
    /// drops.
    seen: HashMap<SmolStr, (u64, u64, u64)>,
    /// Events of tenants that are not valid ids (a wiring bug): counted, not tracked.
    invalid_tenant: u64,
}

/// The per-source counters of one Vigil process.
#[derive(Debug)]
pub struct SourceTracker {
    inner: Mutex<Inner>,
    collectors: Vec<CollectorSource>,
    node: String,
    opts: TrackerOptions,
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn ms_time(ms: i64) -> crate::model::Time {
    chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

impl SourceTracker {
    /// A tracker for the configured collectors, reporting as `node` (the collector name).
    pub fn new(
        collectors: Vec<CollectorSource>,
        node: &str,
        opts: TrackerOptions,
    ) -> SourceTracker {
        let now = now_ms();
        let mut inner = Inner::default();
        for c in &collectors {
            let id = SmolStr::new(&c.id);
            inner.sources.insert(
                (c.tenant.clone(), id.clone()),
                Live::new(SourceKind::Collector, id, now),
            );
        }
        SourceTracker {
            inner: Mutex::new(inner),
            collectors,
            node: node.to_owned(),
            opts,
        }
    }

    /// Takes the sources the store knows (from earlier runs): their totals, first-seen and
    /// last-event times carry on, so a source silent since before a restart is still silent.
    pub fn seed(&self, records: Vec<SourceRecord>) {
        let mut g = self.inner.lock();
        for r in records {
            let key = (r.tenant.clone(), SmolStr::new(&r.id));
            let known = g.sources.contains_key(&key);
            if !known && r.kind == SourceKind::Host && g.hosts >= self.opts.max_sources {
                continue;
            }
            if !known && r.kind == SourceKind::Collector {
                // a collector no longer configured keeps its history in the store only
                continue;
            }
            let live = g
                .sources
                .entry(key)
                .or_insert_with(|| Live::new(r.kind, SmolStr::new(&r.collector), 0));
            live.first_seen_ms = r.first_seen.timestamp_millis();
            live.last_event_ms = r.last_event_at.map(|t| t.timestamp_millis());
            live.events_total = r.events_total;
            live.parse_total = r.parse_errors_total;
            live.drops_total = r.drops_total;
            live.host = r.host.as_deref().map(SmolStr::new);
            live.ip = r.ip.as_deref().and_then(|i| i.parse().ok());
            live.dirty = false;
            if !known && r.kind == SourceKind::Host {
                g.hosts += 1;
            }
        }
    }

    /// Counts one batch of events handed on by the pipeline (what [`SourceDestination`] does).
    pub fn count_batch(&self, events: &[Event]) {
        let mut local = HashMap::new();
        count_into(&mut local, events);
        self.merge(&mut local);
    }

    fn merge(&self, local: &mut HashMap<BatchKey, Delta>) {
        if local.is_empty() {
            return;
        }
        let mut g = self.inner.lock();
        for ((tenant, collector, host), d) in local.drain() {
            let Ok(tenant) = TenantId::new(&tenant) else {
                g.invalid_tenant += d.events;
                continue;
            };
            let host_name: SmolStr = match &host {
                HostKey::Name(n) => host_part(n),
                HostKey::Ip(ip) => SmolStr::new(ip.to_string()),
                HostKey::Unknown => SmolStr::new_static("-"),
            };
            let mut id = SmolStr::new(format!("{collector}/{host_name}"));
            let mut key = (tenant.clone(), id.clone());
            if !g.sources.contains_key(&key) {
                if g.hosts >= self.opts.max_sources {
                    id = SmolStr::new(format!("{collector}/{OVERFLOW_HOST}"));
                    key = (tenant.clone(), id.clone());
                }
                if !g.sources.contains_key(&key) {
                    g.hosts += 1;
                    let mut live = Live::new(SourceKind::Host, collector.clone(), d.last_ms);
                    live.host = Some(host_name.clone()).filter(|h| h != "-");
                    g.sources.insert(key.clone(), live);
                }
            }
            if let Some(live) = g.sources.get_mut(&key) {
                if d.ip.is_some() && live.ip != d.ip {
                    live.ip = d.ip;
                    live.dirty = true;
                }
                live.add(d.last_ms, d.events, d.parse, 0);
            }
        }
    }

    /// Reads the collectors' figures from the pipeline's telemetry (records in at the
    /// connector, parse errors at the normalizer, drops at the connector) and adds what grew
    /// since the last call. Called once a second.
    pub fn sample_components(&self, telemetry: &Telemetry) {
        let snaps = telemetry.snapshot();
        let now = now_ms();
        let mut g = self.inner.lock();
        for c in &self.collectors {
            let find = |kind: &str| {
                snaps
                    .iter()
                    .find(|s| s.kind == kind && s.id == c.id.as_str())
            };
            let records = find("connector").map_or(0, |s| s.events_in);
            let drops = find("connector").map_or(0, |s| s.drop_total());
            let parse =
                find("normalizer").map_or(0, |s| s.errors.get("parse").copied().unwrap_or(0));
            let id = SmolStr::new(&c.id);
            let before = g
                .seen
                .insert(id.clone(), (records, parse, drops))
                .unwrap_or((0, 0, 0));
            let delta = (
                records.saturating_sub(before.0),
                parse.saturating_sub(before.1),
                drops.saturating_sub(before.2),
            );
            if let Some(live) = g.sources.get_mut(&(c.tenant.clone(), id)) {
                live.add(now, delta.0, delta.1, delta.2);
            }
        }
    }

    /// Adds figures to a collector source directly (tests and tools that run no pipeline).
    pub fn add_collector(
        &self,
        tenant: &TenantId,
        id: &str,
        at_ms: i64,
        events: u64,
        parse: u64,
        drops: u64,
    ) {
        let mut g = self.inner.lock();
        if let Some(live) = g.sources.get_mut(&(tenant.clone(), SmolStr::new(id))) {
            live.add(at_ms, events, parse, drops);
        }
    }

    /// Every source now.
    pub fn snapshot(&self) -> Vec<LiveSource> {
        let now = now_ms();
        self.snapshot_at(now)
    }

    /// Every source, with EPS now as of `now_ms`.
    pub fn snapshot_at(&self, now_ms: i64) -> Vec<LiveSource> {
        let g = self.inner.lock();
        let mut out: Vec<LiveSource> = g
            .sources
            .iter()
            .map(|((tenant, id), l)| LiveSource {
                tenant: tenant.clone(),
                id: id.to_string(),
                kind: l.kind,
                collector: l.collector.to_string(),
                host: l.host.as_ref().map(|h| h.to_string()),
                ip: l.ip.map(|i| i.to_string()),
                first_seen_ms: l.first_seen_ms,
                last_event_ms: l.last_event_ms,
                events_total: l.events_total,
                parse_errors_total: l.parse_total,
                drops_total: l.drops_total,
                eps_now: l.eps_now(now_ms),
            })
            .collect();
        out.sort_by(|a, b| (&a.tenant, &a.id).cmp(&(&b.tenant, &b.id)));
        out
    }

    /// The increments since the last flush, for [`crate::MetaStore::record_sources`]; pass
    /// them back to [`SourceTracker::restore`] if the store refuses them.
    pub fn take_flush(&self) -> Vec<SourceFlush> {
        let mut g = self.inner.lock();
        let mut out = Vec::new();
        for ((tenant, id), l) in g.sources.iter_mut().filter(|(_, l)| l.dirty) {
            out.push(SourceFlush {
                tenant: tenant.clone(),
                id: id.to_string(),
                kind: l.kind,
                collector: l.collector.to_string(),
                node: self.node.clone(),
                host: l.host.as_ref().map(|h| h.to_string()),
                ip: l.ip.map(|i| i.to_string()),
                first_seen: ms_time(l.first_seen_ms),
                last_event_at: l.d_last_event.map(ms_time),
                events: l.d_events,
                parse_errors: l.d_parse,
                drops: l.d_drops,
                minutes: l
                    .minutes
                    .drain(..)
                    .map(|(m, e, p, d)| (ms_time(m), e, p, d))
                    .collect(),
            });
            l.d_events = 0;
            l.d_parse = 0;
            l.d_drops = 0;
            l.d_last_event = None;
            l.dirty = false;
        }
        out
    }

    /// Puts back increments the store did not take (they go with the next flush).
    pub fn restore(&self, flush: Vec<SourceFlush>) {
        let mut g = self.inner.lock();
        for f in flush {
            let Some(l) = g.sources.get_mut(&(f.tenant.clone(), SmolStr::new(&f.id))) else {
                continue;
            };
            l.d_events += f.events;
            l.d_parse += f.parse_errors;
            l.d_drops += f.drops;
            if let Some(t) = f.last_event_at {
                let t = t.timestamp_millis();
                l.d_last_event = Some(l.d_last_event.map_or(t, |x| x.max(t)));
            }
            for (m, e, p, d) in f.minutes {
                let m = m.timestamp_millis();
                match l.minutes.iter_mut().find(|x| x.0 == m) {
                    Some(x) => {
                        x.1 += e;
                        x.2 += p;
                        x.3 += d;
                    }
                    None => l.minutes.push((m, e, p, d)),
                }
            }
            l.dirty = true;
        }
    }

    /// Events whose tenant was not a valid id (not tracked).
    pub fn invalid_tenant_events(&self) -> u64 {
        self.inner.lock().invalid_tenant
    }
}

fn host_part(name: &str) -> SmolStr {
    let mut end = name.len().min(MAX_HOST_LEN);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    SmolStr::new(name[..end].to_lowercase())
}

fn count_into(local: &mut HashMap<BatchKey, Delta>, events: &[Event]) {
    for e in events {
        let host = match (&e.host.name, &e.host.hostname, e.meta.peer) {
            (Some(n), _, _) | (None, Some(n), _) if !n.is_empty() => HostKey::Name(n.clone()),
            (_, _, Some(ip)) => HostKey::Ip(ip),
            _ => HostKey::Unknown,
        };
        let d = local
            .entry((e.meta.tenant.clone(), e.meta.source_id.clone(), host))
            .or_default();
        d.events += 1;
        if e.meta.parse_error.is_some() {
            d.parse += 1;
        }
        d.last_ms = d.last_ms.max(e.meta.received.millis());
        if e.meta.peer.is_some() {
            d.ip = e.meta.peer;
        }
    }
}

/// The pipeline destination that counts every batch per host source: one pass over the
/// batch into a map of its own, one merge into the tracker under its lock.
#[derive(Debug)]
pub struct SourceDestination {
    tracker: Arc<SourceTracker>,
    local: HashMap<BatchKey, Delta>,
}

impl SourceDestination {
    /// A destination feeding `tracker`.
    pub fn new(tracker: Arc<SourceTracker>) -> SourceDestination {
        SourceDestination {
            tracker,
            local: HashMap::new(),
        }
    }
}

impl Destination for SourceDestination {
    fn write(&mut self, events: &[Event]) -> Result<(), ComponentError> {
        count_into(&mut self.local, events);
        self.tracker.merge(&mut self.local);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), ComponentError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(tenant: &str, source: &str, host: Option<&str>, peer: Option<&str>, at: i64) -> Event {
        let mut e = Event::default();
        e.meta.tenant = tenant.into();
        e.meta.source_id = source.into();
        e.host.name = host.map(SmolStr::new);
        e.meta.peer = peer.and_then(|p| p.parse().ok());
        e.meta.received = vigil_event::Timestamp::from_millis(at);
        e
    }

    fn acme() -> TenantId {
        TenantId::new("acme").unwrap_or_else(|_| TenantId::main())
    }

    #[test]
    fn batches_count_per_host_and_flush_increments_once() {
        let t = SourceTracker::new(
            vec![CollectorSource {
                id: "fw".into(),
                tenant: acme(),
            }],
            "node1",
            TrackerOptions::default(),
        );
        let mut e3 = ev("acme", "fw", None, Some("192.0.2.7"), 61_000);
        e3.meta.parse_error = Some("bad".into());
        t.count_batch(&[
            ev("acme", "fw", Some("Web1"), Some("192.0.2.1"), 1_000),
            ev("acme", "fw", Some("web1"), Some("192.0.2.1"), 2_000),
            e3,
        ]);
        let snap = t.snapshot_at(3_000);
        let ids: Vec<&str> = snap.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, ["fw", "fw/192.0.2.7", "fw/web1"]);
        let web = &snap[2];
        assert_eq!((web.events_total, web.last_event_ms), (2, Some(2_000)));
        assert_eq!(web.ip.as_deref(), Some("192.0.2.1"));
        assert_eq!(web.eps_now, 0.2);
        assert_eq!(snap[1].parse_errors_total, 1);
        let flush = t.take_flush();
        let web = flush
            .iter()
            .find(|f| f.id == "fw/web1")
            .map(|f| (f.events, f.minutes.clone()));
        assert_eq!(web, Some((2, vec![(ms_time(0), 2, 0, 0)])));
        let other = flush
            .iter()
            .find(|f| f.id == "fw/192.0.2.7")
            .map(|f| f.minutes.clone());
        assert_eq!(other, Some(vec![(ms_time(60_000), 1, 1, 0)]));
        // nothing new: nothing to flush; a refused flush comes back whole
        assert!(t.take_flush().is_empty());
        t.restore(flush);
        let again = t.take_flush();
        assert_eq!(again.iter().map(|f| f.events).sum::<u64>(), 3);
    }

    #[test]
    fn hosts_past_the_cap_count_under_the_overflow_source() {
        let t = SourceTracker::new(Vec::new(), "n", TrackerOptions { max_sources: 2 });
        let batch: Vec<Event> = (0..5)
            .map(|i| ev("acme", "fw", Some(&format!("h{i}")), None, 1_000))
            .collect();
        t.count_batch(&batch);
        let snap = t.snapshot_at(2_000);
        assert_eq!(snap.len(), 3, "{snap:?}");
        assert_eq!(snap.iter().map(|s| s.events_total).sum::<u64>(), 5);
        assert!(
            snap.iter()
                .any(|s| s.id == "fw/~other" && s.events_total == 3)
        );
    }

    #[test]
    fn collector_figures_come_from_telemetry_increments() {
        let tel = Telemetry::new();
        let t = SourceTracker::new(
            vec![CollectorSource {
                id: "fw".into(),
                tenant: acme(),
            }],
            "n",
            TrackerOptions::default(),
        );
        let c = tel.component("connector", "fw");
        let n = tel.component("normalizer", "fw");
        c.events_in(10);
        c.drop("kernel_udp_overflow", 2);
        n.error("parse", 3);
        t.sample_components(&tel);
        c.events_in(5);
        t.sample_components(&tel);
        let s = t.snapshot();
        let fw = s
            .iter()
            .find(|s| s.id == "fw")
            .map(|s| (s.events_total, s.parse_errors_total, s.drops_total));
        assert_eq!(fw, Some((15, 3, 2)));
    }
}
