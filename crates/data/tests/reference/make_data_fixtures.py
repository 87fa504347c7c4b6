"""Reference preprocessing of the bundled Online Shoppers data, from pandas and scikit-learn.

Run from the repository root:

    /work/venv/bin/python crates/data/tests/reference/make_data_fixtures.py

It writes crates/data/tests/reference/data_fixtures.json, which crates/data/tests/data_layer.rs
compares against glassbox_data::Preprocessor fitted on datasets/online_shoppers_train.csv with
datasets/online_shoppers.schema.toml (notes/data.md, equations D2-D10). The committed fixture
was produced by Python 3.11, numpy 2.4.6, pandas 3.1.1 and scikit-learn 1.9.1 (the versions
are also recorded in the JSON). The output is deterministic.

The scikit-learn pipeline mirrors the shipped schema: `-1` in the three duration columns is
missing; numeric columns go through SimpleImputer(median) -> log1p (for the columns the schema
marks) -> StandardScaler; the four integer-coded columns, Month and VisitorType through
OneHotEncoder(handle_unknown="ignore") with glassbox's level order (numeric order when every
level is a number, else sorted text), followed by glassbox's `<unknown>` column, which is
1 - (sum of the row's one-hot block); Weekend and Revenue become 1/0.

Floats are written as strings holding Python's repr (shortest round-trip form) so that Rust's
`str::parse::<f64>` reads back the exact double. The counts (rows, TRUE labels, duplicates,
sentinels, empty cells) are computed by pandas on the raw text.
"""

import json
import platform
from pathlib import Path

import numpy as np
import pandas as pd
import sklearn
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

ROOT = Path(__file__).resolve().parents[4]
DATA = ROOT / "datasets"
OUT = Path(__file__).resolve().with_name("data_fixtures.json")

DURATIONS = ["Administrative_Duration", "Informational_Duration", "ProductRelated_Duration"]
LOG1P = ["Administrative", "Administrative_Duration", "Informational", "Informational_Duration",
         "ProductRelated", "ProductRelated_Duration", "PageValues"]
NUMERIC = ["Administrative", "Administrative_Duration", "Informational", "Informational_Duration",
           "ProductRelated", "ProductRelated_Duration", "BounceRates", "ExitRates", "PageValues",
           "SpecialDay"]
CATEGORICAL = ["Month", "OperatingSystems", "Browser", "Region", "TrafficType", "VisitorType"]
BOOLEAN = ["Weekend"]
# Test rows written out in full: the first ten, plus every row with a level unseen in training.
N_HEAD = 10


def f(x):
    return repr(float(x))


def level_order(levels):
    try:
        return sorted(levels, key=lambda s: (float(s), s))
    except ValueError:
        return sorted(levels)


def counts(path):
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    return {
        "rows": len(raw),
        "revenue_true": int((raw["Revenue"] == "TRUE").sum()),
        "duplicate_repeats": int(raw.duplicated().sum()),
        "duplicate_rows_in_groups": int(raw.duplicated(keep=False).sum()),
        "duplicate_groups": int(raw[raw.duplicated(keep=False)].drop_duplicates().shape[0]),
        "sentinel_rows": int((raw[DURATIONS] == "-1").all(axis=1).sum()),
        "empty_cells": {c: int((raw[c] == "").sum()) for c in raw.columns if (raw[c] == "").any()},
    }


def load(path):
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    out = pd.DataFrame(index=df.index)
    for c in NUMERIC:
        v = pd.to_numeric(df[c].replace("", np.nan))
        if c in DURATIONS:
            v = v.mask(v == -1)
        out[c] = v
    for c in CATEGORICAL:
        out[c] = df[c]
    for c in BOOLEAN + ["Revenue"]:
        out[c] = (df[c].str.upper() == "TRUE").astype(np.float64)
    return out


def main():
    train = load(DATA / "online_shoppers_train.csv")
    test = load(DATA / "online_shoppers_test.csv")
    levels = {c: level_order(train[c].unique()) for c in CATEGORICAL}
    transformers = []
    for c in NUMERIC:
        steps = [("impute", SimpleImputer(strategy="median"))]
        if c in LOG1P:
            steps.append(("log1p", FunctionTransformer(np.log1p)))
        steps.append(("scale", StandardScaler()))
        transformers.append((c, Pipeline(steps), [c]))
    for c in CATEGORICAL:
        transformers.append((c, OneHotEncoder(categories=[levels[c]], handle_unknown="ignore",
                                              sparse_output=False), [c]))
    for c in BOOLEAN:
        transformers.append((c, "passthrough", [c]))
    ct = ColumnTransformer(transformers, sparse_threshold=0.0)
    ct.fit(train)

    def features(df):
        blocks = []
        for name, _, cols in transformers:
            block = ct.named_transformers_[name].transform(df[cols]) if name != "Weekend" \
                else df[cols].to_numpy()
            blocks.append(block)
            if name in CATEGORICAL:
                blocks.append(1.0 - block.sum(axis=1, keepdims=True))
        return np.hstack(blocks)

    names = []
    for c in NUMERIC:
        names.append(c)
    for c in CATEGORICAL:
        names += [f"{c}={lv}" for lv in levels[c]] + [f"{c}=<unknown>"]
    names += BOOLEAN

    x_test = features(test)
    unknown_rows = [i for i in range(len(test))
                    if any(test[c].iloc[i] not in levels[c] for c in CATEGORICAL)]
    rows = list(range(N_HEAD)) + [i for i in unknown_rows if i >= N_HEAD]
    stats = {}
    for c in NUMERIC:
        p = ct.named_transformers_[c]
        stats[c] = {
            "median": f(p.named_steps["impute"].statistics_[0]),
            "mean": f(p.named_steps["scale"].mean_[0]),
            "scale": f(p.named_steps["scale"].scale_[0]),
        }
    fixture = {
        "versions": {"python": platform.python_version(), "numpy": np.__version__,
                     "pandas": pd.__version__, "sklearn": sklearn.__version__},
        "counts": {
            "full": counts(DATA / "online_shoppers_intention.csv"),
            "train": counts(DATA / "online_shoppers_train.csv"),
            "test": counts(DATA / "online_shoppers_test.csv"),
        },
        "feature_names": names,
        "numeric_stats": stats,
        "levels": levels,
        "test_unknown": {c: int((~test[c].isin(levels[c])).sum()) for c in CATEGORICAL},
        "test_rows": [{"row": i, "line": i + 2, "y": f(test["Revenue"].iloc[i]),
                       "x": [f(v) for v in x_test[i]]} for i in rows],
        "test_feature_sums": [f(v) for v in x_test.sum(axis=0)],
    }
    OUT.write_text(json.dumps(fixture, indent=1) + "\n")
    print(f"wrote {OUT.relative_to(ROOT)}: {len(names)} features, {len(rows)} test rows")


if __name__ == "__main__":
    main()
