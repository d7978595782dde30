/* SPDX-License-Identifier: MIT */
/*
 * In-process copies of the caller's memory with a fault fixup (ucopy.c):
 * the memory source the in-process transport uses, and the hook the MMIO
 * trap's fault handler calls first.
 */
#ifndef UFD_SHIM_UCOPY_H
#define UFD_SHIM_UCOPY_H

#include <stdbool.h>

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

#endif
