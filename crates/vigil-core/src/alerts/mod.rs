//! The alert pipeline: detections in, alerts out.
//!
//! [`AlertService::on_detections`] is the one call the Sigma engine and the correlator make
//! with each batch of detections. For every detection, in order:
//!
//! 1. **Suppression.** A suppression rule in force for the detection's rule whose field
//!    values all match the event makes no alert; it is counted on the suppression rule
//!    (`suppressed_count`, `last_hit_at`), once per rule per batch.
//! 2. **Entities and group key.** Hosts, users, addresses, processes, files, hashes, domains
//!    and URLs are read from the event's ECS fields ([`Entities`]). The group key is the
//!    correlation rule's group-by values for correlation detections, the fields configured
//!    for the rule in [`AlertOptions::group_by`], or else the main entities.
//! 3. **Risk.** `risk = min(100, base(severity) + weight(asset criticality))`, the asset
//!    being the most critical one known by the detection's hosts and addresses
//!    ([`risk`], [`crate::assets::AssetBook`]).
//! 4. **Grouping in the batch.** Detections of one `(tenant, rule, group key)` merge into one
//!    store detection (counts add, times widen, severity and risk take the maximum,
//!    entities and event ids union).
//! 5. **Storm cap.** A group the open-group cache does not know is new; at most
//!    [`AlertOptions::storm_max_new_alerts`] new groups per `(tenant, rule)` per window open,
//!    the others fold into the rule's storm alert (group key `~storm`), counted, with a
//!    signal on the first trip of a window.
//! 6. **Fold.** One `MetaStore::fold_detection` per group per batch: the store adds the
//!    count to the group's filling alert or starts one, atomically. The open-group cache
//!    ([`groups::GroupCache`], bounded, least recently used evicted) records the alert.
//!
//! A fold that fails is returned in [`AlertOutcome::failed`] with its merged detection, to be
//! retried with [`AlertService::retry`]; nothing is dropped silently.
//!
//! Triage goes through [`AlertService::update`], which checks the status workflow
//! ([`workflow`]) before the store applies the change and writes the history, and ends the
//! group in the cache when the alert closes.

pub mod entities;
pub mod groups;
pub mod risk;
pub mod storm;
pub mod suppress;
pub mod workflow;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

pub use entities::{Entities, EventFields, key_of_event, key_of_fields};
pub use groups::GroupCache;
pub use storm::{STORM_GROUP_KEY, StormCap, StormCounts};
pub use suppress::Suppressions;

use crate::assets::AssetBook;
use crate::model::*;
use crate::scope::{TenantId, TenantScope};
use crate::store::{MetaError, MetaStore, NewAuditRecord};

/// One rule firing on one event, as the detection engine hands it over. Everything is
/// borrowed: building one costs nothing.
#[derive(Clone, Copy)]
pub struct RuleDetection<'a> {
    /// The tenant of the event.
    pub tenant: &'a TenantId,
    /// Rule id.
    pub rule_id: &'a str,
    /// Rule title.
    pub rule_name: &'a str,
    /// Rule version (Sigma has none: the wiring passes a revision counter or 1).
    pub rule_version: i64,
    /// Sigma level (`informational`, `low`, `medium`, `high`, `critical`).
    pub level: &'a str,
    /// Rule tags; `attack.tNNNN[.NNN]`, `attack.taNNNN` and ATT&CK tactic names become the
    /// alert's techniques and tactics ([`attack_from_tags`]).
    pub tags: &'a [String],
    /// The matched (or completing) event's id in the event store.
    pub event_id: &'a str,
    /// The event's time (a correlation's last event).
    pub time: Time,
    /// A correlation's first event time; none for a single-event detection.
    pub first_time: Option<Time>,
    /// Events this detection stands for (1 for Sigma; a correlation's count).
    pub count: u64,
    /// A correlation's group-by fields and values: the group key when present.
    pub group: Option<&'a [(String, String)]>,
    /// The event's fields, for entities and suppression matching.
    pub event: &'a dyn EventFields,
}

impl std::fmt::Debug for RuleDetection<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuleDetection")
            .field("tenant", self.tenant)
            .field("rule_id", &self.rule_id)
            .field("event_id", &self.event_id)
            .field("time", &self.time)
            .finish_non_exhaustive()
    }
}

/// ATT&CK tactics (`TA0006`) and techniques (`T1110.001`) of Sigma tags, each sorted and
/// deduplicated. Other tags (groups, software, CAR, CVE) are ignored.
pub fn attack_from_tags(tags: &[String]) -> (Vec<String>, Vec<String>) {
    const TACTICS: &[(&str, &str)] = &[
        ("reconnaissance", "TA0043"),
        ("resource_development", "TA0042"),
        ("initial_access", "TA0001"),
        ("execution", "TA0002"),
        ("persistence", "TA0003"),
        ("privilege_escalation", "TA0004"),
        ("defense_evasion", "TA0005"),
        ("credential_access", "TA0006"),
        ("discovery", "TA0007"),
        ("lateral_movement", "TA0008"),
        ("collection", "TA0009"),
        ("command_and_control", "TA0011"),
        ("exfiltration", "TA0010"),
        ("impact", "TA0040"),
    ];
    let mut tactics = Vec::new();
    let mut techniques = Vec::new();
    for tag in tags {
        let Some(t) = tag
            .trim()
            .to_ascii_lowercase()
            .strip_prefix("attack.")
            .map(str::to_owned)
        else {
            continue;
        };
        let t = t.replace('-', "_");
        let digits = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit() || c == '.');
        if let Some(n) = t.strip_prefix("ta")
            && digits(n)
        {
            tactics.push(format!("TA{n}"));
        } else if let Some(n) = t.strip_prefix('t')
            && digits(n)
        {
            techniques.push(format!("T{n}"));
        } else if let Some((_, id)) = TACTICS.iter().find(|(name, _)| *name == t) {
            tactics.push((*id).to_owned());
        }
    }
    tactics.sort();
    tactics.dedup();
    techniques.sort();
    techniques.dedup();
    (tactics, techniques)
}

/// The alert pipeline's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertOptions {
    /// When an alert stops filling (KUMA: 10,000 events, 336 h).
    pub fill: FillPolicy,
    /// Open groups remembered (default 100,000; see [`GroupCache`]).
    pub group_cache_capacity: usize,
    /// New alert groups per `(tenant, rule)` per window before the storm cap trips (default
    /// 500; 0 disables).
    pub storm_max_new_alerts: u64,
    /// The storm cap's window (default 1 minute).
    pub storm_window: chrono::Duration,
    /// How long the suppression rules read from the store are trusted before the next batch
    /// reloads them (default 10 s; changes made through the service apply at once).
    pub suppression_refresh: chrono::Duration,
    /// Rule id → the event fields whose values make the group key, instead of the main
    /// entities.
    pub group_by: HashMap<String, Vec<String>>,
}

impl Default for AlertOptions {
    fn default() -> AlertOptions {
        AlertOptions {
            fill: FillPolicy::default(),
            group_cache_capacity: 100_000,
            storm_max_new_alerts: 500,
            storm_window: chrono::Duration::minutes(1),
            suppression_refresh: chrono::Duration::seconds(10),
            group_by: HashMap::new(),
        }
    }
}

/// A signal for the service monitoring (the caller turns it into a monitoring event).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceSignal {
    /// The storm cap of `(tenant, rule)` tripped in the window starting at `window_start`.
    StormCapTripped {
        /// Tenant.
        tenant: TenantId,
        /// Rule.
        rule_id: String,
        /// Window start.
        window_start: Time,
        /// The cap.
        max_new_alerts: u64,
    },
}

/// One alert a batch created or grew.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TouchedAlert {
    /// Alert id.
    pub alert_id: String,
    /// Tenant.
    pub tenant: TenantId,
    /// Rule.
    pub rule_id: String,
    /// Created by this batch.
    pub created: bool,
    /// Its count afterwards.
    pub count: u64,
}

/// A fold the store refused or failed; retry it with [`AlertService::retry`].
#[derive(Debug)]
pub struct FailedFold {
    /// The merged detection of the group.
    pub detection: Detection,
    /// Why.
    pub error: MetaError,
}

/// What one batch did.
#[derive(Debug, Default)]
pub struct AlertOutcome {
    /// Detections received.
    pub detections: u64,
    /// Detections that matched a suppression rule (counted on the rule).
    pub suppressed: u64,
    /// Detections folded into a storm alert.
    pub storm_capped: u64,
    /// Store folds made (one per group per batch).
    pub folds: u64,
    /// Alerts created.
    pub created: u64,
    /// Folds into an alert that was already open.
    pub grown: u64,
    /// Entity values not kept (too long, too many).
    pub entities_dropped: u64,
    /// Alerts touched, in fold order.
    pub alerts: Vec<TouchedAlert>,
    /// Monitoring signals raised.
    pub signals: Vec<ServiceSignal>,
    /// Folds that failed (their detections are not lost: retry them).
    pub failed: Vec<FailedFold>,
}

/// Counters since the service started (for metrics).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AlertStats {
    /// Detections received.
    pub detections: u64,
    /// Suppressed.
    pub suppressed: u64,
    /// Folded into storm alerts.
    pub storm_capped: u64,
    /// Storm cap trips.
    pub storm_trips: u64,
    /// Folds.
    pub folds: u64,
    /// Alerts created.
    pub created: u64,
    /// Failed folds.
    pub fold_errors: u64,
    /// Open groups in the cache.
    pub open_groups: u64,
    /// Groups evicted from the cache.
    pub groups_evicted: u64,
}

#[derive(Debug, Default)]
struct Counters {
    detections: AtomicU64,
    suppressed: AtomicU64,
    storm_capped: AtomicU64,
    storm_trips: AtomicU64,
    folds: AtomicU64,
    created: AtomicU64,
    fold_errors: AtomicU64,
}

#[derive(Debug)]
struct State {
    groups: GroupCache,
    storm: StormCap,
    suppressions: Arc<Suppressions>,
    suppressions_loaded: Option<Time>,
}

/// The alert pipeline over a [`MetaStore`]. Share it (`Arc`) between the detection wiring and
/// the API: batches and triage may run concurrently.
#[derive(Debug)]
pub struct AlertService {
    store: Arc<dyn MetaStore>,
    assets: Option<Arc<AssetBook>>,
    opts: AlertOptions,
    state: Mutex<State>,
    counters: Counters,
}

/// A group being built from a batch.
struct Pending {
    det: Detection,
    hash: u128,
    storm: bool,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn ulid_value(id: &str) -> u128 {
    ulid::Ulid::from_string(id)
        .map(|u| u.0)
        .unwrap_or_else(|_| entities::stable_hash128(id.as_bytes()))
}

impl AlertService {
    /// A service writing to `store`, scoring risk with `assets` when given.
    pub fn new(
        store: Arc<dyn MetaStore>,
        assets: Option<Arc<AssetBook>>,
        opts: AlertOptions,
    ) -> AlertService {
        let state = State {
            groups: GroupCache::new(opts.group_cache_capacity),
            storm: StormCap::new(opts.storm_max_new_alerts, opts.storm_window),
            suppressions: Arc::new(Suppressions::default()),
            suppressions_loaded: None,
        };
        AlertService {
            store,
            assets,
            opts,
            state: Mutex::new(state),
            counters: Counters::default(),
        }
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn MetaStore> {
        &self.store
    }

    /// The settings.
    pub fn options(&self) -> &AlertOptions {
        &self.opts
    }

    /// Handles a batch of detections at the current time.
    pub async fn on_detections(&self, batch: &[RuleDetection<'_>]) -> AlertOutcome {
        self.on_detections_at(batch, chrono::Utc::now()).await
    }

    /// Handles a batch of detections as of `now` (suppression expiry, storm windows).
    pub async fn on_detections_at(&self, batch: &[RuleDetection<'_>], now: Time) -> AlertOutcome {
        let mut out = AlertOutcome {
            detections: batch.len() as u64,
            ..AlertOutcome::default()
        };
        let suppressions = match self.suppressions(now).await {
            Ok(s) => s,
            Err(e) => {
                // Without the rules the batch cannot be judged; keep the last known set.
                tracing::warn!(error = %e, "suppression rules could not be reloaded; using the last known set");
                lock(&self.state).suppressions.clone()
            }
        };
        let mut suppressed: HashMap<(TenantId, String), u64> = HashMap::new();
        let mut pending: Vec<Pending> = Vec::new();
        let mut index: HashMap<u128, usize> = HashMap::new();
        for d in batch {
            if let Some(id) = suppressions.matching(d.tenant, d.rule_id, d.event, now) {
                *suppressed
                    .entry((d.tenant.clone(), id.to_owned()))
                    .or_default() += 1;
                out.suppressed += 1;
                continue;
            }
            let det = self.to_detection(d, &mut out);
            let hash = groups::group_hash(&det.tenant, &det.rule_id, &det.group_key);
            match index.get(&hash) {
                Some(&i) => merge(&mut pending[i].det, det),
                None => {
                    index.insert(hash, pending.len());
                    pending.push(Pending {
                        det,
                        hash,
                        storm: false,
                    });
                }
            }
        }
        self.apply_storm_cap(&mut pending, now, &mut out).await;
        for p in pending {
            self.fold(p, &mut out).await;
        }
        for ((tenant, id), n) in suppressed {
            let scope = TenantScope::single(tenant);
            if let Err(e) = self.store.record_suppressed(&scope, &id, n, now).await {
                tracing::warn!(suppression = %id, count = n, error = %e, "suppressed detections could not be counted on their rule");
            }
        }
        let c = &self.counters;
        c.detections.fetch_add(out.detections, Ordering::Relaxed);
        c.suppressed.fetch_add(out.suppressed, Ordering::Relaxed);
        c.storm_capped
            .fetch_add(out.storm_capped, Ordering::Relaxed);
        out
    }

    /// Folds detections that failed before (from [`AlertOutcome::failed`]).
    pub async fn retry(&self, failed: Vec<Detection>) -> AlertOutcome {
        let mut out = AlertOutcome::default();
        for det in failed {
            let hash = groups::group_hash(&det.tenant, &det.rule_id, &det.group_key);
            let storm = det.group_key == STORM_GROUP_KEY;
            self.fold(Pending { det, hash, storm }, &mut out).await;
        }
        out
    }

    fn to_detection(&self, d: &RuleDetection<'_>, out: &mut AlertOutcome) -> Detection {
        let ents = Entities::extract(d.event);
        out.entities_dropped += u64::from(ents.dropped);
        let group_key = if let Some(g) = d.group {
            key_of_fields(g.iter().map(|(f, v)| (f.as_str(), v.as_str())))
        } else if let Some(fields) = self.opts.group_by.get(d.rule_id) {
            key_of_event(fields, d.event)
        } else {
            ents.default_key()
        };
        let severity = risk::severity_of_level(d.level);
        let crit = self
            .assets
            .as_ref()
            .and_then(|a| a.criticality(d.tenant, &ents.hosts, &ents.ips));
        let (tactics, techniques) = attack_from_tags(d.tags);
        let first = d.first_time.unwrap_or(d.time).min(d.time);
        Detection {
            tenant: d.tenant.clone(),
            rule_id: d.rule_id.to_owned(),
            rule_name: d.rule_name.to_owned(),
            rule_version: d.rule_version,
            severity,
            risk_score: risk::risk_score(severity, crit),
            tactics,
            techniques,
            entities: ents.to_entities(),
            group_key,
            first_seen: first,
            last_seen: d.time,
            count: d.count.max(1),
            event_ids: if d.event_id.is_empty() {
                Vec::new()
            } else {
                vec![d.event_id.to_owned()]
            },
        }
    }

    /// Marks new groups over the storm cap and merges them into their rule's storm group.
    async fn apply_storm_cap(&self, pending: &mut Vec<Pending>, now: Time, out: &mut AlertOutcome) {
        if self.opts.storm_max_new_alerts == 0 {
            return;
        }
        let mut trips = Vec::new();
        {
            let mut st = lock(&self.state);
            let State { groups, storm, .. } = &mut *st;
            for p in pending.iter_mut() {
                if groups.contains(p.hash) {
                    continue;
                }
                if let storm::Admit::Capped {
                    first,
                    window_start,
                } = storm.admit(&p.det.tenant, &p.det.rule_id, now)
                {
                    p.storm = true;
                    storm.count_capped(&p.det.tenant, &p.det.rule_id, p.det.count);
                    if first {
                        trips.push(ServiceSignal::StormCapTripped {
                            tenant: p.det.tenant.clone(),
                            rule_id: p.det.rule_id.clone(),
                            window_start,
                            max_new_alerts: self.opts.storm_max_new_alerts,
                        });
                    }
                }
            }
        }
        if pending.iter().any(|p| p.storm) {
            let mut kept: Vec<Pending> = Vec::with_capacity(pending.len());
            let mut storms: HashMap<u128, usize> = HashMap::new();
            for mut p in pending.drain(..) {
                if !p.storm {
                    kept.push(p);
                    continue;
                }
                out.storm_capped += p.det.count;
                p.det.group_key = STORM_GROUP_KEY.to_owned();
                // A storm alert counts and links events; its entities would be unbounded.
                p.det.entities.clear();
                p.hash = groups::group_hash(&p.det.tenant, &p.det.rule_id, STORM_GROUP_KEY);
                match storms.get(&p.hash) {
                    Some(&i) => merge(&mut kept[i].det, p.det),
                    None => {
                        storms.insert(p.hash, kept.len());
                        kept.push(p);
                    }
                }
            }
            *pending = kept;
        }
        for s in trips {
            let ServiceSignal::StormCapTripped {
                tenant,
                rule_id,
                window_start,
                max_new_alerts,
            } = &s;
            self.counters.storm_trips.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(tenant = %tenant.as_str(), rule = %rule_id, max_new_alerts, "alert storm cap tripped: further new groups of this rule fold into its storm alert until the window ends");
            let record = NewAuditRecord {
                tenant: tenant.clone(),
                at: now,
                actor: "system".into(),
                action: "alert.storm_cap".into(),
                target_kind: "rule".into(),
                target_id: rule_id.clone(),
                outcome: AuditOutcome::Failure,
                source_ip: None,
                details: serde_json::json!({
                    "max_new_alerts": max_new_alerts,
                    "window_start": window_start,
                    "window_secs": self.opts.storm_window.num_seconds(),
                }),
            };
            if let Err(e) = self.store.append_audit(record).await {
                tracing::warn!(error = %e, "storm cap trip could not be audited");
            }
            out.signals.push(s);
        }
    }

    async fn fold(&self, p: Pending, out: &mut AlertOutcome) {
        out.folds += 1;
        self.counters.folds.fetch_add(1, Ordering::Relaxed);
        match self.store.fold_detection(&p.det, &self.opts.fill).await {
            Ok(f) => {
                if f.created {
                    out.created += 1;
                    self.counters.created.fetch_add(1, Ordering::Relaxed);
                } else {
                    out.grown += 1;
                }
                lock(&self.state)
                    .groups
                    .put(p.hash, ulid_value(&f.alert_id), f.count);
                out.alerts.push(TouchedAlert {
                    alert_id: f.alert_id,
                    tenant: p.det.tenant,
                    rule_id: p.det.rule_id,
                    created: f.created,
                    count: f.count,
                });
            }
            Err(error) => {
                self.counters.fold_errors.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(tenant = %p.det.tenant.as_str(), rule = %p.det.rule_id, count = p.det.count, error = %error, "detection fold failed; returned to the caller for retry");
                out.failed.push(FailedFold {
                    detection: p.det,
                    error,
                });
            }
        }
    }

    /// The suppression rules in force, reloaded from the store when older than the refresh
    /// interval.
    async fn suppressions(&self, now: Time) -> Result<Arc<Suppressions>, MetaError> {
        {
            let st = lock(&self.state);
            if let Some(at) = st.suppressions_loaded
                && now - at < self.opts.suppression_refresh
                && now >= at
            {
                return Ok(st.suppressions.clone());
            }
        }
        self.reload_suppressions(now).await
    }

    /// Reloads the suppression rules in force at `now` from the store.
    pub async fn reload_suppressions(&self, now: Time) -> Result<Arc<Suppressions>, MetaError> {
        let tenants = self.store.all_tenant_ids().await?;
        let scope = TenantScope::new(tenants)?;
        let rules = self
            .store
            .list_suppressions(&scope, None, Some(now))
            .await?;
        let s = Arc::new(Suppressions::new(&rules));
        let mut st = lock(&self.state);
        st.suppressions = s.clone();
        st.suppressions_loaded = Some(now);
        Ok(s)
    }

    /// Creates a time-limited suppression rule: it needs a reason and an expiry in the
    /// future, at most `max_lifetime` ahead. Audited; in force for the next batch.
    pub async fn suppress(
        &self,
        scope: &TenantScope,
        rule: NewSuppressionRule,
        max_lifetime: chrono::Duration,
        source_ip: Option<String>,
    ) -> Result<SuppressionRule, MetaError> {
        let now = chrono::Utc::now();
        let mut problems = Vec::new();
        match rule.expires_at {
            None => problems.push("expires_at: a suppression needs an expiry".to_owned()),
            Some(e) if e <= now => problems.push("expires_at: must be in the future".into()),
            Some(e) if e - now > max_lifetime => problems.push(format!(
                "expires_at: at most {} days ahead",
                max_lifetime.num_days()
            )),
            Some(_) => {}
        }
        if rule.reason.trim().is_empty() {
            problems.push("reason: say why detections are suppressed".into());
        }
        if rule.created_by.trim().is_empty() {
            problems.push("created_by: empty".into());
        }
        for (k, v) in &rule.fields {
            if k.trim().is_empty() || v.trim().is_empty() {
                problems.push(format!("fields.{k}: empty field name or value"));
            }
        }
        if !problems.is_empty() {
            return Err(MetaError::Invalid {
                field: "suppression".into(),
                reason: problems.join("; "),
            });
        }
        let created = self.store.create_suppression(scope, rule).await?;
        self.audit(
            &created.tenant,
            &created.created_by,
            "suppression.create",
            "suppression",
            &created.id,
            source_ip,
            serde_json::json!({
                "rule_id": created.rule_id,
                "fields": created.fields,
                "reason": created.reason,
                "expires_at": created.expires_at,
            }),
        )
        .await;
        self.reload_suppressions(now).await?;
        Ok(created)
    }

    /// Deletes a suppression rule. Audited.
    pub async fn unsuppress(
        &self,
        scope: &TenantScope,
        id: &str,
        actor: &str,
        source_ip: Option<String>,
    ) -> Result<(), MetaError> {
        let rule = self
            .store
            .list_suppressions(scope, None, None)
            .await?
            .into_iter()
            .find(|r| r.id == id)
            .ok_or_else(|| MetaError::NotFound {
                what: "suppression rule",
                id: id.to_owned(),
            })?;
        self.store.delete_suppression(scope, id).await?;
        self.audit(
            &rule.tenant,
            actor,
            "suppression.delete",
            "suppression",
            id,
            source_ip,
            serde_json::json!({
                "rule_id": rule.rule_id,
                "suppressed_count": rule.suppressed_count,
            }),
        )
        .await;
        self.reload_suppressions(chrono::Utc::now()).await?;
        Ok(())
    }

    /// An analyst's triage change: checked against the workflow ([`workflow::check_update`]),
    /// applied with its history by the store, audited. Closing ends the group: the next
    /// detection of it starts a new alert. A reopening reason is kept as a comment.
    pub async fn update(
        &self,
        scope: &TenantScope,
        id: &str,
        actor: &str,
        update: AlertUpdate,
    ) -> Result<Alert, MetaError> {
        let old = self.store.get_alert(scope, id).await?;
        workflow::check_update(&old, &update)?;
        let reopen_reason = (old.status == AlertStatus::Closed
            && update.status == Some(AlertStatus::New))
        .then(|| update.resolution_reason.clone())
        .flatten();
        let new = self.store.update_alert(scope, id, actor, update).await?;
        if new.status == AlertStatus::Closed {
            lock(&self.state).groups.end_alert(ulid_value(id));
        }
        if let Some(r) = reopen_reason {
            self.store
                .add_comment(
                    scope,
                    &CommentTarget::Alert(id.to_owned()),
                    actor,
                    &format!("Reopened: {}", r.trim()),
                )
                .await?;
        }
        self.audit(
            &new.tenant,
            actor,
            "alert.update",
            "alert",
            id,
            None,
            serde_json::json!({
                "status": [old.status, new.status],
                "assignee": [old.assignee, new.assignee],
                "resolution": new.resolution,
            }),
        )
        .await;
        Ok(new)
    }

    /// Adds an analyst's comment to an alert.
    pub async fn comment(
        &self,
        scope: &TenantScope,
        id: &str,
        author: &str,
        body: &str,
    ) -> Result<Comment, MetaError> {
        self.store
            .add_comment(scope, &CommentTarget::Alert(id.to_owned()), author, body)
            .await
    }

    /// An alert's change history and comments.
    pub async fn history(
        &self,
        scope: &TenantScope,
        id: &str,
    ) -> Result<(Vec<AlertChange>, Vec<Comment>), MetaError> {
        let h = self.store.alert_history(scope, id).await?;
        let c = self
            .store
            .list_comments(scope, &CommentTarget::Alert(id.to_owned()))
            .await?;
        Ok((h, c))
    }

    /// Counters since start.
    pub fn stats(&self) -> AlertStats {
        let c = &self.counters;
        let st = lock(&self.state);
        AlertStats {
            detections: c.detections.load(Ordering::Relaxed),
            suppressed: c.suppressed.load(Ordering::Relaxed),
            storm_capped: c.storm_capped.load(Ordering::Relaxed),
            storm_trips: c.storm_trips.load(Ordering::Relaxed),
            folds: c.folds.load(Ordering::Relaxed),
            created: c.created.load(Ordering::Relaxed),
            fold_errors: c.fold_errors.load(Ordering::Relaxed),
            open_groups: st.groups.len() as u64,
            groups_evicted: st.groups.evicted(),
        }
    }

    /// The storm counts of `(tenant, rule)`.
    pub fn storm_counts(&self, tenant: &TenantId, rule_id: &str) -> StormCounts {
        lock(&self.state).storm.counts(tenant, rule_id)
    }

    /// Bytes held by the open-group cache (see [`GroupCache::memory_bytes`]).
    pub fn open_groups_memory(&self) -> usize {
        lock(&self.state).groups.memory_bytes()
    }

    #[allow(clippy::too_many_arguments)]
    async fn audit(
        &self,
        tenant: &TenantId,
        actor: &str,
        action: &str,
        kind: &str,
        id: &str,
        source_ip: Option<String>,
        details: serde_json::Value,
    ) {
        let record = NewAuditRecord {
            tenant: tenant.clone(),
            at: chrono::Utc::now(),
            actor: actor.to_owned(),
            action: action.to_owned(),
            target_kind: kind.to_owned(),
            target_id: id.to_owned(),
            outcome: AuditOutcome::Success,
            source_ip,
            details,
        };
        if let Err(e) = self.store.append_audit(record).await {
            tracing::warn!(action, target = id, error = %e, "audit record could not be written");
        }
    }
}

/// Merges detection `b` of the same group into `a`.
fn merge(a: &mut Detection, b: Detection) {
    a.count = a.count.saturating_add(b.count);
    a.first_seen = a.first_seen.min(b.first_seen);
    a.last_seen = a.last_seen.max(b.last_seen);
    a.severity = a.severity.max(b.severity);
    a.risk_score = a.risk_score.max(b.risk_score);
    a.rule_version = a.rule_version.max(b.rule_version);
    for t in b.tactics {
        if !a.tactics.contains(&t) {
            a.tactics.push(t);
        }
    }
    for t in b.techniques {
        if !a.techniques.contains(&t) {
            a.techniques.push(t);
        }
    }
    for e in b.entities {
        if !a.entities.contains(&e) {
            a.entities.push(e);
        }
    }
    // Every id goes to the store: it keeps them up to the fill policy's cap and counts the
    // rest in `event_ids_dropped`.
    a.event_ids.extend(b.event_ids);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sigma_tags_give_tactics_and_techniques() {
        let tags: Vec<String> = [
            "attack.credential_access",
            "attack.t1110.001",
            "attack.T1110",
            "attack.ta0006",
            "attack.lateral-movement",
            "attack.g0007",
            "cve.2021-44228",
            "attack.t1110.001",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        let (tactics, techniques) = attack_from_tags(&tags);
        assert_eq!(tactics, ["TA0006", "TA0008"]);
        assert_eq!(techniques, ["T1110", "T1110.001"]);
    }
}
