#!/usr/bin/env bash
# The default recommender (K38, crates/recommend/examples/default_online_retail.rs) on Online
# Retail: optionally the validation search (`search`: choose_default on train < 2011-09-01,
# truth = September), then fit_default on the whole training period and the test figures per
# seed (default 5) in both modes, the mean next to the best reference, and the CPU and wall time
# of the whole default fit (seed 0) and of each DNN refit. Prints the load before and after and
# GNU time's user/system CPU of the whole run: on a shared machine quote CPU time, not wall.
#
#   scripts/recommend_default.sh [SEEDS] [search]      (from the repo root)
set -euo pipefail
cd "$(dirname "$0")/.."
SEEDS="${1:-5}"
cargo build --release -p glassbox-recommend --example default_online_retail >/dev/null 2>&1
BIN="${CARGO_TARGET_DIR:-target}/release/examples/default_online_retail"
scripts/host.sh
/usr/bin/time -f "whole run: %e s wall, %U s user, %S s system, %M KiB max RSS" "$BIN" "$SEEDS" ${2:-}
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
