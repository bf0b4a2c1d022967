//! `vigil storage verify`: check the tamper-evidence manifests of a data directory (hash chain,
//! Ed25519 signatures, segment SHA-256s). The checking is `vigil_store::embedded::verify`; this
//! module prints and sets the exit code. Read-only and lock-free, so it runs beside `vigil up`.
//!
//! `vigil storage rotate-key`: add a new current key to the key file; re-encrypt at once when no
//! `vigil up` holds the data directory, else let the running instance pick the key up and
//! re-encrypt in the background. `vigil storage keys`: which keys the sealed files use.
//! `vigil storage stats`: bytes on disk per event and per column of each tier.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use vigil_store::embedded::crypto::generate_key_hex;
use vigil_store::embedded::{
    EmbeddedConfig, EmbeddedStore, KeySource, Keyring, VerifyReport, verify_with_key,
};
use vigil_store::{EventStore, StoreError};

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
    /// Add a new encryption key (from a file, or generated) to the key file as the current
    /// key and re-encrypt every sealed file with it. If `vigil up` runs on the data directory,
    /// it reloads the key file within 10 s and re-encrypts in the background instead; the
    /// audit log's `storage.reencrypt.done` says when older keys may be removed.
    RotateKey(RotateKeyArgs),
    /// List the encryption keys of the key file and how many sealed files use each.
    Keys(KeysArgs),
    /// Bytes on disk per event of the sealed segments of each tier, split by column (from the
    /// Parquet footers). Opens the store, so `vigil up` must not run on the data directory.
    Stats(StatsArgs),
}

#[derive(Debug, Args)]
pub struct StatsArgs {
    /// Data directory (default `./vigil-data`).
    #[arg(long, env = "VIGIL_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// The key file, when the store is encrypted.
    #[arg(long)]
    pub key_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct RotateKeyArgs {
    /// Data directory (default `./vigil-data`).
    #[arg(long, env = "VIGIL_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// The key file the store reads (`storage.encryption.key_file`); created (mode 0600) if
    /// missing, which turns encryption on.
    #[arg(long)]
    pub key_file: PathBuf,
    /// File holding the new key (64 hex digits or base64 of 32 bytes). Without it a random
    /// key is generated.
    #[arg(long)]
    pub new_key_file: Option<PathBuf>,
    /// Configuration of the store (its spaces and retention apply while re-encrypting).
    #[arg(short, long)]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct KeysArgs {
    /// Data directory (default `./vigil-data`).
    #[arg(long, env = "VIGIL_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// The key file.
    #[arg(long)]
    pub key_file: PathBuf,
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
        StorageCommand::RotateKey(a) => run_rotate(a),
        StorageCommand::Keys(a) => run_keys(a),
        StorageCommand::Stats(a) => run_stats(a),
    }
}

fn write_key_file(path: &Path, text: &str) -> Result<()> {
    use std::io::Write as _;
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".tmp-{}",
        path.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default()
    ));
    let mut f = vigil_fs::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    f.write_all(text.as_bytes())
        .and_then(|()| f.sync_all())
        .with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("replacing {}", path.display()))?;
    std::fs::File::open(dir).and_then(|d| d.sync_all()).ok();
    Ok(())
}

fn run_rotate(args: RotateKeyArgs) -> Result<u8> {
    let dir = args
        .data_dir
        .unwrap_or_else(|| PathBuf::from("./vigil-data"));
    let (mut text, ring) = if args.key_file.exists() {
        let ring = Keyring::from_file(&args.key_file).map_err(|e| UsageError(e.to_string()))?;
        let text = vigil_config::read_file_capped(&args.key_file, 1 << 20)
            .with_context(|| format!("reading {}", args.key_file.display()))?;
        (String::from_utf8_lossy(&text).into_owned(), ring)
    } else {
        (
            "# Vigil storage keys: <id>:<key>, the last one is current. Keep a copy off this host.\n"
                .to_owned(),
            Keyring::empty(),
        )
    };
    let new_key = match &args.new_key_file {
        Some(f) => {
            let b = vigil_config::read_file_capped(f, 4096)
                .with_context(|| format!("reading {}", f.display()))?;
            let k = String::from_utf8_lossy(&b).trim().to_owned();
            let k = k.rsplit(':').next().unwrap_or(&k).to_owned();
            // validated by parsing it as a one-key keyring
            Keyring::parse(&k, &f.display().to_string()).map_err(|e| UsageError(e.to_string()))?;
            k
        }
        None => generate_key_hex()?,
    };
    let id = ring.ids().last().copied().unwrap_or(0) + 1;
    if !text.ends_with('\n') && !text.is_empty() {
        text.push('\n');
    }
    text.push_str(&format!("{id}:{new_key}\n"));
    // the new file must parse (no duplicate key material under two ids is checked by fingerprint)
    let new_ring = Keyring::parse(&text, &args.key_file.display().to_string())
        .map_err(|e| UsageError(e.to_string()))?;
    write_key_file(&args.key_file, &text)?;
    println!(
        "{}: key {id} (fingerprint {}) added as the current key",
        args.key_file.display(),
        new_ring.fingerprint_hex(id).unwrap_or_default()
    );
    if !dir.join("events").is_dir() {
        println!(
            "no store in {} yet: new data will be encrypted with key {id}",
            dir.display()
        );
        return Ok(exit::OK);
    }
    let mut cfg = match &args.config {
        Some(p) => {
            let mut c = vigil_config::load_file(p).map_err(|e| UsageError(e.to_string()))?;
            c.data_dir = dir.clone();
            crate::topology::store_config(&c)?
        }
        None => EmbeddedConfig::new(&dir),
    };
    cfg.keys = Some(KeySource::File(args.key_file.clone()));
    let store = match EmbeddedStore::open(cfg) {
        Ok(s) => s,
        Err(StoreError::Invalid(m)) if m.contains("in use") => {
            println!(
                "a running vigil holds {}: it reloads {} within 10 s and re-encrypts in the background; \
                 `storage.reencrypt.done` in {}/audit/audit.log says when older keys may be removed",
                dir.display(),
                args.key_file.display(),
                dir.display()
            );
            return Ok(exit::OK);
        }
        Err(e) => return Err(e).with_context(|| format!("opening the store in {}", dir.display())),
    };
    let rep = store.rekey_now().context("re-encrypting")?;
    store.close().context("closing the store")?;
    println!(
        "re-encrypted {} file(s) ({} bytes) with key {id}; {} quarantined; {} left",
        rep.files_reencrypted, rep.bytes, rep.files_quarantined, rep.remaining
    );
    if rep.remaining == 0 {
        let older: Vec<String> = ring.ids().iter().map(|k| k.to_string()).collect();
        if !older.is_empty() {
            println!(
                "no sealed file uses key(s) {} any more: they may be removed from {}",
                older.join(", "),
                args.key_file.display()
            );
        }
    }
    Ok(if rep.files_quarantined > 0 || rep.remaining > 0 {
        exit::FAILURE
    } else {
        exit::OK
    })
}

fn run_keys(args: KeysArgs) -> Result<u8> {
    let dir = args
        .data_dir
        .unwrap_or_else(|| PathBuf::from("./vigil-data"));
    let ring = Keyring::from_file(&args.key_file).map_err(|e| UsageError(e.to_string()))?;
    let mut cfg = EmbeddedConfig::new(&dir);
    cfg.keys = Some(KeySource::File(args.key_file.clone()));
    let store = EmbeddedStore::open(cfg).with_context(|| {
        format!(
            "opening the store in {} (is vigil up running?)",
            dir.display()
        )
    })?;
    let used = store.keys_in_use();
    let _ = store.close();
    for id in ring.ids() {
        println!(
            "key {id}{}  fingerprint {}  sealed files {}",
            if ring.current() == Some(id) {
                " (current)"
            } else {
                ""
            },
            ring.fingerprint_hex(id).unwrap_or_default(),
            used.get(&Some(id)).copied().unwrap_or(0)
        );
    }
    if let Some(n) = used.get(&None) {
        println!("plain (not encrypted)  sealed files {n}");
    }
    Ok(exit::OK)
}

fn run_stats(args: StatsArgs) -> Result<u8> {
    let dir = args
        .data_dir
        .unwrap_or_else(|| PathBuf::from("./vigil-data"));
    if !dir.join("events").is_dir() {
        return Err(UsageError(format!("no store in {}", dir.display())).into());
    }
    let mut cfg = EmbeddedConfig::new(&dir);
    cfg.keys = args.key_file.map(KeySource::File);
    cfg.verify_on_open = false;
    let store = EmbeddedStore::open(cfg).with_context(|| {
        format!(
            "opening the store in {} (is vigil up running?)",
            dir.display()
        )
    })?;
    let cs = store.column_stats();
    let _ = store.close();
    // Written through a handle so that a closed pipe (`| head`) ends the output quietly.
    let mut out = std::io::stdout().lock();
    let _ = print_stats(&mut out, &cs);
    Ok(exit::OK)
}

fn print_stats(
    out: &mut impl std::io::Write,
    cs: &vigil_store::embedded::ColumnStats,
) -> std::io::Result<()> {
    for (name, t) in [("hot", &cs.hot), ("cold", &cs.cold)] {
        if t.events == 0 {
            writeln!(out, "{name}: no segments")?;
            continue;
        }
        let n = t.events as f64;
        writeln!(
            out,
            "{name}: {} segments, {} events, {} bytes, {:.2} B/event",
            t.segments,
            t.events,
            t.file_bytes,
            t.file_bytes as f64 / n
        )?;
        for (c, b) in &t.columns {
            writeln!(out, "  {c:<32} {:>10.2} B/event", *b as f64 / n)?;
        }
        writeln!(
            out,
            "  {:<32} {:>10.2} B/event",
            "(footer)",
            t.other_bytes() as f64 / n
        )?;
    }
    Ok(())
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
