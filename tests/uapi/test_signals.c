/* SPDX-License-Identifier: MIT */
/*
 * Signal handlers may call async-signal-safe functions (close, dup, ioctl)
 * on emulated files and on others while the interrupted code is itself in
 * the middle of such a call: nothing may deadlock or corrupt state (issue
 * 12, defect a: a handler calling close() used to hang on the shim's fd
 * table lock).  Two threads loop on dup/close/ioctl of an emulated fd and
 * of a pipe while an interval timer fires a handler that does the same.
 * A watchdog turns a hang into a failure.  Run linked, and under the
 * launcher in both modes.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <linux/iommufd.h>

#include "../unit/harness.h"

#define RUN_SECONDS 2
#define WATCHDOG_SECONDS 30

static int dev_fd = -1, pipe_fd[2] = { -1, -1 };
static volatile sig_atomic_t stop;
static unsigned long handler_runs, handler_errors; /* atomic */

/* One IOAS made and destroyed; 0 or -errno. */
static int ioas_cycle(int fd)
{
	struct iommu_ioas_alloc a = { .size = sizeof(a) };
	struct iommu_destroy d = { .size = sizeof(d) };

	if (ioctl(fd, IOMMU_IOAS_ALLOC, &a))
		return -errno;
	d.id = a.out_ioas_id;
	return ioctl(fd, IOMMU_DESTROY, &d) ? -errno : 0;
}

static void on_alarm(int sig)
{
	int saved = errno, d;

	(void)sig;
	d = dup(dev_fd);
	if (d < 0 || ioas_cycle(d) || close(d))
		__atomic_add_fetch(&handler_errors, 1, __ATOMIC_RELAXED);
	d = dup(pipe_fd[0]);
	if (d < 0 || close(d))
		__atomic_add_fetch(&handler_errors, 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&handler_runs, 1, __ATOMIC_RELAXED);
	errno = saved;
}

static void *watchdog(void *arg)
{
	static const char msg[] = "test_signals: hang (deadlock?)\n";

	(void)arg;
	sleep(WATCHDOG_SECONDS);
	if (write(STDERR_FILENO, msg, sizeof(msg) - 1) < 0) {
		/* exiting anyway */
	}
	_exit(3);
	return NULL;
}

/* The load: every call that takes a shim lock, on ours and on others. */
static void *worker(void *arg)
{
	unsigned long *errors = arg;

	while (!stop) {
		int d = dup(dev_fd), p = dup(pipe_fd[1]);

		if (d < 0 || ioas_cycle(d) || close(d))
			(*errors)++;
		if (p < 0 || close(p))
			(*errors)++;
	}
	return NULL;
}

static void test_handlers_under_load(void)
{
	struct sigaction sa;
	struct itimerval it = { { 0, 200 }, { 0, 200 } };
	unsigned long errors[2] = { 0, 0 };
	pthread_t t, wd;
	time_t end;
	sigset_t set;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	sa.sa_flags = SA_RESTART;
	REQUIRE(!sigaction(SIGALRM, &sa, NULL));
	REQUIRE(!pthread_create(&wd, NULL, watchdog, NULL));
	REQUIRE(!pthread_create(&t, NULL, worker, &errors[1]));
	/* The timer's signal reaches this thread only. */
	sigemptyset(&set);
	sigaddset(&set, SIGALRM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	REQUIRE(!setitimer(ITIMER_REAL, &it, NULL));
	end = time(NULL) + RUN_SECONDS;
	while (time(NULL) < end) {
		int d = dup(dev_fd);

		if (d < 0 || ioas_cycle(d) || close(d))
			errors[0]++;
	}
	it.it_value.tv_usec = it.it_interval.tv_usec = 0;
	setitimer(ITIMER_REAL, &it, NULL);
	stop = 1;
	pthread_join(t, NULL);
	CHECK_EQ(errors[0], 0);
	CHECK_EQ(errors[1], 0);
	CHECK_EQ(__atomic_load_n(&handler_errors, __ATOMIC_RELAXED), 0);
	/* The handler really ran during the calls, many times. */
	CHECK(__atomic_load_n(&handler_runs, __ATOMIC_RELAXED) > 100);
	fprintf(stderr, "handler ran %lu times\n",
		__atomic_load_n(&handler_runs, __ATOMIC_RELAXED));
	/* Nothing left behind: the first IOAS ID is free again. */
	CHECK_EQ(ioas_cycle(dev_fd), 0);
}

int main(void)
{
	/* The worker thread must not take the timer's signal. */
	sigset_t set;

	dev_fd = open("/dev/iommu", O_RDWR);
	if (dev_fd < 0 || pipe(pipe_fd)) {
		fprintf(stderr, "open(/dev/iommu): %s (run it under "
				"uiommufd-run, or link the shim in)\n",
			strerror(errno));
		return 1;
	}
	sigemptyset(&set);
	sigaddset(&set, SIGALRM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	RUN(test_handlers_under_load);
	close(dev_fd);
	HARNESS_EXIT();
}
