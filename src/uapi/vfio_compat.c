/* SPDX-License-Identifier: MIT */
/*
 * VFIO type1 container compatibility on the iommufd context: an ioctl
 * number outside iommufd's range lands here.  The container's address
 * space is the context's compat IOAS (IOMMU_VFIO_IOAS); with none, every
 * call that needs it answers -ENODEV, but only after its arguments were
 * checked (argsz, flags), as the kernel does.  VFIO_SET_IOMMU and
 * VFIO_CHECK_EXTENSION take a plain integer, not a pointer.
 */
#include <stddef.h>
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
		   uint64_t arg)
{
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
	return ufd_ioas_map(ctx, ioas_id, caller->mem, map.vaddr, map.size,
			    &iova, flags);
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
		/* Unmapping nothing is success with 0 bytes, unlike IOAS. */
		rc = ufd_ioas_unmap(ctx, ioas_id, unmap.iova, unmap.size,
				    &unmapped);
		if (rc == -ENOENT && !unmapped)
			rc = 0;
	}
	unmap.size = unmapped;
	if (copy_to_caller(caller, arg, &unmap, minsz))
		rc = -EFAULT;
	return rc;
}

static int get_info(struct ufd_ctx *ctx, const struct ufd_caller *caller,
		    uint64_t arg)
{
	const size_t minsz =
		offsetofend(struct vfio_iommu_type1_info, iova_pgsizes);
	struct vfio_iommu_type1_info info;
	uint32_t ioas_id, num;
	uint64_t align;
	int rc;

	rc = copy_from_caller(caller, &info, arg, minsz);
	if (rc)
		return rc;
	if (info.argsz < minsz)
		return -EINVAL;
	rc = ufd_ctx_get_compat_ioas(ctx, &ioas_id);
	if (rc)
		return rc;
	rc = ufd_ioas_iova_ranges(ctx, ioas_id, NULL, 0, &num, &align);
	if (rc)
		return rc;
	/* Capabilities (IOVA ranges, DMA available) come with issue 5. */
	info.flags = VFIO_IOMMU_INFO_PGSIZES;
	info.iova_pgsizes = ~(uint64_t)(align < 4096 ? 4096 - 1 : align - 1);
	return copy_to_caller(caller, arg, &info, minsz);
}

long vfio_compat_ioctl(struct ufd_ctx *ctx, const struct ufd_caller *caller,
		       unsigned long cmd, uint64_t arg)
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
		return map_dma(ctx, caller, arg);
	case VFIO_IOMMU_UNMAP_DMA:
		return unmap_dma(ctx, caller, arg);
	default:
		return -ENOTTY;
	}
}
