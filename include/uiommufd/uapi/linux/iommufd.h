/* SPDX-License-Identifier: MIT */
/*
 * uiommufd: the /dev/iommu (iommufd) user ABI.
 *
 * Binary compatible with Linux include/uapi/linux/iommufd.h (newest
 * upstream layout). Numbers, struct layouts, names and flag values are ABI
 * facts and match the kernel exactly; the text here is our own.
 *
 * The include guard is the one of the installed kernel header, so this file
 * and a system <linux/iommufd.h> can stand in for each other.
 *
 * Conventions shared by every command:
 *  - the argument is a struct whose first __u32 is its size in bytes;
 *  - bytes beyond what the implementation understands must be zero
 *    (otherwise E2BIG); a shorter struct than the minimum is EINVAL;
 *  - fields named __reserved* must be zero;
 *  - ENOTTY: unknown command number; EOPNOTSUPP: a known field holds an
 *    unsupported value; EINVAL: a field is wrong; ENOENT: no such ID or
 *    IOVA; ENOMEM: out of memory; EOVERFLOW: arithmetic overflow.
 */
#ifndef _IOMMUFD_H
#define _IOMMUFD_H

#include <linux/types.h>
#include <linux/ioctl.h>

#ifndef __aligned_le64
#define __aligned_le64 __le64 __attribute__((aligned(8)))
#endif

#define IOMMUFD_TYPE (';')

/* Command numbers (_IOC_NR). All commands are _IO(IOMMUFD_TYPE, nr). */
enum {
	IOMMUFD_CMD_BASE = 0x80,
	IOMMUFD_CMD_DESTROY = IOMMUFD_CMD_BASE,
	IOMMUFD_CMD_IOAS_ALLOC = 0x81,
	IOMMUFD_CMD_IOAS_ALLOW_IOVAS = 0x82,
	IOMMUFD_CMD_IOAS_COPY = 0x83,
	IOMMUFD_CMD_IOAS_IOVA_RANGES = 0x84,
	IOMMUFD_CMD_IOAS_MAP = 0x85,
	IOMMUFD_CMD_IOAS_UNMAP = 0x86,
	IOMMUFD_CMD_OPTION = 0x87,
	IOMMUFD_CMD_VFIO_IOAS = 0x88,
	IOMMUFD_CMD_HWPT_ALLOC = 0x89,
	IOMMUFD_CMD_GET_HW_INFO = 0x8a,
	IOMMUFD_CMD_HWPT_SET_DIRTY_TRACKING = 0x8b,
	IOMMUFD_CMD_HWPT_GET_DIRTY_BITMAP = 0x8c,
	IOMMUFD_CMD_HWPT_INVALIDATE = 0x8d,
	IOMMUFD_CMD_FAULT_QUEUE_ALLOC = 0x8e,
	IOMMUFD_CMD_IOAS_MAP_FILE = 0x8f,
	IOMMUFD_CMD_VIOMMU_ALLOC = 0x90,
	IOMMUFD_CMD_VDEVICE_ALLOC = 0x91,
	IOMMUFD_CMD_IOAS_CHANGE_PROCESS = 0x92,
	IOMMUFD_CMD_VEVENTQ_ALLOC = 0x93,
	IOMMUFD_CMD_HW_QUEUE_ALLOC = 0x94,
	IOMMUFD_CMD_IOAS_NOIOMMU_GET_PA = 0x95,
};

/*
 * IOMMU_DESTROY: drop the object with the given ID (any destroyable type).
 * Fails with EBUSY while other objects still depend on it.
 */
struct iommu_destroy {
	__u32 size;
	__u32 id;
};
#define IOMMU_DESTROY _IO(IOMMUFD_TYPE, IOMMUFD_CMD_DESTROY)

/*
 * IOMMU_IOAS_ALLOC: create an empty IO address space; its ID is returned
 * in out_ioas_id. flags must be 0.
 */
struct iommu_ioas_alloc {
	__u32 size;
	__u32 flags;
	__u32 out_ioas_id;
};
#define IOMMU_IOAS_ALLOC _IO(IOMMUFD_TYPE, IOMMUFD_CMD_IOAS_ALLOC)

/* One inclusive IOVA interval [start, last]. */
struct iommu_iova_range {
	__aligned_u64 start;
	__aligned_u64 last;
};

/*
 * IOMMU_IOAS_IOVA_RANGES: report the IOVA intervals where mapping is
 * currently allowed. allowed_iovas points to an array of num_iovas
 * struct iommu_iova_range. num_iovas is updated to the number of ranges;
 * if the array was too small the call fails with EMSGSIZE and num_iovas
 * tells how many are needed. out_iova_alignment is the IOVA/length
 * alignment MAP and COPY require (1 means byte granular, never above
 * PAGE_SIZE). The ranges shrink as devices attach and may grow back when
 * they detach.
 */
struct iommu_ioas_iova_ranges {
	__u32 size;
	__u32 ioas_id;
	__u32 num_iovas;
	__u32 __reserved;
	__aligned_u64 allowed_iovas;
	__aligned_u64 out_iova_alignment;
};
#define IOMMU_IOAS_IOVA_RANGES _IO(IOMMUFD_TYPE, IOMMUFD_CMD_IOAS_IOVA_RANGES)

/*
 * IOMMU_IOAS_ALLOW_IOVAS: replace the list of IOVA ranges that must stay
 * usable. Fails if the IOAS is already narrower than the list; afterwards
 * an attach that would narrow below it is refused. Automatic IOVA
 * allocation then stays inside these ranges.
 */
struct iommu_ioas_allow_iovas {
	__u32 size;
	__u32 ioas_id;
	__u32 num_iovas;
	__u32 __reserved;
	__aligned_u64 allowed_iovas;
};
#define IOMMU_IOAS_ALLOW_IOVAS _IO(IOMMUFD_TYPE, IOMMUFD_CMD_IOAS_ALLOW_IOVAS)

/* Flags of MAP, MAP_FILE and COPY. */
enum iommufd_ioas_map_flags {
	/* iova is an input; without it an IOVA is chosen and returned */
	IOMMU_IOAS_MAP_FIXED_IOVA = 1 << 0,
	/* device may write */
	IOMMU_IOAS_MAP_WRITEABLE = 1 << 1,
	/* device may read */
	IOMMU_IOAS_MAP_READABLE = 1 << 2,
};

/*
 * IOMMU_IOAS_MAP: map length bytes of this process's memory at user_va.
 * With FIXED_IOVA the range at iova must be free (no replacement); else a
 * suitable IOVA outside reserved ranges is picked and written to iova.
 */
struct iommu_ioas_map {
	__u32 size;
	__u32 flags;
	__u32 ioas_id;
	__u32 __reserved;
	__aligned_u64 user_va;
	__aligned_u64 length;
	__aligned_u64 iova;
};
#define IOMMU_IOAS_MAP _IO(IOMMUFD_TYPE, IOMMUFD_CMD_IOAS_MAP)

/*
 * IOMMU_IOAS_MAP_FILE: like IOMMU_IOAS_MAP, but the memory is length bytes
 * of the memfd fd starting at byte offset start.
 */
struct iommu_ioas_map_file {
	__u32 size;
	__u32 flags;
	__u32 ioas_id;
	__s32 fd;
	__aligned_u64 start;
	__aligned_u64 length;
	__aligned_u64 iova;
};
#define IOMMU_IOAS_MAP_FILE _IO(IOMMUFD_TYPE, IOMMUFD_CMD_IOAS_MAP_FILE)

/*
 * IOMMU_IOAS_COPY: map into dst_ioas_id the memory that src_ioas_id maps
 * at [src_iova, src_iova + length). The source range must exactly match
 * an earlier MAP. The pages are shared, so they are pinned only once.
 * dst_iova follows the FIXED_IOVA rule of IOMMU_IOAS_MAP.
 */
struct iommu_ioas_copy {
	__u32 size;
	__u32 flags;
	__u32 dst_ioas_id;
	__u32 src_ioas_id;
	__aligned_u64 length;
	__aligned_u64 dst_iova;
	__aligned_u64 src_iova;
};
#define IOMMU_IOAS_COPY _IO(IOMMUFD_TYPE, IOMMUFD_CMD_IOAS_COPY)

/*
 * IOMMU_IOAS_UNMAP: remove every mapping inside [iova, iova + length).
 * Mappings may not be split. iova 0 with length U64_MAX empties the IOAS.
 * On return length holds the number of bytes unmapped.
 */
struct iommu_ioas_unmap {
	__u32 size;
	__u32 ioas_id;
	__aligned_u64 iova;
	__aligned_u64 length;
};
#define IOMMU_IOAS_UNMAP _IO(IOMMUFD_TYPE, IOMMUFD_CMD_IOAS_UNMAP)

/* Options for IOMMU_OPTION. */
enum iommufd_option {
	/*
	 * Global (object_id 0), privileged to set: 0 = per-user memlock
	 * accounting (default), 1 = per-process.
	 */
	IOMMU_OPTION_RLIMIT_MODE = 0,
	/*
	 * Per IOAS (object_id = IOAS ID): 1 = contiguous pages may be mapped
	 * with large IO pages (default), 0 = map everything in PAGE_SIZE.
	 */
	IOMMU_OPTION_HUGE_PAGES = 1,
};

enum iommufd_option_ops {
	IOMMU_OPTION_OP_SET = 0,
	IOMMU_OPTION_OP_GET = 1,
};

/* IOMMU_OPTION: set val64 into, or read it back from, an option. */
struct iommu_option {
	__u32 size;
	__u32 option_id;
	__u16 op;
	__u16 __reserved;
	__u32 object_id;
	__aligned_u64 val64;
};
#define IOMMU_OPTION _IO(IOMMUFD_TYPE, IOMMUFD_CMD_OPTION)

enum iommufd_vfio_ioas_op {
	IOMMU_VFIO_IOAS_GET = 0,
	IOMMU_VFIO_IOAS_SET = 1,
	IOMMU_VFIO_IOAS_CLEAR = 2,
};

/*
 * IOMMU_VFIO_IOAS: get, set or clear the single IOAS that the VFIO type1
 * compatibility interface works on (ioas_id is output for GET, input for
 * SET). Neither SET nor CLEAR destroys an IOAS created automatically.
 */
struct iommu_vfio_ioas {
	__u32 size;
	__u32 ioas_id;
	__u16 op;
	__u16 __reserved;
};
#define IOMMU_VFIO_IOAS _IO(IOMMUFD_TYPE, IOMMUFD_CMD_VFIO_IOAS)

/* Flags of IOMMU_HWPT_ALLOC. */
enum iommufd_hwpt_alloc_flags {
	/* the HWPT may be the parent (stage 2) of nested HWPTs */
	IOMMU_HWPT_ALLOC_NEST_PARENT = 1 << 0,
	/* every device attached must support dirty tracking */
	IOMMU_HWPT_ALLOC_DIRTY_TRACKING = 1 << 1,
	/* fault_id is valid: faults are reported to that fault queue */
	IOMMU_HWPT_FAULT_ID_VALID = 1 << 2,
	/* the domain may be attached to PASIDs (EOPNOTSUPP if unsupported) */
	IOMMU_HWPT_ALLOC_PASID = 1 << 3,
};

/* Intel VT-d stage-1 page table attributes. */
enum iommu_hwpt_vtd_s1_flags {
	IOMMU_VTD_S1_SRE = 1 << 0,
	IOMMU_VTD_S1_EAFE = 1 << 1,
	IOMMU_VTD_S1_WPE = 1 << 2,
};

/* Data of IOMMU_HWPT_DATA_VTD_S1: a guest stage-1 table. */
struct iommu_hwpt_vtd_s1 {
	__aligned_u64 flags;
	__aligned_u64 pgtbl_addr;
	__u32 addr_width;
	__u32 __reserved;
};

/*
 * Data of IOMMU_HWPT_DATA_ARM_SMMUV3: the first two little-endian words of
 * a guest Stream Table Entry (abort, bypass or stage-1 configuration).
 */
struct iommu_hwpt_arm_smmuv3 {
	__aligned_le64 ste[2];
};

/* Data of IOMMU_HWPT_DATA_AMD_GUEST: a guest Device Table Entry. */
struct iommu_hwpt_amd_guest {
	__aligned_u64 dte[4];
};

/* Format of the driver data given to IOMMU_HWPT_ALLOC. */
enum iommu_hwpt_data_type {
	IOMMU_HWPT_DATA_NONE = 0,
	IOMMU_HWPT_DATA_VTD_S1 = 1,
	IOMMU_HWPT_DATA_ARM_SMMUV3 = 2,
	IOMMU_HWPT_DATA_AMD_GUEST = 3,
};

/*
 * IOMMU_HWPT_ALLOC: create a hardware page table (an IOMMU domain) for
 * device dev_id. With pt_id an IOAS and data_type NONE the table is
 * kernel managed and mirrors the IOAS. With pt_id a nesting parent HWPT
 * or a vIOMMU and a driver data_type it is a user managed nested table;
 * data_uptr/data_len then describe it (both zero for NONE). The new ID is
 * returned in out_hwpt_id. fault_id is read only with
 * IOMMU_HWPT_FAULT_ID_VALID.
 */
struct iommu_hwpt_alloc {
	__u32 size;
	__u32 flags;
	__u32 dev_id;
	__u32 pt_id;
	__u32 out_hwpt_id;
	__u32 __reserved;
	__u32 data_type;
	__u32 data_len;
	__aligned_u64 data_uptr;
	__u32 fault_id;
	__u32 __reserved2;
};
#define IOMMU_HWPT_ALLOC _IO(IOMMUFD_TYPE, IOMMUFD_CMD_HWPT_ALLOC)

/* Flags of struct iommu_hw_info_vtd. */
enum iommu_hw_info_vtd_flags {
	/* read-only mappings are not allowed on a nesting parent */
	IOMMU_HW_INFO_VTD_ERRATA_772415_SPR17 = 1 << 0,
};

/* IOMMU_HW_INFO_TYPE_INTEL_VTD: raw VT-d capability registers. */
struct iommu_hw_info_vtd {
	__u32 flags;
	__u32 __reserved;
	__aligned_u64 cap_reg;
	__aligned_u64 ecap_reg;
};

/* iommu_hw_info_arm_smmuv3.flags */
enum iommu_hw_info_arm_smmuv3_flags {
	/* issue TLBI/CFGI+SYNC twice (erratum T264-SMMU-3) */
	IOMMU_HW_INFO_ARM_SMMUV3_ERRATA_REPEAT_TLBI_CFGI = 1 << 0,
};

/* IOMMU_HW_INFO_TYPE_ARM_SMMUV3: raw SMMUv3 ID registers. */
struct iommu_hw_info_arm_smmuv3 {
	__u32 flags;
	__u32 __reserved;
	__u32 idr[6];
	__u32 iidr;
	__u32 aidr;
};

/* IOMMU_HW_INFO_TYPE_TEGRA241_CMDQV: CMDQ-V parameters. */
struct iommu_hw_info_tegra241_cmdqv {
	__u32 flags;
	__u8 version;
	__u8 log2vcmdqs;
	__u8 log2vsids;
	__u8 __reserved;
};

/* IOMMU_HW_INFO_TYPE_AMD: AMD IOMMU extended feature registers. */
struct iommu_hw_info_amd {
	__aligned_u64 efr;
	__aligned_u64 efr2;
};

/* Type of the driver data returned by IOMMU_GET_HW_INFO. */
enum iommu_hw_info_type {
	IOMMU_HW_INFO_TYPE_NONE = 0,	/* output: driver reports nothing */
	IOMMU_HW_INFO_TYPE_DEFAULT = 0,	/* input: the driver's own type */
	IOMMU_HW_INFO_TYPE_INTEL_VTD = 1,
	IOMMU_HW_INFO_TYPE_ARM_SMMUV3 = 2,
	IOMMU_HW_INFO_TYPE_TEGRA241_CMDQV = 3,
	IOMMU_HW_INFO_TYPE_AMD = 4,
};

/* Bits of iommu_hw_info.out_capabilities. */
enum iommufd_hw_capabilities {
	/* HWPT_SET_DIRTY_TRACKING and HWPT_GET_DIRTY_BITMAP work */
	IOMMU_HW_CAP_DIRTY_TRACKING = 1 << 0,
	/* PASID execute permission (meaningful if out_max_pasid_log2 != 0) */
	IOMMU_HW_CAP_PCI_PASID_EXEC = 1 << 1,
	/* PASID privileged mode (meaningful if out_max_pasid_log2 != 0) */
	IOMMU_HW_CAP_PCI_PASID_PRIV = 1 << 2,
	/* the device cannot use PCI ATS */
	IOMMU_HW_CAP_PCI_ATS_NOT_SUPPORTED = 1 << 3,
};

/* Flags of IOMMU_GET_HW_INFO. */
enum iommufd_hw_info_flags {
	/* in_data_type selects which info type to return */
	IOMMU_HW_INFO_FLAG_INPUT_TYPE = 1 << 0,
};

/*
 * IOMMU_GET_HW_INFO: describe the IOMMU behind device dev_id.
 * The driver data is copied to data_uptr, at most data_len bytes; a larger
 * buffer is zero filled past the data. data_len returns the driver's data
 * length, out_data_type its type. in_data_type (same storage as
 * out_data_type) requests a type when IOMMU_HW_INFO_FLAG_INPUT_TYPE is
 * set; otherwise the input is taken as IOMMU_HW_INFO_TYPE_DEFAULT.
 * out_max_pasid_log2 is the PASID width (0: no PASID); out_capabilities
 * holds enum iommufd_hw_capabilities bits.
 */
struct iommu_hw_info {
	__u32 size;
	__u32 flags;
	__u32 dev_id;
	__u32 data_len;
	__aligned_u64 data_uptr;
	union {
		__u32 in_data_type;
		__u32 out_data_type;
	};
	__u8 out_max_pasid_log2;
	__u8 __reserved[3];
	__aligned_u64 out_capabilities;
};
#define IOMMU_GET_HW_INFO _IO(IOMMUFD_TYPE, IOMMUFD_CMD_GET_HW_INFO)

enum iommufd_hwpt_set_dirty_tracking_flags {
	IOMMU_HWPT_DIRTY_TRACKING_ENABLE = 1,
};

/* IOMMU_HWPT_SET_DIRTY_TRACKING: start (ENABLE) or stop dirty tracking. */
struct iommu_hwpt_set_dirty_tracking {
	__u32 size;
	__u32 flags;
	__u32 hwpt_id;
	__u32 __reserved;
};
#define IOMMU_HWPT_SET_DIRTY_TRACKING _IO(IOMMUFD_TYPE, \
					  IOMMUFD_CMD_HWPT_SET_DIRTY_TRACKING)

enum iommufd_hwpt_get_dirty_bitmap_flags {
	/* report without clearing the dirty state (e.g. before an unmap) */
	IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR = 1,
};

/*
 * IOMMU_HWPT_GET_DIRTY_BITMAP: set one bit per page_size unit of
 * [iova, iova + length) that was written, in the u64 array at data. Bit n
 * stands for iova + n * page_size, i.e. word n / 64, bit n % 64. The
 * dirty state is cleared unless NO_CLEAR is given.
 */
struct iommu_hwpt_get_dirty_bitmap {
	__u32 size;
	__u32 hwpt_id;
	__u32 flags;
	__u32 __reserved;
	__aligned_u64 iova;
	__aligned_u64 length;
	__aligned_u64 page_size;
	__aligned_u64 data;
};
#define IOMMU_HWPT_GET_DIRTY_BITMAP _IO(IOMMUFD_TYPE, \
					IOMMUFD_CMD_HWPT_GET_DIRTY_BITMAP)

/* Format of the entries given to IOMMU_HWPT_INVALIDATE. */
enum iommu_hwpt_invalidate_data_type {
	IOMMU_HWPT_INVALIDATE_DATA_VTD_S1 = 0,
	IOMMU_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3 = 1,
};

enum iommu_hwpt_vtd_s1_invalidate_flags {
	/* only leaf entries, not the paging-structure caches */
	IOMMU_VTD_INV_FLAGS_LEAF = 1 << 0,
};

/*
 * One IOMMU_HWPT_INVALIDATE_DATA_VTD_S1 request: npages 4 KiB pages from
 * the 4 KiB aligned addr. addr 0 with npages U64_MAX means everything.
 */
struct iommu_hwpt_vtd_s1_invalidate {
	__aligned_u64 addr;
	__aligned_u64 npages;
	__u32 flags;
	__u32 __reserved;
};

/* One IOMMU_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3 request: a raw CMDQ command. */
struct iommu_viommu_arm_smmuv3_invalidate {
	__aligned_le64 cmd[2];
};

/*
 * IOMMU_HWPT_INVALIDATE: apply entry_num requests of entry_len bytes each,
 * all of data_type, read from data_uptr, to the caches of a nested HWPT or
 * a vIOMMU (hwpt_id). entry_num returns how many were handled. With
 * entry_num 0 only data_type is checked.
 */
struct iommu_hwpt_invalidate {
	__u32 size;
	__u32 hwpt_id;
	__aligned_u64 data_uptr;
	__u32 data_type;
	__u32 entry_len;
	__u32 entry_num;
	__u32 __reserved;
};
#define IOMMU_HWPT_INVALIDATE _IO(IOMMUFD_TYPE, IOMMUFD_CMD_HWPT_INVALIDATE)

/* Flags of struct iommu_hwpt_pgfault. */
enum iommu_hwpt_pgfault_flags {
	IOMMU_PGFAULT_FLAGS_PASID_VALID = (1 << 0),	/* pasid is meaningful */
	IOMMU_PGFAULT_FLAGS_LAST_PAGE = (1 << 1),	/* last of its group */
};

/* Access the faulting request wanted. */
enum iommu_hwpt_pgfault_perm {
	IOMMU_PGFAULT_PERM_READ = (1 << 0),
	IOMMU_PGFAULT_PERM_WRITE = (1 << 1),
	IOMMU_PGFAULT_PERM_EXEC = (1 << 2),	/* PASID Execute Requested */
	IOMMU_PGFAULT_PERM_PRIV = (1 << 3),	/* PASID Privileged Mode */
};

/*
 * One record read from a fault queue fd. length is an optional hint of
 * how much the device will access (0 if none). cookie names the fault
 * group; the response to a group quotes it.
 */
struct iommu_hwpt_pgfault {
	__u32 flags;
	__u32 dev_id;
	__u32 pasid;
	__u32 grpid;
	__u32 perm;
	__u32 __reserved;
	__aligned_u64 addr;
	__u32 length;
	__u32 cookie;
};

enum iommufd_page_response_code {
	IOMMUFD_PAGE_RESP_SUCCESS = 0,	/* handled, retry the access */
	IOMMUFD_PAGE_RESP_INVALID = 1,	/* not handled, do not retry */
};

/* One record written to a fault queue fd to complete a fault group. */
struct iommu_hwpt_page_response {
	__u32 cookie;
	__u32 code;
};

/*
 * IOMMU_FAULT_QUEUE_ALLOC: create a fault queue object; returns its ID and
 * an fd to read struct iommu_hwpt_pgfault from and write responses to.
 */
struct iommu_fault_alloc {
	__u32 size;
	__u32 flags;
	__u32 out_fault_id;
	__u32 out_fault_fd;
};
#define IOMMU_FAULT_QUEUE_ALLOC _IO(IOMMUFD_TYPE, IOMMUFD_CMD_FAULT_QUEUE_ALLOC)

enum iommu_viommu_type {
	IOMMU_VIOMMU_TYPE_DEFAULT = 0,
	IOMMU_VIOMMU_TYPE_ARM_SMMUV3 = 1,
	IOMMU_VIOMMU_TYPE_TEGRA241_CMDQV = 2,
};

/* Output data of a TEGRA241_CMDQV vIOMMU: where to mmap VINTF page 0. */
struct iommu_viommu_tegra241_cmdqv {
	__aligned_u64 out_vintf_mmap_offset;
	__aligned_u64 out_vintf_mmap_length;
};

/*
 * IOMMU_VIOMMU_ALLOC: create a virtual IOMMU of the given type on the
 * physical IOMMU of dev_id, on top of the nesting parent hwpt_id. Driver
 * data is exchanged through data_uptr/data_len. The ID is returned in
 * out_viommu_id.
 */
struct iommu_viommu_alloc {
	__u32 size;
	__u32 flags;
	__u32 type;
	__u32 dev_id;
	__u32 hwpt_id;
	__u32 out_viommu_id;
	__u32 data_len;
	__u32 __reserved;
	__aligned_u64 data_uptr;
};
#define IOMMU_VIOMMU_ALLOC _IO(IOMMUFD_TYPE, IOMMUFD_CMD_VIOMMU_ALLOC)

/*
 * IOMMU_VDEVICE_ALLOC: give device dev_id the guest-visible ID virt_id
 * (e.g. a virtual stream or requester ID) on vIOMMU viommu_id. Destroy it
 * before unbinding the device.
 */
struct iommu_vdevice_alloc {
	__u32 size;
	__u32 viommu_id;
	__u32 dev_id;
	__u32 out_vdevice_id;
	__aligned_u64 virt_id;
};
#define IOMMU_VDEVICE_ALLOC _IO(IOMMUFD_TYPE, IOMMUFD_CMD_VDEVICE_ALLOC)

/*
 * IOMMU_IOAS_CHANGE_PROCESS: move the pinned-memory accounting of every
 * mapping in this context to the calling process. All mappings must come
 * from IOMMU_IOAS_MAP_FILE (else EINVAL); on failure nothing changes.
 */
struct iommu_ioas_change_process {
	__u32 size;
	__u32 __reserved;
};
#define IOMMU_IOAS_CHANGE_PROCESS \
	_IO(IOMMUFD_TYPE, IOMMUFD_CMD_IOAS_CHANGE_PROCESS)

enum iommu_veventq_flag {
	/* events were dropped at this point of the queue */
	IOMMU_VEVENTQ_FLAG_LOST_EVENTS = (1U << 0),
};

/*
 * Header before each event read from a vEVENTQ fd. sequence counts 0 to
 * INT_MAX and wraps to 0; a gap means lost events. A header carrying
 * LOST_EVENTS with no data after it marks a loss at the tail.
 */
struct iommufd_vevent_header {
	__u32 flags;
	__u32 sequence;
};

enum iommu_veventq_type {
	IOMMU_VEVENTQ_TYPE_DEFAULT = 0,
	IOMMU_VEVENTQ_TYPE_ARM_SMMUV3 = 1,
	IOMMU_VEVENTQ_TYPE_TEGRA241_CMDQV = 2,
};

/* IOMMU_VEVENTQ_TYPE_ARM_SMMUV3 event: a raw event record, StreamID virtual. */
struct iommu_vevent_arm_smmuv3 {
	__aligned_le64 evt[4];
};

/* IOMMU_VEVENTQ_TYPE_TEGRA241_CMDQV event: the VINTF error bitmap. */
struct iommu_vevent_tegra241_cmdqv {
	__aligned_le64 lvcmdq_err_map[2];
};

/*
 * IOMMU_VEVENTQ_ALLOC: create an event queue of the given type (one per
 * type per vIOMMU) holding at most veventq_depth events; returns its ID
 * and an fd from which headers and events are read.
 */
struct iommu_veventq_alloc {
	__u32 size;
	__u32 flags;
	__u32 viommu_id;
	__u32 type;
	__u32 veventq_depth;
	__u32 out_veventq_id;
	__u32 out_veventq_fd;
	__u32 __reserved;
};
#define IOMMU_VEVENTQ_ALLOC _IO(IOMMUFD_TYPE, IOMMUFD_CMD_VEVENTQ_ALLOC)

enum iommu_hw_queue_type {
	IOMMU_HW_QUEUE_TYPE_DEFAULT = 0,
	IOMMU_HW_QUEUE_TYPE_TEGRA241_CMDQV = 1,
};

/*
 * IOMMU_HW_QUEUE_ALLOC: hand a guest queue living at nesting_parent_iova
 * (length bytes, in the parent's IOVA space) to the hardware of vIOMMU
 * viommu_id. index distinguishes queues of the same type.
 */
struct iommu_hw_queue_alloc {
	__u32 size;
	__u32 flags;
	__u32 viommu_id;
	__u32 type;
	__u32 index;
	__u32 out_hw_queue_id;
	__aligned_u64 nesting_parent_iova;
	__aligned_u64 length;
};
#define IOMMU_HW_QUEUE_ALLOC _IO(IOMMUFD_TYPE, IOMMUFD_CMD_HW_QUEUE_ALLOC)

/*
 * IOMMU_IOAS_NOIOMMU_GET_PA (7.3): the physical address an IOVA of IOAS
 * @ioas_id maps, for noiommu devices doing unsafe DMA.  @iova must be
 * mapped; @length, non-zero, is on input the most bytes to look at and on
 * output how many are physically contiguous from @out_phys.
 */
struct iommu_ioas_noiommu_get_pa {
	__u32 size;
	__u32 flags;
	__u32 ioas_id;
	__u32 __reserved;
	__aligned_u64 iova;
	__aligned_u64 length;
	__aligned_u64 out_phys;
};
#define IOMMU_IOAS_NOIOMMU_GET_PA                                              \
	_IO(IOMMUFD_TYPE, IOMMUFD_CMD_IOAS_NOIOMMU_GET_PA)

#endif /* _IOMMUFD_H */
