/* SPDX-License-Identifier: MIT */
/*
 * The uiommufd daemon: one engine serving every /dev/iommu the programs
 * under one launcher open (server mode; protocol in proto.h).
 *
 * Model.
 *  - Files.  Every open of /dev/iommu, and every file an ioctl derives
 *    from one (access objects, fault queues), is a socketpair: the daemon
 *    keeps one end (dfd) and installs the other in the client (the file the
 *    program sees).  A struct srv_file records which engine object the
 *    pair stands for, keyed by the inode of the client's end.  The dfds
 *    sit in one epoll set; the hangup that follows the last close of the
 *    client's end, in whatever process, releases the object: a context is
 *    closed (every object destroyed, every pin dropped), an access object
 *    destroyed.  A request names a file by the sender's fd number; the
 *    daemon takes that fd out of the sender (pidfd_getfd), looks at its
 *    inode and closes it again, so only files the sender holds can be
 *    named, however they got there (dup, fork, SCM_RIGHTS, exec).
 *  - Processes.  Each message carries the sender's pid, checked by the
 *    kernel (SO_PASSCRED), and the nonce of its address space.  For each
 *    (pid, nonce) there is one srv_proc with a remote memory source: the
 *    caller's memory for the dispatch layer, and the memory that MAP pins.
 *    A new nonce from a live pid means the process exec'd: the old source
 *    is retired.  A srv_proc also records the client's mmaps of device
 *    BARs (BAR_MAPPED, BAR_UNMAPPED; each holds its file), so that a
 *    legacy container's MAP_DMA of such a range can map the BAR
 *    (peer-to-peer: the bar_lookup caller op).
 *  - Release barrier.  Before serving any request the daemon processes
 *    every hangup already reported (epoll_wait with timeout 0, under
 *    release_lock, which a release in progress also holds), unless the
 *    hangup watch (hupwatch.h: a word the kernel raises inside the close
 *    that reports a hangup) says none was reported since the release
 *    thread last drained.  A close() in a client happens before its next
 *    request, so that request sees every pin of the closed file gone:
 *    "release is finished when close() returns", as far as anything the
 *    program can ask shows.
 *  - Threads.  One thread accepts channels, one per channel serves its
 *    requests (a slow or stuck client only stalls its own channel), one
 *    releases files on hangup as soon as it is reported.  The engine is
 *    thread-safe under its own lock.
 *  - Robustness.  Messages are fixed-size and validated; fds a client
 *    attaches are closed unread; data a client writes into its end of a
 *    file is drained and dropped; every send is MSG_NOSIGNAL; a client that
 *    dies mid-call makes its calls fail with -EFAULT and its channel end.
 *    Clients must run as the daemon's uid (or root).
 *
 * Locking: d->lock guards the file table, each file's refs and the
 * process table (leaf lock: never held across engine calls or blocking
 * I/O with a client; a fault queue's doorbell is rung under it, with a
 * non-blocking send, from inside the engine lock).  A file is released
 * when it has left the table and its last lookup is done, like the
 * kernel's fput() after an ioctl in flight.
 * d->release_lock serialises hangup processing and is taken with no other
 * lock held; releases call the engine.  Order: release_lock, engine lock,
 * d->lock (fault notifications come with the engine lock held).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <linux/capability.h>
#include <linux/iommufd.h>

#include "engine/engine.h" /* ufd_fail_nth_thread */
#include "server/daemon.h"
#include "server/hupwatch.h"
#include "server/proto.h"
#include "server/ring.h"
#include "server/source_remote.h"
#include "server/wire.h"
#include "uapi/dispatch.h"
#include "uapi/vfio.h"
#include "uiommufd.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif

#define SRV_MAX_CHANNELS 4096
#define SRV_CALLBACK_TIMEOUT_MS 10000
#define SRV_BUCKETS 256

/* A file the daemon made: a socketpair standing for an engine object. */
struct srv_file {
	struct srv_file *next;  /* hash chain */
	uint64_t key;           /* unique; epoll data */
	struct ufd_file file;   /* what it stands for (one ctx reference) */
	int dfd;                /* the daemon's end */
	dev_t cdev;             /* the client's end */
	ino_t cino;
	unsigned int refs;      /* d->lock: the table's, and calls' lookups */
	bool destroy_obj;       /* d->lock: release destroys the object too */
};

/*
 * One mmap of a device file in a client address space (BAR_MAPPED):
 * [start, start + len) maps [region_off, ...) of region @region.  It
 * holds a reference on the file, as the vma holds the kernel's file.
 */
struct srv_bar {
	struct srv_bar *next;
	uint64_t start, len;
	struct srv_file *f;     /* a reference */
	unsigned int region;
	uint64_t region_off;
};

/*
 * A proof that fd number @fd of a process referred to the file whose
 * client end is (@dev, @ino): it was taken out of the process once
 * (pidfd_getfd) or installed there by us.  A ring call that names the
 * same fd with the same identity is trusted without a system call
 * (proto.h, "The shared ring").
 */
struct srv_proof {
	int fd;                 /* -1: none */
	dev_t dev;
	ino_t ino;
	uint64_t gen;           /* the client's fd table generation then */
	bool gen_known;
};

#define SRV_PROOFS 64

/* One client address space. */
struct srv_proc {
	struct srv_proc *next;
	unsigned int refs;      /* d->lock */
	pid_t pid;
	uint64_t nonce;
	int pidfd;
	struct ufd_source *src; /* one reference */
	struct srv_bar *bars;   /* d->lock: its BAR mappings */
	struct srv_proof proofs[SRV_PROOFS]; /* d->lock; by fd % SRV_PROOFS */
};

struct ufd_daemon {
	struct ufd_daemon_config cfg;
	char address[80];        /* "@name" */
	int lfd;
	int epfd;
	uid_t uid;
	struct ufd_engine *eng;
	pthread_mutex_t lock;
	pthread_mutex_t release_lock;
	/* The release barrier's watch (the release thread owns it), and
	 * the channel threads' call for a clear of it. */
	struct ufd_hupwatch hw;
	int hw_kick_fd;
	uint32_t hw_kicked;
	struct srv_file *files[SRV_BUCKETS]; /* lock */
	unsigned int nr_files;               /* lock */
	struct srv_proc *procs;              /* lock */
	unsigned int nr_channels;            /* lock */
	uint64_t next_key;                   /* lock */
	bool stopping;
	bool maps_file; /* UIOMMUFD_PROCMAP_QUERY=0: read /proc/PID/maps whole */
};

/* The one daemon of this process, for fault queue notifications. */
static struct ufd_daemon *the_daemon;

/* A channel: one client connection and the thread that serves it. */
struct srv_chan {
	struct ufd_daemon *d;
	int fd;
	/* After RING_SETUP: the shared ring, and who calls through it. */
	struct ufd_ring *ring;
	struct srv_proc *proc;  /* one reference */
	struct ucred cred;      /* RING_SETUP's, kernel-checked */
	struct ufd_ring_spinner spin;
	uint32_t served_seq;    /* the ring's last call served */
	/* Transfers: off for now, until xfer_resume_ns (UINT64_MAX: for
	 * good); transfers never finished (xfer_strikes). */
	bool xfer_off;
	unsigned int xfer_strikes;
	uint64_t xfer_resume_ns;
	uint32_t xfer_last;     /* the last transfer asked */
	bool xfer_held;         /* ... given up on while the client held it */
};

/*
 * A file made by the call in flight.  The call holds a reference on it
 * until it returns: the client may close the fd (or die) as soon as it
 * has it, and the hangup must not release the file (nor its object) under
 * the call that is still making it.
 */
struct srv_made {
	int fd;
	uint64_t key;
	struct srv_file *f;  /* one reference, the call's */
};

/* One request in flight (caller->priv). */
struct srv_call {
	struct srv_chan *ch;
	struct srv_proc *proc;
	struct srv_made made[4];
	unsigned int nr_made;
	/*
	 * Files the argument named (resolve_fd), held until the call returns,
	 * as the kernel's fget holds them: the object stays alive even if
	 * its fd is closed, or its process dies, meanwhile.
	 */
	struct srv_file *held[4];
	unsigned int nr_held;
	struct ucred ucred; /* the message's, kernel-checked */
	/* The ring's: the argument window, and req.fd's identity. */
	struct ufd_caller_window *win;
	int ident_fd;       /* -1: no identity given */
	dev_t ident_dev;
	ino_t ident_ino;
	bool gen_known;     /* a ring call: fd_gen is the client's */
	uint64_t fd_gen;
};

__attribute__((format(printf, 2, 3)))
static void srv_dbg(const struct ufd_daemon *d, const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int n;

	if (!d->cfg.debug)
		return;
	n = snprintf(buf, sizeof(buf), "uiommufd-daemon[%d]: ", (int)getpid());
	va_start(ap, fmt);
	vsnprintf(buf + n, sizeof(buf) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	strcat(buf, "\n");
	if (write(STDERR_FILENO, buf, strlen(buf)) < 0) {
		/* nothing to do */
	}
}

/* ---- files ------------------------------------------------------------------------ */

static unsigned int file_bucket(dev_t dev, ino_t ino)
{
	return (unsigned int)(((uint64_t)ino * 2654435761ULL) ^ (uint64_t)dev) %
	       SRV_BUCKETS;
}

/* Unlink the file with @key from the table; NULL if it is not there. */
static struct srv_file *file_unlink_key_locked(struct ufd_daemon *d,
					       uint64_t key)
{
	unsigned int b;

	for (b = 0; b < SRV_BUCKETS; b++) {
		struct srv_file **p;

		for (p = &d->files[b]; *p; p = &(*p)->next) {
			struct srv_file *f = *p;

			if (f->key != key)
				continue;
			*p = f->next;
			d->nr_files--;
			epoll_ctl(d->epfd, EPOLL_CTL_DEL, f->dfd, NULL);
			return f;
		}
	}
	return NULL;
}

/* What the last close of a file does.  No lock held but release_lock. */
static void file_release(struct ufd_daemon *d, struct srv_file *f,
			 bool destroy_obj)
{
	srv_dbg(d, "release %s %u (file %llu)",
		ufd_file_ops(f->file.kind)->name, f->file.obj_id,
		(unsigned long long)f->key);
	ufd_file_release(&f->file, destroy_obj);
	close(f->dfd);
	free(f);
}

/*
 * Drop a reference; the last one (after the file left the table) releases
 * it.  No lock held.
 */
static void file_put(struct ufd_daemon *d, struct srv_file *f)
{
	bool last, destroy;

	pthread_mutex_lock(&d->lock);
	last = !--f->refs;
	destroy = f->destroy_obj;
	pthread_mutex_unlock(&d->lock);
	if (last)
		file_release(d, f, destroy);
}

/*
 * Ring the doorbell of fault queue file @key: one byte into our end, so
 * poll() on the client's end shows POLLIN.  Takes d->lock: the file cannot
 * be released (its dfd closed) meanwhile.
 */
static void file_ring(struct ufd_daemon *d, uint64_t key)
{
	static const char bell = 1;
	struct srv_file *f = NULL;
	unsigned int b;

	pthread_mutex_lock(&d->lock);
	for (b = 0; b < SRV_BUCKETS && !f; b++)
		for (f = d->files[b]; f; f = f->next)
			if (f->key == key)
				break;
	if (f)
		send(f->dfd, &bell, sizeof(bell), MSG_DONTWAIT | MSG_NOSIGNAL);
	pthread_mutex_unlock(&d->lock);
}

/* The fault queue's notification (engine lock held): ring when pending. */
static void fault_notify(void *arg, bool pending)
{
	if (pending && the_daemon)
		file_ring(the_daemon, (uint64_t)(uintptr_t)arg);
}

/* Read and drop whatever a client wrote into its end of a file. */
static void file_drain(int dfd)
{
	struct ufd_msg junk;
	bool has_cred;
	struct ucred cred;
	int rc;

	do {
		struct pollfd p = { .fd = dfd, .events = POLLIN };

		if (poll(&p, 1, 0) <= 0 || !(p.revents & POLLIN))
			return;
		rc = ufd_wire_recv(dfd, &junk, NULL, &cred, &has_cred);
	} while (rc == 1 || rc == -EPROTO);
}

/*
 * Process every hangup reported so far.  Holds release_lock throughout,
 * so a release started by another thread is finished before this
 * returns.  @owner: the release thread, which clears the hangup watch
 * around it (hupwatch.h).
 */
static void bars_sweep_dead(struct ufd_daemon *d);

static void drain_hangups(struct ufd_daemon *d, bool owner)
{
	struct epoll_event ev[32];
	bool any = false;
	int n, i;

	pthread_mutex_lock(&d->release_lock);
	if (owner)
		ufd_hupwatch_clear_begin(&d->hw);
	do {
		n = epoll_wait(d->epfd, ev, 32, 0);
		any |= n > 0;
		for (i = 0; i < n; i++) {
			struct srv_file *f;

			pthread_mutex_lock(&d->lock);
			if (ev[i].events & (EPOLLHUP | EPOLLRDHUP | EPOLLERR)) {
				f = file_unlink_key_locked(d, ev[i].data.u64);
				pthread_mutex_unlock(&d->lock);
				if (f)
					file_put(d, f); /* the table's */
				continue;
			}
			/* Data in a file's socket: garbage, drop it. */
			f = NULL;
			for (unsigned int b = 0; b < SRV_BUCKETS && !f; b++)
				for (f = d->files[b]; f; f = f->next)
					if (f->key == ev[i].data.u64)
						break;
			if (f)
				file_drain(f->dfd);
			pthread_mutex_unlock(&d->lock);
		}
	} while (n == 32);
	/* A process that exited closed its files: its BAR mappings go too. */
	if (any)
		bars_sweep_dead(d);
	if (owner)
		ufd_hupwatch_clear_end(&d->hw);
	pthread_mutex_unlock(&d->release_lock);
}

/*
 * The release barrier: before a request is served, every hangup already
 * reported is processed, so that the release of a file whose last close
 * came before the request is done ("release is finished when close()
 * returns").  When the watch says nothing was reported since its last
 * clear, that is a load; else the epoll set is drained here, and the
 * release thread is asked to clear the watch (only it may).
 */
static void release_barrier(struct ufd_daemon *d)
{
	if (ufd_hupwatch_quiet(&d->hw))
		return;
	drain_hangups(d, false);
	if (ufd_hupwatch_pending(&d->hw) &&
	    !__atomic_exchange_n(&d->hw_kicked, 1, __ATOMIC_SEQ_CST)) {
		uint64_t one = 1;

		if (write(d->hw_kick_fd, &one, sizeof(one)) < 0) {
			/* EAGAIN: the counter is full, a kick is there. */
		}
	}
}

static void *release_main(void *arg)
{
	struct ufd_daemon *d = arg;
	int rc = ufd_hupwatch_open(&d->hw, d->epfd);

	srv_dbg(d, "release barrier: %s (%d)",
		rc ? "an epoll_wait per request" : "the io_uring hangup watch",
		rc);
	for (;;) {
		struct pollfd p[2] = { { .fd = d->epfd, .events = POLLIN },
				       { .fd = d->hw_kick_fd,
					 .events = POLLIN } };
		uint64_t n;

		if (poll(p, 2, -1) < 0 && errno != EINTR)
			break;
		if (p[1].revents & POLLIN) {
			if (read(d->hw_kick_fd, &n, sizeof(n)) < 0) {
				/* EAGAIN: another read took it */
			}
		}
		/* A kick from now on asks for another clear. */
		__atomic_store_n(&d->hw_kicked, 0, __ATOMIC_SEQ_CST);
		drain_hangups(d, true);
	}
	return NULL;
}

/*
 * The file the sender's fd @fd refers to, with a reference (file_put()):
 * its context, kind and object stay valid until then.  -EBADF: no such fd;
 * -ENOTTY: not a file of ours; other -errno: cannot look (no permission).
 * No engine call here: d->lock is taken inside the engine lock (doorbells).
 */
static int file_lookup(struct ufd_daemon *d, struct srv_proc *p, int fd,
		       struct srv_file **out)
{
	struct srv_file *f;
	struct stat st;
	int tfd, rc = -ENOTTY;

	if (fd < 0)
		return -EBADF;
	tfd = (int)syscall(SYS_pidfd_getfd, p->pidfd, fd, 0);
	if (tfd < 0)
		return errno == EBADF || errno == ESRCH ? -EBADF : -errno;
	if (fstat(tfd, &st)) {
		close(tfd);
		return -EBADF;
	}
	close(tfd);
	pthread_mutex_lock(&d->lock);
	for (f = d->files[file_bucket(st.st_dev, st.st_ino)]; f; f = f->next) {
		if (f->cino == st.st_ino && f->cdev == st.st_dev) {
			f->refs++;
			*out = f;
			rc = 0;
			break;
		}
	}
	pthread_mutex_unlock(&d->lock);
	return rc;
}

/*
 * Remember that the fd @fd of @call's process is the file whose client end
 * is (@dev, @ino), as of the call's fd table generation.
 */
static void proof_record(const struct srv_call *call, int fd, dev_t dev,
			 ino_t ino)
{
	struct ufd_daemon *d = call->ch->d;
	struct srv_proof *pr =
		&call->proc->proofs[(unsigned int)fd % SRV_PROOFS];

	pthread_mutex_lock(&d->lock);
	pr->fd = fd;
	pr->dev = dev;
	pr->ino = ino;
	pr->gen = call->fd_gen;
	pr->gen_known = call->gen_known;
	pthread_mutex_unlock(&d->lock);
}

/*
 * The file a proof names, with a reference: for a call that names (@dev,
 * @ino) with the fd (@by_ident), or that names only the fd and whose
 * client has lost no fd since the proof was made.  NULL: look.
 */
static struct srv_file *proof_file(const struct srv_call *call, int fd,
				   bool by_ident)
{
	struct ufd_daemon *d = call->ch->d;
	const struct srv_proof *pr;
	struct srv_file *f = NULL;

	if (fd < 0 || (!by_ident && !call->gen_known))
		return NULL;
	pr = &call->proc->proofs[(unsigned int)fd % SRV_PROOFS];
	pthread_mutex_lock(&d->lock);
	if (pr->fd == fd &&
	    (by_ident ? pr->dev == call->ident_dev && pr->ino == call->ident_ino :
			pr->gen_known && pr->gen == call->fd_gen)) {
		for (f = d->files[file_bucket(pr->dev, pr->ino)]; f;
		     f = f->next)
			if (f->cino == pr->ino && f->cdev == pr->dev)
				break;
		if (f)
			f->refs++;
	}
	pthread_mutex_unlock(&d->lock);
	return f;
}

/*
 * The file of an fd the call names (its request's, or one inside its
 * argument), with a reference: by a proof when one holds (no system
 * call), else as file_lookup() finds it, which proves it for next time.
 */
static int call_lookup(struct srv_call *call, int fd, struct srv_file **out)
{
	int rc;

	*out = proof_file(call, fd, fd >= 0 && fd == call->ident_fd);
	if (*out)
		return 0;
	rc = file_lookup(call->ch->d, call->proc, fd, out);
	if (!rc)
		proof_record(call, fd, (*out)->cdev, (*out)->cino);
	return rc;
}

/*
 * A callback to the client (INSTALL_FD, CLOSE_FD) on the channel's socket;
 * with a ring, counted there first, so that a client that spins on the
 * ring knows a message is coming.
 */
static int chan_callback(struct srv_chan *ch, struct ufd_msg *m, int fd)
{
	if (ch->ring)
		__atomic_add_fetch(&ch->ring->cb_sent, 1, __ATOMIC_SEQ_CST);
	return ufd_wire_send(ch->fd, m, fd);
}

/*
 * Make a file for a copy of @file and install it in the caller: returns
 * the client's fd number or -errno, and in *@out the file with a
 * reference for the caller of this (besides the table's), to put once the
 * call is over.  Takes over @file's ctx reference and priv on success
 * only.
 */
static int file_make(struct srv_call *call, const struct ufd_file *file,
		     bool cloexec, struct srv_file **out)
{
	enum ufd_fd_kind kind = file->kind;
	struct ufd_daemon *d = call->ch->d;
	struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP };
	struct ufd_msg m, a;
	struct srv_file *f;
	struct ucred cred;
	struct stat st;
	bool has_cred;
	int sv[2], rc;

	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv)) {
		rc = -errno;
		free(f);
		return rc;
	}
	if (fstat(sv[1], &st)) {
		rc = -errno;
		goto err_close;
	}
	ufd_wire_init(&m, UFD_MSG_INSTALL_FD);
	m.kind = kind;
	m.flags = cloexec ? O_CLOEXEC : 0;
	rc = chan_callback(call->ch, &m, sv[1]);
	close(sv[1]);
	sv[1] = -1;
	if (rc)
		goto err_close;
	/* The answer: only FD_INSTALLED from the caller will do. */
	for (;;) {
		struct pollfd pfd = { .fd = call->ch->fd, .events = POLLIN };

		rc = poll(&pfd, 1, SRV_CALLBACK_TIMEOUT_MS);
		if (rc <= 0) {
			rc = rc ? -errno : -ETIMEDOUT;
			if (rc == -EINTR)
				continue;
			goto err_close;
		}
		rc = ufd_wire_recv(call->ch->fd, &a, NULL, &cred, &has_cred);
		if (rc == -EPROTO || (rc == 1 && a.type == UFD_MSG_RING_KICK))
			continue; /* garbage; a kick sent while we served */
		if (rc <= 0) {
			rc = rc ? rc : -EPIPE;
			goto err_close;
		}
		if (a.type != UFD_MSG_FD_INSTALLED || !has_cred ||
		    cred.pid != call->proc->pid) {
			rc = -EPROTO;
			goto err_close;
		}
		break;
	}
	if (a.fd < 0) {
		rc = a.fd;
		goto err_close;
	}
	f->file = *file;
	f->dfd = sv[0];
	f->cdev = st.st_dev;
	f->cino = st.st_ino;
	f->refs = 2; /* the table's and the call's */
	f->destroy_obj = true;
	pthread_mutex_lock(&d->lock);
	f->key = ++d->next_key;
	pthread_mutex_unlock(&d->lock);
	/*
	 * Watched before it is published: a hangup reported meanwhile stays
	 * reported (level-triggered) until the file is in the table.
	 */
	ev.data.u64 = f->key;
	if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, f->dfd, &ev)) {
		rc = -errno;
		/* The client has the fd: ask it to close it again. */
		ufd_wire_init(&m, UFD_MSG_CLOSE_FD);
		m.fd = a.fd;
		chan_callback(call->ch, &m, -1);
		goto err_close;
	}
	/*
	 * Doorbells from now on (and at once, if faults are queued): a ring
	 * finds the file by its key once it is in the table.
	 */
	if (kind == UFD_FD_FAULT)
		ufd_fault_set_notify(file->ctx, file->obj_id, fault_notify,
				     (void *)(uintptr_t)f->key);
	else if (kind == UFD_FD_VEVENTQ)
		ufd_veventq_set_notify(file->ctx, file->obj_id, fault_notify,
				       (void *)(uintptr_t)f->key);
	srv_dbg(d, "pid %d: fd %d = %s file %llu", (int)call->proc->pid, a.fd,
		ufd_file_ops(kind)->name, (unsigned long long)f->key);
	pthread_mutex_lock(&d->lock);
	f->next = d->files[file_bucket(f->cdev, f->cino)];
	d->files[file_bucket(f->cdev, f->cino)] = f;
	d->nr_files++;
	pthread_mutex_unlock(&d->lock);
	/* We put it there: the fd is proved. */
	proof_record(call, a.fd, f->cdev, f->cino);
	*out = f;
	return a.fd;

err_close:
	close(sv[0]);
	if (sv[1] >= 0)
		close(sv[1]);
	free(f);
	return rc;
}

/* ---- processes ---------------------------------------------------------------------- */

/* Drop a list of BAR records (no lock held: file_put may release). */
static void bars_free(struct ufd_daemon *d, struct srv_bar *b)
{
	struct srv_bar *next;

	for (; b; b = next) {
		next = b->next;
		ufd_file_map_put(&b->f->file, b->region);
		file_put(d, b->f);
		free(b);
	}
}

/*
 * The BAR mappings of processes that have exited (their files would stay
 * open until the srv_proc itself goes, at the next sweep).  No lock but
 * release_lock held.
 */
static void bars_sweep_dead(struct ufd_daemon *d)
{
	struct srv_bar *gone = NULL;
	struct srv_proc *p;

	pthread_mutex_lock(&d->lock);
	for (p = d->procs; p; p = p->next) {
		struct srv_bar *b;

		if (!p->bars || ufd_source_remote_alive(p->src))
			continue;
		for (b = p->bars; b->next; b = b->next)
			;
		b->next = gone;
		gone = p->bars;
		p->bars = NULL;
	}
	pthread_mutex_unlock(&d->lock);
	bars_free(d, gone);
}

static void proc_put(struct ufd_daemon *d, struct srv_proc *p)
{
	bool last;

	pthread_mutex_lock(&d->lock);
	last = !--p->refs;
	pthread_mutex_unlock(&d->lock);
	if (!last)
		return;
	bars_free(d, p->bars);
	ufd_source_put(p->src);
	close(p->pidfd);
	free(p);
}

/* Drop the table's reference of dead processes.  d->lock held. */
static void proc_sweep_locked(struct ufd_daemon *d, struct srv_proc **dead)
{
	struct srv_proc **pp = &d->procs, *p;

	while ((p = *pp)) {
		if (ufd_source_remote_alive(p->src)) {
			pp = &p->next;
			continue;
		}
		*pp = p->next;
		p->next = *dead;
		*dead = p;
	}
}

/*
 * The srv_proc of (@pid, @nonce), made if needed, with a reference.
 * NULL (-errno in *err) if the process cannot be reached.
 */
static struct srv_proc *proc_get(struct ufd_daemon *d, pid_t pid,
				 uint64_t nonce, int *err)
{
	struct srv_proc *p, *dead = NULL, *next;
	int pidfd, srcfd;

	pthread_mutex_lock(&d->lock);
	for (p = d->procs; p; p = p->next) {
		if (p->pid != pid)
			continue;
		/* The nonce is random per image: a match is this process. */
		if (p->nonce == nonce) {
			p->refs++;
			pthread_mutex_unlock(&d->lock);
			return p;
		}
		/* Same live pid, new image: the old address space is gone. */
		ufd_source_remote_retire(p->src);
	}
	proc_sweep_locked(d, &dead);
	pthread_mutex_unlock(&d->lock);
	for (; dead; dead = next) {
		next = dead->next;
		proc_put(d, dead);
	}

	p = calloc(1, sizeof(*p));
	if (!p) {
		*err = -ENOMEM;
		return NULL;
	}
	pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (pidfd < 0) {
		*err = errno == ESRCH ? -ESRCH : -errno;
		free(p);
		return NULL;
	}
	srcfd = fcntl(pidfd, F_DUPFD_CLOEXEC, 0);
	p->src = srcfd < 0 ? NULL : ufd_source_remote(pid, srcfd);
	if (p->src && d->maps_file)
		ufd_source_remote_read_maps_file(p->src);
	if (!p->src) {
		*err = -ENOMEM;
		if (srcfd >= 0)
			close(srcfd);
		close(pidfd);
		free(p);
		return NULL;
	}
	p->pid = pid;
	p->nonce = nonce;
	p->pidfd = pidfd;
	for (unsigned int i = 0; i < SRV_PROOFS; i++)
		p->proofs[i].fd = -1;
	p->refs = 2; /* the table's and the caller's */
	pthread_mutex_lock(&d->lock);
	p->next = d->procs;
	d->procs = p;
	pthread_mutex_unlock(&d->lock);
	srv_dbg(d, "pid %d: new address space (nonce %016llx)", (int)pid,
		(unsigned long long)nonce);
	return p;
}

/*
 * The caller's credentials, as the kernel reads them off the task at each
 * call: uid (the kernel-checked one of the message), effective
 * capabilities (capget), RLIMIT_MEMLOCK (prlimit); plus the launcher's
 * grants.  Read when a command asks (srv_caller_cred).
 */
static void proc_cred(struct ufd_daemon *d, struct srv_proc *p,
		      const struct ucred *uc, struct ufd_cred *out)
{
	struct __user_cap_header_struct hdr = {
		.version = _LINUX_CAPABILITY_VERSION_3,
		.pid = p->pid,
	};
	struct __user_cap_data_struct caps[2];
	uint32_t eff = 0;
	struct rlimit rl;

	memset(out, 0, sizeof(*out));
	out->pid = uc->pid;
	out->uid = uc->uid;
	if (!syscall(SYS_capget, &hdr, caps))
		eff = caps[0].effective;
	out->cap_sys_resource = (eff >> CAP_SYS_RESOURCE) & 1 ||
				d->cfg.cap_sys_resource;
	out->cap_ipc_lock = (eff >> CAP_IPC_LOCK) & 1 || d->cfg.cap_ipc_lock;
	if (prlimit(p->pid, RLIMIT_MEMLOCK, NULL, &rl) ||
	    rl.rlim_cur == RLIM_INFINITY)
		out->memlock_limit = UINT64_MAX;
	else
		out->memlock_limit = rl.rlim_cur;
}

/* ---- the caller, as the dispatch layer sees it ------------------------------------ */

static int srv_make_fd(const struct ufd_caller *caller, struct ufd_ctx *ctx,
		       enum ufd_fd_kind kind, uint32_t obj_id)
{
	struct srv_call *call = caller->priv;
	int fd;

	struct ufd_file file = { .kind = kind, .ctx = ctx, .obj_id = obj_id };
	struct srv_file *f;

	if (call->nr_made == sizeof(call->made) / sizeof(call->made[0]))
		return -ENOMEM;
	ufd_ctx_get(ctx);
	/* Derived fds are O_CLOEXEC, as the kernel's anon inodes are. */
	fd = file_make(call, &file, true, &f);
	if (fd < 0) {
		ufd_ctx_put(ctx);
		return fd;
	}
	call->made[call->nr_made].fd = fd;
	call->made[call->nr_made].key = f->key;
	call->made[call->nr_made].f = f;
	call->nr_made++;
	return fd;
}

static int srv_make_file(const struct ufd_caller *caller,
			 const struct ufd_file *file)
{
	struct srv_call *call = caller->priv;
	struct srv_file *f;
	int fd;

	if (call->nr_made == sizeof(call->made) / sizeof(call->made[0]))
		return -ENOMEM;
	fd = file_make(call, file, true, &f);
	if (fd < 0)
		return fd;
	call->made[call->nr_made].fd = fd;
	call->made[call->nr_made].key = f->key;
	call->made[call->nr_made].f = f;
	call->nr_made++;
	return fd;
}

static void srv_unmake_fd(const struct ufd_caller *caller, int fd)
{
	struct srv_call *call = caller->priv;
	struct ufd_daemon *d = call->ch->d;
	struct srv_file *f = NULL;
	struct ufd_msg m;
	unsigned int i;

	for (i = 0; i < call->nr_made; i++)
		if (call->made[i].fd == fd)
			break;
	if (i == call->nr_made)
		return;
	pthread_mutex_lock(&d->release_lock);
	pthread_mutex_lock(&d->lock);
	/* Still in the table, unless its hangup came first. */
	f = file_unlink_key_locked(d, call->made[i].key);
	/* The dispatch layer destroys the object itself. */
	call->made[i].f->destroy_obj = false;
	pthread_mutex_unlock(&d->lock);
	if (f)
		file_put(d, f); /* the table's */
	file_put(d, call->made[i].f); /* the call's: the release, now */
	pthread_mutex_unlock(&d->release_lock);
	call->made[i] = call->made[--call->nr_made];
	ufd_wire_init(&m, UFD_MSG_CLOSE_FD);
	m.fd = fd;
	chan_callback(call->ch, &m, -1);
}

static int srv_resolve_fd(const struct ufd_caller *caller,
			  struct ufd_ctx *ctx, int fd, enum ufd_fd_kind kind,
			  uint32_t *obj_id)
{
	struct srv_call *call = caller->priv;
	struct srv_file *f;
	int rc;

	rc = call_lookup(call, fd, &f);
	if (rc)
		return -EBADF;
	if (f->file.kind != kind)
		rc = -EBADF;
	else if (f->file.ctx != ctx)
		rc = -ENOENT;
	else
		*obj_id = f->file.obj_id;
	if (!rc && call->nr_held < sizeof(call->held) / sizeof(call->held[0]))
		call->held[call->nr_held++] = f;
	else
		file_put(call->ch->d, f);
	return rc;
}

static int srv_resolve_file(const struct ufd_caller *caller, int fd,
			    struct ufd_file *out)
{
	struct srv_call *call = caller->priv;
	struct srv_file *f;

	if (call->nr_held == sizeof(call->held) / sizeof(call->held[0]))
		return -ENOMEM;
	if (call_lookup(call, fd, &f))
		return -EBADF;
	/* Held until the call returns: ctx and priv stay valid. */
	call->held[call->nr_held++] = f;
	*out = f->file;
	return 0;
}

/* The caller's fd @fd, as a new fd of the daemon (pidfd_getfd). */
static int srv_take_fd(const struct ufd_caller *caller, int fd)
{
	struct srv_call *call = caller->priv;
	int tfd;

	if (fd < 0)
		return -EBADF;
	tfd = (int)syscall(SYS_pidfd_getfd, call->proc->pidfd, fd, 0);
	if (tfd < 0)
		return errno == ESRCH ? -EBADF : -errno;
	/* Ours alone: never inherited by what the launcher starts. */
	fcntl(tfd, F_SETFD, FD_CLOEXEC);
	return tfd;
}

static int srv_bar_lookup(const struct ufd_caller *caller, uint64_t vaddr,
			  uint64_t len, struct ufd_bar_map *out)
{
	struct srv_call *call = caller->priv;
	struct ufd_daemon *d = call->ch->d;
	struct srv_bar *b;
	int rc = -ENOENT;

	if (!len || vaddr + len - 1 < vaddr)
		return -ENOENT;
	pthread_mutex_lock(&d->lock);
	for (b = call->proc->bars; b; b = b->next) {
		if (vaddr < b->start || vaddr - b->start >= b->len ||
		    len > b->len - (vaddr - b->start))
			continue;
		if (call->nr_held == sizeof(call->held) / sizeof(call->held[0])) {
			rc = -ENOMEM;
			break;
		}
		/* Held until the call returns, as resolve_file's. */
		b->f->refs++;
		call->held[call->nr_held++] = b->f;
		out->file = b->f->file;
		out->region = b->region;
		out->region_off = b->region_off + (vaddr - b->start);
		rc = 0;
		break;
	}
	pthread_mutex_unlock(&d->lock);
	return rc;
}

/* Credentials are read (capget, prlimit) by the commands that use them. */
static void srv_caller_cred(const struct ufd_caller *caller,
			    struct ufd_cred *out)
{
	const struct srv_call *call = caller->priv;

	proc_cred(call->ch->d, call->proc, &call->ucred, out);
}

static const struct ufd_caller_ops srv_caller_ops = {
	.cred = srv_caller_cred,
	.make_fd = srv_make_fd,
	.unmake_fd = srv_unmake_fd,
	.resolve_fd = srv_resolve_fd,
	.make_file = srv_make_file,
	.resolve_file = srv_resolve_file,
	.take_fd = srv_take_fd,
	.bar_lookup = srv_bar_lookup,
};

/* The caller of request @call, for the dispatch layer. */
static void call_caller(struct srv_call *call, const struct ucred *uc,
			struct ufd_caller *caller)
{
	call->ucred = *uc;
	/* Who calls, without a system call; the rest through ops->cred. */
	memset(&caller->cred, 0, sizeof(caller->cred));
	caller->cred.pid = uc->pid;
	caller->cred.uid = uc->uid;
	caller->ops = &srv_caller_ops;
	caller->eng = call->ch->d->eng;
	caller->mem = call->proc->src;
	caller->priv = call;
	caller->win = call->win;
	caller->kernel = call->ch->d->cfg.kernel;
	caller->no_extensions = call->ch->d->cfg.no_extensions;
}

/* ---- requests ---------------------------------------------------------------------- */

/* OPEN: a node of the kind the message names (/dev/iommu, /dev/vfio/...). */
static long do_open(struct srv_call *call, const struct ufd_msg *req,
		    const struct ucred *uc)
{
	struct ufd_caller caller;
	struct ufd_file file;
	struct srv_file *f;
	int rc, fd;

	if (req->kind >= UFD_FD_NR_KINDS || req->kind == UFD_FD_ACCESS ||
	    req->kind == UFD_FD_FAULT || req->kind == UFD_FD_VEVENTQ ||
	    req->arg > UINT32_MAX)
		return -ENODEV;
	call_caller(call, uc, &caller);
	rc = ufd_file_open(&file, &caller, (enum ufd_fd_kind)req->kind,
			   (uint32_t)req->arg, (int)req->flags);
	if (rc)
		return rc;
	fd = file_make(call, &file, req->flags & O_CLOEXEC, &f);
	if (fd < 0)
		ufd_file_release(&file, true);
	else
		file_put(call->ch->d, f); /* the table keeps it */
	return fd;
}

static long do_ioctl(struct srv_call *call, const struct ufd_msg *req,
		     const struct ucred *uc)
{
	struct ufd_daemon *d = call->ch->d;
	struct ufd_caller caller;
	struct srv_file *f;
	long ret;

	ret = call_lookup(call, req->fd, &f);
	if (ret)
		return ret;
	call_caller(call, uc, &caller);
	/* The kernel's ioctl() takes its command as an unsigned int. */
	ret = ufd_file_ioctl(&f->file, &caller, (unsigned int)req->cmd,
			     req->arg);
	file_put(d, f);
	return ret;
}

/* read(), write(), pread(), pwrite() on one of the daemon's files. */
static long do_rw(struct srv_call *call, const struct ufd_msg *req,
		  const struct ucred *uc)
{
	struct ufd_daemon *d = call->ch->d;
	const uint64_t *pos = NULL;
	struct ufd_caller caller;
	struct srv_file *f;
	long ret;

	ret = call_lookup(call, req->fd, &f);
	if (ret)
		return ret == -ENOTTY ? -EINVAL : ret;
	call_caller(call, uc, &caller);
	if (req->type == UFD_MSG_PREAD || req->type == UFD_MSG_PWRITE)
		pos = &req->pos;
	if (req->type == UFD_MSG_WRITE || req->type == UFD_MSG_PWRITE) {
		ret = ufd_file_write(&f->file, &caller, req->arg, req->cmd,
				     pos);
	} else {
		ret = ufd_file_read(&f->file, &caller, req->arg, req->cmd,
				    pos);
		/* The client drained the doorbells: ring if data is left. */
		if (ufd_file_poll(&f->file) & POLLIN)
			file_ring(d, f->key);
	}
	file_put(d, f);
	return ret;
}

/* MMAP: where a mapping of the file lands (the client traps it). */
static long do_mmap(struct srv_call *call, const struct ufd_msg *req,
		    struct ufd_msg *res)
{
	struct ufd_daemon *d = call->ch->d;
	struct ufd_file_mmap where;
	struct srv_file *f;
	long ret;

	ret = call_lookup(call, req->fd, &f);
	if (ret)
		return ret == -ENOTTY ? -ENODEV : ret;
	if (f->file.kind == UFD_FD_IOMMUFD &&
	    !(d->cfg.kernel ? d->cfg.kernel : ufd_personality_newest())
		     ->iommufd_mmap)
		ret = -ENODEV; /* the kernel's /dev/iommu had no mmap */
	else
		ret = ufd_file_mmap(&f->file, req->arg, req->cmd,
				    (int)req->flags, &where);
	file_put(d, f);
	if (ret)
		return ret;
	if (!where.trapped)
		return -ENODEV;
	res->arg = where.region;
	res->cmd = where.region_off;
	return 0;
}

/*
 * Cut [start, start + len) out of @p's BAR records: the records (or
 * parts) removed go to *@gone, *@spare (allocated by the caller) may be
 * used for the right part of a record split in two.  d->lock held.
 */
static void bars_cut_locked(struct srv_proc *p, uint64_t start, uint64_t len,
			    struct srv_bar **gone, struct srv_bar **spare)
{
	uint64_t end = start + len;
	struct srv_bar **pp = &p->bars, *b;

	while ((b = *pp)) {
		uint64_t bend = b->start + b->len;

		if (bend <= start || b->start >= end) {
			pp = &b->next;
			continue;
		}
		if (b->start >= start && bend <= end) {
			*pp = b->next;       /* wholly inside: gone */
			b->next = *gone;
			*gone = b;
			continue;
		}
		if (b->start < start && bend > end) {
			struct srv_bar *r = *spare;

			if (!r) {
				/* No memory for the right part: drop it. */
				b->len = start - b->start;
				pp = &b->next;
				continue;
			}
			*spare = NULL;
			*r = *b;
			r->start = end;
			r->len = bend - end;
			r->region_off = b->region_off + (end - b->start);
			b->f->refs++;        /* the right part's */
			b->len = start - b->start;
			r->next = b->next;
			b->next = r;
			pp = &r->next;
			continue;
		}
		if (b->start < start) {
			b->len = start - b->start;
		} else {
			b->region_off += end - b->start;
			b->len = bend - end;
			b->start = end;
		}
		pp = &b->next;
	}
}

/*
 * Cut [start, start + len) out of @p's records (into *@gone) and add @add
 * (if not NULL), taking d->lock.  A record cut in two is one more mapping
 * of what it maps (ufd_file_map_get for its right part).
 */
static void bars_cut(struct ufd_daemon *d, struct srv_proc *p, uint64_t start,
		     uint64_t len, struct srv_bar *add, struct srv_bar **gone)
{
	struct srv_bar *spare = calloc(1, sizeof(*spare)), *split = spare;
	struct srv_file *sf = NULL;
	unsigned int region = 0;

	pthread_mutex_lock(&d->lock);
	bars_cut_locked(p, start, len, gone, &spare);
	if (split && !spare) {
		sf = split->f;
		sf->refs++;
		region = split->region;
	}
	if (add) {
		add->next = p->bars;
		p->bars = add;
	}
	pthread_mutex_unlock(&d->lock);
	free(spare);
	if (sf) {
		ufd_file_map_get(&sf->file, region);
		file_put(d, sf);
	}
}

/* BAR_MAPPED: record where an mmap of a device file now is. */
static long do_bar_mapped(struct srv_call *call, const struct ufd_msg *req)
{
	struct ufd_daemon *d = call->ch->d;
	struct srv_bar *b, *gone = NULL;
	struct ufd_file_mmap where;
	struct srv_file *f;
	long ret;

	if (!req->cmd || req->pos + req->cmd < req->pos ||
	    (req->pos & 4095) || (req->cmd & 4095))
		return -EINVAL;
	ret = call_lookup(call, req->fd, &f);
	if (ret)
		return ret == -ENOTTY ? -ENODEV : ret;
	/* Where it lands, as MMAP answered (not what the client says). */
	ret = ufd_file_mmap(&f->file, req->arg, req->cmd, (int)req->flags,
			    &where);
	if (!ret && !where.trapped)
		ret = -ENODEV;
	/* The mapping keeps what it maps busy (a vIOMMU's page). */
	if (!ret)
		ret = ufd_file_map_get(&f->file, where.region);
	b = ret ? NULL : calloc(1, sizeof(*b));
	if (!ret && !b) {
		ufd_file_map_put(&f->file, where.region);
		ret = -ENOMEM;
	}
	if (ret) {
		file_put(d, f);
		return ret;
	}
	b->start = req->pos;
	b->len = req->cmd;
	b->f = f; /* the lookup's reference is now the record's */
	b->region = where.region;
	b->region_off = where.region_off;
	bars_cut(d, call->proc, b->start, b->len, b, &gone);
	bars_free(d, gone);
	return 0;
}

/* BAR_UNMAPPED: whatever was mapped at [pos, pos + cmd) is gone. */
static long do_bar_unmapped(struct srv_call *call, const struct ufd_msg *req)
{
	struct ufd_daemon *d = call->ch->d;
	struct srv_bar *gone = NULL;

	if (!req->cmd || req->pos + req->cmd < req->pos)
		return -EINVAL;
	bars_cut(d, call->proc, req->pos, req->cmd, NULL, &gone);
	bars_free(d, gone);
	return 0;
}

/* MMIO: one load or store of a trapped mapping. */
static long do_mmio(struct srv_call *call, const struct ufd_msg *req,
		    struct ufd_msg *res)
{
	struct ufd_daemon *d = call->ch->d;
	unsigned int size = req->flags & 0xff;
	bool write = req->flags & UFD_MMIO_WRITE;
	uint64_t val = req->cmd;
	struct srv_file *f;
	long ret;

	if (size != 1 && size != 2 && size != 4 && size != 8)
		return -EINVAL;
	ret = call_lookup(call, req->fd, &f);
	if (ret)
		return ret == -ENOTTY ? -ENODEV : ret;
	ret = ufd_file_mmio(&f->file, req->kind, req->arg, size, write, &val);
	file_put(d, f);
	if (!ret && !write)
		res->cmd = val;
	return ret;
}

/* FILE_KIND: what a file the sender holds is. */
static long do_file_kind(struct srv_call *call, const struct ufd_msg *req)
{
	struct ufd_daemon *d = call->ch->d;
	struct srv_file *f;
	long ret;

	ret = call_lookup(call, req->fd, &f);
	if (ret)
		return ret;
	ret = f->file.kind;
	file_put(d, f);
	return ret;
}

/* ACCOUNTING: the memory pinned on behalf of process req->arg. */
static long do_accounting(struct srv_call *call, const struct ufd_msg *req,
			  struct ufd_msg *res)
{
	struct ufd_engine *eng = call->ch->d->eng;
	pid_t pid = (pid_t)req->arg;

	if (req->arg > INT32_MAX)
		return -EINVAL;
	res->arg = ufd_engine_vm_pinned_bytes(eng, pid);
	res->cmd = ufd_engine_pinned_bytes_pid(eng, pid);
	return 0;
}

/* DESCRIBE: the machine as text, into the sender's buffer. */
static long do_describe(struct srv_call *call, const struct ufd_msg *req)
{
	size_t size = req->cmd > 65536 ? 65536 : (size_t)req->cmd;
	char *text;
	long n;
	int rc;

	if (!size)
		return -EINVAL;
	text = malloc(size);
	if (!text)
		return -ENOMEM;
	n = ufd_vfio_platform_describe(text, size);
	rc = call->proc->src->ops->write(call->proc->src, req->arg, text,
					 (size_t)n + 1 > size ? size : (size_t)n + 1);
	free(text);
	return rc ? rc : n;
}

/* The requests a channel serves (from the socket or the ring). */
static bool request_type_ok(uint16_t type)
{
	switch (type) {
	case UFD_MSG_OPEN:
	case UFD_MSG_IOCTL:
	case UFD_MSG_READ:
	case UFD_MSG_WRITE:
	case UFD_MSG_PREAD:
	case UFD_MSG_PWRITE:
	case UFD_MSG_MMAP:
	case UFD_MSG_MMIO:
	case UFD_MSG_BAR_MAPPED:
	case UFD_MSG_BAR_UNMAPPED:
	case UFD_MSG_DESCRIBE:
	case UFD_MSG_ACCOUNTING:
	case UFD_MSG_FILE_KIND:
		return true;
	default:
		return false;
	}
}

/*
 * Serve request @req of the caller @uc in @call, which the transport
 * filled: its channel, and for a ring call the ring's process (held by
 * the channel), the argument window, the file's identity and the client's
 * fd table generation; a socket message's process is found by pid and
 * nonce.  The answer's fields go to @res; the return value is its ret.
 */
static long serve_request(struct srv_call *call, const struct ufd_msg *req,
			  const struct ucred *uc, struct ufd_msg *res)
{
	struct ufd_daemon *d = call->ch->d;
	/* A ring's process is held by its channel, whose thread this is. */
	bool own_proc = !call->proc;
	int err = 0;
	long ret;

	/* The release barrier: earlier closes are done. */
	release_barrier(d);
	if (own_proc) {
		call->proc = proc_get(d, uc->pid, req->nonce, &err);
		if (!call->proc)
			return err;
	}
	ufd_source_remote_set_caller(call->proc->src);
	/* The sender's fail-nth, for this dispatch. */
	if (req->type != UFD_MSG_MMIO && req->type != UFD_MSG_FILE_KIND)
		ufd_fail_nth_thread(req->fail_nth);
	switch (req->type) {
	case UFD_MSG_OPEN:
		ret = do_open(call, req, uc);
		break;
	case UFD_MSG_IOCTL:
		ret = do_ioctl(call, req, uc);
		break;
	case UFD_MSG_FILE_KIND:
		ret = do_file_kind(call, req);
		break;
	case UFD_MSG_MMAP:
		ret = do_mmap(call, req, res);
		break;
	case UFD_MSG_MMIO:
		ret = do_mmio(call, req, res);
		break;
	case UFD_MSG_BAR_MAPPED:
		ret = do_bar_mapped(call, req);
		break;
	case UFD_MSG_BAR_UNMAPPED:
		ret = do_bar_unmapped(call, req);
		break;
	case UFD_MSG_DESCRIBE:
		ret = do_describe(call, req);
		break;
	case UFD_MSG_ACCOUNTING:
		ret = do_accounting(call, req, res);
		break;
	default:
		ret = do_rw(call, req, uc);
		break;
	}
	res->fail_nth = req->fail_nth ? (uint32_t)ufd_fail_nth_thread_left() : 0;
	ufd_fail_nth_thread(0);
	ufd_source_remote_set_caller(NULL);
	while (call->nr_held)
		file_put(d, call->held[--call->nr_held]);
	/* Files made: the table keeps them now. */
	while (call->nr_made)
		file_put(d, call->made[--call->nr_made].f);
	if (own_proc)
		proc_put(d, call->proc);
	return ret;
}

/* ---- the shared ring ------------------------------------------------------------ */

/* RING_SETUP with the memfd @mfd: map it; 0 or -errno.  Closes @mfd. */
static int ring_setup(struct srv_chan *ch, int mfd, const struct ucred *uc,
		      bool has_cred, uint64_t nonce)
{
	struct ufd_daemon *d = ch->d;
	struct ufd_ring *r;
	struct stat st;
	int seals, err = 0;
	void *p;

	if (mfd < 0)
		return -EINVAL;
	if (ch->ring || !has_cred || (uc->uid != d->uid && uc->uid != 0)) {
		close(mfd);
		return ch->ring ? -EBUSY : -EPERM;
	}
	/* Sealed against shrinking: no page of it can go (no SIGBUS here). */
	seals = fcntl(mfd, F_GET_SEALS);
	if (fstat(mfd, &st) || !S_ISREG(st.st_mode) ||
	    st.st_size < (off_t)UFD_RING_BYTES || seals < 0 ||
	    !(seals & F_SEAL_SHRINK)) {
		close(mfd);
		return -EINVAL;
	}
	p = mmap(NULL, UFD_RING_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, mfd,
		 0);
	close(mfd);
	if (p == MAP_FAILED)
		return -EINVAL;
	r = p;
	if (r->magic != UFD_RING_MAGIC || r->version != UFD_PROTO_VERSION) {
		munmap(p, UFD_RING_BYTES);
		return -EINVAL;
	}
	ch->proc = proc_get(d, uc->pid, nonce, &err);
	if (!ch->proc) {
		munmap(p, UFD_RING_BYTES);
		return err;
	}
	ch->cred = *uc;
	/* Calls are the numbers after the one the ring holds now. */
	ch->served_seq = ufd_ring_peek(&r->req_seq);
	ch->ring = r;
	srv_dbg(d, "pid %d: channel %d has a ring", (int)uc->pid, ch->fd);
	return 0;
}

/* One posted MMIO store (copied out of the ring). */
static void serve_post(struct srv_chan *ch, const struct ufd_ring_post *post)
{
	struct srv_call call = {
		.ch = ch,
		.proc = ch->proc,
		.ident_fd = post->fd,
		.ident_dev = (dev_t)post->file_dev,
		.ident_ino = (ino_t)post->file_ino,
	};
	uint64_t val = post->val;
	struct srv_file *f;

	if (post->size != 1 && post->size != 2 && post->size != 4 &&
	    post->size != 8)
		return;
	if (call_lookup(&call, post->fd, &f))
		return; /* a posted write that fails is dropped */
	ufd_file_mmio(&f->file, post->region, post->off, post->size, true,
		      &val);
	file_put(ch->d, f);
}

/* The posted stores the client queued so far, in order. */
static void ring_serve_posts(struct srv_chan *ch)
{
	struct ufd_ring *r = ch->ring;
	uint32_t tail = r->post_tail, head = ufd_ring_peek(&r->post_head);

	if (head == tail)
		return;
	if (head - tail > UFD_RING_POSTS) {
		/* The client overran its queue: what it lost is dropped. */
		__atomic_store_n(&r->post_tail, head, __ATOMIC_RELEASE);
		return;
	}
	release_barrier(ch->d);
	ufd_source_remote_set_caller(ch->proc->src);
	for (; tail != head; tail++) {
		struct ufd_ring_post post;

		memcpy(&post, &r->posts[tail % UFD_RING_POSTS], sizeof(post));
		serve_post(ch, &post);
	}
	ufd_source_remote_set_caller(NULL);
	__atomic_store_n(&r->post_tail, tail, __ATOMIC_RELEASE);
}

/*
 * Transfers (proto.h): how long the daemon waits for a client to take
 * one (then it takes it back), and to finish one it took (then transfers
 * are off for the channel for a while: xfer_strike).  A client that
 * spins takes one in well under a microsecond; one that does not within
 * the first is off its CPU, and the wait may be under the engine's lock
 * (an access object's read), so both are short.
 */
#define XFER_TAKE_NS (20u * 1000u)
#define XFER_YIELD_NS (2u * 1000u)
#define XFER_FINISH_NS (1000u * 1000u)
/*
 * A transfer taken and not finished in time is a strike: transfers are off
 * for the rest of the call and for XFER_OFF_NS after it, doubled with each
 * strike up to XFER_OFF_MAX_SHIFT doublings (10 ms, 20 ms, ... about 10
 * s).  A client preempted once (a busy host) gets them back soon; one that
 * holds them on purpose stalls the daemon at most XFER_FINISH_NS per
 * period, a period that grows to 10000 times that.
 */
#define XFER_OFF_NS (10ull * 1000u * 1000u)
#define XFER_OFF_MAX_SHIFT 10u

static void xfer_strike(struct srv_chan *ch)
{
	unsigned int k = ch->xfer_strikes < XFER_OFF_MAX_SHIFT ?
				 ch->xfer_strikes :
				 XFER_OFF_MAX_SHIFT;

	ch->xfer_strikes++;
	ch->xfer_off = true;
	ch->xfer_resume_ns = ufd_ring_now_ns() + (XFER_OFF_NS << k);
}

/* Off for good: the client scribbled on the state, or cannot copy. */
static void xfer_kill(struct srv_chan *ch)
{
	ch->xfer_off = true;
	ch->xfer_resume_ns = UINT64_MAX;
}

/* Take transfer @n back if the client has not taken it: true if so
 * (Dekker's pattern against the client's take, proto.h). */
static bool xfer_take_back(struct ufd_ring *r, uint32_t n)
{
	ufd_ring_publish(&r->xfer_cancel, n);
	return ufd_ring_peek_sc(&r->xfer_taken) != n;
}

/*
 * One transfer of @len <= UFD_RING_XFER bytes: 1 done, 0 not this way,
 * -EFAULT.  Only to a client that is awake (spinning in its wait): a
 * sleeping one would cost a kick and a wake-up, more than the syscalls.
 */
static int xfer_one(struct srv_chan *ch, uint64_t uaddr, void *buf,
		    size_t len, bool store)
{
	struct ufd_ring *r = ch->ring;
	uint32_t last = ch->xfer_last, n = last + 1;
	uint32_t taken = ufd_ring_peek(&r->xfer_taken);
	uint32_t done = ufd_ring_peek(&r->xfer_done);
	bool held = false;
	uint64_t t0;
	unsigned int k = 0;
	int32_t ret;

	/* The client's words name only transfers we asked for. */
	if ((int32_t)(taken - last) > 0 || (int32_t)(done - last) > 0) {
		xfer_kill(ch);
		return 0;
	}
	/* Still copying one given up on (xfer_strike): not now. */
	if (ch->xfer_held && done != last)
		return 0;
	ch->xfer_held = false;
	r->xfer_addr = uaddr;
	r->xfer_len = (uint32_t)len;
	r->xfer_store = store;
	if (store)
		memcpy(r->xfer_data, buf, len);
	ch->xfer_last = n;
	ufd_ring_publish(&r->xfer_seq, n);
	/* Went to sleep meanwhile (Dekker, as for the call): take it back. */
	if (ufd_ring_peer_sleeps(&r->client_sleeping) && xfer_take_back(r, n))
		return 0;
	/* The clock is first read after 16 steps: most transfers are done
	 * by then, and pay no read (the limits run from that first look). */
	t0 = 0;
	while (ufd_ring_peek(&r->xfer_done) != n) {
		uint64_t now, waited;

#if defined(__x86_64__) || defined(__i386__)
		__builtin_ia32_pause();
#endif
		if (++k % 16)
			continue;
		now = ufd_ring_now_ns();
		if (!t0)
			t0 = now;
		waited = now - t0;
		if (waited > XFER_TAKE_NS && !held) {
			if (xfer_take_back(r, n))
				return 0;
			held = true; /* taken: its answer comes */
		}
		if (waited > XFER_FINISH_NS) {
			xfer_strike(ch);
			ch->xfer_held = true;
			return 0;
		}
		/* The client may wait for this CPU: let it have it. */
		if (waited > XFER_YIELD_NS)
			sched_yield();
	}
	ret = __atomic_load_n(&r->xfer_ret, __ATOMIC_RELAXED);
	if (ret == -ECANCELED)
		return 0; /* it saw our take-back first */
	if (ret == -EAGAIN) {
		xfer_kill(ch); /* the client cannot: do not ask again */
		return 0;
	}
	if (!ret && !store)
		memcpy(buf, r->xfer_data, len);
	return ret ? -EFAULT : 1;
}

/* ufd_caller_xfer_fn of a ring call: its client copies for us. */
static long ring_xfer(void *ctx, uint64_t uaddr, void *buf, size_t len,
		      bool store)
{
	struct srv_chan *ch = ctx;
	size_t done = 0;

	if (!ufd_ring_spin_ns())
		return 0; /* a client that never spins is asleep */
	while (done < len && !ch->xfer_off &&
	       !ufd_ring_peer_sleeps(&ch->ring->client_sleeping)) {
		size_t n = len - done < UFD_RING_XFER ? len - done :
							UFD_RING_XFER;
		int rc = xfer_one(ch, uaddr + done, (char *)buf + done, n,
				  store);

		if (rc < 0)
			return rc;
		if (!rc)
			break;
		done += n;
	}
	return (long)done;
}

/* The call @seq in the ring's slot (not served yet): serve it, answer. */
static void ring_serve_call(struct srv_chan *ch, uint32_t seq)
{
	struct ufd_ring *r = ch->ring;
	struct ufd_caller_window win = { .buf = r->win };
	struct srv_call call = { .ch = ch, .proc = ch->proc, .gen_known = true };
	struct ufd_msg req, res;
	long ret;

	/* Copied out first: the client may scribble on the ring meanwhile. */
	memcpy(&req, &r->req, sizeof(req));
	call.ident_dev = (dev_t)r->file_dev;
	call.ident_ino = (ino_t)r->file_ino;
	call.ident_fd = call.ident_dev || call.ident_ino ? req.fd : -1;
	call.fd_gen = r->fd_gen;
	win.addr = r->win_addr;
	win.len = r->win_len;
	win.writable = r->win_flags & UFD_RING_WIN_WRITABLE;
	if (win.len > UFD_RING_WINDOW || win.addr + win.len < win.addr)
		win.len = 0;
	call.win = win.len ? &win : NULL;
	/* Taken (for a client that lost its socket): a line of its own. */
	__atomic_store_n(&r->taken_seq, seq, __ATOMIC_RELAXED);
	ch->served_seq = seq;
	/* Whatever the client posted before this call is done first. */
	ring_serve_posts(ch);
	ufd_wire_init(&res, UFD_MSG_RESULT);
	if (req.magic != UFD_PROTO_MAGIC || req.version != UFD_PROTO_VERSION) {
		ret = -EPROTO;
	} else if (req.type == UFD_MSG_RING_KICK) {
		ret = 0; /* nothing but the posts before it */
	} else if (!request_type_ok(req.type)) {
		ret = -EPROTO;
	} else {
		/* The caller's memory through the caller, while it waits
		 * (again, once a strike's period is over). */
		if (ch->xfer_off && ufd_ring_now_ns() >= ch->xfer_resume_ns)
			ch->xfer_off = false;
		ufd_source_remote_set_caller_xfer(ring_xfer, ch);
		ret = serve_request(&call, &req, &ch->cred, &res);
		ufd_source_remote_set_caller_xfer(NULL, NULL);
	}
	r->res_ret = ret;
	r->res_arg = res.arg;
	r->res_cmd = res.cmd;
	r->res_fail_nth = res.fail_nth;
	r->dirty_lo = (uint32_t)win.dirty_lo;
	r->dirty_hi = (uint32_t)win.dirty_hi;
	ufd_ring_publish(&r->done_seq, seq);
	if (ufd_ring_peer_sleeps(&r->client_sleeping))
		ufd_ring_kick(ch->fd);
}

/* Work in the ring? */
static bool ring_busy(const struct srv_chan *ch)
{
	const struct ufd_ring *r = ch->ring;

	return ufd_ring_peek(&r->req_seq) != ch->served_seq ||
	       ufd_ring_peek(&r->post_head) != r->post_tail;
}

/*
 * A channel's thread: requests from its ring while it has one (spinning a
 * while after each, ring.h), and messages from its socket.
 */
static void *chan_main(void *arg)
{
	struct srv_chan *ch = arg;
	struct ufd_daemon *d = ch->d;
	struct ufd_msg req, res;
	unsigned int steps = 0;
	uint64_t since = 0;
	struct ucred uc;
	bool has_cred;
	int rc, fd;

	for (;;) {
		long ret;

		if (ch->ring) {
			struct ufd_ring *r = ch->ring;

			uint32_t seq = ufd_ring_peek(&r->req_seq);

			if (seq != ch->served_seq) {
				ufd_ring_spin_done(&ch->spin, since);
				ring_serve_call(ch, seq);
				since = 0; /* set by the spin's first look */
				steps = 0;
				continue;
			}
			if (ufd_ring_peek(&r->post_head) != r->post_tail) {
				ufd_ring_spin_done(&ch->spin, since);
				ring_serve_posts(ch);
				since = 0;
				steps = 0;
				continue;
			}
			if (ufd_ring_spin_step(&ch->spin, &since, &steps))
				continue;
			ufd_ring_announce_sleep(&r->daemon_sleeping, true);
			if (ring_busy(ch)) {
				ufd_ring_announce_sleep(&r->daemon_sleeping,
							false);
				continue;
			}
		}
		rc = ufd_wire_recv(ch->fd, &req, &fd, &uc, &has_cred);
		if (ch->ring)
			ufd_ring_announce_sleep(&ch->ring->daemon_sleeping,
						false);
		steps = 0;
		if (rc == 0 || (rc < 0 && rc != -EPROTO))
			break;
		ufd_wire_init(&res, UFD_MSG_RESULT);
		if (rc == 1 && req.type == UFD_MSG_RING_KICK) {
			if (fd >= 0)
				close(fd);
			ufd_ring_spin_kicked(&ch->spin, &req);
			/* The ring has work (or had): the wait since @since. */
			continue;
		}
		since = ufd_ring_now_ns();
		if (rc == 1 && req.type == UFD_MSG_RING_SETUP) {
			res.ret = ring_setup(ch, fd, &uc, has_cred, req.nonce);
			if (ufd_wire_send(ch->fd, &res, -1))
				break;
			continue;
		}
		if (fd >= 0)
			close(fd); /* no other request carries an fd */
		if (rc == -EPROTO)
			ret = -EPROTO;
		else if (!has_cred || (uc.uid != d->uid && uc.uid != 0))
			ret = -EPERM;
		else if (!request_type_ok(req.type))
			ret = -EPROTO;
		else /* no ring: no window, identity or generation */
			ret = serve_request(&(struct srv_call){ .ch = ch,
								.ident_fd = -1 },
					    &req, &uc, &res);
		res.ret = ret;
		if (ufd_wire_send(ch->fd, &res, -1))
			break;
	}
	close(ch->fd);
	if (ch->ring) {
		/* Asleep for good: a client checks the socket before a call. */
		ufd_ring_announce_sleep(&ch->ring->daemon_sleeping, true);
		munmap(ch->ring, UFD_RING_BYTES);
	}
	if (ch->proc)
		proc_put(d, ch->proc);
	pthread_mutex_lock(&d->lock);
	d->nr_channels--;
	pthread_mutex_unlock(&d->lock);
	free(ch);
	return NULL;
}

static void *accept_main(void *arg)
{
	struct ufd_daemon *d = arg;
	pthread_attr_t attr;

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 1024 * 1024);
	for (;;) {
		struct ucred peer;
		socklen_t len = sizeof(peer);
		struct srv_chan *ch;
		pthread_t t;
		int fd, one = 1;
		bool ok;

		fd = accept4(d->lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED ||
			    errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM) {
				if (errno != EINTR && errno != ECONNABORTED)
					usleep(10000);
				continue;
			}
			break;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &peer, &len) ||
		    (peer.uid != d->uid && peer.uid != 0) ||
		    setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one,
			       sizeof(one))) {
			close(fd);
			continue;
		}
		pthread_mutex_lock(&d->lock);
		ok = d->nr_channels < SRV_MAX_CHANNELS;
		if (ok)
			d->nr_channels++;
		pthread_mutex_unlock(&d->lock);
		ch = ok ? calloc(1, sizeof(*ch)) : NULL;
		if (ch) {
			ch->d = d;
			ch->fd = fd;
			if (!pthread_create(&t, &attr, chan_main, ch))
				continue;
			free(ch);
		}
		if (ok) {
			pthread_mutex_lock(&d->lock);
			d->nr_channels--;
			pthread_mutex_unlock(&d->lock);
		}
		close(fd);
	}
	pthread_attr_destroy(&attr);
	return NULL;
}

/* ---- life ---------------------------------------------------------------------------- */

int ufd_daemon_new(const struct ufd_daemon_config *cfg,
		   struct ufd_daemon **out)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct ufd_daemon *d;
	uint64_t rnd = 0;
	socklen_t salen;
	size_t n;
	int rc, one = 1;

	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->cfg = *cfg;
	d->uid = geteuid();
	d->maps_file = getenv("UIOMMUFD_PROCMAP_QUERY") &&
		       !strcmp(getenv("UIOMMUFD_PROCMAP_QUERY"), "0");
	d->lfd = d->epfd = -1;
	pthread_mutex_init(&d->lock, NULL);
	pthread_mutex_init(&d->release_lock, NULL);
	d->eng = ufd_engine_default();
	the_daemon = d;
	if (!d->eng) {
		rc = -ENOMEM;
		goto err;
	}
	if (cfg->pasid_capacity_set) {
		rc = ufd_engine_set_pasid_capacity(d->eng, cfg->pasid_capacity);
		if (rc)
			goto err;
	}
	/* The machine's devices, behind the VFIO files. */
	rc = ufd_vfio_platform_setup(d->eng, cfg->device_spec);
	if (rc)
		goto err;
	if (getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK) != sizeof(rnd))
		rnd ^= (uint64_t)(uintptr_t)d ^ (uint64_t)getpid() << 32;
	snprintf(d->address, sizeof(d->address), "@uiommufd-%d-%016llx",
		 (int)getpid(), (unsigned long long)rnd);
	/* Abstract name: sun_path[0] = 0, no file to clean up. */
	n = strlen(d->address + 1);
	memcpy(sa.sun_path + 1, d->address + 1, n);
	salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n);
	d->lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	/*
	 * SO_PASSCRED on the listener: accept() hands it on to each channel
	 * atomically, so no message, not even one sent between the accept
	 * and a setsockopt on the new socket, arrives without credentials.
	 */
	if (d->lfd < 0 ||
	    setsockopt(d->lfd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) ||
	    bind(d->lfd, (struct sockaddr *)&sa, salen) ||
	    listen(d->lfd, 128)) {
		rc = -errno;
		goto err;
	}
	d->epfd = epoll_create1(EPOLL_CLOEXEC);
	d->hw_kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (d->epfd < 0 || d->hw_kick_fd < 0) {
		rc = -errno;
		if (d->epfd >= 0)
			close(d->epfd);
		if (d->hw_kick_fd >= 0)
			close(d->hw_kick_fd);
		goto err;
	}
	*out = d;
	return 0;
err:
	if (d->lfd >= 0)
		close(d->lfd);
	free(d);
	return rc;
}

const char *ufd_daemon_address(const struct ufd_daemon *d)
{
	return d->address;
}

int ufd_daemon_listen_fd(const struct ufd_daemon *d)
{
	return d->lfd;
}

/* The invariant check, every cfg.self_check_ms (soak tests). */
static void *self_check_main(void *arg)
{
	struct ufd_daemon *d = arg;
	struct timespec ts = {
		.tv_sec = d->cfg.self_check_ms / 1000,
		.tv_nsec = (long)(d->cfg.self_check_ms % 1000) * 1000000L,
	};
	unsigned long rounds = 0;

	for (;;) {
		nanosleep(&ts, NULL);
		if (ufd_engine_check(d->eng)) {
			fprintf(stderr, "uiommufd-daemon: the engine's invariant "
					"check failed after %lu rounds\n", rounds);
			abort();
		}
		rounds++;
	}
	return NULL;
}

int ufd_daemon_start(struct ufd_daemon *d)
{
	pthread_attr_t attr;
	pthread_t t;
	int rc;

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	rc = pthread_create(&t, &attr, release_main, d);
	if (!rc)
		rc = pthread_create(&t, &attr, accept_main, d);
	if (!rc && d->cfg.self_check_ms)
		rc = pthread_create(&t, &attr, self_check_main, d);
	pthread_attr_destroy(&attr);
	return -rc;
}

void ufd_daemon_stop(struct ufd_daemon *d)
{
	d->stopping = true;
	shutdown(d->lfd, SHUT_RDWR);
}

int ufd_daemon_serve(struct ufd_daemon *d, int fd)
{
	struct srv_chan *ch;
	int one = 1, rc;

	if (setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one))) {
		rc = -errno;
		close(fd);
		return rc;
	}
	ch = calloc(1, sizeof(*ch));
	if (!ch) {
		close(fd);
		return -ENOMEM;
	}
	ch->d = d;
	ch->fd = fd;
	pthread_mutex_lock(&d->lock);
	d->nr_channels++;
	pthread_mutex_unlock(&d->lock);
	chan_main(ch);
	return 0;
}

unsigned int ufd_daemon_nr_files(struct ufd_daemon *d)
{
	unsigned int n;

	pthread_mutex_lock(&d->lock);
	n = d->nr_files;
	pthread_mutex_unlock(&d->lock);
	return n;
}
