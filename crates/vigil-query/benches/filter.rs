//! Hot paths: parsing, and evaluating a compiled filter against an event.

#![allow(clippy::panic, clippy::unwrap_used)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use vigil_query::{CompiledFilter, ExecOptions, Executor, Record, ValueRef, parse};

struct Event {
    user: &'static str,
    ip: std::net::IpAddr,
    severity: i64,
    raw: &'static str,
}

impl Record for Event {
    fn values(&self, field: &str, f: &mut dyn FnMut(ValueRef<'_>)) {
        match field {
            "user.name" => f(ValueRef::Str(self.user)),
            "source.ip" => f(ValueRef::Ip(self.ip)),
            "event.severity" => f(ValueRef::Int(self.severity)),
            _ => {}
        }
    }
    fn text(&self, f: &mut dyn FnMut(&[u8])) {
        f(self.raw.as_bytes());
    }
}

const RAW: &str = "Jan  1 00:00:01 web-01 sshd[4242]: Failed password for invalid user Administrator from 10.1.2.3 port 52144 ssh2";

fn event() -> Event {
    Event {
        user: "Administrator",
        ip: [10, 1, 2, 3].into(),
        severity: 5,
        raw: RAW,
    }
}

fn bench(c: &mut Criterion) {
    let q = r#"event.category:authentication "failed password" NOT user.name:adm* source.ip:10.0.0.0/8 | stats count() by source.ip"#;
    c.bench_function("parse", |b| b.iter(|| parse(black_box(q))));

    let ev = event();
    for (name, q) in [
        ("match/word", "failed"),
        ("match/word_miss", "zebra"),
        ("match/unicode_word", "ошибка"),
        ("match/field_eq_ci", "user.name:administrator"),
        ("match/field_prefix", "user.name:admin*"),
        ("match/cidr", "source.ip:10.0.0.0/8"),
        ("match/compare", "event.severity>3"),
        (
            "match/combined",
            r#""failed password" user.name:adm* source.ip:10.0.0.0/8 event.severity>=3"#,
        ),
    ] {
        let plan = parse(q).unwrap_or_else(|e| panic!("{}", e.render(q)));
        let f = CompiledFilter::new(&plan.filter).unwrap_or_else(|e| panic!("{e}"));
        c.bench_function(name, |b| b.iter(|| f.matches(black_box(&ev))));
    }

    let plan = parse("| count by user.name").unwrap_or_else(|e| panic!("{e}"));
    c.bench_function("exec/count_by_1000", |b| {
        b.iter(|| {
            let mut ex =
                Executor::new(&plan, ExecOptions::default()).unwrap_or_else(|e| panic!("{e}"));
            for _ in 0..1000 {
                let _ = ex.push(&ev);
            }
            ex.finish()
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
