//! Events per second per core vs rule count, SigmaHQ Windows rules over the regression events.
//! `cargo run --release -p vigil-detect --example throughput [seconds-per-size]`

#![allow(clippy::disallowed_methods)] // trusted test corpora, read whole

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::Value;
use vigil_detect::{LoadOptions, Loader, RuleSet, flatten_evtx_json};

fn files(dir: &Path, ext: &str, out: &mut Vec<PathBuf>) {
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                files(&p, ext, out)
            } else if p.extension().is_some_and(|x| x == ext) {
                out.push(p)
            }
        }
    }
}

fn ruleset(root: &Path, n: usize) -> RuleSet {
    ruleset_with(root, n, true, LoadOptions::windows())
}

fn ruleset_with(root: &Path, n: usize, windows_only: bool, opts: LoadOptions) -> RuleSet {
    let mut all = Vec::new();
    for d in [
        "rules",
        "rules-emerging-threats",
        "rules-threat-hunting",
        "rules-compliance",
        "rules-placeholder",
    ] {
        files(&root.join(d), "yml", &mut all);
    }
    all.sort();
    if windows_only {
        all.retain(|p| std::fs::read_to_string(p).is_ok_and(|t| t.contains("product: windows")));
    }
    let step = (all.len() as f64 / n as f64).max(1.0);
    let mut loader = Loader::new(opts);
    let (mut i, mut taken) = (0.0, 0);
    while (i as usize) < all.len() && taken < n {
        loader.add_file(&all[i as usize]);
        i += step;
        taken += 1;
    }
    loader.finish().0
}

/// CPU time of this thread (utime + stime), so other load on the machine does not count.
fn thread_cpu() -> f64 {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = f.get(11).and_then(|x| x.parse().ok()).unwrap_or(0.0)
        + f.get(12).and_then(|x| x.parse().ok()).unwrap_or(0.0);
    ticks / 100.0
}

fn main() {
    let secs: f64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(3.0);
    let only: Option<usize> = std::env::args().nth(2).and_then(|s| s.parse().ok());
    let Some(root) = vigil_testkit::corpus("sigma") else {
        return;
    };
    let mut jf = Vec::new();
    files(&root.join("regression_data"), "json", &mut jf);
    jf.sort();
    let evs: Vec<Value> = jf
        .iter()
        .flat_map(|f| {
            let t = std::fs::read_to_string(f).unwrap_or_default();
            serde_json::Deserializer::from_str(&t)
                .into_iter::<Value>()
                .flatten()
                .collect::<Vec<_>>()
        })
        .map(|v| flatten_evtx_json(&v))
        .collect();
    println!(
        "{} events (flattened evtx_dump JSON from regression_data)",
        evs.len()
    );
    // 0 = hunt mode: all 3,720 rules, no pipeline (every rule on every event).
    for n in [100, 1000, 3000, 0] {
        if only.is_some_and(|o| o != n) {
            continue;
        }
        let t0 = Instant::now();
        let set = if n == 0 {
            println!("hunt mode (no pipeline, every rule on every event):");
            ruleset_with(&root, 100_000, false, LoadOptions::default())
        } else {
            ruleset(&root, n)
        };
        let load = t0.elapsed();
        let mut out = Vec::new();
        let (mut done, mut hits) = (0u64, 0u64);
        let start = Instant::now();
        let cpu0 = thread_cpu();
        while thread_cpu() - cpu0 < secs {
            for e in &evs {
                out.clear();
                set.matches(e, &mut out);
                hits += out.len() as u64;
            }
            done += evs.len() as u64;
        }
        let _wall = start.elapsed();
        let el = thread_cpu() - cpu0;
        println!(
            "{:>5} rules ({} variants, {} needles): load {:>6.0} ms, {:>9.0} events/s per core (CPU time), {:>6.2} us/event, {} detections/pass",
            set.len(),
            set.stats().variants,
            set.stats().needles,
            load.as_secs_f64() * 1e3,
            done as f64 / el,
            el * 1e6 / done as f64,
            hits * evs.len() as u64 / done.max(1)
        );
        println!("      ({done} events evaluated)");
    }
}
