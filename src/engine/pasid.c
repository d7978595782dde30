/* SPDX-License-Identifier: MIT */
/*
 * PASID attachments of a device.
 *
 * Model: besides its RID attachment (dev->hwpt, device.c), a device whose
 * IOMMU has max_pasid_log2 > 0 keeps an unordered array of (PASID, HWPT)
 * pairs, one per attached PASID; each pair holds a user of its HWPT, so
 * the HWPT cannot be destroyed under it (-EBUSY).  A HWPT serves PASIDs
 * only if it was made with UFD_HWPT_PASID (pasid_compat), and the RID and
 * the PASIDs must agree: a PASID attaches only while the RID is detached
 * or on a pasid_compat HWPT, and the RID moves to a HWPT without
 * pasid_compat only while no PASID is attached (pasid_rid_compat(), which
 * device.c asks).  A PASID attachment reserves no IOVA (the kernel puts
 * reserved regions in for the RID only) and never uses an automatic HWPT
 * (naming an IOAS is -EINVAL).  The checks come in the kernel's order; the
 * driver's set_dev_pasid hook runs after all of them, so a refusal
 * leaves everything as it was.  Detaching a PASID that is not attached is
 * a no-op, as the kernel's iommufd_device_detach() is.
 *
 * PASIDs are the numbers [1, 2^max_pasid_log2 - 1], both ends inclusive;
 * 0 (UFD_NO_PASID) is the RID, which the entry points here refuse except
 * ufd_device_pasid_hwpt().
 *
 * Locking: eng->lock, taken by the entry points.  The array and the HWPTs
 * in it change inside a DMA write section as well (dma_write_begin/end),
 * as dev->hwpt: a DMA port of a PASID (dma.c) looks its HWPT up in a read
 * section.
 */
#include "engine/engine.h"

static struct ufd_pasid_attach *pasid_find(struct ufd_device *dev,
					   uint32_t pasid)
{
	uint32_t i;

	for (i = 0; i != dev->nr_pasids; i++)
		if (dev->pasids[i].pasid == pasid)
			return &dev->pasids[i];
	return NULL;
}

struct ufd_hwpt *pasid_hwpt_of(struct ufd_device *dev, uint32_t pasid)
{
	struct ufd_pasid_attach *a = pasid_find(dev, pasid);

	return a ? a->hwpt : NULL;
}

int pasid_rid_compat(const struct ufd_device *dev, const struct ufd_hwpt *hwpt)
{
	return !hwpt->pasid_compat && dev->nr_pasids ? -EINVAL : 0;
}

struct ufd_hwpt *pasid_fault_hwpt(struct ufd_device *dev,
				  const struct ufd_pgfault *f)
{
	struct ufd_pasid_attach *a = NULL;

	/*
	 * A PASID without an attachment of its own reports to the RID's
	 * HWPT, as with a driver whose PASID table the user owns.
	 */
	if (f->flags & UFD_PGFAULT_PASID_VALID)
		a = pasid_find(dev, f->pasid);
	return a ? a->hwpt : dev->hwpt;
}

static uint32_t hwpt_id_of(const struct ufd_hwpt *hwpt)
{
	return hwpt ? hwpt->obj.id : 0;
}

/* The driver's word on moving @pasid from @old to @hwpt (NULL: blocked). */
static int driver_set(struct ufd_device *dev, uint32_t pasid,
		      const struct ufd_hwpt *hwpt, const struct ufd_hwpt *old)
{
	if (!dev->info.ops || !dev->info.ops->set_dev_pasid)
		return 0;
	return dev->info.ops->set_dev_pasid(dev->driver_data, pasid,
					    hwpt_id_of(hwpt), hwpt_id_of(old));
}

/* Is @pasid one the device's IOMMU has?  0 is the RID, never a PASID. */
bool pasid_valid(const struct ufd_device *dev, uint32_t pasid)
{
	unsigned int width = dev->info.max_pasid_log2;

	if (pasid == UFD_NO_PASID || !width)
		return false;
	return width >= 32 || pasid < (1u << width);
}

/* What @pasid may be pointed at: a paging or nested HWPT serving PASIDs. */
static int pasid_target(struct ufd_ctx *ctx, const struct ufd_device *dev,
			uint32_t hwpt_id, struct ufd_hwpt **out)
{
	struct ufd_obj *obj = obj_find(ctx, hwpt_id, UFD_OBJ_ANY);
	struct ufd_hwpt *hwpt;

	if (!obj)
		return -ENOENT;
	if (obj->type != UFD_OBJ_HWPT_PAGING && obj->type != UFD_OBJ_HWPT_NESTED)
		return -EINVAL; /* an IOAS: no automatic HWPT for a PASID */
	hwpt = container_of(obj, struct ufd_hwpt, obj);
	if (!hwpt->pasid_compat || (dev->hwpt && !dev->hwpt->pasid_compat))
		return -EINVAL;
	*out = hwpt;
	return 0;
}

/* Lock, find the device, refuse the RID; on success the lock stays held. */
static int pasid_begin(struct ufd_ctx *ctx, uint32_t dev_id, uint32_t pasid,
		       struct ufd_device **out)
{
	eng_lock(ctx->eng);
	*out = device_find(ctx, dev_id);
	if (!*out) {
		eng_unlock(ctx->eng);
		return -ENOENT;
	}
	if (pasid == UFD_NO_PASID) {
		eng_unlock(ctx->eng);
		return -EINVAL;
	}
	return 0;
}

static int pasid_attach(struct ufd_ctx *ctx, struct ufd_device *dev,
			uint32_t pasid, uint32_t hwpt_id)
{
	struct ufd_hwpt *hwpt;
	int rc;

	rc = pasid_target(ctx, dev, hwpt_id, &hwpt);
	if (rc)
		return rc;
	if (pasid_find(dev, pasid))
		return -EBUSY; /* attach never overwrites: replace does */
	if (!pasid_valid(dev, pasid))
		return -EINVAL;
	rc = hwpt_domain_accepts(hwpt, dev);
	if (rc)
		return rc;
	if (dev->nr_pasids == dev->cap_pasids) {
		uint32_t cap = dev->cap_pasids ? 2 * dev->cap_pasids : 4;
		struct ufd_pasid_attach *p;

		/* Growing moves the array: keep DMA walks out. */
		dma_write_begin(ctx->eng);
		p = ufd_realloc_array(dev->pasids, cap, sizeof(*p));
		if (p) {
			dev->pasids = p;
			dev->cap_pasids = cap;
		}
		dma_write_end(ctx->eng);
		if (!p)
			return -ENOMEM;
	}
	rc = driver_set(dev, pasid, hwpt, NULL);
	if (rc)
		return rc;
	hwpt->obj.users++;
	dma_write_begin(ctx->eng);
	dev->pasids[dev->nr_pasids].pasid = pasid;
	dev->pasids[dev->nr_pasids].hwpt = hwpt;
	dev->nr_pasids++;
	dma_write_end(ctx->eng);
	return 0;
}

int ufd_device_pasid_attach(struct ufd_ctx *ctx, uint32_t dev_id,
			    uint32_t pasid, uint32_t hwpt_id)
{
	struct ufd_device *dev;
	int rc;

	rc = pasid_begin(ctx, dev_id, pasid, &dev);
	if (rc)
		return rc;
	rc = pasid_attach(ctx, dev, pasid, hwpt_id);
	eng_unlock(ctx->eng);
	return rc;
}

static int pasid_replace(struct ufd_ctx *ctx, struct ufd_device *dev,
			 uint32_t pasid, uint32_t hwpt_id)
{
	struct ufd_obj *obj = obj_find(ctx, hwpt_id, UFD_OBJ_ANY);
	struct ufd_pasid_attach *a;
	struct ufd_hwpt *hwpt, *old;
	int rc;

	if (!obj)
		return -ENOENT;
	if (obj->type != UFD_OBJ_HWPT_PAGING && obj->type != UFD_OBJ_HWPT_NESTED)
		return -EINVAL;
	a = pasid_find(dev, pasid);
	if (!a)
		return -EINVAL; /* nothing to replace: attach first */
	old = a->hwpt;
	if (&old->obj == obj)
		return 0;
	rc = pasid_target(ctx, dev, hwpt_id, &hwpt);
	if (rc)
		return rc;
	rc = hwpt_domain_accepts(hwpt, dev);
	if (rc)
		return rc;
	rc = driver_set(dev, pasid, hwpt, old);
	if (rc)
		return rc;
	hwpt->obj.users++;
	dma_write_begin(ctx->eng);
	a->hwpt = hwpt;
	dma_write_end(ctx->eng);
	hwpt_put_device(ctx, old);
	return 0;
}

int ufd_device_pasid_replace(struct ufd_ctx *ctx, uint32_t dev_id,
			     uint32_t pasid, uint32_t hwpt_id)
{
	struct ufd_device *dev;
	int rc;

	rc = pasid_begin(ctx, dev_id, pasid, &dev);
	if (rc)
		return rc;
	rc = pasid_replace(ctx, dev, pasid, hwpt_id);
	eng_unlock(ctx->eng);
	return rc;
}

static void pasid_detach(struct ufd_ctx *ctx, struct ufd_device *dev,
			 struct ufd_pasid_attach *a)
{
	struct ufd_hwpt *hwpt = a->hwpt;

	driver_set(dev, a->pasid, NULL, hwpt); /* blocking cannot fail */
	dma_write_begin(ctx->eng);
	*a = dev->pasids[--dev->nr_pasids];
	dma_write_end(ctx->eng);
	hwpt_put_device(ctx, hwpt);
}

int ufd_device_pasid_detach(struct ufd_ctx *ctx, uint32_t dev_id,
			    uint32_t pasid)
{
	struct ufd_pasid_attach *a;
	struct ufd_device *dev;
	int rc;

	rc = pasid_begin(ctx, dev_id, pasid, &dev);
	if (rc)
		return rc;
	a = pasid_find(dev, pasid);
	if (a)
		pasid_detach(ctx, dev, a);
	eng_unlock(ctx->eng);
	return 0;
}

void pasid_detach_all(struct ufd_ctx *ctx, struct ufd_device *dev)
{
	while (dev->nr_pasids)
		pasid_detach(ctx, dev, &dev->pasids[dev->nr_pasids - 1]);
}

int ufd_device_pasid_hwpt(struct ufd_ctx *ctx, uint32_t dev_id,
			  uint32_t pasid, uint32_t *hwpt_id)
{
	struct ufd_pasid_attach *a;
	struct ufd_device *dev;
	int rc = 0;

	eng_lock(ctx->eng);
	dev = device_find(ctx, dev_id);
	if (!dev) {
		rc = -ENOENT;
	} else if (pasid == UFD_NO_PASID) {
		*hwpt_id = hwpt_id_of(dev->hwpt);
	} else {
		a = pasid_find(dev, pasid);
		*hwpt_id = a ? hwpt_id_of(a->hwpt) : 0;
	}
	eng_unlock(ctx->eng);
	return rc;
}
