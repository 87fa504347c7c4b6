"""Keras 3 peer (TensorFlow backend): Sequential Dense MLP, model.fit, float32.

    /work/venv/bin/python benches/peers/keras_runner.py --data /tmp/glassbox-peers \
        --workload train_b32 [--threads 1] [--repeats 1] [--warmup 1] [--quick]

Training is model.fit(x, y, batch_size=B, epochs=1, shuffle=False) on NumPy arrays, the way the
Keras guides train, with the model compiled with Keras' defaults (jit_compile="auto", which
Keras resolves to no XLA on a CPU-only machine; the resolved value is in "versions"). Each timed
repeat is one fit() call over the workload's rows; the warm-up fit() calls before it trace and
build the train function, so tracing is not timed. Inference is model.predict_on_batch on each
4096-row chunk (also warmed up): model.predict(x, batch_size=4096) gives the same numbers but was
seen 2-4x slower here, from its per-call data-adapter and callback overhead, so the peer gets
the faster documented call. Startup builds the model, loads the weights and calls
model.predict_on_batch on one row.

Threads: TF_NUM_INTRAOP_THREADS=T, TF_NUM_INTEROP_THREADS=1 and OMP_NUM_THREADS=T are set before
TensorFlow is imported, and tf.config.threading.set_intra_op_parallelism_threads(T) /
set_inter_op_parallelism_threads(1) are called before the runtime starts.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

ARGS = common.parse_args()
common.apply_thread_env("keras", ARGS.threads)

import tensorflow as tf  # noqa: E402

tf.config.threading.set_intra_op_parallelism_threads(ARGS.threads)
tf.config.threading.set_inter_op_parallelism_threads(1)

import keras  # noqa: E402

RUNNER = "keras"


def build(init) -> keras.Sequential:
    layers = [keras.Input(shape=(init[0][0].shape[0],))]
    for i, (w, _) in enumerate(init):
        layers.append(keras.layers.Dense(w.shape[1], activation="relu" if i < len(init) - 1 else None))
    model = keras.Sequential(layers)
    model.set_weights([t for layer in init for t in layer])  # Dense kernel is [in, out] like ours
    return model


def main() -> None:
    a = ARGS
    spec = common.workload_spec(a.workload, a.quick)
    meta = common.load_meta(a.data)
    model = build(common.load_init(a.data, meta, spec["model"]))

    if spec["kind"] == "startup":
        x, _ = common.load_xy(a.data, meta, 1)
        p = float(model.predict_on_batch(x)[0, 0])
        common.emit_prediction(RUNNER, p, {"tensorflow": tf.__version__, "keras": keras.__version__})
        return

    vers = common.base_versions()
    vers.update({"tensorflow": tf.__version__, "keras": keras.__version__,
                 "backend": keras.backend.backend(),
                 "intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
                 "inter_op": tf.config.threading.get_inter_op_parallelism_threads()})

    if spec["kind"] == "train":
        b = spec["batch"]
        x, y = common.load_xy(a.data, meta, spec["samples"])
        ad = common.ADAM
        model.compile(optimizer=keras.optimizers.Adam(learning_rate=ad["lr"], beta_1=ad["beta1"],
                                                      beta_2=ad["beta2"], epsilon=ad["eps"]),
                      loss=keras.losses.BinaryCrossentropy(from_logits=True))
        vers["jit_compile"] = model.jit_compile  # "auto" resolved by compile()

        def one_pass():
            hist = model.fit(x, y, batch_size=b, epochs=1, shuffle=False, verbose=0)
            return float(hist.history["loss"][0])
    else:
        b, rows = spec["batch"], spec["rows"]
        x, _ = common.load_xy(a.data, meta, rows)

        def one_pass():
            acc = 0.0
            for s in range(0, rows, b):
                acc += float(model.predict_on_batch(x[s:s + b]).sum())
            return acc / rows

    common.run_passes(RUNNER, spec, a, vers, one_pass)


if __name__ == "__main__":
    main()
