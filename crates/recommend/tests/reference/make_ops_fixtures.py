"""PyTorch reference for the embedding lookup (K12–K13), the MF score (K14) and BPR (K15).

Writes ops_fixtures.json: small tables P (U, d), Q (I, d), b (I,), triples (u, i+, i-) with
repeated ids (so the backward scatter-add sums rows), the loss and every gradient in float64
by autograd, and the parameters after three torch.optim.Adam steps (coupled L2 weight_decay)
on the same triples in float32: the golden run of `Mf::step`.

Run: /work/venv/bin/python crates/recommend/tests/reference/make_ops_fixtures.py
"""

import json
import os

import torch
import torch.nn.functional as F

torch.manual_seed(20261205)
U, I, D = 4, 6, 3
P0 = torch.randn(U, D, dtype=torch.float64) * 0.5
Q0 = torch.randn(I, D, dtype=torch.float64) * 0.5
B0 = torch.randn(I, dtype=torch.float64) * 0.1
triples = [(0, 1, 2), (1, 1, 5), (0, 3, 1), (3, 0, 4), (2, 5, 5), (0, 1, 0), (1, 4, 3)]
u = torch.tensor([t[0] for t in triples])
ip = torch.tensor([t[1] for t in triples])
ineg = torch.tensor([t[2] for t in triples])


def loss_of(P, Q, b):
    s_pos = (P[u] * Q[ip]).sum(1) + b[ip]
    s_neg = (P[u] * Q[ineg]).sum(1) + b[ineg]
    return F.softplus(-(s_pos - s_neg)).mean()


P, Q, b = (t.clone().requires_grad_(True) for t in (P0, Q0, B0))
loss = loss_of(P, Q, b)
loss.backward()

# The golden run: three Adam steps in float32 (lr 0.05, weight_decay 0.01).
P32, Q32, b32 = (t.float().clone().requires_grad_(True) for t in (P0, Q0, B0))
opt = torch.optim.Adam([P32, Q32, b32], lr=0.05, weight_decay=0.01)
losses = []
for _ in range(3):
    opt.zero_grad()
    l = loss_of(P32, Q32, b32)
    losses.append(l.item())
    l.backward()
    opt.step()

out = {
    "users": U,
    "items": I,
    "dim": D,
    "p": P0.flatten().tolist(),
    "q": Q0.flatten().tolist(),
    "b": B0.tolist(),
    "triples": triples,
    "loss": loss.item(),
    "d_p": P.grad.flatten().tolist(),
    "d_q": Q.grad.flatten().tolist(),
    "d_b": b.grad.tolist(),
    "adam": {"lr": 0.05, "weight_decay": 0.01, "losses": losses,
             "params": torch.cat([P32.detach().flatten(), Q32.detach().flatten(), b32.detach()]).tolist()},
}
path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ops_fixtures.json")
with open(path, "w") as f:
    json.dump(out, f)
print(path, out["loss"])
