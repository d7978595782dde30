/* SPDX-License-Identifier: MIT */
/*
 * In-process copies of the caller's memory with a fault fixup (ucopy.c):
 * the memory source the in-process transport uses, and the hook the MMIO
 * trap's fault handler calls first.
 */
#ifndef UFD_SHIM_UCOPY_H
#define UFD_SHIM_UCOPY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "uiommufd.h"

/*
 * In the SIGSEGV/SIGBUS handler, with the signal's ucontext: was the
 * fault the copy's?  Then its context now resumes at the fixup (the copy
 * returns -EFAULT) and the handler must return at once.  Async-signal-safe.
 */
bool shim_ucopy_fixup(void *ucontext);

/*
 * This process's memory as a source whose read and write are plain
 * copies once the fault handler is installed (mmio_trap_install()), and
 * the local source's system calls before.  A reference, or NULL.
 */
struct ufd_source *shim_ucopy_source(void);

/* Are the guarded copies below fast (the fault handler installed)? */
bool shim_ucopy_ready(void);

/*
 * Copy up to @len bytes from the caller's @uaddr to @dst, stopping at the
 * first fault: the bytes copied (0 when the copies are not ready).
 */
size_t shim_ucopy_some(void *dst, uint64_t uaddr, size_t len);

/* Copy @len bytes to the caller's @uaddr: 0 or -EFAULT. */
int shim_ucopy_to(uint64_t uaddr, const void *src, size_t len);

/*
 * May the caller store to every page of [uaddr, uaddr + len)?  Probed by
 * a store that changes nothing; false also when the copies are not ready.
 */
bool shim_uprobe_writable(uint64_t uaddr, size_t len);

#endif
