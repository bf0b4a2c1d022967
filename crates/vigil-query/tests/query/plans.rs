//! Query text → plan, shown as compact S-expressions so the table stays readable.

use vigil_query::{
    AggFunc, CmpOp, Expr, FieldType, SimpleSchema, Stage, Term, Value, parse, parse_with,
};

fn v(x: &Value) -> String {
    match x {
        Value::Str(s) => format!("{s:?}"),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => format!("{f:?}f"),
        Value::Bool(b) => b.to_string(),
        Value::Ip(ip) => format!("ip:{ip}"),
        Value::Time(t) => format!("t:{t}"),
    }
}

pub fn sx(e: &Expr) -> String {
    let list = |tag: &str, xs: &[Expr]| {
        format!(
            "({tag} {})",
            xs.iter().map(sx).collect::<Vec<_>>().join(" ")
        )
    };
    match e {
        Expr::MatchAll => "all".into(),
        Expr::And(xs) => list("and", xs),
        Expr::Or(xs) => list("or", xs),
        Expr::Not(x) => format!("(not {})", sx(x)),
        Expr::Term(t) => match t {
            Term::Eq {
                field,
                value,
                case_sensitive,
            } => {
                format!(
                    "({} {field} {})",
                    if *case_sensitive { "eq!" } else { "eq" },
                    v(value)
                )
            }
            Term::Wildcard {
                field,
                pattern,
                case_sensitive,
            } => {
                format!(
                    "({} {field} {pattern:?})",
                    if *case_sensitive { "glob!" } else { "glob" }
                )
            }
            Term::Regex { field, pattern } => format!("(re {field} {pattern:?})"),
            Term::Compare { field, op, value } => format!("({} {field} {})", op.as_str(), v(value)),
            Term::Range {
                field,
                lower,
                upper,
            } => format!(
                "(range {field} {} {})",
                lower.as_ref().map_or("*".into(), |b| format!(
                    "{}{}",
                    if b.inclusive { "[" } else { "{" },
                    v(&b.value)
                )),
                upper.as_ref().map_or("*".into(), |b| format!(
                    "{}{}",
                    v(&b.value),
                    if b.inclusive { "]" } else { "}" }
                )),
            ),
            Term::In { field, values } => {
                format!(
                    "(in {field} {})",
                    values.iter().map(v).collect::<Vec<_>>().join(" ")
                )
            }
            Term::Cidr { field, net } => format!("(cidr {field} {net})"),
            Term::Exists { field } => format!("(exists {field})"),
            Term::Text(s) => format!("(text {s:?})"),
            Term::TextWildcard(p) => format!("(textglob {p:?})"),
        },
    }
}

#[test]
fn filter_table() {
    let cases: &[(&str, &str)] = &[
        ("", "all"),
        ("*", "all"),
        ("failed", r#"(text "failed")"#),
        (r#""Failed password""#, r#"(text "Failed password")"#),
        ("user.name:root", r#"(eq user.name "root")"#),
        ("user.name=root", r#"(eq user.name "root")"#),
        ("user.name == Root", r#"(eq! user.name "Root")"#),
        (
            r#"user.name:"john \"jd\" doe""#,
            r#"(eq user.name "john \"jd\" doe")"#,
        ),
        ("user.name:adm*", r#"(glob user.name "adm*")"#),
        ("user.name:a?m", r#"(glob user.name "a?m")"#),
        (r#"file.name:a\*b"#, r#"(eq file.name "a*b")"#),
        (r#"user.name:"adm*""#, r#"(eq user.name "adm*")"#),
        (
            r"process.executable:C:\Windows\System32\cmd.exe",
            r#"(eq process.executable "C:\\Windows\\System32\\cmd.exe")"#,
        ),
        (
            r"process.executable:C:\Windows\\*",
            r#"(glob process.executable "C:\\\\Windows\\\\*")"#,
        ),
        ("fail*ed", r#"(textglob "fail*ed")"#),
        ("event.code:4625", "(eq event.code 4625)"),
        ("x:-4.5", "(eq x -4.5f)"),
        ("source.ip:10.0.0.1", "(eq source.ip ip:10.0.0.1)"),
        ("source.ip:10.1.2.3/8", "(cidr source.ip 10.0.0.0/8)"),
        ("source.ip:fe80::1", "(eq source.ip ip:fe80::1)"),
        ("source.ip:2001:db8::/32", "(cidr source.ip 2001:db8::/32)"),
        ("source.ip:10.0.*", r#"(glob source.ip "10.0.*")"#),
        (
            "@timestamp>=2024-01-01T00:00:00Z",
            "(>= @timestamp t:1704067200000000000)",
        ),
        ("event.severity>3", "(> event.severity 3)"),
        ("event.severity > 3", "(> event.severity 3)"),
        ("event.severity<=3", "(<= event.severity 3)"),
        ("event.severity<3", "(< event.severity 3)"),
        ("user.name!=root", r#"(!= user.name "root")"#),
        ("user.name!=adm*", r#"(not (glob user.name "adm*"))"#),
        ("bytes:[10 TO 20]", "(range bytes [10 20])"),
        ("bytes:{10 TO 20}", "(range bytes {10 20})"),
        ("bytes:[10 TO *]", "(range bytes [10 *)"),
        ("bytes:[* to 20}", "(range bytes * 20})"),
        (
            r#"user.name in (a, "b c", 3)"#,
            r#"(in user.name "a" "b c" 3)"#,
        ),
        ("user.name IN(a,b)", r#"(in user.name "a" "b")"#),
        (
            "process.name:/^cmd\\.exe$/",
            r#"(re process.name "^cmd\\.exe$")"#,
        ),
        ("url.path:/a\\/b/", r#"(re url.path "a/b")"#),
        ("exists(user.name)", "(exists user.name)"),
        ("user.name:*", "(exists user.name)"),
        ("`odd name`:x", r#"(eq odd name "x")"#),
        ("a b", r#"(and (text "a") (text "b"))"#),
        ("a AND b and c", r#"(and (text "a") (text "b") (text "c"))"#),
        (
            "a && b || c",
            r#"(or (and (text "a") (text "b")) (text "c"))"#,
        ),
        ("a OR b c", r#"(or (text "a") (and (text "b") (text "c")))"#),
        (
            "(a OR b) c",
            r#"(and (or (text "a") (text "b")) (text "c"))"#,
        ),
        ("NOT a", r#"(not (text "a"))"#),
        ("not a", r#"(not (text "a"))"#),
        ("-a", r#"(not (text "a"))"#),
        ("!user.name:root", r#"(not (eq user.name "root"))"#),
        (
            "-user.name:root b",
            r#"(and (not (eq user.name "root")) (text "b"))"#,
        ),
        ("NOT (a OR b)", r#"(not (or (text "a") (text "b")))"#),
        ("a-b", r#"(text "a-b")"#),
        ("Ошибка", r#"(text "Ошибка")"#),
        ("event.outcome:true", "(eq event.outcome true)"),
        ("x:2024-01-01", "(eq x t:1704067200000000000)"),
    ];
    for (q, want) in cases {
        let got = parse(q).unwrap_or_else(|e| panic!("{q:?}: {}", e.render(q)));
        assert_eq!(sx(&got.filter), *want, "query {q:?}");
        assert!(got.stages.is_empty(), "query {q:?}");
    }
}

#[test]
fn stage_table() {
    let cases: &[(&str, &str)] = &[
        (
            "| count by process.name",
            "* | stats count() by process.name",
        ),
        ("* | count", "* | stats count()"),
        ("x | count as n by a, b", "x | stats count() as n by a, b"),
        (
            "| stats count(), dc(user.name) as users, sum(bytes), avg(bytes), min(bytes), max(bytes), percentile(bytes, 95) by host.name",
            "* | stats count(), dc(user.name) as users, sum(bytes), avg(bytes), min(bytes), max(bytes), percentile(bytes, 95) by host.name",
        ),
        (
            "| STATS p99(x) distinct_count(y) mean(z)",
            "* | stats percentile(x, 99), dc(y), avg(z)",
        ),
        ("| stats count by a b", "* | stats count() by a, b"),
        (
            "| where event.severity >= 3 | fields a, b",
            "* | where event.severity>=3 | fields a, b",
        ),
        ("| fields a b", "* | fields a, b"),
        ("| sort -a, b | head 5", "* | sort -a, b | head 5"),
        ("| sort a desc, b asc", "* | sort -a, b"),
        ("| head", "* | head 10"),
        ("| limit 3", "* | head 3"),
        (
            "| timechart span=5m count() by host.name",
            "* | timechart span=5m count() by host.name",
        ),
        ("| timechart span=3600s", "* | timechart span=1h count()"),
        ("| timechart avg(x)", "* | timechart avg(x)"),
        ("| top 5 user.name", "* | top 5 user.name"),
        ("| top user.name", "* | top 10 user.name"),
        ("| top limit=3 a, b", "* | top 3 a, b"),
        ("| rare process.name", "* | rare 10 process.name"),
    ];
    for (q, want) in cases {
        let got = parse(q).unwrap_or_else(|e| panic!("{q:?}: {}", e.render(q)));
        assert_eq!(got.to_string(), *want, "query {q:?}");
        assert_eq!(
            parse(want).unwrap(),
            got,
            "canonical text of {q:?} reparses"
        );
    }
}

#[test]
fn count_by_is_stats_count() {
    let q = parse("event.category:process | count by process.name").unwrap();
    assert_eq!(
        q.stages,
        vec![Stage::Stats {
            aggs: vec![vigil_query::Agg {
                func: AggFunc::Count(None),
                alias: None
            }],
            by: vec!["process.name".into()],
        }]
    );
}

#[test]
fn canonical_display() {
    let cases: &[(&str, &str)] = &[
        ("a b OR c", "a AND b OR c"),
        ("(a OR b) c", "(a OR b) AND c"),
        ("NOT (a b)", "NOT (a AND b)"),
        (r#"user.name:"x y""#, r#"user.name:"x y""#),
        (r#"user.name:"42""#, r#"user.name:"42""#),
        ("`odd name`:x", "`odd name`:x"),
        ("`and`:x", "`and`:x"),
        ("user.name:adm\\ *", "user.name:adm\\ *"),
        ("bytes:{1 TO *]", "bytes:{1 TO *]"),
        ("x in (a,\"b c\" , 3)", r#"x in (a, "b c", 3)"#),
        (
            "@timestamp>=2024-01-01T00:00:00.5+01:00",
            "@timestamp>=2023-12-31T23:00:00.500Z",
        ),
        ("url:/a\\/b/", "url:/a\\/b/"),
        (r#""with \"quote\" and \\""#, r#""with \"quote\" and \\""#),
    ];
    for (q, want) in cases {
        let plan = parse(q).unwrap();
        assert_eq!(plan.to_string(), *want, "query {q:?}");
        assert_eq!(parse(want).unwrap(), plan, "reparse {want:?}");
    }
}

#[test]
fn schema_types_and_aliases() {
    let schema = SimpleSchema::new()
        .with_alias("SourceAddress", "source.ip")
        .with_type("source.ip", FieldType::Ip)
        .with_type("event.severity", FieldType::Int)
        .with_type("event.duration", FieldType::Float)
        .with_type("user.name", FieldType::String)
        .with_type("event.outcome_ok", FieldType::Bool)
        .with_type("@timestamp", FieldType::Time);
    let cases: &[(&str, &str)] = &[
        ("SourceAddress:10.0.0.0/8", "(cidr source.ip 10.0.0.0/8)"),
        (r#"source.ip:"10.0.0.1""#, "(eq source.ip ip:10.0.0.1)"),
        (r#"event.severity>"3""#, "(> event.severity 3)"),
        ("event.duration>3", "(> event.duration 3.0f)"),
        ("user.name:42", r#"(eq user.name "42")"#),
        ("user.name:10.0.0.0/8", r#"(eq user.name "10.0.0.0/8")"#),
        ("event.outcome_ok:TRUE", "(eq event.outcome_ok true)"),
        (
            "@timestamp<2024-01-01",
            "(< @timestamp t:1704067200000000000)",
        ),
    ];
    for (q, want) in cases {
        let got = parse_with(q, &schema).unwrap_or_else(|e| panic!("{q:?}: {}", e.render(q)));
        assert_eq!(sx(&got.filter), *want, "query {q:?}");
    }
    let q = parse_with(
        "| stats dc(SourceAddress) by SourceAddress | sort -SourceAddress",
        &schema,
    )
    .unwrap();
    assert_eq!(
        q.to_string(),
        "* | stats dc(source.ip) by source.ip | sort -source.ip"
    );
}

#[test]
fn resolve_fields_after_parse() {
    let mut q = parse("SourceAddress:10.0.0.1 | where DestinationPort>80 | count by SourceAddress")
        .unwrap();
    let map = |f: &str| match f {
        "SourceAddress" => Some("source.ip".to_owned()),
        "DestinationPort" => Some("destination.port".to_owned()),
        _ => None,
    };
    q.resolve_fields(&map);
    assert_eq!(
        q.to_string(),
        "source.ip:10.0.0.1 | where destination.port>80 | stats count() by source.ip"
    );
    assert_eq!(q.fields(), vec!["source.ip", "destination.port"]);
}

#[test]
fn plan_is_serde_serializable() {
    let q =
        parse(r#"source.ip:10.0.0.0/8 user.name:adm* NOT "x" | where n>1 | stats count() by a"#)
            .unwrap();
    let json = serde_json::to_string(&q).unwrap();
    let back: vigil_query::Query = serde_json::from_str(&json).unwrap();
    assert_eq!(back, q);
    assert!(
        json.contains(r#""cidr":{"field":"source.ip","net":"10.0.0.0/8"}"#),
        "{json}"
    );
}

#[test]
fn compare_op_terms_are_typed() {
    let q = parse("x!=3").unwrap();
    assert_eq!(
        q.filter,
        Expr::Term(Term::Compare {
            field: "x".into(),
            op: CmpOp::Ne,
            value: Value::Int(3)
        })
    );
}

#[test]
fn lookup_names_a_list_and_the_key_fields() {
    let q = parse(
        "event.action:ssh_login | lookup blocked_ips on source.ip | where blocked_ips.reason:*",
    )
    .unwrap();
    assert_eq!(
        q.stages[0],
        Stage::Lookup {
            list: "blocked_ips".into(),
            on: vec!["source.ip".into()]
        }
    );
    assert_eq!(
        q.to_string(),
        parse(&q.to_string()).unwrap().to_string(),
        "the text round-trips"
    );
    assert!(
        q.to_string()
            .contains("| lookup blocked_ips on source.ip |"),
        "{q}"
    );
    let q = parse("x | lookup owners").unwrap();
    assert_eq!(
        q.stages[0],
        Stage::Lookup {
            list: "owners".into(),
            on: vec![]
        }
    );
    let q = parse("x | lookup owners on host.name, service.name").unwrap();
    assert_eq!(q.stages[0].fields(), vec!["host.name", "service.name"]);
    let e = parse("x | lookup").unwrap_err().to_string();
    assert!(
        e.contains("expected a list or table name after 'lookup'"),
        "{e}"
    );
    let e = parse("x | lookup owners on").unwrap_err().to_string();
    assert!(
        e.contains("expected at least one field name after 'on'"),
        "{e}"
    );
    // the executor does not run it: the search service does, with the live lists
    let e = vigil_query::Executor::new(&parse("x | lookup owners").unwrap(), Default::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("reads active lists"), "{e}");
}
