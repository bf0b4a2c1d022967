//! The SOC core in `vigil up`: the metadata store (migrated at start), authentication (the
//! first administrator's password printed once on the console), the alert pipeline fed live
//! by the detection destination, assets and incidents — handed to the API as one
//! [`vigil_api::Core`].
//!
//! Kept apart from `cmd/up.rs` and `detection.rs` on purpose: the detection destination only
//! calls a sink with the alert events it stored ([`AlertFeed::sink`]); this module turns them
//! into [`RuleDetection`]s for [`AlertService::on_detections`] on the async runtime.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use vigil_config::{Config, MetaKind};
use vigil_core::alerts::{AlertOptions, AlertService, RuleDetection};
use vigil_core::assets::{AssetBook, AssetOptions};
use vigil_core::audit_events::AuditEvents;
use vigil_core::auth::{AuthConfig, ValidLdapConfig};
use vigil_core::incidents::IncidentService;
use vigil_core::sources::monitor::{EventSink, SourceMonitor};
use vigil_core::sources::{CollectorSource, SourceTracker, TrackerOptions};
use vigil_core::{
    AuthPolicy, Authenticator, MetaBackend, MetaConfig, MetaError, MetaStore, NewTenant,
    SqlMetaStore, TenantId, TenantScope, ValidMetaConfig,
};
use vigil_event::Event;
use vigil_pipeline::Telemetry;
use vigil_store::EventStore;

use vigil_core::detection::AlertSink;

/// Longest a suppression rule may last.
const MAX_SUPPRESSION_DAYS: i64 = 90;

/// Alert batches waiting for the alert pipeline (each is one stored group of alert events).
const FEED_QUEUE: usize = 256;

/// The validated `meta:` and `auth:` sections.
#[derive(Debug, Clone)]
pub struct CoreSettings {
    /// The metadata store.
    pub meta: ValidMetaConfig,
    /// The authentication policy.
    pub policy: AuthPolicy,
    /// LDAP, when configured.
    pub ldap: Option<ValidLdapConfig>,
}

/// Checks the `meta:` and `auth:` sections in detail (`vigil up` and `vigil validate`);
/// every problem with its path.
pub fn settings(cfg: &Config) -> Result<CoreSettings, Vec<String>> {
    let mut problems = Vec::new();
    let raw_meta = MetaConfig {
        backend: match cfg.meta.kind {
            MetaKind::Sqlite => MetaBackend::Sqlite,
            MetaKind::Postgres => MetaBackend::Postgres,
        },
        url: cfg.meta.url.as_ref().map(|s| s.expose().to_owned()),
        max_connections: cfg.meta.max_connections,
        max_attachment_bytes: cfg.meta.max_attachment_bytes,
    };
    // references were resolved by vigil-config: nothing is left to look up
    let meta = raw_meta
        .validate("meta", |_| None)
        .map_err(|p| problems.extend(p))
        .ok();
    let auth = serde_json::to_value(&cfg.auth.raw)
        .map_err(|e| e.to_string())
        .and_then(|mut v| {
            if let (Some(p), Some(l)) = (&cfg.auth.ldap_bind_password, v.get_mut("ldap")) {
                l["bind_password"] = serde_json::Value::from(p.expose());
            }
            serde_json::from_value::<AuthConfig>(v).map_err(|e| e.to_string())
        });
    let auth = match auth {
        Ok(a) => a
            .validate("auth", |_| None)
            .map_err(|p| problems.extend(p))
            .ok(),
        Err(e) => {
            problems.push(format!("auth: {e}"));
            None
        }
    };
    match (meta, auth) {
        (Some(meta), Some((policy, ldap))) if problems.is_empty() => {
            Ok(CoreSettings { meta, policy, ldap })
        }
        _ => Err(problems),
    }
}

/// The running core: what the API gets, and the feed the detection destination fills.
pub struct CoreRuntime {
    /// For the API.
    pub core: Arc<vigil_api::Core>,
    /// Where stored alert events go.
    pub feed: AlertFeed,
    /// The per-source counters the pipeline's source destination feeds.
    pub sources: Arc<SourceTracker>,
    /// The tenants' EPS and storage quotas, kept in step with the metadata store.
    pub quotas: Arc<vigil_pipeline::TenantQuotas>,
    /// The hosts the pipeline's asset destination saw, written every few seconds.
    pub learner: Arc<vigil_core::asset_learning::AssetLearner>,
    feed_thread: std::thread::JoinHandle<()>,
}

/// Longest the alert pipeline gets at shutdown to fold what is queued.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

impl CoreRuntime {
    /// At shutdown, once the pipeline (and its detection destination) has stopped: lets the
    /// alert pipeline fold the alert events still queued, for at most [`DRAIN_TIMEOUT`].
    pub async fn drain(self) {
        flush_sources(&*self.core.store, &self.sources).await;
        self.learner.flush(&self.core.assets).await;
        drop(self.feed);
        let thread = self.feed_thread;
        let joined = tokio::task::spawn_blocking(move || thread.join());
        match tokio::time::timeout(DRAIN_TIMEOUT, joined).await {
            Ok(Ok(Ok(()))) => {}
            Ok(_) => tracing::error!("the alert pipeline thread failed"),
            Err(_) => tracing::warn!(
                timeout_s = DRAIN_TIMEOUT.as_secs(),
                "alert pipeline still busy at shutdown; queued alert events stay in the event store only"
            ),
        }
    }
}

/// Opens the metadata store (migrating it), registers the collectors' tenants, creates the
/// first administrator when there is no user (printing the password once on the console,
/// never to the log), loads the assets, and starts the alert pipeline and the periodic purge
/// of expired sessions.
pub async fn start(
    cfg: &Config,
    settings: CoreSettings,
    tls: bool,
    telemetry: &Telemetry,
    events: Arc<dyn EventStore>,
) -> Result<CoreRuntime> {
    let store = SqlMetaStore::open(&settings.meta, &cfg.data_dir)
        .await
        .context("opening the metadata store (meta:)")?;
    // every audit record, once committed, also becomes an audit event of its tenant
    let audit_events = {
        let events = events.clone();
        AuditEvents::start(Box::new(move |tenant: &TenantId, evs: &[Event]| {
            events
                .append(tenant, evs)
                .map(|_| ())
                .map_err(|e| e.to_string())
        }))
        .context("starting the audit event thread")?
    };
    store.set_audit_mirror(audit_events.mirror());
    {
        let stats = audit_events.stats();
        telemetry.add_collector(move |out| stats.metrics(out));
    }
    let store: Arc<dyn MetaStore> = Arc::new(store);
    register_tenants(&*store, cfg).await?;
    let auth = Arc::new(
        Authenticator::new(store.clone(), settings.policy, settings.ldap)
            .context("starting authentication")?,
    );
    match auth.ensure_first_admin().await {
        Ok(Some(password)) => {
            // On the console only: never through tracing, never into a file.
            eprintln!(
                "First start: created the administrator `admin` with the password\n\n    {}\n\n\
                 It is shown this once and must be changed at the first login.",
                password.expose()
            );
        }
        Ok(None) => {}
        Err(e) => return Err(anyhow::anyhow!("creating the first administrator: {e}")),
    }
    let assets = Arc::new(AssetBook::new(store.clone(), AssetOptions::default()));
    let n = assets.load().await.context("loading the assets")?;
    tracing::info!(assets = n, "asset inventory loaded");
    let learner = Arc::new(vigil_core::asset_learning::AssetLearner::default());
    tokio::spawn(learning_loop(learner.clone(), assets.clone()));
    {
        let l = learner.clone();
        telemetry.add_collector(move |out| l.metrics(out));
    }
    let alerts = Arc::new(AlertService::new(
        store.clone(),
        Some(assets.clone()),
        AlertOptions::default(),
    ));
    let quotas = start_quotas(&store, &alerts, telemetry, events.clone()).await;
    let sources = start_sources(cfg, &store, &alerts, telemetry, events.clone()).await?;
    let core = Arc::new(vigil_api::Core {
        store: store.clone(),
        auth: auth.clone(),
        alerts: alerts.clone(),
        assets,
        incidents: IncidentService::new(store),
        tls,
        max_suppression_lifetime: chrono::Duration::days(MAX_SUPPRESSION_DAYS),
        sources: Some(sources.0.clone()),
        monitor: Some(sources.1),
        correlation: std::sync::OnceLock::new(),
        rules: Arc::new(vigil_core::rulebook::RuleBook::new(
            cfg.data_dir.join("rules"),
        )),
        events: Some(events),
        config: std::sync::OnceLock::new(),
    });
    tokio::spawn(purge_loop(auth));
    let (tx, rx) = tokio::sync::mpsc::channel::<Vec<Event>>(FEED_QUEUE);
    // A batch of detections borrows its events (`&dyn EventFields`, not `Sync`), so the feed
    // runs on a thread of its own, driving its future with the runtime's handle.
    let handle = tokio::runtime::Handle::current();
    let feed_thread = std::thread::Builder::new()
        .name("vigil-alerts".into())
        .spawn(move || handle.block_on(feed_loop(alerts, rx)))
        .context("starting the alert pipeline thread")?;
    Ok(CoreRuntime {
        core,
        feed: AlertFeed { tx },
        sources: sources.0,
        quotas,
        learner,
        feed_thread,
    })
}

/// Writes the hosts the pipeline saw every [`vigil_core::asset_learning::FLUSH_INTERVAL`].
async fn learning_loop(
    learner: Arc<vigil_core::asset_learning::AssetLearner>,
    assets: Arc<AssetBook>,
) {
    let mut tick = tokio::time::interval(vigil_core::asset_learning::FLUSH_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        learner.flush(&assets).await;
    }
}

/// How often the tenants' quotas are re-read (a change is in force within a second).
const QUOTA_TICK: Duration = Duration::from_millis(500);

/// The tenants' quotas, applied once now (before the pipeline starts) and then every
/// [`QUOTA_TICK`] by a task of their own; their counters go to `/metrics`.
async fn start_quotas(
    store: &Arc<dyn MetaStore>,
    alerts: &Arc<AlertService>,
    telemetry: &Telemetry,
    events: Arc<dyn EventStore>,
) -> Arc<vigil_pipeline::TenantQuotas> {
    let quotas = Arc::new(vigil_pipeline::TenantQuotas::new());
    let sink: EventSink = {
        let events = events.clone();
        Box::new(move |tenant: &TenantId, evs: &[Event]| {
            events
                .append(tenant, evs)
                .map(|_| ())
                .map_err(|e| e.to_string())
        })
    };
    let mut watch = vigil_core::sources::quota::QuotaWatch::new(
        store.clone(),
        events,
        quotas.clone(),
        alerts.clone(),
        Some(sink),
    );
    if let Err(e) = watch.tick().await {
        tracing::warn!(error = %e, "tenant quotas not read; retrying");
    }
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(QUOTA_TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = watch.tick().await {
                tracing::warn!(error = %e, "tenant quotas not read; the last ones stay in force");
            }
        }
    });
    {
        let q = quotas.clone();
        telemetry.add_collector(move |out| q.metrics(out));
    }
    quotas
}

/// How often the source figures are written to the metadata store.
const SOURCE_FLUSH: Duration = Duration::from_secs(5);
/// Per-minute source counts are kept this long (the API shows 24 h).
const SOURCE_SERIES_KEEP_HOURS: i64 = 25;

/// The source tracker (seeded with what the store knows from earlier runs) and the monitor,
/// and their timer: telemetry sampled and policies evaluated every second, figures flushed
/// every [`SOURCE_FLUSH`], old per-minute counts purged every ten minutes.
async fn start_sources(
    cfg: &Config,
    store: &Arc<dyn MetaStore>,
    alerts: &Arc<AlertService>,
    telemetry: &Telemetry,
    events: Arc<dyn EventStore>,
) -> Result<(Arc<SourceTracker>, Arc<SourceMonitor>)> {
    let mut collectors = Vec::new();
    for c in &cfg.collectors {
        let tenant =
            TenantId::new(&c.tenant).map_err(|e| anyhow::anyhow!("tenant {}: {e}", c.tenant))?;
        collectors.push(CollectorSource {
            id: c.id.clone(),
            tenant,
        });
    }
    let node = crate::topology::collector_name();
    let tracker = Arc::new(SourceTracker::new(
        collectors,
        &node,
        TrackerOptions::default(),
    ));
    let scope = TenantScope::new(store.all_tenant_ids().await?)?;
    let since = chrono::Utc::now() - chrono::Duration::hours(24);
    let mut page = vigil_core::Page::first(1000);
    loop {
        let got = store
            .list_sources(&scope, None, since, &page)
            .await
            .context("reading the source status")?;
        tracker.seed(got.items);
        match got.next_cursor {
            Some(c) => page.cursor = Some(c),
            None => break,
        }
    }
    let sink: EventSink = Box::new(move |tenant: &TenantId, evs: &[Event]| {
        let append = || {
            events
                .append(tenant, evs)
                .map(|_| ())
                .map_err(|e| e.to_string())
        };
        match tokio::runtime::Handle::try_current() {
            Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(append)
            }
            _ => append(),
        }
    });
    let monitor = Arc::new(SourceMonitor::new(
        store.clone(),
        alerts.clone(),
        tracker.clone(),
        Some(sink),
    ));
    tokio::spawn(sources_loop(
        store.clone(),
        tracker.clone(),
        monitor.clone(),
        telemetry.clone(),
    ));
    Ok((tracker, monitor))
}

async fn sources_loop(
    store: Arc<dyn MetaStore>,
    tracker: Arc<SourceTracker>,
    monitor: Arc<SourceMonitor>,
    telemetry: Telemetry,
) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_flush = std::time::Instant::now();
    let mut last_purge: Option<std::time::Instant> = None;
    loop {
        tick.tick().await;
        tracker.sample_components(&telemetry);
        monitor.tick(chrono::Utc::now().timestamp_millis()).await;
        if last_flush.elapsed() >= SOURCE_FLUSH {
            last_flush = std::time::Instant::now();
            flush_sources(&*store, &tracker).await;
        }
        if last_purge.is_none_or(|t| t.elapsed() >= Duration::from_secs(600)) {
            last_purge = Some(std::time::Instant::now());
            let before = chrono::Utc::now() - chrono::Duration::hours(SOURCE_SERIES_KEEP_HOURS);
            if let Err(e) = store.purge_source_series(before).await {
                tracing::warn!(error = %e, "old source counts not purged");
            }
            // Same period: the planner's statistics follow the alert queue's growth.
            if let Err(e) = store.refresh_statistics().await {
                tracing::warn!(error = %e, "metadata store statistics not refreshed");
            }
        }
    }
}

/// Writes the tracker's increments; what the store refuses goes with the next flush.
async fn flush_sources(store: &dyn MetaStore, tracker: &SourceTracker) {
    let pending = tracker.take_flush();
    if pending.is_empty() {
        return;
    }
    if let Err(e) = store.record_sources(&pending).await {
        tracing::warn!(error = %e, "source figures not written; kept for the next flush");
        tracker.restore(pending);
    }
}

/// Every tenant a collector writes to exists in the metadata store, so that roles can be
/// granted in it and its alerts kept.
async fn register_tenants(store: &dyn MetaStore, cfg: &Config) -> Result<()> {
    let known = store.all_tenant_ids().await?;
    let mut wanted: Vec<&str> = cfg.collectors.iter().map(|c| c.tenant.as_str()).collect();
    wanted.sort_unstable();
    wanted.dedup();
    for t in wanted {
        let id = TenantId::new(t).map_err(|e| anyhow::anyhow!("tenant {t:?}: {e}"))?;
        if known.contains(&id) {
            continue;
        }
        match store
            .create_tenant(NewTenant {
                id,
                name: t.to_owned(),
                description: "registered from the collectors' configuration".into(),
                eps_limit: None,
            })
            .await
        {
            Ok(_) | Err(MetaError::Conflict { .. }) => {}
            Err(e) => return Err(e).context(format!("registering tenant {t}")),
        }
    }
    Ok(())
}

async fn purge_loop(auth: Arc<Authenticator>) {
    let mut tick = tokio::time::interval(Duration::from_secs(300));
    loop {
        tick.tick().await;
        if let Err(e) = auth.purge().await {
            tracing::warn!(error = %e, "expired sessions not purged");
        }
    }
}

/// Hands stored alert events from the detection threads to the alert pipeline.
#[derive(Clone)]
pub struct AlertFeed {
    tx: tokio::sync::mpsc::Sender<Vec<Event>>,
}

impl AlertFeed {
    /// The detection destination's sink: each stored group of alert events is queued for the
    /// alert pipeline; when the queue is full the detection thread waits (alerts are never
    /// dropped while the process runs).
    pub fn sink(&self) -> AlertSink {
        let tx = self.tx.clone();
        Box::new(move |events: &[Event]| {
            let batch = events.to_vec();
            match tx.try_send(batch) {
                Ok(()) => {}
                Err(tokio::sync::mpsc::error::TrySendError::Full(batch)) => {
                    if tokio::runtime::Handle::try_current().is_ok() {
                        tracing::warn!(
                            alerts = batch.len(),
                            "alert pipeline queue full on an async worker; alerts stay in the event store only"
                        );
                    } else if tx.blocking_send(batch).is_err() {
                        tracing::warn!(
                            "alert pipeline stopped; alerts stay in the event store only"
                        );
                    }
                }
                Err(tokio::sync::mpsc::error::TrySendError::Closed(_)) => {
                    tracing::warn!("alert pipeline stopped; alerts stay in the event store only");
                }
            }
        })
    }
}

/// The detection of one stored alert event (`vigil.type: correlation`, see
/// `detection::alert_event` and `detection::correlation_event`).
struct Parsed {
    tenant: TenantId,
    rule_id: String,
    rule_name: String,
    level: String,
    tags: Vec<String>,
    event_id: String,
    time: chrono::DateTime<chrono::Utc>,
    first_time: Option<chrono::DateTime<chrono::Utc>>,
    count: u64,
    group: Option<Vec<(String, String)>>,
}

fn millis(ms: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_millis(ms).unwrap_or_else(chrono::Utc::now)
}

fn parse(a: &Event) -> Option<Parsed> {
    use vigil_core::alerts::EventFields;
    let tenant = TenantId::new(&a.meta.tenant).ok()?;
    let rule_id = a.rule.id.as_ref()?.to_string();
    let rule_name = a
        .rule
        .name
        .as_ref()
        .map_or_else(|| rule_id.clone(), |n| n.to_string());
    let correlation = a.rule.ruleset.as_deref() == Some("sigma-correlation");
    let count = if correlation {
        a.first("vigil.correlation.count")
            .and_then(|c| c.parse::<u64>().ok())
            .unwrap_or(1)
            .max(1)
    } else {
        1
    };
    let group = correlation.then(|| {
        a.extra
            .iter()
            .filter_map(|(k, _)| {
                let field = k.strip_prefix("vigil.correlation.group.")?;
                Some((field.to_owned(), a.first(k)?))
            })
            .collect::<Vec<_>>()
    });
    Some(Parsed {
        tenant,
        rule_id,
        rule_name,
        level: a.log.level.as_deref().unwrap_or("medium").to_owned(),
        tags: a.tags.iter().map(|t| t.to_string()).collect(),
        event_id: a
            .first("vigil.detection.event_id")
            .unwrap_or_else(|| a.meta.id.to_string()),
        time: millis(a.timestamp.millis()),
        first_time: a.event.start.map(|t| millis(t.millis())),
        count,
        group,
    })
}

/// Receives stored alert events and makes alerts of them, one batch at a time; folds the
/// store refused are retried with the next batch (and every few seconds while idle).
async fn feed_loop(alerts: Arc<AlertService>, mut rx: tokio::sync::mpsc::Receiver<Vec<Event>>) {
    let mut failed: Vec<vigil_core::Detection> = Vec::new();
    loop {
        let batch = if failed.is_empty() {
            rx.recv().await
        } else {
            match tokio::time::timeout(Duration::from_secs(5), rx.recv()).await {
                Ok(b) => b,
                Err(_) => Some(Vec::new()),
            }
        };
        let Some(mut events) = batch else { break };
        // take what else is queued: one pass of grouping for all of it
        while events.len() < 10_000 {
            match rx.try_recv() {
                Ok(more) => events.extend(more),
                Err(_) => break,
            }
        }
        if !failed.is_empty() {
            let out = alerts.retry(std::mem::take(&mut failed)).await;
            failed.extend(out.failed.into_iter().map(|f| f.detection));
        }
        if events.is_empty() {
            continue;
        }
        let parsed: Vec<(Parsed, &Event)> = events
            .iter()
            .filter_map(|e| match parse(e) {
                Some(p) => Some((p, e)),
                None => {
                    tracing::warn!(tenant = %e.meta.tenant, "alert event without a rule id or valid tenant; no alert made");
                    None
                }
            })
            .collect();
        let detections: Vec<RuleDetection<'_>> = parsed
            .iter()
            .map(|(p, e)| RuleDetection {
                tenant: &p.tenant,
                rule_id: &p.rule_id,
                rule_name: &p.rule_name,
                rule_version: 1,
                level: &p.level,
                tags: &p.tags,
                event_id: &p.event_id,
                time: p.time,
                first_time: p.first_time,
                count: p.count,
                group: p.group.as_deref(),
                event: *e,
            })
            .collect();
        let out = alerts.on_detections(&detections).await;
        if !out.failed.is_empty() {
            tracing::warn!(folds = out.failed.len(), "alert folds failed; retrying");
            failed.extend(out.failed.into_iter().map(|f| f.detection));
        }
    }
}

/// The alert pipeline's and authentication's counters for `/metrics`.
pub fn core_metrics(core: &vigil_api::Core, out: &mut vigil_pipeline::MetricSet) {
    let a = core.alerts.stats();
    let rows: [(&'static str, &'static str, &'static str, u64); 9] = [
        (
            "vigil_alerts_detections_total",
            "counter",
            "Detections handed to the alert pipeline.",
            a.detections,
        ),
        (
            "vigil_alerts_suppressed_total",
            "counter",
            "Detections suppressed by a suppression rule (counted on the rule too).",
            a.suppressed,
        ),
        (
            "vigil_alerts_storm_capped_total",
            "counter",
            "Detections folded into a storm alert by the per-rule cap.",
            a.storm_capped,
        ),
        (
            "vigil_alerts_storm_trips_total",
            "counter",
            "Times a rule's storm cap tripped.",
            a.storm_trips,
        ),
        (
            "vigil_alerts_folds_total",
            "counter",
            "Detection groups folded into alerts.",
            a.folds,
        ),
        (
            "vigil_alerts_created_total",
            "counter",
            "Alerts created.",
            a.created,
        ),
        (
            "vigil_alerts_fold_errors_total",
            "counter",
            "Folds the metadata store refused (retried).",
            a.fold_errors,
        ),
        (
            "vigil_alerts_open_groups",
            "gauge",
            "Open alert groups held in the cache.",
            a.open_groups,
        ),
        (
            "vigil_alerts_groups_evicted_total",
            "counter",
            "Open groups evicted from the cache.",
            a.groups_evicted,
        ),
    ];
    for (name, kind, help, v) in rows {
        out.sample(name, kind, help, &[], v);
    }
    let c = core.auth.counters();
    let rows: [(&'static str, &'static str, u64); 7] = [
        ("ok", "Successful logins.", c.logins_ok),
        ("failed", "Failed logins.", c.logins_failed),
        ("lockout", "Accounts locked.", c.lockouts),
        (
            "throttled",
            "Logins refused because the address was throttled.",
            c.throttled,
        ),
        ("bearer_refused", "API tokens refused.", c.bearer_refused),
        (
            "session_refused",
            "Session cookies refused.",
            c.session_refused,
        ),
        (
            "csrf_refused",
            "Writes refused for a missing or wrong CSRF token.",
            c.csrf_refused,
        ),
    ];
    for (outcome, _help, v) in rows {
        out.sample(
            "vigil_auth_events_total",
            "counter",
            "Authentication outcomes since start, by outcome.",
            &[("outcome", outcome)],
            v,
        );
    }
}
