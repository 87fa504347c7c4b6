"""Write the synthetic data set and initial weights that every peer runner (and glassbox) reads.

Run once, from the repo root:

    /work/venv/bin/python benches/peers/make_data.py [--out /tmp/glassbox-peers] [--seed 20251]

Writes into --out (outside the repo by default; never commit these files):

    x.f32           rows x cols float32, little-endian, row-major (60,000 x 784 = 188 MB)
    y.f32           rows float32 labels, exactly 0.0 or 1.0
    init_small.f32  initial parameters of the 784-64-64-1 MLP
    init_big.f32    initial parameters of the 784-1024-1024-1 MLP
    meta.json       shapes, file names, tensor offsets, label balance, the workload table

Data: features x ~ N(0, 1) i.i.d. (already standardised: mean 0, variance 1 per column by
construction). Labels from a fixed random logistic teacher: w ~ N(0, I) scaled so that the logit
z = x . w has standard deviation TEACHER_LOGIT_STD, then y ~ Bernoulli(sigmoid(z)). The Bernoulli
draw is the label noise; sign(z) predicts y about 84% of the time at logit std 3
(written to meta.json as teacher_sign_accuracy), a ceiling for any model. With no bias term the
balance is about 50/50; the exact positive fraction is written to meta.json.

Init files: per layer, W as [in, out] row-major then b [out], layers in order; offsets (in f32
elements) are in meta.json. W ~ U(-sqrt(6/in), sqrt(6/in)) (He-uniform) for the ReLU layers,
U(-sqrt(3/in), sqrt(3/in)) for the output layer, b = 0. Every runner starts from these values so
their losses can be compared as a sanity check.

Produced with numpy 2.4.6 (the generator is numpy's PCG64 `default_rng(seed)`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import ADAM, DEFAULT_DATA_DIR, MODELS, WORKLOADS  # noqa: E402

ROWS = 60_000
COLS = 784
TEACHER_LOGIT_STD = 3.0
FORMAT_VERSION = 1


def write_init(out: str, name: str, widths: list[int], rng: np.random.Generator) -> dict:
    chunks, layers, offset = [], [], 0
    for i, (fan_in, fan_out) in enumerate(zip(widths[:-1], widths[1:])):
        last = i == len(widths) - 2
        bound = np.sqrt((3.0 if last else 6.0) / fan_in)
        w = rng.uniform(-bound, bound, size=(fan_in, fan_out)).astype("<f4")
        b = np.zeros(fan_out, dtype="<f4")
        layers.append({"w_shape": [fan_in, fan_out], "w_offset": offset,
                       "b_shape": [fan_out], "b_offset": offset + w.size,
                       "activation": "identity" if last else "relu"})
        offset += w.size + b.size
        chunks += [w.ravel(), b]
    fname = f"init_{name}.f32"
    np.concatenate(chunks).tofile(os.path.join(out, fname))
    return {"file": fname, "widths": widths, "count": offset, "layers": layers}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default=DEFAULT_DATA_DIR, help=f"output directory (default {DEFAULT_DATA_DIR})")
    p.add_argument("--seed", type=int, default=20251)
    p.add_argument("--rows", type=int, default=ROWS)
    args = p.parse_args()
    os.makedirs(args.out, exist_ok=True)

    rng = np.random.default_rng(args.seed)
    x = rng.standard_normal((args.rows, COLS), dtype=np.float32)
    w_teacher = rng.standard_normal(COLS)
    w_teacher *= TEACHER_LOGIT_STD / np.linalg.norm(w_teacher)  # std(x.w) = |w| for x ~ N(0, I)
    z = x.astype(np.float64) @ w_teacher
    y = (rng.random(args.rows) < 1.0 / (1.0 + np.exp(-z))).astype("<f4")
    bayes = float(np.mean(np.where(z > 0, 1.0, 0.0) == y))

    x.astype("<f4", copy=False).tofile(os.path.join(args.out, "x.f32"))
    y.tofile(os.path.join(args.out, "y.f32"))
    init = {name: write_init(args.out, name, widths, rng) for name, widths in MODELS.items()}

    meta = {
        "format_version": FORMAT_VERSION,
        "rows": args.rows,
        "cols": COLS,
        "dtype": "float32",
        "byte_order": "little",
        "layout": "row-major",
        "x_file": "x.f32",
        "y_file": "y.f32",
        "seed": args.seed,
        "generator": f"numpy {np.__version__} default_rng (PCG64)",
        "features": "i.i.d. N(0,1)",
        "labels": f"Bernoulli(sigmoid(x.w)), w ~ N(0,I) scaled to logit std {TEACHER_LOGIT_STD}, no bias",
        "positive_fraction": float(y.mean()),
        "teacher_sign_accuracy": bayes,
        "init": init,
        "adam": ADAM,
        "loss": "mean binary cross-entropy from logits",
        "workloads": WORKLOADS,
    }
    with open(os.path.join(args.out, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1)
    print(json.dumps({"out": args.out, "rows": args.rows, "cols": COLS,
                      "positive_fraction": meta["positive_fraction"],
                      "teacher_sign_accuracy": bayes}))


if __name__ == "__main__":
    main()
