/* SPDX-License-Identifier: MIT */
/*
 * Registered memory through the engine's public API (ufd_mem_register(3)):
 * two maps of registered memory, in two IOAS of two contexts of the same
 * user, each with a domain, pin each page once and charge RLIMIT_MEMLOCK
 * once; maps that stick out, ask for more rights, or come from another
 * user are pinned on their own; unregister and destroy refuse while maps
 * use it; closing the registering context leaves the other context's maps
 * pinned; and every call, failed by allocation fault injection at each
 * step, leaves pins and charges as they were.
 */
#include <sys/mman.h>
#include <unistd.h>

#include "engine/engine.h"
#define HARNESS_MMAP
#include "harness.h"

#define PS 4096ULL
#define SZ_2M (2ULL << 20)

static struct ufd_engine *eng;
static struct ufd_source *src;
static uint8_t *buf;
static const size_t buf_len = 2 * SZ_2M;
static uid_t me;

static struct ufd_ctx *ctx_as(uid_t uid, uint64_t memlock)
{
	struct ufd_cred cred;
	struct ufd_ctx *ctx = NULL;

	ufd_cred_self(&cred);
	cred.uid = uid;
	cred.cap_ipc_lock = false;
	cred.memlock_limit = memlock;
	ufd_ctx_open(eng, &cred, &ctx);
	return ctx;
}

/* An IOAS with one attached device, so that maps are pinned. */
static int ioas_with_domain(struct ufd_ctx *ctx, uint32_t *ioas)
{
	struct ufd_device_info info = {
		.aperture_start = 0,
		.aperture_last = (1ULL << 39) - 1,
		.pgsize_bitmap = PS | SZ_2M,
	};
	uint32_t dev, pt;
	int rc;

	rc = ufd_ioas_alloc(ctx, ioas);
	if (rc)
		return rc;
	rc = ufd_device_bind(ctx, &info, &dev);
	if (rc)
		return rc;
	pt = *ioas;
	return ufd_device_attach(ctx, dev, &pt);
}

static unsigned int pins_at(uint64_t uaddr)
{
	unsigned int n = ~0u;

	ufd_engine_page_pins(eng, src, uaddr, &n);
	return n;
}

static uint64_t charged(uid_t uid)
{
	return ufd_engine_pinned_bytes_user(eng, uid);
}

static int map_at(struct ufd_ctx *ctx, uint32_t ioas, uint64_t iova,
		  uint64_t off, uint64_t len, unsigned int prot)
{
	return ufd_ioas_map(ctx, ioas, src, (uintptr_t)buf + off, len, &iova,
			    UFD_MAP_FIXED_IOVA | prot);
}

struct first_area {
	uint32_t pages_id;
	unsigned int n;
};

static int note_area(void *arg, const struct ufd_area_info *info)
{
	struct first_area *fa = arg;

	if (!fa->n++)
		fa->pages_id = info->pages_id;
	return 0;
}

static uint32_t pages_id_of(struct ufd_ctx *ctx, uint32_t ioas)
{
	struct first_area fa = { 0 };

	ufd_ioas_for_each_area(ctx, ioas, note_area, &fa);
	return fa.pages_id;
}

static void test_pinned_and_charged_once(void)
{
	struct ufd_ctx *c1 = ctx_as(me, UINT64_MAX), *c2 = ctx_as(me, UINT64_MAX);
	struct ufd_mem_reg_info info;
	uint32_t a, b, reg;
	uint64_t base;

	REQUIRE(c1 && c2);
	base = charged(me);
	REQUIRE(ioas_with_domain(c1, &a) == 0);
	REQUIRE(ioas_with_domain(c2, &b) == 0);

	/* Without a registration: two pins, two charges. */
	REQUIRE(map_at(c1, a, 1ULL << 30, 0, 16 * PS, UFD_MAP_READ) == 0);
	REQUIRE(map_at(c2, b, 1ULL << 30, 0, 16 * PS, UFD_MAP_READ) == 0);
	CHECK_EQ(pins_at((uintptr_t)buf), 2);
	CHECK_EQ(charged(me) - base, 32 * PS);
	REQUIRE(ufd_ioas_unmap(c1, a, 0, UINT64_MAX, NULL) == 0);
	REQUIRE(ufd_ioas_unmap(c2, b, 0, UINT64_MAX, NULL) == 0);
	CHECK_EQ(charged(me), base);

	/* Registered: pinned and charged at once. */
	REQUIRE(ufd_mem_register(c1, src, (uintptr_t)buf + 1, 64 * PS - 1,
				 UFD_MAP_WRITE, &reg) == 0);
	CHECK_EQ(pins_at((uintptr_t)buf), 1);
	CHECK_EQ(charged(me) - base, 64 * PS);
	REQUIRE(ufd_mem_reg_info(c1, reg, &info) == 0);
	CHECK_EQ(info.uaddr, (uintptr_t)buf);
	CHECK_EQ(info.length, 64 * PS);
	CHECK_EQ(info.pinned_bytes, 64 * PS);
	CHECK_EQ(info.charged_bytes, 64 * PS);
	CHECK_EQ(info.account, 1);
	CHECK_EQ(info.uid, me);
	CHECK_EQ(info.nr_maps, 0);

	/* Two maps from two contexts: no second pin, no second charge. */
	REQUIRE(map_at(c1, a, 1ULL << 30, 0, 16 * PS,
		       UFD_MAP_READ | UFD_MAP_WRITE) == 0);
	REQUIRE(map_at(c2, b, 2ULL << 30, 8 * PS, 56 * PS, UFD_MAP_READ) == 0);
	CHECK_EQ(pins_at((uintptr_t)buf), 1);
	CHECK_EQ(pins_at((uintptr_t)buf + 10 * PS), 1);
	CHECK_EQ(charged(me) - base, 64 * PS);
	REQUIRE(ufd_mem_reg_info(c1, reg, &info) == 0);
	CHECK_EQ(info.nr_maps, 2);
	CHECK_EQ(info.pinned_bytes, 64 * PS);
	CHECK_EQ(pages_id_of(c1, a), info.pages_id);
	CHECK_EQ(pages_id_of(c2, b), info.pages_id);
	/* Refused while mapped, by either call; state unchanged. */
	CHECK_EQ(ufd_mem_unregister(c1, reg), -EBUSY);
	CHECK_EQ(ufd_destroy(c1, reg), -EBUSY);
	CHECK_EQ(ufd_mem_unregister(c2, reg), -ENOENT); /* not c2's object */
	CHECK_EQ(ufd_mem_unregister(c1, a), -ENOENT);	/* not a registration */
	CHECK_EQ(ufd_mem_reg_info(c1, a, &info), -ENOENT);
	REQUIRE(ufd_ioas_unmap(c1, a, 0, UINT64_MAX, NULL) == 0);
	CHECK_EQ(ufd_mem_unregister(c1, reg), -EBUSY);
	CHECK_EQ(pins_at((uintptr_t)buf), 1);
	REQUIRE(ufd_ioas_unmap(c2, b, 0, UINT64_MAX, NULL) == 0);
	CHECK_EQ(charged(me) - base, 64 * PS);
	CHECK_EQ(ufd_mem_unregister(c1, reg), 0);
	CHECK_EQ(pins_at((uintptr_t)buf), 0);
	CHECK_EQ(charged(me), base);
	CHECK_EQ(ufd_mem_unregister(c1, reg), -ENOENT);
	CHECK_EQ(ufd_engine_check(eng), 0);
	ufd_ctx_close(c1);
	ufd_ctx_close(c2);
}

static void test_not_shared(void)
{
	struct ufd_ctx *c1 = ctx_as(me, UINT64_MAX);
	struct ufd_ctx *other = ctx_as(me + 1000, UINT64_MAX);
	struct ufd_mem_reg_info info;
	uint32_t a, b, reg;

	REQUIRE(c1 && other);
	REQUIRE(ioas_with_domain(c1, &a) == 0);
	REQUIRE(ioas_with_domain(other, &b) == 0);
	/* Read-only registration of pages 4..11. */
	REQUIRE(ufd_mem_register(c1, src, (uintptr_t)buf + 4 * PS, 8 * PS, 0,
				 &reg) == 0);
	/* Sticks out on the left: its own pages. */
	REQUIRE(map_at(c1, a, 1ULL << 30, 3 * PS, 4 * PS, UFD_MAP_READ) == 0);
	CHECK_EQ(pins_at((uintptr_t)buf + 4 * PS), 2);
	/* Asks for writing: its own pages. */
	REQUIRE(map_at(c1, a, 2ULL << 30, 8 * PS, PS,
		       UFD_MAP_READ | UFD_MAP_WRITE) == 0);
	CHECK_EQ(pins_at((uintptr_t)buf + 8 * PS), 2);
	/* Another user: its own pages. */
	REQUIRE(map_at(other, b, 1ULL << 30, 9 * PS, PS, UFD_MAP_READ) == 0);
	CHECK_EQ(pins_at((uintptr_t)buf + 9 * PS), 2);
	CHECK_EQ(charged(me + 1000), PS);
	REQUIRE(ufd_mem_reg_info(c1, reg, &info) == 0);
	CHECK_EQ(info.nr_maps, 0);
	/* Inside, read-only: shared. */
	REQUIRE(map_at(c1, a, 3ULL << 30, 10 * PS, 2 * PS, UFD_MAP_READ) == 0);
	CHECK_EQ(pins_at((uintptr_t)buf + 10 * PS), 1);
	REQUIRE(ufd_mem_reg_info(c1, reg, &info) == 0);
	CHECK_EQ(info.nr_maps, 1);
	/* A partial unmap splits the area: both halves use it. */
	REQUIRE(ufd_ioas_unmap(c1, a, 0, UINT64_MAX, NULL) == 0);
	CHECK_EQ(ufd_mem_unregister(c1, reg), 0);
	CHECK_EQ(ufd_mem_register(c1, src, (uintptr_t)buf, 0, 0, &reg),
		 -EINVAL);
	CHECK_EQ(ufd_mem_register(c1, src, UINT64_MAX - PS, 2 * PS, 0, &reg),
		 -EOVERFLOW);
	CHECK_EQ(ufd_mem_register(c1, src, (uintptr_t)buf, PS, UFD_MAP_READ,
				  &reg),
		 -EOPNOTSUPP);
	CHECK_EQ(pins_at((uintptr_t)buf + 4 * PS), 0);
	CHECK_EQ(ufd_engine_check(eng), 0);
	ufd_ctx_close(c1);
	ufd_ctx_close(other);
	CHECK_EQ(charged(me + 1000), 0);
}

static void test_memlock(void)
{
	struct ufd_ctx *c1 = ctx_as(me + 2000, 8 * PS);
	struct ufd_ctx *c2 = ctx_as(me + 2000, 8 * PS);
	uint32_t a, b, reg, reg2;

	REQUIRE(c1 && c2);
	REQUIRE(ioas_with_domain(c1, &a) == 0);
	REQUIRE(ioas_with_domain(c2, &b) == 0);
	REQUIRE(ufd_mem_register(c1, src, (uintptr_t)buf, 8 * PS, 0, &reg) ==
		0);
	/* Within the limit only because the maps are not charged again. */
	CHECK_EQ(map_at(c1, a, 1ULL << 30, 0, 8 * PS, UFD_MAP_READ), 0);
	CHECK_EQ(map_at(c2, b, 1ULL << 30, 0, 8 * PS, UFD_MAP_READ), 0);
	CHECK_EQ(charged(me + 2000), 8 * PS);
	/* A map outside it is charged, and over the limit. */
	CHECK_EQ(map_at(c2, b, 2ULL << 30, 8 * PS, PS, UFD_MAP_READ), -ENOMEM);
	CHECK_EQ(ufd_mem_register(c2, src, (uintptr_t)buf + 8 * PS, PS, 0,
				  &reg2),
		 -ENOMEM);
	CHECK_EQ(charged(me + 2000), 8 * PS);
	/* Closing the registering context: c2's map still works. */
	ufd_ctx_close(c1);
	CHECK_EQ(pins_at((uintptr_t)buf), 1);
	CHECK_EQ(charged(me + 2000), 8 * PS);
	/* ... and no new map finds the gone registration. */
	CHECK_EQ(map_at(c2, b, 3ULL << 30, 0, PS, UFD_MAP_READ), -ENOMEM);
	REQUIRE(ufd_ioas_unmap(c2, b, 0, UINT64_MAX, NULL) == 0);
	CHECK_EQ(pins_at((uintptr_t)buf), 0);
	CHECK_EQ(charged(me + 2000), 0);
	CHECK_EQ(ufd_engine_check(eng), 0);
	ufd_ctx_close(c2);
}

/* Each step failed at each allocation: nothing pinned, charged, leaked. */
static void test_fail_nth(void)
{
	unsigned long nth;
	unsigned int failures = 0;

	for (nth = 1; nth < 200; nth++) {
		struct ufd_ctx *c1 = ctx_as(me + 3000, UINT64_MAX);
		struct ufd_ctx *c2 = ctx_as(me + 3000, UINT64_MAX);
		struct ufd_mem_reg_info info;
		uint32_t a, b, reg = 0;
		int rc;

		REQUIRE(c1 && c2);
		REQUIRE(ioas_with_domain(c1, &a) == 0);
		REQUIRE(ioas_with_domain(c2, &b) == 0);
		ufd_fail_nth(nth);
		rc = ufd_mem_register(c1, src, (uintptr_t)buf, 16 * PS,
				      UFD_MAP_WRITE, &reg);
		ufd_fail_nth(0);
		CHECK(rc == 0 || rc == -ENOMEM);
		if (rc) {
			CHECK_EQ(pins_at((uintptr_t)buf), 0);
			CHECK_EQ(charged(me + 3000), 0);
			failures++;
			goto next;
		}
		REQUIRE(map_at(c1, a, 1ULL << 30, 0, 16 * PS, UFD_MAP_READ) ==
			0);
		ufd_fail_nth(nth);
		rc = map_at(c2, b, 1ULL << 30, PS, 8 * PS, UFD_MAP_READ);
		ufd_fail_nth(0);
		CHECK(rc == 0 || rc == -ENOMEM);
		REQUIRE(ufd_mem_reg_info(c1, reg, &info) == 0);
		CHECK_EQ(info.nr_maps, rc ? 1 : 2);
		CHECK_EQ(pins_at((uintptr_t)buf + PS), 1);
		CHECK_EQ(charged(me + 3000), 16 * PS);
		if (rc)
			failures++;
		ufd_fail_nth(nth);
		rc = ufd_mem_reg_info(c1, reg, &info);
		ufd_fail_nth(0);
		CHECK_EQ(rc, 0);
		CHECK_EQ(ufd_mem_unregister(c1, reg), -EBUSY);
		CHECK_EQ(ufd_engine_check(eng), 0);
		if (!rc && info.nr_maps == 2) {
			ufd_ctx_close(c1);
			ufd_ctx_close(c2);
			CHECK_EQ(pins_at((uintptr_t)buf), 0);
			CHECK_EQ(charged(me + 3000), 0);
			break; /* past the last allocation of both */
		}
next:
		ufd_ctx_close(c1);
		ufd_ctx_close(c2);
		CHECK_EQ(pins_at((uintptr_t)buf), 0);
		CHECK_EQ(charged(me + 3000), 0);
		CHECK_EQ(ufd_engine_check(eng), 0);
	}
	CHECK(failures >= 2);
}

int main(void)
{
	uint8_t *area;

	buf = harness_map_aligned(buf_len, &area);
	if (!buf)
		return 1;
	memset(buf, 0, buf_len);
	me = getuid();
	eng = ufd_engine_new();
	src = ufd_source_local();
	if (!eng || !src)
		return 1;
	RUN(test_pinned_and_charged_once);
	RUN(test_not_shared);
	RUN(test_memlock);
	RUN(test_fail_nth);
	ufd_source_put(src);
	ufd_engine_free(eng);
	munmap(area, buf_len + SZ_2M);
	HARNESS_EXIT();
}
