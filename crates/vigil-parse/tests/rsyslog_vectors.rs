//! rsyslog's own parser test vectors (`../shared/corpora/rsyslog-parser-testvectors`, see its
//! FORMAT.md): every case is parsed with `parse_lenient`, rendered back through rsyslog's
//! property template, and compared field by field with what rsyslog printed. Where we read a
//! message differently on purpose, the case is listed in [`DEVIATIONS`] with the reason and a
//! check of what we produce instead.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use chrono::{FixedOffset, TimeZone, Utc};
use vigil_parse::syslog::{
    Format, SyslogMessage, SyslogOptions, facility_name, parse_lenient, severity_name,
};

struct Deviation {
    file: &'static str,
    /// Case index in the file (0-based); `None`: every case of the file.
    case: Option<usize>,
    reason: &'static str,
    /// What we produce instead.
    check: fn(&SyslogMessage<'_>) -> bool,
}

const DEVIATIONS: &[Deviation] = &[
    Deviation {
        file: "upcase-date.parse1",
        case: Some(0),
        reason: "`AUG 10 22:18:24 2009  netips...`: we read the year after the time (Mmm dd \
                 hh:mm:ss yyyy) instead of taking `2009` as the hostname",
        check: |m| {
            m.hostname.is_none()
                && m.timestamp == Some(Utc.with_ymd_and_hms(2009, 8, 10, 22, 18, 24).unwrap())
                && m.msg.starts_with(b"netips-warden2-p [audit] user=[*SMS]")
        },
    },
    Deviation {
        file: "snare.parse1",
        case: None,
        reason: "a TAB ends the TAG for us (rsyslog escapes control characters to #011 before \
                 parsing, so it never sees the TAB; with escaping off, its programname stops at \
                 the TAB too, see samples.snare_ccoff_udp); the Snare record stays whole in msg",
        check: |m| {
            m.hostname == Some("zuse.xysystems.local")
                && m.app_name == Some("MSWinEventLog")
                && m.procid.is_none()
                && m.msg.starts_with(b"1\tSecurity\t")
        },
    },
    Deviation {
        file: "samples.snare_ccoff_udp",
        case: None,
        reason: "same as snare.parse1: the TAG ends at the TAB; programname agrees with rsyslog, \
                 the TAG and msg split differs",
        check: |m| {
            m.hostname.is_none()
                && m.app_name == Some("windowsserver")
                && m.msg.starts_with(b"MSWinEventLog\t1\tSecurity\t1167\t")
        },
    },
];

/// Undoes the test driver's C escapes (`\\`, `\n`, `\r`, `\t`, `\ooo`).
fn unescape(line: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(line.len());
    let mut i = 0;
    while i < line.len() {
        if line[i] == b'\\' && i + 1 < line.len() {
            let n = line[i + 1];
            let oct = line
                .get(i + 1..i + 4)
                .filter(|o| o.iter().all(|c| (b'0'..=b'7').contains(c)));
            if let Some(o) = oct {
                out.push(o.iter().fold(0u8, |v, c| v.wrapping_mul(8) + (c - b'0')));
                i += 4;
                continue;
            }
            let c = match n {
                b'n' => b'\n',
                b'r' => b'\r',
                b't' => b'\t',
                b'\\' => b'\\',
                other => {
                    out.push(b'\\');
                    other
                }
            };
            out.push(c);
            i += 2;
        } else {
            out.push(line[i]);
            i += 1;
        }
    }
    out
}

/// rsyslog's escaping on receive: control characters (and, optionally, 8-bit bytes) as `#ooo`.
fn escape(b: &[u8], control: bool, eight_bit: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(b.len());
    for &c in b {
        if (control && c < 0x20) || (eight_bit && c >= 0x80) {
            out.extend_from_slice(format!("#{c:03o}").as_bytes());
        } else {
            out.push(c);
        }
    }
    out
}

fn offset_in(input: &[u8], part: &[u8]) -> usize {
    (part.as_ptr() as usize).saturating_sub(input.as_ptr() as usize)
}

/// The rsyslog TAG (`app[pid]:` as written) and the rest of the line after it.
fn rsyslog_tag_and_msg<'a>(input: &'a [u8], m: &SyslogMessage<'a>) -> (Vec<u8>, &'a [u8]) {
    if m.format == Format::Rfc5424 {
        let mut tag = m.app_name.unwrap_or("").as_bytes().to_vec();
        if let Some(p) = m.procid {
            tag.extend_from_slice(format!("[{p}]").as_bytes());
        }
        return (tag, m.msg);
    }
    let start = match (m.app_name, m.procid) {
        (Some(a), _) => offset_in(input, a.as_bytes()),
        (None, Some(p)) => offset_in(input, p.as_bytes()).saturating_sub(1),
        (None, None) => return (Vec::new(), m.msg),
    };
    let msg_at = if m.msg.is_empty() {
        input.len()
    } else {
        offset_in(input, m.msg)
    };
    let mut tag = &input[start..msg_at];
    if let [rest @ .., b' ' | b'\t'] = tag {
        tag = rest;
    }
    (tag.to_vec(), &input[start + tag.len()..])
}

struct Template {
    timestamp: Option<&'static str>,
    hostname: bool,
    escape_control: bool,
    escape_8bit: bool,
}

fn template(file: &str) -> Template {
    let ext = file.rsplit('.').next().unwrap_or("");
    let t = |timestamp, hostname, escape_control, escape_8bit| Template {
        timestamp,
        hostname,
        escape_control,
        escape_8bit,
    };
    match ext {
        "parse1" => t(Some("%b %e %H:%M:%S"), true, true, false),
        "parse2" => t(Some("%b %e %H:%M:%S"), false, true, false),
        "parse_8bit_escape" => t(Some("%b %e %H:%M:%S"), true, true, true),
        "parse-3164-buggyday" => t(Some("%b %d %H:%M:%S"), true, true, false),
        "parse-nodate" => t(None, true, true, false),
        "snare_ccoff_udp" => t(None, true, false, false),
        other => panic!("unknown vector kind {other}"),
    }
}

/// Our message rendered as rsyslog's template, up to and including the comma before `%msg%`,
/// and the message (leading blanks trimmed, as FORMAT.md says `%msg%` keeps them).
fn render(input: &[u8], m: &SyslogMessage<'_>, t: &Template) -> (Vec<u8>, Vec<u8>) {
    // rsyslog's default PRI for messages without one is user.notice (13); we report `None`
    // and leave the default to the pipeline.
    let pri = m.pri.unwrap_or(13);
    let mut head = format!(
        "{pri},{},{},",
        facility_name(pri >> 3).unwrap_or("?"),
        severity_name(pri & 7).unwrap_or("?")
    );
    if let Some(fmt) = t.timestamp {
        let local = m.timestamp.map(|ts| {
            let off = m
                .timestamp_offset
                .unwrap_or(FixedOffset::east_opt(0).unwrap());
            ts.with_timezone(&off).format(fmt).to_string()
        });
        head.push_str(&local.unwrap_or_else(|| "<none>".into()));
        head.push(',');
    }
    if t.hostname {
        head.push_str(m.hostname.unwrap_or("~H"));
        head.push(',');
    }
    let mut head = head.into_bytes();
    let (tag, msg) = rsyslog_tag_and_msg(input, m);
    // rsyslog (of this vintage) sets no programname for RFC 5424 messages.
    let program = if m.format == Format::Rfc5424 {
        ""
    } else {
        m.app_name.unwrap_or("")
    };
    head.extend_from_slice(program.as_bytes());
    head.push(b',');
    head.extend_from_slice(&tag);
    head.push(b',');
    let esc = |b: &[u8]| escape(b, t.escape_control, t.escape_8bit);
    (esc(&head), esc(msg.trim_ascii_start()))
}

struct Case {
    file: String,
    index: usize,
    input: Vec<u8>,
    expected: Vec<u8>,
}

fn load_cases(dir: &Path) -> Vec<Case> {
    let mut files: Vec<_> = std::fs::read_dir(dir.join("testsuites"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let mut cases = Vec::new();
    for path in files {
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        let reader = BufReader::new(std::fs::File::open(&path).unwrap().take(1 << 20));
        let mut pending: Option<Vec<u8>> = None;
        let mut index = 0;
        for line in reader.split(b'\n') {
            let line = line.unwrap();
            match pending.take() {
                None if line.starts_with(b"#") || line.is_empty() => {}
                None => pending = Some(unescape(&line)),
                Some(input) => {
                    cases.push(Case {
                        file: file.clone(),
                        index,
                        input,
                        expected: line,
                    });
                    index += 1;
                }
            }
        }
    }
    cases
}

#[test]
fn rsyslog_parser_test_vectors() {
    let Some(dir) = vigil_testkit::corpus("rsyslog-parser-testvectors") else {
        return;
    };
    let opts = SyslogOptions {
        default_timezone: chrono_tz::UTC,
        now: Utc.with_ymd_and_hms(2024, 6, 15, 12, 0, 0).unwrap(),
    };
    let cases = load_cases(&dir);
    assert!(cases.len() >= 40, "only {} cases found", cases.len());
    let (mut exact, mut deviating, mut failures) = (0, 0, Vec::new());
    for case in &cases {
        let t = template(&case.file);
        let (m, _err) = parse_lenient(&case.input, &opts);
        let (head, msg) = render(&case.input, &m, &t);
        let matches = case.expected.strip_prefix(head.as_slice()).map(|exp_msg| {
            // rsyslog keeps the leading space of MSG; we drop the separator.
            exp_msg.trim_ascii_start() == msg.as_slice()
        });
        let dev = DEVIATIONS
            .iter()
            .find(|d| d.file == case.file && d.case.is_none_or(|c| c == case.index));
        match (matches, dev) {
            (Some(true), None) => exact += 1,
            (_, Some(d)) if (d.check)(&m) => {
                deviating += 1;
                eprintln!("deviation {}#{}: {}", case.file, case.index, d.reason);
            }
            _ => failures.push(format!(
                "{}#{}\n  input:    {}\n  expected: {}\n  ours:     {}{}\n  parsed:   {m:?}",
                case.file,
                case.index,
                String::from_utf8_lossy(&case.input),
                String::from_utf8_lossy(&case.expected),
                String::from_utf8_lossy(&head),
                String::from_utf8_lossy(&msg),
            )),
        }
    }
    eprintln!(
        "rsyslog vectors: {} cases, {exact} exactly as rsyslog, {deviating} documented \
         deviations, {} failures",
        cases.len(),
        failures.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The fuzz seeds have no expectations; they must parse, and the well-formed ones strictly.
#[test]
fn rsyslog_fuzz_seeds() {
    let Some(dir) = vigil_testkit::corpus("rsyslog-parser-testvectors") else {
        return;
    };
    let opts = SyslogOptions::default();
    for entry in std::fs::read_dir(dir.join("fuzz-seeds")).unwrap() {
        let path = entry.unwrap().path();
        let mut input = Vec::new();
        let mut file = std::fs::File::open(&path).unwrap().take(1 << 20);
        let mut chunk = [0u8; 4096];
        while let n @ 1.. = file.read(&mut chunk).unwrap() {
            input.extend_from_slice(&chunk[..n]);
        }
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let (m, err) = parse_lenient(&input, &opts);
        match name.as_str() {
            "rfc3164-no-pri" => assert!(err.is_some() && m.hostname == Some("host.example")),
            "rfc3164-short" => assert_eq!(m.app_name, Some("x"), "{err:?}"),
            _ => assert_eq!(err, None, "{name}: {m:?}"),
        }
        if name == "rfc5424-escaped-sd" {
            let p = &m.structured_data[0].params;
            assert_eq!(
                (p[0].value.as_ref(), p[1].value.as_ref()),
                ("escaped]bracket", "\"")
            );
        }
    }
}
