"""NumPy prototype behind notes/recommend.md §7 (K40–K42): which recency levers help EASE on the
Online Retail *validation* split (train < 2011-09-01, truth = September 2011, new mode, Recall@20
and NDCG@20). It reads no test data and the Rust code does not use it; it was run to decide what
to build. About 2 minutes of CPU (numpy's inverse of each 3,389 × 3,389 Gram).

    /work/venv/bin/python scripts/recommend_recency_prototype.py   (from the repo root)
"""
import numpy as np
import pandas as pd

DAY = 86400.0
df = pd.read_csv("datasets/online_retail_interactions.csv.gz",
                 dtype={"customer_id": str, "stock_code": str, "invoice_no": str})
df["t"] = pd.to_datetime(df.invoice_date).astype("datetime64[s]").astype("int64")
c = int(pd.Timestamp("2011-09-01").value // 10**9)
e = int(pd.Timestamp("2011-10-01").value // 10**9)
tr, te = df[df.t < c], df[(df.t >= c) & (df.t < e)]
b = tr.groupby(["customer_id", "stock_code", "invoice_no"]).t.min().reset_index()
users, items = sorted(b.customer_id.unique()), sorted(b.stock_code.unique())
uid = {u: k for k, u in enumerate(users)}
iid = {i: k for k, i in enumerate(items)}
b["u"], b["i"] = b.customer_id.map(uid), b.stock_code.map(iid)
U, I = len(users), len(items)
last = b.groupby(["u", "i"]).t.max()
ui = (last.index.get_level_values(0), last.index.get_level_values(1))
X = np.zeros((U, I)); X[ui] = 1
age = np.full((U, I), np.inf); age[ui] = (c - last.values) / DAY
truth = {}
for u_, g in te.groupby("customer_id"):
    if u_ in uid:
        s = set(g.stock_code)
        truth[uid[u_]] = ([iid[x] for x in s if x in iid], sum(x not in iid for x in s))


def ev(S, K=20):
    """New mode: own items excluded from list and truth; ties to the smaller item id (K5)."""
    disc = 1 / np.log2(np.arange(2, K + 2))
    rec, nd = [], []
    for u, (known, unk) in truth.items():
        kn = [i for i in known if X[u, i] == 0]
        size = len(kn) + unk
        if size == 0:
            continue
        s = np.where(X[u] > 0, -np.inf, S[u])
        rel = np.isin(np.lexsort((np.arange(I), -s))[:K], kn).astype(float)
        rec.append(rel.sum() / size)
        nd.append((rel * disc).sum() / disc[: min(K, size)].sum())
    return round(np.mean(rec), 4), round(np.mean(nd), 4)


def ease(W, lam):
    P = np.linalg.inv(W.T @ W + lam * np.eye(I))
    B = -P / np.diag(P)[None, :]
    np.fill_diagonal(B, 0)
    return B


def weights(h):
    return np.where(X > 0, 0.5 ** (age / h), 0) if np.isfinite(h) else X


def z(S):
    sd = S.std(1, keepdims=True)
    return (S - S.mean(1, keepdims=True)) / np.where(sd == 0, 1, sd)


B = ease(X, 300.0)
print("binary EASE λ 300", ev(X @ B))
for hp in [60, 120, 240]:
    print(f"binary B, profile h' {hp}", ev(weights(hp) @ B))
for h in [60, 120, 240]:
    W = weights(h)
    lam = 300.0 * (W**2).sum() / X.sum()  # K41's λ_h
    Bh = ease(W, lam)
    for hp in [60, 120, 240]:
        print(f"X_w h {h} (λ_h {lam:.1f}), profile h' {hp}", ev(weights(hp) @ Bh))
# RP3β (Paudel et al. 2016), unpruned, against and with the weighted EASE (h 60, h' 120).
W = weights(60)
E = z(weights(120) @ ease(W, 300.0 * (W**2).sum() / X.sum()))
du, di = X.sum(1), X.sum(0)
W3 = (X / np.maximum(di, 1)[None, :]).T @ (X / np.maximum(du, 1)[:, None])
for beta in [0.3, 0.5, 0.7]:
    Wb = W3 / np.maximum(di, 1)[None, :] ** beta
    np.fill_diagonal(Wb, 0)
    for name, prof in [("binary", X), ("profile h' 120", weights(120))]:
        R = prof @ Wb
        print(f"RP3β β {beta} {name}", ev(R),
              "blend with weighted EASE, weight 0.5 / 1:", ev(E + 0.5 * z(R)), ev(E + z(R)))
