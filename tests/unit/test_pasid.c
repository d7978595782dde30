/* SPDX-License-Identifier: MIT */
/*
 * PASID attachments through the public API, written from the iommufd
 * uAPI comments and the rules its selftest checks: only HWPTs made with
 * UFD_HWPT_PASID serve PASIDs, and only while the RID agrees; attach
 * never overwrites (-EBUSY), replace needs an attachment (-EINVAL),
 * detach of nothing succeeds; an attachment holds its HWPT; unbinding
 * drops them; the driver's hook has the last word and a refusal changes
 * nothing; faults of an attached PASID go to its HWPT's queue; an
 * allocation failure leaves the state as it was.
 */
#include <pthread.h>
#include <sched.h>

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
		.dirty_tracking = true,
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

static uint32_t pasid_hwpt(struct ufd_ctx *ctx, uint32_t dev, uint32_t pasid)
{
	uint32_t id = UINT32_MAX;

	if (ufd_device_pasid_hwpt(ctx, dev, pasid, &id))
		return UINT32_MAX;
	return id;
}

static void test_attach_rules(void)
{
	struct ufd_device_info info = dev_info(20), plain = dev_info(0);
	struct ufd_ctx *ctx = ctx_open();
	uint32_t ioas, dev, nopasid, s2, s2b, other, pt;

	REQUIRE(ctx);
	REQUIRE(ufd_ioas_alloc(ctx, &ioas) == 0);
	REQUIRE(ufd_device_bind(ctx, &info, &dev) == 0);
	REQUIRE(ufd_device_bind(ctx, &plain, &nopasid) == 0);
	REQUIRE(ufd_hwpt_alloc_paging(ctx, dev, ioas, UFD_HWPT_PASID, &s2) ==
		0);
	REQUIRE(ufd_hwpt_alloc_paging(ctx, dev, ioas, UFD_HWPT_PASID, &s2b) ==
		0);
	REQUIRE(ufd_hwpt_alloc_paging(ctx, dev, ioas, 0, &other) == 0);

	/* Naming: unknown device or HWPT, an IOAS, the RID, out of range. */
	CHECK_EQ(ufd_device_pasid_attach(ctx, UINT32_MAX, 5, s2), -ENOENT);
	CHECK_EQ(ufd_device_pasid_attach(ctx, dev, 5, UINT32_MAX), -ENOENT);
	CHECK_EQ(ufd_device_pasid_attach(ctx, dev, 5, ioas), -EINVAL);
	CHECK_EQ(ufd_device_pasid_attach(ctx, dev, 5, dev), -EINVAL);
	CHECK_EQ(ufd_device_pasid_attach(ctx, dev, UFD_NO_PASID, s2), -EINVAL);
	CHECK_EQ(ufd_device_pasid_attach(ctx, dev, 1u << 20, s2), -EINVAL);
	CHECK_EQ(ufd_device_pasid_attach(ctx, nopasid, 5, s2), -EINVAL);
	/* A HWPT made without UFD_HWPT_PASID never serves a PASID. */
	CHECK_EQ(ufd_device_pasid_attach(ctx, dev, 5, other), -EINVAL);
	CHECK_EQ(pasid_hwpt(ctx, dev, 5), 0);

	/* The widest PASID there is, and a second one on the same HWPT. */
	CHECK_EQ(ufd_device_pasid_attach(ctx, dev, (1u << 20) - 1, s2), 0);
	CHECK_EQ(ufd_device_pasid_attach(ctx, dev, 5, s2), 0);
	CHECK_EQ(pasid_hwpt(ctx, dev, 5), s2);
	CHECK_EQ(pasid_hwpt(ctx, dev, 6), 0);
	CHECK_EQ(pasid_hwpt(ctx, dev, UFD_NO_PASID), 0); /* the RID: none */
	/* Attach does not overwrite, whatever the HWPT. */
	CHECK_EQ(ufd_device_pasid_attach(ctx, dev, 5, s2), -EBUSY);
	CHECK_EQ(ufd_device_pasid_attach(ctx, dev, 5, s2b), -EBUSY);
	CHECK_EQ(pasid_hwpt(ctx, dev, 5), s2);

	/* Replace: needs an attachment, keeps the old one on any error. */
	CHECK_EQ(ufd_device_pasid_replace(ctx, dev, 6, s2b), -EINVAL);
	CHECK_EQ(pasid_hwpt(ctx, dev, 6), 0);
	CHECK_EQ(ufd_device_pasid_replace(ctx, dev, 5, ioas), -EINVAL);
	CHECK_EQ(ufd_device_pasid_replace(ctx, dev, 5, other), -EINVAL);
	CHECK_EQ(ufd_device_pasid_replace(ctx, dev, 5, UINT32_MAX), -ENOENT);
	CHECK_EQ(pasid_hwpt(ctx, dev, 5), s2);
	CHECK_EQ(ufd_device_pasid_replace(ctx, dev, 5, s2), 0); /* same */
	CHECK_EQ(ufd_device_pasid_replace(ctx, dev, 5, s2b), 0);
	CHECK_EQ(pasid_hwpt(ctx, dev, 5), s2b);

	/* The RID: no HWPT without UFD_HWPT_PASID while PASIDs are on. */
	pt = other;
	CHECK_EQ(ufd_device_attach(ctx, dev, &pt), -EINVAL);
	pt = ioas; /* automatic HWPTs are not PASID-compatible */
	CHECK_EQ(ufd_device_attach(ctx, dev, &pt), -EINVAL);
	CHECK_EQ(pt, ioas);
	pt = s2;
	CHECK_EQ(ufd_device_attach(ctx, dev, &pt), 0);
	pt = other;
	CHECK_EQ(ufd_device_replace(ctx, dev, &pt), -EINVAL);
	CHECK_EQ(pasid_hwpt(ctx, dev, UFD_NO_PASID), s2);

	/* Detach: of nothing succeeds; the RID can move once all are off. */
	CHECK_EQ(ufd_device_pasid_detach(ctx, dev, 6), 0);
	CHECK_EQ(ufd_device_pasid_detach(ctx, dev, UFD_NO_PASID), -EINVAL);
	CHECK_EQ(ufd_device_pasid_detach(ctx, UINT32_MAX, 5), -ENOENT);
	CHECK_EQ(ufd_device_pasid_detach(ctx, dev, 5), 0);
	CHECK_EQ(ufd_device_pasid_detach(ctx, dev, (1u << 20) - 1), 0);
	CHECK_EQ(pasid_hwpt(ctx, dev, 5), 0);
	pt = other;
	CHECK_EQ(ufd_device_replace(ctx, dev, &pt), 0);
	/* ... and with the RID on such a HWPT, no PASID attaches. */
	CHECK_EQ(ufd_device_pasid_attach(ctx, dev, 5, s2), -EINVAL);
	CHECK_EQ(ufd_device_detach(ctx, dev), 0);
	CHECK_EQ(ufd_device_pasid_attach(ctx, dev, 5, s2), 0);
	CHECK_EQ(ufd_device_pasid_detach(ctx, dev, 5), 0);

	CHECK_EQ(ufd_destroy(ctx, s2), 0);
	CHECK_EQ(ufd_destroy(ctx, s2b), 0);
	CHECK_EQ(ufd_destroy(ctx, other), 0);
	CHECK_EQ(ufd_engine_check(eng), 0);
	ufd_ctx_close(ctx);
}

static void test_lifetimes(void)
{
	struct ufd_device_info info = dev_info(8);
	static const struct ufd_nested_ops nops = { 0 };
	struct ufd_ctx *ctx = ctx_open();
	uint32_t ioas, dev, s2, parent, nested, plain_nested;
	int token;

	REQUIRE(ctx);
	REQUIRE(ufd_ioas_alloc(ctx, &ioas) == 0);
	REQUIRE(ufd_device_bind(ctx, &info, &dev) == 0);
	REQUIRE(ufd_hwpt_alloc_paging(ctx, dev, ioas, UFD_HWPT_PASID, &s2) ==
		0);
	REQUIRE(ufd_hwpt_alloc_paging(ctx, dev, ioas, UFD_HWPT_NEST_PARENT,
				      &parent) == 0);
	CHECK_EQ(ufd_hwpt_alloc_nested_flags(ctx, dev, parent, 0,
					     UFD_HWPT_NEST_PARENT, &nops,
					     &token, &nested),
		 -EOPNOTSUPP);
	REQUIRE(ufd_hwpt_alloc_nested_flags(ctx, dev, parent, 0,
					    UFD_HWPT_PASID, &nops, &token,
					    &nested) == 0);
	REQUIRE(ufd_hwpt_alloc_nested(ctx, dev, parent, 0, &nops, &token,
				      &plain_nested) == 0);

	/* An attached PASID holds its HWPT, paging or nested. */
	CHECK_EQ(ufd_device_pasid_attach(ctx, dev, 1, s2), 0);
	CHECK_EQ(ufd_device_pasid_attach(ctx, dev, 2, nested), 0);
	CHECK_EQ(ufd_device_pasid_attach(ctx, dev, 3, plain_nested), -EINVAL);
	CHECK_EQ(ufd_destroy(ctx, s2), -EBUSY);
	CHECK_EQ(ufd_destroy(ctx, nested), -EBUSY);
	CHECK_EQ(ufd_destroy(ctx, parent), -EBUSY);
	CHECK_EQ(ufd_destroy(ctx, ioas), -EBUSY);
	/* Replacing lets the old one go. */
	CHECK_EQ(ufd_device_pasid_replace(ctx, dev, 2, s2), 0);
	CHECK_EQ(ufd_destroy(ctx, nested), 0);
	CHECK_EQ(ufd_destroy(ctx, plain_nested), 0);
	CHECK_EQ(ufd_destroy(ctx, parent), 0);
	CHECK_EQ(ufd_destroy(ctx, s2), -EBUSY);
	CHECK_EQ(ufd_device_pasid_detach(ctx, dev, 1), 0);
	CHECK_EQ(ufd_destroy(ctx, s2), -EBUSY); /* PASID 2 still holds it */
	/* Unbinding the device drops its PASIDs. */
	CHECK_EQ(ufd_device_unbind(ctx, dev), 0);
	CHECK_EQ(ufd_destroy(ctx, s2), 0);
	CHECK_EQ(ufd_destroy(ctx, ioas), 0);

	/* Closing the context with PASIDs attached frees everything. */
	REQUIRE(ufd_ioas_alloc(ctx, &ioas) == 0);
	REQUIRE(ufd_device_bind(ctx, &info, &dev) == 0);
	REQUIRE(ufd_hwpt_alloc_paging(ctx, dev, ioas, UFD_HWPT_PASID, &s2) ==
		0);
	CHECK_EQ(ufd_device_pasid_attach(ctx, dev, 7, s2), 0);
	CHECK_EQ(ufd_engine_check(eng), 0);
	ufd_ctx_close(ctx);
}

/* A driver that records its calls and refuses when told to. */
struct rec_driver {
	int refuse;
	unsigned int calls;
	uint32_t pasid, hwpt_id, old_hwpt_id;
};

static int rec_set_dev_pasid(void *driver_data, uint32_t pasid,
			     uint32_t hwpt_id, uint32_t old_hwpt_id)
{
	struct rec_driver *d = *(struct rec_driver **)driver_data;

	d->calls++;
	d->pasid = pasid;
	d->hwpt_id = hwpt_id;
	d->old_hwpt_id = old_hwpt_id;
	return d->refuse;
}

static const struct ufd_device_ops rec_ops = {
	.set_dev_pasid = rec_set_dev_pasid,
};

static void test_driver_hook(void)
{
	struct ufd_device_info info = dev_info(20);
	struct ufd_ctx *ctx = ctx_open();
	struct rec_driver d = { 0 };
	uint32_t ioas, dev, s2, s2b, nodirty_dev, dirty_hwpt;
	void *data;

	REQUIRE(ctx);
	info.ops = &rec_ops;
	info.driver_data_size = sizeof(struct rec_driver *);
	REQUIRE(ufd_ioas_alloc(ctx, &ioas) == 0);
	REQUIRE(ufd_device_bind(ctx, &info, &dev) == 0);
	REQUIRE(ufd_device_driver_data(ctx, dev, &data) == 0);
	*(struct rec_driver **)data = &d;
	REQUIRE(ufd_hwpt_alloc_paging(ctx, dev, ioas, UFD_HWPT_PASID, &s2) ==
		0);
	REQUIRE(ufd_hwpt_alloc_paging(ctx, dev, ioas, UFD_HWPT_PASID, &s2b) ==
		0);

	/* The engine's own refusals never reach the driver. */
	CHECK_EQ(ufd_device_pasid_attach(ctx, dev, 9, ioas), -EINVAL);
	CHECK_EQ(d.calls, 0);

	d.refuse = -ENOMEM;
	CHECK_EQ(ufd_device_pasid_attach(ctx, dev, 9, s2), -ENOMEM);
	CHECK_EQ(d.calls, 1);
	CHECK_EQ(d.hwpt_id, s2);
	CHECK_EQ(d.old_hwpt_id, 0);
	CHECK_EQ(pasid_hwpt(ctx, dev, 9), 0);
	CHECK_EQ(ufd_destroy(ctx, s2b), 0); /* nothing was held */
	REQUIRE(ufd_hwpt_alloc_paging(ctx, dev, ioas, UFD_HWPT_PASID, &s2b) ==
		0);

	d.refuse = 0;
	CHECK_EQ(ufd_device_pasid_attach(ctx, dev, 9, s2), 0);
	d.refuse = -EIO;
	CHECK_EQ(ufd_device_pasid_replace(ctx, dev, 9, s2b), -EIO);
	CHECK_EQ(d.pasid, 9);
	CHECK_EQ(d.hwpt_id, s2b);
	CHECK_EQ(d.old_hwpt_id, s2);
	CHECK_EQ(pasid_hwpt(ctx, dev, 9), s2);
	CHECK_EQ(ufd_destroy(ctx, s2b), 0); /* the refused replace held none */
	d.refuse = 0;
	d.calls = 0;
	CHECK_EQ(ufd_device_pasid_replace(ctx, dev, 9, s2), 0); /* same */
	CHECK_EQ(d.calls, 0);
	/* Detach blocks: the driver is told, and cannot refuse. */
	CHECK_EQ(ufd_device_pasid_detach(ctx, dev, 9), 0);
	CHECK_EQ(d.calls, 1);
	CHECK_EQ(d.hwpt_id, 0);
	CHECK_EQ(d.old_hwpt_id, s2);
	CHECK_EQ(pasid_hwpt(ctx, dev, 9), 0);

	/* The domain's own check: no dirty-tracking HWPT for a NO_DIRTY one. */
	info = dev_info(20);
	info.dirty_tracking = false;
	REQUIRE(ufd_device_bind(ctx, &info, &nodirty_dev) == 0);
	REQUIRE(ufd_hwpt_alloc_paging(ctx, dev, ioas,
				      UFD_HWPT_PASID | UFD_HWPT_DIRTY_TRACKING,
				      &dirty_hwpt) == 0);
	CHECK_EQ(ufd_device_pasid_attach(ctx, nodirty_dev, 3, dirty_hwpt),
		 -EINVAL);
	CHECK_EQ(ufd_device_pasid_attach(ctx, dev, 3, dirty_hwpt), 0);
	CHECK_EQ(ufd_hwpt_set_dirty_tracking(ctx, dirty_hwpt, true), 0);
	CHECK_EQ(ufd_hwpt_set_dirty_tracking(ctx, dirty_hwpt, false), 0);
	CHECK_EQ(ufd_device_pasid_detach(ctx, dev, 3), 0);
	ufd_ctx_close(ctx);
}

static void test_faults_and_hw_info(void)
{
	struct ufd_device_info info = dev_info(20);
	static const struct ufd_nested_ops nops = { 0 };
	struct ufd_ctx *ctx = ctx_open();
	struct ufd_pgfault f = { .flags = UFD_PGFAULT_LAST_PAGE, .addr = 0 };
	struct ufd_pgfault out[2];
	struct ufd_hw_info hw;
	uint32_t ioas, dev, parent, rid_hwpt, pasid_hwpt_id, qrid, qpasid;
	int token;

	REQUIRE(ctx);
	REQUIRE(ufd_ioas_alloc(ctx, &ioas) == 0);
	info.pasid_exec = true;
	REQUIRE(ufd_device_bind(ctx, &info, &dev) == 0);
	REQUIRE(ufd_device_get_hw_info(ctx, dev, NULL, 0, &hw) == 0);
	CHECK_EQ(hw.max_pasid_log2, 20);
	CHECK_EQ(hw.capabilities, 1 | 2); /* DIRTY_TRACKING | PASID_EXEC */
	info = dev_info(0);
	info.pasid_exec = info.pasid_priv = true;
	{
		uint32_t plain;

		REQUIRE(ufd_device_bind(ctx, &info, &plain) == 0);
		REQUIRE(ufd_device_get_hw_info(ctx, plain, NULL, 0, &hw) == 0);
		CHECK_EQ(hw.max_pasid_log2, 0);
		CHECK_EQ(hw.capabilities, 1); /* no PASID: no PASID bits */
		CHECK_EQ(ufd_device_unbind(ctx, plain), 0);
	}

	REQUIRE(ufd_fault_alloc(ctx, &qrid) == 0);
	REQUIRE(ufd_fault_alloc(ctx, &qpasid) == 0);
	REQUIRE(ufd_hwpt_alloc_paging(ctx, dev, ioas, UFD_HWPT_NEST_PARENT,
				      &parent) == 0);
	REQUIRE(ufd_hwpt_alloc_nested_flags(ctx, dev, parent, qrid,
					    UFD_HWPT_PASID, &nops, &token,
					    &rid_hwpt) == 0);
	REQUIRE(ufd_hwpt_alloc_nested_flags(ctx, dev, parent, qpasid,
					    UFD_HWPT_PASID, &nops, &token,
					    &pasid_hwpt_id) == 0);
	CHECK_EQ(ufd_device_attach(ctx, dev, &rid_hwpt), 0);
	CHECK_EQ(ufd_device_pasid_attach(ctx, dev, 2048, pasid_hwpt_id), 0);

	/* At an attached PASID: its queue.  Elsewhere: the RID's. */
	f.flags |= UFD_PGFAULT_PASID_VALID;
	f.pasid = 2048;
	CHECK_EQ(ufd_device_report_fault(ctx, dev, &f), 0);
	f.pasid = 1;
	CHECK_EQ(ufd_device_report_fault(ctx, dev, &f), 0);
	f.flags &= ~UFD_PGFAULT_PASID_VALID;
	f.pasid = 2048; /* not valid: the RID's */
	CHECK_EQ(ufd_device_report_fault(ctx, dev, &f), 0);
	CHECK_EQ(ufd_fault_read(ctx, qpasid, out, 2), 1);
	CHECK_EQ(out[0].pasid, 2048);
	CHECK_EQ(ufd_fault_read(ctx, qrid, out, 1), 1);
	CHECK_EQ(out[0].pasid, 1);
	CHECK_EQ(ufd_fault_read(ctx, qrid, out, 1), 1);
	CHECK_EQ(ufd_fault_read(ctx, qrid, out, 1), 0);
	CHECK_EQ(ufd_device_pasid_detach(ctx, dev, 2048), 0);
	CHECK_EQ(ufd_destroy(ctx, pasid_hwpt_id), 0);
	ufd_ctx_close(ctx);
}

/* A port of a PASID DMAs through that PASID's HWPT, the RID's through its. */
static void test_dma(void)
{
	struct ufd_device_info info = dev_info(20);
	struct ufd_ctx *ctx = ctx_open();
	struct ufd_source *src = ufd_source_local();
	static uint8_t mem_a[PS] __attribute__((aligned(4096)));
	static uint8_t mem_b[PS] __attribute__((aligned(4096)));
	uint32_t ioas_a, ioas_b, dev, ha, hb, pt;
	struct ufd_dma *rid, *p5, *bad;
	uint64_t iova = 1ULL << 24;
	uint8_t c = 0;

	REQUIRE(ctx && src);
	memset(mem_a, 0xaa, sizeof(mem_a));
	memset(mem_b, 0xbb, sizeof(mem_b));
	REQUIRE(ufd_ioas_alloc(ctx, &ioas_a) == 0);
	REQUIRE(ufd_ioas_alloc(ctx, &ioas_b) == 0);
	REQUIRE(ufd_ioas_map(ctx, ioas_a, src, (uintptr_t)mem_a, PS, &iova,
			     UFD_MAP_FIXED_IOVA | UFD_MAP_READ |
				     UFD_MAP_WRITE) == 0);
	REQUIRE(ufd_ioas_map(ctx, ioas_b, src, (uintptr_t)mem_b, PS, &iova,
			     UFD_MAP_FIXED_IOVA | UFD_MAP_READ) == 0);
	REQUIRE(ufd_device_bind(ctx, &info, &dev) == 0);
	REQUIRE(ufd_hwpt_alloc_paging(ctx, dev, ioas_a, UFD_HWPT_PASID, &ha) ==
		0);
	REQUIRE(ufd_hwpt_alloc_paging(ctx, dev, ioas_b, UFD_HWPT_PASID, &hb) ==
		0);
	CHECK_EQ(ufd_dma_open_pasid(ctx, dev, 1u << 20, &bad), -EINVAL);
	CHECK_EQ(ufd_dma_open_pasid(ctx, UINT32_MAX, 5, &bad), -ENOENT);
	REQUIRE(ufd_dma_open_pasid(ctx, dev, UFD_NO_PASID, &rid) == 0);
	REQUIRE(ufd_dma_open_pasid(ctx, dev, 5, &p5) == 0);

	/* Nothing at PASID 5 yet: no translation. */
	CHECK_EQ(ufd_dma_read(p5, iova, &c, 1), -ENODEV);
	pt = ha;
	CHECK_EQ(ufd_device_attach(ctx, dev, &pt), 0);
	CHECK_EQ(ufd_dma_read(p5, iova, &c, 1), -ENODEV);
	CHECK_EQ(ufd_device_pasid_attach(ctx, dev, 5, hb), 0);
	CHECK_EQ(ufd_dma_read(p5, iova, &c, 1), 0);
	CHECK_EQ(c, 0xbb);
	CHECK_EQ(ufd_dma_read(rid, iova, &c, 1), 0);
	CHECK_EQ(c, 0xaa);
	/* The PASID's mapping is read-only; the RID's is not. */
	c = 0x11;
	CHECK_EQ(ufd_dma_write(p5, iova, &c, 1), -EFAULT);
	CHECK_EQ(ufd_dma_write(rid, iova, &c, 1), 0);
	CHECK_EQ(mem_a[0], 0x11);
	CHECK_EQ(mem_b[0], 0xbb);
	/* Replace and detach take effect on the next DMA. */
	CHECK_EQ(ufd_device_pasid_replace(ctx, dev, 5, ha), 0);
	CHECK_EQ(ufd_dma_read(p5, iova, &c, 1), 0);
	CHECK_EQ(c, 0x11);
	CHECK_EQ(ufd_device_pasid_detach(ctx, dev, 5), 0);
	CHECK_EQ(ufd_dma_read(p5, iova, &c, 1), -ENODEV);
	/* An open port keeps the device bound, whichever PASID it carries. */
	CHECK_EQ(ufd_device_unbind(ctx, dev), -EBUSY);
	ufd_dma_close(p5);
	ufd_dma_close(rid);
	CHECK_EQ(ufd_device_unbind(ctx, dev), 0);
	ufd_source_put(src);
	ufd_ctx_close(ctx);
}

struct pasid_race {
	struct ufd_dma *dma;
	uint64_t iova;
	bool stop;
	unsigned long seen_a, seen_b, nodev, bad;
};

static void *pasid_dma_thread(void *arg)
{
	struct pasid_race *r = arg;

	unsigned long n = 0, *count;

	while (!__atomic_load_n(&r->stop, __ATOMIC_RELAXED)) {
		uint64_t v = 0;
		int rc = ufd_dma_read(r->dma, r->iova, &v, sizeof(v));

		if (rc == -ENODEV)
			count = &r->nodev;
		else if (!rc && v == 0xaaaaaaaaaaaaaaaaULL)
			count = &r->seen_a;
		else if (!rc && v == 0xbbbbbbbbbbbbbbbbULL)
			count = &r->seen_b;
		else
			count = &r->bad;
		__atomic_fetch_add(count, 1, __ATOMIC_RELAXED);
		if (++n % 64 == 0)
			sched_yield(); /* let the writer in */
	}
	return NULL;
}

/*
 * DMA of a PASID port against attach, replace, detach and the table
 * growing under it: every read sees one HWPT whole, or none.
 */
static void test_dma_vs_changes(void)
{
	struct ufd_device_info info = dev_info(20);
	struct ufd_ctx *ctx = ctx_open();
	struct ufd_source *src = ufd_source_local();
	static uint8_t mem_a[PS] __attribute__((aligned(4096)));
	static uint8_t mem_b[PS] __attribute__((aligned(4096)));
	struct pasid_race r = { .iova = 1ULL << 24 };
	uint32_t ioas_a, ioas_b, dev, ha, hb, p;
	uint64_t iova = r.iova;
	pthread_t t;
	int i;

	REQUIRE(ctx && src);
	memset(mem_a, 0xaa, sizeof(mem_a));
	memset(mem_b, 0xbb, sizeof(mem_b));
	REQUIRE(ufd_ioas_alloc(ctx, &ioas_a) == 0);
	REQUIRE(ufd_ioas_alloc(ctx, &ioas_b) == 0);
	REQUIRE(ufd_ioas_map(ctx, ioas_a, src, (uintptr_t)mem_a, PS, &iova,
			     UFD_MAP_FIXED_IOVA | UFD_MAP_READ) == 0);
	REQUIRE(ufd_ioas_map(ctx, ioas_b, src, (uintptr_t)mem_b, PS, &iova,
			     UFD_MAP_FIXED_IOVA | UFD_MAP_READ) == 0);
	REQUIRE(ufd_device_bind(ctx, &info, &dev) == 0);
	REQUIRE(ufd_hwpt_alloc_paging(ctx, dev, ioas_a, UFD_HWPT_PASID, &ha) ==
		0);
	REQUIRE(ufd_hwpt_alloc_paging(ctx, dev, ioas_b, UFD_HWPT_PASID, &hb) ==
		0);
	REQUIRE(ufd_dma_open_pasid(ctx, dev, 5, &r.dma) == 0);
	REQUIRE(pthread_create(&t, NULL, pasid_dma_thread, &r) == 0);
	/* Until the reader saw every state (a busy machine may starve it). */
	for (i = 0; i < 500 || ((!__atomic_load_n(&r.seen_a, __ATOMIC_RELAXED) ||
				  !__atomic_load_n(&r.seen_b, __ATOMIC_RELAXED) ||
				  !__atomic_load_n(&r.nodev, __ATOMIC_RELAXED)) &&
				 i < 50000);
	     i++) {
		CHECK_EQ(ufd_device_pasid_attach(ctx, dev, 5, ha), 0);
		sched_yield();
		/* Other PASIDs come and go, moving the table. */
		for (p = 100; p != 100 + (uint32_t)(i % 9); p++)
			CHECK_EQ(ufd_device_pasid_attach(ctx, dev, p, hb), 0);
		CHECK_EQ(ufd_device_pasid_replace(ctx, dev, 5, hb), 0);
		sched_yield();
		for (p = 100; p != 100 + (uint32_t)(i % 9); p++)
			CHECK_EQ(ufd_device_pasid_detach(ctx, dev, p), 0);
		CHECK_EQ(ufd_device_pasid_detach(ctx, dev, 5), 0);
		sched_yield();
	}
	__atomic_store_n(&r.stop, true, __ATOMIC_RELAXED);
	pthread_join(t, NULL);
	CHECK_EQ(r.bad, 0);
	CHECK(r.seen_a && r.seen_b && r.nodev);
	ufd_dma_close(r.dma);
	CHECK_EQ(ufd_engine_check(eng), 0);
	ufd_source_put(src);
	ufd_ctx_close(ctx);
}

/* Every allocation of an attach may fail; each failure changes nothing. */
static void test_fail_nth(void)
{
	struct ufd_device_info info = dev_info(20);
	struct ufd_ctx *ctx = ctx_open();
	uint32_t ioas, dev, s2, pasid, n;
	unsigned long nth;
	int rc;

	REQUIRE(ctx);
	REQUIRE(ufd_ioas_alloc(ctx, &ioas) == 0);
	REQUIRE(ufd_device_bind(ctx, &info, &dev) == 0);
	REQUIRE(ufd_hwpt_alloc_paging(ctx, dev, ioas, UFD_HWPT_PASID, &s2) ==
		0);
	/* Enough PASIDs to grow the table several times. */
	for (pasid = 1; pasid <= 40; pasid++) {
		for (nth = 1;; nth++) {
			ufd_fail_nth(nth);
			rc = ufd_device_pasid_attach(ctx, dev, pasid, s2);
			ufd_fail_nth(0);
			if (!rc)
				break;
			CHECK_EQ(rc, -ENOMEM);
			CHECK_EQ(pasid_hwpt(ctx, dev, pasid), 0);
			REQUIRE(nth < 10);
		}
		CHECK_EQ(pasid_hwpt(ctx, dev, pasid), s2);
	}
	for (n = 0, pasid = 1; pasid <= 40; pasid++)
		n += pasid_hwpt(ctx, dev, pasid) == s2;
	CHECK_EQ(n, 40);
	CHECK_EQ(ufd_destroy(ctx, s2), -EBUSY);
	for (pasid = 40; pasid >= 1; pasid--)
		CHECK_EQ(ufd_device_pasid_detach(ctx, dev, pasid), 0);
	CHECK_EQ(ufd_destroy(ctx, s2), 0);
	CHECK_EQ(ufd_engine_check(eng), 0);
	ufd_ctx_close(ctx);
}

int main(void)
{
	eng = ufd_engine_new();
	if (!eng)
		return 1;
	RUN(test_attach_rules);
	RUN(test_lifetimes);
	RUN(test_driver_hook);
	RUN(test_faults_and_hw_info);
	RUN(test_dma);
	RUN(test_dma_vs_changes);
	RUN(test_fail_nth);
	ufd_engine_free(eng);
	HARNESS_EXIT();
}
