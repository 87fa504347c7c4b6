#!/usr/bin/env bash
# The value case, old default against new, interleaved (notes/value.md §4, the tenth to twelfth sessions).
#
#   scripts/value_default_ab.sh [OLD_COMMIT] [ROUNDS]     (from the repo root; defaults b51f8b4, 3)
#
# Builds OLD_COMMIT in a temporary git worktree (sharing this repo's target dir, so only the
# workspace crates rebuild) and HEAD, then runs `glassbox case-study value` old, new, old, new, …
# and prints per run the wall and user seconds and the figures of the issue's targets (headline
# test Gini, top-20 % share, decile MAPE, mean prediction; cross-fitted Gini and decile MAPE),
# then the ratio of the median user times, new / old. The figures are deterministic (the same
# every round); the times are what a quiet machine should confirm (< 10 s per run). Both runs
# read this repo's datasets/.
set -euo pipefail
cd "$(dirname "$0")/.."
OLD="${1:-b51f8b4}"
ROUNDS="${2:-3}"
TARGET="${CARGO_TARGET_DIR:-$PWD/target}"
WORK="$(mktemp -d)"
trap 'git worktree remove --force "$WORK/old" >/dev/null 2>&1 || true; rm -rf "$WORK"' EXIT
# VALUE_AB_OLD_BIN / VALUE_AB_NEW_BIN: binaries already built (skips the builds).
if [ -n "${VALUE_AB_OLD_BIN:-}" ]; then
  cp "$VALUE_AB_OLD_BIN" "$WORK/glassbox-old"
else
  git worktree add --detach "$WORK/old" "$OLD" >/dev/null 2>&1
  (cd "$WORK/old" && CARGO_TARGET_DIR="$TARGET" cargo build --release --bin glassbox >/dev/null 2>&1)
  cp "$TARGET/release/glassbox" "$WORK/glassbox-old"
fi
if [ -n "${VALUE_AB_NEW_BIN:-}" ]; then
  cp "$VALUE_AB_NEW_BIN" "$WORK/glassbox-new"
else
  CARGO_TARGET_DIR="$TARGET" cargo build --release --bin glassbox >/dev/null 2>&1
  cp "$TARGET/release/glassbox" "$WORK/glassbox-new"
fi
scripts/host.sh
for r in $(seq "$ROUNDS"); do
  for which in old new; do
    out="$WORK/run-$which"
    rm -rf "$out"
    /usr/bin/time -f "%e %U" -o "$WORK/time" "$WORK/glassbox-$which" case-study value --out "$out" \
      --data-dir "$PWD/datasets" --quiet >/dev/null
    read -r wall user <"$WORK/time"
    echo "$which $wall $user" >>"$WORK/times"
    python3 - "$out/metrics.json" "$which" "$wall" "$user" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
t, c = m["test"], m["cross_fit"]
print(f"{sys.argv[2]}: {float(sys.argv[3]):.2f} s wall, {float(sys.argv[4]):.2f} s user | headline Gini "
      f"{t['normalized_gini']:.4f} top-20 {t['top20_revenue_share']:.3f} MAPE {t['decile_mape']:.3f} "
      f"mean pred {t['mean_predicted']:.0f} | cross-fitted Gini {c['normalized_gini']:.4f} "
      f"MAPE {c['decile_mape']:.3f}")
PY
  done
done
python3 - "$WORK/times" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
user = {w: statistics.median(float(u) for x, _, u in rows if x == w) for w in ("old", "new")}
print(f"median user s: old {user['old']:.2f}, new {user['new']:.2f}; ratio new/old {user['new'] / user['old']:.3f}")
PY
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
