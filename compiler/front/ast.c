/* ast.c — syntax-tree constructors and a debug dump (parse.c parses). */
#include "ast.h"

#include <stdlib.h>
#include <string.h>

#include "ast_build.h"
#include "lexstate.h"

/* ---- arena-backed lists: capacity doubles at 4, 8, 16, ... ------------------- */

#define LIST_PUSH(arena, items, len, x)                                        \
  do {                                                                         \
    if ((len) == 0 || ((len) >= 4 && ((len) & ((len) - 1)) == 0)) {           \
      int cap_ = (len) == 0 ? 4 : 2 * (len);                                   \
      void *p_ = arena_alloc((arena), sizeof(*(items)) * (size_t)cap_);        \
      if (len) memcpy(p_, (items), sizeof(*(items)) * (size_t)(len));          \
      (items) = p_;                                                            \
    }                                                                          \
    (items)[(len)++] = (x);                                                    \
  } while (0)

void args_push(Arena *a, ArgList *l, Arg x) { LIST_PUSH(a, l->items, l->len, x); }
void stmts_push(Arena *a, StmtList *l, Stmt *x) {
  if (!x) return;  /* a statement that had a syntax error */
  LIST_PUSH(a, l->items, l->len, x);
}
void params_push(Arena *a, ParamList *l, Param x) { LIST_PUSH(a, l->items, l->len, x); }
void entries_push(Arena *a, EntryList *l, Entry x) { LIST_PUSH(a, l->items, l->len, x); }
void module_push_item(Module *m, Item *it) {
  if (!it) return;  /* an item that had a syntax error */
  LIST_PUSH(m->arena, m->items, m->nitems, it);
}

/* ---- expressions: depth is tracked so later recursive walks are bounded ---- */

static void set_depth(Expr *e, int child_depth) {
  e->depth = child_depth + 1;
  if (e->depth == PARSE_MAX_DEPTH + 1)
    diag_error(e->loc, "expression nested too deeply (over %d levels; each operator of a chain "
                       "such as a + b + c counts as one); split it into several assignments",
               PARSE_MAX_DEPTH);
}

static int args_depth(ArgList l) {
  int d = 0;
  for (int i = 0; i < l.len; i++)
    if (l.items[i].value) d = MAX(d, l.items[i].value->depth);
  return d;
}

Expr *new_expr(Arena *a, ExprKind kind, Loc loc) {
  Expr *e = arena_alloc(a, sizeof(Expr));
  e->kind = kind;
  e->loc = loc;
  e->depth = 1;
  return e;
}

Expr *new_num(Arena *a, Loc loc, double v, bool is_int) {
  Expr *e = new_expr(a, EX_NUM, loc);
  e->num = v;
  e->is_int = is_int;
  return e;
}

Expr *new_binary(Arena *a, BinOp op, Loc loc, Expr *lhs, Expr *rhs) {
  Expr *e = new_expr(a, EX_BINARY, loc);
  e->op = op;
  e->lhs = lhs;
  e->rhs = rhs;
  set_depth(e, MAX(lhs->depth, rhs->depth));
  return e;
}

Expr *new_unary(Arena *a, BinOp op, Loc loc, Expr *operand) {
  Expr *e = new_expr(a, EX_UNARY, loc);
  e->op = op;
  e->lhs = operand;
  set_depth(e, operand->depth);
  return e;
}

Expr *new_range(Arena *a, Loc loc, Expr *lo, Expr *hi) {
  Expr *e = new_binary(a, OP_ADD, loc, lo, hi);
  e->kind = EX_RANGE;
  return e;
}

Expr *new_call(Arena *a, Loc loc, Expr *fn, ArgList args) {
  Expr *e = new_expr(a, EX_CALL, loc);
  e->lhs = fn;
  e->args = args;
  set_depth(e, MAX(fn->depth, args_depth(args)));
  return e;
}

Expr *new_member(Arena *a, Loc loc, Expr *lhs, const char *name) {
  Expr *e = new_expr(a, EX_MEMBER, loc);
  e->lhs = lhs;
  e->str = name;
  set_depth(e, lhs->depth);
  return e;
}

Expr *new_index(Arena *a, Loc loc, Expr *lhs, ArgList items) {
  Expr *e = new_expr(a, EX_INDEX, loc);
  e->lhs = lhs;
  e->args = items;
  set_depth(e, MAX(lhs->depth, args_depth(items)));
  return e;
}

Expr *new_slice(Arena *a, Loc loc, Expr *lo, Expr *hi) {
  Expr *e = new_expr(a, EX_SLICE, loc);
  e->lhs = lo;
  e->rhs = hi;
  set_depth(e, MAX(lo ? lo->depth : 0, hi ? hi->depth : 0));
  return e;
}

Expr *new_list(Arena *a, Loc loc, ArgList items) {
  Expr *e = new_expr(a, EX_LIST, loc);
  e->args = items;
  set_depth(e, args_depth(items));
  return e;
}

TypeExpr *new_type(Arena *a, Loc loc, const char *name, bool has_dims, ArgList dims) {
  TypeExpr *t = arena_alloc(a, sizeof(TypeExpr));
  t->loc = loc;
  t->name = name;
  t->has_dims = has_dims;
  t->dims = dims;
  return t;
}

Stmt *new_stmt(Arena *a, StmtKind kind, Loc loc, const char *name, Loc name_loc,
               TypeExpr *type, Expr *value) {
  Stmt *s = arena_alloc(a, sizeof(Stmt));
  s->kind = kind;
  s->loc = loc;
  s->name = name;
  s->name_loc = name_loc;
  s->type = type;
  s->value = value;
  s->depth = 1;
  return s;
}

static int stmts_depth(StmtList l) {
  int d = 0;
  for (int i = 0; i < l.len; i++) d = MAX(d, l.items[i]->depth);
  return d;
}

Stmt *new_if(Arena *a, Loc loc, Expr *cond, StmtList body, StmtList els) {
  Stmt *s = new_stmt(a, ST_IF, loc, NULL, loc, NULL, cond);
  s->body = body;
  s->els = els;
  s->depth = 1 + MAX(stmts_depth(body), stmts_depth(els));
  if (s->depth == PARSE_MAX_DEPTH + 1)
    diag_error(loc, "if-blocks nested too deeply (over %d levels; each 'else if' counts as one)",
               PARSE_MAX_DEPTH);
  return s;
}

Item *new_item(Arena *a, ItemKind kind, Loc loc) {
  Item *it = arena_alloc(a, sizeof(Item));
  it->kind = kind;
  it->loc = loc;
  return it;
}

Item *new_callable(Arena *a, ItemKind kind, Loc loc, const char *name,
                   Loc name_loc, ParamList params, TypeExpr *ret, StmtList body) {
  Item *it = new_item(a, kind, loc);
  it->name = name;
  it->name_loc = name_loc;
  it->params = params.items;
  it->nparams = params.len;
  it->ret = ret;
  it->body = body;
  return it;
}

void module_free(Module *m) {
  if (!m) return;
  arena_free(m->arena);
  free(m);
}

const char *binop_str(BinOp op) {
  static const char *names[] = {
      [OP_ADD] = "+",  [OP_SUB] = "-",  [OP_MUL] = "*",   [OP_DIV] = "/",
      [OP_MATMUL] = "@", [OP_POW] = "**", [OP_LT] = "<",  [OP_LE] = "<=",
      [OP_GT] = ">",   [OP_GE] = ">=",  [OP_EQ] = "==",   [OP_NE] = "!=",
      [OP_AND] = "and", [OP_OR] = "or", [OP_NEG] = "-",   [OP_NOT] = "not",
  };
  return names[op];
}

const char *item_kind_str(ItemKind k) {
  static const char *names[] = {
      [IT_IMPORT] = "import", [IT_DATA] = "data",   [IT_LAYER] = "layer",
      [IT_FN] = "fn",         [IT_MODEL] = "model", [IT_TRAIN] = "train",
      [IT_SPEEDUP] = "speedup",
  };
  return names[k];
}

/* ---- debug dump: an S-expression per item ------------------------------------ */

static void dump_expr(FILE *out, const Expr *e);

static void dump_args(FILE *out, ArgList l) {
  for (int i = 0; i < l.len; i++) {
    fputc(' ', out);
    if (l.items[i].name) fprintf(out, "%s:", l.items[i].name);
    dump_expr(out, l.items[i].value);
  }
}

static void dump_type(FILE *out, const TypeExpr *t) {
  if (!t) return;
  fprintf(out, "%s", t->name);
  if (t->has_dims) {
    fputc('[', out);
    dump_args(out, t->dims);
    fputs(" ]", out);
  }
}

static void dump_expr(FILE *out, const Expr *e) {
  switch (e->kind) {
  case EX_NUM: fprintf(out, e->is_int ? "%.0f" : "%g", e->num); break;
  case EX_STR: fprintf(out, "\"%s\"", e->str); break;
  case EX_BOOL: fputs(e->num ? "true" : "false", out); break;
  case EX_NAME: fputs(e->str, out); break;
  case EX_STAR: fputc('*', out); break;
  case EX_MEMBER: dump_expr(out, e->lhs); fprintf(out, ".%s", e->str); break;
  case EX_CALL:
    fputs("(call ", out);
    dump_expr(out, e->lhs);
    dump_args(out, e->args);
    fputc(')', out);
    break;
  case EX_UNARY:
    fprintf(out, "(%s ", binop_str(e->op));
    dump_expr(out, e->lhs);
    fputc(')', out);
    break;
  case EX_BINARY:
  case EX_RANGE:
    fprintf(out, "(%s ", e->kind == EX_RANGE ? "->" : binop_str(e->op));
    dump_expr(out, e->lhs);
    fputc(' ', out);
    dump_expr(out, e->rhs);
    fputc(')', out);
    break;
  case EX_LIST:
    fputs("(list", out);
    dump_args(out, e->args);
    fputc(')', out);
    break;
  case EX_INDEX:
    fputs("(index ", out);
    dump_expr(out, e->lhs);
    dump_args(out, e->args);
    fputc(')', out);
    break;
  case EX_SLICE:
    fputs("(slice ", out);
    if (e->lhs) dump_expr(out, e->lhs);
    fputs(" : ", out);
    if (e->rhs) dump_expr(out, e->rhs);
    fputc(')', out);
    break;
  case EX_TYPE: dump_type(out, e->type); break;
  }
}

static void dump_stmts(FILE *out, StmtList l, int indent);

static void dump_stmt(FILE *out, const Stmt *s, int indent) {
  static const char *kinds[] = {"=", "param", "state", "update", "return", "if"};
  fprintf(out, "%*s(%s", indent, "", kinds[s->kind]);
  if (s->name) fprintf(out, " %s", s->name);
  if (s->type) {
    fputc(' ', out);
    dump_type(out, s->type);
  }
  if (s->value) {
    fputc(' ', out);
    dump_expr(out, s->value);
  }
  if (s->kind == ST_IF) {
    fputc('\n', out);
    dump_stmts(out, s->body, indent + 2);
    if (s->els.len) {
      fprintf(out, "%*selse\n", indent, "");
      dump_stmts(out, s->els, indent + 2);
    }
  }
  fputs(")\n", out);
}

static void dump_stmts(FILE *out, StmtList l, int indent) {
  for (int i = 0; i < l.len; i++) dump_stmt(out, l.items[i], indent);
}

void ast_dump(FILE *out, const Module *m) {
  for (int i = 0; i < m->nitems; i++) {
    const Item *it = m->items[i];
    fprintf(out, "(%s %s", item_kind_str(it->kind), it->name ? it->name : "");
    if (it->alias) fprintf(out, " %s", it->alias);
    for (int p = 0; p < it->nparams; p++) {
      fprintf(out, " (%s: ", it->params[p].name);
      dump_type(out, it->params[p].type);
      if (it->params[p].def) {
        fputs(" = ", out);
        dump_expr(out, it->params[p].def);
      }
      fputc(')', out);
    }
    if (it->ret) {
      fputs(" -> ", out);
      dump_type(out, it->ret);
    }
    if (it->value) {
      fputc(' ', out);
      dump_expr(out, it->value);
    }
    fputc('\n', out);
    dump_stmts(out, it->body, 2);
    for (int e = 0; e < it->nentries; e++) {
      fprintf(out, "  (%s", it->entries[e].key);
      if (it->entries[e].value) {
        fputc(' ', out);
        dump_expr(out, it->entries[e].value);
      }
      fputs(")\n", out);
    }
    fputs(")\n", out);
  }
}

const char *ast_dotted_name(Arena *a, const Expr *x, const Expr **bad) {
  if (x->kind == EX_NAME) return x->str;
  const char *lhs = x->kind == EX_MEMBER ? ast_dotted_name(a, x->lhs, bad) : NULL;
  if (x->kind != EX_MEMBER) {
    if (bad) *bad = x;
    return NULL;
  }
  return lhs ? arena_printf(a, "%s.%s", lhs, x->str) : NULL;
}
