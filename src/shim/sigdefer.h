/* SPDX-License-Identifier: MIT */
/*
 * Signal safety of the preload library by deferral (sigdefer.c).
 *
 * Every shim lock, and in in-process mode every engine call, is taken
 * inside a "section", shim_sig_enter() ... shim_sig_leave(): a signal
 * handler of the program that calls close(), dup() or ioctl() (which are
 * async-signal-safe) must never run while the code it interrupted holds
 * one of those locks, or it would deadlock on it.  A section blocks
 * nothing: it is a per-thread depth counter (no system call).  Instead,
 * for every asynchronous signal for which the program installs a handler,
 * the kernel gets the shim's trampoline; outside a section the trampoline
 * calls the program's handler at once, inside one it records the signal
 * (with its siginfo) as pending for the thread and returns, and the
 * outermost shim_sig_leave() sends every pending signal to the same
 * thread again (rt_tgsigqueueinfo), whose handler then runs as if the
 * signal had been blocked during the section.  See sigdefer.c for the
 * model, the guarantees and the limits.
 *
 * Synchronous signals (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP, SIGSYS)
 * are never deferred: a fault's handler must run at the fault.  The MMIO
 * trap (mmio_trap.c) owns SIGSEGV and SIGBUS; the others pass straight to
 * libc.
 *
 * Thread safety: every function may be called from any thread and from a
 * signal handler.
 */
#ifndef UFD_SHIM_SIGDEFER_H
#define UFD_SHIM_SIGDEFER_H

#include <signal.h>
#include <stdbool.h>

/*
 * The thread's section depth and whether it has deferred signals.  Only
 * this thread and its signal handlers touch it, so plain loads and stores
 * do; the compiler must not move them across the section's code, hence
 * the atomic accesses and the signal fences.  Initial-exec TLS: one load
 * from the thread pointer, and nothing that could allocate in a handler.
 */
struct shim_sig_thread {
	unsigned int depth;
	unsigned int pending; /* non-zero: something was deferred */
};
extern __thread struct shim_sig_thread shim_sig_self
	__attribute__((tls_model("initial-exec")));

/* Send the signals deferred during the section just left (sigdefer.c). */
void shim_sig_flush(void);

/* Enter a section; nests.  No system call. */
static inline void shim_sig_enter(void)
{
	unsigned int d = __atomic_load_n(&shim_sig_self.depth,
					 __ATOMIC_RELAXED);

	__atomic_store_n(&shim_sig_self.depth, d + 1, __ATOMIC_RELAXED);
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
}

/*
 * Leave a section.  The outermost one checks for deferred signals after
 * the depth is back at 0: one that arrives before the decrement is
 * recorded and seen here, one that arrives after it runs its handler at
 * once.  Only then (a signal did arrive) are there system calls.
 */
static inline void shim_sig_leave(void)
{
	unsigned int d = __atomic_load_n(&shim_sig_self.depth,
					 __ATOMIC_RELAXED);

	if (!d)
		return; /* unbalanced: nothing to leave */
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	__atomic_store_n(&shim_sig_self.depth, d - 1, __ATOMIC_RELAXED);
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	if (d == 1 &&
	    __builtin_expect(__atomic_load_n(&shim_sig_self.pending,
					     __ATOMIC_RELAXED) != 0, 0))
		shim_sig_flush();
}

typedef int (*shim_sigaction_fn)(int sig, const struct sigaction *act,
				 struct sigaction *old);

/*
 * Is @sig one whose handlers the shim runs through its trampoline: a valid
 * signal that can be caught, not synchronous, and not one the C library
 * keeps for itself (between 32 and SIGRTMIN)?
 */
bool shim_sig_deferrable(int sig);

/*
 * sigaction() as the program sees it, for a deferrable @sig, on top of
 * @real (libc's sigaction, past the wrapper).  A handler is recorded and
 * the kernel gets the trampoline with the program's flags (plus
 * SA_SIGINFO) and mask; SIG_DFL and SIG_IGN go to the kernel as they are.
 * *@old reports the program's handler and flags, never the trampoline.
 * 0, or -1 with errno set, like sigaction().
 */
int shim_sig_action(shim_sigaction_fn real, int sig,
		    const struct sigaction *act, struct sigaction *old);

/* Signals deferred so far in this process (tests, diagnostics). */
unsigned long shim_sig_deferred_count(void);

#endif
