/* speedup_check.c — validating the speedup block against the table of
 * techniques (passes/passes.def, passes/speedup_table.c): known techniques
 * and rules, argument names and types, layer names that exist in the model.
 * Nothing here names a technique: every name and list comes from the table. */
#include <math.h>
#include <string.h>

#include "elab.h"
#include "pass.h"
#include "speedup.h"

static bool is_num(const Value *v) { return v->kind == V_INT || v->kind == V_FLOAT; }

/* integer arguments are batch sizes, steps and counts: the passes keep them
 * in int64 arithmetic with batch-major sizes, so keep them small */
#define MAX_SP_INT 16777216

static bool known_layer(const IrProgram *p, const char *name) {
  for (int i = 0; i < p->layers.len; i++)
    if (!strcmp(p->layers.data[i].name, name)) return true;
  return false;
}

/* Names a `keep` list may hold: layer instances, layer kinds, functions of
 * any loaded module, and primitive op names. */
static bool known_keep_name(Elab *e, const char *name) {
  const IrProgram *p = e->prog;
  for (int i = 0; i < p->layers.len; i++)
    if (!strcmp(p->layers.data[i].name, name) || !strcmp(p->layers.data[i].kind, name)) return true;
  for (int m = 0; m < e->sema->modules.len; m++)
    if (scope_lookup(e->sema->modules.data[m], name)) return true;
  for (int op = 0; op < IR_NUM_OPS; op++)
    if (!strcmp(ir_ops[op].name, name)) return true;
  return builtin_find(name) != NULL;
}

static void layer_names(const IrProgram *p, StrVec *out) {
  for (int i = 0; i < p->layers.len; i++) vec_push(out, p->layers.data[i].name);
}

/* "; did you mean 'dense_1'?" or " (its layers: dense_1, dense_2)" */
static void layer_hint(const IrProgram *p, const char *name, StrBuf *sb) {
  StrVec names = {0};
  layer_names(p, &names);
  const char *s = suggest_name(name, names.data, names.len);
  if (s) {
    sb_printf(sb, "; did you mean '%s'?", s);
  } else if (names.len == 0) {
    sb_puts(sb, " (the model has no layers)");
  } else {
    sb_puts(sb, " (layers: ");
    for (int i = 0; i < names.len && i < 12; i++) sb_printf(sb, "%s%s", i ? ", " : "", names.data[i]);
    sb_puts(sb, names.len > 12 ? ", ...)" : ")");
  }
  vec_free(&names);
}

static bool arg_value(Elab *e, const SpArgSpec *spec, Value v, SpArg *out, const char *rule) {
  Arena *a = e->prog->arena;
  out->given = true;
  out->loc = v.loc;
  switch (spec->kind) {
  case SA_FRACTION:
  case SA_POSITIVE:
    if (is_num(&v) && (spec->kind == SA_FRACTION ? (v.num >= 0 && v.num <= 1) : v.num > 0)) {
      out->num = v.num;
      return true;
    }
    break;
  case SA_INT:
  case SA_COUNT:
    if (v.kind == V_INT && v.num > MAX_SP_INT) {
      diag_error(v.loc, "'%s' of %s must be at most %d, not %s", spec->name, rule, MAX_SP_INT, num_str(v.num));
      return false;
    }
    if (v.kind == V_INT && v.num >= (spec->kind == SA_INT ? 1 : 0)) {
      out->num = v.num;
      return true;
    }
    break;
  case SA_BOOL:
    if (v.kind == V_BOOL) {
      out->num = v.num;
      return true;
    }
    break;
  case SA_CHOICE: {
    const char *name = v.kind == V_SYMBOL || v.kind == V_STR ? v.str : NULL;
    if (v.kind == V_BUILTIN) name = v.builtin->name;
    if (name) {
      char buf[128];
      snprintf(buf, sizeof buf, "|%s|", spec->choices);
      char key[96];
      snprintf(key, sizeof key, "|%s|", name);
      if (strstr(buf, key)) {
        out->choice = arena_strdup(a, name);
        return true;
      }
    }
    break;
  }
  case SA_NAMES:
    if (v.kind == V_LIST) {
      out->names = arena_alloc(a, sizeof(char *) * (size_t)(v.nitems + 1));
      out->name_locs = arena_alloc(a, sizeof(Loc) * (size_t)(v.nitems + 1));
      for (int i = 0; i < v.nitems; i++) {
        const Value *it = &v.items[i];
        const char *name = it->kind == V_SYMBOL || it->kind == V_STR ? it->str
                           : it->kind == V_ITEM                     ? it->item->name
                           : it->kind == V_BUILTIN                  ? it->builtin->name
                                                                    : NULL;
        if (!name) {
          diag_error(it->loc, "'%s' of %s must list names of layers or functions", spec->name, rule);
          return false;
        }
        /* names of a fixed set (precision's ops) are the pass's to check; the others name the program's layers */
        if (!spec->choices && !known_keep_name(e, name)) {
          StrBuf hint = {0};
          layer_hint(e->prog, name, &hint);
          diag_error(it->loc, "'%s' is not a layer, layer kind or function of this program%s", name, hint.data);
          sb_free(&hint);
          return false;
        }
        out->names[out->nnames] = arena_strdup(a, name);
        out->name_locs[out->nnames++] = it->loc;
      }
      return true;
    }
    break;
  case SA_INT_RANGE:
    if (v.kind == V_RANGE && v.items[0].kind == V_INT && v.items[1].kind == V_INT && v.items[0].num >= 1 &&
        v.items[1].num >= 1) {
      out->lo = v.items[0].num;
      out->hi = v.items[1].num;
      if (out->hi > MAX_SP_INT) {
        diag_error(v.items[1].loc, "the end of the range of %s must be at most %d, not %s", rule, MAX_SP_INT, num_str(out->hi));
        return false;
      }
      if (out->hi <= out->lo) {
        diag_error(v.loc, "the range of %s must grow: %s -> %s", rule, num_str(out->lo), num_str(out->hi));
        return false;
      }
      return true;
    }
    break;
  case SA_FRACTIONS:
    if (v.kind == V_LIST && v.nitems > 0) {
      out->nums = arena_alloc(a, sizeof(double) * (size_t)v.nitems);
      for (int i = 0; i < v.nitems; i++) {
        if (!is_num(&v.items[i]) || v.items[i].num <= 0 || v.items[i].num >= 1 ||
            (i > 0 && v.items[i].num <= out->nums[i - 1])) {
          diag_error(v.items[i].loc, "'%s' of %s must be increasing numbers in (0, 1)", spec->name, rule);
          return false;
        }
        out->nums[out->nnums++] = v.items[i].num;
      }
      return true;
    }
    break;
  }
  char d[128];
  /* a number of the right kind but out of range is shown as just the number */
  if (is_num(&v) && (spec->kind == SA_FRACTION || spec->kind == SA_POSITIVE ||
                     (v.kind == V_INT && (spec->kind == SA_INT || spec->kind == SA_COUNT))))
    snprintf(d, sizeof d, "%s", num_str(v.num));
  else
    value_desc(e, &v, d, sizeof d);
  diag_error(v.loc, "'%s' of %s must be %s%s%s%s, not %s", spec->name, rule, sp_arg_kind_desc(spec->kind),
             spec->kind == SA_CHOICE ? " (" : "", spec->kind == SA_CHOICE ? spec->choices : "",
             spec->kind == SA_CHOICE ? ")" : "", d);
  return false;
}

static bool check_item(Elab *e, const Entry *en, SpTechnique tech, SpeedupItem *it) {
  const Expr *x = en->value;
  const char *rule = NULL;
  Loc rule_loc = en->loc;
  if (!x) {
    /* a bare pass name: its first rule with defaults, if that rule needs nothing */
    const SpRuleSpec *first = sp_first_rule(tech);
    rule = first ? first->rule : NULL;
  } else if (x->kind == EX_NAME) {
    rule = x->str;
    rule_loc = x->loc;
  } else if (x->kind == EX_CALL && x->lhs->kind == EX_NAME) {
    rule = x->lhs->str;
    rule_loc = x->lhs->loc;
  }
  char rules[256];
  sp_rules_of(tech, rules, sizeof rules);
  if (!rule) {
    diag_error(x ? x->loc : en->loc, "'%s' needs a rule: one of %s", en->key, rules);
    return false;
  }
  const SpRuleSpec *spec = sp_find_rule(tech, rule);
  if (!spec) {
    diag_error(rule_loc, "'%s' has no rule '%s' (its rules: %s)", en->key, rule, rules);
    return false;
  }
  it->rule = spec;
  it->loc = en->loc;
  int nspec = spec->nargs;
  char where[96];
  snprintf(where, sizeof where, "%s %s", en->key, rule);
  int pos = 0;
  bool ok = true;
  VEC(SpLayerTime) times = {0};
  for (int i = 0; x && x->kind == EX_CALL && i < x->args.len; i++) {
    const Arg *a = &x->args.items[i];
    int k = -1;
    if (a->name) {
      for (int j = 0; j < nspec; j++)
        if (!strcmp(sp_rule_arg(spec, j)->name, a->name)) k = j;
      if (k < 0 && spec->layer_args) {
        Value v = elab_expr(e, a->value);
        if (v.kind == V_ERR) { ok = false; continue; }
        if (!known_layer(e->prog, a->name)) {
          StrBuf hint = {0};
          layer_hint(e->prog, a->name, &hint);
          diag_error(a->name_loc, "%s: the model has no layer '%s'%s", where, a->name, hint.data);
          sb_free(&hint);
          ok = false;
          continue;
        }
        if (!is_num(&v) || v.num < 0 || v.num > 1) {
          diag_error(a->value->loc, "%s: the freeze time of '%s' must be a number in [0, 1]", where, a->name);
          ok = false;
          continue;
        }
        vec_push(&times, ((SpLayerTime){a->name, v.num, a->name_loc}));
        continue;
      }
      if (k < 0) {
        const char *cands[SP_MAX_ARGS];
        for (int j = 0; j < nspec; j++) cands[j] = sp_rule_arg(spec, j)->name;
        const char *s = suggest_name(a->name, cands, nspec);
        diag_error(a->name_loc, "%s has no argument '%s'%s%s%s", where, a->name, s ? "; did you mean '" : "",
                   s ? s : "", s ? "'?" : "");
        ok = false;
        continue;
      }
    } else {
      k = pos++;
      if (k >= nspec) {
        diag_error(a->value->loc, "too many arguments to %s", where);
        ok = false;
        break;
      }
    }
    if (it->args[k].given) {
      diag_error(a->name ? a->name_loc : a->value->loc, "argument '%s' of %s is given twice",
                 sp_rule_arg(spec, k)->name, where);
      ok = false;
      continue;
    }
    const Expr *vx = a->value;
    Value v = vx->kind == EX_NAME ? elab_lookup(e, vx->str, vx->loc, true) : elab_expr(e, vx);
    if (v.kind == V_ERR || !arg_value(e, sp_rule_arg(spec, k), v, &it->args[k], where)) ok = false;
  }
  for (int k = 0; k < nspec && ok; k++) {
    SpArg *arg = &it->args[k];
    if (arg->given) continue;
    const SpArgSpec *as = sp_rule_arg(spec, k);
    if (as->required) {
      diag_error(x ? x->loc : en->loc, "%s needs the argument '%s' (%s)", where, as->name, as->help);
      ok = false;
      continue;
    }
    arg->num = as->def;
    arg->choice = as->def_choice;
  }
  if (spec->layer_args && ok && times.len == 0) {
    diag_error(x ? x->loc : en->loc, "%s needs at least one layer and its freeze time, as in at(dense_1: 0.5)",
               where);
    ok = false;
  }
  it->layer_times = arena_alloc(e->prog->arena, sizeof(SpLayerTime) * (size_t)(times.len + 1));
  if (times.len)  /* times.data is NULL when empty: memcpy(_, NULL, 0) is undefined */
    memcpy(it->layer_times, times.data, sizeof(SpLayerTime) * (size_t)times.len);
  it->nlayer_times = times.len;
  vec_free(&times);
  return ok;
}

void speedup_validate(Elab *e, const Item *sp, IrProgram *p) {
  SpeedupSpec *s = arena_alloc(p->arena, sizeof(SpeedupSpec));
  s->items = arena_alloc(p->arena, sizeof(SpeedupItem) * (size_t)(sp->nentries + 1));
  s->loc = sp->loc;
  for (int i = 0; i < sp->nentries; i++) {
    const Entry *en = &sp->entries[i];
    int tech = sp_find_technique(en->key);
    if (tech < 0) {
      const char *names[TECH_NUM];
      for (int t = 0; t < TECH_NUM; t++) names[t] = sp_technique_name((SpTechnique)t);
      const char *sug = suggest_name(en->key, names, TECH_NUM);
      char all[256];
      sp_technique_names(all, sizeof all);
      if (pass_find(en->key))  /* a pass of the pipeline no speedup block names */
        diag_error(en->loc, "'%s' is not a speedup pass: it runs on every program, and a speedup block cannot "
                            "name it (speedup passes: %s)", en->key, all);
      else
        diag_error(en->loc, "unknown speedup pass '%s'%s%s%s (passes: %s)", en->key, sug ? "; did you mean '" : "",
                   sug ? sug : "", sug ? "'?" : "", all);
      continue;
    }
    bool dup = false;
    for (int k = 0; k < s->n; k++)
      if (s->items[k].rule->technique == (SpTechnique)tech) {
        diag_error(en->loc, "'%s' appears twice in the speedup block", en->key);
        diag_note(s->items[k].loc, "it first appears here");
        dup = true;
      }
    if (dup) continue;
    SpeedupItem it = {0};
    if (check_item(e, en, (SpTechnique)tech, &it)) s->items[s->n++] = it;
  }
  p->speedup = s;
}
