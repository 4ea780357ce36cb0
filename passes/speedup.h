/* speedup.h — the speedup block: which techniques a program asks for, with
 * what arguments. The techniques, their rules and the rules' arguments are
 * declared once, in passes.def; this header gives them enum ids and
 * speedup_table.c their table. The front end validates a program's speedup
 * block against the table (unknown names and wrong arguments are errors with
 * locations), and the passes read the validated arguments from a
 * SpeedupSpec by id, through accessors that check the id against the rule. */
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

/* The techniques: TECH_FREEZE, TECH_BATCH, TECH_PRECISION (keys of a speedup block). */
typedef enum SpTechnique {
#define TECHNIQUE(T, name) TECH_##T,
#include "passes.def"
  TECH_NUM
} SpTechnique;

/* The rules: RULE_FREEZE_PROGRESSIVE, RULE_FREEZE_AT, RULE_BATCH_RAMP, ... */
typedef enum SpRuleId {
#define RULE(T, R, name, layer_args, help, ...) RULE_##T##_##R,
#include "passes.def"
  RULE_NUM
} SpRuleId;

/* The rules' arguments, per technique: ARG_FREEZE_START, ARG_BATCH_MICRO, ... */
typedef enum SpArgId {
#define ARG(T, A, name, kind, choices, required, def, def_choice, help) ARG_##T##_##A,
#include "passes.def"
  ARG_NUM
} SpArgId;

#define SP_MAX_ARGS 8

typedef struct SpArgSpec {
  SpArgId id;
  SpTechnique technique;
  const char *name;
  SpArgKind kind;
  const char *choices;   /* SA_CHOICE */
  bool required;
  double def;            /* default number / bool */
  const char *def_choice;
  const char *help;
} SpArgSpec;

typedef struct SpRuleSpec {
  SpRuleId id;
  SpTechnique technique; /* its name: sp_technique_name(technique) */
  const char *rule;      /* progressive, at, ramp, steps, bf16, fp16 */
  const char *help;
  bool layer_args;       /* other named arguments are layer names: at(dense_1: 0.5) */
  int nargs;
  SpArgId args[SP_MAX_ARGS];   /* in positional order; sp_rule_arg(rule, k) is the spec */
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

/* ---- the table -------------------------------------------------------------------- */

const char *sp_technique_name(SpTechnique t);
/* The technique named `name`, or -1. */
int sp_find_technique(const char *name);
/* "freeze, batch, precision" */
void sp_technique_names(char *buf, size_t cap);
/* sp_rule_at(i) for i = 0, 1, ... until NULL (the rules in table order). */
const SpRuleSpec *sp_rule_at(int i);
const SpRuleSpec *sp_find_rule(SpTechnique t, const char *rule);
/* The first rule of t: what a bare technique name asks for. */
const SpRuleSpec *sp_first_rule(SpTechnique t);
/* "progressive, at" for a technique */
void sp_rules_of(SpTechnique t, char *buf, size_t cap);
const SpArgSpec *sp_arg_spec(SpArgId a);
/* The spec of argument k (0 <= k < nargs) of a rule. */
const SpArgSpec *sp_rule_arg(const SpRuleSpec *r, int k);
const char *sp_arg_kind_desc(SpArgKind k);

/* ---- a validated speedup block ------------------------------------------------------- */

/* The item of technique t, or NULL (also when s is NULL: no speedup block). */
const SpeedupItem *sp_item(const SpeedupSpec *s, SpTechnique t);

/* An argument of an item by id. An id its rule does not take (another
 * technique's, or another rule's) is a compiler bug: internal_error, naming
 * the rule, the argument and the caller. The value accessors check the kind
 * too: sp_num for numbers and integers, sp_bool for true/false, sp_choice_is
 * for SA_CHOICE (the name must be one of the choices). */
#define sp_arg(it, a) sp_arg_at((it), (a), __FILE__, __LINE__)
#define sp_num(it, a) sp_num_at((it), (a), __FILE__, __LINE__)
#define sp_bool(it, a) sp_bool_at((it), (a), __FILE__, __LINE__)
#define sp_choice_is(it, a, name) sp_choice_is_at((it), (a), (name), __FILE__, __LINE__)
const SpArg *sp_arg_at(const SpeedupItem *it, SpArgId a, const char *file, int line);
double sp_num_at(const SpeedupItem *it, SpArgId a, const char *file, int line);
bool sp_bool_at(const SpeedupItem *it, SpArgId a, const char *file, int line);
bool sp_choice_is_at(const SpeedupItem *it, SpArgId a, const char *name, const char *file, int line);

/* ---- schedules the front end also needs ---------------------------------------------- */

/* seqlen warmup(from, until, increment) for a program whose context is T:
 * the context at progress t, and the number of shorter stages before T (the
 * contexts from, from + increment, ... below T, each for an equal share of
 * [0, until)). */
int64_t sp_seqlen_at(const SpeedupItem *it, int64_t T, double t);
int sp_seqlen_stages(const SpeedupItem *it, int64_t T);

/* resize progressive(from, until, increment) for images of H x W: the size
 * at progress t, and the progress values where it changes (at most cap of
 * them into cuts; returns how many). */
void sp_resize_at(const SpeedupItem *it, int64_t H, int64_t W, double t, int64_t *h, int64_t *w);
int sp_resize_cuts(const SpeedupItem *it, int64_t H, int64_t W, double *cuts, int cap);

/* average ema(start) / swa(start): the progress from which the average is kept. */
double sp_average_start(const SpeedupItem *it);

#endif
