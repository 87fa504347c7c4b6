"""Reference values of the binary focal loss (notes/losses.md §7, L15-L17) from PyTorch.

Run from the repository root:

    /work/venv/bin/python crates/train/tests/reference/make_focal_fixtures.py

Writes crates/train/tests/reference/focal_fixtures.json, read by crates/train/tests/focal_loss.rs.
The loss is torchvision.ops.sigmoid_focal_loss's formula (written out here so the script
needs torch only), reduction "mean", computed in float64; the gradient is autograd's.
Floats are repr strings (exact round trip); inputs come from a seeded generator.
"""

import json
from pathlib import Path

import torch
import torch.nn.functional as F

OUT = Path(__file__).with_name("focal_fixtures.json")


def focal(z, y, gamma, alpha):
    p = torch.sigmoid(z)
    ce = F.binary_cross_entropy_with_logits(z, y, reduction="none")
    p_t = p * y + (1 - p) * (1 - y)
    loss = ce * ((1 - p_t) ** gamma)
    if alpha is not None:
        loss = (alpha * y + (1 - alpha) * (1 - y)) * loss
    return loss.mean()


def case(name, z, y, gamma, alpha):
    z = torch.tensor(z, dtype=torch.float64, requires_grad=True)
    y = torch.tensor(y, dtype=torch.float64)
    loss = focal(z, y, gamma, alpha)
    loss.backward()
    return {
        "name": name,
        "shape": list(z.shape),
        "z": [repr(v) for v in z.detach().flatten().tolist()],
        "y": [repr(v) for v in y.flatten().tolist()],
        "gamma": repr(float(gamma)),
        "alpha": None if alpha is None else repr(float(alpha)),
        "loss": repr(loss.item()),
        "grad": [repr(v) for v in z.grad.flatten().tolist()],
    }


def main():
    g = torch.Generator().manual_seed(15)
    z = (torch.randn(8, 1, generator=g, dtype=torch.float64) * 3).tolist()
    y = (torch.rand(8, 1, generator=g, dtype=torch.float64) < 0.3).double().tolist()
    z2 = (torch.randn(5, 3, generator=g, dtype=torch.float64) * 2).tolist()
    y2 = torch.rand(5, 3, generator=g, dtype=torch.float64).tolist()  # soft labels
    cases = [
        case("gamma2_alpha025", z, y, 2.0, 0.25),
        case("gamma2_no_alpha", z, y, 2.0, None),
        case("gamma0_is_bce", z, y, 0.0, None),
        case("gamma1_5_soft_labels", z2, y2, 1.5, 0.6),
        case("large_logits", [[30.0], [-30.0], [12.0], [-12.0]], [[1.0], [0.0], [0.0], [1.0]], 2.0, 0.25),
    ]
    OUT.write_text(json.dumps({"torch": torch.__version__, "cases": cases}, indent=1) + "\n")


if __name__ == "__main__":
    main()
