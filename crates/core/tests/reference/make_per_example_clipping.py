"""Writes per_example_clipping.json: per-example gradient norms and the sum of clipped
per-example gradients of a small MLP, computed by PyTorch's torch.func (vmap of grad) in
float64 — the reference for glassbox's `Mlp::backward_clipped` (notes/privacy.md §11).

Network 5-4-3-1: Linear(5,4) ReLU, Linear(4,3) tanh, Linear(3,1); per-example loss
ℓᵢ = BCE-with-logits(zᵢ, yᵢ); 8 examples; C = the median per-example norm (so some are
clipped and some not). Parameters are listed in glassbox's flat order: W0 (row-major, as
nn.Linear.weight), b0, W1, b1, W2, b2.

    /work/venv/bin/python crates/core/tests/reference/make_per_example_clipping.py

Versions: recorded in the output ("torch").
"""

import json
import pathlib

import torch
from torch.func import functional_call, grad, vmap

torch.manual_seed(20261205)
model = torch.nn.Sequential(
    torch.nn.Linear(5, 4), torch.nn.ReLU(), torch.nn.Linear(4, 3), torch.nn.Tanh(),
    torch.nn.Linear(3, 1),
).double()
x = torch.randn(8, 5, dtype=torch.float64) * 1.5
y = (torch.rand(8, 1, dtype=torch.float64) < 0.5).double()
params = {k: v.detach() for k, v in model.named_parameters()}


def loss(p, xi, yi):
    z = functional_call(model, p, (xi.unsqueeze(0),))
    return torch.nn.functional.binary_cross_entropy_with_logits(z, yi.unsqueeze(0))


per_example = vmap(grad(loss), in_dims=(None, 0, 0))(params, x, y)
names = ["0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias"]
flat = torch.cat([per_example[n].reshape(8, -1) for n in names], dim=1)  # (8, P)
norms = flat.norm(dim=1)
c = norms.median().item()
factors = torch.clamp(c / norms, max=1.0)
clipped_sum = (flat * factors.unsqueeze(1)).sum(dim=0)

out = {
    "torch": torch.__version__,
    "layers": [[4, "relu"], [3, "tanh"], [1, "identity"]],
    "inputs": 5,
    "params": torch.cat([params[n].reshape(-1) for n in names]).tolist(),
    "x": x.tolist(),
    "y": y.reshape(-1).tolist(),
    "clip_norm": c,
    "norms": norms.tolist(),
    "clipped_sum": clipped_sum.tolist(),
}
path = pathlib.Path(__file__).with_name("per_example_clipping.json")
path.write_text(json.dumps(out, indent=1) + "\n")
print(f"wrote {path}: C = {c}, {int((norms > c).sum())} of 8 clipped")
