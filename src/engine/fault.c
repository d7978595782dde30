/* SPDX-License-Identifier: MIT */
/*
 * IO page fault queues (IOMMU_FAULT_QUEUE_ALLOC).  A device reports page
 * requests; those of one group (grpid) gather on the device until the one
 * marked LAST_PAGE arrives, then the whole group is queued on the fault
 * object of the HWPT the device is attached to (at the request's PASID
 * if that PASID is attached, else at the RID).  Readers take whole
 * groups, oldest first; each delivered group gets a cookie (the lowest
 * free, from 1) and waits in the response table until the user answers
 * it.  A queue's fd holds a user, so the queue cannot be destroyed while
 * it is open.  Closing the context frees whatever is left.
 *
 * Locking: eng->lock, taken by the entry points.
 */
#include <string.h>

#include "engine/engine.h"

struct ufd_fault *fault_find(struct ufd_ctx *ctx, uint32_t id)
{
	struct ufd_obj *obj = obj_find(ctx, id, UFD_OBJ_FAULT);

	return obj ? container_of(obj, struct ufd_fault, obj) : NULL;
}

static void group_free(struct ufd_fault_group *g)
{
	free(g->recs);
	free(g);
}

static void groups_free(struct ufd_fault_group *g)
{
	while (g) {
		struct ufd_fault_group *next = g->next;

		group_free(g);
		g = next;
	}
}

void fault_destroy_obj(struct ufd_ctx *ctx, struct ufd_obj *obj)
{
	struct ufd_fault *fault = container_of(obj, struct ufd_fault, obj);

	groups_free(fault->deliver);
	groups_free(fault->responses);
	free(fault);
}

void fault_free_partial(struct ufd_device *dev)
{
	groups_free(dev->partial);
	dev->partial = NULL;
}

int ufd_fault_alloc(struct ufd_ctx *ctx, uint32_t *out_fault_id)
{
	struct ufd_fault *fault;
	int rc;

	fault = ufd_zalloc(sizeof(*fault));
	if (!fault)
		return -ENOMEM;
	fault->deliver_tail = &fault->deliver;
	eng_lock(ctx->eng);
	rc = obj_alloc(ctx, &fault->obj, UFD_OBJ_FAULT);
	if (!rc) {
		obj_finalize(ctx, &fault->obj);
		*out_fault_id = fault->obj.id;
	}
	eng_unlock(ctx->eng);
	if (rc)
		free(fault);
	return rc;
}

int ufd_fault_hold_fd(struct ufd_ctx *ctx, uint32_t fault_id)
{
	struct ufd_fault *fault;

	eng_lock(ctx->eng);
	fault = fault_find(ctx, fault_id);
	if (fault)
		fault->obj.users++;
	eng_unlock(ctx->eng);
	return fault ? 0 : -ENOENT;
}

void ufd_fault_release_fd(struct ufd_ctx *ctx, uint32_t fault_id)
{
	struct ufd_fault *fault;

	eng_lock(ctx->eng);
	fault = fault_find(ctx, fault_id);
	if (fault && fault->obj.users)
		fault->obj.users--;
	eng_unlock(ctx->eng);
}

/* Append @f to the device's partial group @grpid, making it if needed. */
static struct ufd_fault_group *partial_add(struct ufd_device *dev,
					   const struct ufd_pgfault *f)
{
	struct ufd_fault_group *g;
	struct ufd_pgfault *recs;

	for (g = dev->partial; g; g = g->next)
		if (g->recs[0].grpid == f->grpid)
			break;
	if (!g) {
		g = ufd_zalloc(sizeof(*g));
		if (!g)
			return NULL;
		g->next = dev->partial;
		dev->partial = g;
	}
	recs = ufd_realloc_array(g->recs, g->nr + 1, sizeof(*recs));
	if (!recs) {
		if (!g->nr) {
			dev->partial = g->next;
			free(g);
		}
		return NULL;
	}
	g->recs = recs;
	g->recs[g->nr] = *f;
	g->recs[g->nr].dev_id = dev->obj.id;
	g->recs[g->nr].length = 0;
	g->recs[g->nr].cookie = 0;
	g->nr++;
	return g;
}

int ufd_device_report_fault(struct ufd_ctx *ctx, uint32_t dev_id,
			    const struct ufd_pgfault *f)
{
	struct ufd_fault_group *g, **p;
	struct ufd_device *dev;
	struct ufd_fault *fault;
	struct ufd_hwpt *hwpt;
	int rc = 0;

	eng_lock(ctx->eng);
	dev = device_find(ctx, dev_id);
	if (!dev) {
		rc = -ENOENT;
		goto out;
	}
	g = partial_add(dev, f);
	if (!g) {
		rc = -ENOMEM;
		goto out;
	}
	if (!(f->flags & UFD_PGFAULT_LAST_PAGE))
		goto out;
	/* The group is complete: take it off the device. */
	for (p = &dev->partial; *p != g; p = &(*p)->next)
		;
	*p = g->next;
	g->next = NULL;
	hwpt = pasid_fault_hwpt(dev, f);
	fault = hwpt ? hwpt->fault : NULL;
	if (!fault) {
		group_free(g); /* nobody handles it: answered as failed */
		rc = -EOPNOTSUPP;
		goto out;
	}
	*fault->deliver_tail = g;
	fault->deliver_tail = &g->next;
	if (fault->deliver == g && fault->notify)
		fault->notify(fault->notify_arg, true);
out:
	eng_unlock(ctx->eng);
	return rc;
}

/* The lowest cookie from 1 not used by a group awaiting its answer. */
static uint32_t next_cookie(const struct ufd_fault *fault)
{
	uint32_t c = 1;
	const struct ufd_fault_group *g;
	bool used;

	do {
		used = false;
		for (g = fault->responses; g; g = g->next) {
			if (g->cookie == c) {
				used = true;
				c++;
				break;
			}
		}
	} while (used);
	return c;
}

long ufd_fault_read(struct ufd_ctx *ctx, uint32_t fault_id,
		    struct ufd_pgfault *out, size_t max)
{
	struct ufd_fault *fault;
	size_t done = 0;
	long rc = 0;

	eng_lock(ctx->eng);
	fault = fault_find(ctx, fault_id);
	if (!fault) {
		rc = -ENOENT;
		goto out;
	}
	while (fault->deliver) {
		struct ufd_fault_group *g = fault->deliver;
		uint32_t i;

		if (g->nr > max - done) {
			if (!done)
				rc = -EINVAL; /* the first group does not fit */
			break;
		}
		fault->deliver = g->next;
		if (!fault->deliver)
			fault->deliver_tail = &fault->deliver;
		g->cookie = next_cookie(fault);
		for (i = 0; i != g->nr; i++) {
			out[done + i] = g->recs[i];
			out[done + i].cookie = g->cookie;
		}
		done += g->nr;
		g->next = fault->responses;
		fault->responses = g;
	}
	if (done) {
		rc = (long)done;
		if (!fault->deliver && fault->notify)
			fault->notify(fault->notify_arg, false);
	}
out:
	eng_unlock(ctx->eng);
	return rc;
}

int ufd_fault_set_notify(struct ufd_ctx *ctx, uint32_t fault_id,
			 void (*fn)(void *arg, bool pending), void *arg)
{
	struct ufd_fault *fault;

	eng_lock(ctx->eng);
	fault = fault_find(ctx, fault_id);
	if (fault) {
		fault->notify = fn;
		fault->notify_arg = arg;
		if (fn)
			fn(arg, fault->deliver != NULL);
	}
	eng_unlock(ctx->eng);
	return fault ? 0 : -ENOENT;
}

int ufd_fault_respond(struct ufd_ctx *ctx, uint32_t fault_id, uint32_t cookie,
		      uint32_t code)
{
	struct ufd_fault_group **p, *g;
	struct ufd_fault *fault;
	int rc = -EINVAL;

	if (code > 1)
		return -EINVAL;
	eng_lock(ctx->eng);
	fault = fault_find(ctx, fault_id);
	if (!fault) {
		rc = -ENOENT;
		goto out;
	}
	for (p = &fault->responses; (g = *p); p = &g->next) {
		if (g->cookie == cookie) {
			*p = g->next;
			group_free(g);
			rc = 0;
			break;
		}
	}
out:
	eng_unlock(ctx->eng);
	return rc;
}

bool ufd_fault_pending(struct ufd_ctx *ctx, uint32_t fault_id)
{
	struct ufd_fault *fault;
	bool pending;

	eng_lock(ctx->eng);
	fault = fault_find(ctx, fault_id);
	pending = fault && fault->deliver;
	eng_unlock(ctx->eng);
	return pending;
}
