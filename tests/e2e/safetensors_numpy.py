#!/usr/bin/python3
# safetensors_numpy.py — reads a safetensors file with NumPy alone (struct,
# json, numpy.frombuffer), independently of libastrt, and prints its
# metadata and each tensor's name, dtype, shape and sum:
#
#   meta astc.program = softmax
#   tensor dense.w F32 [6, 3] sum=-0.123456789
#
# It also checks the layout the format requires (header within the file,
# data_offsets tiling the data exactly, sizes matching shape x dtype).
#
# usage: /usr/bin/python3 tests/e2e/safetensors_numpy.py FILE [--expect-names a,b,c]
#   --expect-names  the file must hold exactly these tensors (any order)
# Exit status: 0 good, 1 the file or its names are wrong, 2 bad usage.
import json
import struct
import sys

import numpy as np

DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "BF16": "<u2", "I64": "<i8",
          "I32": "<i4", "I16": "<i2", "I8": "i1", "U64": "<u8", "U32": "<u4",
          "U16": "<u2", "U8": "u1", "BOOL": "?", "F8_E5M2": "u1", "F8_E4M3": "u1"}


def fail(msg):
    print(f"safetensors_numpy.py: {msg}", file=sys.stderr)
    sys.exit(1)


def load(path):
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 8:
        fail(f"{path}: {len(raw)} bytes, too short for the header length")
    (n,) = struct.unpack("<Q", raw[:8])
    if n > len(raw) - 8:
        fail(f"{path}: header length {n} but only {len(raw) - 8} bytes follow")
    header = json.loads(raw[8:8 + n].decode("utf-8"))
    data = raw[8 + n:]
    meta = header.pop("__metadata__", {})
    tensors, spans = {}, []
    for name, info in header.items():
        begin, end = info["data_offsets"]
        dtype = np.dtype(DTYPES[info["dtype"]])
        shape = tuple(info["shape"])
        count = int(np.prod(shape, dtype=np.int64))
        if end - begin != count * dtype.itemsize:
            fail(f"{path}: tensor {name}: {end - begin} bytes for {info['dtype']} {list(shape)}")
        a = np.frombuffer(data, dtype=dtype, count=count, offset=begin).reshape(shape)
        if info["dtype"] == "BF16":  # the high half of a float32
            a = (a.astype(np.uint32) << 16).view(np.float32)
        tensors[name] = (info["dtype"], a)
        spans.append((begin, end, name))
    pos = 0
    for begin, end, name in sorted(spans):
        if begin != pos:
            fail(f"{path}: tensor {name} starts at {begin}, expected {pos} (gap or overlap)")
        pos = end
    if pos != len(data):
        fail(f"{path}: tensors cover {pos} of {len(data)} data bytes")
    return meta, tensors


def main(argv):
    args, expect = [], None
    i = 1
    while i < len(argv):
        if argv[i] == "--expect-names" and i + 1 < len(argv):
            expect, i = argv[i + 1], i + 2
        elif argv[i].startswith("--expect-names="):
            expect, i = argv[i].split("=", 1)[1], i + 1
        else:
            args.append(argv[i])
            i += 1
    if len(args) != 1:
        print("usage: safetensors_numpy.py FILE [--expect-names a,b,c]", file=sys.stderr)
        return 2
    meta, tensors = load(args[0])
    for key in meta:
        print(f"meta {key} = {meta[key]}")
    for name, (dtype, a) in tensors.items():
        total = float("nan") if dtype.startswith("F8") else a.astype(np.float64).sum()
        print(f"tensor {name} {dtype} {list(a.shape)} sum={total:.9g}")
    if expect is not None:
        want = set(filter(None, expect.split(",")))
        have = set(tensors)
        if want != have:
            fail(f"{args[0]}: missing {sorted(want - have)}, unexpected {sorted(have - want)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
