"""Post-processing of the value case's network, judged on validation customers only
(notes/value.md §4, the tenth session): the blend with the "last period repeats" rule (C37),
the decile power map (C39) and the level factor (C36), each fitted on one random half of a
val set and scored on the other half (both ways, 6 random halvings), per seed.

    VALUE_PRED_DUMP=/tmp/vdump cargo run --release --example value_search -- 5 raw
    cat /tmp/vdump/*.csv > /tmp/vdump_all.csv
    python scripts/value_calibration_search.py /tmp/vdump_all.csv

Seed ensembles and the MLP's capacity (the eleventh session): dump a `raw5 …` candidate (5
members per model), concatenate each candidate's files, and compare the default
post-processing (C37, C39) on the mean of the first K members of each dump, paired against
the first dump's first K:

    VALUE_PRED_DUMP=/tmp/vdump cargo run --release --example value_search -- 5 raw5 "raw5 l2 1e-3"
    cat /tmp/vdump/raw5-*.csv > /tmp/a.csv; cat "/tmp/vdump/raw5 l2 1e-3"-*.csv > /tmp/b.csv
    python scripts/value_calibration_search.py --members 1,3,5 /tmp/b.csv /tmp/a.csv

The dump holds, per seed and split (0: headline, 1–5: cross-fitting models f = 0…4), the raw
network prediction (no blend, no calibration) and the rule on each fit and val customer.
Printed: headline val (hG Gini, hTop top-20 % share, hMAPE decile MAPE on the scored halves,
m/a mean prediction / mean actual), the pooled val folds of models f = 0…3 (p4; their val folds
1–4) and of all five (p5). Split 5's val fold (fold 0) is the headline test set, so choices
that bear on the headline figures should be read on p4. In brackets: the paired difference
to the first line, mean ± sd over seeds. Needs numpy and pandas.
"""

import sys

import numpy as np
import pandas as pd


def gain(y, p):
    """C30: gain curve, value spread evenly over a block of equal predictions."""
    o = np.lexsort((np.arange(len(p)), -p))
    ys, ps = y[o], p[o]
    c = np.cumsum(ys)
    out = c.astype(float).copy()
    i, n = 0, len(p)
    while i < n:
        j = i
        while j + 1 < n and ps[j + 1] == ps[i]:
            j += 1
        if j > i:
            before = c[i - 1] if i > 0 else 0.0
            out[i:j + 1] = before + (c[j] - before) * np.arange(1, j - i + 2) / (j - i + 1)
        i = j + 1
    return out / c[-1]


def gini(y, p):
    """C31: normalized Gini."""
    return (2 * gain(y, p).mean() - 1) / (2 * gain(y, y).mean() - 1)


def top_share(y, p, q=0.2):
    """C34."""
    return gain(y, p)[int(np.floor(q * len(y) + 0.5)) - 1]


def chart(y, p, idx, groups=10):
    """C33: ascending prediction, ties by customer row."""
    o = np.lexsort((idx, p))
    n = len(y)
    return [(p[o[g * n // groups:(g + 1) * n // groups]].mean(),
             y[o[g * n // groups:(g + 1) * n // groups]].mean()) for g in range(groups)]


def mape(y, p, idx):
    return np.mean([abs(a - b) / b for a, b in chart(y, p, idx) if b > 0])


def power_map(y, p):
    """C39: least squares of ln mean y_d on ln mean ŷ_d, b held to [0.05, 2]."""
    pts = [(np.log(a), np.log(b)) for a, b in chart(y, p, np.arange(len(y))) if a > 0 and b > 0]
    if len(pts) < 2:
        return (1.0, 1.0)
    x, t = np.array([q[0] for q in pts]), np.array([q[1] for q in pts])
    if x.max() - x.min() <= 1e-9:
        return (1.0, 1.0)
    b = ((x - x.mean()) * (t - t.mean())).sum() / ((x - x.mean()) ** 2).sum()
    b = min(max(b, 0.05), 2.0)
    return (np.exp(t.mean() - b * x.mean()), b)


def apply_map(m, p):
    return m[0] * np.maximum(p, 0) ** m[1]


def linear(a, n, r):
    return a * n + (1 - a) * r


def log_blend(a, n, r):
    return np.expm1(a * np.log1p(n) + (1 - a) * np.log1p(r))


def blend_weight(y, n, r, comb):
    """C37: the first best α of 1, 0.9, …, 0 by val Gini."""
    best = (-np.inf, 1.0)
    for step in range(10, -1, -1):
        g = gini(y, comb(step / 10, n, r))
        if g > best[0]:
            best = (g, step / 10)
    return best[1]


def level(y, p):
    """C36."""
    return y.sum() / p.sum() if p.sum() > 0 else 1.0


def make(cfg):
    """A post-processing recipe: fit(y, net, rule) → (predict(net, rule), α)."""
    def fit(y, n, r):
        sep = cfg.get('sep')  # calibrate network and rule apart before blending
        if sep == 'power':
            mn, mr = power_map(y, n), power_map(y, r)
            cn, cr = (lambda x: apply_map(mn, x)), (lambda x: apply_map(mr, x))
        elif sep == 'level':
            sn, sr = level(y, n), level(y, r)
            cn, cr = (lambda x: sn * x), (lambda x: sr * x)
        else:
            cn = cr = (lambda x: x)
        comb = log_blend if cfg.get('blend') == 'log' else linear
        a = cfg.get('alpha')
        if a is None:
            a = blend_weight(y, cn(n), cr(r), comb)
        b = comb(a, cn(n), cr(r))
        m = power_map(y, b) if cfg.get('power', True) else (1.0, 1.0)
        s = level(y, apply_map(m, b)) if cfg.get('level', True) else 1.0
        return (lambda nn, rr: s * apply_map(m, comb(a, cn(nn), cr(rr)))), a
    return fit


def pooled_alpha(sets, cfg):
    """Lever 3 (the eleventh session): one α for every model of a seed, fitted by C37 on the
    pooled fitting halves of the cross-fitting models f = 0…3 (val folds 1–4, never fold 0)."""
    y = np.concatenate([s[0] for s in sets])
    n = np.concatenate([s[1] for s in sets])
    r = np.concatenate([s[2] for s in sets])
    return blend_weight(y, n, r, log_blend if cfg.get('blend') == 'log' else linear)


def evaluate(d, cfg, halvings=6):
    keys = ['hg', 'ht', 'hm', 'hr', 'p4g', 'p4t', 'p4m', 'p5g', 'p5m', 'alpha']
    out = {k: [] for k in keys}
    for seed in sorted(d.seed.unique()):
        acc = {k: [] for k in keys}
        for rep in range(halvings):
            rng = np.random.default_rng(1000 + rep)
            pooled = {}
            data, halves = [], []
            for j in range(6):
                q = d[(d.seed == seed) & (d.split == j) & (d.part == 'val')].sort_values('row')
                data.append((q.y.values, q.net.values, q.rule.values, q.row.values))
                half = np.zeros(len(q), bool)
                half[rng.permutation(len(q))[:len(q) // 2]] = True
                halves.append(half)
            shared = [None, None]
            maps = [None, None]
            if cfg.get('shared_map'):
                # One C39 map per halving side for the models f = 0…3 (the thirteenth
                # session): fitted on the pooled fitting halves of their val folds 1–4, so
                # every model's scored half is mapped alike and never seen by the map.
                for w, pick in enumerate([lambda h: h, lambda h: ~h]):
                    ys = np.concatenate([data[j][0][pick(halves[j])] for j in range(1, 5)])
                    ns = np.concatenate([data[j][1][pick(halves[j])] for j in range(1, 5)])
                    maps[w] = power_map(ys, ns)
            if cfg.get('pool'):
                for w, pick in enumerate([lambda h: h, lambda h: ~h]):
                    shared[w] = pooled_alpha(
                        [tuple(x[pick(halves[j])] for x in data[j][:3]) for j in range(1, 5)], cfg)
            for j in range(6):
                y, n, r, idx = data[j]
                half = halves[j]
                for w, (a_rows, b_rows) in enumerate([(half, ~half), (~half, half)]):
                    fitter = make(cfg if shared[w] is None else {**cfg, 'alpha': shared[w]})
                    f, alpha = fitter(y[a_rows], n[a_rows], r[a_rows])
                    if maps[w] is not None and j > 0:
                        f = (lambda m: lambda nn, rr: apply_map(m, nn))(maps[w])
                    acc['alpha'].append(alpha)
                    o, yb, ib = f(n[b_rows], r[b_rows]), y[b_rows], idx[b_rows]
                    if j == 0:
                        acc['hg'].append(gini(yb, o))
                        acc['ht'].append(top_share(yb, o))
                        acc['hm'].append(mape(yb, o, ib))
                        acc['hr'].append(o.mean() / yb.mean())
                    else:
                        for k, i in enumerate(ib):
                            pooled[i] = (j, yb[k], o[k])
            for tag, splits in [('p4', {1, 2, 3, 4}), ('p5', {1, 2, 3, 4, 5})]:
                ks = sorted(i for i in pooled if pooled[i][0] in splits)
                ys = np.array([pooled[i][1] for i in ks])
                ps = np.array([pooled[i][2] for i in ks])
                acc[tag + 'g'].append(gini(ys, ps))
                acc[tag + 'm'].append(mape(ys, ps, np.array(ks)))
                if tag == 'p4':
                    acc['p4t'].append(top_share(ys, ps))
        for k in keys:
            out[k].append(np.mean(acc[k]))
    return out


CANDIDATES = [
    ('C37, C39, C36 (sixth session)', {}),
    ('C37, C39 (no level)', {'level': False}),
    ('C37, C36 (no power map)', {'power': False}),
    ('separate power maps, C37', {'sep': 'power', 'power': False, 'level': False}),
    ('separate levels, C37, C39', {'sep': 'level', 'level': False}),
    ('separate levels, α 0.5, C39', {'sep': 'level', 'alpha': 0.5, 'level': False}),
    ('log blend, C39', {'blend': 'log', 'level': False}),
    ('network alone, C39', {'blend': 'none', 'alpha': 1.0, 'level': False}),
    ('network alone, raw', {'blend': 'none', 'alpha': 1.0, 'power': False, 'level': False}),
    ('C37 α pooled over val folds 1–4, C39', {'level': False, 'pool': True}),
    ('rule alone, C39', {'alpha': 0.0, 'level': False}),
    ('network alone, C39 shared by f = 0…3', {'blend': 'none', 'alpha': 1.0, 'level': False,
                                              'shared_map': True}),
]


def members(d, k):
    """The mean of the first k members' raw predictions, per seed, split and customer."""
    if 'member' not in d.columns:
        return d
    q = d[d.member < k]
    assert q.member.nunique() == k, f'the dump holds fewer than {k} members'
    return q.groupby(['seed', 'split', 'part', 'row'], as_index=False).agg(
        y=('y', 'first'), net=('net', 'mean'), rule=('rule', 'first'))


def read(path):
    d = pd.read_csv(path, header=None)
    names = ['seed', 'split', 'part', 'row', 'y', 'net', 'rule', 'member']
    d.columns = names[:d.shape[1]]
    return d


def main():
    """`script DUMP` compares the post-processing recipes on one dump; `script --members K,…
    DUMP…` the default post-processing (C37, C39) on each dump's mean of its first K members
    (pass `--pool` to fit α on the pooled val folds instead, `--alone` for the network alone
    with C39, `--shared` to share C39 by the models f = 0…3, `--raw` for no map), paired
    against the first."""
    args = sys.argv[1:]
    if args and args[0] == '--members':
        ks = [int(k) for k in args[1].split(',')]
        cfg = {'level': False, 'pool': '--pool' in args}
        if '--alone' in args:  # the network alone (no blend), C39 (the twelfth session)
            cfg.update({'blend': 'none', 'alpha': 1.0})
        if '--shared' in args:  # C39 shared by the models f = 0…3 (the thirteenth session)
            cfg['shared_map'] = True
        if '--raw' in args:  # no map at all
            cfg['power'] = False
        flags = ('--pool', '--alone', '--shared', '--raw')
        paths = [a for a in args[2:] if a not in flags]
        runs = [(f'{p} k={k}', members(read(p), k)) for p in paths for k in ks]
        cands = [(name, d, cfg) for name, d in runs]
    else:
        d = members(read(args[0]), 1)
        cands = [(name, d, cfg) for name, cfg in CANDIDATES]
    base = None
    for name, d, cfg in cands:
        res = evaluate(d, cfg)
        base = base or res
        m = lambda k, f=4: f'{np.mean(res[k]):.{f}f}'
        dd = lambda k: (lambda x: f'{x.mean():+.4f}±{x.std(ddof=1):.4f}')(
            np.array(res[k]) - np.array(base[k]))
        print(f"{name:34s} hG {m('hg')} ({dd('hg')}) hTop {m('ht', 3)} hMAPE {m('hm', 3)} ({dd('hm')}) "
              f"m/a {m('hr', 3)} | p4G {m('p4g')} ({dd('p4g')}) p4Top {m('p4t', 3)} p4MAPE {m('p4m', 3)} "
              f"({dd('p4m')}) | p5G {m('p5g')} ({dd('p5g')}) p5MAPE {m('p5m', 3)} ({dd('p5m')}) "
              f"α {m('alpha', 2)}", flush=True)


if __name__ == '__main__':
    main()
