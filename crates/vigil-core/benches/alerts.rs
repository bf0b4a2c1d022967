//! Alert pipeline throughput and memory.
//!
//! ```text
//! cargo bench -p vigil-core --bench alerts -- [--backend sqlite|postgres] [--entities N]
//!     [--detections N] [--batch N]
//! ```
//! Feeds `--detections` Sigma detections spread round-robin over `--entities` hosts (one
//! group per host) through `AlertService::on_detections` in batches of `--batch`, grouping
//! on, storm cap off, and prints detections per CPU-second: the CPU time of this process
//! (which includes SQLite, in-process) and, for PostgreSQL, of the server's processes too.
//! Then measures the bytes the open-group cache holds per 100,000 groups with a counting
//! allocator. With no arguments it runs the judged pair: 10 and 100,000 entities on SQLite.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::{Duration, Instant};

use vigil_core::alerts::groups::GroupCache;
use vigil_core::alerts::*;
use vigil_core::*;

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        LIVE.fetch_add(new as isize - l.size() as isize, Ordering::Relaxed);
        unsafe { System.realloc(p, l, new) }
    }
}

#[global_allocator]
static A: Counting = Counting;

/// utime + stime of a /proc stat line, in seconds (USER_HZ = 100).
fn stat_cpu(stat: &str) -> Option<f64> {
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}

/// A small /proc file, read up to 4 KiB.
#[allow(clippy::disallowed_methods)] // bounded by `take`
fn read_small(p: impl AsRef<std::path::Path>) -> std::io::Result<String> {
    use std::io::Read;
    let mut s = String::new();
    std::fs::File::open(p)?.take(4096).read_to_string(&mut s)?;
    Ok(s)
}

fn self_cpu() -> f64 {
    read_small("/proc/self/stat")
        .ok()
        .and_then(|s| stat_cpu(&s))
        .unwrap_or(0.0)
}

/// CPU seconds of every process named `postgres`.
fn postgres_cpu() -> f64 {
    let mut total = 0.0;
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for e in dir.flatten() {
            let p = e.path();
            if read_small(p.join("comm")).is_ok_and(|c| c.trim() == "postgres")
                && let Some(c) = read_small(p.join("stat")).ok().and_then(|s| stat_cpu(&s))
            {
                total += c;
            }
        }
    }
    total
}

struct Args {
    backend: String,
    entities: Vec<usize>,
    detections: usize,
    batch: usize,
}

fn args() -> Args {
    let mut a = Args {
        backend: "sqlite".into(),
        entities: vec![10, 100_000],
        detections: 200_000,
        batch: 1000,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let mut v = || it.next().unwrap_or_default();
        match k.as_str() {
            "--backend" => a.backend = v(),
            "--entities" => a.entities = vec![v().parse().expect("--entities N")],
            "--detections" => a.detections = v().parse().expect("--detections N"),
            "--batch" => a.batch = v().parse().expect("--batch N"),
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
        let admin = "postgres://postgres@127.0.0.1:5432/postgres";
        let name = format!(
            "vigil_bench_{}",
            ulid::Ulid::new().to_string().to_lowercase()
        );
        let pool = sqlx::any::AnyPoolOptions::new()
            .max_connections(1)
            .connect(admin)
            .await
            .expect("PostgreSQL on 127.0.0.1:5432");
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
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

async fn drop_pg(name: &str) {
    let pool = sqlx::any::AnyPoolOptions::new()
        .max_connections(1)
        .connect("postgres://postgres@127.0.0.1:5432/postgres")
        .await
        .unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;
}

async fn run(a: &Args, entities: usize) {
    let dir = tempfile::tempdir().unwrap();
    let (store, pg) = open(&a.backend, dir.path()).await;
    let opts = AlertOptions {
        storm_max_new_alerts: 0,
        group_cache_capacity: entities.max(100_000),
        ..AlertOptions::default()
    };
    let svc = AlertService::new(store.clone(), None, opts);
    let events: Vec<BTreeMap<String, String>> = (0..entities)
        .map(|i| {
            [
                ("host.name", format!("host-{i}")),
                ("user.name", format!("user-{}", i % 97)),
                (
                    "source.ip",
                    format!("10.{}.{}.{}", i >> 16 & 255, i >> 8 & 255, i & 255),
                ),
                ("process.name", "powershell.exe".to_owned()),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect()
        })
        .collect();
    let ids: Vec<String> = (0..a.detections).map(|i| format!("ev-{i:09}")).collect();
    let tenant = TenantId::main();
    let tags = vec!["attack.execution".to_owned(), "attack.t1059.001".to_owned()];
    let t0 = chrono::Utc::now();
    let (cpu0, pg0, wall0) = (self_cpu(), postgres_cpu(), Instant::now());
    let mut created = 0u64;
    let mut folds = 0u64;
    for (b, chunk) in ids.chunks(a.batch).enumerate() {
        let batch: Vec<RuleDetection<'_>> = chunk
            .iter()
            .enumerate()
            .map(|(j, id)| {
                let n = b * a.batch + j;
                RuleDetection {
                    tenant: &tenant,
                    rule_id: "bench-rule",
                    rule_name: "Encoded PowerShell",
                    rule_version: 1,
                    level: "high",
                    tags: &tags,
                    event_id: id,
                    time: t0 + chrono::Duration::milliseconds(n as i64),
                    first_time: None,
                    count: 1,
                    group: None,
                    event: &events[n % entities],
                }
            })
            .collect();
        let out = svc.on_detections(&batch).await;
        assert!(out.failed.is_empty(), "{:?}", out.failed.first());
        created += out.created;
        folds += out.folds;
    }
    let (cpu, pgcpu, wall) = (
        self_cpu() - cpu0,
        postgres_cpu() - pg0,
        wall0.elapsed().as_secs_f64(),
    );
    let n = a.detections as f64;
    let total_cpu = cpu + if pg.is_some() { pgcpu } else { 0.0 };
    println!(
        "backend={} entities={entities} detections={} batch={} alerts={created} folds={folds}",
        a.backend, a.detections, a.batch
    );
    println!(
        "  cpu: vigil {cpu:.2}s{}  wall {wall:.2}s",
        if pg.is_some() {
            format!(" + postgres {pgcpu:.2}s")
        } else {
            String::new()
        }
    );
    println!(
        "  detections per CPU-second: {:.0}{}",
        n / total_cpu.max(0.01),
        if pg.is_some() {
            format!(" (vigil process alone: {:.0})", n / cpu.max(0.01))
        } else {
            String::new()
        }
    );
    let st = svc.stats();
    println!(
        "  open groups cached: {} (~{} KiB by the cache's estimate)",
        st.open_groups,
        svc.open_groups_memory() / 1024
    );
    let total: u64 = store
        .list_alerts(
            &TenantScope::single(tenant.clone()),
            &AlertQuery::default(),
            &Page::first(1000),
        )
        .await
        .unwrap()
        .items
        .iter()
        .map(|x| x.count)
        .sum::<u64>();
    if entities <= 1000 {
        assert_eq!(total, a.detections as u64, "every detection counted");
    }
    store.close().await;
    if let Some(name) = pg {
        drop_pg(&name).await;
    }
}

fn memory_per_100k() {
    let before = LIVE.load(Ordering::Relaxed);
    let mut c = GroupCache::new(100_000);
    let t = TenantId::main();
    for i in 0..100_000u32 {
        let key = format!(
            "host=host-{i}|user=user-{}|ip=10.0.{}.{}",
            i % 97,
            i >> 8 & 255,
            i & 255
        );
        let h = groups::group_hash(&t, "bench-rule", &key);
        c.put(h, ulid::Ulid::new().0, 1);
    }
    let held = LIVE.load(Ordering::Relaxed) - before;
    println!(
        "open-group cache: 100,000 groups hold {} KiB measured ({} bytes/group; estimate {} KiB)",
        held / 1024,
        held / 100_000,
        c.memory_bytes() / 1024
    );
    drop(c);
}

fn main() {
    let a = args();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    for &e in &a.entities {
        rt.block_on(run(&a, e));
    }
    memory_per_100k();
    rt.shutdown_timeout(Duration::from_secs(5));
}
