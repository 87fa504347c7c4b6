#!/usr/bin/env bash
# Wall time of the README's first command, measured from outside (never in a test).
#
#   scripts/time_case_study.sh [RUNS]        (from the repo root; default 15 runs)
#
# Builds the release binary, then times `glassbox case-study` with hyperfine (apt install
# hyperfine) if present, else with repeated /usr/bin/time. Prints the load average before
# and after: on a shared machine other processes inflate wall times, so quote the minimum
# and the median together with the load, and the user CPU time.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${1:-15}"
cargo build --release -p glassbox >/dev/null 2>&1
BIN=target/release/glassbox
OUT="${TMPDIR:-/tmp}/glassbox-time-case-study"
scripts/host.sh
if command -v hyperfine >/dev/null; then
  for T in 2 1; do
    hyperfine --warmup 1 --runs "$RUNS" --export-json "$OUT-threads$T.json" \
      "$BIN case-study --threads $T --out $OUT --quiet"
    python3 - "$OUT-threads$T.json" <<'PY'
import json, statistics, sys
r = json.load(open(sys.argv[1]))["results"][0]
t = r["times"]
print(f"  min {min(t):.3f} s, median {statistics.median(t):.3f} s, max {max(t):.3f} s, "
      f"mean user {r['user']:.3f} s, n = {len(t)}")
PY
  done
else
  for i in $(seq "$RUNS"); do
    /usr/bin/time -f "%e s wall, %U s user" "$BIN" case-study --out "$OUT" --quiet >/dev/null
  done
fi
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
