#!/usr/bin/env python3
"""Embedded store at scale (issue 3): N syslog lines from the shared generator (seed 42) into
the embedded store through the library, then the same corpus into ClickHouse (Debian's 18.16)
through the `clickhouse` backend.

    python3 bench/store_scale.py --lines 10000000 [--workdir /work/store-bench] [--keep]
        [--no-clickhouse] [--cold-level 9] [--python-gen] [--correlation-every N] [--reps 3]

Steps: generate the corpus into --workdir (streamed to disk; 100 M lines are ~19 GB, so not
/dev/shm) with `vigil-gen-syslog`, the Rust port of ../shared/bench/gen_syslog.py that writes
the same bytes and meta.json (built first with `cargo build --release -p vigil-gen-syslog`;
~0.5 µs a line, 10 M lines in ~8 s; `--python-gen` runs the Python original instead, ~25 µs
a line), run `cargo bench -p vigil-store --bench store_scale`
(ingest: build events from lines and append in batches of 1,000, seal; hot size; needles and
`count by` on the hot tier; one maintenance pass moving everything to the cold tier; cold
size; reopen; the same queries on the cold tier), then the ClickHouse run with the same
needles. Prints the RESULT lines (ingest, bytes per event of each tier in all and per column,
queries), writes bench/results/store-scale-<lines>.json, deletes the
corpus unless --keep. `--correlation-every N` adds a correlation event after every N-th line
and times `process.name:sshd | count` against `vigil.type:correlation | count by rule.name`
(issue 12: 990,000 lines with N = 99 are 1,000,000 stored events):

    python3 bench/store_scale.py --lines 990000 --correlation-every 99 --no-clickhouse --no-cold \
        --reps 15

Everything runs on this machine (ClickHouse on 127.0.0.1).
"""
import argparse
import json
import os
import re
import subprocess
import sys
import time

import corpus_gen

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)


def run_bench(extra, env):
    cmd = ["cargo", "bench", "-p", "vigil-store", "--bench", "store_scale", "--"] + extra
    print("+", " ".join(cmd), flush=True)
    out = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, check=True)
    sys.stderr.write(out.stderr[-2000:])
    lines = [l for l in out.stdout.splitlines() if l.startswith(("RESULT", "build only"))]
    for l in lines:
        print(l, flush=True)
    return lines


def machine():
    """CPU model, vCPUs and memory of this machine, read from /proc."""
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for l in f:
                if l.startswith("model name"):
                    model = l.split(":", 1)[1].strip()
                    break
        with open("/proc/meminfo") as f:
            mem_gib = int(f.readline().split()[1]) / (1 << 20)
    except OSError:
        mem_gib = 0
    return f"{os.cpu_count()} vCPU {model}, {mem_gib:.0f} GiB"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lines", type=int, default=10_000_000)
    ap.add_argument("--workdir", default="/work/store-bench")
    ap.add_argument("--cold-level", type=int, default=9)
    ap.add_argument("--keep", action="store_true", help="keep the corpus")
    ap.add_argument("--no-clickhouse", action="store_true")
    ap.add_argument("--no-cold", action="store_true", help="hot tier only (skip the cold rewrite)")
    ap.add_argument("--reps", type=int, default=3, help="runs of each query (the median is shown)")
    ap.add_argument("--correlation-every", type=int, default=0,
                    help="add a correlation event after every N-th line and time the metadata queries")
    ap.add_argument("--python-gen", action="store_true",
                    help="generate the corpus with ../shared/bench/gen_syslog.py (same bytes, ~50x slower)")
    a = ap.parse_args()
    os.makedirs(a.workdir, exist_ok=True)
    corpus = os.path.join(a.workdir, f"corpus-{a.lines}.log")
    if not os.path.exists(corpus):
        t = time.time()
        tmp = corpus + ".tmp"
        corpus_gen.generate(tmp, a.lines, python_gen=a.python_gen)
        os.replace(tmp + ".meta.json", corpus + ".meta.json")
        os.replace(tmp, corpus)
        print(f"generated {corpus} in {time.time() - t:.0f} s", flush=True)
    env = dict(os.environ)
    results = {"lines": a.lines, "cold_level": a.cold_level, "machine": machine(),
               "correlation_every": a.correlation_every}
    corr = ["--reps", str(a.reps)]
    corr += ["--correlation-every", str(a.correlation_every)] if a.correlation_every else []
    try:
        emb = run_bench(["--corpus", corpus, "--dir", a.workdir, "--cold-level", str(a.cold_level)]
                        + (["--no-cold"] if a.no_cold else []) + corr, env)
        results["embedded"] = emb
        ip, words = None, []
        for l in emb:
            m = re.search(r"needle-ip `source\.ip:([^`]+)`", l)
            if m:
                ip = m.group(1)
            m = re.search(r"hot needle-word `([^`]+)`", l)
            if m:
                words.append(m.group(1))
        if not a.no_clickhouse:
            results["clickhouse"] = run_bench(
                ["--corpus", corpus, "--dir", a.workdir, "--clickhouse", "--ip", ip or "10.0.0.1",
                 "--word", ",".join(words) or "phpunit,zgrab"] + corr, env)
    finally:
        if not a.keep:
            os.remove(corpus)
            meta = corpus + ".meta.json"
            if os.path.exists(meta):
                os.remove(meta)
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    suffix = f"-corr{a.correlation_every}" if a.correlation_every else ""
    out = os.path.join(HERE, "results", f"store-scale-{a.lines}{suffix}.json")
    with open(out, "w") as f:
        json.dump(results, f, indent=1)
    print("wrote", out)


if __name__ == "__main__":
    main()
