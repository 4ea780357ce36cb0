#!/bin/sh
# test.sh — the whole test suite, as CI runs it: installs dependencies,
# builds astc normally and with AddressSanitizer + UndefinedBehaviorSanitizer,
# runs ctest in both builds, checks that a Release build compiles, then runs
# each fuzz target for a minute. Both test builds compile in the runtime's
# test hooks (ASTRT_TEST_HOOKS: fault injection and kill points, off by
# default and in the Release build); without them the tests that need them
# are skipped.
set -eu
cd "$(dirname "$0")/.."
sh tools/install-deps.sh
jobs=$(nproc 2>/dev/null || echo 2)

cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DASTRT_TEST_HOOKS=ON
cmake --build build -j "$jobs"
ctest --test-dir build --output-on-failure -j "$jobs"

cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DASTC_SANITIZE=ON -DASTRT_TEST_HOOKS=ON
cmake --build build-asan -j "$jobs"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan --output-on-failure -j "$jobs" -LE slow

# -O3 (Release) sees other -Wmaybe-uninitialized cases than -O2: the
# compiler and runtime must build warning-free there too.
cmake -S . -B build-release -G Ninja -DCMAKE_BUILD_TYPE=Release
cmake --build build-release -j "$jobs" --target astc astrt

# Fuzzing (tests/fuzz, docs/fuzzing.md): every libFuzzer target for 60 s in a
# clang-19 ASan+UBSan build (build-fuzz); any crash, leak or timeout fails.
sh tests/fuzz/run_fuzz.sh 60
echo "test.sh: all tests passed (normal and sanitizer builds, fuzzing)"
