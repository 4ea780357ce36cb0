#!/bin/sh
# resume.sh — training killed with SIGKILL at many points, then resumed,
# must end bit-identical to a run that was never interrupted.
#
#   resume.sh ASTC
#
# The program is a freeze + batch recipe (phase changes at t = 0.15, 0.3,
# 0.7). Kill points: mid-epoch; right after a batch phase change; inside a
# checkpoint write (the temporary file half written); right after the freeze
# phase change (which builds the frozen prefix's cache); after the last
# step, before the final save; and external kills at arbitrary moments.
# The kill points are the runtime's test hooks: without them (a libastrt
# built without -DASTRT_TEST_HOOKS=ON; ctest sets ASTRT_TEST_HOOKS) the test
# is skipped, exit 77.
set -eu
astc=$1
if [ "${ASTRT_TEST_HOOKS:-ON}" != ON ]; then
  echo "resume: skipped: the runtime's test hooks are compiled out (configure with -DASTRT_TEST_HOOKS=ON)"
  exit 77
fi
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap '[ "${KEEP_TMP:-}" ] && echo "kept $tmp" || rm -rf "$tmp"' EXIT
prog="$tmp/recipe"
"$astc" build "$here/recipe_synthetic.train" -o "$prog"
common="--threads 1 --quiet --checkpoint-every 3"

# the reference: no interruption
"$prog" $common --checkpoint "$tmp/ref-ckpt" --save "$tmp/ref.safetensors" --metrics "$tmp/ref.jsonl" >/dev/null

ckpt="$tmp/ckpt"
attempt() {  # runs once with the given environment; returns the exit status
  env "$@" "$prog" $common --checkpoint "$ckpt" --resume --save "$tmp/final.safetensors" \
      --metrics "$tmp/m.jsonl" >/dev/null 2>>"$tmp/log" && return 0 || return $?
}
killed() {  # expects the attempt to die by SIGKILL (status 137)
  status=0
  attempt "$@" || status=$?
  if [ "$status" -ne 137 ]; then echo "expected a kill with $*, got status $status"; cat "$tmp/log"; exit 1; fi
  echo "killed: $*"
}
last=$(/usr/bin/python3 -c 'import json,sys; print(max(json.loads(l).get("step", 0) for l in open(sys.argv[1])))' "$tmp/ref.jsonl")
killed ASTRT_TEST_KILL_AT_STEP=7            # mid-epoch, phase 1 (last checkpoint at step 6)
killed ASTRT_TEST_KILL_AT_STEP=20           # just after the batch 32 -> 64 change (t = 0.15 at step 19)
killed ASTRT_TEST_KILL_DURING_WRITE=300     # inside the next checkpoint write
killed ASTRT_TEST_KILL_AT_STEP=45           # just after the freeze change (t = 0.7 at step 44)
killed ASTRT_TEST_KILL_AT_STEP="$last"      # the last step: killed before the final save
attempt ASTC_NOTHING=1                      # the final resume runs to the end
ls "$ckpt"
cmp "$tmp/ref.safetensors" "$tmp/final.safetensors"
# every resume above found its newest checkpoint good (consistent position)
if grep -q "skipping checkpoint" "$tmp/log"; then cat "$tmp/log"; echo "a good checkpoint was skipped"; exit 1; fi
echo "final weights bit-identical to the uninterrupted run"
# the metrics log continues cleanly: same evaluations as the reference (timings aside)
/usr/bin/python3 - "$tmp/ref.jsonl" "$tmp/m.jsonl" <<'PY'
import json, sys
a, b = ([json.loads(l) for l in open(p) if l.strip()] for p in sys.argv[1:])
# two empty logs would be "the same": the reference must have evaluations
if not any(r.get("event") == "eval" for r in a) or a[-1].get("event") != "end":
    sys.exit(f"the reference metrics log has no evaluation or no end line ({len(a)} lines)")
strip = lambda r: {k: v for k, v in r.items() if "seconds" not in k and k != "time_to_target"}
if [strip(r) for r in a] != [strip(r) for r in b]:
    sys.exit("the resumed metrics log differs from the reference")
print(f"metrics log: {len(b)} lines, same as the reference")
PY

# another program's checkpoints are not resumed: one with another learning
# rate (same variables, phases and batch: only the program's hash tells),
# one with another width (its variables do not fit: said so, not "corrupt"),
# one with another batch coupling
sed 's/lr: 0.05/lr: 0.02/' "$here/recipe_synthetic.train" > "$tmp/other_lr.train"
sed 's/nn.dense(h, 16)/nn.dense(h, 12)/' "$here/recipe_synthetic.train" > "$tmp/other_width.train"
# (the ramp's coupling shows only in a phase's title, a comment: hashed as a number)
sed 's/lr_scale: sqrt/lr_scale: linear/' "$here/recipe_synthetic.train" > "$tmp/other_coupling.train"
for other in other_lr other_width other_coupling; do
  "$astc" build "$tmp/$other.train" -o "$tmp/$other"
  if "$tmp/$other" $common --checkpoint "$tmp/ref-ckpt" --resume 2>"$tmp/err" >/dev/null; then
    echo "$other resumed the reference's checkpoint"; exit 1
  fi
  grep -q "written by a different program" "$tmp/err" || { cat "$tmp/err"; echo "$other: no mismatch said"; exit 1; }
  if grep -q "wrong shape" "$tmp/err"; then cat "$tmp/err"; echo "$other: a mismatch reported as a bad file"; exit 1; fi
done
echo "other programs' checkpoints refused"
# a run that does not resume is refused a directory of another run's
# checkpoints, before it touches that run's metrics file
cp "$tmp/ref.jsonl" "$tmp/ref-before.jsonl"
if "$prog" $common --checkpoint "$tmp/ref-ckpt" --metrics "$tmp/ref.jsonl" 2>"$tmp/err" >/dev/null; then
  echo "a fresh run wrote into a directory of checkpoints"; exit 1
fi
grep -q "already holds" "$tmp/err" || { cat "$tmp/err"; exit 1; }
cmp "$tmp/ref-before.jsonl" "$tmp/ref.jsonl" || { echo "the refused run changed the metrics file"; exit 1; }

# external kills at arbitrary moments, in a fresh directory, until a run completes
ckpt="$tmp/ckpt2"
rm -f "$tmp/final.safetensors"
kills=0
tries=0
while [ ! -f "$tmp/final.safetensors" ] && [ "$tries" -lt 12 ]; do
  delay=$(awk -v k="$tries" 'BEGIN { srand(k + 1); printf "%.3f", 0.02 + rand() * 0.08 }')
  timeout -s KILL "$delay" "$prog" $common --checkpoint "$ckpt" --resume --save "$tmp/final.safetensors" \
      >/dev/null 2>>"$tmp/log" || kills=$((kills + 1))
  tries=$((tries + 1))
done
# on a loaded machine the kills may all land early; the last run is never killed
[ -f "$tmp/final.safetensors" ] ||
  "$prog" $common --checkpoint "$ckpt" --resume --save "$tmp/final.safetensors" >/dev/null 2>>"$tmp/log"
cmp "$tmp/ref.safetensors" "$tmp/final.safetensors"
echo "external kills: $kills, then bit-identical"

# a corrupt newest checkpoint is skipped for the previous one
newest=$(ls "$ckpt"/ckpt-*.safetensors | tail -n 1)
printf 'garbage' | dd of="$newest" bs=1 seek=200 conv=notrunc 2>/dev/null
"$prog" $common --checkpoint "$ckpt" --resume 2>"$tmp/err" >/dev/null || true
grep -q "skipping checkpoint" "$tmp/err" || { cat "$tmp/err"; echo "the corrupt checkpoint was not reported"; exit 1; }
# a truncated one too; with every checkpoint unusable, resuming fails with a clear error
for f in "$ckpt"/ckpt-*.safetensors; do truncate -s 100 "$f"; done
if "$prog" $common --checkpoint "$ckpt" --resume 2>"$tmp/err" >/dev/null; then echo "resumed from garbage"; exit 1; fi
cat "$tmp/err"
grep -q "no usable checkpoint" "$tmp/err"
# NumPy alone reads a checkpoint: names, shapes and values
/usr/bin/python3 "$here/safetensors_numpy.py" "$(ls "$tmp"/ref-ckpt/ckpt-*.safetensors | tail -n 1)" >/dev/null
echo "resume: ok"
