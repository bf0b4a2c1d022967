//! The streaming executor: aggregations, timechart, top/rare, sort/head/fields, limits.

use serde_json::json;
use vigil_query::{CompiledFilter, ExecOptions, Executor, QueryError, Table, Value, parse};

use crate::JsonRecord;

fn logins() -> Vec<JsonRecord> {
    let rows = [
        ("alice", "10.0.0.1", 10, "2024-01-01T00:00:10Z", "sshd"),
        ("bob", "10.0.0.2", 20, "2024-01-01T00:01:10Z", "sshd"),
        ("alice", "10.0.0.1", 30, "2024-01-01T00:04:59Z", "sudo"),
        ("carol", "10.0.0.3", 40, "2024-01-01T00:05:00Z", "sshd"),
        ("alice", "10.0.0.4", 50, "2024-01-01T00:06:00Z", "sshd"),
    ];
    let mut out: Vec<JsonRecord> = rows
        .iter()
        .map(|(u, ip, b, t, p)| {
            JsonRecord(json!({
                "user.name": u, "source.ip": format!("ip:{ip}"), "bytes": b,
                "@timestamp": format!("t:{t}"), "process.name": p,
                "_raw": format!("{p}: login {u} from {ip}"),
            }))
        })
        .collect();
    // No user.name: ignored by `by user.name`, counted by count().
    out.push(JsonRecord(
        json!({"bytes": 60, "process.name": "cron", "@timestamp": "t:2024-01-01T00:07:00Z"}),
    ));
    out
}

/// Run a full query (filter + stages) over records.
fn run_with(q: &str, recs: &[JsonRecord], opts: ExecOptions) -> Result<Table, QueryError> {
    let plan = parse(q).unwrap_or_else(|e| panic!("{}", e.render(q)));
    let filter = CompiledFilter::new(&plan.filter)?;
    let mut ex = Executor::new(&plan, opts)?;
    for r in recs {
        if filter.matches(r) {
            ex.push(r)?;
        }
    }
    ex.finish()
}

fn run(q: &str) -> Table {
    run_with(q, &logins(), ExecOptions::default()).unwrap()
}

/// A table as text lines: `col=val col=val`, for readable assertions.
fn show(t: &Table) -> Vec<String> {
    t.rows
        .iter()
        .map(|r| {
            t.columns
                .iter()
                .zip(&r.cells)
                .map(|(c, v)| match v {
                    None => format!("{c}=-"),
                    Some(Value::Str(s)) => format!("{c}={s}"),
                    Some(Value::Int(i)) => format!("{c}={i}"),
                    Some(Value::Float(f)) => format!("{c}={f}"),
                    Some(Value::Bool(b)) => format!("{c}={b}"),
                    Some(Value::Ip(ip)) => format!("{c}={ip}"),
                    Some(Value::Time(t)) => format!(
                        "{c}={}",
                        chrono::DateTime::from_timestamp_nanos(*t).format("%H:%M:%S")
                    ),
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

#[test]
fn count_by() {
    let t = run("| count by user.name");
    assert_eq!(t.columns, ["user.name", "count"]);
    assert_eq!(
        show(&t),
        [
            "user.name=alice count=3",
            "user.name=bob count=1",
            "user.name=carol count=1"
        ]
    );
}

#[test]
fn count_by_two_fields_with_filter() {
    let t = run("process.name:sshd | count by user.name, source.ip");
    assert_eq!(
        show(&t),
        [
            "user.name=alice source.ip=10.0.0.1 count=1",
            "user.name=alice source.ip=10.0.0.4 count=1",
            "user.name=bob source.ip=10.0.0.2 count=1",
            "user.name=carol source.ip=10.0.0.3 count=1",
        ]
    );
}

#[test]
fn stats_functions() {
    let t = run(
        "| stats count(), count(user.name) as named, dc(user.name), sum(bytes), avg(bytes), min(bytes), max(bytes), percentile(bytes, 50), p90(bytes)",
    );
    assert_eq!(
        t.columns,
        [
            "count",
            "named",
            "dc(user.name)",
            "sum(bytes)",
            "avg(bytes)",
            "min(bytes)",
            "max(bytes)",
            "percentile(bytes, 50)",
            "percentile(bytes, 90)"
        ]
    );
    assert_eq!(
        show(&t),
        [
            "count=6 named=5 dc(user.name)=3 sum(bytes)=210 avg(bytes)=35 min(bytes)=10 max(bytes)=60 percentile(bytes, 50)=35 percentile(bytes, 90)=55"
        ]
    );
}

#[test]
fn stats_over_nothing_is_one_row_of_zeros() {
    let t = run("nosuchword | stats count(), sum(bytes)");
    assert_eq!(show(&t), ["count=0 sum(bytes)=-"]);
    let t = run("nosuchword | count by user.name");
    assert!(t.rows.is_empty());
}

#[test]
fn stats_then_where_sort_head() {
    let t = run(
        "| stats count() as n, sum(bytes) as total by user.name | where n>=1 | sort -total | head 2",
    );
    assert_eq!(
        show(&t),
        [
            "user.name=alice n=3 total=90",
            "user.name=carol n=1 total=40"
        ]
    );
    let t = run("| count by user.name | where count > 1");
    assert_eq!(show(&t), ["user.name=alice count=3"]);
}

#[test]
fn multi_valued_group_field() {
    let recs = vec![
        JsonRecord(json!({"tags": ["a", "b"]})),
        JsonRecord(json!({"tags": ["b", "b"]})),
        JsonRecord(json!({"tags": "c"})),
    ];
    let t = run_with("| count by tags", &recs, ExecOptions::default()).unwrap();
    assert_eq!(
        show(&t),
        ["tags=a count=1", "tags=b count=2", "tags=c count=1"]
    );
}

#[test]
fn timechart_buckets() {
    let t = run("| timechart span=5m count()");
    assert_eq!(t.columns, ["_time", "count"]);
    assert_eq!(
        show(&t),
        ["_time=00:00:00 count=3", "_time=00:05:00 count=3"]
    );
    let t = run("process.name:sshd | timechart span=5m count() by user.name");
    assert_eq!(t.columns, ["_time", "user.name", "count"]);
    assert_eq!(
        show(&t),
        [
            "_time=00:00:00 user.name=alice count=1",
            "_time=00:00:00 user.name=bob count=1",
            "_time=00:05:00 user.name=alice count=1",
            "_time=00:05:00 user.name=carol count=1",
        ]
    );
    // Default span from the options.
    let opts = ExecOptions {
        default_span_secs: 3600,
        ..ExecOptions::default()
    };
    let t = run_with("| timechart", &logins(), opts).unwrap();
    assert_eq!(show(&t), ["_time=00:00:00 count=6"]);
}

#[test]
fn top_and_rare() {
    let t = run("| top 2 user.name");
    assert_eq!(t.columns, ["user.name", "count", "percent"]);
    assert_eq!(
        show(&t),
        [
            "user.name=alice count=3 percent=60",
            "user.name=bob count=1 percent=20"
        ]
    );
    let t = run("| rare 1 process.name");
    assert_eq!(
        show(&t),
        ["process.name=cron count=1 percent=16.666666666666668"]
    );
}

#[test]
fn row_mode_fields_sort_head() {
    let t = run("process.name:sshd | sort -bytes | head 2 | fields user.name, bytes");
    assert_eq!(t.columns, ["user.name", "bytes"]);
    assert_eq!(
        show(&t),
        ["user.name=alice bytes=50", "user.name=carol bytes=40"]
    );
    // Rows remember which pushed record they stand for.
    assert_eq!(
        t.rows.iter().map(|r| r.id).collect::<Vec<_>>(),
        [Some(3), Some(2)]
    );
}

#[test]
fn row_mode_sort_absent_last() {
    let t = run("| sort user.name | fields user.name");
    assert_eq!(
        show(&t),
        [
            "user.name=alice",
            "user.name=alice",
            "user.name=alice",
            "user.name=bob",
            "user.name=carol",
            "user.name=-"
        ]
    );
}

#[test]
fn head_stops_early() {
    let plan = parse("| head 2").unwrap();
    let mut ex = Executor::new(&plan, ExecOptions::default()).unwrap();
    let recs = logins();
    let mut pushed = 0;
    for r in &recs {
        if ex.is_done() {
            break;
        }
        ex.push(r).unwrap();
        pushed += 1;
    }
    assert_eq!(pushed, 2);
    assert_eq!(ex.finish().unwrap().rows.len(), 2);
}

#[test]
fn sort_head_keeps_top_n_over_many_rows() {
    let recs: Vec<JsonRecord> = (0..5000)
        .map(|i| JsonRecord(json!({"n": (i * 7919) % 5000})))
        .collect();
    let t = run_with(
        "| sort -n | head 3 | fields n",
        &recs,
        ExecOptions::default(),
    )
    .unwrap();
    assert_eq!(show(&t), ["n=4999", "n=4998", "n=4997"]);
}

#[test]
fn where_before_aggregation_filters_records() {
    let t = run("| where bytes > 25 | count by process.name");
    assert_eq!(
        show(&t),
        [
            "process.name=cron count=1",
            "process.name=sshd count=2",
            "process.name=sudo count=1"
        ]
    );
}

#[test]
fn too_many_groups_is_an_error() {
    let opts = ExecOptions {
        max_groups: 2,
        ..ExecOptions::default()
    };
    let err = run_with("| count by user.name", &logins(), opts).unwrap_err();
    assert_eq!(err, QueryError::TooManyGroups { limit: 2 });
    assert_eq!(
        err.to_string(),
        "too many groups: the aggregation produced more than 2 groups; narrow the search or group by fewer fields"
    );
}

#[test]
fn too_many_rows_is_an_error() {
    let opts = ExecOptions {
        max_rows: 3,
        ..ExecOptions::default()
    };
    let err = run_with("| fields user.name", &logins(), opts).unwrap_err();
    assert_eq!(err, QueryError::TooManyRows { limit: 3 });
}

#[test]
fn second_aggregation_over_rows() {
    let t = run("| count by user.name, source.ip | count by user.name");
    assert_eq!(
        show(&t),
        [
            "user.name=alice count=2",
            "user.name=bob count=1",
            "user.name=carol count=1"
        ]
    );
}

#[test]
fn push_repeated_equals_pushing_n_times() {
    for q in [
        "| stats count(), count(user.name), dc(source.ip), sum(bytes), avg(bytes), min(bytes), max(bytes), perc50(bytes) by process.name",
        "| count by user.name",
        "| top 2 process.name",
        "| rare 2 user.name",
        "| timechart span=5m count() by process.name",
        "| where bytes>15 | count by process.name | sort -count",
        "| head 4",
        "| fields user.name, bytes",
    ] {
        let plan = parse(q).unwrap_or_else(|e| panic!("{}", e.render(q)));
        let recs = logins();
        let mut each = Executor::new(&plan, ExecOptions::default()).unwrap();
        let mut grouped = Executor::new(&plan, ExecOptions::default()).unwrap();
        for (i, r) in recs.iter().enumerate() {
            let n = (i % 3 + 1) as u64;
            for _ in 0..n {
                each.push(r).unwrap();
            }
            grouped.push_repeated(r, n).unwrap();
        }
        grouped.push_repeated(&recs[0], 0).unwrap();
        let (a, b) = (each.finish().unwrap(), grouped.finish().unwrap());
        assert_eq!(show(&a), show(&b), "{q}");
    }
}
