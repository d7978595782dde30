/* SPDX-License-Identifier: MIT */
/*
 * The shim's signal deferral and its trusted fd table (src/shim/sigdefer.c,
 * src/shim/fdtab.c).
 *
 * Signals: a handler of the program's never runs while its thread is
 * inside the shim; one that arrives meanwhile runs after, once, with its
 * own siginfo.  The real case: a fault queue fd set up for SIGIO
 * (O_ASYNC, F_SETSIG, F_SETOWN_EX to this thread) gets its doorbell from
 * inside the engine, under the engine's lock, in in-process mode; the
 * handler calls ioctl() and read() on emulated fds.  2000 realtime
 * signals, one at a time with a value each, to a thread busy with
 * emulated calls: each handled once, in order.  Then what the
 * program sees of its dispositions: sigaction()'s old action and
 * signal()'s return are its own handlers (the kernel has the shim's
 * trampoline), SA_SIGINFO data of a kill() from another process, and
 * SA_RESETHAND.  Linked with the shim (UFD_SHIM_LINKED, the .direct
 * build) the tests also open a section themselves, to see the deferral
 * directly: coalescing of a standard signal, queueing of realtime ones,
 * the reset of a deferred SA_RESETHAND delivery, a thread started inside
 * a section, and fork.
 *
 * The fd table: dup2() over an emulated fd and close_range() leave no
 * stale slot; with UIOMMUFD_STRICT_FDS=1 (this program again, exec'd
 * with "strict") an fd closed and reused behind the shim's back is
 * recognised too.  Run linked, and under the launcher in both modes.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/iommufd.h>
#include "iommufd_test.h"

#include "../unit/harness.h"

#ifdef UFD_SHIM_LINKED
#include "shim/sigdefer.h"
#endif

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

#define WATCHDOG_SECONDS 60

/* Still in glibc (and wrapped by the shim), no longer declared. */
extern __sighandler_t bsd_signal(int sig, __sighandler_t handler);
/* sigset() and siginterrupt() are deprecated: they are what is tested. */
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

static int dev_fd = -1;

/* ---- helpers ------------------------------------------------------------- */

static bool shim_active(void)
{
#ifdef UFD_SHIM_LINKED
	return true;
#else
	const char *a = getenv("UIOMMUFD_ACTIVE");

	return a && !strcmp(a, "1");
#endif
}

static bool in_process(void)
{
#ifdef UFD_SHIM_LINKED
	return true;
#else
	const char *m = getenv("UIOMMUFD_MODE");

	return m && !strcmp(m, "inprocess");
#endif
}

/* The cheapest emulated ioctl: 0 or -errno. */
static int option_get(int fd)
{
	struct iommu_option opt = {
		.size = sizeof(opt),
		.option_id = IOMMU_OPTION_RLIMIT_MODE,
		.op = IOMMU_OPTION_OP_GET,
	};

	return ioctl(fd, IOMMU_OPTION, &opt) ? -errno : 0;
}

/* The kernel's own idea of @sig's handler (past every wrapper). */
struct k_sigaction {
	uintptr_t handler;
	unsigned long flags;
	uintptr_t restorer;
	uint64_t mask;
};

static uintptr_t kernel_handler(int sig, unsigned long *flags)
{
	struct k_sigaction k;

	memset(&k, 0, sizeof(k));
	if (syscall(SYS_rt_sigaction, sig, NULL, &k, sizeof(k.mask)))
		return (uintptr_t)-1;
	if (flags)
		*flags = k.flags;
	return k.handler;
}

static void set_dfl(int sig)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	sigaction(sig, &sa, NULL);
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static void *watchdog(void *arg)
{
	static const char msg[] = "test_sigdefer: hang (deadlock?)\n";

	(void)arg;
	sleep(WATCHDOG_SECONDS);
	if (write(STDERR_FILENO, msg, sizeof(msg) - 1) < 0) {
		/* exiting anyway */
	}
	_exit(3);
	return NULL;
}

/* ---- a handler that records ---------------------------------------------- */

#define REC_MAX 16

struct rec {
	int signo, code, value, ioctl_rc;
	pid_t pid;
	uid_t uid;
};

static struct rec recs[REC_MAX];
static volatile sig_atomic_t nrecs;

static void on_info(int sig, siginfo_t *si, void *uc)
{
	int saved = errno, n = nrecs;

	(void)uc;
	if (n < REC_MAX) {
		recs[n].signo = sig;
		recs[n].code = si->si_code;
		recs[n].pid = si->si_pid;
		recs[n].uid = si->si_uid;
		recs[n].value = si->si_value.sival_int;
		/* An emulated call from the handler: needs the shim's locks. */
		recs[n].ioctl_rc = dev_fd >= 0 ? option_get(dev_fd) : 0;
	}
	nrecs = n + 1;
	errno = saved;
}

static volatile sig_atomic_t plain_runs;

static void on_plain(int sig)
{
	(void)sig;
	plain_runs++;
}

static void on_plain2(int sig)
{
	(void)sig;
	plain_runs += 100;
}

static void install_info(int sig, int extra_flags)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_info;
	sa.sa_flags = SA_SIGINFO | SA_RESTART | extra_flags;
	sigemptyset(&sa.sa_mask);
	if (sigaction(sig, &sa, NULL))
		perror("sigaction");
}

/* ---- what the program sees of its dispositions --------------------------- */

static void test_oldact(void)
{
	struct sigaction sa, old;
	unsigned long kflags = 0;
	sigset_t set;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_info;
	sa.sa_flags = SA_SIGINFO | SA_RESTART | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	sigaddset(&sa.sa_mask, SIGINT);
	REQUIRE(!sigaction(SIGUSR2, &sa, NULL));
	memset(&old, 0, sizeof(old));
	REQUIRE(!sigaction(SIGUSR2, NULL, &old));
	CHECK(old.sa_sigaction == on_info);
	CHECK(old.sa_flags & SA_SIGINFO);
	CHECK(old.sa_flags & SA_RESTART);
	CHECK(old.sa_flags & SA_ONSTACK);
	CHECK(sigismember(&old.sa_mask, SIGINT) == 1);
	CHECK(sigismember(&old.sa_mask, SIGTERM) == 0);
	/* The kernel has the trampoline, with the program's flags. */
	if (shim_active()) {
		CHECK(kernel_handler(SIGUSR2, &kflags) != (uintptr_t)on_info);
		CHECK(kflags & SA_ONSTACK);
		CHECK(kflags & SA_RESTART);
	}

	/* A plain handler: no SA_SIGINFO as the program sees it. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_plain;
	sigemptyset(&sa.sa_mask);
	REQUIRE(!sigaction(SIGUSR2, &sa, &old));
	CHECK(old.sa_sigaction == on_info);
	CHECK(old.sa_flags & SA_SIGINFO);
	REQUIRE(!sigaction(SIGUSR2, NULL, &old));
	CHECK(old.sa_handler == on_plain);
	CHECK(!(old.sa_flags & SA_SIGINFO));
	if (shim_active()) {
		CHECK(kernel_handler(SIGUSR2, &kflags) != (uintptr_t)on_plain);
		CHECK(kflags & SA_SIGINFO); /* the trampoline wants it */
	}
	sa.sa_handler = on_plain2;
	REQUIRE(!sigaction(SIGUSR2, &sa, &old));
	CHECK(old.sa_handler == on_plain);

	/* signal() and its family report and install the program's. */
	CHECK(signal(SIGUSR2, on_plain) == on_plain2);
	REQUIRE(!sigaction(SIGUSR2, NULL, &old));
	CHECK(old.sa_handler == on_plain);
	CHECK(old.sa_flags & SA_RESTART);
	CHECK(sigismember(&old.sa_mask, SIGUSR2) == 1);
	plain_runs = 0;
	raise(SIGUSR2);
	CHECK_EQ(plain_runs, 1);
	CHECK(bsd_signal(SIGUSR2, on_plain2) == on_plain);
	CHECK(sysv_signal(SIGUSR2, on_plain) == on_plain2);
	REQUIRE(!sigaction(SIGUSR2, NULL, &old));
	CHECK((old.sa_flags & (SA_RESETHAND | SA_NODEFER)) ==
	      (SA_RESETHAND | SA_NODEFER));
	CHECK(signal(SIGUSR2, SIG_IGN) == on_plain);
	CHECK_EQ(kernel_handler(SIGUSR2, NULL), (uintptr_t)SIG_IGN);
	raise(SIGUSR2); /* ignored */

	/* sigset(): SIG_HOLD blocks, another disposition unblocks. */
	CHECK(sigset(SIGUSR2, on_plain) == SIG_IGN);
	CHECK(sigset(SIGUSR2, SIG_HOLD) == on_plain);
	plain_runs = 0;
	raise(SIGUSR2);
	CHECK_EQ(plain_runs, 0);
	CHECK(sigset(SIGUSR2, on_plain2) == SIG_HOLD);
	CHECK_EQ(plain_runs, 100); /* the held one, unblocked */
	sigprocmask(SIG_SETMASK, NULL, &set);
	CHECK(sigismember(&set, SIGUSR2) == 0);

	/* siginterrupt(): SA_RESTART off and on again, and signal() knows. */
	CHECK_EQ(siginterrupt(SIGUSR2, 1), 0);
	REQUIRE(!sigaction(SIGUSR2, NULL, &old));
	CHECK(old.sa_handler == on_plain2);
	CHECK(!(old.sa_flags & SA_RESTART));
	signal(SIGUSR2, on_plain);
	REQUIRE(!sigaction(SIGUSR2, NULL, &old));
	CHECK(!(old.sa_flags & SA_RESTART));
	CHECK_EQ(siginterrupt(SIGUSR2, 0), 0);
	REQUIRE(!sigaction(SIGUSR2, NULL, &old));
	CHECK(old.sa_flags & SA_RESTART);

	/* Synchronous signals and the C library's own are not ours. */
	CHECK(signal(SIGFPE, on_plain) == SIG_DFL);
	if (shim_active())
		CHECK_EQ(kernel_handler(SIGFPE, NULL), (uintptr_t)on_plain);
	CHECK(signal(32, on_plain) == SIG_ERR);
	signal(SIGFPE, SIG_DFL);
	set_dfl(SIGUSR2);
	CHECK_EQ(kernel_handler(SIGUSR2, NULL), (uintptr_t)SIG_DFL);
}

/* SA_SIGINFO data of a kill() from another process. */
static void test_siginfo_other_process(void)
{
	sigset_t block, old, wait;
	pid_t child;
	int status;

	nrecs = 0;
	install_info(SIGUSR1, 0);
	sigemptyset(&block);
	sigaddset(&block, SIGUSR1);
	REQUIRE(!sigprocmask(SIG_BLOCK, &block, &old));
	child = fork();
	REQUIRE(child >= 0);
	if (!child) {
		kill(getppid(), SIGUSR1);
		_exit(0);
	}
	wait = old;
	sigdelset(&wait, SIGUSR1);
	while (!nrecs)
		sigsuspend(&wait);
	sigprocmask(SIG_SETMASK, &old, NULL);
	REQUIRE(waitpid(child, &status, 0) == child);
	CHECK_EQ(nrecs, 1);
	CHECK_EQ(recs[0].signo, SIGUSR1);
	CHECK_EQ(recs[0].code, SI_USER);
	CHECK_EQ(recs[0].pid, child);
	CHECK_EQ(recs[0].uid, getuid());
	CHECK_EQ(recs[0].ioctl_rc, 0);
	set_dfl(SIGUSR1);
}

/* Does @sig, raised in a child, kill it (its disposition is SIG_DFL)? */
static bool child_dies_of(int sig)
{
	pid_t child = fork();
	int status;

	if (child < 0)
		return false;
	if (!child) {
		raise(sig);
		_exit(0);
	}
	if (waitpid(child, &status, 0) != child)
		return false;
	return WIFSIGNALED(status) && WTERMSIG(status) == sig;
}

static void test_resethand(void)
{
	struct sigaction old;

	nrecs = 0;
	install_info(SIGUSR1, SA_RESETHAND);
	raise(SIGUSR1);
	CHECK_EQ(nrecs, 1);
	CHECK_EQ(recs[0].code, SI_TKILL);
	CHECK_EQ(recs[0].ioctl_rc, 0);
	REQUIRE(!sigaction(SIGUSR1, NULL, &old));
	CHECK(old.sa_handler == SIG_DFL);
	CHECK(child_dies_of(SIGUSR1));

	/* sysv_signal() is one-shot the same way. */
	plain_runs = 0;
	sysv_signal(SIGUSR1, on_plain);
	raise(SIGUSR1);
	CHECK_EQ(plain_runs, 1);
	CHECK(signal(SIGUSR1, SIG_DFL) == SIG_DFL);
}

/* ---- a signal from inside the engine ------------------------------------- */

static int fault_fd = -1;
static volatile sig_atomic_t sigio_runs, sigio_read, sigio_ioctl_rc = 1;
static volatile sig_atomic_t sigio_code, sigio_fd;
static uint32_t sigio_cookie;

static void on_sigio(int sig, siginfo_t *si, void *uc)
{
	struct iommu_hwpt_pgfault pf;
	int saved = errno;
	ssize_t n;

	(void)sig;
	(void)uc;
	sigio_code = si->si_code;
	sigio_fd = si->si_fd;
	sigio_ioctl_rc = option_get(dev_fd);
	memset(&pf, 0, sizeof(pf));
	n = read(fault_fd, &pf, sizeof(pf));
	if (n == (ssize_t)sizeof(pf)) {
		sigio_read++;
		sigio_cookie = pf.cookie;
	}
	sigio_runs++;
	errno = saved;
}

static int test_cmd(struct iommu_test_cmd *cmd)
{
	cmd->size = sizeof(*cmd);
	return ioctl(dev_fd, IOMMU_TEST_CMD, cmd) ? -errno : 0;
}

/*
 * In process, the doorbell of the fault queue is rung inside the TRIGGER
 * ioctl, under the engine's lock: the SIGIO it raises for this thread
 * arrives inside the shim, and its handler's ioctl() and read() need the
 * engine.  In server mode the daemon rings it; the handler must run too.
 */
static void test_sigio_from_engine(void)
{
	struct iommu_ioas_alloc ia = { .size = sizeof(ia) };
	struct iommu_test_cmd md = { .op = IOMMU_TEST_OP_MOCK_DOMAIN };
	struct iommu_test_cmd rep = { .op = IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE };
	struct iommu_test_cmd trig = { .op = IOMMU_TEST_OP_TRIGGER_IOPF };
	struct iommu_hwpt_selftest data = { .iotlb = IOMMU_TEST_IOTLB_DEFAULT };
	struct iommu_hwpt_page_response resp = {
		.code = IOMMUFD_PAGE_RESP_SUCCESS,
	};
	struct iommu_hwpt_alloc ha = { .size = sizeof(ha) };
	struct iommu_fault_alloc fa = { .size = sizeof(fa) };
	struct f_owner_ex owner = { .type = F_OWNER_TID };
	int sig = SIGRTMIN + 1, i;
	struct sigaction sa;
	uint32_t dev, parent;
#ifdef UFD_SHIM_LINKED
	unsigned long deferred = shim_sig_deferred_count();
#endif

	REQUIRE(!ioctl(dev_fd, IOMMU_IOAS_ALLOC, &ia));
	md.id = ia.out_ioas_id;
	REQUIRE(!test_cmd(&md));
	dev = md.mock_domain.out_idev_id;
	ha.dev_id = dev;
	ha.pt_id = ia.out_ioas_id;
	ha.flags = IOMMU_HWPT_ALLOC_NEST_PARENT;
	REQUIRE(!ioctl(dev_fd, IOMMU_HWPT_ALLOC, &ha));
	parent = ha.out_hwpt_id;
	REQUIRE(!ioctl(dev_fd, IOMMU_FAULT_QUEUE_ALLOC, &fa));
	fault_fd = (int)fa.out_fault_fd;
	memset(&ha, 0, sizeof(ha));
	ha.size = sizeof(ha);
	ha.dev_id = dev;
	ha.pt_id = parent;
	ha.flags = IOMMU_HWPT_FAULT_ID_VALID;
	ha.fault_id = fa.out_fault_id;
	ha.data_type = IOMMU_HWPT_DATA_SELFTEST;
	ha.data_uptr = (uintptr_t)&data;
	ha.data_len = sizeof(data);
	REQUIRE(!ioctl(dev_fd, IOMMU_HWPT_ALLOC, &ha));
	rep.id = md.mock_domain.out_stdev_id;
	rep.mock_domain_replace.pt_id = ha.out_hwpt_id;
	REQUIRE(!test_cmd(&rep));

	/* The queue's fd signals this thread when it becomes readable. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sigio;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	REQUIRE(!sigaction(sig, &sa, NULL));
	owner.pid = (pid_t)syscall(SYS_gettid);
	REQUIRE(!fcntl(fault_fd, F_SETOWN_EX, &owner));
	REQUIRE(!fcntl(fault_fd, F_SETSIG, sig));
	REQUIRE(!fcntl(fault_fd, F_SETFL, fcntl(fault_fd, F_GETFL) | O_ASYNC));

	trig.trigger_iopf.dev_id = dev;
	trig.trigger_iopf.pasid = 0;
	trig.trigger_iopf.grpid = 2;
	trig.trigger_iopf.perm = IOMMU_PGFAULT_PERM_READ;
	trig.trigger_iopf.addr = 0x1000;
	REQUIRE(!test_cmd(&trig));
	if (in_process()) {
		/* Deferred inside the ioctl, run before it returned. */
		CHECK_EQ(sigio_runs, 1);
	}
	for (i = 0; i < 5000 && !sigio_runs; i++)
		sleep_ms(1);
	sleep_ms(20); /* a second delivery would show now */
	CHECK_EQ(sigio_runs, 1);
	CHECK_EQ(sigio_read, 1);
	CHECK_EQ(sigio_ioctl_rc, 0);
	CHECK_EQ(sigio_code, POLL_IN);
	CHECK_EQ(sigio_fd, fault_fd);
#ifdef UFD_SHIM_LINKED
	CHECK(shim_sig_deferred_count() > deferred);
#endif
	if (sigio_read) {
		resp.cookie = sigio_cookie;
		CHECK(write(fault_fd, &resp, sizeof(resp)) == sizeof(resp));
	}
	fcntl(fault_fd, F_SETFL, fcntl(fault_fd, F_GETFL) & ~O_ASYNC);
	set_dfl(sig);
	rep.mock_domain_replace.pt_id = ia.out_ioas_id;
	CHECK(!test_cmd(&rep));
	close(fault_fd);
	fault_fd = -1;
}

/* ---- realtime signals under load ------------------------------------------ */

#define RT_SENDS 2000

static volatile sig_atomic_t rt_handled, rt_bad, rt_stop;

static void on_rt(int sig, siginfo_t *si, void *uc)
{
	int saved = errno;

	(void)sig;
	(void)uc;
	/* Each value once, in the order sent; the shim usable meanwhile. */
	if (si->si_value.sival_int != rt_handled || option_get(dev_fd))
		rt_bad++;
	rt_handled++;
	errno = saved;
}

static void *rt_sender(void *arg)
{
	pthread_t target = *(pthread_t *)arg;
	union sigval v;
	int i, spins;

	for (i = 0; i < RT_SENDS; i++) {
		v.sival_int = i;
		if (pthread_sigqueue(target, SIGRTMIN + 3, v))
			break;
		for (spins = 0; rt_handled <= i && spins < 10000000; spins++)
			sched_yield();
	}
	rt_stop = 1;
	return NULL;
}

/*
 * A realtime signal at a time, each with its value, while the thread it
 * is aimed at spends its time in emulated calls: each runs once, in
 * order, and its handler's ioctl works.
 */
static void test_rt_under_load(void)
{
	struct iommu_ioas_alloc ia = { .size = sizeof(ia) };
	struct iommu_destroy d = { .size = sizeof(d) };
	pthread_t self = pthread_self(), t;
	unsigned long errors = 0;
	struct sigaction sa;
#ifdef UFD_SHIM_LINKED
	unsigned long deferred = shim_sig_deferred_count();
#endif

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_rt;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	REQUIRE(!sigaction(SIGRTMIN + 3, &sa, NULL));
	rt_handled = rt_bad = rt_stop = 0;
	REQUIRE(!pthread_create(&t, NULL, rt_sender, &self));
	while (!rt_stop) {
		if (ioctl(dev_fd, IOMMU_IOAS_ALLOC, &ia)) {
			errors++;
			continue;
		}
		d.id = ia.out_ioas_id;
		if (ioctl(dev_fd, IOMMU_DESTROY, &d))
			errors++;
	}
	pthread_join(t, NULL);
	CHECK_EQ(errors, 0);
	CHECK_EQ(rt_handled, RT_SENDS);
	CHECK_EQ(rt_bad, 0);
#ifdef UFD_SHIM_LINKED
	fprintf(stderr, "%lu of %d deferred\n",
		shim_sig_deferred_count() - deferred, RT_SENDS);
#endif
	set_dfl(SIGRTMIN + 3);
}

/* ---- inside a section (linked only) -------------------------------------- */

#ifdef UFD_SHIM_LINKED
static void *thread_in_section(void *arg)
{
	int before = nrecs;

	(void)arg;
	/* A new thread starts outside any section: at once. */
	pthread_kill(pthread_self(), SIGUSR1);
	return (void *)(intptr_t)(nrecs == before + 1);
}

static void test_section(void)
{
	union sigval v;
	pthread_t t;
	void *ok = NULL;
	pid_t child;
	int i, n, usr1 = 0, status;

	nrecs = 0;
	install_info(SIGUSR1, 0);
	install_info(SIGRTMIN, 0);

	shim_sig_enter();
	raise(SIGUSR1);
	raise(SIGUSR1);
	for (i = 0; i < 3; i++) {
		v.sival_int = 10 + i;
		sigqueue(getpid(), SIGRTMIN, v);
	}
	CHECK_EQ(nrecs, 0);
	/* The shim's calls nest inside. */
	CHECK_EQ(option_get(dev_fd), 0);
	CHECK_EQ(nrecs, 0);
	shim_sig_leave();
	/*
	 * One SIGUSR1 (coalesced), three SIGRTMIN in the order sent.  (The
	 * order between the two is the kernel's: it stacks the frames of
	 * signals that become deliverable at once.)
	 */
	REQUIRE(nrecs == 4);
	for (i = 0, n = 0; i < 4; i++) {
		CHECK_EQ(recs[i].pid, getpid());
		CHECK_EQ(recs[i].ioctl_rc, 0);
		if (recs[i].signo == SIGUSR1) {
			usr1++;
			CHECK_EQ(recs[i].code, SI_TKILL);
			continue;
		}
		CHECK_EQ(recs[i].signo, SIGRTMIN);
		CHECK_EQ(recs[i].code, SI_QUEUE);
		CHECK_EQ(recs[i].value, 10 + n);
		n++;
	}
	CHECK_EQ(usr1, 1);
	CHECK_EQ(n, 3);

	/* A thread started inside a section is outside it. */
	nrecs = 0;
	shim_sig_enter();
	REQUIRE(!pthread_create(&t, NULL, thread_in_section, NULL));
	pthread_join(t, &ok);
	CHECK(ok != NULL);
	CHECK_EQ(nrecs, 1);
	shim_sig_leave();
	CHECK_EQ(nrecs, 1);

	/* fork(): the child does not inherit what was pending. */
	nrecs = 0;
	shim_sig_enter();
	raise(SIGUSR1);
	child = fork();
	REQUIRE(child >= 0);
	if (!child) {
		shim_sig_leave();
		_exit(nrecs);
	}
	REQUIRE(waitpid(child, &status, 0) == child);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK_EQ(nrecs, 0);
	shim_sig_leave();
	CHECK_EQ(nrecs, 1);

	set_dfl(SIGUSR1);
	set_dfl(SIGRTMIN);
}

/* kill() from another process while in a section: the same siginfo. */
static void test_section_other_process(void)
{
	pid_t child;
	int status;

	nrecs = 0;
	install_info(SIGUSR1, 0);
	shim_sig_enter();
	child = fork();
	REQUIRE(child >= 0);
	if (!child) {
		kill(getppid(), SIGUSR1);
		_exit(0);
	}
	while (waitpid(child, &status, 0) < 0 && errno == EINTR)
		;
	/* Delivered (to the trampoline) before waitpid returned. */
	CHECK_EQ(nrecs, 0);
	shim_sig_leave();
	REQUIRE(nrecs == 1);
	CHECK_EQ(recs[0].signo, SIGUSR1);
	CHECK_EQ(recs[0].code, SI_USER);
	CHECK_EQ(recs[0].pid, child);
	CHECK_EQ(recs[0].uid, getuid());
	set_dfl(SIGUSR1);
}

/* A deferred SA_RESETHAND delivery: the handler once, then SIG_DFL. */
static void test_section_resethand(void)
{
	struct sigaction old;

	nrecs = 0;
	install_info(SIGUSR1, SA_RESETHAND);
	shim_sig_enter();
	raise(SIGUSR1);
	CHECK_EQ(nrecs, 0);
	/* The kernel has reset it, and the program is told so. */
	REQUIRE(!sigaction(SIGUSR1, NULL, &old));
	CHECK(old.sa_handler == SIG_DFL);
	shim_sig_leave();
	CHECK_EQ(nrecs, 1);
	CHECK_EQ(recs[0].ioctl_rc, 0);
	REQUIRE(!sigaction(SIGUSR1, NULL, &old));
	CHECK(old.sa_handler == SIG_DFL);
	CHECK_EQ(kernel_handler(SIGUSR1, NULL), (uintptr_t)SIG_DFL);
	CHECK(child_dies_of(SIGUSR1));
}
#endif

/* ---- the fd table -------------------------------------------------------- */

/* dup2(), dup3(), F_DUPFD over an emulated fd: the number is the new file's. */
static void test_dup2_over_emulated(void)
{
	struct iommu_ioas_alloc ia = { .size = sizeof(ia) };
	struct iommu_destroy d = { .size = sizeof(d) };
	int a = open("/dev/iommu", O_RDWR), b = open("/dev/iommu", O_RDWR);
	int p[2], n = -1, c;

	REQUIRE(a >= 0 && b >= 0 && !pipe(p));
	CHECK_EQ(option_get(a), 0);
	/* Over one of ours with a pipe: the ioctl is the pipe's now. */
	REQUIRE(dup2(p[0], a) == a);
	CHECK_EQ(option_get(a), -ENOTTY);
	CHECK(!ioctl(a, FIONREAD, &n) && n == 0);
	/* Over it again with another emulated file. */
	REQUIRE(dup3(b, a, O_CLOEXEC) == a);
	REQUIRE(!ioctl(a, IOMMU_IOAS_ALLOC, &ia));
	d.id = ia.out_ioas_id;
	CHECK(!ioctl(b, IOMMU_DESTROY, &d)); /* the same context */
	/* F_DUPFD onto the lowest free number: the copy is ours. */
	c = fcntl(a, F_DUPFD_CLOEXEC, 200);
	CHECK(c >= 200);
	CHECK_EQ(option_get(c), 0);
	close(c);
	/* Closed, then the (lowest free) number reused by a plain open. */
	c = open("/dev/iommu", O_RDWR);
	REQUIRE(c >= 0);
	CHECK_EQ(option_get(c), 0);
	close(c);
	REQUIRE(open("/dev/null", O_RDONLY) == c);
	CHECK_EQ(option_get(c), -ENOTTY);
	close(c);
	close(a);
	close(b);
	close(p[0]);
	close(p[1]);
}

static void test_close_range(void)
{
	int base = 300, i, fd = open("/dev/iommu", O_RDWR), p[2], n = -1;

	REQUIRE(fd >= 0 && !pipe(p));
	for (i = 0; i < 3; i++)
		REQUIRE(dup2(fd, base + i) == base + i);
	close(fd);
	/* CLOSE_RANGE_CLOEXEC closes nothing yet. */
	REQUIRE(!close_range(base, base + 2, CLOSE_RANGE_CLOEXEC));
	CHECK_EQ(option_get(base), 0);
	REQUIRE(!close_range(base, base + 1, 0));
	CHECK_EQ(option_get(base), -EBADF);
	CHECK_EQ(option_get(base + 1), -EBADF);
	CHECK_EQ(option_get(base + 2), 0);
	/* The numbers, reused, are the new files'. */
	REQUIRE(dup2(p[0], base) == base);
	CHECK_EQ(option_get(base), -ENOTTY);
	CHECK(!ioctl(base, FIONREAD, &n) && n == 0);
	REQUIRE(!close_range(base, base + 2, 0));
	CHECK_EQ(option_get(base + 2), -EBADF);
	close(p[0]);
	close(p[1]);
}

/*
 * UIOMMUFD_STRICT_FDS=1: an emulated fd closed by a raw system call and
 * its number reused by a raw pipe2 is not taken for ours.  (Without it the
 * table trusts what the wrappers saw: see fdtab.h.)
 */
static void test_strict_fds(void)
{
	int fd = open("/dev/iommu", O_RDWR), p[2], n = -1;

	REQUIRE(fd >= 0);
	CHECK_EQ(option_get(fd), 0);
	REQUIRE(!syscall(SYS_close, fd));
	REQUIRE(!syscall(SYS_pipe2, p, 0));
	REQUIRE(p[0] == fd);
	CHECK_EQ(option_get(fd), -ENOTTY);
	CHECK(!ioctl(fd, FIONREAD, &n) && n == 0);
	close(p[0]);
	close(p[1]);
}

/* This program again with UIOMMUFD_STRICT_FDS=1, for test_strict_fds. */
static void test_strict_exec(void)
{
	char self[4096];
	ssize_t len = readlink("/proc/self/exe", self, sizeof(self) - 1);
	pid_t child;
	int status;

	REQUIRE(len > 0);
	self[len] = 0;
	child = fork();
	REQUIRE(child >= 0);
	if (!child) {
		setenv("UIOMMUFD_STRICT_FDS", "1", 1);
		execl(self, self, "strict", (char *)NULL);
		_exit(127);
	}
	REQUIRE(waitpid(child, &status, 0) == child);
	CHECK(WIFEXITED(status));
	CHECK_EQ(WEXITSTATUS(status), 0);
}

int main(int argc, char **argv)
{
	sigset_t all, old;
	pthread_t wd;

	dev_fd = open("/dev/iommu", O_RDWR);
	if (dev_fd < 0) {
		fprintf(stderr, "open(/dev/iommu): %s (run it under "
				"uiommufd-run, or link the shim in)\n",
			strerror(errno));
		return 1;
	}
	/* Signals sent to the process must reach this thread. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	pthread_create(&wd, NULL, watchdog, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (argc > 1 && !strcmp(argv[1], "strict")) {
		RUN(test_strict_fds);
		HARNESS_EXIT();
	}
	RUN(test_oldact);
	RUN(test_siginfo_other_process);
	RUN(test_resethand);
	RUN(test_sigio_from_engine);
	RUN(test_rt_under_load);
#ifdef UFD_SHIM_LINKED
	RUN(test_section);
	RUN(test_section_other_process);
	RUN(test_section_resethand);
#endif
	RUN(test_dup2_over_emulated);
	RUN(test_close_range);
	RUN(test_strict_exec);
	close(dev_fd);
	HARNESS_EXIT();
}
