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
#define UFD_PROTO_VERSION 1

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

#endif
