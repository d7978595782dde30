/* SPDX-License-Identifier: MIT */
/*
 * /proc/PID/status with the engine's pinned memory in VmPin and VmLck
 * (src/shim/procstatus.c has the model).
 */
#ifndef UFD_SHIM_PROCSTATUS_H
#define UFD_SHIM_PROCSTATUS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* Is @path "/proc/self/status" or "/proc/PID/status"?  Then *@pid. */
bool shim_status_path(const char *path, pid_t *pid);
/*
 * A new fd (a memfd at position 0; close-on-exec if @flags has O_CLOEXEC)
 * with the content of @path, @pinned bytes added to VmPin and @locked to
 * VmLck.  -errno on failure (the real open's, if that failed).
 */
int shim_status_fd(const char *path, int flags, uint64_t pinned,
		   uint64_t locked);

#endif
