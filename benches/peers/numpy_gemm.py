"""numpy/OpenBLAS single-precision GEMM on the shapes of benches/gemm.rs, for notes/benchmarks.md.

Run from the repo root, with OpenBLAS's machine overrides removed for this command only:

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /work/venv/bin/python benches/peers/numpy_gemm.py

Prints the BLAS library numpy uses (threadpoolctl: library, version, kernel "architecture",
threads), then for 1 thread and for all threads the median and best GFLOP/s
(2·m·k·n / seconds) of `np.matmul(a, b, out=c)` on C-contiguous float32 operands.
Timing mirrors criterion's flat sampling: 15 samples, each as many calls as fill ~0.2 s.
Numbers in notes/benchmarks.md were produced with numpy 2.4.6, threadpoolctl 3.8.0,
Python 3.11.7.
"""

import json
import os
import time

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

SHAPES = [(32, 784, 64), (256, 784, 64), (1024, 1024, 1024), (4096, 784, 64)]
SAMPLES = 15
SAMPLE_SECONDS = 0.2


def gflops(m, k, n, threads):
    """(median, best) GFLOP/s of a float32 (m,k)·(k,n) product on `threads` BLAS threads."""
    rng = np.random.default_rng(0)
    a = rng.integers(-4, 5, size=(m, k)).astype(np.float32)
    b = rng.integers(-4, 5, size=(k, n)).astype(np.float32)
    c = np.empty((m, n), dtype=np.float32)
    with threadpool_limits(limits=threads, user_api="blas"):
        np.matmul(a, b, out=c)
        # Same exact-integer check as the Rust bench's validation.
        assert np.array_equal(c, (a.astype(np.float64) @ b.astype(np.float64)).astype(np.float32))
        start, calls = time.perf_counter(), 0
        while time.perf_counter() - start < 0.05:
            np.matmul(a, b, out=c)
            calls += 1
        per_call = (time.perf_counter() - start) / calls
        inner = max(1, round(SAMPLE_SECONDS / per_call))
        rates = []
        for _ in range(SAMPLES):
            t0 = time.perf_counter()
            for _ in range(inner):
                np.matmul(a, b, out=c)
            rates.append(2.0 * m * k * n * inner / (time.perf_counter() - t0) / 1e9)
    rates.sort()
    return rates[len(rates) // 2], rates[-1]


def main():
    blas = [i for i in threadpool_info() if i.get("user_api") == "blas"]
    print("numpy", np.__version__)
    print("env OPENBLAS_CORETYPE", os.environ.get("OPENBLAS_CORETYPE"), "OPENBLAS_L2_SIZE", os.environ.get("OPENBLAS_L2_SIZE"))
    print("blas", json.dumps(blas))
    all_threads = os.cpu_count() or 1
    for threads in sorted({1, all_threads}):
        for m, k, n in SHAPES:
            median, best = gflops(m, k, n, threads)
            print(f"threads={threads} {m}x{k}x{n} median {median:.1f} best {best:.1f} GFLOP/s")


if __name__ == "__main__":
    main()
