"""Chooses the DP-SGD hyper-parameters of the purchase case's privacy section on the TRAINING
file only (notes/privacy.md §14). Every candidate is trained on 80 % of
online_shoppers_train.csv and scored on the stratified 20 % validation part that
`train --val-fraction 0.2` carves out (the split follows the seed); the test file is never
read. The hyper-parameter search is not charged to the privacy budget, as in the Opacus
reference (shared privacy README); σ is calibrated for each candidate's own (ε, δ, q, T).

The search is the reference's, made broader (one more batch size, one more epoch count, two
more SGD learning rates, one more clipping norm), in three stages per ε ∈ {1, 3, 8}:

1. seed 0, C = 1: B ∈ {64, 256, 512, 1024} × E ∈ {10, 30, 60} ×
   {DP-SGD lr ∈ {0.1, 0.25, 0.5, 1, 2.5}; DP-Adam lr ∈ {1e-3, 3e-3, 1e-2}} — 96 candidates;
2. seed 0: the 3 best of stage 1 × C ∈ {0.5, 2, 4} (DP-SGD keeps lr·C, DP-Adam keeps lr);
3. seeds 1 … 4: the 3 best of stages 1–2 (by seed-0 validation ROC-AUC);
4. where the best mean of stage 3 sits on the grid's top edge (B = 1024, E = 60 or C = 4),
   that value doubled (DP-SGD keeps lr·C), seeds 0 … 4;
   chosen = the best mean validation ROC-AUC over seeds 0 … 4 of stages 3–4.

    python3 scripts/dp_tuning.py [--binary target/release/glassbox] [--jobs 2] [--out DIR]

Writes DIR/tuning.tsv (every run: stage, ε, configuration, seed, validation ROC-AUC and
PR-AUC) and prints the stage-3 table and the choice per ε. Standard library only. About 400
training runs of 0.2–2 CPU seconds each.
"""

import argparse
import concurrent.futures
import json
import os
import statistics
import subprocess
import tempfile

EPSILONS = [1, 3, 8]
BATCHES = [64, 256, 512, 1024]
EPOCHS = [10, 30, 60]
SGD_LRS = [0.1, 0.25, 0.5, 1.0, 2.5]
ADAM_LRS = [1e-3, 3e-3, 1e-2]
STAGE2_CLIPS = [0.5, 2.0, 4.0]
TOP = 3
MORE_SEEDS = [1, 2, 3, 4]


def name(c):
    base = f"{c['opt']}-lr{c['lr']:g}-C{c['clip']:g}-B{c['batch']}-E{c['epochs']}"
    base += f"-avg{c['average']:g}" if c.get("average") is not None else ""
    base += "-warm" if c.get("warmup") else ""  # P29's warm-up of β (stage 10)
    base += "-cos" if c.get("cosine") else ""
    base += f"-auto{c['auto']:g}" if c.get("auto") is not None else ""  # P30 (stage 10)
    base += "-tanh" if c.get("act") == "tanh" else ""
    # Stage 11: the hidden sizes ("h32x32") and DP-AdamBC's floor γ (P31), written without an
    # exponent so that the name still splits on "-".
    base += f"-h{'x'.join(str(u) for u in c['hidden'])}" if c.get("hidden") else ""
    base += f"-pl{c['pl']}" if c.get("pl") else ""  # P32's split, "equal" or "params" (stage 12)
    # A σ given instead of the target ε (`--dp-noise`; the thirteenth session's PRV probe).
    base += f"-sig{c['noise']!r}" if c.get("noise") is not None else ""
    base += "-pld" if c.get("acct") == "pld" else ""  # `--dp-accountant pld` (stage 14)
    return base + (f"-bc{c['bc']:.12f}".rstrip("0") if c.get("bc") is not None else "")


def parse(n):
    """The configuration a name() stands for."""
    parts = n.split("-")
    c = dict(opt=parts[0], lr=float(parts[1][2:]), clip=float(parts[2][1:]),
             batch=int(parts[3][1:]), epochs=int(parts[4][1:]), average=None, cosine=False)
    for part in parts[5:]:
        if part == "cos":
            c["cosine"] = True
        elif part == "pld":  # before "pl…", the per-layer split
            c["acct"] = "pld"
        elif part == "warm":
            c["warmup"] = True
        elif part == "tanh":
            c["act"] = "tanh"
        elif part.startswith("auto"):
            c["auto"] = float(part[4:])
        elif part.startswith("pl"):
            c["pl"] = part[2:]
        elif part.startswith("h"):
            c["hidden"] = [int(u) for u in part[1:].split("x")]
        elif part.startswith("bc"):
            c["bc"] = float(part[2:])
        elif part.startswith("sig"):
            c["noise"] = float(part[3:])
        else:
            c["average"] = float(part[3:])
    return c


def run(binary, out, eps, c, seed):
    """Trains one candidate; returns (validation ROC-AUC, PR-AUC). A run whose training.json
    is already in `out` is read, not trained again (a stage resumed in the same directory)."""
    path = os.path.join(out, f"{name(c)}-eps{eps}-s{seed}")
    if not os.path.exists(os.path.join(path, "training.json")):
        train(binary, path, eps, c, seed)
    with open(os.path.join(path, "training.json")) as f:
        v = json.load(f)["validation"]["at_half"]
    return v["roc_auc"], v["average_precision"]


def train(binary, path, eps, c, seed):
    """One `glassbox train` of candidate c at ε with this seed, into path."""
    subprocess.run(
        [binary, "-q", "--threads", "1", "train", "datasets/online_shoppers_train.csv",
         "--target", "Revenue", "--schema", "datasets/online_shoppers.schema.toml",
         "--ensemble", "1", "--early-stopping", "0", "--threshold", "0.5",
         "--val-fraction", "0.2", "--seed", str(seed)]
        + (["--dp-noise", repr(c["noise"])] if c.get("noise") is not None
           else ["--dp-epsilon", str(eps)])
        + ["--dp-delta", "1e-5", "--optimizer", c["opt"], "--lr", repr(c["lr"]),
         "--dp-clip", repr(c["clip"]), "--batch-size", str(c["batch"]),
         "--epochs", str(c["epochs"]), "--out", path]
        + (["--dp-average", repr(c["average"])] if c.get("average") is not None else [])
        + (["--cosine", "true"] if c.get("cosine") else [])
        + (["--dp-average-warmup"] if c.get("warmup") else [])
        + (["--activation", c["act"]] if c.get("act") else [])
        + (["--dp-clip-automatic", repr(c["auto"])] if c.get("auto") is not None else [])
        + (["--hidden", ",".join(str(u) for u in c["hidden"])] if c.get("hidden") else [])
        + (["--dp-adam-bias-correction", repr(c["bc"])] if c.get("bc") is not None else [])
        + (["--dp-clip-per-layer", c["pl"]] if c.get("pl") else [])
        + (["--dp-accountant", c["acct"]] if c.get("acct") else []),
        check=True, stdout=subprocess.DEVNULL)


def later_stage_args(prefix):
    """The command line of the later stages (dp_average_tuning.py, dp_beta_tuning.py): the
    parsed arguments and the output directory, made if needed."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", default="target/release/glassbox")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--earlier", default="notes/privacy_tuning.tsv")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    out = args.out or tempfile.mkdtemp(prefix=prefix)
    os.makedirs(out, exist_ok=True)
    return args, out


def write_tsv(out, results):
    """Every run, one row each (the format of notes/privacy_tuning.tsv)."""
    with open(os.path.join(out, "tuning.tsv"), "w") as f:
        f.write("stage\tepsilon\tconfig\tseed\tval_roc_auc\tval_pr_auc\n")
        for (st, e, n, s), (roc, pr) in sorted(results.items(), key=lambda kv: kv[0]):
            f.write(f"{st}\t{e}\t{n}\t{s}\t{roc:.4f}\t{pr:.4f}\n")
    print(f"all runs: {out}/tuning.tsv")



def earlier_runs(tsv, stages):
    """{(stage, eps, config, seed): (roc, pr)} of the given stages of the table."""
    out = {}
    with open(tsv) as f:
        next(f)
        for line in f:
            stage, eps, config, seed, roc, pr = line.rstrip("\n").split("\t")
            if int(stage) in stages:
                out[(int(stage), int(eps), config, int(seed))] = (float(roc), float(pr))
    return out


def mean_roc(runs, eps, n):
    """The mean validation ROC-AUC of configuration n at ε over its runs."""
    return statistics.mean(r[0] for (st, e, m, s), r in runs.items() if e == eps and m == n)


def best_config(runs, eps):
    """The configuration with the best mean validation ROC-AUC at ε."""
    names = sorted({m for (st, e, m, s) in runs if e == eps})
    return max(names, key=lambda n: mean_roc(runs, eps, n))


def print_top(every, count=6):
    """The table of the notes: per ε the best `count` configurations of {(eps, config, seed):
    roc} by mean validation ROC-AUC, and the choice."""
    def rocs(eps, n):
        return [every[k] for k in sorted(every) if k[0] == eps and k[1] == n]

    print("| ε | configuration | validation ROC-AUC, seeds 0–2 | mean |")
    print("|---|---|---|---|")
    for eps in EPSILONS:
        names = sorted({m for (e, m, s) in every if e == eps},
                       key=lambda n: -statistics.mean(rocs(eps, n)))
        for n in names[:count]:
            print(f"| {eps} | {n} | {', '.join(f'{x:.4f}' for x in rocs(eps, n))} | "
                  f"{statistics.mean(rocs(eps, n)):.4f} |")
        print(f"| {eps} | **chosen: {names[0]}** | | {statistics.mean(rocs(eps, names[0])):.4f} |")


def check_and_merge(results, earlier, stage, seeds):
    """Prints whether the re-runs (in `results`, stage `stage`) of each ε's earlier choice equal
    the table's figures; returns {(eps, config, seed): roc} of both, the table's figure where
    it has one (the re-runs only check it)."""
    for eps in EPSILONS:
        previous = best_config(earlier, eps)
        again = [results[(stage, eps, previous, s)][0] for s in seeds]
        by_seed = {k[3]: r[0] for k, r in earlier.items() if k[1] == eps and k[2] == previous}
        table = [by_seed[s] for s in seeds]
        print(f"ε = {eps}: the earlier stages chose {previous}; re-run {again}, table {table}: "
              + ("same" if [round(a, 4) for a in again] == table else "DIFFERENT"))
    every = {(e, m, s): r[0] for (st, e, m, s), r in results.items()}
    every.update({(e, m, s): r[0] for (st, e, m, s), r in earlier.items()})
    return every


def run_batch(args, out, stage, jobs, results, configs=None):
    """Runs (eps, config, seed) jobs on args.jobs threads; results[(stage, eps, name, seed)] =
    (roc, pr), and configs[name] = config when configs is given."""
    with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
        futures = {pool.submit(run, args.binary, out, eps, c, seed): (eps, c, seed)
                   for eps, c, seed in jobs}
        for fut in concurrent.futures.as_completed(futures):
            eps, c, seed = futures[fut]
            if configs is not None:
                configs[name(c)] = c
            results[(stage, eps, name(c), seed)] = fut.result()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", default="target/release/glassbox")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    out = args.out or tempfile.mkdtemp(prefix="dp-tuning-")
    os.makedirs(out, exist_ok=True)
    results = {}  # (stage, eps, name, seed) -> (roc, pr)
    configs = {}

    def batch_of(stage, jobs):
        run_batch(args, out, stage, jobs, results, configs)

    def seed0_ranking(eps):
        scores = {n: r[0] for (st, e, n, s), r in results.items() if e == eps and s == 0}
        return sorted(scores, key=lambda n: -scores[n])

    stage1 = [dict(opt=opt, lr=lr, clip=1.0, batch=b, epochs=e)
              for b in BATCHES for e in EPOCHS
              for opt, lrs in (("sgd", SGD_LRS), ("adam", ADAM_LRS)) for lr in lrs]
    batch_of(1, [(eps, c, 0) for eps in EPSILONS for c in stage1])
    jobs = []
    for eps in EPSILONS:
        for n in seed0_ranking(eps)[:TOP]:
            c = configs[n]
            for clip in STAGE2_CLIPS:
                lr = c["lr"] / clip if c["opt"] == "sgd" else c["lr"]
                jobs.append((eps, dict(c, clip=clip, lr=round(lr, 6)), 0))
    batch_of(2, jobs)
    finalists = {eps: seed0_ranking(eps)[:TOP] for eps in EPSILONS}
    batch_of(3, [(eps, configs[n], s) for eps in EPSILONS for n in finalists[eps]
                 for s in MORE_SEEDS])

    def five_seed_mean(eps, n):
        by_seed = {s: r for (st, e, m, s), r in results.items() if e == eps and m == n}
        return statistics.mean(by_seed[s][0] for s in sorted(by_seed))

    jobs = []
    for eps in EPSILONS:
        c = configs[max(finalists[eps], key=lambda n: five_seed_mean(eps, n))]
        edges = [("batch", BATCHES[-1]), ("epochs", EPOCHS[-1]), ("clip", STAGE2_CLIPS[-1])]
        for key, top in edges:
            if c[key] == top:
                v = dict(c, **{key: 2 * top})
                if key == "clip" and c["opt"] == "sgd":
                    v["lr"] = round(c["lr"] / 2, 6)
                finalists[eps].append(name(v))
                jobs += [(eps, v, s) for s in [0] + MORE_SEEDS]
    batch_of(4, jobs)

    write_tsv(out, results)
    print("| ε | configuration | validation ROC-AUC, seeds 0–4 | mean | PR-AUC mean |")
    print("|---|---|---|---|---|")
    for eps in EPSILONS:
        best = None
        for n in finalists[eps]:
            by_seed = {s: r for (st, e, m, s), r in results.items() if e == eps and m == n}
            runs = [by_seed[s] for s in sorted(by_seed)]
            rocs = [r[0] for r in runs]
            mean = statistics.mean(rocs)
            print(f"| {eps} | {n} | {', '.join(f'{x:.4f}' for x in rocs)} | {mean:.4f} "
                  f"| {statistics.mean(r[1] for r in runs):.4f} |")
            if best is None or mean > best[1]:
                best = (n, mean)
        print(f"| {eps} | **chosen: {best[0]}** | | {best[1]:.4f} | |")


if __name__ == "__main__":
    main()
