//! The `auto` normalizer's literal prefilter changes nothing but the cost: every line of real
//! corpora goes through `auto` with the prefilter and without it (every pack's `detect`
//! evaluated, as before the prefilter), and both must choose the same pack and produce the same
//! event. The lines: every Loghub sample (`../shared/corpora/loghub`, read in place), the
//! generator's corpus (`vigil-gen-syslog`, the shared benchmark corpus: RFC 3164 and RFC 5424
//! lines as sent over the wire, and without `<PRI>` as in a file) and every pack's own samples.

use std::path::{Path, PathBuf};

use vigil_event::{Bytes, Timestamp};
use vigil_event::{RawRecord, SourceInfo};
use vigil_normalize::{AutoNormalizer, Library};

use vigil_testkit::read_text;

/// Runs `lines` through both paths; returns how many lines were checked and a description of
/// each disagreement.
fn compare<'a>(
    fast: &AutoNormalizer,
    slow: &AutoNormalizer,
    origin: &str,
    lines: impl IntoIterator<Item = &'a str>,
    wrong: &mut Vec<String>,
) -> usize {
    let src = SourceInfo {
        id: "t".into(),
        tenant: "main".into(),
        collector: "t".into(),
    };
    let received = Timestamp::parse("2026-11-22T12:00:00Z").unwrap_or_default();
    let mut n = 0;
    for (i, line) in lines.into_iter().enumerate() {
        let rec = || RawRecord {
            data: Bytes::copy_from_slice(line.as_bytes()),
            received,
            peer: None,
            transport_error: None,
        };
        let (mut a, pa) = fast.normalize_record(&src, rec());
        let (b, pb) = slow.normalize_record(&src, rec());
        n += 1;
        // the only field drawn at random
        a.meta.id = b.meta.id;
        if pa != pb {
            wrong.push(format!(
                "{origin}:{}: prefilter chose {pa:?}, every pack asked chose {pb:?}: {line}",
                i + 1
            ));
        } else if a != b {
            wrong.push(format!(
                "{origin}:{}: same pack {pa:?}, different events: {line}\n{a:?}\n{b:?}",
                i + 1
            ));
        }
    }
    n
}

fn logs_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(logs_under(&p));
        } else if p.extension().is_some_and(|x| x == "log") {
            out.push(p);
        }
    }
    out.sort();
    out
}

fn generated(
    lines: u64,
    ratio: f64,
    format: vigil_gen_syslog::Format,
) -> Result<String, vigil_gen_syslog::Error> {
    let cfg = vigil_gen_syslog::Config {
        lines,
        seed: 42,
        format,
        rfc5424_ratio: ratio,
        eps: 200.0,
        start_us: vigil_gen_syslog::pytime::parse_isoformat("2024-05-01T00:00:00")
            .unwrap_or_default(),
    };
    let mut text = Vec::new();
    vigil_gen_syslog::generate(&cfg, &mut text, |_| {})?;
    Ok(String::from_utf8_lossy(&text).into_owned())
}

#[test]
fn prefilter_chooses_as_every_pack_asked() {
    let lib = Library::builtin().unwrap_or_else(|e| panic!("{e}"));
    let fast = AutoNormalizer::new(&lib, chrono_tz::UTC).unwrap_or_else(|e| panic!("{e}"));
    let slow = fast.clone().with_prefilter(false);
    let mut wrong = Vec::new();
    let mut checked = 0;

    // every pack's samples, the `linux` umbrella's and the fallback's included
    for log in logs_under(&vigil_testkit::repo_root().join("packs")) {
        let text = read_text(&log).unwrap_or_else(|e| panic!("{}: {e}", log.display()));
        checked += compare(
            &fast,
            &slow,
            &log.display().to_string(),
            text.lines(),
            &mut wrong,
        );
    }
    let samples = checked;

    // the generator's corpus: the default mix, all RFC 5424, and file lines without <PRI>
    for (lines, ratio, format) in [
        (60_000, 0.3, vigil_gen_syslog::Format::Wire),
        (20_000, 1.0, vigil_gen_syslog::Format::Wire),
        (20_000, 0.3, vigil_gen_syslog::Format::File),
    ] {
        let text = generated(lines, ratio, format).unwrap_or_else(|e| panic!("{e}"));
        let origin = format!(
            "gen-syslog --rfc5424-ratio {ratio} --format {}",
            format.as_str()
        );
        checked += compare(&fast, &slow, &origin, text.lines(), &mut wrong);
    }
    let generator = checked - samples;

    // Loghub: every system's sample
    if let Some(dir) = vigil_testkit::corpus("loghub") {
        let logs = logs_under(&dir);
        assert!(!logs.is_empty(), "no .log file under {}", dir.display());
        for log in logs {
            let Ok(text) = read_text(&log) else { continue };
            checked += compare(
                &fast,
                &slow,
                &log.display().to_string(),
                text.lines(),
                &mut wrong,
            );
        }
    }
    eprintln!(
        "{checked} lines compared: {samples} pack samples, {generator} generated, {} Loghub",
        checked - samples - generator
    );
    assert!(
        samples > 100 && generator == 100_000,
        "{samples} {generator}"
    );
    assert!(
        wrong.is_empty(),
        "{} of {checked} lines differ; the first:\n{}",
        wrong.len(),
        wrong[..wrong.len().min(10)].join("\n")
    );
}
