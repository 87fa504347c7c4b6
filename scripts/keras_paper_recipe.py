"""The paper's Keras recipe on the bundled split, to see which preprocessing the quoted
Keras figures (ROC-AUC 0.909 ± 0.002, F1 at 0.5 ≈ 0.62–0.64, accuracy ≈ 0.886–0.890) match.

Run from the repo root (takes about a minute per variant on 2 cores):

    /work/venv/bin/python scripts/keras_paper_recipe.py [--seeds 5] [--variants plain,log1p]

Recipe (Sakar et al. 2019, as issue 4 states it): Dense(64, relu) → Dense(64, relu) →
Dense(1, sigmoid), Glorot-uniform, zero bias, Adam() defaults, binary_crossentropy, 10
epochs, batch 32, shuffle on, trained on every row of datasets/online_shoppers_train.csv,
evaluated on datasets/online_shoppers_test.csv at p ≥ 0.5.

Preprocessing, fitted on the training file only:
- plain: the durations' -1 read as missing; missing numbers imputed with the training
  median; numeric columns standardised (population σ); Month, VisitorType and the four
  integer-code columns one-hot (unseen test levels → all zeros); Weekend 0/1;
- log1p: the same, with ln(1 + x) on the three counts, three durations and PageValues
  before standardising — what datasets/online_shoppers.schema.toml declares, and what
  glassbox's case study reads.

Prints one line per seed and a mean ± sd summary per variant. Versions used for
notes/benchmarks.md: TensorFlow 2.21 / Keras 3.15.1, numpy 2.4, pandas 3.1, scikit-learn 1.9.
"""

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
import pandas as pd

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRAIN = os.path.join(ROOT, "datasets", "online_shoppers_train.csv")
TEST = os.path.join(ROOT, "datasets", "online_shoppers_test.csv")
COUNTS = ["Administrative", "Informational", "ProductRelated"]
DURATIONS = ["Administrative_Duration", "Informational_Duration", "ProductRelated_Duration"]
NUMERIC = COUNTS + DURATIONS + ["BounceRates", "ExitRates", "PageValues", "SpecialDay"]
LOG1P = COUNTS + DURATIONS + ["PageValues"]
CATEGORICAL = ["Month", "VisitorType", "OperatingSystems", "Browser", "Region", "TrafficType"]


def features(train, test, log1p):
    def numeric(df, med):
        x = df[NUMERIC].astype(float).copy()
        for c in DURATIONS:
            x.loc[x[c] == -1, c] = np.nan
        x = x.fillna(med)
        if log1p:
            x[LOG1P] = np.log1p(x[LOG1P])
        return x

    raw = train[NUMERIC].astype(float).copy()
    for c in DURATIONS:
        raw.loc[raw[c] == -1, c] = np.nan
    med = raw.median()
    xtr, xte = numeric(train, med), numeric(test, med)
    mu, sd = xtr.mean(), xtr.std(ddof=0).replace(0, 1)
    parts_tr, parts_te = [(xtr - mu) / sd], [(xte - mu) / sd]
    for c in CATEGORICAL:
        levels = sorted(train[c].astype(str).unique())
        parts_tr.append(pd.get_dummies(train[c].astype(str)).reindex(columns=levels, fill_value=0))
        parts_te.append(pd.get_dummies(test[c].astype(str)).reindex(columns=levels, fill_value=0))
    wk = lambda df: (df["Weekend"].astype(str).str.upper() == "TRUE").astype(float).to_frame()
    parts_tr.append(wk(train))
    parts_te.append(wk(test))
    y = lambda df: (df["Revenue"].astype(str).str.upper() == "TRUE").astype("float32").values
    return (
        pd.concat(parts_tr, axis=1).values.astype("float32"),
        y(train),
        pd.concat(parts_te, axis=1).values.astype("float32"),
        y(test),
    )


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--variants", default="plain,log1p")
    args = ap.parse_args()
    import keras
    import tensorflow as tf
    from sklearn.metrics import accuracy_score, average_precision_score, f1_score, roc_auc_score

    tf.config.threading.set_intra_op_parallelism_threads(2)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    train, test = pd.read_csv(TRAIN), pd.read_csv(TEST)
    print(f"tensorflow {tf.__version__}, keras {keras.__version__}", file=sys.stderr)
    for variant in args.variants.split(","):
        xtr, ytr, xte, yte = features(train, test, variant == "log1p")
        rows = []
        for seed in range(args.seeds):
            keras.utils.set_random_seed(seed)
            model = keras.Sequential(
                [
                    keras.Input((xtr.shape[1],)),
                    keras.layers.Dense(64, activation="relu"),
                    keras.layers.Dense(64, activation="relu"),
                    keras.layers.Dense(1, activation="sigmoid"),
                ]
            )
            model.compile(optimizer=keras.optimizers.Adam(), loss="binary_crossentropy")
            model.fit(xtr, ytr, epochs=10, batch_size=32, verbose=0)
            p = model.predict(xte, batch_size=4096, verbose=0).ravel()
            r = (
                roc_auc_score(yte, p),
                average_precision_score(yte, p),
                f1_score(yte, p >= 0.5),
                accuracy_score(yte, p >= 0.5),
            )
            rows.append(r)
            print(f"{variant} seed {seed}: D={xtr.shape[1]} ROC-AUC {r[0]:.4f} PR-AUC {r[1]:.4f} "
                  f"F1@0.5 {r[2]:.4f} acc@0.5 {r[3]:.4f}", flush=True)
        a = np.array(rows)
        m, s = a.mean(0), a.std(0, ddof=1) if len(rows) > 1 else np.zeros(4)
        print(f"{variant} mean ± sd over {len(rows)} seeds: ROC-AUC {m[0]:.4f} ± {s[0]:.4f}, "
              f"PR-AUC {m[1]:.4f} ± {s[1]:.4f}, F1@0.5 {m[2]:.4f} ± {s[2]:.4f}, "
              f"acc@0.5 {m[3]:.4f} ± {s[3]:.4f}", flush=True)


if __name__ == "__main__":
    main()
