"""Test-split metrics of both case-study recipes over several seeds (mean ± sd), for
notes/benchmarks.md. Final reporting only: nothing here feeds back into a recipe.

Run from the repo root after `cargo build --release`:

    python3 scripts/case_study_seeds.py [--seeds 5] [--binary target/release/glassbox]

For each seed s it runs `glassbox case-study --seed s --out /tmp/glassbox-seeds/s --quiet`
and reads metrics.json. Prints a Markdown table: ROC-AUC, PR-AUC (average precision), F1 and
accuracy at 0.5, F1 at the model's own threshold, with mean ± sd (sample sd, n − 1) per
recipe, and each seed's ROC-AUC. With --paper-log1p it also trains the paper recipe with the
schema's log1p turned on (`train --recipe paper --use-log1p true`, then `evaluate`), the
glassbox side of the second row of scripts/keras_paper_recipe.py. Needs only the Python
standard library.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys


def summary(t):
    """The figures of one evaluation (`Evaluation` in metrics.json)."""
    return {
        "roc_auc": t["at_threshold"]["roc_auc"],
        "pr_auc": t["at_threshold"]["average_precision"],
        "f1_05": t["at_half"]["f1"],
        "acc_05": t["at_half"]["accuracy"],
        "f1_t": t["at_threshold"]["f1"],
        "t": t["at_threshold"]["threshold"],
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--binary", default="target/release/glassbox")
    ap.add_argument("--out", default="/tmp/glassbox-seeds")
    ap.add_argument("--paper-log1p", action="store_true")
    args = ap.parse_args()
    rows = {}
    for seed in range(args.seeds):
        out = os.path.join(args.out, str(seed))
        subprocess.run(
            [args.binary, "case-study", "--seed", str(seed), "--out", out, "--quiet"],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        with open(os.path.join(out, "metrics.json")) as f:
            m = json.load(f)
        for model in m["models"]:
            rows.setdefault(model["name"], []).append(summary(model["test"]))
        if args.paper_log1p:
            d = os.path.join(out, "paper-log1p")
            subprocess.run(
                [args.binary, "train", "datasets/online_shoppers_train.csv", "--target", "Revenue",
                 "--schema", "datasets/online_shoppers.schema.toml", "--recipe", "paper",
                 "--use-log1p", "true", "--seed", str(seed), "--out", d, "--quiet"],
                check=True, stdout=subprocess.DEVNULL)
            subprocess.run(
                [args.binary, "evaluate", os.path.join(d, "model.safetensors"),
                 "datasets/online_shoppers_test.csv", "--out", os.path.join(d, "eval"), "--quiet"],
                check=True, stdout=subprocess.DEVNULL)
            with open(os.path.join(d, "eval", "metrics.json")) as f:
                rows.setdefault("paper + log1p", []).append(summary(json.load(f)["evaluation"]))
        print(f"seed {seed} done", file=sys.stderr)
    keys = ["roc_auc", "pr_auc", "f1_05", "acc_05", "f1_t", "t"]
    print("| recipe | ROC-AUC | PR-AUC | F1 at 0.5 | accuracy at 0.5 | F1 at t | t | ROC-AUC per seed |")
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    for name, rs in rows.items():
        cells = []
        for k in keys:
            v = [r[k] for r in rs]
            sd = statistics.stdev(v) if len(v) > 1 else 0.0
            cells.append(f"{statistics.mean(v):.4f} ± {sd:.4f}")
        per_seed = ", ".join(f"{r['roc_auc']:.4f}" for r in rs)
        print(f"| {name} | " + " | ".join(cells) + f" | {per_seed} |")


if __name__ == "__main__":
    main()
