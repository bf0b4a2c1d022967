//! Embeds the web console (`<repo>/ui/dist`, built by `cd ui && npm ci && npm run build`) into
//! the library, so the binary serves it wherever it runs. Without `ui/dist` the table is empty
//! and `/` answers a page saying how to build the console: `cargo build` never needs npm.
//!
//! Every file is embedded with `include_bytes!`, next to its `.gz` twin when the UI build wrote
//! one (served to clients that accept gzip). The whole folder is watched, so a rebuilt console
//! (new hashed file names included) or a newly created `ui/dist` re-runs this script.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn walk(dir: &Path, base: &Path, out: &mut Vec<(String, PathBuf)>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(&p, base, out);
        } else if p.is_file()
            && p.extension().is_none_or(|x| x != "gz")
            && let Ok(rel) = p.strip_prefix(base)
        {
            let rel = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/");
            out.push((rel, p.clone()));
        }
    }
}

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default());
    let dist = manifest.join("../../ui/dist");
    println!("cargo:rerun-if-changed={}", dist.display());
    let mut files = Vec::new();
    walk(&dist, &dist, &mut files);
    files.sort();
    let built = files.iter().any(|(rel, _)| rel == "index.html");
    let mut out =
        String::from("/// The console's files.\npub(crate) static ASSETS: &[Asset] = &[\n");
    if built {
        for (rel, file) in &files {
            let path = file.canonicalize().unwrap_or_else(|_| file.clone());
            let mut gz = path.clone().into_os_string();
            gz.push(".gz");
            let gz = PathBuf::from(gz);
            let gz = if gz.is_file() {
                format!("Some(include_bytes!({:?}))", gz.display().to_string())
            } else {
                "None".to_owned()
            };
            let _ = writeln!(
                out,
                "    Asset {{ path: {rel:?}, body: include_bytes!({:?}), gzip: {gz} }},",
                path.display().to_string()
            );
        }
    }
    out.push_str("];\n");
    let dest = PathBuf::from(std::env::var("OUT_DIR").unwrap_or_default()).join("ui_assets.rs");
    if let Err(e) = std::fs::write(&dest, out) {
        println!("cargo:warning=cannot write {}: {e}", dest.display());
    }
}
