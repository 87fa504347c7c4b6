"""Writes batch_ensemble.json: the BatchEnsemble linear layer (notes/tabular.md §5,
N14–N17) with a shared input and with one input per member — outputs and every gradient,
computed by PyTorch autograd in float64, the reference for glassbox_core::batch_ensemble.

Written from the equations (TabM's form y_i = ((x_i ∘ r_i) W) ∘ s_i + b_i), not from any
library's code; glassbox's layout: W (H, D), r (k, D), s (k, H), b (k, H), input (N, D)
shared or (N, k·D), output (N, k·H). Loss L = Σ R ⊙ z with a fixed random R, so ∂L/∂z = R
is what the Rust test feeds backward.

    /work/venv/bin/python crates/core/tests/reference/make_batch_ensemble_fixtures.py
"""

import json
import pathlib

import torch

torch.manual_seed(20261207)
N, K, D, H = 5, 3, 4, 2
f64 = torch.float64


def flat(t):
    return [float(v) for v in t.detach().reshape(-1)]


def case(shared):
    width = D if shared else K * D
    x = torch.randn(N, width, dtype=f64, requires_grad=True)
    w = torch.randn(H, D, dtype=f64, requires_grad=True)
    r = torch.randn(K, D, dtype=f64, requires_grad=True)
    s = torch.randn(K, H, dtype=f64, requires_grad=True)
    b = torch.randn(K, H, dtype=f64, requires_grad=True)
    xi = x[:, None, :].expand(N, K, D) if shared else x.reshape(N, K, D)
    z = torch.einsum("nkd,hd->nkh", xi * r[None], w) * s[None] + b[None]  # (N14)
    z = z.reshape(N, K * H)
    rr = torch.randn(N, K * H, dtype=f64)
    (rr * z).sum().backward()
    return {
        "x": flat(x), "weight": flat(w), "r": flat(r), "s": flat(s), "bias": flat(b),
        "upstream": flat(rr), "z": flat(z),
        "d_x": flat(x.grad), "d_weight": flat(w.grad), "d_r": flat(r.grad),
        "d_s": flat(s.grad), "d_bias": flat(b.grad),
    }


out = {
    "torch": torch.__version__,
    "shape": {"n": N, "k": K, "d": D, "h": H},
    "shared": case(True),
    "per_member": case(False),
}
path = pathlib.Path(__file__).with_name("batch_ensemble.json")
lines = [f" {json.dumps(k)}: {json.dumps(v)}" for k, v in out.items()]
path.write_text("{\n" + ",\n".join(lines) + "\n}\n")
print(f"wrote {path}")
