#!/usr/bin/python3
"""parity.py — numerical parity of astc's compiled training step with PyTorch.

For each example (mlp: examples/fashion_mlp.train, lenet:
examples/fashion_lenet.train) this

  1. compiles the program with `astc build --emit=obj --no-main` and links it
     with bench/parity/harness.c and libastrt;
  2. builds the same model in PyTorch (bench/torch_peer.py), seeded, and
     writes its initial weights in astc's layout (DIR/<param>.npy);
  3. writes STEPS batches of real Fashion-MNIST (the first STEPS*64 examples
     of a fixed shuffled order, pixels / 255 as float32) as DIR/x_k.npy and
     DIR/y_k.npy;
  4. runs STEPS steps in the harness and in PyTorch with the example's own
     optimizer (torch.optim.SGD with its lr, momentum, nesterov and
     weight_decay, at a constant learning rate), and a float64 PyTorch run as
     a reference for the float32 rounding noise;
  5. compares the per-step losses and every parameter after the last step.

Errors (b is PyTorch float32, a is astc):
  norm-rel  ||a - b||_2 / ||b||_2 over the tensor     <- the criterion
  elem-rel  max_i |a_i - b_i| / max(|b_i|, 1e-3)      <- the criterion
  loss rel  |a - b| / |b| per step                    <- the criterion
The check passes when every norm-rel, elem-rel and loss rel is <= --tol
(1e-4). The column "moved" is the norm-rel of PyTorch's final tensor against
its initial one: how far training moved it (the errors should be far smaller).
The f64 columns give the same norm-rel of astc and of PyTorch float32 against
the float64 run: when both are of the same size, a difference is rounding
(summation order), not a wrong operation.

Exit status: 0 pass, 1 parity failure, 2 a tool or set-up failure, 77 skipped
(Fashion-MNIST is not installed: apt-get install dataset-fashion-mnist, or
set ASTC_DATA_PATH).

  /usr/bin/python3 bench/parity/parity.py [--astc BUILD/compiler/astc]
      [--runtime BUILD/runtime/libastrt.a] [--models mlp,lenet] [--steps 20]
"""
import argparse
import copy
import os
import re
import shlex
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.dirname(HERE))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import torch_peer  # noqa: E402

EXAMPLES = {"mlp": "examples/fashion_mlp.train", "lenet": "examples/fashion_lenet.train"}
LINK = "-L/usr/lib/x86_64-linux-gnu/openblas-pthread/ -lopenblas -lz -lmvec -lm -lpthread"


def run(cmd, **kw):
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)
    if r.returncode != 0:
        sys.stderr.write(f"parity: command failed ({r.returncode}): {shlex.join(cmd)}\n"
                         f"{r.stdout}{r.stderr}")
        sys.exit(2)
    return r.stdout


def astc_program(astc, train):
    """The parameters [(name, dims)] and the optimizer settings of a program,
    from `astc show`."""
    text = run([astc, "show", train, "--graph=all", "--no-locations"])
    params, opt = [], None
    for line in text.splitlines():
        m = re.match(r"param (\S+) : f32\[([0-9,]*)\]", line)
        if m:
            params.append((m.group(1), tuple(int(d) for d in m.group(2).split(",") if d)))
        m = re.match(r"optimizer (\w+)\((.*)\)", line)
        if m:
            opt = {"kind": m.group(1)}
            for kv in m.group(2).split(","):
                k, v = (s.strip() for s in kv.split(":"))
                opt[k] = v == "true" if v in ("true", "false") else float(v)
    if not params or not opt:
        sys.exit(f"parity: cannot read the parameters or the optimizer from `astc show {train}`")
    if opt["kind"] != "sgd":
        sys.exit(f"parity: {train}: optimizer {opt['kind']}; this check mirrors sgd only")
    return params, opt


def build_harness(args, train, d):
    obj = os.path.join(d, "model.o")
    exe = os.path.join(d, "harness")
    run([args.astc, "build", train, "--emit=obj", "--no-main", "-o", obj])
    run(shlex.split(args.cc) + ["-O2", "-std=c17", "-I", os.path.join(ROOT, "runtime", "include", "astrt"),
                                os.path.join(HERE, "harness.c"), obj, args.runtime, "-o", exe]
        + shlex.split(args.ldflags))
    return exe


def batches(n_batches, batch, shape, seed):
    x, y = torch_peer.load_fashion("train")
    order = np.random.default_rng(seed).permutation(len(x))[:n_batches * batch]
    xs = x[order].reshape((n_batches, batch) + shape).astype(np.float32)
    ys = y[order].reshape(n_batches, batch).astype(np.int32)
    return list(xs), list(ys)


def torch_train(model, opt_cfg, lr, xs, ys, dtype):
    model = model.to(dtype)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=opt_cfg.get("momentum", 0.0),
                          nesterov=opt_cfg.get("nesterov", False),
                          weight_decay=opt_cfg.get("weight_decay", 0.0))
    losses = []
    model.train()
    for x, y in zip(xs, ys):
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(torch.from_numpy(x).to(dtype)), torch.from_numpy(y).long())
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return np.array(losses)


def astc_layout(model):
    return {name: (p.detach().T if t else p.detach()).double().numpy()
            for name, p, t in torch_peer.astc_params(model)}


def norm_rel(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    nb = np.linalg.norm(b)
    return np.linalg.norm(a - b) / (nb if nb > 0 else 1.0)


def elem_rel(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-3)))


def check_model(args, name, d):
    train = os.path.join(ROOT, EXAMPLES[name])
    params, opt_cfg = astc_program(args.astc, train)
    lr = args.lr if args.lr is not None else opt_cfg["lr"]
    exe = build_harness(args, train, d)

    torch.manual_seed(args.seed)
    model = torch_peer.make_model(name)
    layout = torch_peer.astc_params(model)
    if [n for n, _ in params] != [n for n, _, _ in layout]:
        sys.exit(f"parity: {name}: astc's parameters {[n for n, _ in params]} do not match "
                 f"torch_peer's {[n for n, _, _ in layout]}")
    init = astc_layout(model)
    for pname, dims in params:
        if init[pname].shape != dims:
            sys.exit(f"parity: {name}: {pname} is {dims} in astc, {init[pname].shape} in torch")
        np.save(os.path.join(d, pname + ".npy"), np.ascontiguousarray(init[pname], np.float32))

    shape = (784,) if name == "mlp" else (1, 28, 28)
    xs, ys = batches(args.steps, args.batch, shape, args.seed)
    if args.last_rows:  # a partial last batch, like the end of an epoch
        xs[-1], ys[-1] = xs[-1][:args.last_rows], ys[-1][:args.last_rows]
    for k in range(args.steps):
        np.save(os.path.join(d, f"x_{k}.npy"), xs[k])
        np.save(os.path.join(d, f"y_{k}.npy"), ys[k])

    run([exe, d, str(args.steps), repr(lr)], env=dict(os.environ, HARNESS_THREADS="1"))
    a_loss = np.load(os.path.join(d, "astc_loss.npy")).astype(np.float64)
    a_par = {p: np.load(os.path.join(d, f"astc_{p}.npy")) for p, _ in params}

    model64 = copy.deepcopy(model)
    t_loss = torch_train(model, opt_cfg, lr, xs, ys, torch.float32)
    r_loss = torch_train(model64, opt_cfg, lr, xs, ys, torch.float64)
    t_par, r_par = astc_layout(model), astc_layout(model64)

    ok = True
    print(f"\n== {name} ({EXAMPLES[name]}): {args.steps} steps, batch {args.batch}, "
          f"sgd lr {lr:g} (constant), momentum {opt_cfg.get('momentum', 0):g}, "
          f"nesterov {opt_cfg.get('nesterov', False)}, weight_decay {opt_cfg.get('weight_decay', 0):g}")
    print(f"{'tensor':<12} {'shape':<14} {'max|a-b|':>10} {'elem-rel':>10} {'norm-rel':>10} "
          f"{'astc~f64':>10} {'torch~f64':>10} {'moved':>10}  ok")
    for pname, dims in params:
        a, b, r = a_par[pname], t_par[pname], r_par[pname]
        nr, er = norm_rel(a, b), elem_rel(a, b)
        good = nr <= args.tol and er <= args.tol
        ok &= good
        print(f"{pname:<12} {str(list(dims)):<14} {np.max(np.abs(a - b)):10.3e} {er:10.3e} "
              f"{nr:10.3e} {norm_rel(a, r):10.3e} {norm_rel(b, r):10.3e} "
              f"{norm_rel(b, init[pname]):10.3e}  {'ok' if good else 'FAIL'}")
    print(f"\n{'step':>4} {'astc loss':>12} {'torch loss':>12} {'f64 loss':>12} {'rel diff':>10} "
          f"{'astc~f64':>10} {'torch~f64':>10}  ok")
    for k in range(args.steps):
        rel = abs(a_loss[k] - t_loss[k]) / abs(t_loss[k])
        good = rel <= args.tol
        ok &= good
        print(f"{k + 1:>4} {a_loss[k]:12.7f} {t_loss[k]:12.7f} {r_loss[k]:12.7f} {rel:10.3e} "
              f"{abs(a_loss[k] - r_loss[k]) / abs(r_loss[k]):10.3e} "
              f"{abs(t_loss[k] - r_loss[k]) / abs(r_loss[k]):10.3e}  {'ok' if good else 'FAIL'}")
    worst_n = max(norm_rel(a_par[p], t_par[p]) for p, _ in params)
    worst_e = max(elem_rel(a_par[p], t_par[p]) for p, _ in params)
    worst_l = max(abs(a_loss - t_loss) / np.abs(t_loss))
    print(f"{name}: {'PASS' if ok else 'FAIL'}: worst parameter norm-rel {worst_n:.3e}, "
          f"elem-rel {worst_e:.3e}, worst loss rel {worst_l:.3e} (tolerance {args.tol:g})")
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--astc", default=os.path.join(ROOT, "build-par/compiler/astc"))
    ap.add_argument("--runtime", default=None, help="libastrt.a (default: next to astc's build)")
    ap.add_argument("--cc", default=os.environ.get("CC", "cc"))
    ap.add_argument("--ldflags", default=LINK)
    ap.add_argument("--models", default="mlp,lenet")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=None, help="default: the example's base lr")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--tol", type=float, default=1e-4)
    ap.add_argument("--last-rows", type=int, default=0,
                    help="make the last batch this many rows (a partial batch; default full)")
    ap.add_argument("--keep", default=None, help="work in this directory and keep it")
    args = ap.parse_args()
    if args.runtime is None:
        args.runtime = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(args.astc))),
                                    "runtime", "libastrt.a")
    for f in (args.astc, args.runtime):
        if not os.path.exists(f):
            sys.exit(f"parity: {f} does not exist; build astc first (cmake --build BUILD)")
    fashion = os.path.join(torch_peer.DATA, "fashion-mnist", "train-images-idx3-ubyte.gz")
    if not os.path.exists(fashion):
        print(f"parity: skipped: {fashion} not found (apt-get install dataset-fashion-mnist)")
        return 77
    torch.set_num_threads(1)
    ok = True
    with tempfile.TemporaryDirectory(prefix="astc-parity-") as tmp:
        base = args.keep or tmp
        for name in args.models.split(","):
            d = os.path.join(base, name)
            os.makedirs(d, exist_ok=True)
            ok &= check_model(args, name, d)
    print("\nparity:", "PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
