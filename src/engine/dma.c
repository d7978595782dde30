/* SPDX-License-Identifier: MIT */
/*
 * The DMA path: a device's reads and writes through the IO page table of
 * the HWPT it is attached to.  This is the hot path for embedders (device
 * emulators): it takes no engine lock, enters a read section of its port,
 * walks the radix table (O(levels)), and copies to or from the host
 * addresses the leaves hold.  Everything that changes what a walk sees
 * runs in a write section (see engine.h), so a DMA either completes
 * before an unmap or faults (-EFAULT): pages are never unpinned under a
 * DMA.
 *
 * The sections.  A port counts the walks in progress through it
 * (port->readers, on a cache line of its own: a device model that gives
 * each DMA thread its own port shares nothing written between them); the
 * engine has one flag, eng->dma_writer.  A reader raises its count, then
 * looks at the flag; a writer raises the flag, then looks at every
 * port's count (both sequentially consistent, so at least one of the two
 * sees the other).  A reader that finds the flag up drops its count and
 * sleeps on the flag; the writer sleeps on a port's count until it is 0.
 * The flag makes new readers wait, so an unmap does not starve behind a
 * stream of DMA.  A reader about to sleep sets the flag to 2, so a writer
 * that finds it at 1 when it lowers it skips the wake.  The sleeping is
 * futex(2); what orders memory is the atomics (a writer's acquire load of
 * a zero count pairs with the reader's release store; a reader's load of
 * the lowered flag with the writer's release store).
 *
 * A write marks its leaf dirty in the domain's dirty bitmap
 * (pgt_dirty_write: atomic; when the leaf is dirty already, one lookup and
 * a load) when the domain tracks dirty pages.  An IOPTE into an IO window
 * (a device's BAR, io_window.c) is served by the window's rw op, outside
 * the read section: such an access may complete after an unmap that raced
 * it returned (it reaches the device, which stays valid, as a posted
 * peer-to-peer write would).  map_sg cannot hand out MMIO: -EFAULT.  A
 * port opened for a PASID walks the HWPT attached at that PASID, looked up
 * per DMA in the read section (engine/pasid.c changes it in a write
 * section).
 *
 * One change does not wait for walks: a superpage split in place (a
 * granule unmap, io_pagetable.c) publishes a fully built table in place
 * of a leaf with one atomic store while walks go on; a walk reads each
 * entry once (pgt_leaf_pte) and sees the old leaf or the new table, the
 * same translation.  Only the removal of the cut part that follows runs
 * in a write section.
 *
 * Intervals here are [iova, iova + len).
 */
#include <limits.h>
#include <linux/futex.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "engine/engine.h"

#define CACHE_LINE 64

struct ufd_dma {
	/* walks in progress through this port (futex word); its own line */
	_Alignas(CACHE_LINE) unsigned int readers;
	_Alignas(CACHE_LINE) struct ufd_ctx *ctx;
	struct ufd_device *dev;
	struct ufd_dma *next, *prev; /* eng->dma_ports; eng->lock */
	uint32_t pasid; /* UFD_NO_PASID: the RID's */
	bool in_sg; /* a read section is held for map_sg */
};

static void futex_wait(unsigned int *word, unsigned int val)
{
	syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0);
}

static void futex_wake(unsigned int *word)
{
	syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

static void read_begin(struct ufd_dma *dma)
{
	struct ufd_engine *eng = dma->ctx->eng;

	for (;;) {
		__atomic_fetch_add(&dma->readers, 1, __ATOMIC_SEQ_CST);
		if (!__atomic_load_n(&eng->dma_writer, __ATOMIC_SEQ_CST))
			return;
		/* A change is under way: step back and let it finish. */
		if (__atomic_sub_fetch(&dma->readers, 1, __ATOMIC_RELEASE) == 0)
			futex_wake(&dma->readers);
		/* 2: a reader sleeps on the flag, the writer must wake it. */
		for (;;) {
			unsigned int v = __atomic_load_n(&eng->dma_writer,
							 __ATOMIC_ACQUIRE);

			if (!v)
				break;
			if (v == 1 &&
			    !__atomic_compare_exchange_n(&eng->dma_writer, &v, 2,
							 false,
							 __ATOMIC_ACQUIRE,
							 __ATOMIC_ACQUIRE))
				continue;
			futex_wait(&eng->dma_writer, 2);
		}
	}
}

static void read_end(struct ufd_dma *dma)
{
	if (__atomic_sub_fetch(&dma->readers, 1, __ATOMIC_RELEASE) == 0 &&
	    __atomic_load_n(&dma->ctx->eng->dma_writer, __ATOMIC_SEQ_CST))
		futex_wake(&dma->readers);
}

void dma_write_begin(struct ufd_engine *eng)
{
	struct ufd_dma *p;

	if (eng->dma_write_depth++)
		return;
	__atomic_store_n(&eng->dma_writer, 1, __ATOMIC_SEQ_CST);
	for (p = eng->dma_ports; p; p = p->next) {
		unsigned int n;

		/* The load that sees 0 pairs with the readers' release. */
		while ((n = __atomic_load_n(&p->readers, __ATOMIC_SEQ_CST)))
			futex_wait(&p->readers, n);
	}
}

void dma_write_end(struct ufd_engine *eng)
{
	if (--eng->dma_write_depth)
		return;
	/* A wake only if a reader went to sleep (a system call saved on
	 * every section nobody waited for). */
	if (__atomic_exchange_n(&eng->dma_writer, 0, __ATOMIC_RELEASE) == 2)
		futex_wake(&eng->dma_writer);
}

int ufd_dma_open(struct ufd_ctx *ctx, uint32_t dev_id, struct ufd_dma **out)
{
	return ufd_dma_open_pasid(ctx, dev_id, UFD_NO_PASID, out);
}

int ufd_dma_open_pasid(struct ufd_ctx *ctx, uint32_t dev_id, uint32_t pasid,
		       struct ufd_dma **out)
{
	struct ufd_device *dev;
	struct ufd_dma *dma;
	int rc = 0;

	if (ufd_inject_fail() ||
	    posix_memalign((void **)&dma, CACHE_LINE, sizeof(*dma)))
		return -ENOMEM;
	memset(dma, 0, sizeof(*dma));
	dma->ctx = ctx;
	dma->pasid = pasid;
	eng_lock(ctx->eng);
	dev = device_find(ctx, dev_id);
	if (!dev)
		rc = -ENOENT;
	else if (pasid != UFD_NO_PASID && !pasid_valid(dev, pasid))
		rc = -EINVAL;
	if (!rc) {
		/* The device, and the handle that owns it, stay while open. */
		dev->dma_ports++;
		dev->obj.users++;
		if (dev->owner)
			dev->owner->users++;
		dma->dev = dev;
		/* From now on write sections wait for its walks. */
		dma->next = ctx->eng->dma_ports;
		if (dma->next)
			dma->next->prev = dma;
		ctx->eng->dma_ports = dma;
	}
	eng_unlock(ctx->eng);
	if (rc) {
		free(dma);
		return rc;
	}
	ufd_ctx_get(ctx);
	*out = dma;
	return 0;
}

void ufd_dma_close(struct ufd_dma *dma)
{
	struct ufd_ctx *ctx;

	if (!dma)
		return;
	ctx = dma->ctx;
	if (dma->in_sg)
		ufd_dma_unmap_sg(dma);
	eng_lock(ctx->eng);
	if (dma->prev)
		dma->prev->next = dma->next;
	else
		ctx->eng->dma_ports = dma->next;
	if (dma->next)
		dma->next->prev = dma->prev;
	dma->dev->dma_ports--;
	dma->dev->obj.users--;
	if (dma->dev->owner)
		dma->dev->owner->users--;
	eng_unlock(ctx->eng);
	free(dma);
	ufd_ctx_put(ctx);
}

/*
 * The page tables DMA goes through, in a read section: the domain
 * (stage 2) and, for a nested HWPT, its stage 1.  Or -errno.
 */
static int dma_tables(struct ufd_dma *dma, const struct ufd_pgtable **pgt,
		      struct ufd_stage1 **s1, bool *track)
{
	struct ufd_hwpt *hwpt = dma->pasid == UFD_NO_PASID ?
					dma->dev->hwpt :
					pasid_hwpt_of(dma->dev, dma->pasid);

	if (!hwpt)
		return -ENODEV;
	*s1 = NULL;
	if (hwpt->obj.type == UFD_OBJ_HWPT_NESTED) {
		if (!hwpt->s1)
			return -EOPNOTSUPP;
		*s1 = hwpt->s1;
		hwpt = hwpt->parent;
	}
	*pgt = &hwpt->domain.pgt;
	*track = hwpt->domain.dirty_tracking;
	return 0;
}

/*
 * Walk [iova, iova + len) and call @fn on each host piece (at most one
 * leaf of each stage at a time).  Checks permission; sets dirty bits for
 * writes when tracking.
 */
static int dma_walk(struct ufd_dma *dma, uint64_t iova, size_t len,
		    bool write,
		    void (*fn)(void *arg, void *host, size_t n, size_t off),
		    void *arg, char *iobuf)
{
	const struct ufd_pgtable *pgt;
	uint64_t need = write ? PGT_WRITE : PGT_READ;
	struct ufd_stage1 *s1;
	size_t done = 0;
	bool track;
	int rc;

	rc = dma_tables(dma, &pgt, &s1, &track);
	if (rc)
		return rc;
	while (done < len) {
		uint64_t cur = iova + done, size, pte, host;
		uint64_t s1_left = UINT64_MAX;
		unsigned int level;
		uint64_t *e;
		size_t n;

		if (s1) {
			uint64_t gpa, s1_size;

			if (stage1_translate(s1, pgt, cur, write, &gpa,
					     &s1_size))
				return -EFAULT;
			s1_left = s1_size - (cur & (s1_size - 1));
			cur = gpa;
		}
		/* One read of the leaf: a superpage split in place
		 * (pgt_split_commit) may turn the entry into a table. */
		e = pgt_leaf_pte(pgt, cur, &level, &pte);
		if (!e)
			return -EFAULT;
		if (!(pte & need))
			return -EFAULT;
		/* Memory the engine reaches only through its source: no DMA,
		 * unless it is an IO window (below). */
		if ((pte & PGT_INDIRECT) && !iobuf)
			return -EFAULT;
		size = pgt_level_size(pgt, level);
		host = (pte & ~((1ULL << pgt->granule_shift) - 1)) +
		       (cur & (size - 1));
		n = size - (cur & (size - 1));
		if (n > s1_left)
			n = s1_left;
		if (n > len - done)
			n = len - done;
		if (write && track)
			pgt_dirty_write(pgt, cur, level);
		if (pte & PGT_INDIRECT) {
			/*
			 * A device's MMIO (peer-to-peer).  Its handler may wait
			 * for that device's worker, whose own DMA needs a read
			 * section while an unmap waits in a write section: so
			 * the access runs outside the read section (the window
			 * is held by reference), and the walk starts again
			 * after it.
			 */
			read_end(dma);
			rc = io_window_rw(host, iobuf + done, n, write);
			read_begin(dma);
			if (rc)
				return rc;
			rc = dma_tables(dma, &pgt, &s1, &track);
			if (rc)
				return rc;
			done += n;
			continue;
		}
		fn(arg, (void *)(uintptr_t)host, n, done);
		done += n;
	}
	return 0;
}

static void copy_out(void *arg, void *host, size_t n, size_t off)
{
	memcpy((char *)arg + off, host, n);
}

static void copy_in(void *arg, void *host, size_t n, size_t off)
{
	memcpy(host, (const char *)arg + off, n);
}

int ufd_dma_read(struct ufd_dma *dma, uint64_t iova, void *buf, size_t len)
{
	int rc;

	if (!len)
		return 0;
	if (iova + len - 1 < iova)
		return -EFAULT;
	read_begin(dma);
	rc = dma_walk(dma, iova, len, false, copy_out, buf, buf);
	read_end(dma);
	return rc;
}

int ufd_dma_write(struct ufd_dma *dma, uint64_t iova, const void *buf,
		  size_t len)
{
	int rc;

	if (!len)
		return 0;
	if (iova + len - 1 < iova)
		return -EFAULT;
	/* A fault part way leaves what came before it written, like DMA. */
	read_begin(dma);
	rc = dma_walk(dma, iova, len, true, copy_in, (void *)buf,
		      (char *)buf);
	read_end(dma);
	return rc;
}

struct sg_fill {
	struct ufd_sg *sg;
	unsigned int max, n;
	bool overflow;
};

static void sg_add(void *arg, void *host, size_t n, size_t off)
{
	struct sg_fill *f = arg;

	if (f->n && (char *)f->sg[f->n - 1].host + f->sg[f->n - 1].len ==
			    (char *)host) {
		f->sg[f->n - 1].len += n;
		return;
	}
	if (f->n == f->max) {
		f->overflow = true;
		return;
	}
	f->sg[f->n].host = host;
	f->sg[f->n].len = n;
	f->n++;
}

int ufd_dma_map_sg(struct ufd_dma *dma, uint64_t iova, size_t len,
		   bool write, struct ufd_sg *sg, unsigned int max,
		   unsigned int *nsg)
{
	struct sg_fill f = { .sg = sg, .max = max };
	int rc;

	if (dma->in_sg)
		return -EBUSY;
	if (!len || iova + len - 1 < iova)
		return -EFAULT;
	read_begin(dma);
	rc = dma_walk(dma, iova, len, write, sg_add, &f, NULL);
	if (!rc && f.overflow)
		rc = -E2BIG;
	if (rc) {
		read_end(dma);
		return rc;
	}
	dma->in_sg = true;
	*nsg = f.n;
	return 0;
}

void ufd_dma_unmap_sg(struct ufd_dma *dma)
{
	if (!dma->in_sg)
		return;
	dma->in_sg = false;
	read_end(dma);
}
