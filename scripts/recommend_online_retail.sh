#!/usr/bin/env bash
# The default recommender on Online Retail (crates/recommend/examples/online_retail.rs): the
# validation search per mode, then the test figures per seed (default 5) next to each part
# alone, the fit time of the whole default, the MF fit per seed and the top-20 retrieval for
# every evaluated user. Wall times on a shared machine are noise: this prints the load before
# and after and the user/system CPU time of the whole run (GNU time).
#
#   scripts/recommend_online_retail.sh [SEEDS]      (from the repo root)
set -euo pipefail
cd "$(dirname "$0")/.."
SEEDS="${1:-5}"
cargo build --release -p glassbox-recommend --example online_retail >/dev/null 2>&1
BIN="${CARGO_TARGET_DIR:-target}/release/examples/online_retail"
scripts/host.sh
/usr/bin/time -f "whole run: %e s wall, %U s user, %S s system, %M KiB max RSS" "$BIN" "$SEEDS"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
