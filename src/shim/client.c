// SPDX-License-Identifier: MIT
/*
 * Server mode, the client side: the preload library talks to the uiommufd
 * daemon (src/server/daemon.c) over the protocol of src/server/proto.h.
 *
 * Model.  The files the program sees (/dev/iommu opens, access and fault
 * fds) are sockets whose other end the daemon holds; the fd table records
 * them (kind, identity) like in-process files, but their state is the
 * daemon's, so they need nothing on close: the kernel closes the socket,
 * and the daemon sees the hangup of the last copy.  Calls go over
 * "channels", connections to the daemon's listening socket that only this
 * library uses: a small pool of them per process, each used by one call at
 * a time (a thread takes an idle one, or connects a new one; when all are
 * busy it connects a temporary one).  A fork child closes every channel it
 * inherited and draws a new nonce (proto.h), so it never shares a channel
 * with its parent.  Channels sit at high fd numbers, are close-on-exec,
 * and are checked by identity (st_dev, st_ino) before each use, so a
 * program that closed or reused the number behind our back only costs a
 * reconnect.
 *
 * Nothing here calls a libc function that the library wraps (open, close,
 * read, write, fcntl, dup): it uses the socket calls and raw syscalls.
 *
 * Locking: the pool is a fixed array of slots with atomic states; the
 * configuration is set once (pthread_once).  No lock is held across I/O.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "server/proto.h"
#include "server/wire.h"
#include "shim/client.h"
#include "shim/failnth.h"
#include "shim/fdtab.h"

/* Channels are moved to this fd number or above, out of the program's way. */
#define CHAN_FD_BASE 700
#define NCHAN 16

enum { CH_EMPTY, CH_IDLE, CH_BUSY };

struct chan {
	int state; /* atomic */
	int fd;
	dev_t dev;
	ino_t ino;
};

static pthread_once_t srv_once = PTHREAD_ONCE_INIT;
static bool srv_on;
static struct sockaddr_un srv_addr;
static socklen_t srv_addrlen;
static pid_t srv_daemon_pid;
static uint64_t srv_nonce; /* atomic */
static struct chan chans[NCHAN];

/* The thread's posted MMIO writes (see post_drain). */
#define POST_MAX 32
#define POST_NONE (-2)

static __thread int post_slot = POST_NONE; /* or a slot, -1: temporary */
static __thread int post_sock = -1;
static __thread unsigned int post_outstanding;

static int post_drain(struct ufd_msg *last);

static void sys_close(int fd)
{
	syscall(SYS_close, fd);
}

static uint64_t new_nonce(void)
{
	uint64_t n = 0;
	struct timespec ts;

	if (syscall(SYS_getrandom, &n, sizeof(n), GRND_NONBLOCK) !=
	    sizeof(n)) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		n = (uint64_t)ts.tv_nsec ^ (uint64_t)ts.tv_sec << 30 ^
		    (uint64_t)getpid() << 44;
	}
	return n;
}

static void srv_init(void)
{
	const char *mode = getenv(UFD_ENV_MODE);
	const char *sock = getenv(UFD_ENV_SOCKET);
	const char *pid = getenv(UFD_ENV_DAEMON_PID);
	size_t n;

	if (!mode || strcmp(mode, "server") || !sock || !*sock)
		return;
	n = strlen(sock);
	if (n >= sizeof(srv_addr.sun_path))
		return;
	srv_addr.sun_family = AF_UNIX;
	memcpy(srv_addr.sun_path, sock, n);
	if (sock[0] == '@') {
		/* Abstract: a leading NUL, and no terminating one. */
		srv_addr.sun_path[0] = 0;
		srv_addrlen = (socklen_t)(offsetof(struct sockaddr_un,
						   sun_path) + n);
	} else {
		srv_addrlen = (socklen_t)(offsetof(struct sockaddr_un,
						   sun_path) + n + 1);
	}
	srv_daemon_pid = pid ? (pid_t)atoi(pid) : 0;
	__atomic_store_n(&srv_nonce, new_nonce(), __ATOMIC_RELAXED);
	srv_on = true;
}

bool shim_srv_enabled(void)
{
	pthread_once(&srv_once, srv_init);
	return srv_on;
}

/* ---- channels ---------------------------------------------------------------------- */

static bool fd_is(int fd, dev_t dev, ino_t ino)
{
	struct stat st;

	return fd >= 0 && !fstat(fd, &st) && st.st_dev == dev &&
	       st.st_ino == ino;
}

/* A new connection to the daemon, moved out of the way: fd or -errno. */
static int chan_connect(dev_t *dev, ino_t *ino)
{
	struct stat st;
	int fd, hi, rc, one = 1;

	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* Our credentials go with every message, whatever the daemon set. */
	setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one));
	do {
		rc = connect(fd, (struct sockaddr *)&srv_addr, srv_addrlen);
	} while (rc && errno == EINTR);
	if (rc) {
		sys_close(fd);
		return -ENODEV; /* no daemon: no device */
	}
	hi = (int)syscall(SYS_fcntl, fd, F_DUPFD_CLOEXEC, CHAN_FD_BASE);
	if (hi >= 0) {
		sys_close(fd);
		fd = hi;
	}
	if (fstat(fd, &st)) {
		sys_close(fd);
		return -EIO;
	}
	*dev = st.st_dev;
	*ino = st.st_ino;
	return fd;
}

/* A channel for one call: its slot (or -1 for a temporary one) and fd. */
static int chan_get(int *fd, dev_t *dev, ino_t *ino)
{
	int i, expect;

	for (i = 0; i < NCHAN; i++) {
		expect = CH_IDLE;
		if (!__atomic_compare_exchange_n(&chans[i].state, &expect,
						 CH_BUSY, false,
						 __ATOMIC_ACQUIRE,
						 __ATOMIC_RELAXED))
			continue;
		if (fd_is(chans[i].fd, chans[i].dev, chans[i].ino)) {
			*fd = chans[i].fd;
			return i;
		}
		/* Closed (and maybe reused) behind our back: forget it. */
		__atomic_store_n(&chans[i].state, CH_EMPTY, __ATOMIC_RELEASE);
	}
	for (i = 0; i < NCHAN; i++) {
		expect = CH_EMPTY;
		if (!__atomic_compare_exchange_n(&chans[i].state, &expect,
						 CH_BUSY, false,
						 __ATOMIC_ACQUIRE,
						 __ATOMIC_RELAXED))
			continue;
		chans[i].fd = chan_connect(&chans[i].dev, &chans[i].ino);
		if (chans[i].fd < 0) {
			int err = chans[i].fd;

			__atomic_store_n(&chans[i].state, CH_EMPTY,
					 __ATOMIC_RELEASE);
			return err;
		}
		*fd = chans[i].fd;
		return i;
	}
	*fd = chan_connect(dev, ino);
	return *fd < 0 ? *fd : -1;
}

static void chan_put(int slot, int fd, bool broken)
{
	if (slot < 0) {
		sys_close(fd);
		return;
	}
	if (broken) {
		sys_close(fd);
		chans[slot].fd = -1;
		__atomic_store_n(&chans[slot].state, CH_EMPTY,
				 __ATOMIC_RELEASE);
		return;
	}
	__atomic_store_n(&chans[slot].state, CH_IDLE, __ATOMIC_RELEASE);
}

void shim_srv_atfork_child(void)
{
	int i;

	/* Only this thread exists: every channel of the parent is a copy. */
	if (post_slot == -1 && post_sock >= 0)
		sys_close(post_sock);
	post_slot = POST_NONE;
	post_sock = -1;
	post_outstanding = 0;
	for (i = 0; i < NCHAN; i++) {
		if (chans[i].state != CH_EMPTY &&
		    fd_is(chans[i].fd, chans[i].dev, chans[i].ino))
			sys_close(chans[i].fd);
		chans[i].fd = -1;
		chans[i].state = CH_EMPTY;
	}
	if (srv_on)
		__atomic_store_n(&srv_nonce, new_nonce(), __ATOMIC_RELAXED);
}

/* ---- messages ---------------------------------------------------------------------- */

/* INSTALL_FD: record the fd as one of ours; its number, or -errno. */
static int install_fd(const struct ufd_msg *m, int fd)
{
	struct shim_file *f;
	int rc;

	if (fd < 0)
		return -EBADMSG;
	if (m->kind >= UFD_FD_NR_KINDS) {
		sys_close(fd);
		return -EBADMSG;
	}
	if (!(m->flags & O_CLOEXEC))
		syscall(SYS_fcntl, fd, F_SETFD, 0);
	f = shim_file_new((enum ufd_fd_kind)m->kind, NULL, 0, fd);
	if (!f) {
		sys_close(fd);
		return -ENOMEM;
	}
	rc = shim_fdtab_install(fd, f);
	shim_file_put(f);
	if (rc < 0) {
		sys_close(fd);
		return rc;
	}
	return fd;
}

/* CLOSE_FD: close an fd the daemon made in this call, if it is ours. */
static void close_fd(int fd)
{
	struct shim_file *f = shim_fdtab_take(fd);

	if (!f)
		return;
	sys_close(fd);
	shim_file_put(f);
}

/*
 * Send @req and serve the daemon until its RESULT, which goes to @res if
 * not NULL.  >= 0 or -errno.
 */
static long srv_call_res(struct ufd_msg *req, struct ufd_msg *res)
{
	struct ufd_msg m;
	dev_t dev = 0;
	ino_t ino = 0;
	int slot, sock = -1, fd;
	bool broken = false;
	long ret;

	if (!shim_srv_enabled())
		return -ENODEV;
	/* Whatever this thread posted is done before it asks anything else. */
	if (post_slot != POST_NONE) {
		shim_sig_enter();
		post_drain(NULL);
		shim_sig_leave();
	}
	slot = chan_get(&sock, &dev, &ino);
	if (slot < -1)
		return slot;
	req->nonce = __atomic_load_n(&srv_nonce, __ATOMIC_RELAXED);
	/* The thread's fail-nth goes with its calls (proto.h). */
	if (req->type != UFD_MSG_MMIO && req->type != UFD_MSG_FILE_KIND)
		req->fail_nth = shim_fail_nth;
	if (ufd_wire_send(sock, req, -1)) {
		ret = -EIO;
		broken = true;
		goto out;
	}
	for (;;) {
		if (ufd_wire_recv(sock, &m, &fd, NULL, NULL) != 1) {
			ret = -EIO;
			broken = true;
			break;
		}
		if (m.type == UFD_MSG_RESULT) {
			if (fd >= 0)
				sys_close(fd);
			ret = (long)m.ret;
			if (req->fail_nth)
				shim_fail_nth = m.fail_nth;
			if (res)
				*res = m;
			break;
		}
		if (m.type == UFD_MSG_INSTALL_FD) {
			struct ufd_msg a = { .type = UFD_MSG_FD_INSTALLED };

			a.fd = install_fd(&m, fd);
			if (ufd_wire_send(sock, &a, -1)) {
				ret = -EIO;
				broken = true;
				break;
			}
			continue;
		}
		if (fd >= 0)
			sys_close(fd);
		if (m.type == UFD_MSG_CLOSE_FD)
			close_fd(m.fd);
	}
out:
	chan_put(slot, sock, broken);
	return ret;
}

static long srv_call(struct ufd_msg *req)
{
	return srv_call_res(req, NULL);
}

/* ---- posted MMIO writes ----------------------------------------------------------- */

/*
 * A thread's BAR stores are sent on a channel it keeps (its post channel)
 * without waiting for their answers, as PCIe posts memory writes.  The
 * answers are collected before anything else the thread asks: its next
 * MMIO read, sent on the same channel so that the daemon (which serves a
 * channel in order) performs it after every earlier write; any other call
 * (srv_call_res drains first); or when POST_MAX are outstanding, so that
 * neither side's socket buffer can fill.  A posted write that fails is
 * dropped, as a posted write to a device is.  Thread-local and touched
 * only by its thread (also from the MMIO trap's handler): no lock.  A
 * thread that exits with writes outstanding leaves its channel busy;
 * others then use the remaining ones.
 */

/* Collect the outstanding answers (the last into @last) and let go. */
static int post_drain(struct ufd_msg *last)
{
	struct ufd_msg m;
	bool broken = false;
	int fd;

	while (post_outstanding) {
		if (ufd_wire_recv(post_sock, &m, &fd, NULL, NULL) != 1 ||
		    m.type != UFD_MSG_RESULT) {
			if (fd >= 0)
				sys_close(fd);
			broken = true;
			break;
		}
		if (fd >= 0)
			sys_close(fd);
		post_outstanding--;
		if (!post_outstanding && last)
			*last = m;
	}
	chan_put(post_slot, post_sock, broken);
	post_slot = POST_NONE;
	post_sock = -1;
	post_outstanding = 0;
	return broken ? -EIO : 0;
}

/* Send @req on the post channel (taken if needed) without waiting. */
static int post_send(struct ufd_msg *req)
{
	dev_t dev = 0;
	ino_t ino = 0;

	if (!shim_srv_enabled())
		return -ENODEV;
	if (post_slot == POST_NONE) {
		post_slot = chan_get(&post_sock, &dev, &ino);
		if (post_slot < -1) {
			int err = post_slot;

			post_slot = POST_NONE;
			return err;
		}
	}
	req->nonce = __atomic_load_n(&srv_nonce, __ATOMIC_RELAXED);
	if (ufd_wire_send(post_sock, req, -1)) {
		chan_put(post_slot, post_sock, true);
		post_slot = POST_NONE;
		post_sock = -1;
		post_outstanding = 0;
		return -EIO;
	}
	post_outstanding++;
	return 0;
}

/* ---- calls -------------------------------------------------------------------------- */

int shim_srv_open(int flags, enum ufd_fd_kind kind, uint32_t index)
{
	struct ufd_msg req = { .type = UFD_MSG_OPEN };
	int saved = errno;
	long ret;

	req.flags = (uint32_t)flags;
	req.kind = kind;
	req.arg = index;
	ret = srv_call(&req);
	errno = saved;
	return (int)ret;
}

long shim_srv_ioctl(int fd, unsigned long cmd, uint64_t arg)
{
	struct ufd_msg req = { .type = UFD_MSG_IOCTL };
	int saved = errno;
	long ret;

	req.fd = fd;
	req.cmd = cmd;
	req.arg = arg;
	ret = srv_call(&req);
	errno = saved;
	return ret;
}

int shim_srv_mmap(int fd, uint64_t off, uint64_t len, int prot,
		  unsigned int *region, uint64_t *region_off)
{
	struct ufd_msg req = { .type = UFD_MSG_MMAP }, res;
	int saved = errno;
	long ret;

	req.fd = fd;
	req.arg = off;
	req.cmd = len;
	req.flags = (uint32_t)prot;
	ret = srv_call_res(&req, &res);
	if (!ret) {
		*region = (unsigned int)res.arg;
		*region_off = res.cmd;
	}
	errno = saved;
	return (int)ret;
}

int shim_srv_bar_mapped(int fd, uint64_t off, uint64_t len, int prot,
			uint64_t addr)
{
	struct ufd_msg req = { .type = UFD_MSG_BAR_MAPPED };
	int saved = errno;
	long ret;

	req.fd = fd;
	req.arg = off;
	req.cmd = len;
	req.flags = (uint32_t)prot;
	req.pos = addr;
	ret = srv_call(&req);
	errno = saved;
	return (int)ret;
}

int shim_srv_bar_unmapped(uint64_t addr, uint64_t len)
{
	struct ufd_msg req = { .type = UFD_MSG_BAR_UNMAPPED };
	int saved = errno;
	long ret;

	req.pos = addr;
	req.cmd = len;
	ret = srv_call(&req);
	errno = saved;
	return (int)ret;
}

int shim_srv_mmio(int fd, unsigned int region, uint64_t off,
		  unsigned int size, bool write, uint64_t *val)
{
	struct ufd_msg req = { .type = UFD_MSG_MMIO }, res;
	int saved = errno;
	long ret;

	req.fd = fd;
	req.kind = region;
	req.arg = off;
	req.flags = size | (write ? UFD_MMIO_WRITE : 0);
	req.cmd = write ? *val : 0;
	/* The post channel is this thread's: no handler may interleave. */
	shim_sig_enter();
	if (write) {
		/* Posted: the answer is collected later (see post_drain). */
		ret = post_send(&req);
		if (!ret && post_outstanding >= POST_MAX)
			post_drain(NULL);
	} else if (post_slot != POST_NONE) {
		/* After the writes before it, on their channel. */
		ret = post_send(&req);
		if (!ret)
			ret = post_drain(&res);
		if (!ret)
			ret = (long)res.ret;
		if (!ret)
			*val = res.cmd;
	} else {
		ret = srv_call_res(&req, &res);
		if (!ret)
			*val = res.cmd;
	}
	shim_sig_leave();
	errno = saved;
	return (int)ret;
}

int shim_srv_accounting(pid_t pid, uint64_t *pinned, uint64_t *locked)
{
	struct ufd_msg req = { .type = UFD_MSG_ACCOUNTING }, res;
	int saved = errno;
	long ret;

	req.arg = (uint64_t)pid;
	ret = srv_call_res(&req, &res);
	if (!ret) {
		*pinned = res.arg;
		*locked = res.cmd;
	}
	errno = saved;
	return (int)ret;
}

int shim_srv_file_kind(int fd)
{
	struct ufd_msg req = { .type = UFD_MSG_FILE_KIND };
	int saved = errno;
	long ret;

	req.fd = fd;
	ret = srv_call(&req);
	errno = saved;
	return (int)ret;
}

long shim_srv_rw(int fd, bool write, bool fault, uint64_t buf,
		 uint64_t count, const uint64_t *pos)
{
	struct ufd_msg req = { .type = write ? UFD_MSG_WRITE : UFD_MSG_READ };
	int saved = errno;
	char bell;
	long ret;

	if (fault && !write) {
		/* The doorbells rung so far; the daemon rings again if needed. */
		while (recv(fd, &bell, sizeof(bell), MSG_DONTWAIT) > 0)
			;
	}
	if (pos) {
		req.type = write ? UFD_MSG_PWRITE : UFD_MSG_PREAD;
		req.pos = *pos;
	}
	req.fd = fd;
	req.arg = buf;
	req.cmd = count;
	ret = srv_call(&req);
	errno = saved;
	return ret;
}

bool shim_srv_is_daemon_fd(int fd)
{
	struct ucred peer;
	socklen_t len = sizeof(peer);
	int saved = errno, type = 0;
	socklen_t tlen = sizeof(type);
	struct stat st;
	bool ours;

	if (!shim_srv_enabled())
		return false;
	ours = !fstat(fd, &st) && S_ISSOCK(st.st_mode) &&
	       !getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tlen) &&
	       type == SOCK_SEQPACKET &&
	       !getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &peer, &len) &&
	       srv_daemon_pid > 0 && peer.pid == srv_daemon_pid;
	errno = saved;
	return ours;
}
