/* SPDX-License-Identifier: MIT */
/*
 * Handlers of the PASID-set extension commands (<linux/iommufd_ext.h>:
 * UIOMMUFD_PASID_SET_ALLOC, _PASID_ALLOC, _PASID_FREE, _PASID_SET_INFO,
 * _PASID_SET_ATTACH).  Model and rules are the engine's
 * (src/engine/pasid_set.c: sets with an inclusive PASID range [first,
 * last] and a quota, a system-wide capacity, ENOSPC past either); here
 * only flags/__reserved (EOPNOTSUPP), the reply, and undoing what a
 * failed reply leaves: a set made by a call whose reply fails is never
 * published (the row is ROW_EXT_PUBLISHING), a PASID allocated by one is
 * freed again.  Locking: none here; the engine locks.
 */
#include <stdlib.h>

#include <linux/iommufd_ext.h>

#include "uapi/ext_ops.h"
#include "uapi/ucmd.h"

int ext_ops_pasid_set_alloc(struct ufd_ucmd *ucmd)
{
	struct uiommufd_pasid_set_alloc *cmd = ucmd->cmd;
	uint32_t id;
	int rc;

	if (cmd->flags)
		return -EOPNOTSUPP;
	rc = ufd_pasid_set_alloc(ucmd->ctx, cmd->first, cmd->last, cmd->quota,
				 &id);
	if (rc)
		return rc;
	cmd->out_set_id = id;
	rc = ucmd_respond(ucmd);
	if (rc)
		ufd_destroy(ucmd->ctx, id);
	return rc;
}

int ext_ops_pasid_alloc(struct ufd_ucmd *ucmd)
{
	struct uiommufd_pasid_alloc *cmd = ucmd->cmd;
	uint32_t dev_id = 0, pasid;
	int rc;

	if ((cmd->flags & ~UIOMMUFD_PASID_ALLOC_DEV_RANGE) || cmd->__reserved)
		return -EOPNOTSUPP;
	if (cmd->flags & UIOMMUFD_PASID_ALLOC_DEV_RANGE) {
		if (!cmd->dev_id)
			return -ENOENT;
		dev_id = cmd->dev_id;
	} else if (cmd->dev_id) {
		return -EINVAL; /* a device without the flag */
	}
	rc = ufd_pasid_alloc(ucmd->ctx, cmd->set_id, dev_id, &pasid);
	if (rc)
		return rc;
	cmd->out_pasid = pasid;
	rc = ucmd_respond(ucmd);
	if (rc)
		ufd_pasid_free(ucmd->ctx, cmd->set_id, pasid);
	return rc;
}

int ext_ops_pasid_free(struct ufd_ucmd *ucmd)
{
	struct uiommufd_pasid_free *cmd = ucmd->cmd;

	if (cmd->flags)
		return -EOPNOTSUPP;
	return ufd_pasid_free(ucmd->ctx, cmd->set_id, cmd->pasid);
}

int ext_ops_pasid_set_info(struct ufd_ucmd *ucmd)
{
	struct uiommufd_pasid_set_info *cmd = ucmd->cmd;
	struct ufd_pasid_set_info info;
	uint32_t room = cmd->num_pasids, num, want, i, *ids = NULL;
	int rc;

	if (cmd->flags || cmd->__reserved)
		return -EOPNOTSUPP;
	rc = ufd_pasid_set_info(ucmd->ctx, cmd->set_id, &info);
	if (rc)
		return rc;
	num = info.allocated;
	want = num < room ? num : room;
	if (want) {
		ids = calloc(want, sizeof(*ids));
		if (!ids)
			return -ENOMEM;
		rc = ufd_pasid_set_list(ucmd->ctx, cmd->set_id, ids, want,
					&num);
		if (rc)
			goto out;
		if (num < want)
			want = num;
	}
	for (i = 0; i != want; i++) {
		rc = copy_to_caller(ucmd->caller,
				    cmd->pasids + (uint64_t)i * sizeof(*ids),
				    &ids[i], sizeof(*ids));
		if (rc)
			goto out;
	}
	cmd->num_pasids = num;
	cmd->out_first = info.first;
	cmd->out_last = info.last;
	cmd->out_quota = info.quota;
	cmd->out_sys_capacity = info.sys_capacity;
	cmd->out_sys_allocated = info.sys_allocated;
	rc = ucmd_respond(ucmd);
	if (!rc && num > room)
		rc = -EMSGSIZE;
out:
	free(ids);
	return rc;
}

int ext_ops_pasid_set_attach(struct ufd_ucmd *ucmd)
{
	struct uiommufd_pasid_set_attach *cmd = ucmd->cmd;

	if (cmd->flags)
		return -EOPNOTSUPP;
	return ufd_pasid_set_attach(ucmd->ctx, cmd->set_id, cmd->dev_id,
				    cmd->pasid, cmd->pt_id);
}
