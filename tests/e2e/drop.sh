#!/bin/sh
# drop.sh — layer dropping end to end, on a generated text:
#   - a transformer with progressive layer dropping trains (the test loss
#     falls), astc cost prices the dropped work, and the JIT and the
#     executable train the same weights;
#   - killed mid-run and resumed, training ends bit-identical to a run that
#     was never interrupted: the blocks dropped in each step are a function
#     of (seed, step, block), and each block's AdamW count is checkpointed
#     (needs the runtime's test hooks; without them that part is skipped).
#
#   drop.sh ASTC
set -eu
astc=$1
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap '[ "${KEEP_TMP:-}" ] && echo "kept $tmp" || rm -rf "$tmp"' EXIT
/usr/bin/python3 - "$tmp/corpus.txt" <<'PY'
import sys
words = "the quick brown fox jumps over a lazy dog while seven wise owls watch quietly".split()
out, s = [], 1
for i in range(6000):
    s = (s * 1103515245 + 12345) % 2**31
    out.append(words[s % len(words)])
    if s % 7 == 0: out.append(".\n")
open(sys.argv[1], "w").write(" ".join(out))
PY
check() { /usr/bin/python3 "$here/check_metrics.py" "$@"; }
run="--data $tmp --progress=plain --threads 2"
prog="$here/lm_drop.train"

"$astc" show "$prog" 2>/dev/null | grep -q "drop_gate .* block=4" || { echo "drop: no fourth block in the step"; exit 1; }
"$astc" cost "$prog" >"$tmp/cost" 2>&1 || { cat "$tmp/cost"; exit 1; }
grep -q "layer dropping: 4 residual blocks" "$tmp/cost" || { echo "drop: astc cost does not price the blocks"; cat "$tmp/cost"; exit 1; }

"$astc" build "$prog" -o "$tmp/lm"
"$tmp/lm" $run --metrics "$tmp/m1.jsonl" --save "$tmp/w1.safetensors" >/dev/null 2>&1
"$astc" run "$prog" -- $run --metrics "$tmp/m2.jsonl" --save "$tmp/w2.safetensors" >/dev/null 2>&1
check "$tmp/m1.jsonl" --no-classes --text --test-loss-falls --max-test-loss 3.0
cmp "$tmp/w1.safetensors" "$tmp/w2.safetensors" || { echo "drop: JIT and executable trained different weights"; exit 1; }

if [ "${ASTRT_TEST_HOOKS:-ON}" != ON ]; then
  echo "drop: the resume part is skipped: the runtime's test hooks are compiled out"
  exit 0
fi
common="$run --quiet --checkpoint-every 7"
"$tmp/lm" $common --checkpoint "$tmp/ref" --save "$tmp/ref.safetensors" >/dev/null 2>&1
for k in 31 118; do
  status=0
  env ASTRT_TEST_KILL_AT_STEP=$k "$tmp/lm" $common --checkpoint "$tmp/ck" --resume --save "$tmp/final.safetensors" \
    >/dev/null 2>>"$tmp/log" || status=$?
  [ "$status" -eq 137 ] || { echo "drop: expected a kill at step $k, got status $status"; cat "$tmp/log"; exit 1; }
done
"$tmp/lm" $common --checkpoint "$tmp/ck" --resume --save "$tmp/final.safetensors" >/dev/null 2>>"$tmp/log"
cmp "$tmp/ref.safetensors" "$tmp/final.safetensors" || { echo "drop: the resumed run ends elsewhere"; exit 1; }
echo "drop: ok (resumed bit-identically)"
