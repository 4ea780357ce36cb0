#!/usr/bin/python3
"""torch_gpt.py — the PyTorch twin of examples/charlm.train (a byte-level GPT).

The model is astc's, operation for operation (stdlib/nn.train):

  h = embedding(tokens, 256, 128) + embedding(arange(64), 64, 128)
  4 x pre-LN transformer_block(h, 4 heads):
      h = h + causal_self_attention(layernorm(h))   q, k, v, out: separate linears
      h = h + transformer_mlp(layernorm(h))         128 -> 512, exact (erf) GELU -> 128
  logits = linear(layernorm(h), 256)
  loss = mean cross-entropy over every position (B * 64 labels)
  AdamW(lr 1e-3, betas (0.9, 0.99), eps 1e-8, weight_decay 0.1) on every
  parameter (biases, gains and embeddings included), decoupled decay.

Attention as astc writes it: s = (q @ k^T) * (1 / sqrt(dh)), masked to -inf
above the diagonal, softmax over the last axis, o = a @ v with the heads side
by side. Initialisation as astc's: N(0, 0.02) for embeddings and linear
weights, N(0, 0.02 / sqrt(2 * layers)) for the two residual projections,
zero biases, layer-norm gain 1 and bias 0.

astc_params(model) lists the parameters in astc's variable order under
astc's names (`astc show examples/charlm.train`), with whether astc stores
the tensor transposed (linear w is [in, out] in astc, nn.Linear.weight is
[out, in]; embedding tables are [vocab, dim] on both sides).
bench/parity/parity.py uses it to give both sides identical weights.

  torch_gpt.py throughput [--batch 32] [--steps 60] [--warmup 5]
      [--threads N] [--fused-qkv] [--no-foreach]
      trains on random 65-byte windows of Debian's fortunes corpus (a
      generated text if it is not installed) and prints one JSON line: ms
      per step (median over the timed steps), training tokens/s (batch *
      64 / that median; batch gathering included, like astc's runtime) and
      the CPU time per step (process_time, all threads).

  torch_gpt.py quality --init FILE.safetensors --metrics OUT.jsonl
      [--steps 2000] [--eval-every 100] [--eval-samples 512] [--seed 1]
      [--threads 1] [--no-foreach] [--permute-rows] [--compare-with FILE]
      trains the twin as astc trains examples/charlm.train, on the same
      data, and writes astc-style JSON lines (one "eval" event per
      evaluation, then "end"). Everything that is random or scheduled in
      astc's runtime is reproduced exactly (see astc_* below): the corpus
      (runtime/data_text.c: the regular files of
      /usr/share/games/fortunes but *.dat and *.u8, in byte order of their
      names, concatenated), the held-out split (the last
      floor(0.1 n) bytes; data_load.c, data_text.c), the training windows
      (sample s of the run starts at astrt_random_below(astrt_subkey(seed,
      "wind"), s, n_train - 64): rng.c), the epochs (an epoch is
      floor((n_train - 1) / 64) windows; the step that ends one is partial,
      and evaluates), the validation windows (test window i is bytes
      [64 i, 64 i + 65) of the held-out split: the first --eval-samples of
      them at every --eval-every steps and at epoch ends, all of them at the
      last step), the schedule (lr = 1e-3 x cosine(warmup: 0.05) at t =
      samples seen / (steps x 32), rounded to float32 as the driver passes
      it) and the initial weights (FILE, written by the compiled program
      with --steps 1 --save: its first step has lr 0, so it is the
      initialisation). --permute-rows puts each batch's rows in another
      (seeded) order: mathematically the same training, with other float32
      rounding in the batch reductions, a measure of the noise between two
      correct implementations. --compare-with FILE adds an "exact" event:
      the loss on every validation window, in float64, of the trained twin
      and of the model in FILE (astc's trained weights): the two models
      measured by one implementation, without float32 rounding.
      bench/lm_quality.py runs both sides.

--fused-qkv computes q, k and v with one [128, 384] product instead of three
[128, 128] ones (the same function; PyTorch's fastest form of the model, for
the throughput comparison only: its parameters are not astc's).

Run with Debian's /usr/bin/python3 (python3-torch). Thread counts come from
the environment (OMP_NUM_THREADS, OPENBLAS_NUM_THREADS) and --threads.
"""
import argparse
import copy
import glob
import json
import math
import os
import statistics
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

VOCAB, CONTEXT, DIM, HEADS, LAYERS = 256, 64, 128, 4, 4
FORTUNES = "/usr/share/games/fortunes"


class Attention(nn.Module):
    """nn.causal_self_attention(x, heads, layers)"""

    def __init__(self, d, heads, layers, fused=False):
        super().__init__()
        self.heads, self.fused = heads, fused
        if fused:
            self.qkv = nn.Linear(d, 3 * d)
        else:
            self.q, self.k, self.v = nn.Linear(d, d), nn.Linear(d, d), nn.Linear(d, d)
        self.o = nn.Linear(d, d)
        self.o.resid_std = 0.02 / math.sqrt(2 * layers)
        self.register_buffer("mask", torch.ones(CONTEXT, CONTEXT, dtype=torch.bool).tril(), persistent=False)

    def forward(self, x):
        b, t, d = x.shape
        dh = d // self.heads

        def heads(z):
            return z.view(b, t, self.heads, dh).transpose(1, 2)  # [B, H, T, dh]

        if self.fused:
            q, k, v = self.qkv(x).split(d, dim=-1)
        else:
            q, k, v = self.q(x), self.k(x), self.v(x)
        q, k, v = heads(q), heads(k), heads(v)
        s = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(dh))
        a = F.softmax(s.masked_fill(~self.mask[:t, :t], float("-inf")), dim=-1)
        o = (a @ v).transpose(1, 2).reshape(b, t, d)
        return self.o(o)


class MLP(nn.Module):
    """nn.transformer_mlp(x, layers): D -> 4D, exact GELU, -> D"""

    def __init__(self, d, layers):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)
        self.fc2.resid_std = 0.02 / math.sqrt(2 * layers)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))


class Block(nn.Module):
    """nn.transformer_block(x, heads, layers): pre-LN"""

    def __init__(self, d, heads, layers, fused=False):
        super().__init__()
        self.ln1, self.attn = nn.LayerNorm(d, eps=1e-5), Attention(d, heads, layers, fused)
        self.ln2, self.mlp = nn.LayerNorm(d, eps=1e-5), MLP(d, layers)

    def forward(self, x):
        h = x + self.attn(self.ln1(x))
        return h + self.mlp(self.ln2(h))


class GPT(nn.Module):
    """model gpt of examples/charlm.train"""

    def __init__(self, fused=False):
        super().__init__()
        self.tok = nn.Embedding(VOCAB, DIM)
        self.pos = nn.Embedding(CONTEXT, DIM)
        self.blocks = nn.ModuleList(Block(DIM, HEADS, LAYERS, fused) for _ in range(LAYERS))
        self.ln_f = nn.LayerNorm(DIM, eps=1e-5)
        self.head = nn.Linear(DIM, VOCAB)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0.0, getattr(m, "resid_std", 0.02))
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Embedding):
                nn.init.normal_(m.weight, 0.0, 0.02)

    def forward(self, tokens):
        t = tokens.shape[1]
        h = self.tok(tokens) + self.pos.weight[:t]
        for blk in self.blocks:
            h = blk(h)
        return self.head(self.ln_f(h))


def loss_fn(logits, y):
    """cross_entropy(): the mean over every position of every row"""
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1).long())


def astc_params(model):
    """[(astc name, torch parameter, transposed)] in astc's variable order"""
    if not isinstance(model, GPT) or model.blocks[0].attn.fused:
        raise TypeError("no astc layout for this model (a fused-qkv GPT has none)")

    def linear(name, m):
        return [(f"{name}.w", m.weight, True), (f"{name}.b", m.bias, False)]

    def ln(name, m):
        return [(f"{name}.gamma", m.weight, False), (f"{name}.beta", m.bias, False)]

    out = [("embedding_1.table", model.tok.weight, False), ("embedding_2.table", model.pos.weight, False)]
    for i, blk in enumerate(model.blocks):
        p = f"transformer_block_{i + 1}"
        a = f"{p}.causal_self_attention_1"
        out += ln(f"{p}.layernorm_1", blk.ln1)
        for j, m in enumerate((blk.attn.q, blk.attn.k, blk.attn.v, blk.attn.o)):
            out += linear(f"{a}.linear_{j + 1}", m)
        out += ln(f"{p}.layernorm_2", blk.ln2)
        out += linear(f"{p}.transformer_mlp_1.linear_1", blk.mlp.fc1)
        out += linear(f"{p}.transformer_mlp_1.linear_2", blk.mlp.fc2)
    out += ln("layernorm_1", model.ln_f)
    out += linear("linear_1", model.head)
    return out


def adamw(params, lr=1e-3, foreach=None):
    """examples/charlm.train's optimizer: adamw(lr: 1e-3, beta2: 0.99, weight_decay: 0.1)"""
    return torch.optim.AdamW(params, lr=lr, betas=(0.9, 0.99), eps=1e-8, weight_decay=0.1,
                             foreach=foreach)


def corpus(generated_bytes=1 << 20):
    """(bytes of text as a uint8 array, where it came from): Debian's fortunes
    files (the text ones, no .dat indexes) concatenated, or a generated
    pseudo-English text when they are not installed"""
    files = sorted(f for f in glob.glob(os.path.join(FORTUNES, "*"))
                   if os.path.isfile(f) and not os.path.islink(f) and not f.endswith((".dat", ".u8")))
    if files:
        data = b"".join(open(f, "rb").read() for f in files)
        return np.frombuffer(data, dtype=np.uint8), f"{FORTUNES} ({len(files)} files)"
    rng = np.random.default_rng(12345)
    words = ("the of and to a in is you that it he was for on are as with his they I at be this have from or "
             "one had by word but not what all were we when your can said there use an each which she do how "
             "their if will up other about out many then them these so some her would make like him into time "
             "has look two more write go see number no way could people my than first water been call who oil "
             "its now find long down day did get come made may part").split()
    out, n = [], 0
    while n < generated_bytes:
        s = " ".join(rng.choice(words, size=rng.integers(4, 14))).capitalize() + rng.choice([".", "!", "?"]) + "\n"
        out.append(s)
        n += len(s)
    return np.frombuffer("".join(out).encode()[:generated_bytes], dtype=np.uint8), "generated text"


def windows(text, n, batch, seed):
    """n batches of random windows of CONTEXT + 1 bytes: x = the first 64,
    y = the next byte after each (int32 [batch, 64] both)"""
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    for _ in range(n):
        start = rng.integers(0, len(text) - CONTEXT - 1, size=batch)
        w = text[start[:, None] + np.arange(CONTEXT + 1)].astype(np.int32)
        xs.append(np.ascontiguousarray(w[:, :-1]))
        ys.append(np.ascontiguousarray(w[:, 1:]))
    return xs, ys


def openblas_core():
    try:
        import ctypes
        lib = ctypes.CDLL("libopenblas.so.0")
        lib.openblas_get_corename.restype = ctypes.c_char_p
        return lib.openblas_get_corename().decode()
    except (OSError, AttributeError):
        return None


def throughput(args):
    torch.manual_seed(1)
    if args.threads:
        torch.set_num_threads(args.threads)
    text, source = corpus()
    data = torch.from_numpy(text.astype(np.int64))
    model = GPT(fused=args.fused_qkv)
    opt = adamw(model.parameters(), foreach=not args.no_foreach)
    g = torch.Generator().manual_seed(1)
    offsets = torch.arange(CONTEXT + 1)

    def step():
        start = torch.randint(0, len(data) - CONTEXT - 1, (args.batch,), generator=g)
        w = data[start[:, None] + offsets]
        x, y = w[:, :-1], w[:, 1:]
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16):
            loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss

    for _ in range(args.warmup):
        step()
    times = []
    t_all, c_all = time.perf_counter(), time.process_time()
    for _ in range(args.steps):
        t0 = time.perf_counter()
        loss = step()
        times.append(time.perf_counter() - t0)
    total, cpu = time.perf_counter() - t_all, time.process_time() - c_all
    med = statistics.median(times)
    tokens = args.batch * CONTEXT
    print(json.dumps({"model": "gpt", "batch": args.batch, "context": CONTEXT, "steps": args.steps,
                      "ms_per_step": 1e3 * med, "ms_per_step_min": 1e3 * min(times),
                      "ms_per_step_max": 1e3 * max(times), "train_seconds": total,
                      "cpu_ms_per_step": 1e3 * cpu / args.steps,
                      "tokens_per_second": tokens / med, "tokens_per_second_mean": tokens * args.steps / total,
                      "final_loss": float(loss), "fused_qkv": args.fused_qkv, "bf16_autocast": args.bf16, "foreach": not args.no_foreach,
                      "data": source, "torch_threads": torch.get_num_threads(),
                      "omp": os.environ.get("OMP_NUM_THREADS"), "openblas": os.environ.get("OPENBLAS_NUM_THREADS"),
                      "openblas_core": openblas_core()}))


# ---- astc's runtime, reproduced (runtime/rng.c, data_text.c, driver.c) ----

M64 = (1 << 64) - 1
GOLDEN, SALT_HASH, SALT_SUBKEY = 0x9e3779b97f4a7c15, 0x243f6a8885a308d3, 0xb7e151628aed2a6b
TAG_WINDOWS = 0x77696e64  # "wind": ASTRT_TAG_WINDOWS, the offsets of training windows


def _mix(z):
    z = ((z ^ (z >> 30)) * 0xbf58476d1ce4e5b9) & M64
    z = ((z ^ (z >> 27)) * 0x94d049bb133111eb) & M64
    return z ^ (z >> 31)


def _keyed(key, counter, salt):
    k = _mix(key) ^ salt
    z = _mix(k ^ ((counter * GOLDEN) & M64))
    return _mix((z + k) & M64)


def astc_hash64(key, counter):
    return _keyed(key, counter, SALT_HASH)


def astc_subkey(key, tag):
    return _keyed(key, tag, SALT_SUBKEY)


def astc_random_below(key, counter, bound):
    """astrt_random_below: floor(hash64(key, counter) * bound / 2^64)"""
    return (astc_hash64(key, counter) * bound) >> 64 if bound > 0 else 0


def astc_window_offsets(seed, first, rows, n, context=CONTEXT):
    """astrt_window_offset for samples first .. first + rows - 1 of a training split of n tokens"""
    key = astc_subkey(seed, TAG_WINDOWS)
    return np.array([astc_random_below(key, s, n - context) for s in range(first, first + rows)], dtype=np.int64)


def astc_text(directory=FORTUNES):
    """the bytes of text("fortunes") (runtime/data_text.c): the directory's
    regular files (lstat: no symbolic links, no subdirectories; dot files
    included) but *.dat and *.u8, sorted by name as bytes (strcmp),
    concatenated; (uint8 array, [file names])"""
    names = []
    for e in os.scandir(os.fsencode(directory)):
        if e.name.endswith((b".dat", b".u8")) or not e.is_file(follow_symlinks=False):
            continue
        names.append(e.name)
    names.sort()
    data = b"".join(open(os.path.join(os.fsencode(directory), n), "rb").read() for n in names)
    return np.frombuffer(data, dtype=np.uint8), [os.fsdecode(n) for n in names]


def astc_split(tokens, holdout=0.1):
    """astrt_seq_load: the test split is the last floor(n * holdout) tokens"""
    n = len(tokens)
    k = min(n, math.floor(n * holdout * (1 + 1e-12)))
    return tokens[:n - k], tokens[n - k:]


def astc_cosine(t, warmup, final=0.0):
    """cosine(warmup: W, final: F) of compiler/front/train.c at progress t"""
    if warmup > 0 and t < warmup:
        return t / warmup
    return final + (1 - final) * 0.5 * (1 + math.cos(math.pi * ((t - warmup) / (1 - warmup))))


def read_safetensors(path):
    """{name: float32 array} of a safetensors file (astc writes F32 tensors only)"""
    with open(path, "rb") as f:
        raw = f.read()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + n])
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        if t["dtype"] != "F32":
            raise ValueError(f"{path}: {name} is {t['dtype']}, not F32")
        a, b = t["data_offsets"]
        out[name] = np.frombuffer(raw[8 + n + a:8 + n + b], dtype="<f4").reshape(t["shape"]).copy()
    return out


def load_astc_weights(model, path):
    """copies astc's parameters (astc layout, by name) into the twin"""
    w = read_safetensors(path)
    with torch.no_grad():
        for name, p, transposed in astc_params(model):
            a = torch.from_numpy(w[name])
            a = a.T if transposed else a
            if tuple(a.shape) != tuple(p.shape):
                raise ValueError(f"{path}: {name} is {tuple(w[name].shape)}, the twin's {tuple(p.shape)}")
            p.copy_(a)
    return len(w)


def evaluate(model, windows, n, chunk=256):
    """the mean cross-entropy over every position of the first n test windows"""
    total = 0.0
    model.eval()
    with torch.no_grad():
        for i in range(0, n, chunk):
            w = windows[i:min(n, i + chunk)]
            logits = model(w[:, :-1])
            total += float(F.cross_entropy(logits.reshape(-1, VOCAB), w[:, 1:].reshape(-1), reduction="sum"))
    model.train()
    return total / (n * CONTEXT)


def quality(args):
    """trains the twin as astc's driver trains examples/charlm.train (driver.c: train_loop)"""
    torch.manual_seed(args.seed)
    if args.threads:
        torch.set_num_threads(args.threads)
    text, files = astc_text()
    if not files:
        sys.exit(f"torch_gpt.py: {FORTUNES} holds no text: apt-get install fortunes")
    train, test = astc_split(text)
    n_train_win = (len(train) - 1) // CONTEXT  # astrt_seq_windows: an epoch
    n_test_win = (len(test) - 1) // CONTEXT
    train_t = torch.from_numpy(train.astype(np.int64))
    idx = np.arange(n_test_win)[:, None] * CONTEXT + np.arange(CONTEXT + 1)
    test_w = torch.from_numpy(test[idx].astype(np.int64))
    model = GPT()
    loaded = load_astc_weights(model, args.init)
    opt = adamw(model.parameters(), foreach=not args.no_foreach)
    batch, steps, base_lr = 32, args.steps, 1e-3
    total = steps * batch
    ar = torch.arange(CONTEXT + 1)
    out = open(args.metrics, "w")

    def emit(obj):
        out.write(json.dumps(obj) + "\n")
        out.flush()

    state = {"pos": 0, "samples": 0, "step": 0, "epoch": 0, "loss": 0.0, "rows": 0, "evaluated": -1,
             "train_s": 0.0, "train_cpu": 0.0, "eval_s": 0.0}
    wall0, cpu0 = time.perf_counter(), time.process_time()

    def do_eval(last):
        t0 = time.perf_counter()
        n = n_test_win if last or args.eval_samples <= 0 else min(args.eval_samples, n_test_win)
        loss = evaluate(model, test_w, n)
        state["eval_s"] += time.perf_counter() - t0
        state["evaluated"] = state["step"]
        emit({"event": "eval", "step": state["step"], "samples": state["samples"], "epoch": state["epoch"],
              "train_loss": state["loss"] / state["rows"] if state["rows"] else None, "test_loss": loss,
              "bits_per_byte": loss / math.log(2), "windows": n, "train_seconds": state["train_s"],
              "train_cpu_seconds": state["train_cpu"], "cpu_seconds": time.process_time() - cpu0,
              "elapsed_seconds": time.perf_counter() - wall0})
        state["loss"], state["rows"] = 0.0, 0
        return loss

    perm_rng = np.random.default_rng(1000 + args.seed) if args.permute_rows else None
    loss = None
    while state["step"] < steps:
        t0, c0 = time.perf_counter(), time.process_time()
        t = min(state["samples"] / total, 1.0)
        lr = float(np.float32(base_lr * astc_cosine(t, 0.05)))  # the driver passes lr as a float
        rows = min(batch, n_train_win - state["pos"])
        offs = torch.from_numpy(astc_window_offsets(args.seed, state["samples"], rows, len(train)))
        w = train_t[offs[:, None] + ar]
        if perm_rng is not None:  # the same batch, its rows in another order
            w = w[torch.from_numpy(perm_rng.permutation(rows))]
        x, y = w[:, :-1], w[:, 1:]
        for g in opt.param_groups:
            g["lr"] = lr
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        lv = float(loss)
        state["pos"] += rows
        state["samples"] += rows
        state["step"] += 1
        epoch_end = state["pos"] == n_train_win
        if epoch_end:
            state["pos"] = 0
            state["epoch"] += 1
        state["train_s"] += time.perf_counter() - t0
        state["train_cpu"] += time.process_time() - c0
        if not math.isfinite(lv):
            sys.exit(f"torch_gpt.py: the loss of step {state['step']} is {lv}")
        state["loss"] += lv * rows
        state["rows"] += rows
        last = state["step"] >= steps
        if epoch_end or (args.eval_every > 0 and state["step"] % args.eval_every == 0):
            do_eval(last)
    if state["evaluated"] != state["step"]:
        do_eval(True)
    if args.compare_with:  # the exact loss of both trained models: float64, every validation window
        t0 = time.perf_counter()
        other = GPT()
        load_astc_weights(other, args.compare_with)
        mine = copy.deepcopy(model).double()
        emit({"event": "exact", "windows": n_test_win, "test_loss_f64": evaluate(mine, test_w, n_test_win),
              "other": args.compare_with, "other_test_loss_f64": evaluate(other.double(), test_w, n_test_win),
              "seconds": time.perf_counter() - t0})
    emit({"event": "end", "steps": state["step"], "train_seconds": state["train_s"],
          "train_cpu_seconds": state["train_cpu"], "eval_seconds": state["eval_s"],
          "cpu_seconds": time.process_time() - cpu0, "elapsed_seconds": time.perf_counter() - wall0,
          "train_windows_per_epoch": n_train_win, "test_windows": n_test_win, "corpus_bytes": len(text),
          "train_bytes": len(train), "test_bytes": len(test), "files": len(files), "tensors_in_init": loaded,
          "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
          "omp": os.environ.get("OMP_NUM_THREADS"), "openblas": os.environ.get("OPENBLAS_NUM_THREADS"),
          "foreach": not args.no_foreach, "permute_rows": args.permute_rows})
    out.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("throughput")
    t.add_argument("--batch", type=int, default=32)
    t.add_argument("--steps", type=int, default=60)
    t.add_argument("--warmup", type=int, default=5)
    t.add_argument("--threads", type=int, default=0)
    t.add_argument("--fused-qkv", action="store_true")
    t.add_argument("--bf16", action="store_true",
                   help="forward and loss under torch.autocast('cpu', torch.bfloat16): PyTorch's mixed precision")
    t.add_argument("--no-foreach", action="store_true")
    q = sub.add_parser("quality")
    q.add_argument("--init", required=True, help="astc's initial weights (safetensors)")
    q.add_argument("--metrics", required=True, help="JSON lines written here")
    q.add_argument("--steps", type=int, default=2000)
    q.add_argument("--eval-every", type=int, default=100)
    q.add_argument("--eval-samples", type=int, default=512)
    q.add_argument("--seed", type=int, default=1)
    q.add_argument("--threads", type=int, default=1)
    q.add_argument("--no-foreach", action="store_true")
    q.add_argument("--compare-with", default=None, metavar="FILE.safetensors",
                   help="after training, the float64 loss on every validation window of the twin and of "
                        "these weights (astc's trained model, say)")
    q.add_argument("--permute-rows", action="store_true",
                   help="each batch's rows in another order: the same training, other float32 rounding")
    args = ap.parse_args()
    if args.cmd == "throughput":
        throughput(args)
    elif args.cmd == "quality":
        quality(args)


if __name__ == "__main__":
    sys.exit(main())
