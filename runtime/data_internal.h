/* data_internal.h — helpers shared by the data-set loaders (data_*.c).
 *
 * Not part of the public interface (astrt.h); the names still start with
 * astrt_ because libastrt is a static library linked into user programs.
 * Every function that can fail sets the message with astrt_fail and names
 * the file it was given.
 */
#ifndef ASTRT_DATA_INTERNAL_H
#define ASTRT_DATA_INTERNAL_H

#include "astrt.h"

#include <stdio.h>

/* No loader accepts an array of more elements than this (a larger count in
 * a header means the header is corrupt). */
#define ASTRT_DATA_MAX_ELEMS ((int64_t)1 << 40)

/* What to do about a data set larger than the memory available that cannot
 * be mapped from its file (robust.h's astrt_mem_check refuses it before it
 * is read). */
#define ASTRT_DATA_FIT_HINT                                                                        \
  "the data set does not fit in memory, and only uncompressed IDX u8 and NPY uint8 or float32 " \
  "feature files are read from disk as training goes: store the features that way (e.g. "       \
  "gunzip the IDX file), use part of the data set, or a machine with more memory"

/* Data sets larger than memory: a feature file whose bytes are already the
 * array the runtime trains on (uncompressed IDX u8; NPY uint8 or
 * little-endian float32, C order) is mapped from disk instead of read, when
 * reading it would not fit in the memory available (or always, with
 * ASTRT_DATA_MAP=always; never with ASTRT_DATA_MAP=off). The OS then pages
 * examples in as batches gather them. */
int astrt_data_should_map(int64_t bytes);
/* Maps the len bytes of open file f read-only at *base; astrt_data_release
 * of any pointer into it unmaps it. */
astrt_status astrt_data_map(FILE *f, const char *path, size_t len, void **base);
/* Notes on stderr that `path` (len bytes) is read from disk as training goes. */
void astrt_data_mapped_note(const char *path, size_t len);
/* Frees an array's data: unmaps the mapping it points into if astrt_data_map
 * made one, else free(). */
void astrt_data_release(void *data);

/* Bytes per element of `e` in memory. */
size_t astrt_data_elem_size(astrt_elem e);

/* Fills *a with an uninitialised array of n examples of shape dims[0..rank)
 * (scale 1, shift 0). On failure *a is zeroed. */
astrt_status astrt_data_alloc(astrt_array *a, astrt_elem elem, int rank,
                              const int64_t *dims, int64_t n,
                              const char *path);

/* Opens `path` for binary reading; ENOENT is ASTRT_ERR_NOTFOUND. */
astrt_status astrt_data_open(const char *path, FILE **out);

/* Reads the whole file into *buf (NUL-terminated; *len excludes the NUL).
 * The caller frees *buf. */
astrt_status astrt_data_read_file(const char *path, char **buf, size_t *len);

/* Checks x.n == y.n (ASTRT_ERR_MISMATCH naming both files and counts). */
astrt_status astrt_data_same_count(const astrt_array *x, const char *x_path,
                                   const astrt_array *y, const char *y_path);

/* What a CSV file holds: a whole table (features and the label column,
 * astrt_load_csv_ex), only the features (every column: csv(x: ...)) or only
 * the targets (one column: csv(y: ...)). */
enum { CSV_TABLE, CSV_FEATURES, CSV_TARGETS };

/* astrt_load_csv_ex for a file of one of those kinds; a file of features
 * leaves out->y unset (no labels). */
astrt_status astrt_csv_load_part(const char *path, const astrt_csv_options *o, int role, astrt_split *out);

/* Turns integer features (I32) into F32; U8 and F32 are left alone. */
astrt_status astrt_data_features(astrt_array *x, const char *path);

/* Finishes a label array: U8 becomes I32, one-element examples become
 * scalars, negative labels are rejected and *num_classes is set to
 * 1 + the largest label (0 for F32 targets or no examples). */
astrt_status astrt_data_labels(astrt_array *y, const char *path,
                               int64_t *num_classes);

/* The Debian package that installs data set `name`, or NULL. */
const char *astrt_data_package(const char *name);

/* What to do about a damaged file: "re-download or reinstall <package>"
 * when `path` lies in a known data set's directory, else a generic hint. */
void astrt_data_fix_hint(const char *path, char *buf, size_t cap);

#endif
