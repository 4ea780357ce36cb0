/* resolve.c — name resolution over every definition, used or not.
 *
 * Elaboration checks a layer's body when it instantiates it, with shapes; a
 * definition nothing calls would never be looked at. This pass walks every
 * layer, fn and model body of every loaded module and checks that each name
 * refers to something: a parameter, a dimension name bound by a parameter's
 * type, a local assigned anywhere in the body, a param or state, a
 * definition or import of the module, a member of an imported module, a
 * primitive, or one of training, prim, pi. Scoping is flow-insensitive (a
 * name assigned anywhere in a body counts), so this pass never rejects what
 * elaboration would accept; elaboration still finds uses before assignment.
 */
#include <string.h>

#include "elab.h"

typedef struct Scope {
  StrVec names;
  ModuleInfo *m;
  Sema *sema;
} Scope;

static bool has(const Scope *s, const char *name) {
  for (int i = 0; i < s->names.len; i++)
    if (!strcmp(s->names.data[i], name)) return true;
  return false;
}

static void bind_type_names(Scope *s, const TypeExpr *t) {
  if (!t) return;
  for (int i = 0; i < t->dims.len; i++)
    if (t->dims.items[i].value->kind == EX_NAME) vec_push(&s->names, t->dims.items[i].value->str);
}

static void bind_stmts(Scope *s, StmtList l) {
  for (int i = 0; i < l.len; i++) {
    const Stmt *st = l.items[i];
    if (st->kind == ST_ASSIGN || st->kind == ST_PARAM || st->kind == ST_STATE) vec_push(&s->names, st->name);
    if (st->kind == ST_IF) {
      bind_stmts(s, st->body);
      bind_stmts(s, st->els);
    }
  }
}

static bool known_global(const Scope *s, const char *name) {
  return scope_lookup(s->m, name) || builtin_find(name) || !strcmp(name, "training") || !strcmp(name, "prim") ||
         !strcmp(name, "pi") || !strcmp(name, "inf");
}

static void check_expr(const Scope *s, const Expr *x);

static void check_args(const Scope *s, ArgList l) {
  for (int i = 0; i < l.len; i++) check_expr(s, l.items[i].value);
}

/* An unknown name (`member`: used as name.member). Another module may
 * explain it (sema_report_unknown); else the closest name is suggested: a
 * local or global one, or a definition of an imported module. */
static void unknown(const Scope *s, const char *name, const char *member, Loc loc) {
  if (sema_report_unknown(s->sema, s->m, "name", name, member, true, loc)) return;
  StrVec cands = {0};
  for (int i = 0; i < s->names.len; i++) vec_push(&cands, s->names.data[i]);
  for (int i = 0; i < s->m->scope.len; i++) vec_push(&cands, s->m->scope.data[i].name);
  for (int i = 0; builtin_at(i); i++) vec_push(&cands, builtin_at(i)->name);
  const char *sug = member ? suggest_name(name, cands.data, cands.len) : sema_suggest(s->sema, s->m, name, &cands);
  builtin_unknown_name(loc, name, sug);
  vec_free(&cands);
}

static void check_expr(const Scope *s, const Expr *x) {
  if (!x) return;
  switch (x->kind) {
  case EX_NAME:
    if (!has(s, x->str) && !known_global(s, x->str)) unknown(s, x->str, NULL, x->loc);
    return;
  case EX_MEMBER:
    /* module.name: check the member when the left side names an imported module */
    if (x->lhs->kind == EX_NAME && !has(s, x->lhs->str)) {
      const ScopeEntry *e = scope_lookup(s->m, x->lhs->str);
      if (e && e->module && !scope_lookup(e->module, x->str)) {
        StrVec names = {0};
        for (int i = 0; i < e->module->scope.len; i++) vec_push(&names, e->module->scope.data[i].name);
        const char *sug = suggest_name(x->str, names.data, names.len);
        if (sug) diag_error(x->loc, "module '%s' has no '%s'; did you mean '%s'?", e->module->name, x->str, sug);
        else diag_error(x->loc, "module '%s' has no '%s'", e->module->name, x->str);
        vec_free(&names);
        return;
      }
      if (!strcmp(x->lhs->str, "prim") && !builtin_find(x->str)) {
        diag_error(x->loc, "'%s' is not a primitive", x->str);
        return;
      }
      if (!known_global(s, x->lhs->str)) {
        unknown(s, x->lhs->str, x->str, x->lhs->loc);
        return;
      }
    }
    check_expr(s, x->lhs);
    return;
  case EX_CALL: check_expr(s, x->lhs); check_args(s, x->args); return;
  case EX_LIST:
    /* bare names in lists may be symbols (keep: [cross_entropy]) */
    for (int i = 0; i < x->args.len; i++)
      if (x->args.items[i].value->kind != EX_NAME) check_expr(s, x->args.items[i].value);
    return;
  case EX_UNARY: check_expr(s, x->lhs); return;
  case EX_BINARY: case EX_RANGE: check_expr(s, x->lhs); check_expr(s, x->rhs); return;
  case EX_INDEX: check_expr(s, x->lhs); check_args(s, x->args); return;
  case EX_SLICE:
    if (x->lhs) check_expr(s, x->lhs);
    if (x->rhs) check_expr(s, x->rhs);
    return;
  default: return;
  }
}

static void check_type(const Scope *s, const TypeExpr *t) {
  if (t) check_args(s, t->dims);
}

static void check_stmts(const Scope *s, StmtList l) {
  for (int i = 0; i < l.len; i++) {
    const Stmt *st = l.items[i];
    check_type(s, st->type);
    check_expr(s, st->value);
    if (st->kind == ST_IF) {
      check_stmts(s, st->body);
      check_stmts(s, st->els);
    }
  }
}

static void check_item(Sema *sema, ModuleInfo *m, const Item *it) {
  Scope s = {{0}, m, sema};
  for (int i = 0; i < it->nparams; i++) {
    vec_push(&s.names, it->params[i].name);
    bind_type_names(&s, it->params[i].type);
  }
  bind_type_names(&s, it->ret);
  bind_stmts(&s, it->body);
  for (int i = 0; i < it->nparams; i++) check_expr(&s, it->params[i].def);
  check_stmts(&s, it->body);
  check_type(&s, it->ret);
  vec_free(&s.names);
}

bool sema_resolve(Sema *s) {
  int before = diag_error_count();
  for (int i = 0; i < s->modules.len; i++) {
    ModuleInfo *m = s->modules.data[i];
    for (int k = 0; k < m->ast->nitems; k++) {
      const Item *it = m->ast->items[k];
      if (it->kind == IT_LAYER || it->kind == IT_FN || it->kind == IT_MODEL) check_item(s, m, it);
    }
  }
  return diag_error_count() == before;
}
