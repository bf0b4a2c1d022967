//! Assets: the hosts the SOC knows, learned from events and imported from CSV, and the
//! criticality the alert pipeline's risk score reads.
//!
//! # Merge rules
//! An asset is one host of one tenant, identified by its **name** (host name or FQDN,
//! compared without case) and its **IP addresses**. Whatever brings a host in — an event, a
//! CSV row — is matched in this order:
//!
//! 1. an asset with the same name (case-insensitive);
//! 2. else an asset holding one of the addresses; if that asset was known only by an address
//!    (its name is an IP literal) and a name is now given, it takes the name;
//! 3. else a new asset (named by the first address when no name is given).
//!
//! A matched asset gains the new addresses (addresses are never removed by learning: DHCP
//! churn shows as several addresses, an analyst prunes them), its `sources` gain the source
//! (`events:<source id>` or `import:<label>`), and `last_seen` only grows. An address may sit
//! on two assets (a shared VIP); lookups by address then take the most critical.
//!
//! Learning runs on every event, so it writes only when something changed or when the
//! asset's `last_seen` is older than [`AssetOptions::touch_interval`]: the steady state is
//! two hash lookups per event. Learned assets start at [`AssetOptions::learned_criticality`].
//!
//! # CSV
//! Columns `name, ips, owner, criticality, categories, os, description` (import); export adds
//! `sources, first_seen, last_seen`, which import accepts and ignores, so an export imports
//! back unchanged. Lists (`ips`, `categories`, `sources`) are separated by `;`. On import a
//! non-empty cell replaces the field, an empty one keeps it, addresses and categories are
//! merged (union). A bad row (unknown criticality, invalid address, neither name nor
//! address) is skipped and reported with its line; an unknown column refuses the file.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use crate::alerts::EventFields;
use crate::model::{Asset, AssetSpec, Criticality, Time};
use crate::scope::{TenantId, TenantScope};
use crate::store::{AssetQuery, AssetSeen, AssetSort, MetaError, MetaStore, Page, SortDir};

/// Asset learning settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AssetOptions {
    /// An unchanged asset's `last_seen` is written at most this often (default 5 minutes).
    pub touch_interval: chrono::Duration,
    /// Criticality of assets learned from events (default low).
    pub learned_criticality: Criticality,
}

impl Default for AssetOptions {
    fn default() -> AssetOptions {
        AssetOptions {
            touch_interval: chrono::Duration::minutes(5),
            learned_criticality: Criticality::Low,
        }
    }
}

/// What learning from one event did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Learned {
    /// The event names no host.
    NoHost,
    /// Known and recently written: nothing to do.
    Unchanged,
    /// `last_seen` and sources written.
    Touched(String),
    /// New addresses or a name added to an existing asset.
    Merged(String),
    /// A new asset.
    Created(String),
}

#[derive(Debug, Clone)]
struct Known {
    tenant: TenantId,
    name_lc: String,
    ips: Vec<String>,
    criticality: Criticality,
    sources: Vec<String>,
    macs: Vec<String>,
    os: Option<String>,
    written: Time,
}

#[derive(Debug, Default)]
struct Index {
    assets: HashMap<String, Known>,
    by_name: HashMap<(TenantId, String), String>,
    by_ip: HashMap<(TenantId, String), Vec<String>>,
}

impl Index {
    fn put(&mut self, a: &Asset) {
        self.remove(&a.id);
        let k = Known {
            tenant: a.tenant.clone(),
            name_lc: a.name.to_lowercase(),
            ips: a.ips.clone(),
            criticality: a.criticality,
            sources: a.sources.clone(),
            macs: a.macs.clone(),
            os: a.os.clone(),
            written: a.last_seen,
        };
        self.by_name
            .insert((k.tenant.clone(), k.name_lc.clone()), a.id.clone());
        for ip in &k.ips {
            let ids = self
                .by_ip
                .entry((k.tenant.clone(), ip.clone()))
                .or_default();
            if !ids.contains(&a.id) {
                ids.push(a.id.clone());
            }
        }
        self.assets.insert(a.id.clone(), k);
    }

    fn remove(&mut self, id: &str) {
        if let Some(k) = self.assets.remove(id) {
            self.by_name.remove(&(k.tenant.clone(), k.name_lc));
            for ip in k.ips {
                let key = (k.tenant.clone(), ip);
                if let Some(ids) = self.by_ip.get_mut(&key) {
                    ids.retain(|i| i != id);
                    if ids.is_empty() {
                        self.by_ip.remove(&key);
                    }
                }
            }
        }
    }

    /// The asset the merge rules pick for a name and addresses.
    fn find(&self, tenant: &TenantId, name: Option<&str>, ips: &[String]) -> Option<String> {
        if let Some(n) = name
            && let Some(id) = self.by_name.get(&(tenant.clone(), n.to_lowercase()))
        {
            return Some(id.clone());
        }
        ips.iter().find_map(|ip| {
            self.by_ip
                .get(&(tenant.clone(), ip.clone()))
                .and_then(|ids| ids.first().cloned())
        })
    }
}

/// The asset inventory in front of the store: learning, CSV, criticality lookups.
#[derive(Debug)]
pub struct AssetBook {
    store: Arc<dyn MetaStore>,
    opts: AssetOptions,
    index: Mutex<Index>,
}

fn lock(m: &Mutex<Index>) -> std::sync::MutexGuard<'_, Index> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn is_ip(s: &str) -> bool {
    s.parse::<IpAddr>().is_ok()
}

fn spec_of(a: &Asset) -> AssetSpec {
    AssetSpec {
        tenant: a.tenant.clone(),
        name: a.name.clone(),
        ips: a.ips.clone(),
        owner: a.owner.clone(),
        criticality: a.criticality,
        categories: a.categories.clone(),
        os: a.os.clone(),
        description: a.description.clone(),
        sources: a.sources.clone(),
    }
}

fn push_unique(list: &mut Vec<String>, v: &str) -> bool {
    if list.iter().any(|x| x == v) {
        false
    } else {
        list.push(v.to_owned());
        true
    }
}

/// Most addresses of each kind one observation carries.
const MAX_OBSERVED: usize = 16;

/// What events showed of one host: its name and addresses, MAC addresses and operating system
/// when known, and when (receive times). Made from one event ([`Observation::of`]) and merged
/// over a batch ([`Observation::merge`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation {
    /// The tenant.
    pub tenant: TenantId,
    /// `host.name` (else `host.hostname`), lower-cased.
    pub name: Option<String>,
    /// `host.ip` (at most 16).
    pub ips: Vec<String>,
    /// `host.mac`, as `AA-BB-CC-DD-EE-FF` (at most 16).
    pub macs: Vec<String>,
    /// `host.os.full`, else `host.os.name`, else `host.os.type`.
    pub os: Option<String>,
    /// Earliest time seen.
    pub first_seen: Time,
    /// Latest time seen.
    pub last_seen: Time,
    /// The source (collector) id.
    pub source: String,
}

/// `aa:bb:cc:dd:ee:ff`, `AA-BB-…` or `aabb.ccdd.eeff` as `AA-BB-CC-DD-EE-FF`; anything else
/// is not a MAC address.
pub fn normalize_mac(s: &str) -> Option<String> {
    let hex: String = s
        .trim()
        .chars()
        .filter(|c| !matches!(c, ':' | '-' | '.'))
        .collect();
    if hex.len() != 12 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let hex = hex.to_ascii_uppercase();
    let parts: Vec<&str> = (0..6).filter_map(|i| hex.get(i * 2..i * 2 + 2)).collect();
    Some(parts.join("-"))
}

impl Observation {
    /// What `event` of `source` shows of its host at `at`; `None` when it names no host.
    pub fn of(
        tenant: &TenantId,
        event: &dyn EventFields,
        at: Time,
        source: &str,
    ) -> Option<Observation> {
        let name = event
            .first("host.name")
            .or_else(|| event.first("host.hostname"))
            .map(|n| n.trim().to_lowercase())
            .filter(|n| !n.is_empty() && n != "-" && n.len() <= 1000);
        let mut ips = Vec::new();
        event.field("host.ip", &mut |v| {
            if let Ok(ip) = v.trim().parse::<IpAddr>() {
                let s = ip.to_string();
                if ips.len() < MAX_OBSERVED && !ips.contains(&s) {
                    ips.push(s);
                }
            }
        });
        if name.is_none() && ips.is_empty() {
            return None;
        }
        let mut macs = Vec::new();
        event.field("host.mac", &mut |v| {
            if let Some(m) = normalize_mac(v)
                && macs.len() < MAX_OBSERVED
                && !macs.contains(&m)
            {
                macs.push(m);
            }
        });
        let os = ["host.os.full", "host.os.name", "host.os.type"]
            .iter()
            .find_map(|f| event.first(f))
            .map(|o| o.trim().chars().take(200).collect::<String>())
            .filter(|o| !o.is_empty());
        Some(Observation {
            tenant: tenant.clone(),
            name,
            ips,
            macs,
            os,
            first_seen: at,
            last_seen: at,
            source: source.to_owned(),
        })
    }

    /// The host this is about: its name, else its first address.
    pub fn key(&self) -> &str {
        self.name
            .as_deref()
            .or(self.ips.first().map(String::as_str))
            .unwrap_or_default()
    }

    /// Adds a later observation of the same host.
    pub fn merge(&mut self, o: Observation) {
        for ip in o.ips {
            if self.ips.len() < MAX_OBSERVED && !self.ips.contains(&ip) {
                self.ips.push(ip);
            }
        }
        for m in o.macs {
            if self.macs.len() < MAX_OBSERVED && !self.macs.contains(&m) {
                self.macs.push(m);
            }
        }
        if o.os.is_some() {
            self.os = o.os;
        }
        if self.name.is_none() {
            self.name = o.name;
        }
        self.first_seen = self.first_seen.min(o.first_seen);
        self.last_seen = self.last_seen.max(o.last_seen);
    }
}

/// One rejected CSV row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    /// Line in the file (the header is line 1).
    pub line: u64,
    /// Every problem of the row.
    pub message: String,
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// Rows read (without the header).
    pub rows: u64,
    /// Assets created.
    pub created: u64,
    /// Assets updated.
    pub updated: u64,
    /// Rows skipped, with why.
    pub errors: Vec<RowError>,
}

/// Most rows one import takes (the caller also caps the upload's bytes).
pub const MAX_IMPORT_ROWS: u64 = 200_000;

const IMPORT_COLUMNS: &[&str] = &[
    "name",
    "ips",
    "owner",
    "criticality",
    "categories",
    "os",
    "description",
];
const EXPORT_ONLY_COLUMNS: &[&str] = &["sources", "first_seen", "last_seen"];

fn split_list(s: &str) -> Vec<String> {
    s.split([';', ','])
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .map(str::to_owned)
        .collect()
}

fn csv_err(e: csv::Error) -> MetaError {
    MetaError::Invalid {
        field: "csv".into(),
        reason: e.to_string(),
    }
}

impl AssetBook {
    /// An inventory over `store` (call [`AssetBook::load`] before the first lookup).
    pub fn new(store: Arc<dyn MetaStore>, opts: AssetOptions) -> AssetBook {
        AssetBook {
            store,
            opts,
            index: Mutex::new(Index::default()),
        }
    }

    /// Reads every asset of every tenant into the index; returns how many.
    pub async fn load(&self) -> Result<usize, MetaError> {
        let scope = TenantScope::new(self.store.all_tenant_ids().await?)?;
        let mut index = Index::default();
        let mut page = Page::first(1000);
        loop {
            let p = self
                .store
                .list_assets(&scope, &AssetQuery::default(), &page)
                .await?;
            for a in &p.items {
                index.put(a);
            }
            match p.next_cursor {
                Some(c) => page.cursor = Some(c),
                None => break,
            }
        }
        let n = index.assets.len();
        *lock(&self.index) = index;
        Ok(n)
    }

    /// Puts an asset created or changed elsewhere (the API) into the index.
    pub fn put(&self, asset: &Asset) {
        lock(&self.index).put(asset);
    }

    /// Removes a deleted asset from the index.
    pub fn forget(&self, id: &str) {
        lock(&self.index).remove(id);
    }

    /// Assets in the index.
    pub fn len(&self) -> usize {
        lock(&self.index).assets.len()
    }

    /// Whether the index is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The highest criticality of the tenant's assets named `hosts` or holding `ips`; none
    /// when no asset matches.
    pub fn criticality(
        &self,
        tenant: &TenantId,
        hosts: &[String],
        ips: &[String],
    ) -> Option<Criticality> {
        let index = lock(&self.index);
        if index.assets.is_empty() {
            return None;
        }
        let mut best: Option<Criticality> = None;
        let mut consider = |id: &String| {
            if let Some(k) = index.assets.get(id) {
                best = best.max(Some(k.criticality));
            }
        };
        for h in hosts {
            if let Some(id) = index.by_name.get(&(tenant.clone(), h.to_lowercase())) {
                consider(id);
            }
        }
        for ip in ips {
            if let Some(ids) = index.by_ip.get(&(tenant.clone(), ip.clone())) {
                ids.iter().for_each(&mut consider);
            }
        }
        best
    }

    /// Records that an event of `source` showed its host (`host.name` / `host.hostname`,
    /// `host.ip`, `host.mac`, `host.os.*`) at `at`, following the merge rules.
    pub async fn learn(
        &self,
        tenant: &TenantId,
        event: &dyn EventFields,
        at: Time,
        source: &str,
    ) -> Result<Learned, MetaError> {
        match Observation::of(tenant, event, at, source) {
            Some(o) => self.learn_observed(&o).await,
            None => Ok(Learned::NoHost),
        }
    }

    /// Records what events showed of one host (one [`Observation`], which may stand for many
    /// events: see [`crate::asset_learning`]), following the merge rules.
    pub async fn learn_observed(&self, o: &Observation) -> Result<Learned, MetaError> {
        let tenant = &o.tenant;
        let name = o.name.clone();
        let ips = &o.ips;
        if name.is_none() && ips.is_empty() {
            return Ok(Learned::NoHost);
        }
        let seen = AssetSeen {
            first_seen: o.first_seen,
            last_seen: o.last_seen,
            source: format!("events:{}", o.source),
            macs: o.macs.clone(),
            os: o.os.clone(),
        };
        // Steady state: known, nothing new, written recently.
        let found = {
            let index = lock(&self.index);
            let found = index.find(tenant, name.as_deref(), ips);
            if let Some(id) = &found
                && let Some(k) = index.assets.get(id)
            {
                let nothing_new = ips.iter().all(|ip| k.ips.contains(ip))
                    && name
                        .as_ref()
                        .is_none_or(|n| *n == k.name_lc || !is_ip(&k.name_lc))
                    && k.sources.contains(&seen.source)
                    && seen.macs.iter().all(|m| k.macs.contains(m))
                    && (seen.os.is_none() || seen.os == k.os);
                if nothing_new && o.last_seen - k.written < self.opts.touch_interval {
                    return Ok(Learned::Unchanged);
                }
            }
            found
        };
        let scope = TenantScope::single(tenant.clone());
        let Some(id) = found else {
            let spec = AssetSpec {
                tenant: tenant.clone(),
                name: name.clone().unwrap_or_else(|| ips[0].clone()),
                ips: ips.clone(),
                owner: None,
                criticality: self.opts.learned_criticality,
                categories: Vec::new(),
                os: o.os.clone(),
                description: String::new(),
                sources: vec![seen.source.clone()],
            };
            return match self.store.create_asset(&scope, spec.clone()).await {
                Ok(a) => {
                    self.store.observe_asset(&scope, &a.id, &seen).await?;
                    let a = self.store.get_asset(&scope, &a.id).await?;
                    lock(&self.index).put(&a);
                    Ok(Learned::Created(a.id))
                }
                // Another task created it meanwhile: merge into that one.
                Err(MetaError::Conflict { .. }) => {
                    let a = self.by_name(&scope, &spec.name).await?;
                    self.merge_learned(&scope, a, name, ips, &seen).await
                }
                Err(e) => Err(e),
            };
        };
        let a = self.store.get_asset(&scope, &id).await?;
        self.merge_learned(&scope, a, name, ips, &seen).await
    }

    async fn merge_learned(
        &self,
        scope: &TenantScope,
        a: Asset,
        name: Option<String>,
        ips: &[String],
        seen: &AssetSeen,
    ) -> Result<Learned, MetaError> {
        let mut spec = spec_of(&a);
        let mut changed = false;
        for ip in ips {
            changed |= push_unique(&mut spec.ips, ip);
        }
        if let Some(n) = &name
            && is_ip(&a.name)
            && !n.eq_ignore_ascii_case(&a.name)
        {
            spec.name = n.clone();
            changed = true;
        }
        let id = a.id.clone();
        if changed {
            self.store.update_asset(scope, &id, spec).await?;
        }
        let new_detail =
            seen.macs.iter().any(|m| !a.macs.contains(m)) || (seen.os.is_some() && seen.os != a.os);
        self.store.observe_asset(scope, &id, seen).await?;
        let a = self.store.get_asset(scope, &id).await?;
        lock(&self.index).put(&a);
        Ok(if changed || new_detail {
            Learned::Merged(id)
        } else {
            Learned::Touched(id)
        })
    }

    async fn by_name(&self, scope: &TenantScope, name: &str) -> Result<Asset, MetaError> {
        let q = AssetQuery {
            name: Some(name.to_owned()),
            ..AssetQuery::default()
        };
        let mut page = Page::first(1000);
        loop {
            let p = self.store.list_assets(scope, &q, &page).await?;
            if let Some(a) = p
                .items
                .into_iter()
                .find(|a| a.name.eq_ignore_ascii_case(name))
            {
                return Ok(a);
            }
            match p.next_cursor {
                Some(c) => page.cursor = Some(c),
                None => {
                    return Err(MetaError::NotFound {
                        what: "asset",
                        id: name.to_owned(),
                    });
                }
            }
        }
    }

    async fn by_ip(&self, scope: &TenantScope, ip: &str) -> Result<Option<Asset>, MetaError> {
        let q = AssetQuery {
            ip: Some(ip.to_owned()),
            ..AssetQuery::default()
        };
        Ok(self
            .store
            .list_assets(scope, &q, &Page::first(1))
            .await?
            .items
            .into_iter()
            .next())
    }

    /// Imports assets of `tenant` from CSV (see the module documentation for the columns
    /// and merge rules); `label` names the import in the assets' sources.
    pub async fn import_csv(
        &self,
        scope: &TenantScope,
        tenant: &TenantId,
        input: impl Read,
        label: &str,
    ) -> Result<ImportReport, MetaError> {
        scope.check(tenant)?;
        let mut rdr = csv::ReaderBuilder::new()
            .trim(csv::Trim::All)
            .flexible(false)
            .from_reader(input);
        let headers: Vec<String> = rdr
            .headers()
            .map_err(csv_err)?
            .iter()
            .map(|h| h.trim().to_ascii_lowercase())
            .collect();
        let unknown: Vec<&String> = headers
            .iter()
            .filter(|h| {
                !IMPORT_COLUMNS.contains(&h.as_str()) && !EXPORT_ONLY_COLUMNS.contains(&h.as_str())
            })
            .collect();
        let col = |name: &str| headers.iter().position(|h| h == name);
        let mut problems: Vec<String> = unknown
            .iter()
            .map(|h| {
                format!(
                    "unknown column {h:?} (known: {})",
                    IMPORT_COLUMNS.join(", ")
                )
            })
            .collect();
        if col("name").is_none() && col("ips").is_none() {
            problems.push("the header needs a `name` or an `ips` column".into());
        }
        if !problems.is_empty() {
            return Err(MetaError::Invalid {
                field: "csv header".into(),
                reason: problems.join("; "),
            });
        }
        let source = format!("import:{label}");
        let mut report = ImportReport::default();
        let mut record = csv::StringRecord::new();
        loop {
            let line = rdr.position().line();
            match rdr.read_record(&mut record) {
                Ok(false) => break,
                Ok(true) => {}
                Err(e) => {
                    report.rows += 1;
                    report.errors.push(RowError {
                        line,
                        message: e.to_string(),
                    });
                    if matches!(e.kind(), csv::ErrorKind::Io(_)) {
                        break;
                    }
                    continue;
                }
            }
            report.rows += 1;
            if report.rows > MAX_IMPORT_ROWS {
                report.errors.push(RowError {
                    line,
                    message: format!("more than {MAX_IMPORT_ROWS} rows: the rest is not imported"),
                });
                break;
            }
            let cell = |name: &str| {
                col(name)
                    .and_then(|i| record.get(i))
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
            };
            let mut errs = Vec::new();
            let mut ips = Vec::new();
            for ip in split_list(cell("ips").unwrap_or("")) {
                match ip.parse::<IpAddr>() {
                    Ok(a) => {
                        let _ = push_unique(&mut ips, &a.to_string());
                    }
                    Err(_) => errs.push(format!("ips: {ip:?} is not an IP address")),
                }
            }
            let crit = match cell("criticality") {
                None => None,
                Some(c) => match c.to_ascii_lowercase().parse::<Criticality>() {
                    Ok(c) => Some(c),
                    Err(_) => {
                        errs.push(format!(
                            "criticality: {c:?} is not one of low, medium, high, critical"
                        ));
                        None
                    }
                },
            };
            let name = cell("name").map(str::to_owned);
            if name.is_none() && ips.is_empty() {
                errs.push("a row needs a name or an address".into());
            }
            if let Some(n) = &name
                && n.len() > 1000
            {
                errs.push("name: longer than 1000 bytes".into());
            }
            if !errs.is_empty() {
                report.errors.push(RowError {
                    line,
                    message: errs.join("; "),
                });
                continue;
            }
            let mut existing = match &name {
                Some(n) => match self.by_name(scope, n).await {
                    Ok(a) if a.tenant == *tenant => Some(a),
                    Ok(_) | Err(MetaError::NotFound { .. }) => None,
                    Err(e) => return Err(e),
                },
                None => None,
            };
            if existing.is_none() {
                for ip in &ips {
                    if let Some(a) = self.by_ip(&TenantScope::single(tenant.clone()), ip).await? {
                        existing = Some(a);
                        break;
                    }
                }
            }
            let result = match existing {
                Some(a) => {
                    let mut spec = spec_of(&a);
                    if let Some(n) = &name {
                        spec.name = n.clone();
                    }
                    for ip in &ips {
                        push_unique(&mut spec.ips, ip);
                    }
                    if let Some(o) = cell("owner") {
                        spec.owner = Some(o.to_owned());
                    }
                    if let Some(c) = crit {
                        spec.criticality = c;
                    }
                    for c in split_list(cell("categories").unwrap_or("")) {
                        push_unique(&mut spec.categories, &c);
                    }
                    if let Some(o) = cell("os") {
                        spec.os = Some(o.to_owned());
                    }
                    if let Some(d) = cell("description") {
                        spec.description = d.to_owned();
                    }
                    push_unique(&mut spec.sources, &source);
                    self.store
                        .update_asset(scope, &a.id, spec)
                        .await
                        .map(|a| (a, false))
                }
                None => {
                    let spec = AssetSpec {
                        tenant: tenant.clone(),
                        name: name.clone().unwrap_or_else(|| ips[0].clone()),
                        ips: ips.clone(),
                        owner: cell("owner").map(str::to_owned),
                        criticality: crit.unwrap_or(Criticality::Low),
                        categories: split_list(cell("categories").unwrap_or("")),
                        os: cell("os").map(str::to_owned),
                        description: cell("description").unwrap_or("").to_owned(),
                        sources: vec![source.clone()],
                    };
                    self.store
                        .create_asset(scope, spec)
                        .await
                        .map(|a| (a, true))
                }
            };
            match result {
                Ok((a, created)) => {
                    if created {
                        report.created += 1;
                    } else {
                        report.updated += 1;
                    }
                    lock(&self.index).put(&a);
                }
                Err(e @ (MetaError::Invalid { .. } | MetaError::Conflict { .. })) => {
                    report.errors.push(RowError {
                        line,
                        message: e.to_string(),
                    });
                }
                Err(e) => return Err(e),
            }
        }
        Ok(report)
    }

    /// Writes the assets in scope as CSV, by name; returns how many.
    pub async fn export_csv(&self, scope: &TenantScope, out: impl Write) -> Result<u64, MetaError> {
        let mut w = csv::Writer::from_writer(out);
        let mut header: Vec<&str> = IMPORT_COLUMNS.to_vec();
        header.extend_from_slice(EXPORT_ONLY_COLUMNS);
        w.write_record(&header).map_err(csv_err)?;
        let q = AssetQuery {
            sort: AssetSort::Name,
            dir: SortDir::Asc,
            ..AssetQuery::default()
        };
        let mut page = Page::first(1000);
        let mut n = 0u64;
        loop {
            let p = self.store.list_assets(scope, &q, &page).await?;
            for a in &p.items {
                w.write_record([
                    a.name.as_str(),
                    &a.ips.join(";"),
                    a.owner.as_deref().unwrap_or(""),
                    a.criticality.as_str(),
                    &a.categories.join(";"),
                    a.os.as_deref().unwrap_or(""),
                    &a.description,
                    &a.sources.join(";"),
                    &a.first_seen.to_rfc3339(),
                    &a.last_seen.to_rfc3339(),
                ])
                .map_err(csv_err)?;
                n += 1;
            }
            match p.next_cursor {
                Some(c) => page.cursor = Some(c),
                None => break,
            }
        }
        w.flush().map_err(|e| MetaError::Invalid {
            field: "csv".into(),
            reason: e.to_string(),
        })?;
        Ok(n)
    }
}
