"""Shared plumbing for the peer runners: CLI, workload table, data loading, timing, JSON output.

Not run directly. Each `*_runner.py` imports it *before* importing its framework, so that
`thread_env()` can be applied to `os.environ` while it still matters (OpenMP, OpenBLAS, Eigen and
XLA read their thread settings when the library loads). This module therefore imports nothing
heavier than the standard library at import time; NumPy is imported lazily by the loaders.

The workload table below is the single source of truth. `make_data.py` copies it into
`meta.json` so the Rust runner can read the same step counts instead of restating them.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time

DEFAULT_DATA_DIR = "/tmp/glassbox-peers"

# Model layer widths, input first. "small" is the MLP every workload but one uses.
MODELS = {
    "small": [784, 64, 64, 1],
    "big": [784, 1024, 1024, 1],
}

# Adam settings shared by every runner (Keras' default epsilon is 1e-7; we pass 1e-8 to match
# PyTorch and optax).
ADAM = {"lr": 1e-3, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8}

# kind: "train" = `steps` optimiser steps of batch `batch`, rows taken in file order from row 0
#        (step i uses rows [i*batch, (i+1)*batch)), no shuffling;
#       "infer" = forward pass over the first `rows` rows in chunks of `batch` (last chunk short);
#       "startup" = process launch -> one prediction printed (timed from outside by drive.py).
# threads: the thread count the workload is defined at (the driver passes it; --threads overrides).
# quick: the reduced sizes used by --quick smoke tests.
WORKLOADS = {
    "train_b32": {
        "kind": "train", "model": "small", "batch": 32, "steps": 600, "threads": 1,
        "quick": {"steps": 20},
    },
    "train_b256": {
        "kind": "train", "model": "small", "batch": 256, "steps": 234, "threads": 2,
        "quick": {"steps": 8},
    },
    "train_big_b256": {
        "kind": "train", "model": "big", "batch": 256, "steps": 40, "threads": 2,
        "quick": {"steps": 2},
    },
    "infer_b4096": {
        "kind": "infer", "model": "small", "batch": 4096, "rows": 60000, "threads": 2,
        "quick": {"rows": 8192},
    },
    "startup": {"kind": "startup", "model": "small", "threads": 2, "quick": {}},
}


def workload_spec(name: str, quick: bool) -> dict:
    """The workload's parameters, with the --quick overrides applied when `quick`."""
    spec = {k: v for k, v in WORKLOADS[name].items() if k != "quick"}
    if quick:
        spec.update(WORKLOADS[name]["quick"])
    spec["name"] = name
    if spec["kind"] == "train":
        spec["samples"] = spec["batch"] * spec["steps"]
    elif spec["kind"] == "infer":
        spec["samples"] = spec["rows"]
    return spec


# ---------------------------------------------------------------------------------------------
# Threads


def thread_env(framework: str, threads: int) -> dict:
    """Environment variables that pin `framework` to `threads` compute threads.

    Must be in the environment before the framework is imported. Runners apply it themselves
    (`apply_thread_env`) and drive.py also passes it to the subprocess, so both paths agree.
    Frameworks also get an API call after import where one exists (torch.set_num_threads,
    tf.config.threading, threadpoolctl); JAX has none, see the README.
    """
    t = str(threads)
    env = {"OMP_NUM_THREADS": t, "MKL_NUM_THREADS": t, "OPENBLAS_NUM_THREADS": t}
    if framework == "keras":
        env.update({
            "KERAS_BACKEND": "tensorflow",
            "TF_NUM_INTRAOP_THREADS": t,
            "TF_NUM_INTEROP_THREADS": "1",
            "TF_CPP_MIN_LOG_LEVEL": "2",
        })
    elif framework == "jax":
        env["JAX_PLATFORMS"] = "cpu"
        if threads == 1:
            # The long-standing recipe from jax-ml/jax#743 / #1539: no Eigen thread pool for the
            # XLA CPU backend's ops. XLA has no flag for "N threads" with 1 < N < cores.
            env["XLA_FLAGS"] = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
    return env


def apply_thread_env(framework: str, threads: int) -> None:
    os.environ.update(thread_env(framework, threads))


# ---------------------------------------------------------------------------------------------
# CLI


def parse_args(runner_names: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="glassbox peer runner: prints one JSON line per timed repeat")
    p.add_argument("--data", default=DEFAULT_DATA_DIR, help="directory written by make_data.py")
    p.add_argument("--workload", required=True, choices=sorted(WORKLOADS))
    p.add_argument("--threads", type=int, default=None, help="default: the workload's own thread count")
    p.add_argument("--repeats", type=int, default=1, help="timed passes (one JSON line each)")
    p.add_argument("--warmup", type=int, default=1, help="untimed passes before the timed ones")
    p.add_argument("--quick", action="store_true", help="tiny sizes for smoke tests")
    if runner_names:
        p.add_argument("--variant", default=runner_names[0], choices=runner_names)
    a = p.parse_args()
    if a.threads is None:
        a.threads = WORKLOADS[a.workload]["threads"]
    return a


# ---------------------------------------------------------------------------------------------
# Data


def load_meta(data_dir: str) -> dict:
    path = os.path.join(data_dir, "meta.json")
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        sys.exit(f"{path} not found: run `python benches/peers/make_data.py --out {data_dir}` first")


def load_xy(data_dir: str, meta: dict, rows: int):
    """The first `rows` rows of X (rows x cols, float32, C order) and y (rows, float32 0/1)."""
    import numpy as np

    cols = meta["cols"]
    x = np.fromfile(os.path.join(data_dir, meta["x_file"]), dtype="<f4", count=rows * cols)
    y = np.fromfile(os.path.join(data_dir, meta["y_file"]), dtype="<f4", count=rows)
    if x.size != rows * cols or y.size != rows:
        sys.exit(f"data in {data_dir} has fewer than {rows} rows")
    return x.reshape(rows, cols), y


def load_init(data_dir: str, meta: dict, model: str):
    """Initial parameters as a list of (W [in, out], b [out]) float32 arrays, one per layer."""
    import numpy as np

    m = meta["init"][model]
    flat = np.fromfile(os.path.join(data_dir, m["file"]), dtype="<f4")
    layers = []
    for layer in m["layers"]:
        w0, (wi, wo) = layer["w_offset"], layer["w_shape"]
        b0 = layer["b_offset"]
        w = flat[w0:w0 + wi * wo].reshape(wi, wo).copy()
        b = flat[b0:b0 + wo].copy()
        layers.append((w, b))
    return layers


# ---------------------------------------------------------------------------------------------
# Timing and output


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def thread_ticks() -> dict:
    """CPU clock ticks (user + system) per thread of this process, from /proc (Linux only)."""
    ticks = {}
    try:
        for tid in os.listdir("/proc/self/task"):
            try:
                with open(f"/proc/self/task/{tid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                ticks[tid] = int(fields[11]) + int(fields[12])  # utime, stime
            except (OSError, IndexError, ValueError):
                pass
    except OSError:
        pass
    return ticks


class Timer:
    """Wall clock (perf_counter), process CPU time and per-thread CPU around a block.

    `busy_threads` counts the threads that used at least 10% of the block's wall time on a CPU:
    it shows how many threads really computed, whatever else the machine was running. Spinning
    thread pools count as busy (they do burn the core).
    """

    def __enter__(self):
        self.ticks0 = thread_ticks()
        self.c0 = cpu_seconds()
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.t0
        self.cpu = cpu_seconds() - self.c0
        ticks1 = thread_ticks()
        hz = os.sysconf("SC_CLK_TCK")
        used = [(t - self.ticks0.get(tid, 0)) / hz for tid, t in ticks1.items()]
        self.busy_threads = sum(1 for u in used if u >= 0.1 * self.seconds)
        return False


def base_versions() -> dict:
    return {
        "python": platform.python_version(),
        "cpu": cpu_model(),
        "env": {k: os.environ[k] for k in sorted(os.environ) if k.startswith((
            "OMP_", "MKL_", "OPENBLAS_", "XLA_", "TF_NUM", "KERAS_BACKEND", "JAX_PLATFORMS"))},
    }


def cpu_model() -> str:
    """The CPU's model name with its x86 family and model: two AMD EPYC kinds both report
    "AMD EPYC" (Zen 1 is family 23 model 1, Zen 3 family 25 model 1)."""
    fields = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, sep, value = line.partition(":")
                if not sep:
                    break  # the end of the first processor's block
                fields.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    name = fields.get("model name") or platform.processor()
    if "cpu family" in fields and "model" in fields:
        return f"{name} (family {fields['cpu family']}, model {fields['model']})"
    return name


def emit(runner: str, spec: dict, threads: int, timer: Timer, versions: dict, **extra) -> None:
    """Print one measurement as a single JSON line (the contract drive.py parses)."""
    rec = {
        "runner": runner,
        "workload": spec["name"],
        "threads": threads,
        "samples_per_s": spec["samples"] / timer.seconds,
        "seconds": timer.seconds,
        "samples": spec["samples"],
        "cpu_seconds": timer.cpu,
        "cpu_util": timer.cpu / timer.seconds,
        "busy_threads": timer.busy_threads,
        "versions": versions,
    }
    rec.update(extra)
    print(json.dumps(rec), flush=True)


def run_passes(runner: str, spec: dict, args, versions: dict, one_pass) -> None:
    """args.warmup untimed calls of one_pass(), then args.repeats timed ones, one JSON line each.

    one_pass() does the whole workload once and returns its check value: the mean training loss
    over the pass, or the mean logit for inference.
    """
    for _ in range(args.warmup):
        one_pass()
    key = "loss" if spec["kind"] == "train" else "mean_logit"
    for _ in range(args.repeats):
        with Timer() as t:
            value = one_pass()
        emit(runner, spec, args.threads, t, versions, **{key: value, "quick": args.quick})


def emit_prediction(runner: str, prediction: float, versions: dict) -> None:
    """The startup workload's one line: drive.py times process launch -> this line."""
    print(json.dumps({"runner": runner, "workload": "startup", "prediction": float(prediction),
                      "versions": versions}), flush=True)
