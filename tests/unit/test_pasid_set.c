/* SPDX-License-Identifier: MIT */
/*
 * PASID sets with quotas through the public API (src/engine/pasid_set.c):
 * range and quota rules, the lowest free PASID, one allocation per
 * number per context, ENOSPC at the set's quota, at the engine's
 * capacity (shared by contexts) and at the end of the range, the device
 * range, a set with PASIDs is EBUSY to destroy and an attached PASID
 * EBUSY to free, the set attach takes only the set's PASIDs, closing a
 * context gives the capacity back, and an allocation failure at any
 * point leaves the state unchanged (fail-nth sweep).
 */
#include "engine/engine.h"
#include "harness.h"

#define PS 4096ULL

static struct ufd_engine *eng;

static struct ufd_device_info dev_info(unsigned int pasid_log2)
{
	return (struct ufd_device_info){
		.aperture_start = 1ULL << 20,
		.aperture_last = (1ULL << 39) - 1,
		.pgsize_bitmap = PS,
		.max_pasid_log2 = pasid_log2,
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

static uint32_t sys_allocated(void)
{
	uint32_t cap, used;

	ufd_engine_pasid_usage(eng, &cap, &used);
	return used;
}

static void test_rules(void)
{
	struct ufd_ctx *ctx = ctx_open();
	struct ufd_pasid_set_info info;
	uint32_t set, p, ids[4], num;

	REQUIRE(ctx);
	CHECK_EQ(ufd_pasid_set_alloc(ctx, 0, 10, 4, &set), -EINVAL);
	CHECK_EQ(ufd_pasid_set_alloc(ctx, 11, 10, 4, &set), -EINVAL);
	CHECK_EQ(ufd_pasid_set_alloc(ctx, 1, UFD_PASID_MAX + 1, 4, &set),
		 -EINVAL);
	CHECK_EQ(ufd_pasid_set_alloc(ctx, 1, 10, 0, &set), -EINVAL);
	REQUIRE(ufd_pasid_set_alloc(ctx, 5, 7, 2, &set) == 0);
	CHECK_EQ(ufd_obj_kind(ctx, set), UFD_KIND_PASID_SET);

	CHECK_EQ(ufd_pasid_alloc(ctx, set + 1, 0, &p), -ENOENT);
	CHECK_EQ(ufd_pasid_alloc(ctx, set, 0, &p), 0);
	CHECK_EQ(p, 5);
	CHECK_EQ(ufd_pasid_alloc(ctx, set, 0, &p), 0);
	CHECK_EQ(p, 6);
	/* The quota, though 7 is free. */
	CHECK_EQ(ufd_pasid_alloc(ctx, set, 0, &p), -ENOSPC);
	CHECK_EQ(ufd_pasid_set_info(ctx, set, &info), 0);
	CHECK_EQ(info.first, 5);
	CHECK_EQ(info.last, 7);
	CHECK_EQ(info.quota, 2);
	CHECK_EQ(info.allocated, 2);
	CHECK_EQ(info.sys_allocated, 2);
	CHECK_EQ(info.sys_capacity, UFD_PASID_CAPACITY_DEFAULT);

	/* A set with PASIDs stays; free, and the lowest comes back. */
	CHECK_EQ(ufd_destroy(ctx, set), -EBUSY);
	CHECK_EQ(ufd_pasid_free(ctx, set, 7), -ENOENT);
	CHECK_EQ(ufd_pasid_free(ctx, set + 1, 5), -ENOENT);
	CHECK_EQ(ufd_pasid_free(ctx, set, 5), 0);
	CHECK_EQ(ufd_pasid_free(ctx, set, 5), -ENOENT);
	CHECK_EQ(ufd_pasid_alloc(ctx, set, 0, &p), 0);
	CHECK_EQ(p, 5);
	CHECK_EQ(ufd_pasid_set_list(ctx, set, ids, 4, &num), 0);
	CHECK_EQ(num, 2);
	CHECK_EQ(ids[0], 5);
	CHECK_EQ(ids[1], 6);
	CHECK_EQ(ufd_pasid_set_list(ctx, set, ids, 1, &num), 0);
	CHECK_EQ(num, 2);
	CHECK_EQ(ufd_engine_check(eng), 0);
	CHECK_EQ(ufd_pasid_free(ctx, set, 5), 0);
	CHECK_EQ(ufd_pasid_free(ctx, set, 6), 0);
	CHECK_EQ(ufd_destroy(ctx, set), 0);
	CHECK_EQ(ufd_pasid_alloc(ctx, set, 0, &p), -ENOENT);
	CHECK_EQ(sys_allocated(), 0);
	ufd_ctx_close(ctx);
}

static void test_range_and_context(void)
{
	struct ufd_ctx *ctx = ctx_open(), *other = ctx_open();
	uint32_t a, b, c, p, q;

	REQUIRE(ctx && other);
	REQUIRE(ufd_pasid_set_alloc(ctx, 1, 3, 100, &a) == 0);
	REQUIRE(ufd_pasid_set_alloc(ctx, 2, 4, 100, &b) == 0);
	REQUIRE(ufd_pasid_set_alloc(other, 1, 3, 100, &c) == 0);
	CHECK_EQ(ufd_pasid_alloc(ctx, b, 0, &p), 0);
	CHECK_EQ(p, 2);
	/* One allocation per number per context, across its sets. */
	CHECK_EQ(ufd_pasid_alloc(ctx, a, 0, &p), 0);
	CHECK_EQ(p, 1);
	CHECK_EQ(ufd_pasid_alloc(ctx, a, 0, &p), 0);
	CHECK_EQ(p, 3);
	CHECK_EQ(ufd_pasid_alloc(ctx, a, 0, &p), -ENOSPC); /* range used up */
	CHECK_EQ(ufd_pasid_alloc(ctx, b, 0, &p), 0);
	CHECK_EQ(p, 4);
	CHECK_EQ(ufd_pasid_alloc(ctx, b, 0, &p), -ENOSPC);
	/* Another context has its own numbers. */
	CHECK_EQ(ufd_pasid_alloc(other, c, 0, &q), 0);
	CHECK_EQ(q, 1);
	CHECK_EQ(sys_allocated(), 5);
	CHECK_EQ(ufd_engine_check(eng), 0);
	/* Closing gives them back, sets with PASIDs and all. */
	ufd_ctx_close(ctx);
	CHECK_EQ(sys_allocated(), 1);
	ufd_ctx_close(other);
	CHECK_EQ(sys_allocated(), 0);
	CHECK_EQ(ufd_engine_check(eng), 0);
}

static void test_capacity(void)
{
	struct ufd_ctx *ctx = ctx_open(), *other = ctx_open();
	uint32_t a, b, p, cap, used;

	REQUIRE(ctx && other);
	REQUIRE(ufd_pasid_set_alloc(ctx, 1, 100, 100, &a) == 0);
	REQUIRE(ufd_pasid_set_alloc(other, 1, 100, 100, &b) == 0);
	CHECK_EQ(ufd_pasid_alloc(ctx, a, 0, &p), 0);
	CHECK_EQ(ufd_pasid_alloc(ctx, a, 0, &p), 0);
	CHECK_EQ(ufd_engine_set_pasid_capacity(eng, 1), -EBUSY);
	CHECK_EQ(ufd_engine_set_pasid_capacity(eng, UFD_PASID_MAX + 1),
		 -EINVAL);
	CHECK_EQ(ufd_engine_set_pasid_capacity(eng, 3), 0);
	CHECK_EQ(ufd_pasid_alloc(other, b, 0, &p), 0);
	/* The system-wide capacity: both contexts count. */
	CHECK_EQ(ufd_pasid_alloc(other, b, 0, &p), -ENOSPC);
	CHECK_EQ(ufd_pasid_alloc(ctx, a, 0, &p), -ENOSPC);
	ufd_engine_pasid_usage(eng, &cap, &used);
	CHECK_EQ(cap, 3);
	CHECK_EQ(used, 3);
	CHECK_EQ(ufd_pasid_free(ctx, a, 1), 0);
	CHECK_EQ(ufd_pasid_alloc(other, b, 0, &p), 0);
	CHECK_EQ(p, 2);
	CHECK_EQ(ufd_engine_check(eng), 0);
	ufd_ctx_close(ctx);
	ufd_ctx_close(other);
	CHECK_EQ(ufd_engine_set_pasid_capacity(eng, UFD_PASID_CAPACITY_DEFAULT),
		 0);
}

static void test_attach(void)
{
	struct ufd_device_info info = dev_info(3), plain = dev_info(0);
	struct ufd_ctx *ctx = ctx_open();
	uint32_t ioas, dev, nopasid, s2, set, p, q, hw;

	REQUIRE(ctx);
	REQUIRE(ufd_ioas_alloc(ctx, &ioas) == 0);
	REQUIRE(ufd_device_bind(ctx, &info, &dev) == 0);
	REQUIRE(ufd_device_bind(ctx, &plain, &nopasid) == 0);
	REQUIRE(ufd_hwpt_alloc_paging(ctx, dev, ioas, UFD_HWPT_PASID, &s2) ==
		0);
	REQUIRE(ufd_pasid_set_alloc(ctx, 6, 20, 10, &set) == 0);

	/* The device's range: PASIDs 1..7. */
	CHECK_EQ(ufd_pasid_alloc(ctx, set, UINT32_MAX, &p), -ENOENT);
	CHECK_EQ(ufd_pasid_alloc(ctx, set, nopasid, &p), -EINVAL);
	CHECK_EQ(ufd_pasid_alloc(ctx, set, dev, &p), 0);
	CHECK_EQ(p, 6);
	CHECK_EQ(ufd_pasid_alloc(ctx, set, dev, &q), 0);
	CHECK_EQ(q, 7);
	CHECK_EQ(ufd_pasid_alloc(ctx, set, dev, &hw), -ENOSPC);
	CHECK_EQ(ufd_pasid_alloc(ctx, set, 0, &hw), 0); /* the set's: 8 */
	CHECK_EQ(hw, 8);

	/* Only the set's PASIDs; then the PASID attach's own rules. */
	CHECK_EQ(ufd_pasid_set_attach(ctx, set, dev, 5, s2), -ENOENT);
	CHECK_EQ(ufd_pasid_set_attach(ctx, set + 100, dev, p, s2), -ENOENT);
	CHECK_EQ(ufd_pasid_set_attach(ctx, set, dev, 8, s2), -EINVAL);
	CHECK_EQ(ufd_pasid_set_attach(ctx, set, dev, p, ioas), -EINVAL);
	CHECK_EQ(ufd_pasid_set_attach(ctx, set, dev, p, s2), 0);
	CHECK_EQ(ufd_pasid_set_attach(ctx, set, dev, p, s2), -EBUSY);
	CHECK_EQ(ufd_device_pasid_hwpt(ctx, dev, p, &hw), 0);
	CHECK_EQ(hw, s2);
	/* Attached: not freed, the set not destroyed. */
	CHECK_EQ(ufd_pasid_free(ctx, set, p), -EBUSY);
	CHECK_EQ(ufd_destroy(ctx, set), -EBUSY);
	/* The upstream attach of a set's PASID also holds it. */
	CHECK_EQ(ufd_device_pasid_attach(ctx, dev, q, s2), 0);
	CHECK_EQ(ufd_pasid_free(ctx, set, q), -EBUSY);
	CHECK_EQ(ufd_device_pasid_detach(ctx, dev, q), 0);
	CHECK_EQ(ufd_pasid_free(ctx, set, q), 0);
	CHECK_EQ(ufd_device_pasid_detach(ctx, dev, p), 0);
	CHECK_EQ(ufd_pasid_free(ctx, set, p), 0);
	CHECK_EQ(ufd_pasid_free(ctx, set, 8), 0);
	CHECK_EQ(ufd_destroy(ctx, set), 0);
	CHECK_EQ(ufd_engine_check(eng), 0);
	/* A context closed with a set's PASID attached. */
	REQUIRE(ufd_pasid_set_alloc(ctx, 1, 7, 7, &set) == 0);
	REQUIRE(ufd_pasid_alloc(ctx, set, dev, &p) == 0);
	REQUIRE(ufd_pasid_set_attach(ctx, set, dev, p, s2) == 0);
	ufd_ctx_close(ctx);
	CHECK_EQ(sys_allocated(), 0);
	CHECK_EQ(ufd_engine_check(eng), 0);
}

/* Makes a set, allocates from it, attaches one. */
static int workload(struct ufd_ctx *ctx, uint32_t dev, uint32_t s2,
		    uint32_t *set)
{
	uint32_t p, i;
	int rc;

	rc = ufd_pasid_set_alloc(ctx, 1, 100, 50, set);
	if (rc)
		return rc;
	for (i = 0; i != 20; i++) {
		rc = ufd_pasid_alloc(ctx, *set, dev, &p);
		if (rc)
			return rc;
	}
	return ufd_pasid_set_attach(ctx, *set, dev, 3, s2);
}

static void test_fail_nth(void)
{
	struct ufd_device_info info = dev_info(8);
	unsigned long nth;
	int failures = 0;

	for (nth = 1; nth < 100; nth++) {
		struct ufd_ctx *ctx = ctx_open();
		uint32_t ioas, dev, s2, set = 0, before, num = 0;
		struct ufd_pasid_set_info si;
		int rc;

		REQUIRE(ctx);
		REQUIRE(ufd_ioas_alloc(ctx, &ioas) == 0);
		REQUIRE(ufd_device_bind(ctx, &info, &dev) == 0);
		REQUIRE(ufd_hwpt_alloc_paging(ctx, dev, ioas, UFD_HWPT_PASID,
					      &s2) == 0);
		before = sys_allocated();
		ufd_fail_nth(nth);
		rc = workload(ctx, dev, s2, &set);
		ufd_fail_nth(0);
		CHECK(rc == 0 || rc == -ENOMEM);
		CHECK_EQ(ufd_engine_check(eng), 0);
		if (set && ufd_pasid_set_info(ctx, set, &si) == 0) {
			/* What failed left nothing half-done. */
			ufd_pasid_set_list(ctx, set, NULL, 0, &num);
			CHECK_EQ(si.allocated, num);
			CHECK_EQ(sys_allocated(), before + num);
		} else {
			CHECK_EQ(sys_allocated(), before);
		}
		ufd_ctx_close(ctx);
		CHECK_EQ(sys_allocated(), 0);
		CHECK_EQ(ufd_engine_check(eng), 0);
		if (rc == 0)
			break;
		failures++;
	}
	CHECK(failures >= 2); /* the set, and its PASID array */
	CHECK(nth < 100);
}

int main(void)
{
	eng = ufd_engine_new();
	if (!eng)
		return 1;
	RUN(test_rules);
	RUN(test_range_and_context);
	RUN(test_capacity);
	RUN(test_attach);
	RUN(test_fail_nth);
	ufd_engine_free(eng);
	HARNESS_EXIT();
}
