//! `vigil up`: every component in one process, on the configured store (embedded or
//! ClickHouse).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use vigil_api::ApiState;
use vigil_config::{Config, ConnectorConfig, DestinationConfig};
use vigil_pipeline::{MetricSet, PipelineBuilder, PipelineOptions, Telemetry};
use vigil_store::{EventStore, StoreStats, TenantId};

use crate::cli::UpArgs;
use crate::cmd::search::StoreSearch;
use crate::topology::{self, StoreDestination};
use crate::{UsageError, exit};

/// Loads the config from a file or the built-in default, then applies the command-line
/// overrides.
pub fn load_config(args: &UpArgs) -> Result<Config> {
    let mut cfg = match &args.config {
        Some(p) => vigil_config::load_file(p).map_err(|e| UsageError(e.to_string()))?,
        None => vigil_config::default_config().map_err(|e| UsageError(e.to_string()))?,
    };
    if let Some(d) = &args.data_dir {
        cfg.data_dir = d.clone();
    }
    if let Some(a) = args.http_addr {
        cfg.api.listen = a;
    }
    if let Some(a) = args.syslog_addr {
        // the first syslog collector; more connector types will make this a real search
        #[allow(clippy::unnecessary_find_map)]
        let first = cfg
            .collectors
            .iter_mut()
            .find_map(|c| match &mut c.connector {
                ConnectorConfig::Syslog(s) => Some(s),
            });
        match first {
            Some(s) => {
                s.udp = Some(a);
                s.tcp = Some(a);
            }
            None => {
                return Err(UsageError(
                    "--syslog-addr: the configuration has no syslog collector".into(),
                )
                .into());
            }
        }
    }
    Ok(cfg)
}

/// Reads the API token, creating a random one (mode 0600) on first start. An existing token
/// file that group or others can access is refused ([`vigil_fs::check_secret_file`]).
pub fn ensure_token(path: &Path) -> Result<String> {
    if path.exists() {
        vigil_fs::check_secret_file(path)
            .map_err(|e| UsageError(format!("api.token_file: {e}")))?;
        let bytes = vigil_config::read_file_capped(path, 4096)
            .with_context(|| format!("reading the API token {}", path.display()))?;
        let t = String::from_utf8_lossy(&bytes).trim().to_owned();
        if t.len() < 16 {
            return Err(UsageError(format!(
                "{} holds a token shorter than 16 characters; delete it to get a new one",
                path.display()
            ))
            .into());
        }
        return Ok(t);
    }
    let token: String = {
        use rand::Rng;
        let mut rng = rand::rng();
        (0..40)
            .map(|_| char::from(b"abcdefghijklmnopqrstuvwxyz0123456789"[rng.random_range(0..36)]))
            .collect()
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        vigil_fs::create_dir_all(dir)
            .with_context(|| format!("creating the directory of {}", path.display()))?;
    }
    let mut f = vigil_fs::options()
        .write(true)
        .create_new(true)
        .open(path)
        .with_context(|| format!("creating the API token {}", path.display()))?;
    f.write_all(token.as_bytes())?;
    Ok(token)
}

/// Holds `<data_dir>/vigil.lock` for the life of the process.
pub struct DataDirLock {
    _file: std::fs::File,
    pub url_file: PathBuf,
}

/// Creates the data directory (mode 0700) and locks it. A data directory that group or others
/// can enter is set to 0700, with a warning: it holds every event, the API token and the
/// signing key.
pub fn lock_data_dir(dir: &Path) -> Result<DataDirLock> {
    let loose = vigil_fs::make_private_dir(dir)
        .with_context(|| format!("creating the data directory {}", dir.display()))?;
    if let Some(mode) = loose {
        tracing::warn!(
            path = %dir.display(),
            old_mode = %format!("{mode:04o}"),
            "the data directory was accessible to other users; set it to 0700"
        );
    }
    let lock = dir.join("vigil.lock");
    let file = vigil_fs::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock)
        .with_context(|| format!("opening {}", lock.display()))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            return Err(UsageError(format!(
                "another vigil is already running on {} (stop it, or use another --data-dir)",
                dir.display()
            ))
            .into());
        }
        Err(std::fs::TryLockError::Error(e)) => {
            return Err(e).with_context(|| format!("locking {}", lock.display()));
        }
    }
    Ok(DataDirLock {
        _file: file,
        url_file: dir.join("api.url"),
    })
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit (a busy collector holds thousands of
/// connections; many systems start processes at 1,024), logs it, and sets the descriptor budget
/// every listener shares, keeping a reserve for the store ([`vigil_pipeline::descriptors`]).
fn raise_descriptor_limit() {
    use rlimit::Resource;
    let (soft, hard) = match Resource::NOFILE.get() {
        Ok(x) => x,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the descriptor limit; connections are capped by the listeners' own limits only");
            return;
        }
    };
    // an unlimited hard limit cannot be the soft one (Linux caps it at fs.nr_open)
    let target = if hard == rlimit::INFINITY {
        std::fs::read_to_string("/proc/sys/fs/nr_open")
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .unwrap_or(1 << 20)
    } else {
        hard
    };
    let limit = if target > soft {
        match rlimit::increase_nofile_limit(target) {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, soft, hard, "cannot raise the descriptor limit");
                soft
            }
        }
    } else {
        soft
    };
    let b = vigil_pipeline::descriptors::configure(limit);
    tracing::info!(
        limit = b.limit,
        was = soft,
        hard,
        reserved = b.reserve,
        connections = b.connections,
        "descriptor limit: connections of all listeners together stay below limit - reserved"
    );
}

pub fn run(args: UpArgs) -> Result<u8> {
    let cfg = load_config(&args)?;
    raise_descriptor_limit();
    let lock = lock_data_dir(&cfg.data_dir)?;
    let token_path = cfg
        .api
        .token_file
        .clone()
        .unwrap_or_else(|| cfg.data_dir.join("api-token"));
    let token = ensure_token(&token_path)?;

    let collectors = topology::build(&cfg).map_err(|p| UsageError(p.join("\n")))?;
    let store = topology::open_store(&cfg)?;

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("vigil-rt")
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let result = rt.block_on(serve(
        cfg,
        args,
        collectors,
        store.clone(),
        token,
        &lock,
        &token_path,
    ));
    if let Err(e) = store.close() {
        tracing::error!(error = %e, "closing the store");
    }
    let _ = std::fs::remove_file(&lock.url_file);
    result
}

async fn serve(
    cfg: Config,
    args: UpArgs,
    collectors: Vec<topology::BuiltCollector>,
    store: Arc<dyn EventStore>,
    token: String,
    lock: &DataDirLock,
    token_path: &Path,
) -> Result<u8> {
    let telemetry = Telemetry::new();
    {
        let store = store.clone();
        telemetry.add_collector(move |out| collect_store_metrics(&*store, out));
    }
    let mut builder = PipelineBuilder::new(
        PipelineOptions {
            workers: cfg.pipeline.workers,
            raw_queue_batches: cfg.pipeline.raw_queue_batches,
            event_queue_batches: cfg.pipeline.event_queue_batches,
            batch_linger: cfg.pipeline.batch_linger,
            batch_events: cfg.pipeline.batch_events,
        },
        telemetry.clone(),
    );
    let chain = topology::chain_factory(&collectors, &telemetry);
    let mut syslog_tcp = None;
    let mut listening = Vec::new();
    for (c, built) in cfg.collectors.iter().zip(collectors) {
        let ConnectorConfig::Syslog(s) = &c.connector;
        if syslog_tcp.is_none() {
            syslog_tcp = s.tcp;
        }
        if let Some(a) = s.udp {
            listening.push(format!("syslog udp://{a} ({})", c.id));
        }
        if let Some(a) = s.tcp {
            listening.push(format!("syslog tcp://{a} ({})", c.id));
        }
        if let Some((a, _)) = &s.tls {
            listening.push(format!("syslog tls://{a} ({})", c.id));
        }
        builder.connector(built.connector, built.source);
    }
    builder.chain(chain);
    for (i, d) in cfg.destinations.iter().enumerate() {
        match d {
            DestinationConfig::Storage => {
                let dest_metrics = telemetry.component("destination", "storage");
                builder.destination(
                    "storage",
                    Box::new(StoreDestination::new(store.clone(), dest_metrics)),
                );
            }
            DestinationConfig::File { path, format } => {
                let id = format!("file-{i}");
                let m = telemetry.component("destination", &id);
                listening.push(format!("file       {} ({id})", path.display()));
                builder.destination(
                    &id,
                    Box::new(crate::destinations::FileDestination::new(path, *format, m)),
                );
            }
        }
    }
    let rules_watch = vigil_pipeline::Shutdown::new();
    if let Some(dcfg) = cfg.detection.clone() {
        let m = telemetry.component("destination", "correlator");
        let n_paths = dcfg.rules.len();
        let rules = crate::detection::Rules::start(dcfg, m.clone(), rules_watch.clone())
            .map_err(|e| UsageError(format!("detection: {e}")))?;
        listening.push(format!(
            "detection  {} rules from {n_paths} path(s), reloaded on change",
            rules.get().len()
        ));
        builder.destination(
            "correlator",
            Box::new(crate::detection::DetectionDestination::new(
                rules,
                store.clone(),
                m,
                Some(&cfg.data_dir),
            )),
        );
    }
    let pipeline = builder.start().map_err(|e| anyhow::anyhow!("{e}"))?;
    let shutdown = pipeline.shutdown_handle();

    // API
    let tls = match &cfg.api.tls {
        Some(t) => Some(Arc::new(
            vigil_api::tls_config(&t.cert, &t.key, t.client_ca.as_deref())
                .map_err(|e| UsageError(format!("api.tls: {e}")))?,
        )),
        None => None,
    };
    let listener = tokio::net::TcpListener::bind(cfg.api.listen).await.map_err(|e| {
        UsageError(format!(
            "cannot listen on {} for the API: {e} (is another program using it? choose another with --http-addr)",
            cfg.api.listen
        ))
    })?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    let url = format!("{scheme}://{}", cfg.api.listen);
    if let Err(e) = vigil_fs::write(&lock.url_file, &url) {
        tracing::warn!(path = %lock.url_file.display(), error = %e, "cannot write the API address file; `vigil search` without --url will not find this instance");
    }
    let state = ApiState {
        search: Arc::new(StoreSearch::new(store.clone())),
        telemetry: telemetry.clone(),
        token: token.into(),
        query_timeout: cfg.api.query_timeout,
        max_body_size: cfg.api.max_body_size,
        limits: api_limits(&cfg.api),
        searches: vigil_api::SearchGate::new(vigil_api::SearchLimits {
            max_concurrent: cfg.search.max_concurrent,
            max_queued: cfg.search.max_queued,
            queue_wait: cfg.search.queue_wait,
            max_result_bytes: cfg.search.max_result_bytes,
            max_limit: cfg.search.max_limit,
        }),
    };
    let limits = state.limits.clone();
    let app = vigil_api::router(state);
    let api_task = tokio::spawn(vigil_api::serve(
        listener,
        app,
        tls,
        limits,
        vigil_api::api_metrics(&telemetry),
        shutdown.signal(),
    ));

    // demo traffic
    let demo_task = if args.demo {
        let target = syslog_tcp.ok_or_else(|| {
            UsageError("--demo needs a syslog collector with a tcp address".into())
        })?;
        let stop = shutdown.signal();
        let rate = args.demo_rate;
        Some(tokio::spawn(async move {
            if let Err(e) = crate::demo::run_async(target, rate, None, true, stop).await {
                tracing::warn!(error = %e, "demo generator stopped");
            }
        }))
    } else {
        None
    };

    eprintln!("Vigil {} is up.", env!("CARGO_PKG_VERSION"));
    for l in &listening {
        if let Some(rest) = l.strip_prefix("detection  ") {
            eprintln!("  detection   {rest}");
        } else {
            eprintln!("  listening   {l}");
        }
    }
    eprintln!("  API         {url}  (token in {})", token_path.display());
    eprintln!("  data        {}", cfg.data_dir.display());
    if args.demo {
        eprintln!(
            "  demo        sending {} events/s with attacks mixed in",
            args.demo_rate
        );
    }
    eprintln!(
        "Try:  vigil search --data-dir {} 'process.name:sshd AND failed | count by source.ip'",
        cfg.data_dir.display()
    );
    eprintln!("Stop with Ctrl-C.");

    // wait for a signal (or a component asking to stop)
    let mut sig = shutdown.signal();
    tokio::select! {
        _ = wait_for_signal() => tracing::info!("shutting down: flushing events in flight"),
        _ = sig.wait() => tracing::info!("shutting down"),
    }
    shutdown.trigger();
    if let Some(t) = demo_task {
        let _ = t.await;
    }
    pipeline.stop().await.map_err(|e| anyhow::anyhow!("{e}"))?;
    rules_watch.trigger();
    match api_task.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::error!(error = %e, "API server stopped with an error"),
        Err(e) => tracing::error!(error = %e, "API task failed"),
    }
    tracing::info!("stopped");
    Ok(exit::OK)
}

fn api_limits(c: &vigil_config::ApiConfig) -> vigil_api::ApiLimits {
    vigil_api::ApiLimits {
        max_connections: c.max_connections,
        max_concurrent_requests: c.max_concurrent_requests,
        header_read_timeout: c.header_read_timeout,
        body_read_timeout: c.body_read_timeout,
        idle_timeout: c.idle_timeout,
        auth: vigil_api::AuthPolicy {
            max_failures: c.auth_max_failures,
            failure_window: c.auth_failure_window,
            lockout: c.auth_lockout,
            log_interval: c.auth_log_interval,
        },
    }
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// The store's figures of every tenant with events (and of `main` always, so that the
/// store-wide disk gauges show before the first event). A remote store answers over the
/// network: the API's async worker steps aside while it does.
fn collect_store_metrics(store: &dyn EventStore, out: &mut MetricSet) {
    let mut collect = || {
        let mut tenants = match store.tenants() {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!(error = %e, "store metrics: tenants not listed");
                Vec::new()
            }
        };
        if !tenants.contains(&TenantId::main()) {
            tenants.insert(0, TenantId::main());
        }
        for t in tenants {
            match store.stats(&t) {
                Ok(s) => store_metrics(&t, &s, out),
                Err(e) => tracing::warn!(tenant = %t, error = %e, "store metrics not read"),
            }
        }
    };
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(collect)
        }
        _ => collect(),
    }
}

fn store_metrics(t: &TenantId, s: &StoreStats, out: &mut MetricSet) {
    let rows: [(&str, &str, &str, u64); 20] = [
        (
            "vigil_store_disk_full",
            "gauge",
            "1 while new events are refused because free disk space is below the reserve.",
            s.disk_full,
        ),
        (
            "vigil_store_disk_free_bytes",
            "gauge",
            "Free bytes on the data directory's file system at the last check.",
            s.disk_free_bytes,
        ),
        (
            "vigil_store_appends_refused_disk_full_total",
            "counter",
            "Appends refused because the disk was full (the pipeline retries them).",
            s.appends_refused_disk_full,
        ),
        (
            "vigil_store_retention_segments_deleted_total",
            "counter",
            "Segment files deleted by retention since start.",
            s.retention_segments_deleted,
        ),
        (
            "vigil_store_retention_events_deleted_total",
            "counter",
            "Events deleted by retention since start.",
            s.retention_events_deleted,
        ),
        ("vigil_store_events", "gauge", "Events stored.", s.events),
        (
            "vigil_store_memtable_events",
            "gauge",
            "Events not yet sealed into segments.",
            s.memtable_events,
        ),
        (
            "vigil_store_segments",
            "gauge",
            "Segment files.",
            s.segments,
        ),
        (
            "vigil_store_bytes_on_disk",
            "gauge",
            "Bytes of segment and WAL files.",
            s.bytes_on_disk,
        ),
        (
            "vigil_store_events_appended_total",
            "counter",
            "Events appended since start.",
            s.events_appended,
        ),
        (
            "vigil_store_bytes_written_total",
            "counter",
            "Bytes written since start.",
            s.bytes_written,
        ),
        (
            "vigil_store_segments_sealed_total",
            "counter",
            "Segments sealed since start.",
            s.segments_sealed,
        ),
        (
            "vigil_store_corrupt_frames_total",
            "counter",
            "Torn or corrupt WAL frames found at open.",
            s.corrupt_frames,
        ),
        (
            "vigil_store_corrupt_segments_total",
            "counter",
            "Segments quarantined at open.",
            s.corrupt_segments,
        ),
        (
            "vigil_store_seal_errors_total",
            "counter",
            "Failed seal attempts.",
            s.seal_errors,
        ),
        (
            "vigil_store_memtable_bytes",
            "gauge",
            "Bytes held by the tenant's unsealed events (memtables, those being sealed included).",
            s.memtable_bytes,
        ),
        (
            "vigil_store_memtable_bytes_all",
            "gauge",
            "Bytes held by the unsealed events of all tenants.",
            s.memtable_bytes_all,
        ),
        (
            "vigil_store_memtable_limit_bytes",
            "gauge",
            "The limit on the bytes of all memtables (storage.memtable_total_max).",
            s.memtable_limit_bytes,
        ),
        (
            "vigil_store_memtable_full_seals_total",
            "counter",
            "Memtables sealed early because they reached a memory limit.",
            s.memtable_full_seals,
        ),
        (
            "vigil_store_appends_waited_memory_total",
            "counter",
            "Appends that waited for memtables to be sealed (all memtables full; store-wide).",
            s.appends_waited_memory,
        ),
    ];
    for (name, kind, help, v) in rows {
        out.sample(name, kind, help, &[("tenant", t.as_str())], v);
    }
}
