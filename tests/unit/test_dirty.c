/* SPDX-License-Identifier: MIT */
/*
 * Dirty tracking kept in bitmaps (engine/pgt_dirty.c), checked for
 * exactness against a model: random maps (superpages where alignment
 * allows), marks, harvests into bitmaps at random page sizes (smaller
 * than, equal to and larger than the IO page) and byte offsets (every
 * word alignment against a 32-byte vector and odd bytes), with and
 * without clearing, harvests through the callback, unmaps (which drop the
 * dirty state), bursts that dirty a whole group (which a harvest then
 * clears by flipping it, and later marks clear bits of), each followed by
 * pgt_check; full groups, each way, and flagged by whichever of two
 * threads completes them; allocation failure in map
 * leaving the table and its bitmaps as they were.  Through the public
 * API: DMA writes mark (a superpage as a whole), translate reports
 * UFD_PTE_DIRTY, enabling clears, NO_CLEAR keeps, a harvest over a hole
 * (the runs of adjacent areas, through maps, unmaps and granule cuts, against
 * a model), unmap and remap comes
 * back clean, fail-nth on maps into a dirty-tracking domain, and DMA
 * writers racing harvests lose no write (run under TSan too).
 *
 * The model covers a window of IOVA [0, WIN) granule by granule.
 */
#include <pthread.h>
#include <sched.h>
#include <sys/mman.h>

#include "engine/engine.h"
#include "engine/pgtable.h"
#define HARNESS_MMAP
#include "harness.h"

static uint64_t rng = 0x2545f4914f6cdd1dULL;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* ---- the pgt model ---- */

#define MAXG (1u << 16) /* granules in the window */

struct model {
	struct ufd_pgtable pgt;
	unsigned int gs;       /* granule shift */
	uint64_t win;          /* window bytes */
	uint64_t ng;           /* granules in the window */
	uint8_t mapped[MAXG];
	uint8_t dirty[MAXG];
};

static struct model M;

/* The leaf mapping granule @g: [*s, *e) granules; false if none. */
static bool leaf_span(uint64_t g, uint64_t *s, uint64_t *e)
{
	unsigned int level;
	uint64_t n;

	if (!pgt_leaf(&M.pgt, g << M.gs, &level))
		return false;
	n = pgt_level_size(&M.pgt, level) >> M.gs;
	*s = g & ~(n - 1);
	*e = *s + n;
	return true;
}

static void model_set_leaf(uint64_t g, uint8_t v)
{
	uint64_t s, e, i;

	if (!leaf_span(g, &s, &e))
		return;
	for (i = s; i != e && i < M.ng; i++)
		M.dirty[i] = v;
}

static void model_init(unsigned int gs, uint64_t pgsizes)
{
	memset(&M, 0, sizeof(M));
	M.gs = gs;
	M.ng = MAXG;
	M.win = (uint64_t)MAXG << gs;
	REQUIRE(pgt_init(&M.pgt, pgsizes, (1ULL << 48) - 1) == 0);
	pgt_dirty_enable(&M.pgt);
}

static void op_map(void)
{
	uint64_t g = rnd() % M.ng, n, host;
	uint64_t big = 512;
	int rc;

	/* Sometimes superpage-aligned runs, sometimes small ones. */
	if (rnd() % 3 == 0) {
		g &= ~(big - 1);
		n = big * (1 + rnd() % 3);
		host = (1ULL << 40) + (g << M.gs);
	} else {
		n = 1 + rnd() % 700;
		host = (1ULL << 40) + ((g + rnd() % 7) << M.gs);
	}
	if (g + n > M.ng)
		n = M.ng - g;
	rc = pgt_map(&M.pgt, g << M.gs, host, n << M.gs, PGT_READ | PGT_WRITE,
		     0);
	if (rc) {
		CHECK_EQ(rc, -EEXIST);
		return;
	}
	memset(&M.mapped[g], 1, n);
	memset(&M.dirty[g], 0, n); /* a new mapping is clean */
}

static void op_unmap(void)
{
	uint64_t g = rnd() % M.ng, n = 1 + rnd() % 2000, i, bytes = 0;

	if (g + n > M.ng)
		n = M.ng - g;
	/* The leaves that start inside go, and their dirty state. */
	for (i = g; i < g + n;) {
		uint64_t s, e;

		if (!leaf_span(i, &s, &e)) {
			i++;
			continue;
		}
		if (s >= g) {
			memset(&M.mapped[s], 0, e - s);
			memset(&M.dirty[s], 0, e - s);
			bytes += (e - s) << M.gs;
		}
		i = e;
	}
	CHECK_EQ(pgt_unmap(&M.pgt, g << M.gs, n << M.gs), bytes);
}

static void op_mark(void)
{
	uint64_t g = rnd() % M.ng;
	int mapped = M.mapped[g];

	if (rnd() % 2) {
		CHECK_EQ(pgt_mark_dirty(&M.pgt, (g << M.gs) + rnd() % 64),
			 mapped);
	} else if (mapped) {
		unsigned int level;

		REQUIRE(pgt_leaf(&M.pgt, g << M.gs, &level));
		pgt_dirty_write(&M.pgt, g << M.gs, level);
	}
	if (mapped)
		model_set_leaf(g, 1);
}

/* Granules in a group of a dirty leaf (64 words): the unit that can be
 * full (every granule dirty) and be cleared by a flip. */
#define GROUP_G (64u * PGT_DIRTY_GROUP)

/*
 * A burst of DMA over a group: map what is unmapped in it, then mark every
 * granule, in address order or backwards, mostly from a word's start, so
 * that the group becomes full (and, if flipped by an earlier harvest, is
 * marked through its inverted words).  Sometimes a few granules are left
 * out, or one granule past the group's end is marked too.
 */
static void op_burst(void)
{
	uint64_t g0 = (rnd() % (M.ng / GROUP_G)) * GROUP_G, g, skip = ~0ULL;
	bool backwards = rnd() % 2;
	uint64_t i;

	for (g = g0; g < g0 + GROUP_G;) {
		uint64_t e = g;

		while (e < g0 + GROUP_G && !M.mapped[e] && e - g < 512)
			e++;
		if (e == g) {
			g++;
			continue;
		}
		REQUIRE(pgt_map(&M.pgt, g << M.gs, (1ULL << 40) + (g << M.gs),
				(e - g) << M.gs, PGT_READ | PGT_WRITE, 0) == 0);
		memset(&M.mapped[g], 1, e - g);
		memset(&M.dirty[g], 0, e - g);
		g = e;
	}
	if (rnd() % 4 == 0)
		skip = g0 + rnd() % GROUP_G;
	for (i = 0; i != GROUP_G; i++) {
		uint64_t k = backwards ? g0 + GROUP_G - 1 - i : g0 + i;
		unsigned int level;

		if (k == skip || !pgt_leaf(&M.pgt, k << M.gs, &level))
			continue;
		if (M.dirty[k] && rnd() % 2)
			continue;
		pgt_dirty_write(&M.pgt, k << M.gs, level);
		model_set_leaf(k, 1);
	}
	if (skip == ~0ULL) {
		struct pgt_dirty_leaf *d = pgt_dirty_leaf_of(&M.pgt,
							      g0 << M.gs);
		uint64_t grp = (g0 % (1u << PGT_DIRTY_SHIFT)) / GROUP_G;

		/* Nothing left out, and no superpage that reaches past the
		 * group keeps a bit of it clear: the group is full. */
		REQUIRE(d);
		CHECK((d->full >> grp) & 1);
	}
}

/* Cache-line aligned, so that the offsets below are the bitmap's
 * alignment (the one-pass move aligns its stores to it). */
static _Alignas(64) uint8_t got[MAXG / 4 + 64];
static uint8_t want[MAXG / 4 + 64];

/* Harvest [g, g + n) at page shift @ps into a bitmap at byte offset. */
static void op_harvest(void)
{
	int dps = (int)(rnd() % 6) - 1; /* page = granule << dps */
	unsigned int ps = (unsigned int)((int)M.gs + dps);
	uint64_t pg = dps > 0 ? 1ULL << dps : 1;
	uint64_t g = (rnd() % M.ng) & ~(pg - 1), n, i, nbits, off;
	bool keep = rnd() % 3 == 0;

	/* Often word aligned on both sides: the one-pass move. */
	if (rnd() % 2)
		g &= ~63ULL;

	/* Sometimes over whole groups: those that are full are then
	 * reported and cleared without a read (a flip). */
	n = (1 + rnd() % (rnd() % 3 ? 3000 : 3 * GROUP_G)) & ~(pg - 1);
	if (!n)
		n = pg;
	if (g + n > M.ng)
		return;
	nbits = dps >= 0 ? n >> dps : n << -dps;
	off = rnd() % 2 ? 8 * (rnd() % 4) : rnd() % 9;
	memset(got, 0, sizeof(got));
	memset(want, 0, sizeof(want));
	/* Bits already set in the caller's bitmap stay set (ORed). */
	got[off] = want[off] = 0x80;
	for (i = 0; i != nbits; i++) {
		uint64_t a = dps >= 0 ? g + (i << dps) : g + (i >> -dps);
		uint64_t b = dps >= 0 ? a + pg : a + 1, k;

		for (k = a; k != b; k++)
			if (M.dirty[k]) {
				want[off + i / 8] |= (uint8_t)(1u << (i % 8));
				break;
			}
	}
	pgt_dirty_to_bitmap(&M.pgt, g << M.gs, n << M.gs, ps, keep, got + off);
	CHECK(!memcmp(got, want, sizeof(got)));
	if (memcmp(got, want, sizeof(got)))
		fprintf(stderr, "  harvest g %llu n %llu dps %d off %llu\n",
			(unsigned long long)g, (unsigned long long)n, dps,
			(unsigned long long)off);
	if (!keep) /* every leaf the range meets is clean, as a whole */
		for (i = g; i != g + n; i++)
			if (M.mapped[i] && M.dirty[i])
				model_set_leaf(i, 0);
}

static uint8_t cb_bits[MAXG];
static uint64_t cb_lo, cb_hi;
static int cb_bad;

static void cb_record(void *arg, uint64_t iova, uint64_t len)
{
	uint64_t i;

	(void)arg;
	if (iova < cb_lo || iova + len > cb_hi || !len)
		cb_bad = 1;
	for (i = iova >> M.gs; i != (iova + len) >> M.gs && i < M.ng; i++) {
		if (cb_bits[i])
			cb_bad = 1; /* reported twice */
		cb_bits[i] = 1;
	}
}

static void op_harvest_cb(void)
{
	uint64_t g = rnd() % M.ng, n = 1 + rnd() % 5000, i;
	bool keep = rnd() % 3 == 0;

	if (g + n > M.ng)
		n = M.ng - g;
	memset(cb_bits, 0, sizeof(cb_bits));
	cb_bad = 0;
	cb_lo = g << M.gs;
	cb_hi = (g + n) << M.gs;
	pgt_read_and_clear_dirty(&M.pgt, g << M.gs, n << M.gs, keep, cb_record,
				 NULL);
	CHECK(!cb_bad);
	for (i = g; i != g + n; i++)
		if (cb_bits[i] != M.dirty[i]) {
			CHECK_EQ(cb_bits[i], M.dirty[i]);
			break;
		}
	if (!keep)
		for (i = g; i != g + n; i++)
			if (M.mapped[i] && M.dirty[i])
				model_set_leaf(i, 0);
}

static void model_verify(void)
{
	uint64_t g;

	CHECK_EQ(pgt_check(&M.pgt), 0);
	for (g = 0; g < M.ng; g += 1 + rnd() % 97) {
		uint64_t host, size, flags;
		int rc = pgt_translate(&M.pgt, g << M.gs, &host, &size,
				       &flags);

		CHECK_EQ(rc == 0, M.mapped[g]);
		if (!rc && !!(flags & PGT_DIRTY) != M.dirty[g]) {
			CHECK_EQ(!!(flags & PGT_DIRTY), M.dirty[g]);
			return;
		}
	}
}

static void run_model(unsigned int gs, uint64_t pgsizes, unsigned int ops)
{
	unsigned int i;

	model_init(gs, pgsizes);
	for (i = 0; i != ops && !harness_failed; i++) {
		unsigned int op = (unsigned int)(rnd() % 16);

		if (op < 3)
			op_map();
		else if (op < 4)
			op_unmap();
		else if (op < 10)
			op_mark();
		else if (op < 11)
			op_burst();
		else if (op < 14)
			op_harvest();
		else
			op_harvest_cb();
		if (i % 16 == 0)
			model_verify();
	}
	model_verify();
	op_unmap();
	pgt_unmap(&M.pgt, 0, 1ULL << 47);
	CHECK_EQ(M.pgt.nr_dirty_leaves, 0); /* nothing mapped: no bitmaps */
	CHECK_EQ(pgt_check(&M.pgt), 0);
	pgt_destroy(&M.pgt);
}

static void test_model_4k(void)
{
	run_model(12, 4096 | (2ULL << 20), 6000);
}

static void test_model_mock(void)
{
	/* The selftest's mock IOMMU: 2 KiB granule, 1 MiB superpages. */
	run_model(11, 2048 | (1ULL << 20), 6000);
}

/* Harvests crossing dirty leaves (1 GiB each at 4 KiB), unaligned bits. */
static void test_across_leaves(void)
{
	struct ufd_pgtable pgt;
	const uint64_t G = 4096, base = (1ULL << 30) - 64 * G;
	static uint8_t bm[64];
	uint64_t i;

	REQUIRE(pgt_init(&pgt, G | (1ULL << 30), (1ULL << 48) - 1) == 0);
	pgt_dirty_enable(&pgt);
	/* 64 pages before the 1 GiB line, a 1 GiB leaf after it. */
	REQUIRE(pgt_map(&pgt, base, 1ULL << 40, 64 * G, PGT_WRITE, 0) == 0);
	REQUIRE(pgt_map(&pgt, 1ULL << 30, 1ULL << 41, 1ULL << 30, PGT_WRITE,
			0) == 0);
	CHECK_EQ(pgt.nr_leaves[2], 1);
	CHECK_EQ(pgt.nr_dirty_leaves, 2);
	for (i = 0; i < 64; i += 3)
		pgt_mark_dirty(&pgt, base + i * G);
	pgt_mark_dirty(&pgt, (1ULL << 30) + 12345 * G);
	/* 300 pages from base + 7 pages: bits 0..56 from the first leaf,
	 * then the whole cut 1 GiB leaf. */
	memset(bm, 0, sizeof(bm));
	pgt_dirty_to_bitmap(&pgt, base + 7 * G, 300 * G, 12, false, bm + 1);
	for (i = 0; i != 300; i++) {
		uint64_t page = 7 + i;
		bool expect = page < 64 ? page % 3 == 0 : true;

		if (!!(bm[1 + i / 8] & (1u << (i % 8))) != expect) {
			CHECK_EQ(i, ~0ULL);
			break;
		}
	}
	CHECK_EQ(bm[0], 0);
	CHECK_EQ(bm[1 + 300 / 8] >> (300 % 8), 0); /* nothing past the end */
	/* The cut 1 GiB leaf was cleared as a whole. */
	CHECK(!pgt_dirty_test(&pgt, (1ULL << 31) - G));
	CHECK(pgt_dirty_test(&pgt, base + 3 * G)); /* before the range */
	/* A page size of 1 GiB ORs the whole leaf into one bit. */
	pgt_mark_dirty(&pgt, 1ULL << 30);
	memset(bm, 0, sizeof(bm));
	pgt_dirty_to_bitmap(&pgt, 1ULL << 30, 1ULL << 30, 30, true, bm);
	CHECK_EQ(bm[0], 1);
	CHECK_EQ(pgt_check(&pgt), 0);
	CHECK_EQ(pgt_unmap(&pgt, 0, 1ULL << 32), 64 * G + (1ULL << 30));
	CHECK_EQ(pgt.nr_dirty_leaves, 0);
	CHECK_EQ(pgt.nr_dirty_dirs, 0);
	CHECK_EQ(pgt_check(&pgt), 0);
	pgt_destroy(&pgt);
}

/* Bit @i of @bm. */
static bool bit_of(const uint8_t *bm, uint64_t i)
{
	return (bm[i / 8] >> (i % 8)) & 1;
}

/*
 * Full groups: a group all of whose granules are dirty is flagged by the
 * marker that completes it, reported by a harvest that holds it whole
 * without its words being read or written (it is flipped: the words stay
 * as they are and stand inverted from then on), and marks after that
 * clear bits in memory; each sink (bitmap at the granule, at larger and
 * smaller pages, the callback) reports such groups, NO_CLEAR keeps them,
 * a harvest or unmap that cuts one falls back to the words.
 */
static void test_full_groups(void)
{
	const uint64_t G = 4096, GB = GROUP_G * G; /* 16 MiB per group */
	static _Alignas(64) uint8_t bm[4 * GROUP_G / 8 + 64];
	struct ufd_pgtable pgt;
	struct pgt_dirty_leaf *d;
	uint64_t i, w0;

	REQUIRE(pgt_init(&pgt, G | (2ULL << 20), (1ULL << 48) - 1) == 0);
	pgt_dirty_enable(&pgt);
	/* 4 groups at 4 KiB leaves (the host address is not 2 MiB aligned
	 * with the IOVA), then group 4 in 2 MiB leaves. */
	REQUIRE(pgt_map(&pgt, 0, (1ULL << 40) + G, 4 * GB, PGT_WRITE, 0) == 0);
	REQUIRE(pgt_map(&pgt, 4 * GB, 1ULL << 41, GB, PGT_WRITE, 0) == 0);
	CHECK_EQ(pgt.nr_leaves[1], GROUP_G / 512);
	d = pgt_dirty_leaf_of(&pgt, 0);
	REQUIRE(d);
	/* Groups 0 and 1 all dirty (1 backwards), half of group 2; group 4
	 * by its superpages. */
	for (i = 0; i != GROUP_G; i++)
		pgt_dirty_write(&pgt, i * G, 0);
	for (i = 2 * GROUP_G; i-- != GROUP_G;)
		pgt_dirty_write(&pgt, i * G, 0);
	for (i = 2 * GROUP_G; i != 2 * GROUP_G + GROUP_G / 2; i++)
		pgt_dirty_write(&pgt, i * G, 0);
	CHECK_EQ(d->full, 0x3);
	for (i = 0; i != GROUP_G / 512; i++)
		pgt_dirty_write(&pgt, 4 * GB + i * (2ULL << 20), 1);
	CHECK_EQ(d->full, 0x13);
	CHECK_EQ(d->summary, 0x17);
	CHECK_EQ(pgt_check(&pgt), 0);

	/* NO_CLEAR over groups 0 to 3: everything stays. */
	memset(bm, 0, sizeof(bm));
	pgt_dirty_to_bitmap(&pgt, 0, 4 * GB, 12, true, bm);
	for (i = 0; i != 4 * GROUP_G; i++)
		if (bit_of(bm, i) != (i < 2 * GROUP_G + GROUP_G / 2)) {
			CHECK_EQ(i, ~0ULL);
			break;
		}
	CHECK_EQ(d->full, 0x13);
	CHECK_EQ(d->flip, 0);

	/* A harvest at the granule, one byte into the bitmap: groups 0 and 1
	 * flip, their words untouched; group 2's are read and cleared. */
	w0 = d->w[5];
	memset(bm, 0, sizeof(bm));
	pgt_dirty_to_bitmap(&pgt, 0, 4 * GB, 12, false, bm + 1);
	for (i = 0; i != 4 * GROUP_G; i++)
		if (bit_of(bm + 1, i) != (i < 2 * GROUP_G + GROUP_G / 2)) {
			CHECK_EQ(i, ~0ULL);
			break;
		}
	CHECK_EQ(bm[0], 0);
	CHECK_EQ(d->flip, 0x3);
	CHECK_EQ(d->full, 0x10);
	CHECK_EQ(d->summary, 0x10);
	CHECK_EQ(d->w[5], w0); /* not written */
	CHECK_EQ(d->w[5], ~0ULL);
	CHECK(!pgt_dirty_test(&pgt, 5 * 64 * G));
	CHECK_EQ(pgt_check(&pgt), 0);

	/* Marks in a flipped group clear bits in memory. */
	pgt_dirty_write(&pgt, 7 * G, 0);
	pgt_mark_dirty(&pgt, GB + 100 * G);
	CHECK(pgt_dirty_test(&pgt, 7 * G));
	CHECK(!pgt_dirty_test(&pgt, 8 * G));
	CHECK_EQ(d->w[0], ~(1ULL << 7));
	CHECK_EQ(d->summary, 0x13);
	CHECK_EQ(pgt_check(&pgt), 0);
	/* The callback: exactly those two, and group 4 as one run. */
	memset(cb_bits, 0, sizeof(cb_bits));
	cb_bad = 0;
	cb_lo = 0;
	cb_hi = 5 * GB;
	M.gs = 12;
	M.ng = MAXG;
	pgt_read_and_clear_dirty(&pgt, 0, 5 * GB, false, cb_record, NULL);
	CHECK(!cb_bad);
	for (i = 0; i != 4 * GROUP_G; i++)
		if (cb_bits[i] != (i == 7 || i == GROUP_G + 100)) {
			CHECK_EQ(i, ~0ULL);
			break;
		}
	CHECK_EQ(d->summary, 0);
	CHECK_EQ(d->full, 0);
	CHECK_EQ(d->flip, 0x13);
	CHECK_EQ(pgt_check(&pgt), 0);

	/* Group 0 all dirty again, through its inverted words: full again,
	 * and a harvest flips it back. */
	for (i = 0; i != GROUP_G; i++)
		pgt_mark_dirty(&pgt, i * G);
	CHECK_EQ(d->full, 0x1);
	CHECK_EQ(d->w[0], 0);
	/* At 2 pages per bit (page shift 13) and half a page per bit (page
	 * shift 11: two bits per granule). */
	memset(bm, 0, sizeof(bm));
	pgt_dirty_to_bitmap(&pgt, 0, 2 * GB, 13, true, bm);
	for (i = 0; i != GROUP_G; i++)
		if (bit_of(bm, i) != (i < GROUP_G / 2)) {
			CHECK_EQ(i, ~0ULL);
			break;
		}
	memset(bm, 0, sizeof(bm));
	pgt_dirty_to_bitmap(&pgt, 0, GB / 2, 11, false, bm);
	for (i = 0; i != GROUP_G; i++)
		if (!bit_of(bm, i)) {
			CHECK_EQ(i, ~0ULL);
			break;
		}
	/* That harvest cut group 0 (half of it): its words were cleared
	 * where it reached, the rest stays dirty. */
	CHECK_EQ(d->full, 0);
	CHECK_EQ(d->flip, 0x13);
	CHECK(!pgt_dirty_test(&pgt, 0));
	CHECK(pgt_dirty_test(&pgt, GB / 2));
	CHECK_EQ(pgt_check(&pgt), 0);

	/* An unmap that cuts a full group clears only what it unmaps. */
	for (i = GROUP_G; i != 2 * GROUP_G; i++)
		pgt_mark_dirty(&pgt, i * G);
	CHECK_EQ(d->full, 0x2);
	CHECK_EQ(pgt_unmap(&pgt, GB, 64 * G), 64 * G);
	CHECK_EQ(d->full, 0);
	CHECK(pgt_dirty_test(&pgt, GB + 64 * G));
	CHECK_EQ(pgt_check(&pgt), 0);
	/* ...and one of a whole full group flips it. */
	for (i = 3 * GROUP_G; i != 4 * GROUP_G; i++)
		pgt_mark_dirty(&pgt, i * G);
	CHECK_EQ(d->full, 0x8);
	CHECK_EQ(pgt_unmap(&pgt, 3 * GB, GB), GB);
	CHECK_EQ(d->flip & 0x8, 0x8);
	CHECK_EQ(d->full, 0);
	CHECK_EQ(pgt_check(&pgt), 0);
	pgt_unmap(&pgt, 0, 1ULL << 40);
	CHECK_EQ(pgt.nr_dirty_leaves, 0);
	pgt_destroy(&pgt);
}

/*
 * Markers on two threads complete the words of one group at once (thread
 * t the words whose index has parity t, in address order): whichever
 * completes the group's last words, the group ends up flagged full (each
 * marker orders its word's RMW before its look at the others), round
 * after round, a flip between rounds.  Under TSan too.
 */
struct full_marker {
	struct ufd_pgtable *pgt;
	unsigned int parity;
	uint64_t base;
};

static void *full_mark_thread(void *p)
{
	const struct full_marker *m = p;
	uint64_t g;

	for (g = 0; g != GROUP_G; g++)
		if ((g / 64) % 2 == m->parity)
			pgt_dirty_write(m->pgt, m->base + (g << 12), 0);
	return NULL;
}

static void test_full_concurrent(void)
{
	struct ufd_pgtable pgt;
	struct full_marker m[2];
	struct pgt_dirty_leaf *d;
	static uint8_t bm[GROUP_G / 8];
	pthread_t t[2];
	unsigned int round, i;

	REQUIRE(pgt_init(&pgt, 4096, (1ULL << 48) - 1) == 0);
	pgt_dirty_enable(&pgt);
	REQUIRE(pgt_map(&pgt, 0, (1ULL << 40) + 4096, GROUP_G * 4096ULL,
			PGT_WRITE, 0) == 0);
	d = pgt_dirty_leaf_of(&pgt, 0);
	REQUIRE(d);
	for (round = 0; round != 200 && !harness_failed; round++) {
		for (i = 0; i != 2; i++) {
			m[i] = (struct full_marker){ &pgt, i, 0 };
			REQUIRE(pthread_create(&t[i], NULL, full_mark_thread,
					       &m[i]) == 0);
		}
		for (i = 0; i != 2; i++)
			pthread_join(t[i], NULL);
		CHECK_EQ(d->full, 1);
		memset(bm, 0, sizeof(bm));
		pgt_dirty_to_bitmap(&pgt, 0, GROUP_G * 4096ULL, 12, false, bm);
		CHECK_EQ(bm[0], 0xff);
		CHECK_EQ(bm[sizeof(bm) - 1], 0xff);
		CHECK_EQ(d->flip, (round + 1) % 2);
		CHECK_EQ(d->summary, 0);
	}
	CHECK_EQ(pgt_check(&pgt), 0);
	pgt_unmap(&pgt, 0, 1ULL << 40);
	pgt_destroy(&pgt);
}

static void test_map_alloc_failure(void)
{
	struct ufd_pgtable pgt;
	unsigned long nth;

	REQUIRE(pgt_init(&pgt, 4096, (1ULL << 48) - 1) == 0);
	pgt_dirty_enable(&pgt);
	REQUIRE(pgt_map(&pgt, 0, 0x1000, 4096, PGT_READ, 0) == 0);
	pgt_mark_dirty(&pgt, 0);
	for (nth = 1; nth < 40; nth++) {
		uint64_t tables = pgt.nr_tables, leaves = pgt.nr_dirty_leaves;
		uint64_t dirs = pgt.nr_dirty_dirs;
		int rc;

		/* Spans three dirty leaves (1 GiB each) far from the first. */
		ufd_fail_nth(nth);
		rc = pgt_map(&pgt, (1ULL << 40) - (1ULL << 30) + (1ULL << 29),
			     0x200000, 2ULL << 30, PGT_READ, 0);
		ufd_fail_nth(0);
		if (!rc) {
			CHECK_EQ(pgt.nr_dirty_leaves, leaves + 3);
			CHECK_EQ(pgt_unmap(&pgt, 1ULL << 39, 1ULL << 41),
				 2ULL << 30);
			break;
		}
		CHECK_EQ(rc, -ENOMEM);
		CHECK_EQ(pgt.nr_tables, tables);
		CHECK_EQ(pgt.nr_dirty_leaves, leaves);
		CHECK_EQ(pgt.nr_dirty_dirs, dirs);
		CHECK_EQ(pgt_check(&pgt), 0);
	}
	CHECK(nth > 4);
	CHECK(pgt_dirty_test(&pgt, 0)); /* the first mapping kept its state */
	CHECK_EQ(pgt_check(&pgt), 0);
	pgt_destroy(&pgt);
}

/* ---- through the public API ---- */

#define PS 4096ULL

static struct ufd_engine *eng;
static struct ufd_source *src;
static uint8_t *buf;
static const size_t buf_len = 1024 * PS; /* 4 MiB, 2 MiB aligned */

static struct ufd_ctx *ctx_open(void)
{
	struct ufd_cred cred;
	struct ufd_ctx *ctx = NULL;

	ufd_cred_self(&cred);
	cred.cap_ipc_lock = true;
	ufd_ctx_open(eng, &cred, &ctx);
	return ctx;
}

struct setup {
	struct ufd_ctx *ctx;
	uint32_t ioas, dev, pt;
	struct ufd_dma *dma;
};

static int setup(struct setup *s, bool huge)
{
	struct ufd_device_info info = {
		.aperture_start = 1ULL << 20,
		.aperture_last = (1ULL << 39) - 1,
		.pgsize_bitmap = PS | (huge ? 2ULL << 20 : 0),
		.dirty_tracking = true,
	};

	memset(s, 0, sizeof(*s));
	s->ctx = ctx_open();
	if (!s->ctx || ufd_ioas_alloc(s->ctx, &s->ioas) ||
	    ufd_device_bind(s->ctx, &info, &s->dev) ||
	    ufd_hwpt_alloc_paging(s->ctx, s->dev, s->ioas,
				  UFD_HWPT_DIRTY_TRACKING, &s->pt) ||
	    ufd_device_attach(s->ctx, s->dev, &s->pt) ||
	    ufd_dma_open(s->ctx, s->dev, &s->dma))
		return -1;
	return 0;
}

static void teardown(struct setup *s)
{
	ufd_dma_close(s->dma);
	CHECK_EQ(ufd_engine_check(eng), 0);
	ufd_ctx_close(s->ctx);
}

static int map(struct setup *s, uint64_t iova, size_t len)
{
	return ufd_ioas_map(s->ctx, s->ioas, src, (uintptr_t)buf, len, &iova,
			    UFD_MAP_FIXED_IOVA | UFD_MAP_READ | UFD_MAP_WRITE);
}

static unsigned int popcount(const uint8_t *b, size_t n)
{
	unsigned int c = 0;

	while (n--)
		c += (unsigned int)__builtin_popcount(*b++);
	return c;
}

/*
 * A harvest needs its range mapped without holes: what it finds from the
 * runs of adjacent areas, kept through maps (that join runs), unmaps (that
 * cut them) and granule cuts (that split areas inside a run), against a
 * model of which pages are mapped.  Over a hole, the part before it is
 * harvested and the call fails with -EINVAL; a range that starts in a hole
 * harvests nothing.
 */
#define RUNS_PAGES 256

static void test_harvest_runs(void)
{
	static uint8_t mapped[RUNS_PAGES];
	static uint8_t bm[RUNS_PAGES / 8 + 8];
	const uint64_t base = 1ULL << 30;
	struct setup s;
	unsigned int op;

	REQUIRE(setup(&s, false) == 0);
	memset(mapped, 0, sizeof(mapped));
	CHECK_EQ(ufd_hwpt_set_dirty_tracking(s.ctx, s.pt, true), 0);
	for (op = 0; op != 3000 && !harness_failed; op++) {
		uint64_t p = rnd() % RUNS_PAGES, n = 1 + rnd() % 16, i, k;
		uint64_t iova = base + p * PS, unmapped;
		int rc;

		if (p + n > RUNS_PAGES)
			n = RUNS_PAGES - p;
		switch (rnd() % 4) {
		case 0: /* a map, in granules of a page: cuts allowed */
			rc = ufd_ioas_map_granule(s.ctx, s.ioas, src,
						  (uintptr_t)buf, n * PS, &iova,
						  UFD_MAP_FIXED_IOVA |
							  UFD_MAP_READ |
							  UFD_MAP_WRITE,
						  PS);
			for (i = p, k = 0; i != p + n; i++)
				k |= mapped[i];
			CHECK_EQ(rc, k ? -EEXIST : 0);
			if (!rc)
				memset(&mapped[p], 1, n);
			break;
		case 1: /* an unmap, cutting areas where it ends inside */
			rc = ufd_ioas_unmap(s.ctx, s.ioas, iova, n * PS, &unmapped);
			for (i = p, k = 0; i != p + n; i++)
				k += mapped[i];
			if (k) {
				CHECK_EQ(rc, 0);
				CHECK_EQ(unmapped, k * PS);
			} else {
				CHECK_EQ(rc, -ENOENT);
			}
			memset(&mapped[p], 0, n);
			break;
		default: { /* a harvest of [p, p + n), one page dirty in it */
			uint64_t hole = p, d = p + rnd() % n;

			while (hole != p + n && mapped[hole])
				hole++;
			if (mapped[d])
				CHECK_EQ(ufd_dma_write(s.dma, base + d * PS, "x",
						       1),
					 0);
			memset(bm, 0, sizeof(bm));
			rc = ufd_hwpt_read_dirty_bitmap(s.ctx, s.pt, iova,
							n * PS, PS, false, bm);
			CHECK_EQ(rc, hole == p + n ? 0 : -EINVAL);
			/* Reported if before the hole; else left dirty. */
			CHECK_EQ(popcount(bm, sizeof(bm)),
				 mapped[d] && d < hole);
			if (mapped[d] && d < hole)
				CHECK(bm[(d - p) / 8] & (1u << ((d - p) % 8)));
			if (mapped[d] && d >= hole) {
				/* The harvest of it alone reports it. */
				memset(bm, 0, sizeof(bm));
				CHECK_EQ(ufd_hwpt_read_dirty_bitmap(
						 s.ctx, s.pt, base + d * PS, PS,
						 PS, false, bm),
					 0);
				CHECK_EQ(bm[0], 1);
			}
			break;
		}
		}
		if (op % 64 == 0)
			CHECK_EQ(ufd_engine_check(eng), 0);
	}
	CHECK_EQ(ufd_ioas_unmap(s.ctx, s.ioas, 0, UINT64_MAX, NULL) == 0 ||
			 !memchr(mapped, 1, sizeof(mapped)),
		 1);
	teardown(&s);
}

static void test_dma_writes(void)
{
	const uint64_t iova = 1ULL << 32;
	static uint8_t bm[1024 / 8 + 16];
	uint64_t host, size, flags;
	struct setup s;
	unsigned int i;

	REQUIRE(setup(&s, false) == 0);
	REQUIRE(map(&s, iova, buf_len) == 0);
	/* Before tracking is on, writes are not recorded. */
	CHECK_EQ(ufd_dma_write(s.dma, iova, "x", 1), 0);
	CHECK_EQ(ufd_hwpt_read_dirty_bitmap(s.ctx, s.pt, iova, buf_len, PS,
					    false, bm),
		 -EINVAL);
	REQUIRE(ufd_hwpt_set_dirty_tracking(s.ctx, s.pt, true) == 0);
	/* One write across a page boundary dirties two pages. */
	CHECK_EQ(ufd_dma_write(s.dma, iova + 10 * PS - 2, "abcd", 4), 0);
	CHECK_EQ(ufd_dma_read(s.dma, iova + 20 * PS, bm, 8), 0); /* a read */
	CHECK_EQ(ufd_hwpt_translate(s.ctx, s.pt, iova + 9 * PS, &host, &size,
				    &flags),
		 0);
	CHECK(flags & UFD_PTE_DIRTY);
	CHECK_EQ(ufd_hwpt_translate(s.ctx, s.pt, iova + 20 * PS, &host, &size,
				    &flags),
		 0);
	CHECK(!(flags & UFD_PTE_DIRTY));
	/* NO_CLEAR keeps; an unaligned bitmap (odd byte address). */
	for (i = 0; i != 2; i++) {
		memset(bm, 0, sizeof(bm));
		CHECK_EQ(ufd_hwpt_read_dirty_bitmap(s.ctx, s.pt, iova, buf_len,
						    PS, true, bm + 3),
			 0);
		CHECK_EQ(popcount(bm, sizeof(bm)), 2);
		CHECK_EQ(bm[3 + 1], 0x3 << 1); /* pages 9 and 10 */
	}
	/* 4 pages to a bit: pages 9 and 10 are bit 2. */
	memset(bm, 0, sizeof(bm));
	CHECK_EQ(ufd_hwpt_read_dirty_bitmap(s.ctx, s.pt, iova, buf_len, 4 * PS,
					    true, bm),
		 0);
	CHECK_EQ(bm[0], 1 << 2);
	CHECK_EQ(popcount(bm, sizeof(bm)), 1);
	/* 2 KiB bits: each page sets two. */
	memset(bm, 0, sizeof(bm));
	CHECK_EQ(ufd_hwpt_read_dirty_bitmap(s.ctx, s.pt, iova, 64 * PS, PS / 2,
					    true, bm),
		 0);
	CHECK_EQ(bm[2], 0x3c); /* bits 18..21 */
	CHECK_EQ(popcount(bm, sizeof(bm)), 4);
	/* A harvest of part of the range; then the rest. */
	memset(bm, 0, sizeof(bm));
	CHECK_EQ(ufd_hwpt_read_dirty_bitmap(s.ctx, s.pt, iova + 10 * PS, PS, PS,
					    false, bm),
		 0);
	CHECK_EQ(bm[0], 1);
	memset(bm, 0, sizeof(bm));
	CHECK_EQ(ufd_hwpt_read_dirty_bitmap(s.ctx, s.pt, iova, buf_len, PS,
					    false, bm),
		 0);
	CHECK_EQ(popcount(bm, sizeof(bm)), 1);
	CHECK_EQ(bm[1], 1 << 1);
	memset(bm, 0, sizeof(bm));
	CHECK_EQ(ufd_hwpt_read_dirty_bitmap(s.ctx, s.pt, iova, buf_len, PS,
					    false, bm),
		 0);
	CHECK_EQ(popcount(bm, sizeof(bm)), 0);
	/* Enabling again clears what was dirty. */
	CHECK_EQ(ufd_dma_write(s.dma, iova + 5 * PS, "y", 1), 0);
	REQUIRE(ufd_hwpt_set_dirty_tracking(s.ctx, s.pt, true) == 0);
	CHECK_EQ(ufd_hwpt_read_dirty_bitmap(s.ctx, s.pt, iova, buf_len, PS,
					    false, bm),
		 0);
	CHECK_EQ(popcount(bm, sizeof(bm)), 0);
	/* Unmap drops the state: a remap comes back clean. */
	CHECK_EQ(ufd_dma_write(s.dma, iova + 7 * PS, "z", 1), 0);
	CHECK_EQ(ufd_ioas_unmap(s.ctx, s.ioas, iova, buf_len, NULL), 0);
	CHECK_EQ(ufd_engine_check(eng), 0);
	REQUIRE(map(&s, iova, buf_len) == 0);
	CHECK_EQ(ufd_hwpt_read_dirty_bitmap(s.ctx, s.pt, iova, buf_len, PS,
					    false, bm),
		 0);
	CHECK_EQ(popcount(bm, sizeof(bm)), 0);
	/* Argument errors, the kernel's errnos. */
	CHECK_EQ(ufd_hwpt_read_dirty_bitmap(s.ctx, s.pt, iova + 1, PS, PS,
					    false, bm),
		 -EINVAL);
	CHECK_EQ(ufd_hwpt_read_dirty_bitmap(s.ctx, s.pt, iova, PS, 3 * PS,
					    false, bm),
		 -EINVAL);
	CHECK_EQ(ufd_hwpt_read_dirty_bitmap(s.ctx, s.pt, iova, 0, PS, false,
					    bm),
		 -EINVAL);
	CHECK_EQ(ufd_hwpt_read_dirty_bitmap(s.ctx, s.pt, ~0ULL - PS + 1, 2 * PS,
					    PS, false, bm),
		 -EOVERFLOW);
	/* A hole after the mapping: what is before it is still harvested. */
	CHECK_EQ(ufd_dma_write(s.dma, iova + buf_len - 1, "h", 1), 0);
	memset(bm, 0, sizeof(bm));
	CHECK_EQ(ufd_hwpt_read_dirty_bitmap(s.ctx, s.pt, iova, buf_len + 8 * PS,
					    PS, false, bm),
		 -EINVAL);
	CHECK_EQ(bm[1023 / 8], 0x80);
	teardown(&s);
}

static void test_superpage_dma(void)
{
	const uint64_t iova = 1ULL << 33;
	static uint8_t bm[1024 / 8];
	uint64_t host, size, flags;
	struct setup s;

	REQUIRE(setup(&s, true) == 0);
	REQUIRE(map(&s, iova, buf_len) == 0);
	CHECK_EQ(ufd_hwpt_translate(s.ctx, s.pt, iova, &host, &size, &flags),
		 0);
	CHECK_EQ(size, 2ULL << 20);
	REQUIRE(ufd_hwpt_set_dirty_tracking(s.ctx, s.pt, true) == 0);
	CHECK_EQ(ufd_dma_write(s.dma, iova + (2ULL << 20) + 77, "s", 1), 0);
	/* A harvest of 16 pages inside the leaf: all 16, and the leaf is
	 * cleared as a whole. */
	memset(bm, 0, sizeof(bm));
	CHECK_EQ(ufd_hwpt_read_dirty_bitmap(s.ctx, s.pt,
					    iova + (2ULL << 20) + 64 * PS,
					    16 * PS, PS, false, bm),
		 0);
	CHECK_EQ(popcount(bm, sizeof(bm)), 16);
	memset(bm, 0, sizeof(bm));
	CHECK_EQ(ufd_hwpt_read_dirty_bitmap(s.ctx, s.pt, iova, buf_len, PS,
					    false, bm),
		 0);
	CHECK_EQ(popcount(bm, sizeof(bm)), 0);
	/* Whole: the second 512 bits. */
	CHECK_EQ(ufd_dma_write(s.dma, iova + (2ULL << 20) + 5, "t", 1), 0);
	memset(bm, 0, sizeof(bm));
	CHECK_EQ(ufd_hwpt_read_dirty_bitmap(s.ctx, s.pt, iova, buf_len, PS,
					    true, bm),
		 0);
	CHECK_EQ(popcount(bm, sizeof(bm)), 512);
	CHECK_EQ(bm[64], 0xff);
	CHECK_EQ(bm[63], 0);
	teardown(&s);
}

static void test_map_fail_nth(void)
{
	const uint64_t iova = (1ULL << 34) - (2ULL << 20);
	static uint8_t bm[1024 / 8];
	struct setup s;
	unsigned long nth;
	int rc = -1;

	REQUIRE(setup(&s, true) == 0);
	REQUIRE(ufd_hwpt_set_dirty_tracking(s.ctx, s.pt, true) == 0);
	/* Across a 1 GiB line: two dirty leaves. */
	for (nth = 1; nth < 200; nth++) {
		ufd_fail_nth(nth);
		rc = map(&s, iova, buf_len);
		ufd_fail_nth(0);
		if (!rc)
			break;
		CHECK_EQ(rc, -ENOMEM);
		CHECK_EQ(ufd_engine_check(eng), 0);
	}
	REQUIRE(rc == 0);
	CHECK(nth > 1);
	CHECK_EQ(ufd_dma_write(s.dma, iova + buf_len - 1, "f", 1), 0);
	memset(bm, 0, sizeof(bm));
	CHECK_EQ(ufd_hwpt_read_dirty_bitmap(s.ctx, s.pt, iova, buf_len, PS,
					    false, bm),
		 0);
	CHECK_EQ(popcount(bm, sizeof(bm)), 512);
	CHECK_EQ(ufd_engine_check(eng), 0);
	teardown(&s);
}

/* Writers on their own ports while harvests run: no write is lost. */
struct writer {
	struct ufd_dma *dma;
	uint64_t iova;
	unsigned int first, n;  /* its pages */
	unsigned long rounds;
	bool stop;
};

static void *writer_thread(void *arg)
{
	struct writer *w = arg;
	unsigned int i;

	while (!__atomic_load_n(&w->stop, __ATOMIC_ACQUIRE)) {
		for (i = 0; i != w->n; i++)
			if (ufd_dma_write(w->dma, w->iova + (w->first + i) * PS,
					  "w", 1))
				return NULL;
		__atomic_store_n(&w->rounds, w->rounds + 1, __ATOMIC_RELEASE);
	}
	return NULL;
}

static void test_race_harvest(void)
{
	const uint64_t iova = 1ULL << 35;
	static uint8_t bm[1024 / 8], seen[1024 / 8];
	struct writer w[2];
	pthread_t t[2];
	struct setup s;
	unsigned int i, k;

	REQUIRE(setup(&s, false) == 0);
	REQUIRE(map(&s, iova, buf_len) == 0);
	REQUIRE(ufd_hwpt_set_dirty_tracking(s.ctx, s.pt, true) == 0);
	for (i = 0; i != 2; i++) {
		w[i] = (struct writer){ .iova = iova, .first = i * 512,
					.n = 512 };
		REQUIRE(ufd_dma_open(s.ctx, s.dev, &w[i].dma) == 0);
		REQUIRE(pthread_create(&t[i], NULL, writer_thread, &w[i]) ==
			0);
	}
	memset(seen, 0, sizeof(seen));
	for (k = 0; k != 200; k++) {
		memset(bm, 0, sizeof(bm));
		CHECK_EQ(ufd_hwpt_read_dirty_bitmap(s.ctx, s.pt, iova, buf_len,
						    PS, false, bm),
			 0);
		for (i = 0; i != sizeof(bm); i++)
			seen[i] |= bm[i];
	}
	for (i = 0; i != 2; i++) {
		unsigned long r0;

		/* Let one more full round complete after the harvests. */
		r0 = __atomic_load_n(&w[i].rounds, __ATOMIC_ACQUIRE);
		while (__atomic_load_n(&w[i].rounds, __ATOMIC_ACQUIRE) < r0 + 2)
			sched_yield();
		__atomic_store_n(&w[i].stop, true, __ATOMIC_RELEASE);
		pthread_join(t[i], NULL);
		ufd_dma_close(w[i].dma);
	}
	/* Everything written since the last harvest is dirty now. */
	memset(bm, 0, sizeof(bm));
	CHECK_EQ(ufd_hwpt_read_dirty_bitmap(s.ctx, s.pt, iova, buf_len, PS,
					    false, bm),
		 0);
	CHECK_EQ(popcount(bm, sizeof(bm)), 1024);
	for (i = 0; i != sizeof(bm); i++)
		seen[i] |= bm[i];
	CHECK_EQ(popcount(seen, sizeof(seen)), 1024);
	teardown(&s);
}

int main(void)
{
	uint8_t *area;

	RUN(test_model_4k);
	RUN(test_model_mock);
	RUN(test_across_leaves);
	RUN(test_full_groups);
	RUN(test_full_concurrent);
	RUN(test_map_alloc_failure);
	buf = harness_map_aligned(buf_len, &area);
	if (!buf)
		return 1;
	eng = ufd_engine_new();
	src = ufd_source_local();
	if (!eng || !src)
		return 1;
	RUN(test_dma_writes);
	RUN(test_harvest_runs);
	RUN(test_superpage_dma);
	RUN(test_map_fail_nth);
	RUN(test_race_harvest);
	ufd_source_put(src);
	ufd_engine_free(eng);
	munmap(area, buf_len + (2u << 20));
	HARNESS_EXIT();
}
