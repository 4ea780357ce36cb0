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

#include "astrt_abi.h"

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

/* CSV: one example per line, numbers separated by commas (or the separator
 * detected, see astrt_csv_options), no quoting; the file may be
 * gzip-compressed (detected by its magic bytes). An optional header line
 * (detected: a first line with a non-numeric field) is skipped.
 * `label_column` (0-based; negative counts from the end) holds an integer
 * class label (an integral number such as 3.0 is fine); every other column
 * is an F32 feature. */
astrt_status astrt_load_csv(const char *path, int label_column,
                            astrt_split *out);
/* The same for a regression table: the label column holds real numbers
 * (finite, in float range), y is F32, one value per example, and
 * num_classes is 0. */
astrt_status astrt_load_csv_real(const char *path, int label_column,
                                 astrt_split *out);

/* How astrt_load_csv_ex reads a file; all zero is astrt_load_csv's way. */
typedef struct astrt_csv_options {
  int label_column;  /* 0-based; negative counts from the end (-1: the last) */
  int header;        /* astrt_csv_header (astrt_abi.h): the first non-blank
                        line is AUTO column names if any field is not a
                        number, NAMES always (one per column), SKIPped
                        whatever it holds (the next non-blank line is then
                        names if any field is not a number), or NONE: data */
  int sep;           /* the field separator, a character; ' ' separates by
                        runs of spaces and tabs; 0 detects it from the first
                        line read: ';' if it holds one, else ',' if it holds
                        one, else a tab, else blanks */
  int real;          /* 1: the label is a real target (astrt_load_csv_real) */
} astrt_csv_options;
astrt_status astrt_load_csv_ex(const char *path, const astrt_csv_options *o,
                               astrt_split *out);

/* NPY (NumPy .npy, format versions 1.0-3.0, C order, little-endian):
 * features of dtype |u1, <f4 or <f8 (converted to F32); labels of an integer
 * dtype (|u1, <i4, <i8, <u4...) become I32, float labels F32. */
astrt_status astrt_load_npy(const char *x_path, const char *y_path,
                            astrt_split *out);
astrt_status astrt_load_npy_array(const char *path, astrt_array *out);
/* astrt_load_npy for class labels (as a compiled program loads them):
 * labels of a float dtype are classes too when they are whole numbers (2.0
 * is the class 2, checked on the file's values), else an error naming the
 * dtype and the first label that is not one. */
astrt_status astrt_load_npy_classes(const char *x_path, const char *y_path,
                                    astrt_split *out);

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

/* ---- checkpoint files ---------------------------------------------------- */

/* safetensors files (the format of the Hugging Face safetensors project):
 *   8 bytes  N, a little-endian u64
 *   N bytes  a UTF-8 JSON object: {"__metadata__": {"key": "value", ...},
 *            "NAME": {"dtype": "F32", "shape": [2, 3], "data_offsets":
 *            [BEGIN, END]}, ...}, padded with spaces
 *   rest     the tensors' elements, row-major and little-endian; a tensor's
 *            bytes are [BEGIN, END) of this part, and the tensors cover it
 *            exactly, without gaps or overlaps.
 * Rank 0 (a scalar, shape []) and empty tensors (a dimension 0, BEGIN ==
 * END) are allowed. */

/* Element types; the first six are the ones astc uses. */
typedef enum astrt_st_dtype {
  ASTRT_ST_F32 = 0, ASTRT_ST_F16, ASTRT_ST_BF16, ASTRT_ST_I32, ASTRT_ST_I64, ASTRT_ST_U8,
  ASTRT_ST_F64, ASTRT_ST_I8, ASTRT_ST_I16, ASTRT_ST_U16, ASTRT_ST_U32, ASTRT_ST_U64,
  ASTRT_ST_BOOL, ASTRT_ST_F8_E5M2, ASTRT_ST_F8_E4M3,
  ASTRT_ST_NUM_DTYPES
} astrt_st_dtype;

/* One tensor. F16 and BF16 elements are their 16-bit patterns, BOOL one
 * byte (0 or 1). `data` is in host byte order. */
typedef struct astrt_st_tensor {
  const char *name;               /* UTF-8, unique within a file */
  int dtype;                      /* astrt_st_dtype */
  int rank;                       /* 0 .. ASTRT_MAX_RANK */
  int64_t dims[ASTRT_MAX_RANK];
  const void *data;               /* numel * element size bytes */
} astrt_st_tensor;

/* A file read by astrt_safetensors_read; release with astrt_st_file_free.
 * The tensors are in the order of their data in the file. A tensor's data
 * points into the file's bytes as read: it is aligned to its element size
 * when its BEGIN offset is a multiple of the element size (always the case
 * in files of one dtype, such as those astc writes); copy with memcpy
 * otherwise. */
typedef struct astrt_st_file {
  int ntensors;
  astrt_st_tensor *tensors;
  int nmeta;                      /* the "__metadata__" entries, in file order */
  char **meta_keys;
  char **meta_values;
  unsigned char *bytes_;          /* private: the whole file */
  int *by_name_;                  /* private: tensor indices sorted by name */
} astrt_st_file;

/* Bytes per element of `dtype` (0 for an unknown dtype). */
size_t astrt_st_dtype_size(int dtype);
/* The format's name of `dtype` ("F32"), or "?" for an unknown one. */
const char *astrt_st_dtype_name(int dtype);
/* Elements of a tensor: the product of its dims (1 for rank 0). */
int64_t astrt_st_numel(const astrt_st_tensor *t);

/* Writes n tensors and nmeta metadata pairs (meta_keys[i] -> meta_values[i];
 * both may be NULL when nmeta is 0) to `path`, in the given order, with the
 * header padded to a multiple of 8 bytes. Names and metadata are UTF-8; they
 * are JSON-escaped. Names must be unique and not "__metadata__".
 *
 * The write is atomic: the bytes go to "<path>.tmp.<pid>" in the same
 * directory, which is flushed and fsync'ed, renamed over `path`, and the
 * directory is fsync'ed. On any failure the temporary file is removed and a
 * file already at `path` is left as it was; the result is ASTRT_ERR_IO
 * naming the path and the system's reason (ASTRT_ERR_ARG for bad
 * arguments). `path` must not name an existing non-regular file (a device,
 * a directory). A file replaced at `path` keeps its permission bits; a
 * symbolic link at `path` is replaced by the file, not followed. Two
 * threads of one process must not write the same path at the same time.
 *
 * Test hook, only in a libastrt built with -DASTRT_TEST_HOOKS=ON: when the
 * environment variable ASTRT_FAULT_WRITE_AFTER is set to a number N, the
 * writer behaves as if the disk filled up after N bytes of the temporary
 * file were written (the write fails with ENOSPC). */
astrt_status astrt_safetensors_write(const char *path, const astrt_st_tensor *tensors, int n,
                                     const char *const *meta_keys,
                                     const char *const *meta_values, int nmeta);

/* Reads and checks a whole file: a sane header length (at most 100 MB and
 * within the file), a strict JSON header (objects, strings with escapes,
 * integers, arrays; nothing else; no "\u0000"), known dtypes, at most
 * ASTRT_MAX_RANK non-negative dims whose product does not overflow, no
 * fields but dtype, shape and data_offsets, unique names, string-valued
 * metadata, each tensor's byte count == numel * element size, and offsets
 * that cover the data exactly. Any violation is ASTRT_ERR_FORMAT naming the file and what
 * is wrong; a missing file is ASTRT_ERR_NOTFOUND. On failure *out is empty
 * (astrt_st_file_free on it is harmless). */
astrt_status astrt_safetensors_read(const char *path, astrt_st_file *out);
void astrt_st_file_free(astrt_st_file *f);

/* The tensor called `name`, or NULL. */
const astrt_st_tensor *astrt_st_find(const astrt_st_file *f, const char *name);
/* The metadata value of `key`, or NULL. */
const char *astrt_st_meta(const astrt_st_file *f, const char *key);

#ifdef __cplusplus
}
#endif
#endif
