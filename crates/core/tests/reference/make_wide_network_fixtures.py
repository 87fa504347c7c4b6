"""Writes wide_network.json: a wide & deep network (notes/backprop.md §9, B27–B30) —
Dense(4, ReLU) with dropout off, Dense(1) whose pre-activation gains the wide part X·Wᵀ —
its logits, its loss and the gradient of every parameter and of the input, computed by
PyTorch autograd in float64, and the parameters after three plain SGD steps. The reference
for `Mlp` with `MlpSpec::with_wide(true)` (crates/core/tests/wide_network.rs).

Written from the equations of notes/backprop.md (B20, B27), not from any library's code.
The parameter vector is glassbox's layout: Θ₀ (4, D), b₀ (4), Θ₁ (1, 4), b₁ (1), then the
wide term's W (1, D). Loss: mean BCE on the logit, `max(z, 0) − z·y + ln(1 + e^{−|z|})`.

    /work/venv/bin/python crates/core/tests/reference/make_wide_network_fixtures.py
"""

import math
import pathlib
import sys

import torch

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from fixture_io import network_fields, write_fixture  # noqa: E402

torch.manual_seed(20261206)
N, D, U = 7, 5, 4
f64 = torch.float64
LR = 0.1

x = (torch.randn(N, D, dtype=f64) * 1.2).requires_grad_()
y = torch.tensor([float(i % 2) for i in range(N)], dtype=f64).reshape(N, 1)
params = {
    "theta0": (torch.rand(U, D, dtype=f64) * 2 - 1) / math.sqrt(D),
    "b0": (torch.rand(U, dtype=f64) * 2 - 1) * 0.1,
    "theta1": (torch.rand(1, U, dtype=f64) * 2 - 1) / math.sqrt(U),
    "b1": torch.tensor([0.05], dtype=f64),
    "w": 0.3 * torch.randn(1, D, dtype=f64),
}
for t in params.values():
    t.requires_grad_()
ORDER = ["theta0", "b0", "theta1", "b1", "w"]


def forward(p, xin):
    a0 = torch.relu(xin @ p["theta0"].T + p["b0"])
    return a0 @ p["theta1"].T + p["b1"] + xin @ p["w"].T  # (B27): deep + wide


out = {
    "torch": torch.__version__,
    "shape": {"n": N, "d": D, "units": U},
    **network_fields(forward, params, ORDER, x, y, LR),
}
write_fixture(pathlib.Path(__file__).with_name("wide_network.json"), out)
