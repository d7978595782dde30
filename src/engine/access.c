/* SPDX-License-Identifier: MIT */
/*
 * Access objects: an in-process user of an IOAS, the way an emulated
 * device (or the kernel's mdev drivers) reaches IOVA without a domain.  It
 * reads and writes IOVA on live memory, or pins IOVA ranges to reach them
 * directly.  Each pin is a record [iova, last] in access->pins holding one
 * pin user per area it crosses; the areas count the pins that cross them
 * (num_accesses) so unmap knows to call the access's unmap op first.
 *
 * The access is "internal" in the object table: IOMMU_DESTROY refuses it
 * (-EBUSY); its owner destroys it (the selftest: closing its fd).
 * Intervals are inclusive.  Locking: eng->lock, taken here; the unmap op
 * is called with it held and may call back in (the lock is recursive).
 */
#include <string.h>

#include "engine/engine.h"

struct access_pin {
	struct itree_node node; /* [iova, last] */
	unsigned int nr;
	struct access_pin_part {
		struct ufd_area *area;
		struct pages_pin_user *user;
	} parts[];
};

static struct ufd_access *access_find(struct ufd_ctx *ctx, uint32_t id)
{
	struct ufd_obj *obj = obj_find(ctx, id, UFD_OBJ_ACCESS);

	return obj ? container_of(obj, struct ufd_access, obj) : NULL;
}

static void access_pin_release(struct ufd_access *access,
			       struct access_pin *pin)
{
	unsigned int i;

	itree_remove(&access->pins, &pin->node);
	for (i = 0; i != pin->nr; i++) {
		pages_unpin(pin->parts[i].area->pages, pin->parts[i].user);
		pin->parts[i].area->num_accesses--;
	}
	free(pin);
}

static void access_detach(struct ufd_access *access)
{
	if (!access->ioas)
		return;
	iopt_remove_access(&access->ioas->iopt, access);
	access->ioas->obj.users--;
	access->ioas = NULL;
}

static int access_attach(struct ufd_ctx *ctx, struct ufd_access *access,
			 uint32_t ioas_id)
{
	struct ufd_ioas *ioas = ioas_find(ctx, ioas_id);
	int rc;

	if (!ioas)
		return -ENOENT;
	rc = iopt_add_access(&ioas->iopt, access);
	if (rc)
		return rc;
	ioas->obj.users++;
	access->ioas = ioas;
	return 0;
}

void access_destroy_obj(struct ufd_ctx *ctx, struct ufd_obj *obj)
{
	struct ufd_access *access = container_of(obj, struct ufd_access, obj);
	struct itree_node *n;

	/* An owner that forgot its pins: release them for it. */
	while ((n = itree_iter_first(&access->pins, 0, UFD_ULONG_MAX)))
		access_pin_release(access,
				   container_of(n, struct access_pin, node));
	access_detach(access);
	if (access->ops && access->ops->destroy)
		access->ops->destroy(access->priv);
	free(access);
}

int ufd_access_create(struct ufd_ctx *ctx, uint32_t ioas_id,
		      const struct ufd_access_ops *ops, void *priv,
		      uint32_t *out_access_id)
{
	struct ufd_access *access;
	int rc;

	access = ufd_zalloc(sizeof(*access));
	if (!access)
		return -ENOMEM;
	access->ctx = ctx;
	access->ops = ops;
	access->priv = priv;
	access->iova_alignment = ops && ops->unmap ? UFD_PAGE_SIZE : 1;

	eng_lock(ctx->eng);
	rc = obj_alloc(ctx, &access->obj, UFD_OBJ_ACCESS);
	if (rc)
		goto out_free;
	access->obj.internal = true;
	rc = access_attach(ctx, access, ioas_id);
	if (rc) {
		obj_abort(ctx, &access->obj);
		goto out_free;
	}
	obj_finalize(ctx, &access->obj);
	*out_access_id = access->obj.id;
	eng_unlock(ctx->eng);
	return 0;

out_free:
	eng_unlock(ctx->eng);
	free(access);
	return rc;
}

void ufd_access_destroy(struct ufd_ctx *ctx, uint32_t access_id)
{
	struct ufd_access *access;

	eng_lock(ctx->eng);
	access = access_find(ctx, access_id);
	if (access)
		obj_destroy(ctx, &access->obj);
	eng_unlock(ctx->eng);
}

int ufd_access_get_priv(struct ufd_ctx *ctx, uint32_t access_id, void **priv)
{
	struct ufd_access *access;

	eng_lock(ctx->eng);
	access = access_find(ctx, access_id);
	if (access)
		*priv = access->priv;
	eng_unlock(ctx->eng);
	return access ? 0 : -ENOENT;
}

int ufd_access_replace_ioas(struct ufd_ctx *ctx, uint32_t access_id,
			    uint32_t ioas_id)
{
	struct ufd_access *access;
	struct ufd_ioas *old;
	int rc;

	eng_lock(ctx->eng);
	access = access_find(ctx, access_id);
	if (!access) {
		rc = -ENOENT;
		goto out_unlock;
	}
	if (!ioas_find(ctx, ioas_id)) {
		rc = -ENOENT;
		goto out_unlock;
	}
	old = access->ioas;
	if (old && old->obj.id == ioas_id) {
		rc = 0;
		goto out_unlock;
	}
	/* The owner drops its pins of the old IOAS first (kernel order). */
	if (old && access->ops && access->ops->unmap)
		access->ops->unmap(access->priv, 0, UFD_ULONG_MAX);
	if (!itree_empty(&access->pins)) {
		rc = -EBUSY;
		goto out_unlock;
	}
	access_detach(access);
	rc = access_attach(ctx, access, ioas_id);
	if (rc && old)
		access_attach(ctx, access, old->obj.id); /* cannot fail */
out_unlock:
	eng_unlock(ctx->eng);
	return rc;
}

static bool contig_aligned(const struct iopt_contig_iter *it,
			   const struct ufd_area *area, uint64_t first_iova)
{
	/* Pages handed out must be whole: joins between areas on pages. */
	if (it->cur_iova != first_iova &&
	    (area_start_byte(area, it->cur_iova) % UFD_PAGE_SIZE))
		return false;
	if (area_last_iova(area) < it->last_iova &&
	    ((area_start_byte(area, area_last_iova(area)) + 1) %
	     UFD_PAGE_SIZE))
		return false;
	return true;
}

int ufd_access_pin(struct ufd_ctx *ctx, uint32_t access_id, uint64_t iova,
		   uint64_t length, bool writable, void **hosts)
{
	struct iopt_contig_iter it;
	struct ufd_access *access;
	struct access_pin *pin = NULL, *grown;
	struct ufd_area *area;
	uint64_t last, nhosts = 0;
	int rc = 0;

	if (!length)
		return -EINVAL;
	if (__builtin_add_overflow(iova, length - 1, &last))
		return -EOVERFLOW;

	eng_lock(ctx->eng);
	access = access_find(ctx, access_id);
	if (!access || !access->ioas) {
		rc = -ENOENT;
		goto out_unlock;
	}
	if (access->iova_alignment != UFD_PAGE_SIZE) {
		rc = -EINVAL; /* created without an unmap op: cannot pin */
		goto out_unlock;
	}
	pin = ufd_zalloc(sizeof(*pin));
	if (!pin) {
		rc = -ENOMEM;
		goto out_unlock;
	}
	iopt_for_each_contig_area(&it, area, &access->ioas->iopt, iova, last) {
		uint64_t l = last < area_last_iova(area) ? last :
							   area_last_iova(area);
		uint64_t first_index = area_index(area, it.cur_iova);
		uint64_t last_index = area_index(area, l);
		struct pages_pin_user *user;
		uint64_t i;

		if (area->prevent_access || !contig_aligned(&it, area, iova)) {
			rc = -EINVAL;
			goto err_release;
		}
		if (writable && !(area->prot & UFD_MAP_WRITE)) {
			rc = -EPERM;
			goto err_release;
		}
		grown = ufd_realloc_array(pin, 1,
					  sizeof(*pin) + (pin->nr + 1) *
						  sizeof(pin->parts[0]));
		if (!grown) {
			rc = -ENOMEM;
			goto err_release;
		}
		pin = grown;
		rc = pages_pin(area->pages, first_index, last_index, writable,
			       &user);
		if (rc)
			goto err_release;
		pin->parts[pin->nr].area = area;
		pin->parts[pin->nr].user = user;
		pin->nr++;
		area->num_accesses++;
		for (i = first_index; hosts && i <= last_index; i++)
			hosts[nhosts++] =
				(void *)(uintptr_t)(area->pages->host_base +
						    (i << UFD_PAGE_SHIFT));
	}
	if (!iopt_contig_done(&it)) {
		rc = -ENOENT;
		goto err_release;
	}
	pin->node.start = iova;
	pin->node.last = last;
	itree_insert(&access->pins, &pin->node);
	eng_unlock(ctx->eng);
	return 0;

err_release:
	while (pin->nr) {
		pin->nr--;
		pages_unpin(pin->parts[pin->nr].area->pages,
			    pin->parts[pin->nr].user);
		pin->parts[pin->nr].area->num_accesses--;
	}
	free(pin);
out_unlock:
	eng_unlock(ctx->eng);
	return rc;
}

void ufd_access_unpin(struct ufd_ctx *ctx, uint32_t access_id, uint64_t iova,
		      uint64_t length)
{
	struct ufd_access *access;
	struct itree_node *n;
	uint64_t last = iova + length - 1;

	eng_lock(ctx->eng);
	access = access_find(ctx, access_id);
	if (access && length) {
		itree_for_each(n, &access->pins, iova, last) {
			if (n->start == iova && n->last == last) {
				access_pin_release(
					access,
					container_of(n, struct access_pin,
						     node));
				break;
			}
		}
	}
	eng_unlock(ctx->eng);
}

int ufd_access_rw(struct ufd_ctx *ctx, uint32_t access_id, uint64_t iova,
		  void *buf, size_t length, unsigned int flags)
{
	bool write = flags & UFD_ACCESS_RW_WRITE;
	struct iopt_contig_iter it;
	struct ufd_access *access;
	struct ufd_area *area;
	uint64_t last;
	int rc = 0;

	if (!length)
		return -EINVAL;
	if (__builtin_add_overflow(iova, length - 1, &last))
		return -EOVERFLOW;
	eng_lock(ctx->eng);
	access = access_find(ctx, access_id);
	if (!access || !access->ioas) {
		rc = -ENOENT;
		goto out_unlock;
	}
	iopt_for_each_contig_area(&it, area, &access->ioas->iopt, iova, last) {
		uint64_t l = last < area_last_iova(area) ? last :
							   area_last_iova(area);
		uint64_t bytes = l - it.cur_iova + 1;

		if (area->prevent_access) {
			rc = -EINVAL;
			goto out_unlock;
		}
		if (write ? !(area->prot & UFD_MAP_WRITE) :
			    !(area->prot & UFD_MAP_READ)) {
			rc = -EPERM;
			goto out_unlock;
		}
		rc = pages_rw(area->pages, area_start_byte(area, it.cur_iova),
			      buf, bytes, write);
		if (rc)
			goto out_unlock;
		buf = (char *)buf + bytes;
	}
	if (!iopt_contig_done(&it))
		rc = -ENOENT;
out_unlock:
	eng_unlock(ctx->eng);
	return rc;
}

/*
 * [iova, iova + length) is about to be unmapped: every access of the IOAS
 * with a pin there is told to drop it.
 */
bool access_pins_meet(struct io_pagetable *iopt, uint64_t start,
		      uint64_t last)
{
	unsigned int i;

	for (i = 0; i != iopt->nr_accesses; i++)
		if (itree_iter_first(&iopt->accesses[i]->pins, start, last))
			return true;
	return false;
}

void access_area_split(struct io_pagetable *iopt, struct ufd_area *left,
		       struct ufd_area *right)
{
	unsigned int i, j;

	if (!left->num_accesses)
		return;
	for (i = 0; i != iopt->nr_accesses; i++) {
		struct itree_node *n;

		itree_for_each(n, &iopt->accesses[i]->pins, area_iova(right),
			       area_last_iova(right)) {
			struct access_pin *pin =
				container_of(n, struct access_pin, node);

			for (j = 0; j != pin->nr; j++) {
				if (pin->parts[j].area != left)
					continue;
				pin->parts[j].area = right;
				left->num_accesses--;
				right->num_accesses++;
			}
		}
	}
}

void access_notify_unmap(struct io_pagetable *iopt, uint64_t iova,
			 uint64_t length)
{
	uint64_t last = iova + length - 1;
	unsigned int i;

	for (i = 0; i < iopt->nr_accesses; i++) {
		struct ufd_access *access = iopt->accesses[i];

		if (!itree_iter_first(&access->pins, iova, last))
			continue;
		if (access->ops && access->ops->unmap)
			access->ops->unmap(access->priv, iova, length);
	}
}
