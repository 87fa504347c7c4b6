#!/usr/bin/env bash
# Cost of a private epoch against a non-private one (issue 16: ≤ 1.5× per epoch), same data,
# network, optimizer, batch size and steps per epoch: the 64-64 network on all 9,864 rows of
# online_shoppers_train.csv, SGD lr 0.25, one thread, ⌈N/B⌉ steps per epoch — shuffled fixed
# batches of B (non-private) against Poisson batches of expected size ⌊N·q⌋ with per-example
# clipping and noise (DP: ε = 3, δ = 1e-5, C = 1), B = 64, 256, 512.
#
# Runs examples/dp_overhead.rs: everything in one process (no start-up, reading or
# preprocessing in the figure), ROUNDS interleaved rounds (NP then DP at each B), each run
# EPOCHS timed epochs after one untimed, timed by the training thread's own CPU time
# (/proc/thread-self/schedstat, ns). Prints per B the median CPU ms per epoch of each and the
# median of the per-round DP/NP ratios, with every round's ratio (their spread is the
# precision). On a quiet machine: scripts/dp_overhead.sh 9 60.
# Usage: scripts/dp_overhead.sh [rounds (7)] [epochs (40)]
set -euo pipefail
"$(dirname "$0")/host.sh"
cargo build --release --example dp_overhead >&2
"${CARGO_TARGET_DIR:-target}/release/examples/dp_overhead" "${1:-7}" "${2:-40}"
