//! Golden tests of the product packs: every `packs/<pack>/samples/<case>.log` is normalized
//! line by line with the pack and compared with `<case>.expected.json`. `VIGIL_BLESS=1`
//! rewrites the expected files. Also checks that every sample event is categorized (ECS
//! `event.kind`/`event.category`/`event.type`) and tagged with its module.

use std::path::{Path, PathBuf};

use vigil_event::{Bytes, Timestamp};
use vigil_event::{RawRecord, SourceInfo};
use vigil_normalize::{Library, NormalizerTree};

use vigil_testkit::read_text;
fn load_library(packs: &Path) -> Library {
    let mut lib = Library::new();
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(packs)
        .map(|rd| rd.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    dirs.sort();
    for d in dirs {
        let f = d.join("normalizer.yaml");
        if let Ok(text) = read_text(&f)
            && let Err(e) = lib.add_yaml(&text, &f.display().to_string())
        {
            eprintln!("{e}");
            std::process::exit(1);
        }
    }
    lib
}

/// The normalized JSON of one line, stable across runs (no random id, fixed receive time).
fn normalize(tree: &NormalizerTree, line: &str) -> serde_json::Value {
    let src = SourceInfo {
        id: "golden".into(),
        tenant: "main".into(),
        collector: "test".into(),
    };
    let rec = RawRecord {
        data: Bytes::copy_from_slice(line.as_bytes()),
        received: Timestamp::parse("2026-11-22T12:00:00Z").unwrap_or_default(),
        peer: Some(
            "192.0.2.10:514"
                .parse()
                .unwrap_or_else(|_| std::net::SocketAddr::from(([0, 0, 0, 0], 0))),
        ),
        transport_error: None,
    };
    let ev = tree.normalize_record(&src, rec);
    let mut j = ev.to_json();
    if let Some(v) = j.get_mut("vigil").and_then(|v| v.as_object_mut()) {
        v.remove("event_id");
    }
    if let Some(v) = j.get_mut("event").and_then(|v| v.as_object_mut()) {
        v.remove("ingested");
    }
    j
}

fn main() {
    let root = vigil_testkit::repo_root().join("packs");
    let lib = load_library(&root);
    if let Err(e) = lib.check() {
        eprintln!("pack definitions are invalid:\n{e}");
        std::process::exit(1);
    }
    let bless = std::env::var_os("VIGIL_BLESS").is_some();
    let filter = std::env::args().nth(1).filter(|a| !a.starts_with('-'));
    let mut failures = Vec::new();
    let mut cases = 0;
    let mut events = 0;
    for name in lib.names() {
        let dir = root.join(name).join("samples");
        let Ok(rd) = std::fs::read_dir(&dir) else {
            failures.push(format!("{name}: no samples directory {}", dir.display()));
            continue;
        };
        let tree = match lib.compile(name) {
            Ok(n) => NormalizerTree::new(n, chrono_tz::UTC),
            Err(e) => {
                failures.push(format!("{name}: {e}"));
                continue;
            }
        };
        let mut logs: Vec<PathBuf> = rd
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "log"))
            .collect();
        logs.sort();
        for log in logs {
            let case = format!(
                "{name}/{}",
                log.file_stem().and_then(|s| s.to_str()).unwrap_or("")
            );
            if filter.as_ref().is_some_and(|f| !case.contains(f.as_str())) {
                continue;
            }
            cases += 1;
            let text = read_text(&log).unwrap_or_default();
            let got: Vec<serde_json::Value> = text
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(|l| normalize(&tree, l))
                .collect();
            events += got.len();
            for (i, ev) in got.iter().enumerate() {
                let line = i + 1;
                if let Some(e) = ev.pointer("/vigil/parse_error") {
                    failures.push(format!("{case}:{line}: parse error {e}"));
                }
                for key in ["/vigil/extra_error", "/vigil/mapping_error"] {
                    if let Some(e) = ev.pointer(key) {
                        failures.push(format!("{case}:{line}: {key} {e}"));
                    }
                }
                for key in [
                    "/event/kind",
                    "/event/category",
                    "/event/type",
                    "/event/module",
                ] {
                    if ev.pointer(key).is_none() {
                        failures.push(format!("{case}:{line}: {key} not set"));
                    }
                }
            }
            let expected_path = log.with_extension("expected.json");
            let rendered = serde_json::to_string_pretty(&got).unwrap_or_default() + "\n";
            if bless {
                if let Err(e) = std::fs::write(&expected_path, &rendered) {
                    failures.push(format!(
                        "{case}: cannot write {}: {e}",
                        expected_path.display()
                    ));
                }
                continue;
            }
            let want = read_text(&expected_path).unwrap_or_default();
            let want_json: serde_json::Value =
                serde_json::from_str(&want).unwrap_or(serde_json::Value::Null);
            let got_json = serde_json::Value::Array(got);
            if want_json != got_json {
                let w = serde_json::to_string_pretty(&want_json).unwrap_or_default();
                let diff: Vec<String> = rendered
                    .lines()
                    .zip(w.lines().chain(std::iter::repeat("")))
                    .enumerate()
                    .filter(|(_, (a, b))| a != b)
                    .take(6)
                    .map(|(n, (a, b))| {
                        format!("    line {}: got  {a}\n    line {}: want {b}", n + 1, n + 1)
                    })
                    .collect();
                failures.push(format!(
                    "{case}: differs from {} (VIGIL_BLESS=1 to accept)\n{}",
                    expected_path.display(),
                    diff.join("\n")
                ));
            }
        }
    }
    println!(
        "packs: {} packs, {cases} sample files, {events} events",
        lib.names().len()
    );
    if failures.is_empty() {
        println!("test result: ok");
    } else {
        for f in &failures {
            eprintln!("FAIL {f}");
        }
        eprintln!("test result: FAILED ({} problems)", failures.len());
        std::process::exit(1);
    }
}
