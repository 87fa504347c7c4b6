"""How much a tighter accountant would give (thirteenth session; notes/privacy_cost.md):
the σ that Opacus 1.6.0's PRV accountant (Gopi, Lee & Wutschitz 2021; its upper bound,
eps_error 0.01) certifies for the purchase case's (ε, δ = 1e-5, q, T), against the σ of our RDP
accountant (Opacus's RDPAccountant, which ours equals: notes/privacy.md §10), and — with
`--probe` — what that smaller σ does to the validation ROC-AUC of each ε's choice.

glassbox has NO PRV accountant: a run with σ_PRV is certified by glassbox's RDP accountant at
a larger ε (printed), so nothing here can be adopted. The probe measures the size of the lever
on the validation part only (the TRAINING file, 80 % to train, the stratified 20 % of
`train --val-fraction 0.2` to score, the test file never read), seeds 0–2, paired with the
choice (same seed: same split, same batches, the same standard normal draws scaled by the
other σ). Its verdict line is what stage 10's rule (scripts/dp_method_tuning.py) would say;
it is not a decision.

    /work/venv/bin/python scripts/dp_prv_probe.py            # the σ table (Opacus needed)
    /work/venv/bin/python scripts/dp_prv_probe.py --probe [--binary B] [--jobs 2] [--out DIR]
"""

import math
import os
import sys
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dp_tuning as tuning  # noqa: E402
from dp_method_tuning import CHOICES, run_stage  # noqa: E402

DELTA = 1e-5


def plan(eps, n_rows):
    """(q, T) of a choice as glassbox plans it: q = 1/⌈N/B⌉, T = E·⌈N/B⌉ (P14)."""
    c = tuning.parse(CHOICES[eps])
    k = math.ceil(n_rows / c["batch"])
    return 1.0 / k, c["epochs"] * k


def sigmas(eps, n_rows):
    """(σ by RDP, σ by PRV) for the choice at ε, both Opacus's bisection (tolerance 0.01)."""
    from opacus.accountants.utils import get_noise_multiplier
    q, steps = plan(eps, n_rows)
    return tuple(get_noise_multiplier(target_epsilon=eps, target_delta=DELTA, sample_rate=q,
                                      steps=steps, accountant=a, epsilon_tolerance=0.01)
                 for a in ("rdp", "prv"))


def epsilon(kind, sigma, q, steps):
    from opacus.accountants import PRVAccountant, RDPAccountant
    acc = {"rdp": RDPAccountant, "prv": PRVAccountant}[kind]()
    acc.history = [(sigma, q, steps)]
    return acc.get_epsilon(delta=DELTA)


def table():
    print("| N | ε | q | T | σ (RDP) | σ (PRV) | σ ratio | PRV ε at σ (RDP) | RDP ε at σ (PRV) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for n_rows in (9864, 7891):
        for eps in CHOICES:
            q, steps = plan(eps, n_rows)
            s_rdp, s_prv = sigmas(eps, n_rows)
            print(f"| {n_rows} | {eps} | 1/{round(1 / q)} | {steps} | {s_rdp:.6f} | {s_prv:.6f} "
                  f"| {s_prv / s_rdp:.4f} | {epsilon('prv', s_rdp, q, steps):.4f} "
                  f"| {epsilon('rdp', s_prv, q, steps):.4f} |", flush=True)


def main():
    warnings.filterwarnings("ignore")
    if "--probe" not in sys.argv:
        table()
        return
    sys.argv.remove("--probe")
    # The validation runs train on N = 7,891 rows: σ calibrated for that N, as every stage.
    noise = {eps: sigmas(eps, 7891)[1] for eps in CHOICES}
    print("σ by PRV for the validation runs:", noise, flush=True)
    by_base = {CHOICES[eps]: eps for eps in CHOICES}

    def levers(c):
        eps = by_base[tuning.name(c)]
        return {"σ of the PRV accountant (Opacus)": dict(c, noise=noise[eps])}

    run_stage("dp-prv-probe-", 13, levers)


if __name__ == "__main__":
    main()
