#!/usr/bin/env bash
# Issue 19, the input layers of tables (notes/tabular.md §3–§4) and BatchEnsemble networks
# (§6): what they cost, and that they cost nothing when unused.
#
#   scripts/table_layers_overhead.sh OLD_COMMIT [ROUNDS (5)]     (from the repo root)
#
# Builds OLD_COMMIT (a commit before the layers, e.g. af9747a; before BatchEnsemble networks,
# 07a8999) in a detached worktree under
# /tmp and this tree, then runs ROUNDS interleaved rounds of `glassbox train` on
# datasets/online_shoppers_train.csv with one ensemble member (--ensemble 1, 30 epochs max,
# early stopping as the default recipe): old default, new default, new --feature-scale, new
# --embedding plr, new --ensemble-k 8. Each run is timed by its CPU time (user + sys,
# /usr/bin/time). Prints the median per-round ratios new/old (default recipe: expect ≈ 1.00),
# scale/default, plr/default and k8/default, and whether old and new default bundles are
# byte-identical (they must be: the default recipe uses neither).
set -euo pipefail
cd "$(dirname "$0")/.."
OLD="${1:?usage: scripts/table_layers_overhead.sh OLD_COMMIT [ROUNDS]}"
ROUNDS="${2:-5}"
DIR=/tmp/glassbox-table-layers
OLD_TREE="$DIR/old-tree"
mkdir -p "$DIR"
if [ ! -d "$OLD_TREE" ]; then
  git worktree add --detach "$OLD_TREE" "$OLD" >&2
fi
(cd "$OLD_TREE" && git checkout --detach "$OLD" >&2 && CARGO_TARGET_DIR="$DIR/old-target" cargo build --release -p glassbox >&2)
cargo build --release -p glassbox >&2
OLD_BIN="$DIR/old-target/release/glassbox"
NEW_BIN="${CARGO_TARGET_DIR:-target}/release/glassbox"
DATA=(datasets/online_shoppers_train.csv --target Revenue --schema datasets/online_shoppers.schema.toml --ensemble 1 --quiet)
cpu() { # label, binary, extra args…: prints CPU seconds
  local label="$1" bin="$2"
  shift 2
  /usr/bin/time -f "%U %S" -o "$DIR/time-$label" "$bin" train "${DATA[@]}" --out "$DIR/run-$label" "$@" >/dev/null
  awk '{ printf "%.3f\n", $1 + $2 }' "$DIR/time-$label"
}
scripts/host.sh
: >"$DIR/ratios"
for r in $(seq 1 "$ROUNDS"); do
  o=$(cpu old "$OLD_BIN")
  n=$(cpu new "$NEW_BIN")
  s=$(cpu scale "$NEW_BIN" --feature-scale)
  p=$(cpu plr "$NEW_BIN" --embedding plr)
  e=$(cpu k8 "$NEW_BIN" --ensemble-k 8)
  same=$(cmp -s "$DIR/run-old/model.safetensors" "$DIR/run-new/model.safetensors" && echo yes || echo NO)
  echo "round $r: old $o s, new $n s, scale $s s, plr $p s, k8 $e s; default bundles identical: $same"
  echo "$o $n $s $p $e" >>"$DIR/ratios"
done
python3 - "$DIR/ratios" <<'PY'
import statistics, sys
rows = [list(map(float, l.split())) for l in open(sys.argv[1]) if l.strip()]
med = lambda xs: statistics.median(xs)
print(f"median new/old (default recipe): {med([r[1] / r[0] for r in rows]):.3f}")
print(f"median scale/default: {med([r[2] / r[1] for r in rows]):.3f}")
print(f"median plr/default:   {med([r[3] / r[1] for r in rows]):.3f}")
print(f"median k8/default:    {med([r[4] / r[1] for r in rows]):.3f}")
PY
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
