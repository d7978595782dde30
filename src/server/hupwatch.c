/* SPDX-License-Identifier: MIT */
/*
 * The hangup watch (hupwatch.h has the model and the ordering argument):
 * an io_uring of one multishot poll of the daemon's epoll fd, set up with
 * deferred task work (IORING_SETUP_DEFER_TASKRUN, which needs
 * SINGLE_ISSUER: only the thread that made the ring may enter it) and the
 * task-run flag (IORING_SETUP_TASKRUN_FLAG), so that a wake of the poll
 * raises a word in the ring's shared memory and nothing runs until the
 * owner asks.  The ring is driven with the raw system calls: it carries
 * one request, and the word the watch reads is the kernel's sq_flags,
 * which liburing keeps behind its own struct (docs/multiprocess.md, "The
 * release barrier").
 *
 * No interval here.  Locking: see hupwatch.h.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/io_uring.h>

#include "server/hupwatch.h"

#define WATCH_ENTRIES 4u /* the SQ; the CQ is twice that */
#define WATCH_POLL_TAG 1u

static int ring_enter(int fd, unsigned int submit, unsigned int flags)
{
	return (int)syscall(__NR_io_uring_enter, fd, submit, 0, flags, NULL,
			    0);
}

/* Queue and submit the multishot poll of the epoll fd. 0 or -errno. */
static int arm_poll(struct ufd_hupwatch *w)
{
	uint32_t tail = *w->sq_tail, idx = tail & w->sq_mask;
	struct io_uring_sqe *sqe = (struct io_uring_sqe *)w->sqes + idx;
	int rc;

	memset(sqe, 0, sizeof(*sqe));
	sqe->opcode = IORING_OP_POLL_ADD;
	sqe->fd = w->epfd;
	sqe->poll32_events = POLLIN;
	sqe->len = IORING_POLL_ADD_MULTI;
	sqe->user_data = WATCH_POLL_TAG;
	w->sq_array[idx] = idx;
	__atomic_store_n(w->sq_tail, tail + 1, __ATOMIC_RELEASE);
	rc = ring_enter(w->ring_fd, 1, 0);
	if (rc == 1)
		return 0;
	return rc < 0 ? -errno : -EIO;
}

/* Take the poll's completions; false once one says it ended. */
static bool reap(struct ufd_hupwatch *w)
{
	uint32_t head = *w->cq_head;
	uint32_t tail = __atomic_load_n(w->cq_tail, __ATOMIC_ACQUIRE);
	bool more = true;

	for (; head != tail; head++) {
		const struct io_uring_cqe *cqe =
			(const struct io_uring_cqe *)w->cqes +
			(head & w->cq_mask);

		if (cqe->user_data == WATCH_POLL_TAG &&
		    !(cqe->flags & IORING_CQE_F_MORE))
			more = false;
	}
	__atomic_store_n(w->cq_head, head, __ATOMIC_RELEASE);
	return more;
}

static void watch_close(struct ufd_hupwatch *w)
{
	if (w->map)
		munmap(w->map, w->map_len);
	if (w->sqes)
		munmap(w->sqes, w->sqes_len);
	if (w->ring_fd >= 0)
		close(w->ring_fd);
	w->map = w->sqes = NULL;
	w->ring_fd = -1;
}

int ufd_hupwatch_open(struct ufd_hupwatch *w, int epfd)
{
#if defined(__x86_64__)
	struct io_uring_params p;
	const char *env = getenv("UIOMMUFD_HANGUP_WATCH");
	size_t sq_len, cq_len;
	char *m;
	int rc;

	memset(w, 0, sizeof(*w));
	w->ring_fd = -1;
	w->epfd = epfd;
	if (env && !strcmp(env, "0"))
		return -ENOTSUP;
	memset(&p, 0, sizeof(p));
	p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN |
		  IORING_SETUP_TASKRUN_FLAG;
	w->ring_fd = (int)syscall(__NR_io_uring_setup, WATCH_ENTRIES, &p);
	if (w->ring_fd < 0) {
		rc = -errno; /* older than 6.1, io_uring off or filtered */
		w->ring_fd = -1;
		return rc;
	}
	if (!(p.features & IORING_FEAT_SINGLE_MMAP)) {
		watch_close(w);
		return -ENOTSUP;
	}
	sq_len = p.sq_off.array + p.sq_entries * sizeof(uint32_t);
	cq_len = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
	w->map_len = sq_len > cq_len ? sq_len : cq_len;
	m = mmap(NULL, w->map_len, PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_POPULATE, w->ring_fd, IORING_OFF_SQ_RING);
	if (m == MAP_FAILED) {
		w->map = NULL;
		rc = -errno;
		watch_close(w);
		return rc;
	}
	w->map = m;
	w->sqes_len = p.sq_entries * sizeof(struct io_uring_sqe);
	w->sqes = mmap(NULL, w->sqes_len,
		       PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE,
		       w->ring_fd, IORING_OFF_SQES);
	if (w->sqes == MAP_FAILED) {
		w->sqes = NULL;
		rc = -errno;
		watch_close(w);
		return rc;
	}
	w->sq_tail = (uint32_t *)(m + p.sq_off.tail);
	w->sq_mask = *(uint32_t *)(m + p.sq_off.ring_mask);
	w->sq_array = (uint32_t *)(m + p.sq_off.array);
	w->cq_head = (uint32_t *)(m + p.cq_off.head);
	w->cq_tail = (const uint32_t *)(m + p.cq_off.tail);
	w->cq_mask = *(uint32_t *)(m + p.cq_off.ring_mask);
	w->cqes = m + p.cq_off.cqes;
	rc = arm_poll(w);
	if (rc) {
		watch_close(w);
		return rc;
	}
	/* On: requests may now trust the flag. */
	__atomic_store_n(&w->sq_flags, (const uint32_t *)(m + p.sq_off.flags),
			 __ATOMIC_RELEASE);
	return 0;
#else
	/* The ordering argument is x86-64's (hupwatch.h). */
	memset(w, 0, sizeof(*w));
	w->ring_fd = -1;
	w->epfd = epfd;
	return -ENOTSUP;
#endif
}

bool ufd_hupwatch_quiet(const struct ufd_hupwatch *w)
{
	const uint32_t *flags = __atomic_load_n(&w->sq_flags,
						__ATOMIC_ACQUIRE);

	/* The flag first, then the count (hupwatch.h). */
	if (!flags ||
	    (__atomic_load_n(flags, __ATOMIC_ACQUIRE) & IORING_SQ_TASKRUN))
		return false;
	return !(__atomic_load_n(&w->clears, __ATOMIC_ACQUIRE) & 1);
}

bool ufd_hupwatch_pending(const struct ufd_hupwatch *w)
{
	const uint32_t *flags = __atomic_load_n(&w->sq_flags,
						__ATOMIC_ACQUIRE);

	return flags &&
	       (__atomic_load_n(flags, __ATOMIC_ACQUIRE) & IORING_SQ_TASKRUN);
}

void ufd_hupwatch_clear_begin(struct ufd_hupwatch *w)
{
	/* Odd before the flag can go down (a store, then the system call). */
	__atomic_store_n(&w->clears, w->clears + 1, __ATOMIC_SEQ_CST);
	if (!w->sq_flags)
		return;
	/* Runs the deferred task work: the flag goes down, the poll's
	 * completions are posted. */
	if (ring_enter(w->ring_fd, 0, IORING_ENTER_GETEVENTS) < 0 &&
	    errno != EINTR && errno != EAGAIN && errno != EBUSY) {
		/* The flag is no longer known to follow the hangups. */
		__atomic_store_n(&w->sq_flags, NULL, __ATOMIC_RELEASE);
		return;
	}
	if (!reap(w)) {
		/* The poll ended (a full CQ, say): a hangup from now on
		 * raises the flag again, and the drain that follows sees
		 * the ones before. */
		if (arm_poll(w)) {
			__atomic_store_n(&w->sq_flags, NULL, __ATOMIC_RELEASE);
			return;
		}
		w->rearms++;
	}
}

void ufd_hupwatch_clear_end(struct ufd_hupwatch *w)
{
	__atomic_store_n(&w->clears, w->clears + 1, __ATOMIC_RELEASE);
}
