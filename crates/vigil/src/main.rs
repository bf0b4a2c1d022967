//! `vigil`: the all-in-one SIEM binary.
//!
//! Each subcommand lives in its own module under `cmd/`; `topology` turns a validated config
//! into running components and is shared by `up` (which starts them) and `validate` (which only
//! builds them, to find every problem). Errors are `anyhow` with context; `main` maps them to
//! exit codes in one place.

mod cli;
mod cmd;
mod core_wiring;
mod demo;
mod output;
mod topology;

use std::process::ExitCode;

use clap::Parser;

/// mimalloc instead of the C library's allocator: the pipeline allocates and frees many small
/// buffers per event on several threads, where glibc's malloc spent ~10% of the process
/// (docs/benchmarks.md, forward mode).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Exit codes.
pub mod exit {
    /// Success.
    pub const OK: u8 = 0;
    /// A runtime failure.
    pub const FAILURE: u8 = 1;
    /// Bad usage, bad config or bad query: fix the input.
    pub const USAGE: u8 = 2;
}

/// An error that means the user's input was wrong (exit code 2).
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

fn init_tracing(verbose: u8, json: bool, quiet: bool) {
    use std::io::IsTerminal;
    use tracing_subscriber::EnvFilter;
    let default = match verbose {
        0 if quiet => "warn",
        0 => "info",
        1 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_env("VIGIL_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    if json {
        builder.json().init();
    } else {
        builder.compact().init();
    }
}

fn main() -> ExitCode {
    // exactly one rustls crypto provider for the whole process (two would panic at run time)
    let _ = rustls::crypto::ring::default_provider().install_default();
    let args = cli::Cli::parse();
    // long-running commands log their progress; one-shot commands only warnings
    let quiet = !matches!(args.command, cli::Command::Up(_));
    init_tracing(args.verbose, args.log_json, quiet);
    let result = match args.command {
        cli::Command::Up(a) => cmd::up::run(a),
        cli::Command::Search(a) => cmd::search::run(a),
        cli::Command::Validate(a) => cmd::validate::run(a),
        cli::Command::Config(a) => cmd::config::run(a),
        cli::Command::Demo(a) => cmd::demo::run(a),
        cli::Command::Hunt(a) => cmd::hunt::run(a),
        cli::Command::Rules(a) => cmd::rules::run(a),
        cli::Command::Normalize(a) => cmd::normalize::run(a),
        cli::Command::Storage(a) => cmd::storage::run(a),
        cli::Command::User(a) => cmd::accounts::user(a),
        cli::Command::Token(a) => cmd::accounts::token(a),
        cli::Command::Tenant(a) => cmd::accounts::tenant(a),
        cli::Command::Retroscan(a) => cmd::retroscan::run(a),
        cli::Command::Explain(a) => cmd::explain::run(a),
        cli::Command::List(a) => cmd::list::run(a),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            if let Some(u) = e.downcast_ref::<UsageError>() {
                eprintln!("error: {u}");
                ExitCode::from(exit::USAGE)
            } else {
                eprintln!("error: {e:#}");
                ExitCode::from(exit::FAILURE)
            }
        }
    }
}
