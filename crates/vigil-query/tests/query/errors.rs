//! Error messages: exact text, with the column.

use vigil_query::{FieldType, QueryError, SimpleSchema, parse, parse_with};

fn err(q: &str) -> String {
    match parse(q) {
        Ok(plan) => panic!("{q:?} parsed as {plan}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn messages() {
    let cases: &[(&str, &str)] = &[
        (
            "user.name:",
            "expected a value after 'user.name:' at column 11",
        ),
        (
            "user.name: root",
            "expected a value after 'user.name:' at column 11",
        ),
        (
            "user.name:)",
            "expected a value after 'user.name:' at column 11",
        ),
        ("x>", "expected a value after 'x>' at column 3"),
        ("x = ", "expected a value after 'x=' at column 5"),
        (
            "user.name:(a OR b)",
            "expected a value after 'user.name:' at column 11; to match several values write 'user.name in (a, b)'",
        ),
        (
            "event.category:process | stat count()",
            "unknown stage 'stat' at column 26; did you mean 'stats'?",
        ),
        (
            "a | frobnicate",
            "unknown stage 'frobnicate' at column 5; expected one of: where, fields, sort, head, limit, stats, count, timechart, top, rare, lookup",
        ),
        (
            "a |",
            "expected a stage name after '|', found end of query at column 4",
        ),
        (
            "(a OR b",
            "expected ')' to close '(' at column 1, found end of query at column 8",
        ),
        ("a)", "unbalanced ')': no '(' to close at column 2"),
        (
            "\"abc",
            "unterminated quoted string: missing closing '\"' at column 1",
        ),
        ("a AND", "expected a search term after AND at column 6"),
        ("a OR", "expected a search term after OR at column 5"),
        ("NOT", "expected a search term after NOT at column 4"),
        ("AND a", "expected a search term, found 'AND' at column 1"),
        ("()", "empty parentheses at column 2"),
        (
            "x in ()",
            "expected at least one value in the 'in' list at column 7",
        ),
        (
            "x in (a b)",
            "expected ',' or ')' in the 'in' list starting at column 6, found 'b)' at column 9",
        ),
        (
            "x in (a*)",
            "wildcards are not allowed in an 'in' list at column 7; use (field:a* OR field:b*)",
        ),
        ("bytes:[1 TO", "expected a range limit or '*' at column 12"),
        (
            "bytes:[1 20]",
            "expected 'TO' in the range starting at column 7 at column 10",
        ),
        (
            "bytes:[1 TO 2",
            "expected ']' or '}' to close the range starting at column 7 at column 13",
        ),
        ("x>a*", "wildcards are not allowed with '>' at column 3"),
        (
            "x>10.0.0.0/8",
            "a CIDR network cannot be compared with '>'; use x:NETWORK at column 3",
        ),
        ("x:/ab(/", "invalid regex: unclosed group at column 3"),
        (
            "x:/ab",
            "unterminated regex: missing closing '/' at column 3",
        ),
        (
            "exists(x",
            "expected ')' after the field name in exists(...) at column 9",
        ),
        ("`x", "unterminated backquoted field name at column 1"),
        (
            "| stats",
            "expected an aggregation at column 8; e.g. 'stats count() by host.name'",
        ),
        (
            "| stats cont() by a",
            "unknown aggregation function 'cont' at column 9; did you mean 'count'?",
        ),
        ("| stats sum", "expected '(' after 'sum' at column 12"),
        ("| stats sum(a, b)", "'sum' takes 1 argument at column 9"),
        (
            "| stats percentile(x, 150)",
            "percentile must be a number from 0 to 100, found '150' at column 23",
        ),
        (
            "| stats count() by",
            "expected at least one field name after 'by' at column 19",
        ),
        ("| head x", "expected a number, found 'x' at column 8"),
        ("| head 5 6", "unexpected '6' in 'head' at column 10"),
        (
            "| timechart span=5q",
            "invalid span '5q': use a number and s, m, h, d or w (e.g. 5m) at column 18",
        ),
        (
            "| timechart span=0m",
            "span must be greater than zero and fit in 64 bits at column 18",
        ),
        (
            "| timechart count() by a, b",
            "timechart splits by at most one field at column 21",
        ),
        (
            "| where",
            "expected an expression after 'where' at column 8",
        ),
        (
            "| fields",
            "expected at least one field name after 'fields' at column 9",
        ),
        (
            "| sort",
            "expected at least one field name after 'sort' at column 7",
        ),
    ];
    let mut failures = Vec::new();
    for (q, want) in cases {
        let got = err(q);
        if got != *want {
            failures.push(format!("{q:?}\n   got: {got}\n  want: {want}"));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn type_mismatch_errors() {
    let schema = SimpleSchema::new()
        .with_type("event.severity", FieldType::Int)
        .with_type("source.ip", FieldType::Ip)
        .with_type("@timestamp", FieldType::Time);
    let cases: &[(&str, &str)] = &[
        (
            "event.severity>high",
            "field 'event.severity' is int: 'high' is not an integer at column 16",
        ),
        (
            "source.ip:nobody",
            "field 'source.ip' is ip: 'nobody' is not an IP address or CIDR network at column 11",
        ),
        (
            "@timestamp>=yesterday",
            "field '@timestamp' is time: 'yesterday' is not a timestamp (RFC 3339 or YYYY-MM-DD) at column 13",
        ),
        (
            "event.severity:3*",
            "wildcards are not allowed on field 'event.severity' of type int; use a range or a comparison at column 16",
        ),
        (
            "event.severity in (1, x)",
            "field 'event.severity' is int: 'x' is not an integer at column 23",
        ),
    ];
    for (q, want) in cases {
        let got = parse_with(q, &schema).unwrap_err().to_string();
        assert_eq!(got, *want, "query {q:?}");
    }
}

#[test]
fn render_draws_a_caret() {
    let q = "event.category:process | stat count()";
    let e = parse(q).unwrap_err();
    assert_eq!(
        e.render(q),
        "event.category:process | stat count()\n\
         \x20                        ^ unknown stage 'stat' at column 26; did you mean 'stats'?"
    );
    assert_eq!(e.column(), Some(26));
}

#[test]
fn limits() {
    let deep = format!("{}a{}", "(".repeat(200), ")".repeat(200));
    assert!(err(&deep).starts_with("query is nested too deeply"));
    let nots = format!("{}a", "NOT ".repeat(200));
    assert!(err(&nots).starts_with("query is nested too deeply"));
    let long = "a ".repeat(40_000);
    assert!(err(&long).starts_with("query is too long"));
    let big = "x:/a{1000}{1000}/";
    assert!(err(big).starts_with("regex is too large"), "{}", err(big));
    assert!(matches!(parse("(a"), Err(QueryError::Syntax { .. })));
}

#[test]
fn readme_examples_parse() {
    for q in [
        r#"event.category:authentication "Failed password" NOT user.name:adm* source.ip:10.0.0.0/8 | stats count() as attempts, dc(user.name) as users by source.ip | where attempts > 10 | sort -attempts | head 20"#,
        "event.category:process | count by process.name",
        "| stats count(), avg(event.duration), p95(event.duration) by host.name",
        "| timechart span=1h count() by event.outcome",
        "event.code:4625 | top 5 source.ip",
        "| stats count() as n by user.name | where n > 100 | sort -n",
        r"process.executable:C:\Windows\\*",
        r"file.name:report\*.txt",
        "bytes:[100 TO *]",
        "user.name in (alice, \"bob smith\", 3)",
    ] {
        parse(q).unwrap_or_else(|e| panic!("{}", e.render(q)));
    }
}
