/* SPDX-License-Identifier: MIT */
/*
 * Handlers for the vIOMMU family: VIOMMU_ALLOC, VDEVICE_ALLOC,
 * VEVENTQ_ALLOC (and read() on the queue's fd), HW_QUEUE_ALLOC, vIOMMU
 * cache invalidation (HWPT_INVALIDATE naming a vIOMMU), TRIGGER_VEVENT,
 * and mmap() of a vIOMMU's page through the /dev/iommu fd.  The engine
 * keeps the objects (engine/viommu.c); what the selftest's mock driver
 * does with them is here: its vIOMMU echoes in_data and offers two pages
 * to mmap whose first word is in_data, takes HW queues of its type with
 * indexes 0..IOMMU_TEST_HW_QUEUE_MAX-1 in order (each holds the one
 * before it), and resets mock device cache tags on invalidation.
 * Arguments are checked in the kernel's order.
 *
 * mmap ranges are [offset, offset + length).  Locking: the engine locks;
 * the mock page is read and written with atomic word accesses.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <linux/iommufd.h>
#include "iommufd_test.h"

#include "uapi/ucmd.h"

#define offsetofend(T, m) (offsetof(T, m) + sizeof(((T *)0)->m))

#define MOCK_VIOMMU_MMAP_LEN (2 * 4096ULL)
#define VEVENTQ_MAX_DEPTH (1u << 19)
#define INVALIDATE_ENTRY_NUM_MAX (1u << 19)
#define VEVENT_READ_MAX (1u << 20)

/* ---- the mock vIOMMU ---- */

struct mock_viommu {
	uint32_t *page;   /* MOCK_VIOMMU_MMAP_LEN bytes, or NULL */
	bool hw_queue[IOMMU_TEST_HW_QUEUE_MAX];
};

static void mock_viommu_destroy(void *priv)
{
	struct mock_viommu *mv = priv;

	free(mv->page);
	free(mv);
}

static int mock_hw_queue_init(void *priv, uint32_t type, uint32_t index,
			      uint64_t base, bool *holds_prev)
{
	struct mock_viommu *mv = priv;

	(void)type;
	(void)base;
	if (index >= IOMMU_TEST_HW_QUEUE_MAX)
		return -EINVAL;
	if (mv->hw_queue[index])
		return -EEXIST;
	if (index && !mv->hw_queue[index - 1])
		return -EIO; /* they come in order */
	mv->hw_queue[index] = true;
	*holds_prev = index != 0;
	return 0;
}

static void mock_hw_queue_destroy(void *priv, uint32_t type, uint32_t index)
{
	struct mock_viommu *mv = priv;

	(void)type;
	if (index < IOMMU_TEST_HW_QUEUE_MAX)
		mv->hw_queue[index] = false;
}

static const struct ufd_viommu_ops mock_viommu_ops = {
	.destroy = mock_viommu_destroy,
	.hw_queue_init = mock_hw_queue_init,
	.hw_queue_destroy = mock_hw_queue_destroy,
};

/* The mock vIOMMU @viommu_id, or NULL (none, or of another type). */
static struct mock_viommu *mock_viommu_get(struct ufd_ctx *ctx,
					   uint32_t viommu_id)
{
	uint32_t type;
	void *priv;

	if (ufd_viommu_priv(ctx, viommu_id, &type, &priv) ||
	    type != IOMMU_VIOMMU_TYPE_SELFTEST)
		return NULL;
	return priv;
}

/*
 * Driver data in (iommu_copy_struct_from_user): at least @min bytes, a
 * longer one's tail must be zero (-E2BIG), the rest of @dst zeroed.
 */
static int copy_user_data(const struct ufd_caller *caller, void *dst,
			  size_t known, size_t min, uint64_t uptr,
			  uint64_t len)
{
	uint8_t chunk[256];
	uint64_t at;
	size_t i, n;
	int rc;

	if (len < min)
		return -EINVAL;
	memset(dst, 0, known);
	for (at = known; at < len; at += n) {
		n = len - at < sizeof(chunk) ? len - at : sizeof(chunk);
		rc = copy_from_caller(caller, chunk, uptr + at, n);
		if (rc)
			return rc;
		for (i = 0; i != n; i++)
			if (chunk[i])
				return -E2BIG;
	}
	return copy_from_caller(caller, dst, uptr, len < known ? len : known);
}

int viommu_ops_alloc(struct ufd_ucmd *ucmd)
{
	struct iommu_viommu_alloc *cmd = ucmd->cmd;
	struct iommu_viommu_selftest data;
	struct ufd_hw_info info;
	struct mock_viommu *mv;
	uint64_t offset = 0;
	uint32_t viommu_id;
	int rc;

	if (cmd->flags || cmd->type == IOMMU_VIOMMU_TYPE_DEFAULT)
		return -EOPNOTSUPP;
	rc = ufd_device_get_hw_info(ucmd->ctx, cmd->dev_id, NULL, 0, &info);
	if (rc)
		return rc;
	/* The driver's own types only: the mock's. */
	if (info.type != IOMMU_HW_INFO_TYPE_SELFTEST ||
	    cmd->type != IOMMU_VIOMMU_TYPE_SELFTEST)
		return -EOPNOTSUPP;
	if (ufd_obj_kind(ucmd->ctx, cmd->hwpt_id) != UFD_KIND_HWPT_PAGING)
		return -ENOENT;
	rc = ufd_hwpt_can_nest(ucmd->ctx, cmd->hwpt_id);
	if (rc)
		return rc;
	mv = calloc(1, sizeof(*mv));
	if (!mv)
		return -ENOMEM;
	if (cmd->data_len) {
		rc = copy_user_data(ucmd->caller, &data, sizeof(data),
				    offsetofend(struct iommu_viommu_selftest,
						out_data),
				    cmd->data_uptr, cmd->data_len);
		if (!rc) {
			mv->page = aligned_alloc(4096, MOCK_VIOMMU_MMAP_LEN);
			if (!mv->page)
				rc = -ENOMEM;
		}
		if (rc) {
			free(mv);
			return rc;
		}
		memset(mv->page, 0, MOCK_VIOMMU_MMAP_LEN);
		mv->page[0] = data.in_data;
	}
	rc = ufd_viommu_alloc(ucmd->ctx, cmd->dev_id, cmd->hwpt_id, cmd->type,
			      &mock_viommu_ops, mv,
			      mv->page ? MOCK_VIOMMU_MMAP_LEN : 0, &offset,
			      &viommu_id);
	if (rc) {
		mock_viommu_destroy(mv);
		return rc;
	}
	if (cmd->data_len) {
		size_t n = cmd->data_len < sizeof(data) ? cmd->data_len :
							  sizeof(data);

		data.out_data = data.in_data;
		data.out_mmap_offset = offset;
		data.out_mmap_length = MOCK_VIOMMU_MMAP_LEN;
		rc = copy_to_caller(ucmd->caller, cmd->data_uptr, &data, n);
		if (rc) {
			ufd_destroy(ucmd->ctx, viommu_id);
			return rc;
		}
	}
	cmd->out_viommu_id = viommu_id;
	rc = ucmd_respond(ucmd);
	if (rc)
		ufd_destroy(ucmd->ctx, viommu_id);
	return rc;
}

int viommu_ops_vdevice_alloc(struct ufd_ucmd *ucmd)
{
	struct iommu_vdevice_alloc *cmd = ucmd->cmd;
	uint32_t vdev_id;
	int rc;

	rc = ufd_vdevice_alloc(ucmd->ctx, cmd->viommu_id, cmd->dev_id,
			       cmd->virt_id, &vdev_id);
	if (rc)
		return rc;
	cmd->out_vdevice_id = vdev_id;
	rc = ucmd_respond(ucmd);
	if (rc)
		ufd_destroy(ucmd->ctx, vdev_id);
	return rc;
}

int viommu_ops_hw_queue_alloc(struct ufd_ucmd *ucmd)
{
	struct iommu_hw_queue_alloc *cmd = ucmd->cmd;
	uint64_t last;
	uint32_t id;
	int rc;

	if (cmd->flags || cmd->type == IOMMU_HW_QUEUE_TYPE_DEFAULT)
		return -EOPNOTSUPP;
	if (!cmd->length)
		return -EINVAL;
	if (__builtin_add_overflow(cmd->nesting_parent_iova, cmd->length - 1,
				   &last))
		return -EOVERFLOW;
	if (ufd_obj_kind(ucmd->ctx, cmd->viommu_id) != UFD_KIND_VIOMMU)
		return -ENOENT;
	if (!mock_viommu_get(ucmd->ctx, cmd->viommu_id) ||
	    cmd->type != IOMMU_HW_QUEUE_TYPE_SELFTEST)
		return -EOPNOTSUPP;
	rc = ufd_hw_queue_alloc(ucmd->ctx, cmd->viommu_id, cmd->type,
				cmd->index, cmd->nesting_parent_iova,
				cmd->length, &id);
	if (rc)
		return rc;
	cmd->out_hw_queue_id = id;
	rc = ucmd_respond(ucmd);
	if (rc)
		ufd_destroy(ucmd->ctx, id);
	return rc;
}

/* ---- event queues ---- */

int viommu_ops_veventq_alloc(struct ufd_ucmd *ucmd)
{
	struct iommu_veventq_alloc *cmd = ucmd->cmd;
	const struct ufd_caller *caller = ucmd->caller;
	uint32_t id;
	int fd, rc;

	if (cmd->flags || cmd->__reserved ||
	    cmd->type == IOMMU_VEVENTQ_TYPE_DEFAULT)
		return -EOPNOTSUPP;
	if (!cmd->veventq_depth || cmd->veventq_depth > VEVENTQ_MAX_DEPTH)
		return -EINVAL;
	if (!caller->ops || !caller->ops->make_fd)
		return -EOPNOTSUPP;
	rc = ufd_veventq_alloc(ucmd->ctx, cmd->viommu_id, cmd->type,
			       cmd->veventq_depth, &id);
	if (rc)
		return rc;
	rc = ufd_veventq_hold_fd(ucmd->ctx, id);
	if (rc)
		goto out_destroy;
	fd = caller->ops->make_fd(caller, ucmd->ctx, UFD_FD_VEVENTQ, id);
	if (fd < 0) {
		rc = fd;
		ufd_veventq_release_fd(ucmd->ctx, id);
		goto out_destroy;
	}
	cmd->out_veventq_id = id;
	cmd->out_veventq_fd = (uint32_t)fd;
	rc = ucmd_respond(ucmd);
	if (!rc)
		return 0;
	caller->ops->unmake_fd(caller, fd);
	ufd_veventq_release_fd(ucmd->ctx, id);
out_destroy:
	ufd_destroy(ucmd->ctx, id);
	return rc;
}

long ufd_dispatch_veventq_read(struct ufd_ctx *ctx,
			       const struct ufd_caller *caller,
			       uint32_t veventq_id, uint64_t buf,
			       uint64_t count)
{
	size_t n = count < VEVENT_READ_MAX ? count : VEVENT_READ_MAX;
	void *tmp;
	long ret;
	int rc;

	if (count < sizeof(struct iommufd_vevent_header))
		return -EINVAL;
	tmp = calloc(1, n);
	if (!tmp)
		return -ENOMEM;
	/* Make sure the answer can be written before events leave. */
	rc = copy_to_caller(caller, buf, tmp, n);
	if (rc) {
		free(tmp);
		return rc;
	}
	ret = ufd_veventq_read(ctx, veventq_id, tmp, n);
	if (ret > 0) {
		rc = copy_to_caller(caller, buf, tmp, (size_t)ret);
		if (rc)
			ret = rc;
	}
	free(tmp);
	return ret;
}

int viommu_ops_trigger_vevent(struct ufd_ucmd *ucmd)
{
	struct iommu_test_cmd *cmd = ucmd->cmd;
	struct iommu_viommu_event_selftest ev = { 0 };
	uint32_t viommu_id;
	uint64_t virt_id;
	int rc;

	if (ufd_obj_kind(ucmd->ctx, cmd->trigger_vevent.dev_id) !=
	    UFD_KIND_DEVICE)
		return -ENOENT;
	rc = ufd_device_viommu(ucmd->ctx, cmd->trigger_vevent.dev_id,
			       &viommu_id, &virt_id);
	if (rc || !virt_id)
		return -ENOENT;
	ev.virt_id = (uint32_t)virt_id;
	return ufd_viommu_report_event(ucmd->ctx, viommu_id,
				       IOMMU_VEVENTQ_TYPE_SELFTEST, &ev,
				       sizeof(ev));
}

/* ---- cache invalidation ---- */

int viommu_invalidate(struct ufd_ucmd *ucmd, struct iommu_hwpt_invalidate *cmd,
		      uint32_t *done)
{
	struct iommu_viommu_invalidate_selftest *reqs;
	uint32_t i, dev_id;
	int rc = 0;

	if (!mock_viommu_get(ucmd->ctx, cmd->hwpt_id))
		return -EOPNOTSUPP;
	if (cmd->data_type != IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST)
		return -EINVAL;
	if (!cmd->entry_num)
		return 0; /* only the type is checked */
	reqs = calloc(cmd->entry_num, sizeof(*reqs));
	if (!reqs)
		return -ENOMEM;
	/*
	 * The whole array is read before any of it is applied; entries of
	 * another size as copy_struct_from_user takes them (a shorter one
	 * zero-filled, a longer one's tail zero or -E2BIG).
	 */
	for (i = 0; i != cmd->entry_num && !rc; i++)
		rc = copy_user_data(ucmd->caller, &reqs[i], sizeof(reqs[i]), 0,
				    cmd->data_uptr +
					    (uint64_t)i * cmd->entry_len,
				    cmd->entry_len);
	for (i = 0; i != cmd->entry_num && !rc; i++) {
		struct iommu_viommu_invalidate_selftest *r = &reqs[i];

		if (r->flags & ~IOMMU_TEST_INVALIDATE_FLAG_ALL) {
			rc = -EOPNOTSUPP;
			break;
		}
		if (r->cache_id > MOCK_DEV_CACHE_ID_MAX) {
			rc = -EINVAL;
			break;
		}
		if (ufd_viommu_find_dev(ucmd->ctx, cmd->hwpt_id, r->vdev_id,
					&dev_id)) {
			rc = -EINVAL;
			break;
		}
		rc = mock_dev_cache_reset(ucmd->ctx, dev_id,
					  (r->flags &
					   IOMMU_TEST_INVALIDATE_FLAG_ALL) ?
						  UINT32_MAX :
						  r->cache_id,
					  0);
		if (rc) {
			rc = -EINVAL;
			break;
		}
		(*done)++;
	}
	free(reqs);
	return rc;
}

/* ---- mmap of the /dev/iommu fd ---- */

int viommu_file_mmap(struct ufd_ctx *ctx, uint64_t offset, uint64_t len,
		     int prot, struct ufd_file_mmap *out)
{
	uint32_t viommu_id;
	int rc;

	if (prot & 4 /* PROT_EXEC */)
		return -EPERM;
	if (len % 4096)
		return -EINVAL;
	rc = ufd_viommu_mmap_find(ctx, offset, len, &viommu_id);
	if (rc)
		return rc;
	out->region = viommu_id;
	out->region_off = 0;
	out->trapped = true;
	return 0;
}

int viommu_file_mmio(struct ufd_ctx *ctx, unsigned int region, uint64_t off,
		     unsigned int size, bool write, uint64_t *val)
{
	struct mock_viommu *mv = mock_viommu_get(ctx, region);
	unsigned char *p;

	if (!mv || !mv->page || off >= MOCK_VIOMMU_MMAP_LEN ||
	    MOCK_VIOMMU_MMAP_LEN - off < size || off % size)
		return -EIO;
	p = (unsigned char *)mv->page + off;
	switch (size) {
	case 1:
		if (write)
			__atomic_store_n(p, (uint8_t)*val, __ATOMIC_RELAXED);
		else
			*val = __atomic_load_n(p, __ATOMIC_RELAXED);
		break;
	case 2:
		if (write)
			__atomic_store_n((uint16_t *)p, (uint16_t)*val,
					 __ATOMIC_RELAXED);
		else
			*val = __atomic_load_n((uint16_t *)p,
					       __ATOMIC_RELAXED);
		break;
	case 4:
		if (write)
			__atomic_store_n((uint32_t *)p, (uint32_t)*val,
					 __ATOMIC_RELAXED);
		else
			*val = __atomic_load_n((uint32_t *)p,
					       __ATOMIC_RELAXED);
		break;
	default:
		if (write)
			__atomic_store_n((uint64_t *)p, *val, __ATOMIC_RELAXED);
		else
			*val = __atomic_load_n((uint64_t *)p,
					       __ATOMIC_RELAXED);
		break;
	}
	return 0;
}
