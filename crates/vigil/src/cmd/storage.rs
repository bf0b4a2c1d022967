//! `vigil storage verify`: check the tamper-evidence manifests of a data directory (hash chain,
//! Ed25519 signatures, segment SHA-256s). The checking is `vigil_store::embedded::verify`; this
//! module prints and sets the exit code. Read-only and lock-free, so it runs beside `vigil up`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use vigil_store::embedded::{VerifyReport, verify_with_key};

use crate::{UsageError, exit};

#[derive(Debug, Args)]
pub struct StorageArgs {
    #[command(subcommand)]
    pub what: StorageCommand,
}

#[derive(Debug, Subcommand)]
pub enum StorageCommand {
    /// Check every sealed segment against the signed, hash-chained manifest: reports segments
    /// altered, missing or unlisted and manifest entries removed, reordered or forged. Exits 1
    /// on any finding.
    Verify(VerifyArgs),
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum VerifyFormat {
    /// One line per finding and a summary.
    Text,
    /// One JSON object: counts and findings.
    Json,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Data directory to check (default `./vigil-data`).
    #[arg(long, env = "VIGIL_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Public key to verify with (default `<data_dir>/keys/manifest-signing.pub`); pass a copy
    /// kept elsewhere so that a replaced key on the host is noticed.
    #[arg(long)]
    pub public_key: Option<PathBuf>,
    /// Output format.
    #[arg(short, long, value_enum, default_value_t = VerifyFormat::Text)]
    pub format: VerifyFormat,
}

pub fn run(args: StorageArgs) -> Result<u8> {
    match args.what {
        StorageCommand::Verify(a) => run_verify(a),
    }
}

fn run_verify(args: VerifyArgs) -> Result<u8> {
    let dir = args
        .data_dir
        .unwrap_or_else(|| PathBuf::from("./vigil-data"));
    if !dir.is_dir() {
        return Err(UsageError(format!("data directory {} does not exist", dir.display())).into());
    }
    let key = args.public_key.unwrap_or_else(|| {
        dir.join("keys")
            .join(vigil_store::embedded::PUBLIC_KEY_FILE)
    });
    let report =
        verify_with_key(&dir, &key).with_context(|| format!("verifying {}", dir.display()))?;
    match args.format {
        VerifyFormat::Json => println!("{}", serde_json::to_string(&report)?),
        VerifyFormat::Text => print_text(&report, &dir),
    }
    Ok(if report.is_clean() {
        exit::OK
    } else {
        exit::FAILURE
    })
}

fn print_text(r: &VerifyReport, dir: &std::path::Path) {
    for f in &r.findings {
        println!("{f}");
    }
    let summary = format!(
        "{}: {} tenant(s), {} manifest entr{} and {} segment(s) verified",
        dir.display(),
        r.tenants,
        r.entries_verified,
        if r.entries_verified == 1 { "y" } else { "ies" },
        r.segments_verified,
    );
    if r.is_clean() {
        println!("{summary}: OK");
    } else {
        println!(
            "{summary}; {} finding(s): TAMPERED OR DAMAGED",
            r.findings.len()
        );
    }
}
