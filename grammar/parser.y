/* parser.y — the grammar of the .train language.
 *
 *   module  = { item sep }
 *   item    = "import" NAME ["as" NAME]
 *           | "data" NAME "=" expr
 *           | ("layer" | "fn" | "model") NAME "(" params ")" ["->" type] block
 *           | "train" NAME "on" NAME "{" { NAME "=" expr sep } "}"
 *           | "speedup" "{" { NAME [expr] sep } "}"
 *   block   = "{" { stmt sep } "}"
 *   stmt    = NAME "=" expr | "param" NAME ":" type "=" expr
 *           | "state" NAME ":" type "=" expr | "update" NAME "=" expr
 *           | "return" expr | "if" expr block ["else" (block | if-stmt)]
 *           (and "for" / "while" ... [block]: reserved, parsed to say there
 *           are no loops, once)
 *   type    = NAME ["[" [dim {"," dim}] "]"]        dim = expr | "*"
 *   expr    = binary and unary operators over postfix expressions:
 *             or < and < not < comparisons < + - < * / @ < unary - < **
 *   postfix = primary { "(" args ")" | "." NAME }
 *   primary = number | string | true | false | NAME | "(" expr ")" | "[" args "]"
 *   arg     = expr | argname ":" expr | "train" ":" expr | expr "->" expr
 *   argname = NAME {"." NAME}   (a dotted name: a nested layer in freeze at)
 *
 * sep is a newline (see lexer.l for when one counts) or ';'.
 */
%code requires {
#include "ast.h"
typedef void *yyscan_t;
}

%code provides {
int yylex(YYSTYPE *yylval, YYLTYPE *yylloc, yyscan_t scanner);
void yyerror(YYLTYPE *loc, yyscan_t scanner, Module *mod, const char *msg);
}

%code {
#include <string.h>
#include "lexstate.h"
#include "ast_build.h"

struct LexState *yyget_extra(yyscan_t scanner);

static void else_on_new_line(Loc loc);
static void no_loops(Loc loc, const char *word);
static const char *arg_name(Module *mod, const Expr *e);

#define A (mod->arena)

#define YYLLOC_DEFAULT(Cur, Rhs, N)                                            \
  do {                                                                         \
    if (N) (Cur) = YYRHSLOC(Rhs, 1);                                           \
    else (Cur) = YYRHSLOC(Rhs, 0);                                             \
  } while (0)
}

%define api.pure full
%define api.location.type {Loc}
%define parse.error custom
%locations
%param {yyscan_t scanner}
%parse-param {Module *mod}

%union {
  double num;
  const char *str;
  Expr *expr;
  Stmt *stmt;
  TypeExpr *type;
  Item *item;
  Arg arg;
  ArgList args;
  StmtList stmts;
  ParamList params;
  Param param;
  EntryList entries;
  Entry entry;
}

%token <str> IDENT "name" STRING "string"
%token <num> INT "integer" FLOAT "number" TRUE "true" FALSE "false"
%token NEWLINE "end of line"
%token IMPORT "import" AS "as" DATA "data" LAYER "layer" FN "fn" MODEL "model"
%token TRAIN "train" ON "on" SPEEDUP "speedup" PARAM "param" STATE "state"
%token UPDATE "update" RETURN "return" IF "if" ELSE "else" FOR "for" WHILE "while"
%token AND "and" OR "or" NOT "not"
%token ARROW "->" GE ">=" LE "<=" EQ "==" NE "!=" POW "**"
%token LOOP_SEMI "';' of a loop header"

%left OR
%left AND
%precedence NOT
%nonassoc '<' '>' LE GE EQ NE
%left '+' '-'
%left '*' '/' '@'
%precedence UNARY
%right POW

%type <item> item callable
%type <expr> expr postfix primary
%type <stmt> stmt if_stmt
%type <stmts> stmts block
%type <type> type
%type <args> args args_opt dims indices
%type <arg> arg dim index
%type <params> params params_opt
%type <param> param
%type <entries> entries pass_entries entry_block pass_block
%type <entry> entry pass_entry
%type <str> alias_opt

%%

module
  : %empty
  | module sep
  | module item sep                   { module_push_item(mod, $2); }
  | module error sep                  { yyerrok; }
  ;

sep
  : NEWLINE
  | ';'
  ;

item
  : IMPORT IDENT alias_opt            { $$ = new_item(A, IT_IMPORT, @1); $$->name = $2; $$->name_loc = @2;
                                        $$->alias = $3 ? $3 : $2; $$->alias_loc = $3 ? @3 : @2; }
  | DATA IDENT '=' expr               { $$ = new_item(A, IT_DATA, @1); $$->name = $2; $$->name_loc = @2; $$->value = $4; }
  | callable
  | TRAIN IDENT ON IDENT entry_block
                                      { $$ = new_item(A, IT_TRAIN, @1); $$->name = $2; $$->name_loc = @2;
                                        $$->alias = $4; $$->alias_loc = @4;
                                        $$->entries = $5.items; $$->nentries = $5.len; }
  | TRAIN error entry_block           { $$ = NULL; }
  | SPEEDUP error pass_block          { $$ = NULL; }
  | SPEEDUP pass_block                { $$ = new_item(A, IT_SPEEDUP, @1);
                                        $$->entries = $2.items; $$->nentries = $2.len; }
  ;

alias_opt
  : %empty                            { $$ = NULL; }
  | AS IDENT                          { $$ = $2; }
  ;

callable
  : LAYER IDENT '(' params_opt ')' ARROW type block
                                      { $$ = new_callable(A, IT_LAYER, @1, $2, @2, $4, $7, $8); }
  | FN IDENT '(' params_opt ')' ARROW type block
                                      { $$ = new_callable(A, IT_FN, @1, $2, @2, $4, $7, $8); }
  | MODEL IDENT '(' params_opt ')' ARROW type block
                                      { $$ = new_callable(A, IT_MODEL, @1, $2, @2, $4, $7, $8); }
  | LAYER IDENT '(' params_opt ')' block
                                      { $$ = new_callable(A, IT_LAYER, @1, $2, @2, $4, NULL, $6); }
  | FN IDENT '(' params_opt ')' block
                                      { $$ = new_callable(A, IT_FN, @1, $2, @2, $4, NULL, $6); }
  | MODEL IDENT '(' params_opt ')' block
                                      { $$ = new_callable(A, IT_MODEL, @1, $2, @2, $4, NULL, $6); }
  | LAYER error block                 { $$ = NULL; }
  | FN error block                    { $$ = NULL; }
  | MODEL error block                 { $$ = NULL; }
  ;

params_opt
  : %empty                            { $$ = (ParamList){0}; }
  | params
  | params ','
  ;

params
  : param                             { $$ = (ParamList){0}; params_push(A, &$$, $1); }
  | params ',' param                  { $$ = $1; params_push(A, &$$, $3); }
  ;

param
  : IDENT ':' type                    { $$ = (Param){$1, @1, $3, NULL}; }
  | IDENT ':' type '=' expr           { $$ = (Param){$1, @1, $3, $5}; }
  ;

type
  : IDENT                             { $$ = new_type(A, @1, $1, false, (ArgList){0}); }
  | IDENT '[' ']'                     { $$ = new_type(A, @1, $1, true, (ArgList){0}); }
  | IDENT '[' dims ']'                { $$ = new_type(A, @1, $1, true, $3); }
  ;

dims
  : dim                               { $$ = (ArgList){0}; args_push(A, &$$, $1); }
  | dims ',' dim                      { $$ = $1; args_push(A, &$$, $3); }
  ;

dim
  : expr                              { $$ = (Arg){NULL, @1, $1}; }
  | '*'                               { $$ = (Arg){NULL, @1, new_expr(A, EX_STAR, @1)}; }
  ;

block
  : '{' stmts '}'                     { $$ = $2; }
  | '{' stmts error '}'               { $$ = $2; }
  | '{' stmts stmt '}'                { $$ = $2; stmts_push(A, &$$, $3); }
  ;

stmts
  : %empty                            { $$ = (StmtList){0}; }
  | stmts sep                         { $$ = $1; }
  | stmts stmt sep                    { $$ = $1; stmts_push(A, &$$, $2); }
  | stmts error sep                   { $$ = $1; yyerrok; }
  ;

stmt
  : IDENT '=' expr                    { $$ = new_stmt(A, ST_ASSIGN, @1, $1, @1, NULL, $3); }
  | PARAM IDENT ':' type '=' expr     { $$ = new_stmt(A, ST_PARAM, @1, $2, @2, $4, $6); }
  | STATE IDENT ':' type '=' expr     { $$ = new_stmt(A, ST_STATE, @1, $2, @2, $4, $6); }
  | UPDATE IDENT '=' expr             { $$ = new_stmt(A, ST_UPDATE, @1, $2, @2, NULL, $4); }
  | RETURN expr                       { $$ = new_stmt(A, ST_RETURN, @1, NULL, @1, NULL, $2); }
  | if_stmt
  | ELSE block                        { else_on_new_line(@1); $$ = NULL; }
  | ELSE if_stmt                      { else_on_new_line(@1); $$ = NULL; }
  | loop loop_head block              { $$ = NULL; }
  | loop loop_head                    { $$ = NULL; }
  ;

/* reported as soon as it is read, before any error in the loop's body */
loop
  : FOR                               { no_loops(@1, "for"); }
  | WHILE                             { no_loops(@1, "while"); }
  ;

/* whatever a loop's header holds, in any language's syntax (for i in
 * range(3):, for (i = 0; ...) stops at its ';', while n > 0), up to its
 * block or the end of the line */
loop_head
  : %empty
  | loop_head loop_token
  ;

loop_token
  : IDENT { (void)$1; } | STRING { (void)$1; } | INT { (void)$1; } | FLOAT { (void)$1; }
  | TRUE { (void)$1; } | FALSE { (void)$1; } | AND | OR | NOT | ARROW | GE | LE | EQ | NE | POW
  | '(' | ')' | '[' | ']' | '-' | '+' | '*' | '/' | '@' | '<' | '>' | ',' | ':' | '=' | '.' | LOOP_SEMI
  | IMPORT | AS | DATA | LAYER | FN | MODEL | TRAIN | ON | SPEEDUP | PARAM | STATE | UPDATE | RETURN
  | IF | ELSE | FOR | WHILE
  ;

if_stmt
  : IF expr block                     { $$ = new_if(A, @1, $2, $3, (StmtList){0}); }
  | IF expr block ELSE block          { $$ = new_if(A, @1, $2, $3, $5); }
  | IF expr block ELSE if_stmt        { StmtList e = {0}; stmts_push(A, &e, $5);
                                        $$ = new_if(A, @1, $2, $3, e); }
  ;

entry_block
  : '{' entries '}'                   { $$ = $2; }
  | '{' entries error '}'             { $$ = $2; }
  | '{' entries entry '}'             { $$ = $2; entries_push(A, &$$, $3); }
  ;

entries
  : %empty                            { $$ = (EntryList){0}; }
  | entries sep                       { $$ = $1; }
  | entries entry sep                 { $$ = $1; entries_push(A, &$$, $2); }
  | entries error sep                 { $$ = $1; yyerrok; }
  ;

entry
  : IDENT '=' expr                    { $$ = (Entry){$1, @1, $3}; }
  ;

pass_block
  : '{' pass_entries '}'              { $$ = $2; }
  | '{' pass_entries error '}'        { $$ = $2; }
  | '{' pass_entries pass_entry '}'   { $$ = $2; entries_push(A, &$$, $3); }
  ;

pass_entries
  : %empty                            { $$ = (EntryList){0}; }
  | pass_entries sep                  { $$ = $1; }
  | pass_entries pass_entry sep       { $$ = $1; entries_push(A, &$$, $2); }
  | pass_entries error sep            { $$ = $1; yyerrok; }
  ;

pass_entry
  : IDENT                             { $$ = (Entry){$1, @1, NULL}; }
  | IDENT postfix                     { $$ = (Entry){$1, @1, $2}; }
  ;

expr
  : expr '+' expr                     { $$ = new_binary(A, OP_ADD, @2, $1, $3); }
  | expr '-' expr                     { $$ = new_binary(A, OP_SUB, @2, $1, $3); }
  | expr '*' expr                     { $$ = new_binary(A, OP_MUL, @2, $1, $3); }
  | expr '/' expr                     { $$ = new_binary(A, OP_DIV, @2, $1, $3); }
  | expr '@' expr                     { $$ = new_binary(A, OP_MATMUL, @2, $1, $3); }
  | expr POW expr                     { $$ = new_binary(A, OP_POW, @2, $1, $3); }
  | expr '<' expr                     { $$ = new_binary(A, OP_LT, @2, $1, $3); }
  | expr '>' expr                     { $$ = new_binary(A, OP_GT, @2, $1, $3); }
  | expr LE expr                      { $$ = new_binary(A, OP_LE, @2, $1, $3); }
  | expr GE expr                      { $$ = new_binary(A, OP_GE, @2, $1, $3); }
  | expr EQ expr                      { $$ = new_binary(A, OP_EQ, @2, $1, $3); }
  | expr NE expr                      { $$ = new_binary(A, OP_NE, @2, $1, $3); }
  | expr AND expr                     { $$ = new_binary(A, OP_AND, @2, $1, $3); }
  | expr OR expr                      { $$ = new_binary(A, OP_OR, @2, $1, $3); }
  | '-' expr %prec UNARY              { $$ = new_unary(A, OP_NEG, @1, $2); }
  | NOT expr                          { $$ = new_unary(A, OP_NOT, @1, $2); }
  | postfix
  ;

postfix
  : primary
  | postfix '(' args_opt ')'          { $$ = new_call(A, $1->loc, $1, $3); }
  | postfix '.' IDENT                 { $$ = new_member(A, @3, $1, $3); }
  | postfix '[' indices ']'           { $$ = new_index(A, @2, $1, $3); }
  ;

indices
  : index                             { $$ = (ArgList){0}; args_push(A, &$$, $1); }
  | indices ',' index                 { $$ = $1; args_push(A, &$$, $3); }
  ;

index
  : expr                              { $$ = (Arg){NULL, @1, $1}; }
  | ':'                               { $$ = (Arg){NULL, @1, new_slice(A, @1, NULL, NULL)}; }
  | expr ':'                          { $$ = (Arg){NULL, @1, new_slice(A, @2, $1, NULL)}; }
  | ':' expr                          { $$ = (Arg){NULL, @1, new_slice(A, @1, NULL, $2)}; }
  | expr ':' expr                     { $$ = (Arg){NULL, @1, new_slice(A, @2, $1, $3)}; }
  ;

primary
  : INT                               { $$ = new_num(A, @1, $1, true); }
  | FLOAT                             { $$ = new_num(A, @1, $1, false); }
  | TRUE                              { $$ = new_expr(A, EX_BOOL, @1); $$->num = 1; }
  | FALSE                             { $$ = new_expr(A, EX_BOOL, @1); $$->num = 0; }
  | STRING                            { $$ = new_expr(A, EX_STR, @1); $$->str = $1; }
  | IDENT                             { $$ = new_expr(A, EX_NAME, @1); $$->str = $1; }
  | '(' expr ')'                      { $$ = $2; }
  | '[' args_opt ']'                  { $$ = new_list(A, @1, $2); }
  ;

args_opt
  : %empty                            { $$ = (ArgList){0}; }
  | args
  | args ','
  ;

args
  : arg                               { $$ = (ArgList){0}; args_push(A, &$$, $1); }
  | args ',' arg                      { $$ = $1; args_push(A, &$$, $3); }
  ;

arg
  : expr                              { $$ = (Arg){NULL, @1, $1}; }
  | postfix ':' expr                  { $$ = (Arg){arg_name(mod, $1), @1, $3}; }
  | TRAIN ':' expr                    { $$ = (Arg){"train", @1, $3}; }  /* synthetic(train: 1024) */
  | expr ARROW expr                   { $$ = (Arg){NULL, @1, new_range(A, @2, $1, $3)}; }
  | postfix ':' expr ARROW expr       { $$ = (Arg){arg_name(mod, $1), @1, new_range(A, @4, $3, $5)}; }
  ;

%%

/* The name before an argument's ':': a name, or a dotted one (a nested
 * layer: `freeze at(residual_1.conv2d_1: 0.5)`), as its text. Anything
 * else is an error; the argument is then kept without a name. */
static const char *arg_name(Module *mod, const Expr *e) {
  const Expr *bad = e;
  const char *name = ast_dotted_name(A, e, &bad);
  if (!name)
    diag_error(bad->loc, "expected a name before ':' (an argument's name, such as 'lr: 0.1', or a nested layer's, "
                         "such as 'residual_1.conv2d_1: 0.5')");
  return name;
}

/* `}` NEWLINE `else`: the newline ended the if statement. The else part is
 * parsed (so nothing cascades) and dropped after one error. */
static void else_on_new_line(Loc loc) {
  diag_error(loc, "'else' must be on the same line as the '}' that closes the if-block: "
                  "write '} else {'");
}

/* `for ... { ... }` or `while ...`: parsed whole (so nothing cascades) and
 * dropped after one error. */
static void no_loops(Loc loc, const char *word) {
  diag_error(loc, "'%s': there are no loops; write the repetition as recursion, a layer or fn that calls "
                  "itself until a compile-time condition ends it (at most 64 calls deep)", word);
}

/* How a token is named in a syntax error: keywords and operators quoted. */
static const char *token_desc(yysymbol_kind_t k, char *buf, size_t cap) {
  const char *name = yysymbol_name(k);
  switch (k) {
  case YYSYMBOL_YYEOF: return "end of file";
  case YYSYMBOL_IDENT: return "name";
  case YYSYMBOL_STRING: return "string";
  case YYSYMBOL_INT: return "integer";
  case YYSYMBOL_FLOAT: return "number";
  case YYSYMBOL_NEWLINE: return "end of line";
  default: break;
  }
  if (name[0] == '\'' || name[0] == '"') return name;
  snprintf(buf, cap, "'%s'", name);
  return buf;
}

static bool starts_item(yysymbol_kind_t k) {
  return k == YYSYMBOL_IMPORT || k == YYSYMBOL_DATA || k == YYSYMBOL_LAYER || k == YYSYMBOL_FN ||
         k == YYSYMBOL_MODEL || k == YYSYMBOL_TRAIN || k == YYSYMBOL_SPEEDUP;
}

/* "unexpected X, expected A, B or C" — at most four expectations — with a
 * note on an unclosed bracket or brace when one explains the error. */
static int yyreport_syntax_error(const yypcontext_t *ctx, yyscan_t scanner,
                                 Module *mod) {
  (void)mod;
  struct LexState *ls = yyget_extra(scanner);
  if (ls->aborted || ls->unclosed) return 0;
  Loc loc = *yypcontext_location(ctx);
  /* the lexer already reported a bad token on this line */
  if (ls->error_line && loc.line == ls->error_line) return 0;
  yysymbol_kind_t expected[YYNTOKENS];
  int n = yypcontext_expected_tokens(ctx, expected, YYNTOKENS);
  bool want_expr = false;
  for (int i = 0; i < n; i++)
    if (expected[i] == YYSYMBOL_INT) want_expr = true;
  yysymbol_kind_t got = yypcontext_token(ctx);
  char buf[32];
  StrBuf sb = {0};
  if (got == YYSYMBOL_IDENT || got == YYSYMBOL_INT || got == YYSYMBOL_FLOAT)
    sb_printf(&sb, "unexpected %s '%s'", token_desc(got, buf, sizeof buf), ls->text);
  else
    sb_printf(&sb, "unexpected %s", token_desc(got, buf, sizeof buf));
  bool in_block = ls->braces > 0 && (starts_item(got) || got == YYSYMBOL_YYEOF);
  ls->unclosed = in_block;
  if (in_block) {
    sb_puts(&sb, ls->braces <= LEX_MAX_DEPTH ? " inside a block; is a '}' missing?"
                                             : "; is a '}' missing?");
  } else if (want_expr) {
    sb_puts(&sb, ", expected an expression");
  } else if (n > 0 && n <= 4) {
    sb_puts(&sb, ", expected ");
    for (int i = 0; i < n; i++) {
      if (i > 0) sb_puts(&sb, i == n - 1 ? " or " : ", ");
      sb_puts(&sb, token_desc(expected[i], buf, sizeof buf));
    }
  }
  if (got == YYSYMBOL_ELSE)
    sb_puts(&sb, " (write '} else {' on one line)");
  if (got == YYSYMBOL_ARROW)
    sb_puts(&sb, " ('->' makes a range inside an argument list, as in ramp(64 -> 512))");
  diag_error(loc, "%s", sb.data);
  sb_free(&sb);
  /* a newline inside an open bracket does not end a statement, so a missing
   * ')' or ']' shows up on a later line: point at the bracket */
  if (ls->depth > 0 && ls->depth <= LEX_MAX_DEPTH) {
    Loc open = ls->open_loc[ls->depth - 1];
    if (open.line < loc.line)
      diag_note(open, "the '%c' opened here is not closed", ls->stack[ls->depth - 1]);
  } else if (in_block && ls->braces <= LEX_MAX_DEPTH) {
    diag_note(ls->brace_loc[ls->braces - 1], "the '{' opened here is not closed");
  }
  return 0;
}

void yyerror(YYLTYPE *loc, yyscan_t scanner, Module *mod, const char *msg) {
  (void)scanner;
  (void)mod;
  if (strcmp(msg, "memory exhausted") == 0)
    diag_error(*loc, "program nested too deeply for the parser");
  else
    diag_error(*loc, "%s", msg);
}
