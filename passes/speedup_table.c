/* speedup_table.c — the speedup techniques astc knows, with their rules and
 * arguments: passes.def expanded into tables (docs/passes.md has semantics
 * and sources), and the checked accessors passes read a validated speedup
 * block with. */
#include "speedup.h"

#include <stdio.h>
#include <string.h>

static const char *const techniques[TECH_NUM] = {
#define TECHNIQUE(T, name) [TECH_##T] = name,
#include "passes.def"
};

static const SpArgSpec args[ARG_NUM] = {
#define ARG(T, A, name, kind, choices, required, def, def_choice, help) \
  [ARG_##T##_##A] = {ARG_##T##_##A, TECH_##T, name, kind, choices, required, def, def_choice, help},
#include "passes.def"
};

#define NARGS(...) ((int)(sizeof((SpArgId[]){__VA_ARGS__}) / sizeof(SpArgId)))
static const SpRuleSpec rules[RULE_NUM] = {
#define RULE(T, R, name, layer_args, help, ...) \
  [RULE_##T##_##R] = {RULE_##T##_##R, TECH_##T, name, help, layer_args, NARGS(__VA_ARGS__), {__VA_ARGS__}},
#include "passes.def"
};

const char *sp_technique_name(SpTechnique t) {
  ASTC_ASSERT(t >= 0 && t < TECH_NUM);
  return techniques[t];
}

int sp_find_technique(const char *name) {
  for (int t = 0; t < TECH_NUM; t++)
    if (!strcmp(techniques[t], name)) return t;
  return -1;
}

void sp_technique_names(char *buf, size_t cap) {
  size_t n = 0;
  buf[0] = 0;
  for (int t = 0; t < TECH_NUM && n < cap; t++)
    n += (size_t)snprintf(buf + n, cap - n, "%s%s", t ? ", " : "", techniques[t]);
}

const SpRuleSpec *sp_rule_at(int i) { return i >= 0 && i < RULE_NUM ? &rules[i] : NULL; }

const SpRuleSpec *sp_find_rule(SpTechnique t, const char *rule) {
  for (int i = 0; i < RULE_NUM; i++)
    if (rules[i].technique == t && !strcmp(rules[i].rule, rule)) return &rules[i];
  return NULL;
}

const SpRuleSpec *sp_first_rule(SpTechnique t) {
  for (int i = 0; i < RULE_NUM; i++)
    if (rules[i].technique == t) return &rules[i];
  return NULL;
}

void sp_rules_of(SpTechnique t, char *buf, size_t cap) {
  size_t n = 0;
  buf[0] = 0;
  for (int i = 0; i < RULE_NUM && n < cap; i++)
    if (rules[i].technique == t) n += (size_t)snprintf(buf + n, cap - n, "%s%s", n ? ", " : "", rules[i].rule);
}

const SpArgSpec *sp_arg_spec(SpArgId a) {
  ASTC_ASSERT(a >= 0 && a < ARG_NUM);
  return &args[a];
}

const SpArgSpec *sp_rule_arg(const SpRuleSpec *r, int k) {
  ASTC_ASSERT(k >= 0 && k < r->nargs);
  return sp_arg_spec(r->args[k]);
}

const char *sp_arg_kind_desc(SpArgKind k) {
  switch (k) {
  case SA_FRACTION: return "a number in [0, 1]";
  case SA_POSITIVE: return "a number > 0";
  case SA_INT: return "an integer >= 1";
  case SA_COUNT: return "an integer >= 0";
  case SA_BOOL: return "true or false";
  case SA_CHOICE: return "one of the listed names";
  case SA_NAMES: return "a list of names";
  case SA_INT_RANGE: return "a range of integers such as 64 -> 512";
  case SA_FRACTIONS: return "a list of increasing numbers in (0, 1)";
  }
  return "?";
}

const SpeedupItem *sp_item(const SpeedupSpec *s, SpTechnique t) {
  if (!s) return NULL;
  for (int i = 0; i < s->n; i++)
    if (s->items[i].rule->technique == t) return &s->items[i];
  return NULL;
}

/* ---- checked access to a validated item ---------------------------------------------------- */

static const char *arg_name(SpArgId a) { return a >= 0 && a < ARG_NUM ? args[a].name : "?"; }

/* the position of argument a in the item's rule */
static int arg_index(const SpeedupItem *it, SpArgId a, const char *file, int line) {
  if (!it) internal_error(file, line, "speedup argument '%s' read without a speedup item", arg_name(a));
  const SpRuleSpec *r = it->rule;
  for (int k = 0; k < r->nargs; k++)
    if (r->args[k] == a) return k;
  internal_error(file, line, "speedup rule %s %s has no argument '%s'%s%s", techniques[r->technique], r->rule,
                 arg_name(a), a >= 0 && a < ARG_NUM && args[a].technique != r->technique ? " of " : "",
                 a >= 0 && a < ARG_NUM && args[a].technique != r->technique ? techniques[args[a].technique] : "");
}

const SpArg *sp_arg_at(const SpeedupItem *it, SpArgId a, const char *file, int line) {
  return &it->args[arg_index(it, a, file, line)];
}

static void want_kind(const SpeedupItem *it, SpArgId a, bool ok, const char *want, const char *file, int line) {
  if (!ok)
    internal_error(file, line, "argument '%s' of speedup rule %s %s is %s, not %s", args[a].name,
                   techniques[it->rule->technique], it->rule->rule, sp_arg_kind_desc(args[a].kind), want);
}

double sp_num_at(const SpeedupItem *it, SpArgId a, const char *file, int line) {
  const SpArg *v = sp_arg_at(it, a, file, line);
  SpArgKind k = args[a].kind;
  want_kind(it, a, k == SA_FRACTION || k == SA_POSITIVE || k == SA_INT || k == SA_COUNT, "a number", file, line);
  return v->num;
}

bool sp_bool_at(const SpeedupItem *it, SpArgId a, const char *file, int line) {
  const SpArg *v = sp_arg_at(it, a, file, line);
  want_kind(it, a, args[a].kind == SA_BOOL, "true or false", file, line);
  return v->num != 0;
}

bool sp_choice_is_at(const SpeedupItem *it, SpArgId a, const char *name, const char *file, int line) {
  const SpArg *v = sp_arg_at(it, a, file, line);
  want_kind(it, a, args[a].kind == SA_CHOICE, "a choice", file, line);
  char all[128], key[96];
  snprintf(all, sizeof all, "|%s|", args[a].choices);
  snprintf(key, sizeof key, "|%s|", name);
  if (!strstr(all, key))
    internal_error(file, line, "'%s' is not a choice of argument '%s' of speedup rule %s %s (%s)", name, args[a].name,
                   techniques[it->rule->technique], it->rule->rule, args[a].choices);
  return v->choice && !strcmp(v->choice, name);
}
