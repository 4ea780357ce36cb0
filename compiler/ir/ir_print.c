/* ir_print.c — the textual form of the IR (astc show).
 *
 * One line per node, stable and diff-friendly:
 *   %12 = matmul %10, %3                  : f32[B,256]    dense_1  fashion_mlp.train:6:12
 * with a comment line wherever the role changes (forward, loss, backward,
 * update). Variables are printed by name, attributes by meaning.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "ir.h"

static void print_axes(StrBuf *sb, int64_t mask) {
  sb_puts(sb, "axes=[");
  bool first = true;
  for (int i = 0; i < IR_MAX_RANK; i++)
    if (mask & (1 << i)) {
      sb_printf(sb, "%s%d", first ? "" : ",", i);
      first = false;
    }
  sb_puts(sb, "]");
}

static const char *var_name(const IrProgram *p, int64_t v) {
  return v >= 0 && v < p->vars.len ? p->vars.data[v].name : "?";
}

/* an update's fused running average: "average=dense_1.w.ema" (+ " copy-back") */
static void print_average(StrBuf *sb, const IrProgram *p, const IrNode *n) {
  if (!n->ia[IR_UPDATE_AVERAGE]) return;
  sb_printf(sb, " average=%s", var_name(p, n->ia[IR_UPDATE_SHADOW]));
  if (n->ia[IR_UPDATE_AVERAGE] == 2) sb_puts(sb, " copy-back");
}

/* The operator and its operands/attributes, e.g. "matmul %3, %4 trans_b". */
static void format_node(StrBuf *sb, const IrProgram *p, const IrNode *n) {
  sb_puts(sb, ir_ops[n->op].name);
  switch (n->op) {
  case IR_PARAM: sb_printf(sb, " %s", var_name(p, n->ia[0])); break;
  case IR_INPUT: sb_puts(sb, n->ia[0] == 0 ? " x" : n->ia[0] == 1 ? " y" : " features"); break;
  case IR_SCALAR: sb_printf(sb, " %s", ir_scalar_name((IrScalar)n->ia[0])); break;
  case IR_CONST: sb_printf(sb, " %.9g", n->fa[0]); break;
  default: break;
  }
  for (int k = 0; k < n->nin; k++) sb_printf(sb, "%s%%%d", k ? ", " : " ", n->in[k]);
  switch (ir_ops[n->op].cls) {
  case REDUCE:
    sb_putc(sb, ' ');
    print_axes(sb, n->ia[0]);
    if (n->ia[1]) sb_puts(sb, " keep");
    break;
  case MATMUL:
    if (n->ia[0]) sb_puts(sb, " trans_a");
    if (n->ia[1]) sb_puts(sb, " trans_b");
    break;
  case CONV:
    sb_printf(sb, " stride=[%" PRId64 ",%" PRId64 "] pad=[%" PRId64 ",%" PRId64 "]",
              n->ia[0], n->ia[1], n->ia[2], n->ia[3]);
    break;
  case POOL:
    if (n->op == IR_RESIZE2D) {
      sb_puts(sb, n->ia[0] == RESIZE_AREA ? " area" : " bilinear");
      break;
    }
    sb_printf(sb, " window=[%" PRId64 ",%" PRId64 "] stride=[%" PRId64 ",%" PRId64
                  "] pad=[%" PRId64 ",%" PRId64 "]",
              n->ia[0], n->ia[1], n->ia[2], n->ia[3], n->ia[4], n->ia[5]);
    break;
  default: break;
  }
  switch (n->op) {
  case IR_DROPOUT_MASK: sb_printf(sb, " p=%g id=%" PRId64, n->fa[0], n->ia[0]); break;
  case IR_DROP_GATE: sb_printf(sb, " block=%" PRId64, n->ia[0]); break;
  case IR_XENT: case IR_XENT_GRAD:
    if (n->fa[0] > 0) sb_printf(sb, " smoothing=%g", n->fa[0]);
    break;
  case IR_SCHED: {
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    sx_print(f, n->sx);
    fclose(f);
    sb_printf(sb, " = %s", text);
    free(text);
    break;
  }
  case IR_OUTPUT: sb_printf(sb, " -> %s", ir_output_name((IrOutput)n->ia[0])); break;
  case IR_ASSIGN: sb_printf(sb, " -> %s", var_name(p, n->ia[0])); break;
  case IR_SGD_UPDATE:
    sb_printf(sb, " -> %s", var_name(p, n->ia[0]));
    if (n->ia[1] >= 0)
      sb_printf(sb, " momentum=%g%s", n->fa[0], n->ia[2] ? " nesterov" : "");
    print_average(sb, p, n);
    if (n->ia[IR_UPDATE_GUARDED]) sb_puts(sb, " if-finite");
    break;
  case IR_ADAMW_UPDATE:
    sb_printf(sb, " -> %s beta1=%g beta2=%g eps=%g weight_decay=%g",
              var_name(p, n->ia[0]), n->fa[0], n->fa[1], n->fa[2], n->fa[3]);
    print_average(sb, p, n);
    if (n->ia[IR_UPDATE_GUARDED]) sb_puts(sb, " if-finite");
    break;
  case IR_AVERAGE:
    sb_printf(sb, " -> %s", var_name(p, n->ia[0]));
    if (n->ia[IR_UPDATE_GUARDED]) sb_puts(sb, " if-finite");
    break;
  case IR_AVERAGE_COUNT:
    for (int k = 0; k < n->nin - (n->ia[IR_UPDATE_GUARDED] ? 1 : 0); k++)
      sb_printf(sb, "%s%s", k ? ", " : " -> ", var_name(p, n->ia[k]));
    if (n->ia[IR_UPDATE_GUARDED]) sb_puts(sb, " if-finite");
    break;
  case IR_CAST: sb_printf(sb, " to %s", dtype_name(n->type.dtype)); break;
  default: break;
  }
  if (n->guard) sb_printf(sb, " if-kept(%d)", n->guard);
}

void ir_print_node(FILE *out, const IrProgram *p, const IrGraph *g, int i,
                   const IrPrintOptions *opt) {
  const IrNode *n = &g->nodes[i];
  StrBuf sb = {0};
  if (ir_ops[n->op].cls == EFFECT) sb_printf(&sb, "  %*s", 7, "");
  else sb_printf(&sb, "  %%%-4d = ", i);
  format_node(&sb, p, n);
  if (ir_ops[n->op].cls != EFFECT) {
    Type t = n->type;
    if (opt && opt->batch > 0)
      for (int k = 0; k < t.shape.rank; k++)
        if (t.shape.d[k] == IR_DIM_B) t.shape.d[k] = opt->batch;
    char ts[128];
    while (sb.len < 48) sb_putc(&sb, ' ');
    sb_printf(&sb, " : %s", type_str(&t, ts, sizeof ts));
  }
  if (n->name || n->layer >= 0 || (opt == NULL || opt->locations)) {
    while (sb.len < 72) sb_putc(&sb, ' ');
    sb_puts(&sb, "  #");
    if (n->layer >= 0 && n->layer < p->layers.len)
      sb_printf(&sb, " %s", p->layers.data[n->layer].name);
    if (n->name) sb_printf(&sb, " '%s'", n->name);
    if ((opt == NULL || opt->locations) && n->loc.file > 0) {
      char ls[256];
      sb_printf(&sb, " %s", loc_str(n->loc, ls, sizeof ls));
    }
  }
  while (sb.len && sb.data[sb.len - 1] == ' ') sb.data[--sb.len] = 0;
  fprintf(out, "%s\n", sb.data);
  sb_free(&sb);
}

void ir_print_graph(FILE *out, const IrProgram *p, const IrGraph *g,
                    const char *title, const IrPrintOptions *opt) {
  fprintf(out, "graph %s {\n", title);
  int role = -1;
  for (int i = 0; i < g->len; i++) {
    const IrNode *n = &g->nodes[i];
    if ((int)n->role != role && n->op != IR_PARAM && n->op != IR_INPUT &&
        n->op != IR_SCALAR && n->op != IR_CONST) {
      role = (int)n->role;
      fprintf(out, "  # -- %s\n", ir_role_name(n->role));
    }
    ir_print_node(out, p, g, i, opt);
  }
  fprintf(out, "}\n");
}

static void print_vars(FILE *out, const IrProgram *p) {
  static const char *kinds[] = {ASTRT_VAR_KINDS(IR_ABI_NAME)};
  for (int i = 0; i < p->vars.len; i++) {
    const IrVar *v = &p->vars.data[i];
    char ts[128];
    Type t = {v->dtype, v->shape};
    StrBuf sb = {0};
    sb_printf(&sb, "%s %s : %s = %s", kinds[v->kind], v->name, type_str(&t, ts, sizeof ts),
              init_kind_name(v->init.kind));
    switch (v->init.kind) {
    case INIT_CONST: sb_printf(&sb, "(%g)", v->init.a); break;
    case INIT_UNIFORM: sb_printf(&sb, "(%g, %g)", v->init.a, v->init.b); break;
    case INIT_NORMAL: sb_printf(&sb, "(mean: %g, std: %g)", v->init.a, v->init.b); break;
    case INIT_HE_UNIFORM: case INIT_HE_NORMAL:
      sb_printf(&sb, "(fan_in: %" PRId64 ")", v->init.fan_in);
      break;
    case INIT_GLOROT_UNIFORM: case INIT_GLOROT_NORMAL:
      sb_printf(&sb, "(fan_in: %" PRId64 ", fan_out: %" PRId64 ")", v->init.fan_in,
                v->init.fan_out);
      break;
    default: break;
    }
    fprintf(out, "%s\n", sb.data);
    sb_free(&sb);
  }
}

/* "phase 2: t in [0.5, 1), batch 128, frozen: dense_1" for p->phases.data[1]:
 * phases are numbered from 1, as the compiled program numbers them */
const char *ir_phase_title(const IrProgram *p, int i, char *buf, size_t cap) {
  const IrPhase *ph = &p->phases.data[i];
  StrBuf sb = {0};
  sb_printf(&sb, "phase %d: t in [%g, %g), batch %" PRId64, i + 1, ph->t_begin, ph->t_end, ph->batch);
  if (ph->micro) sb_printf(&sb, " in micro-batches of %" PRId64, ph->micro);
  if (ph->context > 0) sb_printf(&sb, ", context %" PRId64, ph->context);
  if (ph->pieces > 1) sb_printf(&sb, " (%" PRId64 " rows per example)", ph->pieces);
  if (ph->kept > 0) {
    sb_printf(&sb, ", trains on %" PRId64 " of %" PRId64 " rows chosen by loss (beta %g)", ph->kept, ir_phase_rows(ph),
              ph->beta);
    if (ph->interrupt > 0) sb_printf(&sb, ", every %" PRId64 " steps the whole batch", ph->interrupt);
  }
  if (ph->height > 0) sb_printf(&sb, ", images %" PRId64 "x%" PRId64, ph->height, ph->width);
  if (ph->lr_scale != 1) sb_printf(&sb, ", lr x%g", ph->lr_scale);
  if (ph->precision != DT_F32) sb_printf(&sb, ", %s storage", dtype_name(ph->precision));
  bool any = false;
  for (int l = 0; l < p->layers.len; l++) {
    bool frozen = false;
    for (int v = 0; v < ph->nfrozen_vars; v++)
      if (ph->frozen[v] && p->vars.data[v].layer == l) frozen = true;
    if (frozen) sb_printf(&sb, "%s%s", any ? ", " : ", frozen: ", p->layers.data[l].name), any = true;
  }
  if (ph->feature_size) sb_printf(&sb, ", reusing %s's outputs", ph->prefix_layers);
  if (ph->average) sb_puts(&sb, ", averaging");
  if (ph->why) sb_printf(&sb, "  (%s)", ph->why);
  snprintf(buf, cap, "%s", sb.data);
  sb_free(&sb);
  return buf;
}

/* whether layer l is frozen in phase ph (no parameter of it is updated) */
static bool layer_frozen(const IrProgram *p, const IrPhase *ph, int l) {
  for (int v = 0; ph && v < ph->nfrozen_vars && v < p->vars.len; v++)
    if (ph->frozen[v] && p->vars.data[v].layer == l) return true;
  return false;
}

static const char *dot_colors[] = {"#dbe9f6", "#fde9c9", "#f8d0d0", "#d5efd5", "#e8e8e8"};

static void dot_escaped(FILE *out, const char *s) {
  for (const char *c = s; *c; c++) {
    if (*c == '"' || *c == '\\') fputc('\\', out);
    fputc(*c, out);
  }
}

/* the nodes of g as boxes named <id><index>, and their edges; nodes of
 * frozen layers (all of them with all_frozen) dashed */
static void dot_nodes(FILE *out, const IrProgram *p, const IrGraph *g, const IrPhase *ph, const char *id,
                      bool all_frozen, const char *indent) {
  for (int i = 0; i < g->len; i++) {
    const IrNode *n = &g->nodes[i];
    char ts[128];
    StrBuf sb = {0};
    format_node(&sb, p, n);
    /* the operand list is drawn as edges; keep the op and its attributes */
    if (ir_ops[n->op].cls != EFFECT) type_str(&n->type, ts, sizeof ts);
    else ts[0] = 0;
    bool frozen = all_frozen || (n->layer >= 0 && layer_frozen(p, ph, n->layer));
    fprintf(out, "%s%s%d [label=\"%%%d ", indent, id, i, i);
    dot_escaped(out, sb.data);
    fprintf(out, "\\n%s%s%s%s\", fillcolor=\"%s\"%s];\n", ts, n->layer >= 0 ? "  " : "",
            n->layer >= 0 ? p->layers.data[n->layer].name : "", frozen && n->layer >= 0 ? " (frozen)" : "",
            dot_colors[n->role], frozen ? ", style=\"filled,dashed\"" : "");
    sb_free(&sb);
    for (int k = 0; k < n->nin; k++) fprintf(out, "%s%s%d -> %s%d;\n", indent, id, n->in[k], id, i);
  }
}

void ir_print_dot(FILE *out, const IrProgram *p, const IrGraph *g, const char *title, int phase) {
  const IrPhase *ph = phase >= 0 && phase < p->phases.len ? &p->phases.data[phase] : NULL;
  const IrGraph *pre = ph && ph->prefix.len ? &ph->prefix : NULL;
  fprintf(out, "digraph astc {\n  label=\"");
  dot_escaped(out, title);
  fprintf(out, "\";\n  labelloc=t;\n  node [shape=box, style=filled, fontname=\"monospace\", fontsize=10];\n");
  /* the legend: what the colours and a dashed border mean */
  bool used[5] = {false}, any_frozen = pre != NULL;
  for (int i = 0; i < g->len; i++) {
    if (g->nodes[i].role >= 0 && g->nodes[i].role < 5) used[g->nodes[i].role] = true;
    if (g->nodes[i].layer >= 0 && layer_frozen(p, ph, g->nodes[i].layer)) any_frozen = true;
  }
  for (int i = 0; pre && i < pre->len; i++)
    if (pre->nodes[i].role >= 0 && pre->nodes[i].role < 5) used[pre->nodes[i].role] = true;
  fprintf(out, "  subgraph cluster_legend {\n    label=\"legend\";\n    fontsize=10;\n");
  int prev = -1;
  for (int r = 0; r < 5; r++) {
    if (!used[r]) continue;
    fprintf(out, "    legend_%d [label=\"%s\", fillcolor=\"%s\"];\n", r, ir_role_name((IrRole)r), dot_colors[r]);
    if (prev >= 0) fprintf(out, "    legend_%d -> legend_%d [style=invis];\n", prev, r);
    prev = r;
  }
  if (any_frozen) {
    fprintf(out, "    legend_frozen [label=\"frozen layer\\n(not updated)\", style=\"filled,dashed\", "
                 "fillcolor=\"white\"];\n");
    if (prev >= 0) fprintf(out, "    legend_%d -> legend_frozen [style=invis];\n", prev);
  }
  fprintf(out, "  }\n");
  if (pre) {  /* a reused frozen prefix: its own graph, run once per example */
    fprintf(out, "  subgraph cluster_prefix {\n    label=\"frozen prefix (%s): computed once per example, its "
                 "outputs reused by the step\";\n    fontsize=10;\n    style=dashed;\n",
            ph->prefix_layers ? ph->prefix_layers : "");
    dot_nodes(out, p, pre, ph, "p", true, "    ");
    fprintf(out, "  }\n");
  }
  dot_nodes(out, p, g, ph, "n", false, "  ");
  fprintf(out, "}\n");
}

/* A phase's step is specialised to its batch (or micro-batch): print B as it. */
IrPrintOptions ir_phase_print_options(const IrProgram *p, int i, const IrPrintOptions *opt) {
  IrPrintOptions po = opt ? *opt : (IrPrintOptions){.locations = true};
  const IrPhase *ph = &p->phases.data[i];
  if (po.batch <= 0) po.batch = ph->micro > 0 ? ph->micro : ir_phase_step_rows(ph);
  return po;
}

void ir_print_score(FILE *out, const IrProgram *p, int i, const IrPrintOptions *opt) {
  const IrPhase *ph = &p->phases.data[i];
  IrPrintOptions po = opt ? *opt : (IrPrintOptions){.locations = true};
  if (po.batch <= 0) po.batch = ir_phase_rows(ph);
  char title[256];
  snprintf(title, sizeof title, "score  # phase %d: each row's loss, forward only, over the batch of %" PRId64, i + 1,
           ir_phase_rows(ph));
  ir_print_graph(out, p, &ph->score, title, &po);
}

void ir_print_program(FILE *out, const IrProgram *p, const IrPrintOptions *opt) {
  fprintf(out, "program %s  # %s\n", p->model_name ? p->model_name : "?",
          p->source_path ? p->source_path : "");
  char ts[128];
  fprintf(out, "input x : %s\n", type_str(&p->input_type, ts, sizeof ts));
  fprintf(out, "input y : %s\n", type_str(&p->label_type, ts, sizeof ts));
  fprintf(out, "data %s\n", p->data.name ? p->data.name : "?");
  fprintf(out, "loss %s\n", p->loss_name ? p->loss_name : "?");
  if (p->opt.kind == OPT_SGD)
    fprintf(out, "optimizer sgd(lr: %g, momentum: %g, nesterov: %s, weight_decay: %g)\n",
            p->opt.lr, p->opt.momentum, p->opt.nesterov ? "true" : "false",
            p->opt.weight_decay);
  else
    fprintf(out, "optimizer adamw(lr: %g, beta1: %g, beta2: %g, eps: %g, weight_decay: %g)\n",
            p->opt.lr, p->opt.beta1, p->opt.beta2, p->opt.eps, p->opt.weight_decay);
  if (p->lr_schedule) {
    fputs("lr = lr0 * ", out);
    sx_print(out, p->lr_schedule);
    fputc('\n', out);
  }
  fprintf(out, "budget %" PRId64 " epochs, batch %" PRId64 ", seed %" PRIu64 "\n",
          p->epochs, p->batch, p->seed);
  if (p->goal == GOAL_ACCURACY) fprintf(out, "target accuracy >= %g\n", p->target);
  if (p->goal == GOAL_LOSS) fprintf(out, "target loss <= %g\n", p->target);
  fputc('\n', out);
  for (int i = 0; i < p->layers.len; i++) {
    const IrLayer *l = &p->layers.data[i];
    char ls[256];
    fprintf(out, "layer %s = %s  # %s\n", l->name, l->kind, loc_str(l->loc, ls, sizeof ls));
  }
  print_vars(out, p);
  fputc('\n', out);
  for (int i = 0; i < p->phases.len; i++) {
    char title[1024], pt[960];
    snprintf(title, sizeof title, "step  # %s", ir_phase_title(p, i, pt, sizeof pt));
    IrPrintOptions po = ir_phase_print_options(p, i, opt);
    if (p->phases.data[i].prefix.len) {
      char pre[1200];
      snprintf(pre, sizeof pre, "prefix  # phase %d: computed once per example, reused (%s)", i + 1,
               p->phases.data[i].prefix_layers);
      ir_print_graph(out, p, &p->phases.data[i].prefix, pre, &po);
      fputc('\n', out);
    }
    if (p->phases.data[i].score.len) {
      ir_print_score(out, p, i, opt);
      fputc('\n', out);
    }
    ir_print_graph(out, p, &p->phases.data[i].step, title, &po);
    fputc('\n', out);
  }
  ir_print_graph(out, p, &p->eval, "eval", opt);
}

static uint64_t hash_bytes(uint64_t h, const void *x, size_t n) {
  const unsigned char *b = x;
  for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ull;
  return h;
}

uint64_t ir_program_hash(const IrProgram *p) {
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  if (!f) return 1;
  IrPrintOptions opt = {.locations = false};
  ir_print_program(f, p, &opt);
  fclose(f);
  uint64_t h = 0xcbf29ce484222325ull;
  bool comment = false;
  for (size_t i = 0; i < len; i++) {  /* FNV-1a over the text outside comments (# to the line's end) */
    char c = text[i];
    if (c == '#') comment = true;
    if (c == '\n') comment = false;
    if (!comment) h = (h ^ (unsigned char)c) * 0x100000001b3ull;
  }
  free(text);
  /* and, exactly, what the text gives only in comments (a phase's title)
   * or to six digits (%g): each phase's settings, the optimizer's numbers,
   * fp16 loss scaling, the data's normalisation */
#define MIX(x) h = hash_bytes(h, &(x), sizeof(x))
  for (int i = 0; i < p->phases.len; i++) {
    const IrPhase *ph = &p->phases.data[i];
    MIX(ph->t_begin), MIX(ph->t_end), MIX(ph->batch), MIX(ph->micro), MIX(ph->lr_scale), MIX(ph->precision);
    MIX(ph->context), MIX(ph->pieces), MIX(ph->keep), MIX(ph->kept), MIX(ph->beta), MIX(ph->interrupt);
    MIX(ph->height), MIX(ph->width), MIX(ph->average);
    for (int v = 0; v < ph->nfrozen_vars; v++) MIX(ph->frozen[v]);
  }
  MIX(p->opt.kind), MIX(p->opt.lr), MIX(p->opt.momentum), MIX(p->opt.weight_decay), MIX(p->opt.beta1);
  MIX(p->opt.beta2), MIX(p->opt.eps), MIX(p->opt.nesterov);
  MIX(p->loss_scale), MIX(p->loss_scale_growth);
  MIX(p->data.mean), MIX(p->data.std), MIX(p->data.normalize);
#undef MIX
  return h ? h : 1;
}
