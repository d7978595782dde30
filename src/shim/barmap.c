// SPDX-License-Identifier: MIT
/*
 * Trapped mappings of emulated files (barmap.h).
 *
 * Model.  mmap() of a VFIO device fd asks the daemon where the range lands
 * (MMAP: which region, which offset in it), reserves the address range
 * PROT_NONE and registers it with the MMIO trap.  Each load or store then
 * runs our callback inside the SIGSEGV handler, which sends one MMIO
 * request on a channel of its own (the channel pool is lock-free) and
 * waits for the answer: a read returns what the device model read, a
 * write returns once the model has taken it, so every access is ordered
 * after the ones before it.  A failed access reads as all ones, as a PCI
 * master abort does, and a failed write is dropped.
 *
 * In process (a /dev/iommu context's vIOMMU page), a mapping keeps a copy
 * of the file with a context reference and a map hold of its own (each
 * part of a split one too), and each access calls the engine.
 *
 * Mappings sit in a fixed table; munmap() or a MAP_FIXED mapping over one
 * unregisters it, and a part that is left keeps being trapped (registered
 * again with its offset).  The daemon is told where each mapping is
 * (BAR_MAPPED, once it exists) and when a range of them goes
 * (BAR_UNMAPPED: only when the range hit one, so plain munmaps cost
 * nothing), so that a legacy container can map a BAR for peer-to-peer
 * DMA; both are one synchronous message on the channel pool, made inside
 * a signal section (shim_sig_enter: a handler of the program's that
 * arrives meanwhile runs after it) but with no lock of ours.  Interval
 * convention: [base, base + len).
 *
 * Locking: bar_lock guards the table, taken inside a signal section
 * (sigdefer.h) so that no signal handler can find it held; the trap's
 * callbacks never take it (they only read their own mapping, which stays
 * valid until mmio_trap_unregister() has returned).  They run inside the
 * trap's handler, which the kernel runs with the asynchronous signals
 * blocked, so that their sections never have anything to send again.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "shim/barmap.h"
#include "shim/client.h"
#include "shim/fdtab.h"

#define BAR_MAX_MAPPINGS 64
/* The mapping's copy of the device fd sits this high, out of the way. */
#define BAR_FD_BASE 800

struct bar_mapping {
	uintptr_t base;
	size_t len;
	int fd;               /* our copy of the device fd (-1: local) */
	uint64_t fd_dev, fd_ino; /* its identity, for the daemon */
	/*
	 * In process: the file mapped (a /dev/iommu context), with a
	 * context reference and one map_get of the region of its own.
	 */
	struct ufd_file local;
	unsigned int region;  /* the BAR */
	uint64_t region_off;  /* of base */
	int trap_id;
	bool used;
};

static pthread_mutex_t bar_lock = PTHREAD_MUTEX_INITIALIZER;

/*
 * One more in-process mapping of @file's region: a context reference and
 * a map hold (what the mapping keeps busy).  -errno: neither taken.
 */
static int bar_local_get(const struct ufd_file *file, unsigned int region)
{
	int rc = ufd_file_map_get(file, region);

	if (!rc)
		ufd_ctx_get(file->ctx);
	return rc;
}

static void bar_local_put(const struct ufd_file *file, unsigned int region)
{
	ufd_file_map_put(file, region);
	ufd_ctx_put(file->ctx);
}
static struct bar_mapping bars[BAR_MAX_MAPPINGS]; /* bar_lock */
static unsigned int nbars;                        /* atomic for _empty */

bool shim_bar_empty(void)
{
	return __atomic_load_n(&nbars, __ATOMIC_RELAXED) == 0;
}

/* One access of mapping @m: the daemon's, or the engine's in process. */
static int bar_mmio(const struct bar_mapping *m, uint64_t offset,
		    unsigned int size, bool write, uint64_t *val)
{
	int rc;

	if (m->fd >= 0)
		return shim_srv_mmio(m->fd, m->fd_dev, m->fd_ino, m->region,
				     m->region_off + offset, size, write, val);
	shim_sig_enter(); /* the engine's lock (fdtab.h) */
	rc = ufd_file_mmio(&m->local, m->region, m->region_off + offset, size,
			   write, val);
	shim_sig_leave();
	return rc;
}

static uint64_t bar_read(void *opaque, uint64_t offset, unsigned int size)
{
	const struct bar_mapping *m = opaque;
	uint64_t val = 0;

	if (bar_mmio(m, offset, size, false, &val))
		return ~0ULL;
	return val;
}

static void bar_write(void *opaque, uint64_t offset, unsigned int size,
		      uint64_t value)
{
	const struct bar_mapping *m = opaque;

	bar_mmio(m, offset, size, true, &value);
}

static const struct mmio_trap_ops bar_ops = {
	.read = bar_read,
	.write = bar_write,
};

/*
 * Trap [base, base + len) of region @region at @region_off.  bar_lock.
 * @local (fd -1): the in-process file, whose context reference and map
 * hold the new mapping takes on success.
 */
static int bar_add_locked(uintptr_t base, size_t len, int fd,
			  unsigned int region, uint64_t region_off,
			  const struct ufd_file *local)
{
	struct bar_mapping *m = NULL;
	struct stat st;
	char name[32];
	unsigned int i;
	int id;

	for (i = 0; i < BAR_MAX_MAPPINGS && !m; i++)
		if (!bars[i].used)
			m = &bars[i];
	if (!m)
		return -ENOMEM;
	m->base = base;
	m->len = len;
	m->fd = fd;
	m->fd_dev = m->fd_ino = 0;
	if (fd >= 0 && !fstat(fd, &st)) {
		m->fd_dev = (uint64_t)st.st_dev;
		m->fd_ino = (uint64_t)st.st_ino;
	}
	m->region = region;
	m->region_off = region_off;
	if (local)
		m->local = *local;
	snprintf(name, sizeof(name), "BAR%u fd %d", region, fd);
	id = mmio_trap_register((void *)base, len, &bar_ops, m, name);
	if (id < 0)
		return id;
	m->trap_id = id;
	m->used = true;
	__atomic_add_fetch(&nbars, 1, __ATOMIC_RELAXED);
	return 0;
}

/* Drop mapping @m: unregister (waits for its handlers), close its fd. */
static void bar_drop_locked(struct bar_mapping *m, bool close_fd)
{
	mmio_trap_unregister(m->trap_id);
	if (close_fd && m->fd >= 0)
		syscall(SYS_close, m->fd);
	if (close_fd && m->fd < 0)
		bar_local_put(&m->local, m->region);
	m->used = false;
	__atomic_sub_fetch(&nbars, 1, __ATOMIC_RELAXED);
}

/*
 * In-process mapping @m (already dropped from the table) lost [first,
 * end): what is left on either side stays trapped, each part with holds
 * of its own; then @m's holds go.  bar_lock.
 */
static void bar_unmapped_local_locked(const struct bar_mapping *m,
				      uintptr_t first, uintptr_t end)
{
	uintptr_t mend = m->base + m->len;

	if (m->base < first && !bar_local_get(&m->local, m->region) &&
	    bar_add_locked(m->base, first - m->base, -1, m->region,
			   m->region_off, &m->local))
		bar_local_put(&m->local, m->region);
	if (mend > end && !bar_local_get(&m->local, m->region) &&
	    bar_add_locked(end, mend - end, -1, m->region,
			   m->region_off + (end - m->base), &m->local))
		bar_local_put(&m->local, m->region);
	bar_local_put(&m->local, m->region);
}

void shim_bar_unmapped(void *addr, size_t len)
{
	uintptr_t first = (uintptr_t)addr, end = first + len;
	bool hit = false;
	int saved = errno;
	unsigned int i;

	if (shim_bar_empty() || !len)
		return;
	shim_sig_enter();
	pthread_mutex_lock(&bar_lock);
	for (i = 0; i < BAR_MAX_MAPPINGS; i++) {
		struct bar_mapping m = bars[i];
		uintptr_t mend = m.base + m.len;
		bool fd_kept = false;

		if (!m.used || mend <= first || m.base >= end)
			continue;
		hit = true;
		bar_drop_locked(&bars[i], false);
		if (m.fd < 0) {
			bar_unmapped_local_locked(&m, first, end);
			continue;
		}
		/* What is left on either side stays trapped. */
		if (m.base < first &&
		    !bar_add_locked(m.base, first - m.base, m.fd, m.region,
				    m.region_off, NULL))
			fd_kept = true;
		if (mend > end) {
			int fd = fd_kept ? (int)syscall(SYS_fcntl, m.fd,
							F_DUPFD_CLOEXEC,
							BAR_FD_BASE) :
					   m.fd;

			if (fd >= 0 &&
			    !bar_add_locked(end, mend - end, fd, m.region,
					    m.region_off + (end - m.base),
					    NULL))
				fd_kept = true;
			else if (fd >= 0 && fd != m.fd)
				syscall(SYS_close, fd);
		}
		if (!fd_kept)
			syscall(SYS_close, m.fd);
	}
	pthread_mutex_unlock(&bar_lock);
	/* The daemon forgets it too (a container can map it no more). */
	if (hit)
		shim_srv_bar_unmapped(first, len);
	shim_sig_leave();
	errno = saved;
}

void *shim_bar_mmap(shim_mmap_fn real_mmap, mmio_trap_sigaction_fn real_sa,
		    void *addr, size_t len, int prot, int flags, int fd,
		    off_t off)
{
	uint64_t region_off;
	unsigned int region;
	void *p;
	int rc, myfd;

	if ((flags & MAP_TYPE) != MAP_SHARED &&
	    (flags & MAP_TYPE) != MAP_SHARED_VALIDATE) {
		errno = EINVAL; /* vfio-pci maps BARs shared only */
		return MAP_FAILED;
	}
	if (!len || off < 0) {
		errno = EINVAL;
		return MAP_FAILED;
	}
	rc = shim_srv_mmap(fd, (uint64_t)off, len, prot, &region, &region_off);
	if (rc) {
		errno = -rc;
		return MAP_FAILED;
	}
	if (!mmio_trap_installed()) {
		rc = mmio_trap_install(real_sa);
		if (rc && rc != -EALREADY) {
			errno = -rc;
			return MAP_FAILED;
		}
	}
	myfd = (int)syscall(SYS_fcntl, fd, F_DUPFD_CLOEXEC, BAR_FD_BASE);
	if (myfd < 0)
		return MAP_FAILED;
	p = real_mmap(addr, len, PROT_NONE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE |
			      (flags & (MAP_FIXED | MAP_FIXED_NOREPLACE)),
		      -1, 0);
	if (p == MAP_FAILED) {
		rc = -errno;
		syscall(SYS_close, myfd);
		errno = -rc;
		return MAP_FAILED;
	}
	/* Whatever was trapped there before is gone now. */
	shim_bar_unmapped(p, len);
	shim_sig_enter();
	pthread_mutex_lock(&bar_lock);
	rc = bar_add_locked((uintptr_t)p, len, myfd, region, region_off, NULL);
	pthread_mutex_unlock(&bar_lock);
	shim_sig_leave();
	if (rc) {
		syscall(SYS_munmap, p, len);
		syscall(SYS_close, myfd);
		errno = -rc;
		return MAP_FAILED;
	}
	/*
	 * Where it is, for a legacy container's MAP_DMA of it (peer to
	 * peer).  Best effort: without it the mapping still works, only
	 * such a MAP_DMA fails (-EFAULT), as it did before.
	 */
	shim_srv_bar_mapped(fd, (uint64_t)off, (len + 4095) & ~(size_t)4095,
			    prot, (uint64_t)(uintptr_t)p);
	return p;
}

void *shim_bar_mmap_local(shim_mmap_fn real_mmap,
			  mmio_trap_sigaction_fn real_sa, void *addr,
			  size_t len, int prot, int flags,
			  const struct ufd_file *file, off_t off)
{
	struct ufd_file_mmap where;
	void *p;
	int rc;

	if ((flags & MAP_TYPE) != MAP_SHARED &&
	    (flags & MAP_TYPE) != MAP_SHARED_VALIDATE) {
		errno = EINVAL;
		return MAP_FAILED;
	}
	if (!len || off < 0) {
		errno = EINVAL;
		return MAP_FAILED;
	}
	shim_sig_enter();
	rc = ufd_file_mmap(file, (uint64_t)off, len, prot, &where);
	if (!rc && !where.trapped)
		rc = -ENODEV;
	if (!rc)
		rc = bar_local_get(file, where.region);
	shim_sig_leave();
	if (rc) {
		errno = -rc;
		return MAP_FAILED;
	}
	if (!mmio_trap_installed()) {
		rc = mmio_trap_install(real_sa);
		if (rc && rc != -EALREADY)
			goto err_put;
	}
	p = real_mmap(addr, len, PROT_NONE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE |
			      (flags & (MAP_FIXED | MAP_FIXED_NOREPLACE)),
		      -1, 0);
	if (p == MAP_FAILED) {
		rc = -errno;
		goto err_put;
	}
	shim_bar_unmapped(p, len);
	shim_sig_enter();
	pthread_mutex_lock(&bar_lock);
	rc = bar_add_locked((uintptr_t)p, len, -1, where.region,
			    where.region_off, file);
	pthread_mutex_unlock(&bar_lock);
	shim_sig_leave();
	if (rc) {
		syscall(SYS_munmap, p, len);
		goto err_put;
	}
	return p;

err_put:
	shim_sig_enter();
	bar_local_put(file, where.region);
	shim_sig_leave();
	errno = -rc;
	return MAP_FAILED;
}
