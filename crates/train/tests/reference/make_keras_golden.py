"""Writes crates/train/tests/reference/keras_golden.json: the paper's Keras recipe trained by `model.fit`.

Run from the repository root:

    /work/venv/bin/python crates/train/tests/reference/make_keras_golden.py

The committed fixture was produced with TensorFlow 2.21.0, Keras 3.15.1 (TensorFlow backend)
and numpy 2.4.6, on CPU (the versions are written into the file). crates/train/tests/keras_golden.rs reads
it; the test needs neither Python nor network.

The recipe (the paper's model, as Keras trains it):
    Dense(64, relu) -> Dense(64, relu) -> Dense(1, sigmoid), Glorot-uniform kernels, zero biases
    compile(optimizer=Adam(learning_rate=1e-3), loss="binary_crossentropy")
    fit(x, y, batch_size=32, epochs=2, shuffle=False)
on a fixed data set of N = 100 rows x D = 6 features: three batches of 32 and a last partial
batch of 4 per epoch, 8 optimizer steps in all. Adam is Keras's: beta = (0.9, 0.999), epsilon
1e-7 added to sqrt(v) with the bias correction folded into the step size (notes/optimizers.md
O13). On the TensorFlow backend, `fit` computes binary cross-entropy from the sigmoid's
logits (notes/losses.md section 3), i.e. glassbox's `bce_with_logits` on the last layer's
pre-activation.

Data: x = integers in [-256, 256) / 256 (exact in float32 and in short decimals), drawn from
numpy's default_rng(20240607); y = 1 where x @ w + 0.3 * noise > 0 for a fixed random w.

Exported (all float32):
- "x" (N rows of D numbers) and "y" (N rows of 1);
- "initial", "after_epoch_1", "final": the weights, each layer as {"kernel": hex, "bias": hex,
  "kernel_shape": [D, H]}. Each hex string is the concatenated IEEE-754 bit patterns of the
  values (8 hex digits per float32, big-endian digits of the 32-bit pattern: 3f800000 = 1.0),
  the kernel row-major in Keras's (D, H) layout (glassbox's weight is its transpose);
- "step_loss": per optimizer step, the mean binary cross-entropy from logits of the batch at
  the weights the step starts from (recomputed in float32 with tf.nn ops in on_train_batch_begin:
  the loss that step differentiates);
- "running_loss": per step, Keras's logs["loss"] after the step: the running mean of the
  epoch's batch losses, weighted by batch size (Keras's progress-bar loss).
The script checks that the running means are reproduced from "step_loss" (so the step losses
are the ones `fit` computed) before writing.
"""

import json
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "keras_golden.json")
N, D, BATCH, EPOCHS = 100, 6, 32, 2


def hex_f32(a):
    a = np.ascontiguousarray(a, dtype=np.float32)
    return "".join(f"{v:08x}" for v in a.view(np.uint32).ravel())


def weights_record(model):
    layers = []
    for layer in model.layers:
        kernel, bias = (w.numpy() for w in layer.weights)
        layers.append(
            {
                "kernel_shape": list(kernel.shape),
                "kernel": hex_f32(kernel),
                "bias": hex_f32(bias),
            }
        )
    return layers


def bce_from_logits(model, xb, yb):
    """Mean BCE from the last layer's logits, float32, at the model's current weights."""
    h = tf.constant(xb)
    for i, layer in enumerate(model.layers):
        kernel, bias = layer.weights
        z = tf.matmul(h, kernel) + bias
        h = tf.nn.relu(z) if i < len(model.layers) - 1 else z
    return float(tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=yb, logits=h)))


class Recorder(keras.callbacks.Callback):
    def __init__(self, x, y):
        super().__init__()
        self.x, self.y = x, y
        self.step_loss, self.running_loss, self.after_epoch = [], [], []

    def on_train_batch_begin(self, batch, logs=None):
        rows = slice(batch * BATCH, min((batch + 1) * BATCH, N))
        self.step_loss.append(bce_from_logits(self.model, self.x[rows], self.y[rows]))

    def on_train_batch_end(self, batch, logs=None):
        self.running_loss.append(float(logs["loss"]))

    def on_epoch_end(self, epoch, logs=None):
        self.after_epoch.append(weights_record(self.model))


def main():
    rng = np.random.default_rng(20240607)
    x = (rng.integers(-256, 256, size=(N, D)) / 256).astype(np.float32)
    w = rng.normal(size=D)
    y = ((x @ w + 0.3 * rng.normal(size=N)) > 0).astype(np.float32)[:, None]

    keras.utils.set_random_seed(7)
    model = keras.Sequential(
        [
            keras.Input((D,)),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-3), loss="binary_crossentropy")
    initial = weights_record(model)
    rec = Recorder(x, y)
    model.fit(x, y, batch_size=BATCH, epochs=EPOCHS, shuffle=False, verbose=0, callbacks=[rec])

    steps = EPOCHS * -(-N // BATCH)
    assert len(rec.step_loss) == steps == len(rec.running_loss), (len(rec.step_loss), steps)
    # The running mean of the recomputed step losses is Keras's logs["loss"].
    sizes = [min(BATCH, N - b * BATCH) for b in range(-(-N // BATCH))]
    per_epoch = len(sizes)
    worst = 0.0
    for e in range(EPOCHS):
        total, count = 0.0, 0
        for b, n in enumerate(sizes):
            total += rec.step_loss[e * per_epoch + b] * n
            count += n
            worst = max(worst, abs(total / count - rec.running_loss[e * per_epoch + b]))
    assert worst < 1e-6, worst
    print(f"running means reproduced from the step losses to {worst:.2e}")

    golden = {
        "versions": {
            "tensorflow": tf.__version__,
            "keras": keras.__version__,
            "numpy": np.__version__,
            "backend": keras.backend.backend(),
        },
        "recipe": "Dense(64, relu) -> Dense(64, relu) -> Dense(1, sigmoid); glorot_uniform, zero bias; "
        "Adam(learning_rate=1e-3) Keras defaults; loss='binary_crossentropy'; "
        "fit(batch_size=32, epochs=2, shuffle=False)",
        "n": N,
        "d": D,
        "batch_size": BATCH,
        "epochs": EPOCHS,
        "x": x.astype(float).tolist(),
        "y": y.astype(float).tolist(),
        "initial": initial,
        "after_epoch_1": rec.after_epoch[0],
        "final": rec.after_epoch[1],
        "step_loss": rec.step_loss,
        "running_loss": rec.running_loss,
    }
    with open(OUT, "w") as f:
        json.dump(golden, f, indent=1)
        f.write("\n")
    print(f"wrote {OUT}: {steps} steps, step losses {[round(v, 6) for v in rec.step_loss]}")


if __name__ == "__main__":
    main()
