"""Stage 9 of the DP search (notes/privacy_results.md): the batch size, the number of steps and
the clip norm around each ε's choice of stages 5–8, chosen on the TRAINING file only, the same
procedure for ε = 1, 3 and 8. Like scripts/dp_tuning.py (whose run() it uses), every candidate
trains on 80 % of online_shoppers_train.csv and is scored on the stratified 20 % validation
part of `train --val-fraction 0.2`; the test file is never read. σ is recalibrated for each
candidate's own (q, T), so every one spends the same ε.

Why: at a fixed ε a larger expected batch with a larger σ and the same number of steps leaves
less noise in each averaged gradient (σ grows more slowly than q: De et al. 2022, "Unlocking
high-accuracy differentially private image classification through scale"; Sander, Stock &
Sablayrolles 2023, "TAN without a burn"); more steps at the same batch trade noise per step
for steps; the clip norm sets the bias of clipping against the noise σ·C (Andrew et al. 2021,
"Differentially private learning with adaptive clipping", here as a fixed choice).

9. per ε, its choice of stages 5–8 (read from notes/privacy_tuning.tsv; the same β, rate and
   schedule) with: twice the batch and twice the epochs (the same steps); twice the batch and
   four times the epochs (twice the steps); twice the epochs (twice the steps); half and twice
   the clip norm (DP-SGD keeps lr·C, DP-Adam keeps lr); β = (1 + T)/(10 + T) for the run's T
   planned steps, the value at which De et al.'s warm-up min(β, (1 + t)/(10 + t)) ends (a
   fixed-β stand-in for the schedule, which the engine does not have) — seeds 0, 1, 2, unless
   an earlier stage ran it (its table figures stand); and the choice itself again, as a check
   that the binary trains the table's bits.

Chosen per ε: the best mean validation ROC-AUC over seeds 0–2 of stages 5–9. The paired
differences to the earlier choice (same seed, so the same split) are printed with their sd.

    python3 scripts/dp_scale_tuning.py [--binary target/release/glassbox] [--jobs 2] [--out DIR]

Writes DIR/tuning.tsv (stage 9's runs, the columns of notes/privacy_tuning.tsv) and prints the
top of the table per ε. About 60 training runs of 1–8 CPU seconds each. Standard library only.
"""

import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dp_tuning as tuning  # noqa: E402

SEEDS = [0, 1, 2]
# The training rows of the 80 % part (training.json's privacy.rows), for the planned steps.
ROWS = 7891


def variants(c):
    """The stage-9 candidates around configuration c."""
    sgd = c["opt"] == "sgd"
    steps = c["epochs"] * -(-ROWS // c["batch"])

    def clip(f):
        return dict(c, clip=f * c["clip"], lr=round(c["lr"] / f, 6) if sgd else c["lr"])

    return [
        dict(c, batch=2 * c["batch"], epochs=2 * c["epochs"]),
        dict(c, batch=2 * c["batch"], epochs=4 * c["epochs"]),
        dict(c, epochs=2 * c["epochs"]),
        clip(0.5),
        clip(2),
        dict(c, average=round((1 + steps) / (10 + steps), 4)),
    ]


def main():
    args, out = tuning.later_stage_args("dp-scale-tuning-")
    earlier = tuning.earlier_runs(args.earlier, (5, 6, 7, 8))
    jobs = []
    for eps in tuning.EPSILONS:
        base = tuning.parse(tuning.best_config(earlier, eps))
        tried = {m for (st, e, m, s) in earlier if e == eps}
        # A candidate an earlier stage already ran keeps its table figures.
        jobs += [(eps, v, seed) for v in variants(base) if tuning.name(v) not in tried
                 for seed in SEEDS]
        jobs += [(eps, base, seed) for seed in SEEDS]
    results = {}
    tuning.run_batch(args, out, 9, jobs, results)
    tuning.write_tsv(out, results)
    every = tuning.check_and_merge(results, earlier, 9, SEEDS)
    tuning.print_top(every)
    print("paired differences to the earlier choice (seeds 0–2): mean ± sd")
    for eps in tuning.EPSILONS:
        base = tuning.best_config(earlier, eps)
        for v in variants(tuning.parse(base)):
            d = [every[(eps, tuning.name(v), s)] - every[(eps, base, s)] for s in SEEDS]
            print(f"ε = {eps}: {tuning.name(v)}: {statistics.mean(d):+.4f} ± "
                  f"{statistics.stdev(d):.4f} ({', '.join(f'{x:+.4f}' for x in d)})")


if __name__ == "__main__":
    main()
