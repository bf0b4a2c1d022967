//! Arbitrary input never panics.

use proptest::prelude::*;
use serde_json::json;
use vigil_detect::{LoadOptions, load_str};

const RULES: &str = r#"
title: a
logsource: {product: x}
detection:
    s1: {A|contains|all: [foo, bar], B|re: '^x.*y$', C|cidr: 10.0.0.0/8}
    s2: {A|base64offset|contains: evil, B|windash|contains: ' -enc', D|gte: 5}
    s3: {A|fieldref: B, E: null, F|exists: true, G: 'a*b?c'}
    kw: ['needle', 'other thing']
    condition: 1 of s* or kw or not s3
"#;

proptest! {
    #[test]
    fn arbitrary_field_values_never_panic(a in ".*", b in ".*", c in "\\PC*", n in any::<i64>(), f in any::<f64>()) {
        let (set, problems) = load_str(RULES, &LoadOptions::default());
        prop_assert!(problems.is_empty());
        let ev = json!({"A": a, "B": b, "C": c, "D": n, "E": f, "G": [a, n]});
        let _ = set.detect(&ev);
    }

    #[test]
    fn arbitrary_rule_text_never_panics(text in "\\PC{0,300}") {
        let _ = load_str(&text, &LoadOptions::default());
    }

    #[test]
    fn arbitrary_conditions_never_panic(cond in "[a-z1 ()*|_]{0,60}") {
        let text = format!("title: t\nlogsource: {{product: x}}\ndetection:\n    sel: {{A: 1}}\n    condition: '{cond}'\n");
        let _ = load_str(&text, &LoadOptions::default());
    }
}
