//! `vigil-gen-syslog`: the shared syslog corpus generator, byte-identical to
//! `../shared/bench/gen_syslog.py` for the same arguments (see the library's docs).

use std::fs::File;
use std::io::{BufWriter, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::{Parser, ValueEnum};
use vigil_gen_syslog::{Config, Format, generate, pytime};

/// Deterministic synthetic syslog corpus for SIEM ingest/correlation benchmarks: the same
/// bytes and `<out>.meta.json` as `../shared/bench/gen_syslog.py` with the same arguments.
#[derive(Debug, Parser)]
#[command(version, infer_long_args = true)]
struct Args {
    /// Number of lines.
    #[arg(long, default_value = "1000000", value_parser = parse_py_int, allow_negative_numbers = true)]
    lines: i128,
    /// Seed of the content RNG (the scheduling RNG gets seed + 1).
    #[arg(long, default_value = "42", value_parser = parse_py_int, allow_negative_numbers = true)]
    seed: i128,
    /// `wire`: every line starts with `<PRI>`; `file`: no `<PRI>`.
    #[arg(long, value_enum, default_value_t = FormatArg::Wire)]
    format: FormatArg,
    /// Share of RFC 5424 headers (the rest is RFC 3164).
    #[arg(long = "rfc5424-ratio", default_value = "0.3", value_parser = parse_py_float, allow_negative_numbers = true)]
    rfc5424_ratio: f64,
    /// Mean event-time rate (events/s) of the corpus.
    #[arg(long, default_value = "200.0", value_parser = parse_py_float, allow_negative_numbers = true)]
    eps: f64,
    /// Event time of the start (ISO 8601, taken as UTC).
    #[arg(long, default_value = "2024-05-01T00:00:00")]
    start: String,
    /// Output file, or `-` for standard output (then no `.meta.json` is written).
    #[arg(long, default_value = "-")]
    out: String,
    /// Report progress on stderr even when it is not a terminal (one line per 5 %).
    #[arg(long)]
    progress: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum FormatArg {
    Wire,
    File,
}

/// Python's `int(s)`: surrounding whitespace, a sign, digits with single `_` between them.
fn parse_py_int(s: &str) -> Result<i128, String> {
    let t = s.trim();
    let (neg, body) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let ok = !body.is_empty()
        && !body.starts_with('_')
        && !body.ends_with('_')
        && !body.contains("__")
        && body.bytes().all(|b| b.is_ascii_digit() || b == b'_');
    let v: Option<i128> = ok.then(|| body.replace('_', "").parse().ok()).flatten();
    v.map(|v| if neg { -v } else { v })
        .ok_or_else(|| format!("invalid int value: {s:?}"))
}

/// Python's `float(s)`: surrounding whitespace, `_` between digits, `inf`/`nan` spellings.
fn parse_py_float(s: &str) -> Result<f64, String> {
    let t = s.trim();
    let b = t.as_bytes();
    let underscores_ok = b.iter().enumerate().all(|(i, &c)| {
        c != b'_'
            || (i > 0 && i + 1 < b.len() && b[i - 1].is_ascii_digit() && b[i + 1].is_ascii_digit())
    });
    underscores_ok
        .then(|| t.replace('_', "").parse::<f64>().ok())
        .flatten()
        .ok_or_else(|| format!("invalid float value: {s:?}"))
}

/// Progress on stderr: a bar on a terminal, a line per 5 % with `--progress` otherwise.
enum Progress {
    None,
    Bar(indicatif::ProgressBar),
    Lines {
        total: u64,
        next_pct: u64,
        started: Instant,
    },
}

impl Progress {
    fn new(total: u64, forced: bool) -> Self {
        if std::io::stderr().is_terminal() {
            let bar = indicatif::ProgressBar::new(total);
            let style = indicatif::ProgressStyle::with_template(
                "{wide_bar} {human_pos}/{human_len} lines {per_sec} eta {eta}",
            );
            if let Ok(style) = style {
                bar.set_style(style);
            }
            bar.enable_steady_tick(Duration::from_millis(250));
            Progress::Bar(bar)
        } else if forced {
            Progress::Lines {
                total,
                next_pct: 5,
                started: Instant::now(),
            }
        } else {
            Progress::None
        }
    }

    fn update(&mut self, n: u64) {
        match self {
            Progress::None => {}
            Progress::Bar(bar) => bar.set_position(n),
            Progress::Lines {
                total,
                next_pct,
                started,
            } => {
                let pct = n.saturating_mul(100) / (*total).max(1);
                if pct >= *next_pct {
                    eprintln!(
                        "vigil-gen-syslog: {n}/{total} lines ({pct} %) in {:.1} s",
                        started.elapsed().as_secs_f64()
                    );
                    *next_pct = pct / 5 * 5 + 5;
                }
            }
        }
    }

    fn finish(self) {
        if let Progress::Bar(bar) = self {
            bar.finish_and_clear();
        }
    }
}

fn main() -> ExitCode {
    let a = Args::parse();
    match run(&a) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let broken_pipe = e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            });
            if broken_pipe && a.out == "-" {
                // `vigil-gen-syslog | head`: the reader had enough.
                return ExitCode::from(141);
            }
            eprintln!("vigil-gen-syslog: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(a: &Args) -> Result<()> {
    let lines = u64::try_from(a.lines)
        .map_err(|_| anyhow::anyhow!("--lines must not be negative, got {}", a.lines))?;
    let start_us = pytime::parse_isoformat(&a.start).context("--start")?;
    let cfg = Config {
        lines,
        seed: a.seed,
        format: match a.format {
            FormatArg::Wire => Format::Wire,
            FormatArg::File => Format::File,
        },
        rfc5424_ratio: a.rfc5424_ratio,
        eps: a.eps,
        start_us,
    };
    cfg.check()?;
    let mut progress = Progress::new(lines, a.progress);
    let meta = if a.out == "-" {
        let mut out = BufWriter::with_capacity(1 << 22, std::io::stdout().lock());
        let meta = generate(&cfg, &mut out, |n| progress.update(n))?;
        out.flush().context("writing standard output")?;
        meta
    } else {
        let file = File::create(&a.out).with_context(|| format!("creating {}", a.out))?;
        let mut out = BufWriter::with_capacity(1 << 22, file);
        let meta = generate(&cfg, &mut out, |n| progress.update(n))
            .with_context(|| format!("generating {}", a.out))?;
        out.flush().with_context(|| format!("writing {}", a.out))?;
        meta
    };
    progress.finish();
    let value = meta.to_value();
    if a.out != "-" {
        let path = PathBuf::from(format!("{}.meta.json", a.out));
        std::fs::write(&path, value.dumps_indent(1))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    eprintln!("{}", value.dumps());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_parse_like_python() {
        assert_eq!(parse_py_int(" 1_000_000 "), Ok(1_000_000));
        assert_eq!(parse_py_int("-7"), Ok(-7));
        for bad in ["", "1__0", "_1", "1_", "1.0", "0x10"] {
            assert!(parse_py_int(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_py_float("200"), Ok(200.0));
        assert_eq!(parse_py_float(" 1_000.5"), Ok(1000.5));
        assert_eq!(parse_py_float("1e3"), Ok(1000.0));
        assert!(parse_py_float("nan").is_ok_and(f64::is_nan));
        assert!(parse_py_float("1_").is_err());
    }
}
