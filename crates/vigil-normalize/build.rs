//! Embeds the product packs (`<repo>/packs/<name>/normalizer.yaml`) into the library, so the
//! binary carries them wherever it runs.

use std::fmt::Write as _;
use std::path::PathBuf;

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default());
    let packs = manifest.join("../../packs");
    println!("cargo:rerun-if-changed={}", packs.display());
    let mut names = Vec::new();
    if let Ok(rd) = std::fs::read_dir(&packs) {
        for e in rd.flatten() {
            let file = e.path().join("normalizer.yaml");
            println!("cargo:rerun-if-changed={}", file.display());
            if file.is_file() {
                names.push((e.file_name().to_string_lossy().into_owned(), file));
            }
        }
    }
    names.sort();
    let mut out = String::from(
        "/// The packs shipped with Vigil: (directory name, normalizer.yaml).\npub static PACKS: &[(&str, &str)] = &[\n",
    );
    for (name, file) in &names {
        let path = file.canonicalize().unwrap_or_else(|_| file.clone());
        let _ = writeln!(
            out,
            "    ({name:?}, include_str!({:?})),",
            path.display().to_string()
        );
    }
    out.push_str("];\n");
    let dest = PathBuf::from(std::env::var("OUT_DIR").unwrap_or_default()).join("packs.rs");
    if let Err(e) = std::fs::write(&dest, out) {
        println!("cargo:warning=cannot write {}: {e}", dest.display());
    }
}
