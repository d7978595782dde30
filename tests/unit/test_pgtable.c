/* SPDX-License-Identifier: MIT */
/*
 * The radix IO page table against a simple model: random maps of random
 * sizes and alignments, each translation checked against the model,
 * superpages used exactly where alignment and the bitmap allow, unmaps
 * that free tables, dirty bits, and allocation failure leaving the table
 * as it was.
 */
#include "engine/engine.h"
#include "engine/pgtable.h"
#include "harness.h"

#define G 4096ULL
#define SZ_2M (2ULL << 20)
#define SZ_1G (1ULL << 30)

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void test_levels_and_superpages(void)
{
	struct ufd_pgtable pgt;
	uint64_t host, size, flags;

	REQUIRE(pgt_init(&pgt, G | SZ_2M | SZ_1G, (1ULL << 48) - 1) == 0);
	CHECK_EQ(pgt.levels, 4);
	/* 2 MiB aligned on both sides: one 2 MiB leaf. */
	CHECK_EQ(pgt_map(&pgt, SZ_2M, 0x40000000, SZ_2M, PGT_READ, 0), 0);
	CHECK_EQ(pgt.nr_leaves[1], 1);
	CHECK_EQ(pgt_translate(&pgt, SZ_2M + 0x1234, &host, &size, &flags), 0);
	CHECK_EQ(host, 0x40000000 + 0x1234);
	CHECK_EQ(size, SZ_2M);
	CHECK(flags & PGT_READ);
	CHECK(!(flags & PGT_WRITE));
	/* Host only 4 KiB aligned: 4 KiB leaves even though IOVA is 2M. */
	CHECK_EQ(pgt_map(&pgt, 4 * SZ_2M, 0x40001000, SZ_2M, PGT_READ, 0), 0);
	CHECK_EQ(pgt.nr_leaves[0], 512);
	/* Overlap is refused and changes nothing. */
	CHECK_EQ(pgt_map(&pgt, SZ_2M + G, 0x1000, G, PGT_READ, 0), -EEXIST);
	CHECK_EQ(pgt_check(&pgt), 0);
	/* A cap on the page size (huge pages off). */
	CHECK_EQ(pgt_map(&pgt, 8 * SZ_2M, 0x80000000, SZ_2M, PGT_READ, G), 0);
	CHECK_EQ(pgt.nr_leaves[0], 1024);
	/* 1 GiB leaf. */
	CHECK_EQ(pgt_map(&pgt, 4 * SZ_1G, 0x100000000ULL, SZ_1G,
			 PGT_READ | PGT_WRITE, 0),
		 0);
	CHECK_EQ(pgt.nr_leaves[2], 1);
	CHECK_EQ(pgt_unmap(&pgt, 0, 8 * SZ_1G), SZ_1G + 3 * SZ_2M);
	CHECK_EQ(pgt_check(&pgt), 0);
	CHECK_EQ(pgt.nr_tables, 1); /* only the root is left */
	/* Misaligned or out of reach. */
	CHECK_EQ(pgt_map(&pgt, 100, 0, G, PGT_READ, 0), -EINVAL);
	CHECK_EQ(pgt_map(&pgt, 1ULL << 48, 0, G, PGT_READ, 0), -EINVAL);
	pgt_destroy(&pgt);
}

struct span {
	uint64_t iova, host, len;
};

static void test_random_model(void)
{
	static struct span spans[256];
	struct ufd_pgtable pgt;
	unsigned int n = 0, round, i;

	REQUIRE(pgt_init(&pgt, 2048 | (2048ULL << 9), (1ULL << 31) - 1) == 0);
	CHECK_EQ(pgt.levels, 3);
	for (round = 0; round != 3000; round++) {
		if (n < 256 && (rnd() % 3)) {
			struct span s;
			unsigned int j;
			bool clash = false;

			s.len = (1 + rnd() % 700) * 2048;
			s.iova = (rnd() % (1u << 20)) * 2048;
			s.host = (rnd() % (1u << 20)) * 2048 + (1ULL << 40);
			if (rnd() % 4 == 0) /* favour superpages */
				s.host = s.iova + (1ULL << 40);
			if (s.iova + s.len - 1 > pgt.last_iova)
				continue;
			for (j = 0; j != n; j++)
				if (s.iova < spans[j].iova + spans[j].len &&
				    spans[j].iova < s.iova + s.len)
					clash = true;
			if (clash) {
				CHECK_EQ(pgt_map(&pgt, s.iova, s.host, s.len,
						 PGT_READ, 0),
					 -EEXIST);
				continue;
			}
			REQUIRE(pgt_map(&pgt, s.iova, s.host, s.len, PGT_READ,
					0) == 0);
			spans[n++] = s;
		} else if (n) {
			unsigned int k = rnd() % n;

			CHECK_EQ(pgt_unmap(&pgt, spans[k].iova, spans[k].len),
				 spans[k].len);
			spans[k] = spans[--n];
		}
		if (round % 50 == 0) {
			REQUIRE(pgt_check(&pgt) == 0);
			for (i = 0; i != n; i++) {
				uint64_t off = (rnd() % spans[i].len) & ~7ULL;
				uint64_t host;

				CHECK_EQ(pgt_translate(&pgt,
						       spans[i].iova + off,
						       &host, NULL, NULL),
					 0);
				CHECK_EQ(host, spans[i].host + off);
			}
		}
	}
	for (i = 0; i != n; i++)
		CHECK_EQ(pgt_unmap(&pgt, spans[i].iova, spans[i].len),
			 spans[i].len);
	CHECK_EQ(pgt_check(&pgt), 0);
	CHECK_EQ(pgt.nr_tables, 1);
	pgt_destroy(&pgt);
}

/*
 * Two tables whose tables interleave in the pool's chunks, more than one
 * chunk's worth (511 tables) each: every table's count lives in its
 * chunk's first page (pgtable.c), so counts must stay right across chunk
 * boundaries and between tables that share a chunk.
 */
static void test_tables_across_chunks(void)
{
	enum { N = 1400 };
	static uint64_t iova[2][N];
	static bool mapped[2][N];
	struct ufd_pgtable pgt[2];
	unsigned int i, k, round;

	for (k = 0; k != 2; k++) {
		REQUIRE(pgt_init(&pgt[k], G, (1ULL << 48) - 1) == 0);
		CHECK_EQ(pgt[k].levels, 4);
	}
	/* Each page in a 2 MiB span of its own: a leaf table each. */
	for (i = 0; i != N; i++)
		for (k = 0; k != 2; k++) {
			iova[k][i] = ((uint64_t)(i * 7919u % 65536) << 30) +
				     ((uint64_t)(k * N + i) << 21) +
				     (rnd() % 512) * G;
			iova[k][i] &= (1ULL << 48) - 1;
			REQUIRE(pgt_map(&pgt[k], iova[k][i], (k + 1ULL) << 40,
					G, PGT_READ, 0) == 0);
			mapped[k][i] = true;
		}
	for (k = 0; k != 2; k++) {
		CHECK(pgt[k].nr_tables > 2 * 511);
		CHECK_EQ(pgt_check(&pgt[k]), 0);
	}
	/* Unmap and map again at random, the two tables in turn. */
	for (round = 0; round != 4 * N; round++) {
		k = round % 2;
		i = (unsigned int)(rnd() % N);
		if (mapped[k][i]) {
			CHECK_EQ(pgt_unmap(&pgt[k], iova[k][i], G), G);
		} else {
			REQUIRE(pgt_map(&pgt[k], iova[k][i], (k + 1ULL) << 40,
					G, PGT_READ, 0) == 0);
		}
		mapped[k][i] = !mapped[k][i];
		if (round % 997 == 0)
			CHECK_EQ(pgt_check(&pgt[k]), 0);
	}
	for (k = 0; k != 2; k++) {
		CHECK_EQ(pgt_check(&pgt[k]), 0);
		for (i = 0; i != N; i++) {
			uint64_t host;

			CHECK_EQ(pgt_translate(&pgt[k], iova[k][i], &host, NULL,
					       NULL),
				 mapped[k][i] ? 0 : -ENOENT);
			if (mapped[k][i])
				CHECK_EQ(pgt_unmap(&pgt[k], iova[k][i], G), G);
		}
		CHECK_EQ(pgt_check(&pgt[k]), 0);
		CHECK_EQ(pgt[k].nr_tables, 1);
		pgt_destroy(&pgt[k]);
	}
}

static uint64_t reported;

static void count_dirty(void *arg, uint64_t iova, uint64_t len)
{
	reported += len;
}

static void test_dirty_bits(void)
{
	struct ufd_pgtable pgt;

	REQUIRE(pgt_init(&pgt, 2048 | (2048ULL << 9), (1ULL << 31) - 1) == 0);
	pgt_dirty_enable(&pgt);
	REQUIRE(pgt_map(&pgt, 1ULL << 24, 1ULL << 40, 4ULL << 20,
			PGT_READ | PGT_WRITE, 0) == 0);
	CHECK_EQ(pgt.nr_leaves[1], 4); /* 1 MiB leaves */
	CHECK_EQ(pgt_mark_dirty(&pgt, (1ULL << 24) + 5), 1);
	CHECK_EQ(pgt_mark_dirty(&pgt, 5), 0);
	reported = 0;
	pgt_read_and_clear_dirty(&pgt, 1ULL << 24, 4ULL << 20, true,
				 count_dirty, NULL);
	CHECK_EQ(reported, 1ULL << 20); /* the whole leaf */
	reported = 0;
	pgt_read_and_clear_dirty(&pgt, 1ULL << 24, 4ULL << 20, false,
				 count_dirty, NULL);
	CHECK_EQ(reported, 1ULL << 20);
	reported = 0;
	pgt_read_and_clear_dirty(&pgt, 1ULL << 24, 4ULL << 20, false,
				 count_dirty, NULL);
	CHECK_EQ(reported, 0);
	pgt_destroy(&pgt);
}

static void test_alloc_failure(void)
{
	struct ufd_pgtable pgt;
	unsigned long nth;

	REQUIRE(pgt_init(&pgt, G, (1ULL << 48) - 1) == 0);
	REQUIRE(pgt_map(&pgt, 0, 0x1000, G, PGT_READ, 0) == 0);
	for (nth = 1; nth < 10; nth++) {
		uint64_t tables = pgt.nr_tables;
		int rc;

		ufd_fail_nth(nth);
		rc = pgt_map(&pgt, 1ULL << 40, 0x2000, 64 * G, PGT_READ, 0);
		ufd_fail_nth(0);
		if (!rc) {
			CHECK_EQ(pgt_unmap(&pgt, 1ULL << 40, 64 * G), 64 * G);
			break;
		}
		CHECK_EQ(rc, -ENOMEM);
		CHECK_EQ(pgt.nr_tables, tables);
		CHECK_EQ(pgt_check(&pgt), 0);
	}
	CHECK(nth > 1);
	pgt_destroy(&pgt);
}

int main(void)
{
	RUN(test_levels_and_superpages);
	RUN(test_random_model);
	RUN(test_tables_across_chunks);
	RUN(test_dirty_bits);
	RUN(test_alloc_failure);
	HARNESS_EXIT();
}
