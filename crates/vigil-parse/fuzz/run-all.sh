#!/usr/bin/env bash
# Runs the fuzz targets one after another, each for $SECS seconds (default 600), at low
# priority, with libFuzzer's hang and memory limits. The queue is a file (one target a line)
# re-read before each run, so targets can be added while it runs. Logs: $LOGS/<target>.log.
# Usage (from crates/vigil-parse), after building every target once:
#   RUSTC_BOOTSTRAP=1 cargo fuzz build -a      # stable toolchain: RUSTC_BOOTSTRAP for -Z flags
#   fuzz/seed.sh && fuzz/run-all.sh QUEUE_FILE
# The built binaries are run directly (what `cargo fuzz run -a <t> -- <flags>` runs), so
# editing the sources while the queue runs does not trigger rebuilds.
set -uo pipefail
cd "$(dirname "$0")/.."
queue=$1
secs=${SECS:-600}
logs=${LOGS:-fuzz/logs}
mkdir -p "$logs"
bin=fuzz/target/x86_64-unknown-linux-gnu/release
while t=$(head -n1 "$queue") && [ -n "$t" ]; do
  sed -i 1d "$queue"
  mkdir -p "fuzz/corpus/$t" "fuzz/artifacts/$t"
  echo "$(date -u +%FT%TZ) start $t" >> "$logs/runs.txt"
  start=$(date +%s)
  nice -n 15 "$bin/$t" "fuzz/corpus/$t" \
    -max_total_time="$secs" -rss_limit_mb=512 -timeout=5 -max_len=8192 \
    -print_final_stats=1 -artifact_prefix="fuzz/artifacts/$t/" \
    > "$logs/$t.log" 2>&1
  rc=$?
  echo "$(date -u +%FT%TZ) end $t rc=$rc secs=$(( $(date +%s) - start ))" >> "$logs/runs.txt"
done
