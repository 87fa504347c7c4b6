"""Writes tabular_layers.json: forward values and every gradient of the per-feature scaling
layer and the PLR embedding (notes/tabular.md, N1–N9), computed by PyTorch autograd in
float64 — the reference for glassbox_core::tabular.

PLR as Gorishniy et al. (2022) define it: per feature d, v = 2π·c_d·x_d (K frequencies),
p = [sin v, cos v], then a per-feature Linear(2K → H) and ReLU. Written from the paper's
equations (glassbox's layout: W (D, H, 2K), sin block first), not from any library's code.
Loss L = Σ R ⊙ y with a fixed random R, so ∂L/∂y = R is what the Rust test feeds backward.

    /work/venv/bin/python crates/core/tests/reference/make_tabular_fixtures.py
"""

import json
import math
import pathlib

import torch

torch.manual_seed(20261205)
N, D, K, H = 6, 3, 4, 5
f64 = torch.float64
x = (torch.randn(N, D, dtype=f64) * 1.3).requires_grad_()
c = (torch.randn(D, K, dtype=f64) * 0.7).requires_grad_()
w = ((torch.rand(D, H, 2 * K, dtype=f64) * 2 - 1) / math.sqrt(2 * K)).requires_grad_()
b = ((torch.rand(D, H, dtype=f64) * 2 - 1) / math.sqrt(2 * K)).requires_grad_()
r = torch.randn(N, D * H, dtype=f64)

v = 2 * math.pi * c[None, :, :] * x[:, :, None]  # (N, D, K)
p = torch.cat([torch.sin(v), torch.cos(v)], dim=-1)  # (N, D, 2K)
z = torch.einsum("ndj,dhj->ndh", p, w) + b[None]  # (N, D, H)
y = torch.relu(z).reshape(N, D * H)
loss = (r * y).sum()
loss.backward()

xs = torch.randn(N, D, dtype=f64, requires_grad=True)
s = torch.randn(D, dtype=f64, requires_grad=True)
ys = xs * s[None, :]
rs = torch.randn(N, D, dtype=f64)
(rs * ys).sum().backward()


def flat(t):
    return [float(v) for v in t.detach().reshape(-1)]


out = {
    "torch": torch.__version__,
    "shape": {"n": N, "d": D, "k": K, "h": H},
    "plr": {
        "x": flat(x), "freq": flat(c), "weight": flat(w), "bias": flat(b), "r": flat(r),
        "y": flat(y), "loss": float(loss),
        "d_x": flat(x.grad), "d_freq": flat(c.grad), "d_weight": flat(w.grad),
        "d_bias": flat(b.grad),
    },
    "scale": {
        "x": flat(xs), "s": flat(s), "r": flat(rs), "y": flat(ys),
        "d_x": flat(xs.grad), "d_s": flat(s.grad),
    },
}
path = pathlib.Path(__file__).with_name("tabular_layers.json")
path.write_text(json.dumps(out, indent=1) + "\n")
print(f"wrote {path}")
