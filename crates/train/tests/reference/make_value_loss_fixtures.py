"""Reference values for the value losses (crates/train/src/loss/value.rs, notes/value.md C1–C7).

PyTorch autograd in float64 computes each loss and its gradient with respect to the network
outputs; the ZILN loss is written exactly as `zero_inflated_lognormal_loss` of
google/lifetime_value (BCE on y > 0 plus -LogNormal(mu, sigma).log_prob(y) on the positive
rows, sigma = max(softplus(s), sqrt(1e-7))), averaged over the batch with per-row weights.

Run:  /work/venv/bin/python crates/train/tests/reference/make_value_loss_fixtures.py
Writes value_loss_fixtures.json next to this script (tests never need Python).
"""
import json
import math
import os

import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)


def ziln(out, y, w):
    positive = (y > 0).double()
    logit, mu, s = out[:, :1], out[:, 1:2], out[:, 2:3]
    cls = F.binary_cross_entropy_with_logits(logit, positive, reduction="none")
    sigma = torch.maximum(F.softplus(s), torch.tensor(math.sqrt(1e-7)))
    safe = positive * y + (1 - positive) * torch.ones_like(y)
    reg = -positive * torch.distributions.LogNormal(mu, sigma).log_prob(safe)
    return (w * (cls + reg)[:, 0]).mean()


def mse_log1p(out, y, w):
    return (w * ((out - torch.log1p(y)) ** 2)[:, 0]).mean()


def huber_log1p(out, y, w):
    per = F.huber_loss(out, torch.log1p(y), reduction="none", delta=1.0)
    return (w * per[:, 0]).mean()


def prediction(out):
    p = torch.sigmoid(out[:, 0])
    sigma = torch.maximum(F.softplus(out[:, 2]), torch.tensor(math.sqrt(1e-7)))
    return (p * torch.exp(out[:, 1] + 0.5 * sigma**2)).tolist()


def case(name, loss, fn, out, y, w=None):
    out = torch.tensor(out, requires_grad=True)
    y = torch.tensor(y).reshape(-1, 1)
    weights = torch.ones(len(y)) if w is None else torch.tensor(w)
    value = fn(out, y, weights)
    value.backward()
    c = {
        "name": name,
        "loss": loss,
        "outputs": out.detach().tolist(),
        "y": y[:, 0].tolist(),
        "weights": w,
        "value": value.item(),
        "grad": out.grad.tolist(),
    }
    if loss == "ziln":
        c["prediction"] = prediction(out.detach())
    return c


g = torch.Generator().manual_seed(20261205)
rand = lambda *shape: torch.randn(*shape, generator=g).tolist()
ys = [0.0, 12.5, 0.0, 830.0, 3.2, 0.0, 45000.0, 1.0]
cases = [
    case("ziln_mixed", "ziln", ziln, rand(8, 3), ys),
    case("ziln_weighted", "ziln", ziln, rand(8, 3), ys, [0.5, 2.0, 1.0, 0.0, 3.0, 1.0, 0.25, 1.5]),
    case("ziln_all_zero", "ziln", ziln, rand(4, 3), [0.0] * 4),
    # sigma on its floor (s = -20), a huge value, confident logits, tiny y.
    case("ziln_extremes", "ziln", ziln,
         [[30.0, 2.0, -20.0], [-30.0, 600.0, 3.0], [0.0, -5.0, 8.0], [5.0, 0.0, 0.5]],
         [5.0, 1e250, 1e-8, 0.0]),
    case("mse_log1p_mixed", "mse_log1p", mse_log1p, rand(8, 1), ys),
    case("mse_log1p_weighted", "mse_log1p", mse_log1p, rand(8, 1), ys, [0.5, 2.0, 1.0, 0.0, 3.0, 1.0, 0.25, 1.5]),
    case("huber_log1p_mixed", "huber_log1p", huber_log1p,
         [[0.2], [2.0], [-0.4], [7.0], [1.5], [3.0], [9.9], [0.69]], ys),
]
here = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(here, "value_loss_fixtures.json"), "w") as f:
    json.dump({"torch": torch.__version__, "cases": cases}, f, indent=1)
print(len(cases), "cases")
