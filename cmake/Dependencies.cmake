# Finds every external dependency. A missing one stops configuration with
# the Debian package that provides it.

function(astc_missing what package)
  message(FATAL_ERROR "astc: ${what} not found. Install it with:\n"
                      "    apt-get install -y ${package}")
endfunction()

# LLVM 19, shared libLLVM. find_package(LLVM 19) does not match 19.1 (see
# docs/building.md), so ask for 19.1 and point at Debian's location first.
find_package(LLVM 19.1 CONFIG QUIET
             HINTS /usr/lib/llvm-19/lib/cmake/llvm /usr/lib/llvm-19/cmake)
if(NOT LLVM_FOUND)
  astc_missing("LLVM 19 (llvm-config-19, LLVMConfig.cmake)" "llvm-19-dev")
endif()
message(STATUS "astc: LLVM ${LLVM_PACKAGE_VERSION} from ${LLVM_DIR}")

find_package(FLEX 2.6 QUIET)
if(NOT FLEX_FOUND)
  astc_missing("flex" "flex")
endif()
find_package(BISON 3.5 QUIET)
if(NOT BISON_FOUND)
  astc_missing("bison (3.5 or newer)" "bison")
endif()

find_package(PkgConfig QUIET)
if(NOT PKG_CONFIG_FOUND)
  astc_missing("pkg-config" "pkg-config")
endif()

pkg_check_modules(OPENBLAS QUIET IMPORTED_TARGET openblas)
if(NOT OPENBLAS_FOUND)
  astc_missing("OpenBLAS (openblas.pc)" "libopenblas-dev")
endif()

pkg_check_modules(CHECK QUIET IMPORTED_TARGET check)
if(NOT CHECK_FOUND)
  astc_missing("Check unit-test library (check.pc)" "check")
endif()

find_package(ZLIB QUIET)
if(NOT ZLIB_FOUND)
  astc_missing("zlib" "zlib1g-dev")
endif()

find_package(Threads REQUIRED)

# MPI (optional): data-parallel training (runtime/dist.c, docs/distributed.md).
set(ASTC_WITH_MPI OFF)
if(NOT ASTC_MPI STREQUAL "OFF")
  find_package(MPI COMPONENTS C QUIET)
  if(MPI_C_FOUND)
    set(ASTC_WITH_MPI ON)
    message(STATUS "astc: MPI ${MPI_C_VERSION}: data-parallel training enabled")
  elseif(ASTC_MPI STREQUAL "ON")
    astc_missing("MPI (mpi.h, libmpi)" "libopenmpi-dev openmpi-bin")
  else()
    message(STATUS "astc: MPI not found: data-parallel training disabled (apt-get install -y libopenmpi-dev openmpi-bin)")
  endif()
endif()

# libxsmm (optional): the xsmm GEMM backend, kernels generated (JIT) for a
# product's exact shape, and bf16 products with AVX512_BF16 (vdpbf16ps);
# docs/performance.md, "GEMM backends". Debian ships it as a static library
# (libxsmm-dev 1.17). Without it, libastrt has only the OpenBLAS backend and
# `precision bf16` products widen their operands to fp32.
set(ASTC_XSMM AUTO CACHE STRING "GEMM backend from libxsmm (libxsmm-dev): ON, OFF or AUTO (on if found)")
set_property(CACHE ASTC_XSMM PROPERTY STRINGS ON OFF AUTO)
set(ASTC_WITH_XSMM OFF)
if(NOT ASTC_XSMM STREQUAL "OFF")
  pkg_check_modules(XSMM QUIET IMPORTED_TARGET libxsmm)
  if(XSMM_FOUND)
    set(ASTC_WITH_XSMM ON)
    message(STATUS "astc: libxsmm ${XSMM_VERSION}: the xsmm GEMM backend is built")
  elseif(ASTC_XSMM STREQUAL "ON")
    astc_missing("libxsmm (libxsmm.pc)" "libxsmm-dev")
  else()
    message(STATUS "astc: libxsmm not found: OpenBLAS is the only GEMM backend (apt-get install -y libxsmm-dev)")
  endif()
endif()

# The system C compiler astc invokes to link executables (astc build).
set(ASTC_LINK_CC "cc" CACHE STRING "C compiler driver astc uses to link programs")

find_program(ASTC_LLD NAMES ld.lld-19 ld.lld)
