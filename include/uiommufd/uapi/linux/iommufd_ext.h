/* SPDX-License-Identifier: MIT */
/*
 * uiommufd extensions of /dev/iommu: the design ideas of the iommufd
 * discussion that Linux never took (uiommufd-extensions(7) tells which
 * message asked for each, and what the kernel does instead).
 *
 * The extension space.  Every command here has the ioctl type byte
 * UIOMMUFD_EXT_TYPE ('u'), never iommufd's IOMMUFD_TYPE (';'), so no
 * present or future upstream iommufd (or VFIO) command can have the same
 * number: upstream's numbers all carry ';'.  A real kernel answers every
 * one of them ENOTTY (its iommufd compares the full number, and the
 * numbers here lie past its table), and so does uiommufd under
 * `uiommufd-run --no-extensions`.  A program probes with
 * UIOMMUFD_EXT_QUERY, which lists the extensions and their versions.
 *
 * The structs follow iommufd's rules exactly: the first __u32 is the size
 * the caller filled; a size below the first version's is EINVAL; bytes
 * past what the implementation knows must be zero (else E2BIG); flags and
 * __reserved fields it does not know are EOPNOTSUPP.  A struct may grow at
 * its end in a later version, which bumps the extension's version.
 *
 * IOVA intervals are [start, last], last inclusive, as in iommufd.h.
 */
#ifndef _UIOMMUFD_IOMMUFD_EXT_H
#define _UIOMMUFD_IOMMUFD_EXT_H

#include <linux/types.h>
#include <linux/ioctl.h>

#define UIOMMUFD_EXT_TYPE 'u'
#define UIOMMUFD_EXT_CMD_BASE 0xc0

enum {
	UIOMMUFD_CMD_EXT_QUERY = UIOMMUFD_EXT_CMD_BASE,
	UIOMMUFD_CMD_PAGE_SIZES,
	UIOMMUFD_CMD_QUERY_ATTACH,
	UIOMMUFD_CMD_IOAS_SET_MIN_APERTURE,
	UIOMMUFD_CMD_IOAS_RESERVE,
	UIOMMUFD_CMD_IOAS_UNRESERVE,
	UIOMMUFD_CMD_IOAS_RESERVATIONS,
	UIOMMUFD_CMD_IOAS_MAP_HINT,
	UIOMMUFD_CMD_IOAS_MAP_GRANULE,
	UIOMMUFD_CMD_IOAS_COPY_RESV,
	/* PASID sets: numbered apart, so other extensions can take 0xc8.. */
	UIOMMUFD_CMD_PASID_SET_ALLOC = UIOMMUFD_EXT_CMD_BASE + 0x10,
	UIOMMUFD_CMD_PASID_ALLOC,
	UIOMMUFD_CMD_PASID_FREE,
	UIOMMUFD_CMD_PASID_SET_INFO,
	UIOMMUFD_CMD_PASID_SET_ATTACH,
};

/* The extensions, as UIOMMUFD_EXT_QUERY names them. */
enum uiommufd_ext_id {
	UIOMMUFD_EXT_ID_QUERY = 1,        /* UIOMMUFD_EXT_QUERY itself */
	UIOMMUFD_EXT_ID_PAGE_SIZES = 2,   /* UIOMMUFD_PAGE_SIZES */
	UIOMMUFD_EXT_ID_QUERY_ATTACH = 3, /* UIOMMUFD_QUERY_ATTACH */
	UIOMMUFD_EXT_ID_MIN_APERTURE = 4, /* UIOMMUFD_IOAS_SET_MIN_APERTURE */
	UIOMMUFD_EXT_ID_RESERVE = 5,      /* RESERVE, UNRESERVE, RESERVATIONS */
	UIOMMUFD_EXT_ID_MAP_HINT = 6,     /* UIOMMUFD_IOAS_MAP_HINT */
	UIOMMUFD_EXT_ID_PASID_SET = 7,    /* PASID_SET_ALLOC, PASID_ALLOC,
					     PASID_FREE, PASID_SET_INFO */
	UIOMMUFD_EXT_ID_PASID_SET_ATTACH = 8, /* UIOMMUFD_PASID_SET_ATTACH */
};

/**
 * struct uiommufd_ext_info - one extension (UIOMMUFD_EXT_QUERY's entries)
 * @id: enum uiommufd_ext_id
 * @version: 1 for the first version; a larger number for each later one
 * @nr_cmds: entries of @cmds in use
 * @__reserved: 0
 * @cmds: the full ioctl numbers of its commands
 * @name: its name, NUL terminated ("reserve")
 */
struct uiommufd_ext_info {
	__u32 id;
	__u32 version;
	__u32 nr_cmds;
	__u32 __reserved;
	__u32 cmds[4];
	char name[32];
};

/**
 * struct uiommufd_ext_query - UIOMMUFD_EXT_QUERY
 * @size: sizeof(struct uiommufd_ext_query)
 * @flags: 0
 * @num_exts: in: room in @exts; out: the number of extensions
 * @entry_size: in: the size of one entry of the caller's @exts (at least
 *              offsetofend of @version, at most 4096); out: sizeof(struct
 *              uiommufd_ext_info) of this implementation.  min(in, out)
 *              bytes of each entry are written.
 * @exts: user pointer to an array of @num_exts entries
 *
 * Lists the extensions this /dev/iommu has, lowest id first.  If there are
 * more than @num_exts, the first @num_exts are written, @num_exts is set
 * to the total and the call fails with EMSGSIZE (as
 * IOMMU_IOAS_IOVA_RANGES).  @num_exts 0 asks for the count only.
 */
struct uiommufd_ext_query {
	__u32 size;
	__u32 flags;
	__u32 num_exts;
	__u32 entry_size;
	__aligned_u64 exts;
};
#define UIOMMUFD_EXT_QUERY _IO(UIOMMUFD_EXT_TYPE, UIOMMUFD_CMD_EXT_QUERY)

/**
 * struct uiommufd_page_run - IOVA mapped with one IO page size
 * @start: first IOVA
 * @last: last IOVA (inclusive)
 * @page_size: the size of the IO page table leaves that map it
 */
struct uiommufd_page_run {
	__aligned_u64 start;
	__aligned_u64 last;
	__aligned_u64 page_size;
};

/**
 * struct uiommufd_page_sizes - UIOMMUFD_PAGE_SIZES
 * @size: sizeof(struct uiommufd_page_sizes)
 * @flags: 0
 * @pt_id: an IOAS or a paging HWPT
 * @num_runs: in: room in @runs; out: the number of runs
 * @iova: first IOVA of the range asked about
 * @length: its length in bytes (not 0)
 * @runs: user pointer to an array of @num_runs struct uiommufd_page_run
 *
 * The IO page sizes actually used to map [@iova, @iova + @length): maximal
 * runs of consecutive IOVA mapped by leaves of one size, clipped to the
 * range, in IOVA order.  Unmapped IOVA is in no run.  For a HWPT, the
 * leaves of its IO page table; for an IOAS, at each IOVA the smallest
 * leaf any of its paging HWPTs uses there (the granularity the IOAS has
 * there), and nothing where no HWPT mirrors it.  More runs than
 * @num_runs: the first ones are written, @num_runs gets the total and the
 * call fails with EMSGSIZE.  ENOENT: @pt_id is neither; EINVAL: @length 0;
 * EOVERFLOW: the range wraps.
 */
struct uiommufd_page_sizes {
	__u32 size;
	__u32 flags;
	__u32 pt_id;
	__u32 num_runs;
	__aligned_u64 iova;
	__aligned_u64 length;
	__aligned_u64 runs;
};
#define UIOMMUFD_PAGE_SIZES _IO(UIOMMUFD_EXT_TYPE, UIOMMUFD_CMD_PAGE_SIZES)

/* Why UIOMMUFD_QUERY_ATTACH says an attach would be refused. */
enum uiommufd_attach_refusal {
	UIOMMUFD_ATTACH_OK = 0,
	UIOMMUFD_ATTACH_CUTS_MAPPING = 1,   /* a mapping lies in @conflict */
	UIOMMUFD_ATTACH_CUTS_ALLOWED = 2,   /* an allowed range does */
	UIOMMUFD_ATTACH_CUTS_RESERVATION = 3, /* a user reservation does */
	UIOMMUFD_ATTACH_ALIGNMENT = 4,      /* a mapping is misaligned for
					       the device's IO page size */
	UIOMMUFD_ATTACH_PAGE_SIZE = 5,      /* IO page above a CPU page */
	UIOMMUFD_ATTACH_MIN_APERTURE = 6,   /* the minimum aperture is lost */
	UIOMMUFD_ATTACH_MIN_PAGE_SIZES = 7, /* a required page size missing */
	UIOMMUFD_ATTACH_DOMAIN = 8,         /* other (a domain refuses it) */
};

/**
 * struct uiommufd_query_attach - UIOMMUFD_QUERY_ATTACH
 * @size: sizeof(struct uiommufd_query_attach)
 * @flags: 0
 * @dev_id: a device bound to this context
 * @ioas_id: the IOAS it would be attached to
 * @num_iovas: in: room in @allowed_iovas; out: the number of ranges
 * @out_errno: what the attach would fail with (a positive errno), or 0
 * @out_reason: enum uiommufd_attach_refusal
 * @__reserved: 0
 * @allowed_iovas: user pointer to struct iommu_iova_range[@num_iovas]: the
 *                 usable IOVA ranges the IOAS would have afterwards
 * @out_iova_alignment: the IOAS's IOVA alignment afterwards
 * @out_pgsize_bitmap: the IO page sizes of the domain the device would use
 * @out_conflict_start: the IOVA range that conflicts (a mapping, an
 *                      allowed range or reservation, or the missing
 *                      window), when @out_reason says one
 * @out_conflict_last: its last IOVA
 *
 * What attaching @dev_id to @ioas_id (IOMMU_HWPT_ALLOC with the IOAS,
 * VFIO_DEVICE_ATTACH_IOMMUFD_PT, the selftest's MOCK_DOMAIN), or replacing
 * its attachment with one to @ioas_id if it is attached, would do, without
 * doing it.  The call itself fails only for bad arguments (ENOENT: no such
 * device or IOAS; EMSGSIZE as UIOMMUFD_PAGE_SIZES); the verdict is in
 * @out_errno.  The answer is what the attach does as far as the address
 * space goes; memory that cannot be pinned then (EFAULT, ENOMEM) is not
 * foreseen.
 */
struct uiommufd_query_attach {
	__u32 size;
	__u32 flags;
	__u32 dev_id;
	__u32 ioas_id;
	__u32 num_iovas;
	__u32 out_errno;
	__u32 out_reason;
	__u32 __reserved;
	__aligned_u64 allowed_iovas;
	__aligned_u64 out_iova_alignment;
	__aligned_u64 out_pgsize_bitmap;
	__aligned_u64 out_conflict_start;
	__aligned_u64 out_conflict_last;
};
#define UIOMMUFD_QUERY_ATTACH _IO(UIOMMUFD_EXT_TYPE, UIOMMUFD_CMD_QUERY_ATTACH)

/* struct uiommufd_ioas_set_min_aperture.flags */
enum {
	UIOMMUFD_MIN_APERTURE_FIXED_BASE = 1 << 0, /* the window is at @base */
};

/**
 * struct uiommufd_ioas_set_min_aperture - UIOMMUFD_IOAS_SET_MIN_APERTURE
 * @size: sizeof(struct uiommufd_ioas_set_min_aperture)
 * @flags: UIOMMUFD_MIN_APERTURE_FIXED_BASE or 0
 * @ioas_id: the IOAS
 * @__reserved: 0
 * @length: the window: at least this many bytes of consecutive usable IOVA
 *          (not reserved by any attached device); 0 removes the
 *          requirement
 * @base: with FIXED_BASE, [@base, @base + @length) must be usable
 * @pgsize_bitmap: IO page sizes every domain of the IOAS must support
 *                 (0: any)
 *
 * From now on an attach that would leave the IOAS without the window, or
 * give it a domain without one of the page sizes, fails: ENOSPC (window)
 * or ERANGE (page sizes), and nothing changes (so does any other
 * reservation that would take the window); UIOMMUFD_QUERY_ATTACH
 * foresees it.  The call itself fails the same way if the IOAS does not
 * satisfy the requirement now.  EOVERFLOW: the window wraps; EINVAL:
 * @length is 0 with a base, a flag or page sizes.
 */
struct uiommufd_ioas_set_min_aperture {
	__u32 size;
	__u32 flags;
	__u32 ioas_id;
	__u32 __reserved;
	__aligned_u64 length;
	__aligned_u64 base;
	__aligned_u64 pgsize_bitmap;
};
#define UIOMMUFD_IOAS_SET_MIN_APERTURE \
	_IO(UIOMMUFD_EXT_TYPE, UIOMMUFD_CMD_IOAS_SET_MIN_APERTURE)

/**
 * struct uiommufd_ioas_reserve - UIOMMUFD_IOAS_RESERVE and _UNRESERVE
 * @size: sizeof(struct uiommufd_ioas_reserve)
 * @flags: 0
 * @ioas_id: the IOAS
 * @__reserved: 0
 * @iova: first IOVA
 * @length: bytes (not 0)
 *
 * RESERVE (the seed's IOMAP_RESERVE): reserve [@iova, @iova + @length)
 * without mapping anything.  Automatic IOMMU_IOAS_MAP and IOAS_COPY never
 * pick a reserved IOVA; an attach whose device cannot reach it, or has a
 * hole in it, fails EADDRINUSE as for a mapping; a FIXED_IOVA map may map
 * over part of it, and unmapping that part leaves it reserved again.
 * EINVAL: not aligned to the IOAS's IOVA alignment, or it meets IOVA that
 * an attached device reserves (a FIXED map there fails the same way);
 * EEXIST: it meets another reservation; EOVERFLOW: it wraps.
 *
 * UNRESERVE: remove every reservation inside [@iova, @iova + @length)
 * (iova 0, length ~0: all); one that sticks out fails the call with ENOENT
 * and nothing is removed; ENOENT too if there was none.  Mappings over
 * them stay.
 */
struct uiommufd_ioas_reserve {
	__u32 size;
	__u32 flags;
	__u32 ioas_id;
	__u32 __reserved;
	__aligned_u64 iova;
	__aligned_u64 length;
};
#define UIOMMUFD_IOAS_RESERVE _IO(UIOMMUFD_EXT_TYPE, UIOMMUFD_CMD_IOAS_RESERVE)
#define UIOMMUFD_IOAS_UNRESERVE \
	_IO(UIOMMUFD_EXT_TYPE, UIOMMUFD_CMD_IOAS_UNRESERVE)

/**
 * struct uiommufd_ioas_reservations - UIOMMUFD_IOAS_RESERVATIONS
 * @size: sizeof(struct uiommufd_ioas_reservations)
 * @flags: 0
 * @ioas_id: the IOAS
 * @num_iovas: in: room in @iovas; out: the number of reservations
 * @iovas: user pointer to struct iommu_iova_range[@num_iovas]
 *
 * The reservations, lowest IOVA first (EMSGSIZE as UIOMMUFD_PAGE_SIZES).
 */
struct uiommufd_ioas_reservations {
	__u32 size;
	__u32 flags;
	__u32 ioas_id;
	__u32 num_iovas;
	__aligned_u64 iovas;
};
#define UIOMMUFD_IOAS_RESERVATIONS \
	_IO(UIOMMUFD_EXT_TYPE, UIOMMUFD_CMD_IOAS_RESERVATIONS)

/* struct uiommufd_ioas_map_hint.out_flags */
enum {
	UIOMMUFD_MAP_HINT_AT_HINT = 1 << 0, /* mapped at the given IOVA */
};

/**
 * struct uiommufd_ioas_map_hint - UIOMMUFD_IOAS_MAP_HINT
 * @size: sizeof(struct uiommufd_ioas_map_hint)
 * @flags: IOMMU_IOAS_MAP_WRITEABLE | IOMMU_IOAS_MAP_READABLE (at least
 *         one; IOMMU_IOAS_MAP_FIXED_IOVA is EOPNOTSUPP here)
 * @ioas_id: the IOAS
 * @out_flags: UIOMMUFD_MAP_HINT_AT_HINT if mapped at @iova
 * @user_va: as IOMMU_IOAS_MAP
 * @length: as IOMMU_IOAS_MAP
 * @iova: in: the hint; out: where it was mapped
 *
 * An IOMMU_IOAS_MAP that tries @iova first, mmap()-style: if the range
 * there is free for an automatic map (aligned, inside the allowed ranges
 * if any, not reserved by a device or a user reservation, not mapped),
 * it is mapped there; otherwise at an IOVA chosen as for an automatic map.
 * The errors are IOMMU_IOAS_MAP's.
 */
struct uiommufd_ioas_map_hint {
	__u32 size;
	__u32 flags;
	__u32 ioas_id;
	__u32 out_flags;
	__aligned_u64 user_va;
	__aligned_u64 length;
	__aligned_u64 iova;
};
#define UIOMMUFD_IOAS_MAP_HINT \
	_IO(UIOMMUFD_EXT_TYPE, UIOMMUFD_CMD_IOAS_MAP_HINT)

/**
 * struct uiommufd_pasid_set_alloc - UIOMMUFD_PASID_SET_ALLOC
 * @size: sizeof(struct uiommufd_pasid_set_alloc)
 * @flags: 0
 * @first: the lowest PASID of the set (at least 1: 0 is the RID)
 * @last: its highest PASID (inclusive; at most 2^20 - 1)
 * @quota: how many of its PASIDs may be allocated at a time (at least 1)
 * @out_set_id: the new set's object ID
 *
 * A PASID set (the IOASID set of the 2021 discussion): an object of this
 * /dev/iommu that PASIDs are allocated from, destroyed by IOMMU_DESTROY,
 * which fails EBUSY while PASIDs are allocated from it (free them first;
 * closing the file frees everything).  EINVAL: a bad range or quota 0.
 */
struct uiommufd_pasid_set_alloc {
	__u32 size;
	__u32 flags;
	__u32 first;
	__u32 last;
	__u32 quota;
	__u32 out_set_id;
};
#define UIOMMUFD_PASID_SET_ALLOC \
	_IO(UIOMMUFD_EXT_TYPE, UIOMMUFD_CMD_PASID_SET_ALLOC)

/* struct uiommufd_pasid_alloc.flags */
enum {
	UIOMMUFD_PASID_ALLOC_DEV_RANGE = 1 << 0, /* fit @dev_id's IOMMU too */
};

/**
 * struct uiommufd_pasid_alloc - UIOMMUFD_PASID_ALLOC
 * @size: sizeof(struct uiommufd_pasid_alloc)
 * @flags: UIOMMUFD_PASID_ALLOC_DEV_RANGE or 0
 * @set_id: the set
 * @dev_id: with DEV_RANGE, a device: the PASID is one its IOMMU has
 *          (EINVAL if none of the set's range is); else 0
 * @out_pasid: the PASID
 *
 * Allocates the lowest PASID of the set's range that no set of this
 * /dev/iommu has allocated.  ENOSPC: the set's quota is reached, or the
 * system-wide capacity (every set of every open /dev/iommu together; see
 * UIOMMUFD_PASID_SET_INFO), or no PASID of the range is free.  ENOENT: no
 * such set or device.  A failed reply frees it again.
 */
struct uiommufd_pasid_alloc {
	__u32 size;
	__u32 flags;
	__u32 set_id;
	__u32 dev_id;
	__u32 out_pasid;
	__u32 __reserved;
};
#define UIOMMUFD_PASID_ALLOC _IO(UIOMMUFD_EXT_TYPE, UIOMMUFD_CMD_PASID_ALLOC)

/**
 * struct uiommufd_pasid_free - UIOMMUFD_PASID_FREE
 * @size: sizeof(struct uiommufd_pasid_free)
 * @flags: 0
 * @set_id: the set
 * @pasid: a PASID allocated from it (else ENOENT)
 *
 * EBUSY while a device of this /dev/iommu has @pasid attached, by
 * UIOMMUFD_PASID_SET_ATTACH or any upstream PASID attach: detach first.
 */
struct uiommufd_pasid_free {
	__u32 size;
	__u32 flags;
	__u32 set_id;
	__u32 pasid;
};
#define UIOMMUFD_PASID_FREE _IO(UIOMMUFD_EXT_TYPE, UIOMMUFD_CMD_PASID_FREE)

/**
 * struct uiommufd_pasid_set_info - UIOMMUFD_PASID_SET_INFO
 * @size: sizeof(struct uiommufd_pasid_set_info)
 * @flags: 0
 * @set_id: the set
 * @num_pasids: in: room in @pasids; out: PASIDs allocated from the set
 * @out_first: the set's range, first PASID
 * @out_last: its last PASID (inclusive)
 * @out_quota: its quota
 * @out_sys_capacity: the system-wide capacity
 * @out_sys_allocated: PASIDs allocated from all sets, system-wide
 * @pasids: user pointer to __u32[@num_pasids]: the set's PASIDs,
 *          ascending (more than the room: EMSGSIZE as UIOMMUFD_PAGE_SIZES)
 */
struct uiommufd_pasid_set_info {
	__u32 size;
	__u32 flags;
	__u32 set_id;
	__u32 num_pasids;
	__u32 out_first;
	__u32 out_last;
	__u32 out_quota;
	__u32 out_sys_capacity;
	__u32 out_sys_allocated;
	__u32 __reserved;
	__aligned_u64 pasids;
};
#define UIOMMUFD_PASID_SET_INFO \
	_IO(UIOMMUFD_EXT_TYPE, UIOMMUFD_CMD_PASID_SET_INFO)

/**
 * struct uiommufd_pasid_set_attach - UIOMMUFD_PASID_SET_ATTACH
 * @size: sizeof(struct uiommufd_pasid_set_attach)
 * @flags: 0
 * @set_id: the set
 * @dev_id: the device
 * @pasid: a PASID allocated from the set (else ENOENT)
 * @pt_id: a HWPT made with IOMMU_HWPT_ALLOC_PASID
 *
 * Attaches @pasid of @dev_id to @pt_id as the kernel's PASID attach does
 * (same rules and errnos: EBUSY if attached, EINVAL for a HWPT that does
 * not serve PASIDs or a PASID the device lacks), but only a PASID the
 * set handed out.  Detach with the ordinary PASID detach.  The upstream
 * PASID attach is unchanged: it takes any PASID.
 */
struct uiommufd_pasid_set_attach {
	__u32 size;
	__u32 flags;
	__u32 set_id;
	__u32 dev_id;
	__u32 pasid;
	__u32 pt_id;
};
#define UIOMMUFD_PASID_SET_ATTACH \
	_IO(UIOMMUFD_EXT_TYPE, UIOMMUFD_CMD_PASID_SET_ATTACH)
/*
 * Registered memory (the seed's pre-registration / "super-container").
 * These numbers start at UIOMMUFD_EXT_CMD_BASE + 0x20, apart from the
 * PASID-set ones.
 */
enum {
	UIOMMUFD_CMD_MEM_REGISTER = UIOMMUFD_EXT_CMD_BASE + 0x20,
	UIOMMUFD_CMD_MEM_UNREGISTER,
	UIOMMUFD_CMD_MEM_REG_INFO,
};

/* The extension id of the three commands below (UIOMMUFD_EXT_QUERY). */
#define UIOMMUFD_EXT_ID_MEM_REGISTER 9

/* struct uiommufd_mem_register.flags */
enum {
	UIOMMUFD_MEM_REGISTER_WRITEABLE = 1 << 0, /* pinned for writing */
};

/**
 * struct uiommufd_mem_register - UIOMMUFD_MEM_REGISTER
 * @size: sizeof(struct uiommufd_mem_register)
 * @flags: UIOMMUFD_MEM_REGISTER_WRITEABLE or 0
 * @user_va: start of the caller's memory
 * @length: bytes; the registration covers the whole pages of
 *          [@user_va, @user_va + @length)
 * @out_reg_id: the registration object's ID
 * @__reserved: 0
 *
 * Pins the memory now and charges it once to RLIMIT_MEMLOCK, as the
 * context's IOMMU_OPTION_RLIMIT_MODE says (per user or per process; not at
 * all with CAP_IPC_LOCK).  From then on an IOMMU_IOAS_MAP (or
 * UIOMMUFD_IOAS_MAP_HINT, or VFIO_IOMMU_MAP_DMA) by the same user, from
 * the same address space, in any IOAS of any iommufd context, whose range
 * lies inside the registration (and that asks for writing only if the
 * registration is writeable) uses the registration's pinned pages: no
 * second pin, no second charge.  Errors: EINVAL (length 0), EOVERFLOW
 * (the range wraps), EFAULT (memory that is not there), ENOMEM
 * (RLIMIT_MEMLOCK), EOPNOTSUPP (flags, __reserved).
 */
struct uiommufd_mem_register {
	__u32 size;
	__u32 flags;
	__aligned_u64 user_va;
	__aligned_u64 length;
	__u32 out_reg_id;
	__u32 __reserved;
};
#define UIOMMUFD_MEM_REGISTER \
	_IO(UIOMMUFD_EXT_TYPE, UIOMMUFD_CMD_MEM_REGISTER)

/**
 * struct uiommufd_mem_unregister - UIOMMUFD_MEM_UNREGISTER
 * @size: sizeof(struct uiommufd_mem_unregister)
 * @reg_id: the registration
 *
 * Unpins and uncharges what no map still holds.  EBUSY while any map
 * (an area of any IOAS) uses the registration's pages; ENOENT if @reg_id
 * is not a registration.  IOMMU_DESTROY of @reg_id does the same.
 */
struct uiommufd_mem_unregister {
	__u32 size;
	__u32 reg_id;
};
#define UIOMMUFD_MEM_UNREGISTER \
	_IO(UIOMMUFD_EXT_TYPE, UIOMMUFD_CMD_MEM_UNREGISTER)

/* struct uiommufd_mem_reg_info.out_account */
enum {
	UIOMMUFD_MEM_ACCOUNT_NONE = 0, /* CAP_IPC_LOCK: not charged */
	UIOMMUFD_MEM_ACCOUNT_USER = 1, /* charged to the user (@out_uid) */
	UIOMMUFD_MEM_ACCOUNT_MM = 2,   /* charged to the process (@out_pid) */
};

/**
 * struct uiommufd_mem_reg_info - UIOMMUFD_MEM_REG_INFO
 * @size: sizeof(struct uiommufd_mem_reg_info)
 * @flags: 0
 * @reg_id: the registration
 * @out_nr_maps: areas (in any IOAS of any context) using its pages
 * @out_user_va: the first byte registered (page aligned)
 * @out_length: bytes registered (whole pages)
 * @out_pinned_bytes: bytes pinned, once, for the registration and its maps
 * @out_charged_bytes: of those, bytes charged to RLIMIT_MEMLOCK
 * @out_account: UIOMMUFD_MEM_ACCOUNT_*: to whom they are charged
 * @out_uid: the user charged
 * @out_pid: the process charged
 * @__reserved: 0
 */
struct uiommufd_mem_reg_info {
	__u32 size;
	__u32 flags;
	__u32 reg_id;
	__u32 out_nr_maps;
	__aligned_u64 out_user_va;
	__aligned_u64 out_length;
	__aligned_u64 out_pinned_bytes;
	__aligned_u64 out_charged_bytes;
	__u32 out_account;
	__u32 out_uid;
	__u32 out_pid;
	__u32 __reserved;
};
#define UIOMMUFD_MEM_REG_INFO \
	_IO(UIOMMUFD_EXT_TYPE, UIOMMUFD_CMD_MEM_REG_INFO)

/*
 * A map with a guaranteed unmap granularity (the seed's "map a large
 * range, and be able to unmap any granule of it later").
 */

/* The extension id of UIOMMUFD_IOAS_MAP_GRANULE (UIOMMUFD_EXT_QUERY). */
#define UIOMMUFD_EXT_ID_MAP_GRANULE 10

/**
 * struct uiommufd_ioas_map_granule - UIOMMUFD_IOAS_MAP_GRANULE
 * @size: sizeof(struct uiommufd_ioas_map_granule)
 * @flags: IOMMU_IOAS_MAP_FIXED_IOVA, IOMMU_IOAS_MAP_WRITEABLE,
 *         IOMMU_IOAS_MAP_READABLE (at least one of the last two)
 * @ioas_id: the IOAS
 * @__reserved: 0
 * @user_va: as IOMMU_IOAS_MAP; a multiple of @granule
 * @length: as IOMMU_IOAS_MAP; a multiple of @granule
 * @iova: in with IOMMU_IOAS_MAP_FIXED_IOVA (a multiple of @granule);
 *        out: where it was mapped (allocated ones are multiples too)
 * @granule: the unmap granularity: a power of two, at least 4096
 *
 * An IOMMU_IOAS_MAP whose area IOMMU_IOAS_UNMAP (and VFIO_IOMMU_UNMAP_DMA
 * on the compat container) may later cut at any multiple of @granule from
 * its start: any range whose ends inside the area lie on such multiples
 * unmaps, where a plain map's area is ENOENT unless wholly inside the
 * range (the kernel's rule, kept for plain maps).  The domains still use
 * the largest IO pages that fit (UIOMMUFD_PAGE_SIZES shows them); a cut
 * through a superpage splits it in place, so DMA to the rest of the area
 * never faults.  Errors: those of IOMMU_IOAS_MAP, and EINVAL for a
 * granule that is not a power of two of at least 4096 or that does not
 * divide @user_va, @length or a fixed @iova.  An unmap that would cut the
 * area elsewhere is EINVAL.
 */
struct uiommufd_ioas_map_granule {
	__u32 size;
	__u32 flags;
	__u32 ioas_id;
	__u32 __reserved;
	__aligned_u64 user_va;
	__aligned_u64 length;
	__aligned_u64 iova;
	__aligned_u64 granule;
};
#define UIOMMUFD_IOAS_MAP_GRANULE \
	_IO(UIOMMUFD_EXT_TYPE, UIOMMUFD_CMD_IOAS_MAP_GRANULE)

/* The extension id of UIOMMUFD_IOAS_COPY_RESV (UIOMMUFD_EXT_QUERY). */
#define UIOMMUFD_EXT_ID_COPY_RESV 11

/**
 * struct uiommufd_ioas_copy_resv - UIOMMUFD_IOAS_COPY_RESV
 * @size: sizeof(struct uiommufd_ioas_copy_resv)
 * @flags: as IOMMU_IOAS_COPY (FIXED_IOVA, WRITEABLE, READABLE)
 * @dst_ioas_id: as IOMMU_IOAS_COPY
 * @src_ioas_id: as IOMMU_IOAS_COPY
 * @out_nr_reservations: reservations copied
 * @__reserved: 0
 * @length: as IOMMU_IOAS_COPY
 * @dst_iova: as IOMMU_IOAS_COPY (in with FIXED_IOVA; out)
 * @src_iova: as IOMMU_IOAS_COPY
 *
 * IOMMU_IOAS_COPY that also copies the IOVA reservations
 * (UIOMMUFD_IOAS_RESERVE) of the source range, clipped to it, to the same
 * offsets from @dst_iova, so that the copy's holes made later by unmaps
 * stay out of automatic maps there as they do in the source.  The source
 * range must be mapped throughout (ENOENT), as for IOMMU_IOAS_COPY; the
 * destination range must hold no reservation (EEXIST; an automatic
 * @dst_iova never does).  The other errors are IOMMU_IOAS_COPY's.
 */
struct uiommufd_ioas_copy_resv {
	__u32 size;
	__u32 flags;
	__u32 dst_ioas_id;
	__u32 src_ioas_id;
	__u32 out_nr_reservations;
	__u32 __reserved;
	__aligned_u64 length;
	__aligned_u64 dst_iova;
	__aligned_u64 src_iova;
};
#define UIOMMUFD_IOAS_COPY_RESV \
	_IO(UIOMMUFD_EXT_TYPE, UIOMMUFD_CMD_IOAS_COPY_RESV)

#endif
