"""The shared syslog corpus for the bench scripts: the Rust port by default, the Python original
on request.

`vigil-gen-syslog` (bench/gen-syslog) writes the same bytes and the same `<out>.meta.json` as
../shared/bench/gen_syslog.py for the same arguments (its `python_parity` test compares them),
at ~0.5 µs a line instead of ~25-32 µs. `command(python_gen=False)` builds it with
`cargo build --release -p vigil-gen-syslog` (a no-op when up to date) and returns the binary
in cargo's target directory (`CARGO_TARGET_DIR` is honoured); `python_gen=True` returns the
Python script, as the bench scripts' `--python-gen` flag asks.
"""
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
SHARED_BENCH = os.environ.get("VIGIL_SHARED_BENCH", os.path.join(REPO, "..", "shared", "bench"))


def target_dir():
    out = subprocess.run(["cargo", "metadata", "--format-version", "1", "--no-deps"], cwd=REPO,
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)["target_directory"]


def command(python_gen=False):
    """The generator's command line, without arguments."""
    if python_gen:
        return [sys.executable, os.path.join(SHARED_BENCH, "gen_syslog.py")]
    cmd = ["cargo", "build", "--release", "-p", "vigil-gen-syslog"]
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, cwd=REPO, check=True)
    return [os.path.join(target_dir(), "release", "vigil-gen-syslog")]


def generate(out, lines, python_gen=False, seed=42, fmt="wire"):
    """Writes `lines` lines to `out` and `out + ".meta.json"`."""
    cmd = command(python_gen) + ["--lines", str(lines), "--seed", str(seed), "--format", fmt, "--out", out]
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)
