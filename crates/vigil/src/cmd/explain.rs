//! `vigil explain`: ask a running instance's correlator (`/api/v1/correlation/...`) about a
//! correlation event (its base events and the selector each satisfied), a rule (open buckets,
//! memory, evaluation cost, matches, late events), or a group that did not fire.

use anyhow::Result;
use clap::{Args, Subcommand};
use serde_json::Value;

use crate::cli::Format;
use crate::cmd::remote::{Remote, RemoteArgs, segment, tenant_query};
use crate::exit;

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  vigil explain rules
  vigil explain rule ssh-brute-force
  vigil explain why ssh-brute-force --group 203.0.113.45
  vigil explain event 01JF3V6Q8M2C4N1G0S5T7W9XYZ")]
pub struct ExplainArgs {
    #[command(subcommand)]
    pub what: ExplainWhat,
    #[command(flatten)]
    pub remote: RemoteArgs,
    /// Output format (`table` for people, `json` as the API answers).
    #[arg(short, long, value_enum, default_value_t = Format::Table, global = true)]
    pub format: Format,
}

#[derive(Debug, Subcommand)]
pub enum ExplainWhat {
    /// Every running correlation rule: open buckets, memory, cost per event, matches, late
    /// events, firings.
    Rules,
    /// One rule in full: its counters and recent late events.
    Rule {
        /// Rule id.
        id: String,
    },
    /// Why did this group not fire: what its bucket holds against what the rule needs.
    Why {
        /// Rule id.
        id: String,
        /// The group-by values in the rule's order, comma-separated (`203.0.113.45`, or
        /// `alice,web01` for two fields).
        #[arg(long)]
        group: String,
        /// Tenant of the group (default: the caller's only tenant).
        #[arg(long)]
        tenant: Option<String>,
    },
    /// A correlation event: its base events and which selector each satisfied.
    Event {
        /// The correlation event's id (`vigil.event_id`).
        id: String,
        /// Its tenant (default: the caller's only tenant).
        #[arg(long)]
        tenant: Option<String>,
    },
}

fn s(v: &Value, k: &str) -> String {
    match v.get(k) {
        Some(Value::String(x)) => x.clone(),
        Some(Value::Null) | None => "-".into(),
        Some(x) => x.to_string(),
    }
}

fn n(v: &Value, path: &str) -> u64 {
    v.pointer(path).and_then(Value::as_u64).unwrap_or(0)
}

pub fn run(a: ExplainArgs) -> Result<u8> {
    let r = Remote::connect(&a.remote)?;
    let json = a.format == Format::Json;
    match a.what {
        ExplainWhat::Rules => {
            let v = r.get_json("correlation/rules", &[])?;
            if json {
                println!("{v}");
                return Ok(exit::OK);
            }
            let rules = v.as_array().cloned().unwrap_or_default();
            let w = rules
                .iter()
                .map(|x| s(x, "id").len())
                .max()
                .unwrap_or(4)
                .max(4);
            println!(
                "{:<w$} {:>8} {:>10} {:>9} {:>9} {:>7} {:>7}",
                "RULE", "BUCKETS", "MEMORY", "NS/EVENT", "MATCHED", "LATE", "FIRED"
            );
            for x in &rules {
                println!(
                    "{:<w$} {:>8} {:>10} {:>9.1} {:>9} {:>7} {:>7}",
                    s(x, "id"),
                    n(x, "/open_buckets"),
                    n(x, "/memory_bytes"),
                    x.get("ns_per_event").and_then(Value::as_f64).unwrap_or(0.0),
                    n(x, "/counters/matched"),
                    n(x, "/counters/late"),
                    n(x, "/counters/fired"),
                );
            }
        }
        ExplainWhat::Rule { id } => {
            let v = r.get_json(&format!("correlation/rules/{}", segment(&id)), &[])?;
            if json {
                println!("{v}");
                return Ok(exit::OK);
            }
            println!(
                "rule          {} (version {}, {})",
                s(&v, "id"),
                s(&v, "version"),
                s(&v, "kind")
            );
            println!(
                "open buckets  {} (+{} late)",
                s(&v, "open_buckets"),
                s(&v, "late_buckets")
            );
            println!("pending       {}", s(&v, "pending"));
            println!("memory        {} bytes", s(&v, "memory_bytes"));
            println!("watermark     {}", s(&v, "watermark"));
            println!(
                "cost          {:.1} ns per event ({:.3} selector tests per event, {:.1} ns per test)",
                v.get("ns_per_event").and_then(Value::as_f64).unwrap_or(0.0),
                v.get("tests_per_event")
                    .and_then(Value::as_f64)
                    .unwrap_or(0.0),
                v.get("ns_per_test").and_then(Value::as_f64).unwrap_or(0.0)
            );
            if let Some(Value::Object(c)) = v.get("counters") {
                for (k, x) in c {
                    println!("{k:<14}{x}");
                }
            }
            for l in v
                .get("late_events")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                println!("late event    {} at {}", s(l, "id"), s(l, "time"));
            }
        }
        ExplainWhat::Why { id, group, tenant } => {
            let mut q = tenant_query(&tenant);
            q.push(("group", group));
            let v = r.get_json(&format!("correlation/rules/{}/why", segment(&id)), &q)?;
            if json {
                println!("{v}");
                return Ok(exit::OK);
            }
            println!("{}", s(&v, "summary"));
            println!("bucket open   {}", s(&v, "open"));
            for sel in v
                .get("selectors")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                println!(
                    "selector      {}: {} of {}{}",
                    s(sel, "name"),
                    s(sel, "seen"),
                    s(sel, "threshold"),
                    if sel.get("recovery") == Some(&Value::Bool(true)) {
                        " (recovery)"
                    } else {
                        ""
                    }
                );
            }
            println!("pending       {}", s(&v, "pending"));
            for p in v
                .get("partials")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                println!(
                    "partial       started {}, waits for {}",
                    s(p, "start"),
                    s(p, "waits_for")
                );
            }
            if v.get("deadline").is_some_and(|d| !d.is_null()) {
                println!("deadline      {}", s(&v, "deadline"));
            }
            if v.get("skip_until").is_some_and(|d| !d.is_null()) {
                println!("fired; skips  until {}", s(&v, "skip_until"));
            }
        }
        ExplainWhat::Event { id, tenant } => {
            let v = r.get_json(
                &format!("correlation/events/{}", segment(&id)),
                &tenant_query(&tenant),
            )?;
            if json {
                println!("{v}");
                return Ok(exit::OK);
            }
            let ev = v.get("event").cloned().unwrap_or_default();
            println!(
                "{} {} ({} base events)",
                ev.pointer("/@timestamp")
                    .and_then(Value::as_str)
                    .unwrap_or("-"),
                s(&v, "rule"),
                s(&v, "base_count")
            );
            for b in v
                .get("base")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let e = b.get("event").cloned().unwrap_or_default();
                let line = if e.is_null() {
                    "(no longer stored)".to_owned()
                } else {
                    let ts = e
                        .pointer("/@timestamp")
                        .and_then(Value::as_str)
                        .unwrap_or("-");
                    let msg = e
                        .pointer("/event/original")
                        .or_else(|| e.pointer("/message"))
                        .and_then(Value::as_str)
                        .unwrap_or("");
                    format!("{ts} {msg}")
                };
                println!("  {:<12} {} {line}", s(b, "selector"), s(b, "id"));
            }
        }
    }
    Ok(exit::OK)
}
