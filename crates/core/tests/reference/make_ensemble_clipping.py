"""Writes ensemble_clipping.json: per-example gradient norms and the sum of clipped
per-example gradients of a BatchEnsemble network (notes/tabular.md N19–N21; notes/privacy.md
P45), computed by PyTorch's torch.func (vmap of grad) in float64 — the reference for
glassbox's `Mlp::backward_clipped` on a network with `ensemble_k = 3`
(crates/core/tests/ensemble_network.rs).

Network: BatchEnsemble(4, ReLU) reading the input shared by k = 3 members, then
BatchEnsemble(1) reading each member's own block; per-example loss ℓₙ = the mean over the
members of BCE-with-logits(z_ni, yₙ) (N20); 8 examples; C = the median per-example norm (so
some are clipped and some not). Written from the equations (N14, N19, N20), not from any
library's code. The parameter vector is glassbox's layout: per layer W (H, D_in),
r (k, D_in), s (k, H), b (k, H).

    /work/venv-torch/bin/python crates/core/tests/reference/make_ensemble_clipping.py

Versions: recorded in the output ("torch").
"""

import json
import math
import pathlib

import torch
from torch.func import grad, vmap

torch.manual_seed(20261208)
N, D, K, U = 8, 5, 3, 4
f64 = torch.float64


def be_params(d_in, h):
    return {
        "w": (torch.rand(h, d_in, dtype=f64) * 2 - 1) / math.sqrt(d_in),
        "r": torch.where(torch.rand(K, d_in) < 0.5, -1.0, 1.0).to(f64)
        * (1 + 0.2 * torch.randn(K, d_in, dtype=f64)),
        "s": 1.0 + 0.3 * torch.randn(K, h, dtype=f64),
        "b": (torch.rand(K, h, dtype=f64) * 2 - 1) / math.sqrt(d_in),
    }


params = {}
for name, (d_in, h) in {"l0": (D, U), "l1": (U, 1)}.items():
    for k, v in be_params(d_in, h).items():
        params[f"{name}.{k}"] = v
ORDER = list(params)
x = torch.randn(N, D, dtype=f64) * 1.5
y = torch.tensor([float(i % 3 == 0) for i in range(N)], dtype=f64)


def be(p, name, xin):
    """(N14) xin (K, D_in) → z (K, H): ((x ∘ r_i) Wᵀ) ∘ s_i + b_i, one example."""
    u = xin * p[f"{name}.r"]
    t = u @ p[f"{name}.w"].T
    return t * p[f"{name}.s"] + p[f"{name}.b"]


def loss(p, xi, yi):
    """(N19, N20) One example's loss: the members' mean BCE-with-logits."""
    a0 = torch.relu(be(p, "l0", xi[None, :].expand(K, D)))
    z = be(p, "l1", a0)[:, 0]  # (K,)
    bce = torch.clamp(z, min=0) - z * yi + torch.log1p(torch.exp(-z.abs()))
    return bce.mean()


per_example = vmap(grad(loss), in_dims=(None, 0, 0))(params, x, y)
flat = torch.cat([per_example[n].reshape(N, -1) for n in ORDER], dim=1)  # (N, P)
norms = flat.norm(dim=1)
c = norms.median().item()
factors = torch.clamp(c / norms, max=1.0)
clipped_sum = (flat * factors.unsqueeze(1)).sum(dim=0)

out = {
    "torch": torch.__version__,
    "shape": {"n": N, "d": D, "k": K, "units": U},
    "params": torch.cat([params[n].reshape(-1) for n in ORDER]).tolist(),
    "x": x.reshape(-1).tolist(),
    "y": y.tolist(),
    "clip_norm": c,
    "norms": norms.tolist(),
    "clipped_sum": clipped_sum.tolist(),
}
path = pathlib.Path(__file__).with_name("ensemble_clipping.json")
path.write_text(json.dumps(out, indent=1) + "\n")
print(f"wrote {path}: C = {c}, {int((norms > c).sum())} of {N} clipped")
