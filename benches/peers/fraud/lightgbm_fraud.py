"""The best peer of the risk case: tuned LightGBM on the fraud data's engineered features.

Run from the repository root (needs lightgbm and scikit-learn in /work/venv):

    /work/venv/bin/python benches/peers/fraud/lightgbm_fraud.py

Follows the protocol of datasets/README.md (fraud section), which the reference figures used:
the 17 `eng` features (purchase_value, age, seconds_to_purchase, quick_purchase (gap <= 60 s),
purchase_hour, purchase_weekday, device_users fitted on the training file only (a scored row:
its device's training count + 1), one-hot source/browser/sex); a stratified 20 % validation
part of train (train_test_split, random_state=20261129); LightGBM num_leaves 7,
min_child_samples 20, learning_rate 0.03, subsample/colsample 0.8, early stopping on
validation log-loss. It writes the per-row test probabilities of seed 0 to
benches/peers/fraud/lightgbm_test_predictions.csv (row = 1-based data row of
datasets/fraud_purchases_test.csv), read by `glassbox case-study risk` for its paired
bootstrap. Nothing here is tuned on the test file.
"""

import sys
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, roc_auc_score
from sklearn.model_selection import train_test_split

ROOT = Path(__file__).resolve().parents[3]
OUT = Path(__file__).with_name("lightgbm_test_predictions.csv")


def features(df, device_counts, scored):
    t0 = pd.to_datetime(df.signup_time, format="%m/%d/%y %H:%M")
    t1 = pd.to_datetime(df.purchase_time, format="%m/%d/%y %H:%M")
    gap = (t1 - t0).dt.total_seconds()
    out = pd.DataFrame({
        "purchase_value": df.purchase_value,
        "age": df.age,
        "seconds_to_purchase": gap,
        "quick_purchase": (gap <= 60).astype(int),
        "purchase_hour": t1.dt.hour,
        "purchase_weekday": t1.dt.day_of_week,
        "device_users": df.device_id.map(device_counts).fillna(0) + (1 if scored else 0),
    })
    for col, levels in [("source", ["Ads", "Direct", "SEO"]),
                        ("browser", ["Chrome", "FireFox", "IE", "Opera", "Safari"]),
                        ("sex", ["F", "M"])]:
        for level in levels:
            out[f"{col}={level}"] = (df[col] == level).astype(int)
    return out


def main(seed=0):
    train = pd.read_csv(ROOT / "datasets/fraud_purchases_train.csv")
    test = pd.read_csv(ROOT / "datasets/fraud_purchases_test.csv")
    counts = train.device_id.value_counts()
    x_train = features(train, counts, scored=False)
    x_test = features(test, counts, scored=True)
    y_train = train["class"].to_numpy()
    x_fit, x_val, y_fit, y_val = train_test_split(
        x_train, y_train, test_size=0.2, stratify=y_train, random_state=20261129)
    model = lgb.LGBMClassifier(
        n_estimators=2000, learning_rate=0.03, num_leaves=7, min_child_samples=20,
        subsample=0.8, subsample_freq=1, colsample_bytree=0.8, random_state=seed,
        n_jobs=1, verbose=-1)
    model.fit(x_fit, y_fit, eval_set=[(x_val, y_val)], eval_metric="binary_logloss",
              callbacks=[lgb.early_stopping(50, verbose=False)])
    p = model.predict_proba(x_test)[:, 1]
    y = test["class"].to_numpy()
    alerts = p * test.purchase_value.to_numpy() >= 5
    cost = 5 * alerts.sum() + test.purchase_value.to_numpy()[(y == 1) & ~alerts].sum()
    print(f"LightGBM tuned, seed {seed}: ROC-AUC {roc_auc_score(y, p):.4f}, "
          f"PR-AUC {average_precision_score(y, p):.4f}, cost ${cost:,.0f}", file=sys.stderr)
    with OUT.open("w") as f:
        f.write("row,probability\n")
        for i, v in enumerate(p, start=1):
            f.write(f"{i},{v:.8f}\n")


if __name__ == "__main__":
    main()
