//! Shared by the examples: the SigmaHQ rule sample and the two event mixes, read in place
//! from the shared corpora (`vigil_testkit::corpus`).

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use serde_json::Value;
use vigil_detect::{LoadOptions, Loader, RuleSet, flatten_evtx_json};

pub const RULE_DIRS: &[&str] = &[
    "rules",
    "rules-emerging-threats",
    "rules-threat-hunting",
    "rules-compliance",
    "rules-placeholder",
];

pub fn files(dir: &Path, ext: &str, out: &mut Vec<PathBuf>) {
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

/// Every rule file of the corpus, sorted; only those for `product: windows` when asked.
pub fn rule_files(root: &Path, windows_only: bool) -> Vec<PathBuf> {
    let mut all = Vec::new();
    for d in RULE_DIRS {
        files(&root.join(d), "yml", &mut all);
    }
    all.sort();
    if windows_only {
        all.retain(|p| std::fs::read_to_string(p).is_ok_and(|t| t.contains("product: windows")));
    }
    all
}

/// Up to `n` rule files sampled evenly over `all`.
pub fn sample(all: &[PathBuf], n: usize) -> Vec<PathBuf> {
    let step = (all.len() as f64 / n as f64).max(1.0);
    let (mut i, mut out) = (0.0, Vec::new());
    while (i as usize) < all.len() && out.len() < n {
        out.push(all[i as usize].clone());
        i += step;
    }
    out
}

pub fn load(paths: &[PathBuf], opts: LoadOptions) -> RuleSet {
    let mut loader = Loader::new(opts);
    for p in paths {
        loader.add_file(p);
    }
    loader.finish().0
}

/// The SigmaHQ regression events (evtx_dump JSON, flattened): every one matches some rule.
pub fn regression_events(sigma_root: &Path) -> Vec<Value> {
    let mut jf = Vec::new();
    files(&sigma_root.join("regression_data"), "json", &mut jf);
    jf.sort();
    jf.iter()
        .flat_map(|f| {
            let t = std::fs::read_to_string(f).unwrap_or_default();
            serde_json::Deserializer::from_str(&t)
                .into_iter::<Value>()
                .flatten()
                .collect::<Vec<_>>()
        })
        .map(|v| flatten_evtx_json(&v))
        .collect()
}

/// OTRF Security-Datasets, Windows host datasets: JSON lines (Nxlog / Winlogbeat-style flat
/// records, `Message` included) read from the zips in place with `unzip -p`. Mostly the
/// background noise of lab hosts (Sysmon 10/7/12/13, Security 4658/4656/4690/5156, ...).
/// At most `max` events, sampled evenly over all of them (in order).
pub fn otrf_events(max: usize) -> Vec<Value> {
    let all = otrf_all();
    let step = (all.len() as f64 / max as f64).max(1.0);
    let mut out = Vec::new();
    let mut i = 0.0;
    while (i as usize) < all.len() && out.len() < max {
        out.push(all[i as usize].clone());
        i += step;
    }
    out
}

fn otrf_all() -> Vec<Value> {
    let max = usize::MAX;
    let Some(root) = vigil_testkit::corpus("otrf-security-datasets") else {
        return Vec::new();
    };
    let mut zips = Vec::new();
    files(&root.join("datasets/atomic/windows"), "zip", &mut zips);
    zips.sort();
    let mut out = Vec::new();
    for z in zips {
        let Ok(o) = std::process::Command::new("unzip")
            .arg("-p")
            .arg(&z)
            .output()
        else {
            eprintln!("unzip not available: no OTRF events");
            return out;
        };
        for line in o.stdout.split(|b| *b == b'\n') {
            if let Ok(v @ Value::Object(_)) = serde_json::from_slice::<Value>(line) {
                out.push(v);
                if out.len() >= max {
                    return out;
                }
            }
        }
    }
    out
}

/// CPU time of this thread (utime + stime), so other load on the machine does not count.
pub fn thread_cpu() -> f64 {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = f.get(11).and_then(|x| x.parse().ok()).unwrap_or(0.0)
        + f.get(12).and_then(|x| x.parse().ok()).unwrap_or(0.0);
    ticks / 100.0
}
