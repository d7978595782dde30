// SPDX-License-Identifier: MIT
/*
 * The shared ring's waiting rules (ring.h has the model), for both ends.
 * No locking: the spin budget is read once and cached atomically.
 */
#include <sched.h>
#include <stdlib.h>

#include "server/ring.h"
#include "server/wire.h"

#define SPIN_DEFAULT_US 50
#define SPIN_MAX_US 100000
/* Steps between two looks at the clock; looks between two yields. */
#define SPIN_CLOCK_EVERY 32
#define SPIN_YIELD_EVERY 8

static uint64_t spin_ns_cached = UINT64_MAX; /* atomic; MAX: unread */

uint64_t ufd_ring_spin_ns(void)
{
	uint64_t ns = __atomic_load_n(&spin_ns_cached, __ATOMIC_RELAXED);
	const char *env;
	char *end;
	unsigned long us;

	if (ns != UINT64_MAX)
		return ns;
	us = SPIN_DEFAULT_US;
	env = getenv("UIOMMUFD_SPIN_US");
	if (env && *env) {
		us = strtoul(env, &end, 10);
		if (*end || us > SPIN_MAX_US)
			us = SPIN_DEFAULT_US;
	}
	ns = (uint64_t)us * 1000;
	__atomic_store_n(&spin_ns_cached, ns, __ATOMIC_RELAXED);
	return ns;
}

bool ufd_ring_spin_step(struct ufd_ring_spinner *sp, uint64_t *since,
			unsigned int *n)
{
	uint64_t now, budget = ufd_ring_spin_ns(), spin;

	spin = sp->spin_ns ? sp->spin_ns : budget;
	if (!spin)
		return false;
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
	if (++*n % SPIN_CLOCK_EVERY)
		return true;
	now = ufd_ring_now_ns();
	if (!*since)
		*since = now; /* the first look: the budget runs from here */
	if (now - *since >= spin)
		return false;
	/* Now and then, let a thread that waits for this CPU have it. */
	if ((*n / SPIN_CLOCK_EVERY) % SPIN_YIELD_EVERY == 0)
		sched_yield();
	return true;
}

void ufd_ring_spin_kicked(struct ufd_ring_spinner *sp,
			  const struct ufd_msg *kick)
{
	sp->kicked_ns = kick->arg;
}

void ufd_ring_spin_done(struct ufd_ring_spinner *sp, uint64_t since)
{
	uint64_t budget = ufd_ring_spin_ns(), spin, now, end;

	if (!since) {
		/* Over before the spin's first look at the clock. */
		sp->kicked_ns = 0;
		sp->spin_ns = 0;
		return;
	}
	now = end = ufd_ring_now_ns();

	/* Woken by a kick: the peer published when it sent it, and the
	 * wake-up after that is this side's cost, not the peer's (a stale
	 * kick, from before this wait, or a time to come says nothing). */
	if (sp->kicked_ns >= since && sp->kicked_ns <= now)
		end = sp->kicked_ns;
	sp->kicked_ns = 0;
	if (end - since <= budget) {
		sp->spin_ns = 0; /* a whole spin would have paid */
		return;
	}
	spin = sp->spin_ns ? sp->spin_ns : budget;
	sp->spin_ns = spin / 2 > budget / 16 ? spin / 2 : budget / 16;
	if (!sp->spin_ns)
		sp->spin_ns = 1; /* a tiny budget: still not "whole" */
}

int ufd_ring_kick(int sock)
{
	struct ufd_msg m;

	ufd_wire_init(&m, UFD_MSG_RING_KICK);
	m.arg = ufd_ring_now_ns();
	return ufd_wire_send(sock, &m, -1);
}
