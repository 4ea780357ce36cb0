#!/usr/bin/python3
"""recipes.py — each speedup pass alone and together, against the baseline.

  bench/recipes.py [--astc build/compiler/astc] [--seeds 1,2,3] [--threads 1]
                   [--base examples/fashion_mlp.train] [--out bench/results]

Builds the baseline program and one variant per recipe (the baseline with a
speedup block appended), trains each for every seed, and reports per recipe:
final test accuracy (mean and std over seeds), its difference to the
baseline's, the median time to the baseline's target accuracy, the median
training time, the measured speedup (baseline's median train time over the
recipe's) and astc cost's predicted speedup. Writes a JSON file and prints a
markdown table. Runs are interleaved (all recipes for seed 1, then seed 2 ...)
so slow drifts in machine load hit every recipe alike.
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

RECIPES = {
    "baseline": "",
    "freeze": "speedup {\n  freeze progressive(start: 0.5, level: 1.0)\n}\n",
    "batch": "speedup {\n  batch ramp(64 -> 256, until: 0.3, lr_scale: sqrt)\n}\n",
    "precision": "speedup {\n  precision bf16()\n}\n",
    "freeze + batch": ("speedup {\n  freeze progressive(start: 0.5, level: 1.0)\n"
                       "  batch ramp(64 -> 256, until: 0.3, lr_scale: sqrt)\n}\n"),
    "all three": ("speedup {\n  freeze progressive(start: 0.5, level: 1.0)\n"
                  "  batch ramp(64 -> 256, until: 0.3, lr_scale: sqrt)\n  precision bf16()\n}\n"),
}


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, text=True, capture_output=True, **kw)


def predicted_speedup(astc, path):
    out = run([astc, "cost", path]).stdout
    m = re.search(r"predicted speedup: ([0-9.]+)x", out)
    t = re.search(r"predicted training time: ([0-9.]+) s", out)
    return (float(m.group(1)) if m else 1.0), (float(t.group(1)) if t else None)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--astc", default="build/compiler/astc")
    ap.add_argument("--base", default="examples/fashion_mlp.train")
    ap.add_argument("--seeds", default="1,2,3")
    ap.add_argument("--threads", default="1")
    ap.add_argument("--recipes", default=",".join(RECIPES))
    ap.add_argument("--out", default="bench/results")
    a = ap.parse_args()
    seeds = [int(s) for s in a.seeds.split(",")]
    names = a.recipes.split(",")
    base_src = open(a.base).read()
    tmp = tempfile.mkdtemp(prefix="astc-recipes-")
    exe, cost = {}, {}
    for name in names:
        path = os.path.join(tmp, name.replace(" ", "_") + ".train")
        with open(path, "w") as f:
            f.write(base_src + ("\n" + RECIPES[name] if RECIPES[name] else ""))
        exe[name] = path[:-6]
        run([a.astc, "build", path, "-o", exe[name]])
        cost[name] = predicted_speedup(a.astc, path)
        print(f"built {name}: predicted {cost[name][1]} s, speedup {cost[name][0]:.2f}x", file=sys.stderr)
    load0 = os.getloadavg()
    results = {n: [] for n in names}
    for seed in seeds:
        for name in names:
            m = os.path.join(tmp, f"{name.replace(' ', '_')}-{seed}.jsonl")
            proc = subprocess.Popen([exe[name], "--seed", str(seed), "--threads", a.threads, "--quiet", "--metrics", m],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            _, status, usage = os.wait4(proc.pid, 0)
            if status != 0:
                sys.exit(f"{name} seed {seed} failed: {proc.stderr.read().decode()}")
            lines = [json.loads(l) for l in open(m)]
            end = lines[-1]
            results[name].append({"seed": seed, "final_accuracy": end["final_test_accuracy"],
                                  "train_seconds": end["train_seconds"], "time_to_target": end["time_to_target"],
                                  "peak_rss_mb": usage.ru_maxrss / 1024,
                                  "evals": [l for l in lines if l["event"] == "eval"]})
            print(f"seed {seed} {name}: {end['final_test_accuracy']:.4f} in {end['train_seconds']:.1f} s, "
                  f"target at {end['time_to_target']}", file=sys.stderr)
    load1 = os.getloadavg()
    base_acc = statistics.mean(r["final_accuracy"] for r in results["baseline"])
    base_time = statistics.median(r["train_seconds"] for r in results["baseline"])
    rows = []
    for name in names:
        rs = results[name]
        accs = [r["final_accuracy"] for r in rs]
        ttt = [r["time_to_target"] for r in rs]
        reached = [t for t in ttt if t is not None]
        rows.append({
            "recipe": name,
            "accuracy_mean": statistics.mean(accs),
            "accuracy_std": statistics.stdev(accs) if len(accs) > 1 else 0.0,
            "accuracy_delta_points": 100 * (statistics.mean(accs) - base_acc),
            "time_to_target_median": statistics.median(reached) if len(reached) == len(ttt) else None,
            "time_to_target_reached": f"{len(reached)}/{len(ttt)}",
            "train_seconds_median": statistics.median(r["train_seconds"] for r in rs),
            "measured_speedup": base_time / statistics.median(r["train_seconds"] for r in rs),
            "predicted_speedup": cost[name][0],
            "predicted_seconds": cost[name][1],
            "peak_rss_mb": statistics.median(r["peak_rss_mb"] for r in rs),
        })
    print(f"\nload average at start {load0[0]:.2f}, at end {load1[0]:.2f}; seeds {seeds}; "
          f"{a.threads} thread(s)\n")
    print("| recipe | final accuracy (mean ± std) | vs baseline | time to target (median) | train time (median) "
          "| measured speedup | predicted (astc cost) | peak RSS |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        ttt = f"{r['time_to_target_median']:.1f} s" if r["time_to_target_median"] is not None else \
            f"reached {r['time_to_target_reached']}"
        print(f"| {r['recipe']} | {100 * r['accuracy_mean']:.2f}% ± {100 * r['accuracy_std']:.2f} "
              f"| {r['accuracy_delta_points']:+.2f} pt | {ttt} | {r['train_seconds_median']:.1f} s "
              f"| {r['measured_speedup']:.2f}x | {r['predicted_speedup']:.2f}x | {r['peak_rss_mb']:.0f} MB |")
    os.makedirs(a.out, exist_ok=True)
    out = os.path.join(a.out, time.strftime("recipes-%Y%m%d-%H%M%S.json"))
    with open(out, "w") as f:
        json.dump({"base": a.base, "seeds": seeds, "threads": a.threads, "load": [load0, load1],
                   "rows": rows, "runs": results}, f, indent=1)
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
