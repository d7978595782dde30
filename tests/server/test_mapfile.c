/* SPDX-License-Identifier: MIT */
/*
 * File-backed mappings in server mode (IOMMU_IOAS_MAP_FILE, the selftest's
 * dma-bufs, IOMMU_IOAS_CHANGE_PROCESS).
 *
 * The memory of a MAP_FILE is held through the file, by the daemon: it
 * stays mapped when the process that mapped it unmaps its own mapping,
 * closes the fd, or exits (a peer image maps a memfd it received over
 * SCM_RIGHTS, then exits, and the survivor reads and writes the file
 * through IOVA).  Dma-bufs: bounds, revoke (ENODEV) and restore, a buffer
 * that outlives its fd while mapped.  The errnos of bad calls, each
 * leaving the IOAS as it was.  CHANGE_PROCESS: EINVAL while a VA map
 * exists, and the pinned bytes move between the VmPin lines of
 * /proc/PID/status of two processes.
 */
#include <signal.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <linux/capability.h>

#include "common.h"

#define LEN (16 * PAGE)
/* Inside the mock IOMMU's aperture [1 << 24, 1 << 31). */
#define IOVA_F 0x1000000ULL
#define IOVA_G 0x2000000ULL

static char *self_exe;

static int map_file(int fd, uint32_t ioas, int mfd, uint64_t start,
		    uint64_t len, uint64_t iova, uint32_t flags)
{
	struct iommu_ioas_map_file c = {
		.size = sizeof(c),
		.flags = flags ? flags :
				 IOMMU_IOAS_MAP_FIXED_IOVA |
					 IOMMU_IOAS_MAP_READABLE |
					 IOMMU_IOAS_MAP_WRITEABLE,
		.ioas_id = ioas,
		.fd = mfd,
		.start = start,
		.length = len,
		.iova = iova,
	};

	return xioctl(fd, IOMMU_IOAS_MAP_FILE, &c);
}

static int mock_domain(int fd, uint32_t ioas, uint32_t *stdev)
{
	struct iommu_test_cmd c = {
		.size = sizeof(c),
		.op = IOMMU_TEST_OP_MOCK_DOMAIN,
		.id = ioas,
	};
	int rc = xioctl(fd, IOMMU_TEST_CMD, &c);

	*stdev = c.mock_domain.out_stdev_id;
	return rc;
}

static int dmabuf_get(int fd, uint32_t len)
{
	struct iommu_test_cmd c = {
		.size = sizeof(c),
		.op = IOMMU_TEST_OP_DMABUF_GET,
		.dmabuf_get = { .length = len, .open_flags = O_CLOEXEC },
	};
	int rc = ioctl(fd, IOMMU_TEST_CMD, &c);

	return rc < 0 ? -errno : rc;
}

static int dmabuf_revoke(int fd, int dfd, int revoked)
{
	struct iommu_test_cmd c = {
		.size = sizeof(c),
		.op = IOMMU_TEST_OP_DMABUF_REVOKE,
		.dmabuf_revoke = { .dmabuf_fd = dfd, .revoked = revoked },
	};

	return xioctl(fd, IOMMU_TEST_CMD, &c);
}

static int new_memfd(size_t len, char **map)
{
	int mfd = memfd_create("test-mapfile", MFD_CLOEXEC);

	if (mfd < 0 || ftruncate(mfd, (off_t)len))
		return -1;
	*map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	return *map == MAP_FAILED ? -1 : mfd;
}

static void fill(char *p, size_t n, char base)
{
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = (char)(base + i % 29);
}

static int same(const char *p, size_t n, char base)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i] != (char)(base + i % 29))
			return 0;
	return 1;
}

/* The kB of a "Tag:" line of /proc/@pid/status, or -1. */
static long status_kb(pid_t pid, const char *tag)
{
	char path[64], line[256];
	long v = -1;
	FILE *fp;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	fp = fopen(path, "r");
	if (!fp)
		return -1;
	while (fgets(line, sizeof(line), fp))
		if (!strncmp(line, tag, strlen(tag)))
			v = strtol(line + strlen(tag), NULL, 10);
	fclose(fp);
	return v;
}

/* ---- the peer (another image) ------------------------------------------------ */

/* Map the memfd it receives at IOVA_F, say so, and exit. */
static int peer_map(int sock)
{
	uint32_t ioas, dummy;
	int fd, mfd, rc;

	fd = recv_fd(sock, &ioas);
	mfd = recv_fd(sock, &dummy);
	if (fd < 0 || mfd < 0)
		return 10;
	rc = map_file(fd, ioas, mfd, PAGE, LEN - PAGE, IOVA_F, 0);
	close(mfd);
	if (send_fd(sock, -1, (uint32_t)-rc))
		return 11;
	return rc ? 12 : 0;
}

/* ---- tests --------------------------------------------------------------------- */

static void test_across_processes(void)
{
	char *buf, got[LEN];
	uint32_t ioas, rc_peer;
	int fd, mfd, acc, sv[2], status;
	pid_t pid;

	fd = open("/dev/iommu", O_RDWR | O_CLOEXEC);
	REQUIRE(fd >= 0);
	REQUIRE(ioas_alloc(fd, &ioas) == 0);
	mfd = new_memfd(LEN, &buf);
	REQUIRE(mfd >= 0);
	fill(buf, LEN, 'a');
	REQUIRE(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) == 0);
	pid = fork();
	REQUIRE(pid >= 0);
	if (!pid) {
		char num[16];

		close(sv[0]);
		snprintf(num, sizeof(num), "%d", sv[1]);
		execl(self_exe, self_exe, "peer-map", num, (char *)NULL);
		_exit(127);
	}
	close(sv[1]);
	CHECK_EQ(send_fd(sv[0], fd, ioas), 0);
	CHECK_EQ(send_fd(sv[0], mfd, 0), 0);
	CHECK_EQ(recv_fd(sv[0], &rc_peer), -1);
	CHECK_EQ(rc_peer, 0);
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	close(sv[0]);

	/* The peer is gone; its map is held through the file. */
	REQUIRE(create_access(fd, ioas, 0, &acc) == 0);
	memset(got, 0, sizeof(got));
	CHECK_EQ(access_rw(fd, acc, IOVA_F, got, LEN - PAGE, 0), 0);
	CHECK(!memcmp(got, buf + PAGE, LEN - PAGE));
	fill(got, LEN - PAGE, 'Q');
	CHECK_EQ(access_rw(fd, acc, IOVA_F, got, LEN - PAGE,
			   MOCK_ACCESS_RW_WRITE),
		 0);
	CHECK(same(buf + PAGE, LEN - PAGE, 'Q')); /* the same pages */
	CHECK(same(buf, PAGE, 'a'));              /* outside the range */
	close(acc);
	CHECK_EQ(ioas_unmap(fd, ioas, IOVA_F, LEN - PAGE), 0);
	munmap(buf, LEN);
	close(mfd);
	close(fd);
}

static void test_unmapped_stays_mapped(void)
{
	char *buf, got[LEN];
	uint32_t ioas, stdev;
	int fd, mfd, acc;

	fd = open("/dev/iommu", O_RDWR | O_CLOEXEC);
	REQUIRE(fd >= 0);
	REQUIRE(ioas_alloc(fd, &ioas) == 0);
	REQUIRE(mock_domain(fd, ioas, &stdev) == 0);
	mfd = new_memfd(LEN, &buf);
	REQUIRE(mfd >= 0);
	fill(buf, LEN, 'x');
	REQUIRE(map_file(fd, ioas, mfd, 0, LEN, IOVA_G, 0) == 0);
	/* The program lets go of every handle it had on the memory. */
	CHECK_EQ(munmap(buf, LEN), 0);
	CHECK_EQ(close(mfd), 0);
	REQUIRE(create_access(fd, ioas, 0, &acc) == 0);
	CHECK_EQ(access_rw(fd, acc, IOVA_G, got, LEN, 0), 0);
	CHECK(same(got, LEN, 'x'));
	fill(got, LEN, 'y');
	CHECK_EQ(access_rw(fd, acc, IOVA_G, got, LEN, MOCK_ACCESS_RW_WRITE),
		 0);
	memset(got, 0, sizeof(got));
	CHECK_EQ(access_rw(fd, acc, IOVA_G, got, LEN, 0), 0);
	CHECK(same(got, LEN, 'y'));
	close(acc);
	CHECK_EQ(destroy(fd, stdev), 0);
	CHECK_EQ(ioas_unmap(fd, ioas, IOVA_G, LEN), 0);
	close(fd);
}

static void test_errors(void)
{
	char *buf;
	uint32_t ioas;
	int fd, mfd, acc, pipefd[2], ro;

	fd = open("/dev/iommu", O_RDWR | O_CLOEXEC);
	REQUIRE(fd >= 0);
	REQUIRE(ioas_alloc(fd, &ioas) == 0);
	mfd = new_memfd(LEN, &buf);
	REQUIRE(mfd >= 0);
	CHECK_EQ(map_file(fd, ioas, mfd, 0, 0, IOVA_F, 0), -EINVAL);
	CHECK_EQ(map_file(fd, ioas, mfd, 0, LEN + 1, IOVA_F, 0), -EINVAL);
	CHECK_EQ(map_file(fd, ioas, mfd, LEN, PAGE, IOVA_F, 0), -EINVAL);
	CHECK_EQ(map_file(fd, ioas, mfd, ~0ULL - 1, 2 * PAGE, IOVA_F, 0),
		 -EINVAL);
	CHECK_EQ(map_file(fd, ioas, mfd, 0, LEN, IOVA_F,
			  IOMMU_IOAS_MAP_FIXED_IOVA | (1u << 7)),
		 -EOPNOTSUPP);
	CHECK_EQ(map_file(fd, 12345, mfd, 0, LEN, IOVA_F, 0), -ENOENT);
	CHECK_EQ(map_file(fd, ioas, 1000, 0, LEN, IOVA_F, 0), -EBADF);
	REQUIRE(pipe(pipefd) == 0);
	CHECK_EQ(map_file(fd, ioas, pipefd[0], 0, PAGE, IOVA_F, 0), -EINVAL);
	close(pipefd[0]);
	close(pipefd[1]);
	/* Our own files have no memory, but for dma-bufs. */
	REQUIRE(create_access(fd, ioas, 0, &acc) == 0);
	CHECK_EQ(map_file(fd, ioas, acc, 0, PAGE, IOVA_F, 0), -EINVAL);
	close(acc);
	/* A read-only open maps for reading only. */
	{
		char path[64];

		snprintf(path, sizeof(path), "/proc/self/fd/%d", mfd);
		ro = open(path, O_RDONLY | O_CLOEXEC);
		REQUIRE(ro >= 0);
		CHECK_EQ(map_file(fd, ioas, ro, 0, LEN, IOVA_F, 0), -EACCES);
		CHECK_EQ(map_file(fd, ioas, ro, 0, LEN, IOVA_F,
				  IOMMU_IOAS_MAP_FIXED_IOVA |
					  IOMMU_IOAS_MAP_READABLE),
			 0);
		CHECK_EQ(ioas_unmap(fd, ioas, IOVA_F, LEN), 0);
		close(ro);
	}
	/* Nothing was left mapped by the failures. */
	CHECK_EQ(ioas_unmap(fd, ioas, 0, ~0ULL), 0);
	/* A file that shrank has nothing past its new end. */
	CHECK_EQ(ftruncate(mfd, 0), 0);
	CHECK_EQ(map_file(fd, ioas, mfd, 0, LEN, IOVA_F, 0), -EINVAL);
	munmap(buf, LEN);
	close(mfd);
	close(fd);
}

static void test_dmabuf(void)
{
	char got[LEN], data[LEN];
	uint32_t ioas, stdev;
	int fd, dfd, acc;

	fd = open("/dev/iommu", O_RDWR | O_CLOEXEC);
	REQUIRE(fd >= 0);
	REQUIRE(ioas_alloc(fd, &ioas) == 0);
	CHECK_EQ(dmabuf_get(fd, 0), -EINVAL);
	dfd = dmabuf_get(fd, LEN);
	REQUIRE(dfd >= 0);
	CHECK_EQ(map_file(fd, ioas, dfd, 0, 0, IOVA_F, 0), -EINVAL);
	CHECK_EQ(map_file(fd, ioas, dfd, LEN, LEN, IOVA_F, 0), -EINVAL);
	CHECK_EQ(map_file(fd, ioas, dfd, 0, LEN + 1, IOVA_F, 0), -EINVAL);
	CHECK_EQ(map_file(fd, ioas, dfd, 0, LEN, IOVA_F, 0), 0);
	REQUIRE(create_access(fd, ioas, 0, &acc) == 0);
	fill(data, LEN, 'd');
	CHECK_EQ(access_rw(fd, acc, IOVA_F, data, LEN, MOCK_ACCESS_RW_WRITE),
		 0);

	/* Revoked: no new map. */
	CHECK_EQ(dmabuf_revoke(fd, dfd, 1), 0);
	CHECK_EQ(map_file(fd, ioas, dfd, 0, LEN, IOVA_G, 0), -ENODEV);
	CHECK_EQ(dmabuf_revoke(fd, dfd, 0), 0);
	CHECK_EQ(map_file(fd, ioas, dfd, 0, LEN, IOVA_G, 0), 0);
	CHECK_EQ(mock_domain(fd, ioas, &stdev), 0);
	CHECK_EQ(dmabuf_revoke(fd, acc, 1), -EINVAL); /* not a dma-buf */
	CHECK_EQ(dmabuf_revoke(fd, 1000, 1), -EBADF);

	/* The two maps share the buffer; it outlives its fd while mapped. */
	close(dfd);
	CHECK_EQ(access_rw(fd, acc, IOVA_G, got, LEN, 0), 0);
	CHECK(same(got, LEN, 'd'));
	close(acc);
	CHECK_EQ(destroy(fd, stdev), 0);
	CHECK_EQ(ioas_unmap(fd, ioas, 0, ~0ULL), 0);
	close(fd);
}

/* Clear CAP_IPC_LOCK from the effective set (so that pins are charged). */
static int drop_ipc_lock(void)
{
	struct __user_cap_header_struct hdr = {
		.version = _LINUX_CAPABILITY_VERSION_3,
	};
	struct __user_cap_data_struct caps[2];

	if (syscall(SYS_capget, &hdr, caps))
		return -errno;
	caps[0].effective &= ~(1u << CAP_IPC_LOCK);
	return syscall(SYS_capset, &hdr, caps) ? -errno : 0;
}

static void test_change_process(void)
{
	struct iommu_ioas_change_process cp = { .size = sizeof(cp) };
	uint32_t ioas, stdev;
	char *buf, *anon;
	int fd, mfd, status;
	long before;
	pid_t parent = getpid(), child;

	fd = open("/dev/iommu", O_RDWR | O_CLOEXEC);
	REQUIRE(fd >= 0);
	REQUIRE(drop_ipc_lock() == 0);
	REQUIRE(ioas_alloc(fd, &ioas) == 0);
	REQUIRE(mock_domain(fd, ioas, &stdev) == 0);
	anon = mmap(NULL, PAGE, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	REQUIRE(anon != MAP_FAILED);
	REQUIRE(ioas_map(fd, ioas, anon, PAGE, IOVA_F) == 0);
	CHECK_EQ(xioctl(fd, IOMMU_IOAS_CHANGE_PROCESS, &cp), -EINVAL);
	CHECK_EQ(ioas_unmap(fd, ioas, IOVA_F, PAGE), 0);
	cp.__reserved = 1;
	CHECK_EQ(xioctl(fd, IOMMU_IOAS_CHANGE_PROCESS, &cp), -EOPNOTSUPP);
	cp.__reserved = 0;

	before = status_kb(parent, "VmPin:");
	CHECK(before >= 0);
	mfd = new_memfd(LEN, &buf);
	REQUIRE(mfd >= 0);
	REQUIRE(map_file(fd, ioas, mfd, 0, LEN, IOVA_G, 0) == 0);
	CHECK_EQ(status_kb(parent, "VmPin:"), before + (long)(LEN / 1024));
	CHECK_EQ(xioctl(fd, IOMMU_IOAS_CHANGE_PROCESS, &cp), 0);
	CHECK_EQ(status_kb(parent, "VmPin:"), before + (long)(LEN / 1024));

	child = fork();
	REQUIRE(child >= 0);
	if (!child) {
		int bad = 0;

		bad |= status_kb(getpid(), "VmPin:") != 0;
		bad |= xioctl(fd, IOMMU_IOAS_CHANGE_PROCESS, &cp) != 0;
		bad |= status_kb(getpid(), "VmPin:") != (long)(LEN / 1024);
		bad |= status_kb(parent, "VmPin:") != before;
		_exit(bad);
	}
	CHECK_EQ(waitpid(child, &status, 0), child);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	/* The child moved it to itself: no longer ours. */
	CHECK_EQ(status_kb(parent, "VmPin:"), before);
	CHECK_EQ(xioctl(fd, IOMMU_IOAS_CHANGE_PROCESS, &cp), 0);
	CHECK_EQ(status_kb(parent, "VmPin:"), before + (long)(LEN / 1024));
	CHECK_EQ(destroy(fd, stdev), 0); /* unpins */
	CHECK_EQ(status_kb(parent, "VmPin:"), before);
	CHECK_EQ(ioas_unmap(fd, ioas, IOVA_G, LEN), 0);
	munmap(buf, LEN);
	munmap(anon, PAGE);
	close(mfd);
	close(fd);
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "peer-map"))
		return peer_map(atoi(argv[2]));
	if (!server_mode()) {
		fprintf(stderr, "SKIP: needs server mode (uiommufd-run)\n");
		return 77;
	}
	self_exe = realpath("/proc/self/exe", NULL);
	RUN(test_across_processes);
	RUN(test_unmapped_stays_mapped);
	RUN(test_errors);
	RUN(test_dmabuf);
	RUN(test_change_process);
	return harness_failed;
}
