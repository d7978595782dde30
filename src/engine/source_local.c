/* SPDX-License-Identifier: MIT */
/*
 * The local memory source: this process's own address space.
 *
 * Reads and writes go through process_vm_readv/writev on our own pid, so
 * an unmapped or protected address is -EFAULT instead of a crash, and the
 * data is always the live memory.  Pinning faults the range in with
 * MADV_POPULATE_(READ|WRITE) (a write fault breaks copy-on-write, so the
 * page that is pinned is the one the program keeps using); the engine
 * reaches a pinned page at its own address.  Page identity is the frame
 * number from /proc/self/pagemap where the system shows it (root), else
 * the address.
 *
 * Limits (documented in docs/memory-sources.md): a pin does not stop the
 * program from unmapping or remapping the memory, as a kernel pin would.
 *
 * Locking: none needed; the source is immutable after creation, its
 * reference count is atomic.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#include "engine/engine.h"
#include "linux_compat.h"

static int local_xfer(struct ufd_source *src, uint64_t uaddr, void *buf,
		      size_t len, bool write)
{
	pid_t self = src->owner_pid;

	while (len) {
		struct iovec local = { .iov_base = buf, .iov_len = len };
		struct iovec remote = { .iov_base = (void *)(uintptr_t)uaddr,
					.iov_len = len };
		ssize_t n;

		n = write ? process_vm_writev(self, &local, 1, &remote, 1, 0) :
			    process_vm_readv(self, &local, 1, &remote, 1, 0);
		if (n <= 0)
			return -EFAULT;
		buf = (char *)buf + n;
		uaddr += (uint64_t)n;
		len -= (size_t)n;
	}
	return 0;
}

static int local_read(struct ufd_source *src, void *dst, uint64_t uaddr,
		      size_t len)
{
	if (uaddr + len < uaddr)
		return -EFAULT;
	return local_xfer(src, uaddr, dst, len, false);
}

static int local_write(struct ufd_source *src, uint64_t uaddr,
		       const void *buf, size_t len)
{
	if (uaddr + len < uaddr)
		return -EFAULT;
	return local_xfer(src, uaddr, (void *)buf, len, true);
}

/* Does this kernel know MADV_POPULATE_(READ|WRITE) (5.14)?  Asked once. */
static bool have_populate(void)
{
	static int known = -1;

	if (known < 0) {
		void *p = mmap(NULL, UFD_PAGE_SIZE, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		known = p != MAP_FAILED &&
			!madvise(p, UFD_PAGE_SIZE, MADV_POPULATE_WRITE);
		if (p != MAP_FAILED)
			munmap(p, UFD_PAGE_SIZE);
	}
	return known;
}

static int local_pin(struct ufd_source *src, uint64_t uaddr, size_t len,
		     bool writable, void **host)
{
	int advice = writable ? MADV_POPULATE_WRITE : MADV_POPULATE_READ;
	char probe;
	size_t off;

	if (!uaddr || uaddr + len < uaddr)
		return -EFAULT;
	if (have_populate()) {
		/*
		 * Unmapped memory, or a write pin of memory the program cannot
		 * write (EINVAL, EFAULT, ENOMEM): the kernel's pin fails EFAULT.
		 */
		if (madvise((void *)(uintptr_t)uaddr, len, advice))
			return -EFAULT;
	} else {
		/* An older kernel: touch every page. */
		for (off = 0; off < len; off += UFD_PAGE_SIZE) {
			if (local_xfer(src, uaddr + off, &probe, 1, false))
				return -EFAULT;
			if (writable &&
			    local_xfer(src, uaddr + off, &probe, 1, true))
				return -EFAULT;
		}
	}
	*host = (void *)(uintptr_t)uaddr;
	return 0;
}

static void local_unpin(struct ufd_source *src, uint64_t uaddr, size_t len,
			void *host)
{
}

/*
 * Opened per call: only the test ops ask, and a cached fd would be the
 * parent's after fork or could be closed under us by the program.
 */
static int pagemap_ident(uint64_t addr, uint64_t *ident)
{
	uint64_t entry;
	ssize_t n;
	int fd;

	*ident = ALIGN_DOWN_U64(addr, UFD_PAGE_SIZE);
	fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = pread(fd, &entry, sizeof(entry),
		  (off_t)(addr / UFD_PAGE_SIZE * sizeof(entry)));
	close(fd);
	if (n != sizeof(entry))
		return 0;
	if ((entry >> 63) & 1) {
		uint64_t pfn = entry & ((1ULL << 55) - 1);

		if (pfn)
			*ident = pfn << UFD_PAGE_SHIFT | 1; /* tag: a frame */
	}
	return 0;
}

static int local_page_ident(struct ufd_source *src, uint64_t uaddr,
			    uint64_t *ident)
{
	char probe;

	if (local_xfer(src, uaddr, &probe, 1, false))
		return -EFAULT;
	return pagemap_ident(uaddr, ident);
}

static int local_host_ident(struct ufd_source *src, const void *host,
			    uint64_t *ident)
{
	return local_page_ident(src, (uintptr_t)host, ident);
}

static void local_release(struct ufd_source *src)
{
	free(src);
}

/* The trusted variant: the embedder vouches for the memory. */
static int trusted_read(struct ufd_source *src, void *dst, uint64_t uaddr,
			size_t len)
{
	if (!uaddr || uaddr + len < uaddr)
		return -EFAULT;
	memcpy(dst, (const void *)(uintptr_t)uaddr, len);
	return 0;
}

static int trusted_write(struct ufd_source *src, uint64_t uaddr,
			 const void *buf, size_t len)
{
	if (!uaddr || uaddr + len < uaddr)
		return -EFAULT;
	memcpy((void *)(uintptr_t)uaddr, buf, len);
	return 0;
}

static int trusted_pin(struct ufd_source *src, uint64_t uaddr, size_t len,
		       bool writable, void **host)
{
	if (!uaddr || uaddr + len < uaddr)
		return -EFAULT;
	*host = (void *)(uintptr_t)uaddr;
	return 0;
}

static const struct ufd_source_ops trusted_ops = {
	.read = trusted_read,
	.write = trusted_write,
	.pin = trusted_pin,
	.unpin = local_unpin,
	.page_ident = local_page_ident,
	.host_ident = local_host_ident,
	.release = local_release,
};

static const struct ufd_source_ops local_ops = {
	.read = local_read,
	.write = local_write,
	.pin = local_pin,
	.unpin = local_unpin,
	.page_ident = local_page_ident,
	.host_ident = local_host_ident,
	.release = local_release,
};

struct ufd_source *ufd_source_local(void)
{
	struct ufd_source *src = ufd_zalloc(sizeof(*src));

	if (!src)
		return NULL;
	src->ops = &local_ops;
	src->refs = 1;
	src->owner_pid = getpid();
	src->space_id = (uint64_t)src->owner_pid;
	return src;
}

struct ufd_source *ufd_source_local_trusted(void)
{
	struct ufd_source *src = ufd_source_local();

	if (src)
		src->ops = &trusted_ops;
	return src;
}

/* The reference count is atomic: sources are shared by engines (and by
 * the embedder, who puts its own reference without any engine lock). */
void ufd_source_get(struct ufd_source *src)
{
	__atomic_fetch_add(&src->refs, 1, __ATOMIC_RELAXED);
}

void ufd_source_put(struct ufd_source *src)
{
	/* Acquire-release: the last put sees every other user's writes. */
	if (!__atomic_sub_fetch(&src->refs, 1, __ATOMIC_ACQ_REL))
		src->ops->release(src);
}
