/* SPDX-License-Identifier: MIT */
/*
 * uiommufd: the VFIO user ABI (container, group and device fds, the type1
 * and sPAPR IOMMU backends, device features and migration).
 *
 * Binary compatible with Linux include/uapi/linux/vfio.h (the layout of
 * Linux 7.3). Numbers, struct layouts, names and flag values are ABI facts
 * and match the kernel exactly, down to the type of every member (plain
 * __u64 and __aligned_u64 are not interchangeable on 32-bit ABIs); the
 * text here is our own.
 *
 * The include guard is the one of the installed kernel header, so this file
 * and a system <linux/vfio.h> can stand in for each other.
 *
 * Conventions shared by most commands:
 *  - every command is _IO(VFIO_TYPE, VFIO_BASE + n): the size is never
 *    encoded in the number. The argument struct starts with __u32 argsz,
 *    the number of bytes the caller provides, and __u32 flags; newer
 *    fields are announced by flag bits and a larger argsz;
 *  - INFO commands may append a capability chain: a flag says the chain
 *    exists, cap_offset (from the start of the argument) points to the
 *    first struct vfio_info_cap_header and each header's next to the
 *    following one (0 ends the chain). When argsz is too small for the
 *    chain the call still succeeds, cap_offset is 0 and argsz is raised to
 *    the size needed;
 *  - a few commands take no struct: CHECK_EXTENSION and SET_IOMMU take
 *    an integer argument, SET_CONTAINER and GET_GFX_DMABUF a pointer to an
 *    integer, GET_DEVICE_FD a pointer to a string;
 *  - fields named reserved, pad or __resv* carry nothing; set them to 0.
 * Numbers are reused across fd kinds: VFIO_BASE + 12 to + 21 mean one
 * thing on a device (or migration data) fd and another on a container fd.
 */
#ifndef VFIO_H
#define VFIO_H

#include <linux/types.h>
#include <linux/ioctl.h>
#include <linux/stddef.h>

#define VFIO_API_VERSION 0

/*
 * Extensions, the argument of VFIO_CHECK_EXTENSION; the IOMMU model ones
 * are also the argument of VFIO_SET_IOMMU.
 */
/* type1: map and unmap of process memory; unmap may split a mapping */
#define VFIO_TYPE1_IOMMU 1
/* the sPAPR TCE (POWER) IOMMU, first version */
#define VFIO_SPAPR_TCE_IOMMU 2
/* type1 v2: an unmap must cover whole mappings */
#define VFIO_TYPE1v2_IOMMU 3
/* every device's DMA is cache coherent (may change as groups come and go) */
#define VFIO_DMA_CC_IOMMU 4
/* sPAPR EEH error recovery (VFIO_EEH_PE_OP) */
#define VFIO_EEH 5
/*
 * 6 was a two-stage type1 that never worked; as in the kernel, only the
 * number stays taken and the old name VFIO_TYPE1_NESTING_IOMMU is gone.
 */
#define __VFIO_RESERVED_TYPE1_NESTING_IOMMU 6
/* sPAPR TCE v2: preregistered memory and dynamic DMA windows */
#define VFIO_SPAPR_TCE_v2_IOMMU 7
/* no translation, no isolation; nothing but CHECK_EXTENSION works */
#define VFIO_NOIOMMU_IOMMU 8
/* VFIO_DMA_UNMAP_FLAG_ALL is understood */
#define VFIO_UNMAP_ALL 9
/* VFIO_DMA_{MAP,UNMAP}_FLAG_VADDR are understood */
#define VFIO_UPDATE_VADDR 10

#define VFIO_TYPE (';')
#define VFIO_BASE 100

/* Header of every capability in an INFO capability chain. */
struct vfio_info_cap_header {
	__u16 id;      /* meaning depends on which INFO command */
	__u16 version; /* version of that capability's layout */
	__u32 next;    /* offset of the next header, 0 for the last */
};

/* ---- the container fd (/dev/vfio/vfio) ---- */

/* VFIO_GET_API_VERSION: returns VFIO_API_VERSION. */
#define VFIO_GET_API_VERSION _IO(VFIO_TYPE, VFIO_BASE + 0)

/* VFIO_CHECK_EXTENSION (arg: an extension number): > 0 if supported. */
#define VFIO_CHECK_EXTENSION _IO(VFIO_TYPE, VFIO_BASE + 1)

/*
 * VFIO_SET_IOMMU (arg: an IOMMU model number): choose the container's
 * IOMMU backend; needs at least one group in the container.
 */
#define VFIO_SET_IOMMU _IO(VFIO_TYPE, VFIO_BASE + 2)

/* ---- the group fd (/dev/vfio/N) ---- */

/* VFIO_GROUP_GET_STATUS: whether the group is usable and contained. */
struct vfio_group_status {
	__u32 argsz;
	__u32 flags; /* output, VFIO_GROUP_FLAGS_* */
};
/* all devices of the group are bound to VFIO (or unused) */
#define VFIO_GROUP_FLAGS_VIABLE (1 << 0)
/* the group is in a container */
#define VFIO_GROUP_FLAGS_CONTAINER_SET (1 << 1)
#define VFIO_GROUP_GET_STATUS _IO(VFIO_TYPE, VFIO_BASE + 3)

/*
 * VFIO_GROUP_SET_CONTAINER (arg: pointer to the __s32 container fd, or an
 * iommufd): put the group into that container.
 */
#define VFIO_GROUP_SET_CONTAINER _IO(VFIO_TYPE, VFIO_BASE + 4)

/*
 * VFIO_GROUP_UNSET_CONTAINER: take the group out of its container again;
 * no device fd of the group may be open. The last group out resets the
 * container.
 */
#define VFIO_GROUP_UNSET_CONTAINER _IO(VFIO_TYPE, VFIO_BASE + 5)

/*
 * VFIO_GROUP_GET_DEVICE_FD (arg: a NUL-terminated device name, e.g. a PCI
 * address): returns a new device fd. The group must be in a container.
 */
#define VFIO_GROUP_GET_DEVICE_FD _IO(VFIO_TYPE, VFIO_BASE + 6)

/* ---- the device fd ---- */

/* VFIO_DEVICE_GET_INFO: the kind of device and its region/IRQ counts. */
struct vfio_device_info {
	__u32 argsz;
	__u32 flags;	   /* VFIO_DEVICE_FLAGS_* */
	__u32 num_regions; /* highest region index + 1 */
	__u32 num_irqs;	   /* highest IRQ index + 1 */
	__u32 cap_offset;  /* first capability, with VFIO_DEVICE_FLAGS_CAPS */
	__u32 pad;
};
#define VFIO_DEVICE_FLAGS_RESET (1 << 0) /* VFIO_DEVICE_RESET works */
#define VFIO_DEVICE_FLAGS_PCI (1 << 1)
#define VFIO_DEVICE_FLAGS_PLATFORM (1 << 2)
#define VFIO_DEVICE_FLAGS_AMBA (1 << 3)
#define VFIO_DEVICE_FLAGS_CCW (1 << 4)
#define VFIO_DEVICE_FLAGS_AP (1 << 5)
#define VFIO_DEVICE_FLAGS_FSL_MC (1 << 6)
#define VFIO_DEVICE_FLAGS_CAPS (1 << 7) /* cap_offset is valid */
#define VFIO_DEVICE_FLAGS_CDX (1 << 8)
#define VFIO_DEVICE_GET_INFO _IO(VFIO_TYPE, VFIO_BASE + 7)

/* device_api strings of mediated device types, one per device flag. */
#define VFIO_DEVICE_API_PCI_STRING "vfio-pci"
#define VFIO_DEVICE_API_PLATFORM_STRING "vfio-platform"
#define VFIO_DEVICE_API_AMBA_STRING "vfio-amba"
#define VFIO_DEVICE_API_CCW_STRING "vfio-ccw"
#define VFIO_DEVICE_API_AP_STRING "vfio-ap"

/*
 * Capability IDs of VFIO_DEVICE_GET_INFO. 1 to 4 are s390 zPCI ones
 * (their layouts are in <linux/vfio_zdev.h>).
 */
#define VFIO_DEVICE_INFO_CAP_ZPCI_BASE 1
#define VFIO_DEVICE_INFO_CAP_ZPCI_GROUP 2
#define VFIO_DEVICE_INFO_CAP_ZPCI_UTIL 3
#define VFIO_DEVICE_INFO_CAP_ZPCI_PFIP 4
/* PCIe AtomicOp completer widths the path to the root supports */
#define VFIO_DEVICE_INFO_CAP_PCI_ATOMIC_COMP 5

struct vfio_device_info_cap_pci_atomic_comp {
	struct vfio_info_cap_header header;
	__u32 flags; /* VFIO_PCI_ATOMIC_COMP* */
	__u32 reserved;
};
#define VFIO_PCI_ATOMIC_COMP32 (1 << 0)
#define VFIO_PCI_ATOMIC_COMP64 (1 << 1)
#define VFIO_PCI_ATOMIC_COMP128 (1 << 2)

/*
 * VFIO_DEVICE_GET_REGION_INFO: the caller sets index; size and offset say
 * where the region lies in the device fd's file offsets (for pread,
 * pwrite and mmap). A size of 0 means the region is not implemented.
 */
struct vfio_region_info {
	__u32 argsz;
	__u32 flags;	  /* VFIO_REGION_INFO_FLAG_* */
	__u32 index;	  /* input */
	__u32 cap_offset; /* first capability, with _FLAG_CAPS */
	__aligned_u64 size;
	__aligned_u64 offset;
};
#define VFIO_REGION_INFO_FLAG_READ (1 << 0)
#define VFIO_REGION_INFO_FLAG_WRITE (1 << 1)
#define VFIO_REGION_INFO_FLAG_MMAP (1 << 2)
#define VFIO_REGION_INFO_FLAG_CAPS (1 << 3)
#define VFIO_DEVICE_GET_REGION_INFO _IO(VFIO_TYPE, VFIO_BASE + 8)

/*
 * Region capability 1: only the listed parts of an mmap-able region may be
 * mapped (e.g. everything of a BAR but its MSI-X table). Version 1.
 */
#define VFIO_REGION_INFO_CAP_SPARSE_MMAP 1

struct vfio_region_sparse_mmap_area {
	__aligned_u64 offset; /* from the start of the region */
	__aligned_u64 size;
};

struct vfio_region_info_cap_sparse_mmap {
	struct vfio_info_cap_header header;
	__u32 nr_areas;
	__u32 reserved;
	struct vfio_region_sparse_mmap_area areas[];
};

/*
 * Region capability 2: what a region beyond the fixed indexes is, as a
 * (type, subtype) pair. Version 1.
 */
#define VFIO_REGION_INFO_CAP_TYPE 2

struct vfio_region_info_cap_type {
	struct vfio_info_cap_header header;
	__u32 type;
	__u32 subtype;
};

/*
 * Region types. A PCI vendor type is VFIO_REGION_TYPE_PCI_VENDOR_TYPE
 * or'ed with the vendor ID. The high bit is written (1 << 31), an int,
 * exactly as the kernel has it.
 */
#define VFIO_REGION_TYPE_PCI_VENDOR_TYPE (1 << 31)
#define VFIO_REGION_TYPE_PCI_VENDOR_MASK (0xffff)
#define VFIO_REGION_TYPE_GFX (1)
#define VFIO_REGION_TYPE_CCW (2)
#define VFIO_REGION_TYPE_MIGRATION_DEPRECATED (3)

/* Subtypes of the Intel (0x8086) vendor type: IGD regions. */
#define VFIO_REGION_SUBTYPE_INTEL_IGD_OPREGION (1)
#define VFIO_REGION_SUBTYPE_INTEL_IGD_HOST_CFG (2)
#define VFIO_REGION_SUBTYPE_INTEL_IGD_LPC_CFG (3)

/* NVIDIA (0x10de) vendor type: NVLink2 GPU RAM; no longer provided. */
#define VFIO_REGION_SUBTYPE_NVIDIA_NVLINK2_RAM (1)

/* IBM (0x1014) vendor type: NPU NVLink2 ATSD registers; no longer provided. */
#define VFIO_REGION_SUBTYPE_IBM_NVLINK2_ATSD (1)

/* Subtypes of VFIO_REGION_TYPE_GFX. */
#define VFIO_REGION_SUBTYPE_GFX_EDID (1)

/*
 * Layout of the start of a GFX_EDID region: a virtual monitor's EDID blob
 * and link state. To change the blob, set the link down, write the blob
 * and edid_size, set the link up. max_xres/max_yres 0 mean no limit.
 */
struct vfio_region_gfx_edid {
	__u32 edid_offset;   /* read-only: where the blob is in the region */
	__u32 edid_max_size; /* read-only */
	__u32 edid_size;
	__u32 max_xres;	     /* read-only */
	__u32 max_yres;	     /* read-only */
	__u32 link_state;    /* VFIO_DEVICE_GFX_LINK_STATE_* */
};
#define VFIO_DEVICE_GFX_LINK_STATE_UP 1
#define VFIO_DEVICE_GFX_LINK_STATE_DOWN 2

/* Subtypes of VFIO_REGION_TYPE_CCW. */
#define VFIO_REGION_SUBTYPE_CCW_ASYNC_CMD (1)
#define VFIO_REGION_SUBTYPE_CCW_SCHIB (2)
#define VFIO_REGION_SUBTYPE_CCW_CRW (3)

/* Subtype of the retired migration region type. */
#define VFIO_REGION_SUBTYPE_MIGRATION_DEPRECATED (1)

/*
 * The header of the retired (v1) migration region, kept for programs that
 * still name it; the current protocol is VFIO_DEVICE_FEATURE_MIG_*.
 */
struct vfio_device_migration_info {
	__u32 device_state; /* VFIO_DEVICE_STATE_V1_* bits */
	__u32 reserved;
	__aligned_u64 pending_bytes;
	__aligned_u64 data_offset;
	__aligned_u64 data_size;
};
#define VFIO_DEVICE_STATE_V1_STOP (0)
#define VFIO_DEVICE_STATE_V1_RUNNING (1 << 0)
#define VFIO_DEVICE_STATE_V1_SAVING (1 << 1)
#define VFIO_DEVICE_STATE_V1_RESUMING (1 << 2)
#define VFIO_DEVICE_STATE_MASK                                      \
	(VFIO_DEVICE_STATE_V1_RUNNING | VFIO_DEVICE_STATE_V1_SAVING | \
	 VFIO_DEVICE_STATE_V1_RESUMING)
/* RESUMING may not be combined with another bit */
#define VFIO_DEVICE_STATE_VALID(state)                                 \
	(((state) & VFIO_DEVICE_STATE_V1_RESUMING) ?                   \
		 ((state) & VFIO_DEVICE_STATE_MASK) ==                  \
			 VFIO_DEVICE_STATE_V1_RESUMING :                \
		 1)
/* SAVING together with RESUMING (and not RUNNING) is the error state */
#define VFIO_DEVICE_STATE_IS_ERROR(state)             \
	(((state) & VFIO_DEVICE_STATE_MASK) ==        \
	 (VFIO_DEVICE_STATE_V1_SAVING | VFIO_DEVICE_STATE_V1_RESUMING))
#define VFIO_DEVICE_STATE_SET_ERROR(state)                            \
	(((state) & ~VFIO_DEVICE_STATE_MASK) |                        \
	 VFIO_DEVICE_STATE_V1_SAVING | VFIO_DEVICE_STATE_V1_RESUMING)

/*
 * Region capability 3: the MSI-X table and PBA of this BAR may be mapped
 * too (interrupts are still programmed with VFIO_DEVICE_SET_IRQS).
 */
#define VFIO_REGION_INFO_CAP_MSIX_MAPPABLE 3

/* Region capability 4: NVLink2 GPU RAM system address; no longer provided. */
#define VFIO_REGION_INFO_CAP_NVLINK2_SSATGT 4

struct vfio_region_info_cap_nvlink2_ssatgt {
	struct vfio_info_cap_header header;
	__aligned_u64 tgt;
};

/* Region capability 5: NVLink2 link speed; no longer provided. */
#define VFIO_REGION_INFO_CAP_NVLINK2_LNKSPD 5

struct vfio_region_info_cap_nvlink2_lnkspd {
	struct vfio_info_cap_header header;
	__u32 link_speed;
	__u32 __pad;
};

/*
 * VFIO_DEVICE_GET_IRQ_INFO: the caller sets index; count is the number of
 * interrupts (vectors) of that index, 0 if unimplemented.
 */
struct vfio_irq_info {
	__u32 argsz;
	__u32 flags; /* VFIO_IRQ_INFO_* */
	__u32 index; /* input */
	__u32 count;
};
/* can signal an eventfd */
#define VFIO_IRQ_INFO_EVENTFD (1 << 0)
/* MASK and UNMASK actions work */
#define VFIO_IRQ_INFO_MASKABLE (1 << 1)
/* masked after each signal until unmasked (level triggered, e.g. INTx) */
#define VFIO_IRQ_INFO_AUTOMASKED (1 << 2)
/* vectors are set up as one block: adding one means disabling all first */
#define VFIO_IRQ_INFO_NORESIZE (1 << 3)
#define VFIO_DEVICE_GET_IRQ_INFO _IO(VFIO_TYPE, VFIO_BASE + 9)

/*
 * VFIO_DEVICE_SET_IRQS: apply one action to vectors [start, start + count)
 * of index. Exactly one DATA_* and one ACTION_* flag. data[] holds count
 * elements: nothing for DATA_NONE, a __u8 (0/1) each for DATA_BOOL, an
 * __s32 fd each for DATA_EVENTFD (-1 unassigns or skips). TRIGGER with an
 * eventfd enables the index; TRIGGER with DATA_NONE and count 0 disables
 * it; TRIGGER with NONE or BOOL fires the signal for testing. MASK and
 * UNMASK with an eventfd register an fd the user signals.
 */
struct vfio_irq_set {
	__u32 argsz;
	__u32 flags;
	__u32 index;
	__u32 start;
	__u32 count;
	__u8 data[];
};
#define VFIO_IRQ_SET_DATA_NONE (1 << 0)
#define VFIO_IRQ_SET_DATA_BOOL (1 << 1)
#define VFIO_IRQ_SET_DATA_EVENTFD (1 << 2)
#define VFIO_IRQ_SET_ACTION_MASK (1 << 3)
#define VFIO_IRQ_SET_ACTION_UNMASK (1 << 4)
#define VFIO_IRQ_SET_ACTION_TRIGGER (1 << 5)
#define VFIO_DEVICE_SET_IRQS _IO(VFIO_TYPE, VFIO_BASE + 10)

#define VFIO_IRQ_SET_DATA_TYPE_MASK                          \
	(VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_DATA_BOOL | \
	 VFIO_IRQ_SET_DATA_EVENTFD)
#define VFIO_IRQ_SET_ACTION_TYPE_MASK                            \
	(VFIO_IRQ_SET_ACTION_MASK | VFIO_IRQ_SET_ACTION_UNMASK | \
	 VFIO_IRQ_SET_ACTION_TRIGGER)

/* VFIO_DEVICE_RESET: reset the device (when VFIO_DEVICE_FLAGS_RESET). */
#define VFIO_DEVICE_RESET _IO(VFIO_TYPE, VFIO_BASE + 11)

/*
 * vfio-pci's fixed region indexes. Indexes from VFIO_PCI_NUM_REGIONS on
 * are device specific and described by VFIO_REGION_INFO_CAP_TYPE. The VGA
 * region (display class devices) places the legacy I/O ports 0x3b0-0x3bb,
 * 0x3c0-0x3df and the memory 0xa0000-0xbffff at their own addresses from
 * the region's offset.
 */
enum {
	VFIO_PCI_BAR0_REGION_INDEX = 0,
	VFIO_PCI_BAR1_REGION_INDEX = 1,
	VFIO_PCI_BAR2_REGION_INDEX = 2,
	VFIO_PCI_BAR3_REGION_INDEX = 3,
	VFIO_PCI_BAR4_REGION_INDEX = 4,
	VFIO_PCI_BAR5_REGION_INDEX = 5,
	VFIO_PCI_ROM_REGION_INDEX = 6,
	VFIO_PCI_CONFIG_REGION_INDEX = 7,
	VFIO_PCI_VGA_REGION_INDEX = 8,
	VFIO_PCI_NUM_REGIONS = 9,
};

/* vfio-pci's IRQ indexes. */
enum {
	VFIO_PCI_INTX_IRQ_INDEX = 0,
	VFIO_PCI_MSI_IRQ_INDEX = 1,
	VFIO_PCI_MSIX_IRQ_INDEX = 2,
	VFIO_PCI_ERR_IRQ_INDEX = 3, /* AER error notification */
	VFIO_PCI_REQ_IRQ_INDEX = 4, /* the host asks for the device back */
	VFIO_PCI_NUM_IRQS = 5,
};

/* vfio-ccw (s390 channel I/O) region and IRQ indexes. */
enum {
	VFIO_CCW_CONFIG_REGION_INDEX = 0,
	VFIO_CCW_NUM_REGIONS = 1,
};

enum {
	VFIO_CCW_IO_IRQ_INDEX = 0,
	VFIO_CCW_CRW_IRQ_INDEX = 1,
	VFIO_CCW_REQ_IRQ_INDEX = 2,
	VFIO_CCW_NUM_IRQS = 3,
};

/* vfio-ap (s390 crypto adapters) IRQ indexes. */
enum {
	VFIO_AP_REQ_IRQ_INDEX = 0,
	VFIO_AP_CFG_CHG_IRQ_INDEX = 1, /* the adapter configuration changed */
	VFIO_AP_NUM_IRQS = 2,
};

/*
 * One device a PCI hot reset would also reset. Devices opened through a
 * group report group_id; devices opened as a cdev (VFIO_PCI_HOT_RESET_FLAG_
 * DEV_ID) report devid: an iommufd device ID, VFIO_PCI_DEVID_OWNED for a
 * device the caller owns implicitly (same IOMMU group as one it has bound),
 * or VFIO_PCI_DEVID_NOT_OWNED.
 */
struct vfio_pci_dependent_device {
	union {
		__u32 group_id;
		__u32 devid;
	};
	__u16 segment;
	__u8 bus;
	__u8 devfn;
};
#define VFIO_PCI_DEVID_OWNED 0
#define VFIO_PCI_DEVID_NOT_OWNED (-1)

/*
 * VFIO_DEVICE_GET_PCI_HOT_RESET_INFO: list the devices a hot reset of this
 * one affects (ENOSPC, with count set, if devices[] is too short).
 * DEV_ID_OWNED (only with DEV_ID) says the caller owns all of them, so
 * the reset can be done with no group fds.
 */
struct vfio_pci_hot_reset_info {
	__u32 argsz;
	__u32 flags; /* output, VFIO_PCI_HOT_RESET_FLAG_* */
	__u32 count;
	struct vfio_pci_dependent_device devices[];
};
#define VFIO_PCI_HOT_RESET_FLAG_DEV_ID (1 << 0)
#define VFIO_PCI_HOT_RESET_FLAG_DEV_ID_OWNED (1 << 1)
#define VFIO_DEVICE_GET_PCI_HOT_RESET_INFO _IO(VFIO_TYPE, VFIO_BASE + 12)

/*
 * VFIO_DEVICE_PCI_HOT_RESET: reset the bus or slot. With group-opened
 * devices group_fds[] proves ownership of every affected group; a cdev
 * passes count 0 and ownership comes from its iommufd.
 */
struct vfio_pci_hot_reset {
	__u32 argsz;
	__u32 flags;
	__u32 count;
	__s32 group_fds[];
};
#define VFIO_DEVICE_PCI_HOT_RESET _IO(VFIO_TYPE, VFIO_BASE + 13)

/*
 * VFIO_DEVICE_QUERY_GFX_PLANE: describe the plane of drm_plane_type a
 * mediated GPU shows now, as a dma-buf (dmabuf_id) or a region
 * (region_index). PROBE with DMABUF or REGION only asks whether that kind
 * is offered (0 or EINVAL). A plane the guest disabled comes back with
 * zero format and sizes; x_hot/y_hot are 0xffffffff without a hotspot.
 */
struct vfio_device_gfx_plane_info {
	__u32 argsz;
	__u32 flags;	      /* VFIO_GFX_PLANE_TYPE_* */
	__u32 drm_plane_type; /* input, DRM_PLANE_TYPE_* */
	__u32 drm_format;
	__aligned_u64 drm_format_mod;
	__u32 width;
	__u32 height;
	__u32 stride;
	__u32 size; /* bytes, page aligned */
	__u32 x_pos;
	__u32 y_pos;
	__u32 x_hot;
	__u32 y_hot;
	union {
		__u32 region_index;
		__u32 dmabuf_id;
	};
	__u32 reserved;
};
#define VFIO_GFX_PLANE_TYPE_PROBE (1 << 0)
#define VFIO_GFX_PLANE_TYPE_DMABUF (1 << 1)
#define VFIO_GFX_PLANE_TYPE_REGION (1 << 2)
#define VFIO_DEVICE_QUERY_GFX_PLANE _IO(VFIO_TYPE, VFIO_BASE + 14)

/* VFIO_DEVICE_GET_GFX_DMABUF (arg: pointer to a __u32 dmabuf_id): an fd. */
#define VFIO_DEVICE_GET_GFX_DMABUF _IO(VFIO_TYPE, VFIO_BASE + 15)

/*
 * VFIO_DEVICE_IOEVENTFD: whenever eventfd fd fires, write data (of the
 * width the one VFIO_DEVICE_IOEVENTFD_<bits> flag gives) at device fd
 * offset offset. fd -1 removes such a binding. Support varies (vfio-pci:
 * BARs, not the MSI-X table).
 */
struct vfio_device_ioeventfd {
	__u32 argsz;
	__u32 flags;
	__aligned_u64 offset;
	__aligned_u64 data;
	__s32 fd;
	__u32 reserved;
};
#define VFIO_DEVICE_IOEVENTFD_8 (1 << 0)
#define VFIO_DEVICE_IOEVENTFD_16 (1 << 1)
#define VFIO_DEVICE_IOEVENTFD_32 (1 << 2)
#define VFIO_DEVICE_IOEVENTFD_64 (1 << 3)
#define VFIO_DEVICE_IOEVENTFD_SIZE_MASK (0xf)
#define VFIO_DEVICE_IOEVENTFD _IO(VFIO_TYPE, VFIO_BASE + 16)

/*
 * VFIO_DEVICE_FEATURE: get or set one feature (the low 16 bits of flags,
 * a VFIO_DEVICE_FEATURE_<name> number) with data[] in that feature's
 * format. GET and SET exclude each other, except with PROBE, which only
 * asks whether the feature (and the GET/SET given) is supported and needs
 * no data.
 */
struct vfio_device_feature {
	__u32 argsz;
	__u32 flags;
	__u8 data[];
};
#define VFIO_DEVICE_FEATURE_MASK (0xffff)
#define VFIO_DEVICE_FEATURE_GET (1 << 16)
#define VFIO_DEVICE_FEATURE_SET (1 << 17)
#define VFIO_DEVICE_FEATURE_PROBE (1 << 18)
#define VFIO_DEVICE_FEATURE _IO(VFIO_TYPE, VFIO_BASE + 17)

/*
 * VFIO_DEVICE_BIND_IOMMUFD (cdev fds only): bind the device to iommufd;
 * out_devid is its device ID there. Nothing else works on a cdev fd
 * before; closing the fd unbinds. With VFIO_DEVICE_BIND_FLAG_TOKEN,
 * token_uuid_ptr points to the 16-byte UUID a VF needs when its PF set a
 * VF token (VFIO_DEVICE_FEATURE_PCI_VF_TOKEN); otherwise it is ignored.
 */
struct vfio_device_bind_iommufd {
	__u32 argsz;
	__u32 flags;
	__s32 iommufd;
	__u32 out_devid;
	__aligned_u64 token_uuid_ptr;
};
#define VFIO_DEVICE_BIND_FLAG_TOKEN (1 << 0)
#define VFIO_DEVICE_BIND_IOMMUFD _IO(VFIO_TYPE, VFIO_BASE + 18)

/*
 * VFIO_DEVICE_ATTACH_IOMMUFD_PT (cdev fds only): attach the device, or with
 * VFIO_DEVICE_ATTACH_PASID its PASID pasid, to pt_id, an IOAS or a HWPT of
 * the bound iommufd. On return pt_id is the HWPT actually attached (for an
 * IOAS, maybe one created for it). Attaching again while attached replaces
 * the HWPT. EBUSY while the device, or another in its IOMMU group, is being
 * reset.
 */
struct vfio_device_attach_iommufd_pt {
	__u32 argsz;
	__u32 flags;
	__u32 pt_id;
	__u32 pasid;
};
#define VFIO_DEVICE_ATTACH_PASID (1 << 0)
#define VFIO_DEVICE_ATTACH_IOMMUFD_PT _IO(VFIO_TYPE, VFIO_BASE + 19)

/*
 * VFIO_DEVICE_DETACH_IOMMUFD_PT (cdev fds only): detach the device, or
 * with VFIO_DEVICE_DETACH_PASID its PASID pasid; DMA is then blocked.
 */
struct vfio_device_detach_iommufd_pt {
	__u32 argsz;
	__u32 flags;
	__u32 pasid;
};
#define VFIO_DEVICE_DETACH_PASID (1 << 0)
#define VFIO_DEVICE_DETACH_IOMMUFD_PT _IO(VFIO_TYPE, VFIO_BASE + 20)

/* ---- device features (VFIO_DEVICE_FEATURE) ---- */

/*
 * 0, SET only: the VF token, a 16-byte UUID shared by an SR-IOV PF's user
 * and its VFs' users. Settable on a PF with SR-IOV enabled and no VF open.
 */
#define VFIO_DEVICE_FEATURE_PCI_VF_TOKEN (0)

/*
 * 1, GET: the device can migrate. RUNNING and ERROR always exist;
 * STOP_COPY (required) adds STOP, STOP_COPY and RESUMING; P2P adds
 * RUNNING_P2P; PRE_COPY adds PRE_COPY; P2P with PRE_COPY adds
 * PRE_COPY_P2P.
 */
struct vfio_device_feature_migration {
	__aligned_u64 flags; /* VFIO_MIGRATION_* */
};
#define VFIO_MIGRATION_STOP_COPY (1 << 0)
#define VFIO_MIGRATION_P2P (1 << 1)
#define VFIO_MIGRATION_PRE_COPY (1 << 2)
#define VFIO_DEVICE_FEATURE_MIGRATION 1

/*
 * 2, GET or SET: the migration state. SET moves the device to
 * device_state (through intermediate states if needed, never resting in a
 * saving state on the way); entering a saving state or RESUMING opens a
 * data session and returns its fd in data_fd (read the saved state from
 * it, or write the state to load). GET returns data_fd -1. A failed SET
 * may leave the device in any state of the path, or in ERROR, from which
 * only VFIO_DEVICE_RESET returns to RUNNING.
 */
struct vfio_device_feature_mig_state {
	__u32 device_state; /* enum vfio_device_mig_state */
	__s32 data_fd;
};
#define VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE 2

/*
 * Migration states. STOP: no DMA, no interrupts, no state change.
 * STOP_COPY: stopped, state streamed out. RESUMING: stopped, state
 * streamed in. *_P2P: like the state without the suffix but starting no
 * peer-to-peer DMA. PRE_COPY: running while the state is streamed out
 * early. ERROR is never requested; it is where a failed transition may
 * land.
 */
enum vfio_device_mig_state {
	VFIO_DEVICE_STATE_ERROR = 0,
	VFIO_DEVICE_STATE_STOP = 1,
	VFIO_DEVICE_STATE_RUNNING = 2,
	VFIO_DEVICE_STATE_STOP_COPY = 3,
	VFIO_DEVICE_STATE_RESUMING = 4,
	VFIO_DEVICE_STATE_RUNNING_P2P = 5,
	VFIO_DEVICE_STATE_PRE_COPY = 6,
	VFIO_DEVICE_STATE_PRE_COPY_P2P = 7,
	VFIO_DEVICE_STATE_NR,
};

/*
 * VFIO_MIG_GET_PRECOPY_INFO, on a migration data fd in a PRE_COPY state
 * (EINVAL otherwise): estimates of what is still to read. initial_bytes
 * falls towards 0 as the initial state is read; dirty_bytes is state that
 * changed since. With both at 0, read() fails with ENOMSG until more
 * arrives. flags is an output only after the user SET
 * VFIO_DEVICE_FEATURE_MIG_PRECOPY_INFOv2: VFIO_PRECOPY_INFO_REINIT then
 * says new initial data was queued (initial_bytes restarts, dirty_bytes
 * is reset).
 */
struct vfio_precopy_info {
	__u32 argsz;
	__u32 flags;
	__aligned_u64 initial_bytes;
	__aligned_u64 dirty_bytes;
};
#define VFIO_PRECOPY_INFO_REINIT (1 << 0)
#define VFIO_MIG_GET_PRECOPY_INFO _IO(VFIO_TYPE, VFIO_BASE + 21)

/*
 * 3, SET: let runtime power management put the device into a low power
 * state; any access wakes it again. mmaps of the device stop working until
 * LOW_POWER_EXIT.
 */
#define VFIO_DEVICE_FEATURE_LOW_POWER_ENTRY 3

/*
 * 4, SET: as 3, but once: the first wake-up signals wakeup_eventfd and the
 * device stays awake until a new entry is requested.
 */
struct vfio_device_low_power_entry_with_wakeup {
	__s32 wakeup_eventfd;
	__u32 reserved;
};
#define VFIO_DEVICE_FEATURE_LOW_POWER_ENTRY_WITH_WAKEUP 4

/* 5, SET: stop using low power states (may itself signal the eventfd). */
#define VFIO_DEVICE_FEATURE_LOW_POWER_EXIT 5

/*
 * 6, SET: start device-side logging of DMA writes inside num_ranges IOVA
 * ranges (ranges points to struct vfio_device_feature_dma_logging_range
 * elements). page_size is a hint in, the granularity chosen out. At most
 * one session at a time. As many ranges as fit in one kernel page are
 * always accepted; more may be refused.
 */
struct vfio_device_feature_dma_logging_control {
	__aligned_u64 page_size;
	__u32 num_ranges;
	__u32 __reserved;
	__aligned_u64 ranges;
};

struct vfio_device_feature_dma_logging_range {
	__aligned_u64 iova;
	__aligned_u64 length;
};
#define VFIO_DEVICE_FEATURE_DMA_LOGGING_START 6

/* 7, SET: end the logging session 6 started. */
#define VFIO_DEVICE_FEATURE_DMA_LOGGING_STOP 7

/*
 * 8, GET: read and clear the DMA log of [iova, iova + length). bitmap
 * points to __u64 words, one bit per page_size (any power of two) from
 * iova; bits are only ever set, never cleared, in the user's buffer. After
 * an error the log must be taken as lost.
 */
struct vfio_device_feature_dma_logging_report {
	__aligned_u64 iova;
	__aligned_u64 length;
	__aligned_u64 page_size;
	__aligned_u64 bitmap;
};
#define VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT 8

/* 9, GET (any state): estimated bytes STOP_COPY will produce. */
struct vfio_device_feature_mig_data_size {
	__aligned_u64 stop_copy_length;
};
#define VFIO_DEVICE_FEATURE_MIG_DATA_SIZE 9

/*
 * 10, SET: bus mastering on or off, for devices that cannot control it
 * themselves (CDX; never PCI, which uses its config space).
 */
struct vfio_device_feature_bus_master {
	__u32 op; /* VFIO_DEVICE_FEATURE_{CLEAR,SET}_MASTER */
};
#define VFIO_DEVICE_FEATURE_CLEAR_MASTER 0
#define VFIO_DEVICE_FEATURE_SET_MASTER 1
#define VFIO_DEVICE_FEATURE_BUS_MASTER 10

/*
 * 11, GET: a dma-buf fd (the call's return value) made of nr_ranges slices
 * of region region_index, opened with the open(2) flags open_flags.
 * flags must be 0. (The kernel marks dma_ranges[] __counted_by(nr_ranges),
 * an annotation without effect on the layout.)
 */
#define VFIO_DEVICE_FEATURE_DMA_BUF 11

struct vfio_region_dma_range {
	__u64 offset; /* from the start of the region */
	__u64 length;
};

struct vfio_device_feature_dma_buf {
	__u32 region_index;
	__u32 open_flags;
	__u32 flags;
	__u32 nr_ranges;
	struct vfio_region_dma_range dma_ranges[];
};

/*
 * 12, SET: opt in to vfio_precopy_info.flags being an output
 * (VFIO_PRECOPY_INFO_REINIT).
 */
#define VFIO_DEVICE_FEATURE_MIG_PRECOPY_INFOv2 12

/*
 * 13, GET: the pending s390 zPCI error (ENOMSG if none): the kernel fills
 * the user buffer at data with its error record, whose length the
 * VFIO_DEVICE_INFO_CAP_ZPCI_BASE capability gives.
 */
struct vfio_device_feature_zpci_err {
	__aligned_u64 data;
};
#define VFIO_DEVICE_FEATURE_ZPCI_ERROR 13

/* ---- the type1 IOMMU (container fd after VFIO_SET_IOMMU) ---- */

/* VFIO_IOMMU_GET_INFO: page sizes and a capability chain. */
struct vfio_iommu_type1_info {
	__u32 argsz;
	__u32 flags;
	__aligned_u64 iova_pgsizes; /* bitmap of IO page sizes */
	__u32 cap_offset;	    /* first capability, with _INFO_CAPS */
	__u32 pad;
};
#define VFIO_IOMMU_INFO_PGSIZES (1 << 0) /* iova_pgsizes is valid */
#define VFIO_IOMMU_INFO_CAPS (1 << 1)	 /* cap_offset is valid */

/*
 * Type1 capability 1: the IOVA ranges that may be mapped, i.e. without the
 * reserved regions of the attached devices. Version 1. end is inclusive.
 */
#define VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE 1

struct vfio_iova_range {
	__u64 start;
	__u64 end;
};

struct vfio_iommu_type1_info_cap_iova_range {
	struct vfio_info_cap_header header;
	__u32 nr_iovas;
	__u32 reserved;
	struct vfio_iova_range iova_ranges[];
};

/*
 * Type1 capability 2: dirty page tracking (VFIO_IOMMU_DIRTY_PAGES) exists.
 * pgsize_bitmap: page sizes it can report in; max_dirty_bitmap_size: the
 * largest bitmap, in bytes, one call may ask for. Version 1. Note the
 * plain __u64 members: their offset differs between 32- and 64-bit ABIs.
 */
#define VFIO_IOMMU_TYPE1_INFO_CAP_MIGRATION 2

struct vfio_iommu_type1_info_cap_migration {
	struct vfio_info_cap_header header;
	__u32 flags;
	__u64 pgsize_bitmap;
	__u64 max_dirty_bitmap_size;
};

/* Type1 capability 3: how many more DMA mappings may be made now. */
#define VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL 3

struct vfio_iommu_type1_info_dma_avail {
	struct vfio_info_cap_header header;
	__u32 avail;
};

#define VFIO_IOMMU_GET_INFO _IO(VFIO_TYPE, VFIO_BASE + 12)

/*
 * VFIO_IOMMU_MAP_DMA: map size bytes of process memory at vaddr at IOVA
 * iova, with READ and/or WRITE. With VFIO_DMA_MAP_FLAG_VADDR instead (no
 * READ/WRITE), give a mapping whose vaddr was invalidated
 * (VFIO_DMA_UNMAP_FLAG_VADDR) its new vaddr: iova and size must match the
 * original map and the new address must be the same memory.
 */
struct vfio_iommu_type1_dma_map {
	__u32 argsz;
	__u32 flags;
	__u64 vaddr;
	__u64 iova;
	__u64 size;
};
#define VFIO_DMA_MAP_FLAG_READ (1 << 0)	 /* the device may read */
#define VFIO_DMA_MAP_FLAG_WRITE (1 << 1) /* the device may write */
#define VFIO_DMA_MAP_FLAG_VADDR (1 << 2)
#define VFIO_IOMMU_MAP_DMA _IO(VFIO_TYPE, VFIO_BASE + 13)

/*
 * A user bitmap of dirty pages: one bit per pgsize bytes, size bytes long,
 * zeroed by the user, at data.
 */
struct vfio_bitmap {
	__u64 pgsize;
	__u64 size;
	__u64 *data;
};

/*
 * VFIO_IOMMU_UNMAP_DMA: unmap [iova, iova + size); size returns the bytes
 * unmapped. With type1 v2 the range may not cut through a mapping. Flags:
 *  GET_DIRTY_BITMAP: data[] holds a struct vfio_bitmap that receives the
 *	dirty bits of the unmapped range (from iova) first;
 *  ALL: unmap everything; iova and size must be 0;
 *  VADDR: unmap nothing but forget the process addresses of the range
 *	(DMA continues; no group may join until VFIO_DMA_MAP_FLAG_VADDR
 *	restores them).
 * ALL and VADDR do not combine with GET_DIRTY_BITMAP.
 */
struct vfio_iommu_type1_dma_unmap {
	__u32 argsz;
	__u32 flags;
	__u64 iova;
	__u64 size;
	__u8 data[];
};
#define VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP (1 << 0)
#define VFIO_DMA_UNMAP_FLAG_ALL (1 << 1)
#define VFIO_DMA_UNMAP_FLAG_VADDR (1 << 2)
#define VFIO_IOMMU_UNMAP_DMA _IO(VFIO_TYPE, VFIO_BASE + 14)

/* VFIO_IOMMU_ENABLE / VFIO_IOMMU_DISABLE: no argument (sPAPR). */
#define VFIO_IOMMU_ENABLE _IO(VFIO_TYPE, VFIO_BASE + 15)
#define VFIO_IOMMU_DISABLE _IO(VFIO_TYPE, VFIO_BASE + 16)

/*
 * VFIO_IOMMU_DIRTY_PAGES: exactly one of START (begin logging pages the
 * devices may have written), STOP, or GET_BITMAP: data[] then holds a
 * struct vfio_iommu_type1_dirty_bitmap_get whose bitmap (pgsize = the
 * smallest supported page size) receives the dirty bits of [iova, iova +
 * size). argsz counts the _get struct but not the bitmap itself. Fails
 * unless logging was started.
 */
struct vfio_iommu_type1_dirty_bitmap {
	__u32 argsz;
	__u32 flags;
	__u8 data[];
};
#define VFIO_IOMMU_DIRTY_PAGES_FLAG_START (1 << 0)
#define VFIO_IOMMU_DIRTY_PAGES_FLAG_STOP (1 << 1)
#define VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP (1 << 2)

struct vfio_iommu_type1_dirty_bitmap_get {
	__u64 iova;
	__u64 size;
	struct vfio_bitmap bitmap;
};

#define VFIO_IOMMU_DIRTY_PAGES _IO(VFIO_TYPE, VFIO_BASE + 17)

/* ---- the sPAPR TCE IOMMU (POWER) ---- */

/*
 * Dynamic DMA window limits: pgsizes (4K, 64K, 16M bits), how many
 * windows may exist, and how many levels a TCE table may have.
 */
struct vfio_iommu_spapr_tce_ddw_info {
	__u64 pgsizes;
	__u32 max_dynamic_windows_supported;
	__u32 levels;
};

/*
 * VFIO_IOMMU_SPAPR_TCE_GET_INFO: the default 32-bit DMA window (in PCI bus
 * addresses, which are also the IOVAs) and, with VFIO_IOMMU_SPAPR_INFO_DDW,
 * the dynamic window limits.
 */
struct vfio_iommu_spapr_tce_info {
	__u32 argsz;
	__u32 flags;
	__u32 dma32_window_start;
	__u32 dma32_window_size;
	struct vfio_iommu_spapr_tce_ddw_info ddw;
};
#define VFIO_IOMMU_SPAPR_INFO_DDW (1 << 0)
#define VFIO_IOMMU_SPAPR_TCE_GET_INFO _IO(VFIO_TYPE, VFIO_BASE + 12)

/* The error VFIO_EEH_PE_INJECT_ERR injects. */
struct vfio_eeh_pe_err {
	__u32 type;
	__u32 func;
	__u64 addr;
	__u64 mask;
};

/* VFIO_EEH_PE_OP: one VFIO_EEH_PE_* operation on the partitionable endpoint. */
struct vfio_eeh_pe_op {
	__u32 argsz;
	__u32 flags;
	__u32 op;
	union {
		struct vfio_eeh_pe_err err; /* VFIO_EEH_PE_INJECT_ERR */
	};
};
#define VFIO_EEH_PE_DISABLE 0
#define VFIO_EEH_PE_ENABLE 1
#define VFIO_EEH_PE_UNFREEZE_IO 2
#define VFIO_EEH_PE_UNFREEZE_DMA 3
#define VFIO_EEH_PE_GET_STATE 4
/* results of VFIO_EEH_PE_GET_STATE */
#define VFIO_EEH_PE_STATE_NORMAL 0
#define VFIO_EEH_PE_STATE_RESET 1
#define VFIO_EEH_PE_STATE_STOPPED 2
#define VFIO_EEH_PE_STATE_STOPPED_DMA 4
#define VFIO_EEH_PE_STATE_UNAVAIL 5
#define VFIO_EEH_PE_RESET_DEACTIVATE 5
#define VFIO_EEH_PE_RESET_HOT 6
#define VFIO_EEH_PE_RESET_FUNDAMENTAL 7
#define VFIO_EEH_PE_CONFIGURE 8
#define VFIO_EEH_PE_INJECT_ERR 9
#define VFIO_EEH_PE_OP _IO(VFIO_TYPE, VFIO_BASE + 21)

/*
 * VFIO_IOMMU_SPAPR_REGISTER_MEMORY: pin and account [vaddr, vaddr + size)
 * ahead of MAP/UNMAP (v2); VFIO_IOMMU_SPAPR_UNREGISTER_MEMORY, with the
 * same struct, undoes it.
 */
struct vfio_iommu_spapr_register_memory {
	__u32 argsz;
	__u32 flags;
	__u64 vaddr;
	__u64 size;
};
#define VFIO_IOMMU_SPAPR_REGISTER_MEMORY _IO(VFIO_TYPE, VFIO_BASE + 17)
#define VFIO_IOMMU_SPAPR_UNREGISTER_MEMORY _IO(VFIO_TYPE, VFIO_BASE + 18)

/*
 * VFIO_IOMMU_SPAPR_TCE_CREATE: create a DMA window of window_size bytes
 * with IO pages of 1 << page_shift and a TCE table of levels levels in
 * every group of the container; start_addr returns its bus address.
 */
struct vfio_iommu_spapr_tce_create {
	__u32 argsz;
	__u32 flags;
	__u32 page_shift;
	__u32 __resv1;
	__u64 window_size;
	__u32 levels;
	__u32 __resv2;
	__u64 start_addr;
};
#define VFIO_IOMMU_SPAPR_TCE_CREATE _IO(VFIO_TYPE, VFIO_BASE + 19)

/* VFIO_IOMMU_SPAPR_TCE_REMOVE: remove the window that starts at start_addr. */
struct vfio_iommu_spapr_tce_remove {
	__u32 argsz;
	__u32 flags;
	__u64 start_addr;
};
#define VFIO_IOMMU_SPAPR_TCE_REMOVE _IO(VFIO_TYPE, VFIO_BASE + 20)

#endif /* VFIO_H */
