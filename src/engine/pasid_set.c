/* SPDX-License-Identifier: MIT */
/*
 * PASID sets with quotas (issue 11 item 8; the IOASID sets of the seed
 * thread, which the kernel later removed).
 *
 * Model: a set is an object of the context (UFD_OBJ_PASID_SET) with a
 * PASID range [first, last], both ends inclusive, and a quota: at most
 * `quota` PASIDs allocated from it at a time.  The engine has a
 * system-wide capacity besides (eng->pasid_capacity, default
 * UFD_PASID_CAPACITY_DEFAULT): at most that many PASIDs allocated from
 * all the sets of all its contexts.  Either limit reached, or no free
 * PASID left in the range, is -ENOSPC.  A PASID number is allocated at
 * most once per context (across its sets), so "PASID p of this context"
 * names one allocation; allocation takes the lowest free number.  Each
 * set keeps its PASIDs in a sorted array; every allocated PASID is a
 * user of its set, so IOMMU_DESTROY of a set that still has PASIDs is
 * -EBUSY (free them first); closing the context drops everything.
 *
 * Freeing a PASID that a device of the context has attached (through
 * ufd_pasid_set_attach() or the upstream PASID attach) is -EBUSY: detach
 * it first.  ufd_pasid_set_attach() is ufd_device_pasid_attach() that
 * also requires the PASID to be allocated from the named set; the
 * upstream attach is unchanged and ignores sets.
 *
 * Locking: eng->lock, taken by every entry point (it is recursive, so
 * the attach runs the PASID attach under the same hold).
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "engine/engine.h"

struct ufd_pasid_set {
	struct ufd_obj obj; /* UFD_OBJ_PASID_SET */
	uint32_t first, last; /* the range, inclusive */
	uint32_t quota;
	uint32_t nr, cap;   /* allocated; room in ids */
	uint32_t *ids;      /* allocated PASIDs, ascending */
};

static struct ufd_pasid_set *set_find(struct ufd_ctx *ctx, uint32_t id)
{
	struct ufd_obj *obj = obj_find(ctx, id, UFD_OBJ_PASID_SET);

	return obj ? container_of(obj, struct ufd_pasid_set, obj) : NULL;
}

/* Index of @pasid in @set, or where it would go (*found tells). */
static uint32_t set_index(const struct ufd_pasid_set *set, uint32_t pasid,
			  bool *found)
{
	uint32_t lo = 0, hi = set->nr;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (set->ids[mid] < pasid)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = lo < set->nr && set->ids[lo] == pasid;
	return lo;
}

/* Is @pasid allocated from any set of @ctx? */
static bool ctx_has_pasid(struct ufd_ctx *ctx, uint32_t pasid)
{
	uint32_t id;
	bool found;

	for (id = 1; id < ctx->next_unused; id++) {
		struct ufd_obj *obj = ctx->objs[id];

		if (!obj || obj->type != UFD_OBJ_PASID_SET)
			continue;
		set_index(container_of(obj, struct ufd_pasid_set, obj), pasid,
			  &found);
		if (found)
			return true;
	}
	return false;
}

/* Does a device of @ctx have @pasid attached? */
static bool ctx_pasid_attached(struct ufd_ctx *ctx, uint32_t pasid)
{
	uint32_t id;

	for (id = 1; id < ctx->next_unused; id++) {
		struct ufd_obj *obj = ctx->objs[id];

		if (obj && obj->type == UFD_OBJ_DEVICE &&
		    pasid_hwpt_of(container_of(obj, struct ufd_device, obj),
				  pasid))
			return true;
	}
	return false;
}

static uint32_t eng_capacity(const struct ufd_engine *eng)
{
	return eng->pasid_capacity_set ? eng->pasid_capacity :
					 UFD_PASID_CAPACITY_DEFAULT;
}

void pasid_set_destroy_obj(struct ufd_ctx *ctx, struct ufd_obj *obj)
{
	struct ufd_pasid_set *set =
		container_of(obj, struct ufd_pasid_set, obj);

	ctx->eng->pasids_used -= set->nr;
	free(set->ids);
	free(set);
}

int ufd_pasid_set_alloc(struct ufd_ctx *ctx, uint32_t first, uint32_t last,
			uint32_t quota, uint32_t *out_set_id)
{
	struct ufd_pasid_set *set;
	int rc;

	if (first == UFD_NO_PASID || first > last || last > UFD_PASID_MAX ||
	    !quota)
		return -EINVAL;
	set = ufd_zalloc(sizeof(*set));
	if (!set)
		return -ENOMEM;
	set->first = first;
	set->last = last;
	set->quota = quota;
	eng_lock(ctx->eng);
	rc = obj_alloc(ctx, &set->obj, UFD_OBJ_PASID_SET);
	if (!rc) {
		obj_finalize(ctx, &set->obj);
		*out_set_id = set->obj.id;
	}
	eng_unlock(ctx->eng);
	if (rc)
		free(set);
	return rc;
}

/* The lowest PASID in [lo, hi] that no set of @ctx has allocated. */
static int lowest_free(struct ufd_ctx *ctx, uint32_t lo, uint32_t hi,
		       uint32_t *out)
{
	uint32_t p;

	for (p = lo; p <= hi; p++) {
		if (!ctx_has_pasid(ctx, p)) {
			*out = p;
			return 0;
		}
	}
	return -ENOSPC;
}

static int pasid_alloc_locked(struct ufd_ctx *ctx, uint32_t set_id,
			      uint32_t dev_id, uint32_t *out_pasid)
{
	struct ufd_pasid_set *set = set_find(ctx, set_id);
	struct ufd_engine *eng = ctx->eng;
	uint32_t hi, pasid, at;
	bool found;
	int rc;

	if (!set)
		return -ENOENT;
	hi = set->last;
	if (dev_id) {
		struct ufd_device *dev = device_find(ctx, dev_id);
		unsigned int width;

		if (!dev)
			return -ENOENT;
		width = dev->info.max_pasid_log2;
		if (!width)
			return -EINVAL; /* the device has no PASIDs */
		if (width < 32 && hi > (1u << width) - 1)
			hi = (1u << width) - 1;
		if (hi < set->first)
			return -EINVAL; /* no PASID of the set fits it */
	}
	if (set->nr >= set->quota || eng->pasids_used >= eng_capacity(eng))
		return -ENOSPC;
	rc = lowest_free(ctx, set->first, hi, &pasid);
	if (rc)
		return rc;
	if (set->nr == set->cap) {
		uint32_t cap = set->cap ? 2 * set->cap : 8;
		uint32_t *ids;

		if (cap > set->quota)
			cap = set->quota;
		ids = ufd_realloc_array(set->ids, cap, sizeof(*ids));
		if (!ids)
			return -ENOMEM;
		set->ids = ids;
		set->cap = cap;
	}
	at = set_index(set, pasid, &found);
	memmove(&set->ids[at + 1], &set->ids[at],
		(set->nr - at) * sizeof(*set->ids));
	set->ids[at] = pasid;
	set->nr++;
	set->obj.users++;
	eng->pasids_used++;
	*out_pasid = pasid;
	return 0;
}

int ufd_pasid_alloc(struct ufd_ctx *ctx, uint32_t set_id, uint32_t dev_id,
		    uint32_t *out_pasid)
{
	int rc;

	eng_lock(ctx->eng);
	rc = pasid_alloc_locked(ctx, set_id, dev_id, out_pasid);
	eng_unlock(ctx->eng);
	return rc;
}

static int pasid_free_locked(struct ufd_ctx *ctx, uint32_t set_id,
			     uint32_t pasid)
{
	struct ufd_pasid_set *set = set_find(ctx, set_id);
	uint32_t at;
	bool found;

	if (!set)
		return -ENOENT;
	at = set_index(set, pasid, &found);
	if (!found)
		return -ENOENT;
	if (ctx_pasid_attached(ctx, pasid))
		return -EBUSY;
	memmove(&set->ids[at], &set->ids[at + 1],
		(set->nr - at - 1) * sizeof(*set->ids));
	set->nr--;
	set->obj.users--;
	ctx->eng->pasids_used--;
	return 0;
}

int ufd_pasid_free(struct ufd_ctx *ctx, uint32_t set_id, uint32_t pasid)
{
	int rc;

	eng_lock(ctx->eng);
	rc = pasid_free_locked(ctx, set_id, pasid);
	eng_unlock(ctx->eng);
	return rc;
}

int ufd_pasid_set_attach(struct ufd_ctx *ctx, uint32_t set_id,
			 uint32_t dev_id, uint32_t pasid, uint32_t hwpt_id)
{
	struct ufd_pasid_set *set;
	bool found = false;
	int rc;

	eng_lock(ctx->eng);
	set = set_find(ctx, set_id);
	if (set)
		set_index(set, pasid, &found);
	if (!set || !found)
		rc = -ENOENT;
	else
		rc = ufd_device_pasid_attach(ctx, dev_id, pasid, hwpt_id);
	eng_unlock(ctx->eng);
	return rc;
}

int ufd_pasid_set_info(struct ufd_ctx *ctx, uint32_t set_id,
		       struct ufd_pasid_set_info *info)
{
	struct ufd_pasid_set *set;
	int rc = 0;

	eng_lock(ctx->eng);
	set = set_find(ctx, set_id);
	if (!set) {
		rc = -ENOENT;
	} else {
		memset(info, 0, sizeof(*info));
		info->first = set->first;
		info->last = set->last;
		info->quota = set->quota;
		info->allocated = set->nr;
		info->sys_capacity = eng_capacity(ctx->eng);
		info->sys_allocated = ctx->eng->pasids_used;
	}
	eng_unlock(ctx->eng);
	return rc;
}

int ufd_pasid_set_list(struct ufd_ctx *ctx, uint32_t set_id, uint32_t *pasids,
		       uint32_t max, uint32_t *num)
{
	struct ufd_pasid_set *set;
	int rc = 0;

	eng_lock(ctx->eng);
	set = set_find(ctx, set_id);
	if (!set) {
		rc = -ENOENT;
	} else {
		if (pasids && max)
			memcpy(pasids, set->ids,
			       (max < set->nr ? max : set->nr) *
				       sizeof(*pasids));
		*num = set->nr;
	}
	eng_unlock(ctx->eng);
	return rc;
}

int ufd_engine_set_pasid_capacity(struct ufd_engine *eng, uint32_t capacity)
{
	int rc = 0;

	if (capacity > UFD_PASID_MAX)
		return -EINVAL;
	eng_lock(eng);
	if (capacity < eng->pasids_used) {
		rc = -EBUSY;
	} else {
		eng->pasid_capacity = capacity;
		eng->pasid_capacity_set = true;
	}
	eng_unlock(eng);
	return rc;
}

void ufd_engine_pasid_usage(struct ufd_engine *eng, uint32_t *capacity,
			    uint32_t *allocated)
{
	eng_lock(eng);
	*capacity = eng_capacity(eng);
	*allocated = eng->pasids_used;
	eng_unlock(eng);
}

int pasid_set_check(struct ufd_engine *eng)
{
	uint64_t total = 0;
	struct ufd_ctx *ctx;
	int rc = 0;

	for (ctx = eng->ctx_list; ctx; ctx = ctx->next) {
		uint32_t id, i;

		for (id = 1; id < ctx->next_unused; id++) {
			struct ufd_obj *obj = ctx->objs[id];
			struct ufd_pasid_set *set;

			if (!obj || obj->type != UFD_OBJ_PASID_SET)
				continue;
			set = container_of(obj, struct ufd_pasid_set, obj);
			total += set->nr;
			for (i = 0; i != set->nr; i++)
				if (set->ids[i] < set->first ||
				    set->ids[i] > set->last ||
				    (i && set->ids[i - 1] >= set->ids[i]))
					break;
			if (i != set->nr || set->nr > set->quota ||
			    set->obj.users != set->nr) {
				fprintf(stderr,
					"uiommufd: PASID set %u inconsistent\n",
					id);
				rc = -EUCLEAN;
			}
		}
	}
	if (total != eng->pasids_used) {
		fprintf(stderr, "uiommufd: %u PASIDs counted, %" PRIu64
			" in sets\n", eng->pasids_used, total);
		rc = -EUCLEAN;
	}
	return rc;
}
