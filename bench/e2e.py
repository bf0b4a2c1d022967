#!/usr/bin/env python3
"""End-to-end benchmark: N syslog lines over TCP (or UDP) into `vigil up`, time until all are
searchable, then exact counts by process.name and host.name checked against ground truth.

Measured the way ../shared/bench/run_bench.py measures rsyslog and syslog-ng (same corpus,
same sender, same clock start at the sender's connect, daemon CPU from /proc/PID/stat), so the
figures compare like for like; `--peers` runs those daemons in the same invocation.

    python3 bench/e2e.py --vigil target/release/vigil --runs 3 --peers
    python3 bench/e2e.py --proto udp --udp-rate 50000
    python3 bench/e2e.py --pack linux --forward --peers --peer-targets rsyslog-parse,syslog-ng-parse
    python3 bench/e2e.py --pack linux --sigma ../shared/corpora/sigma/rules/linux \
        --correlation rules/correlation --runs 3          # detection and correlation live too

`--forward` runs Vigil the way the peers' configurations run: TCP in, parse/normalize, one JSON
line per event appended to a file (a `type: file` destination, no store), so CPU per event
compares like for like with rsyslog's and syslog-ng's field-parsing configurations.

A missing --corpus is generated with `vigil-gen-syslog` (bench/gen-syslog, built on demand), the
Rust port of ../shared/bench/gen_syslog.py that writes the same bytes; `--python-gen` runs the
Python original instead.

Writes bench/results/e2e-<label>.json and prints a markdown summary.
Everything runs on 127.0.0.1, bounded in time; processes are stopped by PID.
"""
import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections import Counter

import corpus_gen

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
SHARED_BENCH = os.environ.get("VIGIL_SHARED_BENCH", os.path.join(REPO, "..", "shared", "bench"))
CLK = os.sysconf("SC_CLK_TCK")

HDR5424 = re.compile(rb"^<\d+>1 \S+ (\S+) (\S+) ")
HDR3164 = re.compile(rb"^<\d+>\w{3} [ \d]\d \d\d:\d\d:\d\d (\S+) ([^\[: ]+)")


def proc_cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        parts = f.read().rsplit(")", 1)[1].split()
    return (int(parts[11]) + int(parts[12])) / CLK


def free_port(kind=socket.SOCK_STREAM):
    s = socket.socket(socket.AF_INET, kind)
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def ensure_corpus(path, lines, python_gen=False):
    if os.path.exists(path) and os.path.exists(path + ".meta.json"):
        return
    print(f"generating {lines} lines into {path}...", flush=True)
    tmp = path + ".tmp"
    corpus_gen.generate(tmp, lines, python_gen=python_gen)
    os.replace(tmp + ".meta.json", path + ".meta.json")
    os.replace(tmp, path)


def expected_counts(corpus):
    """Ground truth: process counts from the generator's metadata, host counts by reading the
    corpus header independently of Vigil's parser."""
    with open(corpus + ".meta.json") as f:
        meta = json.load(f)
    c = meta["counts"]
    by_process = {
        "sshd": sum(c.get(k, 0) for k in ["sshd_failed", "sshd_invalid", "sshd_accepted", "sshd_session",
                                          "sshd_disconnect", "sshd_accepted_after_bf"]),
        "sudo": sum(c.get(k, 0) for k in ["sudo_cmd", "sudo_authfail", "sudo_3fail"]),
        "kernel": c.get("fw_allow", 0) + c.get("fw_block", 0),
        "nginx": c.get("web", 0) + c.get("web_scan", 0),
        "CRON": c.get("cron", 0),
        "systemd": c.get("systemd", 0),
        "shopapp": c.get("webapp_login", 0),
    }
    hosts = Counter()
    procs = Counter()
    with open(corpus, "rb") as f:
        for line in f:
            m = HDR5424.match(line) or HDR3164.match(line)
            if m:
                hosts[m.group(1).decode()] += 1
                procs[m.group(2).decode()] += 1
    if dict(procs) != by_process:
        print(f"warning: header scan {dict(procs)} differs from metadata {by_process}", flush=True)
    return meta["lines"], by_process, dict(hosts)


class Api:
    def __init__(self, url, token):
        self.url, self.token = url, token

    def get(self, path, timeout=30):
        req = urllib.request.Request(self.url + path, headers={"Authorization": f"Bearer {self.token}"})
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.read()

    def search(self, q):
        body = json.dumps({"q": q, "limit": 10}).encode()
        req = urllib.request.Request(self.url + "/api/v1/search", data=body, method="POST",
                                     headers={"Authorization": f"Bearer {self.token}",
                                              "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=120) as r:
            return json.loads(r.read())

    def count(self, q=""):
        t = self.search(f"{q} | count")
        return int(t["rows"][0][0]) if t["rows"] else 0

    def count_by(self, field, q=""):
        t = self.search(f"{q} | count by {field}")
        return {row[0]: int(row[1]) for row in t["rows"]}

    def metric(self, name, contains=""):
        total = 0.0
        for line in self.get("/metrics").decode().splitlines():
            if line.startswith(name) and contains in line:
                total += float(line.rsplit(" ", 1)[1])
        return total


def start_vigil(a, data, sport, hport):
    log = open(os.path.join(data, "..", os.path.basename(data) + ".log"), "w")
    cmd = [a.vigil, "up", "--data-dir", data, "--syslog-addr", f"127.0.0.1:{sport}",
           "--http-addr", f"127.0.0.1:{hport}"]
    if a.config:
        cmd += ["--config", os.path.abspath(a.config)]
    elif a.pack or a.forward or a.sigma or a.correlation:
        cfg = os.path.join(data, "..", os.path.basename(data) + ".yaml")
        with open(cfg, "w") as f:
            f.write("version: 1\ncollectors:\n  - id: syslog\n    connector: { type: syslog, tcp: 127.0.0.1:5514 }\n")
            if a.pack:
                f.write(f"    normalizer: {{ type: pack, name: {a.pack} }}\n")
            if a.forward:
                f.write(f"destinations:\n  - type: file\n    path: {forward_path(data)}\n")
            if a.sigma:
                f.write("detection:\n  pipeline: ecs\n  rules:\n")
                for d in a.sigma:
                    f.write(f"    - {os.path.abspath(d)}\n")
            if a.correlation:
                f.write("correlation:\n  rules:\n")
                for d in a.correlation:
                    f.write(f"    - {os.path.abspath(d)}\n")
        cmd += ["--config", cfg]
    p = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{hport}/health", timeout=1).read()
            break
        except Exception:
            if p.poll() is not None:
                raise RuntimeError(f"vigil exited with {p.returncode}; see {log.name}")
            time.sleep(0.1)
    with open(os.path.join(data, "api-token")) as f:
        token = f.read().strip()
    return p, Api(f"http://127.0.0.1:{hport}", token)


def rules_live(a):
    # without --config, `vigil up` runs its default configuration, which runs the shipped
    # correlation pack (since 8063261): its correlation events are stored beside the base ones
    return bool(a.sigma or a.correlation or a.config) or not (a.pack or a.forward)


def forward_path(data):
    return os.path.join(data, "forward.jsonl")


class LineCounter:
    """Counts the lines of a growing file, reading only what was appended since the last call."""

    def __init__(self, path):
        self.path, self.pos, self.lines = path, 0, 0

    def count(self):
        try:
            with open(self.path, "rb") as f:
                f.seek(self.pos)
                while True:
                    chunk = f.read(1 << 22)
                    if not chunk:
                        break
                    self.lines += chunk.count(b"\n")
                    self.pos += len(chunk)
        except FileNotFoundError:
            pass
        return self.lines


def forward_counts(path):
    procs, hosts = Counter(), Counter()
    with open(path, "rb") as f:
        for line in f:
            e = json.loads(line)
            procs[e.get("process", {}).get("name")] += 1
            hosts[e.get("host", {}).get("name")] += 1
    return dict(procs), dict(hosts)


def stop(p):
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(60)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def send_udp(corpus, port, rate, limit_s):
    """Paced UDP sender: one datagram per line at `rate` lines/s."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    sent = 0
    t0 = time.monotonic()
    with open(corpus, "rb") as f:
        batch = 1000
        for line in f:
            s.sendto(line.rstrip(b"\n"), ("127.0.0.1", port))
            sent += 1
            if sent % batch == 0:
                ahead = sent / rate - (time.monotonic() - t0)
                if ahead > 0:
                    time.sleep(ahead)
                if time.monotonic() - t0 > limit_s:
                    break
    return sent, time.monotonic() - t0


def run_once(a, i, n_expected, by_process, by_host):
    work = os.path.abspath(a.workdir)
    data = os.path.join(work, f"vigil-run{i}")
    shutil.rmtree(data, ignore_errors=True)
    os.makedirs(data)
    sport, hport = free_port(), free_port()
    p, api = start_vigil(a, data, sport, hport)
    r = {"run": i, "proto": a.proto}
    try:
        cpu0 = proc_cpu_s(p.pid)
        t0 = time.monotonic()
        if a.proto == "tcp":
            sender = subprocess.Popen([sys.executable, os.path.join(SHARED_BENCH, "send_tcp.py"), "--port",
                                       str(sport), "--file", a.corpus], stdout=subprocess.PIPE)
            sent = n_expected
        else:
            sent, send_s = send_udp(a.corpus, sport, a.udp_rate, a.max_time)
            r["udp_sent"] = sent
            r["udp_send_s"] = round(send_s, 2)
            sender = None
        last, last_change, count = -1, time.monotonic(), 0
        lines = LineCounter(forward_path(data)) if a.forward else None
        while True:
            # the store's event gauge is O(1); a `| count` query per poll would charge the
            # harness's own scans to Vigil's CPU. Exactness is checked by queries afterwards.
            count = lines.count() if lines else int(api.metric("vigil_store_events{"))
            now = time.monotonic()
            if count != last:
                last, last_change = count, now
            if count >= sent and rules_live(a):
                # the gauge counts correlation events too: wait for every base event
                count = api.count("vigil.type:base")
                if count >= sent:
                    break
            elif count >= sent:
                break
            if now - last_change > a.stall_timeout or now - t0 > a.max_time:
                r["error"] = f"stalled at {count} of {sent}"
                break
            time.sleep(0.05)
        t1 = time.monotonic()
        cpu1 = proc_cpu_s(p.pid)
        if sender:
            out, _ = sender.communicate(timeout=60)
            r["sender"] = json.loads(out)
        wall = t1 - t0
        cpu = cpu1 - cpu0
        base_q = "vigil.type:base" if rules_live(a) else ""
        if a.forward:
            searchable = count
        else:
            searchable = api.count(base_q)
            r["searchable_after"] = searchable
            if rules_live(a):
                r["correlation_events"] = api.count("vigil.type:correlation")
        if searchable != count:
            r["error"] = f"gauge said {count} but `| count` found {searchable}"
        r.update({
            "events": count, "wall_s": round(wall, 3), "events_per_s": round(count / wall),
            "vigil_cpu_s": round(cpu, 2), "cpu_s_per_million": round(cpu / max(count, 1) * 1e6, 2),
            "cpu_us_per_event": round(cpu / max(count, 1) * 1e6, 3),
            "events_per_cpu_s": round(count / cpu) if cpu > 0 else None,
        })
        if a.proto == "tcp":
            if a.forward:
                got_p, got_h = forward_counts(forward_path(data))
            else:
                got_p = api.count_by("process.name", base_q)
                got_h = api.count_by("host.name", base_q)
            r["process_counts_exact"] = got_p == by_process
            r["host_counts_exact"] = got_h == by_host
            if got_p != by_process:
                r["process_diff"] = {k: (by_process.get(k), got_p.get(k)) for k in set(by_process) | set(got_p)
                                     if by_process.get(k) != got_p.get(k)}
            if got_h != by_host:
                r["host_diff"] = {k: (by_host.get(k), got_h.get(k)) for k in set(by_host) | set(got_h)
                                  if by_host.get(k) != got_h.get(k)}
        else:
            drops = api.metric("vigil_component_dropped_total", 'reason="kernel_udp_overflow"')
            r["kernel_udp_drops_reported"] = int(drops)
            r["lost"] = sent - count
            r["loss_fully_reported"] = int(drops) == sent - count
        r["parse_errors"] = int(api.metric("vigil_component_errors_total", 'reason="parse"'))
        if not a.forward:
            t = time.monotonic()
            r["query_count_by_process_ms"] = round((api.search("| count by process.name") and time.monotonic() - t) * 1000)
            t = time.monotonic()
            api.search("source.ip:203.0.113.0/24 AND failed")
            r["query_needle_ms"] = round((time.monotonic() - t) * 1000)
    finally:
        stop(p)
    du = subprocess.run(["du", "-sb", os.path.join(data, "events")], capture_output=True, text=True).stdout.split()
    if du and not a.forward:
        r["bytes_on_disk"] = int(du[0])
        r["bytes_per_event"] = round(int(du[0]) / max(r.get("events", 1), 1), 1)
    if not a.keep:
        shutil.rmtree(data, ignore_errors=True)
    return r


def med(rs, k):
    xs = [r[k] for r in rs if isinstance(r.get(k), (int, float))]
    return statistics.median(xs) if xs else None


def run_peers(a):
    out = {}
    results = os.path.join(HERE, "results")
    for target in a.peer_targets.split(","):
        cmd = [sys.executable, os.path.join(SHARED_BENCH, "run_bench.py"), "receiver", "--target", target,
               "--runs", str(a.runs), "--port", str(free_port()), "--corpus", a.corpus, "--results", results,
               "--quiet-wait", "5"]
        print("running", " ".join(cmd), flush=True)
        res = subprocess.run(cmd, capture_output=True, text=True)
        path = os.path.join(results, f"{target}.json")
        if res.returncode != 0 or not os.path.exists(path):
            print(res.stdout[-2000:], res.stderr[-2000:])
            continue
        with open(path) as f:
            out[target] = json.load(f)["summary"]
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vigil", default=os.path.join(REPO, "target", "release", "vigil"))
    ap.add_argument("--corpus", default="/dev/shm/vigil-corpus.log")
    ap.add_argument("--lines", type=int, default=1_000_000, help="corpus size when it must be generated")
    ap.add_argument("--python-gen", action="store_true",
                    help="generate a missing corpus with ../shared/bench/gen_syslog.py instead of its Rust "
                         "port vigil-gen-syslog (same bytes, ~50x slower)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--proto", choices=["tcp", "udp"], default="tcp")
    ap.add_argument("--udp-rate", type=int, default=50_000, help="UDP lines per second")
    ap.add_argument("--workdir", default=os.path.join(REPO, "target", "bench-data"))
    ap.add_argument("--stall-timeout", type=float, default=30.0)
    ap.add_argument("--max-time", type=float, default=300.0)
    ap.add_argument("--keep", action="store_true", help="keep the data directories")
    ap.add_argument("--peers", action="store_true", help="also run rsyslog and syslog-ng (../shared/bench)")
    ap.add_argument("--peer-targets", default="rsyslog-plain,syslog-ng-plain",
                    help="comma-separated ../shared/bench targets, e.g. rsyslog-parse,syslog-ng-parse")
    ap.add_argument("--label", default=None)
    ap.add_argument("--forward", action="store_true",
                    help="write normalized events to a JSON-lines file instead of the store (like the peers)")
    ap.add_argument("--config", default=None,
                    help="run `vigil up --config FILE` (its syslog collector's TCP address is replaced "
                         "by the harness's); e.g. bench/configs/syslog-only.yaml, the default "
                         "configuration before it ran the correlation pack")
    ap.add_argument("--pack", default=None, help="normalize with this pack (e.g. linux) instead of the syslog header")
    ap.add_argument("--sigma", action="append", default=[],
                    help="Sigma rule file or directory run live (detection, `ecs` pipeline); repeatable")
    ap.add_argument("--correlation", action="append", default=[],
                    help="correlation rule file or directory run live (e.g. rules/correlation); repeatable")
    a = ap.parse_args()

    ensure_corpus(a.corpus, a.lines, a.python_gen)
    n, by_process, by_host = expected_counts(a.corpus)
    os.makedirs(a.workdir, exist_ok=True)
    runs = []
    for i in range(a.runs):
        r = run_once(a, i, n, by_process, by_host)
        print(json.dumps(r), flush=True)
        runs.append(r)
    peers = run_peers(a) if a.peers else {}
    label = a.label or (f"vigil-{a.proto}" + ("-forward" if a.forward else "") + (f"-{a.pack}" if a.pack else "")
                        + ("-sigma" if a.sigma else "") + ("-correlation" if a.correlation else ""))
    summary = {k: med(runs, k) for k in ["events_per_s", "wall_s", "cpu_us_per_event", "cpu_s_per_million",
                                         "events_per_cpu_s", "bytes_per_event", "query_count_by_process_ms",
                                         "query_needle_ms"]}
    doc = {"label": label, "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "nproc": os.cpu_count(),
           "corpus": a.corpus, "lines": n, "summary": summary, "runs": runs, "peers": peers}
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    with open(os.path.join(HERE, "results", f"e2e-{label}.json"), "w") as f:
        json.dump(doc, f, indent=1)
    print("\n| subject | events/s (wall, median) | CPU µs per event | events per CPU-second |")
    print("|---|---|---|---|")
    what = "parse+normalize+JSON file" if a.forward else "parse+normalize+store+index"
    if a.pack:
        what += f", pack {a.pack}"
    if a.sigma:
        what += ", Sigma " + "+".join(os.path.basename(os.path.normpath(d)) for d in a.sigma)
    if a.correlation:
        what += ", correlation " + "+".join(os.path.basename(os.path.normpath(d)) for d in a.correlation)
    print(f"| vigil up ({a.proto}, {what}) | {summary['events_per_s']} | "
          f"{summary['cpu_us_per_event']} | {summary['events_per_cpu_s']} |")
    for name, s in peers.items():
        mps = s.get("msgs_per_s", {}).get("median")
        mpc = s.get("msgs_per_cpu_s", {}).get("median")
        us = round(1e6 / mpc, 3) if mpc else None
        print(f"| {name} | {mps} | {us} | {mpc} |")
    ok = all("error" not in r and r.get("process_counts_exact", True) and r.get("host_counts_exact", True)
             for r in runs)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
