/* SPDX-License-Identifier: MIT */
/*
 * vIOMMUs through the public API: what holds what (a vIOMMU holds its
 * nesting parent and is held by its nested HWPTs, virtual devices, event
 * queues, HW queues and mappings), virtual devices (one per device, one
 * device per ID, tombstoned with their device), event queues (depth, lost
 * events, sequence numbers, read sizes) and HW queues (pinned IOVA that
 * cannot be unmapped, the driver's ordering).  Closing a context with all
 * of it alive must free everything (the sanitizer builds check).
 */
#include <stdbool.h>
#include <sys/mman.h>

#include "engine/engine.h"
#define HARNESS_MMAP
#include "harness.h"

#define PS 4096ULL

static struct ufd_engine *eng;
static struct ufd_source *src;
static uint8_t *buf;
static const size_t buf_len = 512 * PS;

static struct ufd_device_info dev_info(void)
{
	return (struct ufd_device_info){
		.aperture_start = 1ULL << 20,
		.aperture_last = (1ULL << 39) - 1,
		.pgsize_bitmap = PS,
		.hw_info_type = 7,
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

/* A driver with two HW queues per type, in order; counts its destroys. */
struct drv {
	bool q[2];
	int destroyed;
	uint64_t base;
};

static void drv_destroy(void *priv)
{
	((struct drv *)priv)->destroyed++;
}

static int drv_hwq_init(void *priv, uint32_t type, uint32_t index,
			uint64_t base, bool *holds_prev)
{
	struct drv *d = priv;

	(void)type;
	if (index >= 2)
		return -EINVAL;
	if (d->q[index])
		return -EEXIST;
	if (index && !d->q[index - 1])
		return -EIO;
	d->q[index] = true;
	d->base = base;
	*holds_prev = index != 0;
	return 0;
}

static void drv_hwq_destroy(void *priv, uint32_t type, uint32_t index)
{
	(void)type;
	((struct drv *)priv)->q[index] = false;
}

static const struct ufd_viommu_ops drv_ops = {
	.destroy = drv_destroy,
	.hw_queue_init = drv_hwq_init,
	.hw_queue_destroy = drv_hwq_destroy,
};

struct setup {
	struct ufd_ctx *ctx;
	uint32_t ioas, dev, parent, viommu;
	struct drv drv;
};

static bool setup(struct setup *s)
{
	struct ufd_device_info info = dev_info();
	uint64_t off = 0;

	memset(&s->drv, 0, sizeof(s->drv));
	s->ctx = ctx_open();
	return s->ctx && !ufd_ioas_alloc(s->ctx, &s->ioas) &&
	       !ufd_device_bind(s->ctx, &info, &s->dev) &&
	       !ufd_hwpt_alloc_paging(s->ctx, s->dev, s->ioas,
				      UFD_HWPT_NEST_PARENT, &s->parent) &&
	       !ufd_viommu_alloc(s->ctx, s->dev, s->parent, 1, &drv_ops,
				 &s->drv, 0, &off, &s->viommu);
}

static void test_viommu_holds(void)
{
	struct ufd_device_info info = dev_info();
	struct setup s;
	uint32_t plain, v2, nested, id;
	uint64_t off = 0, off2 = 0;
	static const struct ufd_nested_ops nops = { 0 };
	struct drv d2 = { 0 };

	REQUIRE(setup(&s));
	REQUIRE(ufd_hwpt_alloc_paging(s.ctx, s.dev, s.ioas, 0, &plain) == 0);
	CHECK_EQ(ufd_viommu_alloc(s.ctx, s.dev, plain, 1, &drv_ops, &d2, 0,
				  &off, &id),
		 -EINVAL);
	CHECK_EQ(ufd_viommu_alloc(s.ctx, s.dev, 0, 1, &drv_ops, &d2, 0, &off,
				  &id),
		 -ENOENT);
	CHECK_EQ(ufd_viommu_alloc(s.ctx, s.dev, s.parent, 1, &drv_ops, &d2,
				  100, &off, &id),
		 -EINVAL);
	CHECK_EQ(ufd_obj_kind(s.ctx, s.viommu), UFD_KIND_VIOMMU);
	CHECK_EQ(ufd_destroy(s.ctx, s.parent), -EBUSY);

	/* Two mappable vIOMMUs get distinct ranges from one page up. */
	REQUIRE(ufd_viommu_alloc(s.ctx, s.dev, s.parent, 1, &drv_ops, &d2,
				 2 * PS, &off, &v2) == 0);
	CHECK_EQ(off, PS);
	REQUIRE(ufd_viommu_alloc(s.ctx, s.dev, s.parent, 1, NULL, NULL,
				 PS, &off2, &id) == 0);
	CHECK_EQ(off2, 3 * PS);
	CHECK_EQ(ufd_destroy(s.ctx, id), 0);
	CHECK_EQ(ufd_viommu_mmap_find(s.ctx, PS, 2 * PS, &id), 0);
	CHECK_EQ(id, v2);
	CHECK_EQ(ufd_viommu_mmap_find(s.ctx, 2 * PS, 2 * PS, &id), -ENXIO);
	CHECK_EQ(ufd_viommu_mmap_find(s.ctx, PS, PS, &id), -ENXIO);
	CHECK_EQ(ufd_viommu_mmap_find(s.ctx, 3 * PS, PS, &id), -ENXIO);
	CHECK_EQ(ufd_viommu_mmap_get(s.ctx, s.viommu), -ENXIO);
	REQUIRE(ufd_viommu_mmap_get(s.ctx, v2) == 0);
	CHECK_EQ(ufd_destroy(s.ctx, v2), -EBUSY);
	ufd_viommu_mmap_put(s.ctx, v2);
	CHECK_EQ(ufd_destroy(s.ctx, v2), 0);
	CHECK_EQ(d2.destroyed, 1);

	/* A nested HWPT holds the vIOMMU; attaching needs a vdevice. */
	REQUIRE(ufd_viommu_alloc_hwpt_nested(s.ctx, s.dev, s.viommu, 0, 0, &nops,
					     NULL, &nested) == 0);
	CHECK_EQ(ufd_destroy(s.ctx, s.viommu), -EBUSY);
	id = nested;
	CHECK_EQ(ufd_device_attach(s.ctx, s.dev, &id), -ENOENT);
	REQUIRE(ufd_vdevice_alloc(s.ctx, s.viommu, s.dev, 0x99, &id) == 0);
	CHECK_EQ(ufd_obj_kind(s.ctx, id), UFD_KIND_VDEVICE);
	CHECK_EQ(ufd_destroy(s.ctx, s.viommu), -EBUSY);
	{
		uint32_t pt = nested, vid = 0, dev = 0;
		uint64_t virt = 0;

		REQUIRE(ufd_device_attach(s.ctx, s.dev, &pt) == 0);
		CHECK_EQ(ufd_device_viommu(s.ctx, s.dev, &vid, &virt), 0);
		CHECK_EQ(vid, s.viommu);
		CHECK_EQ(virt, 0x99);
		CHECK_EQ(ufd_viommu_find_dev(s.ctx, s.viommu, 0x99, &dev), 0);
		CHECK_EQ(dev, s.dev);
		CHECK_EQ(ufd_viommu_find_dev(s.ctx, s.viommu, 0x98, &dev),
			 -ENOENT);
		CHECK_EQ(ufd_device_detach(s.ctx, s.dev), 0);
		CHECK_EQ(ufd_device_viommu(s.ctx, s.dev, &vid, &virt),
			 -ENOENT);
	}
	CHECK_EQ(ufd_destroy(s.ctx, id), 0);
	CHECK_EQ(ufd_destroy(s.ctx, nested), 0);
	CHECK_EQ(ufd_destroy(s.ctx, s.viommu), 0);
	CHECK_EQ(s.drv.destroyed, 1);
	CHECK_EQ(ufd_destroy(s.ctx, s.parent), 0);
	CHECK_EQ(ufd_destroy(s.ctx, plain), 0);
	(void)info;
	ufd_ctx_close(s.ctx);
}

static void test_vdevice_rules(void)
{
	struct ufd_device_info info = dev_info();
	uint32_t dev2, other, vd, vd2, id, next;
	struct setup s;

	REQUIRE(setup(&s));
	REQUIRE(ufd_device_bind(s.ctx, &info, &dev2) == 0);
	info.hw_info_type = 8;
	REQUIRE(ufd_device_bind(s.ctx, &info, &other) == 0);
	CHECK_EQ(ufd_vdevice_alloc(s.ctx, 0, s.dev, 1, &id), -ENOENT);
	CHECK_EQ(ufd_vdevice_alloc(s.ctx, s.viommu, 0, 1, &id), -ENOENT);
	CHECK_EQ(ufd_vdevice_alloc(s.ctx, s.viommu, other, 1, &id), -EINVAL);
	REQUIRE(ufd_vdevice_alloc(s.ctx, s.viommu, s.dev, 1, &vd) == 0);
	CHECK_EQ(ufd_vdevice_alloc(s.ctx, s.viommu, s.dev, 2, &id), -EEXIST);
	CHECK_EQ(ufd_vdevice_alloc(s.ctx, s.viommu, dev2, 1, &id), -EEXIST);
	REQUIRE(ufd_vdevice_alloc(s.ctx, s.viommu, dev2, 2, &vd2) == 0);

	/* The device goes first: its vdevice's ID is a tombstone. */
	CHECK_EQ(ufd_device_unbind(s.ctx, s.dev), 0);
	CHECK_EQ(ufd_obj_kind(s.ctx, vd), UFD_KIND_NONE);
	CHECK_EQ(ufd_destroy(s.ctx, vd), -ENOENT);
	REQUIRE(ufd_ioas_alloc(s.ctx, &next) == 0);
	CHECK(next != vd);
	CHECK_EQ(ufd_viommu_find_dev(s.ctx, s.viommu, 1, &id), -ENOENT);
	/* The ID is free again on the vIOMMU. */
	REQUIRE(ufd_vdevice_alloc(s.ctx, s.viommu, other, 1, &id) == -EINVAL);
	CHECK_EQ(ufd_destroy(s.ctx, vd2), 0);
	REQUIRE(ufd_vdevice_alloc(s.ctx, s.viommu, dev2, 1, &vd2) == 0);
	/* Closed with a vdevice alive. */
	ufd_ctx_close(s.ctx);
}

static void test_veventq(void)
{
	uint32_t q, id, data = 0x1234;
	uint8_t out[64];
	uint32_t hdr[3];
	struct setup s;
	long n;

	REQUIRE(setup(&s));
	CHECK_EQ(ufd_veventq_alloc(s.ctx, s.viommu, 5, 0, &q), -EINVAL);
	CHECK_EQ(ufd_veventq_alloc(s.ctx, 0, 5, 2, &q), -ENOENT);
	CHECK_EQ(ufd_viommu_report_event(s.ctx, s.viommu, 5, &data, 4),
		 -EOPNOTSUPP);
	REQUIRE(ufd_veventq_alloc(s.ctx, s.viommu, 5, 2, &q) == 0);
	CHECK_EQ(ufd_veventq_alloc(s.ctx, s.viommu, 5, 2, &id), -EEXIST);
	CHECK_EQ(ufd_destroy(s.ctx, s.viommu), -EBUSY);
	REQUIRE(ufd_veventq_hold_fd(s.ctx, q) == 0);
	CHECK_EQ(ufd_destroy(s.ctx, q), -EBUSY);

	CHECK_EQ(ufd_veventq_read(s.ctx, q, out, 7), -EINVAL);
	CHECK_EQ(ufd_veventq_read(s.ctx, q, out, sizeof(out)), 0);
	CHECK(!ufd_veventq_pending(s.ctx, q));
	CHECK_EQ(ufd_viommu_report_event(s.ctx, s.viommu, 5, &data, 4), 0);
	CHECK(ufd_veventq_pending(s.ctx, q));
	CHECK_EQ(ufd_veventq_read(s.ctx, q, out, 8), -EINVAL); /* no room */
	CHECK_EQ(ufd_veventq_read(s.ctx, q, out, sizeof(out)), 12);
	memcpy(hdr, out, 12);
	CHECK_EQ(hdr[0], 0);
	CHECK_EQ(hdr[1], 0);
	CHECK_EQ(hdr[2], 0x1234);

	/* Three into a queue of two: the third is lost (seq 3). */
	CHECK_EQ(ufd_viommu_report_event(s.ctx, s.viommu, 5, &data, 4), 0);
	CHECK_EQ(ufd_viommu_report_event(s.ctx, s.viommu, 5, &data, 4), 0);
	CHECK_EQ(ufd_viommu_report_event(s.ctx, s.viommu, 5, &data, 4), 0);
	CHECK_EQ(ufd_viommu_report_event(s.ctx, s.viommu, 5, &data, 4), 0);
	n = ufd_veventq_read(s.ctx, q, out, sizeof(out));
	CHECK_EQ(n, 12 + 12 + 8);
	memcpy(hdr, out + 24, 8);
	CHECK_EQ(hdr[0], UFD_VEVENT_LOST_EVENTS);
	CHECK_EQ(hdr[1], 4); /* the second loss moved it on */
	memcpy(hdr, out + 12, 8);
	CHECK_EQ(hdr[1], 2);
	CHECK_EQ(ufd_viommu_report_event(s.ctx, s.viommu, 5, &data, 4), 0);
	n = ufd_veventq_read(s.ctx, q, out, sizeof(out));
	CHECK_EQ(n, 12);
	memcpy(hdr, out, 8);
	CHECK_EQ(hdr[0], 0);
	CHECK_EQ(hdr[1], 5);

	ufd_veventq_release_fd(s.ctx, q);
	/* Closed with an event queued. */
	CHECK_EQ(ufd_viommu_report_event(s.ctx, s.viommu, 5, &data, 4), 0);
	ufd_ctx_close(s.ctx);
}

static void test_hw_queue(void)
{
	uint64_t iova = 1ULL << 21, iova2 = iova + PS, unmapped;
	uint32_t q0, q1, id;
	struct setup s;

	REQUIRE(setup(&s));
	CHECK_EQ(ufd_hw_queue_alloc(s.ctx, s.viommu, 1, 0, iova, 0, &id),
		 -EINVAL);
	CHECK_EQ(ufd_hw_queue_alloc(s.ctx, s.viommu, 1, 0, ~0ULL, PS, &id),
		 -EOVERFLOW);
	CHECK_EQ(ufd_hw_queue_alloc(s.ctx, s.viommu, 1, 0, iova, PS, &id),
		 -ENOENT);
	REQUIRE(ufd_ioas_map(s.ctx, s.ioas, src, (uintptr_t)buf, PS, &iova,
			     UFD_MAP_FIXED_IOVA | UFD_MAP_READ |
				     UFD_MAP_WRITE) == 0);
	REQUIRE(ufd_ioas_map(s.ctx, s.ioas, src, (uintptr_t)buf + PS, PS,
			     &iova2,
			     UFD_MAP_FIXED_IOVA | UFD_MAP_READ |
				     UFD_MAP_WRITE) == 0);
	CHECK_EQ(ufd_hw_queue_alloc(s.ctx, s.viommu, 1, 1, iova, PS, &id),
		 -EIO);
	CHECK_EQ(ufd_hw_queue_alloc(s.ctx, s.viommu, 1, 2, iova, PS, &id),
		 -EINVAL);
	REQUIRE(ufd_hw_queue_alloc(s.ctx, s.viommu, 1, 0, iova, PS, &q0) ==
		0);
	CHECK_EQ(s.drv.base, (uintptr_t)buf);
	CHECK_EQ(ufd_hw_queue_alloc(s.ctx, s.viommu, 1, 0, iova, PS, &id),
		 -EEXIST);
	CHECK_EQ(ufd_ioas_unmap(s.ctx, s.ioas, iova, PS, &unmapped), -EBUSY);
	CHECK_EQ(ufd_ioas_unmap(s.ctx, s.ioas, iova2, PS, &unmapped), 0);
	/* Half a page, from the middle of one. */
	REQUIRE(ufd_hw_queue_alloc(s.ctx, s.viommu, 1, 1, iova + PS / 2,
				   PS / 2, &q1) == 0);
	CHECK_EQ(s.drv.base, (uintptr_t)buf + PS / 2);
	CHECK_EQ(ufd_destroy(s.ctx, q0), -EBUSY);
	CHECK_EQ(ufd_destroy(s.ctx, s.viommu), -EBUSY);
	CHECK_EQ(ufd_destroy(s.ctx, q1), 0);
	CHECK_EQ(ufd_destroy(s.ctx, q0), 0);
	CHECK_EQ(ufd_ioas_unmap(s.ctx, s.ioas, iova, PS, &unmapped), 0);
	CHECK_EQ(ufd_engine_check(eng), 0);

	/* Closed with a queue alive: its pin goes too. */
	REQUIRE(ufd_ioas_map(s.ctx, s.ioas, src, (uintptr_t)buf, PS, &iova,
			     UFD_MAP_FIXED_IOVA | UFD_MAP_READ) == 0);
	REQUIRE(ufd_hw_queue_alloc(s.ctx, s.viommu, 1, 0, iova, PS, &q0) ==
		0);
	ufd_ctx_close(s.ctx);
	CHECK_EQ(s.drv.destroyed, 1);
	CHECK_EQ(ufd_engine_check(eng), 0);
}

/* Every allocation of a vIOMMU call may fail and leave nothing behind. */
static void test_fail_nth(void)
{
	unsigned long nth;
	bool done = false;

	for (nth = 1; !done && nth < 64; nth++) {
		uint64_t iova = 1ULL << 21;
		struct setup s;
		uint32_t id, q;
		int rc1, rc2, rc3, rc4;

		REQUIRE(setup(&s));
		REQUIRE(ufd_ioas_map(s.ctx, s.ioas, src, (uintptr_t)buf, PS,
				     &iova,
				     UFD_MAP_FIXED_IOVA | UFD_MAP_READ) == 0);
		ufd_fail_nth(nth);
		rc1 = ufd_vdevice_alloc(s.ctx, s.viommu, s.dev, 3, &id);
		rc2 = ufd_veventq_alloc(s.ctx, s.viommu, 9, 4, &q);
		rc3 = ufd_hw_queue_alloc(s.ctx, s.viommu, 1, 0, iova, PS, &id);
		rc4 = rc2 ? rc2 :
			    ufd_viommu_report_event(s.ctx, s.viommu, 9, &nth,
						    sizeof(nth));
		ufd_fail_nth(0);
		done = !rc1 && !rc2 && !rc3 && !rc4;
		CHECK(!rc1 || rc1 == -ENOMEM);
		CHECK(!rc2 || rc2 == -ENOMEM);
		CHECK(!rc3 || rc3 == -ENOMEM);
		CHECK(!rc4 || rc4 == -ENOMEM);
		ufd_ctx_close(s.ctx);
		CHECK_EQ(ufd_engine_check(eng), 0);
	}
	CHECK(done);
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
	RUN(test_viommu_holds);
	RUN(test_vdevice_rules);
	RUN(test_veventq);
	RUN(test_hw_queue);
	RUN(test_fail_nth);
	ufd_source_put(src);
	ufd_engine_free(eng);
	munmap(area, buf_len + (2u << 20));
	HARNESS_EXIT();
}
