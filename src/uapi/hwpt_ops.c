/* SPDX-License-Identifier: MIT */
/*
 * Handlers for the device and HW page table commands.  They check their
 * arguments in the kernel's order; the objects they name (devices, HWPTs)
 * arrive with the device model (issue 3) and HWPT work (issue 4), so until
 * then every lookup finds nothing and answers -ENOENT, which is what the
 * kernel answers for an ID that names no such object.
 */
#include <linux/iommufd.h>

#include "uapi/ucmd.h"

int hwpt_ops_alloc(struct ufd_ucmd *ucmd)
{
	struct iommu_hwpt_alloc *cmd = ucmd->cmd;

	if (cmd->__reserved)
		return -EOPNOTSUPP;
	if ((cmd->data_type == IOMMU_HWPT_DATA_NONE && cmd->data_len) ||
	    (cmd->data_type != IOMMU_HWPT_DATA_NONE && !cmd->data_len))
		return -EINVAL;
	return -ENOENT; /* dev_id: no devices */
}

int hwpt_ops_get_hw_info(struct ufd_ucmd *ucmd)
{
	struct iommu_hw_info *cmd = ucmd->cmd;

	if ((cmd->flags & ~IOMMU_HW_INFO_FLAG_INPUT_TYPE) || cmd->__reserved[0] ||
	    cmd->__reserved[1] || cmd->__reserved[2])
		return -EOPNOTSUPP;
	return -ENOENT; /* dev_id: no devices */
}

int hwpt_ops_set_dirty_tracking(struct ufd_ucmd *ucmd)
{
	struct iommu_hwpt_set_dirty_tracking *cmd = ucmd->cmd;

	if (cmd->flags & ~IOMMU_HWPT_DIRTY_TRACKING_ENABLE)
		return -EOPNOTSUPP;
	return -ENOENT; /* hwpt_id: no HWPTs */
}

int hwpt_ops_get_dirty_bitmap(struct ufd_ucmd *ucmd)
{
	struct iommu_hwpt_get_dirty_bitmap *cmd = ucmd->cmd;

	if ((cmd->flags & ~IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR) ||
	    cmd->__reserved)
		return -EOPNOTSUPP;
	return -ENOENT;
}

int hwpt_ops_invalidate(struct ufd_ucmd *ucmd)
{
	struct iommu_hwpt_invalidate *cmd = ucmd->cmd;

	if (cmd->__reserved)
		return -EOPNOTSUPP;
	if (cmd->entry_num && (!cmd->data_uptr || !cmd->entry_len ||
			       cmd->entry_len > 4096))
		return -EINVAL;
	return -ENOENT;
}

int hwpt_ops_fault_alloc(struct ufd_ucmd *ucmd)
{
	struct iommu_fault_alloc *cmd = ucmd->cmd;

	if (cmd->flags)
		return -EOPNOTSUPP;
	return -EOPNOTSUPP; /* fault queues: issue 4 */
}
