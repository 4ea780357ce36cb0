/* lexstate.h — state shared by the lexer and the parser of one file. */
#ifndef ASTC_LEXSTATE_H
#define ASTC_LEXSTATE_H

#include "ast.h"

#define LEX_MAX_DEPTH 64   /* ( and [ nesting */
#define PARSE_MAX_DEPTH 128 /* expression and block nesting */

struct LexState {
  int file;
  int line, col;
  int depth;      /* open ( and [ */
  char stack[LEX_MAX_DEPTH];  /* which bracket each level opened */
  Loc open_loc[LEX_MAX_DEPTH];  /* ... and where */
  int braces;     /* open { */
  Loc brace_loc[LEX_MAX_DEPTH];  /* where the innermost ones opened */
  int error_line; /* line of the last lexical error: the parser stays quiet there */
  int last;       /* the previous token */
  int bad_chars;
  bool aborted;   /* gave up on a binary file */
  bool unclosed;  /* a missing '}' was reported: later syntax errors are its cascade */
  bool loop_head; /* after 'for' or 'while', until the line or a brace ends it */
  char text[48];  /* the text of the last token (for syntax errors) */
  Arena *arena;
};

bool lex_newline_ends_statement(struct LexState *ls);
void lex_remember_text(struct LexState *ls, const char *text, int len);

#endif
