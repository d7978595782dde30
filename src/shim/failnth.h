/* SPDX-License-Identifier: MIT */
/*
 * The kernel's fault-injection files, emulated for the emulated calls
 * (failnth.c): /proc/<self>/task/<own tid>/fail-nth (also reached as
 * /proc/thread-self/fail-nth) and the debugfs knobs of failslab and
 * fail_page_alloc.  A thread's armed count is thread-local
 * (shim_fail_nth); the emulated calls of that thread consume it, in this
 * process (shim_nth_begin/end around the engine call) or in the daemon
 * (client.c carries it in the request and takes back what is left).
 * Locking: the table of open files has its own leaf lock (failnth.c).
 */
#ifndef UFD_SHIM_FAILNTH_H
#define UFD_SHIM_FAILNTH_H

#include <stdbool.h>
#include <sys/types.h>

/* The calling thread's fail-nth: 0 off, N the Nth allocation fails. */
extern __thread unsigned int shim_fail_nth;

/* In-process: arm the engine with the thread's count around one call. */
void shim_nth_begin(void);
void shim_nth_end(void);

/* Might @base (a path's last name) be one of the emulated files? */
bool shim_nth_name(const char *base);
/*
 * Does the normalized absolute path @norm name one of the emulated files?
 * Then *@handled, and the new fd or -1 with errno; else errno is kept.
 */
int shim_nth_open_abs(const char *norm, int flags, bool *handled);

/* Is @fd one of ours (cheap when none is open)? */
bool shim_nth_is_fd(int fd);
/* read/write/pread/pwrite (@pos >= 0) on one of ours. */
ssize_t shim_nth_rw(int fd, bool write, void *buf, size_t count, off_t pos);
/* @fd is closed, or its number was reused by a pass-through call. */
void shim_nth_forget(int fd);

void shim_nth_atfork_prepare(void);
void shim_nth_atfork_parent(void);
void shim_nth_atfork_child(void);

#endif
