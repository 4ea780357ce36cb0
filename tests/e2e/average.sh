#!/bin/sh
# average.sh — weight averaging end to end (average_synthetic.train: an EMA
# of the weights and of batch norm's running statistics from 30% of training
# on, every 2 steps, copied back every 20):
#   - evaluation from the average: the eval: true program's final test loss
#     differs from the eval: false program's (the live weights), and equals
#     the loss of the eval: false program loading the saved averaged weights
#     (--load); both save the same file (save: true: the averages under the
#     parameters' names); with save: false the file is the live model;
#   - the JIT and the executable train the same weights;
#   - killed just after the averaging starts and just after a copy-back,
#     then resumed, training ends bit-identical to a run that was never
#     interrupted: parameters, averages, counters and optimizer state (saved
#     with save: false, so that the file holds the live parameters too; needs
#     the runtime's test hooks, without them that part is skipped).
#
#   average.sh ASTC
set -eu
astc=$1
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap '[ "${KEEP_TMP:-}" ] && echo "kept $tmp" || rm -rf "$tmp"' EXIT
run="--threads 1 --quiet"
final_loss() {  # the last evaluation's test loss in a metrics file
  /usr/bin/python3 -c 'import json,sys; print([json.loads(l) for l in open(sys.argv[1]) if "\"eval\"" in l][-1]["test_loss"])' "$1"
}
same_tensors() {  # same_tensors A B: the files' tensors are byte-identical (the metadata names the source)
  /usr/bin/python3 - "$1" "$2" <<'PY'
import sys, struct
def tensors(path):
    b = open(path, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    return b[8 + n:]
sys.exit(tensors(sys.argv[1]) != tensors(sys.argv[2]))
PY
}
close() {  # close A B: equal to a float's rounding
  /usr/bin/python3 -c 'import sys; a, b = map(float, sys.argv[1:]); sys.exit(abs(a - b) > 1e-6 * abs(b))' "$1" "$2"
}

sed 's/copy_back: 20)/copy_back: 20, eval: false)/' "$here/average_synthetic.train" > "$tmp/live.train"
sed 's/copy_back: 20)/copy_back: 20, eval: false, save: false)/' "$here/average_synthetic.train" > "$tmp/nosave.train"
grep -q "eval: false)" "$tmp/live.train" && grep -q "save: false)" "$tmp/nosave.train"
"$astc" build "$here/average_synthetic.train" -o "$tmp/avg"
"$astc" build "$tmp/live.train" -o "$tmp/live"
"$astc" build "$tmp/nosave.train" -o "$tmp/nosave"

"$tmp/avg" --threads 1 --save "$tmp/avg.safetensors" --metrics "$tmp/avg.jsonl" >/dev/null 2>"$tmp/err"
grep -q "ema starts" "$tmp/err" || { echo "average: no phase says 'ema starts'"; cat "$tmp/err"; exit 1; }
"$tmp/live" $run --save "$tmp/live.safetensors" --metrics "$tmp/live.jsonl" >/dev/null 2>&1
"$tmp/live" $run --load "$tmp/avg.safetensors" --metrics "$tmp/load.jsonl" >/dev/null 2>&1
"$tmp/nosave" $run --save "$tmp/nosave.safetensors" >/dev/null 2>&1
"$tmp/live" $run --load "$tmp/nosave.safetensors" --metrics "$tmp/load_live.jsonl" >/dev/null 2>&1
averaged=$(final_loss "$tmp/avg.jsonl") live=$(final_loss "$tmp/live.jsonl")
loaded=$(final_loss "$tmp/load.jsonl") loaded_live=$(final_loss "$tmp/load_live.jsonl")
echo "test loss: from the average $averaged, from the live weights $live, the saved average loaded $loaded"
! close "$averaged" "$live" || { echo "average: eval: true evaluated the live weights"; exit 1; }
close "$loaded" "$averaged" || { echo "average: the saved average evaluates to $loaded, not $averaged"; exit 1; }
close "$loaded_live" "$live" || { echo "average: with save: false the file is not the live model"; exit 1; }
same_tensors "$tmp/avg.safetensors" "$tmp/live.safetensors" || { echo "average: eval changed training or the file"; exit 1; }
! same_tensors "$tmp/avg.safetensors" "$tmp/nosave.safetensors" || { echo "average: save: false saved the average"; exit 1; }

"$astc" run "$here/average_synthetic.train" -- $run --save "$tmp/jit.safetensors" >/dev/null 2>&1
cmp "$tmp/avg.safetensors" "$tmp/jit.safetensors" || { echo "average: JIT and executable trained different weights"; exit 1; }

# killed just after the averaging starts (t = 0.3: step 76 is its first) and
# just after a copy-back (steps 95, 115, 135, ...), resumed: bit-identical
if [ "${ASTRT_TEST_HOOKS:-ON}" != ON ]; then
  echo "average: the resume part is skipped: the runtime's test hooks are compiled out"
  exit 0
fi
common="$run --checkpoint-every 3"
"$tmp/nosave" $common --checkpoint "$tmp/ref" --save "$tmp/ref.safetensors" >/dev/null 2>&1
for k in 77 137; do
  status=0
  env ASTRT_TEST_KILL_AT_STEP=$k "$tmp/nosave" $common --checkpoint "$tmp/ck" --resume \
    --save "$tmp/final.safetensors" >/dev/null 2>>"$tmp/log" || status=$?
  [ "$status" -eq 137 ] || { echo "average: expected a kill at step $k, got status $status"; cat "$tmp/log"; exit 1; }
done
"$tmp/nosave" $common --checkpoint "$tmp/ck" --resume --save "$tmp/final.safetensors" >/dev/null 2>>"$tmp/log"
cmp "$tmp/ref.safetensors" "$tmp/final.safetensors" || { echo "average: the resumed run ends elsewhere"; exit 1; }
echo "average: ok (evaluation from the average; resumed across the averaging's start bit-identically)"
