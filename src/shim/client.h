/* SPDX-License-Identifier: MIT */
/*
 * The preload library's side of server mode (client.c): calls to the
 * uiommufd daemon over the protocol of src/server/proto.h.
 *
 * Every function returns a value >= 0 or a negative errno, and leaves
 * errno as it found it.
 */
#ifndef UFD_SHIM_CLIENT_H
#define UFD_SHIM_CLIENT_H

#include <stdbool.h>
#include <stdint.h>

/* Server mode is on (UIOMMUFD_MODE=server with a daemon address). */
bool shim_srv_enabled(void);

/* open() of /dev/iommu: the new fd (recorded in the fd table) or -errno. */
int shim_srv_open(int flags);

/* ioctl() on @fd, one of the daemon's files. */
long shim_srv_ioctl(int fd, unsigned long cmd, uint64_t arg);

/* read() or write() on @fd, a fault queue of the daemon. */
long shim_srv_fault_rw(int fd, bool write, uint64_t buf, uint64_t count);

/*
 * Is @fd a socket whose other end the daemon holds (an emulated file that
 * arrived behind the fd table's back: SCM_RIGHTS, exec)?
 */
bool shim_srv_is_daemon_fd(int fd);

/* What the daemon's file @fd is: an enum ufd_fd_kind, or -errno. */
int shim_srv_file_kind(int fd);

/* fork(): the child gets no channel of the parent and a new nonce. */
void shim_srv_atfork_child(void);

#endif
