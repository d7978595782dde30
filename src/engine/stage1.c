/* SPDX-License-Identifier: MIT */
/*
 * A stage-1 IO page table that the user owns: the x86-64 paging format
 * (4 levels for a 48-bit address width, 5 for 57), as Intel VT-d's
 * first-stage translation uses it.  The table lives in guest memory: its
 * root and every entry are guest physical addresses, which are IOVAs of
 * the nesting parent's domain (stage 2).  A DMA through a nested HWPT
 * walks stage 1, reading each entry through stage 2, then translates the
 * result through stage 2 again.
 *
 * Entry bits used: P (0), R/W (1), PS (7, at the 1 GiB and 2 MiB levels),
 * and the address in bits 12..51.  Writes need R/W at every level.  The
 * walker does not set the Accessed or Dirty bits of the guest's entries
 * (documented limit); stage-2 dirty tracking still sees DMA writes.
 *
 * The IOTLB caches completed walks, 4 KiB page by page (a 2 MiB or 1 GiB
 * leaf is cached for the page that was reached).  Like a real IOTLB its
 * entries survive changes to the guest's table until the guest
 * invalidates them (HWPT_INVALIDATE), so a guest that forgets to
 * invalidate sees stale translations, as it would on hardware.
 *
 * Intervals: [addr, addr + npages * 4 KiB).  Locking: the IOTLB has its
 * own mutex, taken by DMA walkers (inside their port's read section) and
 * by invalidation (under eng->lock).
 */
#include <string.h>

#include "engine/engine.h"

#define S1_PAGE_SHIFT 12
#define S1_P (1ULL << 0)
#define S1_RW (1ULL << 1)
#define S1_PS (1ULL << 7)
#define S1_ADDR_MASK 0x000ffffffffff000ULL
#define S1_IOTLB_SIZE 512

struct s1_iotlb_entry {
	uint64_t page;   /* iova >> 12, +1 so that 0 means empty */
	uint64_t gpa;    /* of the start of the leaf */
	uint64_t size;   /* leaf size */
	bool writable;
};

struct ufd_stage1 {
	uint64_t root_gpa;
	unsigned int levels;
	pthread_mutex_t lock;
	struct s1_iotlb_entry iotlb[S1_IOTLB_SIZE];
	uint64_t hits, misses;
};

int stage1_alloc(uint64_t root_gpa, unsigned int addr_width,
		 struct ufd_stage1 **out)
{
	struct ufd_stage1 *s1;

	if (addr_width != 48 && addr_width != 57)
		return -EINVAL;
	if (root_gpa & ((1ULL << S1_PAGE_SHIFT) - 1))
		return -EINVAL;
	s1 = ufd_zalloc(sizeof(*s1));
	if (!s1)
		return -ENOMEM;
	s1->root_gpa = root_gpa;
	s1->levels = addr_width == 57 ? 5 : 4;
	pthread_mutex_init(&s1->lock, NULL);
	*out = s1;
	return 0;
}

void stage1_free(struct ufd_stage1 *s1)
{
	if (!s1)
		return;
	pthread_mutex_destroy(&s1->lock);
	free(s1);
}

void stage1_invalidate(struct ufd_stage1 *s1, uint64_t addr, uint64_t npages)
{
	uint64_t first = addr >> S1_PAGE_SHIFT, last;
	unsigned int i;

	if (!npages)
		return;
	if (npages == UINT64_MAX ||
	    __builtin_add_overflow(first, npages - 1, &last))
		last = UINT64_MAX;
	pthread_mutex_lock(&s1->lock);
	for (i = 0; i != S1_IOTLB_SIZE; i++) {
		struct s1_iotlb_entry *e = &s1->iotlb[i];
		uint64_t lfirst, llast;

		if (!e->page)
			continue;
		/* A cached leaf covers its whole size: invalidate on overlap. */
		lfirst = ((e->page - 1) << S1_PAGE_SHIFT) & ~(e->size - 1);
		lfirst >>= S1_PAGE_SHIFT;
		llast = lfirst + (e->size >> S1_PAGE_SHIFT) - 1;
		if (lfirst <= last && first <= llast)
			e->page = 0;
	}
	pthread_mutex_unlock(&s1->lock);
}

/* Read the 8-byte guest entry at @gpa through stage 2. */
static int read_guest_pte(const struct ufd_pgtable *s2, uint64_t gpa,
			  uint64_t *pte)
{
	uint64_t host, flags;

	if (pgt_translate(s2, gpa, &host, NULL, &flags) ||
	    !(flags & PGT_READ) || (flags & PGT_INDIRECT))
		return -EFAULT;
	*pte = __atomic_load_n((const uint64_t *)(uintptr_t)host,
			       __ATOMIC_ACQUIRE);
	return 0;
}

static int walk(const struct ufd_stage1 *s1, const struct ufd_pgtable *s2,
		uint64_t iova, struct s1_iotlb_entry *out)
{
	uint64_t table = s1->root_gpa;
	bool writable = true;
	unsigned int level;

	/* Canonical addresses only: the bits above the width must be 0. */
	if (iova >> (S1_PAGE_SHIFT + 9 * s1->levels))
		return -EFAULT;
	for (level = s1->levels; level >= 1; level--) {
		unsigned int shift = S1_PAGE_SHIFT + 9 * (level - 1);
		uint64_t pte;

		if (read_guest_pte(s2, table + ((iova >> shift) & 511) * 8,
				   &pte))
			return -EFAULT;
		if (!(pte & S1_P))
			return -EFAULT;
		writable &= !!(pte & S1_RW);
		if (level == 1 || ((level == 2 || level == 3) && (pte & S1_PS))) {
			uint64_t size = 1ULL << shift;

			out->size = size;
			out->gpa = pte & S1_ADDR_MASK & ~(size - 1);
			out->writable = writable;
			out->page = (iova >> S1_PAGE_SHIFT) + 1;
			return 0;
		}
		table = pte & S1_ADDR_MASK;
	}
	return -EFAULT;
}

int stage1_translate(struct ufd_stage1 *s1, const struct ufd_pgtable *s2,
		     uint64_t iova, bool write, uint64_t *gpa,
		     uint64_t *leaf_size)
{
	unsigned int slot = (iova >> S1_PAGE_SHIFT) % S1_IOTLB_SIZE;
	struct s1_iotlb_entry e;
	int rc = 0;

	pthread_mutex_lock(&s1->lock);
	e = s1->iotlb[slot];
	if (e.page == (iova >> S1_PAGE_SHIFT) + 1) {
		s1->hits++;
	} else {
		s1->misses++;
		rc = walk(s1, s2, iova, &e);
		if (!rc)
			s1->iotlb[slot] = e;
	}
	pthread_mutex_unlock(&s1->lock);
	if (rc)
		return rc;
	if (write && !e.writable)
		return -EFAULT;
	*gpa = e.gpa + (iova & (e.size - 1));
	*leaf_size = e.size;
	return 0;
}

void stage1_stats(struct ufd_stage1 *s1, uint64_t *hits, uint64_t *misses)
{
	pthread_mutex_lock(&s1->lock);
	*hits = s1->hits;
	*misses = s1->misses;
	pthread_mutex_unlock(&s1->lock);
}
