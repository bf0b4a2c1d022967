#!/usr/bin/env python3
"""Soak benchmark (issue 11): many slow syslog senders into `vigil up` for minutes, with RSS over
time, CPU per event and exactly counted lost events; optionally with hostile connections beside it.

    python3 bench/soak.py --vigil target/release/vigil                 # 1,000 TCP x 10/s + 50 UDP x 10/s, 300 s
    python3 bench/soak.py --vigil target/release/vigil --hostile       # the same with 1,024 idle/drip syslog
                                                                       # connections and 1,000 half-open API requests
    python3 bench/soak.py --duration 30 --senders 200 --udp-senders 10 # a quick check

Goals (issue 11), checked at the end and printed as PASS/FAIL (exit status 1 when one fails):
  - RSS (VmHWM, the peak) stays under 300 MB (`--rss-goal-mb`);
  - CPU per stored event within 2x of the one-stream figure: `--baseline-us`, by default the
    `cpu_us_per_event` of bench/results/e2e-vigil-tcp.json (`python3 bench/e2e.py` writes it);
    without either the ratio is not judged;
  - nothing lost: every line a sender wrote completely to its TCP socket, or handed to the kernel
    as a UDP datagram, is stored exactly once;
  - with --hostile, the same, while the server closes/evicts the hostile connections; /health
    keeps answering (its latency is reported).
Run the full 5-minute soaks on a quiet 2-core machine, one at a time, nothing else building.

How it works
  - `vigil up` runs with a fresh data dir under --workdir, on free 127.0.0.1 ports, with a
    generated configuration (`--connector-opt KEY=VALUE` / `--api-opt KEY=VALUE` add or override
    keys of the syslog connector / `api` sections, VALUE written as YAML as given; `--config FILE`
    uses your file instead, the data dir and addresses still set on the command line).
  - Legitimate senders are spread over source addresses 127.0.0.2..127.0.0.254 (client sockets are
    bound before connecting), a few per address, so per-source-IP connection caps see ordinary
    sources; the hostile connections come from 127.0.1.1..127.0.1.N (`--hostile-ips`).
  - Each sender is one TCP connection (or one UDP socket) sending `--rate` lines/s with +-50 %
    jitter around an exact mean schedule. Lines are the shared corpus's lines (vigil-gen-syslog;
    `--corpus`, generated when missing) with the timestamp set to now, the host set to the sender
    (`soak-t0001`, `soak-u001`) and the process id set to the sender's sequence number 1, 2, 3 ...
    (`sshd[17]:`, or the RFC 5424 PROCID). At the end `| stats count(), dc(process.pid),
    max(process.pid) by host.name` gives, per sender, stored, unique and highest sequence: lost =
    written - unique, duplicated = stored - unique.
  - The senders run in `--workers` processes (non-blocking sockets, one epoll loop and one
    scheduling heap each); a line counts as written once its last byte is accepted by the kernel;
    a sender whose connection breaks reconnects (its queued lines go on the new connection; a line
    cut in the middle is counted as abandoned, not written). Their own CPU and lateness are
    reported so it is clear the generator kept up (achieved rate against the target).
  - `--hostile` adds one process holding `--idle-conns` syslog connections (half only connect, half
    drip one byte every `--drip-interval` s and never end a line) and `--http-halfopen` API
    connections that send `GET /api/v1/search?q=x HTTP/1.1\\r\\nHost: x\\r\\n` and stall. Each one
    reconnects `--hostile-reconnect` s after the server closes it; closes, refusals and the
    lifetimes the server allowed are reported.
  - Every `--interval` s: VmRSS and VmHWM from /proc/PID/status, process CPU from /proc/PID/stat,
    open fds (/proc/PID/fd), threads, `vigil_store_events`, the connection gauge and the store's
    memtable bytes (`vigil_store_memtable_bytes_all`: what of RSS is unsealed data) from /metrics,
    lines written so far. /health is polled every `--health-interval` s from its own thread.
  - After `--duration` the senders stop, flush, and the harness waits until the store's event
    count reaches what was written (or stops moving for `--settle` s), then counts per sender.

Writes bench/results/soak-<label>.json (summary, per-sender losses, time series) and prints a
markdown summary. Everything runs on 127.0.0.1, bounded in time; every process started here is
stopped by its PID (also on Ctrl-C and errors; `vigil up` also gets SIGTERM if this script dies).
Python 3 standard library only.
"""
import argparse
import ctypes
import errno
import heapq
import json
import multiprocessing as mp
import os
import random
import re
import resource
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import deque

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
CLK = os.sysconf("SC_CLK_TCK")

LEGIT_IPS = [f"127.0.0.{i}" for i in range(2, 255)]
HOSTILE_NET = "127.0.1."
# lateness buckets (ms) of the senders' schedule: the generator keeping up shows here
LATE_EDGES = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000]
# lifetime buckets (s) of the hostile connections before the server closed them
LIFE_EDGES = [0.1, 1, 5, 10, 30, 60, 120, 300, 600]
OUT_CAP = 256 * 1024  # a sender stops generating while this much is queued unsent
# the event loops sleep at least this long (s): lines due within a tick go out together, so a
# worker wakes at most ~500 times a second however many senders it drives
TICK = 0.002


# ---------------------------------------------------------------- process figures

def proc_cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        parts = f.read().rsplit(")", 1)[1].split()
    return (int(parts[11]) + int(parts[12])) / CLK


def proc_status(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM"):
                out[k] = int(v.split()[0]) * 1024
            elif k == "Threads":
                out[k] = int(v)
    return out


def proc_fds(pid):
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None


def free_port():
    """A port free for both TCP and UDP on 127.0.0.1 (the syslog listener uses both)."""
    for _ in range(50):
        t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        t.bind(("127.0.0.1", 0))
        port = t.getsockname()[1]
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            u.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
        finally:
            u.close()
            t.close()
    raise RuntimeError("no port free for both TCP and UDP")


def set_pdeathsig():
    """In the child before exec: SIGTERM when the harness dies, so nothing outlives it."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def bucket(edges, v):
    for i, e in enumerate(edges):
        if v < e:
            return i
    return len(edges)


def hist_quantile(edges, hist, q):
    """Upper edge of the bucket holding quantile q (None past the last edge)."""
    total = sum(hist)
    if not total:
        return 0
    acc = 0
    for i, n in enumerate(hist):
        acc += n
        if acc >= q * total:
            return edges[i] if i < len(edges) else None
    return None


# ---------------------------------------------------------------- lines

HDR5424 = re.compile(r"^<(\d+)>1 \S+ \S+ (\S+) \S+ (.*)$")
HDR3164 = re.compile(r"^<(\d+)>\w{3} [ \d]\d \d\d:\d\d:\d\d \S+ ([^\[: ]+)(?:\[\d+\])?: (.*)$")


def load_templates(path, limit):
    """(pri, rfc5424?, app, rest) of the first `limit` corpus lines the header regexes take."""
    out = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            m = HDR5424.match(line)
            if m:
                out.append((m.group(1), True, m.group(2), m.group(3)))
            else:
                m = HDR3164.match(line)
                if m:
                    out.append((m.group(1), False, m.group(2), m.group(3)))
            if len(out) >= limit:
                break
    if not out:
        raise RuntimeError(f"{path}: no syslog lines found")
    return out


class Clock:
    """Header timestamps of now, formatted once a second."""

    def __init__(self):
        self.sec = None

    def stamps(self):
        now = time.time()
        s = int(now)
        if s != self.sec:
            self.sec = s
            g = time.gmtime(s)
            self.t3164 = time.strftime("%b ", g) + f"{g.tm_mday:2d}" + time.strftime(" %H:%M:%S", g)
            self.t5424 = time.strftime("%Y-%m-%dT%H:%M:%S", g)
        return self.t3164, f"{self.t5424}.{int((now - s) * 1000):03d}Z"


def render(tpl, host, seq, clock):
    pri, is5424, app, rest = tpl
    t3164, t5424 = clock.stamps()
    if is5424:
        return f"<{pri}>1 {t5424} {host} {app} {seq} {rest}"
    return f"<{pri}>{t3164} {host} {app}[{seq}]: {rest}"


# ---------------------------------------------------------------- legitimate senders

DOWN, CONNECTING, UP = 0, 1, 2

# slots of a legitimate worker's live counters (shared memory, read by the sampler)
L_TCP_SENT, L_UDP_SENT, L_UDP_ERR, L_UP, L_RECONNECTS, L_CONNECT_FAIL, L_CLOSED, L_QUEUED, L_LATE_MAX, \
    L_THROTTLED, L_NSLOTS = range(11)


class TcpSender:
    __slots__ = ("name", "src", "sock", "state", "out", "lens", "head", "seq", "sent", "abandoned", "tpl",
                 "wblocked", "reconnects", "closes", "connect_fail", "since", "cut")

    def __init__(self, name, src, tpl):
        self.name, self.src, self.tpl = name, src, tpl
        self.sock, self.state, self.out, self.lens, self.head = None, DOWN, bytearray(), deque(), 0
        self.seq = self.sent = self.abandoned = self.reconnects = self.closes = self.connect_fail = 0
        self.wblocked, self.since = False, 0.0
        self.cut = []  # sequence numbers of the lines cut in the middle by a broken connection


class UdpSender:
    __slots__ = ("name", "src", "sock", "seq", "sent", "failed", "tpl", "failed_seqs")

    def __init__(self, name, src, tpl):
        self.name, self.src, self.tpl = name, src, tpl
        self.sock, self.seq, self.sent, self.failed = None, 0, 0, 0
        self.failed_seqs = []


def legit_worker(spec, templates, stats, stop, pipe):
    """Runs a slice of the TCP and UDP senders until spec['end'] (monotonic) or `stop`, flushes,
    and sends its per-sender figures through `pipe`."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    ppid = os.getppid()
    rng = random.Random(spec["seed"])
    addr = ("127.0.0.1", spec["port"])
    period = 1.0 / spec["rate"]
    jitter = spec["jitter"]
    clock = Clock()
    sel = selectors.DefaultSelector()
    ntpl = len(templates)
    tcp = [TcpSender(n, src, rng.randrange(ntpl)) for n, src in spec["tcp"]]
    udp = [UdpSender(n, src, rng.randrange(ntpl)) for n, src in spec["udp"]]
    late_hist = [0] * (len(LATE_EDGES) + 1)
    generated = 0
    t0 = time.monotonic()

    def connect(s):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            sock.bind((s.src, 0))
            rc = sock.connect_ex(addr)
        except OSError:
            rc = errno.EADDRNOTAVAIL
        if rc not in (0, errno.EINPROGRESS):
            sock.close()
            s.connect_fail += 1
            stats[L_CONNECT_FAIL] += 1
            retry(s)
            return
        s.sock, s.state, s.wblocked = sock, CONNECTING, False
        sel.register(sock, selectors.EVENT_WRITE, s)

    def retry(s):
        s.state = DOWN
        heapq.heappush(rheap, (time.monotonic() + spec["reconnect"] * (1 + rng.random()), id(s), s))

    def broken(s, connect_failed=False):
        try:
            sel.unregister(s.sock)
        except (KeyError, ValueError):
            pass
        s.sock.close()
        if s.state == UP:
            stats[L_UP] -= 1
        if connect_failed:
            s.connect_fail += 1
            stats[L_CONNECT_FAIL] += 1
        else:
            s.closes += 1
            stats[L_CLOSED] += 1
        if s.head:  # a line cut in the middle: drop its unwritten rest, it is not counted as written
            rest = s.lens.popleft() - s.head
            del s.out[:rest]
            stats[L_QUEUED] -= rest
            s.head = 0
            s.abandoned += 1
            # the head line's number: the last generated one minus those still queued behind it
            if len(s.cut) < 10_000:
                s.cut.append(s.seq - len(s.lens))
        s.reconnects += 1
        stats[L_RECONNECTS] += 1
        retry(s)

    def flush(s):
        while s.out:
            try:
                n = s.sock.send(s.out)
            except BlockingIOError:
                if not s.wblocked:
                    s.wblocked = True
                    sel.modify(s.sock, selectors.EVENT_READ | selectors.EVENT_WRITE, s)
                return
            except OSError:
                broken(s)
                return
            del s.out[:n]
            stats[L_QUEUED] -= n
            while n:
                rem = s.lens[0] - s.head
                if n >= rem:
                    n -= rem
                    s.lens.popleft()
                    s.head = 0
                    s.sent += 1
                    stats[L_TCP_SENT] += 1
                else:
                    s.head += n
                    n = 0
        if s.wblocked:
            s.wblocked = False
            sel.modify(s.sock, selectors.EVENT_READ, s)

    def on_event(s, ev):
        if s.state == CONNECTING:
            err = s.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                broken(s, connect_failed=True)
                return
            s.state, s.since = UP, time.monotonic()
            stats[L_UP] += 1
            sel.modify(s.sock, selectors.EVENT_READ, s)
            flush(s)
            return
        if ev & selectors.EVENT_READ:
            try:
                data = s.sock.recv(4096)
            except BlockingIOError:
                data = None
            except OSError:
                data = b""
            if data == b"":
                broken(s)
                return
        if ev & selectors.EVENT_WRITE:
            flush(s)

    rheap = []
    for s in udp:
        s.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.sock.setblocking(False)
        s.sock.bind((s.src, 0))
    for s in tcp:
        connect(s)
    senders = tcp + udp
    ntcp = len(tcp)
    start = t0 + spec["warmup"]
    heap = [(start + rng.random() * period, i) for i in range(len(senders))]
    heapq.heapify(heap)
    end = spec["end"]
    while True:
        now = time.monotonic()
        if stop.is_set() or now >= end or os.getppid() != ppid:
            break
        while heap and heap[0][0] <= now:
            due, i = heapq.heappop(heap)
            late = now - due
            late_hist[bucket(LATE_EDGES, late * 1000)] += 1
            if late * 1000 > stats[L_LATE_MAX]:
                stats[L_LATE_MAX] = late * 1000
            heapq.heappush(heap, (due + period * (1 + jitter * (2 * rng.random() - 1)), i))
            s = senders[i]
            if i < ntcp:
                if len(s.out) >= OUT_CAP:
                    stats[L_THROTTLED] += 1
                    continue
                s.seq += 1
                line = (render(templates[(s.tpl + s.seq) % ntpl], s.name, s.seq, clock) + "\n").encode()
                s.out += line
                s.lens.append(len(line))
                stats[L_QUEUED] += len(line)
                generated += 1
                if s.state == UP and not s.wblocked:
                    flush(s)
            else:
                s.seq += 1
                generated += 1
                line = render(templates[(s.tpl + s.seq) % ntpl], s.name, s.seq, clock).encode()
                try:
                    s.sock.sendto(line, addr)
                    s.sent += 1
                    stats[L_UDP_SENT] += 1
                except OSError:
                    s.failed += 1
                    if len(s.failed_seqs) < 10_000:
                        s.failed_seqs.append(s.seq)
                    stats[L_UDP_ERR] += 1
        while rheap and rheap[0][0] <= now:
            connect(heapq.heappop(rheap)[2])
        nxt = min(heap[0][0] if heap else now + 0.1, rheap[0][0] if rheap else now + 0.1)
        for key, ev in sel.select(min(max(nxt - now, TICK), 0.1)):
            on_event(key.data, ev)
    gen_s = time.monotonic() - t0

    # flush what is queued (reconnecting where needed), bounded
    flush_end = time.monotonic() + spec["flush"]
    while time.monotonic() < flush_end and os.getppid() == ppid:
        if not any(s.out for s in tcp):
            break
        now = time.monotonic()
        while rheap and rheap[0][0] <= now:
            connect(heapq.heappop(rheap)[2])
        for key, ev in sel.select(0.05):
            on_event(key.data, ev)
        for s in tcp:
            if s.state == UP and s.out and not s.wblocked:
                flush(s)
    for s in tcp:
        if s.sock is not None and s.state != DOWN:
            try:
                s.sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass
    # let the server read the ends of the streams before the sockets go
    time.sleep(0.2)
    for s in tcp:
        if s.sock is not None and s.state != DOWN:
            s.sock.close()
    for s in udp:
        s.sock.close()
    ru = resource.getrusage(resource.RUSAGE_SELF)
    pipe.send({
        # written: sequence numbers 1..last_seq except `not_written` ones and the last `unsent`
        "tcp": {s.name: {"written": s.sent, "last_seq": s.seq, "unsent": len(s.lens), "not_written": s.cut,
                         "not_written_complete": s.abandoned == len(s.cut), "abandoned": s.abandoned,
                         "reconnects": s.reconnects, "closed_by_server": s.closes, "connect_failures": s.connect_fail}
                for s in tcp},
        "udp": {s.name: {"written": s.sent, "last_seq": s.seq, "unsent": 0, "not_written": s.failed_seqs,
                         "not_written_complete": s.failed == len(s.failed_seqs), "send_failures": s.failed}
                for s in udp},
        "generated": generated, "generate_s": round(gen_s - spec["warmup"], 3),
        "throttled": int(stats[L_THROTTLED]), "lateness_hist_ms": late_hist,
        "cpu_s": round(ru.ru_utime + ru.ru_stime, 3),
    })
    pipe.close()


# ---------------------------------------------------------------- hostile connections

H_IDLE_OPEN, H_IDLE_CLOSED, H_IDLE_FAIL, H_HTTP_OPEN, H_HTTP_CLOSED, H_HTTP_FAIL, H_HTTP_RESP, H_DRIP_BYTES, \
    H_NSLOTS = range(9)

HALF_OPEN_REQUEST = b"GET /api/v1/search?q=x HTTP/1.1\r\nHost: x\r\n"
DRIP = b"<13>Jan  1 00:00:00 drip drip: never ends "  # dripped a byte at a time, never a newline


class Hostile:
    __slots__ = ("kind", "src", "port", "sock", "state", "opened", "drip_pos", "buf")

    def __init__(self, kind, src, port):
        self.kind, self.src, self.port = kind, src, port
        self.sock, self.state, self.opened, self.drip_pos, self.buf = None, DOWN, 0.0, 0, b""


def hostile_worker(spec, stats, stop, pipe):
    """Holds idle, dripping and half-open HTTP connections until spec['end'] or `stop`,
    reconnecting each one the server closes; sends its figures through `pipe`."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    ppid = os.getppid()
    rng = random.Random(spec["seed"])
    sel = selectors.DefaultSelector()
    conns = []
    ips = [f"{HOSTILE_NET}{1 + i % 254}" for i in range(spec["ips"])]
    for i in range(spec["idle"]):
        conns.append(Hostile("drip" if i % 2 else "idle", ips[i % len(ips)], spec["syslog_port"]))
    for i in range(spec["http"]):
        conns.append(Hostile("http", ips[i % len(ips)], spec["http_port"]))
    figures = {k: {"connects": 0, "connect_failures": 0, "connect_timeouts": 0, "closed_by_server": 0,
                   "responses": {}, "lifetime_hist_s": [0] * (len(LIFE_EDGES) + 1), "open_at_end": 0}
               for k in ("idle", "drip", "http")}
    slot = {"idle": (H_IDLE_OPEN, H_IDLE_CLOSED, H_IDLE_FAIL), "drip": (H_IDLE_OPEN, H_IDLE_CLOSED, H_IDLE_FAIL),
            "http": (H_HTTP_OPEN, H_HTTP_CLOSED, H_HTTP_FAIL)}
    timers = []  # (when, seq, action, conn)
    tseq = 0

    def at(when, action, c):
        nonlocal tseq
        tseq += 1
        heapq.heappush(timers, (when, tseq, action, c))

    def connect(c):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            sock.bind((c.src, 0))
            rc = sock.connect_ex(("127.0.0.1", c.port))
        except OSError:
            rc = errno.EADDRNOTAVAIL
        if rc not in (0, errno.EINPROGRESS):
            sock.close()
            failed(c)
            return
        c.sock, c.state, c.opened = sock, CONNECTING, time.monotonic()
        sel.register(sock, selectors.EVENT_WRITE, c)
        at(c.opened + spec["connect_timeout"], "connect_timeout", c)

    def failed(c, timeout=False):
        figures[c.kind]["connect_timeouts" if timeout else "connect_failures"] += 1
        stats[slot[c.kind][2]] += 1
        c.state = DOWN
        at(time.monotonic() + spec["reconnect"] * (1 + rng.random()), "connect", c)

    def drop(c):
        try:
            sel.unregister(c.sock)
        except (KeyError, ValueError):
            pass
        c.sock.close()
        c.sock = None

    def closed(c):
        f = figures[c.kind]
        f["closed_by_server"] += 1
        f["lifetime_hist_s"][bucket(LIFE_EDGES, time.monotonic() - c.opened)] += 1
        if c.buf:
            status = c.buf.split(b"\r\n", 1)[0].decode("latin-1")[:40]
            f["responses"][status] = f["responses"].get(status, 0) + 1
            c.buf = b""
        stats[slot[c.kind][0]] -= 1
        stats[slot[c.kind][1]] += 1
        drop(c)
        c.state = DOWN
        at(time.monotonic() + spec["reconnect"] * (1 + rng.random()), "connect", c)

    def on_event(c, ev):
        if c.state == CONNECTING:
            err = c.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                drop(c)
                failed(c)
                return
            c.state, c.opened = UP, time.monotonic()
            figures[c.kind]["connects"] += 1
            stats[slot[c.kind][0]] += 1
            sel.modify(c.sock, selectors.EVENT_READ, c)
            try:
                if c.kind == "http":
                    c.sock.send(HALF_OPEN_REQUEST)
                elif c.kind == "drip":
                    at(time.monotonic() + spec["drip"] * rng.random(), "drip", c)
            except OSError:
                closed(c)
            return
        try:
            data = c.sock.recv(4096)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if data:
            if c.kind == "http" and not c.buf:
                stats[H_HTTP_RESP] += 1
            if len(c.buf) < 4096:
                c.buf += data
            return
        closed(c)

    # ramp the connections in over spec["ramp"] seconds (the listen backlogs are finite)
    t0 = time.monotonic()
    for c in conns:
        at(t0 + rng.random() * spec["ramp"], "connect", c)
    end = spec["end"]
    while True:
        now = time.monotonic()
        if stop.is_set() or now >= end or os.getppid() != ppid:
            break
        while timers and timers[0][0] <= now:
            _, _, action, c = heapq.heappop(timers)
            if action == "connect" and c.state == DOWN:
                connect(c)
            elif action == "connect_timeout" and c.state == CONNECTING and now - c.opened >= spec["connect_timeout"]:
                drop(c)
                failed(c, timeout=True)
            elif action == "drip" and c.state == UP and c.kind == "drip":
                try:
                    c.sock.send(DRIP[c.drip_pos % len(DRIP):c.drip_pos % len(DRIP) + 1])
                    c.drip_pos += 1
                    stats[H_DRIP_BYTES] += 1
                    at(now + spec["drip"] * (0.5 + rng.random()), "drip", c)
                except BlockingIOError:
                    at(now + spec["drip"], "drip", c)
                except OSError:
                    closed(c)
        nxt = timers[0][0] if timers else now + 0.1
        for key, ev in sel.select(min(max(nxt - now, TICK), 0.1)):
            on_event(key.data, ev)
    for c in conns:
        if c.state == UP:
            figures[c.kind]["open_at_end"] += 1
        if c.sock is not None:
            c.sock.close()
    ru = resource.getrusage(resource.RUSAGE_SELF)
    pipe.send({"figures": figures, "cpu_s": round(ru.ru_utime + ru.ru_stime, 3)})
    pipe.close()


# ---------------------------------------------------------------- Vigil and its API

class Api:
    def __init__(self, url, token):
        self.url, self.token = url, token

    def get(self, path, timeout=10):
        req = urllib.request.Request(self.url + path, headers={"Authorization": f"Bearer {self.token}"})
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.read()

    def search(self, q, timeout=600):
        body = json.dumps({"q": q, "limit": 10}).encode()
        req = urllib.request.Request(self.url + "/api/v1/search", data=body, method="POST",
                                     headers={"Authorization": f"Bearer {self.token}",
                                              "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return json.loads(r.read())

    def metrics(self, timeout=10):
        """{series: value} of /metrics, series being `name{labels}` as written."""
        out = {}
        for line in self.get("/metrics", timeout).decode().splitlines():
            if line and not line.startswith("#"):
                k, _, v = line.rpartition(" ")
                try:
                    out[k] = float(v)
                except ValueError:
                    pass
        return out


def metric_sum(m, name, contains=""):
    return sum(v for k, v in m.items() if (k == name or k.startswith(name + "{")) and contains in k)


def by_reason(m, name):
    """{component/reason: n} of a counter with a `reason` label, non-zero ones."""
    out = {}
    for k, v in m.items():
        if k.startswith(name + "{") and v:
            labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', k))
            key = f"{labels.get('component_id', '?')}/{labels.get('reason', '?')}"
            out[key] = out.get(key, 0) + int(v)
    return out


def yaml_scalar(v):
    return json.dumps(v) if isinstance(v, str) else str(v)


def write_config(a, path, data, sport, hport):
    """The generated configuration: the built-in default's shape with the soak's overrides."""
    connector = {"type": "syslog", "udp": f"127.0.0.1:{sport}", "tcp": f"127.0.0.1:{sport}",
                 "max_frame_size": "64KiB"}
    need = a.senders + 64
    if need > 1024:
        connector["max_connections"] = need  # the default (1024) leaves no room for the senders
    api = {"listen": f"127.0.0.1:{hport}", "query_timeout": "600s"}
    lines = ["# generated by bench/soak.py", "version: 1", f"data_dir: {yaml_scalar(data)}", "api:"]
    for k, v in api.items():
        lines.append(f"  {k}: {yaml_scalar(v)}")
    for kv in a.api_opt:
        k, _, v = kv.partition("=")
        lines = [ln for ln in lines if not ln.startswith(f"  {k}:")] + [f"  {k}: {v}"]
    lines += ["collectors:", "  - id: syslog", "    tenant: main", "    connector:"]
    extra = dict(kv.partition("=")[::2] for kv in a.connector_opt)
    for k, v in connector.items():
        if k not in extra:
            lines.append(f"      {k}: {yaml_scalar(v)}")
    for k, v in extra.items():
        lines.append(f"      {k}: {v}")
    lines += ["    normalizer:", "      type: syslog", "      timezone: UTC", "storage:", "  fsync_interval: 200ms", ""]
    with open(path, "w") as f:
        f.write("\n".join(lines))


def start_vigil(a, run_dir, data, sport, hport):
    log = open(os.path.join(run_dir, "vigil.log"), "w")
    if a.config:
        cfg = os.path.abspath(a.config)
    else:
        cfg = os.path.join(run_dir, "vigil.yaml")
        write_config(a, cfg, data, sport, hport)
    cmd = [a.vigil, "up", "--config", cfg, "--data-dir", data, "--syslog-addr", f"127.0.0.1:{sport}",
           "--http-addr", f"127.0.0.1:{hport}"]
    p = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, preexec_fn=set_pdeathsig)
    deadline = time.time() + 60
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{hport}/health", timeout=1).read()
            break
        except Exception:
            if p.poll() is not None:
                with open(log.name) as f:
                    tail = f.read()[-3000:]
                raise RuntimeError(f"vigil exited with {p.returncode}; {log.name}:\n{tail}")
            if time.time() > deadline:
                raise RuntimeError(f"vigil did not answer /health within 60 s; see {log.name}")
            time.sleep(0.1)
    with open(os.path.join(data, "api-token")) as f:
        token = f.read().strip()
    return p, Api(f"http://127.0.0.1:{hport}", token), cmd


def stop_vigil(p):
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(60)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


class HealthPoller(threading.Thread):
    """GET /health every `interval` s: latency in ms, or the error."""

    def __init__(self, url, interval, t0):
        super().__init__(daemon=True)
        self.url, self.interval, self.t0 = url, interval, t0
        self.samples, self.halt = [], threading.Event()

    def run(self):
        while not self.halt.is_set():
            t = time.monotonic()
            try:
                urllib.request.urlopen(self.url + "/health", timeout=5).read()
                self.samples.append((round(t - self.t0, 2), round((time.monotonic() - t) * 1000, 2), None))
            except Exception as e:
                self.samples.append((round(t - self.t0, 2), None, f"{type(e).__name__}: {e}"[:120]))
            self.halt.wait(max(0.0, self.interval - (time.monotonic() - t)))

    def summary(self):
        ok = sorted(s[1] for s in self.samples if s[1] is not None)
        errors = [s for s in self.samples if s[1] is None]

        def q(x):
            return ok[min(len(ok) - 1, int(x * len(ok)))] if ok else None
        return {"polls": len(self.samples), "failures": len(errors), "p50_ms": q(0.5), "p99_ms": q(0.99),
                "max_ms": ok[-1] if ok else None, "first_errors": [e[2] for e in errors[:5]]}


# ---------------------------------------------------------------- the run

def sample(t0, p, api, legit_stats, hostile_stats, workers, hostile=None):
    s = {"t": round(time.monotonic() - t0, 1)}
    st = proc_status(p.pid)
    s["rss_mb"] = round(st.get("VmRSS", 0) / 2**20, 1)
    s["hwm_mb"] = round(st.get("VmHWM", 0) / 2**20, 1)
    s["threads"] = st.get("Threads")
    s["cpu_s"] = round(proc_cpu_s(p.pid), 2)
    s["fds"] = proc_fds(p.pid)
    t = time.monotonic()
    try:
        m = api.metrics(timeout=5)
        s["metrics_ms"] = round((time.monotonic() - t) * 1000, 1)
        s["stored"] = int(metric_sum(m, "vigil_store_events"))
        s["server_connections"] = int(metric_sum(m, "vigil_component_gauge", 'gauge="connections"'))
        # the store's memtables (active and frozen, every partition): what of RSS is data
        # (the same total is reported under every tenant's labels: take one)
        mem_all = [v for k, v in m.items() if k == "vigil_store_memtable_bytes_all"
                   or k.startswith("vigil_store_memtable_bytes_all{")]
        s["memtable_mb"] = round(max(mem_all, default=0) / 2**20, 1)
    except Exception as e:
        s["metrics_error"] = f"{type(e).__name__}: {e}"[:120]
    s["written"] = int(sum(st_[L_TCP_SENT] + st_[L_UDP_SENT] for st_ in legit_stats))
    s["senders_up"] = int(sum(st_[L_UP] for st_ in legit_stats))
    s["sender_reconnects"] = int(sum(st_[L_RECONNECTS] for st_ in legit_stats))
    s["sender_late_max_ms"] = round(max(st_[L_LATE_MAX] for st_ in legit_stats), 1)
    def cpu_of(procs):
        total = 0.0
        for w in procs:
            try:
                total += proc_cpu_s(w.pid)
            except OSError:
                pass
        return round(total, 2)
    s["sender_cpu_s"] = cpu_of(workers)
    if hostile is not None:
        s["hostile_cpu_s"] = cpu_of([hostile])
    if hostile_stats is not None:
        h = hostile_stats
        s["hostile"] = {"syslog_open": int(h[H_IDLE_OPEN]), "syslog_closed": int(h[H_IDLE_CLOSED]),
                        "syslog_connect_fail": int(h[H_IDLE_FAIL]), "http_open": int(h[H_HTTP_OPEN]),
                        "http_closed": int(h[H_HTTP_CLOSED]), "http_connect_fail": int(h[H_HTTP_FAIL]),
                        "http_responses": int(h[H_HTTP_RESP])}
    return s


def settle(api, want, quiet_s, max_s):
    """Polls the store's event gauge until it reaches `want`, or stops moving for `quiet_s`."""
    last, changed, t0 = -1, time.monotonic(), time.monotonic()
    n = 0
    while time.monotonic() - t0 < max_s:
        try:
            n = int(metric_sum(api.metrics(), "vigil_store_events"))
        except Exception:
            time.sleep(1)
            continue
        if n != last:
            last, changed = n, time.monotonic()
        if n >= want or time.monotonic() - changed > quiet_s:
            break
        time.sleep(0.5)
    return n, round(time.monotonic() - t0, 1)


def per_sender(api):
    """{host.name: (stored, unique sequence numbers, lowest, highest)} from one aggregation."""
    t = api.search("| stats count() as n, dc(process.pid) as u, min(process.pid) as lo, max(process.pid) as hi "
                   "by host.name")
    cols = t["columns"]
    h, n, u, lo, hi = (cols.index(c) for c in ("host.name", "n", "u", "lo", "hi"))
    return {row[h]: (int(row[n]), int(row[u]), int(row[lo] or 0), int(row[hi] or 0)) for row in t["rows"]}


def stored_seqs(api, name):
    """{sequence number: times stored} of one sender."""
    t = api.search(f'host.name:"{name}" | count by process.pid')
    return {int(r[0]): int(r[1]) for r in t["rows"] if r[0] is not None}


def losses(api, sent, stored, max_exact):
    """Lost, duplicated and unexpected lines per sender, exactly.

    A sender wrote the sequence numbers 1..last_seq except its `not_written` ones (cut in the
    middle, or refused by the kernel) and its last `unsent` ones. When the aggregation shows
    exactly that many distinct numbers, all stored once, between 1 and the last written one, and
    nothing was left out, the sets are equal; otherwise the sender's numbers are fetched and
    compared (at most `max_exact` senders; beyond that the counts are estimates, flagged)."""
    rows, lost, dup, extra, estimated = [], 0, 0, 0, 0
    checked = 0
    for name, s in sent.items():
        n, u, lo, hi = stored.get(name, (0, 0, 0, 0))
        last_written = s["last_seq"] - s["unsent"]
        if n == u == s["written"] and not s["not_written"] and (u == 0 or (lo >= 1 and hi <= last_written)):
            continue
        if checked < max_exact and s["not_written_complete"]:
            checked += 1
            got = stored_seqs(api, name) if n else {}
            want = set(range(1, last_written + 1)) - set(s["not_written"])
            miss = len(want - got.keys())
            d = sum(c - 1 for c in got.values())
            over = len(got.keys() - want)
            exact = True
        else:
            estimated += 1
            miss, d, over, exact = max(0, s["written"] - u), n - u, 0, False
        lost += miss
        dup += d
        extra += over
        if miss or d or over:
            rows.append({"sender": name, "written": s["written"], "stored": n, "unique": u, "max_seq": hi,
                         "lost": miss, "duplicated": d, "unexpected": over, "cut_lines": len(s["not_written"]),
                         "exact": exact})
    rows.sort(key=lambda r: -r["lost"])
    return {"lost": lost, "duplicated": dup, "unexpected": extra, "estimated_senders": estimated, "rows": rows}


def baseline(a):
    if a.baseline_us:
        return a.baseline_us, "--baseline-us"
    path = os.path.join(HERE, "results", "e2e-vigil-tcp.json")
    try:
        with open(path) as f:
            return json.load(f)["summary"]["cpu_us_per_event"], os.path.relpath(path, REPO)
    except (OSError, KeyError, ValueError):
        return None, None


def ensure_corpus(a):
    if os.path.exists(a.corpus):
        return a.corpus
    path = os.path.join(os.path.abspath(a.workdir), "soak-templates.log")
    if not os.path.exists(path):
        sys.path.insert(0, HERE)
        import corpus_gen
        corpus_gen.generate(path + ".tmp", max(a.templates, 1000), python_gen=a.python_gen)
        os.replace(path + ".tmp", path)
        os.replace(path + ".tmp.meta.json", path + ".meta.json")
    return path


def run(a):
    ctx = mp.get_context("fork")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    n_hostile = (a.idle_conns + a.http_halfopen) if a.hostile else 0
    need = a.senders + a.udp_senders + n_hostile + 256
    if soft < need:  # Vigil inherits the raised limit too
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(need, soft)), hard))
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        if soft < need:
            raise RuntimeError(f"the open-file limit ({soft}) is below the {need} sockets this soak needs")

    corpus = ensure_corpus(a)
    templates = load_templates(corpus, a.templates)
    work = os.path.abspath(a.workdir)
    run_dir = os.path.join(work, f"soak-{a.label}")
    shutil.rmtree(run_dir, ignore_errors=True)
    data = os.path.join(run_dir, "data")
    os.makedirs(data)
    sport, hport = free_port(), free_port()
    p, api, cmd = start_vigil(a, run_dir, data, sport, hport)
    doc = {"label": a.label, "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "nproc": os.cpu_count(),
           "loadavg_start": os.getloadavg(), "vigil_cmd": cmd,
           "params": {k: v for k, v in vars(a).items() if k not in ("vigil",)}, "nofile_limit": soft}
    if not a.config:
        with open(os.path.join(run_dir, "vigil.yaml")) as f:
            doc["config"] = f.read()
    workers, pipes, legit_stats = [], [], []
    hostile = hostile_pipe = hostile_stats = None
    stop, hstop = ctx.Event(), ctx.Event()
    health = None
    series = []
    try:
        t0 = time.monotonic()
        cpu0 = proc_cpu_s(p.pid)
        # the senders: names and source addresses, then a slice to each worker
        tcp = [(f"soak-t{i:04d}", LEGIT_IPS[i % len(LEGIT_IPS)]) for i in range(a.senders)]
        udp = [(f"soak-u{i:03d}", LEGIT_IPS[(i * 7) % len(LEGIT_IPS)]) for i in range(a.udp_senders)]

        def start_hostile():
            nonlocal hostile, hostile_pipe, hostile_stats
            hostile_stats = ctx.Array("d", H_NSLOTS, lock=False)
            rx, tx = ctx.Pipe(duplex=False)
            spec = {"seed": a.seed + 999, "idle": a.idle_conns, "http": a.http_halfopen, "ips": a.hostile_ips,
                    "syslog_port": sport, "http_port": hport, "drip": a.drip_interval,
                    "reconnect": a.hostile_reconnect, "connect_timeout": 10.0, "ramp": a.hostile_ramp,
                    # stopped with the senders; this bound only matters if the harness is stuck
                    "end": time.monotonic() + a.hostile_ramp + a.warmup + a.duration + a.flush + 120}
            hostile = ctx.Process(target=hostile_worker, args=(spec, hostile_stats, hstop, tx), daemon=True)
            hostile.start()
            tx.close()
            hostile_pipe = rx

        if a.hostile and a.hostile_first:
            start_hostile()
            time.sleep(a.hostile_ramp)
        end = time.monotonic() + a.warmup + a.duration
        for w in range(a.workers):
            st = ctx.Array("d", L_NSLOTS, lock=False)
            rx, tx = ctx.Pipe(duplex=False)
            spec = {"seed": a.seed + w, "port": sport, "rate": a.rate, "jitter": a.jitter,
                    "reconnect": a.reconnect, "warmup": a.warmup, "end": end, "flush": a.flush,
                    "tcp": tcp[w::a.workers], "udp": udp[w::a.workers]}
            proc = ctx.Process(target=legit_worker, args=(spec, templates, st, stop, tx), daemon=True)
            proc.start()
            tx.close()
            workers.append(proc)
            pipes.append(rx)
            legit_stats.append(st)
        if a.hostile and not a.hostile_first:
            # the legitimate senders connect first; the hostile ones arrive beside them
            deadline = time.monotonic() + a.warmup
            while time.monotonic() < deadline and sum(s[L_UP] for s in legit_stats) < a.senders:
                time.sleep(0.1)
            start_hostile()
        health = HealthPoller(api.url, a.health_interval, t0)
        health.start()
        next_sample = time.monotonic()
        # --hook-start/--hook-end: commands run when sending begins and ends (a profiler's
        # zero and dump), with the store's count at each, to divide a profile by its events
        hooks = [(end - a.duration, a.hook_start, "start"), (end, a.hook_end, "end")]
        hook_window = {}

        def run_hooks():
            while hooks and time.monotonic() >= hooks[0][0]:
                _, cmd, name = hooks.pop(0)
                rc = None
                if cmd:
                    rc = subprocess.call(cmd.replace("{pid}", str(p.pid)), shell=True,
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                hook_window[name] = {"t": round(time.monotonic() - t0, 1), "rc": rc, "cpu_s": proc_cpu_s(p.pid),
                                     "stored": int(metric_sum(api.metrics(timeout=60), "vigil_store_events"))}
        while time.monotonic() < end + 1:
            run_hooks()
            if p.poll() is not None:
                raise RuntimeError(f"vigil exited with {p.returncode} during the soak; see {run_dir}/vigil.log")
            if time.monotonic() >= next_sample:
                s = sample(t0, p, api, legit_stats, hostile_stats, workers, hostile)
                series.append(s)
                if not a.quiet:
                    h = s.get("hostile")
                    print(f"t={s['t']:>6}s rss={s['rss_mb']}MB hwm={s['hwm_mb']}MB cpu={s['cpu_s']}s fds={s['fds']} "
                          f"memtable={s.get('memtable_mb')}MB stored={s.get('stored')} written={s['written']} up={s['senders_up']} "
                          f"late_max={s['sender_late_max_ms']}ms"
                          + (f" hostile={h}" if h else ""), flush=True)
                next_sample += a.interval
            wake = min([next_sample] + [h[0] for h in hooks])
            time.sleep(min(0.5, max(0.01, wake - time.monotonic())))
        # the workers stop themselves at `end` and flush
        sent_tcp, sent_udp, wstats = {}, {}, []
        for proc, rx in zip(workers, pipes):
            if rx.poll(a.flush + 30):
                r = rx.recv()
                sent_tcp.update(r.pop("tcp"))
                sent_udp.update(r.pop("udp"))
                wstats.append(r)
            else:
                raise RuntimeError(f"sender worker {proc.pid} did not report")
            proc.join(10)
        hostile_result = None
        if hostile:
            hstop.set()
            if hostile_pipe.poll(30):
                hostile_result = hostile_pipe.recv()
            hostile.join(10)
        health.halt.set()
        written = sum(s["written"] for s in sent_tcp.values()) + sum(s["written"] for s in sent_udp.values())
        stored_gauge, settle_s = settle(api, written, a.settle, a.settle_max)
        cpu1 = proc_cpu_s(p.pid)
        series.append(sample(t0, p, api, legit_stats, hostile_stats, []))
        hwm_ingest = series[-1]["hwm_mb"]
        t = time.monotonic()
        stored = per_sender(api)
        query_s = round(time.monotonic() - t, 2)
        tcp_loss = losses(api, sent_tcp, stored, a.exact_checks)
        udp_loss = losses(api, sent_udp, stored, a.exact_checks)
        m = api.metrics()
        st = proc_status(p.pid)
    finally:
        stop.set()
        hstop.set()
        if health:
            health.halt.set()
        for proc in workers + ([hostile] if hostile else []):
            if proc.is_alive():  # only after an error or Ctrl-C: the normal path joined them
                proc.join(3)
            if proc.is_alive():
                os.kill(proc.pid, signal.SIGKILL)
                proc.join(5)
        stop_vigil(p)
        if not a.keep:
            shutil.rmtree(data, ignore_errors=True)

    # ---- figures
    unknown = {k: v[0] for k, v in stored.items() if k not in sent_tcp and k not in sent_udp}
    tcp_lost, tcp_dup = tcp_loss["lost"], tcp_loss["duplicated"]
    udp_lost, udp_dup = udp_loss["lost"], udp_loss["duplicated"]
    tcp_written = sum(s["written"] for s in sent_tcp.values())
    udp_written = sum(s["written"] for s in sent_udp.values())
    events = sum(v[0] for v in stored.values())
    cpu = cpu1 - cpu0
    gen_s = max(w["generate_s"] for w in wstats)
    hist = [sum(col) for col in zip(*(w["lateness_hist_ms"] for w in wstats))]
    target = (a.senders + a.udp_senders) * a.rate
    steady = [s for s in series if "stored" in s and a.warmup + 0.2 * a.duration <= s["t"] <= a.warmup + 0.9 * a.duration]
    steady_us = None
    if len(steady) >= 2 and steady[-1]["stored"] > steady[0]["stored"]:
        steady_us = round((steady[-1]["cpu_s"] - steady[0]["cpu_s"]) / (steady[-1]["stored"] - steady[0]["stored"]) * 1e6, 2)
    rss = [s["rss_mb"] for s in series]
    # RSS growth per stored event over the sending (after the warm-up): a memtable's cost per
    # event until it is sealed, or a leak when it never comes back down
    grow = [s for s in series if "stored" in s and s["t"] >= a.warmup]
    rss_kb_per_event = None
    if len(grow) >= 2 and grow[-1]["stored"] > grow[0]["stored"]:
        peak = max(grow, key=lambda s: s["rss_mb"])
        if peak["stored"] > grow[0]["stored"]:
            rss_kb_per_event = round((peak["rss_mb"] - grow[0]["rss_mb"]) * 1024 / (peak["stored"] - grow[0]["stored"]), 2)
    base_us, base_src = baseline(a)
    us = round(cpu / max(events, 1) * 1e6, 2)
    summary = {
        "duration_s": a.duration, "tcp_senders": a.senders, "udp_senders": a.udp_senders, "rate_per_sender": a.rate,
        "target_lines_per_s": target, "achieved_lines_per_s": round((tcp_written + udp_written) / max(gen_s, 1e-9)),
        "tcp_written": tcp_written, "udp_written": udp_written,
        "udp_send_failures": sum(s["send_failures"] for s in sent_udp.values()),
        "sender_throttled": sum(w["throttled"] for w in wstats),
        "sender_unsent_at_end": sum(s["unsent"] for s in sent_tcp.values()),
        "sender_abandoned": sum(s["abandoned"] for s in sent_tcp.values()),
        "sender_reconnects": sum(s["reconnects"] for s in sent_tcp.values()),
        "sender_lateness_p99_ms": hist_quantile(LATE_EDGES, hist, 0.99),
        "sender_cpu_s": round(sum(w["cpu_s"] for w in wstats), 2),
        "sender_cpu_pct_of_core": round(sum(w["cpu_s"] for w in wstats) / max(gen_s, 1e-9) * 100, 1),
        "stored": events, "stored_gauge": stored_gauge, "settle_s": settle_s, "count_query_s": query_s,
        "tcp_lost": tcp_lost, "tcp_duplicated": tcp_dup, "tcp_unexpected": tcp_loss["unexpected"],
        "udp_lost": udp_lost, "udp_duplicated": udp_dup, "udp_unexpected": udp_loss["unexpected"],
        "loss_estimated_senders": tcp_loss["estimated_senders"] + udp_loss["estimated_senders"],
        "udp_kernel_drops_reported": int(metric_sum(m, "vigil_component_dropped_total", 'reason="kernel_udp_overflow"')),
        "unknown_hosts": unknown,
        "vigil_cpu_s": round(cpu, 2), "cpu_us_per_event": us, "cpu_us_per_event_steady": steady_us,
        "baseline_us": base_us, "baseline_from": base_src,
        "cpu_ratio_to_baseline": round(us / base_us, 2) if base_us else None,
        "rss_max_mb": max(rss), "rss_final_mb": rss[-1], "hwm_ingest_mb": hwm_ingest,
        "hook_window": dict(hook_window, events=hook_window["end"]["stored"] - hook_window["start"]["stored"])
        if "start" in hook_window and "end" in hook_window else None,
        "rss_growth_kb_per_event_to_peak": rss_kb_per_event,
        "memtable_max_mb": max((s.get("memtable_mb") or 0) for s in series),
        "rss_minus_memtable_max_mb": round(max(s["rss_mb"] - (s.get("memtable_mb") or 0) for s in series), 1),
        "hwm_after_queries_mb": round(st.get("VmHWM", 0) / 2**20, 1),
        "fds_max": max((s["fds"] or 0) for s in series), "threads_max": max((s["threads"] or 0) for s in series),
        "health": health.summary(),
        "errors_by_reason": by_reason(m, "vigil_component_errors_total"),
        "drops_by_reason": by_reason(m, "vigil_component_dropped_total"),
        "loadavg_end": os.getloadavg(),
    }
    if hostile_result:
        summary["hostile"] = hostile_result["figures"]
        summary["hostile_cpu_s"] = hostile_result["cpu_s"]
    goals = {
        "rss_under_goal": summary["hwm_ingest_mb"] < a.rss_goal_mb,
        "cpu_within_2x": (summary["cpu_ratio_to_baseline"] <= 2.0) if base_us else None,
        "nothing_lost": tcp_lost == 0 and udp_lost == 0 and tcp_dup == 0 and udp_dup == 0
        and not summary["loss_estimated_senders"],
        "generator_kept_up": summary["achieved_lines_per_s"] >= 0.98 * target,
    }
    if a.hostile:
        goals["health_answered"] = summary["health"]["failures"] == 0
    summary["goals"] = goals
    doc.update({"summary": summary, "lost_by_sender": (tcp_loss["rows"] + udp_loss["rows"])[:200], "workers": wstats,
                "health_samples": health.samples, "series": series})
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    out = os.path.join(HERE, "results", f"soak-{a.label}.json")
    with open(out, "w") as f:
        json.dump(doc, f, indent=1)
    print_summary(a, summary, out)
    ok = all(v is not False for v in goals.values())
    return ok


def print_summary(a, s, out):
    def g(v):
        return "—" if v is None else ("PASS" if v else "FAIL")
    goals = s["goals"]
    print(f"\n### Soak `{a.label}`: {s['tcp_senders']} TCP + {s['udp_senders']} UDP senders x {s['rate_per_sender']}/s, "
          f"{s['duration_s']:g} s" + (", hostile" if a.hostile else "") + "\n")
    print("| figure | value | goal |")
    print("|---|---|---|")
    print(f"| lines/s written (target {s['target_lines_per_s']}) | {s['achieved_lines_per_s']} "
          f"(lateness p99 ≤ {s['sender_lateness_p99_ms']} ms, senders {s['sender_cpu_pct_of_core']} % of a core) "
          f"| {g(goals['generator_kept_up'])} |")
    print(f"| written TCP / UDP | {s['tcp_written']} / {s['udp_written']} | |")
    print(f"| stored | {s['stored']} (settled in {s['settle_s']} s) | |")
    print(f"| lost TCP / UDP (duplicated) | {s['tcp_lost']} / {s['udp_lost']} ({s['tcp_duplicated']} / "
          f"{s['udp_duplicated']}); UDP kernel drops reported {s['udp_kernel_drops_reported']}"
          + (f"; {s['loss_estimated_senders']} senders estimated" if s["loss_estimated_senders"] else "")
          + f" | {g(goals['nothing_lost'])} |")
    print(f"| RSS max / final / VmHWM (after the count queries) | {s['rss_max_mb']} / {s['rss_final_mb']} / "
          f"{s['hwm_ingest_mb']} ({s['hwm_after_queries_mb']}) MB "
          f"| {g(goals['rss_under_goal'])} (< {a.rss_goal_mb} MB) |")
    base = f"{s['baseline_us']} µs ({s['baseline_from']})" if s["baseline_us"] else "no baseline"
    print(f"| CPU µs per event (whole run / steady) | {s['cpu_us_per_event']} / {s['cpu_us_per_event_steady']} "
          f"(ratio {s['cpu_ratio_to_baseline']} to {base}) | {g(goals['cpu_within_2x'])} (≤ 2x) |")
    print(f"| memtables max / RSS minus memtables max (samples) | {s['memtable_max_mb']} / "
          f"{s['rss_minus_memtable_max_mb']} MB | |")
    print(f"| RSS growth to its peak per stored event | {s['rss_growth_kb_per_event_to_peak']} KB | |")
    print(f"| fds max / threads max | {s['fds_max']} / {s['threads_max']} | |")
    h = s["health"]
    print(f"| /health p50 / p99 / max, failures | {h['p50_ms']} / {h['p99_ms']} / {h['max_ms']} ms, "
          f"{h['failures']} of {h['polls']} | {g(goals.get('health_answered'))} |")
    print(f"| sender reconnects / abandoned lines / unsent at end | {s['sender_reconnects']} / {s['sender_abandoned']} "
          f"/ {s['sender_unsent_at_end']} | |")
    if s["errors_by_reason"] or s["drops_by_reason"]:
        print(f"| server errors / drops by reason | {s['errors_by_reason']} / {s['drops_by_reason']} | |")
    for kind, f in (s.get("hostile") or {}).items():
        life = ", ".join(f"<{e}s: {n}" if i < len(LIFE_EDGES) else f"≥{LIFE_EDGES[-1]}s: {n}"
                         for i, (e, n) in enumerate(zip(LIFE_EDGES + [None], f["lifetime_hist_s"])) if n)
        print(f"| hostile {kind}: connects / closed by server / connect failures+timeouts / open at end | "
              f"{f['connects']} / {f['closed_by_server']} / {f['connect_failures']}+{f['connect_timeouts']} / "
              f"{f['open_at_end']} (lifetimes {life or '—'}{'; responses ' + str(f['responses']) if f['responses'] else ''}) | |")
    print(f"\nwritten to {os.path.relpath(out, os.getcwd())}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vigil", default=os.path.join(REPO, "target", "release", "vigil"))
    ap.add_argument("--duration", type=float, default=300.0, help="seconds of sending (default 300)")
    ap.add_argument("--senders", type=int, default=1000, help="TCP senders, one connection each")
    ap.add_argument("--rate", type=float, default=10.0, help="lines per second per sender")
    ap.add_argument("--udp-senders", type=int, default=50)
    ap.add_argument("--jitter", type=float, default=0.5, help="each gap is 1/rate x (1 +- jitter)")
    ap.add_argument("--workers", type=int, default=2, help="sender processes")
    ap.add_argument("--hostile", action="store_true",
                    help="idle/drip syslog connections and half-open API requests beside the soak")
    ap.add_argument("--hostile-first", action="store_true",
                    help="open the hostile connections before the legitimate senders connect")
    ap.add_argument("--idle-conns", type=int, default=1024, help="hostile syslog connections (half drip)")
    ap.add_argument("--http-halfopen", type=int, default=1000, help="hostile half-open API requests")
    ap.add_argument("--hostile-ips", type=int, default=32, help="source addresses 127.0.1.1..N of the hostile side")
    ap.add_argument("--drip-interval", type=float, default=5.0, help="seconds between dripped bytes")
    ap.add_argument("--hostile-reconnect", type=float, default=1.0, help="seconds before reopening a closed one")
    ap.add_argument("--hostile-ramp", type=float, default=5.0, help="seconds over which they first connect")
    ap.add_argument("--reconnect", type=float, default=1.0, help="a legitimate sender's reconnect delay (s)")
    ap.add_argument("--warmup", type=float, default=5.0, help="seconds for the senders to connect before sending")
    ap.add_argument("--flush", type=float, default=15.0, help="seconds the senders may take to flush at the end")
    ap.add_argument("--settle", type=float, default=20.0, help="end when the store count stops moving this long")
    ap.add_argument("--settle-max", type=float, default=300.0)
    ap.add_argument("--interval", type=float, default=5.0, help="seconds between samples")
    ap.add_argument("--health-interval", type=float, default=2.0)
    ap.add_argument("--config", default=None, help="use this vigil configuration instead of the generated one")
    ap.add_argument("--connector-opt", action="append", default=[], metavar="KEY=VALUE",
                    help="a key of the syslog connector in the generated config, e.g. idle_timeout=30s")
    ap.add_argument("--api-opt", action="append", default=[], metavar="KEY=VALUE",
                    help="a key of the `api` section in the generated config")
    ap.add_argument("--corpus", default="/dev/shm/vigil-corpus.log",
                    help="lines to take as templates (generated with vigil-gen-syslog when missing)")
    ap.add_argument("--templates", type=int, default=20000, help="corpus lines used as templates")
    ap.add_argument("--python-gen", action="store_true", help="generate templates with ../shared/bench/gen_syslog.py")
    ap.add_argument("--baseline-us", type=float, default=None,
                    help="one-stream CPU µs per event (default: bench/results/e2e-vigil-tcp.json)")
    ap.add_argument("--rss-goal-mb", type=float, default=300.0)
    ap.add_argument("--exact-checks", type=int, default=100,
                    help="senders whose stored sequence numbers are fetched one by one when their counts differ")
    ap.add_argument("--workdir", default=os.path.join(REPO, "target", "bench-data"))
    ap.add_argument("--label", default=None)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--keep", action="store_true", help="keep the data directory")
    ap.add_argument("--quiet", action="store_true", help="no line per sample")
    ap.add_argument("--hook-start", default=None, metavar="CMD",
                    help="shell command run when the senders begin sending ({pid}: vigil's PID), "
                         "e.g. 'callgrind_control -z {pid}' with --vigil a wrapper running valgrind")
    ap.add_argument("--hook-end", default=None, metavar="CMD",
                    help="shell command run when the senders stop sending, e.g. 'callgrind_control -d {pid}'; "
                         "the events stored between the two hooks are reported (hook_window)")
    a = ap.parse_args()
    problems = []
    if not 1 <= a.senders <= 50_000:
        problems.append("--senders must be 1..50000")
    if not 0 <= a.udp_senders <= 10_000:
        problems.append("--udp-senders must be 0..10000")
    if not 0 < a.rate <= 1000:
        problems.append("--rate must be in (0, 1000]")
    if not 0 <= a.jitter < 1:
        problems.append("--jitter must be in [0, 1)")
    if not 5 <= a.duration <= 24 * 3600:
        problems.append("--duration must be 5 s .. 24 h")
    if not 1 <= a.workers <= 64:
        problems.append("--workers must be 1..64")
    if not 1 <= a.hostile_ips <= 254:
        problems.append("--hostile-ips must be 1..254")
    if a.drip_interval <= 0 or a.hostile_reconnect <= 0 or a.reconnect <= 0 or a.interval <= 0 or a.health_interval <= 0:
        problems.append("intervals and delays must be positive")
    for kv in a.connector_opt + a.api_opt:
        if "=" not in kv or not kv.split("=", 1)[0].strip():
            problems.append(f"{kv!r}: expected KEY=VALUE")
    if not os.access(a.vigil, os.X_OK):
        problems.append(f"--vigil {a.vigil}: not an executable (cargo build --release -p vigil)")
    if problems:
        ap.error("; ".join(problems))
    if a.label is None:
        a.label = f"{a.senders}x{a.rate:g}" + ("-hostile" if a.hostile else "")
    os.makedirs(a.workdir, exist_ok=True)
    try:
        ok = run(a)
    except KeyboardInterrupt:
        print("interrupted; everything started was stopped", file=sys.stderr)
        sys.exit(130)
    except RuntimeError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
