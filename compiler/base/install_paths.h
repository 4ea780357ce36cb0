/* install_paths.h — where astc finds its runtime library and standard
 * library: next to its own executable when installed, else in the build and
 * source trees it was built from.
 *
 * An installed astc is <prefix>/bin/astc (cmake/Install.cmake); it looks for
 * <prefix>/lib/libastrt.a and <prefix>/share/astc/stdlib first, found through
 * /proc/self/exe, so a prefix can be moved or copied as a whole. An astc
 * run from the build tree finds neither and uses the paths compiled in. */
#ifndef ASTC_INSTALL_PATHS_H
#define ASTC_INSTALL_PATHS_H

/* The libastrt.a that `astc build` links executables with. */
const char *astc_runtime_lib_path(void);

/* The standard library directory (stdlib/nn.train and its siblings). */
const char *astc_stdlib_path(void);

#endif
