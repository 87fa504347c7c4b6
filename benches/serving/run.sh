#!/usr/bin/env bash
# Side-by-side load run: `glassbox serve` and the FastAPI + uvicorn + NumPy peer
# (fastapi_server.py) scoring the same bundle, driven by wrk with the same JSON bodies:
# single rows at 1, 8 and 64 connections, then 1,000-row requests at 8 connections.
#
#   apt-get install -y wrk; /work/venv/bin/pip install fastapi uvicorn
#   cargo build --release
#   benches/serving/run.sh runs/case-study/purchase/default/model.safetensors [SECONDS]
#
# Prints one RESULT line per run (req/s, p50/p99/p99.9 in ms, errors). Loopback only.
set -euo pipefail
MODEL=$(realpath "$1")
SECS=${2:-10}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BIN=${GLASSBOX:-${CARGO_TARGET_DIR:-$ROOT/target}/release/glassbox}
PY=${PYTHON:-/work/venv/bin/python}
TMP=$(mktemp -d)
"$PY" "$HERE/make_bodies.py" "$ROOT/datasets/online_shoppers_test.csv" "$TMP"

"$BIN" serve "shoppers=$MODEL" --addr 127.0.0.1:18090 -q >"$TMP/glassbox.log" 2>&1 &
RUST=$!
MODEL=$MODEL "$PY" -m uvicorn --app-dir "$HERE" fastapi_server:app --host 127.0.0.1 --port 18091 \
  --workers 2 --log-level warning >"$TMP/fastapi.log" 2>&1 &
PEER=$!
trap 'kill $RUST $PEER 2>/dev/null; wait 2>/dev/null; rm -rf "$TMP"' EXIT

for port in 18090 18091; do
  for _ in $(seq 100); do
    curl -sf -o /dev/null -H 'Content-Type: application/json' --data-binary @"$TMP/single.json" \
      "http://127.0.0.1:$port/v1/models/shoppers/predict" && break
    sleep 0.2
  done
done

for svc in glassbox:18090 fastapi:18091; do
  name=${svc%%:*}; port=${svc##*:}
  for run in single:1 single:8 single:64 rows1000:8; do
    body=${run%%:*}; conns=${run##*:}
    threads=$(( conns < 2 ? 1 : 2 ))
    line=$(BODY_FILE="$TMP/$body.json" wrk -t"$threads" -c"$conns" -d"${SECS}s" -s "$HERE/post.lua" \
      "http://127.0.0.1:$port/v1/models/shoppers/predict" | grep RESULT)
    echo "$name body=$body connections=$conns $line"
  done
done
