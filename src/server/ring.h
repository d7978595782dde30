/* SPDX-License-Identifier: MIT */
/*
 * The shared ring of a channel (proto.h, "The shared ring"): the waiting
 * rules both ends follow, written once.
 *
 * Model.  Each side publishes work with a store to the ring (the call
 * slot's state, or the post queue's head) and then looks at the other
 * side's "sleeping" word; a side that runs out of work spins for a while
 * (ufd_ring_spin_ns(); UIOMMUFD_SPIN_US in the environment, 0 for never),
 * (shorter after waits that spinning would not have caught: struct
 * ufd_ring_spinner),
 * then stores its "sleeping" word, looks once more for work, and only then
 * blocks in a receive on the channel's socket.  Publishing and announcing
 * are sequentially consistent on both sides (a store followed by a load of
 * the other word: Dekker's pattern), so either the sleeper sees the work
 * or the publisher sees the sleeper and sends it a KICK; a kick that comes
 * when its receiver is awake stays in the socket and is skipped by the
 * next receive.  Spinning yields the CPU now and then, so that a side that
 * is runnable on the same CPU is not starved by its peer's spin.
 *
 * No locking: one call at a time per channel on the client side, one
 * thread per channel in the daemon.
 */
#ifndef UFD_SERVER_RING_H
#define UFD_SERVER_RING_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "server/proto.h"

/* How long a side spins before it sleeps, in ns (read once). */
uint64_t ufd_ring_spin_ns(void);

static inline uint64_t ufd_ring_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Publish a word the peer waits on (seq_cst: see above). */
static inline void ufd_ring_publish(uint32_t *word, uint32_t val)
{
	__atomic_store_n(word, val, __ATOMIC_SEQ_CST);
}

/* Read a word the peer publishes. */
static inline uint32_t ufd_ring_peek(const uint32_t *word)
{
	return __atomic_load_n(word, __ATOMIC_ACQUIRE);
}

/* Read a word the peer publishes, after a publish of ours (Dekker's
 * pattern: a store, then this load, both sequentially consistent). */
static inline uint32_t ufd_ring_peek_sc(const uint32_t *word)
{
	return __atomic_load_n(word, __ATOMIC_SEQ_CST);
}

/* Does the peer sleep (after a publish: send it a kick if so)? */
static inline bool ufd_ring_peer_sleeps(const uint32_t *sleeping)
{
	return __atomic_load_n(sleeping, __ATOMIC_SEQ_CST) != 0;
}

/* Before sleeping: say so; then look for work once more. */
static inline void ufd_ring_announce_sleep(uint32_t *sleeping, bool on)
{
	__atomic_store_n(sleeping, on ? 1u : 0u, __ATOMIC_SEQ_CST);
}

/*
 * How long one waiter spins: adapted to how long its waits take.  A wait
 * that ended within the whole budget (spinning, or asleep but soon enough
 * that a whole spin would have caught it) restores the whole budget; a
 * longer one halves the next spin (down to a sixteenth of the budget, so
 * that a short spin now and then still tells whether spinning pays).  A
 * waiter that its peer keeps busy spins; one whose peer is mostly away
 * barely does, and burns no CPU a loaded machine needs.  Owned by one
 * waiter: no lock.
 *
 * A wait is measured to when the peer published the work, not to when
 * the waiter noticed: a waiter that slept learns the former from the kick
 * that woke it (its arg: the sender's CLOCK_MONOTONIC ns, taken after the
 * publish).  Otherwise a slow wake-up (on a virtual machine, tens of
 * microseconds to wake an idle vCPU) would count as a slow peer, halve the
 * spin, make the next wait a sleep too, and lock both sides into paying a
 * wake-up per call although every answer came in microseconds.
 */
struct ufd_ring_spinner {
	uint64_t spin_ns; /* 0: not started (the whole budget) */
	uint64_t kicked_ns; /* the last kick's publish time, 0: none */
};

/*
 * One step of a spin: false once the spin is over and the caller should
 * sleep.  *@n counts the steps.  The clock is read only every few dozen
 * steps (a read costs about what a short wait does); *@since is 0 until
 * the first read, which sets it: the spin's budget runs from there, and a
 * wait that ends before it (0 at ufd_ring_spin_done) read no clock and was
 * short.
 */
bool ufd_ring_spin_step(struct ufd_ring_spinner *sp, uint64_t *since,
			unsigned int *n);

/* The waiter slept and received @kick (a RING_KICK message). */
void ufd_ring_spin_kicked(struct ufd_ring_spinner *sp,
			  const struct ufd_msg *kick);

/* The wait that started at @since is over: adapt @sp's next spin (0: a
 * wait that ended before its spin looked at the clock, a short one). */
void ufd_ring_spin_done(struct ufd_ring_spinner *sp, uint64_t since);

/* Send a KICK on @sock (the peer sleeps), stamped with the time. */
int ufd_ring_kick(int sock);

#endif
