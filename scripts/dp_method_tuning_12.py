"""Stage 12 of the DP search (notes/privacy_results.md): per-layer clipping, in the style of
stages 10 and 11 (scripts/dp_method_tuning.py, whose choices, pairing and rule it uses): the
TRAINING file only, 80 % to train, the stratified 20 % validation part of
`train --val-fraction 0.2` to score, the test file never read, σ calibrated for each run
(per-layer clipping changes neither q nor T nor the sensitivity C, so σ is the choice's).

12. per ε, its choice of stages 5–9 (`CHOICES`) with per-layer clipping (P32; McMahan, Ramage,
    Talwar & Zhang 2018, "Learning differentially private recurrent language models"): each
    layer's part of an example's gradient clipped to C_l, with Σ_l C_l² = C² (C the choice's),
    the split fixed before running (P33):
    - `equal`: C_l = C/√L (L = 3 layers of 73-64-64-1: C_l = 0.577·C);
    - `params`: C_l = C·√(P_l/P), P_l the layer's parameters (4,736, 4,160 and 65 of 8,961:
      C_l = 0.727·C, 0.681·C, 0.085·C);
    and the choice itself again, as a check that the binary trains the table's bits — seeds
    0, 1, 2.

The rule, written here before the stage ran (stages 10 and 11's): a lever (one split above, the
same at every ε) is ADOPTED only if its paired validation ROC-AUC differences to the choice
(same seed, so the same split), over seeds 0–2, have at ε = 3 a mean above 0 and above twice
their sample sd, and at ε = 1 and ε = 8 a mean ≥ 0. If both pass, the one with the larger
mean gain at ε = 3 is adopted, at every ε; if none passes, the choice stays.

    python3 scripts/dp_method_tuning_12.py [--binary target/release/glassbox] [--jobs 2]
        [--out DIR]

A run already in --out is read, not trained again. Writes DIR/tuning.tsv, prints the paired
differences and the verdict. 27 training runs of 1–10 CPU seconds each. Standard library only.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dp_tuning as tuning  # noqa: E402
from dp_method_tuning import run_stage  # noqa: E402

STAGE = 12
SPLITS = {"per-layer clipping, equal (P32, P33)": "equal",
          "per-layer clipping, params (P32, P33)": "params"}


def levers(c):
    """The stage-12 candidates around configuration c, by lever name."""
    return {label: dict(c, pl=split) for label, split in SPLITS.items()}


def main():
    run_stage("dp-method-tuning-12-", STAGE, levers)


if __name__ == "__main__":
    main()
