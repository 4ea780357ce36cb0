#!/bin/sh
# robust.sh — training that goes wrong, end to end (docs/robustness.md).
#
#   robust.sh ASTC CASE
#
# nan_stop        a learning rate that diverges: the error names the step and
#                 the first non-finite value; no checkpoint after it, no
#                 --save; the last checkpoint resumes (and diverges the same)
# nan_skip        one extreme row in a CSV file: --on-nan=stop stops at its
#                 batch, --on-nan=skip-step skips it every epoch and finishes
# nan_skip_bound  skipping cannot go on forever: an error after 100 in a row
# nan_param       a gradient that is NaN while the loss is finite: the next
#                 step names the parameter the update broke, and stops
# memory          a program, or a data file of each format, larger than the
#                 memory available: refused before training with the numbers
# corrupt_data    a damaged data file of each format: a clear error, exit 1
# disk_full       a checkpoint write that fails midway (fault hook): a clear
#                 error, the earlier checkpoints intact, resuming ends
#                 bit-identical to an uninterrupted run
# disk_full_tmpfs the same on a real full disk, a 64 KiB tmpfs (skipped with
#                 status 77 where a mount namespace cannot be made)
# ulimit          an address-space limit (ulimit -v) too small for OpenBLAS's
#                 buffers (128 MiB per thread, retried forever by OpenBLAS
#                 0.3.21): refused before training with the limit to set,
#                 exit 1, within a timeout, also when one of OpenBLAS's own
#                 threads is wedged (--help, bad options, any error); the
#                 limit the message suggests trains (skipped in sanitizer
#                 builds, which cannot run under ulimit -v)
# metrics_full    the metrics file's disk fills up: a clear error, exit 1;
#                 then on /dev/full (the case ends with status 77 after the
#                 rest passed where there is no writable /dev/full)
#
# memory, disk_full, disk_full_tmpfs and metrics_full use the runtime's test
# hooks: without them (a libastrt built without -DASTRT_TEST_HOOKS=ON; ctest
# sets ASTRT_TEST_HOOKS) they are skipped, exit 77.
# Skipped parts print "SKIP: CASE: reason" (ctest's SKIP_RETURN_CODE is 77).
set -eu
astc=$1 case=$2
case $case in
memory|disk_full|disk_full_tmpfs|metrics_full)
  if [ "${ASTRT_TEST_HOOKS:-ON}" != ON ]; then
    echo "$case: skipped: the runtime's test hooks are compiled out (configure with -DASTRT_TEST_HOOKS=ON)"
    exit 77
  fi ;;
esac
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# runs "$@" expecting exit status 1; stderr in $tmp/err
fails() {
  status=0
  "$@" >"$tmp/out" 2>"$tmp/err" || status=$?
  cat "$tmp/err"
  [ "$status" -eq 1 ] || { echo "expected exit status 1, got $status: $*"; cat "$tmp/out"; exit 1; }
}
has() { grep -q -- "$1" "$2" || { echo "missing in $2: $1"; cat "$2"; exit 1; }; }
lines() { grep -c -- "$1" "$2" || true; }

mlp="$here/mlp_synthetic.train"

case $case in
nan_stop)
  sed 's/lr: 0.05,/lr: 1e4,/' "$mlp" > "$tmp/diverge.train"
  "$astc" build "$tmp/diverge.train" -o "$tmp/diverge"
  opts="--threads 1 --checkpoint $tmp/ck --checkpoint-every 1 --save $tmp/out.st --metrics $tmp/m.jsonl"
  fails "$tmp/diverge" $opts
  has "error: step 9 (epoch 1, batch 32): the loss is NaN at learning rate 3200; the first non-finite value is the output of matmul at .*stdlib/nn.train:[0-9]*:12 (layer dense_2 called at $tmp/diverge.train:8:13, in dense, forward pass); lower the learning rate (3200 at this step)" "$tmp/err"
  has "Training stopped before this step changed anything (--on-nan=skip-step skips such steps)" "$tmp/err"
  [ ! -e "$tmp/out.st" ] || { echo "--save wrote after the bad step"; exit 1; }
  newest=$(ls "$tmp/ck" | tail -n 1)
  [ "$newest" = "ckpt-000000000008.safetensors" ] || { echo "newest checkpoint: $newest"; ls "$tmp/ck"; exit 1; }
  tail -n 1 "$tmp/m.jsonl" | grep -q '^{"event":"stopped","step":9,"epoch":1,"reason":"step 9 (epoch 1, batch 32): the loss is NaN'
  cp "$tmp/err" "$tmp/err1"
  # the last good checkpoint resumes, and the same step diverges the same way
  fails "$tmp/diverge" $opts --resume
  has "step 9 (epoch 1, batch 32): the loss is NaN" "$tmp/err"
  [ "$(ls "$tmp/ck" | tail -n 1)" = "ckpt-000000000008.safetensors" ]
  # the JIT says the same
  fails "$astc" run "$tmp/diverge.train" -- --threads 1 --quiet
  has "error: step 9 (epoch 1, batch 32): the loss is NaN at learning rate 3200; the first non-finite value is the output of matmul" "$tmp/err"
  echo "nan_stop: ok" ;;
nan_skip)
  mkdir "$tmp/d"
  /usr/bin/python3 - "$tmp/d" <<'PY'
import random, sys
random.seed(1)
def rows(n, bad=None):
    out = []
    for i in range(n):
        c = random.randrange(3)
        x = [3e38] * 8 if i == bad else [random.gauss(c * 1.5, 1.0) for _ in range(8)]
        out.append(",".join(f"{v:.6g}" for v in x) + f",{c}")
    return "\n".join(out) + "\n"
open(sys.argv[1] + "/train.csv", "w").write(rows(600, bad=137))  # one row of extreme values
open(sys.argv[1] + "/test.csv", "w").write(rows(150))
PY
  cat > "$tmp/d/p.train" <<'EOF'
import nn
data table = csv("train.csv", shape: [8], classes: 3, test: "test.csv")
model mlp(x: f32[B, 8]) -> f32[B, 3] {
  h = relu(nn.dense(x, 16))
  return nn.dense(h, 3)
}
train mlp on table {
  loss      = cross_entropy()
  optimizer = sgd(lr: 0.05, momentum: 0.9)
  batch     = 20
  epochs    = 3
  seed      = 4
}
EOF
  cd "$tmp/d"
  "$astc" build p.train -o p
  fails ./p --threads 1 --quiet
  has "error: step 23 (epoch 1, batch 20): the loss is +inf at learning rate 0.05; the first non-finite value is the output of matmul" "$tmp/err"
  has "layer dense_1 called at p.train:4:15, in dense, forward pass); lower the learning rate (0.05 at this step), or look for extreme values in the training data" "$tmp/err"
  ./p --threads 1 --quiet --on-nan=skip-step --metrics m.jsonl --save w.st >"$tmp/out" 2>"$tmp/err"
  cat "$tmp/err" "$tmp/out"
  has "3 steps skipped for a non-finite loss" "$tmp/out"
  [ "$(lines '^warning: step [0-9]* (epoch [123], batch 20): the loss is .*step skipped, no variable changed' "$tmp/err")" -eq 3 ]
  /usr/bin/python3 - m.jsonl w.st <<'PY'
import json, sys, struct
import numpy as np
ev = [json.loads(l) for l in open(sys.argv[1])]
skipped = [(e["step"], e["epoch"]) for e in ev if e["event"] == "skipped_step"]
assert [e for s, e in skipped] == [1, 2, 3], skipped
assert ev[-1]["event"] == "end" and ev[-1]["final_test_accuracy"] > 0.8, ev[-1]
b = open(sys.argv[2], "rb").read()
n = struct.unpack("<Q", b[:8])[0]
assert np.isfinite(np.frombuffer(b[8 + n:], "<f4")).all(), "non-finite weights saved"
print("skipped steps", skipped, "final accuracy", ev[-1]["final_test_accuracy"])
PY
  echo "nan_skip: ok" ;;
nan_skip_bound)
  sed 's/lr: 0.05,/lr: 1e4,/; s/batch     = 32/batch     = 8/' "$mlp" > "$tmp/diverge.train"
  fails "$astc" run "$tmp/diverge.train" -- --threads 1 --quiet --on-nan=skip-step --metrics "$tmp/m.jsonl"
  has "error: 100 steps in a row were skipped for a non-finite loss, and now step 110 (epoch 1, batch 8)" "$tmp/err"
  has "training is not recovering: lower the learning rate" "$tmp/err"
  [ "$(lines '^warning: ' "$tmp/err")" -eq 11 ]   # ten in full, then one that says the rest go to the metrics
  [ "$(lines '"event":"skipped_step"' "$tmp/m.jsonl")" -eq 100 ]
  # giving up ends the run as --on-nan=stop does: a last "stopped" line
  tail -n 1 "$tmp/m.jsonl" | grep -q '^{"event":"stopped","step":110,"epoch":1,"reason":"step 110 (epoch 1, batch 8): the loss is' ||
    { tail -n 2 "$tmp/m.jsonl"; echo "no stopped event at the end of the metrics file"; exit 1; }
  echo "nan_skip_bound: ok" ;;
nan_param)
  sed 's/h = relu(nn.dense(x, 32))/h = nn.dense(x, 32)/; s/return nn.dense(h, 4)/return nn.dense(sqrt(h * h * 0.0), 4)/' "$mlp" \
    > "$tmp/p.train"   # the forward is 0, its gradient 0.5 / sqrt(0) * 0 = NaN
  grep -q "sqrt(h \* h \* 0.0)" "$tmp/p.train"
  fails "$astc" run "$tmp/p.train" -- --threads 1 --quiet --on-nan=skip-step
  has "error: step 2 (epoch 1, batch 32): the loss is NaN at learning rate .*; the first non-finite value is variable h.w as the step read it, before any of its work; the update of step 1 made h.w non-finite (a gradient was not finite while the loss was); skipping steps cannot undo that" "$tmp/err"
  echo "nan_param: ok" ;;
memory)
  # the program: its variables, work arena and batch buffers
  ASTRT_TEST_MEM_AVAILABLE=100000 fails "$astc" run "$mlp" -- --quiet
  has "error: not enough memory to train mlp: it needs .* (variables .*, work arena .*, batch buffers .*) before its data is loaded, but only 100.0 kB is available (ASTRT_TEST_MEM_AVAILABLE); lower the batch size" "$tmp/err"
  # data files larger than what is left: feature files whose bytes are the
  # array (IDX u8, NPY float32) are mapped from disk and train to the same
  # weights; the others (CSV, NPY float64) are refused before they are read,
  # and so is every format with ASTRT_DATA_MAP=off
  mkdir -p "$tmp/d/idx"
  /usr/bin/python3 - "$tmp/d" <<'PY'
import struct, sys
import numpy as np
d = sys.argv[1]
rng = np.random.default_rng(0)
x = rng.normal(size=(20000, 16)).astype("<f4")
y = rng.integers(0, 4, size=20000).astype("<i8")
np.save(d + "/x.npy", x); np.save(d + "/y.npy", y); np.save(d + "/x64.npy", x.astype("<f8"))
np.save(d + "/tx.npy", x[:50]); np.save(d + "/ty.npy", y[:50])
with open(d + "/train.csv", "w") as f:
    for r, c in zip(x, y): f.write(",".join(f"{v:.4f}" for v in r) + f",{c}\n")
def idx(path, arr, code):
    with open(path, "wb") as f:
        f.write(struct.pack(">BBBB", 0, 0, code, arr.ndim) + struct.pack(">" + "I" * arr.ndim, *arr.shape))
        f.write(arr.tobytes())
img = rng.integers(0, 256, size=(20000, 4, 4), dtype=np.uint8)
idx(d + "/idx/train-images-idx3-ubyte", img, 0x08)
idx(d + "/idx/train-labels-idx1-ubyte", (y % 4).astype(np.uint8), 0x08)
idx(d + "/idx/t10k-images-idx3-ubyte", img[:50], 0x08)
idx(d + "/idx/t10k-labels-idx1-ubyte", (y[:50] % 4).astype(np.uint8), 0x08)
PY
  prog() {  # prog FILE DATA: a small model over 16 values
    printf 'import nn\ndata d = %s\nmodel m(x: f32[B, 16]) -> f32[B, 4] {\n  return nn.dense(x, 4)\n}\ntrain m on d {\n  loss = cross_entropy()\n  optimizer = sgd(lr: 0.1)\n  batch = 16\n  eval_batch = 16\n  epochs = 1\n}\n' "$2" > "$1"
  }
  prog "$tmp/d/npy.train" 'npy(x: "x.npy", y: "y.npy", test_x: "tx.npy", test_y: "ty.npy", shape: [16], classes: 4)'
  prog "$tmp/d/npy64.train" 'npy(x: "x64.npy", y: "y.npy", test_x: "tx.npy", test_y: "ty.npy", shape: [16], classes: 4)'
  prog "$tmp/d/csv.train" 'csv("train.csv", shape: [16], classes: 4)'
  prog "$tmp/d/idx.train" 'idx("idx", shape: [4, 4], classes: 4)'
  cd "$tmp/d"
  export ASTC_DATA_PATH="$tmp/d"   # idx("idx") is a data set name
  for f in npy npy64 csv idx; do
    "$astc" run $f.train -- --quiet --save "$tmp/$f-ram.st" >/dev/null   # they train with the memory there is
    ASTRT_DATA_MAP=off ASTRT_TEST_MEM_AVAILABLE=300000 fails "$astc" run $f.train -- --quiet
    has "only 300.0 kB is available (ASTRT_TEST_MEM_AVAILABLE); the data set does not fit in memory" "$tmp/err"
  done
  ASTRT_DATA_MAP=off ASTRT_TEST_MEM_AVAILABLE=300000 fails "$astc" run npy.train -- --quiet
  has "x.npy: reading the file needs 1.3 MB of memory" "$tmp/err"
  ASTRT_DATA_MAP=off ASTRT_TEST_MEM_AVAILABLE=300000 fails "$astc" run idx.train -- --quiet
  has "idx/train-images-idx3-ubyte: reading its 320000 bytes of data needs 320.0 kB of memory" "$tmp/err"
  for f in npy64 csv; do
    ASTRT_TEST_MEM_AVAILABLE=300000 fails "$astc" run $f.train -- --quiet
    has "the data set does not fit in memory, and only uncompressed IDX u8 and NPY uint8 or float32" "$tmp/err"
  done
  for f in npy idx; do
    ASTRT_TEST_MEM_AVAILABLE=300000 "$astc" run $f.train -- --quiet --save "$tmp/$f-map.st" >/dev/null 2>"$tmp/err"
    has "does not fit in memory: it is read from the file as training goes (memory-mapped" "$tmp/err"
    cmp "$tmp/$f-ram.st" "$tmp/$f-map.st"
  done
  echo "memory: ok" ;;
corrupt_data)
  mkdir -p "$tmp/d/idx" "$tmp/d/gz"
  /usr/bin/python3 - "$tmp/d" <<'PY'
import gzip, struct, sys
import numpy as np
d = sys.argv[1]
rng = np.random.default_rng(1)
img = rng.integers(0, 256, size=(300, 4, 4), dtype=np.uint8)
lab = rng.integers(0, 4, size=300).astype(np.uint8)
def idx(arr):
    return struct.pack(">BBBB", 0, 0, 8, arr.ndim) + struct.pack(">" + "I" * arr.ndim, *arr.shape) + arr.tobytes()
files = {"train-images-idx3-ubyte": idx(img), "train-labels-idx1-ubyte": idx(lab),
         "t10k-images-idx3-ubyte": idx(img[:30]), "t10k-labels-idx1-ubyte": idx(lab[:30])}
for name, b in files.items():
    # raw: the training images cut short; gzip: their stream damaged in the middle
    open(f"{d}/idx/{name}", "wb").write(b[:2000] if name == "train-images-idx3-ubyte" else b)
    z = bytearray(gzip.compress(b))
    if name == "train-images-idx3-ubyte":
        for k in range(len(z) // 2, len(z) // 2 + 40): z[k] ^= 0x5a
    open(f"{d}/gz/{name}.gz", "wb").write(bytes(z))
x = rng.normal(size=(300, 16)).astype("<f4")
y = rng.integers(0, 4, size=300).astype("<i8")
with open(d + "/train.csv", "w") as f:
    for i, (r, c) in enumerate(zip(x, y)):
        f.write(",".join("1.5e" if (i == 57 and j == 3) else f"{v:.4f}" for j, v in enumerate(r)) + f",{c}\n")
np.save(d + "/x.npy", x); np.save(d + "/y.npy", y)
b = open(d + "/x.npy", "rb").read()
open(d + "/x.npy", "wb").write(b[:len(b) - 100])  # truncated
PY
  prog() {
    printf 'import nn\ndata d = %s\nmodel m(x: f32[B, 16]) -> f32[B, 4] {\n  return nn.dense(x, 4)\n}\ntrain m on d {\n  loss = cross_entropy()\n  optimizer = sgd(lr: 0.1)\n  batch = 16\n  epochs = 1\n}\n' "$2" > "$1"
  }
  cd "$tmp/d"
  export ASTC_DATA_PATH="$tmp/d"   # idx("idx") is a data set name
  prog idx.train 'idx("idx", shape: [4, 4], classes: 4)'
  prog gz.train 'idx("gz", shape: [4, 4], classes: 4)'
  prog csv.train 'csv("train.csv", shape: [16], classes: 4)'
  prog npy.train 'npy(x: "x.npy", y: "y.npy", shape: [16], classes: 4)'
  "$astc" build idx.train -o idx_prog
  fails ./idx_prog --quiet
  has "error: .*idx/train-images-idx3-ubyte: truncated: header promises 4800 bytes of data, file has 1984" "$tmp/err"
  fails "$astc" run gz.train -- --quiet
  has "error: .*gz/train-images-idx3-ubyte.gz: corrupt gzip data" "$tmp/err"
  fails "$astc" run csv.train -- --quiet
  has "error: train.csv: line 58, column 4: '1.5e' is not a number" "$tmp/err"
  fails "$astc" run npy.train -- --quiet
  has "error: x.npy: " "$tmp/err"
  has "truncated\|holds\|bytes" "$tmp/err"
  echo "corrupt_data: ok" ;;
disk_full)
  "$astc" build "$mlp" -o "$tmp/mlp"
  common="--threads 1 --quiet --checkpoint-every 10"
  "$tmp/mlp" $common --checkpoint "$tmp/ref" --save "$tmp/ref.st" >/dev/null
  status=0
  ASTRT_TEST_KILL_AT_STEP=25 "$tmp/mlp" $common --checkpoint "$tmp/ck" --save "$tmp/final.st" >/dev/null || status=$?
  [ "$status" -eq 137 ] || { echo "expected a kill, got $status"; exit 1; }
  ls "$tmp/ck"
  md5sum "$tmp"/ck/* > "$tmp/before"
  # the disk fills up 1000 bytes into the next checkpoint (step 30)
  ASTRT_FAULT_WRITE_AFTER=1000 fails "$tmp/mlp" $common --checkpoint "$tmp/ck" --resume --save "$tmp/final.st"
  has "error: the checkpoint of step 30 was not written: cannot write safetensors file $tmp/ck/ckpt-000000000030.safetensors: writing the temporary file .* failed after 1000 bytes: No space left on device" "$tmp/err"
  has "the checkpoints already there are intact, and --resume continues from the newest" "$tmp/err"
  md5sum -c --quiet "$tmp/before"
  [ "$(ls "$tmp/ck" | wc -l)" -eq 2 ] || { ls "$tmp/ck"; echo "files left behind"; exit 1; }
  [ ! -e "$tmp/final.st" ]
  "$tmp/mlp" $common --checkpoint "$tmp/ck" --resume --save "$tmp/final.st" >/dev/null
  cmp "$tmp/ref.st" "$tmp/final.st"
  echo "disk_full: ok (resumed bit-identical)" ;;
disk_full_tmpfs)
  command -v unshare >/dev/null || { echo "SKIP: $case: there is no unshare (util-linux)"; exit 77; }
  if ! unshare --mount --propagation private sh -c "mkdir -p '$tmp/mnt' && mount -t tmpfs -o size=64k tmpfs '$tmp/mnt'" \
       2>"$tmp/unshare.err"; then
    echo "SKIP: $case: cannot mount a tmpfs in a private mount namespace here ($(head -n 1 "$tmp/unshare.err"))"
    exit 77
  fi
  "$astc" build "$mlp" -o "$tmp/mlp"
  common="--threads 1 --quiet --checkpoint-every 10"
  "$tmp/mlp" $common --checkpoint "$tmp/ref" --save "$tmp/ref.st" >/dev/null
  cat > "$tmp/inside.sh" <<EOF
set -eu
mount -t tmpfs -o size=64k tmpfs "$tmp/mnt"
status=0
ASTRT_TEST_KILL_AT_STEP=25 "$tmp/mlp" $common --checkpoint "$tmp/mnt/ck" >/dev/null || status=\$?
[ "\$status" -eq 137 ]
md5sum "$tmp"/mnt/ck/* > "$tmp/before"
dd if=/dev/zero of="$tmp/mnt/fill" bs=1024 2>/dev/null || true   # the disk is now full
df -k "$tmp/mnt" | tail -n 1
status=0
"$tmp/mlp" $common --checkpoint "$tmp/mnt/ck" --resume --save "$tmp/final.st" >/dev/null 2>"$tmp/err" || status=\$?
cat "$tmp/err"
[ "\$status" -eq 1 ]
md5sum -c --quiet "$tmp/before"
[ "\$(ls "$tmp/mnt/ck" | wc -l)" -eq 2 ]
rm "$tmp/mnt/fill"
"$tmp/mlp" $common --checkpoint "$tmp/mnt/ck" --resume --save "$tmp/final.st" >/dev/null
EOF
  unshare --mount --propagation private sh "$tmp/inside.sh"
  has "error: the checkpoint of step 30 was not written: .*No space left on device" "$tmp/err"
  has "the checkpoints already there are intact" "$tmp/err"
  cmp "$tmp/ref.st" "$tmp/final.st"
  echo "disk_full_tmpfs: ok (a real full disk; resumed bit-identical)" ;;
ulimit)
  "$astc" build "$mlp" -o "$tmp/mlp"
  if grep -q __asan_init "$tmp/mlp"; then
    echo "SKIP: ulimit: AddressSanitizer reserves terabytes of address space and cannot run under ulimit -v"
    exit 77
  fi
  # limited "$@": runs "$@" under ulimit -v $limit (kB), at most 60 s (a
  # hang is exit status 124); its status in $status, stderr in $tmp/err
  limited() {
    status=0
    ( ulimit -v "$limit" && exec timeout -s KILL 60 "$@" ) >"$tmp/out" 2>"$tmp/err" || status=$?
    cat "$tmp/err"
  }
  want() { [ "$status" -eq "$1" ] || { echo "expected exit status $1, got $status (124, 137: it hung): $2"; exit 1; }; }
  # 150 MB: one OpenBLAS thread of its own (OPENBLAS_NUM_THREADS=2) cannot
  # reserve its buffer when the library loads and spins; exit() would join it
  limit=150000
  export OPENBLAS_NUM_THREADS=2
  limited "$tmp/mlp" --help; want 0 "--help"
  limited "$tmp/mlp" --bogus; want 2 "a bad option"
  limited "$tmp/mlp" --threads 1 --quiet; want 1 "a refusal"
  has "error: not enough address space to train mlp under the limit set by ulimit -v (RLIMIT_AS 153.6 MB, of which .* is in use, .* left): the run needs .*, and OpenBLAS reserves 128 MiB of address space (not memory) for each thread that multiplies matrices, 134.2 MB for 1 thread, with their stacks; raise the limit to at least ulimit -v [0-9]* (kB); OpenBLAS started 1 thread of its own when it was loaded" "$tmp/err"
  has "OPENBLAS_NUM_THREADS=1 saves that" "$tmp/err"
  # an error that is not about memory, with the check off, ends too
  ASTRT_MEM_CHECK=off limited "$tmp/mlp" --threads 1 --quiet --init-from "$tmp/missing.st"; want 1 "--init-from"
  has "missing.st: cannot open" "$tmp/err"
  # no OpenBLAS thread of its own: without the check, the first matrix
  # product would retry its reservation forever
  export OPENBLAS_NUM_THREADS=1
  limited "$tmp/mlp" --threads 2 --quiet; want 1 "a refusal with two threads"
  has "134.2 MB for 1 thread\|268.4 MB for 2 threads, with their stacks; raise the limit to at least ulimit -v [0-9]* (kB), or use fewer threads (--threads 1 reserves one buffer)" "$tmp/err"
  limited "$tmp/mlp" --threads 1 --quiet; want 1 "a refusal with one thread"
  # the limit the message suggests is enough
  limit=$(sed -n 's/.*at least ulimit -v \([0-9]*\) (kB).*/\1/p' "$tmp/err")
  limited "$tmp/mlp" --threads 1 --quiet; want 0 "training under the suggested limit ulimit -v $limit"
  has "final test accuracy" "$tmp/out"
  echo "ulimit: ok" ;;
metrics_full)
  "$astc" build "$mlp" -o "$tmp/mlp"
  ASTRT_FAULT_METRICS_AFTER=100 fails "$tmp/mlp" --threads 1 --quiet --metrics "$tmp/m.jsonl" --checkpoint "$tmp/ck"
  has "error: metrics file $tmp/m.jsonl: write failed: No space left on device; free some space or choose another file with --metrics" "$tmp/err"
  # the line the full disk cut short is taken back: the file ends with the last complete line
  [ "$(wc -c < "$tmp/m.jsonl")" -le 100 ]
  if [ -s "$tmp/m.jsonl" ] && [ "$(tail -c 1 "$tmp/m.jsonl" | od -An -c | tr -d ' ')" != '\n' ]; then
    echo "the metrics file ends with a partial line"; od -c "$tmp/m.jsonl" | tail -3; exit 1
  fi
  [ ! -e "$tmp/ck/ckpt-000000000063.safetensors" ]   # the epoch's checkpoint follows its metrics line
  # a disk full from the start: refused before training (no progress line, no checkpoint)
  ASTRT_FAULT_METRICS_AFTER=0 fails "$tmp/mlp" --threads 1 --progress=plain --metrics "$tmp/m0.jsonl" --checkpoint "$tmp/ck0"
  has "error: metrics file $tmp/m0.jsonl: write failed: No space left on device" "$tmp/err"
  if grep -q "^epoch" "$tmp/err" || [ -n "$(ls "$tmp/ck0" 2>/dev/null)" ]; then echo "trained before refusing"; exit 1; fi
  if [ -c /dev/full ] && [ -w /dev/full ]; then
    fails "$tmp/mlp" --threads 1 --progress=plain --metrics /dev/full
    has "error: metrics file /dev/full: write failed: No space left on device" "$tmp/err"
    if grep -q "^epoch" "$tmp/err"; then echo "trained an epoch before finding /dev/full full"; exit 1; fi
  else
    echo "SKIP: $case: the rest passed; there is no writable /dev/full, so a real full device is not checked"
    exit 77
  fi
  echo "metrics_full: ok" ;;
*) echo "unknown case $case"; exit 2 ;;
esac
