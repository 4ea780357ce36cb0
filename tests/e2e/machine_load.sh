#!/bin/sh
# machine_load.sh — astc's machine calibration (compiler/tools/machine.c:
# sgemm rates and memory bandwidth, which astc cost prices every step with)
# measures the same on a busy machine as on a quiet one, because it times CPU
# time, not wall clock: a calibration taken at a load average of 15 once
# recorded sgemm at 28 GFLOP/s instead of about 200.
#
#   machine_load.sh ASTC
#
# Calibrates once, then again while 3 busy loops per CPU compete for the
# cores (a wall-clock calibration then gets about 2/7 of a core per thread),
# and requires the busy calibration's sgemm 1024 rate and bandwidth to be at
# least 60% of the first's.
set -eu
astc=$1
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
pids=
cleanup() {
  for p in $pids; do kill "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT
prog="$here/mlp_synthetic.train"

calibrate() {  # calibrate DIR: machine.txt under DIR/astc
  XDG_CACHE_HOME=$1 "$astc" cost "$prog" --recalibrate >/dev/null 2>&1 || {
    XDG_CACHE_HOME=$1 "$astc" cost "$prog" --recalibrate; exit 1; }
}
value() {  # value DIR KEY FIELD
  awk -v k="$2" -v f="$3" '$1 == k && (k != "gemm" || $2 == 1024) { print $f }' "$1/astc/machine.txt"
}

calibrate "$tmp/quiet"
n=$(getconf _NPROCESSORS_ONLN)
i=0
while [ "$i" -lt $((3 * n)) ]; do
  sh -c 'while :; do :; done' &
  pids="$pids $!"
  i=$((i + 1))
done
sleep 0.2
calibrate "$tmp/busy"
for p in $pids; do kill "$p" 2>/dev/null || true; done
pids=

q_gemm=$(value "$tmp/quiet" gemm 3); b_gemm=$(value "$tmp/busy" gemm 3)
q_bw=$(value "$tmp/quiet" bandwidth 2); b_bw=$(value "$tmp/busy" bandwidth 2)
echo "sgemm 1024: $q_gemm GFLOP/s quiet, $b_gemm busy; bandwidth: $q_bw GB/s quiet, $b_bw busy"
awk -v q="$q_gemm" -v b="$b_gemm" -v qb="$q_bw" -v bb="$b_bw" 'BEGIN {
  if (!(q > 0 && qb > 0)) { print "FAIL: no calibration values"; exit 1 }
  if (b < 0.6 * q) { print "FAIL: sgemm measured " b / q * 100 "% of the quiet rate under load"; exit 1 }
  if (bb < 0.6 * qb) { print "FAIL: bandwidth measured " bb / qb * 100 "% of the quiet rate under load"; exit 1 }
}'
echo "ok"
