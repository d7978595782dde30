/* SPDX-License-Identifier: MIT */
/*
 * Radix IO page tables; see pgtable.h for the format.  Tables are 4 KiB
 * (512 entries of 8 bytes), allocated page aligned, so an entry's pointer
 * bits are clean.  A table is freed when an unmap leaves it empty, so the
 * tree always holds exactly the tables its mappings need.
 *
 * Map descends once per run of same-sized leaves within one table and
 * then fills consecutive entries, so mapping N pages costs about N entry
 * writes plus one descent per table, not N descents.  It walks twice (see
 * map_walk): a dry walk finds what is in the way and counts the tables to
 * make, which are then reserved, so the walk that writes cannot fail and
 * a failed map never showed a walker anything.  Unmap descends to the
 * lowest table whose one entry holds the whole range, unmaps below it and
 * frees the tables it left empty on the way back up.
 *
 * Intervals are half-open [iova, iova + length) here (see pgtable.h).
 * No locking of its own.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/mman.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"
#include "engine/pgtable.h"

static inline unsigned int level_shift(const struct ufd_pgtable *pgt,
				       unsigned int level)
{
	return pgt->granule_shift + PGT_LEVEL_BITS * level;
}

static inline unsigned int pte_index(const struct ufd_pgtable *pgt,
				     uint64_t iova, unsigned int level)
{
	return (iova >> level_shift(pgt, level)) & (PGT_ENTRIES - 1);
}

static inline uint64_t *pte_table(uint64_t pte)
{
	return (uint64_t *)(uintptr_t)(pte & ~(UFD_PAGE_SIZE - 1));
}

static inline uint64_t pte_addr(const struct ufd_pgtable *pgt, uint64_t pte)
{
	return pte & ~((1ULL << pgt->granule_shift) - 1);
}

/*
 * Tables come from a process-wide pool of 2 MiB chunks, aligned to their
 * size: exactly 4 KiB per table (aligned_alloc would spend about 8), and
 * a table goes back to the pool empty, so it is reused without zeroing.
 * The free list is linked through the first word of each free table.
 * Each table keeps a few freed tables of its own first (pgt->stash,
 * PGT_STASH of them, linked the same way, under the owner's lock like the
 * rest), so a map after an unmap takes them back without the pool's lock.
 *
 * Every table knows how many valid entries it has, so an unmap sees in
 * O(1) that it left a table empty.  The counts live apart from the
 * entries, so that an entry that points at a table is the table's address
 * and PGT_VALID, nothing else, and a walk follows it without a mask: the
 * first page of each chunk holds the counts of the chunk's other 511
 * tables (table_count).  Walkers never read a count.
 */
#define POOL_CHUNK (2ULL << 20)

static inline uint16_t *table_count(const uint64_t *t)
{
	uintptr_t a = (uintptr_t)t;

	return (uint16_t *)(a & ~(uintptr_t)(POOL_CHUNK - 1)) +
	       (a & (POOL_CHUNK - 1)) / UFD_PAGE_SIZE;
}
_Static_assert(POOL_CHUNK / UFD_PAGE_SIZE * sizeof(uint16_t) <= UFD_PAGE_SIZE &&
		       PGT_ENTRIES <= UINT16_MAX,
	       "a chunk's counts fit its first page");

/*
 * A new chunk, aligned to its size and marked for a transparent huge page
 * (a hint; without one the chunk is 512 small pages): a walk over many
 * tables then misses the TLB once per 2 MiB of tables, not once per
 * table.  Every page of a chunk is written when it is carved (the free
 * list), so a huge page costs no more memory.  NULL if out of memory.
 */
static char *pool_chunk_map(void)
{
	char *res = mmap(NULL, 2 * POOL_CHUNK, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *chunk;

	if (res == MAP_FAILED)
		return NULL;
	chunk = (char *)(((uintptr_t)res + POOL_CHUNK - 1) &
			 ~(uintptr_t)(POOL_CHUNK - 1));
	if (chunk > res)
		munmap(res, (size_t)(chunk - res));
	munmap(chunk + POOL_CHUNK,
	       (size_t)(res + 2 * POOL_CHUNK - (chunk + POOL_CHUNK)));
#ifdef MADV_HUGEPAGE
	(void)madvise(chunk, POOL_CHUNK, MADV_HUGEPAGE);
#endif
	return chunk;
}

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t *pool_free;

/* Push @t on the list at @head, linked through its first word. */
static inline void list_push(uint64_t **head, uint64_t *t)
{
	*t = (uint64_t)(uintptr_t)*head;
	*head = t;
}

/* Pop the list at @head (not empty): the table, its link word zeroed. */
static inline uint64_t *list_pop(uint64_t **head)
{
	uint64_t *t = *head;

	*head = (uint64_t *)(uintptr_t)*t;
	t[0] = 0;
	return t;
}

/* A free table of the pool, or NULL if out of memory. */
static uint64_t *pool_take(void)
{
	uint64_t *t = NULL;

	pthread_mutex_lock(&pool_lock);
	if (!pool_free) {
		char *chunk = pool_chunk_map();
		uint64_t off;

		/* Every page but the first (the counts). */
		for (off = POOL_CHUNK; chunk && off != UFD_PAGE_SIZE;
		     off -= UFD_PAGE_SIZE)
			list_push(&pool_free,
				  (uint64_t *)(chunk + off - UFD_PAGE_SIZE));
	}
	if (pool_free)
		t = list_pop(&pool_free);
	pthread_mutex_unlock(&pool_lock);
	return t;
}

/* @t (all zero but its first word) back to the pool. */
static void pool_put(uint64_t *t)
{
	pthread_mutex_lock(&pool_lock);
	list_push(&pool_free, t);
	pthread_mutex_unlock(&pool_lock);
}

static uint64_t *table_alloc(struct ufd_pgtable *pgt)
{
	uint64_t *t;

	if (ufd_inject_fail())
		return NULL;
	if (pgt->stash) {
		t = list_pop(&pgt->stash);
		pgt->nr_stash--;
	} else {
		t = pool_take();
		if (!t)
			return NULL;
	}
	*table_count(t) = 0;
	pgt->nr_tables++;
	return t;
}

/* @t must be all zero. */
static void table_free(struct ufd_pgtable *pgt, uint64_t *t)
{
	pgt->nr_tables--;
	if (pgt->nr_stash < PGT_STASH) {
		list_push(&pgt->stash, t);
		pgt->nr_stash++;
		return;
	}
	pool_put(t);
}

/* @n tables into pgt->resv for a map (map_walk); all or none. */
static int table_reserve(struct ufd_pgtable *pgt, uint64_t n)
{
	while (n--) {
		uint64_t *t = table_alloc(pgt);

		if (!t) {
			while (pgt->resv)
				table_free(pgt, list_pop(&pgt->resv));
			return -ENOMEM;
		}
		list_push(&pgt->resv, t);
	}
	return 0;
}

/* A table table_reserve() set aside (counted already); cannot fail. */
static uint64_t *table_take(struct ufd_pgtable *pgt)
{
	if (!pgt->resv) {
		fprintf(stderr, "uiommufd: pgt_map took more tables than "
				"it reserved\n");
		abort();
	}
	return list_pop(&pgt->resv);
}

/* The stash back to the pool. */
static void stash_drain(struct ufd_pgtable *pgt)
{
	while (pgt->stash)
		pool_put(list_pop(&pgt->stash));
	pgt->nr_stash = 0;
}

int pgt_init(struct ufd_pgtable *pgt, uint64_t pgsize_bitmap,
	     uint64_t last_iova)
{
	unsigned int bits, granule_shift;

	memset(pgt, 0, sizeof(*pgt));
	if (!pgsize_bitmap)
		return -EINVAL;
	granule_shift = __builtin_ctzll(pgsize_bitmap);
	if (granule_shift < 11 || granule_shift > 16)
		return -EINVAL;
	bits = last_iova ? 64 - __builtin_clzll(last_iova) : 1;
	pgt->granule_shift = granule_shift;
	pgt->levels = bits <= granule_shift ?
			      1 :
			      (bits - granule_shift + PGT_LEVEL_BITS - 1) /
				      PGT_LEVEL_BITS;
	if (pgt->levels > PGT_MAX_LEVELS)
		return -EINVAL;
	pgt->last_iova = last_iova;
	/* Keep only sizes that are leaf sizes of some level. */
	pgt->pgsize_bitmap = 0;
	for (bits = 0; bits != pgt->levels; bits++) {
		uint64_t size = 1ULL << level_shift(pgt, bits);

		if (pgsize_bitmap & size)
			pgt->pgsize_bitmap |= size;
	}
	pgt->root = table_alloc(pgt);
	return pgt->root ? 0 : -ENOMEM;
}

static void free_tables(struct ufd_pgtable *pgt, uint64_t *t,
			unsigned int level)
{
	unsigned int i;

	for (i = 0; i != PGT_ENTRIES; i++) {
		if (level && (t[i] & PGT_VALID) && !(t[i] & PGT_LEAF))
			free_tables(pgt, pte_table(t[i]), level - 1);
		t[i] = 0;
	}
	table_free(pgt, t);
}

void pgt_destroy(struct ufd_pgtable *pgt)
{
	pgt_dirty_destroy(pgt);
	if (pgt->root)
		free_tables(pgt, pgt->root, pgt->levels - 1);
	pgt->root = NULL;
	stash_drain(pgt);
}

unsigned int pgt_root_entries(const struct ufd_pgtable *pgt)
{
	return pgt->root ? *table_count(pgt->root) : 0;
}

/* The largest level whose leaf fits @addr's alignment and @left bytes. */
static inline unsigned int pick_level(const struct ufd_pgtable *pgt, uint64_t addr,
			       uint64_t left, uint64_t sizes)
{
	unsigned int top = 63 - __builtin_clzll(left);
	uint64_t fit = sizes & (top == 63 ? ~0ULL : (2ULL << top) - 1);

	/* Sizes allowed, no larger than @left, dividing @addr. */
	if (addr)
		fit &= (addr & -addr) | ((addr & -addr) - 1);
	if (!fit)
		return 0;
	return (63 - __builtin_clzll(fit) - pgt->granule_shift) /
	       PGT_LEVEL_BITS;
}

/* The extent of the leaves an unmap removed: [first, last]. */
struct removed {
	uint64_t first, last;
};

static uint64_t unmap_range(struct ufd_pgtable *pgt, uint64_t *t,
			    unsigned int level, uint64_t base, uint64_t start,
			    uint64_t last, struct removed *rm)
{
	uint16_t *count = table_count(t);
	unsigned int shift = level_shift(pgt, level);
	uint64_t size = 1ULL << shift;
	unsigned int i = (start - base) >> shift;
	unsigned int end = (last - base) >> shift;
	uint64_t bytes = 0;

	for (; i <= end && *count; i++) {
		uint64_t entry_iova = base + ((uint64_t)i << shift);
		uint64_t pte = t[i];

		if (!(pte & PGT_VALID))
			continue;
		if (pte & PGT_LEAF) {
			if (entry_iova < start)
				continue; /* starts before the range */
			t[i] = 0;
			(*count)--;
			pgt->nr_leaves[level]--;
			bytes += size;
			if (entry_iova < rm->first)
				rm->first = entry_iova;
			if (entry_iova + size - 1 > rm->last)
				rm->last = entry_iova + size - 1;
			continue;
		}
		{
			uint64_t *child = pte_table(pte);
			uint64_t s = start > entry_iova ? start : entry_iova;
			uint64_t l = last < entry_iova + size - 1 ?
					     last :
					     entry_iova + size - 1;

			bytes += unmap_range(pgt, child, level - 1, entry_iova,
					     s, l, rm);
			if (!*table_count(child)) {
				t[i] = 0;
				(*count)--;
				table_free(pgt, child);
			}
		}
	}
	return bytes;
}

/*
 * unmap_range from the lowest table whose one entry holds all of
 * [start, last] (a small unmap: no recursion down the common part of the
 * path), then up the path, freeing the tables left empty.
 */
static uint64_t unmap_small(struct ufd_pgtable *pgt, uint64_t start,
			    uint64_t last, struct removed *rm)
{
	/* Each table on the way, and its entry in the table above. */
	struct {
		uint64_t *t, *entry;
	} path[PGT_MAX_LEVELS];
	uint64_t *t = pgt->root, *entry = NULL, base = 0, bytes;
	unsigned int level = pgt->levels - 1, depth = 0;

	while (level) {
		unsigned int shift = level_shift(pgt, level);
		unsigned int i = (start - base) >> shift;
		uint64_t e = t[i];

		if (((last - base) >> shift) != i)
			break; /* the range spans entries here */
		if (!(e & PGT_VALID))
			return 0; /* nothing mapped in it */
		if (e & PGT_LEAF)
			break;
		path[depth].t = t;
		path[depth].entry = entry;
		depth++;
		entry = &t[i];
		t = pte_table(e);
		base += (uint64_t)i << shift;
		level--;
	}
	{
		unsigned int shift = level_shift(pgt, level);
		unsigned int i = (start - base) >> shift;
		uint64_t e = t[i], at = base + ((uint64_t)i << shift);

		if (((last - base) >> shift) == i && (e & PGT_LEAF)) {
			/* One leaf (the common unmap of a page): itself. */
			if (at < start)
				return 0; /* it starts before the range */
			t[i] = 0;
			(*table_count(t))--;
			pgt->nr_leaves[level]--;
			bytes = 1ULL << shift;
			rm->first = at;
			rm->last = at + bytes - 1;
		} else {
			bytes = unmap_range(pgt, t, level, base, start, last,
					    rm);
		}
	}
	/* @t is a table below the root, pointed at by @entry of the table
	 * above: free it if left empty, and so on up. */
	while (depth && !*table_count(t)) {
		*entry = 0;
		table_free(pgt, t);
		depth--;
		t = path[depth].t;
		entry = path[depth].entry;
		(*table_count(t))--;
	}
	return bytes;
}

uint64_t pgt_unmap(struct ufd_pgtable *pgt, uint64_t iova, uint64_t length)
{
	struct removed rm = { UINT64_MAX, 0 };
	uint64_t last, bytes;

	if (!length || __builtin_add_overflow(iova, length - 1, &last))
		return 0;
	if (iova > pgt->last_iova)
		return 0;
	if (last > pgt->last_iova)
		last = pgt->last_iova;
	bytes = unmap_small(pgt, iova, last, &rm);
	/* What is unmapped is no longer dirty; spans left empty lose their
	 * bitmaps. */
	if (bytes && pgt->dirty_root) {
		pgt_dirty_clear(pgt, rm.first, rm.last);
		pgt_dirty_prune(pgt, iova, rm.last > last ? rm.last : last);
	}
	return bytes;
}

/*
 * The walk of a map, made twice.  First @dry: nothing changes; -EEXIST if
 * something is mapped in the range, else *need is the number of tables
 * the map will make.  A table the dry walk would make is not there to
 * look into, so everything under it is known empty; one such table per
 * level is remembered (the walk goes up in IOVA, so a later run under the
 * same one finds it again).  Then for real, with that many tables
 * reserved (pgt->resv): it cannot fail, and it publishes each table whole
 * (a reserved table is all zero) and each entry with one atomic store, so
 * a lock-free walker sees the mapping appear or not, never a part of a
 * table.
 */
static inline __attribute__((always_inline)) int
map_walk(struct ufd_pgtable *pgt, uint64_t iova, uint64_t host,
		    uint64_t length, uint64_t prot, uint64_t sizes, bool dry,
		    uint64_t *need)
{
	uint64_t vtag[PGT_MAX_LEVELS];
	bool vset[PGT_MAX_LEVELS] = { false };
	uint64_t done = 0;

	while (done < length) {
		uint64_t cur = iova + done;
		unsigned int level =
			pick_level(pgt, cur | (host + done), length - done,
				   sizes);
		uint64_t size = 1ULL << level_shift(pgt, level);
		uint64_t *t = pgt->root;
		bool virt = false; /* dry: t is a table still to be made */
		unsigned int l, i, n = 0;

		for (l = pgt->levels - 1; l > level; l--) {
			uint64_t tag = cur >> level_shift(pgt, l);
			uint64_t *e, v;

			if (!virt) {
				e = &t[pte_index(pgt, cur, l)];
				v = *e;
				if (v & PGT_VALID) {
					if (v & PGT_LEAF)
						return -EEXIST;
					t = pte_table(v);
					continue;
				}
				if (!dry) {
					uint64_t *child = table_take(pgt);

					__atomic_store_n(
						e,
						(uint64_t)(uintptr_t)child |
							PGT_VALID,
						__ATOMIC_RELEASE);
					(*table_count(t))++;
					t = child;
					continue;
				}
			}
			/* Dry: the table of level l - 1 for @tag is made. */
			virt = true;
			if (!vset[l - 1] || vtag[l - 1] != tag) {
				vset[l - 1] = true;
				vtag[l - 1] = tag;
				(*need)++;
			}
		}
		/* Fill this table while the same leaf size keeps fitting. */
		i = pte_index(pgt, cur, level);
		do {
			if (dry) {
				if (!virt && (t[i] & PGT_VALID))
					return -EEXIST;
			} else {
				__atomic_store_n(&t[i], (host + done) | prot,
						 __ATOMIC_RELEASE);
			}
			n++;
			done += size;
			i++;
		} while (i < PGT_ENTRIES && done < length &&
			 pick_level(pgt, (iova + done) | (host + done),
				    length - done, sizes) == level);
		if (!dry) {
			*table_count(t) += n;
			pgt->nr_leaves[level] += n;
		}
	}
	return 0;
}

/*
 * A map that is one leaf (@pte at @level, mapping @iova): one descent
 * finds what is missing (or in the way), then the tables below it are
 * reserved and published as map_walk would.
 */
static int map_one(struct ufd_pgtable *pgt, uint64_t iova, uint64_t pte,
		   unsigned int level)
{
	uint64_t *t = pgt->root, *e;
	unsigned int l;
	int rc;

	for (l = pgt->levels - 1; l > level; l--) {
		uint64_t v;

		e = &t[pte_index(pgt, iova, l)];
		v = *e;
		if (!(v & PGT_VALID))
			break;
		if (v & PGT_LEAF)
			return -EEXIST;
		t = pte_table(v);
	}
	if (l == level && (t[pte_index(pgt, iova, l)] & PGT_VALID))
		return -EEXIST;
	rc = table_reserve(pgt, l - level);
	if (rc)
		return rc;
	for (; l > level; l--) {
		uint64_t *child = table_take(pgt);

		e = &t[pte_index(pgt, iova, l)];
		__atomic_store_n(e, (uint64_t)(uintptr_t)child | PGT_VALID,
				 __ATOMIC_RELEASE);
		(*table_count(t))++;
		t = child;
	}
	__atomic_store_n(&t[pte_index(pgt, iova, level)], pte, __ATOMIC_RELEASE);
	(*table_count(t))++;
	pgt->nr_leaves[level]++;
	return 0;
}

int pgt_map(struct ufd_pgtable *pgt, uint64_t iova, uint64_t host,
	    uint64_t length, uint64_t prot, uint64_t max_pgsize)
{
	uint64_t granule_mask = (1ULL << pgt->granule_shift) - 1;
	uint64_t sizes = pgt->pgsize_bitmap;
	uint64_t last, need = 0;
	unsigned int level;
	int rc;

	if (!length || ((iova | host | length) & granule_mask))
		return -EINVAL;
	if (__builtin_add_overflow(iova, length - 1, &last) ||
	    last > pgt->last_iova)
		return -EINVAL;
	if (max_pgsize)
		sizes &= (max_pgsize << 1) - 1;
	sizes |= 1ULL << pgt->granule_shift;
	prot = (prot & (PGT_READ | PGT_WRITE | PGT_INDIRECT)) | PGT_VALID |
	       PGT_LEAF;
	/* The dirty bitmaps first: marking a mapping dirty never allocates.
	 * New ones are for spans nothing maps yet: no marker reaches them. */
	rc = pgt_dirty_prepare(pgt, iova, last);
	if (rc)
		goto err;
	level = pick_level(pgt, iova | host, length, sizes);
	if (length == 1ULL << level_shift(pgt, level)) {
		/* One leaf: the common map of a page. */
		rc = map_one(pgt, iova, host | prot, level);
		if (rc)
			goto err;
		return 0;
	}
	rc = map_walk(pgt, iova, host, length, prot, sizes, true, &need);
	if (!rc)
		rc = table_reserve(pgt, need);
	if (rc)
		goto err;
	map_walk(pgt, iova, host, length, prot, sizes, false, NULL);
	return 0;
err:
	if (pgt->dirty_capable)
		pgt_dirty_prune(pgt, iova, last);
	return rc;
}

/*
 * The leaf mapping @iova, its level and the value read (*pte).  A walk
 * may run without the engine lock beside pgt_split_commit(), which swaps
 * a leaf for a table: each entry is read once, with acquire (a table
 * published this way is seen whole), and callers use *pte, never a
 * second read of the entry (it may have become a table since).
 */
static uint64_t *leaf_of(const struct ufd_pgtable *pgt, uint64_t iova,
			 unsigned int *level, uint64_t *pte)
{
	uint64_t *t = pgt->root;
	unsigned int l;

	if (iova > pgt->last_iova)
		return NULL;
	for (l = pgt->levels - 1;; l--) {
		uint64_t *e = &t[pte_index(pgt, iova, l)];
		uint64_t v = __atomic_load_n(e, __ATOMIC_ACQUIRE);

		if (!(v & PGT_VALID))
			return NULL;
		if (v & PGT_LEAF) {
			*level = l;
			*pte = v;
			return e;
		}
		if (!l)
			return NULL;
		t = pte_table(v);
	}
}

uint64_t *pgt_leaf(const struct ufd_pgtable *pgt, uint64_t iova,
		   unsigned int *level)
{
	uint64_t pte;

	return leaf_of(pgt, iova, level, &pte);
}

uint64_t *pgt_leaf_pte(const struct ufd_pgtable *pgt, uint64_t iova,
		       unsigned int *level, uint64_t *pte)
{
	return leaf_of(pgt, iova, level, pte);
}

int pgt_translate(const struct ufd_pgtable *pgt, uint64_t iova,
		  uint64_t *host, uint64_t *leaf_size, uint64_t *flags)
{
	unsigned int level;
	uint64_t pte, size;

	if (!leaf_of(pgt, iova, &level, &pte))
		return -ENOENT;
	size = 1ULL << level_shift(pgt, level);
	*host = pte_addr(pgt, pte) + (iova & (size - 1));
	if (leaf_size)
		*leaf_size = size;
	if (flags) {
		*flags = pte & PGT_FLAGS_MASK & ~PGT_DIRTY;
		if (pgt_dirty_test(pgt, iova))
			*flags |= PGT_DIRTY;
	}
	return 0;
}

int pgt_mark_dirty(struct ufd_pgtable *pgt, uint64_t iova)
{
	unsigned int level;
	uint64_t pte;

	if (!leaf_of(pgt, iova, &level, &pte))
		return 0;
	pgt_dirty_write(pgt, iova, level);
	return 1;
}

static int check_table(const struct ufd_pgtable *pgt, const uint64_t *t,
		       unsigned int level, uint64_t *leaves, uint64_t *tables)
{
	unsigned int i, valid = 0;
	bool any = false;

	(*tables)++;
	for (i = 0; i != PGT_ENTRIES; i++) {
		uint64_t pte = t[i];

		if (!(pte & PGT_VALID))
			continue;
		any = true;
		valid++;
		if (pte & PGT_LEAF) {
			if (pte_addr(pgt, pte) &
			    ((1ULL << level_shift(pgt, level)) - 1) &
			    ~((1ULL << pgt->granule_shift) - 1))
				return -1; /* leaf host not aligned */
			leaves[level]++;
			continue;
		}
		if (!level || (pte & PGT_FLAGS_MASK) != PGT_VALID)
			return -1; /* a table entry is its address, valid */
		if (check_table(pgt, pte_table(pte), level - 1, leaves, tables))
			return -1;
	}
	if (valid != *table_count(t))
		return -1;
	return (any || t == pgt->root) ? 0 : -1;
}

int pgt_check(const struct ufd_pgtable *pgt)
{
	uint64_t leaves[PGT_MAX_LEVELS] = { 0 }, tables = 0;
	unsigned int l;

	if (!pgt->root)
		return -1;
	if (check_table(pgt, pgt->root, pgt->levels - 1, leaves, &tables))
		return -1;
	for (l = 0; l != PGT_MAX_LEVELS; l++)
		if (leaves[l] != pgt->nr_leaves[l])
			return -1;
	if (tables != pgt->nr_tables)
		return -1;
	return pgt_dirty_check(pgt);
}

/* ---- splitting superpages in place ---- */

/*
 * Entry @i of a table at @level that replaces a leaf: a leaf itself, or
 * (a cut lies strictly inside it, or its size is not one the table may
 * use) a table of its own, built first.  Tables are built whole before
 * anything points at them, so a walker that reaches one finds every
 * translation of the leaf it replaces.
 */
static bool cut_inside(uint64_t iova, uint64_t size, const uint64_t *cuts,
		       unsigned int ncuts)
{
	unsigned int i;

	for (i = 0; i != ncuts; i++)
		if (cuts[i] > iova && cuts[i] - iova < size)
			return true;
	return false;
}

static void free_built(struct ufd_pgtable *pgt, uint64_t *t,
		       unsigned int level)
{
	free_tables(pgt, t, level);
}

/*
 * A table of level @level (entries of that level's size) mapping
 * [iova, iova + 512 entries) to @host with leaf bits @flags, split
 * further around @cuts.  Counts the leaves it made per level in
 * @leaves.  NULL on -ENOMEM (nothing left allocated).
 */
static uint64_t *build_split(struct ufd_pgtable *pgt, unsigned int level,
			     uint64_t iova, uint64_t host, uint64_t flags,
			     const uint64_t *cuts, unsigned int ncuts,
			     uint64_t *leaves)
{
	uint64_t size = 1ULL << level_shift(pgt, level);
	uint64_t *t = table_alloc(pgt);
	unsigned int i;

	if (!t)
		return NULL;
	for (i = 0; i != PGT_ENTRIES; i++) {
		uint64_t ei = iova + (uint64_t)i * size;
		uint64_t eh = host + (uint64_t)i * size;
		uint64_t *child;

		if (!level || ((pgt->pgsize_bitmap & size) &&
			       !cut_inside(ei, size, cuts, ncuts))) {
			t[i] = eh | flags;
			leaves[level]++;
			continue;
		}
		child = build_split(pgt, level - 1, ei, eh, flags, cuts, ncuts,
				    leaves);
		if (!child) {
			/* Entries made so far: leaves and whole tables. */
			free_built(pgt, t, level);
			return NULL;
		}
		t[i] = (uint64_t)(uintptr_t)child | PGT_VALID;
	}
	*table_count(t) = PGT_ENTRIES;
	return t;
}

int pgt_split_prepare(struct ufd_pgtable *pgt, const uint64_t *cuts,
		      unsigned int ncuts, struct pgt_split *out,
		      unsigned int max, unsigned int *nout)
{
	unsigned int i, j, n = 0;

	for (i = 0; i != ncuts; i++) {
		uint64_t pte, size, base, *e;
		unsigned int level;
		struct pgt_split *sp;
		bool done = false;

		e = leaf_of(pgt, cuts[i], &level, &pte);
		if (!e || !level)
			continue;
		size = 1ULL << level_shift(pgt, level);
		base = cuts[i] & ~(size - 1);
		if (base == cuts[i])
			continue; /* the cut is a leaf boundary already */
		for (j = 0; j != n; j++)
			if (out[j].entry == e)
				done = true; /* one split serves both cuts */
		if (done)
			continue;
		if (n == max) {
			pgt_split_abort(pgt, out, n);
			return -EINVAL;
		}
		sp = &out[n];
		memset(sp, 0, sizeof(*sp));
		sp->entry = e;
		sp->old = pte;
		sp->level = level;
		sp->table = build_split(pgt, level - 1, base, pte_addr(pgt, pte),
					pte & (PGT_FLAGS_MASK & ~PGT_DIRTY), cuts,
					ncuts, sp->leaves);
		if (!sp->table) {
			pgt_split_abort(pgt, out, n);
			return -ENOMEM;
		}
		n++;
	}
	*nout = n;
	return 0;
}

void pgt_split_abort(struct ufd_pgtable *pgt, struct pgt_split *sp,
		     unsigned int n)
{
	while (n--) {
		/* Never published: no walker can be inside. */
		free_built(pgt, sp[n].table, sp[n].level - 1);
		sp[n].table = NULL;
	}
}

void pgt_split_commit(struct ufd_pgtable *pgt, struct pgt_split *sp,
		      unsigned int n)
{
	unsigned int i, l;

	for (i = 0; i != n; i++) {
		uint64_t v = (uint64_t)(uintptr_t)sp[i].table | PGT_VALID;

		/*
		 * One store: before it walkers see the superpage, after it
		 * the table (release: its entries are visible to whoever
		 * reads the pointer).  The count of the table that holds
		 * the entry is unchanged: one valid entry replaces another.
		 */
		__atomic_store_n(sp[i].entry, v, __ATOMIC_RELEASE);
		pgt->nr_leaves[sp[i].level]--;
		for (l = 0; l != PGT_MAX_LEVELS; l++)
			pgt->nr_leaves[l] += sp[i].leaves[l];
		sp[i].table = NULL;
	}
}
