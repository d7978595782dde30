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
 * The ring.  Each pooled channel is given a shared ring right after it
 * connects (RING_SETUP, proto.h; UIOMMUFD_RING=0 turns it off): its
 * calls are written into the ring and answered there, each side spinning
 * a while before it sleeps on the socket (ring.h), so that a call to a
 * daemon thread that is awake costs no system call.  The call names its
 * file by fd and by the identity the fd table recorded, and brings a
 * snapshot of its argument (the window, copied with the fault-guarded
 * copy of ucopy.c), whose bytes the daemon wrote are copied back before
 * the call returns.  While it waits, the thread also makes the copies of
 * its own memory the daemon asks for (proto.h, "Transfers"), with the
 * same guarded copy.  A channel with a ring needs its socket only to sleep,
 * to wake the daemon and for callbacks, so only then is its identity
 * checked.  The ring is MADV_DONTFORK: a fork child never sees it.
 * Temporary channels (all 16 busy) have no ring.
 *
 * Nothing here calls a libc function that the library wraps (open, close,
 * read, write, fcntl, dup, mmap): it uses the socket calls and raw
 * syscalls.
 *
 * Locking: the pool is a fixed array of slots with atomic states; the
 * configuration is set once (pthread_once).  No lock is held across I/O.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "server/proto.h"
#include "server/ring.h"
#include "server/wire.h"
#include "shim/client.h"
#include "shim/failnth.h"
#include "shim/fdtab.h"
#include "shim/ucopy.h"
#include "linux_compat.h"

/* Channels are moved to this fd number or above, out of the program's way. */
#define CHAN_FD_BASE 700
#define NCHAN 16

enum { CH_EMPTY, CH_IDLE, CH_BUSY };

struct chan {
	int state; /* atomic */
	int fd;
	dev_t dev;
	ino_t ino;
	struct ufd_ring *ring; /* or NULL: messages on the socket only */
	struct ufd_ring_spinner spin; /* of whoever calls on it */
};

/*
 * One call's channel: a pool slot (or -1: temporary) with its socket and
 * ring (NULL for a temporary one).
 */
struct chan_use {
	int slot;
	int fd;
	struct ufd_ring *ring;
};

static struct chan chans[NCHAN];

/* What a call brings besides its message (struct ufd_ring). */
struct call_extra {
	uint64_t file_dev, file_ino; /* req.fd's identity; 0: unknown */
	uint64_t win_addr;
	size_t win_len;
	enum { WIN_NONE, WIN_INOUT, WIN_IN, WIN_OUT } win;
};

static pthread_once_t srv_once = PTHREAD_ONCE_INIT;
static bool srv_on;
static bool srv_ring_on;
static struct sockaddr_un srv_addr;
static socklen_t srv_addrlen;
static pid_t srv_daemon_pid;
static uint64_t srv_nonce; /* atomic */

/* The thread's posted MMIO writes (see post_drain). */
#define POST_MAX 32
#define POST_NONE (-2)

/* The thread's post channel: slot POST_NONE (none), a slot, or -1. */
static __thread struct chan_use post = { .slot = POST_NONE, .fd = -1 };
static __thread unsigned int post_outstanding;

static int post_drain(struct ufd_msg *last);
static void chan_put(const struct chan_use *u, bool broken);

/* The thread has no post channel (any more); @put: give it back first. */
static void post_forget(bool put, bool broken)
{
	if (put)
		chan_put(&post, broken);
	post.slot = POST_NONE;
	post.fd = -1;
	post.ring = NULL;
	post_outstanding = 0;
}

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
	srv_ring_on = !getenv("UIOMMUFD_RING") ||
		      strcmp(getenv("UIOMMUFD_RING"), "0");
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

/*
 * Give channel @sock a ring (RING_SETUP): the ring, or NULL if the daemon
 * will not have it (the channel goes on without).  *@broken: the channel
 * failed meanwhile.
 */
static struct ufd_ring *ring_attach(int sock, bool *broken)
{
	struct ufd_msg m, res;
	struct ufd_ring *r;
	long addr;
	int mfd, rc;

	*broken = false;
	mfd = (int)syscall(SYS_memfd_create, "uiommufd-ring",
			   MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (mfd < 0)
		return NULL;
	/* Sealed: the daemon maps it and must never see a page vanish. */
	if (syscall(SYS_ftruncate, mfd, (long)UFD_RING_BYTES) ||
	    syscall(SYS_fcntl, mfd, F_ADD_SEALS,
		    F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)) {
		sys_close(mfd);
		return NULL;
	}
	addr = syscall(SYS_mmap, NULL, (long)UFD_RING_BYTES,
		       PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0L);
	if (addr < 0 && addr > -4096) {
		sys_close(mfd);
		return NULL;
	}
	r = (struct ufd_ring *)addr;
	/* Not in a fork child: its calls go on channels of its own. */
	syscall(SYS_madvise, r, (long)UFD_RING_BYTES, MADV_DONTFORK);
	r->magic = UFD_RING_MAGIC;
	r->version = UFD_PROTO_VERSION;
	ufd_wire_init(&m, UFD_MSG_RING_SETUP);
	m.nonce = __atomic_load_n(&srv_nonce, __ATOMIC_RELAXED);
	rc = ufd_wire_send(sock, &m, mfd);
	sys_close(mfd);
	if (!rc)
		rc = ufd_wire_recv(sock, &res, NULL, NULL, NULL) == 1 &&
				     res.type == UFD_MSG_RESULT ?
			     0 : -EIO;
	if (rc || res.ret) {
		*broken = rc != 0;
		syscall(SYS_munmap, r, (long)UFD_RING_BYTES);
		return NULL;
	}
	return r;
}

/* A new connection to the daemon, moved out of the way: fd or -errno. */
static int chan_connect(dev_t *dev, ino_t *ino, struct ufd_ring **ring)
{
	struct stat st;
	int fd, hi, rc, one = 1;
	bool broken = false;

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
	if (ring) {
		*ring = srv_ring_on ? ring_attach(fd, &broken) : NULL;
		if (broken) {
			sys_close(fd);
			return -EIO;
		}
	}
	return fd;
}

/* A channel for one call: 0, or -errno. */
static int chan_get(struct chan_use *u)
{
	dev_t dev;
	ino_t ino;
	int i, expect;

	for (i = 0; i < NCHAN; i++) {
		expect = CH_IDLE;
		if (!__atomic_compare_exchange_n(&chans[i].state, &expect,
						 CH_BUSY, false,
						 __ATOMIC_ACQUIRE,
						 __ATOMIC_RELAXED))
			continue;
		/*
		 * A ring needs no check while its daemon thread is awake:
		 * it is ours whatever became of the socket's number, which
		 * is checked before each use.  A sleeping (or gone) thread
		 * needs the socket at once, for a kick.
		 */
		if ((chans[i].ring &&
		     !ufd_ring_peek(&chans[i].ring->daemon_sleeping)) ||
		    fd_is(chans[i].fd, chans[i].dev, chans[i].ino)) {
			u->slot = i;
			u->fd = chans[i].fd;
			u->ring = chans[i].ring;
			return 0;
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
		chans[i].fd = chan_connect(&chans[i].dev, &chans[i].ino,
					   &chans[i].ring);
		if (chans[i].fd < 0) {
			int err = chans[i].fd;

			__atomic_store_n(&chans[i].state, CH_EMPTY,
					 __ATOMIC_RELEASE);
			return err;
		}
		u->slot = i;
		u->fd = chans[i].fd;
		u->ring = chans[i].ring;
		return 0;
	}
	u->slot = -1;
	u->ring = NULL;
	u->fd = chan_connect(&dev, &ino, NULL);
	return u->fd < 0 ? u->fd : 0;
}

static void chan_put(const struct chan_use *u, bool broken)
{
	struct chan *c;

	if (u->slot < 0) {
		sys_close(u->fd);
		return;
	}
	c = &chans[u->slot];
	if (broken) {
		/* Our socket, unless its number was taken from us. */
		if (!c->ring || fd_is(c->fd, c->dev, c->ino))
			sys_close(c->fd);
		if (c->ring)
			syscall(SYS_munmap, c->ring, (long)UFD_RING_BYTES);
		c->ring = NULL;
		c->fd = -1;
		__atomic_store_n(&c->state, CH_EMPTY, __ATOMIC_RELEASE);
		return;
	}
	__atomic_store_n(&c->state, CH_IDLE, __ATOMIC_RELEASE);
}

/* Is the socket of the ring channel @u still ours (before using it)? */
static bool chan_sock_ok(const struct chan_use *u)
{
	const struct chan *c;

	if (u->slot < 0)
		return true;
	c = &chans[u->slot];
	return fd_is(c->fd, c->dev, c->ino);
}

void shim_srv_atfork_child(void)
{
	int i;

	/* Only this thread exists: every channel of the parent is a copy. */
	if (post.slot == -1 && post.fd >= 0)
		sys_close(post.fd);
	post_forget(false, false);
	for (i = 0; i < NCHAN; i++) {
		if (chans[i].state != CH_EMPTY &&
		    fd_is(chans[i].fd, chans[i].dev, chans[i].ino))
			sys_close(chans[i].fd);
		/* The ring is not mapped here (MADV_DONTFORK). */
		chans[i].ring = NULL;
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
 * A message from the daemon other than RESULT: act on a callback
 * (INSTALL_FD: answered; CLOSE_FD), skip a kick.  *@callbacks counts the
 * callbacks handled.  0, or -EIO when the channel failed.
 */
static int take_message(int sock, const struct ufd_msg *m, int fd,
			uint32_t *callbacks)
{
	if (m->type == UFD_MSG_INSTALL_FD) {
		struct ufd_msg a = { .type = UFD_MSG_FD_INSTALLED };

		a.fd = install_fd(m, fd);
		(*callbacks)++;
		return ufd_wire_send(sock, &a, -1) ? -EIO : 0;
	}
	if (fd >= 0)
		sys_close(fd);
	if (m->type == UFD_MSG_CLOSE_FD) {
		close_fd(m->fd);
		(*callbacks)++;
	}
	return 0;
}

/* Send @req on the socket and serve the daemon until its RESULT. */
static long sock_call(int sock, struct ufd_msg *req, struct ufd_msg *res,
		      bool *broken)
{
	uint32_t callbacks = 0;
	struct ufd_msg m;
	int fd;

	if (ufd_wire_send(sock, req, -1)) {
		*broken = true;
		return -EIO;
	}
	for (;;) {
		if (ufd_wire_recv(sock, &m, &fd, NULL, NULL) != 1) {
			*broken = true;
			return -EIO;
		}
		if (m.type == UFD_MSG_RESULT) {
			if (fd >= 0)
				sys_close(fd);
			if (res)
				*res = m;
			return (long)m.ret;
		}
		if (take_message(sock, &m, fd, &callbacks)) {
			*broken = true;
			return -EIO;
		}
	}
}

/* The argument window of a ring call (struct call_extra), into @r. */
static void ring_window(struct ufd_ring *r, const struct call_extra *x)
{
	uint32_t size = 0;
	size_t want, n;

	r->win_len = 0;
	r->win_flags = 0;
	r->win_addr = x->win_addr;
	/* Only the guarded copy may touch the caller's memory here. */
	if (x->win == WIN_NONE || x->win_addr < 65536 || !shim_ucopy_ready())
		return;
	want = x->win_len;
	if (x->win == WIN_INOUT) {
		/* An ioctl: as much as its size (or argsz) word says. */
		if (shim_ucopy_some(&size, x->win_addr, sizeof(size)) !=
		    sizeof(size))
			return;
		want = size < sizeof(size) ? sizeof(size) : size;
	}
	if (want > UFD_RING_WINDOW)
		want = UFD_RING_WINDOW;
	if (!want)
		return;
	if (x->win == WIN_OUT) {
		/* read(): nothing to bring, but the bytes must take stores. */
		if (!shim_uprobe_writable(x->win_addr, want))
			return;
		r->win_len = (uint32_t)want;
		r->win_flags = UFD_RING_WIN_WRITABLE;
		return;
	}
	n = shim_ucopy_some(r->win, x->win_addr, want);
	r->win_len = (uint32_t)n;
	if (n && x->win == WIN_INOUT && shim_uprobe_writable(x->win_addr, n))
		r->win_flags = UFD_RING_WIN_WRITABLE;
}

/*
 * A transfer the daemon asks for while we wait (proto.h, "Transfers"):
 * take it, copy with the fault-guarded copy, answer.  Does nothing if
 * there is none; answers -ECANCELED without copying if the daemon took
 * it back (or a later one: then its fields may be that one's).
 */
static void ring_serve_xfer(struct ufd_ring *r)
{
	uint32_t n = ufd_ring_peek(&r->xfer_seq), len;
	uint64_t addr;
	int32_t ret;

	if (n == r->xfer_taken)
		return;
	/* Taken, then the daemon's take-back looked at (Dekker). */
	ufd_ring_publish(&r->xfer_taken, n);
	if ((int32_t)(ufd_ring_peek_sc(&r->xfer_cancel) - n) >= 0) {
		ret = -ECANCELED;
	} else {
		addr = r->xfer_addr;
		len = r->xfer_len;
		if (len > UFD_RING_XFER || !shim_ucopy_ready())
			ret = -EAGAIN;
		else if (r->xfer_store)
			ret = shim_ucopy_to(addr, r->xfer_data, len) ? -EFAULT :
								       0;
		else
			ret = shim_ucopy_some(r->xfer_data, addr, len) == len ?
				      0 : -EFAULT;
		if (ret != -EAGAIN)
			r->xfer_served++;
	}
	r->xfer_ret = ret;
	ufd_ring_publish(&r->xfer_done, n);
}

static bool ring_xfer_asked(const struct ufd_ring *r)
{
	return ufd_ring_peek(&r->xfer_seq) != r->xfer_taken;
}

/*
 * The ring's socket is not ours any more (the program closed its number,
 * say with close_range): the daemon cannot be woken, and its thread ends
 * at its next sleep.  Wait for the call without the socket, polling with
 * growing naps: -EAGAIN if the daemon never took the call (the caller may
 * make it again on another channel), 0 once it is answered (callbacks it sent
 * are lost with the socket, and the daemon undid them when they failed),
 * -EIO if the daemon is gone.
 */
static int ring_wait_blind(struct ufd_ring *r, uint32_t seq)
{
	struct timespec nap = { 0, 1000 };
	uint64_t since = ufd_ring_now_ns();

	for (;;) {
		if (ring_xfer_asked(r))
			ring_serve_xfer(r);
		if (ufd_ring_peek(&r->done_seq) == seq)
			return 0;
		/* An awake daemon takes a call within microseconds. */
		if (ufd_ring_peek(&r->taken_seq) != seq &&
		    ufd_ring_now_ns() - since > 20 * 1000 * 1000)
			return -EAGAIN;
		if (srv_daemon_pid > 0 && kill(srv_daemon_pid, 0) &&
		    errno == ESRCH)
			return -EIO;
		syscall(SYS_nanosleep, &nap, NULL);
		if (nap.tv_nsec < 1000 * 1000)
			nap.tv_nsec *= 2;
	}
}

/*
 * Wait for the ring call @seq's answer (done_seq), serving the callbacks
 * announced meanwhile; spin a while, then sleep on the socket.  0, -EIO,
 * or -EAGAIN (ring_wait_blind).
 */
static int ring_wait(const struct chan_use *u, uint32_t seq,
		     uint32_t *callbacks, bool *orphan)
{
	struct ufd_ring *r = u->ring;
	uint64_t since = 0; /* set by the spin's first look at the clock */
	unsigned int steps = 0;
	struct ufd_msg m;
	int fd;

	for (;;) {
		/* A callback is (or is about to be) on the socket. */
		if ((int32_t)(ufd_ring_peek(&r->cb_sent) - *callbacks) > 0) {
			if (!chan_sock_ok(u)) {
				*orphan = true;
				return ring_wait_blind(r, seq);
			}
			if (ufd_wire_recv(u->fd, &m, &fd, NULL, NULL) != 1 ||
			    take_message(u->fd, &m, fd, callbacks))
				return -EIO;
			continue;
		}
		if (ring_xfer_asked(r)) {
			ring_serve_xfer(r);
			continue;
		}
		if (ufd_ring_peek(&r->done_seq) == seq) {
			/* Callbacks sent before the answer come first. */
			if ((int32_t)(ufd_ring_peek(&r->cb_sent) -
				      *callbacks) > 0)
				continue;
			ufd_ring_spin_done(&chans[u->slot].spin, since);
			return 0;
		}
		/* What the daemon writes back into the window comes with
		 * done_seq. */
		if (ufd_ring_spin_step(&chans[u->slot].spin, &since, &steps))
			continue;
		ufd_ring_announce_sleep(&r->client_sleeping, true);
		if (ufd_ring_peek(&r->done_seq) == seq || ring_xfer_asked(r) ||
		    (int32_t)(ufd_ring_peek(&r->cb_sent) - *callbacks) > 0) {
			ufd_ring_announce_sleep(&r->client_sleeping, false);
			continue;
		}
		/* Asleep until the daemon kicks, calls back, or goes away. */
		if (!chan_sock_ok(u)) {
			ufd_ring_announce_sleep(&r->client_sleeping, false);
			*orphan = true;
			return ring_wait_blind(r, seq);
		}
		if (ufd_wire_recv(u->fd, &m, &fd, NULL, NULL) != 1 ||
		    take_message(u->fd, &m, fd, callbacks)) {
			ufd_ring_announce_sleep(&r->client_sleeping, false);
			return -EIO;
		}
		if (m.type == UFD_MSG_RING_KICK)
			ufd_ring_spin_kicked(&chans[u->slot].spin, &m);
		ufd_ring_announce_sleep(&r->client_sleeping, false);
	}
}

/*
 * One call through the ring of channel @u.  -EAGAIN with *@broken: the
 * call was never made (the socket was lost, ring_wait_blind); the caller
 * may make it again on another channel.
 */
static long ring_call(const struct chan_use *u, struct ufd_msg *req,
		      struct ufd_msg *res, const struct call_extra *x,
		      bool *broken)
{
	struct ufd_ring *r = u->ring;
	uint32_t callbacks, lo, hi, n, seq;
	bool orphan = false;
	int rc;

	callbacks = ufd_ring_peek(&r->cb_sent);
	req->magic = UFD_PROTO_MAGIC;
	req->version = UFD_PROTO_VERSION;
	memcpy(&r->req, req, sizeof(*req));
	r->file_dev = x ? x->file_dev : 0;
	r->file_ino = x ? x->file_ino : 0;
	r->fd_gen = shim_fdtab_generation();
	if (x) {
		ring_window(r, x);
	} else {
		r->win_len = 0;
		r->win_flags = 0;
	}
	/* Only this side writes req_seq: this call is the next number. */
	seq = r->req_seq + 1;
	ufd_ring_publish(&r->req_seq, seq);
	if (ufd_ring_peer_sleeps(&r->daemon_sleeping)) {
		if (!chan_sock_ok(u)) {
			orphan = true;
			rc = ring_wait_blind(r, seq);
		} else if (ufd_ring_kick(u->fd)) {
			*broken = true;
			return -EIO;
		} else {
			rc = ring_wait(u, seq, &callbacks, &orphan);
		}
	} else {
		rc = ring_wait(u, seq, &callbacks, &orphan);
	}
	/* A channel whose socket is gone ends with this call. */
	*broken = orphan || rc;
	if (rc)
		return rc == -EAGAIN ? -EAGAIN : -EIO;
	ufd_wire_init(res, UFD_MSG_RESULT);
	res->ret = r->res_ret;
	res->arg = r->res_arg;
	res->cmd = r->res_cmd;
	res->fail_nth = r->res_fail_nth;
	/* What the daemon wrote into the window goes where it belongs. */
	lo = r->dirty_lo;
	hi = r->dirty_hi;
	n = r->win_len;
	if (lo < hi && hi <= n)
		shim_ucopy_to(r->win_addr + lo, r->win + lo, hi - lo);
	return (long)res->ret;
}

/*
 * Send @req and serve the daemon until its RESULT, which goes to @res if
 * not NULL; @x (may be NULL): what a ring call brings.  >= 0 or -errno.
 */
static long srv_call_x(struct ufd_msg *req, struct ufd_msg *res,
		       const struct call_extra *x)
{
	struct chan_use u = { .slot = POST_NONE };
	struct ufd_msg answer;
	bool broken = false;
	long ret;
	int rc;

	if (!shim_srv_enabled())
		return -ENODEV;
	/*
	 * Whatever this thread posted is done before it asks anything else:
	 * a ring's posts are served before the call on the same ring, so the
	 * call goes there; a socket's answers are collected first.
	 */
	if (post.slot != POST_NONE) {
		shim_sig_enter();
		if (post.ring) {
			u = post;
			post_forget(false, false);
		} else {
			post_drain(NULL);
		}
		shim_sig_leave();
	}
	if (u.slot == POST_NONE) {
		rc = chan_get(&u);
		if (rc)
			return rc;
	}
	req->nonce = __atomic_load_n(&srv_nonce, __ATOMIC_RELAXED);
	/* The thread's fail-nth goes with its calls (proto.h). */
	if (req->type != UFD_MSG_MMIO && req->type != UFD_MSG_FILE_KIND)
		req->fail_nth = shim_fail_nth;
	if (u.ring) {
		ret = ring_call(&u, req, &answer, x, &broken);
		/* Never made: again, on another channel (a bounded few). */
		for (int tries = 0; ret == -EAGAIN && broken && tries < NCHAN;
		     tries++) {
			chan_put(&u, true);
			broken = false;
			rc = chan_get(&u);
			if (rc)
				return rc;
			ret = u.ring ? ring_call(&u, req, &answer, x, &broken) :
				       sock_call(u.fd, req, &answer, &broken);
		}
	} else {
		ret = sock_call(u.fd, req, &answer, &broken);
	}
	if (!broken) {
		if (req->fail_nth)
			shim_fail_nth = answer.fail_nth;
		if (res)
			*res = answer;
	}
	chan_put(&u, broken);
	return ret;
}

static long srv_call_res(struct ufd_msg *req, struct ufd_msg *res)
{
	return srv_call_x(req, res, NULL);
}

static long srv_call(struct ufd_msg *req)
{
	return srv_call_x(req, NULL, NULL);
}

/* ---- posted MMIO writes ----------------------------------------------------------- */

/*
 * A thread's BAR stores are sent on a channel it keeps (its post channel)
 * without waiting for their answers, as PCIe posts memory writes.  On a
 * channel with a ring they are records in its post queue, which the
 * daemon serves in order, and always before the ring's next call: the
 * thread's next call of any kind (an MMIO read included) goes on the same
 * channel (srv_call_x), and then lets it go.  A full queue waits for the
 * daemon with an empty call (a RING_KICK request).  On a channel without
 * a ring each store is a message whose answer is collected before
 * anything else the thread asks: its next MMIO read, sent on the same
 * channel so that the daemon (which serves a channel in order) performs
 * it after every earlier write; any other call (srv_call_x drains first);
 * or when POST_MAX are outstanding, so that neither side's socket buffer
 * can fill.  A posted write that fails is dropped, as a posted write to a
 * device is.  Thread-local and touched only by its thread (also from the
 * MMIO trap's handler): no lock.  A thread that exits with writes
 * outstanding leaves its channel busy; others then use the remaining ones.
 */

/* Collect the outstanding answers (the last into @last) and let go. */
static int post_drain(struct ufd_msg *last)
{
	struct ufd_msg m;
	bool broken = false;
	int fd;

	while (post_outstanding) {
		if (ufd_wire_recv(post.fd, &m, &fd, NULL, NULL) != 1 ||
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
	post_forget(true, broken);
	return broken ? -EIO : 0;
}

/* Queue MMIO store @req in the post channel's ring. */
static int post_ring_send(const struct ufd_msg *req, uint64_t dev,
			  uint64_t ino)
{
	struct ufd_ring *r = post.ring;
	struct ufd_ring_post *p;
	uint32_t head = r->post_head;

	if (head - ufd_ring_peek(&r->post_tail) >= UFD_RING_POSTS) {
		/* Full: an empty call, served after every post before it. */
		struct ufd_msg sync, res;
		bool broken = false;

		ufd_wire_init(&sync, UFD_MSG_RING_KICK);
		ring_call(&post, &sync, &res, NULL, &broken);
		if (broken) {
			post_forget(true, true);
			return -EIO;
		}
	}
	p = &r->posts[head % UFD_RING_POSTS];
	p->fd = req->fd;
	p->region = req->kind;
	p->file_dev = dev;
	p->file_ino = ino;
	p->off = req->arg;
	p->val = req->cmd;
	p->size = req->flags & 0xff;
	p->pad = 0;
	ufd_ring_publish(&r->post_head, head + 1);
	if (ufd_ring_peer_sleeps(&r->daemon_sleeping) &&
	    (!chan_sock_ok(&post) || ufd_ring_kick(post.fd))) {
		post_forget(true, true);
		return -EIO;
	}
	post_outstanding++;
	return 0;
}

/* Send @req on the post channel (taken if needed) without waiting. */
static int post_send(struct ufd_msg *req, uint64_t dev, uint64_t ino)
{
	if (!shim_srv_enabled())
		return -ENODEV;
	if (post.slot == POST_NONE) {
		struct chan_use u;
		int rc = chan_get(&u);

		if (rc)
			return rc;
		post = u;
	}
	req->nonce = __atomic_load_n(&srv_nonce, __ATOMIC_RELAXED);
	if (post.ring)
		return post_ring_send(req, dev, ino);
	if (ufd_wire_send(post.fd, req, -1)) {
		post_forget(true, true);
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

long shim_srv_ioctl(int fd, uint64_t dev, uint64_t ino, unsigned long cmd,
		    uint64_t arg)
{
	struct ufd_msg req = { .type = UFD_MSG_IOCTL };
	struct call_extra x = {
		.file_dev = dev,
		.file_ino = ino,
		.win_addr = arg,
		.win = WIN_INOUT,
	};
	int saved = errno;
	long ret;

	req.fd = fd;
	req.cmd = cmd;
	req.arg = arg;
	ret = srv_call_x(&req, NULL, &x);
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

int shim_srv_mmio(int fd, uint64_t dev, uint64_t ino, unsigned int region,
		  uint64_t off, unsigned int size, bool write, uint64_t *val)
{
	struct ufd_msg req = { .type = UFD_MSG_MMIO }, res;
	struct call_extra x = { .file_dev = dev, .file_ino = ino };
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
		ret = post_send(&req, dev, ino);
		if (!ret && !post.ring && post_outstanding >= POST_MAX)
			post_drain(NULL);
	} else if (post.slot != POST_NONE && !post.ring) {
		/* After the writes before it, on their channel. */
		ret = post_send(&req, dev, ino);
		if (!ret)
			ret = post_drain(&res);
		if (!ret)
			ret = (long)res.ret;
		if (!ret)
			*val = res.cmd;
	} else {
		/* A ring's posts: served first, on the same ring. */
		ret = srv_call_x(&req, &res, &x);
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

long shim_srv_rw(int fd, uint64_t dev, uint64_t ino, bool write, bool fault,
		 uint64_t buf, uint64_t count, const uint64_t *pos)
{
	struct ufd_msg req = { .type = write ? UFD_MSG_WRITE : UFD_MSG_READ };
	struct call_extra x = {
		.file_dev = dev,
		.file_ino = ino,
		.win_addr = buf,
		.win_len = count <= UFD_RING_WINDOW ? (size_t)count : 0,
		.win = count > UFD_RING_WINDOW ? WIN_NONE :
		       write			? WIN_IN :
						  WIN_OUT,
	};
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
	ret = srv_call_x(&req, NULL, &x);
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
