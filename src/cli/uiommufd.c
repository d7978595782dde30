// SPDX-License-Identifier: MIT
/*
 * uiommufd: the command-line tool for people.
 *
 *   uiommufd demo [LAUNCHER-OPTIONS]   run the bundled example under the
 *                                      launcher
 *   uiommufd dump                      build an address space in-process
 *                                      with the engine library and print it
 *   uiommufd ioctls                    print the command table
 *   uiommufd decode [NUMBER|NAME...]   name ioctl numbers; with no
 *                                      argument, annotate a trace on stdin
 *
 * `dump` is also the worked example of embedding the engine: it uses only
 * the public API of <uiommufd.h>, the way a device emulator or a
 * vfio-user server would.  `ioctls` and `decode` read the dispatch layer's
 * command table (the same table the emulated /dev/iommu runs on), so they
 * can never disagree with it.
 *
 * Exit status: 0 success, 1 failure, 2 usage error.  Single-threaded.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/iommufd.h>
#include <linux/iommufd_ext.h>
#include <linux/vfio.h>
#include "iommufd_test.h"

#include "uapi/dispatch.h"
#include "devices/pci.h"
#include "server/proto.h"
#include "server/wire.h"
#include "uiommufd.h"

#ifndef UFD_VERSION
#define UFD_VERSION "0.1.0"
#endif

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

static const char *prog = "uiommufd";

static void err_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void err_msg(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: %s COMMAND [ARGS...]\n"
		"A userspace iommufd (/dev/iommu): tools for people.\n"
		"\n"
		"Commands:\n"
		"  demo [OPTS]    run the bundled example (ioas-demo) under\n"
		"                 uiommufd-run; OPTS go to the launcher\n"
		"                 (e.g. --debug)\n"
		"  dump           build an address space in this process with\n"
		"                 the engine library and print it: areas,\n"
		"                 pages shared between IOAS, pins, domains\n"
		"  ioctls         print the command table: name, number,\n"
		"                 struct size, minimum size\n"
		"  decode [ARG..] name each ioctl NUMBER (or give the number\n"
		"                 of a NAME); with no ARG, read a trace (the\n"
		"                 launcher's --debug output, or strace's) on\n"
		"                 stdin and name the ioctls in it\n"
		"  devices        list the device models uiommufd-run\n"
		"                 --device MODEL can emulate\n"
		"\n"
		"Options:\n"
		"  -h, --help     show this help and exit\n"
		"  -V, --version  show the version and exit\n"
		"\n"
		"Exit status: 0 success, 1 failure, 2 usage error.\n"
		"See uiommufd(1) and uiommufd-run(1).\n",
		prog);
}

/* ---- small helpers ------------------------------------------------------- */

/* "64 KiB", "2 MiB", "3000 bytes": exact sizes only. */
static const char *fmt_size(uint64_t n, char *buf, size_t len)
{
	static const char *const units[] = { "bytes", "KiB", "MiB", "GiB",
					     "TiB" };
	unsigned int u = 0;

	while (u < 4 && n >= 1024 && !(n % 1024)) {
		n /= 1024;
		u++;
	}
	snprintf(buf, len, "%" PRIu64 " %s", n,
		 n == 1 && u == 0 ? "byte" : units[u]);
	return buf;
}

static const char *errname(int err)
{
	const char *s = strerrorname_np(err);

	return s ? s : "E?";
}

/* ---- demo ---------------------------------------------------------------- */

/* The directory this executable lives in, or "." if unknown. */
static void exe_dir(char *buf, size_t size)
{
	ssize_t n = readlink("/proc/self/exe", buf, size - 1);
	char *slash;

	if (n <= 0) {
		snprintf(buf, size, ".");
		return;
	}
	buf[n] = '\0';
	slash = strrchr(buf, '/');
	if (slash == buf)
		slash[1] = '\0';
	else if (slash)
		*slash = '\0';
}

/*
 * Find @name in the directories @rel (relative to the executable's),
 * store its path in @out.  Prints where it looked if not found.
 */
static bool find_next_to_exe(const char *name, const char *const *rel,
			     char *out, size_t size)
{
	char dir[PATH_MAX];
	unsigned int i;

	exe_dir(dir, sizeof(dir));
	for (i = 0; rel[i]; i++) {
		int n = snprintf(out, size, "%s/%s%s%s", dir, rel[i],
				 *rel[i] ? "/" : "", name);

		if (n > 0 && (size_t)n < size && !access(out, X_OK))
			return true;
	}
	err_msg("cannot find %s; looked in:", name);
	for (i = 0; rel[i]; i++)
		fprintf(stderr, "  %s/%s%s%s\n", dir, rel[i],
			*rel[i] ? "/" : "", name);
	fprintf(stderr, "  (in a source tree, build it with `make`)\n");
	return false;
}

static int cmd_demo(int argc, char **argv)
{
	/* The build tree first (build/uiommufd beside build/uiommufd-run),
	 * then an installed prefix (bin/ beside libexec/ and lib/). */
	static const char *const launcher_dirs[] = { "", "../bin", NULL };
	static const char *const example_dirs[] = { "examples", "",
						    "../libexec/uiommufd",
						    "../lib/uiommufd", NULL };
	char launcher[PATH_MAX], example[PATH_MAX];
	char **args;
	int i, n = 0;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			printf("Usage: %s demo [LAUNCHER-OPTIONS]\n"
			       "Run the bundled example, ioas-demo, under "
			       "uiommufd-run.\n"
			       "LAUNCHER-OPTIONS are passed to uiommufd-run, "
			       "e.g. --debug=ioctl.\n",
			       prog);
			return EXIT_OK;
		}
		if (argv[i][0] != '-' || !strcmp(argv[i], "--")) {
			err_msg("demo: unexpected argument '%s' (only "
				"launcher options are allowed)",
				argv[i]);
			return EXIT_USAGE;
		}
	}
	if (!find_next_to_exe("uiommufd-run", launcher_dirs, launcher,
			      sizeof(launcher)) ||
	    !find_next_to_exe("ioas-demo", example_dirs, example,
			      sizeof(example)))
		return EXIT_FAIL;

	args = calloc((size_t)argc + 3, sizeof(*args));
	if (!args) {
		err_msg("out of memory");
		return EXIT_FAIL;
	}
	args[n++] = launcher;
	for (i = 1; i < argc; i++)
		args[n++] = argv[i];
	args[n++] = "--";
	args[n++] = example;
	args[n] = NULL;
	fflush(stdout);
	execv(launcher, args);
	err_msg("cannot run %s: %s", launcher, strerror(errno));
	free(args);
	return EXIT_FAIL;
}

/* ---- ioctls and decode --------------------------------------------------- */

/*
 * iommufd commands the dispatch table may not handle yet; the table wins
 * where it has them.
 */
static const struct {
	unsigned long cmd;
	const char *name;
} iommufd_other[] = {
	{ IOMMU_IOAS_MAP_FILE, "IOMMU_IOAS_MAP_FILE" },
	{ IOMMU_VIOMMU_ALLOC, "IOMMU_VIOMMU_ALLOC" },
	{ IOMMU_VDEVICE_ALLOC, "IOMMU_VDEVICE_ALLOC" },
	{ IOMMU_IOAS_CHANGE_PROCESS, "IOMMU_IOAS_CHANGE_PROCESS" },
	{ IOMMU_VEVENTQ_ALLOC, "IOMMU_VEVENTQ_ALLOC" },
	{ IOMMU_HW_QUEUE_ALLOC, "IOMMU_HW_QUEUE_ALLOC" },
	{ IOMMU_IOAS_NOIOMMU_GET_PA, "IOMMU_IOAS_NOIOMMU_GET_PA" },
};

/*
 * VFIO ioctls share iommufd's type (';') below its range; the same number
 * means different things on a container, a group and a device fd.
 * `emulated` follows src/uapi/vfio_compat.c.
 */
static const struct {
	unsigned long cmd;
	const char *name;
	const char *fd; /* which kind of fd takes it */
	bool emulated;	/* handled on an emulated /dev/vfio/vfio */
} vfio_ioctls[] = {
// clang-format off
#define V(c, fd, emu) { c, #c, fd, emu }
	V(VFIO_GET_API_VERSION, "container", true),
	V(VFIO_CHECK_EXTENSION, "container", true),
	V(VFIO_SET_IOMMU, "container", true),
	V(VFIO_GROUP_GET_STATUS, "group", false),
	V(VFIO_GROUP_SET_CONTAINER, "group", false),
	V(VFIO_GROUP_UNSET_CONTAINER, "group", false),
	V(VFIO_GROUP_GET_DEVICE_FD, "group", false),
	V(VFIO_DEVICE_GET_INFO, "device", false),
	V(VFIO_DEVICE_GET_REGION_INFO, "device", false),
	V(VFIO_DEVICE_GET_IRQ_INFO, "device", false),
	V(VFIO_DEVICE_SET_IRQS, "device", false),
	V(VFIO_DEVICE_RESET, "device", false),
	V(VFIO_IOMMU_GET_INFO, "container", true),
	V(VFIO_DEVICE_GET_PCI_HOT_RESET_INFO, "device", false),
	V(VFIO_IOMMU_MAP_DMA, "container", true),
	V(VFIO_DEVICE_PCI_HOT_RESET, "device", false),
	V(VFIO_IOMMU_UNMAP_DMA, "container", true),
	V(VFIO_DEVICE_QUERY_GFX_PLANE, "device", false),
	V(VFIO_IOMMU_ENABLE, "container (sPAPR)", false),
	V(VFIO_DEVICE_GET_GFX_DMABUF, "device", false),
	V(VFIO_IOMMU_DISABLE, "container (sPAPR)", false),
	V(VFIO_DEVICE_IOEVENTFD, "device", false),
	V(VFIO_IOMMU_DIRTY_PAGES, "container", false),
	V(VFIO_DEVICE_FEATURE, "device", false),
	V(VFIO_DEVICE_BIND_IOMMUFD, "device (cdev)", false),
	V(VFIO_DEVICE_ATTACH_IOMMUFD_PT, "device (cdev)", false),
	V(VFIO_DEVICE_DETACH_IOMMUFD_PT, "device (cdev)", false),
#undef V
	// clang-format on
};

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static int cmd_ioctls(int argc, char **argv)
{
	const struct ufd_personality *kernel = ufd_personality_newest();
	const struct ufd_ioctl_desc *d;
	unsigned int i;
	int a;

	for (a = 1; a < argc; a++) {
		const char *arg = argv[a];

		if (!strcmp(arg, "-h") || !strcmp(arg, "--help")) {
			printf("Usage: %s ioctls [--kernel=6.12|7.3]\n"
			       "Print the iommufd command table of this "
			       "version, as the personality of the given\n"
			       "kernel (default: the newest) has it.\n",
			       prog);
			return EXIT_OK;
		}
		if (!strcmp(arg, "--kernel") && a + 1 < argc) {
			arg = argv[++a];
		} else if (!strncmp(arg, "--kernel=", 9)) {
			arg += 9;
		} else {
			err_msg("ioctls: unexpected argument '%s'", arg);
			return EXIT_USAGE;
		}
		kernel = ufd_personality_find(arg);
		if (!kernel) {
			err_msg("ioctls: unknown kernel '%s' (6.12 or 7.3)",
				arg);
			return EXIT_USAGE;
		}
	}
	printf("iommufd as Linux %s\n\n", kernel->name);
	printf("%-32s %-8s %5s %5s\n", "iommufd command", "number", "size",
	       "min");
	for (i = 0; (d = ufd_ioctl_at(i)); i++) {
		if (ufd_ioctl_has(d, kernel))
			printf("%-32s %#-8lx %5u %5u\n", d->name, d->cmd,
			       d->size, d->min_size);
		/* ufd_ioctl_at(i) skips holes: continue after this row. */
		i = _IOC_NR(d->cmd) - IOMMUFD_CMD_BASE;
	}
	printf("\niommufd commands this personality answers ENOTTY:\n");
	for (i = 0; (d = ufd_ioctl_at(i)); i++) {
		if (!ufd_ioctl_has(d, kernel))
			printf("%-32s %#lx (a later kernel's)\n", d->name,
			       d->cmd);
		i = _IOC_NR(d->cmd) - IOMMUFD_CMD_BASE;
	}
	for (i = 0; i < ARRAY_SIZE(iommufd_other); i++)
		if (!ufd_ioctl_lookup(iommufd_other[i].cmd))
			printf("%-32s %#lx\n", iommufd_other[i].name,
			       iommufd_other[i].cmd);
	printf("\nuiommufd extensions (<uiommufd/uapi/linux/iommufd_ext.h>, "
	       "type 'u';\nevery personality has them, a kernel and "
	       "uiommufd-run --no-extensions answer ENOTTY):\n");
	for (i = 0; (d = ufd_ext_ioctl_at(i)); i++) {
		printf("%-32s %#-8lx %5u %5u\n", d->name, d->cmd, d->size,
		       d->min_size);
		i = _IOC_NR(d->cmd) - UIOMMUFD_EXT_CMD_BASE;
	}
	printf("\nVFIO type1 container commands (/dev/vfio/vfio), handled:\n");
	for (i = 0; i < ARRAY_SIZE(vfio_ioctls); i++)
		if (vfio_ioctls[i].emulated)
			printf("%-32s %#lx\n", vfio_ioctls[i].name,
			       vfio_ioctls[i].cmd);
	return EXIT_OK;
}

/* Every name @cmd is known by, "A" or "A / B", into @buf; false if none. */
static bool ioctl_names(unsigned long cmd, char *buf, size_t size)
{
	const struct ufd_ioctl_desc *d = ufd_ioctl_lookup(cmd);
	size_t len = 0;
	unsigned int i;

	buf[0] = '\0';
	if (d) {
		snprintf(buf, size, "%s", d->name);
		return true;
	}
	for (i = 0; i < ARRAY_SIZE(iommufd_other); i++)
		if (iommufd_other[i].cmd == cmd) {
			snprintf(buf, size, "%s", iommufd_other[i].name);
			return true;
		}
	for (i = 0; i < ARRAY_SIZE(vfio_ioctls); i++) {
		if (vfio_ioctls[i].cmd != cmd)
			continue;
		len += (size_t)snprintf(buf + len, len < size ? size - len : 0,
					"%s%s", len ? " / " : "",
					vfio_ioctls[i].name);
	}
	return len != 0;
}

static const char *ioc_dir_name(unsigned int dir)
{
	switch (dir) {
	case _IOC_NONE:
		return "none (_IO)";
	case _IOC_READ:
		return "read (_IOR)";
	case _IOC_WRITE:
		return "write (_IOW)";
	case _IOC_READ | _IOC_WRITE:
		return "read|write (_IOWR)";
	}
	return "?";
}

/* Print everything known about ioctl number @cmd. */
static void decode_number(unsigned long cmd)
{
	const struct ufd_ioctl_desc *d = ufd_ioctl_lookup(cmd);
	unsigned int type = _IOC_TYPE(cmd), i;
	bool known = false;

	printf("%#lx:", cmd);
	if (d) {
		printf(" %s (%s; struct %u bytes, at least %u)", d->name,
		       _IOC_TYPE(cmd) == UIOMMUFD_EXT_TYPE ?
			       "uiommufd extension" : "iommufd",
		       d->size, d->min_size);
		known = true;
	}
	for (i = 0; !d && i < ARRAY_SIZE(iommufd_other); i++)
		if (iommufd_other[i].cmd == cmd) {
			printf(" %s (iommufd; not handled by this version)",
			       iommufd_other[i].name);
			known = true;
		}
	for (i = 0; i < ARRAY_SIZE(vfio_ioctls); i++)
		if (vfio_ioctls[i].cmd == cmd) {
			printf("%s %s (VFIO %s fd%s)", known ? " or" : "",
			       vfio_ioctls[i].name, vfio_ioctls[i].fd,
			       vfio_ioctls[i].emulated ? "; emulated" : "");
			known = true;
		}
	if (!known)
		printf(" not an iommufd or VFIO ioctl");
	printf("\n  _IOC fields: dir %s, type ", ioc_dir_name(_IOC_DIR(cmd)));
	if (isprint((int)type))
		printf("'%c' (%#x)", (int)type, type);
	else
		printf("%#x", type);
	printf(", nr %#x (%u), size %u\n", (unsigned int)_IOC_NR(cmd),
	       (unsigned int)_IOC_NR(cmd), (unsigned int)_IOC_SIZE(cmd));
}

/* The number of ioctl @name (any case, "IOMMU_" may be left out). */
static bool number_of_name(const char *name, unsigned long *cmd)
{
	const struct ufd_ioctl_desc *d;
	char full[96];
	unsigned int i, pass;

	for (pass = 0; pass < 2; pass++) {
		const char *want = name;

		if (pass == 1) {
			snprintf(full, sizeof(full), "IOMMU_%s", name);
			want = full;
		}
		for (i = 0; (d = ufd_ioctl_at(i)); i++) {
			if (!strcasecmp(d->name, want)) {
				*cmd = d->cmd;
				return true;
			}
			i = _IOC_NR(d->cmd) - IOMMUFD_CMD_BASE;
		}
		for (i = 0; (d = ufd_ext_ioctl_at(i)); i++) {
			if (!strcasecmp(d->name, want)) {
				*cmd = d->cmd;
				return true;
			}
			i = _IOC_NR(d->cmd) - UIOMMUFD_EXT_CMD_BASE;
		}
		for (i = 0; i < ARRAY_SIZE(iommufd_other); i++)
			if (!strcasecmp(iommufd_other[i].name, want)) {
				*cmd = iommufd_other[i].cmd;
				return true;
			}
		for (i = 0; i < ARRAY_SIZE(vfio_ioctls); i++)
			if (!strcasecmp(vfio_ioctls[i].name, want)) {
				*cmd = vfio_ioctls[i].cmd;
				return true;
			}
	}
	return false;
}

/* strace's "_IOC(_IOC_NONE, 0x3b, 0x81, 0)" at @s: the number, and its end. */
static bool parse_strace_ioc(const char *s, unsigned long *cmd,
			     const char **end)
{
	unsigned int type, nr, size, dir = 0;
	const char *p = s + strlen("_IOC(");
	int used = 0;

	while (*p == '_' || isalnum((unsigned char)*p) || *p == '|') {
		if (!strncmp(p, "_IOC_READ", 9)) {
			dir |= _IOC_READ;
			p += 9;
		} else if (!strncmp(p, "_IOC_WRITE", 10)) {
			dir |= _IOC_WRITE;
			p += 10;
		} else if (!strncmp(p, "_IOC_NONE", 9)) {
			p += 9;
		} else if (*p == '|') {
			p++;
		} else {
			return false;
		}
	}
	if (sscanf(p, " , %i , %i , %i )%n", &type, &nr, &size, &used) != 3 ||
	    !used)
		return false;
	*cmd = _IOC(dir, type, nr, size);
	*end = p + used;
	return true;
}

/* A hex number "0x..." at @s that stands alone: its value and end. */
static bool hex_token(const char *s, unsigned long *val, const char **end)
{
	char *e;

	if (s[0] != '0' || (s[1] != 'x' && s[1] != 'X') ||
	    !isxdigit((unsigned char)s[2]))
		return false;
	errno = 0;
	*val = strtoul(s, &e, 16);
	if (errno || isalnum((unsigned char)*e) || *e == '_')
		return false;
	*end = e;
	return true;
}

/*
 * Print @line with the ioctl numbers in it named.  The launcher's trace
 * shows "NAME 0xNUMBER", with "?" for a number outside the iommufd table
 * (the VFIO calls): the "?" is replaced by the name.  strace's
 * "_IOC(...)" and any other known number get a comment after them, unless
 * the line names them already.
 */
static void annotate_line(const char *line)
{
	const char *p = line;

	while (*p) {
		char names[160];
		unsigned long cmd;
		const char *end;

		if (!strncmp(p, "_IOC(", 5) &&
		    parse_strace_ioc(p, &cmd, &end)) {
			fwrite(p, 1, (size_t)(end - p), stdout);
			if (ioctl_names(cmd, names, sizeof(names)))
				printf(" /* %s */", names);
			p = end;
			continue;
		}
		if (!strncmp(p, "? 0x", 4) && hex_token(p + 2, &cmd, &end) &&
		    ioctl_names(cmd, names, sizeof(names))) {
			printf("%s ", names);
			fwrite(p + 2, 1, (size_t)(end - p - 2), stdout);
			p = end;
			continue;
		}
		if ((p == line || !isalnum((unsigned char)p[-1])) &&
		    hex_token(p, &cmd, &end)) {
			fwrite(p, 1, (size_t)(end - p), stdout);
			if (ioctl_names(cmd, names, sizeof(names)) &&
			    !strstr(line, names))
				printf(" /* %s */", names);
			p = end;
			continue;
		}
		putchar(*p++);
	}
}

static int decode_stream(FILE *in)
{
	char *line = NULL;
	size_t cap = 0;

	while (getline(&line, &cap, in) > 0)
		annotate_line(line);
	free(line);
	if (ferror(in)) {
		err_msg("decode: reading stdin: %s", strerror(errno));
		return EXIT_FAIL;
	}
	return EXIT_OK;
}

static int cmd_decode(int argc, char **argv)
{
	int i, rc = EXIT_OK;

	if (argc > 1 &&
	    (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		printf("Usage: %s decode [NUMBER|NAME...]\n"
		       "Name each ioctl NUMBER (hex, octal or decimal) and "
		       "show its _IOC fields;\n"
		       "give the number of each NAME.  With no argument or "
		       "'-', read a trace\n"
		       "on stdin (uiommufd-run --debug, or strace) and "
		       "name the ioctls in it.\n",
		       prog);
		return EXIT_OK;
	}
	if (argc == 1 || (argc == 2 && !strcmp(argv[1], "-")))
		return decode_stream(stdin);
	for (i = 1; i < argc; i++) {
		unsigned long cmd;
		char *end;

		errno = 0;
		cmd = strtoul(argv[i], &end, 0);
		if (!errno && end != argv[i] && !*end) {
			decode_number(cmd);
		} else if (number_of_name(argv[i], &cmd)) {
			decode_number(cmd);
		} else {
			err_msg("decode: '%s' is neither a number nor a "
				"known ioctl name",
				argv[i]);
			rc = EXIT_USAGE;
		}
	}
	return rc;
}

/* ---- dump: embedding the engine ------------------------------------------ */

/*
 * The device side of the dump: an access that pins one range at a time.
 * The engine calls unmap_cb before it unmaps IOVA that the access has
 * pinned; the owner must let go of those pins before returning.
 */
struct dump_device {
	struct ufd_ctx *ctx;
	uint32_t access_id;
	uint64_t pin_iova, pin_length; /* 0 length: nothing pinned */
};

static void dump_device_unmap(void *priv, uint64_t iova, uint64_t length)
{
	struct dump_device *dev = priv;

	if (!dev->pin_length || iova + length - 1 < dev->pin_iova ||
	    iova > dev->pin_iova + dev->pin_length - 1)
		return;
	printf("  [access %u: told IOVA 0x%" PRIx64 "..+0x%" PRIx64
	       " goes away; unpinning 0x%" PRIx64 "..+0x%" PRIx64 "]\n",
	       dev->access_id, iova, length, dev->pin_iova, dev->pin_length);
	ufd_access_unpin(dev->ctx, dev->access_id, dev->pin_iova,
			 dev->pin_length);
	dev->pin_length = 0;
}

static const struct ufd_access_ops dump_device_ops = {
	.unmap = dump_device_unmap,
};

/* Areas of every IOAS, gathered with ufd_ioas_for_each_area(). */
struct dump_area {
	uint32_t ioas_id;
	struct ufd_area_info info;
};

struct dump_state {
	struct ufd_engine *eng;
	struct ufd_ctx *ctx;
	struct ufd_source *src;
	struct ufd_cred cred;
	struct dump_area *areas;
	unsigned int nr_areas;
	uint32_t dev_id, hwpt_id, hwpt_ioas; /* the device and its domain */
};

struct collect_arg {
	struct dump_state *st;
	uint32_t ioas_id;
};

static int collect_area(void *arg, const struct ufd_area_info *info)
{
	struct collect_arg *ca = arg;
	struct dump_state *st = ca->st;
	struct dump_area *a;

	a = realloc(st->areas, (st->nr_areas + 1) * sizeof(*a));
	if (!a)
		return -ENOMEM;
	st->areas = a;
	a[st->nr_areas].ioas_id = ca->ioas_id;
	a[st->nr_areas].info = *info;
	st->nr_areas++;
	return 0;
}

/* The IO page sizes used over the whole IOAS (UIOMMUFD_PAGE_SIZES). */
static int dump_page_runs(struct dump_state *st, uint32_t ioas_id)
{
	struct ufd_page_run runs[16];
	char s1[32], s2[32];
	uint32_t n, k;
	int rc;

	rc = ufd_page_sizes_used(st->ctx, ioas_id, 0, UINT64_MAX, runs, 16,
				 &n);
	if (rc)
		return rc;
	printf("  IO pages used (extension), by IOVA:%s\n", n ? "" : " none");
	for (k = 0; k < n && k < 16; k++)
		printf("    [0x%012" PRIx64 ", 0x%012" PRIx64 "] %8s in %s "
		       "pages\n",
		       runs[k].start, runs[k].last,
		       fmt_size(runs[k].last - runs[k].start + 1, s1,
				sizeof(s1)),
		       fmt_size(runs[k].page_size, s2, sizeof(s2)));
	if (n > 16)
		printf("    ... %u runs in all\n", n);
	return 0;
}

/* Print one IOAS: usable ranges, options, domains, areas. */
static int dump_ioas(struct dump_state *st, uint32_t ioas_id)
{
	struct ufd_iova_range ranges[16];
	struct collect_arg ca;
	char s1[32], s2[32];
	uint32_t num, i, first;
	uint64_t align;
	bool huge;
	int rc;

	rc = ufd_ioas_iova_ranges(st->ctx, ioas_id, ranges, 16, &num, &align);
	if (!rc)
		rc = ufd_ioas_get_huge_pages(st->ctx, ioas_id, &huge);
	if (rc)
		return rc;
	printf("IOAS %u\n", ioas_id);
	printf("  usable IOVA (%u range%s, alignment %s):\n", num,
	       num == 1 ? "" : "s", fmt_size(align, s1, sizeof(s1)));
	for (i = 0; i < num && i < 16; i++)
		printf("    [0x%016" PRIx64 ", 0x%016" PRIx64 "]\n",
		       ranges[i].start, ranges[i].last);
	printf("  huge pages: %s\n", huge ? "allowed" : "disabled");
	if (st->hwpt_ioas == ioas_id) {
		uint64_t sizes[8], counts[8];
		unsigned int n, k;

		rc = ufd_hwpt_page_sizes(st->ctx, st->hwpt_id, sizes, counts,
					 8, &n);
		if (rc)
			return rc;
		printf("  domains: HWPT %u (automatic, device %u), IO page "
		       "sizes in use:", st->hwpt_id, st->dev_id);
		for (k = 0; k < n && k < 8; k++)
			printf(" %s x %" PRIu64, fmt_size(sizes[k], s1,
							  sizeof(s1)),
			       counts[k]);
		printf("%s\n", n ? "" : " none");
		rc = dump_page_runs(st, ioas_id);
		if (rc)
			return rc;
	} else {
		printf("  domains: none attached: mapping pinned nothing\n");
	}
	rc = ufd_ioas_reservations(st->ctx, ioas_id, ranges, 16, &num);
	if (rc)
		return rc;
	printf("  reservations (extension; automatic maps avoid them):%s\n",
	       num ? "" : " none");
	for (i = 0; i < num && i < 16; i++)
		printf("    [0x%016" PRIx64 ", 0x%016" PRIx64 "]\n",
		       ranges[i].start, ranges[i].last);

	first = st->nr_areas;
	ca.st = st;
	ca.ioas_id = ioas_id;
	rc = ufd_ioas_for_each_area(st->ctx, ioas_id, collect_area, &ca);
	if (rc)
		return rc;
	printf("  areas:\n");
	if (first == st->nr_areas)
		printf("    (none)\n");
	for (i = first; i < st->nr_areas; i++) {
		const struct ufd_area_info *a = &st->areas[i].info;

		printf("    IOVA [0x%012" PRIx64 ", 0x%012" PRIx64 "] %8s"
		       "  VA 0x%012" PRIx64 "  %c%c  pages #%u (%s pinned)",
		       a->iova, a->iova + a->length - 1,
		       fmt_size(a->length, s1, sizeof(s1)), a->uaddr,
		       a->flags & UFD_MAP_READ ? 'r' : '-',
		       a->flags & UFD_MAP_WRITE ? 'w' : '-', a->pages_id,
		       fmt_size(a->pinned_bytes, s2, sizeof(s2)));
		/* A map with an unmap granule (UIOMMUFD_IOAS_MAP_GRANULE). */
		if (a->granule)
			printf("  granule %s",
			       fmt_size(a->granule, s1, sizeof(s1)));
		printf("\n");
	}
	return 0;
}

/*
 * The pins of each page of [lo, hi): one character a page ('.' none, '+'
 * more than 9), or for more than 128 pages runs of one count ("1x544
 * .x16 1x464"), so a cut shows.
 */
static int print_pins(struct dump_state *st, uint64_t lo, uint64_t hi,
		      uint64_t page)
{
	uint64_t va, run = 0;
	bool rle = (hi - lo) / page > 128;
	char cur = 0;

	for (va = lo; va < hi; va += page) {
		unsigned int pins = 0;
		int rc = ufd_engine_page_pins(st->eng, st->src, va, &pins);
		char c;

		if (rc)
			return rc;
		c = pins == 0 ? '.' : pins > 9 ? '+' : (char)('0' + pins);
		if (!rle) {
			putchar(c);
			continue;
		}
		if (run && c != cur) {
			printf("%c" "x%" PRIu64 " ", cur, run);
			run = 0;
		}
		cur = c;
		run++;
	}
	if (rle && run)
		printf("%c" "x%" PRIu64, cur, run);
	return 0;
}

/* Print the pages objects: who maps each, and the pins of every page. */
static int dump_pages(struct dump_state *st)
{
	long page = sysconf(_SC_PAGESIZE);
	unsigned int i, j;
	char s1[32], s2[32];

	printf("pages objects (memory pinned once, shared by every area that "
	       "maps it):\n");
	for (i = 0; i < st->nr_areas; i++) {
		const struct ufd_area_info *a = &st->areas[i].info;
		uint64_t lo = a->uaddr, hi = a->uaddr + a->length;
		bool seen = false;
		int rc;

		for (j = 0; j < i; j++)
			if (st->areas[j].info.pages_id == a->pages_id)
				seen = true;
		if (seen)
			continue;
		for (j = i; j < st->nr_areas; j++) {
			const struct ufd_area_info *b = &st->areas[j].info;

			if (b->pages_id != a->pages_id)
				continue;
			if (b->uaddr < lo)
				lo = b->uaddr;
			if (b->uaddr + b->length > hi)
				hi = b->uaddr + b->length;
		}
		printf("  #%u  VA 0x%012" PRIx64 "..+%s, %s pinned; mapped by",
		       a->pages_id, lo, fmt_size(hi - lo, s1, sizeof(s1)),
		       fmt_size(a->pinned_bytes, s2, sizeof(s2)));
		for (j = i; j < st->nr_areas; j++)
			if (st->areas[j].info.pages_id == a->pages_id)
				printf(" IOAS %u@0x%" PRIx64,
				       st->areas[j].ioas_id,
				       st->areas[j].info.iova);
		printf("\n      pins per page: ");
		rc = print_pins(st, lo & ~((uint64_t)page - 1), hi,
				(uint64_t)page);
		if (rc)
			return rc;
		printf("\n");
	}
	return 0;
}

#define DUMP_RING_SIZE (64ULL * 1024)
#define DUMP_DATA_SIZE (256ULL * 1024)
#define DUMP_DATA_IOVA 0x100000ULL
#define DUMP_HOLE_LAST 0x1fffffULL
/* A map with an unmap granule (extension): 4 MiB in 2 MiB IO pages. */
#define DUMP_GRAN_SIZE (4ULL << 20)
#define DUMP_GRAN_IOVA (8ULL << 30)
#define DUMP_GRANULE (64ULL << 10)

/* Report a failed engine call and return its status. */
/* A PASID set (an extension): two PASIDs from a quota of four. */
/*
 * Registered memory (extension): 64 KiB registered once, then mapped by
 * an IOAS of this context and one of a second context, each with a
 * device attached: one pin per page, one charge.
 */
static int dump_mem_register(struct dump_state *st)
{
	const uint64_t len = 64 * 1024;
	struct ufd_device_info dinfo = {
		.aperture_start = 0,
		.aperture_last = (1ULL << 48) - 1,
		.pgsize_bitmap = 4ULL << 10,
	};
	struct ufd_mem_reg_info info;
	struct ufd_ctx *ctx2 = NULL;
	struct ufd_ctx *ctxs[2];
	uint32_t reg, ioas[2], dev, pt;
	unsigned int pins = 0, i;
	uint64_t before, iova;
	char s1[32], s2[32], s3[32], s4[32];
	uint8_t *buf;
	int rc;

	buf = mmap(NULL, len, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED)
		return -ENOMEM;
	before = ufd_engine_pinned_bytes_user(st->eng, st->cred.uid);
	rc = ufd_ctx_open(st->eng, &st->cred, &ctx2);
	if (!rc)
		rc = ufd_mem_register(st->ctx, st->src, (uintptr_t)buf, len,
				      UFD_MAP_WRITE, &reg);
	ctxs[0] = st->ctx;
	ctxs[1] = ctx2;
	for (i = 0; !rc && i != 2; i++) {
		iova = 1ULL << 40;
		rc = ufd_ioas_alloc(ctxs[i], &ioas[i]);
		if (!rc)
			rc = ufd_device_bind(ctxs[i], &dinfo, &dev);
		pt = ioas[i];
		if (!rc)
			rc = ufd_device_attach(ctxs[i], dev, &pt);
		if (!rc)
			rc = ufd_ioas_map(ctxs[i], ioas[i], st->src,
					  (uintptr_t)buf, len, &iova,
					  UFD_MAP_READ | UFD_MAP_WRITE |
						  UFD_MAP_FIXED_IOVA);
	}
	if (!rc)
		rc = ufd_mem_reg_info(st->ctx, reg, &info);
	if (!rc)
		rc = ufd_engine_page_pins(st->eng, st->src, (uintptr_t)buf,
					  &pins);
	if (!rc) {
		printf("registered memory %u (extension): VA 0x%012" PRIx64
		       "..+%s, mapped by %u areas (IOAS %u, and IOAS %u of a "
		       "second context)\n"
		       "  %s pinned once (pins per page: %u), %s charged once "
		       "(to %s %u; %s more in all)\n",
		       reg, info.uaddr, fmt_size(info.length, s1, sizeof(s1)),
		       info.nr_maps, ioas[0], ioas[1],
		       fmt_size(info.pinned_bytes, s2, sizeof(s2)), pins,
		       fmt_size(info.charged_bytes, s3, sizeof(s3)),
		       info.account == 2 ? "pid" :
		       info.account == 1 ? "uid" : "nobody: CAP_IPC_LOCK, uid",
		       info.account == 2 ? (unsigned int)info.pid :
					   (unsigned int)info.uid,
		       fmt_size(ufd_engine_pinned_bytes_user(st->eng,
							     st->cred.uid) -
					before,
				s4, sizeof(s4)));
		printf("  unregister while mapped: %s\n",
		       strerror(-ufd_mem_unregister(st->ctx, reg)));
	}
	if (ctx2)
		ufd_ctx_close(ctx2);
	munmap(buf, len);
	return rc;
}

static int dump_pasid_set(struct dump_state *st)
{
	struct ufd_pasid_set_info info;
	uint32_t set, pasids[4], num, i;
	int rc;

	rc = ufd_pasid_set_alloc(st->ctx, 1, 255, 4, &set);
	for (i = 0; !rc && i != 2; i++)
		rc = ufd_pasid_alloc(st->ctx, set, 0, &pasids[i]);
	if (!rc)
		rc = ufd_pasid_set_info(st->ctx, set, &info);
	if (!rc)
		rc = ufd_pasid_set_list(st->ctx, set, pasids, 4, &num);
	if (rc)
		return rc;
	printf("PASID set %u (extension): PASIDs [%u, %u], quota %u, "
	       "allocated:", set, info.first, info.last, info.quota);
	for (i = 0; i != num && i != 4; i++)
		printf(" %u", pasids[i]);
	printf("\n  system-wide: %u of %u PASIDs allocated\n",
	       info.sys_allocated, info.sys_capacity);
	return 0;
}

static int dump_fail(const char *call, int rc)
{
	err_msg("dump: %s failed: %s (%s)", call, strerror(-rc), errname(-rc));
	return EXIT_FAIL;
}

/*
 * The embedding example.  Everything below goes through <uiommufd.h>:
 * an engine, a context on it (what one open of /dev/iommu is), this
 * process's memory as the source, two IOAS, and an access playing the
 * device.
 */
/*
 * dump --machine: the emulated devices and groups of the launcher this
 * runs under (server mode), as its daemon describes them.
 */
static int dump_machine(void)
{
	const char *addr = getenv(UFD_ENV_SOCKET);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct ufd_msg m;
	static char text[65536];
	socklen_t len;
	size_t n;
	int fd, one = 1, rc;

	if (!addr || !*addr || strlen(addr) >= sizeof(sa.sun_path)) {
		err_msg("dump --machine: not under uiommufd-run in server mode "
			"(run: uiommufd-run --device ioat -- uiommufd dump "
			"--machine)");
		return EXIT_FAIL;
	}
	n = strlen(addr);
	memcpy(sa.sun_path, addr, n);
	if (addr[0] == '@')
		sa.sun_path[0] = 0;
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n +
			  (addr[0] == '@' ? 0 : 1));
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) ||
	    connect(fd, (struct sockaddr *)&sa, len)) {
		err_msg("dump --machine: cannot reach the daemon: %s",
			strerror(errno));
		if (fd >= 0)
			close(fd);
		return EXIT_FAIL;
	}
	ufd_wire_init(&m, UFD_MSG_DESCRIBE);
	m.nonce = (uint64_t)getpid() << 32 | 0x64756d70; /* this image */
	m.arg = (uintptr_t)text;
	m.cmd = sizeof(text);
	rc = ufd_wire_send(fd, &m, -1);
	if (!rc)
		rc = ufd_wire_recv(fd, &m, NULL, NULL, NULL) == 1 &&
		     m.type == UFD_MSG_RESULT ? 0 : -EPROTO;
	close(fd);
	if (!rc && m.ret < 0)
		rc = (int)m.ret;
	if (rc) {
		err_msg("dump --machine: %s", strerror(-rc));
		return EXIT_FAIL;
	}
	printf("The emulated machine (the daemon's):\n%s", text);
	return fflush(stdout) ? EXIT_FAIL : EXIT_OK;
}

static int cmd_dump(int argc, char **argv)
{
	struct dump_state st = { 0 };
	struct dump_device dev = { 0 };
	uint32_t ioas1 = 0, ioas2 = 0, reader = 0;
	uint64_t ring_iova = 0, data_iova = DUMP_DATA_IOVA, copy_iova = 0;
	uint64_t unmapped;
	char msg[] = "hello from the device", got[sizeof(msg)];
	char *ring = MAP_FAILED, *data = MAP_FAILED, *gran_area = MAP_FAILED;
	uint64_t gran_iova = DUMP_GRAN_IOVA;
	char *gran;
	void *hosts[2];
	char s1[32], s2[32];
	int rc, ret = EXIT_FAIL;

	if (argc > 1) {
		if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
			printf("Usage: %s dump [--machine]\n"
			       "Build an address space in this process with "
			       "the engine library\n"
			       "(<uiommufd.h>) and print it.  --machine: under "
			       "uiommufd-run --device,\n"
			       "print the emulated devices and groups (open, "
			       "bound, attached to).\n",
			       prog);
			return EXIT_OK;
		}
		if (!strcmp(argv[1], "--machine") && argc == 2)
			return dump_machine();
		err_msg("dump: unexpected argument '%s'", argv[1]);
		return EXIT_USAGE;
	}

	/* An engine, a context (one "open of /dev/iommu"), our memory. */
	st.eng = ufd_engine_new();
	st.src = ufd_source_local();
	if (!st.eng || !st.src) {
		err_msg("dump: out of memory");
		goto out;
	}
	ufd_cred_self(&st.cred);
	rc = ufd_ctx_open(st.eng, &st.cred, &st.ctx);
	if (rc) {
		ret = dump_fail("ufd_ctx_open", rc);
		goto out;
	}

	ring = mmap(NULL, DUMP_RING_SIZE, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	data = mmap(NULL, DUMP_DATA_SIZE, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	/* 2 MiB aligned, so the domain can use 2 MiB IO pages for it. */
	gran_area = mmap(NULL, DUMP_GRAN_SIZE + (2ULL << 20), PROT_READ |
			 PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (ring == MAP_FAILED || data == MAP_FAILED ||
	    gran_area == MAP_FAILED) {
		err_msg("dump: mmap: %s", strerror(errno));
		goto out;
	}
	gran = (char *)(((uintptr_t)gran_area + (2ULL << 20) - 1) &
			~(uintptr_t)((2ULL << 20) - 1));

	printf("Built in this process through the engine API (<uiommufd.h>):\n"
	       "  a first IOAS: a %s ring at an automatic IOVA, %s of data at "
	       "IOVA 0x%llx,\n"
	       "    and a device (4 KiB, 2 MiB and 1 GiB IO pages) attached: "
	       "its domain,\n"
	       "    and a reservation of IOVA [4 GiB, 5 GiB) (an extension: "
	       "uiommufd-extensions(7))\n"
	       "  a second IOAS: IOVA [0, 0x%llx] reserved, the data copied in "
	       "(pages shared)\n"
	       "  an access on the first pins two pages of the data and writes "
	       "into them\n"
	       "  on the first, 4 MiB mapped with an unmap granule of 64 KiB "
	       "(an extension)\n"
	       "    at IOVA 0x%llx, then one granule unmapped out of its "
	       "middle\n\n",
	       fmt_size(DUMP_RING_SIZE, s1, sizeof(s1)),
	       fmt_size(DUMP_DATA_SIZE, s2, sizeof(s2)), DUMP_DATA_IOVA,
	       DUMP_HOLE_LAST, DUMP_GRAN_IOVA);

	/* IOAS 1: two mappings of our own memory. */
	rc = ufd_ioas_alloc(st.ctx, &ioas1);
	if (rc) {
		ret = dump_fail("ufd_ioas_alloc", rc);
		goto out;
	}
	rc = ufd_ioas_map(st.ctx, ioas1, st.src, (uintptr_t)ring,
			  DUMP_RING_SIZE, &ring_iova,
			  UFD_MAP_READ | UFD_MAP_WRITE);
	if (rc) {
		ret = dump_fail("ufd_ioas_map(ring)", rc);
		goto out;
	}
	rc = ufd_ioas_map(st.ctx, ioas1, st.src, (uintptr_t)data,
			  DUMP_DATA_SIZE, &data_iova,
			  UFD_MAP_READ | UFD_MAP_WRITE | UFD_MAP_FIXED_IOVA);
	if (rc) {
		ret = dump_fail("ufd_ioas_map(data)", rc);
		goto out;
	}

	/*
	 * A device whose IOMMU has 4 KiB, 2 MiB and 1 GiB IO pages: attaching
	 * it gives IOAS 1 a domain, filled from the mappings (pinned now).
	 */
	{
		struct ufd_device_info info = {
			.aperture_start = 0,
			.aperture_last = (1ULL << 48) - 1,
			.pgsize_bitmap = (4ULL << 10) | (2ULL << 20) |
					 (1ULL << 30),
		};

		rc = ufd_device_bind(st.ctx, &info, &st.dev_id);
		if (rc) {
			ret = dump_fail("ufd_device_bind", rc);
			goto out;
		}
		st.hwpt_id = ioas1;
		rc = ufd_device_attach(st.ctx, st.dev_id, &st.hwpt_id);
		if (rc) {
			ret = dump_fail("ufd_device_attach", rc);
			goto out;
		}
		st.hwpt_ioas = ioas1;
	}

	/*
	 * A map with an unmap granule (an extension): 2 MiB IO pages, yet any
	 * 64 KiB of it unmaps later; the superpage around the cut is split
	 * in place.
	 */
	rc = ufd_ioas_map_granule(st.ctx, ioas1, st.src, (uintptr_t)gran,
				  DUMP_GRAN_SIZE, &gran_iova,
				  UFD_MAP_READ | UFD_MAP_WRITE |
					  UFD_MAP_FIXED_IOVA,
				  DUMP_GRANULE);
	if (rc) {
		ret = dump_fail("ufd_ioas_map_granule", rc);
		goto out;
	}
	rc = ufd_ioas_unmap(st.ctx, ioas1, gran_iova + (2ULL << 20) +
			    DUMP_GRANULE, DUMP_GRANULE, &unmapped);
	if (rc) {
		ret = dump_fail("ufd_ioas_unmap(granule)", rc);
		goto out;
	}

	/* A guest's window, kept from automatic maps (an extension). */
	rc = ufd_ioas_reserve_iova(st.ctx, ioas1, 1ULL << 32, 1ULL << 30);
	if (rc) {
		ret = dump_fail("ufd_ioas_reserve_iova", rc);
		goto out;
	}

	/* IOAS 2: a hole (as a device's aperture would make), then a copy. */
	rc = ufd_ioas_alloc(st.ctx, &ioas2);
	if (rc) {
		ret = dump_fail("ufd_ioas_alloc", rc);
		goto out;
	}
	rc = ufd_ioas_reserve(st.ctx, ioas2, 0, DUMP_HOLE_LAST);
	if (rc) {
		ret = dump_fail("ufd_ioas_reserve", rc);
		goto out;
	}
	rc = ufd_ioas_copy(st.ctx, ioas2, ioas1, data_iova, DUMP_DATA_SIZE,
			   &copy_iova, UFD_MAP_READ | UFD_MAP_WRITE);
	if (rc) {
		ret = dump_fail("ufd_ioas_copy", rc);
		goto out;
	}

	/*
	 * The device: pin two pages and write through the pointers the pin
	 * returns (the fast DMA path), and write the ring by copy.
	 */
	dev.ctx = st.ctx;
	rc = ufd_access_create(st.ctx, ioas1, &dump_device_ops, &dev,
			       &dev.access_id);
	if (rc) {
		ret = dump_fail("ufd_access_create", rc);
		goto out;
	}
	rc = ufd_access_pin(st.ctx, dev.access_id, data_iova + 0x4000, 0x2000,
			    true, hosts);
	if (rc) {
		ret = dump_fail("ufd_access_pin", rc);
		goto out;
	}
	dev.pin_iova = data_iova + 0x4000;
	dev.pin_length = 0x2000;
	memcpy(hosts[0], msg, sizeof(msg));
	rc = ufd_access_rw(st.ctx, dev.access_id, ring_iova, msg, sizeof(msg),
			   UFD_ACCESS_RW_WRITE);
	if (rc) {
		ret = dump_fail("ufd_access_rw(write)", rc);
		goto out;
	}
	if (memcmp(data + 0x4000, msg, sizeof(msg)) ||
	    memcmp(ring, msg, sizeof(msg))) {
		err_msg("dump: the device's writes are not in our memory");
		goto out;
	}

	/* A second access, without pins, reads IOAS 2's copy. */
	rc = ufd_access_create(st.ctx, ioas2, NULL, NULL, &reader);
	if (rc) {
		ret = dump_fail("ufd_access_create", rc);
		goto out;
	}
	memset(got, 0, sizeof(got));
	rc = ufd_access_rw(st.ctx, reader, copy_iova + 0x4000, got, sizeof(got),
			   0);
	if (rc) {
		ret = dump_fail("ufd_access_rw(read)", rc);
		goto out;
	}
	if (memcmp(got, msg, sizeof(msg))) {
		err_msg("dump: IOAS %u does not see the data IOAS %u maps",
			ioas2, ioas1);
		goto out;
	}

	rc = dump_ioas(&st, ioas1);
	if (!rc)
		rc = dump_ioas(&st, ioas2);
	if (rc) {
		ret = dump_fail("ufd_ioas_for_each_area", rc);
		goto out;
	}
	printf("accesses:\n"
	       "  access %u on IOAS %u: pins IOVA 0x%" PRIx64 "..+0x%" PRIx64
	       " (a pinning access makes the IOVA alignment page size)\n"
	       "  access %u on IOAS %u: reads and writes only\n",
	       dev.access_id, ioas1, dev.pin_iova, dev.pin_length, reader,
	       ioas2);
	rc = dump_pages(&st);
	if (rc) {
		ret = dump_fail("ufd_engine_page_pins", rc);
		goto out;
	}
	rc = dump_pasid_set(&st);
	if (rc) {
		ret = dump_fail("ufd_pasid_set", rc);
		goto out;
	}
	rc = dump_mem_register(&st);
	if (rc) {
		ret = dump_fail("ufd_mem_register", rc);
		goto out;
	}
	printf("memory charged to RLIMIT_MEMLOCK: %s (uid %u)%s\n",
	       fmt_size(ufd_engine_pinned_bytes_user(st.eng, st.cred.uid), s1,
			sizeof(s1)),
	       (unsigned int)st.cred.uid,
	       st.cred.cap_ipc_lock ? ", none: CAP_IPC_LOCK" : "");
	printf("device wrote \"%s\" into the pinned page (VA %p) and the "
	       "ring (VA %p);\n"
	       "IOAS %u reads it at IOVA 0x%" PRIx64 "\n\n",
	       msg, (void *)(data + 0x4000), (void *)ring, ioas2,
	       copy_iova + 0x4000);

	/* Unmapping pinned IOVA tells the device first. */
	printf("ufd_ioas_unmap(IOAS %u, IOVA 0x%" PRIx64 ", %s):\n", ioas1,
	       data_iova, fmt_size(DUMP_DATA_SIZE, s1, sizeof(s1)));
	rc = ufd_ioas_unmap(st.ctx, ioas1, data_iova, DUMP_DATA_SIZE,
			    &unmapped);
	if (rc) {
		ret = dump_fail("ufd_ioas_unmap", rc);
		goto out;
	}
	printf("  %s unmapped; IOAS %u still maps the pages, nobody pins "
	       "them: %s charged\n",
	       fmt_size(unmapped, s1, sizeof(s1)), ioas2,
	       fmt_size(ufd_engine_pinned_bytes_user(st.eng, st.cred.uid), s2,
			sizeof(s2)));
	rc = ufd_engine_check(st.eng);
	if (rc) {
		ret = dump_fail("ufd_engine_check", rc);
		goto out;
	}
	printf("engine invariants: ok\n");
	ret = EXIT_OK;
out:
	/* Closing the context destroys every object and releases every pin. */
	if (st.ctx)
		ufd_ctx_close(st.ctx);
	if (st.src)
		ufd_source_put(st.src);
	ufd_engine_free(st.eng);
	free(st.areas);
	if (ring != MAP_FAILED)
		munmap(ring, DUMP_RING_SIZE);
	if (data != MAP_FAILED)
		munmap(data, DUMP_DATA_SIZE);
	if (gran_area != MAP_FAILED)
		munmap(gran_area, DUMP_GRAN_SIZE + (2ULL << 20));
	return ret;
}

/* ---- devices ------------------------------------------------------------- */

/* The device models `uiommufd-run --device MODEL` can put behind VFIO. */
static int cmd_devices(int argc, char **argv)
{
	const struct ufd_pci_model *m;

	if (argc > 1) {
		fprintf(stderr, "%s: devices takes no argument\n", prog);
		return 2;
	}
	printf("%-8s %-9s %-8s %s\n", "MODEL", "ID", "CLASS", "DESCRIPTION");
	for (m = ufd_pci_model_next(NULL); m; m = ufd_pci_model_next(m))
		printf("%-8s %04x:%04x %06x   %s\n", m->name, m->vendor_id,
		       m->device_id, m->class_code & 0xffffff, m->description);
	return fflush(stdout) ? 1 : 0;
}

/* ---- main ---------------------------------------------------------------- */

static const struct {
	const char *name;
	int (*fn)(int argc, char **argv);
} commands[] = {
	{ "demo", cmd_demo },
	{ "dump", cmd_dump },
	{ "ioctls", cmd_ioctls },
	{ "decode", cmd_decode },
	{ "devices", cmd_devices },
};

int main(int argc, char **argv)
{
	unsigned int i;

	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") ||
	    !strcmp(argv[1], "help")) {
		usage(stdout);
		return EXIT_OK;
	}
	if (!strcmp(argv[1], "-V") || !strcmp(argv[1], "--version")) {
		printf("%s %s\n", prog, UFD_VERSION);
		return EXIT_OK;
	}
	for (i = 0; i < ARRAY_SIZE(commands); i++)
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].fn(argc - 1, argv + 1);
	err_msg("unknown command '%s' (try '%s --help')", argv[1], prog);
	return EXIT_USAGE;
}
