"""Test ROC-AUC / PR-AUC of the purchase case study's private models (ε = 1, 3, 8 at
δ = 1e-5) over several seeds, mean ± sd, for the README and notes/privacy.md. Final
reporting only: the hyper-parameters were fixed beforehand on the training file
(scripts/dp_tuning.py); nothing here feeds back into them.

    python3 scripts/dp_case_seeds.py [--seeds 5] [--binary target/release/glassbox]

Runs `glassbox case-study purchase --seed s` for s = 0 … seeds − 1 and reads the `privacy`
entry of each metrics.json. Needs only the Python standard library.
"""

import argparse
import json
import statistics
import subprocess


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--binary", default="target/release/glassbox")
    parser.add_argument("--out", default="/tmp/glassbox-dp-seeds")
    args = parser.parse_args()
    rows = {}
    for seed in range(args.seeds):
        out = f"{args.out}/{seed}"
        subprocess.run(
            [args.binary, "-q", "case-study", "purchase", "--seed", str(seed), "--out", out],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        with open(f"{out}/metrics.json") as f:
            metrics = json.load(f)
        default = [m for m in metrics["models"] if m["name"] == "default"][0]["test"]["at_half"]
        rows.setdefault("non-private default recipe", []).append(
            (float("inf"), default["roc_auc"], default["average_precision"])
        )
        for m in metrics["privacy"]:
            t = m["test"]["at_half"]
            rows.setdefault(f"ε = {m['target_epsilon']:g}", []).append(
                (m["privacy"]["epsilon"], t["roc_auc"], t["average_precision"])
            )
    print("| model | ε spent | test ROC-AUC | test PR-AUC | ROC-AUC per seed |")
    print("|---|---|---|---|---|")
    for name, values in rows.items():
        spent = max(v[0] for v in values)
        auc = [v[1] for v in values]
        ap = [v[2] for v in values]
        print(
            f"| {name} | {spent:.3f} | {statistics.mean(auc):.4f} ± {statistics.stdev(auc):.4f} "
            f"| {statistics.mean(ap):.4f} ± {statistics.stdev(ap):.4f} "
            f"| {', '.join(f'{a:.4f}' for a in auc)} |"
        )


if __name__ == "__main__":
    main()
