#!/usr/bin/env bash
# The cost of a private epoch against a non-private one in CPU seconds (user + system), for a
# loaded machine where wall times are noise: per binary, batch size and mode, the CPU time of
# an 11-epoch run minus that of a 1-epoch run, over 10 (so loading and preprocessing cancel);
# ROUNDS rounds interleaved (for each batch size: every binary NP then DP); prints the median
# per epoch and the DP/NP ratio. Same data, network and flags as scripts/dp_overhead.sh
# (64-64 network, SGD lr 0.25, one thread; DP: ε = 3, δ = 1e-5, C = 1). /usr/bin/time counts
# in 10 ms, so each figure is ±0.001 s/epoch.
# Usage: scripts/dp_overhead_cpu.sh [rounds] BIN [BIN …]
set -euo pipefail
"$(dirname "$0")/host.sh"
ROUNDS=$1
shift
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
cpu_seconds() { # binary batch mode epochs
  local extra=()
  [ "$3" = dp ] && extra=(--dp-epsilon 3 --dp-delta 1e-5 --dp-clip 1)
  /usr/bin/time -f "%U %S" -o "$OUT/time" "$1" -q --threads 1 train \
    datasets/online_shoppers_train.csv --target Revenue \
    --schema datasets/online_shoppers.schema.toml --ensemble 1 --early-stopping 0 \
    --threshold 0.5 --val-fraction 0 --optimizer sgd --lr 0.25 --epochs "$4" \
    --batch-size "$2" "${extra[@]}" --out "$OUT/run" > /dev/null
  awk '{print $1 + $2}' "$OUT/time"
}
for r in $(seq 1 "$ROUNDS"); do
  for B in 64 256 512; do
    for bin in "$@"; do
      for mode in np dp; do
        one=$(cpu_seconds "$bin" "$B" "$mode" 1)
        eleven=$(cpu_seconds "$bin" "$B" "$mode" 11)
        echo "$bin $B $mode $one $eleven" >> "$OUT/rows"
      done
    done
  done
done
python3 - "$OUT/rows" <<'PY'
import collections, statistics, sys
per_epoch = collections.defaultdict(list)
for line in open(sys.argv[1]):
    binary, b, mode, one, eleven = line.split()
    per_epoch[(binary, int(b), mode)].append((float(eleven) - float(one)) / 10)
print("binary\tbatch\tNP s/epoch\tDP s/epoch\tDP/NP")
for (binary, b, mode), v in sorted(per_epoch.items()):
    if mode == "np":
        np_, dp = statistics.median(v), statistics.median(per_epoch[(binary, b, "dp")])
        print(f"{binary}\t{b}\t{np_:.4f}\t{dp:.4f}\t{dp / np_:.2f}")
PY
