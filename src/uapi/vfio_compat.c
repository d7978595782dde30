/* SPDX-License-Identifier: MIT */
/*
 * VFIO type1 container compatibility on the iommufd context: an ioctl
 * number outside iommufd's range lands here.  The container's address
 * space is the context's compat IOAS (IOMMU_VFIO_IOAS); with none, every
 * call that needs it answers -ENODEV, but only after its arguments were
 * checked (argsz, flags), as the kernel does.  VFIO_SET_IOMMU and
 * VFIO_CHECK_EXTENSION take a plain integer, not a pointer.
 *
 * TYPE1 (v1) may unmap part of a mapping: SET_IOMMU(TYPE1) turns large
 * IOPTEs off for the IOAS, and unmap first cuts the areas at the edges of
 * the range.  TYPE1v2 keeps the IOAS rule (no splitting, -ENOENT).  An
 * unmap that finds nothing is success with 0 bytes.
 *
 * Peer-to-peer: only the legacy container (vfio_compat_ioctl_p2p, with
 * its p2p lookup) maps a vaddr range inside a device BAR's mmap, through
 * a source that is the BAR; /dev/iommu as a container refuses it, as
 * iommufd does (the caller's memory cannot be pinned there: -EFAULT).  GET_INFO writes its
 * capability chain (DMA available, IOVA ranges) only as far as argsz
 * reaches and always reports the size the whole chain needs.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <linux/vfio.h>

#include "uapi/ucmd.h"

#define offsetofend(T, m) (offsetof(T, m) + sizeof(((T *)0)->m))

static int check_extension(struct ufd_ctx *ctx, uint64_t type)
{
	switch (type) {
	case VFIO_TYPE1_IOMMU:
	case VFIO_TYPE1v2_IOMMU:
	case VFIO_UNMAP_ALL:
		return 1;
	default:
		return 0;
	}
}

static int set_iommu(struct ufd_ctx *ctx, uint64_t type)
{
	uint32_t ioas_id;
	int rc;

	if (type != VFIO_TYPE1_IOMMU && type != VFIO_TYPE1v2_IOMMU)
		return -EINVAL;
	rc = ufd_ctx_get_compat_ioas(ctx, &ioas_id);
	if (rc)
		return rc;
	/* TYPE1 may unmap inside a mapping: no large IOPTEs to split. */
	if (type == VFIO_TYPE1_IOMMU)
		return ufd_ioas_set_huge_pages(ctx, ioas_id, false);
	return 0;
}

static int map_dma(struct ufd_ctx *ctx, const struct ufd_caller *caller,
		   uint64_t arg, vfio_p2p_fn p2p)
{
	struct ufd_source *src = NULL;
	const size_t minsz = offsetofend(struct vfio_iommu_type1_dma_map, size);
	struct vfio_iommu_type1_dma_map map;
	unsigned int flags = UFD_MAP_FIXED_IOVA;
	uint32_t ioas_id;
	uint64_t iova;
	int rc;

	rc = copy_from_caller(caller, &map, arg, minsz);
	if (rc)
		return rc;
	if (map.argsz < minsz ||
	    (map.flags & ~(VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE)))
		return -EINVAL;
	if (map.flags & VFIO_DMA_MAP_FLAG_READ)
		flags |= UFD_MAP_READ;
	if (map.flags & VFIO_DMA_MAP_FLAG_WRITE)
		flags |= UFD_MAP_WRITE;
	rc = ufd_ctx_get_compat_ioas(ctx, &ioas_id);
	if (rc)
		return rc;
	iova = map.iova;
	if (p2p) {
		rc = p2p(caller, map.vaddr, map.size, &src);
		if (rc && rc != -ENOENT)
			return rc;
	}
	rc = ufd_ioas_map(ctx, ioas_id, src ? src : caller->mem, map.vaddr,
			  map.size, &iova, flags);
	if (src)
		ufd_source_put(src); /* the mapping holds its own */
	return rc;
}

static int unmap_dma(struct ufd_ctx *ctx, const struct ufd_caller *caller,
		     uint64_t arg)
{
	const size_t minsz =
		offsetofend(struct vfio_iommu_type1_dma_unmap, size);
	struct vfio_iommu_type1_dma_unmap unmap;
	uint64_t unmapped = 0, last;
	uint32_t ioas_id;
	int rc;

	rc = copy_from_caller(caller, &unmap, arg, minsz);
	if (rc)
		return rc;
	if (unmap.argsz < minsz || (unmap.flags & ~VFIO_DMA_UNMAP_FLAG_ALL))
		return -EINVAL;
	rc = ufd_ctx_get_compat_ioas(ctx, &ioas_id);
	if (rc)
		return rc;
	if (unmap.flags & VFIO_DMA_UNMAP_FLAG_ALL) {
		if (unmap.iova || unmap.size)
			return -EINVAL;
		rc = ufd_ioas_unmap(ctx, ioas_id, 0, UINT64_MAX, &unmapped);
	} else if (!unmap.size) {
		rc = -EINVAL;
	} else if (__builtin_add_overflow(unmap.iova, unmap.size - 1, &last)) {
		rc = -EOVERFLOW;
	} else {
		bool large = true;

		rc = ufd_ioas_get_huge_pages(ctx, ioas_id, &large);
		if (!rc && !large) {
			/* TYPE1: cut at the range's edges first. */
			uint64_t cuts[2] = { last, unmap.iova - 1 };

			rc = ufd_ioas_cut(ctx, ioas_id, cuts,
					  unmap.iova ? 2 : 1);
		}
		if (!rc)
			rc = ufd_ioas_unmap_range(ctx, ioas_id, unmap.iova,
						  unmap.size, &unmapped);
	}
	unmap.size = unmapped;
	if (copy_to_caller(caller, arg, &unmap, minsz))
		rc = -EFAULT;
	return rc;
}

/* Each fill writes its capability at @at if @avail bytes hold it, and
 * returns its size (or -errno). */
static long cap_dma_avail(struct ufd_ctx *ctx, uint32_t ioas_id,
			  const struct ufd_caller *caller, uint64_t at,
			  uint64_t avail)
{
	struct vfio_iommu_type1_info_dma_avail cap = {
		.header = { .id = VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL,
			    .version = 1 },
		/* Mappings are limited by memory, not a count. */
		.avail = UINT32_MAX,
	};

	if (avail >= sizeof(cap) && copy_to_caller(caller, at, &cap,
						   sizeof(cap)))
		return -EFAULT;
	return sizeof(cap);
}

static long cap_iova_range(struct ufd_ctx *ctx, uint32_t ioas_id,
			   const struct ufd_caller *caller, uint64_t at,
			   uint64_t avail)
{
	struct vfio_iommu_type1_info_cap_iova_range cap = {
		.header = { .id = VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE,
			    .version = 1 },
	};
	const size_t range_off =
		offsetof(struct vfio_iommu_type1_info_cap_iova_range,
			 iova_ranges);
	struct ufd_iova_range *ranges;
	uint32_t num, i;
	uint64_t align;
	long size;
	int rc;

	rc = ufd_ioas_iova_ranges(ctx, ioas_id, NULL, 0, &num, &align);
	if (rc)
		return rc;
	ranges = calloc(num ? num : 1, sizeof(*ranges));
	if (!ranges)
		return -ENOMEM;
	rc = ufd_ioas_iova_ranges(ctx, ioas_id, ranges, num, &num, &align);
	size = rc ? rc : (long)(range_off + num * sizeof(struct vfio_iova_range));
	for (i = 0; !rc && i != num; i++) {
		struct vfio_iova_range r = { .start = ranges[i].start,
					     .end = ranges[i].last };
		uint64_t off = range_off + i * sizeof(r);

		if (avail >= off + sizeof(r) &&
		    copy_to_caller(caller, at + off, &r, sizeof(r)))
			size = -EFAULT;
	}
	cap.nr_iovas = num;
	if (size > 0 && avail >= (uint64_t)size &&
	    copy_to_caller(caller, at, &cap, range_off))
		size = -EFAULT;
	free(ranges);
	return size;
}

static int get_info(struct ufd_ctx *ctx, const struct ufd_caller *caller,
		    uint64_t arg)
{
	typedef long (*fill_fn)(struct ufd_ctx *ctx, uint32_t ioas_id,
				const struct ufd_caller *caller, uint64_t at,
				uint64_t avail);
	static const fill_fn fills[] = { cap_dma_avail, cap_iova_range };
	struct vfio_iommu_type1_info info = { 0 };
	size_t minsz = offsetofend(struct vfio_iommu_type1_info, iova_pgsizes);
	uint64_t total = sizeof(info), last_cap = 0, pgsizes;
	uint32_t ioas_id;
	unsigned int i;
	int rc;

	rc = copy_from_caller(caller, &info, arg, minsz);
	if (rc)
		return rc;
	if (info.argsz < minsz)
		return -EINVAL;
	if (info.argsz < sizeof(info))
		minsz = info.argsz;
	else
		minsz = sizeof(info);
	rc = ufd_ctx_get_compat_ioas(ctx, &ioas_id);
	if (rc)
		return rc;
	rc = ufd_ioas_page_sizes(ctx, ioas_id, &pgsizes);
	if (rc)
		return rc;
	info.flags = VFIO_IOMMU_INFO_PGSIZES;
	info.iova_pgsizes = pgsizes;
	info.cap_offset = 0;
	for (i = 0; i != sizeof(fills) / sizeof(fills[0]); i++) {
		uint64_t avail = info.argsz > total ? info.argsz - total : 0;
		long size = fills[i](ctx, ioas_id, caller, arg + total, avail);
		uint32_t next = (uint32_t)total;

		if (size < 0)
			return (int)size;
		size = (size + 7) & ~7L;
		/* Link the previous capability to this one if it was written. */
		if (last_cap && info.argsz >= total &&
		    copy_to_caller(caller,
				   last_cap +
					   offsetof(struct vfio_info_cap_header,
						    next),
				   &next, sizeof(next)))
			return -EFAULT;
		last_cap = arg + total;
		total += (uint64_t)size;
	}
	if (info.argsz >= total)
		info.cap_offset = sizeof(info);
	info.argsz = (uint32_t)total;
	info.flags |= VFIO_IOMMU_INFO_CAPS;
	return copy_to_caller(caller, arg, &info, minsz);
}

long vfio_compat_ioctl(struct ufd_ctx *ctx, const struct ufd_caller *caller,
		       unsigned long cmd, uint64_t arg)
{
	return vfio_compat_ioctl_p2p(ctx, caller, cmd, arg, NULL);
}

long vfio_compat_ioctl_p2p(struct ufd_ctx *ctx,
			   const struct ufd_caller *caller, unsigned long cmd,
			   uint64_t arg, vfio_p2p_fn p2p)
{
	switch (cmd) {
	case VFIO_GET_API_VERSION:
		return VFIO_API_VERSION;
	case VFIO_CHECK_EXTENSION:
		return check_extension(ctx, arg);
	case VFIO_SET_IOMMU:
		return set_iommu(ctx, arg);
	case VFIO_IOMMU_GET_INFO:
		return get_info(ctx, caller, arg);
	case VFIO_IOMMU_MAP_DMA:
		return map_dma(ctx, caller, arg, p2p);
	case VFIO_IOMMU_UNMAP_DMA:
		return unmap_dma(ctx, caller, arg);
	default:
		return -ENOTTY;
	}
}

const char *vfio_compat_ioctl_name(unsigned long cmd)
{
	switch (cmd) {
	case VFIO_GET_API_VERSION:
		return "VFIO_GET_API_VERSION";
	case VFIO_CHECK_EXTENSION:
		return "VFIO_CHECK_EXTENSION";
	case VFIO_SET_IOMMU:
		return "VFIO_SET_IOMMU";
	case VFIO_IOMMU_GET_INFO:
		return "VFIO_IOMMU_GET_INFO";
	case VFIO_IOMMU_MAP_DMA:
		return "VFIO_IOMMU_MAP_DMA";
	case VFIO_IOMMU_UNMAP_DMA:
		return "VFIO_IOMMU_UNMAP_DMA";
	default:
		return NULL;
	}
}
