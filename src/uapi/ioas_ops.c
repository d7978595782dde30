/* SPDX-License-Identifier: MIT */
/*
 * Handlers for the IOAS commands, DESTROY, OPTION and VFIO_IOAS.  Each one
 * checks reserved fields and flags (-EOPNOTSUPP), converts the struct into
 * an engine call, and writes the answer back.  Arrays the caller points to
 * (ranges) are copied through the caller's memory source.
 */
#include <stdlib.h>
#include <string.h>

#include <linux/iommufd.h>

#include "uapi/ucmd.h"

int ioas_ops_destroy(struct ufd_ucmd *ucmd)
{
	struct iommu_destroy *cmd = ucmd->cmd;

	return ufd_destroy(ucmd->ctx, cmd->id);
}

int ioas_ops_alloc(struct ufd_ucmd *ucmd)
{
	struct iommu_ioas_alloc *cmd = ucmd->cmd;
	uint32_t id;
	int rc;

	if (cmd->flags)
		return -EOPNOTSUPP;
	rc = ufd_ioas_alloc(ucmd->ctx, &id);
	if (rc)
		return rc;
	cmd->out_ioas_id = id;
	rc = ucmd_respond(ucmd);
	if (rc)
		ufd_destroy(ucmd->ctx, id);
	return rc;
}

int ioas_ops_iova_ranges(struct ufd_ucmd *ucmd)
{
	struct iommu_ioas_iova_ranges *cmd = ucmd->cmd;
	struct ufd_iova_range *ranges = NULL;
	uint32_t max = cmd->num_iovas, num, want;
	uint64_t align;
	int rc;

	if (cmd->__reserved)
		return -EOPNOTSUPP;
	/* Ask once for the count, then fill what fits. */
	rc = ufd_ioas_iova_ranges(ucmd->ctx, cmd->ioas_id, NULL, 0, &num,
				  &align);
	if (rc)
		return rc;
	want = num < max ? num : max;
	if (want) {
		ranges = calloc(want, sizeof(*ranges));
		if (!ranges)
			return -ENOMEM;
		rc = ufd_ioas_iova_ranges(ucmd->ctx, cmd->ioas_id, ranges,
					  want, &num, &align);
		if (rc)
			goto out;
		if (num < want)
			want = num;
		rc = copy_to_caller(ucmd->caller, cmd->allowed_iovas, ranges,
				    want * sizeof(*ranges));
		if (rc)
			goto out;
	}
	cmd->num_iovas = num;
	cmd->out_iova_alignment = align;
	rc = ucmd_respond(ucmd);
	if (!rc && num > max)
		rc = -EMSGSIZE;
out:
	free(ranges);
	return rc;
}

int ioas_ops_allow_iovas(struct ufd_ucmd *ucmd)
{
	struct iommu_ioas_allow_iovas *cmd = ucmd->cmd;
	struct ufd_iova_range *ranges = NULL;
	int rc;

	if (cmd->__reserved)
		return -EOPNOTSUPP;
	if (cmd->num_iovas) {
		/* Bounded by what the caller's memory holds: read in one go. */
		if (cmd->num_iovas > (1u << 24))
			return -ENOMEM;
		ranges = calloc(cmd->num_iovas, sizeof(*ranges));
		if (!ranges)
			return -ENOMEM;
		rc = copy_from_caller(ucmd->caller, ranges, cmd->allowed_iovas,
				      (size_t)cmd->num_iovas *
					      sizeof(*ranges));
		if (rc)
			goto out;
	}
	rc = ufd_ioas_allow_iovas(ucmd->ctx, cmd->ioas_id, ranges,
				  cmd->num_iovas);
out:
	free(ranges);
	return rc;
}

int ioas_ops_map(struct ufd_ucmd *ucmd)
{
	struct iommu_ioas_map *cmd = ucmd->cmd;
	uint64_t iova = cmd->iova;
	int rc;

	if ((cmd->flags & ~UCMD_MAP_KNOWN_FLAGS) || cmd->__reserved)
		return -EOPNOTSUPP;
	rc = ufd_ioas_map(ucmd->ctx, cmd->ioas_id, ucmd->caller->mem,
			  cmd->user_va, cmd->length, &iova,
			  ucmd_map_flags(cmd->flags));
	if (rc)
		return rc;
	cmd->iova = iova;
	return ucmd_respond_or_unmap(ucmd, cmd->ioas_id, iova, cmd->length);
}

int ioas_ops_copy(struct ufd_ucmd *ucmd)
{
	struct iommu_ioas_copy *cmd = ucmd->cmd;
	uint64_t iova = cmd->dst_iova;
	int rc;

	if (cmd->flags & ~UCMD_MAP_KNOWN_FLAGS)
		return -EOPNOTSUPP;
	rc = ufd_ioas_copy(ucmd->ctx, cmd->dst_ioas_id, cmd->src_ioas_id,
			   cmd->src_iova, cmd->length, &iova,
			   ucmd_map_flags(cmd->flags));
	if (rc)
		return rc;
	cmd->dst_iova = iova;
	return ucmd_respond_or_unmap(ucmd, cmd->dst_ioas_id, iova,
				     cmd->length);
}

int ioas_ops_unmap(struct ufd_ucmd *ucmd)
{
	struct iommu_ioas_unmap *cmd = ucmd->cmd;
	uint64_t unmapped;
	int rc;

	rc = ufd_ioas_unmap(ucmd->ctx, cmd->ioas_id, cmd->iova, cmd->length,
			    &unmapped);
	if (rc)
		return rc;
	cmd->length = unmapped;
	return ucmd_respond(ucmd);
}

static int option_rlimit_mode(struct ufd_ucmd *ucmd,
			      struct iommu_option *cmd)
{
	uint64_t mode;
	int rc;

	if (cmd->object_id)
		return -EOPNOTSUPP;
	if (cmd->op == IOMMU_OPTION_OP_GET) {
		rc = ufd_ctx_get_rlimit_mode(ucmd->ctx, &mode);
		if (rc)
			return rc;
		cmd->val64 = mode;
		return 0;
	}
	if (cmd->op == IOMMU_OPTION_OP_SET) {
		struct ufd_cred cred;

		ufd_caller_cred(ucmd->caller, &cred);
		return ufd_ctx_set_rlimit_mode(ucmd->ctx, &cred, cmd->val64);
	}
	return -EOPNOTSUPP;
}

static int option_huge_pages(struct ufd_ucmd *ucmd, struct iommu_option *cmd)
{
	bool enabled;
	int rc;

	/* The IOAS lookup comes first: ENOENT before any op check. */
	rc = ufd_ioas_get_huge_pages(ucmd->ctx, cmd->object_id, &enabled);
	if (rc)
		return rc;
	if (cmd->op == IOMMU_OPTION_OP_GET) {
		cmd->val64 = enabled;
		return 0;
	}
	if (cmd->op == IOMMU_OPTION_OP_SET) {
		if (cmd->val64 > 1)
			return -EINVAL;
		return ufd_ioas_set_huge_pages(ucmd->ctx, cmd->object_id,
					       cmd->val64);
	}
	return -EOPNOTSUPP;
}

int ioas_ops_option(struct ufd_ucmd *ucmd)
{
	struct iommu_option *cmd = ucmd->cmd;
	int rc;

	if (cmd->__reserved)
		return -EOPNOTSUPP;
	switch (cmd->option_id) {
	case IOMMU_OPTION_RLIMIT_MODE:
		rc = option_rlimit_mode(ucmd, cmd);
		break;
	case IOMMU_OPTION_HUGE_PAGES:
		rc = option_huge_pages(ucmd, cmd);
		break;
	default:
		return -EOPNOTSUPP;
	}
	if (rc)
		return rc;
	return ucmd_respond(ucmd);
}

int ioas_ops_vfio_ioas(struct ufd_ucmd *ucmd)
{
	struct iommu_vfio_ioas *cmd = ucmd->cmd;
	uint32_t id;
	int rc;

	if (cmd->__reserved)
		return -EOPNOTSUPP;
	switch (cmd->op) {
	case IOMMU_VFIO_IOAS_GET:
		rc = ufd_ctx_get_compat_ioas(ucmd->ctx, &id);
		if (rc)
			return rc;
		cmd->ioas_id = id;
		return ucmd_respond(ucmd);
	case IOMMU_VFIO_IOAS_SET:
		return ufd_ctx_set_compat_ioas(ucmd->ctx, cmd->ioas_id);
	case IOMMU_VFIO_IOAS_CLEAR:
		ufd_ctx_clear_compat_ioas(ucmd->ctx);
		return 0;
	default:
		return -EOPNOTSUPP;
	}
}
