/* SPDX-License-Identifier: MIT */
/*
 * The kernel personalities (uiommufd-run --kernel=6.12|7.3), through
 * open() and ioctl() only: what the program sees is what that kernel
 * shows.  The personality under test is the one the launcher exports in
 * UIOMMUFD_KERNEL (none, as when linked to the shim directly: the newest).
 * `make check` runs this under both.  Written from the two kernels' uAPI
 * headers and what their selftests check:
 *   - the commands added after 6.12 answer ENOTTY under 6.12, whatever the
 *     size; under 7.3 they are known (a zeroed struct of the right size is
 *     never ENOTTY);
 *   - the test operations added after 6.12 answer EOPNOTSUPP under 6.12;
 *   - MOCK_FLAGS_DEVICE_HUGE_IOVA exists in 6.12 only;
 *   - HWPT_INVALIDATE naming a paging HWPT: 6.12 ENOENT, 7.3 EINVAL;
 *   - a paging HWPT with selftest data (the iommupt format): 7.3 only.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/iommufd.h>
#include "iommufd_test.h"

#include "../unit/harness.h"

static int fd;
static bool is_6_12;

struct later_cmd {
	const char *name;
	unsigned long nr;
	size_t size;
};

#define LATER(c, s) { #c, c, sizeof(struct s) }

/* Commands the 7.3 header has and the 6.12 one has not. */
static const struct later_cmd later[] = {
	LATER(IOMMU_IOAS_MAP_FILE, iommu_ioas_map_file),
	LATER(IOMMU_VIOMMU_ALLOC, iommu_viommu_alloc),
	LATER(IOMMU_VDEVICE_ALLOC, iommu_vdevice_alloc),
	LATER(IOMMU_IOAS_CHANGE_PROCESS, iommu_ioas_change_process),
	LATER(IOMMU_VEVENTQ_ALLOC, iommu_veventq_alloc),
	LATER(IOMMU_HW_QUEUE_ALLOC, iommu_hw_queue_alloc),
};

static int test_cmd(struct iommu_test_cmd *cmd)
{
	cmd->size = sizeof(*cmd);
	return ioctl(fd, IOMMU_TEST_CMD, cmd) ? -errno : 0;
}

static uint32_t ioas_alloc(void)
{
	struct iommu_ioas_alloc a = { .size = sizeof(a) };

	if (ioctl(fd, IOMMU_IOAS_ALLOC, &a))
		return 0;
	return a.out_ioas_id;
}

/* A mock device with @flags on a new IOAS: its stdev, device and HWPT. */
static int mock_domain(uint32_t flags, uint32_t *stdev, uint32_t *dev,
		       uint32_t *hwpt)
{
	struct iommu_test_cmd c = {
		.op = IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS,
		.id = ioas_alloc(),
		.mock_domain_flags = { .dev_flags = flags },
	};
	int rc = test_cmd(&c);

	if (rc)
		return rc;
	*stdev = c.mock_domain_flags.out_stdev_id;
	*dev = c.mock_domain_flags.out_idev_id;
	*hwpt = c.mock_domain_flags.out_hwpt_id;
	return 0;
}

static void later_commands(void)
{
	uint8_t buf[256];
	size_t i;

	for (i = 0; i != sizeof(later) / sizeof(later[0]); i++) {
		uint32_t sizes[] = { 4, (uint32_t)later[i].size, 200 };
		size_t k;

		for (k = 0; k != 3; k++) {
			int rc;

			memset(buf, 0, sizeof(buf));
			memcpy(buf, &sizes[k], sizeof(sizes[k]));
			rc = ioctl(fd, later[i].nr, buf) ? errno : 0;
			if (is_6_12) {
				if (rc != ENOTTY)
					fprintf(stderr, "%s size %u: %d\n",
						later[i].name, sizes[k], rc);
				CHECK_EQ(rc, ENOTTY);
			} else if (k == 1) {
				if (rc == ENOTTY)
					fprintf(stderr, "%s: ENOTTY\n",
						later[i].name);
				CHECK(rc != ENOTTY);
			}
		}
	}
}

static void later_test_ops(void)
{
	uint32_t stdev, dev, hwpt;
	struct iommu_test_cmd c = {
		.op = IOMMU_TEST_OP_DEV_CHECK_CACHE,
	};

	REQUIRE(mock_domain(0, &stdev, &dev, &hwpt) == 0);
	c.id = dev;
	c.check_dev_cache.id = 0;
	c.check_dev_cache.cache = IOMMU_TEST_DEV_CACHE_DEFAULT;
	CHECK_EQ(test_cmd(&c), is_6_12 ? -EOPNOTSUPP : 0);
	/* A tag that is not there is EINVAL (7.3), not known at all (6.12). */
	c.check_dev_cache.id = MOCK_DEV_CACHE_ID_MAX + 1;
	CHECK_EQ(test_cmd(&c), is_6_12 ? -EOPNOTSUPP : -EINVAL);
	c.check_dev_cache.id = 0;
	c.check_dev_cache.cache = IOMMU_TEST_DEV_CACHE_DEFAULT + 1;
	CHECK_EQ(test_cmd(&c), is_6_12 ? -EOPNOTSUPP : -EINVAL);
	c.op = IOMMU_TEST_OP_TRIGGER_VEVENT;
	c.trigger_vevent.dev_id = dev;
	if (is_6_12)
		CHECK_EQ(test_cmd(&c), -EOPNOTSUPP);
}

static void huge_iova_flag(void)
{
	uint32_t stdev, dev, hwpt;
	int rc = mock_domain(MOCK_FLAGS_DEVICE_HUGE_IOVA, &stdev, &dev, &hwpt);

	CHECK_EQ(rc, is_6_12 ? 0 : -EINVAL);
}

static void invalidate_paging(void)
{
	struct iommu_hwpt_invalidate inv = { .size = sizeof(inv) };
	uint32_t stdev, dev, hwpt;
	int rc;

	REQUIRE(mock_domain(0, &stdev, &dev, &hwpt) == 0);
	inv.hwpt_id = hwpt;
	rc = ioctl(fd, IOMMU_HWPT_INVALIDATE, &inv) ? errno : 0;
	CHECK_EQ(rc, is_6_12 ? ENOENT : EINVAL);
	/* An ID that names nothing is ENOENT in both. */
	inv.hwpt_id = 0xfffff;
	rc = ioctl(fd, IOMMU_HWPT_INVALIDATE, &inv) ? errno : 0;
	CHECK_EQ(rc, ENOENT);
}

static void iommupt_paging(void)
{
	struct iommu_hwpt_selftest data = {
		.pagetable_type = MOCK_IOMMUPT_HUGE,
	};
	struct iommu_hwpt_alloc a = {
		.size = sizeof(a),
		.data_type = IOMMU_HWPT_DATA_SELFTEST,
		.data_len = sizeof(data),
		.data_uptr = (uintptr_t)&data,
	};
	uint32_t stdev, dev, hwpt;
	int rc;

	REQUIRE(mock_domain(0, &stdev, &dev, &hwpt) == 0);
	a.dev_id = dev;
	a.pt_id = ioas_alloc();
	rc = ioctl(fd, IOMMU_HWPT_ALLOC, &a) ? errno : 0;
	CHECK_EQ(rc, is_6_12 ? EOPNOTSUPP : 0);
	/* A format the mock does not have. */
	data.pagetable_type = 7;
	rc = ioctl(fd, IOMMU_HWPT_ALLOC, &a) ? errno : 0;
	CHECK_EQ(rc, is_6_12 ? EOPNOTSUPP : EINVAL);
}

int main(void)
{
	const char *k = getenv("UIOMMUFD_KERNEL");

	is_6_12 = k && !strcmp(k, "6.12");
	fprintf(stderr, "personality: %s\n", is_6_12 ? "6.12" : "7.3");
	fd = open("/dev/iommu", O_RDWR);
	if (fd < 0) {
		perror("/dev/iommu");
		return 1;
	}
	RUN(later_commands);
	RUN(later_test_ops);
	RUN(huge_iova_flag);
	RUN(invalidate_paging);
	RUN(iommupt_paging);
	close(fd);
	HARNESS_EXIT();
}
