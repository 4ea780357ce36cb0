/* lib_archive.c — a static library (the System V / GNU `ar` format) of one
 * object file, with the symbol index linkers need, written without calling
 * an external `ar`:
 *
 *   "!<arch>\n"
 *   member "/"            the index: u32 count, u32 member offsets, names
 *   member "astc_model.o/" the object
 *
 * Every member has a 60-byte header (name 16, date 12, uid 6, gid 6, mode
 * 8, size 10, "`\n"; space-padded decimal) and is padded to an even length
 * with '\n'. Index integers are big-endian. Dates and ids are 0, so the
 * same object gives the same archive.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codegen.h"
#include "common.h"

#define MEMBER_NAME "astc_model.o/"

static void put_header(FILE *f, const char *name, const char *mode, uint64_t size) {
  char h[61];
  snprintf(h, sizeof h, "%-16s%-12s%-6s%-6s%-8s%-10llu`\n", name, "0", "0", "0", mode,
           (unsigned long long)size);
  fwrite(h, 1, 60, f);
}

static void put_be32(FILE *f, uint32_t v) {
  unsigned char b[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16), (unsigned char)(v >> 8),
                        (unsigned char)v};
  fwrite(b, 1, 4, f);
}

static unsigned char *read_all(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  unsigned char *buf = NULL;
  size_t cap = 0, n = 0, got;
  do {
    if (n == cap) {
      cap = cap ? cap * 2 : 1 << 16;
      unsigned char *grown = realloc(buf, cap);
      if (!grown) {
        free(buf);
        fclose(f);
        errno = ENOMEM;
        return NULL;
      }
      buf = grown;
    }
    got = fread(buf + n, 1, cap - n, f);
    n += got;
  } while (got > 0);
  int bad = ferror(f);
  fclose(f);
  if (bad) {
    free(buf);
    errno = EIO;
    return NULL;
  }
  *len = n;
  return buf;
}

bool cg_write_archive(const char *obj_path, const char *ar_path, const char *const *symbols, int nsyms) {
  size_t obj_len;
  unsigned char *obj = read_all(obj_path, &obj_len);
  if (!obj) {
    fprintf(stderr, "astc: cannot read %s: %s\n", obj_path, strerror(errno));
    return false;
  }
  uint64_t names = 0;
  for (int i = 0; i < nsyms; i++) names += strlen(symbols[i]) + 1;
  uint64_t index_size = 4 + 4 * (uint64_t)nsyms + names;
  uint64_t obj_offset = 8 + 60 + index_size + (index_size & 1);
  char *tmp = xprintf("%s.tmp", ar_path);
  FILE *f = fopen(tmp, "wb");
  bool ok = f != NULL;
  if (f) {
    fputs("!<arch>\n", f);
    put_header(f, "/", "0", index_size);
    put_be32(f, (uint32_t)nsyms);
    for (int i = 0; i < nsyms; i++) put_be32(f, (uint32_t)obj_offset);
    for (int i = 0; i < nsyms; i++) fwrite(symbols[i], 1, strlen(symbols[i]) + 1, f);
    if (index_size & 1) fputc('\n', f);
    put_header(f, MEMBER_NAME, "644", obj_len);
    fwrite(obj, 1, obj_len, f);
    if (obj_len & 1) fputc('\n', f);
    ok = !ferror(f);
    if (fclose(f) != 0) ok = false;
  }
  if (ok && rename(tmp, ar_path) != 0) ok = false;
  if (!ok) {
    fprintf(stderr, "astc: cannot write %s: %s\n", ar_path, strerror(errno));
    remove(tmp);
  }
  free(tmp);
  free(obj);
  return ok;
}
