// SPDX-License-Identifier: MIT
/*
 * libuiommufd-preload.so: an emulated /dev/iommu (and /dev/vfio/vfio
 * container) for unmodified programs, loaded with LD_PRELOAD by
 * uiommufd-run.
 *
 * The library wraps the open family, the dup family, fcntl, close,
 * close_range, closefrom, ioctl, read and write (for fault queue fds, and
 * the emulated fault-injection files of failnth.c: the thread's fail-nth
 * and the debugfs knobs), and in server mode mmap, munmap and mremap (for
 * shared anonymous memory; in both modes mmap of a /dev/iommu fd, a
 * vIOMMU's page, is trapped: barmap.c), sigaction and the signal() family
 * (the program's handlers of asynchronous signals run through the
 * deferral trampoline of sigdefer.c, its SIGSEGV and SIGBUS handlers
 * behind the MMIO trap's), and touches nothing else.  Two modes
 * (UIOMMUFD_MODE, set by the launcher):
 *
 *  - in-process (the default without the launcher): an open of /dev/iommu
 *    or /dev/vfio/vfio returns a real fd (a sealed memfd, see
 *    shim_backing_fd()) and opens an engine context for it; the fd table
 *    (fdtab.c) remembers which fd numbers stand for which "open file", so
 *    that dup, fork and close behave as they do on a kernel file.  An ioctl
 *    on such an fd goes to the uapi dispatch layer, which runs it against
 *    the engine linked into this library (the emulated state belongs to
 *    this process, and a fork child works on a copy of it).
 *  - server: the state lives in the launcher's daemon; every emulated fd is
 *    a socket whose other end the daemon holds, and the calls on it are
 *    requests to the daemon (client.c).  Such an fd is a kernel file in
 *    every respect the program can see: dup, fork, exec and SCM_RIGHTS
 *    share it, and its last close releases it.  An fd of the daemon that
 *    the table does not know (received with SCM_RIGHTS, inherited across
 *    exec) is recognised at its first iommufd ioctl.  MAP_SHARED|
 *    MAP_ANONYMOUS mappings are made memfd-backed (shm.c) so that the
 *    daemon can pin the same pages.
 *
 * Every other call passes straight through to libc with errno untouched;
 * when the process has no fd of ours, that is a single atomic load (mmap:
 * a test of the flags).
 *
 * Initialisation is lazy (a program's constructor may call open() before
 * ours would run): libc functions are looked up on first use, and the
 * engine, the memory source and the caller's credentials on the first
 * open of an emulated device.
 *
 * Locking: state_lock guards `shim` (engine, memory source, credentials);
 * the fd table has its own lock (fdtab.c).  Both are leaf locks with
 * respect to the engine: no shim lock is ever held across a call into the
 * engine, while the engine lock may be held around the fdtab lock (the
 * dispatch layer calls make_fd/resolve_fd from inside a command).  Order:
 * engine lock, state_lock, fdtab lock.  The shared-memory table (shm.c)
 * has its own leaf lock; server mode's channels are lock-free (client.c).
 * The fork() handlers take state_lock, the fdtab lock and the shm lock so
 * that the child's copies are consistent; the child also drops every
 * channel of the parent and draws a new nonce.  In-process fault queues
 * ring their doorbell from the engine's notification, under the engine
 * lock, with a non-blocking send.  Every one of these locks, and every
 * engine call, is taken inside a signal section (sigdefer.h): a handler
 * of the program's that arrives meanwhile runs when the thread leaves it,
 * so that a close() or an ioctl() in a handler never finds a lock of its
 * own thread held.  A section is a thread-local counter: the hot path of
 * an emulated ioctl makes no system call of its own (the table lookup is
 * trusted, fdtab.h).
 *
 * Interval convention: [start, last] with last inclusive in the engine;
 * the shared-memory table of this library keeps [start, end) ranges.
 *
 * The internals are static and the library is built with hidden
 * visibility; only the wrappers at the end of this file are exported
 * (preload.map).  The shim never calls a wrapped function by name: it
 * uses REAL(fn).  (Engine code linked into the library that opens or
 * closes a file of its own, /proc/self/pagemap, does reach the wrappers,
 * which pass it through.)
 */

/* The wrappers must keep the plain names and prototypes. */
#undef _FORTIFY_SOURCE
#undef _FILE_OFFSET_BITS
#undef _TIME_BITS

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/iommufd.h>

#include "shim/barmap.h"
#include "shim/client.h"
#include "shim/failnth.h"
#include "shim/fdtab.h"
#include "shim/procstatus.h"
#include "shim/shm.h"
#include "shim/ucopy.h"
#include "server/proto.h"
#include "uapi/dispatch.h"
#include "uapi/vfio.h"
#include "uiommufd.h"
#include "linux_compat.h"

#define SHIM_EXPORT __attribute__((visibility("default")))
#define SHIM_UNUSED __attribute__((unused))

/*
 * The wrappers.  Declared here so that each has a prototype even where
 * libc's headers do not declare it (the fortify entry points, the time64
 * variants, close_range on older glibc); they match libc's declarations.
 */
SHIM_EXPORT int open(const char *path, int flags, ...);
SHIM_EXPORT int open64(const char *path, int flags, ...);
SHIM_EXPORT int openat(int dirfd, const char *path, int flags, ...);
SHIM_EXPORT int openat64(int dirfd, const char *path, int flags, ...);
SHIM_EXPORT int __open_2(const char *path, int flags);
SHIM_EXPORT int __open64_2(const char *path, int flags);
SHIM_EXPORT int __openat_2(int dirfd, const char *path, int flags);
SHIM_EXPORT int __openat64_2(int dirfd, const char *path, int flags);
SHIM_EXPORT int close(int fd);
SHIM_EXPORT int close_range(unsigned int first, unsigned int last, int flags);
SHIM_EXPORT void closefrom(int lowfd);
SHIM_EXPORT int dup(int oldfd);
SHIM_EXPORT int dup2(int oldfd, int newfd);
SHIM_EXPORT int dup3(int oldfd, int newfd, int flags);
SHIM_EXPORT int fcntl(int fd, int cmd, ...);
SHIM_EXPORT int fcntl64(int fd, int cmd, ...);
SHIM_EXPORT int __fcntl_time64(int fd, int cmd, ...);
SHIM_EXPORT int ioctl(int fd, unsigned long request, ...);
SHIM_EXPORT int __ioctl_time64(int fd, unsigned long request, ...);
SHIM_EXPORT ssize_t read(int fd, void *buf, size_t count);
SHIM_EXPORT ssize_t write(int fd, const void *buf, size_t count);
SHIM_EXPORT ssize_t recvmsg(int fd, struct msghdr *msg, int flags);
SHIM_EXPORT ssize_t pread(int fd, void *buf, size_t count, off_t off);
SHIM_EXPORT ssize_t pread64(int fd, void *buf, size_t count, off_t off);
SHIM_EXPORT ssize_t pwrite(int fd, const void *buf, size_t count, off_t off);
SHIM_EXPORT ssize_t pwrite64(int fd, const void *buf, size_t count,
			     off_t off);
SHIM_EXPORT int sigaction(int sig, const struct sigaction *act,
			  struct sigaction *old);
SHIM_EXPORT __sighandler_t signal(int sig, __sighandler_t handler);
SHIM_EXPORT __sighandler_t bsd_signal(int sig, __sighandler_t handler);
SHIM_EXPORT __sighandler_t sysv_signal(int sig, __sighandler_t handler);
SHIM_EXPORT __sighandler_t __sysv_signal(int sig, __sighandler_t handler);
SHIM_EXPORT __sighandler_t ssignal(int sig, __sighandler_t handler);
SHIM_EXPORT __sighandler_t sigset(int sig, __sighandler_t disp);
SHIM_EXPORT int siginterrupt(int sig, int flag);
SHIM_EXPORT void *mmap(void *addr, size_t len, int prot, int flags, int fd,
		       off_t off);
SHIM_EXPORT void *mmap64(void *addr, size_t len, int prot, int flags, int fd,
			 off_t off);
SHIM_EXPORT int munmap(void *addr, size_t len);
SHIM_EXPORT FILE *fopen(const char *path, const char *mode);
SHIM_EXPORT FILE *fopen64(const char *path, const char *mode);
SHIM_EXPORT void *mremap(void *old, size_t oldlen, size_t newlen, int flags,
			 ...);

/* ---- the real libc functions --------------------------------------------- */

enum shim_real_id {
	R_open, R_open64, R_openat, R_openat64,
	R___open_2, R___open64_2, R___openat_2, R___openat64_2,
	R_close, R_close_range, R_closefrom,
	R_dup, R_dup2, R_dup3,
	R_fcntl, R_fcntl64, R___fcntl_time64,
	R_ioctl, R___ioctl_time64,
	R_read, R_write, R_pread, R_pread64, R_pwrite, R_pwrite64,
	R_sigaction,
	R_mmap, R_mmap64, R_munmap, R_mremap,
	R_fopen, R_fopen64,
	R_NR,
};

static void *real_slot[R_NR];

/*
 * Look up libc's @name once.  NULL if this libc does not have it (the
 * time64 and fortify variants, close_range before glibc 2.34): callers of
 * those fall back; the basic ones always exist.
 */
static void *shim_real(enum shim_real_id id, const char *name)
{
	void *p = __atomic_load_n(&real_slot[id], __ATOMIC_ACQUIRE);

	if (!p) {
		p = dlsym(RTLD_NEXT, name);
		if (p)
			__atomic_store_n(&real_slot[id], p, __ATOMIC_RELEASE);
	}
	return p;
}

/* libc's implementation of wrapper @fn, with @fn's type. */
#define REAL(fn) ((__typeof__(&fn))shim_real(R_##fn, #fn))

/* write(2) without our wrapper: the library never calls one of its own. */
static ssize_t shim_sys_write(int fd, const void *buf, size_t len)
{
	return (ssize_t)syscall(SYS_write, fd, buf, len);
}

/* For the functions every libc has: not finding one is fatal. */
static void *shim_real_required(enum shim_real_id id, const char *name)
{
	static const char msg[] = "uiommufd: libc function missing: ";
	void *p = shim_real(id, name);

	if (!p) {
		if (shim_sys_write(STDERR_FILENO, msg, sizeof(msg) - 1) < 0 ||
		    shim_sys_write(STDERR_FILENO, name, strlen(name)) < 0 ||
		    shim_sys_write(STDERR_FILENO, "\n", 1) < 0) {
			/* nothing more to say */
		}
		abort();
	}
	return p;
}

#define REAL_REQ(fn) ((__typeof__(&fn))shim_real_required(R_##fn, #fn))

/*
 * Hide from the compiler that libc declares a pointer argument nonnull:
 * the wrappers must survive NULL (libc then fails with EFAULT).
 */
static const void *shim_launder(const void *p)
{
	__asm__("" : "+r"(p));
	return p;
}

/* ---- debug --------------------------------------------------------------- */

enum {
	SHIM_DBG_IOCTL = 1 << 0, /* ioctls on our fds */
	SHIM_DBG_FD = 1 << 1,    /* open/dup/close/make_fd of our fds */
	SHIM_DBG_ALL = SHIM_DBG_IOCTL | SHIM_DBG_FD,
};

static unsigned int shim_dbg_mask; /* set once, under shim_once */

/* UIOMMUFD_DEBUG: "1", "all", or a comma list of "ioctl", "fd". */
static unsigned int shim_dbg_parse(const char *s)
{
	unsigned int mask = 0;
	size_t n;

	if (!s)
		return 0;
	while (*s) {
		n = strcspn(s, ",");
		if ((n == 1 && s[0] == '1') || (n == 3 && !strncmp(s, "all", 3)))
			mask |= SHIM_DBG_ALL;
		else if (n == 5 && !strncmp(s, "ioctl", 5))
			mask |= SHIM_DBG_IOCTL;
		else if (n == 2 && !strncmp(s, "fd", 2))
			mask |= SHIM_DBG_FD;
		s += n;
		if (*s)
			s++;
	}
	return mask;
}

__attribute__((format(printf, 1, 2)))
static void shim_dbg_print(const char *fmt, ...)
{
	char buf[512];
	int saved = errno;
	va_list ap;
	int n, m;

	n = snprintf(buf, sizeof(buf), "uiommufd[%d]: ", (int)getpid());
	va_start(ap, fmt);
	m = vsnprintf(buf + n, sizeof(buf) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (m > 0)
		n += m < (int)(sizeof(buf) - (size_t)n - 1) ?
			m : (int)(sizeof(buf) - (size_t)n - 2);
	buf[n++] = '\n';
	if (shim_sys_write(STDERR_FILENO, buf, (size_t)n) < 0) {
		/* stderr is gone: nothing to do */
	}
	errno = saved;
}

#define DBG(cat, ...)                                                      \
	do {                                                               \
		if (shim_dbg_mask & SHIM_DBG_##cat)                        \
			shim_dbg_print(__VA_ARGS__);                        \
	} while (0)

static const char *shim_kind_name(enum ufd_fd_kind kind)
{
	return ufd_file_ops(kind)->name;
}

/* "-1 EINVAL" style result for the trace. */
static const char *shim_errname(int err)
{
	const char *s = strerrorname_np(err);

	return s ? s : "E?";
}

/* ---- process state ------------------------------------------------------- */

static pthread_once_t shim_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t state_lock = PTHREAD_MUTEX_INITIALIZER;

static struct {
	struct ufd_engine *eng;  /* set once, then constant */
	struct ufd_source *mem;  /* this process's memory; one reference */
	/* UIOMMUFD_KERNEL's personality (in-process mode); set with eng */
	const struct ufd_personality *kernel;
	bool no_extensions;      /* UIOMMUFD_NO_EXTENSIONS; set with eng */
	bool ready;              /* eng, mem and cred are set */
	bool forked;             /* fork child: mem and cred are stale */
} shim; /* state_lock */

static void shim_atfork_prepare(void)
{
	shim_sig_enter();
	pthread_mutex_lock(&state_lock);
	shim_fdtab_atfork_prepare();
	shim_shm_atfork_prepare();
	shim_nth_atfork_prepare();
}

static void shim_atfork_parent(void)
{
	shim_nth_atfork_parent();
	shim_shm_atfork_parent();
	shim_fdtab_atfork_parent();
	pthread_mutex_unlock(&state_lock);
	shim_sig_leave();
}

static void shim_atfork_child(void)
{
	shim_nth_atfork_child();
	shim_shm_atfork_child();
	shim_fdtab_atfork_child();
	shim_srv_atfork_child();
	/* New pid: refresh lazily, on the next call, not in the handler. */
	if (shim.ready)
		shim.forked = true;
	pthread_mutex_unlock(&state_lock);
	shim_sig_leave();
}

static void shim_init_once(void)
{
	shim_dbg_mask = shim_dbg_parse(getenv("UIOMMUFD_DEBUG"));
	/*
	 * Registered before the engine is created, so that handlers the
	 * engine registers later run before ours in the parent (its lock is
	 * taken first, as the lock order wants).
	 */
	pthread_atfork(shim_atfork_prepare, shim_atfork_parent,
		       shim_atfork_child);
	/*
	 * Server mode: the ring's argument window is copied with the
	 * fault-guarded copy (ucopy.c), which needs the fault handler.
	 * Without it the calls still work, with no window.
	 */
	if (shim_srv_enabled() && !mmio_trap_installed())
		mmio_trap_install(REAL_REQ(sigaction));
}

/*
 * The caller's credentials as the emulated kernel sees them: the process's
 * own, plus the capabilities UIOMMUFD_CAPS grants ("sys_resource",
 * "ipc_lock", comma separated; "all").  A container's root may lack
 * CAP_SYS_RESOURCE; granting it models the fully privileged root that
 * some programs (and the upstream selftest) expect.  The grant is the
 * user's explicit choice (uiommufd-run --cap), never a default.
 */
static void shim_cred_self(struct ufd_cred *cred)
{
	const char *caps = getenv("UIOMMUFD_CAPS");

	ufd_cred_self(cred);
	if (!caps)
		return;
	if (strstr(caps, "all") || strstr(caps, "sys_resource"))
		cred->cap_sys_resource = true;
	if (strstr(caps, "all") || strstr(caps, "ipc_lock"))
		cred->cap_ipc_lock = true;
}


/*
 * The launcher's --pasid-capacity, in-process: the engine's system-wide
 * PASID capacity (the daemon sets its own).  Once per process image; with
 * no lock held (the engine's lock comes first, fdtab.h).
 */
static void shim_apply_pasid_capacity(struct ufd_engine *eng)
{
	static bool applied;
	const char *text = getenv(UFD_ENV_PASID_CAPACITY);
	int saved = errno;
	unsigned long n;
	char *end;

	if (!text || __atomic_exchange_n(&applied, true, __ATOMIC_ACQ_REL))
		return;
	errno = 0;
	n = strtoul(text, &end, 10);
	if (!errno && end != text && !*end && n <= UFD_PASID_MAX)
		ufd_engine_set_pasid_capacity(eng, (uint32_t)n);
	errno = saved;
}

/*
 * Make sure the engine and the memory source are there
 * (and are this process's after a fork).  0 or -errno.  The engine is
 * called outside state_lock, which stays a leaf lock.
 */
static int shim_state_ready(void)
{
	struct ufd_source *old, *mem;
	struct ufd_engine *eng;
	bool ready;

	pthread_once(&shim_once, shim_init_once);
	shim_sig_enter();
	pthread_mutex_lock(&state_lock);
	ready = shim.ready && !shim.forked;
	pthread_mutex_unlock(&state_lock);
	shim_sig_leave();
	if (ready)
		return 0;

	eng = ufd_engine_default();
	/*
	 * The caller's memory: plain copies with a fault fixup, which the
	 * fault handler makes safe (the MMIO trap's: installed now, chaining
	 * every other fault to the program's disposition).  If it cannot be
	 * installed, the copies stay system calls.
	 */
	if (!mmio_trap_installed()) {
		int trc = mmio_trap_install(REAL_REQ(sigaction));

		if (trc && trc != -EALREADY)
			DBG(FD, "no fault handler (%d): copies by system call",
			    trc);
	}
	mem = shim_ucopy_source();
	if (!eng || !mem) {
		if (mem)
			ufd_source_put(mem);
		return -ENOMEM;
	}

	shim_sig_enter();
	pthread_mutex_lock(&state_lock);
	if (shim.ready && !shim.forked) {
		old = mem; /* another thread got there first */
	} else {
		old = shim.mem;
		shim.eng = eng;
		shim.mem = mem;
		shim.kernel = ufd_personality_find(getenv(UFD_ENV_KERNEL));
		if (!shim.kernel) /* the launcher checks it; set by hand */
			shim.kernel = ufd_personality_newest();
		shim.no_extensions = getenv(UFD_ENV_NO_EXT) &&
				     !strcmp(getenv(UFD_ENV_NO_EXT), "1");
		shim.ready = true;
		shim.forked = false;
	}
	pthread_mutex_unlock(&state_lock);
	shim_sig_leave();
	if (old)
		ufd_source_put(old);
	shim_apply_pasid_capacity(eng);
	return 0;
}

/* ---- backing fds --------------------------------------------------------- */

/*
 * The real fd that stands for an emulated file.  A memfd, rather than an
 * eventfd, because:
 *  - each memfd has its own inode, so (st_dev, st_ino) identifies the open
 *    file; fdtab.c uses that, with UIOMMUFD_STRICT_FDS=1, to notice a
 *    slot whose fd was closed behind our back and reused.  All eventfds
 *    share one anonymous inode and cannot be told apart.
 *  - it is inert: sealed against writes and growth, read() returns 0 and
 *    poll() never blocks, whereas a read() of an eventfd whose counter is
 *    0 blocks forever.
 * Like any fd, it survives dup, fork and SCM_RIGHTS, and it is released by
 * the kernel when its last copy is closed or the process exits.
 * The name shows in /proc/PID/fd (as "/memfd:uiommufd-... (deleted)").
 * (Issue 4: a fault fd may want a socketpair instead, so that poll() shows
 * POLLIN when the queue has faults; only this function changes.)
 */
static int shim_backing_fd(enum ufd_fd_kind kind, bool cloexec)
{
	static unsigned int noexec_seal = MFD_NOEXEC_SEAL; /* 0 if refused */
	unsigned int flags = MFD_ALLOW_SEALING | (cloexec ? MFD_CLOEXEC : 0);
	unsigned int seal = __atomic_load_n(&noexec_seal, __ATOMIC_RELAXED);
	const char *name;
	int fd;

	switch (kind) {
	case UFD_FD_ACCESS:
		name = "uiommufd-access";
		break;
	case UFD_FD_FAULT:
		name = "uiommufd-fault";
		break;
	case UFD_FD_VEVENTQ:
		name = "uiommufd-veventq";
		break;
	default:
		name = "uiommufd";
		break;
	}
	/* MFD_NOEXEC_SEAL (Linux 6.3) keeps the kernel from warning. */
	fd = memfd_create(name, flags | seal);
	if (fd < 0 && errno == EINVAL && seal) {
		__atomic_store_n(&noexec_seal, 0, __ATOMIC_RELAXED);
		fd = memfd_create(name, flags);
	}
	if (fd < 0)
		return -1;
	REAL_REQ(fcntl)(fd, F_ADD_SEALS,
			F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW |
				F_SEAL_WRITE);
	return fd;
}

/* ---- paths --------------------------------------------------------------- */

/*
 * Lexically normalise absolute path @in into @out: no "//", ".", "..".
 * Symlinks are not followed.  False if it does not fit.
 */
static bool shim_path_normalize(const char *in, char *out, size_t size)
{
	size_t len = 0, n;
	const char *p = in;

	while (*p) {
		while (*p == '/')
			p++;
		n = strcspn(p, "/");
		if (!n)
			break;
		if (n == 1 && p[0] == '.') {
			/* nothing */
		} else if (n == 2 && p[0] == '.' && p[1] == '.') {
			while (len && out[len - 1] != '/')
				len--;
			if (len)
				len--; /* the '/' before the dropped name */
		} else {
			if (len + 1 + n + 1 > size)
				return false;
			out[len++] = '/';
			memcpy(out + len, p, n);
			len += n;
		}
		p += n;
	}
	if (!len)
		out[len++] = '/';
	out[len] = 0;
	return true;
}

/* An emulated node: the kind of file its open makes, and its number. */
struct shim_node {
	enum ufd_fd_kind kind;
	uint32_t index;
};

/* "123" (no sign, no leading zero but "0", fits 32 bits) as a number. */
static bool shim_parse_index(const char *s, uint32_t *out)
{
	uint64_t v = 0;

	if (!*s || (s[0] == '0' && s[1]))
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return false;
		v = v * 10 + (uint64_t)(*s - '0');
		if (v > UINT32_MAX)
			return false;
	}
	*out = (uint32_t)v;
	return true;
}

/*
 * (@dirfd, @path) as a lexically normalised absolute path in @norm
 * (relative ones against the cwd or @dirfd).  False if that fails.
 */
static bool shim_path_abs(int dirfd, const char *path, char *norm,
			  size_t size)
{
	char buf[PATH_MAX];
	ssize_t n;
	size_t len;

	if (path[0] != '/') {
		if (dirfd == AT_FDCWD) {
			if (!getcwd(buf, sizeof(buf)))
				return false;
			len = strlen(buf);
		} else {
			char link[64];

			snprintf(link, sizeof(link), "/proc/self/fd/%d", dirfd);
			n = readlink(link, buf, sizeof(buf) - 1);
			if (n <= 0 || buf[0] != '/')
				return false;
			len = (size_t)n;
		}
		if (len + 1 + strlen(path) + 1 > sizeof(buf))
			return false;
		buf[len] = '/';
		strcpy(buf + len + 1, path);
		path = buf;
	}
	return shim_path_normalize(path, norm, size);
}

/*
 * An open of one of the fault-injection files (failnth.c)?  Then *@handled
 * and its result.  Cheap for other paths (a look at the last name).
 */
static int shim_nth_path_open(int dirfd, const char *path, int flags,
			      bool *handled)
{
	char norm[PATH_MAX];
	const char *base;
	int saved = errno, ret;

	*handled = false;
	path = shim_launder(path);
	if ((uintptr_t)path < 4096)
		return -1; /* libc reports EFAULT */
	base = strrchr(path, '/');
	base = base ? base + 1 : path;
	if (!shim_nth_name(base) || !shim_path_abs(dirfd, path, norm,
						    sizeof(norm))) {
		errno = saved;
		return -1;
	}
	ret = shim_nth_open_abs(norm, flags, handled);
	if (!*handled || ret >= 0)
		errno = saved;
	return ret;
}

/*
 * Is @norm (absolute, normalised) ".../DDDD:BB:DD.F/sriov_numvfs" under
 * /sys/bus/pci/devices/ or /sys/devices/, for a function the launcher
 * emulates (one of $UIOMMUFD_DEVICES)?  *@index gets its routing index.
 */
static bool shim_sriov_node(const char *norm, uint32_t *index)
{
	const char *end = strrchr(norm, '/'), *start, *list;
	unsigned int dom, bus, dev, fn;
	char bdf[16], tail;
	size_t len;

	if (strncmp(norm, "/sys/bus/pci/devices/", 21) &&
	    strncmp(norm, "/sys/devices/pci", 16))
		return false;
	for (start = end; start > norm && start[-1] != '/'; start--)
		;
	len = (size_t)(end - start);
	if (len != 12)
		return false;
	memcpy(bdf, start, len);
	bdf[len] = 0;
	if (sscanf(bdf, "%4x:%2x:%2x.%1x%c", &dom, &bus, &dev, &fn, &tail) !=
		    4 ||
	    dev > 0x1f || fn > 7)
		return false;
	list = getenv("UIOMMUFD_DEVICES");
	for (; list && *list; list += strspn(list, " ")) {
		size_t n = strcspn(list, " ");

		if (n == len && !strncasecmp(list, bdf, len)) {
			*index = ufd_vfio_routing_index(dom, bus, dev << 3 | fn);
			return true;
		}
		list += n;
	}
	return false;
}

/*
 * Does (@dirfd, @path) name an emulated node: /dev/iommu, /dev/vfio/vfio,
 * and in server mode /dev/vfio/N (a group), /dev/vfio/devices/vfioM (a
 * device cdev) and an emulated PF's sriov_numvfs in sysfs?  Cheap for
 * every other path: only names ending in "iommu", "vfio", digits, "vfio"
 * and digits, or "sriov_numvfs" are looked at more closely (lexically,
 * relative ones against the cwd or @dirfd).  Preserves errno.
 */
static bool shim_path_node(int dirfd, const char *path,
			   struct shim_node *node)
{
	char norm[PATH_MAX];
	const char *base;
	int saved = errno;
	bool ret = false;
	uint32_t index;

	path = shim_launder(path);
	if ((uintptr_t)path < 4096)
		return false; /* libc reports EFAULT */
	base = strrchr(path, '/');
	base = base ? base + 1 : path;
	if (strcmp(base, "iommu") && strncmp(base, "vfio", 4) &&
	    !shim_parse_index(base, &index) && strcmp(base, "sriov_numvfs"))
		return false;
	if (!shim_path_abs(dirfd, path, norm, sizeof(norm)))
		goto out;
	node->index = 0;
	if (!strcmp(norm, "/dev/iommu")) {
		node->kind = UFD_FD_IOMMUFD;
		ret = true;
	} else if (!strcmp(norm, "/dev/vfio/vfio")) {
		/*
		 * The legacy VFIO container in server mode; in-process, the
		 * same calls on an iommufd context (no group exists there).
		 */
		node->kind = shim_srv_enabled() ? UFD_FD_VFIO_CONTAINER :
						  UFD_FD_IOMMUFD;
		ret = true;
	} else if (!strncmp(norm, "/dev/vfio/devices/vfio", 22) &&
		   shim_parse_index(norm + 22, &node->index)) {
		node->kind = UFD_FD_VFIO_DEVICE;
		ret = shim_srv_enabled();
	} else if (!strncmp(norm, "/dev/vfio/", 10) &&
		   shim_parse_index(norm + 10, &node->index)) {
		node->kind = UFD_FD_VFIO_GROUP;
		ret = shim_srv_enabled();
	} else if (!strcmp(base, "sriov_numvfs") && shim_srv_enabled() &&
		   shim_sriov_node(norm, &node->index)) {
		node->kind = UFD_FD_SRIOV_NUMVFS;
		ret = true;
	}
out:
	errno = saved;
	return ret;
}

/* ---- the caller, as the dispatch layer sees it --------------------------- */

/*
 * An in-process fault queue's notification (engine lock held): when it
 * has groups to read, a one-byte doorbell into our end of its socketpair
 * makes poll() on the program's end show POLLIN.  read() drains them.
 */
static void shim_fault_notify(void *arg, bool pending)
{
	static const char bell = 1;

	if (pending)
		send((int)(intptr_t)arg, &bell, sizeof(bell),
		     MSG_DONTWAIT | MSG_NOSIGNAL);
}

static int shim_make_fd(const struct ufd_caller *caller SHIM_UNUSED,
			struct ufd_ctx *ctx, enum ufd_fd_kind kind,
			uint32_t obj_id)
{
	struct shim_file *f;
	int fd, ret, bell = -1, sv[2];

	/* Derived fds are O_CLOEXEC, as the kernel's anon inodes are. */
	if (kind == UFD_FD_FAULT || kind == UFD_FD_VEVENTQ) {
		/* A socketpair, so that poll() can show queued faults. */
		if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv))
			return -errno;
		fd = sv[0];
		bell = sv[1];
	} else {
		fd = shim_backing_fd(kind, true);
		if (fd < 0)
			return -errno;
	}
	ufd_ctx_get(ctx);
	f = shim_file_new(kind, ctx, obj_id, fd);
	if (!f) {
		ret = -ENOMEM;
		ufd_ctx_put(ctx);
		goto err_close;
	}
	f->bell_fd = bell;
	bell = -1; /* the file closes it now */
	ret = shim_fdtab_install(fd, f);
	if (ret < 0) {
		/* The dispatch layer destroys the object itself. */
		shim_file_detach(f);
		shim_file_put(f);
		goto err_close;
	}
	if (kind == UFD_FD_FAULT)
		ufd_fault_set_notify(ctx, obj_id, shim_fault_notify,
				     (void *)(intptr_t)f->bell_fd);
	else if (kind == UFD_FD_VEVENTQ)
		ufd_veventq_set_notify(ctx, obj_id, shim_fault_notify,
				       (void *)(intptr_t)f->bell_fd);
	shim_file_put(f); /* the slot holds it now */
	DBG(FD, "make_fd(%s, id %u) = %d", shim_kind_name(kind), obj_id, fd);
	return fd;

err_close:
	if (bell >= 0)
		REAL_REQ(close)(bell);
	REAL_REQ(close)(fd);
	return ret;
}

static void shim_unmake_fd(const struct ufd_caller *caller SHIM_UNUSED,
			   int fd)
{
	struct shim_file *f = shim_fdtab_take(fd);

	if (!f)
		return; /* not an fd we made: leave it alone */
	if (f->file.kind == UFD_FD_IOMMUFD) {
		shim_fdtab_install(fd, f); /* cannot fail: the slot exists */
		shim_file_put(f);
		return;
	}
	if (f->file.kind == UFD_FD_FAULT && f->file.ctx)
		ufd_fault_set_notify(f->file.ctx, f->file.obj_id, NULL, NULL);
	else if (f->file.kind == UFD_FD_VEVENTQ && f->file.ctx)
		ufd_veventq_set_notify(f->file.ctx, f->file.obj_id, NULL,
				       NULL);
	shim_file_detach(f);
	REAL_REQ(close)(fd);
	shim_file_put(f);
	DBG(FD, "unmake_fd(%d)", fd);
}

/* Files an ioctl named in its argument, held until it returns. */
struct shim_call {
	struct shim_file *held[4];
	unsigned int nr_held;
};

static int shim_resolve_fd(const struct ufd_caller *caller,
			   struct ufd_ctx *ctx, int fd, enum ufd_fd_kind kind,
			   uint32_t *obj_id)
{
	struct shim_call *call = caller->priv;
	struct shim_file *f = NULL;
	int rc;

	if (!call || call->nr_held == 4)
		return shim_fdtab_resolve(fd, ctx, kind, obj_id, NULL);
	rc = shim_fdtab_resolve(fd, ctx, kind, obj_id, &f);
	if (!rc)
		call->held[call->nr_held++] = f;
	return rc;
}

static int shim_resolve_file(const struct ufd_caller *caller, int fd,
			     struct ufd_file *out)
{
	struct shim_call *call = caller->priv;
	struct shim_file *f;

	if (!call || call->nr_held == 4)
		return -ENOMEM;
	f = shim_fdtab_get_valid(fd);
	if (!f)
		return -EBADF;
	/* Held until the call returns, as the kernel's fget. */
	call->held[call->nr_held++] = f;
	*out = f->file;
	return 0;
}

/* Our own process: a copy of the fd (MAP_FILE's file). */
static int shim_take_fd(const struct ufd_caller *caller SHIM_UNUSED, int fd)
{
	int tfd = REAL_REQ(fcntl)(fd, F_DUPFD_CLOEXEC, 0);

	return tfd < 0 ? -errno : tfd;
}

/*
 * Who calls now, read only by the commands that use it: a capset() since
 * (CAP_IPC_LOCK dropped) counts, and the other calls pay no system call
 * for it.
 */
static void shim_caller_cred(const struct ufd_caller *caller,
			     struct ufd_cred *out)
{
	(void)caller;
	shim_cred_self(out);
}

static const struct ufd_caller_ops shim_caller_ops = {
	.make_fd = shim_make_fd,
	.unmake_fd = shim_unmake_fd,
	.resolve_fd = shim_resolve_fd,
	.resolve_file = shim_resolve_file,
	.take_fd = shim_take_fd,
	.cred = shim_caller_cred,
};

static int shim_caller_init(struct ufd_caller *caller)
{
	int ret = shim_state_ready();

	if (ret < 0)
		return ret;
	caller->ops = &shim_caller_ops;
	caller->eng = shim.eng;
	caller->priv = NULL;
	caller->win = NULL;
	shim_sig_enter();
	pthread_mutex_lock(&state_lock);
	caller->mem = shim.mem;
	/* Read when needed, through shim_caller_cred (caller_ops.cred). */
	memset(&caller->cred, 0, sizeof(caller->cred));
	caller->kernel = shim.kernel;
	caller->no_extensions = shim.no_extensions;
	pthread_mutex_unlock(&state_lock);
	shim_sig_leave();
	return 0;
}

/* ---- the emulated calls -------------------------------------------------- */

/* open() of an emulated node: a new file behind a new fd. */
static int shim_open_dev(const char *path, int flags,
			 const struct shim_node *node)
{
	struct shim_file *f;
	struct ufd_cred cred;
	struct ufd_ctx *ctx;
	int saved = errno;
	int fd, ret;

	if (flags & O_DIRECTORY) { /* also O_TMPFILE */
		errno = ENOTDIR;
		return -1;
	}
	if ((flags & (O_CREAT | O_EXCL)) == (O_CREAT | O_EXCL)) {
		errno = EEXIST;
		return -1;
	}
	if (shim_srv_enabled()) {
		pthread_once(&shim_once, shim_init_once);
		ret = fd = shim_srv_open(flags, node->kind, node->index);
		if (ret < 0)
			goto err;
		if (flags & O_NONBLOCK)
			REAL_REQ(fcntl)(fd, F_SETFL, O_NONBLOCK);
		DBG(FD, "open(\"%s\", %#o) = %d (server)", path,
		    (unsigned int)flags, fd);
		errno = saved;
		return fd;
	}
	ret = shim_state_ready();
	if (ret < 0)
		goto err;
	fd = shim_backing_fd(UFD_FD_IOMMUFD, flags & O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		goto err;
	}
	if (flags & O_NONBLOCK)
		REAL_REQ(fcntl)(fd, F_SETFL, O_NONBLOCK);
	/* The file's credentials are the opener's at open time. */
	shim_cred_self(&cred);
	shim_sig_enter(); /* the engine's lock (fdtab.h) */
	shim_nth_begin();
	ret = ufd_ctx_open(shim.eng, &cred, &ctx);
	shim_nth_end();
	shim_sig_leave();
	if (ret < 0)
		goto err_close;
	f = shim_file_new(UFD_FD_IOMMUFD, ctx, 0, fd);
	if (!f) {
		ret = -ENOMEM;
		ufd_ctx_put(ctx);
		goto err_close;
	}
	ret = shim_fdtab_install(fd, f);
	shim_file_put(f); /* the slot's reference, or the release on error */
	if (ret < 0)
		goto err_close;
	DBG(FD, "open(\"%s\", %#o) = %d", path, (unsigned int)flags, fd);
	errno = saved;
	return fd;

err_close:
	REAL_REQ(close)(fd);
err:
	DBG(FD, "open(\"%s\", %#o) = -1 %s", path, (unsigned int)flags,
	    shim_errname(-ret));
	errno = -ret;
	return -1;
}

/*
 * open() of /proc/self/status or /proc/PID/status (absolute paths): the
 * real file with what the engine pinned for PID in VmPin and VmLck
 * (procstatus.c).  *@handled false: nothing to add, the open goes on.
 */
static int shim_status_open(int dirfd, const char *path, int flags,
			    bool *handled)
{
	uint64_t pinned = 0, locked = 0;
	struct ufd_engine *eng;
	pid_t pid;
	int fd;

	*handled = false;
	if (!path || path[0] != '/' || (flags & (O_ACCMODE | O_PATH)) ||
	    !shim_status_path(path, &pid))
		return -1;
	(void)dirfd; /* an absolute path ignores it */
	if (shim_srv_enabled()) {
		pthread_once(&shim_once, shim_init_once);
		if (shim_srv_accounting(pid, &pinned, &locked))
			return -1;
	} else {
		shim_sig_enter();
		pthread_mutex_lock(&state_lock);
		/* A fork child's copy still has what was pinned at fork. */
		eng = shim.ready ? shim.eng : NULL;
		pthread_mutex_unlock(&state_lock);
		shim_sig_leave();
		if (!eng)
			return -1;
		pinned = ufd_engine_vm_pinned_bytes(eng, pid);
		locked = ufd_engine_pinned_bytes_pid(eng, pid);
	}
	if (!pinned && !locked)
		return -1;
	*handled = true;
	fd = shim_status_fd(path, flags, pinned, locked);
	if (fd < 0) {
		errno = -fd;
		return -1;
	}
	return fd;
}

/* A pass-through open returned @fd: a slot of that number is stale. */
static int shim_opened(int fd)
{
	if (fd >= 0)
		shim_nth_forget(fd);
	if (fd >= 0 && !shim_fdtab_empty())
		shim_fdtab_fd_created(fd, -1, NULL);
	return fd;
}

/* A pass-through dup of @oldfd returned @newfd: record the copy. */
static int shim_duped(int newfd, int oldfd, const char *what)
{
	struct shim_file *now;
	int saved, ret;

	if (newfd < 0 || shim_fdtab_empty())
		return newfd;
	saved = errno;
	ret = shim_fdtab_fd_created(newfd, oldfd, &now);
	if (ret < 0) {
		REAL_REQ(close)(newfd);
		errno = -ret;
		return -1;
	}
	if (now)
		DBG(FD, "%s(%d) = %d", what, oldfd, newfd);
	errno = saved;
	return newfd;
}

/*
 * Could an ioctl @request be for a file of the daemon the table does not
 * know (server mode, an iommufd/VFIO command)?  Cheap: no syscall.
 */
static bool shim_srv_candidate(unsigned long request)
{
	return _IOC_TYPE((unsigned int)request) == IOMMUFD_TYPE &&
	       shim_srv_enabled();
}

/*
 * Record @fd, a file of the daemon that the table does not know, and
 * return it with a reference; NULL if that fails.
 */
static struct shim_file *shim_srv_adopt(int fd)
{
	struct shim_file *f;
	int saved = errno, kind;

	pthread_once(&shim_once, shim_init_once);
	kind = shim_srv_file_kind(fd);
	if (kind < 0 || kind >= UFD_FD_NR_KINDS) {
		errno = saved;
		return NULL;
	}
	f = shim_file_new((enum ufd_fd_kind)kind, NULL, 0, fd);
	if (f && shim_fdtab_install(fd, f) < 0) {
		shim_file_put(f);
		f = NULL;
	}
	if (f)
		DBG(FD, "adopted fd %d: %s (server)", fd,
		    shim_kind_name((enum ufd_fd_kind)kind));
	errno = saved;
	return f;
}

/* @fd, if it is a file of the daemon the table does not know yet. */
static void shim_srv_adopt_if_ours(int fd)
{
	struct shim_file *f;

	if (fd < 0 || !shim_srv_is_daemon_fd(fd))
		return;
	f = shim_fdtab_get(fd);
	if (!f)
		f = shim_srv_adopt(fd);
	if (f)
		shim_file_put(f);
}

/*
 * A new image of the library (after exec) in server mode: the files of the
 * daemon it inherited are recorded before main(), so that read(), write()
 * and poll-driven code work on them at once, not only ioctl().  The fd
 * directory is read with raw system calls: no wrapper runs here.
 */
__attribute__((constructor))
static void shim_srv_adopt_inherited(void)
{
	char buf[4096];
	int dfd, saved = errno;
	long n;

	if (!shim_srv_enabled())
		return;
	dfd = (int)syscall(SYS_openat, AT_FDCWD, "/proc/self/fd",
			   O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return;
	while ((n = syscall(SYS_getdents64, dfd, buf, sizeof(buf))) > 0) {
		long off = 0;

		while (off < n) {
			struct {
				uint64_t ino;
				int64_t off;
				unsigned short reclen;
				unsigned char type;
				char name[];
			} *de = (void *)(buf + off);
			char *end;
			long fd = strtol(de->name, &end, 10);

			off += de->reclen;
			if (end == de->name || *end || fd == dfd)
				continue;
			shim_srv_adopt_if_ours((int)fd);
		}
	}
	syscall(SYS_close, dfd);
	errno = saved;
}

/*
 * ioctl() on @fd: ours goes to the dispatch layer (or the daemon), anything
 * else to @real (libc's ioctl or its time64 variant) with errno untouched.
 */
static int shim_ioctl(int fd, unsigned long request, void *arg,
		      int (*real)(int, unsigned long, ...))
{
	enum ufd_fd_kind kind;
	/* The kernel's ioctl() takes its command as an unsigned int. */
	unsigned long cmd = (unsigned int)request;
	struct ufd_caller caller;
	struct shim_file *f;
	int saved = errno;
	long ret;

	/* The table is trusted (fdtab.h): no system call for the lookup. */
	f = shim_fdtab_get_valid(fd);
	if (!f) {
		if (_IOC_TYPE(cmd) != IOMMUFD_TYPE ||
		    !shim_srv_is_daemon_fd(fd))
			return real(fd, request, arg);
		/* The daemon's file, arrived behind our back: ours from now. */
		f = shim_srv_adopt(fd);
		if (!f)
			return real(fd, request, arg);
	}
	kind = f->file.kind;
	if (!f->file.ctx) {
		/* Server mode: the daemon knows what the fd is. */
		ret = shim_srv_ioctl(fd, (uint64_t)f->dev, (uint64_t)f->ino, cmd,
				     (uint64_t)(uintptr_t)arg);
		shim_file_put(f);
	} else {
		struct shim_call call = { .nr_held = 0 };
		unsigned int i;

		/*
		 * The engine's lock (fdtab.h); the final put joins the
		 * section, which costs nothing but a counter either way.
		 */
		shim_sig_enter();
		ret = shim_caller_init(&caller);
		if (!ret) {
			caller.priv = &call;
			shim_nth_begin();
			ret = ufd_file_ioctl(&f->file, &caller, cmd,
					     (uint64_t)(uintptr_t)arg);
			shim_nth_end();
		}
		for (i = 0; i < call.nr_held; i++)
			shim_file_put(call.held[i]);
		shim_file_put(f);
		shim_sig_leave();
	}
	if (shim_dbg_mask & SHIM_DBG_IOCTL) {
		const char *name = ufd_file_ioctl_name(kind, cmd);

		if (ret >= 0)
			shim_dbg_print("ioctl(%d, %s %#lx, %p) = %ld", fd,
				       name, cmd, arg, ret);
		else
			shim_dbg_print("ioctl(%d, %s %#lx, %p) = -1 %s", fd,
				       name, cmd, arg,
				       shim_errname((int)-ret));
	}
	if (ret < 0) {
		errno = (int)-ret;
		return -1;
	}
	errno = saved;
	return ret > INT_MAX ? INT_MAX : (int)ret;
}

/* How fcntl's third argument is passed for @cmd. */
enum shim_fcntl_arg { FCNTL_ARG_NONE, FCNTL_ARG_INT, FCNTL_ARG_PTR };

static enum shim_fcntl_arg shim_fcntl_arg(int cmd)
{
	switch (cmd) {
	case F_GETFD:
	case F_GETFL:
	case F_GETOWN:
#ifdef F_GETSIG
	case F_GETSIG:
#endif
#ifdef F_GETLEASE
	case F_GETLEASE:
#endif
#ifdef F_GETPIPE_SZ
	case F_GETPIPE_SZ:
#endif
#ifdef F_GET_SEALS
	case F_GET_SEALS:
#endif
		return FCNTL_ARG_NONE;
	case F_DUPFD:
	case F_DUPFD_CLOEXEC:
	case F_SETFD:
	case F_SETFL:
	case F_SETOWN:
#ifdef F_SETSIG
	case F_SETSIG:
#endif
#ifdef F_SETLEASE
	case F_SETLEASE:
#endif
#ifdef F_NOTIFY
	case F_NOTIFY:
#endif
#ifdef F_SETPIPE_SZ
	case F_SETPIPE_SZ:
#endif
#ifdef F_ADD_SEALS
	case F_ADD_SEALS:
#endif
		return FCNTL_ARG_INT;
	default:
		/* Locks, F_[GS]ETOWN_EX, rw hints, and what we do not know. */
		return FCNTL_ARG_PTR;
	}
}

static int shim_fcntl(int (*real)(int, int, ...), int fd, int cmd,
		      va_list ap)
{
	int iarg;

	switch (shim_fcntl_arg(cmd)) {
	case FCNTL_ARG_NONE:
		return real(fd, cmd);
	case FCNTL_ARG_INT:
		iarg = va_arg(ap, int);
		if (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC)
			return shim_duped(real(fd, cmd, iarg), fd, "fcntl");
		return real(fd, cmd, iarg);
	default:
		return real(fd, cmd, va_arg(ap, void *));
	}
}

/*
 * read(), write(), pread() or pwrite() (@pos non-NULL) on an emulated
 * file: fault groups and responses on a fault queue, region accesses on a
 * VFIO device; in this process or in the daemon.
 */
static ssize_t shim_file_rw(struct shim_file *f, int fd, bool write,
			    void *buf, size_t count, const uint64_t *pos)
{
	/* Queues with doorbells: fault queues and vIOMMU event queues. */
	bool fault = f->file.kind == UFD_FD_FAULT ||
		     f->file.kind == UFD_FD_VEVENTQ;
	struct ufd_caller caller;
	char bell;
	long ret;

	if (!f->file.ctx && !f->file.priv) {
		ret = shim_srv_rw(fd, (uint64_t)f->dev, (uint64_t)f->ino, write,
				  fault, (uint64_t)(uintptr_t)buf, count, pos);
	} else if (f->detached) {
		ret = -EBADF;
	} else {
		shim_sig_enter(); /* the engine's lock (fdtab.h) */
		ret = shim_caller_init(&caller);
		shim_nth_begin();
		if (!ret && write) {
			ret = ufd_file_write(&f->file, &caller,
					     (uint64_t)(uintptr_t)buf, count,
					     pos);
		} else if (!ret) {
			/* Drain the doorbells; ring again if groups are left. */
			while (fault &&
			       recv(fd, &bell, sizeof(bell), MSG_DONTWAIT) > 0)
				;
			ret = ufd_file_read(&f->file, &caller,
					    (uint64_t)(uintptr_t)buf, count,
					    pos);
			if (fault && (ufd_file_poll(&f->file) & POLLIN))
				shim_fault_notify((void *)(intptr_t)f->bell_fd,
						  true);
		}
		shim_nth_end();
		shim_sig_leave();
	}
	DBG(FD, "%s(%d, %p, %zu) on %s = %ld", write ? "write" : "read",
	    fd, buf, count, shim_kind_name(f->file.kind), ret);
	if (ret < 0) {
		errno = (int)-ret;
		return -1;
	}
	return (ssize_t)ret;
}

/*
 * The file of @fd if it is ours and has read/write; NULL (errno kept)
 * for everything that goes to libc.
 */
static struct shim_file *shim_rw_file(int fd)
{
	struct shim_file *f;
	int saved;

	if (shim_fdtab_no_fault())
		return NULL;
	saved = errno;
	f = shim_fdtab_get_valid(fd);
	if (f && !ufd_file_ops(f->file.kind)->read &&
	    !ufd_file_ops(f->file.kind)->write) {
		shim_file_put(f);
		f = NULL;
	}
	errno = saved;
	return f;
}

/* ========================================================================= */
/* Overridden libc wrappers                                                  */
/* ========================================================================= */

/* open(2) reads its mode only when the flags ask for one. */
#define SHIM_OPEN_MODE(flags, mode)                                        \
	do {                                                               \
		va_list ap_;                                               \
		if (__OPEN_NEEDS_MODE(flags)) {                            \
			va_start(ap_, flags);                              \
			(mode) = (mode_t)va_arg(ap_, int);                 \
			va_end(ap_);                                       \
		}                                                          \
	} while (0)

/* An emulated node is ours; anything else goes on to libc. */
#define SHIM_OPEN_NODE(dirfd, path, flags)                                  \
	do {                                                                \
		struct shim_node node_;                                     \
		bool nth_;                                                  \
		int nthfd_;                                                 \
		if (!((flags) & O_PATH) &&                                  \
		    shim_path_node((dirfd), (path), &node_))                \
			return shim_open_dev((path), (flags), &node_);      \
		if (!((flags) & O_PATH)) {                                  \
			nthfd_ = shim_nth_path_open((dirfd), (path),        \
						    (flags), &nth_);        \
			if (nth_)                                           \
				return nthfd_;                              \
			nthfd_ = shim_status_open((dirfd), (path),          \
						  (flags), &nth_);          \
			if (nth_)                                           \
				return shim_opened(nthfd_);                 \
		}                                                           \
	} while (0)

int open(const char *path, int flags, ...)
{
	mode_t mode = 0;

	SHIM_OPEN_MODE(flags, mode);
	SHIM_OPEN_NODE(AT_FDCWD, path, flags);
	return shim_opened(REAL_REQ(open)(path, flags, mode));
}

int open64(const char *path, int flags, ...)
{
	mode_t mode = 0;

	SHIM_OPEN_MODE(flags, mode);
	SHIM_OPEN_NODE(AT_FDCWD, path, flags);
	if (!REAL(open64))
		return shim_opened(REAL_REQ(open)(path, flags | O_LARGEFILE,
						  mode));
	return shim_opened(REAL(open64)(path, flags, mode));
}

int openat(int dirfd, const char *path, int flags, ...)
{
	mode_t mode = 0;

	SHIM_OPEN_MODE(flags, mode);
	SHIM_OPEN_NODE(dirfd, path, flags);
	return shim_opened(REAL_REQ(openat)(dirfd, path, flags, mode));
}

int openat64(int dirfd, const char *path, int flags, ...)
{
	mode_t mode = 0;

	SHIM_OPEN_MODE(flags, mode);
	SHIM_OPEN_NODE(dirfd, path, flags);
	if (!REAL(openat64))
		return shim_opened(REAL_REQ(openat)(dirfd, path,
						    flags | O_LARGEFILE, mode));
	return shim_opened(REAL(openat64)(dirfd, path, flags, mode));
}

/* The _FORTIFY_SOURCE entry points: like open without a mode. */
int __open_2(const char *path, int flags)
{
	SHIM_OPEN_NODE(AT_FDCWD, path, flags);
	if (!REAL(__open_2))
		return shim_opened(REAL_REQ(open)(path, flags));
	return shim_opened(REAL(__open_2)(path, flags));
}

int __open64_2(const char *path, int flags)
{
	SHIM_OPEN_NODE(AT_FDCWD, path, flags);
	if (!REAL(__open64_2))
		return shim_opened(REAL_REQ(open)(path, flags | O_LARGEFILE));
	return shim_opened(REAL(__open64_2)(path, flags));
}

int __openat_2(int dirfd, const char *path, int flags)
{
	SHIM_OPEN_NODE(dirfd, path, flags);
	if (!REAL(__openat_2))
		return shim_opened(REAL_REQ(openat)(dirfd, path, flags));
	return shim_opened(REAL(__openat_2)(dirfd, path, flags));
}

int __openat64_2(int dirfd, const char *path, int flags)
{
	SHIM_OPEN_NODE(dirfd, path, flags);
	if (!REAL(__openat64_2))
		return shim_opened(REAL_REQ(openat)(dirfd, path,
						    flags | O_LARGEFILE));
	return shim_opened(REAL(__openat64_2)(dirfd, path, flags));
}

int close(int fd)
{
	struct shim_file *f;
	int ret, saved;

	shim_nth_forget(fd);
	if (shim_fdtab_empty())
		return REAL_REQ(close)(fd);
	/* Out of the table first, so that the number is free only after. */
	f = shim_fdtab_take(fd);
	ret = REAL_REQ(close)(fd);
	if (f) {
		saved = errno;
		shim_file_put(f); /* the last fd: released before we return */
		DBG(FD, "close(%d) = %d", fd, ret);
		errno = saved;
	}
	return ret;
}

int close_range(unsigned int first, unsigned int last, int flags)
{
	struct shim_taken *taken = NULL;
	long n = 0;
	int ret, saved;

	if (!REAL(close_range)) {
		errno = ENOSYS;
		return -1;
	}
	/*
	 * Only a valid call that really closes concerns the table (with
	 * CLOSE_RANGE_CLOEXEC the fds stay open until an exec, which starts
	 * a new table anyway).
	 */
	if (!shim_fdtab_empty() && first <= last &&
	    !((unsigned int)flags & ~CLOSE_RANGE_UNSHARE)) {
		n = shim_fdtab_take_range(first, last, &taken);
		if (n < 0) {
			errno = ENOMEM;
			return -1;
		}
	}
	ret = REAL(close_range)(first, last, flags);
	if (n) {
		saved = errno;
		if (ret < 0) {
			shim_fdtab_untake(taken, n);
		} else {
			shim_fdtab_put_taken(taken, n);
			DBG(FD, "close_range(%u, %u, %#x): %ld of ours", first,
			    last, (unsigned int)flags, n);
		}
		errno = saved;
	}
	return ret;
}

void closefrom(int lowfd)
{
	struct shim_taken *taken = NULL;
	long n = 0;
	int saved;

	if (!shim_fdtab_empty() && lowfd >= 0)
		n = shim_fdtab_take_range((unsigned int)lowfd, UINT_MAX,
					  &taken);
	if (REAL(closefrom)) {
		REAL(closefrom)(lowfd);
	} else if (REAL(close_range)) {
		REAL(close_range)((unsigned int)lowfd, UINT_MAX, 0);
	}
	if (n > 0) {
		saved = errno;
		shim_fdtab_put_taken(taken, n);
		DBG(FD, "closefrom(%d): %ld of ours", lowfd, n);
		errno = saved;
	}
}

int dup(int oldfd)
{
	return shim_duped(REAL_REQ(dup)(oldfd), oldfd, "dup");
}

int dup2(int oldfd, int newfd)
{
	return shim_duped(REAL_REQ(dup2)(oldfd, newfd), oldfd, "dup2");
}

int dup3(int oldfd, int newfd, int flags)
{
	return shim_duped(REAL_REQ(dup3)(oldfd, newfd, flags), oldfd, "dup3");
}

int fcntl(int fd, int cmd, ...)
{
	va_list ap;
	int ret;

	va_start(ap, cmd);
	ret = shim_fcntl(REAL_REQ(fcntl), fd, cmd, ap);
	va_end(ap);
	return ret;
}

int fcntl64(int fd, int cmd, ...)
{
	va_list ap;
	int ret;

	va_start(ap, cmd);
	ret = shim_fcntl(REAL(fcntl64) ? REAL(fcntl64) : REAL_REQ(fcntl), fd,
			 cmd, ap);
	va_end(ap);
	return ret;
}

/* glibc >= 2.34 on 32-bit targets with _TIME_BITS=64. */
int __fcntl_time64(int fd, int cmd, ...)
{
	va_list ap;
	int ret;

	va_start(ap, cmd);
	ret = shim_fcntl(REAL(__fcntl_time64) ? REAL(__fcntl_time64) :
			 REAL_REQ(fcntl), fd, cmd, ap);
	va_end(ap);
	return ret;
}

/*
 * Exactly one argument is read, as a pointer: an integer argument (the
 * VFIO calls that take one) arrives in the same register or slot.
 */
int ioctl(int fd, unsigned long request, ...)
{
	va_list ap;
	void *arg;

	va_start(ap, request);
	arg = va_arg(ap, void *);
	va_end(ap);
	if (shim_fdtab_empty() && !shim_srv_candidate(request))
		return REAL_REQ(ioctl)(fd, request, arg);
	return shim_ioctl(fd, request, arg, REAL_REQ(ioctl));
}

/* glibc >= 2.34 on 32-bit targets with _TIME_BITS=64. */
int __ioctl_time64(int fd, unsigned long request, ...)
{
	int (*real)(int, unsigned long, ...) = REAL(__ioctl_time64);
	va_list ap;
	void *arg;

	va_start(ap, request);
	arg = va_arg(ap, void *);
	va_end(ap);
	if (!real)
		real = REAL_REQ(ioctl);
	if (shim_fdtab_empty() && !shim_srv_candidate(request))
		return real(fd, request, arg);
	return shim_ioctl(fd, request, arg, real);
}

/*
 * recvmsg(): an emulated file that arrives through SCM_RIGHTS is recorded
 * at once in server mode, like one inherited across exec.
 */
ssize_t recvmsg(int fd, struct msghdr *msg, int flags)
{
	ssize_t ret = (ssize_t)syscall(SYS_recvmsg, fd, msg, flags);
	struct cmsghdr *c;
	int saved;

	if (ret < 0 || !msg->msg_controllen)
		return ret;
	saved = errno;
	for (c = CMSG_FIRSTHDR(msg); c; c = CMSG_NXTHDR(msg, c)) {
		size_t i, nfd;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		nfd = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (i = 0; i < nfd; i++) {
			int rfd;

			memcpy(&rfd, CMSG_DATA(c) + i * sizeof(int),
			       sizeof(rfd));
			/* A new fd number: a slot of that number is stale. */
			shim_opened(rfd);
			shim_srv_adopt_if_ours(rfd);
		}
	}
	errno = saved;
	return ret;
}

/*
 * read() and write() matter only on fault queue fds; every other fd, and
 * every process without a fault queue, passes straight through.  poll()
 * needs no wrapper: a fault queue fd is a socket that the engine's
 * notification makes readable while faults are queued.
 */
ssize_t read(int fd, void *buf, size_t count)
{
	struct shim_file *f;
	int saved = errno;
	ssize_t ret;

	if (shim_nth_is_fd(fd))
		return shim_nth_rw(fd, false, (void *)buf, count, -1);
	f = shim_rw_file(fd);
	if (!f)
		return REAL_REQ(read)(fd, buf, count);
	ret = shim_file_rw(f, fd, false, buf, count, NULL);
	shim_file_put(f);
	if (ret >= 0)
		errno = saved;
	return ret;
}

ssize_t write(int fd, const void *buf, size_t count)
{
	struct shim_file *f;
	int saved = errno;
	ssize_t ret;

	if (shim_nth_is_fd(fd))
		return shim_nth_rw(fd, true, (void *)buf, count, -1);
	f = shim_rw_file(fd);
	if (!f)
		return REAL_REQ(write)(fd, buf, count);
	ret = shim_file_rw(f, fd, true, (void *)buf, count, NULL);
	shim_file_put(f);
	if (ret >= 0)
		errno = saved;
	return ret;
}

/* pread/pwrite on ours: the position as the kernel's, never negative. */
static ssize_t shim_prw(struct shim_file *f, int fd, bool write, void *buf,
			size_t count, off_t off)
{
	int saved = errno;
	uint64_t pos = (uint64_t)off;
	ssize_t ret;

	if (off < 0) {
		shim_file_put(f);
		errno = EINVAL;
		return -1;
	}
	ret = shim_file_rw(f, fd, write, buf, count, &pos);
	shim_file_put(f);
	if (ret >= 0)
		errno = saved;
	return ret;
}

/*
 * pread()/pwrite() on a file of ours: an emulated fail-nth file, or an
 * emulated file with read/write.  *@ours says whether it was; if not,
 * the caller goes on to libc.
 */
static ssize_t shim_positioned(int fd, bool write, void *buf, size_t count,
			       off_t off, bool *ours)
{
	struct shim_file *f;

	*ours = true;
	if (shim_nth_is_fd(fd)) {
		if (off < 0) {
			errno = EINVAL;
			return -1;
		}
		return shim_nth_rw(fd, write, buf, count, off);
	}
	f = shim_rw_file(fd);
	if (f)
		return shim_prw(f, fd, write, buf, count, off);
	*ours = false;
	return -1;
}

ssize_t pread(int fd, void *buf, size_t count, off_t off)
{
	bool ours;
	ssize_t ret = shim_positioned(fd, false, buf, count, off, &ours);

	return ours ? ret : REAL_REQ(pread)(fd, buf, count, off);
}

ssize_t pread64(int fd, void *buf, size_t count, off_t off)
{
	bool ours;
	ssize_t ret = shim_positioned(fd, false, buf, count, off, &ours);

	if (ours)
		return ret;
	return REAL(pread64) ? REAL(pread64)(fd, buf, count, off) :
			       REAL_REQ(pread)(fd, buf, count, off);
}

ssize_t pwrite(int fd, const void *buf, size_t count, off_t off)
{
	bool ours;
	ssize_t ret = shim_positioned(fd, true, (void *)buf, count, off, &ours);

	return ours ? ret : REAL_REQ(pwrite)(fd, buf, count, off);
}

ssize_t pwrite64(int fd, const void *buf, size_t count, off_t off)
{
	bool ours;
	ssize_t ret = shim_positioned(fd, true, (void *)buf, count, off, &ours);

	if (ours)
		return ret;
	return REAL(pwrite64) ? REAL(pwrite64)(fd, buf, count, off) :
				REAL_REQ(pwrite)(fd, buf, count, off);
}

/*
 * Server mode only: shared anonymous memory becomes memfd-backed (shm.c),
 * so that the daemon can pin the very pages; every other mapping passes
 * straight through.  These must work before anything is initialised: a
 * program's constructor may map its buffers before main().
 */
/*
 * A mapping of a file whose mappings are trapped (barmap.c): a VFIO
 * device of the daemon's, or a /dev/iommu context (a vIOMMU's page: the
 * daemon's, or this process's engine's).  The file, referenced, or NULL.
 */
static struct shim_file *shim_bar_file(int fd)
{
	struct shim_file *f;
	bool bar;

	if (fd < 0 || shim_fdtab_empty())
		return NULL;
	f = shim_fdtab_get_valid(fd);
	if (!f)
		return NULL;
	bar = (f->file.kind == UFD_FD_VFIO_DEVICE && !f->file.ctx &&
	       !f->file.priv) ||
	      f->file.kind == UFD_FD_IOMMUFD;
	if (!bar) {
		shim_file_put(f);
		return NULL;
	}
	return f;
}

static void *shim_mmap(shim_mmap_fn real, void *addr, size_t len, int prot,
		       int flags, int fd, off_t off)
{
	struct shim_file *f = shim_bar_file(fd);
	void *p;

	if (f) {
		int saved;

		if (f->file.ctx)
			p = shim_bar_mmap_local(real, REAL_REQ(sigaction), addr,
						len, prot, flags, &f->file,
						off);
		else
			p = shim_bar_mmap(real, REAL_REQ(sigaction), addr, len,
					  prot, flags, fd, off);
		saved = errno;
		shim_file_put(f);
		errno = saved;
		return p;
	}
	if (!shim_shm_wants(flags)) {
		p = real(addr, len, prot, flags, fd, off);
	} else {
		pthread_once(&shim_once, shim_init_once);
		p = shim_shm_mmap(real, addr, len, prot, flags, fd, off);
	}
	/* A fixed mapping may have replaced a trapped one. */
	if (p != MAP_FAILED && (flags & MAP_FIXED) && !shim_bar_empty())
		shim_bar_unmapped(p, len);
	return p;
}

void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	return shim_mmap(REAL_REQ(mmap), addr, len, prot, flags, fd, off);
}

void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	shim_mmap_fn real = REAL(mmap64) ? REAL(mmap64) : REAL_REQ(mmap);

	return shim_mmap(real, addr, len, prot, flags, fd, off);
}

int munmap(void *addr, size_t len)
{
	int ret = REAL_REQ(munmap)(addr, len);

	if (!ret && !shim_shm_empty()) {
		int saved = errno;

		shim_shm_unmapped(addr, len);
		errno = saved;
	}
	if (!ret && !shim_bar_empty())
		shim_bar_unmapped(addr, len);
	return ret;
}

/*
 * The program's dispositions.  SIGSEGV and SIGBUS, once the MMIO trap owns
 * those signals (a BAR is mapped), are kept by the trap, whose handler runs
 * the program's for every fault that is not an emulated access.  The
 * handlers of the asynchronous signals go through the deferral trampoline
 * (sigdefer.c), so that none runs while its thread is inside the shim.
 * Every other signal reaches libc.  glibc's signal() family (signal,
 * bsd_signal, ssignal, sysv_signal, sigset, siginterrupt) calls its
 * internal sigaction, which no wrapper sees, so each is built here on top
 * of sigaction() instead, with glibc's semantics.
 */
int sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
	if ((sig == SIGSEGV || sig == SIGBUS) && mmio_trap_installed())
		return mmio_trap_sigaction(sig, act, old);
	if (shim_sig_deferrable(sig))
		return shim_sig_action(REAL_REQ(sigaction), sig, act, old);
	return REAL_REQ(sigaction)(sig, act, old);
}

/* Signals siginterrupt() made interrupt system calls; bit n - 1: n. */
static uint64_t shim_sigintr;

static bool shim_sig_interrupts(int sig)
{
	return sig >= 1 && sig <= 64 &&
	       (__atomic_load_n(&shim_sigintr, __ATOMIC_RELAXED) &
		(1ULL << (sig - 1)));
}

/* BSD semantics: persistent, @sig blocked in its handler, SA_RESTART. */
__sighandler_t signal(int sig, __sighandler_t handler)
{
	struct sigaction act, old;

	if (handler == SIG_ERR || sig < 1 || sig >= NSIG) {
		errno = EINVAL;
		return SIG_ERR;
	}
	memset(&act, 0, sizeof(act));
	act.sa_handler = handler;
	sigemptyset(&act.sa_mask);
	sigaddset(&act.sa_mask, sig);
	act.sa_flags = shim_sig_interrupts(sig) ? 0 : SA_RESTART;
	if (sigaction(sig, &act, &old) < 0)
		return SIG_ERR;
	return old.sa_handler;
}

__sighandler_t bsd_signal(int sig, __sighandler_t handler)
{
	return signal(sig, handler);
}

__sighandler_t ssignal(int sig, __sighandler_t handler)
{
	return signal(sig, handler);
}

/* System V semantics: one-shot, the signal not blocked in its handler. */
__sighandler_t sysv_signal(int sig, __sighandler_t handler)
{
	struct sigaction sa, old;

	if (handler == SIG_ERR || sig < 1 || sig >= NSIG) {
		errno = EINVAL;
		return SIG_ERR;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = handler;
	sa.sa_flags = SA_RESETHAND | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	if (sigaction(sig, &sa, &old) < 0)
		return SIG_ERR;
	return old.sa_handler;
}

__sighandler_t __sysv_signal(int sig, __sighandler_t handler)
{
	return sysv_signal(sig, handler);
}

/*
 * System V's sigset(): SIG_HOLD blocks the signal; anything else becomes
 * its disposition (no flags, empty mask) and unblocks it.  The previous
 * disposition is returned, or SIG_HOLD if the signal was blocked.
 */
__sighandler_t sigset(int sig, __sighandler_t disp)
{
	struct sigaction act, old;
	sigset_t set, oset;

	sigemptyset(&set);
	if (disp == SIG_ERR || sigaddset(&set, sig) < 0) {
		errno = EINVAL;
		return SIG_ERR;
	}
	if (disp == SIG_HOLD) {
		if (sigprocmask(SIG_BLOCK, &set, &oset) < 0)
			return SIG_ERR;
		if (sigismember(&oset, sig))
			return SIG_HOLD;
		if (sigaction(sig, NULL, &old) < 0)
			return SIG_ERR;
		return old.sa_handler;
	}
	memset(&act, 0, sizeof(act));
	act.sa_handler = disp;
	sigemptyset(&act.sa_mask);
	if (sigaction(sig, &act, &old) < 0)
		return SIG_ERR;
	if (sigprocmask(SIG_UNBLOCK, &set, &oset) < 0)
		return SIG_ERR;
	return sigismember(&oset, sig) ? SIG_HOLD : old.sa_handler;
}

/* @flag: system calls @sig interrupts fail with EINTR (no SA_RESTART). */
int siginterrupt(int sig, int flag)
{
	struct sigaction act;

	if (sig < 1 || sig > 64) {
		errno = EINVAL;
		return -1;
	}
	if (sigaction(sig, NULL, &act) < 0)
		return -1;
	if (flag) {
		__atomic_or_fetch(&shim_sigintr, 1ULL << (sig - 1),
				  __ATOMIC_RELAXED);
		act.sa_flags &= ~SA_RESTART;
	} else {
		__atomic_and_fetch(&shim_sigintr, ~(1ULL << (sig - 1)),
				   __ATOMIC_RELAXED);
		act.sa_flags |= SA_RESTART;
	}
	return sigaction(sig, &act, NULL);
}

/* The fifth argument exists only with MREMAP_FIXED; reading it is harmless. */
void *mremap(void *old, size_t oldlen, size_t newlen, int flags, ...)
{
	void *new_addr, *ret;
	va_list ap;

	va_start(ap, flags);
	new_addr = va_arg(ap, void *);
	va_end(ap);
	ret = REAL_REQ(mremap)(old, oldlen, newlen, flags, new_addr);
	if (ret != MAP_FAILED && !shim_shm_empty()) {
		int saved = errno;

		shim_shm_remapped(old, oldlen, ret, newlen, flags);
		errno = saved;
	}
	return ret;
}

/*
 * fopen() opens through libc's internal open, which no wrapper sees: the
 * one file it must show differently (/proc/PID/status) is caught here.
 */
static FILE *shim_status_fopen(const char *path, const char *mode,
			       bool *handled)
{
	int fd, flags = strchr(mode ? mode : "", 'e') ? O_CLOEXEC : 0;
	FILE *fp;

	*handled = false;
	if (!mode || mode[0] != 'r' || strchr(mode, '+'))
		return NULL;
	fd = shim_status_open(AT_FDCWD, path, flags, handled);
	if (!*handled)
		return NULL;
	if (fd < 0)
		return NULL;
	shim_opened(fd);
	fp = fdopen(fd, mode);
	if (!fp) {
		int saved = errno;

		REAL_REQ(close)(fd);
		errno = saved;
	}
	return fp;
}

/* A stream libc opened: a slot of its fd's number is stale (fdtab.h). */
static FILE *shim_fopened(FILE *fp)
{
	int saved;

	if (fp && !shim_fdtab_empty()) {
		saved = errno;
		shim_opened(fileno(fp));
		errno = saved;
	}
	return fp;
}

FILE *fopen(const char *path, const char *mode)
{
	bool handled;
	FILE *fp = shim_status_fopen(path, mode, &handled);

	return handled ? fp : shim_fopened(REAL_REQ(fopen)(path, mode));
}

FILE *fopen64(const char *path, const char *mode)
{
	bool handled;
	FILE *fp = shim_status_fopen(path, mode, &handled);

	if (handled)
		return fp;
	if (!REAL(fopen64))
		return shim_fopened(REAL_REQ(fopen)(path, mode));
	return shim_fopened(REAL(fopen64)(path, mode));
}
