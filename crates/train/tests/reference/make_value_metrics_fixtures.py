"""Reference values for the value metrics (crates/train/src/metrics/value.rs, notes/value.md C30–C35).

Normalized Gini as in google/lifetime_value (`cumulative_true` + `gini_from_gain`: sort by the
prediction descending, cumulative share of the actual value, raw = 2·mean − 1, normalized by the
raw Gini of the actual values), with ties in the prediction averaged (each tied block's value
spread evenly: the expectation over random tie-breaking), which equals the paper's code when no
prediction is tied; Spearman from scipy.stats.spearmanr; AUC from sklearn.metrics.roc_auc_score;
the decile chart and top-k share as defined in ../shared/datasets/README.md (online_retail).

Run:  /work/venv/bin/python crates/train/tests/reference/make_value_metrics_fixtures.py
Writes value_metrics_fixtures.json next to this script.
"""
import json
import os

import numpy as np
import scipy
import scipy.stats
import sklearn
from sklearn.metrics import roc_auc_score


def gain(y, s):
    order = np.argsort(-s, kind="stable")
    ys, ss = y[order], s[order]
    out, cum, i = [], 0.0, 0
    while i < len(ys):
        j = i
        while j < len(ys) and ss[j] == ss[i]:
            j += 1
        block = ys[i:j].sum()
        for k in range(1, j - i + 1):
            out.append((cum + block * k / (j - i)) / y.sum())
        cum += block
        i = j
    return np.array(out)


def gini(y, s):
    raw = lambda sc: 2 * gain(y, sc).mean() - 1
    return raw(s) / raw(y)


def paper_gini(y, s):
    # google/lifetime_value, no ties: cumulative_true then gini_from_gain.
    def cum(sc):
        d = y[np.argsort(-sc, kind="stable")]
        return np.cumsum(d) / d.sum()
    raw = lambda sc: 2 * cum(sc).sum() / len(y) - 1
    return raw(s) / raw(y)


def deciles(y, s):
    n = len(y)
    order = np.lexsort((np.arange(n), s))
    rows = []
    for d in range(10):
        g = order[d * n // 10:(d + 1) * n // 10]
        rows.append([float(s[g].mean()), float(y[g].mean())])
    mape = np.mean([abs(p - a) / a for p, a in rows if a > 0])
    return rows, float(mape)


def top(y, s, q):
    k = int(np.floor(q * len(y) + 0.5))
    return float(gain(y, s)[k - 1])


def case(name, y, s):
    rows, mape = deciles(y, s)
    c = {
        "name": name,
        "actual": y.tolist(),
        "predicted": s.tolist(),
        "normalized_gini": gini(y, s),
        "spearman": float(scipy.stats.spearmanr(y, s).statistic),
        "deciles": rows,
        "decile_mape": mape,
        "mae": float(np.abs(s - y).mean()),
        "rmse": float(np.sqrt(((s - y) ** 2).mean())),
        "auc_any": float(roc_auc_score(y > 0, s)),
        "top10": top(y, s, 0.1),
        "top20": top(y, s, 0.2),
    }
    if len(np.unique(s)) == len(s):
        c["paper_gini"] = paper_gini(y, s)
    return c


rng = np.random.default_rng(20261205)
n = 664
buys = rng.random(n) < 0.56
y = np.where(buys, np.round(np.exp(rng.normal(5.5, 1.3, n)), 2), 0.0)
signal = np.log1p(y) + rng.normal(0, 1.5, n)
pred = np.exp(signal) * 0.9 + rng.random(n)
cases = [
    case("heavy_tail_664", y, pred),
    case("tied_predictions", y, np.round(pred, -2)),
    case("small_25", y[:25], pred[:25]),
]
here = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(here, "value_metrics_fixtures.json"), "w") as f:
    json.dump({"numpy": np.__version__, "scipy": scipy.__version__, "sklearn": sklearn.__version__, "cases": cases}, f)
print([(c["name"], round(c["normalized_gini"], 4), c.get("paper_gini")) for c in cases])
