#!/bin/sh
# install-deps.sh — installs astc's build, test and data dependencies from
# Debian's archive (Debian 12). Needs root; skips apt when all are present.
set -eu
packages="cmake ninja-build gcc g++ pkg-config flex bison check zlib1g-dev
  llvm-19-dev clang-19 libclang-rt-19-dev lld-19 libopenblas-dev libxsmm-dev dataset-fashion-mnist
  python3 python3-numpy gnuplot-nox libopenmpi-dev openmpi-bin fortunes python3-sklearn"
missing=""
for p in $packages; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  echo "install-deps: installing$missing"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # shellcheck disable=SC2086
  apt-get install -y -qq --no-install-recommends $missing
fi
echo "install-deps: all dependencies present"
