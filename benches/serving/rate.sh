#!/usr/bin/env bash
# Open-loop latency of `glassbox serve`: single-row JSON requests sent at a fixed rate by
# oha (`-q`), whatever the answers' latency — wrk (run.sh) is closed-loop and cannot say
# what p99 is at a given rate. `--latency-correction` measures each request from the time
# it was due, so a stalled server's queue is not hidden (coordinated omission).
#
#   cargo install oha          # outside the repo
#   cargo build --release
#   benches/serving/rate.sh runs/case-study/purchase/default/model.safetensors [RATE] [SECONDS] [CONNECTIONS]
#
# Defaults: 2,000 requests/s for 20 s over 16 connections (issue 18: p99 <= 2 ms at
# 2,000 req/s). Prints one RESULT line: rate asked, achieved req/s, p50/p99/p99.9 in ms,
# non-200 answers (-w: the requests still in flight at the end are waited for, not counted as
# failures). Loopback only.
set -euo pipefail
MODEL=$(realpath "$1")
RATE=${2:-2000}
SECS=${3:-20}
CONNS=${4:-16}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BIN=${GLASSBOX:-${CARGO_TARGET_DIR:-$ROOT/target}/release/glassbox}
PY=${PYTHON:-/work/venv/bin/python}
OHA=${OHA:-oha}
PORT=${PORT:-18092}
TMP=$(mktemp -d)
"$PY" "$HERE/make_bodies.py" "$ROOT/datasets/online_shoppers_test.csv" "$TMP"

"$BIN" serve "shoppers=$MODEL" --addr "127.0.0.1:$PORT" -q >"$TMP/glassbox.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null; wait 2>/dev/null; rm -rf "$TMP"' EXIT
URL="http://127.0.0.1:$PORT/v1/models/shoppers/predict"
up=0
for _ in $(seq 100); do
  curl -sf -o /dev/null -H 'Content-Type: application/json' --data-binary @"$TMP/single.json" "$URL" \
    && { up=1; break; }
  sleep 0.2
done
[ "$up" = 1 ] || { echo "the server did not answer:" >&2; cat "$TMP/glassbox.log" >&2; exit 1; }

# A short warm-up at the same rate, then the measured run.
"$OHA" --no-tui -z 2s -q "$RATE" -c "$CONNS" -m POST -T application/json -D "$TMP/single.json" \
  "$URL" >/dev/null
"$OHA" --no-tui -z "${SECS}s" -q "$RATE" -c "$CONNS" --latency-correction -w --output-format json \
  -m POST -T application/json -D "$TMP/single.json" "$URL" >"$TMP/oha.json"
[ -n "${KEEP_JSON:-}" ] && cp "$TMP/oha.json" "$KEEP_JSON"
RATE=$RATE "$PY" - "$TMP/oha.json" <<'PYEOF'
import json, os, sys
r = json.load(open(sys.argv[1]))
p = r["latencyPercentiles"]
codes = r.get("statusCodeDistribution", {})
bad = sum(n for c, n in codes.items() if c != "200") + sum(r.get("errorDistribution", {}).values())
ms = lambda s: float("nan") if s is None else 1000 * s  # oha leaves null what it lacks
print(f"RESULT rate={os.environ['RATE']} req/s={r['summary']['requestsPerSec']:.0f} "
      f"p50_ms={ms(p['p50']):.3f} p99_ms={ms(p['p99']):.3f} p99.9_ms={ms(p['p99.9']):.3f} "
      f"not_200={bad}")
PYEOF
