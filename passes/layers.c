/* layers.c — facts about a program's layers that several passes need. */
#include <math.h>
#include <string.h>

#include "pass.h"

int pass_param_layers(const IrProgram *p, int *out) { return pass_param_layers_in(p, &p->phases.data[0].step, out); }

int pass_param_layers_in(const IrProgram *p, const IrGraph *g, int *out) {
  int n = 0;
  for (int i = 0; i < g->len; i++) {
    const IrNode *nd = &g->nodes[i];
    if (nd->op != IR_PARAM || p->vars.data[nd->ia[0]].kind != VAR_PARAM) continue;
    int l = p->vars.data[nd->ia[0]].layer;
    if (l < 0) continue;
    bool seen = false;
    for (int k = 0; k < n; k++) seen |= out[k] == l;
    if (!seen) out[n++] = l;
  }
  return n;
}

void pass_freeze_times(const IrProgram *p, const SpeedupItem *it, const int *layers, int n, double *t) {
  for (int l = 0; l < p->layers.len; l++) t[l] = 2;
  if (it->rule->id == RULE_FREEZE_PROGRESSIVE) {
    double start = sp_num(it, ARG_FREEZE_START), level = sp_num(it, ARG_FREEZE_LEVEL);
    /* layer k (0-based from the input) is frozen once floor(f (n-1)) > k */
    for (int k = 0; k + 1 < n && level > 0; k++) {
      double tk = start + ((double)(k + 1) / (n - 1)) * (1 - start) / level;
      if (tk < 1) t[layers[k]] = tk;
    }
    return;
  }
  /* at(layer: t, ...): a layer, and every layer nested inside it (block.dense_1) */
  for (int i = 0; i < it->nlayer_times; i++) {
    const SpLayerTime *lt = &it->layer_times[i];
    size_t len = strlen(lt->layer);
    for (int k = 0; k < n; k++) {
      const char *name = p->layers.data[layers[k]].name;
      if (!strcmp(name, lt->layer) || (!strncmp(name, lt->layer, len) && name[len] == '.'))
        t[layers[k]] = fmin(t[layers[k]], lt->t);
    }
  }
}
