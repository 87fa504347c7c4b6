"""Writes ensemble_network.json: a whole BatchEnsemble network (notes/tabular.md N19–N21) —
per-feature scaling, BatchEnsemble(4, ReLU) reading the input shared by k = 3 members,
BatchEnsemble(1) reading each member's own block — its members' logits, the mean of the
members' losses, the mean of their probabilities, the gradient of every parameter and of
the input, computed by PyTorch autograd in float64, and the parameters after three plain SGD
steps on the same batch. The reference for the `Mlp` with `ensemble_k = 3`
(crates/core/tests/ensemble_network.rs) and for the trainer's step
(crates/train/tests/ensemble_step.rs).

Written from the equations of notes/tabular.md (N1, N14, N19–N21), not from any library's
code. The parameter vector is glassbox's layout: s (D); then per layer W (H, D_in),
r (k, D_in), s (k, H), b (k, H). Each member's loss: mean BCE on its logit,
`max(z, 0) − z·y + ln(1 + e^{−|z|})`; the network's loss is their mean.

    /work/venv/bin/python crates/core/tests/reference/make_ensemble_network_fixtures.py
"""

import json
import math
import pathlib

import torch

torch.manual_seed(20261207)
N, D, K, U = 6, 3, 3, 4
f64 = torch.float64
LR = 0.1


def be_params(d_in, h):
    return {
        "w": (torch.rand(h, d_in, dtype=f64) * 2 - 1) / math.sqrt(d_in),
        "r": torch.where(torch.rand(K, d_in) < 0.5, -1.0, 1.0).to(f64)
        * (1 + 0.2 * torch.randn(K, d_in, dtype=f64)),
        "s": 1.0 + 0.3 * torch.randn(K, h, dtype=f64),
        "b": (torch.rand(K, h, dtype=f64) * 2 - 1) / math.sqrt(d_in),
    }


x = (torch.randn(N, D, dtype=f64) * 1.2).requires_grad_()
y = torch.tensor([float(i % 2) for i in range(N)], dtype=f64).reshape(N, 1)
params = {"scale": 1.0 + 0.3 * torch.randn(D, dtype=f64)}
for name, (d_in, h) in {"l0": (D, U), "l1": (U, 1)}.items():
    for k, v in be_params(d_in, h).items():
        params[f"{name}.{k}"] = v
for t in params.values():
    t.requires_grad_()
ORDER = list(params)


def be(p, name, xin):
    """(N14) xin (N, K, D_in) → z (N, K, H): ((x ∘ r_i) Wᵀ) ∘ s_i + b_i."""
    u = xin * p[f"{name}.r"][None]
    t = torch.einsum("nkd,hd->nkh", u, p[f"{name}.w"])
    return t * p[f"{name}.s"][None] + p[f"{name}.b"][None]


def forward(p, xin):
    xs = xin * p["scale"][None, :]  # (N1)
    shared = xs[:, None, :].expand(xin.shape[0], K, D)  # the first layer's shared input
    a0 = torch.relu(be(p, "l0", shared))  # (N19)
    return be(p, "l1", a0)[:, :, 0]  # (N, K): member i's logit in column i


def members_loss(z, t):
    """(N20) The mean over members of each member's mean BCE."""
    per = z.clamp(min=0) - z * t + torch.log1p(torch.exp(-z.abs()))  # (N, K)
    return per.mean(dim=0).mean()


def flat(t):
    return [float(v) for v in t.detach().reshape(-1)]


logits = forward(params, x)
loss = members_loss(logits, y)
loss.backward()
grads = [v for k in ORDER for v in flat(params[k].grad)]
d_x = flat(x.grad)
start = [v for k in ORDER for v in flat(params[k])]
probability = torch.sigmoid(logits).mean(dim=1)  # (N21)

with torch.no_grad():
    for k in ORDER:
        params[k].grad = None
for _ in range(3):
    loss_k = members_loss(forward(params, x.detach()), y)
    loss_k.backward()
    with torch.no_grad():
        for k in ORDER:
            params[k] -= LR * params[k].grad
            params[k].grad = None

out = {
    "torch": torch.__version__,
    "shape": {"n": N, "d": D, "k": K, "units": U},
    "x": flat(x),
    "y": flat(y),
    "params": start,
    "logits": flat(logits),
    "loss": float(loss.detach()),
    "probability": flat(probability),
    "grads": grads,
    "d_x": d_x,
    "lr": LR,
    "params_after_3_sgd": [v for k in ORDER for v in flat(params[k])],
}
path = pathlib.Path(__file__).with_name("ensemble_network.json")
lines = [f" {json.dumps(k)}: {json.dumps(v)}" for k, v in out.items()]
path.write_text("{\n" + ",\n".join(lines) + "\n}\n")
print(f"wrote {path}")
