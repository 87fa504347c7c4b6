"""JAX peer: jitted train step (value_and_grad + optax.adam), float32, XLA CPU backend.

    /work/venv/bin/python benches/peers/jax_runner.py --data /tmp/glassbox-peers \
        --workload train_b32 [--threads 1] [--repeats 1] [--warmup 1] [--quick]

One jax.jit-compiled function per optimiser step (the usual optax training loop), with params and
optimiser state donated. The whole data slice is put on the device once, outside the timing, and
each step cuts its batch with lax.dynamic_slice inside the compiled function, so a step is one
dispatch with no host-to-device copy. Inference is one jitted forward per 4096-row chunk (a second
compilation for the short last chunk, done in the warm-up). Compilation is excluded: the warm-up
passes (--warmup, default 1) run the same compiled functions first.

Threads: JAX has no thread-count setting (jax-ml/jax#1539 is still open). XLA's CPU client sizes
its thread pool to the CPUs the process may run on, so for T below the core count this runner
restricts its own CPU affinity to the first T cores (os.sched_setaffinity) before importing jax,
the method a JAX maintainer recommends in #1539; for T = 1 it also sets
XLA_FLAGS="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1" (the recipe from
jax-ml/jax#743). The flags alone are not enough: unpinned, the "1 thread" run was seen using 1.4
cores (cpu_util in the JSON), because dispatch and compute run on different threads. For T equal
to the core count nothing is set. drive.py pins every runner the same way, see the README.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

ARGS = common.parse_args()
common.apply_thread_env("jax", ARGS.threads)
AFFINITY = None
if ARGS.threads < len(os.sched_getaffinity(0)):
    AFFINITY = sorted(os.sched_getaffinity(0))[:ARGS.threads]
    os.sched_setaffinity(0, AFFINITY)

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import optax  # noqa: E402

RUNNER = "jax"


def forward(params, x):
    h = x
    for i, (w, b) in enumerate(params):
        h = h @ w + b
        if i < len(params) - 1:
            h = jax.nn.relu(h)
    return h[:, 0]


def loss_fn(params, x, y):
    return optax.sigmoid_binary_cross_entropy(forward(params, x), y).mean()


def main() -> None:
    a = ARGS
    spec = common.workload_spec(a.workload, a.quick)
    meta = common.load_meta(a.data)
    params = [(jnp.asarray(w), jnp.asarray(b)) for w, b in common.load_init(a.data, meta, spec["model"])]

    if spec["kind"] == "startup":
        x, _ = common.load_xy(a.data, meta, 1)
        p = float(forward(params, jnp.asarray(x))[0])
        common.emit_prediction(RUNNER, p, {"jax": jax.__version__})
        return

    vers = common.base_versions()
    vers.update({"jax": jax.__version__, "jaxlib": jax.lib.__version__ if hasattr(jax.lib, "__version__")
                 else None, "optax": optax.__version__, "backend": jax.default_backend(),
                 "devices": [str(d) for d in jax.devices()], "affinity": AFFINITY})

    if spec["kind"] == "train":
        b, steps = spec["batch"], spec["steps"]
        xn, yn = common.load_xy(a.data, meta, spec["samples"])
        x, y = jax.device_put(xn), jax.device_put(yn)
        ad = common.ADAM
        opt = optax.adam(ad["lr"], b1=ad["beta1"], b2=ad["beta2"], eps=ad["eps"])
        opt_state = opt.init(params)

        def step(params, opt_state, total, x, y, i):
            xb = jax.lax.dynamic_slice_in_dim(x, i * b, b)
            yb = jax.lax.dynamic_slice_in_dim(y, i * b, b)
            loss, grads = jax.value_and_grad(loss_fn)(params, xb, yb)
            updates, opt_state = opt.update(grads, opt_state, params)
            return optax.apply_updates(params, updates), opt_state, total + loss

        step = jax.jit(step, donate_argnums=(0, 1, 2))
        state = {"params": params, "opt": opt_state}

        def one_pass():
            p, o, total = state["params"], state["opt"], jnp.zeros((), jnp.float32)
            for s in range(steps):
                p, o, total = step(p, o, total, x, y, s)
            total = float(total)  # blocks until the last step has run
            state["params"], state["opt"] = p, o
            return total / steps
    else:
        b, rows = spec["batch"], spec["rows"]
        xn, _ = common.load_xy(a.data, meta, rows)
        x = jax.device_put(xn)

        @jax.jit
        def chunk_sum(params, x, start):
            return forward(params, jax.lax.dynamic_slice_in_dim(x, start, b)).sum()

        tail = rows % b

        @jax.jit
        def tail_sum(params, x):
            return forward(params, x[rows - tail:]).sum()

        def one_pass():
            acc = jnp.zeros((), jnp.float32)
            for s in range(0, rows - tail, b):
                acc = acc + chunk_sum(params, x, s)
            if tail:
                acc = acc + tail_sum(params, x)
            return float(acc) / rows

    common.run_passes(RUNNER, spec, a, vers, one_pass)


if __name__ == "__main__":
    main()
