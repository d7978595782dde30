/* SPDX-License-Identifier: MIT */
/*
 * Fault queues: IOMMU_FAULT_QUEUE_ALLOC, and read()/write() on the queue's
 * fd.  A read returns whole fault groups as struct iommu_hwpt_pgfault
 * records (40 bytes), never blocks (0 when nothing is queued), and fails
 * -EINVAL when the first group does not fit; a write takes struct
 * iommu_hwpt_page_response records (8 bytes).  Counts that are not a
 * multiple of the record size are -ESPIPE, as the kernel's file does.
 */
#include <stdlib.h>
#include <string.h>

#include <linux/iommufd.h>

#include "uapi/ucmd.h"

#define MAX_READ_RECORDS 4096u

int hwpt_ops_fault_alloc(struct ufd_ucmd *ucmd)
{
	struct iommu_fault_alloc *cmd = ucmd->cmd;
	const struct ufd_caller *caller = ucmd->caller;
	uint32_t fault_id;
	int fd, rc;

	if (cmd->flags)
		return -EOPNOTSUPP;
	if (!caller->ops || !caller->ops->make_fd)
		return -EOPNOTSUPP;
	rc = ufd_fault_alloc(ucmd->ctx, &fault_id);
	if (rc)
		return rc;
	rc = ufd_fault_hold_fd(ucmd->ctx, fault_id);
	if (rc)
		goto out_destroy;
	fd = caller->ops->make_fd(caller, ucmd->ctx, UFD_FD_FAULT, fault_id);
	if (fd < 0) {
		rc = fd;
		ufd_fault_release_fd(ucmd->ctx, fault_id);
		goto out_destroy;
	}
	cmd->out_fault_id = fault_id;
	cmd->out_fault_fd = (uint32_t)fd;
	rc = ucmd_respond(ucmd);
	if (!rc)
		return 0;
	caller->ops->unmake_fd(caller, fd);
	ufd_fault_release_fd(ucmd->ctx, fault_id);
out_destroy:
	ufd_destroy(ucmd->ctx, fault_id);
	return rc;
}

long ufd_dispatch_fault_read(struct ufd_ctx *ctx,
			     const struct ufd_caller *caller, uint32_t fault_id,
			     uint64_t buf, uint64_t count)
{
	const size_t rec = sizeof(struct iommu_hwpt_pgfault);
	struct iommu_hwpt_pgfault *out;
	struct ufd_pgfault *recs;
	uint64_t max;
	long n, i;
	int rc;

	if (count % rec)
		return -ESPIPE;
	max = count / rec;
	/* Nothing queued: the kernel's read never touches the buffer. */
	if (!max || !ufd_fault_pending(ctx, fault_id))
		return 0;
	if (max > MAX_READ_RECORDS)
		max = MAX_READ_RECORDS;
	recs = calloc(max, sizeof(*recs));
	out = calloc(max, sizeof(*out));
	if (!recs || !out) {
		n = -ENOMEM;
		goto out_free;
	}
	/* Make sure the answer can be written before groups leave the queue. */
	rc = copy_to_caller(caller, buf, out, max * rec);
	if (rc) {
		n = rc;
		goto out_free;
	}
	n = ufd_fault_read(ctx, fault_id, recs, max);
	for (i = 0; i < n; i++) {
		out[i].flags = recs[i].flags;
		out[i].dev_id = recs[i].dev_id;
		out[i].pasid = recs[i].pasid;
		out[i].grpid = recs[i].grpid;
		out[i].perm = recs[i].perm;
		out[i].addr = recs[i].addr;
		out[i].length = recs[i].length;
		out[i].cookie = recs[i].cookie;
	}
	if (n > 0) {
		rc = copy_to_caller(caller, buf, out, (size_t)n * rec);
		n = rc ? rc : n * (long)rec;
	}
out_free:
	free(recs);
	free(out);
	return n;
}

long ufd_dispatch_fault_write(struct ufd_ctx *ctx,
			      const struct ufd_caller *caller,
			      uint32_t fault_id, uint64_t buf, uint64_t count)
{
	const size_t rec = sizeof(struct iommu_hwpt_page_response);
	uint64_t done = 0;
	int rc = 0;

	if (count % rec)
		return -ESPIPE;
	while (done < count) {
		struct iommu_hwpt_page_response resp;

		rc = copy_from_caller(caller, &resp, buf + done, rec);
		if (rc)
			break;
		rc = ufd_fault_respond(ctx, fault_id, resp.cookie, resp.code);
		if (rc)
			break;
		done += rec;
	}
	return done ? (long)done : rc;
}
