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

#include <stddef.h>

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

#endif
