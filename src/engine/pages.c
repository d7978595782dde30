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
	pages = ufd_cache_zalloc(&eng->pages_cache, sizeof(*pages));
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
	ufd_cache_free(&pages->eng->pages_cache, pages, sizeof(*pages));
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
	user = ufd_cache_zalloc(&pages->eng->pin_cache, sizeof(*user));
	if (!user)
		return -ENOMEM;

	if (itree_empty(&pages->pin_users)) {
		/* The first user (a fresh map): one hole, the whole range. */
		void *host;

		newly = last - first + 1;
		rc = pages_charge(pages, (int64_t)newly);
		if (rc)
			goto err_free;
		rc = pages->src->ops->pin(pages->src, index_uaddr(pages, first),
					  newly << UFD_PAGE_SHIFT,
					  pages->writable, &host);
		if (rc) {
			pages_charge(pages, -(int64_t)newly);
			goto err_free;
		}
		if (!pages->host_known) {
			pages->host_base = (uint64_t)(uintptr_t)host -
					   (first << UFD_PAGE_SHIFT);
			pages->host_known = true;
		}
		goto insert;
	}
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

insert:
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
	ufd_cache_free(&pages->eng->pin_cache, user, sizeof(*user));
	return rc;
}

void pages_unpin(struct ufd_pages *pages, struct pages_pin_user *user)
{
	uint64_t n = user->node.last - user->node.start + 1;

	itree_remove(&pages->pin_users, &user->node);
	if (itree_empty(&pages->pin_users)) {
		/* The last user: its whole range is one hole. */
		pages->src->ops->unpin(pages->src,
				       index_uaddr(pages, user->node.start),
				       n << UFD_PAGE_SHIFT, NULL);
		pages->npinned -= n;
		pages_charge(pages, -(int64_t)n);
	} else {
		unpin_holes(pages, user->node.start, user->node.last);
	}
	ufd_cache_free(&pages->eng->pin_cache, user, sizeof(*user));
}

void pages_pin_user_split(struct ufd_pages *pages,
			  struct pages_pin_user *user, uint64_t last,
			  struct pages_pin_user *rhs)
{
	rhs->writable = user->writable;
	rhs->node.start = last + 1;
	rhs->node.last = user->node.last;
	/* Reinsert: the tree keeps subtree maxima of the ranges. */
	itree_remove(&pages->pin_users, &user->node);
	user->node.last = last;
	itree_insert(&pages->pin_users, &user->node);
	itree_insert(&pages->pin_users, &rhs->node);
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
	bool have_ident = false;
	uint64_t ident = 0;

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
	/* File maps pin the page through the file, not at @uaddr. */
	itree_for_each(n, &eng->all_pages, 0, UINT64_MAX) {
		struct ufd_pages *pages =
			container_of(n, struct ufd_pages, eng_node);
		uint64_t off;

		if (!source_is_file(pages->src) || !pages->npinned)
			continue;
		if (!have_ident) {
			if (src->ops->page_ident(src, uaddr, &ident))
				break;
			have_ident = true;
		}
		if (file_source_find_ident(pages->src, pages->uaddr,
					   pages->npages, ident, &off) &&
		    pages_index_pinned(pages,
				       (off - pages->uaddr) >> UFD_PAGE_SHIFT))
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

uint64_t ufd_engine_vm_pinned_bytes(struct ufd_engine *eng, pid_t pid)
{
	struct itree_node *n;
	uint64_t v = 0;

	eng_lock(eng);
	itree_for_each(n, &eng->all_pages, 0, UINT64_MAX) {
		struct ufd_pages *pages =
			container_of(n, struct ufd_pages, eng_node);

		if (pages->account_mode != UFD_ACCOUNT_NONE &&
		    pages->pid == pid)
			v += pages->npinned << UFD_PAGE_SHIFT;
	}
	eng_unlock(eng);
	return v;
}

int ufd_engine_host_ident(struct ufd_engine *eng, uint64_t host,
			  uint64_t *ident)
{
	struct itree_node *n;
	int rc = -ENOENT;

	eng_lock(eng);
	itree_for_each(n, &eng->all_pages, 0, UINT64_MAX) {
		struct ufd_pages *pages =
			container_of(n, struct ufd_pages, eng_node);
		uint64_t index;

		if (!pages->host_known || host < pages->host_base ||
		    (host - pages->host_base) >> UFD_PAGE_SHIFT >=
			    pages->npages)
			continue;
		index = (host - pages->host_base) >> UFD_PAGE_SHIFT;
		if (!pages_index_pinned(pages, index))
			continue;
		rc = pages->src->ops->host_ident(
			pages->src, (const void *)(uintptr_t)host, ident);
		break;
	}
	eng_unlock(eng);
	return rc;
}

/* Who a pages object is charged to. */
struct pages_owner {
	uid_t uid;
	pid_t pid;
	uint64_t memlock_limit;
};

static void pages_set_owner(struct ufd_pages *pages,
			    const struct pages_owner *o)
{
	pages->uid = o->uid;
	pages->pid = o->pid;
	pages->memlock_limit = o->memlock_limit;
}

/* Move the charge of @pages to @to (its old owner saved in @from). */
static int pages_move_charge(struct ufd_pages *pages,
			     const struct pages_owner *to,
			     struct pages_owner *from)
{
	int rc;

	from->uid = pages->uid;
	from->pid = pages->pid;
	from->memlock_limit = pages->memlock_limit;
	pages_charge(pages, -(int64_t)pages->npinned);
	pages_set_owner(pages, to);
	rc = pages_charge(pages, (int64_t)pages->npinned);
	if (rc) {
		/* The old owner's slot is still there and had room. */
		pages_set_owner(pages, from);
		pages_charge(pages, (int64_t)pages->npinned);
	}
	return rc;
}

int ufd_ctx_change_process(struct ufd_ctx *ctx, const struct ufd_cred *cred)
{
	struct pages_owner to = {
		.uid = cred->uid,
		.pid = cred->pid,
		.memlock_limit = cred->memlock_limit == UINT64_MAX ?
					 UINT64_MAX :
					 cred->memlock_limit >> UFD_PAGE_SHIFT,
	};
	struct ufd_pages **list = NULL, **t;
	struct pages_owner *old = NULL;
	size_t n = 0, cap = 0, i, j;
	uint32_t id;
	int rc = 0;

	eng_lock(ctx->eng);
	for (id = 1; id < ctx->next_unused && !rc; id++) {
		struct ufd_obj *obj = ctx->objs[id];
		struct itree_node *node;

		if (!obj || obj->type != UFD_OBJ_IOAS)
			continue;
		itree_for_each(node, &container_of(obj, struct ufd_ioas, obj)
					      ->iopt.areas,
			       0, UINT64_MAX) {
			struct ufd_area *a =
				container_of(node, struct ufd_area, node);

			if (!source_is_file(a->pages->src)) {
				rc = -EINVAL;
				break;
			}
			for (j = 0; j != n && list[j] != a->pages; j++)
				;
			if (j != n)
				continue;
			if (n == cap) {
				cap = cap ? cap * 2 : 8;
				t = ufd_realloc_array(list, cap, sizeof(*list));
				if (!t) {
					rc = -ENOMEM;
					break;
				}
				list = t;
			}
			list[n++] = a->pages;
		}
	}
	if (!rc && n) {
		old = ufd_calloc(n, sizeof(*old));
		if (!old)
			rc = -ENOMEM;
	}
	for (i = 0; !rc && i != n; i++) {
		rc = pages_move_charge(list[i], &to, &old[i]);
		if (!rc)
			continue;
		/* Give back what moved already, newest first. */
		while (i--) {
			struct pages_owner back;

			pages_move_charge(list[i], &old[i], &back);
		}
		break;
	}
	eng_unlock(ctx->eng);
	free(old);
	free(list);
	return rc;
}
