/* SPDX-License-Identifier: MIT */
/*
 * The command table and the ABI's general rules, written once.
 *
 * An ioctl whose _IOC_NR lies in iommufd's range is looked up in the
 * table; anything else goes to the VFIO type1 compatibility handler.  For
 * a table command, in this order (the kernel's):
 *   1. read the u32 size at the argument         -EFAULT (NULL included)
 *   2. the full ioctl number must match a row that the caller's
 *      kernel personality has (row.since)        -ENOTTY
 *   3. size < min_size                           -EINVAL
 *   4. size > sizeof: the bytes past it must be 0 -E2BIG
 *   5. copy min(size, sizeof); zero the rest; run the handler
 * A zero tail therefore behaves exactly like the exact size.  The
 * uiommufd extensions (<linux/iommufd_ext.h>: ioctl type 'u', never
 * iommufd's ';') are a second table under the same rules; a caller with
 * no_extensions meets them as the kernel does: as unknown numbers.  A command
 * that makes objects runs in a publication window: what it made becomes
 * visible to other callers only after its reply was written.  Handlers
 * answer through ucmd_respond(), which writes back no more than the
 * caller's size.  No locking here: the engine locks.
 */
#include <stddef.h>
#include <string.h>
#include <sys/ioctl.h>

#include <linux/iommufd.h>
#include <linux/iommufd_ext.h>
#include "iommufd_test.h"

#include "uapi/ext_ops.h"
#include "uapi/ucmd.h"

#define offsetofend(T, m) (offsetof(T, m) + sizeof(((T *)0)->m))

struct ioctl_row {
	struct ufd_ioctl_desc desc;
	int (*execute)(struct ufd_ucmd *ucmd);
	/*
	 * The command makes objects: they become visible only once the
	 * reply is written (ufd_publish_begin/end), as the kernel finalizes
	 * an object after copy_to_user; on failure they are destroyed.
	 */
	bool publishes;
};

#define ROW_OF(_cmd, _name, _fn, _struct, _last, _publishes, _since)      \
	[_IOC_NR(_cmd) - IOMMUFD_CMD_BASE] = {                            \
		.desc = { .cmd = (_cmd),                                  \
			  .name = (_name),                                 \
			  .size = sizeof(struct _struct),                 \
			  .min_size = offsetofend(struct _struct, _last), \
			  .since = (_since) },                            \
		.execute = (_fn),                                         \
		.publishes = (_publishes),                                \
	}
#define ROW(_cmd, _fn, _struct, _last)                                    \
	ROW_OF(_cmd, #_cmd, _fn, _struct, _last, false, UFD_KERNEL_ANY)
/* A row whose command makes objects (see ioctl_row.publishes). */
#define ROW_PUBLISHING(_cmd, _fn, _struct, _last)                         \
	ROW_OF(_cmd, #_cmd, _fn, _struct, _last, true, UFD_KERNEL_ANY)
/* Commands that came after 6.12 (the 7.x personality has them). */
#define ROW_7X(_cmd, _fn, _struct, _last)                                 \
	ROW_OF(_cmd, #_cmd, _fn, _struct, _last, false, UFD_KERNEL_7_3)
#define ROW_PUBLISHING_7X(_cmd, _fn, _struct, _last)                      \
	ROW_OF(_cmd, #_cmd, _fn, _struct, _last, true, UFD_KERNEL_7_3)

static const struct ioctl_row ioctl_table[] = {
	ROW(IOMMU_DESTROY, ioas_ops_destroy, iommu_destroy, id),
	ROW_PUBLISHING(IOMMU_IOAS_ALLOC, ioas_ops_alloc, iommu_ioas_alloc,
		       out_ioas_id),
	ROW(IOMMU_IOAS_ALLOW_IOVAS, ioas_ops_allow_iovas,
	    iommu_ioas_allow_iovas, allowed_iovas),
	ROW(IOMMU_IOAS_COPY, ioas_ops_copy, iommu_ioas_copy, src_iova),
	ROW(IOMMU_IOAS_IOVA_RANGES, ioas_ops_iova_ranges,
	    iommu_ioas_iova_ranges, out_iova_alignment),
	ROW(IOMMU_IOAS_MAP, ioas_ops_map, iommu_ioas_map, iova),
	ROW(IOMMU_IOAS_UNMAP, ioas_ops_unmap, iommu_ioas_unmap, length),
	ROW(IOMMU_OPTION, ioas_ops_option, iommu_option, val64),
	ROW(IOMMU_VFIO_IOAS, ioas_ops_vfio_ioas, iommu_vfio_ioas, __reserved),
	ROW_PUBLISHING(IOMMU_HWPT_ALLOC, hwpt_ops_alloc, iommu_hwpt_alloc,
		       __reserved),
	ROW(IOMMU_GET_HW_INFO, hwpt_ops_get_hw_info, iommu_hw_info,
	    __reserved),
	ROW(IOMMU_HWPT_SET_DIRTY_TRACKING, hwpt_ops_set_dirty_tracking,
	    iommu_hwpt_set_dirty_tracking, __reserved),
	ROW(IOMMU_HWPT_GET_DIRTY_BITMAP, hwpt_ops_get_dirty_bitmap,
	    iommu_hwpt_get_dirty_bitmap, data),
	ROW(IOMMU_HWPT_INVALIDATE, hwpt_ops_invalidate, iommu_hwpt_invalidate,
	    __reserved),
	ROW_PUBLISHING(IOMMU_FAULT_QUEUE_ALLOC, hwpt_ops_fault_alloc,
		       iommu_fault_alloc, out_fault_fd),
	ROW_PUBLISHING_7X(IOMMU_VIOMMU_ALLOC, viommu_ops_alloc,
			  iommu_viommu_alloc, out_viommu_id),
	ROW_PUBLISHING_7X(IOMMU_VDEVICE_ALLOC, viommu_ops_vdevice_alloc,
			  iommu_vdevice_alloc, virt_id),
	ROW_PUBLISHING_7X(IOMMU_VEVENTQ_ALLOC, viommu_ops_veventq_alloc,
			  iommu_veventq_alloc, out_veventq_fd),
	ROW_PUBLISHING_7X(IOMMU_HW_QUEUE_ALLOC, viommu_ops_hw_queue_alloc,
			  iommu_hw_queue_alloc, length),
	ROW(IOMMU_TEST_CMD, test_ops_cmd, iommu_test_cmd, last),
	ROW_7X(IOMMU_IOAS_MAP_FILE, ioas_ops_map_file, iommu_ioas_map_file,
	       iova),
	ROW_7X(IOMMU_IOAS_CHANGE_PROCESS, ioas_ops_change_process,
	       iommu_ioas_change_process, __reserved),
};

#define TABLE_LEN (sizeof(ioctl_table) / sizeof(ioctl_table[0]))

/* The uiommufd extensions: every personality has them. */
#define ROW_EXT(_cmd, _fn, _struct, _last)                                \
	[_IOC_NR(_cmd) - UIOMMUFD_EXT_CMD_BASE] = {                       \
		.desc = { .cmd = (_cmd),                                  \
			  .name = #_cmd,                                  \
			  .size = sizeof(struct _struct),                 \
			  .min_size = offsetofend(struct _struct, _last), \
			  .since = UFD_KERNEL_ANY },                      \
		.execute = (_fn),                                         \
	}
/* An extension command that makes objects (ioctl_row.publishes). */
#define ROW_EXT_PUBLISHING(_cmd, _fn, _struct, _last)                     \
	[_IOC_NR(_cmd) - UIOMMUFD_EXT_CMD_BASE] = {                       \
		.desc = { .cmd = (_cmd),                                  \
			  .name = #_cmd,                                  \
			  .size = sizeof(struct _struct),                 \
			  .min_size = offsetofend(struct _struct, _last), \
			  .since = UFD_KERNEL_ANY },                      \
		.execute = (_fn),                                         \
		.publishes = true,                                        \
	}

static const struct ioctl_row ext_table[] = {
	ROW_EXT(UIOMMUFD_EXT_QUERY, ext_ops_query, uiommufd_ext_query, exts),
	ROW_EXT(UIOMMUFD_PAGE_SIZES, ext_ops_page_sizes, uiommufd_page_sizes,
		runs),
	ROW_EXT(UIOMMUFD_QUERY_ATTACH, ext_ops_query_attach,
		uiommufd_query_attach, out_conflict_last),
	ROW_EXT(UIOMMUFD_IOAS_SET_MIN_APERTURE, ext_ops_set_min_aperture,
		uiommufd_ioas_set_min_aperture, pgsize_bitmap),
	ROW_EXT(UIOMMUFD_IOAS_RESERVE, ext_ops_reserve, uiommufd_ioas_reserve,
		length),
	ROW_EXT(UIOMMUFD_IOAS_UNRESERVE, ext_ops_unreserve,
		uiommufd_ioas_reserve, length),
	ROW_EXT(UIOMMUFD_IOAS_RESERVATIONS, ext_ops_reservations,
		uiommufd_ioas_reservations, iovas),
	ROW_EXT(UIOMMUFD_IOAS_MAP_HINT, ext_ops_map_hint,
		uiommufd_ioas_map_hint, iova),
	ROW_EXT(UIOMMUFD_IOAS_MAP_GRANULE, ext_ops_map_granule,
		uiommufd_ioas_map_granule, granule),
	ROW_EXT(UIOMMUFD_IOAS_COPY_RESV, ext_ops_copy_resv,
		uiommufd_ioas_copy_resv, src_iova),
	ROW_EXT_PUBLISHING(UIOMMUFD_PASID_SET_ALLOC, ext_ops_pasid_set_alloc,
			   uiommufd_pasid_set_alloc, out_set_id),
	ROW_EXT(UIOMMUFD_PASID_ALLOC, ext_ops_pasid_alloc, uiommufd_pasid_alloc,
		__reserved),
	ROW_EXT(UIOMMUFD_PASID_FREE, ext_ops_pasid_free, uiommufd_pasid_free,
		pasid),
	ROW_EXT(UIOMMUFD_PASID_SET_INFO, ext_ops_pasid_set_info,
		uiommufd_pasid_set_info, pasids),
	ROW_EXT(UIOMMUFD_PASID_SET_ATTACH, ext_ops_pasid_set_attach,
		uiommufd_pasid_set_attach, pt_id),
	ROW_EXT_PUBLISHING(UIOMMUFD_MEM_REGISTER, ext_ops_mem_register,
			   uiommufd_mem_register, __reserved),
	ROW_EXT(UIOMMUFD_MEM_UNREGISTER, ext_ops_mem_unregister,
		uiommufd_mem_unregister, reg_id),
	ROW_EXT(UIOMMUFD_MEM_REG_INFO, ext_ops_mem_reg_info,
		uiommufd_mem_reg_info, __reserved),
};

#define EXT_TABLE_LEN (sizeof(ext_table) / sizeof(ext_table[0]))

/* The extension row of @cmd, or NULL. */
static const struct ioctl_row *ext_row(unsigned long cmd)
{
	unsigned int nr = _IOC_NR(cmd);

	if (_IOC_TYPE(cmd) != UIOMMUFD_EXT_TYPE || nr < UIOMMUFD_EXT_CMD_BASE ||
	    nr - UIOMMUFD_EXT_CMD_BASE >= EXT_TABLE_LEN)
		return NULL;
	return &ext_table[nr - UIOMMUFD_EXT_CMD_BASE];
}

/* What a command the caller's kernel lacks meets: no handler, ENOTTY. */
static const struct ioctl_row no_row;

/* Large enough for every struct in the table. */
#define UCMD_BUF_SIZE 256

const struct ufd_ioctl_desc *ufd_ioctl_lookup(unsigned long cmd)
{
	const struct ioctl_row *ext = ext_row(cmd);
	unsigned int nr = _IOC_NR(cmd);

	if (ext)
		return ext->execute && ext->desc.cmd == cmd ? &ext->desc : NULL;
	if (nr < IOMMUFD_CMD_BASE || nr - IOMMUFD_CMD_BASE >= TABLE_LEN)
		return NULL;
	if (ioctl_table[nr - IOMMUFD_CMD_BASE].desc.cmd != cmd)
		return NULL;
	return &ioctl_table[nr - IOMMUFD_CMD_BASE].desc;
}

bool ufd_ioctl_has(const struct ufd_ioctl_desc *desc,
		   const struct ufd_personality *kernel)
{
	return desc->since <= kernel->kernel;
}

const struct ufd_ioctl_desc *ufd_ioctl_at(unsigned int i)
{
	for (; i < TABLE_LEN; i++)
		if (ioctl_table[i].execute)
			return &ioctl_table[i].desc;
	return NULL;
}

const struct ufd_ioctl_desc *ufd_ext_ioctl_at(unsigned int i)
{
	for (; i < EXT_TABLE_LEN; i++)
		if (ext_table[i].execute)
			return &ext_table[i].desc;
	return NULL;
}

int ucmd_respond(struct ufd_ucmd *ucmd)
{
	size_t n = ucmd->user_size < ucmd->size ? ucmd->user_size : ucmd->size;

	return copy_to_caller(ucmd->caller, ucmd->ubuffer, ucmd->cmd, n);
}

int ucmd_respond_or_unmap(struct ufd_ucmd *ucmd, uint32_t ioas_id,
			  uint64_t iova, uint64_t length)
{
	int rc = ucmd_respond(ucmd);

	if (rc)
		ufd_ioas_unmap(ucmd->ctx, ioas_id, iova, length, NULL);
	return rc;
}

/* Are the caller's bytes [uptr, uptr + len) all zero? */
static int check_zeroed(const struct ufd_caller *caller, uint64_t uptr,
			uint64_t len)
{
	static const uint8_t zeros[512];
	uint8_t chunk[sizeof(zeros)];

	while (len) {
		size_t n = len < sizeof(chunk) ? len : sizeof(chunk);
		int rc;

		rc = copy_from_caller(caller, chunk, uptr, n);
		if (rc)
			return rc;
		if (memcmp(chunk, zeros, n))
			return -E2BIG;
		uptr += n;
		len -= n;
	}
	return 0;
}

/* Run @row (whose number may differ from @cmd: then -ENOTTY). */
static long run_row(struct ufd_ctx *ctx, const struct ufd_caller *caller,
		    const struct ioctl_row *row, unsigned long cmd,
		    uint64_t arg)
{
	_Alignas(8) uint8_t buf[UCMD_BUF_SIZE];
	struct ufd_ucmd ucmd;
	uint32_t user_size;
	int rc;

	memset(buf, 0, sizeof(buf));
	/*
	 * Each copy from the caller is a system call for most sources, so
	 * read the size and the whole struct at once; only if that faults
	 * (a short struct at the end of a mapping) read the size alone.
	 */
	if (row->execute && row->desc.cmd == cmd &&
	    !copy_from_caller(caller, buf, arg, row->desc.size)) {
		memcpy(&user_size, buf, sizeof(user_size));
	} else {
		rc = copy_from_caller(caller, &user_size, arg,
				      sizeof(user_size));
		if (rc)
			return rc;
		if (!row->execute || row->desc.cmd != cmd)
			return -ENOTTY;
		if (user_size >= row->desc.size)
			return -EFAULT; /* the struct itself faulted */
		memset(buf, 0, sizeof(buf));
		if (user_size >= row->desc.min_size) {
			rc = copy_from_caller(caller, buf, arg, user_size);
			if (rc)
				return rc;
		}
	}
	if (user_size < row->desc.min_size)
		return -EINVAL;
	if (user_size > row->desc.size) {
		rc = check_zeroed(caller, arg + row->desc.size,
				  user_size - row->desc.size);
		if (rc)
			return rc;
	} else if (user_size < row->desc.size) {
		/* What we read past the caller's struct is not its data. */
		memset(buf + user_size, 0, row->desc.size - user_size);
	}

	ucmd.ctx = ctx;
	ucmd.caller = caller;
	ucmd.ubuffer = arg;
	ucmd.user_size = user_size;
	ucmd.size = row->desc.size;
	ucmd.cmd = buf;
	if (row->publishes) {
		struct ufd_publish pub;

		ufd_publish_begin(ctx, &pub);
		rc = row->execute(&ucmd);
		ufd_publish_end(&pub, rc == 0);
		return rc;
	}
	return row->execute(&ucmd);
}

long ufd_dispatch_ioctl(struct ufd_ctx *ctx, const struct ufd_caller *caller,
			unsigned long cmd, uint64_t arg)
{
	const struct ioctl_row *row = ext_row(cmd);
	unsigned int nr = _IOC_NR(cmd);

	/* An extension's number, with the extensions on: its own table. */
	if (row && !caller->no_extensions)
		return run_row(ctx, caller, row, cmd, arg);
	if (nr < IOMMUFD_CMD_BASE || nr - IOMMUFD_CMD_BASE >= TABLE_LEN)
		return vfio_compat_ioctl(ctx, caller, cmd, arg);

	row = &ioctl_table[nr - IOMMUFD_CMD_BASE];
	if (row->execute && row->desc.cmd == cmd &&
	    !ufd_ioctl_has(&row->desc, ufd_caller_kernel(caller)))
		row = &no_row; /* a later kernel's command */
	return run_row(ctx, caller, row, cmd, arg);
}

_Static_assert(sizeof(struct iommu_test_cmd) <= UCMD_BUF_SIZE,
	       "ucmd buffer too small");
_Static_assert(sizeof(struct iommu_hwpt_get_dirty_bitmap) <= UCMD_BUF_SIZE,
	       "ucmd buffer too small");

/*
 * ---- the caller's memory, through its window (struct ufd_caller_window) ----
 *
 * A range [uptr, uptr + len) splits into the part before the window, the
 * part inside it and the part after it; the outside parts go to the
 * caller's memory source.
 */

static bool window_cut(const struct ufd_caller_window *w, uint64_t uptr,
		       size_t len, uint64_t *lo, uint64_t *hi)
{
	uint64_t end = uptr + len, wend = w->addr + w->len;

	*lo = uptr > w->addr ? uptr : w->addr;
	*hi = end < wend ? end : wend;
	return *lo < *hi;
}

int ufd_caller_read(const struct ufd_caller *caller, void *dst,
		    uint64_t uptr, size_t len)
{
	const struct ufd_caller_window *w = caller->win;
	struct ufd_source *mem = caller->mem;
	uint64_t lo, hi;
	int rc;

	if (uptr + len < uptr)
		return -EFAULT;
	if (!window_cut(w, uptr, len, &lo, &hi))
		return mem->ops->read(mem, dst, uptr, len);
	if (uptr < lo) {
		rc = mem->ops->read(mem, dst, uptr, (size_t)(lo - uptr));
		if (rc)
			return rc;
	}
	memcpy((uint8_t *)dst + (lo - uptr), w->buf + (lo - w->addr),
	       (size_t)(hi - lo));
	if (hi < uptr + len)
		return mem->ops->read(mem, (uint8_t *)dst + (hi - uptr), hi,
				      (size_t)(uptr + len - hi));
	return 0;
}

int ufd_caller_write(const struct ufd_caller *caller, uint64_t uptr,
		     const void *src, size_t len)
{
	struct ufd_caller_window *w = caller->win;
	struct ufd_source *mem = caller->mem;
	size_t at, n;
	uint64_t lo, hi;
	int rc;

	if (uptr + len < uptr)
		return -EFAULT;
	if (!window_cut(w, uptr, len, &lo, &hi))
		return mem->ops->write(mem, uptr, src, len);
	at = (size_t)(lo - w->addr);
	n = (size_t)(hi - lo);
	if (!w->writable) {
		/* Through to the memory (its -EFAULT is the answer)... */
		rc = mem->ops->write(mem, uptr, src, len);
		if (rc)
			return rc;
		/* ...and into the snapshot, which later reads see. */
		memcpy(w->buf + at, (const uint8_t *)src + (lo - uptr), n);
		return 0;
	}
	if (uptr < lo) {
		rc = mem->ops->write(mem, uptr, src, (size_t)(lo - uptr));
		if (rc)
			return rc;
	}
	memcpy(w->buf + at, (const uint8_t *)src + (lo - uptr), n);
	if (w->dirty_lo == w->dirty_hi) {
		w->dirty_lo = at;
		w->dirty_hi = at + n;
	} else {
		if (at < w->dirty_lo)
			w->dirty_lo = at;
		if (at + n > w->dirty_hi)
			w->dirty_hi = at + n;
	}
	if (hi < uptr + len)
		return mem->ops->write(mem, hi, (const uint8_t *)src + (hi - uptr),
				       (size_t)(uptr + len - hi));
	return 0;
}
