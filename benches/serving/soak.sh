#!/usr/bin/env bash
# Soak run: `glassbox serve` under a steady open-loop load (oha -q: requests leave at RATE
# whatever the answers do) for 10 minutes, with a hot reload every minute (POST …/reload of
# the same file; each must answer "reloaded": true). Passes when every request was answered 200
# (none refused, failed or cut off: oha -w waits for the last ones), every reload swapped, and
# the server's resident memory stayed within ±5 % of its level after the first minute.
#
#   cargo install oha; cargo build --release
#   benches/serving/soak.sh runs/case-study/purchase/default/model.safetensors [RATE] [SECONDS] [CONNECTIONS]
#
# RATE (default 12500 req/s) should be half the single-row peak run.sh measures; CONNECTIONS
# default 32. Prints RSS every 10 s, then one RESULT line. Loopback only; it stops by itself.
set -euo pipefail
MODEL=$(realpath "$1")
RATE=${2:-12500}
SECS=${3:-600}
CONNS=${4:-32}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BIN=${GLASSBOX:-${CARGO_TARGET_DIR:-$ROOT/target}/release/glassbox}
PY=${PYTHON:-/work/venv/bin/python}
OHA=${OHA:-oha}
PORT=${PORT:-18093}
TMP=$(mktemp -d)
"$PY" "$HERE/make_bodies.py" "$ROOT/datasets/online_shoppers_test.csv" "$TMP"
cp "$MODEL" "$TMP/live.safetensors"
"$BIN" serve "shoppers=$TMP/live.safetensors" --addr "127.0.0.1:$PORT" -q >"$TMP/serve.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null; wait 2>/dev/null; rm -rf "$TMP"' EXIT
BASE="http://127.0.0.1:$PORT/v1/models/shoppers"
for _ in $(seq 100); do
  curl -sf -o /dev/null -H 'Content-Type: application/json' --data-binary @"$TMP/single.json" \
    "$BASE/predict" && break
  sleep 0.2
done
rss() { awk '/VmRSS/ {print $2}' "/proc/$SERVER/status"; }

"$OHA" --no-tui -z "${SECS}s" -q "$RATE" -c "$CONNS" -w --output-format json \
  -m POST -T application/json -D "$TMP/single.json" "$BASE/predict" >"$TMP/oha.json" &
LOAD=$!
start=$(date +%s); first=$(rss); baseline=""; low=""; high=""; last=""
reloads=0; swapped=0; next_reload=60
while kill -0 $LOAD 2>/dev/null; do
  sleep 10
  now=$(( $(date +%s) - start ))
  if (( now >= next_reload && now < SECS )); then
    next_reload=$(( next_reload + 60 ))
    reloads=$(( reloads + 1 ))
    answer=$(curl -s -X POST "$BASE/reload" || true)
    if [[ $answer == *'"reloaded":true'* ]]; then swapped=$(( swapped + 1 )); else echo "reload at ${now}s: $answer"; fi
  fi
  kill -0 $SERVER 2>/dev/null || { echo "the server died"; cat "$TMP/serve.log"; exit 1; }
  r=$(rss); last=$r
  if (( now >= 60 )); then
    baseline=${baseline:-$r}; low=${low:-$r}; high=${high:-$r}
    (( r < low )) && low=$r; (( r > high )) && high=$r
  fi
  echo "t=${now}s rss_kib=$r"
done
wait $LOAD || true
[ -n "${KEEP_JSON:-}" ] && cp "$TMP/oha.json" "$KEEP_JSON"
FIRST=$first BASELINE=$baseline LOW=$low HIGH=$high LAST=$last RELOADS=$reloads SWAPPED=$swapped \
  RATE=$RATE "$PY" - "$TMP/oha.json" <<'PYEOF'
import json, os, sys
r = json.load(open(sys.argv[1]))
codes = r.get("statusCodeDistribution", {})
errors = r.get("errorDistribution", {})
total = sum(codes.values()) + sum(errors.values())
lost = total - codes.get("200", 0)
e = {k: int(os.environ[k] or 0) for k in ("FIRST", "BASELINE", "LOW", "HIGH", "LAST", "RELOADS", "SWAPPED")}
b = e["BASELINE"]
rss_ok = b > 0 and e["HIGH"] <= 1.05 * b and e["LOW"] >= 0.95 * b
ok = lost == 0 and total > 0 and e["RELOADS"] == e["SWAPPED"] and rss_ok
p = r["latencyPercentiles"]
ms = lambda s: float("nan") if s is None else 1000 * s
print(f"RESULT rate={os.environ['RATE']} achieved_req/s={r['summary']['requestsPerSec']:.0f} "
      f"requests={total} lost={lost} codes={codes} errors={errors} "
      f"reloads={e['RELOADS']} swapped={e['SWAPPED']} "
      f"rss_kib start={e['FIRST']} at_1min={b} min={e['LOW']} max={e['HIGH']} end={e['LAST']} "
      f"p50_ms={ms(p['p50']):.3f} p99_ms={ms(p['p99']):.3f}")
print("SOAK PASSED" if ok else "SOAK FAILED")
sys.exit(0 if ok else 1)
PYEOF
