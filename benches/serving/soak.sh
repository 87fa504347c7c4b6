#!/usr/bin/env bash
# Soak run: `glassbox serve` under steady load for 10 minutes with a hot reload every minute.
# Passes when wrk saw no error (every answer 2xx, no socket error) and the server's resident
# memory stayed within ±5 % of its level after the first minute.
#
#   benches/serving/soak.sh runs/case-study/default/model.safetensors [CONNECTIONS] [SECONDS]
#
# CONNECTIONS (default 4) sets the load: choose the count whose req/s in run.sh is about half
# the peak. Loopback only; it stops by itself.
set -euo pipefail
MODEL=$(realpath "$1")
CONNS=${2:-4}
SECS=${3:-600}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BIN=${GLASSBOX:-${CARGO_TARGET_DIR:-$ROOT/target}/release/glassbox}
PY=${PYTHON:-/work/venv/bin/python}
TMP=$(mktemp -d)
"$PY" "$HERE/make_bodies.py" "$ROOT/datasets/online_shoppers_test.csv" "$TMP"
cp "$MODEL" "$TMP/live.safetensors"
"$BIN" serve "shoppers=$TMP/live.safetensors" --addr 127.0.0.1:18092 -q >"$TMP/serve.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null; wait 2>/dev/null; rm -rf "$TMP"' EXIT
sleep 1
rss() { awk '/VmRSS/ {print $2}' "/proc/$SERVER/status"; }

BODY_FILE="$TMP/single.json" wrk -t2 -c"$CONNS" -d"${SECS}s" -s "$HERE/post.lua" \
  http://127.0.0.1:18092/v1/models/shoppers/predict >"$TMP/wrk.txt" &
LOAD=$!
start=$(date +%s); baseline=""; low=""; high=""
while kill -0 $LOAD 2>/dev/null; do
  sleep 10
  now=$(( $(date +%s) - start ))
  if (( now % 60 < 10 )); then
    curl -sf -X POST http://127.0.0.1:18092/v1/models/shoppers/reload >/dev/null || echo "reload failed at ${now}s"
  fi
  r=$(rss)
  if (( now >= 60 )); then
    baseline=${baseline:-$r}; low=${low:-$r}; high=${high:-$r}
    (( r < low )) && low=$r; (( r > high )) && high=$r
  fi
  echo "t=${now}s rss_kib=$r"
done
wait $LOAD
grep RESULT "$TMP/wrk.txt"
errors=$(grep -o 'errors=[0-9]*' "$TMP/wrk.txt" | cut -d= -f2)
echo "rss after 1 min: $baseline KiB, range $low–$high KiB"
awk -v b="$baseline" -v l="$low" -v h="$high" -v e="$errors" 'BEGIN {
  ok = (e == 0) && (h <= b * 1.05) && (l >= b * 0.95);
  print (ok ? "SOAK PASSED" : "SOAK FAILED"); exit !ok }'
