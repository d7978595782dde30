/* SPDX-License-Identifier: MIT */
/*
 * Pins of memory that crosses a 64 GiB boundary of client addresses
 * (server mode).
 *
 * The daemon reaches pinned shared memory through "windows", 64 GiB
 * reservations of its own address space, one per aligned 64 GiB of client
 * addresses; a range pinned across two windows needs the two contiguous in
 * the daemon.  A program's mmap(NULL, 1 GiB) lands across such a boundary
 * about once in 64 (ASLR), as the VFIO selftest's 1 GiB DMA region did:
 * its IOMMU_IOAS_MAP then failed with EFAULT.  Here the mappings are put
 * across a boundary on purpose: MAP_SHARED|MAP_ANONYMOUS (a memfd the
 * daemon maps) and private memory, pinned in one piece, and pinned below
 * the boundary first and across it later; the data must be the program's
 * on both sides.
 */
#include <stdio.h>
#include <sys/mman.h>

#include "common.h"

#define WIN (1ULL << 36)
#define HALF (4UL << 20)
#define IOVA 0x40000000ULL

/*
 * Client address @len bytes mapped with @flags so that it crosses a
 * 64 GiB boundary at its middle; NULL if no room.
 */
static char *map_across(size_t len, int flags)
{
	const size_t span = 3 * WIN;
	char *r, *p;
	uint64_t b;

	r = mmap(NULL, span, PROT_NONE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (r == MAP_FAILED)
		return NULL;
	b = ((uint64_t)(uintptr_t)r + WIN) & ~(WIN - 1);
	munmap(r, span);
	p = mmap((char *)(uintptr_t)(b - len / 2), len,
		 PROT_READ | PROT_WRITE, flags | MAP_FIXED_NOREPLACE, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	if ((uint64_t)(uintptr_t)p != b - len / 2) {
		munmap(p, len);
		return NULL;
	}
	return p;
}

static void fill(char *p, size_t n, char base)
{
	size_t i;

	for (i = 0; i < n; i += PAGE)
		p[i] = (char)(base + i / PAGE % 31);
}

/* Pin [p, p + len) through an access object, whole or @first first. */
static void pin_across(int flags, size_t first)
{
	const size_t len = 2 * HALF;
	char *p = map_across(len, flags), got[2 * PAGE];
	uint32_t ioas, id1 = 0, id2 = 0;
	int fd, acc;

	REQUIRE(p);
	fill(p, len, 'a');
	fd = open("/dev/iommu", O_RDWR);
	REQUIRE(fd >= 0);
	REQUIRE(!ioas_alloc(fd, &ioas));
	REQUIRE(!ioas_map(fd, ioas, p, len, IOVA));
	REQUIRE(!create_access(fd, ioas,
			       MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES,
			       &acc));
	if (first)
		CHECK_EQ(access_pages(fd, acc, IOVA, first, p, &id1), 0);
	CHECK_EQ(access_pages(fd, acc, IOVA, len, p, &id2), 0);
	CHECK_EQ(refs_now(p + first, len - first, 1), 0);
	/* The pages either side of the boundary, as the program sees them. */
	memset(got, 0, sizeof(got));
	CHECK_EQ(access_rw(fd, acc, IOVA + HALF - PAGE, got, 2 * PAGE, 0), 0);
	CHECK_EQ(got[0], p[HALF - PAGE]);
	CHECK_EQ(got[PAGE], p[HALF]);
	got[0] = 'X';
	got[PAGE] = 'Y';
	CHECK_EQ(access_rw(fd, acc, IOVA + HALF - PAGE, got, 2 * PAGE,
			   MOCK_ACCESS_RW_WRITE),
		 0);
	CHECK_EQ(p[HALF - PAGE], 'X');
	CHECK_EQ(p[HALF], 'Y');
	if (id2)
		CHECK_EQ(destroy_access_pages(fd, acc, id2), 0);
	if (id1)
		CHECK_EQ(destroy_access_pages(fd, acc, id1), 0);
	close(acc);
	CHECK_EQ(ioas_unmap(fd, ioas, IOVA, len), 0);
	close(fd);
	munmap(p, len);
}

static void test_shared_whole(void)
{
	pin_across(MAP_SHARED | MAP_ANONYMOUS, 0);
}

static void test_shared_below_first(void)
{
	pin_across(MAP_SHARED | MAP_ANONYMOUS, PAGE);
}

static void test_private_whole(void)
{
	pin_across(MAP_PRIVATE | MAP_ANONYMOUS, 0);
}

/* Several boundaries in turn, each with a fresh pair of windows. */
static void test_shared_many(void)
{
	int i;

	for (i = 0; i < 8; i++)
		pin_across(MAP_SHARED | MAP_ANONYMOUS, i & 1 ? PAGE : 0);
}

int main(void)
{
	if (!server_mode()) {
		fprintf(stderr, "SKIP: needs server mode (uiommufd-run)\n");
		return 77;
	}
	RUN(test_shared_whole);
	RUN(test_shared_below_first);
	RUN(test_private_whole);
	RUN(test_shared_many);
	return harness_failed;
}
