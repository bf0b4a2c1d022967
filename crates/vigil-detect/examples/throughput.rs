//! Events per second per core vs rule count: 100, 1,000 and all SigmaHQ Windows rules (Windows
//! pipeline), then hunt mode (every rule, no pipeline), over one of two event mixes:
//! - `regression`: the 162 SigmaHQ regression events (worst case: each one matches a rule);
//! - `otrf`: up to 20,000 OTRF Security-Datasets Windows events (mostly lab-host background
//!   noise, as a stream would be).
//!
//! `cargo run --release -p vigil-detect --example throughput [cpu-seconds-per-size] [rules] [mix]`
//! `[scan-cache-slots]` (`rules`: 100, 1000, 3000 or 0 for hunt mode; `all` or absent for every
//! size; `scan-cache-slots`: default `DEFAULT_SCAN_CACHE_SLOTS`, 0 turns the cache off).

#![allow(clippy::disallowed_methods)] // trusted test corpora, read whole

mod common;

use std::time::Instant;

use vigil_detect::LoadOptions;

fn main() {
    let arg = |i: usize| std::env::args().nth(i);
    let secs: f64 = arg(1).and_then(|s| s.parse().ok()).unwrap_or(3.0);
    let only: Option<usize> = arg(2).and_then(|s| s.parse().ok());
    let mix = arg(3).unwrap_or_else(|| "regression".into());
    let slots: usize = arg(4)
        .and_then(|s| s.parse().ok())
        .unwrap_or(vigil_detect::DEFAULT_SCAN_CACHE_SLOTS);
    let Some(root) = vigil_testkit::corpus("sigma") else {
        return;
    };
    let evs = match mix.as_str() {
        "otrf" => common::otrf_events(20_000),
        _ => common::regression_events(&root),
    };
    println!(
        "{} events (mix: {mix}), scan cache: {slots} slots",
        evs.len()
    );
    if evs.is_empty() {
        return;
    }
    let windows = common::rule_files(&root, true);
    // 0 = hunt mode: all 3,720 rules, no pipeline (every rule on every event).
    for n in [100, 1000, 3000, 0] {
        if only.is_some_and(|o| o != n) {
            continue;
        }
        let t0 = Instant::now();
        let mut set = if n == 0 {
            println!("hunt mode (no pipeline, every rule on every event):");
            common::load(&common::rule_files(&root, false), LoadOptions::default())
        } else {
            common::load(&common::sample(&windows, n), LoadOptions::windows())
        };
        let load = t0.elapsed();
        set.set_scan_cache(slots);
        let mut out = Vec::new();
        let (mut done, mut hits) = (0u64, 0u64);
        let cpu0 = common::thread_cpu();
        while common::thread_cpu() - cpu0 < secs {
            for e in &evs {
                out.clear();
                set.matches(e, &mut out);
                hits += out.len() as u64;
            }
            done += evs.len() as u64;
        }
        let el = common::thread_cpu() - cpu0;
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
