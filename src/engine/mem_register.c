/* SPDX-License-Identifier: MIT */
/*
 * Registered memory (a uiommufd extension; the seed's pre-registration,
 * the "super-container"): a registration is an object of a context that
 * owns one pages object over whole pages of a source and one pin user
 * covering all of it, so the memory is pinned and charged to
 * RLIMIT_MEMLOCK once, when it is registered.  Its pages object is marked
 * `registered` and put in eng->reg_pages (only registrations are there,
 * so a map looks at those alone); a map (pages_for_map) by the same uid,
 * of a source of the same address space (space_id), whose page range lies
 * inside it, takes a reference on that pages object instead of making its
 * own, so its domain and access pins only add users over pages already
 * pinned: no second pin, no second charge, whichever IOAS of whichever
 * context maps it.  The areas using it are the pages object's references
 * beyond the registration's own; while there are any, unregistering (and
 * IOMMU_DESTROY) is -EBUSY.  Closing the context drops the registration
 * regardless: the areas of other contexts keep the pages (and what they
 * pin) alive, no new map finds it.
 *
 * Page indexes and byte ranges are inclusive [first, last] as in pages.c.
 * Locking: eng->lock around every call.
 */
#include <string.h>

#include "engine/engine.h"

struct ufd_mem_reg {
	struct ufd_obj obj; /* UFD_OBJ_MEM_REG */
	struct ufd_pages *pages;
	struct pages_pin_user *pin; /* all of pages */
};

static struct ufd_mem_reg *mem_reg_find(struct ufd_ctx *ctx, uint32_t id)
{
	struct ufd_obj *obj = obj_find(ctx, id, UFD_OBJ_MEM_REG);

	return obj ? container_of(obj, struct ufd_mem_reg, obj) : NULL;
}

int pages_for_map(struct ufd_engine *eng, struct ufd_source *src,
		  uint64_t uaddr, uint64_t length, bool writable,
		  const struct ufd_cred *cred, enum ufd_account_mode mode,
		  struct ufd_pages **out)
{
	struct itree_node *n;
	uint64_t last;

	/* Bad ranges, and files, go the ordinary way (and its errnos). */
	if (!length || __builtin_add_overflow(uaddr, length - 1, &last) ||
	    source_is_file(src))
		return pages_alloc(eng, src, uaddr, length, writable, cred,
				   mode, out);
	itree_for_each(n, &eng->reg_pages, uaddr, last) {
		struct ufd_pages *pages =
			container_of(n, struct ufd_pages, reg_node);

		if (!pages->registered ||
		    pages->src->space_id != src->space_id ||
		    pages->uid != cred->uid || (writable && !pages->writable))
			continue;
		if (uaddr < pages->eng_node.start || last > pages->eng_node.last)
			continue;
		pages_get(pages);
		*out = pages;
		return 0;
	}
	return pages_alloc(eng, src, uaddr, length, writable, cred, mode, out);
}

int ufd_mem_register(struct ufd_ctx *ctx, struct ufd_source *src,
		     uint64_t uaddr, uint64_t length, unsigned int flags,
		     uint32_t *out_id)
{
	struct ufd_mem_reg *reg;
	int rc;

	if (flags & ~UFD_MAP_WRITE)
		return -EOPNOTSUPP;
	if (!src)
		return -EINVAL;
	if (source_is_file(src))
		return -EINVAL;
	reg = ufd_zalloc(sizeof(*reg));
	if (!reg)
		return -ENOMEM;
	eng_lock(ctx->eng);
	rc = pages_alloc(ctx->eng, src, uaddr, length, flags & UFD_MAP_WRITE,
			 &ctx->cred, ctx->account_mode, &reg->pages);
	if (rc)
		goto err_unlock;
	rc = pages_pin(reg->pages, 0, reg->pages->npages - 1,
		       flags & UFD_MAP_WRITE, &reg->pin);
	if (rc)
		goto err_put;
	rc = obj_alloc(ctx, &reg->obj, UFD_OBJ_MEM_REG);
	if (rc)
		goto err_unpin;
	reg->pages->registered = true;
	reg->pages->reg_node.start = reg->pages->eng_node.start;
	reg->pages->reg_node.last = reg->pages->eng_node.last;
	itree_insert(&ctx->eng->reg_pages, &reg->pages->reg_node);
	obj_finalize(ctx, &reg->obj);
	*out_id = reg->obj.id;
	eng_unlock(ctx->eng);
	return 0;

err_unpin:
	pages_unpin(reg->pages, reg->pin);
err_put:
	pages_put(reg->pages);
err_unlock:
	eng_unlock(ctx->eng);
	free(reg);
	return rc;
}

bool mem_reg_busy(struct ufd_obj *obj)
{
	struct ufd_mem_reg *reg = container_of(obj, struct ufd_mem_reg, obj);

	return reg->pages->refs > 1;
}

void mem_reg_destroy_obj(struct ufd_ctx *ctx, struct ufd_obj *obj)
{
	struct ufd_mem_reg *reg = container_of(obj, struct ufd_mem_reg, obj);

	reg->pages->registered = false;
	(void)ctx;
	itree_remove(&reg->pages->eng->reg_pages, &reg->pages->reg_node);
	pages_unpin(reg->pages, reg->pin);
	pages_put(reg->pages);
	free(reg);
}

int ufd_mem_unregister(struct ufd_ctx *ctx, uint32_t reg_id)
{
	struct ufd_mem_reg *reg;
	int rc = 0;

	eng_lock(ctx->eng);
	reg = mem_reg_find(ctx, reg_id);
	if (!reg)
		rc = -ENOENT;
	else if (mem_reg_busy(&reg->obj))
		rc = -EBUSY;
	else
		obj_destroy(ctx, &reg->obj);
	eng_unlock(ctx->eng);
	return rc;
}

int ufd_mem_reg_info(struct ufd_ctx *ctx, uint32_t reg_id,
		     struct ufd_mem_reg_info *info)
{
	struct ufd_mem_reg *reg;
	struct ufd_pages *p;
	int rc = 0;

	eng_lock(ctx->eng);
	reg = mem_reg_find(ctx, reg_id);
	if (!reg) {
		rc = -ENOENT;
		goto out;
	}
	p = reg->pages;
	memset(info, 0, sizeof(*info));
	info->uaddr = p->uaddr;
	info->length = p->npages << UFD_PAGE_SHIFT;
	info->pinned_bytes = p->npinned << UFD_PAGE_SHIFT;
	info->charged_bytes = p->account_mode == UFD_ACCOUNT_NONE ?
				      0 :
				      info->pinned_bytes;
	info->account = p->account_mode == UFD_ACCOUNT_USER ? 1 :
			p->account_mode == UFD_ACCOUNT_MM   ? 2 :
							      0;
	info->uid = p->uid;
	info->pid = p->pid;
	info->nr_maps = p->refs - 1;
	info->pages_id = p->id;
out:
	eng_unlock(ctx->eng);
	return rc;
}
