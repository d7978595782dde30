/* SPDX-License-Identifier: MIT */
/*
 * The x86-64 format stage 1 of nested HWPTs: a guest builds its table in
 * its own memory (guest physical addresses are IOVAs of the parent
 * domain), a device's DMA walks it through the parent, the IOTLB keeps a
 * translation after the guest changes its table until the guest
 * invalidates it, permissions and superpages work as on x86.
 */
#include <sys/mman.h>

#include "engine/engine.h"
#include "harness.h"

#define PS 4096ULL
#define GUEST_GPA 0x100000000ULL /* guest memory at 4 GiB */
#define GUEST_SIZE (8ULL << 20)

#define P 1ULL
#define RW 2ULL
#define PSZ (1ULL << 7)

static uint8_t *guest; /* host view of guest memory, 2 MiB aligned */
static struct ufd_engine *eng;
static struct ufd_source *src;

/* Guest-physical page allocator over the guest buffer. */
static uint64_t next_table = GUEST_GPA;

static uint64_t *at(uint64_t gpa)
{
	return (uint64_t *)(guest + (gpa - GUEST_GPA));
}

static uint64_t new_table(void)
{
	uint64_t gpa = next_table;

	next_table += PS;
	memset(at(gpa), 0, PS);
	return gpa;
}

/* Make the guest map @iova -> @gpa with a leaf of @level (1: 4K, 2: 2M). */
static void guest_map(uint64_t root, uint64_t iova, uint64_t gpa,
		      unsigned int leaf_level, uint64_t flags)
{
	uint64_t table = root;
	unsigned int level;

	for (level = 4; level > leaf_level; level--) {
		uint64_t *e = &at(table)[(iova >> (12 + 9 * (level - 1))) & 511];

		if (!(*e & P))
			*e = new_table() | P | RW;
		table = *e & 0x000ffffffffff000ULL;
	}
	at(table)[(iova >> (12 + 9 * (leaf_level - 1))) & 511] =
		gpa | flags | (leaf_level > 1 ? PSZ : 0);
}

static void test_walk_iotlb_invalidate(void)
{
	struct ufd_device_info info = {
		.aperture_start = 0,
		.aperture_last = (1ULL << 48) - 1,
		.pgsize_bitmap = PS | (2ULL << 20),
	};
	struct ufd_cred cred;
	struct ufd_ctx *ctx;
	struct ufd_dma *dma;
	uint32_t ioas, dev, parent, nested, pt;
	uint64_t iova = GUEST_GPA, root, data_a, data_b, hits, misses;
	char c[8];

	ufd_cred_self(&cred);
	cred.cap_ipc_lock = true;
	REQUIRE(ufd_ctx_open(eng, &cred, &ctx) == 0);
	REQUIRE(ufd_ioas_alloc(ctx, &ioas) == 0);
	REQUIRE(ufd_device_bind(ctx, &info, &dev) == 0);
	/* Stage 2: guest memory at GPA 4 GiB. */
	REQUIRE(ufd_ioas_map(ctx, ioas, src, (uintptr_t)guest, GUEST_SIZE,
			     &iova, UFD_MAP_FIXED_IOVA | UFD_MAP_READ |
					    UFD_MAP_WRITE) == 0);
	REQUIRE(ufd_hwpt_alloc_paging(ctx, dev, ioas, UFD_HWPT_NEST_PARENT,
				      &parent) == 0);
	/* Stage 1, built by the guest in its own memory. */
	root = new_table();
	data_a = GUEST_GPA + (4ULL << 20);
	data_b = data_a + PS;
	memcpy(at(data_a), "page A", 7);
	memcpy(at(data_b), "page B", 7);
	guest_map(root, 0x7000, data_a, 1, P | RW);
	guest_map(root, 0x8000, data_b, 1, P);          /* read-only */
	guest_map(root, 0x40000000, GUEST_GPA + (2ULL << 20), 2, P | RW);
	CHECK_EQ(ufd_hwpt_alloc_nested_s1(ctx, dev, parent, 0, root, 39,
					  &nested),
		 -EINVAL);
	REQUIRE(ufd_hwpt_alloc_nested_s1(ctx, dev, parent, 0, root, 48,
					 &nested) == 0);
	pt = nested;
	REQUIRE(ufd_device_attach(ctx, dev, &pt) == 0);
	REQUIRE(ufd_dma_open(ctx, dev, &dma) == 0);

	CHECK_EQ(ufd_dma_read(dma, 0x7000, c, 7), 0);
	CHECK(!memcmp(c, "page A", 7));
	CHECK_EQ(ufd_dma_read(dma, 0x8000, c, 7), 0);
	CHECK(!memcmp(c, "page B", 7));
	CHECK_EQ(ufd_dma_write(dma, 0x8000, "x", 1), -EFAULT);
	CHECK_EQ(ufd_dma_write(dma, 0x7003, "E", 1), 0);
	CHECK_EQ(*(char *)((char *)at(data_a) + 3), 'E');
	CHECK_EQ(ufd_dma_read(dma, 0x9000, c, 1), -EFAULT); /* not present */
	/* A 2 MiB stage-1 leaf, crossing into stage-2 pages. */
	memcpy(guest + (2ULL << 20) + 0x12345, "big", 4);
	CHECK_EQ(ufd_dma_read(dma, 0x40012345, c, 4), 0);
	CHECK(!memcmp(c, "big", 4));

	/* The guest repoints 0x7000 without invalidating: stale, as on HW. */
	guest_map(root, 0x7000, data_b, 1, P | RW);
	CHECK_EQ(ufd_dma_read(dma, 0x7000, c, 6), 0);
	CHECK(!memcmp(c, "pagE A", 6));
	/* After invalidating that page the new translation is used. */
	CHECK_EQ(ufd_hwpt_s1_invalidate(ctx, nested, 0x7000, 1), 0);
	CHECK_EQ(ufd_dma_read(dma, 0x7000, c, 7), 0);
	CHECK(!memcmp(c, "page B", 7));
	/* Invalidate-all drops everything, including the 2 MiB leaf. */
	at(root)[0] = 0; /* the guest tears its table down */
	CHECK_EQ(ufd_dma_read(dma, 0x40012345, c, 4), 0); /* still cached */
	CHECK_EQ(ufd_hwpt_s1_invalidate(ctx, nested, 0, UINT64_MAX), 0);
	CHECK_EQ(ufd_dma_read(dma, 0x40012345, c, 4), -EFAULT);
	CHECK_EQ(ufd_hwpt_s1_stats(ctx, nested, &hits, &misses), 0);
	CHECK(hits > 0 && misses > 0);
	/* A stage-1 table that is not in guest memory: a fault, no crash. */
	ufd_dma_close(dma);
	CHECK_EQ(ufd_device_detach(ctx, dev), 0);
	CHECK_EQ(ufd_destroy(ctx, nested), 0);
	REQUIRE(ufd_hwpt_alloc_nested_s1(ctx, dev, parent, 0, 0x1000, 48,
					 &nested) == 0);
	pt = nested;
	REQUIRE(ufd_device_attach(ctx, dev, &pt) == 0);
	REQUIRE(ufd_dma_open(ctx, dev, &dma) == 0);
	CHECK_EQ(ufd_dma_read(dma, 0x7000, c, 1), -EFAULT);
	ufd_dma_close(dma);
	CHECK_EQ(ufd_engine_check(eng), 0);
	ufd_ctx_close(ctx);
}

int main(void)
{
	uint8_t *area = mmap(NULL, GUEST_SIZE + (2u << 20),
			     PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (area == MAP_FAILED)
		return 1;
	guest = (uint8_t *)(((uintptr_t)area + (2u << 20) - 1) &
			    ~(uintptr_t)((2u << 20) - 1));
	eng = ufd_engine_new();
	src = ufd_source_local();
	if (!eng || !src)
		return 1;
	RUN(test_walk_iotlb_invalidate);
	ufd_source_put(src);
	ufd_engine_free(eng);
	munmap(area, GUEST_SIZE + (2u << 20));
	HARNESS_EXIT();
}
