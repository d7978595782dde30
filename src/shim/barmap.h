/* SPDX-License-Identifier: MIT */
/*
 * Mappings of emulated files (barmap.c): a VFIO device's BAR that the
 * program mmaps is address space reserved PROT_NONE and trapped
 * (mmio_trap.h), whose loads and stores become MMIO requests to the
 * daemon, which owns the device (server mode).  A vIOMMU's page of a
 * /dev/iommu fd is mapped the same way, in process too
 * (shim_bar_mmap_local: the engine of this process answers).
 *
 * A mapping keeps its own copy of the device fd for as long as it exists,
 * as the kernel's vma keeps its file: the program may close its fd.
 * Every function preserves errno unless it fails.
 */
#ifndef UFD_SHIM_BARMAP_H
#define UFD_SHIM_BARMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "shim/shm.h"
#include "shim/mmio_trap.h"

/*
 * mmap() of the daemon's file @fd: MAP_FAILED with errno on failure
 * (EINVAL for MAP_PRIVATE or a region that cannot be mapped, ENODEV for a
 * file without mappings), else the trapped address.
 */
void *shim_bar_mmap(shim_mmap_fn real_mmap, mmio_trap_sigaction_fn real_sa,
		    void *addr, size_t len, int prot, int flags, int fd,
		    off_t off);

/*
 * The same in process, for @file (a /dev/iommu context of this process):
 * the engine answers where it lands and each access; the mapping holds
 * what it maps busy (ufd_file_map_get) and a context reference.
 */
struct ufd_file;
void *shim_bar_mmap_local(shim_mmap_fn real_mmap,
			  mmio_trap_sigaction_fn real_sa, void *addr,
			  size_t len, int prot, int flags,
			  const struct ufd_file *file, off_t off);

/* [addr, addr + len) is no longer what it was (munmap, MAP_FIXED). */
void shim_bar_unmapped(void *addr, size_t len);

/* No trapped mapping exists: munmap's fast test. */
bool shim_bar_empty(void);

#endif
