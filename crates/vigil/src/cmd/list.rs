//! `vigil list`: the active lists and context tables of a running instance
//! (`/api/v1/lists`): list them, read, write and delete entries, import and export CSV.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use serde_json::Value;

use crate::cli::Format;
use crate::cmd::remote::{Remote, RemoteArgs, segment, tenant_query};
use crate::{UsageError, exit};

#[derive(Debug, Args)]
#[command(after_help = "\
A key of several columns is written v1|v2. Shared lists have one instance for every tenant.

Examples:
  vigil list ls
  vigil list entries compromised_hosts
  vigil list put blocked_ips 203.0.113.9 --set reason=scanner --ttl 3600
  vigil list get blocked_ips 203.0.113.9
  vigil list delete blocked_ips 203.0.113.9
  vigil list export blocked_ips -o blocked.csv
  vigil list import blocked_ips blocked.csv")]
pub struct ListArgs {
    #[command(subcommand)]
    pub what: ListWhat,
    #[command(flatten)]
    pub remote: RemoteArgs,
    /// Tenant whose instance is addressed (default: the caller's only tenant).
    #[arg(long, global = true)]
    pub tenant: Option<String>,
    /// Output format (`table` for people, `json` as the API answers).
    #[arg(short, long, value_enum, default_value_t = Format::Table, global = true)]
    pub format: Format,
}

#[derive(Debug, Subcommand)]
pub enum ListWhat {
    /// Every list and table: kind, key, scope, entries.
    Ls,
    /// The live entries of a list.
    Entries {
        /// List name.
        name: String,
    },
    /// One entry.
    Get {
        /// List name.
        name: String,
        /// Key value (`v1|v2` for several key columns).
        key: String,
    },
    /// Write (create or replace) an entry.
    Put {
        /// List name.
        name: String,
        /// Key value (`v1|v2` for several key columns).
        key: String,
        /// A column value, `column=value` (repeatable; numbers and true/false are typed).
        #[arg(long = "set", value_name = "COL=VALUE")]
        set: Vec<String>,
        /// Time to live in seconds (default: the list's).
        #[arg(long)]
        ttl: Option<i64>,
    },
    /// Delete an entry.
    Delete {
        /// List name.
        name: String,
        /// Key value (`v1|v2` for several key columns).
        key: String,
    },
    /// Import CSV (header with every key column; `_expires` optional). All rows or none.
    Import {
        /// List name.
        name: String,
        /// The CSV file (`-` for standard input).
        file: PathBuf,
    },
    /// Export the entries as CSV.
    Export {
        /// List name.
        name: String,
        /// Write to this file instead of standard output.
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
}

fn typed(v: &str) -> Value {
    if let Ok(i) = v.parse::<i64>() {
        return Value::from(i);
    }
    if let Ok(f) = v.parse::<f64>()
        && f.is_finite()
    {
        return Value::from(f);
    }
    match v {
        "true" => Value::Bool(true),
        "false" => Value::Bool(false),
        _ => Value::String(v.to_owned()),
    }
}

fn print_entry(e: &Value) {
    let key = e
        .get("key")
        .and_then(Value::as_array)
        .map(|k| {
            k.iter()
                .map(|x| x.as_str().unwrap_or("").to_owned())
                .collect::<Vec<_>>()
                .join("|")
        })
        .unwrap_or_default();
    let values = e
        .get("values")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    format!(
                        "{k}={}",
                        v.as_str().map_or_else(|| v.to_string(), str::to_owned)
                    )
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default();
    let expires = e
        .get("expires")
        .and_then(Value::as_str)
        .map(|x| format!("  (expires {x})"))
        .unwrap_or_default();
    println!("{key}  {values}{expires}");
}

pub fn run(a: ListArgs) -> Result<u8> {
    let r = Remote::connect(&a.remote)?;
    let tq = tenant_query(&a.tenant);
    let json = a.format == Format::Json;
    match a.what {
        ListWhat::Ls => {
            let v = r.get_json("lists", &tq)?;
            if json {
                println!("{v}");
                return Ok(exit::OK);
            }
            println!(
                "{:<28} {:<14} {:<8} {:>8}  KEY",
                "NAME", "KIND", "SCOPE", "ENTRIES"
            );
            for l in v.as_array().into_iter().flatten() {
                let key = l
                    .get("key")
                    .and_then(Value::as_array)
                    .map(|k| {
                        k.iter()
                            .filter_map(Value::as_str)
                            .collect::<Vec<_>>()
                            .join(", ")
                    })
                    .unwrap_or_default();
                println!(
                    "{:<28} {:<14} {:<8} {:>8}  {key}",
                    l.get("name").and_then(Value::as_str).unwrap_or(""),
                    l.get("kind").and_then(Value::as_str).unwrap_or(""),
                    l.get("scope").and_then(Value::as_str).unwrap_or(""),
                    l.get("entries").and_then(Value::as_u64).unwrap_or(0),
                );
            }
        }
        ListWhat::Entries { name } => {
            let v = r.get_json(&format!("lists/{}/entries", segment(&name)), &tq)?;
            if json {
                println!("{v}");
                return Ok(exit::OK);
            }
            for e in v.as_array().into_iter().flatten() {
                print_entry(e);
            }
        }
        ListWhat::Get { name, key } => {
            let v = r.get_json(
                &format!("lists/{}/entries/{}", segment(&name), segment(&key)),
                &tq,
            )?;
            if json {
                println!("{v}");
            } else {
                print_entry(&v);
            }
        }
        ListWhat::Put {
            name,
            key,
            set,
            ttl,
        } => {
            let mut values = serde_json::Map::new();
            for kv in &set {
                let (k, v) = kv
                    .split_once('=')
                    .ok_or_else(|| UsageError(format!("--set {kv}: expected COLUMN=VALUE")))?;
                values.insert(k.trim().to_owned(), typed(v));
            }
            let mut body = serde_json::json!({ "values": values });
            if let Some(t) = ttl {
                body["ttl_seconds"] = Value::from(t);
            }
            let t = r.send(
                reqwest::Method::PUT,
                &format!("lists/{}/entries/{}", segment(&name), segment(&key)),
                &tq,
                Some(("application/json", body.to_string().into_bytes())),
            )?;
            if json {
                println!("{t}");
            } else {
                let v: Value = serde_json::from_str(&t).unwrap_or_default();
                print_entry(&v);
            }
        }
        ListWhat::Delete { name, key } => {
            r.send(
                reqwest::Method::DELETE,
                &format!("lists/{}/entries/{}", segment(&name), segment(&key)),
                &tq,
                None,
            )?;
            eprintln!("deleted {key} from {name}");
        }
        ListWhat::Import { name, file } => {
            let bytes = if file.as_os_str() == "-" {
                let mut b = Vec::new();
                #[allow(clippy::disallowed_methods)] // bounded by `take`
                let read = std::io::Read::read_to_end(
                    &mut std::io::Read::take(std::io::stdin().lock(), 32 << 20),
                    &mut b,
                );
                read.context("reading standard input")?;
                b
            } else {
                vigil_config::read_file_capped(&file, 32 << 20)
                    .with_context(|| format!("reading {}", file.display()))?
            };
            let t = r.send(
                reqwest::Method::POST,
                &format!("lists/{}/import", segment(&name)),
                &tq,
                Some(("text/csv", bytes)),
            )?;
            if json {
                println!("{t}");
            } else {
                let v: Value = serde_json::from_str(&t).unwrap_or_default();
                println!(
                    "{} entries written to {name}",
                    v.get("written").and_then(Value::as_u64).unwrap_or(0)
                );
            }
        }
        ListWhat::Export { name, output } => {
            let t = r.send(
                reqwest::Method::GET,
                &format!("lists/{}/export", segment(&name)),
                &tq,
                None,
            )?;
            match output {
                Some(p) => vigil_fs::write(&p, t.as_bytes())
                    .with_context(|| format!("writing {}", p.display()))?,
                None => print!("{t}"),
            }
        }
    }
    Ok(exit::OK)
}
