/* speedup_table.c — the speedup techniques astc knows, with their rules and
 * arguments (see docs/passes.md for semantics and sources). */
#include "speedup.h"

#include <stdio.h>
#include <string.h>

static const SpRuleSpec rules[] = {
    {"freeze", "progressive",
     "freeze layers from the input, frozen fraction level*(t-start)/(1-start) after start "
     "(MosaicML Composer's LayerFreezing)",
     false,
     {{"start", SA_FRACTION, NULL, false, 0.5, NULL, "progress at which freezing begins"},
      {"level", SA_FRACTION, NULL, false, 1.0, NULL, "fraction of layers frozen at the end"},
      {"freezeout", SA_BOOL, NULL, false, 0, NULL,
       "anneal each layer's learning rate to zero at its freeze time (FreezeOut)"},
      {"freezeout_scale", SA_BOOL, NULL, false, 0, NULL,
       "with freezeout: start each freezing layer at 1/t_l times the rate, so that its learning rate "
       "integrates to a full run's (FreezeOut's scaled variant)"},
      {"reuse", SA_BOOL, NULL, false, 1, NULL,
       "compute a deterministic frozen prefix once per example and reuse it across epochs"},
      {"reuse_limit", SA_POSITIVE, NULL, false, 1024, NULL, "largest prefix cache, in MB"}}},
    {"freeze", "at", "freeze each named layer at the given progress: at(dense_1: 0.5, dense_2: 0.7)",
     true,
     {{"freezeout", SA_BOOL, NULL, false, 0, NULL,
       "anneal each layer's learning rate to zero at its freeze time (FreezeOut)"},
      {"freezeout_scale", SA_BOOL, NULL, false, 0, NULL,
       "with freezeout: start each freezing layer at 1/t_l times the rate, so that its learning rate "
       "integrates to a full run's (FreezeOut's scaled variant)"},
      {"reuse", SA_BOOL, NULL, false, 1, NULL,
       "compute a deterministic frozen prefix once per example and reuse it across epochs"},
      {"reuse_limit", SA_POSITIVE, NULL, false, 1024, NULL, "largest prefix cache, in MB"}}},
    {"batch", "ramp",
     "grow the batch linearly from start to end over the first `until` of training "
     "(Megatron-LM --rampup-batch-size)",
     false,
     {{"sizes", SA_INT_RANGE, NULL, true, 0, NULL, "start -> end batch size"},
      {"until", SA_FRACTION, NULL, false, 0.3, NULL, "progress at which the end size is reached"},
      {"increment", SA_COUNT, NULL, false, 0, NULL, "batch-size step (0: the start size)"},
      {"lr_scale", SA_CHOICE, "none|linear|sqrt", false, 0, "none",
       "how the learning rate follows the batch size"},
      {"micro", SA_COUNT, NULL, false, 0, NULL,
       "largest batch computed at once; larger batches accumulate gradients (0: no limit)"}}},
    {"batch", "steps",
     "multiply the batch by `factor` at each milestone instead of decaying the learning rate "
     "(Smith et al. 2017)",
     false,
     {{"at", SA_FRACTIONS, NULL, true, 0, NULL, "milestones, as progress in (0, 1)"},
      {"factor", SA_INT, NULL, false, 2, NULL, "batch multiplier at each milestone"},
      {"lr_scale", SA_CHOICE, "none|linear|sqrt", false, 0, "none",
       "how the learning rate follows the batch size"},
      {"micro", SA_COUNT, NULL, false, 0, NULL,
       "largest batch computed at once; larger batches accumulate gradients (0: no limit)"}}},
    {"precision", "bf16",
     "bfloat16 storage for matmul/conv operands and saved activations, fp32 master weights "
     "and reductions",
     false,
     {{"keep", SA_NAMES, NULL, false, 0, NULL, "layers, layer kinds or functions kept in fp32"},
      {"ops", SA_NAMES, NULL, false, 0, NULL, "ops to lower (default: matmul, conv2d)"}}},
    {"precision", "fp16",
     "float16 storage for matmul/conv operands and saved activations, with dynamic loss scaling",
     false,
     {{"keep", SA_NAMES, NULL, false, 0, NULL, "layers, layer kinds or functions kept in fp32"},
      {"ops", SA_NAMES, NULL, false, 0, NULL, "ops to lower (default: matmul, conv2d)"},
      {"init_scale", SA_POSITIVE, NULL, false, 65536, NULL, "initial loss scale"},
      {"growth_interval", SA_INT, NULL, false, 2000, NULL,
       "clean steps before the loss scale doubles"}}},
};

const SpRuleSpec *sp_rule_at(int i) {
  return i >= 0 && (size_t)i < sizeof rules / sizeof rules[0] ? &rules[i] : NULL;
}

const SpRuleSpec *sp_find_rule(const char *pass, const char *rule) {
  for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++)
    if (!strcmp(rules[i].pass, pass) && !strcmp(rules[i].rule, rule)) return &rules[i];
  return NULL;
}

bool sp_known_pass(const char *pass) {
  for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++)
    if (!strcmp(rules[i].pass, pass)) return true;
  return false;
}

void sp_rules_of(const char *pass, char *buf, size_t cap) {
  size_t n = 0;
  buf[0] = 0;
  for (size_t i = 0; i < sizeof rules / sizeof rules[0] && n < cap; i++)
    if (!strcmp(rules[i].pass, pass))
      n += (size_t)snprintf(buf + n, cap - n, "%s%s", n ? ", " : "", rules[i].rule);
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

const SpArg *sp_arg(const SpeedupItem *it, const char *name) {
  for (int i = 0; i < SP_MAX_ARGS && it->rule->args[i].name; i++)
    if (!strcmp(it->rule->args[i].name, name)) return &it->args[i];
  return NULL;
}

const SpeedupItem *sp_item(const SpeedupSpec *s, const char *pass) {
  if (!s) return NULL;
  for (int i = 0; i < s->n; i++)
    if (!strcmp(s->items[i].rule->pass, pass)) return &s->items[i];
  return NULL;
}
