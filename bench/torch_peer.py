#!/usr/bin/python3
"""torch_peer.py — the PyTorch side of astc's benchmarks and parity checks.

The models mirror examples/*.train layer for layer (same shapes, same
parameter names as astc's checkpoints: dense_1.w is [in, out] in astc and is
transposed into torch's Linear.weight [out, in]). The byte-level GPT
(examples/charlm.train) has its own file, bench/torch_gpt.py.

  torch_peer.py throughput --model mlp|lenet|wide [--batch 64] [--epochs 1]
      trains on Fashion-MNIST and prints one JSON line with samples/s
      (training only; data already in memory as float32, like astc's runtime).

  astc_params(model) lists a model's parameters in astc's order and layout;
  bench/parity/parity.py uses it to feed both sides identical weights.

Run with Debian's /usr/bin/python3 (python3-torch). Thread counts come from
the environment (OMP_NUM_THREADS, OPENBLAS_NUM_THREADS) and --threads.
"""
import argparse
import gzip
import json
import os
import struct
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

DATA = os.environ.get("ASTC_DATA_PATH", "").split(":")[0] or "/usr/share/datasets"


def read_idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    magic, = struct.unpack(">I", data[:4])
    rank = magic & 0xFF
    dims = struct.unpack(">" + "I" * rank, data[4:4 + 4 * rank])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * rank).reshape(dims)


def load_fashion(split="train"):
    d = os.path.join(DATA, "fashion-mnist")
    prefix = "train" if split == "train" else "t10k"
    x = read_idx(os.path.join(d, f"{prefix}-images-idx3-ubyte.gz")).astype(np.float32) / 255.0
    y = read_idx(os.path.join(d, f"{prefix}-labels-idx1-ubyte.gz")).astype(np.int64)
    return x, y


class MLP(nn.Module):
    """784-256-128-10 ReLU (examples/fashion_mlp.train)."""

    def __init__(self, widths=(784, 256, 128, 10)):
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths[:-1], widths[1:]))

    def forward(self, x):
        x = x.reshape(x.shape[0], -1)
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i + 1 < len(self.layers):
                x = F.relu(x)
        return x


class LeNet(nn.Module):
    """LeNet-5 (examples/fashion_lenet.train)."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5, padding=2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(400, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        x = x.reshape(x.shape[0], 1, 28, 28)
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = x.reshape(x.shape[0], -1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


def astc_params(model):
    """[(astc name, torch parameter, transposed)] in astc's variable order.

    transposed: astc stores dense w as [in, out], the transpose of
    Linear.weight [out, in]; conv weights ([O, C, K, K]) and biases are the
    same in both."""
    if isinstance(model, MLP):
        linears = [(f"dense_{i + 1}", l) for i, l in enumerate(model.layers)]
        convs = []
    elif isinstance(model, LeNet):
        convs = [("conv2d_1", model.conv1), ("conv2d_2", model.conv2)]
        linears = [("dense_1", model.fc1), ("dense_2", model.fc2), ("dense_3", model.fc3)]
    else:
        raise TypeError(f"no astc layout for {type(model).__name__}")
    out = []
    for name, m in convs:
        out += [(f"{name}.w", m.weight, False), (f"{name}.b", m.bias, False)]
    for name, m in linears:
        out += [(f"{name}.w", m.weight, True), (f"{name}.b", m.bias, False)]
    return out


def make_model(name):
    if name == "mlp":
        return MLP()
    if name == "wide":
        return MLP((784, 1024, 1024, 10))
    if name == "lenet":
        return LeNet()
    raise SystemExit(f"unknown model {name}")


def openblas_core():
    """The kernel set of the OpenBLAS this process loaded (torch's Linear
    layers use it), or None."""
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
    x, y = load_fashion("train")
    x = torch.from_numpy(x.reshape(len(x), -1).copy())
    y = torch.from_numpy(y.copy())
    model = make_model(args.model)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4, foreach=True)
    n = len(x)
    g = torch.Generator().manual_seed(1)
    # one warm-up pass over a few batches, not timed
    for i in range(0, 20 * args.batch, args.batch):
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(x[i:i + args.batch]), y[i:i + args.batch]).backward()
        opt.step()
    seconds, samples = 0.0, 0
    for _ in range(args.epochs):
        perm = torch.randperm(n, generator=g)
        t0 = time.perf_counter()
        for i in range(0, n, args.batch):
            idx = perm[i:i + args.batch]
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(x[idx]), y[idx])
            loss.backward()
            opt.step()
        seconds += time.perf_counter() - t0
        samples += n
    print(json.dumps({"model": args.model, "batch": args.batch, "samples": samples,
                      "train_seconds": seconds, "samples_per_second": samples / seconds,
                      "torch_threads": torch.get_num_threads(),
                      "omp": os.environ.get("OMP_NUM_THREADS"),
                      "openblas": os.environ.get("OPENBLAS_NUM_THREADS"),
                      "openblas_core": openblas_core()}))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("throughput")
    t.add_argument("--model", default="mlp")
    t.add_argument("--batch", type=int, default=64)
    t.add_argument("--epochs", type=int, default=1)
    t.add_argument("--threads", type=int, default=0)
    args = ap.parse_args()
    if args.cmd == "throughput":
        throughput(args)


if __name__ == "__main__":
    sys.exit(main())
