/* SPDX-License-Identifier: MIT */
/*
 * IOAS objects and their public entry points.  Each entry point takes the
 * engine lock, looks the IOAS up by ID (-ENOENT when missing or of another
 * type), and hands the work to io_pagetable.c.  Argument rules that the
 * kernel applies before looking anything up (overflow, zero length) are
 * applied here first, in the kernel's order, so errnos match.
 * Intervals are inclusive.  Locking: eng->lock, taken here.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "engine/engine.h"

struct ufd_ioas *ioas_find(struct ufd_ctx *ctx, uint32_t id)
{
	struct ufd_obj *obj = obj_find(ctx, id, UFD_OBJ_IOAS);

	return obj ? container_of(obj, struct ufd_ioas, obj) : NULL;
}

void ioas_destroy_obj(struct ufd_ctx *ctx, struct ufd_obj *obj)
{
	struct ufd_ioas *ioas = container_of(obj, struct ufd_ioas, obj);

	iopt_unmap(&ioas->iopt, 0, UFD_ULONG_MAX, NULL);
	iopt_remove_reserved(&ioas->iopt, NULL);
	iopt_destroy(&ioas->iopt);
	if (ctx->compat_ioas_id == obj->id)
		ctx->compat_ioas_id = 0;
	free(ioas);
}

int ufd_ioas_alloc(struct ufd_ctx *ctx, uint32_t *out_ioas_id)
{
	struct ufd_ioas *ioas;
	int rc;

	ioas = ufd_zalloc(sizeof(*ioas));
	if (!ioas)
		return -ENOMEM;
	iopt_init(&ioas->iopt, ctx->eng);
	eng_lock(ctx->eng);
	rc = obj_alloc(ctx, &ioas->obj, UFD_OBJ_IOAS);
	if (rc) {
		eng_unlock(ctx->eng);
		free(ioas);
		return rc;
	}
	obj_finalize(ctx, &ioas->obj);
	*out_ioas_id = ioas->obj.id;
	eng_unlock(ctx->eng);
	return 0;
}

int ioas_check_map_flags(unsigned int flags)
{
	if (flags & ~(UFD_MAP_FIXED_IOVA | UFD_MAP_WRITE | UFD_MAP_READ))
		return -EOPNOTSUPP;
	if (!(flags & (UFD_MAP_WRITE | UFD_MAP_READ)))
		return -EINVAL;
	return 0;
}

static int ioas_map_as(struct ufd_ctx *ctx, uint32_t ioas_id,
		       struct ufd_source *src, uint64_t uaddr,
		       uint64_t length, uint64_t *iova, unsigned int flags,
		       const struct ufd_cred *cred);

int ufd_ioas_map(struct ufd_ctx *ctx, uint32_t ioas_id,
		 struct ufd_source *src, uint64_t uaddr, uint64_t length,
		 uint64_t *iova, unsigned int flags)
{
	return ioas_map_as(ctx, ioas_id, src, uaddr, length, iova, flags,
			   &ctx->cred);
}

int ufd_ioas_map_file(struct ufd_ctx *ctx, uint32_t ioas_id,
		      const struct ufd_cred *cred, struct ufd_source *src,
		      uint64_t start, uint64_t length, uint64_t *iova,
		      unsigned int flags)
{
	if (!source_is_file(src))
		return -EINVAL;
	if (ufd_source_file_revoked(src))
		return -ENODEV;
	return ioas_map_as(ctx, ioas_id, src, start, length, iova, flags,
			   cred);
}

/* Map with the pages charged to @cred (the opener, or the caller). */
static int ioas_map_as(struct ufd_ctx *ctx, uint32_t ioas_id,
		       struct ufd_source *src, uint64_t uaddr,
		       uint64_t length, uint64_t *iova, unsigned int flags,
		       const struct ufd_cred *cred)
{
	struct iopt_map_elm elm = { 0 };
	struct ufd_ioas *ioas;
	int rc;

	rc = ioas_check_map_flags(flags);
	if (rc)
		return rc;
	if (*iova >= UFD_ULONG_MAX || length >= UFD_ULONG_MAX)
		return -EOVERFLOW;

	eng_lock(ctx->eng);
	rc = ioas_map_elm(ctx, ioas_id, src, uaddr, length,
			  flags & UFD_MAP_WRITE, cred, &ioas, &elm);
	if (rc)
		goto out_unlock;
	rc = iopt_map_pages(&ioas->iopt, &elm, 1, length, iova,
			    flags & (UFD_MAP_READ | UFD_MAP_WRITE),
			    !(flags & UFD_MAP_FIXED_IOVA));
	if (rc)
		pages_put(elm.pages);
out_unlock:
	eng_unlock(ctx->eng);
	return rc;
}

int ioas_map_elm(struct ufd_ctx *ctx, uint32_t ioas_id,
		 struct ufd_source *src, uint64_t uaddr, uint64_t length,
		 bool writable, const struct ufd_cred *cred,
		 struct ufd_ioas **ioas, struct iopt_map_elm *elm)
{
	int rc;

	*ioas = ioas_find(ctx, ioas_id);
	if (!*ioas)
		return -ENOENT;
	rc = pages_for_map(ctx->eng, src, uaddr, length, writable, cred,
			   ctx->account_mode, &elm->pages);
	if (rc)
		return rc;
	elm->start_byte = uaddr - elm->pages->uaddr;
	elm->length = length;
	return 0;
}

int ioas_copy_check(unsigned int flags, uint64_t length, uint64_t src_iova,
		    uint64_t dst_iova)
{
	if (flags & ~(UFD_MAP_FIXED_IOVA | UFD_MAP_WRITE | UFD_MAP_READ))
		return -EOPNOTSUPP;
	if (length >= UFD_ULONG_MAX || src_iova >= UFD_ULONG_MAX ||
	    dst_iova >= UFD_ULONG_MAX)
		return -EOVERFLOW;
	if (!(flags & (UFD_MAP_WRITE | UFD_MAP_READ)))
		return -EINVAL;
	return 0;
}

int ufd_ioas_copy(struct ufd_ctx *ctx, uint32_t dst_ioas_id,
		  uint32_t src_ioas_id, uint64_t src_iova, uint64_t length,
		  uint64_t *dst_iova, unsigned int flags)
{
	struct iopt_map_elm *elms;
	struct ufd_ioas *src, *dst;
	unsigned int n;
	int rc;

	rc = ioas_copy_check(flags, length, src_iova, *dst_iova);
	if (rc)
		return rc;

	eng_lock(ctx->eng);
	src = ioas_find(ctx, src_ioas_id);
	if (!src) {
		rc = -ENOENT;
		goto out_unlock;
	}
	rc = iopt_get_pages(&src->iopt, src_iova, length, &elms, &n);
	if (rc)
		goto out_unlock;
	dst = ioas_find(ctx, dst_ioas_id);
	if (!dst) {
		rc = -ENOENT;
		iopt_put_elms(elms, n);
		goto out_unlock;
	}
	rc = iopt_map_pages(&dst->iopt, elms, n, length, dst_iova,
			    flags & (UFD_MAP_READ | UFD_MAP_WRITE),
			    !(flags & UFD_MAP_FIXED_IOVA));
	if (rc) {
		iopt_put_elms(elms, n);
		goto out_unlock;
	}
	free(elms); /* the areas own the references now */
out_unlock:
	eng_unlock(ctx->eng);
	return rc;
}

int ufd_ioas_unmap(struct ufd_ctx *ctx, uint32_t ioas_id, uint64_t iova,
		   uint64_t length, uint64_t *unmapped)
{
	struct ufd_ioas *ioas;
	uint64_t bytes = 0, last;
	int rc;

	eng_lock(ctx->eng);
	ioas = ioas_find(ctx, ioas_id);
	if (!ioas) {
		rc = -ENOENT;
		goto out_unlock;
	}
	if (iova == 0 && length == UINT64_MAX) {
		rc = iopt_unmap(&ioas->iopt, 0, UFD_ULONG_MAX, &bytes);
	} else if (iova >= UFD_ULONG_MAX || length >= UFD_ULONG_MAX) {
		rc = -EOVERFLOW;
	} else if (!length) {
		rc = -EINVAL;
	} else if (__builtin_add_overflow(iova, length - 1, &last)) {
		rc = -EOVERFLOW;
	} else {
		rc = iopt_unmap(&ioas->iopt, iova, last, &bytes);
		if (!rc && !bytes)
			rc = -ENOENT;
	}
	if (!rc && unmapped)
		*unmapped = bytes;
out_unlock:
	eng_unlock(ctx->eng);
	return rc;
}

int ufd_ioas_unmap_range(struct ufd_ctx *ctx, uint32_t ioas_id,
			 uint64_t iova, uint64_t length, uint64_t *unmapped)
{
	struct ufd_ioas *ioas;
	uint64_t bytes = 0, last;
	int rc;

	if (!length)
		return -EINVAL;
	if (__builtin_add_overflow(iova, length - 1, &last))
		return -EOVERFLOW;
	eng_lock(ctx->eng);
	ioas = ioas_find(ctx, ioas_id);
	rc = ioas ? iopt_unmap(&ioas->iopt, iova, last, &bytes) : -ENOENT;
	if (!rc && unmapped)
		*unmapped = bytes;
	eng_unlock(ctx->eng);
	return rc;
}

int ufd_ioas_cut(struct ufd_ctx *ctx, uint32_t ioas_id, const uint64_t *iovas,
		 unsigned int n)
{
	struct ufd_ioas *ioas;
	int rc;

	eng_lock(ctx->eng);
	ioas = ioas_find(ctx, ioas_id);
	rc = ioas ? iopt_cut(&ioas->iopt, iovas, n) : -ENOENT;
	eng_unlock(ctx->eng);
	return rc;
}

int ufd_ioas_page_sizes(struct ufd_ctx *ctx, uint32_t ioas_id,
			uint64_t *bitmap)
{
	struct ufd_ioas *ioas;
	uint64_t b = UINT64_MAX;
	unsigned int i;

	eng_lock(ctx->eng);
	ioas = ioas_find(ctx, ioas_id);
	if (!ioas) {
		eng_unlock(ctx->eng);
		return -ENOENT;
	}
	for (i = 0; i != ioas->iopt.nr_domains; i++)
		b &= ioas->iopt.domains[i]->pgsize_bitmap;
	if (ioas->iopt.disable_large_pages)
		b &= (UFD_PAGE_SIZE << 1) - 1;
	/* The CPU page is the smallest a VFIO user maps. */
	*bitmap = (b & ~(UFD_PAGE_SIZE - 1)) | UFD_PAGE_SIZE;
	eng_unlock(ctx->eng);
	return 0;
}

int ufd_ioas_iova_ranges(struct ufd_ctx *ctx, uint32_t ioas_id,
			 struct ufd_iova_range *ranges, uint32_t max,
			 uint32_t *num, uint64_t *alignment)
{
	const struct itree *trees[1];
	struct itree_span sp;
	struct ufd_ioas *ioas;
	uint32_t n = 0;

	eng_lock(ctx->eng);
	ioas = ioas_find(ctx, ioas_id);
	if (!ioas) {
		eng_unlock(ctx->eng);
		return -ENOENT;
	}
	trees[0] = &ioas->iopt.reserved;
	for (itree_span_first(&sp, trees, 1, 0, UFD_ULONG_MAX); !sp.done;
	     itree_span_next(&sp)) {
		if (sp.is_used)
			continue;
		if (n < max) {
			ranges[n].start = sp.start;
			ranges[n].last = sp.last;
		}
		n++;
	}
	*num = n;
	*alignment = ioas->iopt.iova_alignment;
	eng_unlock(ctx->eng);
	return 0;
}

int ufd_ioas_allow_iovas(struct ufd_ctx *ctx, uint32_t ioas_id,
			 const struct ufd_iova_range *ranges, uint32_t num)
{
	struct ufd_ioas *ioas;
	int rc;

	eng_lock(ctx->eng);
	ioas = ioas_find(ctx, ioas_id);
	rc = ioas ? iopt_set_allow(&ioas->iopt, ranges, num) : -ENOENT;
	eng_unlock(ctx->eng);
	return rc;
}

int ufd_ioas_reserve(struct ufd_ctx *ctx, uint32_t ioas_id, uint64_t start,
		     uint64_t last)
{
	struct ufd_ioas *ioas;
	int rc;

	if (start > last)
		return -EINVAL;
	eng_lock(ctx->eng);
	ioas = ioas_find(ctx, ioas_id);
	rc = ioas ? iopt_reserve(&ioas->iopt, start, last, NULL) : -ENOENT;
	eng_unlock(ctx->eng);
	return rc;
}

int ufd_ioas_set_huge_pages(struct ufd_ctx *ctx, uint32_t ioas_id,
			    bool enable)
{
	struct ufd_ioas *ioas;
	int rc = 0;

	eng_lock(ctx->eng);
	ioas = ioas_find(ctx, ioas_id);
	if (!ioas)
		rc = -ENOENT;
	else if (enable)
		iopt_enable_large_pages(&ioas->iopt);
	else
		rc = iopt_disable_large_pages(&ioas->iopt);
	eng_unlock(ctx->eng);
	return rc;
}

int ufd_ioas_get_huge_pages(struct ufd_ctx *ctx, uint32_t ioas_id,
			    bool *enabled)
{
	struct ufd_ioas *ioas;
	int rc = 0;

	eng_lock(ctx->eng);
	ioas = ioas_find(ctx, ioas_id);
	if (!ioas)
		rc = -ENOENT;
	else
		*enabled = !ioas->iopt.disable_large_pages;
	eng_unlock(ctx->eng);
	return rc;
}

int ufd_ioas_for_each_area(struct ufd_ctx *ctx, uint32_t ioas_id,
			   int (*fn)(void *arg,
				     const struct ufd_area_info *info),
			   void *arg)
{
	struct ufd_area *area;
	struct ufd_ioas *ioas;
	int rc = 0;

	eng_lock(ctx->eng);
	ioas = ioas_find(ctx, ioas_id);
	if (!ioas) {
		eng_unlock(ctx->eng);
		return -ENOENT;
	}
	for (area = area_first(&ioas->iopt, 0, UFD_ULONG_MAX); area && !rc;
	     area = area_next(area, 0, UFD_ULONG_MAX)) {
		struct ufd_area_info info = {
			.iova = area_iova(area),
			.length = area_length(area),
			.uaddr = area->pages->uaddr + area->start_byte,
			.flags = area->prot,
			.pages_id = area->pages->id,
			.pinned_bytes = area->pages->npinned << UFD_PAGE_SHIFT,
			.granule = area->granule,
		};

		rc = fn(arg, &info);
	}
	eng_unlock(ctx->eng);
	return rc;
}

/* Pages covered by the pin users of @pages, counted from the tree. */
static uint64_t pages_covered(struct ufd_pages *pages)
{
	const struct itree *trees[] = { &pages->pin_users };
	struct itree_span sp;
	uint64_t n = 0;

	if (!pages->npages)
		return 0;
	for (itree_span_first(&sp, trees, 1, 0, pages->npages - 1); !sp.done;
	     itree_span_next(&sp))
		if (sp.is_used)
			n += sp.last - sp.start + 1;
	return n;
}

int ufd_engine_check(struct ufd_engine *eng)
{
	uint64_t accounted = 0, charged = 0;
	struct itree_node *n;
	struct ufd_ctx *ctx;
	size_t i;
	int rc = 0;

	eng_lock(eng);
	if (itree_check(&eng->all_pages)) {
		fprintf(stderr, "uiommufd: pages index corrupt\n");
		rc = -EUCLEAN;
	}
	itree_for_each(n, &eng->all_pages, 0, UFD_ULONG_MAX) {
		struct ufd_pages *pages =
			container_of(n, struct ufd_pages, eng_node);

		if (itree_check(&pages->pin_users) ||
		    pages_covered(pages) != pages->npinned || !pages->refs) {
			fprintf(stderr, "uiommufd: pages %u inconsistent\n",
				pages->id);
			rc = -EUCLEAN;
		}
		if (pages->account_mode != UFD_ACCOUNT_NONE)
			accounted += pages->npinned;
	}
	for (i = 0; i != eng->n_user_charge; i++)
		charged += eng->user_charge[i].pages;
	for (i = 0; i != eng->n_pid_charge; i++)
		charged += eng->pid_charge[i].pages;
	if (charged != accounted) {
		fprintf(stderr, "uiommufd: %" PRIu64 " pages charged, %" PRIu64
			" pinned\n", charged, accounted);
		rc = -EUCLEAN;
	}
	if (pasid_set_check(eng))
		rc = -EUCLEAN;
	for (ctx = eng->ctx_list; ctx; ctx = ctx->next) {
		uint32_t id;

		for (id = 1; id < ctx->next_unused; id++) {
			struct ufd_obj *obj = ctx->objs[id];

			if (obj && obj->type == UFD_OBJ_IOAS &&
			    iopt_check(&container_of(obj, struct ufd_ioas, obj)
						->iopt))
				rc = -EUCLEAN;
			if (obj && obj->type == UFD_OBJ_HWPT_PAGING &&
			    pgt_check(&container_of(obj, struct ufd_hwpt, obj)
					       ->domain.pgt)) {
				fprintf(stderr,
					"uiommufd: HWPT %u page table corrupt\n",
					id);
				rc = -EUCLEAN;
			}
		}
	}
	eng_unlock(eng);
	return rc;
}
