#!/usr/bin/env bash
# The cost of privacy per epoch (issue 16: DP ≤ 1.5× non-private), an OLD build against this
# tree, interleaved: each round runs `dp_overhead 1 EPOCHS` (examples/dp_overhead.rs: NP then DP
# at B = 64, 256, 512, the training thread's CPU time) of one build, then of the other, the
# order alternating from round to round so that drifts of the machine fall on both. Prints
# every round's DP/NP ratio of each build per B, then per B and build the median of the
# per-round DP/NP ratios with a distribution-free 95 % interval for that median (order
# statistics), the interquartile range and the extremes, and the median of the per-round
# new/old ratios of the DP and of the NP epoch (the same machine state for both builds).
#
# OLD is a commit (built once in a temporary worktree, sharing CARGO_TARGET_DIR's compiled
# dependencies) or the path of an already built dp_overhead binary; with OLD_BIN set (as
# scripts/mpi_bench.sh takes it) that binary is the old build and OLD only names it.
# Usage: [OLD_BIN=path] scripts/dp_overhead_ab.sh OLD [rounds (25)] [epochs (60)]
# 25 rounds: the 95 % interval of a median of 25 is the 8th to 18th of the sorted ratios, so
# a few rounds disturbed by other jobs cannot move it (≈ 4 minutes after the builds).
# Quiet machine, session 8: scripts/dp_overhead_ab.sh 07a8999 25 60
# Session 12: OLD_BIN=/work/oldbin12/dp_overhead scripts/dp_overhead_ab.sh b51f8b4 25 60
# Session 17 (notes/privacy_cost.md): OLD_BIN=/work/oldbin17/dp_overhead scripts/dp_overhead_ab.sh 7cc1739 61 60
set -euo pipefail
"$(dirname "$0")/host.sh"
old="${1:?usage: scripts/dp_overhead_ab.sh OLD [rounds] [epochs]}"
rounds="${2:-25}"
epochs="${3:-60}"
target="${CARGO_TARGET_DIR:-$PWD/target}"
cargo build --release --example dp_overhead >&2
mkdir -p "$target/dp-ab"
cp "$target/release/examples/dp_overhead" "$target/dp-ab/new"
if [[ -n "${OLD_BIN:-}" ]]; then
  [[ -x "$OLD_BIN" ]] || { echo "OLD_BIN=$OLD_BIN is not an executable" >&2; exit 1; }
  echo "# old build: $OLD_BIN ($old), built already" >&2
  cp "$OLD_BIN" "$target/dp-ab/old"
elif [[ -x "$old" ]]; then
  cp "$old" "$target/dp-ab/old"
else
  # The example reads datasets/ beside the manifest it was built from: the worktree stays
  # until the runs are done.
  tree="$(mktemp -d)/old"
  git worktree add --detach "$tree" "$old" >&2
  trap 'git worktree remove --force "$tree" >&2' EXIT
  (cd "$tree" && cargo build --release --example dp_overhead --target-dir "$target/dp-ab/build" >&2)
  cp "$target/dp-ab/build/release/examples/dp_overhead" "$target/dp-ab/old"
fi
log="$target/dp-ab/rounds.tsv"
: >"$log"
for ((r = 0; r < rounds; r++)); do
  if ((r % 2 == 0)); then order="old new"; else order="new old"; fi
  for build in $order; do
    "$target/dp-ab/$build" 1 "$epochs" | awk -v b="$build" -v r="$r" 'NR > 1 { print r "\t" b "\t" $1 "\t" $2 "\t" $3 "\t" $4 }' | tee -a "$log"
  done
done
python3 - "$log" <<'PY'
import math, statistics, sys
rows = [l.split("\t") for l in open(sys.argv[1]).read().split("\n") if l]
by = {}
for r, build, batch, np_ms, dp_ms, ratio in rows:
    by.setdefault(int(batch), {}).setdefault(int(r), {})[build] = (float(np_ms), float(dp_ms), float(ratio))


def median_ci(v):
    """The median of v and a distribution-free 95 % interval for it: the order statistics
    k and n + 1 − k (1-based) with k the largest such that P(Binomial(n, ½) < k) ≤ 2.5 %."""
    v, n = sorted(v), len(v)
    k, below = 0, 0.0
    while below + math.comb(n, k) / 2**n <= 0.025:
        below += math.comb(n, k) / 2**n
        k += 1
    lo, hi = (v[k - 1], v[n - k]) if k >= 1 else (v[0], v[-1])
    return statistics.median(v), lo, hi


def quartiles(v):
    q = statistics.quantiles(v, n=4) if len(v) > 1 else [v[0], v[0], v[0]]
    return q[0], q[2]


print("B\tbuild\tNP ms\tDP ms\tDP/NP median [95% interval]\tinterquartile\tmin-max (rounds)")
for batch, rounds in sorted(by.items()):
    both = [v for v in rounds.values() if "old" in v and "new" in v]
    for build in ("old", "new"):
        ratio = [v[build][2] for v in both]
        m, lo, hi = median_ci(ratio)
        q1, q3 = quartiles(ratio)
        np_ms = statistics.median(v[build][0] for v in both)
        dp_ms = statistics.median(v[build][1] for v in both)
        print(f"{batch}\t{build}\t{np_ms:.2f}\t{dp_ms:.2f}\t{m:.3f} [{lo:.3f}, {hi:.3f}]\t"
              f"{q1:.3f}-{q3:.3f}\t{min(ratio):.2f}-{max(ratio):.2f} ({len(ratio)})")
    for what, i in (("DP", 1), ("NP", 0)):
        paired = [v["new"][i] / v["old"][i] for v in both]
        m, lo, hi = median_ci(paired)
        print(f"{batch}\tnew/old {what} ms per round: median {m:.3f} [{lo:.3f}, {hi:.3f}]")
PY
