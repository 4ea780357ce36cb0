#!/bin/sh
# resize.sh — progressive resizing end to end, on Fashion-MNIST (skipped,
# exit 77, where it is not installed):
#   - the phases announce each image size, training reaches an accuracy
#     above chance, the JIT and the executable train the same weights (area),
#     and bilinear scaling trains too;
#   - killed just after a size change and resumed, training ends
#     bit-identical to a run that was never interrupted (needs the runtime's
#     test hooks; without them that part is skipped).
#
#   resize.sh ASTC
set -eu
astc=$1
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap '[ "${KEEP_TMP:-}" ] && echo "kept $tmp" || rm -rf "$tmp"' EXIT
check() { /usr/bin/python3 "$here/check_metrics.py" "$@"; }
found=no
for d in $(echo "${ASTC_DATA_PATH:-}" | tr ':' ' ') /usr/share/datasets; do [ -d "$d/fashion-mnist" ] && found=yes; done
if [ $found = no ]; then
  echo "SKIP: resize: Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)"
  exit 77
fi
run="--progress=plain --threads 2"

# 300 steps; sides 12 (14 rounded down to a multiple of 4), 16, 20, 24, then 28 from step 150
"$astc" run "$here/cnn_resize.train" -- $run --metrics "$tmp/m.jsonl" --save "$tmp/jit.safetensors" \
  >"$tmp/out" 2>"$tmp/err"
cat "$tmp/err" "$tmp/out"
for c in "images 12x12 -> 16x16" "images 20x20 -> 24x24" "images 24x24 -> 28x28"; do
  grep -q "$c" "$tmp/err" || { echo "resize: no phase says '$c'"; exit 1; }
done
check "$tmp/m.jsonl" --evals 1 --min-accuracy 0.5
"$astc" build "$here/cnn_resize.train" -o "$tmp/net"
"$tmp/net" $run --save "$tmp/aot.safetensors" >/dev/null 2>&1
cmp "$tmp/jit.safetensors" "$tmp/aot.safetensors" || { echo "resize: JIT and executable trained different weights"; exit 1; }

sed 's/increment: 4)/increment: 4, mode: bilinear)/' "$here/cnn_resize.train" > "$tmp/bilinear.train"
grep -q "mode: bilinear" "$tmp/bilinear.train"
"$astc" run "$tmp/bilinear.train" -- $run --metrics "$tmp/b.jsonl" >/dev/null 2>&1
check "$tmp/b.jsonl" --evals 1 --min-accuracy 0.5

if [ "${ASTRT_TEST_HOOKS:-ON}" != ON ]; then
  echo "resize: the resume part is skipped: the runtime's test hooks are compiled out"
  exit 0
fi
common="$run --quiet --checkpoint-every 5"
"$tmp/net" $common --checkpoint "$tmp/ref" --save "$tmp/ref.safetensors" >/dev/null 2>&1
for k in 66 152; do  # sizes change after steps 64 and 150
  status=0
  env ASTRT_TEST_KILL_AT_STEP=$k "$tmp/net" $common --checkpoint "$tmp/ck" --resume \
    --save "$tmp/final.safetensors" >/dev/null 2>>"$tmp/log" || status=$?
  [ "$status" -eq 137 ] || { echo "resize: expected a kill at step $k, got status $status"; cat "$tmp/log"; exit 1; }
done
"$tmp/net" $common --checkpoint "$tmp/ck" --resume --save "$tmp/final.safetensors" >/dev/null 2>>"$tmp/log"
cmp "$tmp/ref.safetensors" "$tmp/final.safetensors" || { echo "resize: the resumed run ends elsewhere"; exit 1; }
echo "resize: ok (resumed across size changes bit-identically)"
