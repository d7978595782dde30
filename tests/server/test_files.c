/* SPDX-License-Identifier: MIT */
/*
 * The emulated files behave like kernel files across processes (server
 * mode): what a fork child does on an inherited fd the parent sees; dup
 * shares; the last close anywhere releases, and the release is done when
 * close() returns (a new fd sees every pin gone); an fd inherited across
 * execve works in the new image; derived fds (access objects, fault
 * queues) pass between processes and are checked against their context.
 */
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "common.h"

#define LEN (16 * PAGE)

static char *self_exe;

static char *shared_buf(void)
{
	char *p = mmap(NULL, LEN, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

static int wait_ok(pid_t pid)
{
	int status;

	return waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
	       WEXITSTATUS(status) == 0;
}

/* A fork child's objects are the parent's: one file, one state. */
static void test_fork_shares_state(void)
{
	uint32_t ioas, id;
	int fd = open("/dev/iommu", O_RDWR);
	pid_t pid;

	REQUIRE(fd >= 0);
	REQUIRE(!ioas_alloc(fd, &ioas));
	pid = fork();
	if (!pid) {
		/* The child destroys the parent's IOAS and makes another. */
		if (destroy(fd, ioas) || ioas_alloc(fd, &id))
			_exit(1);
		_exit(id == ioas ? 0 : 2); /* the lowest free ID again */
	}
	CHECK(wait_ok(pid));
	CHECK_EQ(destroy(fd, ioas), 0);       /* the child's new one */
	CHECK_EQ(destroy(fd, ioas), -ENOENT); /* and nothing else */
	close(fd);
}

/* dup shares; only the last close releases, and at once. */
static void test_dup_and_last_close(void)
{
	char *buf = shared_buf();
	uint32_t ioas, pid;
	int fd, fd2, acc;

	REQUIRE(buf);
	fd = open("/dev/iommu", O_RDWR);
	REQUIRE(fd >= 0);
	REQUIRE(!ioas_alloc(fd, &ioas));
	REQUIRE(!ioas_map(fd, ioas, buf, LEN, 0x10000));
	REQUIRE(!create_access(fd, ioas,
			       MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES, &acc));
	REQUIRE(!access_pages(fd, acc, 0x10000, LEN, buf, &pid));
	CHECK_EQ(refs_now(buf, LEN, 1), 0);
	fd2 = dup(fd);
	REQUIRE(fd2 >= 0);
	close(fd);
	CHECK_EQ(destroy(fd2, 12345), -ENOENT); /* still the same context */
	CHECK_EQ(refs_now(buf, LEN, 1), 0);
	close(fd2);
	/* The access fd holds the context: the pin is still there. */
	CHECK_EQ(refs_now(buf, LEN, 1), 0);
	close(acc);
	/* Its last close is done when close() returns. */
	CHECK_EQ(refs_now(buf, LEN, 0), 0);
	munmap(buf, LEN);
}

/* The release barrier, many times over, and with a fork child's copy. */
static void test_close_is_synchronous(void)
{
	char *buf = shared_buf();
	uint32_t ioas, pid;
	int i, fd, acc, pipefd[2];
	pid_t child;

	REQUIRE(buf);
	for (i = 0; i < 50; i++) {
		fd = open("/dev/iommu", O_RDWR);
		REQUIRE(fd >= 0);
		REQUIRE(!ioas_alloc(fd, &ioas));
		REQUIRE(!ioas_map(fd, ioas, buf, LEN, 0x10000));
		REQUIRE(!create_access(
			fd, ioas, MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES,
			&acc));
		REQUIRE(!access_pages(fd, acc, 0x10000, LEN, buf, &pid));
		close(acc);
		close(fd);
		CHECK_EQ(refs_now(buf, LEN, 0), 0);
	}
	/* A child's copy keeps the file until the child closes it. */
	fd = open("/dev/iommu", O_RDWR);
	REQUIRE(fd >= 0);
	REQUIRE(!ioas_alloc(fd, &ioas));
	REQUIRE(!ioas_map(fd, ioas, buf, LEN, 0x10000));
	REQUIRE(!create_access(fd, ioas,
			       MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES, &acc));
	REQUIRE(!access_pages(fd, acc, 0x10000, LEN, buf, &pid));
	REQUIRE(!pipe(pipefd));
	child = fork();
	if (!child) {
		char c;

		close(pipefd[1]);
		if (read(pipefd[0], &c, 1) < 0)
			_exit(1);
		_exit(0);
	}
	close(pipefd[0]);
	close(acc);
	close(fd);
	CHECK_EQ(refs_now(buf, LEN, 1), 0);
	close(pipefd[1]);
	CHECK(wait_ok(child));
	/* The child's copies closed when it exited, before waitpid returned. */
	CHECK_EQ(refs_now(buf, LEN, 0), 0);
	munmap(buf, LEN);
}

/* A context holding a pin of @buf (an access object's): its two fds. */
static int pinned_context(char *buf, int *acc)
{
	uint32_t ioas, pid;
	int fd = open("/dev/iommu", O_RDWR);

	if (fd < 0 || ioas_alloc(fd, &ioas) ||
	    ioas_map(fd, ioas, buf, LEN, 0x10000) ||
	    create_access(fd, ioas, MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES,
			  acc) ||
	    access_pages(fd, *acc, 0x10000, LEN, buf, &pid))
		return -1;
	return fd;
}

/*
 * The release barrier seen by the very next call, made on an fd that is
 * already open (a fresh open, as refs_now makes, gives a lagging release
 * time to finish): after the last close in this process, after the last
 * close in another process that then tells us through a pipe, and after
 * a process holding the last copy is killed and reaped.  Hundreds of
 * rounds: the daemon's release thread, woken by the same hangup, must
 * not be what makes these pass.
 */
static void test_next_call_sees_release(void)
{
	char *buf = shared_buf();
	int i, fd, acc, probe, pipefd[2];
	unsigned int late = 0;
	pid_t child;

	REQUIRE(buf);
	probe = open("/dev/iommu", O_RDWR);
	REQUIRE(probe >= 0);
	for (i = 0; i < 300; i++) {
		fd = pinned_context(buf, &acc);
		REQUIRE(fd >= 0);
		CHECK_EQ(check_refs(probe, buf, LEN, 1), 0);
		close(acc);
		close(fd);
		late += check_refs(probe, buf, LEN, 0) != 0;
	}
	CHECK_EQ(late, 0);
	late = 0;
	for (i = 0; i < 100; i++) {
		char c = 0;

		fd = pinned_context(buf, &acc);
		REQUIRE(fd >= 0);
		REQUIRE(!pipe(pipefd));
		child = fork();
		if (!child) {
			close(pipefd[0]);
			/* The child's copies go last. */
			usleep(200);
			close(acc);
			close(fd);
			_exit(write(pipefd[1], &c, 1) == 1 ? 0 : 1);
		}
		close(pipefd[1]);
		close(acc);
		close(fd);
		REQUIRE(read(pipefd[0], &c, 1) == 1);
		late += check_refs(probe, buf, LEN, 0) != 0;
		close(pipefd[0]);
		CHECK(wait_ok(child));
	}
	CHECK_EQ(late, 0);
	late = 0;
	for (i = 0; i < 50; i++) {
		int status;

		fd = pinned_context(buf, &acc);
		REQUIRE(fd >= 0);
		child = fork();
		if (!child) {
			for (;;)
				pause();
		}
		close(acc);
		close(fd);
		CHECK_EQ(check_refs(probe, buf, LEN, 1), 0);
		kill(child, SIGKILL);
		REQUIRE(waitpid(child, &status, 0) == child);
		late += check_refs(probe, buf, LEN, 0) != 0;
	}
	CHECK_EQ(late, 0);
	close(probe);
	munmap(buf, LEN);
}

static int exec_child(int fd, uint32_t ioas)
{
	/* A new image: the library has never seen this fd. */
	return destroy(fd, ioas) ? 3 : 0;
}

/* An fd inherited across execve works in the new image. */
static void test_exec(void)
{
	char fdstr[16], idstr[16];
	uint32_t ioas;
	int fd = open("/dev/iommu", O_RDWR); /* no O_CLOEXEC */
	pid_t pid;

	REQUIRE(fd >= 0);
	REQUIRE(!ioas_alloc(fd, &ioas));
	snprintf(fdstr, sizeof(fdstr), "%d", fd);
	snprintf(idstr, sizeof(idstr), "%u", ioas);
	pid = fork();
	if (!pid) {
		execl(self_exe, self_exe, "exec-child", fdstr, idstr,
		      (char *)NULL);
		_exit(127);
	}
	CHECK(wait_ok(pid));
	CHECK_EQ(destroy(fd, ioas), -ENOENT);
	close(fd);
}

/*
 * The derived files survive exec too: an access fd and a fault queue fd
 * whose close-on-exec flag the program cleared work in the new image,
 * which has never seen them (issue 12, defect b).
 */
static int exec_derived_child(int fd, int acc, int fault)
{
	struct iommu_hwpt_pgfault rec[2];
	struct pollfd p = { .fd = fault, .events = POLLIN };
	char got[32] = "";

	if (access_rw(fd, acc, 0x10000, got, 12, 0) ||
	    strcmp(got, "across exec"))
		return 4;
	if (poll(&p, 1, 0) != 0)              /* nothing queued */
		return 5;
	if (read(fault, rec, sizeof(rec)) != 0) /* empty: 0, no wait */
		return 6;
	if (read(fault, rec, 39) != -1 || errno != ESPIPE)
		return 7;
	return 0;
}

static void test_exec_derived(void)
{
	struct iommu_fault_alloc fa = { .size = sizeof(fa) };
	char fdstr[16], accstr[16], faultstr[16];
	char *buf = shared_buf();
	uint32_t ioas;
	int fd, acc;
	pid_t pid;

	REQUIRE(buf);
	memcpy(buf, "across exec", 12);
	fd = open("/dev/iommu", O_RDWR);
	REQUIRE(fd >= 0);
	REQUIRE(!ioas_alloc(fd, &ioas));
	REQUIRE(!ioas_map(fd, ioas, buf, LEN, 0x10000));
	REQUIRE(!create_access(fd, ioas, 0, &acc));
	REQUIRE(!xioctl(fd, IOMMU_FAULT_QUEUE_ALLOC, &fa));
	/* Derived fds are close-on-exec; the program keeps them. */
	REQUIRE(!fcntl(acc, F_SETFD, 0));
	REQUIRE(!fcntl((int)fa.out_fault_fd, F_SETFD, 0));
	snprintf(fdstr, sizeof(fdstr), "%d", fd);
	snprintf(accstr, sizeof(accstr), "%d", acc);
	snprintf(faultstr, sizeof(faultstr), "%u", fa.out_fault_fd);
	pid = fork();
	if (!pid) {
		execl(self_exe, self_exe, "exec-derived", fdstr, accstr,
		      faultstr, (char *)NULL);
		_exit(127);
	}
	CHECK(wait_ok(pid));
	close((int)fa.out_fault_fd);
	close(acc);
	CHECK_EQ(destroy(fd, ioas), 0);
	close(fd);
	munmap(buf, LEN);
}

/*
 * A vIOMMU event queue fd survives exec as well: the new image triggers
 * an event on the device and reads it, header and record, from the fd it
 * inherited.
 */
static int exec_veventq_child(int fd, uint32_t dev, int q)
{
	struct iommu_test_cmd t = {
		.size = sizeof(t), .op = IOMMU_TEST_OP_TRIGGER_VEVENT,
	};
	struct {
		struct iommufd_vevent_header hdr;
		struct iommu_viommu_event_selftest ev;
	} rec;
	struct pollfd p = { .fd = q, .events = POLLIN };

	if (poll(&p, 1, 0) != 0) /* nothing queued yet */
		return 4;
	t.trigger_vevent.dev_id = dev;
	if (xioctl(fd, IOMMU_TEST_CMD, &t))
		return 5;
	if (poll(&p, 1, 5000) != 1 || !(p.revents & POLLIN))
		return 6;
	if (read(q, &rec, sizeof(rec)) != (ssize_t)sizeof(rec))
		return 7;
	if (rec.hdr.flags || rec.ev.virt_id != 0x1234)
		return 8;
	return 0;
}

static void test_exec_veventq(void)
{
	struct iommu_test_cmd md = {
		.size = sizeof(md), .op = IOMMU_TEST_OP_MOCK_DOMAIN,
	};
	struct iommu_hwpt_alloc parent = {
		.size = sizeof(parent), .flags = IOMMU_HWPT_ALLOC_NEST_PARENT,
	};
	struct iommu_viommu_alloc va = {
		.size = sizeof(va), .type = IOMMU_VIOMMU_TYPE_SELFTEST,
	};
	struct iommu_vdevice_alloc vd = { .size = sizeof(vd), .virt_id = 0x1234 };
	struct iommu_hwpt_selftest data = { .iotlb = IOMMU_TEST_IOTLB_DEFAULT };
	struct iommu_hwpt_alloc nested = {
		.size = sizeof(nested), .data_type = IOMMU_HWPT_DATA_SELFTEST,
		.data_len = sizeof(data),
	};
	struct iommu_test_cmd rep = {
		.size = sizeof(rep), .op = IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE,
	};
	struct iommu_veventq_alloc vq = {
		.size = sizeof(vq), .type = IOMMU_VEVENTQ_TYPE_SELFTEST,
		.veventq_depth = 4,
	};
	char fdstr[16], devstr[16], qstr[16];
	uint32_t ioas;
	int fd;
	pid_t pid;

	fd = open("/dev/iommu", O_RDWR);
	REQUIRE(fd >= 0);
	REQUIRE(!ioas_alloc(fd, &ioas));
	md.id = ioas;
	REQUIRE(!xioctl(fd, IOMMU_TEST_CMD, &md));
	parent.dev_id = md.mock_domain.out_idev_id;
	parent.pt_id = ioas;
	REQUIRE(!xioctl(fd, IOMMU_HWPT_ALLOC, &parent));
	va.dev_id = parent.dev_id;
	va.hwpt_id = parent.out_hwpt_id;
	REQUIRE(!xioctl(fd, IOMMU_VIOMMU_ALLOC, &va));
	vd.viommu_id = va.out_viommu_id;
	vd.dev_id = parent.dev_id;
	REQUIRE(!xioctl(fd, IOMMU_VDEVICE_ALLOC, &vd));
	/* The device reports through the vIOMMU once attached under it. */
	nested.dev_id = parent.dev_id;
	nested.pt_id = va.out_viommu_id;
	nested.data_uptr = (uintptr_t)&data;
	REQUIRE(!xioctl(fd, IOMMU_HWPT_ALLOC, &nested));
	rep.id = md.mock_domain.out_stdev_id;
	rep.mock_domain_replace.pt_id = nested.out_hwpt_id;
	REQUIRE(!xioctl(fd, IOMMU_TEST_CMD, &rep));
	vq.viommu_id = va.out_viommu_id;
	REQUIRE(!xioctl(fd, IOMMU_VEVENTQ_ALLOC, &vq));
	REQUIRE(!fcntl((int)vq.out_veventq_fd, F_SETFD, 0));
	snprintf(fdstr, sizeof(fdstr), "%d", fd);
	snprintf(devstr, sizeof(devstr), "%u", parent.dev_id);
	snprintf(qstr, sizeof(qstr), "%u", vq.out_veventq_fd);
	pid = fork();
	if (!pid) {
		execl(self_exe, self_exe, "exec-veventq", fdstr, devstr, qstr,
		      (char *)NULL);
		_exit(127);
	}
	{
		int status = -1;

		CHECK_EQ(waitpid(pid, &status, 0), pid);
		CHECK(WIFEXITED(status));
		CHECK_EQ(WEXITSTATUS(status), 0);
	}
	close((int)vq.out_veventq_fd);
	close(fd);
}

/* Access fds pass between processes and are checked against a context. */
static void test_access_fd_passing(void)
{
	char *buf = shared_buf();
	uint32_t ioas, ioas2, data;
	int fd, fd2, acc, sv[2];
	pid_t pid;

	REQUIRE(buf);
	memcpy(buf, "through a passed access fd", 27);
	fd = open("/dev/iommu", O_RDWR);
	fd2 = open("/dev/iommu", O_RDWR);
	REQUIRE(fd >= 0 && fd2 >= 0);
	REQUIRE(!ioas_alloc(fd, &ioas));
	REQUIRE(!ioas_alloc(fd2, &ioas2));
	REQUIRE(!ioas_map(fd, ioas, buf, LEN, 0x10000));
	REQUIRE(!socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv));
	pid = fork();
	if (!pid) {
		char got[32] = "";
		int a;

		close(sv[0]);
		a = recv_fd(sv[1], &data);
		if (a < 0)
			_exit(1);
		if (access_rw(fd, a, 0x10000, got, 27, 0) ||
		    strcmp(got, "through a passed access fd"))
			_exit(2);
		/* Another context cannot use it; a non-access fd is EBADFD. */
		if (access_rw(fd2, a, 0x10000, got, 27, 0) != -ENOENT)
			_exit(3);
		if (access_rw(fd, fd2, 0x10000, got, 27, 0) != -EBADFD)
			_exit(4);
		_exit(0);
	}
	close(sv[1]);
	REQUIRE(!create_access(fd, ioas, 0, &acc));
	REQUIRE(!send_fd(sv[0], acc, 0));
	close(acc); /* the child's copy keeps the access alive */
	CHECK(wait_ok(pid));
	/* Both copies gone: the access is destroyed, the IOAS free again. */
	CHECK_EQ(destroy(fd, ioas), 0);
	close(sv[0]);
	close(fd);
	close(fd2);
	munmap(buf, LEN);
}

/* Fault queue fds: read/write rules and the fd's hold on the queue. */
static void test_fault_queue_fd(void)
{
	struct iommu_fault_alloc fa = { .size = sizeof(fa) };
	struct iommu_hwpt_pgfault rec[2];
	struct pollfd p;
	int fd = open("/dev/iommu", O_RDWR);

	REQUIRE(fd >= 0);
	REQUIRE(!xioctl(fd, IOMMU_FAULT_QUEUE_ALLOC, &fa));
	p.fd = (int)fa.out_fault_fd;
	p.events = POLLIN;
	CHECK_EQ(poll(&p, 1, 0), 0);                 /* nothing queued */
	CHECK_EQ(read(p.fd, rec, sizeof(rec)), 0);   /* empty: 0, no wait */
	CHECK_EQ(read(p.fd, rec, 39), -1);
	CHECK_EQ(errno, ESPIPE);
	CHECK_EQ(write(p.fd, rec, 7), -1);
	CHECK_EQ(errno, ESPIPE);
	CHECK_EQ(destroy(fd, fa.out_fault_id), -EBUSY); /* the fd holds it */
	close(p.fd);
	CHECK_EQ(destroy(fd, fa.out_fault_id), 0);
	close(fd);
}

int main(int argc, char **argv)
{
	self_exe = argv[0];
	if (argc == 5 && !strcmp(argv[1], "exec-derived"))
		return exec_derived_child(atoi(argv[2]), atoi(argv[3]),
					  atoi(argv[4]));
	if (argc == 5 && !strcmp(argv[1], "exec-veventq"))
		return exec_veventq_child(atoi(argv[2]),
					  (uint32_t)atoi(argv[3]),
					  atoi(argv[4]));
	if (argc == 4 && !strcmp(argv[1], "exec-child"))
		return exec_child(atoi(argv[2]), (uint32_t)atoi(argv[3]));
	if (!server_mode()) {
		fprintf(stderr, "SKIP: needs server mode (uiommufd-run)\n");
		return 77;
	}
	self_exe = realpath("/proc/self/exe", NULL);
	RUN(test_fork_shares_state);
	RUN(test_dup_and_last_close);
	RUN(test_close_is_synchronous);
	RUN(test_next_call_sees_release);
	RUN(test_exec);
	RUN(test_exec_derived);
	RUN(test_exec_veventq);
	RUN(test_access_fd_passing);
	RUN(test_fault_queue_fd);
	return harness_failed;
}
