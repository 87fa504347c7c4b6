#!/usr/bin/env bash
# Issue 13's speed targets on Online Retail, for a quiet machine (from the repo root):
#  1. the criterion bench: top-20 of every customer (< 1 s) and the default's fit with fixed
#     settings (< 30 s on 2 cores): benches/recommend.rs;
#  2. the whole `glassbox recommend train` (the validation search of both modes + the fit) and
#     `glassbox recommend predict` of every customer, with GNU time's CPU time;
#  3. EASE's inverse, Gauss–Jordan against the blocked Cholesky (scripts/recommend_ease_inverse.sh).
#
#   scripts/recommend_speed.sh
set -euo pipefail
cd "$(dirname "$0")/.."
echo "cores: $(nproc); load before: $(cut -d' ' -f1-3 /proc/loadavg)"
cargo bench --bench recommend
cargo build --release --bin glassbox >/dev/null 2>&1
BIN="${CARGO_TARGET_DIR:-target}/release/glassbox"
OUT="$(mktemp -d)"
/usr/bin/time -f "recommend train: %e s wall, %U s user, %S s system, %M KiB max RSS" \
  "$BIN" --quiet recommend train datasets/online_retail_interactions.csv.gz --user customer_id \
  --item stock_code --time invoice_date --basket invoice_no --cutoff 2011-10-01 --out "$OUT/rec"
/usr/bin/time -f "recommend predict (every customer, k 20): %e s wall, %U s user, %S s system" \
  "$BIN" recommend predict "$OUT/rec/model.safetensors" --k 20 --out "$OUT/recs.csv"
/usr/bin/time -f "recommend evaluate: %e s wall, %U s user, %S s system" \
  "$BIN" recommend evaluate "$OUT/rec/model.safetensors" datasets/online_retail_interactions.csv.gz \
  --out "$OUT/eval"
scripts/recommend_ease_inverse.sh
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
rm -rf "$OUT"
