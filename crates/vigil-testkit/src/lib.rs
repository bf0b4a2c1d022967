//! Test helpers shared by Vigil's crates.
//!
//! The one place that finds the shared test corpora (`../shared/corpora`, real third-party
//! data that is never copied into this repository). Tests call [`corpora`] or
//! [`corpus`]; when the corpora are missing, the test says so on stderr and is skipped,
//! except under CI (`CI` set), where a missing corpus is a failure: CI always has it.

use std::path::{Path, PathBuf};

/// The corpora root: `$VIGIL_CORPORA` if set, else `../shared/corpora` from the repository root.
pub fn corpora_root() -> PathBuf {
    if let Some(dir) = std::env::var_os("VIGIL_CORPORA") {
        return PathBuf::from(dir);
    }
    repo_root().join("..").join("shared").join("corpora")
}

/// The repository root (the workspace directory holding `Cargo.lock`).
pub fn repo_root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    // crates/vigil-testkit -> repository root
    here.parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| here.to_path_buf())
}

/// The directory of one corpus (e.g. `"sigma"`, `"loghub"`), or `None` when it is missing
/// outside CI (after saying so on stderr). Under CI a missing corpus panics: CI must run
/// every corpus test.
#[allow(clippy::panic)]
pub fn corpus(name: &str) -> Option<PathBuf> {
    let dir = corpora_root().join(name);
    if dir.is_dir() {
        return Some(dir);
    }
    let msg = format!(
        "test corpus '{name}' not found at {} (set VIGIL_CORPORA to the shared corpora directory)",
        dir.display()
    );
    if std::env::var_os("CI").is_some() {
        panic!("{msg}; CI must have it");
    }
    eprintln!("SKIPPED: {msg}");
    None
}

/// The corpora root if present (see [`corpus`] for the missing-corpus behaviour).
pub fn corpora() -> Option<PathBuf> {
    corpus("")
}

/// Reads at most `cap` bytes of a test input (the workspace bans unbounded reads); panics with
/// the path when the file cannot be read, as a test should.
#[allow(clippy::panic, clippy::disallowed_methods)] // a test helper; bounded by `take`
pub fn read_capped(path: &Path, cap: u64) -> Vec<u8> {
    use std::io::Read as _;
    let mut out = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(cap).read_to_end(&mut out))
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    out
}

/// A test input read whole as text, at most 64 MiB.
#[allow(clippy::disallowed_methods)] // bounded by `take`
pub fn read_text(path: &Path) -> std::io::Result<String> {
    use std::io::Read as _;
    let mut s = String::new();
    std::fs::File::open(path)?
        .take(64 << 20)
        .read_to_string(&mut s)?;
    Ok(s)
}

/// Whether an external program a test needs (`clickhouse-server`, `nats-server`) is installed.
/// When it is not, says so on stderr and returns `false` (the test returns early), except
/// under CI (`CI` set), where that is a failure: CI installs every such program.
#[allow(clippy::panic)]
pub fn tool_available(name: &str, found: bool, how_to_install: &str) -> bool {
    if found {
        return true;
    }
    let msg = format!("{name} not found ({how_to_install})");
    if std::env::var_os("CI").is_some() {
        panic!("{msg}; CI must run the tests that need it");
    }
    eprintln!("SKIPPED: {msg}");
    false
}
