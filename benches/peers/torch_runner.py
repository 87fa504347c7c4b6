"""PyTorch peer: eager nn.Sequential MLP, BCEWithLogitsLoss, torch.optim.Adam, float32.

    /work/venv/bin/python benches/peers/torch_runner.py --data /tmp/glassbox-peers \
        --workload train_b32 [--threads 1] [--repeats 1] [--warmup 1] [--quick] [--variant torch_fused]

Variants (the "runner" name in the JSON): `torch` = Adam with its defaults (on CPU the per-tensor
for-loop implementation); `torch_fused` = Adam(fused=True), the fused CPU kernel (supported on CPU
since torch 2.4; checked working in 2.15). The variant only changes training; for inference and
startup both are the same program.

Threads: OMP_NUM_THREADS / MKL_NUM_THREADS set before import, then torch.set_num_threads(T) and
torch.set_num_interop_threads(1). Training runs under torch.no_grad-free eager autograd as a user
would write it; inference under torch.inference_mode(). No torch.compile.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

ARGS = common.parse_args(["torch", "torch_fused"])
common.apply_thread_env("torch", ARGS.threads)

import torch  # noqa: E402


def build(init) -> torch.nn.Sequential:
    layers = []
    for i, (w, b) in enumerate(init):
        lin = torch.nn.Linear(w.shape[0], w.shape[1])
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(w.T.copy()))  # torch stores [out, in]
            lin.bias.copy_(torch.from_numpy(b))
        layers.append(lin)
        if i < len(init) - 1:
            layers.append(torch.nn.ReLU())
    return torch.nn.Sequential(*layers)


def main() -> None:
    a = ARGS
    runner = a.variant
    torch.set_num_threads(a.threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass  # already set (only allowed once, before any parallel work)
    spec = common.workload_spec(a.workload, a.quick)
    meta = common.load_meta(a.data)
    model = build(common.load_init(a.data, meta, spec["model"]))

    if spec["kind"] == "startup":
        x, _ = common.load_xy(a.data, meta, 1)
        with torch.inference_mode():
            p = model(torch.from_numpy(x))[0, 0].item()
        common.emit_prediction(runner, p, {"torch": torch.__version__})
        return

    vers = common.base_versions()
    vers.update({"torch": torch.__version__, "num_threads": torch.get_num_threads(),
                 "num_interop_threads": torch.get_num_interop_threads(),
                 "cpu_capability": torch.backends.cpu.get_cpu_capability()})

    if spec["kind"] == "train":
        b, steps = spec["batch"], spec["steps"]
        xn, yn = common.load_xy(a.data, meta, spec["samples"])
        x, y = torch.from_numpy(xn), torch.from_numpy(yn).reshape(-1, 1)
        ad = common.ADAM
        opt = torch.optim.Adam(model.parameters(), lr=ad["lr"], betas=(ad["beta1"], ad["beta2"]),
                               eps=ad["eps"], fused=(runner == "torch_fused") or None)
        vers["adam"] = {k: opt.defaults[k] for k in ("fused", "foreach")}
        loss_fn = torch.nn.BCEWithLogitsLoss()

        def one_pass():
            total = torch.zeros(())
            for s in range(steps):
                opt.zero_grad(set_to_none=True)
                loss = loss_fn(model(x[s * b:(s + 1) * b]), y[s * b:(s + 1) * b])
                loss.backward()
                opt.step()
                total += loss.detach()
            return total.item() / steps
    else:
        b, rows = spec["batch"], spec["rows"]
        xn, _ = common.load_xy(a.data, meta, rows)
        x = torch.from_numpy(xn)

        def one_pass():
            acc = 0.0
            with torch.inference_mode():
                for s in range(0, rows, b):
                    acc += model(x[s:s + b]).sum().item()
            return acc / rows

    common.run_passes(runner, spec, a, vers, one_pass)


if __name__ == "__main__":
    main()
