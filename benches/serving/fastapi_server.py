"""The peer service of benches/serving: FastAPI + uvicorn scoring a glassbox bundle with NumPy.

It reads the same model.safetensors (header parsed by hand: the bundle is plain safetensors),
applies the bundle's preprocessor (notes/data.md D1-D10: impute, log1p, standardise,
boolean, one-hot with <unknown>) and the ensemble's forward pass in float32 with the
probability sigma(z) in float64, averaged over members — the same network, the same request
format as `glassbox serve` (one row object, an array, or {"rows": [...]}).

    MODEL=runs/case-study/purchase/default/model.safetensors \
      /work/venv/bin/uvicorn --app-dir benches/serving fastapi_server:app --port 8081 --workers 2
"""

import json
import math
import os
import struct

import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse


def load(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    meta = header.pop("__metadata__")
    data = raw[8 + n :]
    tensors = {}
    for name, t in header.items():
        a, b = t["data_offsets"]
        tensors[name] = np.frombuffer(data[a:b], dtype="<f4").reshape(t["shape"])
    info = json.loads(meta["glassbox.bundle"])
    pre = json.loads(meta["glassbox.preprocessor"])
    k = len(info["members"])
    layers = len([n for n in tensors if n.startswith("members.0.") and n.endswith(".weight")])
    members = [
        [
            (tensors[f"members.{m}.layers.{l}.weight"].T.copy(), tensors[f"members.{m}.layers.{l}.bias"])
            for l in range(layers)
        ]
        for m in range(k)
    ]
    return info, pre, members


INFO, PRE, MEMBERS = load(os.environ["MODEL"])
THRESHOLD = INFO["threshold"]["value"]
POSITIVE, NEGATIVE = PRE["target"]["written"]
MISSING = {c["name"]: c.get("missing", []) for c in PRE["schema"]["columns"]}
COLUMNS = PRE["columns"]
WIDTH = sum(len(c["levels"]) + 1 if c["kind"] == "categorical" else 1 for c in COLUMNS)


def encode(rows):
    x = np.zeros((len(rows), WIDTH), dtype=np.float32)
    start = 0
    for c in COLUMNS:
        name = c["column"]
        if c["kind"] == "numeric":
            median, mean, scale = float(c["median"]), float(c["mean"]), float(c["scale"])
            for i, r in enumerate(rows):
                v = r[name]
                if v is None or v in MISSING[name]:  # null and the declared sentinels
                    v = median
                u = math.log1p(v) if c["log1p"] else float(v)
                x[i, start] = (u - mean) / scale
            start += 1
        elif c["kind"] == "boolean":
            for i, r in enumerate(rows):
                v = r[name]
                x[i, start] = float(c["mode"] if v is None else bool(v))
            start += 1
        else:
            index = {l: j for j, l in enumerate(c["levels"])}
            for i, r in enumerate(rows):
                v = r[name]
                j = c["mode"] if v is None else index.get(str(v).strip(), len(c["levels"]))
                x[i, start + j] = 1.0
            start += len(c["levels"]) + 1
    return x


def probabilities(x):
    total = np.zeros(x.shape[0], dtype=np.float64)
    for layers in MEMBERS:
        h = x
        for w, b in layers[:-1]:
            h = np.maximum(h @ w + b, 0.0)
        w, b = layers[-1]
        z = (h @ w + b)[:, 0].astype(np.float64)
        total += 1.0 / (1.0 + np.exp(-z))
    return total / len(MEMBERS)


app = FastAPI()


@app.post("/v1/models/{name}/predict")
async def predict(name: str, request: Request):
    body = await request.json()
    rows = body["rows"] if isinstance(body, dict) and "rows" in body else body
    if isinstance(rows, dict):
        rows = [rows]
    p = probabilities(encode(rows))
    return JSONResponse(
        {
            "model": name,
            "threshold": THRESHOLD,
            "predictions": [
                {"probability": float(q), "label": POSITIVE if q >= THRESHOLD else NEGATIVE, "positive": bool(q >= THRESHOLD)}
                for q in p
            ],
        }
    )
