//! `vigil hunt --rules DIR PATH...`: incident-response mode. Sigma rules over EVTX, JSON and
//! log files, straight from disk: a timeline of detections on stdout (table, CSV or JSON
//! lines), a progress bar and a summary on stderr.
//!
//! The reading, matching and threading live in `vigil_detect::hunt`; this module is the
//! command line around it: arguments, rule loading, progress, output and the summary.

use std::collections::HashMap;
use std::io::{BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use vigil_api::store_search::parse_time_arg;
use vigil_detect::hunt::{
    FileReport, Hit, HuntFilter, Hunter, Level, collect_inputs, format_time, sort_timeline,
};
use vigil_detect::{LoadOptions, LoadProblem, Loader, RuleSet};
use vigil_event::Timestamp;

use crate::{UsageError, exit};

/// Timeline output formats.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq, Default)]
pub enum HuntFormat {
    /// Aligned columns for people.
    #[default]
    Table,
    /// Comma-separated values with a header.
    Csv,
    /// One JSON object per detection.
    Jsonl,
}

#[derive(Debug, Args)]
pub struct HuntArgs {
    /// Files and directories to hunt in. Directories are walked for .evtx, .json, .jsonl,
    /// .ndjson, .log and .txt files; named files are read whatever their extension (EVTX is
    /// recognized by its magic, JSON by its first byte, anything else is text lines).
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Sigma rule file or directory (repeatable), e.g. `../shared/corpora/sigma/rules`.
    #[arg(short, long = "rules", value_name = "DIR", required = true)]
    pub rules: Vec<PathBuf>,
    /// Logsource mapping: `windows` (Sysmon/Security/... channels and event ids, as SigmaHQ's
    /// THOR config), `ecs` (events normalized by Vigil's packs), `none` (every rule on every
    /// event), or a pipeline YAML file.
    #[arg(short, long, default_value = "windows", value_name = "P")]
    pub pipeline: String,
    /// Events at or after this time: RFC 3339, a date, epoch seconds, or `2h`/`7d` ago.
    #[arg(long)]
    pub from: Option<String>,
    /// Events before this time (same forms as --from).
    #[arg(long)]
    pub to: Option<String>,
    /// Minimum rule level: informational, low, medium, high, critical.
    #[arg(long, value_parser = parse_level)]
    pub level: Option<Level>,
    /// Only rules with one of these tags (comma-separated; `attack.t1003` also matches
    /// `attack.t1003.001`).
    #[arg(long, value_delimiter = ',')]
    pub tags: Vec<String>,
    /// Timeline format.
    #[arg(short, long, value_enum, default_value_t = HuntFormat::Table)]
    pub format: HuntFormat,
    /// Write the timeline to this file instead of stdout.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// Worker threads (default: the number of cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// No progress bar (it is only drawn when stderr is a terminal anyway).
    #[arg(long)]
    pub no_progress: bool,
    /// How many rules and hosts the summary lists.
    #[arg(long, default_value_t = 10)]
    pub top: usize,
}

fn parse_level(s: &str) -> Result<Level, String> {
    Level::parse(s).ok_or_else(|| {
        format!("'{s}' is not a level: informational, low, medium, high or critical")
    })
}

/// Build load options for `--pipeline none|windows|ecs|FILE` (the same as live detection's
/// `detection.pipeline`).
pub fn load_options(pipeline: &str) -> Result<LoadOptions> {
    vigil_core::detection::load_options(
        &vigil_config::SigmaPipeline::from_name(pipeline),
        &Default::default(),
    )
    .map_err(|e| UsageError(format!("--pipeline {e}")).into())
}

/// Load rules from files and directories, reporting problems on stderr (first few).
pub fn load_rules(paths: &[PathBuf], opts: LoadOptions) -> Result<(RuleSet, Vec<LoadProblem>)> {
    let mut loader = Loader::new(opts);
    for p in paths {
        if p.is_dir() {
            loader.add_dir(p);
        } else if p.is_file() {
            loader.add_file(p);
        } else {
            return Err(UsageError(format!(
                "--rules {}: no such file or directory",
                p.display()
            ))
            .into());
        }
    }
    Ok(loader.finish())
}

pub fn run(a: HuntArgs) -> Result<u8> {
    let now = Timestamp::now();
    let time = |s: &Option<String>, flag: &str| -> Result<Option<i64>> {
        s.as_deref()
            .map(|s| {
                parse_time_arg(s, now)
                    .map(|t| t.0)
                    .map_err(|e| UsageError(format!("--{flag}: {e}")).into())
            })
            .transpose()
    };
    let filter = HuntFilter {
        from: time(&a.from, "from")?,
        to: time(&a.to, "to")?,
        min_level: a.level,
        tags: a
            .tags
            .iter()
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty())
            .collect(),
    };
    let (files, missing) = collect_inputs(&a.paths);
    if let Some((p, e)) = missing.first() {
        return Err(UsageError(format!("{}: {e}", p.display())).into());
    }
    if files.is_empty() {
        return Err(UsageError("no input files found (directories are walked for .evtx, .json, .jsonl, .ndjson, .log, .txt)".into()).into());
    }

    let t_load = Instant::now();
    let (set, problems) = load_rules(&a.rules, load_options(&a.pipeline)?)?;
    let load_time = t_load.elapsed();
    report_load(&set, &problems, load_time, &a.pipeline);
    if set.is_empty() {
        return Err(UsageError("no rule could be loaded".into()).into());
    }

    let threads = a
        .threads
        .unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        })
        .max(1);
    let total_bytes: u64 = files
        .iter()
        .map(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .sum();
    let pb = if a.no_progress || !std::io::stderr().is_terminal() {
        ProgressBar::hidden()
    } else {
        let pb = ProgressBar::new(total_bytes);
        pb.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} ({eta}) {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        pb.enable_steady_tick(Duration::from_millis(200));
        pb
    };
    let events_done = AtomicU64::new(0);
    let hits_done = AtomicU64::new(0);
    let done = |r: &FileReport| {
        let ev = events_done.fetch_add(r.events, Ordering::Relaxed) + r.events;
        let h = hits_done.fetch_add(r.hits.len() as u64, Ordering::Relaxed) + r.hits.len() as u64;
        pb.inc(r.bytes);
        pb.set_message(format!("{ev} events, {h} detections"));
    };

    let hunter = Hunter::new(Arc::new(set), filter);
    let t0 = Instant::now();
    let cpu0 = process_cpu();
    let mut reports = hunter.hunt(&files, threads, &done);
    let elapsed = t0.elapsed();
    let cpu = process_cpu() - cpu0;
    pb.finish_and_clear();

    let mut hits: Vec<Hit> = reports
        .iter_mut()
        .flat_map(|r| std::mem::take(&mut r.hits))
        .collect();
    sort_timeline(&mut hits);
    let correlations = hunter.correlate(&mut hits);

    let out: Box<dyn Write> = match &a.output {
        Some(p) => Box::new(BufWriter::new(
            vigil_fs::create(p).with_context(|| format!("cannot create {}", p.display()))?,
        )),
        None => Box::new(BufWriter::new(std::io::stdout().lock())),
    };
    write_timeline(out, &hits, &files, a.format)?;

    summary(&reports, &hits, elapsed, cpu, threads, a.top);
    if correlations > 0 {
        eprintln!("correlation rules fired {correlations} times (in the timeline above)");
    }
    Ok(exit::OK)
}

fn report_load(set: &RuleSet, problems: &[LoadProblem], took: Duration, pipeline: &str) {
    let st = set.stats();
    eprintln!(
        "rules: {} loaded in {:.2} s ({} evaluated with the {pipeline} pipeline, {} for other logsources, {} correlation rules), {} could not load",
        set.len(),
        took.as_secs_f64(),
        st.rules.saturating_sub(st.unmapped),
        st.unmapped,
        set.correlations().len(),
        problems.len()
    );
    for p in problems.iter().take(10) {
        eprintln!("  {p}");
    }
    if problems.len() > 10 {
        eprintln!(
            "  ... and {} more (`vigil rules lint` lists them all)",
            problems.len() - 10
        );
    }
}

/// User + system CPU time of this process, in seconds (Linux; 0 elsewhere).
fn process_cpu() -> f64 {
    let Ok(stat) = vigil_config::read_file_capped(Path::new("/proc/self/stat"), 1 << 16) else {
        return 0.0;
    };
    let stat = String::from_utf8_lossy(&stat);
    let after = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|x| x.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

fn level_of(h: &Hit) -> &str {
    h.detection.rule.level.as_deref().unwrap_or("informational")
}

fn matched_text(h: &Hit, sep: &str) -> String {
    h.detection
        .matched
        .iter()
        .map(|m| format!("{}={}", m.field, m.value))
        .collect::<Vec<_>>()
        .join(sep)
}

fn one_line(s: &str, max: usize) -> String {
    let s: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if s.chars().count() > max {
        let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    } else {
        s
    }
}

/// A timeline line as JSON: ECS-style nested fields.
pub fn hit_json(h: &Hit, path: &Path) -> serde_json::Value {
    use serde_json::{Map, Value, json};
    let mut matched = Map::new();
    for m in &h.detection.matched {
        match matched.get_mut(&m.field) {
            Some(Value::Array(a)) => a.push(Value::String(m.value.clone())),
            Some(v) => {
                let first = v.take();
                *v = Value::Array(vec![first, Value::String(m.value.clone())]);
            }
            None => {
                matched.insert(m.field.clone(), Value::String(m.value.clone()));
            }
        }
    }
    let r = &h.detection.rule;
    json!({
        "@timestamp": h.timestamp.map(format_time),
        "rule": {"id": r.id, "title": r.title, "level": r.level, "tags": r.tags},
        "host": {"name": h.meta.host},
        "event": {"code": h.meta.code, "sequence": h.seq},
        "winlog": {"channel": h.meta.channel, "record_id": h.record_id},
        "log": {"file": {"path": path.display().to_string()}},
        "matched": matched,
    })
}

fn write_timeline(
    mut out: Box<dyn Write>,
    hits: &[Hit],
    files: &[PathBuf],
    format: HuntFormat,
) -> Result<()> {
    let path_of = |h: &Hit| {
        files
            .get(h.file)
            .map(PathBuf::as_path)
            .unwrap_or(Path::new(""))
    };
    match format {
        HuntFormat::Jsonl => {
            for h in hits {
                serde_json::to_writer(&mut out, &hit_json(h, path_of(h)))?;
                out.write_all(b"\n")?;
            }
        }
        HuntFormat::Csv => {
            let mut w = csv::Writer::from_writer(&mut out);
            w.write_record([
                "@timestamp",
                "rule.level",
                "rule.title",
                "rule.id",
                "host.name",
                "event.code",
                "winlog.channel",
                "winlog.record_id",
                "log.file.path",
                "matched",
                "rule.tags",
            ])?;
            for h in hits {
                let r = &h.detection.rule;
                w.write_record([
                    h.timestamp.map(format_time).unwrap_or_default(),
                    level_of(h).to_string(),
                    r.title.clone(),
                    r.id.clone(),
                    h.meta.host.clone().unwrap_or_default(),
                    h.meta.code.clone().unwrap_or_default(),
                    h.meta.channel.clone().unwrap_or_default(),
                    h.record_id.map(|x| x.to_string()).unwrap_or_default(),
                    path_of(h).display().to_string(),
                    matched_text(h, " | "),
                    r.tags.join(","),
                ])?;
            }
            w.flush()?;
        }
        HuntFormat::Table => {
            let rows: Vec<[String; 6]> = hits
                .iter()
                .map(|h| {
                    [
                        h.timestamp.map(format_time).unwrap_or_else(|| "-".into()),
                        level_of(h).to_string(),
                        one_line(&h.detection.rule.title, 60),
                        one_line(h.meta.host.as_deref().unwrap_or("-"), 24),
                        h.meta.code.clone().unwrap_or_else(|| "-".into()),
                        one_line(&matched_text(h, "  "), 140),
                    ]
                })
                .collect();
            let head =
                ["@timestamp", "level", "rule", "host", "event", "matched"].map(String::from);
            let mut widths = head.clone().map(|c| c.chars().count());
            for r in &rows {
                for (w, c) in widths.iter_mut().zip(r) {
                    *w = (*w).max(c.chars().count());
                }
            }
            for r in std::iter::once(&head).chain(&rows) {
                let mut line = String::new();
                for (i, c) in r.iter().enumerate() {
                    if i + 1 == r.len() {
                        line.push_str(c);
                    } else {
                        let w = widths[i];
                        line.push_str(&format!("{c:<w$}  "));
                    }
                }
                writeln!(out, "{}", line.trim_end())?;
            }
        }
    }
    out.flush()?;
    Ok(())
}

fn summary(
    reports: &[FileReport],
    hits: &[Hit],
    elapsed: Duration,
    cpu: f64,
    threads: usize,
    top: usize,
) {
    let events: u64 = reports.iter().map(|r| r.events).sum();
    let skipped: u64 = reports.iter().map(|r| r.skipped).sum();
    let bytes: u64 = reports.iter().map(|r| r.bytes).sum();
    let errors: u64 = reports.iter().map(|r| r.error_count).sum();
    let bad_files: Vec<&FileReport> = reports.iter().filter(|r| r.error_count > 0).collect();
    let secs = elapsed.as_secs_f64().max(1e-9);
    let mut by_format: HashMap<&str, usize> = HashMap::new();
    for r in reports {
        *by_format
            .entry(r.format.map_or("unreadable", |f| f.name()))
            .or_default() += 1;
    }
    let mut formats: Vec<_> = by_format.into_iter().collect();
    formats.sort();
    eprintln!(
        "hunted {} files ({}; {:.1} MiB): {} events{} in {:.2} s = {:.0} events/s on {threads} threads ({:.1} µs CPU per event)",
        reports.len(),
        formats
            .iter()
            .map(|(f, n)| format!("{n} {f}"))
            .collect::<Vec<_>>()
            .join(", "),
        bytes as f64 / (1024.0 * 1024.0),
        events,
        if skipped > 0 {
            format!(" ({skipped} outside --from/--to)")
        } else {
            String::new()
        },
        secs,
        events as f64 / secs,
        if events > 0 {
            cpu * 1e6 / events as f64
        } else {
            0.0
        },
    );
    if errors > 0 {
        eprintln!(
            "read errors: {errors} in {} files (the rest of each file was read):",
            bad_files.len()
        );
        for r in bad_files.iter().take(top.max(1)) {
            eprintln!(
                "  {}: {} error{}, first: {}",
                r.path.display(),
                r.error_count,
                if r.error_count == 1 { "" } else { "s" },
                r.errors.first().map(String::as_str).unwrap_or("")
            );
        }
        if bad_files.len() > top.max(1) {
            eprintln!("  ... and {} more files", bad_files.len() - top.max(1));
        }
    }
    let mut by_level: HashMap<Level, usize> = HashMap::new();
    let mut by_rule: HashMap<&str, (usize, &Hit)> = HashMap::new();
    let mut by_host: HashMap<&str, usize> = HashMap::new();
    for h in hits {
        *by_level.entry(Level::of(&h.detection.rule)).or_default() += 1;
        by_rule
            .entry(h.detection.rule.id.as_str())
            .or_insert((0, h))
            .0 += 1;
        *by_host
            .entry(h.meta.host.as_deref().unwrap_or("-"))
            .or_default() += 1;
    }
    let levels: Vec<String> = Level::ALL
        .iter()
        .rev()
        .filter_map(|l| by_level.get(l).map(|n| format!("{} {n}", l.name())))
        .collect();
    eprintln!(
        "detections: {} from {} rules{}{}",
        hits.len(),
        by_rule.len(),
        if levels.is_empty() { "" } else { ": " },
        levels.join(", ")
    );
    if hits.is_empty() {
        return;
    }
    let mut rules: Vec<(usize, &Hit)> = by_rule.into_values().collect();
    rules.sort_by(|a, b| {
        b.0.cmp(&a.0)
            .then(Level::of(&b.1.detection.rule).cmp(&Level::of(&a.1.detection.rule)))
            .then(a.1.detection.rule.title.cmp(&b.1.detection.rule.title))
    });
    eprintln!("top rules:");
    for (n, h) in rules.iter().take(top) {
        eprintln!("  {n:>7}  {:<13}  {}", level_of(h), h.detection.rule.title);
    }
    let mut hosts: Vec<(&str, usize)> = by_host.into_iter().collect();
    hosts.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    eprintln!("top hosts:");
    for (host, n) in hosts.iter().take(top) {
        eprintln!("  {n:>7}  {host}");
    }
}
