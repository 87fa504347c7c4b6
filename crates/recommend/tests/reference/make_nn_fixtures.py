"""PyTorch reference for the ops of the YouTube-DNN-style model (notes/recommend.md §9):
sum and mean pooling of bags of ids (K30-K31), dot-product scoring against the item table
with the softmax cross-entropy over the full catalogue (K32-K33, weighted per row and per target pair), the sampled softmax with the
log-Q correction (K34), and torch.optim.SparseAdam on an embedding table (K35).

Writes nn_fixtures.json: inputs, loss values and every gradient in float64 by autograd, and
the SparseAdam golden run (three steps, float32, different rows touched at each step).

Run: /work/venv/bin/python crates/recommend/tests/reference/make_nn_fixtures.py
"""

import json
import math
import os

import torch
import torch.nn.functional as F

torch.manual_seed(20261205)
f64 = torch.float64

# --- pooling (K30-K31): 7 rows of width 3; bags with a repeated id and an empty bag.
V, D = 7, 3
E0 = torch.randn(V, D, dtype=f64)
bags = [[1, 4, 1], [], [6], [0, 2, 3, 5], [4, 4]]
offsets = [0]
for bag in bags:
    offsets.append(offsets[-1] + len(bag))
ids = [i for bag in bags for i in bag]
W = torch.randn(len(bags), D, dtype=f64)  # L = sum(W * pooled)
pooling = {}
for mode in ["sum", "mean"]:
    E = E0.clone().requires_grad_(True)
    out = F.embedding_bag(
        torch.tensor(ids), E, torch.tensor(offsets), mode=mode, include_last_offset=True
    )
    (W * out).sum().backward()
    pooling[mode] = {"out": out.detach().flatten().tolist(), "d_table": E.grad.flatten().tolist()}

# --- full softmax (K32-K33): N = 4 users, I = 6 items; row 2 lists item 5 twice.
N, I, Dm = 4, 6, 3
U0 = torch.randn(N, Dm, dtype=f64)
Q0 = torch.randn(I, Dm, dtype=f64) * 0.7
B0 = torch.randn(I, dtype=f64) * 0.3
targets = [[0, 3], [5], [5, 5, 1], [2, 4, 1, 0]]
U, Q, b = (t.clone().requires_grad_(True) for t in (U0, Q0, B0))
S = U @ Q.T + b
logp = torch.log_softmax(S, dim=1)
loss = torch.stack([-logp[n, t].mean() for n, t in enumerate(targets)]).mean()
loss.backward()
# The per-target weighting: every (row, target) pair weighs 1/P.
Up, Qp, bp = (t.clone().requires_grad_(True) for t in (U0, Q0, B0))
logp_p = torch.log_softmax(Up @ Qp.T + bp, dim=1)
loss_pt = torch.cat([-logp_p[n, t] for n, t in enumerate(targets)]).mean()
loss_pt.backward()
full = {
    "per_target": {
        "loss": loss_pt.item(),
        "d_u": Up.grad.flatten().tolist(),
        "d_q": Qp.grad.flatten().tolist(),
        "d_b": bp.grad.tolist(),
    },
    "u": U0.flatten().tolist(),
    "q": Q0.flatten().tolist(),
    "b": B0.tolist(),
    "targets": targets,
    "scores": S.detach().flatten().tolist(),
    "loss": loss.item(),
    "d_u": U.grad.flatten().tolist(),
    "d_q": Q.grad.flatten().tolist(),
    "d_b": b.grad.tolist(),
}

# --- sampled softmax with log-Q (K34): 5 pairs, 4 shared samples (item 2 twice; pair 1's
# target 2 is an accidental hit twice).
weights = [5.0, 1.0, 3.0, 0.5, 2.0, 4.0]
qprob = torch.tensor(weights, dtype=f64) / sum(weights)
pair_targets = [0, 2, 5, 3, 2]
sampled = [2, 4, 2, 1]
M = len(sampled)
Up0 = torch.randn(len(pair_targets), Dm, dtype=f64)
U, Q, b = (t.clone().requires_grad_(True) for t in (Up0, Q0, B0))
cand = torch.tensor([[t] + sampled for t in pair_targets])
logits = (U.unsqueeze(1) * Q[cand]).sum(2) + b[cand] - torch.log(M * qprob[cand])
hit = torch.zeros_like(logits, dtype=torch.bool)
hit[:, 1:] = cand[:, 1:] == cand[:, :1]
logits = logits.masked_fill(hit, float("-inf"))
sloss = F.cross_entropy(logits, torch.zeros(len(pair_targets), dtype=torch.long))
sloss.backward()
sampled_fix = {
    "weights": weights,
    "u": Up0.flatten().tolist(),
    "targets": pair_targets,
    "sampled": sampled,
    "loss": sloss.item(),
    "d_u": U.grad.flatten().tolist(),
    "d_q": Q.grad.flatten().tolist(),
    "d_b": b.grad.tolist(),
}

# --- SparseAdam (K35): float32 table (6, 3); step s touches the ids of steps[s]; row 5
# is never touched, row 0 only at the first step.
T0 = torch.randn(6, 3, dtype=torch.float32)
emb = torch.nn.Embedding(6, 3, sparse=True)
with torch.no_grad():
    emb.weight.copy_(T0)
opt = torch.optim.SparseAdam(emb.parameters(), lr=0.05)
steps = [[0, 1, 1, 3], [2, 3], [1, 4, 3, 3]]
upstream = [torch.randn(len(s), 3, dtype=torch.float32) for s in steps]
after = []
for s, g in zip(steps, upstream):
    opt.zero_grad()
    (emb(torch.tensor(s)) * g).sum().backward()
    opt.step()
    after.append(emb.weight.detach().flatten().tolist())
adam = {
    "lr": 0.05,
    "table": T0.flatten().tolist(),
    "steps": steps,
    "upstream": [g.flatten().tolist() for g in upstream],
    "after": after,
}

out = {
    "pool_dim": D,
    "table": E0.flatten().tolist(),
    "bag_offsets": offsets,
    "bag_ids": ids,
    "w": W.flatten().tolist(),
    "pooling": pooling,
    "dim": Dm,
    "items": I,
    "full": full,
    "sampled": sampled_fix,
    "sparse_adam": adam,
}
path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "nn_fixtures.json")
with open(path, "w") as f:
    json.dump(out, f, indent=1)
print("wrote", path, "full loss", full["loss"], "sampled loss", sampled_fix["loss"])
