"""Test-day metrics of both next-hour recipes over several seeds (mean ± sd), for
notes/benchmarks.md ("Next hour"). Final reporting only: nothing here feeds back into a recipe
(the recipes are chosen on the validation day, examples/next_hour_search.rs).

Run from the repo root after `cargo build --release`:

    python3 scripts/next_hour_seeds.py [--seeds 5] [--binary target/release/glassbox]

For each seed s it runs `glassbox case-study next-hour --seed s --out DIR/s --quiet` and
reads metrics.json: per recipe ROC-AUC, PR-AUC, log-loss × 1000, precision@100, recall@top 1 %
(mean ± sample sd), each seed's ROC-AUC and PR-AUC, the paired visitor bootstrap against
tuned LightGBM (M20 paired) of each seed, and the user CPU seconds of each run. Needs only the
Python standard library.
"""

import argparse
import json
import os
import resource
import statistics
import subprocess

KEYS = [("roc_auc", 1, "ROC-AUC"), ("pr_auc", 1, "PR-AUC"), ("log_loss", 1000, "log-loss x1000"),
        ("precision_at_100", 1, "precision@100"), ("recall_at_top_1pct", 1, "recall@top 1 %")]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--binary", default="target/release/glassbox")
    ap.add_argument("--out", default="/tmp/glassbox-next-hour-seeds")
    a = ap.parse_args()
    runs = {}
    for s in range(a.seeds):
        out = os.path.join(a.out, str(s))
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run([a.binary, "case-study", "next-hour", "--seed", str(s), "--out", out,
                        "--quiet"], check=True, stdout=subprocess.DEVNULL)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        with open(os.path.join(out, "metrics.json")) as f:
            m = json.load(f)
        for model in m["models"]:
            runs.setdefault(model["name"], []).append(model["test"])
        print(f"seed {s}: CPU {cpu:.1f} s (user + system)", flush=True)
    print("| recipe | " + " | ".join(k[2] for k in KEYS) + " |")
    print("|---" * (len(KEYS) + 1) + "|")
    for name, tests in runs.items():
        cells = []
        for key, scale, _ in KEYS:
            v = [t[key] * scale for t in tests]
            sd = statistics.stdev(v) if len(v) > 1 else float("nan")
            cells.append(f"{statistics.mean(v):.4f} ± {sd:.4f}")
        print(f"| {name} | " + " | ".join(cells) + " |")
    for name, tests in runs.items():
        print(f"\n{name}, per seed:")
        for s, t in enumerate(tests):
            p = t["paired_bootstrap_vs_lightgbm"]
            print(f"  seed {s}: ROC-AUC {t['roc_auc']:.4f}, PR-AUC {t['pr_auc']:.4f}; "
                  f"- LightGBM: ROC-AUC {p['roc_auc_difference']:+.4f} "
                  f"[{p['roc_auc_difference_ci95'][0]:+.4f}, {p['roc_auc_difference_ci95'][1]:+.4f}]"
                  f", PR-AUC {p['pr_auc_difference']:+.4f} "
                  f"[{p['pr_auc_difference_ci95'][0]:+.4f}, {p['pr_auc_difference_ci95'][1]:+.4f}]")


if __name__ == "__main__":
    main()
