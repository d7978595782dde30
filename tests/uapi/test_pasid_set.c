/* SPDX-License-Identifier: MIT */
/*
 * PASID sets with quotas through open() and ioctl() only
 * (<linux/iommufd_ext.h>): the query lists them; iommufd's size rules
 * (EINVAL short, E2BIG a non-zero tail) and flags (EOPNOTSUPP); range and
 * quota (EINVAL), the lowest free PASID, ENOSPC at the quota; the set's
 * info and its PASID list (EMSGSIZE); IOMMU_DESTROY of a set with PASIDs
 * is EBUSY; the set attach of a mock PASID device takes only the set's
 * PASIDs and an attached PASID is EBUSY to free; a reply that cannot be
 * written (EFAULT) leaves no set and no PASID behind; a fail-nth sweep
 * over the calls leaves the state unchanged.  Run linked, and under the
 * launcher in server and in-process mode; without the extensions every
 * command is ENOTTY and the test skips.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/iommufd.h>
#include <linux/iommufd_ext.h>
#include "iommufd_test.h"

#include "../unit/harness.h"

static int fd = -1;

static int set_alloc(uint32_t first, uint32_t last, uint32_t quota,
		     uint32_t *id)
{
	struct uiommufd_pasid_set_alloc c = {
		.size = sizeof(c), .first = first, .last = last, .quota = quota,
	};

	if (ioctl(fd, UIOMMUFD_PASID_SET_ALLOC, &c))
		return -errno;
	*id = c.out_set_id;
	return 0;
}

static int pasid_alloc(uint32_t set, uint32_t dev, uint32_t *pasid)
{
	struct uiommufd_pasid_alloc c = {
		.size = sizeof(c), .set_id = set, .dev_id = dev,
		.flags = dev ? UIOMMUFD_PASID_ALLOC_DEV_RANGE : 0,
	};

	if (ioctl(fd, UIOMMUFD_PASID_ALLOC, &c))
		return -errno;
	*pasid = c.out_pasid;
	return 0;
}

static int pasid_free(uint32_t set, uint32_t pasid)
{
	struct uiommufd_pasid_free c = {
		.size = sizeof(c), .set_id = set, .pasid = pasid,
	};

	return ioctl(fd, UIOMMUFD_PASID_FREE, &c) ? -errno : 0;
}

static int set_attach(uint32_t set, uint32_t dev, uint32_t pasid, uint32_t pt)
{
	struct uiommufd_pasid_set_attach c = {
		.size = sizeof(c), .set_id = set, .dev_id = dev,
		.pasid = pasid, .pt_id = pt,
	};

	return ioctl(fd, UIOMMUFD_PASID_SET_ATTACH, &c) ? -errno : 0;
}

/* The set's allocated count, or -errno (no room: EMSGSIZE with the count). */
static int set_count(uint32_t set)
{
	struct uiommufd_pasid_set_info c = { .size = sizeof(c), .set_id = set };

	if (ioctl(fd, UIOMMUFD_PASID_SET_INFO, &c) && errno != EMSGSIZE)
		return -errno;
	return (int)c.num_pasids;
}

static int destroy(uint32_t id)
{
	struct iommu_destroy c = { .size = sizeof(c), .id = id };

	return ioctl(fd, IOMMU_DESTROY, &c) ? -errno : 0;
}

static int ioas_alloc(uint32_t *id)
{
	struct iommu_ioas_alloc c = { .size = sizeof(c) };

	if (ioctl(fd, IOMMU_IOAS_ALLOC, &c))
		return -errno;
	*id = c.out_ioas_id;
	return 0;
}

static int mock_pasid_device(uint32_t pt, uint32_t *stdev, uint32_t *idev)
{
	struct iommu_test_cmd c = {
		.size = sizeof(c),
		.op = IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS,
		.id = pt,
		.mock_domain_flags = { .dev_flags = MOCK_FLAGS_DEVICE_PASID },
	};

	if (ioctl(fd, IOMMU_TEST_CMD, &c))
		return -errno;
	*stdev = c.mock_domain_flags.out_stdev_id;
	*idev = c.mock_domain_flags.out_idev_id;
	return 0;
}

static int hwpt_alloc_pasid(uint32_t idev, uint32_t pt, uint32_t *id)
{
	struct iommu_hwpt_alloc c = {
		.size = sizeof(c), .flags = IOMMU_HWPT_ALLOC_PASID,
		.dev_id = idev, .pt_id = pt,
	};

	if (ioctl(fd, IOMMU_HWPT_ALLOC, &c))
		return -errno;
	*id = c.out_hwpt_id;
	return 0;
}

static int mock_replace(uint32_t stdev, uint32_t pt)
{
	struct iommu_test_cmd c = {
		.size = sizeof(c), .op = IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE,
		.id = stdev, .mock_domain_replace = { .pt_id = pt },
	};

	return ioctl(fd, IOMMU_TEST_CMD, &c) ? -errno : 0;
}

static int test_pasid_detach(uint32_t stdev, uint32_t pasid)
{
	struct iommu_test_cmd c = {
		.size = sizeof(c), .op = IOMMU_TEST_OP_PASID_DETACH, .id = stdev,
		.pasid_detach = { .pasid = pasid },
	};

	return ioctl(fd, IOMMU_TEST_CMD, &c) ? -errno : 0;
}

static void test_query_lists(void)
{
	struct uiommufd_ext_info info[16];
	struct uiommufd_ext_query q = {
		.size = sizeof(q), .num_exts = 16, .entry_size = sizeof(info[0]),
		.exts = (uintptr_t)info,
	};
	bool set = false, attach = false;
	unsigned int i;

	REQUIRE(ioctl(fd, UIOMMUFD_EXT_QUERY, &q) == 0);
	for (i = 0; i != q.num_exts; i++) {
		if (info[i].id == UIOMMUFD_EXT_ID_PASID_SET) {
			set = true;
			CHECK_EQ(info[i].version, 1);
			CHECK_EQ(info[i].nr_cmds, 4);
			CHECK_EQ(info[i].cmds[0], UIOMMUFD_PASID_SET_ALLOC);
			CHECK_EQ(info[i].cmds[3], UIOMMUFD_PASID_SET_INFO);
			CHECK(!strcmp(info[i].name, "pasid-set"));
		}
		if (info[i].id == UIOMMUFD_EXT_ID_PASID_SET_ATTACH) {
			attach = true;
			CHECK_EQ(info[i].cmds[0], UIOMMUFD_PASID_SET_ATTACH);
		}
	}
	CHECK(set && attach);
}

static void test_size_and_flags(void)
{
	struct {
		struct uiommufd_pasid_set_alloc c;
		uint64_t tail;
	} big = { .c = { .size = sizeof(big), .first = 1, .last = 9,
			 .quota = 1 },
		  .tail = 1 };
	struct uiommufd_pasid_alloc a = { .size = sizeof(a) };
	uint32_t set, p;

	CHECK_EQ(ioctl(fd, UIOMMUFD_PASID_SET_ALLOC, &big), -1);
	CHECK_EQ(errno, E2BIG);
	big.tail = 0;
	CHECK_EQ(ioctl(fd, UIOMMUFD_PASID_SET_ALLOC, &big), 0);
	set = big.c.out_set_id;
	big.c.size = offsetof(struct uiommufd_pasid_set_alloc, out_set_id);
	CHECK_EQ(ioctl(fd, UIOMMUFD_PASID_SET_ALLOC, &big), -1);
	CHECK_EQ(errno, EINVAL);
	big.c.size = sizeof(big.c);
	big.c.flags = 1;
	CHECK_EQ(ioctl(fd, UIOMMUFD_PASID_SET_ALLOC, &big), -1);
	CHECK_EQ(errno, EOPNOTSUPP);

	a.set_id = set;
	a.flags = 2;
	CHECK_EQ(ioctl(fd, UIOMMUFD_PASID_ALLOC, &a), -1);
	CHECK_EQ(errno, EOPNOTSUPP);
	a.flags = 0;
	a.__reserved = 1;
	CHECK_EQ(ioctl(fd, UIOMMUFD_PASID_ALLOC, &a), -1);
	CHECK_EQ(errno, EOPNOTSUPP);
	a.__reserved = 0;
	a.dev_id = 1; /* a device without DEV_RANGE */
	CHECK_EQ(ioctl(fd, UIOMMUFD_PASID_ALLOC, &a), -1);
	CHECK_EQ(errno, EINVAL);
	CHECK_EQ(pasid_alloc(set, 0, &p), 0);
	CHECK_EQ(p, 1);
	CHECK_EQ(destroy(set), -EBUSY);
	CHECK_EQ(pasid_free(set, 1), 0);
	CHECK_EQ(destroy(set), 0);
	CHECK_EQ(set_count(set), -ENOENT);
}

static void test_quota(void)
{
	struct uiommufd_pasid_set_info info = { .size = sizeof(info) };
	uint32_t set = 0, p = 0, ids[2] = { 0 };

	CHECK_EQ(set_alloc(0, 5, 1, &set), -EINVAL);
	CHECK_EQ(set_alloc(6, 5, 1, &set), -EINVAL);
	CHECK_EQ(set_alloc(1, 1u << 20, 1, &set), -EINVAL);
	CHECK_EQ(set_alloc(1, 5, 0, &set), -EINVAL);
	REQUIRE(set_alloc(100, 200, 3, &set) == 0);
	CHECK_EQ(pasid_alloc(set + 1000, 0, &p), -ENOENT);
	CHECK_EQ(pasid_alloc(set, 0, &p), 0);
	CHECK_EQ(p, 100);
	CHECK_EQ(pasid_alloc(set, 0, &p), 0);
	CHECK_EQ(pasid_alloc(set, 0, &p), 0);
	CHECK_EQ(p, 102);
	CHECK_EQ(pasid_alloc(set, 0, &p), -ENOSPC);
	CHECK_EQ(pasid_free(set, 101), 0);
	CHECK_EQ(pasid_free(set, 101), -ENOENT);

	info.set_id = set;
	info.num_pasids = 1;
	info.pasids = (uintptr_t)ids;
	CHECK_EQ(ioctl(fd, UIOMMUFD_PASID_SET_INFO, &info), -1);
	CHECK_EQ(errno, EMSGSIZE);
	CHECK_EQ(info.num_pasids, 2);
	CHECK_EQ(ids[0], 100);
	CHECK_EQ(ids[1], 0);
	CHECK_EQ(ioctl(fd, UIOMMUFD_PASID_SET_INFO, &info), 0);
	CHECK_EQ(ids[1], 102);
	CHECK_EQ(info.out_first, 100);
	CHECK_EQ(info.out_last, 200);
	CHECK_EQ(info.out_quota, 3);
	CHECK(info.out_sys_allocated >= 2);
	CHECK(info.out_sys_capacity >= info.out_sys_allocated);
	CHECK_EQ(pasid_alloc(set, 0, &p), 0);
	CHECK_EQ(p, 101); /* the lowest free */
	CHECK_EQ(destroy(set), -EBUSY);
	CHECK_EQ(pasid_free(set, 100), 0);
	CHECK_EQ(pasid_free(set, 101), 0);
	CHECK_EQ(pasid_free(set, 102), 0);
	CHECK_EQ(destroy(set), 0);
}

static void test_attach(void)
{
	uint32_t ioas = 0, stdev = 0, idev = 0, s2 = 0, set = 0, p = 0, q = 0;

	REQUIRE(ioas_alloc(&ioas) == 0);
	REQUIRE(mock_pasid_device(ioas, &stdev, &idev) == 0);
	REQUIRE(hwpt_alloc_pasid(idev, ioas, &s2) == 0);
	/* The RID on a HWPT that serves PASIDs too, as the kernel wants. */
	REQUIRE(mock_replace(stdev, s2) == 0);
	REQUIRE(set_alloc(1, 50, 10, &set) == 0);
	CHECK_EQ(pasid_alloc(set, idev, &p), 0);
	CHECK_EQ(p, 1);
	CHECK_EQ(pasid_alloc(set, ioas, &q), -ENOENT); /* not a device */
	CHECK_EQ(pasid_alloc(set, idev, &q), 0);

	CHECK_EQ(set_attach(set, idev, 40, s2), -ENOENT); /* not allocated */
	CHECK_EQ(set_attach(set + 1000, idev, p, s2), -ENOENT);
	CHECK_EQ(set_attach(set, idev, p, ioas), -EINVAL);
	CHECK_EQ(set_attach(set, idev, p, s2), 0);
	CHECK_EQ(set_attach(set, idev, p, s2), -EBUSY);
	CHECK_EQ(pasid_free(set, p), -EBUSY);
	CHECK_EQ(destroy(set), -EBUSY);
	CHECK_EQ(test_pasid_detach(stdev, p), 0);
	CHECK_EQ(pasid_free(set, p), 0);
	CHECK_EQ(pasid_free(set, q), 0);
	CHECK_EQ(destroy(set), 0);
	CHECK_EQ(destroy(stdev), 0);
	CHECK_EQ(destroy(s2), 0);
	CHECK_EQ(destroy(ioas), 0);
}

/* A reply that cannot be written: the call undoes itself. */
static void test_efault_reply(void)
{
	long pg = sysconf(_SC_PAGESIZE);
	uint8_t *ro = mmap(NULL, pg, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct uiommufd_pasid_set_alloc *sa = (void *)ro;
	struct uiommufd_pasid_alloc *pa = (void *)(ro + 64);
	uint32_t set = 0, again = 0;

	REQUIRE(ro != MAP_FAILED);
	REQUIRE(set_alloc(1, 9, 4, &set) == 0);
	*sa = (struct uiommufd_pasid_set_alloc){
		.size = sizeof(*sa), .first = 1, .last = 9, .quota = 1,
	};
	*pa = (struct uiommufd_pasid_alloc){ .size = sizeof(*pa),
					      .set_id = set };
	REQUIRE(mprotect(ro, pg, PROT_READ) == 0);
	CHECK_EQ(ioctl(fd, UIOMMUFD_PASID_SET_ALLOC, sa), -1);
	CHECK_EQ(errno, EFAULT);
	CHECK_EQ(ioctl(fd, UIOMMUFD_PASID_ALLOC, pa), -1);
	CHECK_EQ(errno, EFAULT);
	CHECK_EQ(set_count(set), 0);
	/* The ID the failed set had is the next one handed out. */
	REQUIRE(set_alloc(1, 9, 4, &again) == 0);
	CHECK_EQ(again, set + 1);
	CHECK_EQ(set_count(again), 0);
	CHECK_EQ(destroy(again), 0);
	CHECK_EQ(destroy(set), 0);
	munmap(ro, pg);
}

static int nth_write(unsigned long n)
{
	char path[64], v[24];
	int f, len, rc;

	snprintf(path, sizeof(path), "/proc/self/task/%ld/fail-nth",
		 (long)syscall(SYS_gettid));
	f = open(path, O_WRONLY);
	if (f < 0)
		return -errno;
	len = snprintf(v, sizeof(v), "%lu", n);
	rc = write(f, v, len) == len ? 0 : -errno;
	close(f);
	return rc;
}

static void test_fail_nth(void)
{
	unsigned long nth;
	int failures = 0;

	for (nth = 1; nth < 50; nth++) {
		uint32_t set = 0, p = 0, i;
		int rc;

		if (nth_write(nth)) {
			fprintf(stderr, "no fail-nth file: sweep skipped\n");
			return;
		}
		rc = set_alloc(1, 99, 40, &set);
		for (i = 0; !rc && i != 12; i++)
			rc = pasid_alloc(set, 0, &p);
		nth_write(0);
		CHECK(rc == 0 || rc == -ENOMEM);
		if (set) {
			/* i PASIDs asked for, i - 1 granted if the last
			 * failed: exactly those are there. */
			int n = set_count(set);

			CHECK_EQ(n, rc ? (int)i - 1 : 12);
			while (n-- > 0)
				CHECK_EQ(pasid_free(set, (uint32_t)n + 1), 0);
			CHECK_EQ(destroy(set), 0);
		}
		if (rc == 0)
			break;
		failures++;
	}
	CHECK(failures >= 2);
	CHECK(nth < 50);
}

/*
 * Under uiommufd-run --pasid-capacity N: the sets' info shows N, and the
 * (N+1)-th PASID allocated from any set, system-wide, is ENOSPC even
 * within a set's quota; freeing one makes room again.
 */
static void test_capacity(void)
{
	unsigned int cap = (unsigned int)atoi(getenv("UIOMMUFD_PASID_CAPACITY"));
	struct uiommufd_pasid_set_info info = { .size = sizeof(info) };
	static uint32_t ids[1000];
	uint32_t a = 0, b = 0, p = 0;
	unsigned int i;

	info.pasids = (uintptr_t)ids;
	REQUIRE(set_alloc(1, 1000, 1000, &a) == 0);
	REQUIRE(set_alloc(2000, 3000, 1000, &b) == 0);
	info.set_id = a;
	info.num_pasids = 1000;
	CHECK_EQ(ioctl(fd, UIOMMUFD_PASID_SET_INFO, &info), 0);
	CHECK_EQ(info.out_sys_capacity, cap);
	CHECK_EQ(info.out_sys_allocated, 0);
	for (i = 0; i < cap; i++)
		CHECK_EQ(pasid_alloc(i & 1 ? b : a, 0, &p), 0);
	CHECK_EQ(pasid_alloc(a, 0, &p), -ENOSPC);
	CHECK_EQ(pasid_alloc(b, 0, &p), -ENOSPC);
	info.num_pasids = 1000;
	CHECK_EQ(ioctl(fd, UIOMMUFD_PASID_SET_INFO, &info), 0);
	CHECK_EQ(info.out_sys_allocated, cap);
	if (cap) {
		CHECK_EQ(pasid_free(a, 1), 0);
		CHECK_EQ(pasid_alloc(b, 0, &p), 0);
		CHECK_EQ(pasid_alloc(a, 0, &p), -ENOSPC);
	}
}

int main(void)
{
	struct uiommufd_ext_query q = { .size = sizeof(q) };

	fd = open("/dev/iommu", O_RDWR);
	if (fd < 0) {
		fprintf(stderr, "no /dev/iommu: skipped\n");
		return 77;
	}
	if (ioctl(fd, UIOMMUFD_EXT_QUERY, &q)) {
		fprintf(stderr, "no uiommufd extensions: skipped\n");
		return 77;
	}
	if (getenv("UIOMMUFD_PASID_CAPACITY")) {
		RUN(test_capacity);
		HARNESS_EXIT();
	}
	RUN(test_query_lists);
	RUN(test_size_and_flags);
	RUN(test_quota);
	RUN(test_attach);
	RUN(test_efault_reply);
	RUN(test_fail_nth);
	close(fd);
	HARNESS_EXIT();
}
