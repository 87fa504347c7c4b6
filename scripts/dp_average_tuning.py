"""Averaged iterates (notes/privacy.md P28) for the purchase case's private models, chosen on
the TRAINING file only, the same procedure for ε = 1, 3 and 8 (notes/privacy.md §14, stages
5–6). Like scripts/dp_tuning.py (whose run_batch() it uses), every candidate trains on 80 % of
online_shoppers_train.csv and is scored on the stratified 20 % validation part of
`train --val-fraction 0.2`; the test file is never read.

5. the finalists of stages 3–4 of scripts/dp_tuning.py (read from notes/privacy_tuning.tsv),
   each with the last iterate (re-run with this binary) and with the average of the
   iterates at β ∈ {0.9, 0.99, 0.999}, seeds 0, 1, 2;
6. the best averaged candidate of stage 5 per ε with twice the epochs (σ recalibrated for
   the longer run), seeds 0, 1, 2.

Chosen per ε: the best mean validation ROC-AUC over seeds 0–2 of stages 5–6.

    python3 scripts/dp_average_tuning.py [--binary target/release/glassbox] [--jobs 2] [--out DIR]

Writes DIR/tuning.tsv (the columns of notes/privacy_tuning.tsv) and prints the table per ε.
About 190 training runs of 0.3–2 CPU seconds each. Standard library only.
"""

import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dp_tuning import EPSILONS, later_stage_args, parse, run_batch, write_tsv  # noqa: E402

BETAS = [None, 0.9, 0.99, 0.999]
SEEDS = [0, 1, 2]


def finalists(tsv):
    """Per ε the configurations of stages 3–4 of the earlier search, in file order."""
    out = {eps: [] for eps in EPSILONS}
    with open(tsv) as f:
        next(f)
        for line in f:
            stage, eps, config = line.split("\t")[:3]
            if stage in ("3", "4") and config not in out[int(eps)]:
                out[int(eps)].append(config)
    return out


def main():
    args, out = later_stage_args("dp-average-tuning-")
    results = {}  # (stage, eps, name, seed) -> (roc, pr)

    def batch_of(stage, jobs):
        run_batch(args, out, stage, jobs, results)

    def mean(eps, n):
        rocs = [r[0] for (st, e, m, s), r in results.items() if e == eps and m == n]
        return statistics.mean(rocs)

    earlier = finalists(args.earlier)
    jobs = [(eps, dict(parse(n), average=beta), seed)
            for eps in EPSILONS for n in earlier[eps] for beta in BETAS for seed in SEEDS]
    batch_of(5, jobs)
    jobs = []
    for eps in EPSILONS:
        averaged = {m for (st, e, m, s) in results if e == eps and parse(m)["average"]}
        best = parse(max(sorted(averaged), key=lambda n: mean(eps, n)))
        jobs += [(eps, dict(best, epochs=2 * best["epochs"]), seed) for seed in SEEDS]
    batch_of(6, jobs)

    write_tsv(out, results)
    print("| ε | configuration | validation ROC-AUC, seeds 0–2 | mean |")
    print("|---|---|---|---|")
    for eps in EPSILONS:
        names = sorted({m for (st, e, m, s) in results if e == eps},
                       key=lambda n: -mean(eps, n))
        for n in names:
            rocs = [results[k][0] for k in sorted(results) if k[1] == eps and k[2] == n]
            print(f"| {eps} | {n} | {', '.join(f'{x:.4f}' for x in rocs)} | {mean(eps, n):.4f} |")
        print(f"| {eps} | **chosen: {names[0]}** | | {mean(eps, names[0]):.4f} |")


if __name__ == "__main__":
    main()
