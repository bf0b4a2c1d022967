//! Export the events of EVTX / JSON / text files as the rules see them (flattened Windows
//! view), one JSON object per line: `{"file": "relative/path.evtx", "record": N, "event": {..}}`
//! (N: 0-based position of the event in its file). Used by `bench/technique_table.py` to run
//! pySigma over the same events `vigil hunt` reads.
//!
//! `cargo run --release -p vigil-detect --features hunt --example export_events -- DIR OUT.jsonl`

#![allow(clippy::disallowed_methods)] // trusted local input

use std::io::Write;
use std::path::{Path, PathBuf};

use vigil_detect::hunt::{collect_inputs, read_events};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(dir), Some(out)) = (args.first(), args.get(1)) else {
        eprintln!("usage: export_events DIR OUT.jsonl");
        std::process::exit(2);
    };
    let root = PathBuf::from(dir);
    let (files, problems) = collect_inputs(std::slice::from_ref(&root));
    for (p, why) in &problems {
        eprintln!("{}: {why}", p.display());
    }
    let mut w = std::io::BufWriter::new(std::fs::File::create(out).unwrap_or_else(|e| {
        eprintln!("{out}: {e}");
        std::process::exit(1)
    }));
    let (mut n, mut errors) = (0usize, 0usize);
    for f in &files {
        let rel = f
            .strip_prefix(&root)
            .unwrap_or(Path::new(f))
            .display()
            .to_string();
        match read_events(f) {
            Ok((events, errs)) => {
                errors += errs.len();
                for (i, ev) in events.into_iter().enumerate() {
                    let line = serde_json::json!({"file": rel, "record": i, "event": ev});
                    let _ = writeln!(w, "{line}");
                    n += 1;
                }
            }
            Err(e) => {
                errors += 1;
                eprintln!("{rel}: {e}");
            }
        }
    }
    eprintln!("{} files, {n} events, {errors} read errors", files.len());
}
