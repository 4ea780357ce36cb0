/* diag.h — source files and user diagnostics, in one place.
 *
 * Every user-facing error goes through diag_error():
 *     file:line:col: error: message
 *         the source line
 *              ^
 * followed by any notes (diag_note) that explain where the other side of a
 * mismatch came from. Errors are counted; after DIAG_MAX_ERRORS the rest are
 * suppressed. Compiler bugs use internal_error() (common.h) instead.
 */
#ifndef ASTC_DIAG_H
#define ASTC_DIAG_H

#include <stdio.h>

#include "common.h"

/* A position in a source file. file 0 means "no location". line and col are
 * 1-based; col counts bytes. */
typedef struct Loc {
  int file;
  int line, col;
} Loc;

#define NO_LOC ((Loc){0, 0, 0})
#define DIAG_MAX_ERRORS 20

/* ---- the source table -------------------------------------------------------- */

/* Registers a file's text (taking ownership of `text`); returns its id > 0. */
int src_add(const char *path, char *text, size_t len);
const char *src_path(int file);
const char *src_text(int file, size_t *len);
/* Finds a registered file by path; 0 if none. */
int src_find(const char *path);
void src_reset(void);  /* frees every registered file */

/* ---- diagnostics ------------------------------------------------------------ */

void diag_error(Loc loc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void diag_warning(Loc loc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A note attaches to the previous error or warning (printed only if it was). */
void diag_note(Loc loc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

int diag_error_count(void);
void diag_reset(void);
/* While muted (calls nest: mute(true) ... mute(false)), diagnostics are
 * neither printed nor counted: for looking into a file the program does not
 * use, such as a standard-library module it does not import, for a hint. */
void diag_mute(bool on);
/* Where diagnostics go (default stderr). */
void diag_set_stream(FILE *f);
/* Print source lines and carets (default on). */
void diag_set_show_source(bool on);

/* A number for a message: an integer below 10^18 in full (1000000000000,
 * not 1e+12; 16777216, not 1.67772e+07); anything else as the shortest
 * decimal of up to 10 digits that reads back as the same double (0.1,
 * 0.1234567, 2.5e-05, inf), else in 6 digits. The result lives in one of a
 * few rotating per-thread buffers: use it within the message. */
const char *num_str(double x);

/* A short human name for a location: "file:line:col". */
const char *loc_str(Loc loc, char *buf, size_t cap);

#endif
