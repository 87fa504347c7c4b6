#!/usr/bin/env bash
# `glassbox recommend train` on Online Retail (both modes' validation search and the final fit,
# the 30-s target of issue 13), an old commit against the checked-out tree, interleaved on the
# same machine: the old commit built in a temporary worktree and the current tree in place
# (release, the same target dir, so dependencies build once), then ROUNDS rounds of old/new
# (order alternating), GNU time's wall and CPU per run, and the median wall ratio new/old. Also
# compares the two model files (expect "differ" when the two choose different settings).
#
#   scripts/recommend_train_interleaved.sh OLD_COMMIT [ROUNDS=3]   (from the repo root)
set -euo pipefail
cd "$(dirname "$0")/.."
OLD="$1"; ROUNDS="${2:-3}"
ROOT="$PWD"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
TMP="$(mktemp -d)"
cleanup() {
  git -C "$ROOT" worktree remove --force "$TMP/old" 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT
git worktree add --detach "$TMP/old" "$OLD" >/dev/null 2>&1
for dir in "$TMP/old" "$ROOT"; do
  (cd "$dir" && CARGO_TARGET_DIR="$TARGET" CARGO_INCREMENTAL=0 cargo build --release --bin glassbox >/dev/null 2>&1)
  c=new; [ "$dir" = "$TMP/old" ] && c=old
  cp "$TARGET/release/glassbox" "$TMP/glassbox-$c"
done
scripts/host.sh
run() { # $1 = old|new, $2 = round
  /usr/bin/time -f "%e %U %S" -o "$TMP/time-$1-$2" "$TMP/glassbox-$1" --quiet recommend train \
    datasets/online_retail_interactions.csv.gz --user customer_id --item stock_code \
    --time invoice_date --basket invoice_no --cutoff 2011-10-01 --out "$TMP/out-$1-$2" >/dev/null
  read -r wall user sys <"$TMP/time-$1-$2"
  echo "$1 round $2: $wall s wall, $user s user, $sys s system"
  echo "$wall" >>"$TMP/walls-$1"
}
for r in $(seq 1 "$ROUNDS"); do
  if [ $((r % 2)) -eq 1 ]; then run old "$r"; run new "$r"; else run new "$r"; run old "$r"; fi
done
median() { sort -g "$1" | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
mo="$(median "$TMP/walls-old")"; mn="$(median "$TMP/walls-new")"
echo "median wall: old $mo s, new $mn s (target < 30 s); ratio new/old $(awk -v a="$mn" -v b="$mo" 'BEGIN {printf "%.3f", a/b}')"
cmp -s "$TMP/out-old-1/model.safetensors" "$TMP/out-new-1/model.safetensors" \
  && echo "model files: identical" || echo "model files: differ"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
