#!/usr/bin/env bash
# Soak run: `glassbox serve` under a steady open-loop load (oha -q: requests leave at RATE
# whatever the answers do) for 10 minutes, with a hot reload every minute (POST …/reload of
# the same file; each must answer "reloaded": true). Passes when every request was answered 200
# (none refused, failed or cut off: oha -w waits for the last ones), every reload swapped, and
# the server's resident memory between reloads (read just before each) stayed within ±5 % of its
# level after the first minute (WARMUP); the peak just after a reload is printed too.
#
#   cargo install oha; cargo build --release
#   benches/serving/soak.sh runs/case-study/purchase/default/model.safetensors [RATE] [SECONDS] [CONNECTIONS]
#
# RATE (default 12500 req/s) should be half the single-row peak run.sh measures; CONNECTIONS
# default 32. Prints RSS every 10 s, then one RESULT line. Loopback only; it stops by itself.
# A shortened soak that shows the RSS trend in a few minutes (the baseline is then taken
# after WARMUP seconds, a reload comes every RELOAD_EVERY, RSS is read every SAMPLE_EVERY):
#
#   WARMUP=20 RELOAD_EVERY=5 SAMPLE_EVERY=5 benches/serving/soak.sh MODEL 3000 180 16
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
WARMUP=${WARMUP:-60}
RELOAD_EVERY=${RELOAD_EVERY:-60}
SAMPLE_EVERY=${SAMPLE_EVERY:-10}
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
start=$(date +%s); first=$(rss); baseline=""; low=""; high=""; last=""; peak=0
reloads=0; swapped=0; next_reload=$RELOAD_EVERY
while kill -0 $LOAD 2>/dev/null; do
  sleep "$SAMPLE_EVERY"
  now=$(( $(date +%s) - start ))
  kill -0 $SERVER 2>/dev/null || { echo "the server died"; cat "$TMP/serve.log"; exit 1; }
  # The level between reloads, read before this round's reload: a reload holds two versions
  # for a moment (the old one until its last request ends), which is not a leak.
  r=$(rss); last=$r; (( r > peak )) && peak=$r
  if (( now >= WARMUP )); then
    baseline=${baseline:-$r}; low=${low:-$r}; high=${high:-$r}
    (( r < low )) && low=$r; (( r > high )) && high=$r
  fi
  echo "t=${now}s rss_kib=$r"
  if (( now >= next_reload && now < SECS )); then
    next_reload=$(( next_reload + RELOAD_EVERY ))
    reloads=$(( reloads + 1 ))
    answer=$(curl -s -X POST "$BASE/reload" || true)
    if [[ $answer == *'"reloaded":true'* ]]; then swapped=$(( swapped + 1 )); else echo "reload at ${now}s: $answer"; fi
    r=$(rss); (( r > peak )) && peak=$r
    echo "t=${now}s reloaded, rss_kib=$r"
  fi
done
wait $LOAD || true
[ -n "${KEEP_JSON:-}" ] && cp "$TMP/oha.json" "$KEEP_JSON"
FIRST=$first BASELINE=$baseline LOW=$low HIGH=$high LAST=$last PEAK=$peak RELOADS=$reloads SWAPPED=$swapped \
  RATE=$RATE "$PY" - "$TMP/oha.json" <<'PYEOF'
import json, os, sys
r = json.load(open(sys.argv[1]))
codes = r.get("statusCodeDistribution", {})
errors = r.get("errorDistribution", {})
total = sum(codes.values()) + sum(errors.values())
lost = total - codes.get("200", 0)
e = {k: int(os.environ[k] or 0) for k in ("FIRST", "BASELINE", "LOW", "HIGH", "LAST", "PEAK", "RELOADS", "SWAPPED")}
b = e["BASELINE"]
rss_ok = b > 0 and e["HIGH"] <= 1.05 * b and e["LOW"] >= 0.95 * b
ok = lost == 0 and total > 0 and e["RELOADS"] == e["SWAPPED"] and rss_ok
p = r["latencyPercentiles"]
ms = lambda s: float("nan") if s is None else 1000 * s
print(f"RESULT rate={os.environ['RATE']} achieved_req/s={r['summary']['requestsPerSec']:.0f} "
      f"requests={total} lost={lost} codes={codes} errors={errors} "
      f"reloads={e['RELOADS']} swapped={e['SWAPPED']} "
      f"rss_kib start={e['FIRST']} baseline={b} min={e['LOW']} max={e['HIGH']} end={e['LAST']} "
      f"peak_just_after_a_reload={e['PEAK']} "
      f"p50_ms={ms(p['p50']):.3f} p99_ms={ms(p['p99']):.3f}")
print("SOAK PASSED" if ok else "SOAK FAILED")
sys.exit(0 if ok else 1)
PYEOF
