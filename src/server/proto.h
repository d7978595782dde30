/* SPDX-License-Identifier: MIT */
/*
 * The wire protocol between the preload library (client) and the uiommufd
 * daemon (server mode).
 *
 * Model.  The daemon listens on a SOCK_SEQPACKET unix socket (an abstract
 * name, "@uiommufd-...", or a path; UIOMMUFD_SOCKET).  Each client process
 * connects "channels" to it: one per thread that is in a call, kept in a
 * small pool and reused.  A channel carries requests and answers, one call
 * at a time, strictly in order.  It is never a file the program sees.
 *
 * The files the program sees are the other half of socketpairs the daemon
 * makes: each open of /dev/iommu, and each derived file (access object,
 * fault queue), is one socketpair; the daemon keeps one end, the program
 * gets the other through SCM_RIGHTS.  That fd is what dup(), fork() and
 * SCM_RIGHTS share, like a kernel file; when its last copy is closed
 * anywhere, the daemon's end reports a hangup and the daemon releases the
 * object.  A request names the file by the client's fd number; the daemon
 * fetches that fd out of the sender with pidfd_getfd() and recognises it by
 * its inode, so a process can only name files it holds right now.
 *
 * Identity.  The daemon sets SO_PASSCRED on every channel, so the kernel
 * attaches the sending process's real pid and uid to every message
 * (a non-privileged sender cannot forge them).  Requests also carry the
 * client image's nonce, a random value the library draws when it starts
 * and again in every fork child: (pid, nonce) names one address space,
 * so an exec (same pid, new address space) is noticed.
 *
 * Fault queues.  read() and write() on a fault queue's fd are calls too
 * (READ, WRITE).  The daemon also sends a one-byte "doorbell" message into
 * its end of the queue's socketpair whenever the queue has fault groups to
 * read, so poll() on the client's fd shows POLLIN; the client drains the
 * doorbells before each READ, and the daemon rings again after it if
 * groups are left.
 *
 * Files that arrive behind the library's back.  A file the daemon made may
 * reach an image of the library that never saw it made: across exec, or
 * through SCM_RIGHTS.  The library recognises such an fd (a socket whose
 * peer is the daemon) and asks FILE_KIND, so that read(), write() and
 * ioctl() on it reach the daemon like on the files it saw made.
 *
 * Calls.  A client sends a request (OPEN, IOCTL, READ, WRITE) and then
 * reads messages until RESULT.  While it waits, the daemon may send callbacks that the
 * client must act on in order:
 *   INSTALL_FD  an fd arrives with the message (SCM_RIGHTS): the client
 *               records it as one of its emulated files and answers
 *               FD_INSTALLED with the number it got;
 *   CLOSE_FD    close that fd again (the call failed after making it).
 *
 * Fault injection.  A thread that armed its fail-nth (the shim emulates
 * /proc/thread-self/fail-nth) sends the count it has left in fail_nth of
 * each OPEN, IOCTL, READ, WRITE, PREAD, PWRITE and MMAP; the daemon arms
 * the engine's countdown of its serving thread with it for that request's
 * dispatch only, and RESULT's fail_nth says what is left (0: it fired).
 * 0 in a request: no injection (RESULT then carries 0 too).
 *
 * The shared ring.  A client that can makes its calls without a message:
 * right after connecting a channel it sends RING_SETUP with a memfd
 * attached (UFD_RING_BYTES long, sealed against shrinking) that both
 * sides map, a struct ufd_ring (below).  From then on a call is written
 * into the ring's call slot and answered there; a posted MMIO write is a
 * record in the ring's post queue.  Neither side makes a system call as
 * long as the other is awake: each spins a little before it sleeps, and a
 * sleeper is woken by a KICK message on the channel's socket, which is
 * sent only when the sleeper said it sleeps (ring.h has the protocol).
 * The socket stays what it was for everything else: the callbacks
 * (INSTALL_FD and CLOSE_FD; the ring's cb_sent tells a client that spins
 * that one is waiting on the socket, FD_INSTALLED answers on the socket),
 * the end of the channel (a hangup), and the kick.
 *
 * With a ring, the channel's identity is fixed at RING_SETUP: the pid and
 * uid the kernel attaches to that message, and its nonce, stand for every
 * call of the ring (a fork child never has its parent's channels nor the
 * ring mapping: MADV_DONTFORK).  A call names its file by fd and by the
 * identity of the socket the client's fd table recorded for it (st_dev,
 * st_ino); the daemon takes the fd out of the client (pidfd_getfd) only the
 * first time that process names that fd with that identity, and trusts
 * the pair afterwards while the file lives.  An fd a call names without an
 * identity (inside its argument: an access object, an iommufd to bind
 * to) is trusted on a proof too, if the client's fd table has not lost
 * an fd since the proof was made: each call carries the table's
 * generation (fd_gen), a count of fds that stopped being the file they
 * were.  A process that lies about a
 * pair it proved once reaches a file it once held: no more than its uid
 * already allows (pidfd_getfd on any process of the same uid), which is
 * the daemon's whole trust boundary (clients must run as its uid).
 *
 * The argument window.  A call may come with a snapshot of the caller's
 * memory at the argument, [win_addr, win_addr + win_len), copied into the
 * ring by the client (ioctl: as many bytes as the first 32-bit word, the
 * size or argsz of the command, says, within bounds; read/write: the
 * buffer).  The daemon reads that range from the snapshot instead of the
 * process and keeps writes to it there (UFD_RING_WIN_WRITABLE: the client
 * proved the pages writable; else writes go to the process too); the
 * result says which bytes were written, [dirty_lo, dirty_hi), and the
 * client copies them back before the call returns.  Anything outside the
 * window is reached in the process as before.
 *
 * Transfers.  While a client waits for its ring call, the daemon may ask
 * it to copy between its own memory and the ring's xfer_data (at most
 * UFD_RING_XFER bytes: a load from xfer_addr into it, or a store of it at
 * xfer_addr), instead of a process_vm_readv/writev of the caller's memory,
 * which costs more than the round trip.  Transfers are numbered, and
 * each word of them has one writer, as in the call slot: the daemon fills
 * its fields and publishes the number in xfer_seq (kicking a sleeping
 * client); the client that sees a number it has not taken publishes it in
 * xfer_taken, then looks at xfer_cancel (Dekker's pattern against the
 * daemon's taking back), copies with its fault-guarded copy and publishes
 * the number in xfer_done with xfer_ret: 0, -EFAULT (the memory faulted:
 * the daemon's answer too), -EAGAIN (it cannot: the daemon uses the
 * system calls), or -ECANCELED (the daemon took it back first).  A daemon
 * that waited too long takes a request back: it stores the number in
 * xfer_cancel, then looks at xfer_taken; not taken, it uses the system
 * calls, and the client that comes late sees the cancel and answers
 * -ECANCELED without copying; taken, it waits for the answer.  One the
 * client took but did not finish within 1 ms turns transfers off for the
 * channel for a while (10 ms, doubled each time it happens again, up to
 * about 10 s), and none is asked while it is still unanswered (its late
 * answer ends that); a client that put a number the daemon has not asked
 * for in its words, or answered -EAGAIN, gets no more.  A client
 * reaches only its own memory this way and can lie only about it: the
 * daemon treats xfer_data as the copy of the client's memory it is, and
 * the lengths are the daemon's.
 *
 * Every message is one struct ufd_msg, exactly; anything else is garbage
 * and the daemon answers it with -EPROTO (or drops the channel).  Fields
 * that a type does not use are zero.
 *
 * Interval convention (for the memory the daemon reaches): [start, last],
 * last inclusive, as everywhere in uiommufd.  No locking here.
 */
#ifndef UFD_SERVER_PROTO_H
#define UFD_SERVER_PROTO_H

#include <stdint.h>

#define UFD_PROTO_MAGIC 0x75666431U /* "ufd1" */
#define UFD_PROTO_VERSION 3

/* Environment the launcher sets for the program in server mode. */
#define UFD_ENV_MODE "UIOMMUFD_MODE"             /* "server" | "inprocess" */
#define UFD_ENV_SOCKET "UIOMMUFD_SOCKET"         /* "@abstract" or a path */
#define UFD_ENV_DAEMON_PID "UIOMMUFD_DAEMON_PID" /* the daemon's pid */
#define UFD_ENV_KERNEL "UIOMMUFD_KERNEL"         /* personality: "6.12", "7.3" */
#define UFD_ENV_NO_EXT "UIOMMUFD_NO_EXTENSIONS"  /* "1": extensions ENOTTY */
/* The engine's system-wide PASID capacity (uiommufd-run --pasid-capacity). */
#define UFD_ENV_PASID_CAPACITY "UIOMMUFD_PASID_CAPACITY"

enum ufd_msg_type {
	/* client -> daemon */
	UFD_MSG_OPEN = 1,     /* flags: open(2) flags, kind: the node's
				 enum ufd_fd_kind, arg: its number (group,
				 cdev); answer: the new fd */
	UFD_MSG_IOCTL,        /* fd, cmd, arg */
	UFD_MSG_FD_INSTALLED, /* fd: the number INSTALL_FD's fd got, or -errno */
	UFD_MSG_READ,         /* fd (a fault queue), arg: buffer, cmd: count */
	UFD_MSG_WRITE,        /* fd (a fault queue), arg: buffer, cmd: count */
	UFD_MSG_FILE_KIND,    /* fd; answer: its enum ufd_fd_kind */
	UFD_MSG_PREAD,        /* as READ, at position pos */
	UFD_MSG_PWRITE,       /* as WRITE, at position pos */
	UFD_MSG_MMAP,         /* fd, arg: offset, cmd: length, flags: prot;
				 answer: arg region, cmd offset in it */
	UFD_MSG_MMIO,         /* fd, kind: region, arg: offset, flags: size
				 | UFD_MMIO_WRITE, cmd: value written;
				 answer: cmd the value read */
	UFD_MSG_BAR_MAPPED,   /* fd, arg: offset, cmd: length, flags: prot,
				 pos: the address an mmap of fd (MMAP
				 answered) now occupies in the sender */
	UFD_MSG_BAR_UNMAPPED, /* pos: address, cmd: length: whatever the
				 sender had mapped there (BAR_MAPPED) is
				 gone (munmap, MAP_FIXED over it) */
	UFD_MSG_DESCRIBE,     /* arg: buffer, cmd: its size: the emulated
				 machine's devices and groups as text (for
				 uiommufd dump); answer: the length */
	UFD_MSG_ACCOUNTING,   /* arg: a pid: what the engine has pinned on
				 its behalf (the kernel's VmPin and the
				 RLIMIT_MODE 1 part of VmLck, which the
				 library adds to /proc/PID/status); answer:
				 arg VmPin bytes, cmd VmLck bytes */
	UFD_MSG_RING_SETUP,   /* the ring's memfd attached (see "The shared
				 ring"); answer: 0 or -errno */
	UFD_MSG_RING_KICK,    /* either way: the peer posted work in the
				 ring while this side slept; arg: when
				 (CLOCK_MONOTONIC ns, a hint for the
				 receiver's spin: ring.h); no answer */
	/* daemon -> client */
	UFD_MSG_RESULT = 64,  /* ret: >= 0 or -errno; ends the call */
	UFD_MSG_INSTALL_FD,   /* kind, flags (O_CLOEXEC); one fd attached */
	UFD_MSG_CLOSE_FD,     /* fd */
};

struct ufd_msg {
	uint32_t magic;   /* UFD_PROTO_MAGIC */
	uint16_t version; /* UFD_PROTO_VERSION */
	uint16_t type;    /* enum ufd_msg_type */
	int32_t fd;
	uint32_t flags;
	uint64_t cmd;
	uint64_t arg;
	int64_t ret;
	uint64_t nonce;   /* the client image (see above) */
	uint32_t kind;    /* enum ufd_fd_kind (INSTALL_FD, OPEN); region */
	uint32_t fail_nth; /* see "Fault injection" above */
	uint64_t pos;     /* PREAD, PWRITE: the file position */
};

/* In MMIO's flags, beside the access size. */
#define UFD_MMIO_WRITE 0x100u

_Static_assert(sizeof(struct ufd_msg) == 64, "wire format");

/* ---- the shared ring ---------------------------------------------------------------- */

#define UFD_RING_MAGIC 0x75666472U /* "ufdr" */
#define UFD_RING_BYTES 16384u       /* the memfd's length */
#define UFD_RING_WINDOW 8192u       /* the largest argument window */
#define UFD_RING_POSTS 64u          /* posted writes in flight */

/*
 * The call slot is two halves, each written by one side only, so that no
 * line of it is written by both (a line both write moves between the
 * CPUs once more per write): the request (req_seq and what it describes),
 * the client's; the answer (done_seq, res, the window's dirty range), the
 * daemon's.  A call is the client's req_seq moved on by one, published
 * last; the daemon serves every req_seq it has not served, and answers it
 * by publishing done_seq equal to it, after the answer's fields (ret, arg,
 * cmd and fail_nth, what a RESULT message carries, in done_seq's line:
 * the client that sees the answer has it).  The
 * daemon also stores taken_seq when it takes a call (a line of its own,
 * which only a client that lost its socket looks at: ring_wait_blind
 * in client.c).  The window's bytes are the one thing both write:
 * the client's snapshot in, the daemon's stores out.
 */
#define UFD_RING_XFER 4096u /* the largest transfer */

/* win_flags */
#define UFD_RING_WIN_WRITABLE 1u

/* One posted MMIO store (a UFD_MSG_MMIO write without an answer). */
struct ufd_ring_post {
	int32_t fd;
	uint32_t region;
	uint64_t file_dev, file_ino; /* the fd's identity (see above) */
	uint64_t off;
	uint64_t val;
	uint32_t size;
	uint32_t pad;
};

struct ufd_ring {
	uint32_t magic;                  /* UFD_RING_MAGIC, by the client */
	uint32_t version;                /* UFD_PROTO_VERSION */
	uint32_t taken_seq;              /* by the daemon: the call it took */
	/* The request: written by the client only. */
	_Alignas(64) uint32_t req_seq;   /* the last call; published last */
	uint32_t win_len;                /* <= UFD_RING_WINDOW; 0: none */
	uint32_t win_flags;
	uint32_t req_pad;
	uint64_t file_dev, file_ino;     /* req.fd's identity, 0: unknown */
	uint64_t fd_gen;                 /* the client's fd table generation */
	uint64_t win_addr;
	_Alignas(64) struct ufd_msg req;
	/* Written by the client only. */
	_Alignas(64) uint32_t client_sleeping; /* waits on the socket */
	uint32_t post_head;              /* posts[head % N] is the next free */
	/* The answer: written by the daemon only, one line. */
	_Alignas(64) uint32_t done_seq;  /* the last call answered */
	uint32_t dirty_lo, dirty_hi;     /* in the window; lo == hi: none */
	uint32_t res_fail_nth;           /* what a RESULT message carries */
	int64_t res_ret;
	uint64_t res_arg, res_cmd;
	/* Written by the daemon only. */
	_Alignas(64) uint32_t daemon_sleeping;
	uint32_t post_tail;              /* posts before it are done */
	uint32_t cb_sent;                /* callbacks sent on the socket */
	/* A transfer during the call ("Transfers" above): the request,
	 * written by the daemon only. */
	_Alignas(64) uint32_t xfer_seq;  /* the last asked; published last */
	uint32_t xfer_len;               /* <= UFD_RING_XFER */
	uint32_t xfer_store;             /* 1 store, 0 load */
	uint32_t xfer_cancel;            /* the last taken back */
	uint64_t xfer_addr;
	/* Its answer, written by the client only: the line the daemon waits
	 * on. */
	_Alignas(64) uint32_t xfer_done; /* the last answered */
	int32_t xfer_ret;
	uint32_t xfer_served;            /* transfers it made (for tests) */
	/* Written by the client only, read by a daemon taking one back. */
	_Alignas(64) uint32_t xfer_taken; /* the last it began */
	_Alignas(64) struct ufd_ring_post posts[UFD_RING_POSTS];
	_Alignas(64) uint8_t win[UFD_RING_WINDOW];
	_Alignas(64) uint8_t xfer_data[UFD_RING_XFER];
};

_Static_assert(sizeof(struct ufd_ring) <= UFD_RING_BYTES, "ring layout");

#endif
