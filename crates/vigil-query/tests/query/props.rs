//! Properties: no input panics; canonical text reparses to the same plan.

use std::net::IpAddr;

use proptest::prelude::*;
use serde_json::json;
use vigil_query::{
    Agg, AggFunc, Bound, CmpOp, CompiledFilter, ExecOptions, Executor, Expr, Query, SortKey, Stage,
    Term, Value, parse,
};

use crate::JsonRecord;

const FIELDS: &[&str] = &[
    "user.name",
    "source.ip",
    "@timestamp",
    "a",
    "odd name",
    "and",
    "x-y",
    "in",
    "`q`\\",
    "_1",
];

fn field() -> impl Strategy<Value = String> {
    prop::sample::select(FIELDS).prop_map(str::to_owned)
}

fn ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<[u8; 4]>().prop_map(IpAddr::from),
        any::<[u8; 16]>().prop_map(IpAddr::from)
    ]
}

fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        "[a-zA-Z0-9 _.:*?,()|/\"\\\\-]{0,8}".prop_map(Value::Str),
        "[a-z][a-z0-9_.-]{0,6}".prop_map(Value::Str),
        any::<i64>().prop_map(Value::Int),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::Float),
        any::<bool>().prop_map(Value::Bool),
        ip().prop_map(Value::Ip),
        any::<i64>().prop_map(Value::Time),
    ]
}

/// A glob with at least one real wildcard, never just `*`.
fn glob() -> impl Strategy<Value = String> {
    let part = prop_oneof![
        "[a-zA-Z0-9.]{1,3}",
        Just("*".to_owned()),
        Just("?".to_owned()),
        Just("\\*".to_owned()),
        Just("\\?".to_owned()),
        Just("\\\\".to_owned()),
        Just(" ".to_owned()),
        Just(",".to_owned()),
    ];
    prop::collection::vec(part, 1..6)
        .prop_map(|ps| ps.concat())
        .prop_filter("needs a wildcard, not just '*'", |g| {
            let mut real = false;
            let mut chars = g.chars();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => {
                        chars.next();
                    }
                    '*' | '?' => real = true,
                    _ => {}
                }
            }
            real && g != "*"
        })
}

fn bound() -> impl Strategy<Value = Option<Bound>> {
    prop::option::of(
        (value(), any::<bool>()).prop_map(|(value, inclusive)| Bound { value, inclusive }),
    )
}

fn term() -> impl Strategy<Value = Term> {
    let op = prop::sample::select(vec![CmpOp::Ne, CmpOp::Gt, CmpOp::Ge, CmpOp::Lt, CmpOp::Le]);
    prop_oneof![
        (field(), value(), any::<bool>()).prop_map(|(field, value, case_sensitive)| Term::Eq {
            field,
            value,
            case_sensitive
        }),
        (field(), glob(), any::<bool>()).prop_map(|(field, pattern, case_sensitive)| {
            Term::Wildcard {
                field,
                pattern,
                case_sensitive,
            }
        }),
        (field(), "(\\(\\?i\\))?[a-z.^$/|]{1,6}")
            .prop_map(|(field, pattern)| Term::Regex { field, pattern }),
        (field(), op, value()).prop_map(|(field, op, value)| Term::Compare { field, op, value }),
        (field(), bound(), bound()).prop_map(|(field, lower, upper)| Term::Range {
            field,
            lower,
            upper
        }),
        (field(), prop::collection::vec(value(), 1..4))
            .prop_map(|(field, values)| Term::In { field, values }),
        (field(), ip(), 0u8..=128).prop_map(|(field, addr, len)| {
            let max = if addr.is_ipv4() { 32 } else { 128 };
            let net = ipnet::IpNet::new(addr, len.min(max)).unwrap().trunc();
            Term::Cidr { field, net }
        }),
        field().prop_map(|field| Term::Exists { field }),
        "[a-zA-Z0-9 _.:*?\"\\\\-]{0,8}".prop_map(Term::Text),
        glob().prop_map(Term::TextWildcard),
    ]
}

/// Flatten like the parser does: no And directly in And, no Or in Or, at least two children.
fn combine(xs: Vec<Expr>, and: bool) -> Expr {
    let mut out = Vec::new();
    for x in xs {
        match (x, and) {
            (Expr::And(ys), true) | (Expr::Or(ys), false) => out.extend(ys),
            (x, _) => out.push(x),
        }
    }
    if out.len() == 1 {
        out.pop().unwrap()
    } else if and {
        Expr::And(out)
    } else {
        Expr::Or(out)
    }
}

fn expr() -> impl Strategy<Value = Expr> {
    let leaf = prop_oneof![9 => term().prop_map(Expr::Term), 1 => Just(Expr::MatchAll)];
    leaf.prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 2..4).prop_map(|xs| combine(xs, true)),
            prop::collection::vec(inner.clone(), 2..4).prop_map(|xs| combine(xs, false)),
            inner.prop_map(|x| Expr::Not(Box::new(x))),
        ]
    })
}

fn agg() -> impl Strategy<Value = Agg> {
    let func = prop_oneof![
        prop::option::of(field()).prop_map(AggFunc::Count),
        field().prop_map(AggFunc::Dc),
        field().prop_map(AggFunc::Sum),
        field().prop_map(AggFunc::Avg),
        field().prop_map(AggFunc::Min),
        field().prop_map(AggFunc::Max),
        (field(), 0u32..=1000).prop_map(|(f, p)| AggFunc::Percentile(f, f64::from(p) / 10.0)),
    ];
    let alias = prop::option::of(
        prop::sample::select(vec!["n", "total", "odd name", "by"]).prop_map(str::to_owned),
    );
    (func, alias).prop_map(|(func, alias)| Agg { func, alias })
}

fn stage() -> impl Strategy<Value = Stage> {
    let fields = || prop::collection::vec(field(), 1..3);
    prop_oneof![
        expr().prop_map(Stage::Where),
        fields().prop_map(Stage::Fields),
        prop::collection::vec(
            (field(), any::<bool>()).prop_map(|(field, desc)| SortKey { field, desc }),
            1..3
        )
        .prop_map(Stage::Sort),
        any::<u64>().prop_map(Stage::Head),
        (
            prop::collection::vec(agg(), 1..3),
            prop::collection::vec(field(), 0..3)
        )
            .prop_map(|(aggs, by)| Stage::Stats { aggs, by }),
        (
            prop::option::of(1u64..10_000_000),
            prop::collection::vec(agg(), 1..3),
            prop::option::of(field())
        )
            .prop_map(|(span_secs, aggs, by)| Stage::Timechart {
                span_secs,
                aggs,
                by
            }),
        (any::<u64>(), fields()).prop_map(|(limit, fields)| Stage::Top { limit, fields }),
        (any::<u64>(), fields()).prop_map(|(limit, fields)| Stage::Rare { limit, fields }),
    ]
}

fn query() -> impl Strategy<Value = Query> {
    (expr(), prop::collection::vec(stage(), 0..4))
        .prop_map(|(filter, stages)| Query { filter, stages })
}

fn sample() -> JsonRecord {
    JsonRecord(json!({
        "_raw": "Failed password for root from 10.1.2.3", "user.name": ["root", "Admin"],
        "source.ip": "ip:10.1.2.3", "a": 5, "@timestamp": "t:2024-01-01T00:00:00Z", "x-y": 2.5,
    }))
}

/// Characters that exercise the parser's special cases.
const QUERYISH: &str = "[a-z.@:=!<>*?()\\[\\]{}/\"\\\\` |,&-]{0,40}|(NOT |AND |OR |in |TO |exists\\(|\\| (stats|count|where|sort|head|top|timechart span=) ){0,3}[a-z0-9:*(),.\" -]{0,20}";

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn generated_plans_round_trip(q in query()) {
        let text = q.to_string();
        let back = parse(&text).map_err(|e| TestCaseError::fail(e.render(&text)))?;
        prop_assert_eq!(back, q, "text: {}", text);
    }

    #[test]
    fn arbitrary_strings_never_panic(s in any::<String>()) {
        if let Ok(q) = parse(&s) {
            let text = q.to_string();
            let back = parse(&text);
            prop_assert_eq!(back.as_ref(), Ok(&q), "text: {}", text);
        }
    }

    #[test]
    fn queryish_strings_never_panic_and_reparse(s in QUERYISH) {
        if let Ok(q) = parse(&s) {
            let text = q.to_string();
            let back = parse(&text);
            prop_assert_eq!(back.as_ref(), Ok(&q), "text: {}", text);
            // Compiling and running never panics either.
            if let Ok(f) = CompiledFilter::new(&q.filter) {
                let r = sample();
                let _ = f.matches(&r);
                if let Ok(mut ex) = Executor::new(&q, ExecOptions::default()) {
                    let _ = ex.push(&r).and_then(|()| ex.push(&r));
                    let _ = ex.finish();
                }
            }
        }
    }

    #[test]
    fn generated_plans_evaluate_without_panic(q in query()) {
        let r = sample();
        let f = CompiledFilter::new(&q.filter).unwrap();
        let _ = f.matches(&r);
        let mut ex = Executor::new(&q, ExecOptions::default()).unwrap();
        ex.push(&r).unwrap();
        let _ = ex.finish();
    }
}
