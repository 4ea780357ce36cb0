#!/bin/sh
# ckpt_meta.sh — the metadata of a checkpoint is integrity-checked
# (docs/checkpoints.md): its CRC-32 covers the metadata as well as the
# tensors, and step, epoch, position and samples must be where the run is
# after that many steps.
#
#   ckpt_meta.sh ASTC
#
# A run of 60 steps with a checkpoint every 10 leaves ckpt-50 and ckpt-60.
# Each case starts from a copy of them, edits the newest, resumes and must
# see it skipped with a warning naming it, resume from ckpt-50 (and say so),
# and end bit-identical to the uninterrupted run:
#   - astc.samples edited by hand (the CRC no longer matches);
#   - astc.samples and astc.epoch edited, the CRC recomputed as the docs
#     describe (the position is inconsistent with the step);
#   - a checkpoint of format 1 (CRC over the tensors only, as astc wrote
#     before) is read, and its metadata still checked for consistency;
#   - both checkpoints bad: no usable checkpoint, exit 1.
set -eu
astc=$1
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap '[ "${KEEP_TMP:-}" ] && echo "kept $tmp" || rm -rf "$tmp"' EXIT
"$astc" build "$here/mlp_synthetic.train" -o "$tmp/mlp"
opts="--threads 1 --steps 60 --checkpoint-every 10"
"$tmp/mlp" $opts --quiet --checkpoint "$tmp/good" --save "$tmp/ref.st" >/dev/null
[ "$(ls "$tmp/good")" = "ckpt-000000000050.safetensors
ckpt-000000000060.safetensors" ] || { ls "$tmp/good"; echo "unexpected checkpoints"; exit 1; }

# edit FILE KEY=VALUE... [--crc] [--format1]: sets metadata values; --crc
# recomputes astc.crc32 (format 2: metadata then tensors), --format1 makes
# it a format-1 checkpoint (CRC of the tensor bytes only)
edit() {
  /usr/bin/python3 - "$@" <<'PY'
import json, struct, sys, zlib
path, args = sys.argv[1], sys.argv[2:]
with open(path, "rb") as f:
    n = struct.unpack("<Q", f.read(8))[0]
    header = json.loads(f.read(n))
    data = f.read()
meta = header["__metadata__"]
for a in args:
    if "=" in a:
        k, v = a.split("=", 1)
        assert k in meta, k
        meta[k] = v
if "--format1" in args:
    meta["astc.checkpoint"] = "1"
    meta["astc.crc32"] = "%08x" % zlib.crc32(data)
elif "--crc" in args:
    c = 0
    for k in sorted(k for k in meta if k != "astc.crc32"):
        c = zlib.crc32(k.encode() + b"\0" + meta[k].encode() + b"\0", c)
    meta["astc.crc32"] = "%08x" % zlib.crc32(data, c)
text = json.dumps(header, separators=(",", ":")).encode()
text += b" " * (-len(text) % 8)
with open(path, "wb") as f:
    f.write(struct.pack("<Q", len(text)) + text + data)
PY
}
fresh() { rm -rf "$tmp/ck"; cp -r "$tmp/good" "$tmp/ck"; }
newest=$tmp/ck/ckpt-000000000060.safetensors
has() { grep -q -- "$1" "$tmp/err" || { echo "missing: $1"; cat "$tmp/err"; exit 1; }; }
# resumes from the copy; the newest must be skipped with $1 in the warning
falls_back() {
  "$tmp/mlp" $opts --checkpoint "$tmp/ck" --resume --save "$tmp/out.st" >/dev/null 2>"$tmp/err" ||
    { cat "$tmp/err"; echo "resuming failed"; exit 1; }
  has "^warning: skipping checkpoint $newest: $1"
  has "^  resumed from $tmp/ck/ckpt-000000000050.safetensors: step 50 of 60, epoch 1 at example 1600 of 2000, 83.3% of training done"
  cmp "$tmp/ref.st" "$tmp/out.st"
}

# the position of a good checkpoint, and a resume that says where it is
fresh
"$tmp/mlp" $opts --checkpoint "$tmp/ck" --resume >/dev/null 2>"$tmp/err"
has "^  resumed from $newest: step 60 of 60, epoch 1 at example 1920 of 2000, 100.0% of training done"
grep -q '"astc.checkpoint":"2"' "$newest" || { echo "not a checkpoint of format 2"; exit 1; }

# good checkpoints of a recipe (phase changes inside and between epochs, 6
# epochs) pass the consistency check: the newest, and the one before it
"$astc" build "$here/recipe_synthetic.train" -o "$tmp/recipe"
"$tmp/recipe" --threads 1 --quiet --checkpoint "$tmp/rck" --checkpoint-every 7 >/dev/null
for k in 1 2; do
  last=$(ls "$tmp/rck" | tail -n 1)
  "$tmp/recipe" --threads 1 --checkpoint "$tmp/rck" --checkpoint-every 7 --resume >/dev/null 2>"$tmp/err"
  has "^  resumed from $tmp/rck/$last: step "
  if grep -q "skipping" "$tmp/err"; then cat "$tmp/err"; echo "a good checkpoint was skipped"; exit 1; fi
  rm "$tmp/rck/$last"
done

# 1. samples edited by hand: the checksum catches it
fresh
edit "$newest" astc.samples=1919
falls_back "$newest is corrupt: the checksum of its metadata and data is [0-9a-f]*, the file says"
echo "edited samples: skipped for its checksum, resumed from the previous checkpoint, bit-identical"

# 2. edited with the checksum recomputed: the position is inconsistent
fresh
edit "$newest" astc.samples=1888 --crc
falls_back "$newest is inconsistent: after 60 steps this run has 0 complete epochs, is at example 1920 of 2000 and has seen 1920 samples, but the checkpoint says 0 complete epochs, example 1920, 1888 samples"
fresh
edit "$newest" astc.epoch=1 --crc
falls_back "$newest is inconsistent: after 60 steps this run has 0 complete epochs, is at example 1920 of 2000 and has seen 1920 samples, but the checkpoint says 1 complete epochs, example 1920, 1920 samples"
fresh
edit "$newest" astc.step=61 --crc  # the file name says 60, the budget ends at 60
falls_back "$newest is inconsistent: it says 61 steps were done, but this run's budget ends after 60"
echo "consistent checksum, inconsistent position: skipped, resumed from the previous checkpoint, bit-identical"

# 3. format 1 (before the checksum covered the metadata): read, still checked
fresh
edit "$newest" --format1
"$tmp/mlp" $opts --checkpoint "$tmp/ck" --resume >/dev/null 2>"$tmp/err"
has "^  resumed from $newest: step 60 of 60"
if grep -q "skipping" "$tmp/err"; then cat "$tmp/err"; echo "a good format-1 checkpoint was skipped"; exit 1; fi
fresh
edit "$newest" astc.samples=1888 --format1
falls_back "$newest is inconsistent: after 60 steps"
echo "format 1: read; an inconsistent one skipped"

# 4. both unusable: refused, exit 1, naming each
fresh
edit "$newest" astc.samples=1919
edit "$tmp/ck/ckpt-000000000050.safetensors" astc.pos=1599 --crc
status=0
"$tmp/mlp" $opts --checkpoint "$tmp/ck" --resume >/dev/null 2>"$tmp/err" || status=$?
cat "$tmp/err"
[ "$status" -eq 1 ] || { echo "expected exit status 1, got $status"; exit 1; }
has "^warning: skipping checkpoint $tmp/ck/ckpt-000000000050.safetensors: .* is inconsistent"
has "error: --resume: no usable checkpoint in $tmp/ck: $newest is corrupt"
echo "ckpt_meta: ok"
