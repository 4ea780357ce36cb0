#!/usr/bin/python3
"""lm_quality.py — language-model quality: examples/charlm.train trained by
astc and by its PyTorch twin (bench/torch_gpt.py) on the same data, from the
same initial weights; validation loss against steps and training time.

  /usr/bin/python3 bench/lm_quality.py [--astc build/compiler/astc]
      [--steps 2000] [--check] [--out bench/results/lm-quality-DATE.json]
      [--svg docs/charlm-quality.svg] [--keep DIR] [--noise] [--exact]
      [--from RESULTS.json]

It
  1. compiles examples/charlm.train (`astc build`) and writes its initial
     weights with `PROG --steps 1 --save init.safetensors` (the schedule's
     first step has lr 0: the file is the initialisation, bit for bit);
  2. trains it: `PROG --threads 1 --metrics astc.jsonl [--steps N]`, reading
     the metrics as they are written, and the process's CPU time
     (/proc/PID/stat) at each evaluation;
  3. then, not at the same time, trains the twin:
     `torch_gpt.py quality --init init.safetensors --threads 1` with
     OMP_NUM_THREADS=OPENBLAS_NUM_THREADS=1 (one core each side). It
     reproduces astc's data exactly — the corpus, the held-out split, every
     training window, the epochs' partial batches, the validation windows
     (the first 512 of the held-out split every 100 steps and at the epoch
     end, all of them at the last step) — and the schedule (see
     torch_gpt.py's docstring);
  4. prints a table (step, validation loss of each, training time of each:
     wall time of the steps, evaluations excluded, and process CPU time,
     evaluations included), writes the JSON file and, if gnuplot is
     installed, the curve of validation loss against training time (SVG).

--noise trains the twin once more with each batch's rows permuted (the same
training, other float32 rounding) and adds its curve to the table: how far
two correct float32 runs drift apart. --exact saves astc's trained weights
(--save) and has the twin measure both trained models in float64 on every
validation window, so that the comparison of the two models is free of the
rounding of either side's float32 measurement. --from RESULTS.json takes the
two runs from an earlier results file instead of training them (to add
--noise to them, or redraw the plot).

--check is a quick test of the reproduction (about a minute): 3 steps on
each side (lr 0, then the cosine at t = 1/3 and 2/3, every window the same),
then the last evaluation on every validation window; the mean training loss
and the validation loss must agree within 1e-4 relative (float32 rounding
alone separates them). It writes no files unless --out or --svg are given.

Time is the training steps' wall time (astc's train_seconds; the twin's,
measured the same way: batch gathering, forward, backward, update).
CPU is the process's user + system time since it started (astc) or since
its training started (PyTorch, whose import is not counted), evaluations
included, at the moment the evaluation was logged.
"""
import argparse
import datetime
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
EXAMPLE = os.path.join(ROOT, "examples", "charlm.train")
TICKS = os.sysconf("SC_CLK_TCK")


def log(msg):
    sys.stderr.write(f"lm_quality: {msg}\n")
    sys.stderr.flush()


def run(cmd, **kw):
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)
    if r.returncode != 0:
        sys.exit(f"lm_quality: command failed ({r.returncode}): {' '.join(cmd)}\n{r.stdout}{r.stderr}")
    return r


def proc_cpu(pid):
    """user + system CPU seconds of a running process (all its threads)"""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime (fields 14, 15)
    except (OSError, IndexError, ValueError):
        return None


def watch(cmd, metrics, env=None, cpu_from_proc=True):
    """runs cmd, following its JSON-lines metrics file; returns (events, wall
    seconds, CPU seconds of the whole run (rusage))"""
    if os.path.exists(metrics):
        os.remove(metrics)
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    events, buf, done, rusage = [], b"", False, None
    fh = None
    while True:
        if not done:
            pid, status, ru = os.wait4(p.pid, os.WNOHANG)
            if pid:
                done, rusage = True, ru
                p.returncode = os.waitstatus_to_exitcode(status)
        if fh is None and os.path.exists(metrics):
            fh = open(metrics, "rb")
        cpu = proc_cpu(p.pid) if cpu_from_proc and not done else None
        if fh:
            buf += fh.read()
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                e = json.loads(line)
                if cpu is not None and "cpu_seconds" not in e:
                    e["cpu_seconds"] = cpu
                events.append(e)
                if e.get("event") == "eval":
                    log(f"  step {e['step']:>5}  val loss {e['test_loss']:.4f}  "
                        f"({e['train_seconds']:.0f} s training)")
        if done:
            break
        time.sleep(0.02)
    wall = time.perf_counter() - t0
    out, err = p.communicate()
    if fh:
        fh.close()
    if p.returncode != 0:
        sys.exit(f"lm_quality: command failed ({p.returncode}): {' '.join(cmd)}\n"
                 f"{out.decode(errors='replace')}{err.decode(errors='replace')}")
    return events, wall, rusage.ru_utime + rusage.ru_stime, err.decode(errors="replace")


def evals(events):
    return [e for e in events if e.get("event") == "eval"]


def end(events):
    ends = [e for e in events if e.get("event") == "end"]
    return ends[-1] if ends else {}


def table(rows):
    noise = all("torch_perm_val" in r for r in rows)
    head = (f"{'step':>5} {'astc val':>9} {'torch val':>9} {'astc-torch':>10}"
            + (f" {'torch2-torch':>12}" if noise else "")
            + f"   {'astc wall':>9} {'astc CPU':>9}   {'torch wall':>10} {'torch CPU':>9}")
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(f"{r['step']:>5} {r['astc_val']:9.4f} {r['torch_val']:9.4f} "
                     f"{r['astc_val'] - r['torch_val']:+10.1e}"
                     + (f" {r['torch_perm_val'] - r['torch_val']:+12.1e}" if noise else "")
                     + f"   {r['astc_wall']:8.1f}s {r['astc_cpu']:8.1f}s"
                     f"   {r['torch_wall']:9.1f}s {r['torch_cpu']:8.1f}s")
    return "\n".join(lines)


def plot(svg, a, t, title, epoch, windows):
    """val loss against training time (s), both curves, with gnuplot"""
    gp = shutil.which("gnuplot")
    if not gp:
        log("gnuplot is not installed: no plot")
        return False
    with tempfile.TemporaryDirectory() as d:
        fa, ft = os.path.join(d, "astc.dat"), os.path.join(d, "torch.dat")
        for f, ev in ((fa, a), (ft, t)):
            with open(f, "w") as fh:
                for e in ev:
                    fh.write(f"{e['train_seconds']:.3f} {e['test_loss']:.6f} {e['step']}\n")
        script = f"""set terminal svg size 800,500 dynamic enhanced font 'sans,12' background rgb 'white'
set output '{svg}'
set title "{title}"
set xlabel 'training time (s, wall, one core; evaluations excluded)'
set ylabel 'validation loss (nats per byte; / ln 2 = bits per byte)'
set grid
set key top right
set label 1 "points every 100 steps and at the epoch end (step {epoch}): the first 512 validation windows;\\nthe last point: all {windows} of them (a higher loss than on the first 512)" at graph 0.15, graph 0.72 font ',10'
plot '{fa}' using 1:2 with linespoints lw 2 pt 7 ps 0.6 lc rgb '#1f77b4' title 'astc', \\
     '{ft}' using 1:2 with linespoints lw 2 pt 5 ps 0.6 lc rgb '#d62728' title 'PyTorch twin'
"""
        r = subprocess.run([gp], input=script, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if r.returncode != 0:
            log(f"gnuplot failed: {r.stderr.strip()}")
            return False
    return True


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--astc", default=os.path.join(ROOT, "build", "compiler", "astc"))
    ap.add_argument("--program", default=EXAMPLE,
                    help="astc's side (default examples/charlm.train): a variant of it, such as one with "
                         "`precision bf16` in its speedup block; the twin trains examples/charlm.train's model in float32")
    ap.add_argument("--steps", type=int, default=0, help="default: the program's (2000); --check: 3")
    ap.add_argument("--check", action="store_true", help="a 3-step test of the reproduction")
    ap.add_argument("--out", default=None, help="the JSON file (default bench/results/lm-quality-DATE.json)")
    ap.add_argument("--svg", default=None, help="the plot (default docs/charlm-quality.svg)")
    ap.add_argument("--keep", default=None, help="work in this directory and keep it")
    ap.add_argument("--tol", type=float, default=1e-4, help="--check's relative tolerance")
    ap.add_argument("--noise", action="store_true",
                    help="train the twin a second time with each batch's rows in another order (the same "
                         "training, other float32 rounding): how far two correct runs drift apart")
    ap.add_argument("--exact", action="store_true",
                    help="save astc's trained weights and measure both trained models in float64 on every "
                         "validation window with the twin's code (no float32 rounding in the measurement)")
    ap.add_argument("--from", dest="from_", default=None, metavar="RESULTS_JSON",
                    help="take astc's and the twin's runs from an earlier results file (with --noise: add "
                         "the noise run to them)")
    args = ap.parse_args()
    steps = args.steps or (3 if args.check else 0)
    if not os.path.exists(args.astc):
        sys.exit(f"lm_quality: {args.astc} does not exist; build astc first")
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d-%H%M%S")
    out = args.out or (None if args.check else os.path.join(HERE, "results", f"lm-quality-{stamp}.json"))
    svg = args.svg or (None if args.check else os.path.join(ROOT, "docs", "charlm-quality.svg"))

    tmp = tempfile.TemporaryDirectory(prefix="astc-lmq-")
    d = args.keep or tmp.name
    os.makedirs(d, exist_ok=True)
    prog, init = os.path.join(d, "charlm"), os.path.join(d, "init.safetensors")
    t0 = time.perf_counter()
    run([args.astc, "build", args.program, "-o", prog])
    build_s = time.perf_counter() - t0
    run([prog, "--steps", "1", "--save", init, "--threads", "1", "--quiet", "--eval-samples", "1"])
    log(f"built {os.path.relpath(prog)} in {build_s:.2f} s; initial weights {init}")
    budget = ["--steps", str(steps)] if steps else []

    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")

    def twin(metrics, extra=()):
        cmd = [sys.executable, os.path.join(HERE, "torch_gpt.py"), "quality", "--init", init, "--metrics",
               metrics, "--steps", str(steps), "--threads", "1", *extra]
        log(f"PyTorch: torch_gpt.py quality --steps {steps} --threads 1 {' '.join(extra)} "
            "(OMP/OpenBLAS 1 thread)")
        return watch(cmd, metrics, env=env, cpu_from_proc=False)

    prev = None
    if args.from_:
        with open(args.from_) as f:
            prev = json.load(f)
        steps, rows = prev["steps"], prev["rows"]
        ae, te = prev["astc_end"], prev["torch_end"]
        a_wall, a_cpu = prev["astc_run_wall_seconds"], prev["astc_run_cpu_seconds"]
        t_wall, t_cpu, a_err = prev["torch_run_wall_seconds"], prev["torch_run_cpu_seconds"], ""
        budget = ["--steps", str(steps)] if args.steps else []
        a_evals = [{"step": r["step"], "test_loss": r["astc_val"], "train_seconds": r["astc_wall"]} for r in rows]
        t_evals = [{"step": r["step"], "test_loss": r["torch_val"], "train_seconds": r["torch_wall"]} for r in rows]
    else:
        am = os.path.join(d, "astc.jsonl")
        log(f"astc: {os.path.basename(prog)} --threads 1 --metrics {am} {' '.join(budget)}")
        save = ["--save", os.path.join(d, "astc-final.safetensors")] if args.exact else []
        a_events, a_wall, a_cpu, a_err = watch([prog, "--threads", "1", "--metrics", am] + budget + save, am)
        a_evals = evals(a_events)
        steps = steps or (a_evals[-1]["step"] if a_evals else 2000)
        compare = ["--compare-with", os.path.join(d, "astc-final.safetensors")] if args.exact else []
        t_events, t_wall, t_cpu, _ = twin(os.path.join(d, "torch.jsonl"), compare)
        t_evals = evals(t_events)
        a_steps, t_steps = [e["step"] for e in a_evals], [e["step"] for e in t_evals]
        if a_steps != t_steps:
            sys.exit(f"lm_quality: the two sides evaluated at different steps: astc {a_steps}, "
                     f"PyTorch {t_steps}")
        rows = []
        for a, t in zip(a_evals, t_evals):
            rows.append({"step": a["step"], "windows": t["windows"], "astc_val": a["test_loss"],
                         "torch_val": t["test_loss"], "astc_train_loss": a["train_loss"],
                         "torch_train_loss": t["train_loss"], "astc_wall": a["train_seconds"],
                         "astc_cpu": a.get("cpu_seconds", float("nan")), "torch_wall": t["train_seconds"],
                         "torch_cpu": t["cpu_seconds"], "torch_train_cpu": t["train_cpu_seconds"]})
        ae, te = end(a_events), end(t_events)
    exact = None
    if args.exact and not args.from_:
        ex = [e for e in t_events if e.get("event") == "exact"]
        exact = {"astc_f64": ex[-1]["other_test_loss_f64"], "torch_f64": ex[-1]["test_loss_f64"],
                 "windows": ex[-1]["windows"]} if ex else None
    noise = None
    if args.noise:
        n_events, n_wall, n_cpu, _ = twin(os.path.join(d, "torch-permuted.jsonl"), ["--permute-rows"])
        n_evals = evals(n_events)
        if [e["step"] for e in n_evals] != [r["step"] for r in rows]:
            sys.exit("lm_quality: the noise run evaluated at other steps")
        for r, e in zip(rows, n_evals):
            r["torch_perm_val"] = e["test_loss"]
        noise = {"max_abs_astc_torch": max(abs(r["astc_val"] - r["torch_val"]) for r in rows),
                 "max_abs_torch2_torch": max(abs(r["torch_perm_val"] - r["torch_val"]) for r in rows),
                 "final_torch2": rows[-1]["torch_perm_val"], "run_wall_seconds": n_wall,
                 "run_cpu_seconds": n_cpu, "end": end(n_events)}
    print(table(rows))
    fa, ft = rows[-1]["astc_val"], rows[-1]["torch_val"]
    le = sum(r["astc_val"] <= r["torch_val"] for r in rows)
    print(f"\nfinal validation loss ({rows[-1]['windows']} windows): astc {fa:.6f} nats/byte "
          f"({fa / math.log(2):.6f} bits/byte), PyTorch {ft:.6f} ({ft / math.log(2):.6f} bits/byte); "
          f"astc <= PyTorch at {le} of {len(rows)} evaluations; largest |astc - PyTorch| "
          f"{max(abs(r['astc_val'] - r['torch_val']) for r in rows):.1e}")
    if exact:
        print(f"exact (float64, {exact['windows']} windows, the twin's code): astc's trained model "
              f"{exact['astc_f64']:.7f}, PyTorch's {exact['torch_f64']:.7f} nats/byte; astc - PyTorch "
              f"{exact['astc_f64'] - exact['torch_f64']:+.1e}")
    if noise:
        print(f"noise: PyTorch with each batch's rows permuted (torch2) ends at {noise['final_torch2']:.6f}; "
              f"largest |torch2 - PyTorch| {noise['max_abs_torch2_torch']:.1e}, largest |astc - PyTorch| "
              f"{noise['max_abs_astc_torch']:.1e}")
    if a_wall is not None:
        print(f"astc:    training {ae.get('train_seconds', float('nan')):.1f} s wall, evaluation "
              f"{ae.get('eval_seconds', float('nan')):.1f} s; the run {a_wall:.1f} s wall, {a_cpu:.1f} s CPU")
    print(f"PyTorch: training {te['train_seconds']:.1f} s wall ({te['train_cpu_seconds']:.1f} s CPU), "
          f"evaluation {te['eval_seconds']:.1f} s; the run {t_wall:.1f} s wall, {t_cpu:.1f} s CPU "
          f"(with Python and torch's import)")

    ok = True
    if args.check:
        r = rows[-1]
        dl = abs(r["astc_val"] - r["torch_val"]) / abs(r["torch_val"])
        dt = abs(r["astc_train_loss"] - r["torch_train_loss"]) / abs(r["torch_train_loss"])
        ok = dl <= args.tol and dt <= args.tol
        print(f"check: {steps} steps; mean training loss astc {r['astc_train_loss']:.7f}, PyTorch "
              f"{r['torch_train_loss']:.7f} (rel {dt:.2e}); validation loss on {r['windows']} windows astc "
              f"{r['astc_val']:.7f}, PyTorch {r['torch_val']:.7f} (rel {dl:.2e}); tolerance {args.tol:g}: "
              f"{'PASS' if ok else 'FAIL'}")

    if out:
        os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
        header = prev["astc_header"] if prev else [line for line in a_err.splitlines() if line.strip()][:3]
        result = dict(prev or {})
        result.update({"program": os.path.relpath(args.program, ROOT), "steps": steps, "date": stamp,
                  "astc_command": f"{os.path.basename(prog)} --threads 1 --metrics FILE {' '.join(budget)}".strip(),
                  "torch_command": "torch_gpt.py quality --init init.safetensors --threads 1 "
                                   f"--steps {steps} (OMP_NUM_THREADS=OPENBLAS_NUM_THREADS=1)",
                  "astc_header": header, "astc_build_seconds": prev["astc_build_seconds"] if prev else build_s,
                  "rows": rows, "astc_end": ae, "torch_end": te,
                  "astc_run_wall_seconds": a_wall, "astc_run_cpu_seconds": a_cpu,
                  "torch_run_wall_seconds": t_wall, "torch_run_cpu_seconds": t_cpu,
                  "final": {"astc_nats": fa, "torch_nats": ft, "astc_bits_per_byte": fa / math.log(2),
                            "torch_bits_per_byte": ft / math.log(2), "astc_le_torch_evals": le,
                            "evals": len(rows)},
                  "load": prev["load"] if prev else os.getloadavg()})
        if exact:
            result["exact"] = exact
        if noise:
            result["noise"] = dict(noise, load=os.getloadavg(),
                                   command="torch_gpt.py quality --permute-rows (the twin, each batch's rows "
                                           "in another order)")
        with open(out, "w") as f:
            json.dump(result, f, indent=1)
        log(f"wrote {os.path.relpath(out)}")
    if svg:
        title = (f"{os.path.relpath(args.program, ROOT)}, {steps} steps: final validation loss astc {fa:.3f}, "
                 f"PyTorch {ft:.3f} nats/byte")
        epochs = [str(r["step"]) for r in rows[:-1] if r["step"] % 100]
        if plot(svg, a_evals, t_evals, title, ", ".join(epochs) or "-", rows[-1]["windows"]):
            log(f"wrote {os.path.relpath(svg)}")
    tmp.cleanup()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
