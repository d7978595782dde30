/* SPDX-License-Identifier: MIT */
/*
 * PASIDs through open() and ioctl() only: IOMMU_HWPT_ALLOC_PASID and the
 * selftest's PASID_ATTACH / REPLACE / DETACH / CHECK_HWPT operations on
 * mock devices, written from the uAPI comments and what the kernel's
 * selftest expects of them: the errnos of each rule, that an attached
 * PASID holds its HWPT against IOMMU_DESTROY (EBUSY) until it is
 * detached, replaced or its device destroyed, and the mock driver's
 * PASID 1024, whose second attach or replace fails with ENOMEM and
 * leaves the first in place.  Built twice: linked to the shim, and run
 * under the launcher (the newest kernel's personality).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/iommufd.h>
#include "iommufd_test.h"

#include "../unit/harness.h"

static int fd = -1;

static int ioas_alloc(uint32_t *id)
{
	struct iommu_ioas_alloc c = { .size = sizeof(c) };

	if (ioctl(fd, IOMMU_IOAS_ALLOC, &c))
		return -errno;
	*id = c.out_ioas_id;
	return 0;
}

static int destroy(uint32_t id)
{
	struct iommu_destroy c = { .size = sizeof(c), .id = id };

	return ioctl(fd, IOMMU_DESTROY, &c) ? -errno : 0;
}

static int mock_device(uint32_t pt, uint32_t dev_flags, uint32_t *stdev,
		       uint32_t *idev)
{
	struct iommu_test_cmd c = {
		.size = sizeof(c),
		.op = IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS,
		.id = pt,
		.mock_domain_flags = { .dev_flags = dev_flags },
	};

	if (ioctl(fd, IOMMU_TEST_CMD, &c))
		return -errno;
	*stdev = c.mock_domain_flags.out_stdev_id;
	*idev = c.mock_domain_flags.out_idev_id;
	return 0;
}

static int mock_replace(uint32_t stdev, uint32_t pt)
{
	struct iommu_test_cmd c = {
		.size = sizeof(c),
		.op = IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE,
		.id = stdev,
		.mock_domain_replace = { .pt_id = pt },
	};

	return ioctl(fd, IOMMU_TEST_CMD, &c) ? -errno : 0;
}

static int hwpt_alloc(uint32_t idev, uint32_t pt, uint32_t flags,
		      uint32_t *id)
{
	struct iommu_hwpt_alloc c = {
		.size = sizeof(c), .flags = flags, .dev_id = idev, .pt_id = pt,
	};

	if (ioctl(fd, IOMMU_HWPT_ALLOC, &c))
		return -errno;
	*id = c.out_hwpt_id;
	return 0;
}

static int nested_alloc(uint32_t idev, uint32_t parent, uint32_t flags,
			uint32_t *id)
{
	struct iommu_hwpt_selftest data = { .iotlb = IOMMU_TEST_IOTLB_DEFAULT };
	struct iommu_hwpt_alloc c = {
		.size = sizeof(c), .flags = flags, .dev_id = idev,
		.pt_id = parent, .data_type = IOMMU_HWPT_DATA_SELFTEST,
		.data_len = sizeof(data), .data_uptr = (uintptr_t)&data,
	};

	if (ioctl(fd, IOMMU_HWPT_ALLOC, &c))
		return -errno;
	*id = c.out_hwpt_id;
	return 0;
}

/* PASID_ATTACH, _REPLACE or _DETACH (their arguments share a layout). */
static int pasid_op(uint32_t op, uint32_t stdev, uint32_t pasid, uint32_t pt)
{
	struct iommu_test_cmd c = {
		.size = sizeof(c), .op = op, .id = stdev,
	};

	switch (op) {
	case IOMMU_TEST_OP_PASID_ATTACH:
		c.pasid_attach.pasid = pasid;
		c.pasid_attach.pt_id = pt;
		break;
	case IOMMU_TEST_OP_PASID_REPLACE:
		c.pasid_replace.pasid = pasid;
		c.pasid_replace.pt_id = pt;
		break;
	default:
		c.pasid_detach.pasid = pasid;
		break;
	}
	return ioctl(fd, IOMMU_TEST_CMD, &c) ? -errno : 0;
}

static int attach(uint32_t stdev, uint32_t pasid, uint32_t pt)
{
	return pasid_op(IOMMU_TEST_OP_PASID_ATTACH, stdev, pasid, pt);
}

static int replace(uint32_t stdev, uint32_t pasid, uint32_t pt)
{
	return pasid_op(IOMMU_TEST_OP_PASID_REPLACE, stdev, pasid, pt);
}

static int detach(uint32_t stdev, uint32_t pasid)
{
	return pasid_op(IOMMU_TEST_OP_PASID_DETACH, stdev, pasid, 0);
}

static int check(uint32_t stdev, uint32_t pasid, uint32_t hwpt)
{
	struct iommu_test_cmd c = {
		.size = sizeof(c),
		.op = IOMMU_TEST_OP_PASID_CHECK_HWPT,
		.id = stdev,
		.pasid_check = { .pasid = pasid, .hwpt_id = hwpt },
	};

	return ioctl(fd, IOMMU_TEST_CMD, &c) ? -errno : 0;
}

static void test_alloc_flags(void)
{
	uint32_t ioas, stdev, idev, hwpt, parent, nested;

	REQUIRE(ioas_alloc(&ioas) == 0);
	REQUIRE(mock_device(ioas, MOCK_FLAGS_DEVICE_PASID, &stdev, &idev) ==
		0);
	/* Any device, paging or nested; an unknown flag beside it is not. */
	CHECK_EQ(hwpt_alloc(idev, ioas, IOMMU_HWPT_ALLOC_PASID, &hwpt), 0);
	CHECK_EQ(destroy(hwpt), 0);
	CHECK_EQ(hwpt_alloc(idev, ioas, IOMMU_HWPT_ALLOC_PASID | (1u << 31),
			    &hwpt),
		 -EOPNOTSUPP);
	REQUIRE(hwpt_alloc(idev, ioas,
			   IOMMU_HWPT_ALLOC_NEST_PARENT |
				   IOMMU_HWPT_ALLOC_PASID,
			   &parent) == 0);
	CHECK_EQ(nested_alloc(idev, parent, IOMMU_HWPT_ALLOC_PASID, &nested),
		 0);
	CHECK_EQ(nested_alloc(idev, parent,
			      IOMMU_HWPT_ALLOC_PASID |
				      IOMMU_HWPT_ALLOC_NEST_PARENT,
			      &hwpt),
		 -EOPNOTSUPP);
	CHECK_EQ(destroy(nested), 0);
	CHECK_EQ(destroy(parent), 0);
	CHECK_EQ(destroy(stdev), 0);
	CHECK_EQ(destroy(ioas), 0);
}

static void test_ops_and_lifetimes(void)
{
	uint32_t ioas, stdev, idev, plain, plain_idev, s2, s2b, legacy;

	REQUIRE(ioas_alloc(&ioas) == 0);
	REQUIRE(mock_device(ioas, MOCK_FLAGS_DEVICE_PASID, &stdev, &idev) ==
		0);
	REQUIRE(mock_device(ioas, 0, &plain, &plain_idev) == 0);
	REQUIRE(hwpt_alloc(idev, ioas, IOMMU_HWPT_ALLOC_PASID, &s2) == 0);
	REQUIRE(hwpt_alloc(idev, ioas, IOMMU_HWPT_ALLOC_PASID, &s2b) == 0);
	REQUIRE(hwpt_alloc(idev, ioas, 0, &legacy) == 0);

	/* The device is named by its stdev handle. */
	CHECK_EQ(attach(idev, 100, s2), -ENOENT);
	CHECK_EQ(attach(UINT32_MAX, 100, s2), -ENOENT);
	CHECK_EQ(check(UINT32_MAX, 100, 0), -ENOENT);
	CHECK_EQ(detach(UINT32_MAX, 100), -ENOENT);
	/* Detaching what is not attached is fine. */
	CHECK_EQ(detach(stdev, 100), 0);

	/* The RID is on an automatic HWPT, not PASID-compatible. */
	CHECK_EQ(attach(stdev, 100, s2), -EINVAL);
	CHECK_EQ(mock_replace(stdev, s2), 0);
	CHECK_EQ(attach(stdev, 100, ioas), -EINVAL);
	CHECK_EQ(attach(stdev, 100, legacy), -EINVAL);
	CHECK_EQ(attach(stdev, 100, UINT32_MAX), -ENOENT);
	CHECK_EQ(check(stdev, 100, 0), 0);
	CHECK_EQ(attach(plain, 100, s2), -EINVAL); /* no PASID on it */

	CHECK_EQ(attach(stdev, 100, s2), 0);
	CHECK_EQ(check(stdev, 100, s2), 0);
	CHECK_EQ(check(stdev, 100, 0), -EINVAL);
	CHECK_EQ(check(stdev, 100, s2b), -EINVAL);
	CHECK_EQ(check(stdev, 100, UINT32_MAX), -ENOENT);
	CHECK_EQ(attach(stdev, 100, s2b), -EBUSY);
	CHECK_EQ(attach(stdev, 100, s2), -EBUSY);
	/* The RID cannot go to a HWPT that serves no PASID now. */
	CHECK_EQ(mock_replace(stdev, legacy), -EINVAL);
	CHECK_EQ(mock_replace(stdev, ioas), -EINVAL);
	/* The attachment holds its HWPT. */
	CHECK_EQ(destroy(s2), -EBUSY);
	CHECK_EQ(replace(stdev, 200, s2b), -EINVAL); /* 200: not attached */
	CHECK_EQ(replace(stdev, 100, ioas), -EINVAL);
	CHECK_EQ(replace(stdev, 100, s2b), 0);
	CHECK_EQ(check(stdev, 100, s2b), 0);
	CHECK_EQ(destroy(s2b), -EBUSY);
	CHECK_EQ(detach(stdev, 100), 0);
	CHECK_EQ(check(stdev, 100, 0), 0);
	CHECK_EQ(destroy(s2b), 0);

	/* PASID 1024: the mock driver fails the second set with ENOMEM. */
	REQUIRE(hwpt_alloc(idev, ioas, IOMMU_HWPT_ALLOC_PASID, &s2b) == 0);
	CHECK_EQ(attach(stdev, 1024, s2b), 0);
	CHECK_EQ(replace(stdev, 1024, s2b), 0); /* the same: no driver call */
	CHECK_EQ(replace(stdev, 1024, s2), -ENOMEM);
	CHECK_EQ(check(stdev, 1024, s2b), 0);
	CHECK_EQ(replace(stdev, 1024, s2), 0); /* the third succeeds */
	CHECK_EQ(check(stdev, 1024, s2), 0);
	CHECK_EQ(destroy(s2b), 0);
	CHECK_EQ(detach(stdev, 1024), 0);
	/* Detaching disarms it: attach and one replace work again. */
	REQUIRE(hwpt_alloc(idev, ioas, IOMMU_HWPT_ALLOC_PASID, &s2b) == 0);
	CHECK_EQ(attach(stdev, 1024, s2), 0);
	CHECK_EQ(detach(stdev, 1024), 0);
	CHECK_EQ(attach(stdev, 1024, s2), 0);
	CHECK_EQ(replace(stdev, 1024, s2b), -ENOMEM);
	CHECK_EQ(detach(stdev, 1024), 0);

	/* Destroying the device drops its PASIDs and so its holds. */
	CHECK_EQ(attach(stdev, 7, s2b), 0);
	CHECK_EQ(destroy(s2b), -EBUSY);
	CHECK_EQ(destroy(stdev), 0);
	CHECK_EQ(destroy(s2b), 0);
	CHECK_EQ(destroy(s2), 0);
	CHECK_EQ(destroy(legacy), 0);
	CHECK_EQ(destroy(plain), 0);
	CHECK_EQ(destroy(ioas), 0);
}

static void test_close_with_pasids(void)
{
	uint32_t ioas, stdev, idev, s2;
	int fd2 = open("/dev/iommu", O_RDWR), saved = fd;

	REQUIRE(fd2 >= 0);
	fd = fd2;
	CHECK_EQ(ioas_alloc(&ioas), 0);
	CHECK_EQ(mock_device(ioas, MOCK_FLAGS_DEVICE_PASID, &stdev, &idev), 0);
	CHECK_EQ(hwpt_alloc(idev, ioas, IOMMU_HWPT_ALLOC_PASID, &s2), 0);
	CHECK_EQ(mock_replace(stdev, s2), 0);
	CHECK_EQ(attach(stdev, 5, s2), 0);
	CHECK_EQ(attach(stdev, 6, s2), 0);
	fd = saved;
	CHECK_EQ(close(fd2), 0); /* everything goes, holders first */
}

int main(void)
{
	fd = open("/dev/iommu", O_RDWR);
	if (fd < 0)
		return 77;
	RUN(test_alloc_flags);
	RUN(test_ops_and_lifetimes);
	RUN(test_close_with_pasids);
	close(fd);
	HARNESS_EXIT();
}
