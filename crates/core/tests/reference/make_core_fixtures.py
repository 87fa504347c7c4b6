"""Writes crates/core/tests/reference/core_fixtures.safetensors: PyTorch reference values for glassbox-core.

Run from the repository root:

    /work/venv/bin/python crates/core/tests/reference/make_core_fixtures.py

The committed fixture was produced with torch 2.15.0 (CPU), safetensors 0.8.0 and numpy 2.4.6
(the exact versions are written into the file's metadata). crates/core/tests/pytorch_core.rs
reads it (`cargo test -p glassbox-core --test pytorch_core`);
the test needs neither Python nor network. Re-running the script on the machine kind that
made the file reproduces every tensor bit for bit; only the order of the
metadata entries in the file's JSON header may change. On another CPU PyTorch's own results
can differ: on an Intel Sapphire Rapids-class Xeon the inputs and weights come out the same
and the outputs and gradients differ by at most 3.7e-7 (f32) and 2.0e-15 (f64) of each
tensor's largest element (measured) — far inside the test's bounds; keep the committed file.

Three networks (nn.Sequential of nn.Linear + activation, PyTorch's default initialisation
from a fixed torch.manual_seed):

    big    784 -> 64 -> 64 -> 1   relu, relu, sigmoid              batch 16
    small   17 ->  8 ->  4 -> 1   tanh, leaky_relu(0.1), sigmoid   batch 32
    soft     6 ->  5 ->  3        sigmoid, softmax                 batch 8

For each: the initial weights (f32), an input batch X (f32) and targets Y; then, computed once
in float32 and once in float64 (the f32 weights and inputs converted exactly to f64):
the output, the MSE loss L = mean((y_hat - y)^2) over all N*O elements (torch's
nn.MSELoss(reduction="mean")), every parameter gradient and dL/dX.

Tensor names (safetensors keys):
    {net}.layers.{l}.weight  [H, D] f32     {net}.layers.{l}.bias  [H] f32
    {net}.x  [N, D] f32                     {net}.target  [N, O] f32
    {net}.{dtype}.output  [N, O]            {net}.{dtype}.loss  [1]
    {net}.{dtype}.grad.layers.{l}.weight    {net}.{dtype}.grad.layers.{l}.bias
    {net}.{dtype}.grad.x  [N, D]            with dtype in {f32, f64}
`layers.{l}` numbers the Linear layers (Dense index), not the nn.Sequential slots.
Metadata: "{net}.inputs", "{net}.units" (comma-separated), "{net}.activations"
(comma-separated glassbox names), and the library versions.
"""

import os

import numpy as np
import safetensors
import torch
import torch.nn as nn
from safetensors.numpy import save_file

OUT = os.path.join("crates", "core", "tests", "reference", "core_fixtures.safetensors")

NETS = [
    # name, seed, inputs, [(units, activation name)], batch
    ("big", 20240601, 784, [(64, "relu"), (64, "relu"), (1, "sigmoid")], 16),
    ("small", 7, 17, [(8, "tanh"), (4, "leaky_relu(0.1)"), (1, "sigmoid")], 32),
    ("soft", 11, 6, [(5, "sigmoid"), (3, "softmax")], 8),
]


def torch_activation(name):
    if name == "relu":
        return nn.ReLU()
    if name == "sigmoid":
        return nn.Sigmoid()
    if name == "tanh":
        return nn.Tanh()
    if name == "softmax":
        return nn.Softmax(dim=1)
    if name.startswith("leaky_relu(") and name.endswith(")"):
        return nn.LeakyReLU(negative_slope=float(name[len("leaky_relu(") : -1]))
    raise ValueError(name)


def build(seed, inputs, layers):
    torch.manual_seed(seed)
    modules = []
    fan_in = inputs
    for units, act in layers:
        modules.append(nn.Linear(fan_in, units))  # default init: U(+-1/sqrt(fan_in))
        modules.append(torch_activation(act))
        fan_in = units
    return nn.Sequential(*modules)


def linears(model):
    return [m for m in model if isinstance(m, nn.Linear)]


def run(model, x, target, dtype):
    model = model.to(dtype)
    model.zero_grad()
    x = x.to(dtype).clone().requires_grad_(True)
    out = model(x)
    loss = nn.MSELoss(reduction="mean")(out, target.to(dtype))
    loss.backward()
    return out.detach(), loss.detach(), model, x.grad.detach()


def main():
    tensors = {}
    metadata = {
        "torch": torch.__version__,
        "numpy": np.__version__,
        "safetensors": safetensors.__version__,
        "loss": "mse mean over N*O: L = sum((y_hat - y)^2) / (N*O)",
    }
    for name, seed, inputs, layers, batch in NETS:
        model = build(seed, inputs, layers)
        gen = torch.Generator().manual_seed(seed + 1)
        x = torch.randn(batch, inputs, generator=gen, dtype=torch.float32)
        outputs = layers[-1][0]
        if layers[-1][1] == "softmax":
            labels = torch.randint(0, outputs, (batch,), generator=gen)
            target = torch.nn.functional.one_hot(labels, outputs).to(torch.float32)
        else:
            target = torch.randint(0, 2, (batch, outputs), generator=gen).to(torch.float32)
        metadata[f"{name}.inputs"] = str(inputs)
        metadata[f"{name}.units"] = ",".join(str(u) for u, _ in layers)
        metadata[f"{name}.activations"] = ",".join(a for _, a in layers)
        for l, lin in enumerate(linears(model)):
            tensors[f"{name}.layers.{l}.weight"] = lin.weight.detach().numpy().copy()
            tensors[f"{name}.layers.{l}.bias"] = lin.bias.detach().numpy().copy()
        tensors[f"{name}.x"] = x.numpy().copy()
        tensors[f"{name}.target"] = target.numpy().copy()
        for dtype, tag in [(torch.float32, "f32"), (torch.float64, "f64")]:
            # Each run starts from the same f32 weights (converted exactly to f64).
            fresh = build(seed, inputs, layers)
            out, loss, trained, d_x = run(fresh, x, target, dtype)
            tensors[f"{name}.{tag}.output"] = out.numpy().copy()
            tensors[f"{name}.{tag}.loss"] = loss.reshape(1).numpy().copy()
            for l, lin in enumerate(linears(trained)):
                tensors[f"{name}.{tag}.grad.layers.{l}.weight"] = lin.weight.grad.numpy().copy()
                tensors[f"{name}.{tag}.grad.layers.{l}.bias"] = lin.bias.grad.numpy().copy()
            tensors[f"{name}.{tag}.grad.x"] = d_x.numpy().copy()
            print(f"{name} {tag}: loss {loss.item()!r}")
    save_file(tensors, OUT, metadata=metadata)
    print(f"wrote {OUT} ({os.path.getsize(OUT)} bytes, {len(tensors)} tensors)")


if __name__ == "__main__":
    main()
