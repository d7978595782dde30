/* SPDX-License-Identifier: MIT */
/*
 * Shared anonymous memory as memfds (shm.c), for server mode: so that the
 * daemon can map, and so pin, the very pages the program shares with its
 * fork children.
 */
#ifndef UFD_SHIM_SHM_H
#define UFD_SHIM_SHM_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

typedef void *(*shim_mmap_fn)(void *, size_t, int, int, int, off_t);

/* Is this mmap() one that shm.c takes over (MAP_SHARED|MAP_ANONYMOUS)? */
static inline bool shim_shm_wants(int flags)
{
	/* MAP_SHARED 0x01, MAP_SHARED_VALIDATE 0x03, MAP_ANONYMOUS 0x20. */
	return (flags & 0x20) && ((flags & 0x03) == 0x01 ||
				  (flags & 0x03) == 0x03);
}

/*
 * mmap() of shared anonymous memory: the same mapping, backed by a memfd
 * that is sealed against shrinking and kept open (close-on-exec) while
 * mapped.  Falls back to @real with the original arguments when that
 * cannot be done, so the result is never worse than the plain call.
 */
void *shim_shm_mmap(shim_mmap_fn real, void *addr, size_t len, int prot,
		    int flags, int fd, off_t off);

/* No region recorded: munmap()/mremap()'s fast test. */
bool shim_shm_empty(void);

/* [addr, addr + len) was unmapped. */
void shim_shm_unmapped(void *addr, size_t len);

/* mremap() moved or resized [old, old + oldlen) to [new, new + newlen). */
void shim_shm_remapped(void *old, size_t oldlen, void *new_addr,
		       size_t newlen, int flags);

void shim_shm_atfork_prepare(void);
void shim_shm_atfork_parent(void);
void shim_shm_atfork_child(void);

#endif
