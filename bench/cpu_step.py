#!/usr/bin/python3
"""cpu_step.py — one training step's CPU time on one core, astc against
PyTorch: the comparison that other processes on a shared machine do not skew.

bench/throughput.py measures wall-clock samples/s of whole epochs at 1 and 2
threads, which is what a user sees, but on a machine whose cores other jobs
share (a load average above the core count) the wall clock measures the
scheduler: runs are stretched, and stretched unequally (PyTorch's OpenMP
threads spin-wait and lose most when descheduled). The CPU time a thread
spends on a step is stretched much less. So this script times one step of
each model, on one thread on each side, in CPU time (median of --steps
steps, after warm-up), for several rounds that alternate the sides:

  astc   bench/step_time on the program built with `astc build --emit=obj
         --no-main --gemm=MODE` (one per --gemm mode), one thread: the step
         function alone, on random data (the batch is in memory, as it is
         for the PyTorch side)
  torch  bench/torch_peer.py's model and SGD (momentum 0.9, Nesterov, weight
         decay 5e-4), torch.set_num_threads(1), OMP and OpenBLAS on one
         thread, one step on a random batch in memory, time.thread_time()

Models: mlp, lenet, wide, mlp_bf16 (precision bf16, against PyTorch's fp32
MLP) as in throughput.py, and gpt (examples/charlm.train, batch 32 x 64
tokens, against bench/torch_gpt.py on one thread: its CPU time per step,
process_time over --steps steps, AdamW(foreach=True); the faster of its two
forms, separate q, k, v products or one fused product; rates in tokens). Prints a markdown table: CPU ms per step, samples
per CPU-second and the ratio astc / PyTorch, the load average before and
after, and writes the rounds to --out (JSON).

  /usr/bin/python3 bench/cpu_step.py [--models mlp,lenet,mlp_bf16]
      [--gemm auto,openblas] [--rounds 5] [--steps 300] [--astc BUILD/compiler/astc]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PY = "/usr/bin/python3"
sys.path.insert(0, HERE)
from throughput import GPT_CONTEXT, MODELS, TORCH_PEER, loadavg  # noqa: E402

TORCH_STEP = r"""
import json, statistics, sys, time
import torch, torch.nn.functional as F
sys.path.insert(0, %(here)r)
from torch_peer import make_model
torch.manual_seed(1)
torch.set_num_threads(1)
model = make_model(%(model)r)
opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4, foreach=True)
x = torch.rand(%(batch)d, 1, 28, 28) if %(model)r == "lenet" else torch.rand(%(batch)d, 784)
y = torch.randint(0, 10, (%(batch)d,))
def step():
    opt.zero_grad(set_to_none=True)
    F.cross_entropy(model(x), y).backward()
    opt.step()
for _ in range(30):
    step()
t = []
for _ in range(%(steps)d):
    c = time.thread_time()
    step()
    t.append(time.thread_time() - c)
print(json.dumps({"cpu_seconds": statistics.median(t)}))
"""


def build_so(astc, source, gemm, tmp):
    obj, so = os.path.join(tmp, f"{os.path.basename(source)}.{gemm}.o"), os.path.join(tmp, f"{os.path.basename(source)}.{gemm}.so")
    subprocess.run([astc, "build", source, "--emit=obj", "--no-main", "--gemm=" + gemm, "-o", obj], check=True,
                   capture_output=True)
    # libmvec: the vectorised exp/log/tanh generated code calls
    subprocess.run(["cc", "-shared", obj, "-o", so, "-lmvec", "-lm"], check=True, capture_output=True)
    return so


def astc_cpu(step_time, so, steps):
    out = subprocess.run([step_time, so, str(steps), "1"], check=True, capture_output=True, text=True).stdout
    for line in out.splitlines():
        if "of CPU per step" in line:
            return float(line.split("1 thread:")[1].split("ms")[0]) / 1e3
    raise SystemExit(f"cpu_step: no CPU time from step_time:\n{out}")


def torch_cpu(model, batch, steps):
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    code = TORCH_STEP % {"here": HERE, "model": model, "batch": batch, "steps": steps}
    out = subprocess.run([PY, "-c", code], check=True, capture_output=True, text=True, env=env).stdout
    return json.loads(out.strip().splitlines()[-1])["cpu_seconds"]


def torch_gpt_cpu(batch, steps):
    """bench/torch_gpt.py's CPU seconds per step on one thread: the faster of its two forms"""
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    best = None
    for extra in ([], ["--fused-qkv"]):
        out = subprocess.run([PY, os.path.join(HERE, "torch_gpt.py"), "throughput", "--batch", str(batch), "--steps",
                              str(steps), "--threads", "1"] + extra, check=True, capture_output=True, text=True,
                             env=env).stdout
        c = json.loads(out.strip().splitlines()[-1])["cpu_ms_per_step"] / 1e3
        best = c if best is None else min(best, c)
    return best


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--astc", default=os.path.join(ROOT, "build/compiler/astc"))
    ap.add_argument("--models", default="mlp,lenet,mlp_bf16")
    ap.add_argument("--gemm", default="auto,openblas", help="astc build --gemm modes, comma-separated")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    build = os.path.dirname(os.path.dirname(os.path.abspath(args.astc)))
    subprocess.run(["cmake", "--build", build, "--target", "step_time"], check=True, capture_output=True)
    step_time = os.path.join(build, "bench", "step_time")
    models, modes = args.models.split(","), args.gemm.split(",")
    load_start = loadavg()
    print(f"cpu_step: load average at start {load_start}, {os.cpu_count()} CPUs", flush=True)
    rows = []
    with tempfile.TemporaryDirectory(prefix="astc-cpu-step-") as tmp:
        sos = {(m, g): build_so(args.astc, os.path.join(ROOT, MODELS[m][0]), g, tmp) for m in models for g in modes}
        for rnd in range(args.rounds):
            for m in models:
                batch = MODELS[m][1]
                peer = TORCH_PEER.get(m, m)
                t = torch_gpt_cpu(batch, max(20, args.steps // 10)) if m == "gpt" else torch_cpu(peer, batch, args.steps)
                rows.append({"round": rnd + 1, "model": m, "side": "torch", "peer": peer, "cpu_seconds": t})
                print(f"  round {rnd + 1} {m:<8} torch ({peer}) {t * 1e3:8.3f} ms CPU/step", flush=True)
                for g in modes:
                    a = astc_cpu(step_time, sos[(m, g)], max(20, args.steps // 10) if m == "gpt" else args.steps)
                    rows.append({"round": rnd + 1, "model": m, "side": "astc", "gemm": g, "cpu_seconds": a})
                    print(f"  round {rnd + 1} {m:<8} astc --gemm={g:<8} {a * 1e3:8.3f} ms CPU/step", flush=True)
    load_end = loadavg()
    lines = ["| model | batch | astc --gemm | astc ms CPU/step | astc samples/CPU-s | PyTorch ms CPU/step | "
             "PyTorch samples/CPU-s | astc / PyTorch |", "|---|---|---|---|---|---|---|---|"]
    for m in models:
        batch = MODELS[m][1] * (GPT_CONTEXT if m == "gpt" else 1)  # gpt: tokens
        tt = statistics.median(r["cpu_seconds"] for r in rows if r["model"] == m and r["side"] == "torch")
        for g in modes:
            at = statistics.median(r["cpu_seconds"] for r in rows if r["model"] == m and r.get("gemm") == g)
            lines.append(f"| {m} | {batch} | {g} | {at * 1e3:.3f} | {batch / at:,.0f} | {tt * 1e3:.3f} | "
                         f"{batch / tt:,.0f} | {tt / at:.2f}x |")
    lines.append(f"\nOne thread each, CPU time, median over {args.rounds} rounds of medians of {args.steps} steps. "
                 f"Load average (1, 5, 15 min): start {load_start}, end {load_end} on {os.cpu_count()} CPUs.")
    table = "\n".join(lines)
    print("\n" + table)
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"load_start": load_start, "load_end": load_end, "rows": rows, "table": table}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
