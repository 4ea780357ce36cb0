/* test_abi.c — the compiler-runtime ABI (runtime/include/astrt/astrt_abi.h).
 *
 *   - every descriptor struct: LLVM's layout of the type astc emits (each
 *     field's offset and size, the whole struct's size and alignment, in the
 *     host target's data layout, which the JIT and `astc build` use) equals
 *     C's (offsetof and sizeof by field name), for the types cg_abi_types
 *     builds and for those in a module emitted for a program;
 *   - every shared enum: astc's enumerator equals the runtime's, both number
 *     the rows from 0, and astc's printed names are the rows';
 *   - the dtype codes mean to the runtime (astrt_check_finite) what the rows
 *     say;
 *   - every runtime function the generated code calls: the name and address
 *     astc gives the JIT are the function's own.
 */
#include <check.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <llvm-c/Target.h>

#include "astrt_kernels.h"
#include "astrt_program.h"
#include "cg_internal.h"
#include "test_util.h"

/* ---- C's layout of the descriptor structs ------------------------------------------- */

typedef struct FieldInfo {
  const char *name;
  size_t offset, size;
} FieldInfo;

typedef struct StructInfo {
  const char *name;
  size_t size, align;
  const FieldInfo *fields;
  unsigned n;
} StructInfo;

/* a field of struct T, in its row's place: offsetof by name, so a C struct
 * that declares a field elsewhere than its row shows as another offset */
#define FIELD_INFO(ctype, field, llvm) {#field, offsetof(T, field), sizeof(((T *)0)->field)},
#define STRUCT_INFO(type, fields)                                                      \
  {                                                                                    \
    typedef type T;                                                                    \
    static const FieldInfo f[] = {fields(FIELD_INFO)};                                 \
    info[n++] = (StructInfo){#type, sizeof(T), _Alignof(T), f, ARRAY_LEN(f)};          \
  }

#define COUNT_STRUCT(type, fields) +1
enum { NSTRUCTS = 0 ASTRT_ABI_STRUCTS(COUNT_STRUCT) };

static void c_layouts(StructInfo info[NSTRUCTS]) {
  int n = 0;
  ASTRT_ABI_STRUCTS(STRUCT_INFO)
  ck_assert_int_eq(n, NSTRUCTS);
}

/* ---- LLVM's ------------------------------------------------------------------------ */

static LLVMTargetDataRef host_layout(void) {
  LLVMTargetMachineRef tm = cg_target_machine(NULL);
  LLVMTargetDataRef td = LLVMCreateTargetDataLayout(tm);
  LLVMDisposeTargetMachine(tm);
  return td;
}

static void check_layout(LLVMTargetDataRef td, LLVMTypeRef t, const StructInfo *c, const char *where) {
  ck_assert_msg(t, "%s: no LLVM type %s", where, c->name);
  ck_assert_msg(LLVMGetTypeKind(t) == LLVMStructTypeKind && LLVMGetStructName(t) &&
                    !strcmp(LLVMGetStructName(t), c->name),
                "%s: the type of %s is not the named struct %s", where, c->name, c->name);
  unsigned n = LLVMCountStructElementTypes(t);
  ck_assert_msg(n == c->n, "%s: %s has %u fields in LLVM, %u in C", where, c->name, n, c->n);
  for (unsigned i = 0; i < n; i++) {
    const FieldInfo *f = &c->fields[i];
    unsigned long long off = LLVMOffsetOfElement(td, t, i);
    unsigned long long size = LLVMABISizeOfType(td, LLVMStructGetTypeAtIndex(t, i));
    ck_assert_msg(off == f->offset && size == f->size,
                  "%s: %s.%s (field %u): LLVM offset %llu, size %llu; C offset %zu, size %zu", where, c->name,
                  f->name, i, off, size, f->offset, f->size);
  }
  unsigned long long size = LLVMABISizeOfType(td, t);
  unsigned align = LLVMABIAlignmentOfType(td, t);
  ck_assert_msg(size == c->size && align == c->align, "%s: %s: LLVM size %llu, alignment %u; C size %zu, alignment %zu",
                where, c->name, size, align, c->size, c->align);
}

/* The types the code generator builds from the table. */
START_TEST(struct_layouts) {
  StructInfo c[NSTRUCTS];
  c_layouts(c);
  LLVMTargetDataRef td = host_layout();
  LLVMContextRef ctx = LLVMContextCreate();
  CgAbiTypes t;
  cg_abi_types(ctx, &t);
  int k = 0;
#define CHECK_TYPE(type, fields) check_layout(td, t.type, &c[k++], "cg_abi_types");
  ASTRT_ABI_STRUCTS(CHECK_TYPE)
#undef CHECK_TYPE
  LLVMContextDispose(ctx);
  LLVMDisposeTargetData(td);
}
END_TEST

#define PROGRAM                                                                                  \
  "import nn\n"                                                                                  \
  "data d = synthetic(shape: [6], classes: 3, train: 64)\n"                                      \
  "model m(x: f32[B, 6]) -> f32[B, 3] {\n"                                                       \
  "  return nn.dense(relu(nn.dense(x, 10)), 3)\n}\n"                                             \
  "train m on d {\n  loss = cross_entropy()\n  optimizer = sgd(lr: 0.1, momentum: 0.9)\n"        \
  "  batch = 8\n  epochs = 1\n}\n"

/* The types of a module emitted for a program, found by name: what the
 * descriptor the runtime reads really is. */
START_TEST(emitted_layouts) {
  StructInfo c[NSTRUCTS];
  c_layouts(c);
  Compilation comp;
  ck_assert_msg(tu_compile(PROGRAM, "abi", &comp), "the program does not compile");
  LLVMTargetDataRef td = host_layout();
  LLVMContextRef ctx = LLVMContextCreate();
  LLVMModuleRef mod = cg_build_module(comp.prog, ctx, NULL);
  ck_assert(mod);
  for (int i = 0; i < NSTRUCTS; i++) check_layout(td, LLVMGetTypeByName2(ctx, c[i].name), &c[i], "emitted module");
  LLVMValueRef prog = LLVMGetNamedGlobal(mod, "astc_program");
  ck_assert(prog);
  ck_assert_ptr_eq(LLVMGlobalGetValueType(prog), LLVMGetTypeByName2(ctx, "astrt_program"));
  LLVMDisposeModule(mod);
  LLVMContextDispose(ctx);
  LLVMDisposeTargetData(td);
  compilation_free(&comp);
  src_reset();
}
END_TEST

/* ---- enums -------------------------------------------------------------------------- */

/* a row: astc's enumerator and the runtime's are both the row's position */
#define CHECK_ROW(rt, ir, name)                                                              \
  ck_assert_msg((int)(rt) == i && (int)(ir) == i, "row %d: %s = %d, %s = %d", i, #rt, (int)(rt), #ir, \
                (int)(ir));                                                                  \
  i++;
#define CHECK_ENUM(list, count)                                                              \
  do {                                                                                       \
    int i = 0;                                                                               \
    list(CHECK_ROW) ck_assert_int_eq(i, count);                                              \
  } while (0)

#define COUNT_ROW(rt, ir, name) +1

START_TEST(enums_agree) {
  CHECK_ENUM(ASTRT_SCALARS, ASTRT_NUM_SCALARS);
  CHECK_ENUM(ASTRT_OUTPUTS, ASTRT_NUM_OUTPUTS);
  CHECK_ENUM(ASTRT_VAR_KINDS, 0 ASTRT_VAR_KINDS(COUNT_ROW));
  CHECK_ENUM(ASTRT_INIT_KINDS, 0 ASTRT_INIT_KINDS(COUNT_ROW));
  CHECK_ENUM(ASTRT_NODE_ROLES, 0 ASTRT_NODE_ROLES(COUNT_ROW));
  CHECK_ENUM(ASTRT_DTYPES, 0 ASTRT_DTYPES(COUNT_ROW));
  CHECK_ENUM(ASTRT_DATA_KINDS, 0 ASTRT_DATA_KINDS(COUNT_ROW));
  CHECK_ENUM(ASTRT_GEMM_BACKENDS, ASTRT_NUM_GEMM_BACKENDS);
  CHECK_ENUM(ASTRT_CSV_HEADERS, 0 ASTRT_CSV_HEADERS(COUNT_ROW));
  CHECK_ENUM(ASTRT_SPLITS, 0 ASTRT_SPLITS(COUNT_ROW));
  CHECK_ENUM(ASTRT_NORMS, 0 ASTRT_NORMS(COUNT_ROW));
  ck_assert_int_eq(SC_NUM, ASTRT_NUM_SCALARS);
  /* OUTPUT nodes write every slot but the last, diagnosis's */
  ck_assert_int_eq(OUT_NUM, ASTRT_OUT_NONFINITE);
  ck_assert_int_eq(ASTRT_OUT_NONFINITE, ASTRT_NUM_OUTPUTS - 1);
}
END_TEST

START_TEST(names_are_the_rows) {
#define SCALAR_NAME(rt, ir, name) ck_assert_str_eq(ir_scalar_name(ir), name);
#define OUTPUT_NAME(rt, ir, name) ck_assert_str_eq(ir_output_name(ir), ir < OUT_NUM ? name : "?");
#define ROLE_NAME(rt, ir, name) ck_assert_str_eq(ir_role_name(ir), name);
#define INIT_NAME(rt, ir, name) ck_assert_str_eq(init_kind_name(ir), name);
#define DTYPE_NAME(rt, ir, name) ck_assert_str_eq(dtype_name(ir), name);
  ASTRT_SCALARS(SCALAR_NAME)
  ASTRT_OUTPUTS(OUTPUT_NAME)
  ASTRT_NODE_ROLES(ROLE_NAME)
  ASTRT_INIT_KINDS(INIT_NAME)
  ASTRT_DTYPES(DTYPE_NAME)
  /* the names astc printed before they came from the table */
  ck_assert_str_eq(ir_scalar_name(SC_LOSS_SCALE), "loss_scale");
  ck_assert_str_eq(ir_output_name(OUT_OVERFLOW), "overflow");
  ck_assert_str_eq(init_kind_name(INIT_GLOROT_NORMAL), "glorot_normal");
  ck_assert_str_eq(dtype_name(DT_BF16), "bf16");
}
END_TEST

/* runtime/nonfinite.c reads astrt_check_finite's dtype as the rows number
 * them: a bit pattern that is infinite as f16 and finite as bf16 tells the
 * two apart. */
START_TEST(dtype_codes_in_the_runtime) {
  const uint16_t half_inf[2] = {0x3c00, 0x7c00};  /* f16: 1, inf; bf16: 2^-7, 2^121 */
  const uint16_t bf16_inf[2] = {0x3f80, 0x7f80};  /* bf16: 1, inf */
  const float f32_inf[2] = {1.0f, INFINITY};
  const int32_t ints[2] = {1, -1};                /* -1 is all ones: a NaN's bits as a float */
  struct {
    const void *x;
    int32_t dtype;
    int flagged;
  } cases[] = {
      {half_inf, ASTRT_DTYPE_F16, 1}, {half_inf, ASTRT_DTYPE_BF16, 0}, {bf16_inf, ASTRT_DTYPE_BF16, 1},
      {f32_inf, ASTRT_DTYPE_F32, 1},  {ints, ASTRT_DTYPE_I32, 0},
  };
  for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
    float slot = -1;
    astrt_check_finite(&slot, 5, cases[i].x, 2, cases[i].dtype);
    ck_assert_msg((slot == 5) == cases[i].flagged, "case %zu (dtype %d): slot %g", i, cases[i].dtype, slot);
  }
}
END_TEST

/* ---- the runtime functions the generated code calls ---------------------------------- */

START_TEST(runtime_functions) {
  int n = 0;
#define CHECK_FN(id, fn, sig)                                 \
  ck_assert_int_eq(id, n);                                    \
  ck_assert_str_eq(cg_rt_name(id), #fn);                      \
  ck_assert_ptr_eq(cg_rt_address(id), (void *)fn);            \
  ck_assert_str_eq(cg_rt_signature(id), sig);                 \
  n++;
  CG_RUNTIME_FNS(CHECK_FN)
#undef CHECK_FN
  ck_assert_int_eq(n, RT_NUM);
  for (int f = 0; f < RT_NUM; f++) {
    const char *s = cg_rt_signature((CgRuntimeFn)f);
    ck_assert_msg(strlen(s) >= 1 && strchr("vfilp", s[0]) && strspn(s + 1, "filp") == strlen(s + 1),
                  "%s: bad signature \"%s\"", cg_rt_name((CgRuntimeFn)f), s);
    ck_assert_msg(strlen(s) - 1 <= CG_RUNTIME_FN_SIG_MAX, "%s: more than %d parameters",
                  cg_rt_name((CgRuntimeFn)f), CG_RUNTIME_FN_SIG_MAX);
    for (int g = 0; g < f; g++)
      ck_assert_msg(strcmp(cg_rt_name((CgRuntimeFn)f), cg_rt_name((CgRuntimeFn)g)) &&
                        cg_rt_address((CgRuntimeFn)f) != cg_rt_address((CgRuntimeFn)g),
                    "%s twice", cg_rt_name((CgRuntimeFn)f));
  }
}
END_TEST

Suite *abi_suite(void) {
  Suite *s = suite_create("abi");
  TCase *t = tcase_create("abi");
  tcase_set_timeout(t, 60);
  tcase_add_test(t, struct_layouts);
  tcase_add_test(t, emitted_layouts);
  tcase_add_test(t, enums_agree);
  tcase_add_test(t, names_are_the_rows);
  tcase_add_test(t, dtype_codes_in_the_runtime);
  tcase_add_test(t, runtime_functions);
  suite_add_tcase(s, t);
  return s;
}

int main(void) {
  SRunner *r = srunner_create(abi_suite());
  srunner_run_all(r, CK_NORMAL);
  int failed = srunner_ntests_failed(r);
  srunner_free(r);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
