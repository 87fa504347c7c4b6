"""Reference values of the per-group fairness metrics, from scikit-learn, pandas and fairlearn.

Run from the repository root:

    /work/venv/bin/python crates/train/tests/reference/make_fairness_fixtures.py

It writes crates/train/tests/reference/fairness_fixtures.json, which
crates/train/tests/fairness_reference.rs compares with glassbox_train::metrics::fairness
(notes/fairness.md, equations F1-F8) to 1e-9. The committed fixture (whose "generator" field
keeps this script's former path, tests/reference/, so that a re-run reproduces it byte for
byte) was produced by Python 3.11, numpy 2.4.6, pandas 3.1.1, scikit-learn 1.9.1 and
fairlearn 0.15.0 (the versions are also recorded in the JSON). The data are a fixed synthetic
set from a seeded numpy Generator, so the output is deterministic.

What is computed, per group of the column `group` (its raw text values):
- count, positives, observed positive rate, selection rate (score >= threshold), TP/FP/TN/FN
  (scikit-learn `confusion_matrix` with labels=[0, 1]);
- TPR = TP/(TP+FN), FPR = FP/(FP+TN), precision = TP/(TP+FP), each null when its denominator
  is zero (glassbox's convention F8; scikit-learn and fairlearn would give 0 there);
- ROC-AUC (`roc_auc_score`), null when the group has one class;
- mean predicted probability, its gap to the positive rate, and the expected calibration error
  sum_b n_b/n |prob_pred_b - prob_true_b| over scikit-learn's `calibration_curve` bins
  (n_bins=10, strategy="uniform"); the bin counts use the same `searchsorted` binning;
- the flag "too small": fewer than 30 rows, 5 positives or 5 negatives.
Across groups, written out by hand in pandas (fairlearn's definitions, `method="between_groups"`,
`agg="worst_case"`): demographic-parity difference = max - min selection rate; TPR gap, FPR gap
= max - min over the groups where the rate is defined; equalised-odds difference = the larger
gap. Both over all groups and over the unflagged ones. fairlearn itself is run on the rows of
the unflagged groups (where every rate is defined, so its zero-for-undefined convention does not
enter) and must agree with the hand-written values. Its all-group values are recorded as
`fairlearn_all_groups`: fairlearn counts the undefined TPR of group "5" (no positives) as 0,
where glassbox leaves it out; they agree here only because group "6" has a true TPR of 0.

Every float is written as a string holding Python's repr, so that Rust's `str::parse::<f64>`
reads back the same double; null marks an undefined value.
"""

import json
import platform
from pathlib import Path

import fairlearn
import numpy as np
import pandas as pd
import sklearn
from fairlearn.metrics import demographic_parity_difference, equalized_odds_difference
from sklearn.calibration import calibration_curve
from sklearn.metrics import confusion_matrix, roc_auc_score

THRESHOLD = 0.5
MIN_ROWS, MIN_POSITIVES, MIN_NEGATIVES = 30, 5, 5
N_BINS = 10

# Group sizes and base rates: large groups, one under 30 rows, one with 3 positives, one with
# no positive at all (one class: no ROC-AUC, no TPR), one whose scores all stay below the
# threshold (no predicted positive: no precision), and labels "10" and "2" to check the numeric
# ordering.
GROUPS = [
    ("1", 300, 0.15),
    ("2", 200, 0.30),
    ("3", 120, 0.50),
    ("10", 25, 0.40),
    ("4", 40, None),  # exactly 3 positives
    ("5", 12, 0.0),  # no positives
    ("6", 9, 0.5),  # scores scaled below the threshold
]


def f(x):
    return None if x is None or (isinstance(x, float) and np.isnan(x)) else repr(float(x))


def make_data():
    rng = np.random.default_rng(20240617)
    rows = []
    for name, n, rate in GROUPS:
        if rate is None:
            y = np.zeros(n, dtype=int)
            y[rng.choice(n, 3, replace=False)] = 1
        else:
            y = (rng.random(n) < rate).astype(int)
        # Scores informative but noisy, rounded to 3 decimals: many ties, some exactly 0.5.
        s = np.clip(0.35 * y + rng.normal(0.35, 0.2, n), 0.0, 1.0).round(3)
        s[rng.choice(n, max(1, n // 20), replace=False)] = 0.5
        if name == "6":
            s = (0.4 * s).round(3)
        for yi, si in zip(y, s):
            rows.append((name, int(yi), float(si)))
    order = rng.permutation(len(rows))  # interleave the groups
    return pd.DataFrame([rows[i] for i in order], columns=["group", "label", "score"])


def ratio(num, den):
    return None if den == 0 else num / den


def group_metrics(name, d):
    y, s = d["label"].to_numpy(), d["score"].to_numpy()
    pred = (s >= THRESHOLD).astype(int)
    tn, fp, fn, tp = confusion_matrix(y, pred, labels=[0, 1]).ravel()
    n, pos = len(y), int(y.sum())
    neg = n - pos
    auc = roc_auc_score(y, s) if 0 < pos < n else None
    prob_true, prob_pred = calibration_curve(y, s, n_bins=N_BINS, strategy="uniform")
    bins = np.linspace(0.0, 1.0, N_BINS + 1)
    counts = np.bincount(np.searchsorted(bins[1:-1], s), minlength=N_BINS)
    counts = counts[counts > 0]
    assert len(counts) == len(prob_true)
    ece = float(np.sum(counts / n * np.abs(prob_pred - prob_true)))
    reasons = []
    if n < MIN_ROWS:
        reasons.append(f"{n} rows < {MIN_ROWS}")
    if pos < MIN_POSITIVES:
        reasons.append(f"{pos} positives < {MIN_POSITIVES}")
    if neg < MIN_NEGATIVES:
        reasons.append(f"{neg} negatives < {MIN_NEGATIVES}")
    return {
        "group": name,
        "count": n,
        "positives": pos,
        "positive_rate": pos / n,
        "predicted_positive_rate": (tp + fp) / n,
        "tp": int(tp),
        "fp": int(fp),
        "tn": int(tn),
        "fn": int(fn),
        "tpr": ratio(tp, tp + fn),
        "fpr": ratio(fp, fp + tn),
        "precision": ratio(tp, tp + fp),
        "roc_auc": auc,
        "mean_predicted": float(s.mean()),
        "calibration_gap": float(s.mean()) - pos / n,
        "ece": ece,
        "flagged": bool(reasons),
        "flag_reasons": reasons,
    }


def gaps(groups):
    def spread(key):
        vals = pd.Series([g[key] for g in groups], dtype=float).dropna()
        return None if len(vals) < 2 else float(vals.max() - vals.min())

    tpr, fpr = spread("tpr"), spread("fpr")
    eo = None if tpr is None and fpr is None else max(v for v in (tpr, fpr) if v is not None)
    return {
        "groups": len(groups),
        "demographic_parity_difference": spread("predicted_positive_rate"),
        "tpr_gap": tpr,
        "fpr_gap": fpr,
        "equalized_odds_difference": eo,
    }


def floats(obj):
    if isinstance(obj, dict):
        return {k: floats(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [floats(v) for v in obj]
    if isinstance(obj, (bool, int, str)) or obj is None:
        return obj
    return f(obj)


def main():
    df = make_data()
    names = sorted(df["group"].unique(), key=float)
    groups = [group_metrics(name, df[df["group"] == name]) for name in names]
    all_gaps, judged = gaps(groups), gaps([g for g in groups if not g["flagged"]])

    # fairlearn on the unflagged groups (every rate defined there) must agree with pandas.
    ok = df[df["group"].isin([g["group"] for g in groups if not g["flagged"]])]
    pred = (ok["score"] >= THRESHOLD).astype(int)
    fl_dp = demographic_parity_difference(ok["label"], pred, sensitive_features=ok["group"])
    fl_eo = equalized_odds_difference(ok["label"], pred, sensitive_features=ok["group"])
    assert abs(fl_dp - judged["demographic_parity_difference"]) < 1e-15, fl_dp
    assert abs(fl_eo - judged["equalized_odds_difference"]) < 1e-15, fl_eo
    pred_all = (df["score"] >= THRESHOLD).astype(int)
    fl_all = {
        "demographic_parity_difference": demographic_parity_difference(
            df["label"], pred_all, sensitive_features=df["group"]
        ),
        "equalized_odds_difference": equalized_odds_difference(
            df["label"], pred_all, sensitive_features=df["group"]
        ),
    }

    out = {
        "generator": "tests/reference/make_fairness_fixtures.py",
        "versions": {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "pandas": pd.__version__,
            "scikit-learn": sklearn.__version__,
            "fairlearn": fairlearn.__version__,
        },
        "config": {
            "threshold": f(THRESHOLD),
            "min_rows": MIN_ROWS,
            "min_positives": MIN_POSITIVES,
            "min_negatives": MIN_NEGATIVES,
            "calibration_bins": N_BINS,
        },
        "rows": {
            "group": df["group"].tolist(),
            "label": df["label"].astype(int).tolist(),
            "score": [f(s) for s in df["score"]],
        },
        "groups": floats(groups),
        "all_groups": floats(all_gaps),
        "judged_groups": floats(judged),
        "fairlearn_judged_groups": floats(
            {"demographic_parity_difference": fl_dp, "equalized_odds_difference": fl_eo}
        ),
        "fairlearn_all_groups": floats(fl_all),
    }
    path = Path(__file__).with_name("fairness_fixtures.json")
    path.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {path}: {len(df)} rows, {len(groups)} groups")
    print("all groups:", all_gaps)
    print("judged:", judged, "fairlearn:", fl_dp, fl_eo)
    print("fairlearn, all groups (undefined TPR counted as 0):", fl_all)


if __name__ == "__main__":
    main()
