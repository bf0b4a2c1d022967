//! Property tests for the syslog parser: no input panics, nothing is lost, and generated
//! well-formed messages come back field for field.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chrono::{DateTime, TimeZone, Utc};
use proptest::prelude::*;
use vigil_parse::syslog::{Format, SyslogOptions, parse, parse_lenient};

fn opts() -> SyslogOptions {
    SyslogOptions {
        default_timezone: chrono_tz::Europe::Paris,
        now: Utc.with_ymd_and_hms(2024, 12, 31, 23, 0, 0).unwrap(),
    }
}

/// Bytes that look a bit like syslog, to reach deeper than uniformly random bytes.
fn syslogish() -> impl Strategy<Value = Vec<u8>> {
    let atoms = prop_oneof![
        Just(b"<13>".to_vec()),
        Just(b"<165>1 ".to_vec()),
        Just(b"2003-10-11T22:14:15.003Z ".to_vec()),
        Just(b"Mar  7 19:06:53 ".to_vec()),
        Just(b"Feb 29 ".to_vec()),
        Just(b"[id@1 a=\"b\\\"\\]\"]".to_vec()),
        Just(b"- ".to_vec()),
        Just(b"host ".to_vec()),
        Just(b"app[12]: ".to_vec()),
        Just(b"\xEF\xBB\xBF".to_vec()),
        proptest::collection::vec(any::<u8>(), 0..8),
        "[ -~]{0,10}".prop_map(String::into_bytes),
    ];
    proptest::collection::vec(atoms, 0..10).prop_map(|v| v.concat())
}

fn check_invariants(input: &[u8]) {
    let (m, err) = parse_lenient(input, &opts());
    // Strict and lenient agree.
    match parse(input, &opts()) {
        Ok(strict) => {
            assert!(err.is_none());
            assert_eq!(strict, m);
        }
        Err(e) => assert_eq!(Some(e), err),
    }
    // `msg` is always the tail of the frame: unparsed bytes are never dropped.
    if !m.msg.is_empty() {
        let start = m.msg.as_ptr() as usize - input.as_ptr() as usize;
        assert!(start + m.msg.len() <= input.len());
        assert_eq!(&input[start..start + m.msg.len()], m.msg);
        let mut end = input.len();
        while end > 0 && matches!(input[end - 1], b'\r' | b'\n' | 0) {
            end -= 1;
        }
        assert_eq!(
            start + m.msg.len(),
            end,
            "msg is the tail of the trimmed frame"
        );
    }
    if let Some(p) = m.pri {
        assert!(p <= 191);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(input in proptest::collection::vec(any::<u8>(), 0..300)) {
        check_invariants(&input);
    }

    #[test]
    fn syslogish_bytes_never_panic(input in syslogish()) {
        check_invariants(&input);
    }
}

fn printable(max: usize) -> impl Strategy<Value = String> {
    proptest::string::string_regex(&format!("[!-~]{{1,{max}}}"))
        .unwrap()
        .prop_filter("not NILVALUE", |s| s != "-")
}

fn sd_name() -> impl Strategy<Value = String> {
    "[a-zA-Z][a-zA-Z0-9.@_-]{0,20}"
}

fn rfc3339(ts: DateTime<Utc>, micros: bool) -> String {
    if micros {
        ts.format("%Y-%m-%dT%H:%M:%S%.6fZ")
    } else {
        ts.format("%Y-%m-%dT%H:%M:%SZ")
    }
    .to_string()
}

fn escape_sd(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace(']', "\\]")
}

prop_compose! {
    fn instant()(secs in 0i64..4_102_444_800, micros in 0u32..1_000_000) -> DateTime<Utc> {
        DateTime::from_timestamp(secs, micros * 1000).unwrap()
    }
}

type SdSpec = Vec<(String, Vec<(String, String)>)>;

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn rfc5424_round_trip(
        pri in 0u8..=191,
        ts in proptest::option::of(instant()),
        host in proptest::option::of(printable(40)),
        app in proptest::option::of(printable(48)),
        procid in proptest::option::of(printable(20)),
        msgid in proptest::option::of(printable(32)),
        sd in proptest::collection::vec(
            (sd_name(), proptest::collection::vec((sd_name(), "\\PC{0,12}"), 0..4)), 0..3),
        msg in proptest::collection::vec(any::<u8>(), 0..80),
    ) {
        let nil = |f: &Option<String>| f.clone().unwrap_or_else(|| "-".into());
        let sd_text = if sd.is_empty() {
            "-".to_string()
        } else {
            sd.iter().map(|(id, params)| {
                let ps: String = params.iter()
                    .map(|(k, v)| format!(" {k}=\"{}\"", escape_sd(v)))
                    .collect();
                format!("[{id}{ps}]")
            }).collect()
        };
        let mut line = format!(
            "<{pri}>1 {} {} {} {} {} {sd_text}",
            ts.map_or("-".into(), |t| rfc3339(t, true)),
            nil(&host), nil(&app), nil(&procid), nil(&msgid),
        ).into_bytes();
        // The frame's trailing CR/LF/NUL are framing, not message.
        let mut msg = msg;
        while matches!(msg.last(), Some(b'\r' | b'\n' | 0)) {
            msg.pop();
        }
        if !msg.is_empty() {
            line.push(b' ');
            line.extend_from_slice(&msg);
        }
        let m = parse(&line, &opts()).map_err(|e| TestCaseError::fail(format!("{e}")))?;
        prop_assert_eq!(m.format, Format::Rfc5424);
        prop_assert_eq!(m.pri, Some(pri));
        prop_assert_eq!(m.timestamp, ts);
        prop_assert_eq!(m.hostname, host.as_deref());
        prop_assert_eq!(m.app_name, app.as_deref());
        prop_assert_eq!(m.procid, procid.as_deref());
        prop_assert_eq!(m.msgid, msgid.as_deref());
        let got: SdSpec = m.structured_data.iter().map(|e| {
            (e.id.to_string(), e.params.iter().map(|p| (p.name.to_string(), p.value.to_string())).collect())
        }).collect();
        prop_assert_eq!(got, sd);
        let want_msg = msg.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&msg);
        prop_assert_eq!(m.msg, want_msg);
    }

    #[test]
    fn rfc3164_round_trip(
        pri in proptest::option::of(0u8..=191),
        ts in instant(),
        host in "[a-z][a-z0-9.-]{0,20}[a-z0-9]",
        app in "[a-zA-Z/_-][a-zA-Z0-9/_.-]{0,20}",
        pid in proptest::option::of(1u32..99_999),
        msg in "[ -~]{0,100}",
        padded_day in any::<bool>(),
    ) {
        let o = SyslogOptions { default_timezone: chrono_tz::UTC, now: ts };
        let ts = ts.with_timezone(&Utc);
        let date = if padded_day { ts.format("%b %e %H:%M:%S") } else { ts.format("%b %d %H:%M:%S") };
        let pri_text = pri.map_or(String::new(), |p| format!("<{p}>"));
        let pid_text = pid.map_or(String::new(), |p| format!("[{p}]"));
        let line = format!("{pri_text}{date} {host} {app}{pid_text}: {msg}");
        let (m, err) = parse_lenient(line.as_bytes(), &o);
        prop_assert_eq!(err.is_some(), pri.is_none(), "{:?}", err);
        prop_assert_eq!(m.format, Format::Rfc3164);
        prop_assert_eq!(m.pri, pri);
        prop_assert_eq!(m.timestamp, Some(ts.with_timezone(&Utc) - chrono::TimeDelta::nanoseconds(ts.timestamp_subsec_nanos().into())));
        prop_assert_eq!(m.hostname, Some(host.as_str()));
        prop_assert_eq!(m.app_name, Some(app.as_str()));
        let pid_s = pid.map(|p| p.to_string());
        prop_assert_eq!(m.procid, pid_s.as_deref());
        prop_assert_eq!(m.msg, msg.trim_end_matches(['\r', '\n']).as_bytes());
    }
}
