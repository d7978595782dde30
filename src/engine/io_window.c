// SPDX-License-Identifier: MIT
/*
 * IO windows (uiommufd.h): fake host addresses for sources that are not
 * memory, so that an IOPTE can point at a device's MMIO (peer-to-peer).
 *
 * The model.  Every window is a range [host_start, host_last] of a
 * process-wide address space of its own, far above any real user address
 * (bit 62 set: never dereferenced, the IOPTEs are PGT_INDIRECT), handed
 * out from a bump allocator, 2 MiB aligned, never reused.  The DMA path
 * finds the window of an indirect IOPTE's host address here, takes a
 * reference, and calls its rw op with the engine's DMA lock released.
 *
 * Intervals are [start, last], inclusive.
 *
 * Locking: win_lock (a leaf: nothing is called with it held) guards the
 * tree and the allocator; a window's refs are atomic.
 */
#include <string.h>

#include "engine/engine.h"

#define WIN_SPACE_BASE (1ULL << 62)
#define WIN_ALIGN (2ULL << 20)

struct ufd_io_window {
	struct itree_node node; /* fake host [start, last] */
	const struct ufd_io_window_ops *ops;
	void *priv;
	unsigned int refs;      /* atomic: the owner's, and DMAs' */
	bool listed;            /* win_lock: in the tree */
};

static pthread_mutex_t win_lock = PTHREAD_MUTEX_INITIALIZER;
static struct itree windows;              /* win_lock */
static uint64_t win_next = WIN_SPACE_BASE; /* win_lock */

int ufd_io_window_add(uint64_t len, const struct ufd_io_window_ops *ops,
		      void *priv, struct ufd_io_window **out,
		      uint64_t *host_base)
{
	struct ufd_io_window *w;
	uint64_t size;

	if (!len || len > (1ULL << 48))
		return -EINVAL;
	size = (len + WIN_ALIGN - 1) & ~(WIN_ALIGN - 1);
	w = ufd_zalloc(sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->ops = ops;
	w->priv = priv;
	w->refs = 1;
	pthread_mutex_lock(&win_lock);
	if (win_next + size < win_next || win_next + size > (1ULL << 63)) {
		pthread_mutex_unlock(&win_lock);
		free(w);
		return -ENOMEM;
	}
	w->node.start = win_next;
	w->node.last = win_next + size - 1;
	win_next += size;
	itree_insert(&windows, &w->node);
	w->listed = true;
	pthread_mutex_unlock(&win_lock);
	*host_base = w->node.start;
	*out = w;
	return 0;
}

static void window_put(struct ufd_io_window *w)
{
	if (__atomic_sub_fetch(&w->refs, 1, __ATOMIC_ACQ_REL))
		return;
	if (w->ops->free)
		w->ops->free(w->priv);
	free(w);
}

void ufd_io_window_remove(struct ufd_io_window *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&win_lock);
	if (w->listed) {
		itree_remove(&windows, &w->node);
		w->listed = false;
	}
	pthread_mutex_unlock(&win_lock);
	window_put(w);
}

int io_window_rw(uint64_t host, void *buf, size_t len, bool write)
{
	struct ufd_io_window *w = NULL;
	struct itree_node *n;
	uint64_t off;
	int rc;

	pthread_mutex_lock(&win_lock);
	n = itree_iter_first(&windows, host, host);
	if (n && len - 1 <= n->last - host) {
		w = container_of(n, struct ufd_io_window, node);
		__atomic_add_fetch(&w->refs, 1, __ATOMIC_RELAXED);
	}
	pthread_mutex_unlock(&win_lock);
	if (!w)
		return -EFAULT;
	off = host - w->node.start;
	rc = w->ops->rw(w->priv, off, buf, len, write);
	window_put(w);
	return rc;
}
