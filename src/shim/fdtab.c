// SPDX-License-Identifier: MIT
/*
 * The preload library's fd table (see fdtab.h for the model).
 *
 * The table is an array indexed by fd number, like the kernel's fdtable,
 * grown on demand up to the highest fd of ours; each slot points at the
 * struct shim_file the fd refers to.  Lookups are O(1).  `nused` counts the
 * occupied slots and is also read without the lock, so that every wrapper
 * can pass a call straight through to libc when the process has no fd of
 * ours at all (the common case for all the other fds of a program).
 *
 * The table is trusted: a lookup makes no system call.  It is exact for
 * every change of the fd numbers that goes through the library's
 * wrappers (fdtab.h lists them); with UIOMMUFD_STRICT_FDS=1 in the
 * environment, shim_fdtab_get_valid() also checks each time, with an
 * fstat(), that the fd still is the file we made (what every call did
 * before), for programs that close fds behind the library's back.
 *
 * Locking: fdtab_lock guards slots, nslots, nused and every file's refs and
 * detached flag.  It is a leaf lock, held only around table updates and
 * malloc, always inside a signal section (sigdefer.h); files are released
 * (engine calls) after it is dropped.
 * Nothing here calls a libc function that the preload library wraps (a
 * fault file's bell_fd is closed with the raw syscall).
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "shim/fdtab.h"

static pthread_mutex_t fdtab_lock = PTHREAD_MUTEX_INITIALIZER;
static struct shim_file **slots; /* fdtab_lock */
static unsigned int nslots;      /* fdtab_lock */
static unsigned int nused;       /* fdtab_lock; read racily by _empty() */
static unsigned int nfault;      /* live files with read/write; atomic */
static uint64_t fdtab_gen;       /* slots emptied or replaced; atomic */
static bool fdtab_strict;        /* UIOMMUFD_STRICT_FDS=1; set at load */

__attribute__((constructor))
static void shim_fdtab_init(void)
{
	const char *v = getenv("UIOMMUFD_STRICT_FDS");

	fdtab_strict = v && v[0] == '1' && !v[1];
}

/* ---- files --------------------------------------------------------------- */

struct shim_file *shim_file_new(enum ufd_fd_kind kind, struct ufd_ctx *ctx,
				uint32_t obj_id, int backing_fd)
{
	struct shim_file *f;
	struct stat st;

	if (fstat(backing_fd, &st) < 0)
		return NULL;
	f = calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	f->file.kind = kind;
	f->file.ctx = ctx;
	f->file.obj_id = obj_id;
	f->refs = 1;
	f->dev = st.st_dev;
	f->ino = st.st_ino;
	f->bell_fd = -1;
	if (ufd_file_ops(kind)->read || ufd_file_ops(kind)->write)
		__atomic_add_fetch(&nfault, 1, __ATOMIC_RELAXED);
	return f;
}

/*
 * What closing the last fd of a file does.  No lock held; errno is the
 * caller's business (shim_file_put saves it).
 */
static void shim_file_release(struct shim_file *f)
{
	if (ufd_file_ops(f->file.kind)->read || ufd_file_ops(f->file.kind)->write)
		__atomic_sub_fetch(&nfault, 1, __ATOMIC_RELAXED);
	if (f->file.ctx) {
		shim_sig_enter(); /* the engine's lock */
		ufd_file_release(&f->file, !f->detached);
		shim_sig_leave();
	}
	if (f->bell_fd >= 0)
		syscall(SYS_close, f->bell_fd);
	free(f);
}

/* Drop @n references under the lock; true if the caller must release. */
static bool shim_file_unref_locked(struct shim_file *f, unsigned int n)
{
	f->refs -= n;
	return f->refs == 0;
}

void shim_file_put(struct shim_file *f)
{
	bool last;
	int saved;

	shim_sig_enter();
	pthread_mutex_lock(&fdtab_lock);
	last = shim_file_unref_locked(f, 1);
	pthread_mutex_unlock(&fdtab_lock);
	shim_sig_leave();
	if (last) {
		saved = errno;
		shim_file_release(f);
		errno = saved;
	}
}

void shim_file_detach(struct shim_file *f)
{
	shim_sig_enter();
	pthread_mutex_lock(&fdtab_lock);
	f->detached = true;
	pthread_mutex_unlock(&fdtab_lock);
	shim_sig_leave();
}

/* ---- the table ----------------------------------------------------------- */

bool shim_fdtab_empty(void)
{
	return __atomic_load_n(&nused, __ATOMIC_ACQUIRE) == 0;
}

bool shim_fdtab_no_fault(void)
{
	return __atomic_load_n(&nfault, __ATOMIC_RELAXED) == 0;
}

static void shim_fdtab_set_used(unsigned int n)
{
	__atomic_store_n(&nused, n, __ATOMIC_RELEASE);
}

/* Make slot @fd exist.  Called with fdtab_lock held. */
static int shim_fdtab_grow_locked(int fd)
{
	struct shim_file **n;
	size_t want;

	if ((unsigned int)fd < nslots)
		return 0;
	want = nslots ? (size_t)nslots * 2 : 64;
	while (want <= (size_t)fd)
		want *= 2;
	n = realloc(slots, want * sizeof(*n));
	if (!n)
		return -ENOMEM;
	memset(n + nslots, 0, (want - nslots) * sizeof(*n));
	slots = n;
	nslots = (unsigned int)want;
	return 0;
}

static struct shim_file *shim_fdtab_slot_locked(int fd)
{
	if (fd < 0 || (unsigned int)fd >= nslots)
		return NULL;
	return slots[fd];
}

/*
 * Point slot @fd at @f (which may be NULL), taking a reference on @f.
 * Returns the file the slot pointed at before, whose slot reference the
 * caller must now drop.  Slot @fd must exist if @f is not NULL.
 */
static struct shim_file *shim_fdtab_set_locked(int fd, struct shim_file *f)
{
	struct shim_file *old = shim_fdtab_slot_locked(fd);

	if (old == f)
		return NULL;
	/* An fd that was ours is not (that file) any more. */
	if (old)
		__atomic_add_fetch(&fdtab_gen, 1, __ATOMIC_RELEASE);
	if (f) {
		slots[fd] = f;
		f->refs++;
		if (!old)
			shim_fdtab_set_used(nused + 1);
	} else if (old) {
		slots[fd] = NULL;
		shim_fdtab_set_used(nused - 1);
	}
	return old;
}

/* Drop a slot reference returned by shim_fdtab_set_locked(). */
static void shim_fdtab_drop_old(struct shim_file *old)
{
	if (old)
		shim_file_put(old);
}

int shim_fdtab_install(int fd, struct shim_file *f)
{
	struct shim_file *old;

	if (fd < 0)
		return -EBADF;
	shim_sig_enter();
	pthread_mutex_lock(&fdtab_lock);
	if (shim_fdtab_grow_locked(fd) < 0) {
		pthread_mutex_unlock(&fdtab_lock);
		shim_sig_leave();
		return -ENOMEM;
	}
	old = shim_fdtab_set_locked(fd, f);
	pthread_mutex_unlock(&fdtab_lock);
	shim_sig_leave();
	shim_fdtab_drop_old(old);
	return 0;
}

uint64_t shim_fdtab_generation(void)
{
	return __atomic_load_n(&fdtab_gen, __ATOMIC_ACQUIRE);
}

struct shim_file *shim_fdtab_get(int fd)
{
	struct shim_file *f;

	shim_sig_enter();
	pthread_mutex_lock(&fdtab_lock);
	f = shim_fdtab_slot_locked(fd);
	if (f)
		f->refs++;
	pthread_mutex_unlock(&fdtab_lock);
	shim_sig_leave();
	return f;
}

struct shim_file *shim_fdtab_get_valid(int fd)
{
	struct shim_file *f = shim_fdtab_get(fd);
	unsigned int drop = 1;
	struct stat st;
	bool last;
	int saved;

	if (!f || !fdtab_strict)
		return f;
	saved = errno;
	if (fstat(fd, &st) == 0 && st.st_dev == f->dev && st.st_ino == f->ino) {
		errno = saved;
		return f;
	}
	/* Closed behind our back and the number reused: forget the slot. */
	shim_sig_enter();
	pthread_mutex_lock(&fdtab_lock);
	if (shim_fdtab_slot_locked(fd) == f) {
		slots[fd] = NULL;
		__atomic_add_fetch(&fdtab_gen, 1, __ATOMIC_RELEASE);
		shim_fdtab_set_used(nused - 1);
		drop++;
	}
	last = shim_file_unref_locked(f, drop);
	pthread_mutex_unlock(&fdtab_lock);
	shim_sig_leave();
	if (last)
		shim_file_release(f);
	errno = saved;
	return NULL;
}

struct shim_file *shim_fdtab_take(int fd)
{
	struct shim_file *f;

	shim_sig_enter();
	pthread_mutex_lock(&fdtab_lock);
	f = shim_fdtab_set_locked(fd, NULL);
	pthread_mutex_unlock(&fdtab_lock);
	shim_sig_leave();
	return f;
}

int shim_fdtab_fd_created(int newfd, int oldfd, struct shim_file **now)
{
	struct shim_file *src, *old;
	int ret = 0;

	if (now)
		*now = NULL;
	if (newfd < 0 || newfd == oldfd)
		return 0;
	shim_sig_enter();
	pthread_mutex_lock(&fdtab_lock);
	src = shim_fdtab_slot_locked(oldfd);
	if (src && shim_fdtab_grow_locked(newfd) < 0) {
		src = NULL;
		ret = -ENOMEM;
	}
	old = shim_fdtab_set_locked(newfd, src);
	pthread_mutex_unlock(&fdtab_lock);
	shim_sig_leave();
	shim_fdtab_drop_old(old);
	if (now)
		*now = src;
	return ret;
}

long shim_fdtab_take_range(unsigned int first, unsigned int last,
			   struct shim_taken **out)
{
	struct shim_taken *taken;
	unsigned int fd, end;
	long n = 0;

	*out = NULL;
	shim_sig_enter();
	pthread_mutex_lock(&fdtab_lock);
	end = last < nslots ? last + 1 : nslots;
	for (fd = first; fd < end; fd++)
		n += slots[fd] != NULL;
	if (!n) {
		pthread_mutex_unlock(&fdtab_lock);
		shim_sig_leave();
		return 0;
	}
	taken = malloc((size_t)n * sizeof(*taken));
	if (!taken) {
		pthread_mutex_unlock(&fdtab_lock);
		shim_sig_leave();
		return -ENOMEM;
	}
	n = 0;
	for (fd = first; fd < end; fd++) {
		if (!slots[fd])
			continue;
		taken[n].fd = (int)fd;
		taken[n].f = shim_fdtab_set_locked((int)fd, NULL);
		n++;
	}
	pthread_mutex_unlock(&fdtab_lock);
	shim_sig_leave();
	*out = taken;
	return n;
}

void shim_fdtab_untake(struct shim_taken *taken, long n)
{
	long i;

	shim_sig_enter();
	pthread_mutex_lock(&fdtab_lock);
	for (i = 0; i < n; i++) {
		/* The slot exists: it was taken from the table. */
		if (!slots[taken[i].fd]) {
			slots[taken[i].fd] = taken[i].f;
			shim_fdtab_set_used(nused + 1);
			taken[i].f = NULL; /* the reference went back */
		}
	}
	pthread_mutex_unlock(&fdtab_lock);
	shim_sig_leave();
	shim_fdtab_put_taken(taken, n);
}

void shim_fdtab_put_taken(struct shim_taken *taken, long n)
{
	long i;

	for (i = 0; i < n; i++)
		shim_fdtab_drop_old(taken[i].f);
	free(taken);
}

int shim_fdtab_resolve(int fd, const struct ufd_ctx *ctx,
		       enum ufd_fd_kind kind, uint32_t *obj_id,
		       struct shim_file **hold)
{
	struct shim_file *f;
	int ret = 0;

	shim_sig_enter();
	pthread_mutex_lock(&fdtab_lock);
	f = shim_fdtab_slot_locked(fd);
	if (!f || f->file.kind != kind || f->detached) {
		ret = -EBADF;
	} else if (f->file.ctx != ctx) {
		ret = -ENOENT;
	} else {
		*obj_id = f->file.obj_id;
		if (hold) {
			f->refs++;
			*hold = f;
		}
	}
	pthread_mutex_unlock(&fdtab_lock);
	shim_sig_leave();
	return ret;
}

/* ---- fork ---------------------------------------------------------------- */

void shim_fdtab_atfork_prepare(void)
{
	shim_sig_enter();
	pthread_mutex_lock(&fdtab_lock);
}

void shim_fdtab_atfork_parent(void)
{
	pthread_mutex_unlock(&fdtab_lock);
	shim_sig_leave();
}

void shim_fdtab_atfork_child(void)
{
	unsigned int fd;

	/*
	 * Only this thread exists now, so a reference held by a call in
	 * flight in another thread of the parent would never be dropped:
	 * recount from the slots.  A file that only such a call still held
	 * (its fds all closed) is lost to the child, which is harmless.
	 */
	for (fd = 0; fd < nslots; fd++)
		if (slots[fd])
			slots[fd]->refs = 0;
	for (fd = 0; fd < nslots; fd++)
		if (slots[fd])
			slots[fd]->refs++;
	pthread_mutex_unlock(&fdtab_lock);
	shim_sig_leave();
}
