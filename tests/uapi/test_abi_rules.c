/* SPDX-License-Identifier: MIT */
/*
 * The ABI's general rules on every iommufd command, through open() and
 * ioctl() only, written from the uAPI documentation (the "General ioctl
 * format" of include/uapi/linux/iommufd.h): a short struct is EINVAL,
 * non-zero bytes past what is understood are E2BIG, a zero tail behaves
 * exactly like the exact size, a bad pointer is EFAULT, an unknown number
 * is ENOTTY.  Plus the file semantics: dup shares the context, the state
 * is released when the last fd is closed, a derived access fd keeps its
 * context alive.  Built twice: linked to the shim, and run under the
 * launcher.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/iommufd.h>
#include "iommufd_test.h"

#include "../unit/harness.h"

#define offsetofend(T, m) (offsetof(T, m) + sizeof(((T *)0)->m))

struct cmd_row {
	const char *name;
	unsigned long nr;
	size_t size, min;
};

#define ROW(c, s, last) \
	{ #c, c, sizeof(struct s), offsetofend(struct s, last) }

static const struct cmd_row rows[] = {
	ROW(IOMMU_DESTROY, iommu_destroy, id),
	ROW(IOMMU_IOAS_ALLOC, iommu_ioas_alloc, out_ioas_id),
	ROW(IOMMU_IOAS_ALLOW_IOVAS, iommu_ioas_allow_iovas, allowed_iovas),
	ROW(IOMMU_IOAS_COPY, iommu_ioas_copy, src_iova),
	ROW(IOMMU_IOAS_IOVA_RANGES, iommu_ioas_iova_ranges,
	    out_iova_alignment),
	ROW(IOMMU_IOAS_MAP, iommu_ioas_map, iova),
	ROW(IOMMU_IOAS_UNMAP, iommu_ioas_unmap, length),
	ROW(IOMMU_OPTION, iommu_option, val64),
	ROW(IOMMU_VFIO_IOAS, iommu_vfio_ioas, __reserved),
	ROW(IOMMU_HWPT_ALLOC, iommu_hwpt_alloc, __reserved),
	ROW(IOMMU_GET_HW_INFO, iommu_hw_info, __reserved),
	ROW(IOMMU_HWPT_SET_DIRTY_TRACKING, iommu_hwpt_set_dirty_tracking,
	    __reserved),
	ROW(IOMMU_HWPT_GET_DIRTY_BITMAP, iommu_hwpt_get_dirty_bitmap, data),
	ROW(IOMMU_HWPT_INVALIDATE, iommu_hwpt_invalidate, __reserved),
	ROW(IOMMU_FAULT_QUEUE_ALLOC, iommu_fault_alloc, out_fault_fd),
	ROW(IOMMU_TEST_CMD, iommu_test_cmd, last),
};

#define NROWS (sizeof(rows) / sizeof(rows[0]))

static int fd;

/* ioctl with the struct in a buffer followed by @tail bytes of @fill. */
static int call(const struct cmd_row *r, uint32_t size, size_t tail,
		uint8_t fill, int *err)
{
	static uint8_t buf[4096];
	int rc;

	memset(buf, 0, sizeof(buf));
	memcpy(buf, &size, sizeof(size));
	memset(buf + r->size, fill, tail);
	errno = 0;
	rc = ioctl(fd, r->nr, buf);
	*err = errno;
	return rc;
}

static void test_size_rules_every_command(void)
{
	unsigned int i;

	for (i = 0; i != NROWS; i++) {
		const struct cmd_row *r = &rows[i];
		int rc, err, rc2, err2;

		harness_test = r->name;
		/* Short: EINVAL. */
		rc = call(r, r->min - 1, 0, 0, &err);
		CHECK(rc == -1 && err == EINVAL);
		/* Longer with a non-zero byte past what we know: E2BIG. */
		rc = call(r, r->size + 8, 8, 0xff, &err);
		CHECK(rc == -1 && err == E2BIG);
		/* A zero tail behaves exactly like the exact size. */
		rc = call(r, r->size, 0, 0, &err);
		rc2 = call(r, r->size + 8, 8, 0, &err2);
		CHECK_EQ(rc, rc2);
		if (rc)
			CHECK_EQ(err, err2);
		/* A bad pointer: EFAULT, never a crash. */
		errno = 0;
		CHECK_EQ(ioctl(fd, r->nr, NULL), -1);
		CHECK_EQ(errno, EFAULT);
		CHECK_EQ(ioctl(fd, r->nr, (void *)8), -1);
		CHECK_EQ(errno, EFAULT);
	}
	harness_test = "test_size_rules_every_command";
	/* A number in iommufd's range that names no command: ENOTTY. */
	{
		uint32_t size = 64;

		errno = 0;
		CHECK_EQ(ioctl(fd, _IO(IOMMUFD_TYPE, IOMMUFD_CMD_BASE + 31),
			       &size),
			 -1);
		CHECK_EQ(errno, ENOTTY);
		CHECK_EQ(ioctl(fd, _IO(IOMMUFD_TYPE, 0x7f), &size), -1);
		CHECK_EQ(errno, ENOTTY);
	}
}

static void test_reserved_and_flags(void)
{
	struct iommu_ioas_alloc alloc = { .size = sizeof(alloc), .flags = 1 };
	struct iommu_ioas_map map = { .size = sizeof(map) };
	struct iommu_destroy destroy = { .size = sizeof(destroy) };

	CHECK_EQ(ioctl(fd, IOMMU_IOAS_ALLOC, &alloc), -1);
	CHECK_EQ(errno, EOPNOTSUPP);
	alloc.flags = 0;
	REQUIRE(ioctl(fd, IOMMU_IOAS_ALLOC, &alloc) == 0);
	CHECK(alloc.out_ioas_id != 0);
	map.ioas_id = alloc.out_ioas_id;
	map.__reserved = 1;
	map.flags = IOMMU_IOAS_MAP_READABLE;
	map.length = 4096;
	map.user_va = 4096;
	CHECK_EQ(ioctl(fd, IOMMU_IOAS_MAP, &map), -1);
	CHECK_EQ(errno, EOPNOTSUPP);
	map.__reserved = 0;
	map.flags = 1u << 20;
	CHECK_EQ(ioctl(fd, IOMMU_IOAS_MAP, &map), -1);
	CHECK_EQ(errno, EOPNOTSUPP);
	map.flags = 0; /* neither readable nor writeable */
	CHECK_EQ(ioctl(fd, IOMMU_IOAS_MAP, &map), -1);
	CHECK_EQ(errno, EINVAL);
	map.flags = IOMMU_IOAS_MAP_READABLE;
	map.length = UINT64_MAX;
	CHECK_EQ(ioctl(fd, IOMMU_IOAS_MAP, &map), -1);
	CHECK_EQ(errno, EOVERFLOW);
	map.ioas_id = 999;
	map.length = 4096;
	CHECK_EQ(ioctl(fd, IOMMU_IOAS_MAP, &map), -1);
	CHECK_EQ(errno, ENOENT);
	destroy.id = alloc.out_ioas_id;
	CHECK_EQ(ioctl(fd, IOMMU_DESTROY, &destroy), 0);
	CHECK_EQ(ioctl(fd, IOMMU_DESTROY, &destroy), -1);
	CHECK_EQ(errno, ENOENT);
}

/* The pin count the engine reports for the pages of @p (MD_CHECK_REFS). */
static int refs_are(int ufd, void *p, size_t len, unsigned int refs)
{
	struct iommu_test_cmd cmd = {
		.size = sizeof(cmd),
		.op = IOMMU_TEST_OP_MD_CHECK_REFS,
		.check_refs = { .length = len, .uptr = (uintptr_t)p,
				.refs = refs },
	};

	return ioctl(ufd, IOMMU_TEST_CMD, &cmd);
}

static void test_file_semantics(void)
{
	struct iommu_ioas_alloc alloc = { .size = sizeof(alloc) };
	struct iommu_ioas_map map = { .size = sizeof(map) };
	struct iommu_test_cmd cmd = { .size = sizeof(cmd) };
	void *buf = mmap(NULL, 8192, PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	int a, b, access_fd, check;

	REQUIRE(buf != MAP_FAILED);
	a = open("/dev/iommu", O_RDWR);
	REQUIRE(a >= 0);
	REQUIRE(ioctl(a, IOMMU_IOAS_ALLOC, &alloc) == 0);
	/* A dup is the same open file: it sees the same objects. */
	b = dup(a);
	REQUIRE(b >= 0);
	map.ioas_id = alloc.out_ioas_id;
	map.flags = IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE;
	map.user_va = (uintptr_t)buf;
	map.length = 8192;
	CHECK_EQ(ioctl(b, IOMMU_IOAS_MAP, &map), 0);
	/* An access fd pins; it keeps the context after the fds close. */
	cmd.op = IOMMU_TEST_OP_CREATE_ACCESS;
	cmd.id = alloc.out_ioas_id;
	cmd.create_access.flags = MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES;
	REQUIRE(ioctl(a, IOMMU_TEST_CMD, &cmd) == 0);
	access_fd = (int)cmd.create_access.out_access_fd;
	CHECK(fcntl(access_fd, F_GETFD) & FD_CLOEXEC);
	memset(&cmd, 0, sizeof(cmd));
	cmd.size = sizeof(cmd);
	cmd.op = IOMMU_TEST_OP_ACCESS_PAGES;
	cmd.id = (uint32_t)access_fd;
	cmd.access_pages.iova = map.iova;
	cmd.access_pages.length = 8192;
	cmd.access_pages.uptr = (uintptr_t)buf;
	CHECK_EQ(ioctl(a, IOMMU_TEST_CMD, &cmd), 0);
	check = open("/dev/iommu", O_RDWR);
	REQUIRE(check >= 0);
	CHECK_EQ(refs_are(check, buf, 8192, 1), 0);
	CHECK_EQ(close(a), 0);
	CHECK_EQ(refs_are(check, buf, 8192, 1), 0); /* b still open */
	CHECK_EQ(close(b), 0);
	CHECK_EQ(refs_are(check, buf, 8192, 1), 0); /* the access holds it */
	/* Closing the access fd releases the access and the context. */
	CHECK_EQ(close(access_fd), 0);
	CHECK_EQ(refs_are(check, buf, 8192, 0), 0);
	/* A closed fd is no iommufd any more. */
	CHECK_EQ(ioctl(a, IOMMU_IOAS_ALLOC, &alloc), -1);
	CHECK_EQ(errno, EBADF);
	CHECK_EQ(close(check), 0);
	munmap(buf, 8192);
}

static void test_fault_fd(void)
{
	struct iommu_fault_alloc fa = { .size = sizeof(fa) };
	struct iommu_destroy destroy = { .size = sizeof(destroy) };
	struct iommu_hwpt_pgfault rec;
	struct iommu_hwpt_page_response resp = { .cookie = 1 };
	int ufd = open("/dev/iommu", O_RDWR);

	REQUIRE(ufd >= 0);
	fa.flags = 1;
	CHECK_EQ(ioctl(ufd, IOMMU_FAULT_QUEUE_ALLOC, &fa), -1);
	CHECK_EQ(errno, EOPNOTSUPP);
	fa.flags = 0;
	REQUIRE(ioctl(ufd, IOMMU_FAULT_QUEUE_ALLOC, &fa) == 0);
	CHECK(fa.out_fault_id != 0);
	/* An empty queue reads 0 at once; sizes must be whole records. */
	CHECK_EQ(read((int)fa.out_fault_fd, &rec, sizeof(rec)), 0);
	CHECK_EQ(read((int)fa.out_fault_fd, &rec, sizeof(rec) - 1), -1);
	CHECK_EQ(errno, ESPIPE);
	CHECK_EQ(write((int)fa.out_fault_fd, &resp, sizeof(resp) - 1), -1);
	CHECK_EQ(errno, ESPIPE);
	CHECK_EQ(write((int)fa.out_fault_fd, &resp, sizeof(resp)), -1);
	CHECK_EQ(errno, EINVAL); /* no such cookie */
	/* The open fd holds the queue. */
	destroy.id = fa.out_fault_id;
	CHECK_EQ(ioctl(ufd, IOMMU_DESTROY, &destroy), -1);
	CHECK_EQ(errno, EBUSY);
	CHECK_EQ(close((int)fa.out_fault_fd), 0);
	CHECK_EQ(ioctl(ufd, IOMMU_DESTROY, &destroy), 0);
	CHECK_EQ(close(ufd), 0);
}

/*
 * A reply that cannot be written undoes the call and leaves nothing
 * behind: the ID it would have returned was never visible, and is the
 * next one handed out.
 */
static void test_failed_reply_publishes_nothing(void)
{
	struct iommu_ioas_alloc *ro, a = { .size = sizeof(a) };
	struct iommu_destroy d = { .size = sizeof(d) };
	long ps = sysconf(_SC_PAGESIZE);
	uint32_t first;

	REQUIRE(!ioctl(fd, IOMMU_IOAS_ALLOC, &a));
	first = a.out_ioas_id;
	d.id = first;
	REQUIRE(!ioctl(fd, IOMMU_DESTROY, &d));
	ro = mmap(NULL, (size_t)ps, PROT_READ | PROT_WRITE,
		  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	REQUIRE(ro != MAP_FAILED);
	ro->size = sizeof(*ro);
	REQUIRE(!mprotect(ro, (size_t)ps, PROT_READ));
	CHECK_EQ(ioctl(fd, IOMMU_IOAS_ALLOC, ro), -1);
	CHECK_EQ(errno, EFAULT);
	d.id = first;
	CHECK_EQ(ioctl(fd, IOMMU_DESTROY, &d), -1);
	CHECK_EQ(errno, ENOENT);
	CHECK_EQ(ioctl(fd, IOMMU_IOAS_ALLOC, &a), 0);
	CHECK_EQ(a.out_ioas_id, first);
	d.id = a.out_ioas_id;
	CHECK_EQ(ioctl(fd, IOMMU_DESTROY, &d), 0);
	munmap(ro, (size_t)ps);
}

/*
 * A bad argument faults the copy, not the program: the program's own
 * SIGSEGV handler never runs for it (in-process the copies are plain
 * loads and stores with a fault fixup), and still runs for the program's
 * own faults.  A struct that starts in a good page and runs into a bad
 * one is EFAULT too.
 */
static volatile sig_atomic_t segvs;
static sigjmp_buf segv_jmp;

static void on_segv(int sig)
{
	(void)sig;
	segvs++;
	siglongjmp(segv_jmp, 1);
}

static void test_bad_pointers_never_reach_the_program(void)
{
	struct iommu_option *opt;
	struct sigaction sa = { .sa_handler = on_segv }, old;
	long ps = sysconf(_SC_PAGESIZE);
	uint8_t *two;

	REQUIRE(!sigaction(SIGSEGV, &sa, &old));
	two = mmap(NULL, 2 * (size_t)ps, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	REQUIRE(two != MAP_FAILED);
	REQUIRE(!mprotect(two + ps, (size_t)ps, PROT_NONE));
	/* Wholly in the bad page, and straddling into it. */
	CHECK_EQ(ioctl(fd, IOMMU_IOAS_ALLOC, two + ps), -1);
	CHECK_EQ(errno, EFAULT);
	opt = (struct iommu_option *)(two + ps - 8);
	opt->size = sizeof(*opt);
	CHECK_EQ(ioctl(fd, IOMMU_OPTION, opt), -1);
	CHECK_EQ(errno, EFAULT);
	/* A good one still works, many times over. */
	for (int i = 0; i < 1000; i++) {
		struct iommu_option o = { .size = sizeof(o),
					  .option_id = IOMMU_OPTION_RLIMIT_MODE,
					  .op = IOMMU_OPTION_OP_GET };

		CHECK_EQ(ioctl(fd, IOMMU_OPTION, &o), 0);
		CHECK_EQ(ioctl(fd, IOMMU_OPTION, (void *)(two + ps)), -1);
	}
	CHECK_EQ(segvs, 0);
	/* The program's own fault is the program's. */
	if (!sigsetjmp(segv_jmp, 1))
		(void)*(volatile uint8_t *)(two + ps);
	CHECK_EQ(segvs, 1);
	REQUIRE(!sigaction(SIGSEGV, &old, NULL));
	munmap(two, 2 * (size_t)ps);
}

int main(void)
{
	fd = open("/dev/iommu", O_RDWR);
	if (fd < 0) {
		fprintf(stderr, "open(/dev/iommu): %s (run it under "
				"uiommufd-run, or link the shim in)\n",
			strerror(errno));
		return 1;
	}
	RUN(test_size_rules_every_command);
	RUN(test_reserved_and_flags);
	RUN(test_file_semantics);
	RUN(test_fault_fd);
	RUN(test_failed_reply_publishes_nothing);
	RUN(test_bad_pointers_never_reach_the_program);
	close(fd);
	HARNESS_EXIT();
}
