// SPDX-License-Identifier: MIT
/*
 * Shared anonymous memory as memfds, for server mode.
 *
 * Model.  A MAP_SHARED|MAP_ANONYMOUS mapping is, inside the kernel, a
 * mapping of an unnamed shmem file.  This library makes that file a memfd
 * instead ("uiommufd-shm", the same shmem pages, the same semantics for
 * the program and for its fork children), sealed against shrinking and
 * growing, and keeps its fd open (close-on-exec, at a high number) for as
 * long as the mapping exists in this process.  The daemon can then take
 * the file from the process (pidfd_getfd) and map the same pages itself:
 * that is how a pin of shared memory outlives the process that made it
 * (the selftest's fork_gone).  The seal guarantees the daemon never
 * touches a page past the end of the file.  Hugetlb mappings become
 * hugetlb memfds of the same page size.
 *
 * The table: which ranges of this process map which of these memfds, at
 * which file offset; munmap() and mremap() keep it right, so an fd is
 * closed when the last range that maps its file is gone (the memory is
 * then freed as the kernel would free it).  A range changed behind the
 * library's back (raw syscalls) only delays that; the daemon always checks
 * /proc/PID/maps itself before it maps anything.
 *
 * Ranges are [start, end), end exclusive (addresses of this process).
 * Nothing here calls a libc function the library wraps: memfds are closed
 * and fcntl'ed with raw syscalls.
 *
 * Locking: shm_lock guards the table (a leaf lock; fork handlers take it).
 * mmap() may run before main() (a constructor): everything here works
 * without initialisation.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "shim/client.h"
#include "shim/fdtab.h"
#include "shim/shm.h"
#include "linux_compat.h"

#define SHM_HUGE_BITS (0x3fU << 26) /* MAP_HUGE_MASK << MAP_HUGE_SHIFT */
#define SHM_FD_BASE 720

struct shm_file {
	int fd;
	dev_t dev;
	ino_t ino;
	unsigned int nregions; /* table entries naming it */
};

struct shm_region {
	uintptr_t start, end; /* [start, end) */
	uint64_t off;         /* file offset at start */
	struct shm_file *file;
};

static pthread_mutex_t shm_lock = PTHREAD_MUTEX_INITIALIZER;
static struct shm_region *regions; /* shm_lock */
static size_t nregions, capregions; /* shm_lock; nregions read racily */

bool shim_shm_empty(void)
{
	return __atomic_load_n(&nregions, __ATOMIC_RELAXED) == 0;
}

static void file_put(struct shm_file *f)
{
	struct stat st;

	if (--f->nregions)
		return;
	/* Close it only if the number is still that memfd. */
	if (!fstat(f->fd, &st) && st.st_dev == f->dev && st.st_ino == f->ino)
		syscall(SYS_close, f->fd);
	free(f);
}

static int table_add(uintptr_t start, uintptr_t end, uint64_t off,
		     struct shm_file *f)
{
	struct shm_region *grown;

	if (nregions == capregions) {
		size_t cap = capregions ? capregions * 2 : 16;

		grown = realloc(regions, cap * sizeof(*regions));
		if (!grown)
			return -ENOMEM;
		regions = grown;
		capregions = cap;
	}
	regions[nregions].start = start;
	regions[nregions].end = end;
	regions[nregions].off = off;
	regions[nregions].file = f;
	f->nregions++;
	__atomic_store_n(&nregions, nregions + 1, __ATOMIC_RELAXED);
	return 0;
}

static void table_del(size_t i)
{
	struct shm_file *f = regions[i].file;

	regions[i] = regions[nregions - 1];
	__atomic_store_n(&nregions, nregions - 1, __ATOMIC_RELAXED);
	file_put(f);
}

/* Take [a, b) out of every region.  shm_lock held. */
static void table_cut(uintptr_t a, uintptr_t b)
{
	size_t i = 0;

	while (i < nregions) {
		struct shm_region *r = &regions[i];

		if (r->end <= a || r->start >= b) {
			i++;
			continue;
		}
		if (r->start >= a && r->end <= b) {
			table_del(i);
			continue; /* slot i now holds another region */
		}
		if (r->start < a && r->end > b) {
			/* A hole in the middle: keep the right part too. */
			struct shm_region right = *r;

			right.off += b - r->start;
			right.start = b;
			r->end = a;
			table_add(right.start, right.end, right.off,
				  right.file);
			i++;
			continue;
		}
		if (r->start < a) {
			r->end = a;
		} else {
			r->off += b - r->start;
			r->start = b;
		}
		i++;
	}
}

void *shim_shm_mmap(shim_mmap_fn real, void *addr, size_t len, int prot,
		    int flags, int fd, off_t off)
{
	unsigned int mfd_flags = MFD_CLOEXEC | MFD_ALLOW_SEALING;
	struct shm_file *f = NULL;
	struct stat st;
	size_t size, blk;
	int saved = errno, memfd, hi;
	void *p;

	if (!len || !shim_srv_enabled())
		return real(addr, len, prot, flags, fd, off);
	if (flags & MAP_HUGETLB)
		mfd_flags |= MFD_HUGETLB | ((unsigned int)flags & SHM_HUGE_BITS);
	memfd = memfd_create("uiommufd-shm", mfd_flags);
	if (memfd < 0)
		goto plain;
	if (fstat(memfd, &st))
		goto plain_close;
	blk = st.st_blksize > 0 && !(st.st_blksize & (st.st_blksize - 1)) ?
		      (size_t)st.st_blksize :
		      4096;
	size = (len + blk - 1) & ~(blk - 1);
	if (size < len || ftruncate(memfd, (off_t)size))
		goto plain_close;
	syscall(SYS_fcntl, memfd, F_ADD_SEALS,
		F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
	f = calloc(1, sizeof(*f));
	if (!f)
		goto plain_close;
	p = real(addr, len, prot, flags & ~MAP_ANONYMOUS, memfd, 0);
	if (p == MAP_FAILED)
		goto plain_close;
	hi = (int)syscall(SYS_fcntl, memfd, F_DUPFD_CLOEXEC, SHM_FD_BASE);
	if (hi >= 0) {
		syscall(SYS_close, memfd);
		memfd = hi;
	}
	f->fd = memfd;
	f->dev = st.st_dev;
	f->ino = st.st_ino;
	shim_sig_enter();
	pthread_mutex_lock(&shm_lock);
	/* A MAP_FIXED mapping replaced whatever was there. */
	table_cut((uintptr_t)p, (uintptr_t)p + size);
	if (table_add((uintptr_t)p, (uintptr_t)p + size, 0, f)) {
		/* Untracked: the fd then lives as long as the process. */
		free(f);
	}
	pthread_mutex_unlock(&shm_lock);
	shim_sig_leave();
	errno = saved;
	return p;

plain_close:
	free(f);
	syscall(SYS_close, memfd);
plain:
	errno = saved;
	return real(addr, len, prot, flags, fd, off);
}

void shim_shm_unmapped(void *addr, size_t len)
{
	uintptr_t a = (uintptr_t)addr, b;

	if (!len || __builtin_add_overflow(a, len, &b))
		return;
	b = (b + 4095) & ~(uintptr_t)4095;
	shim_sig_enter();
	pthread_mutex_lock(&shm_lock);
	table_cut(a, b);
	pthread_mutex_unlock(&shm_lock);
	shim_sig_leave();
}

void shim_shm_remapped(void *old, size_t oldlen, void *new_addr,
		       size_t newlen, int flags)
{
	uintptr_t o = (uintptr_t)old, n = (uintptr_t)new_addr;
	struct shm_file *f = NULL;
	uint64_t off = 0;
	size_t i;

	shim_sig_enter();
	pthread_mutex_lock(&shm_lock);
	for (i = 0; i < nregions; i++) {
		if (regions[i].start <= o && o < regions[i].end) {
			f = regions[i].file;
			off = regions[i].off + (o - regions[i].start);
			f->nregions++; /* keep it while we cut */
			break;
		}
	}
	if (!(flags & MREMAP_DONTUNMAP))
		table_cut(o, o + ((oldlen + 4095) & ~(size_t)4095));
	table_cut(n, n + ((newlen + 4095) & ~(size_t)4095));
	if (f) {
		table_add(n, n + ((newlen + 4095) & ~(size_t)4095), off, f);
		file_put(f);
	}
	pthread_mutex_unlock(&shm_lock);
	shim_sig_leave();
}

void shim_shm_atfork_prepare(void)
{
	shim_sig_enter();
	pthread_mutex_lock(&shm_lock);
}

void shim_shm_atfork_parent(void)
{
	pthread_mutex_unlock(&shm_lock);
	shim_sig_leave();
}

void shim_shm_atfork_child(void)
{
	/* Mappings and fds are inherited together: the table stays right. */
	pthread_mutex_unlock(&shm_lock);
	shim_sig_leave();
}
