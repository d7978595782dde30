/* SPDX-License-Identifier: MIT */
/*
 * Devices and paging HW page tables (HWPTs).
 *
 * A device carries what its IOMMU imposes (aperture, reserved holes, IO
 * page sizes, dirty tracking, PASID width).  A paging HWPT is one domain
 * (an IO page table, engine/pgtable.c) that mirrors one IOAS; attaching a
 * device to an IOAS finds an automatic HWPT of that IOAS the device can
 * use, or makes one, which dies with its last device.  Explicit HWPTs
 * (HWPT_ALLOC) live until IOMMU_DESTROY, refused while devices use them.
 *
 * Attaching to a HWPT puts the device's reserved regions into the IOAS
 * (owner: the device), then runs the domain's own check (a NO_DIRTY
 * device cannot use a dirty-tracking domain: -EINVAL).  A new automatic
 * HWPT is filled from the IOAS first and the device attached after; the
 * errnos are the kernel's, only the order of the work differs.  Replace
 * makes the new attachment before it drops the old one, so an automatic
 * HWPT freed by a replace never shares an ID with the one that replaced
 * it.  PASID attachments (engine/pasid.c) constrain the RID: while one
 * exists, the RID only takes HWPTs made with UFD_HWPT_PASID.
 *
 * Intervals are inclusive.  Locking: eng->lock, taken by the entry points.
 */
#include <string.h>

#include "engine/engine.h"

struct ufd_hwpt *hwpt_find(struct ufd_ctx *ctx, uint32_t id)
{
	struct ufd_obj *obj = obj_find(ctx, id, UFD_OBJ_HWPT_PAGING);

	return obj ? container_of(obj, struct ufd_hwpt, obj) : NULL;
}

struct ufd_hwpt *hwpt_find_any(struct ufd_ctx *ctx, uint32_t id)
{
	struct ufd_obj *obj = obj_find(ctx, id, UFD_OBJ_ANY);

	if (!obj || (obj->type != UFD_OBJ_HWPT_PAGING &&
		     obj->type != UFD_OBJ_HWPT_NESTED))
		return NULL;
	return container_of(obj, struct ufd_hwpt, obj);
}

struct ufd_device *device_find(struct ufd_ctx *ctx, uint32_t id)
{
	struct ufd_obj *obj = obj_find(ctx, id, UFD_OBJ_DEVICE);

	return obj ? container_of(obj, struct ufd_device, obj) : NULL;
}

/* ---- HWPTs ---- */

static void hwpt_unlink(struct ufd_hwpt *hwpt)
{
	struct ufd_hwpt **p;

	for (p = &hwpt->ioas->hwpts; *p; p = &(*p)->ioas_next) {
		if (*p == hwpt) {
			*p = hwpt->ioas_next;
			break;
		}
	}
}

static void hwpt_free(struct ufd_hwpt *hwpt)
{
	/* Detached devices and unmapped areas already kept DMA out. */
	pgt_destroy(&hwpt->domain.pgt);
	free(hwpt);
}

void hwpt_destroy_obj(struct ufd_ctx *ctx, struct ufd_obj *obj)
{
	struct ufd_hwpt *hwpt = container_of(obj, struct ufd_hwpt, obj);

	iopt_remove_domain(&hwpt->ioas->iopt, &hwpt->domain);
	hwpt_unlink(hwpt);
	hwpt->ioas->obj.users--;
	hwpt_free(hwpt);
}

/*
 * A new paging HWPT for @dev mirroring @ioas: allocated (ID taken, not
 * visible), its domain filled from the IOAS.  The caller finalizes it or
 * calls hwpt_abort().
 */
static int hwpt_alloc_sizes(struct ufd_ctx *ctx, struct ufd_device *dev,
			    struct ufd_ioas *ioas, unsigned int flags,
			    uint64_t pgsize_bitmap, struct ufd_hwpt **out)
{
	struct ufd_hwpt *hwpt;
	int rc;

	hwpt = ufd_zalloc(sizeof(*hwpt));
	if (!hwpt)
		return -ENOMEM;
	hwpt->domain.aperture_start = dev->info.aperture_start;
	hwpt->domain.aperture_last = dev->info.aperture_last;
	hwpt->domain.dirty_ops = flags & UFD_HWPT_DIRTY_TRACKING;
	hwpt->nest_parent = flags & UFD_HWPT_NEST_PARENT;
	hwpt->pasid_compat = flags & UFD_HWPT_PASID;
	rc = pgt_init(&hwpt->domain.pgt, pgsize_bitmap,
		      dev->info.aperture_last);
	if (!rc && hwpt->domain.dirty_ops)
		pgt_dirty_enable(&hwpt->domain.pgt);
	/* The sizes the table can have, as IOMMU_IOAS_IOVA_RANGES sees. */
	hwpt->domain.pgsize_bitmap = hwpt->domain.pgt.pgsize_bitmap;
	if (rc) {
		free(hwpt);
		return rc;
	}
	rc = obj_alloc(ctx, &hwpt->obj, UFD_OBJ_HWPT_PAGING);
	if (rc) {
		hwpt_free(hwpt);
		return rc;
	}
	hwpt->ioas = ioas;
	rc = iopt_add_domain(&ioas->iopt, &hwpt->domain);
	if (rc) {
		obj_abort(ctx, &hwpt->obj);
		hwpt_free(hwpt);
		return rc;
	}
	ioas->obj.users++;
	hwpt->ioas_next = ioas->hwpts;
	ioas->hwpts = hwpt;
	*out = hwpt;
	return 0;
}

static int hwpt_alloc(struct ufd_ctx *ctx, struct ufd_device *dev,
		      struct ufd_ioas *ioas, unsigned int flags,
		      struct ufd_hwpt **out)
{
	return hwpt_alloc_sizes(ctx, dev, ioas, flags, dev->info.pgsize_bitmap,
				out);
}

/* Undo hwpt_alloc() of a HWPT that never became visible. */
static void hwpt_abort(struct ufd_ctx *ctx, struct ufd_hwpt *hwpt)
{
	iopt_remove_domain(&hwpt->ioas->iopt, &hwpt->domain);
	hwpt_unlink(hwpt);
	hwpt->ioas->obj.users--;
	obj_abort(ctx, &hwpt->obj);
	hwpt_free(hwpt);
}

/* Drop a device's hold; an automatic HWPT goes with its last device. */
void hwpt_put_device(struct ufd_ctx *ctx, struct ufd_hwpt *hwpt)
{
	hwpt->obj.users--;
	if (hwpt->auto_domain && !hwpt->obj.users)
		obj_destroy(ctx, &hwpt->obj);
}

/* ---- attach, replace, detach ---- */

static int dev_reserve(struct ufd_device *dev, struct ufd_ioas *ioas)
{
	uint32_t i;
	int rc;

	for (i = 0; i != dev->info.nr_reserved; i++) {
		rc = iopt_reserve(&ioas->iopt, dev->info.reserved[i].start,
				  dev->info.reserved[i].last, dev);
		if (rc) {
			iopt_remove_reserved(&ioas->iopt, dev);
			return rc;
		}
	}
	return 0;
}

/* The domain's own check of a device (the driver's attach_dev). */
int hwpt_domain_accepts(const struct ufd_hwpt *hwpt,
			const struct ufd_device *dev)
{
	if (hwpt->domain.dirty_ops && !dev->info.dirty_tracking)
		return -EINVAL;
	return viommu_attach_check(hwpt, dev);
}

/* Attach (@dev->hwpt NULL) or replace onto @hwpt. */
static int do_attach(struct ufd_ctx *ctx, struct ufd_device *dev,
		     struct ufd_hwpt *hwpt)
{
	struct ufd_hwpt *old = dev->hwpt;
	bool same_ioas = old && old->ioas == hwpt->ioas;
	int rc;

	if (old == hwpt)
		return 0;
	rc = pasid_rid_compat(dev, hwpt);
	if (rc)
		return rc;
	if (!same_ioas) {
		rc = dev_reserve(dev, hwpt->ioas);
		if (rc)
			return rc;
	}
	rc = hwpt_domain_accepts(hwpt, dev);
	if (rc) {
		if (!same_ioas)
			iopt_remove_reserved(&hwpt->ioas->iopt, dev);
		return rc;
	}
	hwpt->obj.users++;
	dma_write_begin(ctx->eng);
	dev->hwpt = hwpt;
	dma_write_end(ctx->eng);
	if (old) {
		if (!same_ioas)
			iopt_remove_reserved(&old->ioas->iopt, dev);
		hwpt_put_device(ctx, old);
	}
	return 0;
}

/* Find an automatic HWPT of @ioas that takes @dev, or make one. */
static int auto_attach(struct ufd_ctx *ctx, struct ufd_device *dev,
		       struct ufd_ioas *ioas, uint32_t *pt_id)
{
	struct ufd_hwpt *hwpt;
	int rc;

	for (hwpt = ioas->hwpts; hwpt; hwpt = hwpt->ioas_next) {
		if (!hwpt->auto_domain || !hwpt->obj.visible)
			continue;
		rc = do_attach(ctx, dev, hwpt);
		if (rc == -EINVAL)
			continue;
		if (!rc)
			*pt_id = hwpt->obj.id;
		return rc;
	}
	rc = hwpt_alloc(ctx, dev, ioas, 0, &hwpt);
	if (rc)
		return rc;
	hwpt->auto_domain = true;
	rc = do_attach(ctx, dev, hwpt);
	if (rc) {
		hwpt_abort(ctx, hwpt);
		return rc;
	}
	obj_finalize(ctx, &hwpt->obj);
	*pt_id = hwpt->obj.id;
	return 0;
}

static int change_pt(struct ufd_ctx *ctx, struct ufd_device *dev,
		     uint32_t *pt_id)
{
	struct ufd_obj *obj = obj_find(ctx, *pt_id, UFD_OBJ_ANY);

	if (!obj)
		return -ENOENT;
	switch (obj->type) {
	case UFD_OBJ_IOAS:
		return auto_attach(ctx, dev,
				   container_of(obj, struct ufd_ioas, obj),
				   pt_id);
	case UFD_OBJ_HWPT_PAGING:
	case UFD_OBJ_HWPT_NESTED:
		return do_attach(ctx, dev,
				 container_of(obj, struct ufd_hwpt, obj));
	default:
		return -EINVAL;
	}
}

/* Attach (the device must be detached) or replace (it must be attached). */
static int device_change(struct ufd_ctx *ctx, uint32_t dev_id,
			 uint32_t *pt_id, bool replace)
{
	struct ufd_device *dev;
	int rc;

	eng_lock(ctx->eng);
	dev = device_find(ctx, dev_id);
	if (!dev)
		rc = -ENOENT;
	else if (!!dev->hwpt != replace)
		rc = -EINVAL;
	else
		rc = change_pt(ctx, dev, pt_id);
	eng_unlock(ctx->eng);
	return rc;
}

int ufd_device_attach(struct ufd_ctx *ctx, uint32_t dev_id, uint32_t *pt_id)
{
	return device_change(ctx, dev_id, pt_id, false);
}

int ufd_device_replace(struct ufd_ctx *ctx, uint32_t dev_id, uint32_t *pt_id)
{
	return device_change(ctx, dev_id, pt_id, true);
}

static void device_detach(struct ufd_ctx *ctx, struct ufd_device *dev)
{
	struct ufd_hwpt *hwpt = dev->hwpt;

	if (!hwpt)
		return;
	iopt_remove_reserved(&hwpt->ioas->iopt, dev);
	dma_write_begin(ctx->eng);
	dev->hwpt = NULL;
	dma_write_end(ctx->eng);
	hwpt_put_device(ctx, hwpt);
}

int ufd_device_detach(struct ufd_ctx *ctx, uint32_t dev_id)
{
	struct ufd_device *dev;
	int rc = 0;

	eng_lock(ctx->eng);
	dev = device_find(ctx, dev_id);
	if (!dev)
		rc = -ENOENT;
	else if (!dev->hwpt)
		rc = -EINVAL;
	else
		device_detach(ctx, dev);
	eng_unlock(ctx->eng);
	return rc;
}

/* ---- binding ---- */

static void device_free(struct ufd_device *dev)
{
	free((void *)dev->info.reserved);
	free((void *)dev->info.hw_info);
	free(dev->driver_data);
	free(dev->pasids);
	free(dev);
}

void device_destroy_obj(struct ufd_ctx *ctx, struct ufd_obj *obj)
{
	struct ufd_device *dev = container_of(obj, struct ufd_device, obj);

	pasid_detach_all(ctx, dev);
	device_detach(ctx, dev);
	vdevice_device_gone(ctx, dev);
	fault_free_partial(dev);
	device_free(dev);
}

int ufd_device_bind(struct ufd_ctx *ctx, const struct ufd_device_info *info,
		    uint32_t *out_dev_id)
{
	struct ufd_device *dev;
	int rc;

	if (!info->pgsize_bitmap || info->aperture_start > info->aperture_last)
		return -EINVAL;
	dev = ufd_zalloc(sizeof(*dev));
	if (!dev)
		return -ENOMEM;
	dev->info = *info;
	dev->info.reserved = NULL;
	dev->info.hw_info = NULL;
	if (info->nr_reserved) {
		struct ufd_iova_range *r =
			ufd_calloc(info->nr_reserved, sizeof(*r));

		if (!r) {
			device_free(dev);
			return -ENOMEM;
		}
		memcpy(r, info->reserved, info->nr_reserved * sizeof(*r));
		dev->info.reserved = r;
	}
	if (info->hw_info_len) {
		void *h = ufd_zalloc(info->hw_info_len);

		if (!h) {
			device_free(dev);
			return -ENOMEM;
		}
		memcpy(h, info->hw_info, info->hw_info_len);
		dev->info.hw_info = h;
	}
	if (info->driver_data_size) {
		dev->driver_data = ufd_zalloc(info->driver_data_size);
		if (!dev->driver_data) {
			device_free(dev);
			return -ENOMEM;
		}
	}
	eng_lock(ctx->eng);
	rc = obj_alloc(ctx, &dev->obj, UFD_OBJ_DEVICE);
	if (!rc) {
		dev->obj.internal = true;
		obj_finalize(ctx, &dev->obj);
		*out_dev_id = dev->obj.id;
	}
	eng_unlock(ctx->eng);
	if (rc)
		device_free(dev);
	return rc;
}

int ufd_device_driver_data(struct ufd_ctx *ctx, uint32_t dev_id, void **out)
{
	struct ufd_device *dev;
	int rc = 0;

	eng_lock(ctx->eng);
	dev = device_find(ctx, dev_id);
	if (dev)
		*out = dev->driver_data;
	else
		rc = -ENOENT;
	eng_unlock(ctx->eng);
	return rc;
}

int ufd_device_unbind(struct ufd_ctx *ctx, uint32_t dev_id)
{
	struct ufd_device *dev;
	int rc = 0;

	eng_lock(ctx->eng);
	dev = device_find(ctx, dev_id);
	if (!dev)
		rc = -ENOENT;
	else if (dev->dma_ports || dev->owner)
		rc = -EBUSY; /* a handle owns it: destroy the handle */
	else
		obj_destroy(ctx, &dev->obj);
	eng_unlock(ctx->eng);
	return rc;
}

int ufd_hwpt_alloc_paging(struct ufd_ctx *ctx, uint32_t dev_id,
			  uint32_t ioas_id, unsigned int flags,
			  uint32_t *out_hwpt_id)
{
	return ufd_hwpt_alloc_paging_sizes(ctx, dev_id, ioas_id, flags, 0,
					   out_hwpt_id);
}

int ufd_hwpt_alloc_paging_sizes(struct ufd_ctx *ctx, uint32_t dev_id,
				uint32_t ioas_id, unsigned int flags,
				uint64_t pgsize_bitmap, uint32_t *out_hwpt_id)
{
	struct ufd_device *dev;
	struct ufd_hwpt *hwpt;
	struct ufd_ioas *ioas;
	int rc;

	if (flags & ~(UFD_HWPT_NEST_PARENT | UFD_HWPT_DIRTY_TRACKING |
		      UFD_HWPT_PASID))
		return -EOPNOTSUPP;
	eng_lock(ctx->eng);
	dev = device_find(ctx, dev_id);
	ioas = ioas_find(ctx, ioas_id);
	if (!dev || !ioas) {
		rc = -ENOENT;
		goto out_unlock;
	}
	if ((flags & UFD_HWPT_DIRTY_TRACKING) && !dev->info.dirty_tracking) {
		rc = -EOPNOTSUPP;
		goto out_unlock;
	}
	rc = hwpt_alloc_sizes(ctx, dev, ioas, flags,
			      pgsize_bitmap ? pgsize_bitmap :
					      dev->info.pgsize_bitmap,
			      &hwpt);
	if (rc)
		goto out_unlock;
	obj_finalize(ctx, &hwpt->obj);
	*out_hwpt_id = hwpt->obj.id;
out_unlock:
	eng_unlock(ctx->eng);
	return rc;
}

/* ---- the pre-attach query ---- */

int ufd_device_query_attach(struct ufd_ctx *ctx, uint32_t dev_id,
			    uint32_t ioas_id, struct ufd_iova_range *ranges,
			    uint32_t max, uint32_t *num, uint64_t *alignment)
{
	const struct itree *trees[2];
	struct itree extra = ITREE_INIT;
	struct itree_node *nodes = NULL, *n;
	struct ufd_device *dev;
	struct ufd_ioas *ioas;
	struct itree_span sp;
	unsigned int nn = 0, i;
	uint64_t align;
	uint32_t k = 0;
	int rc = 0;

	eng_lock(ctx->eng);
	dev = device_find(ctx, dev_id);
	ioas = ioas_find(ctx, ioas_id);
	if (!dev || !ioas) {
		rc = -ENOENT;
		goto out;
	}
	/* What attaching would reserve: outside the aperture, the holes. */
	nodes = ufd_calloc(dev->info.nr_reserved + 2, sizeof(*nodes));
	if (!nodes) {
		rc = -ENOMEM;
		goto out;
	}
	if (dev->info.aperture_start) {
		nodes[nn].start = 0;
		nodes[nn++].last = dev->info.aperture_start - 1;
	}
	if (dev->info.aperture_last != UFD_ULONG_MAX) {
		nodes[nn].start = dev->info.aperture_last + 1;
		nodes[nn++].last = UFD_ULONG_MAX;
	}
	for (i = 0; i != dev->info.nr_reserved; i++) {
		nodes[nn].start = dev->info.reserved[i].start;
		nodes[nn++].last = dev->info.reserved[i].last;
	}
	for (i = 0; i != nn; i++)
		itree_insert(&extra, &nodes[i]);

	align = 1ULL << __builtin_ctzll(dev->info.pgsize_bitmap);
	if (align < ioas->iopt.iova_alignment)
		align = ioas->iopt.iova_alignment;
	if (align > UFD_PAGE_SIZE)
		rc = -EINVAL;
	/* A mapping or an allowed range under a new reservation: refused. */
	itree_for_each(n, &extra, 0, UFD_ULONG_MAX) {
		if (!rc && (itree_iter_first(&ioas->iopt.areas, n->start,
					     n->last) ||
			    itree_iter_first(&ioas->iopt.allowed, n->start,
					     n->last)))
			rc = -EADDRINUSE;
	}
	if (!rc) {
		struct ufd_area *area;

		for (area = area_first(&ioas->iopt, 0, UFD_ULONG_MAX); area;
		     area = area_next(area, 0, UFD_ULONG_MAX))
			if ((area_iova(area) | area_length(area) |
			     (area->start_byte % UFD_PAGE_SIZE)) &
			    (align - 1))
				rc = -EADDRINUSE;
	}
	trees[0] = &ioas->iopt.reserved;
	trees[1] = &extra;
	for (itree_span_first(&sp, trees, 2, 0, UFD_ULONG_MAX); !sp.done;
	     itree_span_next(&sp)) {
		if (sp.is_used)
			continue;
		if (k < max) {
			ranges[k].start = sp.start;
			ranges[k].last = sp.last;
		}
		k++;
	}
	*num = k;
	*alignment = align;
out:
	eng_unlock(ctx->eng);
	free(nodes);
	return rc;
}

/* ---- nested HWPTs ---- */

void nested_destroy_obj(struct ufd_ctx *ctx, struct ufd_obj *obj)
{
	struct ufd_hwpt *hwpt = container_of(obj, struct ufd_hwpt, obj);

	hwpt->parent->obj.users--;
	if (hwpt->viommu)
		hwpt->viommu->obj.users--;
	if (hwpt->fault)
		hwpt->fault->obj.users--;
	if (hwpt->nested_ops && hwpt->nested_ops->destroy)
		hwpt->nested_ops->destroy(hwpt->nested_priv);
	stage1_free(hwpt->s1);
	free(hwpt);
}

/*
 * A nested HWPT on parent @pt_id: a NEST_PARENT paging HWPT, or (when
 * @on_viommu) a vIOMMU, whose parent it then shares.
 */
static int nested_alloc(struct ufd_ctx *ctx, uint32_t dev_id,
			uint32_t pt_id, bool on_viommu, uint32_t fault_id,
			unsigned int flags, const struct ufd_nested_ops *ops,
			void *priv, struct ufd_stage1 *s1,
			uint32_t *out_hwpt_id)
{
	struct ufd_viommu *viommu = NULL;
	struct ufd_hwpt *parent, *hwpt;
	struct ufd_fault *fault = NULL;
	int rc;

	hwpt = ufd_zalloc(sizeof(*hwpt));
	if (!hwpt)
		return -ENOMEM;
	eng_lock(ctx->eng);
	if (!device_find(ctx, dev_id)) {
		rc = -ENOENT;
		goto out_free;
	}
	if (on_viommu) {
		viommu = viommu_find(ctx, pt_id);
		parent = viommu ? viommu->hwpt : NULL;
	} else {
		parent = hwpt_find(ctx, pt_id);
	}
	if (!parent) {
		rc = -ENOENT;
		goto out_free;
	}
	if (parent->auto_domain || !parent->nest_parent) {
		rc = -EINVAL;
		goto out_free;
	}
	if (fault_id) {
		fault = fault_find(ctx, fault_id);
		if (!fault) {
			rc = -ENOENT;
			goto out_free;
		}
	}
	rc = obj_alloc(ctx, &hwpt->obj, UFD_OBJ_HWPT_NESTED);
	if (rc)
		goto out_free;
	hwpt->parent = parent;
	hwpt->ioas = parent->ioas;
	hwpt->fault = fault;
	hwpt->nested_ops = ops;
	hwpt->nested_priv = priv;
	hwpt->s1 = s1;
	hwpt->viommu = viommu;
	hwpt->pasid_compat = flags & UFD_HWPT_PASID;
	parent->obj.users++;
	if (viommu)
		viommu->obj.users++;
	if (fault)
		fault->obj.users++;
	obj_finalize(ctx, &hwpt->obj);
	*out_hwpt_id = hwpt->obj.id;
	eng_unlock(ctx->eng);
	return 0;
out_free:
	eng_unlock(ctx->eng);
	free(hwpt);
	return rc;
}

int nested_alloc_on(struct ufd_ctx *ctx, uint32_t dev_id, uint32_t pt_id,
		    bool on_viommu, uint32_t fault_id, unsigned int flags,
		    const struct ufd_nested_ops *ops, void *priv,
		    uint32_t *out_hwpt_id)
{
	if (flags & ~UFD_HWPT_PASID)
		return -EOPNOTSUPP;
	return nested_alloc(ctx, dev_id, pt_id, on_viommu, fault_id, flags,
			    ops, priv, NULL, out_hwpt_id);
}

int ufd_hwpt_alloc_nested(struct ufd_ctx *ctx, uint32_t dev_id,
			  uint32_t parent_id, uint32_t fault_id,
			  const struct ufd_nested_ops *ops, void *priv,
			  uint32_t *out_hwpt_id)
{
	return nested_alloc(ctx, dev_id, parent_id, false, fault_id, 0, ops,
			    priv, NULL, out_hwpt_id);
}

int ufd_hwpt_alloc_nested_flags(struct ufd_ctx *ctx, uint32_t dev_id,
				uint32_t parent_id, uint32_t fault_id,
				unsigned int flags,
				const struct ufd_nested_ops *ops, void *priv,
				uint32_t *out_hwpt_id)
{
	return nested_alloc_on(ctx, dev_id, parent_id, false, fault_id, flags,
			       ops, priv, out_hwpt_id);
}

int ufd_hwpt_alloc_nested_s1(struct ufd_ctx *ctx, uint32_t dev_id,
			     uint32_t parent_id, uint32_t fault_id,
			     uint64_t root_gpa, unsigned int addr_width,
			     uint32_t *out_hwpt_id)
{
	struct ufd_stage1 *s1;
	int rc;

	rc = stage1_alloc(root_gpa, addr_width, &s1);
	if (rc)
		return rc;
	rc = nested_alloc(ctx, dev_id, parent_id, false, fault_id, 0, NULL,
			  NULL, s1, out_hwpt_id);
	if (rc)
		stage1_free(s1);
	return rc;
}

static struct ufd_hwpt *s1_find(struct ufd_ctx *ctx, uint32_t hwpt_id)
{
	struct ufd_obj *obj = obj_find(ctx, hwpt_id, UFD_OBJ_HWPT_NESTED);
	struct ufd_hwpt *hwpt;

	if (!obj)
		return NULL;
	hwpt = container_of(obj, struct ufd_hwpt, obj);
	return hwpt->s1 ? hwpt : NULL;
}

int ufd_hwpt_s1_invalidate(struct ufd_ctx *ctx, uint32_t hwpt_id,
			   uint64_t addr, uint64_t npages)
{
	struct ufd_hwpt *hwpt;

	eng_lock(ctx->eng);
	hwpt = s1_find(ctx, hwpt_id);
	if (hwpt)
		stage1_invalidate(hwpt->s1, addr, npages);
	eng_unlock(ctx->eng);
	return hwpt ? 0 : -ENOENT;
}

int ufd_hwpt_s1_stats(struct ufd_ctx *ctx, uint32_t hwpt_id, uint64_t *hits,
		      uint64_t *misses)
{
	struct ufd_hwpt *hwpt;

	eng_lock(ctx->eng);
	hwpt = s1_find(ctx, hwpt_id);
	if (hwpt)
		stage1_stats(hwpt->s1, hits, misses);
	eng_unlock(ctx->eng);
	return hwpt ? 0 : -ENOENT;
}

int ufd_hwpt_can_nest(struct ufd_ctx *ctx, uint32_t parent_id)
{
	struct ufd_hwpt *parent;
	int rc = 0;

	eng_lock(ctx->eng);
	parent = hwpt_find(ctx, parent_id);
	if (!parent)
		rc = -ENOENT;
	else if (parent->auto_domain || !parent->nest_parent)
		rc = -EINVAL;
	eng_unlock(ctx->eng);
	return rc;
}

int ufd_hwpt_nested_priv(struct ufd_ctx *ctx, uint32_t hwpt_id, void **priv)
{
	struct ufd_obj *obj;
	int rc = 0;

	eng_lock(ctx->eng);
	obj = obj_find(ctx, hwpt_id, UFD_OBJ_HWPT_NESTED);
	if (obj)
		*priv = container_of(obj, struct ufd_hwpt, obj)->nested_priv;
	else
		rc = -ENOENT;
	eng_unlock(ctx->eng);
	return rc;
}

int ufd_device_get_hw_info(struct ufd_ctx *ctx, uint32_t dev_id, void *buf,
			   uint32_t len, struct ufd_hw_info *info)
{
	struct ufd_device *dev;
	int rc = 0;

	eng_lock(ctx->eng);
	dev = device_find(ctx, dev_id);
	if (!dev) {
		rc = -ENOENT;
	} else {
		uint32_t n = len < dev->info.hw_info_len ? len :
							   dev->info.hw_info_len;

		if (n)
			memcpy(buf, dev->info.hw_info, n);
		info->type = dev->info.hw_info_type;
		info->data_len = dev->info.hw_info_len;
		/* Bits of enum iommufd_hw_capabilities. */
		info->capabilities = dev->info.dirty_tracking ? 1 : 0;
		if (dev->info.max_pasid_log2 && dev->info.pasid_exec)
			info->capabilities |= 1 << 1;
		if (dev->info.max_pasid_log2 && dev->info.pasid_priv)
			info->capabilities |= 1 << 2;
		info->max_pasid_log2 = dev->info.max_pasid_log2;
	}
	eng_unlock(ctx->eng);
	return rc;
}

/* The public names of the entry bits ufd_hwpt_translate() reports. */
_Static_assert(UFD_PTE_VALID == PGT_VALID && UFD_PTE_LEAF == PGT_LEAF &&
		       UFD_PTE_READ == PGT_READ && UFD_PTE_WRITE == PGT_WRITE &&
		       UFD_PTE_DIRTY == PGT_DIRTY &&
		       UFD_PTE_ACCESSED == PGT_ACCESSED &&
		       UFD_PTE_INDIRECT == PGT_INDIRECT,
	       "UFD_PTE_* in uiommufd.h differ from PGT_* in engine/pgtable.h");

int ufd_hwpt_translate(struct ufd_ctx *ctx, uint32_t hwpt_id, uint64_t iova,
		       uint64_t *host, uint64_t *leaf_size, uint64_t *flags)
{
	struct ufd_hwpt *hwpt;
	int rc;

	eng_lock(ctx->eng);
	hwpt = hwpt_find(ctx, hwpt_id);
	rc = hwpt ? pgt_translate(&hwpt->domain.pgt, iova, host, leaf_size,
				  flags) :
		    -ENOENT;
	eng_unlock(ctx->eng);
	return rc;
}

int ufd_hwpt_page_sizes(struct ufd_ctx *ctx, uint32_t hwpt_id,
			uint64_t *sizes, uint64_t *counts, unsigned int max,
			unsigned int *n)
{
	struct ufd_hwpt *hwpt;
	unsigned int l, k = 0;

	eng_lock(ctx->eng);
	hwpt = hwpt_find(ctx, hwpt_id);
	if (!hwpt) {
		eng_unlock(ctx->eng);
		return -ENOENT;
	}
	for (l = 0; l != hwpt->domain.pgt.levels; l++) {
		if (!hwpt->domain.pgt.nr_leaves[l])
			continue;
		if (k < max) {
			sizes[k] = pgt_level_size(&hwpt->domain.pgt, l);
			counts[k] = hwpt->domain.pgt.nr_leaves[l];
		}
		k++;
	}
	*n = k;
	eng_unlock(ctx->eng);
	return 0;
}
