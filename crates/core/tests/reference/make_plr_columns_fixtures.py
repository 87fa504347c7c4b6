"""Writes plr_columns.json: a table network whose PLR layer embeds a column set S only
(notes/tabular.md N23–N25) — PLR(x_S) with the other columns passed through, then
Dense(4, ReLU), Dense(1) — its loss and the gradient of every parameter and of the input,
computed by PyTorch autograd in float64, and the parameters after three plain SGD steps.
The reference for `crates/core/tests/plr_columns.rs`.

Written from the equations of notes/tabular.md (N3, N4, N23), not from any library's code.
Columns 1 and 4 are 0/1 (one-hot-like) and pass through. The parameter vector is
glassbox's layout: c (|S|, K), W (|S|, H, 2K), b (|S|, H), Θ₀ (4, |S|·H + 2), b₀ (4),
Θ₁ (1, 4), b₁ (1). Loss: mean BCE on the logit.

    /work/venv/bin/python crates/core/tests/reference/make_plr_columns_fixtures.py
"""

import math
import pathlib
import sys

import torch

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from fixture_io import network_fields, write_fixture  # noqa: E402

torch.manual_seed(20261213)
N, W_IN, K, H, U = 7, 5, 2, 3, 4
S = [0, 2, 3]
PASSED = [1, 4]
D = len(S)
f64 = torch.float64
LR = 0.1

x = torch.randn(N, W_IN, dtype=f64) * 1.2
x[:, PASSED] = (torch.rand(N, len(PASSED), dtype=f64) > 0.5).to(f64)
x.requires_grad_()
y = torch.tensor([float(i % 2) for i in range(N)], dtype=f64).reshape(N, 1)
params = {
    "c": 0.4 * torch.randn(D, K, dtype=f64),
    "w": (torch.rand(D, H, 2 * K, dtype=f64) * 2 - 1) / math.sqrt(2 * K),
    "b": (torch.rand(D, H, dtype=f64) * 2 - 1) / math.sqrt(2 * K),
    "theta0": (torch.rand(U, D * H + len(PASSED), dtype=f64) * 2 - 1) / math.sqrt(D * H),
    "b0": (torch.rand(U, dtype=f64) * 2 - 1) * 0.1,
    "theta1": (torch.rand(1, U, dtype=f64) * 2 - 1) / math.sqrt(U),
    "b1": torch.zeros(1, dtype=f64),
}
for t in params.values():
    t.requires_grad_()
ORDER = ["c", "w", "b", "theta0", "b0", "theta1", "b1"]


def forward(p, xin):
    xs = xin[:, S]
    v = 2 * math.pi * p["c"][None] * xs[:, :, None]  # (N3)
    per = torch.cat([torch.sin(v), torch.cos(v)], dim=-1)
    z = torch.einsum("ndj,dhj->ndh", per, p["w"]) + p["b"][None]  # (N4)
    e = torch.relu(z).reshape(xin.shape[0], D * H)
    out = torch.cat([e, xin[:, PASSED]], dim=1)  # (N23)
    a0 = torch.relu(out @ p["theta0"].T + p["b0"])
    return a0 @ p["theta1"].T + p["b1"]  # the logit


out = {
    "torch": torch.__version__,
    "shape": {"n": N, "d": W_IN, "k": K, "h": H, "units": U},
    "columns": S,
    **network_fields(forward, params, ORDER, x, y, LR),
}
write_fixture(pathlib.Path(__file__).with_name("plr_columns.json"), out)
