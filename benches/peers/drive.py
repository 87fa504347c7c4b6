"""Run glassbox and its peers head to head, interleaved, and summarise.

From the repo root:

    /work/venv/bin/python benches/peers/drive.py                       # 3 rounds, all peers
    /work/venv/bin/python benches/peers/drive.py --quick               # smoke test, tiny sizes, 1 round
    /work/venv/bin/python benches/peers/drive.py \
        --glassbox-cmd "target/release/glassbox bench-peer --data {data} --workload {workload} --threads {threads} --repeats {repeats} --warmup {warmup} {quick}"

A run at T threads with T below the core count is restricted to the first T cores (CPU affinity
set in the child before exec; --no-pin turns this off), for every runner including glassbox:
JAX can be limited no other way, and it makes "1 thread" mean one core for everyone.

Each round runs every workload, and within it every runner, as a fresh subprocess (round 1:
A B C ..., round 2: A B C ..., ...), so slow drifts of the machine (other jobs, thermal state) hit
all runners alike. Each runner is launched with its thread environment (common.thread_env); the
NumPy peer additionally gets OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE removed (they select an
older, slower OpenBLAS kernel on this machine; see the README) and its BLAS kernel is recorded.

Training/inference runners print one JSON line per timed repeat; the driver keeps every line.
`startup` is timed here: wall clock from just before the subprocess is spawned to the moment its
first JSON line (the prediction) arrives on the pipe.

The glassbox runner is any command (template fields: {data} {workload} {threads} {repeats}
{warmup} {quick}) that prints the same JSON lines; without --glassbox-cmd it is skipped with a
note. Writes <out>/results.json (every measurement + summary) and <out>/results.md, and prints
the Markdown. Ratio = glassbox median throughput / best peer median throughput (> 1: glassbox is
faster); for startup, throughput is 1 / seconds.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import common  # noqa: E402

TRAIN = ["train_b32", "train_b256", "train_big_b256"]

# name -> (script, extra args, framework for thread_env, workloads it runs)
PEERS = {
    "numpy": ("numpy_runner.py", [], "numpy", list(common.WORKLOADS)),
    "torch": ("torch_runner.py", ["--variant", "torch"], "torch", list(common.WORKLOADS)),
    "torch_fused": ("torch_runner.py", ["--variant", "torch_fused"], "torch", TRAIN),
    "keras": ("keras_runner.py", [], "keras", list(common.WORKLOADS)),
    "jax": ("jax_runner.py", [], "jax", list(common.WORKLOADS)),
}
NUMPY_UNSET = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def runner_env(name: str, framework: str | None, threads: int) -> tuple[dict, list[str]]:
    env = dict(os.environ)
    removed = []
    if framework:
        env.update(common.thread_env(framework, threads))
    if name == "numpy":
        for k in NUMPY_UNSET:
            if env.pop(k, None) is not None:
                removed.append(k)
    env["PYTHONUNBUFFERED"] = "1"
    return env, removed


def peer_cmd(args, name: str, workload: str, threads: int) -> list[str]:
    script, extra, _, _ = PEERS[name]
    cmd = [args.python, os.path.join(HERE, script), "--data", args.data, "--workload", workload,
           "--threads", str(threads), "--repeats", str(args.repeats), "--warmup", str(args.warmup)]
    if args.quick:
        cmd.append("--quick")
    return cmd + extra


def glassbox_cmd(args, workload: str, threads: int) -> list[str]:
    text = args.glassbox_cmd.format(data=args.data, workload=workload, threads=threads,
                                    repeats=args.repeats, warmup=args.warmup,
                                    quick="--quick" if args.quick else "")
    return shlex.split(text)


def parse_lines(text: str) -> list[dict]:
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                pass
    return out


def pinner(cores):
    """preexec_fn that restricts the child to `cores` (None: leave the affinity alone)."""
    if cores is None:
        return None
    return lambda: os.sched_setaffinity(0, cores)


def run_measure(cmd, env, timeout, cores=None) -> tuple[list[dict], str | None]:
    try:
        p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout,
                           preexec_fn=pinner(cores))
    except subprocess.TimeoutExpired:
        return [], f"timed out after {timeout} s"
    except OSError as e:
        return [], f"could not start: {e}"
    recs = [r for r in parse_lines(p.stdout) if "samples_per_s" in r]
    if p.returncode != 0 or not recs:
        tail = (p.stderr or p.stdout).strip().splitlines()[-5:]
        return recs, f"exit {p.returncode}, {len(recs)} records; " + " | ".join(tail)
    return recs, None


def run_startup(cmd, env, timeout, cores=None) -> tuple[dict | None, str | None]:
    """Wall clock from spawn to the first JSON line on stdout."""
    t0 = time.perf_counter()
    try:
        p = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             preexec_fn=pinner(cores))
    except OSError as e:
        return None, f"could not start: {e}"
    first, t_line = None, None
    for line in p.stdout:
        if line.strip().startswith("{"):
            t_line = time.perf_counter()
            first = line
            break
    try:
        _, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate()
        return None, f"timed out after {timeout} s"
    t_exit = time.perf_counter()
    if first is None:
        return None, f"exit {p.returncode}, no JSON line; " + " | ".join(err.strip().splitlines()[-5:])
    try:
        rec = json.loads(first)
    except json.JSONDecodeError:
        return None, f"first line is not JSON: {first[:200]!r}"
    secs = t_line - t0
    rec.update({"seconds": secs, "samples_per_s": 1.0 / secs, "exit_seconds": t_exit - t0})
    return rec, None


def check_value(rec: dict):
    for k in ("loss", "mean_logit", "prediction"):
        if k in rec:
            return k, rec[k]
    return None, None


def summarise(records: list[dict], workloads: list[str], runners: list[str]) -> dict:
    summary = {}
    for w in workloads:
        rows = {}
        for r in runners:
            recs = [x for x in records if x.get("workload") == w and x.get("runner_key") == r
                    and "samples_per_s" in x]
            if not recs:
                continue
            sps = [x["samples_per_s"] for x in recs]
            secs = [x["seconds"] for x in recs]
            key, _ = check_value(recs[0])
            checks = [check_value(x)[1] for x in recs if check_value(x)[1] is not None]
            utils = [x["cpu_util"] for x in recs if "cpu_util" in x]
            rows[r] = {
                "n": len(recs),
                "threads": recs[0].get("threads"),
                "median_samples_per_s": statistics.median(sps),
                "min_samples_per_s": min(sps),
                "max_samples_per_s": max(sps),
                "median_seconds": statistics.median(secs),
                "min_seconds": min(secs),
                "max_seconds": max(secs),
                "check": key,
                "median_check": statistics.median(checks) if checks else None,
                "median_cpu_util": statistics.median(utils) if utils else None,
                "isa": recs[0].get("isa"),
            }
        peers = {r: v for r, v in rows.items() if r != "glassbox"}
        best = max(peers, key=lambda r: peers[r]["median_samples_per_s"]) if peers else None
        ratio = None
        if best and "glassbox" in rows:
            ratio = rows["glassbox"]["median_samples_per_s"] / peers[best]["median_samples_per_s"]
        summary[w] = {"runners": rows, "best_peer": best, "glassbox_over_best_peer": ratio}
    return summary


def fmt_rate(x: float) -> str:
    if x >= 1e6:
        return f"{x / 1e6:.2f}M"
    if x >= 1e3:
        return f"{x / 1e3:.1f}k"
    return f"{x:.0f}"


def markdown(summary: dict, header: dict, notes: list[str]) -> str:
    out = [f"# glassbox vs peers ({header['started']})", "",
           f"CPU: {header['cpu']}, {header['cores']} cores; rounds: {header['rounds']}, "
           f"warm-up passes: {header['warmup']}, timed repeats per launch: {header['repeats']}, "
           f"runs below {header['cores']} threads pinned to that many cores: {header['pin']}"
           f"{', QUICK (smoke-test sizes)' if header['quick'] else ''}; "
           f"load average at start / end: {header['load_start']} / {header.get('load_end')}", "",
           "| workload | runner | threads | median | min – max | n | cpu util | check | vs best peer |",
           "|---|---|---:|---:|---|---:|---:|---|---:|"]
    for w, s in summary.items():
        best = s["best_peer"]
        for r, v in sorted(s["runners"].items(), key=lambda kv: -kv[1]["median_samples_per_s"]):
            if w == "startup":
                med = f"{v['median_seconds']:.3f} s"
                rng = f"{v['min_seconds']:.3f} – {v['max_seconds']:.3f} s"
            else:
                med = f"{fmt_rate(v['median_samples_per_s'])}/s"
                rng = f"{fmt_rate(v['min_samples_per_s'])} – {fmt_rate(v['max_samples_per_s'])}"
            util = f"{v['median_cpu_util']:.2f}" if v["median_cpu_util"] is not None else ""
            chk = f"{v['check']} {v['median_check']:.5g}" if v["median_check"] is not None else ""
            rel = v["median_samples_per_s"] / s["runners"][best]["median_samples_per_s"] if best else None
            name = f"{r} ({v['isa']})" if v.get("isa") else r
            name = f"**{name}**" if r in (best, "glassbox") else name
            rel_s = f"{rel:.2f}×" if rel is not None else ""
            out.append(f"| {w} | {name} | {v['threads']} | {med} | {rng} | {v['n']} | {util} | {chk} | {rel_s} |")
    out += ["", "## glassbox / best peer (median throughput; > 1 means glassbox is faster)", "",
            "| workload | best peer | ratio |", "|---|---|---:|"]
    for w, s in summary.items():
        ratio = s["glassbox_over_best_peer"]
        out.append(f"| {w} | {s['best_peer']} | {'%.2f×' % ratio if ratio is not None else 'n/a'} |")
    if notes:
        out += ["", "## Notes", ""] + [f"- {n}" for n in notes]
    return "\n".join(out) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description="interleaved peer benchmark driver")
    p.add_argument("--data", default=common.DEFAULT_DATA_DIR, help="data dir from make_data.py (made if missing)")
    p.add_argument("--out", default=None, help="where results.json/.md go (default: --data)")
    p.add_argument("--rounds", type=int, default=None, help="interleaved rounds (default 3, 1 with --quick)")
    p.add_argument("--repeats", type=int, default=1, help="timed repeats per launch")
    p.add_argument("--warmup", type=int, default=1,
                   help="untimed passes per launch; for startup, untimed launches per runner before round 1")
    p.add_argument("--quick", action="store_true", help="smoke test: tiny sizes")
    p.add_argument("--runners", default=",".join(PEERS), help="comma list of peers")
    p.add_argument("--workloads", default=",".join(common.WORKLOADS), help="comma list")
    p.add_argument("--threads", type=int, default=None, help="override every workload's thread count")
    p.add_argument("--glassbox-cmd", default=None, help="command template for the glassbox runner")
    p.add_argument("--python", default=sys.executable, help="interpreter for the peer runners")
    p.add_argument("--timeout", type=float, default=1800.0, help="seconds per launch")
    p.add_argument("--no-pin", action="store_true",
                   help="do not restrict a T-thread run to the first T cores (T < core count)")
    args = p.parse_args()
    args.rounds = args.rounds or (1 if args.quick else 3)
    args.out = args.out or args.data
    runners = [r for r in args.runners.split(",") if r]
    workloads = [w for w in args.workloads.split(",") if w]
    for r in runners:
        if r not in PEERS:
            sys.exit(f"unknown runner {r!r}; known: {', '.join(PEERS)}")
    for w in workloads:
        if w not in common.WORKLOADS:
            sys.exit(f"unknown workload {w!r}; known: {', '.join(common.WORKLOADS)}")

    notes = []
    if not os.path.exists(os.path.join(args.data, "meta.json")):
        log(f"no data in {args.data}: running make_data.py")
        subprocess.run([args.python, os.path.join(HERE, "make_data.py"), "--out", args.data], check=True)
    if args.glassbox_cmd:
        exe = shlex.split(args.glassbox_cmd)[0]
        if shutil.which(exe) is None and not os.access(exe, os.X_OK):
            notes.append(f"glassbox command {exe!r} not found or not executable: glassbox skipped")
            args.glassbox_cmd = None
        else:
            runners.append("glassbox")
    else:
        notes.append("no --glassbox-cmd given: glassbox skipped")

    header = {"started": datetime.datetime.now().isoformat(timespec="seconds"), "cpu": common.cpu_model(),
              "cores": os.cpu_count(), "rounds": args.rounds, "repeats": args.repeats, "warmup": args.warmup,
              "quick": args.quick, "pin": not args.no_pin, "load_start": "%.2f %.2f %.2f" % os.getloadavg(), "argv": sys.argv}
    records, failures = [], []

    def command_for(r, w, threads):
        if r == "glassbox":
            env, removed = runner_env(r, None, threads)
            return glassbox_cmd(args, w, threads), env, removed
        env, removed = runner_env(r, PEERS[r][2], threads)
        return peer_cmd(args, r, w, threads), env, removed

    available = sorted(os.sched_getaffinity(0))

    def cores_for(threads):
        if args.no_pin or threads >= len(available):
            return None
        return available[:threads]

    def applicable(r, w):
        return r == "glassbox" or w in PEERS[r][3]

    if "startup" in workloads and args.warmup > 0:
        for r in runners:
            threads = args.threads or common.WORKLOADS["startup"]["threads"]
            cmd, env, _ = command_for(r, "startup", threads)
            for _ in range(args.warmup):
                run_startup(cmd, env, args.timeout, cores_for(threads))

    for rnd in range(1, args.rounds + 1):
        for w in workloads:
            threads = args.threads or common.WORKLOADS[w]["threads"]
            for r in runners:
                if not applicable(r, w):
                    continue
                cmd, env, removed = command_for(r, w, threads)
                load = os.getloadavg()[0]
                cores = cores_for(threads)
                if w == "startup":
                    rec, err = run_startup(cmd, env, args.timeout, cores)
                    recs = [rec] if rec else []
                    for x in recs:
                        x["threads"] = threads
                else:
                    recs, err = run_measure(cmd, env, args.timeout, cores)
                for x in recs:
                    x.update({"runner_key": r, "round": rnd, "loadavg_1m": load, "env_removed": removed,
                              "pinned_cores": cores})
                records += recs
                if err:
                    failures.append({"runner": r, "workload": w, "round": rnd, "error": err})
                    log(f"[round {rnd}] {w:15s} {r:12s} FAILED: {err}")
                for x in recs:
                    rate = "" if w == "startup" else f"{fmt_rate(x['samples_per_s'])}/s"
                    log(f"[round {rnd}] {w:15s} {r:12s} {rate:>10s} {x['seconds']:8.3f} s  load {load:.2f}")

    header["load_end"] = "%.2f %.2f %.2f" % os.getloadavg()
    summary = summarise(records, workloads, runners)
    blas = {json.dumps(b.get("blas"), sort_keys=True) for b in (x.get("versions", {}) for x in records)
            if b.get("blas")}
    for b in blas:
        for lib in json.loads(b):
            notes.append(f"NumPy BLAS: {lib.get('internal_api')} {lib.get('version')}, kernel "
                         f"{lib.get('architecture')}, {lib.get('num_threads')} threads (threadpoolctl)")
    peaks = [x["versions"]["fma_peak_gflops"] for x in records
             if x.get("runner") == "glassbox" and x.get("versions", {}).get("fma_peak_gflops")]
    if peaks:
        # The host's speed at each glassbox launch: G5, notes/gemm.md §6.
        notes.append(f"FMA peak of one core at glassbox's launches (G5): {min(peaks):.1f}–{max(peaks):.1f} GFLOP/s "
                     f"over {len(peaks)} launches")
    removed = sorted({k for x in records for k in x.get("env_removed", [])})
    if removed:
        notes.append(f"removed from the NumPy peer's environment: {', '.join(removed)}")
    for f in failures:
        notes.append(f"FAILED round {f['round']} {f['workload']} {f['runner']}: {f['error'][:300]}")
    if args.quick:
        notes.append("QUICK mode: smoke-test sizes, figures are not measurements")

    os.makedirs(args.out, exist_ok=True)
    md = markdown(summary, header, notes)
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump({"header": header, "summary": summary, "notes": notes, "failures": failures,
                   "records": records}, f, indent=1)
    with open(os.path.join(args.out, "results.md"), "w") as f:
        f.write(md)
    print(md)
    log(f"wrote {os.path.join(args.out, 'results.json')} and results.md")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
