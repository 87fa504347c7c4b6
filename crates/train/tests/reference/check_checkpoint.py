"""Reads a glassbox checkpoint with Python's safetensors and PyTorch, and checks it.

Run from the repository root:

    /work/venv/bin/python crates/train/tests/reference/check_checkpoint.py [path]

The default path is crates/train/tests/reference/glassbox_small_checkpoint.safetensors, written by the Rust
test `committed_checkpoint_reproduces_its_reference_outputs` in crates/train/tests/checkpoint_resume.rs
(regenerate with `GLASSBOX_REGENERATE_CHECKPOINT=1 cargo test -p glassbox-train --test checkpoint_resume
committed_checkpoint`). Checked with torch 2.15.0 (CPU), safetensors 0.8.0, numpy 2.4.6.

What it checks (notes/training.md section 5 describes the format):
1. the safetensors `__metadata__` holds the manifest under "glassbox.manifest" and its FNV-1a 64
   checksum under "glassbox.manifest.fnv1a64"; its format is "glassbox-checkpoint", version 1;
2. every tensor the manifest lists is in the file with that shape and the dtype of the run,
   its FNV-1a 64 checksum matches, and there is no other tensor;
3. the weights load into the matching `nn.Sequential(Linear_0, act_0, Linear_1, act_1, ...)`
   with `load_state_dict(strict=True)` after renaming `layers.{l}.` to `{2l}.`;
4. the network's outputs for the reference inputs stored in the manifest's `extra` agree
   with the outputs glassbox computed (stored beside them) to 1e-6, and a weight moved by
   0.01 breaks that agreement (negative control).
It prints what it measured and exits non-zero on any failure.
"""

import json
import os
import sys

import torch
import torch.nn as nn
from safetensors import safe_open

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", "..", "..", ".."))
# make_core_fixtures.py lives with glassbox-core's fixtures.
sys.path.insert(0, os.path.join(ROOT, "crates", "core", "tests", "reference"))
from make_core_fixtures import torch_activation  # noqa: E402

DEFAULT = os.path.join(HERE, "glassbox_small_checkpoint.safetensors")
DTYPES = {"f32": torch.float32, "f64": torch.float64}


def fnv1a64(data: bytes) -> str:
    h = 0xCBF29CE484222325
    for b in data:
        h ^= b
        h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


def activation(name: str) -> nn.Module:
    """The PyTorch module of a glassbox activation name (as the manifest prints it)."""
    return nn.Identity() if name == "identity" else torch_activation(name)


def main(path: str) -> None:
    with safe_open(path, framework="pt") as f:
        metadata = f.metadata()
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    text = metadata["glassbox.manifest"]
    assert fnv1a64(text.encode()) == metadata["glassbox.manifest.fnv1a64"], "manifest checksum"
    manifest = json.loads(text)
    assert manifest["format"] == "glassbox-checkpoint", manifest["format"]
    assert manifest["format_version"] == 1, manifest["format_version"]
    dtype = DTYPES[manifest["dtype"]]

    listed = manifest["tensors"]
    assert set(listed) == set(tensors), (sorted(listed), sorted(tensors))
    for name, record in listed.items():
        t = tensors[name]
        assert list(t.shape) == record["shape"], (name, t.shape, record["shape"])
        assert t.dtype == dtype, (name, t.dtype)
        raw = t.contiguous().numpy().astype(t.numpy().dtype.newbyteorder("<")).tobytes()
        assert fnv1a64(raw) == record["fnv1a64"], name

    arch = manifest["architecture"]
    modules, state = [], {}
    fan_in = arch["inputs"]
    for l, layer in enumerate(arch["layers"]):
        modules += [nn.Linear(fan_in, layer["units"]), activation(layer["activation"])]
        state[f"{2 * l}.weight"] = tensors[f"layers.{l}.weight"]
        state[f"{2 * l}.bias"] = tensors[f"layers.{l}.bias"]
        fan_in = layer["units"]
    model = nn.Sequential(*modules).to(dtype)
    model.load_state_dict(state, strict=True)
    model.eval()

    x = torch.tensor(json.loads(manifest["extra"]["reference.inputs"]), dtype=dtype)
    expected = torch.tensor(json.loads(manifest["extra"]["reference.outputs"]), dtype=dtype)
    with torch.no_grad():
        y = model(x)
    diff = (y - expected).abs().max().item()
    n_params = sum(p.numel() for p in model.parameters())
    assert n_params == manifest["num_params"], (n_params, manifest["num_params"])
    optim = sorted(k for k in tensors if k.startswith("optim."))
    print(f"{path}: {len(tensors)} tensors, checksums ok, {n_params} parameters, dtype {manifest['dtype']}")
    print(f"  architecture {arch['inputs']} -> " + " -> ".join(f"{l['units']} {l['activation']}" for l in arch["layers"]))
    print(f"  optimizer state tensors: {optim}")
    print(f"  epochs_done {manifest['epochs_done']}, optimizer steps {manifest['optimizer_step_count']}, "
          f"rng {manifest['rng']['algorithm']} stream {manifest['rng']['stream']} word_pos {manifest['rng']['word_pos']}")
    print(f"  torch outputs {y.flatten().tolist()}")
    print(f"  max |torch - glassbox| = {diff:.3e}")
    assert diff <= 1e-6, diff
    # Negative control: a weight off by 0.01 must show in the outputs.
    with torch.no_grad():
        model[0].weight[0, 0] += 0.01
        off = (model(x) - expected).abs().max().item()
    print(f"  negative control (one weight + 0.01): max diff {off:.3e}")
    assert off > 1e-6, off
    print("OK")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else DEFAULT)
