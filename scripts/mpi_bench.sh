#!/usr/bin/env bash
# The measurements of notes/distributed.md §8 (run them on a quiet machine):
#   1. training speed, 784-1024-1024-1 at global batch 512, one thread per rank, in paired
#      rounds: each round runs the one process without MPI (the plain step: the baseline),
#      np = 2 with the exact reduction (the 1.7× target: np = 2 exact samples/s ≥ 1.7 × one
#      process's), the distributed step at np = 1 under mpirun (`np1_mpi`: the cost of the
#      distributed code path itself at one rank) and, with an old build, its np = 2 exact
#      (`new_over_old`); every ratio is formed within its round. Odd rounds run them in this
#      order, even rounds in reverse, so a drift of the host's speed favours none.
#      FULL=1 adds to every round np = 2 fast, np = 2 exact spinning (`exact_spin`, when the
#      flags ask for the yield), the old build's fast, and two one-process runs at once pinned
#      to cores 0 and 1 (`two_independent`: the ceiling np = 2 could reach on this machine if
#      communication were free; `of_two_independent`: np 2 exact's samples/s over the two runs'
#      together);
#   2. an OSU-style message-size sweep of ping-pong, broadcast, all-gather and all-reduce at
#      np = 2, with t(n) = α + β·n fitted for each (the cost model's inputs).
# After the rounds: a `median` line (the median of each ratio over the rounds: the figures to
# read), an `interval95` line (a distribution-free 95 % interval of each median, from the
# order statistics of the rounds: 15 rounds give the 4th to 12th, 25 the 8th to 18th), the
# phase profile of np = 2 exact (CPU and wall ms a step before and inside each meeting, per
# rank, with the cores it ran on; notes/distributed.md §8) and its `phase_sum` per rank, the
# sums again with the ranks swapped between the cores (does the slower rank follow its core?),
# a `cores` line (the one process pinned to core 0, then 1: CPU ms a step), the `parts` of the
# step in one thread (rank_over_half: rank 0's compute at np = 2 over half the plain step's)
# and the sweep.
# With OLD=<commit> (built here) or OLD_BIN (built already), the old build's np = 2 exact runs
# in every round: the ratio line gains exact_old (np 2 / np 1 of the old build) and
# new_over_old (exact samples/s, this build over the old).
# MPIRUN_FLAGS replaces the launch flags (default: the recommended ones, `--bind-to core`
# `--mca btl self,vader` `--mca mpi_yield_when_idle 1`; notes/distributed.md §1, §8); with the
# yield in them, FULL=1 rounds also run np = 2 exact spinning instead (`exact_spin`).
# Usage: scripts/mpi_bench.sh [steps per run, default 40] [rounds, default 15]
#        PROFILE=dev scripts/mpi_bench.sh …   (the optimised dev build, no release build)
#        OLD=07a8999 scripts/mpi_bench.sh 40 3   (OLD_TREE, OLD_TARGET: the old checkout, its target dir)
#        OLD_BIN=/work/oldbin9/mpi_bench scripts/mpi_bench.sh 40 3   (an old `mpi_bench` built
#          already, e.g. `cargo build --release --features mpi --example mpi_bench` at the old
#          commit: nothing is built for the old side; OLD, if given too, only names it)
#        SWEEP=0 scripts/mpi_bench.sh …       (no message-size sweep)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/host.sh
steps="${1:-40}"
rounds="${2:-15}"
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
tmp="${TMPDIR:-/tmp}/mpi_bench.$$"
mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT
: >"$tmp/ratios"
# One run of configuration $1 into $tmp/$1 (its `speed` line echoed, tagged).
run() {
  local out="$tmp/$1"
  case "$1" in
    one) "$bin" speed --single --steps "$steps" >"$out" ;;
    exact) "${mpirun_[@]}" -np 2 "$bin" speed --steps "$steps" >"$out" ;;
    np1) "${mpirun_[@]}" -np 1 "$bin" speed --steps "$steps" >"$out" ;;
    old) "${mpirun_[@]}" -np 2 "$old_bin" speed --steps "$steps" >"$out" ;;
    fast) "${mpirun_[@]}" -np 2 "$bin" speed --fast --steps "$steps" >"$out" ;;
    fast_old) "${mpirun_[@]}" -np 2 "$old_bin" speed --fast --steps "$steps" >"$out" ;;
    spin) "${spin_[@]}" -np 2 "$bin" speed --steps "$steps" >"$out" ;;
    pair)
      # Two independent one-process runs at once, pinned to cores 0 and 1.
      taskset -c 0 "$bin" speed --single --steps "$steps" >"$out.0" &
      taskset -c 1 "$bin" speed --single --steps "$steps" >"$out"
      wait
      ;;
  esac
  sed "s/^/$1: /" "$out"
}
# The configurations of a round: the lean set (the one process, np 2 exact, the distributed
# step at one rank, and the old build's np 2 exact when given); FULL=1 adds np 2 fast, the
# spinning np 2 exact, two independent one-process runs and the old build's fast.
configs=(one exact np1)
[ -n "$old_bin" ] && configs+=(old)
if [ "${FULL:-0}" = 1 ]; then
  configs+=(fast pair)
  [ ${#spin_[@]} -gt 0 ] && configs+=(spin)
  [ -n "$old_bin" ] && configs+=(fast_old)
fi
for round in $(seq "$rounds"); do
  echo "# round $round"
  # Odd rounds run the configurations in order, even rounds in reverse (ABBA): a drift of
  # the host's speed within a round then favours none of them over the rounds.
  order=("${configs[@]}")
  if [ $((round % 2)) -eq 0 ]; then
    order=()
    for ((i = ${#configs[@]} - 1; i >= 0; i--)); do order+=("${configs[i]}"); done
  fi
  for c in "${order[@]}"; do run "$c"; done
  # Each ratio within the round (paired): np 2 / np 1 samples/s and the others against the
  # same round's one process; new_over_old: np 2 exact, this build over the old.
  line="ratio round=$round"
  r() { rate <"$tmp/$1"; }
  one=$(r one)
  for c in exact fast spin pair np1 old fast_old; do
    [ -s "$tmp/$c" ] || continue
    key=$c
    case $c in spin) key=exact_spin ;; pair) key=two_independent ;; np1) key=np1_mpi ;;
      old) key=exact_old ;; esac
    line="$line $key=$(awk -v a="$(r "$c")" -v b="$one" 'BEGIN { printf "%.3f", a / b }')"
  done
  if [ -s "$tmp/old" ]; then
    line="$line new_over_old=$(awk -v a="$(r exact)" -v b="$(r old)" 'BEGIN { printf "%.3f", a / b }')"
  fi
  # of_two_independent: np 2 exact's samples/s over the two independent runs' together — the
  # share it gets of what the host gives two processes at once in this round (§8, session 22).
  if [ -s "$tmp/pair" ] && [ -s "$tmp/pair.0" ]; then
    line="$line of_two_independent=$(awk -v a="$(r exact)" -v b="$(r pair.0)" -v c="$(r pair)" \
      'BEGIN { printf "%.3f", a / (b + c) }')"
  fi
  echo "$line" | tee -a "$tmp/ratios"
  rm -f "$tmp"/one "$tmp"/exact "$tmp"/np1 "$tmp"/old "$tmp"/fast "$tmp"/fast_old "$tmp"/spin "$tmp"/pair*
done
# The median of each ratio over the rounds (the lower middle one of an even count) and a
# distribution-free 95 % interval for it: the k-th smallest and k-th largest of the n rounds,
# k the largest with P(Binomial(n, 1/2) < k) <= 0.025 (none below 6 rounds: printed as the
# range then, marked `range`). Paired rounds: each ratio is formed within its round.
median="median rounds=$rounds"
intervals="interval95 rounds=$rounds"
for key in $(head -1 "$tmp/ratios" | tr ' ' '\n' | sed -n '3,$p' | cut -d= -f1); do
  sed -n "s/.* $key=\([0-9.]*\).*/\1/p" "$tmp/ratios" | sort -g >"$tmp/values"
  m=$(awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }' "$tmp/values")
  ci=$(awk '{ v[NR] = $1 }
    END {
      n = NR; k = 0; p = 0.5 ^ n; cdf = 0
      # cdf = P(X <= j - 1) before adding P(X = j - 1): k = the largest j with P(X < j) <= 0.025.
      for (j = 1; j <= n; j++) { cdf += p; if (cdf > 0.025) break; k = j; p = p * (n - j + 1) / j }
      if (k < 1) printf "range[%s,%s]", v[1], v[n]; else printf "[%s,%s]", v[k], v[n - k + 1]
    }' "$tmp/values")
  median="$median $key=$m"
  intervals="$intervals $key=$ci"
done
echo "$median"
echo "$intervals"
# Per rank: the phases' compute CPU (three meetings a step, four with a ranking loss: T17) and the meetings' wall summed (ms a step), tagged $1.
phase_sums() {
  awk -v tag="$1" '{
      for (i = 2; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
      key = f["rank"] " cpus=" f["cpus"]; cpu[key] += f["compute_cpu_ms"]; meet[key] += f["meet_wall_ms"]
    }
    END { for (k in cpu) printf "phase_sum %s rank=%s compute_cpu_ms=%.2f meet_wall_ms=%.2f\n", tag, k, cpu[k], meet[k] }' |
    sort
}
echo "# phase profile, np = 2 exact (ms a step; meet_* includes waiting for the other rank; cpus: the"
echo "# cores each rank ran on), as launched, then with the ranks swapped between cores 0 and 1 (a"
echo "# slower rank that follows the core is the core's speed, not the work's split: §8, session 11)"
"${mpirun_[@]}" -np 2 "$bin" speed --steps "$steps" --phases | grep '^phase' | sort >"$tmp/phases"
cat "$tmp/phases"
phase_sums launched <"$tmp/phases"
# Rank r on core 1 − r: the binding left to taskset (the flags' own --bind-to dropped).
read -r -a unbound <<<"$(sed 's/--bind-to [^ ]*//' <<<"$launch")"
mpirun --allow-run-as-root --oversubscribe "${unbound[@]}" --bind-to none -np 2 \
  sh -c 'exec taskset -c $((1 - OMPI_COMM_WORLD_RANK)) "$0" "$@"' "$bin" speed --steps "$steps" \
  --phases | grep '^phase' | sort >"$tmp/phases"
phase_sums swapped <"$tmp/phases"
# The one process pinned to core 0, then core 1, three times: CPU ms a step on each core.
cores="cores"
for k in 1 2 3; do
  for c in 0 1; do
    ms=$(taskset -c "$c" "$bin" speed --single --steps "$steps" |
      sed -n 's/.* steps=\([0-9]*\) .*cpu_s=\([0-9.]*\).*/\1 \2/p' | awk '{ printf "%.2f", 1e3 * $2 / $1 }')
    cores="$cores cpu$c=$ms"
  done
done
echo "$cores   (one process, CPU ms a step; alternating)"
echo "# compute parts in one thread, no MPI: the plain step's against rank 0's at np = 2 (min CPU ms)"
"$bin" parts --steps 30
if [ "${SWEEP:-1}" != 0 ]; then
  "${mpirun_[@]}" -np 2 "$bin" sweep
fi
