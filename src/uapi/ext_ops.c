/* SPDX-License-Identifier: MIT */
/*
 * Handlers of the uiommufd extension commands (<linux/iommufd_ext.h>).
 * dispatch.c has already applied iommufd's size rules (its second table);
 * each handler checks flags and __reserved (-EOPNOTSUPP), calls the engine
 * (src/engine/ext_iopt.c) and writes the answer back.  Commands that return
 * an array follow IOMMU_IOAS_IOVA_RANGES: what fits is written, the count
 * is the total, and a count larger than the room is -EMSGSIZE after the
 * reply.  The list of extensions and versions that UIOMMUFD_EXT_QUERY
 * returns is here, one row per extension.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <linux/iommufd.h>
#include <linux/iommufd_ext.h>

#include "uapi/ext_ops.h"
#include "uapi/ucmd.h"

#define offsetofend(T, m) (offsetof(T, m) + sizeof(((T *)0)->m))

static const struct uiommufd_ext_info ext_list[] = {
	{ .id = UIOMMUFD_EXT_ID_QUERY, .version = 1, .nr_cmds = 1,
	  .cmds = { UIOMMUFD_EXT_QUERY }, .name = "query" },
	{ .id = UIOMMUFD_EXT_ID_PAGE_SIZES, .version = 1, .nr_cmds = 1,
	  .cmds = { UIOMMUFD_PAGE_SIZES }, .name = "page-sizes" },
	{ .id = UIOMMUFD_EXT_ID_QUERY_ATTACH, .version = 1, .nr_cmds = 1,
	  .cmds = { UIOMMUFD_QUERY_ATTACH }, .name = "query-attach" },
	{ .id = UIOMMUFD_EXT_ID_MIN_APERTURE, .version = 1, .nr_cmds = 1,
	  .cmds = { UIOMMUFD_IOAS_SET_MIN_APERTURE }, .name = "min-aperture" },
	{ .id = UIOMMUFD_EXT_ID_RESERVE, .version = 1, .nr_cmds = 3,
	  .cmds = { UIOMMUFD_IOAS_RESERVE, UIOMMUFD_IOAS_UNRESERVE,
		    UIOMMUFD_IOAS_RESERVATIONS },
	  .name = "reserve" },
	{ .id = UIOMMUFD_EXT_ID_MAP_HINT, .version = 1, .nr_cmds = 1,
	  .cmds = { UIOMMUFD_IOAS_MAP_HINT }, .name = "map-hint" },
	{ .id = UIOMMUFD_EXT_ID_PASID_SET, .version = 1, .nr_cmds = 4,
	  .cmds = { UIOMMUFD_PASID_SET_ALLOC, UIOMMUFD_PASID_ALLOC,
		    UIOMMUFD_PASID_FREE, UIOMMUFD_PASID_SET_INFO },
	  .name = "pasid-set" },
	{ .id = UIOMMUFD_EXT_ID_PASID_SET_ATTACH, .version = 1, .nr_cmds = 1,
	  .cmds = { UIOMMUFD_PASID_SET_ATTACH }, .name = "pasid-set-attach" },
	{ .id = UIOMMUFD_EXT_ID_MEM_REGISTER, .version = 1, .nr_cmds = 3,
	  .cmds = { UIOMMUFD_MEM_REGISTER, UIOMMUFD_MEM_UNREGISTER,
		    UIOMMUFD_MEM_REG_INFO },
	  .name = "mem-register" },
	{ .id = UIOMMUFD_EXT_ID_MAP_GRANULE, .version = 1, .nr_cmds = 1,
	  .cmds = { UIOMMUFD_IOAS_MAP_GRANULE }, .name = "map-granule" },
	{ .id = UIOMMUFD_EXT_ID_COPY_RESV, .version = 1, .nr_cmds = 1,
	  .cmds = { UIOMMUFD_IOAS_COPY_RESV }, .name = "copy-reservations" },
};

#define NR_EXTS (sizeof(ext_list) / sizeof(ext_list[0]))

/* The smallest entry a caller may ask for: id and version; the largest
 * any version will have. */
#define EXT_ENTRY_MIN offsetofend(struct uiommufd_ext_info, version)
#define EXT_ENTRY_MAX 4096u

int ext_ops_query(struct ufd_ucmd *ucmd)
{
	struct uiommufd_ext_query *cmd = ucmd->cmd;
	uint32_t room = cmd->num_exts, esize = cmd->entry_size, i, n;
	int rc;

	if (cmd->flags)
		return -EOPNOTSUPP;
	if (room && (esize < EXT_ENTRY_MIN || esize > EXT_ENTRY_MAX))
		return -EINVAL;
	n = room < NR_EXTS ? room : NR_EXTS;
	for (i = 0; i != n; i++) {
		uint8_t entry[sizeof(struct uiommufd_ext_info)];
		uint32_t w = esize < sizeof(entry) ? esize : sizeof(entry);
		uint64_t at = cmd->exts + (uint64_t)i * esize;

		memcpy(entry, &ext_list[i], sizeof(entry));
		rc = copy_to_caller(ucmd->caller, at, entry, w);
		if (rc)
			return rc;
		/* A larger entry than ours: its tail is zero, as a later
		 * field we do not know would be. */
		if (esize > w) {
			static const uint8_t zero[64];
			uint64_t left = esize - w, off = at + w;

			while (left) {
				uint32_t c = left < sizeof(zero) ? left :
								   sizeof(zero);

				rc = copy_to_caller(ucmd->caller, off, zero, c);
				if (rc)
					return rc;
				left -= c;
				off += c;
			}
		}
	}
	cmd->num_exts = NR_EXTS;
	cmd->entry_size = sizeof(struct uiommufd_ext_info);
	rc = ucmd_respond(ucmd);
	if (!rc && room < NR_EXTS && room)
		rc = -EMSGSIZE;
	return rc;
}

int ext_ops_page_sizes(struct ufd_ucmd *ucmd)
{
	struct uiommufd_page_sizes *cmd = ucmd->cmd;
	struct ufd_page_run *runs = NULL;
	uint32_t room = cmd->num_runs, num, i, want;
	int rc;

	if (cmd->flags)
		return -EOPNOTSUPP;
	/* Count, then fill what the caller has room for. */
	rc = ufd_page_sizes_used(ucmd->ctx, cmd->pt_id, cmd->iova, cmd->length,
				 NULL, 0, &num);
	if (rc)
		return rc;
	want = num < room ? num : room;
	if (want) {
		runs = calloc(want, sizeof(*runs));
		if (!runs)
			return -ENOMEM;
		rc = ufd_page_sizes_used(ucmd->ctx, cmd->pt_id, cmd->iova,
					 cmd->length, runs, want, &num);
		if (rc)
			goto out;
		if (num < want)
			want = num;
	}
	for (i = 0; i != want; i++) {
		struct uiommufd_page_run r = {
			.start = runs[i].start,
			.last = runs[i].last,
			.page_size = runs[i].page_size,
		};

		rc = copy_to_caller(ucmd->caller, cmd->runs + i * sizeof(r),
				    &r, sizeof(r));
		if (rc)
			goto out;
	}
	cmd->num_runs = num;
	rc = ucmd_respond(ucmd);
	if (!rc && num > room)
		rc = -EMSGSIZE;
out:
	free(runs);
	return rc;
}

/* Copy the @have ranges of @r to the caller's array at @uptr. */
static int put_ranges(struct ufd_ucmd *ucmd, uint64_t uptr,
		      const struct ufd_iova_range *r, uint32_t have)
{
	uint32_t i;
	int rc;

	for (i = 0; i != have; i++) {
		struct iommu_iova_range u = { .start = r[i].start,
					      .last = r[i].last };

		rc = copy_to_caller(ucmd->caller, uptr + i * sizeof(u), &u,
				    sizeof(u));
		if (rc)
			return rc;
	}
	return 0;
}

int ext_ops_query_attach(struct ufd_ucmd *ucmd)
{
	struct uiommufd_query_attach *cmd = ucmd->cmd;
	struct ufd_iova_range *ranges = NULL;
	struct ufd_attach_verdict v;
	uint32_t room = cmd->num_iovas, num, want;
	int rc;

	if (cmd->flags || cmd->__reserved)
		return -EOPNOTSUPP;
	rc = ufd_device_query_attach_verdict(ucmd->ctx, cmd->dev_id,
					     cmd->ioas_id, NULL, 0, &num, &v);
	if (rc)
		return rc;
	want = num < room ? num : room;
	if (want) {
		ranges = calloc(want, sizeof(*ranges));
		if (!ranges)
			return -ENOMEM;
		rc = ufd_device_query_attach_verdict(ucmd->ctx, cmd->dev_id,
						     cmd->ioas_id, ranges, want,
						     &num, &v);
		if (rc)
			goto out;
		if (num < want)
			want = num;
	}
	rc = put_ranges(ucmd, cmd->allowed_iovas, ranges, want);
	if (rc)
		goto out;
	cmd->num_iovas = num;
	cmd->out_errno = (uint32_t)-v.error;
	cmd->out_reason = v.reason;
	cmd->out_iova_alignment = v.alignment;
	cmd->out_pgsize_bitmap = v.pgsize_bitmap;
	cmd->out_conflict_start = v.reason ? v.conflict.start : 0;
	cmd->out_conflict_last = v.reason ? v.conflict.last : 0;
	rc = ucmd_respond(ucmd);
	if (!rc && num > room)
		rc = -EMSGSIZE;
out:
	free(ranges);
	return rc;
}

int ext_ops_set_min_aperture(struct ufd_ucmd *ucmd)
{
	struct uiommufd_ioas_set_min_aperture *cmd = ucmd->cmd;
	unsigned int flags = 0;

	if ((cmd->flags & ~UIOMMUFD_MIN_APERTURE_FIXED_BASE) || cmd->__reserved)
		return -EOPNOTSUPP;
	if (cmd->flags & UIOMMUFD_MIN_APERTURE_FIXED_BASE)
		flags |= UFD_MIN_APERTURE_FIXED_BASE;
	return ufd_ioas_set_min_aperture(ucmd->ctx, cmd->ioas_id, cmd->length,
					 cmd->base, cmd->pgsize_bitmap, flags);
}

int ext_ops_reserve(struct ufd_ucmd *ucmd)
{
	struct uiommufd_ioas_reserve *cmd = ucmd->cmd;

	if (cmd->flags || cmd->__reserved)
		return -EOPNOTSUPP;
	return ufd_ioas_reserve_iova(ucmd->ctx, cmd->ioas_id, cmd->iova,
				     cmd->length);
}

int ext_ops_unreserve(struct ufd_ucmd *ucmd)
{
	struct uiommufd_ioas_reserve *cmd = ucmd->cmd;

	if (cmd->flags || cmd->__reserved)
		return -EOPNOTSUPP;
	return ufd_ioas_unreserve_iova(ucmd->ctx, cmd->ioas_id, cmd->iova,
				       cmd->length);
}

int ext_ops_reservations(struct ufd_ucmd *ucmd)
{
	struct uiommufd_ioas_reservations *cmd = ucmd->cmd;
	struct ufd_iova_range *ranges = NULL;
	uint32_t room = cmd->num_iovas, num, want;
	int rc;

	if (cmd->flags)
		return -EOPNOTSUPP;
	rc = ufd_ioas_reservations(ucmd->ctx, cmd->ioas_id, NULL, 0, &num);
	if (rc)
		return rc;
	want = num < room ? num : room;
	if (want) {
		ranges = calloc(want, sizeof(*ranges));
		if (!ranges)
			return -ENOMEM;
		rc = ufd_ioas_reservations(ucmd->ctx, cmd->ioas_id, ranges,
					   want, &num);
		if (rc)
			goto out;
		if (num < want)
			want = num;
	}
	rc = put_ranges(ucmd, cmd->iovas, ranges, want);
	if (rc)
		goto out;
	cmd->num_iovas = num;
	rc = ucmd_respond(ucmd);
	if (!rc && num > room)
		rc = -EMSGSIZE;
out:
	free(ranges);
	return rc;
}

int ext_ops_map_hint(struct ufd_ucmd *ucmd)
{
	struct uiommufd_ioas_map_hint *cmd = ucmd->cmd;
	uint64_t iova = cmd->iova;
	bool at_hint = false;
	int rc;

	if (cmd->flags & ~(IOMMU_IOAS_MAP_WRITEABLE | IOMMU_IOAS_MAP_READABLE))
		return -EOPNOTSUPP;
	if (cmd->out_flags)
		return -EOPNOTSUPP; /* an output: must come in as 0 */
	rc = ufd_ioas_map_hint(ucmd->ctx, cmd->ioas_id, ucmd->caller->mem,
			       cmd->user_va, cmd->length, &iova,
			       ucmd_map_flags(cmd->flags), &at_hint);
	if (rc)
		return rc;
	cmd->iova = iova;
	cmd->out_flags = at_hint ? UIOMMUFD_MAP_HINT_AT_HINT : 0;
	return ucmd_respond_or_unmap(ucmd, cmd->ioas_id, iova, cmd->length);
}

int ext_ops_map_granule(struct ufd_ucmd *ucmd)
{
	struct uiommufd_ioas_map_granule *cmd = ucmd->cmd;
	uint64_t iova = cmd->iova;
	int rc;

	if ((cmd->flags & ~UCMD_MAP_KNOWN_FLAGS) || cmd->__reserved)
		return -EOPNOTSUPP;
	rc = ufd_ioas_map_granule(ucmd->ctx, cmd->ioas_id, ucmd->caller->mem,
				  cmd->user_va, cmd->length, &iova,
				  ucmd_map_flags(cmd->flags), cmd->granule);
	if (rc)
		return rc;
	cmd->iova = iova;
	return ucmd_respond_or_unmap(ucmd, cmd->ioas_id, iova, cmd->length);
}

int ext_ops_copy_resv(struct ufd_ucmd *ucmd)
{
	struct uiommufd_ioas_copy_resv *cmd = ucmd->cmd;
	uint64_t iova = cmd->dst_iova;
	uint32_t copied = 0;
	int rc;

	if ((cmd->flags & ~UCMD_MAP_KNOWN_FLAGS) || cmd->__reserved ||
	    cmd->out_nr_reservations)
		return -EOPNOTSUPP;
	rc = ufd_ioas_copy_resv(ucmd->ctx, cmd->dst_ioas_id, cmd->src_ioas_id,
				cmd->src_iova, cmd->length, &iova,
				ucmd_map_flags(cmd->flags), &copied);
	if (rc)
		return rc;
	cmd->dst_iova = iova;
	cmd->out_nr_reservations = copied;
	rc = ucmd_respond(ucmd);
	if (rc) {
		/* The destination held no reservation before: every one in
		 * the range is a copy. */
		ufd_ioas_unmap(ucmd->ctx, cmd->dst_ioas_id, iova, cmd->length,
			       NULL);
		if (copied)
			ufd_ioas_unreserve_iova(ucmd->ctx, cmd->dst_ioas_id,
						iova, cmd->length);
	}
	return rc;
}

/* ---- registered memory ---- */

int ext_ops_mem_register(struct ufd_ucmd *ucmd)
{
	struct uiommufd_mem_register *cmd = ucmd->cmd;
	unsigned int flags = 0;
	uint32_t id;
	int rc;

	if ((cmd->flags & ~UIOMMUFD_MEM_REGISTER_WRITEABLE) ||
	    cmd->__reserved)
		return -EOPNOTSUPP;
	if (cmd->flags & UIOMMUFD_MEM_REGISTER_WRITEABLE)
		flags |= UFD_MAP_WRITE;
	rc = ufd_mem_register(ucmd->ctx, ucmd->caller->mem, cmd->user_va,
			      cmd->length, flags, &id);
	if (rc)
		return rc;
	cmd->out_reg_id = id;
	/* On failure the row's publication window destroys it. */
	return ucmd_respond(ucmd);
}

int ext_ops_mem_unregister(struct ufd_ucmd *ucmd)
{
	struct uiommufd_mem_unregister *cmd = ucmd->cmd;

	return ufd_mem_unregister(ucmd->ctx, cmd->reg_id);
}

int ext_ops_mem_reg_info(struct ufd_ucmd *ucmd)
{
	struct uiommufd_mem_reg_info *cmd = ucmd->cmd;
	struct ufd_mem_reg_info info;
	int rc;

	if (cmd->flags || cmd->__reserved)
		return -EOPNOTSUPP;
	rc = ufd_mem_reg_info(ucmd->ctx, cmd->reg_id, &info);
	if (rc)
		return rc;
	cmd->out_nr_maps = info.nr_maps;
	cmd->out_user_va = info.uaddr;
	cmd->out_length = info.length;
	cmd->out_pinned_bytes = info.pinned_bytes;
	cmd->out_charged_bytes = info.charged_bytes;
	cmd->out_account = info.account;
	cmd->out_uid = (uint32_t)info.uid;
	cmd->out_pid = (uint32_t)info.pid;
	return ucmd_respond(ucmd);
}
