/* SPDX-License-Identifier: MIT */
/*
 * The mock IOMMU and mock devices of IOMMU_TEST_CMD, as the kernel's
 * selftest driver defines them: an aperture of [2^24, 2^31 - 1], an IO
 * page size of half a CPU page (2 KiB) and, for HUGE_IOVA devices, 1 MiB
 * IOPTEs as well; dirty tracking unless the device is NO_DIRTY; a PASID
 * width of 20 bits for PASID devices.  MOCK_DOMAIN binds such a device
 * under a destroyable handle and attaches it; MD_CHECK_MAP compares what
 * a domain translates to with the page the caller sees.  The PASID_* ops
 * attach HWPTs to a device's PASIDs (PASID 0 is the RID, as in the
 * kernel's test driver); the mock driver's set_dev_pasid fails every
 * second attach or replace of PASID 1024 with -ENOMEM (the first one
 * arms it, blocking disarms it) for the selftest's rollback checks.
 */
#include <stdlib.h>

#include <linux/iommufd.h>
#include "iommufd_test.h"

#include "uapi/ucmd.h"

#define MOCK_IO_PAGE (4096ULL / 2)
#define MOCK_IO_HUGE (512 * MOCK_IO_PAGE)
#define MOCK_CPU_PAGE 4096ULL

/*
 * What the mock driver keeps per device: the device's cache tags, which
 * vIOMMU device-cache invalidation resets and DEV_CHECK_CACHE reads.
 * Each tag is one aligned word, read and written atomically.
 */
struct mock_dev_state {
	uint32_t cache[MOCK_DEV_CACHE_NUM];
	bool pasid_1024_fake_error; /* under the engine lock (the hook's) */
};

/* The PASID the selftest makes the driver fail on (its rollback test). */
#define MOCK_PASID_FAKE_ERROR 1024

static int mock_set_dev_pasid(void *driver_data, uint32_t pasid,
			      uint32_t hwpt_id, uint32_t old_hwpt_id)
{
	struct mock_dev_state *st = driver_data;

	(void)old_hwpt_id;
	if (pasid != MOCK_PASID_FAKE_ERROR)
		return 0;
	if (!hwpt_id) {
		st->pasid_1024_fake_error = false;
	} else if (st->pasid_1024_fake_error) {
		st->pasid_1024_fake_error = false;
		return -ENOMEM;
	} else {
		st->pasid_1024_fake_error = true;
	}
	return 0;
}

static const struct ufd_device_ops mock_device_ops = {
	.set_dev_pasid = mock_set_dev_pasid,
};

static const struct iommu_test_hw_info mock_hw_info = {
	.flags = 0,
	.test_reg = IOMMU_HW_INFO_SELFTEST_REGVAL,
};

static int mock_device_info(const struct ufd_personality *kernel,
			    uint32_t dev_flags, struct ufd_device_info *info)
{
	uint32_t known = MOCK_FLAGS_DEVICE_NO_DIRTY | MOCK_FLAGS_DEVICE_PASID;

	if (kernel->mock_huge_iova_flag)
		known |= MOCK_FLAGS_DEVICE_HUGE_IOVA;
	if (dev_flags & ~known)
		return -EINVAL;
	*info = (struct ufd_device_info){
		.aperture_start = MOCK_APERTURE_START,
		.aperture_last = MOCK_APERTURE_LAST,
		.pgsize_bitmap = MOCK_IO_PAGE,
		.dirty_tracking = !(dev_flags & MOCK_FLAGS_DEVICE_NO_DIRTY),
		.max_pasid_log2 =
			(dev_flags & MOCK_FLAGS_DEVICE_PASID) ? MOCK_PASID_WIDTH : 0,
		.hw_info_type = IOMMU_HW_INFO_TYPE_SELFTEST,
		.hw_info = &mock_hw_info,
		.hw_info_len = sizeof(mock_hw_info),
		.driver_data_size = sizeof(struct mock_dev_state),
		.ops = &mock_device_ops,
	};
	if (dev_flags & MOCK_FLAGS_DEVICE_HUGE_IOVA)
		info->pgsize_bitmap |= MOCK_IO_HUGE;
	return 0;
}

static struct mock_dev_state *mock_dev_state(struct ufd_ctx *ctx,
					     uint32_t dev_id)
{
	struct ufd_hw_info info;
	void *data;

	/* Only the mock's own devices carry its state. */
	if (ufd_device_get_hw_info(ctx, dev_id, NULL, 0, &info) ||
	    info.type != IOMMU_HW_INFO_TYPE_SELFTEST ||
	    ufd_device_driver_data(ctx, dev_id, &data))
		return NULL;
	return data;
}

int mock_dev_cache_reset(struct ufd_ctx *ctx, uint32_t dev_id,
			 uint32_t cache_id, uint32_t value)
{
	struct mock_dev_state *st = mock_dev_state(ctx, dev_id);
	uint32_t i;

	if (!st)
		return -ENOENT;
	if (cache_id != UINT32_MAX && cache_id > MOCK_DEV_CACHE_ID_MAX)
		return -EINVAL;
	for (i = 0; i != MOCK_DEV_CACHE_NUM; i++)
		if (cache_id == UINT32_MAX || cache_id == i)
			__atomic_store_n(&st->cache[i], value,
					 __ATOMIC_RELAXED);
	return 0;
}

static int op_check_dev_cache(struct ufd_ucmd *ucmd,
			      struct iommu_test_cmd *cmd)
{
	uint32_t slot = cmd->check_dev_cache.id;
	struct mock_dev_state *st;

	if (slot > MOCK_DEV_CACHE_ID_MAX)
		return -EINVAL;
	st = mock_dev_state(ucmd->ctx, cmd->id);
	if (!st)
		return ufd_obj_kind(ucmd->ctx, cmd->id) == UFD_KIND_NONE ?
			       -ENOENT : -EINVAL;
	if (__atomic_load_n(&st->cache[slot], __ATOMIC_RELAXED) !=
	    cmd->check_dev_cache.cache)
		return -EINVAL;
	return 0;
}

static int op_mock_domain(struct ufd_ucmd *ucmd, struct iommu_test_cmd *cmd)
{
	struct ufd_device_info info;
	uint32_t stdev_id, dev_id, pt_id = cmd->id;
	uint32_t dev_flags = 0;
	int rc;

	if (cmd->op == IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS)
		dev_flags = cmd->mock_domain_flags.dev_flags;
	rc = mock_device_info(ufd_caller_kernel(ucmd->caller), dev_flags,
			      &info);
	if (rc)
		return rc;
	rc = ufd_stdev_create(ucmd->ctx, &info, &stdev_id, &dev_id);
	if (rc)
		return rc;
	mock_dev_cache_reset(ucmd->ctx, dev_id, UINT32_MAX,
			     IOMMU_TEST_DEV_CACHE_DEFAULT);
	rc = ufd_device_attach(ucmd->ctx, dev_id, &pt_id);
	if (rc)
		goto out_destroy;
	/* MOCK_DOMAIN and MOCK_DOMAIN_FLAGS share these three fields. */
	cmd->mock_domain.out_stdev_id = stdev_id;
	cmd->mock_domain.out_hwpt_id = pt_id;
	cmd->mock_domain.out_idev_id = dev_id;
	rc = ucmd_respond(ucmd);
	if (!rc)
		return 0;
out_destroy:
	ufd_destroy(ucmd->ctx, stdev_id);
	return rc;
}

static int op_mock_replace(struct ufd_ucmd *ucmd, struct iommu_test_cmd *cmd)
{
	uint32_t dev_id, pt_id = cmd->mock_domain_replace.pt_id;
	int rc;

	rc = ufd_stdev_device(ucmd->ctx, cmd->id, &dev_id);
	if (rc)
		return rc;
	rc = ufd_device_replace(ucmd->ctx, dev_id, &pt_id);
	if (rc)
		return rc;
	cmd->mock_domain_replace.pt_id = pt_id;
	return ucmd_respond(ucmd);
}

static int op_check_map(struct ufd_ucmd *ucmd, struct iommu_test_cmd *cmd)
{
	struct ufd_source *mem = ucmd->caller->mem;
	uint64_t iova = cmd->check_map.iova, length = cmd->check_map.length;
	uint64_t uptr = cmd->check_map.uptr, end;

	if (iova % MOCK_IO_PAGE || length % MOCK_IO_PAGE ||
	    uptr % MOCK_IO_PAGE || __builtin_add_overflow(uptr, length, &end))
		return -EINVAL;
	/* Only a paging HWPT has a page table to look at. */
	switch (ufd_obj_kind(ucmd->ctx, cmd->id)) {
	case UFD_KIND_HWPT_PAGING:
		break;
	case UFD_KIND_NONE:
		return -ENOENT;
	default:
		return -EINVAL;
	}
	for (; length; length -= MOCK_IO_PAGE, iova += MOCK_IO_PAGE,
		       uptr += MOCK_IO_PAGE) {
		uint64_t host, want, got;
		int rc;

		rc = mem->ops->page_ident(mem, uptr, &want);
		if (rc)
			return rc;
		if (ufd_hwpt_translate(ucmd->ctx, cmd->id, iova, &host, NULL,
				       NULL))
			return -EINVAL;
		if (host % MOCK_CPU_PAGE != uptr % MOCK_CPU_PAGE)
			return -EINVAL;
		/* Asked of the source that pinned it (a file map's). */
		rc = ufd_engine_host_ident(ufd_ctx_engine(ucmd->ctx), host,
					   &got);
		if (rc == -ENOENT)
			rc = mem->ops->host_ident(mem, (void *)(uintptr_t)host,
						  &got);
		if (rc || got != want)
			return -EINVAL;
	}
	return 0;
}

static int op_dirty(struct ufd_ucmd *ucmd, struct iommu_test_cmd *cmd)
{
	uint64_t page_size = cmd->dirty.page_size, length = cmd->dirty.length;
	uint64_t iova = cmd->dirty.iova, nbits, marked;
	uint8_t *bitmap;
	int rc;

	if (!page_size || !length || iova % page_size ||
	    length % page_size || !cmd->dirty.uptr)
		return -EINVAL;
	nbits = length / page_size;
	if (nbits > 16ULL * 1024 * 1024 * 8)
		return -EOVERFLOW;
	switch (ufd_obj_kind(ucmd->ctx, cmd->id)) {
	case UFD_KIND_HWPT_PAGING:
		break;
	case UFD_KIND_NONE:
		return -ENOENT;
	default:
		return -EINVAL;
	}
	bitmap = calloc(1, (nbits + 7) / 8);
	if (!bitmap)
		return -ENOMEM;
	rc = copy_from_caller(ucmd->caller, bitmap, cmd->dirty.uptr,
			      (nbits + 7) / 8);
	if (!rc)
		rc = ufd_hwpt_mark_dirty(ucmd->ctx, cmd->id, iova, page_size,
					 bitmap, nbits, &marked);
	free(bitmap);
	if (rc)
		return rc;
	cmd->dirty.out_nr_dirty = marked;
	return ucmd_respond(ucmd);
}

static int op_check_iotlb(struct ufd_ucmd *ucmd, struct iommu_test_cmd *cmd)
{
	uint32_t value;
	int rc;

	rc = mock_nested_iotlb(ucmd->ctx, cmd->id, cmd->check_iotlb.id,
			       &value);
	if (rc)
		return rc;
	return value == cmd->check_iotlb.iotlb ? 0 : -EINVAL;
}

static int op_trigger_iopf(struct ufd_ucmd *ucmd, struct iommu_test_cmd *cmd)
{
	struct ufd_pgfault f = {
		.flags = UFD_PGFAULT_LAST_PAGE,
		.pasid = cmd->trigger_iopf.pasid,
		.grpid = cmd->trigger_iopf.grpid,
		.perm = cmd->trigger_iopf.perm,
		.addr = cmd->trigger_iopf.addr,
	};
	struct ufd_hw_info info;
	int rc;

	rc = ufd_device_get_hw_info(ucmd->ctx, cmd->trigger_iopf.dev_id, NULL,
				    0, &info);
	if (rc)
		return rc;
	if (info.type != IOMMU_HW_INFO_TYPE_SELFTEST)
		return -EINVAL; /* not a mock device */
	if (f.pasid != 0)
		f.flags |= UFD_PGFAULT_PASID_VALID;
	/* A device with no fault queue behind it gets a failure response. */
	ufd_device_report_fault(ucmd->ctx, cmd->trigger_iopf.dev_id, &f);
	return 0;
}

/* PASID_ATTACH: the device's PASID (0: its RID) to a HWPT. */
static int op_pasid_attach(struct ufd_ucmd *ucmd, struct iommu_test_cmd *cmd)
{
	uint32_t dev_id, pasid = cmd->pasid_attach.pasid;
	uint32_t pt_id = cmd->pasid_attach.pt_id;
	int rc;

	rc = ufd_stdev_device(ucmd->ctx, cmd->id, &dev_id);
	if (rc)
		return rc;
	rc = pasid == UFD_NO_PASID ?
		     ufd_device_attach(ucmd->ctx, dev_id, &pt_id) :
		     ufd_device_pasid_attach(ucmd->ctx, dev_id, pasid, pt_id);
	if (rc)
		return rc;
	cmd->pasid_attach.pt_id = pt_id;
	rc = ucmd_respond(ucmd);
	if (rc) {
		if (pasid == UFD_NO_PASID)
			ufd_device_detach(ucmd->ctx, dev_id);
		else
			ufd_device_pasid_detach(ucmd->ctx, dev_id, pasid);
	}
	return rc;
}

static int op_pasid_replace(struct ufd_ucmd *ucmd,
			    struct iommu_test_cmd *cmd)
{
	uint32_t dev_id, pasid = cmd->pasid_replace.pasid;
	uint32_t pt_id = cmd->pasid_replace.pt_id;
	int rc;

	rc = ufd_stdev_device(ucmd->ctx, cmd->id, &dev_id);
	if (rc)
		return rc;
	if (pasid == UFD_NO_PASID)
		return ufd_device_replace(ucmd->ctx, dev_id, &pt_id);
	return ufd_device_pasid_replace(ucmd->ctx, dev_id, pasid, pt_id);
}

/* PASID_DETACH: nothing attached is no error (the kernel's is void). */
static int op_pasid_detach(struct ufd_ucmd *ucmd, struct iommu_test_cmd *cmd)
{
	uint32_t dev_id, pasid = cmd->pasid_detach.pasid;
	int rc;

	rc = ufd_stdev_device(ucmd->ctx, cmd->id, &dev_id);
	if (rc)
		return rc;
	if (pasid == UFD_NO_PASID) {
		ufd_device_detach(ucmd->ctx, dev_id);
		return 0;
	}
	return ufd_device_pasid_detach(ucmd->ctx, dev_id, pasid);
}

/* PASID_CHECK_HWPT: is the PASID on hwpt_id (0: on nothing)? */
static int op_pasid_check(struct ufd_ucmd *ucmd, struct iommu_test_cmd *cmd)
{
	uint32_t dev_id, cur, want = cmd->pasid_check.hwpt_id;
	int rc;

	rc = ufd_stdev_device(ucmd->ctx, cmd->id, &dev_id);
	if (rc)
		return rc;
	rc = ufd_device_pasid_hwpt(ucmd->ctx, dev_id, cmd->pasid_check.pasid,
				   &cur);
	if (rc)
		return rc;
	if (!want)
		return cur ? -EINVAL : 0;
	switch (ufd_obj_kind(ucmd->ctx, want)) {
	case UFD_KIND_HWPT_PAGING:
	case UFD_KIND_HWPT_NESTED:
		break;
	case UFD_KIND_NONE:
		return -ENOENT;
	default:
		return -EINVAL;
	}
	return cur == want ? 0 : -EINVAL;
}

int test_ops_device(struct ufd_ucmd *ucmd)
{
	struct iommu_test_cmd *cmd = ucmd->cmd;

	switch (cmd->op) {
	case IOMMU_TEST_OP_MOCK_DOMAIN:
	case IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS:
		return op_mock_domain(ucmd, cmd);
	case IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE:
		return op_mock_replace(ucmd, cmd);
	case IOMMU_TEST_OP_MD_CHECK_MAP:
		return op_check_map(ucmd, cmd);
	case IOMMU_TEST_OP_DIRTY:
		return op_dirty(ucmd, cmd);
	case IOMMU_TEST_OP_MD_CHECK_IOTLB:
		return op_check_iotlb(ucmd, cmd);
	case IOMMU_TEST_OP_TRIGGER_IOPF:
		return op_trigger_iopf(ucmd, cmd);
	case IOMMU_TEST_OP_DEV_CHECK_CACHE:
		return op_check_dev_cache(ucmd, cmd);
	case IOMMU_TEST_OP_PASID_ATTACH:
		return op_pasid_attach(ucmd, cmd);
	case IOMMU_TEST_OP_PASID_REPLACE:
		return op_pasid_replace(ucmd, cmd);
	case IOMMU_TEST_OP_PASID_DETACH:
		return op_pasid_detach(ucmd, cmd);
	case IOMMU_TEST_OP_PASID_CHECK_HWPT:
		return op_pasid_check(ucmd, cmd);
	default:
		/* Nested domains, dirty bits and faults: issue 4. */
		return -EOPNOTSUPP;
	}
}
