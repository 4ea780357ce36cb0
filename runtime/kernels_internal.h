/* kernels_internal.h — internals shared by the kernel sources (kernels_*.c)
 * and their unit tests. Not part of the runtime's public interface.
 *
 * Scratch: every thread owns one growable buffer. A kernel asks for all the
 * scratch it needs with ONE call (a second call may move the buffer and
 * invalidate the first pointer), carves it up itself, and never keeps the
 * pointer past its return. astrt_kernels_release_scratch() (astrt_kernels.h)
 * frees the calling thread's buffer; a thread that exits without releasing
 * it has it freed by a thread-exit destructor.
 */
#ifndef ASTRT_KERNELS_INTERNAL_H
#define ASTRT_KERNELS_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Alignment of the scratch buffer, in bytes (one cache line). */
#define ASTRT_SCRATCH_ALIGN 64

/* Returns the calling thread's scratch buffer, grown to hold at least
 * `nfloats` floats (never NULL, even for 0). The contents are unspecified
 * (they are NOT preserved when the buffer grows). The pointer stays valid
 * until this thread's next astrt_scratch() or
 * astrt_kernels_release_scratch() call. Aborts the program if the memory
 * cannot be allocated: kernels have no error channel. */
float *astrt_scratch(size_t nfloats);

/* Capacity, in floats, of the calling thread's scratch buffer (0 when it
 * has none). For tests. */
size_t astrt_scratch_capacity(void);

/* Prints "astrt: fatal: <message>" to stderr and aborts. For broken
 * preconditions (negative sizes, zero strides) and allocation failure. */
_Noreturn void astrt_kernel_fatal(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

/* ---- GEMM backends (kernels_gemm_*.c) ---------------------------------------
 *
 * astrt_gemm_batched (kernels_gemm_batched.c) cuts a call into pieces (by
 * shape only) and hands each piece's products to its backend: one product
 * C[m, n] (row stride d->ldc) = d->alpha op(A) op(B) + beta C, with d's
 * transposes, k, leading dimensions and operand type, A and B already at the
 * piece's origin. Single-threaded; a piece function may use the calling
 * thread's scratch. */
struct astrt_gemm_batch;
typedef void astrt_gemm_piece_fn(const struct astrt_gemm_batch *d, int64_t m, int64_t n, const void *a,
                                 const void *b, float beta, float *c);
/* The pieces of d (operands of `esize`-byte elements) over the pool, each
 * product by `piece` (kernels_gemm_batched.c). */
void astrt_gemm_run_pieces(const struct astrt_gemm_batch *d, const void *a, const void *b, float *c, size_t esize,
                           astrt_gemm_piece_fn *piece);
/* libxsmm with the operands packed once per call, over the pool, before the
 * pieces (a plain product: nbatch 0; bf16, or f32 with tb); 0 if it does not
 * take d (then astrt_gemm_piece_xsmm packs per piece). */
int astrt_gemm_xsmm_packed(const struct astrt_gemm_batch *d, const void *a, const void *b, float *c);
#ifdef ASTRT_TEST_HOOKS
/* Test hook: libxsmm "returns no kernel" for every shape while on, so the
 * pieces take their fallbacks (OpenBLAS for f32, plain C for bf16 pairs). */
void astrt_gemm_xsmm_test_no_kernels(int on);
#endif
/* f32 operands only (bf16 is widened before the pieces) */
astrt_gemm_piece_fn astrt_gemm_piece_openblas;
/* f32 or bf16; falls back to openblas for a piece libxsmm has no kernel for */
astrt_gemm_piece_fn astrt_gemm_piece_xsmm;
/* Runs d with `backend` (which must be available and support d), ignoring
 * d->backend and any override: astrt_gemm_batched after resolving, and the
 * calibration. */
void astrt_gemm_run_backend(const struct astrt_gemm_batch *d, const void *a, const void *b, float *c, int backend);
/* libxsmm (kernels_gemm_xsmm.c): whether it runs ab_type here (else *why),
 * and whether it takes call d (alpha 1, beta 0 or 1). */
int astrt_gemm_xsmm_available(int ab_type, const char **why);
int astrt_gemm_xsmm_supports(const struct astrt_gemm_batch *d);

/* ---- threads (pool.c) ------------------------------------------------------
 *
 * The runtime's own threads, in pools that belong to whoever creates them
 * (the driver: one per training run; a model: one for its lifetime). A pool
 * of T threads is the thread that runs a job and T - 1 workers; OpenBLAS is
 * then told to use one thread (driver.c). astrt_pool_run calls
 * fn(ctx, part, parts) for every part in [0, parts) at once, part 0 on the
 * caller, and returns when all are done, on the pool bound to the calling
 * thread; parts is 1 on a thread with no pool bound, and inside a part (no
 * nesting). A pool runs one job at a time: bind it to one thread at a time. */
typedef void (*astrt_task_fn)(void *ctx, int part, int parts);
typedef struct astrt_pool astrt_pool;
/* A pool for `threads` threads (at least 1; at most 64 are used, and fewer
 * if the system cannot start them all); NULL when out of memory. */
astrt_pool *astrt_pool_create(int threads);
/* Stops and joins its workers and frees it (NULL is ignored); unbinds it
 * from the calling thread. No job may be running. */
void astrt_pool_destroy(astrt_pool *p);
/* The thread count it was created for (as asked, at least 1); 1 for NULL. */
int astrt_pool_threads(const astrt_pool *p);
/* Makes p (NULL: none) the calling thread's pool; returns the previous one,
 * to be bound again when the work is done. */
astrt_pool *astrt_pool_bind(astrt_pool *p);
/* Tests and benchmarks: binds the calling thread's own pool of `threads`
 * threads (made, or remade at another size, here; destroyed when the thread
 * exits or is configured to 1 thread, which binds none). */
void astrt_pool_configure(int threads);
/* The parts a job of the calling thread is split into. */
/* The casts' 16-lane AVX-512 loops (kernels_cast.c): on (1), off (0: the
 * AVX2 or baseline loops), or as the CPU allows (-1). False, and the CPU's
 * choice kept, when on is asked of a CPU without AVX-512 BW. For tests. */
bool astrt_cast_use_wide(int on);
int astrt_pool_size(void);
void astrt_pool_run(astrt_task_fn fn, void *ctx);

/* ---- convolution paths (kernels_conv.c, kernels_conv_direct.c) ----------
 *
 * The public conv kernels (astrt_kernels.h) pick one of two implementations
 * per call:
 *   - im2col + OpenBLAS GEMM (kernels_conv.c): any shape, best for large
 *     C*KH*KW and O;
 *   - direct register-tiled kernels (kernels_conv_direct.c): stride-1
 *     shapes with small channel counts (LeNet), vectorised with the best
 *     instruction set the CPU offers.
 * The entry points below let tests and benchmarks call either path, and the
 * direct kernels with any supported instruction set, regardless of that
 * choice. */

struct astrt_conv_shape;

/* Instruction sets of the direct kernels. */
typedef enum astrt_conv_isa {
  ASTRT_CONV_ISA_NONE = 0,  /* direct kernels off: im2col + GEMM only   */
  ASTRT_CONV_ISA_GENERIC,   /* SSE2 (x86-64 baseline), 4 lanes          */
  ASTRT_CONV_ISA_AVX2,      /* AVX2 + FMA, 8 lanes                      */
  ASTRT_CONV_ISA_AVX512,    /* AVX-512 F/BW/DQ/VL + FMA, 16 lanes       */
} astrt_conv_isa;

/* Whether this build and CPU can run the direct kernels with `isa`
 * (NONE: always 1; GENERIC: on x86-64; AVX2 / AVX512: when the CPU and OS
 * support them). */
int astrt_conv_isa_supported(astrt_conv_isa isa);

/* "none", "generic", "avx2", "avx512". */
const char *astrt_conv_isa_name(astrt_conv_isa isa);

/* The instruction set the public kernels use, resolved on the first call and
 * cached: the best one the CPU supports, or the one named by the
 * environment variable ASTRT_CONV_ISA (none|im2col|generic|avx2|avx512; a
 * test and benchmark hook). A name the CPU cannot run falls back to the best
 * supported set below it. */
astrt_conv_isa astrt_conv_isa_active(void);

/* Gathering U8 features (batch.c): rows row[0..rows) of src (size bytes
 * each) into x[rows, size] as ((raw * scale + shift) - mean) / std, with
 * one rounding per operation whatever the instruction set, so every isa
 * gives the same bits (the batch gather uses astrt_conv_isa_active();
 * tests force each). */
typedef struct astrt_gather_u8_args {
  const uint8_t *src;
  const int64_t *row;
  int64_t size;
  float scale, shift, mean, std;
} astrt_gather_u8_args;
void astrt_gather_u8_rows(astrt_conv_isa isa, const astrt_gather_u8_args *a, int64_t rows, float *x);

/* Whether the public kernels send shape `s` to the direct kernels (given an
 * active instruction set other than NONE): stride 1, not a plain 1x1 (that
 * is one GEMM), non-empty, and small enough in O * C*KH*KW that the direct
 * kernels of the active instruction set beat im2col + GEMM (bounds in
 * kernels_conv_direct.c). */
int astrt_conv_direct_suits(const struct astrt_conv_shape *s);

/* The direct kernels with an explicit instruction set (not NONE; must be
 * supported). Stride 1 only; N, C, O, OH, OW >= 1. Same semantics as the
 * public kernels (outputs are overwritten). */
void astrt_conv2d_direct_f32(astrt_conv_isa isa,
                             const struct astrt_conv_shape *s,
                             const float *x,  /* [N, C, H, W]     */
                             const float *w,  /* [O, C, KH, KW]   */
                             float *y);       /* [N, O, OH, OW]   */
void astrt_conv2d_grad_input_direct_f32(astrt_conv_isa isa,
                                        const struct astrt_conv_shape *s,
                                        const float *dy,  /* [N, O, OH, OW] */
                                        const float *w,   /* [O, C, KH, KW] */
                                        float *dx);       /* [N, C, H, W]   */
void astrt_conv2d_grad_weight_direct_f32(astrt_conv_isa isa,
                                         const struct astrt_conv_shape *s,
                                         const float *x,   /* [N, C, H, W]   */
                                         const float *dy,  /* [N, O, OH, OW] */
                                         float *dw);       /* [O, C, KH, KW] */

/* The im2col + GEMM path, for any valid shape (what the public kernels ran
 * before the direct kernels existed). */
void astrt_conv2d_im2col_f32(const struct astrt_conv_shape *s,
                             const float *x,  /* [N, C, H, W]   */
                             const float *w,  /* [O, C, KH, KW] */
                             float *y);       /* [N, O, OH, OW] */
void astrt_conv2d_grad_input_im2col_f32(const struct astrt_conv_shape *s,
                                        const float *dy,  /* [N, O, OH, OW] */
                                        const float *w,   /* [O, C, KH, KW] */
                                        float *dx);       /* [N, C, H, W]   */
void astrt_conv2d_grad_weight_im2col_f32(const struct astrt_conv_shape *s,
                                         const float *x,   /* [N, C, H, W]   */
                                         const float *dy,  /* [N, O, OH, OW] */
                                         float *dw);       /* [O, C, KH, KW] */

/* astrt_softmax_xent (ops.c) as a row kernel of kernels_seq.c: vectorized and
 * split by rows over the runtime's pool (bit-identical for any thread count) */
void astrt_seq_softmax_xent(const float *logits, const int32_t *labels, int64_t rows, int64_t k, float smoothing,
                            float *loss, float *grad, const float *dy, float dy_all);

#endif
