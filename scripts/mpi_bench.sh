#!/usr/bin/env bash
# The measurements of notes/distributed.md §8 (run them on a quiet machine):
#   1. training speed, 784-1024-1024-1 at global batch 512, one thread per rank: one process
#      without MPI, then np = 2 with the exact and with the fast reduction (the 1.7× target:
#      np = 2 exact samples/s ≥ 1.7 × one process's);
#      Each round also runs two one-process trainings at once, pinned to cores 0 and 1: the
#      ceiling np = 2 could reach on this machine if communication were free (two cores that
#      share a physical core's vector units, or a power budget, cap it below 2×);
#   2. an OSU-style message-size sweep of ping-pong, broadcast, all-gather and all-reduce at
#      np = 2, with t(n) = α + β·n fitted for each (the cost model's inputs).
# Rounds alternate the configurations (interleaved), so drifting load hits all alike. Each
# round also runs the distributed step at np = 1 under mpirun (`np1_mpi`: its samples/s over
# the one process without MPI — the cost of the distributed code path itself at one rank).
# After the rounds: a `median` line (the median of each ratio over the rounds: the figure to
# read), one phase profile of np = 2 exact (CPU and wall ms a step before and inside each
# meeting, per rank; notes/distributed.md §8), the `parts` of the step in one thread
# (rank_over_half: rank 0's compute at np = 2 over half the plain step's) and the sweep.
# With OLD=<commit>, the same example built from that commit also runs np = 2 exact and fast
# in every round, and the ratio line gains exact_old / fast_old (np 2 / np 1 of the old
# build) and new_over_old (exact samples/s, this build over the old).
# MPIRUN_FLAGS replaces the launch flags (default: the recommended ones, `--bind-to core`
# `--mca btl self,vader` `--mca mpi_yield_when_idle 1`; notes/distributed.md §1, §8); with the
# yield in them, each round also runs np = 2 exact spinning instead (`exact_spin`).
# Usage: scripts/mpi_bench.sh [steps per run, default 40] [rounds, default 3]
#        PROFILE=dev scripts/mpi_bench.sh …   (the optimised dev build, no release build)
#        OLD=07a8999 scripts/mpi_bench.sh 40 3   (OLD_TREE, OLD_TARGET: the old checkout, its target dir)
#        OLD_BIN=/work/oldbin9/mpi_bench scripts/mpi_bench.sh 40 3   (an old `mpi_bench` built
#          already, e.g. `cargo build --release --features mpi --example mpi_bench` at the old
#          commit: nothing is built for the old side; OLD, if given too, only names it)
#        SWEEP=0 scripts/mpi_bench.sh …       (no message-size sweep)
set -euo pipefail
cd "$(dirname "$0")/.."
steps="${1:-40}"
rounds="${2:-3}"
profile="${PROFILE:-release}"
dir=$([ "$profile" = dev ] && echo debug || echo "$profile")
target="${CARGO_TARGET_DIR:-$PWD/target}"
old_bin=""
if [ -n "${OLD_BIN:-}" ]; then
  [ -x "$OLD_BIN" ] || { echo "OLD_BIN=$OLD_BIN is not an executable" >&2; exit 1; }
  old_bin="$OLD_BIN"
  echo "# old build: $OLD_BIN${OLD:+ ($OLD)}, built already"
elif [ -n "${OLD:-}" ]; then
  # The old build first, in a detached worktree with a target dir of its own: two checkouts
  # of one workspace in one target dir share artifact names, so either build can silently
  # leave the other's binary in place. Both stay for the next run (cargo's fingerprints
  # hold paths, so a second run rebuilds nothing); OLD_TREE and OLD_TARGET name them.
  old_tree="${OLD_TREE:-$target/mpi_bench_old-$OLD}"
  old_target="${OLD_TARGET:-$target/mpi_bench_old-target}"
  [ -d "$old_tree" ] || git worktree add --detach "$old_tree" "$OLD" >/dev/null
  (cd "$old_tree" && CARGO_TARGET_DIR="$old_target" cargo build --profile "$profile" --features mpi --example mpi_bench)
  old_bin="$old_target/$dir/examples/mpi_bench"
  echo "# old build of $OLD in $old_tree (remove with: git worktree remove --force $old_tree)"
fi
CARGO_TARGET_DIR="$target" cargo build --profile "$profile" --features mpi --example mpi_bench
bin="$target/$dir/examples/mpi_bench"
if [ -n "$old_bin" ] && cmp -s "$bin" "$old_bin"; then
  echo "the old and new binaries are the same file's bytes: nothing to compare" >&2; exit 1
fi
launch="${MPIRUN_FLAGS:---bind-to core --mca btl self,vader --mca mpi_yield_when_idle 1}"
read -r -a flags <<<"$launch"
mpirun_=(mpirun --allow-run-as-root --oversubscribe "${flags[@]}")
echo "# mpirun flags: ${flags[*]}"
# The same flags with waiting ranks spinning instead of yielding (`exact_spin`, the A/B of
# the yield), when the flags ask for the yield.
spin_=()
if [[ "$launch" == *"mpi_yield_when_idle 1"* ]]; then
  read -r -a spin_flags <<<"${launch/mpi_yield_when_idle 1/mpi_yield_when_idle 0}"
  spin_=(mpirun --allow-run-as-root --oversubscribe "${spin_flags[@]}")
fi
export RAYON_NUM_THREADS=1 OMP_NUM_THREADS=1
# samples/s of a `speed` line.
rate() { sed -n 's/.*samples_per_s=\([0-9.]*\).*/\1/p' | head -1; }
ratios="${TMPDIR:-/tmp}/mpi_bench_ratios.$$"
: >"$ratios"
trap 'rm -f "$ratios"' EXIT
for round in $(seq "$rounds"); do
  echo "# round $round"
  one=$("$bin" speed --single --steps "$steps"); echo "$one"
  echo "# two independent one-process runs at once (cores 0 and 1)"
  taskset -c 0 "$bin" speed --single --steps "$steps" >"${TMPDIR:-/tmp}/mpi_bench_pair.$$" &
  pair=$(taskset -c 1 "$bin" speed --single --steps "$steps")
  wait
  echo "$pair"; cat "${TMPDIR:-/tmp}/mpi_bench_pair.$$"; rm -f "${TMPDIR:-/tmp}/mpi_bench_pair.$$"
  exact=$("${mpirun_[@]}" -np 2 "$bin" speed --steps "$steps"); echo "$exact"
  fast=$("${mpirun_[@]}" -np 2 "$bin" speed --fast --steps "$steps"); echo "$fast"
  np1=$("${mpirun_[@]}" -np 1 "$bin" speed --steps "$steps"); echo "$np1"
  spin_line=""
  if [ ${#spin_[@]} -gt 0 ]; then
    spin=$("${spin_[@]}" -np 2 "$bin" speed --steps "$steps"); echo "spin: $spin"
    spin_line=$(awk -v one="$(rate <<<"$one")" -v sp="$(rate <<<"$spin")" \
      'BEGIN { printf " exact_spin=%.3f", sp / one }')
  fi
  old_line=""
  if [ -n "$old_bin" ]; then
    exact_old=$("${mpirun_[@]}" -np 2 "$old_bin" speed --steps "$steps"); echo "old: $exact_old"
    fast_old=$("${mpirun_[@]}" -np 2 "$old_bin" speed --fast --steps "$steps"); echo "old: $fast_old"
    old_line=$(awk -v one="$(rate <<<"$one")" -v ex="$(rate <<<"$exact")" \
      -v eo="$(rate <<<"$exact_old")" -v fo="$(rate <<<"$fast_old")" \
      'BEGIN { printf " exact_old=%.3f fast_old=%.3f new_over_old=%.3f", eo / one, fo / one, ex / eo }')
  fi
  # np 2 / np 1 samples/s; two_independent: one of the two simultaneous runs against the solo
  # run (the ceiling np 2 could reach is twice it).
  awk -v one="$(rate <<<"$one")" -v ex="$(rate <<<"$exact")" -v fa="$(rate <<<"$fast")" \
    -v pa="$(rate <<<"$pair")" -v n1="$(rate <<<"$np1")" -v r="$round" -v old="$spin_line$old_line" \
    'BEGIN { printf "ratio round=%s exact=%.3f fast=%.3f two_independent=%.3f np1_mpi=%.3f%s\n",
             r, ex / one, fa / one, pa / one, n1 / one, old }' | tee -a "$ratios"
done
# The median of each ratio over the rounds (the lower middle one of an even count).
median="median rounds=$rounds"
for key in $(head -1 "$ratios" | tr ' ' '\n' | sed -n '3,$p' | cut -d= -f1); do
  m=$(sed -n "s/.* $key=\([0-9.]*\).*/\1/p" "$ratios" | sort -g |
    awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
  median="$median $key=$m"
done
echo "$median"
echo "# phase profile, np = 2 exact (ms a step; meet_* includes waiting for the other rank)"
"${mpirun_[@]}" -np 2 "$bin" speed --steps "$steps" --phases | grep '^phase' | sort
echo "# compute parts in one thread, no MPI: the plain step's against rank 0's at np = 2 (min CPU ms)"
"$bin" parts --steps 15
if [ "${SWEEP:-1}" != 0 ]; then
  "${mpirun_[@]}" -np 2 "$bin" sweep
fi
