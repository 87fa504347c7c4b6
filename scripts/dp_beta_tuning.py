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

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dp_tuning import (EPSILONS, best_config, check_and_merge, earlier_runs,  # noqa: E402
                       later_stage_args, name, parse, print_top, run_batch, write_tsv)

BETAS = [0.995, 0.998]
SEEDS = [0, 1, 2]


def main():
    args, out = later_stage_args("dp-beta-tuning-")
    earlier = earlier_runs(args.earlier, (5, 6))
    jobs = []
    for eps in EPSILONS:
        bases = sorted({name(dict(parse(m), average=None))
                        for (st, e, m, s) in earlier if e == eps})
        jobs += [(eps, dict(parse(b), average=beta), seed)
                 for b in bases for beta in BETAS for seed in SEEDS]
        jobs += [(eps, parse(best_config(earlier, eps)), seed) for seed in SEEDS]
    results = {}
    run_batch(args, out, 7, jobs, results)
    write_tsv(out, results)
    print_top(check_and_merge(results, earlier, 7, SEEDS))


if __name__ == "__main__":
    main()
