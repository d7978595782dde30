// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for the daemon protocol (src/server/): whatever bytes
 * and fds a client sends on a channel, the daemon must not crash, hang,
 * leak or answer outside the protocol; a misbehaving client only gets
 * errors or loses its channel.
 *
 * Model.  The daemon (ufd_daemon_new, with two emulated I/OAT devices) is
 * made once.  Each input opens a channel: a SOCK_SEQPACKET socketpair
 * whose one end a thread serves with ufd_daemon_serve() (the daemon's own
 * per-channel loop), while the harness plays the client on the other end:
 * it sends requests built from the input and reads until RESULT,
 * answering INSTALL_FD and CLOSE_FD as the input says (properly, with an
 * error, with garbage first, with the wrong message, or by hanging up).
 *
 * The client process.  A request names the sender's memory and fds, and
 * the daemon reaches both in the process the message's credentials name
 * (process_vm_*, pidfd_getfd).  That must not be the fuzzer itself (an
 * input's pointer would write into it), so a child forked at start-up is
 * the client: every message carries its pid in explicit SCM_CREDENTIALS
 * (the harness runs as root; never the fuzzer's own pid, never another
 * process).  The child maps a shared memfd arena at CHILD_ARENA (the
 * harness writes the ioctl structs there, through its own mapping) and a
 * private region after it, holds an eventfd (for SET_IRQS), and on a
 * control socket takes the files the daemon installs (SCM_RIGHTS, it
 * answers the number it got) and closes them again on request.  It does
 * nothing else, so a daemon write into it cannot disturb the harness.
 *
 * Input: records of [length, then that many bytes: selector, modifier,
 * the fields]; bytes past a record read as zero.  run_op() says what
 * each selector sends.  The modifier chooses fault injection (fail_nth),
 * an fd attached to the request, a wrong uid, and how the client answers
 * INSTALL_FD.
 *
 * Checks: every answer is RESULT, INSTALL_FD or CLOSE_FD with the magic
 * and version, within ANSWER_MS (else the daemon hangs); FILE_KIND of a
 * file the daemon installed says its kind.  At the end of an input the
 * channel is closed (its thread must end), the child closes every file,
 * a request from a fresh address space (a new nonce) retires the old
 * one; then the daemon has no file, the engine no context and no pages,
 * and its invariant check passes.  LeakSanitizer sees the rest.
 *
 * Threads: the harness's thread and the serving thread (plus the device
 * models' workers); they meet only through the channel.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/iommufd.h>
#include <linux/vfio.h>
#include "iommufd_test.h"

#include "engine/engine.h"
#include "server/daemon.h"
#include "server/proto.h"
#include "uapi/dispatch.h"

#define PAGE 4096ULL
#define CHILD_ARENA 0x10000000ULL
#define ARENA_SIZE (256ULL << 10)
#define CHILD_PRIV (CHILD_ARENA + ARENA_SIZE)
#define PRIV_SIZE (64ULL << 10)
#define CMD_OFF (ARENA_SIZE - 2 * PAGE) /* where request structs go */
#define STR_OFF (ARENA_SIZE - PAGE)     /* device names */

/* The child's fds. */
#define CFD_CTL 3
#define CFD_MEMFD 4
#define CFD_EVENTFD 5
#define CFD_FIRST 6   /* files the daemon installs */

#define MAX_OPS 48
#define N_OWN_FIXED 5 /* own[]: ctl, /dev/null, the pipe, the memfd */
#define MAX_FILES 16
/*
 * A backstop for a daemon that never answers: longer than the daemon's
 * own wait for a client's callback answer (10 s), so that only a real
 * hang trips it; libFuzzer's -timeout (30 s in run.sh) reports a slow
 * input first.
 */
#define ANSWER_MS 25000
#define SPEC "ioat;0000:00:04.0;3;0;|ioat;0000:00:05.0;4;1;xfercap=12"

__attribute__((noreturn, format(printf, 1, 2))) static void
die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "fuzz_proto: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

/* ---- the client process ------------------------------------------------------------ */

/* A control message to the child, and its answer (the same struct). */
struct ctl_msg {
	uint32_t op;  /* CTL_* */
	int32_t fd;
};

enum { CTL_INSTALL = 1, CTL_CLOSE, CTL_CLOSE_ALL };

/*
 * The harness's own fds, by inode: the daemon runs in this process, so a
 * close() of the wrong number anywhere in it (a double close) would
 * take one of them away, or swap it for a socket of the daemon's.
 */
struct own_fd {
	const int *fd;
	const char *what;
	dev_t dev;
	ino_t ino;
};

static struct own_fd own[8];
static unsigned int n_own;

static void own_add(const int *fd, const char *what)
{
	struct stat st;

	if (fstat(*fd, &st))
		die("fstat(%s): %m", what);
	own[n_own++] = (struct own_fd){ fd, what, st.st_dev, st.st_ino };
}

static void own_check(const char *after, bool daemon_end)
{
	unsigned int i;

	for (i = 0; i != n_own - !daemon_end; i++) {
		struct stat st;

		if (*own[i].fd < 0)
			continue;
		if (fstat(*own[i].fd, &st) || st.st_dev != own[i].dev ||
		    st.st_ino != own[i].ino)
			die("after %s: the harness's %s (fd %d) was closed or "
			    "replaced behind its back", after, own[i].what,
			    *own[i].fd);
	}
}

static pid_t child_pid;
static int ctl = -1;           /* our end of the control socket */
static uint8_t *arena;         /* our mapping of the child's arena */
static int devnull = -1, pipefd[2] = { -1, -1 }, memfd = -1;

static void child_main(void)
{
	for (;;) {
		union {
			char buf[CMSG_SPACE(sizeof(int))];
			struct cmsghdr align;
		} u;
		struct ctl_msg m;
		struct iovec iov = { .iov_base = &m, .iov_len = sizeof(m) };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
				     .msg_control = u.buf,
				     .msg_controllen = sizeof(u.buf) };
		struct cmsghdr *c;
		int got = -1;
		ssize_t n;

		n = recvmsg(CFD_CTL, &mh, 0);
		if (n == 0 || (n < 0 && errno != EINTR))
			_exit(0);
		c = n > 0 ? CMSG_FIRSTHDR(&mh) : NULL;
		if (c && c->cmsg_type == SCM_RIGHTS)
			memcpy(&got, CMSG_DATA(c), sizeof(got));
		if (n != sizeof(m)) {
			if (got >= 0)
				close(got);
			continue;
		}
		switch (m.op) {
		case CTL_INSTALL:
			m.fd = got;
			got = -1;
			break;
		case CTL_CLOSE:
			if (m.fd >= CFD_FIRST)
				close(m.fd);
			break;
		case CTL_CLOSE_ALL:
			syscall(SYS_close_range, CFD_FIRST, ~0U, 0);
			break;
		default:
			break;
		}
		if (got >= 0)
			close(got);
		if (send(CFD_CTL, &m, sizeof(m), MSG_NOSIGNAL) < 0)
			_exit(0);
	}
}

static void child_start(void)
{
	int sv[2], efd;
	void *a;
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv))
		die("socketpair: %m");
	pid = fork();
	if (pid < 0)
		die("fork: %m");
	if (!pid) {
		/* Out of the way first: the fuzzer's fds may be 3 to 5. */
		int null = fcntl(devnull, F_DUPFD, 100);
		int s = fcntl(sv[1], F_DUPFD, 100);
		int mfd = fcntl(memfd, F_DUPFD, 100);

		efd = eventfd(0, 0);
		if (efd < 0 || null < 0 || s < 0 || mfd < 0)
			_exit(1);
		efd = fcntl(efd, F_DUPFD, 100);
		dup2(s, CFD_CTL);
		dup2(mfd, CFD_MEMFD);
		dup2(efd, CFD_EVENTFD);
		dup2(null, 0);
		dup2(null, 1);
		dup2(null, 2);
		syscall(SYS_close_range, CFD_FIRST, ~0U, 0);
		a = mmap((void *)(uintptr_t)CHILD_ARENA, ARENA_SIZE,
			 PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED,
			 CFD_MEMFD, 0);
		if (a == MAP_FAILED)
			_exit(1);
		a = mmap((void *)(uintptr_t)CHILD_PRIV, PRIV_SIZE,
			 PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
		if (a == MAP_FAILED)
			_exit(1);
		child_main();
	}
	close(sv[1]);
	ctl = sv[0];
	child_pid = pid;
}

/*
 * libFuzzer's timers (SIGALRM) interrupt the harness's system calls, so
 * each of them is retried on EINTR; a wait keeps its deadline.
 */
static bool wait_in(int fd, int ms)
{
	struct timespec t0, t1;
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	int rc, left = ms;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		rc = poll(&pfd, 1, left);
		if (rc >= 0 || errno != EINTR)
			return rc == 1;
		clock_gettime(CLOCK_MONOTONIC, &t1);
		left = ms - (int)((t1.tv_sec - t0.tv_sec) * 1000 +
				  (t1.tv_nsec - t0.tv_nsec) / 1000000);
		if (left <= 0)
			return false;
	}
}

static ssize_t sendmsg_retry(int fd, const struct msghdr *mh)
{
	ssize_t n;

	do {
		n = sendmsg(fd, mh, MSG_NOSIGNAL);
	} while (n < 0 && errno == EINTR);
	return n;
}

static ssize_t recvmsg_retry(int fd, struct msghdr *mh, int flags)
{
	ssize_t n;

	do {
		n = recvmsg(fd, mh, flags);
	} while (n < 0 && errno == EINTR);
	return n;
}

static void ctl_call(struct ctl_msg *m, int fd)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = { .iov_base = m, .iov_len = sizeof(*m) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (fd >= 0) {
		struct cmsghdr *c;

		memset(&u, 0, sizeof(u));
		mh.msg_control = u.buf;
		mh.msg_controllen = sizeof(u.buf);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	if (sendmsg_retry(ctl, &mh) != sizeof(*m))
		die("the client process does not take commands");
	mh.msg_control = NULL;
	mh.msg_controllen = 0;
	if (recvmsg_retry(ctl, &mh, 0) != sizeof(*m))
		die("the client process does not answer");
}

/* ---- state of one input ------------------------------------------------------------ */

struct cfile {
	int fd;              /* in the child */
	enum ufd_fd_kind kind;
};

static struct ufd_daemon *D;
static bool trace; /* UFD_FUZZ_TRACE=1: print every request (triage) */
static const struct ufd_ioctl_desc *descs[64];
static unsigned int n_descs;
static uint64_t nonce_seq = 0x6e6f6e6365000000ULL;

static struct {
	const uint8_t *p;
	size_t n;
	int chan;            /* our end of the channel, or -1 */
	int srv_fd;          /* the daemon's end (its thread closes it) */
	pthread_t server;
	uint64_t nonce;
	struct cfile files[MAX_FILES];
	unsigned int n_files;
	uint8_t answer;      /* how to answer INSTALL_FD (modifier bits) */
	struct ufd_ring *ring; /* the channel's shared ring, or NULL */
} S;

static uint8_t u8(void)
{
	if (!S.n)
		return 0;
	S.n--;
	return *S.p++;
}

static uint16_t u16(void)
{
	uint16_t lo = u8();

	return lo | (uint16_t)(u8() << 8);
}

static uint32_t u32(void)
{
	uint32_t lo = u16();

	return lo | (uint32_t)u16() << 16;
}

static uint64_t u64(void)
{
	uint64_t lo = u32();

	return lo | (uint64_t)u32() << 32;
}

/* ---- the channel ------------------------------------------------------------------- */

static void *server_main(void *arg)
{
	int fd = (int)(intptr_t)arg;
	sigset_t all;

	/* As in the launcher: the daemon's threads take no signal. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, NULL);
	if (ufd_daemon_serve(D, fd))
		die("ufd_daemon_serve failed");
	return NULL;
}

static void chan_open(void)
{
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv))
		die("socketpair: %m");
	S.chan = sv[0];
	S.srv_fd = sv[1];
	n_own = N_OWN_FIXED;
	own_add(&S.chan, "channel end");
	/* Checked after a RESULT only: the daemon may drop a channel. */
	own_add(&S.srv_fd, "daemon's channel end (serving)");
	if (pthread_create(&S.server, NULL, server_main,
			   (void *)(intptr_t)sv[1]))
		die("pthread_create");
}

/* Hang up; the daemon's thread must see it and end. */
static void chan_close(void)
{
	if (S.chan < 0)
		return;
	close(S.chan);
	S.chan = -1;
	pthread_join(S.server, NULL);
	S.srv_fd = -1;
	if (S.ring) {
		munmap(S.ring, UFD_RING_BYTES);
		S.ring = NULL;
	}
}

/*
 * Send @len bytes of @m with the child's credentials (@uid: 0, or another
 * user's) and @fd attached if >= 0.  False if the channel is gone.
 */
static bool chan_send(const void *m, size_t len, uid_t uid, int fd)
{
	union {
		char buf[CMSG_SPACE(sizeof(struct ucred)) +
			 CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct ucred cred = { .pid = child_pid, .uid = uid, .gid = 0 };
	struct iovec iov = { .iov_base = (void *)m, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
			     .msg_control = u.buf };
	struct cmsghdr *c;

	memset(&u, 0, sizeof(u));
	mh.msg_controllen = CMSG_SPACE(sizeof(cred)) +
			    (fd >= 0 ? CMSG_SPACE(sizeof(int)) : 0);
	c = CMSG_FIRSTHDR(&mh);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_CREDENTIALS;
	c->cmsg_len = CMSG_LEN(sizeof(cred));
	memcpy(CMSG_DATA(c), &cred, sizeof(cred));
	if (fd >= 0) {
		c = CMSG_NXTHDR(&mh, c);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	if (sendmsg_retry(S.chan, &mh) == (ssize_t)len)
		return true;
	if (errno != EPIPE && errno != ECONNRESET)
		die("sendmsg on the channel: %m");
	return false;
}

static void msg_init(struct ufd_msg *m, uint16_t type)
{
	memset(m, 0, sizeof(*m));
	m->magic = UFD_PROTO_MAGIC;
	m->version = UFD_PROTO_VERSION;
	m->type = type;
	m->nonce = S.nonce;
}

/* One answer from the daemon: 1, or 0 if it hung up.  *fdp: fd attached. */
static int chan_recv(struct ufd_msg *m, int *fdp)
{
	union {
		char buf[CMSG_SPACE(4 * sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = { .iov_base = m, .iov_len = sizeof(*m) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
			     .msg_control = u.buf,
			     .msg_controllen = sizeof(u.buf) };
	struct cmsghdr *c;
	int nfd = 0;
	ssize_t n;

	*fdp = -1;
	if (!wait_in(S.chan, ANSWER_MS))
		die("the daemon did not answer within %d ms", ANSWER_MS);
	n = recvmsg_retry(S.chan, &mh, MSG_CMSG_CLOEXEC);
	if (n < 0 && errno == ECONNRESET)
		return 0;
	if (n < 0)
		die("recvmsg on the channel: %m");
	for (c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		nfd = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		if (nfd != 1)
			die("a daemon message carries %d fds", nfd);
		memcpy(fdp, CMSG_DATA(c), sizeof(int));
	}
	if (n == 0)
		return 0;
	if (n != sizeof(*m) || (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) ||
	    m->magic != UFD_PROTO_MAGIC || m->version != UFD_PROTO_VERSION)
		die("the daemon sent a record of %zd bytes that is not a "
		    "message", n);
	if ((*fdp >= 0) != (m->type == UFD_MSG_INSTALL_FD))
		die("daemon message type %u with%s an fd", m->type,
		    *fdp >= 0 ? "" : "out");
	return 1;
}

static struct cfile *file_of(int fd)
{
	unsigned int i;

	for (i = 0; i != S.n_files; i++)
		if (S.files[i].fd == fd)
			return &S.files[i];
	return NULL;
}

static void file_forget(int fd)
{
	struct cfile *f = file_of(fd);

	if (f)
		*f = S.files[--S.n_files];
}

/* INSTALL_FD: take @fd into the child and answer as S.answer says. */
static bool answer_install(const struct ufd_msg *m, int fd)
{
	struct ufd_msg a;
	struct ctl_msg c = { CTL_INSTALL, -1 };
	uint8_t how = S.answer & 7;

	if (how == 1) {
		/* "No fd for you": the client could not install it. */
		close(fd);
		msg_init(&a, UFD_MSG_FD_INSTALLED);
		a.fd = -EMFILE;
		return chan_send(&a, sizeof(a), 0, -1);
	}
	if (how == 2) {
		/* The wrong message: the call fails with -EPROTO. */
		close(fd);
		msg_init(&a, S.answer & 8 ? UFD_MSG_RESULT : UFD_MSG_IOCTL);
		return chan_send(&a, sizeof(a), 0, -1);
	}
	if (how == 3) {
		/* Hang up instead. */
		close(fd);
		chan_close();
		return false;
	}
	ctl_call(&c, fd);
	close(fd);
	if (c.fd < 0)
		die("the client process did not get the fd");
	if (S.n_files < MAX_FILES)
		S.files[S.n_files++] = (struct cfile){ c.fd, m->kind };
	if (how == 4) {
		/* Garbage first (skipped), then the answer. */
		static const char junk[7] = "garbage";

		if (!chan_send(junk, sizeof(junk), 0, -1))
			return false;
	}
	msg_init(&a, UFD_MSG_FD_INSTALLED);
	a.fd = how == 5 ? -1 - (int)(S.answer >> 3) : c.fd;
	return chan_send(&a, sizeof(a), 0, -1);
}

/*
 * Send request @m (@len bytes, attachment @fd) and read until RESULT.
 * Returns its ret, or INT64_MIN if the channel went away (a new one is
 * opened then).
 */
static int64_t request(const void *msg, size_t len, uid_t uid, int fd)
{
	const struct ufd_msg *m = msg;
	struct ufd_msg a;
	int afd;

	if (S.chan < 0)
		chan_open();
	if (trace)
		fprintf(stderr, "request type %u fd %d cmd 0x%llx arg 0x%llx "
			"flags 0x%x kind %u pos 0x%llx fail_nth %u (%zu bytes, "
			"uid %u, fd %d attached, answer 0x%02x)\n", m->type,
			m->fd, (unsigned long long)m->cmd,
			(unsigned long long)m->arg, m->flags, m->kind,
			(unsigned long long)m->pos, m->fail_nth, len,
			(unsigned)uid, fd, S.answer);
	if (!chan_send(m, len, uid, fd))
		goto gone;
	/* A kick is the one message that has no answer (proto.h). */
	if (len == sizeof(*m) && m->magic == UFD_PROTO_MAGIC &&
	    m->version == UFD_PROTO_VERSION && m->type == UFD_MSG_RING_KICK)
		return 0;
	for (;;) {
		own_check("sending a request", false);
		if (!chan_recv(&a, &afd))
			goto gone;
		if (trace)
			fprintf(stderr, "  daemon: type %u fd %d kind %u ret %lld"
				"\n", a.type, a.fd, a.kind, (long long)a.ret);
		switch (a.type) {
		case UFD_MSG_RESULT:
			own_check("the request", true);
			return a.ret;
		case UFD_MSG_INSTALL_FD:
			if (a.kind >= UFD_FD_NR_KINDS)
				die("INSTALL_FD of kind %u", a.kind);
			if (!answer_install(&a, afd))
				goto gone;
			break;
		case UFD_MSG_CLOSE_FD: {
			struct ctl_msg c = { CTL_CLOSE, a.fd };

			ctl_call(&c, -1);
			file_forget(a.fd);
			break;
		}
		default:
			die("the daemon sent message type %u", a.type);
		}
	}
gone:
	chan_close();
	return INT64_MIN;
}

/* ---- building requests --------------------------------------------------------------- */

/* An fd number in the child: mostly a file the daemon made. */
static int32_t gen_fd(void)
{
	uint8_t s = u8();

	switch (s & 7) {
	case 0: case 1: case 2: case 3:
		if (S.n_files)
			return S.files[(s >> 3) % S.n_files].fd;
		return CFD_FIRST;
	case 4:
		return CFD_FIRST + (s >> 3) % MAX_FILES;
	case 5:
		return (s >> 3) % (CFD_FIRST + 1); /* stdio, ctl, memfd... */
	case 6:
		return (s & 8) ? -1 - (s >> 4) : 1000 + (s >> 4);
	default:
		return (int32_t)u32();
	}
}

/* An address in the child: mostly in the arena. */
static uint64_t gen_addr(void)
{
	uint8_t s = u8(), v = u8();

	switch (s & 7) {
	case 0:
		return 0;
	case 1: case 2: case 3:
		return CHILD_ARENA + (uint64_t)v % (ARENA_SIZE / PAGE) * PAGE;
	case 4:
		return CHILD_PRIV + (uint64_t)v % (PRIV_SIZE / PAGE) * PAGE;
	case 5:
		return CHILD_ARENA + ARENA_SIZE + PRIV_SIZE - v;
	case 6:
		return CHILD_ARENA + u32() % (ARENA_SIZE + PRIV_SIZE);
	default:
		return u64();
	}
}

static uint64_t gen_len(void)
{
	uint8_t s = u8();

	switch (s & 3) {
	case 0:
		return (1 + (s >> 2) % 16) * PAGE;
	case 1:
		return s >> 2;
	case 2:
		return u16();
	default:
		return u64();
	}
}

/* The VFIO calls (the iommufd ones come from the command table). */
static const struct {
	unsigned long cmd;
	uint32_t size;   /* of the struct (argsz), 0: an integer argument */
} vfio_cmds[] = {
	{ VFIO_GET_API_VERSION, 0 },
	{ VFIO_CHECK_EXTENSION, 0 },
	{ VFIO_SET_IOMMU, 0 },
	{ VFIO_GROUP_GET_STATUS, sizeof(struct vfio_group_status) },
	{ VFIO_GROUP_SET_CONTAINER, 4 },
	{ VFIO_GROUP_UNSET_CONTAINER, 0 },
	{ VFIO_GROUP_GET_DEVICE_FD, 13 },
	{ VFIO_DEVICE_GET_INFO, sizeof(struct vfio_device_info) },
	{ VFIO_DEVICE_GET_REGION_INFO, sizeof(struct vfio_region_info) },
	{ VFIO_DEVICE_GET_IRQ_INFO, sizeof(struct vfio_irq_info) },
	{ VFIO_DEVICE_SET_IRQS, sizeof(struct vfio_irq_set) + 8 },
	{ VFIO_DEVICE_RESET, 0 },
	{ VFIO_DEVICE_BIND_IOMMUFD,
	  sizeof(struct vfio_device_bind_iommufd) },
	{ VFIO_DEVICE_ATTACH_IOMMUFD_PT,
	  sizeof(struct vfio_device_attach_iommufd_pt) },
	{ VFIO_DEVICE_DETACH_IOMMUFD_PT,
	  sizeof(struct vfio_device_detach_iommufd_pt) },
	{ VFIO_IOMMU_GET_INFO, sizeof(struct vfio_iommu_type1_info) },
	{ VFIO_IOMMU_MAP_DMA, sizeof(struct vfio_iommu_type1_dma_map) },
	{ VFIO_IOMMU_UNMAP_DMA, sizeof(struct vfio_iommu_type1_dma_unmap) },
	{ VFIO_DEVICE_IOEVENTFD, sizeof(struct vfio_device_ioeventfd) },
};

/*
 * An ioctl: its command, and its struct in the arena at CMD_OFF: the size
 * field first, then bytes of the input; some u64 slots then get an arena
 * address, some s32 slots a child fd (the record says which).
 */
static void build_ioctl(struct ufd_msg *m)
{
	uint8_t s = u8();
	uint32_t size = 0, i, n;
	uint8_t *buf = arena + CMD_OFF;

	if (s & 1) {
		const struct ufd_ioctl_desc *d = descs[(s >> 1) % n_descs];

		m->cmd = d->cmd;
		size = d->size;
	} else if (s & 2) {
		unsigned int k = (s >> 2) % (sizeof(vfio_cmds) /
					     sizeof(vfio_cmds[0]));

		m->cmd = vfio_cmds[k].cmd;
		size = vfio_cmds[k].size;
	} else {
		m->cmd = (s & 4) ? u32() : u64();
		size = u8();
	}
	m->arg = CHILD_ARENA + CMD_OFF;
	if (m->cmd == VFIO_GROUP_GET_DEVICE_FD) {
		memcpy(buf, (s & 0x80) ? "0000:00:05.0" : "0000:00:04.0", 13);
		return;
	}
	if (!size) {
		/* An integer argument. */
		m->arg = u8();
		return;
	}
	if (size > PAGE)
		size = PAGE;
	if (m->cmd == VFIO_GROUP_SET_CONTAINER) {
		int32_t fd = gen_fd();

		memcpy(buf, &fd, 4);
		return;
	}
	memcpy(buf, &size, 4);
	for (i = 4; i < size && S.n; i++)
		buf[i] = u8();
	n = u8() % 4;
	while (n--) {
		uint8_t at = u8();

		if (at & 1) {
			uint64_t a = gen_addr();
			uint32_t off = (at >> 1) * 8 % size;

			if (off + 8 <= size)
				memcpy(buf + off, &a, 8);
		} else {
			int32_t fd = (at & 2) ? CFD_EVENTFD : gen_fd();
			uint32_t off = (at >> 2) * 4 % size;

			if (off + 4 <= size)
				memcpy(buf + off, &fd, 4);
		}
	}
	if ((s & 0x60) == 0x60)
		m->arg = gen_addr();
}

/* The fd a request carries (it is closed unread): none mostly. */
static int gen_attach(uint8_t mod)
{
	switch ((mod >> 4) & 7) {
	case 1:
		return devnull;
	case 2:
		return pipefd[0];
	case 3:
		return memfd;
	case 4:
		return ctl;
	default:
		return -1;
	}
}

/* ---- the shared ring ------------------------------------------------------------ */

/* The channel's ring, set up now if needed: false if the channel went. */
static bool ring_ensure(void)
{
	struct ufd_msg m;
	struct ufd_ring *r;
	int64_t ret;
	int fd;

	if (S.chan >= 0 && S.ring)
		return true;
	if (S.chan < 0)
		chan_open();
	fd = memfd_create("fuzz-proto-ring", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0 || ftruncate(fd, UFD_RING_BYTES) ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK))
		die("ring memfd: %m");
	r = mmap(NULL, UFD_RING_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
		 0);
	if (r == MAP_FAILED)
		die("ring mmap: %m");
	r->magic = UFD_RING_MAGIC;
	r->version = UFD_PROTO_VERSION;
	msg_init(&m, UFD_MSG_RING_SETUP);
	ret = request(&m, sizeof(m), 0, fd);
	close(fd);
	if (ret == INT64_MIN) {
		munmap(r, UFD_RING_BYTES);
		return false;
	}
	if (ret)
		die("RING_SETUP of a good ring answered %lld", (long long)ret);
	S.ring = r;
	return true;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* A daemon message during a ring call: a callback, or a bug. */
static bool ring_callback(void)
{
	struct ufd_msg a;
	int afd;

	if (!chan_recv(&a, &afd))
		return false;
	switch (a.type) {
	case UFD_MSG_INSTALL_FD:
		if (a.kind >= UFD_FD_NR_KINDS)
			die("INSTALL_FD of kind %u", a.kind);
		return answer_install(&a, afd);
	case UFD_MSG_CLOSE_FD: {
		struct ctl_msg c = { CTL_CLOSE, a.fd };

		ctl_call(&c, -1);
		file_forget(a.fd);
		return true;
	}
	case UFD_MSG_RING_KICK:
		return true;
	default:
		die("the daemon sent message type %u during a ring call",
		    a.type);
	}
}

/* 0: ignore transfers; 1: answer them with input; 2: take and hold
 * them; 3: ignore them, the state scribbled on. */
static unsigned int xfer_mode;

/* A transfer the daemon asks for during a ring call, as xfer_mode says. */
static void ring_xfer_answer(struct ufd_ring *r)
{
	uint32_t n = __atomic_load_n(&r->xfer_seq, __ATOMIC_ACQUIRE);

	if ((xfer_mode != 1 && xfer_mode != 2) || n == r->xfer_taken)
		return;
	__atomic_store_n(&r->xfer_taken, n, __ATOMIC_SEQ_CST);
	if (xfer_mode == 2)
		return;
	switch (u8() % 5) {
	case 0:
		r->xfer_ret = -EFAULT;
		break;
	case 1:
		r->xfer_ret = (int32_t)u32();
		break;
	case 2:
		r->xfer_ret = -ECANCELED;
		break;
	default:
		r->xfer_ret = 0;
		break;
	}
	for (unsigned int i = 0; i < 32; i++)
		r->xfer_data[i * 128] = u8();
	__atomic_store_n(&r->xfer_done, u8() % 8 ? n : u32(),
			 __ATOMIC_SEQ_CST);
}

/*
 * Put @m in the ring's call slot with the window and identity the input
 * says, kick, and serve the callbacks until the answer: its ret, or
 * INT64_MIN if the channel went.
 */
static int64_t ring_request(const struct ufd_msg *m)
{
	struct ufd_ring *r;
	struct ufd_msg kick;
	uint64_t deadline;
	uint32_t seq;

	if (!ring_ensure())
		return INT64_MIN;
	r = S.ring;
	memcpy(&r->req, m, sizeof(*m));
	r->file_dev = u8() & 1 ? u64() : 0;
	r->file_ino = r->file_dev ? u64() : 0;
	r->win_addr = u8() & 1 ? gen_addr() : m->arg;
	r->win_len = u8() & 1 ? u32() : u16() % (UFD_RING_WINDOW + 64);
	r->win_flags = u8();
	for (unsigned int i = 0; i < 64; i++)
		r->win[i * 128] = u8();
	r->dirty_lo = r->dirty_hi = 0;
	/* How this call answers the daemon's transfers (never by touching
	 * the addresses it names: they are the input's). */
	xfer_mode = u8() % 4;
	if (xfer_mode == 3) {
		r->xfer_taken = u32();
		r->xfer_done = u32();
	}
	if (trace)
		fprintf(stderr, "ring request type %u fd %d cmd 0x%llx arg "
			"0x%llx window 0x%llx+%u\n", m->type, m->fd,
			(unsigned long long)m->cmd, (unsigned long long)m->arg,
			(unsigned long long)r->win_addr, r->win_len);
	seq = r->req_seq + 1;
	__atomic_store_n(&r->req_seq, seq, __ATOMIC_SEQ_CST);
	/* Always a kick: the daemon's thread may sleep. */
	msg_init(&kick, UFD_MSG_RING_KICK);
	if (!chan_send(&kick, sizeof(kick), 0, -1))
		goto gone;
	deadline = now_ms() + ANSWER_MS;
	for (unsigned int spins = 0;; spins++) {
		if (__atomic_load_n(&r->done_seq, __ATOMIC_ACQUIRE) == seq)
			break;
		ring_xfer_answer(r);
		/* Most answers come within microseconds: look often first. */
		if (wait_in(S.chan, spins < 20000 ? 0 : 1) && !ring_callback())
			goto gone;
		if (now_ms() > deadline)
			die("the daemon did not answer a ring call within %d ms",
			    ANSWER_MS);
	}
	own_check("a ring call", true);
	if (r->dirty_lo > r->dirty_hi || r->dirty_hi > UFD_RING_WINDOW)
		die("a ring answer wrote [%u, %u) of the window", r->dirty_lo,
		    r->dirty_hi);
	return r->res_ret;
gone:
	chan_close();
	return INT64_MIN;
}

/* Posted MMIO stores in the ring's queue, then an empty call after them. */
static void ring_posts(void)
{
	struct ufd_msg m;
	struct ufd_ring *r;
	unsigned int n, i;
	uint32_t head;

	if (!ring_ensure())
		return;
	r = S.ring;
	n = 1 + u8() % 80;
	head = r->post_head;
	for (i = 0; i < n; i++) {
		struct ufd_ring_post *p = &r->posts[(head + i) % UFD_RING_POSTS];

		p->fd = gen_fd();
		p->region = u8() % 10;
		p->file_dev = u8() & 1 ? u64() : 0;
		p->file_ino = p->file_dev ? u64() : 0;
		p->off = u16();
		p->val = u64();
		p->size = 1u << (u8() % 5);
	}
	/* More than the queue holds: the daemon drops, never overruns. */
	__atomic_store_n(&r->post_head, head + n, __ATOMIC_SEQ_CST);
	msg_init(&m, UFD_MSG_RING_KICK);
	if (ring_request(&m) != INT64_MIN && S.ring &&
	    __atomic_load_n(&S.ring->post_tail, __ATOMIC_ACQUIRE) != head + n)
		die("the daemon served a call before the posts ahead of it");
}

/* One record: build the message its selector says, send it, check. */
static void run_op(uint8_t sel, uint8_t mod)
{
	static const uint16_t rw_types[] = {
		UFD_MSG_READ, UFD_MSG_WRITE, UFD_MSG_PREAD, UFD_MSG_PWRITE,
	};
	uint8_t wire[sizeof(struct ufd_msg) + 8] = { 0 };
	struct ufd_msg m;
	size_t len = sizeof(m);
	uid_t uid = (mod & 0x80) && (mod & 0x40) ? 4242 : 0;
	int64_t ret;
	int32_t fd;

	msg_init(&m, 0);
	S.answer = u8();
	if ((mod & 3) == 3)
		m.fail_nth = 1 + u8() % 32;
	switch (sel % 16) {
	case 0: case 1:
		m.type = UFD_MSG_OPEN;
		m.kind = u8() % 8;
		if (m.kind > UFD_FD_VFIO_DEVICE)
			m.kind = UFD_FD_IOMMUFD;
		m.arg = u8() % 6;
		m.flags = O_RDWR | ((sel & 0x10) ? O_CLOEXEC : 0);
		break;
	case 2: case 3: case 4: case 5:
		m.type = UFD_MSG_IOCTL;
		m.fd = gen_fd();
		build_ioctl(&m);
		break;
	case 6:
		m.type = rw_types[u8() % 4];
		m.fd = gen_fd();
		m.arg = gen_addr();
		m.cmd = gen_len();
		m.pos = (sel & 0x10) ? u64() : (uint64_t)u8() << (u8() % 48);
		break;
	case 7:
		m.type = UFD_MSG_FILE_KIND;
		m.fd = gen_fd();
		break;
	case 8:
		m.type = UFD_MSG_MMAP;
		m.fd = gen_fd();
		m.arg = (uint64_t)(u8() % 8) << 40 | (uint64_t)u8() * PAGE;
		m.cmd = gen_len();
		m.flags = u8() % 8;
		break;
	case 9:
		m.type = UFD_MSG_MMIO;
		m.fd = gen_fd();
		m.kind = u8() % 10;
		m.arg = u16();
		m.flags = (1u << (u8() % 5)) | ((sel & 0x10) ? UFD_MMIO_WRITE : 0);
		m.cmd = u64();
		break;
	case 10:
		m.type = UFD_MSG_BAR_MAPPED;
		m.fd = gen_fd();
		m.arg = (uint64_t)(u8() % 8) << 40 | (uint64_t)u8() * PAGE;
		m.cmd = gen_len();
		m.flags = u8() % 8;
		m.pos = (sel & 0x10) ? u64() : CHILD_PRIV + u8() % 32 * PAGE;
		break;
	case 11:
		m.type = UFD_MSG_BAR_UNMAPPED;
		m.pos = (sel & 0x10) ? u64() : CHILD_PRIV + u8() % 32 * PAGE;
		m.cmd = gen_len();
		break;
	case 12:
		m.type = UFD_MSG_DESCRIBE;
		m.arg = gen_addr();
		m.cmd = gen_len();
		break;
	case 13: {
		/* Raw bytes: any type, any field, maybe not even a message. */
		uint8_t *b = (uint8_t *)&m;
		size_t i;

		for (i = 0; i != sizeof(m); i++)
			b[i] = u8();
		if (sel & 0x10) {
			m.magic = UFD_PROTO_MAGIC;
			m.version = UFD_PROTO_VERSION;
		}
		if (sel & 0x20) {
			/* A record of the wrong size. */
			len = u8() % sizeof(wire);
			for (i = sizeof(m); i < len; i++)
				wire[i] = u8();
		}
		break;
	}
	case 14: {
		/* The program closes one of its files. */
		struct ctl_msg c = { CTL_CLOSE, gen_fd() };

		ctl_call(&c, -1);
		file_forget(c.fd);
		return;
	}
	default:
		if (sel & 0x20) {
			/* Posted stores through the ring. */
			ring_posts();
		} else if (sel & 0x10) {
			/* A new address space (exec): a new nonce. */
			S.nonce = ++nonce_seq;
		} else {
			/* The channel goes away between calls. */
			chan_close();
		}
		return;
	}
	if ((sel & 0x80) && len == sizeof(m)) {
		/* The same request through the channel's shared ring. */
		if (mod & 4)
			m.type = u16();
		ret = ring_request(&m);
		goto check;
	}
	if (mod & 4)
		m.type = u16();
	fd = gen_attach(mod);
	if (mod & 8)
		m.nonce = u64();
	memcpy(wire, &m, sizeof(m));
	ret = request(wire, len, uid, fd);
check:
	if (ret == INT64_MIN)
		return;
	if (m.type == UFD_MSG_FILE_KIND && len == sizeof(m) && !uid &&
	    m.magic == UFD_PROTO_MAGIC && m.version == UFD_PROTO_VERSION &&
	    file_of(m.fd) && ret >= 0 && ret != file_of(m.fd)->kind)
		die("FILE_KIND of fd %d answered %lld, the daemon installed "
		    "it as kind %u", m.fd, (long long)ret,
		    file_of(m.fd)->kind);
}

/* ---- libFuzzer entry points -------------------------------------------------------- */

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct ufd_daemon_config cfg = {
		.cap_sys_resource = true,
		.device_spec = SPEC,
	};
	const struct ufd_ioctl_desc *d;
	unsigned int i = 0;

	(void)argc;
	(void)argv;
	trace = getenv("UFD_FUZZ_TRACE") != NULL;
	cfg.debug = trace;
	if (geteuid() != 0)
		die("needs root: messages carry the client process's pid");
	signal(SIGPIPE, SIG_IGN);
	memfd = memfd_create("fuzz-proto-arena", MFD_CLOEXEC |
			     MFD_ALLOW_SEALING);
	if (memfd < 0 || ftruncate(memfd, ARENA_SIZE) ||
	    fcntl(memfd, F_ADD_SEALS, F_SEAL_SHRINK))
		die("memfd: %m");
	arena = mmap(NULL, ARENA_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
		     memfd, 0);
	if (arena == MAP_FAILED)
		die("mmap: %m");
	devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (devnull < 0 || pipe2(pipefd, O_CLOEXEC))
		die("open: %m");
	/* Before any thread exists (after the fds it inherits). */
	child_start();
	own_add(&ctl, "control socket");
	own_add(&devnull, "/dev/null");
	own_add(&pipefd[0], "pipe read end");
	own_add(&pipefd[1], "pipe write end");
	own_add(&memfd, "arena memfd");
	while ((d = ufd_ioctl_at(i)) && n_descs < 64) {
		descs[n_descs++] = d;
		i = _IOC_NR(d->cmd) - IOMMUFD_CMD_BASE + 1;
	}
	if (!n_descs)
		die("the command table is empty");
	if (ufd_daemon_new(&cfg, &D))
		die("ufd_daemon_new failed");
	S.chan = S.srv_fd = -1;
	S.nonce = ++nonce_seq;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ctl_msg c = { CTL_CLOSE_ALL, -1 };
	struct ufd_engine *eng;
	unsigned int nops = 0;
	struct ufd_msg m;
	int status;

	if (waitpid(child_pid, &status, WNOHANG) == child_pid)
		die("the client process died (status 0x%x)", status);
	S.p = data;
	S.n = size;
	S.n_files = 0;
	memset(arena, 0, ARENA_SIZE);

	while (S.n && nops++ < MAX_OPS) {
		size_t len = u8(), rest;
		const uint8_t *next;
		uint8_t sel, mod;

		if (len > S.n)
			len = S.n;
		rest = S.n - len;
		next = S.p + len;
		S.n = len;
		sel = u8();
		mod = u8();
		run_op(sel, mod);
		S.p = next;
		S.n = rest;
	}

	/*
	 * The end: hang up, the program closes everything, and a request
	 * from a new image retires the old one (its BAR records go).
	 */
	chan_close();
	ctl_call(&c, -1);
	S.n_files = 0;
	S.nonce = ++nonce_seq;
	msg_init(&m, UFD_MSG_FILE_KIND);
	m.fd = -1;
	if (request(&m, sizeof(m), 0, -1) != -EBADF)
		die("FILE_KIND of fd -1 from a fresh image did not fail "
		    "with -EBADF");
	chan_close();
	if (ufd_daemon_nr_files(D))
		die("%u files left after the client closed everything",
		    ufd_daemon_nr_files(D));
	eng = ufd_engine_default();
	if (ufd_engine_check(eng))
		die("the engine's invariant check failed");
	eng_lock(eng);
	if (eng->ctx_list || !itree_empty(&eng->all_pages))
		die("a context or pages object outlived every file");
	eng_unlock(eng);
	return 0;
}
