/* SPDX-License-Identifier: MIT */
/*
 * Software IO page tables: a radix tree of 512-entry tables, like the
 * io-pgtable formats of real IOMMUs.  A leaf at level L maps
 * granule << (9 * L) bytes; level 0 is the granule (4 KiB, or 2 KiB for the
 * selftest's mock IOMMU).  Larger leaves (superpages) are used wherever the
 * IOVA, the host address and the length are aligned to a size the table's
 * pgsize_bitmap allows.  Each leaf entry holds a host address of the
 * engine's process plus permission, dirty and accessed bits; each table
 * entry holds the next table's address and PGT_VALID, nothing else (a walk
 * follows it without a mask; the tables' own counts live apart).
 *
 * A table made dirty-capable (pgt_dirty_enable) also keeps the dirty state
 * of its mappings apart from the entries: dense bitmaps, one bit per
 * granule, in "dirty leaves" of 2^18 granules (32 KiB of bits: 1 GiB at
 * 4 KiB) found through a small radix of 512-slot directories that mirrors
 * the table's levels above level 2.  A dirty leaf exists for each 2^18-
 * granule span that has a mapping (made at map time, so marking dirty
 * never allocates; freed when unmap empties the span).  Each dirty leaf
 * has a summary word: bit j set if group j (words [64j, 64j + 64)) may
 * hold a dirty bit, so a harvest skips clean 16 MiB (at 4 KiB) groups
 * without reading them; a full word: bit j set if every bit of group j is
 * dirty (set by the marker that completes the group), so a harvest
 * reports such a group without reading it; and a flip word: bit j set if
 * group j's words are kept inverted (a set bit in memory is a clean
 * granule).  A harvest clears a full group by flipping it, touching none
 * of its 512 bytes, which a harvest after much DMA would find in memory,
 * not in cache; a marker of a flipped group clears its bit.
 * Invariants (pgt_check): bits are set only for mapped granules, and the
 * bits of one leaf entry are all equal (a superpage is dirty as a whole).
 * The PGT_DIRTY bit of an entry is not used; pgt_translate reports it from
 * the bitmap.
 *
 * Intervals: [iova, iova + length); callers pass granule-aligned values.
 * Locking: none; the owner (the engine lock) serialises changes.  A walk
 * only reads entries, so a reader that holds the engine lock, or that knows
 * the range cannot change under it, walks without more.  Two changes may
 * be made while lock-free walkers run, as they only add translations:
 * pgt_map() (a new table is published whole, every entry with one atomic
 * release store, and a failed map has published nothing) and
 * pgt_split_commit() (below: it swaps a leaf for a table that maps the
 * same, with one atomic store).  Walks read each entry once with acquire
 * (pgt_leaf_pte).  Everything that takes a translation away (unmap,
 * destroy) must exclude walkers.
 */
#ifndef UFD_PGTABLE_H
#define UFD_PGTABLE_H

#include <stdbool.h>
#include <stdint.h>

#define PGT_ENTRIES 512
#define PGT_LEVEL_BITS 9
#define PGT_MAX_LEVELS 6
/* Freed tables a table keeps for itself (16 KiB). */
#define PGT_STASH 4

/* Entry bits; addresses are granule aligned, so the low bits are free. */
#define PGT_VALID (1ULL << 0)
#define PGT_LEAF (1ULL << 1)
#define PGT_READ (1ULL << 2)
#define PGT_WRITE (1ULL << 3)
#define PGT_DIRTY (1ULL << 4)
#define PGT_ACCESSED (1ULL << 5)
/* The host address is not directly reachable: DMA through it faults. */
#define PGT_INDIRECT (1ULL << 6)
#define PGT_FLAGS_MASK 0x7fULL

/* Granules per dirty leaf, 64-bit words per dirty leaf, words per group. */
#define PGT_DIRTY_SHIFT 18
#define PGT_DIRTY_WORDS (1u << (PGT_DIRTY_SHIFT - 6))
#define PGT_DIRTY_GROUP 64

/*
 * The words are cache-line aligned (the leaf is allocated so): a harvest
 * moves them with 32-byte vectors, and an access that straddles two lines
 * costs about twice one that does not.
 */
struct pgt_dirty_leaf {
	uint64_t summary; /* bit j: group j may have a dirty granule */
	uint64_t full;    /* bit j: every granule of group j is dirty */
	uint64_t flip;    /* bit j: group j's words are stored inverted */
	_Alignas(64) uint64_t w[PGT_DIRTY_WORDS];
};

/* What word @i of @d is XORed with in memory: 0, or ~0 if its group is
 * flipped. */
static inline uint64_t pgt_dirty_inv(const struct pgt_dirty_leaf *d,
				     uint64_t i)
{
	return -((__atomic_load_n(&d->flip, __ATOMIC_RELAXED) >>
		  (i / PGT_DIRTY_GROUP)) &
		 1);
}

struct ufd_pgtable {
	unsigned int granule_shift;
	unsigned int levels;      /* root is level levels - 1 */
	uint64_t pgsize_bitmap;   /* leaf sizes allowed */
	uint64_t last_iova;       /* highest IOVA the table reaches */
	uint64_t *root;
	uint64_t nr_tables;
	uint64_t nr_leaves[PGT_MAX_LEVELS]; /* leaves per level: sizes used */
	/* Freed tables kept for the next allocation, and the ones a map
	 * reserved (see pgtable.c). */
	uint64_t *stash, *resv;
	unsigned int nr_stash;
	/* Dirty bitmaps (see above); dirty_root is NULL until a mapping. */
	bool dirty_capable;
	unsigned int dirty_levels;          /* directory levels above leaves */
	void *dirty_root;                   /* a directory, or the leaf */
	uint64_t nr_dirty_leaves, nr_dirty_dirs;
};

/*
 * A table for IOVAs up to @last_iova with leaves of the sizes in
 * @pgsize_bitmap (the smallest is the granule).  -EINVAL, -ENOMEM.
 */
int pgt_init(struct ufd_pgtable *pgt, uint64_t pgsize_bitmap,
	     uint64_t last_iova);
/* Free every table; the mappings are simply forgotten. */
void pgt_destroy(struct ufd_pgtable *pgt);

/* The valid entries of the root: 0 if nothing is mapped. */
unsigned int pgt_root_entries(const struct ufd_pgtable *pgt);

/*
 * Map [iova, iova + length) to host [host, host + length) with @prot
 * (PGT_READ | PGT_WRITE), using leaves no larger than @max_pgsize.
 * All-or-nothing: -ENOMEM, -EEXIST (something already mapped there) and
 * -EINVAL (misaligned, out of reach) leave the table unchanged, and
 * nothing was visible to a walker meanwhile (see Locking above).
 */
int pgt_map(struct ufd_pgtable *pgt, uint64_t iova, uint64_t host,
	    uint64_t length, uint64_t prot, uint64_t max_pgsize);
/*
 * Unmap every leaf that starts inside [iova, iova + length); returns the
 * bytes those leaves covered.  Tables left empty are freed.
 */
uint64_t pgt_unmap(struct ufd_pgtable *pgt, uint64_t iova, uint64_t length);

/*
 * Translate @iova: *host (the byte @iova maps to), *leaf_size and the
 * leaf's flags.  -ENOENT if nothing is mapped.  O(levels).
 */
int pgt_translate(const struct ufd_pgtable *pgt, uint64_t iova,
		  uint64_t *host, uint64_t *leaf_size, uint64_t *flags);

/* The leaf entry that maps @iova, and its level; NULL if none. */
uint64_t *pgt_leaf(const struct ufd_pgtable *pgt, uint64_t iova,
		   unsigned int *level);

/* The same, with the entry's value as read once (*pte): for walks that
 * run beside pgt_split_commit() (the DMA path). */
uint64_t *pgt_leaf_pte(const struct ufd_pgtable *pgt, uint64_t iova,
		       unsigned int *level, uint64_t *pte);

/*
 * Splitting superpages in place, so that no leaf straddles any of @cuts
 * (granule-aligned IOVAs) and every translation stays as it was.  Two
 * steps, so that a caller with several tables can fail before changing
 * any of them:
 *
 *   pgt_split_prepare  builds, for each leaf a cut falls strictly inside,
 *                      the table (or tables) that replace it, fully
 *                      populated with the same translations, the same
 *                      permission bits, using the largest leaf sizes the
 *                      table allows that no cut straddles; nothing the
 *                      table's walkers can see changes.  -ENOMEM (all
 *                      freed), -EINVAL (more than @max leaves to split).
 *   pgt_split_commit   publishes each with one atomic store replacing
 *                      the leaf: a walker without the engine lock (the
 *                      DMA path) sees either the superpage or the whole
 *                      new table, a valid translation either way.
 *                      Cannot fail.
 *   pgt_split_abort    frees what prepare built, instead of commit.
 *
 * Dirty bits need no change: the bits of a superpage are all equal, so
 * are those of each part.  Prepare and commit run under the owner's lock
 * (changes are serialised), not in a DMA write section.
 */
struct pgt_split {
	uint64_t *entry;     /* the leaf entry replaced */
	uint64_t old;        /* its value */
	unsigned int level;  /* its level */
	uint64_t *table;     /* the replacement, built, not yet published */
	uint64_t leaves[PGT_MAX_LEVELS]; /* leaves it holds, per level */
};

int pgt_split_prepare(struct ufd_pgtable *pgt, const uint64_t *cuts,
		      unsigned int ncuts, struct pgt_split *out,
		      unsigned int max, unsigned int *nout);
void pgt_split_commit(struct ufd_pgtable *pgt, struct pgt_split *sp,
		      unsigned int n);
void pgt_split_abort(struct ufd_pgtable *pgt, struct pgt_split *sp,
		     unsigned int n);

/*
 * Make an empty table keep dirty bitmaps (before its first map; cannot
 * fail: the bitmaps are allocated by pgt_map, which can).
 */
void pgt_dirty_enable(struct ufd_pgtable *pgt);

/* Mark the leaf mapping @iova dirty (as a whole).  1 if there is one. */
int pgt_mark_dirty(struct ufd_pgtable *pgt, uint64_t iova);

/*
 * Concurrency: marking (pgt_dirty_write, pgt_mark_dirty) is atomic and may
 * run concurrently with other markers; everything else that touches the
 * bits (harvest, clear, unmap) must exclude markers (the engine runs it
 * under its lock in a DMA write section).  A map only adds bitmaps, for
 * spans nothing maps yet (no marker reaches them before the map's entries
 * do), so it may run beside markers.  pgt_dirty_maybe may run concurrently
 * with markers.
 */

/*
 * Report the dirty granules of [iova, iova + length) to @fn as runs of
 * IOVA (a run covers every dirty leaf inside the range it meets, clipped
 * to the range), clearing them unless @keep; a superpage that the range
 * cuts is cleared as a whole.  Cost follows the dirty groups of the
 * mapped spans.  @fn may be NULL (clear only).
 */
void pgt_read_and_clear_dirty(struct ufd_pgtable *pgt, uint64_t iova,
			      uint64_t length, bool keep,
			      void (*fn)(void *arg, uint64_t iova,
					 uint64_t length),
			      void *arg);

/*
 * The same into @bitmap, ORed: bit i (byte i / 8, bit i % 8; any byte
 * alignment) stands for [iova + (i << page_shift), + (1 << page_shift)),
 * set if any granule of it that lies in [iova, iova + length) is dirty.
 * @iova is aligned to 1 << page_shift; @length need not be.
 */
void pgt_dirty_to_bitmap(struct ufd_pgtable *pgt, uint64_t iova,
			 uint64_t length, unsigned int page_shift, bool keep,
			 uint8_t *bitmap);

/* False if nothing in [iova, iova + length) is dirty (a cheap look). */
bool pgt_dirty_maybe(const struct ufd_pgtable *pgt, uint64_t iova,
		     uint64_t length);

/* Clear every dirty bit. */
void pgt_dirty_clear_all(struct ufd_pgtable *pgt);

/* Whether the granule at @iova is dirty. */
bool pgt_dirty_test(const struct ufd_pgtable *pgt, uint64_t iova);

/* The dirty leaf covering @iova, or NULL.  Lock-free for markers. */
static inline struct pgt_dirty_leaf *
pgt_dirty_leaf_of(const struct ufd_pgtable *pgt, uint64_t iova)
{
	void *n = pgt->dirty_root;
	unsigned int l;

	for (l = pgt->dirty_levels; l && n; l--)
		n = ((void *const *)n)[(iova >> (pgt->granule_shift +
						  PGT_LEVEL_BITS * (l + 1))) &
				       (PGT_ENTRIES - 1)];
	return n;
}

void pgt_dirty_write_slow(const struct ufd_pgtable *pgt, uint64_t iova,
			  unsigned int level);
/* Word @i of @d was just written all dirty: flag its group if it is full
 * (pgt_dirty.c). */
void pgt_dirty_word_full(struct pgt_dirty_leaf *d, uint64_t i);

/*
 * A DMA write through the leaf at @level that maps @iova: mark it dirty.
 * The cost when the leaf is dirty already: one bitmap lookup and two
 * loads (the word, and the flip word in the leaf's first line).
 */
static inline void pgt_dirty_write(const struct ufd_pgtable *pgt,
				   uint64_t iova, unsigned int level)
{
	struct pgt_dirty_leaf *d;
	uint64_t g, bit, inv, old;

	if (level) {
		pgt_dirty_write_slow(pgt, iova, level);
		return;
	}
	d = pgt_dirty_leaf_of(pgt, iova);
	if (!d)
		return;
	g = (iova >> pgt->granule_shift) & ((1u << PGT_DIRTY_SHIFT) - 1);
	bit = 1ULL << (g % 64);
	inv = pgt_dirty_inv(d, g / 64);
	if ((__atomic_load_n(&d->w[g / 64], __ATOMIC_RELAXED) ^ inv) & bit)
		return;
	if (inv)
		old = ~__atomic_fetch_and(&d->w[g / 64], ~bit,
					  __ATOMIC_RELAXED);
	else
		old = __atomic_fetch_or(&d->w[g / 64], bit, __ATOMIC_RELAXED);
	bit = 1ULL << (g / 64 / PGT_DIRTY_GROUP);
	if (!(__atomic_load_n(&d->summary, __ATOMIC_RELAXED) & bit))
		__atomic_fetch_or(&d->summary, bit, __ATOMIC_RELAXED);
	if ((old | (1ULL << (g % 64))) == ~0ULL)
		pgt_dirty_word_full(d, g / 64); /* once per 64 marks */
}

/* Internal to pgtable.c and pgt_dirty.c: the dirty leaves' lifetime. */
int pgt_dirty_prepare(struct ufd_pgtable *pgt, uint64_t iova, uint64_t last);
void pgt_dirty_prune(struct ufd_pgtable *pgt, uint64_t iova, uint64_t last);
void pgt_dirty_clear(struct ufd_pgtable *pgt, uint64_t iova, uint64_t last);
void pgt_dirty_destroy(struct ufd_pgtable *pgt);
int pgt_dirty_check(const struct ufd_pgtable *pgt);

/* The size of a leaf at @level. */
static inline uint64_t pgt_level_size(const struct ufd_pgtable *pgt,
				      unsigned int level)
{
	return 1ULL << (pgt->granule_shift + PGT_LEVEL_BITS * level);
}

/*
 * Structural check for tests: leaf counts match, no empty tables; the
 * dirty state as described above.
 */
int pgt_check(const struct ufd_pgtable *pgt);

#endif
