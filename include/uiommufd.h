/* SPDX-License-Identifier: MIT */
/*
 * uiommufd: the iommufd model in userspace.
 *
 * This is the public API of the engine library (libuiommufd), for programs
 * that embed an IOMMU model: device emulators, vfio-user servers, VMMs that
 * need a software IOMMU.  It is the same engine that serves the emulated
 * /dev/iommu; the ioctl ABI itself is in <uiommufd/uapi/linux/iommufd.h>.
 *
 * Conventions
 *  - Every function returns 0 (or a non-negative value) on success and a
 *    negative errno on failure, with the errno the kernel's iommufd would
 *    give for the same request.  A failed call leaves the state unchanged.
 *  - IOVA intervals are [start, last], last inclusive; lengths are bytes.
 *  - Objects (IOAS, access, ...) are named by 32-bit IDs, never 0, unique
 *    within one context.
 *  - The engine never dereferences an address of the program it models:
 *    memory is reached through a struct ufd_source.
 *  - All entry points are thread-safe (one engine lock).
 */
#ifndef UIOMMUFD_H
#define UIOMMUFD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define UFD_API __attribute__((visibility("default")))

/*
 * The version of this header: the Makefile's VERSION (the build fails
 * if they differ).  The library's own
 * is ufd_version_major()/ufd_version_minor(); ufd_check_version(major,
 * minor) is true iff the library is that version or a later one of the same
 * major version, as liburing's io_uring_check_version() but with the
 * truth value the other way round.  UFD_CHECK_VERSION() is the header's.
 */
#define UFD_VERSION_MAJOR 0
#define UFD_VERSION_MINOR 1
#define UFD_CHECK_VERSION(major, minor) \
	((major) == UFD_VERSION_MAJOR && (minor) <= UFD_VERSION_MINOR)

UFD_API int ufd_version_major(void);
UFD_API int ufd_version_minor(void);
UFD_API bool ufd_check_version(int major, int minor);

struct ufd_engine; /* process- or daemon-wide: pin registry, accounting */
struct ufd_ctx;    /* one open of /dev/iommu: an object table */
struct ufd_source; /* where memory comes from */

struct ufd_iova_range {
	uint64_t start;
	uint64_t last; /* inclusive */
};

/* Who asks: what the kernel would read off the current task. */
struct ufd_cred {
	pid_t pid;
	uid_t uid;
	bool cap_sys_resource; /* may change IOMMU_OPTION_RLIMIT_MODE */
	bool cap_ipc_lock;     /* exempt from RLIMIT_MEMLOCK */
	uint64_t memlock_limit; /* RLIMIT_MEMLOCK in bytes; UINT64_MAX: none */
};

/* Fill @cred from the calling process. */
UFD_API void ufd_cred_self(struct ufd_cred *cred);

/* ---- memory sources ------------------------------------------------------ */

/*
 * A memory source is an address space the engine can read, write and pin:
 * this process, another process, a memfd.  Addresses are the source's own
 * (a "user VA").  All lengths and addresses passed to pin/unpin are
 * page aligned.
 */
struct ufd_source_ops {
	/* Copy out of / into the source.  -EFAULT for unmapped memory. */
	int (*read)(struct ufd_source *src, void *dst, uint64_t uaddr,
		    size_t len);
	int (*write)(struct ufd_source *src, uint64_t uaddr, const void *buf,
		     size_t len);
	/*
	 * Make [uaddr, uaddr + len) resident and keep it so until unpin;
	 * return in @host where the engine process reaches it.  @writable:
	 * the pin is for DMA writes too.  -EFAULT if any of it is unmapped.
	 */
	int (*pin)(struct ufd_source *src, uint64_t uaddr, size_t len,
		   bool writable, void **host);
	void (*unpin)(struct ufd_source *src, uint64_t uaddr, size_t len,
		      void *host);
	/*
	 * The identity of the page that backs @uaddr now (a physical frame
	 * number where the system shows one): two addresses with the same
	 * identity reach the same memory.
	 */
	int (*page_ident)(struct ufd_source *src, uint64_t uaddr,
			  uint64_t *ident);
	/*
	 * May the engine dereference the host addresses of the pinned range
	 * [uaddr, uaddr + len)?  A source that reaches some memory only
	 * through read/write (another process's private memory) says no;
	 * DMA through such a mapping then faults.  NULL: always yes.
	 */
	bool (*host_direct)(struct ufd_source *src, uint64_t uaddr,
			    size_t len);
	/* Identity of a page the engine reaches at @host (after pin). */
	int (*host_ident)(struct ufd_source *src, const void *host,
			  uint64_t *ident);
	void (*release)(struct ufd_source *src);
};

struct ufd_source {
	const struct ufd_source_ops *ops;
	unsigned int refs;   /* atomic (ufd_source_get/put) */
	uint64_t space_id;   /* same value: same address space */
	pid_t owner_pid;     /* for per-process (RLIMIT_MODE 1) accounting */
	/* Not memory (a device's MMIO): pins are never charged to
	 * RLIMIT_MEMLOCK, as the kernel does not account PFNMAP pages. */
	bool no_account;
};

/* This process's own memory.  Returned with a reference held. */
UFD_API struct ufd_source *ufd_source_local(void);
/*
 * This process's memory, for an embedder that guarantees that whatever it
 * maps into an IOAS stays mapped, readable (and writable if mapped so) for
 * as long as it is mapped there: guest RAM of an emulator, a DMA pool.
 * Pins then make no system call and reads and writes are plain copies; a
 * broken promise is a crash, not -EFAULT.
 */
UFD_API struct ufd_source *ufd_source_local_trusted(void);
/*
 * Bytes [start, start + length) of the open file @fd (a memfd, a tmpfs or
 * hugetlbfs file) as a source whose addresses are file offsets.  The
 * engine's process maps the range itself, so the memory stays reachable
 * whatever happens to @fd or to the program's own mappings of the file.
 * -EINVAL for an empty range or one past the end of the file, or a file
 * that cannot be mapped; -EACCES for @writable on a read-only open;
 * -EBADF.  Returned with a reference held.
 */
UFD_API int ufd_source_file(int fd, uint64_t start, uint64_t length,
			    bool writable, struct ufd_source **out);
/*
 * Revoke (or restore) a file source's memory, as a dma-buf's exporter
 * does: while revoked, DMA through the IO page tables of engine @eng that
 * map it faults, and new maps of it fail with -ENODEV (restoring makes
 * DMA work again).  @src must come from ufd_source_file().  0, or -ENOMEM
 * if an IO page table could not be made again (that area then stays
 * unmapped in that domain).
 */
UFD_API int ufd_source_file_revoke(struct ufd_engine *eng,
				   struct ufd_source *src, bool revoked);
UFD_API bool ufd_source_file_revoked(struct ufd_source *src);
UFD_API void ufd_source_get(struct ufd_source *src);
UFD_API void ufd_source_put(struct ufd_source *src);

/* ---- engine and contexts ------------------------------------------------- */

/* A new engine.  Most programs use one; ufd_engine_default() makes it. */
UFD_API struct ufd_engine *ufd_engine_new(void);
UFD_API void ufd_engine_free(struct ufd_engine *eng);
UFD_API struct ufd_engine *ufd_engine_default(void);

/* Open a context as an open() of /dev/iommu by @cred would. */
UFD_API int ufd_ctx_open(struct ufd_engine *eng, const struct ufd_cred *cred,
			 struct ufd_ctx **out);
/*
 * Drop the reference ufd_ctx_open() returned.  When the last reference goes
 * (derived fds such as access fds hold their own), every object is
 * destroyed and every pin released before this returns.
 */
UFD_API void ufd_ctx_close(struct ufd_ctx *ctx);
/* The engine a context belongs to. */
UFD_API struct ufd_engine *ufd_ctx_engine(struct ufd_ctx *ctx);
/* Extra references, for derived fds that keep the context alive. */
UFD_API void ufd_ctx_get(struct ufd_ctx *ctx);
UFD_API void ufd_ctx_put(struct ufd_ctx *ctx);

/* What an ID names (for argument checks that depend on the kind). */
enum ufd_obj_kind {
	UFD_KIND_NONE = 0,
	UFD_KIND_IOAS,
	UFD_KIND_HWPT_PAGING,
	UFD_KIND_HWPT_NESTED,
	UFD_KIND_DEVICE,
	UFD_KIND_ACCESS,
	UFD_KIND_FAULT,
	UFD_KIND_OTHER,
	UFD_KIND_VIOMMU,
	UFD_KIND_VDEVICE,
	UFD_KIND_VEVENTQ,
	UFD_KIND_HW_QUEUE,
	UFD_KIND_PASID_SET,
};
UFD_API enum ufd_obj_kind ufd_obj_kind(struct ufd_ctx *ctx, uint32_t id);

/* IOMMU_DESTROY: -ENOENT missing, -EBUSY while something uses it. */
UFD_API int ufd_destroy(struct ufd_ctx *ctx, uint32_t id);

/*
 * The kernel's order of publication: an object made by a call becomes
 * visible only once the reply to the caller has been written.  Between
 * ufd_publish_begin() and ufd_publish_end(), objects that this thread makes
 * in @ctx are found only by this thread's own calls; end() with @commit
 * makes them visible to everyone, without it destroys them (newest first),
 * so no other thread can ever see an ID that then vanishes.  Windows nest;
 * at most 8 objects are held back per window (later ones are published at
 * once).  The struct lives on the caller's stack.
 */
struct ufd_publish {
	struct ufd_ctx *ctx;
	struct ufd_publish *outer;
	uint32_t ids[8];
	unsigned int nr;
};
UFD_API void ufd_publish_begin(struct ufd_ctx *ctx, struct ufd_publish *pub);
UFD_API void ufd_publish_end(struct ufd_publish *pub, bool commit);

/* ---- IO address spaces ----------------------------------------------------- */

enum {
	UFD_MAP_FIXED_IOVA = 1 << 0,
	UFD_MAP_WRITE = 1 << 1,
	UFD_MAP_READ = 1 << 2,
};

UFD_API int ufd_ioas_alloc(struct ufd_ctx *ctx, uint32_t *out_ioas_id);
/*
 * Map [uaddr, uaddr + length) of @src at *iova (UFD_MAP_FIXED_IOVA) or at
 * an IOVA the engine picks and stores in *iova.
 */
UFD_API int ufd_ioas_map(struct ufd_ctx *ctx, uint32_t ioas_id,
			 struct ufd_source *src, uint64_t uaddr,
			 uint64_t length, uint64_t *iova, unsigned int flags);
/*
 * ufd_ioas_map() of a file source (ufd_source_file(); its addresses are
 * file offsets), with the pinned memory charged to @cred, the process
 * making the call (IOMMU_IOAS_MAP_FILE).  -ENODEV if the source is
 * revoked.
 */
UFD_API int ufd_ioas_map_file(struct ufd_ctx *ctx, uint32_t ioas_id,
			      const struct ufd_cred *cred,
			      struct ufd_source *src, uint64_t start,
			      uint64_t length, uint64_t *iova,
			      unsigned int flags);
/*
 * Charge every page pinned for the mappings of @ctx to @cred's process and
 * user from now on (IOMMU_IOAS_CHANGE_PROCESS).  -EINVAL if any mapping
 * is not of a file source; -ENOMEM if the new owner's limit is exceeded.
 * Nothing changes on failure.
 */
UFD_API int ufd_ctx_change_process(struct ufd_ctx *ctx,
				   const struct ufd_cred *cred);
/* Map what [src_iova, +length) of @src_ioas maps, sharing its pages. */
UFD_API int ufd_ioas_copy(struct ufd_ctx *ctx, uint32_t dst_ioas_id,
			  uint32_t src_ioas_id, uint64_t src_iova,
			  uint64_t length, uint64_t *dst_iova,
			  unsigned int flags);
/*
 * Unmap every area inside [iova, iova + length); an area that sticks out
 * fails the call (-ENOENT) and nothing is unmapped.  iova 0 with length
 * UINT64_MAX unmaps everything.  *unmapped gets the bytes unmapped.
 */
UFD_API int ufd_ioas_unmap(struct ufd_ctx *ctx, uint32_t ioas_id,
			   uint64_t iova, uint64_t length, uint64_t *unmapped);
/*
 * VFIO type1 semantics of unmap: like ufd_ioas_unmap(), but a range with
 * nothing mapped is success with *unmapped 0.
 */
UFD_API int ufd_ioas_unmap_range(struct ufd_ctx *ctx, uint32_t ioas_id,
				 uint64_t iova, uint64_t length,
				 uint64_t *unmapped);
/*
 * Split areas so that each of @iovas is the last byte of an area (VFIO
 * TYPE1 lets unmap cut mappings).  Needs large pages off when domains
 * exist (-EINVAL), refuses areas an access pins (-EINVAL).
 */
UFD_API int ufd_ioas_cut(struct ufd_ctx *ctx, uint32_t ioas_id,
			 const uint64_t *iovas, unsigned int n);
/* IO page sizes every domain of the IOAS supports, PAGE_SIZE and up. */
UFD_API int ufd_ioas_page_sizes(struct ufd_ctx *ctx, uint32_t ioas_id,
				uint64_t *bitmap);

/*
 * The usable IOVA ranges; up to @max are stored in @ranges, *num gets the
 * total, *alignment the IOVA alignment.
 */
UFD_API int ufd_ioas_iova_ranges(struct ufd_ctx *ctx, uint32_t ioas_id,
				 struct ufd_iova_range *ranges, uint32_t max,
				 uint32_t *num, uint64_t *alignment);
/* Replace the allowed list.  -EADDRINUSE if one intersects a reservation. */
UFD_API int ufd_ioas_allow_iovas(struct ufd_ctx *ctx, uint32_t ioas_id,
				 const struct ufd_iova_range *ranges,
				 uint32_t num);
/*
 * Reserve [start, last].  -EADDRINUSE if it intersects an area, an
 * allowed range or a ufd_ioas_reserve_iova() reservation; -ENOSPC if it
 * takes the window of ufd_ioas_set_min_aperture().  Reservations made
 * here live as long as the IOAS.
 */
UFD_API int ufd_ioas_reserve(struct ufd_ctx *ctx, uint32_t ioas_id,
			     uint64_t start, uint64_t last);
/* IOMMU_OPTION_HUGE_PAGES. */
UFD_API int ufd_ioas_set_huge_pages(struct ufd_ctx *ctx, uint32_t ioas_id,
				    bool enable);
UFD_API int ufd_ioas_get_huge_pages(struct ufd_ctx *ctx, uint32_t ioas_id,
				    bool *enabled);

/* IOMMU_OPTION_RLIMIT_MODE: 0 per user, 1 per process. */
UFD_API int ufd_ctx_set_rlimit_mode(struct ufd_ctx *ctx,
				    const struct ufd_cred *cred,
				    uint64_t mode);
UFD_API int ufd_ctx_get_rlimit_mode(struct ufd_ctx *ctx, uint64_t *mode);

/* IOMMU_VFIO_IOAS: the IOAS that VFIO type1 calls use. */
UFD_API int ufd_ctx_get_compat_ioas(struct ufd_ctx *ctx, uint32_t *ioas_id);
UFD_API int ufd_ctx_set_compat_ioas(struct ufd_ctx *ctx, uint32_t ioas_id);
UFD_API void ufd_ctx_clear_compat_ioas(struct ufd_ctx *ctx);

/* ---- devices and HW page tables ------------------------------------------ */

/*
 * What the driver behind a device does when the engine changes the
 * device's attachments.  Each hook runs with the engine lock held, after
 * the engine's own checks and before the change is made; it must not call
 * the engine.  @driver_data is the device's (ufd_device_driver_data()).
 */
struct ufd_device_ops {
	/*
	 * Point PASID @pasid at HWPT @hwpt_id (0: blocked, on detach), where
	 * it was at @old_hwpt_id (0: nothing).  A negative errno fails the
	 * attach or replace, which leaves the old attachment; the return of a
	 * detach is ignored.  NULL: always accepted.
	 */
	int (*set_dev_pasid)(void *driver_data, uint32_t pasid,
			     uint32_t hwpt_id, uint32_t old_hwpt_id);
};

/*
 * What an IOMMU imposes on a device's DMA: the IOVA window it translates,
 * holes inside it (an MSI window), the IO page sizes of its page tables,
 * dirty tracking, PASID width, and the driver data GET_HW_INFO returns.
 */
struct ufd_device_info {
	uint64_t aperture_start;
	uint64_t aperture_last;            /* inclusive */
	uint64_t pgsize_bitmap;            /* smallest bit: the IO page size */
	const struct ufd_iova_range *reserved; /* copied at bind */
	uint32_t nr_reserved;
	bool dirty_tracking;               /* its IOMMU tracks dirty pages */
	uint8_t max_pasid_log2;            /* 0: no PASID */
	uint32_t hw_info_type;             /* enum iommu_hw_info_type */
	const void *hw_info;               /* copied at bind */
	uint32_t hw_info_len;
	/*
	 * Bytes of driver state kept with the device: allocated zeroed at
	 * bind, freed with it, reached with ufd_device_driver_data() (the
	 * selftest mock keeps its device cache tags there).
	 */
	uint32_t driver_data_size;
	/* The driver's hooks (NULL: none); the pointer is kept, not copied. */
	const struct ufd_device_ops *ops;
	/*
	 * A PCI device's PASID capability allows execute / privileged
	 * requests (GET_HW_INFO's IOMMU_HW_CAP_PCI_PASID_EXEC / _PRIV; only
	 * reported when max_pasid_log2 is not 0).
	 */
	bool pasid_exec;
	bool pasid_priv;
};

/* Bind a device to the context: a DEVICE object (not destroyable by ID). */
UFD_API int ufd_device_bind(struct ufd_ctx *ctx,
			    const struct ufd_device_info *info,
			    uint32_t *out_dev_id);
/* Detach if attached, then destroy the device; -EBUSY with DMA ports open. */
UFD_API int ufd_device_unbind(struct ufd_ctx *ctx, uint32_t dev_id);
/*
 * Attach to *pt_id: an IOAS (an automatic HWPT is found or made; *pt_id
 * becomes its ID) or a HWPT.  -EINVAL if already attached or the HWPT does
 * not suit the device, -EADDRINUSE if the IOAS's mappings or allowed
 * ranges fall outside what the device can reach, -EFAULT if memory to pin
 * is gone.
 */
UFD_API int ufd_device_attach(struct ufd_ctx *ctx, uint32_t dev_id,
			      uint32_t *pt_id);
/*
 * The pre-attach query (an idea of the iommufd design discussion that the
 * kernel did not take): what would attaching @dev_id to IOAS @ioas_id do,
 * without doing it?  Fills @ranges (up to @max, *num the total) with the
 * IOVA ranges the IOAS would have and *alignment with its alignment, and
 * returns 0 if the attach would be accepted as far as the address space
 * goes, -EADDRINUSE if a mapping or an allowed range would be cut, -EINVAL
 * if the device's IO page size is larger than a CPU page.
 */
UFD_API int ufd_device_query_attach(struct ufd_ctx *ctx, uint32_t dev_id,
				    uint32_t ioas_id,
				    struct ufd_iova_range *ranges,
				    uint32_t max, uint32_t *num,
				    uint64_t *alignment);
/* Move an attached device to *pt_id, as attach names it. */
UFD_API int ufd_device_replace(struct ufd_ctx *ctx, uint32_t dev_id,
			       uint32_t *pt_id);
UFD_API int ufd_device_detach(struct ufd_ctx *ctx, uint32_t dev_id);

enum {
	UFD_HWPT_NEST_PARENT = 1 << 0,     /* IOMMU_HWPT_ALLOC_NEST_PARENT */
	UFD_HWPT_DIRTY_TRACKING = 1 << 1,  /* IOMMU_HWPT_ALLOC_DIRTY_TRACKING */
	UFD_HWPT_PASID = 1 << 2,           /* IOMMU_HWPT_ALLOC_PASID */
};

/* A paging HWPT for @dev_id's IOMMU mirroring IOAS @ioas_id. */
UFD_API int ufd_hwpt_alloc_paging(struct ufd_ctx *ctx, uint32_t dev_id,
				  uint32_t ioas_id, unsigned int flags,
				  uint32_t *out_hwpt_id);
/*
 * The same with the page table format the driver chose for it: leaves of
 * the sizes in @pgsize_bitmap (0: the device's), the smallest of which is
 * the table's granule (2 KiB to 64 KiB).  -EINVAL for sizes no table can
 * have.
 */
UFD_API int ufd_hwpt_alloc_paging_sizes(struct ufd_ctx *ctx, uint32_t dev_id,
					uint32_t ioas_id, unsigned int flags,
					uint64_t pgsize_bitmap,
					uint32_t *out_hwpt_id);

/*
 * PASIDs: a device whose IOMMU has max_pasid_log2 > 0 can attach HWPTs to
 * each PASID in [1, 2^max_pasid_log2 - 1], apart from its RID attachment
 * (PASID 0, UFD_NO_PASID, is the RID: ufd_device_attach() and friends).
 * Only a HWPT made with UFD_HWPT_PASID can serve a PASID, and only while
 * the RID is detached or attached to such a HWPT too; while any PASID is
 * attached, the RID cannot move to a HWPT made without it.  Every one of
 * these is -EINVAL, as is an IOAS (no automatic HWPT for a PASID), a PASID
 * out of range and a HWPT the device cannot use; -ENOENT for an unknown
 * device or HWPT.  Attach is -EBUSY if the PASID is attached already
 * (replace moves it); replace is -EINVAL if it is not.  A PASID
 * attachment holds its HWPT (IOMMU_DESTROY of it: -EBUSY).  Detaching a
 * PASID that is not attached does nothing and succeeds, as the kernel's.
 * The driver's ufd_device_ops.set_dev_pasid, if any, has the last word.
 */
#define UFD_NO_PASID 0u
UFD_API int ufd_device_pasid_attach(struct ufd_ctx *ctx, uint32_t dev_id,
				    uint32_t pasid, uint32_t hwpt_id);
UFD_API int ufd_device_pasid_replace(struct ufd_ctx *ctx, uint32_t dev_id,
				     uint32_t pasid, uint32_t hwpt_id);
UFD_API int ufd_device_pasid_detach(struct ufd_ctx *ctx, uint32_t dev_id,
				    uint32_t pasid);
/* The HWPT @pasid (UFD_NO_PASID: the RID) is attached to; 0: none. */
UFD_API int ufd_device_pasid_hwpt(struct ufd_ctx *ctx, uint32_t dev_id,
				  uint32_t pasid, uint32_t *hwpt_id);

/* GET_HW_INFO: copies up to @len bytes of driver data into @buf. */
struct ufd_hw_info {
	uint32_t type;
	uint32_t data_len;       /* full length of the driver data */
	uint64_t capabilities;   /* enum iommufd_hw_capabilities */
	uint8_t max_pasid_log2;
};
UFD_API int ufd_device_get_hw_info(struct ufd_ctx *ctx, uint32_t dev_id,
				   void *buf, uint32_t len,
				   struct ufd_hw_info *info);
/*
 * The driver state of @dev_id (ufd_device_info.driver_data_size bytes;
 * NULL when that was 0).  Valid while the device is bound; the engine
 * never looks inside, so the driver serializes its own accesses.
 * -ENOENT if @dev_id names no device.
 */
UFD_API int ufd_device_driver_data(struct ufd_ctx *ctx, uint32_t dev_id,
				   void **out);

/*
 * The DMA view of a paging HWPT: translate @iova to where the engine
 * reaches it, with the leaf's size and its UFD_PTE_* flags.
 */
#define UFD_PTE_VALID    (1ULL << 0)
#define UFD_PTE_LEAF     (1ULL << 1)
#define UFD_PTE_READ     (1ULL << 2)
#define UFD_PTE_WRITE    (1ULL << 3)
#define UFD_PTE_DIRTY    (1ULL << 4)
#define UFD_PTE_ACCESSED (1ULL << 5)
#define UFD_PTE_INDIRECT (1ULL << 6) /* not directly reachable: DMA faults */
UFD_API int ufd_hwpt_translate(struct ufd_ctx *ctx, uint32_t hwpt_id,
			       uint64_t iova, uint64_t *host,
			       uint64_t *leaf_size, uint64_t *flags);
/* Leaves per level in use (visibility of the IO page sizes used). */
UFD_API int ufd_hwpt_page_sizes(struct ufd_ctx *ctx, uint32_t hwpt_id,
				uint64_t *sizes, uint64_t *counts,
				unsigned int max, unsigned int *n);

/*
 * Nested HWPTs: a stage-1 table that the user (a guest) owns, translated
 * through a NEST_PARENT paging HWPT.  The engine keeps the object, its
 * parent and fault queue; the driver data (what the stage-1 table is, its
 * IOTLB) belongs to the caller's @priv, which @ops->destroy frees.
 */
struct ufd_nested_ops {
	void (*destroy)(void *priv);
};
/* Can @parent_id be a nesting parent?  -ENOENT, -EINVAL, or 0. */
UFD_API int ufd_hwpt_can_nest(struct ufd_ctx *ctx, uint32_t parent_id);
/* @fault_id 0: no fault queue.  Parent: -EINVAL unless NEST_PARENT. */
UFD_API int ufd_hwpt_alloc_nested(struct ufd_ctx *ctx, uint32_t dev_id,
				  uint32_t parent_id, uint32_t fault_id,
				  const struct ufd_nested_ops *ops,
				  void *priv, uint32_t *out_hwpt_id);
/* The same with UFD_HWPT_* @flags: only UFD_HWPT_PASID (else -EOPNOTSUPP). */
UFD_API int ufd_hwpt_alloc_nested_flags(struct ufd_ctx *ctx, uint32_t dev_id,
					uint32_t parent_id, uint32_t fault_id,
					unsigned int flags,
					const struct ufd_nested_ops *ops,
					void *priv, uint32_t *out_hwpt_id);
/*
 * A nested HWPT whose stage 1 is an x86-64 format table (VT-d first stage)
 * rooted at guest physical address @root_gpa (an IOVA of the parent), with
 * an address width of 48 (4 levels) or 57 (5 levels).  The engine walks it
 * on DMA through the parent and caches walks in an IOTLB that keeps them
 * until ufd_hwpt_s1_invalidate() (@npages UINT64_MAX: everything).
 */
UFD_API int ufd_hwpt_alloc_nested_s1(struct ufd_ctx *ctx, uint32_t dev_id,
				     uint32_t parent_id, uint32_t fault_id,
				     uint64_t root_gpa,
				     unsigned int addr_width,
				     uint32_t *out_hwpt_id);
UFD_API int ufd_hwpt_s1_invalidate(struct ufd_ctx *ctx, uint32_t hwpt_id,
				   uint64_t addr, uint64_t npages);
UFD_API int ufd_hwpt_s1_stats(struct ufd_ctx *ctx, uint32_t hwpt_id,
			      uint64_t *iotlb_hits, uint64_t *iotlb_misses);
/* The priv of a nested HWPT: -ENOENT if @hwpt_id names none. */
UFD_API int ufd_hwpt_nested_priv(struct ufd_ctx *ctx, uint32_t hwpt_id,
				 void **priv);

/* ---- IO page faults -------------------------------------------------------- */

/* One fault record, as a fault queue delivers it (iommu_hwpt_pgfault). */
struct ufd_pgfault {
	uint32_t flags;   /* UFD_PGFAULT_* */
	uint32_t dev_id;
	uint32_t pasid;
	uint32_t grpid;
	uint32_t perm;
	uint64_t addr;
	uint32_t length;
	uint32_t cookie;  /* set on delivery: the response names it */
};

enum {
	UFD_PGFAULT_PASID_VALID = 1 << 0,
	UFD_PGFAULT_LAST_PAGE = 1 << 1,
};

UFD_API int ufd_fault_alloc(struct ufd_ctx *ctx, uint32_t *out_fault_id);
/*
 * A queue's fd holds it: destroy is -EBUSY until the fd's last copy is
 * closed, which calls ufd_fault_release_fd().
 */
UFD_API int ufd_fault_hold_fd(struct ufd_ctx *ctx, uint32_t fault_id);
UFD_API void ufd_fault_release_fd(struct ufd_ctx *ctx, uint32_t fault_id);
/*
 * A device reports a page request.  Requests without LAST_PAGE wait for
 * the rest of their group (grpid); the last one delivers the group to the
 * fault queue of the HWPT the device is attached to.  -EOPNOTSUPP if that
 * HWPT has no queue (the request is answered as failed).
 */
UFD_API int ufd_device_report_fault(struct ufd_ctx *ctx, uint32_t dev_id,
				    const struct ufd_pgfault *fault);
/*
 * Take whole groups, oldest first, into @out (room for @max records);
 * returns the number of records, 0 when none is queued, -EINVAL if the
 * first group does not fit.  Each group gets its cookie now.
 */
UFD_API long ufd_fault_read(struct ufd_ctx *ctx, uint32_t fault_id,
			    struct ufd_pgfault *out, size_t max);
/* Answer a delivered group: -EINVAL for an unknown cookie or a code
 * other than 0 (success) or 1 (invalid). */
UFD_API int ufd_fault_respond(struct ufd_ctx *ctx, uint32_t fault_id,
			      uint32_t cookie, uint32_t code);
/* Is a group waiting to be read?  (poll) */
UFD_API bool ufd_fault_pending(struct ufd_ctx *ctx, uint32_t fault_id);
/*
 * Have @fn called whenever the queue goes from empty to not empty or back
 * (for a transport that signals readiness on the queue's fd, e.g. an
 * eventfd).  @fn runs with the engine lock held and must not call the
 * engine.  NULL removes it.  Called once at once with the current state.
 */
UFD_API int ufd_fault_set_notify(struct ufd_ctx *ctx, uint32_t fault_id,
				 void (*fn)(void *arg, bool pending),
				 void *arg);

/* ---- virtual IOMMUs ------------------------------------------------------- */

/*
 * A vIOMMU: the slice of a physical IOMMU that one VM owns, on top of a
 * NEST_PARENT paging HWPT (which it holds).  On it live virtual devices
 * (a device's guest-visible ID, at most one per device and one device per
 * ID), nested HWPTs (ufd_viommu_alloc_hwpt_nested), event queues (one per
 * type) and HW queues (guest memory handed to the hardware, pinned).  The
 * driver's state is the caller's @priv; @ops say what the driver does.
 */
struct ufd_viommu_ops {
	/* The vIOMMU goes: free @priv. */
	void (*destroy)(void *priv);
	/*
	 * A new HW queue @index of @type whose memory starts at host address
	 * @base (pinned and contiguous): 0, or the driver's -errno.  Set
	 * *@holds_prev when it depends on queue @index - 1 of its type (that
	 * one is then busy until this one goes).  NULL: no HW queues.
	 */
	int (*hw_queue_init)(void *priv, uint32_t type, uint32_t index,
			     uint64_t base, bool *holds_prev);
	/* HW queue @index of @type goes (after a successful init). */
	void (*hw_queue_destroy)(void *priv, uint32_t type, uint32_t index);
};

/*
 * @hwpt_id must be a paging HWPT made with UFD_HWPT_NEST_PARENT (else
 * -EINVAL; -ENOENT if none).  @mmap_length non-zero reserves a range of
 * the context's mmap offsets (*@mmap_offset, page aligned) that maps the
 * vIOMMU (ufd_viommu_mmap_find); 0 leaves *@mmap_offset alone.
 */
UFD_API int ufd_viommu_alloc(struct ufd_ctx *ctx, uint32_t dev_id,
			     uint32_t hwpt_id, uint32_t type,
			     const struct ufd_viommu_ops *ops, void *priv,
			     uint64_t mmap_length, uint64_t *mmap_offset,
			     uint32_t *out_viommu_id);
/* Its type and priv: -ENOENT if @viommu_id names no vIOMMU. */
UFD_API int ufd_viommu_priv(struct ufd_ctx *ctx, uint32_t viommu_id,
			    uint32_t *type, void **priv);
/*
 * The vIOMMU whose mmap range is exactly [@offset, @offset + @length):
 * -ENXIO for any other range.  ufd_viommu_mmap_get() finds it the same
 * way and counts one more mapping of it (busy while mapped);
 * ufd_viommu_mmap_put() drops one.
 */
UFD_API int ufd_viommu_mmap_find(struct ufd_ctx *ctx, uint64_t offset,
				 uint64_t length, uint32_t *viommu_id);
UFD_API int ufd_viommu_mmap_get(struct ufd_ctx *ctx, uint32_t viommu_id);
UFD_API void ufd_viommu_mmap_put(struct ufd_ctx *ctx, uint32_t viommu_id);
/*
 * A nested HWPT on vIOMMU @viommu_id (on its parent): as
 * ufd_hwpt_alloc_nested_flags() (@flags: UFD_HWPT_PASID or 0).  A device
 * attaches to it only once it has a virtual device on that vIOMMU
 * (-ENOENT before).
 */
UFD_API int ufd_viommu_alloc_hwpt_nested(struct ufd_ctx *ctx, uint32_t dev_id,
					 uint32_t viommu_id, uint32_t fault_id,
					 unsigned int flags,
					 const struct ufd_nested_ops *ops,
					 void *priv, uint32_t *out_hwpt_id);
/*
 * Device @dev_id is @virt_id on the vIOMMU: -EEXIST if the device has a
 * virtual device already, or the vIOMMU has @virt_id.  Destroying the
 * device destroys its virtual device too, whose ID then stays taken
 * (-ENOENT) until the context closes.
 */
UFD_API int ufd_vdevice_alloc(struct ufd_ctx *ctx, uint32_t viommu_id,
			      uint32_t dev_id, uint64_t virt_id,
			      uint32_t *out_vdevice_id);
/* The device that is @virt_id on the vIOMMU: -ENOENT if none. */
UFD_API int ufd_viommu_find_dev(struct ufd_ctx *ctx, uint32_t viommu_id,
				uint64_t virt_id, uint32_t *dev_id);
/*
 * The vIOMMU of the nested HWPT device @dev_id is attached to, and the
 * device's virtual ID on it: -ENOENT if it is attached to none such.
 */
UFD_API int ufd_device_viommu(struct ufd_ctx *ctx, uint32_t dev_id,
			      uint32_t *viommu_id, uint64_t *virt_id);

/*
 * Event queues of a vIOMMU: at most @depth events; one arriving on a full
 * queue is lost, which the reader sees as a header with
 * UFD_VEVENT_LOST_EVENTS (and a gap in the sequence numbers, which count
 * from 0 and wrap at INT32_MAX to 0).  -EEXIST: @type has one already.
 * Its fd holds it as a fault queue's does (hold_fd, release_fd).
 */
enum { UFD_VEVENT_LOST_EVENTS = 1 << 0 };
UFD_API int ufd_veventq_alloc(struct ufd_ctx *ctx, uint32_t viommu_id,
			      uint32_t type, uint32_t depth,
			      uint32_t *out_veventq_id);
UFD_API int ufd_veventq_hold_fd(struct ufd_ctx *ctx, uint32_t veventq_id);
UFD_API void ufd_veventq_release_fd(struct ufd_ctx *ctx, uint32_t veventq_id);
/* Queue an event of @len bytes: -EOPNOTSUPP if @type has no queue. */
UFD_API int ufd_viommu_report_event(struct ufd_ctx *ctx, uint32_t viommu_id,
				    uint32_t type, const void *data,
				    size_t len);
/*
 * Take events, oldest first, into @buf: each an 8-byte header (flags,
 * sequence: host order u32s) and its data.  The bytes written; 0 when the
 * queue is empty; -EINVAL if @count is shorter than a header or the first
 * event does not fit.
 */
UFD_API long ufd_veventq_read(struct ufd_ctx *ctx, uint32_t veventq_id,
			      void *buf, size_t count);
UFD_API bool ufd_veventq_pending(struct ufd_ctx *ctx, uint32_t veventq_id);
/* As ufd_fault_set_notify(). */
UFD_API int ufd_veventq_set_notify(struct ufd_ctx *ctx, uint32_t veventq_id,
				   void (*fn)(void *arg, bool pending),
				   void *arg);

/*
 * A HW queue: [@iova, @iova + @length) of the vIOMMU's parent IOAS,
 * pinned while the queue lives (an unmap of it is -EBUSY) and handed to
 * the driver (ops->hw_queue_init).  -EINVAL for length 0, -EOVERFLOW,
 * -ENOENT if not all mapped, -EFAULT if not contiguous in host memory.
 */
UFD_API int ufd_hw_queue_alloc(struct ufd_ctx *ctx, uint32_t viommu_id,
			       uint32_t type, uint32_t index, uint64_t iova,
			       uint64_t length, uint32_t *out_hw_queue_id);

/*
 * Dirty tracking of a paging HWPT made with UFD_HWPT_DIRTY_TRACKING.
 * Enabling clears what was dirty before.  read_dirty reports each dirty IO
 * page intersecting [iova, iova + length) to @fn (with the engine lock
 * held: @fn must not call the engine) and clears it unless @keep; the
 * range must be mapped without holes and aligned to the IOAS alignment and
 * to @page_size.  mark_dirty sets the dirty bit of the IO page under each
 * set bit of @bitmap (bit i: iova + i * page_size), as a device's DMA
 * write would; *marked counts those that were mapped.
 */
UFD_API int ufd_hwpt_set_dirty_tracking(struct ufd_ctx *ctx,
					uint32_t hwpt_id, bool enable);
UFD_API int ufd_hwpt_read_dirty(struct ufd_ctx *ctx, uint32_t hwpt_id,
				uint64_t iova, uint64_t length,
				uint64_t page_size, bool keep,
				void (*fn)(void *arg, uint64_t iova,
					   uint64_t length),
				void *arg);
/*
 * The same harvest into @bitmap, ORed in: bit i (byte i / 8, bit i % 8, any
 * byte alignment) is [iova + i * page_size, + page_size), set if any IO
 * page in it is dirty (a larger page size ORs IO pages together, a
 * smaller one sets every bit an IO page covers).  @bitmap holds at least
 * (length / page_size + 7) / 8 bytes; NULL only checks the arguments
 * (the errno a harvest would give, but not the -EINVAL of a hole).  Costs
 * about a copy of the bitmap where something is dirty, and next to
 * nothing where nothing is.
 */
UFD_API int ufd_hwpt_read_dirty_bitmap(struct ufd_ctx *ctx, uint32_t hwpt_id,
				       uint64_t iova, uint64_t length,
				       uint64_t page_size, bool keep,
				       uint8_t *bitmap);
UFD_API int ufd_hwpt_mark_dirty(struct ufd_ctx *ctx, uint32_t hwpt_id,
				uint64_t iova, uint64_t page_size,
				const uint8_t *bitmap, uint64_t nbits,
				uint64_t *marked);

/*
 * A destroyable handle owning a bound device (the selftest's "stdev"):
 * IOMMU_DESTROY of the handle detaches and unbinds the device.
 */
UFD_API int ufd_stdev_create(struct ufd_ctx *ctx,
			     const struct ufd_device_info *info,
			     uint32_t *stdev_id, uint32_t *dev_id);
UFD_API int ufd_stdev_device(struct ufd_ctx *ctx, uint32_t stdev_id,
			     uint32_t *dev_id);

/* ---- the DMA path -------------------------------------------------------------- */

/*
 * A device's DMA port: its reads and writes go through the page table of
 * the HWPT it is attached to, like DMA through a real IOMMU.  A walk costs
 * O(levels), whatever the number of mappings; nothing takes the engine
 * lock, so DMA on many ports runs in parallel.
 *
 * The rule against concurrent unmap: a DMA (ufd_dma_read/ufd_dma_write, or
 * everything between ufd_dma_map_sg and ufd_dma_unmap_sg) either completes
 * before an unmap (or detach, replace) of what it reaches, or it does not
 * see that mapping at all and fails -EFAULT, as a real IOMMU faults.  The
 * unmap returns only after every DMA that could still reach the old pages
 * has finished, so pages are never unpinned under a DMA.  Hence: between
 * map_sg and unmap_sg, do not call other engine functions from that
 * thread, and keep the window short.
 *
 * A write through a HWPT that tracks dirty pages sets the dirty bits.
 */
struct ufd_dma;

struct ufd_sg {
	void *host;
	size_t len;
};

/* -ENOENT: no such device; the port keeps it from being unbound. */
UFD_API int ufd_dma_open(struct ufd_ctx *ctx, uint32_t dev_id,
			 struct ufd_dma **out);
/*
 * A port whose DMA carries PASID @pasid: it goes through the HWPT
 * attached at that PASID when it runs (-ENODEV if none is).  UFD_NO_PASID
 * is ufd_dma_open(); -EINVAL for a PASID the device does not have.
 */
UFD_API int ufd_dma_open_pasid(struct ufd_ctx *ctx, uint32_t dev_id,
			       uint32_t pasid, struct ufd_dma **out);
UFD_API void ufd_dma_close(struct ufd_dma *dma);
/*
 * Copy between IOVA and @buf.  -EFAULT where nothing is mapped or the
 * mapping forbids the direction (an IO page fault), -ENODEV when the
 * device is attached to nothing, -EOPNOTSUPP through a nested HWPT
 * without a stage-1 format.  On a fault nothing was copied past it.
 */
UFD_API int ufd_dma_read(struct ufd_dma *dma, uint64_t iova, void *buf,
			 size_t len);
UFD_API int ufd_dma_write(struct ufd_dma *dma, uint64_t iova,
			  const void *buf, size_t len);
/*
 * Translate [iova, iova + len) into at most @max host segments (adjacent
 * IO pages merged).  On success the read side stays held until
 * ufd_dma_unmap_sg(); on failure nothing is held.  -E2BIG if more than
 * @max segments are needed.
 */
UFD_API int ufd_dma_map_sg(struct ufd_dma *dma, uint64_t iova, size_t len,
			   bool write, struct ufd_sg *sg, unsigned int max,
			   unsigned int *nsg);
UFD_API void ufd_dma_unmap_sg(struct ufd_dma *dma);

/* ---- access objects: an in-process user of an IOAS ----------------------- */

/*
 * An access reads and writes IOVA, or pins IOVA to reach it directly (an
 * emulated device's DMA).  When an area with pins of the access is about
 * to be unmapped, the engine calls ops->unmap; the owner must unpin every
 * pin that intersects [iova, iova + length) before it returns.
 */
struct ufd_access_ops {
	void (*unmap)(void *priv, uint64_t iova, uint64_t length);
	/* Called once when the access is destroyed, after its pins are gone. */
	void (*destroy)(void *priv);
};

enum {
	UFD_ACCESS_RW_WRITE = 1 << 0, /* to IOVA, from the buffer */
	UFD_ACCESS_RW_SLOW = 1 << 1,  /* never use pinned pages (tests) */
};

UFD_API int ufd_access_create(struct ufd_ctx *ctx, uint32_t ioas_id,
			      const struct ufd_access_ops *ops, void *priv,
			      uint32_t *out_access_id);
UFD_API void ufd_access_destroy(struct ufd_ctx *ctx, uint32_t access_id);
/* The priv pointer given at creation; -ENOENT if no such access. */
UFD_API int ufd_access_get_priv(struct ufd_ctx *ctx, uint32_t access_id,
				void **priv);
/* Move the access to another IOAS; it must hold no pins. */
UFD_API int ufd_access_replace_ioas(struct ufd_ctx *ctx, uint32_t access_id,
				    uint32_t ioas_id);
/*
 * Pin [iova, iova + length): on success hosts[i] is where page i of the
 * range (page-aligned around iova) is reached.  -ENOENT if the range is
 * not fully mapped, -EPERM for a write pin of a read-only area.
 */
UFD_API int ufd_access_pin(struct ufd_ctx *ctx, uint32_t access_id,
			   uint64_t iova, uint64_t length, bool writable,
			   void **hosts);
UFD_API void ufd_access_unpin(struct ufd_ctx *ctx, uint32_t access_id,
			      uint64_t iova, uint64_t length);
/* Copy between IOVA and @buf (engine memory), on live memory. */
UFD_API int ufd_access_rw(struct ufd_ctx *ctx, uint32_t access_id,
			  uint64_t iova, void *buf, size_t length,
			  unsigned int flags);

/* ---- extensions (uiommufd-extensions(7)) ------------------------------ */

/*
 * The design ideas of the iommufd discussion that the kernel did not take;
 * /dev/iommu reaches them through <uiommufd/uapi/linux/iommufd_ext.h>.
 */

/* IOVA [start, last] mapped by IO page table leaves of @page_size. */
struct ufd_page_run {
	uint64_t start;
	uint64_t last; /* inclusive */
	uint64_t page_size;
};
/*
 * The IO page sizes used to map [iova, iova + length) of @pt_id (a paging
 * HWPT, or an IOAS: the smallest leaf any of its HWPTs uses at each IOVA):
 * maximal runs of one leaf size clipped to the range, IOVA order; up to
 * @max into @runs, *num the total.  -ENOENT, -EINVAL (length 0),
 * -EOVERFLOW.
 */
UFD_API int ufd_page_sizes_used(struct ufd_ctx *ctx, uint32_t pt_id,
				uint64_t iova, uint64_t length,
				struct ufd_page_run *runs, uint32_t max,
				uint32_t *num);

/* Why an attach would be refused (struct ufd_attach_verdict.reason). */
enum {
	UFD_ATTACH_OK = 0,
	UFD_ATTACH_CUTS_MAPPING = 1,
	UFD_ATTACH_CUTS_ALLOWED = 2,
	UFD_ATTACH_CUTS_RESERVATION = 3,
	UFD_ATTACH_ALIGNMENT = 4,
	UFD_ATTACH_PAGE_SIZE = 5,
	UFD_ATTACH_MIN_APERTURE = 6,
	UFD_ATTACH_MIN_PAGE_SIZES = 7,
	UFD_ATTACH_DOMAIN = 8,
};
struct ufd_attach_verdict {
	int error;               /* 0, or the -errno the attach returns */
	unsigned int reason;     /* UFD_ATTACH_* */
	uint64_t alignment;      /* the IOAS's IOVA alignment afterwards */
	uint64_t pgsize_bitmap;  /* of the domain the device would use */
	struct ufd_iova_range conflict; /* what conflicts, per reason */
};
/*
 * What ufd_device_attach() of @dev_id to IOAS @ioas_id (or, for an
 * attached device, ufd_device_replace() onto it) would do, exactly as
 * those decide it, without doing it: the IOVA ranges the IOAS would have
 * (up to @max into @ranges, *num the total) and the verdict.  Pinning
 * failures of the attach itself (-EFAULT, -ENOMEM) are not foreseen.
 * Returns -ENOENT (no such device or IOAS) or -ENOMEM, else 0.
 */
UFD_API int ufd_device_query_attach_verdict(struct ufd_ctx *ctx,
					    uint32_t dev_id, uint32_t ioas_id,
					    struct ufd_iova_range *ranges,
					    uint32_t max, uint32_t *num,
					    struct ufd_attach_verdict *verdict);

enum {
	UFD_MIN_APERTURE_FIXED_BASE = 1 << 0,
};
/*
 * Require of IOAS @ioas_id a window of @length bytes of usable IOVA (at
 * @base with UFD_MIN_APERTURE_FIXED_BASE) and domains that support every
 * page size of @pgsize_bitmap: attaches that would break it fail -ENOSPC
 * (window) or -ERANGE (page sizes); so does this call if the IOAS breaks
 * it now.  @length 0 removes the requirement.
 */
UFD_API int ufd_ioas_set_min_aperture(struct ufd_ctx *ctx, uint32_t ioas_id,
				      uint64_t length, uint64_t base,
				      uint64_t pgsize_bitmap,
				      unsigned int flags);
/*
 * IOVA reservations (the seed's IOMAP_RESERVE): [iova, iova + length)
 * kept from automatic maps and from attaches that cannot reach it, but
 * free for FIXED maps over it.  -EINVAL (misaligned, or meets a device's
 * reserved IOVA), -EEXIST (meets another reservation).
 */
UFD_API int ufd_ioas_reserve_iova(struct ufd_ctx *ctx, uint32_t ioas_id,
				  uint64_t iova, uint64_t length);
/* Remove the reservations inside the range (0, UINT64_MAX: all); one that
 * sticks out, or none: -ENOENT, nothing removed. */
UFD_API int ufd_ioas_unreserve_iova(struct ufd_ctx *ctx, uint32_t ioas_id,
				    uint64_t iova, uint64_t length);
/* The reservations, lowest first: up to @max, *num the total. */
UFD_API int ufd_ioas_reservations(struct ufd_ctx *ctx, uint32_t ioas_id,
				  struct ufd_iova_range *ranges, uint32_t max,
				  uint32_t *num);
/*
 * ufd_ioas_map() at *iova if that range is free for an automatic map,
 * else at an IOVA the engine picks (stored in *iova); *at_hint tells
 * which.  @flags: UFD_MAP_READ | UFD_MAP_WRITE (FIXED_IOVA: -EOPNOTSUPP).
 */
UFD_API int ufd_ioas_map_hint(struct ufd_ctx *ctx, uint32_t ioas_id,
			      struct ufd_source *src, uint64_t uaddr,
			      uint64_t length, uint64_t *iova,
			      unsigned int flags, bool *at_hint);
/*
 * ufd_ioas_copy() that also copies the IOVA reservations
 * (ufd_ioas_reserve_iova()) of the source range, clipped to it, to the
 * same offsets from *dst_iova; *out_copied (may be NULL) is how many.  The
 * source range must be mapped throughout (-ENOENT), as for ufd_ioas_copy();
 * the destination range must hold no reservation (-EEXIST; an automatic
 * *dst_iova never does).  All or nothing.
 */
UFD_API int ufd_ioas_copy_resv(struct ufd_ctx *ctx, uint32_t dst_ioas_id,
			       uint32_t src_ioas_id, uint64_t src_iova,
			       uint64_t length, uint64_t *dst_iova,
			       unsigned int flags, uint32_t *out_copied);
/*
 * ufd_ioas_map() with a guaranteed unmap granularity (the seed's "map a
 * large range, unmap any granule of it later"): @granule is a power of
 * two, at least 4 KiB; @uaddr, @length and a FIXED *iova are multiples of
 * it (an allocated *iova is made one), else -EINVAL.  The domains still
 * use the largest IO pages that fit.  Later, ufd_ioas_unmap() (and
 * ufd_ioas_unmap_range(), VFIO's UNMAP_DMA) of any range whose ends
 * inside the area are multiples of @granule succeeds: the area is cut,
 * the superpages that straddle a cut are split in place (DMA to the rest
 * never faults), the cut part's pins are dropped.  An end that is not a
 * multiple is -EINVAL.  @src may be a file source (@uaddr is then the
 * offset).  @flags: UFD_MAP_FIXED_IOVA | UFD_MAP_READ | UFD_MAP_WRITE.
 */
UFD_API int ufd_ioas_map_granule(struct ufd_ctx *ctx, uint32_t ioas_id,
				 struct ufd_source *src, uint64_t uaddr,
				 uint64_t length, uint64_t *iova,
				 unsigned int flags, uint64_t granule);

/*
 * PASID sets with quotas (the seed thread's IOASID sets).  A set is an
 * object of the context (destroyed by ufd_destroy(): -EBUSY while it has
 * PASIDs allocated) with a range [first, last] (inclusive, 1 <= first <=
 * last <= UFD_PASID_MAX) and a quota: at most @quota of its PASIDs are
 * allocated at a time.  The engine caps the PASIDs allocated from all
 * sets of all contexts at its capacity (UFD_PASID_CAPACITY_DEFAULT
 * unless ufd_engine_set_pasid_capacity() says otherwise).  A PASID
 * number is allocated at most once per context, across its sets.
 */
#define UFD_PASID_MAX ((1u << 20) - 1)
#define UFD_PASID_CAPACITY_DEFAULT UFD_PASID_MAX
/* -EINVAL: a bad range or quota 0. */
UFD_API int ufd_pasid_set_alloc(struct ufd_ctx *ctx, uint32_t first,
				uint32_t last, uint32_t quota,
				uint32_t *out_set_id);
/*
 * The lowest PASID of the set's range that the context has not allocated;
 * with @dev_id non-zero, also one that device's IOMMU has (-EINVAL: none
 * of the range does).  -ENOSPC: the set's quota, the engine's capacity,
 * or the range is used up; -ENOENT: no such set or device.
 */
UFD_API int ufd_pasid_alloc(struct ufd_ctx *ctx, uint32_t set_id,
			    uint32_t dev_id, uint32_t *out_pasid);
/* -ENOENT: not allocated from the set; -EBUSY: a device of the context
 * has it attached (detach first). */
UFD_API int ufd_pasid_free(struct ufd_ctx *ctx, uint32_t set_id,
			   uint32_t pasid);
/* ufd_device_pasid_attach() of a PASID allocated from the set (else
 * -ENOENT); its errors otherwise. */
UFD_API int ufd_pasid_set_attach(struct ufd_ctx *ctx, uint32_t set_id,
				 uint32_t dev_id, uint32_t pasid,
				 uint32_t hwpt_id);
struct ufd_pasid_set_info {
	uint32_t first, last;   /* the range, inclusive */
	uint32_t quota;
	uint32_t allocated;     /* from this set */
	uint32_t sys_capacity;  /* the engine's capacity */
	uint32_t sys_allocated; /* from every set of the engine */
};
UFD_API int ufd_pasid_set_info(struct ufd_ctx *ctx, uint32_t set_id,
			       struct ufd_pasid_set_info *info);
/* The set's PASIDs, ascending: up to @max into @pasids, *num the total. */
UFD_API int ufd_pasid_set_list(struct ufd_ctx *ctx, uint32_t set_id,
			       uint32_t *pasids, uint32_t max, uint32_t *num);
/* -EINVAL above UFD_PASID_MAX; -EBUSY below what is allocated now. */
UFD_API int ufd_engine_set_pasid_capacity(struct ufd_engine *eng,
					  uint32_t capacity);
UFD_API void ufd_engine_pasid_usage(struct ufd_engine *eng,
				    uint32_t *capacity, uint32_t *allocated);
/* ---- registered memory (uiommufd extension) ---------------------------- */

/*
 * Register [uaddr, uaddr + length) of @src with the context: its pages are
 * pinned now and charged once (as the context's RLIMIT_MODE says).  Later
 * maps by the same user of a range inside it, from a source of the same
 * address space, in any IOAS of any context, share that pin and charge
 * instead of pinning again (a map asking for UFD_MAP_WRITE only if @flags
 * has UFD_MAP_WRITE).  @flags: 0 or UFD_MAP_WRITE.  The registration is an
 * object of the context (*out_id); ufd_destroy() removes it as
 * ufd_mem_unregister() does.
 */
UFD_API int ufd_mem_register(struct ufd_ctx *ctx, struct ufd_source *src,
			     uint64_t uaddr, uint64_t length,
			     unsigned int flags, uint32_t *out_id);
/* Remove a registration: -EBUSY while any area uses its pages, -ENOENT. */
UFD_API int ufd_mem_unregister(struct ufd_ctx *ctx, uint32_t reg_id);

struct ufd_mem_reg_info {
	uint64_t uaddr;          /* first byte registered, page aligned */
	uint64_t length;         /* bytes registered, whole pages */
	uint64_t pinned_bytes;   /* pinned once for it and its maps */
	uint64_t charged_bytes;  /* of those, charged to RLIMIT_MEMLOCK */
	unsigned int account;    /* 0: not charged, 1: per user, 2: per process */
	uid_t uid;               /* the user charged */
	pid_t pid;               /* the process charged */
	uint32_t nr_maps;        /* areas of any IOAS using its pages */
	uint32_t pages_id;       /* ufd_area_info.pages_id of those areas */
};
/* The accounting of a registration. */
UFD_API int ufd_mem_reg_info(struct ufd_ctx *ctx, uint32_t reg_id,
			     struct ufd_mem_reg_info *info);

/* ---- inspection ------------------------------------------------------------ */

/* Number of pins on the page at @uaddr of @src (MD_CHECK_REFS). */
UFD_API int ufd_engine_page_pins(struct ufd_engine *eng,
				 struct ufd_source *src, uint64_t uaddr,
				 unsigned int *pins);
/* Bytes pinned and charged to @uid / to process @pid. */
UFD_API uint64_t ufd_engine_pinned_bytes_user(struct ufd_engine *eng,
					      uid_t uid);
UFD_API uint64_t ufd_engine_pinned_bytes_pid(struct ufd_engine *eng,
					     pid_t pid);
/*
 * Bytes pinned on behalf of process @pid in any accounting mode that
 * charges (per user or per process): the kernel's VmPin of that process.
 */
UFD_API uint64_t ufd_engine_vm_pinned_bytes(struct ufd_engine *eng,
					    pid_t pid);
/*
 * The identity of the page that the engine reaches at @host, asked of the
 * source of the pages object pinned there.  -ENOENT if no pinned pages
 * object holds @host.
 */
UFD_API int ufd_engine_host_ident(struct ufd_engine *eng, uint64_t host,
				  uint64_t *ident);

struct ufd_area_info {
	uint64_t iova;
	uint64_t length;
	uint64_t uaddr;
	unsigned int flags;    /* UFD_MAP_READ | UFD_MAP_WRITE */
	uint32_t pages_id;     /* areas sharing pinned pages share this */
	uint64_t pinned_bytes; /* of the pages object, whole */
	uint64_t granule;      /* unmap granularity; 0: unmapped whole */
};
/* Call @fn for each area of the IOAS in IOVA order; stops on non-zero. */
UFD_API int ufd_ioas_for_each_area(struct ufd_ctx *ctx, uint32_t ioas_id,
				   int (*fn)(void *arg,
					     const struct ufd_area_info *info),
				   void *arg);

/*
 * Check every internal invariant of the engine (trees ordered and
 * augmented, counts agree).  Returns 0, or -EUCLEAN and prints what is
 * wrong to stderr.  For tests and fuzzing.
 */
UFD_API int ufd_engine_check(struct ufd_engine *eng);

#ifdef __cplusplus
}
#endif
#endif
