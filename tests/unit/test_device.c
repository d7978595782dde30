/* SPDX-License-Identifier: MIT */
/*
 * Devices, domains and the DMA path through the public API, written from
 * the iommufd documentation: attaching narrows the IOVA space and fails
 * when a mapping would be cut; a domain pins at map time (EFAULT for
 * missing memory) and once per pages object however many domains; DMA
 * goes through the page table with permissions and dirty bits, never
 * races an unmap; fault queues deliver whole groups.
 */
#include <pthread.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "engine/engine.h"
#define HARNESS_MMAP
#include "harness.h"

#define PS 4096ULL

static struct ufd_engine *eng;
static struct ufd_source *src;
static uint8_t *buf;
static const size_t buf_len = 512 * PS; /* 2 MiB, 2 MiB aligned */

static const struct ufd_iova_range msi = { 0xfee00000, 0xfeefffff };

static struct ufd_device_info dev_info(void)
{
	return (struct ufd_device_info){
		.aperture_start = 1ULL << 20,
		.aperture_last = (1ULL << 39) - 1,
		.pgsize_bitmap = PS | (2ULL << 20) | (1ULL << 30),
		.reserved = &msi,
		.nr_reserved = 1,
		.dirty_tracking = true,
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

static unsigned int pins_at(uint64_t uaddr)
{
	unsigned int pins = ~0u;

	ufd_engine_page_pins(eng, src, uaddr, &pins);
	return pins;
}

static void test_attach_narrows_and_fills(void)
{
	struct ufd_device_info info = dev_info();
	struct ufd_ctx *ctx = ctx_open();
	struct ufd_iova_range r[4];
	uint32_t ioas, dev, dev2, pt, pt2, num;
	uint64_t iova, align, sizes[4], counts[4];
	unsigned int n;

	REQUIRE(ctx);
	REQUIRE(ufd_ioas_alloc(ctx, &ioas) == 0);
	REQUIRE(ufd_device_bind(ctx, &info, &dev) == 0);
	REQUIRE(ufd_device_bind(ctx, &info, &dev2) == 0);
	CHECK_EQ(ufd_destroy(ctx, dev), -EBUSY); /* owned by its driver */

	/* A mapping below the aperture stops the attach. */
	iova = 0;
	REQUIRE(ufd_ioas_map(ctx, ioas, src, (uintptr_t)buf, PS, &iova,
			     UFD_MAP_FIXED_IOVA | UFD_MAP_READ) == 0);
	pt = ioas;
	CHECK_EQ(ufd_device_attach(ctx, dev, &pt), -EADDRINUSE);
	CHECK_EQ(ufd_ioas_unmap(ctx, ioas, 0, PS, NULL), 0);

	/* Map first, attach later: the new domain is filled, with 2 MiB. */
	iova = 1ULL << 30;
	REQUIRE(ufd_ioas_map(ctx, ioas, src, (uintptr_t)buf, buf_len, &iova,
			     UFD_MAP_FIXED_IOVA | UFD_MAP_READ |
				     UFD_MAP_WRITE) == 0);
	CHECK_EQ(pins_at((uintptr_t)buf), 0);
	pt = ioas;
	CHECK_EQ(ufd_device_attach(ctx, dev, &pt), 0);
	CHECK(pt != ioas);
	CHECK_EQ(pins_at((uintptr_t)buf), 1);
	CHECK_EQ(ufd_hwpt_page_sizes(ctx, pt, sizes, counts, 4, &n), 0);
	CHECK_EQ(n, 1);
	CHECK_EQ(sizes[0], 2ULL << 20);
	CHECK_EQ(counts[0], 1);
	/* The IOVA space is now the aperture less the MSI window. */
	CHECK_EQ(ufd_ioas_iova_ranges(ctx, ioas, r, 4, &num, &align), 0);
	CHECK_EQ(num, 2);
	CHECK_EQ(r[0].start, 1ULL << 20);
	CHECK_EQ(r[0].last, msi.start - 1);
	CHECK_EQ(r[1].last, (1ULL << 39) - 1);
	CHECK_EQ(align, PS);
	/* A second device shares the automatic HWPT; still one pin. */
	pt2 = ioas;
	CHECK_EQ(ufd_device_attach(ctx, dev2, &pt2), 0);
	CHECK_EQ(pt2, pt);
	CHECK_EQ(ufd_destroy(ctx, pt), -EBUSY);
	CHECK_EQ(pins_at((uintptr_t)buf), 1);
	/* With a domain, mapping missing memory fails at once. */
	{
		void *hole = mmap(NULL, 2 * PS, PROT_NONE,
				  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		REQUIRE(hole != MAP_FAILED);
		munmap(hole, 2 * PS);
		CHECK_EQ(ufd_ioas_map(ctx, ioas, src, (uintptr_t)hole, 2 * PS,
				      &iova, UFD_MAP_READ),
			 -EFAULT);
	}
	CHECK_EQ(ufd_engine_check(eng), 0);
	/* The automatic HWPT dies with its last device; pins go with it. */
	CHECK_EQ(ufd_device_detach(ctx, dev), 0);
	CHECK_EQ(ufd_device_detach(ctx, dev), -EINVAL);
	CHECK_EQ(ufd_obj_kind(ctx, pt), UFD_KIND_HWPT_PAGING);
	CHECK_EQ(ufd_device_detach(ctx, dev2), 0);
	CHECK_EQ(ufd_obj_kind(ctx, pt), UFD_KIND_NONE);
	CHECK_EQ(pins_at((uintptr_t)buf), 0);
	CHECK_EQ(ufd_ioas_iova_ranges(ctx, ioas, r, 4, &num, &align), 0);
	CHECK_EQ(num, 1);
	CHECK_EQ(ufd_engine_check(eng), 0);
	ufd_ctx_close(ctx);
	CHECK_EQ(pins_at((uintptr_t)buf), 0);
}

static void test_query_attach(void)
{
	struct ufd_device_info info = dev_info();
	struct ufd_ctx *ctx = ctx_open();
	struct ufd_iova_range r[4], after[4];
	uint32_t ioas, dev, pt, num, num2;
	uint64_t align, align2, iova = 0;

	REQUIRE(ctx);
	REQUIRE(ufd_ioas_alloc(ctx, &ioas) == 0);
	REQUIRE(ufd_device_bind(ctx, &info, &dev) == 0);
	/* A mapping below the aperture: the query says no, changes nothing. */
	REQUIRE(ufd_ioas_map(ctx, ioas, src, (uintptr_t)buf, PS, &iova,
			     UFD_MAP_FIXED_IOVA | UFD_MAP_READ) == 0);
	CHECK_EQ(ufd_device_query_attach(ctx, dev, ioas, r, 4, &num, &align),
		 -EADDRINUSE);
	CHECK_EQ(ufd_ioas_iova_ranges(ctx, ioas, after, 4, &num2, &align2), 0);
	CHECK_EQ(num2, 1);
	CHECK_EQ(ufd_ioas_unmap(ctx, ioas, 0, PS, NULL), 0);
	/* Otherwise it predicts exactly what the attach then does. */
	CHECK_EQ(ufd_device_query_attach(ctx, dev, ioas, r, 4, &num, &align),
		 0);
	CHECK_EQ(num, 2);
	CHECK_EQ(r[0].start, info.aperture_start);
	CHECK_EQ(r[0].last, msi.start - 1);
	CHECK_EQ(align, PS);
	pt = ioas;
	REQUIRE(ufd_device_attach(ctx, dev, &pt) == 0);
	CHECK_EQ(ufd_ioas_iova_ranges(ctx, ioas, after, 4, &num2, &align2), 0);
	CHECK_EQ(num2, num);
	CHECK(!memcmp(after, r, num * sizeof(r[0])));
	CHECK_EQ(align2, align);
	ufd_ctx_close(ctx);
}

static void test_replace_and_explicit(void)
{
	struct ufd_device_info info = dev_info();
	struct ufd_ctx *ctx = ctx_open();
	uint32_t a, b, dev, pt, auto_a, explicit;

	REQUIRE(ctx);
	REQUIRE(ufd_ioas_alloc(ctx, &a) == 0);
	REQUIRE(ufd_ioas_alloc(ctx, &b) == 0);
	REQUIRE(ufd_device_bind(ctx, &info, &dev) == 0);
	pt = a;
	REQUIRE(ufd_device_attach(ctx, dev, &pt) == 0);
	auto_a = pt;
	CHECK_EQ(ufd_device_attach(ctx, dev, &pt), -EINVAL);
	/* Replace to another IOAS frees the old automatic HWPT. */
	pt = b;
	CHECK_EQ(ufd_device_replace(ctx, dev, &pt), 0);
	CHECK(pt != auto_a);
	pt = auto_a;
	CHECK_EQ(ufd_device_replace(ctx, dev, &pt), -ENOENT);
	CHECK_EQ(ufd_destroy(ctx, a), 0); /* nothing uses it now */
	/* Explicit HWPTs live until destroyed, busy while attached. */
	CHECK_EQ(ufd_hwpt_alloc_paging(ctx, dev, b, 1u << 7, &explicit),
		 -EOPNOTSUPP);
	CHECK_EQ(ufd_hwpt_alloc_paging(ctx, dev, b, UFD_HWPT_DIRTY_TRACKING,
				       &explicit),
		 0);
	pt = explicit;
	CHECK_EQ(ufd_device_replace(ctx, dev, &pt), 0);
	CHECK_EQ(ufd_destroy(ctx, explicit), -EBUSY);
	pt = b;
	CHECK_EQ(ufd_device_replace(ctx, dev, &pt), 0);
	CHECK_EQ(ufd_destroy(ctx, explicit), 0);
	CHECK_EQ(ufd_destroy(ctx, b), -EBUSY);
	CHECK_EQ(ufd_engine_check(eng), 0);
	ufd_ctx_close(ctx);
}

static void add_len(void *arg, uint64_t iova, uint64_t len)
{
	*(uint64_t *)arg += len;
}

static void dma_path_run(unsigned int aperture_bits)
{
	struct ufd_device_info info = dev_info();
	struct ufd_ctx *ctx = ctx_open();
	uint32_t ioas, dev, pt;
	struct ufd_dma *dma;
	struct ufd_sg sg[4];
	unsigned int nsg;
	uint64_t iova = 1ULL << 30, ro = (1ULL << 30) + (4ULL << 20);
	uint64_t small = (1ULL << 30) + (8ULL << 20);
	char out[64];
	uint64_t dirty_len = 0;
	size_t n;

	info.aperture_last = (1ULL << aperture_bits) - 1;
	REQUIRE(ctx);
	REQUIRE(ufd_ioas_alloc(ctx, &ioas) == 0);
	REQUIRE(ufd_device_bind(ctx, &info, &dev) == 0);
	REQUIRE(ufd_hwpt_alloc_paging(ctx, dev, ioas, UFD_HWPT_DIRTY_TRACKING,
				      &pt) == 0);
	REQUIRE(ufd_device_attach(ctx, dev, &pt) == 0);
	REQUIRE(ufd_ioas_map(ctx, ioas, src, (uintptr_t)buf, buf_len, &iova,
			     UFD_MAP_FIXED_IOVA | UFD_MAP_READ |
				     UFD_MAP_WRITE) == 0);
	REQUIRE(ufd_ioas_map(ctx, ioas, src, (uintptr_t)buf, PS, &ro,
			     UFD_MAP_FIXED_IOVA | UFD_MAP_READ) == 0);
	REQUIRE(ufd_dma_open(ctx, dev, &dma) == 0);
	CHECK_EQ(ufd_device_unbind(ctx, dev), -EBUSY);

	memcpy(buf + 100, "hello, device", 14);
	CHECK_EQ(ufd_dma_read(dma, iova + 100, out, 14), 0);
	CHECK(!memcmp(out, "hello, device", 14));
	/*
	 * Every small size (copied inline) and longer ones, in a leaf and
	 * across two 4 KiB leaves that are not contiguous in memory (IOVA
	 * small + PS is buf + 10 pages): the walk must not run off a leaf.
	 */
	{
		uint64_t second = small + PS;
		uint8_t *a = buf + 8 * PS, *b = buf + 10 * PS;

		REQUIRE(ufd_ioas_map(ctx, ioas, src, (uintptr_t)a, PS, &small,
				     UFD_MAP_FIXED_IOVA | UFD_MAP_READ |
					     UFD_MAP_WRITE) == 0);
		REQUIRE(ufd_ioas_map(ctx, ioas, src, (uintptr_t)b, PS, &second,
				     UFD_MAP_FIXED_IOVA | UFD_MAP_READ |
					     UFD_MAP_WRITE) == 0);
		for (n = 0; n <= 40; n++) {
			char want[64];
			size_t i, k = n < 20 ? n : 20;

			for (i = 0; i != 64; i++) {
				a[PS - 32 + i / 2] = (uint8_t)(i * 7 + n);
				b[i] = (uint8_t)(i * 11 + n);
			}
			CHECK_EQ(ufd_dma_read(dma, small + 5, out, n), 0);
			CHECK(!memcmp(out, a + 5, n));
			/* 20 bytes from the first page, the rest from b */
			memcpy(want, a + PS - 20, k);
			memcpy(want + k, b, n - k);
			memset(out, 0, sizeof(out));
			CHECK_EQ(ufd_dma_read(dma, small + PS - 20, out, n), 0);
			CHECK(!memcmp(out, want, n));
			memset(out, (int)(0x40 + n), sizeof(out));
			CHECK_EQ(ufd_dma_write(dma, small + PS - 20, out, n), 0);
			CHECK(!memcmp(a + PS - 20, out, k));
			CHECK(!memcmp(b, out + k, n - k));
		}
	}
	CHECK_EQ(ufd_dma_read(dma, small + 2 * PS - 4, out, 8), -EFAULT);
	CHECK_EQ(ufd_dma_read(dma, small + 2 * PS, out, 0), 0);
	CHECK_EQ(ufd_dma_read(dma, UINT64_MAX - 3, out, 8), -EFAULT);
	CHECK_EQ(ufd_dma_read(dma, 1ULL << aperture_bits, out, 8), -EFAULT);
	CHECK_EQ(ufd_ioas_unmap(ctx, ioas, small, 2 * PS, NULL), 0);
	CHECK_EQ(ufd_dma_write(dma, iova + PS - 3, "across", 7), 0);
	CHECK(!memcmp(buf + PS - 3, "across", 7));
	/* Faults: nothing mapped, and writing a read-only mapping. */
	CHECK_EQ(ufd_dma_read(dma, 1ULL << 20, out, 4), -EFAULT);
	CHECK_EQ(ufd_dma_write(dma, ro, "x", 1), -EFAULT);
	CHECK_EQ(ufd_dma_read(dma, ro, out, 1), 0);
	/* Scatter list: one segment, the 2 MiB leaf is contiguous. */
	CHECK_EQ(ufd_dma_map_sg(dma, iova + 8, 3 * PS, false, sg, 4, &nsg), 0);
	CHECK_EQ(nsg, 1);
	CHECK(sg[0].host == buf + 8 && sg[0].len == 3 * PS);
	ufd_dma_unmap_sg(dma);
	/* Dirty tracking: a DMA write marks its IO page. */
	REQUIRE(ufd_hwpt_set_dirty_tracking(ctx, pt, true) == 0);
	CHECK_EQ(ufd_dma_write(dma, iova + 5 * PS, "d", 1), 0);
	CHECK_EQ(ufd_hwpt_read_dirty(ctx, pt, iova, buf_len, PS, false,
				     add_len, &dirty_len),
		 0);
	CHECK_EQ(dirty_len, 2ULL << 20); /* reported at the leaf's size */
	/* After unmap, DMA faults. */
	CHECK_EQ(ufd_ioas_unmap(ctx, ioas, iova, buf_len, NULL), 0);
	CHECK_EQ(ufd_dma_read(dma, iova, out, 1), -EFAULT);
	ufd_dma_close(dma);
	CHECK_EQ(ufd_engine_check(eng), 0);
	ufd_ctx_close(ctx);
}

/* 3 levels of tables and 4 (the walk ufd_dma_read/write inline). */
static void test_dma_path(void)
{
	dma_path_run(39);
	dma_path_run(48);
}

/*
 * A port's walk cache across changes: an unmap keeps it (only entries
 * change), and the walk then sees the tables as they are (the mapping's
 * intermediate tables freed with it and new ones made by the next map);
 * a replace and the dirty tracking switch empty it.
 */
static void dma_cache_run(unsigned int aperture_bits)
{
	struct ufd_device_info info = dev_info();
	struct ufd_ctx *ctx = ctx_open();
	uint32_t ioas, ioas2, dev, pt, pt2;
	uint64_t x = 1ULL << 32, at, dirty_len = 0;
	uint8_t *a = buf + 20 * PS, *b = buf + 21 * PS, *c = buf + 22 * PS;
	const unsigned int rw = UFD_MAP_FIXED_IOVA | UFD_MAP_READ |
				UFD_MAP_WRITE;
	struct ufd_dma *dma;
	char out[8];

	info.aperture_last = (1ULL << aperture_bits) - 1;
	REQUIRE(ctx);
	REQUIRE(ufd_ioas_alloc(ctx, &ioas) == 0);
	REQUIRE(ufd_ioas_alloc(ctx, &ioas2) == 0);
	REQUIRE(ufd_device_bind(ctx, &info, &dev) == 0);
	REQUIRE(ufd_hwpt_alloc_paging(ctx, dev, ioas, UFD_HWPT_DIRTY_TRACKING,
				      &pt) == 0);
	REQUIRE(ufd_hwpt_alloc_paging(ctx, dev, ioas2, 0, &pt2) == 0);
	REQUIRE(ufd_device_attach(ctx, dev, &pt) == 0);
	REQUIRE(ufd_dma_open(ctx, dev, &dma) == 0);
	memcpy(a, "page-a", 7);
	memcpy(b, "page-b", 7);
	memcpy(c, "page-c", 7);

	/* Alone in the table: each map makes the tables, each unmap frees. */
	at = x;
	REQUIRE(ufd_ioas_map(ctx, ioas, src, (uintptr_t)a, PS, &at, rw) == 0);
	CHECK_EQ(ufd_dma_read(dma, x, out, 7), 0);
	CHECK(!memcmp(out, "page-a", 7));
	CHECK_EQ(ufd_ioas_unmap(ctx, ioas, x, PS, NULL), 0);
	CHECK_EQ(ufd_dma_read(dma, x, out, 7), -EFAULT);
	CHECK_EQ(ufd_dma_write(dma, x, "w", 1), -EFAULT);
	at = x;
	REQUIRE(ufd_ioas_map(ctx, ioas, src, (uintptr_t)b, PS, &at, rw) == 0);
	CHECK_EQ(ufd_dma_read(dma, x, out, 7), 0);
	CHECK(!memcmp(out, "page-b", 7));
	CHECK_EQ(ufd_ioas_unmap(ctx, ioas, x, PS, NULL), 0);
	at = x;
	REQUIRE(ufd_ioas_map(ctx, ioas, src, (uintptr_t)a, PS, &at, rw) == 0);
	CHECK_EQ(ufd_dma_read(dma, x, out, 7), 0);
	CHECK(!memcmp(out, "page-a", 7));

	/* Replace: the other HWPT's tables, where x is page c. */
	at = x;
	REQUIRE(ufd_ioas_map(ctx, ioas2, src, (uintptr_t)c, PS, &at, rw) ==
		0);
	REQUIRE(ufd_device_replace(ctx, dev, &pt2) == 0);
	CHECK_EQ(ufd_dma_read(dma, x, out, 7), 0);
	CHECK(!memcmp(out, "page-c", 7));
	REQUIRE(ufd_device_replace(ctx, dev, &pt) == 0);
	CHECK_EQ(ufd_dma_read(dma, x, out, 7), 0);
	CHECK(!memcmp(out, "page-a", 7));

	/* Tracking switched on after the cache was filled: writes mark. */
	REQUIRE(ufd_hwpt_set_dirty_tracking(ctx, pt, true) == 0);
	CHECK_EQ(ufd_dma_write(dma, x, "P", 1), 0);
	CHECK_EQ(a[0], 'P');
	CHECK_EQ(ufd_hwpt_read_dirty(ctx, pt, x, PS, PS, false, add_len,
				     &dirty_len),
		 0);
	CHECK_EQ(dirty_len, PS);
	/* A harvest keeps the cache; the next write marks again. */
	dirty_len = 0;
	CHECK_EQ(ufd_dma_write(dma, x, "Q", 1), 0);
	CHECK_EQ(ufd_hwpt_read_dirty(ctx, pt, x, PS, PS, false, add_len,
				     &dirty_len),
		 0);
	CHECK_EQ(dirty_len, PS);
	REQUIRE(ufd_hwpt_set_dirty_tracking(ctx, pt, false) == 0);

	CHECK_EQ(ufd_ioas_unmap(ctx, ioas, x, PS, NULL), 0);
	CHECK_EQ(ufd_dma_read(dma, x, out, 7), -EFAULT);
	ufd_dma_close(dma);
	CHECK_EQ(ufd_device_detach(ctx, dev), 0);
	CHECK_EQ(ufd_destroy(ctx, pt), 0);
	CHECK_EQ(ufd_destroy(ctx, pt2), 0);
	CHECK_EQ(ufd_engine_check(eng), 0);
	ufd_ctx_close(ctx);
}

/* 3 levels and 4 (the inline walk). */
static void test_dma_cache_across_changes(void)
{
	dma_cache_run(39);
	dma_cache_run(48);
}

/* DMA on one thread while another maps and unmaps: never a stale page. */
struct race {
	struct ufd_dma *dma;
	uint64_t iova;
	bool stop;
	unsigned long ok, faults, bad;
};

static void *dma_thread(void *arg)
{
	struct race *r = arg;
	uint64_t v;

	while (!__atomic_load_n(&r->stop, __ATOMIC_RELAXED)) {
		int rc = ufd_dma_read(r->dma, r->iova, &v, sizeof(v));

		if (!rc && v == 0x1122334455667788ULL)
			__atomic_fetch_add(&r->ok, 1, __ATOMIC_RELAXED);
		else if (rc == -EFAULT)
			__atomic_fetch_add(&r->faults, 1, __ATOMIC_RELAXED);
		else
			__atomic_fetch_add(&r->bad, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

static void test_dma_vs_unmap(void)
{
	struct ufd_device_info info = dev_info();
	struct ufd_ctx *ctx = ctx_open();
	struct race r = { .iova = 1ULL << 32 };
	uint32_t ioas, dev, pt;
	pthread_t t;
	int i;

	REQUIRE(ctx);
	REQUIRE(ufd_ioas_alloc(ctx, &ioas) == 0);
	REQUIRE(ufd_device_bind(ctx, &info, &dev) == 0);
	pt = ioas;
	REQUIRE(ufd_device_attach(ctx, dev, &pt) == 0);
	REQUIRE(ufd_dma_open(ctx, dev, &r.dma) == 0);
	*(uint64_t *)buf = 0x1122334455667788ULL;
	REQUIRE(pthread_create(&t, NULL, dma_thread, &r) == 0);
	/* Until both sides did enough work (a busy machine may starve one). */
	for (i = 0; i < 2000 ||
		    (__atomic_load_n(&r.ok, __ATOMIC_RELAXED) +
				     __atomic_load_n(&r.faults, __ATOMIC_RELAXED) <
			     1000 &&
		     i < 2000000);
	     i++) {
		uint64_t iova = r.iova;

		if (ufd_ioas_map(ctx, ioas, src, (uintptr_t)buf, PS, &iova,
				 UFD_MAP_FIXED_IOVA | UFD_MAP_READ))
			break;
		if (i % 64 == 0)
			sched_yield();
		ufd_ioas_unmap(ctx, ioas, iova, PS, NULL);
	}
	__atomic_store_n(&r.stop, true, __ATOMIC_RELAXED);
	pthread_join(t, NULL);
	CHECK(i >= 2000);
	CHECK_EQ(r.bad, 0);
	CHECK(r.ok + r.faults > 0);
	ufd_dma_close(r.dma);
	CHECK_EQ(ufd_engine_check(eng), 0);
	ufd_ctx_close(ctx);
}

/*
 * The same with a DMA thread busy enough to be made fast (a plain store
 * per DMA, no barrier; see engine/dma.c), while the main thread unmaps now
 * and then, after the other did a few thousand DMAs: once unmap returns no
 * read sees the page (it is poisoned right after) and no write lands in it
 * (it is checked after the other did more DMAs).
 */
#define FAST_GOOD 0x1122334455667788ULL
#define FAST_POISON 0xdeaddeaddeaddeadULL

struct fast_race {
	struct ufd_dma *dma;
	uint64_t iova;
	bool write;
	bool stop;
	unsigned long n, ok, faults, bad, fast;
};

static void *fast_thread(void *arg)
{
	struct fast_race *r = arg;
	uint64_t v, w = FAST_GOOD + 1;

	while (!__atomic_load_n(&r->stop, __ATOMIC_RELAXED)) {
		int rc = r->write ? ufd_dma_write(r->dma, r->iova, &w, sizeof(w)) :
				    ufd_dma_read(r->dma, r->iova, &v, sizeof(v));

		if (!rc && (r->write || v == FAST_GOOD))
			r->ok++;
		else if (rc == -EFAULT)
			r->faults++;
		else
			__atomic_fetch_add(&r->bad, 1, __ATOMIC_RELAXED);
		if (dma_fast_for(r->dma))
			r->fast++;
		__atomic_store_n(&r->n, r->n + 1, __ATOMIC_RELEASE);
	}
	return NULL;
}

/* Until the DMA thread did @more DMAs (or a while passed: a busy machine). */
static void fast_wait(struct fast_race *r, unsigned long more)
{
	unsigned long n0 = __atomic_load_n(&r->n, __ATOMIC_ACQUIRE);
	unsigned int i;

	for (i = 0; i != 200000; i++) {
		if (__atomic_load_n(&r->n, __ATOMIC_ACQUIRE) - n0 >= more)
			return;
		if (i % 64 == 63)
			sched_yield();
	}
}

static void fast_race_run(bool write, unsigned int aperture_bits)
{
	struct ufd_device_info info = dev_info();
	struct ufd_ctx *ctx = ctx_open();
	struct fast_race r = { .iova = 1ULL << 32, .write = write };
	volatile uint64_t *word = (volatile uint64_t *)buf;
	uint32_t ioas, dev, pt;
	pthread_t t;
	int i;

	info.aperture_last = (1ULL << aperture_bits) - 1;
	REQUIRE(ctx);
	REQUIRE(ufd_ioas_alloc(ctx, &ioas) == 0);
	REQUIRE(ufd_device_bind(ctx, &info, &dev) == 0);
	pt = ioas;
	REQUIRE(ufd_device_attach(ctx, dev, &pt) == 0);
	REQUIRE(ufd_dma_open(ctx, dev, &r.dma) == 0);
	REQUIRE(pthread_create(&t, NULL, fast_thread, &r) == 0);
	for (i = 0; i != 300; i++) {
		uint64_t iova = r.iova;

		*word = FAST_GOOD;
		REQUIRE(ufd_ioas_map(ctx, ioas, src, (uintptr_t)buf, PS, &iova,
				     UFD_MAP_FIXED_IOVA | UFD_MAP_READ |
					     UFD_MAP_WRITE) == 0);
		/* Mostly long stretches (the thread is made fast), now and
		 * then short ones (it is made fenced again). */
		fast_wait(&r, i % 8 == 7 ? 16 : 3000);
		REQUIRE(ufd_ioas_unmap(ctx, ioas, iova, PS, NULL) == 0);
		if (!write) {
			*word = FAST_POISON;
			fast_wait(&r, 64);
		} else {
			*word = FAST_POISON;
			fast_wait(&r, 64);
			if (*word != FAST_POISON)
				__atomic_fetch_add(&r.bad, 1, __ATOMIC_RELAXED);
		}
	}
	__atomic_store_n(&r.stop, true, __ATOMIC_RELAXED);
	pthread_join(t, NULL);
	CHECK_EQ(r.bad, 0);
	CHECK(r.ok > 0 && r.faults > 0);
	/* Fast unless the kernel has no membarrier(2). */
	CHECK(r.fast > 0 || syscall(SYS_membarrier, 0, 0, 0) < 0);
	ufd_dma_close(r.dma);
	CHECK_EQ(ufd_engine_check(eng), 0);
	ufd_ctx_close(ctx);
}

/* 3 levels of tables (a 39-bit aperture) and 4 (48 bits: the walk that
 * ufd_dma_read/write inline). */
static void test_dma_fast_vs_unmap(void)
{
	fast_race_run(false, 39);
	fast_race_run(true, 39);
	fast_race_run(false, 48);
	fast_race_run(true, 48);
}

static void test_fault_queue_and_nested(void)
{
	struct ufd_device_info info = dev_info();
	struct ufd_ctx *ctx = ctx_open();
	struct ufd_pgfault f = { .grpid = 7, .perm = 1, .addr = 0x1000 };
	struct ufd_pgfault out[4];
	static const struct ufd_nested_ops nops = { 0 };
	uint32_t ioas, dev, parent, nested, fault, pt;
	int token;

	REQUIRE(ctx);
	REQUIRE(ufd_ioas_alloc(ctx, &ioas) == 0);
	REQUIRE(ufd_device_bind(ctx, &info, &dev) == 0);
	REQUIRE(ufd_hwpt_alloc_paging(ctx, dev, ioas, 0, &parent) == 0);
	CHECK_EQ(ufd_hwpt_can_nest(ctx, parent), -EINVAL);
	CHECK_EQ(ufd_destroy(ctx, parent), 0);
	REQUIRE(ufd_hwpt_alloc_paging(ctx, dev, ioas, UFD_HWPT_NEST_PARENT,
				      &parent) == 0);
	REQUIRE(ufd_fault_alloc(ctx, &fault) == 0);
	CHECK_EQ(ufd_hwpt_alloc_nested(ctx, dev, parent, UINT32_MAX, &nops,
				       &token, &nested),
		 -ENOENT);
	REQUIRE(ufd_hwpt_alloc_nested(ctx, dev, parent, fault, &nops, &token,
				      &nested) == 0);
	CHECK_EQ(ufd_destroy(ctx, parent), -EBUSY);
	CHECK_EQ(ufd_destroy(ctx, fault), -EBUSY);
	pt = nested;
	REQUIRE(ufd_device_attach(ctx, dev, &pt) == 0);
	/* Two requests of one group arrive together, after LAST_PAGE. */
	CHECK_EQ(ufd_device_report_fault(ctx, dev, &f), 0);
	CHECK(!ufd_fault_pending(ctx, fault));
	f.flags = UFD_PGFAULT_LAST_PAGE;
	f.addr = 0x2000;
	CHECK_EQ(ufd_device_report_fault(ctx, dev, &f), 0);
	CHECK(ufd_fault_pending(ctx, fault));
	CHECK_EQ(ufd_fault_read(ctx, fault, out, 1), -EINVAL);
	CHECK_EQ(ufd_fault_read(ctx, fault, out, 4), 2);
	CHECK_EQ(out[0].dev_id, dev);
	CHECK_EQ(out[0].cookie, out[1].cookie);
	CHECK_EQ(out[1].addr, 0x2000);
	CHECK_EQ(ufd_fault_read(ctx, fault, out, 4), 0);
	CHECK_EQ(ufd_fault_respond(ctx, fault, out[0].cookie, 2), -EINVAL);
	CHECK_EQ(ufd_fault_respond(ctx, fault, out[0].cookie + 1, 0),
		 -EINVAL);
	CHECK_EQ(ufd_fault_respond(ctx, fault, out[0].cookie, 0), 0);
	CHECK_EQ(ufd_fault_respond(ctx, fault, out[0].cookie, 0), -EINVAL);
	/* DMA through a nested HWPT needs a stage-1 format. */
	{
		struct ufd_dma *dma;
		char c;

		REQUIRE(ufd_dma_open(ctx, dev, &dma) == 0);
		CHECK_EQ(ufd_dma_read(dma, 0, &c, 1), -EOPNOTSUPP);
		ufd_dma_close(dma);
	}
	CHECK_EQ(ufd_device_detach(ctx, dev), 0);
	CHECK_EQ(ufd_destroy(ctx, nested), 0);
	CHECK_EQ(ufd_destroy(ctx, fault), 0);
	CHECK_EQ(ufd_destroy(ctx, parent), 0);
	ufd_ctx_close(ctx);
}

int main(void)
{
	/* 2 MiB aligned, as automatic IOVA alignment follows the address. */
	uint8_t *area;

	buf = harness_map_aligned(buf_len, &area);
	if (!buf)
		return 1;
	eng = ufd_engine_new();
	src = ufd_source_local();
	if (!eng || !src)
		return 1;
	RUN(test_attach_narrows_and_fills);
	RUN(test_query_attach);
	RUN(test_replace_and_explicit);
	RUN(test_dma_path);
	RUN(test_dma_cache_across_changes);
	RUN(test_dma_vs_unmap);
	RUN(test_dma_fast_vs_unmap);
	RUN(test_fault_queue_and_nested);
	ufd_source_put(src);
	ufd_engine_free(eng);
	munmap(area, buf_len + (2u << 20));
	HARNESS_EXIT();
}
