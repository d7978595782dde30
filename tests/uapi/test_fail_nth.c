/* SPDX-License-Identifier: MIT */
/*
 * The emulated fault-injection files (src/shim/failnth.c): the calling
 * thread's /proc/.../fail-nth and the failslab / fail_page_alloc knobs.
 * Writing N to fail-nth makes the Nth allocation of the thread's
 * following emulated calls fail; reading it back says what is left, "0"
 * once it fired.  A sweep N = 1, 2, ... over IOAS_ALLOC and IOAS_MAP must
 * see ENOMEM (and "0" read back) until N exceeds the call's allocations,
 * then success with N minus the allocations left; another thread's calls
 * are not affected.  Single-threaded apart from that one thread.  Run
 * linked, and under the launcher in both modes.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/iommufd.h>

#include "../unit/harness.h"

#define LEN (64 * 4096UL)

static int dev_fd = -1;
static uint8_t *buf;

static int nth_open(int flags)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/self/task/%ld/fail-nth",
		 (long)syscall(SYS_gettid));
	return open(path, flags);
}

/* The value read back, or -1. */
static long nth_get(int fd)
{
	char b[32];
	ssize_t n = pread(fd, b, sizeof(b) - 1, 0);

	if (n <= 1 || b[n - 1] != '\n')
		return -1;
	b[n] = 0;
	return strtol(b, NULL, 10);
}

static int nth_set(int fd, unsigned long v)
{
	char b[32];
	int len = snprintf(b, sizeof(b), "%lu", v);

	return pwrite(fd, b, (size_t)len, 0) == len ? 0 : -errno;
}

static int ioas_alloc(uint32_t *id)
{
	struct iommu_ioas_alloc c = { .size = sizeof(c) };

	if (ioctl(dev_fd, IOMMU_IOAS_ALLOC, &c))
		return -errno;
	*id = c.out_ioas_id;
	return 0;
}

static int destroy(uint32_t id)
{
	struct iommu_destroy c = { .size = sizeof(c), .id = id };

	return ioctl(dev_fd, IOMMU_DESTROY, &c) ? -errno : 0;
}

static int map(uint32_t ioas)
{
	struct iommu_ioas_map c = {
		.size = sizeof(c),
		.flags = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE |
			 IOMMU_IOAS_MAP_WRITEABLE,
		.ioas_id = ioas,
		.user_va = (uintptr_t)buf,
		.length = LEN,
		.iova = 0x100000,
	};

	return ioctl(dev_fd, IOMMU_IOAS_MAP, &c) ? -errno : 0;
}

static int unmap(uint32_t ioas)
{
	struct iommu_ioas_unmap c = {
		.size = sizeof(c), .ioas_id = ioas, .iova = 0x100000,
		.length = LEN,
	};

	return ioctl(dev_fd, IOMMU_IOAS_UNMAP, &c) ? -errno : 0;
}

static void test_file_semantics(void)
{
	char b[16];
	int fd = nth_open(O_RDWR), fd2;

	REQUIRE(fd >= 0);
	CHECK_EQ(nth_get(fd), 0);
	/* read() moves the position: "0\n", then end of file. */
	CHECK_EQ(read(fd, b, sizeof(b)), 2);
	CHECK(!memcmp(b, "0\n", 2));
	CHECK_EQ(read(fd, b, sizeof(b)), 0);
	/* The kernel's kstrtouint: base 0, one trailing newline. */
	CHECK_EQ(write(fd, "0x10\n", 5), 5);
	CHECK_EQ(nth_get(fd), 16);
	CHECK_EQ(write(fd, "010", 3), 3);
	CHECK_EQ(nth_get(fd), 8);
	CHECK_EQ(write(fd, "abc", 3), -1);
	CHECK_EQ(errno, EINVAL);
	CHECK_EQ(write(fd, "-1", 2), -1);
	CHECK_EQ(errno, EINVAL);
	CHECK_EQ(write(fd, "4294967296", 10), -1);
	CHECK_EQ(errno, ERANGE);
	CHECK_EQ(nth_get(fd), 8);
	/* The same count under the thread's other name. */
	fd2 = open("/proc/thread-self/fail-nth", O_RDONLY);
	CHECK(fd2 >= 0);
	if (fd2 >= 0) {
		CHECK_EQ(nth_get(fd2), 8);
		CHECK_EQ(write(fd2, "1", 1), -1);
		CHECK_EQ(errno, EBADF);
		close(fd2);
	}
	CHECK_EQ(nth_set(fd, 0), 0);
	CHECK_EQ(nth_get(fd), 0);
	close(fd);
}

/* Sweep N over one IOAS_ALLOC; the number of allocations it makes. */
static void test_sweep_alloc(void)
{
	int fd = nth_open(O_RDWR), rc;
	unsigned long n, fired = 0;
	uint32_t id = 0;
	long left;

	REQUIRE(fd >= 0);
	for (n = 1; n < 400; n++) {
		REQUIRE(nth_set(fd, n) == 0);
		rc = ioas_alloc(&id);
		left = nth_get(fd);
		CHECK_EQ(nth_set(fd, 0), 0);
		if (left == 0) {
			CHECK_EQ(rc, -ENOMEM);
			fired++;
			continue;
		}
		CHECK_EQ(rc, 0);
		CHECK(left > 0 && (unsigned long)left < n);
		if (!rc)
			CHECK_EQ(destroy(id), 0);
		break;
	}
	CHECK(fired > 0);
	CHECK_EQ(fired, n - 1);
	/* Disarmed: the next call succeeds. */
	CHECK_EQ(ioas_alloc(&id), 0);
	CHECK_EQ(destroy(id), 0);
	close(fd);
}

/* Sweep N over IOAS_MAP (pins pages): each failure leaves nothing mapped. */
static void test_sweep_map(void)
{
	int fd = nth_open(O_RDWR), rc;
	unsigned long n, fired = 0;
	uint32_t ioas;
	long left;

	REQUIRE(fd >= 0);
	REQUIRE(ioas_alloc(&ioas) == 0);
	for (n = 1; n < 400; n++) {
		REQUIRE(nth_set(fd, n) == 0);
		rc = map(ioas);
		left = nth_get(fd);
		CHECK_EQ(nth_set(fd, 0), 0);
		if (left == 0) {
			CHECK(rc < 0);
			/* Nothing was mapped: unmapping finds nothing. */
			CHECK_EQ(unmap(ioas), -ENOENT);
			fired++;
			continue;
		}
		CHECK_EQ(rc, 0);
		CHECK_EQ(unmap(ioas), 0);
		break;
	}
	CHECK(fired > 0);
	CHECK(n < 400);
	CHECK_EQ(destroy(ioas), 0);
	close(fd);
}

static void *other_thread(void *arg)
{
	uint32_t id;
	int *rc = arg;

	*rc = ioas_alloc(&id);
	if (!*rc)
		*rc = destroy(id);
	return NULL;
}

/* The count is the thread's: another thread's calls leave it alone. */
static void test_per_thread(void)
{
	int fd = nth_open(O_RDWR), rc = -1;
	pthread_t t;

	REQUIRE(fd >= 0);
	CHECK_EQ(nth_set(fd, 1), 0);
	REQUIRE(pthread_create(&t, NULL, other_thread, &rc) == 0);
	pthread_join(t, NULL);
	CHECK_EQ(rc, 0);
	CHECK_EQ(nth_get(fd), 1);
	CHECK_EQ(nth_set(fd, 0), 0);
	close(fd);
}

static void test_debugfs_knobs(void)
{
	static const char p1[] = "/sys/kernel/debug/failslab/ignore-gfp-wait";
	static const char p2[] = "/sys/kernel/debug/fail_page_alloc/min-order";
	char b[32];
	int fd;

	fd = open(p1, O_WRONLY);
	REQUIRE(fd >= 0);
	CHECK_EQ(write(fd, "N", 1), 1);
	CHECK_EQ(write(fd, "x", 1), -1);
	CHECK_EQ(errno, EINVAL);
	close(fd);
	fd = open(p1, O_RDONLY);
	REQUIRE(fd >= 0);
	CHECK_EQ(read(fd, b, sizeof(b)), 2);
	CHECK(!memcmp(b, "N\n", 2));
	close(fd);
	fd = open(p2, O_RDWR);
	REQUIRE(fd >= 0);
	CHECK_EQ(pread(fd, b, sizeof(b), 0), 2);
	CHECK(!memcmp(b, "1\n", 2));
	CHECK_EQ(write(fd, "3\n", 2), 2);
	CHECK_EQ(pread(fd, b, sizeof(b), 0), 2);
	CHECK(!memcmp(b, "3\n", 2));
	close(fd);
	/* failslab has no min-order. */
	CHECK(open("/sys/kernel/debug/failslab/min-order", O_RDONLY) < 0);
}

int main(void)
{
	dev_fd = open("/dev/iommu", O_RDWR);
	buf = mmap(NULL, LEN, PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (dev_fd < 0 || buf == MAP_FAILED) {
		fprintf(stderr, "open(/dev/iommu): %s (run it under "
				"uiommufd-run, or link the shim in)\n",
			strerror(errno));
		return 1;
	}
	memset(buf, 1, LEN);
	RUN(test_file_semantics);
	RUN(test_sweep_alloc);
	RUN(test_sweep_map);
	RUN(test_per_thread);
	RUN(test_debugfs_knobs);
	close(dev_fd);
	HARNESS_EXIT();
}
