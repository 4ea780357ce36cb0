/* train.c — the train block: data source, model, loss, optimizer, schedule,
 * budget; and the assembly of the training program (step graph = forward +
 * loss + backward + update; evaluation graph = forward + loss + accuracy). */
#include <math.h>
#include <string.h>

#include "autodiff.h"
#include "drop.h"
#include "elab.h"
#include "optim.h"
#include "pass.h"
#include "rewrite.h"

void speedup_validate(Elab *e, const Item *sp, IrProgram *p);
bool elab_eval_layers_done(Elab *e);  /* elab.c */

typedef struct TrainEntries {
  const Entry *loss, *optimizer, *lr, *batch, *epochs, *steps, *samples, *seed, *target,
      *eval_batch, *eval_every, *eval_samples;
} TrainEntries;

static const char *const train_keys[] = {"loss",   "optimizer", "lr",     "batch",      "epochs",     "steps",
                                         "samples", "seed",     "target", "eval_batch", "eval_every", "eval_samples"};

/* ---- small evaluators for train-block values ------------------------------------------ */

/* Where an expression starts: a binary expression's own location is its
 * operator. */
static Loc expr_start(const Expr *x) {
  while ((x->kind == EX_BINARY || x->kind == EX_RANGE || x->kind == EX_CALL || x->kind == EX_MEMBER) &&
         x->lhs)
    x = x->lhs;
  return x->loc;
}

/* the largest batch (and micro-batch, eval batch): sizes of batch-major
 * buffers stay far from int64 overflow */
#define MAX_BATCH 16777216

static bool eval_int(Elab *e, const Expr *x, int64_t lo, double hi, int64_t *out, const char *what) {
  Value v = elab_expr(e, x);
  if (v.kind == V_ERR) return false;
  if (v.kind == V_INT && v.num >= (double)lo && v.num <= hi) {
    *out = (int64_t)v.num;
    return true;
  }
  char d[128];
  if (v.kind == V_INT && v.num > hi)
    diag_error(expr_start(x), "%s must be at most %s, not %s", what, num_str(hi), num_str(v.num));
  else if (v.kind == V_INT || v.kind == V_FLOAT)
    diag_error(expr_start(x), "%s must be an integer >= %lld, not %s", what, (long long)lo, num_str(v.num));
  else
    diag_error(expr_start(x), "%s must be an integer >= %lld, not %s", what, (long long)lo,
               value_desc(e, &v, d, sizeof d));
  return false;
}

static bool eval_number(Elab *e, Value v, double lo, double hi, double *out, const char *what);

/* an integer-valued number in [lo, hi] */
static bool eval_whole(Elab *e, Value v, double lo, double hi, double *out, const char *what) {
  if (!eval_number(e, v, lo, hi, out, what)) return false;
  if (*out == floor(*out)) return true;
  diag_error(v.loc, "%s must be a whole number, not %s", what, num_str(*out));
  return false;
}

static bool eval_number(Elab *e, Value v, double lo, double hi, double *out, const char *what) {
  if (v.kind == V_ERR) return false;
  if ((v.kind == V_INT || v.kind == V_FLOAT) && v.num >= lo && v.num <= hi) {
    *out = v.num;
    return true;
  }
  char d[128];
  if (v.kind != V_INT && v.kind != V_FLOAT)
    diag_error(v.loc, "%s must be a number, not %s", what, value_desc(e, &v, d, sizeof d));
  else if (v.num > hi)
    diag_error(v.loc, "%s must be at most %s, not %s", what, num_str(hi), num_str(v.num));
  else if (lo > 0 && lo < 1e-6)
    diag_error(v.loc, "%s must be greater than 0, not %s", what, num_str(v.num));
  else
    diag_error(v.loc, "%s must be at least %s, not %s", what, num_str(lo), num_str(v.num));
  return false;
}

/* Named arguments of a configuration call such as sgd(lr: 0.1, momentum: 0.9):
 * each must be one of `names`; positional arguments are not accepted. */
static bool config_args(Elab *e, const Expr *call, const char *const *names, int n, Value *out) {
  for (int k = 0; k < n; k++) out[k] = (Value){.kind = V_NONE};
  bool ok = true;
  for (int i = 0; i < call->args.len; i++) {
    const Arg *a = &call->args.items[i];
    if (!a->name) {
      diag_error(a->value->loc, "arguments of '%s' must be named, as in %s: value", call->lhs->str, names[0]);
      ok = false;
      continue;
    }
    int k = 0;
    while (k < n && strcmp(names[k], a->name) != 0) k++;
    if (k == n) {
      const char *s = suggest_name(a->name, names, n);
      if (s) diag_error(a->name_loc, "'%s' has no argument '%s'; did you mean '%s'?", call->lhs->str, a->name, s);
      else diag_error(a->name_loc, "'%s' has no argument '%s'", call->lhs->str, a->name);
      ok = false;
      continue;
    }
    if (out[k].kind != V_NONE) {
      diag_error(a->name_loc, "argument '%s' is given twice", a->name);
      ok = false;
      continue;
    }
    out[k] = elab_expr(e, a->value);
    if (out[k].kind == V_ERR) ok = false;
  }
  return ok;
}

static const char *callee_name(const Expr *x) {
  if (x->kind == EX_CALL && x->lhs->kind == EX_NAME) return x->lhs->str;
  if (x->kind == EX_NAME) return x->str;
  return NULL;
}

/* ---- data ---------------------------------------------------------------------------- */

typedef struct KnownData {
  const char *name;
  int64_t h, w, classes, train;
} KnownData;

static const KnownData known_data[] = {
    {"fashion-mnist", 28, 28, 10, 60000}, {"mnist", 28, 28, 10, 60000}, {"kmnist", 28, 28, 10, 60000},
};

static bool shape_arg(Value v, Shape *s, const char *what) {
  if (v.kind != V_LIST || v.nitems < 1 || v.nitems > IR_MAX_RANK - 1) {
    diag_error(v.loc, "%s must be a list of 1 to %d positive integers, such as [28, 28]", what,
               IR_MAX_RANK - 1);
    return false;
  }
  s->rank = v.nitems;
  for (int i = 0; i < v.nitems; i++) {
    if (v.items[i].kind != V_INT || v.items[i].num < 1 || v.items[i].num > 1e9) {
      diag_error(v.items[i].loc, "%s must hold positive integers", what);
      return false;
    }
    s->d[i] = (int64_t)v.items[i].num;
  }
  return true;
}

/* Arguments whose value is a word (header: skip, normalize: standard) may
 * write it as a name: such a name becomes a string before the arguments
 * are evaluated. */
static ArgList word_args(Elab *e, ArgList args) {
  static const char *const words[] = {"header", "split", "normalize"};
  Arg *copy = arena_alloc(e->prog->arena, sizeof(Arg) * (size_t)(args.len + 1));
  for (int i = 0; i < args.len; i++) {
    copy[i] = args.items[i];
    for (size_t w = 0; w < ARRAY_LEN(words); w++)
      if (copy[i].name && !strcmp(copy[i].name, words[w]) && copy[i].value->kind == EX_NAME) {
        Expr *x = arena_alloc(e->prog->arena, sizeof *x);
        *x = *copy[i].value;
        x->kind = EX_STR;
        copy[i].value = x;
      }
  }
  args.items = copy;
  return args;
}

/* A word argument: one of choices[0..n), written as a name or a string;
 * its position into *out. */
static bool word_arg(Elab *e, Value v, const char *what, const char *const *choices, int n, int *out) {
  char list[160] = "";
  size_t len = 0;
  for (int k = 0; k < n && len < sizeof list; k++) {
    if (v.kind == V_STR && !strcmp(v.str, choices[k])) {
      *out = k;
      return true;
    }
    len += (size_t)snprintf(list + len, sizeof list - len, "%s%s", k == 0 ? "" : k + 1 == n ? " or " : ", ",
                            choices[k]);
  }
  const char *s = v.kind == V_STR ? suggest_name(v.str, choices, n) : NULL;
  char d[128];
  if (v.kind == V_STR)
    diag_error(v.loc, "'%s' is %s, not '%s'%s%s%s", what, list, v.str, s ? "; did you mean '" : "", s ? s : "",
               s ? "'?" : "");
  else
    diag_error(v.loc, "'%s' is %s (as in %s: %s), not %s", what, list, what, choices[n > 2 ? 2 : 0],
               value_desc(e, &v, d, sizeof d));
  return false;
}

/* sep: the one character between a CSV file's fields (" ": runs of blanks) */
static bool sep_arg(Elab *e, Value v, int *out) {
  char d[128];
  if (v.kind != V_STR) {
    diag_error(v.loc, "'sep' is the character between the fields, as a string such as \";\", \"\\t\" or \" \" "
                      "(blanks), not %s", value_desc(e, &v, d, sizeof d));
    return false;
  }
  unsigned char c = (unsigned char)v.str[0];
  if (!c || v.str[1] || c > 126 || c == '"' || c == '\n' || c == '\r' || strchr("0123456789.+-eE", c)) {
    diag_error(v.loc, "'sep' is one character that cannot be part of a number, such as \";\", \"\\t\" or \" \" "
                      "(blanks), not \"%s\"", v.str);
    return false;
  }
  *out = c;
  return true;
}

/* test_x and test_y (npy, or csv's two files): both paths or neither */
static bool test_pair(Value tx, Value ty, Loc at) {
  if ((tx.kind == V_STR) == (ty.kind == V_STR)) return true;
  diag_error(at, "give both test_x and test_y (or neither, to hold out a fraction of the training data)");
  return false;
}

static bool data_spec(Elab *e, const Item *it, DataSpec *d) {
  const Expr *x = it->value;
  const char *kind = callee_name(x);
  d->name = it->name;
  d->loc = x->loc;
  d->std = 1;
  d->mean_var = d->std_var = -1;
  d->label_column = -1;
  d->x_dtype = DT_F32;
  d->target = TARGET_CLASS;
  d->target_size = 1;
  d->holdout = 0.1;
  static const char *const kinds[] = {"idx", "csv", "npy", "synthetic", "text", "tokens"};
  enum { NKINDS = ARRAY_LEN(kinds) };
  if (!kind || x->kind != EX_CALL) {
    diag_error(x->loc, "a data set is one of idx(...), csv(...), npy(...), synthetic(...), text(...) or "
                       "tokens(...)");
    return false;
  }
  static const char *const names[] = {"source", "shape", "classes", "mean", "std", "label", "x", "y", "train",
                                      "test", "seed", "test_x", "test_y", "context", "vocab", "holdout",
                                      "header", "sep", "split", "normalize"};
  enum { SOURCE, SHAPE_, CLASSES, MEAN, STD, LABEL, X, Y, TRAIN, TEST, SEED, TEST_X, TEST_Y, CONTEXT, VOCAB,
         HOLDOUT, HEADER, SEP, SPLIT, NORMALIZE, NARGS };
  Value a[NARGS];
  /* the first positional argument is the source (idx, csv, text, tokens) */
  Expr tmp = *x;
  ArgList args = x->args;
  Value first = {.kind = V_NONE};
  if (args.len > 0 && !args.items[0].name) {
    first = elab_expr(e, args.items[0].value);
    tmp.args.items = args.items + 1;
    tmp.args.len = args.len - 1;
  }
  tmp.args = word_args(e, tmp.args);
  if (!config_args(e, &tmp, names, NARGS, a)) return false;
  if (first.kind != V_NONE) {
    if (a[SOURCE].kind != V_NONE) {
      diag_error(x->loc, "the source is given twice");
      return false;
    }
    a[SOURCE] = first;
  }
  int k = 0;
  while (k < NKINDS && strcmp(kinds[k], kind) != 0) k++;
  if (k == NKINDS) {
    const char *s = suggest_name(kind, kinds, NKINDS);
    diag_error(x->lhs->loc, "unknown data source '%s'%s%s%s (sources: idx, csv, npy, synthetic, text, tokens)", kind,
               s ? "; did you mean '" : "", s ? s : "", s ? "'?" : "");
    return false;
  }
  d->kind = (DataKind)k;
  /* which arguments each source takes */
  static const char *const allowed[] = {
      [DATA_IDX] = " source shape classes mean std normalize ",
      [DATA_CSV] = " source x y test_x test_y shape classes mean std normalize label test holdout split seed header sep ",
      [DATA_NPY] = " x y test_x test_y shape classes mean std normalize holdout split seed ",
      [DATA_SYNTHETIC] = " shape classes train test seed mean std normalize ",
      [DATA_TEXT] = " source context test holdout ",
      [DATA_TOKENS] = " source context vocab test holdout ",
  };
  for (int i = 0; i < NARGS; i++) {
    char key[32];
    snprintf(key, sizeof key, " %s ", names[i]);
    if (a[i].kind != V_NONE && !strstr(allowed[k], key)) {
      diag_error(a[i].loc.file ? a[i].loc : x->loc, "%s(...) takes no '%s' argument (its arguments:%s)", kind,
                 names[i], allowed[k]);
      return false;
    }
  }
  bool ok = true;
  if (a[SHAPE_].kind != V_NONE) ok &= shape_arg(a[SHAPE_], &d->x_shape, "'shape'");
  if (a[CLASSES].kind != V_NONE) {
    double c;
    if (!eval_number(e, a[CLASSES], 2, 1e6, &c, "'classes'")) {
      ok = false;
    } else if (c != floor(c)) {
      diag_error(a[CLASSES].loc, "'classes' must be a whole number of classes, not %s", num_str(c));
      ok = false;
    } else {
      d->classes = (int64_t)c;
    }
  }
  if (a[MEAN].kind != V_NONE) ok &= eval_number(e, a[MEAN], -1e9, 1e9, &d->mean, "'mean'");
  if (a[STD].kind != V_NONE) ok &= eval_number(e, a[STD], 1e-12, 1e9, &d->std, "'std'");
  if (a[HOLDOUT].kind != V_NONE) ok &= eval_number(e, a[HOLDOUT], 1e-6, 0.9, &d->holdout, "'holdout'");
  if (!ok) return false;
  if (a[NORMALIZE].kind != V_NONE) {  /* none: mean and std (0, 1); standard: per feature, from the data */
    static const char *const norms[] = {"none", "standard"};
    int nk = 0;
    if (!word_arg(e, a[NORMALIZE], "normalize", norms, 2, &nk)) return false;
    d->normalize = nk ? NORM_STANDARD : NORM_SCALAR;
    Value given = a[MEAN].kind != V_NONE ? a[MEAN] : a[STD];
    if (nk && given.kind != V_NONE) {
      diag_error(given.loc, "normalize: standard computes each feature's mean and std from the training split; "
                            "drop '%s' (or drop normalize, for one mean and std for every feature)",
                 a[MEAN].kind != V_NONE ? "mean" : "std");
      diag_note(a[NORMALIZE].loc, "normalize is given here");
      return false;
    }
  }
  if (d->kind == DATA_CSV || d->kind == DATA_NPY) {  /* the holdout: which examples, seeded how */
    static const char *const splits[] = {"random", "last"};
    int sk = SPLIT_RANDOM;
    double seed = 0;
    if (a[SPLIT].kind != V_NONE && !word_arg(e, a[SPLIT], "split", splits, 2, &sk)) return false;
    if (a[SEED].kind != V_NONE && !eval_whole(e, a[SEED], 0, 1e15, &seed, "'seed'")) return false;
    d->split = (SplitKind)sk;
    d->synth_seed = (uint64_t)seed;
  }
  if (d->kind == DATA_CSV && (a[X].kind != V_NONE || a[Y].kind != V_NONE)) {
    /* csv(x: FILE, y: FILE): features and targets in two files */
    if (a[X].kind != V_STR || a[Y].kind != V_STR || !a[X].str[0] || !a[Y].str[0]) {
      diag_error(x->loc, "csv(...) with the features and the targets in two files needs both paths, as strings: "
                         "csv(x: \"features.csv\", y: \"targets.csv\", ...)");
      return false;
    }
    static const struct {
      int arg;
      const char *why;
    } others[] = {{SOURCE, "takes no table: the features are x's columns, the targets y's"},
                  {LABEL, "takes no 'label': y's one column is the target"},
                  {TEST, "takes its test split as test_x and test_y"}};
    for (size_t i = 0; i < ARRAY_LEN(others); i++)
      if (a[others[i].arg].kind != V_NONE) {
        Loc at = a[others[i].arg].loc.file ? a[others[i].arg].loc : x->loc;
        diag_error(at, "csv(x: ..., y: ...) %s", others[i].why);
        return false;
      }
    if (!test_pair(a[TEST_X], a[TEST_Y], x->loc)) return false;
    a[SOURCE] = a[X];
    d->y_source = arena_strdup(e->prog->arena, a[Y].str);
    if (a[TEST_X].kind == V_STR) {
      a[TEST] = a[TEST_X];
      d->test_y_source = arena_strdup(e->prog->arena, a[TEST_Y].str);
    }
  } else if (d->kind == DATA_CSV && (a[TEST_X].kind != V_NONE || a[TEST_Y].kind != V_NONE)) {
    diag_error(x->loc, "test_x and test_y go with x and y (features and targets in two files); a table's test "
                       "split is test: \"test.csv\"");
    return false;
  }
  switch (d->kind) {
  case DATA_IDX:
  case DATA_CSV:
  case DATA_TEXT:
  case DATA_TOKENS: {
    if (a[SOURCE].kind != V_STR || !a[SOURCE].str[0]) {
      diag_error(x->loc, "%s(...) needs a source: %s, as a string", kind,
                 d->kind == DATA_TEXT ? "a text file, a directory of them, or a known corpus such as \"fortunes\""
                                      : "a data set name or a path");
      return false;
    }
    d->source = arena_strdup(e->prog->arena, a[SOURCE].str);
    if (d->kind == DATA_CSV) {
      double col = -1;
      if (a[LABEL].kind != V_NONE && !eval_whole(e, a[LABEL], -1e6, 1e6, &col, "'label'")) return false;
      d->label_column = (int)col;
      static const char *const headers[] = {"auto", "names", "skip", "none"};
      int h = CSV_HEADER_AUTO;
      if (a[HEADER].kind != V_NONE && !word_arg(e, a[HEADER], "header", headers, 4, &h)) return false;
      d->header = (CsvHeader)h;
      if (a[SEP].kind != V_NONE && !sep_arg(e, a[SEP], &d->sep)) return false;
    }
    if (a[TEST].kind == V_STR) d->test_source = arena_strdup(e->prog->arena, a[TEST].str);
    else if (a[TEST].kind != V_NONE) {
      diag_error(a[TEST].loc, "'test' of %s(...) is the path of the test file, as a string", kind);
      return false;
    }
    for (size_t i = 0; d->kind == DATA_IDX && i < ARRAY_LEN(known_data); i++)
      if (!strcmp(known_data[i].name, d->source)) {
        if (d->x_shape.rank == 0) d->x_shape = SHAPE(known_data[i].h, known_data[i].w);
        if (!d->classes) d->classes = known_data[i].classes;
        d->train_examples = known_data[i].train;
      }
    break;
  }
  case DATA_NPY:
    if (a[X].kind != V_STR || a[Y].kind != V_STR) {
      diag_error(x->loc, "npy(...) needs the paths of both arrays: npy(x: \"x.npy\", y: \"y.npy\", ...)");
      return false;
    }
    d->source = arena_strdup(e->prog->arena, a[X].str);
    d->y_source = arena_strdup(e->prog->arena, a[Y].str);
    if (!test_pair(a[TEST_X], a[TEST_Y], x->loc)) return false;
    if (a[TEST_X].kind == V_STR) {
      d->test_source = arena_strdup(e->prog->arena, a[TEST_X].str);
      d->test_y_source = arena_strdup(e->prog->arena, a[TEST_Y].str);
    }
    break;
  case DATA_SYNTHETIC: {
    double tr = 1024, te = 256, seed = 0;
    if (a[TRAIN].kind != V_NONE && !eval_whole(e, a[TRAIN], 1, 1e8, &tr, "'train'")) return false;
    if (a[TEST].kind != V_NONE && !eval_whole(e, a[TEST], 1, 1e8, &te, "'test'")) return false;
    if (a[SEED].kind != V_NONE && !eval_whole(e, a[SEED], 0, 1e15, &seed, "'seed'")) return false;
    d->synth_train = (int64_t)tr;
    d->synth_test = (int64_t)te;
    d->synth_seed = (uint64_t)seed;
    d->train_examples = d->synth_train;
    d->source = "synthetic";
    break;
  }
  }
  /* sequences: windows of `context` tokens, a target per position */
  if (d->kind == DATA_TEXT || d->kind == DATA_TOKENS) {
    double t = 0, v = 256;
    if (a[CONTEXT].kind == V_NONE) {
      diag_error(x->loc, "%s(...) needs the context length, the tokens per example: %s(..., context: 64)", kind, kind);
      return false;
    }
    if (!eval_whole(e, a[CONTEXT], 1, 1 << 20, &t, "'context'")) return false;
    if (d->kind == DATA_TOKENS) {
      if (a[VOCAB].kind == V_NONE) {
        diag_error(x->loc, "tokens(...) needs the vocabulary size (token ids are in [0, vocab)): "
                           "tokens(..., vocab: 50257)");
        return false;
      }
      if (!eval_whole(e, a[VOCAB], 2, 1 << 24, &v, "'vocab'")) return false;
    }
    d->context = (int64_t)t;
    d->vocab = (int64_t)v;
    d->x_shape = SHAPE(d->context);
    d->x_dtype = DT_I32;
    d->target = TARGET_SEQUENCE;
    d->target_size = d->context;
    d->classes = d->vocab;
    return true;
  }
  /* a csv or npy table without classes has real-valued targets (regression) */
  if ((d->kind == DATA_CSV || d->kind == DATA_NPY) && d->classes == 0 && d->x_shape.rank > 0) {
    d->target = TARGET_REAL;
    return true;
  }
  if (d->x_shape.rank == 0 || d->classes == 0) {
    bool both = d->x_shape.rank == 0 && d->classes == 0;
    bool table = d->kind == DATA_CSV || d->kind == DATA_NPY;
    diag_error(x->loc, "astc does not know %s of data set '%s'%s; give %s: %s(..., %s)%s",
               both ? "the example shape and the class count" : d->classes ? "the example shape" : "the class count",
               d->name, d->kind == DATA_IDX ? " (it knows those of fashion-mnist, mnist and kmnist)" : "",
               both ? "them" : "it", kind,
               both ? "shape: [28, 28], classes: 10" : d->classes ? "shape: [28, 28]" : "classes: 10",
               table && both ? " (a table with a shape but no classes has real-valued targets)" : "");
    return false;
  }
  return true;
}

/* ---- schedules --------------------------------------------------------------------- */

static SExpr *sched(Elab *e, const Expr *x);

/* cosine(warmup: 0, final: 0): linear warm-up, then a half cosine to final */
static SExpr *sched_cosine(Arena *a, double w, double f) {
  SExpr *t = sx_var(a, SX_T);
  SExpr *u = sx_bin(a, SX_DIV, sx_bin(a, SX_SUB, t, sx_const(a, w)), sx_const(a, 1 - w));
  SExpr *c = sx_un(a, SX_COS, sx_bin(a, SX_MUL, sx_const(a, M_PI), u));
  SExpr *body = sx_bin(a, SX_ADD, sx_const(a, f),
                       sx_bin(a, SX_MUL, sx_const(a, (1 - f) * 0.5), sx_bin(a, SX_ADD, sx_const(a, 1), c)));
  if (w <= 0) return body;
  return sx_select(a, sx_bin(a, SX_LT, t, sx_const(a, w)), sx_bin(a, SX_DIV, t, sx_const(a, w)), body);
}

/* linear(warmup: 0, final: 0): linear warm-up, then a straight line to final */
static SExpr *sched_linear(Arena *a, double w, double f) {
  SExpr *t = sx_var(a, SX_T);
  SExpr *u = sx_bin(a, SX_DIV, sx_bin(a, SX_SUB, t, sx_const(a, w)), sx_const(a, 1 - w));
  SExpr *body = sx_bin(a, SX_SUB, sx_const(a, 1), sx_bin(a, SX_MUL, sx_const(a, 1 - f), u));
  if (w <= 0) return body;
  return sx_select(a, sx_bin(a, SX_LT, t, sx_const(a, w)), sx_bin(a, SX_DIV, t, sx_const(a, w)), body);
}

static SExpr *sched_call(Elab *e, const Expr *x) {
  Arena *a = e->prog->arena;
  const char *name = callee_name(x);
  static const char *const fns[] = {"constant", "cosine", "linear", "step", "cos", "exp", "log",
                                    "sqrt", "min", "max", "floor"};
  if (!name) {
    diag_error(x->loc, "a schedule is a number, an expression of t, step and epoch, or one of "
                       "constant(), cosine(), linear(), step()");
    return NULL;
  }
  if (!strcmp(name, "constant") || !strcmp(name, "cosine") || !strcmp(name, "linear")) {
    static const char *const names[] = {"warmup", "final"};
    Value v[2];
    double w = 0, f = 0;
    if (!config_args(e, x, names, 2, v)) return NULL;
    if (!strcmp(name, "constant")) {
      if (x->args.len) {
        diag_error(x->loc, "constant() takes no arguments (write a number for another value)");
        return NULL;
      }
      return sx_const(a, 1);
    }
    if (v[0].kind != V_NONE && !eval_number(e, v[0], 0, 0.99, &w, "'warmup'")) return NULL;
    if (v[1].kind != V_NONE && !eval_number(e, v[1], 0, 1, &f, "'final'")) return NULL;
    return !strcmp(name, "cosine") ? sched_cosine(a, w, f) : sched_linear(a, w, f);
  }
  if (!strcmp(name, "step")) {
    static const char *const names[] = {"milestones", "gamma"};
    Value v[2];
    double g = 0.1;
    if (!config_args(e, x, names, 2, v)) return NULL;
    if (v[0].kind != V_LIST || v[0].nitems == 0) {
      diag_error(x->loc, "step() needs milestones: a list of progress values, as in step(milestones: [0.5, 0.75])");
      return NULL;
    }
    if (v[1].kind != V_NONE && !eval_number(e, v[1], 0, 1, &g, "'gamma'")) return NULL;
    SExpr *r = sx_const(a, 1);
    for (int i = 0; i < v[0].nitems; i++) {
      double m;
      if (!eval_number(e, v[0].items[i], 0, 1, &m, "a milestone")) return NULL;
      SExpr *before = sx_bin(a, SX_LT, sx_var(a, SX_T), sx_const(a, m));
      r = sx_bin(a, SX_MUL, r, sx_select(a, before, sx_const(a, 1), sx_const(a, g)));
    }
    return r;
  }
  int k = 4;
  while (k < (int)ARRAY_LEN(fns) && strcmp(fns[k], name)) k++;
  if (k == (int)ARRAY_LEN(fns)) {
    const char *s = suggest_name(name, fns, (int)ARRAY_LEN(fns));
    diag_error(x->lhs->loc, "unknown schedule '%s'%s%s%s (schedules: constant, cosine, linear, step, "
                            "or an expression of t, step and epoch)", name,
               s ? "; did you mean '" : "", s ? s : "", s ? "'?" : "");
    return NULL;
  }
  int want = k >= 8 && k <= 9 ? 2 : 1;
  if (x->args.len != want) {
    diag_error(x->loc, "%s() takes %d argument%s", name, want, want > 1 ? "s" : "");
    return NULL;
  }
  SExpr *p = sched(e, x->args.items[0].value);
  SExpr *q = want == 2 ? sched(e, x->args.items[1].value) : NULL;
  if (!p || (want == 2 && !q)) return NULL;
  static const SExprKind kinds[] = {0, 0, 0, 0, SX_COS, SX_EXP, SX_LOG, SX_SQRT, SX_MIN, SX_MAX, SX_FLOOR};
  return want == 2 ? sx_bin(a, kinds[k], p, q) : sx_un(a, kinds[k], p);
}

static SExpr *sched(Elab *e, const Expr *x) {
  Arena *a = e->prog->arena;
  switch (x->kind) {
  case EX_NUM: return sx_const(a, x->num);
  case EX_NAME:
    if (!strcmp(x->str, "t")) return sx_var(a, SX_T);
    if (!strcmp(x->str, "step")) return sx_var(a, SX_STEP);
    if (!strcmp(x->str, "epoch")) return sx_var(a, SX_EPOCH);
    if (!strcmp(x->str, "pi")) return sx_const(a, M_PI);
    diag_error(x->loc, "unknown name '%s' in a schedule (it may use t, step, epoch and numbers)", x->str);
    return NULL;
  case EX_CALL: return sched_call(e, x);
  case EX_UNARY: {
    if (x->op != OP_NEG) break;
    SExpr *p = sched(e, x->lhs);
    return p ? sx_un(a, SX_NEG, p) : NULL;
  }
  case EX_BINARY: {
    SExpr *p = sched(e, x->lhs), *q = sched(e, x->rhs);
    if (!p || !q) return NULL;
    switch (x->op) {
    case OP_ADD: return sx_bin(a, SX_ADD, p, q);
    case OP_SUB: return sx_bin(a, SX_SUB, p, q);
    case OP_MUL: return sx_bin(a, SX_MUL, p, q);
    case OP_DIV: return sx_bin(a, SX_DIV, p, q);
    case OP_POW: return sx_bin(a, SX_POW, p, q);
    case OP_LT: return sx_bin(a, SX_LT, p, q);
    case OP_LE: return sx_bin(a, SX_LE, p, q);
    case OP_GT: return sx_bin(a, SX_LT, q, p);
    case OP_GE: return sx_bin(a, SX_LE, q, p);
    default: break;
    }
    break;
  }
  default: break;
  }
  diag_error(x->loc, "this cannot be part of a schedule (use numbers, t, step, epoch, + - * / ** "
                     "and schedule functions)");
  return NULL;
}

/* A schedule must be finite and >= 0 over the whole of training. Where it
 * reads step or epoch, their ranges come from the budget and the data size;
 * if the data size is unknown at compile time, the driver checks instead. */
static bool check_schedule(const SExpr *s, Loc loc, const char *what, double steps, double epochs) {
  if (sx_uses_counters(s) && (steps <= 0 || epochs <= 0)) return true;
  for (int i = 0; i <= 1000; i++) {
    double t = i / 1000.0;
    double v = sx_eval(s, t, floor(t * (steps - 1)), floor(t * (epochs - 1e-9)));
    if (!isfinite(v) || v < 0) {
      diag_error(loc, "the %s is %s at t = %s; it must stay finite and >= 0 over training", what, num_str(v), num_str(t));
      return false;
    }
  }
  return true;
}

/* ---- optimizer ----------------------------------------------------------------------- */

static bool optimizer_spec(Elab *e, const Expr *x, OptSpec *o) {
  const char *name = callee_name(x);
  static const char *const opts[] = {"sgd", "adamw"};
  o->loc = x->loc;
  if (name && x->kind == EX_NAME && (!strcmp(name, "sgd") || !strcmp(name, "adamw"))) {
    diag_error(x->loc, "the optimizer is written as a call with its settings, as in %s",
               !strcmp(name, "sgd") ? "sgd(lr: 0.05)" : "adamw(lr: 0.001)");
    return false;
  }
  if (!name || x->kind != EX_CALL || (strcmp(name, "sgd") && strcmp(name, "adamw"))) {
    const char *s = name ? suggest_name(name, opts, 2) : NULL;
    diag_error(x->loc, "the optimizer must be sgd(...) or adamw(...)%s%s%s", s ? "; did you mean '" : "",
               s ? s : "", s ? "'?" : "");
    return false;
  }
  if (!strcmp(name, "sgd")) {
    static const char *const names[] = {"lr", "momentum", "nesterov", "weight_decay"};
    Value v[4];
    if (!config_args(e, x, names, 4, v)) return false;
    o->kind = OPT_SGD;
    if (v[0].kind == V_NONE) {
      diag_error(x->loc, "sgd needs a learning rate: sgd(lr: 0.05, ...)");
      return false;
    }
    if (!eval_number(e, v[0], 1e-12, 1e6, &o->lr, "the learning rate")) return false;
    if (v[1].kind != V_NONE && !eval_number(e, v[1], 0, 0.999999, &o->momentum, "'momentum'")) return false;
    if (v[2].kind != V_NONE) {
      if (v[2].kind != V_BOOL) {
        diag_error(v[2].loc, "'nesterov' must be true or false");
        return false;
      }
      o->nesterov = v[2].num != 0;
      if (o->nesterov && o->momentum <= 0) {
        diag_error(v[2].loc, "Nesterov momentum needs momentum > 0");
        return false;
      }
    }
    if (v[3].kind != V_NONE && !eval_number(e, v[3], 0, 1, &o->weight_decay, "'weight_decay'")) return false;
    o->desc = arena_printf(e->prog->arena, "sgd(lr: %g, momentum: %g%s, weight_decay: %g)", o->lr, o->momentum,
                           o->nesterov ? ", nesterov: true" : "", o->weight_decay);
    return true;
  }
  static const char *const names[] = {"lr", "beta1", "beta2", "eps", "weight_decay"};
  Value v[5];
  if (!config_args(e, x, names, 5, v)) return false;
  o->kind = OPT_ADAMW;
  o->lr = 1e-3, o->beta1 = 0.9, o->beta2 = 0.999, o->eps = 1e-8, o->weight_decay = 0.01;
  if (v[0].kind != V_NONE && !eval_number(e, v[0], 1e-12, 1e6, &o->lr, "the learning rate")) return false;
  if (v[1].kind != V_NONE && !eval_number(e, v[1], 0, 0.999999, &o->beta1, "'beta1'")) return false;
  if (v[2].kind != V_NONE && !eval_number(e, v[2], 0, 0.999999, &o->beta2, "'beta2'")) return false;
  if (v[3].kind != V_NONE && !eval_number(e, v[3], 1e-30, 1, &o->eps, "'eps'")) return false;
  if (v[4].kind != V_NONE && !eval_number(e, v[4], 0, 1, &o->weight_decay, "'weight_decay'")) return false;
  o->desc = arena_printf(e->prog->arena, "adamw(lr: %g, beta1: %g, beta2: %g, eps: %g, weight_decay: %g)", o->lr,
                         o->beta1, o->beta2, o->eps, o->weight_decay);
  return true;
}

/* ---- the train block ---------------------------------------------------------------- */

static bool collect_entries(const Item *tr, TrainEntries *te) {
  const Entry **slots[] = {&te->loss, &te->optimizer, &te->lr, &te->batch, &te->epochs,
                           &te->steps, &te->samples, &te->seed, &te->target, &te->eval_batch,
                           &te->eval_every, &te->eval_samples};
  bool ok = true;
  bool suggested[ARRAY_LEN(train_keys)] = {0};  /* a misspelling of it was reported */
  const Entry *budget = NULL;
  for (int i = 0; i < tr->nentries; i++) {
    const Entry *en = &tr->entries[i];
    size_t k = 0;
    while (k < ARRAY_LEN(train_keys) && strcmp(train_keys[k], en->key)) k++;
    if (k == ARRAY_LEN(train_keys)) {
      const char *s = suggest_name(en->key, train_keys, (int)ARRAY_LEN(train_keys));
      if (s) diag_error(en->loc, "unknown setting '%s' in the train block; did you mean '%s'?", en->key, s);
      else diag_error(en->loc, "unknown setting '%s' in the train block (settings: loss, optimizer, lr, "
                               "batch, epochs, steps, samples, seed, target, eval_batch, eval_every, "
                               "eval_samples)", en->key);
      for (size_t j = 0; s && j < ARRAY_LEN(train_keys); j++) suggested[j] |= train_keys[j] == s;
      ok = false;
      continue;
    }
    if (*slots[k]) {
      diag_error(en->loc, "'%s' is set twice", en->key);
      diag_note((*slots[k])->loc, "it was first set here");
      ok = false;
      continue;
    }
    bool is_budget = slots[k] == &te->epochs || slots[k] == &te->steps || slots[k] == &te->samples;
    if (is_budget && budget) {
      diag_error(en->loc, "'%s' is a second budget; give only one of epochs, steps or samples", en->key);
      diag_note(budget->loc, "the budget is already set here by '%s'", budget->key);
      ok = false;
      continue;
    }
    if (is_budget) budget = en;
    *slots[k] = en;
  }
  /* a setting whose misspelling was reported is not reported missing too */
  if (!te->loss && !suggested[0])
    diag_error(tr->loc, "the train block needs a loss, such as: loss = cross_entropy()"), ok = false;
  if (!te->optimizer && !suggested[1])
    diag_error(tr->loc, "the train block needs an optimizer, such as: optimizer = sgd(lr: 0.05)"), ok = false;
  if (!te->batch && !suggested[3])
    diag_error(tr->loc, "the train block needs a batch size, such as: batch = 64"), ok = false;
  if (!budget && !suggested[4] && !suggested[5] && !suggested[6])
    diag_error(tr->loc, "the train block needs a budget: epochs = N, steps = N or samples = N"), ok = false;
  return ok;
}

/* The loss setting names a loss function, optionally with named options:
 * cross_entropy(label_smoothing: 0.1). An unqualified name is looked up in
 * this file, then in every imported module. */
static Value loss_callee(Elab *e, const Expr *x, Sema *s) {
  const Expr *fx = x->kind == EX_CALL ? x->lhs : x;
  Value callee;
  if (fx->kind == EX_NAME && !scope_lookup(s->modules.data[0], fx->str)) {
    callee = (Value){.kind = V_ERR};
    ModuleInfo *main = s->modules.data[0];
    for (int i = 0; i < main->scope.len; i++) {
      ModuleInfo *m = main->scope.data[i].module;
      const ScopeEntry *se = m ? scope_lookup(m, fx->str) : NULL;
      if (se && se->item) {
        callee = (Value){.kind = V_ITEM, .item = se->item, .module = m, .loc = fx->loc};
        break;
      }
    }
    if (callee.kind == V_ERR) callee = elab_lookup(e, fx->str, fx->loc, true);
    if (callee.kind == V_SYMBOL) {  /* defined nowhere */
      /* defined in a module this file does not import (the standard library) */
      if (sema_report_unknown(s, main, "loss function", fx->str, NULL, false, fx->loc)) return v_err();
      StrVec fns = {0};
      for (int i = 0; i < main->scope.len; i++) {
        const ScopeEntry *se = &main->scope.data[i];
        if (se->item && se->item->kind == IT_FN) vec_push(&fns, se->name);
        for (int k = 0; se->module && k < se->module->scope.len; k++)
          if (se->module->scope.data[k].item && se->module->scope.data[k].item->kind == IT_FN)
            vec_push(&fns, se->module->scope.data[k].name);
      }
      const char *sug = suggest_name(fx->str, fns.data, fns.len), *mod = NULL;
      if (sug)
        diag_error(fx->loc, "unknown loss function '%s'; did you mean '%s'?", fx->str, sug);
      else if ((sug = sema_suggest_stdlib_fn(s, main, fx->str, &mod)) && mod)
        diag_error(fx->loc, "unknown loss function '%s'; did you mean '%s', of the standard library module '%s'? "
                            "(add 'import %s')", fx->str, sug, mod, mod);
      else if (sema_reaches(s, main, "cross_entropy"))
        diag_error(fx->loc, "unknown loss function '%s' (the loss is a fn of the model's output and the "
                            "labels, such as cross_entropy())", fx->str);
      else
        diag_error(fx->loc, "unknown loss function '%s' (the loss is a fn of the model's output and the "
                            "labels, such as cross_entropy() of the standard library, after 'import nn')", fx->str);
      vec_free(&fns);
      return v_err();
    }
  } else {
    callee = elab_expr(e, fx);
  }
  if (callee.kind == V_ERR || x->kind != EX_CALL) return callee;
  for (int i = 0; i < x->args.len; i++)
    if (!x->args.items[i].name) {
      diag_error(x->args.items[i].value->loc, "the loss is called with the model's output and the "
                                              "targets; other arguments must be named");
      return v_err();
    }
  Value *vals = arena_alloc(e->arena, sizeof(Value) * (size_t)(x->args.len + 1));
  for (int i = 0; i < x->args.len; i++) {
    vals[i] = elab_expr(e, x->args.items[i].value);
    if (vals[i].kind == V_ERR) return v_err();
  }
  Value *c = arena_alloc(e->arena, sizeof(Value));
  *c = callee;
  return (Value){.kind = V_PARTIAL, .callee = c, .bound = x->args.items, .nbound = x->args.len,
                 .items = vals, .loc = x->loc};
}

/* Creates the model's input node from its first parameter's type and the data
 * set's example shape. Unbound dimension names take the data's sizes, matched
 * from the last axis (f32[B, 1, H, W] over 28 x 28 images: H = W = 28). When
 * elaborating a smaller image size (progressive resizing), the model's
 * argument is the input resized to it. */
static int model_input(Elab *e, const Item *model, const DataSpec *d, Type *out) {
  if (model->nparams < 1) {
    diag_error(model->name_loc, "model '%s' needs an input parameter, such as (x: f32[B, 784])", model->name);
    return -1;
  }
  const Param *px = &model->params[0];
  const TypeExpr *t = px->type;
  const char *want = dtype_name(d->x_dtype);
  if (strcmp(t->name, want) || !t->has_dims || t->dims.len < 2 || t->dims.items[0].value->kind != EX_NAME) {
    if (d->x_dtype == DT_I32)
      diag_error(t->loc, "data '%s' gives token ids: the model's input must be i32[B, %lld] (B, the batch size, "
                         "first; then the context)", d->name, (long long)d->context);
    else if (!strcmp(t->name, "i32"))
      diag_error(t->loc, "data '%s' gives f32 features, not token ids: the model's input must be f32[B, ...]",
                 d->name);
    else
      diag_error(t->loc, "the model's input must be f32[B, ...] with the batch size B as its first dimension");
    return -1;
  }
  for (int i = 1; i < model->nparams; i++)
    if (!model->params[i].def) {
      diag_error(model->params[i].loc, "model parameter '%s' needs a default value", model->params[i].name);
      return -1;
    }
  Type xt = {d->x_dtype, {t->dims.len, {IR_DIM_B}}};
  int per_rank = t->dims.len - 1, extra = per_rank - d->x_shape.rank;
  for (int i = 1; i < t->dims.len; i++) {
    const Expr *dx = t->dims.items[i].value;
    if (dx->kind == EX_NAME && extra >= 0 && i - 1 - extra >= 0 && !scope_lookup(e->frame->module, dx->str)) {
      xt.shape.d[i] = d->x_shape.d[i - 1 - extra];
      continue;
    }
    Value v = elab_expr(e, dx);
    if (v.kind != V_INT || v.num < 1) {
      if (v.kind != V_ERR) diag_error(dx->loc, "dimension %d of the model's input must be a positive integer", i + 1);
      return -1;
    }
    xt.shape.d[i] = (int64_t)v.num;
  }
  Shape per = {per_rank, {0}};
  for (int i = 0; i < per_rank; i++) per.d[i] = xt.shape.d[i + 1];
  if (d->x_dtype == DT_I32 && !shape_eq(&per, &d->x_shape)) {
    char a[128];
    diag_error(t->loc, "model '%s' takes %s tokens per example but data '%s' has a context of %lld", model->name,
               shape_str(&per, a, sizeof a), d->name, (long long)d->context);
    diag_note(d->loc, "data '%s' is defined here", d->name);
    return -1;
  }
  if (shape_numel(&per, 1) != shape_numel(&d->x_shape, 1)) {
    char a[128], b[128];
    diag_error(t->loc, "model '%s' takes examples of shape %s (%lld values) but data '%s' has examples of "
                       "shape %s (%lld values)", model->name, shape_str(&per, a, sizeof a),
               (long long)shape_numel(&per, 1), d->name, shape_str(&d->x_shape, b, sizeof b),
               (long long)shape_numel(&d->x_shape, 1));
    diag_note(d->loc, "data '%s' is defined here", d->name);
    return -1;
  }
  *out = xt;
  int64_t ia[IR_MAX_IA] = {0};
  int n = elab_node(e, IR_INPUT, 0, NULL, ia, NULL, &xt, px->loc);
  if (n >= 0) e->g->nodes[n].name = px->name;
  if (n >= 0 && e->height > 0) {
    Type small = xt;
    small.shape.d[xt.shape.rank - 2] = e->height;
    small.shape.d[xt.shape.rank - 1] = e->width;
    int64_t ra[IR_MAX_IA] = {e->resize_mode};
    n = elab_node(e, IR_RESIZE2D, 1, &n, ra, NULL, &small, px->loc);
  }
  return n;
}

/* Elaborates model + loss into e->g; returns the loss node (or -1). */
/* Whether the model's output is class scores (one per class, or per token
 * of the vocabulary at each position of a sequence), which `correct` counts. */
static bool outputs_classes(const IrProgram *p, const Type *ot) {
  return (p->data.target == TARGET_CLASS && ot->shape.rank == 2 && ot->shape.d[1] == p->data.classes) ||
         p->data.target == TARGET_SEQUENCE;
}

/* output `correct`: rows (positions, for sequences) whose top score is the
 * label — the evaluation's accuracy and the training step's count */
static void output_correct(Elab *e, int out, int y, Loc loc) {
  int c = elab_node(e, IR_CORRECT, 2, (int[]){out, y}, NULL, NULL, NULL, loc);
  int64_t oa[IR_MAX_IA] = {OUT_CORRECT};
  elab_node(e, IR_OUTPUT, 1, &c, oa, NULL, NULL, loc);
}

static int model_and_loss(Elab *e, Sema *s, const Item *model, ModuleInfo *mm, const Entry *loss,
                          int *out_node, int *label_node) {
  Type xt;
  e->role = e->training ? ROLE_FORWARD : ROLE_EVAL;
  int x = model_input(e, model, &e->prog->data, &xt);
  if (x < 0) return -1;
  e->prog->input_type = xt;
  /* the targets: class labels and sequences are typed by the data (and made
   * here, before the model); real values are shaped like the model's output */
  DataSpec *d = &e->prog->data;
  int64_t yia[IR_MAX_IA] = {1};
  int y = -1;
  if (d->target != TARGET_REAL) {
    Type yt = d->target == TARGET_CLASS ? (Type){DT_I32, SHAPE(IR_DIM_B)} : (Type){DT_I32, SHAPE(IR_DIM_B, d->context)};
    e->prog->label_type = yt;
    y = elab_node(e, IR_INPUT, 0, NULL, yia, NULL, &yt, d->loc);
    e->g->nodes[y].name = "y";
  }
  Value arg = v_tensor(x, model->params[0].loc);
  const char *name = model->params[0].name;
  Loc nl = model->params[0].loc;
  Frame *top = e->frame;
  e->frame = NULL;
  Value out = elab_call_item(e, model, mm, &arg, &(const char *){NULL}, &nl, 1, model->loc, NULL);
  (void)name;
  e->frame = top;
  if (out.kind == V_ERR) return -1;
  if (out.kind != V_TENSOR) {
    diag_error(model->name_loc, "model '%s' must return a tensor", model->name);
    return -1;
  }
  e->prog->output_type = e->g->nodes[out.node].type;
  const Type *ot = &e->prog->output_type;
  Loc at = model->ret ? model->ret->loc : model->name_loc;
  char ts[96];
  if (d->target == TARGET_CLASS) {
    if (e->training && ot->shape.rank == 2 && ot->shape.d[1] != d->classes) {
      diag_error(at, "model '%s' outputs %lld class scores (%s) but data '%s' has %lld classes", model->name,
                 (long long)ot->shape.d[1], type_str(ot, ts, sizeof ts), d->name, (long long)d->classes);
      return -1;
    }
  } else if (d->target == TARGET_SEQUENCE) {
    /* a score per token of the vocabulary at each position: [B, T, vocab] */
    if (ot->shape.rank != 3 || ot->shape.d[1] != d->context || ot->shape.d[2] != d->vocab) {
      diag_error(at, "model '%s' outputs %s, but a language model over data '%s' outputs f32[B, %lld, %lld]: a "
                     "score for each of the %lld tokens at each of the %lld positions", model->name,
                 type_str(ot, ts, sizeof ts), d->name, (long long)d->context, (long long)d->vocab,
                 (long long)d->vocab, (long long)d->context);
      return -1;
    }
  } else {
    /* real-valued targets shaped like the model's output: [B] or [B, k] */
    if (ot->dtype != DT_F32 || ot->shape.rank < 1 || ot->shape.rank > 2 || ot->shape.d[0] != IR_DIM_B) {
      diag_error(at, "model '%s' outputs %s, but data '%s' has real-valued targets: the model outputs f32[B] "
                     "or f32[B, k] predictions", model->name, type_str(ot, ts, sizeof ts), d->name);
      return -1;
    }
    d->target_size = shape_numel(&ot->shape, 1);
    e->prog->label_type = *ot;
    y = elab_node(e, IR_INPUT, 0, NULL, yia, NULL, ot, d->loc);
    e->g->nodes[y].name = "y";
  }
  *out_node = out.node;
  *label_node = y;
  if (!e->training) e->role = ROLE_EVAL;
  else e->role = ROLE_LOSS;
  Value callee = loss_callee(e, loss->value, s);
  if (callee.kind == V_ERR) return -1;
  const Value *fn = callee.kind == V_PARTIAL ? callee.callee : &callee;
  e->prog->loss_name = fn->kind == V_ITEM ? fn->item->name : fn->kind == V_BUILTIN ? fn->builtin->name : "?";
  Value args[2] = {out, v_tensor(y, e->prog->data.loc)};
  const char *names[2] = {NULL, NULL};
  Loc locs[2] = {loss->value->loc, loss->value->loc};
  Value l = elab_call_value(e, callee, args, names, locs, 2, loss->value->loc, NULL);
  if (l.kind == V_ERR) return -1;
  int ln = elab_as_tensor(e, l);
  if (ln < 0 || e->g->nodes[ln].type.shape.rank != 0) {
    char d[128];
    diag_error(loss->value->loc, "the loss must be a scalar f32[], not %s", value_desc(e, &l, d, sizeof d));
    return -1;
  }
  int64_t oa[IR_MAX_IA] = {OUT_LOSS};
  elab_node(e, IR_OUTPUT, 1, &ln, oa, NULL, NULL, loss->value->loc);
  /* the training step counts its correct rows too (astrt_step_result.correct) */
  if (e->training && outputs_classes(e->prog, &e->g->nodes[out.node].type)) output_correct(e, out.node, y, model->loc);
  return ln;
}

/* The training step's backward and update: gradients of the loss for every
 * parameter, then the optimizer's updates. */
static void backward_and_update(IrProgram *p, IrGraph *g, int loss, const Item *model) {
  bool *wrt = xcalloc((size_t)p->vars.len + 1, sizeof(bool));
  int *grads = xmalloc(sizeof(int) * (size_t)(p->vars.len + 1));
  for (int v = 0; v < p->vars.len; v++) wrt[v] = p->vars.data[v].kind == VAR_PARAM;
  ir_autodiff(p, g, loss, wrt, grads);
  int trainable = 0;
  for (int v = 0; v < p->vars.len; v++) trainable += grads[v] >= 0;
  if (trainable == 0)
    diag_error(model->name_loc, "model '%s' has no parameter that influences the loss; there is nothing to train",
               model->name);
  ir_lower_optimizer(p, g, grads);
  free(wrt);
  free(grads);
}

/* Layer dropping: the residual blocks of a training step's forward graph are
 * gated before it is differentiated (passes/drop.h), so that autodiff
 * derives each block's scaled backward. Returns the loss node, or -1. */
static int gate_blocks(IrProgram *p, IrGraph *g, int loss) {
  const SpeedupItem *it = sp_item(p->speedup, TECH_DROP);
  return it ? drop_gate_step(p, g, loss, it) : loss;
}

/* The training step elaborated again into a variant step (seqlen warmup,
 * progressive resizing): e->context or e->height/width set, over the same
 * variables. `what` says which variant, for the note after an error. */
static bool variant_step(Elab *e, Sema *s, const Item *model, ModuleInfo *mm, const Entry *loss,
                         const SpeedupItem *it, IrVariantStep *vs, const char *what) {
  IrProgram *p = e->prog;
  e->g = &vs->step;
  e->training = true;
  e->second_pass = true;
  e->dropout_ids = 0;
  e->seq_graph = NULL;  /* the layer calls are checked against training's afresh */
  e->variant = what;
  int errors = diag_error_count(), o, y;
  int l = model_and_loss(e, s, model, mm, loss, &o, &y);
  if (l >= 0 && elab_eval_layers_done(e) && diag_error_count() == errors) l = gate_blocks(p, &vs->step, l);
  if (l >= 0 && diag_error_count() == errors) backward_and_update(p, &vs->step, l, model);
  e->variant = NULL;
  if (diag_error_count() > errors) {
    diag_note(it->loc, "while specialising model '%s' to %s", model->name, what);
    ir_graph_free(&vs->step);
    return false;
  }
  vec_push(&p->variant_steps, *vs);
  return true;
}

/* Sequence-length warmup (the seqlen pass): the step at each shorter context
 * the schedule reaches. The model must name its context (i32[B, T]) for its
 * shapes to follow it. */
static void context_steps(Elab *e, Sema *s, const Item *model, ModuleInfo *mm, const Entry *loss,
                          const SpeedupItem *it) {
  IrProgram *p = e->prog;
  DataSpec *d = &p->data;
  if (d->target != TARGET_SEQUENCE) {
    diag_error(it->loc, "seqlen warmup shortens sequences, but data '%s' is not a sequence data set; it needs "
                        "text(...) or tokens(...) data", d->name);
    diag_note(d->loc, "data '%s' is defined here", d->name);
    return;
  }
  const TypeExpr *t = model->params[0].type;
  const Expr *dim = t->dims.items[1].value;
  if (dim->kind != EX_NAME || scope_lookup(mm, dim->str)) {
    diag_error(it->loc, "seqlen warmup specialises model '%s' to shorter contexts, but the model fixes its "
                        "context at %lld tokens; write its input as i32[B, T] and use T wherever the model depends "
                        "on the context (arange(T) for the positions)", model->name, (long long)d->context);
    diag_note(t->loc, "the model's input is declared here");
    return;
  }
  int64_t T = d->context, from = (int64_t)sp_num(it, ARG_SEQLEN_FROM);
  if (from >= T) {
    const SpArg *a = sp_arg(it, ARG_SEQLEN_FROM);
    diag_error(a->given ? a->loc : it->loc, "seqlen warmup: from must be below the context of data '%s' (%lld), "
                                            "but it is %lld", d->name, (long long)T, (long long)from);
    return;
  }
  DataSpec saved = *d;
  Type in = p->input_type, label = p->label_type, out = p->output_type;
  int stages = sp_seqlen_stages(it, T);
  double until = sp_num(it, ARG_SEQLEN_UNTIL);
  for (int k = 0; k < stages; k++) {
    int64_t L = sp_seqlen_at(it, T, until * ((double)k + 0.5) / (double)stages);
    if (L >= T || ir_variant_step(p, L, 0, 0)) continue;
    IrVariantStep vs = {L, 0, 0, NULL, {0}};
    d->context = L;
    d->x_shape = SHAPE(L);
    d->target_size = L;
    e->context = L;
    bool ok = variant_step(e, s, model, mm, loss, it, &vs,
                           arena_printf(e->arena, "a context of %lld tokens for seqlen warmup", (long long)L));
    e->context = 0;
    *d = saved;
    if (!ok) break;
  }
  p->input_type = in, p->label_type = label, p->output_type = out;
}

/* Progressive resizing (the resize pass): the step at each smaller image
 * size the schedule reaches. The model must name its image size
 * (f32[B, C, H, W]) and have no parameter that depends on it. */
static void size_steps(Elab *e, Sema *s, const Item *model, ModuleInfo *mm, const Entry *loss,
                       const SpeedupItem *it) {
  IrProgram *p = e->prog;
  const TypeExpr *t = model->params[0].type;
  const Shape *in = &p->input_type.shape;
  char ts[96];
  if (p->input_type.dtype != DT_F32 || in->rank < 3) {
    diag_error(it->loc, "resize progressive scales images, but model '%s' takes %s; it needs images, such as "
                        "f32[B, C, H, W]", model->name, type_str(&p->input_type, ts, sizeof ts));
    diag_note(t->loc, "the model's input is declared here");
    return;
  }
  for (int k = t->dims.len - 2; k < t->dims.len; k++) {
    const Expr *dim = t->dims.items[k].value;
    if (dim->kind != EX_NAME || scope_lookup(mm, dim->str)) {
      diag_error(it->loc, "resize progressive trains model '%s' on smaller images, but the model fixes its input "
                          "at %s; write its input as f32[B, C, H, W] (sizes named, taken from the data) and pool "
                          "globally before its dense head (nn.global_avg_pool), so that it works at any size",
                 model->name, type_str(&p->input_type, ts, sizeof ts));
      diag_note(dim->loc, "this size is fixed");
      return;
    }
  }
  int64_t H = in->d[in->rank - 2], W = in->d[in->rank - 1];
  double cuts[512];
  int n = sp_resize_cuts(it, H, W, cuts, 512);
  Type label = p->label_type, out = p->output_type;
  Type input = p->input_type;
  e->resize_mode = sp_choice_is(it, ARG_RESIZE_MODE, "bilinear") ? RESIZE_BILINEAR : RESIZE_AREA;
  for (int k = 0; k <= n; k++) {  /* the size at 0 and just after each cut */
    int64_t h, w;
    sp_resize_at(it, H, W, k == 0 ? 0 : cuts[k - 1] + 1e-9, &h, &w);
    if ((h == H && w == W) || ir_variant_step(p, 0, h, w)) continue;
    IrVariantStep vs = {0, h, w, NULL, {0}};
    e->height = h, e->width = w;
    bool ok = variant_step(e, s, model, mm, loss, it, &vs,
                           arena_printf(e->arena, "images of %lldx%lld for progressive resizing", (long long)h,
                                        (long long)w));
    e->height = e->width = 0;
    p->input_type = input;
    if (!ok) break;
  }
  p->label_type = label, p->output_type = out;
}

/* Freezing (the freeze pass, statistics: frozen): a frozen layer whose body
 * reads `training` (batch norm) runs as in evaluation — on its running
 * statistics, which stop changing. The step with the layers frozen by each
 * freeze time run so; the layers are nested as the freeze times grow. */
static void frozen_steps(Elab *e, Sema *s, const Item *model, ModuleInfo *mm, const Entry *loss,
                         const SpeedupItem *it, const IrGraph *step) {
  IrProgram *p = e->prog;
  int nl = p->layers.len;
  int *layers = xmalloc(sizeof(int) * (size_t)(nl + 1));
  double *t = xmalloc(sizeof(double) * (size_t)(nl + 1));
  int n = pass_param_layers_in(p, step, layers);
  pass_freeze_times(p, it, layers, n, t);
  for (int k = 0; k < n; k++) {
    int l = layers[k];
    if (!p->layers.data[l].reads_training || t[l] >= 1) continue;
    bool *eval = arena_alloc(p->arena, sizeof(bool) * (size_t)(nl + 1));
    for (int j = 0; j < n; j++) eval[layers[j]] = p->layers.data[layers[j]].reads_training && t[layers[j]] <= t[l];
    if (ir_variant_step_eval(p, eval)) continue;
    IrVariantStep vs = {0, 0, 0, eval, {0}};
    e->eval_layers = eval;
    bool ok = variant_step(e, s, model, mm, loss, it,
                           &vs, arena_printf(e->arena, "'%s' frozen, running as in evaluation", p->layers.data[l].name));
    e->eval_layers = NULL;
    if (!ok) break;
  }
  free(layers);
  free(t);
}

static void variant_steps(Elab *e, Sema *s, const Item *model, ModuleInfo *mm, const Entry *loss,
                          const IrGraph *step) {
  const SpeedupItem *seq = sp_item(e->prog->speedup, TECH_SEQLEN), *res = sp_item(e->prog->speedup, TECH_RESIZE);
  const SpeedupItem *fr = sp_item(e->prog->speedup, TECH_FREEZE);
  if (seq && res) {
    diag_error(res->loc, "resize and seqlen cannot be combined: one shortens sequences, the other scales images");
    return;
  }
  if (seq) context_steps(e, s, model, mm, loss, seq);
  if (res) size_steps(e, s, model, mm, loss, res);
  /* with seqlen or resize, a phase's step is its size's variant: frozen
   * layers keep training mode there (freeze.c says so) */
  if (fr && !seq && !res && sp_choice_is(fr, ARG_FREEZE_STATISTICS, "frozen"))
    frozen_steps(e, s, model, mm, loss, fr, step);
}

static const Item *find_item(ModuleInfo *m, ItemKind kind, const char *what, bool required) {
  const Item *found = NULL;
  for (int i = 0; i < m->ast->nitems; i++) {
    const Item *it = m->ast->items[i];
    if (it->kind != kind) continue;
    if (found) {
      diag_error(it->loc, "a program has at most one %s block", what);
      diag_note(found->loc, "the first one is here");
      return NULL;
    }
    found = it;
  }
  if (!found && required && m->ast->nitems == 0)
    diag_error((Loc){m->ast->file, 1, 1}, "'%s' defines nothing; a program needs a data set, a model "
                                           "and a train block", m->path);
  else if (!found && required)
    diag_error((Loc){m->ast->file, 1, 1}, "'%s' has no train block, so there is nothing to train", m->path);
  return found;
}

static const char *kind_noun(ItemKind k) { return k == IT_DATA ? "data set" : item_kind_str(k); }

static const Item *lookup_kind(ModuleInfo *m, const char *name, Loc loc, ItemKind kind) {
  const ScopeEntry *s = scope_lookup(m, name);
  if (!s || !s->item) {
    StrVec names = {0};
    for (int i = 0; i < m->scope.len; i++)
      if (m->scope.data[i].item && m->scope.data[i].item->kind == kind) vec_push(&names, m->scope.data[i].name);
    const char *sug = suggest_name(name, names.data, names.len);
    if (sug) diag_error(loc, "unknown %s '%s'; did you mean '%s'?", kind_noun(kind), name, sug);
    else diag_error(loc, "unknown %s '%s'", kind_noun(kind), name);
    vec_free(&names);
    return NULL;
  }
  if (s->item->kind != kind) {
    diag_error(loc, "'%s' is a %s, not a %s", name, kind_noun(s->item->kind), kind_noun(kind));
    diag_note(s->loc, "'%s' is defined here", name);
    return NULL;
  }
  return s->item;
}

static bool train_settings(Elab *e, const TrainEntries *te, IrProgram *p) {
  bool ok = true;
  if (!eval_int(e, te->batch->value, 1, MAX_BATCH, &p->batch, "the batch size")) ok = false;
  else if (p->data.train_examples > 0 && p->batch > p->data.train_examples) {
    /* a step cannot take more examples than there are (a batch ramp's largest size: passes/phases.c;
     * data whose size is known only when it is loaded: the runtime, runtime/driver.c) */
    diag_error(expr_start(te->batch->value), "the batch size is %lld but data '%s' has only %lld training "
               "examples; use a batch of at most %lld", (long long)p->batch, p->data.name,
               (long long)p->data.train_examples, (long long)p->data.train_examples);
    ok = false;
  }
  p->epochs = p->steps = 0;
  if (te->epochs && !eval_int(e, te->epochs->value, 1, 1e9, &p->epochs, "'epochs'")) {
    ok = false;
    const Expr *x = te->epochs->value;  /* a fraction written out: say how to train for part of an epoch */
    if (x->kind == EX_NUM && x->num > 0 && x->num < 1)
      diag_note(x->loc, "for part of an epoch, give a number of steps (steps = N), or run the program with "
                        "--budget %s", num_str(x->num));
  }
  if (te->steps && !eval_int(e, te->steps->value, 1, 1e12, &p->steps, "'steps'")) ok = false;
  if (te->samples) {
    int64_t s;
    if (!eval_int(e, te->samples->value, 1, 1e15, &s, "'samples'")) ok = false;
    else p->steps = (s + p->batch - 1) / MAX(p->batch, 1);
  }
  int64_t seed = 0;
  if (te->seed && !eval_int(e, te->seed->value, 0, 9007199254740992.0, &seed, "the seed")) ok = false;
  p->seed = (uint64_t)seed;
  p->eval_batch = 1000;
  if (te->eval_batch && !eval_int(e, te->eval_batch->value, 1, MAX_BATCH, &p->eval_batch, "'eval_batch'")) ok = false;
  p->eval_every = p->eval_samples = 0;
  if (te->eval_every && !eval_int(e, te->eval_every->value, 1, 1e12, &p->eval_every, "'eval_every'")) ok = false;
  if (te->eval_samples && !eval_int(e, te->eval_samples->value, 1, 1e15, &p->eval_samples, "'eval_samples'"))
    ok = false;
  if (!optimizer_spec(e, te->optimizer->value, &p->opt)) ok = false;
  p->lr_schedule = te->lr ? sched(e, te->lr->value) : sx_const(p->arena, 1);
  /* the run's extent in steps and epochs, where the data size says */
  double n = (double)p->data.train_examples, steps = 0, epochs = 0;
  if (ok && n > 0 && p->batch > 0) {
    double per_epoch = ceil(n / (double)p->batch);
    steps = p->epochs > 0 ? (double)p->epochs * per_epoch : (double)p->steps;
    epochs = p->epochs > 0 ? (double)p->epochs : ceil((double)p->steps * (double)p->batch / n);
  }
  if (!p->lr_schedule) ok = false;
  else if (te->lr && !check_schedule(p->lr_schedule, expr_start(te->lr->value), "learning-rate schedule", steps,
                                     epochs))
    ok = false;
  if (te->target) {
    /* accuracy >= 0.88 (higher is better), or loss <= 1.5 (lower is better) */
    const Expr *x = te->target->value;
    bool acc = x->kind == EX_BINARY && x->op == OP_GE && x->lhs->kind == EX_NAME && !strcmp(x->lhs->str, "accuracy");
    bool loss = x->kind == EX_BINARY && x->op == OP_LE && x->lhs->kind == EX_NAME && !strcmp(x->lhs->str, "loss");
    if (!acc && !loss) {
      diag_error(expr_start(x), "the target must be of the form: accuracy >= 0.88 (for classes) or loss <= 1.5");
      ok = false;
    } else if (acc) {
      Value v = elab_expr(e, x->rhs);
      p->goal = GOAL_ACCURACY;
      if ((v.kind == V_INT || v.kind == V_FLOAT) && v.num > 1 && v.num <= 100) {
        diag_error(v.loc, "the target accuracy is a fraction in (0, 1], not %s (for %s%%, write %s)",
                   num_str(v.num), num_str(v.num), num_str(v.num / 100));
        ok = false;
      } else if (!eval_number(e, v, 1e-9, 1, &p->target, "the target accuracy")) {
        ok = false;
      }
    } else {
      p->goal = GOAL_LOSS;
      if (!eval_number(e, elab_expr(e, x->rhs), -1e30, 1e30, &p->target, "the target loss")) ok = false;
    }
  }
  return ok;
}

/* normalize: standard: the features' means and standard deviations, state
 * variables of one example's shape that the runtime fills from the
 * training split (std 0, as initialised, means not yet computed) and that
 * checkpoints and saved files carry, so that every later use of the
 * weights normalises as training did. No step reads them: the runtime
 * normalises a batch before the step. */
static void standardize_vars(IrProgram *p) {
  Shape ex = p->input_type.shape;
  for (int i = 0; i + 1 < ex.rank; i++) ex.d[i] = ex.d[i + 1];
  ex.rank--;
  IrVar v = {.kind = VAR_STATE, .shape = ex, .dtype = DT_F32, .init = {.kind = INIT_ZEROS}, .layer = -1,
             .owner = -1, .loc = p->data.loc};
  v.name = "data.mean";
  p->data.mean_var = ir_program_add_var(p, v);
  v.name = "data.std";
  p->data.std_var = ir_program_add_var(p, v);
}

IrProgram *sema_program(Sema *s) {
  ModuleInfo *main = s->modules.data[0];
  const Item *tr = find_item(main, IT_TRAIN, "train", true);
  const Item *sp = find_item(main, IT_SPEEDUP, "speedup", false);
  if (!tr || diag_error_count()) return NULL;
  TrainEntries te = {0};
  if (!collect_entries(tr, &te)) return NULL;
  const Item *model = lookup_kind(main, tr->name, tr->name_loc, IT_MODEL);
  const Item *data = lookup_kind(main, tr->alias, tr->alias_loc, IT_DATA);
  if (!model || !data) return NULL;

  IrProgram *p = ir_program_new();
  p->source_path = arena_strdup(p->arena, main->path);
  p->model_name = model->name;
  IrPhase ph = {0};
  Elab e = {.sema = s, .prog = p, .g = &ph.step, .training = true, .arena = arena_new()};
  Frame top = {.module = main, .layer = -1, .prefix = ""};
  e.frame = &top;
  bool ok = data_spec(&e, data, &p->data) && train_settings(&e, &te, p);

  /* training mode: forward + loss, backward, update */
  int out = -1, y = -1, loss = -1;
  if (ok) loss = model_and_loss(&e, s, model, main, te.loss, &out, &y);
  int forward_len = ph.step.len;
  if (loss >= 0 && diag_error_count() == 0) backward_and_update(p, &ph.step, loss, model);
  /* evaluation mode: forward + loss + accuracy */
  if (loss >= 0 && diag_error_count() == 0) {
    e.g = &p->eval;
    e.training = false;
    e.second_pass = true;
    e.dropout_ids = 0;
    int eout, ey;
    if (model_and_loss(&e, s, model, main, te.loss, &eout, &ey) >= 0 && elab_eval_layers_done(&e)) {
      /* prediction: the evaluation-mode forward up to the model's output, which is
       * written out; no loss, no backward (dead code elimination drops the rest) */
      IrRewrite rw;
      rw_begin(&rw, &p->eval);
      for (int i = 0; i < p->eval.len; i++)
        if (p->eval.nodes[i].op != IR_OUTPUT) rw_copy(&rw, i);
      rw.b = (IrBuilder){&rw.dst, model->loc, -1, ROLE_EVAL, NULL};
      irb_node(&rw.b, IR_STORE_FEATURES, 1, &rw.map[eout], NULL, NULL, NULL);
      p->predict = rw.dst;
      free(rw.map);
      ir_dce(&p->predict);
      /* accuracy: rows (or positions, for sequences) whose top score is the label */
      const Type *ot = &p->eval.nodes[eout].type;
      if (outputs_classes(p, ot)) {
        e.role = ROLE_EVAL;
        output_correct(&e, eout, ey, model->loc);
      } else if (p->goal == GOAL_ACCURACY) {
        char ts[128];
        if (p->data.target == TARGET_REAL)
          diag_error(te.target->loc, "data '%s' has real-valued targets, so there is no accuracy; use a loss "
                                     "target such as: target = loss <= 0.5", p->data.name);
        else
          diag_error(te.target->loc, "an accuracy target needs a model that outputs [B, %lld] class scores; "
                                     "'%s' outputs %s", (long long)p->data.classes, model->name,
                     type_str(ot, ts, sizeof ts));
      }
    }
  }
  if (diag_error_count() == 0 && sp && !s->opt->no_speedup) speedup_validate(&e, sp, p);
  if (diag_error_count() == 0 && sp_item(p->speedup, TECH_DROP)) {
    /* differentiated again, with the residual blocks gated */
    ph.step.len = forward_len;
    loss = gate_blocks(p, &ph.step, loss);
    if (loss >= 0) backward_and_update(p, &ph.step, loss, model);
  }
  if (diag_error_count() == 0 && p->speedup) variant_steps(&e, s, model, main, te.loss, &ph.step);
  elab_frame_free(&top);
  arena_free(e.arena);
  if (diag_error_count()) {
    ir_graph_free(&ph.step);
    ir_program_free(p);
    return NULL;
  }
  if (p->data.normalize == NORM_STANDARD) standardize_vars(p);
  ph.t_begin = 0;
  ph.t_end = 1;
  ph.lr_scale = 1;
  ph.precision = DT_F32;
  ph.batch = p->batch;
  vec_push(&p->phases, ph);
  return p;
}
