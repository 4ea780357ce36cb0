/* vars_init.c — the variable arena: allocation (var_bytes, 64-byte aligned,
 * zeroed), checking the descriptor's variable table, and initialising every
 * variable by its init kind.
 *
 * Random initialisers are counter-based: element k of variable i is a pure
 * function of (seed, i, k). With key = astrt_subkey(astrt_subkey(seed,
 * ASTRT_TAG_INIT), i):
 *   u(k) = (astrt_hash64(key, k) >> 11) * 2^-53                 in [0, 1)
 *   z(k) = sqrt(-2 ln u1) cos(2 pi u2), u1 = 1 - u(2k) in (0, 1], u2 = u(2k+1)
 *   uniform        a + (b - a) u(k)
 *   normal         a + b z(k)
 *   he_uniform     (2 u(k) - 1) sqrt(6 / fan_in)
 *   he_normal      z(k) sqrt(2 / fan_in)
 *   glorot_uniform (2 u(k) - 1) sqrt(6 / (fan_in + fan_out))
 *   glorot_normal  z(k) sqrt(2 / (fan_in + fan_out))
 * computed in double and rounded to float once.
 */
#include "driver_internal.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---- memory ------------------------------------------------------------- */

void *astrt_arena_alloc(int64_t bytes) {
  if (bytes < 0 || (uint64_t)bytes > SIZE_MAX - ASTRT_ARENA_ALIGN) return NULL;
  size_t size = ((size_t)bytes + ASTRT_ARENA_ALIGN - 1) / ASTRT_ARENA_ALIGN * ASTRT_ARENA_ALIGN;
  if (size == 0) size = ASTRT_ARENA_ALIGN;
  void *p = aligned_alloc(ASTRT_ARENA_ALIGN, size);
  if (p) memset(p, 0, size);
  return p;
}

/* ---- random numbers ----------------------------------------------------- */

double astrt_uniform53(uint64_t key, uint64_t k) {
  return (double)(astrt_hash64(key, k) >> 11) * 0x1p-53;
}

double astrt_normal(uint64_t key, uint64_t k) {
  double u1 = 1.0 - astrt_uniform53(key, 2 * k);
  double u2 = astrt_uniform53(key, 2 * k + 1);
  return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

/* ---- checks ------------------------------------------------------------- */

static const char *var_name(const astrt_var_desc *v) {
  return v->name && *v->name ? v->name : "(unnamed)";
}

static astrt_status check_shape(const astrt_var_desc *v) {
  if (v->rank < 0 || v->rank > ASTRT_DESC_MAX_RANK)
    return astrt_fail(ASTRT_ERR_FORMAT,
                      "variable %s has rank %d (supported: 0 to %d); the program "
                      "descriptor is corrupt, recompile the program with astc",
                      var_name(v), v->rank, ASTRT_DESC_MAX_RANK);
  int64_t n = 1;
  for (int d = 0; d < v->rank; d++)
    if (v->dims[d] < 0 || __builtin_mul_overflow(n, v->dims[d], &n)) n = -1;
  if (n != v->numel)
    return astrt_fail(ASTRT_ERR_FORMAT,
                      "variable %s holds %lld elements but its shape gives %lld; the "
                      "program descriptor is corrupt, recompile the program with astc",
                      var_name(v), (long long)v->numel, (long long)n);
  return ASTRT_OK;
}

static astrt_status check_place(const astrt_var_desc *v, int64_t var_bytes) {
  int64_t bytes = 0;
  if (v->offset < 0 || v->offset % 4 != 0 || __builtin_mul_overflow(v->numel, 4, &bytes) ||
      bytes > var_bytes || v->offset > var_bytes - bytes)
    return astrt_fail(ASTRT_ERR_FORMAT,
                      "variable %s (%lld floats at byte %lld) does not lie inside the "
                      "%lld-byte variable arena; the program descriptor is corrupt, "
                      "recompile the program with astc",
                      var_name(v), (long long)v->numel, (long long)v->offset,
                      (long long)var_bytes);
  return ASTRT_OK;
}

static int needs_fan_in(int init) {
  return init == ASTRT_INIT_HE_UNIFORM || init == ASTRT_INIT_HE_NORMAL ||
         init == ASTRT_INIT_GLOROT_UNIFORM || init == ASTRT_INIT_GLOROT_NORMAL;
}

static astrt_status check_init(const astrt_var_desc *v) {
  if (v->init < ASTRT_INIT_ZEROS || v->init > ASTRT_INIT_GLOROT_NORMAL)
    return astrt_fail(ASTRT_ERR_FORMAT,
                      "variable %s has unknown init kind %d; the program was built by "
                      "a different astc, recompile it",
                      var_name(v), v->init);
  if (needs_fan_in(v->init) &&
      (v->fan_in <= 0 || v->fan_out < 0 ||
       (v->init >= ASTRT_INIT_GLOROT_UNIFORM && v->fan_in + v->fan_out <= 0)))
    return astrt_fail(ASTRT_ERR_FORMAT,
                      "variable %s: fan-in %lld / fan-out %lld are not valid for its "
                      "he/glorot initialiser; recompile the program with astc",
                      var_name(v), (long long)v->fan_in, (long long)v->fan_out);
  if (!isfinite(v->init_a) || !isfinite(v->init_b))
    return astrt_fail(ASTRT_ERR_FORMAT,
                      "variable %s: initialiser arguments %g, %g are not finite",
                      var_name(v), v->init_a, v->init_b);
  return ASTRT_OK;
}

astrt_status astrt_vars_check(const astrt_program *p) {
  if (p->var_bytes < 0)
    return astrt_fail(ASTRT_ERR_FORMAT, "the variable arena size %lld is negative; "
                      "recompile the program with astc", (long long)p->var_bytes);
  if (p->nvars > 0 && !p->vars)
    return astrt_fail(ASTRT_ERR_FORMAT, "the program lists %u variables but no table; "
                      "recompile the program with astc", p->nvars);
  for (uint32_t i = 0; i < p->nvars; i++) {
    astrt_status st = check_shape(&p->vars[i]);
    if (!st) st = check_place(&p->vars[i], p->var_bytes);
    if (!st) st = check_init(&p->vars[i]);
    if (st) return st;
  }
  return ASTRT_OK;
}

/* ---- initialisation ----------------------------------------------------- */

/* Element k of a variable with stream `key`, before rounding to float. */
static double init_value(const astrt_var_desc *v, uint64_t key, uint64_t k) {
  double a = v->init_a, b = v->init_b;
  double fan_sum = (double)v->fan_in + (double)v->fan_out;
  switch (v->init) {
  case ASTRT_INIT_ONES: return 1.0;
  case ASTRT_INIT_CONST: return a;
  case ASTRT_INIT_UNIFORM: return a + (b - a) * astrt_uniform53(key, k);
  case ASTRT_INIT_NORMAL: return a + b * astrt_normal(key, k);
  case ASTRT_INIT_HE_UNIFORM:
    return (2.0 * astrt_uniform53(key, k) - 1.0) * sqrt(6.0 / (double)v->fan_in);
  case ASTRT_INIT_HE_NORMAL: return astrt_normal(key, k) * sqrt(2.0 / (double)v->fan_in);
  case ASTRT_INIT_GLOROT_UNIFORM:
    return (2.0 * astrt_uniform53(key, k) - 1.0) * sqrt(6.0 / fan_sum);
  case ASTRT_INIT_GLOROT_NORMAL: return astrt_normal(key, k) * sqrt(2.0 / fan_sum);
  default: return 0.0;
  }
}

static void init_var(const astrt_var_desc *v, uint64_t key, void *arena) {
  float *data = (float *)((char *)arena + v->offset);
  if (v->init == ASTRT_INIT_ZEROS) {
    memset(data, 0, (size_t)v->numel * sizeof *data);
    return;
  }
  for (int64_t k = 0; k < v->numel; k++) data[k] = (float)init_value(v, key, (uint64_t)k);
}

astrt_status astrt_vars_create(const astrt_program *p, uint64_t seed, void **out) {
  *out = NULL;
  astrt_status st = astrt_vars_check(p);
  if (st) return st;
  void *arena = astrt_arena_alloc(p->var_bytes);
  if (!arena)
    return astrt_fail(ASTRT_ERR_NOMEM, "out of memory allocating the %lld-byte variable "
                      "arena of %s", (long long)p->var_bytes, p->name ? p->name : "the model");
  uint64_t base = astrt_subkey(seed, ASTRT_TAG_INIT);
  for (uint32_t i = 0; i < p->nvars; i++) init_var(&p->vars[i], astrt_subkey(base, i), arena);
  *out = arena;
  return ASTRT_OK;
}

int64_t astrt_param_count(const astrt_program *p) {
  int64_t n = 0;
  for (uint32_t i = 0; p->vars && i < p->nvars; i++)
    if (p->vars[i].kind == ASTRT_VAR_PARAM) n += p->vars[i].numel;
  return n;
}
