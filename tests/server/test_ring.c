/* SPDX-License-Identifier: MIT */
/*
 * The argument of a call, wherever it sits, behaves as the kernel's
 * copy_from_user/copy_to_user make it behave: server mode brings a
 * snapshot of it in the channel's shared ring (proto.h, "The argument
 * window") and writes back what the daemon wrote; in-process the dispatch
 * layer copies it directly.  Both must agree with the kernel:
 *  - a struct in read-only memory that the command writes: -EFAULT, and a
 *    map whose reply cannot be written is undone;
 *  - a struct that ends at the edge of an unmapped page works, and one
 *    whose size word reaches past the edge is -EFAULT;
 *  - a size far past the window: the tail is read in the process (zero:
 *    fine, non-zero: -E2BIG);
 *  - a read() of a fault queue into read-only memory answers as before;
 *  - many threads at once (more than the channel pool) get their own
 *    answers, and a fork child makes calls of its own meanwhile;
 *  - an fd inside an argument that was closed and whose number another
 *    file took names that file (server mode trusts proofs of fds only
 *    while the fd table lost none);
 *  - the library's channels closed behind its back cost nothing but new
 *    ones;
 *  - private memory (which the daemon reaches through the caller, by the
 *    ring's transfers, or by system calls) and the caller's buffer read
 *    and written in pieces of every size, and -EFAULT where they fault;
 *    with rings and spinning, the rings' transfer count shows that the
 *    daemon asked for some of those copies.
 * Run in both modes, and with UIOMMUFD_RING=0 (messages only).
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "common.h"
#include "server/proto.h"

static int ifd = -1;
static uint32_t ioas;

/* Two pages: the first read-write, the second PROT_NONE. */
static uint8_t *edge_pages(void)
{
	uint8_t *p = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	if (mprotect(p + PAGE, PAGE, PROT_NONE)) {
		munmap(p, 2 * PAGE);
		return NULL;
	}
	return p;
}

/* A command that writes its struct, in read-only memory: -EFAULT. */
static void test_readonly_struct(void)
{
	struct iommu_ioas_alloc *alloc;
	struct iommu_ioas_map *map;
	struct iommu_destroy *d;
	uint8_t *p, *buf;

	p = mmap(NULL, PAGE, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	buf = mmap(NULL, PAGE, PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	REQUIRE(p != MAP_FAILED && buf != MAP_FAILED);
	alloc = (struct iommu_ioas_alloc *)p;
	alloc->size = sizeof(*alloc);
	map = (struct iommu_ioas_map *)(p + 256);
	*map = (struct iommu_ioas_map){
		.size = sizeof(*map),
		.flags = IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE,
		.ioas_id = ioas,
		.user_va = (uintptr_t)buf,
		.length = PAGE,
	};
	REQUIRE(!mprotect(p, PAGE, PROT_READ));
	CHECK_EQ(xioctl(ifd, IOMMU_IOAS_ALLOC, alloc), -EFAULT);
	/* The map cannot answer its IOVA: it is undone, as the kernel does. */
	CHECK_EQ(xioctl(ifd, IOMMU_IOAS_MAP, map), -EFAULT);
	CHECK_EQ(refs_now(buf, PAGE, 0), 0);
	/* A command that only reads its struct works there. */
	REQUIRE(!mprotect(p, PAGE, PROT_READ | PROT_WRITE));
	d = (struct iommu_destroy *)(p + 512);
	d->size = sizeof(*d);
	REQUIRE(!ioas_alloc(ifd, &d->id));
	REQUIRE(!mprotect(p, PAGE, PROT_READ));
	CHECK_EQ(xioctl(ifd, IOMMU_DESTROY, d), 0);
	CHECK_EQ(xioctl(ifd, IOMMU_DESTROY, d), -ENOENT);
	munmap(p, PAGE);
	munmap(buf, PAGE);
}

/* A struct that ends at an unmapped page; a size word that lies. */
static void test_struct_at_edge(void)
{
	struct iommu_ioas_alloc *alloc;
	struct iommu_destroy *d;
	uint8_t *p = edge_pages();

	REQUIRE(p);
	alloc = (struct iommu_ioas_alloc *)(p + PAGE - sizeof(*alloc));
	*alloc = (struct iommu_ioas_alloc){ .size = sizeof(*alloc) };
	CHECK_EQ(xioctl(ifd, IOMMU_IOAS_ALLOC, alloc), 0);
	CHECK(alloc->out_ioas_id != 0);
	d = (struct iommu_destroy *)(p + PAGE - sizeof(*d));
	*d = (struct iommu_destroy){ .size = sizeof(*d),
				     .id = alloc->out_ioas_id };
	CHECK_EQ(xioctl(ifd, IOMMU_DESTROY, d), 0);
	CHECK_EQ(xioctl(ifd, IOMMU_DESTROY, d), -ENOENT);
	/* A size past the struct: the tail is read, and it is not there. */
	d->size = 64;
	CHECK_EQ(xioctl(ifd, IOMMU_DESTROY, d), -EFAULT);
	d->size = 0xffffffffu;
	CHECK_EQ(xioctl(ifd, IOMMU_DESTROY, d), -EFAULT);
	/* The size word itself on the edge: nothing but -EFAULT. */
	CHECK_EQ(xioctl(ifd, IOMMU_DESTROY, p + PAGE - 2), -EFAULT);
	CHECK_EQ(xioctl(ifd, IOMMU_DESTROY, p + PAGE), -EFAULT);
	munmap(p, 2 * PAGE);
}

/* A size far past what a window holds: the tail rules still apply. */
static void test_huge_size(void)
{
	const size_t size = 5 * PAGE;
	struct iommu_ioas_alloc *alloc = calloc(1, size);

	REQUIRE(alloc);
	alloc->size = (uint32_t)size;
	CHECK_EQ(xioctl(ifd, IOMMU_IOAS_ALLOC, alloc), 0);
	CHECK(alloc->out_ioas_id != 0);
	CHECK_EQ(destroy(ifd, alloc->out_ioas_id), 0);
	((uint8_t *)alloc)[size - 1] = 1;
	CHECK_EQ(xioctl(ifd, IOMMU_IOAS_ALLOC, alloc), -E2BIG);
	((uint8_t *)alloc)[size - 1] = 0;
	((uint8_t *)alloc)[3 * PAGE] = 1;
	CHECK_EQ(xioctl(ifd, IOMMU_IOAS_ALLOC, alloc), -E2BIG);
	free(alloc);
}

/* The answer lands exactly where the command writes, nowhere else. */
static void test_reply_in_place(void)
{
	struct {
		struct iommu_ioas_alloc alloc;
		uint8_t canary[64];
	} s;
	unsigned int i;

	memset(&s, 0xa5, sizeof(s));
	s.alloc.size = sizeof(s.alloc);
	s.alloc.flags = 0;
	CHECK_EQ(xioctl(ifd, IOMMU_IOAS_ALLOC, &s.alloc), 0);
	for (i = 0; i < sizeof(s.canary); i++)
		if (s.canary[i] != 0xa5)
			break;
	CHECK_EQ(i, sizeof(s.canary));
	CHECK_EQ(destroy(ifd, s.alloc.out_ioas_id), 0);
}

/* read() of a fault queue into read-only memory, as the kernel's. */
static void test_read_readonly(void)
{
	struct iommu_fault_alloc c = { .size = sizeof(c) };
	uint8_t *p;
	int qfd;

	REQUIRE(!xioctl(ifd, IOMMU_FAULT_QUEUE_ALLOC, &c));
	qfd = (int)c.out_fault_fd;
	p = mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	REQUIRE(p != MAP_FAILED);
	/* Nothing queued: 0 bytes, whatever the buffer. */
	CHECK_EQ(read(qfd, p, sizeof(struct iommu_hwpt_pgfault)), 0);
	/* Not a whole number of records. */
	CHECK_EQ(read(qfd, p, 3), -1);
	CHECK_EQ(errno, ESPIPE);
	close(qfd);
	munmap(p, PAGE);
}

enum { NTHREADS = 24, NCALLS = 300 };

/* Each thread's own IOAS ids come back to it, not to another thread. */
static void *worker(void *arg)
{
	long bad = 0;
	int i;

	(void)arg;
	for (i = 0; i < NCALLS; i++) {
		uint32_t id = 0, id2 = 0;

		if (ioas_alloc(ifd, &id) || !id) {
			bad++;
			continue;
		}
		/* The same id names the object until it is destroyed. */
		struct iommu_ioas_iova_ranges r = { .size = sizeof(r),
						    .ioas_id = id };

		/* No room for the one range: its count comes back. */
		if (xioctl(ifd, IOMMU_IOAS_IOVA_RANGES, &r) != -EMSGSIZE ||
		    r.num_iovas != 1)
			bad++;
		if (ioas_alloc(ifd, &id2) || id2 == id)
			bad++;
		/* (A second destroy of id could meet another thread's.) */
		if (destroy(ifd, id) || destroy(ifd, id2))
			bad++;
	}
	return (void *)bad;
}

static void test_threads_and_fork(void)
{
	pthread_t t[NTHREADS];
	void *bad;
	pid_t pid;
	int i, status;

	pid = fork();
	if (!pid) {
		/* The child's calls go on channels of its own. */
		_exit(worker(NULL) ? 1 : 0);
	}
	for (i = 0; i < NTHREADS; i++)
		REQUIRE(!pthread_create(&t[i], NULL, worker, NULL));
	for (i = 0; i < NTHREADS; i++) {
		pthread_join(t[i], &bad);
		CHECK_EQ((long)bad, 0);
	}
	REQUIRE(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	/* The parent's channels still work after the child's exit. */
	CHECK_EQ(worker(NULL), NULL);
}

/*
 * The library's channels closed behind its back (a raw close_range over
 * their numbers, 700 and up) while the daemon's threads sleep: the next
 * calls still work, on new channels.
 */
static void test_channels_closed_behind(void)
{
	uint32_t id;
	int i;

	CHECK_EQ(ioas_alloc(ifd, &id), 0);
	CHECK_EQ(destroy(ifd, id), 0);
	for (i = 0; i < 3; i++) {
		syscall(SYS_close_range, 700, ~0U, 0);
		/* Long enough for every daemon thread to give up spinning. */
		usleep(i == 1 ? 1000 : 200000);
		CHECK_EQ(ioas_alloc(ifd, &id), 0);
		CHECK_EQ(destroy(ifd, id), 0);
	}
	/* A number taken by something else meanwhile is not ours either. */
	syscall(SYS_close_range, 700, ~0U, 0);
	for (i = 700; i < 716; i++)
		dup2(ifd == 0 ? 1 : 0, i);
	usleep(100000);
	CHECK_EQ(ioas_alloc(ifd, &id), 0);
	CHECK_EQ(destroy(ifd, id), 0);
	for (i = 700; i < 716; i++)
		close(i);
	CHECK_EQ(ioas_alloc(ifd, &id), 0);
	CHECK_EQ(destroy(ifd, id), 0);
}

/*
 * An fd named inside an argument (an access object's, in ACCESS_RW) that
 * the program closed, and whose number a new file took, names the new
 * file: the old one lives on through a dup, with other memory behind it.
 */
static void test_fd_in_argument_reused(void)
{
	uint32_t ioas2;
	uint8_t *a, *b, got[8];
	int fa, fb, keep;

	a = mmap(NULL, PAGE, PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	b = mmap(NULL, PAGE, PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	REQUIRE(a != MAP_FAILED && b != MAP_FAILED);
	memset(a, 0xaa, PAGE);
	memset(b, 0xbb, PAGE);
	REQUIRE(!ioas_alloc(ifd, &ioas2));
	REQUIRE(!ioas_map(ifd, ioas, a, PAGE, 1UL << 32));
	REQUIRE(!ioas_map(ifd, ioas2, b, PAGE, 1UL << 32));
	REQUIRE(!create_access(ifd, ioas, 0, &fa));
	CHECK_EQ(access_rw(ifd, fa, 1UL << 32, got, sizeof(got), 0), 0);
	CHECK_EQ(got[0], 0xaa);
	keep = dup(fa);
	REQUIRE(keep >= 0);
	close(fa);
	/* Closed and not reused: nothing there (the mock says -EBADFD). */
	CHECK_EQ(access_rw(ifd, fa, 1UL << 32, got, sizeof(got), 0), -EBADFD);
	REQUIRE(!create_access(ifd, ioas2, 0, &fb));
	if (fb != fa) {
		/* Make the number the new file's. */
		REQUIRE(dup2(fb, fa) == fa);
		close(fb);
	}
	CHECK_EQ(access_rw(ifd, fa, 1UL << 32, got, sizeof(got), 0), 0);
	CHECK_EQ(got[0], 0xbb);
	CHECK_EQ(access_rw(ifd, keep, 1UL << 32, got, sizeof(got), 0), 0);
	CHECK_EQ(got[0], 0xaa);
	close(fa);
	close(keep);
	CHECK_EQ(ioas_unmap(ifd, ioas, 1UL << 32, PAGE), 0);
	CHECK_EQ(destroy(ifd, ioas2), 0);
	munmap(a, PAGE);
	munmap(b, PAGE);
}

/*
 * The transfers this process's rings made so far (proto.h: each ring is a
 * memfd:uiommufd-ring mapping of the library's; the count is a field of
 * it), or -1 if it has none.
 */
static long ring_transfers(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	long n = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;
		const struct ufd_ring *r;

		if (!strstr(line, "memfd:uiommufd-ring") ||
		    sscanf(line, "%lx-%lx", &lo, &hi) != 2 ||
		    hi - lo < sizeof(*r))
			continue;
		r = (const struct ufd_ring *)lo;
		if (n < 0)
			n = 0;
		n += (long)__atomic_load_n(&r->xfer_served, __ATOMIC_RELAXED);
	}
	fclose(f);
	return n;
}

/*
 * Are transfers on (server mode with rings, spinning), and is the daemon
 * quick enough that some call finds this thread still spinning?  Not
 * under ThreadSanitizer (tests/run-checks.sh sets UFD_TEST_DAEMON_TSAN):
 * there each call may outlast the spin on a busy machine.
 */
static bool transfers_expected(void)
{
	const char *ring = getenv("UIOMMUFD_RING");
	const char *spin = getenv("UIOMMUFD_SPIN_US");

	return server_mode() && !(ring && !strcmp(ring, "0")) &&
	       !(spin && !strcmp(spin, "0")) &&
	       !getenv("UFD_TEST_DAEMON_TSAN");
}

/*
 * Private memory, which the daemon cannot map: an access object reads and
 * writes it, and the caller's buffer, through the caller (the ring's
 * transfers, proto.h) or by system calls.  Sizes within one transfer,
 * across several and past what transfers take; a buffer that is read-only
 * or ends in a PROT_NONE page is -EFAULT, as copy_to_user makes it.
 */
static void test_private_memory(void)
{
	enum { N = 8 };
	static const size_t lens[] = { 8, 4096, 12288, N * PAGE };
	uint8_t *mem, *buf, *ro, *edge;
	unsigned int k;
	long xfers;
	size_t i;
	int fa;

	mem = mmap(NULL, N * PAGE, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	buf = malloc(N * PAGE);
	ro = mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	edge = edge_pages();
	REQUIRE(mem != MAP_FAILED && buf && ro != MAP_FAILED && edge);
	for (i = 0; i < N * PAGE; i++)
		mem[i] = (uint8_t)(i * 7 + i / PAGE);
	REQUIRE(!ioas_map(ifd, ioas, mem, N * PAGE, 1UL << 33));
	REQUIRE(!create_access(ifd, ioas, 0, &fa));
	xfers = ring_transfers();
	for (k = 0; k < sizeof(lens) / sizeof(lens[0]); k++) {
		size_t len = lens[k];

		memset(buf, 0, len);
		CHECK_EQ(access_rw(ifd, fa, (1UL << 33) + 0, buf, len, 0), 0);
		CHECK(!memcmp(buf, mem, len));
		for (i = 0; i < len; i++)
			buf[i] = (uint8_t)~mem[i];
		CHECK_EQ(access_rw(ifd, fa, 1UL << 33, buf, len,
				   MOCK_ACCESS_RW_WRITE), 0);
		CHECK(!memcmp(buf, mem, len));
	}
	/*
	 * The daemon asked this process for copies, at least for some of
	 * those 8 calls (a transfer goes to the syscalls only when this
	 * thread sleeps or is off its CPU at the time).
	 */
	if (transfers_expected()) {
		/* A busy machine may have had us off the CPU each time. */
		for (k = 0; k < 1000 && ring_transfers() == xfers; k++)
			CHECK_EQ(access_rw(ifd, fa, 1UL << 33, buf, 8, 0), 0);
		CHECK(ring_transfers() > xfers);
	}
	/* Into memory that takes no writes, or ends in nothing. */
	CHECK_EQ(access_rw(ifd, fa, 1UL << 33, ro, 8, 0), -EFAULT);
	CHECK_EQ(access_rw(ifd, fa, 1UL << 33, edge + PAGE - 8, 16, 0),
		 -EFAULT);
	CHECK_EQ(access_rw(ifd, fa, 1UL << 33, edge + PAGE - 8, 8, 0), 0);
	CHECK(!memcmp(edge + PAGE - 8, mem, 8));
	/* From it: the read-only page reads fine, the PROT_NONE one not. */
	CHECK_EQ(access_rw(ifd, fa, 1UL << 33, ro, 8, MOCK_ACCESS_RW_WRITE),
		 0);
	CHECK_EQ(mem[0], 0);
	CHECK_EQ(access_rw(ifd, fa, 1UL << 33, edge + PAGE, 8,
			   MOCK_ACCESS_RW_WRITE), -EFAULT);
	close(fa);
	CHECK_EQ(ioas_unmap(ifd, ioas, 1UL << 33, N * PAGE), 0);
	munmap(mem, N * PAGE);
	munmap(ro, PAGE);
	munmap(edge, 2 * PAGE);
	free(buf);
}

int main(void)
{
	ifd = open("/dev/iommu", O_RDWR);
	if (ifd < 0 || ioas_alloc(ifd, &ioas)) {
		perror("open /dev/iommu");
		return 1;
	}
	RUN(test_readonly_struct);
	RUN(test_struct_at_edge);
	RUN(test_huge_size);
	RUN(test_reply_in_place);
	RUN(test_read_readonly);
	RUN(test_threads_and_fork);
	RUN(test_fd_in_argument_reused);
	RUN(test_private_memory);
	RUN(test_channels_closed_behind);
	CHECK_EQ(destroy(ifd, ioas), 0);
	close(ifd);
	HARNESS_EXIT();
}
