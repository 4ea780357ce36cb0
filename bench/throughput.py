#!/usr/bin/python3
"""throughput.py — training throughput of astc and PyTorch CPU, side by side.

One command: builds the examples with astc (`astc build`), then for each model
runs astc and PyTorch (bench/torch_peer.py) alternately, --runs times (default
3), one epoch of Fashion-MNIST each (60000 samples), in every thread split:

  astc   --threads 1, --threads 2             (OpenBLAS threads; astc's step
                                               is otherwise single-threaded)
  torch  OMP_NUM_THREADS = torch.set_num_threads in {1, 2}
         x OPENBLAS_NUM_THREADS in {1, 2}

Each side's best split is the one with the highest median samples/s; the
table compares the two best splits, and the JSON keeps every run.

  samples/s  astc: samples / train_seconds from the --metrics JSON lines
             (training only: batch gathering included, evaluation excluded);
             torch: torch_peer.py's samples_per_second (training only, batch
             gathering included, after 20 untimed warm-up steps).
  peak RSS   of each process (wait4's ru_maxrss), the worst run per split.

The machine's load average is printed at the start and the end: on a 2-core
machine other jobs change the numbers, and the runs alternate so that both
sides see the same conditions.

OpenBLAS: both sides use Debian's OpenBLAS (astc for every GEMM, PyTorch for
Linear layers; PyTorch's convolutions use oneDNN). OpenBLAS 0.3.21 picks its
kernels by CPU model and falls back to its slow generic Prescott (SSE3)
kernels on a CPU it does not know. astc's executables detect that and
re-execute themselves with OPENBLAS_CORETYPE set (runtime/blas_select.c);
PyTorch does not. So that both sides run the same GEMM kernels,
--openblas-coretype auto (the default) sets OPENBLAS_CORETYPE for both when
OpenBLAS's own choice is a fallback (SkylakeX on AVX-512 CPUs, else Haswell
with AVX2). --openblas-coretype detected leaves the environment alone (each
side as it runs out of the box); NAME (Haswell, SkylakeX ...) forces one.
The core each process ran is recorded with every run.

  /usr/bin/python3 bench/throughput.py [--runs 3] [--models mlp,lenet,wide]
      [--astc BUILD/compiler/astc] [--require-floor]

Writes bench/results/throughput-<date>.json and prints a markdown table.
Models: mlp (examples/fashion_mlp.train, batch 64), lenet
(examples/fashion_lenet.train, batch 64), wide (bench/models/wide_mlp.train,
784-1024-1024-10, batch 256; not in the default set), mlp_bf16
(bench/models/fashion_mlp_bf16.train: the MLP with precision bf16, against
PyTorch's fp32 MLP; not in the default set), gpt (below; not in the default
set), gpt_bf16 (bench/models/charlm_bf16.train: the GPT with precision bf16;
its PyTorch side runs every variant both in fp32 and under
torch.autocast("cpu", torch.bfloat16), and its best is the faster of all). --gemm MODE is passed to astc build (auto: each product on its fastest
GEMM backend, measured; openblas; xsmm) and to the GPT's step_time.

gpt: examples/charlm.train, the byte-level GPT (4 pre-LN blocks of width
128, 4 heads, context 64), batch 32 x 64 tokens, measured in training
tokens/s and ms per step:

  astc   the compiled step alone: bench/step_time (JIT-compiles the program,
         times phase 0's step on random tokens, median of --gpt-repeats after
         two untimed steps; built with `cmake --build BUILD --target
         step_time` if missing), --threads 1 and 2 (astc's thread pool,
         OpenBLAS on one thread). Its peak RSS includes the JIT compiler
         (LLVM). The end-to-end run (the compiled executable on the fortunes
         corpus, --steps --gpt-steps, tokens/s from its --metrics
         train_seconds, like mlp's) is attempted as well and reported when
         it works: it needs the runtime's text data loader; until that lands
         the executable stops with an error and the row says so (see
         run_astc_gpt_end_to_end).
  torch  bench/torch_gpt.py (the same model; AdamW(foreach=True)), on random
         windows of the same corpus, ms per step the median of --gpt-steps
         after 5 warm-up steps, batch gathering included, in every split of
         --gpt-torch-splits: OMPxOPENBLAS threads, "p" for
         OMP_WAIT_POLICY=PASSIVE (GNU OpenMP's threads otherwise spin
         between parallel regions, which on a loaded 2-core machine can cost
         a factor of 5 to 25: the default set leaves 2x1 and 2x2 with
         spinning threads out), "j" for jemalloc (LD_PRELOAD, Debian's
         libjemalloc2), and every variant of --gpt-torch-variants: separate
         q, k, v products (astc's form) or one fused qkv product (PyTorch's
         fastest form of the same function). PyTorch 1.13 on Debian has no
         MKL (ATen's GEMMs are OpenBLAS's) and no fused attention
         (scaled_dot_product_attention came with 2.0).

  Timing on a shared machine: every run's ms per step is the median of its
  steps, and the table gives the median (min–max) of those over --runs
  rounds, and the fastest single step seen (the least disturbed measure,
  which other jobs can only slow down). The CPU time per step (all threads;
  astc: a run's CPU time less that of a one-step run, over the extra steps;
  PyTorch: process_time over the timed steps) is less sensitive to other
  jobs than wall time: at one thread it is the step's own compute.

The GPT's GEMM-only ceiling: its products from `astc show` (the linear
layers' [B*T, in] x [in, out] products as single GEMMs, their weight
gradients folded over B*T, and attention's per-head products as batched
ones: B * heads products of [64, 32] x [32, 64] etc., bench/gemm_step.c's
xCOUNT), at astc's best thread count.
"""
import argparse
import datetime
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PY = "/usr/bin/python3"

# source, batch, convolutional (PyTorch is also run channels-last)
MODELS = {
    "mlp": ("examples/fashion_mlp.train", 64, False),
    "lenet": ("examples/fashion_lenet.train", 64, True),
    "wide": ("bench/models/wide_mlp.train", 256, False),
    "gpt": ("examples/charlm.train", 32, False),
    "mlp_bf16": ("bench/models/fashion_mlp_bf16.train", 64, False),
    "gpt_bf16": ("bench/models/charlm_bf16.train", 32, False),
}
# the sequence models, timed in ms per step (gpt_bench); gpt_bf16's PyTorch
# side also runs each variant under torch.autocast(cpu, bfloat16), and its
# best is the faster of fp32 and bf16
GPT_MODELS = ("gpt", "gpt_bf16")
# astc models whose PyTorch peer is another model (mlp_bf16: precision bf16
# against PyTorch's fp32 MLP)
TORCH_PEER = {"mlp_bf16": "mlp"}
GPT_CONTEXT = 64


def loadavg():
    return [round(x, 2) for x in os.getloadavg()]


last_cpu_seconds = 0.0  # the CPU time (user + system, all threads) of spawn's last process


def spawn(cmd, env=None, timeout=None):
    """Runs cmd; returns (exit status, stdout, stderr, peak RSS in KiB, wall s)."""
    global last_cpu_seconds
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=out, stderr=err, env=env)
        deadline = None if timeout is None else t0 + timeout
        while True:
            pid, status, ru = os.wait4(p.pid, os.WNOHANG)
            if pid:
                break
            if deadline and time.perf_counter() > deadline:
                p.kill()
                pid, status, ru = os.wait4(p.pid, 0)
                status = -1
                break
            time.sleep(0.02)
        wall = time.perf_counter() - t0
        last_cpu_seconds = ru.ru_utime + ru.ru_stime
        p.returncode = os.waitstatus_to_exitcode(status) if status >= 0 else -9
        out.seek(0)
        err.seek(0)
        return p.returncode, out.read().decode(), err.read().decode(), ru.ru_maxrss, wall


def run_astc(exe, threads, epochs, timeout):
    with tempfile.NamedTemporaryFile(suffix=".jsonl") as m:
        rc, out, err, rss, wall = spawn([exe, "--epochs", str(epochs), "--threads", str(threads),
                                         "--metrics", m.name, "--progress=plain"],
                                        timeout=timeout)
        if rc != 0:
            return {"error": f"exit {rc}: {err.strip()[-300:]}", "peak_rss_kb": rss, "wall": wall}
        lines = [json.loads(s) for s in open(m.name) if s.strip()]
    end = [e for e in lines if e.get("event") == "end"][-1]
    evals = [e for e in lines if e.get("event") == "eval"]
    samples = evals[-1]["samples"] if evals else 60000 * epochs
    core = re.search(r"\(OpenBLAS (\w+)\)", err)
    return {"samples": samples, "train_seconds": end["train_seconds"],
            "samples_per_second": samples / end["train_seconds"],
            "final_test_accuracy": end.get("final_test_accuracy"),
            "openblas_core": core.group(1) if core else None,
            "peak_rss_kb": rss, "wall": wall}


def run_torch(model, batch, omp, blas, channels_last, epochs, timeout):
    env = dict(os.environ, OMP_NUM_THREADS=str(omp), OPENBLAS_NUM_THREADS=str(blas))
    rc, out, err, rss, wall = spawn([PY, os.path.join(HERE, "torch_peer.py"), "throughput",
                                     "--model", TORCH_PEER.get(model, model), "--batch", str(batch),
                                     "--epochs", str(epochs), "--threads", str(omp)]
                                    + (["--channels-last"] if channels_last else []),
                                    env=env, timeout=timeout)
    if rc != 0:
        return {"error": f"exit {rc}: {err.strip()[-300:]}", "peak_rss_kb": rss, "wall": wall}
    r = json.loads(out.strip().splitlines()[-1])
    return {"samples": r["samples"], "train_seconds": r["train_seconds"],
            "samples_per_second": r["samples_per_second"],
            "openblas_core": r.get("openblas_core"), "peak_rss_kb": rss, "wall": wall}


def openblas_core(env):
    """The kernel set OpenBLAS selects in a process with this environment."""
    code = ("import ctypes; l = ctypes.CDLL('libopenblas.so.0'); "
            "l.openblas_get_corename.restype = ctypes.c_char_p; "
            "print(l.openblas_get_corename().decode())")
    r = subprocess.run([PY, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                       text=True, env=env)
    return r.stdout.strip() or "unknown"


FALLBACK_CORES = {"Prescott", "Core2", "Penryn", "Dunnington", "Nehalem", "Atom"}


def best_core():
    """What runtime/blas_select.c picks: SkylakeX with AVX-512 (f, bw, dq, vl),
    Haswell with AVX2 and FMA, else None."""
    flags = set()
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    if {"avx512f", "avx512bw", "avx512dq", "avx512vl"} <= flags:
        return "SkylakeX"
    if {"avx2", "fma"} <= flags:
        return "Haswell"
    return None


def gemm_products(astc, source, batch):
    """the step's matrix products as (ta, tb, M, N, K, COUNT, TYPE), from `astc show` (the first phase): COUNT
    products of [M, N] (1: a plain product), TYPE the operands' type (f32, bf16); None when the
    step has convolutions (astc runs them as direct kernels, not GEMMs: no GEMM-only ceiling)"""
    out = subprocess.run([astc, "show", "--graph", "step", "--phase", "1", "--no-locations", "--batch", str(batch),
                          source], check=True, capture_output=True, text=True).stdout
    shapes, types, prods = {}, {}, []
    for line in out.splitlines():
        m = re.match(r"\s*%(\d+)\s*=\s*(\w+)\s*(.*?)\s*:\s*(\w+)\[([0-9,]*)\]", line)
        if not m:
            continue
        node, op, args, dtype, dims = m.groups()
        shapes[node] = [int(d) for d in dims.split(",") if d]
        types[node] = dtype
        if op.startswith("conv"):
            return None
        if op != "matmul":
            continue
        a, b = re.findall(r"%(\d+)", args)[:2]
        ta, tb = int("trans_a" in args), int("trans_b" in args)
        out_shape, sa, sb = shapes[node], shapes[a], shapes[b]
        ty = "bf16" if types.get(a) == "bf16" else "f32"
        if len(out_shape) == 2:
            # [M, N]; an operand of higher rank is folded into the contraction (the weight
            # gradient x^T dy of x [B, T, I]: one product with K = B * T)
            k = prod(sa) // out_shape[0]
            prods.append((ta, tb, out_shape[0], out_shape[1], k, 1, ty))
        elif len(sb) == 2:
            # x [..., I] @ w [I, O]: the leading axes merge into the rows, one product
            prods.append((ta, tb, prod(out_shape[:-1]), out_shape[-1], sa[-2] if ta else sa[-1], 1, ty))
        else:
            # batched (attention's per-head products): prod(leading axes) products of [M, N]
            prods.append((ta, tb, out_shape[-2], out_shape[-1], sa[-2] if ta else sa[-1], prod(out_shape[:-2]), ty))
    return prods


def prod(xs):
    n = 1
    for x in xs:
        n *= x
    return n


def gemm_arg(p):
    """a product as gemm_step's argument: TA,TB,M,N,K[xCOUNT][,bf16]"""
    return ",".join(map(str, p[:5])) + (f"x{p[5]}" if p[5] > 1 else "") + (",bf16" if p[6] == "bf16" else "")


def step_mflop(astc, source):
    """forward + backward + update MFLOP of a step of the first phase (astc cost)"""
    out = subprocess.run([astc, "cost", source], check=True, capture_output=True, text=True).stdout
    for line in out.splitlines():
        f = line.split()
        # phase, progress "[a, b)", steps, batch, trainable, fwd, bwd, upd MFLOP, ...
        if f and f[0] == "1" and len(f) >= 9 and f[1].startswith("["):
            return float(f[6]) + float(f[7]) + float(f[8])
    return None


def gemm_tool(tmp, astc):
    """gemm_step on astc's runtime (its GEMM backends) from astc's build tree if it builds, else on OpenBLAS"""
    build = os.path.dirname(os.path.dirname(os.path.abspath(astc)))
    r = subprocess.run(["cmake", "--build", build, "--target", "gemm_step"], capture_output=True, text=True)
    if r.returncode == 0 and os.path.exists(os.path.join(build, "bench", "gemm_step")):
        return os.path.join(build, "bench", "gemm_step")
    exe = os.path.join(tmp, "gemm_step")
    r = subprocess.run(["cc", "-O2", os.path.join(HERE, "gemm_step.c"), "-o", exe, "-lopenblas", "-lpthread"],
                       capture_output=True, text=True)
    return exe if r.returncode == 0 else None


def gemm_time(exe, threads, args):
    """(seconds, GFLOP/s) of the products: the faster of OpenBLAS's own threads and astc's split"""
    best = None
    for split in ([1, threads] if threads > 1 else [1]):
        env = dict(os.environ, OPENBLAS_NUM_THREADS=str(threads), GEMM_SPLIT=str(split))
        out = subprocess.run([exe] + args, check=True, capture_output=True, text=True, env=env).stdout.split()
        t = (float(out[0]), float(out[1]))
        best = t if best is None or t[0] < best[0] else best
    return best


def build_seconds(astc, source, tmp, gemm, repeats=5):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run([astc, "build", source, "-o", os.path.join(tmp, "build-time"), "--gemm=" + gemm], check=True,
                       capture_output=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def split_name(side, split):
    if side == "astc":
        return f"--threads {split[0]}"
    return f"omp {split[0]} / openblas {split[1]}" + (" channels-last" if split[2] else "")


def summarize(runs):
    ok = [r["samples_per_second"] for r in runs if "samples_per_second" in r]
    return {"median": statistics.median(ok) if ok else None, "min": min(ok) if ok else None,
            "max": max(ok) if ok else None, "n": len(ok), "failed": len(runs) - len(ok),
            "peak_rss_kb": max(r["peak_rss_kb"] for r in runs)}


def fmt(s):
    if s["median"] is None:
        return "failed"
    return f"{s['median']:,.0f} ({s['min']:,.0f}–{s['max']:,.0f})"



# ---- gpt: examples/charlm.train, in tokens/s ------------------------------------------------------

def step_time_tool(astc):
    """BUILD/bench/step_time next to astc's build, built if missing; None if it cannot be"""
    build = os.path.dirname(os.path.dirname(os.path.abspath(astc)))
    exe = os.path.join(build, "bench", "step_time")
    if not os.path.exists(exe):
        subprocess.run(["cmake", "--build", build, "--target", "step_time"], capture_output=True)
    return exe if os.path.exists(exe) else None


def run_astc_gpt_step(tool, source, batch, threads, repeats, timeout):
    """astc's compiled step alone (bench/step_time): ms per step, the median of `repeats`; and the
    CPU time per step (all threads): the CPU time of this run less that of a run of one repeat
    (the same compilation), over the difference in steps, which other jobs on the machine do
    not inflate the way they do wall time"""
    rc, out, err, rss, wall = spawn([tool, source, str(repeats), str(threads)], timeout=timeout)
    cpu = last_cpu_seconds
    m = re.search(r"([\d.]+) ms per step \(min ([\d.]+), max ([\d.]+)\)", out)
    if rc != 0 or not m:
        return {"error": f"exit {rc}: {(err + out).strip()[-300:]}", "peak_rss_kb": rss, "wall": wall}
    ms = float(m.group(1))
    r = {"ms_per_step": ms, "ms_min": float(m.group(2)), "ms_max": float(m.group(3)),
         "tokens_per_second": batch * GPT_CONTEXT * 1e3 / ms, "repeats": repeats,
         "peak_rss_kb": rss, "wall": wall, "what": "step_time (JIT; compiled step alone, random tokens)"}
    if repeats > 1:
        rc1 = spawn([tool, source, "1", str(threads)], timeout=timeout)[0]
        if rc1 == 0:
            r["cpu_ms_per_step"] = 1e3 * (cpu - last_cpu_seconds) / (repeats - 1)
    return r


def run_astc_gpt_end_to_end(exe, batch, threads, steps, timeout):
    """END-TO-END astc run: the compiled executable of examples/charlm.train trains --steps `steps`
    on the fortunes corpus (text("fortunes", context: 64)); tokens/s = steps * batch * 64 / its
    --metrics train_seconds (training only, batch gathering included, evaluation excluded), and
    its peak RSS is the real one (no compiler in the process).

    This is where the end-to-end number plugs in once the runtime's text data loader lands:
    until then the executable stops with an error (unknown data kind) and this returns
    {"unavailable": ...}, and the table reports the step alone (bench/step_time). Nothing else
    needs to change: when the run succeeds, its numbers appear in the table's end-to-end column
    and the ratio is taken from it."""
    with tempfile.NamedTemporaryFile(suffix=".jsonl") as m:
        rc, out, err, rss, wall = spawn([exe, "--steps", str(steps), "--threads", str(threads),
                                         "--metrics", m.name, "--progress=plain"], timeout=timeout)
        lines = [json.loads(x) for x in open(m.name) if x.strip()] if rc == 0 else []
    end = [e for e in lines if e.get("event") == "end"]
    if rc != 0 or not end or not end[-1].get("train_seconds"):
        why = (err + out).strip().splitlines()
        return {"unavailable": f"exit {rc}: {why[-1][-200:] if why else ''}", "peak_rss_kb": rss, "wall": wall}
    secs = end[-1]["train_seconds"]
    core = re.search(r"\(OpenBLAS (\w+)\)", err)
    return {"ms_per_step": 1e3 * secs / steps, "tokens_per_second": steps * batch * GPT_CONTEXT / secs,
            "train_seconds": secs, "steps": steps, "final_test_loss": end[-1].get("final_test_loss"),
            "openblas_core": core.group(1) if core else None, "peak_rss_kb": rss, "wall": wall,
            "what": "end-to-end (compiled executable on the fortunes corpus)"}


JEMALLOC = "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"  # Debian's libjemalloc2


def run_torch_gpt(split, variant, batch, steps, timeout):
    omp, blas, passive, jemalloc = split
    env = dict(os.environ, OMP_NUM_THREADS=str(omp), OPENBLAS_NUM_THREADS=str(blas))
    if passive:
        env["OMP_WAIT_POLICY"] = "PASSIVE"
    if jemalloc:
        if not os.path.exists(JEMALLOC):
            return {"error": f"{JEMALLOC} not installed (apt-get install libjemalloc2)", "peak_rss_kb": 0, "wall": 0}
        env["LD_PRELOAD"] = JEMALLOC
    cmd = [PY, os.path.join(HERE, "torch_gpt.py"), "throughput", "--batch", str(batch), "--steps", str(steps),
           "--threads", str(omp)] + (["--fused-qkv"] if variant.startswith("fused") else []) \
        + (["--bf16"] if variant.endswith("-bf16") else [])
    rc, out, err, rss, wall = spawn(cmd, env=env, timeout=timeout)
    if rc != 0:
        return {"error": f"exit {rc}: {err.strip()[-300:]}", "peak_rss_kb": rss, "wall": wall}
    r = json.loads(out.strip().splitlines()[-1])
    return {"ms_per_step": r["ms_per_step"], "ms_min": r["ms_per_step_min"], "ms_max": r["ms_per_step_max"],
            "cpu_ms_per_step": r.get("cpu_ms_per_step"),
            "tokens_per_second": r["tokens_per_second"], "final_loss": r["final_loss"],
            "openblas_core": r.get("openblas_core"), "data": r.get("data"), "peak_rss_kb": rss, "wall": wall}


def gpt_split_name(side, split, variant=None):
    if side == "astc":
        return f"--threads {split[0]}"
    omp, blas, passive, jemalloc = split
    return (f"omp {omp}{' passive' if passive else ''} / openblas {blas}{', jemalloc' if jemalloc else ''}, "
            f"{variant} qkv")


def parse_gpt_splits(text):
    """OMPxOPENBLAS[p][j] -> (omp, openblas, passive, jemalloc)"""
    out = []
    for s in text.split(","):
        m = re.fullmatch(r"(\d+)x(\d+)(p?)(j?)", s.strip())
        if not m:
            sys.exit(f"throughput: bad --gpt-torch-splits entry {s!r} (OMPxOPENBLAS, then p for "
                     "OMP_WAIT_POLICY=PASSIVE, j for jemalloc)")
        out.append((int(m.group(1)), int(m.group(2)), bool(m.group(3)), bool(m.group(4))))
    return out


def summarize_ms(runs):
    """the median, min and max over the runs of each run's median ms per step; ms_best, the fastest
    single step seen in any run (the least disturbed measure on a shared machine)"""
    ok = [r["ms_per_step"] for r in runs if "ms_per_step" in r]
    med = statistics.median(ok) if ok else None
    best = [r["ms_min"] for r in runs if r.get("ms_min") is not None]
    cpu = [r["cpu_ms_per_step"] for r in runs if r.get("cpu_ms_per_step") is not None]
    return {"ms_median": med, "ms_min": min(ok) if ok else None, "ms_max": max(ok) if ok else None,
            "ms_best": min(best) if best else None, "cpu_ms_median": statistics.median(cpu) if cpu else None,
            "tokens_per_second": None if med is None else runs[0]["batch"] * GPT_CONTEXT * 1e3 / med,
            "n": len(ok), "failed": len(runs) - len(ok), "peak_rss_kb": max(r["peak_rss_kb"] for r in runs)}


def gpt_bench(args, tmp, exe, astc_splits, gemm, m):
    """runs the rounds of m (gpt or gpt_bf16); returns (summary, table lines, runs)"""
    src, batch = os.path.join(ROOT, MODELS[m][0]), MODELS[m][1]
    tool = step_time_tool(args.astc)
    if not tool:
        sys.exit("throughput: gpt needs bench/step_time: cmake --build BUILD --target step_time")
    torch_splits = parse_gpt_splits(args.gpt_torch_splits)
    if not os.path.exists(JEMALLOC) and any(s[3] for s in torch_splits):
        print(f"  gpt: {JEMALLOC} is not installed (apt-get install libjemalloc2): the jemalloc splits are left out")
        torch_splits = [s for s in torch_splits if not s[3]]
    variants = args.gpt_torch_variants.split(",")
    if m == "gpt_bf16":
        variants += [v + "-bf16" for v in variants]
    runs = []
    for rnd in range(args.runs):
        a = [("astc", s, None) for s in astc_splits]
        t = [("torch", s, v) for s in torch_splits for v in variants]
        order = []
        while a or t:  # alternate the two sides; rotate the order from round to round
            if a:
                order.append(a.pop(0))
            if t:
                order.append(t.pop(0))
        k = rnd % len(order)
        order = order[k:] + order[:k]
        for side, split, variant in order:
            if side == "astc":
                r = run_astc_gpt_step(tool, src, batch, split[0], args.gpt_repeats, args.timeout)
            else:
                r = run_torch_gpt(split, variant, batch, args.gpt_steps, args.timeout)
            r.update({"model": m, "side": side, "split": list(split), "variant": variant, "batch": batch,
                      "round": rnd + 1, "load": loadavg()[0]})
            runs.append(r)
            name = gpt_split_name(side, split, variant)
            print(f"  round {rnd + 1} {m:<8} {side:<5} {name:<38} "
                  + (f"{r['ms_per_step']:8.1f} ms/step {r['tokens_per_second']:8,.0f} tokens/s"
                     if "ms_per_step" in r else f"  {r['error']}")
                  + f"  rss {r['peak_rss_kb'] / 1024:6.0f} MiB  load {r['load']}", flush=True)
    # the end-to-end run, once per thread count (see run_astc_gpt_end_to_end)
    e2e = {}
    for split in astc_splits:
        r = run_astc_gpt_end_to_end(exe, batch, split[0], args.gpt_steps, args.timeout)
        r.update({"model": m, "side": "astc-e2e", "split": list(split), "batch": batch, "load": loadavg()[0]})
        runs.append(r)
        e2e[gpt_split_name("astc", split)] = r
        print(f"  end-to-end {m} astc --threads {split[0]}: "
              + (f"{r['ms_per_step']:.1f} ms/step {r['tokens_per_second']:,.0f} tokens/s"
                 if "ms_per_step" in r else f"unavailable ({r['unavailable']})"), flush=True)

    summary = {"batch": batch, "context": GPT_CONTEXT, "source": MODELS[m][0], "end_to_end": e2e}
    for side, keys in (("astc", [(s, None) for s in astc_splits]),
                       ("torch", [(s, v) for s in torch_splits for v in variants])):
        per = {}
        for s, v in keys:
            rs = [r for r in runs if r["side"] == side and tuple(r["split"]) == s and r["variant"] == v]
            per[gpt_split_name(side, s, v)] = summarize_ms(rs)
        measured = {k: x for k, x in per.items() if x["ms_median"] is not None}
        best = min(measured, key=lambda k: measured[k]["ms_median"]) if measured else None
        summary[side] = {"best_split": best, "best": per.get(best), "splits": per}
    a, t = summary["astc"]["best"], summary["torch"]["best"]
    e2e_ok = {k: r for k, r in e2e.items() if "ms_per_step" in r}
    e2e_best = min(e2e_ok, key=lambda k: e2e_ok[k]["ms_per_step"]) if e2e_ok else None
    summary["end_to_end_best"] = e2e_best
    # the ratio: astc tokens/s over PyTorch's at each side's best; from the end-to-end run when
    # there is one, else from the step alone
    a_ms = e2e_ok[e2e_best]["ms_per_step"] if e2e_best else (a["ms_median"] if a else None)
    summary["ratio_basis"] = "end-to-end" if e2e_best else "astc step alone (step_time)"
    summary["ratio"] = t["ms_median"] / a_ms if a_ms and t else None

    e = {"step_mflop": step_mflop(args.astc, src)}
    if a:
        threads = int(summary["astc"]["best_split"].split()[-1])
        e["threads"] = threads
        if e["step_mflop"]:
            e["gflops"] = e["step_mflop"] * 1e6 / (a["ms_median"] / 1e3) / 1e9
            if t:
                e["torch_gflops"] = e["step_mflop"] * 1e6 / (t["ms_median"] / 1e3) / 1e9
        prods = gemm_products(args.astc, src, batch)
        if gemm and prods:
            secs, rate = gemm_time(gemm, threads, ["7"] + [gemm_arg(p) for p in prods])
            mflop = sum(2 * p[2] * p[3] * p[4] * p[5] for p in prods) / 1e6
            batched = [p for p in prods if p[5] > 1]
            e.update({"gemm_products": prods, "gemm_mflop": mflop, "gemm_batched_products": len(batched),
                      "gemm_batched_mflop": sum(2 * p[2] * p[3] * p[4] * p[5] for p in batched) / 1e6,
                      "gemm_seconds_per_step": secs, "gemm_gflops": rate,
                      "gemm_ceiling_ms_per_step": 1e3 * secs,
                      "gemm_ceiling_tokens_per_second": batch * GPT_CONTEXT / secs,
                      "fraction_of_ceiling": secs * 1e3 / a["ms_median"]})
        if gemm and prods:
            # at one thread, in CPU time: the products' own compute against each side's CPU time per
            # step at one thread (a measure that other jobs on the machine hardly inflate)
            env = dict(os.environ, OPENBLAS_NUM_THREADS="1", GEMM_SPLIT="1")
            out = subprocess.run([gemm, "7"] + [gemm_arg(p) for p in prods], check=True, capture_output=True,
                                 text=True, env=env).stdout.split()
            if len(out) >= 3:
                e["gemm_cpu_ms_per_step_1thread"] = gc = 1e3 * float(out[2])
                a1 = summary["astc"]["splits"].get(gpt_split_name("astc", (1,)))
                t1 = [x for k, x in summary["torch"]["splits"].items() if k.startswith("omp 1 / openblas 1,")
                      and x.get("cpu_ms_median")]
                if a1 and a1.get("cpu_ms_median"):
                    e["astc_cpu_ms_1thread"] = a1["cpu_ms_median"]
                    e["cpu_fraction_of_ceiling_1thread"] = gc / a1["cpu_ms_median"]
                if t1:
                    e["torch_cpu_ms_1thread"] = min(x["cpu_ms_median"] for x in t1)
                    e["torch_cpu_fraction_of_ceiling_1thread"] = gc / e["torch_cpu_ms_1thread"]
        if gemm:
            e["sgemm_peak_gflops"] = gemm_time(gemm, threads, ["--peak", "1024"])[1]
    summary["efficiency"] = e

    def ms(x):
        return "failed" if not x or x["ms_median"] is None else \
            f"{x['ms_median']:.1f} ({x['ms_min']:.1f}–{x['ms_max']:.1f})"

    def tps(x):
        return "failed" if not x or x["tokens_per_second"] is None else f"{x['tokens_per_second']:,.0f}"

    def fastest(x):
        return "n/a" if not x or x.get("ms_best") is None else f"{x['ms_best']:.1f}"

    def cpu(x):
        return "n/a" if not x or x.get("cpu_ms_median") is None else f"{x['cpu_ms_median']:.1f}"

    e2e_cell = (f"{e2e_ok[e2e_best]['ms_per_step']:.1f} ms, {e2e_ok[e2e_best]['tokens_per_second']:,.0f} tokens/s"
                if e2e_best else "not yet: needs the text data loader")
    ratio = f"{summary['ratio']:.2f}x" if summary["ratio"] else "n/a"
    lines = ["", f"{m} ({MODELS[m][0]}, batch {batch} x context {GPT_CONTEXT} = {batch * GPT_CONTEXT} tokens "
             "per step; ms per step median (min–max) over the runs' medians):", "",
             "| model | astc step ms (step_time) | astc fastest step | astc tokens/s | astc end-to-end "
             "| PyTorch ms/step | PyTorch fastest step | PyTorch tokens/s | ratio astc/PyTorch | basis | astc best "
             "| PyTorch best | peak RSS astc / PyTorch |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
             f"| {m} | {ms(a)} | {fastest(a)} | {tps(a)} | {e2e_cell} | {ms(t)} | {fastest(t)} | {tps(t)} | {ratio} "
             f"| {summary['ratio_basis']} "
             f"| {summary['astc']['best_split']} | {summary['torch']['best_split']} "
             f"| {a['peak_rss_kb'] / 1024 if a else 0:.0f} (step_time, with LLVM) / "
             f"{t['peak_rss_kb'] / 1024 if t else 0:.0f} MiB |",
             "", f"{m}, all splits (CPU ms: CPU time per step, all threads, median over the runs):", "",
             "| side | split | ms/step | fastest step ms | CPU ms/step | tokens/s | peak RSS |",
             "|---|---|---|---|---|---|---|"]
    for side in ("astc", "torch"):
        for name, x in summary[side]["splits"].items():
            fail = f", {x['failed']} failed" if x["failed"] else ""
            lines.append(f"| {side} | {name} | {ms(x)}{fail} | {fastest(x)} | {cpu(x)} | {tps(x)} "
                         f"| {x['peak_rss_kb'] / 1024:.0f} MiB |")

    def g(k, f):
        return f.format(e[k]) if e.get(k) is not None else "n/a"
    lines += ["", f"{m} efficiency at astc's best thread count (GEMM-only ceiling: the step's products alone, "
              "attention's per-head products as batched products, bench/gemm_step.c):", "",
              "| MFLOP per step | astc GFLOP/s | PyTorch GFLOP/s | GEMM MFLOP (batched attention part) "
              "| GEMM-only ceiling ms/step | ceiling tokens/s | astc / ceiling | sgemm 1024^3 GFLOP/s |",
              "|---|---|---|---|---|---|---|---|",
              f"| {g('step_mflop', '{:.0f}')} | {g('gflops', '{:.1f}')} | {g('torch_gflops', '{:.1f}')} "
              f"| {g('gemm_mflop', '{:.0f}')} ({g('gemm_batched_mflop', '{:.0f}')}) "
              f"| {g('gemm_ceiling_ms_per_step', '{:.1f}')} | {g('gemm_ceiling_tokens_per_second', '{:,.0f}')} "
              f"| {g('fraction_of_ceiling', '{:.0%}')} | {g('sgemm_peak_gflops', '{:.0f}')} |",
              "", f"{m} at one thread in CPU time per step (the step's products alone vs each side's step; "
              "PyTorch: its faster one-thread variant):", "",
              "| GEMM-only CPU ms | astc CPU ms | GEMM / astc | PyTorch CPU ms | GEMM / PyTorch |",
              "|---|---|---|---|---|",
              f"| {g('gemm_cpu_ms_per_step_1thread', '{:.1f}')} | {g('astc_cpu_ms_1thread', '{:.1f}')} "
              f"| {g('cpu_fraction_of_ceiling_1thread', '{:.0%}')} | {g('torch_cpu_ms_1thread', '{:.1f}')} "
              f"| {g('torch_cpu_fraction_of_ceiling_1thread', '{:.0%}')} |"]
    return summary, lines, runs


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--astc", default=os.path.join(ROOT, "build/compiler/astc"))
    ap.add_argument("--models", default="mlp,lenet", help="comma-separated: mlp, lenet, wide, mlp_bf16, gpt, gpt_bf16")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--gemm", default="auto",
                    help="astc build --gemm=MODE: auto (each product's fastest backend, measured), openblas or xsmm")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--astc-threads", default="1,2")
    ap.add_argument("--torch-splits", default="1x1,1x2,2x1,2x2,1x2c,2x1c,2x2c",
                    help="OMPxOPENBLAS thread counts for PyTorch, c for channels-last activations "
                         "(convolutional models only)")
    ap.add_argument("--gpt-torch-splits", default="1x1,1x2,2x1p,2x2p,1x1j,2x1pj",
                    help="gpt: OMPxOPENBLAS thread counts for PyTorch, p for OMP_WAIT_POLICY=PASSIVE")
    ap.add_argument("--gpt-torch-variants", default="separate,fused",
                    help="gpt: separate q, k, v products (astc's form) and/or one fused qkv product")
    ap.add_argument("--gpt-steps", type=int, default=40, help="gpt: timed PyTorch steps per run, and "
                    "the end-to-end astc run's steps")
    ap.add_argument("--gpt-repeats", type=int, default=20, help="gpt: timed astc steps per step_time run")
    ap.add_argument("--openblas-coretype", default="auto",
                    help="auto (default): the CPU's kernels for both sides if OpenBLAS falls back "
                         "to generic ones; detected: leave the environment alone; or a core name")
    ap.add_argument("--timeout", type=float, default=600, help="seconds per run")
    ap.add_argument("--out", default=None, help="default: bench/results/throughput-<date>.json")
    ap.add_argument("--require-floor", action="store_true",
                    help="exit 1 unless astc >= 1.0x PyTorch on every model")
    args = ap.parse_args()
    if not os.path.exists(args.astc):
        sys.exit(f"throughput: {args.astc} does not exist; build astc first")
    models = args.models.split(",")
    for m in models:
        if m not in MODELS:
            sys.exit(f"throughput: unknown model {m} (known: {', '.join(MODELS)})")
    astc_splits = [(int(t),) for t in args.astc_threads.split(",")]
    want_gpt = [m for m in models if m in GPT_MODELS]
    models = [m for m in models if m not in GPT_MODELS]  # the classifiers, in samples/s
    torch_splits = [tuple(int(v) for v in s.rstrip("c").split("x")) + (s.endswith("c"),)
                    for s in args.torch_splits.split(",")]

    detected = openblas_core({k: v for k, v in os.environ.items() if k != "OPENBLAS_CORETYPE"})
    coretype = args.openblas_coretype
    if coretype == "auto":
        coretype = os.environ.get("OPENBLAS_CORETYPE") or (
            best_core() if detected in FALLBACK_CORES else None)
    elif coretype == "detected":
        coretype = None
        os.environ.pop("OPENBLAS_CORETYPE", None)
    if coretype:
        os.environ["OPENBLAS_CORETYPE"] = coretype
    core = openblas_core(os.environ)
    core_note = (f"{core} (OPENBLAS_CORETYPE={coretype}; OpenBLAS detects {detected})" if coretype
                 else f"{core} (detected; astc re-executes itself with its own choice)")
    started = datetime.datetime.now()
    load_start = loadavg()
    print(f"throughput: {started:%Y-%m-%d %H:%M}, {os.cpu_count()} CPUs, "
          f"load average at start {load_start[0]} {load_start[1]} {load_start[2]}, "
          f"OpenBLAS core {core_note}", flush=True)

    if args.gemm != "auto":  # bench/step_time's JIT (the GPT) as astc build: every product on that backend
        os.environ["ASTC_GEMM"] = args.gemm
    runs = []
    with tempfile.TemporaryDirectory(prefix="astc-throughput-") as tmp:
        exes = {}
        for m in models + want_gpt:
            exes[m] = os.path.join(tmp, m)
            r = subprocess.run([args.astc, "build", os.path.join(ROOT, MODELS[m][0]), "-o", exes[m],
                                "--gemm=" + args.gemm],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            if r.returncode != 0:
                sys.exit(f"throughput: astc build {MODELS[m][0]} failed:\n{r.stdout}")
        for rnd in range(args.runs):
            for m in models:
                batch = MODELS[m][1]
                # alternate the two sides; rotate the order from round to round
                a = [("astc", s) for s in astc_splits]
                t = [("torch", s) for s in torch_splits if not s[2] or MODELS[m][2]]
                order = []
                while a or t:
                    if a:
                        order.append(a.pop(0))
                    if t:
                        order.append(t.pop(0))
                k = rnd % len(order)
                order = order[k:] + order[:k]
                for side, split in order:
                    if side == "astc":
                        r = run_astc(exes[m], split[0], args.epochs, args.timeout)
                    else:
                        r = run_torch(m, batch, split[0], split[1], split[2], args.epochs, args.timeout)
                    r.update({"model": m, "side": side, "split": list(split), "round": rnd + 1,
                              "load": loadavg()[0]})
                    runs.append(r)
                    sps = r.get("samples_per_second")
                    print(f"  round {rnd + 1} {m:<5} {side:<5} {split_name(side, split):<22} "
                          + (f"{sps:10,.0f} samples/s" if sps else f"  {r['error']}")
                          + f"  rss {r['peak_rss_kb'] / 1024:6.0f} MiB  load {r['load']}", flush=True)

        # efficiency: FLOP rate, the GEMM-only ceiling at astc's best thread count, build time
        gemm = gemm_tool(tmp, args.astc)
        gpts = {m: gpt_bench(args, tmp, exes[m], astc_splits, gemm, m) for m in want_gpt}
        eff = {}
        for m in models:
            src, batch = os.path.join(ROOT, MODELS[m][0]), MODELS[m][1]
            best = [r for r in runs if r["model"] == m and r["side"] == "astc" and r.get("samples_per_second")]
            e = {"step_mflop": step_mflop(args.astc, src), "build_seconds": build_seconds(args.astc, src, tmp, args.gemm)}
            if best:
                by = {}
                for r in best:
                    by.setdefault(r["split"][0], []).append(r["samples_per_second"])
                threads = max(by, key=lambda t: statistics.median(by[t]))
                e["threads"] = threads
                sps = statistics.median(by[threads])
                if e["step_mflop"]:
                    e["gflops"] = e["step_mflop"] * 1e6 * sps / batch / 1e9
                prods = gemm_products(args.astc, src, batch)
                if gemm and prods:
                    t, rate = gemm_time(gemm, threads, ["7"] + [gemm_arg(p) for p in prods])
                    e.update({"gemm_products": prods, "gemm_seconds_per_step": t, "gemm_gflops": rate,
                              "gemm_ceiling_samples_per_second": batch / t,
                              "fraction_of_ceiling": sps / (batch / t)})
                if gemm:
                    e["sgemm_peak_gflops"] = gemm_time(gemm, threads, ["--peak", "1024"])[1]
            eff[m] = e
    load_end = loadavg()
    summary = {}
    for m in models:
        summary[m] = {"batch": MODELS[m][1], "source": MODELS[m][0]}
        for side, splits in (("astc", astc_splits), ("torch", torch_splits)):
            per = {}
            for s in splits:
                rs = [r for r in runs if r["model"] == m and r["side"] == side and tuple(r["split"]) == s]
                if not rs:
                    continue  # channels-last splits of a dense model
                per[split_name(side, s)] = summarize(rs)
            measured = {k: v for k, v in per.items() if v["median"] is not None}
            best = max(measured, key=lambda k: measured[k]["median"]) if measured else None
            summary[m][side] = {"best_split": best, "best": per.get(best), "splits": per}
        a, t = summary[m]["astc"]["best"], summary[m]["torch"]["best"]
        summary[m]["ratio"] = a["median"] / t["median"] if a and t else None
        summary[m]["efficiency"] = eff.get(m, {})

    for m, gpt in gpts.items():
        summary[m] = gpt[0]
        runs += gpt[2]
    lines = [] if not models else ["| model | batch | astc samples/s median (min–max) | PyTorch samples/s median (min–max) "
             "| ratio astc/PyTorch | astc best split | PyTorch best split | peak RSS astc / PyTorch |",
             "|---|---|---|---|---|---|---|---|"]
    for m in models:
        s = summary[m]
        a, t = s["astc"]["best"], s["torch"]["best"]
        ratio = f"{s['ratio']:.2f}x" if s["ratio"] else "n/a"
        lines.append(f"| {m} | {s['batch']} | {fmt(a) if a else 'failed'} | {fmt(t) if t else 'failed'} "
                     f"| {ratio} | {s['astc']['best_split']} | {s['torch']['best_split']} "
                     f"| {a['peak_rss_kb'] / 1024 if a else 0:.0f} / "
                     f"{t['peak_rss_kb'] / 1024 if t else 0:.0f} MiB |")
    lines += [] if not models else ["", "All splits (samples/s median (min–max), peak RSS):", "",
                                    "| model | side | split | samples/s | peak RSS |", "|---|---|---|---|---|"]
    for m in models:
        for side in ("astc", "torch"):
            for name, v in summary[m][side]["splits"].items():
                fail = f", {v['failed']} failed" if v["failed"] else ""
                lines.append(f"| {m} | {side} | {name} | {fmt(v)}{fail} | {v['peak_rss_kb'] / 1024:.0f} MiB |")
    lines += [] if not models else [
        "", "Efficiency of astc's best split (GEMM-only ceiling: the step's matrix products alone at the "
        "same thread count, threaded by OpenBLAS or split like astc's runtime, whichever is faster; "
        "bench/gemm_step.c):", "",
        "| model | MFLOP per step | astc GFLOP/s | GEMM-only ceiling samples/s | astc / ceiling "
        "| sgemm 1024^3 GFLOP/s | astc build s |", "|---|---|---|---|---|---|---|"]
    for m in models:
        e = summary[m]["efficiency"]
        def g(k, f):
            return f.format(e[k]) if e.get(k) is not None else "n/a"
        lines.append(f"| {m} | {g('step_mflop', '{:.1f}')} | {g('gflops', '{:.1f}')} "
                     f"| {g('gemm_ceiling_samples_per_second', '{:,.0f}')} | {g('fraction_of_ceiling', '{:.0%}')} "
                     f"| {g('sgemm_peak_gflops', '{:.0f}')} | {g('build_seconds', '{:.2f}')} |")

    for gpt in gpts.values():
        lines += gpt[1]

    def cores_used(side):
        return ", ".join(sorted({str(r.get("openblas_core")) for r in runs if r["side"] == side}))

    floor_ok = all(summary[m]["ratio"] is not None and summary[m]["ratio"] >= 1.0
                   for m in models + list(gpts))
    lines += ["", f"Load average (1, 5, 15 min): start {load_start}, end {load_end} "
              f"on {os.cpu_count()} CPUs. OpenBLAS core: {core_note}; "
              f"cores the runs used: astc {cores_used('astc')}, PyTorch {cores_used('torch')}.",
              f"Floor astc >= 1.0x PyTorch on every model: {'met' if floor_ok else 'NOT met'}"
              + "".join(f" ({m}: {summary[m]['ratio_basis']})" for m in gpts) + "."]
    table = "\n".join(lines)
    print("\n" + table)

    try:
        import torch
        torch_version = torch.__version__
    except ImportError:
        torch_version = None
    git = subprocess.run(["git", "-C", ROOT, "describe", "--always", "--dirty"],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True).stdout.strip()
    out = args.out
    if out is None:
        os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
        out = os.path.join(HERE, "results", f"throughput-{started:%Y-%m-%d}.json")
        if os.path.exists(out):
            out = os.path.join(HERE, "results", f"throughput-{started:%Y-%m-%d-%H%M%S}.json")
    with open(out, "w") as f:
        json.dump({"date": started.isoformat(timespec="seconds"), "host": platform.node(),
                   "cpus": os.cpu_count(), "cpu": platform.processor() or platform.machine(),
                   "load_start": load_start, "load_end": load_end, "astc": os.path.abspath(args.astc),
                   "git": git, "torch": torch_version, "openblas_core": core,
                   "openblas_detected": detected, "openblas_coretype": coretype, "epochs": args.epochs, "runs_per_split": args.runs,
                   "summary": summary, "runs": runs, "table": table}, f, indent=1)
    print(f"\nwrote {os.path.relpath(out)}")
    return 0 if floor_ok or not args.require_floor else 1


if __name__ == "__main__":
    sys.exit(main())
