#!/bin/sh
# embed.sh — installs the build tree into a temporary prefix and uses it the
# way an application would (docs/embedding.md):
#   1. cmake --install, then move the prefix (it must be relocatable);
#   2. the installed astc finds the installed stdlib and libastrt.a;
#   3. examples/embed configured, built and run against the prefix with CMake
#      (find_package(astrt), ASTC=prefix/bin/astc);
#   4. the same main.c built by hand with pkg-config (--libs and --static);
#   4b. the minimal embedding needs no MPI: astrt.pc requires none, and
#      neither application above links libmpi (readelf -d); where astc was
#      built with MPI, the component does: pkg-config astrt-mpi and CMake
#      find_package(astrt COMPONENTS mpi) -> astrt::mpi link it and the
#      backend (astrt_dist_mpi);
#   5. the generated model.h compiled as C17 and as C++17, warnings as errors;
#   6. the runtime as shipped has none of the test hooks (ASTRT_TEST_HOOKS):
#      no hook function and no hook environment variable name among its
#      symbols, strings or debug information (nm, strings). A build with the
#      hooks (the test builds) installs them, so there the check runs on
#      libastrt.a from a separate hook-free configure of the same sources
#      (what `cmake -S . -B build` gives), and must find the hooks in the
#      installed one, which shows that it can.
# Any failure stops the test with what failed. Without a C++ compiler ($CXX,
# default c++) the C++17 compile is not done: the test ends with "SKIP:
# reason" and status 77 (ctest's SKIP_RETURN_CODE) after everything else
# passed.
#
# usage: embed.sh BUILD_DIR SOURCE_DIR C_COMPILER [EXTRA_FLAGS]
#   EXTRA_FLAGS: compile and link flags the runtime needs (the sanitizer
#   build's -fsanitize=...), passed to every compile and link here.
set -eu
build=$(cd "$1" && pwd)
src=$(cd "$2" && pwd)
CC=$3
extra=${4:-}
CXX=${CXX:-c++}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/astc-install.XXXXXX")
step="setting up"
finish() {
  rc=$?
  if [ "$rc" -eq 0 ]; then
    rm -rf "$tmp"
  else
    echo "install.embed: FAILED while $step (exit $rc); files kept in $tmp" >&2
  fi
}
trap finish EXIT
run() {  # run CMD...: echo it, run it, stop on failure
  echo "+ $*"
  "$@"
}
t0=$(date +%s)

# ---- 1. install, relocate ---------------------------------------------------
step="installing the build tree"
run cmake --install "$build" --prefix "$tmp/stage" >"$tmp/install.log" || { cat "$tmp/install.log"; exit 1; }
mv "$tmp/stage" "$tmp/prefix"
prefix=$tmp/prefix
for f in bin/astc lib/libastrt.a lib/pkgconfig/astrt.pc lib/cmake/astrt/astrtConfig.cmake \
         lib/cmake/astrt/astrtConfigVersion.cmake include/astrt/astrt.h include/astrt/astrt_program.h \
         include/astrt/astrt_model.h include/astrt/astrt_kernels.h share/astc/stdlib/nn.train; do
  [ -f "$prefix/$f" ] || { echo "install.embed: $prefix/$f was not installed" >&2; exit 1; }
done
astc=$prefix/bin/astc

# ---- 2. the installed astc uses the installed stdlib and runtime ------------
step="building an executable with the installed astc"
run "$astc" build "$src/tests/e2e/mlp_synthetic.train" -o "$tmp/mlp"
run "$tmp/mlp" --quiet --epochs 1

step="checking that the installed astc reads the installed stdlib"
mv "$prefix/share/astc/stdlib/nn.train" "$tmp/nn.train.saved"
echo "# an empty nn: nothing to import" >"$prefix/share/astc/stdlib/nn.train"
if "$astc" check "$src/tests/e2e/mlp_synthetic.train" >/dev/null 2>&1; then
  echo "install.embed: with an empty <prefix>/share/astc/stdlib/nn.train, 'astc check' still" \
       "found nn.dense: the installed astc does not use its installed stdlib" >&2
  exit 1
fi
mv "$tmp/nn.train.saved" "$prefix/share/astc/stdlib/nn.train"

step="checking that the installed astc links the installed libastrt.a"
mv "$prefix/lib/libastrt.a" "$tmp/libastrt.a.saved"
echo "not an archive" >"$prefix/lib/libastrt.a"
if "$astc" build "$src/tests/e2e/mlp_synthetic.train" -o "$tmp/mlp2" >/dev/null 2>&1; then
  echo "install.embed: with a broken <prefix>/lib/libastrt.a, 'astc build' still linked:" \
       "the installed astc does not use its installed runtime" >&2
  exit 1
fi
mv "$tmp/libastrt.a.saved" "$prefix/lib/libastrt.a"

# ---- 3. examples/embed with CMake --------------------------------------------
step="configuring examples/embed with CMake against the prefix"
gen=""
command -v ninja >/dev/null 2>&1 && gen="-GNinja"
run cmake -S "$src/examples/embed" -B "$tmp/embed-cmake" $gen \
  -DCMAKE_PREFIX_PATH="$prefix" -DASTC="$astc" -DCMAKE_C_COMPILER="$CC" \
  -DCMAKE_C_FLAGS="-Wall -Wextra -Werror $extra" -DCMAKE_EXE_LINKER_FLAGS="$extra" \
  >"$tmp/embed-configure.log" || { cat "$tmp/embed-configure.log"; exit 1; }
step="building examples/embed with CMake"
run cmake --build "$tmp/embed-cmake"
step="running examples/embed (CMake build)"
(cd "$tmp" && run "$tmp/embed-cmake/embed" "$tmp/cmake-model.safetensors")

# ---- 4. the same main.c with pkg-config --------------------------------------
step="compiling model.train with the installed astc (--lib)"
run "$astc" build "$src/examples/embed/model.train" --lib -o "$tmp/pc-model"
[ -f "$tmp/pc-model/libmodel.a" ] && [ -f "$tmp/pc-model/model.h" ] || {
  echo "install.embed: astc build --lib -o DIR did not write DIR/libmodel.a and DIR/model.h" >&2; exit 1; }
step="a library from a file whose name starts with a digit (2layer.train: m_2layer)"
cp "$src/examples/embed/model.train" "$tmp/2layer.train"
run "$astc" build "$tmp/2layer.train" --lib -o "$tmp/digit-model"
[ -f "$tmp/digit-model/libm_2layer.a" ] && grep -q "m_2layer_create" "$tmp/digit-model/m_2layer.h" || {
  echo "install.embed: 2layer.train did not give libm_2layer.a and m_2layer_create" >&2; ls "$tmp/digit-model" >&2; exit 1; }
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
pc=$(command -v pkg-config || command -v pkgconf)
step="building main.c by hand with pkg-config --cflags --libs astrt"
# shellcheck disable=SC2046,SC2086
run "$CC" -std=c17 -Wall -Wextra -Werror $extra -I"$tmp/pc-model" -o "$tmp/embed-pc" "$src/examples/embed/main.c" \
  "$tmp/pc-model/libmodel.a" $("$pc" --cflags --libs astrt)
step="running examples/embed (pkg-config build)"
(cd "$tmp" && run "$tmp/embed-pc" "$tmp/pc-model.safetensors")
step="linking main.c by hand with pkg-config --static --libs astrt"
# shellcheck disable=SC2046,SC2086
run "$CC" -std=c17 -Wall -Wextra -Werror $extra -I"$tmp/pc-model" -o "$tmp/embed-pc-static" \
  "$src/examples/embed/main.c" "$tmp/pc-model/libmodel.a" $("$pc" --cflags --libs --static astrt)
step="checking the pkg-config variable astc"
[ "$("$pc" --variable=astc astrt)" -ef "$astc" ] || {
  echo "install.embed: pkg-config --variable=astc astrt is not $astc" >&2; exit 1; }

# ---- 4b. no MPI in the minimal embedding; the MPI component -----------------
step="checking that the minimal embedding needs no MPI"
needs_mpi() { readelf -d "$1" | grep -q 'NEEDED.*libmpi'; }
if "$pc" --print-requires --print-requires-private astrt | grep -qi 'mpi' ||
   "$pc" --libs --static astrt | grep -qi 'mpi'; then
  echo "install.embed: astrt.pc requires MPI: $("$pc" --print-requires astrt | tr '\n' ' ')" >&2; exit 1
fi
for app in "$tmp/embed-cmake/embed" "$tmp/embed-pc" "$tmp/embed-pc-static"; do
  if needs_mpi "$app"; then echo "install.embed: $app links libmpi" >&2; readelf -d "$app" >&2; exit 1; fi
done
echo "the minimal embedding (CMake astrt::astrt, pkg-config astrt) links no MPI"
if [ -f "$prefix/lib/pkgconfig/astrt-mpi.pc" ]; then  # astc was built with MPI
  for f in lib/libastrt_mpi.a lib/cmake/astrt/astrtMpiTargets.cmake; do
    [ -f "$prefix/$f" ] || { echo "install.embed: $prefix/$f was not installed" >&2; exit 1; }
  done
  step="building main.c with pkg-config astrt-mpi"
  # shellcheck disable=SC2046,SC2086
  run "$CC" -std=c17 -Wall -Wextra -Werror $extra -I"$tmp/pc-model" -o "$tmp/embed-mpi" "$src/examples/embed/main.c" \
    "$tmp/pc-model/libmodel.a" $("$pc" --cflags --libs astrt-mpi)
  needs_mpi "$tmp/embed-mpi" && nm "$tmp/embed-mpi" | grep -q ' [DdRr] astrt_dist_mpi$' ||
    { echo "install.embed: pkg-config astrt-mpi did not link libmpi and the MPI backend" >&2; exit 1; }
  (cd "$tmp" && run "$tmp/embed-mpi" "$tmp/mpi-model.safetensors")
  step="building with CMake find_package(astrt COMPONENTS mpi)"
  mkdir -p "$tmp/mpi-app"
  cp "$src/examples/embed/main.c" "$tmp/mpi-app/"
  cat >"$tmp/mpi-app/CMakeLists.txt" <<EOF
cmake_minimum_required(VERSION 3.20)
project(mpiapp C)
find_package(astrt CONFIG REQUIRED COMPONENTS mpi)
add_executable(app main.c)
target_include_directories(app PRIVATE "$tmp/pc-model")
target_link_libraries(app PRIVATE "$tmp/pc-model/libmodel.a" astrt::mpi)
EOF
  run cmake -S "$tmp/mpi-app" -B "$tmp/mpi-app/build" $gen -DCMAKE_PREFIX_PATH="$prefix" \
    -DCMAKE_C_COMPILER="$CC" -DCMAKE_C_FLAGS="$extra" -DCMAKE_EXE_LINKER_FLAGS="$extra" \
    >"$tmp/mpi-configure.log" || { cat "$tmp/mpi-configure.log"; exit 1; }
  run cmake --build "$tmp/mpi-app/build"
  needs_mpi "$tmp/mpi-app/build/app" && nm "$tmp/mpi-app/build/app" | grep -q ' [DdRr] astrt_dist_mpi$' ||
    { echo "install.embed: astrt::mpi did not link libmpi and the MPI backend" >&2; exit 1; }
  echo "the MPI component (pkg-config astrt-mpi, CMake astrt::mpi) links MPI and its backend"
fi

# ---- 5. model.h as C and as C++ ----------------------------------------------
step="checking the static inline functions of model.h"
# the test file below calls every static inline function of the header
n_inline=$(grep -c 'static inline' "$tmp/pc-model/model.h" || true)
if [ "$n_inline" -ne 1 ]; then
  echo "install.embed: model.h has $n_inline static inline functions; tests/install/model_h_test.c" \
       "calls model_create only: extend it" >&2
  exit 1
fi
step="compiling model.h as C17"
run "$CC" -std=c17 -Wall -Wextra -Werror -fsyntax-only -I"$prefix/include/astrt" -I"$tmp/pc-model" \
  -x c "$src/tests/install/model_h_test.c"
if ! command -v "$CXX" >/dev/null 2>&1; then
  echo "SKIP: install.embed: no C++ compiler ($CXX; apt-get install g++): model.h was not compiled as C++17;" \
       "everything else passed ($(( $(date +%s) - t0 )) s)"
  rm -rf "$tmp"
  trap - EXIT
  exit 77
fi
step="compiling model.h as C++17"
run "$CXX" -std=c++17 -Wall -Wextra -Werror -fsyntax-only -I"$prefix/include/astrt" -I"$tmp/pc-model" \
  -x c++ "$src/tests/install/model_h_test.c"

# ---- 6. no test hooks in the shipped runtime ---------------------------------
# the hooks' environment variables are ASTRT_TEST_* and ASTRT_FAULT_*; their
# functions and fields are named here (runtime/driver.c, safetensors.c,
# metrics.c, memcheck.c)
hook_names='ASTRT_(TEST|FAULT)_[A-Z_]+|maybe_kill|faults_read|fault_limit|st_faults|kill_at_step|full_after|kill_after'
hooks_in() {  # the hook names in archive $1: symbols (nm), strings and debug information (strings)
  { nm -A "$1" 2>/dev/null; strings -a "$1"; } | grep -oE "$hook_names" | sort -u | tr '\n' ' '
}
step="checking the runtime for test hooks"
hooks=$(sed -n 's/^ASTRT_TEST_HOOKS:BOOL=//p' "$build/CMakeCache.txt")
case $hooks in
ON|on|1|TRUE|true|YES|yes)
  found=$(hooks_in "$prefix/lib/libastrt.a")
  if [ -z "$found" ]; then
    echo "install.embed: $build has ASTRT_TEST_HOOKS=$hooks, but nm and strings find no hook in its" \
         "installed libastrt.a: the check below would miss them; update hook_names" >&2
    exit 1
  fi
  echo "the test build's libastrt.a has its hooks: $found"
  step="building libastrt without test hooks (a separate configure of $src)"
  run cmake -S "$src" -B "$tmp/nohooks" $gen -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER="$CC" \
    -DASTRT_TEST_HOOKS=OFF >"$tmp/nohooks-configure.log" || { cat "$tmp/nohooks-configure.log"; exit 1; }
  run cmake --build "$tmp/nohooks" --target astrt -j 2 >"$tmp/nohooks-build.log" || { cat "$tmp/nohooks-build.log"; exit 1; }
  shipped=$tmp/nohooks/runtime/libastrt.a ;;
*)
  shipped=$prefix/lib/libastrt.a ;;
esac
step="checking $shipped for test hooks"
found=$(hooks_in "$shipped")
if [ -n "$found" ]; then
  echo "install.embed: the runtime as shipped ($shipped, built without ASTRT_TEST_HOOKS) contains test" \
       "hooks: $found" >&2
  exit 1
fi
echo "no test hooks in $shipped"

step="finishing"
echo "install.embed: ok ($(( $(date +%s) - t0 )) s)"
