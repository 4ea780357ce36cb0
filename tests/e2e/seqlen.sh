#!/bin/sh
# seqlen.sh — sequence-length warmup end to end, on a generated text:
#   - both ways of keeping a step (examples, tokens) train: the phases
#     announce each context, the test loss falls, the JIT and the executable
#     give the same metrics;
#   - killed just after a context change and resumed, training ends
#     bit-identical to a run that was never interrupted (needs the runtime's
#     test hooks; without them that part is skipped).
#
#   seqlen.sh ASTC
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

# keep: examples (the default): contexts 4, 8, 12 for a sixth of training each, then 16
"$astc" run "$here/lm_seqlen.train" -- $run --metrics "$tmp/m.jsonl" >"$tmp/out" 2>"$tmp/err"
cat "$tmp/err" "$tmp/out"
for c in "context 4 -> 8" "context 8 -> 12" "context 12 -> 16"; do
  grep -q "$c" "$tmp/err" || { echo "seqlen: no phase says '$c'"; exit 1; }
done
check "$tmp/m.jsonl" --no-classes --text --test-loss-falls --max-test-loss 2.8

# keep: tokens: the same tokens per step, in 16 / context rows per example
sed 's/increment: 4)/increment: 4, keep: tokens)/' "$here/lm_seqlen.train" > "$tmp/tok.train"
grep -q "keep: tokens" "$tmp/tok.train"
"$astc" show "$tmp/tok.train" 2>/dev/null | grep -q "context 4 (4 rows per example)"
"$astc" build "$tmp/tok.train" -o "$tmp/tok"
"$tmp/tok" $run --metrics "$tmp/t1.jsonl" --save "$tmp/t1.safetensors" >/dev/null 2>&1
"$astc" run "$tmp/tok.train" -- $run --metrics "$tmp/t2.jsonl" --save "$tmp/t2.safetensors" >/dev/null 2>&1
check "$tmp/t1.jsonl" --no-classes --text --test-loss-falls --max-test-loss 2.8
cmp "$tmp/t1.safetensors" "$tmp/t2.safetensors" || { echo "seqlen: JIT and executable trained different weights"; exit 1; }

# killed right after the context changes (contexts change after steps 40, 80 and 120), resumed: bit-identical
if [ "${ASTRT_TEST_HOOKS:-ON}" != ON ]; then
  echo "seqlen: the resume part is skipped: the runtime's test hooks are compiled out"
  exit 0
fi
"$astc" build "$here/lm_seqlen.train" -o "$tmp/lm"
common="$run --quiet --checkpoint-every 3"
"$tmp/lm" $common --checkpoint "$tmp/ref" --save "$tmp/ref.safetensors" >/dev/null 2>&1
for k in 43 121; do
  status=0
  env ASTRT_TEST_KILL_AT_STEP=$k "$tmp/lm" $common --checkpoint "$tmp/ck" --resume --save "$tmp/final.safetensors" \
    >/dev/null 2>>"$tmp/log" || status=$?
  [ "$status" -eq 137 ] || { echo "seqlen: expected a kill at step $k, got status $status"; cat "$tmp/log"; exit 1; }
done
"$tmp/lm" $common --checkpoint "$tmp/ck" --resume --save "$tmp/final.safetensors" >/dev/null 2>>"$tmp/log"
cmp "$tmp/ref.safetensors" "$tmp/final.safetensors" || { echo "seqlen: the resumed run ends elsewhere"; exit 1; }
echo "seqlen: ok (resumed across context changes bit-identically)"
