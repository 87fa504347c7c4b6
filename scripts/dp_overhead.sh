#!/usr/bin/env bash
# Cost of a private epoch against a non-private one, same data, network, optimizer, batch size
# and steps per epoch: the 64-64 network on all 9,864 rows of online_shoppers_train.csv, SGD,
# ⌈N/B⌉ steps per epoch — shuffled fixed batches of B (non-private) against Poisson batches of
# expected size ⌊N·q⌋ with per-example clipping and noise (DP, ε = 3, C = 1). Runs are
# interleaved (NP, DP, NP, DP, …) so that load from other jobs hits both alike; each run trains
# EPOCHS epochs on one thread and the per-epoch wall times come from history.csv (first epoch
# dropped as warm-up). Prints the median seconds per epoch and the ratio per batch size.
# Usage: scripts/dp_overhead.sh [glassbox binary] [rounds] [epochs]
set -euo pipefail
BIN=${1:-target/release/glassbox}
ROUNDS=${2:-5}
EPOCHS=${3:-6}
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
COMMON=(--target Revenue --schema datasets/online_shoppers.schema.toml --ensemble 1
        --early-stopping 0 --threshold 0.5 --val-fraction 0 --optimizer sgd --lr 0.25
        --epochs "$EPOCHS")
printf "batch\tNP s/epoch\tDP s/epoch\tDP/NP\n"
for B in 64 256 512; do
  for r in $(seq 1 "$ROUNDS"); do
    "$BIN" -q --threads 1 train datasets/online_shoppers_train.csv "${COMMON[@]}" \
      --batch-size "$B" --out "$OUT/np-$B-$r" > /dev/null
    "$BIN" -q --threads 1 train datasets/online_shoppers_train.csv "${COMMON[@]}" \
      --batch-size "$B" --dp-epsilon 3 --dp-delta 1e-5 --dp-clip 1 --out "$OUT/dp-$B-$r" > /dev/null
  done
  python3 - "$OUT" "$B" <<'PY'
import csv, statistics, sys, glob
out, b = sys.argv[1], sys.argv[2]
def seconds(kind):
    s = []
    for path in glob.glob(f"{out}/{kind}-{b}-*/history.csv"):
        rows = list(csv.DictReader(open(path)))
        s += [float(r["seconds"]) for r in rows[1:]]
    return statistics.median(s)
np_, dp = seconds("np"), seconds("dp")
print(f"{b}\t{np_:.4f}\t{dp:.4f}\t{dp / np_:.2f}")
PY
done
