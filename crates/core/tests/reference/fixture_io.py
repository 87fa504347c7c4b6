"""Shared pieces of the whole-network fixture scripts (make_wide_network_fixtures.py):
mean BCE on the logit in the stable form, flattening, plain SGD steps, and writing the
fixture JSON one key a line."""

import json
import pathlib

import torch


def bce(z, t):
    """Mean BCE on the logit: `max(z, 0) − z·y + ln(1 + e^{−|z|})`."""
    return (z.clamp(min=0) - z * t + torch.log1p(torch.exp(-z.abs()))).mean()


def flat(t):
    return [float(v) for v in t.detach().reshape(-1)]


def sgd_steps(forward, params, order, x, y, lr, steps):
    """`steps` plain SGD steps, θ ← θ − lr·∇L, on the same batch (gradients cleared first)."""
    with torch.no_grad():
        for k in order:
            params[k].grad = None
    for _ in range(steps):
        bce(forward(params, x.detach()), y).backward()
        with torch.no_grad():
            for k in order:
                params[k] -= lr * params[k].grad
                params[k].grad = None


def network_fields(forward, params, order, x, y, lr):
    """Logit, loss, every parameter's gradient and ∂L/∂X at x (autograd), then three SGD
    steps at lr: the fixture entries every whole-network test reads (after its `torch`
    and `shape`)."""
    logit = forward(params, x)
    loss = bce(logit, y)
    loss.backward()
    fields = {
        "x": flat(x),
        "y": flat(y),
        "params": [v for k in order for v in flat(params[k])],
        "logit": flat(logit),
        "loss": float(loss.detach()),
        "grads": [v for k in order for v in flat(params[k].grad)],
        "d_x": flat(x.grad),
        "lr": lr,
    }
    sgd_steps(forward, params, order, x, y, lr, 3)
    fields["params_after_3_sgd"] = [v for k in order for v in flat(params[k])]
    return fields


def write_fixture(path, out):
    """One key a line: short enough to read, and under the repository's line limit."""
    path = pathlib.Path(path)
    lines = [f" {json.dumps(k)}: {json.dumps(v)}" for k, v in out.items()]
    path.write_text("{\n" + ",\n".join(lines) + "\n}\n")
    print(f"wrote {path}")
