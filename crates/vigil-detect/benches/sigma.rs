//! Cost per event vs rule count: the SigmaHQ rules (Windows pipeline) over the regression
//! events (evtx_dump JSON, flattened). `cargo bench -p vigil-detect --bench sigma`.

#![allow(clippy::disallowed_methods)] // trusted test corpora, read whole

use std::hint::black_box;
use std::path::{Path, PathBuf};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::Value;
use vigil_detect::{LoadOptions, Loader, RuleSet, flatten_evtx_json};

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                files(&p, out)
            } else if p.extension().is_some_and(|x| x == "yml") {
                out.push(p)
            }
        }
    }
}

/// Up to `n` Windows rules, sampled evenly over the whole corpus.
fn ruleset(root: &Path, n: usize, windows_only: bool) -> RuleSet {
    let mut all = Vec::new();
    for d in [
        "rules",
        "rules-emerging-threats",
        "rules-threat-hunting",
        "rules-compliance",
        "rules-placeholder",
    ] {
        files(&root.join(d), &mut all);
    }
    all.sort();
    if windows_only {
        all.retain(|p| std::fs::read_to_string(p).is_ok_and(|t| t.contains("product: windows")));
    }
    let step = (all.len() as f64 / n as f64).max(1.0);
    let mut loader = Loader::new(LoadOptions::windows());
    let mut i = 0.0;
    let mut taken = 0;
    while (i as usize) < all.len() && taken < n {
        loader.add_file(&all[i as usize]);
        i += step;
        taken += 1;
    }
    loader.finish().0
}

fn events(root: &Path) -> Vec<Value> {
    let mut out = Vec::new();
    let mut all = Vec::new();
    fn json_files(dir: &Path, out: &mut Vec<PathBuf>) {
        if let Ok(rd) = std::fs::read_dir(dir) {
            for e in rd.flatten() {
                let p = e.path();
                if p.is_dir() {
                    json_files(&p, out)
                } else if p.extension().is_some_and(|x| x == "json") {
                    out.push(p)
                }
            }
        }
    }
    json_files(&root.join("regression_data"), &mut all);
    all.sort();
    for f in all {
        let text = std::fs::read_to_string(&f).unwrap_or_default();
        for v in serde_json::Deserializer::from_str(&text)
            .into_iter::<Value>()
            .flatten()
        {
            out.push(flatten_evtx_json(&v));
        }
    }
    out
}

fn bench(c: &mut Criterion) {
    let Some(root) = vigil_testkit::corpus("sigma") else {
        return;
    };
    let evs = events(&root);
    let mut g = c.benchmark_group("sigma_windows");
    g.throughput(Throughput::Elements(evs.len() as u64));
    for (n, windows_only) in [(100, true), (1000, true), (3000, true), (100_000, false)] {
        let set = ruleset(&root, n, windows_only);
        let label = if windows_only {
            format!("{}_windows_rules", set.len())
        } else {
            format!("all_{}_rules", set.len())
        };
        let mut out = Vec::new();
        g.bench_function(label, |b| {
            b.iter(|| {
                for e in &evs {
                    out.clear();
                    set.matches(black_box(e), &mut out);
                }
                black_box(out.len())
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
