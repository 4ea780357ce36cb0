/* generate.c — sampling from a language model: the --sample option
 * (driver.c) and astrt_model_generate (model.c) run astrt_generate.
 *
 * A compiled language model has a predict step that takes windows of
 * data.context T token ids and writes T x vocab scores (logits) per window.
 * Generation keeps the last T tokens so far; each new token is drawn from
 * the scores at the last filled position of the window (the rest is padded
 * with 0, which a causal model's scores there do not depend on):
 *   temperature 0   the most likely token (the first of equal scores);
 *   temperature t   softmax(scores / t) over the top_k most likely tokens
 *                   (0: all), with the uniform number
 *                   astrt_uniform53(astrt_subkey(seed, ASTRT_TAG_SAMPLE), g)
 *                   for the g-th generated token: the same seed, variables
 *                   and prompt give the same tokens, on any thread count.
 */
#include "driver_internal.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *name_of(const astrt_program *p) { return p->name && *p->name ? p->name : "the model"; }

astrt_status astrt_generate_check(const astrt_program *p, const char *what) {
  const astrt_data_desc *d = &p->data;
  if (d->target != ASTRT_TARGET_SEQUENCE)
    return astrt_fail(ASTRT_ERR_ARG, "%s generates tokens from a language model, but %s's data (%s) is not a "
                      "sequence: it has %s; only a model trained on text(...) or tokens(...) data can sample",
                      what, name_of(p), d->source && *d->source ? d->source : "?",
                      d->target == ASTRT_TARGET_REAL ? "real-valued targets" : "class labels");
  if (d->context < 1 || d->vocab < 2 || d->x_dtype != ASTRT_DTYPE_I32)
    return astrt_fail(ASTRT_ERR_FORMAT, "the program descriptor is invalid: sequence data without a context, a "
                      "vocabulary or token inputs; recompile the program with astc");
  if (!p->predict || p->output_size != d->context * d->vocab)
    return astrt_fail(ASTRT_ERR_ARG, "%s: %s has no prediction step giving %lld x %lld scores per window (its "
                      "output has %lld values); recompile it with this astc", what, name_of(p),
                      (long long)d->context, (long long)d->vocab, (long long)p->output_size);
  return ASTRT_OK;
}

astrt_status astrt_prompt_parse(const astrt_program *p, const char *text, int32_t **ids, int64_t *n) {
  *ids = NULL;
  *n = 0;
  const astrt_data_desc *d = &p->data;
  size_t len = text ? strlen(text) : 0;
  int32_t *out = malloc((len + 1) * sizeof *out);
  if (!out) return astrt_fail(ASTRT_ERR_NOMEM, "out of memory reading the prompt");
  if (d->kind == ASTRT_DATA_TEXT) {
    for (size_t i = 0; i < len; i++) out[i] = (unsigned char)text[i];
    *n = (int64_t)len;
    if (len == 0) out[(*n)++] = '\n';  /* a new line of text */
    *ids = out;
    return ASTRT_OK;
  }
  int64_t k = 0;
  for (const char *s = text; s && *s;) {
    while (*s == ' ' || *s == '\t') s++;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    const char *after = end;
    while (*after == ' ' || *after == '\t') after++;
    if (end == s || errno || (*after && *after != ',')) {
      free(out);
      return astrt_fail(ASTRT_ERR_ARG, "--prompt: '%s' is not a list of token ids; token data takes "
                        "comma-separated ids, e.g. --prompt 464,2068", text);
    }
    if (v < 0 || v >= d->vocab) {
      free(out);
      return astrt_fail(ASTRT_ERR_ARG, "--prompt: token id %lld is outside the vocabulary [0, %lld)", v,
                        (long long)d->vocab);
    }
    out[k++] = (int32_t)v;
    s = *after ? after + 1 : after;
  }
  if (k == 0) {
    free(out);
    return astrt_fail(ASTRT_ERR_ARG, "--sample on token data needs a prompt to start from: --prompt with "
                      "comma-separated token ids, e.g. --prompt 464,2068");
  }
  *ids = out;
  *n = k;
  return ASTRT_OK;
}

/* a candidate token */
typedef struct cand {
  float score;
  int32_t id;
  double w;
} cand;

/* higher scores first; of equal scores, the lower id */
static int by_score(const void *a, const void *b) {
  const cand *x = a, *y = b;
  if (x->score != y->score) return x->score > y->score ? -1 : 1;
  return (x->id > y->id) - (x->id < y->id);
}

/* The next token from scores[0..V). */
static astrt_status pick(const float *scores, int64_t V, double temperature, int64_t top_k, double u, cand *c,
                         int64_t g, int32_t *tok) {
  int64_t best = 0;
  for (int64_t i = 0; i < V; i++) {
    if (!isfinite(scores[i]))
      return astrt_fail(ASTRT_ERR_NUMERIC, "generating token %lld: the model's score for token %lld is %g; the "
                        "weights are not usable (load or train them again)", (long long)g + 1, (long long)i,
                        (double)scores[i]);
    if (scores[i] > scores[best]) best = i;
  }
  if (temperature == 0) {
    *tok = (int32_t)best;
    return ASTRT_OK;
  }
  for (int64_t i = 0; i < V; i++) c[i] = (cand){scores[i], (int32_t)i, 0};
  int64_t k = top_k > 0 && top_k < V ? top_k : V;
  if (k < V) qsort(c, (size_t)V, sizeof *c, by_score);
  double max = scores[best], total = 0;
  for (int64_t j = 0; j < k; j++) total += c[j].w = exp(((double)c[j].score - max) / temperature);
  double target = u * total, cum = 0;
  for (int64_t j = 0; j < k; j++) {
    cum += c[j].w;
    if (cum > target) {
      *tok = c[j].id;
      return ASTRT_OK;
    }
  }
  *tok = c[k - 1].id;  /* rounding: u * total reached the sum */
  return ASTRT_OK;
}

astrt_status astrt_generate(const astrt_program *p, void *vars, int64_t step, const int32_t *prompt, int64_t n,
                            int64_t count, double temperature, int64_t top_k, uint64_t seed, int32_t *out,
                            astrt_emit_fn emit, void *ctx) {
  astrt_status st = astrt_generate_check(p, "generation");
  if (st) return st;
  const astrt_data_desc *d = &p->data;
  int64_t T = d->context, V = d->vocab;
  if (n < 1 || !prompt)
    return astrt_fail(ASTRT_ERR_ARG, "generation needs a prompt of at least one token (got %lld)", (long long)n);
  if (count < 0) return astrt_fail(ASTRT_ERR_ARG, "cannot generate %lld tokens", (long long)count);
  if (!(temperature >= 0) || !isfinite(temperature))
    return astrt_fail(ASTRT_ERR_ARG, "the temperature %g is not a finite number >= 0 (0: the most likely token)",
                      temperature);
  if (top_k < 0) return astrt_fail(ASTRT_ERR_ARG, "top-k %lld is negative (0: all tokens)", (long long)top_k);
  for (int64_t i = 0; i < n; i++)
    if (prompt[i] < 0 || prompt[i] >= V)
      return astrt_fail(ASTRT_ERR_ARG, "prompt token %lld is %d, outside the vocabulary [0, %lld)", (long long)i,
                        (int)prompt[i], (long long)V);
  void *work = astrt_arena_alloc(p->predict_work_bytes > 0 ? p->predict_work_bytes : 1);
  int32_t *x = astrt_arena_alloc(T * 4), *y = astrt_arena_alloc(T * 4), *window = malloc((size_t)T * 4);
  float *scores = astrt_arena_alloc(p->output_size * 4);
  cand *c = malloc((size_t)V * sizeof *c);
  if (!work || !x || !y || !window || !scores || !c) {
    st = astrt_fail(ASTRT_ERR_NOMEM, "out of memory for generation (a window of %lld tokens, %lld scores)",
                    (long long)T, (long long)p->output_size);
    goto done;
  }
  int64_t len = n < T ? n : T;
  memcpy(window, prompt + (n - len), (size_t)len * 4);
  uint64_t key = astrt_subkey(seed, ASTRT_TAG_SAMPLE);
  for (int64_t g = 0; g < count && !st; g++) {
    memcpy(x, window, (size_t)len * 4);
    memset(x + len, 0, (size_t)(T - len) * 4);
    float sc[ASTRT_NUM_SCALARS] = {0.0f, (float)step, 1.0f, 1.0f, 1.0f, 0.0f, 1.0f};
    p->predict(vars, work, x, y, 1, sc, scores, seed);
    int32_t tok = 0;
    st = pick(scores + (len - 1) * V, V, temperature, top_k, astrt_uniform53(key, (uint64_t)g), c, g, &tok);
    if (st) break;
    if (out) out[g] = tok;
    if (emit) st = emit(ctx, tok);
    if (len < T) {
      window[len++] = tok;
    } else {
      memmove(window, window + 1, (size_t)(T - 1) * 4);
      window[T - 1] = tok;
    }
  }
done:
  free(work);
  free(x);
  free(y);
  free(window);
  free(scores);
  free(c);
  return st;
}
