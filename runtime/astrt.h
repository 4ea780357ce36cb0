/* astrt.h — public interface of libastrt, the astc runtime.
 *
 * Conventions
 *   - Every exported name starts with astrt_ (types, functions) or ASTRT_
 *     (constants).
 *   - Functions that can fail return an astrt_status; ASTRT_OK is 0. On
 *     failure the calling thread's message is set; astrt_last_error() returns
 *     it (file, position and what to do about it where known).
 *   - Ownership: a function that fills a struct the caller passed in owns
 *     nothing afterwards; the caller releases it with the matching _free
 *     function. Pointers passed in are borrowed for the duration of the call.
 *   - Thread-safety: functions are reentrant unless noted; they share no
 *     mutable global state except the per-thread error message and the
 *     per-thread kernel scratch buffer (astrt_kernels.h).
 */
#ifndef ASTRT_H
#define ASTRT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- status and errors -------------------------------------------------- */

typedef enum astrt_status {
  ASTRT_OK = 0,
  ASTRT_ERR_IO,        /* a file could not be opened, read or written        */
  ASTRT_ERR_FORMAT,    /* a file's contents are malformed or truncated       */
  ASTRT_ERR_MISMATCH,  /* two inputs disagree (counts, shapes, programs)     */
  ASTRT_ERR_NOTFOUND,  /* a named data set, file or parameter does not exist */
  ASTRT_ERR_NOMEM,     /* an allocation failed or a limit would be exceeded  */
  ASTRT_ERR_ARG,       /* an argument is out of range                        */
  ASTRT_ERR_NUMERIC,   /* a non-finite value appeared in training            */
} astrt_status;

/* The message of the last failure on this thread ("" if none). The string
 * stays valid until the next failing astrt_ call on this thread. */
const char *astrt_last_error(void);

/* Sets this thread's message (printf-style) and returns `st`. */
astrt_status astrt_fail(astrt_status st, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ---- data sets -------------------------------------------------------- */

typedef enum astrt_elem {
  ASTRT_ELEM_U8 = 0,   /* raw bytes; value = raw * scale + shift  */
  ASTRT_ELEM_F32 = 1,  /* float; value = raw * scale + shift      */
  ASTRT_ELEM_I32 = 2,  /* class labels                            */
} astrt_elem;

#define ASTRT_MAX_RANK 6

/* One array of examples: n examples of shape dims[0..rank). */
typedef struct astrt_array {
  astrt_elem elem;
  int rank;                      /* per-example rank (0 for scalar labels) */
  int64_t dims[ASTRT_MAX_RANK];  /* per-example dims                       */
  int64_t n;                     /* number of examples                     */
  void *data;                    /* n * prod(dims) elements, row-major     */
  float scale, shift;            /* value conversion for U8/F32 features   */
} astrt_array;

/* A split of a data set: features x and targets y, with x.n == y.n. */
typedef struct astrt_split {
  astrt_array x;
  astrt_array y;
  int64_t num_classes;  /* for I32 labels: 1 + the largest label; else 0 */
} astrt_split;

/* Number of elements of one example of `a`. */
int64_t astrt_array_example_size(const astrt_array *a);
void astrt_array_free(astrt_array *a);
void astrt_split_free(astrt_split *s);

/* IDX files (the MNIST family), raw or gzip-compressed (detected by magic,
 * not by name). Images of type u8 become U8 features scaled by 1/255;
 * labels of type u8 become I32 labels. The two files must hold the same
 * number of examples. */
astrt_status astrt_load_idx(const char *images_path, const char *labels_path,
                            astrt_split *out);

/* Reads one IDX file into an array (U8 for unsigned byte data, F32 for
 * float data, I32 for int data; rank-1 files give scalar examples). */
astrt_status astrt_load_idx_array(const char *path, astrt_array *out);

/* CSV: one example per line, comma-separated numbers; an optional header
 * line (detected: a first line with a non-numeric field) is skipped.
 * `label_column` (0-based; negative counts from the end) holds an integer
 * class label; every other column is an F32 feature. */
astrt_status astrt_load_csv(const char *path, int label_column,
                            astrt_split *out);

/* NPY (NumPy .npy, format versions 1.0-3.0, C order, little-endian):
 * features of dtype |u1, <f4 or <f8 (converted to F32); labels of an integer
 * dtype (|u1, <i4, <i8, <u4...) become I32, float labels F32. */
astrt_status astrt_load_npy(const char *x_path, const char *y_path,
                            astrt_split *out);
astrt_status astrt_load_npy_array(const char *path, astrt_array *out);

/* Finds data set `name` (a directory name such as "fashion-mnist") on the
 * search path: each directory of $ASTC_DATA_PATH (colon-separated), then
 * /usr/share/datasets. Writes the directory into out (size cap). A missing
 * data set is ASTRT_ERR_NOTFOUND with a message naming the directories
 * searched and, for known names, the Debian package that installs it. */
astrt_status astrt_find_dataset(const char *name, char *out, size_t cap);

/* Loads the train and test splits of an IDX data set directory holding
 * train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz],
 * t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz]. */
astrt_status astrt_load_idx_dir(const char *dir, astrt_split *train,
                                astrt_split *test);

/* ---- random numbers ------------------------------------------------------ */

/* Counter-based generator: every value is a pure function of (key, counter),
 * so any stream can be recomputed, skipped or resumed exactly. */
uint64_t astrt_hash64(uint64_t key, uint64_t counter);
/* Uniform float in [0, 1) from (key, counter). */
float astrt_uniform(uint64_t key, uint64_t counter);
/* Derives a sub-key (e.g. for one epoch or one tensor) from a key. */
uint64_t astrt_subkey(uint64_t key, uint64_t tag);

/* Fills perm[0..n) with a permutation of 0..n-1 that depends only on
 * (seed, epoch): Fisher-Yates driven by astrt_hash64. */
void astrt_shuffle(int64_t *perm, int64_t n, uint64_t seed, int64_t epoch);

#ifdef __cplusplus
}
#endif
#endif
