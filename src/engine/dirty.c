/* SPDX-License-Identifier: MIT */
/*
 * Dirty tracking on paging HWPTs, for live migration: the domain's page
 * table keeps a dense dirty bitmap of what it maps (engine/pgt_dirty.c),
 * marked by DMA writes through the DMA path, or by the selftest's DIRTY op
 * standing in for a device; a harvest reports each dirty leaf at its full
 * size and clears it unless asked to keep it.  A harvest into a bitmap
 * moves bitmap words (shifts and ORs, or OR-reduction when the page size
 * is larger than the IO page); dirty groups are found by summary words, so
 * a harvest costs the dirty part of what is mapped, and a range with
 * nothing dirty costs a look at its summaries.
 *
 * Harvests and the clear on enable exclude the DMA path's markers with a
 * DMA write section (taken only when something in the range may be
 * dirty), so they copy and clear words plainly, and exactly: a DMA write
 * completes before the section (and is harvested) or after it (and is
 * left for the next harvest).
 *
 * Enabling tracking first clears the bits of every area, so what was
 * dirtied before tracking started is not reported.  A harvest must cover
 * mapped IOVA without holes (-EINVAL otherwise), as the kernel requires.
 *
 * Intervals are inclusive.  Locking: eng->lock, taken by the entry points;
 * the report callback runs with it held and must not call the engine.
 */
#include "engine/engine.h"

/* A HWPT that can track dirty bits, or the errno the kernel would give. */
static int dirty_hwpt(struct ufd_ctx *ctx, uint32_t hwpt_id,
		      struct ufd_hwpt **out)
{
	struct ufd_hwpt *hwpt = hwpt_find(ctx, hwpt_id);

	if (!hwpt)
		return -ENOENT;
	*out = hwpt;
	return 0;
}

int ufd_hwpt_set_dirty_tracking(struct ufd_ctx *ctx, uint32_t hwpt_id,
				bool enable)
{
	struct ufd_hwpt *hwpt;
	int rc;

	eng_lock(ctx->eng);
	rc = dirty_hwpt(ctx, hwpt_id, &hwpt);
	if (rc)
		goto out;
	if (!hwpt->domain.dirty_ops) {
		rc = -EOPNOTSUPP;
		goto out;
	}
	dma_write_begin(ctx->eng);
	if (enable)
		pgt_dirty_clear_all(&hwpt->domain.pgt);
	hwpt->domain.dirty_tracking = enable;
	dma_write_end(ctx->eng);
out:
	eng_unlock(ctx->eng);
	return rc;
}

/*
 * Checks a harvest's arguments and finds how much of [iova, last] is
 * mapped without holes from @iova on: *covered bytes (0 if none).  The
 * errno the kernel gives, or 0 (the hole's -EINVAL comes after the
 * harvest of what is before it, as in the kernel).
 */
static int harvest_range(struct ufd_ctx *ctx, uint32_t hwpt_id, uint64_t iova,
			 uint64_t length, uint64_t page_size,
			 struct ufd_hwpt **out, uint64_t *covered)
{
	struct io_pagetable *iopt;
	struct ufd_hwpt *hwpt;
	uint64_t last, align;
	int rc;

	rc = dirty_hwpt(ctx, hwpt_id, &hwpt);
	if (rc)
		return rc;
	iopt = &hwpt->ioas->iopt;
	align = iopt->iova_alignment;
	if (!length)
		return -EINVAL;
	if (__builtin_add_overflow(iova, length - 1, &last))
		return -EOVERFLOW;
	if ((iova & (align - 1)) || ((last + 1) & (align - 1)) || !page_size ||
	    (page_size & (page_size - 1)) || (iova & (page_size - 1)) ||
	    ((last + 1) & (page_size - 1)))
		return -EINVAL;
	if (!hwpt->domain.dirty_ops)
		return -EOPNOTSUPP;
	if (!hwpt->domain.dirty_tracking)
		return -EINVAL;
	*out = hwpt;
	return iopt_contig_span(iopt, iova, last, covered);
}

int ufd_hwpt_read_dirty(struct ufd_ctx *ctx, uint32_t hwpt_id, uint64_t iova,
			uint64_t length, uint64_t page_size, bool keep,
			void (*fn)(void *arg, uint64_t iova, uint64_t length),
			void *arg)
{
	struct ufd_pgtable *pgt;
	struct ufd_hwpt *hwpt;
	uint64_t covered = 0;
	int rc;

	eng_lock(ctx->eng);
	rc = harvest_range(ctx, hwpt_id, iova, length, page_size, &hwpt,
			   &covered);
	if (rc < 0)
		goto out;
	pgt = &hwpt->domain.pgt;
	if (covered && pgt_dirty_maybe(pgt, iova, covered)) {
		dma_write_begin_entries(ctx->eng);
		pgt_read_and_clear_dirty(pgt, iova, covered, keep, fn, arg);
		dma_write_end(ctx->eng);
	}
	if (rc)
		rc = -EINVAL;
out:
	eng_unlock(ctx->eng);
	return rc;
}

int ufd_hwpt_read_dirty_bitmap(struct ufd_ctx *ctx, uint32_t hwpt_id,
			       uint64_t iova, uint64_t length,
			       uint64_t page_size, bool keep, uint8_t *bitmap)
{
	struct ufd_pgtable *pgt;
	struct ufd_hwpt *hwpt;
	uint64_t covered = 0;
	int rc;

	eng_lock(ctx->eng);
	rc = harvest_range(ctx, hwpt_id, iova, length, page_size, &hwpt,
			   &covered);
	if (rc < 0)
		goto out;
	if (!bitmap) {
		rc = 0; /* a check of the arguments only */
		goto out;
	}
	pgt = &hwpt->domain.pgt;
	if (covered && pgt_dirty_maybe(pgt, iova, covered)) {
		dma_write_begin_entries(ctx->eng);
		pgt_dirty_to_bitmap(pgt, iova, covered,
				    (unsigned int)__builtin_ctzll(page_size),
				    keep, bitmap);
		dma_write_end(ctx->eng);
	}
	if (rc)
		rc = -EINVAL;
out:
	eng_unlock(ctx->eng);
	return rc;
}

int ufd_hwpt_mark_dirty(struct ufd_ctx *ctx, uint32_t hwpt_id, uint64_t iova,
			uint64_t page_size, const uint8_t *bitmap,
			uint64_t nbits, uint64_t *marked)
{
	struct ufd_hwpt *hwpt;
	uint64_t i, count = 0;
	int rc;

	eng_lock(ctx->eng);
	rc = dirty_hwpt(ctx, hwpt_id, &hwpt);
	if (rc)
		goto out;
	if (!hwpt->domain.dirty_tracking) {
		rc = -EINVAL;
		goto out;
	}
	for (i = 0; i < nbits; i++) {
		/* Skip clear bytes whole: a sparse bitmap costs its set bits. */
		if (!(i % 8) && !bitmap[i / 8]) {
			i += 7;
			continue;
		}
		if (!(bitmap[i / 8] & (1u << (i % 8))))
			continue;
		count += pgt_mark_dirty(&hwpt->domain.pgt,
					iova + i * page_size);
	}
	*marked = count;
out:
	eng_unlock(ctx->eng);
	return rc;
}
