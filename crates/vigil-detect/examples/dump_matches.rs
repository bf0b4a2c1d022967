//! Print the (rule, event) matches of a rule set over an event file, one JSON object per line:
//! `{"rule_id": "...", "event": N}` (N: 0-based index of the event in the file). Used by
//! `reference/compare_pysigma.py` to compare Vigil with pySigma.
//!
//! `cargo run --release -p vigil-detect --example dump_matches -- RULES EVENTS [--windows]
//! [--flat-out FILE]`
//! - RULES: a rule file, a directory of rules, or a text file listing rule paths (`.txt`);
//! - EVENTS: JSON lines or concatenated JSON objects; evtx_dump-style records are flattened;
//! - `--windows`: use the Windows pipeline (logsource routing and field mapping); default is
//!   no pipeline, every rule on every event, fields as they are;
//! - `--flat-out FILE`: also write the flattened events (as the rules saw them) as JSON lines.

#![allow(clippy::disallowed_methods)] // trusted local input, read whole

use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::Value;
use vigil_detect::{LoadOptions, Loader, flatten_evtx_json};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let pos: Vec<&String> = args.iter().filter(|a| !a.starts_with("--")).collect();
    let (Some(rules), Some(events)) = (pos.first(), pos.get(1)) else {
        eprintln!("usage: dump_matches RULES EVENTS [--windows] [--flat-out FILE]");
        std::process::exit(2);
    };
    let windows = args.iter().any(|a| a == "--windows");
    let flat_out = args
        .iter()
        .position(|a| a == "--flat-out")
        .and_then(|i| args.get(i + 1));
    let opts = if windows {
        LoadOptions::windows()
    } else {
        LoadOptions::default()
    };
    let mut loader = Loader::new(opts);
    let rp = Path::new(rules.as_str());
    if rp.is_dir() {
        loader.add_dir(rp);
    } else if rp.extension().is_some_and(|e| e == "txt") {
        let list = std::fs::read_to_string(rp).unwrap_or_default();
        for l in list.lines().filter(|l| !l.trim().is_empty()) {
            loader.add_file(&PathBuf::from(l.trim()));
        }
    } else {
        loader.add_file(rp);
    }
    let (set, problems) = loader.finish();
    for p in &problems {
        eprintln!("{p}");
    }
    let text = std::fs::read_to_string(events.as_str()).unwrap_or_default();
    let evs: Vec<Value> = serde_json::Deserializer::from_str(&text)
        .into_iter::<Value>()
        .flatten()
        .map(|v| flatten_evtx_json(&v))
        .collect();
    if let Some(f) = flat_out {
        let mut w = std::io::BufWriter::new(std::fs::File::create(f).unwrap_or_else(|e| {
            eprintln!("{f}: {e}");
            std::process::exit(1)
        }));
        for e in &evs {
            let _ = writeln!(w, "{e}");
        }
    }
    let stdout = std::io::stdout();
    let mut w = std::io::BufWriter::new(stdout.lock());
    let mut out = Vec::new();
    for (i, e) in evs.iter().enumerate() {
        out.clear();
        set.matches(e, &mut out);
        for d in &out {
            let _ = writeln!(
                w,
                "{}",
                serde_json::json!({"rule_id": d.rule.id, "event": i})
            );
        }
    }
    eprintln!("{} rules, {} events", set.len(), evs.len());
}
