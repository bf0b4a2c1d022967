#!/usr/bin/env bash
# Seeds fuzz/corpus/<target> from the golden test inputs and the shared corpora.
# Usage: fuzz/seed.sh [target...]   (run from crates/vigil-parse; corpora are not in git)
set -euo pipefail
cd "$(dirname "$0")"
td=../testdata
shared=${VIGIL_CORPORA:-../../../../shared/corpora}
seed() { mkdir -p "corpus/$1"; }
copy() { local t=$1; shift; seed "$t"; for f in "$@"; do [ -f "$f" ] && cp "$f" "corpus/$t/seed-$(basename "$f")"; done; true; }
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(syslog_3164 syslog_5424 framing cef leef kv json csv regex xml winxml netflow)
for t in "${targets[@]}"; do
  case $t in
    syslog_3164) copy "$t" "$td"/syslog/*.log "$shared"/rsyslog-parser-testvectors/fuzz-seeds/* ;;
    syslog_5424)
      seed "$t"
      for f in "$td"/syslog/*.log "$shared"/rsyslog-parser-testvectors/fuzz-seeds/*; do
        [ -f "$f" ] || continue
        if grep -qE '^<[0-9]{1,3}>1 ' "$f"; then
          pri=$(sed -nE '1s/^<([0-9]{1,3})>1 .*/\1/p' "$f")
          { printf "\\x$(printf %02x "$pri")"; sed -E '1s/^<[0-9]{1,3}>1 //' "$f"; } > "corpus/$t/seed-$(basename "$f")"
        fi
      done ;;
    framing)
      seed "$t"
      for f in "$td"/syslog/*.log; do
        n=$(wc -c < "$f")
        { printf '\xff\x07\x00'; printf '%d ' "$n"; cat "$f"; cat "$f"; printf '\n'; } > "corpus/$t/seed-$(basename "$f")"
      done ;;
    regex)
      seed "$t"
      printf '(?P<user>[a-z]+) from (?P<ip>[0-9.]+) port (?P<port>\\d+)\nFailed password for root from 10.0.0.1 port 22' > "corpus/$t/seed-ssh"
      printf '^(?<a>\\w+)=(?<b>"[^"]*"|\\S+)$\nkey="va lue"' > "corpus/$t/seed-kv"
      printf '(?i)(?P<x>\\bfoo\\b)+|(?P<y>[\\p{L}]{2,})\nFOO foo bär' > "corpus/$t/seed-unicode" ;;
    netflow)
      # One seed per upstream test case: its packets in order, framed as the target reads them.
      seed "$t"
      python3 - "$shared/netflow-logstash-codec" "corpus/$t" <<'PY'
import json, struct, sys
src, out = sys.argv[1], sys.argv[2]
for i, case in enumerate(json.load(open(f"{src}/cases.json"))["cases"]):
    blob = b""
    for name in case["inputs"]:
        data = open(f"{src}/dat/{name}", "rb").read()
        blob += bytes([0]) + struct.pack("<H", len(data)) + data
    open(f"{out}/seed-case-{i:02}", "wb").write(blob)
PY
      ;;
    *) copy "$t" "$td/$t"/*.log ;;
  esac
done
