"""PyTorch cross-check of the value case's network on the validation folds only
(notes/value.md §4): the data README's ZILN reference (64-64 ReLU, dropout 0.25, Adam lr 3e-4,
L2 1e-3, batch 64, early stopping on the val loss with patience 40, at most 500 epochs, inputs
signed-log, standardised on fit, clipped to ±5) trained on glassbox's customer table, or on
the README's 39 reference features computed here with pandas. Prints each fold's val Gini
and the pooled val-fold Gini; test folds are never scored.

    cargo run --release --example value_search -- 1 none   # with VALUE_DUMP=/tmp/value_table.csv
    python scripts/value_reference_check.py /tmp/value_table.csv [--reference] [--seed 0]
        [--folds 0,1,2,3,4] [--drop name,...]

Needs numpy, pandas and torch (/work/venv/bin/python). About 2–3 min per fold on one thread.
"""

import argparse

import numpy as np
import pandas as pd
import torch


def reference_table(ours):
    """The README's reference features (31 numeric; the country one-hots come later)."""
    d = pd.read_csv('datasets/online_retail.csv.gz',
                    dtype={'CustomerID': str, 'InvoiceNo': str, 'StockCode': str})
    d = d[d.CustomerID.notna()].copy()
    d['t'] = pd.to_datetime(d.InvoiceDate)
    cut = pd.Timestamp('2011-09-01')
    d = d[d.t < cut].copy()
    d['v'] = d.Quantity * d.UnitPrice
    d['cid'] = d.CustomerID
    d['canc'] = d.InvoiceNo.str.startswith('C')
    d['nonprod'] = ~d.StockCode.str.match(r'^\d{5}[A-Za-z]*$')
    d['days'] = (cut - d.t).dt.total_seconds() / 86400
    d['month'] = d.t.dt.to_period('M').astype(str)
    p = d[~d.canc]
    inv = p.groupby(['cid', 'InvoiceNo']).agg(val=('v', 'sum'), t=('t', 'min'), lines=('v', 'size'),
                                               q=('Quantity', 'sum'), days=('days', 'max')).reset_index()
    g = pd.DataFrame(index=sorted(p.cid.unique()))
    pg, ig = p.groupby('cid'), inv.groupby('cid')
    g['recency:Plain'] = pg.days.min()
    g['tenure:Plain'] = pg.days.max()
    g['invoices:Heavy'] = ig.size()
    g['pdays:Heavy'] = pg.t.apply(lambda s: s.dt.normalize().nunique())
    g['cancelled:Heavy'] = d[d.canc].groupby('cid').InvoiceNo.nunique().reindex(g.index).fillna(0)
    g['gross:Heavy'] = pg.v.sum()
    net = d.groupby('cid').v.sum().reindex(g.index)
    g['returned:Heavy'] = g['gross:Heavy'] - net
    g['net:Heavy'] = net
    g['return_rate:Plain'] = (g['returned:Heavy'] / g['gross:Heavy']).clip(0, 1).fillna(0)
    g['mean_inv:Heavy'] = ig.val.mean()
    g['max_inv:Heavy'] = ig.val.max()
    g['first_inv:Heavy'] = inv.sort_values(['t', 'InvoiceNo']).groupby('cid').val.first()
    g['mean_lines:Heavy'] = ig.lines.mean()
    g['mean_qty:Heavy'] = ig.q.mean()
    g['products:Heavy'] = pg.StockCode.nunique()
    g['unit_price:Heavy'] = pg.UnitPrice.mean()
    g['nonprod_share:Plain'] = (p[p.nonprod].groupby('cid').v.sum().reindex(g.index).fillna(0)
                                / g['gross:Heavy']).fillna(0)
    for m in sorted(d.month.unique()):
        g[f'm{m}:Heavy'] = d[d.month == m].groupby('cid').v.sum().reindex(g.index).fillna(0)
    g['net30:Heavy'] = d[d.days <= 30].groupby('cid').v.sum().reindex(g.index).fillna(0)
    g['net90:Heavy'] = d[d.days <= 90].groupby('cid').v.sum().reindex(g.index).fillna(0)
    g['inv90:Heavy'] = inv[inv.days <= 90].groupby('cid').size().reindex(g.index).fillna(0)
    days = p.assign(day=p.t.dt.normalize()).groupby('cid').day.agg(['min', 'max', 'nunique'])
    g['gap:Plain'] = np.where(days['nunique'] > 1,
                              (days['max'] - days['min']).dt.days / (days['nunique'] - 1).clip(lower=1), 0)
    g['oneday:Plain'] = (days['nunique'] <= 1).astype(float)
    g = g.reindex(ours.index).fillna(0)
    for c in ['country', 'target', 'part', 'fold']:
        g[c] = ours[c]
    return g


def gini(y, p):
    o = np.argsort(-p, kind='stable'); c = np.cumsum(y[o]) / y.sum()
    o2 = np.argsort(-y, kind='stable'); c2 = np.cumsum(y[o2]) / y.sum()
    return (2 * c.mean() - 1) / (2 * c2.mean() - 1)


def ziln_loss(out, t):
    pos = (t > 0).float(); logit, mu, s = out[:, 0], out[:, 1], out[:, 2]
    cl = torch.nn.functional.binary_cross_entropy_with_logits(logit, pos, reduction='none')
    sigma = torch.clamp(torch.nn.functional.softplus(s), min=np.sqrt(1e-7))
    safe = pos * t + (1 - pos) * torch.ones_like(t)
    ll = pos * -torch.distributions.LogNormal(mu, sigma).log_prob(safe)
    return (cl + ll).mean()


def pred(out):
    sigma = torch.clamp(torch.nn.functional.softplus(out[:, 2]), min=np.sqrt(1e-7))
    return torch.sigmoid(out[:, 0]) * torch.exp(out[:, 1] + sigma ** 2 / 2)


def run(X, y, folds, seed, fold_list):
    pooled = np.zeros(len(y))
    for f in fold_list:
        v = (f + 1) % 5
        fit = (folds != f) & (folds != v); val = folds == v
        mu_, sd_ = X[fit].mean(0), X[fit].std(0); sd_[sd_ == 0] = 1
        Z = np.clip((X - mu_) / sd_, -5, 5)
        torch.manual_seed(seed)
        net = torch.nn.Sequential(torch.nn.Linear(Z.shape[1], 64), torch.nn.ReLU(), torch.nn.Dropout(0.25),
                                  torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Dropout(0.25), torch.nn.Linear(64, 3))
        opt = torch.optim.Adam(net.parameters(), lr=3e-4, weight_decay=1e-3)
        xf = torch.tensor(Z[fit], dtype=torch.float32); yf = torch.tensor(y[fit], dtype=torch.float32)
        xv = torch.tensor(Z[val], dtype=torch.float32); yv = torch.tensor(y[val], dtype=torch.float32)
        best, bad, state = 1e18, 0, None
        for ep in range(500):
            net.train(); perm = torch.randperm(len(xf))
            for i in range(0, len(xf), 64):
                b = perm[i:i + 64]; opt.zero_grad(); l = ziln_loss(net(xf[b]), yf[b]); l.backward(); opt.step()
            net.eval()
            with torch.no_grad(): vl = ziln_loss(net(xv), yv).item()
            if vl < best: best, bad, state = vl, 0, {k: t.clone() for k, t in net.state_dict().items()}
            else:
                bad += 1
                if bad >= 40: break
        net.load_state_dict(state)
        with torch.no_grad(): pooled[val] = pred(net(xv)).numpy()
        print(f'fold {f}: epochs {ep+1}, val Gini {gini(y[val], pooled[val]):.4f}', flush=True)
    print(f'pooled val-fold Gini {gini(y, pooled):.4f} (meaningful with all five folds)')


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('table')
    ap.add_argument('--reference', action='store_true')
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--folds', default='0,1,2,3,4')
    ap.add_argument('--drop', default='')
    a = ap.parse_args()
    torch.set_num_threads(1)
    df = pd.read_csv(a.table, dtype={'id': str}).set_index('id')
    if a.reference:
        df = reference_table(df)
    drop = a.drop.split(',') if a.drop else []
    featcols = [c for c in df.columns if ':' in c and c.split(':')[0] not in drop]
    print(len(featcols), 'numeric features', flush=True)
    X = []
    for c in featcols:
        x = df[c].values.astype(float)
        if c.endswith('Heavy'):
            x = np.sign(x) * np.log1p(np.abs(x))
        X.append(x)
    countries = ['Belgium', 'France', 'Germany', 'Portugal', 'Spain', 'Switzerland', 'United Kingdom']
    for k in countries:
        X.append((df.country == k).astype(float).values)
    X.append((~df.country.isin(countries)).astype(float).values)
    run(np.stack(X, 1), df.target.values.astype(float), df.fold.values, a.seed,
        [int(f) for f in a.folds.split(',')])


if __name__ == '__main__':
    main()
