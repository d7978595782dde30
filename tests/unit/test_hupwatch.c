/* SPDX-License-Identifier: MIT */
/*
 * The hangup watch (src/server/hupwatch.c), against an epoll set of
 * socket pairs as the daemon's: quiet while nothing is closed; a last
 * close (of a dup'd end, of a fork child's copy, by a child's exit)
 * makes it not quiet before close() returns (or before waitpid() does);
 * a clear with the drain makes it quiet again; a clear in progress is
 * never quiet; a poll that ended is armed again by the next clear; and
 * UIOMMUFD_HANGUP_WATCH=0 turns it off (never quiet).  On a kernel
 * without what it needs (io_uring, deferred task work: Linux 6.1) the
 * test says so and checks only the off state.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/io_uring.h>

#include "server/hupwatch.h"
#include "harness.h"

#define PAIRS 8

static int epfd;
static struct ufd_hupwatch watch;
static int keep[PAIRS], give[PAIRS];

/* What the daemon's drain does: take every event, stop watching a
 * hung-up socket.  The number of hangups. */
static int drain(void)
{
	struct epoll_event ev[PAIRS];
	int n, i, hups = 0;

	do {
		n = epoll_wait(epfd, ev, PAIRS, 0);
		for (i = 0; i < n; i++) {
			int fd = keep[ev[i].data.u32];

			if (ev[i].events & (EPOLLHUP | EPOLLRDHUP)) {
				epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL);
				hups++;
			}
		}
	} while (n == PAIRS);
	return hups;
}

static int clear(struct ufd_hupwatch *w)
{
	int hups;

	ufd_hupwatch_clear_begin(w);
	CHECK(!ufd_hupwatch_quiet(w)); /* in progress */
	hups = drain();
	ufd_hupwatch_clear_end(w);
	return hups;
}

static void pair(unsigned int i)
{
	int sv[2];
	struct epoll_event ev = { .events = EPOLLRDHUP | EPOLLIN,
				  .data.u32 = i };

	REQUIRE(!socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
	keep[i] = sv[0];
	give[i] = sv[1];
	REQUIRE(!epoll_ctl(epfd, EPOLL_CTL_ADD, keep[i], &ev));
}

static void unpair(unsigned int i)
{
	close(keep[i]);
	if (give[i] >= 0)
		close(give[i]);
	give[i] = -1;
}

/* Rounds of one last close each, in three ways. */
static void test_close_raises(void)
{
	struct ufd_hupwatch *w = &watch;
	unsigned int round;

	for (round = 0; round < 300; round++) {
		unsigned int i = round % PAIRS;
		int d;
		pid_t pid;

		pair(i);
		CHECK_EQ(clear(w), 0);
		CHECK(ufd_hupwatch_quiet(w));
		switch (round % 3) {
		case 0: /* a dup: only the last close reports */
			d = dup(give[i]);
			REQUIRE(d >= 0);
			close(give[i]);
			give[i] = -1;
			CHECK(ufd_hupwatch_quiet(w));
			close(d);
			break;
		case 1: /* a fork child's copy goes last */
			pid = fork();
			REQUIRE(pid >= 0);
			if (!pid) {
				usleep(100);
				_exit(0);
			}
			close(give[i]);
			give[i] = -1;
			CHECK(ufd_hupwatch_quiet(w));
			REQUIRE(waitpid(pid, NULL, 0) == pid);
			break;
		default: /* in this thread */
			close(give[i]);
			give[i] = -1;
			break;
		}
		CHECK(!ufd_hupwatch_quiet(w));
		CHECK(ufd_hupwatch_pending(w));
		CHECK_EQ(clear(w), 1);
		CHECK(ufd_hupwatch_quiet(w));
		CHECK(!ufd_hupwatch_pending(w));
		unpair(i);
		CHECK_EQ(clear(w), 0);
	}
}

/* Several hangups before one clear: all drained by it. */
static void test_many_then_clear(void)
{
	struct ufd_hupwatch *w = &watch;
	unsigned int i;

	for (i = 0; i < PAIRS; i++)
		pair(i);
	CHECK_EQ(clear(w), 0);
	for (i = 0; i < PAIRS; i++) {
		close(give[i]);
		give[i] = -1;
		CHECK(!ufd_hupwatch_quiet(w));
	}
	CHECK_EQ(clear(w), PAIRS);
	CHECK(ufd_hupwatch_quiet(w));
	for (i = 0; i < PAIRS; i++)
		unpair(i);
	clear(w);
}

/* The poll ended (cancelled here, as a full CQ would end it): the next
 * clear arms it again, and a hangup after that raises the flag. */
static void test_rearm(void)
{
	struct ufd_hupwatch *w = &watch;
	uint32_t tail = *w->sq_tail, idx = tail & w->sq_mask;
	struct io_uring_sqe *sqe = (struct io_uring_sqe *)w->sqes + idx;
	unsigned long rearms = w->rearms;

	memset(sqe, 0, sizeof(*sqe));
	sqe->opcode = IORING_OP_POLL_REMOVE;
	sqe->addr = 1; /* the watch's poll */
	sqe->user_data = 2;
	w->sq_array[idx] = idx;
	__atomic_store_n(w->sq_tail, tail + 1, __ATOMIC_RELEASE);
	REQUIRE(syscall(__NR_io_uring_enter, w->ring_fd, 1, 0, 0, NULL, 0) ==
		1);
	clear(w);
	CHECK_EQ(w->rearms, rearms + 1);
	CHECK(ufd_hupwatch_quiet(w));
	pair(0);
	clear(w);
	close(give[0]);
	give[0] = -1;
	CHECK(!ufd_hupwatch_quiet(w));
	CHECK_EQ(clear(w), 1);
	CHECK(ufd_hupwatch_quiet(w));
	unpair(0);
	clear(w);
}

static void test_off(void)
{
	struct ufd_hupwatch w;

	setenv("UIOMMUFD_HANGUP_WATCH", "0", 1);
	CHECK_EQ(ufd_hupwatch_open(&w, epfd), -ENOTSUP);
	unsetenv("UIOMMUFD_HANGUP_WATCH");
	CHECK(!ufd_hupwatch_quiet(&w));
	CHECK(!ufd_hupwatch_pending(&w));
	ufd_hupwatch_clear_begin(&w);
	ufd_hupwatch_clear_end(&w);
	CHECK(!ufd_hupwatch_quiet(&w));
}

int main(void)
{
	unsigned int i;
	int rc;

	for (i = 0; i < PAIRS; i++)
		give[i] = -1;
	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (epfd < 0) {
		perror("epoll_create1");
		return 1;
	}
	RUN(test_off);
	unsetenv("UIOMMUFD_HANGUP_WATCH");
	rc = ufd_hupwatch_open(&watch, epfd);
	if (rc) {
		printf("skip: no hangup watch here (%d): the daemon drains "
		       "per request\n", rc);
		HARNESS_EXIT();
	}
	CHECK(ufd_hupwatch_quiet(&watch));
	RUN(test_close_raises);
	RUN(test_many_then_clear);
	RUN(test_rearm);
	HARNESS_EXIT();
}
