# Install rules: the astc compiler, the runtime library libastrt with its
# public headers, the standard library, the docs, and two ways for other
# projects to consume the runtime (docs/embedding.md):
#
#   CMake       find_package(astrt CONFIG REQUIRED)  ->  astrt::astrt
#   pkg-config  pkg-config --cflags --libs astrt
#
# Layout under the prefix (GNUInstallDirs; the defaults shown):
#   bin/astc
#   lib/libastrt.a
#   lib/cmake/astrt/astrt{Config,ConfigVersion,Targets*}.cmake
#   lib/pkgconfig/astrt.pc
#   include/astrt/astrt.h astrt_program.h astrt_model.h astrt_kernels.h
#   share/astc/stdlib/*.train
#   share/doc/astc/ (README, docs/*.md, examples/embed)
#
# The prefix is relocatable: astc finds libastrt.a and the stdlib relative to
# its own executable (compiler/base/install_paths.c), the package config relative
# to itself, and astrt.pc relative to ${pcfiledir}.

include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(ASTC_INSTALL_INCLUDEDIR ${CMAKE_INSTALL_INCLUDEDIR}/astrt)
set(ASTC_INSTALL_STDLIBDIR ${CMAKE_INSTALL_DATADIR}/astc/stdlib)
set(ASTC_INSTALL_CMAKEDIR ${CMAKE_INSTALL_LIBDIR}/cmake/astrt)
set(ASTC_INSTALL_PKGCONFIGDIR ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

# ---- where an installed astc looks (relative to the directory of astc) ----
set(_astc_root /astc-install-root)  # any absolute path: only the differences matter
foreach(v BINDIR LIBDIR DATADIR)
  if(IS_ABSOLUTE "${CMAKE_INSTALL_${v}}")
    set(_astc_${v} "${CMAKE_INSTALL_${v}}")
  else()
    set(_astc_${v} "${_astc_root}/${CMAKE_INSTALL_${v}}")
  endif()
endforeach()
file(RELATIVE_PATH _astc_rel_lib ${_astc_BINDIR} ${_astc_LIBDIR}/libastrt.a)
file(RELATIVE_PATH _astc_rel_stdlib ${_astc_BINDIR} ${_astc_DATADIR}/astc/stdlib)
set_property(SOURCE ${PROJECT_SOURCE_DIR}/compiler/base/install_paths.c
             DIRECTORY ${PROJECT_SOURCE_DIR}/compiler
             APPEND PROPERTY COMPILE_DEFINITIONS
             ASTC_REL_RUNTIME_LIB="${_astc_rel_lib}"
             ASTC_REL_STDLIB="${_astc_rel_stdlib}")

# ---- files --------------------------------------------------------------
# astc links the shared libLLVM (and OpenBLAS) from outside the default
# library path on some systems: keep the link directories as its RUNPATH.
set_target_properties(astc PROPERTIES INSTALL_RPATH_USE_LINK_PATH TRUE)
install(TARGETS astc RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

set(_astrt_includes)
if(NOT CMAKE_INSTALL_INCLUDEDIR STREQUAL "include")
  # runtime/CMakeLists.txt exports include/astrt; add the actual location
  set(_astrt_includes INCLUDES DESTINATION ${ASTC_INSTALL_INCLUDEDIR})
endif()
install(TARGETS astrt EXPORT astrtTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        ${_astrt_includes})
if(ASTC_WITH_MPI)  # the MPI backend: a component of its own (astrt::mpi)
  install(TARGETS astrt_mpi EXPORT astrtMpiTargets ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
endif()
install(DIRECTORY ${PROJECT_SOURCE_DIR}/runtime/include/astrt/
        DESTINATION ${ASTC_INSTALL_INCLUDEDIR}
        FILES_MATCHING PATTERN "*.h")

install(DIRECTORY ${PROJECT_SOURCE_DIR}/stdlib/
        DESTINATION ${ASTC_INSTALL_STDLIBDIR}
        FILES_MATCHING PATTERN "*.train")

install(FILES ${PROJECT_SOURCE_DIR}/README.md DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/docs/
        DESTINATION ${CMAKE_INSTALL_DOCDIR}
        FILES_MATCHING PATTERN "*.md")
install(FILES
          ${PROJECT_SOURCE_DIR}/examples/embed/CMakeLists.txt
          ${PROJECT_SOURCE_DIR}/examples/embed/README.md
          ${PROJECT_SOURCE_DIR}/examples/embed/main.c
          ${PROJECT_SOURCE_DIR}/examples/embed/model.train
        DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples/embed)

# ---- CMake package: find_package(astrt) ---------------------------------
install(EXPORT astrtTargets
        NAMESPACE astrt::
        FILE astrtTargets.cmake
        DESTINATION ${ASTC_INSTALL_CMAKEDIR})
if(ASTC_WITH_MPI)  # read only when the component mpi is asked for (it needs MPI::MPI_C)
  install(EXPORT astrtMpiTargets
          NAMESPACE astrt::
          FILE astrtMpiTargets.cmake
          DESTINATION ${ASTC_INSTALL_CMAKEDIR})
endif()
set(ASTC_CONFIG_BINDIR ${CMAKE_INSTALL_BINDIR})
set(ASTC_CONFIG_STDLIBDIR ${ASTC_INSTALL_STDLIBDIR})
configure_package_config_file(
  ${PROJECT_SOURCE_DIR}/cmake/astrtConfig.cmake.in
  ${PROJECT_BINARY_DIR}/astrtConfig.cmake
  INSTALL_DESTINATION ${ASTC_INSTALL_CMAKEDIR}
  PATH_VARS ASTC_CONFIG_BINDIR ASTC_CONFIG_STDLIBDIR)
# 0.x: the descriptor ABI (ASTRT_ABI_VERSION) changes between minor versions
write_basic_package_version_file(
  ${PROJECT_BINARY_DIR}/astrtConfigVersion.cmake
  VERSION ${PROJECT_VERSION}
  COMPATIBILITY SameMinorVersion)
install(FILES
          ${PROJECT_BINARY_DIR}/astrtConfig.cmake
          ${PROJECT_BINARY_DIR}/astrtConfigVersion.cmake
        DESTINATION ${ASTC_INSTALL_CMAKEDIR})

# ---- pkg-config: astrt.pc -----------------------------------------------
# The prefix is found from the .pc file's own directory (${pcfiledir}, which
# pkgconf and pkg-config both define), so `cmake --install --prefix DIR` works
# for any DIR.
if(IS_ABSOLUTE "${ASTC_INSTALL_PKGCONFIGDIR}")
  file(RELATIVE_PATH ASTC_PC_TO_PREFIX ${ASTC_INSTALL_PKGCONFIGDIR} ${CMAKE_INSTALL_PREFIX})
else()
  file(RELATIVE_PATH ASTC_PC_TO_PREFIX ${_astc_root}/${ASTC_INSTALL_PKGCONFIGDIR} ${_astc_root})
endif()
string(REGEX REPLACE "/$" "" ASTC_PC_TO_PREFIX "${ASTC_PC_TO_PREFIX}")
foreach(v LIBDIR INCLUDEDIR BINDIR)
  if(IS_ABSOLUTE "${CMAKE_INSTALL_${v}}")
    set(ASTC_PC_${v} "${CMAKE_INSTALL_${v}}")
  else()
    set(ASTC_PC_${v} "\${prefix}/${CMAKE_INSTALL_${v}}")
  endif()
endforeach()
# Generated code maps vector exp/log/tanh to glibc's libmvec (compiler/codegen/target.c)
find_library(ASTC_MVEC_LIBRARY mvec)
mark_as_advanced(ASTC_MVEC_LIBRARY)
if(ASTC_MVEC_LIBRARY)
  set(ASTC_PC_MVEC "-lmvec ")
else()
  set(ASTC_PC_MVEC "")
endif()
# libxsmm (the xsmm GEMM backend) links before OpenBLAS: its fallbacks call BLAS
set(ASTC_PC_XSMM "")
if(ASTC_WITH_XSMM)
  set(ASTC_PC_XSMM "libxsmm ")
endif()
configure_file(${PROJECT_SOURCE_DIR}/cmake/astrt.pc.in ${PROJECT_BINARY_DIR}/astrt.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/astrt.pc DESTINATION ${ASTC_INSTALL_PKGCONFIGDIR})
# astrt-mpi.pc: libastrt with its MPI backend (OpenMPI's ompi-c)
if(ASTC_WITH_MPI)
  configure_file(${PROJECT_SOURCE_DIR}/cmake/astrt-mpi.pc.in ${PROJECT_BINARY_DIR}/astrt-mpi.pc @ONLY)
  install(FILES ${PROJECT_BINARY_DIR}/astrt-mpi.pc DESTINATION ${ASTC_INSTALL_PKGCONFIGDIR})
endif()
