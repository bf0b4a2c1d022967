//! The loader reports every problem with its file and path, and loads the other rules.

#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::disallowed_methods,
    clippy::field_reassign_with_default
)]

use vigil_correlate::{json_schema, load_str};

#[test]
fn every_problem_is_listed_with_its_path() {
    let text = r#"
active_lists:
  - {name: seen, key: [ip]}
context_tables:
  - {name: broken, key: [host], columns: {criticality: integer}}
  - {name: assets, key: [host], columns: {host: string, criticality: integer}}
rules:
  - id: ok
    name: fine
    kind: simple
    selectors: [{name: a, query: 'event.action:login'}]
  - id: bad
    name: many problems
    kind: standard
    window: 5 minutes
    group_by: [source.ip]
    selectors:
      - {name: a, query: 'source.ip:notanip', threshold: 0}
      - {name: a, query: 'x | stats count()'}
      - name: c
        query: 'event.action:x'
        lists: [{list: nosuch, key: [source.ip]}, {list: seen, key: [a, b]}]
        join: {user.name: a.user.name}
    actions:
      lists: [{list: seen, op: get, key: [source.ip]}, {list: assets, op: set, key: [host.name], set: {owner: me}}]
  - id: ok
    name: duplicate id
    kind: simple
    selectors: [{name: a, query: '*'}]
"#;
    let (rules, problems) = load_str("pack.yaml", text);
    let got: Vec<String> = problems
        .iter()
        .map(|p| format!("{}: {}", p.at, p.message.lines().last().unwrap_or("")))
        .collect();
    let want_prefixes = [
        "context_tables[0].key: key column 'host' is not among the columns",
        "rules[2].id: rule id 'ok' is also used in pack.yaml",
        "rules[1].window: unknown unit",
        "rules[1].actions.lists[1]: 'assets' has no column 'owner'",
        "rules[1].selectors[0].query:",
        "rules[1].selectors[0].threshold: must be between 1 and 10000",
        "rules[1].selectors[1].name: 'a' is used twice",
        "rules[1].selectors[1].query: a selector is a filter: no '|' stages",
        "rules[1].selectors[2].lists[0].list: no active list or context table named 'nosuch'",
        "rules[1].selectors[2].lists[1].key: 'seen' has 1 key column(s), 2 field(s) given",
        "rules[1].selectors[2].join: joins apply to sequence steps",
    ];
    for w in want_prefixes {
        assert!(
            got.iter().any(|g| g.starts_with(w)),
            "missing '{w}' in {got:#?}"
        );
    }
    assert!(
        problems
            .iter()
            .all(|p| p.file.to_str() == Some("pack.yaml"))
    );
    assert_eq!(rules.rules.len(), 1, "the good rule loads");
}

#[test]
fn structural_errors_name_the_field() {
    let (_, problems) = load_str("r.yaml", "id: x\nname: y\nkind: standrd\nselectors: []\n");
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0].at, "kind");
    assert!(
        problems[0].message.contains("unknown variant"),
        "{:?}",
        problems[0]
    );
    let (_, problems) = load_str(
        "r.yaml",
        "id: x\nname: y\nkind: simple\nselectors: [{name: a, query: '*', colour: red}]\n",
    );
    assert_eq!(problems[0].at, "selectors[0].colour");
    assert!(problems[0].message.contains("unknown field `colour`"));
    let (_, problems) = load_str("r.yaml", "id: x\n  bad: [\n");
    assert!(problems[0].message.starts_with("invalid YAML"));
}

#[test]
fn bad_sigma_block_is_reported_and_only_its_rule_dropped() {
    let text = r#"
rules:
  - id: s1
    name: bad sigma
    kind: simple
    selectors: [{name: a, sigma: {selection: {x|nosuchmodifier: 1}, condition: selection}}]
  - id: s2
    name: good sigma
    kind: simple
    selectors: [{name: a, sigma: {selection: {x: 1}, condition: selection}}]
"#;
    let (rules, problems) = load_str("s.yaml", text);
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert_eq!(problems[0].at, "rules[0].selectors[0].sigma");
    assert_eq!(
        rules
            .rules
            .iter()
            .map(|r| r.id.as_str())
            .collect::<Vec<_>>(),
        ["s2"]
    );
}

/// docs/correlation.schema.json is generated from the rule types (`VIGIL_BLESS=1` rewrites it).
#[test]
fn json_schema_is_current() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/correlation.schema.json"
    );
    let want = serde_json::to_string_pretty(&json_schema()).unwrap_or_default() + "\n";
    if std::env::var_os("VIGIL_BLESS").is_some() {
        std::fs::write(path, &want).unwrap_or_else(|e| panic!("{path}: {e}"));
    }
    let have = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        have == want,
        "docs/correlation.schema.json is stale: VIGIL_BLESS=1 cargo test -p vigil-correlate --test load"
    );
}
