//! The SigmaHQ corpus: every rule loads; every active regression case fires its rule.

#![allow(clippy::disallowed_methods)] // trusted test corpora, read whole

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::Value;
use vigil_detect::{LoadOptions, RuleSet, Severity, flatten_evtx_json};

const RULE_DIRS: &[&str] = &[
    "rules",
    "rules-emerging-threats",
    "rules-threat-hunting",
    "rules-compliance",
    "rules-placeholder",
];

fn load_all(root: &Path, opts: &LoadOptions) -> (RuleSet, Vec<vigil_detect::LoadProblem>) {
    let mut loader = vigil_detect::Loader::new(opts.clone());
    for d in RULE_DIRS {
        loader.add_dir(&root.join(d));
    }
    loader.finish()
}

/// Parse a file of concatenated JSON objects.
pub fn json_stream(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    serde_json::Deserializer::from_str(&text)
        .into_iter::<Value>()
        .filter_map(Result::ok)
        .collect()
}

#[test]
fn every_sigmahq_rule_loads() {
    let Some(root) = vigil_testkit::corpus("sigma") else {
        return;
    };
    let (set, problems) = load_all(&root, &LoadOptions::windows());
    for p in &problems {
        eprintln!("{p}");
    }
    let placeholder_warnings = set
        .warnings()
        .iter()
        .filter(|w| w.reason.contains("placeholder"))
        .count();
    let unmapped = set.stats().unmapped;
    eprintln!(
        "loaded {} rules ({} variants, {} gated, {} needles, {} buckets); {} errors; {} warnings ({} placeholder, {} unmapped logsource)",
        set.len(),
        set.stats().variants,
        set.stats().gated,
        set.stats().needles,
        set.stats().buckets,
        problems.len(),
        set.warnings().len(),
        placeholder_warnings,
        unmapped
    );
    assert!(problems.iter().all(|p| p.severity == Severity::Error));
    assert_eq!(problems.len(), 0, "rules that failed to load: see stderr");
    assert_eq!(set.len(), 3720);
}

#[test]
fn every_sigmahq_rule_loads_without_pipeline() {
    let Some(root) = vigil_testkit::corpus("sigma") else {
        return;
    };
    let (set, problems) = load_all(&root, &LoadOptions::default());
    assert_eq!(problems.len(), 0);
    assert_eq!(set.stats().unmapped, 0);
    assert_eq!(set.len(), 3720);
}

struct Case {
    rule_id: String,
    title: String,
    match_count: usize,
    json: PathBuf,
}

fn cases(root: &Path) -> Vec<Case> {
    let text = std::fs::read_to_string(root.join("REGRESSION_CASES.tsv")).unwrap_or_default();
    let mut out = Vec::new();
    for line in text.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        if cols.len() < 11 || cols[10] != "True" || cols[7] != "evtx" {
            continue;
        }
        let json = root.join(cols[9]).with_extension("json");
        out.push(Case {
            rule_id: cols[0].to_string(),
            title: cols[1].to_string(),
            match_count: cols[8].parse().unwrap_or(1),
            json,
        });
    }
    out
}

#[test]
fn regression_cases_fire_their_rule() {
    let Some(root) = vigil_testkit::corpus("sigma") else {
        return;
    };
    let (set, _) = load_all(&root, &LoadOptions::windows());
    let cases = cases(&root);
    assert!(cases.len() >= 140, "found {} cases", cases.len());
    let mut failures = Vec::new();
    let mut total_events = 0;
    let mut per_rule_fps: HashMap<String, usize> = HashMap::new();
    for c in &cases {
        let events = json_stream(&c.json);
        total_events += events.len();
        let mut count = 0;
        for e in &events {
            let flat = flatten_evtx_json(e);
            for d in set.detect(&flat) {
                if d.rule.id == c.rule_id {
                    count += 1;
                    assert!(!d.matched.is_empty(), "detection without explanation");
                } else {
                    *per_rule_fps.entry(d.rule.id.clone()).or_default() += 1;
                }
            }
        }
        if count < c.match_count {
            failures.push(format!(
                "{} {} ({}): {count} < {} over {} events",
                c.rule_id,
                c.title,
                c.json.display(),
                c.match_count,
                events.len()
            ));
        }
    }
    for f in &failures {
        eprintln!("FAIL {f}");
    }
    eprintln!(
        "{} cases, {} events, {} failures, {} other rules fired",
        cases.len(),
        total_events,
        failures.len(),
        per_rule_fps.len()
    );
    assert!(failures.is_empty());
}

#[test]
fn prefilter_skips_most_rules() {
    let Some(root) = vigil_testkit::corpus("sigma") else {
        return;
    };
    let (set, _) = load_all(&root, &LoadOptions::windows());
    let (mut cand, mut eval, mut n, mut ung, mut lits, mut bytes, mut scans, mut marks) =
        (0, 0, 0, 0, 0, 0, 0, 0);
    let mut cached = 0;
    let mut out = Vec::new();
    for c in cases(&root) {
        for e in json_stream(&c.json) {
            let flat = flatten_evtx_json(&e);
            let cost = set.matches_with_cost(&flat, &mut out);
            cand += cost.candidates;
            eval += cost.evaluated;
            ung += cost.ungated;
            lits += cost.literal_hits;
            bytes += cost.bytes_scanned;
            scans += cost.scans;
            marks += cost.marks;
            cached += cost.cached_values;
            n += 1;
        }
    }
    eprintln!(
        "per event: {:.1} candidate variants, {:.1} evaluated ({:.1} without literals), {:.0} literal hits ({:.0} literal-variant marks) in {:.0} bytes scanned by {:.1} automaton runs; {:.1} values from the scan cache (one cold pass)",
        cand as f64 / n as f64,
        eval as f64 / n as f64,
        ung as f64 / n as f64,
        lits as f64 / n as f64,
        marks as f64 / n as f64,
        bytes as f64 / n as f64,
        scans as f64 / n as f64,
        cached as f64 / n as f64
    );
    assert!(
        eval * 5 < cand,
        "prefilter should skip at least 80% of candidates"
    );
}

#[test]
#[ignore = "diagnostic listing"]
fn list_ungated_rules() {
    let Some(root) = vigil_testkit::corpus("sigma") else {
        return;
    };
    let (set, _) = load_all(&root, &LoadOptions::windows());
    for r in set.ungated_rules() {
        eprintln!(
            "{:?} {} {}",
            r.logsource.category,
            r.title,
            r.path
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        );
    }
}

/// The built-in Windows pipeline covers every Windows mapping of SigmaHQ's `ci-data/thor.yml`.
#[test]
fn builtin_windows_pipeline_matches_thor_config() {
    let Some(root) = vigil_testkit::corpus("sigma") else {
        return;
    };
    let text = std::fs::read_to_string(root.join("ci-data/thor.yml")).unwrap_or_default();
    let thor: yaml_serde::Value = yaml_serde::from_str(&text).unwrap_or(yaml_serde::Value::Null);
    let p = vigil_detect::Pipeline::windows();
    let Some(entries) = thor.get("logsources").and_then(|v| v.as_mapping()) else {
        panic!("thor.yml has no logsources");
    };
    let s = |v: Option<&yaml_serde::Value>| v.and_then(|x| x.as_str()).map(str::to_string);
    // service → channels
    let mut channels: HashMap<String, Vec<String>> = HashMap::new();
    for (_, e) in entries {
        if let (Some(svc), Some(srcs)) = (
            s(e.get("service")),
            e.get("sources").and_then(|x| x.as_sequence()),
        ) {
            for src in srcs.iter().filter_map(|x| x.as_str()) {
                if let Some(ch) = src.strip_prefix("WinEventLog:") {
                    channels
                        .entry(svc.clone())
                        .or_default()
                        .push(ch.to_string());
                }
            }
        }
    }
    let mut checked = 0;
    for (name, e) in entries {
        let cat = s(e.get("category"));
        let svc = s(e.rewrite_service());
        let (Some(cat), Some(svc)) = (cat, svc) else {
            continue;
        };
        let eids: Vec<String> = match e.get("conditions").and_then(|c| c.get("EventID")) {
            Some(yaml_serde::Value::Sequence(xs)) => xs
                .iter()
                .map(|x| x.as_u64().unwrap_or(0).to_string())
                .collect(),
            Some(x) => vec![x.as_u64().unwrap_or(0).to_string()],
            None => continue,
        };
        let want_ch = channels.get(&svc).cloned().unwrap_or_default();
        let found = p.logsources.iter().any(|m| {
            m.category.as_deref() == Some(cat.as_str())
                && m.conditions
                    .iter()
                    .any(|(f, v)| f == "EventID" && eids.iter().all(|e| v.contains(e)))
                && m.conditions
                    .iter()
                    .any(|(f, v)| f == "Channel" && want_ch.iter().all(|c| v.contains(c)))
                && e.get("fieldmappings")
                    .and_then(|x| x.as_mapping())
                    .is_none_or(|fm| {
                        fm.iter().all(|(a, b)| {
                            m.fieldmappings
                                .get(a.as_str().unwrap_or(""))
                                .map(String::as_str)
                                == b.as_str()
                        })
                    })
        });
        assert!(
            found,
            "thor mapping {name:?} ({cat}, {svc}, {eids:?}) missing from Pipeline::windows"
        );
        checked += 1;
    }
    for (svc, chans) in &channels {
        let found = p.logsources.iter().any(|m| {
            m.service.as_deref() == Some(svc.as_str())
                && m.conditions
                    .iter()
                    .any(|(f, v)| f == "Channel" && chans.iter().all(|c| v.contains(c)))
        });
        assert!(found, "thor service {svc} missing from Pipeline::windows");
        checked += 1;
    }
    assert!(checked > 60, "checked {checked}");
}

trait RewriteService {
    fn rewrite_service(&self) -> Option<&yaml_serde::Value>;
}

impl RewriteService for yaml_serde::Value {
    fn rewrite_service(&self) -> Option<&yaml_serde::Value> {
        self.get("rewrite").and_then(|r| r.get("service"))
    }
}
