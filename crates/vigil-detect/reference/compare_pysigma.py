#!/usr/bin/env python3
"""Compare vigil-detect's matches with pySigma's interpretation of the same rules.

pySigma has no in-memory evaluator, so every rule is converted with pySigma's SQLite
backend (pySigma-backend-sqlite) into a WHERE clause and run over an SQLite table holding
the same flattened events Vigil sees (one TEXT COLLATE NOCASE column per field, as
Zircolite builds it). The (rule, event) match pairs of both sides are compared; every
disagreement is printed with the rule's SQL and the event's relevant fields.

Both sides run without a processing pipeline: every rule on every event, field names as
they are (Vigil: `LoadOptions::default()`, i.e. hunt mode). This compares the detection
semantics (modifiers, wildcards, case, conditions), not the logsource routing, which is
checked separately against SigmaHQ's thor.yml (tests/sigma_corpus.rs).

Usage (from the workspace root holding crates/vigil-detect):
    python3 crates/vigil-detect/reference/compare_pysigma.py [--rules N] [--benign N]
                                                              [--out DIR] [--target-dir D]
Installs pySigma and pySigma-backend-sqlite into a venv under /tmp when missing.
"""

import argparse
import collections
import glob
import json
import os
import re
import sqlite3
import subprocess
import sys
import zipfile

VENV = "/tmp/vigil-pysigma-venv"
PACKAGES = ["pySigma==2.0.1", "pySigma-backend-sqlite==2.1.1"]
HERE = os.path.dirname(os.path.abspath(__file__))
CRATE = os.path.dirname(HERE)


def ensure_venv():
    py = os.path.join(VENV, "bin", "python")
    if not os.path.exists(py):
        subprocess.check_call([sys.executable, "-m", "venv", VENV])
    ok = subprocess.call([py, "-c", "import sigma.backends.sqlite"], stderr=subprocess.DEVNULL)
    if ok != 0:
        subprocess.check_call([py, "-m", "pip", "install", "-q", *PACKAGES])
    if os.path.realpath(sys.prefix) != os.path.realpath(VENV):
        os.execv(py, [py, *sys.argv])


def corpora_root():
    if os.environ.get("VIGIL_CORPORA"):
        return os.environ["VIGIL_CORPORA"]
    # crates/vigil-detect -> repository root -> ../shared/corpora
    return os.path.join(CRATE, "..", "..", "..", "shared", "corpora")


def pick_rules(sigma, n, any_category=False):
    """The rules of the regression cases plus n process_creation / registry / file rules,
    sampled evenly (placeholder rules excluded: pySigma needs their values supplied)."""
    chosen = []
    with open(os.path.join(sigma, "REGRESSION_CASES.tsv")) as f:
        rows = [line.rstrip("\n").split("\t") for line in f][1:]
    for r in rows:
        if len(r) > 2 and r[2].endswith(".yml"):
            p = os.path.join(sigma, r[2])
            if os.path.exists(p) and p not in chosen:
                chosen.append(p)
    pool = []
    for d in ["rules", "rules-emerging-threats", "rules-threat-hunting"]:
        for p in sorted(glob.glob(os.path.join(sigma, d, "**", "*.yml"), recursive=True)):
            t = open(p, encoding="utf-8").read()
            if "product: windows" in t and (any_category or re.search(
                r"category: (process_creation|registry_\w+|file_\w+)", t
            )):
                pool.append(p)
    pool = [p for p in pool if p not in chosen]
    step = max(1.0, len(pool) / n)
    i = 0.0
    while int(i) < len(pool) and n > 0:
        chosen.append(pool[int(i)])
        i += step
        n -= 1
    return chosen


def regression_events(sigma):
    out = []
    for p in sorted(glob.glob(os.path.join(sigma, "regression_data", "**", "*.json"), recursive=True)):
        text = open(p, encoding="utf-8").read()
        dec, i = json.JSONDecoder(), 0
        while True:
            while i < len(text) and text[i].isspace():
                i += 1
            if i >= len(text):
                break
            v, i = dec.raw_decode(text, i)
            out.append(v)
    return out


def benign_events(root, n):
    """n OTRF Windows host events sampled evenly, half of them process creations."""
    procs, others = [], []
    for z in sorted(glob.glob(os.path.join(root, "otrf-security-datasets", "datasets", "atomic", "windows", "**", "*.zip"), recursive=True)):
        with zipfile.ZipFile(z) as f:
            for name in f.namelist():
                if not name.endswith(".json"):
                    continue
                for line in f.read(name).splitlines():
                    try:
                        v = json.loads(line)
                    except ValueError:
                        continue
                    if isinstance(v, dict):
                        (procs if v.get("EventID") in (1, 4688) else others).append(v)

    def even(xs, k):
        step = max(1.0, len(xs) / max(k, 1))
        return [xs[int(i * step)] for i in range(min(k, len(xs)))]

    return even(procs, n // 2) + even(others, n - n // 2)


def sql_text(v):
    if v is None:
        return None
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (dict, list)):
        return json.dumps(v)
    return str(v)


def all_strings(v, out):
    if isinstance(v, str):
        out.append(v)
    elif isinstance(v, list):
        for x in v:
            all_strings(x, out)
    elif isinstance(v, dict):
        for x in v.values():
            all_strings(x, out)


def regexp(pattern, value):
    if value is None:
        return False
    try:
        return re.search(pattern, value) is not None
    except re.error:
        return False


def main():
    ensure_venv()
    from sigma.backends.sqlite import sqliteBackend
    from sigma.collection import SigmaCollection

    ap = argparse.ArgumentParser()
    ap.add_argument("--rules", type=int, default=300)
    ap.add_argument("--benign", type=int, default=400)
    ap.add_argument("--any-category", action="store_true",
                    help="sample from every Windows rule, not only process/registry/file")
    ap.add_argument("--out", default="/tmp/vigil-reference")
    ap.add_argument("--target-dir", default=os.environ.get("CARGO_TARGET_DIR", ""))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    root = os.path.realpath(corpora_root())
    sigma = os.path.join(root, "sigma")

    rules = pick_rules(sigma, args.rules, args.any_category)
    with open(os.path.join(args.out, "rules.txt"), "w") as f:
        f.write("\n".join(rules) + "\n")
    raw = regression_events(sigma)
    n_regression = len(raw)
    raw += benign_events(root, args.benign)
    with open(os.path.join(args.out, "events.jsonl"), "w") as f:
        for e in raw:
            f.write(json.dumps(e) + "\n")

    # Vigil: matches and the flattened events it saw.
    env = dict(os.environ)
    if args.target_dir:
        env["CARGO_TARGET_DIR"] = args.target_dir
    flat_path = os.path.join(args.out, "flat.jsonl")
    res = subprocess.run(
        ["cargo", "run", "-q", "--release", "-p", "vigil-detect", "--example", "dump_matches", "--",
         os.path.join(args.out, "rules.txt"), os.path.join(args.out, "events.jsonl"),
         "--flat-out", flat_path],
        env=env, capture_output=True, text=True, check=True,
    )
    vigil = set()
    for line in res.stdout.splitlines():
        d = json.loads(line)
        vigil.add((d["rule_id"], d["event"]))
    events = [json.loads(line) for line in open(flat_path)]
    assert len(events) == len(raw)

    # SQLite table, Zircolite style: one TEXT COLLATE NOCASE column per field; a fulltext
    # column (every string value) for keyword rules; REGEXP as Python's re.search.
    db = sqlite3.connect(":memory:")
    db.create_function("REGEXP", 2, regexp, deterministic=True)
    cols = sorted({k.lower(): k for e in events for k in e}.values(), key=str.lower)
    colset = {c.lower() for c in cols} | {"_fulltext"}
    q = lambda c: '"' + c.replace('"', '""') + '"'
    db.execute("CREATE TABLE logs (" + ", ".join(
        [f"{q(c)} TEXT COLLATE NOCASE" for c in cols] + ['"_fulltext" TEXT COLLATE NOCASE']) + ")")
    for i, e in enumerate(events):
        strs = []
        all_strings(e, strs)
        keys = list(e.keys())
        db.execute(
            "INSERT INTO logs (rowid, " + ", ".join(q(k) for k in keys) + ', "_fulltext") VALUES ('
            + ", ".join("?" * (len(keys) + 2)) + ")",
            [i + 1] + [sql_text(e[k]) for k in keys] + ["\n".join(strs)],
        )

    backend = sqliteBackend(fulltext_field="_fulltext")
    sigma_pairs = set()
    rule_ids = []
    not_converted = {}
    for p in rules:
        text = open(p, encoding="utf-8").read()
        try:
            coll = SigmaCollection.from_yaml(text)
            rule = coll.rules[0]
            rid = str(rule.id) if rule.id else rule.title
            queries = backend.convert(coll)
        except Exception as ex:  # noqa: BLE001 - report every reason
            not_converted[p] = f"{type(ex).__name__}: {ex}"
            continue
        rule_ids.append((rid, p))
        for sql in queries:
            where = sql.split(" WHERE ", 1)[1]
            # Fields no event has are NULL columns.
            for fld in set(re.findall(r'(?<![\'\w"])([A-Za-z_][A-Za-z0-9_]*)(?=\s*(?:=|<|>|LIKE|GLOB|REGEXP|IS))', where)):
                if fld.lower() not in colset and fld.upper() not in ("AND", "OR", "NOT"):
                    db.execute(f'ALTER TABLE logs ADD COLUMN {q(fld)} TEXT COLLATE NOCASE')
                    colset.add(fld.lower())
            for _attempt in range(20):
                try:
                    for (rowid,) in db.execute(f"SELECT rowid FROM logs WHERE {where}"):
                        sigma_pairs.add((rid, rowid - 1))
                    break
                except sqlite3.OperationalError as ex:
                    missing = re.match(r"no such column: (.+)", str(ex))
                    if not missing:
                        not_converted[p] = f"sqlite: {ex}: {where[:200]}"
                        break
                    # A field no event has: an all-NULL column.
                    db.execute(f"ALTER TABLE logs ADD COLUMN {q(missing.group(1))} TEXT COLLATE NOCASE")
                    colset.add(missing.group(1).lower())
    compared = {rid for rid, _ in rule_ids if all(p not in not_converted for r, p in rule_ids if r == rid)}
    vigil_c = {x for x in vigil if x[0] in compared}
    sigma_c = {x for x in sigma_pairs if x[0] in compared}
    pairs = len(compared) * len(events)
    only_v = sorted(vigil_c - sigma_c)
    only_s = sorted(sigma_c - vigil_c)
    path_of = dict(rule_ids)
    summary = {
        "rules_sampled": len(rules),
        "rules_compared": len(compared),
        "not_converted": not_converted,
        "events": len(events),
        "regression_events": n_regression,
        "benign_events": len(events) - n_regression,
        "pairs": pairs,
        "matches_vigil": len(vigil_c),
        "matches_pysigma": len(sigma_c),
        "agree": pairs - len(only_v) - len(only_s),
        "only_vigil": [[r, e, os.path.relpath(path_of[r], sigma)] for r, e in only_v],
        "only_pysigma": [[r, e, os.path.relpath(path_of[r], sigma)] for r, e in only_s],
    }
    json.dump(summary, open(os.path.join(args.out, "summary.json"), "w"), indent=1)
    print(json.dumps({k: v for k, v in summary.items() if not isinstance(v, (list, dict))}, indent=1))
    print(f"not converted: {len(not_converted)}")
    for p, why in not_converted.items():
        print(f"  {os.path.relpath(p, sigma)}: {why[:300]}")
    by_rule = collections.defaultdict(list)
    for side, xs in (("vigil-only", only_v), ("pysigma-only", only_s)):
        for r, e in xs:
            by_rule[(side, r)].append(e)
    for (side, r), evs in sorted(by_rule.items()):
        print(f"\n{side} {r} {os.path.relpath(path_of[r], sigma)} events={evs[:10]}{'...' if len(evs) > 10 else ''}")


if __name__ == "__main__":
    main()
