//! The alert pipeline and the asset inventory against both metadata backends: SQLite in a
//! temp directory and the PostgreSQL server on 127.0.0.1:5432 (user postgres, trust auth), in
//! a fresh database dropped afterwards. Without a server the PostgreSQL cases fail when `CI`
//! is set and are skipped (with a message) otherwise — the same rule as `tests/meta_store.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use sqlx::any::AnyPoolOptions;
use vigil_core::alerts::*;
use vigil_core::assets::*;
use vigil_core::*;

const PG_ADMIN: &str = "postgres://postgres@127.0.0.1:5432/postgres";

fn opts() -> StoreOptions {
    StoreOptions {
        max_attachment_bytes: 1024,
        max_connections: 4,
    }
}

async fn pg_env() -> Option<(String, SqlMetaStore)> {
    sqlx::any::install_default_drivers();
    let admin = match AnyPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(5))
        .connect(PG_ADMIN)
        .await
    {
        Ok(a) => a,
        Err(e) => {
            let msg = format!("PostgreSQL at 127.0.0.1:5432 (user postgres) is not reachable: {e}");
            if std::env::var_os("CI").is_some() {
                panic!("{msg}; CI is set, so the PostgreSQL half of the suite must run");
            }
            eprintln!("SKIPPED: {msg}");
            return None;
        }
    };
    let name = format!(
        "vigil_test_{}",
        ulid::Ulid::new().to_string().to_lowercase()
    );
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&admin)
        .await
        .unwrap();
    admin.close().await;
    let url = format!("postgres://postgres@127.0.0.1:5432/{name}");
    let store = SqlMetaStore::open_postgres(&url, opts()).await.unwrap();
    Some((name, store))
}

async fn pg_drop(name: &str) {
    let admin = AnyPoolOptions::new()
        .max_connections(1)
        .connect(PG_ADMIN)
        .await
        .unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&admin)
    .await
    .unwrap();
    admin.close().await;
}

macro_rules! suite {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let dir = tempfile::tempdir().unwrap();
                    let store = vigil_core::SqlMetaStore::open_sqlite(
                        &dir.path().join("meta.db"),
                        super::opts(),
                    )
                    .await
                    .unwrap();
                    let store = std::sync::Arc::new(store);
                    super::$case(store.clone()).await;
                    store.close().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let Some((name, store)) = super::pg_env().await else { return };
                    let store = std::sync::Arc::new(store);
                    super::$case(store.clone()).await;
                    store.close().await;
                    super::pg_drop(&name).await;
                }
            )*
        }
    };
}

suite!(
    thousand_repeated_detections_make_one_alert_with_count_1000,
    suppression_stops_new_alerts_and_counts,
    storm_cap_counts,
    closing_ends_the_group,
    critical_asset_raises_risk,
    status_workflow_history_and_comments,
    correlation_group_by_and_configured_keys,
    assets_learned_from_events_merge_by_ip_and_name,
    asset_csv_round_trip,
    asset_csv_reports_bad_rows_and_refuses_unknown_columns,
);

fn main_t() -> TenantId {
    TenantId::main()
}

fn all() -> TenantScope {
    TenantScope::new([TenantId::main(), TenantId::shared()]).unwrap()
}

fn ts(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_700_000_000 + secs, 0).unwrap()
}

/// An event: ECS field → value.
fn ev(host: &str, user: &str) -> BTreeMap<String, String> {
    [
        ("host.name", host),
        ("user.name", user),
        ("source.ip", "203.0.113.7"),
        ("process.name", "sshd"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect()
}

struct Ids(Vec<String>);

impl Ids {
    fn new(prefix: &str, n: usize) -> Ids {
        Ids((0..n).map(|i| format!("{prefix}-{i}")).collect())
    }
}

fn tags() -> Vec<String> {
    vec!["attack.credential_access".into(), "attack.t1110.001".into()]
}

fn det<'a>(
    tenant: &'a TenantId,
    rule: &'a str,
    event_id: &'a str,
    at: i64,
    event: &'a dyn EventFields,
    tags: &'a [String],
) -> RuleDetection<'a> {
    RuleDetection {
        tenant,
        rule_id: rule,
        rule_name: "SSH brute force",
        rule_version: 1,
        level: "medium",
        tags,
        event_id,
        time: ts(at),
        first_time: None,
        count: 1,
        group: None,
        event,
    }
}

fn service(store: Arc<SqlMetaStore>, opts: AlertOptions) -> AlertService {
    AlertService::new(store, None, opts)
}

async fn alerts_of(store: &SqlMetaStore, rule: &str) -> Vec<Alert> {
    let q = AlertQuery {
        rule_id: Some(rule.into()),
        sort: AlertSort::CreatedAt,
        dir: SortDir::Asc,
        ..AlertQuery::default()
    };
    store
        .list_alerts(&all(), &q, &Page::first(1000))
        .await
        .unwrap()
        .items
}

async fn thousand_repeated_detections_make_one_alert_with_count_1000(store: Arc<SqlMetaStore>) {
    let svc = service(store.clone(), AlertOptions::default());
    let t = main_t();
    let tags = tags();
    let e = ev("WEB1", "root");
    let ids = Ids::new("ev", 1000);
    let dets: Vec<RuleDetection<'_>> = ids
        .0
        .iter()
        .enumerate()
        .map(|(i, id)| det(&t, "r-brute", id, i as i64, &e, &tags))
        .collect();
    // one at a time, then in batches of different sizes: the result is the same
    let mut created = 0;
    let mut folds = 0;
    for d in &dets[..50] {
        let out = svc.on_detections(std::slice::from_ref(d)).await;
        assert!(out.failed.is_empty());
        created += out.created;
        folds += out.folds;
    }
    for chunk in dets[50..].chunks(317) {
        let out = svc.on_detections(chunk).await;
        assert!(out.failed.is_empty());
        assert_eq!(out.folds, 1, "one fold per group per batch");
        created += out.created;
        folds += out.folds;
    }
    assert_eq!(created, 1);
    assert_eq!(folds, 50 + 3);
    let alerts = alerts_of(&store, "r-brute").await;
    assert_eq!(alerts.len(), 1);
    let a = &alerts[0];
    assert_eq!(a.count, 1000);
    assert_eq!(a.first_seen, ts(0));
    assert_eq!(a.last_seen, ts(999));
    assert_eq!(a.status, AlertStatus::New);
    assert_eq!(a.severity, Severity::Medium);
    assert_eq!(a.risk_score, 40);
    assert_eq!(a.tactics, ["TA0006"]);
    assert_eq!(a.techniques, ["T1110.001"]);
    assert_eq!(
        a.group_key,
        "host=web1|user=root|ip=203.0.113.7|process=sshd"
    );
    assert!(a.entities.contains(&Entity {
        kind: EntityKind::Host,
        value: "web1".into()
    }));
    assert_eq!(a.event_ids_kept, 1000);
    assert_eq!(a.event_ids_dropped, 0);
    let kept = store.alert_event_ids(&all(), &a.id).await.unwrap();
    assert_eq!(kept.len(), 1000);
    assert_eq!(kept[0], "ev-0");
    let stats = svc.stats();
    assert_eq!(stats.detections, 1000);
    assert_eq!(stats.created, 1);
    assert_eq!(stats.open_groups, 1);
}

async fn suppression_stops_new_alerts_and_counts(store: Arc<SqlMetaStore>) {
    let svc = service(store.clone(), AlertOptions::default());
    let t = main_t();
    let tags = tags();
    let scope = TenantScope::single(t.clone());
    let now = Utc::now();
    let rule = NewSuppressionRule {
        tenant: t.clone(),
        rule_id: "r-sup".into(),
        fields: [("host.name".to_owned(), "backup01".to_owned())].into(),
        reason: "nightly backup logs in as root".into(),
        created_by: "u-alice".into(),
        expires_at: Some(now + chrono::Duration::hours(2)),
    };
    // refused without expiry or reason, every problem listed
    let bad = NewSuppressionRule {
        expires_at: None,
        reason: " ".into(),
        ..rule.clone()
    };
    let err = svc
        .suppress(&scope, bad, chrono::Duration::days(90), None)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("expires_at") && err.contains("reason"),
        "{err}"
    );
    let sup = svc
        .suppress(
            &scope,
            rule,
            chrono::Duration::days(90),
            Some("10.1.1.1".into()),
        )
        .await
        .unwrap();

    let backup = ev("BACKUP01", "root");
    let other = ev("web2", "root");
    let ids = Ids::new("s", 60);
    let mut batch = Vec::new();
    for (i, id) in ids.0.iter().enumerate() {
        let e: &dyn EventFields = if i < 50 { &backup } else { &other };
        batch.push(det(&t, "r-sup", id, i as i64, e, &tags));
    }
    let out = svc.on_detections_at(&batch, now).await;
    assert_eq!(out.suppressed, 50);
    assert_eq!(out.created, 1);
    let alerts = alerts_of(&store, "r-sup").await;
    assert_eq!(alerts.len(), 1, "only web2 makes an alert");
    assert_eq!(alerts[0].count, 10);
    // counted on the suppression rule, not lost
    let rules = store
        .list_suppressions(&scope, Some("r-sup"), None)
        .await
        .unwrap();
    assert_eq!(rules[0].id, sup.id);
    assert_eq!(rules[0].suppressed_count, 50);
    assert!(rules[0].last_hit_at.is_some());
    // a second batch counts on
    let out = svc.on_detections_at(&batch[..5], now).await;
    assert_eq!(out.suppressed, 5);
    let rules = store
        .list_suppressions(&scope, Some("r-sup"), None)
        .await
        .unwrap();
    assert_eq!(rules[0].suppressed_count, 55);
    // expired: detections make alerts again
    let later = now + chrono::Duration::hours(3);
    let out = svc.on_detections_at(&batch[..3], later).await;
    assert_eq!(out.suppressed, 0);
    assert_eq!(out.created, 1);
    // audited: who, why, expiry
    let audit = store
        .list_audit(
            &scope,
            &AuditQuery {
                action: Some("suppression.".into()),
                ..AuditQuery::default()
            },
            &Page::first(10),
        )
        .await
        .unwrap()
        .items;
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].actor, "u-alice");
    assert_eq!(audit[0].source_ip.as_deref(), Some("10.1.1.1"));
    assert_eq!(audit[0].details["reason"], "nightly backup logs in as root");
    svc.unsuppress(&scope, &sup.id, "u-bob", None)
        .await
        .unwrap();
    let out = svc.on_detections_at(&batch[..1], now).await;
    assert_eq!(out.suppressed, 0, "deleted: in force no more");
}

async fn storm_cap_counts(store: Arc<SqlMetaStore>) {
    let opts = AlertOptions {
        storm_max_new_alerts: 5,
        storm_window: chrono::Duration::minutes(1),
        ..AlertOptions::default()
    };
    let svc = service(store.clone(), opts);
    let t = main_t();
    let tags = tags();
    let now = Utc::now();
    let events: Vec<_> = (0..20).map(|i| ev(&format!("host{i:02}"), "u")).collect();
    let ids = Ids::new("st", 20);
    let batch: Vec<_> = (0..20)
        .map(|i| det(&t, "r-storm", &ids.0[i], i as i64, &events[i], &tags))
        .collect();
    let out = svc.on_detections_at(&batch[..3], now).await;
    assert_eq!(out.created, 3);
    let out = svc.on_detections_at(&batch[3..], now).await;
    assert_eq!(out.storm_capped, 15);
    assert_eq!(out.created, 3, "two more groups and the storm alert");
    assert_eq!(out.signals.len(), 1);
    assert!(matches!(
        &out.signals[0],
        ServiceSignal::StormCapTripped { rule_id, max_new_alerts: 5, .. } if rule_id == "r-storm"
    ));
    let alerts = alerts_of(&store, "r-storm").await;
    assert_eq!(alerts.len(), 6);
    let storm = alerts
        .iter()
        .find(|a| a.group_key == STORM_GROUP_KEY)
        .unwrap();
    assert_eq!(storm.count, 15);
    assert_eq!(
        storm.event_ids_kept, 15,
        "capped detections keep their events"
    );
    // open groups are never capped; more new ones fold into the storm alert, no new signal
    let out = svc.on_detections_at(&batch, now).await;
    assert_eq!(out.storm_capped, 15);
    assert_eq!(out.created, 0);
    assert!(out.signals.is_empty());
    assert_eq!(
        svc.storm_counts(&t, "r-storm"),
        StormCounts {
            trips: 1,
            capped: 30
        }
    );
    assert_eq!(svc.stats().storm_trips, 1);
    let total: u64 = alerts_of(&store, "r-storm")
        .await
        .iter()
        .map(|a| a.count)
        .sum();
    assert_eq!(total, 40, "every detection is counted somewhere");
    let audit = store
        .list_audit(
            &all(),
            &AuditQuery {
                action: Some("alert.storm_cap".into()),
                ..AuditQuery::default()
            },
            &Page::first(10),
        )
        .await
        .unwrap()
        .items;
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].target_id, "r-storm");
    // the next window opens new groups again
    let later = now + chrono::Duration::minutes(2);
    let fresh = ev("fresh", "u");
    let out = svc
        .on_detections_at(&[det(&t, "r-storm", "f1", 100, &fresh, &tags)], later)
        .await;
    assert_eq!((out.created, out.storm_capped), (1, 0));
}

async fn closing_ends_the_group(store: Arc<SqlMetaStore>) {
    let svc = service(store.clone(), AlertOptions::default());
    let t = main_t();
    let tags = tags();
    let scope = TenantScope::single(t.clone());
    let e = ev("db1", "sa");
    let ids = Ids::new("c", 12);
    let batch: Vec<_> = ids
        .0
        .iter()
        .enumerate()
        .map(|(i, id)| det(&t, "r-close", id, i as i64, &e, &tags))
        .collect();
    svc.on_detections(&batch[..10]).await;
    let a = alerts_of(&store, "r-close").await.remove(0);
    assert_eq!(a.count, 10);
    // closing needs a resolution and a reason
    let err = svc
        .update(
            &scope,
            &a.id,
            "u1",
            AlertUpdate {
                status: Some(AlertStatus::Closed),
                ..AlertUpdate::default()
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(err, MetaError::Invalid { .. }));
    let closed = svc
        .update(
            &scope,
            &a.id,
            "u1",
            AlertUpdate {
                status: Some(AlertStatus::Closed),
                resolution: Some(Resolution::FalsePositive),
                resolution_reason: Some("DBA maintenance".into()),
                ..AlertUpdate::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(closed.status, AlertStatus::Closed);
    assert!(!closed.filling);
    assert_eq!(closed.resolution_reason.as_deref(), Some("DBA maintenance"));
    let out = svc.on_detections(&batch[10..]).await;
    assert_eq!(out.created, 1, "the group ended: a new alert");
    let alerts = alerts_of(&store, "r-close").await;
    assert_eq!(alerts.len(), 2);
    assert_eq!(alerts[0].count, 10);
    assert_eq!(alerts[1].count, 2);
    assert_eq!(alerts[0].group_key, alerts[1].group_key);
    let (history, _) = svc.history(&scope, &a.id).await.unwrap();
    assert!(
        history
            .iter()
            .any(|h| h.field == "status" && h.new.as_deref() == Some("closed") && h.actor == "u1")
    );
    assert!(
        history
            .iter()
            .any(|h| h.field == "resolution" && h.new.as_deref() == Some("false_positive"))
    );
}

async fn critical_asset_raises_risk(store: Arc<SqlMetaStore>) {
    let t = main_t();
    let scope = TenantScope::single(t.clone());
    store
        .create_asset(
            &scope,
            AssetSpec {
                tenant: t.clone(),
                name: "DC01".into(),
                ips: vec!["10.0.0.10".into()],
                owner: Some("infra".into()),
                criticality: Criticality::Critical,
                categories: vec!["domain-controller".into()],
                os: None,
                description: String::new(),
                sources: vec!["manual".into()],
            },
        )
        .await
        .unwrap();
    let book = Arc::new(AssetBook::new(store.clone(), AssetOptions::default()));
    assert_eq!(book.load().await.unwrap(), 1);
    let svc = AlertService::new(store.clone(), Some(book), AlertOptions::default());
    let tags = tags();
    let on_dc = ev("dc01", "admin");
    let elsewhere = ev("ws17", "admin");
    let mut by_ip = BTreeMap::new();
    by_ip.insert("destination.ip".to_owned(), "10.0.0.10".to_owned());
    svc.on_detections(&[
        det(&t, "r-risk", "e1", 0, &on_dc, &tags),
        det(&t, "r-risk", "e2", 0, &elsewhere, &tags),
        det(&t, "r-risk", "e3", 0, &by_ip, &tags),
    ])
    .await;
    let alerts = alerts_of(&store, "r-risk").await;
    let risk = |key: &str| {
        alerts
            .iter()
            .find(|a| a.group_key.contains(key))
            .unwrap()
            .risk_score
    };
    assert_eq!(risk("host=dc01"), 65, "medium (40) + critical asset (25)");
    assert_eq!(risk("host=ws17"), 40, "medium on an unknown host");
    assert_eq!(risk("ip=10.0.0.10"), 65, "matched by address");
}

async fn status_workflow_history_and_comments(store: Arc<SqlMetaStore>) {
    let svc = service(store.clone(), AlertOptions::default());
    let t = main_t();
    let tags = tags();
    let scope = TenantScope::single(t.clone());
    let e = ev("h", "u");
    svc.on_detections(&[det(&t, "r-wf", "w1", 0, &e, &tags)])
        .await;
    let a = alerts_of(&store, "r-wf").await.remove(0);
    let up = |s: AlertStatus| AlertUpdate {
        status: Some(s),
        ..AlertUpdate::default()
    };
    // assigned needs an assignee
    assert!(
        svc.update(&scope, &a.id, "u1", up(AlertStatus::Assigned))
            .await
            .is_err()
    );
    let assigned = svc
        .update(
            &scope,
            &a.id,
            "u1",
            AlertUpdate {
                assignee: Some(Some("u2".into())),
                ..AlertUpdate::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(assigned.status, AlertStatus::Assigned);
    svc.update(&scope, &a.id, "u2", up(AlertStatus::Escalated))
        .await
        .unwrap();
    // escalated goes back to assigned only
    let err = svc
        .update(&scope, &a.id, "u2", up(AlertStatus::New))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("escalated → new is not allowed"), "{err}");
    svc.update(
        &scope,
        &a.id,
        "u2",
        AlertUpdate {
            status: Some(AlertStatus::Closed),
            resolution: Some(Resolution::TruePositive),
            resolution_reason: Some("confirmed by the host owner".into()),
            ..AlertUpdate::default()
        },
    )
    .await
    .unwrap();
    // a closed alert reopens, with a reason kept as a comment
    assert!(
        svc.update(&scope, &a.id, "u2", up(AlertStatus::New))
            .await
            .is_err()
    );
    let reopened = svc
        .update(
            &scope,
            &a.id,
            "u3",
            AlertUpdate {
                status: Some(AlertStatus::New),
                resolution_reason: Some("wrong host".into()),
                ..AlertUpdate::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(reopened.resolution, None);
    svc.comment(&scope, &a.id, "u3", "looking again")
        .await
        .unwrap();
    let (history, comments) = svc.history(&scope, &a.id).await.unwrap();
    let statuses: Vec<_> = history
        .iter()
        .filter(|h| h.field == "status")
        .map(|h| (h.actor.as_str(), h.new.clone().unwrap_or_default()))
        .collect();
    assert_eq!(
        statuses,
        [
            ("u1", "assigned".to_owned()),
            ("u2", "escalated".into()),
            ("u2", "closed".into()),
            ("u3", "new".into())
        ]
    );
    let bodies: Vec<_> = comments.iter().map(|c| c.body.as_str()).collect();
    assert_eq!(bodies, ["Reopened: wrong host", "looking again"]);
    let audit = store
        .list_audit(
            &scope,
            &AuditQuery {
                action: Some("alert.update".into()),
                ..AuditQuery::default()
            },
            &Page::first(50),
        )
        .await
        .unwrap()
        .items;
    assert_eq!(audit.len(), 4);
}

async fn correlation_group_by_and_configured_keys(store: Arc<SqlMetaStore>) {
    let mut opts = AlertOptions::default();
    opts.group_by
        .insert("r-cfg".into(), vec!["source.ip".into()]);
    let svc = service(store.clone(), opts);
    let t = main_t();
    let tags = tags();
    let group = vec![("source.ip".to_owned(), "198.51.100.4".to_owned())];
    let e1 = ev("a", "x");
    let e2 = ev("b", "y");
    let corr = |id: &'static str, e: &'static BTreeMap<String, String>| RuleDetection {
        count: 20,
        first_time: Some(ts(-60)),
        group: Some(&group),
        ..det(&t, "r-corr", id, 0, e, &tags)
    };
    // leak the events for 'static in this test only
    let e1: &'static BTreeMap<String, String> = Box::leak(Box::new(e1));
    let e2: &'static BTreeMap<String, String> = Box::leak(Box::new(e2));
    svc.on_detections(&[corr("c1", e1), corr("c2", e2)]).await;
    let a = alerts_of(&store, "r-corr").await;
    assert_eq!(
        a.len(),
        1,
        "the group-by values, not the entities, make the key"
    );
    assert_eq!(a[0].group_key, "source.ip=198.51.100.4");
    assert_eq!(a[0].count, 40);
    assert_eq!(a[0].first_seen, ts(-60));
    // a rule configured to group by source.ip: different hosts, one alert
    svc.on_detections(&[
        det(&t, "r-cfg", "g1", 0, e1, &tags),
        det(&t, "r-cfg", "g2", 1, e2, &tags),
    ])
    .await;
    let a = alerts_of(&store, "r-cfg").await;
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].group_key, "source.ip=203.0.113.7");
    assert_eq!(
        a[0].entities
            .iter()
            .filter(|e| e.kind == EntityKind::Host)
            .count(),
        2
    );
}

async fn assets_learned_from_events_merge_by_ip_and_name(store: Arc<SqlMetaStore>) {
    let t = main_t();
    let scope = TenantScope::single(t.clone());
    let book = AssetBook::new(store.clone(), AssetOptions::default());
    book.load().await.unwrap();
    let only_ip: &[(&str, &str)] = &[("host.ip", "10.9.0.5")];
    let Learned::Created(id) = book.learn(&t, &only_ip, ts(0), "fw1").await.unwrap() else {
        panic!("created")
    };
    let a = store.get_asset(&scope, &id).await.unwrap();
    assert_eq!(a.name, "10.9.0.5");
    assert_eq!(a.sources, ["events:fw1"]);
    assert_eq!(a.last_seen, ts(0).max(a.created_at));
    // the name arrives with the same address: the asset takes it
    let named: &[(&str, &str)] = &[
        ("host.name", "Mail01"),
        ("host.ip", "10.9.0.5"),
        ("host.ip", "10.9.0.6"),
    ];
    assert_eq!(
        book.learn(&t, &named, ts(10), "fw1").await.unwrap(),
        Learned::Merged(id.clone())
    );
    let a = store.get_asset(&scope, &id).await.unwrap();
    assert_eq!(a.name, "mail01");
    assert_eq!(a.ips, ["10.9.0.5", "10.9.0.6"]);
    // nothing new and recent: no write
    assert_eq!(
        book.learn(&t, &named, ts(20), "fw1").await.unwrap(),
        Learned::Unchanged
    );
    // another source, or much later: touched
    let far = Utc::now() + chrono::Duration::hours(1);
    assert_eq!(
        book.learn(&t, &named, far, "edr").await.unwrap(),
        Learned::Touched(id.clone())
    );
    let a = store.get_asset(&scope, &id).await.unwrap();
    assert_eq!(a.sources, ["events:fw1", "events:edr"]);
    assert_eq!(a.last_seen, far.with_timezone(&Utc).trunc_ms());
    // by name with a new address
    let moved: &[(&str, &str)] = &[("host.name", "MAIL01"), ("host.ip", "10.9.0.7")];
    assert_eq!(
        book.learn(&t, &moved, far, "edr").await.unwrap(),
        Learned::Merged(id.clone())
    );
    let none: &[(&str, &str)] = &[("source.ip", "1.2.3.4")];
    assert_eq!(
        book.learn(&t, &none, far, "x").await.unwrap(),
        Learned::NoHost
    );
    assert_eq!(book.len(), 1);
    assert_eq!(
        book.criticality(&t, &[], &["10.9.0.7".into()]),
        Some(Criticality::Low)
    );
}

type Row = (
    String,
    Vec<String>,
    Option<String>,
    Criticality,
    Vec<String>,
    Option<String>,
    String,
);

async fn strip(s: &SqlMetaStore, sc: TenantScope) -> Vec<Row> {
    let mut v: Vec<_> = s
        .list_assets(&sc, &AssetQuery::default(), &Page::first(100))
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|a| {
            (
                a.name,
                a.ips,
                a.owner,
                a.criticality,
                a.categories,
                a.os,
                a.description,
            )
        })
        .collect();
    v.sort();
    v
}

trait TruncMs {
    fn trunc_ms(self) -> DateTime<Utc>;
}
impl TruncMs for DateTime<Utc> {
    fn trunc_ms(self) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(self.timestamp_millis()).unwrap()
    }
}

const CSV_IN: &str = "\
name,ips,owner,criticality,categories,os,description
dc01,10.0.0.10;10.0.0.11,infra,critical,domain-controller;tier0,Windows Server 2022,\"Primary DC, site A\"
web01,192.0.2.80,web team,high,dmz,Debian 12,
,198.51.100.9,,medium,,,printer without a name
";

async fn asset_csv_round_trip(store: Arc<SqlMetaStore>) {
    let t = main_t();
    let scope = TenantScope::single(t.clone());
    let book = AssetBook::new(store.clone(), AssetOptions::default());
    let report = book
        .import_csv(&scope, &t, CSV_IN.as_bytes(), "cmdb")
        .await
        .unwrap();
    assert_eq!(report.rows, 3);
    assert_eq!(report.created, 3);
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let mut out = Vec::new();
    assert_eq!(book.export_csv(&scope, &mut out).await.unwrap(), 3);
    let exported = String::from_utf8(out).unwrap();
    let first_line = exported.lines().next().unwrap();
    assert_eq!(
        first_line,
        "name,ips,owner,criticality,categories,os,description,sources,first_seen,last_seen"
    );
    assert!(exported.contains("dc01,10.0.0.10;10.0.0.11,infra,critical,domain-controller;tier0,Windows Server 2022,\"Primary DC, site A\",import:cmdb,"));
    // the export imports into another tenant unchanged
    store
        .create_tenant(NewTenant {
            id: TenantId::new("acme").unwrap(),
            name: "ACME".into(),
            description: String::new(),
            eps_limit: None,
        })
        .await
        .unwrap();
    let acme = TenantId::new("acme").unwrap();
    let acme_scope = TenantScope::single(acme.clone());
    let report = book
        .import_csv(&acme_scope, &acme, exported.as_bytes(), "copy")
        .await
        .unwrap();
    assert_eq!((report.created, report.errors.len()), (3, 0));
    assert_eq!(
        strip(&store, scope.clone()).await,
        strip(&store, acme_scope).await
    );
    // re-importing merges instead of duplicating: by name, then by address
    let again =
        "name,ips,criticality,categories\ndc01,10.0.0.12,,backup\nprinter-3,198.51.100.9,low,\n";
    let report = book
        .import_csv(&scope, &t, again.as_bytes(), "cmdb2")
        .await
        .unwrap();
    assert_eq!((report.created, report.updated), (0, 2));
    let assets = store
        .list_assets(&scope, &AssetQuery::default(), &Page::first(100))
        .await
        .unwrap()
        .items;
    assert_eq!(assets.len(), 3);
    let dc = assets.iter().find(|a| a.name == "dc01").unwrap();
    assert_eq!(dc.ips, ["10.0.0.10", "10.0.0.11", "10.0.0.12"]);
    assert_eq!(
        dc.criticality,
        Criticality::Critical,
        "an empty cell keeps the field"
    );
    assert_eq!(dc.categories, ["domain-controller", "tier0", "backup"]);
    assert_eq!(dc.sources, ["import:cmdb", "import:cmdb2"]);
    let printer = assets.iter().find(|a| a.ips == ["198.51.100.9"]).unwrap();
    assert_eq!(printer.name, "printer-3");
    assert_eq!(printer.criticality, Criticality::Low);
}

async fn asset_csv_reports_bad_rows_and_refuses_unknown_columns(store: Arc<SqlMetaStore>) {
    let t = main_t();
    let scope = TenantScope::single(t.clone());
    let book = AssetBook::new(store.clone(), AssetOptions::default());
    let err = book
        .import_csv(
            &scope,
            &t,
            "name,ipz,critcality\nx,1,low\n".as_bytes(),
            "bad",
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("\"ipz\"") && err.contains("\"critcality\""),
        "{err}"
    );
    let input = "name,ips,criticality\nok1,10.1.0.1,high\nbad1,not-an-ip,urgent\n,,\nok2,,\n";
    let report = book
        .import_csv(&scope, &t, input.as_bytes(), "x")
        .await
        .unwrap();
    assert_eq!(report.rows, 4);
    assert_eq!(report.created, 2);
    assert_eq!(report.errors.len(), 2);
    assert_eq!(report.errors[0].line, 3);
    assert!(report.errors[0].message.contains("not-an-ip"));
    assert!(report.errors[0].message.contains("urgent"));
    assert_eq!(report.errors[1].line, 4);
    // another tenant's scope cannot import into this one
    let other = TenantScope::single(TenantId::shared());
    assert!(matches!(
        book.import_csv(&other, &t, input.as_bytes(), "x").await,
        Err(MetaError::OutOfScope { .. })
    ));
}
