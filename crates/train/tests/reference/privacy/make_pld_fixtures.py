"""PLD reference for crates/train/tests/privacy_pld.rs (notes/privacy_pld.md).

Google dp_accounting 0.6.0: the pessimistic (connect-the-dots) privacy loss distribution of the
Poisson-subsampled Gaussian, value_discretization_interval 1e-4, add-or-remove-one, composed T
times, epsilon at delta = 1e-5, for the 24 (sigma, q, T) of accountant_fixtures.json. Also the
remove direction alone and the optimistic estimate, for context.

Run: /work/venv/bin/python crates/train/tests/reference/privacy/make_pld_fixtures.py
"""
import json
import os

import dp_accounting
from dp_accounting.pld import privacy_loss_distribution as pld_lib

HERE = os.path.dirname(os.path.abspath(__file__))
DELTA = 1e-5
H = 1e-4


def main():
    with open(os.path.join(HERE, "accountant_fixtures.json")) as f:
        rows = json.load(f)["epsilon"]
    out = []
    for r in rows:
        s, q, t = r["sigma"], r["q"], r["steps"]
        pess = pld_lib.from_gaussian_mechanism(
            s, sampling_prob=q, value_discretization_interval=H
        ).self_compose(t)
        opt = pld_lib.from_gaussian_mechanism(
            s, sampling_prob=q, value_discretization_interval=H, pessimistic_estimate=False
        ).self_compose(t)
        row = {
            "sigma": s,
            "q": q,
            "steps": t,
            "delta": DELTA,
            "epsilon_pld": pess.get_epsilon_for_delta(DELTA),
            "epsilon_pld_remove_only": pess._pmf_remove.get_epsilon_for_delta(DELTA),
            "epsilon_pld_optimistic": opt.get_epsilon_for_delta(DELTA),
            "epsilon_opacus_rdp": r["epsilon_opacus_rdp"],
        }
        print(row, flush=True)
        out.append(row)
    doc = {
        "about": "dp_accounting %s PLD (pessimistic connect-the-dots unless named, "
        "discretisation 1e-4, add-or-remove), delta 1e-5; rows as accountant_fixtures.json"
        % getattr(dp_accounting, "__version__", "0.6.0"),
        "rows": out,
    }
    with open(os.path.join(HERE, "pld_fixtures.json"), "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
