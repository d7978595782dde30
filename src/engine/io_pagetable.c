/* SPDX-License-Identifier: MIT */
/*
 * The IO page table of an IOAS: which IOVA maps which memory.
 *
 *   areas     interval tree of struct ufd_area, never overlapping; each
 *             maps [iova, last] to bytes [start_byte, ...] of a pages object
 *   reserved  interval tree of ranges nothing may be mapped at (a device's
 *             aperture holes, ADD_RESERVED); they may overlap each other
 *   allowed   if not empty, automatic IOVA allocation stays inside these,
 *             and no reservation may intersect them
 *   runs      the maximal runs of two or more adjacent areas (each
 *             area's IOVA right after the previous one's last), one node
 *             per run, kept in the run's first area: how far IOVA is
 *             mapped without a hole is one lookup there, or of the area
 *             if it has no neighbour (a dirty harvest asks it of every
 *             call), not a read of every area of the range; an area with
 *             no neighbour costs a map or an unmap nothing more
 *
 * iova_alignment is the largest of the IO page sizes in use (domains,
 * accesses that pin, PAGE_SIZE when large pages are disabled); every area's
 * IOVA, length and sub-page offset are multiples of it.
 *
 * Domains (IO page tables of attached devices) mirror the areas.  With at
 * least one domain every area's pages are pinned (one pin user per area,
 * domain_pin, shared by all domains) and mapped into each domain; without
 * one, mapping touches no memory.  A map is pinned, then put in the
 * domains without a DMA write section (it only adds; see engine.h); an
 * unmap takes it out of them in one.  Adding a domain narrows the IOVA
 * space to its aperture (reservations owned by the domain) and fills it
 * from the existing areas; removing the last one unpins.
 *
 * Unmap removes whole areas only and is all-or-nothing: every area the
 * range touches must lie inside it, else -ENOENT and nothing changes.
 * Accesses that pin an area are told before it goes (access_notify_unmap)
 * and must drop their pins.
 *
 * The one exception (a uiommufd extension): an area mapped with a granule
 * G (UIOMMUFD_IOAS_MAP_GRANULE; area->granule) may be cut at any multiple
 * of G.  An unmap whose ends fall inside such areas first cuts them there
 * (granule_cut_*): the pieces share the pages object (one more reference
 * each), the domain pin user is split (nothing is pinned or unpinned by
 * the cut itself), access pins move to the piece they lie in, and in
 * every domain the superpages that straddle a cut are split in place
 * (pgt_split_*: the lower tables built whole, then one atomic store per
 * leaf), outside the DMA write section, since no translation changes.
 * Then the middle pieces are unmapped as whole areas, in a write section
 * as always: DMA to the rest of the area never faults, DMA to the cut
 * part either completes before the unmap returns or faults.  Accesses
 * pinning the part to go are told first, as for any unmap; after that,
 * every allocation the cut needs is made before anything changes.
 *
 * Intervals are inclusive.  Locking: eng->lock held by the caller.
 */
#include <stdio.h>
#include <string.h>

#include "engine/engine.h"

void iopt_init(struct io_pagetable *iopt, struct ufd_engine *eng)
{
	memset(iopt, 0, sizeof(*iopt));
	iopt->eng = eng;
	iopt->iova_alignment = 1;
}

static void free_tree_nodes(struct itree *t, size_t offset)
{
	struct itree_node *n;

	while ((n = itree_iter_first(t, 0, UFD_ULONG_MAX))) {
		itree_remove(t, n);
		free((char *)n - offset);
	}
}

/* Called with no areas and no accesses left. */
void iopt_destroy(struct io_pagetable *iopt)
{
	free_tree_nodes(&iopt->reserved, offsetof(struct iopt_reserved, node));
	free_tree_nodes(&iopt->allowed, offsetof(struct iopt_allowed, node));
	free_tree_nodes(&iopt->user_resv,
			offsetof(struct iopt_user_resv, node));
	free(iopt->accesses);
	iopt->accesses = NULL;
	free(iopt->domains);
	iopt->domains = NULL;
}

/* ---- domains ---- */

uint64_t area_host(const struct ufd_area *area)
{
	return area->pages->host_base + area->start_byte;
}

static uint64_t max_pgsize(const struct io_pagetable *iopt)
{
	return iopt->disable_large_pages ? UFD_PAGE_SIZE : 0;
}

static uint64_t area_pgt_prot(const struct ufd_area *area)
{
	struct ufd_source *src = area->pages->src;
	uint64_t prot = ((area->prot & UFD_MAP_READ) ? PGT_READ : 0) |
			((area->prot & UFD_MAP_WRITE) ? PGT_WRITE : 0);
	uint64_t first = ALIGN_DOWN_U64(area->start_byte, UFD_PAGE_SIZE);
	uint64_t end = area->start_byte + area_length(area);

	end = (end + UFD_PAGE_SIZE - 1) & ~(UFD_PAGE_SIZE - 1);
	if (src->ops->host_direct &&
	    !src->ops->host_direct(src, area->pages->uaddr + first,
				   end - first))
		prot |= PGT_INDIRECT;
	return prot;
}

static int area_pin(struct ufd_area *area)
{
	uint64_t first = area->start_byte >> UFD_PAGE_SHIFT;
	uint64_t last = (area->start_byte + area_length(area) - 1) >>
			UFD_PAGE_SHIFT;

	if (area->domain_pin)
		return 0;
	return pages_pin(area->pages, first, last, area->prot & UFD_MAP_WRITE,
			 &area->domain_pin);
}

static void area_unpin(struct ufd_area *area)
{
	if (!area->domain_pin)
		return;
	pages_unpin(area->pages, area->domain_pin);
	area->domain_pin = NULL;
}

static int area_map_domain(struct io_pagetable *iopt, struct ufd_area *area,
			   struct ufd_domain *dom)
{
	return pgt_map(&dom->pgt, area_iova(area), area_host(area),
		       area_length(area), area_pgt_prot(area),
		       max_pgsize(iopt));
}

static void area_unmap_domain(struct ufd_area *area, struct ufd_domain *dom)
{
	pgt_unmap(&dom->pgt, area_iova(area), area_length(area));
}

/* Pin @area and map it into every domain; all or nothing. */
static int area_fill_domains(struct io_pagetable *iopt, struct ufd_area *area)
{
	unsigned int i;
	int rc;

	if (!iopt->nr_domains)
		return 0;
	rc = area_pin(area);
	if (rc)
		return rc;
	/*
	 * No write section: a map only adds entries, each table published
	 * whole, and a failed one published nothing (pgt_map), so a DMA
	 * sees the new mapping or faults.  Taking back what earlier domains
	 * got is an unmap: in a write section.
	 */
	for (i = 0; i != iopt->nr_domains; i++) {
		rc = area_map_domain(iopt, area, iopt->domains[i]);
		if (rc)
			goto err_unmap;
	}
	return 0;
err_unmap:
	if (i) {
		dma_write_begin_entries(iopt->eng);
		while (i--)
			area_unmap_domain(area, iopt->domains[i]);
		dma_write_end(iopt->eng);
	}
	area_unpin(area);
	return rc;
}

static void area_unfill_domains(struct io_pagetable *iopt,
				struct ufd_area *area)
{
	unsigned int i;

	if (!iopt->nr_domains && !area->domain_pin)
		return;
	/* No DMA may still be using the IOPTEs or the pages behind them. */
	dma_write_begin_entries(iopt->eng);
	for (i = 0; i != iopt->nr_domains; i++)
		area_unmap_domain(area, iopt->domains[i]);
	area_unpin(area);
	dma_write_end(iopt->eng);
}

/* ---- runs of adjacent areas ---- */

/* The area that holds @iova, or NULL. */
static struct ufd_area *area_at(const struct io_pagetable *iopt,
				uint64_t iova)
{
	return area_first((struct io_pagetable *)iopt, iova, iova);
}

/* The first area of the run (of two or more) that holds @iova, or NULL. */
static struct ufd_area *run_head_of(const struct io_pagetable *iopt,
				    uint64_t iova)
{
	struct itree_node *n = itree_iter_first(&iopt->runs, iova, iova);

	return n ? container_of(n, struct ufd_area, run) : NULL;
}

/* @head starts a run of two or more areas that ends at @last. */
static void run_set(struct io_pagetable *iopt, struct ufd_area *head,
		    uint64_t last)
{
	if (head->run_head)
		itree_remove(&iopt->runs, &head->run);
	head->run.start = area_iova(head);
	head->run.last = last;
	itree_insert(&iopt->runs, &head->run);
	head->run_head = true;
	head->in_run = true;
}

/* @area is no run's first area any more (still in one if @in_run). */
static void run_unhead(struct io_pagetable *iopt, struct ufd_area *area,
		       bool in_run)
{
	if (area->run_head)
		itree_remove(&iopt->runs, &area->run);
	area->run_head = false;
	area->in_run = in_run;
}

/* [head, last] is what is left of a run: a run again, or one area. */
static void run_rest(struct io_pagetable *iopt, struct ufd_area *head,
		     uint64_t last)
{
	if (area_last_iova(head) == last)
		run_unhead(iopt, head, false);
	else
		run_set(iopt, head, last);
}

/* Put @area (not overlapping any) in the areas tree: with a neighbour
 * right before or right after it, it joins (or makes) their run.  An area
 * with none costs two lookups. */
static void area_link(struct io_pagetable *iopt, struct ufd_area *area)
{
	uint64_t iova = area_iova(area), last = area_last_iova(area);
	uint64_t lo = iova ? iova - 1 : iova;
	uint64_t hi = last != UFD_ULONG_MAX ? last + 1 : last;
	struct ufd_area *prev, *next, *head = area;
	uint64_t run_last = last;

	area->run_head = area->in_run = false;
	/* Nothing overlaps the area: one look finds whether a neighbour
	 * touches it. */
	if (!area_first(iopt, lo, hi)) {
		itree_insert(&iopt->areas, &area->node);
		return;
	}
	prev = iova ? area_at(iopt, iova - 1) : NULL;
	next = last != UFD_ULONG_MAX ? area_at(iopt, last + 1) : NULL;
	itree_insert(&iopt->areas, &area->node);
	if (prev)
		head = prev->in_run ? run_head_of(iopt, iova - 1) : prev;
	if (next) {
		/* Nothing was at last: next starts whatever it is in. */
		run_last = next->in_run ? next->run.last : area_last_iova(next);
		run_unhead(iopt, next, true);
	}
	area->in_run = true;
	run_set(iopt, head, run_last);
}

/* Take @area out of the areas tree, and out of its run, which it cuts in
 * two (or shortens, or ends). */
static void area_unlink(struct io_pagetable *iopt, struct ufd_area *area)
{
	uint64_t iova = area_iova(area), last = area_last_iova(area);
	struct ufd_area *head;
	uint64_t run_last;

	if (area->in_run) {
		head = run_head_of(iopt, iova);
		run_last = head->run.last;
		if (head != area)
			run_rest(iopt, head, iova - 1);
		if (last < run_last)
			run_rest(iopt, area_at(iopt, last + 1), run_last);
		run_unhead(iopt, area, false);
	}
	itree_remove(&iopt->areas, &area->node);
}

int iopt_contig_span(const struct io_pagetable *iopt, uint64_t iova,
		     uint64_t last, uint64_t *covered)
{
	struct ufd_area *head = run_head_of(iopt, iova);
	struct ufd_area *area = head ? NULL : area_at(iopt, iova);
	uint64_t run_last;

	if (!head && !area) {
		*covered = 0;
		return 1;
	}
	run_last = head ? head->run.last : area_last_iova(area);
	*covered = (run_last < last ? run_last : last) + 1 - iova;
	return run_last >= last ? 0 : 1;
}

/* ---- contiguous walks ---- */

struct ufd_area *iopt_contig_first(struct iopt_contig_iter *it,
				   struct io_pagetable *iopt, uint64_t iova,
				   uint64_t last)
{
	it->cur_iova = iova;
	it->last_iova = last;
	it->area = area_first(iopt, iova, iova);
	if (it->area && !it->area->pages)
		it->area = NULL;
	return it->area;
}

struct ufd_area *iopt_contig_next(struct iopt_contig_iter *it)
{
	uint64_t last;

	if (!it->area)
		return NULL;
	last = area_last_iova(it->area);
	if (it->last_iova <= last)
		return NULL;
	it->cur_iova = last + 1;
	it->area = area_next(it->area, it->cur_iova, it->last_iova);
	if (!it->area)
		return NULL;
	if (area_iova(it->area) != it->cur_iova || !it->area->pages) {
		it->area = NULL;
		return NULL;
	}
	return it->area;
}

/* ---- IOVA allocation ---- */

static uint64_t roundup_pow2(uint64_t v)
{
	if (v <= 1)
		return 1;
	return 1ULL << (64 - __builtin_clzll(v - 1));
}

/*
 * Can [*start, last] hold @length bytes at @alignment, keeping the user
 * address's offset in its page?  On success *start is the place.
 */
static bool fit_in_range(uint64_t *start, uint64_t last, uint64_t length,
			 uint64_t alignment, uint64_t page_offset)
{
	uint64_t aligned;

	if (__builtin_add_overflow(*start, alignment - 1, &aligned))
		return false;
	aligned &= ~(alignment - 1);
	aligned |= page_offset;
	if (aligned >= last || last - aligned < length - 1)
		return false;
	*start = aligned;
	return true;
}

static int iopt_alloc_iova(struct io_pagetable *iopt, uint64_t *iova,
			   uint64_t uaddr, uint64_t length, uint64_t min_align)
{
	const struct itree *used[] = { &iopt->reserved, &iopt->areas,
				       &iopt->user_resv };
	const struct itree *allowed[] = { &iopt->allowed };
	uint64_t page_offset = uaddr % UFD_PAGE_SIZE;
	uint64_t lo = UFD_PAGE_SIZE, hi = UFD_ULONG_MAX - UFD_PAGE_SIZE;
	struct itree_span asp, usp;
	uint64_t alignment;

	if (length == 0 || length >= UFD_ULONG_MAX / 2)
		return -EOVERFLOW;
	alignment = roundup_pow2(length);
	if (uaddr && (1ULL << __builtin_ctzll(uaddr)) < alignment)
		alignment = 1ULL << __builtin_ctzll(uaddr);
	if (alignment > UFD_HPAGE_SIZE)
		alignment = UFD_HPAGE_SIZE;
	if (alignment < min_align)
		alignment = min_align; /* a granule map's IOVA is G-aligned */
	if (alignment < iopt->iova_alignment)
		return -EINVAL;

	for (itree_span_first(&asp, allowed, 1, lo, hi); !asp.done;
	     itree_span_next(&asp)) {
		uint64_t start = asp.start;

		if (itree_empty(&iopt->allowed))
			asp.is_used = true; /* no list: everything allowed */
		if (!asp.is_used)
			continue;
		if (!fit_in_range(&start, asp.last, length, alignment,
				  page_offset))
			continue;
		for (itree_span_first(&usp, used, 3, start, asp.last);
		     !usp.done; itree_span_next(&usp)) {
			uint64_t hole = usp.start;

			if (usp.is_used)
				continue;
			if (!fit_in_range(&hole, usp.last, length, alignment,
					  page_offset))
				continue;
			*iova = hole;
			return 0;
		}
	}
	return -ENOSPC;
}

static int iopt_check_iova(struct io_pagetable *iopt, uint64_t iova,
			   uint64_t length)
{
	uint64_t last;

	if (iova & (iopt->iova_alignment - 1))
		return -EINVAL;
	if (__builtin_add_overflow(iova, length - 1, &last))
		return -EOVERFLOW;
	if (itree_iter_first(&iopt->reserved, iova, last))
		return -EINVAL;
	if (itree_iter_first(&iopt->areas, iova, last))
		return -EEXIST;
	return 0;
}

/* ---- map ---- */

static int area_init(struct io_pagetable *iopt, struct ufd_area *area,
		     const struct iopt_map_elm *elm, uint64_t iova,
		     unsigned int prot)
{
	uint64_t last_byte;

	if ((prot & UFD_MAP_WRITE) && !elm->pages->writable)
		return -EPERM;
	if ((elm->start_byte % UFD_PAGE_SIZE) & (iopt->iova_alignment - 1))
		return -EINVAL;
	area->prot = prot;
	area->start_byte = elm->start_byte;
	area->node.start = iova;
	if (__builtin_add_overflow(iova, elm->length - 1, &area->node.last))
		return -EOVERFLOW;
	if (__builtin_add_overflow(elm->start_byte, elm->length - 1,
				   &last_byte))
		return -EOVERFLOW;
	if ((last_byte >> UFD_PAGE_SHIFT) >= elm->pages->npages)
		return -EOVERFLOW;
	return 0;
}

static int map_pages(struct io_pagetable *iopt, struct iopt_map_elm *elms,
		     unsigned int nelms, uint64_t length, uint64_t *iova,
		     unsigned int prot, bool alloc_iova, uint64_t granule);

/*
 * Map the elements back to back at *iova (or at an allocated IOVA).  On
 * success the areas own the elements' pages references; on failure
 * nothing changed and the caller still owns them.
 */
int iopt_map_pages(struct io_pagetable *iopt, struct iopt_map_elm *elms,
		   unsigned int nelms, uint64_t length, uint64_t *iova,
		   unsigned int prot, bool alloc_iova)
{
	return map_pages(iopt, elms, nelms, length, iova, prot, alloc_iova, 0);
}

int iopt_map_pages_granule(struct io_pagetable *iopt,
			   struct iopt_map_elm *elm, uint64_t *iova,
			   unsigned int prot, bool alloc_iova,
			   uint64_t granule)
{
	return map_pages(iopt, elm, 1, elm->length, iova, prot, alloc_iova,
			 granule);
}

static int map_pages(struct io_pagetable *iopt, struct iopt_map_elm *elms,
		     unsigned int nelms, uint64_t length, uint64_t *iova,
		     unsigned int prot, bool alloc_iova, uint64_t granule)
{
	struct ufd_area *small[4], **areas = small;
	uint64_t cur;
	unsigned int i, inserted = 0;
	int rc;

	/* A MAP has one element: keep the common case off the heap. */
	if (nelms > sizeof(small) / sizeof(small[0])) {
		areas = ufd_calloc(nelms, sizeof(*areas));
		if (!areas)
			return -ENOMEM;
	} else {
		memset(small, 0, sizeof(small));
	}
	for (i = 0; i != nelms; i++) {
		areas[i] = ufd_cache_zalloc(&iopt->eng->area_cache,
					    sizeof(**areas));
		if (!areas[i]) {
			rc = -ENOMEM;
			goto out_free;
		}
	}

	if (!length || (length & (iopt->iova_alignment - 1))) {
		rc = -EINVAL;
		goto out_free;
	}
	if (alloc_iova) {
		rc = iopt_alloc_iova(iopt, iova,
				     elms[0].pages->uaddr + elms[0].start_byte,
				     length, granule);
		if (rc)
			goto out_free;
	}
	if (granule && (*iova & (granule - 1))) {
		rc = -EINVAL;
		goto out_free;
	}
	rc = iopt_check_iova(iopt, *iova, length);
	if (rc)
		goto out_free;

	cur = *iova;
	for (i = 0; i != nelms; i++) {
		rc = area_init(iopt, areas[i], &elms[i], cur, prot);
		if (rc)
			goto out_remove;
		cur += elms[i].length;
	}
	for (i = 0; i != nelms; i++) {
		areas[i]->pages = elms[i].pages;
		areas[i]->granule = granule;
		area_link(iopt, areas[i]);
		inserted++;
	}
	/* With domains the memory is pinned and mapped now (EFAULT here). */
	for (i = 0; i != nelms; i++) {
		rc = area_fill_domains(iopt, areas[i]);
		if (rc) {
			while (i--)
				area_unfill_domains(iopt, areas[i]);
			goto out_remove;
		}
	}
	if (areas != small)
		free(areas);
	return 0;

out_remove:
	for (i = 0; i != inserted; i++)
		area_unlink(iopt, areas[i]);
out_free:
	for (i = 0; i != nelms; i++)
		ufd_cache_free(&iopt->eng->area_cache, areas[i],
			       sizeof(**areas));
	if (areas != small)
		free(areas);
	return rc;
}

void iopt_put_elms(struct iopt_map_elm *elms, unsigned int nelms)
{
	unsigned int i;

	for (i = 0; i != nelms; i++)
		if (elms[i].pages)
			pages_put(elms[i].pages);
	free(elms);
}

/* The pages behind [iova, iova + length), which must be mapped without
 * holes, one element per area, each with a reference. */
int iopt_get_pages(struct io_pagetable *iopt, uint64_t iova, uint64_t length,
		   struct iopt_map_elm **out, unsigned int *nout)
{
	struct iopt_contig_iter it;
	struct iopt_map_elm *elms = NULL, *e;
	struct ufd_area *area;
	unsigned int n = 0;
	uint64_t last;

	if (!length)
		return -EINVAL;
	if (__builtin_add_overflow(iova, length - 1, &last))
		return -EOVERFLOW;
	iopt_for_each_contig_area(&it, area, iopt, iova, last) {
		uint64_t l = last < area_last_iova(area) ? last :
							   area_last_iova(area);

		e = ufd_realloc_array(elms, n + 1, sizeof(*elms));
		if (!e) {
			iopt_put_elms(elms, n);
			return -ENOMEM;
		}
		elms = e;
		elms[n].pages = area->pages;
		elms[n].start_byte = area_start_byte(area, it.cur_iova);
		elms[n].length = l - it.cur_iova + 1;
		pages_get(area->pages);
		n++;
	}
	if (!iopt_contig_done(&it)) {
		iopt_put_elms(elms, n);
		return -ENOENT;
	}
	*out = elms;
	*nout = n;
	return 0;
}

/* ---- unmap ---- */

static void area_free(struct io_pagetable *iopt, struct ufd_area *area)
{
	area_unfill_domains(iopt, area);
	area_unlink(iopt, area);
	pages_put(area->pages);
	ufd_cache_free(&iopt->eng->area_cache, area, sizeof(*area));
}

/* ---- granule cuts ---- */

/* An unmap cuts at most at its two ends. */
#define GCUT_MAX 2

struct granule_cut {
	unsigned int ncuts;
	uint64_t cuts[GCUT_MAX];          /* first IOVA of each right piece */
	struct ufd_area *area[GCUT_MAX];  /* the area each cut falls in */
	struct ufd_area *piece[GCUT_MAX]; /* allocated right pieces */
	struct pages_pin_user *pin[GCUT_MAX]; /* their domain pins */
	struct pgt_split *sp;             /* GCUT_MAX per domain */
	unsigned int *nsp;                /* used per domain */
};

/*
 * Where must an unmap of [start, last] cut?  0 and gc->ncuts (0: none),
 * -ENOENT if an area it only partly covers was not mapped with a granule
 * (the kernel's errno, unchanged), -EINVAL if such an area's granule does
 * not divide the cut, -EBUSY if the area cannot be cut now.
 */
static int granule_cut_find(struct io_pagetable *iopt, uint64_t start,
			    uint64_t last, struct granule_cut *gc)
{
	struct ufd_area *ends[2] = { area_first(iopt, start, start),
				     area_first(iopt, last, last) };
	uint64_t at[2] = { start, last + 1 };
	unsigned int i;

	memset(gc, 0, sizeof(*gc));
	for (i = 0; i != 2; i++) {
		struct ufd_area *a = ends[i];

		if (!a || area_iova(a) == at[i] ||
		    (i == 1 && area_last_iova(a) == last))
			continue;
		if (!a->granule)
			return -ENOENT;
		if ((at[i] - area_iova(a)) & (a->granule - 1))
			return -EINVAL;
		if (a->num_locked || a->prevent_access)
			return -EBUSY;
		gc->cuts[gc->ncuts] = at[i];
		gc->area[gc->ncuts] = a;
		gc->ncuts++;
	}
	return 0;
}

static void granule_cut_free(struct io_pagetable *iopt, struct granule_cut *gc)
{
	unsigned int i;

	if (gc->sp && gc->nsp)
		for (i = 0; i != iopt->nr_domains; i++)
			pgt_split_abort(&iopt->domains[i]->pgt,
					&gc->sp[i * GCUT_MAX], gc->nsp[i]);
	for (i = 0; i != gc->ncuts; i++) {
		free(gc->piece[i]);
		free(gc->pin[i]);
	}
	free(gc->sp);
	free(gc->nsp);
}

/* Everything the cuts need, allocated and built; nothing visible yet. */
static int granule_cut_prepare(struct io_pagetable *iopt,
			       struct granule_cut *gc)
{
	unsigned int i;
	int rc;

	for (i = 0; i != gc->ncuts; i++) {
		gc->piece[i] = ufd_zalloc(sizeof(*gc->piece[i]));
		if (!gc->piece[i])
			goto err_nomem;
		if (gc->area[i]->domain_pin) {
			gc->pin[i] = ufd_zalloc(sizeof(*gc->pin[i]));
			if (!gc->pin[i])
				goto err_nomem;
		}
	}
	if (iopt->nr_domains) {
		gc->sp = ufd_calloc((size_t)iopt->nr_domains * GCUT_MAX,
				    sizeof(*gc->sp));
		gc->nsp = ufd_calloc(iopt->nr_domains, sizeof(*gc->nsp));
		if (!gc->sp || !gc->nsp)
			goto err_nomem;
	}
	for (i = 0; i != iopt->nr_domains; i++) {
		rc = pgt_split_prepare(&iopt->domains[i]->pgt, gc->cuts,
				       gc->ncuts, &gc->sp[i * GCUT_MAX],
				       GCUT_MAX, &gc->nsp[i]);
		if (rc)
			goto err_free;
	}
	return 0;
err_nomem:
	rc = -ENOMEM;
err_free:
	granule_cut_free(iopt, gc);
	memset(gc, 0, sizeof(*gc));
	return rc;
}

/* Cut @left at @at: @right (prepared, with @pin if pinned) takes the
 * upper part.  Cannot fail. */
static void area_cut_at(struct io_pagetable *iopt, struct ufd_area *left,
			uint64_t at, struct ufd_area *right,
			struct pages_pin_user *pin)
{
	right->pages = left->pages;
	right->prot = left->prot;
	right->granule = left->granule;
	right->start_byte = area_start_byte(left, at);
	right->node.start = at;
	right->node.last = area_last_iova(left);
	area_unlink(iopt, left);
	left->node.last = at - 1;
	area_link(iopt, left);
	area_link(iopt, right);
	pages_get(right->pages);
	if (left->domain_pin) {
		pages_pin_user_split(left->pages, left->domain_pin,
				     area_index(left, at) - 1, pin);
		right->domain_pin = pin;
	}
	access_area_split(iopt, left, right);
}

static void granule_cut_commit(struct io_pagetable *iopt,
			       struct granule_cut *gc)
{
	unsigned int i;

	/* Superpages first: the translations stay, walkers go on. */
	for (i = 0; i != iopt->nr_domains; i++)
		pgt_split_commit(&iopt->domains[i]->pgt, &gc->sp[i * GCUT_MAX],
				 gc->nsp[i]);
	/* Highest cut first: a lower cut in the same area still finds it
	 * as gc->area[] (its left part). */
	for (i = gc->ncuts; i--;) {
		area_cut_at(iopt, gc->area[i], gc->cuts[i], gc->piece[i],
			    gc->pin[i]);
		gc->piece[i] = NULL;
		gc->pin[i] = NULL;
	}
	free(gc->sp);
	free(gc->nsp);
}

/* The part of @a inside [start, last]. */
static void clip(const struct ufd_area *a, uint64_t start, uint64_t last,
		 uint64_t *s, uint64_t *l)
{
	*s = area_iova(a) > start ? area_iova(a) : start;
	*l = area_last_iova(a) < last ? area_last_iova(a) : last;
}

/*
 * Cut the granule areas at the ends of [start, last] (see the top of the
 * file); @gc as granule_cut_find() left it.  Accesses pinning the part to
 * go are told first, before anything is built (their callbacks may call
 * back into the engine and change the tables), and the cuts are found
 * again after them; a pin that stays is -EDEADLK.  Then all or nothing.
 */
static int granule_cut(struct io_pagetable *iopt, uint64_t start,
		       uint64_t last, struct granule_cut *gc)
{
	bool told = false;
	unsigned int i;
	uint64_t s, l;
	int rc;

	for (i = 0; i != gc->ncuts; i++) {
		if (i && gc->area[i] == gc->area[0])
			break; /* both cuts in one area: told once */
		clip(gc->area[i], start, last, &s, &l);
		if (gc->area[i]->num_accesses && access_pins_meet(iopt, s, l)) {
			access_notify_unmap(iopt, s, l - s + 1);
			told = true;
		}
	}
	if (told) {
		rc = granule_cut_find(iopt, start, last, gc);
		if (rc)
			return rc;
		for (i = 0; i != gc->ncuts; i++) {
			clip(gc->area[i], start, last, &s, &l);
			if (access_pins_meet(iopt, s, l))
				return -EDEADLK;
		}
	}
	rc = granule_cut_prepare(iopt, gc);
	if (rc)
		return rc;
	granule_cut_commit(iopt, gc);
	return 0;
}

int iopt_unmap(struct io_pagetable *iopt, uint64_t start, uint64_t last,
	       uint64_t *unmapped)
{
	struct granule_cut gc;
	struct ufd_area *area;
	uint64_t bytes = 0;
	unsigned int tries = 0;
	int rc;

	/* All or nothing: refuse before touching anything. */
	rc = granule_cut_find(iopt, start, last, &gc);
	if (rc)
		return rc;
	for (area = area_first(iopt, start, last); area;
	     area = area_next(area, start, last))
		if (area->num_locked)
			return -EBUSY; /* a HW queue owns it */
	if (gc.ncuts) {
		rc = granule_cut(iopt, start, last, &gc);
		if (rc)
			return rc;
	}

	while ((area = area_first(iopt, start, last))) {
		uint64_t area_last = area_last_iova(area);

		if (area->num_accesses) {
			/* The accesses' unmap callbacks drop their pins. */
			area->prevent_access = true;
			access_notify_unmap(iopt, area_iova(area),
					    area_length(area));
			if (++tries > 100 || area->num_accesses) {
				area->prevent_access = false;
				if (unmapped)
					*unmapped = bytes;
				return -EDEADLK;
			}
			continue;
		}
		tries = 0;
		bytes += area_length(area);
		area_free(iopt, area);
		if (area_last >= last)
			break;
		start = area_last + 1;
	}
	if (unmapped)
		*unmapped = bytes;
	return 0;
}

/*
 * Split @area so that @iova is the last byte of the left part.  Both parts
 * share the pages; with domains each part gets its own pin user (the pages
 * stay pinned throughout) and the IO page table is left as it is: large
 * pages are off, so no IOPTE straddles the cut.
 */
static int area_split(struct io_pagetable *iopt, struct ufd_area *area,
		      uint64_t iova)
{
	uint64_t align_mask = iopt->iova_alignment - 1;
	uint64_t start = area_iova(area), last = area_last_iova(area);
	uint64_t new_start = iova + 1;
	struct ufd_area *lhs, *rhs;
	int rc;

	if (iova == start || iova == last)
		return 0;
	if (area->prevent_access)
		return -EBUSY;
	if ((new_start & align_mask) ||
	    ((area_start_byte(area, new_start) % UFD_PAGE_SIZE) & align_mask))
		return -EINVAL;
	if (area->num_accesses || area->num_locked)
		return -EINVAL;
	if (area->domain_pin && !iopt->disable_large_pages)
		return -EINVAL;
	lhs = ufd_zalloc(sizeof(*lhs));
	rhs = ufd_zalloc(sizeof(*rhs));
	if (!lhs || !rhs) {
		rc = -ENOMEM;
		goto err_free;
	}
	*lhs = *area;
	*rhs = *area;
	lhs->node.last = iova;
	rhs->node.start = new_start;
	/* A type1 cut off the granule: the pieces are plain areas. */
	if (area->granule && (new_start & (area->granule - 1)))
		lhs->granule = rhs->granule = 0;
	rhs->start_byte = area_start_byte(area, new_start);
	lhs->domain_pin = rhs->domain_pin = NULL;
	if (area->domain_pin) {
		rc = area_pin(lhs);
		if (rc)
			goto err_free;
		rc = area_pin(rhs);
		if (rc) {
			area_unpin(lhs);
			goto err_free;
		}
		area_unpin(area);
	}
	area_unlink(iopt, area);
	area_link(iopt, lhs);
	area_link(iopt, rhs);
	pages_get(rhs->pages);
	free(area);
	return 0;
err_free:
	free(lhs);
	free(rhs);
	return rc;
}

int iopt_cut(struct io_pagetable *iopt, const uint64_t *iovas, unsigned int n)
{
	unsigned int i;
	int rc;

	for (i = 0; i != n; i++) {
		struct ufd_area *area = area_first(iopt, iovas[i], iovas[i]);

		if (!area)
			continue;
		rc = area_split(iopt, area, iovas[i]);
		if (rc)
			return rc;
	}
	return 0;
}

/* ---- reserved and allowed ranges ---- */

int iopt_reserve(struct io_pagetable *iopt, uint64_t start, uint64_t last,
		 const void *owner)
{
	struct iopt_reserved *r;

	if (itree_iter_first(&iopt->areas, start, last) ||
	    itree_iter_first(&iopt->allowed, start, last) ||
	    itree_iter_first(&iopt->user_resv, start, last))
		return -EADDRINUSE;
	r = ufd_zalloc(sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->node.start = start;
	r->node.last = last;
	r->owner = owner;
	itree_insert(&iopt->reserved, &r->node);
	/* An extension: the IOAS's minimum aperture must stay. */
	if (iopt_check_min_window(iopt, NULL, NULL)) {
		itree_remove(&iopt->reserved, &r->node);
		free(r);
		return -ENOSPC;
	}
	return 0;
}

void iopt_remove_reserved(struct io_pagetable *iopt, const void *owner)
{
	struct itree_node *n, *next;

	for (n = itree_iter_first(&iopt->reserved, 0, UFD_ULONG_MAX); n;
	     n = next) {
		struct iopt_reserved *r =
			container_of(n, struct iopt_reserved, node);

		next = itree_iter_next(n, 0, UFD_ULONG_MAX);
		if (r->owner == owner) {
			itree_remove(&iopt->reserved, n);
			free(r);
		}
	}
}

int iopt_set_allow(struct io_pagetable *iopt,
		   const struct ufd_iova_range *ranges, uint32_t num)
{
	struct itree fresh = ITREE_INIT, old;
	struct itree_node *n;
	uint32_t i;
	int rc = 0;

	for (i = 0; i != num; i++) {
		struct iopt_allowed *a;

		if (ranges[i].start >= ranges[i].last) {
			rc = -EINVAL;
			goto out_free;
		}
		if (itree_iter_first(&fresh, ranges[i].start, ranges[i].last)) {
			rc = -EINVAL;
			goto out_free;
		}
		a = ufd_zalloc(sizeof(*a));
		if (!a) {
			rc = -ENOMEM;
			goto out_free;
		}
		a->node.start = ranges[i].start;
		a->node.last = ranges[i].last;
		itree_insert(&fresh, &a->node);
	}
	itree_for_each(n, &fresh, 0, UFD_ULONG_MAX) {
		if (itree_iter_first(&iopt->reserved, n->start, n->last)) {
			rc = -EADDRINUSE;
			goto out_free;
		}
	}
	old = iopt->allowed;
	iopt->allowed = fresh;
	fresh = old;
out_free:
	free_tree_nodes(&fresh, offsetof(struct iopt_allowed, node));
	return rc;
}

/* ---- alignment ---- */

static int iopt_check_alignment(struct io_pagetable *iopt, uint64_t align)
{
	struct ufd_area *area;
	uint64_t mask = align - 1;

	for (area = area_first(iopt, 0, UFD_ULONG_MAX); area;
	     area = area_next(area, 0, UFD_ULONG_MAX))
		if ((area_iova(area) & mask) || (area_length(area) & mask) ||
		    ((area->start_byte % UFD_PAGE_SIZE) & mask))
			return -EADDRINUSE;
	return 0;
}

static int iopt_calculate_alignment(struct io_pagetable *iopt)
{
	uint64_t align = iopt->disable_large_pages ? UFD_PAGE_SIZE : 1;
	unsigned int i;
	int rc;

	for (i = 0; i != iopt->nr_domains; i++) {
		uint64_t a = 1ULL << __builtin_ctzll(
				     iopt->domains[i]->pgsize_bitmap);

		if (a > align)
			align = a;
	}
	for (i = 0; i != iopt->nr_accesses; i++)
		if (iopt->accesses[i]->iova_alignment > align)
			align = iopt->accesses[i]->iova_alignment;
	if (align > iopt->iova_alignment) {
		rc = iopt_check_alignment(iopt, align);
		if (rc)
			return rc;
	}
	iopt->iova_alignment = align;
	return 0;
}

int iopt_disable_large_pages(struct io_pagetable *iopt)
{
	int rc;

	if (iopt->disable_large_pages)
		return 0;
	/* Existing domain mappings may use large IOPTEs already. */
	if (iopt->nr_domains && !itree_empty(&iopt->areas))
		return -EINVAL;
	iopt->disable_large_pages = true;
	rc = iopt_calculate_alignment(iopt);
	if (rc)
		iopt->disable_large_pages = false;
	return rc;
}

void iopt_enable_large_pages(struct io_pagetable *iopt)
{
	iopt->disable_large_pages = false;
	iopt_calculate_alignment(iopt); /* lowering cannot fail */
}

int iopt_add_access(struct io_pagetable *iopt, struct ufd_access *access)
{
	int rc;

	if (iopt->nr_accesses == iopt->cap_accesses) {
		unsigned int n = iopt->cap_accesses ? iopt->cap_accesses * 2 : 4;
		struct ufd_access **a;

		a = ufd_realloc_array(iopt->accesses, n, sizeof(*a));
		if (!a)
			return -ENOMEM;
		iopt->accesses = a;
		iopt->cap_accesses = n;
	}
	iopt->accesses[iopt->nr_accesses++] = access;
	rc = iopt_calculate_alignment(iopt);
	if (rc)
		iopt->nr_accesses--;
	return rc;
}

void iopt_remove_access(struct io_pagetable *iopt, struct ufd_access *access)
{
	unsigned int i;

	for (i = 0; i != iopt->nr_accesses; i++) {
		if (iopt->accesses[i] == access) {
			iopt->accesses[i] = iopt->accesses[--iopt->nr_accesses];
			break;
		}
	}
	iopt_calculate_alignment(iopt);
}

int iopt_add_domain(struct io_pagetable *iopt, struct ufd_domain *dom)
{
	uint64_t align = 1ULL << __builtin_ctzll(dom->pgsize_bitmap);
	struct ufd_area *area, *failed;
	int rc;

	if (align < iopt->iova_alignment)
		align = iopt->iova_alignment;
	if (align > UFD_PAGE_SIZE)
		return -EINVAL;
	if (align != iopt->iova_alignment) {
		rc = iopt_check_alignment(iopt, align);
		if (rc)
			return rc;
	}
	rc = iopt_check_min_pgsizes(iopt, dom->pgsize_bitmap);
	if (rc)
		return rc;
	if (dom->aperture_start) {
		rc = iopt_reserve(iopt, 0, dom->aperture_start - 1, dom);
		if (rc)
			goto err_reserved;
	}
	if (dom->aperture_last != UFD_ULONG_MAX) {
		rc = iopt_reserve(iopt, dom->aperture_last + 1, UFD_ULONG_MAX,
				  dom);
		if (rc)
			goto err_reserved;
	}
	if (iopt->nr_domains == iopt->cap_domains) {
		unsigned int n = iopt->cap_domains ? iopt->cap_domains * 2 : 2;
		struct ufd_domain **d;

		d = ufd_realloc_array(iopt->domains, n, sizeof(*d));
		if (!d) {
			rc = -ENOMEM;
			goto err_reserved;
		}
		iopt->domains = d;
		iopt->cap_domains = n;
	}
	dma_write_begin(iopt->eng);
	for (area = area_first(iopt, 0, UFD_ULONG_MAX); area;
	     area = area_next(area, 0, UFD_ULONG_MAX)) {
		rc = area_pin(area);
		if (rc)
			goto err_unfill;
		rc = area_map_domain(iopt, area, dom);
		if (rc) {
			if (!iopt->nr_domains)
				area_unpin(area);
			goto err_unfill;
		}
	}
	iopt->domains[iopt->nr_domains++] = dom;
	iopt->iova_alignment = align;
	dma_write_end(iopt->eng);
	return 0;

err_unfill:
	failed = area;
	for (area = area_first(iopt, 0, UFD_ULONG_MAX); area != failed;
	     area = area_next(area, 0, UFD_ULONG_MAX)) {
		area_unmap_domain(area, dom);
		if (!iopt->nr_domains)
			area_unpin(area);
	}
	dma_write_end(iopt->eng);
err_reserved:
	iopt_remove_reserved(iopt, dom);
	return rc;
}

void iopt_remove_domain(struct io_pagetable *iopt, struct ufd_domain *dom)
{
	struct ufd_area *area;
	unsigned int i;

	for (i = 0; i != iopt->nr_domains; i++)
		if (iopt->domains[i] == dom)
			break;
	if (i == iopt->nr_domains)
		return;
	dma_write_begin(iopt->eng);
	iopt->domains[i] = iopt->domains[--iopt->nr_domains];
	for (area = area_first(iopt, 0, UFD_ULONG_MAX); area;
	     area = area_next(area, 0, UFD_ULONG_MAX)) {
		area_unmap_domain(area, dom);
		if (!iopt->nr_domains)
			area_unpin(area);
	}
	dma_write_end(iopt->eng);
	iopt_remove_reserved(iopt, dom);
	iopt_calculate_alignment(iopt); /* lowering cannot fail */
}

/* ---- invariants ---- */

/* The runs are the maximal runs of two or more adjacent areas, each in
 * its first; in_run says which areas are in one. */
static int check_runs(const struct io_pagetable *iopt)
{
	struct ufd_area *area, *head = NULL, *prev = NULL;
	uint64_t nruns = 0, len = 0;

	for (area = area_first((struct io_pagetable *)iopt, 0, UFD_ULONG_MAX);;
	     prev = area, area = area_next(area, 0, UFD_ULONG_MAX)) {
		bool starts = !area || !prev ||
			      area_iova(area) != area_last_iova(prev) + 1;

		if (starts && head) {
			/* the run [head, prev] of len areas ended */
			if (head->run_head != (len > 1) ||
			    (len > 1 && (head->run.start != area_iova(head) ||
					 head->run.last != area_last_iova(prev))))
				return -1;
			nruns += len > 1;
		}
		if (!area)
			break;
		if (starts) {
			head = area;
			len = 0;
		} else if (area->run_head) {
			return -1;
		}
		len++;
		if (!starts && (!area->in_run || !prev->in_run))
			return -1;
	}
	for (area = area_first((struct io_pagetable *)iopt, 0, UFD_ULONG_MAX);
	     area; area = area_next(area, 0, UFD_ULONG_MAX))
		if (area->in_run != (area->run_head ||
				     (area_iova(area) &&
				      area_at(iopt, area_iova(area) - 1)) ||
				     (area_last_iova(area) != UFD_ULONG_MAX &&
				      area_at(iopt, area_last_iova(area) + 1))))
			return -1;
	return nruns == iopt->runs.count ? 0 : -1;
}

int iopt_check(struct io_pagetable *iopt)
{
	struct ufd_area *area, *prev = NULL;
	uint64_t mask = iopt->iova_alignment - 1;

	if (itree_check(&iopt->areas) || itree_check(&iopt->reserved) ||
	    itree_check(&iopt->allowed) || itree_check(&iopt->runs)) {
		fprintf(stderr, "uiommufd: iopt tree corrupt\n");
		return -EUCLEAN;
	}
	if (check_runs(iopt)) {
		fprintf(stderr, "uiommufd: runs of areas wrong\n");
		return -EUCLEAN;
	}
	if (iopt_check_ext(iopt))
		return -EUCLEAN;
	for (area = area_first(iopt, 0, UFD_ULONG_MAX); area;
	     area = area_next(area, 0, UFD_ULONG_MAX)) {
		uint64_t last_byte = area->start_byte + area_length(area) - 1;

		if (prev && area_iova(area) <= area_last_iova(prev)) {
			fprintf(stderr, "uiommufd: areas overlap\n");
			return -EUCLEAN;
		}
		if (!area->pages ||
		    (last_byte >> UFD_PAGE_SHIFT) >= area->pages->npages) {
			fprintf(stderr, "uiommufd: area outside its pages\n");
			return -EUCLEAN;
		}
		if ((area_iova(area) & mask) || (area_length(area) & mask)) {
			fprintf(stderr, "uiommufd: area misaligned\n");
			return -EUCLEAN;
		}
		if (area->granule &&
		    ((area->granule & (area->granule - 1)) ||
		     ((area_iova(area) | area_length(area)) &
		      (area->granule - 1)))) {
			fprintf(stderr, "uiommufd: area off its granule\n");
			return -EUCLEAN;
		}
		if (itree_iter_first(&iopt->reserved, area_iova(area),
				     area_last_iova(area))) {
			fprintf(stderr, "uiommufd: area over a reservation\n");
			return -EUCLEAN;
		}
		/* With domains every area is pinned, without none is. */
		if (!!area->domain_pin != !!iopt->nr_domains) {
			fprintf(stderr, "uiommufd: area pinned for domains "
					"wrongly\n");
			return -EUCLEAN;
		}
		prev = area;
	}
	return 0;
}

int iopt_reprot_source(struct io_pagetable *iopt, struct ufd_source *src)
{
	struct itree_node *n;
	unsigned int i;
	int ret = 0, rc;

	itree_for_each(n, &iopt->areas, 0, UFD_ULONG_MAX) {
		struct ufd_area *area = container_of(n, struct ufd_area, node);

		if (area->pages->src != src || !area->domain_pin)
			continue;
		for (i = 0; i != iopt->nr_domains; i++) {
			area_unmap_domain(area, iopt->domains[i]);
			rc = area_map_domain(iopt, area, iopt->domains[i]);
			if (rc && !ret)
				ret = rc;
		}
	}
	return ret;
}
