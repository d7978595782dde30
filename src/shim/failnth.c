// SPDX-License-Identifier: MIT
/*
 * The kernel's fault-injection files, emulated for the emulated calls.
 *
 * Model.  A kernel task's fail-nth (/proc/PID/task/TID/fail-nth): writing
 * N makes the Nth fault-injectable allocation of that task fail; each
 * such allocation counts it down, and reading the file returns what is
 * left ("0\n" once it fired, or if it was never armed).  Here the count is
 * thread-local (shim_fail_nth) and only the emulated calls count it down:
 * in-process, the engine's per-thread countdown is armed with it around
 * the engine call (shim_nth_begin/end); in server mode it travels in each
 * request and the daemon's answer says what is left (client.c, proto.h).
 * The files of the thread itself are emulated, by any of its names
 * (/proc/self/task/TID, /proc/PID/task/TID, /proc/thread-self); those of
 * other threads stay real.  A fork child starts with 0, as in the kernel.
 *
 * The debugfs knobs of failslab and fail_page_alloc (ignore-gfp-wait,
 * verbose, ...) are emulated too, so that a program can "configure" fault
 * injection: they accept what the kernel's accept (booleans, numbers) and
 * read back, but change nothing: the emulation injects into every engine
 * allocation, like the kernel with ignore-gfp-wait=N.  Their values are
 * this process's, not the system's.
 *
 * Every open one is a real fd (a memfd) recorded in a small table with
 * its identity, so that a number closed or reused behind our back is
 * noticed.  Reads serve the text from the file position as the kernel's
 * simple_read_from_buffer does; writes ignore the position.  Limits: a
 * dup() of one of these fds is the plain memfd; reading or writing a
 * thread's fail-nth from another thread fails with EPERM; directories are
 * not emulated (an openat() relative to a real /sys/kernel/debug or
 * /proc/self/task/TID fd is recognised, but opendir() of a missing
 * /sys/kernel/debug fails as it would).
 *
 * Locking: nth_lock guards the table and the knob values (a leaf lock;
 * nothing is called with it held but fstat), taken inside a signal
 * section (sigdefer.h), since close() and read() look at the table and a
 * program's handler may call them.  shim_fail_nth is touched by its own
 * thread only.  The fork handlers take the lock.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "engine/engine.h" /* ufd_fail_nth_thread */
#include "shim/failnth.h"
#include "shim/sigdefer.h"

__thread unsigned int shim_fail_nth;

enum knob_type { KNOB_BOOL, KNOB_U64, KNOB_S64 };

struct knob {
	const char *dir;  /* under /sys/kernel/debug */
	const char *name;
	enum knob_type type;
	int64_t val;      /* nth_lock */
	int64_t dflt;
};

#define ALL_DIRS NULL /* an attribute both directories have */

/* The attributes of the kernel's fault_attr, and the per-type ones. */
static struct knob knobs[] = {
	{ ALL_DIRS, "probability", KNOB_U64, 0, 0 },
	{ ALL_DIRS, "interval", KNOB_U64, 0, 1 },
	{ ALL_DIRS, "times", KNOB_S64, 0, 1 },
	{ ALL_DIRS, "space", KNOB_S64, 0, 0 },
	{ ALL_DIRS, "verbose", KNOB_U64, 0, 2 },
	{ ALL_DIRS, "verbose_ratelimit_interval_ms", KNOB_U64, 0, 5000 },
	{ ALL_DIRS, "verbose_ratelimit_burst", KNOB_U64, 0, 10 },
	{ ALL_DIRS, "task-filter", KNOB_BOOL, 0, 0 },
	{ ALL_DIRS, "stacktrace-depth", KNOB_U64, 0, 32 },
	{ ALL_DIRS, "require-start", KNOB_U64, 0, 0 },
	{ ALL_DIRS, "require-end", KNOB_U64, 0, -1 },
	{ ALL_DIRS, "reject-start", KNOB_U64, 0, 0 },
	{ ALL_DIRS, "reject-end", KNOB_U64, 0, -1 },
	{ "failslab", "ignore-gfp-wait", KNOB_BOOL, 0, 1 },
	{ "failslab", "cache-filter", KNOB_BOOL, 0, 0 },
	{ "fail_page_alloc", "ignore-gfp-wait", KNOB_BOOL, 0, 1 },
	{ "fail_page_alloc", "ignore-gfp-highmem", KNOB_BOOL, 0, 1 },
	{ "fail_page_alloc", "min-order", KNOB_U64, 0, 1 },
};
#define NKNOBS (sizeof(knobs) / sizeof(knobs[0]))
#define NDIRS 2
static const char *const knob_dirs[NDIRS] = { "failslab", "fail_page_alloc" };
/* Per directory: the ALL_DIRS knobs have one value each. */
static int64_t knob_common[NDIRS][NKNOBS];
static bool knobs_set; /* defaults loaded; nth_lock */

#define NTH_KNOB_NONE (-1)

struct nth_file {
	bool used;
	int fd;
	dev_t dev;
	ino_t ino;
	int knob;         /* index in knobs[], or NTH_KNOB_NONE: fail-nth */
	int dir;          /* knob_dirs[] index */
	pid_t tid;        /* fail-nth: whose */
	int accmode;      /* O_RDONLY, O_WRONLY, O_RDWR */
	uint64_t pos;     /* read(): the file position */
};

#define NTH_MAX 32
static pthread_mutex_t nth_lock = PTHREAD_MUTEX_INITIALIZER;
static struct nth_file files[NTH_MAX];
static unsigned int nr_files; /* atomic loads outside the lock */

static pid_t sys_gettid(void)
{
	return (pid_t)syscall(SYS_gettid);
}

/* ---- in-process calls ------------------------------------------------------ */

void shim_nth_begin(void)
{
	if (shim_fail_nth)
		ufd_fail_nth_thread(shim_fail_nth);
}

void shim_nth_end(void)
{
	if (shim_fail_nth) {
		shim_fail_nth = (unsigned int)ufd_fail_nth_thread_left();
		ufd_fail_nth_thread(0);
	}
}

/* ---- fork ------------------------------------------------------------------------ */

void shim_nth_atfork_prepare(void)
{
	shim_sig_enter();
	pthread_mutex_lock(&nth_lock);
}

void shim_nth_atfork_parent(void)
{
	pthread_mutex_unlock(&nth_lock);
	shim_sig_leave();
}

void shim_nth_atfork_child(void)
{
	shim_fail_nth = 0; /* the kernel's fork clears it too */
	pthread_mutex_unlock(&nth_lock);
	shim_sig_leave();
}

/* ---- names --------------------------------------------------------------------- */

bool shim_nth_name(const char *base)
{
	size_t i;

	if (!strcmp(base, "fail-nth"))
		return true;
	for (i = 0; i < NKNOBS; i++)
		if (!strcmp(base, knobs[i].name))
			return true;
	return false;
}

/* "123" as a pid (no sign, no leading zero). */
static bool parse_pid(const char *s, size_t n, pid_t *out)
{
	long v = 0;
	size_t i;

	if (!n || (s[0] == '0' && n > 1))
		return false;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
		if (v > INT32_MAX)
			return false;
	}
	*out = (pid_t)v;
	return true;
}

/*
 * Is the normalized absolute path @p the calling thread's fail-nth?
 * /proc/thread-self/fail-nth, /proc/{self,PID}/task/TID/fail-nth.
 */
static bool is_own_fail_nth(const char *p)
{
	const char *q, *slash;
	pid_t pid, tid;

	if (!strcmp(p, "/proc/thread-self/fail-nth"))
		return true;
	if (strncmp(p, "/proc/", 6))
		return false;
	q = p + 6;
	slash = strchr(q, '/');
	if (!slash)
		return false;
	if (slash - q == 4 && !strncmp(q, "self", 4))
		pid = getpid();
	else if (!parse_pid(q, (size_t)(slash - q), &pid))
		return false;
	if (pid != getpid() || strncmp(slash, "/task/", 6))
		return false;
	q = slash + 6;
	slash = strchr(q, '/');
	if (!slash || strcmp(slash, "/fail-nth"))
		return false;
	return parse_pid(q, (size_t)(slash - q), &tid) && tid == sys_gettid();
}

/* A knob path: its knobs[] index and directory, or -1. */
static int knob_of(const char *p, int *dir)
{
	static const char root[] = "/sys/kernel/debug/";
	const char *q, *slash;
	size_t i, d;

	if (strncmp(p, root, sizeof(root) - 1))
		return -1;
	q = p + sizeof(root) - 1;
	slash = strchr(q, '/');
	if (!slash)
		return -1;
	for (d = 0; d < NDIRS; d++)
		if ((size_t)(slash - q) == strlen(knob_dirs[d]) &&
		    !strncmp(q, knob_dirs[d], (size_t)(slash - q)))
			break;
	if (d == NDIRS)
		return -1;
	for (i = 0; i < NKNOBS; i++) {
		if (strcmp(slash + 1, knobs[i].name))
			continue;
		if (knobs[i].dir && strcmp(knobs[i].dir, knob_dirs[d]))
			continue;
		*dir = (int)d;
		return (int)i;
	}
	return -1;
}

static void knobs_load(void)
{
	size_t i, d;

	if (knobs_set)
		return;
	for (i = 0; i < NKNOBS; i++) {
		knobs[i].val = knobs[i].dflt;
		for (d = 0; d < NDIRS; d++)
			knob_common[d][i] = knobs[i].dflt;
	}
	knobs_set = true;
}

static int64_t *knob_slot(int knob, int dir)
{
	return knobs[knob].dir ? &knobs[knob].val : &knob_common[dir][knob];
}

/* ---- the table -------------------------------------------------------------------- */

/* The slot of @fd, if it is still the file we made (nth_lock). */
static struct nth_file *lookup(int fd)
{
	struct stat st;
	unsigned int i;

	for (i = 0; i < NTH_MAX; i++) {
		if (!files[i].used || files[i].fd != fd)
			continue;
		if (fstat(fd, &st) || st.st_dev != files[i].dev ||
		    st.st_ino != files[i].ino) {
			files[i].used = false; /* closed behind our back */
			__atomic_sub_fetch(&nr_files, 1, __ATOMIC_RELAXED);
			return NULL;
		}
		return &files[i];
	}
	return NULL;
}

static int nth_install(int flags, int knob, int dir)
{
	unsigned int mfd = MFD_ALLOW_SEALING |
			   ((flags & O_CLOEXEC) ? MFD_CLOEXEC : 0);
	struct nth_file *f = NULL;
	struct stat st;
	unsigned int i;
	int fd, err;

	if (flags & O_DIRECTORY) {
		errno = ENOTDIR;
		return -1;
	}
	if ((flags & (O_CREAT | O_EXCL)) == (O_CREAT | O_EXCL)) {
		errno = EEXIST;
		return -1;
	}
	fd = memfd_create(knob == NTH_KNOB_NONE ? "uiommufd-fail-nth" :
						  "uiommufd-fault-attr",
			  mfd);
	if (fd < 0)
		return -1;
	if (fstat(fd, &st)) {
		err = errno;
		goto err_close;
	}
	shim_sig_enter();
	pthread_mutex_lock(&nth_lock);
	knobs_load();
	for (i = 0; i < NTH_MAX; i++) {
		if (files[i].used && files[i].fd == fd) {
			files[i].used = false; /* a stale number */
			__atomic_sub_fetch(&nr_files, 1, __ATOMIC_RELAXED);
		}
	}
	for (i = 0; i < NTH_MAX && !f; i++)
		if (!files[i].used)
			f = &files[i];
	if (!f) {
		pthread_mutex_unlock(&nth_lock);
		shim_sig_leave();
		err = EMFILE;
		goto err_close;
	}
	*f = (struct nth_file){
		.used = true, .fd = fd, .dev = st.st_dev, .ino = st.st_ino, .knob = knob,
		.dir = dir, .tid = sys_gettid(), .accmode = flags & O_ACCMODE,
	};
	__atomic_add_fetch(&nr_files, 1, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&nth_lock);
	shim_sig_leave();
	return fd;

err_close:
	syscall(SYS_close, fd);
	errno = err;
	return -1;
}

int shim_nth_open_abs(const char *norm, int flags, bool *handled)
{
	int knob, dir = 0;

	*handled = false;
	if (is_own_fail_nth(norm)) {
		*handled = true;
		return nth_install(flags, NTH_KNOB_NONE, 0);
	}
	knob = knob_of(norm, &dir);
	if (knob < 0)
		return -1;
	*handled = true;
	return nth_install(flags, knob, dir);
}

bool shim_nth_is_fd(int fd)
{
	bool ret;

	if (!__atomic_load_n(&nr_files, __ATOMIC_RELAXED))
		return false;
	shim_sig_enter();
	pthread_mutex_lock(&nth_lock);
	ret = lookup(fd) != NULL;
	pthread_mutex_unlock(&nth_lock);
	shim_sig_leave();
	return ret;
}

void shim_nth_forget(int fd)
{
	unsigned int i;

	if (!__atomic_load_n(&nr_files, __ATOMIC_RELAXED))
		return;
	shim_sig_enter();
	pthread_mutex_lock(&nth_lock);
	for (i = 0; i < NTH_MAX; i++) {
		if (files[i].used && files[i].fd == fd) {
			files[i].used = false;
			__atomic_sub_fetch(&nr_files, 1, __ATOMIC_RELAXED);
		}
	}
	pthread_mutex_unlock(&nth_lock);
	shim_sig_leave();
}

/* ---- reading and writing ------------------------------------------------------------ */

/*
 * The kernel's kstrtoull(): an optional '+', base 0 (0x hex, 0 octal), at
 * least one digit, optionally one '\n'; with @neg_ok a '-' too.
 */
static int parse_num(const char *s, bool neg_ok, uint64_t max, int64_t *out)
{
	unsigned int base = 10, dig;
	bool neg = false, any = false;
	uint64_t v = 0;

	if (*s == '+') {
		s++;
	} else if (*s == '-' && neg_ok) {
		neg = true;
		s++;
	}
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X') &&
	    ((s[2] >= '0' && s[2] <= '9') || ((s[2] | 0x20) >= 'a' &&
					      (s[2] | 0x20) <= 'f'))) {
		base = 16;
		s += 2;
	} else if (s[0] == '0') {
		base = 8;
	}
	for (;; s++) {
		if (*s >= '0' && *s <= '9')
			dig = (unsigned int)(*s - '0');
		else if (base == 16 && (*s | 0x20) >= 'a' && (*s | 0x20) <= 'f')
			dig = (unsigned int)((*s | 0x20) - 'a' + 10);
		else
			break;
		if (dig >= base)
			return -EINVAL;
		if (v > (max - dig) / base)
			return -ERANGE;
		v = v * base + dig;
		any = true;
	}
	if (*s == '\n')
		s++;
	if (!any || *s)
		return -EINVAL;
	if (neg && v > (uint64_t)INT64_MAX)
		return -ERANGE;
	*out = neg ? -(int64_t)v : (int64_t)v;
	return 0;
}

/* The kernel's kstrtobool(). */
static int parse_bool(const char *s, int64_t *out)
{
	switch (s[0]) {
	case 'y': case 'Y': case 't': case 'T': case '1':
		*out = 1;
		return 0;
	case 'n': case 'N': case 'f': case 'F': case '0':
		*out = 0;
		return 0;
	case 'o': case 'O':
		if ((s[1] | 0x20) == 'n') {
			*out = 1;
			return 0;
		}
		if ((s[1] | 0x20) == 'f') {
			*out = 0;
			return 0;
		}
		break;
	default:
		break;
	}
	return -EINVAL;
}

/* The text of @f now (nth_lock). */
static int file_text(const struct nth_file *f, char *buf, size_t size)
{
	int64_t v;

	if (f->knob == NTH_KNOB_NONE)
		return snprintf(buf, size, "%u\n", shim_fail_nth);
	v = *knob_slot(f->knob, f->dir);
	switch (knobs[f->knob].type) {
	case KNOB_BOOL:
		return snprintf(buf, size, "%c\n", v ? 'Y' : 'N');
	case KNOB_S64:
		return snprintf(buf, size, "%" PRId64 "\n", v);
	default:
		return snprintf(buf, size, "%" PRIu64 "\n", (uint64_t)v);
	}
}

static ssize_t do_write(struct nth_file *f, const void *ubuf, size_t count)
{
	char buf[40];
	size_t n = count < sizeof(buf) - 1 ? count : sizeof(buf) - 1;
	int64_t v;
	int rc;

	memcpy(buf, ubuf, n); /* a bad pointer faults, as a bad copy */
	buf[n] = 0;
	if (f->knob == NTH_KNOB_NONE) {
		rc = parse_num(buf, false, UINT32_MAX, &v);
		if (rc)
			return rc;
		shim_fail_nth = (unsigned int)v;
		return (ssize_t)count;
	}
	switch (knobs[f->knob].type) {
	case KNOB_BOOL:
		rc = parse_bool(buf, &v);
		break;
	case KNOB_S64:
		rc = parse_num(buf, true, INT64_MAX, &v);
		break;
	default:
		rc = parse_num(buf, false, UINT64_MAX, &v);
		break;
	}
	if (rc)
		return rc;
	*knob_slot(f->knob, f->dir) = v;
	return (ssize_t)count;
}

ssize_t shim_nth_rw(int fd, bool write, void *buf, size_t count, off_t pos)
{
	struct nth_file *f;
	char text[40];
	uint64_t at;
	ssize_t ret;
	int len;

	shim_sig_enter();
	pthread_mutex_lock(&nth_lock);
	f = lookup(fd);
	if (!f) {
		ret = -EBADF;
	} else if ((write && f->accmode == O_RDONLY) ||
		   (!write && f->accmode == O_WRONLY)) {
		ret = -EBADF;
	} else if (f->knob == NTH_KNOB_NONE && f->tid != sys_gettid()) {
		ret = -EPERM; /* another thread's fail-nth: not emulated */
	} else if (write) {
		ret = do_write(f, buf, count);
	} else {
		len = file_text(f, text, sizeof(text));
		at = pos >= 0 ? (uint64_t)pos : f->pos;
		if (at >= (uint64_t)len) {
			ret = 0;
		} else {
			ret = (ssize_t)((uint64_t)len - at);
			if ((size_t)ret > count)
				ret = (ssize_t)count;
			memcpy(buf, text + at, (size_t)ret);
		}
		if (pos < 0)
			f->pos = at + (uint64_t)ret;
	}
	pthread_mutex_unlock(&nth_lock);
	shim_sig_leave();
	if (ret < 0) {
		errno = (int)-ret;
		return -1;
	}
	return ret;
}
