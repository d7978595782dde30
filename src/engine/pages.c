/* SPDX-License-Identifier: MIT */
/*
 * Pages objects: a page-aligned range of a memory source, pinned on demand
 * and shared by every area that maps any part of it (MAP creates one, COPY
 * shares it), so memory is pinned once and accounted once however many
 * IOAS, domains and accesses use it.
 *
 * Each user of pinned pages (an access pin, later a domain filled from an
 * area) is a node [first, last] of page indexes in pin_users.  A page is
 * pinned while any node covers it: pinning pins only the holes of the
 * existing coverage, unpinning releases only what no other node still
 * covers, so each page is pinned through the source exactly once per pages
 * object.  npinned (pages covered) is what is charged to RLIMIT_MEMLOCK:
 * per user, per process (RLIMIT_MODE 1), or not at all (CAP_IPC_LOCK, or
 * a source that is not memory: no_account).
 *
 * Page indexes count from pages->uaddr; intervals are inclusive.
 * Locking: eng->lock held throughout.
 */
#include <string.h>

#include "engine/engine.h"

static struct ufd_charge *charge_slot(struct ufd_charge **tab, size_t *n,
				      uint64_t key, bool create)
{
	struct ufd_charge *t;
	size_t i;

	for (i = 0; i != *n; i++)
		if ((*tab)[i].key == key)
			return &(*tab)[i];
	if (!create)
		return NULL;
	t = ufd_realloc_array(*tab, *n + 1, sizeof(**tab));
	if (!t)
		return NULL;
	*tab = t;
	t[*n].key = key;
	t[*n].pages = 0;
	return &t[(*n)++];
}

/* Charge (or with a negative count, uncharge) @npages to the owner. */
static int pages_charge(struct ufd_pages *pages, int64_t npages)
{
	struct ufd_engine *eng = pages->eng;
	struct ufd_charge *c;

	switch (pages->account_mode) {
	case UFD_ACCOUNT_NONE:
		return 0;
	case UFD_ACCOUNT_USER:
		c = charge_slot(&eng->user_charge, &eng->n_user_charge,
				pages->uid, npages > 0);
		break;
	case UFD_ACCOUNT_MM:
		c = charge_slot(&eng->pid_charge, &eng->n_pid_charge,
				(uint64_t)pages->pid, npages > 0);
		break;
	default:
		return -EINVAL;
	}
	if (!c)
		return npages > 0 ? -ENOMEM : 0;
	if (npages > 0 && c->pages + (uint64_t)npages > pages->memlock_limit)
		return -ENOMEM;
	c->pages += (uint64_t)npages;
	return 0;
}

int pages_alloc(struct ufd_engine *eng, struct ufd_source *src,
		uint64_t uaddr, uint64_t length, bool writable,
		const struct ufd_cred *cred, enum ufd_account_mode mode,
		struct ufd_pages **out)
{
	struct ufd_pages *pages;
	uint64_t start, end;

	if (!length || length > UINT64_MAX - UFD_PAGE_SIZE)
		return -EINVAL;
	if (__builtin_add_overflow(uaddr, length, &end))
		return -EOVERFLOW;
	if (end > UINT64_MAX - UFD_PAGE_SIZE)
		return -EOVERFLOW;
	pages = ufd_zalloc(sizeof(*pages));
	if (!pages)
		return -ENOMEM;
	start = ALIGN_DOWN_U64(uaddr, UFD_PAGE_SIZE);
	pages->eng = eng;
	pages->src = src;
	pages->refs = 1;
	pages->id = eng->next_pages_id++;
	pages->uaddr = start;
	pages->npages = (end - start + UFD_PAGE_SIZE - 1) >> UFD_PAGE_SHIFT;
	pages->writable = writable;
	pages->account_mode = cred->cap_ipc_lock || src->no_account ?
				     UFD_ACCOUNT_NONE : mode;
	pages->uid = cred->uid;
	pages->pid = src->owner_pid ? src->owner_pid : cred->pid;
	pages->memlock_limit = cred->memlock_limit == UINT64_MAX ?
				       UINT64_MAX :
				       cred->memlock_limit >> UFD_PAGE_SHIFT;
	pages->eng_node.start = start;
	pages->eng_node.last = start + (pages->npages << UFD_PAGE_SHIFT) - 1;
	ufd_source_get(src);
	itree_insert(&eng->all_pages, &pages->eng_node);
	*out = pages;
	return 0;
}

void pages_get(struct ufd_pages *pages)
{
	pages->refs++;
}

void pages_put(struct ufd_pages *pages)
{
	if (--pages->refs)
		return;
	/* Every user must be gone: areas unpin before they drop the ref. */
	itree_remove(&pages->eng->all_pages, &pages->eng_node);
	ufd_source_put(pages->src);
	free(pages);
}

static uint64_t index_uaddr(const struct ufd_pages *pages, uint64_t index)
{
	return pages->uaddr + (index << UFD_PAGE_SHIFT);
}

/* Unpin the holes of the coverage within [first, last] (no user left). */
static void unpin_holes(struct ufd_pages *pages, uint64_t first,
			uint64_t last)
{
	const struct itree *trees[] = { &pages->pin_users };
	struct itree_span sp;
	uint64_t released = 0;

	for (itree_span_first(&sp, trees, 1, first, last); !sp.done;
	     itree_span_next(&sp)) {
		uint64_t n = sp.last - sp.start + 1;

		if (sp.is_used)
			continue;
		pages->src->ops->unpin(pages->src, index_uaddr(pages, sp.start),
				       n << UFD_PAGE_SHIFT, NULL);
		released += n;
	}
	pages->npinned -= released;
	pages_charge(pages, -(int64_t)released);
}

int pages_pin(struct ufd_pages *pages, uint64_t first, uint64_t last,
	      bool writable, struct pages_pin_user **out)
{
	const struct itree *trees[] = { &pages->pin_users };
	struct pages_pin_user *user;
	struct itree_span sp;
	uint64_t newly = 0;
	int rc;

	if (last >= pages->npages || first > last)
		return -EINVAL;
	if (writable && !pages->writable)
		return -EPERM;
	user = ufd_zalloc(sizeof(*user));
	if (!user)
		return -ENOMEM;

	for (itree_span_first(&sp, trees, 1, first, last); !sp.done;
	     itree_span_next(&sp))
		if (!sp.is_used)
			newly += sp.last - sp.start + 1;
	rc = pages_charge(pages, (int64_t)newly);
	if (rc)
		goto err_free;

	for (itree_span_first(&sp, trees, 1, first, last); !sp.done;
	     itree_span_next(&sp)) {
		void *host;

		if (sp.is_used)
			continue;
		rc = pages->src->ops->pin(pages->src,
					  index_uaddr(pages, sp.start),
					  (sp.last - sp.start + 1)
						  << UFD_PAGE_SHIFT,
					  pages->writable, &host);
		if (rc)
			goto err_unpin;
		/* Sources keep one object's pages contiguous for the engine. */
		if (!pages->host_known) {
			pages->host_base = (uint64_t)(uintptr_t)host -
					   (sp.start << UFD_PAGE_SHIFT);
			pages->host_known = true;
		}
	}

	user->node.start = first;
	user->node.last = last;
	user->writable = writable;
	itree_insert(&pages->pin_users, &user->node);
	pages->npinned += newly;
	*out = user;
	return 0;

err_unpin:
	/* Release what this call pinned: the holes before sp.start. */
	if (sp.start > first) {
		uint64_t stop = sp.start - 1;

		for (itree_span_first(&sp, trees, 1, first, stop); !sp.done;
		     itree_span_next(&sp))
			if (!sp.is_used)
				pages->src->ops->unpin(
					pages->src,
					index_uaddr(pages, sp.start),
					(sp.last - sp.start + 1)
						<< UFD_PAGE_SHIFT,
					NULL);
	}
	pages_charge(pages, -(int64_t)newly);
err_free:
	free(user);
	return rc;
}

void pages_unpin(struct ufd_pages *pages, struct pages_pin_user *user)
{
	itree_remove(&pages->pin_users, &user->node);
	unpin_holes(pages, user->node.start, user->node.last);
	free(user);
}

bool pages_index_pinned(struct ufd_pages *pages, uint64_t index)
{
	return itree_iter_first(&pages->pin_users, index, index) != NULL;
}

int pages_rw(struct ufd_pages *pages, uint64_t start_byte, void *buf,
	     size_t length, bool write)
{
	uint64_t uaddr = pages->uaddr + start_byte;

	if (write) {
		if (!pages->writable)
			return -EPERM;
		return pages->src->ops->write(pages->src, uaddr, buf, length);
	}
	return pages->src->ops->read(pages->src, buf, uaddr, length);
}

int ufd_engine_page_pins(struct ufd_engine *eng, struct ufd_source *src,
			 uint64_t uaddr, unsigned int *pins)
{
	struct itree_node *n;
	unsigned int count = 0;

	eng_lock(eng);
	itree_for_each(n, &eng->all_pages, uaddr, uaddr) {
		struct ufd_pages *pages =
			container_of(n, struct ufd_pages, eng_node);

		if (pages->src->space_id != src->space_id)
			continue;
		if (pages_index_pinned(pages,
				       (uaddr - pages->uaddr) >> UFD_PAGE_SHIFT))
			count++;
	}
	eng_unlock(eng);
	*pins = count;
	return 0;
}

static uint64_t charged(struct ufd_charge *tab, size_t n, uint64_t key)
{
	size_t i;

	for (i = 0; i != n; i++)
		if (tab[i].key == key)
			return tab[i].pages << UFD_PAGE_SHIFT;
	return 0;
}

uint64_t ufd_engine_pinned_bytes_user(struct ufd_engine *eng, uid_t uid)
{
	uint64_t v;

	eng_lock(eng);
	v = charged(eng->user_charge, eng->n_user_charge, uid);
	eng_unlock(eng);
	return v;
}

uint64_t ufd_engine_pinned_bytes_pid(struct ufd_engine *eng, pid_t pid)
{
	uint64_t v;

	eng_lock(eng);
	v = charged(eng->pid_charge, eng->n_pid_charge, (uint64_t)pid);
	eng_unlock(eng);
	return v;
}
