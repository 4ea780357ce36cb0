/* parse.c — parse_module(): a .train file through the flex lexer and the
 * bison parser (grammar/) into a syntax tree. */
#include <string.h>

#include "ast.h"
#include "lexstate.h"
#include "parser.h"

/* from the flex-generated lexer */
typedef struct yy_buffer_state *YY_BUFFER_STATE;
int yylex_init_extra(struct LexState *extra, yyscan_t *scanner);
int yylex_destroy(yyscan_t scanner);
YY_BUFFER_STATE yy_scan_bytes(const char *bytes, int len, yyscan_t scanner);

Module *parse_module(int file, const char *path) {
  Module *m = xcalloc(1, sizeof(Module));
  m->arena = arena_new();
  m->path = arena_strdup(m->arena, path);
  m->file = file;
  size_t len;
  const char *text = src_text(file, &len);
  if (len > (size_t)1 << 30) {
    diag_error((Loc){file, 1, 1}, "file is too large");
    return m;
  }
  /* a NUL byte never occurs in a text file: report it once instead of a
   * stream of errors about the bytes around it */
  const char *nul = memchr(text, 0, len);
  const unsigned char *u = (const unsigned char *)text;
  if (nul && len >= 2 && ((u[0] == 0xff && u[1] == 0xfe) || (u[0] == 0xfe && u[1] == 0xff))) {
    diag_error((Loc){file, 1, 1}, "this file is UTF-16 (it starts with a UTF-16 byte-order mark); save it as "
                                  "UTF-8 (e.g. iconv -f UTF-16 -t UTF-8)");
    return m;
  }
  if (nul) {
    Loc at = {file, 1, 1};
    for (const char *p = text; p < nul; p++) {
      if (*p == '\n') at.line++, at.col = 1;
      else at.col++;
    }
    diag_error(at, "this is not a .train program: it contains a NUL byte (is it a binary file?)");
    return m;
  }
  /* a UTF-8 byte-order mark is not part of the program */
  if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0) text += 3, len -= 3;
  struct LexState ls = {.file = file, .line = 1, .col = 1, .arena = m->arena};
  yyscan_t scanner;
  if (yylex_init_extra(&ls, &scanner) != 0)
    internal_error(__FILE__, __LINE__, "cannot initialise the lexer");
  yy_scan_bytes(text, (int)len, scanner);
  yyparse(scanner, m);
  yylex_destroy(scanner);
  return m;
}
