"""Stage 11 of the DP search (notes/privacy_results.md): two more levers that change the
METHOD around each ε's choice of stages 5–9, in the style of stage 10
(scripts/dp_method_tuning.py, whose choices, pairing and rule it uses): the TRAINING file only,
80 % to train, the stratified 20 % validation part of `train --val-fraction 0.2` to score, the
test file never read, σ calibrated for each run (no lever changes q or T, so σ is the choice's).

11. per ε, its choice of stages 5–9 (`CHOICES`) with:
    - DP-AdamBC (P31; Tang, Shpilevskiy & Lécuyer, AAAI 2024, "DP-AdamBC: Your DP-Adam Is
      Actually DP-SGD (Unless You Apply Bias Correction)"): Adam whose bias-corrected second
      moment has the noise's known variance Φ = (σC/B)² taken off, floored at γ = 1e-8 —
      `θ ← θ − lr·m̂/√max(v̂ − Φ, γ)` — at lr 1e-2 (the ε = 3 and 8 choices' rate), 1e-3, 3e-4
      and 1e-4 (its update is no longer sign-sized, so it wants another rate scale). At ε = 1,
      whose choice is DP-SGD, the candidate replaces DP-SGD by DP-AdamBC at that rate (the
      same candidate at every ε); everything else is the choice's;
    - the network's size at the choice's rate: 73-32-32-1, 73-128-128-1 and one hidden layer
      of 64 (73-64-1), against the choice's 73-64-64-1 (fewer parameters d, less total noise
      E‖N(0, σ²C²I_d)‖² = dσ²C² per step);
    and the choice itself again, as a check that the binary trains the table's bits — seeds
    0, 1, 2.

The rule, written here before the stage ran (stage 10's): a lever (one candidate above, the
same at every ε) is ADOPTED only if its paired validation ROC-AUC differences to the choice
(same seed, so the same split), over seeds 0–2, have at ε = 3 a mean above 0 and above twice
their sample sd, and at ε = 1 and ε = 8 a mean ≥ 0. If several pass, the one with the largest
mean gain at ε = 3 is adopted, at every ε; if none passes, the choice stays.

    python3 scripts/dp_method_tuning_11.py [--binary target/release/glassbox] [--jobs 2]
        [--out DIR] [--levers all|size|bc]

`--levers` trains only that family (the others must already be in --out, or are skipped from
the table): a run already in --out is read, not trained again. Writes DIR/tuning.tsv, prints
the paired differences and the verdict. 108 training runs of 1–10 CPU seconds each. Standard
library only.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dp_tuning as tuning  # noqa: E402
from dp_method_tuning import CHOICES, SEEDS, report  # noqa: E402

STAGE = 11
# (lr, γ) of the DP-AdamBC candidates; the last four added after the first four had run.
BC = [(1e-2, 1e-8), (1e-3, 1e-8), (3e-4, 1e-8), (1e-4, 1e-8),
      (3e-3, 1e-5), (1e-3, 1e-5), (1e-3, 1e-6), (3e-4, 1e-6)]
SIZES = {"73-32-32-1": [32, 32], "73-128-128-1": [128, 128], "73-64-1": [64]}


def levers(c, family="all"):
    """The stage-11 candidates around configuration c, by lever name."""
    out = {}
    if family in ("all", "bc"):
        for lr, gamma in BC:
            out[f"DP-AdamBC (P31), lr {lr:g}, γ {gamma:g}"] = dict(c, opt="adam", lr=lr, bc=gamma)
    if family in ("all", "size"):
        for label, hidden in SIZES.items():
            out[label] = dict(c, hidden=hidden)
    return out


def main():
    family = "all"
    if "--levers" in sys.argv:
        i = sys.argv.index("--levers")
        family = sys.argv[i + 1]
        del sys.argv[i:i + 2]
    args, out = tuning.later_stage_args("dp-method-tuning-11-")
    earlier = tuning.earlier_runs(args.earlier, (5, 6, 7, 8, 9))
    jobs = []
    for eps, base in CHOICES.items():
        c = tuning.parse(base)
        jobs += [(eps, v, seed) for v in levers(c, family).values() for seed in SEEDS]
        jobs += [(eps, c, seed) for seed in SEEDS]
    results = {}
    tuning.run_batch(args, out, STAGE, jobs, results)
    # Runs of the other family already trained in --out join the table.
    for eps, base in CHOICES.items():
        for v in levers(tuning.parse(base)).values():
            for seed in SEEDS:
                path = os.path.join(out, f"{tuning.name(v)}-eps{eps}-s{seed}")
                if os.path.exists(os.path.join(path, "training.json")):
                    results[(STAGE, eps, tuning.name(v), seed)] = tuning.run(
                        args.binary, out, eps, v, seed)
    tuning.write_tsv(out, results)
    report({(e, m, s): r[0] for (st, e, m, s), r in results.items()}, earlier, levers)


if __name__ == "__main__":
    main()
