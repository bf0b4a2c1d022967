//! `vigil up`: every component in one process, on the configured store (embedded or
//! ClickHouse).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use vigil_api::ApiState;
use vigil_config::Config;
use vigil_pipeline::{MetricSet, PipelineBuilder, PipelineOptions, Telemetry};
use vigil_store::EventStore;

use crate::cli::UpArgs;
use crate::topology;
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
    if let Some(a) = args.syslog_addr
        && !cfg
            .collectors
            .iter_mut()
            .any(|c| topology::set_listen_addr(&mut c.connector, a))
    {
        return Err(
            UsageError("--syslog-addr: the configuration has no syslog collector".into()).into(),
        );
    }
    Ok(cfg)
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
        vigil_config::read_file_capped(std::path::Path::new("/proc/sys/fs/nr_open"), 64)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
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

/// Reloads the correlation rules on SIGHUP (unchanged rules keep their state).
fn reload_on_sighup(h: vigil_core::correlation::CorrelationHandle) {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hup = match signal(SignalKind::hangup()) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "cannot watch SIGHUP; correlation rules reload on file changes and through the API only");
            return;
        }
    };
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            let h = h.clone();
            match tokio::task::spawn_blocking(move || h.reload()).await {
                Ok(r) => tracing::info!(
                    rules = r.rules,
                    kept = r.kept,
                    restarted = r.restarted,
                    problems = r.problems.len(),
                    "SIGHUP: correlation rules reloaded"
                ),
                Err(e) => tracing::error!(error = %e, "SIGHUP: correlation reload failed"),
            }
        }
    });
}

/// Adds the rules API's directories, `<data_dir>/rules/sigma` and `<data_dir>/rules/correlation`
/// (created here), to the Sigma and correlation rule paths, so the rules written through the
/// API load at every start (see `vigil_core::rulebook`). Without a `detection` or
/// `correlation` section, one with only that directory (and the defaults) is added.
pub fn add_api_rule_dirs(cfg: &mut Config) -> Result<()> {
    let book = vigil_core::rulebook::RuleBook::new(cfg.data_dir.join("rules"));
    book.create_dirs()
        .with_context(|| format!("creating {}", cfg.data_dir.join("rules").display()))?;
    let sigma = book.writable_dir(vigil_core::rulebook::RuleKind::Sigma);
    let correlation = book.writable_dir(vigil_core::rulebook::RuleKind::Correlation);
    match &mut cfg.detection {
        Some(d) => d.rules.push(sigma),
        None => {
            cfg.detection = Some(vigil_config::DetectionConfig {
                rules: vec![sigma],
                pipeline: vigil_config::SigmaPipeline::None,
                reload_interval: std::time::Duration::from_secs(2),
                placeholders: Default::default(),
            })
        }
    }
    match &mut cfg.correlation {
        Some(c) => c.rules.push(correlation),
        None => {
            cfg.correlation = Some(vigil_config::CorrelationConfig {
                rules: vec![correlation],
                idle_after: std::time::Duration::from_secs(30),
                snapshot_interval: std::time::Duration::from_secs(30),
            })
        }
    }
    Ok(())
}

pub fn run(args: UpArgs) -> Result<u8> {
    let mut cfg = load_config(&args)?;
    raise_descriptor_limit();
    let lock = lock_data_dir(&cfg.data_dir)?;
    add_api_rule_dirs(&mut cfg)?;
    let token_path = cfg
        .api
        .token_file
        .clone()
        .unwrap_or_else(|| cfg.data_dir.join("api-token"));
    let token = vigil_api::token::ensure(&token_path).map_err(|e| match e {
        vigil_api::token::TokenError::Refused(m) => anyhow::Error::from(UsageError(m)),
        e => e.into(),
    })?;

    let telemetry = Telemetry::new();
    let (topology, _) = topology::build(&cfg, &telemetry).map_err(|p| UsageError(p.join("\n")))?;
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
        topology,
        telemetry,
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

#[allow(clippy::too_many_arguments)]
async fn serve(
    cfg: Config,
    args: UpArgs,
    topology: topology::Topology,
    telemetry: Telemetry,
    store: Arc<dyn EventStore>,
    token: String,
    lock: &DataDirLock,
    token_path: &Path,
) -> Result<u8> {
    let core_settings = crate::core_wiring::settings(&cfg).map_err(|p| UsageError(p.join("\n")))?;
    let core = crate::core_wiring::start(
        &cfg,
        core_settings,
        cfg.api.tls.is_some(),
        &telemetry,
        store.clone(),
    )
    .await?;
    {
        let store = store.clone();
        telemetry.add_collector(move |out| collect_store_metrics(&*store, out));
    }
    {
        let c = core.core.clone();
        telemetry.add_collector(move |out| crate::core_wiring::core_metrics(&c, out));
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
    builder.quotas(core.quotas.clone());
    let rules_watch = vigil_pipeline::Shutdown::new();
    let tls = topology.api_tls.clone();
    let started = topology.start(
        &mut builder,
        &telemetry,
        &store,
        &cfg.data_dir,
        &rules_watch,
        Some(&|| core.feed.sink()),
    )?;
    // source status: every batch counted per host (vigil_core::sources)
    builder.destination(
        "sources",
        Box::new(vigil_core::sources::SourceDestination::new(
            core.sources.clone(),
        )),
    );
    // asset learning: the hosts of every batch, written every few seconds
    builder.destination(
        "assets",
        Box::new(vigil_core::asset_learning::AssetDestination::new(
            core.learner.clone(),
        )),
    );
    core.core.rules.attach(
        started.sigma_rules.clone(),
        started.correlator.clone(),
        store.clone(),
    );
    let pipeline = builder.start().map_err(|e| anyhow::anyhow!("{e}"))?;
    let shutdown = pipeline.shutdown_handle();
    {
        let file = args
            .config
            .as_ref()
            .map(|p| std::path::absolute(p).unwrap_or_else(|_| p.clone()));
        let _ = core
            .core
            .config
            .set(Arc::new(vigil_api::v1::collectors::ConfigFile::new(
                file,
                &cfg,
                Box::new(topology::check_collectors),
            )));
    }
    if let Some(h) = &started.correlator {
        let _ = core.core.correlation.set(h.clone());
        reload_on_sighup(h.clone());
    }

    // API
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
        search: Arc::new({
            let s = vigil_api::store_search::StoreSearch::new(store.clone());
            match &started.correlator {
                Some(h) => s.with_lists(Arc::new(h.clone())),
                None => s,
            }
        }),
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
        core: Some(core.core.clone()),
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
        let target = started.tcp.ok_or_else(|| {
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
    for l in &started.listening {
        eprintln!("  listening   {l}");
    }
    if let Some(d) = &started.detection {
        eprintln!("  detection   {d}");
    }
    match &started.correlation {
        Some(c) => eprintln!("  correlation {c}"),
        None if args.demo => eprintln!(
            "  correlation off: the configuration has no correlation section (the shipped pack is `correlation: {{rules: [builtin:correlation]}}`)"
        ),
        None => {}
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
    core.drain().await;
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

/// The store's figures ([`vigil_store::collect_metrics`]). A remote store answers over the
/// network: the API's async worker steps aside while it does.
fn collect_store_metrics(store: &dyn EventStore, out: &mut MetricSet) {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(|| vigil_store::collect_metrics(store, out))
        }
        _ => vigil_store::collect_metrics(store, out),
    }
}
