// SPDX-License-Identifier: MIT
/*
 * uiommufd-run: run a program with an emulated /dev/iommu.
 *
 *   uiommufd-run [OPTIONS] [--] PROGRAM [ARGS...]
 *
 * It finds libuiommufd-preload.so, puts it in front of LD_PRELOAD (behind a
 * sanitizer runtime that must stay first), sets UIOMMUFD_ACTIVE=1 (and
 * UIOMMUFD_DEBUG for --debug) and runs the program in one of two modes
 * (--mode, or UIOMMUFD_MODE; default server):
 *
 *  - server: the launcher process becomes the uiommufd daemon
 *    (src/server/daemon.c) and runs the program as its child.  Every
 *    /dev/iommu the program or its descendants open is a connection to the
 *    daemon, so fds behave like kernel files across fork, dup, exec and
 *    SCM_RIGHTS.  The launcher forwards the signals sent to it to the
 *    program, reaps orphaned descendants (it is their subreaper), and when
 *    the program ends it stops the daemon and ends the same way: the same
 *    exit status, or the same signal.  The daemon listens on an abstract
 *    unix socket, so nothing is left in the file system even if the
 *    launcher is killed; the program dies with it (PR_SET_PDEATHSIG).
 *  - inprocess: the launcher execs the program in its own place; the
 *    preload library runs the engine inside each process (the state of an
 *    fd is then per process: a fork child works on a copy).
 *
 * Like env(1) and timeout(1) it exits 125 when it fails itself, 126 when
 * the program was found but could not be run, and 127 when it was not
 * found.
 *
 * The preload library is searched for, in order: --preload PATH; next to
 * this executable (the build tree: build/uiommufd-run beside
 * build/libuiommufd-preload.so); ../lib/uiommufd/ relative to it (an
 * installed prefix); ../LIBDIR/uiommufd relative to it when LIBDIR is
 * under PREFIX (UFD_LIBDIR_REL, e.g. lib/x86_64-linux-gnu/uiommufd: an
 * unpacked Debian package); UFD_LIBDIR, the directory it is installed to
 * (compiled in; default /usr/local/lib/uiommufd).
 *
 * The launcher itself is single-threaded until the daemon starts (after
 * the program is forked); from then on the main thread only waits for
 * signals (sigwaitinfo) and the daemon's threads serve clients.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "launcher/devspec.h"
#include "launcher/testbed.h"
#include "server/daemon.h"
#include "server/proto.h"
#include "uapi/dispatch.h"
#include "uapi/vfio.h"
#include "uiommufd.h"

#ifndef UFD_LIBDIR
#define UFD_LIBDIR "/usr/local/lib/uiommufd"
#endif
#ifndef UFD_VERSION
#define UFD_VERSION "0.1.0"
#endif

#define PRELOAD_NAME "libuiommufd-preload.so"

/* Exit statuses of the launcher itself, as env(1) and timeout(1) use them. */
enum {
	EXIT_FAILED = 125,     /* usage error, or the launcher failed */
	EXIT_CANNOT_RUN = 126, /* found but not executable */
	EXIT_NOT_FOUND = 127,  /* no such program */
};

static const char *prog_name = "uiommufd-run";

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: %s [OPTIONS] [--] PROGRAM [ARGS...]\n"
		"Run PROGRAM with an emulated /dev/iommu (and /dev/vfio/vfio).\n"
		"\n"
		"Options:\n"
		"  -d, --debug[=CATS]  trace intercepted calls to stderr\n"
		"                      (CATS: comma list of ioctl, fd, daemon;\n"
		"                      default all)\n"
		"  -m, --mode MODE     server (default: a daemon holds the state,\n"
		"                      fds behave like kernel files across\n"
		"                      processes) or inprocess (the engine runs in\n"
		"                      each process; faster, no fork semantics)\n"
		"      --kernel VER    behave as Linux VER where kernels differ:\n"
		"                      6.12 or 7.3 (default: 7.3, the newest;\n"
		"                      `uiommufd ioctls --kernel=VER` shows it)\n"
		"      --no-extensions answer the uiommufd extensions of /dev/iommu\n"
		"                      (uiommufd-extensions(7)) ENOTTY, as a kernel\n"
		"                      does\n"
		"      --pasid-capacity N  at most N PASIDs allocated from all\n"
		"                      PASID sets at once (the system-wide capacity\n"
		"                      of uiommufd-extensions(7); default: all)\n"
		"      --cap CAPS      grant emulated capabilities the process\n"
		"                      lacks (sys_resource, ipc_lock, all)\n"
		"      --device MODEL[,bdf=D:B:D.F][,group=N][,ARGS]\n"
		"                      an emulated PCI device bound to vfio-pci\n"
		"                      (repeatable; `uiommufd devices` lists\n"
		"                      the models); needs server mode\n"
		"      --preload PATH  use this preload library\n"
		"  -h, --help          show this help and exit\n"
		"      --version       show the version and exit\n"
		"\n"
		"Exit status: PROGRAM's own; 125 if %s fails, 126 if PROGRAM\n"
		"cannot be run, 127 if it is not found.\n",
		prog_name, prog_name);
}

__attribute__((format(printf, 1, 2)))
static void err_msg(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog_name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static bool readable_file(const char *path)
{
	return access(path, R_OK) == 0;
}

/*
 * The directory of this executable, into @buf.  False if /proc is not
 * there.
 */
static bool self_dir(char *buf, size_t size)
{
	ssize_t n = readlink("/proc/self/exe", buf, size - 1);
	char *slash;

	if (n <= 0 || (size_t)n >= size - 1)
		return false;
	buf[n] = 0;
	slash = strrchr(buf, '/');
	if (!slash)
		return false;
	*slash = 0;
	return true;
}

/* The absolute path of the preload library into @out, or false. */
static bool find_preload(const char *override, char *out, size_t size)
{
	char dir[PATH_MAX], cand[PATH_MAX + 64];

	if (override) {
		if (!realpath(override, out)) {
			err_msg("cannot use preload library %s: %s", override,
				strerror(errno));
			return false;
		}
		if (!readable_file(out)) {
			err_msg("cannot read preload library %s: %s", out,
				strerror(errno));
			return false;
		}
		return true;
	}
	if (self_dir(dir, sizeof(dir))) {
		snprintf(cand, sizeof(cand), "%s/" PRELOAD_NAME, dir);
		if (readable_file(cand) && realpath(cand, out))
			return true;
		snprintf(cand, sizeof(cand), "%s/../lib/uiommufd/" PRELOAD_NAME,
			 dir);
		if (readable_file(cand) && realpath(cand, out))
			return true;
#ifdef UFD_LIBDIR_REL
		/* LIBDIR relative to PREFIX (lib/<multiarch>/uiommufd). */
		snprintf(cand, sizeof(cand), "%s/../" UFD_LIBDIR_REL "/" PRELOAD_NAME,
			 dir);
		if (readable_file(cand) && realpath(cand, out))
			return true;
#endif
	}
	snprintf(cand, sizeof(cand), "%s/" PRELOAD_NAME, UFD_LIBDIR);
	if (readable_file(cand) && strlen(cand) < size) {
		strcpy(out, cand);
		return true;
	}
	err_msg("cannot find %s (next to this program, in ../lib/uiommufd, "
		"or in %s); use --preload PATH", PRELOAD_NAME, UFD_LIBDIR);
	return false;
}

/* Is @entry (an LD_PRELOAD item, @len bytes) a sanitizer runtime? */
static bool is_sanitizer(const char *entry, size_t len)
{
	static const char *const names[] = {
		"libasan", "libhwasan", "libtsan", "liblsan", "libubsan",
		"libclang_rt.asan", "libclang_rt.hwasan", "libclang_rt.tsan",
		"libclang_rt.lsan", "libclang_rt.ubsan", "libclang_rt.msan",
	};
	const char *base = entry;
	size_t i, blen, n;

	for (i = 0; i < len; i++)
		if (entry[i] == '/')
			base = entry + i + 1;
	blen = len - (size_t)(base - entry);
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		n = strlen(names[i]);
		if (blen >= n && !strncmp(base, names[i], n))
			return true;
	}
	return false;
}

/*
 * The new LD_PRELOAD: @lib first, except that a sanitizer runtime that is
 * first stays first (it must be the first object loaded).  Entries are
 * separated by ':' or blanks; @lib is not added twice.
 */
static char *build_preload(const char *lib, const char *old)
{
	static const char seps[] = ": \t";
	size_t liblen = strlen(lib), first_len;
	const char *p, *rest;
	char *out;

	if (!old)
		old = "";
	/* Already there (nested uiommufd-run): keep the list as it is. */
	for (p = old; *p;) {
		size_t n;

		p += strspn(p, seps);
		n = strcspn(p, seps);
		if (n == liblen && !strncmp(p, lib, n))
			return strdup(old);
		p += n;
	}
	out = malloc(strlen(old) + liblen + 2);
	if (!out)
		return NULL;
	p = old + strspn(old, seps);
	first_len = strcspn(p, seps);
	if (first_len && is_sanitizer(p, first_len)) {
		rest = p + first_len;
		rest += strspn(rest, seps);
		sprintf(out, "%.*s:%s%s%s", (int)first_len, p, lib,
			*rest ? ":" : "", rest);
	} else {
		sprintf(out, "%s%s%s", lib, *p ? ":" : "", p);
	}
	return out;
}

/* Does UIOMMUFD_DEBUG-style @cats ask for the daemon's trace? */
static bool debug_daemon(const char *cats)
{
	const char *p = cats;
	size_t n;

	if (!p)
		return false;
	while (*p) {
		n = strcspn(p, ",");
		if ((n == 1 && p[0] == '1') || (n == 3 && !strncmp(p, "all", 3)) ||
		    (n == 6 && !strncmp(p, "daemon", 6)))
			return true;
		p += n;
		if (*p)
			p++;
	}
	return false;
}

/* Exit status for a failed execvp with errno @err. */
static int exec_status(int err)
{
	return err == ENOENT || err == ENOTDIR ? EXIT_NOT_FOUND :
						 EXIT_CANNOT_RUN;
}

/* The emulated devices' sysfs tree (testbed.h), removed at the end. */
static char testbed_dir[PATH_MAX];

static void testbed_cleanup(void)
{
	if (testbed_dir[0])
		ufd_testbed_remove(testbed_dir);
	testbed_dir[0] = 0;
}

/*
 * SR-IOV: the VFs a write of sriov_numvfs makes or removes appear in the
 * tree (the machine's hooks, called from the daemon's threads under the
 * machine's lock).  A VF's BARs are shown below 0xf0000000, 256 MiB a PF's
 * worth of VFs, which the PFs' BARs (below 0xfe000000) never reach.
 */
static int sysfs_vf_add(void *arg, const char *pf_bdf, unsigned int index,
			const char *vf_bdf, unsigned int group,
			unsigned int cdev, struct ufd_pci_dev *vf)
{
	struct ufd_testbed_dev tb;

	(void)arg;
	if (!testbed_dir[0])
		return 0;
	ufd_devspec_describe(vf, vf_bdf, group, cdev,
			     0xf0000000ULL - (uint64_t)index * 0x00100000ULL,
			     &tb);
	return ufd_testbed_add_vf(testbed_dir, pf_bdf, index, &tb);
}

static void sysfs_vf_remove(void *arg, const char *pf_bdf, unsigned int index,
			    const char *vf_bdf, unsigned int group,
			    unsigned int cdev)
{
	(void)arg;
	if (testbed_dir[0])
		ufd_testbed_remove_vf(testbed_dir, pf_bdf, index, vf_bdf, group,
				      cdev);
}

static void sysfs_num_vfs(void *arg, const char *pf_bdf, unsigned int num_vfs)
{
	(void)arg;
	if (testbed_dir[0])
		ufd_testbed_set_num_vfs(testbed_dir, pf_bdf, num_vfs);
}

static const struct ufd_vfio_sysfs_ops sysfs_hooks = {
	.vf_add = sysfs_vf_add,
	.vf_remove = sysfs_vf_remove,
	.num_vfs = sysfs_num_vfs,
};

/* libumockdev's preload library, which shows the tree as /sys. */
static bool find_umockdev(char *out, size_t size)
{
	static const char *const dirs[] = {
		"/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu",
		"/usr/lib64", "/usr/lib", "/usr/local/lib",
	};
	const char *env = getenv("UIOMMUFD_UMOCKDEV_PRELOAD");
	unsigned int i;

	if (env && *env) {
		snprintf(out, size, "%s", env);
		return readable_file(out);
	}
	for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		snprintf(out, size, "%s/libumockdev-preload.so.0", dirs[i]);
		if (readable_file(out))
			return true;
	}
	return false;
}

/*
 * Set up the devices of --device: the sysfs tree, libumockdev behind our
 * preload library, and the environment the program and the daemon read.
 */
static bool setup_devices(struct ufd_devspecs *specs, bool server)
{
	struct ufd_testbed_dev *tb;
	char err[256], umock[PATH_MAX], *bdfs, *spec, *pre;
	const char *old;
	unsigned int i;
	int rc;

	if (!server) {
		err_msg("--device needs server mode: the devices live in the "
			"daemon");
		return false;
	}
	if (!ufd_devspec_finish(specs, err, sizeof(err))) {
		err_msg("%s", err);
		return false;
	}
	if (!find_umockdev(umock, sizeof(umock))) {
		err_msg("--device needs libumockdev's preload library "
			"(Debian: apt-get install libumockdev0), or "
			"UIOMMUFD_UMOCKDEV_PRELOAD=PATH");
		return false;
	}
	tb = calloc(specs->n, sizeof(*tb));
	if (!tb) {
		err_msg("out of memory");
		return false;
	}
	for (i = 0; i < specs->n; i++) {
		rc = ufd_devspec_testbed(specs, i, &tb[i]);
		if (rc) {
			err_msg("device %s: %s", specs->dev[i].model,
				strerror(-rc));
			free(tb);
			return false;
		}
	}
	rc = ufd_testbed_create(tb, specs->n, testbed_dir,
				sizeof(testbed_dir));
	free(tb);
	if (rc) {
		testbed_dir[0] = 0;
		err_msg("cannot make the sysfs tree: %s", strerror(-rc));
		return false;
	}
	atexit(testbed_cleanup);
	ufd_vfio_platform_set_sysfs(&sysfs_hooks, NULL);
	old = getenv("LD_PRELOAD");
	pre = malloc(strlen(old ? old : "") + strlen(umock) + 2);
	bdfs = ufd_devspec_bdfs(specs);
	spec = ufd_devspec_encode(specs);
	if (pre) {
		/* Ours first, so /dev/iommu and /dev/vfio stay ours. */
		strcpy(pre, old ? old : "");
		if (*pre)
			strcat(pre, ":");
		strcat(pre, umock);
	}
	if (!pre || !bdfs || !spec || setenv("LD_PRELOAD", pre, 1) ||
	    setenv("UMOCKDEV_DIR", testbed_dir, 1) ||
	    setenv("UIOMMUFD_DEVICES", bdfs, 1) ||
	    setenv("UIOMMUFD_DEVICE_SPEC", spec, 1)) {
		err_msg("cannot set up the environment: %s", strerror(errno));
		free(pre);
		free(bdfs);
		free(spec);
		return false;
	}
	free(pre);
	free(bdfs);
	free(spec);
	return true;
}

/* End the launcher the way the program ended (@status from waitpid). */
static int end_like(int status)
{
	struct rlimit no_core = { 0, 0 };
	int sig;

	testbed_cleanup();
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (!WIFSIGNALED(status))
		return EXIT_FAILED;
	sig = WTERMSIG(status);
	/* The program dumped core already; the launcher must not. */
	setrlimit(RLIMIT_CORE, &no_core);
	signal(sig, SIG_DFL);
	{
		sigset_t set;

		sigemptyset(&set);
		sigaddset(&set, sig);
		sigprocmask(SIG_UNBLOCK, &set, NULL);
	}
	kill(getpid(), sig);
	/* A signal whose default is not to terminate: report it as a shell. */
	return 128 + sig;
}

/* The signals the launcher forwards to the program, and SIGCHLD. */
static void supervised_signals(sigset_t *set)
{
	static const int sigs[] = { SIGCHLD, SIGINT, SIGTERM, SIGHUP, SIGQUIT,
				    SIGUSR1, SIGUSR2, SIGALRM, SIGWINCH,
				    SIGCONT, SIGPIPE };
	size_t i;

	sigemptyset(set);
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaddset(set, sigs[i]);
}

/*
 * Server mode: become the daemon and run @argv as a child.  Returns the
 * launcher's exit status (or does not return: the program's signal).
 */
static int run_server(char **argv, const struct ufd_daemon_config *cfg)
{
	sigset_t set, old;
	struct ufd_daemon *d;
	char pidbuf[32];
	int pipefd[2], rc, status = 0, err;
	pid_t launcher = getpid(), child, w;
	ssize_t n;

	rc = ufd_daemon_new(cfg, &d);
	if (rc) {
		err_msg("cannot start the daemon: %s", strerror(-rc));
		return EXIT_FAILED;
	}
	snprintf(pidbuf, sizeof(pidbuf), "%d", (int)launcher);
	if (setenv(UFD_ENV_SOCKET, ufd_daemon_address(d), 1) ||
	    setenv(UFD_ENV_DAEMON_PID, pidbuf, 1)) {
		err_msg("cannot set up the environment: %s", strerror(errno));
		return EXIT_FAILED;
	}
	if (pipe2(pipefd, O_CLOEXEC)) {
		err_msg("pipe: %s", strerror(errno));
		return EXIT_FAILED;
	}
	/* Orphaned descendants stay ours: reaped here, reachable by us. */
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	supervised_signals(&set);
	sigprocmask(SIG_BLOCK, &set, &old);

	child = fork();
	if (child < 0) {
		err_msg("fork: %s", strerror(errno));
		return EXIT_FAILED;
	}
	if (!child) {
		/* The program ends with the launcher, whatever kills it. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != launcher)
			_exit(EXIT_FAILED);
		close(pipefd[0]);
		sigprocmask(SIG_SETMASK, &old, NULL);
		execvp(argv[0], argv);
		err = errno;
		if (write(pipefd[1], &err, sizeof(err)) < 0) {
			/* the parent sees EOF and the status */
		}
		_exit(exec_status(err));
	}
	close(pipefd[1]);
	/* The daemon must never die of a client that went away. */
	signal(SIGPIPE, SIG_IGN);
	rc = ufd_daemon_start(d);
	if (rc) {
		err_msg("cannot start the daemon: %s", strerror(-rc));
		kill(child, SIGKILL);
	}
	do {
		n = read(pipefd[0], &err, sizeof(err));
	} while (n < 0 && errno == EINTR);
	close(pipefd[0]);
	if (n == sizeof(err))
		err_msg("cannot run %s: %s", argv[0], strerror(err));

	for (;;) {
		siginfo_t si;
		int sig = sigwaitinfo(&set, &si);

		if (sig < 0)
			continue;
		if (sig != SIGCHLD) {
			/*
			 * Forward what was sent to us; a signal the terminal
			 * sent reached the program's process group already.
			 */
			if (si.si_code != SI_KERNEL && sig != SIGPIPE)
				kill(child, sig);
			continue;
		}
		while ((w = waitpid(-1, &status, WNOHANG)) > 0)
			if (w == child)
				goto done;
		if (w < 0 && errno == ECHILD)
			break; /* cannot happen: the program is our child */
	}
done:
	ufd_daemon_stop(d);
	fflush(stdout);
	fflush(stderr);
	if (n == sizeof(err))
		return exec_status(err);
	if (rc)
		return EXIT_FAILED;
	return end_like(status);
}

/*
 * The server mode tunables the preload library and the daemon read from
 * the environment: a value they would ignore is an error here, with its
 * name, rather than a silent default.
 */
static bool check_tunables(void)
{
	static const char *const switches[] = {
		"UIOMMUFD_RING", "UIOMMUFD_PROCMAP_QUERY", "UIOMMUFD_STRICT_FDS",
		"UIOMMUFD_HANGUP_WATCH",
	};
	const char *v = getenv("UIOMMUFD_SPIN_US");
	unsigned long us;
	unsigned int i;
	char *end;

	if (v) {
		errno = 0;
		us = strtoul(v, &end, 10);
		if (!*v || *end || errno || us > 100000) {
			err_msg("UIOMMUFD_SPIN_US must be a number of "
				"microseconds from 0 to 100000, not '%s'", v);
			return false;
		}
	}
	for (i = 0; i < sizeof(switches) / sizeof(switches[0]); i++) {
		v = getenv(switches[i]);
		if (v && strcmp(v, "0") && strcmp(v, "1")) {
			err_msg("%s must be 0 or 1, not '%s'", switches[i], v);
			return false;
		}
	}
	return true;
}

/* --pasid-capacity N (also inherited as UIOMMUFD_PASID_CAPACITY). */
static bool parse_capacity(const char *text, struct ufd_daemon_config *cfg)
{
	unsigned long n;
	char *end;

	errno = 0;
	n = strtoul(text, &end, 10);
	if (errno || end == text || *end || *text == '-' || n > UFD_PASID_MAX) {
		err_msg("--pasid-capacity %s: not a number from 0 to %u", text,
			UFD_PASID_MAX);
		return false;
	}
	cfg->pasid_capacity = (uint32_t)n;
	cfg->pasid_capacity_set = true;
	return true;
}

int main(int argc, char **argv)
{
	enum {
		OPT_VERSION = 256, OPT_PRELOAD, OPT_CAP, OPT_DEVICE, OPT_KERNEL,
		OPT_NO_EXT,
		OPT_PASID_CAPACITY
	};
	static struct ufd_devspecs specs;
	char err[256];
	static const struct option longopts[] = {
		{ "debug", optional_argument, NULL, 'd' },
		{ "mode", required_argument, NULL, 'm' },
		{ "preload", required_argument, NULL, OPT_PRELOAD },
		{ "cap", required_argument, NULL, OPT_CAP },
		{ "device", required_argument, NULL, OPT_DEVICE },
		{ "kernel", required_argument, NULL, OPT_KERNEL },
		{ "no-extensions", no_argument, NULL, OPT_NO_EXT },
		{ "pasid-capacity", required_argument, NULL, OPT_PASID_CAPACITY },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, OPT_VERSION },
		{ NULL, 0, NULL, 0 },
	};
	const char *override = NULL, *debug = NULL, *caps = NULL;
	const char *kernel = getenv(UFD_ENV_KERNEL);
	const char *mode = getenv(UFD_ENV_MODE);
	struct ufd_daemon_config cfg = { 0 };
	char lib[PATH_MAX], capacity_text[16];
	char *preload;
	bool server;
	int opt;

	if (argc > 0 && argv[0] && argv[0][0]) {
		const char *slash = strrchr(argv[0], '/');

		prog_name = slash ? slash + 1 : argv[0];
	}
	/*
	 * "+": stop at the first non-option, which is PROGRAM; ":": report a
	 * missing argument apart from an unknown option.
	 */
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+:dhm:", longopts, NULL)) != -1) {
		switch (opt) {
		case 'd':
			debug = optarg && *optarg ? optarg : "1";
			break;
		case 'm':
			mode = optarg;
			break;
		case OPT_PRELOAD:
			override = optarg;
			break;
		case OPT_CAP:
			caps = optarg;
			break;
		case OPT_KERNEL:
			kernel = optarg;
			break;
		case OPT_NO_EXT:
			cfg.no_extensions = true;
			break;
		case OPT_PASID_CAPACITY:
			if (!parse_capacity(optarg, &cfg))
				return EXIT_FAILED;
			break;
		case OPT_DEVICE:
			if (!ufd_devspec_add(&specs, optarg, err, sizeof(err))) {
				err_msg("--device %s: %s", optarg, err);
				return EXIT_FAILED;
			}
			break;
		case 'h':
			usage(stdout);
			return fflush(stdout) ? EXIT_FAILED : 0;
		case OPT_VERSION:
			printf("%s %s\n", prog_name, UFD_VERSION);
			return fflush(stdout) ? EXIT_FAILED : 0;
		case ':':
			err_msg("option '%s' requires an argument",
				argv[optind - 1]);
			fprintf(stderr, "Try '%s --help' for more information.\n",
				prog_name);
			return EXIT_FAILED;
		default:
			if (optopt && optopt < 256)
				err_msg("invalid option -- '%c'", optopt);
			else
				err_msg("invalid option '%s'",
					argv[optind - 1]);
			fprintf(stderr, "Try '%s --help' for more information.\n",
				prog_name);
			return EXIT_FAILED;
		}
	}
	if (optind >= argc) {
		err_msg("no program given");
		fprintf(stderr, "Try '%s --help' for more information.\n",
			prog_name);
		return EXIT_FAILED;
	}
	if (!mode || !*mode || !strcmp(mode, "server")) {
		server = true;
	} else if (!strcmp(mode, "inprocess") || !strcmp(mode, "in-process")) {
		server = false;
	} else {
		err_msg("unknown mode '%s' (server or inprocess)", mode);
		return EXIT_FAILED;
	}

	if (!check_tunables())
		return EXIT_FAILED;
	/* As --kernel, the options' variables are inherited by nested runs. */
	if (!cfg.pasid_capacity_set && getenv(UFD_ENV_PASID_CAPACITY) &&
	    !parse_capacity(getenv(UFD_ENV_PASID_CAPACITY), &cfg))
		return EXIT_FAILED;
	snprintf(capacity_text, sizeof(capacity_text), "%u",
		 cfg.pasid_capacity);
	if (getenv(UFD_ENV_NO_EXT) && !strcmp(getenv(UFD_ENV_NO_EXT), "1"))
		cfg.no_extensions = true;
	else if (!cfg.no_extensions)
		unsetenv(UFD_ENV_NO_EXT);
	cfg.kernel = ufd_personality_find(kernel);
	if (!cfg.kernel) {
		const struct ufd_personality *k;
		char known[64] = "";
		unsigned int i;

		for (i = 0; (k = ufd_personality_at(i)); i++)
			snprintf(known + strlen(known),
				 sizeof(known) - strlen(known), "%s%s",
				 i ? ", " : "", k->name);
		err_msg("unknown kernel '%s' (known: %s)", kernel, known);
		return EXIT_FAILED;
	}

	if (!find_preload(override, lib, sizeof(lib)))
		return EXIT_FAILED;
	if (strpbrk(lib, ": \t")) {
		err_msg("the preload library path may not contain ':' or "
			"blanks: %s", lib);
		return EXIT_FAILED;
	}
	preload = build_preload(lib, getenv("LD_PRELOAD"));
	if (!preload || setenv("LD_PRELOAD", preload, 1) ||
	    setenv("UIOMMUFD_ACTIVE", "1", 1) ||
	    setenv(UFD_ENV_MODE, server ? "server" : "inprocess", 1) ||
	    setenv(UFD_ENV_KERNEL, cfg.kernel->name, 1) ||
	    (cfg.no_extensions && setenv(UFD_ENV_NO_EXT, "1", 1)) ||
	    (cfg.pasid_capacity_set &&
	     setenv(UFD_ENV_PASID_CAPACITY, capacity_text, 1)) ||
	    (debug && setenv("UIOMMUFD_DEBUG", debug, 1)) ||
	    (caps && setenv("UIOMMUFD_CAPS", caps, 1))) {
		err_msg("cannot set up the environment: %s", strerror(errno));
		return EXIT_FAILED;
	}
	free(preload);
	if (specs.n && !setup_devices(&specs, server))
		return EXIT_FAILED;

	if (server) {
		caps = getenv("UIOMMUFD_CAPS");
		cfg.cap_sys_resource = caps && (strstr(caps, "all") ||
						strstr(caps, "sys_resource"));
		cfg.cap_ipc_lock = caps && (strstr(caps, "all") ||
					    strstr(caps, "ipc_lock"));
		cfg.debug = debug_daemon(getenv("UIOMMUFD_DEBUG"));
		cfg.device_spec = getenv("UIOMMUFD_DEVICE_SPEC");
		/* Soak tests: the daemon checks the engine's invariants. */
		if (getenv("UIOMMUFD_SELF_CHECK_MS"))
			cfg.self_check_ms =
				(unsigned int)atoi(getenv("UIOMMUFD_SELF_CHECK_MS"));
		return run_server(argv + optind, &cfg);
	}
	unsetenv(UFD_ENV_SOCKET);
	unsetenv(UFD_ENV_DAEMON_PID);
	execvp(argv[optind], argv + optind);
	err_msg("cannot run %s: %s", argv[optind], strerror(errno));
	return exec_status(errno);
}
