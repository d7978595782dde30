/* SPDX-License-Identifier: MIT */
/*
 * Dirty bitmaps of an IO page table (the model is in pgtable.h): one bit
 * per granule, kept in dirty leaves of 2^18 granules under a radix of
 * 512-slot directories indexed by iova >> (granule_shift + 18).  A DMA
 * write marks its leaf entry's bits (pgt_dirty_write, inline in the
 * header: a lookup and two loads when already dirty); a harvest walks
 * only the dirty leaves of the range and, inside each, only the groups of
 * 64 words its summary says may hold a dirty bit, and moves those words
 * into the caller's bitmap with shifts and ORs: a harvest of 1 GiB at 4
 * KiB is a pass over at most 32 KiB of bits, and over nothing where
 * nothing is dirty.  A group whose granules are all dirty (its full bit,
 * set by the marker that completes it) is reported without reading its
 * words and cleared by flipping it (its flip bit: the words stand
 * inverted from then on), so it costs the caller's bitmap only.
 * Everything below reads and writes words through their group's polarity
 * (pgt_dirty_inv): the "bits" of a word are what it holds XORed with
 * that.
 *
 * Intervals: granule indices [a, b) inside a leaf and IOVA ranges
 * [iova, iova + length) in the API; the radix walks take inclusive leaf
 * index ranges [i0, i1].  Locking: markers are atomic and lock-free;
 * everything else here runs with markers excluded (see pgtable.h), so the
 * flip word changes only while no marker runs.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"
#include "engine/pgtable.h"

#define LEAF_GRANULES (1ULL << PGT_DIRTY_SHIFT)
#define GROUP_BITS (64ULL * PGT_DIRTY_GROUP)

struct dirty_dir {
	void *slot[PGT_ENTRIES];
	unsigned int count; /* non-NULL slots */
};

typedef uint64_t __attribute__((aligned(1), may_alias)) u64_unaligned;

static inline uint64_t leaf_index(const struct ufd_pgtable *pgt, uint64_t iova)
{
	return iova >> (pgt->granule_shift + PGT_DIRTY_SHIFT);
}

static inline unsigned int dir_slot(uint64_t idx, unsigned int l)
{
	return (idx >> (PGT_LEVEL_BITS * (l - 1))) & (PGT_ENTRIES - 1);
}

/* Bits [lo, hi) of a word, 0 <= lo < hi <= 64. */
static inline uint64_t bits_mask(unsigned int lo, unsigned int hi)
{
	uint64_t m = hi == 64 ? ~0ULL : (1ULL << hi) - 1;

	return m & ~((1ULL << lo) - 1);
}

void pgt_dirty_enable(struct ufd_pgtable *pgt)
{
	pgt->dirty_capable = true;
	pgt->dirty_levels = pgt->levels > 2 ? pgt->levels - 2 : 0;
}

/* ---- the radix ---- */

/* Whether the page table maps anything in dirty leaf @idx's span. */
static bool span_mapped(const struct ufd_pgtable *pgt, uint64_t idx)
{
	uint64_t iova = idx << (pgt->granule_shift + PGT_DIRTY_SHIFT);
	const uint64_t *t = pgt->root;
	unsigned int l;

	if (pgt->levels <= 2)
		return pgt_root_entries(pgt) != 0;
	for (l = pgt->levels - 1;; l--) {
		uint64_t e = t[(iova >> (pgt->granule_shift +
					 PGT_LEVEL_BITS * l)) &
			       (PGT_ENTRIES - 1)];

		if (!(e & PGT_VALID))
			return false;
		if ((e & PGT_LEAF) || l == 2)
			return true;
		t = (const uint64_t *)(uintptr_t)(e & ~(UFD_PAGE_SIZE - 1));
	}
}

/* A zeroed dirty leaf, its words cache-line aligned (see pgtable.h). */
static struct pgt_dirty_leaf *leaf_alloc(void)
{
	void *p;

	if (ufd_inject_fail() ||
	    posix_memalign(&p, _Alignof(struct pgt_dirty_leaf),
			   sizeof(struct pgt_dirty_leaf)))
		return NULL;
	memset(p, 0, sizeof(struct pgt_dirty_leaf));
	return p;
}

static int ensure_leaf(struct ufd_pgtable *pgt, uint64_t idx)
{
	void **slotp = &pgt->dirty_root;
	struct dirty_dir *parent = NULL;
	unsigned int l;

	for (l = pgt->dirty_levels;; l--) {
		if (!*slotp) {
			void *n = l ? ufd_zalloc(sizeof(struct dirty_dir)) :
				      leaf_alloc();

			if (!n)
				return -ENOMEM;
			*slotp = n;
			if (parent)
				parent->count++;
			if (l)
				pgt->nr_dirty_dirs++;
			else
				pgt->nr_dirty_leaves++;
		}
		if (!l)
			return 0;
		parent = *slotp;
		slotp = &parent->slot[dir_slot(idx, l)];
	}
}

int pgt_dirty_prepare(struct ufd_pgtable *pgt, uint64_t iova, uint64_t last)
{
	uint64_t idx;
	int rc;

	if (!pgt->dirty_capable)
		return 0;
	for (idx = leaf_index(pgt, iova); idx <= leaf_index(pgt, last);
	     idx++) {
		rc = ensure_leaf(pgt, idx);
		if (rc)
			return rc;
	}
	return 0;
}

typedef void (*leaf_fn)(struct ufd_pgtable *pgt, struct pgt_dirty_leaf *d,
			uint64_t idx, void *arg);

/* Call @fn on each dirty leaf with an index in [i0, i1], in order. */
static void walk_leaves(struct ufd_pgtable *pgt, void *n, unsigned int l,
			uint64_t base, uint64_t i0, uint64_t i1, leaf_fn fn,
			void *arg)
{
	struct dirty_dir *dir = n;
	uint64_t span;
	unsigned int s, e;

	if (!n)
		return;
	if (!l) {
		fn(pgt, n, base, arg);
		return;
	}
	span = 1ULL << (PGT_LEVEL_BITS * (l - 1));
	if (i0 > base && (i0 - base) / span >= PGT_ENTRIES)
		return;
	s = i0 > base ? (unsigned int)((i0 - base) / span) : 0;
	e = (i1 - base) / span >= PGT_ENTRIES ? PGT_ENTRIES - 1 :
						(unsigned int)((i1 - base) / span);
	for (; s <= e; s++) {
		uint64_t cb = base + s * span;

		walk_leaves(pgt, dir->slot[s], l - 1, cb, i0 > cb ? i0 : cb,
			    i1, fn, arg);
	}
}

static void for_each_leaf(struct ufd_pgtable *pgt, uint64_t iova,
			  uint64_t last, leaf_fn fn, void *arg)
{
	walk_leaves(pgt, pgt->dirty_root, pgt->dirty_levels, 0,
		    leaf_index(pgt, iova), leaf_index(pgt, last), fn, arg);
}

/* Free the leaves of [i0, i1] whose span is unmapped; true if *slotp went. */
static bool prune(struct ufd_pgtable *pgt, void **slotp, unsigned int l,
		  uint64_t base, uint64_t i0, uint64_t i1, bool all)
{
	struct dirty_dir *dir = *slotp;
	uint64_t span;
	unsigned int s, e;

	if (!dir)
		return false;
	if (!l) {
		if (!all && span_mapped(pgt, base))
			return false;
		free(*slotp);
		*slotp = NULL;
		pgt->nr_dirty_leaves--;
		return true;
	}
	span = 1ULL << (PGT_LEVEL_BITS * (l - 1));
	if (i0 > base && (i0 - base) / span >= PGT_ENTRIES)
		return false;
	s = i0 > base ? (unsigned int)((i0 - base) / span) : 0;
	e = (i1 - base) / span >= PGT_ENTRIES ? PGT_ENTRIES - 1 :
						(unsigned int)((i1 - base) / span);
	for (; s <= e; s++) {
		uint64_t cb = base + s * span;

		if (prune(pgt, &dir->slot[s], l - 1, cb, i0 > cb ? i0 : cb,
			  i1, all))
			dir->count--;
	}
	if (dir->count)
		return false;
	free(dir);
	*slotp = NULL;
	pgt->nr_dirty_dirs--;
	return true;
}

void pgt_dirty_prune(struct ufd_pgtable *pgt, uint64_t iova, uint64_t last)
{
	prune(pgt, &pgt->dirty_root, pgt->dirty_levels, 0,
	      leaf_index(pgt, iova), leaf_index(pgt, last), false);
}

void pgt_dirty_destroy(struct ufd_pgtable *pgt)
{
	prune(pgt, &pgt->dirty_root, pgt->dirty_levels, 0, 0, UINT64_MAX,
	      true);
}

/* ---- clearing ---- */

/* The groups that granules [a, b) of a leaf meet (a < b). */
static inline uint64_t groups_of(uint64_t a, uint64_t b)
{
	return bits_mask((unsigned int)(a / GROUP_BITS),
			 (unsigned int)((b - 1) / GROUP_BITS) + 1);
}

/* Group @g's summary bit goes if none of its bits is set. */
static void group_fix(struct pgt_dirty_leaf *d, uint64_t g)
{
	uint64_t i, any = 0, inv = pgt_dirty_inv(d, g * PGT_DIRTY_GROUP);

	if (!(d->summary & (1ULL << g)))
		return;
	for (i = g * PGT_DIRTY_GROUP; i != (g + 1) * PGT_DIRTY_GROUP; i++)
		any |= d->w[i] ^ inv;
	if (!any)
		d->summary &= ~(1ULL << g);
}

/* After bits [a, b) of @d were cleared: no group they meet is full; the
 * summary bits of the groups cleared whole go at once, the (at most two)
 * groups the range cuts are looked at. */
static void summary_fix(struct pgt_dirty_leaf *d, uint64_t a, uint64_t b)
{
	uint64_t ga = a / GROUP_BITS, gb = (b - 1) / GROUP_BITS;
	/* whole groups [wa, wb) */
	uint64_t wa = (a + GROUP_BITS - 1) / GROUP_BITS, wb = b / GROUP_BITS;

	d->full &= ~groups_of(a, b);
	if (wb > wa)
		d->summary &= ~bits_mask((unsigned int)wa, (unsigned int)wb);
	if (a % GROUP_BITS)
		group_fix(d, ga);
	if (b % GROUP_BITS && (gb != ga || !(a % GROUP_BITS)))
		group_fix(d, gb);
}

/* Clear bits [lo, hi) of word @i (0 <= lo < hi <= 64), as @inv stores
 * them. */
static inline void clear_in_word(uint64_t *w, uint64_t i, unsigned int lo,
				 unsigned int hi, uint64_t inv)
{
	if (inv)
		w[i] |= bits_mask(lo, hi);
	else
		w[i] &= ~bits_mask(lo, hi);
}

/* Clear bits [a, b) of @d (0 <= a < b <= 2^18), its summary and full
 * bits, group by group: a clean group is left alone, a full one cleared
 * whole is flipped, any other has its words written. */
static void clear_bits(struct pgt_dirty_leaf *d, uint64_t a, uint64_t b)
{
	uint64_t g;

	for (g = a / GROUP_BITS; g * GROUP_BITS < b; g++) {
		uint64_t s = a > g * GROUP_BITS ? a : g * GROUP_BITS;
		uint64_t e = b < (g + 1) * GROUP_BITS ? b : (g + 1) * GROUP_BITS;
		uint64_t bit = 1ULL << g, wa = s / 64, wb = (e - 1) / 64;
		uint64_t inv = pgt_dirty_inv(d, wa);

		if (!(d->summary & bit))
			continue; /* nothing set in it */
		if (e - s == GROUP_BITS && (d->full & bit)) {
			d->flip ^= bit;
		} else if (wa == wb) {
			clear_in_word(d->w, wa, s % 64, (e - 1) % 64 + 1, inv);
		} else {
			clear_in_word(d->w, wa, s % 64, 64, inv);
			if (wb > wa + 1)
				memset(&d->w[wa + 1], inv ? 0xff : 0,
				       (wb - wa - 1) * 8);
			clear_in_word(d->w, wb, 0, (e - 1) % 64 + 1, inv);
		}
		d->full &= ~bit;
		if (e - s == GROUP_BITS)
			d->summary &= ~bit;
		else
			group_fix(d, g);
	}
}

struct range_arg {
	uint64_t g0, g1; /* granules [g0, g1) */
};

static void clear_leaf(struct ufd_pgtable *pgt, struct pgt_dirty_leaf *d,
		       uint64_t idx, void *arg)
{
	const struct range_arg *r = arg;
	uint64_t base = idx << PGT_DIRTY_SHIFT;
	uint64_t a = r->g0 > base ? r->g0 - base : 0;
	uint64_t b = r->g1 - base < LEAF_GRANULES ? r->g1 - base :
						   LEAF_GRANULES;

	(void)pgt;
	clear_bits(d, a, b);
}

/* Clear the bits of [iova, last] (inclusive, granule aligned ends). */
void pgt_dirty_clear(struct ufd_pgtable *pgt, uint64_t iova, uint64_t last)
{
	struct range_arg r = { iova >> pgt->granule_shift,
			       (last >> pgt->granule_shift) + 1 };

	if (pgt->dirty_root)
		for_each_leaf(pgt, iova, last, clear_leaf, &r);
}

static void zero_leaf(struct ufd_pgtable *pgt, struct pgt_dirty_leaf *d,
		      uint64_t idx, void *arg)
{
	(void)pgt;
	(void)idx;
	(void)arg;
	memset(d, 0, sizeof(*d));
}

void pgt_dirty_clear_all(struct ufd_pgtable *pgt)
{
	if (pgt->dirty_root)
		for_each_leaf(pgt, 0, UINT64_MAX, zero_leaf, NULL);
}

/* ---- marking ---- */

bool pgt_dirty_test(const struct ufd_pgtable *pgt, uint64_t iova)
{
	struct pgt_dirty_leaf *d = pgt_dirty_leaf_of(pgt, iova);
	uint64_t g = (iova >> pgt->granule_shift) & (LEAF_GRANULES - 1);

	return d && ((__atomic_load_n(&d->w[g / 64], __ATOMIC_RELAXED) ^
		      pgt_dirty_inv(d, g / 64)) &
		     (1ULL << (g % 64)));
}

/*
 * Whether every word of the group of word @done, which the caller just
 * wrote, is all dirty: then the group's full bit is set.  A sequentially
 * consistent no-op RMW of @done, then sequentially consistent loads, so of
 * two markers that complete the group's last two words at once at least
 * one sees the other's word complete (a fence would do, but TSan does not
 * take fences); a group left unflagged would only cost its harvest a read
 * of its words.  The scan starts after @done: with marks in address
 * order, the first word it looks at is the one not done yet.
 */
void pgt_dirty_word_full(struct pgt_dirty_leaf *d, uint64_t done)
{
	uint64_t g = done / PGT_DIRTY_GROUP, base = g * PGT_DIRTY_GROUP;
	uint64_t inv = pgt_dirty_inv(d, base), k;

	__atomic_fetch_or(&d->w[done], 0, __ATOMIC_SEQ_CST);
	for (k = 1; k != PGT_DIRTY_GROUP; k++) {
		uint64_t i = base + (done + k) % PGT_DIRTY_GROUP;

		if ((__atomic_load_n(&d->w[i], __ATOMIC_SEQ_CST) ^ inv) !=
		    ~0ULL)
			return;
	}
	if (!(__atomic_load_n(&d->full, __ATOMIC_RELAXED) & (1ULL << g)))
		__atomic_fetch_or(&d->full, 1ULL << g, __ATOMIC_RELAXED);
}

/* A superpage (level >= 1): every word of it, then its groups. */
void pgt_dirty_write_slow(const struct ufd_pgtable *pgt, uint64_t iova,
			  unsigned int level)
{
	uint64_t size = pgt_level_size(pgt, level);
	uint64_t start = iova & ~(size - 1), cur;

	if (pgt_dirty_test(pgt, start))
		return; /* its bits are all equal */
	for (cur = start; cur - start < size;) {
		struct pgt_dirty_leaf *d = pgt_dirty_leaf_of(pgt, cur);
		uint64_t a = (cur >> pgt->granule_shift) & (LEAF_GRANULES - 1);
		uint64_t n = (size - (cur - start)) >> pgt->granule_shift;
		uint64_t i, g, sum;

		if (n > LEAF_GRANULES - a)
			n = LEAF_GRANULES - a;
		/* A level >= 1 leaf is 512-granule aligned: whole words. */
		if (d) {
			for (i = a / 64; i != (a + n) / 64; i++)
				__atomic_store_n(&d->w[i],
						 ~pgt_dirty_inv(d, i),
						 __ATOMIC_RELAXED);
			sum = groups_of(a, a + n);
			if ((__atomic_load_n(&d->summary, __ATOMIC_RELAXED) &
			     sum) != sum)
				__atomic_fetch_or(&d->summary, sum,
						  __ATOMIC_RELAXED);
			/* The groups it covers whole are full; the (at most
			 * two) it cuts may be now. */
			for (g = a / GROUP_BITS; g <= (a + n - 1) / GROUP_BITS;
			     g++)
				if (g * GROUP_BITS >= a &&
				    (g + 1) * GROUP_BITS <= a + n)
					__atomic_fetch_or(&d->full, 1ULL << g,
							  __ATOMIC_RELAXED);
				else
					pgt_dirty_word_full(
						d, g * GROUP_BITS >= a ?
							   g * PGT_DIRTY_GROUP :
							   a / 64);
		}
		cur += n << pgt->granule_shift;
		if (!cur)
			break; /* wrapped past the top */
	}
}

/* ---- harvesting ---- */

struct harvest {
	uint64_t g0, g1;         /* granules [g0, g1) harvested */
	bool keep;
	/* bitmap sink */
	uint8_t *bitmap;
	int shift;               /* page_shift - granule_shift */
	/* callback sink */
	void (*fn)(void *arg, uint64_t iova, uint64_t length);
	void *arg;
	uint64_t run_s, run_e;   /* pending run of granules [s, e) */
	unsigned int granule_shift;
	/* Bits [a, b) of the words @w, stored XORed with @inv: true if it
	 * cleared them itself. */
	bool (*seg)(struct harvest *h, uint64_t *w, uint64_t base, uint64_t a,
		    uint64_t b, uint64_t inv);
};

/* Bits [sb, sb + n) of @src (stored XORed with @inv), 1 <= n <= 64,
 * right-aligned. */
static inline uint64_t get_bits(const uint64_t *src, uint64_t sb,
				unsigned int n, uint64_t inv)
{
	unsigned int s = sb % 64;
	uint64_t x = (src[sb / 64] ^ inv) >> s;

	if (s + n > 64)
		x |= (src[sb / 64 + 1] ^ inv) << (64 - s);
	return n == 64 ? x : x & ((1ULL << n) - 1);
}

/* OR the low @n bits of @x into @dst at bit @db, touching only the bytes
 * those bits are in. */
static inline void or_partial(uint8_t *dst, uint64_t db, uint64_t x,
			      unsigned int n)
{
	while (n) {
		unsigned int off = db % 8, t = 8 - off < n ? 8 - off : n;

		dst[db / 8] |= (uint8_t)((x & ((1u << t) - 1)) << off);
		x >>= t;
		db += t;
		n -= t;
	}
}

/*
 * The word loops of or_bits: d[i] |= the 64 bits of @w from bit @s of
 * word i on, i < @words, each word XORed with @inv first.  With AVX2 where
 * the CPU has it (a harvest of 1 GiB is 4096 words: vectors make it
 * memcpy-like).
 */
typedef uint64_t v4u64 __attribute__((vector_size(32), aligned(1),
				       may_alias));
typedef uint64_t v2u64 __attribute__((vector_size(16), aligned(1),
				       may_alias));

__attribute__((target("avx2"))) static void
or_words_avx2(uint8_t *dst, const uint64_t *w, uint64_t words,
	      unsigned int s, uint64_t inv)
{
	const v4u64 x = { inv, inv, inv, inv };
	uint64_t i = 0;

	if (!s) {
		for (; i + 4 <= words; i += 4)
			*(v4u64 *)(dst + i * 8) |=
				*(const v4u64 *)(w + i) ^ x;
	} else {
		for (; i + 4 <= words; i += 4)
			*(v4u64 *)(dst + i * 8) |=
				((*(const v4u64 *)(w + i) ^ x) >> s) |
				((*(const v4u64 *)(w + i + 1) ^ x) << (64 - s));
	}
	for (; i != words; i++)
		((u64_unaligned *)dst)[i] |=
			s ? ((w[i] ^ inv) >> s) | ((w[i + 1] ^ inv) << (64 - s)) :
			    w[i] ^ inv;
}

/*
 * d[i] |= w[i] ^ inv; w[i] = inv, i < @words: a harvest that clears, one
 * pass.
 * Every store is 32-byte aligned where it can be (one that straddles two
 * cache lines costs about two): single words first until @dst is (when
 * it is 8-byte aligned at all), then, if @w is not aligned with it, its
 * words are read where they fall and cleared by aligned blocks that
 * trail the reads by @lag words (a block once all of it has been read).
 */
__attribute__((target("avx2"))) static void
move_words_avx2(uint8_t *dst, uint64_t *w, uint64_t words, uint64_t inv)
{
	const v4u64 x = { inv, inv, inv, inv };
	uint64_t i = 0, lag, z;

	if (!((uintptr_t)dst % 8))
		for (; (uintptr_t)(dst + i * 8) % 32 && i != words; i++) {
			((u64_unaligned *)dst)[i] |= w[i] ^ inv;
			w[i] = inv;
		}
	lag = (uintptr_t)(w + i) % 32 / 8;
	if (!lag) {
		for (; i + 4 <= words; i += 4) {
			*(v4u64 *)(dst + i * 8) |= *(v4u64 *)(w + i) ^ x;
			*(v4u64 *)(w + i) = x;
		}
	} else if (i + 4 <= words) {
		/* Cleared so far: [.., z); the block [z, z + 4) is aligned. */
		*(v4u64 *)(dst + i * 8) |= *(v4u64 *)(w + i) ^ x;
		for (z = i; z != i + 4 - lag; z++)
			w[z] = inv;
		for (i += 4; i + 4 <= words; i += 4, z += 4) {
			*(v4u64 *)(dst + i * 8) |= *(v4u64 *)(w + i) ^ x;
			*(v4u64 *)(w + z) = x;
		}
		for (; z != i; z++)
			w[z] = inv;
	}
	for (; i != words; i++) {
		((u64_unaligned *)dst)[i] |= w[i] ^ inv;
		w[i] = inv;
	}
}

static void move_words_sse2(uint8_t *dst, uint64_t *w, uint64_t words,
			    uint64_t inv)
{
	const v2u64 x = { inv, inv };
	uint64_t i = 0;

	for (; i + 2 <= words; i += 2) {
		*(v2u64 *)(dst + i * 8) |= *(v2u64 *)(w + i) ^ x;
		*(v2u64 *)(w + i) = x;
	}
	for (; i != words; i++) {
		((u64_unaligned *)dst)[i] |= w[i] ^ inv;
		w[i] = inv;
	}
}

static void or_words_sse2(uint8_t *dst, const uint64_t *w, uint64_t words,
			  unsigned int s, uint64_t inv)
{
	const v2u64 x = { inv, inv };
	uint64_t i = 0;

	if (!s) {
		for (; i + 2 <= words; i += 2)
			*(v2u64 *)(dst + i * 8) |=
				*(const v2u64 *)(w + i) ^ x;
	} else {
		for (; i + 2 <= words; i += 2)
			*(v2u64 *)(dst + i * 8) |=
				((*(const v2u64 *)(w + i) ^ x) >> s) |
				((*(const v2u64 *)(w + i + 1) ^ x) << (64 - s));
	}
	for (; i != words; i++)
		((u64_unaligned *)dst)[i] |=
			s ? ((w[i] ^ inv) >> s) | ((w[i + 1] ^ inv) << (64 - s)) :
			    w[i] ^ inv;
}

static bool have_avx2(void)
{
	static int avx2 = -1;
	int v = __atomic_load_n(&avx2, __ATOMIC_RELAXED);

	if (v < 0) {
		v = __builtin_cpu_supports("avx2") ? 1 : 0;
		__atomic_store_n(&avx2, v, __ATOMIC_RELAXED);
	}
	return v;
}

static void or_words(uint8_t *dst, const uint64_t *w, uint64_t words,
		     unsigned int s, uint64_t inv)
{
	if (have_avx2())
		or_words_avx2(dst, w, words, s, inv);
	else
		or_words_sse2(dst, w, words, s, inv);
}

/* OR bits [sb, sb + n) of @src (stored XORed with @inv) into @dst at bit
 * @db. */
static void or_bits(uint8_t *dst, uint64_t db, const uint64_t *src,
		    uint64_t sb, uint64_t n, uint64_t inv)
{
	uint64_t words;

	if (db % 64) {
		unsigned int t = 64 - db % 64 < n ? 64 - db % 64 : (unsigned)n;

		or_partial(dst, db, get_bits(src, sb, t, inv), t);
		db += t;
		sb += t;
		n -= t;
	}
	words = n / 64;
	if (words) {
		/* With a shift, w[words] exists: bit sb + 64 * words - 1 is
		 * in it. */
		or_words(dst + db / 8, src + sb / 64, words,
			 (unsigned int)(sb % 64), inv);
		db += words * 64;
		sb += words * 64;
		n -= words * 64;
	}
	if (n)
		or_partial(dst, db, get_bits(src, sb, (unsigned int)n, inv),
			   (unsigned int)n);
}

/* Set bits [u, u + n) of @dst. */
static void set_bits(uint8_t *dst, uint64_t u, uint64_t n)
{
	for (; n && u % 8; u++, n--)
		dst[u / 8] |= (uint8_t)(1u << (u % 8));
	if (n >= 8) {
		memset(dst + u / 8, 0xff, n / 8);
		u += n / 8 * 8;
		n %= 8;
	}
	for (; n; u++, n--)
		dst[u / 8] |= (uint8_t)(1u << (u % 8));
}

/* page size == granule: bits move as they are, shifted. */
static bool seg_copy(struct harvest *h, uint64_t *w, uint64_t base,
		     uint64_t a, uint64_t b, uint64_t inv)
{
	uint64_t db = base + a - h->g0, words;

	if (h->keep || a % 64 || db % 64 || b - a < 64) {
		or_bits(h->bitmap, db, w, a, b - a, inv);
		return false;
	}
	/* Word aligned on both sides: move (OR in and clear) in one pass. */
	words = (b - a) / 64;
	if (have_avx2())
		move_words_avx2(h->bitmap + db / 8, w + a / 64, words, inv);
	else
		move_words_sse2(h->bitmap + db / 8, w + a / 64, words, inv);
	if ((b - a) % 64) {
		uint64_t t = a + words * 64;

		or_bits(h->bitmap, db + words * 64, w, t, b - t, inv);
		clear_in_word(w, t / 64, 0, (unsigned int)(b - t), inv);
	}
	return true;
}

/* Any other page size: each dirty granule sets its user bit(s). */
static bool seg_scale(struct harvest *h, uint64_t *w, uint64_t base,
		      uint64_t a, uint64_t b, uint64_t inv)
{
	uint64_t g = a;

	while (g < b) {
		uint64_t x = (w[g / 64] ^ inv) & bits_mask(g % 64, 64), rel;

		if (g / 64 == (b - 1) / 64)
			x &= bits_mask(0, (b - 1) % 64 + 1);
		if (!x) {
			g = (g / 64 + 1) * 64;
			continue;
		}
		g = g / 64 * 64 + (uint64_t)__builtin_ctzll(x);
		rel = base + g - h->g0;
		if (h->shift > 0) {
			uint64_t u = rel >> h->shift;

			h->bitmap[u / 8] |= (uint8_t)(1u << (u % 8));
			/* The rest of this user bit's granules add nothing. */
			g = ((u + 1) << h->shift) + h->g0 - base;
		} else {
			set_bits(h->bitmap, rel << -h->shift,
				 1ULL << -h->shift);
			g++;
		}
	}
	return false;
}

static void run_flush(struct harvest *h)
{
	if (h->run_e > h->run_s)
		h->fn(h->arg, h->run_s << h->granule_shift,
		      (h->run_e - h->run_s) << h->granule_shift);
	h->run_s = h->run_e = 0;
}

/* Granules [s, e) (absolute) are dirty: extend the pending run, or flush
 * it and start another. */
static void run_add(struct harvest *h, uint64_t s, uint64_t e)
{
	if (h->run_e == s && h->run_e) {
		h->run_e = e;
	} else {
		run_flush(h);
		h->run_s = s;
		h->run_e = e;
	}
}

/* The callback: runs of dirty granules, merged across words and leaves. */
static bool seg_runs(struct harvest *h, uint64_t *w, uint64_t base,
		     uint64_t a, uint64_t b, uint64_t inv)
{
	uint64_t g = a;

	while (g < b) {
		uint64_t x = (w[g / 64] ^ inv) & bits_mask(g % 64, 64), s, e;

		if (g / 64 == (b - 1) / 64)
			x &= bits_mask(0, (b - 1) % 64 + 1);
		if (!x) {
			g = (g / 64 + 1) * 64;
			continue;
		}
		s = g / 64 * 64 + (uint64_t)__builtin_ctzll(x);
		/* The end of the run: the first clear bit at or after s. */
		for (e = s; e < b; e = (e / 64 + 1) * 64) {
			uint64_t y = ~(w[e / 64] ^ inv) & bits_mask(e % 64, 64);

			if (y) {
				e = e / 64 * 64 + (uint64_t)__builtin_ctzll(y);
				break;
			}
		}
		if (e > b)
			e = b;
		run_add(h, base + s, base + e);
		g = e;
	}
	return false;
}

/* Granules [a, b) of the leaf at @base are all dirty (full groups): to
 * the sink, without reading a word. */
static void sink_all(struct harvest *h, uint64_t base, uint64_t a,
		     uint64_t b)
{
	uint64_t rel = base + a - h->g0, n = b - a;

	if (h->fn) {
		run_add(h, base + a, base + b);
	} else if (h->shift > 0) {
		uint64_t u0 = rel >> h->shift, u1 = (rel + n - 1) >> h->shift;

		set_bits(h->bitmap, u0, u1 - u0 + 1);
	} else {
		set_bits(h->bitmap, rel << -h->shift, n << -h->shift);
	}
}

static void harvest_leaf(struct ufd_pgtable *pgt, struct pgt_dirty_leaf *d,
			 uint64_t idx, void *arg)
{
	struct harvest *h = arg;
	uint64_t base = idx << PGT_DIRTY_SHIFT;
	uint64_t a = h->g0 > base ? h->g0 - base : 0;
	uint64_t b = h->g1 - base < LEAF_GRANULES ? h->g1 - base :
						   LEAF_GRANULES;
	uint64_t sm = d->summary & groups_of(a, b);
	/* The full groups the range holds whole, [wa, wb). */
	unsigned int wa = (unsigned int)((a + GROUP_BITS - 1) / GROUP_BITS);
	unsigned int wb = (unsigned int)(b / GROUP_BITS);
	uint64_t whole = wb > wa ? d->full & sm & bits_mask(wa, wb) : 0;

	(void)pgt;
	/* Each run of maybe-dirty groups alike (all full and held whole,
	 * or none; all flipped, or none) is one segment. */
	while (sm) {
		unsigned int j = (unsigned int)__builtin_ctzll(sm);
		bool all = (whole >> j) & 1;
		uint64_t inv = pgt_dirty_inv(d, (uint64_t)j * PGT_DIRTY_GROUP);
		uint64_t like = sm & (all ? whole : ~whole) &
				(inv ? d->flip : ~d->flip);
		uint64_t rest = ~(like >> j);
		unsigned int len = rest ? (unsigned int)__builtin_ctzll(rest) :
					  64 - j;
		uint64_t s = (uint64_t)j * GROUP_BITS;
		uint64_t e = (uint64_t)(j + len) * GROUP_BITS;
		uint64_t groups = bits_mask(j, j + len);

		if (s < a)
			s = a;
		if (e > b)
			e = b;
		if (all) {
			sink_all(h, base, s, e);
			if (!h->keep) {
				d->flip ^= groups;
				d->full &= ~groups;
				d->summary &= ~groups;
			}
		} else if (h->seg(h, d->w, base, s, e, inv)) {
			summary_fix(d, s, e);
		} else if (!h->keep) {
			clear_bits(d, s, e);
		}
		sm &= ~groups;
	}
}

/* Whether any leaf is larger than a granule (the per-level counts). */
static bool has_superpages(const struct ufd_pgtable *pgt)
{
	unsigned int l;

	for (l = 1; l < pgt->levels; l++)
		if (pgt->nr_leaves[l])
			return true;
	return false;
}

/* A superpage the range cuts is cleared as a whole.  Without superpages
 * there is none to cut, and the two walks (to leaf tables that a harvest
 * after much DMA finds out of cache) are skipped. */
static void clear_cut_superpages(struct ufd_pgtable *pgt, uint64_t iova,
				 uint64_t last)
{
	unsigned int level;
	uint64_t size, s;

	if (!has_superpages(pgt))
		return;
	if (pgt_leaf(pgt, iova, &level) && level) {
		size = pgt_level_size(pgt, level);
		s = iova & ~(size - 1);
		if (s < iova)
			pgt_dirty_clear(pgt, s, iova - 1);
	}
	if (pgt_leaf(pgt, last, &level) && level) {
		size = pgt_level_size(pgt, level);
		s = last | (size - 1);
		if (s > last)
			pgt_dirty_clear(pgt, last + 1, s);
	}
}

static void harvest_run(struct ufd_pgtable *pgt, uint64_t iova,
			uint64_t length, struct harvest *h)
{
	uint64_t last;

	if (!pgt->dirty_root || !length ||
	    __builtin_add_overflow(iova, length - 1, &last))
		return;
	if (iova > pgt->last_iova)
		return;
	if (last > pgt->last_iova)
		last = pgt->last_iova;
	h->g0 = iova >> pgt->granule_shift;
	h->g1 = (last >> pgt->granule_shift) + 1;
	h->granule_shift = pgt->granule_shift;
	for_each_leaf(pgt, iova, last, harvest_leaf, h);
	if (!h->keep)
		clear_cut_superpages(pgt, iova, last);
}

void pgt_read_and_clear_dirty(struct ufd_pgtable *pgt, uint64_t iova,
			      uint64_t length, bool keep,
			      void (*fn)(void *arg, uint64_t iova,
					 uint64_t length),
			      void *arg)
{
	struct harvest h = { .keep = keep, .fn = fn, .arg = arg };

	h.seg = fn ? seg_runs : NULL;
	if (!fn) {
		/* Clear only. */
		uint64_t last;

		if (!keep && length &&
		    !__builtin_add_overflow(iova, length - 1, &last)) {
			pgt_dirty_clear(pgt, iova, last);
			clear_cut_superpages(pgt, iova, last);
		}
		return;
	}
	harvest_run(pgt, iova, length, &h);
	run_flush(&h);
}

void pgt_dirty_to_bitmap(struct ufd_pgtable *pgt, uint64_t iova,
			 uint64_t length, unsigned int page_shift, bool keep,
			 uint8_t *bitmap)
{
	struct harvest h = { .keep = keep, .bitmap = bitmap };

	h.shift = (int)page_shift - (int)pgt->granule_shift;
	h.seg = h.shift ? seg_scale : seg_copy;
	harvest_run(pgt, iova, length, &h);
}

struct maybe_arg {
	uint64_t g0, g1;
	bool any;
};

static void maybe_leaf(struct ufd_pgtable *pgt, struct pgt_dirty_leaf *d,
		       uint64_t idx, void *arg)
{
	struct maybe_arg *m = arg;
	uint64_t base = idx << PGT_DIRTY_SHIFT;
	uint64_t a = m->g0 > base ? m->g0 - base : 0;
	uint64_t b = m->g1 - base < LEAF_GRANULES ? m->g1 - base :
						   LEAF_GRANULES;

	(void)pgt;
	if (__atomic_load_n(&d->summary, __ATOMIC_RELAXED) &
	    bits_mask((unsigned int)(a / GROUP_BITS),
		      (unsigned int)((b - 1) / GROUP_BITS) + 1))
		m->any = true;
}

bool pgt_dirty_maybe(const struct ufd_pgtable *pgt, uint64_t iova,
		     uint64_t length)
{
	struct maybe_arg m = { 0 };
	uint64_t last;

	if (!pgt->dirty_root || !length ||
	    __builtin_add_overflow(iova, length - 1, &last))
		return false;
	m.g0 = iova >> pgt->granule_shift;
	m.g1 = (last >> pgt->granule_shift) + 1;
	/* The walk only reads; the cast lets it share the walker. */
	for_each_leaf((struct ufd_pgtable *)pgt, iova, last, maybe_leaf, &m);
	return m.any;
}

/* ---- checking ---- */

struct check_arg {
	uint64_t leaves;
	int bad;
};

static void check_leaf(struct ufd_pgtable *pgt, struct pgt_dirty_leaf *d,
		       uint64_t idx, void *arg)
{
	struct check_arg *c = arg;
	uint64_t g, base = idx << PGT_DIRTY_SHIFT;

	c->leaves++;
	if (!span_mapped(pgt, idx))
		c->bad = 1; /* a leaf for nothing mapped */
	for (g = 0; g != PGT_DIRTY_GROUP; g++) {
		uint64_t i, any = 0, all = ~0ULL;
		uint64_t inv = pgt_dirty_inv(d, g * PGT_DIRTY_GROUP);

		for (i = g * PGT_DIRTY_GROUP; i != (g + 1) * PGT_DIRTY_GROUP;
		     i++) {
			any |= d->w[i] ^ inv;
			all &= d->w[i] ^ inv;
		}
		if (any && !(d->summary & (1ULL << g)))
			c->bad = 1; /* bits the summary hides */
		if ((d->full & (1ULL << g)) && all != ~0ULL)
			c->bad = 1; /* full, but not all dirty */
	}
	for (g = 0; g < LEAF_GRANULES;) {
		uint64_t iova = (base + g) << pgt->granule_shift, n, i;
		uint64_t x = d->w[g / 64] ^ pgt_dirty_inv(d, g / 64);
		unsigned int level;

		if (!x) {
			g = (g / 64 + 1) * 64;
			continue;
		}
		if (!(x & (1ULL << (g % 64)))) {
			g++;
			continue;
		}
		if (!pgt_leaf(pgt, iova, &level)) {
			c->bad = 1; /* dirty but not mapped */
			return;
		}
		if (!level) {
			g++;
			continue;
		}
		/* A superpage: all of its bits in this leaf are set. */
		n = pgt_level_size(pgt, level) >> pgt->granule_shift;
		i = (base + g) & ~(n - 1);
		if (i < base)
			i = base;
		if (i != base + g) {
			c->bad = 1; /* its first bits are clear */
			return;
		}
		for (i = g; i < g + n && i < LEAF_GRANULES; i += 64)
			if ((d->w[i / 64] ^ pgt_dirty_inv(d, i / 64)) !=
			    ~0ULL) {
				c->bad = 1;
				return;
			}
		g += n;
	}
}

/* Every mapped span at levels >= 2 has its dirty leaf. */
static int check_spans(const struct ufd_pgtable *pgt, const uint64_t *t,
		       unsigned int level, uint64_t base)
{
	unsigned int i;

	for (i = 0; i != PGT_ENTRIES; i++) {
		uint64_t e = t[i];
		uint64_t iova = base + ((uint64_t)i << (pgt->granule_shift +
							PGT_LEVEL_BITS *
								level));
		uint64_t n, k;

		if (!(e & PGT_VALID))
			continue;
		if (level > 2 && !(e & PGT_LEAF)) {
			if (check_spans(pgt, (const uint64_t *)(uintptr_t)(
						     e & ~(UFD_PAGE_SIZE - 1)),
					level - 1, iova))
				return -1;
			continue;
		}
		n = 1ULL << (PGT_LEVEL_BITS * (level - 2));
		for (k = 0; k != n; k++)
			if (!pgt_dirty_leaf_of(
				    pgt, iova + (k << (pgt->granule_shift +
						       PGT_DIRTY_SHIFT))))
				return -1;
	}
	return 0;
}

static uint64_t count_dirs(const void *n, unsigned int l, int *bad)
{
	const struct dirty_dir *dir = n;
	unsigned int i, used = 0;
	uint64_t dirs = 1;

	if (!n || !l)
		return 0;
	for (i = 0; i != PGT_ENTRIES; i++) {
		if (!dir->slot[i])
			continue;
		used++;
		dirs += count_dirs(dir->slot[i], l - 1, bad);
	}
	if (used != dir->count || !used)
		*bad = 1;
	return dirs;
}

int pgt_dirty_check(const struct ufd_pgtable *pgt)
{
	struct check_arg c = { 0 };
	int bad = 0;

	if (!pgt->dirty_capable)
		return pgt->dirty_root ? -1 : 0;
	if (count_dirs(pgt->dirty_root, pgt->dirty_levels, &bad) !=
		    pgt->nr_dirty_dirs ||
	    bad)
		return -1;
	if (pgt->dirty_root)
		for_each_leaf((struct ufd_pgtable *)pgt, 0, UINT64_MAX,
			      check_leaf, &c);
	if (c.bad || c.leaves != pgt->nr_dirty_leaves)
		return -1;
	if (pgt->levels <= 2)
		return (pgt_root_entries(pgt) != 0) ==
				       (pgt->dirty_root != NULL) ?
			       0 :
			       -1;
	return check_spans(pgt, pgt->root, pgt->levels - 1, 0);
}
