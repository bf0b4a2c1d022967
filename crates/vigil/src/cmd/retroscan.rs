//! `vigil retroscan --rules R --from --to`: KUMA's Retroscan. Stored events of the time range
//! are read oldest first, page by page, and replayed through the candidate correlation rules
//! and, for the diff, through the rules currently live (the configuration's
//! `correlation.rules`, or `--live`), one engine pair per tenant; the report lists the alerts
//! the candidate would have raised and, per rule, alerts before, after, new and gone. The
//! replay is `vigil_core::retroscan`.
//!
//! When a `vigil up` runs on the data directory (its embedded store is locked), the command
//! sends the rule files to that instance (`POST /api/v1/correlation/retroscan`), which replays
//! its own store and diffs against the rules it runs; the report is the same.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::Value;
use vigil_api::store_search::parse_time_arg;
use vigil_correlate::{Loader, Rules};
use vigil_event::Timestamp;
use vigil_store::{EventStore, TenantId, TimeRange};

use crate::cli::Format;
use crate::{UsageError, exit};

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  vigil retroscan --rules rules/correlation/authentication.yaml --from 7d
  vigil retroscan --rules my-rules/ --live rules/correlation/ --from 2026-11-01 --to 2026-11-08
  vigil retroscan --rules draft.yaml --no-diff --format json

While `vigil up` runs on the data directory, the rule files are sent to it and it replays its
own store (diff against the rules it runs, unless --live or --no-diff); otherwise retroscan
opens the data directory itself.
Exit code 0 when the replay ran, 2 on bad rules or arguments.")]
pub struct RetroscanArgs {
    /// Candidate correlation rules: files or directories (repeatable). Every rule that does not
    /// load is reported with its file and path, and the scan does not run.
    #[arg(short, long = "rules", value_name = "PATH", required = true)]
    pub rules: Vec<PathBuf>,
    /// The rules to diff against (repeatable; `builtin:correlation` is the shipped pack).
    /// Default: the `correlation.rules` of --config, or of the built-in configuration (the
    /// shipped pack, embedded in the binary).
    #[arg(long, value_name = "PATH")]
    pub live: Vec<PathBuf>,
    /// Only report the candidate's alerts, without a diff.
    #[arg(long, conflicts_with = "live")]
    pub no_diff: bool,
    /// Start of the replayed range (inclusive): RFC 3339, a date, epoch seconds, or a relative
    /// time like `2h`, `7d` (ago). Default: the oldest stored event.
    #[arg(long)]
    pub from: Option<String>,
    /// End of the replayed range (exclusive); same forms as --from. Default: now.
    #[arg(long)]
    pub to: Option<String>,
    /// Only this tenant (default: every tenant, each replayed on its own).
    #[arg(long)]
    pub tenant: Option<String>,
    /// Data directory holding the events (default `./vigil-data`, or the config's).
    #[arg(long, env = "VIGIL_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Configuration: its data directory and storage settings, and its live correlation rules.
    #[arg(short, long)]
    pub config: Option<PathBuf>,
    /// Output: `table` (the per-rule diff, then the first alerts) or `json` (one object with
    /// the diff and every alert).
    #[arg(short, long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Most alerts listed in table format.
    #[arg(long, default_value_t = 50)]
    pub show: usize,
    /// No progress bar.
    #[arg(long)]
    pub no_progress: bool,
}

fn load(paths: &[PathBuf], what: &str) -> Result<Rules> {
    let mut loader = Loader::new();
    for p in paths {
        // a directory, a file, or the pack embedded in the binary (`builtin:correlation`)
        if vigil_correlate::shipped::is_builtin(p) || p.is_dir() || p.is_file() {
            loader.add_path(p);
        } else {
            return Err(UsageError(format!(
                "{what}: {}: no such file or directory",
                p.display()
            ))
            .into());
        }
    }
    let (rules, problems) = loader.finish();
    if !problems.is_empty() {
        let lines: Vec<String> = problems.iter().map(|p| format!("{what}: {p}")).collect();
        return Err(UsageError(lines.join("\n")).into());
    }
    if rules.rules.is_empty() {
        return Err(UsageError(format!("{what}: no correlation rules found")).into());
    }
    Ok(rules)
}

pub fn run(a: RetroscanArgs) -> Result<u8> {
    let cfg = match &a.config {
        Some(p) => vigil_config::load_file(p).map_err(|e| UsageError(e.to_string()))?,
        None => vigil_config::default_config().map_err(|e| UsageError(e.to_string()))?,
    };
    // the candidate is checked here first: its problems are reported with the local file names
    let candidate = Arc::new(load(&a.rules, "--rules")?);
    let now = Timestamp::now();
    let from = match &a.from {
        Some(f) => parse_time_arg(f, now).map_err(|e| UsageError(format!("--from: {e}")))?,
        None => Timestamp::MIN,
    };
    let to = match &a.to {
        Some(t) => parse_time_arg(t, now).map_err(|e| UsageError(format!("--to: {e}")))?,
        None => now,
    };
    if from >= to {
        return Err(UsageError("--from must be before --to".into()).into());
    }
    let mut cfg = cfg;
    if let Some(d) = &a.data_dir {
        cfg.data_dir = d.clone();
    }
    if cfg.storage.embedded().is_some() && crate::cmd::search::data_dir_in_use(&cfg.data_dir) {
        // a running `vigil up` holds the store: it replays its own events
        return remote(&a, &cfg.data_dir);
    }
    let live = if a.no_diff {
        None
    } else if !a.live.is_empty() {
        Some(Arc::new(load(&a.live, "--live")?))
    } else {
        // the configuration's (the built-in one runs the embedded pack, builtin:correlation)
        let paths = match &cfg.correlation {
            Some(c) => c.rules.clone(),
            None => Vec::new(),
        };
        if paths.is_empty() {
            return Err(UsageError(
                "no live rules to diff against: the configuration has no correlation section; pass --live or --no-diff".into(),
            )
            .into());
        }
        Some(Arc::new(load(&paths, "live rules")?))
    };
    if cfg.storage.embedded().is_some() && !cfg.data_dir.join("events").is_dir() {
        return Err(UsageError(format!(
            "no events in {} (pass --data-dir or --config)",
            cfg.data_dir.display()
        ))
        .into());
    }
    let store: Arc<dyn EventStore> = crate::topology::open_store(&cfg)?;
    let tenants = match &a.tenant {
        Some(t) => vec![TenantId::new(t).map_err(|e| UsageError(format!("--tenant: {e}")))?],
        None => store.tenants().context("listing the tenants")?,
    };

    let pb = if a.no_progress || !std::io::stderr().is_terminal() {
        ProgressBar::hidden()
    } else {
        let pb = ProgressBar::new(1000);
        pb.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {wide_bar} {percent}% of the time range ({eta}) {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        pb.enable_steady_tick(Duration::from_millis(200));
        pb
    };
    let started = std::time::Instant::now();
    let diff = live.is_some();
    let total = vigil_core::retroscan::run(
        &*store,
        &tenants,
        TimeRange::new(from, to),
        candidate,
        live,
        None,
        |p| {
            let span = (to.0.saturating_sub(p.first)).max(1) as f64;
            let done = (p.last.saturating_sub(p.first)) as f64 / span;
            pb.set_position((done.clamp(0.0, 1.0) * 1000.0) as u64);
            pb.set_message(format!(
                "tenant {}: {} events, {} alerts",
                p.tenant,
                p.scan.events(),
                p.scan.alerts()
            ));
        },
    )
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    pb.finish_and_clear();
    let _ = store.close();
    let report = vigil_core::retroscan::report_json(&total, tenants.len(), diff, usize::MAX);
    print_report(&a, &report, started.elapsed())?;
    Ok(exit::OK)
}

/// The rule files under `paths` (directories walked, the embedded pack's files by their
/// `builtin:correlation/<file>` names), as the API takes them.
fn rule_files(paths: &[PathBuf]) -> Result<Vec<Value>> {
    fn walk(p: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(p)?.flatten().map(|e| e.path()).collect();
        entries.sort();
        for e in entries {
            if e.is_dir() {
                walk(&e, out)?;
            } else if e.extension().is_some_and(|x| x == "yaml" || x == "yml") {
                out.push(e);
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    for p in paths {
        if let Some(files) = vigil_correlate::shipped::resolve(p) {
            for (name, text) in files {
                out.push(serde_json::json!({
                    "name": format!("{}/{name}", vigil_correlate::shipped::PACK),
                    "source": text,
                }));
            }
            continue;
        }
        let mut files = Vec::new();
        if p.is_dir() {
            walk(p, &mut files).with_context(|| format!("reading {}", p.display()))?;
        } else {
            files.push(p.clone());
        }
        for f in files {
            let bytes = vigil_config::read_file_capped(&f, 4 << 20)
                .with_context(|| format!("reading {}", f.display()))?;
            out.push(serde_json::json!({
                "name": f.display().to_string(),
                "source": String::from_utf8_lossy(&bytes),
            }));
        }
    }
    Ok(out)
}

/// The retroscan of the `vigil up` running on `data_dir`, through its API.
fn remote(a: &RetroscanArgs, data_dir: &Path) -> Result<u8> {
    let r = crate::cmd::remote::Remote::connect_with_timeout(
        &crate::cmd::remote::RemoteArgs {
            url: None,
            token: None,
            data_dir: Some(data_dir.to_path_buf()),
            ca: None,
        },
        // a replay of a long range takes as long as it takes
        Duration::from_secs(24 * 3600),
    )?;
    let mut body = serde_json::json!({
        "rules": rule_files(&a.rules)?,
        "no_diff": a.no_diff,
        "from": a.from,
        "to": a.to,
        "tenant": a.tenant,
        "max_alerts": if a.format == Format::Json { 100_000 } else { a.show },
    });
    if !a.live.is_empty() {
        body["live"] = Value::Array(rule_files(&a.live)?);
    }
    if !a.no_progress && std::io::stderr().is_terminal() {
        eprintln!(
            "vigil up is running on {}: it replays its store (the rules it runs are the live ones)",
            data_dir.display()
        );
    }
    let started = std::time::Instant::now();
    let text = r.send(
        reqwest::Method::POST,
        "correlation/retroscan",
        &[],
        Some(("application/json", serde_json::to_vec(&body)?)),
    )?;
    let report: Value =
        serde_json::from_str(&text).context("the API answered something that is not JSON")?;
    print_report(a, &report, started.elapsed())?;
    Ok(exit::OK)
}

/// A JSON value as the table shows it (a list joined with `|`).
fn text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(text).collect::<Vec<_>>().join("|"),
        other => other.to_string(),
    }
}

fn print_report(a: &RetroscanArgs, r: &Value, took: Duration) -> Result<()> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if a.format == Format::Json {
        writeln!(out, "{r}")?;
        return Ok(());
    }
    let empty = Vec::new();
    let rules = r["rules"].as_array().unwrap_or(&empty);
    let alerts = r["alerts"].as_array().unwrap_or(&empty);
    let alert_count = r["alert_count"].as_u64().unwrap_or(alerts.len() as u64);
    let n = |v: &Value, k: &str| v[k].as_u64().unwrap_or(0);
    writeln!(
        out,
        "{} events replayed from {} tenant(s) in {:.1} s: {alert_count} alerts from the candidate rules",
        n(r, "events"),
        n(r, "tenants"),
        took.as_secs_f64(),
    )?;
    if !rules.is_empty() {
        writeln!(out)?;
        let id = |x: &Value| x["id"].as_str().unwrap_or_default().to_owned();
        let w = rules.iter().map(|x| id(x).len()).max().unwrap_or(4).max(4);
        if r["diff"].as_bool().unwrap_or(false) {
            writeln!(
                out,
                "{:<w$}  {:>7} {:>7} {:>7} {:>7}",
                "RULE", "BEFORE", "AFTER", "NEW", "GONE"
            )?;
            for x in rules {
                writeln!(
                    out,
                    "{:<w$}  {:>7} {:>7} {:>7} {:>7}",
                    id(x),
                    n(x, "before"),
                    n(x, "after"),
                    n(x, "new"),
                    n(x, "gone")
                )?;
            }
        } else {
            writeln!(out, "{:<w$}  {:>7}", "RULE", "ALERTS")?;
            for x in rules.iter().filter(|x| n(x, "after") > 0) {
                writeln!(out, "{:<w$}  {:>7}", id(x), n(x, "after"))?;
            }
        }
    }
    if !alerts.is_empty() && a.show > 0 {
        writeln!(out)?;
        writeln!(out, "TIME                      TENANT     RULE / GROUP")?;
        for e in alerts.iter().take(a.show) {
            writeln!(
                out,
                "{:<25} {:<10} {} {}",
                text(&e["time"]),
                text(&e["tenant"]),
                text(&e["rule"]),
                text(&e["group_by"])
            )?;
        }
        if alert_count > a.show as u64 {
            writeln!(
                out,
                "... {} more (--show N, or --format json for all)",
                alert_count - a.show as u64
            )?;
        }
    }
    Ok(())
}
