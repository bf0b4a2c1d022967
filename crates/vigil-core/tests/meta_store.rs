//! The shared metadata-store suite: every case runs against SQLite (a temp directory) and
//! against the PostgreSQL server on 127.0.0.1:5432 (user postgres, trust auth), in a fresh
//! database with a random name that is dropped afterwards. Without a reachable server the
//! PostgreSQL cases fail when `CI` is set and are skipped (with a message) otherwise.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use sqlx::any::AnyPoolOptions;
use vigil_core::*;

const PG_ADMIN: &str = "postgres://postgres@127.0.0.1:5432/postgres";

enum Target {
    Sqlite(PathBuf),
    Postgres(String),
}

struct Env {
    store: SqlMetaStore,
    target: Target,
    opts: StoreOptions,
}

impl Env {
    async fn reopen(&self) -> Result<SqlMetaStore, MetaError> {
        match &self.target {
            Target::Sqlite(p) => SqlMetaStore::open_sqlite(p, self.opts).await,
            Target::Postgres(url) => SqlMetaStore::open_postgres(url, self.opts).await,
        }
    }

    /// Runs raw SQL on the database (to simulate a newer schema).
    async fn raw(&self, sql: &str) {
        let url = match &self.target {
            Target::Sqlite(p) => format!("sqlite://{}?mode=rw", p.display()),
            Target::Postgres(url) => url.clone(),
        };
        let pool = AnyPoolOptions::new()
            .max_connections(1)
            .connect(&url)
            .await
            .unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
    }
}

fn opts() -> StoreOptions {
    StoreOptions {
        max_attachment_bytes: 1024,
        max_connections: 4,
    }
}

async fn sqlite_env() -> (tempfile::TempDir, Env) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data").join("meta.db");
    let store = SqlMetaStore::open_sqlite(&path, opts()).await.unwrap();
    (
        dir,
        Env {
            store,
            target: Target::Sqlite(path),
            opts: opts(),
        },
    )
}

/// A fresh PostgreSQL database, or `None` (skip) when no server answers and CI is unset.
async fn pg_env() -> Option<(String, Env)> {
    sqlx::any::install_default_drivers();
    let admin = AnyPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(5))
        .connect(PG_ADMIN)
        .await;
    let admin = match admin {
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
    Some((
        name,
        Env {
            store,
            target: Target::Postgres(url),
            opts: opts(),
        },
    ))
}

async fn pg_drop(name: &str, env: Env) {
    env.store.close().await;
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
                    let (_dir, env) = super::sqlite_env().await;
                    super::$case(&env).await;
                    env.store.close().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let Some((name, env)) = super::pg_env().await else { return };
                    super::$case(&env).await;
                    super::pg_drop(&name, env).await;
                }
            )*
        }
    };
}

suite!(
    migrations_run_twice_and_refuse_newer,
    tenant_scope_isolates_every_read,
    concurrent_folds_make_one_alert_with_the_exact_count,
    fill_policy_and_closing_start_new_alerts,
    status_changes_write_history,
    pagination_sort_and_filters,
    tokens_by_hash_and_revocation,
    unique_constraints_are_conflicts,
    incidents_links_timeline_attachments_comments,
    logins_lock_out_and_reset,
    suppression_monitoring_saved_searches_audit,
    source_figures_add_up_and_stay_in_their_tenant,
    audit_chain_verifies_and_finds_tampering,
    dashboards_are_private_or_shared_and_stay_in_their_tenant,
);

fn t(id: &str) -> TenantId {
    TenantId::new(id).unwrap()
}

fn scope(ids: &[&str]) -> TenantScope {
    TenantScope::new(ids.iter().map(|i| t(i))).unwrap()
}

fn ts(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_700_000_000 + secs, 0).unwrap()
}

fn detection(tenant: &str, rule: &str, key: &str, count: u64, at: i64) -> Detection {
    Detection {
        tenant: t(tenant),
        rule_id: rule.into(),
        rule_name: format!("Rule {rule}"),
        rule_version: 1,
        severity: Severity::Medium,
        risk_score: 40,
        tactics: vec!["TA0006".into()],
        techniques: vec!["T1110".into()],
        entities: vec![
            Entity {
                kind: EntityKind::Host,
                value: format!("host-{key}"),
            },
            Entity {
                kind: EntityKind::Ip,
                value: "10.0.0.1".into(),
            },
        ],
        group_key: key.into(),
        first_seen: ts(at),
        last_seen: ts(at),
        count,
        event_ids: vec![format!("ev-{key}-{at}")],
    }
}

async fn tenants(s: &SqlMetaStore, ids: &[&str]) {
    for id in ids {
        s.create_tenant(NewTenant {
            id: t(id),
            name: id.to_uppercase(),
            description: String::new(),
            eps_limit: None,
        })
        .await
        .unwrap();
    }
}

async fn migrations_run_twice_and_refuse_newer(env: &Env) {
    assert_eq!(env.store.schema_version().await.unwrap(), LATEST_VERSION);
    let again = env.reopen().await.unwrap();
    assert_eq!(again.schema_version().await.unwrap(), LATEST_VERSION);
    let ids = again.all_tenant_ids().await.unwrap();
    assert_eq!(
        ids,
        vec![t("main"), t("shared")],
        "default tenants exactly once"
    );
    again.close().await;
    env.raw(
        "INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, 'future.sql', 0)",
    )
    .await;
    match env.reopen().await {
        Err(MetaError::SchemaTooNew { found: 999, known }) => assert_eq!(known, LATEST_VERSION),
        other => panic!("expected SchemaTooNew, got {other:?}"),
    }
}

async fn tenant_scope_isolates_every_read(env: &Env) {
    let s = &env.store;
    tenants(s, &["a", "b"]).await;
    let (sa, sb) = (scope(&["a"]), scope(&["b"]));
    let fa = s
        .fold_detection(&detection("a", "r1", "k", 1, 0), &FillPolicy::default())
        .await
        .unwrap();
    let fb = s
        .fold_detection(&detection("b", "r1", "k", 1, 0), &FillPolicy::default())
        .await
        .unwrap();
    assert_ne!(
        fa.alert_id, fb.alert_id,
        "same rule and key in two tenants: two alerts"
    );
    let listed = s
        .list_alerts(&sa, &AlertQuery::default(), &Page::first(100))
        .await
        .unwrap();
    assert_eq!(listed.items.len(), 1);
    assert!(listed.items.iter().all(|a| a.tenant == t("a")));
    assert_eq!(
        s.count_alerts(&sb, &AlertQuery::default()).await.unwrap(),
        1
    );
    assert_eq!(
        s.count_alerts(&scope(&["a", "b"]), &AlertQuery::default())
            .await
            .unwrap(),
        2
    );
    assert!(matches!(
        s.get_alert(&sa, &fb.alert_id).await,
        Err(MetaError::NotFound { .. })
    ));
    assert!(matches!(
        s.alert_event_ids(&sa, &fb.alert_id).await,
        Err(MetaError::NotFound { .. })
    ));
    assert!(matches!(
        s.alert_history(&sa, &fb.alert_id).await,
        Err(MetaError::NotFound { .. })
    ));
    let close = AlertUpdate {
        status: Some(AlertStatus::Closed),
        resolution: Some(Resolution::Benign),
        ..AlertUpdate::default()
    };
    assert!(matches!(
        s.update_alert(&sa, &fb.alert_id, "u", close).await,
        Err(MetaError::NotFound { .. })
    ));
    assert!(matches!(
        s.add_comment(&sa, &CommentTarget::Alert(fb.alert_id.clone()), "u", "x")
            .await,
        Err(MetaError::NotFound { .. })
    ));
    // Writes naming another tenant are refused.
    let inc = NewIncident {
        tenant: t("b"),
        title: "x".into(),
        description: String::new(),
        category: String::new(),
        priority: Priority::Low,
        assignee: None,
        created_by: "u".into(),
    };
    assert!(matches!(
        s.create_incident(&sa, inc.clone()).await,
        Err(MetaError::OutOfScope { .. })
    ));
    let ib = s.create_incident(&sb, inc).await.unwrap();
    assert!(matches!(
        s.get_incident(&sa, &ib.id).await,
        Err(MetaError::NotFound { .. })
    ));
    assert!(matches!(
        s.link_alerts(&sb, &ib.id, "u", std::slice::from_ref(&fa.alert_id))
            .await,
        Err(MetaError::NotFound { .. })
    ));
    assert!(
        s.list_incidents(&sa, &IncidentQuery::default(), &Page::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
    let asset = AssetSpec {
        tenant: t("b"),
        name: "db1".into(),
        ips: vec!["10.0.0.1".into()],
        owner: None,
        criticality: Criticality::High,
        categories: vec![],
        os: None,
        description: String::new(),
        sources: vec![],
    };
    let ab = s.create_asset(&sb, asset).await.unwrap();
    assert!(matches!(
        s.get_asset(&sa, &ab.id).await,
        Err(MetaError::NotFound { .. })
    ));
    let by_ip = AssetQuery {
        ip: Some("10.0.0.1".into()),
        ..AssetQuery::default()
    };
    assert!(
        s.list_assets(&sa, &by_ip, &Page::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
    assert_eq!(
        s.list_assets(&sb, &by_ip, &Page::default())
            .await
            .unwrap()
            .items
            .len(),
        1
    );
    assert!(matches!(
        s.delete_asset(&sa, &ab.id).await,
        Err(MetaError::NotFound { .. })
    ));
    // Tenants and users follow the same rule.
    assert_eq!(s.list_tenants(&sa).await.unwrap().len(), 1);
    assert!(matches!(
        s.get_tenant(&sa, &t("b")).await,
        Err(MetaError::NotFound { .. })
    ));
    let ub = s
        .create_user(
            &sb,
            NewUser {
                username: "bob".into(),
                display_name: "Bob".into(),
                email: None,
                password_hash: Some("$argon2id$v=19$x".into()),
                roles: vec![RoleGrant {
                    tenant: t("b"),
                    role: Role::Tier1Analyst,
                }],
                must_change_password: false,
            },
        )
        .await
        .unwrap();
    assert!(matches!(
        s.get_user(&sa, &ub.id).await,
        Err(MetaError::NotFound { .. })
    ));
    assert!(
        s.list_users(&sa, &UserQuery::default(), &Page::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
    assert_eq!(
        s.list_audit(&sa, &AuditQuery::default(), &Page::default())
            .await
            .unwrap()
            .items
            .len(),
        0
    );
}

async fn concurrent_folds_make_one_alert_with_the_exact_count(env: &Env) {
    let s = Arc::new(env.store.clone());
    tenants(&s, &["a"]).await;
    let mut tasks = Vec::new();
    for task in 0..8 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let mut created = 0;
            for i in 0..25 {
                let mut d = detection("a", "brute", "user=root", 3, task * 100 + i);
                d.event_ids = vec![format!("e{task}-{i}")];
                let out = s.fold_detection(&d, &FillPolicy::default()).await.unwrap();
                created += usize::from(out.created);
            }
            created
        }));
    }
    let mut created = 0;
    for task in tasks {
        created += task.await.unwrap();
    }
    assert_eq!(created, 1, "exactly one fold created the alert");
    let sa = scope(&["a"]);
    let alerts = s
        .list_alerts(&sa, &AlertQuery::default(), &Page::first(10))
        .await
        .unwrap()
        .items;
    assert_eq!(alerts.len(), 1);
    let a = &alerts[0];
    assert_eq!(a.count, 8 * 25 * 3);
    assert_eq!(a.first_seen, ts(0));
    assert_eq!(a.last_seen, ts(724));
    assert_eq!(a.event_ids_kept, 200);
    assert_eq!(s.alert_event_ids(&sa, &a.id).await.unwrap().len(), 200);
    assert_eq!(
        a.entities,
        vec![
            Entity {
                kind: EntityKind::Host,
                value: "host-user=root".into()
            },
            Entity {
                kind: EntityKind::Ip,
                value: "10.0.0.1".into()
            },
        ]
    );
}

async fn fill_policy_and_closing_start_new_alerts(env: &Env) {
    let s = &env.store;
    tenants(s, &["a"]).await;
    let sa = scope(&["a"]);
    let policy = FillPolicy {
        max_events: 10,
        max_age: chrono::Duration::hours(1),
        max_event_ids: 2,
    };
    let first = s
        .fold_detection(&detection("a", "r", "k", 6, 0), &policy)
        .await
        .unwrap();
    let mut d = detection("a", "r", "k", 4, 1);
    d.event_ids = vec!["x1".into(), "x2".into(), "x3".into()];
    d.severity = Severity::High;
    let second = s.fold_detection(&d, &policy).await.unwrap();
    assert_eq!(
        (second.alert_id.as_str(), second.count, second.created),
        (first.alert_id.as_str(), 10, false)
    );
    let a = s.get_alert(&sa, &first.alert_id).await.unwrap();
    assert_eq!((a.event_ids_kept, a.event_ids_dropped), (2, 2));
    assert_eq!(
        a.severity,
        Severity::High,
        "severity is the max of the detections"
    );
    // Full: the next detection starts a new alert and the old one stops filling.
    let third = s
        .fold_detection(&detection("a", "r", "k", 1, 2), &policy)
        .await
        .unwrap();
    assert!(third.created);
    assert!(!s.get_alert(&sa, &first.alert_id).await.unwrap().filling);
    // Closing stops filling too.
    let close = AlertUpdate {
        status: Some(AlertStatus::Closed),
        resolution: Some(Resolution::FalsePositive),
        resolution_reason: Some("test host".into()),
        ..AlertUpdate::default()
    };
    s.update_alert(&sa, &third.alert_id, "u1", close)
        .await
        .unwrap();
    let fourth = s
        .fold_detection(&detection("a", "r", "k", 1, 3), &policy)
        .await
        .unwrap();
    assert!(fourth.created);
    assert_eq!(
        s.count_alerts(&sa, &AlertQuery::default()).await.unwrap(),
        3
    );
    let bad = detection("a", "r", "k", 0, 3);
    assert!(matches!(
        s.fold_detection(&bad, &policy).await,
        Err(MetaError::Invalid { .. })
    ));
}

async fn status_changes_write_history(env: &Env) {
    let s = &env.store;
    tenants(s, &["a"]).await;
    let sa = scope(&["a"]);
    let id = s
        .fold_detection(&detection("a", "r", "k", 1, 0), &FillPolicy::default())
        .await
        .unwrap()
        .alert_id;
    let assign = AlertUpdate {
        assignee: Some(Some("alice".into())),
        ..AlertUpdate::default()
    };
    let a = s.update_alert(&sa, &id, "lead", assign).await.unwrap();
    assert_eq!(
        (a.status, a.assignee.as_deref()),
        (AlertStatus::Assigned, Some("alice"))
    );
    let close_without = AlertUpdate {
        status: Some(AlertStatus::Closed),
        ..AlertUpdate::default()
    };
    assert!(matches!(
        s.update_alert(&sa, &id, "alice", close_without).await,
        Err(MetaError::Invalid { .. })
    ));
    let close = AlertUpdate {
        status: Some(AlertStatus::Closed),
        resolution: Some(Resolution::TruePositive),
        resolution_reason: Some("confirmed with the owner".into()),
        ..AlertUpdate::default()
    };
    let a = s.update_alert(&sa, &id, "alice", close).await.unwrap();
    assert_eq!(a.resolution, Some(Resolution::TruePositive));
    assert!(!a.filling);
    let h = s.alert_history(&sa, &id).await.unwrap();
    let seen: Vec<(&str, &str, Option<&str>, Option<&str>)> = h
        .iter()
        .map(|c| {
            (
                c.actor.as_str(),
                c.field.as_str(),
                c.old.as_deref(),
                c.new.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        vec![
            ("lead", "status", Some("new"), Some("assigned")),
            ("lead", "assignee", None, Some("alice")),
            ("alice", "status", Some("assigned"), Some("closed")),
            ("alice", "resolution", None, Some("true_positive")),
        ]
    );
    // The refused change wrote nothing; reopening clears the resolution and is recorded.
    let reopen = AlertUpdate {
        status: Some(AlertStatus::New),
        ..AlertUpdate::default()
    };
    let a = s.update_alert(&sa, &id, "alice", reopen).await.unwrap();
    assert_eq!(
        (a.status, a.resolution, a.filling),
        (AlertStatus::New, None, false)
    );
    assert_eq!(s.alert_history(&sa, &id).await.unwrap().len(), 6);
}

async fn pagination_sort_and_filters(env: &Env) {
    let s = &env.store;
    tenants(s, &["a", "b"]).await;
    for i in 0..25 {
        let mut d = detection("a", &format!("r{}", i % 3), &format!("k{i}"), 1, i);
        d.risk_score = (i * 7) % 50;
        d.severity = if i % 5 == 0 {
            Severity::Critical
        } else {
            Severity::Low
        };
        s.fold_detection(&d, &FillPolicy::default()).await.unwrap();
        s.fold_detection(
            &detection("b", "r0", &format!("k{i}"), 1, i),
            &FillPolicy::default(),
        )
        .await
        .unwrap();
    }
    let sa = scope(&["a"]);
    for (sort, dir) in [
        (AlertSort::LastSeen, SortDir::Desc),
        (AlertSort::LastSeen, SortDir::Asc),
        (AlertSort::RiskScore, SortDir::Desc),
        (AlertSort::Severity, SortDir::Asc),
    ] {
        let q = AlertQuery {
            sort,
            dir,
            ..AlertQuery::default()
        };
        let mut page = Page::first(10);
        let mut all = Vec::new();
        let mut pages = 0;
        loop {
            let p = s.list_alerts(&sa, &q, &page).await.unwrap();
            pages += 1;
            all.extend(p.items);
            match p.next_cursor {
                Some(c) => page.cursor = Some(c),
                None => break,
            }
            assert!(pages < 10, "pagination does not end");
        }
        assert_eq!(pages, 3);
        assert_eq!(all.len(), 25);
        assert_eq!(
            all.iter().map(|a| &a.id).collect::<HashSet<_>>().len(),
            25,
            "no repeats"
        );
        let key = |a: &Alert| match sort {
            AlertSort::RiskScore => a.risk_score,
            AlertSort::Severity => a.severity.rank(),
            _ => a.last_seen.timestamp(),
        };
        let ordered = all.windows(2).all(|w| match dir {
            SortDir::Desc => (key(&w[0]), &w[0].id) >= (key(&w[1]), &w[1].id),
            SortDir::Asc => (key(&w[0]), &w[0].id) <= (key(&w[1]), &w[1].id),
        });
        assert!(ordered, "{sort:?} {dir:?}");
    }
    let count = |q: AlertQuery| {
        let sa = sa.clone();
        async move { s.count_alerts(&sa, &q).await.unwrap() }
    };
    assert_eq!(
        count(AlertQuery {
            min_severity: Some(Severity::Critical),
            ..AlertQuery::default()
        })
        .await,
        5
    );
    assert_eq!(
        count(AlertQuery {
            rule_id: Some("r1".into()),
            ..AlertQuery::default()
        })
        .await,
        8
    );
    assert_eq!(
        count(AlertQuery {
            text: Some("RULE R2".into()),
            ..AlertQuery::default()
        })
        .await,
        8
    );
    assert_eq!(
        count(AlertQuery {
            text: Some("%".into()),
            ..AlertQuery::default()
        })
        .await,
        0
    );
    assert_eq!(
        count(AlertQuery {
            technique: Some("T1110".into()),
            ..AlertQuery::default()
        })
        .await,
        25
    );
    assert_eq!(
        count(AlertQuery {
            technique: Some("T111".into()),
            ..AlertQuery::default()
        })
        .await,
        0
    );
    let host = Entity {
        kind: EntityKind::Host,
        value: "host-k7".into(),
    };
    assert_eq!(
        count(AlertQuery {
            entity: Some(host),
            ..AlertQuery::default()
        })
        .await,
        1
    );
    assert_eq!(
        count(AlertQuery {
            since: Some(ts(20)),
            until: Some(ts(23)),
            ..AlertQuery::default()
        })
        .await,
        3
    );
    assert_eq!(
        count(AlertQuery {
            statuses: vec![AlertStatus::Closed],
            ..AlertQuery::default()
        })
        .await,
        0
    );
    assert_eq!(
        count(AlertQuery {
            unassigned: true,
            ..AlertQuery::default()
        })
        .await,
        25
    );
    let bad = Page {
        limit: 5,
        cursor: Some("nonsense".into()),
    };
    assert!(matches!(
        s.list_alerts(&sa, &AlertQuery::default(), &bad).await,
        Err(MetaError::Invalid { .. })
    ));
}

async fn tokens_by_hash_and_revocation(env: &Env) {
    let s = &env.store;
    tenants(s, &["a", "b"]).await;
    let (sa, sb) = (scope(&["a"]), scope(&["b"]));
    let new = |hash: &str, tenant: &str| NewToken {
        name: format!("token {hash}"),
        user_id: None,
        token_hash: hash.into(),
        roles: vec![RoleGrant {
            tenant: t(tenant),
            role: Role::ReadOnly,
        }],
        endpoints: vec!["GET /api/v1/alerts".into()],
        expires_at: Some(ts(86_400)),
        created_by: "admin".into(),
    };
    let tok = s.create_token(&sa, new("h1", "a")).await.unwrap();
    assert!(matches!(
        s.create_token(&sa, new("h2", "b")).await,
        Err(MetaError::OutOfScope { .. })
    ));
    s.create_token(&sb, new("h3", "b")).await.unwrap();
    let found = s.token_by_hash("h1").await.unwrap().unwrap();
    assert_eq!(found.id, tok.id);
    assert_eq!(found.roles, tok.roles);
    assert_eq!(found.endpoints, vec!["GET /api/v1/alerts".to_owned()]);
    assert_eq!(found.expires_at, Some(ts(86_400)));
    assert!(!found.revoked);
    assert!(s.token_by_hash("nope").await.unwrap().is_none());
    s.touch_token(&tok.id, ts(5)).await.unwrap();
    assert_eq!(
        s.token_by_hash("h1").await.unwrap().unwrap().last_used_at,
        Some(ts(5))
    );
    assert_eq!(
        s.list_tokens(&sa, &TokenQuery::default(), &Page::default())
            .await
            .unwrap()
            .items
            .len(),
        1
    );
    assert!(matches!(
        s.revoke_token(&sb, &tok.id).await,
        Err(MetaError::NotFound { .. })
    ));
    s.revoke_token(&sa, &tok.id).await.unwrap();
    assert!(s.token_by_hash("h1").await.unwrap().unwrap().revoked);
    assert!(
        s.list_tokens(&sa, &TokenQuery::default(), &Page::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
    let all = TokenQuery {
        include_revoked: true,
        ..TokenQuery::default()
    };
    assert_eq!(
        s.list_tokens(&sa, &all, &Page::default())
            .await
            .unwrap()
            .items
            .len(),
        1
    );
    assert!(matches!(
        s.create_token(&sa, new("h1", "a")).await,
        Err(MetaError::Conflict { .. })
    ));
}

async fn unique_constraints_are_conflicts(env: &Env) {
    let s = &env.store;
    tenants(s, &["a", "b"]).await;
    let dup = s
        .create_tenant(NewTenant {
            id: t("a"),
            name: "A".into(),
            description: String::new(),
            eps_limit: None,
        })
        .await;
    assert!(matches!(dup, Err(MetaError::Conflict { .. })));
    let sa = scope(&["a"]);
    let user = |name: &str, tenant: &str| NewUser {
        username: name.into(),
        display_name: String::new(),
        email: None,
        password_hash: None,
        roles: vec![RoleGrant {
            tenant: t(tenant),
            role: Role::Tier2Analyst,
        }],
        must_change_password: true,
    };
    s.create_user(&sa, user("carol", "a")).await.unwrap();
    assert!(matches!(
        s.create_user(&sa, user("carol", "a")).await,
        Err(MetaError::Conflict { .. })
    ));
    // A grant in a tenant that does not exist: the foreign key refuses it.
    let ghost = scope(&["ghost"]);
    assert!(matches!(
        s.create_user(&ghost, user("dave", "ghost")).await,
        Err(MetaError::Invalid { .. })
    ));
    assert!(
        s.find_user_for_login("dave").await.unwrap().is_none(),
        "the failed create left nothing"
    );
    let asset = |tenant: &str| AssetSpec {
        tenant: t(tenant),
        name: "web1".into(),
        ips: vec![],
        owner: None,
        criticality: Criticality::Low,
        categories: vec![],
        os: None,
        description: String::new(),
        sources: vec![],
    };
    s.create_asset(&sa, asset("a")).await.unwrap();
    assert!(matches!(
        s.create_asset(&sa, asset("a")).await,
        Err(MetaError::Conflict { .. })
    ));
    s.create_asset(&scope(&["b"]), asset("b")).await.unwrap();
    let pol = MonitoringPolicySpec {
        tenant: t("a"),
        name: "fw".into(),
        kind: MonitoringKind::ByEps,
        lower: 1.0,
        upper: Some(500.0),
        interval_secs: 300,
        silent_after_secs: Some(900),
        sources: vec![],
        enabled: true,
    };
    s.create_monitoring_policy(&sa, pol.clone()).await.unwrap();
    assert!(matches!(
        s.create_monitoring_policy(&sa, pol).await,
        Err(MetaError::Conflict { .. })
    ));
}

async fn incidents_links_timeline_attachments_comments(env: &Env) {
    let s = &env.store;
    tenants(s, &["a"]).await;
    let sa = scope(&["a"]);
    let a1 = s
        .fold_detection(&detection("a", "r", "k1", 1, 10), &FillPolicy::default())
        .await
        .unwrap()
        .alert_id;
    let a2 = s
        .fold_detection(&detection("a", "r", "k2", 1, 20), &FillPolicy::default())
        .await
        .unwrap()
        .alert_id;
    let inc = s
        .create_incident(
            &sa,
            NewIncident {
                tenant: t("a"),
                title: "Brute force on root".into(),
                description: String::new(),
                category: "account-compromise".into(),
                priority: Priority::High,
                assignee: None,
                created_by: "alice".into(),
            },
        )
        .await
        .unwrap();
    let inc = s
        .link_alerts(&sa, &inc.id, "alice", &[a1.clone(), a2.clone()])
        .await
        .unwrap();
    assert_eq!(inc.alerts, {
        let mut v = vec![a1.clone(), a2.clone()];
        v.sort();
        v
    });
    let a = s.get_alert(&sa, &a1).await.unwrap();
    assert_eq!(
        (a.status, a.incident_id.as_deref()),
        (AlertStatus::Escalated, Some(inc.id.as_str()))
    );
    let fields: Vec<String> = s
        .alert_history(&sa, &a1)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.field)
        .collect();
    assert_eq!(fields, vec!["incident", "status"]);
    let asset = s
        .create_asset(
            &sa,
            AssetSpec {
                tenant: t("a"),
                name: "srv".into(),
                ips: vec!["10.1.1.1".into()],
                owner: Some("ops".into()),
                criticality: Criticality::Critical,
                categories: vec!["dmz".into()],
                os: Some("Debian 12".into()),
                description: String::new(),
                sources: vec!["manual".into()],
            },
        )
        .await
        .unwrap();
    let inc = s
        .link(
            &sa,
            &inc.id,
            "alice",
            LinkKind::Asset,
            std::slice::from_ref(&asset.id),
        )
        .await
        .unwrap();
    let inc = s
        .link(
            &sa,
            &inc.id,
            "alice",
            LinkKind::Account,
            &["root".into(), "root".into()],
        )
        .await
        .unwrap();
    assert_eq!(
        (inc.assets.len(), inc.accounts.clone()),
        (1, vec!["root".to_owned()])
    );
    assert!(matches!(
        s.link(&sa, &inc.id, "alice", LinkKind::Asset, &["missing".into()])
            .await,
        Err(MetaError::NotFound { .. })
    ));
    let inc = s
        .unlink(&sa, &inc.id, "alice", LinkKind::Account, &["root".into()])
        .await
        .unwrap();
    assert!(inc.accounts.is_empty());
    let closing = IncidentUpdate {
        status: Some(IncidentStatus::Closed),
        ..IncidentUpdate::default()
    };
    assert!(matches!(
        s.update_incident(&sa, &inc.id, "alice", closing).await,
        Err(MetaError::Invalid { .. })
    ));
    let closing = IncidentUpdate {
        status: Some(IncidentStatus::Closed),
        resolution: Some(Resolution::TruePositive),
        priority: Some(Priority::Critical),
        ..IncidentUpdate::default()
    };
    let inc = s
        .update_incident(&sa, &inc.id, "alice", closing)
        .await
        .unwrap();
    assert!(inc.closed_at.is_some());
    s.add_timeline_entry(
        &sa,
        &inc.id,
        NewTimelineEntry {
            at: ts(15),
            author: "alice".into(),
            kind: "note".into(),
            text: "first login from the attacker".into(),
            event_id: Some("ev1".into()),
        },
    )
    .await
    .unwrap();
    let tl = s.timeline(&sa, &inc.id).await.unwrap();
    let texts: Vec<&str> = tl.iter().map(|e| e.text.as_str()).collect();
    let expect = [
        format!("alert {a1} linked: Rule r"),
        "first login from the attacker".to_owned(),
        format!("alert {a2} linked: Rule r"),
    ];
    assert_eq!(
        texts[..3],
        expect.iter().map(String::as_str).collect::<Vec<_>>()[..]
    );
    assert!(texts.contains(&"priority: high → critical"));
    assert!(texts.contains(&"status: open → closed"));
    let att = s
        .add_attachment(
            &sa,
            &inc.id,
            "pcap.txt",
            "text/plain",
            b"hello".to_vec(),
            "alice",
        )
        .await
        .unwrap();
    let (meta, bytes) = s.get_attachment(&sa, &att.id).await.unwrap();
    assert_eq!((meta.size, bytes), (5, b"hello".to_vec()));
    let too_big = s
        .add_attachment(&sa, &inc.id, "big", "x", vec![0; 1025], "alice")
        .await;
    assert!(matches!(
        too_big,
        Err(MetaError::TooLarge {
            size: 1025,
            limit: 1024,
            ..
        })
    ));
    assert_eq!(s.list_attachments(&sa, &inc.id).await.unwrap().len(), 1);
    let target = CommentTarget::Incident(inc.id.clone());
    s.add_comment(&sa, &target, "bob", "looks real")
        .await
        .unwrap();
    s.add_comment(&sa, &CommentTarget::Alert(a1.clone()), "bob", "dup of a2")
        .await
        .unwrap();
    let c = s.list_comments(&sa, &target).await.unwrap();
    assert_eq!((c.len(), c[0].body.as_str()), (1, "looks real"));
    let q = IncidentQuery {
        min_priority: Some(Priority::Critical),
        ..IncidentQuery::default()
    };
    assert_eq!(
        s.list_incidents(&sa, &q, &Page::default())
            .await
            .unwrap()
            .items
            .len(),
        1
    );
    let q = IncidentQuery {
        statuses: vec![IncidentStatus::Open],
        ..IncidentQuery::default()
    };
    assert!(
        s.list_incidents(&sa, &q, &Page::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
}

async fn logins_lock_out_and_reset(env: &Env) {
    let s = &env.store;
    let sm = scope(&["main"]);
    let u = s
        .create_user(
            &sm,
            NewUser {
                username: "erin".into(),
                display_name: "Erin".into(),
                email: Some("erin@example.invalid".into()),
                password_hash: Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into()),
                roles: vec![RoleGrant {
                    tenant: t("main"),
                    role: Role::Administrator,
                }],
                must_change_password: false,
            },
        )
        .await
        .unwrap();
    let lock = chrono::Duration::minutes(15);
    for i in 1..=2 {
        let st = s.record_login_failure(&u.id, ts(i), 3, lock).await.unwrap();
        assert_eq!((st.failed_logins, st.locked_until), (i as u32, None));
    }
    let st = s.record_login_failure(&u.id, ts(3), 3, lock).await.unwrap();
    assert_eq!((st.failed_logins, st.locked_until), (3, Some(ts(3) + lock)));
    let found = s.find_user_for_login("erin").await.unwrap().unwrap();
    assert_eq!(found.locked_until, Some(ts(3) + lock));
    assert!(
        found
            .password_hash
            .as_deref()
            .unwrap_or("")
            .starts_with("$argon2id$")
    );
    assert!(
        !format!("{found:?}").contains("argon2id"),
        "Debug redacts the hash"
    );
    assert!(
        serde_json::to_string(&found)
            .map(|j| !j.contains("argon2id"))
            .unwrap()
    );
    s.record_login_success(&u.id, ts(2000)).await.unwrap();
    let found = s.get_user(&sm, &u.id).await.unwrap();
    assert_eq!(
        (found.failed_logins, found.locked_until, found.last_login_at),
        (0, None, Some(ts(2000)))
    );
    let patch = UserPatch {
        totp_secret: Some(Some("JBSWY3DPEHPK3PXP".into())),
        ..UserPatch::default()
    };
    assert!(s.update_user(&sm, &u.id, patch).await.unwrap().totp_enabled);
    tenants(s, &["c"]).await;
    let both = scope(&["main", "c"]);
    let roles = vec![RoleGrant {
        tenant: t("c"),
        role: Role::ReadOnly,
    }];
    // Replacing grants within {c} keeps the grant in main.
    let u2 = s.set_user_roles(&scope(&["c"]), &u.id, roles.clone()).await;
    assert!(
        matches!(u2, Err(MetaError::NotFound { .. })),
        "not visible in {{c}} yet"
    );
    let u2 = s.set_user_roles(&both, &u.id, roles).await.unwrap();
    assert_eq!(
        u2.roles,
        vec![RoleGrant {
            tenant: t("c"),
            role: Role::ReadOnly
        }]
    );
    assert!(matches!(
        s.get_user(&sm, &u.id).await,
        Err(MetaError::NotFound { .. })
    ));
}

async fn suppression_monitoring_saved_searches_audit(env: &Env) {
    let s = &env.store;
    tenants(s, &["a"]).await;
    let sa = scope(&["a"]);
    let sup = s
        .create_suppression(
            &sa,
            NewSuppressionRule {
                tenant: t("a"),
                rule_id: "r".into(),
                fields: BTreeMap::from([("host.name".to_owned(), "scanner".to_owned())]),
                reason: "vulnerability scanner".into(),
                created_by: "alice".into(),
                expires_at: Some(ts(100)),
            },
        )
        .await
        .unwrap();
    s.record_suppressed(&sa, &sup.id, 3, ts(5)).await.unwrap();
    s.record_suppressed(&sa, &sup.id, 2, ts(4)).await.unwrap();
    let list = s
        .list_suppressions(&sa, Some("r"), Some(ts(50)))
        .await
        .unwrap();
    assert_eq!(
        (list.len(), list[0].suppressed_count, list[0].last_hit_at),
        (1, 5, Some(ts(5)))
    );
    assert_eq!(
        list[0].fields.get("host.name").map(String::as_str),
        Some("scanner")
    );
    assert!(
        s.list_suppressions(&sa, Some("r"), Some(ts(100)))
            .await
            .unwrap()
            .is_empty(),
        "expired"
    );
    s.delete_suppression(&sa, &sup.id).await.unwrap();
    let mut spec = MonitoringPolicySpec {
        tenant: t("a"),
        name: "syslog".into(),
        kind: MonitoringKind::ByCount,
        lower: 10.0,
        upper: None,
        interval_secs: 3600,
        silent_after_secs: None,
        sources: vec!["src-1".into()],
        enabled: true,
    };
    let p = s.create_monitoring_policy(&sa, spec.clone()).await.unwrap();
    spec.upper = Some(5.0);
    assert!(matches!(
        s.update_monitoring_policy(&sa, &p.id, spec.clone()).await,
        Err(MetaError::Invalid { .. })
    ));
    spec.upper = Some(50.5);
    let p2 = s.update_monitoring_policy(&sa, &p.id, spec).await.unwrap();
    assert_eq!(p2.upper, Some(50.5));
    assert_eq!(s.list_monitoring_policies(&sa).await.unwrap(), vec![p2]);
    let search = |owner: &str, name: &str, shared: bool| SavedSearchSpec {
        tenant: t("a"),
        owner: owner.into(),
        name: name.into(),
        query: "event.category:authentication".into(),
        time_range: "24h".into(),
        shared,
    };
    s.create_saved_search(&sa, search("alice", "mine", false))
        .await
        .unwrap();
    s.create_saved_search(&sa, search("bob", "team", true))
        .await
        .unwrap();
    s.create_saved_search(&sa, search("bob", "private", false))
        .await
        .unwrap();
    let names: Vec<String> = s
        .list_saved_searches(&sa, "alice")
        .await
        .unwrap()
        .into_iter()
        .map(|x| x.name)
        .collect();
    assert_eq!(names, vec!["mine", "team"]);
    for i in 0..5 {
        s.append_audit(NewAuditRecord {
            tenant: t("a"),
            at: ts(i),
            actor: "alice".into(),
            action: if i % 2 == 0 {
                "alert.close".into()
            } else {
                "user.login".into()
            },
            target_kind: "alert".into(),
            target_id: format!("x{i}"),
            outcome: AuditOutcome::Success,
            source_ip: Some("127.0.0.1".into()),
            details: serde_json::json!({"i": i}),
        })
        .await
        .unwrap();
    }
    let q = AuditQuery {
        action: Some("alert.".into()),
        ..AuditQuery::default()
    };
    let page = s.list_audit(&sa, &q, &Page::first(2)).await.unwrap();
    assert_eq!(
        page.items.iter().map(|r| r.at).collect::<Vec<_>>(),
        vec![ts(4), ts(2)]
    );
    let rest = s
        .list_audit(
            &sa,
            &q,
            &Page {
                limit: 2,
                cursor: page.next_cursor,
            },
        )
        .await
        .unwrap();
    assert_eq!(
        (rest.items.len(), rest.items[0].details.clone()),
        (1, serde_json::json!({"i": 0}))
    );
    assert!(rest.next_cursor.is_none());
}

#[tokio::test]
async fn sqlite_file_is_private_and_in_wal_mode() {
    let (dir, env) = sqlite_env().await;
    let path = dir.path().join("data").join("meta.db");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    env.store.close().await;
    let pool = AnyPoolOptions::new()
        .max_connections(1)
        .connect(&format!("sqlite://{}?mode=ro", path.display()))
        .await
        .unwrap();
    let row: (String,) = sqlx::query_as("PRAGMA journal_mode")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(row.0, "wal");
    pool.close().await;
}

fn flush(
    tenant: &str,
    id: &str,
    kind: sources::SourceKind,
    events: u64,
    at: i64,
) -> sources::SourceFlush {
    sources::SourceFlush {
        tenant: t(tenant),
        id: id.into(),
        kind,
        collector: "fw".into(),
        node: "n1".into(),
        host: (kind == sources::SourceKind::Host).then(|| "web1".to_owned()),
        ip: Some("192.0.2.1".into()),
        first_seen: ts(0),
        last_event_at: Some(ts(at)),
        events,
        parse_errors: 1,
        drops: 0,
        minutes: vec![(ts(at - at.rem_euclid(60)), events, 1, 0)],
    }
}

async fn source_figures_add_up_and_stay_in_their_tenant(env: &Env) {
    use sources::SourceKind::{Collector, Host};
    let s = &env.store;
    tenants(s, &["acme", "globex"]).await;
    // two flushes of the same source add up; a retried flush is not special
    s.record_sources(&[
        flush("acme", "fw", Collector, 10, 30),
        flush("acme", "fw/web1", Host, 10, 30),
    ])
    .await
    .unwrap();
    s.record_sources(&[
        flush("acme", "fw", Collector, 5, 90),
        flush("acme", "fw/web1", Host, 5, 20),
    ])
    .await
    .unwrap();
    s.record_sources(&[flush("globex", "fw", Collector, 7, 90)])
        .await
        .unwrap();
    let acme = s
        .list_sources(&scope(&["acme"]), None, ts(-3600), &Page::first(10))
        .await
        .unwrap();
    let ids: Vec<&str> = acme.items.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["fw", "fw/web1"]);
    let web1 = &acme.items[1];
    assert_eq!(
        (
            web1.events_total,
            web1.parse_errors_total,
            web1.events_window
        ),
        (15, 2, 15)
    );
    // the last event only moves forward
    assert_eq!(web1.last_event_at, Some(ts(30)));
    assert_eq!(web1.host.as_deref(), Some("web1"));
    // a window after the first minute leaves it out
    let later = s
        .list_sources(&scope(&["acme"]), Some(Host), ts(60), &Page::first(10))
        .await
        .unwrap();
    assert_eq!((later.items.len(), later.items[0].events_window), (1, 0));
    // paging by tenant and id
    let both = scope(&["acme", "globex"]);
    let p1 = s
        .list_sources(&both, None, ts(0), &Page::first(2))
        .await
        .unwrap();
    let p2 = s
        .list_sources(
            &both,
            None,
            ts(0),
            &Page {
                limit: 2,
                cursor: p1.next_cursor.clone(),
            },
        )
        .await
        .unwrap();
    let all: Vec<(String, String)> = p1
        .items
        .iter()
        .chain(&p2.items)
        .map(|r| (r.tenant.to_string(), r.id.clone()))
        .collect();
    assert_eq!(all.len(), 3, "{all:?}");
    assert_eq!(all[2], ("globex".to_owned(), "fw".to_owned()));
    assert!(p2.next_cursor.is_none());
    // series per minute, and tenant totals from collector sources only
    let series = s
        .source_series(&scope(&["acme"]), &t("acme"), "fw", ts(-3600))
        .await
        .unwrap();
    assert_eq!(series.iter().map(|p| p.events).collect::<Vec<_>>(), [10, 5]);
    let totals = s.tenant_events(&both, ts(-3600)).await.unwrap();
    let totals: Vec<(String, u64)> = totals
        .iter()
        .map(|t| (t.tenant.to_string(), t.events))
        .collect();
    assert_eq!(totals, [("acme".to_owned(), 15), ("globex".to_owned(), 7)]);
    // another tenant's source is not there, and naming it is refused
    assert!(matches!(
        s.source_series(&scope(&["globex"]), &t("acme"), "fw", ts(-3600))
            .await,
        Err(MetaError::OutOfScope { .. })
    ));
    // the purge removes old minutes only
    assert_eq!(s.purge_source_series(ts(60)).await.unwrap(), 2);
    let series = s
        .source_series(&scope(&["acme"]), &t("acme"), "fw", ts(-3600))
        .await
        .unwrap();
    assert_eq!(series.len(), 1);
}

async fn audit_chain_verifies_and_finds_tampering(env: &Env) {
    let s = &env.store;
    tenants(s, &["acme"]).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let r = s
            .append_audit(NewAuditRecord {
                tenant: t("acme"),
                at: ts(i),
                actor: "u1".into(),
                action: "alert.update".into(),
                target_kind: "alert".into(),
                target_id: format!("a{i}"),
                outcome: AuditOutcome::Success,
                source_ip: None,
                details: serde_json::json!({"i": i}),
            })
            .await
            .unwrap();
        assert_eq!(r.seq, Some(i as u64 + 1));
        ids.push(r.id);
    }
    let ok = s.verify_audit(&scope(&["acme"])).await.unwrap();
    assert_eq!(
        (ok[0].ok, ok[0].records, ok[0].head_seq),
        (true, 5, 5),
        "{ok:?}"
    );
    // an edited field
    env.raw(&format!(
        "UPDATE audit_log SET actor = 'someone-else' WHERE id = '{}'",
        ids[1]
    ))
    .await;
    let bad = s.verify_audit(&scope(&["acme"])).await.unwrap();
    assert!(!bad[0].ok);
    assert!(
        bad[0].problems[0].contains("record 2") && bad[0].problems[0].contains("altered"),
        "{bad:?}"
    );
    env.raw(&format!(
        "UPDATE audit_log SET actor = 'u1' WHERE id = '{}'",
        ids[1]
    ))
    .await;
    assert!(s.verify_audit(&scope(&["acme"])).await.unwrap()[0].ok);
    // a removed record in the middle, then at the end
    env.raw(&format!("DELETE FROM audit_log WHERE id = '{}'", ids[2]))
        .await;
    let bad = s.verify_audit(&scope(&["acme"])).await.unwrap();
    assert!(
        bad[0]
            .problems
            .iter()
            .any(|p| p.contains("records 3 to 3 are missing")),
        "{bad:?}"
    );
    env.raw(&format!("DELETE FROM audit_log WHERE id = '{}'", ids[4]))
        .await;
    let bad = s.verify_audit(&scope(&["acme"])).await.unwrap();
    assert!(
        bad[0].problems.iter().any(|p| p.contains("head says 5")),
        "{bad:?}"
    );
    // other tenants' chains are unaffected
    let main = s.verify_audit(&scope(&["main"])).await.unwrap();
    assert!(main[0].ok, "{main:?}");
}

async fn dashboards_are_private_or_shared_and_stay_in_their_tenant(env: &Env) {
    use vigil_core::dashboards::{ChartKind, DashboardSpec, soc_overview};
    let s = &env.store;
    tenants(s, &["a", "b"]).await;
    let sa = scope(&["a"]);
    let sb = scope(&["b"]);
    let spec = |owner: &str, name: &str, shared: bool| DashboardSpec {
        tenant: t("a"),
        owner: owner.into(),
        name: name.into(),
        shared,
        widgets: soc_overview().widgets,
    };
    let mine = s
        .create_dashboard(&sa, spec("alice", "Mine", false))
        .await
        .unwrap();
    assert_eq!(mine.widgets, soc_overview().widgets);
    s.create_dashboard(&sa, spec("bob", "Team", true))
        .await
        .unwrap();
    s.create_dashboard(&sa, spec("bob", "Bob's", false))
        .await
        .unwrap();
    let names = |v: Vec<vigil_core::dashboards::Dashboard>| -> Vec<String> {
        v.into_iter().map(|d| d.name).collect()
    };
    assert_eq!(
        names(s.list_dashboards(&sa, "alice").await.unwrap()),
        ["Mine", "Team"]
    );
    // Another tenant sees nothing, and cannot read or write by id.
    assert!(s.list_dashboards(&sb, "alice").await.unwrap().is_empty());
    assert!(matches!(
        s.get_dashboard(&sb, &mine.id).await,
        Err(MetaError::NotFound { .. })
    ));
    assert!(matches!(
        s.delete_dashboard(&sb, &mine.id).await,
        Err(MetaError::NotFound { .. })
    ));
    assert!(matches!(
        s.create_dashboard(&sb, spec("alice", "x", false)).await,
        Err(MetaError::OutOfScope { .. })
    ));
    // Same name for the same owner: a conflict; for another owner: fine.
    assert!(matches!(
        s.create_dashboard(&sa, spec("alice", "Mine", false)).await,
        Err(MetaError::Conflict { .. })
    ));
    s.create_dashboard(&sa, spec("carol", "Mine", false))
        .await
        .unwrap();
    // Update: widgets moved, resized, removed, renamed, shared; read back equal.
    let mut next = spec("alice", "Renamed", true);
    next.widgets.swap(0, 1);
    next.widgets[0].width = 6;
    next.widgets[0].height = 3;
    next.widgets.pop();
    let got = s
        .update_dashboard(&sa, &mine.id, next.clone())
        .await
        .unwrap();
    assert_eq!(
        (got.name.as_str(), got.shared, &got.widgets),
        ("Renamed", true, &next.widgets)
    );
    assert!(got.updated_at >= mine.updated_at);
    assert_eq!(s.get_dashboard(&sa, &mine.id).await.unwrap(), got);
    // The owner never changes through an update.
    assert!(matches!(
        s.update_dashboard(&sa, &mine.id, spec("mallory", "x", false))
            .await,
        Err(MetaError::NotFound { .. })
    ));
    // Every problem is refused with its path, and nothing is written.
    let mut bad = spec("alice", "Bad", false);
    bad.widgets[1].width = 0;
    bad.widgets[2].chart = ChartKind::Bar;
    bad.widgets[2].query = String::new();
    match s.create_dashboard(&sa, bad).await {
        Err(MetaError::Invalid { reason, .. }) => {
            assert!(reason.contains("widgets[1].width"), "{reason}");
            assert!(reason.contains("widgets[2].query"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    s.delete_dashboard(&sa, &mine.id).await.unwrap();
    assert!(matches!(
        s.get_dashboard(&sa, &mine.id).await,
        Err(MetaError::NotFound { .. })
    ));
    assert_eq!(
        names(s.list_dashboards(&sa, "alice").await.unwrap()),
        ["Team"]
    );
}
