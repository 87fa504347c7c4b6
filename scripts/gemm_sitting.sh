#!/bin/sh
# Issue 11's GEMM sitting (notes/gemm.md §2a, §3; notes/benchmarks.md § GEMM): our kernel
# against numpy/OpenBLAS at 1024³ and at the wide layer's weight gradient, 1 and 2 threads,
# alternating criterion and numpy ROUNDS times (default 2; about 80 s a round on 2 cores after
# the first build). Run from the repo root on a quiet machine:
#
#     scripts/gemm_sitting.sh [ROUNDS]
#
# Prints the host first (scripts/host.sh: the CPU, its family and model, its vector
# extensions); criterion's lines name the instruction set (`serial-avx512`,
# `parallel-avx512`, …); numpy_gemm.py prints OpenBLAS's kernel. Quote ratios from the same
# round.
set -eu
rounds=${1:-2}
python=${PYTHON:-/work/venv/bin/python}
scripts/host.sh
CARGO_INCREMENTAL=0 cargo bench --bench gemm --no-run
for r in $(seq "$rounds"); do
    echo "== round $r: glassbox"
    cargo bench --bench gemm -- \
        'gemm/.*/(serial-avx2|serial-avx512|parallel-.*)/(1024x1024x1024|1024x256x1024-dw)$'
    echo "== round $r: numpy"
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "$python" benches/peers/numpy_gemm.py
    uptime
done
