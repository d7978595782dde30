// SPDX-License-Identifier: MIT
/*
 * A memory source that is a device's BAR: what the legacy type1
 * container maps when MAP_DMA names a vaddr range inside an mmap of a
 * VFIO device's BAR (peer-to-peer DMA, as vfio_iommu_type1 maps the
 * PFNMAP pages of such a vma).
 *
 * The model.  The source covers the caller's [uaddr, uaddr + len), which
 * lies inside one BAR mapping, and stands for [bar_off, bar_off + len) of
 * BAR @bar of the device.  Its pin succeeds without touching anything and
 * hands out addresses of an IO window (io_window.c) rather than memory;
 * host_direct says no, so the IOPTEs are indirect and a DMA through them
 * reaches the window's rw, which, like read and write, performs BAR
 * accesses on the device through the model, split into naturally aligned
 * accesses of up to 8 bytes (little-endian).  Pins are not charged to
 * RLIMIT_MEMLOCK (no_account), as the kernel does not account PFNMAP
 * pages.  An access fails with -EIO when the device is not open (no file
 * has access to it any more) or its memory decode is off, as vfio-pci's
 * fault handler would SIGBUS; parts of the window past the BAR's end
 * (the mapping is page granular) read as all ones and ignore writes.
 *
 * Intervals: [uaddr, uaddr + len) and BAR offsets [off, off + size - 1].
 *
 * Locking: the target (struct mmio_target) is immutable and owned by the
 * window, which the source and DMAs in flight hold; the vfio_dev lives
 * with the machine.  A BAR access takes only the model's lock
 * (pdev->lock, inside ufd_pci_bar_*) and reads the config space: no VFIO
 * lock and no engine lock.  The DMA path calls it with the engine's
 * dma_lock released (dma.c), so a model that waits for its own worker in
 * a register write (a channel reset) cannot deadlock against the worker's
 * DMA, nor against an unmap; and since models never hold their lock while
 * doing DMA (devices/pci.h), a device's worker DMAing to another device's
 * BAR (or its own) takes one model lock with none held.
 */
#include <errno.h>
#include <stdlib.h>

#include "engine/io_window.h"
#include "uapi/vfio_priv.h"

struct mmio_target {
	struct vfio_dev *vdev;
	unsigned int bar;
	uint64_t bar_off;   /* of the first byte of the window */
	uint64_t len;
};

struct mmio_source {
	struct ufd_source src;
	struct ufd_io_window *win;
	struct mmio_target *t;  /* owned by the window */
	uint64_t uaddr;         /* the caller's first byte (page aligned) */
	uint64_t len;           /* page granular */
	uint64_t host_base;     /* the window's first fake host address */
};

static int target_rw(void *priv, uint64_t off, void *buf, size_t len,
		     bool write)
{
	const struct mmio_target *t = priv;
	struct vfio_dev *vdev = t->vdev;
	uint64_t bar_size = vdev->info.bar[t->bar].size;
	unsigned char *b = buf;
	size_t done = 0;

	if (off > t->len || len > t->len - off)
		return -EFAULT;
	if (!__atomic_load_n(&vdev->open_count, __ATOMIC_RELAXED) ||
	    __atomic_load_n(&vdev->low_power, __ATOMIC_RELAXED) ||
	    !vfio_dev_memory_enabled(vdev))
		return -EIO;
	while (done < len) {
		uint64_t at = t->bar_off + off + done, v = 0;
		size_t left = len - done;
		unsigned int n, i;

		n = left >= 8 && !(at & 7) ? 8 :
		    left >= 4 && !(at & 3) ? 4 :
		    left >= 2 && !(at & 1) ? 2 : 1;
		if (at >= bar_size || n > bar_size - at) {
			/* Past the BAR, inside its last page. */
			if (!write)
				for (i = 0; i < n; i++)
					b[done + i] = 0xff;
			done += n;
			continue;
		}
		if (write) {
			for (i = 0; i < n; i++)
				v |= (uint64_t)b[done + i] << (8 * i);
			if (ufd_pci_bar_write(vdev->pdev, t->bar, at, n, v))
				return -EIO;
		} else {
			if (ufd_pci_bar_read(vdev->pdev, t->bar, at, n, &v))
				return -EIO;
			for (i = 0; i < n; i++)
				b[done + i] = (unsigned char)(v >> (8 * i));
		}
		done += n;
	}
	return 0;
}

static void target_free(void *priv)
{
	free(priv);
}

static const struct ufd_io_window_ops target_ops = {
	.rw = target_rw,
	.free = target_free,
};

static struct mmio_source *to_ms(struct ufd_source *src)
{
	return (struct mmio_source *)src;
}

/* The window offset of [uaddr, uaddr + len), or -EFAULT outside. */
static int ms_off(struct mmio_source *ms, uint64_t uaddr, size_t len,
		  uint64_t *off)
{
	if (uaddr < ms->uaddr || uaddr - ms->uaddr > ms->len ||
	    len > ms->len - (uaddr - ms->uaddr))
		return -EFAULT;
	*off = uaddr - ms->uaddr;
	return 0;
}

static int ms_read(struct ufd_source *src, void *dst, uint64_t uaddr,
		   size_t len)
{
	struct mmio_source *ms = to_ms(src);
	uint64_t off;
	int rc = ms_off(ms, uaddr, len, &off);

	return rc ? rc : target_rw(ms->t, off, dst, len, false);
}

static int ms_write(struct ufd_source *src, uint64_t uaddr, const void *buf,
		    size_t len)
{
	struct mmio_source *ms = to_ms(src);
	uint64_t off;
	int rc = ms_off(ms, uaddr, len, &off);

	return rc ? rc : target_rw(ms->t, off, (void *)buf, len, true);
}

static int ms_pin(struct ufd_source *src, uint64_t uaddr, size_t len,
		  bool writable, void **host)
{
	struct mmio_source *ms = to_ms(src);
	uint64_t off;
	int rc = ms_off(ms, uaddr, len, &off);

	(void)writable;
	if (rc)
		return rc;
	/* Nothing to make resident: MMIO is always there. */
	*host = (void *)(uintptr_t)(ms->host_base + off);
	return 0;
}

static void ms_unpin(struct ufd_source *src, uint64_t uaddr, size_t len,
		     void *host)
{
	(void)src;
	(void)uaddr;
	(void)len;
	(void)host;
}

static int ms_page_ident(struct ufd_source *src, uint64_t uaddr,
			 uint64_t *ident)
{
	struct mmio_source *ms = to_ms(src);
	uint64_t off;
	int rc = ms_off(ms, uaddr, 1, &off);

	if (!rc)
		*ident = ms->host_base + (off & ~(VFIO_PAGE_SIZE - 1));
	return rc;
}

static bool ms_host_direct(struct ufd_source *src, uint64_t uaddr,
			   size_t len)
{
	(void)src;
	(void)uaddr;
	(void)len;
	return false;
}

static int ms_host_ident(struct ufd_source *src, const void *host,
			 uint64_t *ident)
{
	(void)src;
	*ident = (uint64_t)(uintptr_t)host & ~(VFIO_PAGE_SIZE - 1);
	return 0;
}

static void ms_release(struct ufd_source *src)
{
	struct mmio_source *ms = to_ms(src);

	ufd_io_window_remove(ms->win);
	free(ms);
}

static const struct ufd_source_ops mmio_source_ops = {
	.read = ms_read,
	.write = ms_write,
	.pin = ms_pin,
	.unpin = ms_unpin,
	.page_ident = ms_page_ident,
	.host_direct = ms_host_direct,
	.host_ident = ms_host_ident,
	.release = ms_release,
};

int vfio_mmio_source_new(struct vfio_dev *vdev, unsigned int bar,
			 uint64_t bar_off, uint64_t uaddr, uint64_t len,
			 struct ufd_source **out)
{
	static uint64_t next_space = 1;
	struct mmio_source *ms;
	struct mmio_target *t;
	int rc;

	if ((uaddr | bar_off | len) & (VFIO_PAGE_SIZE - 1) || !len)
		return -EINVAL;
	ms = calloc(1, sizeof(*ms));
	t = calloc(1, sizeof(*t));
	if (!ms || !t) {
		free(ms);
		free(t);
		return -ENOMEM;
	}
	t->vdev = vdev;
	t->bar = bar;
	t->bar_off = bar_off;
	t->len = len;
	rc = ufd_io_window_add(len, &target_ops, t, &ms->win, &ms->host_base);
	if (rc) {
		free(ms);
		free(t);
		return rc;
	}
	ms->t = t;
	ms->uaddr = uaddr;
	ms->len = len;
	ms->src.ops = &mmio_source_ops;
	ms->src.refs = 1;
	/* An address space of its own (distinct from any process's). */
	ms->src.space_id = (3ULL << 62) |
			   __atomic_fetch_add(&next_space, 1, __ATOMIC_RELAXED);
	ms->src.no_account = true;
	*out = &ms->src;
	return 0;
}

int vfio_p2p_source(const struct ufd_caller *caller, uint64_t vaddr,
		    uint64_t len, struct ufd_source **out)
{
	struct ufd_bar_map where;
	struct vfio_dfile *df;
	int rc;

	if (!caller->ops->bar_lookup || !len || vaddr + len - 1 < vaddr)
		return -ENOENT;
	rc = caller->ops->bar_lookup(caller, vaddr, len, &where);
	if (rc)
		return rc;
	if (where.file.kind != UFD_FD_VFIO_DEVICE || !where.file.priv)
		return -ENOENT;
	df = where.file.priv;
	if (where.region >= UFD_PCI_NUM_BARS ||
	    !df->vdev->info.bar[where.region].size)
		return -ENOENT;
	return vfio_mmio_source_new(df->vdev, where.region, where.region_off,
				    vaddr, len, out);
}
