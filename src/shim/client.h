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

#include "uapi/dispatch.h"

/* Server mode is on (UIOMMUFD_MODE=server with a daemon address). */
bool shim_srv_enabled(void);

/*
 * open() of an emulated node (a file of @kind, number @index): the new fd
 * (recorded in the fd table) or -errno.
 */
int shim_srv_open(int flags, enum ufd_fd_kind kind, uint32_t index);

/*
 * ioctl() on @fd, one of the daemon's files, whose identity the fd table
 * recorded as (@dev, @ino) (0, 0: unknown; proto.h, "The shared ring").
 */
long shim_srv_ioctl(int fd, uint64_t dev, uint64_t ino, unsigned long cmd,
		    uint64_t arg);

/*
 * read() or write() on @fd, one of the daemon's files (identity as for
 * shim_srv_ioctl); pread()/pwrite() when @pos is not NULL.  @fault: a fault queue, whose doorbells a read
 * drains first.
 */
long shim_srv_rw(int fd, uint64_t dev, uint64_t ino, bool write, bool fault,
		 uint64_t buf, uint64_t count, const uint64_t *pos);

/*
 * Is @fd a socket whose other end the daemon holds (an emulated file that
 * arrived behind the fd table's back: SCM_RIGHTS, exec)?
 */
bool shim_srv_is_daemon_fd(int fd);

/* mmap() of the daemon's file @fd: where it lands (region, offset). */
int shim_srv_mmap(int fd, uint64_t off, uint64_t len, int prot,
		  unsigned int *region, uint64_t *region_off);

/*
 * Tell the daemon that the mmap of [off, off + len) of its file @fd now
 * occupies [addr, addr + len) (BAR_MAPPED), or that whatever was mapped
 * at [addr, addr + len) is gone (BAR_UNMAPPED).  One round trip on a
 * channel of the pool, no lock, errno kept: callable where mmio is.
 */
int shim_srv_bar_mapped(int fd, uint64_t off, uint64_t len, int prot,
			uint64_t addr);
int shim_srv_bar_unmapped(uint64_t addr, uint64_t len);

/*
 * One MMIO access of @size bytes at @off of region @region, through the
 * daemon's file @fd (identity (@dev, @ino)): *@val is written, or gets
 * what is read.  0 or
 * -errno.  Async-signal-safe (the MMIO trap calls it from its handler).
 */
int shim_srv_mmio(int fd, uint64_t dev, uint64_t ino, unsigned int region,
		  uint64_t off, unsigned int size, bool write, uint64_t *val);

/* What the daemon's file @fd is: an enum ufd_fd_kind, or -errno. */
int shim_srv_file_kind(int fd);
/*
 * Bytes the daemon's engine has pinned on behalf of @pid: *@pinned as
 * VmPin counts them, *@locked the per-process (RLIMIT_MODE 1) part of
 * VmLck.  0 or -errno.
 */
int shim_srv_accounting(pid_t pid, uint64_t *pinned, uint64_t *locked);

/* fork(): the child gets no channel of the parent and a new nonce. */
void shim_srv_atfork_child(void);

#endif
