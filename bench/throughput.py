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
PyTorch's fp32 MLP; not in the default set). --gemm MODE is passed to astc
build (auto: each product on its fastest GEMM backend, measured).
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

MODELS = {
    "mlp": ("examples/fashion_mlp.train", 64),
    "lenet": ("examples/fashion_lenet.train", 64),
    "wide": ("bench/models/wide_mlp.train", 256),
    "mlp_bf16": ("bench/models/fashion_mlp_bf16.train", 64),
}
# astc models whose PyTorch peer is another model (mlp_bf16: precision bf16
# against PyTorch's fp32 MLP)
TORCH_PEER = {"mlp_bf16": "mlp"}


def loadavg():
    return [round(x, 2) for x in os.getloadavg()]


def spawn(cmd, env=None, timeout=None):
    """Runs cmd; returns (exit status, stdout, stderr, peak RSS in KiB, wall s)."""
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


def run_torch(model, batch, omp, blas, epochs, timeout):
    env = dict(os.environ, OMP_NUM_THREADS=str(omp), OPENBLAS_NUM_THREADS=str(blas))
    rc, out, err, rss, wall = spawn([PY, os.path.join(HERE, "torch_peer.py"), "throughput",
                                     "--model", TORCH_PEER.get(model, model), "--batch", str(batch),
                                     "--epochs", str(epochs), "--threads", str(omp)],
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
    """the step's matrix products as (ta, tb, M, N, K[, "bf16"]), from `astc show` (phase 0); None when the
    step has convolutions (astc runs them as direct kernels, not GEMMs: no GEMM-only ceiling)"""
    out = subprocess.run([astc, "show", "--graph", "step", "--phase", "0", "--no-locations", "--batch", str(batch),
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
        out_shape, sa = shapes[node], shapes[a]
        if len(out_shape) != 2 or len(sa) != 2:
            continue
        k = sa[0] if ta else sa[1]
        prods.append((ta, tb, out_shape[0], out_shape[1], k) + (("bf16",) if types.get(a) == "bf16" else ()))
    return prods


def step_mflop(astc, source):
    """forward + backward + update MFLOP of a step of phase 0 (astc cost)"""
    out = subprocess.run([astc, "cost", source], check=True, capture_output=True, text=True).stdout
    for line in out.splitlines():
        f = line.split()
        # phase, progress "[a, b)", steps, batch, trainable, fwd, bwd, upd MFLOP, ...
        if f and f[0] == "0" and len(f) >= 9 and f[1].startswith("["):
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
    return f"--threads {split[0]}" if side == "astc" else f"omp {split[0]} / openblas {split[1]}"


def summarize(runs):
    ok = [r["samples_per_second"] for r in runs if "samples_per_second" in r]
    return {"median": statistics.median(ok) if ok else None, "min": min(ok) if ok else None,
            "max": max(ok) if ok else None, "n": len(ok), "failed": len(runs) - len(ok),
            "peak_rss_kb": max(r["peak_rss_kb"] for r in runs)}


def fmt(s):
    if s["median"] is None:
        return "failed"
    return f"{s['median']:,.0f} ({s['min']:,.0f}–{s['max']:,.0f})"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--astc", default=os.path.join(ROOT, "build/compiler/astc"))
    ap.add_argument("--models", default="mlp,lenet", help="comma-separated: mlp, lenet, wide")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--astc-threads", default="1,2")
    ap.add_argument("--torch-splits", default="1x1,1x2,2x1,2x2",
                    help="OMPxOPENBLAS thread counts for PyTorch")
    ap.add_argument("--openblas-coretype", default="auto",
                    help="auto (default): the CPU's kernels for both sides if OpenBLAS falls back "
                         "to generic ones; detected: leave the environment alone; or a core name")
    ap.add_argument("--timeout", type=float, default=600, help="seconds per run")
    ap.add_argument("--out", default=None, help="default: bench/results/throughput-<date>.json")
    ap.add_argument("--gemm", default="auto",
                    help="astc build --gemm=MODE: auto (each product's fastest backend, measured), openblas or xsmm")
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
    torch_splits = [tuple(int(v) for v in s.split("x")) for s in args.torch_splits.split(",")]

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

    runs = []
    with tempfile.TemporaryDirectory(prefix="astc-throughput-") as tmp:
        exes = {}
        for m in models:
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
                t = [("torch", s) for s in torch_splits]
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
                        r = run_torch(m, batch, split[0], split[1], args.epochs, args.timeout)
                    r.update({"model": m, "side": side, "split": list(split), "round": rnd + 1,
                              "load": loadavg()[0]})
                    runs.append(r)
                    sps = r.get("samples_per_second")
                    print(f"  round {rnd + 1} {m:<5} {side:<5} {split_name(side, split):<22} "
                          + (f"{sps:10,.0f} samples/s" if sps else f"  {r['error']}")
                          + f"  rss {r['peak_rss_kb'] / 1024:6.0f} MiB  load {r['load']}", flush=True)

        # efficiency: FLOP rate, the GEMM-only ceiling at astc's best thread count, build time
        gemm = gemm_tool(tmp, args.astc)
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
                    t, rate = gemm_time(gemm, threads, ["7"] + [",".join(map(str, p)) for p in prods])
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
                per[split_name(side, s)] = summarize(rs)
            measured = {k: v for k, v in per.items() if v["median"] is not None}
            best = max(measured, key=lambda k: measured[k]["median"]) if measured else None
            summary[m][side] = {"best_split": best, "best": per.get(best), "splits": per}
        a, t = summary[m]["astc"]["best"], summary[m]["torch"]["best"]
        summary[m]["ratio"] = a["median"] / t["median"] if a and t else None
        summary[m]["efficiency"] = eff.get(m, {})

    lines = ["| model | batch | astc samples/s median (min–max) | PyTorch samples/s median (min–max) "
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
    lines += ["", "All splits (samples/s median (min–max), peak RSS):", "",
              "| model | side | split | samples/s | peak RSS |", "|---|---|---|---|---|"]
    for m in models:
        for side in ("astc", "torch"):
            for name, v in summary[m][side]["splits"].items():
                fail = f", {v['failed']} failed" if v["failed"] else ""
                lines.append(f"| {m} | {side} | {name} | {fmt(v)}{fail} | {v['peak_rss_kb'] / 1024:.0f} MiB |")
    lines += ["", "Efficiency of astc's best split (GEMM-only ceiling: the step's matrix products alone at the "
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

    def cores_used(side):
        return ", ".join(sorted({str(r.get("openblas_core")) for r in runs if r["side"] == side}))

    floor_ok = all(summary[m]["ratio"] is not None and summary[m]["ratio"] >= 1.0 for m in models)
    lines += ["", f"Load average (1, 5, 15 min): start {load_start}, end {load_end} "
              f"on {os.cpu_count()} CPUs. OpenBLAS core: {core_note}; "
              f"cores the runs used: astc {cores_used('astc')}, PyTorch {cores_used('torch')}.",
              f"Floor astc >= 1.0x PyTorch on every model: {'met' if floor_ok else 'NOT met'}."]
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
                   "gemm": args.gemm,
                   "summary": summary, "runs": runs, "table": table}, f, indent=1)
    print(f"\nwrote {os.path.relpath(out)}")
    return 0 if floor_ok or not args.require_floor else 1


if __name__ == "__main__":
    sys.exit(main())
