#!/usr/bin/env bash
# `glassbox case-study next-hour` (issue 12's < 10 s on 2 cores), an old binary against a new
# one, interleaved on the same machine: ROUNDS rounds of old/new (order alternating), GNU
# time's wall and user + system CPU per run, the medians and the ratios new/old. Then checks
# that both runs of round 1 wrote the same models (every bundle byte for byte) and the same
# test metrics (metrics.json's `test` object and both recipes' figures, timings apart).
#
#   scripts/next_hour_case_speed.sh OLD_BIN NEW_BIN [ROUNDS=5]   (from the repo root)
#
# e.g. scripts/next_hour_case_speed.sh /work/oldbin11/glassbox target/release/glassbox 5
# (about 2 × ROUNDS × 10 s on two free cores).
set -euo pipefail
cd "$(dirname "$0")/.."
OLD_BIN="$1"; NEW_BIN="$2"; ROUNDS="${3:-5}"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
scripts/host.sh "$NEW_BIN"
run() { # $1 = old|new, $2 = round
  local bin="$OLD_BIN"; [ "$1" = new ] && bin="$NEW_BIN"
  /usr/bin/time -f "%e %U %S" -o "$TMP/time-$1-$2" "$bin" case-study next-hour \
    --out "$TMP/out-$1-$2" --quiet >/dev/null
  read -r wall user sys <"$TMP/time-$1-$2"
  echo "$1 round $2: $wall s wall, $user s user, $sys s system"
  echo "$wall" >>"$TMP/walls-$1"
  awk -v u="$user" -v s="$sys" 'BEGIN {print u + s}' >>"$TMP/cpus-$1"
}
for r in $(seq 1 "$ROUNDS"); do
  if [ $((r % 2)) -eq 1 ]; then run old "$r"; run new "$r"; else run new "$r"; run old "$r"; fi
done
median() { sort -g "$1" | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.3f", a/b}'; }
mo="$(median "$TMP/walls-old")"; mn="$(median "$TMP/walls-new")"
co="$(median "$TMP/cpus-old")"; cn="$(median "$TMP/cpus-new")"
echo "median wall: old $mo s, new $mn s (target < 10 s); ratio new/old $(ratio "$mn" "$mo")"
echo "median user + system CPU: old $co s, new $cn s; ratio new/old $(ratio "$cn" "$co")"
for m in paper default; do
  cmp -s "$TMP/out-old-1/$m/model.safetensors" "$TMP/out-new-1/$m/model.safetensors" \
    && echo "$m model: identical" || echo "$m model: DIFFERS"
done
figures() { # metrics.json without its timings (every key naming seconds dropped)
  python3 -c 'import json, sys
def strip(v):
    if isinstance(v, dict):
        return {k: strip(x) for k, x in v.items() if "second" not in k}
    return [strip(x) for x in v] if isinstance(v, list) else v
m = json.load(open(sys.argv[1]))
print(json.dumps(strip({"test": m["test"], "models": m["models"], "importance": m.get("permutation_importance")}), sort_keys=True))' "$1"
}
if [ "$(figures "$TMP/out-old-1/metrics.json")" = "$(figures "$TMP/out-new-1/metrics.json")" ]; then
  echo "test figures (metrics.json): identical"
else
  echo "test figures (metrics.json): DIFFER"
fi
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
