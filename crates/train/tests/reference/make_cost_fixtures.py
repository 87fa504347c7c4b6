"""Reference values of the cost-aware metrics (notes/metrics.md §7, M21-M25), from scikit-learn.

Run from the repository root:

    /work/venv/bin/python crates/train/tests/reference/make_cost_fixtures.py

It writes crates/train/tests/reference/cost_fixtures.json, read by crates/train/tests/cost_reference.rs.
Floats are written as repr strings (exact round trip). Deterministic: seeded numpy Generators.

- expected cost (M21): scikit-learn's confusion_matrix with sample weights, split into the
  alert part (every predicted positive costs `alert`) and the missed part (the false
  negatives weighted by their own cost);
- cost curve / best threshold (M23-M24): brute force over every distinct risk p*m, alerting
  on risk >= tau, plus tau = +inf;
- recall at FPR q (M25): scikit-learn's roc_curve(drop_intermediate=False), the last point with
  FPR <= q, linear interpolation to the next;
- precision of the top fraction q (M19): k = round(q n), positives above the k-th score plus the
  tied ones pro rata.
"""

import json
import platform
from pathlib import Path

import numpy as np
import sklearn
from sklearn.metrics import confusion_matrix, roc_curve

OUT = Path(__file__).with_name("cost_fixtures.json")


def f(x):
    return repr(float(x))


def cost_of(y, alerts, alert, miss):
    # Missed positives weighted by their cost; alerts counted (TP and FP both cost `alert`).
    cm_missed = confusion_matrix(y, alerts, labels=[0, 1], sample_weight=miss)
    cm_count = confusion_matrix(y, alerts, labels=[0, 1])
    return alert * (cm_count[0, 1] + cm_count[1, 1]) + cm_missed[1, 0]


def recall_at_fpr(y, s, q):
    fpr, tpr, _ = roc_curve(y, s, drop_intermediate=False)
    k = np.nonzero(fpr <= q)[0][-1]
    if k + 1 >= len(fpr):
        return tpr[k]
    return tpr[k] + (q - fpr[k]) / (fpr[k + 1] - fpr[k]) * (tpr[k + 1] - tpr[k])


def precision_top(y, s, q):
    n = len(y)
    k = max(int(round(q * n)), 1)
    cut = np.sort(s)[::-1][k - 1]
    above = s > cut
    tied = s == cut
    e = y[above].sum() + (k - above.sum()) * y[tied].sum() / tied.sum()
    return e / k


def case(name, y, p, miss, alert):
    y = np.asarray(y, dtype=int)
    p = np.asarray(p, dtype=float)
    miss = np.asarray(miss, dtype=float)
    risk = p * miss
    taus = [np.inf] + sorted(set(risk.tolist()), reverse=True)
    curve = []
    for tau in taus:
        alerts = (risk >= tau).astype(int)
        curve.append((tau, int(alerts.sum()), cost_of(y, alerts, alert, miss)))
    best = min(curve, key=lambda c: c[2])  # first minimum = highest threshold on a tie
    bayes = (risk >= alert).astype(int)
    out = {
        "name": name,
        "labels": [bool(v) for v in y],
        "probs": [f(v) for v in p],
        "miss": [f(v) for v in miss],
        "alert": f(alert),
        "curve": [[f(t), a, f(c)] for t, a, c in curve],
        "best": [f(best[0]), best[1], f(best[2])],
        "bayes_cost": f(cost_of(y, bayes, alert, miss)),
        "approve_all": f(cost_of(y, np.zeros_like(y), alert, miss)),
        "recall_at_fpr": {f(q): f(recall_at_fpr(y, p, q)) for q in (0.01, 0.05, 0.1, 0.3)},
        "precision_top": {f(q): f(precision_top(y, p, q)) for q in (0.01, 0.05, 0.2)},
    }
    return out


def main():
    cases = []
    # Hand-sized: ties, a zero-value row, constant and per-row costs.
    cases.append(case("tiny", [1, 0, 1, 0, 0, 1], [0.9, 0.8, 0.5, 0.5, 0.1, 0.05],
                      [100, 40, 20, 30, 10, 200], 5.0))
    cases.append(case("constant_miss", [1, 0, 0, 1, 0, 0, 0, 1], [0.7, 0.6, 0.6, 0.3, 0.2, 0.2, 0.1, 0.9],
                      [50] * 8, 5.0))
    for seed, n, ties in [(1, 200, False), (2, 500, True), (3, 600, True)]:
        rng = np.random.default_rng(seed)
        y = rng.random(n) < 0.1
        p = np.clip(0.08 + 0.5 * y * rng.random(n) + 0.2 * rng.random(n), 0, 1)
        if ties:
            p = np.round(p, 2)
        miss = rng.integers(9, 155, n).astype(float)
        cases.append(case(f"random_{seed}", y, p, miss, 5.0))
    OUT.write_text(json.dumps({
        "versions": {"python": platform.python_version(), "numpy": np.__version__,
                     "sklearn": sklearn.__version__},
        "cases": cases,
    }, indent=1) + "\n")


if __name__ == "__main__":
    main()
