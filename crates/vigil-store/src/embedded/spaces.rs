//! Storage spaces (KUMA's term): per tenant, named partitions of its events, each with its own
//! retention and hot age, chosen per event by the first space whose condition (a query in
//! Vigil's language) matches; the `default` space takes the rest.
//!
//! # Layout
//! Each space is a *partition*: its own WAL, memtable, segments and manifest, so that
//! retention deletes whole files and never rewrites one.
//! ```text
//! <data_dir>/events/<tenant>/{wal,segments,cold,quarantine,manifest.log}   the default space
//! <data_dir>/events/<tenant>/spaces/<space>/{wal,segments,cold,...}        each other space
//! ```
//! The default space is the tenant directory itself, so a data directory from before spaces
//! (or a tenant without spaces) keeps its layout and its data.
//!
//! # One tenant, several partitions
//! Searches and aggregations over a tenant plan the blocks of all its partitions together
//! (newest first across them, counts summed), unless [`SearchRequest::space`] names one.
//! LSNs are per partition; what [`EventStore::append`] returns for a tenant with spaces is a
//! tenant-level *ticket* (the events appended so far, over all partitions), and
//! [`EventStore::wait_durable`] maps it back to a per-partition LSN for each partition. A
//! tenant with one partition returns that partition's LSN, exactly as before spaces.
//!
//! A space directory that is no longer configured stays readable (searched with the tenant's
//! default retention); nothing new is routed to it.
//!
//! [`SearchRequest::space`]: crate::SearchRequest::space
//! [`EventStore::append`]: crate::EventStore::append
//! [`EventStore::wait_durable`]: crate::EventStore::wait_durable

use std::collections::{BTreeMap, VecDeque};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use smol_str::SmolStr;
use tracing::warn;
use vigil_event::Event;
use vigil_query::CompiledFilter;

use super::{Inner, Partition};
use crate::record::{EventRecord, FieldCache};
use crate::{EventSchema, Lsn, StoreError, StoreStats, TenantId};

/// Sub-directory of a tenant holding its non-default spaces.
pub const SPACES_DIR: &str = "spaces";
/// Sub-directory of a partition holding sealed segments of the hot tier.
pub const HOT_DIR: &str = "segments";
/// Sub-directory of a partition holding sealed segments of the cold tier.
pub const COLD_DIR: &str = "cold";
/// The name of the space that takes events no other space's condition matches.
pub const DEFAULT_SPACE: &str = "default";

/// One storage space of a tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpaceConfig {
    /// Name (a directory name: 1–64 of `a-z 0-9 _ -`, not `default`).
    pub name: String,
    /// The events that go here: a query filter (`event.kind:alert`, `observer.type =
    /// "firewall"`). The first space whose condition matches takes the event.
    pub condition: String,
    /// Events older than this (by `@timestamp`) are deleted; `None` inherits the tenant's.
    pub retention: Option<Duration>,
    /// Segments older than this move to the cold tier; `None` inherits the tenant's.
    pub hot_age: Option<Duration>,
}

/// Spaces and defaults of one tenant.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TenantSpaces {
    /// Retention of the default space (and of spaces that set none); `None` inherits
    /// [`SpacesConfig::retention`].
    pub retention: Option<Duration>,
    /// Hot age of the default space (and of spaces that set none); `None` inherits
    /// [`SpacesConfig::hot_age`].
    pub hot_age: Option<Duration>,
    /// The spaces, in routing order.
    pub spaces: Vec<SpaceConfig>,
}

/// Spaces, retention and hot ages of every tenant.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpacesConfig {
    /// Retention of every tenant that sets none; `None` keeps events forever.
    pub retention: Option<Duration>,
    /// Hot age of every tenant that sets none; `None` keeps segments hot.
    pub hot_age: Option<Duration>,
    /// Per-tenant settings, by tenant name.
    pub tenants: BTreeMap<String, TenantSpaces>,
}

/// The effective settings of one space.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpaceSettings {
    /// Space name (`default` for the default space).
    pub name: SmolStr,
    /// Routing condition (`None` for the default space and unconfigured ones).
    pub condition: Option<String>,
    /// Effective retention.
    pub retention: Option<Duration>,
    /// Effective hot age (read by the tiering job).
    pub hot_age: Option<Duration>,
}

impl SpacesConfig {
    /// The effective spaces of `tenant`: the default space first, then the configured ones in
    /// routing order.
    pub fn settings(&self, tenant: &str) -> Vec<SpaceSettings> {
        let t = self.tenants.get(tenant);
        let retention = t.and_then(|t| t.retention).or(self.retention);
        let hot_age = t.and_then(|t| t.hot_age).or(self.hot_age);
        let mut out = vec![SpaceSettings {
            name: SmolStr::new_static(DEFAULT_SPACE),
            condition: None,
            retention,
            hot_age,
        }];
        for s in t.map(|t| t.spaces.as_slice()).unwrap_or_default() {
            out.push(SpaceSettings {
                name: SmolStr::new(&s.name),
                condition: Some(s.condition.clone()),
                retention: s.retention.or(retention),
                hot_age: s.hot_age.or(hot_age),
            });
        }
        out
    }

    /// Every problem, with its path (`tenants.main.spaces[1].condition: ...`).
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        let dur = |out: &mut Vec<String>, path: &str, d: Option<Duration>| {
            if d.is_some_and(|d| d.is_zero()) {
                out.push(format!("{path}: must be more than 0"));
            }
        };
        dur(&mut out, "retention", self.retention);
        dur(&mut out, "hot_age", self.hot_age);
        for (tenant, t) in &self.tenants {
            let tp = format!("tenants.{tenant}");
            if let Err(e) = TenantId::new(tenant) {
                out.push(format!("{tp}: {e}"));
            }
            dur(&mut out, &format!("{tp}.retention"), t.retention);
            dur(&mut out, &format!("{tp}.hot_age"), t.hot_age);
            let mut seen = std::collections::HashSet::new();
            for (i, s) in t.spaces.iter().enumerate() {
                let sp = format!("{tp}.spaces[{i}]");
                if s.name == DEFAULT_SPACE {
                    out.push(format!(
                        "{sp}.name: 'default' is the space of events no condition matches; choose another name"
                    ));
                } else if let Err(e) = TenantId::new(&s.name) {
                    out.push(format!(
                        "{sp}.name: {}",
                        e.to_string().replace("tenant name", "space name")
                    ));
                } else if !seen.insert(s.name.as_str()) {
                    out.push(format!("{sp}.name: duplicate space '{}'", s.name));
                }
                if let Err(e) = compile_condition(&s.condition) {
                    out.push(format!("{sp}.condition: {e}"));
                }
                dur(&mut out, &format!("{sp}.retention"), s.retention);
                dur(&mut out, &format!("{sp}.hot_age"), s.hot_age);
            }
        }
        out
    }
}

fn compile_condition(q: &str) -> Result<CompiledFilter, String> {
    if q.trim().is_empty() {
        return Err("the condition is empty".into());
    }
    let parsed = vigil_query::parse_with(q, &EventSchema).map_err(|e| e.to_string())?;
    if !parsed.stages.is_empty() {
        return Err("a condition is a filter only; remove the `| ...` stages".into());
    }
    CompiledFilter::new(&parsed.filter).map_err(|e| e.to_string())
}

/// Which partition an event goes to: the first matching condition, else the default (0).
#[derive(Debug)]
struct Router {
    /// Partition index and condition, in routing order.
    rules: Vec<(usize, CompiledFilter)>,
}

impl Router {
    fn route(&self, ev: &Event, cache: &FieldCache) -> usize {
        let r = EventRecord::with_cache(ev, cache);
        self.rules
            .iter()
            .find(|(_, f)| f.matches(&r))
            .map_or(0, |(i, _)| *i)
    }
}

#[derive(Debug, Default)]
struct Tickets {
    /// The last ticket handed out.
    last: u64,
    /// The last ticket known durable.
    durable: u64,
    /// Tickets not yet known durable, with each partition's last LSN when they were issued.
    pending: VecDeque<(u64, Vec<u64>)>,
}

/// A tenant: its partitions (spaces) and how events are routed to them.
#[derive(Debug)]
pub(crate) struct TenantSet {
    pub(crate) name: TenantId,
    /// Index 0 is the default space; then the configured spaces in routing order; then space
    /// directories found on disk that are no longer configured.
    pub(crate) parts: Vec<Arc<Partition>>,
    router: Router,
    tickets: Mutex<Tickets>,
}

impl TenantSet {
    /// Opens (and recovers) every partition of a tenant.
    pub(crate) fn open(inner: &Inner, name: &TenantId) -> Result<TenantSet, StoreError> {
        let tenant_dir = inner.root.join(name.as_str());
        let settings = inner.cfg.spaces.settings(name.as_str());
        let mut parts = Vec::with_capacity(settings.len());
        let mut rules = Vec::new();
        for (i, s) in settings.iter().enumerate() {
            let dir = if i == 0 {
                tenant_dir.clone()
            } else {
                tenant_dir.join(SPACES_DIR).join(s.name.as_str())
            };
            if let Some(c) = &s.condition {
                let f = compile_condition(c).map_err(|e| {
                    StoreError::Invalid(format!(
                        "space '{}' of tenant '{name}': condition: {e}",
                        s.name
                    ))
                })?;
                rules.push((i, f));
            }
            parts.push(Partition::open_recovered(inner, name, dir, s.clone())?);
        }
        // Spaces on disk that are no longer configured: readable, nothing routed to them.
        let default = settings[0].clone();
        for (dir_name, dir) in list_dirs(&tenant_dir.join(SPACES_DIR))? {
            if settings.iter().any(|s| s.name == dir_name) {
                continue;
            }
            if TenantId::new(&dir_name).is_err() {
                warn!(tenant = %name, dir = %dir.display(), "skipping a directory that is not a space");
                continue;
            }
            warn!(tenant = %name, space = %dir_name,
                  "space on disk is not configured: its events stay searchable under the tenant's default retention; nothing new goes there");
            let s = SpaceSettings {
                name: SmolStr::new(&dir_name),
                condition: None,
                ..default.clone()
            };
            parts.push(Partition::open_recovered(inner, name, dir, s)?);
        }
        let last: u64 = parts.iter().map(|p| p.last_lsn()).sum();
        Ok(TenantSet {
            name: name.clone(),
            parts,
            router: Router { rules },
            tickets: Mutex::new(Tickets {
                last,
                durable: last,
                pending: VecDeque::new(),
            }),
        })
    }

    fn single(&self) -> Option<&Arc<Partition>> {
        match self.parts.as_slice() {
            [p] => Some(p),
            _ => None,
        }
    }

    /// Routes the batch to its spaces and appends each part; returns the tenant-level LSN.
    pub(crate) fn append(&self, inner: &Inner, events: &[Event]) -> Result<Lsn, StoreError> {
        if let Some(p) = self.single() {
            return p.append(inner, events);
        }
        let cache = FieldCache::new();
        let routes: Vec<usize> = events
            .iter()
            .map(|e| self.router.route(e, &cache))
            .collect();
        if let Some(&first) = routes.first()
            && routes.iter().all(|&r| r == first)
        {
            self.parts[first].append(inner, events)?;
        } else {
            // Refuse before writing anything when a target partition is failed, so that a
            // retried batch is not stored twice in the partitions that took their part.
            for &r in &routes {
                self.parts[r].check_writable()?;
            }
            let mut groups: Vec<Vec<Event>> = vec![Vec::new(); self.parts.len()];
            for (ev, &r) in events.iter().zip(&routes) {
                groups[r].push(ev.clone());
            }
            for (i, g) in groups.iter().enumerate() {
                if !g.is_empty() {
                    self.parts[i].append(inner, g)?;
                }
            }
        }
        let mut t = self.tickets.lock();
        t.last += events.len() as u64;
        let snapshot = self.parts.iter().map(|p| p.written_lsn()).collect();
        let last = t.last;
        t.pending.push_back((last, snapshot));
        self.prune(&mut t);
        Ok(last)
    }

    /// The last LSN (ticket) handed out.
    pub(crate) fn last_lsn(&self) -> Lsn {
        match self.single() {
            Some(p) => p.last_lsn(),
            None => self.tickets.lock().last,
        }
    }

    fn prune(&self, t: &mut Tickets) {
        while let Some((k, snap)) = t.pending.front() {
            if snap
                .iter()
                .zip(&self.parts)
                .all(|(&lsn, p)| p.durable_lsn() >= lsn)
            {
                t.durable = *k;
                t.pending.pop_front();
            } else {
                break;
            }
        }
        if t.pending.is_empty() {
            t.durable = t.last;
        }
    }

    pub(crate) fn wait_durable(&self, lsn: Lsn, timeout: Duration) -> Result<(), StoreError> {
        if let Some(p) = self.single() {
            return p.wait_durable(lsn, timeout);
        }
        let snapshot = {
            let mut t = self.tickets.lock();
            if lsn > t.last {
                return Err(StoreError::Invalid(format!("LSN {lsn} was never assigned")));
            }
            self.prune(&mut t);
            if lsn <= t.durable {
                return Ok(());
            }
            t.pending
                .iter()
                .find(|(k, _)| *k >= lsn)
                .map(|(_, s)| s.clone())
        };
        let Some(snapshot) = snapshot else {
            return Ok(());
        };
        let deadline = Instant::now() + timeout;
        for (p, l) in self.parts.iter().zip(snapshot) {
            p.wait_durable(l, deadline.saturating_duration_since(Instant::now()))?;
        }
        self.prune(&mut self.tickets.lock());
        Ok(())
    }

    pub(crate) fn flush(&self, inner: &Inner) -> Result<(), StoreError> {
        for p in &self.parts {
            p.flush(inner)?;
        }
        if self.single().is_none() {
            self.prune(&mut self.tickets.lock());
        }
        Ok(())
    }

    /// The tenant's figures: partitions summed.
    pub(crate) fn stats(&self) -> StoreStats {
        if let Some(p) = self.single() {
            return p.stats();
        }
        let mut s = StoreStats::default();
        for p in &self.parts {
            s.add(&p.stats());
        }
        let mut t = self.tickets.lock();
        self.prune(&mut t);
        s.last_lsn = t.last;
        s.durable_lsn = t.durable;
        s
    }

    /// The partitions a search reads: all of them, or the one named.
    pub(crate) fn parts_for(&self, space: Option<&str>) -> Result<Vec<Arc<Partition>>, StoreError> {
        let Some(want) = space else {
            return Ok(self.parts.clone());
        };
        match self.parts.iter().find(|p| p.space.name == want) {
            Some(p) => Ok(vec![p.clone()]),
            None => Err(StoreError::Invalid(format!(
                "tenant '{}' has no storage space '{want}' (it has: {})",
                self.name,
                self.parts
                    .iter()
                    .map(|p| p.space.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    }
}

/// Sub-directories of `dir` (none when it does not exist), sorted by name.
fn list_dirs(dir: &Path) -> Result<Vec<(String, std::path::PathBuf)>, StoreError> {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(StoreError::io("list spaces", dir, e)),
    };
    let mut out = Vec::new();
    for entry in rd {
        let entry = entry.map_err(|e| StoreError::io("list spaces", dir, e))?;
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            out.push((
                entry.file_name().to_string_lossy().into_owned(),
                entry.path(),
            ));
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> SpacesConfig {
        let mut c = SpacesConfig {
            retention: Some(Duration::from_secs(86_400)),
            ..SpacesConfig::default()
        };
        c.tenants.insert(
            "main".into(),
            TenantSpaces {
                retention: None,
                hot_age: Some(Duration::from_secs(60)),
                spaces: vec![SpaceConfig {
                    name: "fw".into(),
                    condition: "observer.type:firewall".into(),
                    retention: Some(Duration::from_secs(3600)),
                    hot_age: None,
                }],
            },
        );
        c
    }

    #[test]
    fn settings_inherit_tenant_then_store_defaults() {
        let s = cfg().settings("main");
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].name, "default");
        assert_eq!(s[0].retention, Some(Duration::from_secs(86_400)));
        assert_eq!(s[1].retention, Some(Duration::from_secs(3600)));
        assert_eq!(s[1].hot_age, Some(Duration::from_secs(60)));
        let other = cfg().settings("acme");
        assert_eq!(other.len(), 1);
        assert_eq!(other[0].hot_age, None);
    }

    #[test]
    fn every_problem_is_reported_with_its_path() {
        let mut c = cfg();
        let t = c.tenants.get_mut("main").expect("main");
        t.spaces.push(SpaceConfig {
            name: "default".into(),
            condition: "a:b".into(),
            retention: None,
            hot_age: None,
        });
        t.spaces.push(SpaceConfig {
            name: "Bad/Name".into(),
            condition: "(((".into(),
            retention: Some(Duration::ZERO),
            hot_age: None,
        });
        t.spaces.push(SpaceConfig {
            name: "fw".into(),
            condition: "x:1 | count".into(),
            retention: None,
            hot_age: None,
        });
        let p = c.problems();
        assert_eq!(p.len(), 6, "{p:#?}");
        assert!(p[0].starts_with("tenants.main.spaces[1].name: 'default'"));
        assert!(p[1].starts_with("tenants.main.spaces[2].name: invalid space name"));
        assert!(p[2].starts_with("tenants.main.spaces[2].condition:"));
        assert!(p[3].starts_with("tenants.main.spaces[2].retention: must be more"));
        assert!(p[4].starts_with("tenants.main.spaces[3].name: duplicate"));
        assert!(p[5].contains("remove the `| ...` stages"));
    }

    #[test]
    fn first_matching_condition_wins() {
        let r = Router {
            rules: vec![
                (1, compile_condition("event.kind:alert").expect("q")),
                (2, compile_condition("observer.type:firewall").expect("q")),
            ],
        };
        let cache = FieldCache::new();
        let mut ev = Event::new(bytes::Bytes::from_static(b"x"));
        assert_eq!(r.route(&ev, &cache), 0);
        ev.observer.r#type = Some("firewall".into());
        assert_eq!(r.route(&ev, &cache), 2);
        ev.event.kind = Some("alert".into());
        assert_eq!(r.route(&ev, &cache), 1);
    }
}
