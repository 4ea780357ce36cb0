#!/bin/sh
# run_fuzz.sh — builds the libFuzzer targets (clang-19, AddressSanitizer +
# UndefinedBehaviorSanitizer) in a separate build directory and fuzzes each
# target for a while, one after the other. See docs/fuzzing.md.
#
#   tests/fuzz/run_fuzz.sh [SECONDS_PER_TARGET [TARGET...]]
#
# SECONDS_PER_TARGET defaults to 60 (what CI runs, tools/test.sh); TARGETs
# default to all: frontend idx csv npy safetensors.
#
# Each target starts from its seed corpus (make_seeds.py: the repository's
# .train programs for frontend, small valid data files for the others) plus
# its regression inputs (regressions/<target>/), copied into a work
# directory: the repository is never written to. Fails (exit 1) if any
# target crashes, leaks, trips a sanitizer, runs out of memory
# (-rss_limit_mb=2048) or takes longer than 10 s on one input; the input is
# kept under WORK/artifacts/<target>/ and the command that reproduces it is
# printed. Prints the executions of each target.
#
# Environment:
#   ASTC_FUZZ_BUILD  build directory (default: build-fuzz in the repository)
#   ASTC_FUZZ_WORK   work directory: corpora, logs, artifacts. Default: a new
#                    temporary directory, removed after a clean run. A given
#                    directory is kept and reused, so its corpora grow from
#                    run to run.
#   ASTC_FUZZ_ARGS   extra libFuzzer options for every target (e.g. -jobs=2)
set -eu

secs=${1:-60}
[ $# -gt 0 ] && shift
targets=${*:-frontend idx csv npy safetensors}
case $secs in
  ''|*[!0-9]*) echo "run_fuzz: SECONDS_PER_TARGET must be a number, not '$secs'" >&2; exit 2 ;;
esac

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${ASTC_FUZZ_BUILD:-$root/build-fuzz}
jobs=$(nproc 2>/dev/null || echo 2)

if [ -n "${ASTC_FUZZ_WORK:-}" ]; then
  work=$ASTC_FUZZ_WORK
  keep=1
  mkdir -p "$work"
else
  work=$(mktemp -d "${TMPDIR:-/tmp}/astc-fuzz.XXXXXX")
  keep=0
fi
work=$(cd "$work" && pwd)

# the targets' own temporary files (inputs as files, safetensors written
# back with fsync): a tmpfs when there is one
if [ -d /dev/shm ] && [ -w /dev/shm ]; then target_tmp=/dev/shm; else target_tmp=$work; fi

echo "run_fuzz: building the fuzz targets in $build"
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DASTC_FUZZ=ON -DCMAKE_C_COMPILER=clang-19 >"$work/configure.log" 2>&1 ||
  { cat "$work/configure.log"; exit 1; }
cmake --build "$build" --target fuzz -j "$jobs"

python3 "$here/make_seeds.py" "$work/seeds"

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

failed=""
summary=""
for t in $targets; do
  bin=$build/tests/fuzz/fuzz_$t
  if [ ! -x "$bin" ]; then
    echo "run_fuzz: no fuzz target '$t' ($bin)" >&2
    exit 2
  fi
  corpus=$work/corpus/$t
  artifacts=$work/artifacts/$t
  log=$work/$t.log
  mkdir -p "$corpus" "$artifacts"
  cp "$work/seeds/$t/"* "$corpus/"
  for f in "$here/regressions/$t/"*; do
    [ -f "$f" ] && cp "$f" "$corpus/"
  done
  dict=""
  [ "$t" = frontend ] && dict=-dict=$here/train.dict
  echo "run_fuzz: fuzzing $t for ${secs} s (log: $log)"
  # shellcheck disable=SC2086
  if TMPDIR=$target_tmp "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
       -print_final_stats=1 -artifact_prefix="$artifacts/" $dict ${ASTC_FUZZ_ARGS:-} \
       "$corpus" >"$log" 2>&1; then
    rc=0
  else
    rc=$?
  fi
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
  cov=$(grep -E '^#[0-9]+.*(DONE|pulse|NEW|REDUCE|INITED)' "$log" | tail -n 1 |
        sed -n 's/.* cov: \([0-9]*\) ft: \([0-9]*\).*/cov \1, ft \2/p')
  files=$(find "$corpus" -type f | wc -l)
  line="$t: ${execs:-?} executions in ${secs} s (${rate:-?}/s), corpus $files inputs, ${cov:-cov ?}"
  if [ "$rc" -ne 0 ]; then
    line="$line — FAILED (exit $rc)"
    failed="$failed $t"
    echo "run_fuzz: $t failed; the end of its log:"
    grep -v -E '^#[0-9]+ +(NEW|REDUCE|pulse)' "$log" | tail -n 60
    for a in "$artifacts"/*; do
      [ -f "$a" ] && echo "run_fuzz: reproduce with: TMPDIR=/tmp $bin $a"
    done
  fi
  echo "run_fuzz: $line"
  summary="$summary
  $line"
done

echo "run_fuzz: summary ($secs s per target):$summary"
if [ -n "$failed" ]; then
  echo "run_fuzz: FAILED:$failed; inputs, logs and corpora are in $work" >&2
  exit 1
fi
if [ "$keep" -eq 0 ]; then
  rm -rf "$work"
else
  echo "run_fuzz: corpora and logs are in $work"
fi
echo "run_fuzz: all targets ran clean"
