// SPDX-License-Identifier: MIT
/*
 * Copies from and to the calling program's memory in-process, as the
 * kernel's copy_from_user does them: a plain copy instruction whose fault
 * is caught and turned into -EFAULT, instead of a system call
 * (process_vm_readv) per copy.
 *
 * The model.  shim_ucopy() is one `rep movsb` in assembly; its address,
 * with those of shim_ucopy_left() (the same copy, answering how much is
 * left at a fault) and shim_uprobe_w() (a store that changes nothing), is
 * the whole exception table.  The MMIO trap's SIGSEGV/SIGBUS handler
 * (mmio_trap.c) asks shim_ucopy_fixup() first: a fault whose RIP is that
 * instruction resumes at the fixup, which returns -EFAULT; anything else
 * goes on to the trap's own work.  A fault inside a signal section is
 * delivered at once (SIGSEGV and SIGBUS are never deferred, sigdefer.h),
 * and a program's own SIGSEGV handler never sees these faults, as it
 * never sees the kernel's uaccess faults.
 *
 * The fast copy needs the handler installed; until it is (or where the
 * architecture has no assembly here) the source's own copy, a system
 * call, is used.  shim_ucopy_source() makes the in-process memory source:
 * the local source (source_local.c) with this read and write.
 *
 * Ranges are [uaddr, uaddr + len).  No locking: the copy touches only
 * its arguments; the ops table is written once, before the source is
 * published.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>
#include <string.h>
#include <sys/ucontext.h>

#include "shim/mmio_trap.h"
#include "shim/ucopy.h"

#if defined(__x86_64__)
/*
 * long shim_ucopy(void *dst, const void *src, size_t len): 0, or -EFAULT
 * when either side faults (what was copied before the fault stays).
 */
__asm__(".text\n"
	".globl shim_ucopy\n"
	".hidden shim_ucopy\n"
	".type shim_ucopy, @function\n"
	"shim_ucopy:\n"
	"	movq %rdx, %rcx\n"
	".globl shim_ucopy_insn\n"
	".hidden shim_ucopy_insn\n"
	"shim_ucopy_insn:\n"
	"	rep movsb\n"
	"	xorl %eax, %eax\n"
	"	ret\n"
	".globl shim_ucopy_fixup_at\n"
	".hidden shim_ucopy_fixup_at\n"
	"shim_ucopy_fixup_at:\n"
	"	movq $-14, %rax\n" /* -EFAULT */
	"	ret\n"
	".size shim_ucopy, .-shim_ucopy\n");

/*
 * size_t shim_ucopy_left(void *dst, const void *src, size_t len): the
 * bytes NOT copied (0: all), stopping at the first fault: the fixup
 * returns what `rep movsb` had left in %rcx.
 */
__asm__(".text\n"
	".globl shim_ucopy_left\n"
	".hidden shim_ucopy_left\n"
	".type shim_ucopy_left, @function\n"
	"shim_ucopy_left:\n"
	"	movq %rdx, %rcx\n"
	".globl shim_ucopy_left_insn\n"
	".hidden shim_ucopy_left_insn\n"
	"shim_ucopy_left_insn:\n"
	"	rep movsb\n"
	".globl shim_ucopy_left_fixup_at\n"
	".hidden shim_ucopy_left_fixup_at\n"
	"shim_ucopy_left_fixup_at:\n"
	"	movq %rcx, %rax\n"
	"	ret\n"
	".size shim_ucopy_left, .-shim_ucopy_left\n");

/*
 * long shim_uprobe_w(void *p): 0 if a store to the byte at @p is allowed,
 * -EFAULT if not.  The store is an atomic OR of zero: the byte's value,
 * and any concurrent store to it, are unchanged.
 */
__asm__(".text\n"
	".globl shim_uprobe_w\n"
	".hidden shim_uprobe_w\n"
	".type shim_uprobe_w, @function\n"
	"shim_uprobe_w:\n"
	".globl shim_uprobe_w_insn\n"
	".hidden shim_uprobe_w_insn\n"
	"shim_uprobe_w_insn:\n"
	"	lock orb $0, (%rdi)\n"
	"	xorl %eax, %eax\n"
	"	ret\n"
	".globl shim_uprobe_w_fixup_at\n"
	".hidden shim_uprobe_w_fixup_at\n"
	"shim_uprobe_w_fixup_at:\n"
	"	movq $-14, %rax\n"
	"	ret\n"
	".size shim_uprobe_w, .-shim_uprobe_w\n");

long shim_ucopy(void *dst, const void *src, size_t len);
size_t shim_ucopy_left(void *dst, const void *src, size_t len);
long shim_uprobe_w(void *p);
extern const char shim_ucopy_insn[], shim_ucopy_fixup_at[];
extern const char shim_ucopy_left_insn[], shim_ucopy_left_fixup_at[];
extern const char shim_uprobe_w_insn[], shim_uprobe_w_fixup_at[];
_Static_assert(EFAULT == 14, "the fixup returns -14");

bool shim_ucopy_fixup(void *ucv)
{
	ucontext_t *uc = ucv;
	uintptr_t rip = (uintptr_t)uc->uc_mcontext.gregs[REG_RIP];
	const char *to;

	/* The exception table: three instructions, three fixups. */
	if (rip == (uintptr_t)shim_ucopy_insn)
		to = shim_ucopy_fixup_at;
	else if (rip == (uintptr_t)shim_ucopy_left_insn)
		to = shim_ucopy_left_fixup_at;
	else if (rip == (uintptr_t)shim_uprobe_w_insn)
		to = shim_uprobe_w_fixup_at;
	else
		return false;
	uc->uc_mcontext.gregs[REG_RIP] = (greg_t)(uintptr_t)to;
	return true;
}

static bool fast(void)
{
	return mmio_trap_installed();
}
#else
bool shim_ucopy_fixup(void *ucv)
{
	(void)ucv;
	return false;
}

static long shim_ucopy(void *dst, const void *src, size_t len)
{
	(void)dst;
	(void)src;
	(void)len;
	return -EFAULT;
}

static size_t shim_ucopy_left(void *dst, const void *src, size_t len)
{
	(void)dst;
	(void)src;
	return len;
}

static long shim_uprobe_w(void *p)
{
	(void)p;
	return -EFAULT;
}

static bool fast(void)
{
	return false;
}
#endif

bool shim_ucopy_ready(void)
{
	return fast();
}

size_t shim_ucopy_some(void *dst, uint64_t uaddr, size_t len)
{
	if (!fast() || !uaddr || uaddr + len < uaddr)
		return 0;
	return len - shim_ucopy_left(dst, (const void *)(uintptr_t)uaddr, len);
}

int shim_ucopy_to(uint64_t uaddr, const void *src, size_t len)
{
	if (!fast() || !uaddr || uaddr + len < uaddr)
		return -EFAULT;
	return (int)shim_ucopy((void *)(uintptr_t)uaddr, src, len);
}

bool shim_uprobe_writable(uint64_t uaddr, size_t len)
{
	uint64_t last, page;

	if (!fast() || !len || !uaddr || uaddr + len - 1 < uaddr)
		return false;
	/* One byte of each page the range touches. */
	last = uaddr + len - 1;
	for (page = uaddr & ~(uint64_t)4095; page <= last; page += 4096) {
		uint64_t at = page < uaddr ? uaddr : page;

		if (shim_uprobe_w((void *)(uintptr_t)at))
			return false;
		if (page > UINT64_MAX - 4096)
			break;
	}
	return true;
}

/* The local source's own ops (system calls), for the slow path. */
static const struct ufd_source_ops *slow_ops;
static struct ufd_source_ops fast_ops;

static int ucopy_read(struct ufd_source *src, void *dst, uint64_t uaddr,
		      size_t len)
{
	if (!fast())
		return slow_ops->read(src, dst, uaddr, len);
	if (!uaddr || uaddr + len < uaddr)
		return -EFAULT;
	return (int)shim_ucopy(dst, (const void *)(uintptr_t)uaddr, len);
}

static int ucopy_write(struct ufd_source *src, uint64_t uaddr,
		       const void *buf, size_t len)
{
	if (!fast())
		return slow_ops->write(src, uaddr, buf, len);
	if (!uaddr || uaddr + len < uaddr)
		return -EFAULT;
	return (int)shim_ucopy((void *)(uintptr_t)uaddr, buf, len);
}

struct ufd_source *shim_ucopy_source(void)
{
	struct ufd_source *src = ufd_source_local();

	if (!src)
		return NULL;
	if (!slow_ops) {
		/* Once: every local source has the same ops. */
		fast_ops = *src->ops;
		fast_ops.read = ucopy_read;
		fast_ops.write = ucopy_write;
		__atomic_store_n(&slow_ops, src->ops, __ATOMIC_RELEASE);
	}
	src->ops = &fast_ops;
	return src;
}
