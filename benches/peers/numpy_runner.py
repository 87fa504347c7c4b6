"""NumPy peer: hand-written forward, backward and Adam for the MLP, float32, BLAS matmuls.

    /work/venv/bin/python benches/peers/numpy_runner.py --data /tmp/glassbox-peers \
        --workload train_b32 [--threads 1] [--repeats 1] [--warmup 1] [--quick]

Prints one JSON line per timed repeat (see common.emit). Threads: OPENBLAS_NUM_THREADS /
OMP_NUM_THREADS / MKL_NUM_THREADS are set before NumPy is imported, and threadpoolctl limits the
BLAS pools again after import; the BLAS library, kernel ("architecture") and thread count that
threadpoolctl reports are recorded in "versions". drive.py unsets OPENBLAS_CORETYPE and
OPENBLAS_L2_SIZE for this runner only (they force an old, slower OpenBLAS kernel on this
machine); run by hand, unset them yourself to match.

All parameters live in one flat float32 vector (and the gradients in another) so that Adam is a
handful of whole-vector NumPy calls per step, not one set per tensor; that is what a careful
NumPy programmer would write and it matters at batch 32. Buffers are preallocated per batch size.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

ARGS = common.parse_args()
common.apply_thread_env("numpy", ARGS.threads)

import numpy as np  # noqa: E402

RUNNER = "numpy"


class Mlp:
    """ReLU MLP with a linear (logit) output; parameters are views into one flat vector."""

    def __init__(self, init):
        sizes = [w.size + b.size for w, b in init]
        self.flat = np.empty(sum(sizes), dtype=np.float32)
        self.grad = np.zeros_like(self.flat)
        self.params, self.grads = [], []
        off = 0
        for w, b in init:
            views = []
            for store in (self.flat, self.grad):
                wv = store[off:off + w.size].reshape(w.shape)
                bv = store[off + w.size:off + w.size + b.size]
                views.append((wv, bv))
            views[0][0][...] = w
            views[0][1][...] = b
            self.params.append(views[0])
            self.grads.append(views[1])
            off += w.size + b.size
        self._bufs = {}

    def _buffers(self, n):
        if n not in self._bufs:
            self._bufs[n] = [np.empty((n, w.shape[1]), dtype=np.float32) for w, _ in self.params]
        return self._bufs[n]

    def forward(self, x):
        """Activations per layer; the last is the logit column (n, 1)."""
        acts = self._buffers(x.shape[0])
        h = x
        last = len(self.params) - 1
        for i, (w, b) in enumerate(self.params):
            np.matmul(h, w, out=acts[i])
            acts[i] += b
            if i < last:
                np.maximum(acts[i], 0.0, out=acts[i])
            h = acts[i]
        return acts

    def loss_and_grad(self, x, y):
        """Mean BCE-from-logits; writes d loss / d params into self.grad."""
        acts = self.forward(x)
        z = acts[-1][:, 0]
        n = x.shape[0]
        # loss = mean(max(z, 0) - z*y + log1p(exp(-|z|)))
        loss = float(np.mean(np.maximum(z, 0.0) - z * y + np.log1p(np.exp(-np.abs(z)))))
        # d loss / dz = (sigmoid(z) - y) / n
        dz = np.empty((n, 1), dtype=np.float32)
        np.negative(z, out=dz[:, 0])
        np.exp(dz, out=dz)
        dz += 1.0
        np.reciprocal(dz, out=dz)
        dz[:, 0] -= y
        dz *= 1.0 / n
        d = dz
        for i in range(len(self.params) - 1, -1, -1):
            w, _ = self.params[i]
            gw, gb = self.grads[i]
            h_in = x if i == 0 else acts[i - 1]
            np.matmul(h_in.T, d, out=gw)
            np.sum(d, axis=0, out=gb)
            if i > 0:
                d_prev = d @ w.T
                d_prev *= h_in > 0  # ReLU derivative (h_in is the post-ReLU activation)
                d = d_prev
        return loss


class Adam:
    """PyTorch-formula Adam over the flat parameter vector."""

    def __init__(self, size, lr, beta1, beta2, eps):
        self.m = np.zeros(size, dtype=np.float32)
        self.v = np.zeros(size, dtype=np.float32)
        self.tmp = np.empty(size, dtype=np.float32)
        self.lr, self.b1, self.b2, self.eps, self.t = lr, beta1, beta2, eps, 0

    def step(self, p, g):
        self.t += 1
        b1, b2, tmp = self.b1, self.b2, self.tmp
        self.m *= b1
        np.multiply(g, 1.0 - b1, out=tmp)
        self.m += tmp
        self.v *= b2
        np.multiply(g, g, out=tmp)
        tmp *= 1.0 - b2
        self.v += tmp
        step_size = self.lr / (1.0 - b1 ** self.t)
        inv_sqrt_bc2 = 1.0 / np.sqrt(1.0 - b2 ** self.t)
        np.sqrt(self.v, out=tmp)
        tmp *= inv_sqrt_bc2
        tmp += self.eps
        np.divide(self.m, tmp, out=tmp)
        tmp *= step_size
        p -= tmp


def versions() -> dict:
    v = common.base_versions()
    v["numpy"] = np.__version__
    try:
        from threadpoolctl import threadpool_info

        v["blas"] = [{k: i.get(k) for k in ("internal_api", "version", "architecture", "num_threads",
                                            "threading_layer", "filepath")} for i in threadpool_info()]
    except ImportError:
        v["blas"] = "threadpoolctl not installed"
    return v


def main() -> None:
    a = ARGS
    spec = common.workload_spec(a.workload, a.quick)
    meta = common.load_meta(a.data)
    model = Mlp(common.load_init(a.data, meta, spec["model"]))

    if spec["kind"] == "startup":
        x, _ = common.load_xy(a.data, meta, 1)
        common.emit_prediction(RUNNER, model.forward(x)[-1][0, 0], {"numpy": np.__version__})
        return

    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(a.threads)
    except ImportError:
        pass
    vers = versions()

    if spec["kind"] == "train":
        b, steps = spec["batch"], spec["steps"]
        x, y = common.load_xy(a.data, meta, spec["samples"])
        opt = Adam(model.flat.size, **{k: common.ADAM[k] for k in ("lr", "beta1", "beta2", "eps")})

        def one_pass():
            total = 0.0
            for s in range(steps):
                total += model.loss_and_grad(x[s * b:(s + 1) * b], y[s * b:(s + 1) * b])
                opt.step(model.flat, model.grad)
            return total / steps
    else:
        b, rows = spec["batch"], spec["rows"]
        x, _ = common.load_xy(a.data, meta, rows)

        def one_pass():
            acc = 0.0
            for s in range(0, rows, b):
                acc += float(model.forward(x[s:s + b])[-1].sum())
            return acc / rows  # mean logit, a checksum comparable across runners

    common.run_passes(RUNNER, spec, a, vers, one_pass)


if __name__ == "__main__":
    main()
