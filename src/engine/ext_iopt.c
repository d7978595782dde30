/* SPDX-License-Identifier: MIT */
/*
 * The engine side of the uiommufd extensions (uiommufd-extensions(7)):
 * the design ideas of the iommufd discussion that the kernel never took.
 *
 *   user reservations  iopt->user_resv, disjoint [start, last] ranges that
 *                      automatic IOVA allocation treats as used and that
 *                      iopt_reserve() (an attach narrowing the IOAS)
 *                      refuses to cut, as it refuses to cut an area; areas
 *                      of FIXED maps may lie over them, and unmapping such
 *                      an area leaves the reservation as it was.
 *   minimum aperture   iopt->min_ap: a window of usable IOVA (not in
 *                      iopt->reserved) that every attach must leave, and
 *                      page sizes every domain must have; checked where an
 *                      attach adds its reservations (iopt_add_domain,
 *                      dev_reserve).
 *   page sizes used    a walk of the areas through each domain's table.
 *   map hint           a map tried at the caller's IOVA first.
 *   attach query       the attach of device.c, decided without doing it.
 *   copy reservations  an IOAS_COPY that also copies the user reservations
 *                      the source range holds (clipped to it, at the same
 *                      offsets): the destination range must hold none.
 *   map granule        a map whose area unmap may cut at multiples of a
 *                      granule (area->granule; the cutting, with the
 *                      superpage splits, is io_pagetable.c's iopt_unmap).
 *
 * Intervals are inclusive.  Locking: eng->lock, taken by the entry points;
 * iopt_check_min_aperture() expects it held.
 */
#include <stdio.h>
#include <string.h>

#include "engine/engine.h"

/* ---- invariants ---- */

int iopt_check_ext(const struct io_pagetable *iopt)
{
	struct itree_node *n, *prev = NULL;

	if (itree_check(&iopt->user_resv)) {
		fprintf(stderr, "uiommufd: reservation tree corrupt\n");
		return -EUCLEAN;
	}
	itree_for_each(n, &iopt->user_resv, 0, UFD_ULONG_MAX) {
		if (prev && n->start <= prev->last) {
			fprintf(stderr, "uiommufd: reservations overlap\n");
			return -EUCLEAN;
		}
		if (itree_iter_first(&iopt->reserved, n->start, n->last)) {
			fprintf(stderr, "uiommufd: a reservation meets "
					"reserved IOVA\n");
			return -EUCLEAN;
		}
		prev = n;
	}
	if (iopt_check_min_window(iopt, NULL, NULL)) {
		fprintf(stderr, "uiommufd: minimum aperture lost\n");
		return -EUCLEAN;
	}
	return 0;
}

/* ---- minimum aperture ---- */

int iopt_check_min_pgsizes(const struct io_pagetable *iopt,
			   uint64_t pgsize_bitmap)
{
	const struct iopt_min_aperture *ap = &iopt->min_ap;

	if (ap->length &&
	    (pgsize_bitmap & ap->pgsize_bitmap) != ap->pgsize_bitmap)
		return -ERANGE;
	return 0;
}

int iopt_check_min_window(const struct io_pagetable *iopt,
			  const struct itree *extra,
			  struct ufd_iova_range *missing)
{
	const struct iopt_min_aperture *ap = &iopt->min_ap;
	const struct itree *trees[2] = { &iopt->reserved, extra };
	unsigned int nt = extra ? 2 : 1;
	struct itree_span sp;
	uint64_t first = 0, last = UFD_ULONG_MAX;

	if (!ap->length)
		return 0;
	if (ap->fixed_base) {
		first = ap->base;
		last = ap->base + ap->length - 1;
	}
	for (itree_span_first(&sp, trees, nt, first, last); !sp.done;
	     itree_span_next(&sp)) {
		if (ap->fixed_base) {
			if (sp.is_used)
				goto fail;
			continue;
		}
		if (!sp.is_used && sp.last - sp.start >= ap->length - 1)
			return 0;
	}
	if (ap->fixed_base)
		return 0;
fail:
	if (missing) {
		missing->start = first;
		missing->last = ap->fixed_base ? last : ap->length - 1;
	}
	return -ENOSPC;
}

int ufd_ioas_set_min_aperture(struct ufd_ctx *ctx, uint32_t ioas_id,
			      uint64_t length, uint64_t base,
			      uint64_t pgsize_bitmap, unsigned int flags)
{
	struct iopt_min_aperture old;
	struct ufd_ioas *ioas;
	uint64_t end;
	unsigned int i;
	int rc = 0;

	if (flags & ~UFD_MIN_APERTURE_FIXED_BASE)
		return -EOPNOTSUPP;
	if (!length && (flags || base || pgsize_bitmap))
		return -EINVAL;
	if (!(flags & UFD_MIN_APERTURE_FIXED_BASE) && base)
		return -EINVAL;
	if (length && __builtin_add_overflow(base, length - 1, &end))
		return -EOVERFLOW;
	eng_lock(ctx->eng);
	ioas = ioas_find(ctx, ioas_id);
	if (!ioas) {
		rc = -ENOENT;
		goto out;
	}
	old = ioas->iopt.min_ap;
	ioas->iopt.min_ap.length = length;
	ioas->iopt.min_ap.base = base;
	ioas->iopt.min_ap.fixed_base = flags & UFD_MIN_APERTURE_FIXED_BASE;
	ioas->iopt.min_ap.pgsize_bitmap = pgsize_bitmap;
	rc = iopt_check_min_window(&ioas->iopt, NULL, NULL);
	for (i = 0; !rc && i != ioas->iopt.nr_domains; i++)
		rc = iopt_check_min_pgsizes(
			&ioas->iopt, ioas->iopt.domains[i]->pgsize_bitmap);
	if (rc)
		ioas->iopt.min_ap = old;
out:
	eng_unlock(ctx->eng);
	return rc;
}

/* ---- user reservations ---- */

static int range_last(uint64_t iova, uint64_t length, uint64_t *last)
{
	if (!length)
		return -EINVAL;
	if (__builtin_add_overflow(iova, length - 1, last))
		return -EOVERFLOW;
	return 0;
}

int ufd_ioas_reserve_iova(struct ufd_ctx *ctx, uint32_t ioas_id,
			  uint64_t iova, uint64_t length)
{
	struct iopt_user_resv *r;
	struct ufd_ioas *ioas;
	uint64_t last;
	int rc;

	rc = range_last(iova, length, &last);
	if (rc)
		return rc;
	r = ufd_zalloc(sizeof(*r));
	if (!r)
		return -ENOMEM;
	eng_lock(ctx->eng);
	ioas = ioas_find(ctx, ioas_id);
	if (!ioas)
		rc = -ENOENT;
	else if ((iova | length) & (ioas->iopt.iova_alignment - 1))
		rc = -EINVAL;
	else if (itree_iter_first(&ioas->iopt.reserved, iova, last))
		rc = -EINVAL;
	else if (itree_iter_first(&ioas->iopt.user_resv, iova, last))
		rc = -EEXIST;
	if (!rc) {
		r->node.start = iova;
		r->node.last = last;
		itree_insert(&ioas->iopt.user_resv, &r->node);
		r = NULL;
	}
	eng_unlock(ctx->eng);
	free(r);
	return rc;
}

int ufd_ioas_unreserve_iova(struct ufd_ctx *ctx, uint32_t ioas_id,
			    uint64_t iova, uint64_t length)
{
	struct itree_node *n, *next;
	struct ufd_ioas *ioas;
	uint64_t last = UFD_ULONG_MAX;
	int rc = 0;

	if (iova || length != UINT64_MAX) {
		rc = range_last(iova, length, &last);
		if (rc)
			return rc;
	}
	eng_lock(ctx->eng);
	ioas = ioas_find(ctx, ioas_id);
	if (!ioas) {
		rc = -ENOENT;
		goto out;
	}
	n = itree_iter_first(&ioas->iopt.user_resv, iova, last);
	if (!n)
		rc = -ENOENT;
	/* All or nothing, as unmap. */
	itree_for_each(n, &ioas->iopt.user_resv, iova, last)
		if (n->start < iova || n->last > last)
			rc = -ENOENT;
	if (rc)
		goto out;
	for (n = itree_iter_first(&ioas->iopt.user_resv, iova, last); n;
	     n = next) {
		next = itree_iter_next(n, iova, last);
		itree_remove(&ioas->iopt.user_resv, n);
		free(container_of(n, struct iopt_user_resv, node));
	}
out:
	eng_unlock(ctx->eng);
	return rc;
}

int ufd_ioas_reservations(struct ufd_ctx *ctx, uint32_t ioas_id,
			  struct ufd_iova_range *ranges, uint32_t max,
			  uint32_t *num)
{
	struct itree_node *n;
	struct ufd_ioas *ioas;
	uint32_t k = 0;

	eng_lock(ctx->eng);
	ioas = ioas_find(ctx, ioas_id);
	if (!ioas) {
		eng_unlock(ctx->eng);
		return -ENOENT;
	}
	itree_for_each(n, &ioas->iopt.user_resv, 0, UFD_ULONG_MAX) {
		if (k < max) {
			ranges[k].start = n->start;
			ranges[k].last = n->last;
		}
		k++;
	}
	*num = k;
	eng_unlock(ctx->eng);
	return 0;
}

/* ---- map with a hint ---- */

/* Is [iova, last] free for an automatic map (as iopt_alloc_iova sees)? */
static bool hint_fits(const struct io_pagetable *iopt, uint64_t iova,
		      uint64_t length)
{
	const struct itree *allowed[] = { &iopt->allowed };
	struct itree_span sp;
	uint64_t last;

	if (iova < UFD_PAGE_SIZE || (iova & (iopt->iova_alignment - 1)) ||
	    __builtin_add_overflow(iova, length - 1, &last) ||
	    last > UFD_ULONG_MAX - UFD_PAGE_SIZE)
		return false;
	if (itree_iter_first(&iopt->reserved, iova, last) ||
	    itree_iter_first(&iopt->areas, iova, last) ||
	    itree_iter_first(&iopt->user_resv, iova, last))
		return false;
	if (itree_empty(&iopt->allowed))
		return true;
	for (itree_span_first(&sp, allowed, 1, iova, last); !sp.done;
	     itree_span_next(&sp))
		if (!sp.is_used)
			return false;
	return true;
}

int ufd_ioas_map_hint(struct ufd_ctx *ctx, uint32_t ioas_id,
		      struct ufd_source *src, uint64_t uaddr, uint64_t length,
		      uint64_t *iova, unsigned int flags, bool *at_hint)
{
	struct iopt_map_elm elm = { 0 };
	struct ufd_ioas *ioas;
	uint64_t where;
	bool fits;
	int rc;

	if (flags & ~(UFD_MAP_WRITE | UFD_MAP_READ))
		return -EOPNOTSUPP;
	if (!(flags & (UFD_MAP_WRITE | UFD_MAP_READ)))
		return -EINVAL;
	if (*iova >= UFD_ULONG_MAX || length >= UFD_ULONG_MAX)
		return -EOVERFLOW;

	eng_lock(ctx->eng);
	rc = ioas_map_elm(ctx, ioas_id, src, uaddr, length,
			  flags & UFD_MAP_WRITE, &ctx->cred, &ioas, &elm);
	if (rc)
		goto out_unlock;
	fits = length && hint_fits(&ioas->iopt, *iova, length);
	where = *iova;
	rc = iopt_map_pages(&ioas->iopt, &elm, 1, length, &where, flags,
			    !fits);
	if (rc) {
		pages_put(elm.pages);
		goto out_unlock;
	}
	*iova = where;
	*at_hint = fits;
out_unlock:
	eng_unlock(ctx->eng);
	return rc;
}

/* ---- copy with reservations ---- */

int ufd_ioas_copy_resv(struct ufd_ctx *ctx, uint32_t dst_ioas_id,
		       uint32_t src_ioas_id, uint64_t src_iova,
		       uint64_t length, uint64_t *dst_iova, unsigned int flags,
		       uint32_t *out_copied)
{
	struct iopt_user_resv **resv = NULL;
	struct iopt_map_elm *elms = NULL;
	struct ufd_ioas *src, *dst;
	uint32_t nr = 0, i;
	struct itree_node *n;
	unsigned int nelms;
	uint64_t last, dlast;
	int rc;

	/* IOAS_COPY's argument rules, in its order. */
	rc = ioas_copy_check(flags, length, src_iova, *dst_iova);
	if (rc)
		return rc;
	rc = range_last(src_iova, length, &last);
	if (rc)
		return rc;

	eng_lock(ctx->eng);
	src = ioas_find(ctx, src_ioas_id);
	if (!src) {
		rc = -ENOENT;
		goto out_unlock;
	}
	rc = iopt_get_pages(&src->iopt, src_iova, length, &elms, &nelms);
	if (rc)
		goto out_unlock;
	dst = ioas_find(ctx, dst_ioas_id);
	if (!dst) {
		rc = -ENOENT;
		goto out_put;
	}
	/* The copies, allocated before anything changes. */
	itree_for_each(n, &src->iopt.user_resv, src_iova, last)
		nr++;
	if (nr) {
		resv = ufd_calloc(nr, sizeof(*resv));
		if (!resv) {
			rc = -ENOMEM;
			goto out_put;
		}
	}
	for (i = 0; i != nr; i++) {
		resv[i] = ufd_zalloc(sizeof(*resv[i]));
		if (!resv[i]) {
			rc = -ENOMEM;
			goto out_free;
		}
	}
	/* A FIXED destination must hold no reservation (an automatic one
	 * never does: allocation avoids them). */
	if ((flags & UFD_MAP_FIXED_IOVA) &&
	    !range_last(*dst_iova, length, &dlast) &&
	    itree_iter_first(&dst->iopt.user_resv, *dst_iova, dlast)) {
		rc = -EEXIST;
		goto out_free;
	}
	rc = iopt_map_pages(&dst->iopt, elms, nelms, length, dst_iova,
			    flags & (UFD_MAP_READ | UFD_MAP_WRITE),
			    !(flags & UFD_MAP_FIXED_IOVA));
	if (rc)
		goto out_free;
	free(elms); /* the areas own the references now */
	elms = NULL;
	i = 0;
	itree_for_each(n, &src->iopt.user_resv, src_iova, last) {
		uint64_t s = n->start < src_iova ? src_iova : n->start;
		uint64_t l = n->last > last ? last : n->last;

		resv[i]->node.start = *dst_iova + (s - src_iova);
		resv[i]->node.last = *dst_iova + (l - src_iova);
		i++;
	}
	/* After the walk: src and dst may be one IOAS. */
	for (i = 0; i != nr; i++) {
		itree_insert(&dst->iopt.user_resv, &resv[i]->node);
		resv[i] = NULL;
	}
	if (out_copied)
		*out_copied = nr;
out_free:
	for (i = 0; i != nr && resv; i++)
		free(resv[i]);
	free(resv);
out_put:
	if (elms)
		iopt_put_elms(elms, nelms);
out_unlock:
	eng_unlock(ctx->eng);
	return rc;
}

/* ---- map with an unmap granule ---- */

int ufd_ioas_map_granule(struct ufd_ctx *ctx, uint32_t ioas_id,
			 struct ufd_source *src, uint64_t uaddr,
			 uint64_t length, uint64_t *iova, unsigned int flags,
			 uint64_t granule)
{
	struct iopt_map_elm elm = { 0 };
	struct ufd_ioas *ioas;
	uint64_t mask = granule - 1;
	int rc;

	rc = ioas_check_map_flags(flags);
	if (rc)
		return rc;
	if (*iova >= UFD_ULONG_MAX || length >= UFD_ULONG_MAX)
		return -EOVERFLOW;
	if (granule < UFD_PAGE_SIZE || (granule & mask))
		return -EINVAL;
	if (!length || (length & mask) || (uaddr & mask) ||
	    ((flags & UFD_MAP_FIXED_IOVA) && (*iova & mask)))
		return -EINVAL;
	if (source_is_file(src) && ufd_source_file_revoked(src))
		return -ENODEV;

	eng_lock(ctx->eng);
	rc = ioas_map_elm(ctx, ioas_id, src, uaddr, length,
			  flags & UFD_MAP_WRITE, &ctx->cred, &ioas, &elm);
	if (rc)
		goto out_unlock;
	rc = iopt_map_pages_granule(&ioas->iopt, &elm, iova,
				    flags & (UFD_MAP_READ | UFD_MAP_WRITE),
				    !(flags & UFD_MAP_FIXED_IOVA), granule);
	if (rc)
		pages_put(elm.pages);
out_unlock:
	eng_unlock(ctx->eng);
	return rc;
}

/* ---- page sizes used ---- */

struct run_sink {
	struct ufd_page_run *runs;
	uint32_t max, n;
	struct ufd_page_run cur; /* cur.page_size 0: none yet */
};

static void sink_flush(struct run_sink *s)
{
	if (!s->cur.page_size)
		return;
	if (s->n < s->max)
		s->runs[s->n] = s->cur;
	s->n++;
	s->cur.page_size = 0;
}

static void sink_add(struct run_sink *s, uint64_t start, uint64_t last,
		     uint64_t page_size)
{
	if (s->cur.page_size == page_size && s->cur.last + 1 == start) {
		s->cur.last = last;
		return;
	}
	sink_flush(s);
	s->cur.start = start;
	s->cur.last = last;
	s->cur.page_size = page_size;
}

/* Leaves of @doms over [start, last] (one area's part), into @s. */
static void walk_leaves(struct ufd_domain *const *doms, unsigned int nd,
			uint64_t start, uint64_t last, struct run_sink *s)
{
	uint64_t cur = start;

	for (;;) {
		uint64_t size = 0, step = 0, end;
		unsigned int i;

		for (i = 0; i != nd; i++) {
			uint64_t host, leaf, flags, left;

			if (pgt_translate(&doms[i]->pgt, cur, &host, &leaf,
					  &flags))
				continue;
			left = leaf - (cur & (leaf - 1));
			if (!size || leaf < size)
				size = leaf;
			if (!step || left < step)
				step = left;
		}
		if (!size) {
			/* Not in this domain's table: the next granule. */
			sink_flush(s);
			step = UFD_PAGE_SIZE - (cur & (UFD_PAGE_SIZE - 1));
		} else {
			end = step - 1 > last - cur ? last : cur + step - 1;
			sink_add(s, cur, end, size);
		}
		if (step - 1 >= last - cur)
			return;
		cur += step;
	}
}

int ufd_page_sizes_used(struct ufd_ctx *ctx, uint32_t pt_id, uint64_t iova,
			uint64_t length, struct ufd_page_run *runs,
			uint32_t max, uint32_t *num)
{
	struct run_sink s = { .runs = runs, .max = max };
	struct ufd_domain *one, *const *doms;
	struct io_pagetable *iopt;
	struct ufd_area *area;
	struct ufd_obj *obj;
	unsigned int nd;
	uint64_t last;
	int rc;

	rc = range_last(iova, length, &last);
	if (rc)
		return rc;
	eng_lock(ctx->eng);
	obj = obj_find(ctx, pt_id, UFD_OBJ_ANY);
	if (obj && obj->type == UFD_OBJ_IOAS) {
		iopt = &container_of(obj, struct ufd_ioas, obj)->iopt;
		doms = iopt->domains;
		nd = iopt->nr_domains;
	} else if (obj && obj->type == UFD_OBJ_HWPT_PAGING) {
		struct ufd_hwpt *hwpt = container_of(obj, struct ufd_hwpt, obj);

		iopt = &hwpt->ioas->iopt;
		one = &hwpt->domain;
		doms = &one;
		nd = 1;
	} else {
		eng_unlock(ctx->eng);
		return -ENOENT;
	}
	for (area = nd ? area_first(iopt, iova, last) : NULL; area;
	     area = area_next(area, iova, last)) {
		uint64_t a = area_iova(area) > iova ? area_iova(area) : iova;
		uint64_t b = area_last_iova(area) < last ?
				     area_last_iova(area) : last;

		walk_leaves(doms, nd, a, b, &s);
	}
	sink_flush(&s);
	*num = s.n;
	eng_unlock(ctx->eng);
	return 0;
}

/* ---- the attach query ---- */

/* Does reserving [start, last] cut something?  As iopt_reserve() checks. */
static unsigned int cuts(const struct io_pagetable *iopt, uint64_t start,
			 uint64_t last, struct ufd_iova_range *conflict)
{
	struct itree_node *n;

	if ((n = itree_iter_first(&iopt->areas, start, last)))
		goto found_area;
	if ((n = itree_iter_first(&iopt->allowed, start, last))) {
		conflict->start = n->start;
		conflict->last = n->last;
		return UFD_ATTACH_CUTS_ALLOWED;
	}
	if ((n = itree_iter_first(&iopt->user_resv, start, last))) {
		conflict->start = n->start;
		conflict->last = n->last;
		return UFD_ATTACH_CUTS_RESERVATION;
	}
	return UFD_ATTACH_OK;
found_area:
	conflict->start = n->start;
	conflict->last = n->last;
	return UFD_ATTACH_CUTS_MAPPING;
}

struct attach_sim {
	struct itree extra;       /* the reservations the attach adds */
	struct itree_node nodes[]; /* their storage */
};

/*
 * iopt_reserve() of [start, last] as the attach would make it, on the
 * scratch tree: what it cuts (-EADDRINUSE), then whether the window stays
 * (-ENOSPC).  Returns the verdict so far (0: go on).
 */
static int sim_reserve(const struct io_pagetable *iopt,
		       struct attach_sim *sim, unsigned int *nn,
		       uint64_t start, uint64_t last,
		       struct ufd_attach_verdict *v)
{
	unsigned int why = cuts(iopt, start, last, &v->conflict);

	if (why) {
		v->reason = why;
		return v->error = -EADDRINUSE;
	}
	sim->nodes[*nn].start = start;
	sim->nodes[*nn].last = last;
	itree_insert(&sim->extra, &sim->nodes[*nn]);
	(*nn)++;
	v->error = iopt_check_min_window(iopt, &sim->extra, &v->conflict);
	if (v->error)
		v->reason = UFD_ATTACH_MIN_APERTURE;
	return v->error;
}

/* dev_reserve(): the device's holes, in order. */
static void sim_holes(const struct io_pagetable *iopt,
		      const struct ufd_device *dev, struct attach_sim *sim,
		      unsigned int *nn, struct ufd_attach_verdict *v)
{
	uint32_t i;

	for (i = 0; i != dev->info.nr_reserved; i++)
		if (sim_reserve(iopt, sim, nn, dev->info.reserved[i].start,
				dev->info.reserved[i].last, v))
			return;
}

static void sim_attach(struct ufd_device *dev, struct ufd_ioas *ioas,
		       struct attach_sim *sim, struct ufd_attach_verdict *v)
{
	struct io_pagetable *iopt = &ioas->iopt;
	struct ufd_hwpt *old = dev->hwpt, *hwpt;
	bool same_ioas = old && old->ioas == ioas;
	struct ufd_pgtable pgt;
	struct ufd_area *area;
	unsigned int nn = 0;
	uint64_t align, mask;
	int rc;

	/* An automatic HWPT the device can join (auto domains never track
	 * dirty pages, so the domain's own check always passes). */
	for (hwpt = ioas->hwpts; hwpt; hwpt = hwpt->ioas_next) {
		if (!hwpt->auto_domain || !hwpt->obj.visible)
			continue;
		v->alignment = iopt->iova_alignment;
		v->pgsize_bitmap = hwpt->domain.pgsize_bitmap;
		if (old != hwpt && !same_ioas)
			sim_holes(iopt, dev, sim, &nn, v);
		return;
	}

	/* A new automatic HWPT: the table, then iopt_add_domain(). */
	rc = pgt_init(&pgt, dev->info.pgsize_bitmap, dev->info.aperture_last);
	v->pgsize_bitmap = pgt.pgsize_bitmap;
	pgt_destroy(&pgt);
	if (rc) {
		v->error = rc;
		v->reason = rc == -ENOMEM ? UFD_ATTACH_OK : UFD_ATTACH_DOMAIN;
		return;
	}
	align = 1ULL << __builtin_ctzll(v->pgsize_bitmap);
	if (align < iopt->iova_alignment)
		align = iopt->iova_alignment;
	v->alignment = align;
	if (align > UFD_PAGE_SIZE) {
		v->error = -EINVAL;
		v->reason = UFD_ATTACH_PAGE_SIZE;
		return;
	}
	mask = align - 1;
	for (area = area_first(iopt, 0, UFD_ULONG_MAX); area;
	     area = area_next(area, 0, UFD_ULONG_MAX)) {
		if ((area_iova(area) & mask) || (area_length(area) & mask) ||
		    ((area->start_byte % UFD_PAGE_SIZE) & mask)) {
			v->error = -EADDRINUSE;
			v->reason = UFD_ATTACH_ALIGNMENT;
			v->conflict.start = area_iova(area);
			v->conflict.last = area_last_iova(area);
			return;
		}
	}
	v->error = iopt_check_min_pgsizes(iopt, v->pgsize_bitmap);
	if (v->error) {
		v->reason = UFD_ATTACH_MIN_PAGE_SIZES;
		return;
	}
	if (dev->info.aperture_start &&
	    sim_reserve(iopt, sim, &nn, 0, dev->info.aperture_start - 1, v))
		return;
	if (dev->info.aperture_last != UFD_ULONG_MAX &&
	    sim_reserve(iopt, sim, &nn, dev->info.aperture_last + 1,
			UFD_ULONG_MAX, v))
		return;
	/* Then do_attach(): the device's holes. */
	if (!same_ioas)
		sim_holes(iopt, dev, sim, &nn, v);
}

int ufd_device_query_attach_verdict(struct ufd_ctx *ctx, uint32_t dev_id,
				    uint32_t ioas_id,
				    struct ufd_iova_range *ranges,
				    uint32_t max, uint32_t *num,
				    struct ufd_attach_verdict *verdict)
{
	struct ufd_attach_verdict v = { 0 };
	const struct itree *trees[2];
	struct attach_sim *sim = NULL;
	struct ufd_device *dev;
	struct ufd_ioas *ioas;
	struct itree_span sp;
	uint32_t k = 0;
	int rc = 0;

	eng_lock(ctx->eng);
	dev = device_find(ctx, dev_id);
	ioas = ioas_find(ctx, ioas_id);
	if (!dev || !ioas) {
		rc = -ENOENT;
		goto out;
	}
	sim = ufd_zalloc(sizeof(*sim) + (dev->info.nr_reserved + 2) *
						 sizeof(sim->nodes[0]));
	if (!sim) {
		rc = -ENOMEM;
		goto out;
	}
	sim_attach(dev, ioas, sim, &v);
	if (v.error == -ENOMEM && !v.reason) {
		rc = -ENOMEM;
		goto out;
	}
	trees[0] = &ioas->iopt.reserved;
	trees[1] = &sim->extra;
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
	*verdict = v;
out:
	eng_unlock(ctx->eng);
	free(sim);
	return rc;
}
