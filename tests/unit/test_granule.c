/* SPDX-License-Identifier: MIT */
/*
 * Maps with a guaranteed unmap granularity (ufd_ioas_map_granule, the
 * seed's request [Williamson]), written from uiommufd-extensions(7):
 *
 *   - the page table alone: a 1 GiB superpage split in place around cuts
 *     keeps every translation, uses the largest leaves that fit, and a
 *     failed preparation leaves the table as it was;
 *   - the rules: alignment of granule, address, length and IOVA; plain
 *     maps still refuse partial unmaps (-ENOENT), granule maps refuse cuts
 *     off the granule (-EINVAL);
 *   - a cut in the middle: two areas, the superpages kept where they fit,
 *     the cut pages unpinned, DMA to the rest as before;
 *   - every granule unmapped one by one: nothing left pinned;
 *   - access pins outside the cut move with their piece;
 *   - a file source (memfd) cut the same way;
 *   - allocation failures during a cut (fail-nth sweep) leave everything
 *     as it was;
 *   - DMA threads on the kept part while another thread cuts granules out
 *     of every superpage: no fault, no wrong byte (also under TSan).
 *
 * Intervals in this file are [iova, iova + length) unless named last.
 */
#include <pthread.h>
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
static const size_t buf_len = 8 * SZ_2M; /* 2 MiB aligned */

static struct ufd_device_info dev_info(uint64_t pgsizes)
{
	return (struct ufd_device_info){
		.aperture_start = 1ULL << 20,
		.aperture_last = (1ULL << 39) - 1,
		.pgsize_bitmap = pgsizes,
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

/* An IOAS with @ndoms devices attached (each its own domain). */
static int setup(struct ufd_ctx *ctx, unsigned int ndoms, uint32_t *ioas,
		 uint32_t *devs)
{
	struct ufd_device_info info = dev_info(PS | SZ_2M | SZ_1G);
	unsigned int i;
	int rc;

	rc = ufd_ioas_alloc(ctx, ioas);
	for (i = 0; !rc && i != ndoms; i++) {
		uint32_t pt;

		rc = ufd_device_bind(ctx, &info, &devs[i]);
		if (!rc && i == 0) {
			pt = *ioas;
			rc = ufd_device_attach(ctx, devs[i], &pt);
		} else if (!rc) {
			/* A second domain: its own HWPT on the same IOAS. */
			rc = ufd_hwpt_alloc_paging(ctx, devs[i], *ioas, 0, &pt);
			if (!rc)
				rc = ufd_device_attach(ctx, devs[i], &pt);
		}
	}
	return rc;
}

struct area_list {
	struct ufd_area_info a[64];
	unsigned int n;
};

static int note_area(void *arg, const struct ufd_area_info *info)
{
	struct area_list *l = arg;

	if (l->n < 64)
		l->a[l->n] = *info;
	l->n++;
	return 0;
}

static struct area_list areas_of(struct ufd_ctx *ctx, uint32_t ioas)
{
	struct area_list l = { .n = 0 };

	ufd_ioas_for_each_area(ctx, ioas, note_area, &l);
	return l;
}

static unsigned int pins_at(uint64_t uaddr)
{
	unsigned int pins = 0;

	ufd_engine_page_pins(eng, src, uaddr, &pins);
	return pins;
}

/* The page-size runs of [iova, iova + len) of @pt. */
static uint32_t runs_of(struct ufd_ctx *ctx, uint32_t pt, uint64_t iova,
			uint64_t len, struct ufd_page_run *runs, uint32_t max)
{
	uint32_t num = 0;

	if (ufd_page_sizes_used(ctx, pt, iova, len, runs, max, &num))
		return UINT32_MAX;
	return num;
}

/* ---- the page table alone ---- */

/* Every granule of [iova, iova + len) maps host + offset with @flags. */
static bool maps_linear(const struct ufd_pgtable *pgt, uint64_t iova,
			uint64_t len, uint64_t host, uint64_t flags)
{
	uint64_t off;

	for (off = 0; off < len; off += PS) {
		uint64_t h, size, f;

		if (pgt_translate(pgt, iova + off, &h, &size, &f) ||
		    h != host + off || (f & (PGT_READ | PGT_WRITE)) != flags)
			return false;
	}
	return true;
}

static void test_pgt_split(void)
{
	/* The host addresses are never touched: the table only holds them. */
	const uint64_t host = 7 * SZ_1G, iova = SZ_1G;
	uint64_t cuts[2] = { iova + 3 * PS, iova + SZ_1G - 2 * SZ_2M + PS };
	struct ufd_pgtable pgt;
	struct pgt_split sp[2];
	unsigned int n, l;
	unsigned long nth;
	uint64_t tables;
	int rc;

	REQUIRE(pgt_init(&pgt, PS | SZ_2M | SZ_1G, (1ULL << 39) - 1) == 0);
	REQUIRE(pgt_map(&pgt, iova, host, SZ_1G, PGT_READ | PGT_WRITE, 0) ==
		0);
	CHECK_EQ(pgt.nr_leaves[2], 1);
	tables = pgt.nr_tables;

	/* Failing allocations: each leaves the table exactly as it was. */
	for (nth = 1;; nth++) {
		ufd_fail_nth(nth);
		rc = pgt_split_prepare(&pgt, cuts, 2, sp, 2, &n);
		ufd_fail_nth(0);
		if (!rc)
			break;
		CHECK_EQ(rc, -ENOMEM);
		CHECK_EQ(pgt.nr_tables, tables);
		CHECK_EQ(pgt.nr_leaves[2], 1);
		CHECK_EQ(pgt_check(&pgt), 0);
		REQUIRE(nth < 100);
	}
	CHECK(nth > 1);
	/* Both cuts lie in the one superpage: one split serves both. */
	REQUIRE(n == 1);
	/* Built, not published: walks still see the superpage. */
	CHECK_EQ(pgt.nr_leaves[2], 1);
	CHECK(maps_linear(&pgt, iova, SZ_1G, host, PGT_READ | PGT_WRITE));
	pgt_split_commit(&pgt, sp, n);
	CHECK_EQ(pgt_check(&pgt), 0);
	/* 510 2 MiB leaves, two 2 MiB ranges in 4 KiB pages. */
	CHECK_EQ(pgt.nr_leaves[2], 0);
	CHECK_EQ(pgt.nr_leaves[1], 510);
	CHECK_EQ(pgt.nr_leaves[0], 1024);
	CHECK_EQ(pgt.nr_tables, tables + 3);
	CHECK(maps_linear(&pgt, iova, SZ_1G, host, PGT_READ | PGT_WRITE));
	/* The cuts are leaf boundaries now: unmap between them is exact. */
	CHECK_EQ(pgt_unmap(&pgt, cuts[0], cuts[1] - cuts[0]), cuts[1] - cuts[0]);
	CHECK(maps_linear(&pgt, iova, cuts[0] - iova, host,
			  PGT_READ | PGT_WRITE));
	CHECK(maps_linear(&pgt, cuts[1], iova + SZ_1G - cuts[1],
			  host + cuts[1] - iova, PGT_READ | PGT_WRITE));
	CHECK_EQ(pgt_check(&pgt), 0);
	/* A cut on a leaf boundary splits nothing. */
	REQUIRE(pgt_split_prepare(&pgt, cuts, 1, sp, 2, &n) == 0);
	CHECK_EQ(n, 0);
	pgt_destroy(&pgt);

	/* No 2 MiB size: the 1 GiB leaf becomes 4 KiB leaves throughout,
	 * read-only stays read-only. */
	REQUIRE(pgt_init(&pgt, PS | SZ_1G, (1ULL << 39) - 1) == 0);
	REQUIRE(pgt_map(&pgt, iova, host, SZ_1G, PGT_READ, 0) == 0);
	REQUIRE(pgt_split_prepare(&pgt, cuts, 1, sp, 2, &n) == 0);
	REQUIRE(n == 1);
	pgt_split_commit(&pgt, sp, n);
	CHECK_EQ(pgt_check(&pgt), 0);
	CHECK_EQ(pgt.nr_leaves[0], SZ_1G / PS);
	for (l = 1; l != PGT_MAX_LEVELS; l++)
		CHECK_EQ(pgt.nr_leaves[l], 0);
	CHECK(maps_linear(&pgt, iova, SZ_1G, host, PGT_READ));
	/* Abort frees what prepare built. */
	tables = pgt.nr_tables;
	pgt_destroy(&pgt);
	REQUIRE(pgt_init(&pgt, PS | SZ_2M | SZ_1G, (1ULL << 39) - 1) == 0);
	REQUIRE(pgt_map(&pgt, iova, host, SZ_1G, PGT_READ, 0) == 0);
	tables = pgt.nr_tables;
	REQUIRE(pgt_split_prepare(&pgt, cuts, 2, sp, 2, &n) == 0);
	pgt_split_abort(&pgt, sp, n);
	CHECK_EQ(pgt.nr_tables, tables);
	CHECK_EQ(pgt_check(&pgt), 0);
	pgt_destroy(&pgt);
}

/* ---- the rules ---- */

static void test_rules(void)
{
	struct ufd_ctx *ctx = ctx_open();
	uint64_t va = (uintptr_t)buf, iova, unmapped;
	uint32_t ioas, dev[1];
	struct area_list l;

	REQUIRE(ctx);
	REQUIRE(setup(ctx, 1, &ioas, dev) == 0);
#define MAPG(u, len, io, fl, g)                                          \
	(iova = (io), ufd_ioas_map_granule(ctx, ioas, src, (u), (len), &iova, \
					   (fl), (g)))
	CHECK_EQ(MAPG(va, SZ_2M, SZ_1G, UFD_MAP_FIXED_IOVA | UFD_MAP_READ,
		      3 * PS), -EINVAL);
	CHECK_EQ(MAPG(va, SZ_2M, SZ_1G, UFD_MAP_FIXED_IOVA | UFD_MAP_READ,
		      PS / 2), -EINVAL);
	CHECK_EQ(MAPG(va, SZ_2M, SZ_1G, UFD_MAP_FIXED_IOVA | UFD_MAP_READ,
		      0), -EINVAL);
	CHECK_EQ(MAPG(va + PS, SZ_2M, SZ_1G,
		      UFD_MAP_FIXED_IOVA | UFD_MAP_READ, 2 * PS), -EINVAL);
	CHECK_EQ(MAPG(va, SZ_2M + PS, SZ_1G,
		      UFD_MAP_FIXED_IOVA | UFD_MAP_READ, 2 * PS), -EINVAL);
	CHECK_EQ(MAPG(va, SZ_2M, SZ_1G + PS,
		      UFD_MAP_FIXED_IOVA | UFD_MAP_READ, 2 * PS), -EINVAL);
	CHECK_EQ(MAPG(va, 0, SZ_1G, UFD_MAP_FIXED_IOVA | UFD_MAP_READ, PS),
		 -EINVAL);
	CHECK_EQ(MAPG(va, SZ_2M, SZ_1G, UFD_MAP_FIXED_IOVA, PS), -EINVAL);
	CHECK_EQ(MAPG(va, SZ_2M, SZ_1G, UFD_MAP_READ | (1u << 7), PS),
		 -EOPNOTSUPP);
	iova = 0;
	CHECK_EQ(ufd_ioas_map_granule(ctx, ioas + 100, src, va, SZ_2M, &iova,
				      UFD_MAP_READ, PS),
		 -ENOENT);
	CHECK_EQ(ufd_engine_check(eng), 0);
	l = areas_of(ctx, ioas);
	CHECK_EQ(l.n, 0);

	/* An allocated IOVA is a multiple of the granule, even above 2 MiB. */
	REQUIRE(MAPG(va, 8 * SZ_2M, 0, UFD_MAP_READ, 16 * SZ_2M) == -EINVAL);
	{
		/* buf is 2 MiB aligned only: a 2 MiB granule fits. */
		REQUIRE(MAPG(va, 4 * SZ_2M, 0, UFD_MAP_READ, SZ_2M) == 0);
		CHECK_EQ(iova % SZ_2M, 0);
		l = areas_of(ctx, ioas);
		REQUIRE(l.n == 1);
		CHECK_EQ(l.a[0].granule, SZ_2M);
		/* A cut off the granule: -EINVAL, nothing changes. */
		CHECK_EQ(ufd_ioas_unmap(ctx, ioas, iova + PS, SZ_2M, &unmapped),
			 -EINVAL);
		CHECK_EQ(ufd_ioas_unmap(ctx, ioas, iova, SZ_2M + PS, &unmapped),
			 -EINVAL);
		CHECK_EQ(ufd_ioas_unmap(ctx, ioas, iova + SZ_2M, SZ_2M,
					&unmapped), 0);
		CHECK_EQ(unmapped, SZ_2M);
		l = areas_of(ctx, ioas);
		CHECK_EQ(l.n, 2);
		CHECK_EQ(ufd_ioas_unmap(ctx, ioas, 0, UINT64_MAX, &unmapped),
			 0);
		CHECK_EQ(unmapped, 3 * SZ_2M);
	}

	/* A plain map refuses partial unmaps as before: -ENOENT. */
	iova = SZ_1G;
	REQUIRE(ufd_ioas_map(ctx, ioas, src, va, 2 * SZ_2M, &iova,
			     UFD_MAP_FIXED_IOVA | UFD_MAP_READ) == 0);
	CHECK_EQ(ufd_ioas_unmap(ctx, ioas, SZ_1G, PS, &unmapped), -ENOENT);
	CHECK_EQ(ufd_ioas_unmap(ctx, ioas, SZ_1G + SZ_2M, SZ_2M, &unmapped),
		 -ENOENT);
	CHECK_EQ(ufd_ioas_unmap_range(ctx, ioas, SZ_1G + PS, PS, &unmapped),
		 -ENOENT);
	l = areas_of(ctx, ioas);
	REQUIRE(l.n == 1);
	CHECK_EQ(l.a[0].granule, 0);
	/* A granule map beside it: an unmap over both cuts only the granule
	 * one, and the plain one must lie inside. */
	iova = SZ_1G + 2 * SZ_2M;
	REQUIRE(ufd_ioas_map_granule(ctx, ioas, src, va + 2 * SZ_2M,
				     2 * SZ_2M, &iova,
				     UFD_MAP_FIXED_IOVA | UFD_MAP_READ,
				     PS) == 0);
	CHECK_EQ(ufd_ioas_unmap(ctx, ioas, SZ_1G + PS, 2 * SZ_2M, &unmapped),
		 -ENOENT);
	CHECK_EQ(ufd_ioas_unmap(ctx, ioas, SZ_1G, 2 * SZ_2M + PS, &unmapped),
		 0);
	CHECK_EQ(unmapped, 2 * SZ_2M + PS);
	l = areas_of(ctx, ioas);
	REQUIRE(l.n == 1);
	CHECK_EQ(l.a[0].iova, SZ_1G + 2 * SZ_2M + PS);
	CHECK_EQ(l.a[0].uaddr, va + 2 * SZ_2M + PS);
	CHECK_EQ(l.a[0].granule, PS);
	CHECK_EQ(ufd_engine_check(eng), 0);
#undef MAPG
	ufd_ctx_close(ctx);
}

/* ---- a cut in the middle ---- */

static void test_cut_middle(void)
{
	struct ufd_ctx *ctx = ctx_open();
	const uint64_t base = SZ_1G, len = 4 * SZ_2M;
	const uint64_t cut = base + SZ_2M + 8 * PS; /* inside superpage 1 */
	uint64_t iova = base, unmapped, off;
	struct ufd_page_run runs[8];
	struct ufd_dma *dma;
	uint32_t ioas, dev[2];
	struct area_list l;
	uint8_t b[64];

	REQUIRE(ctx);
	REQUIRE(setup(ctx, 2, &ioas, dev) == 0);
	for (off = 0; off < len; off += PS)
		buf[off] = (uint8_t)(off / PS);
	REQUIRE(ufd_ioas_map_granule(ctx, ioas, src, (uintptr_t)buf, len,
				     &iova,
				     UFD_MAP_FIXED_IOVA | UFD_MAP_READ |
					     UFD_MAP_WRITE,
				     PS) == 0);
	/* Superpages as for a plain map. */
	REQUIRE(runs_of(ctx, ioas, base, len, runs, 8) == 1);
	CHECK_EQ(runs[0].page_size, SZ_2M);
	CHECK_EQ(areas_of(ctx, ioas).a[0].pinned_bytes, len);

	CHECK_EQ(ufd_ioas_unmap(ctx, ioas, cut, 2 * PS, &unmapped), 0);
	CHECK_EQ(unmapped, 2 * PS);
	CHECK_EQ(ufd_engine_check(eng), 0);
	l = areas_of(ctx, ioas);
	REQUIRE(l.n == 2);
	CHECK_EQ(l.a[0].iova, base);
	CHECK_EQ(l.a[0].length, cut - base);
	CHECK_EQ(l.a[1].iova, cut + 2 * PS);
	CHECK_EQ(l.a[1].length, base + len - cut - 2 * PS);
	CHECK_EQ(l.a[1].uaddr, (uintptr_t)buf + cut + 2 * PS - base);
	CHECK_EQ(l.a[0].pages_id, l.a[1].pages_id);
	CHECK_EQ(l.a[0].granule, PS);
	CHECK_EQ(l.a[1].granule, PS);
	/* The cut pages are unpinned; their neighbours are not. */
	CHECK_EQ(l.a[0].pinned_bytes, len - 2 * PS);
	CHECK_EQ(pins_at((uintptr_t)buf + cut - base), 0);
	CHECK_EQ(pins_at((uintptr_t)buf + cut - base + PS), 0);
	CHECK_EQ(pins_at((uintptr_t)buf + cut - base - PS), 1);
	CHECK_EQ(pins_at((uintptr_t)buf + cut - base + 2 * PS), 1);
	/* Only the cut superpage was split, in both domains. */
	REQUIRE(runs_of(ctx, ioas, base, len, runs, 8) == 4);
	CHECK_EQ(runs[0].page_size, SZ_2M);
	CHECK_EQ(runs[0].last, base + SZ_2M - 1);
	CHECK_EQ(runs[1].page_size, PS);
	CHECK_EQ(runs[1].last, cut - 1);
	CHECK_EQ(runs[2].page_size, PS);
	CHECK_EQ(runs[2].start, cut + 2 * PS);
	CHECK_EQ(runs[2].last, base + 2 * SZ_2M - 1);
	CHECK_EQ(runs[3].page_size, SZ_2M);

	/* DMA: the rest as before, the cut part faults. */
	REQUIRE(ufd_dma_open(ctx, dev[1], &dma) == 0);
	for (off = 0; off < len; off += PS) {
		int rc = ufd_dma_read(dma, base + off, b, 1);

		if (base + off >= cut && base + off < cut + 2 * PS) {
			CHECK_EQ(rc, -EFAULT);
			continue;
		}
		CHECK_EQ(rc, 0);
		CHECK_EQ(b[0], (uint8_t)(off / PS));
	}
	b[0] = 0xee;
	CHECK_EQ(ufd_dma_write(dma, cut - 1, b, 1), 0);
	CHECK_EQ(buf[cut - base - 1], 0xee);
	CHECK_EQ(ufd_dma_write(dma, cut - 1, b, 2), -EFAULT);
	ufd_dma_close(dma);

	/* Cutting the cut pieces again, then the whole rest. */
	CHECK_EQ(ufd_ioas_unmap(ctx, ioas, base + SZ_2M, 8 * PS, &unmapped),
		 0);
	CHECK_EQ(ufd_ioas_unmap(ctx, ioas, cut, 2 * PS, &unmapped), -ENOENT);
	CHECK_EQ(ufd_ioas_unmap(ctx, ioas, base + 3 * SZ_2M, SZ_2M, &unmapped),
		 0);
	CHECK_EQ(runs_of(ctx, ioas, base, len, runs, 8), 3);
	CHECK_EQ(ufd_engine_check(eng), 0);
	CHECK_EQ(ufd_ioas_unmap(ctx, ioas, 0, UINT64_MAX, &unmapped), 0);
	CHECK_EQ(unmapped, len - 10 * PS - SZ_2M);
	CHECK_EQ(pins_at((uintptr_t)buf), 0);
	CHECK_EQ(ufd_engine_check(eng), 0);
	ufd_ctx_close(ctx);
}

/* ---- every granule, one by one ---- */

static void test_every_granule(void)
{
	const uint64_t base = 4 * SZ_1G, len = 2 * SZ_2M, g = 16 * PS;
	const unsigned int n = len / g;
	struct ufd_ctx *ctx = ctx_open();
	uint64_t iova = base, unmapped, total = 0;
	uint32_t ioas, dev[2];
	unsigned int i, k;

	REQUIRE(ctx);
	REQUIRE(setup(ctx, 2, &ioas, dev) == 0);
	REQUIRE(ufd_ioas_map_granule(ctx, ioas, src, (uintptr_t)buf, len,
				     &iova, UFD_MAP_FIXED_IOVA | UFD_MAP_READ,
				     g) == 0);
	/* A stride coprime to n visits each granule once, out of order. */
	for (i = 0, k = 0; i != n; i++, k = (k + 37) % n) {
		CHECK_EQ(ufd_ioas_unmap(ctx, ioas, base + k * g, g, &unmapped),
			 0);
		CHECK_EQ(unmapped, g);
		total += unmapped;
		CHECK_EQ(pins_at((uintptr_t)buf + k * g), 0);
		CHECK_EQ(pins_at((uintptr_t)buf + k * g + g - PS), 0);
		if (i % 16 == 0)
			CHECK_EQ(ufd_engine_check(eng), 0);
	}
	CHECK_EQ(total, len);
	CHECK_EQ(areas_of(ctx, ioas).n, 0);
	for (i = 0; i != n; i++)
		CHECK_EQ(pins_at((uintptr_t)buf + i * g), 0);
	CHECK_EQ(ufd_engine_check(eng), 0);
	ufd_ctx_close(ctx);
}

/* ---- access pins move with their piece ---- */

struct acc_state {
	struct ufd_ctx *ctx;
	uint32_t id;
	unsigned int unmaps;
	/* A cooperating device drops this pin when it is in the way. */
	uint64_t pin_iova, pin_len;
};

static void acc_unmap(void *priv, uint64_t iova, uint64_t length)
{
	struct acc_state *a = priv;

	a->unmaps++;
	if (a->pin_len && iova < a->pin_iova + a->pin_len &&
	    a->pin_iova < iova + length) {
		/* Back into the engine from its callback. */
		ufd_access_unpin(a->ctx, a->id, a->pin_iova, a->pin_len);
		a->pin_len = 0;
	}
}

static void test_access_pins(void)
{
	static const struct ufd_access_ops ops = { .unmap = acc_unmap };
	const uint64_t base = SZ_1G;
	struct ufd_ctx *ctx = ctx_open();
	struct acc_state a = { .ctx = ctx };
	uint64_t iova = base, unmapped;
	void *host[2];
	uint32_t ioas, dev[1];

	REQUIRE(ctx);
	REQUIRE(setup(ctx, 1, &ioas, dev) == 0);
	REQUIRE(ufd_ioas_map_granule(ctx, ioas, src, (uintptr_t)buf, SZ_2M,
				     &iova,
				     UFD_MAP_FIXED_IOVA | UFD_MAP_READ |
					     UFD_MAP_WRITE,
				     PS) == 0);
	REQUIRE(ufd_access_create(ctx, ioas, &ops, &a, &a.id) == 0);
	/* Pins below and above the cut. */
	REQUIRE(ufd_access_pin(ctx, a.id, base, PS, false, host) == 0);
	REQUIRE(ufd_access_pin(ctx, a.id, base + 100 * PS, 2 * PS, true,
			       host) == 0);
	CHECK_EQ(ufd_ioas_unmap(ctx, ioas, base + 10 * PS, 10 * PS,
				&unmapped), 0);
	CHECK_EQ(a.unmaps, 0); /* no pin in the cut part: nobody is told */
	CHECK_EQ(ufd_engine_check(eng), 0);
	/* The pin above now belongs to the upper piece: unmapping it asks the
	 * access, which keeps its pin: -EDEADLK, nothing unmapped. */
	CHECK_EQ(ufd_ioas_unmap(ctx, ioas, base + 20 * PS, SZ_2M - 20 * PS,
				&unmapped), -EDEADLK);
	CHECK(a.unmaps > 0);
	/* A cut through a pinned range: asked, refused, unchanged. */
	a.unmaps = 0;
	CHECK_EQ(ufd_ioas_unmap(ctx, ioas, base + 101 * PS, PS, &unmapped),
		 -EDEADLK);
	CHECK_EQ(a.unmaps, 1);
	CHECK_EQ(areas_of(ctx, ioas).n, 2);
	ufd_access_unpin(ctx, a.id, base + 100 * PS, 2 * PS);
	CHECK_EQ(ufd_ioas_unmap(ctx, ioas, base + 101 * PS, PS, &unmapped), 0);
	ufd_access_unpin(ctx, a.id, base, PS);
	/* A device that unpins when told: the cut goes ahead. */
	REQUIRE(ufd_access_pin(ctx, a.id, base + 200 * PS, 2 * PS, false,
			       host) == 0);
	a.pin_iova = base + 200 * PS;
	a.pin_len = 2 * PS;
	a.unmaps = 0;
	CHECK_EQ(ufd_ioas_unmap(ctx, ioas, base + 201 * PS, PS, &unmapped), 0);
	CHECK_EQ(a.unmaps, 1);
	CHECK_EQ(a.pin_len, 0);
	CHECK_EQ(areas_of(ctx, ioas).n, 4);
	CHECK_EQ(ufd_engine_check(eng), 0);
	ufd_access_destroy(ctx, a.id);
	CHECK_EQ(ufd_ioas_unmap(ctx, ioas, 0, UINT64_MAX, &unmapped), 0);
	CHECK_EQ(unmapped, SZ_2M - 12 * PS);
	CHECK_EQ(pins_at((uintptr_t)buf), 0);
	ufd_ctx_close(ctx);
}

/* ---- a file source ---- */

static void test_file(void)
{
	const uint64_t base = SZ_1G, len = 2 * SZ_2M;
	struct ufd_ctx *ctx = ctx_open();
	struct ufd_source *fsrc = NULL;
	uint64_t iova = base, unmapped;
	struct ufd_dma *dma;
	uint32_t ioas, dev[1];
	uint8_t *map, b = 0;
	int fd;

	REQUIRE(ctx);
	REQUIRE(setup(ctx, 1, &ioas, dev) == 0);
	fd = memfd_create("granule", 0);
	REQUIRE(fd >= 0);
	REQUIRE(ftruncate(fd, (off_t)len) == 0);
	map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	REQUIRE(map != MAP_FAILED);
	map[len - 1] = 0x5a;
	REQUIRE(ufd_source_file(fd, 0, len, true, &fsrc) == 0);
	/* The offset obeys the granule as an address would. */
	CHECK_EQ(ufd_ioas_map_granule(ctx, ioas, fsrc, PS, len - 2 * PS,
				      &iova, UFD_MAP_FIXED_IOVA | UFD_MAP_READ,
				      2 * PS), -EINVAL);
	REQUIRE(ufd_ioas_map_granule(ctx, ioas, fsrc, 0, len, &iova,
				     UFD_MAP_FIXED_IOVA | UFD_MAP_READ, PS) ==
		0);
	CHECK_EQ(ufd_ioas_unmap(ctx, ioas, base + SZ_2M, PS, &unmapped), 0);
	CHECK_EQ(areas_of(ctx, ioas).n, 2);
	REQUIRE(ufd_dma_open(ctx, dev[0], &dma) == 0);
	CHECK_EQ(ufd_dma_read(dma, base + len - 1, &b, 1), 0);
	CHECK_EQ(b, 0x5a);
	CHECK_EQ(ufd_dma_read(dma, base + SZ_2M, &b, 1), -EFAULT);
	ufd_dma_close(dma);
	CHECK_EQ(ufd_engine_check(eng), 0);
	CHECK_EQ(ufd_ioas_unmap(ctx, ioas, 0, UINT64_MAX, &unmapped), 0);
	CHECK_EQ(unmapped, len - PS);
	ufd_ctx_close(ctx);
	ufd_source_put(fsrc);
	munmap(map, len);
	close(fd);
}

/* ---- allocation failures during a cut ---- */

static void test_fail_nth(void)
{
	const uint64_t base = SZ_1G, len = 4 * SZ_2M;
	unsigned long nth;
	unsigned int failures = 0;

	for (nth = 1; nth < 200; nth++) {
		struct ufd_ctx *ctx = ctx_open();
		struct ufd_page_run before[8], after[8];
		uint64_t iova = base, unmapped = 0;
		uint32_t ioas, dev[2], nb, na;
		struct area_list l;
		int rc;

		REQUIRE(ctx);
		REQUIRE(setup(ctx, 2, &ioas, dev) == 0);
		REQUIRE(ufd_ioas_map_granule(ctx, ioas, src, (uintptr_t)buf,
					     len, &iova,
					     UFD_MAP_FIXED_IOVA | UFD_MAP_READ,
					     PS) == 0);
		/* A first cut, so the second meets split and whole leaves. */
		REQUIRE(ufd_ioas_unmap(ctx, ioas, base + 5 * PS, PS,
				       &unmapped) == 0);
		nb = runs_of(ctx, ioas, base, len, before, 8);
		ufd_fail_nth(nth);
		/* Two cuts in one area: one between 4 KiB leaves, one
		 * through a superpage. */
		rc = ufd_ioas_unmap(ctx, ioas, base + 7 * PS,
				    2 * SZ_2M + 3 * PS, &unmapped);
		ufd_fail_nth(0);
		CHECK(rc == 0 || rc == -ENOMEM);
		CHECK_EQ(ufd_engine_check(eng), 0);
		l = areas_of(ctx, ioas);
		na = runs_of(ctx, ioas, base, len, after, 8);
		if (rc) {
			failures++;
			CHECK_EQ(l.n, 2);
			CHECK_EQ(l.a[0].pinned_bytes, len - PS);
			CHECK_EQ(pins_at((uintptr_t)buf + 7 * PS), 1);
			CHECK_EQ(na, nb);
			CHECK(!memcmp(before, after, sizeof(before[0]) * nb));
		} else {
			CHECK_EQ(unmapped, 2 * SZ_2M + 3 * PS);
			CHECK_EQ(l.n, 3);
			CHECK_EQ(pins_at((uintptr_t)buf + 7 * PS), 0);
		}
		ufd_ctx_close(ctx);
		if (!rc)
			break;
	}
	CHECK(failures > 3);
	CHECK(nth < 200);
	CHECK_EQ(pins_at((uintptr_t)buf), 0);
}

/* ---- DMA while superpages are split ---- */

#define NREADERS 2
#define NSUPER 8 /* 2 MiB superpages mapped */
#define KEEP (SZ_2M / 2) /* each superpage's lower half stays mapped */

struct reader {
	struct ufd_dma *dma;
	unsigned int seed;
	unsigned long ops, faults, wrong;
	unsigned int *stop;
};

static void *reader_thread(void *arg)
{
	struct reader *r = arg;
	const uint64_t base = SZ_1G;

	while (!__atomic_load_n(r->stop, __ATOMIC_ACQUIRE)) {
		uint64_t s = rand_r(&r->seed) % NSUPER;
		uint64_t off = s * SZ_2M +
			       (rand_r(&r->seed) % (KEEP / 8)) * 8;
		uint64_t v;

		/* Reads only: the kept half's content is fixed. */
		if (ufd_dma_read(r->dma, base + off, &v, sizeof(v))) {
			r->faults++;
		} else if (v != off) {
			r->wrong++;
		}
		__atomic_store_n(&r->ops, r->ops + 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

static void test_dma_during_split(void)
{
	const uint64_t base = SZ_1G, len = NSUPER * SZ_2M;
	struct reader rd[NREADERS];
	pthread_t t[NREADERS];
	struct ufd_ctx *ctx = ctx_open();
	struct ufd_page_run runs[4];
	uint64_t iova, unmapped, off;
	unsigned int stop, i, s, round;
	uint32_t ioas, dev[1];
	unsigned long ops = 0;

	REQUIRE(ctx);
	REQUIRE(setup(ctx, 1, &ioas, dev) == 0);
	for (off = 0; off < len; off += 8)
		*(uint64_t *)(buf + off) = off;
	for (round = 0; round != 10; round++) {
		iova = base;
		REQUIRE(ufd_ioas_map_granule(ctx, ioas, src, (uintptr_t)buf,
					     len, &iova,
					     UFD_MAP_FIXED_IOVA | UFD_MAP_READ,
					     PS) == 0);
		REQUIRE(runs_of(ctx, ioas, base, len, runs, 4) == 1);
		CHECK_EQ(runs[0].page_size, SZ_2M);
		stop = 0;
		for (i = 0; i != NREADERS; i++) {
			rd[i] = (struct reader){ .seed = 17 + i + 2 * round,
						 .stop = &stop };
			REQUIRE(ufd_dma_open(ctx, dev[0], &rd[i].dma) == 0);
			REQUIRE(pthread_create(&t[i], NULL, reader_thread,
					       &rd[i]) == 0);
		}
		/* The readers are under way before the first split. */
		for (i = 0; i != NREADERS; i++)
			while (!__atomic_load_n(&rd[i].ops, __ATOMIC_RELAXED))
				sched_yield();
		/* From the top of each superpage down to its kept half, 8
		 * pages at a time: the first cut splits the superpage under
		 * the readers. */
		for (off = SZ_2M - PS; off >= KEEP; off -= 8 * PS)
			for (s = 0; s != NSUPER; s++) {
				uint64_t at = base + s * SZ_2M + off - 7 * PS;

				CHECK_EQ(ufd_ioas_unmap(ctx, ioas, at, 8 * PS,
							&unmapped), 0);
			}
		__atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
		for (i = 0; i != NREADERS; i++) {
			pthread_join(t[i], NULL);
			ufd_dma_close(rd[i].dma);
			CHECK_EQ(rd[i].faults, 0);
			CHECK_EQ(rd[i].wrong, 0);
			ops += rd[i].ops;
		}
		CHECK_EQ(areas_of(ctx, ioas).n, NSUPER);
		REQUIRE(runs_of(ctx, ioas, base, SZ_2M, runs, 4) == 1);
		CHECK_EQ(runs[0].page_size, PS);
		CHECK_EQ(runs[0].last, base + KEEP - 1);
		CHECK_EQ(ufd_engine_check(eng), 0);
		CHECK_EQ(ufd_ioas_unmap(ctx, ioas, 0, UINT64_MAX, &unmapped),
			 0);
		CHECK_EQ(unmapped, NSUPER * KEEP);
	}
	fprintf(stderr, "  %lu DMA reads during %u superpage splits\n", ops,
		10 * NSUPER);
	CHECK_EQ(pins_at((uintptr_t)buf), 0);
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
	RUN(test_pgt_split);
	RUN(test_rules);
	RUN(test_cut_middle);
	RUN(test_every_granule);
	RUN(test_access_pins);
	RUN(test_file);
	RUN(test_fail_nth);
	RUN(test_dma_during_split);
	ufd_source_put(src);
	ufd_engine_free(eng);
	munmap(area, buf_len + SZ_2M);
	HARNESS_EXIT();
}
