/* SPDX-License-Identifier: MIT */
/*
 * Two unrelated processes share one /dev/iommu context (server mode).
 *
 * The test execs a second image of itself (a "peer": its own address
 * space, nothing shared but what is passed) and hands it the iommufd over
 * a unix socket with SCM_RIGHTS.  Both map their own private memory into
 * the same IOAS and drive DMA through access objects: each reads and
 * writes the other's memory by IOVA, live, and pins are counted on the
 * right pages.  Then a peer is killed with SIGKILL in the middle of a
 * stream of 16 MiB ACCESS_RW calls: the survivor, the context and the
 * daemon must go on working, and the dead peer's memory must fail cleanly.
 */
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "common.h"

#define LEN (16 * PAGE)
#define IOVA_A 0x100000ULL
#define IOVA_B 0x400000ULL
#define IOVA_S 0x10000000ULL
#define SPIN_LEN (16UL << 20)

enum { MSG_MAPPED = 1, MSG_GO, MSG_DONE, MSG_READY };

static char *self_exe;

static pid_t spawn_peer(const char *role, int sock)
{
	char num[16];
	pid_t pid = fork();

	if (pid)
		return pid;
	snprintf(num, sizeof(num), "%d", sock);
	execl(self_exe, self_exe, role, num, (char *)NULL);
	_exit(127);
}

static void fill(char *p, size_t n, char base)
{
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = (char)(base + i % 23);
}

static int same(const char *p, size_t n, char base)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i] != (char)(base + i % 23))
			return 0;
	return 1;
}

/* ---- the peer (another image) ------------------------------------------------ */

static int peer_share(int sock)
{
	char *buf = mmap(NULL, LEN, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char got[LEN], msg[] = "hello from the peer";
	uint32_t ioas, pid, data;
	int fd, acc, pacc, bad = 0;

	fd = recv_fd(sock, &ioas);
	if (fd < 0 || buf == MAP_FAILED)
		return 10;
	fill(buf, LEN, 'B');
	/* The fd arrived behind the library's back: it must still work. */
	if (ioas_map(fd, ioas, buf, LEN, IOVA_B))
		return 11;
	if (create_access(fd, ioas, 0, &acc) ||
	    create_access(fd, ioas, MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES,
			  &pacc))
		return 12;
	send_fd(sock, -1, MSG_MAPPED);
	if (recv_fd(sock, &data) != -1 || data != MSG_GO)
		return 13;
	/* The other process's memory, live, by IOVA. */
	bad += access_rw(fd, acc, IOVA_A, got, LEN, 0) != 0;
	bad += !same(got, LEN, 'A');
	bad += access_rw(fd, acc, IOVA_A + 100, msg, sizeof(msg),
			 MOCK_ACCESS_RW_WRITE) != 0;
	/* Our own memory, and what the other process wrote into it. */
	bad += access_rw(fd, acc, IOVA_B, got, 64, 0) != 0;
	bad += memcmp(got, "written by the parent", 21) != 0;
	/* Pins are counted on our pages, not the other's. */
	bad += check_refs(fd, buf, LEN, 0) != 0;
	bad += access_pages(fd, pacc, IOVA_B, LEN, buf, &pid) != 0;
	bad += check_refs(fd, buf, LEN, 1) != 0;
	bad += destroy_access_pages(fd, pacc, pid) != 0;
	bad += check_refs(fd, buf, LEN, 0) != 0;
	send_fd(sock, -1, MSG_DONE + (uint32_t)bad * 16);
	/* Stay until the other side has looked at our memory. */
	recv_fd(sock, &data);
	return 0;
}

static int peer_spin(int sock)
{
	char *buf = mmap(NULL, SPIN_LEN, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	char *tmp = malloc(SPIN_LEN);
	uint32_t ioas;
	int fd, acc;

	fd = recv_fd(sock, &ioas);
	if (fd < 0 || buf == MAP_FAILED || !tmp)
		return 10;
	if (ioas_map(fd, ioas, buf, SPIN_LEN, IOVA_S) ||
	    create_access(fd, ioas, 0, &acc))
		return 11;
	send_fd(sock, -1, MSG_READY);
	for (;;)
		access_rw(fd, acc, IOVA_S, tmp, SPIN_LEN, 0);
}

/* ---- the tests ------------------------------------------------------------------ */

static void test_share(void)
{
	char *a = mmap(NULL, LEN, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char got[LEN];
	uint32_t ioas, pid, data;
	int sv[2], fd, acc, status;
	pid_t peer;

	REQUIRE(a != MAP_FAILED);
	REQUIRE(!socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv));
	peer = spawn_peer("peer-share", sv[1]);
	close(sv[1]);
	fd = open("/dev/iommu", O_RDWR);
	REQUIRE(fd >= 0);
	REQUIRE(!ioas_alloc(fd, &ioas));
	fill(a, LEN, 'A');
	REQUIRE(!ioas_map(fd, ioas, a, LEN, IOVA_A));
	REQUIRE(!create_access(fd, ioas,
			       MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES, &acc));
	CHECK_EQ(access_pages(fd, acc, IOVA_A, LEN, a, &pid), 0);
	CHECK_EQ(check_refs(fd, a, LEN, 1), 0);

	REQUIRE(!send_fd(sv[0], fd, ioas));
	REQUIRE(recv_fd(sv[0], &data) == -1 && data == MSG_MAPPED);
	/* The peer's private memory, through our own access object. */
	CHECK_EQ(access_rw(fd, acc, IOVA_B, got, LEN, 0), 0);
	CHECK(same(got, LEN, 'B'));
	CHECK_EQ(access_rw(fd, acc, IOVA_B, "written by the parent", 21,
			   MOCK_ACCESS_RW_WRITE), 0);
	REQUIRE(!send_fd(sv[0], -1, MSG_GO));
	REQUIRE(recv_fd(sv[0], &data) == -1);
	CHECK_EQ(data, MSG_DONE); /* the peer's own checks, 16 per failure */
	CHECK(!memcmp(a + 100, "hello from the peer", 20));
	CHECK(same(a, 100, 'A'));

	/* Accounting: our pin is still the only one on our pages. */
	CHECK_EQ(refs_now(a, LEN, 1), 0);
	CHECK_EQ(destroy_access_pages(fd, acc, pid), 0);
	CHECK_EQ(refs_now(a, LEN, 0), 0);

	send_fd(sv[0], -1, 0);
	CHECK_EQ(waitpid(peer, &status, 0), peer);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	/* The peer's area stays mapped; its memory is gone with it. */
	CHECK(access_rw(fd, acc, IOVA_B, got, 64, 0) != 0);
	CHECK_EQ(ioas_unmap(fd, ioas, IOVA_B, LEN), 0);
	close(acc);
	close(fd);
	close(sv[0]);
	munmap(a, LEN);
}

static void test_kill_mid_call(void)
{
	char *a = mmap(NULL, LEN, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char got[LEN];
	uint32_t ioas, data, id2;
	int sv[2], fd, fd2, acc, status, round;
	pid_t peer;

	REQUIRE(a != MAP_FAILED);
	fill(a, LEN, 'K');
	fd = open("/dev/iommu", O_RDWR);
	REQUIRE(fd >= 0);
	REQUIRE(!ioas_alloc(fd, &ioas));
	REQUIRE(!ioas_map(fd, ioas, a, LEN, IOVA_A));
	REQUIRE(!create_access(fd, ioas, 0, &acc));
	for (round = 0; round < 3; round++) {
		REQUIRE(!socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv));
		peer = spawn_peer("peer-spin", sv[1]);
		close(sv[1]);
		REQUIRE(!send_fd(sv[0], fd, ioas));
		REQUIRE(recv_fd(sv[0], &data) == -1 && data == MSG_READY);
		/* Let it get well into its 16 MiB copies, then kill it. */
		usleep(20000 + 15000 * round);
		kill(peer, SIGKILL);
		CHECK_EQ(waitpid(peer, &status, 0), peer);
		CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
		close(sv[0]);

		/* We, the context and the daemon go on. */
		memset(got, 0, sizeof(got));
		CHECK_EQ(access_rw(fd, acc, IOVA_A, got, LEN, 0), 0);
		CHECK(same(got, LEN, 'K'));
		/* The dead peer's memory fails cleanly, then unmaps. */
		CHECK(access_rw(fd, acc, IOVA_S, got, 64, 0) == -EFAULT);
		CHECK_EQ(ioas_unmap(fd, ioas, IOVA_S, SPIN_LEN), 0);
	}
	fd2 = open("/dev/iommu", O_RDWR);
	CHECK(fd2 >= 0);
	CHECK_EQ(ioas_alloc(fd2, &id2), 0);
	close(fd2);
	close(acc);
	close(fd);
	munmap(a, LEN);
}

int main(int argc, char **argv)
{
	self_exe = argv[0];
	if (argc == 3 && !strcmp(argv[1], "peer-share"))
		return peer_share(atoi(argv[2]));
	if (argc == 3 && !strcmp(argv[1], "peer-spin"))
		return peer_spin(atoi(argv[2]));
	if (!server_mode()) {
		fprintf(stderr, "SKIP: needs server mode (uiommufd-run)\n");
		return 77;
	}
	self_exe = realpath("/proc/self/exe", NULL);
	RUN(test_share);
	RUN(test_kill_mid_call);
	return harness_failed;
}
