#!/usr/bin/env bash
# EASE's inverse on Online Retail (n = 3,503): Gauss–Jordan (K21) against the blocked Cholesky
# inverse (K22), interleaved, 3 rounds; GNU time gives each run's CPU time.
#
#   scripts/recommend_ease_inverse.sh          (from the repo root)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p glassbox-recommend --example ease_inverse >/dev/null 2>&1
BIN="${CARGO_TARGET_DIR:-target}/release/examples/ease_inverse"
scripts/host.sh
for round in 1 2 3; do
  for method in gauss-jordan blocked; do
    /usr/bin/time -f "  $method round $round: %e s wall, %U s user, %S s system" "$BIN" "$method"
  done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
