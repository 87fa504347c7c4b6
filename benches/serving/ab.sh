#!/usr/bin/env bash
# Interleaved comparison of `glassbox serve` builds on a shared machine: each round starts
# every binary in turn on the same model, sends BODY (single or rows1000, from
# make_bodies.py) closed-loop with oha for SECONDS, and prints req/s, p50/p99 and the
# server's own CPU time per request (utime + stime from /proc, so it counts the server's work
# whatever else the machine is doing — the steadier figure when others share the cores).
# BODY is single, rows1000 (JSON) or rows1000.csv (the same rows as text/csv).
#
#   benches/serving/ab.sh MODEL BODY CONNECTIONS SECONDS ROUNDS BINARY...
#   benches/serving/ab.sh runs/case-study/purchase/default/model.safetensors rows1000 8 8 2 \
#     /tmp/glassbox-before target/release/glassbox
set -euo pipefail
MODEL=$(realpath "$1"); BODY=$2; CONNS=$3; SECS=$4; ROUNDS=$5; shift 5
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
PY=${PYTHON:-/work/venv/bin/python}
OHA=${OHA:-oha}
PORT=${PORT:-18094}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
"$PY" "$HERE/make_bodies.py" "$ROOT/datasets/online_shoppers_test.csv" "$TMP"
URL="http://127.0.0.1:$PORT/v1/models/shoppers/predict"
case $BODY in
  *.csv) BODY_FILE="$TMP/$BODY"; TYPE=text/csv ;;
  *) BODY_FILE="$TMP/$BODY.json"; TYPE=application/json ;;
esac
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
for _ in $(seq "$ROUNDS"); do
  for BIN in "$@"; do
    "$BIN" serve "shoppers=$MODEL" --addr "127.0.0.1:$PORT" -q >"$TMP/serve.log" 2>&1 &
    SERVER=$!
    for _ in $(seq 100); do
      curl -sf -o /dev/null -H 'Content-Type: application/json' --data-binary @"$TMP/single.json" \
        "$URL" && break
      sleep 0.1
    done
    "$OHA" --no-tui -z 2s -c "$CONNS" -m POST -T "$TYPE" -D "$BODY_FILE" "$URL" >/dev/null
    before=$(cpu_ticks $SERVER)
    "$OHA" --no-tui -z "${SECS}s" -c "$CONNS" -w --output-format json -m POST -T "$TYPE" \
      -D "$BODY_FILE" "$URL" >"$TMP/oha.json"
    after=$(cpu_ticks $SERVER)
    kill $SERVER; wait $SERVER 2>/dev/null || true
    BIN=$BIN TICKS=$(( after - before )) HZ=$(getconf CLK_TCK) "$PY" - "$TMP/oha.json" <<'PYEOF'
import json, os, sys
r = json.load(open(sys.argv[1]))
p = r["latencyPercentiles"]
n = sum(r["statusCodeDistribution"].values())
cpu = int(os.environ["TICKS"]) / int(os.environ["HZ"])
load = open("/proc/loadavg").read().split()[0]
print(f"RESULT {os.environ['BIN']} req/s={r['summary']['requestsPerSec']:.1f} "
      f"p50_ms={1000 * p['p50']:.2f} p99_ms={1000 * p['p99']:.2f} answers={n} "
      f"codes={r['statusCodeDistribution']} server_cpu_ms_per_request={1000 * cpu / max(n, 1):.3f} "
      f"load={load}")
PYEOF
  done
done
