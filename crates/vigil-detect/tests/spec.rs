//! Sigma specification examples: every modifier, condition form, filters, bad rules.

#![allow(clippy::cloned_ref_to_slice_refs)]

use std::collections::HashMap;

use serde_json::{Value, json};
use vigil_detect::{LoadOptions, RuleSet, Severity, load_str};

fn rule(detection: &str) -> String {
    format!(
        "title: t\nid: r1\nlogsource:\n    product: test\ndetection:\n{}\nlevel: high\n",
        detection
            .lines()
            .map(|l| format!("    {l}"))
            .collect::<Vec<_>>()
            .join("\n")
    )
}

fn compile(detection: &str) -> RuleSet {
    let (set, problems) = load_str(&rule(detection), &LoadOptions::default());
    assert!(problems.is_empty(), "{problems:?}");
    set
}

fn hits(set: &RuleSet, ev: Value) -> bool {
    !set.detect(&ev).is_empty()
}

fn check(detection: &str, yes: &[Value], no: &[Value]) {
    let set = compile(detection);
    for e in yes {
        assert!(hits(&set, e.clone()), "should match: {e}\n{detection}");
    }
    for e in no {
        assert!(!hits(&set, e.clone()), "should not match: {e}\n{detection}");
    }
}

fn load_error(detection: &str) -> String {
    let (_, problems) = load_str(&rule(detection), &LoadOptions::default());
    assert!(!problems.is_empty(), "expected an error for {detection}");
    problems
        .iter()
        .map(|p| p.reason.clone())
        .collect::<Vec<_>>()
        .join("; ")
}

#[test]
fn plain_values_are_case_insensitive_exact() {
    check(
        "sel:\n    Image: 'C:\\Windows\\cmd.exe'\ncondition: sel",
        &[json!({"Image": "c:\\windows\\CMD.EXE"})],
        &[
            json!({"Image": "c:\\windows\\cmd.exe2"}),
            json!({"Other": "c:\\windows\\cmd.exe"}),
        ],
    );
}

#[test]
fn contains_startswith_endswith() {
    check(
        "sel:\n    A|contains: 'mid'\ncondition: sel",
        &[json!({"A": "xxMIDxx"})],
        &[json!({"A": "mxd"})],
    );
    check(
        "sel:\n    A|startswith: 'pre'\ncondition: sel",
        &[json!({"A": "PREfix"})],
        &[json!({"A": "xpre"})],
    );
    check(
        "sel:\n    A|endswith: '.exe'\ncondition: sel",
        &[json!({"A": "a.EXE"})],
        &[json!({"A": "a.exe.txt"})],
    );
}

#[test]
fn lists_are_or_and_all_is_and() {
    check(
        "sel:\n    A|contains:\n        - foo\n        - bar\ncondition: sel",
        &[json!({"A": "xbar"}), json!({"A": "foo"})],
        &[json!({"A": "baz"})],
    );
    check(
        "sel:\n    A|contains|all:\n        - foo\n        - bar\ncondition: sel",
        &[json!({"A": "foo and bar"})],
        &[json!({"A": "foo"}), json!({"A": "bar"})],
    );
}

#[test]
fn list_of_maps_is_or_and_map_is_and() {
    check(
        "sel:\n    - A: 1\n      B: 2\n    - C: 3\ncondition: sel",
        &[json!({"A": 1, "B": "2"}), json!({"C": 3})],
        &[json!({"A": 1}), json!({"B": 2})],
    );
}

#[test]
fn wildcards_and_escaping() {
    check(
        "sel:\n    A: 'a*c'\ncondition: sel",
        &[json!({"A": "abbbc"}), json!({"A": "ac"})],
        &[json!({"A": "abd"})],
    );
    check(
        "sel:\n    A: 'a?c'\ncondition: sel",
        &[json!({"A": "abc"})],
        &[json!({"A": "ac"}), json!({"A": "abbc"})],
    );
    check(
        "sel:\n    A: 'a\\*c'\ncondition: sel",
        &[json!({"A": "a*c"})],
        &[json!({"A": "abc"})],
    );
    check(
        "sel:\n    A: 'a\\?c'\ncondition: sel",
        &[json!({"A": "a?c"})],
        &[json!({"A": "abc"})],
    );
    // `\\` is one backslash; a lone backslash before another character stays literal.
    check(
        "sel:\n    A: 'x\\\\*'\ncondition: sel",
        &[json!({"A": "x\\anything"})],
        &[json!({"A": "xy"})],
    );
    check(
        "sel:\n    A: 'C:\\Windows\\'\ncondition: sel",
        &[json!({"A": "C:\\Windows\\"})],
        &[],
    );
}

#[test]
fn numbers_match_strings_and_back() {
    check(
        "sel:\n    EventID: 4688\ncondition: sel",
        &[json!({"EventID": 4688}), json!({"EventID": "4688"})],
        &[json!({"EventID": 46880})],
    );
    check(
        "sel:\n    EventID: '4688'\ncondition: sel",
        &[json!({"EventID": 4688})],
        &[],
    );
    check(
        "sel:\n    Flag: true\ncondition: sel",
        &[json!({"Flag": true}), json!({"Flag": "True"})],
        &[json!({"Flag": false})],
    );
}

#[test]
fn null_values() {
    check(
        "sel:\n    A: null\ncondition: sel",
        &[json!({"B": 1}), json!({"A": null}), json!({"A": ""})],
        &[json!({"A": "x"})],
    );
    check(
        "sel:\n    A: 'x'\nfilter:\n    B: null\ncondition: sel and not filter",
        &[json!({"A": "x", "B": "y"})],
        &[json!({"A": "x"})],
    );
}

#[test]
fn keyword_detections() {
    check(
        "keywords:\n    - 'evil.com'\n    - 'bad thing'\ncondition: keywords",
        &[
            json!({"msg": "connect to EVIL.COM now"}),
            json!({"x": {"y": ["a bad thing"]}}),
        ],
        &[json!({"msg": "good.com"})],
    );
    check(
        "keywords:\n    '|all':\n        - foo\n        - bar\ncondition: keywords",
        &[json!({"a": "foo", "b": "bar"})],
        &[json!({"a": "foo"})],
    );
    // With a configured message field, keywords search only it.
    let opts = LoadOptions {
        keyword_field: Some("message".into()),
        ..Default::default()
    };
    let (set, p) = load_str(&rule("keywords:\n    - evil\ncondition: keywords"), &opts);
    assert!(p.is_empty());
    assert!(hits(&set, json!({"message": "so evil"})));
    assert!(!hits(&set, json!({"other": "so evil"})));
}

#[test]
fn regex_and_flags() {
    check(
        "sel:\n    A|re: '^a.c$'\ncondition: sel",
        &[json!({"A": "abc"})],
        &[json!({"A": "ABC"}), json!({"A": "xabc"})],
    );
    check(
        "sel:\n    A|re|i: '^a.c$'\ncondition: sel",
        &[json!({"A": "ABC"})],
        &[],
    );
    check(
        "sel:\n    A|re|m: '^b$'\ncondition: sel",
        &[json!({"A": "a\nb\nc"})],
        &[],
    );
    check(
        "sel:\n    A|re|s: 'a.b'\ncondition: sel",
        &[json!({"A": "a\nb"})],
        &[],
    );
    check(
        "sel:\n    A|re: 'a.b'\ncondition: sel",
        &[],
        &[json!({"A": "a\nb"})],
    );
}

#[test]
fn base64_modifiers() {
    // "foobar" → Zm9vYmFy
    check(
        "sel:\n    A|base64: 'foobar'\ncondition: sel",
        &[json!({"A": "Zm9vYmFy"})],
        &[json!({"A": "zm9vymfy"})],
    );
    check(
        "sel:\n    A|base64|contains: 'foobar'\ncondition: sel",
        &[json!({"A": "xxZm9vYmFyxx"})],
        &[],
    );
    // Spec example: base64offset|contains of /bin/bash.
    check(
        "sel:\n    A|base64offset|contains: '/bin/bash'\ncondition: sel",
        &[
            json!({"A": "echo L2Jpbi9iYXNo |"}),
            json!({"A": "IC9iaW4vYmFzaA=="}),
            json!({"A": "ICAvYmluL2Jhc2g="}),
        ],
        &[json!({"A": "/bin/bash"})],
    );
}

#[test]
fn utf16_modifiers() {
    // "ab" utf16le = 61 00 62 00 → YQBiAA== ; utf16be = 00 61 00 62 → AGEAYg==
    check(
        "sel:\n    A|wide|base64: 'ab'\ncondition: sel",
        &[json!({"A": "YQBiAA=="})],
        &[],
    );
    check(
        "sel:\n    A|utf16le|base64: 'ab'\ncondition: sel",
        &[json!({"A": "YQBiAA=="})],
        &[],
    );
    check(
        "sel:\n    A|utf16be|base64: 'ab'\ncondition: sel",
        &[json!({"A": "AGEAYg=="})],
        &[],
    );
    check(
        "sel:\n    A|utf16|base64: 'ab'\ncondition: sel",
        &[json!({"A": "//5hAGIA"})],
        &[],
    );
    assert!(load_error("sel:\n    A|wide: 'é'\ncondition: sel").contains("base64"));
}

#[test]
fn windash_modifier() {
    check(
        "sel:\n    CommandLine|windash|contains: ' -exec bypass'\ncondition: sel",
        &[
            json!({"CommandLine": "ps -exec bypass"}),
            json!({"CommandLine": "ps /exec bypass"}),
            json!({"CommandLine": "ps \u{2013}exec bypass"}),
            json!({"CommandLine": "ps \u{2014}exec bypass"}),
            json!({"CommandLine": "ps \u{2015}exec bypass"}),
        ],
        &[json!({"CommandLine": "ps exec bypass"})],
    );
}

#[test]
fn cidr_modifier() {
    check(
        "sel:\n    ip|cidr:\n        - 10.0.0.0/8\n        - 'fe80::/10'\ncondition: sel",
        &[json!({"ip": "10.1.2.3"}), json!({"ip": "fe80::1"})],
        &[json!({"ip": "11.0.0.1"}), json!({"ip": "not an ip"})],
    );
}

#[test]
fn exists_modifier() {
    check(
        "sel:\n    A|exists: true\ncondition: sel",
        &[json!({"A": ""}), json!({"A": 0})],
        &[json!({"B": 1})],
    );
    check(
        "sel:\n    A|exists: false\ncondition: sel",
        &[json!({"B": 1})],
        &[json!({"A": "x"})],
    );
}

#[test]
fn fieldref_modifier() {
    check(
        "sel:\n    A|fieldref: B\ncondition: sel",
        &[json!({"A": "x", "B": "X"})],
        &[json!({"A": "x", "B": "y"}), json!({"A": "x"})],
    );
    check(
        "sel:\n    A|fieldref|startswith: B\ncondition: sel",
        &[json!({"A": "xyz", "B": "xy"})],
        &[json!({"A": "xyz", "B": "yz"})],
    );
    check(
        "sel:\n    A|fieldref|endswith: B\ncondition: sel",
        &[json!({"A": "xyz", "B": "yz"})],
        &[],
    );
    check(
        "sel:\n    A|fieldref|contains: B\ncondition: sel",
        &[json!({"A": "xyz", "B": "y"})],
        &[],
    );
}

#[test]
fn numeric_comparisons() {
    check(
        "sel:\n    n|lt: 10\ncondition: sel",
        &[json!({"n": 9}), json!({"n": "9.5"})],
        &[json!({"n": 10}), json!({"n": "x"})],
    );
    check(
        "sel:\n    n|lte: 10\ncondition: sel",
        &[json!({"n": 10})],
        &[json!({"n": 11})],
    );
    check(
        "sel:\n    n|gt: 10\ncondition: sel",
        &[json!({"n": 11.5})],
        &[json!({"n": 10})],
    );
    check(
        "sel:\n    n|gte: 10\ncondition: sel",
        &[json!({"n": "10"})],
        &[json!({"n": 9})],
    );
}

#[test]
fn cased_modifier() {
    check(
        "sel:\n    A|cased: 'AbC'\ncondition: sel",
        &[json!({"A": "AbC"})],
        &[json!({"A": "abc"})],
    );
    check(
        "sel:\n    A|contains|cased: 'AbC'\ncondition: sel",
        &[json!({"A": "xAbCx"})],
        &[json!({"A": "xabcx"})],
    );
}

#[test]
fn expand_placeholders() {
    let text = rule("sel:\n    User|expand: '%admins%'\ncondition: sel");
    let (set, problems) = load_str(&text, &LoadOptions::default());
    assert!(problems.is_empty());
    assert!(set.warnings().iter().any(|w| w.reason.contains("%admins%")));
    assert!(!hits(&set, json!({"User": "%admins%"})));
    let mut placeholders = HashMap::new();
    placeholders.insert(
        "admins".to_string(),
        vec!["root".to_string(), "adm*".to_string()],
    );
    let opts = LoadOptions {
        placeholders,
        ..Default::default()
    };
    let (set, problems) = load_str(&text, &opts);
    assert!(problems.is_empty() && set.warnings().is_empty());
    assert!(hits(&set, json!({"User": "ROOT"})));
    assert!(hits(&set, json!({"User": "administrator"})));
    assert!(!hits(&set, json!({"User": "bob"})));
}

#[test]
fn condition_forms() {
    let d =
        "sel_a:\n    A: 1\nsel_b:\n    B: 1\n_hidden:\n    H: 1\nfilter:\n    F: 1\ncondition: ";
    let a = json!({"A": 1});
    let ab = json!({"A": 1, "B": 1});
    let abf = json!({"A": 1, "B": 1, "F": 1});
    check(&format!("{d}1 of sel_*"), &[a.clone()], &[json!({"F": 1})]);
    check(&format!("{d}all of sel_*"), &[ab.clone()], &[a.clone()]);
    check(
        &format!("{d}all of sel_* and not filter"),
        &[ab.clone()],
        &[abf.clone()],
    );
    check(
        &format!("{d}1 of them"),
        &[json!({"F": 1})],
        &[json!({"H": 1})],
    );
    check(
        &format!("{d}all of them"),
        &[abf.clone()],
        &[json!({"A": 1, "B": 1, "F": 1, "X": 1})
            .as_object()
            .map(|_| ab.clone())
            .unwrap_or_default()],
    );
    check(
        &format!("{d}sel_a or sel_b"),
        &[json!({"B": 1})],
        &[json!({"F": 1})],
    );
    check(
        &format!("{d}sel_a and (sel_b or filter)"),
        &[json!({"A": 1, "F": 1})],
        &[a.clone()],
    );
    check(
        &format!("{d}not (sel_a or sel_b)"),
        &[json!({"F": 1})],
        &[a.clone()],
    );
    check(
        &format!("{d}2 of sel_* or _hidden"),
        &[ab.clone(), json!({"H": 1})],
        &[a.clone()],
    );
    check(
        &format!("{d}sel_a and not 1 of filter*"),
        &[a.clone()],
        &[json!({"A": 1, "F": 1})],
    );
    // A list of conditions is an OR.
    check(
        &format!("{d}\n    - sel_a\n    - sel_b"),
        &[json!({"B": 1})],
        &[json!({"F": 1})],
    );
}

#[test]
fn detection_explains_the_match() {
    let set = compile(
        "sel:\n    Image|endswith: '\\cmd.exe'\n    CommandLine|contains: '/c'\ncondition: sel",
    );
    let d = set.detect(&json!({"Image": "C:\\x\\cmd.exe", "CommandLine": "cmd /c whoami"}));
    assert_eq!(d.len(), 1);
    let fields: Vec<&str> = d[0].matched.iter().map(|m| m.field.as_str()).collect();
    assert_eq!(fields, ["Image", "CommandLine"]);
    assert_eq!(d[0].matched[1].value, "cmd /c whoami");
    assert_eq!(d[0].rule.level.as_deref(), Some("high"));
}

#[test]
fn meta_filters_exclude_without_editing_the_rule() {
    let text = format!(
        "{}---\ntitle: not on DCs\nlogsource:\n    product: test\nfilter:\n    rules:\n        - r1\n    selection:\n        Computer|startswith: 'DC'\n    condition: not selection\n",
        rule("sel:\n    A: x\ncondition: sel")
    );
    let (set, problems) = load_str(&text, &LoadOptions::default());
    assert!(problems.is_empty(), "{problems:?}");
    assert!(hits(&set, json!({"A": "x", "Computer": "WS1"})));
    assert!(!hits(&set, json!({"A": "x", "Computer": "DC01"})));
}

#[test]
fn bad_rules_are_reported_and_others_still_load() {
    let good = rule("sel:\n    A: x\ncondition: sel");
    let huge: String = (0..20_000).map(|i| format!("        - v{i}\n")).collect();
    let docs = [
        good.clone(),
        "title: broken\n  detection: [\n".to_string(),
        rule("sel:\n    A|frobnicate: x\ncondition: sel"),
        rule(&format!(
            "sel:\n    A:\n{}condition: sel",
            huge.replace("        -", "    -")
        )),
        rule("sel:\n    A|re: '((a{1000}){1000}){1000}'\ncondition: sel"),
        rule("sel:\n    A|re: '(?<=x)y'\ncondition: sel"),
        rule("sel:\n    A: x\ncondition: sel and missing"),
        rule("sel:\n    A: x\ncondition: sel | count() > 5"),
    ];
    let mut loader = vigil_detect::Loader::new(LoadOptions::default());
    for (i, d) in docs.iter().enumerate() {
        loader.add_str(std::path::Path::new(&format!("rule{i}.yml")), d);
    }
    let (set, problems) = loader.finish();
    assert_eq!(set.len(), 1, "only the good rule loads");
    assert!(hits(&set, json!({"A": "x"})));
    let reasons: Vec<String> = problems
        .iter()
        .map(|p| format!("{}: {}", p.path.display(), p.reason))
        .collect();
    let has = |file: &str, text: &str| {
        reasons
            .iter()
            .any(|r| r.starts_with(file) && r.contains(text))
    };
    assert!(has("rule1.yml", "invalid YAML"), "{reasons:#?}");
    assert!(
        has("rule2.yml", "unknown modifier 'frobnicate'"),
        "{reasons:#?}"
    );
    assert!(has("rule3.yml", "exceeds the limit"), "{reasons:#?}");
    assert!(has("rule4.yml", "too big"), "{reasons:#?}");
    assert!(has("rule5.yml", "look-around"), "{reasons:#?}");
    assert!(
        has("rule6.yml", "unknown search identifier 'missing'"),
        "{reasons:#?}"
    );
    assert!(has("rule7.yml", "deprecated"), "{reasons:#?}");
    assert!(
        problems
            .iter()
            .all(|p| p.severity == Severity::Error && p.rule_id.as_deref() != Some("zz"))
    );
    assert!(
        problems
            .iter()
            .filter(|p| p.path.ends_with("rule2.yml"))
            .all(|p| p.title.as_deref() == Some("t"))
    );
}

#[test]
fn all_problems_of_a_rule_are_collected() {
    let text = "title: t\nlevel: extreme\nlogsource: {product: x}\ndetection:\n    a:\n        B|nope: 1\n    c:\n        D|re: '('\n    condition: a and zz\n";
    let (_, problems) = load_str(text, &LoadOptions::default());
    assert!(problems.len() >= 4, "{problems:#?}");
}

#[test]
fn windows_pipeline_routes_and_renames() {
    let text = "title: t\nid: pc\nlogsource:\n    category: process_creation\n    product: windows\ndetection:\n    sel:\n        Image|endswith: '\\whoami.exe'\n    condition: sel\n";
    let (set, problems) = load_str(text, &LoadOptions::windows());
    assert!(problems.is_empty());
    let sysmon = json!({"Channel": "Microsoft-Windows-Sysmon/Operational", "EventID": 1, "Image": "C:\\whoami.exe"});
    let security =
        json!({"Channel": "Security", "EventID": 4688, "NewProcessName": "C:\\whoami.exe"});
    let wrong_eid = json!({"Channel": "Microsoft-Windows-Sysmon/Operational", "EventID": 3, "Image": "C:\\whoami.exe"});
    assert!(hits(&set, sysmon));
    assert!(hits(&set, security));
    assert!(!hits(&set, wrong_eid));
    // Unmapped products are loaded, reported, not evaluated.
    let text = "title: t\nlogsource:\n    product: aws\n    service: cloudtrail\ndetection:\n    sel:\n        x: y\n    condition: sel\n";
    let (set, problems) = load_str(text, &LoadOptions::windows());
    assert!(problems.is_empty());
    assert_eq!(set.stats().unmapped, 1);
    assert!(!hits(&set, json!({"x": "y"})));
}

#[test]
fn unknown_top_level_keys_are_kept() {
    let text = "title: t\nlogsource: {product: x}\ndetection: {s: {a: 1}, condition: s}\ncustom_key: {x: 1}\n";
    let mut loader = vigil_detect::Loader::new(LoadOptions::default());
    loader.add_str(std::path::Path::new("x.yml"), text);
    let (set, problems) = loader.finish();
    assert!(problems.is_empty());
    assert_eq!(set.len(), 1);
}

#[test]
fn rule_model_parses_and_keeps_unknown_keys() {
    let text = "title: t\nid: x\nstatus: test\ntags: [attack.t1059]\nlogsource: {product: windows, category: process_creation}\ndetection: {s: {a: 1}, condition: s}\nmy_key: [1, 2]\nlevel: bogus\n";
    let (rule, problems) = vigil_detect::SigmaRule::parse(text).unwrap_or_default();
    assert_eq!(rule.id.as_deref(), Some("x"));
    assert_eq!(rule.tags, ["attack.t1059"]);
    assert_eq!(rule.logsource.category.as_deref(), Some("process_creation"));
    assert_eq!(rule.extra.get("my_key"), Some(&json!([1, 2])));
    assert_eq!(problems, ["unknown level 'bogus'"]);
    assert!(vigil_detect::SigmaRule::parse("a: [").is_err());
}

/// Regression found by the pySigma comparison (reference/compare_pysigma.py): fieldless
/// `'|all': [..]` keyword lists (SigmaHQ win_exchange_proxylogon_oabvirtualdir,
/// win_exchange_set_oabvirtualdirectory_externalurl, the BGP and ProxyShell rules) matched
/// only whole values instead of substrings of the text.
#[test]
fn keyword_all_modifier_is_substring_search() {
    check(
        "keywords:\n    '|all':\n        - 'Set-OabVirtualDirectory'\n        - 'Page_Load'\ncondition: keywords",
        &[
            json!({"Message": "Cmdlet Set-OabVirtualDirectory, -ExternalUrl \"<script> function Page_Load(){}\""}),
        ],
        &[json!({"Message": "Cmdlet Set-OabVirtualDirectory"})],
    );
    // With an explicit position, that position holds.
    check(
        "keywords:\n    '|startswith':\n        - 'cmdlet'\ncondition: keywords",
        &[json!({"Message": "Cmdlet x"})],
        &[json!({"Message": "a Cmdlet"})],
    );
}
