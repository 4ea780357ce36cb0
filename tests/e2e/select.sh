#!/bin/sh
# select.sh — selective backprop end to end:
#   - a classifier with batch norm and dropout trains through its selecting
#     phase: the phases announce it, the accuracy is reached, the JIT and the
#     executable train the same weights; with interrupt it trains as well;
#   - a sequence model with sequence-length warmup and selection together
#     (rows shortened, then scored and selected) trains;
#   - killed right after selection starts (and inside it), resumed, training
#     ends bit-identical to a run that was never interrupted (needs the
#     runtime's test hooks; without them that part is skipped).
#
#   select.sh ASTC
set -eu
astc=$1
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap '[ "${KEEP_TMP:-}" ] && echo "kept $tmp" || rm -rf "$tmp"' EXIT
check() { /usr/bin/python3 "$here/check_metrics.py" "$@"; }
run="--progress=plain --threads 2"

# the classifier: JIT and executable, the same weights
"$astc" run "$here/select.train" -- $run --metrics "$tmp/m.jsonl" --save "$tmp/jit.safetensors" >"$tmp/out" 2>"$tmp/err"
cat "$tmp/err" "$tmp/out"
for c in "select backprop: train on 0.5 of each batch" "select backprop ends"; do
  grep -q "$c" "$tmp/err" || { echo "select: no phase says '$c'"; exit 1; }
done
check "$tmp/m.jsonl" --evals 4 --min-accuracy 0.6
"$astc" build "$here/select.train" -o "$tmp/mlp"
"$tmp/mlp" $run --save "$tmp/aot.safetensors" >/dev/null 2>&1
cmp "$tmp/jit.safetensors" "$tmp/aot.safetensors" || { echo "select: JIT and executable trained different weights"; exit 1; }
"$astc" cost "$here/select.train" 2>/dev/null | grep -q "32>16" || { echo "select: astc cost shows no kept rows"; exit 1; }

# interrupt: every 3rd step trains on the whole batch
sed 's/end: 0.75)/end: 0.75, interrupt: 3)/' "$here/select.train" > "$tmp/int.train"
grep -q "interrupt: 3" "$tmp/int.train"
"$astc" run "$tmp/int.train" -- $run --metrics "$tmp/i.jsonl" >/dev/null 2>&1
check "$tmp/i.jsonl" --evals 4 --min-accuracy 0.6

# a language model: seqlen warmup and selection at once (shortened rows are scored and selected)
/usr/bin/python3 - "$tmp/corpus.txt" <<'PY'
import sys
words = "the quick brown fox jumps over a lazy dog while seven wise owls watch quietly".split()
out, s = [], 1
for i in range(4000):
    s = (s * 1103515245 + 12345) % 2**31
    out.append(words[s % len(words)])
open(sys.argv[1], "w").write(" ".join(out))
PY
sed -e 's/steps      = 240/steps      = 120/' \
    -e 's/seqlen warmup(from: 4, until: 0.5, increment: 4)/seqlen warmup(from: 8, until: 0.5, increment: 8)\n  select backprop(keep: 0.5, start: 0.25, end: 0.75)/' \
    "$here/lm_seqlen.train" > "$tmp/lm.train"
grep -q "select backprop" "$tmp/lm.train"
"$astc" run "$tmp/lm.train" -- $run --data "$tmp" --metrics "$tmp/lm.jsonl" >"$tmp/lmout" 2>"$tmp/lmerr" ||
  { cat "$tmp/lmerr"; exit 1; }
grep -q "select backprop: train on 0.5" "$tmp/lmerr" || { echo "select: the language model does not select"; exit 1; }
check "$tmp/lm.jsonl" --no-classes --text --test-loss-falls

# killed right after selection starts (it starts after step 63 of 252) and inside it, resumed: bit-identical
if [ "${ASTRT_TEST_HOOKS:-ON}" != ON ]; then
  echo "select: the resume part is skipped: the runtime's test hooks are compiled out"
  exit 0
fi
common="$run --quiet --checkpoint-every 5"
"$tmp/mlp" $common --checkpoint "$tmp/ref" --save "$tmp/ref.safetensors" >/dev/null 2>&1
for k in 65 130; do
  status=0
  env ASTRT_TEST_KILL_AT_STEP=$k "$tmp/mlp" $common --checkpoint "$tmp/ck" --resume --save "$tmp/final.safetensors" \
    >/dev/null 2>>"$tmp/log" || status=$?
  [ "$status" -eq 137 ] || { echo "select: expected a kill at step $k, got status $status"; cat "$tmp/log"; exit 1; }
done
"$tmp/mlp" $common --checkpoint "$tmp/ck" --resume --save "$tmp/final.safetensors" >/dev/null 2>>"$tmp/log"
cmp "$tmp/ref.safetensors" "$tmp/final.safetensors" || { echo "select: the resumed run ends elsewhere"; exit 1; }
echo "select: ok (resumed across the selecting phase bit-identically)"
