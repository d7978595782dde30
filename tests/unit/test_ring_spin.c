/* SPDX-License-Identifier: MIT */
/*
 * The shared ring's spin adaptation (src/server/ring.c): a wait is
 * measured to when the peer published its work, which a sleeper learns
 * from the kick that woke it, so a slow wake-up never shortens the next
 * spin; a peer that really took long does.  Also: a kick carries the time
 * it was sent, and a spin reads the clock only every few dozen steps (a
 * wait over before its first read is short).  Times are CLOCK_MONOTONIC
 * ns; the budget is the default (UIOMMUFD_SPIN_US unset: 50 us).
 */
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server/ring.h"
#include "server/wire.h"
#include "harness.h"

#define US 1000ull

/* A wait that began at @since on @sp, woken by a kick stamped @kick_ns,
 * is over: the next spin; the kick must have been used up. */
static uint64_t spin_after_kick(struct ufd_ring_spinner *sp, uint64_t since,
				uint64_t kick_ns)
{
	struct ufd_msg k;

	ufd_wire_init(&k, UFD_MSG_RING_KICK);
	k.arg = kick_ns;
	ufd_ring_spin_kicked(sp, &k);
	ufd_ring_spin_done(sp, since);
	CHECK_EQ(sp->kicked_ns, 0);
	return sp->spin_ns;
}

/* A wait that lasted long with no kick (a spin that ran out and a peer
 * that answered late) halves the spin, down to a sixteenth. */
static void test_long_wait_halves(void)
{
	uint64_t budget = ufd_ring_spin_ns();
	struct ufd_ring_spinner sp = { 0 };
	unsigned int i;

	CHECK_EQ(budget, 50 * US);
	ufd_ring_spin_done(&sp, ufd_ring_now_ns() - 4 * budget);
	CHECK_EQ(sp.spin_ns, budget / 2);
	for (i = 0; i != 8; i++)
		ufd_ring_spin_done(&sp, ufd_ring_now_ns() - 4 * budget);
	CHECK_EQ(sp.spin_ns, budget / 16);
	/* A short wait restores the whole budget. */
	ufd_ring_spin_done(&sp, ufd_ring_now_ns());
	CHECK_EQ(sp.spin_ns, 0);
}

/* A spin reads the clock only now and then: a wait that ends before
 * its first look (since still 0) was short and restores the budget; the
 * first look sets since, and the budget runs from there. */
static void test_clock_read_late(void)
{
	uint64_t budget = ufd_ring_spin_ns(), since = 0, t0;
	struct ufd_ring_spinner sp = { .spin_ns = 3 * US };
	unsigned int n = 0, i;

	for (i = 0; i != 31; i++)
		CHECK(ufd_ring_spin_step(&sp, &since, &n));
	CHECK_EQ(since, 0);
	ufd_ring_spin_done(&sp, since);
	CHECK_EQ(sp.spin_ns, 0);

	sp.spin_ns = budget / 16;
	n = 0;
	t0 = ufd_ring_now_ns();
	while (ufd_ring_spin_step(&sp, &since, &n))
		;
	CHECK(since >= t0);
	CHECK(ufd_ring_now_ns() - since >= budget / 16);
	CHECK(n >= 32);
}

/* Slept, and woken long after the peer published: the peer was quick,
 * the whole budget stays (before, the wake-up counted as the peer's). */
static void test_slow_wakeup_keeps_spin(void)
{
	uint64_t budget = ufd_ring_spin_ns(), since;
	struct ufd_ring_spinner sp = { 0 };

	since = ufd_ring_now_ns() - 10 * budget;
	CHECK_EQ(spin_after_kick(&sp, since, since + 2 * US), 0);

	/* From a shortened spin too. */
	sp.spin_ns = budget / 16;
	since = ufd_ring_now_ns() - 10 * budget;
	CHECK_EQ(spin_after_kick(&sp, since, since + 5 * US), 0);
}

/* A kick for work published late in the wait: the peer was slow. */
static void test_late_publish_halves(void)
{
	uint64_t budget = ufd_ring_spin_ns(), since;
	struct ufd_ring_spinner sp = { 0 };

	since = ufd_ring_now_ns() - 10 * budget;
	CHECK_EQ(spin_after_kick(&sp, since, since + 3 * budget), budget / 2);
}

/* A kick stamped before the wait began (one that stayed in the socket)
 * or after it ended (nonsense from a peer) says nothing: the wait is
 * measured to now. */
static void test_stale_or_future_kick_ignored(void)
{
	uint64_t budget = ufd_ring_spin_ns(), since;
	struct ufd_ring_spinner sp = { 0 };

	since = ufd_ring_now_ns() - 10 * budget;
	CHECK_EQ(spin_after_kick(&sp, since, since - 1), budget / 2);

	sp.spin_ns = 0;
	since = ufd_ring_now_ns() - 10 * budget;
	CHECK_EQ(spin_after_kick(&sp, since,
				 ufd_ring_now_ns() + 1000 * budget),
		 budget / 2);

	sp.spin_ns = 0;
	since = ufd_ring_now_ns() - 10 * budget;
	CHECK_EQ(spin_after_kick(&sp, since, UINT64_MAX), budget / 2);
}

/* ufd_ring_kick sends a RING_KICK stamped with the time it was sent. */
static void test_kick_is_stamped(void)
{
	struct ufd_msg m;
	uint64_t t0, t1;
	int sv[2], fd = -1;

	REQUIRE(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) ==
		0);
	t0 = ufd_ring_now_ns();
	CHECK_EQ(ufd_ring_kick(sv[0]), 0);
	t1 = ufd_ring_now_ns();
	CHECK_EQ(ufd_wire_recv(sv[1], &m, &fd, NULL, NULL), 1);
	CHECK_EQ(m.type, UFD_MSG_RING_KICK);
	CHECK_EQ(fd, -1);
	CHECK(m.arg >= t0 && m.arg <= t1);
	close(sv[0]);
	close(sv[1]);
}

int main(void)
{
	unsetenv("UIOMMUFD_SPIN_US");
	RUN(test_long_wait_halves);
	RUN(test_clock_read_late);
	RUN(test_slow_wakeup_keeps_spin);
	RUN(test_late_publish_halves);
	RUN(test_stale_or_future_kick_ignored);
	RUN(test_kick_is_stamped);
	HARNESS_EXIT();
}
