"""Writes table_network.json: a whole table network (notes/tabular.md N10) — per-feature
scaling, a PLR embedding, Dense(4, ReLU), Dense(1) — its loss and the gradient of every
parameter and of the input, computed by PyTorch autograd in float64, and the parameters
after three plain SGD steps. The reference for the `Mlp` with input layers
(crates/core/tests/table_network.rs).

Written from the equations of notes/tabular.md (N1, N3, N4) and notes/backprop.md, not from
any library's code. The parameter vector is glassbox's layout: s (D), c (D, K),
W (D, H, 2K), b (D, H), Θ₀ (4, D·H), b₀ (4), Θ₁ (1, 4), b₁ (1). Loss: mean BCE on the
logit, `max(z, 0) − z·y + ln(1 + e^{−|z|})`.

    /work/venv/bin/python crates/core/tests/reference/make_table_network_fixtures.py
"""

import math
import pathlib
import sys

import torch

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from fixture_io import network_fields, write_fixture  # noqa: E402

torch.manual_seed(20261206)
N, D, K, H, U = 7, 3, 2, 3, 4
f64 = torch.float64
LR = 0.1

x = (torch.randn(N, D, dtype=f64) * 1.2).requires_grad_()
y = torch.tensor([float(i % 2) for i in range(N)], dtype=f64).reshape(N, 1)
params = {
    "s": 1.0 + 0.3 * torch.randn(D, dtype=f64),
    "c": 0.4 * torch.randn(D, K, dtype=f64),
    "w": (torch.rand(D, H, 2 * K, dtype=f64) * 2 - 1) / math.sqrt(2 * K),
    "b": (torch.rand(D, H, dtype=f64) * 2 - 1) / math.sqrt(2 * K),
    "theta0": (torch.rand(U, D * H, dtype=f64) * 2 - 1) / math.sqrt(D * H),
    "b0": (torch.rand(U, dtype=f64) * 2 - 1) * 0.1,
    "theta1": (torch.rand(1, U, dtype=f64) * 2 - 1) / math.sqrt(U),
    "b1": torch.zeros(1, dtype=f64),
}
for t in params.values():
    t.requires_grad_()
ORDER = ["s", "c", "w", "b", "theta0", "b0", "theta1", "b1"]


def forward(p, xin):
    xs = xin * p["s"][None, :]  # (N1)
    v = 2 * math.pi * p["c"][None] * xs[:, :, None]  # (N3)
    per = torch.cat([torch.sin(v), torch.cos(v)], dim=-1)
    z = torch.einsum("ndj,dhj->ndh", per, p["w"]) + p["b"][None]  # (N4)
    e = torch.relu(z).reshape(xin.shape[0], D * H)
    a0 = torch.relu(e @ p["theta0"].T + p["b0"])
    return a0 @ p["theta1"].T + p["b1"]  # the logit


out = {
    "torch": torch.__version__,
    "shape": {"n": N, "d": D, "k": K, "h": H, "units": U},
    **network_fields(forward, params, ORDER, x, y, LR),
}
write_fixture(pathlib.Path(__file__).with_name("table_network.json"), out)
