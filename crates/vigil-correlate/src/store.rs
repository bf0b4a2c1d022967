//! Active lists and context tables: named key → record stores, per tenant (or shared), with
//! per-entry TTL on event time, a size cap with a counted overflow policy, CSV import/export
//! and snapshots.
//!
//! An *active list* keeps any values per entry (KUMA's JSON record); a *context table* has
//! typed columns, and values are converted to the column's type on every write (a value that
//! does not convert is counted in [`StoreStats::type_errors`] and the column left unset).
//! Time is event time: an entry expires when the correlator's watermark passes its expiry,
//! which yields a service event (`event.action: active_list_record_expired` or
//! `context_table_record_expired`) that rules can correlate on.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use smol_str::SmolStr;
use vigil_event::{Timestamp, Value, parse_ip};

use crate::raw::{ColumnType, Overflow, Scope};

/// The tenant name under which shared lists keep their one instance.
pub const SHARED_TENANT: &str = "shared";

/// Default cap on entries per list instance.
pub const DEFAULT_MAX_ENTRIES: usize = 100_000;

/// Whether a store is an active list or a context table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StoreKind {
    /// Untyped values.
    ActiveList,
    /// Typed columns.
    ContextTable,
}

impl StoreKind {
    /// `active_list` / `context_table`.
    pub fn as_str(self) -> &'static str {
        match self {
            StoreKind::ActiveList => "active_list",
            StoreKind::ContextTable => "context_table",
        }
    }
}

/// A validated list or table declaration.
#[derive(Debug, Clone)]
pub struct StoreDef {
    /// Name.
    pub name: String,
    /// List or table.
    pub kind: StoreKind,
    /// Description.
    pub description: String,
    /// Key columns in order.
    pub key: Vec<String>,
    /// Typed columns (tables).
    pub columns: BTreeMap<String, ColumnType>,
    /// Entry TTL in nanoseconds (None: no expiry).
    pub ttl_ns: Option<i64>,
    /// Most entries per instance.
    pub max_entries: usize,
    /// Overflow policy.
    pub overflow: Overflow,
    /// Per tenant or shared.
    pub scope: Scope,
}

/// A composite key: one text value per key column.
pub type Key = Vec<SmolStr>;

/// One entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// Column → value.
    pub values: BTreeMap<String, Value>,
    /// Event time of the last update (ns).
    pub updated: i64,
    /// Event time at which it expires (ns).
    pub expires: Option<i64>,
    /// Number of updates.
    pub updates: u64,
}

/// Counters of one store (all instances).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreStats {
    /// Writes (set, merge, increment).
    pub writes: u64,
    /// Deletes.
    pub deletes: u64,
    /// Entries that expired.
    pub expired: u64,
    /// Entries evicted because the instance was full (`evict_oldest`).
    pub evicted: u64,
    /// New entries refused because the instance was full (`reject`).
    pub rejected: u64,
    /// Values that did not convert to their column's type.
    pub type_errors: u64,
}

/// An entry that expired (becomes a service event).
#[derive(Debug, Clone)]
pub struct Expired {
    /// Store name.
    pub store: String,
    /// List or table.
    pub kind: StoreKind,
    /// Tenant of the instance.
    pub tenant: SmolStr,
    /// Key.
    pub key: Key,
    /// The entry as it was.
    pub entry: Entry,
}

/// An error of a store operation given by a user (CSV import, API).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// No such list or table.
    #[error("no active list or context table named '{0}'")]
    Unknown(String),
    /// Wrong number of key values.
    #[error("'{store}' has {want} key column(s), got {got} value(s)")]
    KeyArity {
        /// Store.
        store: String,
        /// Expected.
        want: usize,
        /// Given.
        got: usize,
    },
    /// CSV problems, each with its line.
    #[error("CSV import into '{store}': {}", problems.join("; "))]
    Csv {
        /// Store.
        store: String,
        /// `line N: problem`.
        problems: Vec<String>,
    },
    /// The instance is full and refuses new entries.
    #[error("'{0}' is full")]
    Full(String),
}

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
struct Instance {
    entries: HashMap<Key, Entry>,
}

/// All lists and tables of a correlator.
#[derive(Debug, Default)]
pub struct Stores {
    defs: Vec<Arc<StoreDef>>,
    by_name: HashMap<String, usize>,
    data: HashMap<(usize, SmolStr), Instance>,
    /// Per tenant (each expires on its own clock): (expiry, store, key).
    expiry: HashMap<SmolStr, ExpiryQueue>,
    stats: Vec<StoreStats>,
}

/// One tenant's entries by expiry: (expiry, store, key), earliest first.
type ExpiryQueue = BinaryHeap<Reverse<(i64, usize, Key)>>;

/// Converts a value to a column type; `None` when it does not fit.
pub fn convert(v: &Value, ty: ColumnType) -> Option<Value> {
    let text = |v: &Value| -> Option<String> {
        Some(match v {
            Value::Str(s) => s.to_string(),
            Value::Int(i) => i.to_string(),
            Value::Float(x) => x.to_string(),
            Value::Bool(b) => b.to_string(),
            Value::Ip(ip) => ip.to_string(),
            Value::Time(t) => Timestamp(*t).to_rfc3339(),
            Value::Null | Value::List(_) => return None,
        })
    };
    match (ty, v) {
        (_, Value::Null) => None,
        (ColumnType::Strings, Value::List(items)) => Some(Value::List(
            items
                .iter()
                .filter_map(|x| text(x).map(|s| Value::Str(s.into())))
                .collect(),
        )),
        (ColumnType::Strings, other) => {
            text(other).map(|s| Value::List(vec![Value::Str(s.into())]))
        }
        (_, Value::List(items)) if items.len() == 1 => convert(&items[0], ty),
        (_, Value::List(_)) => None,
        (ColumnType::String, other) => text(other).map(|s| Value::Str(s.into())),
        (ColumnType::Integer, Value::Int(i)) => Some(Value::Int(*i)),
        (ColumnType::Integer, Value::Float(x)) if x.fract() == 0.0 && x.abs() < 9.0e15 => {
            Some(Value::Int(*x as i64))
        }
        (ColumnType::Integer, Value::Str(s)) => s.trim().parse().ok().map(Value::Int),
        (ColumnType::Float, Value::Int(i)) => Some(Value::Float(*i as f64)),
        (ColumnType::Float, Value::Float(x)) => Some(Value::Float(*x)),
        (ColumnType::Float, Value::Str(s)) => s.trim().parse().ok().map(Value::Float),
        (ColumnType::Boolean, Value::Bool(b)) => Some(Value::Bool(*b)),
        (ColumnType::Boolean, Value::Str(s)) => match s.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => Some(Value::Bool(true)),
            "false" | "0" | "no" => Some(Value::Bool(false)),
            _ => None,
        },
        (ColumnType::Timestamp, Value::Time(t)) => Some(Value::Time(*t)),
        (ColumnType::Timestamp, Value::Str(s)) => Timestamp::parse(s).map(|t| Value::Time(t.0)),
        (ColumnType::Timestamp, Value::Int(i)) => Some(Value::Time(Timestamp::from_secs(*i).0)),
        (ColumnType::Ip, Value::Ip(ip)) => Some(Value::Ip(*ip)),
        (ColumnType::Ip, Value::Str(s)) => parse_ip(s).map(Value::Ip),
        _ => None,
    }
}

/// The text of a value as used in keys and CSV (lists joined with `|`).
pub fn value_text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::Str(s) => s.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Float(x) => x.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Ip(ip) => ip.to_string(),
        Value::Time(t) => Timestamp(*t).to_rfc3339(),
        Value::List(items) => items.iter().map(value_text).collect::<Vec<_>>().join("|"),
    }
}

fn infer(s: &str) -> Value {
    if let Ok(i) = s.parse::<i64>() {
        Value::Int(i)
    } else if let Ok(x) = s.parse::<f64>()
        && x.is_finite()
    {
        Value::Float(x)
    } else {
        Value::Str(s.into())
    }
}

impl Stores {
    /// Stores for these declarations.
    pub fn new(defs: Vec<StoreDef>) -> Stores {
        let defs: Vec<Arc<StoreDef>> = defs.into_iter().map(Arc::new).collect();
        let by_name = defs
            .iter()
            .enumerate()
            .map(|(i, d)| (d.name.clone(), i))
            .collect();
        let stats = vec![StoreStats::default(); defs.len()];
        Stores {
            defs,
            by_name,
            data: HashMap::new(),
            expiry: HashMap::new(),
            stats,
        }
    }

    /// The declarations.
    pub fn defs(&self) -> &[Arc<StoreDef>] {
        &self.defs
    }

    /// Index of a store by name.
    pub fn index(&self, name: &str) -> Option<usize> {
        self.by_name.get(name).copied()
    }

    /// Counters of a store.
    pub fn stats(&self, store: usize) -> &StoreStats {
        &self.stats[store]
    }

    fn tenant_of(&self, store: usize, tenant: &str) -> SmolStr {
        match self.defs[store].scope {
            Scope::Shared => SmolStr::new_static(SHARED_TENANT),
            Scope::Tenant => SmolStr::new(tenant),
        }
    }

    /// Normalizes a key: IP key columns of tables in canonical form.
    fn norm_key(&self, store: usize, key: &[SmolStr]) -> Key {
        let def = &self.defs[store];
        key.iter()
            .zip(&def.key)
            .map(|(v, col)| match def.columns.get(col) {
                Some(ColumnType::Ip) => {
                    parse_ip(v).map_or_else(|| v.clone(), |ip| ip.to_string().into())
                }
                _ => v.clone(),
            })
            .collect()
    }

    /// The live entry (not expired at `now`), if any.
    pub fn get(&self, store: usize, tenant: &str, key: &[SmolStr], now: i64) -> Option<&Entry> {
        let t = self.tenant_of(store, tenant);
        let key = self.norm_key(store, key);
        self.data
            .get(&(store, t))?
            .entries
            .get(&key)
            .filter(|e| e.expires.is_none_or(|x| x >= now))
    }

    /// Number of entries of one instance.
    pub fn len(&self, store: usize, tenant: &str) -> usize {
        let t = self.tenant_of(store, tenant);
        self.data.get(&(store, t)).map_or(0, |i| i.entries.len())
    }

    /// Total entries over all stores and tenants.
    pub fn total_entries(&self) -> usize {
        self.data.values().map(|i| i.entries.len()).sum()
    }

    /// Entries of one instance, sorted by key.
    pub fn entries(&self, store: usize, tenant: &str) -> Vec<(Key, Entry)> {
        let t = self.tenant_of(store, tenant);
        let mut out: Vec<(Key, Entry)> = self
            .data
            .get(&(store, t))
            .map(|i| {
                i.entries
                    .iter()
                    .map(|(k, e)| (k.clone(), e.clone()))
                    .collect()
            })
            .unwrap_or_default();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    fn typed(&mut self, store: usize, values: BTreeMap<String, Value>) -> BTreeMap<String, Value> {
        let def = self.defs[store].clone();
        if def.kind == StoreKind::ActiveList {
            return values;
        }
        let mut out = BTreeMap::new();
        for (col, v) in values {
            match def.columns.get(&col).and_then(|ty| convert(&v, *ty)) {
                Some(v) => {
                    out.insert(col, v);
                }
                None => self.stats[store].type_errors += 1,
            }
        }
        out
    }

    /// Writes an entry: `merge` keeps columns not given, otherwise the entry is replaced.
    /// `ttl_ns` overrides the store's TTL. Returns false when a full `reject` store refused it.
    #[allow(clippy::too_many_arguments)]
    pub fn write(
        &mut self,
        store: usize,
        tenant: &str,
        key: &[SmolStr],
        values: BTreeMap<String, Value>,
        merge: bool,
        ttl_ns: Option<i64>,
        now: i64,
    ) -> bool {
        let values = self.typed(store, values);
        self.upsert(store, tenant, key, now, ttl_ns, |e| {
            if !merge {
                e.values.clear();
            }
            e.values.extend(values);
        })
    }

    /// Adds `by` to a numeric column (absent: 0). Returns the new value, or None when refused.
    #[allow(clippy::too_many_arguments)]
    pub fn increment(
        &mut self,
        store: usize,
        tenant: &str,
        key: &[SmolStr],
        column: &str,
        by: f64,
        ttl_ns: Option<i64>,
        now: i64,
    ) -> Option<f64> {
        let mut result = 0.0;
        let integer_col = match self.defs[store].columns.get(column) {
            Some(ColumnType::Integer) => Some(true),
            Some(ColumnType::Float) => Some(false),
            Some(_) => {
                self.stats[store].type_errors += 1;
                return None;
            }
            None => None,
        };
        let ok = self.upsert(store, tenant, key, now, ttl_ns, |e| {
            let cur = e.values.get(column);
            let (n, int) = match cur {
                Some(Value::Int(i)) => (*i as f64, true),
                Some(Value::Float(x)) => (*x, false),
                Some(Value::Str(s)) => (s.parse::<f64>().unwrap_or(0.0), false),
                _ => (0.0, by.fract() == 0.0),
            };
            let int = integer_col.unwrap_or(int && by.fract() == 0.0);
            result = n + by;
            let v = if int {
                Value::Int(result as i64)
            } else {
                Value::Float(result)
            };
            e.values.insert(column.to_string(), v);
        });
        ok.then_some(result)
    }

    fn upsert(
        &mut self,
        store: usize,
        tenant: &str,
        key: &[SmolStr],
        now: i64,
        ttl_ns: Option<i64>,
        f: impl FnOnce(&mut Entry),
    ) -> bool {
        let def = self.defs[store].clone();
        let t = self.tenant_of(store, tenant);
        let key = self.norm_key(store, key);
        let inst = self.data.entry((store, t.clone())).or_default();
        if !inst.entries.contains_key(&key) && inst.entries.len() >= def.max_entries {
            match def.overflow {
                Overflow::Reject => {
                    self.stats[store].rejected += 1;
                    return false;
                }
                Overflow::EvictOldest => {
                    // evict the oldest 1% (at least one) in one pass: amortized O(100) per insert
                    let n = (def.max_entries / 100).max(1);
                    let mut ages: Vec<(i64, Key)> = inst
                        .entries
                        .iter()
                        .map(|(k, e)| (e.updated, k.clone()))
                        .collect();
                    let n = n.min(ages.len());
                    if n > 0 {
                        ages.select_nth_unstable_by(n - 1, |a, b| a.cmp(b));
                        for (_, k) in ages.into_iter().take(n) {
                            inst.entries.remove(&k);
                            self.stats[store].evicted += 1;
                        }
                    }
                }
            }
        }
        let e = inst.entries.entry(key.clone()).or_insert_with(|| Entry {
            values: BTreeMap::new(),
            updated: now,
            expires: None,
            updates: 0,
        });
        f(e);
        e.updated = e.updated.max(now);
        e.updates += 1;
        let ttl = ttl_ns.or(def.ttl_ns).filter(|t| *t > 0);
        e.expires = ttl.map(|t| now.saturating_add(t));
        if let Some(x) = e.expires {
            self.expiry
                .entry(t)
                .or_default()
                .push(Reverse((x, store, key)));
        }
        self.stats[store].writes += 1;
        true
    }

    /// Deletes an entry; true if it existed.
    pub fn delete(&mut self, store: usize, tenant: &str, key: &[SmolStr]) -> bool {
        let t = self.tenant_of(store, tenant);
        let key = self.norm_key(store, key);
        let removed = self
            .data
            .get_mut(&(store, t))
            .is_some_and(|i| i.entries.remove(&key).is_some());
        if removed {
            self.stats[store].deletes += 1;
        }
        removed
    }

    /// Removes entries whose expiry is before `now` (the watermark) and returns them.
    pub fn expire(&mut self, now: i64) -> Vec<Expired> {
        self.expire_by(|_| now)
    }

    /// Removes each tenant's entries whose expiry is before `now(tenant)` (that tenant's
    /// watermark: one tenant's clock never expires another's entries) and returns them.
    pub fn expire_by(&mut self, now: impl Fn(&SmolStr) -> i64) -> Vec<Expired> {
        let mut out = Vec::new();
        let mut queued = 0;
        for (tenant, heap) in &mut self.expiry {
            let now = now(tenant);
            while let Some(Reverse((at, ..))) = heap.peek() {
                if *at >= now {
                    break;
                }
                let Some(Reverse((at, store, key))) = heap.pop() else {
                    break;
                };
                let Some(inst) = self.data.get_mut(&(store, tenant.clone())) else {
                    continue;
                };
                if inst.entries.get(&key).and_then(|e| e.expires) != Some(at) {
                    continue; // renewed or deleted since
                }
                if let Some(entry) = inst.entries.remove(&key) {
                    self.stats[store].expired += 1;
                    out.push(Expired {
                        store: self.defs[store].name.clone(),
                        kind: self.defs[store].kind,
                        tenant: tenant.clone(),
                        key,
                        entry,
                    });
                }
            }
            queued += heap.len();
        }
        // stale heap items (renewed entries) are dropped when they reach the top; rebuild when
        // they dominate, so the heaps stay proportional to the live entries
        let live = self.total_entries();
        if queued > 2 * live + 4096 {
            self.rebuild_expiry();
        }
        // the same order whatever the map's: by time, then store, tenant and key
        out.sort_by(|a, b| {
            (a.entry.expires, &a.store, &a.tenant, &a.key).cmp(&(
                b.entry.expires,
                &b.store,
                &b.tenant,
                &b.key,
            ))
        });
        out
    }

    fn rebuild_expiry(&mut self) {
        let mut expiry: HashMap<SmolStr, ExpiryQueue> = HashMap::new();
        for ((s, t), inst) in &self.data {
            for (k, e) in &inst.entries {
                if let Some(x) = e.expires {
                    expiry
                        .entry(t.clone())
                        .or_default()
                        .push(Reverse((x, *s, k.clone())));
                }
            }
        }
        self.expiry = expiry;
    }

    /// Exports one instance as CSV: key columns, then the other columns (sorted), then
    /// `_expires` (RFC 3339, empty when the entry does not expire).
    pub fn export_csv(&self, store: usize, tenant: &str) -> Result<String, StoreError> {
        let def = &self.defs[store];
        let entries = self.entries(store, tenant);
        let mut cols: BTreeSet<String> = def
            .columns
            .keys()
            .filter(|c| !def.key.contains(c))
            .cloned()
            .collect();
        for (_, e) in &entries {
            cols.extend(e.values.keys().filter(|c| !def.key.contains(c)).cloned());
        }
        let mut w = csv::Writer::from_writer(Vec::new());
        let mut header: Vec<String> = def.key.clone();
        header.extend(cols.iter().cloned());
        header.push("_expires".into());
        let csv_err = |e: csv::Error| StoreError::Csv {
            store: def.name.clone(),
            problems: vec![e.to_string()],
        };
        w.write_record(&header).map_err(csv_err)?;
        for (k, e) in entries {
            let mut row: Vec<String> = k.iter().map(|s| s.to_string()).collect();
            row.extend(
                cols.iter()
                    .map(|c| e.values.get(c).map(value_text).unwrap_or_default()),
            );
            row.push(
                e.expires
                    .map(|x| Timestamp(x).to_rfc3339())
                    .unwrap_or_default(),
            );
            w.write_record(&row).map_err(csv_err)?;
        }
        let bytes = w.into_inner().map_err(|e| StoreError::Csv {
            store: def.name.clone(),
            problems: vec![e.to_string()],
        })?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// Imports CSV (a header naming every key column, then any columns; `_expires` optional)
    /// into one instance. Every problem is reported with its line and nothing is imported
    /// when there is one. Returns the number of entries written.
    pub fn import_csv(
        &mut self,
        store: usize,
        tenant: &str,
        text: &str,
        now: i64,
    ) -> Result<usize, StoreError> {
        let def = self.defs[store].clone();
        let mut r = csv::ReaderBuilder::new()
            .flexible(false)
            .from_reader(text.as_bytes());
        let mut problems = Vec::new();
        let header: Vec<String> = match r.headers() {
            Ok(h) => h.iter().map(|s| s.trim().to_string()).collect(),
            Err(e) => {
                return Err(StoreError::Csv {
                    store: def.name.clone(),
                    problems: vec![format!("line 1: {e}")],
                });
            }
        };
        for k in &def.key {
            if !header.contains(k) {
                problems.push(format!("line 1: key column '{k}' missing"));
            }
        }
        if def.kind == StoreKind::ContextTable {
            for h in &header {
                if h != "_expires" && !def.columns.contains_key(h) {
                    problems.push(format!("line 1: unknown column '{h}'"));
                }
            }
        }
        let mut rows = Vec::new();
        for (i, rec) in r.records().enumerate() {
            let line = i + 2;
            let rec = match rec {
                Ok(r) => r,
                Err(e) => {
                    problems.push(format!("line {line}: {e}"));
                    continue;
                }
            };
            let mut key = Vec::new();
            let mut values = BTreeMap::new();
            let mut expires = None;
            for (h, cell) in header.iter().zip(rec.iter()) {
                if h == "_expires" {
                    if !cell.is_empty() {
                        match Timestamp::parse(cell) {
                            Some(t) => expires = Some(t.0),
                            None => problems.push(format!("line {line}: bad _expires '{cell}'")),
                        }
                    }
                    continue;
                }
                let v = match def.columns.get(h) {
                    Some(ty) => {
                        if cell.is_empty() {
                            continue;
                        }
                        let raw = if *ty == ColumnType::Strings {
                            Value::List(cell.split('|').map(|s| Value::Str(s.into())).collect())
                        } else {
                            Value::Str(cell.into())
                        };
                        match convert(&raw, *ty) {
                            Some(v) => v,
                            None => {
                                problems.push(format!(
                                    "line {line}: column '{h}': '{cell}' is not a {ty:?}"
                                ));
                                continue;
                            }
                        }
                    }
                    None => infer(cell),
                };
                if let Some(pos) = def.key.iter().position(|k| k == h) {
                    key.push((pos, SmolStr::new(cell)));
                }
                values.insert(h.clone(), v);
            }
            key.sort();
            if key.len() != def.key.len() {
                problems.push(format!("line {line}: empty key"));
                continue;
            }
            rows.push((
                key.into_iter().map(|(_, v)| v).collect::<Key>(),
                values,
                expires,
            ));
        }
        if !problems.is_empty() {
            return Err(StoreError::Csv {
                store: def.name.clone(),
                problems,
            });
        }
        let mut n = 0;
        for (key, values, expires) in rows {
            let ttl = expires.map(|x| x.saturating_sub(now).max(1));
            if self.write(store, tenant, &key, values, false, ttl, now) {
                n += 1;
            }
        }
        Ok(n)
    }

    /// The state for a snapshot: (store name, tenant, key, entry).
    pub(crate) fn snapshot(&self) -> Vec<(String, SmolStr, Key, Entry)> {
        let mut out = Vec::new();
        for ((s, t), inst) in &self.data {
            for (k, e) in &inst.entries {
                out.push((self.defs[*s].name.clone(), t.clone(), k.clone(), e.clone()));
            }
        }
        out.sort_by(|a, b| (&a.0, &a.1, &a.2).cmp(&(&b.0, &b.1, &b.2)));
        out
    }

    pub(crate) fn snapshot_stats(&self) -> Vec<(String, StoreStats)> {
        self.defs
            .iter()
            .zip(&self.stats)
            .map(|(d, s)| (d.name.clone(), s.clone()))
            .collect()
    }

    /// Restores entries (of stores that still exist, with the same key arity).
    pub(crate) fn restore(
        &mut self,
        entries: Vec<(String, SmolStr, Key, Entry)>,
        stats: Vec<(String, StoreStats)>,
    ) {
        self.data.clear();
        for (name, tenant, key, e) in entries {
            let Some(s) = self.index(&name) else { continue };
            if key.len() != self.defs[s].key.len() {
                continue;
            }
            self.data
                .entry((s, tenant))
                .or_default()
                .entries
                .insert(key, e);
        }
        for (name, st) in stats {
            if let Some(s) = self.index(&name) {
                self.stats[s] = st;
            }
        }
        self.rebuild_expiry();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Stores {
        let mut cols = BTreeMap::new();
        cols.insert("host".to_string(), ColumnType::String);
        cols.insert("criticality".to_string(), ColumnType::Integer);
        cols.insert("ip".to_string(), ColumnType::Ip);
        Stores::new(vec![
            StoreDef {
                name: "assets".into(),
                kind: StoreKind::ContextTable,
                description: String::new(),
                key: vec!["host".into()],
                columns: cols,
                ttl_ns: None,
                max_entries: 3,
                overflow: Overflow::EvictOldest,
                scope: Scope::Tenant,
            },
            StoreDef {
                name: "bad_ips".into(),
                kind: StoreKind::ActiveList,
                description: String::new(),
                key: vec!["ip".into()],
                columns: BTreeMap::new(),
                ttl_ns: Some(60_000_000_000),
                max_entries: 2,
                overflow: Overflow::Reject,
                scope: Scope::Shared,
            },
        ])
    }

    fn k(s: &str) -> Key {
        vec![SmolStr::new(s)]
    }

    #[test]
    fn typed_columns_convert_and_count_errors() {
        let mut s = table();
        let mut v = BTreeMap::new();
        v.insert("criticality".to_string(), Value::Str("4".into()));
        v.insert("ip".to_string(), Value::Str("not an ip".into()));
        assert!(s.write(0, "t1", &k("web01"), v, false, None, 10));
        let e = s.get(0, "t1", &k("web01"), 10).cloned();
        assert_eq!(
            e.map(|e| e.values.get("criticality").cloned()),
            Some(Some(Value::Int(4)))
        );
        assert_eq!(s.stats(0).type_errors, 1);
        // other tenant does not see it
        assert!(s.get(0, "t2", &k("web01"), 10).is_none());
    }

    #[test]
    fn overflow_evicts_oldest_or_rejects_and_counts() {
        let mut s = table();
        for (i, h) in ["a", "b", "c", "d"].iter().enumerate() {
            s.write(0, "t", &k(h), BTreeMap::new(), false, None, i as i64);
        }
        assert_eq!(s.len(0, "t"), 3);
        assert!(s.get(0, "t", &k("a"), 0).is_none());
        assert_eq!(s.stats(0).evicted, 1);
        for ip in ["1.1.1.1", "2.2.2.2", "3.3.3.3"] {
            s.write(1, "t", &k(ip), BTreeMap::new(), false, None, 0);
        }
        assert_eq!(s.len(1, "other"), 2, "shared list is one instance");
        assert_eq!(s.stats(1).rejected, 1);
    }

    #[test]
    fn ttl_expires_on_watermark_and_renewal_extends() {
        let mut s = table();
        let sec = 1_000_000_000;
        s.write(1, "t", &k("1.1.1.1"), BTreeMap::new(), false, None, 0);
        s.write(1, "t", &k("2.2.2.2"), BTreeMap::new(), false, None, 0);
        s.write(
            1,
            "t",
            &k("2.2.2.2"),
            BTreeMap::new(),
            false,
            None,
            30 * sec,
        );
        assert!(s.expire(60 * sec).is_empty(), "expiry is exclusive");
        let gone = s.expire(61 * sec);
        assert_eq!(gone.len(), 1);
        assert_eq!(gone[0].key, k("1.1.1.1"));
        assert_eq!(s.expire(91 * sec).len(), 1);
        assert_eq!(s.stats(1).expired, 2);
    }

    #[test]
    fn csv_round_trip_and_errors_with_lines() {
        let mut s = table();
        let n = s
            .import_csv(
                0,
                "t",
                "host,criticality,ip\nweb01,5,10.0.0.1\ndb01,3,\n",
                0,
            )
            .unwrap_or(0);
        assert_eq!(n, 2);
        let out = s.export_csv(0, "t").unwrap_or_default();
        assert_eq!(
            out,
            "host,criticality,ip,_expires\ndb01,3,,\nweb01,5,10.0.0.1,\n"
        );
        let err = s.import_csv(0, "t", "host,criticality,color\nx,high,red\n", 0);
        let Err(StoreError::Csv { problems, .. }) = err else {
            panic!("expected errors, got {err:?}")
        };
        assert_eq!(
            problems,
            vec![
                "line 1: unknown column 'color'".to_string(),
                "line 2: column 'criticality': 'high' is not a Integer".to_string()
            ]
        );
    }

    #[test]
    fn increment_keeps_integers() {
        let mut s = table();
        for _ in 0..3 {
            s.increment(1, "t", &k("9.9.9.9"), "count", 1.0, None, 0);
        }
        let e = s.get(1, "t", &k("9.9.9.9"), 0).cloned();
        assert_eq!(
            e.map(|e| e.values.get("count").cloned()),
            Some(Some(Value::Int(3)))
        );
    }
}
