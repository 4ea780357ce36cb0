#!/usr/bin/env python3
"""make_seeds.py — writes the seed corpora of the fuzz targets.

    make_seeds.py OUTDIR

creates OUTDIR/<target>/ for each target:
  frontend     every .train program in the repository (examples, stdlib,
               tests/golden, tests/e2e, bench, and tests/fuzz/seeds: programs
               written to reach every derivative rule and speedup pass), as
               they are
  idx          small valid IDX files: every element type, ranks 1 to 4,
               raw and gzip-compressed
  csv          small valid CSV data sets: header or not, CRLF, blank lines,
               spaces, floats in every notation, other separators, a first
               line of another width, float labels, gzip
  npy          small valid .npy files: format 1.0, 2.0 and 3.0, every
               supported dtype, scalar and n-d examples
  safetensors  small valid safetensors files: every dtype, scalars, empty
               tensors, metadata, escaped and non-ASCII names

Every file is valid for its loader (the fuzzer's mutations start from
inputs that reach the end of the parser), and the output is the same on
every run (gzip with mtime 0), so the corpus is reproducible.
"""
import gzip
import io
import json
import os
import shutil
import struct
import sys

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))


def write(outdir, target, name, data):
    d = os.path.join(outdir, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# ---- frontend ---------------------------------------------------------------

def train_files():
    for top in ("examples", "stdlib", "tests", "bench"):
        for dirpath, dirnames, filenames in os.walk(os.path.join(ROOT, top)):
            dirnames[:] = sorted(d for d in dirnames if d != "regressions")
            for fn in sorted(filenames):
                if fn.endswith(".train"):
                    yield os.path.join(dirpath, fn)


def frontend(outdir):
    n = 0
    for path in train_files():
        rel = os.path.relpath(path, ROOT).replace(os.sep, "_")
        os.makedirs(os.path.join(outdir, "frontend"), exist_ok=True)
        shutil.copyfile(path, os.path.join(outdir, "frontend", rel))
        n += 1
    return n


# ---- idx --------------------------------------------------------------------

IDX_TYPES = {  # type byte: (struct code, sample values)
    0x08: ("B", [0, 1, 127, 255]),
    0x09: ("b", [0, -1, 127, -128]),
    0x0B: ("h", [0, -2, 300, -32768]),
    0x0C: ("i", [0, 7, -70000, 2147483647]),
    0x0D: ("f", [0.0, -1.5, 3.25, 1e30]),
    0x0E: ("d", [0.0, 2.5, -1e-300, 1e38]),
}


def idx(type_byte, dims, values):
    code = IDX_TYPES[type_byte][0]
    out = bytes([0, 0, type_byte, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims)
    return out + struct.pack(">%d%s" % (len(values), code), *values)


def gz(data):
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0, filename="") as f:
        f.write(data)
    return buf.getvalue()


def idx_seeds(outdir):
    files = {
        "images-u8-3x2x2": idx(0x08, [3, 2, 2], [i * 20 for i in range(12)]),
        "labels-u8-3": idx(0x08, [3], [0, 2, 1]),
        "labels-u8-empty": idx(0x08, [0], []),
        "images-u8-2x1x2x3": idx(0x08, [2, 1, 2, 3], list(range(12))),
        "images-u8-rank7": idx(0x08, [1, 1, 1, 1, 1, 1, 2], [4, 5]),
    }
    for t, (_, vals) in IDX_TYPES.items():
        files["values-%02x-2x2" % t] = idx(t, [2, 2], vals)
        files["labels-%02x-4" % t] = idx(t, [4], [0, 1, 2, 3])
    n = 0
    for name, data in sorted(files.items()):
        write(outdir, "idx", name, data)
        n += 1
    for name in ("images-u8-3x2x2", "labels-u8-3", "values-0d-2x2"):
        write(outdir, "idx", name + ".gz", gz(files[name]))
        n += 1
    return n


# ---- csv --------------------------------------------------------------------

CSV_SEEDS = {
    "plain.csv": "0.5,1.5,0\n2,3,1\n-1,4e-3,2\n",
    "header.csv": "x1,x2,x3,label\n1,2,3,0\n4,5,6,1\n",
    "crlf.csv": "a,b,y\r\n1.0,2.0,1\r\n3.0,4.0,0\r\n",
    "blank-lines.csv": "\n1,2,0\n\n  3 , 4 ,1\n\t\n5,6,2",
    "label-first.csv": "label,f\n3,0.25\n1,-0.75\n",
    "floats.csv": "1e10,-2.5E-3,.5,5.,0x1p3,3.0\n-0,+7,1e-40,1,0,1\n",
    "one-row.csv": "1,0\n",
    "wide.csv": ",".join(str(i) for i in range(40)) + "\n" + ",".join(str(40 - i) for i in range(40)) + "\n",
    "semicolons.csv": "a;b;label\n1.5;-2;0\n3;4e1;2\n",
    "tabs.csv": "a\tb\tlabel\n1.5\t-2\t0\n3\t4e1\t2\n",
    "blanks.csv": "a b label\n 1.5  -2 0 \n3\t4e1 2\n",
    "sklearn-first-line.csv": "3,2,class_0,class_1\n1.5,2,0\n3,4.25,1\n5,6,1\n",
    "float-labels.csv": "1,2,0.0\n3,4,1.0\n5,6,2e0\n",
}


def csv_seeds(outdir):
    for name, text in sorted(CSV_SEEDS.items()):
        write(outdir, "csv", name, text.encode())
    # gzip-compressed (mtime 0: the same bytes on every run)
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as g:
        g.write(CSV_SEEDS["header.csv"].encode())
    write(outdir, "csv", "header.csv.gz", buf.getvalue())
    return len(CSV_SEEDS) + 1


# ---- npy --------------------------------------------------------------------

def npy(descr, shape, payload, version=1, fortran=False):
    shape_s = "(" + "".join("%d, " % d for d in shape) + ")" if len(shape) != 1 else "(%d,)" % shape[0]
    header = "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }" % (
        descr, "True" if fortran else "False", shape_s)
    pre = 10 if version == 1 else 12
    total = pre + len(header) + 1
    header += " " * ((64 - total % 64) % 64) + "\n"
    if version == 1:
        out = b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header))
    else:
        out = b"\x93NUMPY" + bytes([version, 0]) + struct.pack("<I", len(header))
    return out + header.encode("latin-1" if version < 3 else "utf-8") + payload


def npy_seeds(outdir):
    files = {
        "f4-2x3.npy": npy("<f4", [2, 3], struct.pack("<6f", 0, 1, -2, 3.5, 1e-3, 7)),
        "f8-3.npy": npy("<f8", [3], struct.pack("<3d", 0.5, -1, 2)),
        "f8-labels-3.npy": npy("<f8", [3], struct.pack("<3d", 0, 2, 1)),
        "u1-2x2x2.npy": npy("|u1", [2, 2, 2], bytes(range(8))),
        "b1-4.npy": npy("|b1", [4], bytes([0, 1, 1, 0])),
        "i1-4.npy": npy("|i1", [4], struct.pack("<4b", 0, 1, 2, 3)),
        "i2-4.npy": npy("<i2", [4], struct.pack("<4h", 0, 1, 2, 3)),
        "u2-4.npy": npy("<u2", [4], struct.pack("<4H", 3, 2, 1, 0)),
        "i4-4.npy": npy("<i4", [4], struct.pack("<4i", 0, 1, 2, 1)),
        "u4-4.npy": npy("<u4", [4], struct.pack("<4I", 1, 1, 0, 2)),
        "i8-4.npy": npy("<i8", [4], struct.pack("<4q", 2, 0, 1, 0)),
        "u8-4.npy": npy("<u8", [4], struct.pack("<4Q", 0, 0, 1, 5)),
        "eq-f4-2.npy": npy("=f4", [2], struct.pack("<2f", 1, 2)),
        "empty-0x3.npy": npy("<f4", [0, 3], b""),
        "v2-f4-1x2.npy": npy("<f4", [1, 2], struct.pack("<2f", 4, 5), version=2),
        "v3-u1-2x1.npy": npy("|u1", [2, 1], bytes([9, 8]), version=3),
        "f4-rank7.npy": npy("<f4", [1, 1, 1, 1, 1, 1, 2], struct.pack("<2f", 1, 2)),
    }
    for name, data in sorted(files.items()):
        write(outdir, "npy", name, data)
    return len(files)


# ---- safetensors -------------------------------------------------------------

ST_SIZES = {"F32": 4, "F16": 2, "BF16": 2, "I32": 4, "I64": 8, "U8": 1, "F64": 8, "I8": 1,
            "I16": 2, "U16": 2, "U32": 4, "U64": 8, "BOOL": 1, "F8_E5M2": 1, "F8_E4M3": 1}


def safetensors(tensors, meta=None, pad=True, raw_header=None):
    """tensors: list of (name, dtype, shape); data is generated."""
    header = {}
    if meta is not None:
        header["__metadata__"] = meta
    data = b""
    for name, dtype, shape in tensors:
        n = 1
        for d in shape:
            n *= d
        nbytes = n * ST_SIZES[dtype]
        if dtype == "BOOL":
            payload = bytes(i % 2 for i in range(nbytes))
        else:
            payload = bytes((i * 37 + 11) % 251 for i in range(nbytes))
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + nbytes]}
        data += payload
    h = raw_header if raw_header is not None else json.dumps(header, separators=(",", ":")).encode()
    if pad:
        h += b" " * ((8 - len(h) % 8) % 8)
    return struct.pack("<Q", len(h)) + h + data


def safetensors_seeds(outdir):
    files = {
        "empty.safetensors": safetensors([]),
        "meta-only.safetensors": safetensors([], meta={"format": "pt", "astc": "1"}),
        "one-f32.safetensors": safetensors([("w", "F32", [2, 3])]),
        "astc-like.safetensors": safetensors(
            [("dense_1.w", "F32", [4, 3]), ("dense_1.b", "F32", [3]), ("step", "I64", [])],
            meta={"astc_program": "mlp", "epoch": "2"}),
        "all-dtypes.safetensors": safetensors(
            [("t_" + d.lower(), d, [2, 1]) for d in sorted(ST_SIZES)]),
        "scalar-and-empty.safetensors": safetensors(
            [("s", "F64", []), ("e", "F32", [0, 5]), ("z", "U8", [3, 0])]),
        "rank6.safetensors": safetensors([("r", "BF16", [1, 2, 1, 2, 1, 1])]),
        "unpadded.safetensors": safetensors([("a", "I32", [1])], pad=False),
    }
    # escapes and non-ASCII in names and metadata, written by hand
    hand = (b'{"__metadata__":{"k\\u00e9y":"v\\n\\t\\"\\\\\\/\\ud83d\\ude00"},'
            b'"caf\xc3\xa9":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},'
            b'"a\\u0041":{"shape":[1],"data_offsets":[2,3],"dtype":"I8"}}')
    files["escapes.safetensors"] = struct.pack("<Q", len(hand)) + hand + b"\x01\x02\x03"
    for name, data in sorted(files.items()):
        write(outdir, "safetensors", name, data)
    return len(files)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: make_seeds.py OUTDIR")
    out = sys.argv[1]
    counts = {
        "frontend": frontend(out),
        "idx": idx_seeds(out),
        "csv": csv_seeds(out),
        "npy": npy_seeds(out),
        "safetensors": safetensors_seeds(out),
    }
    print("make_seeds: " + ", ".join("%s %d" % kv for kv in counts.items()) + " seeds in " + out)


if __name__ == "__main__":
    main()
