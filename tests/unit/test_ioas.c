/* SPDX-License-Identifier: MIT */
/*
 * The engine's IOAS core through its public API, written from the iommufd
 * ABI documentation: map/unmap/copy rules, IOVA allocation, allowed and
 * reserved ranges, accesses, pin counting and accounting, and a fail-nth
 * sweep: every allocation of a map/copy/pin is made to fail in turn, and
 * each failure must leave the state as it was and leak nothing (ASan).
 */
#include <pthread.h>
#include <sys/mman.h>
#include <unistd.h>

#include "engine/engine.h"
#if defined(__SANITIZE_ADDRESS__)
#define UFD_TEST_LSAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UFD_TEST_LSAN 1
#endif
#endif
#ifdef UFD_TEST_LSAN
#include <sanitizer/lsan_interface.h>
#endif
#define HARNESS_MMAP
#include "harness.h"

#define PS 4096ULL

static struct ufd_engine *eng;
static struct ufd_source *src;
static uint8_t *buf;
static const size_t buf_len = 64 * PS;

static struct ufd_ctx *ctx_open(void)
{
	struct ufd_cred cred;
	struct ufd_ctx *ctx;

	ufd_cred_self(&cred);
	cred.cap_ipc_lock = false; /* exercise accounting */
	cred.memlock_limit = UINT64_MAX;
	if (ufd_ctx_open(eng, &cred, &ctx))
		return NULL;
	return ctx;
}

static unsigned int pins_at(uint64_t uaddr)
{
	unsigned int pins = ~0u;

	ufd_engine_page_pins(eng, src, uaddr, &pins);
	return pins;
}

static void test_ids_and_destroy(void)
{
	struct ufd_ctx *ctx = ctx_open();
	uint32_t a, b, c;

	REQUIRE(ctx);
	CHECK_EQ(ufd_ioas_alloc(ctx, &a), 0);
	CHECK_EQ(ufd_ioas_alloc(ctx, &b), 0);
	CHECK(a != 0 && b != 0 && a != b);
	CHECK_EQ(ufd_destroy(ctx, a), 0);
	CHECK_EQ(ufd_destroy(ctx, a), -ENOENT);
	CHECK_EQ(ufd_destroy(ctx, 0), -ENOENT);
	CHECK_EQ(ufd_ioas_alloc(ctx, &c), 0);
	CHECK_EQ(c, a); /* lowest free id is reused */
	ufd_ctx_close(ctx);
}

/* Another thread's view of an ID during a publication window. */
struct peek {
	struct ufd_ctx *ctx;
	uint32_t id;
	enum ufd_obj_kind kind;
	int destroy_rc;
};

static void *peek_main(void *arg)
{
	struct peek *p = arg;

	p->kind = ufd_obj_kind(p->ctx, p->id);
	p->destroy_rc = ufd_destroy(p->ctx, p->id);
	return NULL;
}

static void peek_from_thread(struct peek *p)
{
	pthread_t t;

	REQUIRE(!pthread_create(&t, NULL, peek_main, p));
	pthread_join(t, NULL);
}

/*
 * The kernel's order of publication (issue 12, defect c): an object made
 * inside a window is invisible to other threads until the window commits;
 * an aborted window leaves nothing, and its ID is free again.
 */
static void test_publication_order(void)
{
	struct ufd_ctx *ctx = ctx_open();
	struct ufd_publish pub;
	struct peek p;
	uint32_t id, again;

	REQUIRE(ctx);
	ufd_publish_begin(ctx, &pub);
	CHECK_EQ(ufd_ioas_alloc(ctx, &id), 0);
	/* The maker's own calls see it (its handler may use it)... */
	CHECK_EQ(ufd_obj_kind(ctx, id), UFD_KIND_IOAS);
	/* ...nobody else does, not even to destroy it. */
	p = (struct peek){ .ctx = ctx, .id = id };
	peek_from_thread(&p);
	CHECK_EQ(p.kind, UFD_KIND_NONE);
	CHECK_EQ(p.destroy_rc, -ENOENT);
	ufd_publish_end(&pub, false);
	CHECK_EQ(ufd_obj_kind(ctx, id), UFD_KIND_NONE);
	CHECK_EQ(ufd_ioas_alloc(ctx, &again), 0);
	CHECK_EQ(again, id); /* the aborted ID is free again */
	CHECK_EQ(ufd_destroy(ctx, again), 0);

	ufd_publish_begin(ctx, &pub);
	CHECK_EQ(ufd_ioas_alloc(ctx, &id), 0);
	ufd_publish_end(&pub, true);
	p = (struct peek){ .ctx = ctx, .id = id };
	peek_from_thread(&p);
	CHECK_EQ(p.kind, UFD_KIND_IOAS);
	CHECK_EQ(p.destroy_rc, 0);
	ufd_ctx_close(ctx);
}

static void test_map_unmap_rules(void)
{
	struct ufd_ctx *ctx = ctx_open();
	uint64_t iova, unmapped;
	uint32_t ioas;
	int i;

	REQUIRE(ctx);
	REQUIRE(ufd_ioas_alloc(ctx, &ioas) == 0);

	/* Unmap of nothing is ENOENT. */
	CHECK_EQ(ufd_ioas_unmap(ctx, ioas, 0, PS, &unmapped), -ENOENT);
	/* Flags. */
	iova = 0;
	CHECK_EQ(ufd_ioas_map(ctx, ioas, src, (uintptr_t)buf, PS, &iova,
			      UFD_MAP_FIXED_IOVA),
		 -EINVAL);
	CHECK_EQ(ufd_ioas_map(ctx, ioas, src, (uintptr_t)buf, PS, &iova,
			      1u << 10),
		 -EOPNOTSUPP);
	/* Fixed maps, overlap, split. */
	iova = 16 * PS;
	CHECK_EQ(ufd_ioas_map(ctx, ioas, src, (uintptr_t)buf, 2 * PS, &iova,
			      UFD_MAP_FIXED_IOVA | UFD_MAP_READ |
				      UFD_MAP_WRITE),
		 0);
	for (i = 15; i <= 17; i++) {
		iova = i * PS;
		CHECK_EQ(ufd_ioas_map(ctx, ioas, src, (uintptr_t)buf, PS,
				      &iova,
				      UFD_MAP_FIXED_IOVA | UFD_MAP_READ),
			 i == 15 ? 0 : -EEXIST);
	}
	CHECK_EQ(ufd_ioas_unmap(ctx, ioas, 16 * PS, PS, &unmapped), -ENOENT);
	/* A range sticking out of an area changes nothing. */
	CHECK_EQ(ufd_ioas_unmap(ctx, ioas, 15 * PS, 2 * PS, &unmapped),
		 -ENOENT);
	CHECK_EQ(ufd_ioas_unmap(ctx, ioas, 15 * PS, 3 * PS, &unmapped), 0);
	CHECK_EQ(unmapped, 3 * PS);
	/* Automatic IOVA: never 0, aligned to the length's power of two. */
	for (i = 1; i <= 10; i++) {
		CHECK_EQ(ufd_ioas_map(ctx, ioas, src, (uintptr_t)buf, i * PS,
				      &iova, UFD_MAP_READ),
			 0);
		CHECK(iova != 0);
		CHECK_EQ(iova % (1ULL << __builtin_ctzll(i * PS)), 0);
	}
	CHECK_EQ(ufd_engine_check(eng), 0);
	CHECK_EQ(ufd_ioas_unmap(ctx, ioas, 0, UINT64_MAX, &unmapped), 0);
	CHECK_EQ(unmapped, 55 * PS);
	CHECK_EQ(ufd_ioas_unmap(ctx, ioas, 0, UINT64_MAX, &unmapped), 0);
	CHECK_EQ(unmapped, 0);
	/* Overflow. */
	iova = UINT64_MAX - PS + 1;
	CHECK_EQ(ufd_ioas_map(ctx, ioas, src, (uintptr_t)buf, 2 * PS, &iova,
			      UFD_MAP_FIXED_IOVA | UFD_MAP_READ),
		 -EOVERFLOW);
	ufd_ctx_close(ctx);
}

static void test_ranges_reserved_allowed(void)
{
	struct ufd_ctx *ctx = ctx_open();
	struct ufd_iova_range r[4], allow;
	uint32_t ioas, num;
	uint64_t align, iova;

	REQUIRE(ctx);
	REQUIRE(ufd_ioas_alloc(ctx, &ioas) == 0);
	CHECK_EQ(ufd_ioas_iova_ranges(ctx, ioas, r, 4, &num, &align), 0);
	CHECK_EQ(num, 1);
	CHECK(r[0].start == 0 && r[0].last == UINT64_MAX && align == 1);
	CHECK_EQ(ufd_ioas_reserve(ctx, ioas, PS, 2 * PS - 1), 0);
	CHECK_EQ(ufd_ioas_iova_ranges(ctx, ioas, r, 1, &num, &align), 0);
	CHECK_EQ(num, 2);
	CHECK(r[0].start == 0 && r[0].last == PS - 1);
	/* Fixed maps may not hit a reservation. */
	iova = PS;
	CHECK_EQ(ufd_ioas_map(ctx, ioas, src, (uintptr_t)buf, PS, &iova,
			      UFD_MAP_FIXED_IOVA | UFD_MAP_READ),
		 -EINVAL);
	/* Allowed ranges: not over a reservation; auto IOVA stays inside. */
	allow.start = 0;
	allow.last = 100 * PS;
	CHECK_EQ(ufd_ioas_allow_iovas(ctx, ioas, &allow, 1), -EADDRINUSE);
	allow.start = 200 * PS;
	allow.last = 600 * PS - 1;
	CHECK_EQ(ufd_ioas_allow_iovas(ctx, ioas, &allow, 1), 0);
	CHECK_EQ(ufd_ioas_reserve(ctx, ioas, 300 * PS, 301 * PS),
		 -EADDRINUSE);
	CHECK_EQ(ufd_ioas_map(ctx, ioas, src, (uintptr_t)buf, 8 * PS, &iova,
			      UFD_MAP_READ),
		 0);
	CHECK(iova >= allow.start && iova + 8 * PS - 1 <= allow.last);
	/* A bad list changes nothing. */
	{
		struct ufd_iova_range bad[2] = { { 10, 20 }, { 15, 30 } };

		CHECK_EQ(ufd_ioas_allow_iovas(ctx, ioas, bad, 2), -EINVAL);
		CHECK_EQ(ufd_ioas_map(ctx, ioas, src, (uintptr_t)buf, PS,
				      &iova, UFD_MAP_READ),
			 0);
		CHECK(iova >= allow.start && iova <= allow.last);
	}
	/* Huge pages off: alignment PAGE_SIZE; misaligned maps refuse it. */
	CHECK_EQ(ufd_ioas_set_huge_pages(ctx, ioas, false), 0);
	CHECK_EQ(ufd_ioas_iova_ranges(ctx, ioas, r, 4, &num, &align), 0);
	CHECK_EQ(align, PS);
	CHECK_EQ(ufd_ioas_set_huge_pages(ctx, ioas, true), 0);
	iova = 1000 * PS;
	CHECK_EQ(ufd_ioas_map(ctx, ioas, src, (uintptr_t)buf + 2048, PS, &iova,
			      UFD_MAP_FIXED_IOVA | UFD_MAP_READ),
		 0);
	CHECK_EQ(ufd_ioas_set_huge_pages(ctx, ioas, false), -EADDRINUSE);
	CHECK_EQ(ufd_engine_check(eng), 0);
	ufd_ctx_close(ctx);
}

struct pin_owner {
	struct ufd_ctx *ctx;
	uint32_t id;
	uint64_t iova, len;
	bool pinned;
	unsigned int unmap_calls;
};

static void owner_unmap(void *priv, uint64_t iova, uint64_t length)
{
	struct pin_owner *o = priv;

	o->unmap_calls++;
	if (o->pinned) {
		ufd_access_unpin(o->ctx, o->id, o->iova, o->len);
		o->pinned = false;
	}
}

static const struct ufd_access_ops owner_ops = { .unmap = owner_unmap };

static void test_copy_access_and_pins(void)
{
	struct ufd_ctx *ctx = ctx_open();
	struct pin_owner o = { 0 };
	uint32_t a, b;
	uint64_t iova, iova2, unmapped;
	uint8_t data[64];
	void *hosts[4];

	REQUIRE(ctx);
	REQUIRE(ufd_ioas_alloc(ctx, &a) == 0);
	REQUIRE(ufd_ioas_alloc(ctx, &b) == 0);
	iova = 0x100000;
	REQUIRE(ufd_ioas_map(ctx, a, src, (uintptr_t)buf, 8 * PS, &iova,
			     UFD_MAP_FIXED_IOVA | UFD_MAP_READ |
				     UFD_MAP_WRITE) == 0);
	/* No domain, no access: nothing pinned yet. */
	CHECK_EQ(pins_at((uintptr_t)buf), 0);
	/* COPY a sub-range into another IOAS: shares the pages. */
	iova2 = 0;
	CHECK_EQ(ufd_ioas_copy(ctx, b, a, iova + PS, 2 * PS, &iova2,
			       UFD_MAP_FIXED_IOVA | UFD_MAP_READ |
				       UFD_MAP_WRITE),
		 0);
	CHECK_EQ(ufd_ioas_copy(ctx, b, a, iova + 7 * PS, 2 * PS, &iova2,
			       UFD_MAP_READ),
		 -ENOENT);

	o.ctx = ctx;
	CHECK_EQ(ufd_access_create(ctx, b, &owner_ops, &o, &o.id), 0);
	CHECK_EQ(ufd_destroy(ctx, b), -EBUSY);  /* the access holds it */
	CHECK_EQ(ufd_destroy(ctx, o.id), -EBUSY); /* owner destroys it */
	o.iova = 0;
	o.len = 2 * PS;
	CHECK_EQ(ufd_access_pin(ctx, o.id, 0, 2 * PS, true, hosts), 0);
	o.pinned = true;
	CHECK(hosts[0] == buf + PS && hosts[1] == buf + 2 * PS);
	/* One pin per page however many areas share the pages object. */
	CHECK_EQ(pins_at((uintptr_t)buf + PS), 1);
	CHECK_EQ(pins_at((uintptr_t)buf + 2 * PS), 1);
	CHECK_EQ(pins_at((uintptr_t)buf), 0);
	CHECK_EQ(ufd_engine_pinned_bytes_user(eng, getuid()), 2 * PS);
	/* Read and write through IOVA act on live memory. */
	memset(buf + PS, 0x5a, 64);
	CHECK_EQ(ufd_access_rw(ctx, o.id, 0, data, 64, 0), 0);
	CHECK(data[0] == 0x5a && data[63] == 0x5a);
	memset(data, 0xa5, sizeof(data));
	CHECK_EQ(ufd_access_rw(ctx, o.id, PS - 32, data, 64,
			       UFD_ACCESS_RW_WRITE),
		 0);
	CHECK(buf[2 * PS - 32] == 0xa5 && buf[2 * PS + 31] == 0xa5);
	CHECK_EQ(ufd_access_rw(ctx, o.id, 2 * PS - 1, data, 2, 0), -ENOENT);
	CHECK_EQ(ufd_engine_check(eng), 0);

	/* Unmapping the source area keeps the copy's pages alive. */
	CHECK_EQ(ufd_ioas_unmap(ctx, a, 0, UINT64_MAX, &unmapped), 0);
	CHECK_EQ(pins_at((uintptr_t)buf + PS), 1);
	/* Unmapping the pinned area makes the owner drop its pin. */
	CHECK_EQ(ufd_ioas_unmap(ctx, b, 0, 2 * PS, &unmapped), 0);
	CHECK_EQ(o.unmap_calls, 1);
	CHECK(!o.pinned);
	CHECK_EQ(pins_at((uintptr_t)buf + PS), 0);
	CHECK_EQ(ufd_engine_pinned_bytes_user(eng, getuid()), 0);
	ufd_access_destroy(ctx, o.id);
	CHECK_EQ(ufd_destroy(ctx, b), 0);
	CHECK_EQ(ufd_engine_check(eng), 0);
	ufd_ctx_close(ctx);
}

static void test_memlock_limit(void)
{
	struct ufd_cred cred;
	struct ufd_ctx *ctx;
	struct pin_owner o = { 0 };
	uint32_t ioas;
	uint64_t iova = 0;

	ufd_cred_self(&cred);
	cred.cap_ipc_lock = false;
	cred.memlock_limit = 3 * PS;
	REQUIRE(ufd_ctx_open(eng, &cred, &ctx) == 0);
	REQUIRE(ufd_ioas_alloc(ctx, &ioas) == 0);
	REQUIRE(ufd_ioas_map(ctx, ioas, src, (uintptr_t)buf, 8 * PS, &iova,
			     UFD_MAP_FIXED_IOVA | UFD_MAP_READ) == 0);
	o.ctx = ctx;
	REQUIRE(ufd_access_create(ctx, ioas, &owner_ops, &o, &o.id) == 0);
	CHECK_EQ(ufd_access_pin(ctx, o.id, 0, 4 * PS, false, NULL), -ENOMEM);
	CHECK_EQ(ufd_engine_pinned_bytes_user(eng, cred.uid), 0);
	CHECK_EQ(ufd_access_pin(ctx, o.id, 0, 3 * PS, false, NULL), 0);
	CHECK_EQ(ufd_engine_pinned_bytes_user(eng, cred.uid), 3 * PS);
	/* Overlapping pins do not count twice. */
	CHECK_EQ(ufd_access_pin(ctx, o.id, PS, 2 * PS, false, NULL), 0);
	CHECK_EQ(ufd_engine_pinned_bytes_user(eng, cred.uid), 3 * PS);
	/* Closing the context releases everything. */
	ufd_ctx_close(ctx);
	CHECK_EQ(ufd_engine_pinned_bytes_user(eng, cred.uid), 0);
	CHECK_EQ(pins_at((uintptr_t)buf), 0);
	CHECK_EQ(ufd_engine_check(eng), 0);
}

/* A workload touching every allocation site of map, copy, pin. */
static int workload(struct ufd_ctx *ctx, uint32_t a, uint32_t b,
		    uint32_t acc)
{
	uint64_t iova = 0x200000, iova2 = 0;
	struct ufd_iova_range allow = { 0x100000, 0x7fffffff };
	int rc;

	rc = ufd_ioas_map(ctx, a, src, (uintptr_t)buf, 4 * PS, &iova,
			  UFD_MAP_FIXED_IOVA | UFD_MAP_READ | UFD_MAP_WRITE);
	if (rc)
		return rc;
	rc = ufd_ioas_copy(ctx, b, a, iova, 4 * PS, &iova2,
			   UFD_MAP_READ | UFD_MAP_WRITE);
	if (rc)
		return rc;
	rc = ufd_ioas_reserve(ctx, b, 0x10, 0x20);
	if (rc)
		return rc;
	rc = ufd_ioas_allow_iovas(ctx, a, &allow, 1);
	if (rc)
		return rc;
	return ufd_access_pin(ctx, acc, iova2, 2 * PS, false, NULL);
}

static void test_fail_nth(void)
{
	unsigned long nth;
	int failures = 0;

	for (nth = 1; nth < 200; nth++) {
		struct ufd_ctx *ctx = ctx_open();
		struct pin_owner o = { 0 };
		uint32_t a, b;
		int rc;

		REQUIRE(ctx);
		REQUIRE(ufd_ioas_alloc(ctx, &a) == 0);
		REQUIRE(ufd_ioas_alloc(ctx, &b) == 0);
		o.ctx = ctx;
		REQUIRE(ufd_access_create(ctx, b, &owner_ops, &o, &o.id) == 0);
		ufd_fail_nth(nth);
		rc = workload(ctx, a, b, o.id);
		ufd_fail_nth(0);
		CHECK(rc == 0 || rc == -ENOMEM);
		CHECK_EQ(ufd_engine_check(eng), 0);
		ufd_ctx_close(ctx);
		CHECK_EQ(pins_at((uintptr_t)buf), 0);
		CHECK_EQ(ufd_engine_check(eng), 0);
		if (rc == 0)
			break; /* past the last allocation */
		failures++;
	}
	CHECK(failures > 5);
}

/*
 * Freed areas and pages objects wait in the engine's caches (alloc.c) and
 * must stay reachable there: LeakSanitizer, asked now, finds no leak.
 */
static void test_cached_objects_reachable(void)
{
	struct ufd_ctx *ctx = ctx_open();
	uint64_t iova, unmapped;
	uint32_t ioas;
	int i;

	REQUIRE(ctx);
	REQUIRE(ufd_ioas_alloc(ctx, &ioas) == 0);
	for (i = 0; i < 6; i++) {
		iova = (uint64_t)(i + 1) << 30;
		CHECK_EQ(ufd_ioas_map(ctx, ioas, src, (uintptr_t)buf + i * PS,
				      PS, &iova,
				      UFD_MAP_FIXED_IOVA | UFD_MAP_READ), 0);
	}
	/* Six of each into the caches, linked through one another. */
	for (i = 0; i < 6; i++)
		CHECK_EQ(ufd_ioas_unmap(ctx, ioas, (uint64_t)(i + 1) << 30, PS,
					&unmapped), 0);
#ifdef UFD_TEST_LSAN
	CHECK_EQ(__lsan_do_recoverable_leak_check(), 0);
#endif
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
	RUN(test_ids_and_destroy);
	RUN(test_publication_order);
	RUN(test_map_unmap_rules);
	RUN(test_ranges_reserved_allowed);
	RUN(test_copy_access_and_pins);
	RUN(test_memlock_limit);
	RUN(test_fail_nth);
	RUN(test_cached_objects_reachable);
	ufd_source_put(src);
	ufd_engine_free(eng);
	munmap(area, buf_len + (2u << 20));
	HARNESS_EXIT();
}
