"""Reference fixtures for glassbox-train: losses, optimizers, gradient clipping, schedules.

Run from the repository root (no arguments; about a minute, CPU only):

    /work/venv/bin/python crates/train/tests/reference/make_train_fixtures.py

It writes crates/train/tests/reference/train_fixtures.json, read by crates/train/tests/losses_reference.rs and
crates/train/tests/optimizers_reference.rs. The committed fixture was produced with torch 2.15.0+cu132
(run on CPU), keras 3.15.1, tensorflow 2.21.0, jax 0.10.2, numpy 2.4.6, scikit-learn 1.9.1,
Python 3.11.7. The script runs itself three times as child processes, one per framework
(GLASSBOX_PART = torch, keras with the TensorFlow backend, jax with Keras's JAX backend and
float64 enabled): PyTorch's optimizers load triton, whose LLVM aborts the process when
TensorFlow's is loaded too.

What each part computes:
- losses: value and gradient (with respect to the loss's input) from PyTorch (autograd) and
  Keras (`tf.GradientTape`), in float64 and float32, with sample weights, `pos_weight`,
  and two `model.fit` experiments that show what Keras's training loop really computes:
  (a) TensorFlow backend, Dense(sigmoid) + "binary_crossentropy": rewritten to logits;
  (b) JAX backend, the same model: the clipped-probability formula;
  (c) `class_weight=` in `fit`: per-sample weights, mean still divided by N.
  In (a)-(c) the inputs are the identity matrix, the Dense kernel holds the logits and one
  SGD step with lr = 1 moves it by exactly -dL/dz, so dL/dz = z_before - z_after.
- optimizers: 10 steps on a fixed least-squares problem, loss = |X theta - y|^2 / (2N).
  The gradient is computed here in plain Python floats, in the same order as the Rust test,
  and handed to each framework (p.grad / apply_gradients), so both sides see bit-identical
  gradients and any difference comes from the optimizer alone. The Keras runs use
  float32-exact hyper-parameters (see keras_optimizer_runs).
- clipping: torch.nn.utils.clip_grad_norm_ over two tensors (= our one flat buffer).
- schedules: the lr PyTorch's schedulers actually hand the optimizer at each step.
"""

import json
import os
import subprocess
import sys
import tempfile

# One child process per framework (see the docstring); the parent merges their output.
PART = os.environ.get("GLASSBOX_PART", "")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
if PART == "keras":
    os.environ["KERAS_BACKEND"] = "tensorflow"
elif PART == "jax":
    os.environ["KERAS_BACKEND"] = "jax"

import numpy as np  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "train_fixtures.json")
TORCH_DTYPE = {}
NP_DTYPE = {"f64": "float64", "f32": "float32"}


def tolist(a):
    return np.asarray(a, dtype=np.float64).tolist()


# ---------------------------------------------------------------- Keras fit experiments
def keras_fit_step(z, y, dtype, activation, make_loss, class_weight=None):
    """One full-batch SGD(lr=1) step of Dense(1, no bias) on identity inputs; make_loss()
    is called after floatx is set.

    Returns (reported loss, dL/dz) where z is the kernel = the logits of the N rows.
    """
    keras.config.set_floatx(dtype)
    n = len(z)
    model = keras.Sequential(
        [keras.Input((n,), dtype=dtype), keras.layers.Dense(1, use_bias=False, activation=activation)]
    )
    model.layers[0].set_weights([np.asarray(z, dtype=dtype).reshape(n, 1)])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=1.0), loss=make_loss())
    x = np.eye(n, dtype=dtype)
    yy = np.asarray(y, dtype=dtype).reshape(n, 1)
    hist = model.fit(x, yy, batch_size=n, epochs=1, shuffle=False, verbose=0, class_weight=class_weight)
    after = model.layers[0].get_weights()[0].reshape(n)
    grad = np.asarray(z, dtype=dtype) - after
    return float(hist.history["loss"][0]), grad


SIGMOID_Z = [-20.0, -6.5, -1.25, 0.0, 0.5, 3.0, 17.0, 25.0]
SIGMOID_Y = [0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 1.0, 0.0]
# Imbalanced labels (6 negative, 2 positive) for the class_weight experiment.
CW_Y = [0.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0]


def jax_part():
    """Runs under KERAS_BACKEND=jax (x64 on) and prints one JSON object."""
    import jax

    jax.config.update("jax_enable_x64", True)
    global keras
    import keras

    assert keras.backend.backend() == "jax"
    loss, grad = keras_fit_step(SIGMOID_Z, SIGMOID_Y, "float64", "sigmoid", lambda: "binary_crossentropy")
    col = [[z] for z in SIGMOID_Z]
    ycol = [[y] for y in SIGMOID_Y]
    return {
        "versions": {"jax": jax.__version__},
        "losses": [
            case("keras_fit_sigmoid_bce_jax_f64", "bce_keras_through_sigmoid", "f64", f"keras model.fit, JAX {jax.__version__} backend, Dense(1, sigmoid) + 'binary_crossentropy': dL/dz from one SGD(lr=1) step", col, ycol, loss, np.asarray(grad).reshape(-1, 1))
        ],
    }


# ---------------------------------------------------------------- losses
def case(name, loss, dtype, reference, inputs, targets, value, grad, **extra):
    d = {
        "name": name,
        "loss": loss,
        "dtype": dtype,
        "reference": reference,
        "inputs": tolist(inputs),
        "targets": targets if isinstance(targets, list) and targets and isinstance(targets[0], int) else tolist(targets),
        "sample_weights": None,
        "class_weights": None,
        "pos_weight": None,
        "value": float(value),
        "grad": tolist(grad),
    }
    d.update(extra)
    return d


def torch_loss(fn, x, dtype):
    xt = torch.tensor(x, dtype=TORCH_DTYPE[dtype], requires_grad=True)
    val = fn(xt)
    val.backward()
    return val.item(), xt.grad.numpy()


def keras_loss(make_loss, y, x, sw, dtype):
    """make_loss builds the loss object after floatx is set: a Keras Loss computes in the
    floatx of its construction."""
    keras.config.set_floatx(NP_DTYPE[dtype])
    loss_obj = make_loss()
    xv = tf.Variable(np.asarray(x, dtype=NP_DTYPE[dtype]))
    yt = tf.constant(np.asarray(y, dtype=NP_DTYPE[dtype]))
    swt = None if sw is None else tf.constant(np.asarray(sw, dtype=NP_DTYPE[dtype]))
    with tf.GradientTape() as tape:
        val = loss_obj(yt, xv, sample_weight=swt)
    return float(val.numpy()), tape.gradient(val, xv).numpy()


MSE_YHAT = [[0.5, -1.25, 2.0], [0.1, 3.0, -0.7], [1.5, 0.0, 0.25], [-2.0, 0.8, 1.1], [0.3, -0.4, 4.0]]
MSE_Y = [[1.0, -1.0, 1.5], [0.0, 2.0, 0.0], [1.0, 1.0, 0.0], [-1.5, 0.5, 2.0], [0.0, 0.0, 3.0]]
SW5 = [1.0, 0.5, 2.0, 1.5, 0.25]

BCE_Z = [[-30.0], [-4.5], [-1.25], [-0.5], [0.0], [0.75], [2.0], [12.0]]
BCE_Y = [[0.0], [1.0], [0.0], [1.0], [1.0], [0.0], [1.0], [1.0]]
SW8 = [1.0, 0.5, 2.0, 1.5, 0.25, 1.0, 3.0, 0.75]
BCE2_Z = [[0.5, -1.0], [2.5, 0.25], [-3.0, 1.5], [0.0, -0.75]]
BCE2_Y = [[1.0, 0.0], [1.0, 1.0], [0.0, 1.0], [0.0, 0.0]]
SW4 = [2.0, 0.5, 1.0, 1.5]

# Probabilities for the Keras BCE: inside the clip range and outside it (both sides).
BCEK_P = [[0.0], [1e-9], [0.03], [0.25], [0.5], [0.8], [0.999], [0.999999999], [1.0]]
BCEK_Y = [[0.0], [1.0], [1.0], [0.0], [1.0], [1.0], [0.0], [0.0], [1.0]]
SW9 = [1.0, 2.0, 0.5, 1.0, 1.5, 0.25, 1.0, 3.0, 0.5]

CE_Z = [[0.5, -1.25, 2.0, 0.0], [0.1, 3.0, -0.7, 1.0], [1000.0, 0.0, -1000.0, 999.0], [-2.0, 0.8, 1.1, 1.1], [0.3, -0.4, 4.0, -5.0]]
CE_IDX = [2, 0, 3, 1, 2]
CE_SOFT = [[0.0, 0.0, 1.0, 0.0], [0.25, 0.25, 0.25, 0.25], [0.5, 0.0, 0.0, 0.5], [0.0, 0.9, 0.1, 0.0], [0.2, 0.2, 0.5, 0.1]]


def onehot(idx, o):
    return [[1.0 if j == i else 0.0 for j in range(o)] for i in idx]


def torch_loss_cases():
    out = []
    nn = torch.nn
    for dt in ["f64", "f32"]:
        yt = torch.tensor(MSE_Y, dtype=TORCH_DTYPE[dt])
        v, g = torch_loss(lambda x: nn.MSELoss()(x, yt), MSE_YHAT, dt)
        out.append(case(f"mse_torch_{dt}", "mse", dt, "torch.nn.MSELoss()", MSE_YHAT, MSE_Y, v, g))
    for dt in ["f64", "f32"]:
        yt = torch.tensor(BCE_Y, dtype=TORCH_DTYPE[dt])
        v, g = torch_loss(lambda x: nn.BCEWithLogitsLoss()(x, yt), BCE_Z, dt)
        out.append(case(f"bce_logits_torch_{dt}", "bce_with_logits", dt, "torch.nn.BCEWithLogitsLoss()", BCE_Z, BCE_Y, v, g))
    yt = torch.tensor(BCE_Y, dtype=torch.float64)
    wt = torch.tensor(SW8, dtype=torch.float64).reshape(-1, 1)
    v, g = torch_loss(lambda x: nn.BCEWithLogitsLoss(weight=wt)(x, yt), BCE_Z, "f64")
    out.append(case("bce_logits_torch_weighted_f64", "bce_with_logits", "f64", "torch.nn.BCEWithLogitsLoss(weight=w[:, None])", BCE_Z, BCE_Y, v, g, sample_weights=SW8))
    for dt in ["f64", "f32"]:
        yt = torch.tensor(BCE_Y, dtype=TORCH_DTYPE[dt])
        wt = torch.tensor(SW8, dtype=TORCH_DTYPE[dt]).reshape(-1, 1)
        pw = torch.tensor([3.0], dtype=TORCH_DTYPE[dt])
        v, g = torch_loss(lambda x: nn.BCEWithLogitsLoss(weight=wt, pos_weight=pw)(x, yt), BCE_Z, dt)
        out.append(case(f"bce_logits_torch_pos_weight_{dt}", "bce_with_logits", dt, "torch.nn.BCEWithLogitsLoss(weight=w[:, None], pos_weight=[3.0])", BCE_Z, BCE_Y, v, g, sample_weights=SW8, pos_weight=3.0))
    yt = torch.tensor(BCE2_Y, dtype=torch.float64)
    wt = torch.tensor(SW4, dtype=torch.float64).reshape(-1, 1)
    v, g = torch_loss(lambda x: nn.BCEWithLogitsLoss(weight=wt)(x, yt), BCE2_Z, "f64")
    out.append(case("bce_logits_torch_two_outputs_f64", "bce_with_logits", "f64", "torch.nn.BCEWithLogitsLoss(weight=w[:, None]) on (N, 2)", BCE2_Z, BCE2_Y, v, g, sample_weights=SW4))
    for dt in ["f64", "f32"]:
        it = torch.tensor(CE_IDX)
        v, g = torch_loss(lambda x: nn.CrossEntropyLoss()(x, it), CE_Z, dt)
        out.append(case(f"softmax_ce_torch_indices_{dt}", "softmax_cross_entropy", dt, "torch.nn.CrossEntropyLoss()(z, indices)", CE_Z, CE_IDX, v, g))
    pt = torch.tensor(CE_SOFT, dtype=torch.float64)
    wt = torch.tensor(SW5, dtype=torch.float64)
    v, g = torch_loss(lambda x: (nn.CrossEntropyLoss(reduction="none")(x, pt) * wt).sum() / len(SW5), CE_Z, "f64")
    out.append(case("softmax_ce_torch_soft_weighted_f64", "softmax_cross_entropy", "f64", "(torch.nn.CrossEntropyLoss(reduction='none')(z, probs) * w).sum() / N", CE_Z, CE_SOFT, v, g, sample_weights=SW5))
    return out


def keras_loss_cases():
    from sklearn.utils.class_weight import compute_class_weight

    out = []
    v, g = keras_loss(lambda: keras.losses.MeanSquaredError(), MSE_Y, MSE_YHAT, SW5, "f64")
    out.append(case("mse_keras_weighted_f64", "mse", "f64", "keras.losses.MeanSquaredError()(y, y_hat, sample_weight)", MSE_YHAT, MSE_Y, v, g, sample_weights=SW5))
    v, g = keras_loss(lambda: keras.losses.BinaryCrossentropy(from_logits=True), BCE2_Y, BCE2_Z, SW4, "f64")
    out.append(case("bce_logits_keras_two_outputs_f64", "bce_with_logits", "f64", "keras.losses.BinaryCrossentropy(from_logits=True)(y, z, sample_weight)", BCE2_Z, BCE2_Y, v, g, sample_weights=SW4))
    for dt in ["f64", "f32"]:
        v, g = keras_loss(lambda: keras.losses.BinaryCrossentropy(), BCEK_Y, BCEK_P, SW9, dt)
        out.append(case(f"bce_keras_probabilities_{dt}", "bce_keras", dt, "keras.losses.BinaryCrossentropy()(y, p, sample_weight) on a tf.Variable p", BCEK_P, BCEK_Y, v, g, sample_weights=SW9))
    v, g = keras_loss(lambda: keras.losses.CategoricalCrossentropy(from_logits=True), onehot(CE_IDX, 4), CE_Z, SW5, "f64")
    out.append(case("softmax_ce_keras_weighted_f64", "softmax_cross_entropy", "f64", "keras.losses.CategoricalCrossentropy(from_logits=True)(onehot, z, sample_weight)", CE_Z, onehot(CE_IDX, 4), v, g, sample_weights=SW5))

    col = [[z] for z in SIGMOID_Z]
    ycol = [[y] for y in SIGMOID_Y]
    # (a) TensorFlow backend: fit of Dense(sigmoid) with "binary_crossentropy".
    v, g = keras_fit_step(SIGMOID_Z, SIGMOID_Y, "float64", "sigmoid", lambda: "binary_crossentropy")
    out.append(case("keras_fit_sigmoid_bce_tensorflow_f64", "bce_with_logits", "f64", "keras model.fit, TF backend, Dense(1, sigmoid) + 'binary_crossentropy': dL/dz from one SGD(lr=1) step", col, ycol, v, g.reshape(-1, 1)))
    # (c) class_weight in fit (logits loss, linear output). The weights are not sklearn's
    # balanced ones: those always sum to N, which would hide whether Keras divides by N or
    # by the summed weights. The balanced weights are recorded for ClassWeights::balanced.
    counts = (CW_Y.count(0.0), CW_Y.count(1.0))
    bal = compute_class_weight("balanced", classes=np.array([0.0, 1.0]), y=np.array(CW_Y))
    cw = {0: 0.5, 1: 3.0}
    v, g = keras_fit_step(SIGMOID_Z, CW_Y, "float64", None, lambda: keras.losses.BinaryCrossentropy(from_logits=True), class_weight=cw)
    out.append(case("keras_fit_class_weight_f64", "bce_with_logits", "f64", "keras model.fit(class_weight={0: 0.5, 1: 3.0}), linear Dense(1) + BinaryCrossentropy(from_logits=True)", col, [[y] for y in CW_Y], v, g.reshape(-1, 1), class_weights={"negative": cw[0], "positive": cw[1]}, label_counts=list(counts), sklearn_balanced={"negative": float(bal[0]), "positive": float(bal[1])}))
    return out


# ---------------------------------------------------------------- optimizers
X = [
    [1.0, 0.5, -1.0, 2.0, 0.0],
    [0.25, -1.5, 1.0, 0.0, 1.0],
    [2.0, 1.0, 0.5, -0.5, -1.0],
    [-1.0, 0.0, 1.5, 1.0, 0.5],
    [0.5, 2.0, -0.25, 1.0, 1.5],
    [1.5, -0.5, 0.0, -1.0, 2.0],
    [0.0, 1.0, 2.0, 0.5, -0.5],
    [-0.5, 0.75, 1.0, 1.5, 1.0],
]
Y = [1.0, -2.0, 0.5, 3.0, -1.0, 2.0, 0.0, 1.5]
THETA0 = [0.5, -0.25, 1.0, 0.0, -1.5]
STEPS = 10


def lsq(theta):
    """loss = sum_n r_n^2 / (2N), g_j = sum_n X_nj r_n / N; sums in index order from 0.0."""
    n, p = len(X), len(theta)
    r = []
    for i in range(n):
        s = 0.0
        for j in range(p):
            s += X[i][j] * theta[j]
        r.append(s - Y[i])
    loss = 0.0
    for i in range(n):
        loss += r[i] * r[i]
    g = []
    for j in range(p):
        s = 0.0
        for i in range(n):
            s += X[i][j] * r[i]
        g.append(s / n)
    return loss / (2 * n), g


def run_torch(make_opt, dt, make_sched=None, clip=None):
    p = torch.tensor(THETA0, dtype=TORCH_DTYPE[dt], requires_grad=True)
    opt = make_opt([p])
    sched = make_sched(opt) if make_sched else None
    thetas, losses, lrs, norms = [], [], [], []
    for _ in range(STEPS):
        loss, g = lsq([float(v) for v in p.detach()])
        p.grad = torch.tensor(g, dtype=TORCH_DTYPE[dt])
        if clip is not None:
            norms.append(float(torch.nn.utils.clip_grad_norm_([p], clip)))
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        if sched:
            sched.step()
        losses.append(loss)
        thetas.append(tolist(p.detach()))
    return thetas, losses, lrs, norms


def run_keras(make_opt, dt):
    keras.config.set_floatx(NP_DTYPE[dt])
    v = keras.Variable(np.asarray(THETA0, dtype=NP_DTYPE[dt]), dtype=NP_DTYPE[dt])
    opt = make_opt()
    thetas, losses, lrs = [], [], []
    for _ in range(STEPS):
        loss, g = lsq([float(t) for t in np.asarray(v.numpy(), dtype=np.float64)])
        lr = opt.learning_rate
        lrs.append(float(lr.numpy() if hasattr(lr, "numpy") else lr))
        opt.apply_gradients([(tf.constant(np.asarray(g, dtype=NP_DTYPE[dt])), v)])
        losses.append(loss)
        thetas.append(tolist(v.numpy()))
    return thetas, losses, lrs, []


def collect(specs):
    out = []
    for name, dt, ref, fn in specs:
        thetas, losses, lrs, norms = fn()
        out.append({"name": name, "dtype": dt, "reference": ref, "thetas": thetas, "losses": losses, "lrs": lrs, "clip_norms": norms})
    return out


def torch_optimizer_runs():
    O = torch.optim
    S = O.lr_scheduler

    def warm_cos(opt):
        return S.SequentialLR(
            opt,
            [S.LinearLR(opt, start_factor=1 / 3, end_factor=1.0, total_iters=2), S.CosineAnnealingLR(opt, T_max=7, eta_min=0.001)],
            milestones=[3],
        )

    def run(make_opt, dt="f64", make_sched=None, clip=None):
        return lambda: run_torch(make_opt, dt, make_sched, clip)

    return collect(
        [
            ("torch_sgd", "f64", "SGD(lr=0.05)", run(lambda p: O.SGD(p, lr=0.05))),
            ("torch_sgd_momentum", "f64", "SGD(lr=0.05, momentum=0.9)", run(lambda p: O.SGD(p, lr=0.05, momentum=0.9))),
            ("torch_sgd_nesterov", "f64", "SGD(lr=0.05, momentum=0.9, nesterov=True)", run(lambda p: O.SGD(p, lr=0.05, momentum=0.9, nesterov=True))),
            ("torch_sgd_momentum_l2", "f64", "SGD(lr=0.05, momentum=0.9, weight_decay=0.1)", run(lambda p: O.SGD(p, lr=0.05, momentum=0.9, weight_decay=0.1))),
            ("torch_sgd_momentum_steplr", "f64", "SGD(lr=0.05, momentum=0.9) + StepLR(step_size=3, gamma=0.5)", run(lambda p: O.SGD(p, lr=0.05, momentum=0.9), make_sched=lambda o: S.StepLR(o, step_size=3, gamma=0.5))),
            ("torch_sgd_clip", "f64", "SGD(lr=0.05) after clip_grad_norm_(max_norm=0.5)", run(lambda p: O.SGD(p, lr=0.05), clip=0.5)),
            ("torch_rmsprop", "f64", "RMSprop(lr=0.01) (alpha=0.99, eps=1e-8)", run(lambda p: O.RMSprop(p, lr=0.01))),
            ("torch_adam", "f64", "Adam(lr=0.05)", run(lambda p: O.Adam(p, lr=0.05))),
            ("torch_adam", "f32", "Adam(lr=0.05), float32", run(lambda p: O.Adam(p, lr=0.05), "f32")),
            ("torch_adamw", "f64", "AdamW(lr=0.05, weight_decay=0.1)", run(lambda p: O.AdamW(p, lr=0.05, weight_decay=0.1))),
            ("torch_adam_l2", "f64", "Adam(lr=0.05, weight_decay=0.1)", run(lambda p: O.Adam(p, lr=0.05, weight_decay=0.1))),
            ("torch_adam_warmup_cosine", "f64", "Adam(lr=0.05) + SequentialLR([LinearLR(1/3, total_iters=2), CosineAnnealingLR(T_max=7, eta_min=0.001)], milestones=[3])", run(lambda p: O.Adam(p, lr=0.05), make_sched=warm_cos)),
        ]
    )


def keras_optimizer_runs():
    """Keras 3 casts some Python-float hyper-parameters with ops.cast(x, variable.dtype),
    which in TensorFlow goes through float32: ops.cast(0.9, "float64") == 0.8999999761581421.
    SGD's momentum, Adam's beta_1/beta_2 (in the bias-correction powers only) and the
    weight decay are affected; the lr (a float64 variable), 1 - beta, rho and epsilon are
    not. So these runs use hyper-parameters that float32 represents exactly (0.875,
    1 - 2**-10, 0.125), and a float64 Keras run can be compared to ~1e-16."""
    K = keras.optimizers

    def run(make_opt, dt="f64"):
        return lambda: run_keras(make_opt, dt)

    b1, b2 = 0.875, 1 - 2**-10
    piecewise = lambda: K.schedules.PiecewiseConstantDecay([2, 5, 8], [0.05, 0.025, 0.0125, 0.00625])  # noqa: E731
    return collect(
        [
            ("keras_sgd_momentum", "f64", "keras SGD(learning_rate=0.05, momentum=0.875)", run(lambda: K.SGD(learning_rate=0.05, momentum=0.875))),
            ("keras_sgd_momentum_piecewise", "f64", "keras SGD(momentum=0.875, learning_rate=PiecewiseConstantDecay([2, 5, 8], [0.05, 0.025, 0.0125, 0.00625]))", run(lambda: K.SGD(learning_rate=piecewise(), momentum=0.875))),
            ("keras_rmsprop", "f64", "keras RMSprop(learning_rate=0.01) (rho=0.9, epsilon=1e-7)", run(lambda: K.RMSprop(learning_rate=0.01))),
            ("keras_adam", "f64", "keras Adam(learning_rate=0.05, beta_1=0.875, beta_2=1-2**-10) (epsilon=1e-7)", run(lambda: K.Adam(learning_rate=0.05, beta_1=b1, beta_2=b2))),
            ("keras_adam", "f32", "keras Adam(learning_rate=0.05, beta_1=0.875, beta_2=1-2**-10), float32", run(lambda: K.Adam(learning_rate=0.05, beta_1=b1, beta_2=b2), "f32")),
            ("keras_adamw", "f64", "keras AdamW(learning_rate=0.05, beta_1=0.875, beta_2=1-2**-10, weight_decay=0.125)", run(lambda: K.AdamW(learning_rate=0.05, beta_1=b1, beta_2=b2, weight_decay=0.125))),
        ]
    )


# ---------------------------------------------------------------- clipping and schedules
def clipping_cases():
    g1 = [0.5, -1.25, 2.0, 0.0]
    g2 = [3.0, -0.75, 1.5]
    out = []
    for dt in ["f64", "f32"]:
        for max_norm in [1.0, 100.0]:
            ts = [torch.nn.Parameter(torch.zeros(len(g), dtype=TORCH_DTYPE[dt])) for g in (g1, g2)]
            for t, g in zip(ts, (g1, g2)):
                t.grad = torch.tensor(g, dtype=TORCH_DTYPE[dt])
            norm = torch.nn.utils.clip_grad_norm_(ts, max_norm)
            out.append({"dtype": dt, "grads": g1 + g2, "max_norm": max_norm, "norm": float(norm), "clipped": tolist(torch.cat([t.grad for t in ts]))})
    return out


def lr_sequence(make_sched, base, steps):
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=base)
    sched = make_sched(opt)
    lrs = []
    for _ in range(steps):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return lrs


def schedule_cases():
    S = torch.optim.lr_scheduler
    out = []
    out.append({"name": "step", "reference": "StepLR(step_size=4, gamma=0.5)", "base_lr": 0.1, "lrs": lr_sequence(lambda o: S.StepLR(o, step_size=4, gamma=0.5), 0.1, 20)})
    cos = lambda o: S.CosineAnnealingLR(o, T_max=10, eta_min=0.001)  # noqa: E731
    out.append({"name": "cosine", "reference": "CosineAnnealingLR(T_max=10, eta_min=0.001), stepped (recursive form)", "base_lr": 0.1, "lrs": lr_sequence(cos, 0.1, 11)})
    closed = []
    for t in range(11):
        p = torch.nn.Parameter(torch.zeros(1))
        opt = torch.optim.SGD([p], lr=0.1)
        s = cos(opt)
        s.last_epoch = t
        closed.append(s._get_closed_form_lr()[0])
    out.append({"name": "cosine_closed_form", "reference": "CosineAnnealingLR(T_max=10, eta_min=0.001)._get_closed_form_lr()", "base_lr": 0.1, "lrs": closed})
    wc = lambda o: S.SequentialLR(o, [S.LinearLR(o, start_factor=1 / 3, end_factor=1.0, total_iters=2), S.CosineAnnealingLR(o, T_max=7, eta_min=0.001)], milestones=[3])  # noqa: E731
    out.append({"name": "warmup_cosine", "reference": "SequentialLR([LinearLR(start_factor=1/3, total_iters=2), CosineAnnealingLR(T_max=7, eta_min=0.001)], milestones=[3])", "base_lr": 0.05, "lrs": lr_sequence(wc, 0.05, 10)})
    ws = lambda o: S.SequentialLR(o, [S.LinearLR(o, start_factor=1 / 4, end_factor=1.0, total_iters=3), S.StepLR(o, step_size=5, gamma=0.1)], milestones=[4])  # noqa: E731
    out.append({"name": "warmup_step", "reference": "SequentialLR([LinearLR(start_factor=1/4, total_iters=3), StepLR(step_size=5, gamma=0.1)], milestones=[4])", "base_lr": 0.2, "lrs": lr_sequence(ws, 0.2, 16)})
    return out


def torch_part():
    global torch
    import torch

    TORCH_DTYPE.update({"f64": torch.float64, "f32": torch.float32})
    return {
        "versions": {"torch": torch.__version__},
        "losses": torch_loss_cases(),
        "optimizers": torch_optimizer_runs(),
        "clipping": clipping_cases(),
        "schedules": schedule_cases(),
    }


def keras_part():
    global keras, tf
    import keras
    import sklearn
    import tensorflow as tf

    assert keras.backend.backend() == "tensorflow"
    return {
        "versions": {"keras": keras.__version__, "tensorflow": tf.__version__, "sklearn": sklearn.__version__},
        "losses": keras_loss_cases(),
        "optimizers": keras_optimizer_runs(),
    }


def main():
    fixture = {
        "generated_by": "crates/train/tests/reference/make_train_fixtures.py",
        "versions": {"numpy": np.__version__, "python": sys.version.split()[0]},
        "losses": [],
        "problem": {"x": X, "y": Y, "theta0": THETA0, "steps": STEPS},
        "optimizers": [],
        "clipping": [],
        "schedules": [],
    }
    for part in ["torch", "keras", "jax"]:
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "part.json")
            env = dict(os.environ, GLASSBOX_PART=part, GLASSBOX_PART_OUT=path)
            subprocess.run([sys.executable, os.path.abspath(__file__)], env=env, check=True)
            with open(path) as f:
                got = json.load(f)
        for key, value in got.items():
            if key == "versions":
                fixture["versions"].update(value)
            else:
                fixture[key].extend(value)
    with open(OUT, "w") as f:
        json.dump(fixture, f, indent=1)
        f.write("\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    if PART:
        result = {"torch": torch_part, "keras": keras_part, "jax": jax_part}[PART]()
        with open(os.environ["GLASSBOX_PART_OUT"], "w") as f:
            json.dump(result, f)
    else:
        main()
