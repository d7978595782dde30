/* SPDX-License-Identifier: MIT */
/*
 * Selftest device handles: the object IOMMU_TEST_OP_MOCK_DOMAIN returns as
 * out_stdev_id.  It owns one bound device; destroying the handle
 * (IOMMU_DESTROY) detaches and unbinds the device.  The mock device's
 * parameters (aperture, page sizes, flags) are the dispatch layer's: the
 * engine only provides the object.
 *
 * Locking: eng->lock, taken by the entry points.
 */
#include "engine/engine.h"

struct ufd_stdev {
	struct ufd_obj obj;        /* UFD_OBJ_SELFTEST */
	struct ufd_device *dev;    /* holds a user of it */
};

void mock_destroy_obj(struct ufd_ctx *ctx, struct ufd_obj *obj)
{
	struct ufd_stdev *st = container_of(obj, struct ufd_stdev, obj);

	st->dev->obj.users--;
	obj_destroy(ctx, &st->dev->obj);
	free(st);
}

int ufd_stdev_create(struct ufd_ctx *ctx, const struct ufd_device_info *info,
		     uint32_t *stdev_id, uint32_t *dev_id)
{
	struct ufd_stdev *st;
	uint32_t id;
	int rc;

	st = ufd_zalloc(sizeof(*st));
	if (!st)
		return -ENOMEM;
	rc = ufd_device_bind(ctx, info, &id);
	if (rc) {
		free(st);
		return rc;
	}
	eng_lock(ctx->eng);
	st->dev = device_find(ctx, id);
	rc = obj_alloc(ctx, &st->obj, UFD_OBJ_SELFTEST);
	if (rc) {
		obj_destroy(ctx, &st->dev->obj);
		eng_unlock(ctx->eng);
		free(st);
		return rc;
	}
	st->dev->obj.users++;
	st->dev->owner = &st->obj;
	obj_finalize(ctx, &st->obj);
	*stdev_id = st->obj.id;
	*dev_id = id;
	eng_unlock(ctx->eng);
	return 0;
}

int ufd_stdev_device(struct ufd_ctx *ctx, uint32_t stdev_id, uint32_t *dev_id)
{
	struct ufd_obj *obj;
	int rc = 0;

	eng_lock(ctx->eng);
	obj = obj_find(ctx, stdev_id, UFD_OBJ_SELFTEST);
	if (obj)
		*dev_id = container_of(obj, struct ufd_stdev, obj)->dev->obj.id;
	else
		rc = -ENOENT;
	eng_unlock(ctx->eng);
	return rc;
}
