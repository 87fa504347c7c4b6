#!/usr/bin/env bash
# The cost of privacy per epoch (issue 16: DP ≤ 1.5× non-private), an OLD build against this
# tree, interleaved: each round runs `dp_overhead 1 EPOCHS` (examples/dp_overhead.rs: NP then DP
# at B = 64, 256, 512, the training thread's CPU time) of one build, then of the other, the
# order alternating from round to round so that drifts of the machine fall on both. Prints
# every round's DP/NP ratio of each build per B, then per B the median ratio of each and the
# median of the per-round new/old ratios of the DP epoch.
#
# OLD is a commit (built once in a temporary worktree, sharing CARGO_TARGET_DIR's compiled
# dependencies) or the path of an already built dp_overhead binary.
# Usage: scripts/dp_overhead_ab.sh OLD [rounds (9)] [epochs (60)]
# Quiet machine, session 7: scripts/dp_overhead_ab.sh af9747a 9 60
set -euo pipefail
old="${1:?usage: scripts/dp_overhead_ab.sh OLD [rounds] [epochs]}"
rounds="${2:-9}"
epochs="${3:-60}"
target="${CARGO_TARGET_DIR:-$PWD/target}"
cargo build --release --example dp_overhead >&2
mkdir -p "$target/dp-ab"
cp "$target/release/examples/dp_overhead" "$target/dp-ab/new"
if [[ -x "$old" ]]; then
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
import statistics, sys
rows = [l.split("\t") for l in open(sys.argv[1]).read().split("\n") if l]
by = {}
for r, build, batch, np_ms, dp_ms, ratio in rows:
    by.setdefault(int(batch), {}).setdefault(int(r), {})[build] = (float(np_ms), float(dp_ms), float(ratio))
print("B\told DP/NP (median)\tnew DP/NP (median)\tnew/old DP ms (median)\tper round old / new")
for batch, rounds in sorted(by.items()):
    both = [v for v in rounds.values() if "old" in v and "new" in v]
    old = [v["old"][2] for v in both]
    new = [v["new"][2] for v in both]
    dp = [v["new"][1] / v["old"][1] for v in both]
    pairs = " ".join(f"{o:.2f}/{n:.2f}" for o, n in zip(old, new))
    print(f"{batch}\t{statistics.median(old):.3f}\t{statistics.median(new):.3f}\t{statistics.median(dp):.3f}\t{pairs}")
PY
