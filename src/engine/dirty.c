/* SPDX-License-Identifier: MIT */
/*
 * Dirty tracking on paging HWPTs, for live migration: the domain's leaf
 * entries carry a dirty bit (set by DMA writes through the DMA path, or by
 * the selftest's DIRTY op standing in for a device); a harvest reports
 * each dirty leaf at its full size and clears it unless asked to keep it.
 * The walk visits only the tables that exist (engine/pgtable.c), so a
 * harvest costs what is mapped, not the IOVA span.
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
	struct ufd_area *area;
	int rc;

	eng_lock(ctx->eng);
	rc = dirty_hwpt(ctx, hwpt_id, &hwpt);
	if (rc)
		goto out;
	if (!hwpt->domain.dirty_ops) {
		rc = -EOPNOTSUPP;
		goto out;
	}
	if (enable) {
		for (area = area_first(&hwpt->ioas->iopt, 0, UFD_ULONG_MAX);
		     area; area = area_next(area, 0, UFD_ULONG_MAX))
			pgt_read_and_clear_dirty(&hwpt->domain.pgt,
						 area_iova(area),
						 area_length(area), false,
						 NULL, NULL);
	}
	hwpt->domain.dirty_tracking = enable;
out:
	eng_unlock(ctx->eng);
	return rc;
}

int ufd_hwpt_read_dirty(struct ufd_ctx *ctx, uint32_t hwpt_id, uint64_t iova,
			uint64_t length, uint64_t page_size, bool keep,
			void (*fn)(void *arg, uint64_t iova, uint64_t length),
			void *arg)
{
	struct iopt_contig_iter it;
	struct io_pagetable *iopt;
	struct ufd_hwpt *hwpt;
	struct ufd_area *area;
	uint64_t last, align;
	int rc;

	eng_lock(ctx->eng);
	rc = dirty_hwpt(ctx, hwpt_id, &hwpt);
	if (rc)
		goto out;
	iopt = &hwpt->ioas->iopt;
	align = iopt->iova_alignment;
	if (!length) {
		rc = -EINVAL;
		goto out;
	}
	if (__builtin_add_overflow(iova, length - 1, &last)) {
		rc = -EOVERFLOW;
		goto out;
	}
	if ((iova & (align - 1)) || ((last + 1) & (align - 1)) || !page_size ||
	    (iova & (page_size - 1)) || ((last + 1) & (page_size - 1))) {
		rc = -EINVAL;
		goto out;
	}
	if (!hwpt->domain.dirty_ops) {
		rc = -EOPNOTSUPP;
		goto out;
	}
	if (!hwpt->domain.dirty_tracking) {
		rc = -EINVAL;
		goto out;
	}
	iopt_for_each_contig_area(&it, area, iopt, iova, last) {
		uint64_t l = last < area_last_iova(area) ? last :
							   area_last_iova(area);

		pgt_read_and_clear_dirty(&hwpt->domain.pgt, it.cur_iova,
					 l - it.cur_iova + 1, keep, fn, arg);
	}
	if (!iopt_contig_done(&it))
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
