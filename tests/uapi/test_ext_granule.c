/* SPDX-License-Identifier: MIT */
/*
 * Maps with an unmap granule through /dev/iommu (UIOMMUFD_IOAS_MAP_GRANULE
 * of <linux/iommufd_ext.h>), written from uiommufd-extensions(7): the
 * query lists it; argument errors; on a mock domain with huge IO pages the
 * map uses them (UIOMMUFD_PAGE_SIZES), a plain IOMMU_IOAS_UNMAP of a
 * granule inside it succeeds, the superpage around it is split while the
 * rest still maps the same memory (IOMMU_TEST_OP_MD_CHECK_MAP) and the cut
 * pages lose their pin (MD_CHECK_REFS); plain maps still refuse partial
 * unmaps with ENOENT; cuts off the granule are EINVAL; the VFIO type1
 * compatibility VFIO_IOMMU_UNMAP_DMA on the same fd cuts the same way;
 * each call failed by fail-nth injection changes nothing.
 *
 * Built like every uapi test (linked to the shim, run under the launcher
 * in server and in-process modes).  With UIOMMUFD_NO_EXTENSIONS=1 the
 * command must be ENOTTY, as on a real kernel.
 *
 * Intervals: [iova, iova + length).
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
#include <linux/vfio.h>
#include "iommufd_test.h"

#include "../unit/harness.h"

#define PS 4096ULL
#define SZ_1M (1ULL << 20)
#define SZ_2M (2ULL << 20)
#define LEN (4 * SZ_1M)

static int fd;
static uint8_t *mem; /* LEN bytes, 2 MiB aligned */

static uint32_t ioas_alloc(void)
{
	struct iommu_ioas_alloc a = { .size = sizeof(a) };

	if (ioctl(fd, IOMMU_IOAS_ALLOC, &a))
		return 0;
	return a.out_ioas_id;
}

/*
 * A domain with huge IO pages (1 MiB) mirroring @ioas: a HWPT of format
 * MOCK_IOMMUPT_HUGE for a mock device (7.3), or a device with
 * MOCK_FLAGS_DEVICE_HUGE_IOVA attached (6.12).  Its ID, or 0.
 */
static uint32_t mock_huge(uint32_t ioas)
{
	struct iommu_test_cmd c = { .size = sizeof(c),
				    .op = IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS,
				    .id = ioas };
	struct iommu_hwpt_selftest data = {
		.pagetable_type = MOCK_IOMMUPT_HUGE,
	};
	struct iommu_hwpt_alloc a = {
		.size = sizeof(a),
		.pt_id = ioas,
		.data_type = IOMMU_HWPT_DATA_SELFTEST,
		.data_len = sizeof(data),
		.data_uptr = (uintptr_t)&data,
	};
	uint32_t scratch;

	c.mock_domain_flags.dev_flags = MOCK_FLAGS_DEVICE_HUGE_IOVA;
	if (!ioctl(fd, IOMMU_TEST_CMD, &c))
		return c.mock_domain_flags.out_hwpt_id;
	/* A device from a scratch IOAS, its HWPT of the huge format here. */
	scratch = ioas_alloc();
	c.op = IOMMU_TEST_OP_MOCK_DOMAIN;
	c.id = scratch;
	if (!scratch || ioctl(fd, IOMMU_TEST_CMD, &c))
		return 0;
	a.dev_id = c.mock_domain.out_idev_id;
	if (ioctl(fd, IOMMU_HWPT_ALLOC, &a))
		return 0;
	return a.out_hwpt_id;
}

static int map_granule(uint32_t ioas, uint64_t *iova, void *va, uint64_t len,
		       uint32_t flags, uint64_t granule)
{
	struct uiommufd_ioas_map_granule m = {
		.size = sizeof(m),
		.flags = flags | IOMMU_IOAS_MAP_READABLE |
			 IOMMU_IOAS_MAP_WRITEABLE,
		.ioas_id = ioas,
		.user_va = (uintptr_t)va,
		.length = len,
		.iova = *iova,
		.granule = granule,
	};
	int rc = ioctl(fd, UIOMMUFD_IOAS_MAP_GRANULE, &m);

	if (!rc)
		*iova = m.iova;
	return rc ? -errno : 0;
}

static int map_plain(uint32_t ioas, uint64_t iova, void *va, uint64_t len)
{
	struct iommu_ioas_map m = { .size = sizeof(m),
				    .flags = IOMMU_IOAS_MAP_FIXED_IOVA |
					     IOMMU_IOAS_MAP_READABLE,
				    .ioas_id = ioas,
				    .user_va = (uintptr_t)va,
				    .length = len,
				    .iova = iova };

	return ioctl(fd, IOMMU_IOAS_MAP, &m) ? -errno : 0;
}

/* IOMMU_IOAS_UNMAP: 0 and *done the bytes, or -errno. */
static int unmap(uint32_t ioas, uint64_t iova, uint64_t len, uint64_t *done)
{
	struct iommu_ioas_unmap u = { .size = sizeof(u),
				      .ioas_id = ioas,
				      .iova = iova,
				      .length = len };

	if (ioctl(fd, IOMMU_IOAS_UNMAP, &u))
		return -errno;
	if (done)
		*done = u.length;
	return 0;
}

/* Does paging HWPT @hwpt map [iova, iova + len) to @va? */
static bool maps(uint32_t hwpt, uint64_t iova, uint64_t len, void *va)
{
	struct iommu_test_cmd c = { .size = sizeof(c),
				    .op = IOMMU_TEST_OP_MD_CHECK_MAP,
				    .id = hwpt };

	c.check_map.iova = iova;
	c.check_map.length = len;
	c.check_map.uptr = (uintptr_t)va;
	return ioctl(fd, IOMMU_TEST_CMD, &c) == 0;
}

/* The pin count of the pages of [p, p + len) (all equal), or -1. */
static int refs(void *p, uint64_t len)
{
	struct iommu_test_cmd c = { .size = sizeof(c),
				    .op = IOMMU_TEST_OP_MD_CHECK_REFS };
	unsigned int r;

	c.check_refs.uptr = (uintptr_t)p;
	c.check_refs.length = len;
	for (r = 0; r != 4; r++) {
		c.check_refs.refs = r;
		if (!ioctl(fd, IOMMU_TEST_CMD, &c))
			return (int)r;
	}
	return -1;
}

/* UIOMMUFD_PAGE_SIZES of [iova, iova + len): the number of runs. */
static int page_runs(uint32_t ioas, uint64_t iova, uint64_t len,
		     struct uiommufd_page_run *runs, uint32_t max)
{
	struct uiommufd_page_sizes q = { .size = sizeof(q),
					 .pt_id = ioas,
					 .iova = iova,
					 .length = len,
					 .num_runs = max,
					 .runs = (uintptr_t)runs };

	if (ioctl(fd, UIOMMUFD_PAGE_SIZES, &q))
		return -errno;
	return (int)q.num_runs;
}

static void test_query(void)
{
	struct uiommufd_ext_info info[16];
	struct uiommufd_ext_query q = { .size = sizeof(q),
					.num_exts = 16,
					.entry_size = sizeof(info[0]),
					.exts = (uintptr_t)info };
	bool found = false;
	unsigned int i;

	REQUIRE(ioctl(fd, UIOMMUFD_EXT_QUERY, &q) == 0);
	for (i = 0; i != q.num_exts && i != 16; i++) {
		if (info[i].id != UIOMMUFD_EXT_ID_MAP_GRANULE)
			continue;
		found = true;
		CHECK_EQ(info[i].version, 1);
		CHECK_EQ(info[i].nr_cmds, 1);
		CHECK_EQ(info[i].cmds[0], UIOMMUFD_IOAS_MAP_GRANULE);
		CHECK(!strcmp(info[i].name, "map-granule"));
	}
	CHECK(found);
}

static void test_args(void)
{
	struct uiommufd_ioas_map_granule m;
	uint32_t ioas = ioas_alloc();
	uint64_t iova = MOCK_APERTURE_START;

	REQUIRE(ioas);
	CHECK_EQ(map_granule(ioas, &iova, mem, LEN, IOMMU_IOAS_MAP_FIXED_IOVA,
			     3 * PS), -EINVAL);
	CHECK_EQ(map_granule(ioas, &iova, mem, LEN, IOMMU_IOAS_MAP_FIXED_IOVA,
			     PS / 2), -EINVAL);
	CHECK_EQ(map_granule(ioas, &iova, mem + PS, LEN - 2 * PS,
			     IOMMU_IOAS_MAP_FIXED_IOVA, 2 * PS), -EINVAL);
	iova = MOCK_APERTURE_START + PS;
	CHECK_EQ(map_granule(ioas, &iova, mem, LEN, IOMMU_IOAS_MAP_FIXED_IOVA,
			     2 * PS), -EINVAL);
	iova = 0;
	CHECK_EQ(map_granule(ioas + 1000, &iova, mem, LEN, 0, PS), -ENOENT);
	memset(&m, 0, sizeof(m));
	m.size = sizeof(m);
	m.ioas_id = ioas;
	m.flags = IOMMU_IOAS_MAP_READABLE | (1u << 10);
	m.user_va = (uintptr_t)mem;
	m.length = LEN;
	m.granule = PS;
	CHECK_EQ(ioctl(fd, UIOMMUFD_IOAS_MAP_GRANULE, &m), -1);
	CHECK_EQ(errno, EOPNOTSUPP);
	m.flags = IOMMU_IOAS_MAP_READABLE;
	m.__reserved = 1;
	CHECK_EQ(ioctl(fd, UIOMMUFD_IOAS_MAP_GRANULE, &m), -1);
	CHECK_EQ(errno, EOPNOTSUPP);
	/* Short, and unknown trailing bytes: the table's rules. */
	m.__reserved = 0;
	m.size = offsetof(struct uiommufd_ioas_map_granule, granule);
	CHECK_EQ(ioctl(fd, UIOMMUFD_IOAS_MAP_GRANULE, &m), -1);
	CHECK_EQ(errno, EINVAL);
	/* Allocated IOVA: a multiple of the granule. */
	iova = 0;
	CHECK_EQ(map_granule(ioas, &iova, mem, LEN, 0, SZ_2M), 0);
	CHECK_EQ(iova % SZ_2M, 0);
	CHECK_EQ(unmap(ioas, iova + SZ_2M, SZ_2M, NULL), 0);
	CHECK_EQ(unmap(ioas, 0, UINT64_MAX, NULL), 0);
}

static void test_cut(void)
{
	const uint64_t a = MOCK_APERTURE_START; /* 16 MiB aligned */
	const uint64_t cut = a + SZ_1M + 8 * PS;
	struct uiommufd_page_run runs[8];
	uint32_t ioas = ioas_alloc(), hwpt;
	uint64_t iova = a, done = 0;
	int n;

	REQUIRE(ioas);
	hwpt = mock_huge(ioas);
	REQUIRE(hwpt != 0);
	REQUIRE(map_granule(ioas, &iova, mem, LEN, IOMMU_IOAS_MAP_FIXED_IOVA,
			    PS) == 0);
	/* The largest IO pages that fit: 1 MiB leaves throughout. */
	n = page_runs(ioas, a, LEN, runs, 8);
	REQUIRE(n == 1);
	CHECK_EQ(runs[0].page_size, MOCK_HUGE_PAGE_SIZE);
	CHECK_EQ(refs(mem, LEN), 1);

	/* Misaligned pieces: EINVAL, nothing changes. */
	CHECK_EQ(unmap(ioas, cut + 512, PS, NULL), -EINVAL);
	CHECK_EQ(unmap(ioas, cut, PS + 512, NULL), -EINVAL);
	CHECK_EQ(page_runs(ioas, a, LEN, runs, 8), 1);

	CHECK_EQ(unmap(ioas, cut, 2 * PS, &done), 0);
	CHECK_EQ(done, 2 * PS);
	CHECK(maps(hwpt, a, cut - a, mem));
	CHECK(maps(hwpt, cut + 2 * PS, a + LEN - cut - 2 * PS,
		   mem + (cut - a) + 2 * PS));
	CHECK(!maps(hwpt, cut, 2 * PS, mem + (cut - a)));
	CHECK_EQ(refs(mem + (cut - a), 2 * PS), 0);
	CHECK_EQ(refs(mem + (cut - a) - PS, PS), 1);
	CHECK_EQ(refs(mem + (cut - a) + 2 * PS, PS), 1);
	/* Only the 1 MiB page around the cut was split. */
	n = page_runs(ioas, a, LEN, runs, 8);
	REQUIRE(n == 4);
	CHECK_EQ(runs[0].page_size, MOCK_HUGE_PAGE_SIZE);
	CHECK_EQ(runs[0].last, a + SZ_1M - 1);
	CHECK_EQ(runs[1].page_size, MOCK_PAGE_SIZE);
	CHECK_EQ(runs[1].last, cut - 1);
	CHECK_EQ(runs[2].start, cut + 2 * PS);
	CHECK_EQ(runs[2].page_size, MOCK_PAGE_SIZE);
	CHECK_EQ(runs[3].page_size, MOCK_HUGE_PAGE_SIZE);
	CHECK_EQ(runs[3].start, a + 2 * SZ_1M);

	/* The pieces cut again; an unmap across both with ends in them. */
	CHECK_EQ(unmap(ioas, cut - PS, 4 * PS, &done), 0);
	CHECK_EQ(done, 2 * PS);
	CHECK_EQ(unmap(ioas, 0, UINT64_MAX, &done), 0);
	CHECK_EQ(done, LEN - 4 * PS);
	CHECK_EQ(refs(mem, LEN), 0);

	/* A plain map keeps the kernel's rule: ENOENT, nothing changes. */
	REQUIRE(map_plain(ioas, a, mem, LEN) == 0);
	CHECK_EQ(unmap(ioas, cut, 2 * PS, NULL), -ENOENT);
	CHECK_EQ(unmap(ioas, a, SZ_1M, NULL), -ENOENT);
	CHECK(maps(hwpt, a, LEN, mem));
	CHECK_EQ(unmap(ioas, a, LEN, &done), 0);
	CHECK_EQ(done, LEN);
}

/*
 * The VFIO type1 compatibility UNMAP_DMA on the same fd (IOMMU_VFIO_IOAS
 * names the IOAS it works on): the same engine path, so it cuts granule
 * areas too, and refuses partial unmaps of plain ones as IOAS_UNMAP does.
 */
static void test_vfio_compat(void)
{
	const uint64_t a = MOCK_APERTURE_START, cut = a + 3 * SZ_1M;
	struct iommu_vfio_ioas v = { .size = sizeof(v),
				     .op = IOMMU_VFIO_IOAS_SET };
	struct vfio_iommu_type1_dma_unmap u = { .argsz = sizeof(u) };
	uint32_t ioas = ioas_alloc(), hwpt;
	uint64_t iova = a, done;

	REQUIRE(ioas);
	hwpt = mock_huge(ioas);
	REQUIRE(hwpt != 0);
	v.ioas_id = ioas;
	REQUIRE(ioctl(fd, IOMMU_VFIO_IOAS, &v) == 0);
	REQUIRE(map_granule(ioas, &iova, mem, LEN, IOMMU_IOAS_MAP_FIXED_IOVA,
			    SZ_1M / 4) == 0);
	u.iova = cut + SZ_1M / 4;
	u.size = SZ_1M / 4;
	CHECK_EQ(ioctl(fd, VFIO_IOMMU_UNMAP_DMA, &u), 0);
	CHECK_EQ(u.size, SZ_1M / 4);
	CHECK(maps(hwpt, a, cut + SZ_1M / 4 - a, mem));
	CHECK(maps(hwpt, cut + SZ_1M / 2, a + LEN - cut - SZ_1M / 2,
		   mem + (cut - a) + SZ_1M / 2));
	CHECK_EQ(refs(mem + (cut - a) + SZ_1M / 4, SZ_1M / 4), 0);
	/* Off the granule: refused, nothing unmapped. */
	u.argsz = sizeof(u);
	u.iova = cut + SZ_1M / 2 + PS;
	u.size = PS;
	CHECK_EQ(ioctl(fd, VFIO_IOMMU_UNMAP_DMA, &u), -1);
	CHECK_EQ(errno, EINVAL);
	CHECK_EQ(unmap(ioas, 0, UINT64_MAX, &done), 0);
	CHECK_EQ(done, LEN - SZ_1M / 4);
	/* A plain map: the kernel's refusal of a partial unmap. */
	REQUIRE(map_plain(ioas, a, mem, LEN) == 0);
	u.argsz = sizeof(u);
	u.iova = cut;
	u.size = SZ_1M / 4;
	CHECK_EQ(ioctl(fd, VFIO_IOMMU_UNMAP_DMA, &u), -1);
	CHECK_EQ(errno, ENOENT);
	CHECK(maps(hwpt, a, LEN, mem));
	CHECK_EQ(unmap(ioas, 0, UINT64_MAX, &done), 0);
	CHECK_EQ(done, LEN);
}

/* ---- fail-nth ---- */

static int nth_fd(void)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/self/task/%ld/fail-nth",
		 (long)syscall(SYS_gettid));
	return open(path, O_RDWR);
}

static long nth_get(int nfd)
{
	char b[32];
	ssize_t n = pread(nfd, b, sizeof(b) - 1, 0);

	if (n <= 1)
		return -1;
	b[n] = 0;
	return strtol(b, NULL, 10);
}

static int nth_set(int nfd, unsigned long v)
{
	char b[32];
	int len = snprintf(b, sizeof(b), "%lu", v);

	return pwrite(nfd, b, (size_t)len, 0) == len ? 0 : -1;
}

static void test_fail_nth(void)
{
	const uint64_t a = MOCK_APERTURE_START, cut = a + SZ_1M + 8 * PS;
	struct uiommufd_page_run runs[8];
	unsigned long n, fired = 0;
	uint32_t ioas = ioas_alloc(), hwpt;
	int nfd = nth_fd(), rc;
	uint64_t iova;
	long left;

	REQUIRE(ioas && nfd >= 0);
	hwpt = mock_huge(ioas);
	REQUIRE(hwpt != 0);
	/* The map. */
	for (n = 1; n < 200; n++) {
		iova = a;
		REQUIRE(nth_set(nfd, n) == 0);
		rc = map_granule(ioas, &iova, mem, LEN,
				 IOMMU_IOAS_MAP_FIXED_IOVA, PS);
		left = nth_get(nfd);
		CHECK_EQ(nth_set(nfd, 0), 0);
		if (left == 0) {
			CHECK(rc != 0);
			CHECK_EQ(refs(mem, LEN), 0);
			CHECK_EQ(page_runs(ioas, 0, UINT64_MAX, runs, 8), 0);
			fired++;
			continue;
		}
		CHECK_EQ(rc, 0);
		break;
	}
	CHECK(fired > 0);
	REQUIRE(n < 200);
	/* The cut. */
	fired = 0;
	for (n = 1; n < 200; n++) {
		REQUIRE(nth_set(nfd, n) == 0);
		rc = unmap(ioas, cut, 2 * PS, NULL);
		left = nth_get(nfd);
		CHECK_EQ(nth_set(nfd, 0), 0);
		if (left == 0) {
			CHECK(rc != 0);
			CHECK_EQ(refs(mem, LEN), 1);
			CHECK(maps(hwpt, a, LEN, mem));
			CHECK_EQ(page_runs(ioas, a, LEN, runs, 8), 1);
			fired++;
			continue;
		}
		CHECK_EQ(rc, 0);
		break;
	}
	CHECK(fired > 0);
	CHECK(n < 200);
	CHECK_EQ(refs(mem + (cut - a), 2 * PS), 0);
	CHECK_EQ(unmap(ioas, 0, UINT64_MAX, NULL), 0);
	close(nfd);
}

/* Under --no-extensions: a kernel's answer. */
static void test_no_extensions(void)
{
	struct uiommufd_ioas_map_granule m = { .size = sizeof(m) };

	CHECK_EQ(ioctl(fd, UIOMMUFD_IOAS_MAP_GRANULE, &m), -1);
	CHECK_EQ(errno, ENOTTY);
}

int main(void)
{
	const char *noext = getenv("UIOMMUFD_NO_EXTENSIONS");
	uint8_t *area;

	fd = open("/dev/iommu", O_RDWR);
	if (fd < 0) {
		perror("/dev/iommu");
		return 77;
	}
	if (noext && !strcmp(noext, "1")) {
		RUN(test_no_extensions);
		HARNESS_EXIT();
	}
	area = mmap(NULL, LEN + SZ_2M, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS,
		    -1, 0);
	if (area == MAP_FAILED)
		return 1;
	mem = (uint8_t *)(((uintptr_t)area + SZ_2M - 1) & ~(SZ_2M - 1));
	if (mmap(mem, LEN, PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != mem)
		return 1;
	RUN(test_query);
	RUN(test_args);
	RUN(test_cut);
	RUN(test_vfio_compat);
	RUN(test_fail_nth);
	close(fd);
	HARNESS_EXIT();
}
