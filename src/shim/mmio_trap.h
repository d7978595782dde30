/* SPDX-License-Identifier: MIT */
/*
 * The MMIO trap (mmio_trap.c): emulated device memory (a PCI BAR the
 * program mmaps) as a range of the address space that faults on every
 * access, each access being carried out by a callback instead.
 *
 * A region is [base, base + len) of address space that the caller has
 * reserved PROT_NONE (and keeps so while registered).  A load or store to
 * it raises SIGSEGV; the trap's handler decodes the instruction
 * (x86_decode.h lists what it emulates), calls the region's ops with the
 * offset into the region, writes the destination register or flags in the
 * interrupted context, and resumes after the instruction.  See
 * docs/mmio-trap.md for the whole story and the limits.
 *
 * The trap owns SIGSEGV and SIGBUS in the kernel while installed; the
 * program's own handlers for them are kept by mmio_trap_sigaction() (which
 * the shim's sigaction()/signal() wrappers call) and run for every fault
 * that is not an emulated access, as the kernel would run them.
 *
 * Thread safety: every function may be called from any thread;
 * mmio_trap_sigaction() and mmio_trap_signal() also from a signal handler.
 * Register and unregister serialise on a mutex that the fault handler never
 * takes.  Callbacks run in the faulting thread, inside a signal handler:
 * they must be async-signal-safe in the sense that they must not take a
 * lock the interrupted code may hold (or allocate), must return (no
 * longjmp), and must not unregister their own region.  They may access
 * other trapped regions.
 */
#ifndef UFD_SHIM_MMIO_TRAP_H
#define UFD_SHIM_MMIO_TRAP_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Regions at once. */
#define MMIO_TRAP_MAX_REGIONS 64
/* A region's name, as reported in messages, is cut to this many bytes. */
#define MMIO_TRAP_NAME_MAX 31

/*
 * A region's accesses.  @offset is from the region's base, @size is 1, 2,
 * 4 or 8 and the value is little-endian in the low @size bytes (a read's
 * upper bytes are ignored).  An access of 16 or 32 bytes (SSE/AVX moves)
 * goes to read_wide/write_wide when set, with @data in memory order;
 * without them it is split into 8-byte accesses at ascending offsets.
 */
struct mmio_trap_ops {
	uint64_t (*read)(void *opaque, uint64_t offset, unsigned int size);
	void (*write)(void *opaque, uint64_t offset, unsigned int size,
		      uint64_t value);
	void (*read_wide)(void *opaque, uint64_t offset, unsigned int size,
			  void *data);
	void (*write_wide)(void *opaque, uint64_t offset, unsigned int size,
			   const void *data);
};

typedef int (*mmio_trap_sigaction_fn)(int sig, const struct sigaction *act,
				      struct sigaction *old);

/*
 * Puts the trap's handler in place for SIGSEGV and SIGBUS; what was there
 * becomes the program's disposition.  @real is the sigaction() that
 * reaches the kernel (the shim passes libc's, looked up past its own
 * wrapper); NULL means sigaction() itself, right when no wrapper of it is
 * linked in.  Returns 0 or -errno; -EALREADY when already installed.
 */
int mmio_trap_install(mmio_trap_sigaction_fn real);

/*
 * Gives the kernel the program's dispositions back.  -EBUSY while regions
 * are registered, -EINVAL when not installed.
 */
int mmio_trap_uninstall(void);

bool mmio_trap_installed(void);

/*
 * Traps [base, base + len) (reserved PROT_NONE by the caller) through
 * @ops (copied) with @opaque; @name (copied, may be NULL) is for messages.
 * Returns the region's id (>= 0) or -errno: -EINVAL (not installed, len 0,
 * wraps, no read or write op), -EEXIST (overlaps a region), -ENOSPC.
 */
int mmio_trap_register(void *base, size_t len, const struct mmio_trap_ops *ops,
		       void *opaque, const char *name);

/*
 * Stops trapping region @id: returns once no fault handler uses it any
 * more (so its ops and opaque may be freed then).  A later access to the
 * range faults as if it had never been registered.  0, or -ENOENT.
 */
int mmio_trap_unregister(int id);

/*
 * sigaction() as the program sees it: for SIGSEGV and SIGBUS while the
 * trap is installed, @act becomes the program's disposition (our handler
 * stays in the kernel) and *@old gets the program's previous one; any
 * other signal, or when not installed, goes to the real sigaction().
 * Returns 0, or -1 with errno set, like sigaction().
 */
int mmio_trap_sigaction(int sig, const struct sigaction *act,
			struct sigaction *old);

/* signal() on top of mmio_trap_sigaction(), with glibc's BSD semantics. */
__sighandler_t mmio_trap_signal(int sig, __sighandler_t handler);

struct mmio_trap_stats {
	uint64_t emulated;  /* accesses carried out */
	uint64_t unhandled; /* faults in a region we could not emulate */
	uint64_t chained;   /* faults passed to the program's disposition */
};

void mmio_trap_get_stats(struct mmio_trap_stats *stats);

#endif
