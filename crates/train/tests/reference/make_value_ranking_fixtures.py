"""Reference values for the pairwise ranking term (crates/train/src/loss/value_ranking.rs,
notes/value.md C41-C43).

numpy in float64, written apart from the Rust loops: the score r as a vector, the pair
weights as the matrix max(y_i - y_j, 0), R = sum(W * softplus(r_j - r_i)) / sum(W), and its
gradient with respect to the outputs by the matrix form of C42 and the chain rule of C43.
Before writing, the script checks that gradient against central differences of R (step 1e-6;
it stops if any error relative to max(|g|, 1e-4) exceeds 1e-6), so the fixture holds a checked gradient.
(PyTorch is not installed in /work/venv; the brief allows numpy for this fixture.)

Run:  /work/venv/bin/python crates/train/tests/reference/make_value_ranking_fixtures.py
Writes value_ranking_fixtures.json next to this script (tests never need Python).
"""
import json
import math
import os

import numpy as np

SIGMA_FLOOR = math.sqrt(1e-7)


def softplus(x):
    return np.logaddexp(0.0, x)


def logistic(x):
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def score(head, out):
    """r and dr/d(outputs), (N,) and (N, width)."""
    if head == "log1p":
        return out[:, 0].copy(), np.ones_like(out)
    z, mu, s = out[:, 0], out[:, 1], out[:, 2]
    sp = softplus(s)
    on_floor = sp <= SIGMA_FLOOR
    sigma = np.where(on_floor, SIGMA_FLOOR, sp)
    d_sigma = np.where(on_floor, 0.0, logistic(s))
    r = -softplus(-z) + mu + 0.5 * sigma**2
    d = np.stack([logistic(-z), np.ones_like(z), sigma * d_sigma], axis=1)
    return r, d


def ranking(head, lam, out, y):
    r, d_r = score(head, out)
    w = np.maximum(y[:, None] - y[None, :], 0.0)  # w[i, j] = y_i - y_j for y_i > y_j
    total = w.sum()
    if total <= 0.0:
        return 0.0, np.zeros_like(out)
    diff = r[None, :] - r[:, None]  # r_j - r_i
    value = (w * softplus(diff)).sum() / total
    g = w * logistic(diff) / total
    d_score = -g.sum(axis=1) + g.sum(axis=0)
    return lam * value, lam * d_score[:, None] * d_r


def finite_difference(head, lam, out, y, h=1e-6):
    grad = np.zeros_like(out)
    for idx in np.ndindex(out.shape):
        up, down = out.copy(), out.copy()
        up[idx] += h
        down[idx] -= h
        grad[idx] = (ranking(head, lam, up, y)[0] - ranking(head, lam, down, y)[0]) / (2 * h)
    return grad


def main():
    rng = np.random.default_rng(14)
    cases = []

    def add(name, head, lam, out, y):
        value, grad = ranking(head, lam, out, y)
        fd = finite_difference(head, lam, out, y)
        err = np.abs(fd - grad) / np.maximum(np.abs(grad), 1e-4)  # FD noise ~1e-10
        assert err.max() < 1e-6, (name, err.max())
        cases.append({"name": name, "head": head, "lambda": lam, "outputs": out.tolist(),
                      "y": y.tolist(), "value": value, "grad": grad.tolist()})

    # ZILN: zeros, ties and a heavy tail in one batch of 9.
    out = np.column_stack([rng.normal(0, 1.5, 9), rng.normal(4, 1.0, 9), rng.normal(0, 1, 9)])
    y = np.array([0.0, 0.0, 12.5, 300.0, 12.5, 0.0, 4000.0, 75.0, 1.0])
    add("ziln mixed", "ziln", 1.0, out, y)
    add("ziln lambda 0.3", "ziln", 0.3, out, y)
    # One confident logit on each side and a scale near the floor (s = -8: softplus above it).
    out2 = np.array([[9.0, 2.0, -8.0], [-9.0, 6.0, 1.5], [0.5, 3.0, 0.0], [2.0, 1.0, 3.0]])
    add("ziln extremes", "ziln", 2.0, out2, np.array([50.0, 0.0, 7.0, 1e4]))
    # The log1p head.
    add("log1p", "log1p", 1.0, rng.normal(2, 1, (6, 1)),
        np.array([0.0, 3.0, 3.0, 20.0, 0.0, 1.5]))
    # Every y equal: no pair to order, R = 0 and no gradient.
    add("all equal", "ziln", 1.0, out[:4], np.zeros(4))
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "value_ranking_fixtures.json")
    with open(path, "w") as f:
        json.dump({"cases": cases}, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
