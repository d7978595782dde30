/* SPDX-License-Identifier: MIT */
/*
 * The file memory source: a byte range of a file (a memfd, a tmpfs or
 * hugetlbfs file), for IOMMU_IOAS_MAP_FILE and the selftest's dma-bufs.
 *
 * Model.  The source's addresses are file offsets.  When it is made, the
 * engine's process maps the whole range [start, start + length) of the
 * file MAP_SHARED (rounded out to the file's page size, st_blksize, which
 * is the huge page size on hugetlbfs), so the source holds the file and
 * its pages for as long as it lives, whatever the program does to its own
 * mappings of the file or to its fd: that mapping is the pin, as the
 * kernel's pin holds the folios.  Pinning faults the pages in
 * (MADV_POPULATE_WRITE for a writable pin, else _READ) and returns where
 * the mapping has them; unpinning does nothing (the mapping stays until
 * the last reference goes).  Reads and writes use process_vm_readv/writev
 * on our own mapping, so a page the file lost (a shrinking ftruncate) is
 * -EFAULT rather than a SIGBUS.  host_direct is yes while the source is
 * not revoked.
 *
 * Page identity: the frame number from /proc/self/pagemap where the
 * system shows it, the number every other source reports for the same
 * page; otherwise (file, offset) as the remote source computes it for
 * shared file memory (ufd_file_ident()).  The identity of each page is
 * recorded when it is pinned, so the selftest's MD_CHECK_REFS can find
 * the pins on a program's page that a file map holds
 * (file_source_find_ident()).
 *
 * Revocation (a dma-buf's exporter taking the memory back): while
 * revoked, host_direct is no, so the IOPTEs of its areas are INDIRECT and
 * DMA through them faults; ufd_source_file_revoke() makes the existing
 * IOPTEs again, under the DMA lock, both ways.  New maps of a revoked
 * source fail with -ENODEV (ufd_ioas_map_file()).
 *
 * Offsets are bytes; ranges [start, last] are inclusive where named so.
 * Locking: fs->lock (a leaf) guards the recorded identities and the
 * revoked flag; everything else is immutable after creation.
 */
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "engine/engine.h"
#include "linux_compat.h"

struct fsrc {
	struct ufd_source src;
	pthread_mutex_t lock;
	char *map;           /* file bytes [map_off, map_off + map_len) */
	uint64_t map_off, map_len;
	dev_t dev;
	ino_t ino;
	bool writable;
	bool revoked;        /* lock */
	uint64_t *idents;    /* per 4 KiB page of the mapping, 0: not pinned */
};

static const struct ufd_source_ops file_ops;

static struct fsrc *to_fsrc(struct ufd_source *src)
{
	return container_of(src, struct fsrc, src);
}

bool source_is_file(const struct ufd_source *src)
{
	return src->ops == &file_ops;
}

uint64_t ufd_file_ident(uint64_t dev, uint64_t ino, uint64_t off)
{
	uint64_t h = (dev * 1000003ULL) ^ ino;

	return ((h & 0xfffffULL) << 44) |
	       (((off / UFD_PAGE_SIZE) & 0xffffffffULL) << UFD_PAGE_SHIFT) | 2;
}

/* Is [off, off + len) inside the mapping?  Then where it is. */
static char *file_at(struct fsrc *fs, uint64_t off, uint64_t len)
{
	if (off < fs->map_off || len > fs->map_len ||
	    off - fs->map_off > fs->map_len - len)
		return NULL;
	return fs->map + (off - fs->map_off);
}

static int file_xfer(struct fsrc *fs, uint64_t off, void *buf, size_t len,
		     bool write)
{
	char *p = file_at(fs, off, len);

	if (!p || (write && !fs->writable))
		return -EFAULT;
	while (len) {
		struct iovec local = { .iov_base = buf, .iov_len = len };
		struct iovec remote = { .iov_base = p, .iov_len = len };
		ssize_t n;

		n = write ? process_vm_writev(getpid(), &local, 1, &remote, 1,
					      0) :
			    process_vm_readv(getpid(), &local, 1, &remote, 1, 0);
		if (n <= 0)
			return -EFAULT;
		buf = (char *)buf + n;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int file_read(struct ufd_source *src, void *dst, uint64_t off,
		     size_t len)
{
	return file_xfer(to_fsrc(src), off, dst, len, false);
}

static int file_write(struct ufd_source *src, uint64_t off, const void *buf,
		      size_t len)
{
	return file_xfer(to_fsrc(src), off, (void *)buf, len, true);
}

/* The identity of the page at @p of our mapping (file offset @off). */
static uint64_t map_ident(struct fsrc *fs, const char *p, uint64_t off)
{
	uint64_t entry = 0;
	int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);

	if (fd >= 0) {
		if (pread(fd, &entry, sizeof(entry),
			  (off_t)((uintptr_t)p / UFD_PAGE_SIZE *
				  sizeof(entry))) != sizeof(entry))
			entry = 0;
		close(fd);
	}
	if ((entry >> 63) & 1 && (entry & ((1ULL << 55) - 1)))
		return (entry & ((1ULL << 55) - 1)) << UFD_PAGE_SHIFT | 1;
	return ufd_file_ident(fs->dev, fs->ino, off);
}

static int file_pin(struct ufd_source *src, uint64_t off, size_t len,
		    bool writable, void **host)
{
	struct fsrc *fs = to_fsrc(src);
	char *p = file_at(fs, off, len);
	uint64_t i, first;

	if (!p || (writable && !fs->writable))
		return -EFAULT;
	/* A page past the end of the file (it shrank) cannot be had. */
	if (madvise(p, len, writable ? MADV_POPULATE_WRITE : MADV_POPULATE_READ))
		return -EFAULT;
	first = (uint64_t)(p - fs->map) / UFD_PAGE_SIZE;
	for (i = 0; i < len / UFD_PAGE_SIZE; i++) {
		uint64_t ident = map_ident(fs, p + i * UFD_PAGE_SIZE,
					   off + i * UFD_PAGE_SIZE);

		pthread_mutex_lock(&fs->lock);
		fs->idents[first + i] = ident;
		pthread_mutex_unlock(&fs->lock);
	}
	*host = p;
	return 0;
}

static void file_unpin(struct ufd_source *src, uint64_t off, size_t len,
		       void *host)
{
	struct fsrc *fs = to_fsrc(src);
	char *p = file_at(fs, off, len);

	if (!p)
		return;
	pthread_mutex_lock(&fs->lock);
	memset(&fs->idents[(uint64_t)(p - fs->map) / UFD_PAGE_SIZE], 0,
	       len / UFD_PAGE_SIZE * sizeof(uint64_t));
	pthread_mutex_unlock(&fs->lock);
}

static int file_page_ident(struct ufd_source *src, uint64_t off,
			   uint64_t *ident)
{
	struct fsrc *fs = to_fsrc(src);
	char probe;
	char *p;

	off = ALIGN_DOWN_U64(off, UFD_PAGE_SIZE);
	p = file_at(fs, off, UFD_PAGE_SIZE);
	if (!p || file_xfer(fs, off, &probe, 1, false))
		return -EFAULT;
	*ident = map_ident(fs, p, off);
	return 0;
}

static int file_host_ident(struct ufd_source *src, const void *host,
			   uint64_t *ident)
{
	struct fsrc *fs = to_fsrc(src);
	const char *h = host;

	if (h < fs->map || (uint64_t)(h - fs->map) >= fs->map_len)
		return -EFAULT;
	return file_page_ident(src, fs->map_off + (uint64_t)(h - fs->map),
			       ident);
}

static bool file_host_direct(struct ufd_source *src, uint64_t off, size_t len)
{
	struct fsrc *fs = to_fsrc(src);
	bool revoked;

	pthread_mutex_lock(&fs->lock);
	revoked = fs->revoked;
	pthread_mutex_unlock(&fs->lock);
	return !revoked && file_at(fs, off, len);
}

static void file_release(struct ufd_source *src)
{
	struct fsrc *fs = to_fsrc(src);

	munmap(fs->map, fs->map_len);
	pthread_mutex_destroy(&fs->lock);
	free(fs->idents);
	free(fs);
}

static const struct ufd_source_ops file_ops = {
	.read = file_read,
	.write = file_write,
	.pin = file_pin,
	.unpin = file_unpin,
	.page_ident = file_page_ident,
	.host_ident = file_host_ident,
	.host_direct = file_host_direct,
	.release = file_release,
};

int ufd_source_file(int fd, uint64_t start, uint64_t length, bool writable,
		    struct ufd_source **out)
{
	static uint64_t next_space = 1;
	uint64_t end, blk, map_off, map_end;
	struct fsrc *fs;
	struct stat st;
	void *map;
	int flags;

	if (fstat(fd, &st))
		return -EBADF;
	flags = fcntl(fd, F_GETFL);
	if (flags < 0)
		return -EBADF;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	if (!length || __builtin_add_overflow(start, length, &end))
		return -EINVAL;
	/* Only what the file has now: not past its end. */
	if (end > (uint64_t)st.st_size)
		return -EINVAL;
	if (writable && (flags & O_ACCMODE) == O_RDONLY)
		return -EACCES;
	blk = st.st_blksize > 0 ? (uint64_t)st.st_blksize : UFD_PAGE_SIZE;
	if (blk & (blk - 1) || blk < UFD_PAGE_SIZE)
		blk = UFD_PAGE_SIZE;
	map_off = ALIGN_DOWN_U64(start, blk);
	map_end = ALIGN_DOWN_U64(end + blk - 1, blk);
	fs = ufd_zalloc(sizeof(*fs));
	if (!fs)
		return -ENOMEM;
	fs->idents = ufd_calloc((map_end - map_off) / UFD_PAGE_SIZE,
				sizeof(uint64_t));
	if (!fs->idents) {
		free(fs);
		return -ENOMEM;
	}
	map = mmap(NULL, map_end - map_off,
		   PROT_READ | (writable ? PROT_WRITE : 0), MAP_SHARED, fd,
		   (off_t)map_off);
	if (map == MAP_FAILED) {
		int err = errno;

		free(fs->idents);
		free(fs);
		return err == ENOMEM ? -ENOMEM : -EINVAL;
	}
	fs->src.ops = &file_ops;
	fs->src.refs = 1;
	/* Apart from pids (local) and remote spaces (bit 63). */
	fs->src.space_id = (1ULL << 62) |
			   __atomic_fetch_add(&next_space, 1, __ATOMIC_RELAXED);
	pthread_mutex_init(&fs->lock, NULL);
	fs->map = map;
	fs->map_off = map_off;
	fs->map_len = map_end - map_off;
	fs->dev = st.st_dev;
	fs->ino = st.st_ino;
	fs->writable = writable;
	*out = &fs->src;
	return 0;
}

int ufd_source_file_revoke(struct ufd_engine *eng, struct ufd_source *src,
			   bool revoked)
{
	struct fsrc *fs = to_fsrc(src);
	struct ufd_ctx *ctx;
	int ret = 0, rc;

	eng_lock(eng);
	/* No DMA runs while the IOPTEs change (engine.h). */
	dma_write_begin(eng);
	pthread_mutex_lock(&fs->lock);
	fs->revoked = revoked;
	pthread_mutex_unlock(&fs->lock);
	for (ctx = eng->ctx_list; ctx; ctx = ctx->next) {
		uint32_t id;

		for (id = 1; id < ctx->next_unused; id++) {
			struct ufd_obj *obj = ctx->objs[id];

			if (!obj || obj->type != UFD_OBJ_IOAS)
				continue;
			rc = iopt_reprot_source(
				&container_of(obj, struct ufd_ioas, obj)->iopt,
				src);
			if (rc && !ret)
				ret = rc;
		}
	}
	dma_write_end(eng);
	eng_unlock(eng);
	return ret;
}

bool ufd_source_file_revoked(struct ufd_source *src)
{
	struct fsrc *fs = to_fsrc(src);
	bool revoked;

	pthread_mutex_lock(&fs->lock);
	revoked = fs->revoked;
	pthread_mutex_unlock(&fs->lock);
	return revoked;
}

bool file_source_find_ident(struct ufd_source *src, uint64_t off,
			    uint64_t npages, uint64_t ident,
			    uint64_t *found_off)
{
	struct fsrc *fs = to_fsrc(src);
	bool found = false;
	uint64_t i, first;

	if (!file_at(fs, off, npages * UFD_PAGE_SIZE))
		return false;
	first = (off - fs->map_off) / UFD_PAGE_SIZE;
	pthread_mutex_lock(&fs->lock);
	for (i = 0; i < npages; i++) {
		if (fs->idents[first + i] == ident) {
			*found_off = off + i * UFD_PAGE_SIZE;
			found = true;
			break;
		}
	}
	pthread_mutex_unlock(&fs->lock);
	return found;
}
