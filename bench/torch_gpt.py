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

--fused-qkv computes q, k and v with one [128, 384] product instead of three
[128, 128] ones (the same function; PyTorch's fastest form of the model, for
the throughput comparison only: its parameters are not astc's).

Run with Debian's /usr/bin/python3 (python3-torch). Thread counts come from
the environment (OMP_NUM_THREADS, OPENBLAS_NUM_THREADS) and --threads.
"""
import argparse
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
                      "final_loss": float(loss), "fused_qkv": args.fused_qkv, "foreach": not args.no_foreach,
                      "data": source, "torch_threads": torch.get_num_threads(),
                      "omp": os.environ.get("OMP_NUM_THREADS"), "openblas": os.environ.get("OPENBLAS_NUM_THREADS"),
                      "openblas_core": openblas_core()}))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("throughput")
    t.add_argument("--batch", type=int, default=32)
    t.add_argument("--steps", type=int, default=60)
    t.add_argument("--warmup", type=int, default=5)
    t.add_argument("--threads", type=int, default=0)
    t.add_argument("--fused-qkv", action="store_true")
    t.add_argument("--no-foreach", action="store_true")
    args = ap.parse_args()
    if args.cmd == "throughput":
        throughput(args)


if __name__ == "__main__":
    sys.exit(main())
