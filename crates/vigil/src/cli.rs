//! Command-line interface.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Vigil: an open-source SIEM in one binary.
///
/// Start everything on this machine with `vigil up --demo`, then search with
/// `vigil search 'process.name:sshd AND failed | count by source.ip'`.
#[derive(Debug, Parser)]
#[command(
    name = "vigil",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    /// More log output (-v debug, -vv trace). `VIGIL_LOG` overrides (e.g. `vigil_store=debug`).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Log as JSON lines.
    #[arg(long, global = true)]
    pub log_json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the whole SIEM in one process: syslog in, normalized, stored, searchable over HTTP.
    Up(UpArgs),
    /// Search stored events (in a data directory, or on a running instance with --url).
    Search(SearchArgs),
    /// Check a configuration file and report every problem with its path.
    Validate(ValidateArgs),
    /// Print the built-in configuration, its JSON schema, or the configuration reference.
    Config(ConfigArgs),
    /// Send realistic demo traffic (sshd, sudo, firewall, web, with attacks) to a syslog port.
    Demo(DemoArgs),
    /// Hunt through EVTX, JSON and log files with Sigma rules: a timeline of detections.
    Hunt(crate::cmd::hunt::HuntArgs),
    /// Check Sigma rules (`lint`) and run their regression and attached tests (`test`).
    Rules(crate::cmd::rules::RulesArgs),
    /// Normalize sample lines with a pack, a YAML normalizer or `auto`; print JSON events.
    Normalize(NormalizeArgs),
    /// Storage maintenance: `verify` checks the signed, hash-chained segment manifests.
    Storage(crate::cmd::storage::StorageArgs),
    /// Users of the metadata store: add (`--admin` or `--role TENANT:ROLE`), list, remove.
    User(crate::cmd::accounts::UserArgs),
    /// Service API tokens: add (the secret is printed once), list, remove (revoke).
    Token(crate::cmd::accounts::TokenArgs),
    /// Tenants: add, list, remove (disable).
    Tenant(crate::cmd::accounts::TenantArgs),
    /// Replay stored events through correlation rules: the alerts they would have raised, and
    /// per rule a diff against the rules currently live (before, after, new, gone).
    Retroscan(crate::cmd::retroscan::RetroscanArgs),
    /// Ask a running instance's correlator about a correlation event, a rule, or a group that
    /// did not fire.
    Explain(crate::cmd::explain::ExplainArgs),
    /// Active lists and context tables of a running instance: entries, CSV import and export.
    List(crate::cmd::list::ListArgs),
}

#[derive(Debug, Args)]
pub struct UpArgs {
    /// Configuration file; without one, the built-in default runs (see `vigil config default`).
    #[arg(short, long, env = "VIGIL_CONFIG")]
    pub config: Option<PathBuf>,
    /// Data directory (overrides the config's `data_dir`).
    #[arg(long, env = "VIGIL_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Syslog listen address for UDP and TCP (overrides the first collector's addresses).
    #[arg(long)]
    pub syslog_addr: Option<SocketAddr>,
    /// HTTP API listen address (overrides `api.listen`).
    #[arg(long)]
    pub http_addr: Option<SocketAddr>,
    /// Also run the built-in demo generator, sending realistic traffic with attacks mixed in.
    #[arg(long)]
    pub demo: bool,
    /// Demo events per second (with --demo).
    #[arg(long, default_value_t = 20)]
    pub demo_rate: u32,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum Format {
    /// Aligned columns for people.
    Table,
    /// One JSON object per line.
    Json,
    /// Comma-separated values with a header.
    Csv,
}

#[derive(Debug, Args)]
pub struct SearchArgs {
    /// The query, e.g. `user.name:root AND source.ip:10.0.0.0/8 | count by host.name`.
    /// An empty query matches everything. See docs/query-language.md.
    #[arg(default_value = "")]
    pub query: String,
    /// Start of the time range: RFC 3339 (`2026-11-22T07:00:00Z`), a date, epoch seconds, or a
    /// relative time like `15m`, `2h`, `7d` (ago).
    #[arg(long)]
    pub from: Option<String>,
    /// End of the time range (exclusive); same forms as --from.
    #[arg(long)]
    pub to: Option<String>,
    /// Most events shown.
    #[arg(short = 'n', long, default_value_t = 100)]
    pub limit: usize,
    /// Output format.
    #[arg(short, long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Data directory to search (default `./vigil-data`). If a running `vigil up` owns it, the
    /// search goes to that instance's API.
    #[arg(long, env = "VIGIL_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Search a running instance instead, e.g. `http://127.0.0.1:8080`.
    #[arg(long, env = "VIGIL_URL")]
    pub url: Option<String>,
    /// API token for --url (default: read from <data_dir>/api-token).
    #[arg(long, env = "VIGIL_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// PEM CA certificate to trust for an https --url.
    #[arg(long)]
    pub ca: Option<PathBuf>,
    /// Tenant to search.
    #[arg(long, default_value = "main")]
    pub tenant: String,
    /// Only this storage space of the tenant (`default` for events no space condition took).
    #[arg(long)]
    pub space: Option<String>,
    /// Print the raw line of each event instead of fields (table format).
    #[arg(long)]
    pub raw: bool,
    /// Configuration whose store is searched when no running `vigil up` owns the data
    /// directory: its data directory (unless --data-dir is given) with its storage settings
    /// (encryption keys, spaces), or its ClickHouse server.
    #[arg(short, long)]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// The configuration file to check.
    #[arg(short, long)]
    pub config: PathBuf,
}

#[derive(Debug, Args)]
pub struct ConfigArgs {
    #[command(subcommand)]
    pub what: ConfigWhat,
}

#[derive(Debug, Subcommand)]
pub enum ConfigWhat {
    /// The built-in default configuration (YAML): a starting point for your own.
    Default,
    /// The JSON schema of the configuration file.
    Schema,
    /// The configuration reference in Markdown (docs/configuration.md).
    Reference,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Syslog TCP address to send to.
    #[arg(long, default_value = "127.0.0.1:5514")]
    pub target: SocketAddr,
    /// Events per second.
    #[arg(long, default_value_t = 20)]
    pub rate: u32,
    /// Stop after this many events (default: run until interrupted).
    #[arg(long)]
    pub count: Option<u64>,
    /// Also send an hour of history first, so searches have something to find at once.
    #[arg(long)]
    pub backfill: bool,
}

#[derive(Debug, Args)]
pub struct NormalizeArgs {
    /// A pack name (`sshd`, `suricata`, ...), a normalizer YAML file, or `auto` (best guess per
    /// line, falling back to the generic parser).
    #[arg(short, long)]
    pub normalizer: Option<String>,
    /// Read lines from this file instead of stdin.
    #[arg(short, long)]
    pub file: Option<PathBuf>,
    /// Rank the packs that fit the sample, with the fields each found, instead of normalizing.
    #[arg(long)]
    pub suggest: bool,
    /// How many packs --suggest lists.
    #[arg(long, default_value_t = 5)]
    pub top: usize,
    /// Time zone of timestamps without an offset.
    #[arg(long, default_value = "UTC")]
    pub timezone: String,
}
