//! The Rust port against the Python original: same arguments, same bytes, same metadata.
//!
//! Needs `python3` and `../shared/bench/gen_syslog.py` (found through `VIGIL_SHARED_BENCH`,
//! else a `shared/bench` directory beside the repository or one of its parents). Without
//! them the test says so and passes, except under CI (`CI` set), which always has them.

#![allow(clippy::panic)]
#![allow(clippy::disallowed_methods)] // reads the two generators' own small outputs, whole

use std::path::{Path, PathBuf};
use std::process::Command;

fn generator() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("VIGIL_SHARED_BENCH") {
        return Some(PathBuf::from(dir).join("gen_syslog.py")).filter(|p| p.is_file());
    }
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let repo = repo.canonicalize().unwrap_or(repo);
    repo.ancestors()
        .map(|d| d.join("shared/bench/gen_syslog.py"))
        .find(|p| p.is_file())
}

fn python_works() -> bool {
    Command::new("python3")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The generator script, or `None` (after saying why) when this machine cannot run it.
fn python_generator() -> Option<PathBuf> {
    let script = generator();
    let missing = match (&script, python_works()) {
        (Some(_), true) => return script,
        (None, _) => "../shared/bench/gen_syslog.py not found (set VIGIL_SHARED_BENCH)",
        (Some(_), false) => "python3 not found",
    };
    assert!(
        std::env::var_os("CI").is_none(),
        "python parity test cannot run under CI: {missing}"
    );
    eprintln!("skipping the python parity test: {missing}");
    None
}

struct Run {
    corpus: Vec<u8>,
    meta_file: Vec<u8>,
    stderr_last_line: String,
}

fn run(cmd: &mut Command, out: &Path) -> Run {
    let output = cmd.arg("--out").arg(out).output();
    let output = match output {
        Ok(o) => o,
        Err(e) => panic!("running {cmd:?}: {e}"),
    };
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "{cmd:?} failed: {stderr}");
    let read =
        |p: &Path| std::fs::read(p).unwrap_or_else(|e| panic!("reading {}: {e}", p.display()));
    Run {
        corpus: read(out),
        meta_file: read(Path::new(&format!("{}.meta.json", out.display()))),
        stderr_last_line: stderr.lines().last().unwrap_or_default().to_owned(),
    }
}

fn json(bytes: &[u8], what: &str) -> serde_json::Value {
    serde_json::from_slice(bytes).unwrap_or_else(|e| panic!("{what} is not JSON: {e}"))
}

/// The first differing line, for a readable failure.
fn first_difference(a: &[u8], b: &[u8]) -> String {
    let (a, b) = (String::from_utf8_lossy(a), String::from_utf8_lossy(b));
    for (i, (la, lb)) in a.lines().zip(b.lines()).enumerate() {
        if la != lb {
            return format!("line {}:\n python: {la}\n rust:   {lb}", i + 1);
        }
    }
    format!(
        "lengths differ: python {} lines, rust {} lines",
        a.lines().count(),
        b.lines().count()
    )
}

#[test]
fn rust_port_writes_the_python_generators_bytes_and_metadata() {
    let Some(script) = python_generator() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("temp dir: {e}"));
    let cases: [&[&str]; 5] = [
        &["--lines", "20000", "--seed", "42", "--format", "wire"],
        &["--lines", "20000", "--seed", "42", "--format", "file"],
        &["--lines", "20000", "--seed", "7", "--format", "wire"],
        &["--lines", "20000", "--seed", "7", "--format", "file"],
        // other options: a year boundary, a negative seed, a higher rate, a fractional start
        &[
            "--lines",
            "5000",
            "--seed",
            "-3",
            "--format",
            "wire",
            "--rfc5424-ratio",
            "0.8",
            "--eps",
            "1000",
            "--start",
            "2024-12-31T23:59:58.25",
        ],
    ];
    for (i, args) in cases.iter().enumerate() {
        let py = run(
            Command::new("python3").arg(&script).args(*args),
            &dir.path().join(format!("py-{i}.log")),
        );
        let rs = run(
            Command::new(env!("CARGO_BIN_EXE_vigil-gen-syslog")).args(*args),
            &dir.path().join(format!("rs-{i}.log")),
        );
        assert!(
            py.corpus == rs.corpus,
            "corpus differs for {args:?}: {}",
            first_difference(&py.corpus, &rs.corpus)
        );
        assert_eq!(
            json(&py.meta_file, "python meta"),
            json(&rs.meta_file, "rust meta"),
            "meta values differ for {args:?}"
        );
        assert_eq!(
            json(py.stderr_last_line.as_bytes(), "python stderr"),
            json(rs.stderr_last_line.as_bytes(), "rust stderr"),
            "stderr meta differs for {args:?}"
        );
        // The port also writes the JSON byte for byte like the json module.
        assert_eq!(
            String::from_utf8_lossy(&py.meta_file),
            String::from_utf8_lossy(&rs.meta_file)
        );
        assert_eq!(py.stderr_last_line, rs.stderr_last_line);
    }
}
