/* speedup.h — the speedup block: which techniques a program asks for, with
 * what arguments. The table of passes, their rules and argument types lives
 * in speedup_table.c; the front end validates a program's speedup block
 * against it (unknown names and wrong arguments are errors with locations),
 * and the passes read the validated arguments from a SpeedupSpec. */
#ifndef ASTC_SPEEDUP_H
#define ASTC_SPEEDUP_H

#include "diag.h"

typedef enum SpArgKind {
  SA_FRACTION,   /* a number in [0, 1]                         */
  SA_POSITIVE,   /* a number > 0                               */
  SA_INT,        /* an integer >= 1                            */
  SA_COUNT,      /* an integer >= 0                            */
  SA_BOOL,       /* true / false                               */
  SA_CHOICE,     /* one of the names in `choices` ("a|b|c")    */
  SA_NAMES,      /* a list of names: [cross_entropy, dense_3]  */
  SA_INT_RANGE,  /* start -> end, integers >= 1                */
  SA_FRACTIONS,  /* a list of increasing numbers in (0, 1)     */
} SpArgKind;

#define SP_MAX_ARGS 8

typedef struct SpArgSpec {
  const char *name;
  SpArgKind kind;
  const char *choices;   /* SA_CHOICE */
  bool required;
  double def;            /* default number / bool */
  const char *def_choice;
  const char *help;
} SpArgSpec;

typedef struct SpRuleSpec {
  const char *pass;      /* freeze, batch, precision */
  const char *rule;      /* progressive, at, ramp, steps, bf16, fp16 */
  const char *help;
  bool layer_args;       /* other named arguments are layer names: at(dense_1: 0.5) */
  SpArgSpec args[SP_MAX_ARGS];
} SpRuleSpec;

typedef struct SpArg {
  bool given;
  Loc loc;
  double num;            /* numbers, bools, ints */
  double lo, hi;         /* SA_INT_RANGE */
  const char *choice;    /* SA_CHOICE */
  const char **names;    /* SA_NAMES */
  Loc *name_locs;
  int nnames;
  double *nums;          /* SA_FRACTIONS */
  int nnums;
} SpArg;

typedef struct SpLayerTime {
  const char *layer;
  double t;
  Loc loc;
} SpLayerTime;

typedef struct SpeedupItem {
  const SpRuleSpec *rule;
  Loc loc;
  SpArg args[SP_MAX_ARGS];   /* parallel to rule->args */
  SpLayerTime *layer_times;
  int nlayer_times;
} SpeedupItem;

typedef struct SpeedupSpec {
  SpeedupItem *items;
  int n;
  Loc loc;
} SpeedupSpec;

/* The table. sp_rule_at(i) for i = 0, 1, ... until NULL. */
const SpRuleSpec *sp_rule_at(int i);
const SpRuleSpec *sp_find_rule(const char *pass, const char *rule);
bool sp_known_pass(const char *pass);
/* "progressive, at" for a pass */
void sp_rules_of(const char *pass, char *buf, size_t cap);
const char *sp_arg_kind_desc(SpArgKind k);

/* A validated argument of an item by name (NULL if the rule has none). */
const SpArg *sp_arg(const SpeedupItem *it, const char *name);
const SpeedupItem *sp_item(const SpeedupSpec *s, const char *pass);

#endif
