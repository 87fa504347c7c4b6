"""β between 0.99 and 0.999 for the averaged iterates (notes/privacy.md P28, §14 stage 7), chosen
on the TRAINING file only, the same procedure for ε = 1, 3 and 8. Like scripts/dp_tuning.py
(whose run() it uses), every candidate trains on 80 % of online_shoppers_train.csv and is scored
on the stratified 20 % validation part of `train --val-fraction 0.2`; the test file is never read.

7. every configuration of stages 5–6 (scripts/dp_average_tuning.py, read from
   notes/privacy_tuning.tsv) at β ∈ {0.995, 0.998}, seeds 0, 1, 2; and, as a check that the
   binary trains the same bits as the one that wrote the table, each ε's chosen configuration
   of stages 5–6 again (its validation figures must equal the table's).

Chosen per ε: the best mean validation ROC-AUC over seeds 0–2 of stages 5–7.

    python3 scripts/dp_beta_tuning.py [--binary target/release/glassbox] [--jobs 2] [--out DIR]

Writes DIR/tuning.tsv (stage 7's runs, the columns of notes/privacy_tuning.tsv) and prints the
top of the table per ε. About 100 training runs of 0.3–2 CPU seconds each. Standard library only.
"""

import concurrent.futures
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dp_tuning import EPSILONS, later_stage_args, name, parse, run, write_tsv  # noqa: E402

BETAS = [0.995, 0.998]
SEEDS = [0, 1, 2]


def earlier_runs(tsv):
    """{(stage, eps, config, seed): (roc, pr)} of stages 5–6."""
    out = {}
    with open(tsv) as f:
        next(f)
        for line in f:
            stage, eps, config, seed, roc, pr = line.rstrip("\n").split("\t")
            if stage in ("5", "6"):
                out[(int(stage), int(eps), config, int(seed))] = (float(roc), float(pr))
    return out


def main():
    args, out = later_stage_args("dp-beta-tuning-")
    earlier = earlier_runs(args.earlier)

    def mean(runs, eps, n):
        return statistics.mean(r[0] for (st, e, m, s), r in runs.items() if e == eps and m == n)

    def best(runs, eps):
        names = sorted({m for (st, e, m, s) in runs if e == eps})
        return max(names, key=lambda n: mean(runs, eps, n))

    jobs = []
    for eps in EPSILONS:
        bases = sorted({name(dict(parse(m), average=None))
                        for (st, e, m, s) in earlier if e == eps})
        jobs += [(eps, dict(parse(b), average=beta), seed)
                 for b in bases for beta in BETAS for seed in SEEDS]
        jobs += [(eps, parse(best(earlier, eps)), seed) for seed in SEEDS]
    results = {}
    with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
        futures = {pool.submit(run, args.binary, out, eps, c, seed): (eps, c, seed)
                   for eps, c, seed in jobs}
        for fut in concurrent.futures.as_completed(futures):
            eps, c, seed = futures[fut]
            results[(7, eps, name(c), seed)] = fut.result()
    write_tsv(out, results)

    for eps in EPSILONS:
        previous = best(earlier, eps)
        again = [results[(7, eps, previous, s)][0] for s in SEEDS]
        table = [earlier[k][0] for k in sorted(earlier) if k[1] == eps and k[2] == previous]
        print(f"ε = {eps}: stages 5–6 chose {previous}; re-run {again}, table {table}: "
              + ("same" if [round(a, 4) for a in again] == table else "DIFFERENT"))
    # One figure per (ε, configuration, seed): the table's where it has one (the re-runs of the
    # previous choice only check it).
    every = {(e, m, s): r[0] for (st, e, m, s), r in results.items()}
    every.update({(e, m, s): r[0] for (st, e, m, s), r in earlier.items()})

    def rocs(eps, n):
        return [every[k] for k in sorted(every) if k[0] == eps and k[1] == n]

    print("| ε | configuration | validation ROC-AUC, seeds 0–2 | mean |")
    print("|---|---|---|---|")
    for eps in EPSILONS:
        names = sorted({m for (e, m, s) in every if e == eps},
                       key=lambda n: -statistics.mean(rocs(eps, n)))
        for n in names[:6]:
            print(f"| {eps} | {n} | {', '.join(f'{x:.4f}' for x in rocs(eps, n))} | "
                  f"{statistics.mean(rocs(eps, n)):.4f} |")
        print(f"| {eps} | **chosen: {names[0]}** | | {statistics.mean(rocs(eps, names[0])):.4f} |")

if __name__ == "__main__":
    main()
