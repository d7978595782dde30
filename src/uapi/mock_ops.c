/* SPDX-License-Identifier: MIT */
/*
 * The mock device operations of IOMMU_TEST_CMD (MOCK_DOMAIN and the ops
 * that inspect a mock domain).  The engine has no devices yet: a mock
 * device needs domains and IO page tables (issue 3).  Until then these
 * answer what the kernel answers for IDs that name no device or domain
 * (-ENOENT), and -EOPNOTSUPP where a valid IOAS would need a device.
 */
#include <linux/iommufd.h>
#include "iommufd_test.h"

#include "uapi/ucmd.h"

int test_ops_device(struct ufd_ucmd *ucmd)
{
	struct iommu_test_cmd *cmd = ucmd->cmd;
	bool enabled;

	switch (cmd->op) {
	case IOMMU_TEST_OP_MOCK_DOMAIN:
	case IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS:
		/* Only an IOAS can be named: no HWPT exists without devices. */
		if (ufd_ioas_get_huge_pages(ucmd->ctx, cmd->id, &enabled))
			return -ENOENT;
		return -EOPNOTSUPP;
	default:
		/* Mock devices, HWPTs and nested domains cannot exist yet. */
		return -ENOENT;
	}
}
