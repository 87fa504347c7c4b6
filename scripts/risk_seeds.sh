#!/bin/sh
# The risk case's test metrics over seeds 0-4 (README, "Risk control"): one case-study run per
# seed, then the top-level `test` object of each metrics.json. Usage: scripts/risk_seeds.sh [OUT]
set -e
out=${1:-runs/risk-seeds}
for seed in 0 1 2 3 4; do
    glassbox case-study risk --seed "$seed" --out "$out/seed$seed" --quiet
done
for seed in 0 1 2 3 4; do
    printf 'seed %s: ' "$seed"
    python3 -c 'import json,sys; t=json.load(open(sys.argv[1]))["test"]; print(", ".join(f"{k} {t[k]:.4f}" for k in ("roc_auc","pr_auc","recall_at_1pct_fpr","expected_cost")))' "$out/seed$seed/metrics.json"
done
