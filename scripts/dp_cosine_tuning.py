"""Stage 8 of the DP search (notes/privacy_results.md): a cosine learning-rate decay to 0 over
the planned steps (`train --cosine true`), chosen on the TRAINING file only, the same procedure
for ε = 1, 3 and 8. Like scripts/dp_tuning.py (whose run() it uses), every candidate trains on
80 % of online_shoppers_train.csv and is scored on the stratified 20 % validation part of
`train --val-fraction 0.2`; the test file is never read.

Why: the noise a DP-SGD iterate carries is the sum of its last steps' noise times the learning
rate, so a rate decayed towards the end of the run leaves the final iterates less noisy, the
effect the averaged iterates (P28) have, by another road; a decaying rate is the usual
schedule of DP-SGD at scale (Kurakin et al. 2022, "Toward training at ImageNet scale with
differential privacy"; Sander, Stock & Sablayrolles 2023, "TAN without a burn"). Post-
processing of nothing: the schedule is public and fixed before training, so it spends no
privacy.

8. per ε, the 3 best configurations of stages 5–7 (mean validation ROC-AUC over seeds 0–2,
   read from notes/privacy_tuning.tsv) with the cosine decay, at their learning rate and at
   twice it (a decayed rate averages about half the constant one), seeds 0, 1, 2; and, as a
   check that the binary trains the same bits as the one that wrote the table, each ε's
   choice of stages 5–7 again (its figures must equal the table's).

Chosen per ε: the best mean validation ROC-AUC over seeds 0–2 of stages 5–8. Usage (writes
DIR/tuning.tsv, stage 8's runs in the columns of notes/privacy_tuning.tsv, and prints the top
of the table per ε; about 60 runs of 1–2 CPU seconds each; standard library only):

    python3 scripts/dp_cosine_tuning.py [--binary target/release/glassbox] [--jobs 2] [--out DIR]
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dp_tuning as tuning  # noqa: E402

TOP = 3
LR_FACTORS = [1, 2]
SEEDS = [0, 1, 2]


def main():
    args, out = tuning.later_stage_args("dp-cosine-tuning-")
    earlier = tuning.earlier_runs(args.earlier, (5, 6, 7))
    jobs = []
    for eps in tuning.EPSILONS:
        names = sorted({m for (st, e, m, s) in earlier if e == eps},
                       key=lambda n: -tuning.mean_roc(earlier, eps, n))
        for n in names[:TOP]:
            c = tuning.parse(n)
            jobs += [(eps, dict(c, lr=round(f * c["lr"], 6), cosine=True), seed)
                     for f in LR_FACTORS for seed in SEEDS]
        jobs += [(eps, tuning.parse(tuning.best_config(earlier, eps)), seed) for seed in SEEDS]
    results = {}
    tuning.run_batch(args, out, 8, jobs, results)
    tuning.write_tsv(out, results)
    tuning.print_top(tuning.check_and_merge(results, earlier, 8, SEEDS))


if __name__ == "__main__":
    main()
