//! Alert queue page latency: listing and filtering 10,000 and 100,000 alerts.
//!
//! ```text
//! cargo bench -p vigil-core --bench alert_pages -- [--backend sqlite|postgres] [--alerts N]
//!     [--reps N]
//! ```
//! Fills a fresh metadata store with `--alerts` alerts (one per host, through
//! `AlertService::on_detections` in batches of 1,000: five rules, the four severities, two
//! techniques), refreshes the planner's statistics as `vigil up` does at open and every 10
//! minutes (`MetaStore::refresh_statistics`), then times `MetaStore::list_alerts` pages of 50
//! as the alert queue asks for them, `--reps` times each (after two untimed warm-up calls), and prints p50 and p99 per
//! query:
//! * `first page`: the queue's default (every status, newest last seen first);
//! * `page 20`: the 20th page through the keyset cursor (the cursor of page 19 is kept);
//! * `status + severity`: new alerts of at least high severity, by risk score;
//! * `rule`: one rule's alerts (a fifth of them);
//! * `entity`: the alerts of one host (one alert);
//! * `text`: rule name contains a word (a fifth), sorted by count.
//!
//! With no arguments it runs 10,000 and 100,000 alerts on SQLite.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use vigil_core::alerts::*;
use vigil_core::*;

struct Args {
    backend: String,
    alerts: Vec<usize>,
    reps: usize,
}

fn args() -> Args {
    let mut a = Args {
        backend: "sqlite".into(),
        alerts: vec![10_000, 100_000],
        reps: 200,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let mut v = || it.next().unwrap_or_default();
        match k.as_str() {
            "--backend" => a.backend = v(),
            "--alerts" => a.alerts = vec![v().parse().expect("--alerts N")],
            "--reps" => a.reps = v().parse().expect("--reps N"),
            _ => {} // cargo bench passes --bench
        }
    }
    a
}

async fn open(backend: &str, dir: &std::path::Path) -> (Arc<SqlMetaStore>, Option<String>) {
    let opts = StoreOptions {
        max_attachment_bytes: 1 << 20,
        max_connections: 4,
    };
    if backend == "postgres" {
        sqlx::any::install_default_drivers();
        let name = format!(
            "vigil_bench_{}",
            ulid::Ulid::new().to_string().to_lowercase()
        );
        admin(&format!("CREATE DATABASE {name}")).await;
        let url = format!("postgres://postgres@127.0.0.1:5432/{name}");
        (
            Arc::new(SqlMetaStore::open_postgres(&url, opts).await.unwrap()),
            Some(name),
        )
    } else {
        (
            Arc::new(
                SqlMetaStore::open_sqlite(&dir.join("meta.db"), opts)
                    .await
                    .unwrap(),
            ),
            None,
        )
    }
}

async fn admin(sql: &str) {
    let pool = sqlx::any::AnyPoolOptions::new()
        .max_connections(1)
        .connect("postgres://postgres@127.0.0.1:5432/postgres")
        .await
        .expect("PostgreSQL on 127.0.0.1:5432");
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
}

const RULES: [(&str, &str); 5] = [
    ("r-powershell", "Encoded PowerShell"),
    ("r-ssh", "SSH brute force"),
    ("r-scan", "Port scan"),
    ("r-sudo", "Sudo failures"),
    ("r-web", "Web scanner"),
];
const LEVELS: [&str; 4] = ["low", "medium", "high", "critical"];

/// `n` alerts, one per host.
async fn fill(store: &Arc<SqlMetaStore>, n: usize) -> Duration {
    let opts = AlertOptions {
        storm_max_new_alerts: 0,
        group_cache_capacity: n.max(1000),
        ..AlertOptions::default()
    };
    let svc = AlertService::new(store.clone(), None, opts);
    let events: Vec<BTreeMap<String, String>> = (0..n)
        .map(|i| {
            [
                ("host.name", format!("host-{i}")),
                ("user.name", format!("user-{}", i % 97)),
                (
                    "source.ip",
                    format!("10.{}.{}.{}", i >> 16 & 255, i >> 8 & 255, i & 255),
                ),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect()
        })
        .collect();
    let ids: Vec<String> = (0..n).map(|i| format!("ev-{i:09}")).collect();
    let tenant = TenantId::main();
    let tags = [
        vec!["attack.execution".to_owned(), "attack.t1059.001".to_owned()],
        vec![
            "attack.credential-access".to_owned(),
            "attack.t1110".to_owned(),
        ],
    ];
    let t0 = chrono::Utc::now() - chrono::Duration::hours(1);
    let started = Instant::now();
    for (b, chunk) in ids.chunks(1000).enumerate() {
        let batch: Vec<RuleDetection<'_>> = chunk
            .iter()
            .enumerate()
            .map(|(j, id)| {
                let i = b * 1000 + j;
                let (rule_id, rule_name) = RULES[i % RULES.len()];
                RuleDetection {
                    tenant: &tenant,
                    rule_id,
                    rule_name,
                    rule_version: 1,
                    level: LEVELS[i % LEVELS.len()],
                    tags: &tags[i % 2],
                    event_id: id,
                    time: t0 + chrono::Duration::milliseconds(i as i64 * 10),
                    first_time: None,
                    count: 1 + (i % 7) as u64,
                    group: None,
                    event: &events[i],
                }
            })
            .collect();
        let out = svc.on_detections(&batch).await;
        assert!(out.failed.is_empty(), "{:?}", out.failed.first());
    }
    started.elapsed()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

async fn time_query(
    store: &SqlMetaStore,
    scope: &TenantScope,
    q: &AlertQuery,
    page: &Page,
    reps: usize,
) -> (Duration, Duration, usize) {
    let mut items = 0;
    for _ in 0..2 {
        items = store.list_alerts(scope, q, page).await.unwrap().items.len();
    }
    let mut t = Vec::with_capacity(reps);
    for _ in 0..reps {
        let s = Instant::now();
        let p = store.list_alerts(scope, q, page).await.unwrap();
        t.push(s.elapsed());
        std::hint::black_box(p);
    }
    t.sort();
    (percentile(&t, 0.5), percentile(&t, 0.99), items)
}

async fn run(a: &Args, n: usize) {
    let dir = tempfile::tempdir().unwrap();
    let (store, pg) = open(&a.backend, dir.path()).await;
    let fill_time = fill(&store, n).await;
    // what `vigil up` does at open and every 10 minutes: the planners see the filled tables
    store.refresh_statistics().await.unwrap();
    let scope = TenantScope::single(TenantId::main());
    println!(
        "backend={} alerts={n} (filled in {:.1}s) pages of 50, {} reps each:",
        a.backend,
        fill_time.as_secs_f64(),
        a.reps
    );
    let first = Page::first(50);
    // the cursor of page 20
    let mut deep = Page::first(50);
    for _ in 0..19 {
        let p = store
            .list_alerts(&scope, &AlertQuery::default(), &deep)
            .await
            .unwrap();
        deep.cursor = p.next_cursor;
    }
    let queries: Vec<(&str, AlertQuery, &Page)> = vec![
        ("first page", AlertQuery::default(), &first),
        ("page 20", AlertQuery::default(), &deep),
        (
            "status + severity",
            AlertQuery {
                statuses: vec![AlertStatus::New],
                min_severity: Some(Severity::High),
                sort: AlertSort::RiskScore,
                ..AlertQuery::default()
            },
            &first,
        ),
        (
            "rule",
            AlertQuery {
                rule_id: Some("r-ssh".into()),
                ..AlertQuery::default()
            },
            &first,
        ),
        (
            "entity",
            AlertQuery {
                entity: Some(Entity {
                    kind: EntityKind::Host,
                    value: format!("host-{}", n / 2),
                }),
                ..AlertQuery::default()
            },
            &first,
        ),
        (
            "text",
            AlertQuery {
                text: Some("scan".into()),
                sort: AlertSort::Count,
                ..AlertQuery::default()
            },
            &first,
        ),
    ];
    for (name, q, page) in &queries {
        let (p50, p99, items) = time_query(&store, &scope, q, page, a.reps).await;
        println!(
            "  {name:<18} p50 {:>7.2} ms  p99 {:>7.2} ms  ({items} rows)",
            p50.as_secs_f64() * 1000.0,
            p99.as_secs_f64() * 1000.0
        );
    }
    store.close().await;
    if let Some(name) = pg {
        admin(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await;
    }
}

fn main() {
    let a = args();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    for &n in &a.alerts {
        rt.block_on(run(&a, n));
    }
    rt.shutdown_timeout(Duration::from_secs(5));
}
