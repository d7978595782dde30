/* SPDX-License-Identifier: MIT */
/*
 * /proc/PID/status as a program under the library sees it: the real file,
 * with the memory that uiommufd's engine has pinned on behalf of process
 * PID added where the kernel's iommufd would have counted it: VmPin (the
 * mm's pinned_vm, which iommufd raises in the per-user and per-process
 * accounting modes) and VmLck (locked_vm, raised in the per-process mode,
 * IOMMU_OPTION_RLIMIT_MODE 1).  Everything else, and the order and
 * format of the lines, is the kernel's.  docs/memory-sources.md
 * ("Accounting") says why this is done rather than mlock().
 *
 * The answer is a snapshot in a memfd (as the kernel's status is built at
 * open), read from position 0.  The library's wrappers call it only for
 * paths that name a status file and only when there is something to add.
 *
 * No locking: nothing here is shared.  The real file is read with raw
 * system calls (the library never calls its own wrappers).
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "shim/procstatus.h"

bool shim_status_path(const char *path, pid_t *pid)
{
	const char *p;
	char *end;
	long v;

	if (!path || strncmp(path, "/proc/", 6))
		return false;
	p = path + 6;
	if (!strcmp(p, "self/status")) {
		*pid = getpid();
		return true;
	}
	if (!isdigit((unsigned char)*p))
		return false;
	errno = 0;
	v = strtol(p, &end, 10);
	if (errno || v <= 0 || v > INT32_MAX || strcmp(end, "/status"))
		return false;
	*pid = (pid_t)v;
	return true;
}

/* Add @kib to the number of a "Tag:\t   N kB" line at @line (length @len). */
static size_t fix_line(const char *line, size_t len, uint64_t kib, char *out,
		       size_t room)
{
	const char *colon = memchr(line, ':', len);
	unsigned long long v;
	int n;

	if (!colon || sscanf(colon + 1, "%llu", &v) != 1)
		goto copy;
	/* The kernel's layout: the tag, then the value right-aligned in 8. */
	n = snprintf(out, room, "%.*s%8llu kB\n", (int)(colon + 1 - line),
		     line, v + (unsigned long long)kib);
	if (n > 0 && (size_t)n < room)
		return (size_t)n;
copy:
	if (len > room)
		len = room;
	memcpy(out, line, len);
	return len;
}

int shim_status_fd(const char *path, int flags, uint64_t pinned,
		   uint64_t locked)
{
	size_t cap = 8192, len = 0, olen = 0, i = 0;
	char *in, *out;
	long n;
	int fd, mfd;

	fd = (int)syscall(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	in = malloc(cap);
	out = malloc(2 * cap);
	if (!in || !out) {
		syscall(SYS_close, fd);
		free(in);
		free(out);
		return -ENOMEM;
	}
	while ((n = syscall(SYS_read, fd, in + len, cap - len)) > 0) {
		len += (size_t)n;
		if (len == cap)
			break; /* status is far smaller; keep what we have */
	}
	syscall(SYS_close, fd);
	while (i < len) {
		const char *line = in + i, *nl = memchr(line, '\n', len - i);
		size_t l = nl ? (size_t)(nl - line) + 1 : len - i;

		if (l > 6 && !strncmp(line, "VmPin:", 6))
			olen += fix_line(line, l, pinned >> 10, out + olen,
					 2 * cap - olen);
		else if (l > 6 && !strncmp(line, "VmLck:", 6))
			olen += fix_line(line, l, locked >> 10, out + olen,
					 2 * cap - olen);
		else if (l <= 2 * cap - olen) {
			/* out has room: in is at most cap, two lines grow. */
			memcpy(out + olen, line, l);
			olen += l;
		}
		i += l;
	}
	free(in);
	mfd = memfd_create("uiommufd-status",
			   (flags & O_CLOEXEC) ? MFD_CLOEXEC : 0);
	if (mfd < 0) {
		free(out);
		return -errno;
	}
	for (i = 0; i < olen; i += (size_t)n) {
		n = syscall(SYS_write, mfd, out + i, olen - i);
		if (n <= 0) {
			free(out);
			syscall(SYS_close, mfd);
			return -EIO;
		}
	}
	free(out);
	lseek(mfd, 0, SEEK_SET);
	return mfd;
}
