// SPDX-License-Identifier: MIT
/*
 * Signal safety by deferral ("lazy masking"; see sigdefer.h for the API).
 *
 * Model.  A thread is "in a section" while its depth (shim_sig_self) is
 * not 0.  The program's handler of every deferrable signal (an
 * asynchronous one: not SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP, SIGSYS,
 * SIGKILL, SIGSTOP, nor the C library's own between 32 and SIGRTMIN) is
 * kept here, in acts[], and the kernel is given sd_trampoline() instead,
 * with the program's flags (plus SA_SIGINFO, to get the siginfo) and mask:
 * SA_RESETHAND, SA_ONSTACK, SA_NODEFER, SA_RESTART and sa_mask are the
 * kernel's to apply, as they would have been.  The trampoline, at depth
 * 0, calls the program's handler with the kernel's siginfo and ucontext
 * (sa_handler or sa_sigaction, as SA_SIGINFO says); at depth > 0 it
 * records the signal and the first 48 bytes of its siginfo (all the
 * kernel's kernel_siginfo carries since Linux 4.20) in the thread's
 * pending set and returns.  The outermost shim_sig_leave() then sees the
 * pending flag and calls shim_sig_flush(), which blocks the asynchronous
 * signals, sends each pending one to the same thread again with
 * rt_tgsigqueueinfo(getpid(), gettid(), sig, &info) (allowed with any
 * si_code when aimed at oneself, so si_code, si_pid, si_uid, si_value are
 * the original ones), empties the set and restores the mask: the kernel
 * then delivers them, to the trampoline at depth 0, in its own order.
 * From the handler's point of view the signal was blocked during the
 * section: it runs after it, once, under the disposition of that moment.
 *
 * Pending set: one slot per signal number, claimed with an atomic or, so
 * that a standard signal that arrives again while pending coalesces, as
 * the kernel's does; a realtime one that finds its slot taken goes to a
 * small queue (SD_RTQ entries, in arrival order), and one that finds the
 * queue full is dropped and counted (more than SD_RTQ + 1 instances of
 * realtime signals in one section: rare, as sections are short).  The set
 * is thread-local and only its thread touches it: the trampoline, which
 * may itself be interrupted by another signal's (hence the atomic claims
 * and a "signo written last" rule), and shim_sig_flush(), which runs at
 * depth 0 with the signals blocked, so that nothing interleaves with it.
 * A signal that arrives between the depth's decrement and the flag's test
 * runs its handler at once: the depth is already 0.
 *
 * SA_RESETHAND: the kernel resets the disposition to SIG_DFL when it
 * delivers to the trampoline; the trampoline notes it in acts[] (the
 * handler it had is kept), so that sigaction() reports SIG_DFL.  When
 * such a delivery was deferred, the flush first puts the handler back
 * (kernel and acts[], if nobody changed the disposition since) and then
 * sends the signal, so that the handler runs once and the reset happens
 * again, as if the signal had waited blocked.
 *
 * Other threads, fork, exec.  A thread created inside a section starts at
 * depth 0 with nothing pending (fresh TLS).  A fork child keeps the
 * caller's depth (the fork handlers leave their sections in both) but
 * drops what was pending, as the kernel's fork does.  exec resets the
 * handlers in the kernel (a new image, a new shim).  sigprocmask() and
 * pthread_sigmask() keep working as usual: a blocked signal never reaches
 * the trampoline.  A signal directed at the process that reaches a thread
 * in a section stays with that thread (the kernel might have picked
 * another one had it been blocked).
 *
 * Limits.  A handler installed past the wrappers (the raw rt_sigaction
 * system call, or a runtime that makes its own system calls) reaches the
 * kernel directly and is not deferred: unlike under the signal mask the
 * sections used to set, it can run inside the shim, and must not call
 * it.  (The C library's own save-and-restore of a disposition, as in
 * system(), puts the trampoline back as it found it, which is right.)  A
 * system call the shim makes inside a section can now be interrupted by
 * a handler without SA_RESTART; the shim's are non-blocking, or retried
 * on EINTR.  A handler that edits the ucontext of a deferred signal
 * edits the flush's, not that of the code the signal interrupted.  A
 * sigaction() racing with the delivery of the same signal on another
 * thread may see that delivery run the new handler rather than the old.
 *
 * Everything the trampoline and the flush do is async-signal-safe: TLS
 * (initial-exec), atomics, memcpy, and the system calls rt_sigprocmask,
 * rt_sigaction, getpid, gettid, rt_tgsigqueueinfo and sched_yield.
 *
 * Locking.  acts[] is published with a sequence lock (sd_seq) whose
 * writers, sigaction() and the trampoline noting a reset, block the
 * asynchronous signals while they hold it and make the kernel's change
 * inside it, so that acts[] and the kernel agree for every reader and no
 * trampoline can spin on a writer of its own thread; the trampoline reads
 * acts[] without writing (retrying while a writer works).  fork() holds
 * the lock (atfork handlers registered by a constructor), so that the
 * child never starts with a writer's odd count.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "shim/sigdefer.h"

#define SD_MAXSIG 64
/* What the kernel keeps of a siginfo (kernel_siginfo, 64-bit). */
#define SD_INFO_BYTES 48
/* Further instances of realtime signals in one section. */
#define SD_RTQ 8

_Static_assert(sizeof(siginfo_t) >= SD_INFO_BYTES, "siginfo_t too small");

#define LD(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)
#define ST(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELAXED)

/* ---- per thread ---------------------------------------------------------- */

__thread struct shim_sig_thread shim_sig_self
	__attribute__((tls_model("initial-exec")));

struct sd_entry {
	int signo;          /* 0: free; written last */
	unsigned int reset; /* its SA_RESETHAND reset's generation, 0: none */
	unsigned char info[SD_INFO_BYTES];
};

struct sd_pending {
	uint64_t slots;     /* bit n - 1: slot[n - 1] is taken */
	unsigned int nq;    /* entries of q taken (may run past SD_RTQ) */
	struct sd_entry slot[SD_MAXSIG];
	struct sd_entry q[SD_RTQ];
};

static __thread struct sd_pending sd_pend
	__attribute__((tls_model("initial-exec")));
static __thread sigset_t sd_fork_saved
	__attribute__((tls_model("initial-exec")));

/* ---- the program's dispositions ------------------------------------------ */

struct sd_action {
	uintptr_t handler;     /* SIG_DFL, SIG_IGN or the program's function */
	int flags;             /* the program's sa_flags */
	uint64_t mask;         /* the program's sa_mask, bit n - 1: signal n */
	unsigned int gen;      /* changes with every write; 0 only at first */
	bool reset;            /* SA_RESETHAND fired: the kernel has SIG_DFL */
	uintptr_t was_handler; /* ... and this is what it had */
	int was_flags;
	uint64_t was_mask;
};

struct sd_snap {
	uintptr_t handler;
	int flags;
	uint64_t mask;
	unsigned int gen;
};

static struct sd_action acts[SD_MAXSIG + 1]; /* sd_seq */
static unsigned int sd_seq;                  /* odd: a writer is at work */
static shim_sigaction_fn sd_real;            /* libc's; set once */
static unsigned long sd_deferred, sd_lost;   /* statistics */

static void sd_trampoline(int sig, siginfo_t *si, void *uc);

static bool sd_is_fn(uintptr_t h)
{
	return h != (uintptr_t)SIG_DFL && h != (uintptr_t)SIG_IGN;
}

static bool sd_sync(int sig)
{
	return sig == SIGSEGV || sig == SIGBUS || sig == SIGILL ||
	       sig == SIGFPE || sig == SIGTRAP || sig == SIGSYS;
}

bool shim_sig_deferrable(int sig)
{
	if (sig < 1 || sig > SD_MAXSIG || sig > SIGRTMAX || sig == SIGKILL ||
	    sig == SIGSTOP || sd_sync(sig))
		return false;
	return sig < 32 || sig >= SIGRTMIN;
}

/* The asynchronous signals: what a section used to block. */
static void sd_async_set(sigset_t *set)
{
	sigfillset(set);
	sigdelset(set, SIGSEGV);
	sigdelset(set, SIGBUS);
	sigdelset(set, SIGILL);
	sigdelset(set, SIGFPE);
	sigdelset(set, SIGTRAP);
	sigdelset(set, SIGSYS);
}

static uint64_t sd_mask_bits(const sigset_t *set)
{
	uint64_t m = 0;
	int s;

	for (s = 1; s <= SD_MAXSIG; s++)
		if (sigismember(set, s) == 1)
			m |= 1ULL << (s - 1);
	return m;
}

static void sd_mask_set(sigset_t *set, uint64_t m)
{
	int s;

	sigemptyset(set);
	for (s = 1; s <= SD_MAXSIG; s++)
		if (m & (1ULL << (s - 1)))
			sigaddset(set, s);
}

static void sd_lock(sigset_t *saved)
{
	sigset_t all;
	unsigned int s;

	sd_async_set(&all);
	pthread_sigmask(SIG_BLOCK, &all, saved);
	for (;;) {
		s = LD(sd_seq);
		if (!(s & 1) &&
		    __atomic_compare_exchange_n(&sd_seq, &s, s + 1, true,
						__ATOMIC_ACQUIRE,
						__ATOMIC_RELAXED))
			return;
		sched_yield();
	}
}

static void sd_unlock(const sigset_t *saved)
{
	__atomic_fetch_add(&sd_seq, 1, __ATOMIC_RELEASE);
	pthread_sigmask(SIG_SETMASK, saved, NULL);
}

/* A consistent copy of acts[@sig], without writing (signal handlers). */
static void sd_read(int sig, struct sd_snap *snap)
{
	const struct sd_action *a = &acts[sig];
	unsigned int s1, s2;

	for (;;) {
		s1 = __atomic_load_n(&sd_seq, __ATOMIC_ACQUIRE);
		if (s1 & 1) {
			sched_yield();
			continue;
		}
		snap->handler = LD(a->handler);
		snap->flags = LD(a->flags);
		snap->mask = LD(a->mask);
		snap->gen = LD(a->gen);
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		s2 = LD(sd_seq);
		if (s1 == s2)
			return;
	}
}

/* The next generation of @a (lock held); never 0. */
static unsigned int sd_next_gen(struct sd_action *a)
{
	unsigned int g = LD(a->gen) + 1;

	if (!g)
		g = 1;
	ST(a->gen, g);
	return g;
}

/*
 * The kernel has just reset @sig's disposition on delivering it to us
 * (SA_RESETHAND): acts[] says so too from now on, and keeps the handler.
 * The new generation, or 0 when the disposition changed since @snap (the
 * program set another one; nothing to record).
 */
static unsigned int sd_note_reset(int sig, const struct sd_snap *snap)
{
	struct sd_action *a = &acts[sig];
	unsigned int gen = 0;
	sigset_t saved;

	sd_lock(&saved);
	if (LD(a->gen) == snap->gen && !LD(a->reset)) {
		ST(a->was_handler, snap->handler);
		ST(a->was_flags, snap->flags);
		ST(a->was_mask, snap->mask);
		ST(a->handler, (uintptr_t)SIG_DFL);
		ST(a->reset, true);
		gen = sd_next_gen(a);
	}
	sd_unlock(&saved);
	return gen;
}

/*
 * Before a deferred SA_RESETHAND delivery is sent again: the handler goes
 * back into the kernel (the signal had not been consumed, as far as the
 * program can tell), unless the disposition changed since its reset.
 */
static void sd_rearm(int sig, unsigned int gen)
{
	shim_sigaction_fn real = __atomic_load_n(&sd_real, __ATOMIC_ACQUIRE);
	struct sd_action *a = &acts[sig];
	struct sigaction k;
	sigset_t saved;

	if (!real)
		return;
	sd_lock(&saved);
	if (LD(a->reset) && LD(a->gen) == gen) {
		memset(&k, 0, sizeof(k));
		k.sa_sigaction = sd_trampoline;
		k.sa_flags = LD(a->was_flags) | SA_SIGINFO;
		sd_mask_set(&k.sa_mask, LD(a->was_mask));
		if (!real(sig, &k, NULL)) {
			ST(a->handler, LD(a->was_handler));
			ST(a->flags, LD(a->was_flags));
			ST(a->mask, LD(a->was_mask));
			ST(a->reset, false);
			sd_next_gen(a);
		}
	}
	sd_unlock(&saved);
}

/*
 * acts[@sig] says SIG_DFL, yet the kernel ran the trampoline: make sure
 * the kernel has SIG_DFL too before the signal is sent again (else it
 * would come back here forever).  The kernel can have the trampoline
 * while acts[] has SIG_DFL only if something past the wrapper put it
 * back (a C library function restoring what it saved, such as system()).
 */
static void sd_kernel_dfl(int sig)
{
	shim_sigaction_fn real = __atomic_load_n(&sd_real, __ATOMIC_ACQUIRE);
	struct sigaction k, dfl;
	sigset_t saved;

	if (!real)
		return;
	sd_lock(&saved);
	if (LD(acts[sig].handler) == (uintptr_t)SIG_DFL &&
	    !real(sig, NULL, &k) && k.sa_sigaction == sd_trampoline) {
		memset(&dfl, 0, sizeof(dfl));
		dfl.sa_handler = SIG_DFL;
		sigemptyset(&dfl.sa_mask);
		real(sig, &dfl, NULL);
	}
	sd_unlock(&saved);
}

/* ---- deferring and sending again ----------------------------------------- */

static long sd_send(pid_t pid, pid_t tid, int sig, const void *info)
{
	siginfo_t si;

	memset(&si, 0, sizeof(si));
	memcpy(&si, info, SD_INFO_BYTES);
	si.si_signo = sig;
	return syscall(SYS_rt_tgsigqueueinfo, (long)pid, (long)tid, (long)sig,
		       &si);
}

/* The trampoline, in a section: @sig becomes pending for this thread. */
static void sd_defer(int sig, const siginfo_t *si, unsigned int reset)
{
	uint64_t bit = 1ULL << (sig - 1);
	struct sd_entry *e;
	unsigned int i;

	__atomic_fetch_add(&sd_deferred, 1, __ATOMIC_RELAXED);
	if (!(__atomic_fetch_or(&sd_pend.slots, bit, __ATOMIC_RELAXED) & bit)) {
		e = &sd_pend.slot[sig - 1];
	} else if (sig >= 32) {
		/* Realtime signals queue, in the kernel's order (FIFO). */
		i = __atomic_fetch_add(&sd_pend.nq, 1, __ATOMIC_RELAXED);
		if (i >= SD_RTQ) {
			__atomic_fetch_add(&sd_lost, 1, __ATOMIC_RELAXED);
			return;
		}
		e = &sd_pend.q[i];
	} else {
		return; /* standard: coalesces with the pending one */
	}
	memcpy(e->info, si, SD_INFO_BYTES);
	e->reset = reset;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	ST(e->signo, sig);
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	ST(shim_sig_self.pending, 1U);
}

/* Send pending entry @e again (signals blocked) and free it. */
static void sd_resend(pid_t pid, pid_t tid, struct sd_entry *e)
{
	int sig = e->signo;

	if (!sig)
		return;
	if (e->reset)
		sd_rearm(sig, e->reset);
	if (sd_send(pid, tid, sig, e->info) < 0)
		__atomic_fetch_add(&sd_lost, 1, __ATOMIC_RELAXED);
	e->signo = 0;
}

void shim_sig_flush(void)
{
	int saved_errno = errno;
	sigset_t all, saved;
	unsigned int i, nq;
	uint64_t slots;
	pid_t pid, tid;

	sd_async_set(&all);
	pthread_sigmask(SIG_BLOCK, &all, &saved);
	/* Nothing else on this thread touches the set now. */
	ST(shim_sig_self.pending, 0U);
	slots = LD(sd_pend.slots);
	nq = LD(sd_pend.nq);
	if (nq > SD_RTQ)
		nq = SD_RTQ;
	if (slots || nq) {
		pid = getpid();
		tid = (pid_t)syscall(SYS_gettid);
		for (i = 0; i < SD_MAXSIG; i++)
			if (slots & (1ULL << i))
				sd_resend(pid, tid, &sd_pend.slot[i]);
		for (i = 0; i < nq; i++)
			sd_resend(pid, tid, &sd_pend.q[i]);
	}
	ST(sd_pend.slots, 0ULL);
	ST(sd_pend.nq, 0U);
	/* The kernel delivers them here, to the trampoline at depth 0. */
	pthread_sigmask(SIG_SETMASK, &saved, NULL);
	errno = saved_errno;
}

/*
 * What the kernel calls for every deferrable signal the program handles.
 * errno is the interrupted code's again when the handler starts, and
 * after our own work when we return without calling it.
 */
static void sd_trampoline(int sig, siginfo_t *si, void *uc)
{
	int saved_errno = errno;
	unsigned int reset = 0;
	struct sd_snap snap;
	pid_t pid;

	sd_read(sig, &snap);
	if ((snap.flags & SA_RESETHAND) && sd_is_fn(snap.handler))
		reset = sd_note_reset(sig, &snap);
	if (LD(shim_sig_self.depth)) {
		sd_defer(sig, si, reset);
		errno = saved_errno;
		return;
	}
	if (snap.handler == (uintptr_t)SIG_IGN) {
		errno = saved_errno;
		return;
	}
	if (snap.handler == (uintptr_t)SIG_DFL) {
		/*
		 * The program set SIG_DFL while this one was on its way: the
		 * kernel acts on the signal sent again (when the trampoline
		 * returns, if it blocks @sig meanwhile).
		 */
		sd_kernel_dfl(sig);
		pid = getpid();
		sd_send(pid, (pid_t)syscall(SYS_gettid), sig, si);
		errno = saved_errno;
		return;
	}
	errno = saved_errno;
	if (snap.flags & SA_SIGINFO)
		((void (*)(int, siginfo_t *, void *))snap.handler)(sig, si, uc);
	else
		((void (*)(int))snap.handler)(sig);
}

/* ---- sigaction ----------------------------------------------------------- */

/* *@old from the kernel's @k: the program's handler, never ours. */
static void sd_report(const struct sd_action *a, const struct sigaction *k,
		      struct sigaction *old)
{
	*old = *k;
	if (k->sa_sigaction == sd_trampoline) {
		old->sa_handler = (__sighandler_t)LD(a->handler);
		old->sa_flags = (k->sa_flags & ~SA_SIGINFO) |
				(LD(a->flags) & SA_SIGINFO);
	} else if (LD(a->reset) && k->sa_handler == SIG_DFL) {
		/* Reset by the kernel, which keeps the flags, ours included. */
		old->sa_flags = (k->sa_flags & ~SA_SIGINFO) |
				(LD(a->flags) & SA_SIGINFO);
	}
}

int shim_sig_action(shim_sigaction_fn real, int sig,
		    const struct sigaction *act, struct sigaction *old)
{
	struct sigaction k, o;
	struct sd_action *a;
	uintptr_t handler = 0;
	uint64_t mask = 0;
	int flags = 0, rc, err;
	sigset_t saved;

	if (!shim_sig_deferrable(sig))
		return real(sig, act, old);
	a = &acts[sig];
	if (!__atomic_load_n(&sd_real, __ATOMIC_ACQUIRE))
		__atomic_store_n(&sd_real, real, __ATOMIC_RELEASE);
	/* Read @act whole first (even were it @old, despite restrict). */
	if (act) {
		k = *act;
		handler = (uintptr_t)act->sa_handler;
		flags = act->sa_flags;
		mask = sd_mask_bits(&act->sa_mask);
		if (sd_is_fn(handler)) {
			k.sa_sigaction = sd_trampoline;
			k.sa_flags |= SA_SIGINFO;
		}
	}
	memset(&o, 0, sizeof(o));
	sd_lock(&saved);
	rc = real(sig, act ? &k : NULL, &o);
	err = errno;
	if (!rc && old)
		sd_report(a, &o, old);
	/* (The trampoline itself, as a raw query shows it: acts[] stays.) */
	if (!rc && act && handler != (uintptr_t)sd_trampoline) {
		ST(a->handler, handler);
		ST(a->flags, flags);
		ST(a->mask, mask);
		ST(a->reset, false);
		sd_next_gen(a);
	}
	sd_unlock(&saved);
	errno = err;
	return rc;
}

unsigned long shim_sig_deferred_count(void)
{
	return LD(sd_deferred);
}

/* ---- fork ---------------------------------------------------------------- */

static void sd_atfork_prepare(void)
{
	sd_lock(&sd_fork_saved);
}

static void sd_atfork_parent(void)
{
	sd_unlock(&sd_fork_saved);
}

static void sd_atfork_child(void)
{
	/* The kernel's fork leaves the child nothing pending either. */
	memset(&sd_pend, 0, sizeof(sd_pend));
	ST(shim_sig_self.pending, 0U);
	sd_unlock(&sd_fork_saved);
}

/*
 * First of the library's handlers, so that its prepare runs last and its
 * parent and child handlers first (pthread_atfork's order), around fork()
 * itself.
 */
__attribute__((constructor))
static void sd_init(void)
{
	pthread_atfork(sd_atfork_prepare, sd_atfork_parent, sd_atfork_child);
}
