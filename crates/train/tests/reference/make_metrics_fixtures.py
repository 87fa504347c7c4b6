"""Reference values of the binary-classification metrics, from scikit-learn.

Run from the repository root:

    /work/venv/bin/python crates/train/tests/reference/make_metrics_fixtures.py

It writes crates/train/tests/reference/metrics_fixtures.json, which crates/train/tests/metrics_reference.rs compares
against glassbox_train::metrics (notes/metrics.md, equations M1-M18). The committed fixture was
produced by Python 3.11, numpy 2.4.6 and scikit-learn 1.9.1 (the versions are also recorded in
the JSON). The output is deterministic: every random case comes from a seeded numpy Generator.

Every float is written as a string holding Python's repr (shortest round-trip form, "inf" for
infinity) so that Rust's `str::parse::<f64>` reads back the exact same double; integers are
JSON integers. A metric scikit-learn leaves undefined (one class only: ROC warns and returns
NaN, AP returns 0 with a warning) is written as null; the Rust test then expects an error.

The best thresholds (M17) are not a scikit-learn function: they are found here by brute force
over the distinct scores, comparing exact `Fraction`s of the counts, ties to the highest
threshold, and the value at the optimum is taken from scikit-learn (`f1_score`, `roc_curve`).
"""

import json
import platform
import re
import warnings
from fractions import Fraction
from pathlib import Path

import numpy as np
import sklearn
from sklearn.calibration import calibration_curve
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    brier_score_loss,
    confusion_matrix,
    confusion_matrix_at_thresholds,
    f1_score,
    log_loss,
    precision_recall_curve,
    precision_score,
    recall_score,
    roc_auc_score,
    roc_curve,
)

OUT = Path(__file__).with_name("metrics_fixtures.json")
N_BINS = [10, 5, 7]


def floats(xs):
    return [repr(float(x)) for x in xs]


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def make_cases():
    rng = np.random.default_rng(20240611)
    cases = []

    # The worked example of notes/metrics.md.
    cases.append(("hand6", [1, 0, 1, 1, 0, 0], [0.9, 0.8, 0.7, 0.4, 0.4, 0.1], True))

    # An informative classifier on random data, 40 % positives.
    n = 120
    y = (rng.random(n) < 0.4).astype(int)
    s = sigmoid(rng.normal(size=n) + 1.2 * (2 * y - 1))
    cases.append(("random", y.tolist(), s.tolist(), True))

    # The same scores rounded to one decimal: 11 distinct values, heavy ties across classes,
    # and scores sitting exactly on the calibration edges 0.3, 0.5, 0.7 ...
    cases.append(("heavy_ties", y.tolist(), np.round(s, 1).tolist(), True))

    # All scores equal: one threshold, AUC 0.5, AP = prevalence.
    y = (rng.random(20) < 0.5).astype(int)
    cases.append(("all_equal", y.tolist(), [0.5] * 20, True))

    # Perfect and inverted rankings.
    y = np.array([0, 1] * 15)
    rng.shuffle(y)
    s = np.where(y == 1, rng.uniform(0.6, 1.0, 30), rng.uniform(0.0, 0.4, 30))
    cases.append(("perfect", y.tolist(), s.tolist(), True))
    cases.append(("inverted", y.tolist(), (1.0 - s).tolist(), True))

    # Highly imbalanced, 15 % positives as in the case-study data, a weak classifier.
    n = 200
    y = np.array([1] * 30 + [0] * (n - 30))
    rng.shuffle(y)
    s = sigmoid(rng.normal(size=n) + 1.5 * y - 1.8)
    cases.append(("imbalanced", y.tolist(), s.tolist(), True))

    # Probabilities at and beyond the log-loss clip eps = 2**-52: 0, 1, subnormal, below eps,
    # 1 - eps/2 (clipped down to 1 - eps), right and wrong.
    y = [1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0]
    s = [0.0, 0.0, 1.0, 1.0, 5e-324, 1e-300, 1e-16, 0.9999999999999999, 0.5, 2.220446049250313e-16,
         0.3, 0.7]
    cases.append(("clip_edges", y, s, True))

    # Logits (not probabilities): negative scores, +0.0 and -0.0 tied. Ranking metrics only.
    n = 50
    y = (rng.random(n) < 0.5).astype(int)
    s = rng.normal(size=n) * 2.0 + y
    s[[3, 11, 17]] = 0.0
    s[[5, 23]] = -0.0
    s[[7, 8]] = s[9]
    cases.append(("logits", y.tolist(), s.tolist(), False))

    # One class only.
    cases.append(("all_negative", [0] * 10, rng.uniform(size=10).tolist(), True))
    cases.append(("all_positive", [1] * 10, rng.uniform(size=10).tolist(), True))
    return cases


def at_threshold(y, s, t):
    pred = (s >= t).astype(int)
    tn, fp, fn, tp = confusion_matrix(y, pred, labels=[0, 1]).ravel()
    return {
        "threshold": repr(float(t)),
        "tp": int(tp),
        "fp": int(fp),
        "tn": int(tn),
        "fn": int(fn),
        "accuracy": repr(float(accuracy_score(y, pred))),
        "precision": repr(float(precision_score(y, pred, labels=[0, 1]))),
        "recall": repr(float(recall_score(y, pred, labels=[0, 1]))),
        "specificity": repr(float(recall_score(y, pred, labels=[0, 1], pos_label=0))),
        "fpr": repr(float(fp / (fp + tn)) if fp + tn > 0 else 0.0),
        "f1": repr(float(f1_score(y, pred, labels=[0, 1]))),
    }


def calibration(y, s, n_bins):
    prob_true, prob_pred = calibration_curve(y, s, n_bins=n_bins, strategy="uniform")
    # Counts per bin, with the binning of calibration_curve's source (searchsorted, left).
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    ids = np.searchsorted(edges[1:-1], s)
    count = np.bincount(ids, minlength=n_bins)
    pos = np.bincount(ids, weights=y, minlength=n_bins)
    nonzero = np.flatnonzero(count)
    assert np.array_equal(prob_true, pos[nonzero] / count[nonzero])
    assert np.array_equal(prob_pred, np.bincount(ids, weights=s, minlength=n_bins)[nonzero]
                          / count[nonzero])
    return {
        "bins": nonzero.tolist(),
        "lower": floats(edges[nonzero]),
        "upper": floats(edges[nonzero + 1]),
        "count": count[nonzero].tolist(),
        "positives": pos[nonzero].astype(int).tolist(),
        "prob_true": floats(prob_true),
        "prob_pred": floats(prob_pred),
    }


def best_threshold(y, s, criterion):
    p = int(y.sum())
    n = len(y) - p
    if p == 0 or (criterion == "YoudenJ" and n == 0):
        return None
    fpr, tpr, roc_t = roc_curve(y, s, drop_intermediate=False) if n > 0 else (None, None, None)
    best = None
    for t in sorted(set(s.tolist()), reverse=True):  # highest first: ties keep the first
        pred = s >= t
        tp = int(np.sum(pred & (y == 1)))
        fp = int(np.sum(pred & (y == 0)))
        if criterion == "MaxF1":
            key = Fraction(2 * tp, tp + fp + p)
        else:
            key = Fraction(tp, p) - Fraction(fp, n)
        if best is None or key > best[0]:
            best = (key, t)
    t = best[1]
    if criterion == "MaxF1":
        value = float(f1_score(y, (s >= t).astype(int)))
    else:
        k = int(np.flatnonzero(roc_t == t)[0])
        value = float(tpr[k] - fpr[k])
    assert abs(value - float(best[0])) < 1e-12
    return [repr(float(t)), repr(value)]


def case_record(name, y_list, s_list, probability):
    y = np.asarray(y_list, dtype=int)
    s = np.asarray(s_list, dtype=np.float64)
    both = 0 < y.sum() < len(y)
    has_pos = y.sum() > 0
    ts = [0.5, 0.3, 0.85, float(np.sort(s)[len(s) // 2])] if probability else [0.0, -0.5, 1.0]
    _, fps, _, tps, cm_t = confusion_matrix_at_thresholds(y, s)
    rec = {
        "name": name,
        "probability": probability,
        "labels": y.tolist(),
        "scores": floats(s),
        "at_threshold": [at_threshold(y, s, t) for t in ts],
        "threshold_counts": {
            "thresholds": floats(cm_t),
            "tp": tps.astype(int).tolist(),
            "fp": fps.astype(int).tolist(),
        },
        "roc": None,
        "roc_full": None,
        "roc_auc": None,
        "pr": None,
        "pr_drop": None,
        "average_precision": None,
        "log_loss": None,
        "brier": None,
        "calibration": None,
        "best_threshold": {c: best_threshold(y, s, c) for c in ["MaxF1", "YoudenJ"]},
    }
    if both:
        for key, drop in [("roc", True), ("roc_full", False)]:
            fpr, tpr, thr = roc_curve(y, s, drop_intermediate=drop)
            rec[key] = {"fpr": floats(fpr), "tpr": floats(tpr), "thresholds": floats(thr)}
        rec["roc_auc"] = repr(float(roc_auc_score(y, s)))
    if has_pos:
        for key, drop in [("pr", False), ("pr_drop", True)]:
            prec, recall, thr = precision_recall_curve(y, s, drop_intermediate=drop)
            rec[key] = {"precision": floats(prec), "recall": floats(recall),
                        "thresholds": floats(thr)}
        rec["average_precision"] = repr(float(average_precision_score(y, s)))
    if probability:
        rec["log_loss"] = repr(float(log_loss(y, s, labels=[0, 1])))
        rec["brier"] = repr(float(brier_score_loss(y, s)))
        rec["calibration"] = {str(b): calibration(y, s, b) for b in N_BINS}
    return rec


def main():
    warnings.simplefilter("ignore")  # zero-division and single-class warnings are expected
    doc = {
        "generator": "crates/train/tests/reference/make_metrics_fixtures.py",
        "versions": {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "sklearn": sklearn.__version__,
        },
        "cases": [case_record(*c) for c in make_cases()],
    }
    # One line per array: readable diffs without one line per number.
    text = json.dumps(doc, indent=1)
    text = re.sub(r"\[\s+([^\[\]{}]*?)\s+\]", lambda m: "[" + re.sub(r",\s+", ", ", m[1]) + "]", text)
    OUT.write_text(text + "\n")
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes, {len(doc['cases'])} cases)")


if __name__ == "__main__":
    main()
