/* SPDX-License-Identifier: MIT */
/*
 * Internal to the dispatch layer: the state of one ioctl call, and the
 * helpers every handler uses to reach the caller's memory.  Handlers take
 * the command struct already copied in (size rules applied, unknown tail
 * checked, missing tail zeroed), validate fields in the kernel's order,
 * call the engine, and answer with ucmd_respond().
 */
#ifndef UFD_UAPI_UCMD_H
#define UFD_UAPI_UCMD_H

#include <errno.h>
#include <stdint.h>

#include <linux/iommufd.h>

#include "uapi/dispatch.h"

struct ufd_ucmd {
	struct ufd_ctx *ctx;
	const struct ufd_caller *caller;
	uint64_t ubuffer;    /* the argument pointer, in the caller */
	uint32_t user_size;  /* the size field the caller gave */
	uint32_t size;       /* sizeof the struct we know */
	void *cmd;           /* our copy, `size` bytes */
};

static inline int copy_from_caller(const struct ufd_caller *caller,
				   void *dst, uint64_t uptr, size_t len)
{
	if (!len)
		return 0;
	if (caller->win)
		return ufd_caller_read(caller, dst, uptr, len);
	return caller->mem->ops->read(caller->mem, dst, uptr, len);
}

static inline int copy_to_caller(const struct ufd_caller *caller,
				 uint64_t uptr, const void *src, size_t len)
{
	if (!len)
		return 0;
	if (caller->win)
		return ufd_caller_write(caller, uptr, src, len);
	return caller->mem->ops->write(caller->mem, uptr, src, len);
}

/* Write the (possibly updated) command back, up to the caller's size. */
int ucmd_respond(struct ufd_ucmd *ucmd);
/*
 * The answer of a command that mapped [@iova, @iova + @length) in IOAS
 * @ioas_id: ucmd_respond(), and if the reply cannot be written the map is
 * undone, as the kernel's iommufd_ioas_map() does.
 */
int ucmd_respond_or_unmap(struct ufd_ucmd *ucmd, uint32_t ioas_id,
			  uint64_t iova, uint64_t length);

/* The IOMMU_IOAS_MAP_* flags a map or copy command knows... */
#define UCMD_MAP_KNOWN_FLAGS                                     \
	(IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_WRITEABLE | \
	 IOMMU_IOAS_MAP_READABLE)

/* ...and the engine's UFD_MAP_* for them. */
static inline unsigned int ucmd_map_flags(uint32_t uflags)
{
	unsigned int f = 0;

	if (uflags & IOMMU_IOAS_MAP_FIXED_IOVA)
		f |= UFD_MAP_FIXED_IOVA;
	if (uflags & IOMMU_IOAS_MAP_WRITEABLE)
		f |= UFD_MAP_WRITE;
	if (uflags & IOMMU_IOAS_MAP_READABLE)
		f |= UFD_MAP_READ;
	return f;
}

/* Handlers, by file. */
int ioas_ops_alloc(struct ufd_ucmd *ucmd);
int ioas_ops_iova_ranges(struct ufd_ucmd *ucmd);
int ioas_ops_allow_iovas(struct ufd_ucmd *ucmd);
int ioas_ops_map(struct ufd_ucmd *ucmd);
int ioas_ops_copy(struct ufd_ucmd *ucmd);
int ioas_ops_unmap(struct ufd_ucmd *ucmd);
int ioas_ops_option(struct ufd_ucmd *ucmd);
int ioas_ops_vfio_ioas(struct ufd_ucmd *ucmd);
int ioas_ops_destroy(struct ufd_ucmd *ucmd);
/* ioas_file_ops.c: MAP_FILE, CHANGE_PROCESS and the test dma-bufs. */
int ioas_ops_map_file(struct ufd_ucmd *ucmd);
int ioas_ops_change_process(struct ufd_ucmd *ucmd);
struct iommu_test_cmd;
int test_op_dmabuf_get(struct ufd_ucmd *ucmd, struct iommu_test_cmd *cmd);
int test_op_dmabuf_revoke(struct ufd_ucmd *ucmd, struct iommu_test_cmd *cmd);
extern const struct ufd_file_ops ufd_dmabuf_file_ops;

int hwpt_ops_alloc(struct ufd_ucmd *ucmd);
int hwpt_ops_get_hw_info(struct ufd_ucmd *ucmd);
int hwpt_ops_set_dirty_tracking(struct ufd_ucmd *ucmd);
int hwpt_ops_get_dirty_bitmap(struct ufd_ucmd *ucmd);
int hwpt_ops_invalidate(struct ufd_ucmd *ucmd);
int hwpt_ops_fault_alloc(struct ufd_ucmd *ucmd);

int viommu_ops_alloc(struct ufd_ucmd *ucmd);
int viommu_ops_vdevice_alloc(struct ufd_ucmd *ucmd);
int viommu_ops_veventq_alloc(struct ufd_ucmd *ucmd);
int viommu_ops_hw_queue_alloc(struct ufd_ucmd *ucmd);
int viommu_ops_trigger_vevent(struct ufd_ucmd *ucmd);
struct iommu_hwpt_invalidate;
/* HWPT_INVALIDATE naming a vIOMMU: its driver's entries (viommu_ops.c). */
int viommu_invalidate(struct ufd_ucmd *ucmd, struct iommu_hwpt_invalidate *cmd,
		      uint32_t *done);
/* mmap of a vIOMMU's range of the /dev/iommu fd, and its accesses. */
int viommu_file_mmap(struct ufd_ctx *ctx, uint64_t offset, uint64_t len,
		     int prot, struct ufd_file_mmap *out);
int viommu_file_mmio(struct ufd_ctx *ctx, unsigned int region, uint64_t off,
		     unsigned int size, bool write, uint64_t *val);

int test_ops_cmd(struct ufd_ucmd *ucmd);
/* IOTLB slot @slot of the selftest's nested HWPT @hwpt_id (hwpt_ops.c). */
int mock_nested_iotlb(struct ufd_ctx *ctx, uint32_t hwpt_id, uint32_t slot,
		      uint32_t *value);
/* The mock device ops of IOMMU_TEST_CMD (mock_ops.c). */
int test_ops_device(struct ufd_ucmd *ucmd);
/*
 * Set cache tag @cache_id (UINT32_MAX: every tag) of mock device @dev_id
 * to @value: -ENOENT if it is no mock device, -EINVAL for a bad tag.
 */
int mock_dev_cache_reset(struct ufd_ctx *ctx, uint32_t dev_id,
			 uint32_t cache_id, uint32_t value);

/* VFIO type1 container calls (any ioctl number outside iommufd's). */
long vfio_compat_ioctl(struct ufd_ctx *ctx, const struct ufd_caller *caller,
		       unsigned long cmd, uint64_t arg);
/*
 * The same for the legacy container (/dev/vfio/vfio), whose MAP_DMA also
 * maps a range of a device BAR's mmap: @p2p gives the source for
 * [vaddr, vaddr + len) when it is one (a reference), -ENOENT when not.
 */
typedef int (*vfio_p2p_fn)(const struct ufd_caller *caller, uint64_t vaddr,
			   uint64_t len, struct ufd_source **out);
long vfio_compat_ioctl_p2p(struct ufd_ctx *ctx,
			   const struct ufd_caller *caller, unsigned long cmd,
			   uint64_t arg, vfio_p2p_fn p2p);
/* The name of a VFIO container call, or NULL. */
const char *vfio_compat_ioctl_name(unsigned long cmd);

#endif
