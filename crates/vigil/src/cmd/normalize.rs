//! `vigil normalize`: run a normalizer (a pack, a YAML file, or `auto`) over sample lines and
//! print the events as JSON lines, with a parse-failure summary on stderr; `--suggest` ranks
//! the packs that fit the sample.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};

use anyhow::Context;
use vigil_event::{Bytes, Timestamp};
use vigil_normalize::{AutoNormalizer, Library, NormalizerTree};
use vigil_pipeline::{RawRecord, SourceInfo};

use crate::UsageError;
use crate::cli::NormalizeArgs;

/// Longest line read (longer lines are cut, as the connectors do).
const MAX_LINE: usize = 1 << 20;

pub fn run(a: NormalizeArgs) -> anyhow::Result<u8> {
    let mut lib =
        Library::builtin().map_err(|e| anyhow::anyhow!("shipped packs are invalid:\n{e}"))?;
    let tz: chrono_tz::Tz = a
        .timezone
        .parse()
        .map_err(|_| UsageError(format!("unknown time zone '{}'", a.timezone)))?;
    let name = match &a.normalizer {
        Some(n)
            if n.ends_with(".yaml") || n.ends_with(".yml") || std::path::Path::new(n).is_file() =>
        {
            let bytes = vigil_config::read_file_capped(std::path::Path::new(n), 4 << 20)
                .with_context(|| format!("reading {n}"))?;
            let text = String::from_utf8_lossy(&bytes).into_owned();
            Some(
                lib.add_yaml(&text, n)
                    .map_err(|e| UsageError(e.to_string()))?,
            )
        }
        other => other.clone(),
    };
    let input: Box<dyn BufRead> = match &a.file {
        Some(f) => Box::new(std::io::BufReader::new(
            std::fs::File::open(f).with_context(|| format!("opening {}", f.display()))?,
        )),
        None => Box::new(std::io::BufReader::new(std::io::stdin())),
    };
    let mut lines = Vec::new();
    for l in input.split(b'\n') {
        let mut l = l.context("reading input")?;
        l.truncate(MAX_LINE);
        if !l.iter().all(u8::is_ascii_whitespace) {
            lines.push(l);
        }
    }
    let now = Timestamp::now();
    if a.suggest {
        let text: Vec<String> = lines
            .iter()
            .map(|l| String::from_utf8_lossy(l).trim_end().to_owned())
            .collect();
        let refs: Vec<&str> = text.iter().map(String::as_str).collect();
        let ranked = vigil_normalize::suggest(&lib, &refs, tz, now);
        let mut out = std::io::stdout().lock();
        writeln!(out, "{} sample lines; packs ranked by fit:", lines.len())?;
        for s in ranked.iter().filter(|s| s.parsed > 0).take(a.top) {
            writeln!(
                out,
                "  {:<16} parsed {}/{}  categorized {}  detected {}  fields/line {:.1}  score {:.2}",
                s.name,
                s.parsed,
                lines.len(),
                s.categorized,
                s.detected,
                s.mean_fields,
                s.score
            )?;
            let ex: Vec<String> = s
                .example
                .iter()
                .take(12)
                .map(|(k, v)| format!("{k}={}", cut(v, 40)))
                .collect();
            writeln!(out, "      e.g. {}", ex.join("  "))?;
        }
        writeln!(
            out,
            "use: vigil normalize --normalizer {} --file ...",
            ranked.first().map(|s| s.name.as_str()).unwrap_or("auto")
        )?;
        return Ok(crate::exit::OK);
    }
    let name = name.unwrap_or_else(|| "auto".to_owned());
    let auto = name == "auto";
    let tree = if auto {
        None
    } else {
        let root = lib
            .compile(&name)
            .map_err(|e| UsageError(format!("normalizer '{name}':\n{e}")))?;
        Some(NormalizerTree::new(root, tz))
    };
    let auto_n = if auto {
        Some(AutoNormalizer::new(&lib, tz).map_err(|e| anyhow::anyhow!("{e}"))?)
    } else {
        None
    };
    let src = SourceInfo {
        id: "cli".into(),
        tenant: "main".into(),
        collector: "normalize".into(),
    };
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut failed: BTreeMap<String, (usize, String)> = BTreeMap::new();
    let mut partial: BTreeMap<String, (usize, String)> = BTreeMap::new();
    let mut picked: BTreeMap<String, usize> = BTreeMap::new();
    let (mut parsed, mut with_ts) = (0usize, 0usize);
    for l in &lines {
        let rec = RawRecord {
            data: Bytes::copy_from_slice(l),
            received: now,
            peer: None,
            transport_error: None,
        };
        let ev = match (&tree, &auto_n) {
            (Some(t), _) => t.normalize_record(&src, rec),
            (None, Some(a)) => {
                let (ev, pack) = a.normalize_record(&src, rec);
                *picked
                    .entry(
                        pack.map(|p| p.to_string())
                            .unwrap_or_else(|| "(none)".into()),
                    )
                    .or_default() += 1;
                ev
            }
            (None, None) => continue,
        };
        let example = || cut(&String::from_utf8_lossy(l), 160);
        match &ev.meta.parse_error {
            Some(e) => {
                let reason = e.split(" at offset").next().unwrap_or(e).to_owned();
                failed.entry(reason).or_insert_with(|| (0, example())).0 += 1;
            }
            None => {
                parsed += 1;
                if ev.timestamp != ev.meta.received {
                    with_ts += 1;
                }
            }
        }
        for key in ["vigil.extra_error", "vigil.mapping_error"] {
            if let Some(v) = ev.extra.get(key) {
                partial
                    .entry(format!("{key}: {v}"))
                    .or_insert_with(|| (0, example()))
                    .0 += 1;
            }
        }
        serde_json::to_writer(&mut out, &ev.to_json())?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    let mut err = std::io::stderr().lock();
    writeln!(
        err,
        "normalize: {} lines, {parsed} parsed, {} failed, {with_ts} with a source timestamp",
        lines.len(),
        lines.len() - parsed
    )?;
    if !picked.is_empty() {
        let p: Vec<String> = picked.iter().map(|(k, v)| format!("{k}={v}")).collect();
        writeln!(err, "  auto picked: {}", p.join(", "))?;
    }
    for (reason, (n, ex)) in &failed {
        writeln!(err, "  failed {n:>6}  {reason}\n                 e.g. {ex}")?;
    }
    for (reason, (n, ex)) in &partial {
        writeln!(
            err,
            "  partly {n:>6}  {}\n                 e.g. {ex}",
            cut(reason, 120)
        )?;
    }
    Ok(crate::exit::OK)
}

fn cut(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        s.chars().take(n).collect::<String>() + "…"
    }
}
