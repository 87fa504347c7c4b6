#!/usr/bin/env bash
# Issue 19: BatchEnsemble layers on the GEMM kernel (notes/tabular.md §7, N22) against the
# plain loops they replaced — CPU time of `glassbox train` on the shoppers training file.
#
#   scripts/ensemble_gemm_speed.sh OLD_COMMIT [ROUNDS (3)]     (from the repo root)
#
# OLD_COMMIT: a commit with the loop kernels (cc8168d). It is built in a detached worktree
# and a target dir of its own under /tmp (so the two builds never share artifacts); this tree
# is built as usual. OLD_BIN / NEW_BIN, when set, name ready binaries and skip the builds.
# Each round runs, interleaved, old and new with the default recipe (one seed, --ensemble 1;
# early stopping as the default) and with --ensemble-k 4 and 8. Each run is timed by its CPU
# time (user + sys, /usr/bin/time) and divided by the epochs it ran (early stopping may stop
# k > 1 at another epoch). Prints per round (and says if old and new default bundles differ:
# they must not), then the medians of: new/old per epoch for the default, k 4 and k 8 (read
# the k 8 line: the speed-up of the GEMM kernels), and new kK/default per epoch (what k
# members cost).
set -euo pipefail
cd "$(dirname "$0")/.."
OLD="${1:?usage: scripts/ensemble_gemm_speed.sh OLD_COMMIT [ROUNDS]}"
ROUNDS="${2:-3}"
DIR=/tmp/glassbox-ensemble-gemm
mkdir -p "$DIR"
if [ -z "${OLD_BIN:-}" ]; then
  OLD_TREE="$DIR/old-tree"
  [ -d "$OLD_TREE" ] || git worktree add --detach "$OLD_TREE" "$OLD" >&2
  (cd "$OLD_TREE" && git checkout --detach "$OLD" >&2 && CARGO_TARGET_DIR="$DIR/old-target" cargo build --release -p glassbox >&2)
  OLD_BIN="$DIR/old-target/release/glassbox"
fi
if [ -z "${NEW_BIN:-}" ]; then
  cargo build --release -p glassbox >&2
  NEW_BIN="${CARGO_TARGET_DIR:-target}/release/glassbox"
fi
if cmp -s "$OLD_BIN" "$NEW_BIN"; then
  echo "old and new binaries are the same bytes: check OLD_COMMIT and the target dirs" >&2
  exit 1
fi
DATA=(datasets/online_shoppers_train.csv --target Revenue --schema datasets/online_shoppers.schema.toml --ensemble 1 --quiet)
per_epoch() { # label, binary, extra args…: prints CPU seconds per epoch run
  local label="$1" bin="$2"
  shift 2
  /usr/bin/time -f "%U %S" -o "$DIR/time-$label" "$bin" train "${DATA[@]}" --out "$DIR/run-$label" "$@" >/dev/null
  local epochs
  epochs=$(grep -o '"epochs_run": *[0-9]*' "$DIR/run-$label/training.json" | grep -o '[0-9]*$')
  awk -v e="$epochs" '{ printf "%.5f\n", ($1 + $2) / e }' "$DIR/time-$label"
}
scripts/host.sh
: >"$DIR/ratios"
# label binary extra-arguments, in the order of the columns of $DIR/ratios.
RUNS=("old $OLD_BIN" "new $NEW_BIN" "old4 $OLD_BIN --ensemble-k 4" "new4 $NEW_BIN --ensemble-k 4"
  "old8 $OLD_BIN --ensemble-k 8" "new8 $NEW_BIN --ensemble-k 8")
for r in $(seq 1 "$ROUNDS"); do
  row=()
  for run in "${RUNS[@]}"; do
    # shellcheck disable=SC2086 # the words of a run are its arguments
    row+=("$(per_epoch $run)")
  done
  echo "${row[*]}" >>"$DIR/ratios"
  cmp -s "$DIR/run-old/model.safetensors" "$DIR/run-new/model.safetensors" || echo "round $r: the default bundles DIFFER"
  echo "round $r, CPU s/epoch (default old, new; k4 old, new; k8 old, new): ${row[*]}"
done
# name:numerator/denominator, columns of $DIR/ratios (the order of RUNS).
python3 - "$DIR/ratios" "new/old, default:1/0" "new/old, k4:3/2" "new/old, k8:5/4" \
  "new k4/default:3/1" "new k8/default:5/1" "old k8/default:4/0" <<'PY'
import statistics, sys
rows = [[float(v) for v in line.split()] for line in open(sys.argv[1]) if line.strip()]
for arg in sys.argv[2:]:
    name, cols = arg.rsplit(":", 1)
    top, bottom = (int(c) for c in cols.split("/"))
    print(f"median per epoch, {name}: {statistics.median(r[top] / r[bottom] for r in rows):.3f}")
PY
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
