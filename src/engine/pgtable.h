/* SPDX-License-Identifier: MIT */
/*
 * Software IO page tables: a radix tree of 512-entry tables, like the
 * io-pgtable formats of real IOMMUs.  A leaf at level L maps
 * granule << (9 * L) bytes; level 0 is the granule (4 KiB, or 2 KiB for the
 * selftest's mock IOMMU).  Larger leaves (superpages) are used wherever the
 * IOVA, the host address and the length are aligned to a size the table's
 * pgsize_bitmap allows.  Each leaf entry holds a host address of the
 * engine's process plus permission, dirty and accessed bits; each table
 * entry holds a pointer to the next table.
 *
 * Intervals: [iova, iova + length); callers pass granule-aligned values.
 * Locking: none; the owner (the engine lock) serialises changes.  A walk
 * only reads entries, so a reader that holds the engine lock, or that knows
 * the range cannot change under it, walks without more.
 */
#ifndef UFD_PGTABLE_H
#define UFD_PGTABLE_H

#include <stdbool.h>
#include <stdint.h>

#define PGT_ENTRIES 512
#define PGT_LEVEL_BITS 9
#define PGT_MAX_LEVELS 6

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

struct ufd_pgtable {
	unsigned int granule_shift;
	unsigned int levels;      /* root is level levels - 1 */
	uint64_t pgsize_bitmap;   /* leaf sizes allowed */
	uint64_t last_iova;       /* highest IOVA the table reaches */
	uint64_t *root;
	uint64_t root_count;      /* valid entries of the root (see .c) */
	uint64_t nr_tables;
	uint64_t nr_leaves[PGT_MAX_LEVELS]; /* leaves per level: sizes used */
};

/*
 * A table for IOVAs up to @last_iova with leaves of the sizes in
 * @pgsize_bitmap (the smallest is the granule).  -EINVAL, -ENOMEM.
 */
int pgt_init(struct ufd_pgtable *pgt, uint64_t pgsize_bitmap,
	     uint64_t last_iova);
/* Free every table; the mappings are simply forgotten. */
void pgt_destroy(struct ufd_pgtable *pgt);

/*
 * Map [iova, iova + length) to host [host, host + length) with @prot
 * (PGT_READ | PGT_WRITE), using leaves no larger than @max_pgsize.
 * All-or-nothing: -ENOMEM, -EEXIST (something already mapped there) and
 * -EINVAL (misaligned, out of reach) leave the table unchanged.
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

/* Set the dirty bit of the leaf mapping @iova.  1 if there is one, else 0. */
int pgt_mark_dirty(struct ufd_pgtable *pgt, uint64_t iova);

/*
 * Report each dirty leaf intersecting [iova, iova + length) to @fn as the
 * part of the leaf inside the range, clearing the bit unless @keep.  The
 * walk visits only tables that exist: its cost follows what is mapped,
 * not the span.  @fn may be NULL (clear only).
 */
void pgt_read_and_clear_dirty(struct ufd_pgtable *pgt, uint64_t iova,
			      uint64_t length, bool keep,
			      void (*fn)(void *arg, uint64_t iova,
					 uint64_t length),
			      void *arg);

/* The size of a leaf at @level. */
static inline uint64_t pgt_level_size(const struct ufd_pgtable *pgt,
				      unsigned int level)
{
	return 1ULL << (pgt->granule_shift + PGT_LEVEL_BITS * level);
}

/* Structural check for tests: leaf counts match, no empty tables. */
int pgt_check(const struct ufd_pgtable *pgt);

#endif
