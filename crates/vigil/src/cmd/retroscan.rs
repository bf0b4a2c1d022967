//! `vigil retroscan --rules R --from --to`: KUMA's Retroscan. Stored events of the time range
//! are read oldest first, page by page, and replayed through the candidate correlation rules
//! and, for the diff, through the rules currently live (the configuration's
//! `correlation.rules`, or `--live`), one engine pair per tenant; the report lists the alerts
//! the candidate would have raised and, per rule, alerts before, after, new and gone. The
//! replay itself is `vigil_correlate::Retroscan`.
//!
//! Correlation events already stored (and list-expiry service events) are not replayed: the
//! engines make their own, and replaying the live ones would chain them twice.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use vigil_api::store_search::parse_time_arg;
use vigil_correlate::{Loader, RetroReport, RetroRule, Retroscan, Rules};
use vigil_event::{Event, EventType, Timestamp};
use vigil_store::{EventStore, Order, SearchRequest, TenantId, TimeRange};

use crate::cli::Format;
use crate::{UsageError, exit};

/// Events read from the store per page.
const PAGE: usize = 20_000;

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  vigil retroscan --rules rules/correlation/authentication.yaml --from 7d
  vigil retroscan --rules my-rules/ --live rules/correlation/ --from 2026-11-01 --to 2026-11-08
  vigil retroscan --rules draft.yaml --no-diff --format json

The running `vigil up` must be stopped first (retroscan opens the data directory itself).
Exit code 0 when the replay ran, 2 on bad rules or arguments.")]
pub struct RetroscanArgs {
    /// Candidate correlation rules: files or directories (repeatable). Every rule that does not
    /// load is reported with its file and path, and the scan does not run.
    #[arg(short, long = "rules", value_name = "PATH", required = true)]
    pub rules: Vec<PathBuf>,
    /// The rules to diff against (repeatable). Default: the `correlation.rules` of --config, or
    /// of the built-in configuration (the shipped pack `rules/correlation/`).
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
        if p.is_dir() {
            loader.add_dir(p);
        } else if p.is_file() {
            loader.add_file(p);
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

/// Whether the replay feeds this stored event to the engines.
fn replayed(e: &Event) -> bool {
    match e.meta.kind {
        EventType::Correlation => false,
        EventType::Monitoring => e.extra.get("vigil.list.name").is_none(),
        _ => true,
    }
}

/// Reads `tenant`'s events of `range` oldest first, page by page, and hands each page to `f`.
/// Events sharing the last timestamp of a page are not lost: the next page starts at that
/// timestamp and skips the ids already read.
fn scan(
    store: &dyn EventStore,
    tenant: &TenantId,
    range: TimeRange,
    mut f: impl FnMut(&[Event]),
) -> Result<()> {
    let mut from = range.from;
    let mut seen_at_from: std::collections::HashSet<vigil_event::Ulid> = Default::default();
    loop {
        let mut req = SearchRequest::parse("", PAGE).map_err(|e| anyhow::anyhow!("{e}"))?;
        req.order = Order::OldestFirst;
        req.range = TimeRange::new(from, range.to);
        let page = store
            .search(tenant, &req)
            .with_context(|| format!("reading the events of tenant {tenant}"))?;
        let n = page.events.len();
        let page_last = page.events.last().map(|e| e.timestamp).unwrap_or(from);
        let unseen: Vec<Event> = page
            .events
            .into_iter()
            .filter(|e| !(e.timestamp == from && seen_at_from.contains(&e.meta.id)))
            .collect();
        if n == PAGE && page_last == from && unseen.is_empty() {
            // a whole page at one instant, every id seen: nothing new can come from here
            anyhow::bail!(
                "more than {PAGE} events at {} in tenant {tenant}; retroscan cannot page past them",
                from.to_rfc3339()
            );
        }
        if page_last != from {
            seen_at_from.clear();
        }
        seen_at_from.extend(
            unseen
                .iter()
                .filter(|e| e.timestamp == page_last)
                .map(|e| e.meta.id),
        );
        let fresh: Vec<Event> = unseen.into_iter().filter(replayed).collect();
        if !fresh.is_empty() {
            f(&fresh);
        }
        if n < PAGE {
            return Ok(());
        }
        from = page_last;
    }
}

pub fn run(a: RetroscanArgs) -> Result<u8> {
    let cfg = match &a.config {
        Some(p) => vigil_config::load_file(p).map_err(|e| UsageError(e.to_string()))?,
        None => vigil_config::default_config().map_err(|e| UsageError(e.to_string()))?,
    };
    let candidate = Arc::new(load(&a.rules, "--rules")?);
    let live = if a.no_diff {
        None
    } else if !a.live.is_empty() {
        Some(Arc::new(load(&a.live, "--live")?))
    } else {
        let mut paths = match &cfg.correlation {
            Some(c) => c.rules.clone(),
            None => Vec::new(),
        };
        if a.config.is_none() && (paths.is_empty() || paths.iter().any(|p| !p.exists())) {
            // the built-in configuration's pack, found as `vigil up` finds it
            paths = crate::cmd::up::shipped_correlation_pack()
                .into_iter()
                .collect();
        }
        if paths.is_empty() {
            return Err(UsageError(
                "no live rules to diff against: the configuration has no correlation section and rules/correlation/ was not found; pass --live or --no-diff".into(),
            )
            .into());
        }
        Some(Arc::new(load(&paths, "live rules")?))
    };
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
    let store: Arc<dyn EventStore> = if cfg.storage.embedded().is_some() {
        if crate::cmd::search::data_dir_in_use(&cfg.data_dir) {
            return Err(UsageError(format!(
                "{} is used by a running vigil; stop it first (or copy the data directory and pass --data-dir)",
                cfg.data_dir.display()
            ))
            .into());
        }
        if !cfg.data_dir.join("events").is_dir() {
            return Err(UsageError(format!(
                "no events in {} (pass --data-dir or --config)",
                cfg.data_dir.display()
            ))
            .into());
        }
        crate::topology::open_store(&cfg)?
    } else {
        crate::topology::open_store(&cfg)?
    };
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
    let mut total = RetroReport::default();
    let mut per_rule: std::collections::BTreeMap<String, RetroRule> = Default::default();
    for tenant in &tenants {
        let mut rs = Retroscan::shared(candidate.clone(), live.clone());
        let mut first: Option<i64> = None;
        scan(&*store, tenant, TimeRange::new(from, to), |events| {
            rs.feed(events);
            if let (Some(e0), Some(last)) = (events.first(), events.last()) {
                let lo = *first.get_or_insert(e0.timestamp.0);
                let span = (to.0.saturating_sub(lo)).max(1) as f64;
                let done = (last.timestamp.0.saturating_sub(lo)) as f64 / span;
                pb.set_position((done.clamp(0.0, 1.0) * 1000.0) as u64);
            }
            pb.set_message(format!(
                "tenant {tenant}: {} events, {} alerts",
                rs.events(),
                rs.alerts()
            ));
        })?;
        let r = rs.finish();
        total.events += r.events;
        for x in r.rules {
            let e = per_rule.entry(x.id.clone()).or_insert_with(|| RetroRule {
                id: x.id.clone(),
                ..RetroRule::default()
            });
            e.before += x.before;
            e.after += x.after;
            e.new += x.new;
            e.gone += x.gone;
        }
        total.alerts.extend(r.alerts);
    }
    pb.finish_and_clear();
    let _ = store.close();
    total.alerts.sort_by_key(|e| e.timestamp);
    total.rules = per_rule.into_values().collect();
    print_report(&a, &total, live.is_some(), tenants.len(), started.elapsed())?;
    Ok(exit::OK)
}

fn alert_json(e: &Event) -> serde_json::Value {
    let group = e
        .extra
        .get("vigil.correlation.group_by")
        .map(|v| v.to_json())
        .unwrap_or(serde_json::Value::Null);
    serde_json::json!({
        "time": e.timestamp.to_rfc3339(),
        "tenant": e.meta.tenant.as_str(),
        "rule": e.rule.id.as_deref(),
        "name": e.rule.name.as_deref(),
        "severity": e.log.level.as_deref(),
        "group_by": group,
        "base_events": e.extra.get("vigil.correlation.base_event_count").map(|v| v.to_json()),
        "id": e.meta.id.to_string(),
    })
}

fn print_report(
    a: &RetroscanArgs,
    r: &RetroReport,
    diff: bool,
    tenants: usize,
    took: Duration,
) -> Result<()> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if a.format == Format::Json {
        let v = serde_json::json!({
            "events": r.events,
            "tenants": tenants,
            "diff": diff,
            "rules": r.rules.iter().map(|x| serde_json::json!({
                "id": x.id, "before": x.before, "after": x.after, "new": x.new, "gone": x.gone,
            })).collect::<Vec<_>>(),
            "alerts": r.alerts.iter().map(alert_json).collect::<Vec<_>>(),
        });
        writeln!(out, "{v}")?;
        return Ok(());
    }
    writeln!(
        out,
        "{} events replayed from {tenants} tenant(s) in {:.1} s: {} alerts from the candidate rules",
        r.events,
        took.as_secs_f64(),
        r.alerts.len()
    )?;
    if !r.rules.is_empty() {
        writeln!(out)?;
        let w = r.rules.iter().map(|x| x.id.len()).max().unwrap_or(4).max(4);
        if diff {
            writeln!(
                out,
                "{:<w$}  {:>7} {:>7} {:>7} {:>7}",
                "RULE", "BEFORE", "AFTER", "NEW", "GONE"
            )?;
            for x in &r.rules {
                writeln!(
                    out,
                    "{:<w$}  {:>7} {:>7} {:>7} {:>7}",
                    x.id, x.before, x.after, x.new, x.gone
                )?;
            }
        } else {
            writeln!(out, "{:<w$}  {:>7}", "RULE", "ALERTS")?;
            for x in r.rules.iter().filter(|x| x.after > 0) {
                writeln!(out, "{:<w$}  {:>7}", x.id, x.after)?;
            }
        }
    }
    if !r.alerts.is_empty() && a.show > 0 {
        writeln!(out)?;
        writeln!(out, "TIME                      TENANT     RULE / GROUP")?;
        for e in r.alerts.iter().take(a.show) {
            let group = e
                .extra
                .get("vigil.correlation.group_by")
                .map(vigil_correlate::store::value_text)
                .unwrap_or_default();
            writeln!(
                out,
                "{:<25} {:<10} {} {group}",
                e.timestamp.to_rfc3339(),
                e.meta.tenant,
                e.rule.id.as_deref().unwrap_or("")
            )?;
        }
        if r.alerts.len() > a.show {
            writeln!(
                out,
                "... {} more (--show N, or --format json for all)",
                r.alerts.len() - a.show
            )?;
        }
    }
    Ok(())
}
