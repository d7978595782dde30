/* SPDX-License-Identifier: MIT */
/*
 * Handlers for the device and HW page table commands: HWPT_ALLOC (paging
 * HWPTs, and nested ones in the format of the device's driver: the
 * selftest's mock IOTLB, or VT-d's first stage), GET_HW_INFO, dirty
 * tracking and HWPT_INVALIDATE.  Arguments are checked in the kernel's
 * order before anything is looked up.
 */
#include <stdlib.h>
#include <string.h>

#include <stddef.h>

#include <linux/iommufd.h>
#include "iommufd_test.h"

#include "uapi/ucmd.h"

#define offsetofend(T, m) (offsetof(T, m) + sizeof(((T *)0)->m))

/*
 * The selftest driver's nested domain: four mock IOTLB slots, set from the
 * HWPT data and cleared by invalidation entries.
 */
struct mock_nested {
	uint32_t iotlb[MOCK_NESTED_DOMAIN_IOTLB_NUM];
};

static void mock_nested_destroy(void *priv)
{
	free(priv);
}

static const struct ufd_nested_ops mock_nested_ops = {
	.destroy = mock_nested_destroy,
};

int mock_nested_iotlb(struct ufd_ctx *ctx, uint32_t hwpt_id, uint32_t slot,
		      uint32_t *value)
{
	void *priv;
	int rc;

	rc = ufd_hwpt_nested_priv(ctx, hwpt_id, &priv);
	if (rc)
		return rc;
	if (!priv || slot > MOCK_NESTED_DOMAIN_IOTLB_ID_MAX)
		return -EINVAL;
	*value = ((struct mock_nested *)priv)->iotlb[slot];
	return 0;
}

/*
 * Driver data as iommu_copy_struct_from_user() takes it: the right type,
 * at least @min bytes, at most what we know (longer is -EINVAL, not E2BIG),
 * the rest zero.
 */
static int copy_driver_data(const struct ufd_caller *caller, void *dst,
			    size_t known, size_t min, uint64_t uptr,
			    uint64_t len)
{
	if (len < min || len > known)
		return -EINVAL;
	memset(dst, 0, known);
	return copy_from_caller(caller, dst, uptr, len);
}

static uint32_t fault_arg(const struct iommu_hwpt_alloc *cmd)
{
	if (!(cmd->flags & IOMMU_HWPT_FAULT_ID_VALID))
		return 0;
	return cmd->fault_id ? cmd->fault_id : UINT32_MAX; /* 0 is no ID */
}

/* Answer a HWPT_ALLOC; a reply that cannot be written undoes the HWPT. */
static int respond_hwpt(struct ufd_ucmd *ucmd, struct iommu_hwpt_alloc *cmd,
			uint32_t hwpt_id)
{
	int rc;

	cmd->out_hwpt_id = hwpt_id;
	rc = ucmd_respond(ucmd);
	if (rc)
		ufd_destroy(ucmd->ctx, hwpt_id);
	return rc;
}

/* VT-d first stage: an x86-64 format table the engine walks. */
static int hwpt_alloc_vtd_s1(struct ufd_ucmd *ucmd,
			     struct iommu_hwpt_alloc *cmd)
{
	struct iommu_hwpt_vtd_s1 data;
	uint32_t hwpt_id;
	int rc;

	rc = copy_driver_data(ucmd->caller, &data, sizeof(data),
			      offsetofend(struct iommu_hwpt_vtd_s1,
					  addr_width),
			      cmd->data_uptr, cmd->data_len);
	if (rc)
		return rc;
	if ((data.flags & ~(uint64_t)(IOMMU_VTD_S1_SRE | IOMMU_VTD_S1_EAFE |
				      IOMMU_VTD_S1_WPE)) ||
	    data.__reserved)
		return -EOPNOTSUPP;
	rc = ufd_hwpt_alloc_nested_s1(ucmd->ctx, cmd->dev_id, cmd->pt_id,
				      fault_arg(cmd), data.pgtbl_addr,
				      data.addr_width, &hwpt_id);
	if (rc)
		return rc;
	return respond_hwpt(ucmd, cmd, hwpt_id);
}

/* A nested HWPT on a NEST_PARENT paging HWPT, or on a vIOMMU. */
static int hwpt_alloc_nested(struct ufd_ucmd *ucmd,
			     struct iommu_hwpt_alloc *cmd, bool on_viommu)
{
	uint32_t known = IOMMU_HWPT_FAULT_ID_VALID;
	struct iommu_hwpt_selftest data;
	struct ufd_hw_info info;
	struct mock_nested *mn;
	uint32_t hwpt_id, i;
	unsigned int nflags;
	int rc;

	if (ufd_caller_kernel(ucmd->caller)->pasid)
		known |= IOMMU_HWPT_ALLOC_PASID;
	if ((cmd->flags & ~known) || !cmd->data_len)
		return -EOPNOTSUPP;
	rc = on_viommu ? 0 : ufd_hwpt_can_nest(ucmd->ctx, cmd->pt_id);
	if (rc)
		return rc;
	/* Each driver knows its own format: the mock's, or VT-d's. */
	rc = ufd_device_get_hw_info(ucmd->ctx, cmd->dev_id, NULL, 0, &info);
	if (rc)
		return rc;
	if (!on_viommu && info.type == IOMMU_HW_INFO_TYPE_INTEL_VTD &&
	    cmd->data_type == IOMMU_HWPT_DATA_VTD_S1)
		/* Our VT-d first stage serves the RID only. */
		return (cmd->flags & IOMMU_HWPT_ALLOC_PASID) ?
			       -EOPNOTSUPP :
			       hwpt_alloc_vtd_s1(ucmd, cmd);
	if (info.type != IOMMU_HW_INFO_TYPE_SELFTEST ||
	    cmd->data_type != IOMMU_HWPT_DATA_SELFTEST)
		return -EOPNOTSUPP;
	rc = copy_driver_data(ucmd->caller, &data, sizeof(data),
			      offsetofend(struct iommu_hwpt_selftest, iotlb),
			      cmd->data_uptr, cmd->data_len);
	if (rc)
		return rc;
	mn = calloc(1, sizeof(*mn));
	if (!mn)
		return -ENOMEM;
	for (i = 0; i != MOCK_NESTED_DOMAIN_IOTLB_NUM; i++)
		mn->iotlb[i] = data.iotlb;
	nflags = (cmd->flags & IOMMU_HWPT_ALLOC_PASID) ? UFD_HWPT_PASID : 0;
	if (on_viommu)
		rc = ufd_viommu_alloc_hwpt_nested(ucmd->ctx, cmd->dev_id,
						  cmd->pt_id, fault_arg(cmd),
						  nflags, &mock_nested_ops, mn,
						  &hwpt_id);
	else
		rc = ufd_hwpt_alloc_nested_flags(ucmd->ctx, cmd->dev_id,
						 cmd->pt_id, fault_arg(cmd),
						 nflags, &mock_nested_ops, mn,
						 &hwpt_id);
	if (rc) {
		free(mn);
		return rc;
	}
	return respond_hwpt(ucmd, cmd, hwpt_id);
}

/*
 * The 7.x mock IOMMU's paging HWPTs are iommupt tables whose selftest data
 * picks the format: MOCK_IOMMUPT_DEFAULT maps each CPU page as one leaf
 * (iommupt writes it as a contiguous run of 2 KiB entries, dirty as a
 * whole: a 4 KiB leaf here), MOCK_IOMMUPT_HUGE has 2 KiB and 1 MiB leaves.
 * *@pgsize_bitmap gets the leaf sizes.  6.12's mock takes no such data.
 */
static int mock_paging_format(struct ufd_ucmd *ucmd,
			      const struct iommu_hwpt_alloc *cmd,
			      uint64_t *pgsize_bitmap)
{
	struct iommu_hwpt_selftest data;
	struct ufd_hw_info info;
	int rc;

	if (!ufd_caller_kernel(ucmd->caller)->mock_iommupt)
		return -EOPNOTSUPP;
	rc = ufd_device_get_hw_info(ucmd->ctx, cmd->dev_id, NULL, 0, &info);
	if (rc)
		return rc;
	if (info.type != IOMMU_HW_INFO_TYPE_SELFTEST ||
	    cmd->data_type != IOMMU_HWPT_DATA_SELFTEST)
		return -EOPNOTSUPP;
	rc = copy_driver_data(ucmd->caller, &data, sizeof(data),
			      offsetofend(struct iommu_hwpt_selftest, iotlb),
			      cmd->data_uptr, cmd->data_len);
	if (rc)
		return rc;
	switch (data.pagetable_type) {
	case MOCK_IOMMUPT_DEFAULT:
		*pgsize_bitmap = 4096;
		return 0;
	case MOCK_IOMMUPT_HUGE:
		*pgsize_bitmap = MOCK_PAGE_SIZE | MOCK_HUGE_PAGE_SIZE;
		return 0;
	default:
		return -EINVAL;
	}
}

int hwpt_ops_alloc(struct ufd_ucmd *ucmd)
{
	struct iommu_hwpt_alloc *cmd = ucmd->cmd;
	uint32_t known = IOMMU_HWPT_ALLOC_NEST_PARENT |
			 IOMMU_HWPT_ALLOC_DIRTY_TRACKING;
	uint64_t pgsize_bitmap = 0;
	unsigned int flags = 0;
	uint32_t hwpt_id;
	int rc;

	if (cmd->__reserved)
		return -EOPNOTSUPP;
	if ((cmd->data_type == IOMMU_HWPT_DATA_NONE && cmd->data_len) ||
	    (cmd->data_type != IOMMU_HWPT_DATA_NONE && !cmd->data_len))
		return -EINVAL;
	if (ufd_obj_kind(ucmd->ctx, cmd->dev_id) != UFD_KIND_DEVICE)
		return -ENOENT;
	switch (ufd_obj_kind(ucmd->ctx, cmd->pt_id)) {
	case UFD_KIND_IOAS:
		break;
	case UFD_KIND_HWPT_PAGING:
		return hwpt_alloc_nested(ucmd, cmd, false);
	case UFD_KIND_VIOMMU:
		return hwpt_alloc_nested(ucmd, cmd, true);
	default:
		return -EINVAL;
	}
	if (ufd_caller_kernel(ucmd->caller)->pasid)
		known |= IOMMU_HWPT_ALLOC_PASID;
	if (cmd->flags & ~known)
		return -EOPNOTSUPP;
	if (cmd->data_len) {
		/* Only the 7.x mock takes driver data for a paging HWPT. */
		rc = mock_paging_format(ucmd, cmd, &pgsize_bitmap);
		if (rc)
			return rc;
	}
	if (cmd->flags & IOMMU_HWPT_ALLOC_NEST_PARENT)
		flags |= UFD_HWPT_NEST_PARENT;
	if (cmd->flags & IOMMU_HWPT_ALLOC_DIRTY_TRACKING)
		flags |= UFD_HWPT_DIRTY_TRACKING;
	if (cmd->flags & IOMMU_HWPT_ALLOC_PASID)
		flags |= UFD_HWPT_PASID;
	rc = ufd_hwpt_alloc_paging_sizes(ucmd->ctx, cmd->dev_id, cmd->pt_id,
					 flags, pgsize_bitmap, &hwpt_id);
	if (rc)
		return rc;
	return respond_hwpt(ucmd, cmd, hwpt_id);
}

int hwpt_ops_get_hw_info(struct ufd_ucmd *ucmd)
{
	struct iommu_hw_info *cmd = ucmd->cmd;
	uint8_t data[256];
	struct ufd_hw_info info;
	uint32_t copy;
	int rc;

	if ((cmd->flags & ~IOMMU_HW_INFO_FLAG_INPUT_TYPE) || cmd->__reserved[0] ||
	    cmd->__reserved[1] || cmd->__reserved[2])
		return -EOPNOTSUPP;
	memset(data, 0, sizeof(data));
	rc = ufd_device_get_hw_info(ucmd->ctx, cmd->dev_id, data, sizeof(data),
				    &info);
	if (rc)
		return rc;
	/* A driver answers its own type or the default one. */
	if ((cmd->flags & IOMMU_HW_INFO_FLAG_INPUT_TYPE) &&
	    cmd->in_data_type != IOMMU_HW_INFO_TYPE_DEFAULT &&
	    cmd->in_data_type != info.type)
		return -EOPNOTSUPP;
	copy = cmd->data_len < info.data_len ? cmd->data_len : info.data_len;
	rc = copy_to_caller(ucmd->caller, cmd->data_uptr, data, copy);
	if (rc)
		return rc;
	/* Zero what the caller's buffer has beyond our data. */
	if (cmd->data_len > info.data_len) {
		uint64_t left = cmd->data_len - info.data_len;
		uint64_t at = cmd->data_uptr + info.data_len;
		static const uint8_t zero[512];

		while (left) {
			uint64_t n = left < sizeof(zero) ? left : sizeof(zero);

			rc = copy_to_caller(ucmd->caller, at, zero, n);
			if (rc)
				return rc;
			at += n;
			left -= n;
		}
	}
	cmd->data_len = info.data_len;
	cmd->out_data_type = info.type;
	cmd->out_capabilities = info.capabilities;
	cmd->out_max_pasid_log2 = info.max_pasid_log2;
	return ucmd_respond(ucmd);
}

int hwpt_ops_set_dirty_tracking(struct ufd_ucmd *ucmd)
{
	struct iommu_hwpt_set_dirty_tracking *cmd = ucmd->cmd;

	if (cmd->flags & ~IOMMU_HWPT_DIRTY_TRACKING_ENABLE)
		return -EOPNOTSUPP;
	return ufd_hwpt_set_dirty_tracking(
		ucmd->ctx, cmd->hwpt_id,
		cmd->flags & IOMMU_HWPT_DIRTY_TRACKING_ENABLE);
}

/*
 * The caller's bitmap (bit i: iova + i * page size, little-endian bytes,
 * any byte alignment) is harvested a window at a time: its bytes are read,
 * the engine ORs the window's IOVA span into them, and they are written
 * back (as the kernel maps the user bitmap a chunk at a time; an error
 * stops at the chunk it happens in).  A window of 32 KiB of bits spans
 * 2^18 pages, a multiple of any IOAS alignment for every page size.
 */
#define DIRTY_WINDOW (32u * 1024)

int hwpt_ops_get_dirty_bitmap(struct ufd_ucmd *ucmd)
{
	struct iommu_hwpt_get_dirty_bitmap *cmd = ucmd->cmd;
	bool keep = cmd->flags & IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR;
	uint64_t nbytes, off = 0, span;
	unsigned int shift;
	uint8_t *win;
	int rc;

	if ((cmd->flags & ~IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR) ||
	    cmd->__reserved)
		return -EOPNOTSUPP;
	if (cmd->page_size & (cmd->page_size - 1))
		return -EINVAL;
	shift = cmd->page_size ? (unsigned int)__builtin_ctzll(cmd->page_size) :
				 0;
	nbytes = cmd->page_size ? ((cmd->length >> shift) + 7) / 8 : 0;
	/* The IOVA a window spans; a window this wide covers everything. */
	span = shift + 18 >= 64 ? UINT64_MAX : 1ULL << (shift + 18);
	/* The whole range's arguments first, as the kernel checks them. */
	rc = ufd_hwpt_read_dirty_bitmap(ucmd->ctx, cmd->hwpt_id, cmd->iova,
					cmd->length, cmd->page_size, keep,
					NULL);
	if (rc)
		return rc;
	win = malloc(DIRTY_WINDOW);
	if (!win)
		return -ENOMEM;
	while (off < nbytes) {
		uint64_t n = nbytes - off < DIRTY_WINDOW ? nbytes - off :
							   DIRTY_WINDOW;
		uint64_t done = off << (shift + 3);
		uint64_t len = cmd->length - done < span ? cmd->length - done :
							   span;

		rc = copy_from_caller(ucmd->caller, win, cmd->data + off, n);
		if (!rc)
			rc = ufd_hwpt_read_dirty_bitmap(ucmd->ctx, cmd->hwpt_id,
							cmd->iova + done, len,
							cmd->page_size, keep,
							win);
		/* A hole: what came before it is harvested; write it. */
		if (!rc || rc == -EINVAL) {
			int wrc = copy_to_caller(ucmd->caller,
						 cmd->data + off, win, n);

			if (!rc)
				rc = wrc;
		}
		if (rc)
			break;
		off += n;
	}
	free(win);
	return rc;
}

#define INVALIDATE_ENTRY_NUM_MAX (1u << 19)

/* The selftest's invalidation entries, applied in order. */
static int mock_invalidate(struct ufd_ucmd *ucmd,
			   struct iommu_hwpt_invalidate *cmd,
			   struct mock_nested *mn, uint32_t *done)
{
	const size_t min = offsetofend(struct iommu_hwpt_invalidate_selftest,
				       iotlb_id);
	uint32_t i, j;
	int rc;

	if (cmd->data_type != IOMMU_HWPT_INVALIDATE_DATA_SELFTEST)
		return -EINVAL;
	for (i = 0; i != cmd->entry_num; i++) {
		struct iommu_hwpt_invalidate_selftest inv;

		rc = copy_driver_data(ucmd->caller, &inv, sizeof(inv), min,
				      cmd->data_uptr +
					      (uint64_t)i * cmd->entry_len,
				      cmd->entry_len);
		if (rc)
			return rc;
		if (inv.flags & ~IOMMU_TEST_INVALIDATE_FLAG_ALL)
			return -EOPNOTSUPP;
		if (inv.iotlb_id > MOCK_NESTED_DOMAIN_IOTLB_ID_MAX)
			return -EINVAL;
		if (inv.flags & IOMMU_TEST_INVALIDATE_FLAG_ALL) {
			for (j = 0; j != MOCK_NESTED_DOMAIN_IOTLB_NUM; j++)
				mn->iotlb[j] = 0;
		} else {
			mn->iotlb[inv.iotlb_id] = 0;
		}
		(*done)++;
	}
	return 0;
}

/* VT-d first-stage invalidation entries: IOTLB ranges, in order. */
static int vtd_invalidate(struct ufd_ucmd *ucmd,
			  struct iommu_hwpt_invalidate *cmd, uint32_t *done)
{
	uint32_t i;
	int rc;

	if (cmd->data_type != IOMMU_HWPT_INVALIDATE_DATA_VTD_S1)
		return -EINVAL;
	for (i = 0; i != cmd->entry_num; i++) {
		struct iommu_hwpt_vtd_s1_invalidate inv;

		rc = copy_driver_data(ucmd->caller, &inv, sizeof(inv),
				      sizeof(inv),
				      cmd->data_uptr +
					      (uint64_t)i * cmd->entry_len,
				      cmd->entry_len);
		if (rc)
			return rc;
		if ((inv.flags & ~IOMMU_VTD_INV_FLAGS_LEAF) || inv.__reserved)
			return -EOPNOTSUPP;
		if (inv.addr & 4095)
			return -EINVAL;
		rc = ufd_hwpt_s1_invalidate(ucmd->ctx, cmd->hwpt_id, inv.addr,
					    inv.npages);
		if (rc)
			return rc;
		(*done)++;
	}
	return 0;
}

int hwpt_ops_invalidate(struct ufd_ucmd *ucmd)
{
	struct iommu_hwpt_invalidate *cmd = ucmd->cmd;
	uint32_t done = 0;
	void *priv;
	int rc;

	if (cmd->__reserved) {
		rc = -EOPNOTSUPP;
	} else if (cmd->entry_num &&
		   (!cmd->data_uptr || !cmd->entry_len ||
		    cmd->entry_len > 4096 ||
		    cmd->entry_num > INVALIDATE_ENTRY_NUM_MAX)) {
		rc = -EINVAL;
	} else {
		rc = ufd_hwpt_nested_priv(ucmd->ctx, cmd->hwpt_id, &priv);
		if (rc == -ENOENT && ufd_obj_kind(ucmd->ctx, cmd->hwpt_id) ==
					     UFD_KIND_HWPT_PAGING)
			rc = ufd_caller_kernel(ucmd->caller)
				     ->invalidate_paging_errno;
		if (rc == -ENOENT && ufd_obj_kind(ucmd->ctx, cmd->hwpt_id) ==
					     UFD_KIND_VIOMMU)
			rc = viommu_invalidate(ucmd, cmd, &done);
		else if (!rc && priv)
			rc = mock_invalidate(ucmd, cmd, priv, &done);
		else if (!rc)
			rc = vtd_invalidate(ucmd, cmd, &done);
	}
	/* How many entries were handled is written back, error or not. */
	cmd->entry_num = done;
	if (ucmd_respond(ucmd))
		return -EFAULT;
	return rc;
}
