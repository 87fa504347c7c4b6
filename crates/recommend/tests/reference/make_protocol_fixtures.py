"""Reference for the recommendation protocol, retrieval and metrics (notes/recommend.md K1–K11).

Writes protocol_fixtures.json: a small random purchase log, a cutoff and an end, a score for
every (training user, candidate item) with many ties, and what the protocol of
../shared/datasets/README.md gives: the id maps, the evaluated users of each mode, the top-K
lists (ties to the smaller item name, byte order) and the metrics at several K.
Written independently of the Rust code: plain Python, sorted() with a (−score, name) key.

Run: /work/venv/bin/python crates/recommend/tests/reference/make_protocol_fixtures.py
"""

import json
import math
import os
import random

rng = random.Random(20261205)
users = [f"{rng.randint(10000, 99999)}" for _ in range(40)]
# Names whose byte order differs from numeric order and letter suffixes (85123 < 85123A).
items = ["85123", "85123A", "9", "10", "A1", "a1", "B", "22", "220", "2200"] + [
    f"{rng.randint(20000, 23999)}" + rng.choice(["", "", "B", "C"]) for _ in range(30)
]
items = sorted(set(items))
CUTOFF, END = 1000, 1600
events = []
for _ in range(900):
    u = rng.choice(users[:36])  # the last 4 users never buy
    i = rng.choice(items)
    t = rng.randint(0, 1700)
    basket = f"b{u}-{t // 50}"
    events.append([u, i, t, basket])
# Duplicate lines and one item bought only after the cutoff (a cold item in the truth).
events += events[:30]
events.append([users[0], "ZZZ-only-in-test", 1200, "late"])
events.append(["cold-user", items[0], 1300, "cold"])

train = [e for e in events if e[2] < CUTOFF]
test = [e for e in events if CUTOFF <= e[2] < END]
t_users = sorted({e[0] for e in train}, key=lambda s: s.encode())
t_items = sorted({e[1] for e in train}, key=lambda s: s.encode())
item_id = {s: k for k, s in enumerate(t_items)}
hist = {u: set() for u in t_users}
for e in train:
    hist[e[0]].add(e[1])
truth = {}
for e in test:
    if e[0] in hist:
        truth.setdefault(e[0], set()).add(e[1])

# Scores rounded to one decimal: many ties inside each user's list.
scores = [[round(rng.random(), 1) for _ in t_items] for _ in t_users]
popularity = [sum(1 for u in t_users if s in hist[u]) / len(t_users) for s in t_items]

KS = [1, 5, 10, 50]
out = {
    "events": events,
    "cutoff": CUTOFF,
    "end": END,
    "users": t_users,
    "items": t_items,
    "scores": scores,
    "popularity": popularity,
    "cold_test_users": len({e[0] for e in test if e[0] not in hist}),
    "modes": {},
}
for mode in ["new", "all"]:
    evaluated, lists = [], []
    for ui, u in enumerate(t_users):
        if u not in truth:
            continue
        tr = set(truth[u])
        excl = set()
        if mode == "new":
            tr -= hist[u]
            excl = hist[u]
        if not tr:
            continue
        cands = [s for s in t_items if s not in excl]
        ranked = sorted(cands, key=lambda s: (-scores[ui][item_id[s]], s.encode()))
        evaluated.append({"user": ui, "truth": sorted(tr, key=lambda s: s.encode())})
        lists.append([item_id[s] for s in ranked[: max(KS)]])
    metrics = {}
    for k in KS:
        rec, ndcg, hr, ap_sum, pop = [], [], [], [], []
        seen = set()
        for ev, lst in zip(evaluated, lists):
            tr = set(ev["truth"])
            top = [t_items[i] for i in lst[:k]]
            rel = [1 if s in tr else 0 for s in top]
            hits = sum(rel)
            rec.append(hits / len(tr))
            dcg = sum(r / math.log2(p + 2) for p, r in enumerate(rel))
            idcg = sum(1 / math.log2(p + 2) for p in range(min(k, len(tr))))
            ndcg.append(dcg / idcg)
            hr.append(1.0 if hits else 0.0)
            precs = [sum(rel[: p + 1]) / (p + 1) for p in range(len(rel)) if rel[p]]
            ap_sum.append(sum(precs) / min(k, len(tr)))
            seen.update(lst[:k])
            pop.append(sum(popularity[i] for i in lst[:k]) / len(lst[:k]))
        n = len(evaluated)
        metrics[str(k)] = {
            "recall": sum(rec) / n,
            "ndcg": sum(ndcg) / n,
            "hit_rate": sum(hr) / n,
            "map": sum(ap_sum) / n,
            "coverage": len(seen) / len(t_items),
            "popularity": sum(pop) / n,
        }
    out["modes"][mode] = {
        "evaluated": evaluated,
        "lists": lists,
        "metrics": metrics,
    }

path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "protocol_fixtures.json")
with open(path, "w") as f:
    json.dump(out, f)
print(path, {m: len(v["evaluated"]) for m, v in out["modes"].items()})
