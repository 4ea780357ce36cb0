# -DASTC_FUZZ=ON: a build for fuzzing (tests/fuzz, docs/fuzzing.md). Everything
# is compiled with libFuzzer's coverage instrumentation plus AddressSanitizer
# and UndefinedBehaviorSanitizer (-fsanitize=fuzzer-no-link,address,undefined);
# the fuzz_<target> executables add libFuzzer itself (-fsanitize=fuzzer).
# libFuzzer ships with clang, so the build needs clang-19 as its C compiler.

if(NOT CMAKE_C_COMPILER_ID STREQUAL "Clang" OR
   NOT CMAKE_C_COMPILER_VERSION VERSION_GREATER_EQUAL 19 OR
   NOT CMAKE_C_COMPILER_VERSION VERSION_LESS 20)
  message(FATAL_ERROR
    "astc: ASTC_FUZZ=ON needs clang 19 as the C compiler (libFuzzer comes with "
    "clang), but this build uses ${CMAKE_C_COMPILER_ID} ${CMAKE_C_COMPILER_VERSION} "
    "(${CMAKE_C_COMPILER}). Configure a separate build directory with it:\n"
    "    cmake -S . -B build-fuzz -G Ninja -DASTC_FUZZ=ON -DCMAKE_C_COMPILER=clang-19\n"
    "or run tests/fuzz/run_fuzz.sh, which does. (Install clang with: "
    "apt-get install -y clang-19 libclang-rt-19-dev)")
endif()

# libFuzzer and the sanitizer runtimes are in libclang-rt-19-dev, which
# clang-19 only recommends.
include(CheckCSourceCompiles)
set(CMAKE_REQUIRED_FLAGS "-fsanitize=fuzzer,address,undefined")
set(CMAKE_REQUIRED_LINK_OPTIONS "-fsanitize=fuzzer,address,undefined")
check_c_source_compiles([[
#include <stddef.h>
#include <stdint.h>
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { (void)data; (void)size; return 0; }
]] ASTC_HAVE_LIBFUZZER)
unset(CMAKE_REQUIRED_FLAGS)
unset(CMAKE_REQUIRED_LINK_OPTIONS)
if(NOT ASTC_HAVE_LIBFUZZER)
  message(FATAL_ERROR
    "astc: ${CMAKE_C_COMPILER} cannot link a program with -fsanitize=fuzzer,address,undefined: "
    "libFuzzer and the sanitizer runtimes are missing. Install them with:\n"
    "    apt-get install -y libclang-rt-19-dev\n"
    "(see CMakeFiles/CMakeConfigureLog.yaml for the compiler's error)")
endif()

add_compile_options(-fsanitize=fuzzer-no-link,address,undefined
                    -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
add_link_options(-fsanitize=address,undefined)
