//! Auto-detection over the packs' own samples: `--normalizer auto` must hand every sample line
//! of a pack to that pack (the `linux` umbrella has no `detect`: its lines go to the program's
//! own pack; `generic` is the fallback, its samples are not checked), and `--suggest` must rank the pack first for its
//! samples.

use std::path::PathBuf;

use vigil_event::{Bytes, Timestamp};
use vigil_event::{RawRecord, SourceInfo};
use vigil_normalize::{AutoNormalizer, GENERIC, Library, suggest};

use vigil_testkit::read_text;
fn samples() -> Vec<(String, PathBuf, Vec<String>)> {
    let root = vigil_testkit::repo_root().join("packs");
    let mut out = Vec::new();
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .map(|rd| rd.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    dirs.sort();
    for d in dirs {
        let pack = d
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut logs: Vec<PathBuf> = std::fs::read_dir(d.join("samples"))
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|x| x == "log"))
                    .collect()
            })
            .unwrap_or_default();
        logs.sort();
        for log in logs {
            let lines = read_text(&log)
                .unwrap_or_default()
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(str::to_owned)
                .collect();
            out.push((pack.clone(), log, lines));
        }
    }
    out
}

#[test]
fn auto_picks_each_packs_own_samples() {
    let lib = Library::builtin().unwrap_or_else(|e| panic!("{e}"));
    let auto = AutoNormalizer::new(&lib, chrono_tz::UTC).unwrap_or_else(|e| panic!("{e}"));
    let src = SourceInfo {
        id: "t".into(),
        tenant: "main".into(),
        collector: "t".into(),
    };
    let received = Timestamp::parse("2026-11-22T12:00:00Z").unwrap_or_default();
    let mut wrong = Vec::new();
    let mut checked = 0;
    for (pack, log, lines) in samples() {
        // The umbrella has no `detect`; the fallback's samples include lines a pack now reads
        // (an Apache error line).
        // `sql` reads rows of any shape from the sql connector, which names it: not
        // detectable, by design.
        if pack == "linux" || pack == GENERIC || pack == "sql" {
            continue;
        }
        for (i, line) in lines.iter().enumerate() {
            let rec = RawRecord {
                data: Bytes::copy_from_slice(line.as_bytes()),
                received,
                peer: None,
                transport_error: None,
            };
            let (ev, picked) = auto.normalize_record(&src, rec);
            checked += 1;
            let picked = picked.map(|p| p.to_string()).unwrap_or_default();
            if picked != pack || ev.meta.parse_error.is_some() {
                wrong.push(format!(
                    "{}:{}: {pack} expected, auto chose '{picked}'",
                    log.display(),
                    i + 1
                ));
            }
        }
    }
    assert!(checked > 200, "only {checked} sample lines");
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn suggest_ranks_the_pack_first_for_its_samples() {
    let lib = Library::builtin().unwrap_or_else(|e| panic!("{e}"));
    let received = Timestamp::parse("2026-11-22T12:00:00Z").unwrap_or_default();
    let mut wrong = Vec::new();
    for pack in [
        "web-error",
        "cisco-asa",
        "panos",
        "fortigate",
        "checkpoint",
        "m365-audit",
        "postfix",
        "openvpn",
    ] {
        for (p, log, lines) in samples().into_iter().filter(|(p, _, _)| p == pack) {
            let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
            let ranked = suggest(&lib, &refs, chrono_tz::UTC, received);
            let first = ranked.first().map(|s| s.name.as_str()).unwrap_or("");
            if first != p && first != GENERIC {
                wrong.push(format!("{}: suggest ranked '{first}' first", log.display()));
            } else if first == GENERIC {
                wrong.push(format!("{}: suggest fell back to generic", log.display()));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn truncated_and_junk_input_never_panics_and_keeps_the_raw_line() {
    let lib = Library::builtin().unwrap_or_else(|e| panic!("{e}"));
    let src = SourceInfo {
        id: "t".into(),
        tenant: "main".into(),
        collector: "t".into(),
    };
    let received = Timestamp::parse("2026-11-22T12:00:00Z").unwrap_or_default();
    let junk = [
        "",
        "<",
        "<134>",
        "{\"a\":",
        "CEF:0|",
        "%ASA-6-302013: Built inbound TCP connection",
        "1,2026/11/22 06:59:58,0,TRAFFIC,end",
        "date=2026-11-22 devid=x logid=1 type=traffic subtype=forward srcip=",
        "[action:\"Accept\"; src:\"",
        "<Event><System>",
        "\u{0}\u{1}\u{ff}\u{fffd}",
    ];
    let samples = samples();
    for name in lib.names() {
        let tree = vigil_normalize::NormalizerTree::new(
            lib.compile(name).unwrap_or_else(|e| panic!("{e}")),
            chrono_tz::UTC,
        );
        let own = samples.iter().filter(|(p, _, _)| p == name);
        let mut inputs: Vec<String> = junk.iter().map(|s| (*s).to_owned()).collect();
        for (_, _, lines) in own {
            for l in lines {
                for cut in [
                    l.len() / 4,
                    l.len() / 2,
                    l.len() * 3 / 4,
                    l.len().saturating_sub(1),
                ] {
                    let mut c = cut;
                    while !l.is_char_boundary(c) {
                        c -= 1;
                    }
                    inputs.push(l[..c].to_owned());
                }
            }
        }
        for input in inputs {
            let ev = tree.normalize_record(
                &src,
                RawRecord {
                    data: Bytes::copy_from_slice(input.as_bytes()),
                    received,
                    peer: None,
                    transport_error: None,
                },
            );
            assert_eq!(ev.raw.as_ref(), input.as_bytes(), "{name}: raw line kept");
        }
    }
}

/// The same sample line with its RFC 3164 header (`<PRI>Mmm dd hh:mm:ss HOST PROG[PID]: MSG`)
/// rewritten as RFC 5424 (`<PRI>1 2026-11-22Thh:mm:ssZ HOST PROG PID - - MSG`).
fn as_rfc5424(line: &str) -> Option<String> {
    let re = regex::Regex::new(
        // a program name (not Cisco's `%ASA-6-302016:` tag, which stays in the message of an
        // RFC 5424 line)
        r"^<(\d{1,3})>[A-Z][a-z]{2} [ \d]\d (\d\d:\d\d:\d\d) (\S+) ([A-Za-z][^\s:\[]*)(?:\[(\d+)\])?: (.*)$",
    )
    .ok()?;
    let c = re.captures(line)?;
    Some(format!(
        "<{}>1 2026-11-22T{}Z {} {} {} - - {}",
        &c[1],
        &c[2],
        &c[3],
        &c[4],
        c.get(5).map_or("-", |m| m.as_str()),
        &c[6]
    ))
}

/// Regression: RFC 5424 sshd lines went to `generic` (the packs' `detect` read only the RFC
/// 3164 `sshd[pid]: `). Every sample line with an RFC 3164 header, rewritten as RFC 5424, goes
/// to the same pack and normalizes to the same fields.
#[test]
fn rfc5424_and_rfc3164_lines_of_one_program_normalize_alike() {
    let lib = Library::builtin().unwrap_or_else(|e| panic!("{e}"));
    let auto = AutoNormalizer::new(&lib, chrono_tz::UTC).unwrap_or_else(|e| panic!("{e}"));
    let src = SourceInfo {
        id: "t".into(),
        tenant: "main".into(),
        collector: "t".into(),
    };
    let received = Timestamp::parse("2026-11-22T12:00:00Z").unwrap_or_default();
    let norm = |line: &str| {
        auto.normalize_record(
            &src,
            RawRecord {
                data: Bytes::copy_from_slice(line.as_bytes()),
                received,
                peer: None,
                transport_error: None,
            },
        )
    };
    const FIELDS: &[&str] = &[
        "/event/module",
        "/event/dataset",
        "/event/action",
        "/event/outcome",
        "/event/category",
        "/source/ip",
        "/source/port",
        "/destination/ip",
        "/destination/port",
        "/user/name",
        "/process/name",
        "/host/name",
        "/url/path",
        "/http/response/status_code",
    ];
    let mut wrong = Vec::new();
    let mut checked = 0;
    let mut programs = std::collections::BTreeSet::new();
    for (pack, log, lines) in samples() {
        for (i, line) in lines.iter().enumerate() {
            let Some(l5) = as_rfc5424(line) else { continue };
            let (e3, p3) = norm(line);
            let (e5, p5) = norm(&l5);
            checked += 1;
            let (j3, j5) = (e3.to_json(), e5.to_json());
            if p3 != p5 {
                wrong.push(format!(
                    "{}:{} ({pack}): RFC 3164 → {p3:?}, RFC 5424 → {p5:?}",
                    log.display(),
                    i + 1
                ));
                continue;
            }
            programs.insert(p5.map(|p| p.to_string()).unwrap_or_default());
            for f in FIELDS {
                if j3.pointer(f) != j5.pointer(f) {
                    wrong.push(format!(
                        "{}:{} ({pack}): {f}: {:?} vs {:?}",
                        log.display(),
                        i + 1,
                        j3.pointer(f),
                        j5.pointer(f)
                    ));
                }
            }
        }
    }
    assert!(
        checked > 50,
        "only {checked} sample lines with an RFC 3164 header"
    );
    for p in [
        "sshd",
        "sudo",
        "su",
        "shadow-utils",
        "netfilter",
        "web-access",
    ] {
        assert!(programs.contains(p), "no sample of {p}: {programs:?}");
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
