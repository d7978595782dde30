/* SPDX-License-Identifier: MIT */
/*
 * The hangup watch: a word in memory that tells the daemon's channel
 * threads whether a hangup may have been reported on the daemon's epoll
 * set since it was last drained, so that the release barrier (daemon.c)
 * costs a load instead of an epoll_wait() when nothing was closed.
 *
 * Model.  An io_uring (hupwatch.c) holds one multishot poll of the epoll
 * fd.  The kernel reports a hangup (a file's last close anywhere, a
 * process's exit) inside that close: the epoll set's callback wakes the
 * poll, which queues the ring's deferred task work and, when the queue
 * was empty, sets IORING_SQ_TASKRUN in the ring's sq_flags, all before
 * the close() returns.  That flag stays up until the ring's owner (the
 * release thread, the ring's single issuer: no other thread may enter
 * it) runs the task work, which it does only inside a clear, under the
 * daemon's release_lock, with the watch's clear count odd:
 *
 *   ufd_hupwatch_clear_begin   count odd; run the task work (the flag
 *                              goes down); reap the poll's completions;
 *                              arm it again if it ended
 *   (the caller drains the epoll set: every hangup reported before the
 *    flag went down is processed)
 *   ufd_hupwatch_clear_end     count even
 *
 * ufd_hupwatch_quiet() is true only when the flag is down and no clear
 * is in progress (or was in progress when the flag went down): a request
 * that comes after a close() that reported a hangup then finds either the
 * flag up, or the count odd, or a clear done whose drain saw the hangup.
 * The flag's store (a locked instruction in the kernel) comes before
 * close() returns, and the clear's count store before its system call:
 * the x86-64 order of stores.  Elsewhere, and where io_uring is missing,
 * refused or switched off (UIOMMUFD_HANGUP_WATCH=0), the watch is never
 * quiet and every request drains, as before.
 *
 * No intervals here.  Locking: quiet() and pending() from any thread,
 * lock-free; open, clear_begin and clear_end from the owner thread only,
 * the clears under release_lock.
 */
#ifndef UFD_SERVER_HUPWATCH_H
#define UFD_SERVER_HUPWATCH_H

#include <stdbool.h>
#include <stdint.h>

struct ufd_hupwatch {
	/* Read by every channel thread per request. */
	const uint32_t *sq_flags; /* the kernel's word; NULL: off */
	uint32_t clears;          /* odd: a clear in progress */
	/* The owner's. */
	int ring_fd;
	int epfd;
	void *map;
	size_t map_len, sqes_len;
	uint32_t *sq_tail, *sq_array, sq_mask;
	const uint32_t *cq_tail;
	uint32_t *cq_head, cq_mask;
	void *sqes, *cqes;
	unsigned long rearms; /* times it ended and was armed again */
};

/*
 * Set @w up to watch @epfd, from the thread that will own it.  0, or
 * -errno (the watch is then off: never quiet; @w needs no close).
 */
int ufd_hupwatch_open(struct ufd_hupwatch *w, int epfd);

/* Nothing reported since the last clear, and no clear in progress. */
bool ufd_hupwatch_quiet(const struct ufd_hupwatch *w);

/* Is the flag up (a clear is due)?  False when the watch is off. */
bool ufd_hupwatch_pending(const struct ufd_hupwatch *w);

/* The clear, around a drain of the epoll set (owner, release_lock). */
void ufd_hupwatch_clear_begin(struct ufd_hupwatch *w);
void ufd_hupwatch_clear_end(struct ufd_hupwatch *w);

#endif
