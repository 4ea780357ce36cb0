#!/bin/sh
# golden.sh — runs one golden test, or regenerates its expected output.
#
#   golden.sh check|update ASTC KIND CASE
#
# KIND diag: runs `astc check CASE.train` inside tests/golden/diag and
#            compares its stderr with CASE.err; the exit status must be 1.
# KIND ir:   runs `astc show ARGS` from the repository root, where ARGS is
#            the first line of CASE.ir.src (a file such as
#            examples/fashion_mlp.train, with options such as --after=freeze),
#            and compares stdout with CASE.ir.
set -u
mode=$1 astc=$2 kind=$3 case=$4
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT

case $kind in
diag)
  cd "$here/diag" || exit 2
  "$astc" check "$case.train" 2>"$tmp" >/dev/null
  status=$?
  expected="$case.err"
  if [ "$status" -ne 1 ]; then
    echo "golden $case: astc check exited with $status, expected 1"
    cat "$tmp"
    [ "$mode" = check ] && exit 1
  fi
  ;;
ir)
  src=$(head -n 1 "$here/ir/$case.ir.src")
  cd "$root" || exit 2
  # shellcheck disable=SC2086
  "$astc" show $src >"$tmp" 2>&1 || { echo "golden $case: astc show failed"; cat "$tmp"; exit 1; }
  expected="$here/ir/$case.ir"
  ;;
*) echo "unknown kind $kind"; exit 2 ;;
esac

if [ "$mode" = update ]; then
  cp "$tmp" "$expected"
  echo "updated $expected"
  exit 0
fi
if ! diff -u "$expected" "$tmp"; then
  echo "golden $case: output differs from $expected (regenerate with: cmake --build BUILD --target golden-update)"
  exit 1
fi
exit 0
