#!/usr/bin/env bash
# Issue 13's speed targets on Online Retail, for a quiet machine (from the repo root; about
# 2 minutes on 2 cores once built):
#  1. the criterion bench's `top20/every-user`: the default's top 20 for every customer of the
#     shop (target < 1 s; benches/recommend.rs — its `fit/default`, the fit with fixed
#     settings, runs with `cargo bench --bench recommend` and takes ~3 minutes more);
#  2. the whole `glassbox recommend train` — both modes' validation search and the final fit —
#     (target < 30 s on 2 cores), `predict` of every customer and `evaluate`, with GNU time's
#     wall and CPU time.
# EASE's inverse, Gauss–Jordan against the blocked Cholesky: scripts/recommend_ease_inverse.sh.
#
#   scripts/recommend_speed.sh
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/host.sh
CARGO_INCREMENTAL=0 cargo build --release --bin glassbox >/dev/null 2>&1
CARGO_INCREMENTAL=0 cargo bench --bench recommend -- top20
BIN="${CARGO_TARGET_DIR:-target}/release/glassbox"
OUT="$(mktemp -d)"
/usr/bin/time -f "recommend train: %e s wall, %U s user, %S s system, %M KiB max RSS" \
  "$BIN" --quiet recommend train datasets/online_retail_interactions.csv.gz --user customer_id \
  --item stock_code --time invoice_date --basket invoice_no --cutoff 2011-10-01 --out "$OUT/rec"
ls -l "$OUT/rec/model.safetensors"
/usr/bin/time -f "recommend predict (every customer, k 20): %e s wall, %U s user, %S s system" \
  "$BIN" recommend predict "$OUT/rec/model.safetensors" --k 20 --out "$OUT/recs.csv"
/usr/bin/time -f "recommend evaluate: %e s wall, %U s user, %S s system" \
  "$BIN" recommend evaluate "$OUT/rec/model.safetensors" datasets/online_retail_interactions.csv.gz \
  --out "$OUT/eval"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
rm -rf "$OUT"
