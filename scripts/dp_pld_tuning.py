"""Stage 14 of the DP search (notes/privacy_results.md, "Sixteenth session"): what the
certified PLD accountant (notes/privacy_pld.md, `--dp-accountant pld`) buys on the VALIDATION
part. The PLD accountant certifies the same (ε, δ = 1e-5) with a smaller σ; this stage trains
each ε's choice and its two closest finalists with that σ and compares them, paired, with the
RDP choice. Like scripts/dp_tuning.py (whose run() it uses), every candidate trains on 80 % of
online_shoppers_train.csv and is scored on the stratified 20 % validation part of
`train --val-fraction 0.2`; the test file is never read.

14. per ε ∈ {1, 3, 8}, seeds 0–4:
    - the RDP choice (`CHOICES` of scripts/dp_method_tuning.py, `CHOSEN` of
      crates/app/src/cases/purchase/privacy.rs), re-run with the same binary as the PLD runs,
      so that the comparison is paired (same seed: same split, batches and standard normals);
    - with σ from the PLD accountant instead of RDP: that choice and the next two of stages
      5–9 by mean validation ROC-AUC over seeds 0–2 (`FINALISTS`, read off
      notes/privacy_tuning.tsv; the other levers of stages 10–13 all lost).
    σ is the same for every candidate of an ε (they share q = 1/⌈N/B⌉ and T = E·⌈N/B⌉,
    N = 7,891), so it is computed once per ε by `glassbox privacy --accountant pld --epsilon ε`
    (the search `train --dp-epsilon ε --dp-accountant pld` runs, P41) and given to each run as
    `--dp-noise σ --dp-accountant pld`: the run's record then holds the PLD ε of that σ
    (P40), certified again, and the accountant.

The rule, written here before the stage ran: per ε, the configuration trained by the case is
the one with the best mean validation ROC-AUC over seeds 0–4 among the RDP choice and the three
PLD candidates (ties, at the 4-decimal figures the table keeps, go to the RDP choice).

    python3 scripts/dp_pld_tuning.py [--binary target/release/glassbox] [--jobs 2] [--out DIR]

Writes DIR/tuning.tsv (stage 14's runs, the columns of notes/privacy_tuning.tsv), prints each
candidate's per-seed figures, its paired differences to the RDP choice and the choice per ε.
60 training runs of 1–10 CPU seconds each. Standard library only.
"""

import math
import os
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dp_tuning as tuning  # noqa: E402
from dp_method_tuning import CHOICES  # noqa: E402

SEEDS = [0, 1, 2, 3, 4]
STAGE = 14
ROWS = 7891  # the 80 % training part of the validation runs
# The next two of stages 5–9 by mean validation ROC-AUC over seeds 0–2 (notes/privacy_tuning.tsv).
FINALISTS = {1: ["sgd-lr0.125-C2-B512-E60-avg0.9907", "sgd-lr0.25-C1-B512-E60-avg0.99"],
             3: ["adam-lr0.01-C4-B1024-E60-avg0.99-cos", "adam-lr0.01-C2-B1024-E60-avg0.99-cos"],
             8: ["adam-lr0.01-C4-B1024-E60-avg0.9816-cos", "adam-lr0.01-C8-B1024-E60-avg0.995-cos"]}


def pld_sigma(binary, eps, c):
    """σ of `glassbox privacy --accountant pld` for configuration c at ε on ROWS rows."""
    k = math.ceil(ROWS / c["batch"])
    out = subprocess.run(
        [binary, "-q", "privacy", "--accountant", "pld", "--epsilon", str(eps),
         "--rate", repr(1.0 / k), "--steps", str(c["epochs"] * k), "--delta", "1e-5",
         "--rows", str(ROWS)], check=True, capture_output=True, text=True).stdout
    return float(out.split("σ = ")[1].split()[0])


def main():
    args, out = tuning.later_stage_args("dp-pld-tuning-")
    candidates = {}
    for eps, base in CHOICES.items():
        sigma = pld_sigma(args.binary, eps, tuning.parse(base))
        print(f"ε = {eps}: σ (PLD) = {sigma!r} for N = {ROWS}", flush=True)
        rdp = tuning.parse(base)
        candidates[eps] = [rdp] + [dict(tuning.parse(n), noise=sigma, acct="pld")
                                   for n in [base] + FINALISTS[eps]]
    jobs = [(eps, c, s) for eps, cs in candidates.items() for c in cs for s in SEEDS]
    results = {}
    tuning.run_batch(args, out, STAGE, jobs, results)
    tuning.write_tsv(out, results)
    roc = {(e, m, s): round(r[0], 4) for (st, e, m, s), r in results.items()}
    for eps, cs in candidates.items():
        base = tuning.name(cs[0])
        print(f"ε = {eps}")
        print("| configuration | validation ROC-AUC, seeds 0–4 | mean | paired to RDP, mean ± sd |")
        print("|---|---|---|---|")
        best = None
        for c in cs:
            n = tuning.name(c)
            runs = [roc[(eps, n, s)] for s in SEEDS]
            d = [roc[(eps, n, s)] - roc[(eps, base, s)] for s in SEEDS]
            print(f"| {n} | {', '.join(f'{x:.4f}' for x in runs)} | {statistics.mean(runs):.5f} | "
                  f"{statistics.mean(d):+.5f} ± {statistics.stdev(d):.5f} "
                  f"({', '.join(f'{x:+.4f}' for x in d)}) |")
            key = (round(statistics.mean(runs), 4), n == base, n)
            best = key if best is None else max(best, key)
        print(f"ε = {eps}: CHOSEN {best[2]}")


if __name__ == "__main__":
    main()
