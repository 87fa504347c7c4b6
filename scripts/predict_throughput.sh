#!/usr/bin/env bash
# Rows per second of `glassbox predict` on a large file, measured from outside.
#
#   scripts/predict_throughput.sh [ROWS] [RUNS]     (from the repo root; default 1000000, 3)
#
# Writes /tmp/glassbox-predict/big.csv: the header of datasets/online_shoppers_test.csv and
# its 2,466 rows repeated up to ROWS rows (about 86 MB for a million), trains nothing new but
# runs the case study once for its two bundles (paper: 1 network, default: 5), then times
# `predict` of each with hyperfine (or /usr/bin/time) and prints rows/s and peak memory.
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS="${1:-1000000}"
RUNS="${2:-3}"
DIR=/tmp/glassbox-predict
mkdir -p "$DIR"
cargo build --release -p glassbox >/dev/null 2>&1
BIN=target/release/glassbox
python3 - "$ROWS" "$DIR/big.csv" <<'PY'
import sys
rows, path = int(sys.argv[1]), sys.argv[2]
lines = open("datasets/online_shoppers_test.csv").read().splitlines()
with open(path, "w") as f:
    f.write(lines[0] + "\n")
    for i in range(rows):
        f.write(lines[1 + i % (len(lines) - 1)] + "\n")
PY
"$BIN" case-study --out "$DIR/models" --quiet >/dev/null
scripts/host.sh
echo "$(du -h "$DIR/big.csv" | cut -f1) input"
for M in paper default; do
  MODEL="$DIR/models/$M/model.safetensors"
  if command -v hyperfine >/dev/null; then
    hyperfine --runs "$RUNS" --export-json "$DIR/$M.json" \
      "$BIN predict $MODEL $DIR/big.csv --out $DIR/preds-$M.csv --quiet" >/dev/null
    python3 - "$DIR/$M.json" "$ROWS" "$M" <<'PY'
import json, statistics, sys
r = json.load(open(sys.argv[1]))["results"][0]
t, rows = r["times"], int(sys.argv[2])
print(f"{sys.argv[3]}: min {min(t):.2f} s ({rows / min(t):,.0f} rows/s), median "
      f"{statistics.median(t):.2f} s ({rows / statistics.median(t):,.0f} rows/s), user {r['user']:.2f} s")
PY
  fi
  /usr/bin/time -f "$M: peak memory %M kB" "$BIN" predict "$MODEL" "$DIR/big.csv" --out "$DIR/preds-$M.csv" --quiet
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
