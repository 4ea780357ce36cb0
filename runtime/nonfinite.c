/* nonfinite.c — what happens when training produces a NaN or an infinity.
 *
 * Every update of an astc-compiled step is guarded by the finiteness of its
 * loss (passes/guard.c), so a step whose loss is not finite leaves the
 * parameters and optimizer slots as they were; the driver puts back the
 * state variables the forward pass assigned (batch-norm statistics). Then
 * it runs the same step again (same batch, scalars and seed, so dropout is
 * the same) in diagnose mode: the generated code checks every node's value
 * as it is computed and reports the first that is not finite
 * (ASTRT_OUT_NONFINITE), changing nothing. The descriptor's node table
 * turns that index into a message: the op, its source location, the layer,
 * the part of the step. docs/robustness.md shows the messages.
 */
#include "robust.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the helper generated code calls --------------------------------------- */

/* a 16-bit float whose exponent bits are all ones is an infinity or a NaN */
static int bits16_finite(const uint16_t *x, int64_t n, uint16_t exp_mask) {
  for (int64_t i = 0; i < n; i++)
    if ((x[i] & exp_mask) == exp_mask) return 0;
  return 1;
}

void astrt_check_finite(float *slot, int64_t node, const void *x, int64_t n, int32_t dtype) {
  if (!(*slot < 0) || n <= 0) return;
  int finite = 1;
  switch (dtype) {
  case 0: finite = astrt_all_finite(x, n) != 0.0f; break;
  case 1: finite = bits16_finite(x, n, 0x7f80); break;   /* bf16 */
  case 2: finite = bits16_finite(x, n, 0x7c00); break;   /* f16 */
  default: break;                                         /* integers */
  }
  if (!finite) *slot = (float)node;
}

/* ---- state variables ----------------------------------------------------------- */

/* State a step may assign: not the data's statistics (normalize:
 * standard), which no step touches. */
static int step_state(const astrt_program *p, uint32_t i) {
  const astrt_data_desc *d = &p->data;
  return p->vars[i].kind == ASTRT_VAR_STATE &&
         !(d->normalize == ASTRT_NORM_STANDARD && ((int32_t)i == d->mean_var || (int32_t)i == d->std_var));
}

astrt_status astrt_state_copy_init(const astrt_program *p, astrt_state_copy *c) {
  memset(c, 0, sizeof *c);
  for (uint32_t i = 0; i < p->nvars; i++)
    if (step_state(p, i)) c->n += p->vars[i].numel;
  if (c->n == 0) return ASTRT_OK;
  c->data = malloc((size_t)c->n * sizeof(float));
  if (!c->data) return astrt_fail(ASTRT_ERR_NOMEM, "out of memory for a copy of the state variables");
  return ASTRT_OK;
}

static void state_copy(const astrt_program *p, void *vars, float *data, int save) {
  int64_t at = 0;
  for (uint32_t i = 0; i < p->nvars; i++) {
    if (!step_state(p, i)) continue;
    float *v = (float *)((char *)vars + p->vars[i].offset);
    size_t bytes = (size_t)p->vars[i].numel * sizeof(float);
    if (save) memcpy(data + at, v, bytes);
    else memcpy(v, data + at, bytes);
    at += p->vars[i].numel;
  }
}

void astrt_state_save(const astrt_program *p, const void *vars, astrt_state_copy *c) {
  if (c->data) state_copy(p, (void *)vars, c->data, 1);
}

void astrt_state_restore(const astrt_program *p, void *vars, const astrt_state_copy *c) {
  if (c->data) state_copy(p, vars, c->data, 0);
}

void astrt_state_copy_free(astrt_state_copy *c) {
  free(c->data);
  memset(c, 0, sizeof *c);
}

int64_t astrt_nonfinite_var(const astrt_program *p, const void *vars) {
  for (uint32_t i = 0; i < p->nvars; i++) {
    const float *v = (const float *)((const char *)vars + p->vars[i].offset);
    if (p->vars[i].numel > 0 && astrt_all_finite(v, p->vars[i].numel) == 0.0f) return i;
  }
  return -1;
}

/* ---- diagnosis ----------------------------------------------------------------- */

int64_t astrt_diagnose(const astrt_program *p, uint32_t phase, void *vars, void *work, const void *x,
                       const void *y, int64_t rows, const float *scalars, uint64_t seed) {
  if (!p->step_nodes || phase >= p->nphases || p->step_nodes[phase].n <= 0) return -2;
  float out[ASTRT_NUM_OUTPUTS];
  memset(out, 0, sizeof out);
  out[ASTRT_OUT_NONFINITE] = -1.0f;
  p->phases[phase].step(vars, work, x, y, rows, scalars, out, seed);
  float node = out[ASTRT_OUT_NONFINITE];
  return node >= 0 && node < (float)p->step_nodes[phase].n ? (int64_t)node : -1;
}

static const astrt_node_desc *node_of(const astrt_program *p, const astrt_nan_report *e) {
  if (e->node < 0 || !p->step_nodes || e->phase >= p->nphases || e->node >= p->step_nodes[e->phase].n) return NULL;
  return &p->step_nodes[e->phase].nodes[e->node];
}

static const char *role_name(int32_t role) {
  switch (role) {
  case ASTRT_ROLE_FORWARD: return "forward pass";
  case ASTRT_ROLE_LOSS: return "loss";
  case ASTRT_ROLE_BACKWARD: return "backward pass";
  case ASTRT_ROLE_UPDATE: return "update";
  default: return "evaluation";
  }
}

static const char *nonempty(const char *s) { return s && *s ? s : NULL; }

int astrt_nan_in_variable(const astrt_program *p, const astrt_nan_report *e) {
  const astrt_node_desc *n = node_of(p, e);
  return n && !strcmp(n->op, "param");
}

/* "the output of exp at f.train:12:9 (layer dense_2, in log_softmax, forward pass)" */
static void describe_node(const astrt_node_desc *n, char *buf, size_t cap) {
  if (!strcmp(n->op, "param")) {
    snprintf(buf, cap, "variable %s as the step read it, before any of its work", n->name);
    return;
  }
  if (!strcmp(n->op, "input")) {
    snprintf(buf, cap, "%s", n->name && !strcmp(n->name, "features")
                                 ? "the batch's cached frozen-prefix features (the input of the step)"
                                 : "the input batch x itself (the data, after normalisation)");
    return;
  }
  char where[400] = "";
  if (nonempty(n->file) && n->line > 0)
    snprintf(where, sizeof where, " at %s:%d:%d", n->file, (int)n->line, (int)n->col);
  char layer[400] = "";
  if (nonempty(n->layer))
    snprintf(layer, sizeof layer, "layer %s%s%s", n->layer, nonempty(n->site) ? " called at " : "",
             nonempty(n->site) ? n->site : "");
  char ctx[700] = "";
  size_t used = 0;
  const char *parts[4] = {nonempty(n->name), nonempty(layer), nonempty(n->scope), role_name(n->role)};
  const char *labels[4] = {"'", "", "in ", ""};
  for (int i = 0; i < 4 && used < sizeof ctx; i++) {
    if (!parts[i]) continue;
    int w = snprintf(ctx + used, sizeof ctx - used, "%s%s%s%s", used ? ", " : "", labels[i], parts[i],
                     i == 0 ? "'" : "");
    if (w > 0) used += (size_t)w;
  }
  snprintf(buf, cap, "the output of %s%s (%s%s)", n->op, where, ctx,
           n->dtype == 2 ? ", an fp16 value" : n->dtype == 1 ? ", a bf16 value" : "");
}

void astrt_nan_describe(const astrt_program *p, const astrt_nan_report *e, char *buf, size_t cap) {
  char what[1024];
  const astrt_node_desc *n = node_of(p, e);
  if (n) describe_node(n, what, sizeof what);
  const char *loss = isnan(e->loss) ? "NaN" : e->loss > 0 ? "+inf" : "-inf";
  char phase[48] = "";
  if (p->nphases > 1) snprintf(phase, sizeof phase, ", phase %u of %u", e->phase + 1, p->nphases);
  int w = snprintf(buf, cap, "step %lld (epoch %lld%s, batch %lld): the loss is %s at learning rate %g",
                   (long long)e->step, (long long)e->epoch, phase, (long long)e->rows, loss, e->lr);
  if (w < 0 || (size_t)w >= cap) return;
  if (n) snprintf(buf + w, cap - (size_t)w, "; the first non-finite value is %s", what);
  else if (e->node == -1)
    snprintf(buf + w, cap - (size_t)w, "; running the step again to find the first non-finite value found none");
}

/* the program stores values in fp16 (it has loss scaling) */
static int fp16_program(const astrt_program *p) { return p->loss_scale_growth > 0; }

void astrt_nan_hint(const astrt_program *p, const astrt_nan_report *e, char *buf, size_t cap) {
  const astrt_node_desc *n = node_of(p, e);
  if (n && !strcmp(n->op, "param") && e->step <= 1) {
    snprintf(buf, cap, "%s was not finite before training started: check the file given to --init-from",
             n->name);
  } else if (n && !strcmp(n->op, "param")) {
    char resume[96] = "";
    if (e->step > 2) snprintf(resume, sizeof resume, ", or resume from a checkpoint of step %lld or earlier",
                              (long long)e->step - 2);
    snprintf(buf, cap, "the update of step %lld made %s non-finite (a gradient was not finite while the "
                       "loss was); skipping steps cannot undo that: lower the learning rate (%g at this step) "
                       "and start again%s", (long long)e->step - 1, n->name, e->lr, resume);
  } else if (n && !strcmp(n->op, "input")) {
    snprintf(buf, cap, "check the data for extreme values and the data declaration's normalisation "
                       "(mean, std)");
  } else if (n && n->dtype == 2) {
    if (nonempty(n->layer))
      snprintf(buf, cap, "the value overflowed fp16 (largest 65504): keep layer %s in fp32 "
                         "(precision fp16(keep: [%s])) or use bf16, or lower the learning rate (%g at this step)",
               n->layer, n->layer, e->lr);
    else
      snprintf(buf, cap, "the value overflowed fp16 (largest 65504): keep the layer that computes it in "
                         "fp32 (precision fp16(keep: [...])) or use bf16, or lower the learning rate (%g)",
               e->lr);
  } else if (fp16_program(p)) {
    snprintf(buf, cap, "lower the learning rate (%g at this step); with fp16, keep the layers that overflow "
                       "in fp32 (precision fp16(keep: [...])) or use bf16", e->lr);
  } else if (n && n->role == ASTRT_ROLE_FORWARD) {
    snprintf(buf, cap, "lower the learning rate (%g at this step), or look for extreme values in the training data",
             e->lr);
  } else {
    snprintf(buf, cap, "lower the learning rate (%g at this step)", e->lr);
  }
}
