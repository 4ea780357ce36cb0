/* cg_math.c — exp, tanh and erf as float arithmetic inside generated loops.
 *
 * The vectorizer widens these into the loop's vector body: no call per
 * element (libm), and none per vector either. LLVM's llvm.exp became a call
 * to glibc's libmvec (_ZGVdN8v_expf, through the PLT): in the GPT's step,
 * whose exact GELU and its derivative take three exps per element of the
 * MLP's hidden layer, those calls were 9% of the step's CPU time
 * (docs/performance.md). Every function passes NaN through (non-finite
 * diagnosis depends on it) and is checked against libm over its whole
 * range by tests/unit/test_cg_math.c, through cg_jit_math below. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include <llvm-c/TargetMachine.h>

#include "cg_internal.h"

static LLVMValueRef fsel(Cg *cg, LLVMRealPredicate p, LLVMValueRef x, LLVMValueRef y, LLVMValueRef then,
                         LLVMValueRef other) {
  return LLVMBuildSelect(cg->b, LLVMBuildFCmp(cg->b, p, x, y, ""), then, other, "");
}

/* x clamped to [lo, hi]; NaN stays NaN (llvm.minnum/maxnum would replace it) */
static LLVMValueRef clamp(Cg *cg, LLVMValueRef x, double lo, double hi) {
  LLVMValueRef l = cg_f32(cg, lo), h = cg_f32(cg, hi);
  return fsel(cg, LLVMRealOGT, x, h, h, fsel(cg, LLVMRealOLT, x, l, l, x));
}

static LLVMValueRef fma3(Cg *cg, LLVMValueRef a, LLVMValueRef b, LLVMValueRef c) {
  return cg_intrinsic(cg, "llvm.fma", (LLVMValueRef[]){a, b, c}, 3);
}

/* 2^n for an i32 n in [-126, 127], as a float's bits */
static LLVMValueRef pow2(Cg *cg, LLVMValueRef n) {
  LLVMValueRef e = LLVMBuildAdd(cg->b, n, LLVMConstInt(cg->i32, 127, 0), "");
  return LLVMBuildBitCast(cg->b, LLVMBuildShl(cg->b, e, LLVMConstInt(cg->i32, 23, 0), ""), cg->f32, "");
}

/* e^x = 2^n e^r with n = round(x / ln 2) and r = x - n ln 2 in [-ln2/2,
 * ln2/2] (ln 2 in two parts, the first exact in a few bits, so n ln2_hi is
 * exact: Cody & Waite's reduction). e^r by its Taylor polynomial to r^7: the
 * first term left out, r^8/8!, is below 6e-9 of the result, under half a
 * float ulp; the Horner steps are fused multiply-adds. 2^n as two factors
 * 2^(n/2) 2^(n - n/2), each a normal float for every n from the clamp: the
 * product overflows to inf past ln(FLT_MAX) and rounds into the subnormals
 * below ln(FLT_MIN) as expf does; x is clamped to [-110, 89], past which
 * e^x is 0 or inf in float. Relative error below 1.25 FLT_EPSILON (tested
 * against libm). */
LLVMValueRef cg_exp(Cg *cg, LLVMValueRef x) {
  LLVMBuilderRef b = cg->b;
  LLVMValueRef nan = LLVMBuildFCmp(b, LLVMRealUNO, x, x, "");
  LLVMValueRef c = LLVMBuildSelect(b, nan, cg_f32(cg, 0), clamp(cg, x, -110, 89), "");
  LLVMValueRef n = fma3(cg, c, cg_f32(cg, 1.44269504088896340736), cg_f32(cg, 0.5));
  n = cg_intrinsic(cg, "llvm.floor", &n, 1);
  LLVMValueRef neg = LLVMBuildFNeg(b, n, "");
  LLVMValueRef r = fma3(cg, neg, cg_f32(cg, 0.693359375), c);
  r = fma3(cg, neg, cg_f32(cg, -2.12194440054690582767e-4), r);
  LLVMValueRef p = cg_f32(cg, 1.0 / 5040);
  static const double taylor[7] = {1.0 / 720, 1.0 / 120, 1.0 / 24, 1.0 / 6, 0.5, 1, 1};
  for (int k = 0; k < 7; k++) p = fma3(cg, p, r, cg_f32(cg, taylor[k]));
  LLVMValueRef ni = LLVMBuildFPToSI(b, n, cg->i32, "");
  LLVMValueRef n1 = LLVMBuildAShr(b, ni, LLVMConstInt(cg->i32, 1, 0), "");
  LLVMValueRef n2 = LLVMBuildSub(b, ni, n1, "");
  LLVMValueRef y = LLVMBuildFMul(b, LLVMBuildFMul(b, p, pow2(cg, n1), ""), pow2(cg, n2), "");
  return LLVMBuildSelect(b, nan, x, y, "");
}

/* tanh(x) = sign(x) (1 - 2 / (e^{2|x|} + 1)), with |x| clamped to 10 (tanh
 * is +-1 in float beyond 9.1), and x - x^3/3 below |x| = 0.01, where the
 * subtraction would cancel (relative error there < 1e-8); elsewhere within
 * about a float ulp of 1 (1.5e-7, tested). */
LLVMValueRef cg_tanh(Cg *cg, LLVMValueRef x) {
  LLVMBuilderRef b = cg->b;
  LLVMValueRef ax = cg_intrinsic(cg, "llvm.fabs", &x, 1);
  LLVMValueRef e = cg_exp(cg, LLVMBuildFMul(b, cg_f32(cg, 2), clamp(cg, ax, 0, 10), ""));
  LLVMValueRef big = LLVMBuildFSub(b, cg_f32(cg, 1), LLVMBuildFDiv(b, cg_f32(cg, 2), LLVMBuildFAdd(b, e, cg_f32(cg, 1), ""), ""), "");
  big = cg_intrinsic(cg, "llvm.copysign", (LLVMValueRef[]){big, x}, 2);
  LLVMValueRef x3 = LLVMBuildFMul(b, LLVMBuildFMul(b, x, x, ""), x, "");
  LLVMValueRef small = LLVMBuildFSub(b, x, LLVMBuildFMul(b, x3, cg_f32(cg, 1.0 / 3.0), ""), "");
  return fsel(cg, LLVMRealOLT, ax, cg_f32(cg, 0.01), small, big);
}

/* erf(x) by the Chebyshev fit of erfc in Press et al., Numerical Recipes
 * (2nd ed.), section 6.2, with a fractional error below 1.2e-7: for z = |x|,
 * t = 1 / (1 + z/2), erfc z = t exp(-z^2 + P(t)), and erf x = sign(x) (1 -
 * erfc z). */
LLVMValueRef cg_erf(Cg *cg, LLVMValueRef x) {
  static const double c[10] = {-1.26551223, 1.00002368, 0.37409196, 0.09678418, -0.18628806,
                               0.27886807, -1.13520398, 1.48851587, -0.82215223, 0.17087277};
  LLVMBuilderRef b = cg->b;
  LLVMValueRef z = cg_intrinsic(cg, "llvm.fabs", &x, 1);
  LLVMValueRef t = LLVMBuildFDiv(b, cg_f32(cg, 1), LLVMBuildFAdd(b, cg_f32(cg, 1), LLVMBuildFMul(b, cg_f32(cg, 0.5), z, ""), ""), "");
  LLVMValueRef p = cg_f32(cg, c[9]);
  for (int k = 8; k >= 0; k--) p = fma3(cg, t, p, cg_f32(cg, c[k]));
  LLVMValueRef erfc = LLVMBuildFMul(b, t, cg_exp(cg, LLVMBuildFSub(b, p, LLVMBuildFMul(b, z, z, ""), "")), "");
  LLVMValueRef args[2] = {LLVMBuildFSub(b, cg_f32(cg, 1), erfc, ""), x};
  return cg_intrinsic(cg, "llvm.copysign", args, 2);
}

/* ---- a loop of one of them, compiled alone: for testing ---------------------------------- */

typedef struct MathCtx {
  CgMathFn f;
  LLVMValueRef x, y;
} MathCtx;

static void math_body(Cg *cg, LLVMValueRef *idx, void *vctx) {
  MathCtx *c = vctx;
  LLVMValueRef v = cg_load_f32(cg, LLVMBuildInBoundsGEP2(cg->b, cg->f32, c->x, idx, 1, ""));
  v = c->f == CG_MATH_EXP ? cg_exp(cg, v) : c->f == CG_MATH_TANH ? cg_tanh(cg, v) : cg_erf(cg, v);
  cg_store_f32(cg, v, LLVMBuildInBoundsGEP2(cg->b, cg->f32, c->y, idx, 1, ""));
}

LLVMMemoryBufferRef cg_math_object(CgMathFn f) {
  cg_init_llvm();
  LLVMContextRef ctx = LLVMContextCreate();
  Cg cg = {.opt = cg_options_default()};
  cg_init_module(&cg, ctx, "cg_math");
  LLVMTypeRef params[3] = {cg.ptr, cg.ptr, cg.i64};
  cg.fn = LLVMAddFunction(cg.mod, "astc_math_loop", LLVMFunctionType(cg.voidt, params, 3, 0));
  LLVMPositionBuilderAtEnd(cg.b, LLVMAppendBasicBlockInContext(ctx, cg.fn, "entry"));
  MathCtx c = {f, LLVMGetParam(cg.fn, 0), LLVMGetParam(cg.fn, 1)};
  LLVMValueRef n = LLVMGetParam(cg.fn, 2);
  cg_loop_nest(&cg, 1, &n, math_body, &c);
  LLVMBuildRetVoid(cg.b);
  LLVMDisposeBuilder(cg.b);
  LLVMTargetMachineRef tm = cg_target_machine(NULL);
  LLVMMemoryBufferRef obj = NULL;
  char *err = NULL;
  if (cg_optimize(cg.mod, tm, NULL) && LLVMTargetMachineEmitToMemoryBuffer(tm, cg.mod, LLVMObjectFile, &err, &obj)) {
    fprintf(stderr, "astc: internal error: code generation failed: %s\n", err ? err : "?");
    obj = NULL;
  }
  LLVMDisposeMessage(err);
  LLVMDisposeModule(cg.mod);
  LLVMDisposeTargetMachine(tm);
  LLVMContextDispose(ctx);
  return obj;
}
