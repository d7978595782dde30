/* SPDX-License-Identifier: MIT */
/*
 * The preload library's file table: which fd numbers of this process stand
 * for an emulated /dev/iommu (or a file derived from one), and the "open
 * file" each of them refers to.
 *
 * A struct shim_file plays the part of the kernel's struct file: dup(),
 * dup2(), fcntl(F_DUPFD) and fork() make more fd numbers refer to the same
 * shim_file, and what closing the file does (dropping the context, or
 * destroying the access object) happens exactly when its last reference
 * goes.  References are the table slots that point at the file plus any
 * call in flight on it (an ioctl holds one, as the kernel's fdget() does).
 *
 * Every fd in the table is backed by a real fd of the process (a memfd; see
 * shim_backing_fd() in preload.c), so the fd numbers are genuinely
 * allocated, survive fork, and are released by the kernel on close.
 *
 * The table is kept exact by the wrappers, and trusted: a lookup makes no
 * system call.  Every way of changing what an fd number refers to that
 * goes through libc's entry points is seen: close() and close_range()
 * and closefrom() take the slots out before the real close; dup(),
 * dup2(), dup3() and fcntl(F_DUPFD, F_DUPFD_CLOEXEC) copy or clear the
 * slot of the new number (dup2 onto one of ours closes it); and every
 * open the wrappers pass through (the open family, fopen, an fd received
 * with SCM_RIGHTS by recvmsg) clears a slot of the number it returns.
 * What the table cannot see is a close behind the library's back: a raw
 * close or close_range system call, io_uring, or a close inside the C
 * library (fclose() of an fdopen()ed emulated fd).  Such a slot stays
 * until its number is next closed, duplicated onto, or returned by one of
 * the opens above; meanwhile a file that reuses the number some other way
 * (socket(), pipe(), a raw open) would be taken for ours by ioctl(),
 * read(), write() and mmap().  UIOMMUFD_STRICT_FDS=1 restores a check per
 * call for such programs: the backing inode is recorded at creation, and
 * shim_fdtab_get_valid() then compares it with an fstat() of the fd and
 * drops a stale slot.
 *
 * Locking: one mutex (fdtab.c) guards the slots and every file's refs and
 * detached flag.  It is a leaf lock: nothing is called with it held but
 * malloc, and in particular never the engine, because the engine may call
 * back into the shim (make_fd) while holding its own lock.  Releasing a
 * file therefore always happens after the mutex is dropped.
 */
#ifndef UFD_SHIM_FDTAB_H
#define UFD_SHIM_FDTAB_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "shim/sigdefer.h"
#include "uapi/dispatch.h"

/*
 * Signal safety: every shim lock, and in in-process mode every engine
 * call, is taken inside shim_sig_enter()/shim_sig_leave() (sigdefer.h),
 * so that a program's signal handler that calls close(), dup() or ioctl()
 * never runs while its thread holds one.
 */

struct shim_file {
	/*
	 * What the file stands for; its ctx reference is dropped on release.
	 * ctx is NULL in server mode: the state is the daemon's, and the
	 * file needs nothing on release.
	 */
	struct ufd_file file;
	bool detached;       /* object already gone: release drops only ctx */
	unsigned int refs;   /* slots + calls in flight; fdtab lock */
	dev_t dev;           /* identity of the backing fd (strict checks) */
	ino_t ino;
	int bell_fd;         /* in-process fault queue: our end of its pair */
};

/*
 * A new file with one reference (the caller's), for @backing_fd.  It takes
 * over the caller's reference on @ctx.  NULL (errno set) on failure, and
 * then the caller still owns its @ctx reference.
 */
struct shim_file *shim_file_new(enum ufd_fd_kind kind, struct ufd_ctx *ctx,
				uint32_t obj_id, int backing_fd);
/*
 * Drop one reference; the last one releases the file: UFD_FD_ACCESS
 * destroys its access object, UFD_FD_FAULT lets its queue go (and closes
 * bell_fd), then every kind drops its context reference.
 * Must be called with no shim lock held.
 */
void shim_file_put(struct shim_file *f);
/* The object is being destroyed by someone else: release only the ctx. */
void shim_file_detach(struct shim_file *f);

/* True when no fd is ours: every wrapper's fast pass-through test. */
bool shim_fdtab_empty(void);
/*
 * True when no file with read or write (a fault queue, a VFIO device)
 * exists: the fast test of read(), write(), pread(), pwrite().
 */
bool shim_fdtab_no_fault(void);

/*
 * A count of the times an fd of ours stopped referring to its file (a
 * close, a dup2 over it, a slot found stale): equal values mean that
 * every fd that was ours then still is the same file (server mode's
 * proofs, proto.h).
 */
uint64_t shim_fdtab_generation(void);

/* Make @fd refer to @f (a new reference).  -ENOMEM if the table can't grow. */
int shim_fdtab_install(int fd, struct shim_file *f);
/* The file @fd refers to, with a new reference; NULL if none. */
struct shim_file *shim_fdtab_get(int fd);
/*
 * The lookup of a call on @fd (ioctl, read, write, mmap): shim_fdtab_get,
 * and with UIOMMUFD_STRICT_FDS=1 also a check that @fd still is the
 * file's backing fd (an fstat); a stale slot is then dropped and NULL
 * returned.  Preserves errno.
 */
struct shim_file *shim_fdtab_get_valid(int fd);
/*
 * Remove @fd from the table; the slot's reference passes to the caller, who
 * puts it once the real fd is closed.  NULL if @fd is not ours.
 */
struct shim_file *shim_fdtab_take(int fd);
/*
 * The process now has fd @newfd, a copy of @oldfd (dup family), or a new
 * unrelated file when @oldfd is -1 (open of anything else).  Any stale slot
 * of @newfd is dropped first (dup2 onto one of ours closes it).  *@now (if
 * not NULL) gets the file @newfd refers to now, without a reference (for
 * tracing), or NULL.  -ENOMEM if the copy could not be recorded.
 * Preserves errno.
 */
int shim_fdtab_fd_created(int newfd, int oldfd, struct shim_file **now);
/* One slot taken out of the table by shim_fdtab_take_range(). */
struct shim_taken {
	int fd;
	struct shim_file *f; /* the slot's reference */
};
/*
 * Remove every slot in [first, last] and hand them back in *@out (malloc'ed,
 * NULL when there are none).  Returns how many, or -ENOMEM.
 */
long shim_fdtab_take_range(unsigned int first, unsigned int last,
			   struct shim_taken **out);
/* Put back what shim_fdtab_take_range() took (the real close failed). */
void shim_fdtab_untake(struct shim_taken *taken, long n);
/* Put the references of what shim_fdtab_take_range() took, and free it. */
void shim_fdtab_put_taken(struct shim_taken *taken, long n);

/*
 * Look up @fd for an ioctl argument naming another fd: the object it stands
 * for, if it is a live fd of ours of @kind on @ctx.  -EBADF: not ours, wrong
 * kind or detached; -ENOENT: ours, but of another context.  With @hold, the
 * file is also returned there with a reference, which keeps the object
 * alive for the rest of the call (as the kernel's fget does) even if the
 * fd is closed meanwhile.
 */
int shim_fdtab_resolve(int fd, const struct ufd_ctx *ctx,
		       enum ufd_fd_kind kind, uint32_t *obj_id,
		       struct shim_file **hold);

/*
 * fork(): the prepare handler takes the table lock so that the child gets a
 * consistent copy; the child handler recounts every file's references from
 * its slots (calls in flight in other threads of the parent do not exist in
 * the child).
 */
void shim_fdtab_atfork_prepare(void);
void shim_fdtab_atfork_parent(void);
void shim_fdtab_atfork_child(void);

#endif
