/* SPDX-License-Identifier: MIT */
/*
 * The remote memory source: the address space of another process, as the
 * daemon of server mode reaches it (the DESIGN's "remote process" source).
 *
 * Model.  Reads and writes go to the live memory of the process with
 * process_vm_readv/writev, so a bad pointer is -EFAULT and the data is
 * never a snapshot; or, for the process whose call this thread serves,
 * through the caller itself, where the transport offers a way
 * (ufd_source_remote_set_caller_xfer: the ring's transfers, proto.h),
 * which copies the same live memory for less than the system calls.  Pinning looks at the process's mappings
 * (/proc/PID/maps: one PROCMAP_QUERY ioctl per mapping of the range where
 * the kernel has it, on a maps fd opened with the source, else the file
 * read whole) and checks them as get_user_pages would (mapped, readable,
 * writable for a write pin; else -EFAULT).  Then, per piece:
 *
 *  - shared file memory (MAP_SHARED of a memfd or other shmem/hugetlbfs
 *    file sealed against shrinking; the preload library turns the
 *    program's MAP_SHARED|MAP_ANONYMOUS mappings into such memfds): the
 *    daemon takes the file from the process (pidfd_getfd() of the fd that
 *    the process holds, or /proc/PID/map_files where permitted) and maps
 *    the same pages itself.  That mapping IS the pin: it keeps the pages,
 *    survives the process, stays coherent with it (same pages), and is
 *    where the engine reaches them (host pointer).  Reads and writes of a
 *    pinned range use it, so they keep working after the process is gone,
 *    as DMA to pinned pages does.  The shrink seal guarantees the daemon
 *    never touches a page past the end of the file (no SIGBUS).
 *  - anything else (private memory): the pages are faulted in and checked
 *    with process_vm_readv (except for a writable pin of anonymous
 *    memory, which cannot fail to fault in: its mapping's check is the
 *    whole of get_user_pages's); afterwards they are reached by address
 *    with process_vm_*.  Such a "pin" cannot outlive the process (the
 *    kernel would keep the pages; nothing in userspace can), and the pin
 *    returns no host pointer.
 *
 * Pinning when the process is gone fails with -EFAULT, as the kernel's
 * does when the mm has exited, even where the file could still be reached.
 *
 * Pins are kept as non-overlapping segments of page-granular client
 * addresses [start, last] (inclusive), each with a pin count and the
 * daemon mapping it uses (if any); pin and unpin split segments at their
 * bounds, so any page-aligned range can be pinned and unpinned, in any
 * pieces, as pages.c does.
 *
 * Page identity: the page frame number from /proc/PID/pagemap where the
 * system shows it (the daemon has CAP_SYS_ADMIN), the same number the
 * local source and the daemon's own mapping report for the same page;
 * otherwise (file, offset) for shared file memory and the address for
 * private memory.
 *
 * Locking: rs->lock (a leaf lock, below the engine lock) guards the
 * segments, the mappings and `dead`.  It is held while copying to or from
 * a daemon mapping (which unpin could otherwise unmap), and dropped around
 * process_vm_* calls, which may wait on the other process.
 */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <unistd.h>

#include "engine/engine.h"
#include "server/source_remote.h"
#include "linux_compat.h"

#define RPAGE UFD_PAGE_SIZE
#define ALIGN_UP_U64(x, a) (((x) + (a) - 1) & ~((uint64_t)(a) - 1))

/*
 * Host windows.  The engine reaches a pages object's pages at one
 * contiguous host range (pages.c keeps a single host base per object), so
 * the host address of a client address must not depend on how the range
 * was pinned.  Each aligned 64 GiB of client address space that has pins
 * gets a window: 64 GiB of reserved (PROT_NONE, no memory) daemon address
 * space, 1 GiB aligned so that any huge page maps at a matching alignment;
 * client address a is reached at window->hbase + (a - window->cbase).
 * Pinned shared-file pages are mapped into the window at their place;
 * unpinned places go back to PROT_NONE.  A range that crosses windows must
 * stay contiguous: the windows a pin lacks are reserved together, in one
 * piece, right after (or before) an existing neighbour's; a window made
 * with no neighbour gets a window's worth of free address space left on
 * either side, where its neighbours go later.  (Placed anywhere, a
 * window's neighbour almost never fits next to it: the kernel puts
 * mappings top-down, right below the daemon's others, and a 1 GiB
 * mapping of a program crosses a 64 GiB boundary once in 64.)  Where a
 * neighbour still cannot be placed, pinning across the two fails.
 */
#define WIN_SHIFT 36
#define WIN_SIZE (1ULL << WIN_SHIFT)
#define WIN_ALIGN (1ULL << 30)

struct rwin {
	struct rwin *next;
	uint64_t cbase;     /* client address of the start, WIN_SIZE aligned */
	char *hbase;        /* in the daemon */
};

/* Pinned client pages [start, last]. */
struct rseg {
	struct itree_node node;
	unsigned int pins;
	bool mapped;        /* the file's pages are mapped in the window */
	bool writable;      /* ... with PROT_WRITE */
	uint64_t blk;       /* the file's page size: the mapping granule */
	dev_t dev;
	ino_t ino;
	uint64_t off;       /* file offset of node.start */
};

struct rsrc {
	struct ufd_source src;
	pid_t pid;
	int pidfd;
	int pagemap_fd;     /* /proc/PID/pagemap, opened at creation */
	int maps_fd;        /* /proc/PID/maps, likewise (PROCMAP_QUERY) */
	bool no_query;      /* atomic: the kernel has no PROCMAP_QUERY */
	pthread_mutex_t lock;
	bool dead;          /* lock; sticky */
	struct itree segs;  /* lock */
	struct rwin *wins;  /* lock */
	unsigned long mapped_pages; /* lock; pages of mapped segments */
};

/* One line of /proc/PID/maps. */
struct rvma {
	uint64_t start, end; /* [start, end) */
	uint64_t off;
	dev_t dev;
	ino_t ino;
	bool r, w, shared;
};

static const struct ufd_source_ops remote_ops;

static struct rsrc *to_rsrc(struct ufd_source *src)
{
	return container_of(src, struct rsrc, src);
}

static struct rseg *seg_of(struct itree_node *n)
{
	return n ? container_of(n, struct rseg, node) : NULL;
}

/* ---- liveness -------------------------------------------------------------- */

static bool rs_alive_locked(struct rsrc *rs)
{
	struct pollfd p = { .fd = rs->pidfd, .events = POLLIN };

	if (rs->dead)
		return false;
	/* A pidfd polls readable once the process has exited. */
	if (poll(&p, 1, 0) != 0)
		rs->dead = true;
	return !rs->dead;
}

static bool rs_alive(struct rsrc *rs)
{
	bool alive;

	pthread_mutex_lock(&rs->lock);
	alive = rs_alive_locked(rs);
	pthread_mutex_unlock(&rs->lock);
	return alive;
}

bool ufd_source_remote_alive(struct ufd_source *src)
{
	return rs_alive(to_rsrc(src));
}

void ufd_source_remote_retire(struct ufd_source *src)
{
	struct rsrc *rs = to_rsrc(src);

	pthread_mutex_lock(&rs->lock);
	rs->dead = true;
	pthread_mutex_unlock(&rs->lock);
}

pid_t ufd_source_remote_pid(struct ufd_source *src)
{
	return to_rsrc(src)->pid;
}

bool ufd_source_is_remote(const struct ufd_source *src)
{
	return src->ops == &remote_ops;
}

unsigned long ufd_source_remote_mapped_pages(struct ufd_source *src)
{
	struct rsrc *rs = to_rsrc(src);
	unsigned long n;

	pthread_mutex_lock(&rs->lock);
	n = rs->mapped_pages;
	pthread_mutex_unlock(&rs->lock);
	return n;
}

/* ---- the process's memory, by address ---------------------------------------- */

/*
 * The source of the process whose request this thread is serving: it is
 * blocked in that call, so it is alive (or, killed meanwhile, not yet
 * reaped, so its pid still names it) and needs no check per copy.
 */
static __thread struct ufd_source *current_caller;
/* The caller's own way to its memory (the ring's transfers), if any. */
static __thread ufd_caller_xfer_fn caller_xfer;
static __thread void *caller_xfer_ctx;

void ufd_source_remote_read_maps_file(struct ufd_source *src)
{
	__atomic_store_n(&to_rsrc(src)->no_query, true, __ATOMIC_RELAXED);
}

void ufd_source_remote_set_caller(struct ufd_source *src)
{
	current_caller = src;
}

void ufd_source_remote_set_caller_xfer(ufd_caller_xfer_fn fn, void *ctx)
{
	caller_xfer = fn;
	caller_xfer_ctx = ctx;
}

/* Transfers through caller_xfer this long at most, in all. */
#define CALLER_XFER_MAX (16u << 10)

/*
 * Alive, as far as reaching it by pid goes: the caller needs no look (see
 * current_caller); a lookup through maps_fd needs none either way, since
 * that file is bound to the process and fails once its memory is gone.
 */
static bool rs_reachable(struct rsrc *rs)
{
	return &rs->src == current_caller || rs_alive(rs);
}

static int vm_xfer(struct rsrc *rs, uint64_t uaddr, void *buf, size_t len,
		   bool write)
{
	/* Another process: never touch a pid that may have been reused. */
	if (!rs_reachable(rs))
		return -EFAULT;
	/* The caller, which can copy for us: cheaper than the syscalls. */
	if (&rs->src == current_caller && caller_xfer &&
	    len <= CALLER_XFER_MAX) {
		long done = caller_xfer(caller_xfer_ctx, uaddr, buf, len,
					write);

		if (done < 0)
			return -EFAULT;
		buf = (char *)buf + done;
		uaddr += (uint64_t)done;
		len -= (size_t)done;
	}
	while (len) {
		struct iovec local = { .iov_base = buf, .iov_len = len };
		struct iovec remote = { .iov_base = (void *)(uintptr_t)uaddr,
					.iov_len = len };
		ssize_t n;

		n = write ? process_vm_writev(rs->pid, &local, 1, &remote, 1,
					      0) :
			    process_vm_readv(rs->pid, &local, 1, &remote, 1, 0);
		if (n <= 0)
			return -EFAULT;
		buf = (char *)buf + n;
		uaddr += (uint64_t)n;
		len -= (size_t)n;
	}
	return 0;
}

/* Fault in and check one byte of every page of [uaddr, uaddr + len). */
static int vm_touch(struct rsrc *rs, uint64_t uaddr, uint64_t len)
{
	enum { BATCH = 512 };
	struct iovec remote[BATCH];
	char scratch[BATCH];
	uint64_t off = 0;

	while (off < len) {
		struct iovec local = { .iov_base = scratch };
		unsigned int i = 0;
		ssize_t n;

		for (; i < BATCH && off < len; i++, off += RPAGE) {
			remote[i].iov_base = (void *)(uintptr_t)(uaddr + off);
			remote[i].iov_len = 1;
		}
		local.iov_len = i;
		n = process_vm_readv(rs->pid, &local, 1, remote, i, 0);
		if (n != (ssize_t)i)
			return -EFAULT;
	}
	return 0;
}

/* ---- /proc/PID/maps ---------------------------------------------------------- */

static char *read_whole(const char *path, size_t *lenp)
{
	size_t cap = 16384, len = 0;
	char *buf = malloc(cap), *grown;
	ssize_t n;
	int fd;

	if (!buf)
		return NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		free(buf);
		return NULL;
	}
	for (;;) {
		if (cap - len < 4096) {
			grown = realloc(buf, cap * 2);
			if (!grown)
				break;
			buf = grown;
			cap *= 2;
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	buf[len] = 0;
	*lenp = len;
	return buf;
}

static bool parse_vma(const char *line, struct rvma *v)
{
	unsigned long long start, end, off, ino;
	unsigned int maj, min;
	char perms[8];

	if (sscanf(line, "%llx-%llx %7s %llx %x:%x %llu", &start, &end, perms,
		   &off, &maj, &min, &ino) != 7 || strlen(perms) < 4)
		return false;
	v->start = start;
	v->end = end;
	v->off = off;
	v->dev = makedev(maj, min);
	v->ino = (ino_t)ino;
	v->r = perms[0] == 'r';
	v->w = perms[1] == 'w';
	v->shared = perms[3] == 's';
	return true;
}

/*
 * PROCMAP_QUERY (Linux 6.11): an ioctl on /proc/PID/maps that answers for
 * one address what a line of the file says, without the file.  Its ABI,
 * as <linux/fs.h> states it:
 */
#define UFD_PROCMAP_QUERY _IOWR('f', 17, struct ufd_procmap_query)
#define UFD_PROCMAP_VMA_READABLE 0x01
#define UFD_PROCMAP_VMA_WRITABLE 0x02
#define UFD_PROCMAP_VMA_SHARED 0x08
#define UFD_PROCMAP_COVERING_OR_NEXT_VMA 0x10

struct ufd_procmap_query {
	uint64_t size;
	uint64_t query_flags;
	uint64_t query_addr;
	uint64_t vma_start, vma_end; /* [start, end) */
	uint64_t vma_flags;
	uint64_t vma_page_size;
	uint64_t vma_offset;
	uint64_t inode;
	uint32_t dev_major, dev_minor;
	uint32_t vma_name_size;
	uint32_t build_id_size;
	uint64_t vma_name_addr;
	uint64_t build_id_addr;
};

_Static_assert(sizeof(struct ufd_procmap_query) == 104, "PROCMAP_QUERY ABI");

/*
 * The mapping that contains @addr or is the first above it, by
 * PROCMAP_QUERY: 0, -ENOENT (none), -ENOTTY (no such ioctl), -errno.
 */
static int query_vma(struct rsrc *rs, uint64_t addr, struct rvma *v)
{
	struct ufd_procmap_query q = {
		.size = sizeof(q),
		.query_flags = UFD_PROCMAP_COVERING_OR_NEXT_VMA,
		.query_addr = addr,
	};

	if (ioctl(rs->maps_fd, UFD_PROCMAP_QUERY, &q))
		return -errno;
	v->start = q.vma_start;
	v->end = q.vma_end;
	v->off = q.inode ? q.vma_offset : 0;
	v->dev = makedev(q.dev_major, q.dev_minor);
	v->ino = (ino_t)q.inode;
	v->r = q.vma_flags & UFD_PROCMAP_VMA_READABLE;
	v->w = q.vma_flags & UFD_PROCMAP_VMA_WRITABLE;
	v->shared = q.vma_flags & UFD_PROCMAP_VMA_SHARED;
	return 0;
}

/* Room for one more in *@vmas (capacity *@cap). */
static int vmas_grow(struct rvma **vmas, size_t n, size_t *cap)
{
	struct rvma *grown;

	if (n < *cap)
		return 0;
	grown = realloc(*vmas, (*cap ? *cap * 2 : 8) * sizeof(**vmas));
	if (!grown)
		return -ENOMEM;
	*vmas = grown;
	*cap = *cap ? *cap * 2 : 8;
	return 0;
}

/*
 * read_vmas() by PROCMAP_QUERY, one query per mapping of the range: -ENOTTY
 * if the kernel cannot (then the file is read).
 */
static int query_vmas(struct rsrc *rs, uint64_t start, uint64_t last,
		      bool write, struct rvma **out, size_t *nout)
{
	struct rvma *vmas = NULL, v;
	size_t n = 0, cap = 0;
	uint64_t cur = start;
	int rc = 0;

	if (rs->maps_fd < 0 || __atomic_load_n(&rs->no_query, __ATOMIC_RELAXED))
		return -ENOTTY;
	while (cur && cur <= last) {
		rc = query_vma(rs, cur, &v);
		if (rc == -ENOTTY || rc == -EINVAL) {
			__atomic_store_n(&rs->no_query, true, __ATOMIC_RELAXED);
			rc = -ENOTTY;
			break;
		}
		if (rc || v.start > cur || v.end <= cur || !v.r ||
		    (write && !v.w)) {
			rc = -EFAULT; /* a hole, or gone (-ESRCH) */
			break;
		}
		rc = vmas_grow(&vmas, n, &cap);
		if (rc)
			break;
		vmas[n++] = v;
		cur = v.end;
	}
	if (!rc && !rs_reachable(rs))
		rc = -EFAULT;
	if (rc) {
		free(vmas);
		return rc;
	}
	*out = vmas;
	*nout = n;
	return 0;
}

/*
 * The mappings of the process that intersect [start, last], in address
 * order, into *out (malloc'ed).  -EFAULT if the process is gone or some of
 * the range is not mapped, or not readable (writable, for @write).
 */
static int read_vmas(struct rsrc *rs, uint64_t start, uint64_t last,
		     bool write, struct rvma **out, size_t *nout)
{
	struct rvma *vmas = NULL, v;
	size_t n = 0, cap = 0, len;
	uint64_t cur = start;
	char path[64], *buf, *line, *nl;
	int rc;

	rc = query_vmas(rs, start, last, write, out, nout);
	if (rc != -ENOTTY)
		return rc;
	rc = 0;
	snprintf(path, sizeof(path), "/proc/%d/maps", (int)rs->pid);
	buf = read_whole(path, &len);
	if (!buf)
		return -EFAULT;
	for (line = buf; *line; line = nl ? nl + 1 : line + strlen(line)) {
		nl = strchr(line, '\n');
		if (!parse_vma(line, &v) || v.end <= start || v.start > last)
			continue;
		if (v.start > cur || !v.r || (write && !v.w)) {
			rc = -EFAULT;
			goto out;
		}
		rc = vmas_grow(&vmas, n, &cap);
		if (rc)
			goto out;
		vmas[n++] = v;
		cur = v.end;
		if (!cur || cur > last)
			break;
	}
	if (cur <= last && cur)
		rc = -EFAULT;
	/* The process may have exited while we read: then it is not there. */
	if (!rc && !rs_alive(rs))
		rc = -EFAULT;
out:
	free(buf);
	if (rc) {
		free(vmas);
		return rc;
	}
	*out = vmas;
	*nout = n;
	return 0;
}

/* ---- windows ------------------------------------------------------------------- */

static struct rwin *win_find(struct rsrc *rs, uint64_t cbase)
{
	struct rwin *w;

	for (w = rs->wins; w; w = w->next)
		if (w->cbase == cbase)
			return w;
	return NULL;
}

/* Reserve @n windows of address space at exactly @want, or NULL. */
static char *win_reserve_at(char *want, uint64_t n)
{
	const int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE |
			  MAP_FIXED_NOREPLACE;
	char *p;

	p = mmap(want, n * WIN_SIZE, PROT_NONE, flags, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	if (p != want) { /* a kernel that ignores the flag */
		munmap(p, n * WIN_SIZE);
		return NULL;
	}
	return p;
}

/*
 * Reserve @n windows of address space anywhere, WIN_ALIGN aligned, with at
 * least a window's worth of free address space left on either side: the
 * room where the neighbours of these windows go when they are needed.
 * Mappings the daemon makes meanwhile go elsewhere first (the kernel
 * fills a hole from its top, and a window's room is at least as large as
 * it), so the room is there when a pin later reaches past these windows.
 */
static char *win_reserve_free(uint64_t n)
{
	const int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE;
	uint64_t room = WIN_SIZE, total, p, a, b;
	char *m;

	for (;;) {
		total = n * WIN_SIZE + 2 * room + WIN_ALIGN;
		m = mmap(NULL, total, PROT_NONE, flags, -1, 0);
		if (m != MAP_FAILED)
			break;
		if (!room) /* not even the windows fit */
			return NULL;
		room = 0; /* RLIMIT_AS, say: the windows without the room */
	}
	p = (uint64_t)(uintptr_t)m;
	a = ALIGN_UP_U64(p + room, WIN_ALIGN);
	b = a + n * WIN_SIZE;
	if (a > p)
		munmap(m, a - p);
	if (p + total > b)
		munmap((char *)(uintptr_t)b, p + total - b);
	return (char *)(uintptr_t)a;
}

static struct rwin *win_add(struct rsrc *rs, uint64_t cbase, char *hbase)
{
	struct rwin *w = ufd_zalloc(sizeof(*w));

	if (!w)
		return NULL;
	w->cbase = cbase;
	w->hbase = hbase;
	w->next = rs->wins;
	rs->wins = w;
	return w;
}

/*
 * Make the @n missing windows of client addresses [c0, c0 + n * WIN_SIZE)
 * in one reservation: right after the window below or right before the
 * window above where those exist (so that ranges across them stay whole),
 * else anywhere.  rs->lock held.
 */
static int win_make(struct rsrc *rs, uint64_t c0, uint64_t n)
{
	uint64_t cend = c0 + n * WIN_SIZE, i;
	struct rwin *nb;
	char *h = NULL;

	nb = c0 ? win_find(rs, c0 - WIN_SIZE) : NULL;
	if (nb)
		h = win_reserve_at(nb->hbase + WIN_SIZE, n);
	nb = cend ? win_find(rs, cend) : NULL;
	if (!h && nb && (uint64_t)(uintptr_t)nb->hbase >= n * WIN_SIZE)
		h = win_reserve_at(nb->hbase - n * WIN_SIZE, n);
	if (!h)
		h = win_reserve_free(n);
	if (!h)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		if (!win_add(rs, c0 + i * WIN_SIZE, h + i * WIN_SIZE)) {
			/* Windows made so far stay: they are valid. */
			munmap(h + i * WIN_SIZE, (n - i) * WIN_SIZE);
			return -ENOMEM;
		}
	}
	return 0;
}

static char *win_host(const struct rwin *w, uint64_t a)
{
	return w->hbase + (a - w->cbase);
}

/*
 * Make sure [start, last] has windows that are contiguous in the daemon;
 * *host gets where start is reached.  The windows missing in a run are
 * made together, in one reservation, so a range that needs new windows
 * on both sides of a boundary always gets them contiguous; one that
 * reaches from an existing window into a new one gets the room next to
 * the old (see win_reserve_free).  rs->lock held.
 */
static int win_span(struct rsrc *rs, uint64_t start, uint64_t last,
		    char **host)
{
	uint64_t c0 = ALIGN_DOWN_U64(start, WIN_SIZE);
	uint64_t cn = ALIGN_DOWN_U64(last, WIN_SIZE), c, m;
	struct rwin *w, *prev = NULL;
	int rc;

	for (c = c0;; c += WIN_SIZE) {
		if (!win_find(rs, c)) {
			/* The run of missing windows from c. */
			for (m = c; m != cn && !win_find(rs, m + WIN_SIZE);)
				m += WIN_SIZE;
			rc = win_make(rs, c, (m - c) / WIN_SIZE + 1);
			if (rc)
				return rc;
			c = m;
		}
		if (c == cn)
			break;
	}
	for (c = c0;; c += WIN_SIZE) {
		w = win_find(rs, c);
		if (!w)
			return -ENOMEM;
		if (prev && w->hbase != prev->hbase + WIN_SIZE)
			return -EFAULT; /* cannot be made contiguous */
		if (c == c0)
			*host = win_host(w, start);
		prev = w;
		if (c == cn)
			break;
	}
	return 0;
}

/* Give [a, a + len) of client addresses back to the reservation. */
static void win_clear(struct rsrc *rs, uint64_t a, uint64_t len)
{
	while (len) {
		struct rwin *w = win_find(rs, ALIGN_DOWN_U64(a, WIN_SIZE));
		uint64_t n = w ? w->cbase + WIN_SIZE - a : len;

		if (n > len)
			n = len;
		if (w)
			mmap(win_host(w, a), n, PROT_NONE,
			     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE |
				     MAP_FIXED,
			     -1, 0);
		a += n;
		len -= n;
	}
}

/* ---- daemon mappings of shared files ------------------------------------------- */

/*
 * An fd of ours for the file behind @v: taken from the process's own fds
 * (pidfd_getfd), else through /proc/PID/map_files (needs privilege).  -1
 * if it cannot be had.
 */
static int grab_file(struct rsrc *rs, const struct rvma *v)
{
	char path[96];
	struct dirent *de;
	struct stat st;
	int fd = -1;
	DIR *dir;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)rs->pid);
	dir = opendir(path);
	while (dir && (de = readdir(dir))) {
		char *end;
		long n = strtol(de->d_name, &end, 10);

		if (*end || n < 0 || n > INT_MAX)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/fd/%ld", (int)rs->pid, n);
		if (stat(path, &st) || st.st_ino != v->ino || st.st_dev != v->dev)
			continue;
		fd = (int)syscall(SYS_pidfd_getfd, rs->pidfd, (int)n, 0);
		if (fd >= 0)
			break;
	}
	if (dir)
		closedir(dir);
	if (fd < 0) {
		snprintf(path, sizeof(path), "/proc/%d/map_files/%llx-%llx",
			 (int)rs->pid, (unsigned long long)v->start,
			 (unsigned long long)v->end);
		fd = open(path, (v->w ? O_RDWR : O_RDONLY) | O_CLOEXEC);
	}
	if (fd < 0)
		return -1;
	if (fstat(fd, &st) || st.st_ino != v->ino || st.st_dev != v->dev) {
		close(fd);
		return -1;
	}
	return fd;
}

/* The outward-aligned client range a segment's mapping occupies. */
static void seg_map_range(const struct rseg *s, uint64_t *a, uint64_t *b)
{
	*a = ALIGN_DOWN_U64(s->node.start, s->blk);
	*b = ALIGN_UP_U64(s->node.last + 1, s->blk);
}

/*
 * Map the file pages behind client pages [p0, p1] (inside @v, a shared
 * file mapping) at their place in the window and make them resident.
 * Fills the mapping fields of @s.  -ENOENT: the file cannot be used (not
 * ours to take, not sealed against shrinking, too short, wrong mode):
 * fall back to private handling.  -EFAULT: not resident.  rs->lock held.
 */
static int map_piece(struct rsrc *rs, const struct rvma *v, uint64_t p0,
		     uint64_t p1, bool writable, struct rseg *s)
{
	uint64_t blk, a, b, foff;
	struct stat st;
	bool can_write;
	char *host;
	void *p;
	int fd, seals, advice, rc = -ENOENT;

	fd = grab_file(rs, v);
	if (fd < 0)
		return -ENOENT;
	seals = fcntl(fd, F_GET_SEALS);
	if (fstat(fd, &st) || seals < 0 || !(seals & F_SEAL_SHRINK))
		goto out;
	can_write = v->w && (fcntl(fd, F_GETFL) & O_ACCMODE) == O_RDWR;
	if (writable && !can_write)
		goto out;
	blk = st.st_blksize >= (blksize_t)RPAGE &&
			      !(st.st_blksize & (st.st_blksize - 1)) &&
			      (uint64_t)st.st_blksize <= WIN_ALIGN ?
		      (uint64_t)st.st_blksize :
		      RPAGE;
	a = ALIGN_DOWN_U64(p0, blk);
	b = ALIGN_UP_U64(p1 + 1, blk);
	if (a < v->start || b > v->end || (v->off + (a - v->start)) % blk)
		goto out;
	foff = v->off + (a - v->start);
	if ((uint64_t)st.st_size < foff + (b - a))
		goto out;
	if (win_span(rs, a, b - 1, &host)) {
		rc = -EFAULT;
		goto out;
	}
	p = mmap(host, b - a, PROT_READ | (can_write ? PROT_WRITE : 0),
		 MAP_SHARED | MAP_FIXED, fd, (off_t)foff);
	if (p == MAP_FAILED) {
		win_clear(rs, a, b - a);
		goto out;
	}
	advice = writable ? MADV_POPULATE_WRITE : MADV_POPULATE_READ;
	if (madvise(host + (p0 - a), p1 - p0 + 1, advice) && errno != EINVAL) {
		win_clear(rs, a, b - a);
		rc = -EFAULT;
		goto out;
	}
	s->mapped = true;
	s->writable = can_write;
	s->blk = blk;
	s->dev = v->dev;
	s->ino = v->ino;
	s->off = v->off + (p0 - v->start);
	rc = 0;
out:
	close(fd);
	return rc;
}

/* ---- segments --------------------------------------------------------------------- */

/*
 * Unmap what a mapped segment that is going away occupies, except the
 * granules (huge pages) another mapped segment still uses.  @s is not in
 * the tree any more.  rs->lock held.
 */
static void seg_unmap(struct rsrc *rs, struct rseg *s)
{
	uint64_t a, b, lo, hi;
	struct itree_node *n;

	seg_map_range(s, &a, &b);
	lo = a;
	hi = b;
	itree_for_each(n, &rs->segs, a, b - 1) {
		struct rseg *o = seg_of(n);

		if (!o->mapped)
			continue;
		/* Only the edge granules can be shared. */
		if (o->node.start < s->node.start)
			lo = ALIGN_UP_U64(s->node.start, s->blk);
		else
			hi = ALIGN_DOWN_U64(s->node.last + 1, s->blk);
	}
	if (hi > lo)
		win_clear(rs, lo, hi - lo);
}

static void seg_drop(struct rsrc *rs, struct rseg *s)
{
	itree_remove(&rs->segs, &s->node);
	if (s->mapped) {
		rs->mapped_pages -= (s->node.last - s->node.start + 1) / RPAGE;
		seg_unmap(rs, s);
	}
	free(s);
}

/*
 * Make a segment boundary at @at (the first byte of a page): a segment
 * that straddles it becomes two.  Uses *spare if a node is needed;
 * without one the segment stays whole.
 */
static void seg_split(struct rsrc *rs, uint64_t at, struct rseg **spare)
{
	struct rseg *s, *t;

	if (!at)
		return;
	s = seg_of(itree_iter_first(&rs->segs, at - 1, at));
	if (!s || s->node.start == at || s->node.last == at - 1)
		return;
	if (!*spare)
		return;
	t = *spare;
	*spare = NULL;
	*t = *s;
	itree_remove(&rs->segs, &s->node);
	s->node.last = at - 1;
	t->node.start = at;
	t->off = s->off + (at - s->node.start);
	itree_insert(&rs->segs, &s->node);
	itree_insert(&rs->segs, &t->node);
}

/* New segments made by one pin call, not yet in the tree. */
struct seg_list {
	struct rseg **v;
	size_t n, cap;
};

static int seg_list_add(struct seg_list *l, struct rseg *s)
{
	struct rseg **grown;

	if (l->n == l->cap) {
		grown = ufd_realloc_array(l->v, l->cap ? l->cap * 2 : 8,
					  sizeof(*l->v));
		if (!grown)
			return -ENOMEM;
		l->v = grown;
		l->cap = l->cap ? l->cap * 2 : 8;
	}
	l->v[l->n++] = s;
	return 0;
}

/* Resolve the hole [h0, h1] (page-granular) into new segments. */
static int pin_hole(struct rsrc *rs, const struct rvma *vmas, size_t nvmas,
		    uint64_t h0, uint64_t h1, bool writable,
		    struct seg_list *l)
{
	size_t i;
	int rc;

	for (i = 0; i < nvmas; i++) {
		const struct rvma *v = &vmas[i];
		uint64_t p0 = v->start > h0 ? v->start : h0;
		uint64_t p1 = v->end - 1 < h1 ? v->end - 1 : h1;
		struct rseg *s;

		if (v->end <= h0 || v->start > h1)
			continue;
		s = ufd_zalloc(sizeof(*s));
		if (!s)
			return -ENOMEM;
		s->node.start = p0;
		s->node.last = p1;
		s->pins = 1;
		s->blk = RPAGE;
		rc = -ENOENT;
		if (v->shared && v->ino)
			rc = map_piece(rs, v, p0, p1, writable, s);
		/*
		 * Writable anonymous private memory always faults in: the
		 * mapping checked is all get_user_pages would.  Anything
		 * else (a file, hugetlbfs, a read-only or special mapping
		 * such as [vvar]) is touched, to fail as it would.
		 */
		if (rc == -ENOENT && !(writable && !v->ino && !v->shared))
			rc = vm_touch(rs, p0, p1 - p0 + 1);
		else if (rc == -ENOENT)
			rc = 0;
		if (!rc)
			rc = seg_list_add(l, s);
		if (rc) {
			if (s->mapped)
				seg_unmap(rs, s);
			free(s);
			return rc;
		}
	}
	return 0;
}

static int remote_pin(struct ufd_source *src, uint64_t uaddr, size_t len,
		      bool writable, void **host)
{
	struct rsrc *rs = to_rsrc(src);
	const struct itree *trees[] = { &rs->segs };
	struct rseg *spare[2] = { NULL, NULL };
	struct seg_list l = { NULL, 0, 0 };
	struct rvma *vmas = NULL;
	struct itree_span sp;
	struct itree_node *n;
	char *h = NULL;
	uint64_t last;
	size_t nvmas, i;
	int rc;

	*host = NULL;
	if (!len || uaddr % RPAGE || len % RPAGE ||
	    __builtin_add_overflow(uaddr, len - 1, &last))
		return -EFAULT;
	if (!rs_reachable(rs))
		return -EFAULT;
	rc = read_vmas(rs, uaddr, last, writable, &vmas, &nvmas);
	if (rc)
		return rc;
	spare[0] = ufd_zalloc(sizeof(struct rseg));
	spare[1] = ufd_zalloc(sizeof(struct rseg));
	if (!spare[0] || !spare[1]) {
		rc = -ENOMEM;
		goto out;
	}

	pthread_mutex_lock(&rs->lock);
	if (rs->dead) {
		rc = -EFAULT;
		goto out_unlock;
	}
	/* Phase 1, may fail: windows, boundaries, holes made segments. */
	rc = win_span(rs, uaddr, last, &h);
	if (rc)
		goto out_unlock;
	seg_split(rs, uaddr, &spare[0]);
	seg_split(rs, last + 1, &spare[1]);
	for (itree_span_first(&sp, trees, 1, uaddr, last); !sp.done;
	     itree_span_next(&sp)) {
		if (sp.is_used)
			continue;
		rc = pin_hole(rs, vmas, nvmas, sp.start, sp.last, writable, &l);
		if (rc)
			break;
	}
	if (rc) {
		for (i = 0; i < l.n; i++) {
			if (l.v[i]->mapped)
				seg_unmap(rs, l.v[i]);
			free(l.v[i]);
		}
		goto out_unlock;
	}
	/* Phase 2, cannot fail: count the old segments, add the new. */
	itree_for_each(n, &rs->segs, uaddr, last)
		seg_of(n)->pins++;
	for (i = 0; i < l.n; i++) {
		itree_insert(&rs->segs, &l.v[i]->node);
		if (l.v[i]->mapped)
			rs->mapped_pages += (l.v[i]->node.last -
					     l.v[i]->node.start + 1) / RPAGE;
	}
	*host = h;
out_unlock:
	pthread_mutex_unlock(&rs->lock);
out:
	free(l.v);
	free(spare[0]);
	free(spare[1]);
	free(vmas);
	return rc;
}

/* Pinned shared pages are mapped in the window; private ones are not. */
static bool remote_host_direct(struct ufd_source *src, uint64_t uaddr,
			       size_t len)
{
	struct rsrc *rs = to_rsrc(src);
	struct itree_node *n;
	bool direct = true;
	uint64_t last;

	if (!len || __builtin_add_overflow(uaddr, len - 1, &last))
		return false;
	pthread_mutex_lock(&rs->lock);
	itree_for_each(n, &rs->segs, uaddr, last) {
		if (!seg_of(n)->mapped) {
			direct = false;
			break;
		}
	}
	pthread_mutex_unlock(&rs->lock);
	return direct;
}

static void remote_unpin(struct ufd_source *src, uint64_t uaddr, size_t len,
			 void *host)
{
	struct rsrc *rs = to_rsrc(src);
	struct rseg *spare[2];
	struct itree_node *n, *next;
	uint64_t last;

	if (!len || __builtin_add_overflow(uaddr, len - 1, &last))
		return;
	spare[0] = malloc(sizeof(struct rseg));
	spare[1] = malloc(sizeof(struct rseg));
	pthread_mutex_lock(&rs->lock);
	/*
	 * Without a spare node a straddling segment cannot be split; it is
	 * then left pinned (never under-pinned).
	 */
	seg_split(rs, uaddr, &spare[0]);
	seg_split(rs, last + 1, &spare[1]);
	for (n = itree_iter_first(&rs->segs, uaddr, last); n; n = next) {
		struct rseg *s = seg_of(n);

		next = itree_iter_next(n, uaddr, last);
		if (s->node.start < uaddr || s->node.last > last)
			continue;
		if (!--s->pins)
			seg_drop(rs, s);
	}
	pthread_mutex_unlock(&rs->lock);
	free(spare[0]);
	free(spare[1]);
}

/* ---- read and write ------------------------------------------------------------------ */

/*
 * Copy between [uaddr, uaddr + len) and @buf: through the daemon's
 * mapping where the range is pinned there, else by address.
 */
static int remote_xfer(struct rsrc *rs, uint64_t uaddr, void *buf,
		       size_t len, bool write)
{
	uint64_t last;
	int rc;

	if (!len)
		return 0;
	if (__builtin_add_overflow(uaddr, len - 1, &last))
		return -EFAULT;
	while (len) {
		struct rseg *s;
		struct rwin *w;
		size_t chunk = len;

		pthread_mutex_lock(&rs->lock);
		s = seg_of(itree_iter_first(&rs->segs, uaddr, last));
		w = s && s->node.start <= uaddr && s->mapped &&
				    (!write || s->writable) ?
			    win_find(rs, ALIGN_DOWN_U64(uaddr, WIN_SIZE)) :
			    NULL;
		if (w) {
			uint64_t end = s->node.last - uaddr + 1;
			uint64_t wend = w->cbase + WIN_SIZE - uaddr;

			if (wend && wend < end)
				end = wend;
			if (end < chunk)
				chunk = (size_t)end;
			if (write)
				memcpy(win_host(w, uaddr), buf, chunk);
			else
				memcpy(buf, win_host(w, uaddr), chunk);
			pthread_mutex_unlock(&rs->lock);
		} else {
			/* Up to where a mapped segment may start. */
			if (s && s->node.start > uaddr &&
			    s->node.start - uaddr < chunk)
				chunk = (size_t)(s->node.start - uaddr);
			else if (s && s->node.start <= uaddr &&
				 s->node.last - uaddr + 1 < chunk)
				chunk = (size_t)(s->node.last - uaddr + 1);
			pthread_mutex_unlock(&rs->lock);
			rc = vm_xfer(rs, uaddr, buf, chunk, write);
			if (rc)
				return rc;
		}
		buf = (char *)buf + chunk;
		uaddr += chunk;
		len -= chunk;
	}
	return 0;
}

static int remote_read(struct ufd_source *src, void *dst, uint64_t uaddr,
		       size_t len)
{
	return remote_xfer(to_rsrc(src), uaddr, dst, len, false);
}

static int remote_write(struct ufd_source *src, uint64_t uaddr,
			const void *buf, size_t len)
{
	return remote_xfer(to_rsrc(src), uaddr, (void *)buf, len, true);
}

/* ---- identity ------------------------------------------------------------------------- */

/* The frame number of the page at @addr in pagemap @fd, or 0. */
static uint64_t pagemap_pfn(int fd, uint64_t addr)
{
	uint64_t entry;

	if (fd < 0 || pread(fd, &entry, sizeof(entry),
			    (off_t)(addr / RPAGE * sizeof(entry))) !=
			      sizeof(entry))
		return 0;
	if (!((entry >> 63) & 1))
		return 0;
	return entry & ((1ULL << 55) - 1);
}

/* (file, offset) as an identity, tagged apart from frames and addresses. */
static uint64_t file_ident(dev_t dev, ino_t ino, uint64_t off)
{
	uint64_t h = ((uint64_t)dev * 1000003ULL) ^ (uint64_t)ino;

	return ((h & 0xfffffULL) << 44) |
	       (((off / RPAGE) & 0xffffffffULL) << UFD_PAGE_SHIFT) | 2;
}

static int remote_page_ident(struct ufd_source *src, uint64_t uaddr,
			     uint64_t *ident)
{
	struct rsrc *rs = to_rsrc(src);
	uint64_t page = ALIGN_DOWN_U64(uaddr, RPAGE), pfn;
	struct rvma *vmas;
	size_t nvmas;
	char probe;
	int rc;

	/* The page must exist (and is faulted in), as GUP would insist. */
	rc = vm_xfer(rs, uaddr, &probe, 1, false);
	if (rc)
		return rc;
	pfn = pagemap_pfn(rs->pagemap_fd, uaddr);
	if (pfn) {
		*ident = pfn << UFD_PAGE_SHIFT | 1;
		return 0;
	}
	*ident = page;
	if (read_vmas(rs, page, page + RPAGE - 1, false, &vmas, &nvmas))
		return 0;
	if (nvmas && vmas[0].shared && vmas[0].ino)
		*ident = file_ident(vmas[0].dev, vmas[0].ino,
				    vmas[0].off + (page - vmas[0].start));
	free(vmas);
	return 0;
}

/* The daemon's own frame number for one of its addresses, or 0. */
static uint64_t self_pfn(const void *host)
{
	uint64_t pfn;
	int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return 0;
	pfn = pagemap_pfn(fd, (uintptr_t)host);
	close(fd);
	return pfn;
}

static int remote_host_ident(struct ufd_source *src, const void *host,
			     uint64_t *ident)
{
	struct rsrc *rs = to_rsrc(src);
	const char *h = host;
	uint64_t caddr = (uintptr_t)host, pfn;
	struct rseg *s;
	struct rwin *w;
	bool mapped = false;

	pthread_mutex_lock(&rs->lock);
	for (w = rs->wins; w; w = w->next) {
		if (h >= w->hbase && h < w->hbase + WIN_SIZE) {
			caddr = w->cbase + (uint64_t)(h - w->hbase);
			break;
		}
	}
	s = w ? seg_of(itree_iter_first(&rs->segs, caddr, caddr)) : NULL;
	if (s && s->mapped) {
		/* The mapping stays while we look: we hold the lock. */
		mapped = true;
		pfn = self_pfn(host);
		*ident = pfn ? pfn << UFD_PAGE_SHIFT | 1 :
			       file_ident(s->dev, s->ino,
					  s->off + (caddr - s->node.start));
	}
	pthread_mutex_unlock(&rs->lock);
	if (mapped)
		return 0;
	/* Not mapped here (private memory): the process's page. */
	return remote_page_ident(src, caddr, ident);
}

/* ---- life -------------------------------------------------------------------------------- */

static void remote_release(struct ufd_source *src)
{
	struct rsrc *rs = to_rsrc(src);
	struct itree_node *n;

	/* Every pages object unpins before it drops its source reference. */
	while ((n = itree_iter_first(&rs->segs, 0, UINT64_MAX))) {
		itree_remove(&rs->segs, n);
		free(seg_of(n));
	}
	while (rs->wins) {
		struct rwin *w = rs->wins;

		rs->wins = w->next;
		munmap(w->hbase, WIN_SIZE);
		free(w);
	}
	if (rs->pagemap_fd >= 0)
		close(rs->pagemap_fd);
	if (rs->maps_fd >= 0)
		close(rs->maps_fd);
	close(rs->pidfd);
	pthread_mutex_destroy(&rs->lock);
	free(rs);
}

static const struct ufd_source_ops remote_ops = {
	.read = remote_read,
	.write = remote_write,
	.pin = remote_pin,
	.unpin = remote_unpin,
	.page_ident = remote_page_ident,
	.host_ident = remote_host_ident,
	.host_direct = remote_host_direct,
	.release = remote_release,
};

struct ufd_source *ufd_source_remote(pid_t pid, int pidfd)
{
	static uint64_t next_space = 1;
	struct rsrc *rs;
	char path[64];

	rs = ufd_zalloc(sizeof(*rs));
	if (!rs) {
		errno = ENOMEM;
		return NULL;
	}
	rs->src.ops = &remote_ops;
	rs->src.refs = 1;
	/* Apart from any pid a local source uses as its space. */
	rs->src.space_id = (1ULL << 63) |
			   __atomic_fetch_add(&next_space, 1, __ATOMIC_RELAXED);
	rs->src.owner_pid = pid;
	rs->pid = pid;
	rs->pidfd = pidfd;
	pthread_mutex_init(&rs->lock, NULL);
	/* Bound to this address space: it stays the old one after exec. */
	snprintf(path, sizeof(path), "/proc/%d/pagemap", (int)pid);
	rs->pagemap_fd = open(path, O_RDONLY | O_CLOEXEC);
	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	rs->maps_fd = open(path, O_RDONLY | O_CLOEXEC);
	return &rs->src;
}
