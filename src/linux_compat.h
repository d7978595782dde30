/* SPDX-License-Identifier: MIT */
/*
 * Linux ABI constants that older C library headers lack, in one place:
 * the values are the kernel's (include/uapi), which never change.  Each
 * is defined only if the system's headers did not, so include this after
 * <sys/mman.h>, <fcntl.h>, <linux/close_range.h> or <sys/syscall.h>, as
 * the file needs them.  No state, no locking.
 */
#ifndef UFD_LINUX_COMPAT_H
#define UFD_LINUX_COMPAT_H

/* memfd_create(2) flags */
#ifndef MFD_CLOEXEC
#define MFD_CLOEXEC 0x0001U
#endif
#ifndef MFD_ALLOW_SEALING
#define MFD_ALLOW_SEALING 0x0002U
#endif
#ifndef MFD_HUGETLB
#define MFD_HUGETLB 0x0004U
#endif
#ifndef MFD_NOEXEC_SEAL
#define MFD_NOEXEC_SEAL 0x0008U
#endif

/* fcntl(2) file seals */
#ifndef F_ADD_SEALS
#define F_ADD_SEALS 1033
#endif
#ifndef F_GET_SEALS
#define F_GET_SEALS 1034
#endif
#ifndef F_SEAL_SEAL
#define F_SEAL_SEAL 0x0001
#endif
#ifndef F_SEAL_SHRINK
#define F_SEAL_SHRINK 0x0002
#endif
#ifndef F_SEAL_GROW
#define F_SEAL_GROW 0x0004
#endif

/* madvise(2), mmap(2), mremap(2) */
#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif
#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif
#ifndef MREMAP_DONTUNMAP
#define MREMAP_DONTUNMAP 4
#endif

/* close_range(2) */
#ifndef CLOSE_RANGE_UNSHARE
#define CLOSE_RANGE_UNSHARE (1U << 1)
#endif

/* x86-64 system call numbers (5.6) */
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif

#endif
