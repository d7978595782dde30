/* SPDX-License-Identifier: MIT */
/*
 * The uiommufd extensions of /dev/iommu (<linux/iommufd_ext.h>), through
 * open() and ioctl() only, written from uiommufd-extensions(7): the
 * extension query, the general size rules on every extension command, IOVA
 * reservations with overmap, the map hint, the page sizes used, the
 * minimum aperture and the pre-attach query (with the selftest's mock
 * devices, whose aperture is [MOCK_APERTURE_START, MOCK_APERTURE_LAST]).
 *
 * Built like every uapi test: linked to the shim, and run under the
 * launcher (server and in-process modes).  With UIOMMUFD_NO_EXTENSIONS=1
 * in the environment (uiommufd-run --no-extensions) it checks instead
 * that every extension command is ENOTTY, as on a real kernel, while
 * iommufd itself still works.
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

#define offsetofend(T, m) (offsetof(T, m) + sizeof(((T *)0)->m))

#define SZ_2M (2ULL << 20)

struct cmd_row {
	const char *name;
	unsigned long nr;
	size_t size, min;
};

#define ROW(c, s, last) \
	{ #c, c, sizeof(struct s), offsetofend(struct s, last) }

static const struct cmd_row rows[] = {
	ROW(UIOMMUFD_EXT_QUERY, uiommufd_ext_query, exts),
	ROW(UIOMMUFD_PAGE_SIZES, uiommufd_page_sizes, runs),
	ROW(UIOMMUFD_QUERY_ATTACH, uiommufd_query_attach, out_conflict_last),
	ROW(UIOMMUFD_IOAS_SET_MIN_APERTURE, uiommufd_ioas_set_min_aperture,
	    pgsize_bitmap),
	ROW(UIOMMUFD_IOAS_RESERVE, uiommufd_ioas_reserve, length),
	ROW(UIOMMUFD_IOAS_UNRESERVE, uiommufd_ioas_reserve, length),
	ROW(UIOMMUFD_IOAS_RESERVATIONS, uiommufd_ioas_reservations, iovas),
	ROW(UIOMMUFD_IOAS_MAP_HINT, uiommufd_ioas_map_hint, iova),
	ROW(UIOMMUFD_IOAS_MAP_GRANULE, uiommufd_ioas_map_granule, granule),
	ROW(UIOMMUFD_IOAS_COPY_RESV, uiommufd_ioas_copy_resv, src_iova),
};

#define NROWS (sizeof(rows) / sizeof(rows[0]))

static int fd;
static uint8_t *mem; /* 8 MiB, 2 MiB aligned */

static int call(const struct cmd_row *r, uint32_t size, size_t tail,
		uint8_t fill, int *err)
{
	static uint8_t buf[4096];
	int rc;

	memset(buf, 0, sizeof(buf));
	memcpy(buf, &size, sizeof(size));
	memset(buf + r->size, fill, tail);
	errno = 0;
	rc = ioctl(fd, r->nr, buf);
	*err = errno;
	return rc;
}

static uint32_t ioas_alloc(void)
{
	struct iommu_ioas_alloc a = { .size = sizeof(a) };

	if (ioctl(fd, IOMMU_IOAS_ALLOC, &a))
		return 0;
	return a.out_ioas_id;
}

static void test_query(void)
{
	struct uiommufd_ext_info info[16];
	struct uiommufd_ext_query q = { .size = sizeof(q) };
	uint32_t small[4];
	unsigned int i;
	bool seen[16] = { false };

	/* The count alone. */
	REQUIRE(ioctl(fd, UIOMMUFD_EXT_QUERY, &q) == 0);
	CHECK_EQ(q.num_exts, 11);
	CHECK_EQ(q.entry_size, sizeof(struct uiommufd_ext_info));

	memset(info, 0xa5, sizeof(info));
	q.num_exts = 16;
	q.entry_size = sizeof(info[0]);
	q.exts = (uintptr_t)info;
	REQUIRE(ioctl(fd, UIOMMUFD_EXT_QUERY, &q) == 0);
	REQUIRE(q.num_exts == 11);
	for (i = 0; i != q.num_exts; i++) {
		CHECK(info[i].id >= 1 && info[i].id <= 11);
		CHECK_EQ(info[i].version, 1);
		CHECK(info[i].nr_cmds >= 1 && info[i].nr_cmds <= 4);
		CHECK(info[i].name[0] && memchr(info[i].name, 0, 32));
		CHECK(_IOC_TYPE(info[i].cmds[0]) == UIOMMUFD_EXT_TYPE);
		if (info[i].id < 16)
			seen[info[i].id] = true;
	}
	CHECK(seen[UIOMMUFD_EXT_ID_RESERVE] && seen[UIOMMUFD_EXT_ID_MAP_HINT]);
	CHECK(seen[UIOMMUFD_EXT_ID_PASID_SET] &&
	      seen[UIOMMUFD_EXT_ID_PASID_SET_ATTACH]);
	CHECK(seen[UIOMMUFD_EXT_ID_MEM_REGISTER]);
	CHECK(seen[UIOMMUFD_EXT_ID_MAP_GRANULE]);
	CHECK(seen[UIOMMUFD_EXT_ID_COPY_RESV]);
	CHECK_EQ(info[11].id, 0xa5a5a5a5); /* nothing written past the list */

	/* Too little room: what fits, the total, EMSGSIZE. */
	q.num_exts = 2;
	CHECK_EQ(ioctl(fd, UIOMMUFD_EXT_QUERY, &q), -1);
	CHECK_EQ(errno, EMSGSIZE);
	CHECK_EQ(q.num_exts, 11);

	/* An older, smaller entry: id and version only. */
	memset(small, 0xff, sizeof(small));
	q.num_exts = 2;
	q.entry_size = 8;
	q.exts = (uintptr_t)small;
	CHECK_EQ(ioctl(fd, UIOMMUFD_EXT_QUERY, &q), -1);
	CHECK_EQ(errno, EMSGSIZE);
	CHECK_EQ(small[0], info[0].id);
	CHECK_EQ(small[1], 1);
	CHECK_EQ(small[2], info[1].id);
	CHECK_EQ(small[3], 1);
	q.num_exts = 11;
	q.entry_size = 4; /* less than id and version */
	CHECK_EQ(ioctl(fd, UIOMMUFD_EXT_QUERY, &q), -1);
	CHECK_EQ(errno, EINVAL);
	q.entry_size = 4097; /* more than any version will have */
	CHECK_EQ(ioctl(fd, UIOMMUFD_EXT_QUERY, &q), -1);
	CHECK_EQ(errno, EINVAL);
	/* A larger entry than ours: the tail is written as zeros. */
	{
		static uint8_t big[2][128];

		memset(big, 0xff, sizeof(big));
		q.num_exts = 2;
		q.entry_size = 128;
		q.exts = (uintptr_t)big;
		CHECK_EQ(ioctl(fd, UIOMMUFD_EXT_QUERY, &q), -1);
		CHECK_EQ(errno, EMSGSIZE);
		CHECK(!memcmp(big[0], &info[0], sizeof(info[0])));
		CHECK_EQ(big[0][127], 0);
		CHECK_EQ(big[1][sizeof(info[0])], 0);
		CHECK(!memcmp(big[1], &info[1], sizeof(info[1])));
		q.exts = (uintptr_t)small;
	}
	q.entry_size = sizeof(info[0]);
	q.flags = 1;
	CHECK_EQ(ioctl(fd, UIOMMUFD_EXT_QUERY, &q), -1);
	CHECK_EQ(errno, EOPNOTSUPP);
}

static void test_size_rules(void)
{
	unsigned int i;

	for (i = 0; i != NROWS; i++) {
		const struct cmd_row *r = &rows[i];
		int rc, err, rc2, err2;

		harness_test = r->name;
		rc = call(r, r->min - 1, 0, 0, &err);
		CHECK(rc == -1 && err == EINVAL);
		rc = call(r, r->size + 8, 8, 0xff, &err);
		CHECK(rc == -1 && err == E2BIG);
		rc = call(r, r->size, 0, 0, &err);
		rc2 = call(r, r->size + 8, 8, 0, &err2);
		CHECK_EQ(rc, rc2);
		if (rc)
			CHECK_EQ(err, err2);
		errno = 0;
		CHECK_EQ(ioctl(fd, r->nr, NULL), -1);
		CHECK_EQ(errno, EFAULT);
	}
	harness_test = "test_size_rules";
	/* A number of the extension space that names nothing: ENOTTY. */
	{
		uint32_t size = 64;

		CHECK_EQ(ioctl(fd, _IO(UIOMMUFD_EXT_TYPE, 0xc0 + 40), &size),
			 -1);
		CHECK_EQ(errno, ENOTTY);
		CHECK_EQ(ioctl(fd, _IO(UIOMMUFD_EXT_TYPE, 0x80), &size), -1);
		CHECK_EQ(errno, ENOTTY);
	}
}

static int map_fixed(uint32_t ioas, uint64_t iova, void *p, uint64_t len)
{
	struct iommu_ioas_map m = {
		.size = sizeof(m),
		.flags = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE |
			 IOMMU_IOAS_MAP_WRITEABLE,
		.ioas_id = ioas,
		.user_va = (uintptr_t)p,
		.length = len,
		.iova = iova,
	};

	return ioctl(fd, IOMMU_IOAS_MAP, &m);
}

static int map_auto(uint32_t ioas, void *p, uint64_t len, uint64_t *iova)
{
	struct iommu_ioas_map m = {
		.size = sizeof(m),
		.flags = IOMMU_IOAS_MAP_READABLE,
		.ioas_id = ioas,
		.user_va = (uintptr_t)p,
		.length = len,
	};
	int rc = ioctl(fd, IOMMU_IOAS_MAP, &m);

	*iova = m.iova;
	return rc;
}

static int unmap(uint32_t ioas, uint64_t iova, uint64_t len)
{
	struct iommu_ioas_unmap u = { .size = sizeof(u), .ioas_id = ioas,
				      .iova = iova, .length = len };

	return ioctl(fd, IOMMU_IOAS_UNMAP, &u);
}

static int reserve(unsigned long nr, uint32_t ioas, uint64_t iova,
		   uint64_t len)
{
	struct uiommufd_ioas_reserve r = { .size = sizeof(r),
					   .ioas_id = ioas,
					   .iova = iova,
					   .length = len };

	return ioctl(fd, nr, &r);
}

static int copy_resv(uint32_t dst, uint32_t src, uint64_t src_iova,
		     uint64_t len, uint64_t *dst_iova, uint32_t flags,
		     uint32_t *copied)
{
	struct uiommufd_ioas_copy_resv c = {
		.size = sizeof(c),
		.flags = flags | IOMMU_IOAS_MAP_READABLE,
		.dst_ioas_id = dst,
		.src_ioas_id = src,
		.length = len,
		.dst_iova = *dst_iova,
		.src_iova = src_iova,
	};
	int rc = ioctl(fd, UIOMMUFD_IOAS_COPY_RESV, &c);

	if (!rc) {
		*dst_iova = c.dst_iova;
		*copied = c.out_nr_reservations;
	}
	return rc ? -errno : 0;
}

/* A mock device attached to @ioas: its device ID, or 0. */
static uint32_t mock_domain(uint32_t ioas, uint32_t *hwpt)
{
	struct iommu_test_cmd c = { .size = sizeof(c),
				    .op = IOMMU_TEST_OP_MOCK_DOMAIN,
				    .id = ioas };

	if (ioctl(fd, IOMMU_TEST_CMD, &c))
		return 0;
	if (hwpt)
		*hwpt = c.mock_domain.out_hwpt_id;
	return c.mock_domain.out_idev_id;
}

static void test_reservations(void)
{
	struct iommu_iova_range r[4];
	struct uiommufd_ioas_reservations l = { .size = sizeof(l) };
	uint32_t ioas = ioas_alloc();
	const uint64_t lo = 1ULL << 20, hi = MOCK_APERTURE_START + SZ_2M;
	uint64_t iova;
	int i;

	REQUIRE(ioas);
	/* Below the mock aperture, and one inside it. */
	REQUIRE(reserve(UIOMMUFD_IOAS_RESERVE, ioas, lo, SZ_2M) == 0);
	REQUIRE(reserve(UIOMMUFD_IOAS_RESERVE, ioas, hi, 4 * SZ_2M) == 0);
	CHECK_EQ(reserve(UIOMMUFD_IOAS_RESERVE, ioas, hi + SZ_2M, SZ_2M), -1);
	CHECK_EQ(errno, EEXIST);
	CHECK_EQ(reserve(UIOMMUFD_IOAS_RESERVE, ioas, hi, 0), -1);
	CHECK_EQ(errno, EINVAL);
	CHECK_EQ(reserve(UIOMMUFD_IOAS_RESERVE, 999, hi, SZ_2M), -1);
	CHECK_EQ(errno, ENOENT);

	l.ioas_id = ioas;
	l.num_iovas = 1;
	l.iovas = (uintptr_t)r;
	CHECK_EQ(ioctl(fd, UIOMMUFD_IOAS_RESERVATIONS, &l), -1);
	CHECK_EQ(errno, EMSGSIZE);
	CHECK_EQ(l.num_iovas, 2);
	REQUIRE(ioctl(fd, UIOMMUFD_IOAS_RESERVATIONS, &l) == 0);
	CHECK_EQ(r[0].start, lo);
	CHECK_EQ(r[0].last, lo + SZ_2M - 1);
	CHECK_EQ(r[1].start, hi);
	CHECK_EQ(r[1].last, hi + 4 * SZ_2M - 1);

	/* Automatic maps stay out. */
	for (i = 0; i != 8; i++) {
		REQUIRE(map_auto(ioas, mem, SZ_2M, &iova) == 0);
		CHECK(iova + SZ_2M <= lo || iova >= lo + SZ_2M);
		CHECK(iova + SZ_2M <= hi || iova >= hi + 4 * SZ_2M);
		CHECK_EQ(unmap(ioas, iova, SZ_2M), 0);
	}
	/* The mock device cannot reach [lo, lo + 2M): refused, as when a
	 * mapping is there. */
	CHECK_EQ(mock_domain(ioas, NULL), 0);
	CHECK_EQ(errno, EADDRINUSE);
	REQUIRE(reserve(UIOMMUFD_IOAS_UNRESERVE, ioas, lo, SZ_2M) == 0);
	REQUIRE(mock_domain(ioas, NULL) != 0);

	/* With the device attached: overmap part of the reservation, and
	 * the IOVA reaches the memory; unmapping gives it back to the
	 * reservation, and it reaches nothing. */
	REQUIRE(map_fixed(ioas, hi + SZ_2M, mem, SZ_2M) == 0);
	CHECK_EQ(map_fixed(ioas, hi + SZ_2M, mem, SZ_2M), -1);
	CHECK_EQ(errno, EEXIST);
	{
		struct iommu_test_cmd c = { .size = sizeof(c),
					    .op = IOMMU_TEST_OP_CREATE_ACCESS,
					    .id = ioas };
		char got[16] = { 0 };
		int afd;

		memcpy(mem + 100, "overmapped", 11);
		REQUIRE(ioctl(fd, IOMMU_TEST_CMD, &c) == 0);
		afd = (int)c.create_access.out_access_fd;
		memset(&c, 0, sizeof(c));
		c.size = sizeof(c);
		c.op = IOMMU_TEST_OP_ACCESS_RW;
		c.id = (uint32_t)afd;
		c.access_rw.iova = hi + SZ_2M + 100;
		c.access_rw.length = 11;
		c.access_rw.uptr = (uintptr_t)got;
		CHECK_EQ(ioctl(fd, IOMMU_TEST_CMD, &c), 0);
		CHECK(!strcmp(got, "overmapped"));
		REQUIRE(unmap(ioas, hi + SZ_2M, SZ_2M) == 0);
		CHECK_EQ(ioctl(fd, IOMMU_TEST_CMD, &c), -1);
		CHECK_EQ(errno, ENOENT);
		close(afd);
	}
	l.num_iovas = 4;
	REQUIRE(ioctl(fd, UIOMMUFD_IOAS_RESERVATIONS, &l) == 0);
	CHECK_EQ(l.num_iovas, 1);
	CHECK_EQ(r[0].start, hi);
	/* Below the aperture it is now the device's: EINVAL, as a map. */
	CHECK_EQ(reserve(UIOMMUFD_IOAS_RESERVE, ioas, lo, SZ_2M), -1);
	CHECK_EQ(errno, EINVAL);
	/* Removal is all or nothing. */
	CHECK_EQ(reserve(UIOMMUFD_IOAS_UNRESERVE, ioas, hi, SZ_2M), -1);
	CHECK_EQ(errno, ENOENT);
	CHECK_EQ(reserve(UIOMMUFD_IOAS_UNRESERVE, ioas, 0, UINT64_MAX), 0);
	CHECK_EQ(reserve(UIOMMUFD_IOAS_UNRESERVE, ioas, 0, UINT64_MAX), -1);
	CHECK_EQ(errno, ENOENT);
}

static void test_map_hint(void)
{
	struct uiommufd_ioas_map_hint h = { .size = sizeof(h) };
	uint32_t ioas = ioas_alloc();
	const uint64_t at = 1ULL << 33;

	REQUIRE(ioas);
	h.ioas_id = ioas;
	h.flags = IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE;
	h.user_va = (uintptr_t)mem;
	h.length = SZ_2M;
	h.iova = at;
	REQUIRE(ioctl(fd, UIOMMUFD_IOAS_MAP_HINT, &h) == 0);
	CHECK_EQ(h.out_flags, UIOMMUFD_MAP_HINT_AT_HINT);
	CHECK_EQ(h.iova, at);
	/* The same hint again: taken, so elsewhere, and said so. */
	h.out_flags = 0;
	h.iova = at;
	REQUIRE(ioctl(fd, UIOMMUFD_IOAS_MAP_HINT, &h) == 0);
	CHECK_EQ(h.out_flags, 0);
	CHECK(h.iova + SZ_2M <= at || h.iova >= at + SZ_2M);
	/* Both are real mappings. */
	CHECK_EQ(unmap(ioas, at, SZ_2M), 0);
	CHECK_EQ(unmap(ioas, h.iova, SZ_2M), 0);
	h.iova = at;
	h.flags |= IOMMU_IOAS_MAP_FIXED_IOVA;
	CHECK_EQ(ioctl(fd, UIOMMUFD_IOAS_MAP_HINT, &h), -1);
	CHECK_EQ(errno, EOPNOTSUPP);
	h.flags = 0;
	CHECK_EQ(ioctl(fd, UIOMMUFD_IOAS_MAP_HINT, &h), -1);
	CHECK_EQ(errno, EINVAL);
	h.flags = IOMMU_IOAS_MAP_READABLE;
	h.out_flags = 1;
	CHECK_EQ(ioctl(fd, UIOMMUFD_IOAS_MAP_HINT, &h), -1);
	CHECK_EQ(errno, EOPNOTSUPP);
}

static uint32_t nr_reservations_of(uint32_t ioas)
{
	struct iommu_iova_range r[4];
	struct uiommufd_ioas_reservations q = { .size = sizeof(q),
						.ioas_id = ioas,
						.num_iovas = 4,
						.iovas = (uintptr_t)r };

	if (ioctl(fd, UIOMMUFD_IOAS_RESERVATIONS, &q))
		return UINT32_MAX;
	return q.num_iovas;
}

/* UIOMMUFD_IOAS_COPY_RESV: a window's reservation follows the copy. */
static void test_copy_resv(void)
{
	const uint64_t w = MOCK_APERTURE_START + 8 * SZ_2M;
	uint32_t a = ioas_alloc(), b = ioas_alloc(), copied = 0;
	struct uiommufd_ioas_copy_resv c = { .size = sizeof(c) };
	uint64_t dst;

	REQUIRE(a && b);
	REQUIRE(reserve(UIOMMUFD_IOAS_RESERVE, a, w, SZ_2M) == 0);
	REQUIRE(map_fixed(a, w - SZ_2M, mem, 2 * SZ_2M) == 0);
	/* The source range must be mapped throughout: ENOENT. */
	dst = 0;
	CHECK_EQ(copy_resv(b, a, w - SZ_2M, 3 * SZ_2M, &dst, 0, &copied),
		 -ENOENT);
	dst = 0;
	REQUIRE(copy_resv(b, a, w - SZ_2M, 2 * SZ_2M, &dst, 0, &copied) == 0);
	CHECK_EQ(copied, 1);
	CHECK_EQ(nr_reservations_of(b), 1);
	/* The copy's window half, unmapped, stays reserved. */
	CHECK_EQ(unmap(b, dst, 2 * SZ_2M), 0);
	CHECK_EQ(nr_reservations_of(b), 1);
	/* A fixed destination holding one: EEXIST. */
	CHECK_EQ(copy_resv(b, a, w - SZ_2M, 2 * SZ_2M, &dst,
			   IOMMU_IOAS_MAP_FIXED_IOVA, &copied),
		 -EEXIST);
	/* Outputs and __reserved must come in as 0. */
	c.flags = IOMMU_IOAS_MAP_READABLE;
	c.dst_ioas_id = b;
	c.src_ioas_id = a;
	c.length = SZ_2M;
	c.src_iova = w;
	c.out_nr_reservations = 1;
	CHECK_EQ(ioctl(fd, UIOMMUFD_IOAS_COPY_RESV, &c), -1);
	CHECK_EQ(errno, EOPNOTSUPP);
	c.out_nr_reservations = 0;
	c.__reserved = 1;
	CHECK_EQ(ioctl(fd, UIOMMUFD_IOAS_COPY_RESV, &c), -1);
	CHECK_EQ(errno, EOPNOTSUPP);
	CHECK_EQ(unmap(a, 0, UINT64_MAX), 0);
}

static void test_page_sizes(void)
{
	struct uiommufd_page_sizes q = { .size = sizeof(q) };
	struct uiommufd_page_run runs[8], hw[8];
	uint32_t ioas = ioas_alloc(), hwpt = 0, n, i;
	const uint64_t a = MOCK_APERTURE_START, b = MOCK_APERTURE_START + 4 * SZ_2M;

	REQUIRE(ioas);
	REQUIRE(mock_domain(ioas, &hwpt) != 0);
	REQUIRE(map_fixed(ioas, a, mem, 2 * SZ_2M) == 0);
	REQUIRE(map_fixed(ioas, b, mem + 4096, 4096) == 0);

	q.pt_id = ioas;
	q.iova = 0;
	q.length = UINT64_MAX;
	q.num_runs = 8;
	q.runs = (uintptr_t)runs;
	REQUIRE(ioctl(fd, UIOMMUFD_PAGE_SIZES, &q) == 0);
	n = q.num_runs;
	REQUIRE(n >= 2 && n <= 8);
	/* The runs tile the two mappings exactly, in order. */
	CHECK_EQ(runs[0].start, a);
	CHECK_EQ(runs[n - 1].last, b + 4095);
	for (i = 0; i != n; i++) {
		uint64_t ps = runs[i].page_size;

		CHECK(ps && !(ps & (ps - 1)) && ps <= SZ_2M);
		CHECK(runs[i].start <= runs[i].last);
		if (i && runs[i].start != b)
			CHECK_EQ(runs[i].start, runs[i - 1].last + 1);
	}
	/* One HWPT: the IOAS's answer is that HWPT's. */
	q.pt_id = hwpt;
	q.runs = (uintptr_t)hw;
	REQUIRE(ioctl(fd, UIOMMUFD_PAGE_SIZES, &q) == 0);
	CHECK_EQ(q.num_runs, n);
	CHECK(!memcmp(hw, runs, n * sizeof(runs[0])));
	/* Too small: EMSGSIZE and the total. */
	q.num_runs = 1;
	CHECK_EQ(ioctl(fd, UIOMMUFD_PAGE_SIZES, &q), -1);
	CHECK_EQ(errno, EMSGSIZE);
	CHECK_EQ(q.num_runs, n);
	q.length = 0;
	CHECK_EQ(ioctl(fd, UIOMMUFD_PAGE_SIZES, &q), -1);
	CHECK_EQ(errno, EINVAL);
	q.length = 4096;
	q.pt_id = 999;
	CHECK_EQ(ioctl(fd, UIOMMUFD_PAGE_SIZES, &q), -1);
	CHECK_EQ(errno, ENOENT);
}

static void test_query_attach_and_min_aperture(void)
{
	struct uiommufd_query_attach q = { .size = sizeof(q) };
	struct uiommufd_ioas_set_min_aperture ap = { .size = sizeof(ap) };
	struct iommu_iova_range r[8];
	uint32_t ioas = ioas_alloc(), other = ioas_alloc(), dev;

	REQUIRE(ioas && other);
	dev = mock_domain(other, NULL);
	REQUIRE(dev);

	/* A mapping below the mock aperture: the query says how the attach
	 * (here a replace of the device's attachment) would fail. */
	REQUIRE(map_fixed(ioas, 1ULL << 20, mem, SZ_2M) == 0);
	q.dev_id = dev;
	q.ioas_id = ioas;
	q.num_iovas = 8;
	q.allowed_iovas = (uintptr_t)r;
	REQUIRE(ioctl(fd, UIOMMUFD_QUERY_ATTACH, &q) == 0);
	CHECK_EQ(q.out_errno, EADDRINUSE);
	CHECK_EQ(q.out_reason, UIOMMUFD_ATTACH_CUTS_MAPPING);
	CHECK_EQ(q.out_conflict_start, 1ULL << 20);
	CHECK_EQ(q.out_conflict_last, (1ULL << 20) + SZ_2M - 1);
	/* ...and a new mock device there is refused the same way. */
	CHECK_EQ(mock_domain(ioas, NULL), 0);
	CHECK_EQ(errno, EADDRINUSE);

	/* Without it: accepted, with the mock aperture as the range. */
	REQUIRE(unmap(ioas, 1ULL << 20, SZ_2M) == 0);
	REQUIRE(ioctl(fd, UIOMMUFD_QUERY_ATTACH, &q) == 0);
	CHECK_EQ(q.out_errno, 0);
	CHECK_EQ(q.out_reason, UIOMMUFD_ATTACH_OK);
	REQUIRE(q.num_iovas >= 1);
	CHECK_EQ(r[0].start, MOCK_APERTURE_START);
	CHECK_EQ(r[q.num_iovas - 1].last, MOCK_APERTURE_LAST);
	CHECK(q.out_pgsize_bitmap != 0);
	CHECK(q.out_iova_alignment >= 1);
	q.num_iovas = 0;
	CHECK_EQ(ioctl(fd, UIOMMUFD_QUERY_ATTACH, &q), -1);
	CHECK_EQ(errno, EMSGSIZE);
	q.num_iovas = 8;

	/* A guest that needs IOVA 0..16 MiB: the mock device cannot. */
	ap.ioas_id = ioas;
	ap.flags = UIOMMUFD_MIN_APERTURE_FIXED_BASE;
	ap.base = 0;
	ap.length = MOCK_APERTURE_START;
	REQUIRE(ioctl(fd, UIOMMUFD_IOAS_SET_MIN_APERTURE, &ap) == 0);
	REQUIRE(ioctl(fd, UIOMMUFD_QUERY_ATTACH, &q) == 0);
	CHECK_EQ(q.out_errno, ENOSPC);
	CHECK_EQ(q.out_reason, UIOMMUFD_ATTACH_MIN_APERTURE);
	CHECK_EQ(q.out_conflict_start, 0);
	CHECK_EQ(q.out_conflict_last, MOCK_APERTURE_START - 1);
	CHECK_EQ(mock_domain(ioas, NULL), 0);
	CHECK_EQ(errno, ENOSPC);
	/* A size the mock aperture has is fine. */
	ap.flags = 0;
	ap.length = 1ULL << 30;
	REQUIRE(ioctl(fd, UIOMMUFD_IOAS_SET_MIN_APERTURE, &ap) == 0);
	REQUIRE(ioctl(fd, UIOMMUFD_QUERY_ATTACH, &q) == 0);
	CHECK_EQ(q.out_errno, 0);
	REQUIRE(mock_domain(ioas, NULL) != 0);
	/* More than the IOAS has now: refused at once. */
	ap.length = 1ULL << 32;
	CHECK_EQ(ioctl(fd, UIOMMUFD_IOAS_SET_MIN_APERTURE, &ap), -1);
	CHECK_EQ(errno, ENOSPC);
	ap.length = 0;
	ap.base = 4096;
	CHECK_EQ(ioctl(fd, UIOMMUFD_IOAS_SET_MIN_APERTURE, &ap), -1);
	CHECK_EQ(errno, EINVAL);
	ap.base = 0;
	ap.flags = 1u << 7;
	CHECK_EQ(ioctl(fd, UIOMMUFD_IOAS_SET_MIN_APERTURE, &ap), -1);
	CHECK_EQ(errno, EOPNOTSUPP);
	q.dev_id = 999;
	CHECK_EQ(ioctl(fd, UIOMMUFD_QUERY_ATTACH, &q), -1);
	CHECK_EQ(errno, ENOENT);
}

/* ---- fault injection: a failed call changes nothing ---- */

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

struct sweep_state {
	uint32_t ioas, dev;
};

static uint32_t nr_reservations(uint32_t ioas)
{
	struct uiommufd_ioas_reservations l = { .size = sizeof(l),
						.ioas_id = ioas };

	if (ioctl(fd, UIOMMUFD_IOAS_RESERVATIONS, &l))
		return ~0u;
	return l.num_iovas;
}

static int op_reserve(struct sweep_state *st)
{
	return reserve(UIOMMUFD_IOAS_RESERVE, st->ioas, 1ULL << 34, SZ_2M);
}

static int undo_reserve(struct sweep_state *st, bool done)
{
	if (!done)
		return nr_reservations(st->ioas) == 0;
	return reserve(UIOMMUFD_IOAS_UNRESERVE, st->ioas, 0, UINT64_MAX) == 0;
}

static int op_hint(struct sweep_state *st)
{
	struct uiommufd_ioas_map_hint h = {
		.size = sizeof(h),
		.flags = IOMMU_IOAS_MAP_READABLE,
		.ioas_id = st->ioas,
		.user_va = (uintptr_t)mem,
		.length = SZ_2M,
		.iova = MOCK_APERTURE_START + 8 * SZ_2M,
	};

	return ioctl(fd, UIOMMUFD_IOAS_MAP_HINT, &h);
}

static int undo_hint(struct sweep_state *st, bool done)
{
	/* A failed map left nothing: unmapping everything finds none. */
	struct iommu_ioas_unmap u = { .size = sizeof(u),
				      .ioas_id = st->ioas,
				      .length = UINT64_MAX };

	if (ioctl(fd, IOMMU_IOAS_UNMAP, &u))
		return 0;
	return done ? u.length == SZ_2M : u.length == 0;
}

static int op_query(struct sweep_state *st)
{
	struct iommu_iova_range r[4];
	struct uiommufd_query_attach q = { .size = sizeof(q),
					   .dev_id = st->dev,
					   .ioas_id = st->ioas,
					   .num_iovas = 4,
					   .allowed_iovas = (uintptr_t)r };

	return ioctl(fd, UIOMMUFD_QUERY_ATTACH, &q);
}

static int op_page_sizes(struct sweep_state *st)
{
	struct uiommufd_page_run runs[4];
	struct uiommufd_page_sizes q = { .size = sizeof(q),
					 .pt_id = st->ioas,
					 .length = UINT64_MAX,
					 .num_runs = 4,
					 .runs = (uintptr_t)runs };

	return ioctl(fd, UIOMMUFD_PAGE_SIZES, &q);
}

static int undo_nothing(struct sweep_state *st, bool done)
{
	return 1;
}

static void sweep(const char *name, int (*op)(struct sweep_state *),
		  int (*undo)(struct sweep_state *, bool),
		  struct sweep_state *st)
{
	int nfd = nth_fd(), rc;
	unsigned long n, fired = 0;
	long left;

	harness_test = name;
	REQUIRE(nfd >= 0);
	for (n = 1; n < 200; n++) {
		REQUIRE(nth_set(nfd, n) == 0);
		rc = op(st);
		left = nth_get(nfd);
		CHECK_EQ(nth_set(nfd, 0), 0);
		if (left == 0) {
			CHECK_EQ(rc, -1);
			CHECK(undo(st, false));
			fired++;
			continue;
		}
		CHECK_EQ(rc, 0);
		CHECK(undo(st, true));
		break;
	}
	CHECK(fired > 0);
	CHECK(n < 200);
	close(nfd);
}

static void test_fail_nth(void)
{
	struct sweep_state st = { .ioas = ioas_alloc() };
	uint32_t other = ioas_alloc();

	REQUIRE(st.ioas && other);
	st.dev = mock_domain(other, NULL);
	REQUIRE(st.dev);
	sweep("fail-nth RESERVE", op_reserve, undo_reserve, &st);
	sweep("fail-nth QUERY_ATTACH", op_query, undo_nothing, &st);
	REQUIRE(mock_domain(st.ioas, NULL) != 0);
	sweep("fail-nth MAP_HINT", op_hint, undo_hint, &st);
	/* UIOMMUFD_PAGE_SIZES allocates nothing in the engine: it cannot
	 * fail by injection, only work. */
	REQUIRE(map_fixed(st.ioas, MOCK_APERTURE_START, mem, SZ_2M) == 0);
	CHECK_EQ(op_page_sizes(&st), 0);
	harness_test = "test_fail_nth";
}

/* Under --no-extensions: a kernel's answers. */
static void test_no_extensions(void)
{
	uint8_t buf[256] = { 0 };
	struct iommu_ioas_alloc a = { .size = sizeof(a) };
	unsigned int i;

	for (i = 0; i != NROWS; i++) {
		uint32_t size = rows[i].size;

		memcpy(buf, &size, sizeof(size));
		harness_test = rows[i].name;
		CHECK_EQ(ioctl(fd, rows[i].nr, buf), -1);
		CHECK_EQ(errno, ENOTTY);
	}
	harness_test = "test_no_extensions";
	CHECK_EQ(ioctl(fd, IOMMU_IOAS_ALLOC, &a), 0);
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
	area = mmap(NULL, 5 * SZ_2M, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS,
		    -1, 0);
	if (area == MAP_FAILED)
		return 1;
	mem = (uint8_t *)(((uintptr_t)area + SZ_2M - 1) & ~(SZ_2M - 1));
	if (mmap(mem, 4 * SZ_2M, PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != mem)
		return 1;
	RUN(test_query);
	RUN(test_size_rules);
	RUN(test_reservations);
	RUN(test_map_hint);
	RUN(test_copy_resv);
	RUN(test_page_sizes);
	RUN(test_query_attach_and_min_aperture);
	RUN(test_fail_nth);
	close(fd);
	HARNESS_EXIT();
}
