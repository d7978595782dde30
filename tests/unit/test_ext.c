/* SPDX-License-Identifier: MIT */
/*
 * The uiommufd extensions through the engine's public API, written from
 * uiommufd-extensions(7) and the seeds: the IO page sizes used, IOVA
 * reservations that automatic maps avoid, attaches refuse to cut and FIXED
 * maps may overmap; the minimum aperture; the map hint; reservations
 * copied with IOAS_COPY (ufd_ioas_copy_resv); and the pre-attach
 * query, checked against the attach itself on many random configurations
 * (the answer must be exactly what the attach then does).
 */
#include <sys/mman.h>
#include <unistd.h>

#include "engine/engine.h"
#define HARNESS_MMAP
#include "harness.h"

#define PS 4096ULL
#define SZ_2M (2ULL << 20)
#define SZ_1G (1ULL << 30)

static struct ufd_engine *eng;
static struct ufd_source *src;
static uint8_t *buf;
static const size_t buf_len = 4 * SZ_2M; /* 2 MiB aligned */

static const struct ufd_iova_range msi = { 0xfee00000, 0xfeefffff };

static struct ufd_device_info dev_info(void)
{
	return (struct ufd_device_info){
		.aperture_start = 1ULL << 20,
		.aperture_last = (1ULL << 39) - 1,
		.pgsize_bitmap = PS | SZ_2M | SZ_1G,
		.reserved = &msi,
		.nr_reserved = 1,
	};
}

static struct ufd_ctx *ctx_open(void)
{
	struct ufd_cred cred;
	struct ufd_ctx *ctx = NULL;

	ufd_cred_self(&cred);
	cred.cap_ipc_lock = true;
	ufd_ctx_open(eng, &cred, &ctx);
	return ctx;
}

static void test_page_sizes_used(void)
{
	struct ufd_device_info info = dev_info(), small = dev_info();
	struct ufd_ctx *ctx = ctx_open();
	uint32_t ioas, dev, dev2, pt, pt2, num;
	struct ufd_page_run runs[8];
	uint64_t iova;

	REQUIRE(ctx);
	REQUIRE(ufd_ioas_alloc(ctx, &ioas) == 0);
	REQUIRE(ufd_device_bind(ctx, &info, &dev) == 0);
	pt = ioas;
	REQUIRE(ufd_device_attach(ctx, dev, &pt) == 0);

	/* 4 MiB, 1 GiB aligned: two 2 MiB leaves, one run. */
	iova = SZ_1G;
	REQUIRE(ufd_ioas_map(ctx, ioas, src, (uintptr_t)buf, 2 * SZ_2M, &iova,
			     UFD_MAP_FIXED_IOVA | UFD_MAP_READ) == 0);
	/* 2 MiB - 4 KiB at an odd page: 4 KiB leaves only. */
	iova = 2 * SZ_1G + PS;
	REQUIRE(ufd_ioas_map(ctx, ioas, src, (uintptr_t)buf + PS, SZ_2M - PS,
			     &iova, UFD_MAP_FIXED_IOVA | UFD_MAP_READ) == 0);

	REQUIRE(ufd_page_sizes_used(ctx, pt, 0, UINT64_MAX, runs, 8, &num) ==
		0);
	REQUIRE(num == 2);
	CHECK_EQ(runs[0].start, SZ_1G);
	CHECK_EQ(runs[0].last, SZ_1G + 2 * SZ_2M - 1);
	CHECK_EQ(runs[0].page_size, SZ_2M);
	CHECK_EQ(runs[1].start, 2 * SZ_1G + PS);
	CHECK_EQ(runs[1].last, 2 * SZ_1G + SZ_2M - 1);
	CHECK_EQ(runs[1].page_size, PS);
	/* Clipped to the range asked about; the IOAS sees the same. */
	REQUIRE(ufd_page_sizes_used(ctx, ioas, SZ_1G + PS, SZ_2M, runs, 8,
				    &num) == 0);
	REQUIRE(num == 1);
	CHECK_EQ(runs[0].start, SZ_1G + PS);
	CHECK_EQ(runs[0].last, SZ_1G + SZ_2M + PS - 1);
	CHECK_EQ(runs[0].page_size, SZ_2M);
	/* Counting without room. */
	REQUIRE(ufd_page_sizes_used(ctx, ioas, 0, UINT64_MAX, NULL, 0, &num) ==
		0);
	CHECK_EQ(num, 2);

	/* A second domain with 4 KiB pages only: the IOAS's answer is the
	 * smallest leaf any domain uses; the first HWPT's is unchanged. */
	small.pgsize_bitmap = PS;
	REQUIRE(ufd_device_bind(ctx, &small, &dev2) == 0);
	REQUIRE(ufd_hwpt_alloc_paging(ctx, dev2, ioas, 0, &pt2) == 0);
	REQUIRE(ufd_page_sizes_used(ctx, ioas, SZ_1G, 2 * SZ_2M, runs, 8,
				    &num) == 0);
	REQUIRE(num == 1);
	CHECK_EQ(runs[0].page_size, PS);
	REQUIRE(ufd_page_sizes_used(ctx, pt, SZ_1G, 2 * SZ_2M, runs, 8,
				    &num) == 0);
	REQUIRE(num == 1);
	CHECK_EQ(runs[0].page_size, SZ_2M);

	CHECK_EQ(ufd_page_sizes_used(ctx, ioas, 0, 0, runs, 8, &num), -EINVAL);
	CHECK_EQ(ufd_page_sizes_used(ctx, ioas, 2, UINT64_MAX, runs, 8, &num),
		 -EOVERFLOW);
	CHECK_EQ(ufd_page_sizes_used(ctx, dev, 0, PS, runs, 8, &num), -ENOENT);
	ufd_ctx_close(ctx);
}

static bool in_range(uint64_t iova, uint64_t len, uint64_t start,
		     uint64_t last)
{
	return iova <= last && iova + len - 1 >= start;
}

static void test_reservations(void)
{
	struct ufd_device_info info = dev_info();
	struct ufd_ctx *ctx = ctx_open();
	struct ufd_iova_range r[4];
	struct ufd_attach_verdict v;
	uint32_t ioas, dev, pt, num;
	uint64_t iova, unmapped;
	int i;

	REQUIRE(ctx);
	REQUIRE(ufd_ioas_alloc(ctx, &ioas) == 0);
	REQUIRE(ufd_device_bind(ctx, &info, &dev) == 0);

	/* The guest's windows: [0, 1 GiB) and [2^39, 2^39 + 1 GiB). */
	REQUIRE(ufd_ioas_reserve_iova(ctx, ioas, 0, SZ_1G) == 0);
	REQUIRE(ufd_ioas_reserve_iova(ctx, ioas, 1ULL << 39, SZ_1G) == 0);
	CHECK_EQ(ufd_ioas_reserve_iova(ctx, ioas, SZ_1G - PS, 2 * PS),
		 -EEXIST);
	CHECK_EQ(ufd_ioas_reserve_iova(ctx, ioas, SZ_1G, 0), -EINVAL);
	CHECK_EQ(ufd_ioas_reserve_iova(ctx, ioas, UINT64_MAX - PS, 2 * PS),
		 -EOVERFLOW);
	REQUIRE(ufd_ioas_reservations(ctx, ioas, r, 4, &num) == 0);
	REQUIRE(num == 2);
	CHECK_EQ(r[0].start, 0);
	CHECK_EQ(r[0].last, SZ_1G - 1);
	CHECK_EQ(r[1].start, 1ULL << 39);

	/* Automatic maps avoid them. */
	for (i = 0; i != 4; i++) {
		iova = 0;
		REQUIRE(ufd_ioas_map(ctx, ioas, src, (uintptr_t)buf, SZ_2M,
				     &iova, UFD_MAP_READ) == 0);
		CHECK(!in_range(iova, SZ_2M, 0, SZ_1G - 1));
		CHECK(!in_range(iova, SZ_2M, 1ULL << 39,
				(1ULL << 39) + SZ_1G - 1));
		CHECK_EQ(ufd_ioas_unmap(ctx, ioas, iova, SZ_2M, NULL), 0);
	}

	/* The device's aperture ends below the high window: the attach
	 * would cut the reservation, as it would cut a mapping. */
	REQUIRE(ufd_device_query_attach_verdict(ctx, dev, ioas, r, 4, &num,
						&v) == 0);
	CHECK_EQ(v.error, -EADDRINUSE);
	CHECK_EQ(v.reason, UFD_ATTACH_CUTS_RESERVATION);
	/* ...the low window first: the aperture starts at 1 MiB. */
	CHECK_EQ(v.conflict.start, 0);
	CHECK_EQ(v.conflict.last, SZ_1G - 1);
	pt = ioas;
	CHECK_EQ(ufd_device_attach(ctx, dev, &pt), -EADDRINUSE);

	/* A FIXED map overmaps part of a reservation; unmapping it returns
	 * the part to the reservation, which never went away. */
	iova = SZ_2M;
	REQUIRE(ufd_ioas_map(ctx, ioas, src, (uintptr_t)buf, SZ_2M, &iova,
			     UFD_MAP_FIXED_IOVA | UFD_MAP_READ) == 0);
	REQUIRE(ufd_ioas_unmap(ctx, ioas, SZ_2M, SZ_2M, &unmapped) == 0);
	CHECK_EQ(unmapped, SZ_2M);
	REQUIRE(ufd_ioas_reservations(ctx, ioas, r, 4, &num) == 0);
	CHECK_EQ(num, 2);
	CHECK_EQ(r[0].last, SZ_1G - 1);

	/* Remove: all or nothing. */
	CHECK_EQ(ufd_ioas_unreserve_iova(ctx, ioas, 0, SZ_2M), -ENOENT);
	CHECK_EQ(ufd_ioas_unreserve_iova(ctx, ioas, 4 * SZ_1G, SZ_1G),
		 -ENOENT);
	REQUIRE(ufd_ioas_unreserve_iova(ctx, ioas, 0, SZ_1G) == 0);
	/* Now the attach goes through; inside the device's MSI hole a
	 * reservation fails as a FIXED map would. */
	REQUIRE(ufd_ioas_unreserve_iova(ctx, ioas, 0, UINT64_MAX) == 0);
	REQUIRE(ufd_ioas_reservations(ctx, ioas, r, 4, &num) == 0);
	CHECK_EQ(num, 0);
	pt = ioas;
	REQUIRE(ufd_device_attach(ctx, dev, &pt) == 0);
	CHECK_EQ(ufd_ioas_reserve_iova(ctx, ioas, msi.start, PS), -EINVAL);
	CHECK_EQ(ufd_ioas_reserve_iova(ctx, ioas, 0, PS), -EINVAL);
	REQUIRE(ufd_ioas_reserve_iova(ctx, ioas, SZ_1G, SZ_1G) == 0);
	CHECK_EQ(ufd_ioas_reservations(ctx, 999, r, 4, &num), -ENOENT);
	/* The IOAS goes with its reservations (ASan: no leak). */
	CHECK_EQ(ufd_device_detach(ctx, dev), 0);
	CHECK_EQ(ufd_destroy(ctx, ioas), 0);
	ufd_ctx_close(ctx);
}

static void test_min_aperture(void)
{
	struct ufd_device_info info = dev_info(), low = dev_info();
	struct ufd_ctx *ctx = ctx_open();
	struct ufd_attach_verdict v;
	struct ufd_iova_range r[4];
	uint32_t ioas, dev, dev2, pt, num;

	REQUIRE(ctx);
	REQUIRE(ufd_ioas_alloc(ctx, &ioas) == 0);
	REQUIRE(ufd_device_bind(ctx, &info, &dev) == 0);
	low.aperture_start = 0;
	low.aperture_last = (1ULL << 32) - 1;
	low.pgsize_bitmap = PS | SZ_2M;
	REQUIRE(ufd_device_bind(ctx, &low, &dev2) == 0);

	CHECK_EQ(ufd_ioas_set_min_aperture(ctx, ioas, 0, PS, 0, 0), -EINVAL);
	CHECK_EQ(ufd_ioas_set_min_aperture(ctx, ioas, 0, 0, 0, 2), -EOPNOTSUPP);
	CHECK_EQ(ufd_ioas_set_min_aperture(ctx, ioas, 2 * PS, UINT64_MAX - PS,
					   0, UFD_MIN_APERTURE_FIXED_BASE),
		 -EOVERFLOW);
	CHECK_EQ(ufd_ioas_set_min_aperture(ctx, 999, SZ_1G, 0, 0, 0), -ENOENT);

	/* A guest wants IOVA 0..1 GiB: the first device starts at 1 MiB. */
	REQUIRE(ufd_ioas_set_min_aperture(ctx, ioas, SZ_1G, 0, 0,
					  UFD_MIN_APERTURE_FIXED_BASE) == 0);
	REQUIRE(ufd_device_query_attach_verdict(ctx, dev, ioas, r, 4, &num,
						&v) == 0);
	CHECK_EQ(v.error, -ENOSPC);
	CHECK_EQ(v.reason, UFD_ATTACH_MIN_APERTURE);
	CHECK_EQ(v.conflict.start, 0);
	CHECK_EQ(v.conflict.last, SZ_1G - 1);
	pt = ioas;
	CHECK_EQ(ufd_device_attach(ctx, dev, &pt), -ENOSPC);
	pt = ioas;
	REQUIRE(ufd_device_attach(ctx, dev2, &pt) == 0);
	CHECK_EQ(ufd_device_detach(ctx, dev2), 0);

	/* Any other reservation that would take the window fails too. */
	CHECK_EQ(ufd_ioas_reserve(ctx, ioas, SZ_1G - PS, SZ_1G), -ENOSPC);
	REQUIRE(ufd_ioas_reserve(ctx, ioas, SZ_1G, 2 * SZ_1G - 1) == 0);
	/* ...and a user reservation meets it: -EADDRINUSE. */
	REQUIRE(ufd_ioas_reserve_iova(ctx, ioas, 4 * SZ_1G, SZ_1G) == 0);
	CHECK_EQ(ufd_ioas_reserve(ctx, ioas, 4 * SZ_1G, 5 * SZ_1G), -EADDRINUSE);
	REQUIRE(ufd_ioas_unreserve_iova(ctx, ioas, 0, UINT64_MAX) == 0);

	/* A size only: 2^38 bytes anywhere; the low device has 4 GiB. */
	REQUIRE(ufd_ioas_set_min_aperture(ctx, ioas, 1ULL << 38, 0, 0, 0) ==
		0);
	pt = ioas;
	CHECK_EQ(ufd_device_attach(ctx, dev2, &pt), -ENOSPC);
	pt = ioas;
	REQUIRE(ufd_device_attach(ctx, dev, &pt) == 0);
	/* Now asking for more than the IOAS has fails at once. */
	CHECK_EQ(ufd_ioas_set_min_aperture(ctx, ioas, 1ULL << 40, 0, 0, 0),
		 -ENOSPC);
	/* Page sizes: the attached domain has 1 GiB pages. */
	REQUIRE(ufd_ioas_set_min_aperture(ctx, ioas, SZ_1G, 0, SZ_1G, 0) == 0);
	CHECK_EQ(ufd_device_detach(ctx, dev), 0);
	REQUIRE(ufd_ioas_set_min_aperture(ctx, ioas, SZ_1G, 0,
					  PS | SZ_1G, 0) == 0);
	REQUIRE(ufd_device_query_attach_verdict(ctx, dev2, ioas, r, 4, &num,
						&v) == 0);
	CHECK_EQ(v.error, -ERANGE);
	CHECK_EQ(v.reason, UFD_ATTACH_MIN_PAGE_SIZES);
	pt = ioas;
	CHECK_EQ(ufd_device_attach(ctx, dev2, &pt), -ERANGE);
	REQUIRE(ufd_ioas_set_min_aperture(ctx, ioas, 0, 0, 0, 0) == 0);
	pt = ioas;
	CHECK_EQ(ufd_device_attach(ctx, dev2, &pt), 0);
	ufd_ctx_close(ctx);
}

static void test_map_hint(void)
{
	struct ufd_ctx *ctx = ctx_open();
	uint64_t iova, iova2;
	uint32_t ioas;
	bool at;

	REQUIRE(ctx);
	REQUIRE(ufd_ioas_alloc(ctx, &ioas) == 0);
	iova = 16 * SZ_1G;
	REQUIRE(ufd_ioas_map_hint(ctx, ioas, src, (uintptr_t)buf, SZ_2M, &iova,
				  UFD_MAP_READ, &at) == 0);
	CHECK(at);
	CHECK_EQ(iova, 16 * SZ_1G);
	/* Taken now: placed elsewhere, and said so. */
	iova2 = 16 * SZ_1G + PS;
	REQUIRE(ufd_ioas_map_hint(ctx, ioas, src, (uintptr_t)buf, SZ_2M,
				  &iova2, UFD_MAP_READ | UFD_MAP_WRITE,
				  &at) == 0);
	CHECK(!at);
	CHECK(!in_range(iova2, SZ_2M, iova, iova + SZ_2M - 1));
	/* A reservation is not free for it either. */
	REQUIRE(ufd_ioas_reserve_iova(ctx, ioas, 32 * SZ_1G, SZ_1G) == 0);
	iova2 = 32 * SZ_1G;
	REQUIRE(ufd_ioas_map_hint(ctx, ioas, src, (uintptr_t)buf, SZ_2M,
				  &iova2, UFD_MAP_READ, &at) == 0);
	CHECK(!at);
	CHECK(!in_range(iova2, SZ_2M, 32 * SZ_1G, 33 * SZ_1G - 1));
	/* Nor outside the allowed ranges. */
	{
		struct ufd_iova_range allow = { 64 * SZ_1G, 65 * SZ_1G - 1 };

		REQUIRE(ufd_ioas_allow_iovas(ctx, ioas, &allow, 1) == 0);
	}
	iova2 = 40 * SZ_1G;
	REQUIRE(ufd_ioas_map_hint(ctx, ioas, src, (uintptr_t)buf, SZ_2M,
				  &iova2, UFD_MAP_READ, &at) == 0);
	CHECK(!at);
	CHECK(iova2 >= 64 * SZ_1G && iova2 < 65 * SZ_1G);
	iova2 = 64 * SZ_1G + 8 * SZ_2M;
	REQUIRE(ufd_ioas_map_hint(ctx, ioas, src, (uintptr_t)buf, SZ_2M,
				  &iova2, UFD_MAP_READ, &at) == 0);
	CHECK(at);
	CHECK_EQ(iova2, 64 * SZ_1G + 8 * SZ_2M);
	iova2 = 0;
	CHECK_EQ(ufd_ioas_map_hint(ctx, ioas, src, (uintptr_t)buf, SZ_2M,
				   &iova2, UFD_MAP_READ | UFD_MAP_FIXED_IOVA,
				   &at),
		 -EOPNOTSUPP);
	CHECK_EQ(ufd_ioas_map_hint(ctx, ioas, src, (uintptr_t)buf, SZ_2M,
				   &iova2, 0, &at),
		 -EINVAL);
	ufd_ctx_close(ctx);
}

/* ---- reservations copied with IOAS_COPY ---- */

static uint32_t nr_resv(struct ufd_ctx *ctx, uint32_t ioas,
			struct ufd_iova_range *r, uint32_t max)
{
	uint32_t num = UINT32_MAX;

	ufd_ioas_reservations(ctx, ioas, r, max, &num);
	return num;
}

static int count_area(void *arg, const struct ufd_area_info *info)
{
	(void)info;
	(*(unsigned int *)arg)++;
	return 0;
}

static unsigned int nr_areas(struct ufd_ctx *ctx, uint32_t ioas)
{
	unsigned int n = 0;

	ufd_ioas_for_each_area(ctx, ioas, count_area, &n);
	return n;
}

static void test_copy_resv(void)
{
	const uint64_t w = 8 * SZ_1G; /* a guest window, reserved */
	struct ufd_ctx *ctx = ctx_open();
	struct ufd_iova_range r[4];
	uint64_t iova, dst, unmapped;
	uint32_t a, b, copied = 99;
	unsigned long nth;

	REQUIRE(ctx);
	REQUIRE(ufd_ioas_alloc(ctx, &a) == 0);
	REQUIRE(ufd_ioas_alloc(ctx, &b) == 0);
	REQUIRE(ufd_ioas_reserve_iova(ctx, a, w, 16 * PS) == 0);
	/* Guest RAM over part of the window, and below it. */
	iova = w - 8 * PS;
	REQUIRE(ufd_ioas_map(ctx, a, src, (uintptr_t)buf, 16 * PS, &iova,
			     UFD_MAP_FIXED_IOVA | UFD_MAP_READ) == 0);

	/* The source range must be mapped throughout. */
	dst = 0;
	CHECK_EQ(ufd_ioas_copy_resv(ctx, b, a, w - 8 * PS, 24 * PS, &dst,
				    UFD_MAP_READ, &copied), -ENOENT);
	CHECK_EQ(ufd_ioas_copy_resv(ctx, b, a, w, 0, &dst, UFD_MAP_READ,
				    &copied), -EINVAL);
	CHECK_EQ(ufd_ioas_copy_resv(ctx, b, a, w, PS, &dst, 1u << 9,
				    &copied), -EOPNOTSUPP);
	CHECK_EQ(ufd_ioas_copy_resv(ctx, b + 100, a, w, PS, &dst,
				    UFD_MAP_READ, &copied), -ENOENT);
	CHECK_EQ(copied, 99);
	CHECK_EQ(nr_areas(ctx, b), 0);

	/* Fixed: the window's part clipped, at the same offset. */
	dst = 64 * SZ_1G;
	REQUIRE(ufd_ioas_copy_resv(ctx, b, a, w - 8 * PS, 16 * PS, &dst,
				   UFD_MAP_FIXED_IOVA | UFD_MAP_READ,
				   &copied) == 0);
	CHECK_EQ(copied, 1);
	REQUIRE(nr_resv(ctx, b, r, 4) == 1);
	CHECK_EQ(r[0].start, dst + 8 * PS);
	CHECK_EQ(r[0].last, dst + 16 * PS - 1);
	/* Unmapping the copy leaves the reservation, as in the source. */
	CHECK_EQ(ufd_ioas_unmap(ctx, b, dst, 16 * PS, &unmapped), 0);
	CHECK_EQ(nr_resv(ctx, b, r, 4), 1);
	/* A fixed destination holding a reservation: EEXIST, no change. */
	CHECK_EQ(ufd_ioas_copy_resv(ctx, b, a, w - 8 * PS, 16 * PS, &dst,
				    UFD_MAP_FIXED_IOVA | UFD_MAP_READ,
				    &copied), -EEXIST);
	CHECK_EQ(nr_areas(ctx, b), 0);
	CHECK_EQ(nr_resv(ctx, b, r, 4), 1);
	/* Without reservations in the range: a plain copy, 0 copied. */
	dst = 0;
	REQUIRE(ufd_ioas_copy_resv(ctx, b, a, w - 8 * PS, 8 * PS, &dst,
				   UFD_MAP_READ, &copied) == 0);
	CHECK_EQ(copied, 0);
	CHECK_EQ(nr_resv(ctx, b, r, 4), 1);
	/* Into the same IOAS, automatic: the copy carries its own. */
	dst = 0;
	REQUIRE(ufd_ioas_copy_resv(ctx, a, a, w, 8 * PS, &dst, UFD_MAP_READ,
				   &copied) == 0);
	CHECK_EQ(copied, 1);
	REQUIRE(nr_resv(ctx, a, r, 4) == 2);
	CHECK(in_range(dst, 8 * PS, r[0].start, r[0].last) ||
	      in_range(dst, 8 * PS, r[1].start, r[1].last));
	CHECK_EQ(ufd_engine_check(eng), 0);

	/* Failures change nothing. */
	for (nth = 1; nth < 100; nth++) {
		unsigned int areas = nr_areas(ctx, b);
		uint32_t resv = nr_resv(ctx, b, r, 4);
		int rc;

		dst = 0;
		ufd_fail_nth(nth);
		rc = ufd_ioas_copy_resv(ctx, b, a, w - 8 * PS, 16 * PS, &dst,
					UFD_MAP_READ, &copied);
		ufd_fail_nth(0);
		CHECK(rc == 0 || rc == -ENOMEM);
		if (!rc) {
			CHECK_EQ(nr_resv(ctx, b, r, 4), resv + 1);
			break;
		}
		CHECK_EQ(nr_areas(ctx, b), areas);
		CHECK_EQ(nr_resv(ctx, b, r, 4), resv);
	}
	CHECK(nth > 2 && nth < 100);
	CHECK_EQ(ufd_engine_check(eng), 0);
	ufd_ctx_close(ctx);
}

/* ---- the query is the attach ---- */

static uint64_t rnd_state = 88172645463325252ULL;

static uint64_t rnd(uint64_t n)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 7;
	rnd_state ^= rnd_state << 17;
	return n ? rnd_state % n : rnd_state;
}

static void random_device(struct ufd_device_info *info,
			  struct ufd_iova_range *hole)
{
	static const uint64_t pgsizes[] = { PS, PS | SZ_2M, PS | SZ_2M | SZ_1G,
					    2048 | PS, 1ULL << 16 };

	memset(info, 0, sizeof(*info));
	info->aperture_start = rnd(3) ? 0 : (rnd(8) + 1) * SZ_1G;
	info->aperture_last = (1ULL << (32 + rnd(10))) - 1;
	info->pgsize_bitmap = pgsizes[rnd(5)];
	if (rnd(2)) {
		hole->start = (rnd(16) + 1) * SZ_1G;
		hole->last = hole->start + SZ_2M * (rnd(4) + 1) - 1;
		info->reserved = hole;
		info->nr_reserved = 1;
	}
}

static void test_query_is_attach(void)
{
	struct ufd_ctx *ctx = ctx_open();
	struct ufd_iova_range holes[4];
	uint32_t ioas, devs[4];
	bool attached[4] = { false };
	unsigned int round, i, agree = 0, refused[10] = { 0 };

	REQUIRE(ctx);
	REQUIRE(ufd_ioas_alloc(ctx, &ioas) == 0);
	for (i = 0; i != 4; i++) {
		struct ufd_device_info info;

		random_device(&info, &holes[i]);
		REQUIRE(ufd_device_bind(ctx, &info, &devs[i]) == 0);
	}
	for (round = 0; round != 800; round++) {
		struct ufd_iova_range qr[8], ar[8];
		struct ufd_attach_verdict v;
		uint32_t d, pt = ioas, qn, an, k;
		uint64_t iova, qalign, aalign;
		int rc;

		switch (rnd(7)) {
		case 0: /* a mapping somewhere */
			iova = rnd(2) ? rnd(64) * SZ_1G : rnd(1024) * SZ_2M;
			ufd_ioas_map(ctx, ioas, src, (uintptr_t)buf, SZ_2M,
				     &iova, UFD_MAP_READ |
						    (rnd(2) ? UFD_MAP_FIXED_IOVA
							    : 0));
			break;
		case 1: /* a reservation */
			ufd_ioas_reserve_iova(ctx, ioas, rnd(64) * SZ_1G,
					      SZ_1G * (rnd(2) + 1));
			break;
		case 2: /* a minimum aperture */
			if (rnd(2))
				ufd_ioas_set_min_aperture(ctx, ioas, 0, 0, 0,
							  0);
			else
				ufd_ioas_set_min_aperture(
					ctx, ioas, SZ_1G << rnd(10),
					rnd(2) ? rnd(4) * SZ_1G : 0,
					rnd(3) ? 0 : SZ_2M,
					rnd(2) ? UFD_MIN_APERTURE_FIXED_BASE :
						 0);
			break;
		case 3: /* tidy up */
			ufd_ioas_unmap(ctx, ioas, 0, UINT64_MAX, NULL);
			ufd_ioas_unreserve_iova(ctx, ioas, 0, UINT64_MAX);
			break;
		case 4: /* detach everyone: the next attach makes a domain */
			for (i = 0; i != 4; i++)
				if (!ufd_device_detach(ctx, devs[i]))
					attached[i] = false;
			break;
		default: /* detach someone */
			i = rnd(4);
			if (!ufd_device_detach(ctx, devs[i]))
				attached[i] = false;
			break;
		}
		i = rnd(4);
		d = devs[i];
		if (attached[i] && rnd(3) && !ufd_device_detach(ctx, d))
			attached[i] = false;
		if (ufd_device_query_attach_verdict(ctx, d, ioas, qr, 8, &qn,
						    &v))
			continue;
		qalign = v.alignment;
		/* Attached devices are asked as a replace. */
		if (attached[i])
			rc = ufd_device_replace(ctx, d, &pt);
		else
			rc = ufd_device_attach(ctx, d, &pt);
		if (!rc)
			attached[i] = true;
		CHECK_EQ(rc, v.error);
		if (rc != v.error) {
			fprintf(stderr, "  round %u: reason %u\n", round,
				v.reason);
			continue;
		}
		if (rc) {
			refused[v.reason < 10 ? v.reason : 9]++;
			continue;
		}
		REQUIRE(ufd_ioas_iova_ranges(ctx, ioas, ar, 8, &an, &aalign) ==
			0);
		CHECK_EQ(an, qn);
		CHECK_EQ(aalign, qalign);
		for (k = 0; k < an && k < 8 && k < qn; k++) {
			CHECK_EQ(ar[k].start, qr[k].start);
			CHECK_EQ(ar[k].last, qr[k].last);
		}
		agree++;
	}
	fprintf(stderr, "  accepted %u; refused by reason:", agree);
	for (i = 0; i != 10; i++)
		fprintf(stderr, " %u", refused[i]);
	fprintf(stderr, "\n");
	CHECK(agree > 20); /* enough accepted attaches to mean something */
	CHECK_EQ(ufd_engine_check(eng), 0);
	ufd_ctx_close(ctx);
}

int main(void)
{
	uint8_t *area;

	buf = harness_map_aligned(buf_len, &area);
	if (!buf)
		return 1;
	eng = ufd_engine_new();
	src = ufd_source_local();
	if (!eng || !src)
		return 1;
	RUN(test_page_sizes_used);
	RUN(test_reservations);
	RUN(test_min_aperture);
	RUN(test_map_hint);
	RUN(test_copy_resv);
	RUN(test_query_is_attach);
	ufd_source_put(src);
	ufd_engine_free(eng);
	munmap(area, buf_len + SZ_2M);
	HARNESS_EXIT();
}
