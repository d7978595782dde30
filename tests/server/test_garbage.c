/* SPDX-License-Identifier: MIT */
/*
 * A client that speaks garbage, or dies in the middle of a call, cannot
 * hurt the daemon or another client (server mode).
 *
 * The test connects to the daemon's socket itself (UIOMMUFD_SOCKET) and
 * sends what no honest client would: short, long and random messages,
 * wrong magic and types, fds attached to requests, answers nobody asked
 * for, requests naming fds that are not the daemon's, pointers into
 * nothing; it writes junk into an emulated fd; it leaves calls half done
 * (a child that exits right after its request, or that never answers the
 * daemon's callback); it opens many channels at once.  After each round
 * an honest client, with a context opened before the abuse, must still
 * work, and so must a new one.  The shared ring is abused too: setups
 * with fds that are not a sealed memfd of the right size and magic, and a
 * ring whose call slot and post queue hold nonsense.
 */
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <signal.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "common.h"
#include "server/proto.h"

#ifndef F_ADD_SEALS
#define F_ADD_SEALS 1033
#define F_SEAL_SHRINK 0x0002
#define F_SEAL_GROW 0x0004
#endif

static int honest_fd = -1;
static uint32_t honest_ioas;

static int daemon_connect(void)
{
	const char *name = getenv(UFD_ENV_SOCKET);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	socklen_t len;
	size_t n;
	int fd;

	if (!name || (n = strlen(name)) >= sizeof(sa.sun_path))
		return -1;
	memcpy(sa.sun_path, name, n);
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
	if (name[0] == '@')
		sa.sun_path[0] = 0;
	else
		len++;
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, len)) {
		close(fd);
		return -1;
	}
	return fd;
}

static void msg_init(struct ufd_msg *m, uint16_t type)
{
	memset(m, 0, sizeof(*m));
	m->magic = UFD_PROTO_MAGIC;
	m->version = UFD_PROTO_VERSION;
	m->type = type;
}

/* The answer to a request: its ret, or -1000 when none came. */
static long answer(int sock)
{
	struct ufd_msg m;
	struct pollfd p = { .fd = sock, .events = POLLIN };

	if (poll(&p, 1, 5000) != 1)
		return -1000;
	if (recv(sock, &m, sizeof(m), 0) != sizeof(m) ||
	    m.type != UFD_MSG_RESULT)
		return -1000;
	return (long)m.ret;
}

/* The honest client's state is intact, and a new client works. */
static void still_works(void)
{
	uint32_t id;
	int fd;

	CHECK_EQ(ioas_alloc(honest_fd, &id), 0);
	CHECK_EQ(destroy(honest_fd, id), 0);
	CHECK_EQ(destroy(honest_fd, honest_ioas + 1000), -ENOENT);
	fd = open("/dev/iommu", O_RDWR);
	CHECK(fd >= 0);
	CHECK_EQ(ioas_alloc(fd, &id), 0);
	close(fd);
}

static void test_bad_messages(void)
{
	static const size_t sizes[] = { 1, 8, 63, 65, 200, 65536 };
	char *junk = malloc(65536);
	struct ufd_msg m;
	size_t i;
	int s = daemon_connect();

	REQUIRE(s >= 0 && junk);
	for (i = 0; i < 65536; i++)
		junk[i] = (char)(i * 131 + 7);
	/* Wrong sizes: each one is refused, the channel goes on. */
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		CHECK_EQ(send(s, junk, sizes[i], MSG_NOSIGNAL),
			 (ssize_t)sizes[i]);
		CHECK_EQ(answer(s), -EPROTO);
	}
	/* Right size, wrong magic, version, type. */
	msg_init(&m, UFD_MSG_IOCTL);
	m.magic ^= 1;
	send(s, &m, sizeof(m), MSG_NOSIGNAL);
	CHECK_EQ(answer(s), -EPROTO);
	msg_init(&m, UFD_MSG_IOCTL);
	m.version = 99;
	send(s, &m, sizeof(m), MSG_NOSIGNAL);
	CHECK_EQ(answer(s), -EPROTO);
	for (i = 0; i < 300; i += 7) {
		msg_init(&m, (uint16_t)i);
		/* The requests a client may send (each tested below). */
		if ((i >= UFD_MSG_OPEN && i <= UFD_MSG_MMIO &&
		     i != UFD_MSG_FD_INSTALLED) || i == UFD_MSG_ACCOUNTING)
			continue;
		send(s, &m, sizeof(m), MSG_NOSIGNAL);
		CHECK_EQ(answer(s), -EPROTO);
	}
	/* An answer nobody asked for. */
	msg_init(&m, UFD_MSG_FD_INSTALLED);
	m.fd = 5;
	send(s, &m, sizeof(m), MSG_NOSIGNAL);
	CHECK_EQ(answer(s), -EPROTO);
	/* Requests naming what is not the daemon's file, or nothing. */
	msg_init(&m, UFD_MSG_IOCTL);
	m.cmd = IOMMU_IOAS_ALLOC;
	m.fd = 0;
	send(s, &m, sizeof(m), MSG_NOSIGNAL);
	CHECK_EQ(answer(s), -ENOTTY);
	m.fd = 99999;
	send(s, &m, sizeof(m), MSG_NOSIGNAL);
	CHECK_EQ(answer(s), -EBADF);
	m.fd = -5;
	send(s, &m, sizeof(m), MSG_NOSIGNAL);
	CHECK_EQ(answer(s), -EBADF);
	m.fd = s; /* the channel itself */
	send(s, &m, sizeof(m), MSG_NOSIGNAL);
	CHECK_EQ(answer(s), -ENOTTY);
	/* A real context, with pointers into nothing and odd commands. */
	m.fd = honest_fd;
	m.arg = 16;
	send(s, &m, sizeof(m), MSG_NOSIGNAL);
	CHECK_EQ(answer(s), -EFAULT);
	m.arg = UINT64_MAX - 3;
	send(s, &m, sizeof(m), MSG_NOSIGNAL);
	CHECK_EQ(answer(s), -EFAULT);
	m.cmd = 0xdeadbeefcafeULL;
	send(s, &m, sizeof(m), MSG_NOSIGNAL);
	CHECK(answer(s) < 0);
	m.type = UFD_MSG_READ; /* read() of a context fd */
	m.arg = (uintptr_t)junk;
	m.cmd = 40;
	send(s, &m, sizeof(m), MSG_NOSIGNAL);
	CHECK_EQ(answer(s), -EINVAL);
	m.type = UFD_MSG_PREAD; /* pread() of a context fd: not seekable */
	send(s, &m, sizeof(m), MSG_NOSIGNAL);
	CHECK_EQ(answer(s), -ESPIPE);
	/*
	 * Mappings and MMIO of what has no such region (a context maps only
	 * its vIOMMUs' pages: -ENXIO); a bad access size.
	 */
	msg_init(&m, UFD_MSG_MMAP);
	m.fd = honest_fd;
	m.cmd = 4096;
	send(s, &m, sizeof(m), MSG_NOSIGNAL);
	CHECK_EQ(answer(s), -ENXIO);
	msg_init(&m, UFD_MSG_MMIO);
	m.fd = honest_fd;
	m.flags = 4;
	send(s, &m, sizeof(m), MSG_NOSIGNAL);
	CHECK_EQ(answer(s), -EIO);
	m.flags = 3;
	send(s, &m, sizeof(m), MSG_NOSIGNAL);
	CHECK_EQ(answer(s), -EINVAL);
	/* Opens of what is no node: derived kinds, unknown kinds, numbers. */
	for (i = 0; i < 40; i++) {
		msg_init(&m, UFD_MSG_OPEN);
		m.kind = (uint32_t)i;
		m.arg = i & 1 ? 7 : UINT64_MAX;
		send(s, &m, sizeof(m), MSG_NOSIGNAL);
		CHECK(answer(s) < 0);
	}
	close(s);
	/* An empty message reads as the end of the channel: it is closed. */
	s = daemon_connect();
	REQUIRE(s >= 0);
	CHECK_EQ(send(s, junk, 0, MSG_NOSIGNAL), 0);
	CHECK_EQ(recv(s, junk, 64, 0), 0);
	close(s);
	free(junk);
	still_works();
}

/* fds attached to requests are closed by the daemon, not kept. */
static void test_attached_fds(void)
{
	union {
		char buf[CMSG_SPACE(8 * sizeof(int))];
		struct cmsghdr align;
	} u;
	struct ufd_msg m;
	struct iovec iov = { .iov_base = &m, .iov_len = sizeof(m) };
	struct msghdr mh = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = u.buf, .msg_controllen = sizeof(u.buf),
	};
	struct cmsghdr *c;
	struct pollfd p;
	int s = daemon_connect(), sv[2], fds[8], i;

	REQUIRE(s >= 0);
	REQUIRE(!socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	for (i = 0; i < 8; i++)
		fds[i] = sv[1];
	memset(&u, 0, sizeof(u));
	c = CMSG_FIRSTHDR(&mh);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(fds));
	memcpy(CMSG_DATA(c), fds, sizeof(fds));
	msg_init(&m, UFD_MSG_IOCTL);
	m.fd = -1;
	CHECK_EQ(sendmsg(s, &mh, MSG_NOSIGNAL), (ssize_t)sizeof(m));
	CHECK_EQ(answer(s), -EBADF);
	close(sv[1]);
	/* Every copy the daemon received is closed: the peer hangs up. */
	p.fd = sv[0];
	p.events = POLLIN;
	CHECK_EQ(poll(&p, 1, 5000), 1);
	CHECK(p.revents & (POLLHUP | POLLIN));
	close(sv[0]);
	close(s);
	still_works();
}

/* Junk written into an emulated fd is dropped; the file works on. */
static void test_junk_into_file(void)
{
	char junk[100];
	uint32_t id;
	int fd = open("/dev/iommu", O_RDWR), i, sent = 0;

	REQUIRE(fd >= 0);
	memset(junk, 'x', sizeof(junk));
	for (i = 0; i < 2000; i++)
		sent += send(fd, junk, sizeof(junk),
			     MSG_DONTWAIT | MSG_NOSIGNAL) > 0;
	CHECK(sent > 0);
	CHECK_EQ(ioas_alloc(fd, &id), 0);
	close(fd);
	still_works();
}

/* Calls left half done by clients that die or stall. */
static void test_half_done_calls(void)
{
	struct ufd_msg m;
	pid_t pid;
	int s, i, status;

	/* A child sends a request and exits without waiting for it. */
	for (i = 0; i < 20; i++) {
		pid = fork();
		if (!pid) {
			struct iommu_ioas_alloc c = { .size = sizeof(c) };

			s = daemon_connect();
			msg_init(&m, i % 2 ? UFD_MSG_OPEN : UFD_MSG_IOCTL);
			m.fd = honest_fd;
			m.cmd = IOMMU_IOAS_ALLOC;
			m.arg = (uintptr_t)&c;
			send(s, &m, sizeof(m), MSG_NOSIGNAL);
			_exit(0);
		}
		waitpid(pid, &status, 0);
	}
	/* An OPEN whose INSTALL_FD callback is never answered. */
	s = daemon_connect();
	REQUIRE(s >= 0);
	msg_init(&m, UFD_MSG_OPEN);
	send(s, &m, sizeof(m), MSG_NOSIGNAL);
	usleep(100000);
	still_works(); /* others are served while that call waits */
	close(s);
	/* An OPEN answered with a wrong type, then with a bogus fd. */
	s = daemon_connect();
	REQUIRE(s >= 0);
	msg_init(&m, UFD_MSG_OPEN);
	send(s, &m, sizeof(m), MSG_NOSIGNAL);
	usleep(50000);
	msg_init(&m, UFD_MSG_IOCTL);
	send(s, &m, sizeof(m), MSG_NOSIGNAL);
	CHECK(answer(s) < 0);
	msg_init(&m, UFD_MSG_OPEN);
	send(s, &m, sizeof(m), MSG_NOSIGNAL);
	usleep(50000);
	msg_init(&m, UFD_MSG_FD_INSTALLED);
	m.fd = -EIO;
	send(s, &m, sizeof(m), MSG_NOSIGNAL);
	CHECK(answer(s) < 0);
	close(s);
	still_works();
}

/* A memfd of @size bytes, sealed against shrinking if @seal. */
static int ring_memfd(size_t size, bool seal, uint32_t magic)
{
	int fd = memfd_create("garbage-ring", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	uint32_t hdr[2] = { magic, UFD_PROTO_VERSION };

	if (fd < 0)
		return -1;
	if (ftruncate(fd, (off_t)size) ||
	    (size >= sizeof(hdr) && pwrite(fd, hdr, sizeof(hdr), 0) < 0) ||
	    (seal && fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW))) {
		close(fd);
		return -1;
	}
	return fd;
}

/* RING_SETUP on @s with @fd: the answer. */
static long ring_setup(int s, int fd)
{
	struct ufd_msg m;

	msg_init(&m, UFD_MSG_RING_SETUP);
	send_buf_fd(s, &m, sizeof(m), fd);
	if (fd >= 0)
		close(fd);
	return answer(s);
}

/* A good ring for channel @s, mapped here and set up: NULL on failure. */
static struct ufd_ring *ring_attach(int s)
{
	int fd = ring_memfd(UFD_RING_BYTES, true, UFD_RING_MAGIC);
	void *r;

	if (fd < 0)
		return NULL;
	r = mmap(NULL, UFD_RING_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
		 0);
	if (r == MAP_FAILED) {
		close(fd);
		return NULL;
	}
	if (ring_setup(s, fd)) { /* closes fd */
		munmap(r, UFD_RING_BYTES);
		return NULL;
	}
	return r;
}

/* Make the ring's call and wait for its answer: 0, or -1 on a timeout. */
static int ring_wait_done(int s, struct ufd_ring *r)
{
	uint32_t seq = r->req_seq + 1;
	struct ufd_msg kick;
	int i;

	__atomic_store_n(&r->req_seq, seq, __ATOMIC_SEQ_CST);
	msg_init(&kick, UFD_MSG_RING_KICK);
	send(s, &kick, sizeof(kick), MSG_NOSIGNAL);
	for (i = 0; i < 5000; i++) {
		if (__atomic_load_n(&r->done_seq, __ATOMIC_ACQUIRE) == seq)
			return 0;
		usleep(1000);
	}
	return -1;
}

/* Setups the daemon must refuse, and a ring full of nonsense. */
static void test_bad_rings(void)
{
	int s = daemon_connect(), p[2], i;
	struct ufd_ring *r;

	REQUIRE(s >= 0);
	CHECK_EQ(ring_setup(s, -1), -EINVAL);
	REQUIRE(!pipe(p));
	close(p[1]);
	CHECK_EQ(ring_setup(s, p[0]), -EINVAL);
	CHECK_EQ(ring_setup(s, ring_memfd(UFD_RING_BYTES, false,
					  UFD_RING_MAGIC)), -EINVAL);
	CHECK_EQ(ring_setup(s, ring_memfd(UFD_RING_BYTES / 2, true,
					  UFD_RING_MAGIC)), -EINVAL);
	CHECK_EQ(ring_setup(s, ring_memfd(UFD_RING_BYTES, true, 0x1234)),
		 -EINVAL);
	/* A good one, then nonsense in it. */
	r = ring_attach(s);
	REQUIRE(r);
	CHECK_EQ(ring_setup(s, ring_memfd(UFD_RING_BYTES, true,
					  UFD_RING_MAGIC)), -EBUSY);
	/* A request that is not a message. */
	memset(&r->req, 0x5a, sizeof(r->req));
	CHECK_EQ(ring_wait_done(s, r), 0);
	CHECK_EQ(r->res_ret, -EPROTO);
	/* A window larger than the ring, or wrapping around. */
	msg_init(&r->req, UFD_MSG_IOCTL);
	r->req.fd = honest_fd;
	r->req.cmd = IOMMU_DESTROY;
	r->req.arg = 8;
	r->win_addr = 8;
	r->win_len = 0xffffffffu;
	CHECK_EQ(ring_wait_done(s, r), 0);
	CHECK_EQ(r->res_ret, -EFAULT);
	r->win_addr = ~0ULL - 16;
	r->win_len = 100;
	r->req.arg = r->win_addr;
	CHECK_EQ(ring_wait_done(s, r), 0);
	CHECK_EQ(r->res_ret, -EFAULT);
	/* An identity that lies: the fd is looked at, not trusted. */
	r->win_len = 0;
	r->file_dev = 1;
	r->file_ino = 2;
	r->req.fd = 0;
	CHECK_EQ(ring_wait_done(s, r), 0);
	CHECK(r->res_ret < 0);
	/* Posts: nonsense ones, and a head far past the tail. */
	for (i = 0; i < 10; i++) {
		r->posts[i].fd = i % 2 ? honest_fd : 9999;
		r->posts[i].size = (uint32_t)i * 3;
		r->posts[i].region = (uint32_t)i * 1000;
	}
	__atomic_store_n(&r->post_head, 10, __ATOMIC_SEQ_CST);
	msg_init(&r->req, UFD_MSG_RING_KICK);
	CHECK_EQ(ring_wait_done(s, r), 0);
	CHECK_EQ(r->res_ret, 0);
	CHECK_EQ(__atomic_load_n(&r->post_tail, __ATOMIC_ACQUIRE), 10);
	__atomic_store_n(&r->post_head, 100000, __ATOMIC_SEQ_CST);
	CHECK_EQ(ring_wait_done(s, r), 0);
	CHECK_EQ(__atomic_load_n(&r->post_tail, __ATOMIC_ACQUIRE), 100000);
	munmap(r, UFD_RING_BYTES);
	close(s);
	still_works();
}

/* How the raw client below answers the daemon's transfers. */
enum xfer_mode {
	XFER_NEVER,   /* never looks: the daemon takes them back */
	XFER_HOLD,    /* takes them and never finishes */
	XFER_LIE,     /* answers nonsense */
	XFER_HONEST,  /* copies, as the shim does */
	XFER_SCRIBBLE, /* never looks, and has answered one never asked */
	XFER_HOLD_ONCE, /* holds the first for 3 ms (preempted), then honest */
};

struct xfer_peer {
	struct ufd_ring *r;
	enum xfer_mode mode;
	int stop;
	unsigned int served;
	int held;     /* XFER_HOLD_ONCE: the held one is finished */
	pthread_t th;
};

static void *xfer_peer_main(void *arg)
{
	struct xfer_peer *p = arg;
	struct ufd_ring *r = p->r;

	while (!__atomic_load_n(&p->stop, __ATOMIC_ACQUIRE)) {
		uint32_t n = __atomic_load_n(&r->xfer_seq, __ATOMIC_ACQUIRE);

		if (p->mode == XFER_NEVER || p->mode == XFER_SCRIBBLE ||
		    n == r->xfer_taken)
			continue;
		/* Taken, then the daemon's take-back looked at. */
		__atomic_store_n(&r->xfer_taken, n, __ATOMIC_SEQ_CST);
		if ((int32_t)(__atomic_load_n(&r->xfer_cancel,
					      __ATOMIC_SEQ_CST) - n) >= 0) {
			r->xfer_ret = -ECANCELED;
			__atomic_store_n(&r->xfer_done, n, __ATOMIC_SEQ_CST);
			continue;
		}
		__atomic_fetch_add(&p->served, 1, __ATOMIC_RELAXED);
		if (p->mode == XFER_HOLD)
			continue;
		if (p->mode == XFER_HOLD_ONCE) {
			usleep(3000);
			p->mode = XFER_HONEST;
			__atomic_store_n(&p->held, 1, __ATOMIC_RELEASE);
		}
		if (p->mode == XFER_LIE) {
			r->xfer_ret = 12345;
		} else {
			void *at = (void *)(uintptr_t)r->xfer_addr;

			if (r->xfer_store)
				memcpy(at, r->xfer_data, r->xfer_len);
			else
				memcpy(r->xfer_data, at, r->xfer_len);
			r->xfer_ret = 0;
		}
		__atomic_store_n(&r->xfer_done, n, __ATOMIC_SEQ_CST);
	}
	return NULL;
}

/*
 * IOMMU_IOAS_ALLOC through a raw ring with no argument window, so that
 * the daemon reaches the argument in this process (by transfers, to a
 * client that looks awake), with the peer answering in @mode: the call's
 * answer in *@ret and the transfers the peer took in *@served; the IOAS
 * it made is destroyed.
 */
static void xfer_alloc(enum xfer_mode mode, long *ret, unsigned int *served)
{
	struct iommu_ioas_alloc a = { .size = sizeof(a) };
	struct xfer_peer p = { .mode = mode };
	int s = daemon_connect();

	*ret = -1000;
	*served = 0;
	REQUIRE(s >= 0);
	p.r = ring_attach(s);
	REQUIRE(p.r);
	if (mode == XFER_SCRIBBLE)
		p.r->xfer_done = 0x77; /* a transfer never asked for */
	REQUIRE(!pthread_create(&p.th, NULL, xfer_peer_main, &p));
	msg_init(&p.r->req, UFD_MSG_IOCTL);
	p.r->req.fd = honest_fd;
	p.r->req.cmd = IOMMU_IOAS_ALLOC;
	p.r->req.arg = (uintptr_t)&a;
	CHECK_EQ(ring_wait_done(s, p.r), 0);
	*ret = p.r->res_ret;
	__atomic_store_n(&p.stop, 1, __ATOMIC_RELEASE);
	pthread_join(p.th, NULL);
	*served = p.served;
	if (!*ret) {
		CHECK(a.out_ioas_id != 0);
		CHECK_EQ(destroy(honest_fd, a.out_ioas_id), 0);
	}
	munmap(p.r, UFD_RING_BYTES);
	close(s);
}

/*
 * xfer_alloc in @mode until the peer took a transfer (at most 50 calls,
 * each on a channel of its own): the daemon takes back a transfer the
 * peer has not taken within 20 us, and a busy host may keep the peer's
 * thread off its CPU that long.  A call whose transfers were all taken
 * back was answered by the system calls: 0.  The last call's answer in
 * *@ret, its transfers in *@served.
 */
static void xfer_alloc_taken(enum xfer_mode mode, long *ret,
			     unsigned int *served)
{
	unsigned int tries;

	for (tries = 0; tries != 50; tries++) {
		xfer_alloc(mode, ret, served);
		if (*served)
			return;
		CHECK_EQ(*ret, 0);
	}
}

/*
 * The daemon's transfers (proto.h) to a client that ignores them, holds
 * one forever, answers nonsense, or has scribbled on their state: the
 * call is still answered (by the system calls, or -EFAULT for a lie about
 * the client's own memory), and nobody else waits.
 */
static void test_bad_transfers(void)
{
	const char *spin = getenv("UIOMMUFD_SPIN_US");
	unsigned int served;
	long ret;

	if (spin && !strcmp(spin, "0")) {
		fprintf(stderr, "  (no transfers without spinning)\n");
		return;
	}
	xfer_alloc_taken(XFER_HONEST, &ret, &served);
	CHECK_EQ(ret, 0);
	CHECK(served > 0);
	xfer_alloc(XFER_NEVER, &ret, &served);
	CHECK_EQ(ret, 0);
	CHECK_EQ(served, 0u);
	xfer_alloc_taken(XFER_HOLD, &ret, &served);
	CHECK_EQ(ret, 0);
	CHECK_EQ(served, 1u); /* then no more asked on that channel */
	still_works();
	xfer_alloc_taken(XFER_LIE, &ret, &served);
	CHECK(served > 0);
	CHECK_EQ(ret, -EFAULT);
	xfer_alloc(XFER_SCRIBBLE, &ret, &served);
	CHECK_EQ(ret, 0);
	CHECK_EQ(served, 0u);
	still_works();
}

/* One IOMMU_IOAS_ALLOC on ring @r of channel @s: its answer. */
static long ring_ioas_alloc(int s, struct ufd_ring *r)
{
	struct iommu_ioas_alloc a = { .size = sizeof(a) };

	msg_init(&r->req, UFD_MSG_IOCTL);
	r->req.fd = honest_fd;
	r->req.cmd = IOMMU_IOAS_ALLOC;
	r->req.arg = (uintptr_t)&a;
	if (ring_wait_done(s, r))
		return -1000;
	if (!r->res_ret &&
	    (!a.out_ioas_id || destroy(honest_fd, a.out_ioas_id)))
		return -1001;
	return (long)r->res_ret;
}

/*
 * A client kept off its CPU while it held a transfer (3 ms, past the
 * daemon's 1 ms) and that answers it late: the call is answered by the
 * system calls, and the channel gets its transfers back once the
 * period they were off for (10 ms) is over, the late answer notwithstanding.
 */
static void test_transfers_come_back(void)
{
	const char *spin = getenv("UIOMMUFD_SPIN_US");
	struct xfer_peer p = { .mode = XFER_HOLD_ONCE };
	unsigned int before, tries;
	int s;

	if (spin && !strcmp(spin, "0")) {
		fprintf(stderr, "  (no transfers without spinning)\n");
		return;
	}
	s = daemon_connect();
	REQUIRE(s >= 0);
	p.r = ring_attach(s);
	REQUIRE(p.r);
	REQUIRE(!pthread_create(&p.th, NULL, xfer_peer_main, &p));
	/* Until the peer took one (the daemon takes back what is not
	 * taken within 20 us; a busy host may delay the peer that long). */
	for (tries = 0; tries != 50 && !__atomic_load_n(&p.held,
							__ATOMIC_ACQUIRE);
	     tries++) {
		CHECK_EQ(ring_ioas_alloc(s, p.r), 0);
		while (__atomic_load_n(&p.served, __ATOMIC_RELAXED) &&
		       !__atomic_load_n(&p.held, __ATOMIC_ACQUIRE))
			usleep(500);
	}
	REQUIRE(__atomic_load_n(&p.held, __ATOMIC_ACQUIRE));
	usleep(40 * 1000);
	before = __atomic_load_n(&p.served, __ATOMIC_RELAXED);
	for (tries = 0; tries != 50; tries++) {
		CHECK_EQ(ring_ioas_alloc(s, p.r), 0);
		if (__atomic_load_n(&p.served, __ATOMIC_RELAXED) > before)
			break;
	}
	CHECK(__atomic_load_n(&p.served, __ATOMIC_RELAXED) > before);
	__atomic_store_n(&p.stop, 1, __ATOMIC_RELEASE);
	pthread_join(p.th, NULL);
	munmap(p.r, UFD_RING_BYTES);
	close(s);
	still_works();
}

/* Many channels at once, then all gone. */
static void test_many_channels(void)
{
	enum { N = 300 };
	int s[N], i, n = 0;

	for (i = 0; i < N; i++) {
		s[i] = daemon_connect();
		n += s[i] >= 0;
	}
	CHECK_EQ(n, N);
	still_works();
	for (i = 0; i < N; i++)
		if (s[i] >= 0)
			close(s[i]);
	still_works();
}

int main(void)
{
	if (!server_mode() || !getenv(UFD_ENV_SOCKET)) {
		fprintf(stderr, "SKIP: needs server mode (uiommufd-run)\n");
		return 77;
	}
	honest_fd = open("/dev/iommu", O_RDWR);
	if (honest_fd < 0 || ioas_alloc(honest_fd, &honest_ioas)) {
		perror("open /dev/iommu");
		return 1;
	}
	RUN(test_bad_messages);
	RUN(test_attached_fds);
	RUN(test_junk_into_file);
	RUN(test_half_done_calls);
	RUN(test_bad_rings);
	RUN(test_bad_transfers);
	RUN(test_transfers_come_back);
	RUN(test_many_channels);
	CHECK_EQ(destroy(honest_fd, honest_ioas), 0);
	return harness_failed;
}
