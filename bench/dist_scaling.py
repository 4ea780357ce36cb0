#!/usr/bin/python3
"""dist_scaling.py — data-parallel scaling on this machine, and the model
that predicts it elsewhere (docs/distributed.md).

  bench/dist_scaling.py [--astc build/compiler/astc] [--base examples/fashion_mlp.train]
                        [--batches 64,256,1024] [--runs 3] [--out bench/results]

1. The allreduce: bench/dist/allreduce.c (built with mpicc) times one
   in-place MPI_Allreduce over 2 ranks for the program's gradient size G
   (the f32 `allreduce` nodes of `astc show`, summed) and for a few other
   sizes; a least-squares fit gives latency + bytes / bandwidth.
2. Training: for each global batch R, one epoch of the program (astc build,
   --epochs 1) as 1 process with --threads 1 and 2, and as 2 MPI ranks with
   --threads 1 each; runs alternate; samples/s = samples / train_seconds
   from --metrics, median over --runs.
3. The model: a step of R rows on N ranks costs each rank a step of R/N
   rows, C(R/N), plus one allreduce of G floats: T_N = C(R/N) + A_N.
   C(b) is measured, not scaled: one process, one thread, batch b
   (b / samples_per_s), because a step's cost is not linear in its rows
   (small GEMMs run slower per row, and the update and the per-step
   overheads do not shrink with the shard). A ring allreduce moves
   2 (N-1)/N * 4G bytes per rank: A_N = 2 (N-1) * latency
   + 2 (N-1)/N * 4G / bandwidth. The table compares the prediction for
   N = 2 here with the measurement, then predicts N machines (one rank of
   one core each) on 10 and 100 Gbit/s networks.
"""
import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile

MPI_ENV = {"OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1", "OMPI_MCA_btl": "self,vader"}


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, text=True, capture_output=True, **kw)


def gradient_floats(astc, path):
    """f32 elements allreduced per step (phase 0's step graph)"""
    out = run([astc, "show", "--graph", "step", "--phase", "1", "--no-locations", path]).stdout
    total = 0
    for m in re.finditer(r"= allreduce %\d+\s+: f32\[([0-9,]*)\]", out):
        n = 1
        for d in filter(None, m.group(1).split(",")):
            n *= int(d)
        total += n
    return total


def allreduce_times(tmp, sizes, env):
    src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "dist", "allreduce.c")
    exe = os.path.join(tmp, "allreduce")
    run(["mpicc", "-O2", src, "-o", exe])
    out = run(["mpirun", "--oversubscribe", "-np", "2", exe] + [str(s) for s in sizes], env=env).stdout
    return {int(a): float(b) for a, b in (l.split() for l in out.splitlines() if l.strip())}


def fit(times):
    """t = latency + bytes / bandwidth, least squares over the sizes"""
    xs = [4.0 * n for n in times]
    ys = list(times.values())
    mx, my = statistics.mean(xs), statistics.mean(ys)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)
    return my - slope * mx, 1.0 / slope  # seconds, bytes per second (2-rank algorithm bandwidth)


def train(cmd, metrics, env):
    run(cmd + ["--epochs", "1", "--quiet", "--metrics", metrics], env=env)
    end = [json.loads(l) for l in open(metrics)][-1]
    evals = [json.loads(l) for l in open(metrics) if '"eval"' in l]
    return evals[-1]["samples"] / end["train_seconds"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--astc", default="build/compiler/astc")
    ap.add_argument("--base", default="examples/fashion_mlp.train")
    ap.add_argument("--batches", default="64,256,1024")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--out", default="bench/results")
    a = ap.parse_args()
    if not shutil.which("mpirun") or not shutil.which("mpicc"):
        sys.exit("dist_scaling.py: needs OpenMPI (apt-get install -y libopenmpi-dev openmpi-bin)")
    env = dict(os.environ, **MPI_ENV)
    base = open(a.base).read()
    batches = [int(b) for b in a.batches.split(",")]
    print("load average at start:", os.getloadavg())
    with tempfile.TemporaryDirectory() as tmp:
        ns = (1, 2, 4, 8, 16)
        shards = sorted({r // n for r in batches for n in ns if r % n == 0 and r // n >= 8})
        progs = {}
        for r in sorted(set(batches) | set(shards)):
            src = os.path.join(tmp, f"b{r}.train")
            with open(src, "w") as f:
                f.write(re.sub(r"batch\s*=\s*\d+", f"batch     = {r}", base, count=1))
            progs[r] = os.path.join(tmp, f"b{r}")
            run([a.astc, "build", src, "-o", progs[r]])
        g = gradient_floats(a.astc, os.path.join(tmp, f"b{batches[0]}.train"))
        sizes = sorted({1, 1024, 16384, 65536, g, 4 * g})
        ar = allreduce_times(tmp, sizes, env)
        latency, bandwidth = fit(ar)
        configs = {"1 proc, 1 thread": lambda p: [p, "--threads", "1"],
                   "1 proc, 2 threads": lambda p: [p, "--threads", "2"],
                   "2 ranks x 1 thread": lambda p: ["mpirun", "--oversubscribe", "-np", "2", p, "--threads", "1"]}
        res = {r: {c: [] for c in configs} for r in batches}
        single = {b: [] for b in shards}
        m = os.path.join(tmp, "m.jsonl")
        for _ in range(a.runs):
            for r in batches:
                for c, cmd in configs.items():
                    res[r][c].append(train(cmd(progs[r]), m, env))
            for b in shards:
                if b not in batches:
                    single[b].append(train(configs["1 proc, 1 thread"](progs[b]), m, env))
        for r in batches:
            if r in single:
                single[r] = res[r]["1 proc, 1 thread"]
        cost = {b: b / statistics.median(v) for b, v in single.items()}  # C(b), seconds per step
    print("load average at end:", os.getloadavg())

    print(f"\ngradient per step G = {g:,} floats ({4 * g / 1e6:.3f} MB)")
    print("MPI_Allreduce, 2 ranks on this machine (shared memory), median:")
    for n, t in sorted(ar.items()):
        print(f"  {n:>9,} floats  {t * 1e6:9.1f} us")
    print(f"  fit: latency {latency * 1e6:.1f} us, algorithm bandwidth {bandwidth / 1e9:.2f} GB/s\n")
    print("step cost C(b), one process, one thread: " +
          ", ".join(f"C({b}) = {cost[b] * 1e3:.3f} ms" for b in shards) + "\n")
    print("| global batch | 1 proc, 1 thread | 1 proc, 2 threads | 2 ranks x 1 thread | 2 ranks predicted "
          "| C(R/2) | allreduce A_2 |")
    print("|---|---|---|---|---|---|---|")
    table = []
    a2 = ar.get(g, latency + 4 * g / bandwidth)
    for r in batches:
        med = {c: statistics.median(v) for c, v in res[r].items()}
        pred2 = r / (cost[r // 2] + a2) if r // 2 in cost else None
        table.append({"batch": r, "samples_per_s": med, "runs": res[r], "predicted_2_ranks": pred2})
        print(f"| {r} | " + " | ".join(f"{med[c]:,.0f}" for c in configs) +
              (f" | {pred2:,.0f} | {cost[r // 2] * 1e3:.3f} ms" if pred2 else " | - | -") + f" | {a2 * 1e3:.3f} ms |")
    print("\nprediction for N machines, one rank of one core each, ring allreduce "
          "(bytes per rank per step = 2 (N-1)/N * 4G); speedup over one process:")
    print("| global batch | network | N=2 | N=4 | N=8 | N=16 |")
    print("|---|---|---|---|---|---|")
    for row in table:
        r = row["batch"]
        for name, bw, lat in (("10 Gbit/s", 1.25e9, 20e-6), ("100 Gbit/s", 12.5e9, 3e-6)):
            cells = []
            for n in (2, 4, 8, 16):
                if r // n not in cost:
                    cells.append("-")
                    continue
                t = cost[r // n] + 2 * (n - 1) * lat + 2 * (n - 1) / n * 4 * g / bw
                cells.append(f"{r / t:,.0f} ({cost[r] / t:.1f}x)")
            print(f"| {r} | {name} | " + " | ".join(cells) + " |")
    os.makedirs(a.out, exist_ok=True)
    out = os.path.join(a.out, "dist_scaling.json")
    with open(out, "w") as f:
        json.dump({"gradient_floats": g, "allreduce_seconds": ar, "latency_s": latency, "step_cost_s": cost,
                   "bandwidth_Bps": bandwidth, "table": table}, f, indent=1)
    print("\nwrote", out)


if __name__ == "__main__":
    main()
