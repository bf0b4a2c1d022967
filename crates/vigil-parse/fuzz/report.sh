#!/usr/bin/env bash
# Prints a markdown row per fuzz run logged by run-all.sh: runs, duration, final corpus,
# coverage (cov/ft), peak RSS, crash artifacts. Usage (from crates/vigil-parse): fuzz/report.sh
set -uo pipefail
cd "$(dirname "$0")"
logs=${LOGS:-logs}
echo "| target | runs executed | duration | exec/s | corpus (units/size) | cov | ft | peak RSS | result |"
echo "|---|---|---|---|---|---|---|---|---|"
grep ' end ' "$logs/runs.txt" | while read -r when _ t rc secs; do
  log="$logs/$t.log"
  [ -f "$log" ] || continue
  done_line=$(grep -E '^#[0-9]+\s+DONE' "$log" | tail -n1)
  runs=$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+)/\1/p' "$log" | tail -n1)
  eps=$(sed -nE 's/^stat::average_exec_per_sec: *([0-9]+)/\1/p' "$log" | tail -n1)
  rss=$(sed -nE 's/^stat::peak_rss_mb: *([0-9]+)/\1/p' "$log" | tail -n1)
  cov=$(grep -oE 'cov: [0-9]+' <<<"$done_line" | cut -d' ' -f2)
  ft=$(grep -oE 'ft: [0-9]+' <<<"$done_line" | cut -d' ' -f2)
  corp=$(grep -oE 'corp: [0-9]+/[0-9]+[a-zA-Z]*' <<<"$done_line" | cut -d' ' -f2)
  result="no crash, hang or OOM"
  [ "${rc#rc=}" = 0 ] || result="stopped ${rc}: $(grep -oE 'ERROR: libFuzzer: [a-z-]+|deadly signal|panicked at [^ ]+' "$log" | head -n1)"
  echo "| $t | ${runs:-?} | ${secs#secs=} s | ${eps:-?} | ${corp:-?} | ${cov:-?} | ${ft:-?} | ${rss:-?} MB | $result |"
done
