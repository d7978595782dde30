/* SPDX-License-Identifier: MIT */
/*
 * The remote memory source (src/engine/source_remote.c): the address space
 * of another process, for the daemon of server mode.  See the top of
 * source_remote.c for the model.  Not part of the public engine API.
 */
#ifndef UFD_SERVER_SOURCE_REMOTE_H
#define UFD_SERVER_SOURCE_REMOTE_H

#include <stdbool.h>
#include <sys/types.h>

#include "uiommufd.h"

/*
 * A source for the address space process @pid has now.  @pidfd (a pidfd
 * of @pid, taken over by the source) tells when the process is gone.
 * Returned with one reference; NULL (errno set) on failure, and then the
 * caller still owns @pidfd.
 */
struct ufd_source *ufd_source_remote(pid_t pid, int pidfd);

/*
 * Is the address space still there?  False once the process has exited
 * or the source was retired.  Pinned memory stays reachable either way.
 */
bool ufd_source_remote_alive(struct ufd_source *src);

/*
 * Find @src's mappings by reading /proc/PID/maps whole, as on a kernel
 * without PROCMAP_QUERY (before 6.11), instead of asking per mapping: the
 * daemon does it for UIOMMUFD_PROCMAP_QUERY=0, so that tests cover both.
 */
void ufd_source_remote_read_maps_file(struct ufd_source *src);

/* The process replaced its address space (execve): treat it as gone. */
void ufd_source_remote_retire(struct ufd_source *src);

/*
 * This thread now serves a request of the process behind @src (NULL: no
 * longer).  Copies to and from it then skip the liveness check.
 */
void ufd_source_remote_set_caller(struct ufd_source *src);

/*
 * A way to reach the caller's memory other than process_vm_readv/writev:
 * copy up to @len bytes between the caller's @uaddr and @buf (@store: to
 * the caller), from the start.  The bytes done (fewer than @len: the rest
 * is left to the system calls), or -EFAULT (the caller's memory faulted:
 * the copy's answer).
 */
typedef long (*ufd_caller_xfer_fn)(void *ctx, uint64_t uaddr, void *buf,
				   size_t len, bool store);

/*
 * While this thread serves the caller set above, copies of its memory
 * that are not in a daemon mapping go through @fn first (NULL: none).
 */
void ufd_source_remote_set_caller_xfer(ufd_caller_xfer_fn fn, void *ctx);

/* The process this source reaches. */
pid_t ufd_source_remote_pid(struct ufd_source *src);

/* Is @src a remote source? */
bool ufd_source_is_remote(const struct ufd_source *src);

/* Pages currently pinned through @src that live in daemon mappings. */
unsigned long ufd_source_remote_mapped_pages(struct ufd_source *src);

#endif
